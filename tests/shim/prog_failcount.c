/*
 * tests/shim/prog_failcount.c - failing and succeeding calls of the malloc
 * family, for tests/27-failcount.sh.
 *
 *   prog_failcount semantics   what glibc's contract shows the program:
 *                              NULL or not, errno, return codes, alignment,
 *                              usable size. Run plain and under the shim in
 *                              every mode; the outputs must be identical.
 *   prog_failcount counts      counter deltas (needs the shim: its API is
 *                              reached through dlsym): failed per domain for
 *                              each kind of failing call, exact allocs/
 *                              reallocs/frees for each kind of successful
 *                              call, live bytes against malloc_usable_size.
 *                              Numbers only; the suite holds the expected
 *                              values. A line starting "BAD" is a failed
 *                              check made here.
 *
 * Every call goes through a volatile function pointer, so the compiler
 * neither folds nor rejects absurd sizes nor drops a malloc/free pair. No
 * output is written between two counter snapshots (stdio allocates).
 */
#include <dlfcn.h>
#include <errno.h>
#include <heapshim.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *(*volatile f_malloc)(size_t) = malloc;
static void *(*volatile f_calloc)(size_t, size_t) = calloc;
static void *(*volatile f_realloc)(void *, size_t) = realloc;
static void *(*volatile f_reallocarray)(void *, size_t, size_t) = reallocarray;
static void *(*volatile f_memalign)(size_t, size_t) = memalign;
static void *(*volatile f_aligned_alloc)(size_t, size_t) = aligned_alloc;
static void *(*volatile f_valloc)(size_t) = valloc;
static void *(*volatile f_pvalloc)(size_t) = pvalloc;
static int (*volatile f_posix_memalign)(void **, size_t, size_t) = posix_memalign;
static void (*volatile f_free)(void *) = free;

#define SZ_MAX  SIZE_MAX
#define PD_MAX  ((size_t)PTRDIFF_MAX)
#define HALF    (((size_t)1 << 63))          /* SIZE_MAX / 2 + 1 */
#define SENTINEL_ERRNO EBADF                 /* errno before every call */

static int bad;

static const char *ename(int e)
{
    static char buf[32];
    switch (e) {
    case 0: return "0";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case SENTINEL_ERRNO: return "untouched";
    default: snprintf(buf, sizeof buf, "%d", e); return buf;
    }
}

/* ==== semantics ============================================================== */

/* the alignment glibc 2.36 gives memalign/aligned_alloc(align): 16 up to 16,
 * else at least 32, rounded up to a power of two (its _mid_memalign); only
 * to check results, never printed */
static size_t glibc_effective_align(size_t a)
{
    if (a <= 16) return 16;
    size_t p = 32;
    while (p < a && p < HALF) p <<= 1;
    return p;
}

static void show(const char *call, void *p, int err, size_t align, size_t n)
{
    if (!p) {
        printf("%s -> NULL errno=%s\n", call, ename(err));
        return;
    }
    printf("%s -> ptr%s%s errno=%s\n", call,
           (uintptr_t)p % align ? " MISALIGNED" : "",
           malloc_usable_size(p) < n ? " SHORT" : "", ename(err));
    f_free(p);
}

#define CALL(expr) (errno = SENTINEL_ERRNO, (expr))

static const size_t sizes[] = {
    0, 1, 100, 5000, PD_MAX - 4096, PD_MAX, PD_MAX + 1, SZ_MAX - 4096, SZ_MAX,
};
#define NSIZES (sizeof sizes / sizeof *sizes)

