/*
 * tests/shim/prog_samplecost.c - room: tests/. What one sample of a big
 * block costs, for tests/48-sample-realloc.sh sample-cost (under valgrind):
 * the shape of bench/wl_large's allocations, where nearly every allocation
 * is sampled, without its copies and page touches (those do not depend on
 * sampling), so that the sampled run minus the run at rate 0, divided by
 * the samples, is the sampler's own work per sample.
 *
 *   prog_samplecost [STEPS]   (1..10000000, default 20000) STEPS times:
 *       malloc a block of 64-127 KiB through two functions of this
 *       program, write its first and last byte, free the block of 8 steps
 *       before; errno is set before each malloc and must be as it was
 *       after (a sample may read unwind tables from files). Then reads
 *       its own profile file ($HEAPSHIM_DIR/<pid>.prof,
 *       include/heapshim/profile.h) and prints "samples S dropped D";
 *       "samples 0 dropped 0" when there is none (rate 0).
 *   prog_samplecost nofiles [STEPS]   the same loop with RLIMIT_NOFILE
 *       at 3, so that every file the sampler opens for unwind tables
 *       fails (EMFILE): errno must still be as it was after each malloc.
 *       Prints "errno-kept STEPS".
 * Exits 1 with a message when malloc changed errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <heapshim/profile.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone, no_icf))
#endif

static unsigned char *ring[8];

static long errno_changed;

NOINLINE static unsigned char *leaf_alloc(size_t n)
{
    errno = EDOM;
    unsigned char *p = malloc(n);
    if (!p) {
        fputs("prog_samplecost: out of memory\n", stderr);
        exit(1);
    }
    errno_changed += errno != EDOM;
    p[0] = 1;
    p[n - 1] = 2;
    __asm__ volatile("" ::: "memory");
    return p;
}

NOINLINE static void step(long k, size_t n)
{
    free(ring[k & 7]);
    ring[k & 7] = leaf_alloc(n);
    __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
    long steps = 20000;
    int nofiles = argc > 1 && !strcmp(argv[1], "nofiles");
    if (argc > 1 + nofiles) {
        char *end;
        steps = strtol(argv[1 + nofiles], &end, 10);
        if (*end || steps < 1 || steps > 10000000) {
            fprintf(stderr, "prog_samplecost: bad step count '%s': expected 1..10000000\n", argv[1 + nofiles]);
            return 2;
        }
    }
    if (nofiles) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1;
        rl.rlim_cur = 3;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            perror("prog_samplecost: setrlimit");
            return 1;
        }
    }
    uint64_t x = 88172645463325252ull;
    for (long k = 0; k < steps; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        step(k, (size_t)64 * 1024 + (size_t)(x % (64 * 1024)));
    }
    for (int i = 0; i < 8; i++) free(ring[i]);
    if (errno_changed) {
        fprintf(stderr, "prog_samplecost: malloc changed errno %ld times\n", errno_changed);
        return 1;
    }
    if (nofiles) {
        printf("errno-kept %ld\n", steps);
        return 0;
    }

    struct hs_prof_header h;
    memset(&h, 0, sizeof h);
    const char *dir = getenv("HEAPSHIM_DIR");
    char path[4200];
    snprintf(path, sizeof path, "%s/%d.prof", dir ? dir : "/nonexistent", (int)getpid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || h.magic != HS_PROF_MAGIC) {
            fputs("prog_samplecost: profile file unreadable\n", stderr);
            return 1;
        }
        close(fd);
    }
    printf("samples %llu dropped %llu\n", (unsigned long long)h.samples, (unsigned long long)h.dropped);
    return 0;
}
