/*
 * bench/wl_threads.c - room: bench/. Threads created and destroyed while
 * allocating, for bench_preload.sh (plain libc, run under LD_PRELOAD): the
 * shape of mimalloc-bench's larson (a server whose worker threads come and
 * go, each inheriting the live blocks of the one before it) and of its
 * thread-churn tests.
 *
 * LANES lanes run at once (default 4); each lane owns an array of 1000 live
 * blocks (16..MAXSIZE B, skewed small; MAXSIZE 512 by default, 1000 for
 * larson's own sizes of 8..1000 B, half of them above 512). A lane runs GENERATIONS threads one after
 * the other: each thread makes OPS thread-local blocks, each living for the
 * next 200 steps (a FIFO window, whatever is left freed before the thread
 * exits), and every other step replaces a random block of its lane's array
 * (so it frees blocks that earlier, now dead threads allocated); then it
 * exits, and the main thread joins it and starts the lane's next generation.
 * Every thread lives 1.5 x OPS allocations, a few thousand by default.
 *
 * Deterministic: a lane's threads run one at a time with seeds of their own,
 * so the blocks each frees and what it reads from them do not depend on
 * scheduling. Prints a checksum; exits 1 if a block did not hold what its
 * allocator wrote.
 *
 * Usage: wl_threads [LANES (1..64, default 4)] [GENERATIONS (1..100000, default 500)] [OPS (1..1000000, default 3000)]
 *                   [MAXSIZE (129..65536, default 512)]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"

#define SLOTS 1000
#define LOCAL 200

typedef struct {
    uint64_t *slot[SLOTS];
    uint64_t sum, bad;
    long gen;
    long lane;
} lane_t;

static long ops = 3000;
static size_t maxsize = 512;

/* 16..maxsize B, mostly small: half in 16..64, a quarter in 64..128, the rest up to maxsize */
static size_t pick_size(uint64_t *seed)
{
    uint64_t x = bu_rand(seed);
    switch ((x >> 60) & 3) {
    case 0: case 1: return 16 + (size_t)(x & 0xffff) % 49;
    case 2: return 64 + (size_t)(x & 0xffff) % 65;
    default: return 128 + (size_t)(x & 0xffff) % (maxsize - 127);
    }
}

static uint64_t *make(size_t n, uint64_t v)
{
    uint64_t *p = malloc(n);
    if (!p) {
        fputs("wl_threads: out of memory\n", stderr);
        exit(1);
    }
    p[0] = v;
    p[n / 8 - 1] = ~v;
    return p;
}

static void check_drop(lane_t *l, uint64_t *p, size_t n)
{
    l->sum += p[0];
    l->bad += p[n / 8 - 1] != ~p[0];
    free(p);
}

static void *worker(void *arg)
{
    lane_t *l = arg;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(l->lane + 1) + (uint64_t)l->gen * 7919 + 1;
    uint64_t *local[LOCAL];
    size_t localn[LOCAL];
    int nlocal = 0, next = 0;
    for (long k = 0; k < ops; k++) {
        if (k & 1) {                  /* replace a block of the lane's array */
            size_t i = (size_t)(bu_rand(&seed) >> 33) % SLOTS;
            uint64_t *old = l->slot[i];
            check_drop(l, old, (size_t)(old[0] >> 48));
            size_t n = pick_size(&seed);
            l->slot[i] = make(n, (uint64_t)n << 48 | (bu_rand(&seed) >> 16));
        }
        /* a thread-local block that lives for the next LOCAL steps */
        size_t tn = pick_size(&seed);
        uint64_t *t = make(tn, (uint64_t)tn << 48 | (uint64_t)k);
        if (nlocal == LOCAL) check_drop(l, local[next], localn[next]);
        else nlocal++;
        local[next] = t;
        localn[next] = tn;
        next = (next + 1) % LOCAL;
    }
    for (int i = 0; i < nlocal; i++) check_drop(l, local[i], localn[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    long nlanes = argc > 1 ? bu_parse_count(argv[0], "lane count", argv[1], 1, 64) : 4;
    long ngen = argc > 2 ? bu_parse_count(argv[0], "generation count", argv[2], 1, 100000) : 500;
    if (argc > 3) ops = bu_parse_count(argv[0], "op count", argv[3], 1, 1000000);
    if (argc > 4) maxsize = (size_t)bu_parse_count(argv[0], "largest block size", argv[4], 129, 65536);
    if (argc > 5) {
        fprintf(stderr, "%s: too many arguments: expected [LANES] [GENERATIONS] [OPS] [MAXSIZE]\n", argv[0]);
        return 2;
    }
    lane_t *lane = calloc((size_t)nlanes, sizeof *lane);
    pthread_t *tid = calloc((size_t)nlanes, sizeof *tid);
    if (!lane || !tid) return 1;
    for (long l = 0; l < nlanes; l++) {
        uint64_t seed = 77 + (uint64_t)l;
        lane[l].lane = l;
        for (int i = 0; i < SLOTS; i++) {
            size_t n = pick_size(&seed);
            lane[l].slot[i] = make(n, (uint64_t)n << 48 | (uint64_t)i);
        }
    }
    for (long g = 0; g < ngen; g++)
        for (long l = 0; l < nlanes; l++) {
            if (g > 0) pthread_join(tid[l], NULL);
            lane[l].gen = g;
            if (pthread_create(&tid[l], NULL, worker, &lane[l])) {
                fputs("wl_threads: pthread_create failed\n", stderr);
                return 1;
            }
        }
    uint64_t sum = 0, bad = 0;
    for (long l = 0; l < nlanes; l++) {
        pthread_join(tid[l], NULL);
        for (int i = 0; i < SLOTS; i++)
            check_drop(&lane[l], lane[l].slot[i], (size_t)(lane[l].slot[i][0] >> 48));
        sum += lane[l].sum;
        bad += lane[l].bad;
    }
    free(lane);
    free(tid);
    if (bad) {
        fprintf(stderr, "wl_threads: %llu blocks did not hold what was written to them\n",
                (unsigned long long)bad);
        return 1;
    }
    printf("wl_threads: %ld lanes x %ld thread generations x %ld ops, blocks up to %zu B, checksum %llu\n",
           nlanes, ngen, ops, maxsize, (unsigned long long)sum);
    return 0;
}
