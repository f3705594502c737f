/*
 * core/prim/proc.c - process identity and size, read from /proc.
 *
 * Room: reads /proc/<pid>/stat, /proc/self/{comm,cmdline,statm} and
 * getrusage(). It may run inside the very first malloc() of a process (the
 * core fills the live header while it initialises), so it only uses system
 * calls and stack buffers: no malloc, no stdio, nothing that may allocate.
 */
#include "proc.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Read up to cap bytes of a (small, /proc) file; returns bytes read or -1. */
static ssize_t slurp(const char *path, char *buf, size_t cap)
{
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        /* a short read of these small /proc files is their end: no second
         * read (a system call at each start) to be told so */
        if ((size_t)r < cap - (got - (size_t)r)) break;
    }
    close(fd);
    return (ssize_t)got;
}

/* Decimal digits to a number, stopping at the first non-digit. */
static uint64_t parse_u64(const char *p, const char *end)
{
    uint64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

/* "/proc/<pid>/stat" without snprintf, so this file needs nothing of stdio. */
static void stat_path(int pid, char out[32])
{
    char digits[12];
    int n = 0;
    unsigned v = (unsigned)pid;
    do digits[n++] = (char)('0' + v % 10); while ((v /= 10) && n < 11);
    char *o = out;
    memcpy(o, "/proc/", 6);
    o += 6;
    while (n) *o++ = digits[--n];
    memcpy(o, "/stat", 6);   /* with the NUL */
}

uint64_t hs_proc_start_time(int pid)
{
    if (pid <= 0) return 0;
    char path[32], buf[1024];
    stat_path(pid, path);
    ssize_t n = slurp(path, buf, sizeof buf);
    if (n <= 0) return 0;
    /* comm (field 2) is in parentheses and may itself hold spaces and ')':
     * the last ')' of the line is the one that closes it. */
    const char *end = buf + n, *p = NULL;
    for (const char *q = buf; q < end; q++)
        if (*q == ')') p = q;
    if (!p) return 0;
    p++;                                   /* now at " <field 3> <field 4> ..." */
    for (int field = 2; field < 22; field++) {
        if (p >= end || *p != ' ') return 0;
        p++;                               /* at the start of field+1 */
        if (field + 1 == 22) break;
        while (p < end && *p != ' ') p++;
    }
    if (p >= end || *p < '0' || *p > '9') return 0;
    return parse_u64(p, end);
}

void hs_proc_comm(char *buf, size_t cap)
{
    if (!cap) return;
    /* the main thread's name is the process's: one prctl, not a file */
    char name[16];
    if (cap >= sizeof name && syscall(SYS_gettid) == getpid() && prctl(PR_GET_NAME, name) == 0) {
        name[15] = 0;
        memcpy(buf, name, strlen(name) + 1);
        return;
    }
    ssize_t n = slurp("/proc/self/comm", buf, cap - 1);
    if (n < 0) n = 0;
    buf[n] = 0;
    char *nl = memchr(buf, '\n', (size_t)n);
    if (nl) *nl = 0;
}

/* Length of s[0, n) cut back so that it does not end inside a UTF-8
 * sequence: a truncated command must stay valid text for JSON readers. */
static size_t utf8_cut(const char *s, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0) return n;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead < 0x80 || need == back + 1) return n;   /* ASCII, or complete */
    if (need > back + 1) return i - 1;             /* incomplete: drop it */
    return n;                                      /* not UTF-8 anyway */
}

static int start_argc;
static char **start_argv;

void hs_proc_set_args(int argc, char **argv)
{
    start_argc = argv ? argc : 0;
    start_argv = argv;
}

/* the arguments as /proc/self/cmdline would give them: each followed by
 * its NUL, at most cap bytes */
static ssize_t args_joined(char *buf, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < start_argc && start_argv[i] && n < cap; i++) {
        size_t len = strlen(start_argv[i]) + 1;
        if (len > cap - n) len = cap - n;
        memcpy(buf + n, start_argv[i], len);
        n += len;
    }
    return (ssize_t)n;
}

void hs_proc_cmdline(char *buf, size_t cap)
{
    if (!cap) return;
    ssize_t n = start_argv ? args_joined(buf, cap - 1) : slurp("/proc/self/cmdline", buf, cap - 1);
    if (n <= 0) {
        buf[0] = 0;
        return;
    }
    size_t len = (size_t)n;
    int cut = 0;
    if (len == cap - 1) {
        /* full buffer: the kernel may have had more. Unless it ended on an
         * argument's NUL, the last argument may be cut mid-character. */
        cut = buf[len - 1] != 0;
    }
    while (len > 0 && buf[len - 1] == 0) len--;   /* the last argument's NUL */
    for (size_t i = 0; i < len; i++)
        if (buf[i] == 0) buf[i] = ' ';
    if (cut) len = utf8_cut(buf, len);
    buf[len] = 0;
}

