/*
 * tests/test_api.c - the public API around the domains: <heapshim/pymem.h>,
 * the symbols the libraries export, the per-domain and total counters, and
 * the domain allocator hooks (hs_get_allocator / hs_set_allocator).
 *
 * Room: this program only; public headers only. Everything is
 * single-threaded, so counter figures are exact (see heapshim/live.h, "Peak
 * bytes": exact while one thread allocates at a time). Figures that depend
 * on glibc (usable size of RAW and large blocks) are measured, not assumed.
 */
#include "testutil.h"
#include <heapshim.h>
#include <heapshim/pymem.h>
#include <CUnit/CUnit.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef unsigned char byte;

/* CU_FAIL prints its argument's spelling; this records the formatted text
 * (CUnit copies it) so a failure says what was found. */
#define FAIL_MSG(m) CU_assertImplementation(CU_FALSE, __LINE__, (m), __FILE__, "", CU_FALSE)

static void *(*const d_malloc[3])(size_t) = { hs_raw_malloc, hs_mem_malloc, hs_obj_malloc };
static void *(*const d_calloc[3])(size_t, size_t) = { hs_raw_calloc, hs_mem_calloc, hs_obj_calloc };
static void *(*const d_realloc[3])(void *, size_t) = { hs_raw_realloc, hs_mem_realloc,
                                                        hs_obj_realloc };
static void (*const d_free[3])(void *) = { hs_raw_free, hs_mem_free, hs_obj_free };

static hs_domain_stats_t st(int d)
{
    hs_domain_stats_t s;
    memset(&s, 0xff, sizeof s);
    CU_ASSERT_FATAL(hs_domain_stats((hs_domain_t)d, &s) == 0);
    return s;
}

static hs_domain_stats_t tot(void)
{
    hs_domain_stats_t s;
    memset(&s, 0xff, sizeof s);
    CU_ASSERT_FATAL(hs_total_stats(&s) == 0);
    return s;
}

static int aligned(const void *p) { return ((uintptr_t)p % HS_ALIGNMENT) == 0; }

/* ---- <heapshim/pymem.h> ------------------------------------------------------- */

typedef struct { double x, y; } point;

/* Code as it would be written against CPython's API; each name must land
 * in the right domain, which the counters show. */
