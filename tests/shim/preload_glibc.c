/*
 * tests/shim/preload_glibc.c - the interposed malloc family under LD_PRELOAD.
 *
 * Built against plain libc (not linked with heapshim) and run with
 * LD_PRELOAD=build/libheapshim.so by tests/run-suites. It reaches the shim's
 * own API through dlsym, which also proves the shim is really loaded.
 */
#include "../testutil.h"
#include <dlfcn.h>
#include <errno.h>
#include <heapshim.h>
#include <heapshim/live.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <malloc.h>
#include <stdio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int (*p_stats)(hs_domain_t, hs_domain_stats_t *);
static hs_domain_t (*p_push)(hs_domain_t);
static void (*p_pop)(hs_domain_t);
static void *(*p_libc_malloc)(size_t);

static hs_domain_stats_t st(hs_domain_t d)
{
    hs_domain_stats_t s;
    memset(&s, 0, sizeof s);
    if (!p_stats || p_stats(d, &s) != 0) abort();
    return s;
}

/* blocks stored here escape, so the compiler cannot drop a malloc/free pair */
static void *volatile sink[8];

static void test_loaded(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(p_stats);
    hs_domain_stats_t bad;
    CU_ASSERT_EQUAL(p_stats((hs_domain_t)7, &bad), -1);
}

static void test_malloc_zero_and_free_null(void)
{
    void *a = malloc(0), *b = malloc(0);
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_NOT_NULL(b);
    CU_ASSERT_PTR_NOT_EQUAL(a, b);
    free(a);
    free(b);
    free(NULL);
}

