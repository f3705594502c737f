/*
 * tests/shim/prog_samplerealloc.c - realloc of sampled blocks, for
 * tests/48-sample-realloc.sh: what the shim copies, and what the profile
 * says afterwards.
 *
 *   prog_samplerealloc chains [ROUNDS]   ROUNDS (default 300) chains: a
 *       block of 4 HS_SMALL_MAX-1 MiB (log-uniform), then 4 reallocs to
 *       4 HS_SMALL_MAX-2 MiB.
 *       Around each realloc every memcpy/memmove the shim makes is logged
 *       (this program defines both, exported with -rdynamic, so the shim's
 *       calls land here; glibc's own copies inside its realloc do not), and
 *       the bytes copied out of the old block or into the new one are
 *       counted. Expected, by the state of the block before and after
 *       (read from this process's own profile file, $HEAPSHIM_DIR/<pid>.prof,
 *       include/heapshim/profile.h):
 *         - a block behind the sampling header (sampled now or once): no
 *           copy by the shim, whatever the realloc does (glibc resizes it),
 *           except one of at most HS_SAMPLE_REJOIN_MAX usable bytes whose
 *           realloc is not sampled: one copy of its usable bytes, and it
 *           is a bare block again (core/sample.h; the default mode only);
 *         - a bare block whose realloc is sampled: exactly one copy of the
 *           kept bytes (the move behind the header);
 *         - a bare block whose realloc is not sampled: no copy by the shim.
 *       The profile: a sampled result has a live entry at its address with
 *       the requested size and the weight 1/(1-exp(-n/rate)) (fixed point,
 *       computed here with libm); the entry of the old block is gone unless
 *       the realloc left the block as it was (hs_realloc_stays: it fits and
 *       shrinks by less than a quarter; in HEAPSHIM_ALLOCATOR=malloc mode
 *       only behind the header), in which case it is unchanged; the
 *       header's samples and sampled_frees move by exactly that. Contents
 *       are checked after every step.
 *       Prints "sampled-kept S sampled-resampled R sampled-stays T
 *       bare-sampled B bare-plain P copied-sampled C copied-bare-sampled X
 *       kept-bare-sampled K sampled-rejoined J"; exits 1 with a message on
 *       any violation.
 *   prog_samplerealloc cost [STEPS]   the shape of bench/wl_large: 24 slots,
 *       each step replaces a random slot by a new block of 4 HS_SMALL_MAX to
 *       4 MiB (log-uniform), every fourth step also reallocs a random slot
 *       to such a size; the ends of every block are written and checked.
 *       For an instruction count under valgrind at two sampling rates
 *       (pages are not touched: the copies are what is measured). Prints a
 *       checksum.
 *
 *   prog_samplerealloc pages [N]   N small blocks (16 B-1 KiB; every third
 *       realloc'd, every second freed), then the resident KiB of the
 *       shim's writable data (its rw-p segment and .bss, from
 *       /proc/self/smaps) and of the profile file: "shim-data-kib D
 *       profile-file-kib F". Run at rate 0 and at a sampling rate with
 *       ASLR off, the difference is what the sampler's statics cost.
 *
 * Run under LD_PRELOAD=libheapshim.so with HEAPSHIM_PROFILE_RATE set.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <heapshim.h>
#include <heapshim/profile.h>
#include "../../core/sample.h"          /* HS_SAMPLE_REJOIN_MAX */

/* ---- the copy log: memcpy and memmove of the whole process -------------- */

struct copy { uintptr_t dst, src; size_t n; };
/* volatile, and a compiler barrier around each realloc: the compiler knows
 * realloc and would assume it reads and writes none of these */
static struct copy copylog[256];
static volatile unsigned nlog, lost;
static volatile int logging;
#define BARRIER() __asm__ __volatile__("" ::: "memory")

static void note(void *d, const void *s, size_t n)
{
    if (!logging) return;
    unsigned i = nlog;
    if (i < sizeof copylog / sizeof copylog[0]) {
        copylog[i] = (struct copy){ (uintptr_t)d, (uintptr_t)s, n };
        nlog = i + 1;
    } else {
        lost = lost + 1;
    }
}