uint64_t hs_proc_rss_bytes(void)
{
    char buf[256];
    ssize_t n = slurp("/proc/self/statm", buf, sizeof buf);
    if (n <= 0) return 0;
    const char *p = buf, *end = buf + n;
    while (p < end && *p != ' ') p++;      /* skip size, to resident */
    if (p >= end) return 0;
    long page = sysconf(_SC_PAGESIZE);
    return parse_u64(p + 1, end) * (uint64_t)(page > 0 ? page : 4096);
}

uint64_t hs_proc_rss_peak_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0 || ru.ru_maxrss < 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024u;   /* Linux reports KiB */
}

/* a "Name:   N kB" line of /proc/self/status, in bytes; 0 if absent */
static uint64_t status_kb(const char *buf, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl < n; i++) {
        if ((i == 0 || buf[i - 1] == '\n') && !memcmp(buf + i, key, kl) && buf[i + kl] == ':') {
            const char *p = buf + i + kl + 1;
            while (p < buf + n && (*p == ' ' || *p == '\t')) p++;
            return parse_u64(p, buf + n) * 1024u;
        }
    }
    return 0;
}

void hs_proc_anon(uint64_t *now, uint64_t *peak)
{
    char buf[4096];
    ssize_t n = slurp("/proc/self/status", buf, sizeof buf);
    *now = *peak = 0;
    if (n <= 0) return;
    uint64_t hwm = status_kb(buf, (size_t)n, "VmHWM"), file = status_kb(buf, (size_t)n, "RssFile"),
             shm = status_kb(buf, (size_t)n, "RssShmem");
    *now = status_kb(buf, (size_t)n, "RssAnon");
    *peak = hwm > file + shm ? hwm - file - shm : 0;
    if (*peak < *now) *peak = *now;
}

void hs_proc_exe_id(uint64_t *dev, uint64_t *ino)
{
    struct stat st;
    int err = errno;
    if (syscall(SYS_newfstatat, AT_FDCWD, "/proc/self/exe", &st, 0) == 0) {
        *dev = (uint64_t)st.st_dev;
        *ino = (uint64_t)st.st_ino;
    } else {
        *dev = *ino = 0;
    }
    errno = err;
}

void hs_proc_exe_path(char *buf, size_t cap)
{
    if (!cap) return;
    int err = errno;
    long n = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", buf, cap - 1);
    buf[n > 0 ? n : 0] = 0;
    errno = err;
}

uint64_t hs_proc_pidns(void)
{
    struct stat st;
    int err = errno;
    uint64_t ino = syscall(SYS_newfstatat, AT_FDCWD, "/proc/self/ns/pid", &st, 0) == 0 ? (uint64_t)st.st_ino : 0;
    errno = err;
    return ino;
}

void hs_live_fill_child_identity(struct hs_live_header *h, bool at_fork)
{
    struct timespec ts;
    pid_t pid = getpid();
    /* at the fork: the parent is the forking process, and the start time
     * is not read (a first /proc read costs a new process 25-35 us, and
     * most fork children exec or exit before they have a file that a
     * reader could check it against: the probe takes it from the kernel
     * while it is 0); when the file is made, the start time is read and
     * the parent kept (it may be gone by now) */
    if (at_fork) {
        h->start_time = 0;
        h->ppid = (int32_t)getppid();
    } else if (h->pid != (int32_t)pid || !h->start_time) {
        h->start_time = hs_proc_start_time((int)pid);
    }
    h->pid = (int32_t)pid;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->created_unix_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hs_live_fill_identity(struct hs_live_header *h)
{
    struct timespec ts;
    pid_t pid = getpid();
    h->pid = (int32_t)pid;
    h->ppid = (int32_t)getppid();
    h->uid = (uint32_t)getuid();
    h->start_time = hs_proc_start_time((int)pid);
    clock_gettime(CLOCK_REALTIME, &ts);
    h->created_unix_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    hs_proc_comm(h->comm, sizeof h->comm);
    hs_proc_cmdline(h->cmdline, sizeof h->cmdline);
    hs_proc_exe_id(&h->exe_dev, &h->exe_ino);
    h->pidns_ino = hs_proc_pidns();
}
