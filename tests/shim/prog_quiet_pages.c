/*
 * prog_quiet_pages - does the shim make glibc's printf code resident in a
 * program that never prints? Allocates (small and large blocks, so the shim
 * starts, samples and ticks), then reads /proc/self/pagemap for the pages
 * holding stdio's formatting entry points, with raw system calls only (no
 * stdio in this program: its own code must not fault those pages in).
 * Output (write(2)): one line "NAME resident|absent" per entry point.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void say(const char *a, const char *b)
{
    syscall(SYS_write, 1, a, strlen(a));
    syscall(SYS_write, 1, b, strlen(b));
}

static int resident(int pm, const void *fn)
{
    uint64_t e = 0;
    uintptr_t page = (uintptr_t)fn / 4096;
    if (syscall(SYS_pread64, pm, &e, sizeof e, (off_t)(page * 8)) != sizeof e) return -1;
    return (int)(e >> 63);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    static void *keep[4096];
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < 4096; i++) keep[i] = malloc((size_t)(16 + (i * 37) % 2000));
        for (int i = 0; i < 4096; i++) free(keep[i]);
    }
    int pm = (int)syscall(SYS_open, "/proc/self/pagemap", O_RDONLY);
    if (pm < 0) return 2;
    const struct { const char *name; const void *fn; } eps[] = {
        { "vfprintf", (const void *)vfprintf },
        { "vsnprintf", (const void *)vsnprintf },
        { "vasprintf", (const void *)vasprintf },
    };
    for (unsigned i = 0; i < sizeof eps / sizeof *eps; i++) {
        int r = resident(pm, eps[i].fn);
        say(eps[i].name, r < 0 ? " unknown\n" : r ? " resident\n" : " absent\n");
    }
    return 0;
}
