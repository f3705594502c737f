/*
 * bench/benchutil.h - room: bench/. Small helpers shared by the benchmark
 * programs (clock, seeded PRNG, median, argument parsing). Header-only so
 * the workload programs built against plain libc need no extra object.
 * Touches nothing outside the calling process.
 */
#ifndef HS_BENCHUTIL_H
#define HS_BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: cheap and identical for every allocator under test, so the
 * random sequence costs the same on both sides of a comparison. */
static inline uint64_t bu_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}

/* uniform in [lo, hi] (hi - lo small, so the modulo bias is negligible) */
static inline size_t bu_range(uint64_t *s, size_t lo, size_t hi)
{
    return lo + (size_t)((bu_rand(s) >> 32) % (hi - lo + 1));
}

static int bu_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median of n values (the array is sorted in place) */
static inline double bu_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bu_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Parse a decimal count in [lo, hi]; on anything else print one line naming
 * the option and the accepted range and exit 2. */
static inline long bu_parse_count(const char *prog, const char *what,
                                  const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: bad %s '%s': expected an integer from %ld to %ld\n",
                prog, what, s, lo, hi);
        exit(2);
    }
    return v;
}

#endif
