/*
 * tests/shim/prog_peak.c - peak_bytes against a peak known by construction.
 *
 * Run under LD_PRELOAD=libheapshim.so (tests/26-counters.sh). T worker
 * threads each allocate K blocks (sizes cycled from -S) and hold them; the
 * true peak of the process is then
 *     baseline live bytes (read while every thread is parked and nothing
 *     allocates) + the sum of malloc_usable_size() of the held blocks
 * because nothing else in the process allocates meanwhile (stdout's buffer
 * is made before the baseline, pointer arrays are static, threads are
 * created before the baseline).
 *
 *   conc  all threads hold their blocks at once (barrier): true = base + sum
 *   seq   one thread after the other holds its blocks: true = base + max
 *
 * Every read (at start, at the baseline, while the blocks are held, after a
 * phase, after join) is checked: total and domain peak_bytes in
 * [true, true + max(64 KiB, 1% of true)] once the held state was reached,
 * live_bytes <= peak_bytes, peak never decreasing, and while held the live
 * counts equal ours exactly. The window peak (header.window_peak of the
 * process's own live file, taken and restarted at the start of every phase
 * and taken after it, as the exporter does at a scrape, combined with live
 * as tools/prom.c does) gets the same bounds against the phase's true peak.
 * The last line "TRUE ..." gives the shell suite what it needs to check the
 * exit report (HEAPSHIM_REPORT).
 *
 * -q (quiet): nobody reads while the blocks are held -- only the baseline,
 * the window and after join (and the exit report) -- so the peak must have
 * been kept by the allocating threads themselves, not by a reader that
 * happened to look at the right moment.
 *
 * usage: prog_peak [-T threads] [-K blocks] [-S size[,size...]]
 *                  [-p conc|seq] [-n phases] [-d mem|obj|raw] [-q]
 * exit 0 all checks passed, 1 a check failed, 2 cannot run (no shim, bad args)
 */
#include <heapshim.h>
#include <heapshim/live.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAXT 64
#define MAXK 4096
#define MAXS 8
#define MAXREADS 512

typedef int (*total_fn)(hs_domain_stats_t *);
typedef int (*domain_fn)(hs_domain_t, hs_domain_stats_t *);
typedef hs_domain_t (*push_fn)(hs_domain_t);
typedef void (*pop_fn)(hs_domain_t);

static total_fn p_total;
static domain_fn p_domain;
static push_fn p_push;
static pop_fn p_pop;

static int T = 4, K = 1000, nsizes = 1, phases = 1, seq = 0, quiet = 0;
static size_t sizes[MAXS] = { 100 };
static int dom = HS_DOMAIN_MEM;
static const char *domname = "mem";

static void *blocks[MAXT][MAXK];
static uint64_t held[MAXT];            /* usable bytes each thread holds */
static pthread_barrier_t bar;
static sem_t go[MAXT], done;
static struct hs_live_header *live_hdr;   /* our own live file, for the window peak */

struct rd {
    const char *label;
    int phase;
    int checked;                       /* 1: a held state was reached before this read */
    uint64_t truth_t, truth_d;         /* the true all-time peaks at the time of the read */
    hs_domain_stats_t t, d;
};
static struct rd reads[MAXREADS];
static int nreads;
static int fails;

static void die2(const char *what)
{
    fprintf(stderr, "prog_peak: %s\n", what);
    exit(2);
}

static uint64_t truth_t, truth_d;      /* true peaks so far (once a held state was reached) */

static void read_now(const char *label, int phase, int checked)
{
    if (nreads >= MAXREADS) die2("too many reads");
    struct rd *r = &reads[nreads++];
    r->label = label;
    r->phase = phase;
    r->checked = checked;
    r->truth_t = truth_t;
    r->truth_d = truth_d;
    if (p_total(&r->t) != 0 || p_domain((hs_domain_t)dom, &r->d) != 0) die2("hs_total_stats/hs_domain_stats failed");
}

