/*
 * tests/test_debug.c - the debug hooks (core/debug.c, core/debug.h).
 *
 * Room: this program only. The hooks are process-global and cannot be taken
 * off through the public API, so main() installs a counting hook and then
 * the debug hooks on top of it, before any allocation in the hs_ domains,
 * and every test runs with both on. The counting hook sits *below* the debug
 * hooks: it proves they wrap the previous allocator, and it lets a test look
 * at a block at the moment the debug hooks hand it to the underlying free
 * (dead fill) without reading freed memory.
 *
 * Each detection runs in a forked child (hs_test_in_child) that prints the
 * pointer it is about to damage as "ptr=<%p>" and then commits the error;
 * the parent asserts SIGABRT, one diagnostic, that address, and the words
 * that the diagnostic must contain.
 */
#include "testutil.h"
#include "../core/debug.h"
#include <heapshim.h>
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char byte;

/* ---- the three domains as tables ------------------------------------------- */

static void *(*const d_malloc[3])(size_t) = { hs_raw_malloc, hs_mem_malloc, hs_obj_malloc };
static void *(*const d_calloc[3])(size_t, size_t) = { hs_raw_calloc, hs_mem_calloc, hs_obj_calloc };
static void *(*const d_realloc[3])(void *, size_t) = { hs_raw_realloc, hs_mem_realloc,
                                                        hs_obj_realloc };
static void (*const d_free[3])(void *) = { hs_raw_free, hs_mem_free, hs_obj_free };

/* sizes on both sides of the small/large boundary, glibc's tcache limit and
 * its mmap threshold */
static const size_t sizes[] = { 0, 1, 15, 16, 17, 100, 511, 512, 513, 1000, 1024, 1025, 1100, 5000, 200000 };
#define NSIZES (sizeof sizes / sizeof *sizes)

static int all_bytes(const byte *p, size_t n, byte v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

static byte pattern(size_t i, unsigned seed)
{
    return (byte)(i * 131u + seed * 7u + 1u);
}

static void fill(byte *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) p[i] = pattern(i, seed);
}

static int check_fill(const byte *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern(i, seed)) return 0;
    return 1;
}

/* ---- the counting hook, installed below the debug hooks ----------------------- */

struct counting {
    hs_allocator_t under;
    unsigned long mallocs, callocs, reallocs, frees;
    size_t last_size;          /* last size asked of malloc (single-threaded tests) */
    void *last_ptr;            /* last block handed out or freed */
    /* dead-fill watch: when the block at watch_ptr is freed, check it */
    void *watch_ptr;
    size_t watch_n;
    int watch_dom;
    int watch_seen, watch_dead, watch_dom_ok, watch_size_ok;
};
static struct counting counting[3];

#define BUMP(x) __atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)
#define SET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static void *cnt_malloc(void *ctx, size_t n)
{
    struct counting *c = ctx;
    BUMP(c->mallocs);
    SET(c->last_size, n);
    void *p = c->under.malloc(c->under.ctx, n);
    SET(c->last_ptr, p);
    return p;
}

static void *cnt_calloc(void *ctx, size_t ne, size_t es)
{
    struct counting *c = ctx;
    BUMP(c->callocs);
    void *p = c->under.calloc(c->under.ctx, ne, es);
    SET(c->last_ptr, p);
    return p;
}

static void *cnt_realloc(void *ctx, void *p, size_t n)
{
    struct counting *c = ctx;
    BUMP(c->reallocs);
    void *q = c->under.realloc(c->under.ctx, p, n);
    SET(c->last_ptr, q);
    return q;
}

static void cnt_free(void *ctx, void *p)
{
    struct counting *c = ctx;
    BUMP(c->frees);
    SET(c->last_ptr, p);
    if (p && p == GET(c->watch_ptr)) {
        /* the debug hooks are done with it; the block is still ours to read */
        const byte *user = (const byte *)p + hs_debug_header_size();
        c->watch_seen = 1;
        c->watch_dead = all_bytes(user, c->watch_n, HS_DEADBYTE);
        c->watch_dom_ok = hs_debug_block_domain(user) == c->watch_dom;
        c->watch_size_ok = hs_debug_block_size(user) == c->watch_n;
        SET(c->watch_ptr, NULL);
    }
    c->under.free(c->under.ctx, p);
}