/* glibc's, once main() has looked them up: the copies made while nothing is
 * logged cost what they cost without this program's (the cost mode) */
static void *(*real_memcpy)(void *, const void *, size_t);
static void *(*real_memmove)(void *, const void *, size_t);

/* byte loops through volatile pointers: never turned into a call to memcpy;
 * default visibility (the build hides symbols), so that the shim binds to them */
#define EXPORT __attribute__((visibility("default")))
EXPORT void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
    if (!logging && real_memcpy) return real_memcpy(d, s, n);
    note(d, s, n);
    volatile unsigned char *dp = d;
    const volatile unsigned char *sp = s;
    for (size_t i = 0; i < n; i++) dp[i] = sp[i];
    return d;
}

EXPORT void *memmove(void *d, const void *s, size_t n)
{
    if (!logging && real_memmove) return real_memmove(d, s, n);
    note(d, s, n);
    volatile unsigned char *dp = d;
    const volatile unsigned char *sp = s;
    if (dp < sp)
        for (size_t i = 0; i < n; i++) dp[i] = sp[i];
    else
        for (size_t i = n; i-- > 0;) dp[i] = sp[i];
    return d;
}

static int overlaps(uintptr_t a, size_t an, uintptr_t b, size_t bn) { return a < b + bn && b < a + an; }

/* bytes logged that were read from [old, old+on) or written to [nw, nw+nn) */
static size_t copied(uintptr_t old, size_t on, const void *nw, size_t nn)
{
    size_t t = 0;
    for (unsigned i = 0; i < nlog; i++)
        if (overlaps(copylog[i].src, copylog[i].n, old, on) ||
            overlaps(copylog[i].dst, copylog[i].n, (uintptr_t)nw, nn))
            t += copylog[i].n;
    return t;
}

/* ---- this process's profile file ------------------------------------------------- */

static struct hs_prof_header hdr;
static struct hs_prof_live *live;          /* mmap'd: not on the heap under test */
static char prof_path[4200];
static double rate;

static void die(const char *m)
{
    fprintf(stderr, "prog_samplerealloc: %s\n", m);
    exit(1);
}