static void test_alignment_and_usable(void)
{
    for (size_t n = 0; n < 5000; n += (n < 600 ? 1 : 97)) {
        unsigned char *p = malloc(n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
        size_t u = malloc_usable_size(p);
        CU_ASSERT(u >= n);
        memset(p, 0xab, u);          /* the whole usable size is ours */
        free(p);
    }
    CU_ASSERT_EQUAL(malloc_usable_size(NULL), 0);
}

/* volatile: keep the compiler from rejecting or folding absurd sizes */
static volatile size_t huge = SIZE_MAX - 64;
/* called through pointers so the compiler's use-after-realloc analysis does
 * not object to reading p after a realloc that is meant to fail */
static void *(*volatile realloc_fn)(void *, size_t) = realloc;
static void *(*volatile reallocarray_fn)(void *, size_t, size_t) = reallocarray;
static void *(*volatile aligned_alloc_fn)(size_t, size_t) = aligned_alloc;

static void test_enomem(void)
{
    errno = 0;
    CU_ASSERT_PTR_NULL(malloc(huge));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    errno = 0;
    CU_ASSERT_PTR_NULL(calloc(huge / 2, 3));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    char *p = malloc(100);
    strcpy(p, "keep me");
    errno = 0;
    CU_ASSERT_PTR_NULL(realloc_fn(p, huge));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    CU_ASSERT_STRING_EQUAL(p, "keep me");
    errno = 0;
    CU_ASSERT_PTR_NULL(reallocarray_fn(p, huge / 4, 8));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    CU_ASSERT_STRING_EQUAL(p, "keep me");
    free(p);
}

static void test_calloc_zeroes(void)
{
    for (size_t n = 1; n < 3000; n = n * 3 + 1) {
        unsigned char *p = malloc(n);
        memset(p, 0x5a, n);
        free(p);
        unsigned char *q = calloc(n, 1);
        for (size_t i = 0; i < n; i++)
            if (q[i]) { CU_FAIL("calloc memory not zero"); break; }
        free(q);
    }
}

static void test_realloc_glibc_rules(void)
{
    /* realloc(NULL, n) is malloc; realloc(p, 0) frees and returns NULL */
    hs_domain_stats_t before = st(HS_DOMAIN_MEM);
    char *p = sink[4] = realloc(NULL, 40);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    hs_domain_stats_t mid = st(HS_DOMAIN_MEM);
    CU_ASSERT_EQUAL(mid.live_blocks, before.live_blocks + 1);
    CU_ASSERT_PTR_NULL(realloc(p, 0));
    hs_domain_stats_t after = st(HS_DOMAIN_MEM);
    CU_ASSERT_EQUAL(after.live_blocks, before.live_blocks);
    CU_ASSERT_EQUAL(after.frees, mid.frees + 1);

    /* contents survive small -> large -> small -> large */
    size_t sizes[] = { 8, 100, 512, 513, 1024, 1025, 4000, 200000, 300, 16, 70000 };
    unsigned char *q = NULL;
    size_t have = 0;
    for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        q = realloc(q, sizes[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        size_t keep = have < sizes[i] ? have : sizes[i];
        for (size_t k = 0; k < keep; k++)
            if (q[k] != (unsigned char)(k * 7)) { CU_FAIL("realloc lost data"); break; }
        for (size_t k = 0; k < sizes[i]; k++) q[k] = (unsigned char)(k * 7);
        have = sizes[i];
    }
    free(q);
}

static void test_memalign_family(void)
{
    void *p = (void *)1;
    CU_ASSERT_EQUAL(posix_memalign(&p, 3, 10), EINVAL);
    CU_ASSERT_EQUAL(posix_memalign(&p, 0, 10), EINVAL);
    CU_ASSERT_EQUAL(posix_memalign(&p, 4, 10), EINVAL);      /* not a multiple of sizeof(void*) */
    CU_ASSERT_EQUAL(p, (void *)1);                             /* untouched on error */
    size_t aligns[] = { 8, 16, 32, 64, 256, 4096, 65536, 1 << 20 };
    for (unsigned i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        for (size_t n = 0; n < 3000; n += 700) {
            void *q = NULL;
            CU_ASSERT_EQUAL_FATAL(posix_memalign(&q, aligns[i], n), 0);
            CU_ASSERT_EQUAL((uintptr_t)q % aligns[i], 0);
            CU_ASSERT(malloc_usable_size(q) >= n);
            memset(q, 1, n);
            free(q);
        }
        void *a = aligned_alloc(aligns[i], 100);
        CU_ASSERT_PTR_NOT_NULL(a);
        CU_ASSERT_EQUAL((uintptr_t)a % aligns[i], 0);
        void *m = memalign(aligns[i], 777);
        CU_ASSERT_EQUAL((uintptr_t)m % aligns[i], 0);
        m = realloc(m, 100000);       /* an aligned block may be resized */
        CU_ASSERT_PTR_NOT_NULL(m);
        free(a);
        free(m);
    }
    /* glibc 2.36: aligned_alloc is memalign, a non-power-of-two alignment
     * is rounded up (2.38 refuses it); tests/27-failcount.sh compares the
     * whole family with glibc's own results */
    errno = 0;
    void *a24 = aligned_alloc_fn(24, 100);
    CU_ASSERT_PTR_NOT_NULL(a24);
    CU_ASSERT_EQUAL((uintptr_t)a24 % 32, 0);
    CU_ASSERT_EQUAL(errno, 0);
    free(a24);
    long page = sysconf(_SC_PAGESIZE);
    void *v = valloc(10);
    CU_ASSERT_EQUAL((uintptr_t)v % (uintptr_t)page, 0);
    void *pv = pvalloc(1);
    CU_ASSERT_EQUAL((uintptr_t)pv % (uintptr_t)page, 0);
    CU_ASSERT(malloc_usable_size(pv) >= (size_t)page);
    free(v);
    free(pv);
}

static void test_foreign_pointer(void)
{
    /* A pointer glibc handed out without us (as before the shim loaded).
     * Blocks above HS_SMALL_MAX (1024 bytes) that the shim asks glibc for in the MEM domain
     * are bare glibc blocks (no header: glibc's layout and heuristics stay
     * its own), so the shim cannot tell this one from them: its realloc and
     * free are glibc's, counted in MEM (docs/report-schema.md, "Foreign
     * pointers"). The block itself must come through intact. */
    CU_ASSERT_PTR_NOT_NULL_FATAL(p_libc_malloc);
    char *g = p_libc_malloc(300);
    strcpy(g, "glibc's");
    CU_ASSERT(malloc_usable_size(g) >= 300);
    hs_domain_stats_t before = st(HS_DOMAIN_MEM);
    g = realloc(g, 5000);                 /* glibc's realloc */
    CU_ASSERT_STRING_EQUAL(g, "glibc's");
    CU_ASSERT(malloc_usable_size(g) >= 5000);
    hs_domain_stats_t mid = st(HS_DOMAIN_MEM);
    CU_ASSERT_EQUAL(mid.reallocs, before.reallocs + 1);
    free(g);                              /* back to glibc, counted as a MEM free */
    hs_domain_stats_t after = st(HS_DOMAIN_MEM);
    CU_ASSERT_EQUAL(after.frees, mid.frees + 1);
    CU_ASSERT_EQUAL(after.allocs, before.allocs);
}

static void test_counters_and_tags(void)
{
    hs_domain_stats_t m0 = st(HS_DOMAIN_MEM), o0 = st(HS_DOMAIN_OBJ), r0 = st(HS_DOMAIN_RAW);
    void *a = sink[0] = malloc(100);             /* default: mem, class 112 */
    hs_domain_t prev = p_push(HS_DOMAIN_OBJ);
    void *b = sink[1] = malloc(20);              /* obj, class 32 */
    p_push(HS_DOMAIN_RAW);
    void *c = sink[2] = malloc(1000);            /* raw, glibc */
    p_pop(prev);
    void *d = sink[3] = malloc(1);               /* mem again */
    hs_domain_stats_t m1 = st(HS_DOMAIN_MEM), o1 = st(HS_DOMAIN_OBJ), r1 = st(HS_DOMAIN_RAW);
    CU_ASSERT_EQUAL(m1.live_blocks - m0.live_blocks, 2);
    CU_ASSERT_EQUAL(m1.live_bytes - m0.live_bytes, 112 + 16);
    CU_ASSERT_EQUAL(o1.live_blocks - o0.live_blocks, 1);
    CU_ASSERT_EQUAL(o1.live_bytes - o0.live_bytes, 32);
    CU_ASSERT_EQUAL(r1.live_blocks - r0.live_blocks, 1);
    CU_ASSERT(r1.live_bytes - r0.live_bytes >= 1000);
    CU_ASSERT_EQUAL(r1.live_bytes - r0.live_bytes, malloc_usable_size(c));
    /* a block is freed into the domain that allocated it, whatever the tag */
    p_push(HS_DOMAIN_RAW);
    free(b);
    p_pop(prev);
    free(a);
    free(c);
    free(d);
    hs_domain_stats_t m2 = st(HS_DOMAIN_MEM), o2 = st(HS_DOMAIN_OBJ), r2 = st(HS_DOMAIN_RAW);
    CU_ASSERT_EQUAL(m2.live_bytes, m0.live_bytes);
    CU_ASSERT_EQUAL(o2.live_bytes, o0.live_bytes);
    CU_ASSERT_EQUAL(r2.live_bytes, r0.live_bytes);
    CU_ASSERT(m2.peak_bytes >= m1.live_bytes);
}

#define NT 4
#define PER 20000
static void *volatile handoff[NT][PER];
static void *producer(void *arg)
{
    long t = (long)arg;
    for (int i = 0; i < PER; i++) {
        size_t n = (size_t)((i * 37 + t * 11) % 700);
        char *p = malloc(n + 1);
        memset(p, (int)t, n + 1);
        handoff[t][i] = p;
    }
    return NULL;
}
static void *consumer(void *arg)
{
    long t = (long)arg;
    for (int i = 0; i < PER; i++) {
        unsigned char *p = handoff[(t + 1) % NT][i];
        if (p[0] != (unsigned char)((t + 1) % NT)) abort();
        free(p);
    }
    return NULL;
}

static void test_cross_thread_free(void)
{
    hs_domain_stats_t m0 = st(HS_DOMAIN_MEM);
    pthread_t th[NT];
    for (long t = 0; t < NT; t++) pthread_create(&th[t], NULL, producer, (void *)t);
    for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
    for (long t = 0; t < NT; t++) pthread_create(&th[t], NULL, consumer, (void *)t);
    for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
    hs_domain_stats_t m1 = st(HS_DOMAIN_MEM);
    /* glibc itself allocates a little per thread (its DTV), kept for reuse */
    CU_ASSERT(m1.live_blocks - m0.live_blocks <= 2 * NT);
    CU_ASSERT(m1.live_bytes - m0.live_bytes <= 2 * NT * 1024);
    CU_ASSERT(m1.allocs - m0.allocs >= (uint64_t)NT * PER);
    CU_ASSERT(m1.frees - m0.frees >= (uint64_t)NT * PER);
}

static void test_fork_child_works(void)
{
    void *keep = malloc(64);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        void *v[1000];
        for (int r = 0; r < 50; r++) {
            for (int i = 0; i < 1000; i++) v[i] = malloc((size_t)(i % 900));
            for (int i = 0; i < 1000; i++) free(v[i]);
        }
        free(keep);
        _exit(0);
    }
    int stt = 0;
    waitpid(pid, &stt, 0);
    CU_ASSERT(WIFEXITED(stt) && WEXITSTATUS(stt) == 0);
    free(keep);
}

static void *short_thread(void *arg)
{
    (void)arg;
    void *v[256];
    for (int i = 0; i < 256; i++) v[i] = malloc(48);
    for (int i = 0; i < 256; i++) free(v[i]);
    return NULL;
}

/* map our own live file read-only, as an outside reader would */
static const struct hs_live_header *map_live(size_t *len)
{
    char path[512];
    const char *dir = getenv("HEAPSHIM_DIR");
    if (dir && *dir) snprintf(path, sizeof path, "%s/%d", dir, (int)getpid());
    else snprintf(path, sizeof path, "/dev/shm/heapshim-%u/%d", (unsigned)getuid(), (int)getpid());
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    struct stat sb;
    fstat(fd, &sb);
    CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600);
    CU_ASSERT_EQUAL(sb.st_uid, getuid());
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    *len = (size_t)sb.st_size;
    return m == MAP_FAILED ? NULL : m;
}

