/*
 * tests/test_core.c - the request semantics of the three domains
 * (include/heapshim.h, "Semantics"): zero-byte requests, calloc, realloc,
 * free(NULL), alignment, content preservation, the HS_MEM_* macros.
 *
 * Room: this program only; it uses the public API and nothing from core/.
 * Every check runs for hs_raw_*, hs_mem_* and hs_obj_* through the tables
 * below, on sizes on both sides of the small/large boundary (HS_SMALL_MAX, 1024 bytes; 512 before).
 */
#include "testutil.h"
#include <heapshim.h>
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef unsigned char byte;

/* CU_FAIL prints its argument's spelling; this records the formatted text
 * (CUnit copies it) so a failure says what was found. */
#define FAIL_MSG(m) CU_assertImplementation(CU_FALSE, __LINE__, (m), __FILE__, "", CU_FALSE)

static void *(*const d_malloc[3])(size_t) = { hs_raw_malloc, hs_mem_malloc, hs_obj_malloc };
static void *(*const d_calloc[3])(size_t, size_t) = { hs_raw_calloc, hs_mem_calloc, hs_obj_calloc };
static void *(*const d_realloc[3])(void *, size_t) = { hs_raw_realloc, hs_mem_realloc,
                                                        hs_obj_realloc };
static void (*const d_free[3])(void *) = { hs_raw_free, hs_mem_free, hs_obj_free };

/* A per-block byte pattern: the i>>8 term makes a copy shifted by any amount
 * (or a block swapped for another with a different seed) fail the check. */
static byte pat(size_t i, unsigned seed)
{
    return (byte)(seed * 0x9Du + i * 131u + (i >> 8));
}

static void fill(void *p, size_t n, unsigned seed)
{
    byte *b = p;
    for (size_t i = 0; i < n; i++) b[i] = pat(i, seed);
}

static int intact(const void *p, size_t n, unsigned seed)
{
    const byte *b = p;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) acc |= (unsigned)(b[i] ^ pat(i, seed));
    return acc == 0;
}

static int aligned(const void *p) { return ((uintptr_t)p % HS_ALIGNMENT) == 0; }

static hs_domain_stats_t st(int d)
{
    hs_domain_stats_t s;
    memset(&s, 0xff, sizeof s);
    CU_ASSERT_FATAL(hs_domain_stats((hs_domain_t)d, &s) == 0);
    return s;
}

/* ---- zero-byte requests ----------------------------------------------------- */

static void test_zero_bytes_distinct(void)
{
    for (int d = 0; d < 3; d++) {
        hs_domain_stats_t s0 = st(d);
        void *p[7] = {
            d_malloc[d](0), d_malloc[d](0), d_malloc[d](0),
            d_calloc[d](0, 0), d_calloc[d](0, 8), d_calloc[d](8, 0),
            d_realloc[d](NULL, 0),
        };
        for (int i = 0; i < 7; i++) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(p[i]);
            CU_ASSERT(aligned(p[i]));
            for (int j = 0; j < i; j++) CU_ASSERT(p[i] != p[j]);
            *(volatile byte *)p[i] = (byte)i;     /* "as if 1 byte": writable */
        }
        for (int i = 0; i < 7; i++) CU_ASSERT(*(byte *)p[i] == (byte)i);
        CU_ASSERT_EQUAL(st(d).live_blocks, s0.live_blocks + 7);
        for (int i = 0; i < 7; i++) d_free[d](p[i]);
        CU_ASSERT_EQUAL(st(d).live_blocks, s0.live_blocks);
        CU_ASSERT_EQUAL(st(d).live_bytes, s0.live_bytes);
    }
}

/* ---- calloc ------------------------------------------------------------------ */

static const size_t csizes[] = { 1, 15, 16, 24, 64, 100, 511, 512, 513, 1000, 1024, 1025, 4096, 70000, 300000 };
#define NCSIZES (sizeof csizes / sizeof *csizes)

static int all_zero(const void *p, size_t n)
{
    const byte *b = p;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) acc |= b[i];
    return acc == 0;
}

/* Dirty a block, free it, calloc the same size: with LIFO reuse the calloc
 * very likely gets the dirty block back, which must come out zeroed. */
