/*
 * tools/live.c - read the live counter files of running shimmed processes.
 *
 * Room: the file-system and /proc side of the readers (top, export, serve,
 * gc, run --timeline). Validation and summing of the bytes is the lead's
 * hs_live_sum() (core/live_read.c); here we find the files, copy them into
 * memory (a copy cannot SIGBUS if the file shrinks), tell live from stale,
 * and reset the per-scrape high-water mark for the exporter.
 */
#include "cli.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *live_dir(const char *opt, char *buf, size_t cap)
{
    const char *e = getenv("HEAPSHIM_DIR");
    if (opt) snprintf(buf, cap, "%s", opt);
    else if (e && *e) snprintf(buf, cap, "%s", e);
    else snprintf(buf, cap, "/dev/shm/heapshim-%u", (unsigned)getuid());
    return buf;
}

/* field 22 of /proc/<pid>/stat; 0 if the process is gone */
static uint64_t proc_start_time(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    /* comm may hold spaces and parentheses: fields restart after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    p++;
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ') p++;
        if (!*p) return 0;
        if (field == 22) return strtoull(p, NULL, 10);
        while (*p && *p != ' ') p++;
    }
    return 0;
}

int proc_alive(int pid, uint64_t start_time)
{
    if (pid <= 0) return 0;
    uint64_t st = proc_start_time(pid);
    return st != 0 && st == start_time;
}

uint64_t proc_rss_bytes(int pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/statm", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    unsigned long long size, res;
    if (sscanf(buf, "%llu %llu", &size, &res) != 2) return 0;
    return res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int read_all_at(int fd, char *b, size_t want)
{
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, b + got, want - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    return (int)(got == want ? 0 : -1);
}

/* Take the per-scrape high-water marks and start the next window at the
 * process's current claim (an upper bound of its live bytes, live.h
 * "Peaks"), atomically, so a spike between two scrapes is reported exactly
 * once and a window never starts below what is live. */
static int take_window(int fd, uint64_t out[4])
{
    void *m = mmap(NULL, sizeof(struct hs_live_header), PROT_READ | PROT_WRITE, MAP_SHARED,
                   fd, 0);
    if (m == MAP_FAILED) return -1;
    struct hs_live_header *h = m;
    for (int i = 0; i < 4; i++) {
        int64_t v = __atomic_load_n(&h->window_peak[i], __ATOMIC_ACQUIRE), c;
        do {
            c = __atomic_load_n(&h->claimed[i], __ATOMIC_ACQUIRE);
            if (c < 0) c = 0;
        } while (!__atomic_compare_exchange_n(&h->window_peak[i], &v, c, 0, __ATOMIC_ACQ_REL,
                                              __ATOMIC_ACQUIRE));
        out[i] = v > 0 ? (uint64_t)v : 0;
    }
    munmap(m, sizeof(struct hs_live_header));
    return 0;
}

int live_read(const char *path, int expect_pid, int flags, struct proc_view *p, char *err,
              size_t cap)
{
    memset(p, 0, sizeof *p);
    int rw = 0, fd = -1;
    if (flags & LIVE_RESET_WINDOW) {
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        rw = fd >= 0;
    }
    if (fd < 0) fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        snprintf(err, cap, "%s: cannot open: %s", path, strerror(e));
        return e == ENOENT ? LIVE_GONE : LIVE_BAD;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, cap, "%s: not a regular file", path);
        close(fd);
        return LIVE_BAD;
    }
    if ((uint64_t)st.st_size > LIVE_MAX_FILE) {
        snprintf(err, cap, "%s: too large for a heapshim live file (%lld bytes)", path,
                 (long long)st.st_size);
        close(fd);
        return LIVE_BAD;
    }
    /* Two copies of the used part, one after the other: the reader's rule
     * in hs_live_read_copies (live.h, "Consistent reads"). The rest of the
     * file (slots never used) stays zero in the copies. */
    size_t len = (size_t)st.st_size;
    char *buf = calloc(1, len ? len : 1), *buf2 = calloc(1, len ? len : 1);
    size_t used = len < sizeof(struct hs_live_header) ? len : sizeof(struct hs_live_header);
    int rd = !buf || !buf2 ? -1 : read_all_at(fd, buf, used);
    for (int round = 0; rd == 0 && round < 3; round++) {
        const struct hs_live_header *hh = (const struct hs_live_header *)buf;
        size_t want = len;
        if (len >= sizeof *hh && hh->slots_offset <= len && hh->slot_size == sizeof(struct hs_live_slot)) {
            uint64_t n = hh->slots_used < hh->nslots ? hh->slots_used : hh->nslots;
            uint64_t w = hh->slots_offset + n * sizeof(struct hs_live_slot);
            if (w < len) want = (size_t)w;
        }
        if (want <= used && round > 0) break;
        if (want > used) used = want;
        rd = read_all_at(fd, buf, used);
    }
    if (rd == 0) rd = read_all_at(fd, buf2, used);
    if (rd != 0) {
        snprintf(err, cap, "%s: %s", path, buf && buf2 ? "short read (file shrank?)" : "out of memory");
        free(buf);
        free(buf2);
        close(fd);
        return LIVE_BAD;
    }
    const char *why = "?", *how = NULL;
    if (live_guard(buf, len, &why) != 0 ||
        hs_live_read_copies(buf, buf2, len, &p->snap, &how, &why) != 0) {
        snprintf(err, cap, "%s: %s", path, why);
        free(buf);
        free(buf2);
        close(fd);
        return LIVE_BAD;
    }
    free(buf2);
    const struct hs_live_header *h = (const struct hs_live_header *)buf;
    p->pid = h->pid;
    memcpy(p->comm, h->comm, sizeof p->comm);
    memcpy(p->cmdline, h->cmdline, sizeof p->cmdline);
    memcpy(p->allocator, h->allocator, sizeof p->allocator);
    p->state = h->state;
    p->start_time = h->start_time;
    p->created_unix_ns = h->created_unix_ns;
    for (int i = 0; i < 4; i++) p->window_peak[i] = h->window_peak[i] > 0 ? (uint64_t)h->window_peak[i] : 0;
    free(buf);
    if (expect_pid >= 0 && p->pid != expect_pid) {
        snprintf(err, cap, "%s: foreign live file: its header says pid %d", path, p->pid);
        close(fd);
        return LIVE_BAD;
    }
    if (p->state == HS_LIVE_STATE_EXITED || !proc_alive(p->pid, p->start_time)) {
        snprintf(err, cap, "%s: stale (process %d is gone or is another process now)", path,
                 p->pid);
        close(fd);
        return LIVE_STALE;
    }
    if (rw && take_window(fd, p->window_peak) == 0) p->window_reset = 1;
    close(fd);
    p->rss_bytes = proc_rss_bytes(p->pid);
    return LIVE_OK;
}

