/*
 * tools/live.c - read the live counter files of running shimmed processes.
 *
 * Room: the file-system and /proc side of every reader in tools/ (top,
 * export, serve, gc, run --timeline). Validation and summing of the bytes
 * is the lead's hs_live_read_fd()/hs_live_sum() (core/live_read.c); here
 * we find the files and copy them into memory. The rules (issue 14), which
 * hold against a hostile user who can write files we look at:
 *
 *   - The directory is opened once (O_DIRECTORY|O_NOFOLLOW) and checked on
 *     that descriptor: a directory, owned by the reading user (root may name
 *     another user's directory with an explicit --dir), not writable by
 *     group or others. Everything after is relative to that descriptor
 *     (openat, fstatat, unlinkat): swapping the path for a symlink after the
 *     check changes nothing.
 *   - A file is opened with O_NOFOLLOW|O_NONBLOCK (a FIFO or device named
 *     like a pid cannot block us) and checked on the descriptor: a regular
 *     file of the directory's owner, not writable by others, of sane size.
 *   - Only copies are read (pread), never a mapping of the file: the process
 *     (or anybody) may truncate it while we read, and a copy cannot SIGBUS.
 *     The header is checked first (against the file size), then
 *     hs_live_read_fd (core/live_read.c) copies only the used part (header,
 *     then slots_offset + slots_used * slot_size) and, when the file is open
 *     read-write, asks the process for a publication so that successive
 *     reads never go back (live.h "Consistent reads").
 *   - The one exception is the window-peak reset of `export`, which
 *     needs an atomic exchange in the file: it maps the header for a few
 *     instructions under a SIGBUS guard (sigsetjmp), so a file truncated at
 *     that moment costs the reset, not the reader.
 */
#include "live.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *live_dir(const char *opt, char *buf, size_t cap)
{
    const char *e = getenv("HEAPSHIM_DIR");
    if (opt) snprintf(buf, cap, "%s", opt);
    else if (e && *e) snprintf(buf, cap, "%s", e);
    else snprintf(buf, cap, "/dev/shm/heapshim-%u", (unsigned)geteuid());
    return buf;
}

/* The one reader of small /proc files (live.h): the whole file up to
 * cap - 1 bytes, NUL-terminated, never following a link or blocking; bytes
 * or -1. */
ssize_t proc_read_path(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0) return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    return (ssize_t)n;
}

ssize_t proc_read(int pid, const char *what, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, what);
    return proc_read_path(path, buf, cap);
}

/* The one /proc/<pid>/stat start-time parser of the command: field 22, in
 * clock ticks since boot; 0 if the process is gone or the line is odd. */
uint64_t proc_start_time(int pid)
{
    return proc_stat_field(pid, 22);
}

int proc_ppid(int pid)
{
    return (int)proc_stat_field(pid, 4);
}

uint64_t proc_stat_field(int pid, int want)
{
    char path[64], buf[1024];
    if (pid <= 0) return 0;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (proc_read_path(path, buf, sizeof buf) <= 0) return 0;
    /* comm may hold spaces and parentheses: fields restart after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    p++;
    for (int field = 3; field <= want; field++) {
        while (*p == ' ') p++;
        if (!*p) return 0;
        if (field == want) {
            uint64_t v = 0;
            int digits = 0;
            for (; *p >= '0' && *p <= '9' && digits < 20; p++, digits++) v = v * 10 + (uint64_t)(*p - '0');
            return digits ? v : 0;
        }
        while (*p && *p != ' ') p++;
    }
    return 0;
}

int proc_other_pidns(uint64_t pidns_ino)
{
    static uint64_t mine;
    static int known;
    if (!known) {
        struct stat st;
        mine = stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
        known = 1;
    }
    return pidns_ino && mine && pidns_ino != mine;
}

/* The boot-time offset of a time namespace (/proc/PID/timens_offsets,
 * Linux 5.6+: "boottime SECONDS NANOSECONDS"), in clock ticks; 0 when
 * there is none or it cannot be read. */
static int64_t timens_boot_ticks(const char *path)
{
    char buf[256];
    if (proc_read_path(path, buf, sizeof buf) <= 0) return 0;
    const char *b = strstr(buf, "boottime");
    long long sec = 0, nsec = 0;
    if (!b || sscanf(b + 8, " %lld %lld", &sec, &nsec) != 2) return 0;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0) hz = 100;
    return (int64_t)sec * hz + (int64_t)nsec / (1000000000 / hz);
}

