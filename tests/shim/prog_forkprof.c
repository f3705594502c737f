/*
 * tests/shim/prog_forkprof.c - a fork child's heap profile is its parent's
 * as it was at the fork: the parent keeps sampling right after the fork.
 *
 * Usage: prog_forkprof N M   (under the shim, HEAPSHIM_PROFILE_RATE=4k)
 * The parent allocates N blocks of 64 KiB and keeps them (at a 4 KiB mean
 * every one is sampled), forks, and at once allocates M more (sampled too)
 * while the child makes its copy; then waits for the child. The child
 * allocates nothing: it calls setsid() (its profile file is made then),
 * writes "child PID" on stdout and sleeps 2 s so that the test reads its
 * profile (tests/45-daemons.sh fork-child-profile-at-fork). Until stop 33
 * the child copied the parent's shared file after the fork, and could take
 * samples the parent made after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: prog_forkprof N M\n");
        return 2;
    }
    int n = atoi(argv[1]), m = atoi(argv[2]);
    for (int i = 0; i < n; i++) sink = malloc(64 * 1024);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        char line[32];
        int len = snprintf(line, sizeof line, "child %d\n", (int)getpid());
        if (write(1, line, (size_t)len) != len) _exit(3);
        sleep(2);
        _exit(0);
    }
    if (pid < 0) return 3;
    for (int i = 0; i < m; i++) sink = malloc(64 * 1024);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 4;
}
