/*
 * tests/test_threads.c - the core under threads and fork: cross-thread
 * frees, reclaiming the caches of exited threads, fork while other threads
 * allocate, and the RAW domain called from several threads at once.
 *
 * Room: this program only; public headers only. Counter checks are made
 * after every worker has been joined, when the counters must be exact again
 * ("after all threads are done and every block is freed, live counters are
 * back to their starting values").
 */
#include "testutil.h"
#include "../core/internal.h"      /* hs_lock: the re-entry check */
#include <heapshim.h>
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef unsigned char byte;
#define FAIL_MSG(m) CU_assertImplementation(CU_FALSE, __LINE__, (m), __FILE__, "", CU_FALSE)

static void *(*const d_malloc[3])(size_t) = { hs_raw_malloc, hs_mem_malloc, hs_obj_malloc };
static void *(*const d_calloc[3])(size_t, size_t) = { hs_raw_calloc, hs_mem_calloc, hs_obj_calloc };
static void *(*const d_realloc[3])(void *, size_t) = { hs_raw_realloc, hs_mem_realloc,
                                                        hs_obj_realloc };
static void (*const d_free[3])(void *) = { hs_raw_free, hs_mem_free, hs_obj_free };

static byte pat(size_t i, unsigned seed) { return (byte)(seed * 0x9Du + i * 131u + (i >> 8)); }
static void fill(byte *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) p[i] = pat(i, seed);
}
static int intact(const byte *p, size_t n, unsigned seed)
{
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) acc |= (unsigned)(p[i] ^ pat(i, seed));
    return acc == 0;
}

static uint64_t step(uint64_t *x)    /* xorshift64*, one state per thread */
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

static hs_domain_stats_t st(int d)
{
    hs_domain_stats_t s;
    CU_ASSERT_FATAL(hs_domain_stats((hs_domain_t)d, &s) == 0);
    return s;
}

static hs_arena_stats_t ast(void)
{
    hs_arena_stats_t a;
    CU_ASSERT_FATAL(hs_arena_stats(&a) == 0);
    return a;
}

#define ADD(x, v) __atomic_fetch_add(&(x), (v), __ATOMIC_RELAXED)
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)

/* ---- cross-thread frees through per-thread inboxes ------------------------------- */

#define NT 4
#define QCAP 1024

struct item { byte *p; size_t n; unsigned seed; int dom; };

struct inbox {
    pthread_mutex_t mu;
    struct item q[QCAP];
    unsigned head, count;
};

static struct inbox inbox[NT];
static int producers_left;
static unsigned long n_alloc[3], n_realloc[3], n_free[3], n_corrupt, n_null, n_cross, n_push, n_pop;

static int push(int to, struct item it)
{
    struct inbox *b = &inbox[to];
    pthread_mutex_lock(&b->mu);
    int ok = b->count < QCAP;
    if (ok) {
        b->q[(b->head + b->count) % QCAP] = it;
        b->count++;
        ADD(n_push, 1);
    }
    pthread_mutex_unlock(&b->mu);
    return ok;
}

static int pop(int me, struct item *it)
{
    struct inbox *b = &inbox[me];
    pthread_mutex_lock(&b->mu);
    int ok = b->count > 0;
    if (ok) {
        *it = b->q[b->head];
        b->head = (b->head + 1) % QCAP;
        b->count--;
        ADD(n_pop, 1);
    }
    pthread_mutex_unlock(&b->mu);
    return ok;
}

/* Check a block made by another thread, sometimes grow or shrink it here
 * (realloc of a foreign block), then free it. */
static void consume(struct item *it, uint64_t *rs)
{
    if (!intact(it->p, it->n, it->seed)) ADD(n_corrupt, 1);
    if (step(rs) % 4 == 0) {
        size_t nn = (size_t)(step(rs) % 1200);
        byte *q = d_realloc[it->dom](it->p, nn);
        if (!q) {
            ADD(n_null, 1);
        } else {
            ADD(n_realloc[it->dom], 1);
            size_t keep = it->n < nn ? it->n : nn;
            if (!intact(q, keep, it->seed)) ADD(n_corrupt, 1);
            it->p = q;
        }
    }
    d_free[it->dom](it->p);
    ADD(n_free[it->dom], 1);
    ADD(n_cross, 1);
}