static void semantics(void)
{
    static const size_t aligns[] = {
        0, 1, 2, 3, 8, 12, 16, 17, 24, 32, 48, 64, 100, 4096, 5000, (size_t)1 << 16,
        (size_t)1 << 20, (size_t)1 << 62, ((size_t)1 << 62) + 1, HALF - 1, HALF, HALF + 1,
        HALF + ((size_t)1 << 62), SZ_MAX - 15, SZ_MAX,
    };
    static const size_t pm_aligns[] = {
        0, 1, 4, 8, 12, 16, 24, 32, 40, 48, 64, 4096, (size_t)1 << 20, (size_t)1 << 62,
        HALF, HALF + 8, SZ_MAX - 7, SZ_MAX,
    };
    static const size_t page_sizes[] = {
        0, 1, 4095, 4096, 4097, 100000, PD_MAX, SZ_MAX - 4096, SZ_MAX - 4095, SZ_MAX - 4094, SZ_MAX,
    };
    char call[128];
    void *p;

    for (unsigned i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        for (unsigned k = 0; k < NSIZES; k++) {
            size_t a = aligns[i], n = sizes[k];
            p = CALL(f_memalign(a, n));
            snprintf(call, sizeof call, "memalign(%#zx, %#zx)", a, n);
            show(call, p, errno, glibc_effective_align(a), n);
            p = CALL(f_aligned_alloc(a, n));
            snprintf(call, sizeof call, "aligned_alloc(%#zx, %#zx)", a, n);
            show(call, p, errno, glibc_effective_align(a), n);
        }
    }
    for (unsigned i = 0; i < sizeof pm_aligns / sizeof *pm_aligns; i++) {
        for (unsigned k = 0; k < NSIZES; k++) {
            size_t a = pm_aligns[i], n = sizes[k];
            void *out = &out;                /* must stay untouched on failure */
            int rc = CALL(f_posix_memalign(&out, a, n));
            int err = errno;
            snprintf(call, sizeof call, "posix_memalign(%#zx, %#zx)", a, n);
            if (rc) {
                printf("%s = %s%s errno=%s\n", call, ename(rc),
                       out == (void *)&out ? "" : " OUT-CHANGED", ename(err));
            } else {
                printf("%s = 0 ", call);
                show("", out, err, a < 16 ? 16 : a, n);
            }
        }
    }
    for (unsigned k = 0; k < sizeof page_sizes / sizeof *page_sizes; k++) {
        size_t n = page_sizes[k];
        p = CALL(f_valloc(n));
        snprintf(call, sizeof call, "valloc(%#zx)", n);
        show(call, p, errno, 4096, n);
        p = CALL(f_pvalloc(n));
        snprintf(call, sizeof call, "pvalloc(%#zx)", n);
        show(call, p, errno, 4096, n);
    }
    for (unsigned k = 0; k < NSIZES; k++) {
        size_t n = sizes[k];
        p = CALL(f_malloc(n));
        snprintf(call, sizeof call, "malloc(%#zx)", n);
        show(call, p, errno, 16, n);
        p = CALL(f_realloc(NULL, n));
        snprintf(call, sizeof call, "realloc(NULL, %#zx)", n);
        show(call, p, errno, 16, n);
        for (unsigned j = 0; j < NSIZES; j++) {
            size_t m = sizes[j];
            size_t prod;
            p = CALL(f_calloc(n, m));
            snprintf(call, sizeof call, "calloc(%#zx, %#zx)", n, m);
            int err = errno;
            if (p && !__builtin_mul_overflow(n, m, &prod))
                for (size_t b = 0; b < prod; b++)
                    if (((unsigned char *)p)[b]) { printf("%s: NOT ZERO\n", call); break; }
            show(call, p, err, 16, __builtin_mul_overflow(n, m, &prod) ? 0 : prod);
        }
    }
    /* realloc and reallocarray of live blocks (small, large, aligned): a
     * failure leaves the block intact; a zero size frees it (NULL, errno
     * untouched) */
    static const size_t starts[] = { 10, 5000, 0 };
    for (unsigned s = 0; s < 3; s++) {
        for (unsigned k = 0; k < NSIZES; k++) {
            for (int arr = 0; arr < 3; arr++) {
                size_t n = sizes[k];
                char *q = starts[s] ? f_malloc(starts[s]) : f_memalign(64, 100);
                if (!q) { printf("BAD setup\n"); bad = 1; return; }
                strcpy(q, "keep");
                const char *what = starts[s] == 10 ? "small" : starts[s] ? "large" : "aligned";
                if (arr == 0) {
                    p = CALL(f_realloc(q, n));
                    snprintf(call, sizeof call, "realloc(%s, %#zx)", what, n);
                } else {
                    /* (n, 1), and (2, n): overflows when n > SIZE_MAX / 2 */
                    size_t ne = arr == 1 ? n : 2, es = arr == 1 ? 1 : n;
                    p = CALL(f_reallocarray(q, ne, es));
                    snprintf(call, sizeof call, "reallocarray(%s, %#zx, %#zx)", what, ne, es);
                }
                int err = errno;
                if (!p && n) {
                    printf("%s -> NULL errno=%s%s\n", call, ename(err), strcmp(q, "keep") ? " LOST" : "");
                    f_free(q);
                } else if (!p) {
                    printf("%s -> NULL errno=%s (freed)\n", call, ename(err));
                } else {
                    printf("%s -> ptr%s errno=%s\n", call, n >= 5 && strcmp(p, "keep") ? " LOST" : "", ename(err));
                    f_free(p);
                }
            }
        }
    }
    errno = SENTINEL_ERRNO;
    f_free(NULL);
    printf("free(NULL) errno=%s\n", ename(errno));
}