static void read_profile(void)
{
    memset(&hdr, 0, sizeof hdr);
    int fd = open(prof_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;                    /* no sample yet */
    if (pread(fd, &hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || hdr.magic != HS_PROF_MAGIC ||
        hdr.version != HS_PROF_VERSION || hdr.live_hwm > HS_PROF_LIVE)
        die("profile file unreadable or of another layout");
    size_t want = (size_t)hdr.live_hwm * sizeof *live;
    if (want && pread(fd, live, want, (off_t)hdr.live_off) != (ssize_t)want) die("short read of the live table");
    close(fd);
}

/* the live entry of p, or NULL */
static const struct hs_prof_live *entry_at(uintptr_t a)
{
    for (uint32_t i = 0; i < hdr.live_hwm; i++)
        if (live[i].addr == (uint64_t)a) return &live[i];
    return NULL;
}
static const struct hs_prof_live *entry_of(const void *p)
{
    return entry_at((uintptr_t)p);
    return NULL;
}

/* the weight the shim must record for a sampled request of n bytes */
static void expect_weight(const struct hs_prof_live *e, size_t n, const char *what)
{
    double wc = 1.0 / -expm1(-(double)n / rate);
    double w = wc * HS_PROF_WEIGHT_ONE, b = wc * (double)n;
    if (e->size != n || fabs((double)e->weight - w) > 1e-6 * w + 1 || fabs((double)e->est_bytes - b) > 1e-6 * b + 1) {
        fprintf(stderr, "prog_samplerealloc: %s: entry size %llu weight %llu est %llu; expected size %zu weight %.0f est %.0f\n",
                what, (unsigned long long)e->size, (unsigned long long)e->weight,
                (unsigned long long)e->est_bytes, n, w, b);
        exit(1);
    }
}

/* ---- sizes and contents ------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* log-uniform in [lo, hi) */
static size_t logu(size_t lo, size_t hi)
{
    double u = (double)(rnd() >> 11) / 9007199254740992.0;
    return (size_t)((double)lo * pow((double)hi / (double)lo, u));
}

static void fill(unsigned char *p, size_t from, size_t n, unsigned salt)
{
    for (size_t i = (from + 60) / 61 * 61; i < n; i += 61) p[i] = (unsigned char)(i * 7 + salt);
    if (n) p[n - 1] = (unsigned char)((n - 1) * 7 + salt);
}

static void verify(const unsigned char *p, size_t n, unsigned salt)
{
    for (size_t i = 0; i < n; i += 61)
        if (p[i] != (unsigned char)(i * 7 + salt)) die("realloc lost contents");
}

/* sizes well above the arenas' (HS_SMALL_MAX): every block is glibc's */
#define LO (4 * (size_t)HS_SMALL_MAX)

static int chains(long rounds)
{
    live = mmap(NULL, (size_t)HS_PROF_LIVE * sizeof *live, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (live == MAP_FAILED) die("mmap failed");
    const char *dir = getenv("HEAPSHIM_DIR"), *r = getenv("HEAPSHIM_PROFILE_RATE");
    if (!dir || !r) die("HEAPSHIM_DIR and HEAPSHIM_PROFILE_RATE (bytes) must be set");
    rate = strtod(r, NULL);
    const char *mode = getenv("HEAPSHIM_ALLOCATOR");
    int malloc_mode = mode && !strcmp(mode, "malloc");
    if (!(rate > 0)) die("HEAPSHIM_PROFILE_RATE must be a plain number of bytes here");
    snprintf(prof_path, sizeof prof_path, "%s/%d.prof", dir, (int)getpid());

    unsigned long long n_kept = 0, n_resampled = 0, n_stays = 0, n_bare_sampled = 0, n_bare_plain = 0, n_rejoined = 0;
    unsigned long long c_sampled = 0, c_bare_sampled = 0, k_bare_sampled = 0;
    for (long k = 0; k < rounds; k++) {
        unsigned salt = (unsigned)k;
        size_t n = logu(LO, 1 << 20);
        unsigned char *p = malloc(n);
        if (!p) die("out of memory");
        fill(p, 0, n, salt);
        read_profile();
        const struct hs_prof_live *e = entry_of(p);
        int header = e != NULL;            /* behind the sampling header: sampled now or once */
        int sampled = header;
        if (e) expect_weight(e, n, "sampled malloc");
        for (int step = 0; step < 4; step++) {
            size_t m = logu(LO, 2 << 20), keep = m < n ? m : n;
            size_t usable = malloc_usable_size(p);
            /* in malloc mode glibc decides a bare block's realloc: never "stays" */
            int stays = m <= usable && 4 * m > 3 * usable && (header || !malloc_mode);
            struct hs_prof_header before = hdr;
            uint64_t esize = e ? e->size : 0;
            uintptr_t pa = (uintptr_t)p;
            nlog = lost = 0;
            logging = 1;
            BARRIER();
            unsigned char *q = realloc(p, m);
            BARRIER();
            logging = 0;
            if (!q) die("realloc failed");
            if (lost) die("more copies than the log holds");
            size_t c = copied(pa, n, q, m);
            verify(q, keep, salt);
            read_profile();
            const struct hs_prof_live *f = entry_of(q);
            uint64_t new_samples = hdr.samples - before.samples, new_frees = hdr.sampled_frees - before.sampled_frees;
            char what[160];
            snprintf(what, sizeof what, "round %ld step %d: %zu -> %zu bytes (%s block%s)", k, step, n, m,
                     sampled ? "sampled" : header ? "once sampled" : "bare", stays ? ", fits" : "");
            if (stays) {
                /* the block as it was: nothing allocated, nothing charged */
                if ((uintptr_t)q != pa || c || new_samples || new_frees || (sampled && (!f || f->size != esize)) || (!sampled && f)) {
                    fprintf(stderr, "prog_samplerealloc: %s: moved, copied %zu or changed the profile (%llu samples, %llu frees)\n",
                            what, c, (unsigned long long)new_samples, (unsigned long long)new_frees);
                    return 1;
                }
                if (sampled) n_stays++;
                n = m;
                continue;
            }
            if ((uintptr_t)q != pa && entry_at(pa) && !overlaps(pa, 1, (uintptr_t)q, m)) {
                fprintf(stderr, "prog_samplerealloc: %s: the old block's sample is still live\n", what);
                return 1;
            }
            if (new_frees != (uint64_t)sampled || new_samples != (uint64_t)(f != NULL)) {
                fprintf(stderr, "prog_samplerealloc: %s: %llu sampled frees and %llu samples, expected %d and %d\n",
                        what, (unsigned long long)new_frees, (unsigned long long)new_samples, sampled, f != NULL);
                return 1;
            }
            if (f) expect_weight(f, m, what);
            /* (in malloc mode every block of ours stays behind its header) */
            int rejoin = !malloc_mode && header && !f && usable <= HS_SAMPLE_REJOIN_MAX;
            if (rejoin) {
                /* a small block behind the header, not sampled again: back
                 * to a bare block, one copy of its usable bytes */
                size_t once = usable < m ? usable : m;
                if (c != once) {
                    fprintf(stderr, "prog_samplerealloc: %s: the shim copied %zu bytes, expected one copy of %zu (a block of at most %zu bytes leaving the header)\n",
                            what, c, once, (size_t)HS_SAMPLE_REJOIN_MAX);
                    return 1;
                }
                n_rejoined++;
            } else if (header) {
                /* behind the header: glibc resizes the block, the shim copies nothing */
                if (c) {
                    fprintf(stderr, "prog_samplerealloc: %s: the shim copied %zu bytes of a block behind the sampling header\n", what, c);
                    return 1;
                }
                c_sampled += c;
                if (f) n_resampled++;
                else n_kept++;
            } else if (f) {
                /* bare into a sampled block: one copy of what is kept (the
                 * whole usable size: the shim does not know the request) */
                size_t once = usable < m ? usable : m;
                if (c != once) {
                    fprintf(stderr, "prog_samplerealloc: %s: the shim copied %zu bytes, expected one copy of %zu\n", what, c, once);
                    return 1;
                }
                c_bare_sampled += c;
                k_bare_sampled += once;
                n_bare_sampled++;
            } else {
                if (c) {
                    fprintf(stderr, "prog_samplerealloc: %s: the shim copied %zu bytes of a bare block\n", what, c);
                    return 1;
                }
                n_bare_plain++;
            }
            header = (header && !rejoin) || f != NULL;
            sampled = f != NULL;
            e = f;
            fill(q, keep, m, salt);
            p = q;
            n = m;
        }
        uintptr_t pa = (uintptr_t)p;
        free(p);
        read_profile();
        if (entry_at(pa)) die("a freed block is still in the live profile");
    }
    printf("sampled-kept %llu sampled-resampled %llu sampled-stays %llu bare-sampled %llu bare-plain %llu "
           "copied-sampled %llu copied-bare-sampled %llu kept-bare-sampled %llu sampled-rejoined %llu\n",
           n_kept, n_resampled, n_stays, n_bare_sampled, n_bare_plain, c_sampled, c_bare_sampled, k_bare_sampled,
           n_rejoined);
    return 0;
}

/* ---- cost ------------------------------------------------------------------------- */

static int cost(long steps)
{
    enum { SLOTS = 24 };
    unsigned char *blk[SLOTS] = { 0 };
    size_t len[SLOTS] = { 0 };
    unsigned char tag[SLOTS] = { 0 };
    unsigned long long sum = 0;
    for (long k = 0; k < steps; k++) {
        /* a slot replaced: freed, a new block */
        int i = (int)(rnd() >> 33) % SLOTS;
        if (blk[i] && (blk[i][0] != tag[i] || blk[i][len[i] - 1] != tag[i])) die("a block lost its contents");
        free(blk[i]);
        len[i] = logu(LO, 4 << 20);
        if (!(blk[i] = malloc(len[i]))) die("out of memory");
        tag[i] = (unsigned char)(k * 7 + 1);
        blk[i][0] = blk[i][len[i] - 1] = tag[i];
        if (k % 4) continue;
        /* every fourth step a slot resized */
        i = (int)(rnd() >> 33) % SLOTS;
        size_t m = logu(LO, 4 << 20);
        unsigned char *q = realloc(blk[i], m);
        if (!q) die("out of memory");
        if (len[i] && (q[0] != tag[i] || (m >= len[i] && q[len[i] - 1] != tag[i]))) die("realloc lost contents");
        sum += m;
        tag[i] = (unsigned char)(k * 7 + 3);
        q[0] = q[m - 1] = tag[i];
        blk[i] = q;
        len[i] = m;
    }
    for (int i = 0; i < SLOTS; i++) free(blk[i]);
    printf("cost %ld steps checksum %llu\n", steps, sum);
    return 0;
}

/* ---- pages ------------------------------------------------------------------------- */

/* Rss (KiB) of the shim's writable data (its rw-p mapping and the anonymous
 * one right after it: .bss) and of this process's profile file, from
 * /proc/self/smaps (exact: counted from the page tables) */
static int pages(long n)
{
    /* small blocks, some kept, some reallocs: samples and sampled frees */
    void **keep = calloc((size_t)n, sizeof *keep);
    if (!keep) die("out of memory");
    for (long k = 0; k < n; k++) {
        size_t m = 16 + (size_t)(rnd() >> 40) % 1000;
        unsigned char *p = malloc(m);
        if (!p) die("out of memory");
        p[0] = p[m - 1] = 1;
        if (k % 3 == 0) {
            unsigned char *q = realloc(p, m * 3);
            if (!q) die("out of memory");
            p = q;
        }
        if (k % 2) free(p);
        else keep[k] = p;
    }
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) die("cannot read /proc/self/smaps");
    char line[4400];
    long data = 0, prof = 0;
    int in = 0, after = 0;             /* in: counting this mapping; after: the shim's rw-p was the last */
    unsigned long prev_end = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        char perm[8], name[4200] = "";
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %4199[^\n]", &a, &b, perm, name) >= 3) {
            int shim = strstr(name, "libheapshim") != NULL;
            in = 0;
            if (shim && perm[1] == 'w') in = 1, after = 1;
            else if (after && !name[0] && a == prev_end && perm[1] == 'w') in = 1, after = 0;
            else if (strstr(name, ".prof")) in = 2, after = 0;
            else after = 0;
            prev_end = b;
            continue;
        }
        long kb;
        if (in && sscanf(line, "Rss: %ld kB", &kb) == 1) {
            if (in == 1) data += kb;
            else prof += kb;
        }
    }
    fclose(f);
    for (long k = 0; k < n; k++) free(keep[k]);
    free(keep);
    printf("shim-data-kib %ld profile-file-kib %ld\n", data, prof);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) die("usage: prog_samplerealloc chains|cost|pages [COUNT]");
    real_memcpy = (void *(*)(void *, const void *, size_t))dlsym(RTLD_NEXT, "memcpy");
    real_memmove = (void *(*)(void *, const void *, size_t))dlsym(RTLD_NEXT, "memmove");
    long count = argc > 2 ? strtol(argv[2], NULL, 10) : 300;
    if (count < 1) die("COUNT must be a positive number");
    if (!strcmp(argv[1], "chains")) return chains(count);
    if (!strcmp(argv[1], "cost")) return cost(count);
    if (!strcmp(argv[1], "pages")) return pages(count);
    die("unknown mode (accepted: chains, cost, pages)");
}