struct worker { int id; long items; };

static void *stress_worker(void *arg)
{
    struct worker *w = arg;
    uint64_t rs = 0x9E3779B97F4A7C15ull * (uint64_t)(w->id + 1);
    struct item it;
    for (long i = 0; i < w->items; i++) {
        it.dom = 1 + (int)(step(&rs) % 2);                 /* MEM or OBJ */
        unsigned r = (unsigned)(step(&rs) % 100);
        it.n = r < 85 ? (size_t)(step(&rs) % (HS_SMALL_MAX + 1)) : 513 + (size_t)(step(&rs) % 3000);
        it.p = (r & 1) ? d_calloc[it.dom](1, it.n) : d_malloc[it.dom](it.n);
        if (!it.p) {
            ADD(n_null, 1);
            continue;
        }
        ADD(n_alloc[it.dom], 1);
        it.seed = (unsigned)(w->id * 1000003 + i);
        fill(it.p, it.n, it.seed);
        int to = (w->id + 1 + (int)(step(&rs) % (NT - 1))) % NT;   /* never ourselves */
        while (!push(to, it)) {                            /* full: make room by working */
            struct item mine;
            if (pop(w->id, &mine)) consume(&mine, &rs);
            else sched_yield();
        }
        for (int k = 0; k < 2 && pop(w->id, &it); k++) consume(&it, &rs);
    }
    ADD(producers_left, -1);
    for (;;) {
        if (pop(w->id, &it)) {
            consume(&it, &rs);
            continue;
        }
        if (LOAD(producers_left) == 0) {
            /* nobody pushes any more; whatever is left is ours */
            if (!pop(w->id, &it)) break;
            consume(&it, &rs);
        } else {
            sched_yield();
        }
    }
    return NULL;
}

static void test_cross_thread_stress(void)
{
    hs_domain_stats_t s0[3];
    for (int d = 0; d < 3; d++) s0[d] = st(d);
    hs_arena_stats_t a0 = ast();
    memset(n_alloc, 0, sizeof n_alloc);
    memset(n_realloc, 0, sizeof n_realloc);
    memset(n_free, 0, sizeof n_free);
    n_corrupt = n_null = n_cross = n_push = n_pop = 0;
    producers_left = NT;
    pthread_t t[NT];
    struct worker w[NT];
    /* every inbox ready before any thread can push into it */
    for (int i = 0; i < NT; i++) {
        pthread_mutex_init(&inbox[i].mu, NULL);
        inbox[i].head = inbox[i].count = 0;
    }
    for (int i = 0; i < NT; i++) {
        w[i].id = i;
        w[i].items = 150000;
        CU_ASSERT_FATAL(pthread_create(&t[i], NULL, stress_worker, &w[i]) == 0);
    }
    for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < NT; i++) CU_ASSERT_EQUAL(inbox[i].count, 0);
    CU_ASSERT_EQUAL(n_push, n_pop);

    CU_ASSERT_EQUAL(n_corrupt, 0);
    CU_ASSERT_EQUAL(n_null, 0);
    CU_ASSERT(n_cross > 0);
    CU_ASSERT_EQUAL(n_push, n_alloc[1] + n_alloc[2]);
    for (int d = 1; d < 3; d++) {
        hs_domain_stats_t s = st(d);
        CU_ASSERT_EQUAL(s.live_blocks, s0[d].live_blocks);
        CU_ASSERT_EQUAL(s.live_bytes, s0[d].live_bytes);
        CU_ASSERT_EQUAL(s.allocs - s0[d].allocs, n_alloc[d]);
        CU_ASSERT_EQUAL(s.frees - s0[d].frees, n_free[d]);
        CU_ASSERT_EQUAL(s.allocs - s0[d].allocs, s.frees - s0[d].frees);
        CU_ASSERT_EQUAL(s.reallocs - s0[d].reallocs, n_realloc[d]);
        CU_ASSERT_EQUAL(s.failed, s0[d].failed);
        CU_ASSERT(s.peak_bytes >= s.live_bytes);
        if (s.live_blocks != s0[d].live_blocks || s.live_bytes != s0[d].live_bytes) {
            char msg[200];
            snprintf(msg, sizeof msg, "domain %d after the stress: live_blocks %llu (start %llu), "
                     "live_bytes %llu (start %llu)", d, (unsigned long long)s.live_blocks,
                     (unsigned long long)s0[d].live_blocks, (unsigned long long)s.live_bytes,
                     (unsigned long long)s0[d].live_bytes);
            FAIL_MSG(msg);
        }
    }
    hs_arena_stats_t a1 = ast();
    for (unsigned c = 0; c < HS_NCLASSES; c++)
        CU_ASSERT_EQUAL(a1.classes[c].blocks_in_use, a0.classes[c].blocks_in_use);
    CU_ASSERT_EQUAL(a1.bytes_mapped, a1.arenas_mapped * a1.arena_size);
}