static void worker_alloc(int i)
{
    hs_domain_t prev = HS_TAG_NONE;
    if (dom != HS_DOMAIN_MEM) prev = p_push((hs_domain_t)dom);
    uint64_t sum = 0;
    for (int k = 0; k < K; k++) {
        void *p = malloc(sizes[k % nsizes]);
        if (!p) abort();
        memset(p, 0x5a, sizes[k % nsizes] < 64 ? sizes[k % nsizes] : 64);
        blocks[i][k] = p;
        sum += malloc_usable_size(p);
    }
    held[i] = sum;
    if (dom != HS_DOMAIN_MEM) p_pop(prev);
}

static void worker_free(int i)
{
    for (int k = 0; k < K; k++) {
        free(blocks[i][k]);
        blocks[i][k] = NULL;
    }
}

static void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    for (int ph = 0; ph < phases; ph++) {
        if (seq) {
            sem_wait(&go[i]);
            worker_alloc(i);
            sem_post(&done);
            sem_wait(&go[i]);
            worker_free(i);
            sem_post(&done);
        } else {
            pthread_barrier_wait(&bar);   /* ready: main reads the baseline */
            pthread_barrier_wait(&bar);   /* go */
            worker_alloc(i);
            pthread_barrier_wait(&bar);   /* hold: main reads */
            pthread_barrier_wait(&bar);   /* release */
            worker_free(i);
            pthread_barrier_wait(&bar);   /* done: main reads */
        }
    }
    return NULL;
}

/* ---- window peak, as the exporter sees it (tools/live.c, tools/prom.c) ---- */

static char live_why[600];

static void map_live_file(void)
{
    const char *dir = getenv("HEAPSHIM_DIR");
    char path[512];
    if (dir && *dir) snprintf(path, sizeof path, "%s/%d", dir, (int)getpid());
    else snprintf(path, sizeof path, "/dev/shm/heapshim-%u/%d", (unsigned)getuid(), (int)getpid());
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {                      /* HEAPSHIM_PUBLISH=0: no window peak to test */
        snprintf(live_why, sizeof live_why, "cannot open %s", path);
        return;
    }
    void *m = mmap(NULL, sizeof(struct hs_live_header), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        snprintf(live_why, sizeof live_why, "cannot map %s", path);
        return;
    }
    live_hdr = m;
    if (live_hdr->magic != HS_LIVE_MAGIC || live_hdr->version != HS_LIVE_VERSION) {
        snprintf(live_why, sizeof live_why, "%s: not a live file of version %u", path, HS_LIVE_VERSION);
        live_hdr = NULL;
    }
}

/* What the exporter does at a scrape (tools/live.c take_window): take the
 * window's high-water mark and start the next window -- at 0 in live file
 * version 1, at the process's current claim (an upper bound of live) from
 * version 2 on. The window value reported is max(that, live) (tools/prom.c). */
static void window_take(uint64_t out[4])
{
    for (int i = 0; i < 4; i++) {
#if HS_LIVE_VERSION >= 2
        int64_t v = __atomic_load_n(&live_hdr->window_peak[i], __ATOMIC_ACQUIRE), c;
        do {
            c = __atomic_load_n(&live_hdr->claimed[i], __ATOMIC_ACQUIRE);
            if (c < 0) c = 0;
        } while (!__atomic_compare_exchange_n(&live_hdr->window_peak[i], &v, c, 0, __ATOMIC_ACQ_REL,
                                              __ATOMIC_ACQUIRE));
#else
        int64_t v = __atomic_exchange_n(&live_hdr->window_peak[i], 0, __ATOMIC_ACQ_REL);
#endif
        out[i] = v > 0 ? (uint64_t)v : 0;
    }
}

/* ---- checks --------------------------------------------------------------- */

static uint64_t slack(uint64_t truth) { return truth / 100 > 65536 ? truth / 100 : 65536; }

