/*
 * bench/wl_batches.c - room: bench/. Batches handed from producers to
 * consumers for bench_preload.sh (plain libc, run under LD_PRELOAD): the
 * shape of a server's request buffers or of xmalloc-test (Lever and
 * Boreham), which found that the shim gave its arenas back and faulted them
 * in again every few batches (core/arena.c, HS_ARENAS_KEPT). PAIRS producer
 * threads each fill BATCHES batches -- one array of BATCH pointers (32 KiB:
 * a glibc block) and BATCH blocks of 32..96 B written whole -- and hand
 * them to a bounded queue (at most 2 * PAIRS * 8 batches waiting, mutex and
 * condition variables); PAIRS consumer threads take any batch, check and
 * free its blocks and its array. Live memory swings between a few and
 * 16 * PAIRS batches as the two sides race.
 *
 * Deterministic output: each block carries its producer, batch and index,
 * checked by the consumer; the checksum is a sum over all blocks. Exits 1
 * on a damaged block.
 *
 * Usage: wl_batches [PAIRS (1..16, default 2)] [BATCHES_PER_PRODUCER (1..1000000, default 2000)]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"

#define BATCH 4096

typedef struct batch {
    struct batch *next;
    uint64_t *blk[BATCH];
} batch_t;

static long pairs = 2, nbatch = 2000;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER, not_full = PTHREAD_COND_INITIALIZER;
static batch_t *queue;
static long queued, produced_done, limit;
static uint64_t checksum, damaged;

static size_t blk_size(uint64_t tag)
{
    return 32 + (size_t)(tag * 0x9e3779b97f4a7c15ull >> 59) * 2;     /* 32..94 B */
}

static void *producer(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    for (long k = 0; k < nbatch; k++) {
        batch_t *b = malloc(sizeof *b);
        if (!b) { fputs("wl_batches: out of memory\n", stderr); exit(2); }
        for (uint64_t i = 0; i < BATCH; i++) {
            uint64_t tag = (id << 48) | ((uint64_t)k << 16) | i;
            size_t n = blk_size(tag);
            uint64_t *p = malloc(n);
            if (!p) { fputs("wl_batches: out of memory\n", stderr); exit(2); }
            memset(p, (int)(tag & 0xff), n);
            p[0] = tag;
            b->blk[i] = p;
        }
        pthread_mutex_lock(&mu);
        while (queued >= limit) pthread_cond_wait(&not_full, &mu);
        b->next = queue;
        queue = b;
        queued++;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_lock(&mu);
    produced_done++;
    pthread_cond_broadcast(&not_empty);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    uint64_t sum = 0, bad = 0;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (!queue && produced_done < pairs) pthread_cond_wait(&not_empty, &mu);
        batch_t *b = queue;
        if (b) {
            queue = b->next;
            queued--;
            pthread_cond_signal(&not_full);
        }
        pthread_mutex_unlock(&mu);
        if (!b) break;
        for (uint64_t i = 0; i < BATCH; i++) {
            uint64_t *p = b->blk[i], tag = p[0];
            size_t n = blk_size(tag);
            bad += (tag & 0xffff) != i || ((unsigned char *)p)[n - 1] != (tag & 0xff);
            sum += tag ^ n;
            free(p);
        }
        free(b);
    }
    pthread_mutex_lock(&mu);
    checksum += sum;
    damaged += bad;
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) pairs = bu_parse_count("wl_batches", "PAIRS", argv[1], 1, 16);
    if (argc > 2) nbatch = bu_parse_count("wl_batches", "BATCHES_PER_PRODUCER", argv[2], 1, 1000000);
    limit = 2 * pairs * 8;
    pthread_t th[32];
    for (long i = 0; i < pairs; i++) {
        if (pthread_create(&th[i], NULL, producer, (void *)(uintptr_t)i) ||
            pthread_create(&th[pairs + i], NULL, consumer, NULL)) {
            fputs("wl_batches: cannot create a thread\n", stderr);
            return 2;
        }
    }
    for (long i = 0; i < 2 * pairs; i++) pthread_join(th[i], NULL);
    printf("batches %ld blocks %ld checksum %llx damaged %llu\n", pairs * nbatch,
           pairs * nbatch * BATCH, (unsigned long long)checksum, (unsigned long long)damaged);
    return damaged ? 1 : 0;
}
