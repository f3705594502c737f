/*
 * tests/shim/prog_torn.c - in-process reads must be states that existed.
 *
 * Run under LD_PRELOAD=libheapshim.so (tests/26-counters.sh). Four worker
 * threads churn: malloc/calloc/free of small (16..HS_SMALL_MAX B) and large
 * (HS_SMALL_MAX+1..3072 B) blocks, realloc that moves small->small, small->large,
 * large->large (and large->small requests), and cross-thread frees through
 * a bounded queue to the next worker. Worker 3 allocates in the obj domain
 * (hs_tag_push), the others in mem. Each worker holds at most H blocks in
 * its slots plus one in flight, each queue at most Q, so the program never
 * holds more than
 *     baseline + NW*(H+1) + NW*Q  blocks,   each <= max usable bytes.
 * Two monitor threads read hs_total_stats, hs_domain_stats(mem) and
 * hs_domain_stats(obj) in a tight loop (the first also, every 64th round,
 * hs_print_stats into a memfd, parsed back) and check every read (the
 * monotonic checks against the same monitor's previous read):
 *   - allocs, reallocs, frees, failed never decrease (per domain and total)
 *   - baseline <= live_blocks <= baseline + max held blocks,
 *     baseline <= live_bytes <= baseline + max held bytes  (no phantoms)
 *   - live_bytes <= peak_bytes, peak_bytes never decreases, and the peak is
 *     at most what the program could ever hold + max(64 KiB, 1%)
 * At the end (workers joined, everything freed) the counters must equal
 * the workers' own counts exactly: allocs/reallocs/frees deltas per domain,
 * live back to the baseline.
 * Prints the number of reads and, per kind of violation, how many and the
 * worst one. usage: prog_torn [seconds [slots [queue depth]]]  (6 s, 16, 16)
 * Few blocks held make small phantoms visible: a read torn by a few dozen
 * operations leaves the [baseline, baseline + held] band.
 * exit 0 clean, 1 a violation, 2 cannot run
 */
#include <heapshim.h>
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define NW 4
#define MAXH 256
#define MAXQ 256
static int H = 16, Q = 16;             /* slots per worker, queue depth (argv[2], argv[3]) */
#define MAXSZ 3072
#define NMON 2                          /* monitor threads, reading at the same time */

typedef int (*total_fn)(hs_domain_stats_t *);
typedef int (*domain_fn)(hs_domain_t, hs_domain_stats_t *);
typedef hs_domain_t (*push_fn)(hs_domain_t);
typedef void (*pop_fn)(hs_domain_t);
typedef void (*print_fn)(FILE *);
static total_fn p_total;
static domain_fn p_domain;
static push_fn p_push;
static pop_fn p_pop;
static print_fn p_print;

struct slot { unsigned char *p; size_t n; };
struct queue {                         /* single producer (worker i-1), single consumer (worker i) */
    void *buf[MAXQ];
    uint64_t head, tail;               /* atomics */
};
struct wstate {
    struct slot s[MAXH];
    uint64_t mallocs[HS_NDOMAINS], reallocs[HS_NDOMAINS], frees[HS_NDOMAINS];
    uint64_t ops;
    char pad[64];
};
static struct queue queues[NW];
static struct wstate ws[NW];
static volatile int stop_workers;
static int workers_done;               /* atomic */
static pthread_barrier_t wbar, stopbar, endbar;

/* ---- workers --------------------------------------------------------------- */

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static size_t small_size(uint64_t *r) { return 16 + rnd(r) % (HS_SMALL_MAX - 16 + 1); }
static size_t large_size(uint64_t *r) { return HS_SMALL_MAX + 1 + rnd(r) % (MAXSZ - HS_SMALL_MAX); }

static void count_free(struct wstate *w, void *p)
{
    w->frees[((unsigned char *)p)[0]]++;
    free(p);
}

