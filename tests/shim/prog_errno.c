/*
 * tests/shim/prog_errno.c - the malloc family leaves errno alone when it
 * succeeds, as glibc's does: set to EDOM before each call, it must read EDOM
 * after. The main thread's first calls, eight threads' first calls (heap
 * and slot set-up), small, large, calloc and realloc, and a million mixed
 * calls (heap profile samples among them: their files are opened lazily).
 *
 * Run under LD_PRELOAD=libheapshim.so (tests/20-shim-env.sh), in every mode.
 * Prints "errno kept" and exits 0, or one line per call that changed it
 * and exits 1.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad;

static void check(const char *what, long i)
{
    if (errno == EDOM) return;
    if (bad++ < 10) printf("%s (call %ld): errno %d (%s), was EDOM\n", what, i, errno, strerror(errno));
}

static void calls(const char *who, long n)
{
    char what[64];
    snprintf(what, sizeof what, "%s malloc", who);
    errno = EDOM;
    void *p = malloc(24);
    check(what, 0);
    errno = EDOM;
    free(p);
    check("free", 0);
    errno = EDOM;
    p = calloc(10, 10);
    check("calloc", 0);
    errno = EDOM;
    p = realloc(p, 300000);
    check("realloc to a large block", 0);
    errno = EDOM;
    free(p);
    check("free of a large block", 0);
    for (long i = 0; i < n; i++) {
        errno = EDOM;
        void *q = malloc((size_t)(i % 5000) + 1);
        check(what, i);
        errno = EDOM;
        q = realloc(q, (size_t)(i % 7000) + 1);
        check("realloc", i);
        errno = EDOM;
        free(q);
        check("free", i);
        if (bad) return;
    }
}

static void *thread(void *a)
{
    (void)a;
    calls("thread", 20000);
    return NULL;
}

int main(void)
{
    calls("main", 0);
    for (int i = 0; i < 8; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, thread, NULL) != 0) return 2;
        pthread_join(t, NULL);
    }
    calls("main", 1000000);
    if (bad) return 1;
    printf("errno kept\n");
    return 0;
}