static void test_calloc_zeroes_reused(void)
{
    for (int d = 0; d < 3; d++) {
        for (size_t k = 0; k < NCSIZES; k++) {
            size_t n = csizes[k];
            for (int form = 0; form < 3; form++) {
                byte *p = d_malloc[d](n);
                CU_ASSERT_PTR_NOT_NULL_FATAL(p);
                memset(p, 0xA5, n);
                d_free[d](p);
                byte *q = form == 0 ? d_calloc[d](1, n)
                        : form == 1 ? d_calloc[d](n, 1)
                                    : d_calloc[d](n % 2 ? n : n / 2, n % 2 ? 1 : 2);
                CU_ASSERT_PTR_NOT_NULL_FATAL(q);
                CU_ASSERT(aligned(q));
                if (!all_zero(q, n))
                    CU_FAIL("calloc returned non-zero bytes");
                d_free[d](q);
            }
        }
        /* a block in the middle of a run of dirty ones */
        byte *a[40];
        for (int i = 0; i < 40; i++) {
            a[i] = d_malloc[d](48);
            memset(a[i], 0x5A, 48);
        }
        for (int i = 0; i < 40; i++) d_free[d](a[i]);
        for (int i = 0; i < 40; i++) {
            a[i] = d_calloc[d](6, 8);
            CU_ASSERT_PTR_NOT_NULL_FATAL(a[i]);
            CU_ASSERT(all_zero(a[i], 48));
        }
        for (int i = 0; i < 40; i++) d_free[d](a[i]);
    }
}

static void test_calloc_overflow_null(void)
{
    static const size_t pairs[][2] = {
        { SIZE_MAX / 2 + 1, 2 }, { 2, SIZE_MAX / 2 + 1 }, { SIZE_MAX, SIZE_MAX },
        { (size_t)1 << 33, (size_t)1 << 33 }, { SIZE_MAX / 16 + 1, 16 },
    };
    const int n = (int)(sizeof pairs / sizeof *pairs);
    for (int d = 0; d < 3; d++) {
        hs_domain_stats_t s0 = st(d);
        for (int i = 0; i < n; i++)
            CU_ASSERT_PTR_NULL(d_calloc[d](pairs[i][0], pairs[i][1]));
        hs_domain_stats_t s1 = st(d);
        CU_ASSERT_EQUAL(s1.failed, s0.failed + (uint64_t)n);
        CU_ASSERT_EQUAL(s1.live_blocks, s0.live_blocks);
        CU_ASSERT_EQUAL(s1.allocs, s0.allocs);
    }
}

/* ---- realloc ------------------------------------------------------------------- */

static void test_realloc_null_is_malloc(void)
{
    static const size_t sizes[] = { 0, 1, 20, 512, 513, 1024, 1025, 3000, 200000 };
    for (int d = 0; d < 3; d++) {
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t n = sizes[k];
            /* the same request both ways must count the same */
            hs_domain_stats_t a0 = st(d);
            void *p = d_malloc[d](n);
            hs_domain_stats_t a1 = st(d);
            d_free[d](p);
            hs_domain_stats_t b0 = st(d);
            void *q = d_realloc[d](NULL, n);
            hs_domain_stats_t b1 = st(d);
            CU_ASSERT_PTR_NOT_NULL_FATAL(q);
            CU_ASSERT(aligned(q));
            fill(q, n, 7);
            CU_ASSERT(intact(q, n, 7));
            CU_ASSERT_EQUAL(b1.allocs - b0.allocs, a1.allocs - a0.allocs);
            CU_ASSERT_EQUAL(b1.allocs, b0.allocs + 1);
            CU_ASSERT_EQUAL(b1.reallocs, b0.reallocs);
            CU_ASSERT_EQUAL(b1.live_blocks, b0.live_blocks + 1);
            if (d != HS_DOMAIN_RAW && n <= HS_SMALL_MAX)
                CU_ASSERT_EQUAL(b1.live_bytes - b0.live_bytes, a1.live_bytes - a0.live_bytes);
            d_free[d](q);
        }
    }
}