/* ---- blocks freed after the thread that made them is gone ------------------------- */

struct handoff { byte *p[5000]; size_t n[5000]; };

static void *make_and_exit(void *arg)
{
    struct handoff *h = arg;
    for (int i = 0; i < 5000; i++) {
        h->n[i] = (size_t)(i * 7) % 700;
        h->p[i] = (i & 1) ? hs_obj_malloc(h->n[i]) : hs_mem_malloc(h->n[i]);
        if (h->p[i]) fill(h->p[i], h->n[i], (unsigned)i);
    }
    return NULL;
}

static void test_free_after_owner_exit(void)
{
    static struct handoff h;
    hs_domain_stats_t m0 = st(1), o0 = st(2);
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, make_and_exit, &h) == 0);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(st(1).live_blocks + st(2).live_blocks,
                    m0.live_blocks + o0.live_blocks + 5000);
    int bad = 0;
    for (int i = 0; i < 5000; i++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(h.p[i]);
        bad += !intact(h.p[i], h.n[i], (unsigned)i);
        (i & 1) ? hs_obj_free(h.p[i]) : hs_mem_free(h.p[i]);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(st(1).live_blocks, m0.live_blocks);
    CU_ASSERT_EQUAL(st(1).live_bytes, m0.live_bytes);
    CU_ASSERT_EQUAL(st(2).live_blocks, o0.live_blocks);
    CU_ASSERT_EQUAL(st(2).live_bytes, o0.live_bytes);
}

/* ---- short-lived threads: their caches go back when they exit -------------------- */

static void *churn_1mb(void *arg)
{
    uint64_t rs = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    enum { MAXN = 1 << 16 };
    void **v = malloc(MAXN * sizeof *v);
    byte *dom = malloc(MAXN);
    if (!v || !dom) return (void *)1;
    size_t used = 0, n = 0;
    while (used < (1u << 20) && n < MAXN) {
        size_t sz = 1 + (size_t)(step(&rs) % HS_SMALL_MAX);   /* every size class */
        dom[n] = (byte)(1 + (n & 1));
        v[n] = d_malloc[dom[n]](sz);
        if (!v[n]) break;
        *(byte *)v[n] = 1;
        used += sz;
        n++;
    }
    /* free in random order: the thread's bins end up holding blocks from
     * pools all over its arenas, which only the exit reclaim gives back */
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(step(&rs) % i);
        void *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
        byte td = dom[i - 1];
        dom[i - 1] = dom[j];
        dom[j] = td;
    }
    for (size_t i = 0; i < n; i++) d_free[dom[i]](v[i]);
    free(v);
    free(dom);
    return NULL;
}

static void run_churners(int count, int at_once, unsigned long *errs)
{
    for (int i = 0; i < count; i += at_once) {
        pthread_t t[8];
        for (int k = 0; k < at_once; k++)
            if (pthread_create(&t[k], NULL, churn_1mb, (void *)(uintptr_t)(i + k + 1)) != 0) (*errs)++;
        for (int k = 0; k < at_once; k++) {
            void *r;
            pthread_join(t[k], &r);
            *errs += r != NULL;
        }
    }
}

