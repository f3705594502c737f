/*
 * tests/shim/prog_uidswap.c - what a program sees of the shim around its
 * start, its privilege changes and a chroot (tests/20-shim-env.sh):
 *   start           prints "errno N": errno at main (C11: 0)
 *   uid-errno       (root) seteuid(65534), seteuid(0), setresuid(-1, 65534, -1),
 *                   setresuid(-1, 0, -1), each succeeding with errno set to EDOM
 *                   before: prints "errno kept", or what changed it
 *   swap-fork       (root) seteuid(65534), seteuid(0), then a child that
 *                   allocates and exits: prints "ok STATUS"
 *   chroot-fork DIR (root) chroot into DIR, then the same child
 * Exit 0, or 1 on a failed call (with a line on stdout).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int child(void)
{
    pid_t p = fork();
    if (p < 0) return -1;
    if (p == 0) {
        char *a[100];
        for (int i = 0; i < 100; i++) a[i] = malloc(100 + (size_t)i * 37);
        for (int i = 0; i < 100; i++) free(a[i]);
        _exit(0);
    }
    int st = -1;
    waitpid(p, &st, 0);
    return st;
}

int main(int argc, char **argv)
{
    int at_main = errno;
    const char *mode = argc > 1 ? argv[1] : "start";
    if (!strcmp(mode, "start")) {
        printf("errno %d\n", at_main);
        return 0;
    }
    if (!strcmp(mode, "uid-errno")) {
        int bad = 0;
        struct { const char *what; uid_t r, e, s; int res; } step[] = {
            { "seteuid(65534)", 0, 65534, 0, 0 }, { "seteuid(0)", 0, 0, 0, 0 },
            { "setresuid(-1, 65534, -1)", (uid_t)-1, 65534, (uid_t)-1, 1 },
            { "setresuid(-1, 0, -1)", (uid_t)-1, 0, (uid_t)-1, 1 },
        };
        for (unsigned i = 0; i < sizeof step / sizeof *step; i++) {
            errno = EDOM;
            int r = step[i].res ? setresuid(step[i].r, step[i].e, step[i].s) : seteuid(step[i].e);
            if (r != 0) {
                printf("%s failed: %s\n", step[i].what, strerror(errno));
                return 1;
            }
            if (errno != EDOM) printf("%s: errno %d (%s), was EDOM\n", step[i].what, errno, strerror(errno)), bad++;
            free(malloc(1000));
        }
        if (!bad) printf("errno kept\n");
        return 0;
    }
    if (!strcmp(mode, "swap-fork")) {
        if (seteuid(65534) != 0 || seteuid(0) != 0) {
            printf("seteuid: %s\n", strerror(errno));
            return 1;
        }
        printf("ok %d\n", child());
        return 0;
    }
    if (!strcmp(mode, "chroot-fork") && argc > 2) {
        if (chroot(argv[2]) != 0 || chdir("/") != 0) {
            printf("chroot: %s\n", strerror(errno));
            return 1;
        }
        printf("ok %d\n", child());
        return 0;
    }
    printf("usage: prog_uidswap start|uid-errno|swap-fork|chroot-fork DIR\n");
    return 1;
}