/*
 * Does /proc's start time `st` of pid (in this reader's view) name the
 * process whose header says `start_time`? /proc/PID/stat gives the start
 * in the reading process's time namespace (boot time plus the namespace's
 * boottime offset), and the shim wrote its own view: a process in a time
 * namespace of its own (unshare --time --boottime, a container) reads a
 * start that is off from ours by the difference of the two offsets. Equal,
 * or equal after that difference (within the tick that the two roundings
 * may split). Only read when the plain comparison fails.
 */
static int same_start(int pid, uint64_t st, uint64_t start_time)
{
    if (st == start_time) return 1;
    static int64_t mine;
    static int known;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/timens_offsets", pid);
    int64_t theirs = timens_boot_ticks(path);
    if (!known) {
        mine = timens_boot_ticks("/proc/self/timens_offsets");
        known = 1;
    }
    if (theirs == mine) return 0;
    int64_t want = (int64_t)st + (theirs - mine), d = (int64_t)start_time - want;
    return d >= -1 && d <= 1;
}

int proc_alive(int pid, uint64_t start_time, uint64_t exe_dev, uint64_t exe_ino)
{
    if (pid <= 0) return 0;
    uint64_t st = proc_start_time(pid);
    if (st == 0 || !same_start(pid, st, start_time)) return 0;
    /* same pid, same start: the same process, but maybe another program
     * (exec() keeps both): its program file is the header's, when both
     * are known (another user's process may not be looked at) */
    char path[64];
    struct stat es;
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    if (exe_ino && stat(path, &es) == 0 && ((uint64_t)es.st_dev != exe_dev || (uint64_t)es.st_ino != exe_ino))
        return 0;
    return 1;
}

uint64_t proc_rss_bytes(int pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/statm", pid);
    if (proc_read_path(path, buf, sizeof buf) <= 0) return 0;
    unsigned long long size, res;
    if (sscanf(buf, "%llu %llu", &size, &res) != 2) return 0;
    return res * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t proc_rss_anon_bytes(int pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    ssize_t n = proc_read_path(path, buf, sizeof buf);
    if (n <= 0) return 0;
    const char *p = strstr(buf, "\nRssAnon:");
    unsigned long long kb;
    if (!p || sscanf(p + 9, " %llu", &kb) != 1) return 0;
    return (uint64_t)kb * 1024u;
}

/* ---- the directory ------------------------------------------------------- */

int live_dir_open(const char *path, int explicit_dir, struct live_dirh *d, char *err, size_t cap)
{
    memset(d, 0, sizeof *d);
    d->fd = -1;
    snprintf(d->path, sizeof d->path, "%s", path);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) return 1;
        if (e == ELOOP || e == ENOTDIR) {
            struct stat ls;
            int link = lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode);
            snprintf(err, cap, "%s: live directory %s (accepted: a real directory of yours, mode 0700)",
                     path, link ? "is a symlink; refusing to follow it" : "is not a directory");
        } else {
            snprintf(err, cap, "%s: cannot open live directory: %s", path, strerror(e));
        }
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, cap, "%s: live directory is not a directory (accepted: a directory of yours, mode 0700)", path);
        close(fd);
        return -1;
    }
    uid_t me = geteuid();
    if (st.st_uid != me && !(me == 0 && explicit_dir)) {
        snprintf(err, cap,
                 "%s: live directory is owned by uid %u, not by you (uid %u); refusing to read it "
                 "(accepted: a directory of yours%s)", path, (unsigned)st.st_uid, (unsigned)me,
                 me == 0 ? ", or another user's named with --dir" : "");
        close(fd);
        return -1;
    }
    if (st.st_mode & 022) {
        snprintf(err, cap,
                 "%s: live directory has mode %04o: others can add files to it; refusing to read it "
                 "(accepted: no group/other write bit, e.g. chmod 700)", path, (unsigned)(st.st_mode & 07777));
        close(fd);
        return -1;
    }
    d->fd = fd;
    d->owner = st.st_uid;
    return 0;
}