static void test_exited_thread_caches_reclaimed(void)
{
    /* empty arenas that earlier tests left kept (core/arena.c) would serve
     * the churners without a new arena; a system request of more than a
     * quarter of what they hold gives them back, so that the churners map
     * arenas of their own (checked below: the test exercises the reclaim) */
    void *big = hs_raw_malloc((size_t)64 << 20);
    CU_ASSERT_PTR_NOT_NULL(big);
    hs_raw_free(big);
    hs_domain_stats_t m0 = st(1), o0 = st(2);
    hs_arena_stats_t a0 = ast();
    unsigned long errs = 0;
    run_churners(50, 2, &errs);
    hs_arena_stats_t a1 = ast();
    run_churners(200, 2, &errs);
    hs_arena_stats_t a2 = ast();
    CU_ASSERT_EQUAL(errs, 0);
    /* two threads at a time peak at ~2 MiB of blocks (8 arenas); once they
     * are gone nothing of theirs may stay mapped but a few arenas */
    const uint64_t bound = 2 * ((1u << 20) / HS_ARENA_SIZE);
    if (a1.arenas_mapped > a0.arenas_mapped + bound || a2.arenas_mapped > a0.arenas_mapped + bound) {
        char msg[200];
        snprintf(msg, sizeof msg, "arenas mapped: %llu at start, %llu after 50 short-lived threads, "
                 "%llu after 250 (allowed %llu)", (unsigned long long)a0.arenas_mapped,
                 (unsigned long long)a1.arenas_mapped, (unsigned long long)a2.arenas_mapped,
                 (unsigned long long)(a0.arenas_mapped + bound));
        FAIL_MSG(msg);
    }
    CU_ASSERT(a2.arenas_allocated_total > a0.arenas_allocated_total);
    CU_ASSERT_EQUAL(st(1).live_blocks, m0.live_blocks);
    CU_ASSERT_EQUAL(st(2).live_blocks, o0.live_blocks);
    CU_ASSERT_EQUAL(st(1).live_bytes, m0.live_bytes);
    CU_ASSERT_EQUAL(st(2).live_bytes, o0.live_bytes);
}

/* ---- fork while other threads allocate -------------------------------------------- */

static int fork_stop;

static void *fork_busy(void *arg)
{
    uint64_t rs = (uint64_t)(uintptr_t)arg * 77 + 3;
    enum { K = 256 };
    void *v[K] = { 0 };
    int dom[K] = { 0 };
    while (!LOAD(fork_stop)) {
        unsigned i = (unsigned)(step(&rs) % K);
        if (v[i]) d_free[dom[i]](v[i]);
        dom[i] = (int)(step(&rs) % 3);
        size_t n = (size_t)(step(&rs) % 2048);
        v[i] = d_malloc[dom[i]](n);
        if (v[i] && n) memset(v[i], 0x77, n);
    }
    for (int i = 0; i < K; i++)
        if (v[i]) d_free[dom[i]](v[i]);
    return NULL;
}

static void *child_thread(void *arg)
{
    long *bad = arg;
    for (int i = 0; i < 20000; i++) {
        void *p = hs_obj_malloc((size_t)(i % 600));
        if (!p) (*bad)++;
        hs_obj_free(p);
    }
    return NULL;
}

/* In the child: lots of work in every domain; exit status says what broke
 * (1 NULL, 2 corruption, 3 counters, 4 thread). A deadlock ends in SIGALRM. */
