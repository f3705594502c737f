/*
 * tools/util.c - errors, strict number parsing, human sizes, whole-file reads.
 *
 * Room: helpers of the heapshim command with no knowledge of reports or live
 * files. Every error of the command is one line on stderr, prefixed with the
 * subcommand ("heapshim diff: ..."), so scripts and people can tell at once
 * which file and which problem.
 */
#include "cli.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *hs_prog = "heapshim";

void die_bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", hs_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(HS_EXIT_BAD);
}

void warnx_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", hs_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    /* strtoull accepts "-1", spaces and "0x"; a typo must not become a number */
    if (!s || !*s) return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int parse_double(const char *s, double lo, double hi, double *out)
{
    /* decimal only: digits with at most one '.', then an optional exponent
     * (e, sign, digits); strtod alone takes hex ("0x10", "0x1p4" as 16),
     * inf, nan and spaces, where the integer parsers refuse them */
    if (!s) return -1;
    size_t i = strspn(s, "0123456789"), nd = i;
    if (s[i] == '.') {
        size_t f = strspn(s + i + 1, "0123456789");
        nd += f;
        i += 1 + f;
    }
    if (!nd) return -1;
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '+' || s[i] == '-') i++;
        size_t e = strspn(s + i, "0123456789");
        if (!e) return -1;
        i += e;
    }
    if (s[i]) return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* The command's one byte formatter: v in the largest binary unit that keeps
 * it under 1024 as printed (1023.6 KiB is "1.00 MiB", never "1024 KiB"),
 * three significant digits ("9.99", "10.0", "100"); long units with a space
 * ("12.3 MiB") or one letter without ("12.3M", at most 5 characters). */
static const char *bytes_fmt(uint64_t v, char *buf, size_t cap, int short_units)
{
    static const char *const lng[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    static const char *const sht[] = { "B", "K", "M", "G", "T", "P", "E" };
    const char *const *unit = short_units ? sht : lng;
    const char *sep = short_units ? "" : " ";
    if (v < 1024) {
        snprintf(buf, cap, "%llu%s%s", (unsigned long long)v, sep, unit[0]);
        return buf;
    }
    double d = (double)v;
    int u = 0;
    while (d >= 1023.5 && u < 6) {
        d /= 1024;
        u++;
    }
    snprintf(buf, cap, d < 9.995 ? "%.2f%s%s" : d < 99.95 ? "%.1f%s%s" : "%.0f%s%s", d, sep, unit[u]);
    return buf;
}

const char *human_bytes(uint64_t v, char buf[16])
{
    return bytes_fmt(v, buf, 16, 0);
}

const char *short_bytes(uint64_t v, char buf[8])
{
    return bytes_fmt(v, buf, 8, 1);
}

const char *human_count(uint64_t v, char buf[16])
{
    if (v < 100000) snprintf(buf, 16, "%llu", (unsigned long long)v);
    else if (v < 100000000ull) snprintf(buf, 16, "%.1fk", (double)v / 1e3);
    else if (v < 100000000000ull) snprintf(buf, 16, "%.1fM", (double)v / 1e6);
    else snprintf(buf, 16, "%.1fG", (double)v / 1e9);
    return buf;
}

int is_help(const char *a)
{
    return !strcmp(a, "-h") || !strcmp(a, "--help");
}

char *printable(char *s)
{
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) *p = '?';
    return s;
}

/* the directory part of a path ("." for a bare name) and its last name */
static int split_path(const char *p, char *dir, size_t cap, const char **base)
{
    const char *sl = strrchr(p, '/');
    *base = sl ? sl + 1 : p;
    if (!sl) return snprintf(dir, cap, ".") < 0 ? -1 : 0;
    size_t n = sl == p ? 1 : (size_t)(sl - p);
    if (n >= cap) return -1;
    memcpy(dir, p, n);
    dir[n] = 0;
    return 0;
}

int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!strcmp(a, "-") || !strcmp(b, "-")) return 0;
    int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    /* a character device (/dev/null) holds nothing that could be lost */
    if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino && !S_ISCHR(sa.st_mode);
    if (ea || eb) return 0;
    /* neither exists yet (two outputs of one command): the same name in the
     * same directory */
    char da[4096], db[4096];
    const char *na, *nb;
    if (split_path(a, da, sizeof da, &na) || split_path(b, db, sizeof db, &nb) || !*na || strcmp(na, nb))
        return 0;
    return stat(da, &sa) == 0 && stat(db, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* "-": standard input, read once (report and tree both load the same file) */
static char *stdin_buf;
static size_t stdin_len;
static int read_stdin(size_t max, char **buf, size_t *len, char *err, size_t cap)
{
    if (!stdin_buf) {
        size_t have = 0, room = 65536;
        char *b = malloc(room + 1);
        for (;;) {
            if (!b) {
                snprintf(err, cap, "-: out of memory");
                return -1;
            }
            ssize_t r = read(0, b + have, room - have);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {
                snprintf(err, cap, "-: read error on standard input: %s", strerror(errno));
                free(b);
                return -1;
            }
            if (r == 0) break;
            have += (size_t)r;
            if (have > max) {
                snprintf(err, cap, "-: standard input too large (at most %zu bytes accepted)", max);
                free(b);
                return -1;
            }
            if (have == room) {
                char *nb = realloc(b, (room *= 2) + 1);
                if (!nb) free(b);
                b = nb;
            }
        }
        b[have] = 0;
        stdin_buf = b;
        stdin_len = have;
    }
    if (stdin_len > max) {
        snprintf(err, cap, "-: standard input too large (at most %zu bytes accepted)", max);
        return -1;
    }
    *buf = malloc(stdin_len + 1);
    if (!*buf) {
        snprintf(err, cap, "-: out of memory");
        return -1;
    }
    memcpy(*buf, stdin_buf, stdin_len + 1);
    *len = stdin_len;
    return 0;
}

int read_file(const char *path, size_t max, char **buf, size_t *len, char *err, size_t cap)
{
    if (!strcmp(path, "-")) return read_stdin(max, buf, len, err, cap);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, cap, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, cap, "%s: too large (%lld bytes, at most %zu accepted)", path,
                 (long long)st.st_size, max);
        close(fd);
        return -1;
    }
    size_t want = (size_t)st.st_size, got = 0;
    char *b = malloc(want + 1);
    if (!b) {
        snprintf(err, cap, "%s: out of memory", path);
        close(fd);
        return -1;
    }
    while (got < want) {
        ssize_t r = read(fd, b + got, want - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, cap, "%s: read error: %s", path, strerror(errno));
            free(b);
            close(fd);
            return -1;
        }
        if (r == 0) break;   /* shrank under us: take what is there */
        got += (size_t)r;
    }
    close(fd);
    b[got] = 0;
    *buf = b;
    *len = got;
    return 0;
}

