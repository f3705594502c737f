/*
 * tests/shim/prog_fork.c - a fork child starts from its parent's counters as
 * they were at the fork, and never sees the parent's later allocations.
 *
 * Run under LD_PRELOAD=libheapshim.so (tests/26-counters.sh).
 *
 *   prog_fork single   the parent is single-threaded: it reads raw/mem/obj/
 *                      total right before fork(); the child's first read
 *                      must equal that read exactly (every field).
 *   prog_fork threads  three worker threads malloc/free continuously, each
 *                      keeping its live blocks in a static table (cleared
 *                      before free, set after malloc); the child counts
 *                      the table of its copied memory: its live_blocks and
 *                      live_bytes must equal the baseline plus what the
 *                      tables hold, +-1 block in flight per worker; its
 *                      cumulative counters must lie between the parent's
 *                      reads just before and just after fork().
 * Both: errno, set to EDOM before fork(), is EDOM after it in the parent
 * and the child (the shim's fork handlers open and read files). The child reads again after 50 ms, during which the parent
 * allocates 2,000 blocks (and keeps them until the child is gone); the
 * second read must equal the first exactly. 20 forks (or argv[2]).
 * exit 0 all checks passed, 1 a check failed, 2 cannot run
 */
#include <heapshim.h>
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXFORK 64
#define W 3
#define N 256
#define PARENT_BLOCKS 2000
#define MAXSZ 3072

typedef int (*total_fn)(hs_domain_stats_t *);
typedef int (*domain_fn)(hs_domain_t, hs_domain_stats_t *);
static total_fn p_total;
static domain_fn p_domain;

static void *volatile table[W][N];      /* the workers' live blocks */
static volatile int stop;
static pthread_barrier_t bar;
static void *parent_blocks[PARENT_BLOCKS];

struct child_result {
    int done;
    int read_ok;
    int fork_errno;                    /* errno as fork() returned 0 */
    hs_domain_stats_t c1[4], c2[4];    /* raw, mem, obj, total */
    uint64_t held_blocks, held_bytes;  /* counted in the child's copy of the tables */
};
static struct child_result *res;       /* shared with the children */
static int nforks = 20;

static const char *const dname[4] = { "raw", "mem", "obj", "total" };

static int read_all(hs_domain_stats_t s[4])
{
    return p_domain(HS_DOMAIN_RAW, &s[0]) | p_domain(HS_DOMAIN_MEM, &s[1]) | p_domain(HS_DOMAIN_OBJ, &s[2]) |
           p_total(&s[3]);
}

static void *worker(void *arg)
{
    int w = (int)(intptr_t)arg;
    uint64_t r = 0x2545f4914f6cdd1dull * (uint64_t)(w + 1);
    pthread_barrier_wait(&bar);        /* parked: main reads the baseline */
    pthread_barrier_wait(&bar);
    while (!stop) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        unsigned j = (unsigned)(r % N);
        void *p = table[w][j];
        if (p) {
            table[w][j] = NULL;        /* out of the table before free: +-1 in flight */
            free(p);
        } else {
            size_t n = (r >> 20) % 4 ? 16 + (r >> 24) % (HS_SMALL_MAX - 15)
                                     : HS_SMALL_MAX + 1 + (r >> 24) % (MAXSZ - HS_SMALL_MAX);
            p = malloc(n);
            if (!p) abort();
            table[w][j] = p;
        }
    }
    for (int j = 0; j < N; j++) {
        void *p = table[w][j];
        table[w][j] = NULL;
        free(p);
    }
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int fails;
static int failures_shown;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    fails++;
    if (failures_shown++ >= 12) return;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* every field of every domain; "what" names the comparison */
static int compare_exact(int k, const char *what, const hs_domain_stats_t a[4], const hs_domain_stats_t b[4])
{
    int bad = 0;
    for (int d = 0; d < 4; d++) {
        const uint64_t x[7] = { a[d].live_bytes, a[d].live_blocks, a[d].peak_bytes, a[d].allocs,
                                a[d].reallocs, a[d].frees, a[d].failed };
        const uint64_t y[7] = { b[d].live_bytes, b[d].live_blocks, b[d].peak_bytes, b[d].allocs,
                                b[d].reallocs, b[d].frees, b[d].failed };
        static const char *const fn[7] = { "live_bytes", "live_blocks", "peak_bytes", "allocs", "reallocs", "frees", "failed" };
        for (int f = 0; f < 7; f++) {
            if (x[f] != y[f]) {
                fail("fork %d: %s: %s %s %llu vs %llu (%+lld)", k, what, dname[d], fn[f], (unsigned long long)x[f],
                     (unsigned long long)y[f], (long long)(y[f] - x[f]));
                bad = 1;
            }
        }
    }
    return bad;
}

