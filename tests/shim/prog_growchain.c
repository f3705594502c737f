/*
 * tests/shim/prog_growchain.c - realloc growth chains, for tests/33-realloc.sh.
 *
 *   prog_growchain chain [MAX]   grow one block from 1 to MAX bytes (default
 *       8192) one byte per realloc, allocating a 32-byte blocker after each
 *       move so that the system allocator cannot extend the block in place
 *       either; checks the contents at every step. Prints
 *       "moves M reallocs R live_delta L usable U blockers_usable B": R and L
 *       from hs_domain_stats (MEM), U = malloc_usable_size of the final block,
 *       B = the blockers' usable bytes; L must equal U + B.
 *   prog_growchain stay [N]      realloc one 1000-byte block N times (default
 *       200000) to 900 and back to 1000 bytes: every call fits the block as
 *       it is. Prints "moves M". A 64 KiB block allocated first is the
 *       profile's control: at a rate of a few KiB it is sampled.
 *
 * Run under LD_PRELOAD=libheapshim.so (the statistics API is looked up with
 * dlsym); exits 1 on a lost byte or a missing API.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <heapshim.h>

typedef int (*domain_fn)(hs_domain_t, hs_domain_stats_t *);

static void die(const char *m)
{
    fprintf(stderr, "prog_growchain: %s\n", m);
    exit(1);
}

static int chain(size_t max)
{
    domain_fn dstats = (domain_fn)dlsym(RTLD_DEFAULT, "hs_domain_stats");
    if (!dstats) die("hs_domain_stats not found: run me under LD_PRELOAD=libheapshim.so");
    void **blockers = calloc(max + 1, sizeof *blockers);
    if (!blockers) die("out of memory");
    hs_domain_stats_t a, b;
    if (dstats(HS_DOMAIN_MEM, &a) != 0) die("hs_domain_stats failed");
    unsigned char *p = malloc(1);
    if (!p) die("out of memory");
    p[0] = 0;
    size_t moves = 0, nb = 0, reallocs = 0;
    for (size_t n = 2; n <= max; n++) {
        unsigned char *q = realloc(p, n);
        if (!q) die("realloc failed");
        reallocs++;
        for (size_t i = 0; i < n - 1; i += 97)
            if (q[i] != (unsigned char)(i * 7)) die("realloc lost contents");
        if (q[n - 2] != (unsigned char)((n - 2) * 7)) die("realloc lost the last byte");
        q[n - 1] = (unsigned char)((n - 1) * 7);
        if (q != p) {
            moves++;
            if (!(blockers[nb++] = malloc(32))) die("out of memory");
        }
        p = q;
    }
    if (dstats(HS_DOMAIN_MEM, &b) != 0) die("hs_domain_stats failed");
    size_t bu = 0;
    for (size_t i = 0; i < nb; i++) bu += malloc_usable_size(blockers[i]);
    printf("moves %zu reallocs %llu live_delta %lld usable %zu blockers_usable %zu calls %zu\n", moves,
           (unsigned long long)(b.reallocs - a.reallocs), (long long)(b.live_bytes - a.live_bytes),
           malloc_usable_size(p), bu, reallocs);
    for (size_t i = 0; i < nb; i++) free(blockers[i]);
    free(p);
    free(blockers);
    return 0;
}

static int stay(long n)
{
    /* a control: 64 KiB, sampled at any rate of a few KiB */
    unsigned char *control = malloc(1 << 16);
    unsigned char *p = malloc(1000);
    if (!p || !control) die("out of memory");
    control[0] = 1;
    memset(p, 0x5a, 1000);
    long moves = 0;
    for (long i = 0; i < n; i++) {
        unsigned char *q = realloc(p, (i & 1) ? 1000 : 900);
        if (!q) die("realloc failed");
        if (q[899] != 0x5a) die("realloc lost contents");
        if (i & 1) memset(q + 900, 0x5a, 100);
        moves += q != p;
        p = q;
    }
    printf("moves %ld\n", moves);
    free(p);
    free(control);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "chain")) return chain(argc > 2 ? strtoul(argv[2], NULL, 10) : 8192);
    if (argc >= 2 && !strcmp(argv[1], "stay")) return stay(argc > 2 ? strtol(argv[2], NULL, 10) : 200000);
    fprintf(stderr, "usage: prog_growchain chain [MAX] | stay [N]\n");
    return 2;
}
