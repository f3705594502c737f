/*
 * interpose/report.c - the exit report (JSON, docs/report-schema.md) and the
 * per-domain table on stderr.
 *
 * Room: reads the figures through the public statistics API (heapshim.h)
 * and the process identity through core/prim/proc.h; touches nothing of
 * the core's insides. Runs from the shim's exit code, when the program's
 * heap may be in any state: no malloc, no stdio. Output is built in static
 * buffers with snprintf (integer and string conversions only, which glibc
 * serves without allocating) and written with write(2).
 */
#include "report.h"
#include "report_path.h"
#include "shim.h"
#include "../core/prim/proc.h"
#include "../core/table.h"
#include <heapshim.h>
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>

/* The command is cut to this many bytes; escaped it grows at most 6 times
 * (\u00XX), and the rest of the report (32 size classes included) stays
 * under 8 KiB, so the JSON buffer always has room. */
#define RP_CMD_MAX   8192
#define RP_JSON_MAX  (6 * RP_CMD_MAX + 16384)

static char rp_why[PATH_MAX + 200] HS_COLD_BSS;
static char rp_cmd[RP_CMD_MAX] HS_COLD_BSS;
static char rp_json[RP_JSON_MAX] HS_COLD_BSS;

/* ---- path template ---------------------------------------------------------- */

int hs_report_expand_path(const char *tmpl, char *out, size_t cap)
{
    return hs_report_path(tmpl, (int)getpid(), out, cap) < 0 ? -1 : 0;
}

/* ---- a bounded output buffer ------------------------------------------------ */

struct rp_buf {
    char  *p;
    size_t len, cap;
    int    overflow;
};

static void rp_put(struct rp_buf *b, const char *s, size_t n)
{
    if (b->overflow || n > b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void rp_puts(struct rp_buf *b, const char *s) { rp_put(b, s, strlen(s)); }

/* JSON numbers of the schema are at most 2^63-1 */
static void rp_putu(struct rp_buf *b, uint64_t v)
{
    char num[24];
    if (v > (uint64_t)INT64_MAX) v = (uint64_t)INT64_MAX;
    int n = snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    rp_put(b, num, (size_t)n);
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 if the bytes
 * there are not one (stray continuation, overlong form, surrogate, beyond
 * U+10FFFF, cut short). JSON readers reject malformed UTF-8. */
static size_t rp_utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;          /* overlong */
        if (c == 0xED) hi = 0x9F;          /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;          /* overlong */
        if (c == 0xF4) hi = 0x8F;          /* > U+10FFFF */
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) return 0;  /* also stops at the NUL */
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

/* A JSON string: quotes and backslashes escaped, control characters as
 * \n, \t, ... or \u00XX, well-formed UTF-8 passed through, any other byte
 * replaced by U+FFFD. */
static void rp_put_json_string(struct rp_buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    rp_put(b, "\"", 1);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            rp_put(b, e, 2);
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            const char *e = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r"
                          : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            char u[8];
            if (!e) {
                static const char hex[] = "0123456789abcdef";
                memcpy(u, "\\u00", 4);
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                u[6] = 0;
                e = u;
            }
            rp_puts(b, e);
            s++;
        } else {
            size_t n = rp_utf8_len(s);
            if (n) {
                rp_put(b, (const char *)s, n);
                s += n;
            } else {
                rp_puts(b, "\\ufffd");
                s++;
            }
        }
    }
    rp_put(b, "\"", 1);
}

static void rp_field_u(struct rp_buf *b, const char *sep, const char *key, uint64_t v)
{
    rp_puts(b, sep);
    rp_put(b, "\"", 1);
    rp_puts(b, key);
    rp_puts(b, "\": ");
    rp_putu(b, v);
}

static void rp_domain_object(struct rp_buf *b, const hs_domain_stats_t *d)
{
    rp_field_u(b, "{", "live_bytes", d->live_bytes);
    rp_field_u(b, ", ", "live_blocks", d->live_blocks);
    rp_field_u(b, ", ", "peak_bytes", d->peak_bytes);
    rp_field_u(b, ", ", "allocs", d->allocs);
    rp_field_u(b, ", ", "reallocs", d->reallocs);
    rp_field_u(b, ", ", "frees", d->frees);
    rp_field_u(b, ", ", "failed", d->failed);
    rp_puts(b, "}");
}

static uint64_t rp_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the JSON report ------------------------------------------------------- */

/* Format the whole report into rp_json; returns its length, or 0 if the
 * figures could not be read. */