static void check_peak(const char *what, const char *label, int phase, uint64_t got, uint64_t truth)
{
    uint64_t hi = truth + slack(truth);
    if (got < truth || got > hi) {
        printf("FAIL %s peak at read '%s' (phase %d): reported %llu, true %llu, allowed [%llu, %llu] (%+.1f%%)\n",
               what, label, phase, (unsigned long long)got, (unsigned long long)truth,
               (unsigned long long)truth, (unsigned long long)hi,
               truth ? 100.0 * ((double)got - (double)truth) / (double)truth : 0.0);
        fails++;
    }
}

static void check_eq(const char *what, const char *label, int phase, uint64_t got, uint64_t want)
{
    if (got != want) {
        printf("FAIL %s at read '%s' (phase %d): reported %llu, expected exactly %llu (%+lld)\n", what, label,
               phase, (unsigned long long)got, (unsigned long long)want, (long long)(got - want));
        fails++;
    }
}

static void parse_args(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "T:K:S:p:n:d:q")) != -1) {
        switch (c) {
        case 'q': quiet = 1; break;
        case 'T': T = atoi(optarg); break;
        case 'K': K = atoi(optarg); break;
        case 'n': phases = atoi(optarg); break;
        case 'p':
            if (!strcmp(optarg, "seq")) seq = 1;
            else if (!strcmp(optarg, "conc")) seq = 0;
            else die2("-p takes conc or seq");
            break;
        case 'd':
            domname = optarg;
            if (!strcmp(optarg, "raw")) dom = HS_DOMAIN_RAW;
            else if (!strcmp(optarg, "mem")) dom = HS_DOMAIN_MEM;
            else if (!strcmp(optarg, "obj")) dom = HS_DOMAIN_OBJ;
            else die2("-d takes mem, obj or raw");
            break;
        case 'S': {
            nsizes = 0;
            for (char *s = optarg; *s && nsizes < MAXS;) {
                sizes[nsizes++] = strtoul(s, &s, 10);
                if (*s == ',') s++;
            }
            break;
        }
        default: die2("usage: prog_peak [-T n] [-K n] [-S size,...] [-p conc|seq] [-n phases] [-d mem|obj|raw] [-q]");
        }
    }
    if (T < 1 || T > MAXT || K < 1 || K > MAXK || phases < 1 || nsizes < 1) die2("argument out of range");
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    p_total = (total_fn)dlsym(RTLD_DEFAULT, "hs_total_stats");
    p_domain = (domain_fn)dlsym(RTLD_DEFAULT, "hs_domain_stats");
    p_push = (push_fn)dlsym(RTLD_DEFAULT, "hs_tag_push");
    p_pop = (pop_fn)dlsym(RTLD_DEFAULT, "hs_tag_pop");
    if (!p_total || !p_domain || !p_push || !p_pop)
        die2("hs_total_stats/hs_domain_stats/hs_tag_push not found: run me under LD_PRELOAD=libheapshim.so");

    /* stdout's buffer now, so that printing later adds nothing before the end */
    printf("prog_peak: T=%d K=%d S=", T, K);
    for (int s = 0; s < nsizes; s++) printf("%s%zu", s ? "," : "", sizes[s]);
    printf(" pattern=%s phases=%d domain=%s%s\n", seq ? "seq" : "conc", phases, domname, quiet ? " quiet" : "");
    fflush(stdout);
    map_live_file();
    const char *pub = getenv("HEAPSHIM_PUBLISH");
    if (!live_hdr && !(pub && (!strcmp(pub, "0") || !strcmp(pub, "no") || !strcmp(pub, "false") || !strcmp(pub, "off")))) {
        printf("FAIL window peak cannot be tested: %s\n", live_why);
        fails++;
    }
    read_now("start", 0, 0);

    pthread_barrier_init(&bar, NULL, (unsigned)T + 1);
    sem_init(&done, 0, 0);
    pthread_t th[MAXT];
    for (int i = 0; i < T; i++) {
        sem_init(&go[i], 0, 0);
        if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0) die2("pthread_create");
    }

    uint64_t base_t = 0, base_d = 0, base_tb = 0, base_db = 0;
    uint64_t win_truth_t[MAXREADS], win_truth_d[MAXREADS];
    uint64_t win[MAXREADS][4];
    int win_phase_read[MAXREADS];
    int nwin = 0;
    for (int ph = 0; ph < phases; ph++) {
        uint64_t phase_max = 0;        /* what the phase held at its highest */
        if (seq) {
            if (ph == 0 || !quiet) read_now("baseline", ph, ph > 0);
            if (ph == 0) {
                base_t = reads[nreads - 1].t.live_bytes; base_tb = reads[nreads - 1].t.live_blocks;
                base_d = reads[nreads - 1].d.live_bytes; base_db = reads[nreads - 1].d.live_blocks;
            }
            if (live_hdr) { uint64_t dummy[4]; window_take(dummy); }
            for (int i = 0; i < T; i++) {
                sem_post(&go[i]);
                sem_wait(&done);
                if (held[i] > phase_max) phase_max = held[i];
                if (base_t + held[i] > truth_t) { truth_t = base_t + held[i]; truth_d = base_d + held[i]; }
                if (!quiet) {
                    read_now("seq-hold", ph, 1);
                    check_eq("total live_bytes", "seq-hold", ph, reads[nreads - 1].t.live_bytes, base_t + held[i]);
                    check_eq("total live_blocks", "seq-hold", ph, reads[nreads - 1].t.live_blocks, base_tb + (uint64_t)K);
                    check_eq("domain live_bytes", "seq-hold", ph, reads[nreads - 1].d.live_bytes, base_d + held[i]);
                    check_eq("domain live_blocks", "seq-hold", ph, reads[nreads - 1].d.live_blocks, base_db + (uint64_t)K);
                }
                sem_post(&go[i]);
                sem_wait(&done);
                if (!quiet) {
                    read_now("seq-after-thread", ph, 1);
                    check_eq("total live_bytes", "seq-after-thread", ph, reads[nreads - 1].t.live_bytes, base_t);
                    check_eq("total live_blocks", "seq-after-thread", ph, reads[nreads - 1].t.live_blocks, base_tb);
                }
            }
        } else {
            pthread_barrier_wait(&bar);          /* every worker parked */
            if (ph == 0 || !quiet) read_now("baseline", ph, ph > 0);
            if (ph == 0) {
                base_t = reads[nreads - 1].t.live_bytes; base_tb = reads[nreads - 1].t.live_blocks;
                base_d = reads[nreads - 1].d.live_bytes; base_db = reads[nreads - 1].d.live_blocks;
            }
            if (live_hdr) { uint64_t dummy[4]; window_take(dummy); }
            pthread_barrier_wait(&bar);          /* go */
            pthread_barrier_wait(&bar);          /* all hold */
            uint64_t sum = 0;
            for (int i = 0; i < T; i++) sum += held[i];
            phase_max = sum;
            if (base_t + sum > truth_t) { truth_t = base_t + sum; truth_d = base_d + sum; }
            if (!quiet) {
                read_now("at-barrier", ph, 1);
                check_eq("total live_bytes", "at-barrier", ph, reads[nreads - 1].t.live_bytes, base_t + sum);
                check_eq("total live_blocks", "at-barrier", ph, reads[nreads - 1].t.live_blocks, base_tb + (uint64_t)T * (uint64_t)K);
                check_eq("domain live_bytes", "at-barrier", ph, reads[nreads - 1].d.live_bytes, base_d + sum);
                check_eq("domain live_blocks", "at-barrier", ph, reads[nreads - 1].d.live_blocks, base_db + (uint64_t)T * (uint64_t)K);
            }
            pthread_barrier_wait(&bar);          /* release */
            pthread_barrier_wait(&bar);          /* all freed */
            if (!quiet) {
                read_now("after-phase", ph, 1);
                check_eq("total live_bytes", "after-phase", ph, reads[nreads - 1].t.live_bytes, base_t);
                check_eq("total live_blocks", "after-phase", ph, reads[nreads - 1].t.live_blocks, base_tb);
            }
        }
        if (live_hdr) {
            win_truth_t[nwin] = base_t + phase_max;
            win_truth_d[nwin] = base_d + phase_max;
            window_take(win[nwin]);
            win_phase_read[nwin] = nreads - 1;
            nwin++;
        }
    }
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    read_now("after-join", phases - 1, 1);

    /* ---- evaluate every read ---- */
    uint64_t prev_t = 0, prev_d = 0;
    for (int r = 0; r < nreads; r++) {
        struct rd *x = &reads[r];
        if (x->t.live_bytes > x->t.peak_bytes) {
            printf("FAIL total live_bytes %llu > peak_bytes %llu at read '%s' (phase %d)\n",
                   (unsigned long long)x->t.live_bytes, (unsigned long long)x->t.peak_bytes, x->label, x->phase);
            fails++;
        }
        if (x->d.live_bytes > x->d.peak_bytes) {
            printf("FAIL %s live_bytes %llu > peak_bytes %llu at read '%s' (phase %d)\n", domname,
                   (unsigned long long)x->d.live_bytes, (unsigned long long)x->d.peak_bytes, x->label, x->phase);
            fails++;
        }
        if (x->t.peak_bytes < prev_t) {
            printf("FAIL total peak_bytes went down: %llu then %llu at read '%s' (phase %d)\n",
                   (unsigned long long)prev_t, (unsigned long long)x->t.peak_bytes, x->label, x->phase);
            fails++;
        }
        if (x->d.peak_bytes < prev_d) {
            printf("FAIL %s peak_bytes went down: %llu then %llu at read '%s' (phase %d)\n", domname,
                   (unsigned long long)prev_d, (unsigned long long)x->d.peak_bytes, x->label, x->phase);
            fails++;
        }
        prev_t = x->t.peak_bytes;
        prev_d = x->d.peak_bytes;
        if (x->checked) {   /* a held state was reached: the true peak so far is known */
            check_peak("total", x->label, x->phase, x->t.peak_bytes, x->truth_t);
            check_peak(domname, x->label, x->phase, x->d.peak_bytes, x->truth_d);
        }
    }
    /* window peak: per phase, since the reset at the baseline; combined with
     * live as the exporter does (tools/prom.c) */
    for (int w = 0; w < nwin; w++) {
        struct rd *x = &reads[win_phase_read[w]];
        uint64_t wt = win[w][HS_LIVE_TOTAL] > x->t.live_bytes ? win[w][HS_LIVE_TOTAL] : x->t.live_bytes;
        uint64_t wd = win[w][dom] > x->d.live_bytes ? win[w][dom] : x->d.live_bytes;
        check_peak("total window", "window after phase", x->phase, wt, win_truth_t[w]);
        check_peak("domain window", "window after phase", x->phase, wd, win_truth_d[w]);
    }
    struct rd *last = &reads[nreads - 1];
    printf("prog_peak: base total %llu B (%llu blocks), true peak total %llu B, %s %llu B; "
           "reported after join: total %llu, %s %llu; window reads %d; %d check(s) failed\n",
           (unsigned long long)base_t, (unsigned long long)base_tb, (unsigned long long)truth_t, domname,
           (unsigned long long)truth_d, (unsigned long long)last->t.peak_bytes, domname,
           (unsigned long long)last->d.peak_bytes, nwin, fails);
    printf("TRUE total=%llu dom=%s:%llu lastpeak_total=%llu lastpeak_dom=%llu\n", (unsigned long long)truth_t,
           domname, (unsigned long long)truth_d, (unsigned long long)last->t.peak_bytes,
           (unsigned long long)last->d.peak_bytes);
    return fails ? 1 : 0;
}