static void test_live_file_contents(void)
{
    size_t len = 0;
    const struct hs_live_header *h = map_live(&len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    const char *why = NULL;
    CU_ASSERT_EQUAL_FATAL(hs_live_check_header(h, len, &why), 0);
    CU_ASSERT_EQUAL(h->pid, getpid());
    CU_ASSERT_STRING_EQUAL(h->allocator, "pymalloc");
    CU_ASSERT_EQUAL(h->state, HS_LIVE_STATE_RUNNING);
    /* what an outside reader sums equals what the process reports */
    void *keep = sink[7] = malloc(300);
    struct hs_live_snapshot snap;
    CU_ASSERT_EQUAL_FATAL(hs_live_sum(h, len, &snap, &why), 0);
    hs_domain_stats_t m = st(HS_DOMAIN_MEM);
    CU_ASSERT_EQUAL(snap.dom[HS_DOMAIN_MEM].live_bytes, m.live_bytes);
    CU_ASSERT_EQUAL(snap.dom[HS_DOMAIN_MEM].allocs, m.allocs);
    free(keep);
    CU_ASSERT_EQUAL_FATAL(hs_live_sum(h, len, &snap, &why), 0);
    CU_ASSERT_EQUAL(snap.dom[HS_DOMAIN_MEM].live_bytes, m.live_bytes - 304);

    /* hs_publish: the header's snapshot (what the probe copies) is current
     * at once, rate limit or not */
    int (*p_publish)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "hs_publish");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p_publish);
    for (int i = 0; i < 3; i++) {
        void *blk = sink[6] = malloc(200 + (size_t)i * 100);
        uint64_t before = __atomic_load_n(&h->publications, __ATOMIC_ACQUIRE);
        CU_ASSERT_EQUAL(p_publish(), 0);
        CU_ASSERT_EQUAL(__atomic_load_n(&h->publications, __ATOMIC_ACQUIRE), before + 1);
        m = st(HS_DOMAIN_MEM);
        CU_ASSERT_EQUAL(h->snap[HS_DOMAIN_MEM].live_bytes, m.live_bytes);
        CU_ASSERT_EQUAL(h->snap[HS_DOMAIN_MEM].allocs, m.allocs);
        free(blk);
    }
    munmap((void *)h, len);
}