static size_t rp_format(const char *allocator_name, uint64_t started_unix_ns)
{
    hs_domain_stats_t dom[HS_NDOMAINS + 1];   /* the domains, then the total: one read */
    hs_arena_stats_t ar;
    if (hs_all_stats(dom) != 0 || hs_arena_stats(&ar) != 0) return 0;
    hs_proc_cmdline(rp_cmd, sizeof rp_cmd);

    struct rp_buf b = { rp_json, 0, sizeof rp_json, 0 };
    hs_mapped_stats_t ms;
    if (hs_mapped_stats(&ms) != 0) return 0;
    rp_puts(&b, "{\n  \"schema\": \"heapshim-report/2\"");
    rp_field_u(&b, ",\n  ", "pid", (uint64_t)getpid());
    rp_field_u(&b, ",\n  ", "ppid", (uint64_t)getppid());
    rp_puts(&b, ",\n  \"command\": ");
    rp_put_json_string(&b, rp_cmd);
    rp_puts(&b, ",\n  \"allocator\": ");
    rp_put_json_string(&b, allocator_name ? allocator_name : "pymalloc");
    rp_field_u(&b, ",\n  ", "started_unix_ns", started_unix_ns);
    rp_field_u(&b, ",\n  ", "ended_unix_ns", rp_unix_ns());
    rp_puts(&b, ",\n  \"exit_kind\": \"exit\",\n  \"domains\": {");
    for (int d = 0; d < HS_NDOMAINS; d++) {
        rp_puts(&b, d ? ",\n    \"" : "\n    \"");
        rp_puts(&b, hs_domain_name((hs_domain_t)d));
        rp_puts(&b, "\": ");
        rp_domain_object(&b, &dom[d]);
    }
    rp_puts(&b, "\n  },\n  \"total\": ");
    rp_domain_object(&b, &dom[HS_NDOMAINS]);
    rp_field_u(&b, ",\n  \"arenas\": {\n    ", "arena_size", ar.arena_size);
    rp_field_u(&b, ", ", "pool_size", ar.pool_size);
    rp_field_u(&b, ",\n    ", "arenas_mapped", ar.arenas_mapped);
    rp_field_u(&b, ", ", "arenas_peak", ar.arenas_peak);
    rp_field_u(&b, ", ", "bytes_mapped", ar.bytes_mapped);
    rp_field_u(&b, ",\n    ", "pools_used", ar.pools_used);
    rp_field_u(&b, ", ", "pools_free", ar.pools_free);
    rp_puts(&b, ",\n    \"size_classes\": [");
    for (unsigned c = 0; c < HS_NCLASSES; c++) {
        rp_field_u(&b, c ? ",\n      {" : "\n      {", "size", ar.classes[c].size);
        rp_field_u(&b, ", ", "blocks_in_use", ar.classes[c].blocks_in_use);
        rp_field_u(&b, ", ", "pools", ar.classes[c].pools);
        rp_puts(&b, "}");
    }
    rp_puts(&b, "\n    ]\n  },");
    rp_puts(&b, "\n  \"mapped\": ");
    rp_field_u(&b, "{", "live_bytes", ms.live_bytes[3]);
    rp_field_u(&b, ", ", "peak_bytes", ms.peak_bytes[3]);
    rp_field_u(&b, ", ", "maps", ms.maps);
    rp_field_u(&b, ", ", "unmaps", ms.unmaps);
    rp_field_u(&b, ", ", "remaps", ms.remaps);
    rp_field_u(&b, ", ", "protects", ms.protects);
    rp_field_u(&b, ", ", "discards", ms.discards);
    rp_field_u(&b, ", ", "discard_bytes", ms.discard_bytes);
    rp_puts(&b, ",\n    \"domains\": {");
    for (int d = 0; d < HS_NDOMAINS; d++) {
        rp_puts(&b, d ? ", \"" : "\"");
        rp_puts(&b, hs_domain_name((hs_domain_t)d));
        rp_puts(&b, "\": ");
        rp_field_u(&b, "{", "live_bytes", ms.live_bytes[d]);
        rp_field_u(&b, ", ", "peak_bytes", ms.peak_bytes[d]);
        rp_puts(&b, "}");
    }
    rp_puts(&b, "}},");
    uint64_t anon, anon_peak;
    hs_proc_anon(&anon, &anon_peak);
    rp_field_u(&b, "\n  ", "rss_peak_bytes", hs_proc_rss_peak_bytes());
    rp_field_u(&b, ",\n  ", "rss_anon_bytes", anon);
    rp_field_u(&b, ",\n  ", "rss_anon_peak_bytes", anon_peak);
    rp_puts(&b, "\n}\n");
    return b.overflow ? 0 : b.len;
}

/* declared in shim.h: the one way the shim writes its own output to a
 * descriptor it does not own (stderr, a FIFO) */
