/*
 * tests/shim/libindep.c - an independent allocation counter, preloaded IN
 * FRONT of the shim:
 *     LD_PRELOAD="libindep.so build/libheapshim.so" INDEP_OUT=/tmp/i-%p.txt \
 *     HEAPSHIM_REPORT=/tmp/r-%p.json prog ...
 * Built by tests/26-counters.sh (cc -shared -fPIC ... -ldl -lpthread); not
 * part of the library.
 *
 * Every malloc-family call of the process reaches this library first; it
 * forwards the call to the next definition (dlsym(RTLD_NEXT): the shim's)
 * and counts it, keeping every live pointer in a hash table of its own
 * (mmap'd, no malloc) with its malloc_usable_size().
 *
 * What the shim counts and what it cannot (the rule, not a fudge):
 *   - A call is "counted" when the shim had finished starting when it was
 *     made. We ask the shim at the start of each call until it answers:
 *     hs_total_stats() starts the shim exactly like its own first malloc
 *     does (hs__init), returns 0 once it is up and -1 while the call is
 *     nested inside the shim's start-up (the shim serves those from glibc,
 *     uncounted). Before that answer every allocation is a "pre" block.
 *   - Blocks made before (pre) and pointers we never saw allocated
 *     ("foreign": made before this library could see anything) are not in
 *     the shim's counts. In the default mode the shim hands them back to
 *     glibc uncounted. In HEAPSHIM_ALLOCATOR=malloc it counts their free as
 *     a MEM free and their realloc as a realloc of (old usable -> new
 *     usable) bytes (documented in interpose/override.c): we count those
 *     events apart (pre_*), and the checker adds them in that mode only.
 *   - What is compared: the shim's exit report is written at exit and
 *     renamed into place (interpose/report.c builds it from the counters
 *     first, with no allocation between). We interpose rename(): when the
 *     shim renames "<report>.tmp.<pid>" to the report path, we snapshot our
 *     counters at that instant -- exactly the calls the report covers --
 *     and write them, with the shim's own in-process reading at the same
 *     instant, to INDEP_OUT (%p = pid). Without a report we write at
 *     destructor time (when=fini).
 *   - Our live bytes go up after the shim returns a block and down before
 *     we hand a block back, so at every instant ours <= the shim's: the
 *     shim's peak must be >= ours (any number of threads); it can exceed
 *     ours by at most the blocks in flight (one per thread).
 *
 * Output (one "key value" per line): when, pid, shim (1 up, 0 absent),
 * allocs, reallocs, frees, failed, live_blocks, live_bytes, peak_bytes,
 * max_usable, threads, pre_allocs, pre_frees, pre_reallocs, pre_bytes_delta
 * (what the malloc mode adds to live bytes for pre/foreign events),
 * foreign_frees, boot (served from our bootstrap buffer), overflow (the
 * table filled: no comparison possible), fork_child (1 in a fork child: a
 * block in flight in another thread at fork may be counted by one of us
 * only), hs_* (the shim's in-process read at the same instant).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef struct {
    uint64_t live_bytes, live_blocks, peak_bytes, allocs, reallocs, frees, failed;
} hs_stats_t;   /* = hs_domain_stats_t */

static void *(*n_malloc)(size_t);
static void (*n_free)(void *);
static void *(*n_calloc)(size_t, size_t);
static void *(*n_realloc)(void *, size_t);
static void *(*n_reallocarray)(void *, size_t, size_t);
static int (*n_posix_memalign)(void **, size_t, size_t);
static void *(*n_memalign)(size_t, size_t);
static void *(*n_aligned_alloc)(size_t, size_t);
static void *(*n_valloc)(size_t);
static void *(*n_pvalloc)(size_t);
static size_t (*n_usable)(void *);
static int (*n_rename)(const char *, const char *);
static int (*n_renameat)(int, const char *, int, const char *);
static int (*hs_total)(hs_stats_t *);

/* ---- bootstrap: dlsym may allocate while we resolve ---------------------- */
static char boot_buf[64 * 1024] __attribute__((aligned(16)));
static size_t boot_used;
static volatile int resolving, resolved;   /* volatile: dlsym calls back into malloc */
static uint64_t boot_count;

static int in_boot(const void *p)
{
    return (const char *)p >= boot_buf && (const char *)p < boot_buf + sizeof boot_buf;
}

