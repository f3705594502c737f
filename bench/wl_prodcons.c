/*
 * bench/wl_prodcons.c - room: bench/. Producer/consumer with cross-thread
 * frees for bench_preload.sh (plain libc, run under LD_PRELOAD), the shape
 * of mimalloc-bench's xmalloc-test: PAIRS producer threads each stream
 * MESSAGES blocks (24..256 B, skewed small) through a lock-free single-
 * producer/single-consumer ring of 1024 slots to a consumer thread of their
 * own, which checks and frees them. Every block is freed by a thread that
 * did not allocate it, one at a time, while its allocator keeps allocating.
 * A side that finds the ring full (empty) spins briefly, then yields.
 *
 * Deterministic: each producer's sequence has its own seed and the ring
 * keeps order, so the consumer checks each message's sequence number and
 * contents; prints a checksum, exits 1 on a message out of order or damaged.
 *
 * Usage: wl_prodcons [PAIRS (1..32, default 2)] [MESSAGES_PER_PAIR (1..100000000, default 2000000)]
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"

#define RING 1024

typedef struct {
    _Alignas(64) _Atomic uint64_t head;        /* written by the producer */
    _Alignas(64) _Atomic uint64_t tail;        /* written by the consumer */
    _Alignas(64) uint64_t *slot[RING];
    long id;
    uint64_t sum, bad;
} ring_t;

static long nmsg = 2000000;

static size_t msg_size(uint64_t x)
{
    /* 3/4 of the messages 24..64 B, the rest 64..256 B */
    return (x >> 62) ? 24 + (size_t)(x & 0xffff) % 41 : 64 + (size_t)(x & 0xffff) % 193;
}

static void backoff(int *spins)
{
    if (++*spins > 64) {
        sched_yield();
        *spins = 0;
    }
}

static void *producer(void *arg)
{
    ring_t *r = arg;
    uint64_t seed = 4242 + (uint64_t)r->id;
    for (long i = 0; i < nmsg; i++) {
        uint64_t x = bu_rand(&seed);
        size_t n = msg_size(x);
        uint64_t *m = malloc(n);
        if (!m) {
            fputs("wl_prodcons: out of memory\n", stderr);
            exit(1);
        }
        m[0] = (uint64_t)i << 16 | n;
        m[1] = x;
        ((unsigned char *)m)[n - 1] = (unsigned char)(x >> 8);
        uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
        int spins = 0;
        while (h - atomic_load_explicit(&r->tail, memory_order_acquire) == RING) backoff(&spins);
        r->slot[h % RING] = m;
        atomic_store_explicit(&r->head, h + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    ring_t *r = arg;
    uint64_t seed = 4242 + (uint64_t)r->id;    /* replays the producer's sequence */
    for (long i = 0; i < nmsg; i++) {
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        int spins = 0;
        while (atomic_load_explicit(&r->head, memory_order_acquire) == t) backoff(&spins);
        uint64_t *m = r->slot[t % RING];
        atomic_store_explicit(&r->tail, t + 1, memory_order_release);
        uint64_t x = bu_rand(&seed);
        size_t n = msg_size(x);
        r->bad += m[0] != ((uint64_t)i << 16 | n) || m[1] != x ||
                  ((unsigned char *)m)[n - 1] != (unsigned char)(x >> 8);
        r->sum += m[1] >> 40;
        free(m);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long npairs = argc > 1 ? bu_parse_count(argv[0], "pair count", argv[1], 1, 32) : 2;
    if (argc > 2) nmsg = bu_parse_count(argv[0], "message count", argv[2], 1, 100000000);
    if (argc > 3) {
        fprintf(stderr, "%s: too many arguments: expected [PAIRS] [MESSAGES_PER_PAIR]\n", argv[0]);
        return 2;
    }
    ring_t *ring = aligned_alloc(64, (size_t)npairs * sizeof *ring);
    pthread_t *tid = calloc((size_t)npairs * 2, sizeof *tid);
    if (!ring || !tid) return 1;
    memset(ring, 0, (size_t)npairs * sizeof *ring);
    for (long p = 0; p < npairs; p++) {
        ring[p].id = p;
        if (pthread_create(&tid[2 * p], NULL, consumer, &ring[p]) ||
            pthread_create(&tid[2 * p + 1], NULL, producer, &ring[p])) {
            fputs("wl_prodcons: pthread_create failed\n", stderr);
            return 1;
        }
    }
    uint64_t sum = 0, bad = 0;
    for (long p = 0; p < npairs; p++) {
        pthread_join(tid[2 * p + 1], NULL);
        pthread_join(tid[2 * p], NULL);
        sum += ring[p].sum;
        bad += ring[p].bad;
    }
    free(ring);
    free(tid);
    if (bad) {
        fprintf(stderr, "wl_prodcons: %llu messages damaged or out of order\n", (unsigned long long)bad);
        return 1;
    }
    printf("wl_prodcons: %ld pairs x %ld messages, checksum %llu\n", npairs, nmsg,
           (unsigned long long)sum);
    return 0;
}
