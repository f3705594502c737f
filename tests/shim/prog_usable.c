/*
 * tests/shim/prog_usable.c - the malloc family as a program that trusts it
 * sees it, whichever allocator is behind or ahead of the shim
 * (tests/20-shim-env.sh, with LD_PRELOAD=libheapshim.so:libtcmalloc and
 * libjemalloc:libheapshim.so): every block's malloc_usable_size is at
 * least what was asked and is written whole; reallocarray and pvalloc
 * (which jemalloc lacks) keep the contents; pvalloc gives whole pages.
 * Prints "ok", or one line per thing that went wrong and exits 1.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int bad;

static void check(const char *what, size_t n, void *p)
{
    if (!p) {
        printf("%s(%zu): NULL\n", what, n), bad++;
        return;
    }
    size_t u = malloc_usable_size(p);
    if (u < n || u > n + n / 2 + (1u << 20)) printf("%s(%zu): usable %zu\n", what, n, u), bad++;
    else memset(p, 0xa5, u);
}

int main(void)
{
    static const size_t sz[] = { 0, 1, 24, 100, 512, 1000, 5000, 70000, 300000, 5u << 20 };
    long page = sysconf(_SC_PAGESIZE);
    for (unsigned i = 0; i < sizeof sz / sizeof *sz; i++) {
        size_t n = sz[i];
        void *p = malloc(n), *a = NULL;
        check("malloc", n, p);
        if (posix_memalign(&a, 64, n) == 0) check("posix_memalign", n, a);
        void *c = calloc(1, n);
        check("calloc", n, c);
        p = realloc(p, n * 2 + 1);
        check("realloc", n * 2 + 1, p);
        unsigned char *r = reallocarray(NULL, n + 1, 3);
        check("reallocarray", (n + 1) * 3, r);
        if (r) {
            memset(r, 7, (n + 1) * 3);
            r = reallocarray(r, n + 1, 5);
            for (size_t k = 0; r && k < (n + 1) * 3; k++)
                if (r[k] != 7) {
                    printf("reallocarray(%zu): contents lost at %zu\n", n, k), bad++;
                    break;
                }
            check("reallocarray", (n + 1) * 5, r);
        }
        void *v = pvalloc(n + 1);
        check("pvalloc", (size_t)(((long)n + page) / page * page), v);
        if (v && ((unsigned long)v % (unsigned long)page)) printf("pvalloc(%zu): not page-aligned\n", n + 1), bad++;
        free(p), free(a), free(c), free(r), free(v);
    }
    if (!bad) printf("ok\n");
    return bad != 0;
}