static int q_push(struct queue *q, void *p)
{
    uint64_t t = __atomic_load_n(&q->tail, __ATOMIC_RELAXED);
    if (t - __atomic_load_n(&q->head, __ATOMIC_ACQUIRE) >= (uint64_t)Q) return 0;
    q->buf[t % (uint64_t)Q] = p;
    __atomic_store_n(&q->tail, t + 1, __ATOMIC_RELEASE);
    return 1;
}

static void *q_pop(struct queue *q)
{
    uint64_t h = __atomic_load_n(&q->head, __ATOMIC_RELAXED);
    if (h == __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE)) return NULL;
    void *p = q->buf[h % (uint64_t)Q];
    __atomic_store_n(&q->head, h + 1, __ATOMIC_RELEASE);
    return p;
}

static void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    struct wstate *w = &ws[i];
    unsigned char mydom = i == NW - 1 ? HS_DOMAIN_OBJ : HS_DOMAIN_MEM;
    hs_domain_t prev = HS_TAG_NONE;
    if (mydom != HS_DOMAIN_MEM) prev = p_push((hs_domain_t)mydom);
    uint64_t r = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    struct queue *out = &queues[(i + 1) % NW], *in = &queues[i];
    pthread_barrier_wait(&wbar);       /* parked: main reads the baseline */
    pthread_barrier_wait(&wbar);
    while (!__atomic_load_n(&stop_workers, __ATOMIC_RELAXED)) {
        w->ops++;
        void *x = q_pop(in);
        if (x) count_free(w, x);       /* cross-thread free */
        struct slot *s = &w->s[rnd(&r) % (uint64_t)H];
        if (!s->p) {
            size_t n = rnd(&r) % 4 == 0 ? large_size(&r) : small_size(&r);
            unsigned char *p = rnd(&r) % 8 == 0 ? calloc(1, n) : malloc(n);
            if (!p) abort();
            p[0] = mydom;
            s->p = p;
            s->n = n;
            w->mallocs[mydom]++;
            continue;
        }
        switch (rnd(&r) % 8) {
        case 0: case 1: case 2: {
            unsigned char *p = s->p;
            s->p = NULL;
            count_free(w, p);
            break;
        }
        case 3: case 4: {
            size_t n;
            if (s->n <= HS_SMALL_MAX) {
                if (rnd(&r) % 2) {     /* small -> small, another class */
                    n = small_size(&r);
                    if ((n + 15) / 16 == (s->n + 15) / 16) n = n > 256 ? n - 128 : n + 128;
                } else {
                    n = large_size(&r);   /* small -> large */
                }
            } else {
                n = rnd(&r) % 4 ? large_size(&r) : small_size(&r);   /* large -> large (or a small request) */
            }
            unsigned char dom = s->p[0];
            unsigned char *q = realloc(s->p, n);
            if (!q) abort();
            if (q[0] != dom) abort();
            s->p = q;
            s->n = n;
            w->reallocs[dom]++;
            break;
        }
        case 5:
            if (q_push(out, s->p)) {
                s->p = NULL;
            } else {
                unsigned char *p = s->p;
                s->p = NULL;
                count_free(w, p);
            }
            break;
        default:
            break;                     /* keep it */
        }
    }
    pthread_barrier_wait(&stopbar);    /* nobody pushes any more */
    for (void *x; (x = q_pop(in)) != NULL;) count_free(w, x);
    for (int k = 0; k < H; k++) {
        if (w->s[k].p) {
            count_free(w, w->s[k].p);
            w->s[k].p = NULL;
        }
    }
    if (mydom != HS_DOMAIN_MEM) p_pop(prev);
    __atomic_fetch_add(&workers_done, 1, __ATOMIC_RELEASE);
    pthread_barrier_wait(&endbar);     /* parked: main makes the final, exact read */
    pthread_barrier_wait(&endbar);     /* (thread exit may free what glibc made for the thread) */
    return NULL;
}

/* ---- monitor ----------------------------------------------------------------- */

static const char *const dname[4] = { "raw", "mem", "obj", "total" };
static hs_domain_stats_t base[4];
static uint64_t max_blocks, max_bytes;
static uint64_t nreads_total, nprints;   /* nreads_total: summed at the end */
static __thread uint64_t nreads;         /* this monitor's reads */