static void test_realloc_to_zero(void)
{
    static const size_t sizes[] = { 0, 16, 400, 3000, 200000 };
    for (int d = 0; d < 3; d++) {
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t n = sizes[k];
            hs_domain_stats_t s0 = st(d);
            byte *p = d_malloc[d](n);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            fill(p, n, 3);
            hs_domain_stats_t s1 = st(d);
            byte *q = d_realloc[d](p, 0);
            CU_ASSERT_PTR_NOT_NULL_FATAL(q);      /* p was resized, not freed */
            CU_ASSERT(aligned(q));
            hs_domain_stats_t s2 = st(d);
            CU_ASSERT_EQUAL(s2.live_blocks, s1.live_blocks);
            CU_ASSERT(s2.live_bytes <= s1.live_bytes);
            CU_ASSERT_EQUAL(s2.reallocs, s1.reallocs + 1);
            *(volatile byte *)q = 0x11;           /* valid, at least 1 byte */
            /* and it is a real block: it can grow again */
            byte *r = d_realloc[d](q, 64);
            CU_ASSERT_PTR_NOT_NULL_FATAL(r);
            CU_ASSERT(r[0] == 0x11);
            d_free[d](r);
            CU_ASSERT_EQUAL(st(d).live_blocks, s0.live_blocks);
            CU_ASSERT_EQUAL(st(d).live_bytes, s0.live_bytes);
        }
    }
}

/* A request no allocator can satisfy (but no size_t overflow either). */
static void test_realloc_failure_keeps_block(void)
{
    static const size_t sizes[] = { 1, 16, 100, 512, 513, 1024, 1025, 3000, 200000 };
    static const size_t huge[] = { SIZE_MAX / 2, SIZE_MAX - 4096, (size_t)1 << 62 };
    for (int d = 0; d < 3; d++) {
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t n = sizes[k];
            byte *p = d_malloc[d](n);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            fill(p, n, (unsigned)(k + 11));
            for (size_t h = 0; h < sizeof huge / sizeof *huge; h++) {
                hs_domain_stats_t s0 = st(d);
                void *q = d_realloc[d](p, huge[h]);
                CU_ASSERT_PTR_NULL(q);
                hs_domain_stats_t s1 = st(d);
                CU_ASSERT(intact(p, n, (unsigned)(k + 11)));
                CU_ASSERT_EQUAL(s1.failed, s0.failed + 1);
                CU_ASSERT_EQUAL(s1.live_bytes, s0.live_bytes);
                CU_ASSERT_EQUAL(s1.live_blocks, s0.live_blocks);
                CU_ASSERT_EQUAL(s1.reallocs, s0.reallocs);
            }
            /* still a valid block of its domain: it can be resized and freed */
            byte *r = d_realloc[d](p, n + 40);
            CU_ASSERT_PTR_NOT_NULL_FATAL(r);
            CU_ASSERT(intact(r, n, (unsigned)(k + 11)));
            d_free[d](r);
        }
        CU_ASSERT_PTR_NULL(d_malloc[d](SIZE_MAX / 2));
        CU_ASSERT_PTR_NULL(d_calloc[d](1, SIZE_MAX / 2));
    }
}

struct rpair { size_t from, to; };
static const struct rpair rpairs[] = {
    { 10, 100 }, { 100, 10 }, { 48, 500 }, { 500, 48 }, { 100, 90 }, { 16, 16 },  /* small->small */
    { 200, 600 }, { 500, 5000 }, { 1, 513 }, { 300, 150000 },                     /* small->large */
    { 600, 100 }, { 5000, 200 }, { 513, 1 }, { 150000, 300 },                     /* large->small */
    { 3000, 9000 }, { 9000, 3000 }, { 1000, 300000 }, { 300000, 2000 },           /* large->large */
    { 200000, 400000 }, { 400000, 200000 }, { 700, 700 },
};