void live_dir_close(struct live_dirh *d)
{
    if (d->fd >= 0) close(d->fd);
    d->fd = -1;
}

int live_dir_check(const char *path, int explicit_dir, int watching)
{
    struct live_dirh d;
    char err[4600];
    int rc = live_dir_open(path, explicit_dir, &d, err, sizeof err);
    if (rc < 0) die_bad("%s", err);
    if (rc == 0) {
        live_dir_close(&d);
        return 0;
    }
    if (!explicit_dir) return 1;        /* the default: no shimmed process has run yet */
    if (!watching)
        die_bad("--dir %s: no such directory (accepted: an existing live directory, the "
                "HEAPSHIM_DIR the programs ran with)", path);
    warnx_("--dir %s: no such directory yet; showing no process until it is created", path);
    return 1;
}

/* ---- one file --------------------------------------------------------------- */

static int read_all_at(int fd, void *b, size_t want, off_t off)
{
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, (char *)b + got, want - got, off + (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got == want ? 0 : -1;
}

/* SIGBUS guard for the window reset (the only place a file is mapped). */
static __thread sigjmp_buf *bus_jmp;
static void on_bus(int sig)
{
    if (bus_jmp) siglongjmp(*bus_jmp, 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Take the per-scrape high-water marks and start the next window at the
 * process's current claim (an upper bound of its live bytes, live.h
 * "Peaks"), atomically, so a spike between two scrapes is reported once and
 * a window never starts below what is live. Semantics: the window belongs to
 * the file, not to the reader: each `export` closes it for every
 * reader (two scrapers of the same process each see only the spikes since
 * the other's last scrape; `export --no-reset` and top only look). Returns 0,
 * or -1 (file too short, or truncated under us: SIGBUS caught) with out
 * left as it was. */
static int take_window(int fd, uint64_t out[4])
{
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < sizeof(struct hs_live_header)) return -1;
    void *m = mmap(NULL, sizeof(struct hs_live_header), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return -1;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_bus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old);
    sigjmp_buf jb;
    volatile int rc = -1;
    uint64_t got[4];
    if (sigsetjmp(jb, 1) == 0) {
        bus_jmp = &jb;
        struct hs_live_header *h = m;
        for (int i = 0; i < 4; i++) {
            int64_t v = __atomic_load_n(&h->window_peak[i], __ATOMIC_ACQUIRE), c;
            do {
                c = __atomic_load_n(&h->claimed[i], __ATOMIC_ACQUIRE);
                if (c < 0) c = 0;
            } while (!__atomic_compare_exchange_n(&h->window_peak[i], &v, c, 0, __ATOMIC_ACQ_REL,
                                                  __ATOMIC_ACQUIRE));
            got[i] = v > 0 ? (uint64_t)v : 0;
        }
        rc = 0;
    }
    bus_jmp = NULL;
    sigaction(SIGBUS, &old, NULL);
    munmap(m, sizeof(struct hs_live_header));
    if (rc == 0) memcpy(out, got, sizeof got);
    return rc;
}

/* Check the header of the file (read with pread) against the file's size,
 * then read it with the lead's hs_live_read_fd (core/live_read.c: copies of
 * the used part only, a publication request when we may write, never a
 * mapping) into a buffer of the file's size (only the used part of it is
 * touched). On success *buf_out holds the copy that was summed. */
static int open_rw_same(const struct live_dirh *d, const char *name, const struct stat *st);

/* A scan's whole wait for busy processes (live_scan_at sets it): past
 * it, a busy file gets one read without waiting, so that files whose
 * publication never ends (a writer stopped mid-publication, a hostile file)
 * cost a scan SCAN_WAIT_MS in all, not 2 x LIVE_WAIT_MS each. 0: no scan. */
#define SCAN_WAIT_MS 200
static uint64_t scan_wait_until;

static int read_region(const struct live_dirh *d, const char *name, int fd, const struct stat *st,
                       int *rwfd, char **buf_out, struct hs_live_snapshot *snap, const char **why)
{
    uint64_t fsize = (uint64_t)st->st_size;
    struct hs_live_header h;
    *buf_out = NULL;
    memset(&h, 0, sizeof h);
    size_t hl = fsize < sizeof h ? (size_t)fsize : sizeof h;
    if (read_all_at(fd, &h, hl, 0) != 0) {
        *why = "short read (file shrank?)";
        return -1;
    }
    /* the identity checks against the size of the file: they look at
     * header fields only (live.h), and h holds the whole header whenever
     * fsize >= sizeof h, which they check first */
    if (live_guard(&h, (size_t)fsize, why) != 0 || hs_live_check_header(&h, (size_t)fsize, why) != 0)
        return -1;
    char *buf = calloc(1, (size_t)fsize);
    if (!buf) {
        *why = "out of memory";
        return -1;
    }
    /* First through the read-only descriptor without waiting: a quiet
     * process (most of them) is read as an instant in two copies. A busy
     * one is read again through a read-write descriptor, so that
     * hs_live_read_fd can ask it for a publication (live.h "Consistent
     * reads": successive reads never go back). */
    const char *how = NULL;
    int rc = hs_live_read_fd(fd, buf, (size_t)fsize, 0, snap, &how, why);
    if (rc == 0 && strcmp(how, "instant") == 0) {
        *buf_out = buf;
        return 0;
    }
    if (*rwfd < 0 && d) *rwfd = open_rw_same(d, name, st);
    unsigned wait = LIVE_WAIT_MS, tries = 2;
    if (scan_wait_until) {
        uint64_t now = now_ns(), left = now < scan_wait_until ? (scan_wait_until - now) / 1000000u : 0;
        if (left < wait) wait = (unsigned)left;
        if (!left) tries = 1;
    }
    if (*rwfd >= 0) {
        for (unsigned attempt = 0; attempt < tries; attempt++) {
            rc = hs_live_read_fd(*rwfd, buf, (size_t)fsize, wait, snap, &how, why);
            if (rc == 0 || strncmp(*why, "busy", 4) != 0) break;   /* only "busy" is worth a retry */
        }
    }
    if (rc != 0) {
        free(buf);
        return -1;
    }
    *buf_out = buf;
    return 0;
}

/* The same file opened read-write (for the window reset and publication
 * requests), or -1: never another file that took its name meanwhile. */
static int open_rw_same(const struct live_dirh *d, const char *name, const struct stat *st)
{
    int fd = openat(d->fd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return -1;
    struct stat s2;
    if (fstat(fd, &s2) != 0 || s2.st_dev != st->st_dev || s2.st_ino != st->st_ino) {
        close(fd);
        return -1;
    }
    return fd;
}

int live_open_at(const struct live_dirh *d, const char *name, struct stat *st, char *err, size_t cap)
{
    int fd = openat(d->fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP) snprintf(err, cap, "%s/%s: is a symlink (not followed)", d->path, name);
        else snprintf(err, cap, "%s/%s: cannot open: %s", d->path, name, strerror(e));
        return e == ENOENT ? LIVE_GONE : LIVE_BAD;
    }
    const char *why = NULL;
    if (fstat(fd, st) != 0) why = "cannot stat it";
    else if (!S_ISREG(st->st_mode)) why = "not a regular file";
    else if (st->st_uid != d->owner) why = "owned by another user than the directory";
    else if (st->st_mode & 022) why = "writable by group or others";
    else if ((uint64_t)st->st_size > LIVE_MAX_FILE) why = "too large for a heapshim live file";
    if (why) {
        snprintf(err, cap, "%s/%s: %s (accepted: a regular live file of uid %u, mode 0600)", d->path,
                 name, why, (unsigned)d->owner);
        close(fd);
        return LIVE_BAD;
    }
    return fd;
}

/* the header's identity and window into p (after a successful read) */
static void view_from_header(struct proc_view *p, const struct hs_live_header *h)
{
    p->pid = h->pid;
    p->ppid = h->ppid > 0 ? h->ppid : 0;
    p->uid = h->uid;
    memcpy(p->comm, h->comm, sizeof p->comm);
    memcpy(p->cmdline, h->cmdline, sizeof p->cmdline);
    memcpy(p->allocator, h->allocator, sizeof p->allocator);
    p->state = h->state;
    p->start_time = h->start_time;
    p->exe_dev = h->exe_dev;
    p->exe_ino = h->exe_ino;
    p->pidns_ino = h->pidns_ino;
    p->created_unix_ns = h->created_unix_ns;
    for (int i = 0; i < 4; i++) p->window_peak[i] = h->window_peak[i] > 0 ? (uint64_t)h->window_peak[i] : 0;
    memcpy(p->wsteps, h->wsteps, sizeof p->wsteps);
    memcpy(p->claimed, h->claimed, sizeof p->claimed);
}

/* the labels the file records (live.h labels_offset), from a copy of len
 * bytes whose header was checked */
static void view_labels(struct proc_view *p, const void *region, size_t len)
{
    int rc = hs_live_labels(region, len, p->file_labels, sizeof p->file_labels);
    p->has_file_labels = rc != -2;
    p->file_labels_rc = rc;
}

/* The HEAPSHIM_LABELS a live file open on fd records (hs_live_labels'
 * answer, -2 also when the file is not a live file of this version) and
 * its created_unix_ns (0 unknown): for the exporter's watcher, which names
 * a newcomer before reading it whole. */
int live_labels_fd(int fd, char *out, size_t cap, uint64_t *created)
{
    *created = 0;
    _Alignas(struct hs_live_header) char b[sizeof(struct hs_live_header) + HS_LIVE_LABELS_AREA];
    const struct hs_live_header *h = (const void *)b;
    if (cap) out[0] = 0;
    ssize_t n = pread(fd, b, sizeof b, 0);
    if (n < (ssize_t)sizeof *h || h->magic != HS_LIVE_MAGIC || h->version != HS_LIVE_VERSION) return -2;
    *created = h->created_unix_ns;
    return hs_live_labels(b, (size_t)n, out, cap);
}

/* CLOCK_MONOTONIC_COARSE, the clock of the window steps (live.h) */
uint64_t live_wclock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Read an open, checked file (fd stays open): the body of live_read_at
 * and live_read_kept. d and name may be NULL (no read-write reopen then:
 * no publication request, no window reset). */
/* The header's identity, once read into p: a file of another pid than the
 * name says, or of another pid namespace, is not this reader's to use.
 * LIVE_BAD with the reason in err, or 0. */
static int identity_refused(const struct proc_view *p, int expect_pid, const char *dp, const char *nm,
                            char *err, size_t cap)
{
    if (expect_pid >= 0 && p->pid != expect_pid) {
        snprintf(err, cap, "%s/%s: foreign live file: its header says pid %d", dp, nm, p->pid);
        return LIVE_BAD;
    }
    if (proc_other_pidns(p->pidns_ino)) {
        snprintf(err, cap, "%s/%s: a process of another pid namespace (pid %d there), which this one cannot look up",
                 dp, nm, p->pid);
        return LIVE_BAD;
    }
    return 0;
}

static int read_opened(const struct live_dirh *d, const char *name, int fd, const struct stat *st,
                       int expect_pid, int flags, struct proc_view *p, char *err, size_t cap)
{
    int rwfd = -1;      /* opened when needed: window reset, a busy process */
    const char *why = NULL;
    const char *dp = d ? d->path : "(kept)", *nm = name ? name : "?";
    char *a;
    int gone;
    /* A process found gone after the copy may have published its final
     * counters (its last frees, shim_exit) between the copy and the look
     * at /proc: the copy is then read again, once, from a file that no
     * longer changes, so that an exit is folded with its final figures
     * (a slow reader folded workers without their last 3,000 frees:
     * 46-serve-monotonic under SAN=1). */
    for (int pass = 0;; pass++) {
        if (pass) memset(p, 0, sizeof *p);
        uint64_t t0 = live_wclock_ns();  /* before the copy (live.h "Window steps") */
        if (read_region(d, name, fd, st, &rwfd, &a, &p->snap, &why) != 0) {
            snprintf(err, cap, "%s/%s: %s", dp, nm, why);
            if (rwfd >= 0) close(rwfd);
            return LIVE_BAD;
        }
        view_from_header(p, (const struct hs_live_header *)a);
        view_labels(p, a, (size_t)st->st_size);
        (void)hs_live_base_read(a, (size_t)st->st_size, &p->base);
        p->wread_ns = t0;
        free(a);
        int refused = identity_refused(p, expect_pid, dp, nm, err, cap);
        if (refused) {
            if (rwfd >= 0) close(rwfd);
            return refused;
        }
        gone = p->state == HS_LIVE_STATE_EXITED || !proc_alive(p->pid, p->start_time, p->exe_dev, p->exe_ino);
        if (!gone || p->state == HS_LIVE_STATE_EXITED || pass == 1) break;
    }
    if (gone) {
        if (rwfd >= 0) close(rwfd);
        snprintf(err, cap, "%s/%s: stale (process %d is gone or is another process now)", dp, nm,
                 p->pid);
        return LIVE_STALE;
    }
    if ((flags & LIVE_RESET_WINDOW) && rwfd < 0 && d) rwfd = open_rw_same(d, name, st);
    if ((flags & LIVE_RESET_WINDOW) && rwfd >= 0 && take_window(rwfd, p->window_peak) == 0)
        p->window_reset = 1;
    if (rwfd >= 0) close(rwfd);
    p->rss_bytes = proc_rss_bytes(p->pid);
    p->rss_anon_bytes = proc_rss_anon_bytes(p->pid);
    return LIVE_OK;
}

int live_read_kept(const struct live_dirh *d, const char *name, int fd, int flags,
                   struct proc_view *p, char *err, size_t cap)
{
    memset(p, 0, sizeof *p);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > LIVE_MAX_FILE) {
        snprintf(err, cap, "kept live file: not a regular file of sane size");
        return LIVE_BAD;
    }
    return read_opened(d, name, fd, &st, -1, flags, p, err, cap);
}

int live_read_at(const struct live_dirh *d, const char *name, int expect_pid, int flags,
                 struct proc_view *p, struct stat *st_out, char *err, size_t cap)
{
    memset(p, 0, sizeof *p);
    struct stat st;
    int fd = live_open_at(d, name, &st, err, cap);
    if (fd < 0) return fd;
    if (st_out) *st_out = st;
    int rc = read_opened(d, name, fd, &st, expect_pid, flags, p, err, cap);
    close(fd);
    return rc;
}

int live_peek_at(const struct live_dirh *d, const char *name, int expect_pid, struct proc_view *p,
                 char *err, size_t cap)
{
    memset(p, 0, sizeof *p);
    struct stat st;
    int fd = live_open_at(d, name, &st, err, cap);   /* no link, regular, owner, mode, size */
    if (fd < 0) return fd;
    struct hs_live_header h;
    memset(&h, 0, sizeof h);
    uint64_t fsize = (uint64_t)st.st_size;
    size_t hl = fsize < sizeof h ? (size_t)fsize : sizeof h;
    const char *why = NULL;
    /* the same identity checks as a whole read (read_region), on the header
     * alone: they look at header fields only, against the file's size */
    if (read_all_at(fd, &h, hl, 0) != 0) why = "short read (file shrank?)";
    else if (live_guard(&h, (size_t)fsize, &why) == 0)
        (void)hs_live_check_header(&h, (size_t)fsize, &why);
    close(fd);
    if (why) {
        snprintf(err, cap, "%s/%s: %s", d->path, name, why);
        return LIVE_BAD;
    }
    view_from_header(p, &h);
    int refused = identity_refused(p, expect_pid, d->path, name, err, cap);
    return refused ? refused : LIVE_OK;
}

int live_read(const char *path, int expect_pid, int flags, struct proc_view *p, char *err,
              size_t cap)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct live_dirh d;
    memset(p, 0, sizeof *p);
    int rc = live_dir_open(dir, 0, &d, err, cap);
    if (rc == 1) {
        snprintf(err, cap, "%s: cannot open: %s", path, strerror(ENOENT));
        return LIVE_GONE;
    }
    if (rc) return LIVE_BAD;
    rc = live_read_at(&d, name, expect_pid, flags, p, NULL, err, cap);
    live_dir_close(&d);
    return rc;
}