static void test_exiting_threads_reclaimed(void)
{
    size_t len = 0;
    const struct hs_live_header *h = map_live(&len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    uint32_t slots_before = h->slots_used;
    int (*p_arena)(hs_arena_stats_t *) = (int (*)(hs_arena_stats_t *))dlsym(RTLD_DEFAULT, "hs_arena_stats");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p_arena);
    hs_arena_stats_t a0, a1;
    p_arena(&a0);
    for (int i = 0; i < 300; i++) {
        pthread_t t;
        pthread_create(&t, NULL, short_thread, NULL);
        pthread_join(t, NULL);
    }
    p_arena(&a1);
    /* 300 threads each left a bin of 48-byte blocks: without reclaim that is
     * 300 pools; with it the same few pools are reused */
    CU_ASSERT(a1.classes[2].pools <= a0.classes[2].pools + 2);
    /* and their counter slots are recycled, not leaked */
    CU_ASSERT(h->slots_used <= slots_before + 2);
    munmap((void *)h, len);
}

/* zlib, loaded and unloaded at run time: its allocations come through us */
static void test_dlopen_dlclose(void)
{
    for (int round = 0; round < 3; round++) {
        void *z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!z) {
            CU_FAIL("libz.so.1 not found (zlib1g is part of every Debian system)");
            return;
        }
        unsigned long (*bound)(unsigned long) = (unsigned long (*)(unsigned long))dlsym(z, "compressBound");
        int (*compress2)(unsigned char *, unsigned long *, const unsigned char *, unsigned long, int) =
            (int (*)(unsigned char *, unsigned long *, const unsigned char *, unsigned long, int))dlsym(z, "compress2");
        int (*uncompress)(unsigned char *, unsigned long *, const unsigned char *, unsigned long) =
            (int (*)(unsigned char *, unsigned long *, const unsigned char *, unsigned long))dlsym(z, "uncompress");
        CU_ASSERT_PTR_NOT_NULL_FATAL(compress2);
        unsigned long n = 200000, cn = bound(n), dn = n;
        unsigned char *src = malloc(n), *dst = malloc(cn), *back = malloc(n);
        for (unsigned long i = 0; i < n; i++) src[i] = (unsigned char)("heapshim"[i % 8] + (i / 4096));
        CU_ASSERT_EQUAL(compress2(dst, &cn, src, n, 6), 0);    /* deflate allocates ~256 KiB */
        CU_ASSERT_EQUAL(uncompress(back, &dn, dst, cn), 0);
        CU_ASSERT(dn == n && memcmp(src, back, n) == 0);
        free(src);
        free(dst);
        free(back);
        CU_ASSERT_EQUAL(dlclose(z), 0);
    }
}

