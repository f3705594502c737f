/*
 * bench/rusage_run.c - room: bench/. Runs one command and records its wall
 * time and peak RSS, for bench_preload.sh. Built against plain libc; it is
 * never itself preloaded (the script puts LD_PRELOAD on the command through
 * env(1), after this wrapper).
 *
 * Peak RSS comes from wait4()'s rusage: ru_maxrss of the child, which for a
 * command that spawns others (gcc -> cc1, as) is the largest of the ones it
 * waited for. No external time(1), which may be missing.
 *
 * Usage: rusage_run OUTFILE COMMAND [ARG...]
 *   writes "<wall_ns> <maxrss_kib> <status> <cpu_ns>" to OUTFILE, where status
 *   is the exit code, or 128+signal, and cpu_ns the user + system CPU time of
 *   what it waited for; exits with that status. OUTFILE must not be an
 *   executable or a non-regular file (exit 2: see main).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "rusage_run: expected: rusage_run OUTFILE COMMAND [ARG...]\n");
        return 2;
    }
    /* OUTFILE comes first: called with the command first by mistake
     * (rusage_run build/bench/wl_mt 4 15000), it would truncate the program
     * it was meant to run. An existing executable is never overwritten. */
    struct stat st_out;
    if (stat(argv[1], &st_out) == 0 && (!S_ISREG(st_out.st_mode) || (st_out.st_mode & 0111))) {
        fprintf(stderr, "rusage_run: '%s' is %s; refusing to write its rusage there"
                        " (expected: rusage_run OUTFILE COMMAND [ARG...])\n",
                argv[1], S_ISREG(st_out.st_mode) ? "an executable" : "not a regular file");
        return 2;
    }
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        fprintf(stderr, "rusage_run: cannot write '%s': %s\n", argv[1], strerror(errno));
        return 2;
    }
    long long t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "rusage_run: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "rusage_run: cannot run '%s': %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "rusage_run: wait4: %s\n", strerror(errno));
            return 1;
        }
    long long wall = now_ns() - t0;
    int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    long long cpu = ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
                    ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
    fprintf(out, "%lld %ld %d %lld\n", wall, ru.ru_maxrss, status, cpu);
    if (fclose(out) != 0) {
        fprintf(stderr, "rusage_run: writing '%s' failed\n", argv[1]);
        return 1;
    }
    return status;
}