static void child(int k, int threads)
{
    struct child_result *cr = &res[k];
    cr->read_ok = read_all(cr->c1) == 0;
    if (threads) {
        uint64_t nb = 0, by = 0;
        for (int w = 0; w < W; w++) {
            for (int j = 0; j < N; j++) {
                void *p = table[w][j];
                if (p) {
                    nb++;
                    by += malloc_usable_size(p);
                }
            }
        }
        cr->held_blocks = nb;
        cr->held_bytes = by;
    }
    sleep_ms(50);
    cr->read_ok &= read_all(cr->c2) == 0;
    __atomic_store_n(&cr->done, 1, __ATOMIC_RELEASE);
    _exit(0);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 && !strcmp(argv[1], "threads");
    if (argc > 2) nforks = atoi(argv[2]);
    if ((argc > 1 && !threads && strcmp(argv[1], "single")) || nforks < 1 || nforks > MAXFORK) {
        fprintf(stderr, "usage: prog_fork single|threads [forks (1..%d, default 20)]\n", MAXFORK);
        return 2;
    }
    p_total = (total_fn)dlsym(RTLD_DEFAULT, "hs_total_stats");
    p_domain = (domain_fn)dlsym(RTLD_DEFAULT, "hs_domain_stats");
    if (!p_total || !p_domain) {
        fprintf(stderr, "prog_fork: hs_total_stats/hs_domain_stats not found: run me under LD_PRELOAD=libheapshim.so\n");
        return 2;
    }
    printf("prog_fork: %s parent, %d forks, parent allocates %d blocks while each child sleeps\n",
           threads ? "multi-threaded (3 workers)" : "single-threaded", nforks, PARENT_BLOCKS);
    fflush(stdout);
    res = mmap(NULL, sizeof *res * MAXFORK, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED) return 2;

    uint64_t maxu = 0;
    for (size_t n = MAXSZ - 64; n <= MAXSZ; n++) {
        void *p = malloc(n);
        if (malloc_usable_size(p) > maxu) maxu = malloc_usable_size(p);
        free(p);
    }
    maxu += 32;

    pthread_t th[W];
    hs_domain_stats_t base[4];
    if (threads) {
        pthread_barrier_init(&bar, NULL, W + 1);
        for (int w = 0; w < W; w++)
            if (pthread_create(&th[w], NULL, worker, (void *)(intptr_t)w) != 0) return 2;
        pthread_barrier_wait(&bar);
    }
    if (read_all(base) != 0) return 2;
    if (threads) pthread_barrier_wait(&bar);

    int worst_blocks = 0, bad_children = 0, changed_children = 0;
    long long worst_bytes = 0;
    uint64_t child_live_min = UINT64_MAX, child_live_max = 0;
    for (int k = 0; k < nforks; k++) {
        hs_domain_stats_t p0[4], p1[4];
        if (threads) sleep_ms(10);
        read_all(p0);
        errno = EDOM;                  /* nothing in a fork sets it: the shim's handlers must not */
        pid_t pid = fork();
        int fork_errno = errno;
        if (pid < 0) return 2;
        if (pid == 0) {
            res[k].fork_errno = fork_errno;
            child(k, threads);
        }
        if (fork_errno != EDOM)
            fail("fork %d: errno in the parent %d (%s) after fork(), was EDOM", k, fork_errno, strerror(fork_errno));
        read_all(p1);
        for (int i = 0; i < PARENT_BLOCKS; i++) {
            parent_blocks[i] = malloc(40);
            if (!parent_blocks[i]) abort();
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fail("fork %d: child did not exit cleanly (status 0x%x)", k, st);
            continue;
        }
        for (int i = 0; i < PARENT_BLOCKS; i++) free(parent_blocks[i]);

        struct child_result *cr = &res[k];
        int fails_before = fails;
        if (!cr->done || !cr->read_ok) {
            bad_children++;
            fail("fork %d: child could not read its counters", k);
            continue;
        }
        if (cr->fork_errno != EDOM)
            fail("fork %d: errno in the child %d (%s) after fork(), was EDOM", k, cr->fork_errno,
                 strerror(cr->fork_errno));
        /* nothing changes in a child that does nothing */
        if (compare_exact(k, "child's read after 50 ms differs from its first read (parent allocated meanwhile)",
                          cr->c1, cr->c2))
            changed_children++;
        if (!threads) {
            compare_exact(k, "child's first read vs the parent's read right before fork", p0, cr->c1);
            if (fails > fails_before) bad_children++;
            continue;
        }
        /* a state of the parent between p0 and p1 */
        for (int d = 0; d < 4; d++) {
            const uint64_t lo[3] = { p0[d].allocs, p0[d].reallocs, p0[d].frees };
            const uint64_t hi[3] = { p1[d].allocs, p1[d].reallocs, p1[d].frees };
            const uint64_t got[3] = { cr->c1[d].allocs, cr->c1[d].reallocs, cr->c1[d].frees };
            static const char *const cn[3] = { "allocs", "reallocs", "frees" };
            for (int c = 0; c < 3; c++)
                if (got[c] < lo[c] || got[c] > hi[c])
                    fail("fork %d: child's %s %s %llu outside the parent's reads around fork() [%llu, %llu]", k,
                         dname[d], cn[c], (unsigned long long)got[c], (unsigned long long)lo[c],
                         (unsigned long long)hi[c]);
        }
        /* what the child's memory holds */
        long long db = (long long)cr->c1[3].live_blocks - (long long)(base[3].live_blocks + cr->held_blocks);
        long long dy = (long long)cr->c1[3].live_bytes - (long long)(base[3].live_bytes + cr->held_bytes);
        if (llabs(db) > llabs((long long)worst_blocks)) worst_blocks = (int)db;
        if (llabs(dy) > llabs(worst_bytes)) worst_bytes = dy;
        if (cr->c1[3].live_blocks < child_live_min) child_live_min = cr->c1[3].live_blocks;
        if (cr->c1[3].live_blocks > child_live_max) child_live_max = cr->c1[3].live_blocks;
        if (db < -W || db > W)
            fail("fork %d: child's live_blocks %llu, its memory holds %llu (baseline %llu + %llu in the tables): %+lld, allowed +-%d in flight",
                 k, (unsigned long long)cr->c1[3].live_blocks,
                 (unsigned long long)(base[3].live_blocks + cr->held_blocks), (unsigned long long)base[3].live_blocks,
                 (unsigned long long)cr->held_blocks, db, W);
        if (dy < -(long long)(W * maxu) || dy > (long long)(W * maxu))
            fail("fork %d: child's live_bytes %llu, its memory holds %llu (baseline %llu + %llu in the tables): %+lld, allowed +-%llu in flight",
                 k, (unsigned long long)cr->c1[3].live_bytes,
                 (unsigned long long)(base[3].live_bytes + cr->held_bytes), (unsigned long long)base[3].live_bytes,
                 (unsigned long long)cr->held_bytes, dy, (unsigned long long)(W * maxu));
        if (cr->c1[3].live_bytes > cr->c1[3].peak_bytes)
            fail("fork %d: child's live_bytes %llu > peak_bytes %llu", k, (unsigned long long)cr->c1[3].live_bytes,
                 (unsigned long long)cr->c1[3].peak_bytes);
        if (fails > fails_before) bad_children++;
    }
    if (threads) {
        stop = 1;
        for (int w = 0; w < W; w++) pthread_join(th[w], NULL);
        printf("prog_fork: children's live_blocks %llu..%llu; worst difference from their memory %+d blocks, %+lld B\n",
               (unsigned long long)child_live_min, (unsigned long long)child_live_max, worst_blocks, worst_bytes);
    }
    if (failures_shown > 12) printf("prog_fork: ... %d more failures not shown\n", failures_shown - 12);
    printf("prog_fork: %d forks: %d children with wrong counters (%d saw them change while they slept), %d check(s) failed\n",
           nforks, bad_children, changed_children, fails);
    return fails ? 1 : 0;
}