static void test_pymem_names_compile_and_work(void)
{
    hs_domain_stats_t r0 = st(0), m0 = st(1), o0 = st(2);

    char *raw = PyMem_RawMalloc(100);
    char *rawc = PyMem_RawCalloc(10, 10);
    char *mem = PyMem_Malloc(20);
    char *memc = PyMem_Calloc(4, 5);
    char *obj = PyObject_Malloc(20);
    char *objc = PyObject_Calloc(2, 10);
    CU_ASSERT_FATAL(raw && rawc && mem && memc && obj && objc);
    CU_ASSERT(rawc[99] == 0 && memc[19] == 0 && objc[19] == 0);
    CU_ASSERT_EQUAL(st(0).live_blocks, r0.live_blocks + 2);
    CU_ASSERT_EQUAL(st(1).live_blocks, m0.live_blocks + 2);
    CU_ASSERT_EQUAL(st(2).live_blocks, o0.live_blocks + 2);
    CU_ASSERT_EQUAL(st(1).live_bytes, m0.live_bytes + 64);   /* two 32-byte class blocks */
    CU_ASSERT_EQUAL(st(2).live_bytes, o0.live_bytes + 64);

    strcpy(raw, "raw");
    strcpy(mem, "mem");
    strcpy(obj, "obj");
    raw = PyMem_RawRealloc(raw, 5000);
    mem = PyMem_Realloc(mem, 5000);
    obj = PyObject_Realloc(obj, 5000);
    CU_ASSERT_FATAL(raw && mem && obj);
    CU_ASSERT_STRING_EQUAL(raw, "raw");
    CU_ASSERT_STRING_EQUAL(mem, "mem");
    CU_ASSERT_STRING_EQUAL(obj, "obj");
    CU_ASSERT_EQUAL(st(0).reallocs, r0.reallocs + 1);
    CU_ASSERT_EQUAL(st(1).reallocs, m0.reallocs + 1);
    CU_ASSERT_EQUAL(st(2).reallocs, o0.reallocs + 1);
    PyMem_RawFree(raw);
    PyMem_RawFree(rawc);
    PyMem_Free(mem);
    PyMem_Free(memc);
    PyObject_Free(obj);
    PyObject_Free(objc);

    point *pts = PyMem_New(point, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pts);
    pts[2].x = 2.5;
    PyMem_Resize(pts, point, 300);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pts);
    CU_ASSERT_DOUBLE_EQUAL(pts[2].x, 2.5, 0.0);
    PyMem_Del(pts);
    CU_ASSERT_PTR_NULL(PyMem_New(point, SIZE_MAX / 8));

    int *old = PyMem_NEW(int, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(old);
    old[3] = 42;
    PyMem_RESIZE(old, int, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(old);
    CU_ASSERT_EQUAL(old[3], 42);
    PyMem_DEL(old);
    char *b = PyMem_MALLOC(10);
    b = PyMem_REALLOC(b, 20);
    CU_ASSERT_PTR_NOT_NULL(b);
    PyMem_FREE(b);

    PyMemAllocatorEx a;
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &a);
    hs_allocator_t h;
    hs_get_allocator(HS_DOMAIN_OBJ, &h);
    CU_ASSERT(a.malloc == h.malloc && a.free == h.free && a.ctx == h.ctx);
    PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &a);        /* setting it back is harmless */
    PyObjectArenaAllocator arena;
    PyObject_GetArenaAllocator(&arena);
    CU_ASSERT_PTR_NOT_NULL(arena.alloc);
    PyObject_SetArenaAllocator(&arena);

    CU_ASSERT_EQUAL(st(0).live_blocks, r0.live_blocks);
    CU_ASSERT_EQUAL(st(1).live_blocks, m0.live_blocks);
    CU_ASSERT_EQUAL(st(2).live_blocks, o0.live_blocks);
    CU_ASSERT_EQUAL(st(1).live_bytes, m0.live_bytes);
    CU_ASSERT_EQUAL(st(2).live_bytes, o0.live_bytes);
}

/* ---- exported symbols ----------------------------------------------------------- */

/* The libraries sit next to tests/: <B>/tests/test_api -> <B>/libheapshim.* */
static void lib_path(char *out, size_t cap, const char *name)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(out, cap, "%s/%s", getenv("B") ? getenv("B") : "build", name);
        return;
    }
    exe[n] = 0;
    char *dir = dirname(dirname(exe));
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Runs nm; counts symbol names starting with PyMem_/PyObject_ (bad) and
 * whether hs_obj_malloc was seen (proves nm read the library). -1 if nm
 * could not run. */
static int scan_symbols(const char *cmd, int *bad, int *seen_hs, char *first_bad, size_t cap)
{
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    char line[1024];
    *bad = 0;
    *seen_hs = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        const char *name = strrchr(line, ' ');
        name = name ? name + 1 : line;
        if (!strncmp(name, "PyMem_", 6) || !strncmp(name, "PyObject_", 9)) {
            if (!*bad) snprintf(first_bad, cap, "%.200s", name);
            (*bad)++;
        }
        if (!strcmp(name, "hs_obj_malloc")) *seen_hs = 1;
    }
    return pclose(f) == 0 ? 0 : -1;
}

