/*
 * tests/shim/prog_manystacks.c - 2^DEPTH distinct call stacks, each
 * allocating (and keeping) 3 blocks, for the profile's stack table
 * (tests/43-profile.sh): every path through DEPTH levels of two functions
 * is its own stack, so a profile sampling every allocation holds at least
 * 2^DEPTH stacks, each once. The writer's hash index grows while they come
 * in (core/sample.c, index_grow): none may be lost or interned twice.
 *
 * With a second argument `maps`, it also prints every line of its
 * /proc/self/maps that names libgcc_s (the shim's stack walk must not need
 * that library: interpose/interpose.mk).
 *
 * Usage: prog_manystacks DEPTH (1..14) [maps]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone, no_icf))
#endif

static void *keep[3 << 14];
static unsigned nkeep;

NOINLINE static void ms_a(unsigned depth, unsigned bits);
NOINLINE static void ms_b(unsigned depth, unsigned bits);

NOINLINE static void ms_leaf(void)
{
    for (int i = 0; i < 3; i++) {
        void *p = malloc(64);
        if (!p) exit(1);
        memset(p, 1, 64);
        keep[nkeep++] = p;
    }
    __asm__ volatile("" ::: "memory");
}

NOINLINE static void ms_next(unsigned depth, unsigned bits)
{
    if (depth == 0) ms_leaf();
    else if (bits & 1) ms_a(depth - 1, bits >> 1);
    else ms_b(depth - 1, bits >> 1);
    __asm__ volatile("" ::: "memory");
}

NOINLINE static void ms_a(unsigned depth, unsigned bits) { ms_next(depth, bits); __asm__ volatile("" ::: "memory"); }
NOINLINE static void ms_b(unsigned depth, unsigned bits) { ms_next(depth, bits); __asm__ volatile("" ::: "memory"); }

int main(int argc, char **argv)
{
    int depth = argc > 1 ? atoi(argv[1]) : 0;
    if (depth < 1 || depth > 14) {
        fprintf(stderr, "prog_manystacks: bad depth '%s': expected 1..14\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    for (unsigned bits = 0; bits < 1u << depth; bits++) ms_next((unsigned)depth, bits);
    printf("stacks %u blocks %u\n", 1u << depth, nkeep);
    if (argc > 2 && strcmp(argv[2], "maps") == 0) {
        FILE *f = fopen("/proc/self/maps", "r");
        char line[512];
        if (!f) return 1;
        while (fgets(line, sizeof line, f))
            if (strstr(line, "libgcc_s")) printf("mapped: %s", line);
        fclose(f);
    }
    return 0;
}