static void install_counting(void)
{
    for (int d = 0; d < 3; d++) {
        hs_get_allocator((hs_domain_t)d, &counting[d].under);
        hs_allocator_t a = { &counting[d], cnt_malloc, cnt_calloc, cnt_realloc, cnt_free };
        hs_set_allocator((hs_domain_t)d, &a);
    }
}

/* ---- detections, each in a forked child ----------------------------------------- */

static void announce(const void *p)
{
    fprintf(stderr, "ptr=<%p>\n", p);
}

static void c_overrun_obj(void *arg)
{
    byte *p = hs_obj_malloc(24);
    announce(p);
    p[24] = 0x41;
    hs_obj_free(p);
}

static void c_overrun_raw_large(void *arg)
{
    byte *p = hs_raw_malloc(5000);
    announce(p);
    p[5002] = 0x41;            /* the third tail guard byte */
    hs_raw_free(p);
}

static void c_underrun_mem(void *arg)
{
    byte *p = hs_mem_malloc(40);
    announce(p);
    p[-1] = 0x42;
    hs_mem_free(p);
}

static void c_underrun_obj_large(void *arg)
{
    byte *p = hs_obj_malloc(3000);
    announce(p);
    p[-2] = 0x43;
    hs_obj_free(p);
}

static void c_obj_freed_by_mem(void *arg)
{
    void *p = hs_obj_malloc(32);
    announce(p);
    hs_mem_free(p);
}

static void c_mem_freed_by_obj(void *arg)
{
    void *p = hs_mem_malloc(700);
    announce(p);
    hs_obj_free(p);
}

static void c_raw_freed_by_obj(void *arg)
{
    void *p = hs_raw_malloc(16);
    announce(p);
    hs_obj_free(p);
}

static void c_obj_freed_by_raw(void *arg)
{
    void *p = hs_obj_malloc(16);
    announce(p);
    hs_raw_free(p);
}

static void c_obj_realloc_by_mem(void *arg)
{
    void *p = hs_obj_malloc(48);
    announce(p);
    p = hs_mem_realloc(p, 64);
    fprintf(stderr, "realloc returned %p\n", p);
}

static void c_double_free_obj(void *arg)
{
    void *p = hs_obj_malloc(48);
    announce(p);
    hs_obj_free(p);
    hs_obj_free(p);
}

static void c_double_free_mem_large(void *arg)
{
    void *p = hs_mem_malloc(600);
    announce(p);
    hs_mem_free(p);
    hs_mem_free(p);
}

static void c_realloc_after_free(void *arg)
{
    void *p = hs_obj_malloc(32);
    announce(p);
    hs_obj_free(p);
    p = hs_obj_realloc(p, 64);
    fprintf(stderr, "realloc returned %p\n", p);
}

static void c_stale_after_realloc(void *arg)
{
    void *p = hs_obj_malloc(16);
    void *q = hs_obj_realloc(p, 4000);     /* small -> large: always moves */
    if (q == p) _exit(3);
    announce(p);
    hs_obj_free(p);
}

static void c_realloc_overrun(void *arg)
{
    byte *p = hs_mem_malloc(100);
    announce(p);
    memset(p, 0x11, 100);
    p[100] = 0x41;
    p = hs_mem_realloc(p, 200);
    fprintf(stderr, "realloc returned %p\n", (void *)p);
}

static void c_interior_pointer(void *arg)
{
    byte *p = hs_mem_malloc(64);
    announce(p + 32);
    hs_mem_free(p + 32);
}

static void c_correct(void *arg)
{
    byte *p = hs_obj_malloc(24);
    announce(p);
    memset(p, 0x41, 24);
    hs_obj_free(p);
}

