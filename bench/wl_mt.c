/*
 * bench/wl_mt.c - room: bench/. A multi-threaded workload with cross-thread
 * frees for bench_preload.sh (plain libc, run under LD_PRELOAD): THREADS
 * threads in a ring; each allocates a batch of small blocks (16..512 B),
 * hands it to the next thread's inbox and frees the batch it received from
 * the previous one. Every block is freed by a thread that did not allocate
 * it. Prints a checksum that does not depend on the allocator.
 *
 * Usage: wl_mt [THREADS (2..64, default 4)] [BATCHES_PER_THREAD (1..1000000, default 15000)]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"

#define BATCH 256
#define DEPTH 4          /* batches an inbox holds before its producer waits */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void **q[DEPTH];
    unsigned head, count;
} inbox_t;

static int nthreads = 4;
static long nbatches = 15000;
static inbox_t *inbox;
static uint64_t *sums;

static void put(inbox_t *b, void **batch)
{
    pthread_mutex_lock(&b->mu);
    while (b->count == DEPTH) pthread_cond_wait(&b->cv, &b->mu);
    b->q[(b->head + b->count++) % DEPTH] = batch;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void **take(inbox_t *b)
{
    pthread_mutex_lock(&b->mu);
    while (b->count == 0) pthread_cond_wait(&b->cv, &b->mu);
    void **batch = b->q[b->head];
    b->head = (b->head + 1) % DEPTH;
    b->count--;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return batch;
}

static void *worker(void *arg)
{
    long t = (long)arg;
    uint64_t seed = 1000 + (uint64_t)t, sum = 0;
    for (long k = 0; k < nbatches; k++) {
        void **batch = malloc(BATCH * sizeof *batch);
        if (!batch) abort();
        for (int i = 0; i < BATCH; i++) {
            size_t n = bu_range(&seed, 16, 512);
            unsigned char *p = malloc(n);
            if (!p) abort();
            memset(p, (int)(n & 0xff), 16);
            batch[i] = p;
        }
        put(&inbox[(t + 1) % nthreads], batch);
        void **in = take(&inbox[t]);
        for (int i = 0; i < BATCH; i++) {
            sum += ((unsigned char *)in[i])[15];
            free(in[i]);
        }
        free(in);
    }
    sums[t] = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) nthreads = (int)bu_parse_count(argv[0], "thread count", argv[1], 2, 64);
    if (argc > 2) nbatches = bu_parse_count(argv[0], "batch count", argv[2], 1, 1000000);
    if (argc > 3) {
        fprintf(stderr, "%s: too many arguments: expected [THREADS] [BATCHES_PER_THREAD]\n", argv[0]);
        return 2;
    }
    inbox = calloc((size_t)nthreads, sizeof *inbox);
    sums = calloc((size_t)nthreads, sizeof *sums);
    pthread_t *tid = calloc((size_t)nthreads, sizeof *tid);
    if (!inbox || !sums || !tid) return 1;
    for (int i = 0; i < nthreads; i++) {
        pthread_mutex_init(&inbox[i].mu, NULL);
        pthread_cond_init(&inbox[i].cv, NULL);
    }
    for (long i = 0; i < nthreads; i++)
        if (pthread_create(&tid[i], NULL, worker, (void *)i)) {
            fputs("wl_mt: pthread_create failed\n", stderr);
            return 1;
        }
    uint64_t total = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(tid[i], NULL);
        total += sums[i];
    }
    printf("wl_mt: %d threads, %ld batches of %d each, checksum %llu\n", nthreads, nbatches,
           BATCH, (unsigned long long)total);
    free(tid); free(sums); free(inbox);
    return 0;
}