static void *boot_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (boot_used + n > sizeof boot_buf) return NULL;
    void *p = boot_buf + boot_used;
    boot_used += n;
    boot_count++;
    return p;   /* zeroed: static storage, never reused */
}

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void resolve(void)
{
    if (resolved || resolving) return;
    resolving = 1;
    n_malloc = dlsym(RTLD_NEXT, "malloc");
    n_free = dlsym(RTLD_NEXT, "free");
    n_calloc = dlsym(RTLD_NEXT, "calloc");
    n_realloc = dlsym(RTLD_NEXT, "realloc");
    n_reallocarray = dlsym(RTLD_NEXT, "reallocarray");
    n_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    n_memalign = dlsym(RTLD_NEXT, "memalign");
    n_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    n_valloc = dlsym(RTLD_NEXT, "valloc");
    n_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    n_usable = dlsym(RTLD_NEXT, "malloc_usable_size");
    n_rename = dlsym(RTLD_NEXT, "rename");
    n_renameat = dlsym(RTLD_NEXT, "renameat");
    hs_total = dlsym(RTLD_NEXT, "hs_total_stats");
    resolving = 0;
    resolved = 1;
    /* a fork child must not inherit our lock held by another thread (we
     * never call the shim while holding it, so the order of the handlers
     * does not matter) */
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- state ------------------------------------------------------------------ */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int shim_up;                    /* 1 once the shim answered (atomic) */
static int shim_absent;
static struct {
    uint64_t allocs, reallocs, frees, failed, live_blocks, live_bytes, peak_bytes, max_usable;
    uint64_t pre_allocs, pre_frees, pre_reallocs, foreign_frees, foreign_reallocs;
    int64_t pre_bytes_delta;
    uint64_t threads, overflow, fork_child;
} c;
static __thread int tls_seen __attribute__((tls_model("initial-exec")));
static int snapshot_written;           /* the final (rename) snapshot is out */

/* live pointers: open addressing, linear probing, backward-shift delete */
#define TBITS 21
#define TSIZE (1u << TBITS)
struct ent { uintptr_t key; uint64_t usable; uint32_t pre, dom; };
static struct ent *tab;
static uint64_t tab_n;

static uint32_t hash(uintptr_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k & (TSIZE - 1);
}

static int tab_init(void)
{
    if (tab) return 1;
    void *m = mmap(NULL, sizeof(struct ent) * TSIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return 0;
    tab = m;
    return 1;
}

static void tab_put(uintptr_t k, uint64_t usable, int pre, unsigned dom)
{
    if (!tab_init() || tab_n >= TSIZE / 4 * 3) {
        c.overflow = 1;
        return;
    }
    uint32_t i = hash(k);
    while (tab[i].key && tab[i].key != k) i = (i + 1) & (TSIZE - 1);
    if (!tab[i].key) tab_n++;
    tab[i].key = k;
    tab[i].usable = usable;
    tab[i].pre = (uint32_t)pre;
    tab[i].dom = dom;
}

/* 1 found (filled), 0 not */
static int tab_take(uintptr_t k, struct ent *out)
{
    if (!tab) return 0;
    uint32_t i = hash(k);
    while (tab[i].key) {
        if (tab[i].key == k) {
            *out = tab[i];
            /* backward shift */
            uint32_t j = i;
            for (;;) {
                j = (j + 1) & (TSIZE - 1);
                if (!tab[j].key) break;
                uint32_t h = hash(tab[j].key);
                /* can entry j move to i? (h not cyclically in (i, j]) */
                if ((i <= j) ? (h <= i || h > j) : (h <= i && h > j)) {
                    tab[i] = tab[j];
                    i = j;
                }
            }
            tab[i].key = 0;
            tab_n--;
            return 1;
        }
        i = (i + 1) & (TSIZE - 1);
    }
    return 0;
}

static void fork_prepare(void) { pthread_mutex_lock(&mu); }
static void fork_parent(void) { pthread_mutex_unlock(&mu); }
static void fork_child(void)
{
    pthread_mutex_init(&mu, NULL);
    c.fork_child = 1;   /* blocks in flight in other threads at fork: +-1 per thread */
    snapshot_written = 0;
}

/* Is the shim counting calls made now? See the rule at the top. */
static int counting(void)
{
    if (__atomic_load_n(&shim_up, __ATOMIC_ACQUIRE)) return 1;
    if (shim_absent) return 1;         /* nothing to compare with: count everything */
    if (!hs_total) {
        shim_absent = 1;
        return 1;
    }
    hs_stats_t s;
    if (hs_total(&s) == 0) {
        __atomic_store_n(&shim_up, 1, __ATOMIC_RELEASE);
        return 1;
    }
    return 0;
}

static void note_thread(void)
{
    if (!tls_seen) {
        tls_seen = 1;
        __atomic_fetch_add(&c.threads, 1, __ATOMIC_RELAXED);
    }
}

/* Accounting of counted blocks, under mu: the totals, and in the exact
 * reference build (INDEP_EXACT_API, below) per domain as well. */
#ifdef INDEP_EXACT_API
static struct dstat { uint64_t live_bytes, live_blocks, peak_bytes, allocs, reallocs, frees, failed; } xd[3];
static uint64_t total_peak;
static __thread int tls_tag __attribute__((tls_model("initial-exec"))) = -1;
static unsigned route(void) { return tls_tag >= 0 ? (unsigned)tls_tag : 1u; }
static void peaks(unsigned dom)
{
    if (xd[dom].live_bytes > xd[dom].peak_bytes) xd[dom].peak_bytes = xd[dom].live_bytes;
    if (c.live_bytes > total_peak) total_peak = c.live_bytes;
}
#define XD(stmt) stmt
#else
static unsigned route(void) { return 1u; }
#define XD(stmt) ((void)0)
#endif

static void acc_alloc(unsigned dom, size_t u)
{
    c.allocs++;
    c.live_blocks++;
    c.live_bytes += u;
    if (c.live_bytes > c.peak_bytes) c.peak_bytes = c.live_bytes;
    if (u > c.max_usable) c.max_usable = u;
    XD((xd[dom].allocs++, xd[dom].live_blocks++, xd[dom].live_bytes += u, peaks(dom)));
    (void)dom;
}

static void acc_free(unsigned dom, size_t u)
{
    c.frees++;
    c.live_blocks--;
    c.live_bytes -= u;
    XD((xd[dom].frees++, xd[dom].live_blocks--, xd[dom].live_bytes -= u));
    (void)dom;
}

static void acc_failed(unsigned dom)
{
    c.failed++;
    XD(xd[dom].failed++);
    (void)dom;
}

/* after the shim handed out p */
static void on_alloc(void *p, int cnt)
{
    size_t u = n_usable(p);
    unsigned dom = route();
    pthread_mutex_lock(&mu);
    if (cnt) acc_alloc(dom, u);
    else c.pre_allocs++;
    tab_put((uintptr_t)p, u, !cnt, dom);
    pthread_mutex_unlock(&mu);
}

static void on_failed(int cnt)
{
    if (!cnt) return;
    unsigned dom = route();
    pthread_mutex_lock(&mu);
    acc_failed(dom);
    pthread_mutex_unlock(&mu);
}

/* before p goes back to the shim */
static void on_free(void *p, int cnt)
{
    size_t u = n_usable(p);            /* never call the shim under mu */
    pthread_mutex_lock(&mu);
    struct ent e;
    int known = tab_take((uintptr_t)p, &e);
    if (known && !e.pre) {
        acc_free(e.dom, e.usable);
    } else if (cnt) {              /* a pre or foreign block freed while the shim counts */
        if (known) c.pre_frees++;
        else c.foreign_frees++;
        c.pre_bytes_delta -= (int64_t)(known ? e.usable : u);
    }
    pthread_mutex_unlock(&mu);
}

/* ---- the family ------------------------------------------------------------- */

EXPORT void *malloc(size_t n)
{
    if (!resolved) {
        if (resolving) return boot_alloc(n);
        resolve();
    }
    note_thread();
    int cnt = counting();
    void *p = n_malloc(n);
    if (p) on_alloc(p, cnt);
    else on_failed(cnt);
    return p;
}

EXPORT void *calloc(size_t ne, size_t es)
{
    if (!resolved) {
        if (resolving) {
            size_t n;
            return __builtin_mul_overflow(ne, es, &n) ? NULL : boot_alloc(n);
        }
        resolve();
    }
    note_thread();
    int cnt = counting();
    void *p = n_calloc(ne, es);
    if (p) on_alloc(p, cnt);
    else on_failed(cnt);               /* overflow included: a failing call */
    return p;
}

EXPORT void free(void *p)
{
    if (!p || in_boot(p)) return;
    if (!resolved) resolve();
    note_thread();
    int cnt = counting();
    on_free(p, cnt);
    n_free(p);
}

static void *realloc_common(void *p, size_t n, int ovf)
{
    if (!resolved) {
        if (resolving && !p) return ovf ? NULL : boot_alloc(n);
        resolve();
    }
    note_thread();
    int cnt = counting();
    if (ovf) {                         /* reallocarray overflow: ENOMEM, p untouched */
        void *q = n_reallocarray(p, SIZE_MAX, 2);
        if (!q) on_failed(cnt);
        return q;
    }
    if (p && in_boot(p)) {             /* grow a bootstrap block: copy it out */
        void *q = malloc(n);
        if (q) memcpy(q, p, n < 256 ? n : 256);
        return q;
    }
    if (!p) {
        void *q = n_realloc(NULL, n);
        if (q) on_alloc(q, cnt);
        else on_failed(cnt);
        return q;
    }
    if (n == 0) {                      /* glibc: frees, returns NULL */
        /* as free(p): the shim's realloc(p, 0) calls free() itself, through
         * the symbol table -- that is, through us again */
        on_free(p, cnt);
        n_free(p);
        return NULL;
    }
    /* take p out; put the result (or p again) back */
    pthread_mutex_lock(&mu);
    struct ent e;
    int known = tab_take((uintptr_t)p, &e);
    int pre = !known || e.pre;
    unsigned dom = known ? e.dom : 1u;
    size_t old = known ? e.usable : 0;
    if (!pre) {                        /* out before the call: ours <= the shim's */
        c.live_bytes -= old;
        c.live_blocks--;
        XD((xd[dom].live_bytes -= old, xd[dom].live_blocks--));
    }
    pthread_mutex_unlock(&mu);
    if (!known) old = n_usable(p);
    void *q = n_realloc(p, n);
    size_t u = q ? n_usable(q) : 0;    /* never call the shim under mu */
    pthread_mutex_lock(&mu);
    if (!q) {
        if (cnt) acc_failed(dom);
        if (!pre) {
            c.live_bytes += old;
            c.live_blocks++;
            XD((xd[dom].live_bytes += old, xd[dom].live_blocks++));
        }
        tab_put((uintptr_t)p, old, pre, dom);
    } else {
        if (!pre) {
            c.reallocs++;
            c.live_bytes += u;
            c.live_blocks++;
            if (c.live_bytes > c.peak_bytes) c.peak_bytes = c.live_bytes;
            if (u > c.max_usable) c.max_usable = u;
            XD((xd[dom].reallocs++, xd[dom].live_bytes += u, xd[dom].live_blocks++, peaks(dom)));
        } else if (cnt) {              /* malloc mode counts it: old -> new bytes */
            if (known) c.pre_reallocs++;
            else c.foreign_reallocs++;
            c.pre_bytes_delta += (int64_t)u - (int64_t)old;
        }
        tab_put((uintptr_t)q, u, pre, dom);
    }
    pthread_mutex_unlock(&mu);
    return q;
}

EXPORT void *realloc(void *p, size_t n) { return realloc_common(p, n, 0); }

EXPORT void *reallocarray(void *p, size_t ne, size_t es)
{
    size_t n;
    int ovf = __builtin_mul_overflow(ne, es, &n);
    return realloc_common(p, n, ovf);
}

#define ALIGNED(call, ...)                                   \
    if (!resolved) resolve();                                \
    note_thread();                                           \
    int cnt = counting();                                    \
    void *p = call(__VA_ARGS__);                             \
    if (p) on_alloc(p, cnt);                                 \
    else on_failed(cnt);                                     \
    return p;

EXPORT void *memalign(size_t a, size_t n) { ALIGNED(n_memalign, a, n) }
EXPORT void *aligned_alloc(size_t a, size_t n) { ALIGNED(n_aligned_alloc, a, n) }
EXPORT void *valloc(size_t n) { ALIGNED(n_valloc, n) }
EXPORT void *pvalloc(size_t n) { ALIGNED(n_pvalloc, n) }

EXPORT int posix_memalign(void **out, size_t a, size_t n)
{
    if (!resolved) resolve();
    note_thread();
    int cnt = counting();
    int r = n_posix_memalign(out, a, n);
    if (r == 0) on_alloc(*out, cnt);
    else on_failed(cnt);
    return r;
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (!p) return 0;
    if (in_boot(p)) return 0;
    if (!resolved) resolve();
    return n_usable(p);
}

#ifdef INDEP_EXACT_API
/* ---- the reference build --------------------------------------------------
 * cc -DINDEP_EXACT_API ... -o libexact.so; preloaded ALONE (no shim). It
 * answers the statistics API itself, exactly: every count under one lock,
 * every read a state that existed, peaks exact, a fork child's counters the
 * parent's at the fork. tests/26-counters.sh runs prog_peak, prog_torn and
 * prog_fork against it: they must pass, which shows that what they demand
 * can be met and that their own arithmetic is right. hs_print_stats prints
 * the shim's row layout (core/live.c). */
EXPORT int hs_domain_stats(int d, struct dstat *out)
{
    if (d < 0 || d > 2 || !out) return -1;
    pthread_mutex_lock(&mu);
    *out = xd[d];
    pthread_mutex_unlock(&mu);
    return 0;
}

EXPORT int hs_total_stats(struct dstat *out)
{
    if (!out) return -1;
    pthread_mutex_lock(&mu);
    memset(out, 0, sizeof *out);
    for (int d = 0; d < 3; d++) {
        out->live_bytes += xd[d].live_bytes;
        out->live_blocks += xd[d].live_blocks;
        out->allocs += xd[d].allocs;
        out->reallocs += xd[d].reallocs;
        out->frees += xd[d].frees;
        out->failed += xd[d].failed;
    }
    out->peak_bytes = total_peak;
    pthread_mutex_unlock(&mu);
    return 0;
}

EXPORT int hs_tag_push(int d)
{
    int prev = tls_tag;
    if (d >= 0 && d <= 2) tls_tag = d;
    return prev;
}

EXPORT void hs_tag_pop(int prev) { tls_tag = prev; }

EXPORT void hs_print_stats(FILE *f)
{
    static const char *const rows[4] = { "raw", "mem", "obj", "total" };
    struct dstat s[4];
    memset(&s[3], 0, sizeof s[3]);
    pthread_mutex_lock(&mu);               /* one state for the whole table */
    for (int d = 0; d < 3; d++) {
        s[d] = xd[d];
        s[3].live_bytes += xd[d].live_bytes;
        s[3].live_blocks += xd[d].live_blocks;
        s[3].allocs += xd[d].allocs;
        s[3].reallocs += xd[d].reallocs;
        s[3].frees += xd[d].frees;
        s[3].failed += xd[d].failed;
    }
    s[3].peak_bytes = total_peak;
    pthread_mutex_unlock(&mu);
    for (int d = 0; d < 4; d++)
        fprintf(f, "heapshim: %-6s %10llu B %10llu B %12llu %12llu %10llu %10llu %7llu\n", rows[d],
                (unsigned long long)s[d].live_bytes, (unsigned long long)s[d].peak_bytes,
                (unsigned long long)s[d].live_blocks, (unsigned long long)s[d].allocs,
                (unsigned long long)s[d].reallocs, (unsigned long long)s[d].frees, (unsigned long long)s[d].failed);
}
#endif

/* ---- the snapshot ------------------------------------------------------------- */

static const char *out_path(char *buf, size_t cap)
{
    const char *t = getenv("INDEP_OUT");
    if (!t || !*t) return NULL;
    size_t o = 0;
    for (; *t && o + 24 < cap; t++) {
        if (t[0] == '%' && t[1] == 'p') {
            o += (size_t)snprintf(buf + o, cap - o, "%d", (int)getpid());
            t++;
        } else if (t[0] == '%' && t[1] == '%') {
            buf[o++] = '%';
            t++;
        } else {
            buf[o++] = *t;
        }
    }
    buf[o] = 0;
    return buf;
}

static void put(int fd, const char *k, long long v, int is_signed)
{
    char line[96];
    int n = is_signed ? snprintf(line, sizeof line, "%s %lld\n", k, v)
                      : snprintf(line, sizeof line, "%s %llu\n", k, (unsigned long long)v);
    if (write(fd, line, (size_t)n) < 0) return;
}

/* final: the rename snapshot; a fini one is written too (the shim's
 * destructor, which writes the report, may run after ours) and replaced */
static void write_snapshot(const char *when, int final)
{
    char path[4096];
    if (__atomic_load_n(&snapshot_written, __ATOMIC_ACQUIRE)) return;
    if (final) __atomic_store_n(&snapshot_written, 1, __ATOMIC_RELEASE);
    if (!out_path(path, sizeof path)) return;
    pthread_mutex_lock(&mu);
    __typeof__(c) s = c;
    pthread_mutex_unlock(&mu);
    hs_stats_t h;
    int have_hs = hs_total && __atomic_load_n(&shim_up, __ATOMIC_ACQUIRE) && hs_total(&h) == 0;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    char line[64];
    snprintf(line, sizeof line, "when %s\n", when);
    if (write(fd, line, strlen(line)) < 0) return;
    put(fd, "pid", getpid(), 1);
    put(fd, "shim", shim_absent ? 0 : 1, 1);
    put(fd, "allocs", (long long)s.allocs, 0);
    put(fd, "reallocs", (long long)s.reallocs, 0);
    put(fd, "frees", (long long)s.frees, 0);
    put(fd, "failed", (long long)s.failed, 0);
    put(fd, "live_blocks", (long long)s.live_blocks, 0);
    put(fd, "live_bytes", (long long)s.live_bytes, 0);
    put(fd, "peak_bytes", (long long)s.peak_bytes, 0);
    put(fd, "max_usable", (long long)s.max_usable, 0);
    put(fd, "threads", (long long)s.threads, 0);
    put(fd, "pre_allocs", (long long)s.pre_allocs, 0);
    put(fd, "pre_frees", (long long)s.pre_frees, 0);
    put(fd, "pre_reallocs", (long long)s.pre_reallocs, 0);
    put(fd, "foreign_frees", (long long)s.foreign_frees, 0);
    put(fd, "foreign_reallocs", (long long)s.foreign_reallocs, 0);
    put(fd, "pre_bytes_delta", (long long)s.pre_bytes_delta, 1);
    put(fd, "boot", (long long)boot_count, 0);
    put(fd, "overflow", (long long)s.overflow, 0);
    put(fd, "fork_child", (long long)s.fork_child, 0);
    if (have_hs) {
        put(fd, "hs_allocs", (long long)h.allocs, 0);
        put(fd, "hs_reallocs", (long long)h.reallocs, 0);
        put(fd, "hs_frees", (long long)h.frees, 0);
        put(fd, "hs_failed", (long long)h.failed, 0);
        put(fd, "hs_live_blocks", (long long)h.live_blocks, 0);
        put(fd, "hs_live_bytes", (long long)h.live_bytes, 0);
        put(fd, "hs_peak_bytes", (long long)h.peak_bytes, 0);
    }
    close(fd);
    if (!n_rename) resolve();
    n_rename(tmp, path);
}

/* the shim renames "<report>.tmp.<pid>" to "<report>" right after building
 * the report from its counters: that instant is the one to compare */
EXPORT int rename(const char *from, const char *to)
{
    if (!resolved) resolve();
    char suffix[32];
    snprintf(suffix, sizeof suffix, ".tmp.%d", (int)getpid());
    size_t lf = strlen(from), lt = strlen(to), ls = strlen(suffix);
    const char *rep = getenv("HEAPSHIM_REPORT");
    if (rep && lf == lt + ls && !strncmp(from, to, lt) && !strcmp(from + lt, suffix)) write_snapshot("rename", 1);
    return n_rename(from, to);
}

/* Since the report's temporary name became ".<base>.tmp.<pid>.<random>",
 * renamed relative to a directory descriptor: the same instant. */
EXPORT int renameat(int fromfd, const char *from, int tofd, const char *to)
{
    if (!resolved) resolve();     /* resolved at start: a dlsym here would allocate */
    char prefix[4096];
    snprintf(prefix, sizeof prefix, ".%s.tmp.%d.", to, (int)getpid());
    if (getenv("HEAPSHIM_REPORT") && !strncmp(from, prefix, strlen(prefix))) write_snapshot("rename", 1);
    return n_renameat(fromfd, from, tofd, to);
}

__attribute__((destructor)) static void indep_fini(void) { write_snapshot("fini", 0); }