int hs_shim_write(int fd, const void *buf, size_t n)
{
    if (fd < 0) return EBADF;         /* no stderr of ours to write to (hs_shim_errfd) */
    sigset_t pipe_set, old_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    int e = 0;
    /* stderr redirected to a regular file: past RLIMIT_FSIZE a write raises
     * SIGXFSZ, which would kill the program over a line of ours */
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        off_t at = lseek(fd, 0, SEEK_CUR);
        uint64_t end = (uint64_t)(at > st.st_size ? at : st.st_size) + n;
        if (!hs_os_file_fits(end)) n = 0, e = EFBIG;
    }
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            e = w < 0 ? errno : EIO;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    if (e == EPIPE && !was_pending) {
        struct timespec zero = { 0, 0 };
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    return e;
}

static const char *rp_fail(const char *path, const char *what, int err)
{
    const char *e = err ? strerrorname_np(err) : NULL;   /* no allocation */
    snprintf(rp_why, sizeof rp_why, "%s: %s%s%s", path, what, e ? ": " : "", e ? e : "");
    return rp_why;
}

static int rp_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

bool hs_report_dir_exists(const char *tmpl)
{
    char path[PATH_MAX];
    if (hs_report_expand_path(tmpl, path, sizeof path) != 0) return false;
    char *slash = strrchr(path, '/');
    if (!slash) return true;            /* the working directory */
    slash[slash == path ? 1 : 0] = 0;
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int hs_report_write(const char *tmpl, const char *allocator_name,
                    uint64_t started_unix_ns, const char **why)
{
    const char *ignored;
    if (!why) why = &ignored;
    char path[PATH_MAX], tmp[PATH_MAX];
    if (hs_report_expand_path(tmpl, path, sizeof path) != 0) {
        *why = rp_fail(tmpl ? tmpl : "(null)",
                       "bad report path (accepted: a path where %p is the pid and %% a percent sign)", 0);
        return -1;
    }
    /* The report is written to a temporary name in the same directory and
     * renamed into place. The temporary name has a random suffix and is
     * created with O_EXCL|O_NOFOLLOW: it never clobbers or follows anything
     * that is there, and nothing is ever removed that this process did not
     * create (an existing name is skipped, not deleted). Everything is
     * relative to one directory descriptor. */
    char dir[PATH_MAX], base[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        dir[0] = '.', dir[1] = 0;
        snprintf(base, sizeof base, "%s", path);
    } else {
        size_t dl = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, dl);
        dir[dl] = 0;
        snprintf(base, sizeof base, "%s", slash + 1);
    }
    if (!base[0]) {
        *why = rp_fail(path, "names a directory, not a file", 0);
        return -1;
    }
    size_t len = rp_format(allocator_name, started_unix_ns);
    if (!len) {
        *why = rp_fail(path, "statistics unavailable", 0);
        return -1;
    }
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        int e = errno;
        *why = rp_fail(dir, "cannot open the report directory", e);
        return e == ENOENT ? -2 : -1;
    }
    /* What is at the name now: nothing or a regular file is replaced (below);
     * a character device or a FIFO (/dev/null, a pipe someone reads) is
     * written into, opened without blocking (a FIFO nobody reads would hang
     * the program at exit); anything else (a symbolic link, a directory, a
     * block device) is left as it is. As root, renaming over /dev/null
     * replaced the device with a file. */
    struct stat at;
    if (fstatat(dirfd, base, &at, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(at.st_mode)) {
        int e = 0, dfd = -1;
        if (S_ISCHR(at.st_mode) || S_ISFIFO(at.st_mode)) {
            /* a reader that goes away gives EPIPE, not SIGPIPE (hs_shim_write) */
            dfd = openat(dirfd, base, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
            if (dfd < 0) e = errno;
            else if (fcntl(dfd, F_SETFL, fcntl(dfd, F_GETFL) & ~O_NONBLOCK) != 0) e = errno;
            else e = hs_shim_write(dfd, rp_json, len);
            if (dfd >= 0 && close(dfd) != 0 && !e) e = errno;
        }
        close(dirfd);
        if (dfd < 0 && !e)
            *why = rp_fail(path, S_ISLNK(at.st_mode) ? "is a symbolic link: not followed, not replaced (accepted: a regular "
                                                       "file's path, a new name, /dev/null or a FIFO)"
                                                     : "is not a regular file: not replaced (accepted: a regular file's "
                                                       "path, a new name, /dev/null or a FIFO)", 0);
        else if (e)
            *why = rp_fail(path, e == ENXIO ? "is a FIFO nobody reads" : "cannot write the report", e == ENXIO ? 0 : e);
        return e || dfd < 0 ? -1 : 0;
    }
    int fd = -1, n = 0;
    for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            r = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)attempt * 0x9e3779b97f4a7c15ull;
        }
        n = snprintf(tmp, sizeof tmp, ".%s.tmp.%d.%016llx", base, (int)getpid(), (unsigned long long)r);
        if (n < 0 || (size_t)n >= sizeof tmp || (size_t)n > NAME_MAX) {
            close(dirfd);
            *why = rp_fail(path, "file name too long", 0);
            return -1;
        }
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        close(dirfd);
        *why = rp_fail(path, "cannot create a temporary file next to it", e);
        return -1;
    }
    struct stat mine;
    memset(&mine, 0, sizeof mine);
    int err = 0;
    if (fstat(fd, &mine) != 0) err = errno;
    if (!err && !hs_os_file_fits(len)) err = EFBIG;      /* RLIMIT_FSIZE: not SIGXFSZ */
    if (!err && rp_write_all(fd, rp_json, len) != 0) err = errno ? errno : EIO;
    if (close(fd) != 0 && !err) err = errno;
    if (!err && renameat(dirfd, tmp, dirfd, base) != 0) err = errno;
    if (err) {
        /* remove the temporary file only if it is still the one we made */
        struct stat now;
        if (fstatat(dirfd, tmp, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == mine.st_dev &&
            now.st_ino == mine.st_ino)
            unlinkat(dirfd, tmp, 0);
        close(dirfd);
        *why = rp_fail(path, "cannot write the report", err);
        return -1;
    }
    close(dirfd);
    return 0;
}

