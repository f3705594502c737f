/*
 * tests/shim/prog_rawclone.c - a child made by the clone system call itself
 * (no CLONE_VM, none of glibc's fork handlers: container runtimes and
 * sandboxes do this) must not count into its parent.
 *
 * Usage: prog_rawclone N MODE [WARM]   (under the shim)
 * MODE clone: syscall(SYS_clone, SIGCHLD); MODE spawn: posix_spawn of
 * /bin/true (a child that shares the parent's memory until it execs);
 * MODE fork: glibc's fork(), whose handlers make the child's counters its
 * own at once: the parent's delta must be 0, and the child exits 0 only if
 * its own counters moved by exactly its N allocations and N/2 frees.
 * WARM: malloc+free pairs the parent makes first (a process that has made
 * a few clock looks tells a child by its fork word, not by getpid: both
 * ways are tested).
 * The child allocates N blocks of 100 B, frees half, and leaves by
 * _exit(0). The parent reads its own counters (hs_total_stats, the shim's
 * API) before and after, and prints "parent_allocs_delta D" (its own
 * allocations in between: none) and "parent_live_delta L".
 */
#include <dlfcn.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    uint64_t live_bytes, live_blocks, peak_bytes, allocs, reallocs, frees, failed;
} stats_t;                                  /* include/heapshim.h's hs_domain_stats_t */

extern char **environ;
static void *volatile sink;

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: prog_rawclone N clone|spawn|fork [WARM]\n");
        return 2;
    }
    int n = atoi(argv[1]);
    long warm = argc == 4 ? atol(argv[3]) : 0;
    for (long i = 0; i < warm; i++) {
        sink = malloc(100);
        free(sink);
    }
    int (*total)(stats_t *) = (int (*)(stats_t *))dlsym(RTLD_DEFAULT, "hs_total_stats");
    if (!total || n <= 0) {
        fprintf(stderr, "prog_rawclone: not under the shim, or a bad N\n");
        return 2;
    }
    void **v = malloc(sizeof(void *) * (size_t)n);   /* the child's array, made by the parent */
    if (!v) return 3;
    stats_t a, b;
    if (total(&a) != 0) return 3;
    pid_t pid;
    if (!strcmp(argv[2], "clone")) {
        pid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0L, 0L, 0L, 0L);
        if (pid == 0) {
            for (int i = 0; i < n; i++) {
                v[i] = malloc(100);
                sink = v[i];
            }
            for (int i = 0; i < n; i += 2) free(v[i]);
            _exit(0);
        }
    } else if (!strcmp(argv[2], "fork")) {
        pid = fork();
        if (pid == 0) {
            stats_t c0, c1;
            if (total(&c0) != 0) _exit(3);
            for (int i = 0; i < n; i++) {
                v[i] = malloc(100);
                sink = v[i];
            }
            for (int i = 0; i < n; i += 2) free(v[i]);
            if (total(&c1) != 0) _exit(3);
            _exit(c1.allocs - c0.allocs == (uint64_t)n && c1.frees - c0.frees == (uint64_t)(n + 1) / 2 ? 0 : 4);
        }
    } else {
        char *args[] = { (char *)"true", NULL };
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ) != 0) return 3;
    }
    if (pid < 0) return 3;
    int st = 0;
    waitpid(pid, &st, 0);
    if (total(&b) != 0) return 3;
    printf("child_status %d\nparent_allocs_delta %lld\nparent_live_delta %lld\n", st,
           (long long)(b.allocs - a.allocs), (long long)(b.live_bytes - a.live_bytes));
    free(v);
    return 0;
}
