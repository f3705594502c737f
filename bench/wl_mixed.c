/*
 * bench/wl_mixed.c - room: bench/. Mixed sizes over a long-lived working set,
 * for bench_preload.sh (plain libc, run under LD_PRELOAD): a table of SLOTS
 * live blocks (default 100k) is filled, then each step replaces a random
 * slot with a block of a new random size in 8..4096 B, skewed small (half
 * 8..64 B, a quarter 64..256 B, 15% 256..1024 B, 10% 1..4 KiB), so small
 * and page-sized blocks interleave, live long and die in random order: the
 * fragmentation and size-class mix that real heaps see (mimalloc-bench's
 * alloc-test, sh6bench). Every block is written at both ends on allocation
 * and checked before its free.
 *
 * Deterministic; prints a checksum, exits 1 if a block did not hold what was
 * written to it.
 *
 * Usage: wl_mixed [THOUSAND_OPS (1..1000000, default 4000)] [SLOTS (1000..10000000, default 100000)]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"

static size_t pick_size(uint64_t *seed)
{
    uint64_t x = bu_rand(seed);
    unsigned c = (unsigned)(x >> 57) % 20;      /* 0..19: twentieths */
    size_t r = (size_t)(x & 0xffffff);
    if (c < 10) return 8 + r % 57;
    if (c < 15) return 64 + r % 193;
    if (c < 18) return 256 + r % 769;
    return 1024 + r % 3073;
}

static unsigned char *make(size_t n, uint64_t v)
{
    unsigned char *p = malloc(n);
    if (!p) {
        fputs("wl_mixed: out of memory\n", stderr);
        exit(1);
    }
    memcpy(p, &v, 8);                             /* n >= 8 */
    p[n - 1] = (unsigned char)(v >> 3);
    return p;
}

int main(int argc, char **argv)
{
    long kops = argc > 1 ? bu_parse_count(argv[0], "thousand-op count", argv[1], 1, 1000000) : 4000;
    long nslots = argc > 2 ? bu_parse_count(argv[0], "slot count", argv[2], 1000, 10000000) : 100000;
    if (argc > 3) {
        fprintf(stderr, "%s: too many arguments: expected [THOUSAND_OPS] [SLOTS]\n", argv[0]);
        return 2;
    }
    uint64_t seed = 2024, sum = 0, bad = 0;
    unsigned char **slot = malloc((size_t)nslots * sizeof *slot);
    uint32_t *len = malloc((size_t)nslots * sizeof *len);
    if (!slot || !len) return 1;
    for (long i = 0; i < nslots; i++) {
        len[i] = (uint32_t)pick_size(&seed);
        slot[i] = make(len[i], (uint64_t)i * 2654435761u);
    }
    for (long k = 0; k < kops * 1000; k++) {
        size_t i = (size_t)(bu_rand(&seed) >> 32) % (size_t)nslots;
        uint64_t v;
        memcpy(&v, slot[i], 8);
        bad += slot[i][len[i] - 1] != (unsigned char)(v >> 3);
        sum += v >> 20;
        free(slot[i]);
        len[i] = (uint32_t)pick_size(&seed);
        slot[i] = make(len[i], bu_rand(&seed));
    }
    for (long i = 0; i < nslots; i++) free(slot[i]);
    free(slot);
    free(len);
    if (bad) {
        fprintf(stderr, "wl_mixed: %llu blocks did not hold what was written to them\n",
                (unsigned long long)bad);
        return 1;
    }
    printf("wl_mixed: %ld k ops, %ld slots of 8-4096 B, checksum %llu\n", kops, nslots,
           (unsigned long long)sum);
    return 0;
}