static void test_no_python_symbols_exported(void)
{
    char path[4200], cmd[4400], first[256] = "";
    int bad, seen;

    lib_path(path, sizeof path, "libheapshim.a");
    CU_ASSERT_FATAL(access(path, R_OK) == 0);
    snprintf(cmd, sizeof cmd, "nm '%s' 2>/dev/null", path);
    CU_ASSERT_FATAL(scan_symbols(cmd, &bad, &seen, first, sizeof first) == 0);
    CU_ASSERT(seen);
    if (bad) {
        char msg[400];
        snprintf(msg, sizeof msg, "libheapshim.a has %d PyMem_/PyObject_ symbols, e.g. %s", bad, first);
        FAIL_MSG(msg);
    }

    lib_path(path, sizeof path, "libheapshim.so");
    if (access(path, R_OK) != 0) {
        CU_PASS("libheapshim.so not built yet: only the static library was checked");
        fprintf(stderr, "note: %s not built, its exports were not checked\n", path);
        return;
    }
    snprintf(cmd, sizeof cmd, "nm -D '%s' 2>/dev/null", path);
    CU_ASSERT_FATAL(scan_symbols(cmd, &bad, &seen, first, sizeof first) == 0);
    CU_ASSERT(seen);
    if (bad) {
        char msg[400];
        snprintf(msg, sizeof msg, "libheapshim.so exports %d PyMem_/PyObject_ symbols, e.g. %s",
                 bad, first);
        FAIL_MSG(msg);
    }
}

/* ---- counters ------------------------------------------------------------------ */

static void test_bad_domain(void)
{
    hs_domain_stats_t s;
    CU_ASSERT_EQUAL(hs_domain_stats((hs_domain_t)3, &s), -1);
    CU_ASSERT_EQUAL(hs_domain_stats((hs_domain_t)-1, &s), -1);
    CU_ASSERT_EQUAL(hs_domain_stats((hs_domain_t)1000, &s), -1);
    for (int d = 0; d < 3; d++) CU_ASSERT_EQUAL(hs_domain_stats((hs_domain_t)d, &s), 0);
    CU_ASSERT_STRING_EQUAL(hs_domain_name(HS_DOMAIN_RAW), "raw");
    CU_ASSERT_STRING_EQUAL(hs_domain_name(HS_DOMAIN_MEM), "mem");
    CU_ASSERT_STRING_EQUAL(hs_domain_name(HS_DOMAIN_OBJ), "obj");
    CU_ASSERT_STRING_EQUAL(hs_domain_name((hs_domain_t)5), "?");
}

#define DELTA(a, b, f) ((a).f - (b).f)

/* MEM and OBJ small blocks: usable bytes are the 16-byte class size, exactly. */
static void test_counters_small_exact(void)
{
    for (int d = 1; d < 3; d++) {
        hs_domain_stats_t s0 = st(d), s;
        void *p = d_malloc[d](20);
        s = st(d);
        CU_ASSERT_EQUAL(DELTA(s, s0, allocs), 1);
        CU_ASSERT_EQUAL(DELTA(s, s0, live_blocks), 1);
        CU_ASSERT_EQUAL(DELTA(s, s0, live_bytes), 32);
        CU_ASSERT_EQUAL(DELTA(s, s0, frees), 0);
        CU_ASSERT_EQUAL(DELTA(s, s0, reallocs), 0);

        void *q = d_calloc[d](3, 10);                 /* 30 -> class 32 */
        s = st(d);
        CU_ASSERT_EQUAL(DELTA(s, s0, allocs), 2);
        CU_ASSERT_EQUAL(DELTA(s, s0, live_bytes), 64);

        void *z = d_malloc[d](0);                     /* as if 1 byte -> 16 */
        s = st(d);
        CU_ASSERT_EQUAL(DELTA(s, s0, live_bytes), 80);
        d_free[d](z);

        p = d_realloc[d](p, 100);                     /* 32 -> 112 */
        s = st(d);
        CU_ASSERT_EQUAL(DELTA(s, s0, reallocs), 1);
        CU_ASSERT_EQUAL(DELTA(s, s0, allocs), 3);
        CU_ASSERT_EQUAL(DELTA(s, s0, frees), 1);
        CU_ASSERT_EQUAL(DELTA(s, s0, live_blocks), 2);
        CU_ASSERT_EQUAL(DELTA(s, s0, live_bytes), 32 + 112);

        p = d_realloc[d](p, 104);                     /* same class */
        s = st(d);
        CU_ASSERT_EQUAL(DELTA(s, s0, reallocs), 2);
        CU_ASSERT_EQUAL(DELTA(s, s0, live_bytes), 32 + 112);

        p = d_realloc[d](p, 512);
        s = st(d);
        CU_ASSERT_EQUAL(DELTA(s, s0, live_bytes), 32 + 512);

        hs_domain_stats_t sb = st(d);
        p = d_realloc[d](p, 2000);                    /* small -> large */
        s = st(d);
        uint64_t big = s.live_bytes - sb.live_bytes + 512;   /* usable of the large block */
        CU_ASSERT(big >= 2000 && big < 2000 + 64);
        CU_ASSERT_EQUAL(DELTA(s, s0, reallocs), 4);
        CU_ASSERT_EQUAL(DELTA(s, s0, allocs), 3);
        CU_ASSERT_EQUAL(DELTA(s, s0, live_blocks), 2);

        p = d_realloc[d](p, 48);                      /* large -> small: stays large */
        CU_ASSERT_PTR_NOT_NULL(p);
        s = st(d);
        CU_ASSERT_EQUAL(DELTA(s, s0, reallocs), 5);
        CU_ASSERT_EQUAL(DELTA(s, s0, live_blocks), 2);

        d_free[d](p);
        d_free[d](q);
        s = st(d);
        CU_ASSERT_EQUAL(DELTA(s, s0, allocs), 3);
        CU_ASSERT_EQUAL(DELTA(s, s0, frees), 3);
        CU_ASSERT_EQUAL(DELTA(s, s0, reallocs), 5);
        CU_ASSERT_EQUAL(s.live_blocks, s0.live_blocks);
        CU_ASSERT_EQUAL(s.live_bytes, s0.live_bytes);
        CU_ASSERT_EQUAL(s.failed, s0.failed);
        CU_ASSERT(s.peak_bytes >= s0.live_bytes + 32 + 512);
    }
}