/* ==== counts ================================================================== */

static int (*p_stats)(hs_domain_t, hs_domain_stats_t *);
static int (*p_tstats)(hs_domain_stats_t *);
static hs_domain_t (*p_push)(hs_domain_t);
static void (*p_pop)(hs_domain_t);

struct snap { hs_domain_stats_t d[3]; };

static void take(struct snap *s)
{
    for (int d = 0; d < 3; d++)
        if (p_stats((hs_domain_t)d, &s->d[d]) != 0) abort();
}

#define D(f, i) ((long long)(after.d[i].f - before.d[i].f))

/* One failing call: it must fail with errno `want` (posix_memalign: return
 * it, errno ENOMEM or untouched as glibc), and must be counted exactly once,
 * in some domain: the counters are read around each call, and a call counted
 * other than once is listed on a "miscounted" line. */
static unsigned nfail, nbad;
static char badbuf[4096], misbuf[4096];
static size_t badlen, mislen;
static void note(char *buf, size_t *len, size_t cap, const char *what, int line, long long n)
{
    if (*len < cap - 200)
        *len += (size_t)snprintf(buf + *len, cap - *len, n == INT64_MIN ? " %s@%d" : " %s@%d=%+lld",
                                 what, line, n);
}

static void note_bad(const char *what, int line)
{
    note(badbuf, &badlen, sizeof badbuf, what, line, INT64_MIN);
    nbad++;
}

static uint64_t failed_now(void)
{
    uint64_t n = 0;
    hs_domain_stats_t s;
    for (int d = 0; d < 3; d++)
        if (p_stats((hs_domain_t)d, &s) == 0) n += s.failed;
    return n;
}

static void counted_once(const char *what, int line, uint64_t before)
{
    long long n = (long long)(failed_now() - before);
    if (n != 1) note(misbuf, &mislen, sizeof misbuf, what, line, n);
}

