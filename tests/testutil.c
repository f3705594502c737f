/* tests/testutil.c - helpers shared by the CUnit programs. */
#include "testutil.h"
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int hs_test_in_child(void (*fn)(void *), void *arg, char *buf, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        signal(SIGABRT, SIG_DFL);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    for (;;) {
        char tmp[512];
        ssize_t r = read(fds[0], tmp, sizeof tmp);
        if (r <= 0) break;
        for (ssize_t i = 0; i < r && got + 1 < cap; i++) buf[got++] = tmp[i];
    }
    if (cap) buf[got] = 0;
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

void hs_test_add_suite(const char *name, const hs_test_t *tests)
{
    if (!CU_get_registry() && CU_initialize_registry() != CUE_SUCCESS) exit(2);
    CU_pSuite s = CU_add_suite(name, NULL, NULL);
    if (!s) exit(2);
    for (; tests->name; tests++)
        if (!CU_add_test(s, tests->name, tests->fn)) exit(2);
}

int hs_test_main(void)
{
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