int output_dir(const char *dir, unsigned mode, char *err, size_t cap)
{
    struct stat st;
    if (mkdir(dir, (mode_t)mode) != 0 && errno != EEXIST) {
        snprintf(err, cap, "cannot create it: %s", strerror(errno));
        return -1;
    }
    if (stat(dir, &st) != 0) {
        snprintf(err, cap, "cannot read it: %s", strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, cap, "not a directory");
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, cap, "cannot create files there: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int out_create(struct outfile *o, const char *path, char *err, size_t cap)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (strlen(path) >= sizeof o->path) {
        snprintf(err, cap, "path too long");
        return -1;
    }
    snprintf(o->path, sizeof o->path, "%s", path);
    struct stat st;
    int exists = lstat(path, &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
        if (!S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode)) {
            snprintf(err, cap, "%s, not replaced (accepted: a regular file or a new name, a character device "
                     "such as /dev/null, a FIFO, or - for standard output)",
                     S_ISLNK(st.st_mode) ? "is a symbolic link: not followed" : S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
            return -1;
        }
        /* without blocking: a FIFO nobody reads is an error, not a hang */
        o->fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        if (o->fd < 0) {
            snprintf(err, cap, "cannot open it for writing: %s", errno == ENXIO ? "a FIFO nobody reads" : strerror(errno));
            return -1;
        }
        fcntl(o->fd, F_SETFL, fcntl(o->fd, F_GETFL) & ~O_NONBLOCK);
        o->direct = 1;
        return 0;
    }
    for (int attempt = 0; attempt < 16 && o->fd < 0; attempt++) {
        snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%d.%08lx", path, (int)getpid(),
                 (unsigned long)(now_ns() ^ ((uint64_t)attempt << 20)) & 0xffffffffUL);
        o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (o->fd < 0 && errno != EEXIST) break;
    }
    if (o->fd < 0) {
        snprintf(err, cap, "cannot create: %s", strerror(errno));
        o->tmp[0] = 0;
        return -1;
    }
    /* a file replaced keeps its permissions (a private report stays private) */
    if (exists) (void)fchmod(o->fd, st.st_mode & 07777);
    return 0;
}

int out_write(struct outfile *o, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(o->fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int out_commit(struct outfile *o, char *err, size_t cap)
{
    int rc = close(o->fd);
    o->fd = -1;
    if (rc == 0 && !o->direct && rename(o->tmp, o->path) != 0) rc = -1;
    if (rc != 0) {
        snprintf(err, cap, "cannot write: %s", strerror(errno));
        if (!o->direct) unlink(o->tmp);
        return -1;
    }
    return 0;
}

void out_abort(struct outfile *o)
{
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    if (!o->direct && o->tmp[0]) unlink(o->tmp);
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "24MiB", "1.5 GiB", "300kB", "4096", "4096B": binary units KiB MiB GiB TiB,
 * decimal units kB MB GB TB (case-insensitive), plain bytes. */
int parse_size(const char *s, uint64_t *out)
{
    static const struct { const char *u; double m; } units[] = {
        { "", 1 }, { "b", 1 }, { "kib", 1024.0 }, { "mib", 1048576.0 },
        { "gib", 1073741824.0 }, { "tib", 1099511627776.0 }, { "kb", 1e3 }, { "mb", 1e6 },
        { "gb", 1e9 }, { "tb", 1e12 },
    };
    if (!s) return -1;
    /* digits with at most one '.': no sign, exponent, hex or inf */
    size_t nd = strspn(s, "0123456789."), dots = 0;
    for (size_t i = 0; i < nd; i++) dots += s[i] == '.';
    if (nd == 0 || dots > 1 || (nd == 1 && dots == 1)) return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || !isfinite(v) || v < 0 || end != s + nd) return -1;
    while (*end == ' ') end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcasecmp(end, units[i].u)) {
            double b = v * units[i].m;
            if (b >= 18446744073709551615.0 || b != b) return -1;
            if (units[i].m == 1 && v != (double)(uint64_t)v) return -1;   /* 1.5 bytes */
            *out = (uint64_t)(b + 0.5);
            return 0;
        }
    return -1;
}