/* Count lines that start a diagnostic (the hex dump lines are indented). */
static int count_diagnostics(const char *s)
{
    int n = 0;
    for (const char *q = s; (q = strstr(q, "heapshim: debug: ")); q++)
        if (q[17] != ' ') n++;
    return n;
}

static char out[32768];

static void expect_abort(void (*fn)(void *), const char *const *words)
{
    int sig = hs_test_in_child(fn, NULL, out, sizeof out);
    int ok = 1;
    if (sig != SIGABRT) {
        fprintf(stderr, "\n  child ended with signal %d, not SIGABRT\n", sig);
        ok = 0;
    }
    char addr[64] = "";
    const char *a = strstr(out, "ptr=<");
    const char *e = a ? strchr(a, '>') : NULL;
    if (a && e && e - a - 5 < (long)sizeof addr) memcpy(addr, a + 5, (size_t)(e - a - 5));
    const char *diag = strstr(out, "heapshim: debug: ");
    if (!addr[0] || !diag || !strstr(diag, addr)) {
        fprintf(stderr, "\n  diagnostic does not name the block's address %s\n", addr);
        ok = 0;
    }
    if (count_diagnostics(out) != 1) {
        fprintf(stderr, "\n  %d diagnostics, expected exactly one\n", count_diagnostics(out));
        ok = 0;
    }
    for (; *words; words++)
        if (!diag || !strstr(diag, *words)) {
            fprintf(stderr, "\n  diagnostic lacks \"%s\"\n", *words);
            ok = 0;
        }
    /* HS_TEST_SHOW=1 shows every diagnostic, to read them */
    if (!ok || getenv("HS_TEST_SHOW")) fprintf(stderr, "\n  --- child stderr ---\n%s  ---\n", out);
    CU_ASSERT(ok);
}

static void test_overrun(void)
{
    expect_abort(c_overrun_obj, (const char *[]){ "buffer overrun", "24-byte block",
        "allocated by hs_obj (obj domain)", "freed by hs_obj (obj domain)", "p+24", "0x41",
        "expected 0xfd", "[41]", NULL });
    expect_abort(c_overrun_raw_large, (const char *[]){ "buffer overrun", "5000-byte block",
        "allocated by hs_raw (raw domain)", "freed by hs_raw (raw domain)", "p+5002",
        "(1 of 8 guard bytes damaged)", "[41]", NULL });
}

static void test_underrun(void)
{
    expect_abort(c_underrun_mem, (const char *[]){ "buffer underrun", "40-byte block",
        "allocated by hs_mem (mem domain)", "freed by hs_mem (mem domain)", "p-1", "0x42",
        "[42]", NULL });
    expect_abort(c_underrun_obj_large, (const char *[]){ "buffer underrun", "3000-byte block",
        "allocated by hs_obj (obj domain)", "p-2", "0x43", "[43]", NULL });
}

static void test_mismatch_mem_obj(void)
{
    expect_abort(c_obj_freed_by_mem, (const char *[]){ "API family mismatch", "32-byte block",
        "allocated by hs_obj (obj domain)", "freed by hs_mem (mem domain)", NULL });
    expect_abort(c_mem_freed_by_obj, (const char *[]){ "API family mismatch", "700-byte block",
        "allocated by hs_mem (mem domain)", "freed by hs_obj (obj domain)", NULL });
    expect_abort(c_obj_realloc_by_mem, (const char *[]){ "API family mismatch",
        "allocated by hs_obj (obj domain)", "reallocated by hs_mem (mem domain)", NULL });
}

static void test_mismatch_raw_obj(void)
{
    expect_abort(c_raw_freed_by_obj, (const char *[]){ "API family mismatch", "16-byte block",
        "allocated by hs_raw (raw domain)", "freed by hs_obj (obj domain)", NULL });
    expect_abort(c_obj_freed_by_raw, (const char *[]){ "API family mismatch",
        "allocated by hs_obj (obj domain)", "freed by hs_raw (raw domain)", NULL });
}

