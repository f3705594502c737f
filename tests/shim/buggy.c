/* tests/shim/buggy.c - a program with the heap bugs that
 * HEAPSHIM_ALLOCATOR=debug must catch: buggy overrun|underrun|double|double-large|clean */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "clean";
    char *volatile p = malloc(24);
    size_t n = strlen(what) > 100 ? 0 : 25;      /* not constant: no compile-time warning */
    if (!strcmp(what, "overrun")) memset(p, 'A', n);
    else if (!strcmp(what, "underrun")) p[-1] = 'B';
    else if (!strcmp(what, "double")) free(p);
    else if (!strcmp(what, "double-large")) {
        char *volatile big = malloc(3000);
        free(big);
        free(big);
    }
    else if (strcmp(what, "clean")) return 2;
    free(p);
    puts("done");
    return 0;
}
