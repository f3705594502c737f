/*
 * tests/shim/prog_sigfork.c - fork from a signal handler that interrupts
 * the program's own malloc and free (a crash handler that forks a reporter
 * has this shape; glibc runs it in a single-threaded program): a timer (US
 * microseconds, default 2000) whose handler forks a child that _exits at
 * once, and waits for it, N times (default 300), while the main loop
 * allocates and frees. Under the shim the parent
 * deadlocked in the fork handlers (a lock held by the code the handler
 * interrupted), or the child spun at its exit waiting for a counter update
 * that the interrupted code would never finish (tests/26-counters.sh).
 * Prints "done N", then "slowest_fork_us U": the longest a fork() in the
 * handler took (the fork handlers that waited for the interrupted code's
 * own call to leave took 200 ms each: tests/26-counters.sh looks for that,
 * not for the whole run's time, which grows with the machine's load under
 * glibc alone).   prog_sigfork [US [N]]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int n;
static int trials;
static volatile long slowest_us;

static long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static void handler(int sig)
{
    (void)sig;
    long t0 = now_us();
    pid_t p = fork();
    long took = now_us() - t0;
    if (p > 0 && took > slowest_us) slowest_us = took;
    if (p == 0) _exit(0);
    if (p > 0) waitpid(p, NULL, 0);
    /* the timer stops here, not in main: when a fork and wait take longer
     * than the timer's period (a loaded machine), the next signal is due
     * as the handler returns and main never runs again */
    if (++n >= trials) {
        struct itimerval off = { { 0, 0 }, { 0, 0 } };
        setitimer(ITIMER_REAL, &off, NULL);
    }
}

int main(int argc, char **argv)
{
    long us = argc > 1 ? atol(argv[1]) : 2000;
    trials = argc > 2 ? atoi(argv[2]) : 300;
    signal(SIGALRM, handler);
    struct itimerval it = { { 0, us }, { 0, us } };
    setitimer(ITIMER_REAL, &it, NULL);
    void *keep[64] = { 0 };
    for (unsigned i = 0; n < trials; i++) {
        unsigned k = i % 64;
        free(keep[k]);
        keep[k] = malloc(16 + (i % 300) * 8);
    }
    /* a signal may still come between the loop's test and the timer's end:
     * the count is at least the trials asked for */
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    sigprocmask(SIG_BLOCK, &alrm, NULL);
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    printf("done %d\nslowest_fork_us %ld\n", n >= trials ? trials : n, slowest_us);
    return 0;
}
