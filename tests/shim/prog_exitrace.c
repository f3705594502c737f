/*
 * tests/shim/prog_exitrace.c - threads that are still allocating when main
 * returns, for tests/26-counters.sh (exit-total): the exit table
 * (HEAPSHIM_STATS=1) and report (HEAPSHIM_REPORT) are read while they run,
 * and their total row must still be the sum of the domain rows.
 *
 *   prog_exitrace [THREADS [MS]]   THREADS (default 4) threads churn blocks
 *       of 0-3000 bytes (small and large) with malloc, realloc and free; when
 *       the shim is preloaded they also churn obj and raw blocks through the
 *       hs_ API (looked up with dlsym), so that every domain moves. main
 *       sleeps MS milliseconds (default 50), prints "bye" and returns
 *       without stopping them.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void *(*alloc_fn)(size_t);
typedef void (*free_fn)(void *);

static alloc_fn obj_malloc, raw_malloc;
static free_fn obj_free, raw_free;

#define KEEP 64

static void *worker(void *arg)
{
    void *keep[KEEP] = { 0 }, *obj[KEEP] = { 0 }, *raw[KEEP] = { 0 };
    uint32_t s = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
    for (;;) {
        for (int i = 0; i < KEEP; i++) {
            s = s * 1103515245u + 12345u;
            size_t n = (s >> 8) % 3000;
            if (s & 0x10000) {
                void *q = realloc(keep[i], n + 1);
                if (q) keep[i] = q;
            } else {
                free(keep[i]);
                keep[i] = malloc(n);
            }
            if (keep[i]) memset(keep[i], 7, n);
            if (obj_malloc && obj_free) {
                obj_free(obj[i]);
                obj[i] = obj_malloc(n / 8);
            }
            if (raw_malloc && raw_free && !(i & 3)) {
                raw_free(raw[i]);
                raw[i] = raw_malloc(n / 2);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = argc > 1 ? atol(argv[1]) : 4, ms = argc > 2 ? atol(argv[2]) : 50;
    obj_malloc = (alloc_fn)dlsym(RTLD_DEFAULT, "hs_obj_malloc");
    obj_free = (free_fn)dlsym(RTLD_DEFAULT, "hs_obj_free");
    raw_malloc = (alloc_fn)dlsym(RTLD_DEFAULT, "hs_raw_malloc");
    raw_free = (free_fn)dlsym(RTLD_DEFAULT, "hs_raw_free");
    for (long i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, (void *)(uintptr_t)i) != 0) {
            perror("prog_exitrace: pthread_create");
            return 2;
        }
    }
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    puts("bye");
    return 0;   /* the workers are still allocating */
}