static void test_realloc_preserves_contents(void)
{
    for (int d = 0; d < 3; d++) {
        for (size_t k = 0; k < sizeof rpairs / sizeof *rpairs; k++) {
            size_t from = rpairs[k].from, to = rpairs[k].to;
            /* a neighbour allocated right after, so growing in place is not free */
            hs_domain_stats_t sa = st(d);
            byte *p = d_malloc[d](from);
            uint64_t old_usable = st(d).live_bytes - sa.live_bytes;
            byte *nb = d_malloc[d](from);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            CU_ASSERT_PTR_NOT_NULL_FATAL(nb);
            fill(p, from, (unsigned)k);
            fill(nb, from, (unsigned)k + 100);
            hs_domain_stats_t s0 = st(d);
            byte *q = d_realloc[d](p, to);
            CU_ASSERT_PTR_NOT_NULL_FATAL(q);
            CU_ASSERT(aligned(q));
            if (!intact(q, from < to ? from : to, (unsigned)k)) {
                char msg[96];
                snprintf(msg, sizeof msg, "realloc %zu -> %zu lost contents in domain %d",
                         from, to, d);
                FAIL_MSG(msg);
            }
            CU_ASSERT(intact(nb, from, (unsigned)k + 100));
            hs_domain_stats_t s1 = st(d);
            CU_ASSERT_EQUAL(s1.reallocs, s0.reallocs + 1);
            CU_ASSERT_EQUAL(s1.live_blocks, s0.live_blocks);
            CU_ASSERT_EQUAL(s1.allocs, s0.allocs);
            CU_ASSERT_EQUAL(s1.frees, s0.frees);
            CU_ASSERT(old_usable >= from);
            CU_ASSERT(old_usable + (s1.live_bytes - s0.live_bytes) >= to);  /* room for `to` */
            fill(q, to, (unsigned)k + 50);         /* the whole new size is usable */
            CU_ASSERT(intact(q, to, (unsigned)k + 50));
            d_free[d](q);
            d_free[d](nb);
        }
    }
}

/* ---- free(NULL), alignment ------------------------------------------------------- */

static void test_free_null(void)
{
    for (int d = 0; d < 3; d++) {
        hs_domain_stats_t s0 = st(d);
        d_free[d](NULL);
        d_free[d](NULL);
        hs_domain_stats_t s1 = st(d);
        CU_ASSERT_EQUAL(s1.frees, s0.frees);
        CU_ASSERT_EQUAL(s1.live_blocks, s0.live_blocks);
        CU_ASSERT_EQUAL(s1.live_bytes, s0.live_bytes);
    }
}

#define ALIGN_MAX 2048
static void test_alignment(void)
{
    static void *blk[ALIGN_MAX + 1];
    static const size_t big[] = { 4096, 65536, 131072, 131073, 1 << 20, (1 << 22) + 8, 16 << 20 };
    for (int d = 0; d < 3; d++) {
        int bad = 0;
        /* all live at once, so no size is served by reusing one block */
        for (size_t n = 0; n <= ALIGN_MAX; n++) {
            blk[n] = n % 3 == 0 ? d_malloc[d](n) : n % 3 == 1 ? d_calloc[d](1, n)
                                                   : d_realloc[d](NULL, n);
            CU_ASSERT_PTR_NOT_NULL_FATAL(blk[n]);
            bad += !aligned(blk[n]);
        }
        for (size_t n = 0; n <= ALIGN_MAX; n++) {
            void *q = d_realloc[d](blk[n], (n * 7) % (ALIGN_MAX + 1));   /* realloc results too */
            CU_ASSERT_PTR_NOT_NULL_FATAL(q);
            bad += !aligned(q);
            blk[n] = q;
        }
        for (size_t n = 0; n <= ALIGN_MAX; n++) d_free[d](blk[n]);
        for (size_t k = 0; k < sizeof big / sizeof *big; k++) {
            void *p = d_malloc[d](big[k]);
            void *c = d_calloc[d](big[k], 1);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            CU_ASSERT_PTR_NOT_NULL_FATAL(c);
            bad += !aligned(p) + !aligned(c);
            d_free[d](p);
            d_free[d](c);
        }
        if (bad) {
            char msg[64];
            snprintf(msg, sizeof msg, "%d misaligned pointers in domain %d", bad, d);
            FAIL_MSG(msg);
        }
    }
}

