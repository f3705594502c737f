/*
 * tests/shim/prog_fpchain.c - known call chains in a program built with
 * -fno-omit-frame-pointer (tests/tests.mk), for the stack walks of the
 * heap profile (tests/43-profile.sh): both HEAPSHIM_PROFILE_UNWIND=fp and
 * the default unwinder must record them.
 *
 *   main thread:  main -> fp_top_a -> fp_mid -> fp_leaf_alloc   (24 MiB, 200 B blocks)
 *   a thread:     fp_thread -> fp_top_b -> fp_leaf_alloc        (8 MiB, 200 B blocks)
 * Everything stays allocated until exit.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone, no_icf))
#endif
#define BLOCK 200

NOINLINE void *fp_leaf_alloc(void)
{
    void *p = malloc(BLOCK);
    if (!p) exit(1);
    memset(p, 1, BLOCK);
    __asm__ volatile("" ::: "memory");
    return p;
}

NOINLINE void fp_mid(void **keep, size_t n)
{
    for (size_t i = 0; i < n; i++) keep[i] = fp_leaf_alloc();
    __asm__ volatile("" ::: "memory");
}

NOINLINE void fp_top_a(void **keep, size_t n)
{
    fp_mid(keep, n);
    __asm__ volatile("" ::: "memory");
}

NOINLINE void fp_top_b(void **keep, size_t n)
{
    for (size_t i = 0; i < n; i++) keep[i] = fp_leaf_alloc();
    __asm__ volatile("" ::: "memory");
}

static void **keep_b;
static size_t n_b;

static void *fp_thread(void *arg)
{
    fp_top_b(keep_b, n_b);
    __asm__ volatile("" ::: "memory");
    return arg;
}

int main(void)
{
    size_t n_a = (24u << 20) / BLOCK;
    n_b = (8u << 20) / BLOCK;
    void **keep_a = calloc(n_a, sizeof *keep_a);   /* calloc: its own stack (main) */
    keep_b = calloc(n_b, sizeof *keep_b);
    if (!keep_a || !keep_b) return 1;
    fp_top_a(keep_a, n_a);
    pthread_t t;
    if (pthread_create(&t, NULL, fp_thread, NULL) != 0 || pthread_join(t, NULL) != 0) return 1;
    printf("fp_top_a %zu\nfp_top_b %zu\n", n_a * BLOCK, n_b * BLOCK);
    return 0;
}
