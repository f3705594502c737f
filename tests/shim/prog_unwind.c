/*
 * tests/shim/prog_unwind.c - stacks for the sampler's cached walk
 * (core/unwind.c), run by tests/46-unwind.sh with HEAPSHIM_PROFILE_UNWIND=
 * verify (every sample walked by the cache and by libgcc, compared) or with
 * the default walk (hostile: must not crash).
 *
 *   chains    recursion 1..40 deep through three kinds of frame (plain, an
 *             alloca frame whose CFA is rbp-based, a 64 KiB frame), each
 *             level allocating through malloc, calloc, realloc,
 *             posix_memalign; depths past the profile's 32 frames too
 *   threads   the same in 4 threads at once
 *   signal    allocations inside signal handlers (raised inside a chain),
 *             on the thread's stack and on a sigaltstack
 *   dlclose LIB  300 rounds of dlopen LIB, 50 allocations through its
 *             routetest_alloc, dlclose, dlopen/dlclose of libz (the unwind
 *             cache is emptied at each change of the loaded objects)
 *   hostile N the callers' frames (the stack above one function, up to the
 *             stack's top) overwritten with garbage, stack addresses and
 *             addresses inside this program's functions, then malloc; N
 *             rounds, each frame restored after the call
 * Prints "MODE COUNT" (allocations made) on success.
 */
#include <alloca.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone, no_icf))
#endif

static volatile long sink;
static long allocs;           /* main thread's count (threads return theirs) */

static NOINLINE void use(void *p, size_t n)
{
    if (!p) exit(3);
    memset(p, (int)n, n);
    sink += ((char *)p)[n - 1];
}

/* one allocation of each entry point, freed */
static NOINLINE long alloc_all(int d)
{
    size_t n = 48 + (size_t)d * 8;
    void *p = malloc(n);
    use(p, n);
    void *q = calloc(1, n);
    use(q, n);
    p = realloc(p, n * 3);
    use(p, n * 3);
    void *a = NULL;
    if (posix_memalign(&a, 64, n) != 0) exit(4);
    use(a, n);
    free(a);
    free(q);
    free(p);
    return 4;
}

static long rec_plain(int d);
static long rec_alloca(int d);
static long rec_big(int d);

static NOINLINE long rec_plain(int d)
{
    long n = alloc_all(d);
    if (d > 0) n += rec_alloca(d - 1);
    __asm__ volatile("" ::: "memory");
    return n;
}

static NOINLINE long rec_alloca(int d)
{
    char *b = alloca(16 + (size_t)(d & 7) * 40);
    b[0] = (char)d;
    __asm__ volatile("" : : "r"(b) : "memory");
    long n = alloc_all(d);
    if (d > 0) n += rec_big(d - 1);
    __asm__ volatile("" : : "r"(b) : "memory");
    return n + b[0] * 0;
}

static NOINLINE long rec_big(int d)
{
    volatile char big[65536];
    big[d] = (char)d;
    long n = alloc_all(d);
    if (d > 0) n += rec_plain(d - 1);
    return n + big[d] * 0;
}

static long chains(void)
{
    long n = 0;
    for (int r = 0; r < 4; r++)
        for (int d = 0; d <= 40; d++) n += (d % 3 == 0 ? rec_plain : d % 3 == 1 ? rec_alloca : rec_big)(d);
    return n;
}

static void *thread_main(void *arg)
{
    long n = chains();
    *(long *)arg = n;
    return NULL;
}

/* ---- signal ---- */

static volatile long in_handler;

static NOINLINE void handler_leaf(void) { in_handler += alloc_all(3); }
static NOINLINE void handler_mid(void) { handler_leaf(); __asm__ volatile("" ::: "memory"); }
static void handler(int sig)
{
    (void)sig;
    handler_mid();
    __asm__ volatile("" ::: "memory");
}

static NOINLINE long raise_at(int d, int sig)
{
    if (d > 0) return raise_at(d - 1, sig) + 0 * (long)sink;
    raise(sig);
    return alloc_all(1);
}

/* ---- hostile ---- */

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

extern void *__libc_stack_end;
static uintptr_t saved[1024];
static void *const code[] = { (void *)rec_plain, (void *)rec_alloca, (void *)rec_big, (void *)alloc_all,
                              (void *)use, (void *)chains, (void *)raise_at, (void *)handler_mid };

/* overwrite the stack above this function's frame, allocate, restore */
static NOINLINE long hostile_one(void)
{
    uintptr_t fa = (uintptr_t)__builtin_frame_address(0);
    uintptr_t *w = (uintptr_t *)(fa + 16), top = (uintptr_t)__libc_stack_end;
    size_t n = 1024;
    if (top > (uintptr_t)w && (top - (uintptr_t)w) / 8 < n) n = (top - (uintptr_t)w) / 8;
    memcpy(saved, w, n * 8);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next();
        switch (r & 7) {
        case 0: case 1: w[i] = (uintptr_t)next(); break;                        /* garbage */
        case 2: case 3: w[i] = fa + (next() % 16384) - 8192; break;          /* around this stack */
        case 4: w[i] = fa + (next() % 65536); break;                         /* above */
        case 5: case 6: w[i] = (uintptr_t)code[next() % 8] + next() % 96; break;  /* into code */
        default: w[i] = 0; break;
        }
    }
    __asm__ volatile("" ::: "memory");
    void *p = malloc(64 + (size_t)(rng & 255));
    __asm__ volatile("" ::: "memory");
    memcpy(w, saved, n * 8);
    __asm__ volatile("" ::: "memory");
    if (!p) exit(5);
    free(p);
    return 1;
}

static NOINLINE long hostile_mid(void)
{
    long n = hostile_one();
    __asm__ volatile("" ::: "memory");
    return n;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "chains";
    long n = 0;
    if (!strcmp(mode, "chains")) {
        n = chains();
    } else if (!strcmp(mode, "threads")) {
        pthread_t t[4];
        long got[4];
        for (int i = 0; i < 4; i++)
            if (pthread_create(&t[i], NULL, thread_main, &got[i]) != 0) return 1;
        for (int i = 0; i < 4; i++) {
            if (pthread_join(t[i], NULL) != 0) return 1;
            n += got[i];
        }
    } else if (!strcmp(mode, "signal")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = handler;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGUSR1, &sa, NULL) != 0) return 1;
        static char alt[1 << 16];
        stack_t ss = { .ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0 };
        sa.sa_flags = SA_ONSTACK;
        if (sigaltstack(&ss, NULL) != 0 || sigaction(SIGUSR2, &sa, NULL) != 0) return 1;
        for (int i = 0; i < 200; i++) n += raise_at(i % 20, i % 2 ? SIGUSR2 : SIGUSR1);
        n += in_handler;
    } else if (!strcmp(mode, "dlclose") && argc > 2) {
        for (int r = 0; r < 300; r++) {
            void *h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
            if (!h) return 1;
            void *(*f)(size_t) = (void *(*)(size_t))dlsym(h, "routetest_alloc");
            if (!f) return 1;
            for (int i = 0; i < 50; i++, n++) free(f(64 + (size_t)i));
            dlclose(h);
            void *z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
            if (z) dlclose(z);
        }
    } else if (!strcmp(mode, "hostile")) {
        long rounds = argc > 2 ? atol(argv[2]) : 1000;
        for (long i = 0; i < rounds; i++) n += hostile_mid();
    } else {
        fprintf(stderr, "prog_unwind: unknown mode %s (chains, threads, signal, dlclose LIB, hostile N)\n", mode);
        return 2;
    }
    allocs = n;
    printf("%s %ld\n", mode, allocs);
    return 0;
}
