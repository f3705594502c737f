/*
 * bench/wl_fixed.c - room: bench/. A tight malloc/free loop of a few fixed
 * small sizes for bench_preload.sh (plain libc, run under LD_PRELOAD), the
 * shape of glibc's bench-malloc-simple and mimalloc-bench's glibc-simple /
 * alloc-test: for each size of 16, 32, 64 and 128 bytes, BATCH blocks are
 * allocated and then freed, over and over, with BATCH = 1 (a malloc/free
 * pair), 25, 100, 400 and 10000 (the last past every thread cache); the
 * small batches are freed in reverse (LIFO), the large ones in allocation
 * order (FIFO). Each block is written on allocation and read before its free.
 *
 * Every (size, batch) pair does the same number of allocations: MILLION / 20
 * million each. Deterministic; prints a checksum of what was read back and
 * exits 1 if a block did not hold what was written to it.
 *
 * Usage: wl_fixed [MILLION_ALLOCS (1..10000, default 40)]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"

static const size_t sizes[] = { 16, 32, 64, 128 };
static const int batches[] = { 1, 25, 100, 400, 10000 };
#define NSIZES (int)(sizeof sizes / sizeof sizes[0])
#define NBATCH (int)(sizeof batches / sizeof batches[0])

int main(int argc, char **argv)
{
    long mallocs = argc > 1 ? bu_parse_count(argv[0], "million-allocation count", argv[1], 1, 10000) : 40;
    if (argc > 2) {
        fprintf(stderr, "%s: too many arguments: expected [MILLION_ALLOCS]\n", argv[0]);
        return 2;
    }
    long per = mallocs * 1000000 / (NSIZES * NBATCH);
    uint64_t **blk = malloc(10000 * sizeof *blk), sum = 0, bad = 0;
    if (!blk) return 1;
    for (int bi = 0; bi < NBATCH; bi++) {
        for (int si = 0; si < NSIZES; si++) {
            size_t size = sizes[si];
            int batch = batches[bi];
            long reps = per / batch;
            uint64_t tag = (uint64_t)size << 32 | (uint64_t)batch << 8;
            for (long r = 0; r < reps; r++) {
                for (int j = 0; j < batch; j++) {
                    uint64_t *p = malloc(size);
                    if (!p) {
                        fputs("wl_fixed: out of memory\n", stderr);
                        return 1;
                    }
                    p[0] = tag + (uint64_t)j;
                    p[size / 8 - 1] = (uint64_t)r;
                    blk[j] = p;
                }
                if (batch <= 400) {
                    for (int j = batch - 1; j >= 0; j--) {
                        uint64_t *p = blk[j];
                        bad += p[0] != tag + (uint64_t)j || p[size / 8 - 1] != (uint64_t)r;
                        sum += p[0] ^ p[size / 8 - 1];
                        free(p);
                    }
                } else {
                    for (int j = 0; j < batch; j++) {
                        uint64_t *p = blk[j];
                        bad += p[0] != tag + (uint64_t)j || p[size / 8 - 1] != (uint64_t)r;
                        sum += p[0] ^ p[size / 8 - 1];
                        free(p);
                    }
                }
            }
        }
    }
    free(blk);
    if (bad) {
        fprintf(stderr, "wl_fixed: %llu blocks did not hold what was written to them\n",
                (unsigned long long)bad);
        return 1;
    }
    printf("wl_fixed: %ld M allocations of 16-128 B in batches of 1-10000, checksum %llu\n",
           mallocs, (unsigned long long)sum);
    return 0;
}