/* RAW and large blocks: usable bytes come from the system allocator; they
 * must cover the request and not exceed it by more than a chunk header and
 * rounding (small figure, not an exact one). */
static void test_counters_raw_and_large(void)
{
    static const size_t sizes[] = { 1, 24, 100, 513, 4000, 40000 };
    for (int d = 0; d < 3; d++) {
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t n = sizes[k];
            if (d != 0 && n <= HS_SMALL_MAX) continue;
            hs_domain_stats_t s0 = st(d);
            void *p = d_malloc[d](n);
            hs_domain_stats_t s1 = st(d);
            CU_ASSERT_EQUAL(DELTA(s1, s0, allocs), 1);
            CU_ASSERT_EQUAL(DELTA(s1, s0, live_blocks), 1);
            uint64_t u = DELTA(s1, s0, live_bytes);
            CU_ASSERT(u >= n && u < n + 64);
            p = d_realloc[d](p, n * 3);
            hs_domain_stats_t s2 = st(d);
            uint64_t u2 = s2.live_bytes - s0.live_bytes;
            CU_ASSERT(u2 >= n * 3 && u2 < n * 3 + 64);
            CU_ASSERT_EQUAL(DELTA(s2, s1, reallocs), 1);
            CU_ASSERT_EQUAL(s2.live_blocks, s1.live_blocks);
            d_free[d](p);
            hs_domain_stats_t s3 = st(d);
            CU_ASSERT_EQUAL(DELTA(s3, s0, frees), 1);
            CU_ASSERT_EQUAL(s3.live_bytes, s0.live_bytes);
            CU_ASSERT_EQUAL(s3.live_blocks, s0.live_blocks);
        }
    }
}

/* peak_bytes == the highest live_bytes seen after any operation, exactly,
 * for a single-threaded sequence with no realloc (a moving realloc holds
 * both blocks for a moment). The sequence climbs past the earlier peak,
 * drops, and climbs again less high, then higher. */
