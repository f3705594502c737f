/*
 * tests/shim/prog_cfree.c - for tests/20-shim-env.sh: a program built
 * against old glibc binds cfree@GLIBC_2.2.5 (free's alias, removed from the
 * API in glibc 2.26 but still exported for such binaries). Under the shim
 * it must free the shim's blocks, not hand them to glibc (which aborts:
 * "free(): invalid pointer"). Prints the number of blocks freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void old_cfree(void *p);
__asm__(".symver old_cfree,cfree@GLIBC_2.2.5");

int main(void)
{
    static const size_t sizes[] = { 1, 24, 100, 512, 600, 1024, 1025, 5000, 1 << 20 };
    unsigned n = 0;
    for (int round = 0; round < 100; round++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            char *p = malloc(sizes[i]);
            if (!p) return 1;
            memset(p, 7, sizes[i]);
            old_cfree(p);
            n++;
        }
    printf("%u\n", n);
    return 0;
}
