/*
 * bench/fork_pages.c - room: bench/. What a fork costs in pages: forks N
 * children (default 300) that each allocate and free one small block and
 * leave through _exit; the parent allocates and frees one block after each
 * fork, then waits. Every page that either process writes after the fork
 * is a copy-on-write fault, and every page of code a child runs is a fault
 * too (the kernel does not copy the page table of a file mapping at a
 * fork), so `perf stat -e page-faults` over a run (children included)
 * divided by N is the faults per fork+exit (docs/benchmarks.md, "Pages
 * written at a fork"). Not part of `make bench`:
 *   make build/bench/fork_pages
 *   LD_PRELOAD=build/libheapshim.so perf stat -e page-faults build/bench/fork_pages 300
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char *end = NULL;
    long n = argc > 1 ? strtol(argv[1], &end, 10) : 300;
    if (argc > 2 || (argc > 1 && (*end || n < 1 || n > 1000000))) {
        fprintf(stderr, "fork_pages: bad count '%s': expected a number of forks from 1 to 1000000\n",
                argc > 1 ? argv[1] : "");
        return 2;
    }
    void *keep[64];   /* a parent with a heap of its own */
    for (int i = 0; i < 64; i++) keep[i] = malloc(100 + (size_t)i * 10);
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0) {
            perror("fork_pages: fork");
            return 1;
        }
        if (p == 0) {
            char *x = malloc(50);
            if (x) memset(x, 1, 50);
            free(x);
            _exit(0);
        }
        char *y = malloc(200);
        if (y) memset(y, 2, 200);
        free(y);
        waitpid(p, NULL, 0);
    }
    for (int i = 0; i < 64; i++) free(keep[i]);
    return 0;
}