static void test_double_free(void)
{
    expect_abort(c_double_free_obj, (const char *[]){ "double free",
        "allocated by hs_obj (obj domain)", "already freed", "freed again by hs_obj", NULL });
    expect_abort(c_double_free_mem_large, (const char *[]){ "double free",
        "allocated by hs_mem (mem domain)", "freed again by hs_mem", NULL });
    expect_abort(c_realloc_after_free, (const char *[]){ "realloc of freed block",
        "allocated by hs_obj (obj domain)", "already freed", "reallocated by hs_obj", NULL });
    /* realloc moved the block: the pointer left behind is a freed block */
    expect_abort(c_stale_after_realloc, (const char *[]){ "double free",
        "allocated by hs_obj (obj domain)", NULL });
}

static void test_realloc_overrun(void)
{
    expect_abort(c_realloc_overrun, (const char *[]){ "buffer overrun", "100-byte block",
        "reallocated by hs_mem (mem domain)", "p+100", "[41]", NULL });
}

/* a pointer into the middle of a block has no header: said so, not passed on */
static void test_bad_header(void)
{
    expect_abort(c_interior_pointer, (const char *[]){ "bad block header",
        "not a live block of the debug hooks", "freed by hs_mem (mem domain)", NULL });
}

/* the same child without the bug exits normally and says nothing */
static void test_correct_child(void)
{
    int sig = hs_test_in_child(c_correct, NULL, out, sizeof out);
    CU_ASSERT_EQUAL(sig, 0);
    CU_ASSERT_PTR_NULL(strstr(out, "heapshim: debug"));
}

/* ---- the positive side -------------------------------------------------------------- */

static void test_setup_twice(void)
{
    CU_ASSERT_EQUAL(hs_debug_installed(), 1);
    CU_ASSERT_EQUAL(hs_setup_debug_hooks(), -1);
    CU_ASSERT_EQUAL(hs_setup_debug_hooks(), -1);
    CU_ASSERT_EQUAL(hs_debug_header_size(), 16);
    /* and they still work */
    void *p = hs_mem_malloc(10);
    CU_ASSERT_EQUAL(hs_debug_block_domain(p), HS_DOMAIN_MEM);
    hs_mem_free(p);
}

