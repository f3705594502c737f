/*
 * tests/shim/prog_phases.c - a heap that follows a script, for the exporter
 * suites (tests/46-serve-exits.sh, tests/44-fleet.sh): short-lived workers
 * and spikes whose size and moment are known by construction.
 *
 * Run under LD_PRELOAD=libheapshim.so. Each argument is one step, in order:
 *   aBYTES        malloc one block of BYTES and keep it
 *   nCOUNTxSIZE   malloc COUNT blocks of SIZE and keep them
 *   f             free every block kept
 *   sMS           sleep MS milliseconds
 *   wPATH         wait (up to 60 s) until PATH exists
 *   tPATH         create PATH (empty)
 *   uPATH         write to PATH the sum of malloc_usable_size() of the
 *                 blocks kept (what the shim counts as their live bytes)
 *   e             exec this program (/proc/self/exe) with the remaining
 *                 steps (the new image's counters start from zero)
 *   cN            fork N children, one after the other; each runs the
 *                 remaining steps and exits; the parent waits for each and
 *                 then ends (fork and wait allocate nothing)
 * Blocks are written once (one byte per page) so that they are real
 * memory. Exit status 2 with one line on a bad step.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KEPT 1000000
static void *kept[MAX_KEPT];
static size_t nkept;

static void nap(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {}
}

static void keep(size_t size)
{
    if (nkept >= MAX_KEPT) {
        fprintf(stderr, "prog_phases: more than %d blocks kept\n", MAX_KEPT);
        exit(2);
    }
    char *p = malloc(size);
    if (!p) {
        fprintf(stderr, "prog_phases: malloc(%zu) failed\n", size);
        exit(1);
    }
    for (size_t o = 0; o < size; o += 4096) p[o] = 1;
    kept[nkept++] = p;
}

static unsigned long long num(const char *s, const char *step)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || (*end && *end != 'x')) {
        fprintf(stderr, "prog_phases: bad step '%s' (accepted: aBYTES nCOUNTxSIZE f sMS wPATH tPATH uPATH cN e)\n", step);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        switch (a[0]) {
        case 'a': keep((size_t)num(a + 1, a)); break;
        case 'n': {
            unsigned long long c = num(a + 1, a);
            const char *x = strchr(a, 'x');
            if (!x) num("", a);
            size_t sz = (size_t)num(x + 1, a);
            for (unsigned long long k = 0; k < c; k++) keep(sz);
            break;
        }
        case 'f':
            while (nkept) free(kept[--nkept]);
            break;
        case 's': nap((long)num(a + 1, a)); break;
        case 'w':
            for (int k = 0; k < 6000 && access(a + 1, F_OK) != 0; k++) nap(10);
            break;
        case 't': {
            int fd = open(a + 1, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            if (fd >= 0) close(fd);
            break;
        }
        case 'u': {
            size_t sum = 0;
            for (size_t k = 0; k < nkept; k++) sum += malloc_usable_size(kept[k]);
            FILE *f = fopen(a + 1, "we");
            if (f) {
                fprintf(f, "%zu\n", sum);
                fclose(f);
            }
            break;
        }
        case 'e':
            argv[i] = argv[0];
            execv("/proc/self/exe", argv + i);
            fprintf(stderr, "prog_phases: exec failed\n");
            return 1;
        case 'c': {
            unsigned long long nc = num(a + 1, a);
            for (unsigned long long k = 0; k < nc; k++) {
                pid_t pid = fork();
                if (pid == 0) {
                    argv[i] = argv[0];
                    return main(argc - i, argv + i);
                }
                if (pid < 0 || waitpid(pid, NULL, 0) != pid) return 1;
            }
            return 0;
        }
        default: num("", a);
        }
    }
    return 0;
}