#define MUST_FAIL(expr, want) do {                                          \
        uint64_t f0_ = failed_now();                                        \
        errno = SENTINEL_ERRNO;                                             \
        void *r_ = (expr);                                                  \
        int e_ = errno;                                                     \
        counted_once(#expr, __LINE__, f0_);                                 \
        if (r_ || e_ != (want)) note_bad(#expr, __LINE__);                  \
        if (r_) f_free(r_);                                                 \
        nfail++;                                                            \
    } while (0)
#define MUST_FAIL_PM(a, n, want) do {                                       \
        void *o_ = NULL;                                                    \
        uint64_t f0_ = failed_now();                                        \
        errno = SENTINEL_ERRNO;                                             \
        int rc_ = f_posix_memalign(&o_, (a), (n));                          \
        int e_ = errno;                                                     \
        counted_once("posix_memalign(" #a ", " #n ")", __LINE__, f0_);      \
        if (rc_ != (want) || e_ != ((want) == EINVAL ? SENTINEL_ERRNO : ENOMEM)) \
            note_bad("posix_memalign(" #a ", " #n ")", __LINE__);           \
        if (!rc_) f_free(o_);                                               \
        nfail++;                                                            \
    } while (0)

/* Each kind of failing call once: overflow, EINVAL, real ENOMEM; NULL and
 * live blocks (small, large, aligned) to realloc. */
static void failing_calls(void)
{
    char *small = f_malloc(10), *large = f_malloc(5000), *al = f_memalign(64, 100);
    if (!small || !large || !al) abort();
    strcpy(small, "keep");
    strcpy(large, "keep");
    strcpy(al, "keep");
    MUST_FAIL(f_malloc(SZ_MAX), ENOMEM);
    MUST_FAIL(f_malloc(PD_MAX + 1), ENOMEM);
    MUST_FAIL(f_calloc(SZ_MAX, 2), ENOMEM);                 /* overflow */
    MUST_FAIL(f_calloc(2, HALF), ENOMEM);                   /* overflow, exactly 2^64 */
    MUST_FAIL(f_calloc(PD_MAX, 1), ENOMEM);
    MUST_FAIL(f_realloc(NULL, SZ_MAX), ENOMEM);
    MUST_FAIL(f_realloc(small, SZ_MAX), ENOMEM);
    MUST_FAIL(f_realloc(large, SZ_MAX), ENOMEM);
    MUST_FAIL(f_realloc(al, SZ_MAX), ENOMEM);
    MUST_FAIL(f_realloc(small, PD_MAX - 100), ENOMEM);
    MUST_FAIL(f_reallocarray(small, SZ_MAX, 2), ENOMEM);    /* overflow */
    MUST_FAIL(f_reallocarray(NULL, (size_t)1 << 32, (size_t)1 << 32), ENOMEM);
    MUST_FAIL(f_reallocarray(large, PD_MAX, 1), ENOMEM);
    MUST_FAIL(f_memalign(SZ_MAX, 1), EINVAL);               /* above 2^63 */
    MUST_FAIL(f_memalign(64, SZ_MAX), ENOMEM);
    MUST_FAIL(f_memalign(8, SZ_MAX), ENOMEM);               /* malloc's path */
    MUST_FAIL(f_memalign(HALF, 1), ENOMEM);                 /* huge alignment */
    MUST_FAIL(f_memalign(24, PD_MAX), ENOMEM);              /* rounded to 32 */
    MUST_FAIL(f_aligned_alloc(HALF + 1, 1), EINVAL);
    MUST_FAIL(f_aligned_alloc(4096, SZ_MAX), ENOMEM);
    MUST_FAIL(f_aligned_alloc(0, SZ_MAX), ENOMEM);          /* malloc's path */
    MUST_FAIL(f_aligned_alloc(((size_t)1 << 62) + 1, 1), ENOMEM);
    MUST_FAIL(f_aligned_alloc(100, PD_MAX + 1), ENOMEM);    /* rounded to 128 */
    MUST_FAIL(f_valloc(SZ_MAX), ENOMEM);
    MUST_FAIL(f_pvalloc(SZ_MAX), ENOMEM);                   /* overflow in the rounding */
    MUST_FAIL(f_pvalloc(PD_MAX), ENOMEM);
    MUST_FAIL_PM(0, 1, EINVAL);
    MUST_FAIL_PM(24, 1, EINVAL);
    MUST_FAIL_PM(4, 1, EINVAL);                             /* below sizeof(void *) */
    MUST_FAIL_PM(64, SZ_MAX, ENOMEM);
    MUST_FAIL_PM(16, SZ_MAX, ENOMEM);                       /* malloc's path */
    MUST_FAIL_PM(HALF, 1, ENOMEM);
    if (strcmp(small, "keep") || strcmp(large, "keep") || strcmp(al, "keep"))
        note_bad("failed realloc lost data", __LINE__);
    f_free(small);
    f_free(large);
    f_free(al);
}

/* Each kind of successful call: 26 allocations, 4 reallocs, 26 frees; and
 * the two calls that must not count as failures: realloc(p, 0) (a free) and
 * free(NULL). */
static void successful_calls(void)
{
    void *v[24];
    unsigned k = 0;
    v[k++] = f_malloc(0);
    v[k++] = f_malloc(100);
    v[k++] = f_malloc(5000);
    v[k++] = f_calloc(0, 0);
    v[k++] = f_calloc(10, 10);
    v[k++] = f_calloc(1000, 10);
    char *g = f_realloc(NULL, 10);             /* an alloc */
    g = f_realloc(g, 1000);                    /* reallocs, moved or not */
    g = f_realloc(g, 20);
    g = f_realloc(g, 20);
    v[k++] = g;
    errno = SENTINEL_ERRNO;
    if (f_realloc(f_malloc(30), 0) != NULL || errno != SENTINEL_ERRNO)   /* a free */
        note_bad("realloc(p, 0)", __LINE__);
    char *i = f_reallocarray(NULL, 2, 8);      /* an alloc */
    v[k++] = f_reallocarray(i, 100, 100);      /* a realloc */
    if (f_reallocarray(f_malloc(10), 0, 5) != NULL) note_bad("reallocarray(p, 0, 5)", __LINE__);
    v[k++] = f_memalign(0, 10);
    v[k++] = f_memalign(8, 10);
    v[k++] = f_memalign(64, 100);
    v[k++] = f_memalign(4096, 5000);
    v[k++] = f_memalign(24, 10);
    v[k++] = f_aligned_alloc(0, 10);
    v[k++] = f_aligned_alloc(24, 10);
    v[k++] = f_aligned_alloc(64, 100);
    v[k++] = f_aligned_alloc(4096, 0);
    v[k++] = f_valloc(0);
    v[k++] = f_valloc(5000);
    v[k++] = f_pvalloc(0);
    v[k++] = f_pvalloc(5000);
    static const size_t pa[3] = { 8, 64, 4096 }, pn[3] = { 10, 100, 0 };
    for (int j = 0; j < 3; j++)
        if (f_posix_memalign(&v[k++], pa[j], pn[j]) != 0) note_bad("posix_memalign", __LINE__);
    f_free(NULL);
    for (unsigned j = 0; j < k; j++) {
        if (!v[j]) note_bad("successful call", __LINE__);
        f_free(v[j]);
    }
}

/* Live blocks of every kind: live_bytes must move by the sum of
 * malloc_usable_size of the blocks the program holds. */
#define NLIVE 13
static void live_blocks(void **v, size_t *usable)
{
    unsigned k = 0;
    v[k++] = f_malloc(0);
    v[k++] = f_calloc(3, 5);
    v[k++] = f_malloc(700);
    v[k++] = f_realloc(f_malloc(20), 300);
    v[k++] = f_realloc(f_malloc(600), 100000);
    v[k++] = f_realloc(f_malloc(600), 40);
    v[k++] = f_memalign(64, 100);
    v[k++] = f_aligned_alloc(4096, 10);
    if (f_posix_memalign(&v[k++], 32, 50)) v[k - 1] = NULL;
    v[k++] = f_valloc(10);
    v[k++] = f_pvalloc(10);
    v[k++] = f_reallocarray(NULL, 3, 7);
    v[k++] = f_memalign(8, 33);
    *usable = 0;
    for (unsigned j = 0; j < k; j++) {
        if (!v[j]) note_bad("live block", __LINE__);
        *usable += malloc_usable_size(v[j]);
    }
}

/* Peaks: one thread, so peak_bytes must be exactly the highest live_bytes
 * seen (debug modes included: the hooks' overhead must not show through).
 * After each call of a sequence of every kind: peak == max(peak before,
 * live now), for the domain and for the total. Returns how many steps broke
 * it; the first few are described in buf. */
static unsigned peak_steps(int d, unsigned *nsteps, char *buf, size_t cap)
{
    void *v[8] = { 0 };
    unsigned off = 0, step = 0;
    size_t len = 0;
    buf[0] = 0;
    hs_domain_stats_t prev, prevt, now, nowt;
    if (p_stats((hs_domain_t)d, &prev) || p_tstats(&prevt)) abort();
    for (int op = 0; op < 40; op++) {
        int k = op % 8;
        switch (op / 8) {
        case 0:            /* malloc and calloc, small and large */
            v[k] = k % 3 ? f_malloc(9 + 100 * (size_t)k) : f_calloc(3, 3 + (size_t)k);
            break;
        case 1:            /* grow and shrink, across the small/large line */
            v[k] = f_realloc(v[k], (size_t)(k & 1 ? 700 : 5) * (size_t)(k + 1));
            break;
        case 2:            /* frees, and growth to a mapped chunk */
            if (k & 1) {
                f_free(v[k]);
                v[k] = NULL;
            } else {
                v[k] = f_realloc(v[k], 100000);
            }
            break;
        case 3:            /* aligned blocks, and frees */
            if (k & 1) v[k] = f_memalign(64, 200);
            else if (f_posix_memalign(&v[k], 32, 40)) v[k] = NULL;
            f_free(v[(k + 4) % 8]);
            v[(k + 4) % 8] = NULL;
            break;
        default:
            f_free(v[k]);
            v[k] = NULL;
            break;
        }
        step++;
        if (p_stats((hs_domain_t)d, &now) || p_tstats(&nowt)) abort();
        uint64_t want = prev.peak_bytes > now.live_bytes ? prev.peak_bytes : now.live_bytes;
        uint64_t wantt = prevt.peak_bytes > nowt.live_bytes ? prevt.peak_bytes : nowt.live_bytes;
        if (now.peak_bytes != want || nowt.peak_bytes != wantt) {
            if (off++ < 4 && len < cap - 120)
                len += (size_t)snprintf(buf + len, cap - len, " op%d: live %llu peak %llu (want %llu),"
                                        " total live %llu peak %llu (want %llu);", op,
                                        (unsigned long long)now.live_bytes, (unsigned long long)now.peak_bytes,
                                        (unsigned long long)want, (unsigned long long)nowt.live_bytes,
                                        (unsigned long long)nowt.peak_bytes, (unsigned long long)wantt);
        }
        prev = now;
        prevt = nowt;
    }
    *nsteps = step;
    return off;
}

static void report_phase(const char *name, const struct snap *b, const struct snap *a)
{
    const struct snap before = *b, after = *a;
    printf("%s: failed raw %+lld mem %+lld obj %+lld\n", name,
           D(failed, 0), D(failed, 1), D(failed, 2));
}

static int counts(void)
{
    static const char *const dname[3] = { "raw", "mem", "obj" };
    struct snap before, after;
    unsigned total_fail[3] = { 0, 0, 0 };
    int untagged = -1;              /* the domain untagged calls went to */
    char line[256];

    setvbuf(stdout, NULL, _IONBF, 0);    /* stdio allocates nothing later */
    /* 4 routing states: untagged (default or HEAPSHIM_ROUTE), then each tag */
    for (int t = -1; t < 3; t++) {
        const char *name = t < 0 ? "untagged" : dname[t];
        hs_domain_t prev = t >= 0 ? p_push((hs_domain_t)t) : HS_DOMAIN_MEM;

        /* failing calls */
        nfail = 0;
        take(&before);
        failing_calls();
        take(&after);
        snprintf(line, sizeof line, "%s failing x%u", name, nfail);
        report_phase(line, &before, &after);
        if (mislen) printf("BAD %s miscounted:%s\n", name, misbuf);
        mislen = 0;
        for (int d = 0; d < 3; d++) {
            total_fail[d] += (unsigned)D(failed, d);
            if (t < 0 && D(failed, d) > 0) untagged = d;
        }

        /* successful calls */
        take(&before);
        successful_calls();
        take(&after);
        for (int d = 0; d < 3; d++)
            if (D(allocs, d) || D(reallocs, d) || D(frees, d) || D(failed, d) ||
                D(live_blocks, d) || D(live_bytes, d))
                printf("%s successful: %s allocs %+lld reallocs %+lld frees %+lld failed %+lld"
                       " live_blocks %+lld live_bytes %+lld\n", name, dname[d], D(allocs, d),
                       D(reallocs, d), D(frees, d), D(failed, d), D(live_blocks, d), D(live_bytes, d));

        /* three 9-byte blocks: live bytes are what the program may use */
        void *nine[3];
        take(&before);
        for (int j = 0; j < 3; j++) nine[j] = f_malloc(9);
        take(&after);
        size_t u9 = 0;
        for (int j = 0; j < 3; j++) u9 += malloc_usable_size(nine[j]);
        int d9 = t < 0 ? (untagged < 0 ? HS_DOMAIN_MEM : untagged) : t;
        printf("%s 3x9: %s live_bytes %+lld live_blocks %+lld usable %zu\n", name, dname[d9],
               D(live_bytes, d9), D(live_blocks, d9), u9);
        for (int j = 0; j < 3; j++) f_free(nine[j]);

        /* every kind of live block */
        void *v[NLIVE];
        size_t usable;
        take(&before);
        live_blocks(v, &usable);
        take(&after);
        printf("%s live: %s live_bytes %+lld live_blocks %+lld usable %zu\n", name, dname[d9],
               D(live_bytes, d9), D(live_blocks, d9), usable);
        for (int j = 0; j < NLIVE; j++) f_free(v[j]);
        take(&after);
        /* before was taken before live_blocks(): all back */
        for (int d = 0; d < 3; d++)
            if (D(live_bytes, d) || D(live_blocks, d))
                printf("BAD %s live: %s not back after free: live_bytes %+lld live_blocks %+lld\n",
                       name, dname[d], D(live_bytes, d), D(live_blocks, d));

        /* peaks, step by step */
        char pbuf[1024];
        unsigned nsteps, pbad = peak_steps(d9, &nsteps, pbuf, sizeof pbuf);
        printf("%s peak: %s %u steps, %u off%s\n", name, dname[d9], nsteps, pbad, pbuf);

        if (t >= 0) p_pop(prev);
        if (nbad) printf("BAD %s: %u checks:%s\n", name, nbad, badbuf);
        nbad = 0;
        badlen = 0;
    }
    /* a block of each domain, reallocated by untagged calls: its failing
     * reallocs count in its own domain, wherever the call was routed */
    for (int b = 0; b < 3; b++) {
        hs_domain_t prev = p_push((hs_domain_t)b);
        char *p = f_malloc(100);
        p_pop(prev);
        if (!p) abort();
        strcpy(p, "keep");
        take(&before);
        nfail = 0;
        MUST_FAIL(f_realloc(p, SZ_MAX), ENOMEM);
        MUST_FAIL(f_realloc(p, PD_MAX - 100), ENOMEM);
        MUST_FAIL(f_reallocarray(p, SZ_MAX, 2), ENOMEM);          /* overflow */
        MUST_FAIL(f_reallocarray(p, PD_MAX, 1), ENOMEM);
        p = f_realloc(p, 200);
        if (!p || strcmp(p, "keep")) note_bad("cross realloc", __LINE__);
        f_free(p);
        take(&after);
        printf("cross %s-block x%u: failed raw %+lld mem %+lld obj %+lld; %s reallocs %+lld frees %+lld\n",
               dname[b], nfail, D(failed, 0), D(failed, 1), D(failed, 2), dname[b],
               D(reallocs, b), D(frees, b));
        for (int d = 0; d < 3; d++) total_fail[d] += (unsigned)D(failed, d);
        if (mislen) printf("BAD cross miscounted:%s\n", misbuf);
        mislen = 0;
    }
    if (nbad) printf("BAD cross: %u checks:%s\n", nbad, badbuf);
    printf("total failed: raw %u mem %u obj %u\n", total_fail[0], total_fail[1], total_fail[2]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "semantics")) {
        /* stdout fully buffered into a pipe either way; one warm-up call so
         * that the shim's start-up is behind us */
        f_free(f_malloc(1));
        semantics();
        return bad;
    }
    if (argc == 2 && !strcmp(argv[1], "counts")) {
        p_stats = (int (*)(hs_domain_t, hs_domain_stats_t *))dlsym(RTLD_DEFAULT, "hs_domain_stats");
        p_push = (hs_domain_t (*)(hs_domain_t))dlsym(RTLD_DEFAULT, "hs_tag_push");
        p_pop = (void (*)(hs_domain_t))dlsym(RTLD_DEFAULT, "hs_tag_pop");
        p_tstats = (int (*)(hs_domain_stats_t *))dlsym(RTLD_DEFAULT, "hs_total_stats");
        if (!p_stats || !p_push || !p_pop || !p_tstats) {
            fprintf(stderr, "prog_failcount: counts needs the shim (LD_PRELOAD=libheapshim.so)\n");
            return 2;
        }
        return counts();
    }
    fprintf(stderr, "usage: prog_failcount semantics|counts\n");
    return 2;
}