static int child_work(unsigned seed)
{
    alarm(20);
    hs_domain_stats_t s0[3];
    for (int d = 0; d < 3; d++)
        if (hs_domain_stats((hs_domain_t)d, &s0[d]) != 0) return 3;
    uint64_t rs = seed * 2654435761u + 1;
    enum { K = 512 };
    static byte *v[K];
    static size_t n[K];
    static int dom[K];
    memset(v, 0, sizeof v);
    for (int it = 0; it < 40000; it++) {
        unsigned i = (unsigned)(step(&rs) % K);
        if (v[i]) {
            if (!intact(v[i], n[i], i)) return 2;
            d_free[dom[i]](v[i]);
        }
        dom[i] = (int)(step(&rs) % 3);
        n[i] = (size_t)(step(&rs) % 1500);
        v[i] = d_malloc[dom[i]](n[i]);
        if (!v[i]) return 1;
        fill(v[i], n[i], i);
    }
    for (int i = 0; i < K; i++)
        if (v[i]) {
            if (!intact(v[i], n[i], (unsigned)i)) return 2;
            d_free[dom[i]](v[i]);
        }
    long tbad = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, &tbad) != 0) return 4;
    pthread_join(t, NULL);
    if (tbad) return 1;
    for (int d = 0; d < 3; d++) {
        hs_domain_stats_t s;
        if (hs_domain_stats((hs_domain_t)d, &s) != 0) return 3;
        if (s.live_blocks != s0[d].live_blocks || s.live_bytes != s0[d].live_bytes) return 3;
    }
    return 0;
}

/* The child may hang inside fork() itself (in the allocator's atfork
 * handlers), before it could set an alarm: the parent keeps the time.
 * Returns the exit status, 100+signal, or 200 when it had to be killed. */
static int wait_or_kill(pid_t pid, int seconds)
{
    int status = 0;
    for (int i = 0; i < seconds * 100; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
        if (r < 0) return 201;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return 200;
}

static void test_fork_while_allocating(void)
{
    enum { BUSY = 3, FORKS = 12 };
    pthread_t t[BUSY];
    fork_stop = 0;
    for (int i = 0; i < BUSY; i++)
        CU_ASSERT_FATAL(pthread_create(&t[i], NULL, fork_busy, (void *)(uintptr_t)(i + 1)) == 0);
    int results[FORKS], nforks = FORKS;
    for (int f = 0; f < FORKS; f++) {
        struct timespec ts = { 0, 3 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) _exit(child_work((unsigned)f + 1));
        CU_ASSERT_FATAL(pid > 0);
        results[f] = wait_or_kill(pid, 20);
        if (results[f] != 0) {               /* one broken child says it all */
            nforks = f + 1;
            break;
        }
    }
    __atomic_store_n(&fork_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < BUSY; i++) pthread_join(t[i], NULL);
    for (int f = 0; f < nforks; f++) {
        if (results[f] != 0) {
            char msg[160];
            if (results[f] >= 200)
                snprintf(msg, sizeof msg, "fork child %d: no exit within 20 s (deadlock, killed)", f);
            else
                snprintf(msg, sizeof msg, "fork child %d: %s %d (1 NULL, 2 corruption, "
                         "3 counters, 4 thread; SIGALRM 14: deadlock after fork returned)", f,
                         results[f] >= 100 ? "killed by signal" : "exit status",
                         results[f] >= 100 ? results[f] - 100 : results[f]);
            FAIL_MSG(msg);
        }
    }
    /* the parent is fine too */
    void *p = hs_obj_malloc(100);
    CU_ASSERT_PTR_NOT_NULL(p);
    hs_obj_free(p);
}

/* ---- a lock asked for again by its holder ------------------------------------------ */

/* An allocation from a signal handler that interrupted the allocator while
 * it held a lock asks for that lock on the thread that holds it: it waited
 * for ever, spinning (outside test, stop 31: 5 runs in 5 of a timer
 * handler that mallocs). Now one line on stderr and abort(), as glibc
 * does for what it detects. In a child: it must end by SIGABRT with the
 * message, within 10 s. Also: a thread that finds the lock held by
 * another does not overwrite the holder's token (the holder still knows
 * the lock is its own). */
static hs_lock_t relock;
static void *relock_waiter(void *arg)
{
    (void)arg;
    hs_lock(&relock);                 /* waits for the main thread's unlock */
    hs_unlock(&relock);
    return NULL;
}

static void test_lock_reentry_aborts(void)
{
    /* the holder's token survives another thread's attempt */
    hs_lock(&relock);
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, relock_waiter, NULL) == 0);
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);             /* the waiter is spinning by now */
    CU_ASSERT(hs_lock_mine(&relock));
    hs_unlock(&relock);
    pthread_join(t, NULL);
    CU_ASSERT(!hs_lock_mine(&relock));

    int fds[2];
    CU_ASSERT_FATAL(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        static hs_lock_t l;
        hs_lock(&l);
        hs_lock(&l);                  /* the handler's second entry */
        _exit(0);
    }
    close(fds[1]);
    int r = wait_or_kill(pid, 10);
    char buf[512] = { 0 };
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    CU_ASSERT_EQUAL(r, 100 + SIGABRT);
    CU_ASSERT(n > 0 && strstr(buf, "heapshim: the allocator was entered again on a thread that holds its lock") != NULL);
}

