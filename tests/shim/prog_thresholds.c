/*
 * tests/shim/prog_thresholds.c - for tests/20-shim-env.sh: where glibc put
 * a 1 MiB and a 40 MiB malloc block: "mapped" (a chunk of its own, the
 * IS_MMAPPED bit of glibc's chunk header) or "heap". Under the shim's default
 * mode glibc starts at a 32 MiB mmap threshold (interpose/lifecycle.c);
 * plain glibc, malloc mode and a GLIBC_TUNABLES malloc setting keep 128 KiB.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *where(void *p)
{
    size_t word;     /* glibc's size word, just below the block */
    memcpy(&word, (const char *)(uintptr_t)((uintptr_t)p - sizeof word), sizeof word);
    return (word & 2) ? "mapped" : "heap";
}

int main(void)
{
    void *a = malloc(1 << 20), *b = malloc(40 << 20);
    if (!a || !b) return 1;
    memset(a, 1, 1 << 20);
    printf("%s %s\n", where(a), where(b));
    free(a);
    free(b);
    return 0;
}
