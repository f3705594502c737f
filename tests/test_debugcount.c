/*
 * tests/test_debugcount.c - counters under the debug hooks, library side.
 *
 * Room: this program only. main() installs hs_setup_debug_hooks() directly
 * over the default allocators (test_debug.c puts a hook of its own between
 * them), so every block here is counted by the core and adjusted by the
 * hooks (core/debug.c, "Counting"): live bytes move by the bytes the
 * program asked for, never by the debug header, guards or the rounding of
 * the block under them; a request the hooks refuse by themselves counts as
 * failed exactly once, like one the allocator under turns down.
 * tests/27-failcount.sh checks the same through the shim.
 */
#include "testutil.h"
#include <heapshim.h>
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*const d_malloc[3])(size_t) = { hs_raw_malloc, hs_mem_malloc, hs_obj_malloc };
static void *(*const d_calloc[3])(size_t, size_t) = { hs_raw_calloc, hs_mem_calloc, hs_obj_calloc };
static void *(*const d_realloc[3])(void *, size_t) = { hs_raw_realloc, hs_mem_realloc,
                                                        hs_obj_realloc };
static void (*const d_free[3])(void *) = { hs_raw_free, hs_mem_free, hs_obj_free };

/* volatile: no folding of absurd sizes */
static volatile size_t size_max = SIZE_MAX, ptrdiff_max = PTRDIFF_MAX;

/* small classes, the small/large boundary with and without the 24 bytes
 * of the hooks, glibc's mmap threshold */
static const size_t sizes[] = { 0, 1, 9, 16, 100, 488, 489, 512, 513, 1000, 1001, 1024, 1025, 5000, 200000 };
#define NSIZES (sizeof sizes / sizeof *sizes)

static hs_domain_stats_t st(int d)
{
    hs_domain_stats_t s;
    CU_ASSERT_EQUAL_FATAL(hs_domain_stats((hs_domain_t)d, &s), 0);
    return s;
}

#define DELTA(a, b, f) ((long long)((a).f - (b).f))

static void test_live_bytes_are_requested_bytes(void)
{
    for (int d = 0; d < 3; d++) {
        void *p[NSIZES], *c[NSIZES];
        long long want = 0;
        hs_domain_stats_t s0 = st(d);
        for (unsigned i = 0; i < NSIZES; i++) {
            p[i] = d_malloc[d](sizes[i]);
            c[i] = d_calloc[d](sizes[i], 1);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p[i]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(c[i]);
            want += 2 * (long long)sizes[i];
        }
        hs_domain_stats_t s1 = st(d);
        CU_ASSERT_EQUAL(DELTA(s1, s0, live_bytes), want);
        CU_ASSERT_EQUAL(DELTA(s1, s0, live_blocks), 2 * (long long)NSIZES);
        CU_ASSERT_EQUAL(DELTA(s1, s0, allocs), 2 * (long long)NSIZES);
        CU_ASSERT(s1.peak_bytes >= s1.live_bytes);
        for (unsigned i = 0; i < NSIZES; i++) {
            d_free[d](p[i]);
            d_free[d](c[i]);
        }
        hs_domain_stats_t s2 = st(d);
        CU_ASSERT_EQUAL(s2.live_bytes, s0.live_bytes);
        CU_ASSERT_EQUAL(s2.live_blocks, s0.live_blocks);
        CU_ASSERT_EQUAL(DELTA(s2, s0, frees), 2 * (long long)NSIZES);
        CU_ASSERT_EQUAL(DELTA(s2, s0, failed), 0);
    }
}

/* Every move between sizes (small to small, small to large, large to small,
 * in place or moved by the allocator under): one realloc each, live bytes
 * always the size asked for. realloc(p, 0) in the hs_ API keeps a block. */
static void test_realloc_follows_requested_size(void)
{
    for (int d = 0; d < 3; d++) {
        hs_domain_stats_t s0 = st(d);
        char *p = d_malloc[d](3);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        unsigned moves = 0;
        for (unsigned i = 0; i < NSIZES; i++) {
            for (unsigned k = 0; k < NSIZES; k += 3) {
                size_t n = (i + k) % 2 ? sizes[i] : sizes[NSIZES - 1 - k];
                p = d_realloc[d](p, n);
                CU_ASSERT_PTR_NOT_NULL_FATAL(p);
                moves++;
                hs_domain_stats_t s = st(d);
                if (DELTA(s, s0, live_bytes) != (long long)n) {
                    CU_FAIL("live bytes after realloc differ from the size asked for");
                    printf("\n  domain %d: realloc to %zu: live bytes %+lld\n", d, n,
                           DELTA(s, s0, live_bytes));
                    break;
                }
            }
        }
        p = d_realloc[d](p, 0);                     /* the hs_ API keeps a block */
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        moves++;
        hs_domain_stats_t s1 = st(d);
        CU_ASSERT_EQUAL(DELTA(s1, s0, live_bytes), 0);
        CU_ASSERT_EQUAL(DELTA(s1, s0, live_blocks), 1);
        CU_ASSERT_EQUAL(DELTA(s1, s0, allocs), 1);
        CU_ASSERT_EQUAL(DELTA(s1, s0, frees), 0);
        CU_ASSERT_EQUAL(DELTA(s1, s0, reallocs), (long long)moves);
        d_free[d](p);
        hs_domain_stats_t s2 = st(d);
        CU_ASSERT_EQUAL(s2.live_bytes, s0.live_bytes);
        CU_ASSERT_EQUAL(s2.live_blocks, s0.live_blocks);
    }
}