static void test_header_view(void)
{
    for (int d = 0; d < 3; d++)
        for (unsigned i = 0; i < NSIZES; i++) {
            byte *p = d_malloc[d](sizes[i]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            CU_ASSERT_EQUAL(hs_debug_block_domain(p), d);
            CU_ASSERT_EQUAL(hs_debug_block_size(p), sizes[i]);
            d_free[d](p);
        }
    /* 16 bytes that are not a debug header */
    _Alignas(16) byte fake[32];
    memset(fake, 0, sizeof fake);
    CU_ASSERT_EQUAL(hs_debug_block_domain(fake + 16), -1);
    memset(fake, HS_FORBIDDENBYTE, sizeof fake);
    CU_ASSERT_EQUAL(hs_debug_block_domain(fake + 16), -1);
}

static void test_clean_fill(void)
{
    for (int d = 0; d < 3; d++)
        for (unsigned i = 0; i < NSIZES; i++) {
            byte *p = d_malloc[d](sizes[i]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            CU_ASSERT_EQUAL((uintptr_t)p % HS_ALIGNMENT, 0);
            CU_ASSERT(all_bytes(p, sizes[i], HS_CLEANBYTE));
            fill(p, sizes[i], i);      /* a correct program writes all of it */
            d_free[d](p);
        }
}

static void test_dead_fill(void)
{
    for (int d = 0; d < 3; d++)
        for (unsigned i = 0; i < NSIZES; i++) {
            struct counting *c = &counting[d];
            byte *p = d_malloc[d](sizes[i]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            fill(p, sizes[i], 3);
            c->watch_n = sizes[i];
            c->watch_dom = d;
            c->watch_seen = c->watch_dead = c->watch_dom_ok = c->watch_size_ok = 0;
            SET(c->watch_ptr, (void *)(p - hs_debug_header_size()));
            d_free[d](p);
            CU_ASSERT(c->watch_seen);
            CU_ASSERT(c->watch_dead);
            CU_ASSERT(c->watch_dom_ok);    /* a freed block still answers */
            CU_ASSERT(c->watch_size_ok);
        }
}

static void test_zero_bytes(void)
{
    for (int d = 0; d < 3; d++) {
        void *a = d_malloc[d](0), *b = d_malloc[d](0);
        void *c = d_calloc[d](0, 8), *e = d_calloc[d](8, 0);
        CU_ASSERT(a && b && c && e);
        CU_ASSERT(a != b && a != c && b != c && c != e);
        CU_ASSERT_EQUAL(hs_debug_block_size(a), 0);
        d_free[d](a);
        d_free[d](b);
        d_free[d](c);
        d_free[d](e);
        d_free[d](NULL);
    }
}

static void test_calloc(void)
{
    for (int d = 0; d < 3; d++) {
        byte *p = d_calloc[d](7, 13);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT(all_bytes(p, 91, 0));
        CU_ASSERT_EQUAL(hs_debug_block_size(p), 91);
        fill(p, 91, 1);
        d_free[d](p);
        p = d_calloc[d](1000, 300);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT(all_bytes(p, 300000, 0));
        d_free[d](p);
        /* overflow of the product, and of the product plus our decoration */
        CU_ASSERT_PTR_NULL(d_calloc[d](SIZE_MAX / 2 + 1, 2));
        CU_ASSERT_PTR_NULL(d_calloc[d](SIZE_MAX / 16, 17));
        CU_ASSERT_PTR_NULL(d_calloc[d](1, SIZE_MAX - 4));
        CU_ASSERT_PTR_NULL(d_malloc[d](SIZE_MAX - 4));
    }
}

static void test_realloc_preserves(void)
{
    for (int d = 0; d < 3; d++)
        for (unsigned i = 0; i < NSIZES; i++)
            for (unsigned j = 0; j < NSIZES; j++) {
                size_t from = sizes[i], to = sizes[j];
                byte *p = d_malloc[d](from);
                CU_ASSERT_PTR_NOT_NULL_FATAL(p);
                fill(p, from, i + j);
                byte *q = d_realloc[d](p, to);
                CU_ASSERT_PTR_NOT_NULL_FATAL(q);
                CU_ASSERT_EQUAL((uintptr_t)q % HS_ALIGNMENT, 0);
                CU_ASSERT_EQUAL(hs_debug_block_domain(q), d);
                CU_ASSERT_EQUAL(hs_debug_block_size(q), to);
                CU_ASSERT(check_fill(q, from < to ? from : to, i + j));
                if (to > from) CU_ASSERT(all_bytes(q + from, to - from, HS_CLEANBYTE));
                d_free[d](q);
            }
}

static void test_realloc_semantics(void)
{
    for (int d = 0; d < 3; d++) {
        byte *p = d_realloc[d](NULL, 40);         /* realloc(NULL, n) is malloc(n) */
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(hs_debug_block_domain(p), d);
        CU_ASSERT(all_bytes(p, 40, HS_CLEANBYTE));
        fill(p, 40, 9);
        byte *q = d_realloc[d](p, 0);             /* resizes, returns a block */
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        CU_ASSERT_EQUAL(hs_debug_block_size(q), 0);
        q = d_realloc[d](q, 40);
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        CU_ASSERT(all_bytes(q, 40, HS_CLEANBYTE));
        fill(q, 40, 9);
        /* failures leave the block valid and unchanged: ours (decoration
         * overflows) and the underlying allocator's (no such memory) */
        CU_ASSERT_PTR_NULL(d_realloc[d](q, SIZE_MAX - 4));
        CU_ASSERT_PTR_NULL(d_realloc[d](q, (size_t)1 << 52));
        CU_ASSERT(check_fill(q, 40, 9));
        CU_ASSERT_EQUAL(hs_debug_block_size(q), 40);
        CU_ASSERT_EQUAL(hs_debug_block_domain(q), d);
        d_free[d](q);                              /* and it frees cleanly */
    }
}

static void test_hooks_wrap(void)
{
    for (int d = 0; d < 3; d++) {
        struct counting *c = &counting[d];
        unsigned long m = GET(c->mallocs), k = GET(c->callocs);
        unsigned long r = GET(c->reallocs), f = GET(c->frees);
        byte *p = d_malloc[d](10);
        CU_ASSERT_EQUAL(GET(c->mallocs), m + 1);
        CU_ASSERT(GET(c->last_size) > 10 + hs_debug_header_size());
        CU_ASSERT_PTR_EQUAL(GET(c->last_ptr), p - hs_debug_header_size());
        p = d_realloc[d](p, 2000);
        CU_ASSERT_EQUAL(GET(c->reallocs), r + 1);
        CU_ASSERT_PTR_EQUAL(GET(c->last_ptr), p - hs_debug_header_size());
        d_free[d](p);
        CU_ASSERT_EQUAL(GET(c->frees), f + 1);
        CU_ASSERT_PTR_EQUAL(GET(c->last_ptr), p - hs_debug_header_size());
        p = d_calloc[d](3, 3);
        CU_ASSERT_EQUAL(GET(c->callocs), k + 1);
        d_free[d](p);
    }
}

/* ---- a correct random workload ------------------------------------------------------ */

struct slot { byte *p; size_t n; int dom; unsigned seed; };

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t rnd_size(uint64_t *s)
{
    unsigned k = (unsigned)(rnd(s) % 100);
    if (k < 85) return (size_t)(rnd(s) % 600);
    if (k < 99) return 600 + (size_t)(rnd(s) % 5000);
    return 5000 + (size_t)(rnd(s) % 150000);
}

/* ops random operations on slots[0..nslots); returns the number of model
 * violations (content, size, domain or alignment); frees nothing at the end */
static unsigned workload(struct slot *slots, unsigned nslots, unsigned ops, uint64_t seed)
{
    unsigned bad = 0;
    uint64_t s = seed | 1;
    for (unsigned op = 0; op < ops; op++) {
        struct slot *x = &slots[rnd(&s) % nslots];
        if (!x->p) {
            x->dom = (int)(rnd(&s) % 3);
            x->n = rnd_size(&s);
            int zero = rnd(&s) % 4 == 0;
            x->p = zero ? d_calloc[x->dom](1, x->n) : d_malloc[x->dom](x->n);
            if (!x->p || (uintptr_t)x->p % HS_ALIGNMENT) { bad++; x->p = NULL; continue; }
            if (!all_bytes(x->p, x->n, zero ? 0 : HS_CLEANBYTE)) bad++;
            x->seed = (unsigned)op;
            fill(x->p, x->n, x->seed);
        } else if (rnd(&s) % 2) {
            if (!check_fill(x->p, x->n, x->seed)) bad++;
            d_free[x->dom](x->p);
            x->p = NULL;
        } else {
            size_t n = rnd_size(&s);
            byte *q = d_realloc[x->dom](x->p, n);
            if (!q) { bad++; continue; }
            size_t keep = n < x->n ? n : x->n;
            if (!check_fill(q, keep, x->seed)) bad++;
            if (hs_debug_block_domain(q) != x->dom || hs_debug_block_size(q) != n) bad++;
            x->p = q;
            x->n = n;
            x->seed = (unsigned)op;
            fill(q, n, x->seed);
        }
    }
    return bad;
}

static unsigned free_all(struct slot *slots, unsigned nslots)
{
    unsigned bad = 0;
    for (unsigned i = 0; i < nslots; i++)
        if (slots[i].p) {
            if (!check_fill(slots[i].p, slots[i].n, slots[i].seed)) bad++;
            d_free[slots[i].dom](slots[i].p);
            slots[i].p = NULL;
        }
    return bad;
}

static void snapshot(hs_domain_stats_t st[3])
{
    for (int d = 0; d < 3; d++) CU_ASSERT_EQUAL(hs_domain_stats((hs_domain_t)d, &st[d]), 0);
}

static void expect_live_back(const hs_domain_stats_t before[3])
{
    hs_domain_stats_t after[3];
    snapshot(after);
    for (int d = 0; d < 3; d++) {
        CU_ASSERT_EQUAL(after[d].live_bytes, before[d].live_bytes);
        CU_ASSERT_EQUAL(after[d].live_blocks, before[d].live_blocks);
        CU_ASSERT(after[d].allocs > before[d].allocs);
    }
}

#define NSLOTS 400
static struct slot g_slots[NSLOTS];

static void test_random_workload(void)
{
    hs_domain_stats_t before[3];
    snapshot(before);
    CU_ASSERT_EQUAL(workload(g_slots, NSLOTS, 20000, 0x9e3779b97f4a7c15ull), 0);
    CU_ASSERT_EQUAL(free_all(g_slots, NSLOTS), 0);
    expect_live_back(before);
}

/* Two threads run the workload at once; what they leave alive is freed by
 * the main thread (cross-thread frees through the hooks). */
struct thr { struct slot slots[NSLOTS]; uint64_t seed; unsigned bad; };

static void *thr_main(void *arg)
{
    struct thr *t = arg;
    t->bad = workload(t->slots, NSLOTS, 15000, t->seed);
    return NULL;
}

static void test_threads(void)
{
    static struct thr t[2];
    hs_domain_stats_t before[3];
    snapshot(before);
    pthread_t id[2];
    for (int i = 0; i < 2; i++) {
        memset(&t[i], 0, sizeof t[i]);
        t[i].seed = 0x2545f4914f6cdd1dull * (uint64_t)(i + 1);
        CU_ASSERT_EQUAL_FATAL(pthread_create(&id[i], NULL, thr_main, &t[i]), 0);
    }
    for (int i = 0; i < 2; i++) pthread_join(id[i], NULL);
    unsigned live = 0;
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(t[i].bad, 0);
        for (unsigned k = 0; k < NSLOTS; k++) live += t[i].slots[k].p != NULL;
        CU_ASSERT_EQUAL(free_all(t[i].slots, NSLOTS), 0);
    }
    CU_ASSERT(live > 0);       /* the cross-thread frees did happen */
    expect_live_back(before);
}

static const hs_test_t tests[] = {
    { "setup twice returns -1", test_setup_twice },
    { "header view (debug.h)", test_header_view },
    { "clean fill of new memory", test_clean_fill },
    { "dead fill of freed memory", test_dead_fill },
    { "zero-byte requests", test_zero_bytes },
    { "calloc zeroes, overflow is NULL", test_calloc },
    { "realloc preserves data, small and large", test_realloc_preserves },
    { "realloc NULL / 0 / failure", test_realloc_semantics },
    { "hooks wrap a previous hook", test_hooks_wrap },
    { "random workload, counters back", test_random_workload },
    { "two threads, cross-thread frees", test_threads },
    { "correct child does not abort", test_correct_child },
    { "overrun by one byte", test_overrun },
    { "underrun by one byte", test_underrun },
    { "mem/obj family mismatch", test_mismatch_mem_obj },
    { "raw/obj family mismatch", test_mismatch_raw_obj },
    { "double free", test_double_free },
    { "realloc of an overrun block", test_realloc_overrun },
    { "free of an interior pointer", test_bad_header },
    { NULL, NULL },
};

int main(void)
{
    /* before any allocation in the hs_ domains: counting below, debug on top */
    install_counting();
    if (hs_setup_debug_hooks() != 0) {
        fprintf(stderr, "test_debug: hs_setup_debug_hooks failed on first call\n");
        return 1;
    }
    hs_test_add_suite("debug hooks", tests);
    return hs_test_main();
}