static void test_peak_exact(void)
{
    enum { MAXB = 6000 };
    static void *blk[MAXB];
    for (int d = 0; d < 3; d++) {
        hs_domain_stats_t s0 = st(d);
        uint64_t model_peak = s0.peak_bytes;
        CU_ASSERT(s0.peak_bytes >= s0.live_bytes);
        /* enough 512-byte blocks to pass the old peak by > 64 KiB, so the
         * per-thread pending counters are flushed along the way */
        size_t k = (size_t)((s0.peak_bytes - s0.live_bytes) / 512) + 300;
        if (k > MAXB / 2) k = MAXB / 2;
        size_t nb = 0;
        int mism = 0;
        for (int phase = 0; phase < 4; phase++) {
            size_t target = phase == 0 ? k : phase == 1 ? k / 3 : phase == 2 ? k - 10 : k + k / 2;
            while (nb < target) {
                blk[nb] = d_malloc[d](nb % 5 == 0 ? 3000 : 512);
                CU_ASSERT_PTR_NOT_NULL_FATAL(blk[nb]);
                nb++;
                hs_domain_stats_t s = st(d);
                if (s.live_bytes > model_peak) model_peak = s.live_bytes;
                mism += s.peak_bytes != model_peak;
            }
            while (nb > target) {
                d_free[d](blk[--nb]);
                hs_domain_stats_t s = st(d);
                mism += s.peak_bytes != model_peak;
            }
        }
        if (mism) {
            char msg[128];
            snprintf(msg, sizeof msg, "domain %d: peak_bytes differed from the high-water mark "
                     "after %d of the operations", d, mism);
            FAIL_MSG(msg);
        }
        CU_ASSERT(model_peak > s0.peak_bytes);
        while (nb) d_free[d](blk[--nb]);
        hs_domain_stats_t s1 = st(d);
        CU_ASSERT_EQUAL(s1.peak_bytes, model_peak);
        CU_ASSERT_EQUAL(s1.live_bytes, s0.live_bytes);
        CU_ASSERT_EQUAL(s1.live_blocks, s0.live_blocks);
    }
}

/* The total's peak is the high-water mark of the sum, which is less than the
 * sum of the domains' peaks when the domains peak at different times. */
