/*
 * bench/wl_churn.c - room: bench/. A small-object churn program for
 * bench_preload.sh, built against plain libc and run under LD_PRELOAD of each
 * allocator: a working set of live blocks, each step frees a random one and
 * allocates a random size in [16, 512] (fixed seed), writing into it.
 * Prints a checksum that does not depend on the allocator.
 *
 * Usage: wl_churn [MILLION_OPS (1..1000, default 6)] [SLOTS (1000..10000000, default 50000)]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"

int main(int argc, char **argv)
{
    long mops = argc > 1 ? bu_parse_count(argv[0], "million-op count", argv[1], 1, 1000) : 6;
    long nslots = argc > 2 ? bu_parse_count(argv[0], "slot count", argv[2], 1000, 10000000) : 50000;
    if (argc > 3) {
        fprintf(stderr, "%s: too many arguments: expected [MILLION_OPS] [SLOTS]\n", argv[0]);
        return 2;
    }
    uint64_t seed = 12345, sum = 0;
    unsigned char **slot = calloc((size_t)nslots, sizeof *slot);
    if (!slot) return 1;
    for (long i = 0; i < nslots; i++) {
        size_t n = bu_range(&seed, 16, 512);
        if (!(slot[i] = malloc(n))) return 1;
        memset(slot[i], (int)n, 16);
    }
    for (long k = 0; k < mops * 1000000; k++) {
        uint64_t x = bu_rand(&seed);
        size_t i = (size_t)(x >> 32) % (size_t)nslots;
        size_t n = 16 + (size_t)(x & 0xffff) % 497;
        sum += slot[i][0] + slot[i][15];
        free(slot[i]);
        if (!(slot[i] = malloc(n))) {
            fputs("wl_churn: out of memory\n", stderr);
            return 1;
        }
        memset(slot[i], (int)n, 16);   /* a real object gets initialised */
    }
    for (long i = 0; i < nslots; i++) free(slot[i]);
    free(slot);
    printf("wl_churn: %ld M ops, %ld slots, checksum %llu\n", mops, nslots,
           (unsigned long long)sum);
    return 0;
}
