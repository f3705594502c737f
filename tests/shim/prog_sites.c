/*
 * tests/shim/prog_sites.c - allocation sites of known sizes, for the heap
 * profile tests (tests/43-profile.sh).
 *
 *   prog_sites sites [wait]   six sites through malloc, calloc, realloc and
 *                             aligned_alloc, plus churn that frees all it
 *                             allocates; prints "SITE BYTES" per site (the
 *                             exact requested bytes still allocated), then
 *                             exits with everything still allocated, or with
 *                             `wait` first prints "ready", waits for stdin EOF
 *   prog_sites leak [wait]    1 MiB leaked in 1 KiB blocks (leak_site) among
 *                             100 MiB of churn and holders of 8, 4, 2 MiB and
 *                             ten of 128 KiB
 * Every site is its own non-inlined function, so its name is in the stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else   /* no clones (name.isra.0) and no folding of identical sites into one */
#define NOINLINE __attribute__((noinline, noclone, no_icf))
#endif
static void *volatile sink;
static void **keep;
static size_t nkeep, capkeep;

static void hold(void *p)
{
    if (!p) {
        fprintf(stderr, "prog_sites: out of memory\n");
        exit(1);
    }
    if (nkeep == capkeep) {
        capkeep = capkeep ? capkeep * 2 : 4096;
        void **k = realloc(keep, capkeep * sizeof *k);   /* realloc: in the profile too, small */
        if (!k) exit(1);
        keep = k;
    }
    keep[nkeep++] = p;
}

#define SITE(name, expr, size, bytes)                                  \
    static NOINLINE size_t name(void)                                  \
    {                                                                  \
        size_t n = (bytes) / (size), total = 0;                        \
        for (size_t i = 0; i < n; i++) {                               \
            void *p = expr;                                            \
            memset(p, 1, size);                                        \
            hold(p);                                                   \
            total += size;                                             \
        }                                                              \
        __asm__ volatile("" ::: "memory");                             \
        return total;                                                  \
    }

SITE(site_small64, malloc(64), 64, 16u << 20)
SITE(site_mid300, malloc(300), 300, 8u << 20)
SITE(site_big3000, malloc(3000), 3000, 8u << 20)
SITE(site_calloc100, calloc(1, 100), 100, 4u << 20)
SITE(site_aligned256, aligned_alloc(64, 256), 256, 1u << 20)

static NOINLINE size_t site_realloc5000(void)
{
    size_t n = (5u << 20) / 2 / 5000, total = 0;
    for (size_t i = 0; i < n; i++) {
        char *p = malloc(100);
        memset(p, 2, 100);
        p = realloc(p, 5000);
        memset(p, 3, 5000);
        hold(p);
        total += 5000;
    }
    __asm__ volatile("" ::: "memory");
    return total;
}

static NOINLINE void churn_site(size_t bytes)
{
    static const size_t sizes[] = { 24, 200, 700, 4096, 40000 };
    size_t done = 0;
    for (unsigned i = 0; done < bytes; i++) {
        size_t n = sizes[i % 5];
        char *p = malloc(n);
        memset(p, 4, n < 64 ? n : 64);
        sink = p;
        free(p);
        done += n;
    }
}

SITE(hold_8m, malloc(8192), 8192, 8u << 20)
SITE(hold_4m, malloc(2048), 2048, 4u << 20)
SITE(hold_2m, malloc(512), 512, 2u << 20)
SITE(leak_site, malloc(1024), 1024, 1u << 20)
#define SMALL(i) SITE(small_holder_##i, malloc(256), 256, 128u << 10)
SMALL(0) SMALL(1) SMALL(2) SMALL(3) SMALL(4) SMALL(5) SMALL(6) SMALL(7) SMALL(8) SMALL(9)

static void wait_eof(void)
{
    printf("ready\n");
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: prog_sites sites|leak [wait]\n");
        return 2;
    }
    int wait = argc > 2 && !strcmp(argv[2], "wait");
    if (!strcmp(argv[1], "sites")) {
        size_t a = site_small64();
        churn_site(20u << 20);
        size_t b = site_mid300();
        size_t c = site_big3000();
        churn_site(20u << 20);
        size_t d = site_calloc100();
        size_t e = site_realloc5000();
        size_t f = site_aligned256();
        printf("site_small64 %zu\nsite_mid300 %zu\nsite_big3000 %zu\nsite_calloc100 %zu\n"
               "site_realloc5000 %zu\nsite_aligned256 %zu\n", a, b, c, d, e, f);
    } else if (!strcmp(argv[1], "leak")) {
        hold_8m();
        churn_site(30u << 20);
        hold_4m();
        small_holder_0(); small_holder_1(); small_holder_2(); small_holder_3(); small_holder_4();
        churn_site(30u << 20);
        leak_site();
        small_holder_5(); small_holder_6(); small_holder_7(); small_holder_8(); small_holder_9();
        hold_2m();
        churn_site(40u << 20);
    } else {
        fprintf(stderr, "prog_sites: unknown mode '%s' (accepted: sites, leak)\n", argv[1]);
        return 2;
    }
    fflush(stdout);
    if (wait) wait_eof();
    return 0;   /* everything still allocated: the profile at exit holds it */
}