/* ---- RAW from several threads at once ---------------------------------------------- */

static unsigned long raw_ops, raw_bad;

static void *raw_worker(void *arg)
{
    uint64_t rs = (uint64_t)(uintptr_t)arg * 1315423911u + 7;
    enum { K = 64 };
    byte *v[K] = { 0 };
    size_t n[K] = { 0 };
    unsigned long ops = 0, bad = 0;
    for (int it = 0; it < 60000; it++) {
        unsigned i = (unsigned)(step(&rs) % K);
        unsigned seed = (unsigned)(uintptr_t)arg * 31u + i;
        if (v[i] && !intact(v[i], n[i], seed)) bad++;
        unsigned op = (unsigned)(step(&rs) % 4);
        size_t sz = (size_t)(step(&rs) % 8192);
        if (v[i] && op == 0) {
            hs_raw_free(v[i]);
            v[i] = NULL;
        } else if (v[i] && op == 1) {
            byte *q = hs_raw_realloc(v[i], sz);
            if (!q) {
                bad++;
                continue;
            }
            if (!intact(q, n[i] < sz ? n[i] : sz, seed)) bad++;
            v[i] = q;
            n[i] = sz;
            fill(q, sz, seed);
        } else if (!v[i]) {
            v[i] = op == 2 ? hs_raw_calloc(1, sz) : hs_raw_malloc(sz);
            if (!v[i]) {
                bad++;
                continue;
            }
            n[i] = sz;
            fill(v[i], sz, seed);
        }
        ops++;
    }
    for (int i = 0; i < K; i++) hs_raw_free(v[i]);
    ADD(raw_ops, ops);
    ADD(raw_bad, bad);
    return NULL;
}

static void test_raw_from_threads(void)
{
    hs_domain_stats_t r0 = st(0);
    pthread_t t[NT];
    raw_ops = raw_bad = 0;
    for (int i = 0; i < NT; i++)
        CU_ASSERT_FATAL(pthread_create(&t[i], NULL, raw_worker, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(raw_bad, 0);
    CU_ASSERT(raw_ops > 0);
    hs_domain_stats_t r1 = st(0);
    CU_ASSERT_EQUAL(r1.live_blocks, r0.live_blocks);
    CU_ASSERT_EQUAL(r1.live_bytes, r0.live_bytes);
    CU_ASSERT_EQUAL(r1.allocs - r0.allocs, r1.frees - r0.frees);
    CU_ASSERT(r1.allocs > r0.allocs);
}

int main(void)
{
    static const hs_test_t tests[] = {
        { "4 threads, cross-thread frees and reallocs", test_cross_thread_stress },
        { "blocks freed after their thread exited", test_free_after_owner_exit },
        { "exited threads' caches are reclaimed", test_exited_thread_caches_reclaimed },
        { "fork while other threads allocate", test_fork_while_allocating },
        { "a lock asked for again by its holder: abort, not a hang", test_lock_reentry_aborts },
        { "RAW from several threads at once", test_raw_from_threads },
        { NULL, NULL },
    };
    hs_test_add_suite("threads", tests);
    return hs_test_main();
}
