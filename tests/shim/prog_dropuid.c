/*
 * tests/shim/prog_dropuid.c - a server that drops root the usual way: it
 * allocates as root, then setgid/setuid (or setresuid) to UID, allocates
 * more, writes its pid to PIDFILE, sleeps SECONDS and exits normally.
 *   prog_dropuid setuid|setresuid UID PIDFILE SECONDS
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 5) return 2;
    uid_t u = (uid_t)atoi(argv[2]);
    char *a = malloc(100000);
    memset(a, 1, 100000);
    if (setgroups(0, NULL) != 0 || setgid((gid_t)u) != 0) return 3;
    int r = !strcmp(argv[1], "setresuid") ? setresuid(u, u, u) : setuid(u);
    if (r != 0 || geteuid() != u) return 4;
    char *keep[200];
    for (int i = 0; i < 200; i++) {
        keep[i] = malloc(10000);
        memset(keep[i], 1, 10000);
    }
    FILE *f = fopen(argv[3], "w");
    if (!f) return 5;
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    sleep((unsigned)atoi(argv[4]));
    for (int i = 0; i < 200; i++) free(keep[i]);
    free(a);
    return 0;
}
