/*
 * tests/shim/glibc_arenas.c - whose thread brings glibc's allocator up.
 *
 * Run under the shim by tests/25-glibc-threads.sh. The main thread makes no
 * glibc allocation of its own before it starts N workers; each worker makes
 * one large (glibc-served) allocation and holds it while the main thread
 * counts glibc's arenas with malloc_info(). If the shim brought glibc up on
 * the main thread at start (as it must), the main thread owns main_arena and
 * each worker makes its own arena: N + 1. If a worker was the first glibc
 * user, it took main_arena uncounted (see core/init.c): N, or fewer when
 * workers raced into glibc's setup together.
 *
 * Prints the arena count; exit 0 when it is N + 1, 1 otherwise.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_barrier_t held, done;

static void *worker(void *arg)
{
    (void)arg;
    void *volatile p = malloc(64 * 1024);   /* above 512 B: glibc serves it */
    pthread_barrier_wait(&held);
    pthread_barrier_wait(&done);
    free(p);
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 4;
    if (n < 1 || n > 8) {
        fprintf(stderr, "glibc_arenas: THREADS must be 1..8, got '%s'\n", argv[1]);
        return 2;
    }
    pthread_t tid[8];
    pthread_barrier_init(&held, NULL, (unsigned)n + 1);
    pthread_barrier_init(&done, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++)
        if (pthread_create(&tid[i], NULL, worker, NULL) != 0) {
            fputs("glibc_arenas: pthread_create failed\n", stderr);
            return 2;
        }
    pthread_barrier_wait(&held);            /* every worker holds its arena */

    static char xml[1 << 16];
    FILE *f = fmemopen(xml, sizeof xml - 1, "w");
    if (!f || malloc_info(0, f) != 0) {
        fputs("glibc_arenas: malloc_info failed\n", stderr);
        return 2;
    }
    fclose(f);
    int arenas = 0;
    for (const char *s = xml; (s = strstr(s, "<heap nr=")) != NULL; s++) arenas++;

    pthread_barrier_wait(&done);
    for (int i = 0; i < n; i++) pthread_join(tid[i], NULL);
    printf("%d\n", arenas);
    return arenas == n + 1 ? 0 : 1;
}
