/*
 * tests/shim/prog_thresholds.c - for tests/20-shim-env.sh: which large
 * blocks glibc maps must not change under the shim (interpose/lifecycle.c,
 * core/internal.h hs_sys_free). glibc maps blocks above its mmap threshold
 * (128 KiB at first) and raises the threshold to the size of each larger
 * mapped block the program frees; a program's own mallopt turns that off.
 *
 * Prints one letter per block: M if glibc mapped it (the IS_MMAPPED bit, 2,
 * of the chunk header word before the block: glibc's layout since 2.0, the
 * same word the shim reads for usable sizes), H if it came from the heap.
 * Plain glibc prints "MHMHM MM"; the shim must print the same.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char out[64];
static int nout;

static void *take(size_t n)
{
    char *p = malloc(n);
    if (!p) exit(2);
    memset(p, 1, n);
    size_t word;     /* glibc's size word, just below the block */
    memcpy(&word, (const char *)(uintptr_t)((uintptr_t)p - sizeof word), sizeof word);
    out[nout++] = (word & 2) ? 'M' : 'H';
    return p;
}

int main(void)
{
    void *a = take(200 << 10);     /* above 128 KiB: mapped */
    free(a);                        /* threshold -> about 200 KiB */
    void *b = take(200 << 10);     /* heap */
    void *c = take(1 << 20);       /* mapped */
    free(c);                        /* threshold -> about 1 MiB */
    void *d = take(600 << 10);     /* heap */
    void *e = take(2 << 20);       /* mapped */
    out[nout++] = ' ';
    mallopt(M_MMAP_THRESHOLD, 256 << 10);   /* the program's choice: the rule stops */
    free(e);                        /* no raise now */
    void *f = take(1 << 20);       /* mapped: above the program's 256 KiB */
    void *g = take(300 << 10);     /* mapped */
    puts(out);
    free(b); free(d); free(f); free(g);
    return 0;
}
