/*
 * bench/wl_large.c - room: bench/. Large blocks, KiB to MiB, reused, for
 * bench_preload.sh (plain libc, run under LD_PRELOAD): the shape of
 * mimalloc-bench's malloc-large and of programs with I/O buffers, images or
 * big arrays. A working set of 24 slots; each step frees a random slot and
 * allocates a new size, log-uniform in 1 KiB..4 MiB, and writes one byte in
 * every 4 KiB page of it (so a block served by fresh pages costs its page
 * faults, a reused one does not), plus 64 bytes at each end. Every fourth
 * step also reallocs a random slot to a new size (grow or shrink).
 *
 * Deterministic; prints a checksum, exits 1 if a block did not hold what was
 * written to it (the ends are checked before each free, also across realloc).
 *
 * Usage: wl_large [STEPS (1..100000000, default 3000)]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"

#define SLOTS 24

static unsigned char *blk[SLOTS];
static size_t len[SLOTS];
static uint64_t tag[SLOTS], sum, bad;

static size_t pick_size(uint64_t *seed)
{
    /* log-uniform: 2^(10 + u * 12), u in [0, 1) */
    unsigned b = 10 + (unsigned)(bu_rand(seed) >> 40) % 12;
    return ((size_t)1 << b) + (size_t)(bu_rand(seed) >> 40) % ((size_t)1 << b);
}

static void fill(int i, size_t from)
{
    unsigned char *p = blk[i];
    size_t n = len[i];
    for (size_t o = from; o < n; o += 4096) p[o] = (unsigned char)(o >> 12);
    memset(p, (int)(tag[i] & 0xff), 64);
    memset(p + n - 64, (int)(tag[i] >> 8 & 0xff), 64);
}

static void check(int i, size_t n)
{
    unsigned char *p = blk[i];
    bad += p[0] != (unsigned char)(tag[i] & 0xff) || p[63] != (unsigned char)(tag[i] & 0xff);
    bad += p[n - 1] != (unsigned char)(tag[i] >> 8 & 0xff);
    sum += n + p[0] + p[n - 1];
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? bu_parse_count(argv[0], "step count", argv[1], 1, 100000000) : 3000;
    if (argc > 2) {
        fprintf(stderr, "%s: too many arguments: expected [STEPS]\n", argv[0]);
        return 2;
    }
    uint64_t seed = 31337;
    for (long k = 0; k < steps + SLOTS; k++) {
        int i = (int)(k < SLOTS ? k : (long)((bu_rand(&seed) >> 33) % SLOTS));
        if (blk[i]) {
            check(i, len[i]);
            free(blk[i]);
        }
        len[i] = pick_size(&seed);
        tag[i] = bu_rand(&seed);
        if (!(blk[i] = malloc(len[i]))) {
            fputs("wl_large: out of memory\n", stderr);
            return 1;
        }
        fill(i, 0);
        if (k >= SLOTS && (k & 3) == 0) {
            int j = (int)((bu_rand(&seed) >> 33) % SLOTS);
            size_t n = pick_size(&seed), keep = n < len[j] ? n : len[j];
            /* the first 64 bytes must survive the move */
            unsigned char *q = realloc(blk[j], n);
            if (!q) {
                fputs("wl_large: out of memory\n", stderr);
                return 1;
            }
            bad += q[0] != (unsigned char)(tag[j] & 0xff) || q[keep > 64 ? 63 : keep - 1] != (unsigned char)(tag[j] & 0xff);
            blk[j] = q;
            len[j] = n;
            fill(j, keep);
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        check(i, len[i]);
        free(blk[i]);
    }
    if (bad) {
        fprintf(stderr, "wl_large: %llu blocks did not hold what was written to them\n",
                (unsigned long long)bad);
        return 1;
    }
    printf("wl_large: %ld steps over %d blocks of 1 KiB-4 MiB, checksum %llu\n", steps, SLOTS,
           (unsigned long long)sum);
    return 0;
}
