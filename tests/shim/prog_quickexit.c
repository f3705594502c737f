/*
 * tests/shim/prog_quickexit.c - leaves through quick_exit(3), whose
 * handlers run and which then ends the process through glibc's internal
 * _exit (no destructors, no interposed _exit). For 45-daemons.sh: the
 * shim's exit work (report, stats table, live file removal) must still
 * happen, after the program's own handler, which allocates.
 *
 * Usage: prog_quickexit  (exit status 3; prints nothing: quick_exit does
 * not flush stdio)
 */
#include <stdlib.h>
#include <string.h>

static void *keep[64];

static void handler(void)
{
    /* 64 blocks of 1000 B allocated by the program's own handler: counted
     * if the shim's exit runs after it */
    for (int i = 0; i < 64; i++) {
        keep[i] = malloc(1000);
        if (keep[i]) memset(keep[i], 1, 1000);
    }
}

int main(void)
{
    if (at_quick_exit(handler) != 0) return 1;
    quick_exit(3);
}