/* ---- the human table --------------------------------------------------------- */

/* bytes as the one table format writes them (core/table.c) */
static void rp_human(char *out, size_t cap, uint64_t v)
{
    hs_table_bytes(out, cap, v);
}

static void rp_line(int fd, const char *s, int n)
{
    if (n <= 0) return;
    size_t len = (size_t)n;
    if (len > strlen(s)) len = strlen(s);  /* snprintf cut it */
    hs_shim_write(fd, s, len);
}

static void rp_table_row(int fd, const char *name, const hs_domain_stats_t *d)
{
    char line[HS_TABLE_LINE];
    rp_line(fd, line, hs_table_row(line, sizeof line, "heapshim: ", name, d->live_bytes, d->peak_bytes,
                                   d->live_blocks, d->allocs, d->reallocs, d->frees, d->failed));
}

void hs_report_table(int fd, const char *allocator_name)
{
    char line[512], comm[16];
    hs_domain_stats_t d[HS_NDOMAINS + 1];     /* the domains, then the total: one read */
    hs_arena_stats_t ar;
    hs_proc_comm(comm, sizeof comm);
    int n = snprintf(line, sizeof line, "heapshim: pid %d (%s), allocator %s\n", (int)getpid(),
                     comm, allocator_name ? allocator_name : "pymalloc");
    rp_line(fd, line, n);
    rp_line(fd, line, hs_table_heading(line, sizeof line, "heapshim: "));
    if (hs_all_stats(d) == 0) {
        for (int i = 0; i < HS_NDOMAINS; i++) rp_table_row(fd, hs_domain_name((hs_domain_t)i), &d[i]);
        rp_table_row(fd, "total", &d[HS_NDOMAINS]);
    }
    hs_mapped_stats_t ms;
    if (hs_mapped_stats(&ms) == 0) {
        char ml[40], mp[40];
        rp_human(ml, sizeof ml, ms.live_bytes[3]);
        rp_human(mp, sizeof mp, ms.peak_bytes[3]);
        n = snprintf(line, sizeof line, "heapshim: %-6s %11s %11s %12s %13llu %11llu %13llu   (mmap)\n",
                     "mapped", ml, mp, "", (unsigned long long)ms.maps, (unsigned long long)ms.remaps,
                     (unsigned long long)ms.unmaps);
        rp_line(fd, line, n);
    }
    char mapped[40], rss[40];
    rp_human(rss, sizeof rss, hs_proc_rss_peak_bytes());
    if (hs_arena_stats(&ar) == 0) {
        rp_human(mapped, sizeof mapped, ar.bytes_mapped);
        n = snprintf(line, sizeof line,
                     "heapshim: arenas %llu mapped (%s), peak %llu; peak RSS %s\n",
                     (unsigned long long)ar.arenas_mapped, mapped,
                     (unsigned long long)ar.arenas_peak, rss);
    } else {
        n = snprintf(line, sizeof line, "heapshim: peak RSS %s\n", rss);
    }
    rp_line(fd, line, n);
}
