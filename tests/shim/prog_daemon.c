/*
 * tests/shim/prog_daemon.c - a daemon the way C servers make one: daemon(3)
 * (fork, the parent leaves with _exit, setsid in the child), or, with
 * "fork", fork and a parent that returns from main (exit handlers run).
 * The daemon allocates 3 MB it keeps, writes its pid to PIDFILE and sleeps
 * SECONDS. Used by tests/45-daemons.sh.
 *   prog_daemon daemon|fork PIDFILE SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4) return 2;
    void *early = malloc(1000);           /* the shim is up in the parent */
    if (!strcmp(argv[1], "daemon")) {
        if (daemon(1, 1) != 0) return 1;
    } else {
        pid_t p = fork();
        if (p < 0) return 1;
        if (p > 0) return 0;              /* the parent exits normally */
        setsid();
    }
    char *keep[300];
    for (int i = 0; i < 300; i++) {
        keep[i] = malloc(10000);
        memset(keep[i], 1, 10000);
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    FILE *f = fopen(tmp, "w");
    if (!f) return 1;
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    rename(tmp, argv[2]);
    sleep((unsigned)atoi(argv[3]));
    free(early);
    for (int i = 0; i < 300; i++) free(keep[i]);
    return 0;
}