/* ---- HS_MEM_NEW / HS_MEM_RESIZE / HS_MEM_DEL --------------------------------------- */

struct three { uint64_t a, b, c; };

static void test_mem_macros(void)
{
    hs_domain_stats_t m0 = st(HS_DOMAIN_MEM), o0 = st(HS_DOMAIN_OBJ);
    int *p = HS_MEM_NEW(int, 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT(aligned(p));
    /* counted in MEM, not OBJ: the macros map onto hs_mem_* */
    CU_ASSERT_EQUAL(st(HS_DOMAIN_MEM).live_blocks, m0.live_blocks + 1);
    CU_ASSERT_EQUAL(st(HS_DOMAIN_OBJ).live_blocks, o0.live_blocks);
    for (int i = 0; i < 10; i++) p[i] = i * 3;

    /* overflow of n*sizeof(TYPE): NULL, and no request reaches the allocator */
    CU_ASSERT_PTR_NULL(HS_MEM_NEW(struct three, SIZE_MAX / 8));
    CU_ASSERT_PTR_NULL(HS_MEM_NEW(uint64_t, SIZE_MAX / 4));
    CU_ASSERT_EQUAL(st(HS_DOMAIN_MEM).live_blocks, m0.live_blocks + 1);

    /* resize reassigns p and keeps the contents */
    int *keep = p;
    HS_MEM_RESIZE(p, int, 1000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (int i = 0; i < 10; i++) CU_ASSERT_EQUAL(p[i], i * 3);
    (void)keep;
    for (int i = 0; i < 1000; i++) p[i] = i;

    /* overflowing resize: p becomes NULL, the old block is untouched */
    keep = p;
    HS_MEM_RESIZE(p, int, SIZE_MAX / 2);
    CU_ASSERT_PTR_NULL(p);
    int ok = 1;
    for (int i = 0; i < 1000; i++) ok &= keep[i] == i;
    CU_ASSERT(ok);
    /* failing (not overflowing) resize: same, through the allocator */
    p = keep;
    HS_MEM_RESIZE(p, int, SIZE_MAX / 8);
    CU_ASSERT_PTR_NULL(p);
    ok = 1;
    for (int i = 0; i < 1000; i++) ok &= keep[i] == i;
    CU_ASSERT(ok);
    p = keep;
    HS_MEM_RESIZE(p, int, 2);         /* shrink back to a small block */
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT(p[0] == 0 && p[1] == 1);
    HS_MEM_DEL(p);

    /* literal counts of sizeof-1 types must compile cleanly under
     * -Wextra -Werror (gcc's -Wtype-limits once tripped on them) */
    char *z = HS_MEM_NEW(char, 0);
    CU_ASSERT_PTR_NOT_NULL(z);
    HS_MEM_RESIZE(z, char, 0);
    CU_ASSERT_PTR_NOT_NULL(z);
    HS_MEM_DEL(z);
    HS_MEM_DEL(NULL);
    hs_domain_stats_t m1 = st(HS_DOMAIN_MEM);
    CU_ASSERT_EQUAL(m1.live_blocks, m0.live_blocks);
    CU_ASSERT_EQUAL(m1.live_bytes, m0.live_bytes);
}

int main(void)
{
    static const hs_test_t tests[] = {
        { "zero-byte requests are distinct and non-NULL", test_zero_bytes_distinct },
        { "calloc zeroes, also reused memory", test_calloc_zeroes_reused },
        { "calloc nelem*elsize overflow -> NULL, counted", test_calloc_overflow_null },
        { "realloc(NULL, n) is malloc(n)", test_realloc_null_is_malloc },
        { "realloc(p, 0) keeps a valid block", test_realloc_to_zero },
        { "failed realloc -> NULL, p intact", test_realloc_failure_keeps_block },
        { "realloc preserves contents across classes", test_realloc_preserves_contents },
        { "free(NULL) does nothing", test_free_null },
        { "16-byte alignment 0..2048 and big", test_alignment },
        { "HS_MEM_NEW/RESIZE/DEL", test_mem_macros },
        { NULL, NULL },
    };
    hs_test_add_suite("core semantics", tests);
    return hs_test_main();
}
