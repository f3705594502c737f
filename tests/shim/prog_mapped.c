/*
 * tests/shim/prog_mapped.c - mapped memory counted exactly (tests/31-mapped.sh).
 *
 * Runs under the shim and reads its own live file (a MAP_SHARED mapping of
 * a file, which the shim does not count) to check the mapped block of
 * include/heapshim/live.h against what this program knows it mapped.
 *
 *   prog_mapped exact [DOM]     mmap/munmap/mremap/mprotect/madvise of known
 *                               sizes; every figure asserted after each step,
 *                               peaks included; MAP_SHARED, file mappings,
 *                               glibc's large malloc blocks and the shim's
 *                               arenas not counted. DOM (raw|mem|obj, default
 *                               mem): the domain the bytes must land in.
 *   prog_mapped race T N        T threads x N rounds of mmap/mremap/munmap,
 *                               one reader checking every read (live <= peak,
 *                               total = sum of domains, nothing going back);
 *                               exact final figures
 *   prog_mapped fork            a fork child starts from the parent's figures
 *                               (its own live file) and counts on its own
 *   prog_mapped hold MIB SECS   map MIB MiB, touch it, sleep (for readers in
 *                               another process)
 * Prints "ok ..." lines, "FAIL ..." and exits 1 on a mismatch, 2 when the
 * live file is not there.
 */
#include <heapshim/live.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096ul
static const volatile struct hs_live_header *hdr;
static int fails;

static void open_live(void)
{
    const char *dir = getenv("HEAPSHIM_DIR");
    char path[512];
    if (dir && *dir) snprintf(path, sizeof path, "%s/%d", dir, (int)getpid());
    else snprintf(path, sizeof path, "/dev/shm/heapshim-%u/%d", (unsigned)getuid(), (int)getpid());
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        printf("no live file %s (run under the shim)\n", path);
        exit(2);
    }
    void *m = mmap(NULL, sizeof(struct hs_live_header), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) exit(2);
    hdr = m;
    if (hdr->magic != HS_LIVE_MAGIC || hdr->version != HS_LIVE_VERSION) {
        printf("%s: not a live file of version %u\n", path, HS_LIVE_VERSION);
        exit(2);
    }
}

/* the mapped block as one state: mseq even and unchanged around the copy */
static void read_mapped(struct hs_live_mapped *out)
{
    for (;;) {
        uint64_t s = __atomic_load_n(&hdr->mseq, __ATOMIC_ACQUIRE);
        if (s & 1) continue;
        const volatile uint64_t *src = (const volatile uint64_t *)&hdr->mapped;
        uint64_t *dst = (uint64_t *)out;
        for (size_t k = 0; k < sizeof *out / 8; k++) dst[k] = __atomic_load_n(&src[k], __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&hdr->mseq, __ATOMIC_RELAXED) == s) return;
    }
}

/* ---- exact --------------------------------------------------------------- */

static int dom = 1;                 /* where the bytes must land */
static struct hs_live_mapped want;  /* what this program knows */

static void expect(const char *step)
{
    struct hs_live_mapped got;
    read_mapped(&got);
    /* every byte in one domain: the others stay 0 */
    int bad = memcmp(&got, &want, sizeof got) != 0;
    printf("%s %-44s live %8llu peak %8llu  maps %llu unmaps %llu remaps %llu protects %llu"
           " discards %llu/%llu\n", bad ? "FAIL" : "ok  ", step,
           (unsigned long long)got.live_bytes[3], (unsigned long long)got.peak_bytes[3],
           (unsigned long long)got.maps, (unsigned long long)got.unmaps,
           (unsigned long long)got.remaps, (unsigned long long)got.protects,
           (unsigned long long)got.discards, (unsigned long long)got.discard_bytes);
    if (bad) {
        fails++;
        for (int i = 0; i < 4; i++)
            printf("     [%d] live %llu (want %llu) peak %llu (want %llu)\n", i,
                   (unsigned long long)got.live_bytes[i], (unsigned long long)want.live_bytes[i],
                   (unsigned long long)got.peak_bytes[i], (unsigned long long)want.peak_bytes[i]);
        printf("     want maps %llu unmaps %llu remaps %llu protects %llu discards %llu/%llu\n",
               (unsigned long long)want.maps, (unsigned long long)want.unmaps,
               (unsigned long long)want.remaps, (unsigned long long)want.protects,
               (unsigned long long)want.discards, (unsigned long long)want.discard_bytes);
    }
}

