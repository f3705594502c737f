/*
 * interpose/exec.c - the exec family: the image's last figures first.
 *
 * Room: glibc's exec functions, exported over glibc's, each doing what
 * glibc 2.36's does after one call, hs_shim_before_exec() (lifecycle.c),
 * which hands the image's last figures to an attached eBPF probe (an exec
 * ends the image without an exit). Nothing else changes: the same system
 * calls, the same errno, nothing allocated (an exec is async-signal-safe,
 * and comes right after a fork).
 *
 * execve, execveat and fexecve are system calls (glibc's fexecve is
 * execveat(fd, "", ..., AT_EMPTY_PATH) on every kernel it supports here);
 * execv, execl and execle build their arguments as glibc's do; execvp,
 * execvpe and execlp search PATH with glibc's own execvpe (its search,
 * its script fallback), found at start-up (hs_exec_setup), not in a fork
 * or vfork child, where the loader's lock may be held by a thread that is
 * not there.
 */
#include "shim.h"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

extern char **environ;

typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
static execvpe_fn real_execvpe;

void hs_exec_setup(void)
{
    if (!real_execvpe) real_execvpe = (execvpe_fn)dlsym(RTLD_NEXT, "execvpe");
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    hs_shim_before_exec();
    return (int)syscall(SYS_execve, path, argv, envp);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    hs_shim_before_exec();
    return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

/* glibc's header says argv and envp are never NULL; glibc's fexecve checks
 * them all the same (EINVAL), and so does this one */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wnonnull-compare"
#pragma GCC diagnostic ignored "-Wtautological-pointer-compare"
EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    if (fd < 0 || argv == NULL || envp == NULL) {
        errno = EINVAL;
        return -1;
    }
    hs_shim_before_exec();
    return (int)syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
}
#pragma GCC diagnostic pop

EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    hs_shim_before_exec();
    if (!real_execvpe) {
        errno = ENOSYS;              /* the start-up found none: there is no glibc under us */
        return -1;
    }
    return real_execvpe(file, argv, envp);
}

EXPORT int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, environ); }

/* execl, execle, execlp: the arguments up to the NULL, into an array on the
 * stack (E2BIG past INT_MAX of them, as glibc) */
#define ARGS_TO_ARRAY(first, ap, argv, after)                                  \
    size_t argc_ = 1;                                                          \
    va_start(ap, first);                                                       \
    while (va_arg(ap, const char *) != NULL) {                                 \
        if (++argc_ >= INT_MAX) {                                              \
            va_end(ap);                                                        \
            errno = E2BIG;                                                     \
            return -1;                                                         \
        }                                                                      \
    }                                                                          \
    va_end(ap);                                                                \
    char *argv[argc_ + 1];                                                     \
    va_start(ap, first);                                                       \
    argv[0] = (char *)(first);                                                 \
    for (size_t i_ = 1; i_ <= argc_; i_++) argv[i_] = va_arg(ap, char *);     \
    after;                                                                     \
    va_end(ap)

EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    ARGS_TO_ARRAY(arg, ap, argv, (void)0);
    return execve(path, argv, environ);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    char **envp;
    ARGS_TO_ARRAY(arg, ap, argv, envp = va_arg(ap, char **));
    return execve(path, argv, envp);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    ARGS_TO_ARRAY(arg, ap, argv, (void)0);
    return execvpe(file, argv, environ);
}