static void test_total_peak_is_peak_of_sum(void)
{
    hs_domain_stats_t t0 = tot();
    hs_domain_stats_t m0 = st(1), o0 = st(2), r0 = st(0);
    CU_ASSERT_EQUAL(t0.live_bytes, m0.live_bytes + o0.live_bytes + r0.live_bytes);
    CU_ASSERT_EQUAL(t0.live_blocks, m0.live_blocks + o0.live_blocks + r0.live_blocks);
    CU_ASSERT_EQUAL(t0.allocs, m0.allocs + o0.allocs + r0.allocs);

    /* each block alone passes every earlier peak (domain and total) */
    uint64_t gap = t0.peak_bytes - t0.live_bytes;
    size_t x = (size_t)gap + (1u << 20);
    uint64_t hw = t0.peak_bytes;
    void *a = hs_mem_malloc(x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    hs_domain_stats_t t1 = tot(), m1 = st(1);
    if (t1.live_bytes > hw) hw = t1.live_bytes;
    CU_ASSERT_EQUAL(t1.peak_bytes, hw);
    CU_ASSERT_EQUAL(m1.peak_bytes, m1.live_bytes);
    hs_mem_free(a);
    void *b = hs_obj_malloc(x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    hs_domain_stats_t t2 = tot(), o2 = st(2);
    if (t2.live_bytes > hw) hw = t2.live_bytes;
    CU_ASSERT_EQUAL(o2.peak_bytes, o2.live_bytes);
    hs_obj_free(b);
    void *c = hs_raw_malloc(x / 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    hs_domain_stats_t t3 = tot();
    if (t3.live_bytes > hw) hw = t3.live_bytes;
    hs_raw_free(c);

    hs_domain_stats_t t4 = tot(), m4 = st(1), o4 = st(2), r4 = st(0);
    CU_ASSERT_EQUAL(t4.peak_bytes, hw);
    CU_ASSERT(t4.peak_bytes >= t4.live_bytes);
    /* the domain peaks rose by about x each; the total's only once */
    uint64_t rise_sum = (m4.peak_bytes - m0.peak_bytes) + (o4.peak_bytes - o0.peak_bytes) +
                        (r4.peak_bytes - r0.peak_bytes);
    CU_ASSERT(t4.peak_bytes - t0.peak_bytes < rise_sum);
    CU_ASSERT(t4.peak_bytes < m4.peak_bytes + o4.peak_bytes + r4.peak_bytes);
    CU_ASSERT_EQUAL(t4.live_bytes, t0.live_bytes);
    CU_ASSERT_EQUAL(t4.live_blocks, t0.live_blocks);
    CU_ASSERT_EQUAL(t4.allocs, t0.allocs + 3);
    CU_ASSERT_EQUAL(t4.frees, t0.frees + 3);
}

static void test_print_stats(void)
{
    void *p = hs_obj_malloc(48);
    FILE *f = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    hs_print_stats(f);
    long len = ftell(f);
    CU_ASSERT(len > 0);
    rewind(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "obj"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "mem"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "raw"));
    hs_obj_free(p);
}

/* ---- allocator hooks -------------------------------------------------------------- */

struct counting {
    hs_allocator_t prev;
    unsigned long m, c, r, f;
};
static struct counting cnt[3];

static void *c_malloc(void *ctx, size_t n)
{
    struct counting *k = ctx;
    k->m++;
    return k->prev.malloc(k->prev.ctx, n);
}
static void *c_calloc(void *ctx, size_t ne, size_t es)
{
    struct counting *k = ctx;
    k->c++;
    return k->prev.calloc(k->prev.ctx, ne, es);
}
static void *c_realloc(void *ctx, void *p, size_t n)
{
    struct counting *k = ctx;
    k->r++;
    return k->prev.realloc(k->prev.ctx, p, n);
}
static void c_free(void *ctx, void *p)
{
    struct counting *k = ctx;
    k->f++;
    k->prev.free(k->prev.ctx, p);
}

static int same_alloc(const hs_allocator_t *a, const hs_allocator_t *b)
{
    return a->ctx == b->ctx && a->malloc == b->malloc && a->calloc == b->calloc &&
           a->realloc == b->realloc && a->free == b->free;
}

static void test_hook_wraps_previous(void)
{
    for (int d = 0; d < 3; d++) {
        hs_allocator_t orig, now;
        hs_get_allocator((hs_domain_t)d, &orig);
        CU_ASSERT_FATAL(orig.malloc && orig.calloc && orig.realloc && orig.free);
        struct counting *k = &cnt[d];
        memset(k, 0, sizeof *k);
        k->prev = orig;
        hs_allocator_t hook = { k, c_malloc, c_calloc, c_realloc, c_free };
        hs_set_allocator((hs_domain_t)d, &hook);
        hs_get_allocator((hs_domain_t)d, &now);
        CU_ASSERT(same_alloc(&now, &hook));

        hs_domain_stats_t s0 = st(d);
        char *a = d_malloc[d](24);
        char *z = d_malloc[d](0);
        char *c = d_calloc[d](4, 8);
        CU_ASSERT_FATAL(a && z && c);
        CU_ASSERT(aligned(a) && aligned(z) && aligned(c));
        strcpy(a, "hooked");
        a = d_realloc[d](a, 2000);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        CU_ASSERT_STRING_EQUAL(a, "hooked");
        char *keep = d_malloc[d](100);           /* freed after the hook is gone */
        CU_ASSERT_PTR_NOT_NULL_FATAL(keep);
        memset(keep, 0x3C, 100);
        d_free[d](a);
        d_free[d](z);
        d_free[d](c);
        CU_ASSERT_EQUAL(k->m, 3);
        CU_ASSERT_EQUAL(k->c, 1);
        CU_ASSERT_EQUAL(k->r, 1);
        CU_ASSERT_EQUAL(k->f, 3);
        /* the wrapped default still counts */
        hs_domain_stats_t s1 = st(d);
        CU_ASSERT_EQUAL(DELTA(s1, s0, allocs), 4);
        CU_ASSERT_EQUAL(DELTA(s1, s0, frees), 3);
        CU_ASSERT_EQUAL(DELTA(s1, s0, live_blocks), 1);

        hs_set_allocator((hs_domain_t)d, &orig);
        hs_get_allocator((hs_domain_t)d, &now);
        CU_ASSERT(same_alloc(&now, &orig));
        unsigned long before = k->m + k->c + k->r + k->f;
        void *p = d_malloc[d](30);
        p = d_realloc[d](p, 60);
        d_free[d](p);
        int ok = 1;
        for (int i = 0; i < 100; i++) ok &= keep[i] == 0x3C;
        CU_ASSERT(ok);
        d_free[d](keep);
        CU_ASSERT_EQUAL(k->m + k->c + k->r + k->f, before);   /* hook no longer called */
        hs_domain_stats_t s2 = st(d);
        CU_ASSERT_EQUAL(s2.live_blocks, s0.live_blocks);
        CU_ASSERT_EQUAL(s2.live_bytes, s0.live_bytes);
    }
}

/* Two hooks stacked on one domain, each seeing every call once. */
static void test_hooks_stack(void)
{
    hs_allocator_t orig;
    hs_get_allocator(HS_DOMAIN_OBJ, &orig);
    static struct counting inner, outer;
    memset(&inner, 0, sizeof inner);
    memset(&outer, 0, sizeof outer);
    inner.prev = orig;
    hs_allocator_t h1 = { &inner, c_malloc, c_calloc, c_realloc, c_free };
    hs_set_allocator(HS_DOMAIN_OBJ, &h1);
    hs_get_allocator(HS_DOMAIN_OBJ, &outer.prev);
    hs_allocator_t h2 = { &outer, c_malloc, c_calloc, c_realloc, c_free };
    hs_set_allocator(HS_DOMAIN_OBJ, &h2);
    for (int i = 0; i < 10; i++) hs_obj_free(hs_obj_malloc((size_t)i * 100));
    CU_ASSERT_EQUAL(inner.m, 10);
    CU_ASSERT_EQUAL(outer.m, 10);
    CU_ASSERT_EQUAL(inner.f, 10);
    CU_ASSERT_EQUAL(outer.f, 10);
    hs_set_allocator(HS_DOMAIN_OBJ, &orig);
}

static void test_hook_bad_input_ignored(void)
{
    hs_allocator_t before[3], after, out;
    for (int d = 0; d < 3; d++) hs_get_allocator((hs_domain_t)d, &before[d]);
    memset(&out, 0x77, sizeof out);
    hs_get_allocator((hs_domain_t)3, &out);
    CU_ASSERT(out.ctx == NULL && out.malloc == NULL && out.calloc == NULL &&
              out.realloc == NULL && out.free == NULL);
    static struct counting k;
    hs_allocator_t hook = { &k, c_malloc, c_calloc, c_realloc, c_free };
    hs_set_allocator((hs_domain_t)3, &hook);
    hs_set_allocator((hs_domain_t)-1, &hook);
    for (int d = 0; d < 3; d++) {
        hs_get_allocator((hs_domain_t)d, &after);
        CU_ASSERT(same_alloc(&after, &before[d]));
    }
}

int main(void)
{
    static const hs_test_t tests[] = {
        { "pymem.h names compile and land in the right domain", test_pymem_names_compile_and_work },
        { "no PyMem_/PyObject_ symbols in the libraries", test_no_python_symbols_exported },
        { "bad domain -> -1; domain names", test_bad_domain },
        { "MEM/OBJ small counters exact", test_counters_small_exact },
        { "RAW and large counters", test_counters_raw_and_large },
        { "peak_bytes is the exact high-water mark", test_peak_exact },
        { "total peak is the peak of the sum", test_total_peak_is_peak_of_sum },
        { "hs_print_stats prints the domains", test_print_stats },
        { "allocator hook wraps the previous one", test_hook_wraps_previous },
        { "allocator hooks stack", test_hooks_stack },
        { "allocator hook: bad domain ignored", test_hook_bad_input_ignored },
        { NULL, NULL },
    };
    hs_test_add_suite("api", tests);
    return hs_test_main();
}