static void test_exec_is_shimmed(void)
{
    /* the child image inherits LD_PRELOAD and must come up shimmed */
    FILE *f = popen("exec /bin/sh -c 'grep -c libheapshim /proc/$$/maps'", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[64] = "";
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    CU_ASSERT_EQUAL(pclose(f), 0);
    CU_ASSERT(atoi(line) >= 1);
}

/* ---- routing rules: re-run ourselves with HEAPSHIM_ROUTE set ---------------- */

void *routetest_alloc(size_t n);

/* child side: allocate from the library and from the program, print deltas */
static int route_child(void)
{
    hs_domain_stats_t m0 = st(HS_DOMAIN_MEM), o0 = st(HS_DOMAIN_OBJ), r0 = st(HS_DOMAIN_RAW);
    void *a = sink[5] = routetest_alloc(100);
    hs_domain_stats_t m1 = st(HS_DOMAIN_MEM), o1 = st(HS_DOMAIN_OBJ), r1 = st(HS_DOMAIN_RAW);
    void *b = sink[6] = malloc(100);
    hs_domain_stats_t m2 = st(HS_DOMAIN_MEM), o2 = st(HS_DOMAIN_OBJ), r2 = st(HS_DOMAIN_RAW);
    printf("lib:%s main:%s\n",
           o1.allocs > o0.allocs ? "obj" : r1.allocs > r0.allocs ? "raw" : m1.allocs > m0.allocs ? "mem" : "?",
           o2.allocs > o1.allocs ? "obj" : r2.allocs > r1.allocs ? "raw" : m2.allocs > m1.allocs ? "mem" : "?");
    free(a);
    free(b);
    return 0;
}

static const char *self_path;

static void route_case(const char *rules, const char *expect)
{
    char cmd[1024], out[256] = "";
    snprintf(cmd, sizeof cmd, "HEAPSHIM_ROUTE='%s' '%s' --route-child 2>/dev/null", rules, self_path);
    FILE *f = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    if (!fgets(out, sizeof out, f)) out[0] = 0;
    pclose(f);
    out[strcspn(out, "\n")] = 0;
    if (strcmp(out, expect) != 0) printf("\n  rules '%s': got '%s', want '%s'\n", rules, out, expect);
    CU_ASSERT_STRING_EQUAL(out, expect);
}

static void test_routing_rules(void)
{
    route_case("libroutetest*=obj,*=mem", "lib:obj main:mem");
    route_case("libroutetest.so=raw", "lib:raw main:mem");
    route_case("preload_glibc=obj,libroutetest*=raw", "lib:raw main:obj");
    route_case("*=obj", "lib:obj main:obj");
    route_case("lib?outetest*=obj,libroutetest*=raw", "lib:obj main:mem");   /* first match wins */
    route_case("nomatch*=obj", "lib:mem main:mem");
    route_case("bogus", "lib:mem main:mem");                                 /* bad: warned, default */
}

/* ---- HEAPSHIM_ALLOCATOR=malloc: bare glibc blocks for MEM ------------------- */

/* glibc's chunk-size word sits right before a bare block: a 24-byte request
 * is a 32-byte chunk. Behind our 16-byte header that word would be ours. */
static int bare_glibc_block(const void *p, size_t chunk)
{
    const volatile size_t *word = (const volatile size_t *)((uintptr_t)p - sizeof(size_t));
    return (*word & ~(size_t)7) == chunk;
}

/* child side, run with HEAPSHIM_ALLOCATOR=malloc: prints one word per check
 * that failed, or "ok" */
static int malloc_mode_child(void)
{
    int bad = 0;
#define CHECK(c) do { if (!(c)) { printf("%s ", #c); bad = 1; } } while (0)
    hs_domain_stats_t m0 = st(HS_DOMAIN_MEM), o0 = st(HS_DOMAIN_OBJ);
    char *a = sink[0] = malloc(24);
    CHECK(a && bare_glibc_block(a, 32));
    CHECK(malloc_usable_size(a) == 24);
    hs_domain_stats_t m1 = st(HS_DOMAIN_MEM);
    CHECK(m1.allocs == m0.allocs + 1 && m1.live_bytes == m0.live_bytes + 24);
    char *z = sink[1] = calloc(10, 10);
    CHECK(z && z[0] == 0 && z[99] == 0 && bare_glibc_block(z, 112));
    /* the fast paths (no block of the core's own out yet): an mmapped chunk
     * counted by its usable size, the exact high-water mark, frees */
    hs_domain_stats_t k0 = st(HS_DOMAIN_MEM);
    char *big = sink[3] = malloc(300000);
    size_t ub = malloc_usable_size(big);
    CHECK(big && ub >= 300000 && bare_glibc_block(big, ub + 2 * sizeof(size_t)));
    hs_domain_stats_t k1 = st(HS_DOMAIN_MEM);
    CHECK(k1.live_bytes == k0.live_bytes + ub && k1.live_blocks == k0.live_blocks + 1);
    CHECK(k1.peak_bytes == (k0.peak_bytes > k1.live_bytes ? k0.peak_bytes : k1.live_bytes));
    free(big);
    hs_domain_stats_t k2 = st(HS_DOMAIN_MEM);
    CHECK(k2.live_bytes == k0.live_bytes && k2.frees == k0.frees + 1 && k2.peak_bytes == k1.peak_bytes);
    /* aligned MEM requests are bare glibc blocks too, counted the same way */
    void *al = NULL;
    CHECK(posix_memalign(&al, 64, 100) == 0 && (uintptr_t)al % 64 == 0);
    size_t ua = malloc_usable_size(al);
    CHECK(ua >= 100 && bare_glibc_block(al, ua + sizeof(size_t)));
    hs_domain_stats_t k3 = st(HS_DOMAIN_MEM);
    CHECK(k3.live_bytes == k2.live_bytes + ua && k3.allocs == k2.allocs + 1);
    free(al);
    CHECK(st(HS_DOMAIN_MEM).live_bytes == k2.live_bytes);
    /* threads: each arms itself; cross-thread frees; slots handed on at exit */
    hs_domain_stats_t t0 = st(HS_DOMAIN_MEM);
    pthread_t th[NT];
    for (long t = 0; t < NT; t++) pthread_create(&th[t], NULL, producer, (void *)t);
    for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
    for (long t = 0; t < NT; t++) pthread_create(&th[t], NULL, consumer, (void *)t);
    for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
    hs_domain_stats_t t1 = st(HS_DOMAIN_MEM);
    CHECK(t1.live_blocks - t0.live_blocks <= 2 * NT && t1.live_bytes - t0.live_bytes <= 2 * NT * 1024);
    CHECK(t1.allocs - t0.allocs >= (uint64_t)NT * PER && t1.frees - t0.frees >= (uint64_t)NT * PER);
    /* a fork child counts on in its own live file */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        hs_domain_stats_t f0 = st(HS_DOMAIN_MEM);
        for (int i = 0; i < 1000; i++) free(sink[4] = malloc((size_t)i));
        hs_domain_stats_t f1 = st(HS_DOMAIN_MEM);
        _exit(f1.live_bytes == f0.live_bytes && f1.allocs == f0.allocs + 1000 &&
              f1.frees == f0.frees + 1000 ? 0 : 1);
    }
    int fst = -1;
    CHECK(pid > 0 && waitpid(pid, &fst, 0) == pid && WIFEXITED(fst) && WEXITSTATUS(fst) == 0);
    /* a tagged request keeps the header: its domain must be known at free */
    hs_domain_t prev = p_push(HS_DOMAIN_OBJ);
    char *o = sink[2] = malloc(24);
    p_pop(prev);
    CHECK(o && !bare_glibc_block(o, 32));
    hs_domain_stats_t o1 = st(HS_DOMAIN_OBJ);
    CHECK(o1.live_blocks == o0.live_blocks + 1);
    /* untagged again: bare, and once the core has a block of its own out,
     * free() asks the page map and the header again -- both still right */
    char *u = malloc(24);
    CHECK(u && bare_glibc_block(u, 32));
    free(u);
    /* realloc of a bare block: one realloc, bytes follow glibc's usable size */
    strcpy(a, "bare");
    hs_domain_stats_t m2 = st(HS_DOMAIN_MEM);
    a = sink[0] = realloc(a, 5000);
    hs_domain_stats_t m3 = st(HS_DOMAIN_MEM);
    CHECK(a && !strcmp(a, "bare"));
    CHECK(m3.reallocs == m2.reallocs + 1 && m3.allocs == m2.allocs);
    CHECK(m3.live_bytes == m2.live_bytes - 24 + malloc_usable_size(a));
    errno = 0;
    void *r = realloc(a, (size_t)1 << 62);
    CHECK(r == NULL && errno == ENOMEM);
    CHECK(st(HS_DOMAIN_MEM).failed == m3.failed + 1);
    a = sink[0];                          /* still valid after the failed realloc */
    free(a);
    free(z);
    free(o);
    hs_domain_stats_t m4 = st(HS_DOMAIN_MEM), o4 = st(HS_DOMAIN_OBJ);
    /* less what glibc keeps of the threads (their DTVs) */
    CHECK(m4.live_bytes - (t1.live_bytes - t0.live_bytes) == m0.live_bytes);
    CHECK(m4.live_blocks - (t1.live_blocks - t0.live_blocks) == m0.live_blocks);
    CHECK(o4.live_bytes == o0.live_bytes && o4.frees == o0.frees + 1);
#undef CHECK
    puts(bad ? "" : "ok");
    return 0;
}