/* Each failing call counts once, in its domain, whoever refused it: the
 * hooks (no room for their 24 bytes, calloc overflow) or the allocator
 * under them (glibc has no such memory). A failed realloc keeps p. */
static void test_failures_counted_once(void)
{
    for (int d = 0; d < 3; d++) {
        char *p = d_malloc[d](40);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        strcpy(p, "intact");
        hs_domain_stats_t before[3], after[3];
        for (int e = 0; e < 3; e++) before[e] = st(e);
        CU_ASSERT_PTR_NULL(d_malloc[d](size_max));            /* the hooks refuse */
        CU_ASSERT_PTR_NULL(d_malloc[d](size_max - 20));
        CU_ASSERT_PTR_NULL(d_malloc[d](ptrdiff_max));         /* the allocator under */
        CU_ASSERT_PTR_NULL(d_calloc[d](size_max, 2));         /* overflow */
        CU_ASSERT_PTR_NULL(d_calloc[d](ptrdiff_max, 1));
        CU_ASSERT_PTR_NULL(d_realloc[d](p, size_max));
        CU_ASSERT_PTR_NULL(d_realloc[d](p, ptrdiff_max));
        CU_ASSERT_PTR_NULL(d_realloc[d](NULL, size_max));
        CU_ASSERT_STRING_EQUAL(p, "intact");
        for (int e = 0; e < 3; e++) after[e] = st(e);
        for (int e = 0; e < 3; e++) {
            CU_ASSERT_EQUAL(DELTA(after[e], before[e], failed), e == d ? 8 : 0);
            CU_ASSERT_EQUAL(after[e].live_bytes, before[e].live_bytes);
            CU_ASSERT_EQUAL(after[e].allocs, before[e].allocs);
            CU_ASSERT_EQUAL(after[e].reallocs, before[e].reallocs);
        }
        d_free[d](p);
    }
}

/* One thread: the peak is exactly the highest live bytes seen, after every
 * call; the hooks' overhead never shows through, not even for a moment
 * (it is taken off before the allocator under counts a block, and put back
 * after it counted the free). */
static void test_peak_exact(void)
{
    for (int d = 0; d < 3; d++) {
        void *v[6] = { 0 };
        hs_domain_stats_t prev = st(d);
        unsigned off = 0;
        for (unsigned op = 0; op < 4 * NSIZES; op++) {
            unsigned k = op % 6;
            size_t n = sizes[(op * 7) % NSIZES];
            switch (op % 4) {
            case 0: v[k] = d_realloc[d](v[k], n); break;
            case 1: d_free[d](v[k]); v[k] = d_malloc[d](n); break;
            case 2: d_free[d](v[k]); v[k] = d_calloc[d](1, n); break;
            default: d_free[d](v[k]); v[k] = NULL; break;
            }
            hs_domain_stats_t now = st(d);
            uint64_t want = prev.peak_bytes > now.live_bytes ? prev.peak_bytes : now.live_bytes;
            if (now.peak_bytes != want && off++ < 3)
                printf("\n  domain %d op %u (%zu bytes): live %llu peak %llu, want %llu", d, op, n,
                       (unsigned long long)now.live_bytes, (unsigned long long)now.peak_bytes,
                       (unsigned long long)want);
            prev = now;
        }
        CU_ASSERT_EQUAL(off, 0);
        for (unsigned k = 0; k < 6; k++) d_free[d](v[k]);
    }
}

static const hs_test_t tests[] = {
    /* first: the peaks of the other tests would hide its new highs */
    { "peak exact: the overhead never shows", test_peak_exact },
    { "live bytes are the bytes asked for", test_live_bytes_are_requested_bytes },
    { "realloc: live bytes follow, one realloc each", test_realloc_follows_requested_size },
    { "failures counted once, in their domain", test_failures_counted_once },
    { NULL, NULL },
};

int main(void)
{
    if (hs_setup_debug_hooks() != 0) {
        fprintf(stderr, "test_debugcount: hs_setup_debug_hooks failed on first call\n");
        return 1;
    }
    hs_test_add_suite("debug hooks: counting", tests);
    return hs_test_main();
}