enum { V_MONO, V_BLOCKS_HI, V_BLOCKS_LO, V_BYTES_HI, V_BYTES_LO, V_LIVE_PEAK, V_PEAK_DOWN, V_PEAK_HI, V_PRINT, NV };
static const char *const vname[NV] = {
    "cumulative counter decreased", "live_blocks above what the program can hold",
    "live_blocks below the baseline", "live_bytes above what the program can hold",
    "live_bytes below the baseline", "live_bytes > peak_bytes", "peak_bytes decreased",
    "peak_bytes above anything the program could hold", "hs_print_stats table unparsable or inconsistent",
};
static pthread_mutex_t vmu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t vcount[NV];
static uint64_t vworst[NV];
static char vdesc[NV][240];

static void violation(int kind, uint64_t amount, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void violation(int kind, uint64_t amount, const char *fmt, ...)
{
    pthread_mutex_lock(&vmu);
    vcount[kind]++;
    if (vcount[kind] == 1 || amount > vworst[kind]) {
        vworst[kind] = amount;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vdesc[kind], sizeof vdesc[kind], fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&vmu);
}

/* previous values per domain (monotonic checks), from the API and the table */
/* previous values per domain as this monitor saw them (monotonic checks) */
static __thread uint64_t prev_c[4][4];  /* allocs, reallocs, frees, failed */
static __thread uint64_t prev_peak[4];

static void check_cumulative(int d, const uint64_t c[4], const char *src)
{
    static const char *const cn[4] = { "allocs", "reallocs", "frees", "failed" };
    for (int k = 0; k < 4; k++) {
        if (c[k] < prev_c[d][k])
            violation(V_MONO, prev_c[d][k] - c[k], "%s %s went from %llu to %llu (-%llu) [%s, read %llu]",
                      dname[d], cn[k], (unsigned long long)prev_c[d][k], (unsigned long long)c[k],
                      (unsigned long long)(prev_c[d][k] - c[k]), src, (unsigned long long)nreads);
        prev_c[d][k] = c[k];
    }
}

static void check_live_blocks(int d, uint64_t lb, const char *src)
{
    uint64_t hi = base[d].live_blocks + max_blocks;
    if (lb > hi)
        violation(V_BLOCKS_HI, lb - hi, "%s live_blocks %llu > %llu (baseline %llu + at most %llu held): %llu phantom [%s, read %llu]",
                  dname[d], (unsigned long long)lb, (unsigned long long)hi, (unsigned long long)base[d].live_blocks,
                  (unsigned long long)max_blocks, (unsigned long long)(lb - hi), src, (unsigned long long)nreads);
    if (lb < base[d].live_blocks)
        violation(V_BLOCKS_LO, base[d].live_blocks - lb, "%s live_blocks %llu < baseline %llu [%s, read %llu]", dname[d],
                  (unsigned long long)lb, (unsigned long long)base[d].live_blocks, src, (unsigned long long)nreads);
}

static void check_read(int d, const hs_domain_stats_t *s)
{
    uint64_t c[4] = { s->allocs, s->reallocs, s->frees, s->failed };
    check_cumulative(d, c, "api");
    check_live_blocks(d, s->live_blocks, "api");
    uint64_t hi = base[d].live_bytes + max_bytes;
    if (s->live_bytes > hi)
        violation(V_BYTES_HI, s->live_bytes - hi, "%s live_bytes %llu > %llu (baseline %llu + at most %llu held) [read %llu]",
                  dname[d], (unsigned long long)s->live_bytes, (unsigned long long)hi,
                  (unsigned long long)base[d].live_bytes, (unsigned long long)max_bytes, (unsigned long long)nreads);
    if (s->live_bytes < base[d].live_bytes)
        violation(V_BYTES_LO, base[d].live_bytes - s->live_bytes, "%s live_bytes %llu < baseline %llu [read %llu]",
                  dname[d], (unsigned long long)s->live_bytes, (unsigned long long)base[d].live_bytes,
                  (unsigned long long)nreads);
    if (s->live_bytes > s->peak_bytes)
        violation(V_LIVE_PEAK, s->live_bytes - s->peak_bytes, "%s live_bytes %llu > peak_bytes %llu [read %llu]",
                  dname[d], (unsigned long long)s->live_bytes, (unsigned long long)s->peak_bytes,
                  (unsigned long long)nreads);
    if (s->peak_bytes < prev_peak[d])
        violation(V_PEAK_DOWN, prev_peak[d] - s->peak_bytes, "%s peak_bytes went from %llu to %llu [read %llu]",
                  dname[d], (unsigned long long)prev_peak[d], (unsigned long long)s->peak_bytes,
                  (unsigned long long)nreads);
    uint64_t ceil = base[d].peak_bytes > hi ? base[d].peak_bytes : hi;
    uint64_t ceil_slack = ceil + (ceil / 100 > 65536 ? ceil / 100 : 65536);
    if (s->peak_bytes > ceil_slack)
        violation(V_PEAK_HI, s->peak_bytes - ceil_slack, "%s peak_bytes %llu > %llu (the most the program could hold, %llu, + slack) [read %llu]",
                  dname[d], (unsigned long long)s->peak_bytes, (unsigned long long)ceil_slack,
                  (unsigned long long)ceil, (unsigned long long)nreads);
    prev_peak[d] = s->peak_bytes;
}

/* hs_print_stats into a memfd; the rows end in five exact integers:
 * live blocks, allocs, reallocs, frees, failed */
static FILE *pf;
static char pfbuf[8192], ptext[16384];

static void check_print(void)
{
    if (ftruncate(fileno(pf), 0) != 0) return;
    rewind(pf);
    p_print(pf);
    fflush(pf);
    ssize_t n = pread(fileno(pf), ptext, sizeof ptext - 1, 0);
    if (n <= 0) {
        violation(V_PRINT, 1, "hs_print_stats wrote nothing");
        return;
    }
    ptext[n] = 0;
    nprints++;
    int seen = 0, have[4] = { 0 };
    uint64_t row[4][5];                /* live blocks, allocs, reallocs, frees, failed */
    for (char *line = ptext; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        for (int d = 0; d < 4; d++) {
            char key[32];
            snprintf(key, sizeof key, "heapshim: %s ", dname[d]);
            if (strncmp(line, key, strlen(key)) != 0) continue;
            uint64_t v[16];
            int nv = 0;
            char *save = NULL;
            for (char *t = strtok_r(line + strlen(key), " ", &save); t && nv < 16; t = strtok_r(NULL, " ", &save)) {
                char *e;
                unsigned long long x = strtoull(t, &e, 10);
                if (*e == 0) v[nv++] = x;   /* units and decimals ("12.5", "KiB") are skipped */
            }
            if (nv < 5) {
                violation(V_PRINT, 1, "row '%s' has %d integers", dname[d], nv);
                continue;
            }
            uint64_t c[4] = { v[nv - 4], v[nv - 3], v[nv - 2], v[nv - 1] };
            check_cumulative(d, c, "hs_print_stats");
            check_live_blocks(d, v[nv - 5], "hs_print_stats");
            for (int k = 0; k < 5; k++) row[d][k] = v[nv - 5 + k];
            have[d] = 1;
            seen++;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (seen != 4) {
        violation(V_PRINT, 1, "found %d of the raw/mem/obj/total rows in:\n%.200s", seen, ptext);
        return;
    }
    /* one table, one state: the total row is the sum of the others */
    static const char *const cn[5] = { "live blocks", "allocs", "reallocs", "frees", "failed" };
    for (int k = 0; k < 5; k++) {
        uint64_t sum = row[0][k] + row[1][k] + row[2][k];
        if (have[3] && row[3][k] != sum)
            violation(V_PRINT, row[3][k] > sum ? row[3][k] - sum : sum - row[3][k],
                      "hs_print_stats total %s %llu, raw+mem+obj %llu", cn[k],
                      (unsigned long long)row[3][k], (unsigned long long)sum);
    }
}

static void *monitor(void *arg)
{
    int printer = arg == NULL;         /* the first monitor also parses hs_print_stats */
    hs_domain_stats_t s;
    uint64_t round = 0;
    pthread_barrier_wait(&wbar);       /* parked: main reads the baseline */
    pthread_barrier_wait(&wbar);
    for (int d = 0; d < 4; d++) {
        uint64_t c[4] = { base[d].allocs, base[d].reallocs, base[d].frees, base[d].failed };
        memcpy(prev_c[d], c, sizeof c);
        prev_peak[d] = base[d].peak_bytes;
    }
    while (__atomic_load_n(&workers_done, __ATOMIC_ACQUIRE) < NW) {
        if (p_total(&s) == 0) { nreads++; check_read(3, &s); }
        if (p_domain(HS_DOMAIN_MEM, &s) == 0) { nreads++; check_read(1, &s); }
        if (p_domain(HS_DOMAIN_OBJ, &s) == 0) { nreads++; check_read(2, &s); }
        if (printer && pf && (++round & 63) == 0) check_print();
    }
    __atomic_fetch_add(&nreads_total, nreads, __ATOMIC_RELAXED);
    pthread_barrier_wait(&endbar);
    pthread_barrier_wait(&endbar);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 6.0;
    if (argc > 2) H = atoi(argv[2]);
    if (argc > 3) Q = atoi(argv[3]);
    if (H < 1 || H > MAXH || Q < 1 || Q > MAXQ || seconds <= 0) {
        fprintf(stderr, "usage: prog_torn [seconds [slots (1..%d) [queue depth (1..%d)]]]\n", MAXH, MAXQ);
        return 2;
    }
    p_total = (total_fn)dlsym(RTLD_DEFAULT, "hs_total_stats");
    p_domain = (domain_fn)dlsym(RTLD_DEFAULT, "hs_domain_stats");
    p_push = (push_fn)dlsym(RTLD_DEFAULT, "hs_tag_push");
    p_pop = (pop_fn)dlsym(RTLD_DEFAULT, "hs_tag_pop");
    p_print = (print_fn)dlsym(RTLD_DEFAULT, "hs_print_stats");
    if (!p_total || !p_domain || !p_push || !p_pop || !p_print) {
        fprintf(stderr, "prog_torn: hs_* API not found: run me under LD_PRELOAD=libheapshim.so\n");
        return 2;
    }
    printf("prog_torn: %d workers x %d slots + %d-deep queues, %.1f s of reads\n", NW, H, Q, seconds);
    fflush(stdout);
    int mfd = memfd_create("prog_torn_print", 0);
    if (mfd >= 0 && (pf = fdopen(mfd, "w+")) != NULL) setvbuf(pf, pfbuf, _IOFBF, sizeof pfbuf);

    /* the largest usable size a block of <= MAXSZ bytes gets (glibc may hand
     * out a chunk up to one minimum chunk larger than asked: +32) */
    uint64_t maxu = 0;
    for (size_t n = MAXSZ - 64; n <= MAXSZ; n++) {
        void *p = malloc(n);
        if (malloc_usable_size(p) > maxu) maxu = malloc_usable_size(p);
        free(p);
    }
    maxu += 32;
    max_blocks = (uint64_t)(NW * (H + 1) + NW * Q);
    max_bytes = max_blocks * maxu;

    pthread_barrier_init(&wbar, NULL, NW + NMON + 1);   /* workers, monitors, main */
    pthread_barrier_init(&stopbar, NULL, NW);
    pthread_barrier_init(&endbar, NULL, NW + NMON + 1);
    /* every thread exists before the baseline (pthread_create allocates) */
    pthread_t th[NW], mon[NMON];
    for (int i = 0; i < NW; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0) return 2;
    for (int m = 0; m < NMON; m++)
        if (pthread_create(&mon[m], NULL, monitor, m ? (void *)&mon[m] : NULL) != 0) return 2;
    pthread_barrier_wait(&wbar);       /* all parked */
    if (p_total(&base[3]) || p_domain(HS_DOMAIN_RAW, &base[0]) || p_domain(HS_DOMAIN_MEM, &base[1]) ||
        p_domain(HS_DOMAIN_OBJ, &base[2])) {
        fprintf(stderr, "prog_torn: reading the counters failed\n");
        return 2;
    }
    pthread_barrier_wait(&wbar);       /* go */
    double t0 = now_s();
    struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    nanosleep(&ts, NULL);
    __atomic_store_n(&stop_workers, 1, __ATOMIC_RELAXED);
    pthread_barrier_wait(&endbar);     /* workers have freed everything, monitor stopped */
    double el = now_s() - t0;

    /* quiescent: exact */
    int fails = 0;
    hs_domain_stats_t fin[4];
    p_domain(HS_DOMAIN_RAW, &fin[0]);
    p_domain(HS_DOMAIN_MEM, &fin[1]);
    p_domain(HS_DOMAIN_OBJ, &fin[2]);
    p_total(&fin[3]);
    pthread_barrier_wait(&endbar);
    for (int i = 0; i < NW; i++) pthread_join(th[i], NULL);
    for (int m = 0; m < NMON; m++) pthread_join(mon[m], NULL);
    uint64_t ops = 0, want[4][3] = { { 0 } };
    for (int i = 0; i < NW; i++) {
        ops += ws[i].ops;
        for (int d = 0; d < HS_NDOMAINS; d++) {
            want[d][0] += ws[i].mallocs[d];
            want[d][1] += ws[i].reallocs[d];
            want[d][2] += ws[i].frees[d];
        }
    }
    for (int k = 0; k < 3; k++) want[3][k] = want[0][k] + want[1][k] + want[2][k];
    for (int d = 0; d < 4; d++) {
        uint64_t got[3] = { fin[d].allocs - base[d].allocs, fin[d].reallocs - base[d].reallocs,
                            fin[d].frees - base[d].frees };
        static const char *const cn[3] = { "allocs", "reallocs", "frees" };
        for (int k = 0; k < 3; k++) {
            if (got[k] != want[d][k]) {
                printf("FAIL exact count: %s %s grew by %llu, the workers made %llu (%+lld)\n", dname[d], cn[k],
                       (unsigned long long)got[k], (unsigned long long)want[d][k], (long long)(got[k] - want[d][k]));
                fails++;
            }
        }
        if (fin[d].live_blocks != base[d].live_blocks || fin[d].live_bytes != base[d].live_bytes) {
            printf("FAIL exact count: %s live %llu blocks / %llu B after everything was freed, baseline %llu / %llu\n",
                   dname[d], (unsigned long long)fin[d].live_blocks, (unsigned long long)fin[d].live_bytes,
                   (unsigned long long)base[d].live_blocks, (unsigned long long)base[d].live_bytes);
            fails++;
        }
        if (fin[d].failed != base[d].failed) {
            printf("FAIL exact count: %s failed grew by %llu\n", dname[d], (unsigned long long)(fin[d].failed - base[d].failed));
            fails++;
        }
    }
    printf("prog_torn: %llu reads (+%llu hs_print_stats) in %.1f s while %llu worker operations ran "
           "(%llu allocs, %llu reallocs, %llu frees); bounds: <= %llu blocks, <= %llu B above the baseline\n",
           (unsigned long long)nreads_total, (unsigned long long)nprints, el, (unsigned long long)ops,
           (unsigned long long)want[3][0], (unsigned long long)want[3][1], (unsigned long long)want[3][2],
           (unsigned long long)max_blocks, (unsigned long long)max_bytes);
    for (int k = 0; k < NV; k++) {
        if (!vcount[k]) continue;
        fails++;
        printf("FAIL %s: %llu of %llu reads; worst: %s\n", vname[k], (unsigned long long)vcount[k],
               (unsigned long long)nreads_total, vdesc[k]);
    }
    if (!fails) printf("prog_torn: every read was a state that existed\n");
    return fails ? 1 : 0;
}