static void add(int64_t bytes)
{
    want.live_bytes[dom] += (uint64_t)bytes;
    want.live_bytes[3] += (uint64_t)bytes;
    for (int i = 0; i < 4; i++)
        if (want.live_bytes[i] > want.peak_bytes[i]) want.peak_bytes[i] = want.live_bytes[i];
}

static char *map(size_t n, int prot, int flags)
{
    char *p = mmap(NULL, n, prot, flags, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

static int run_exact(void)
{
    const int AP = MAP_PRIVATE | MAP_ANONYMOUS;
    expect("start: nothing mapped by the program");

    char *a = map(10 * PG, PROT_READ | PROT_WRITE, AP);
    memset(a, 1, 10 * PG);
    want.maps++, add(10 * PG);
    expect("mmap 10 pages");

    char *b = map(100 * PG, PROT_NONE, AP | MAP_NORESERVE);
    want.maps++;
    expect("mmap 100 pages PROT_NONE (a reservation)");

    if (mprotect(b + 10 * PG, 30 * PG, PROT_READ | PROT_WRITE)) return perror("mprotect"), 1;
    want.protects++, add(30 * PG);
    expect("mprotect 30 of them read-write");

    if (mprotect(b + 30 * PG, 20 * PG, PROT_NONE)) return perror("mprotect"), 1;
    want.protects++, add(-10 * (int64_t)PG);      /* 10 of the 20 were open */
    expect("mprotect 20 (10 open) back to PROT_NONE");

    if (munmap(a, 4 * PG)) return perror("munmap"), 1;
    want.unmaps++, add(-4 * (int64_t)PG);
    expect("munmap the first 4 pages of 10");

    char *c = mremap(a + 4 * PG, 6 * PG, 20 * PG, MREMAP_MAYMOVE);
    if (c == MAP_FAILED) return perror("mremap"), 1;
    want.remaps++, add(14 * PG);
    expect("mremap 6 pages -> 20 (may move)");

    char *d = mremap(c, 20 * PG, 2 * PG, 0);
    if (d != c) return perror("mremap shrink"), 1;
    want.remaps++, add(-18 * (int64_t)PG);
    expect("mremap 20 pages -> 2 (in place)");

    if (madvise(b + 10 * PG, 5 * PG, MADV_DONTNEED)) return perror("madvise"), 1;
    want.discards++, want.discard_bytes += 5 * PG;
    expect("madvise DONTNEED 5 counted pages (live stays)");
    if (madvise(b + 60 * PG, 5 * PG, MADV_DONTNEED)) return perror("madvise"), 1;
    expect("madvise DONTNEED over PROT_NONE (not counted)");

    char *s = map(8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    memset(s, 2, 8 * PG);
    expect("MAP_SHARED anonymous: not counted");
    munmap(s, 8 * PG);
    expect("its munmap: nothing changes");

    int fd = open("/proc/self/exe", O_RDONLY);
    char *f = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f == MAP_FAILED) return perror("mmap file"), 1;
    expect("private file mapping: not counted");
    /* a file page mapped over one counted page: that page is gone */
    char *g = mmap(b + 10 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    if (g == MAP_FAILED) return perror("mmap fixed"), 1;
    want.unmaps++, add(-(int64_t)PG);
    expect("MAP_FIXED file page over a counted page");
    close(fd);
    munmap(f, 2 * PG);

    /* glibc's own mappings: a large malloc block (mmap'd by glibc itself,
     * counted by the heap) and a thread's stack */
    char *big = malloc(64ul << 20);
    memset(big, 3, 64ul << 20);
    expect("malloc(64 MiB): glibc's mapping, not counted");
    free(big);
    expect("its free");
    void **small = malloc(20000 * sizeof *small);
    for (int i = 0; i < 20000; i++) small[i] = malloc(64 + i % 400);   /* the shim's arenas */
    uint64_t arenas = __atomic_load_n(&hdr->arenas_mapped, __ATOMIC_RELAXED);
    expect(arenas ? "20000 small mallocs (the shim's arenas): not counted"
                  : "20000 small mallocs (no arenas in this mode)");
    for (int i = 0; i < 20000; i++) free(small[i]);
    free(small);

    /* calls the kernel refuses change nothing */
    if (munmap(d, SIZE_MAX - 8191) == 0 || munmap(d + 1, PG) == 0 || munmap(d, 0) == 0 ||
        mremap(d, SIZE_MAX - 8191, PG, 0) != MAP_FAILED)
        return printf("FAIL a bad munmap/mremap succeeded\n"), 1;
    expect("refused munmap/mremap (huge, unaligned, empty)");

    /* the peak so far, then everything given back */
    char *e = map(200 * PG, PROT_READ | PROT_WRITE, AP);
    want.maps++, add(200 * PG);
    expect("mmap 200 pages (a new peak)");
    munmap(e, 200 * PG);
    want.unmaps++, add(-200 * (int64_t)PG);
    expect("munmap them (peak stays)");
    munmap(b, 100 * PG);
    want.unmaps++, add(-(int64_t)want.live_bytes[3] + 2 * (int64_t)PG);
    expect("munmap the reservation");
    munmap(d, 2 * PG);
    want.unmaps++, add(-2 * (int64_t)PG);
    expect("munmap the rest: live 0");
    printf("%s: arenas mapped during the run: %llu\n", fails ? "FAIL" : "PASS",
           (unsigned long long)arenas);
    return fails ? 1 : 0;
}

/* ---- race ------------------------------------------------------------------- */

static int nthreads, rounds;
static volatile int done_flag;
static uint64_t t_maps[64], t_unmaps[64], t_remaps[64];
static char *t_keep[64];

static void *racer(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned seed = (unsigned)id * 2654435761u + 1;
    for (int r = 0; r < rounds; r++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = (1 + (seed >> 16) % 8) * PG;
        char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) abort();
        t_maps[id]++;
        p[0] = 1;
        if (r % 3 == 0) {
            char *q = mremap(p, n, n + 3 * PG, MREMAP_MAYMOVE);
            if (q == MAP_FAILED) abort();
            t_remaps[id]++;
            p = q;
            n += 3 * PG;
        }
        munmap(p, n);
        t_unmaps[id]++;
    }
    /* each thread keeps (id + 1) pages */
    t_keep[id] = mmap(NULL, (size_t)(id + 1) * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    t_maps[id]++;
    return NULL;
}

static uint64_t reads, bad_reads;

static void *reader(void *arg)
{
    (void)arg;
    struct hs_live_mapped prev;
    memset(&prev, 0, sizeof prev);
    while (!__atomic_load_n(&done_flag, __ATOMIC_ACQUIRE)) {
        struct hs_live_mapped m;
        read_mapped(&m);
        reads++;
        int bad = 0;
        for (int i = 0; i < 4; i++) {
            if (m.live_bytes[i] > m.peak_bytes[i]) bad = 1;         /* live <= peak */
            if (m.peak_bytes[i] < prev.peak_bytes[i]) bad = 1;      /* peaks never go back */
        }
        if (m.live_bytes[0] + m.live_bytes[1] + m.live_bytes[2] != m.live_bytes[3]) bad = 1;
        if (m.maps < prev.maps || m.unmaps < prev.unmaps || m.remaps < prev.remaps) bad = 1;
        if (m.unmaps > m.maps) bad = 1;                    /* nothing unmapped before it was mapped */
        if (bad && bad_reads++ < 3)
            printf("FAIL read %llu: live %llu peak %llu (sum of domains %llu) maps %llu unmaps %llu\n",
                   (unsigned long long)reads, (unsigned long long)m.live_bytes[3],
                   (unsigned long long)m.peak_bytes[3],
                   (unsigned long long)(m.live_bytes[0] + m.live_bytes[1] + m.live_bytes[2]),
                   (unsigned long long)m.maps, (unsigned long long)m.unmaps);
        prev = m;
    }
    return NULL;
}

static int run_race(void)
{
    struct hs_live_mapped base;
    read_mapped(&base);
    pthread_t th[64], rd;
    pthread_create(&rd, NULL, reader, NULL);
    for (int i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, racer, (void *)(intptr_t)i);
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    __atomic_store_n(&done_flag, 1, __ATOMIC_RELEASE);
    pthread_join(rd, NULL);
    struct hs_live_mapped m;
    read_mapped(&m);
    uint64_t maps = 0, unmaps = 0, remaps = 0, keep = 0;
    for (int i = 0; i < nthreads; i++) {
        maps += t_maps[i], unmaps += t_unmaps[i], remaps += t_remaps[i];
        keep += (uint64_t)(i + 1) * PG;
    }
    int bad = m.live_bytes[3] - base.live_bytes[3] != keep || m.maps - base.maps != maps ||
              m.unmaps - base.unmaps != unmaps || m.remaps - base.remaps != remaps || bad_reads;
    printf("%s race %d threads x %d rounds: live %llu (want %llu) maps %llu (want %llu) unmaps %llu (want %llu)"
           " remaps %llu (want %llu) peak %llu; %llu reads, %llu bad\n", bad ? "FAIL" : "PASS",
           nthreads, rounds, (unsigned long long)(m.live_bytes[3] - base.live_bytes[3]),
           (unsigned long long)keep, (unsigned long long)(m.maps - base.maps), (unsigned long long)maps,
           (unsigned long long)(m.unmaps - base.unmaps), (unsigned long long)unmaps,
           (unsigned long long)(m.remaps - base.remaps), (unsigned long long)remaps,
           (unsigned long long)m.peak_bytes[3], (unsigned long long)reads,
           (unsigned long long)bad_reads);
    return bad ? 1 : 0;
}

/* ---- fork ----------------------------------------------------------------- */

static int run_fork(void)
{
    want.maps = 1;
    add(4 * PG);
    map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    expect("parent: 4 pages before the fork");
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        /* A fork child's counters become a file when it shows it will live
         * (interpose/lifecycle.c): setsid() is one of the signs */
        setsid();
        munmap((void *)hdr, sizeof(struct hs_live_header));
        open_live();                   /* the child's own file */
        expect("child: the parent's figures at the fork");
        map(2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        want.maps++, add(2 * PG);
        expect("child: 2 pages more, its own");
        fflush(stdout);
        _exit(fails ? 1 : 0);
    }
    int st = 0;
    waitpid(c, &st, 0);
    expect("parent: unchanged by the child");
    int ok = !fails && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("%s: fork\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: prog_mapped exact [raw|mem|obj] | race THREADS ROUNDS | hold MIB SECS\n");
        return 2;
    }
    open_live();
    if (!strcmp(argv[1], "exact")) {
        if (argc > 2) dom = !strcmp(argv[2], "raw") ? 0 : !strcmp(argv[2], "obj") ? 2 : 1;
        return run_exact();
    }
    if (!strcmp(argv[1], "fork")) return run_fork();
    if (!strcmp(argv[1], "race") && argc == 4) {
        nthreads = atoi(argv[2]);
        rounds = atoi(argv[3]);
        if (nthreads < 1 || nthreads > 64 || rounds < 1) return 2;
        return run_race();
    }
    if (!strcmp(argv[1], "hold") && argc == 4) {
        size_t n = (size_t)atoi(argv[2]) << 20;
        char *p = map(n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        memset(p, 1, n);
        printf("ready\n");
        fflush(stdout);
        sleep((unsigned)atoi(argv[3]));
        return 0;
    }
    return 2;
}
