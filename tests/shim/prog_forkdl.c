/*
 * tests/shim/prog_forkdl.c - fork while other threads take heap samples.
 *
 * Run under LD_PRELOAD=libheapshim.so (tests/26-counters.sh, fork-while-
 * sampling). Two threads malloc and free blocks of SIZE bytes without end
 * (at the default sampling rate, 64 KiB blocks are sampled about every
 * eighth call, and every sample looks at the loader's module list with
 * dl_iterate_phdr); the main thread forks N times, and each child
 * allocates 200 blocks and leaves with _exit. A child that inherits the
 * loader's list lock held by another thread waits for it forever at its
 * first sample (glibc 2.36 does not reset that lock in a child): the run
 * then never ends, which the test's timeout tells.
 *
 *   prog_forkdl [N [SIZE]]   defaults 1500 forks, 65536 bytes
 * exit 0 every child ended, 1 a child failed, 2 cannot run
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;
static size_t size = 65536;

static void *churn(void *arg)
{
    (void)arg;
    while (!stop) {
        char *p = malloc(size);
        if (p) *(volatile char *)p = 1;
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1500;
    if (argc > 2) size = (size_t)atol(argv[2]);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, churn, NULL) != 0) return 2;
    int bad = 0;
    for (int i = 0; i < n && !bad; i++) {
        pid_t c = fork();
        if (c < 0) return 2;
        if (c == 0) {
            for (int k = 0; k < 200; k++) {
                char *p = malloc(size);
                if (p) *(volatile char *)p = 1;
                free(p);
            }
            _exit(0);
        }
        int st;
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad = 1;
    }
    stop = 1;
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    printf("prog_forkdl: %d forks, %s\n", n, bad ? "a child failed" : "every child ended");
    return bad;
}