static int add_view(struct scan *s, const struct proc_view *v)
{
    struct proc_view *nv = realloc(s->v, (size_t)(s->n + 1) * sizeof *nv);
    if (!nv) return -1;
    s->v = nv;
    s->v[s->n++] = *v;
    return 0;
}

static int pid_name(const char *name)
{
    uint64_t v;
    if (parse_u64(name, 1, 0x7fffffff, &v)) return -1;
    return (int)v;
}

static int cmp_pid(const void *a, const void *b)
{
    const struct proc_view *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

int live_scan(const char *dir, const int *pids, int npids, int flags, struct scan *s,
              int quiet)
{
    memset(s, 0, sizeof *s);
    char path[4096], err[4600];
    struct proc_view v;
    if (npids > 0) {
        /* explicit pids: every one must be there and readable */
        for (int i = 0; i < npids; i++) {
            snprintf(path, sizeof path, "%s/%d", dir, pids[i]);
            int rc = live_read(path, pids[i], flags, &v, err, sizeof err);
            if (rc == LIVE_OK) add_view(s, &v);
            else {
                s->bad++;
                if (quiet) continue;
                if (rc == LIVE_GONE)
                    warnx_("pid %d: no live file %s (not running under the shim, or HEAPSHIM_PUBLISH=0)",
                           pids[i], path);
                else warnx_("%s", err);
            }
        }
        return s->bad ? -1 : 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;     /* nobody has published yet */
        warnx_("%s: cannot open live directory: %s", dir, strerror(errno));
        s->bad++;
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        int pid = pid_name(de->d_name);
        if (pid < 0) continue;             /* *.tmp and the like: not live files */
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        int rc = live_read(path, pid, flags, &v, err, sizeof err);
        if (rc == LIVE_OK) add_view(s, &v);
        else if (rc == LIVE_STALE) s->stale++;
        else if (rc == LIVE_BAD) {
            s->bad++;
            if (!quiet) warnx_("%s (skipped)", err);
        }
    }
    closedir(d);
    if (s->n > 1) qsort(s->v, (size_t)s->n, sizeof *s->v, cmp_pid);
    return 0;
}

void scan_free(struct scan *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}