int live_unlink_stale(const struct live_dirh *d, const char *name, const struct stat *was,
                      char *err, size_t cap)
{
    /* the entry must still be the very file we judged stale: same inode,
     * in the directory we checked (unlinkat on the same descriptor) */
    struct stat st;
    if (fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        snprintf(err, cap, "%s/%s: cannot remove: %s", d->path, name, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_dev != was->st_dev || st.st_ino != was->st_ino) {
        snprintf(err, cap, "%s/%s: replaced while it was checked; left alone", d->path, name);
        return -1;
    }
    if (unlinkat(d->fd, name, 0) != 0) {
        snprintf(err, cap, "%s/%s: cannot remove: %s", d->path, name, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- the whole directory ------------------------------------------------------ */

static int add_view(struct scan *s, const struct proc_view *v)
{
    if (!(s->n & (s->n - 1))) {        /* grow at powers of two */
        struct proc_view *nv = realloc(s->v, (size_t)(s->n ? 2 * s->n : 1) * sizeof *nv);
        if (!nv) return -1;
        s->v = nv;
    }
    s->v[s->n++] = *v;
    return 0;
}

int live_pid_name(const char *name)
{
    uint64_t v;
    if (parse_u64(name, 1, 0x7fffffff, &v)) return -1;
    return (int)v;
}

int live_exited_name(const char *name)
{
    size_t n = strlen(HS_LIVE_EXITED_PREFIX);
    if (strncmp(name, HS_LIVE_EXITED_PREFIX, n) != 0) return 0;
    /* <pid>.<inode> */
    const char *dot = strchr(name + n, '.');
    if (!dot || dot == name + n || !dot[1] || dot - (name + n) > 10) return 0;
    for (const char *c = name + n; *c; c++)
        if (c != dot && (*c < '0' || *c > '9')) return 0;
    char pid[12];
    memcpy(pid, name + n, (size_t)(dot - (name + n)));
    pid[dot - (name + n)] = 0;
    int v = live_pid_name(pid);
    return v > 0 ? v : 0;
}

int live_collector_at(const struct live_dirh *d, struct stat *st, char *err, size_t cap)
{
    struct stat own;
    if (!st) st = &own;
    memset(st, 0, sizeof *st);
    int fd = openat(d->fd, HS_LIVE_COLLECTOR, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        snprintf(err, cap, "%s/%s: cannot open: %s", d->path, HS_LIVE_COLLECTOR,
                 errno == ELOOP ? "a symlink (not followed)" : strerror(errno));
        return -1;
    }
    char buf[32];
    ssize_t n = -1;
    const char *why = NULL;
    if (fstat(fd, st) != 0) why = "cannot stat it";
    else if (!S_ISREG(st->st_mode)) why = "not a regular file";
    else if (st->st_uid != d->owner) why = "owned by another user than the directory";
    else if (st->st_mode & 022) why = "writable by group or others";
    else n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (why) {
        snprintf(err, cap, "%s/%s: %s (accepted: a regular file of uid %u, mode 0600, holding a pid)", d->path,
                 HS_LIVE_COLLECTOR, why, (unsigned)d->owner);
        return -1;
    }
    if (n <= 0) return 0;               /* being written, or empty: no collector yet */
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    /* "<pid> <start time>" (/proc/<pid>/stat field 22): a later process
     * with the same pid is not the collector */
    char *sp = strchr(buf, ' ');
    uint64_t start = 0;
    int pid = -1;
    if (sp) {
        *sp = 0;
        pid = live_pid_name(buf);
        if (parse_u64(sp + 1, 1, UINT64_MAX, &start)) pid = -1;
        *sp = ' ';
    }
    if (pid <= 0) {
        snprintf(err, cap, "%s/%s: holds '%.24s', not '<pid> <start time>'", d->path, HS_LIVE_COLLECTOR, buf);
        return -1;
    }
    return proc_alive(pid, start, 0, 0) ? pid : 0;
}

static int cmp_pid(const void *a, const void *b)
{
    const struct proc_view *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static int scan_files(const struct live_dirh *d, const int *pids, int npids, int flags, struct scan *s,
                      int quiet)
{
    memset(s, 0, sizeof *s);
    char name[32], err[4600];
    struct proc_view v;
    if (npids > 0) {
        /* explicit pids: every one must be there and readable */
        for (int i = 0; i < npids; i++) {
            snprintf(name, sizeof name, "%d", pids[i]);
            int rc = live_read_at(d, name, pids[i], flags, &v, NULL, err, sizeof err);
            if (rc == LIVE_OK) add_view(s, &v);
            else if (rc == LIVE_STALE && (flags & LIVE_KEEP_STALE)) {
                v.stale = 1;            /* its last counters (read_opened read them) */
                add_view(s, &v);
                s->stale++;
            } else {
                s->bad++;
                if (quiet) continue;
                if (rc == LIVE_GONE)
                    warnx_("pid %d: no live file %s/%s (not running under the shim, or HEAPSHIM_PUBLISH=0)",
                           pids[i], d->path, name);
                else warnx_("%s", err);
            }
        }
        return s->bad ? -1 : 0;
    }
    int dfd = dup(d->fd);
    DIR *dd = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!dd) {
        if (dfd >= 0) close(dfd);
        warnx_("%s: cannot list live directory: %s", d->path, strerror(errno));
        s->bad++;
        return -1;
    }
    rewinddir(dd);
    struct dirent *de;
    while ((de = readdir(dd))) {
        int pid = live_pid_name(de->d_name);
        if (pid < 0) continue;             /* *.tmp and the like: not live files */
        int rc = live_read_at(d, de->d_name, pid, flags, &v, NULL, err, sizeof err);
        if (rc == LIVE_OK) add_view(s, &v);
        else if (rc == LIVE_STALE) s->stale++;
        else if (rc == LIVE_BAD) {
            s->bad++;
            if (!quiet) warnx_("%s (skipped)", err);
        }
    }
    closedir(dd);
    if (s->n > 1) qsort(s->v, (size_t)s->n, sizeof *s->v, cmp_pid);
    return 0;
}

int live_scan_at(const struct live_dirh *d, const int *pids, int npids, int flags, struct scan *s, int quiet)
{
    scan_wait_until = now_ns() + SCAN_WAIT_MS * 1000000ull;
    int rc = scan_files(d, pids, npids, flags, s, quiet);
    scan_wait_until = 0;
    return rc;
}


int live_scan_opt(const char *dir, int explicit_dir, const int *pids, int npids, int flags,
                  struct scan *s, int quiet)
{
    memset(s, 0, sizeof *s);
    struct live_dirh d;
    char err[4600];
    int rc = live_dir_open(dir, explicit_dir, &d, err, sizeof err);
    if (rc == 1) {
        s->nodir = 1;
        if (npids <= 0) return 0;          /* nobody has published yet */
        for (int i = 0; i < npids; i++)
            if (!quiet)
                warnx_("pid %d: no live file %s/%d (not running under the shim, or HEAPSHIM_PUBLISH=0)",
                       pids[i], dir, pids[i]);
        s->bad = npids;
        return -1;
    }
    if (rc) {
        warnx_("%s", err);
        s->bad++;
        return -1;
    }
    rc = live_scan_at(&d, pids, npids, flags, s, quiet);
    live_dir_close(&d);
    return rc;
}

int live_scan(const char *dir, const int *pids, int npids, int flags, struct scan *s, int quiet)
{
    return live_scan_opt(dir, 0, pids, npids, flags, s, quiet);
}

void scan_free(struct scan *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}