static void test_malloc_mode_bare_blocks(void)
{
    char cmd[1024], out[512] = "";
    snprintf(cmd, sizeof cmd, "HEAPSHIM_ALLOCATOR=malloc '%s' --malloc-mode-child", self_path);
    FILE *f = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    if (!fgets(out, sizeof out, f)) out[0] = 0;
    int rc = pclose(f);
    out[strcspn(out, "\n")] = 0;
    if (strcmp(out, "ok") != 0) printf("\n  malloc mode: failed checks: %s\n", out);
    CU_ASSERT_STRING_EQUAL(out, "ok");
    CU_ASSERT_EQUAL(rc, 0);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    p_stats = (int (*)(hs_domain_t, hs_domain_stats_t *))dlsym(RTLD_DEFAULT, "hs_domain_stats");
    p_push = (hs_domain_t (*)(hs_domain_t))dlsym(RTLD_DEFAULT, "hs_tag_push");
    p_pop = (void (*)(hs_domain_t))dlsym(RTLD_DEFAULT, "hs_tag_pop");
    p_libc_malloc = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_malloc");
    if (argc > 1 && !strcmp(argv[1], "--route-child")) {
        if (!p_stats) return 2;
        return route_child();
    }
    if (argc > 1 && !strcmp(argv[1], "--malloc-mode-child")) {
        if (!p_stats) return 2;
        return malloc_mode_child();
    }
    static const hs_test_t tests[] = {
        { "shim is preloaded", test_loaded },
        { "malloc(0) and free(NULL)", test_malloc_zero_and_free_null },
        { "16-byte alignment, truthful malloc_usable_size", test_alignment_and_usable },
        { "ENOMEM and overflow, old block intact", test_enomem },
        { "calloc zeroes recycled memory", test_calloc_zeroes },
        { "realloc follows glibc (NULL, 0, moves)", test_realloc_glibc_rules },
        { "posix_memalign/aligned_alloc/memalign/valloc/pvalloc", test_memalign_family },
        { "glibc's own pointers pass through", test_foreign_pointer },
        { "counters per domain and hs_tag_push/pop", test_counters_and_tags },
        { "cross-thread frees keep counters exact", test_cross_thread_free },
        { "fork child keeps allocating", test_fork_child_works },
        { "exited threads' caches are reclaimed", test_exiting_threads_reclaimed },
        { "HEAPSHIM_ROUTE rules by calling object", test_routing_rules },
        { "malloc mode: MEM blocks are bare glibc blocks, counted", test_malloc_mode_bare_blocks },
        { "dlopen/dlclose of a library that allocates", test_dlopen_dlclose },
        { "exec keeps the shim", test_exec_is_shimmed },
        { "live file: mode, header, same sums as the process", test_live_file_contents },
        { NULL, NULL },
    };
    hs_test_add_suite("shim: glibc semantics", tests);
    return hs_test_main();
}
