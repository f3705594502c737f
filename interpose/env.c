/*
 * interpose/env.c - HEAPSHIM_* environment variables.
 *
 * Room: parsing only; runs inside the first malloc of the process, so no
 * allocation and no stdio: getenv, string compares, write(2). A bad value
 * never stops the host program: one line on stderr naming the variable and
 * what is accepted, then the default.
 */
#include "shim.h"
#include "labels.h"
#include <fcntl.h>
#include <sys/resource.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/stat.h>

struct hs_shim_config hs_shim HS_COLD_BSS;    /* read-mostly: off the hot pages */

/*
 * Where the shim's own lines go: the stderr the process started with, and
 * nowhere else. At exit, fd 2 may be closed already (gnulib's close_stdout
 * in every coreutils program closes it in an atexit handler that runs
 * before the shim's destructor: HEAPSHIM_STATS printed nothing), or be
 * another file that the program opened since: a program started with fd 2
 * closed gets fd 2 for its third open(), and a daemon that closes every
 * descriptor and opens its data files may get the shim's copy's number;
 * writing there damaged the program's data (the stats table appended to
 * it). So the identity (device, inode) of fd 2 is noted at start, before
 * any warning; with HEAPSHIM_STATS set (the table must reach the user), a
 * copy is kept, close-on-exec, high up (below). A line goes to fd 2 while
 * fd 2 is still that file, else to the copy while the copy is, else
 * nowhere; a process started without fd 2 gets no line at all.
 *
 * Where the copy goes. At fd 64 (the first free above 63) it broke bash
 * scripts that use that number: bash takes any close-on-exec descriptor
 * of 10 or more for one of its own saved ones, and after `exec 64>file`
 * put our copy back on 64 -- the script's file was never written, its
 * data went to stderr. Scripts name small numbers (3-9, 10-99, 200 for
 * flock); the copy is made at the top of what the process may open: 32
 * below its limit of descriptors, counting that limit as at most 1024 (a
 * higher number would make the kernel grow the descriptor table).
 * HEAPSHIM_REPORT alone keeps no copy (`heapshim run` sets it for every
 * process): its rare warning at exit goes to fd 2 if that is still ours. */
static int err_copy = -1;

void hs_shim_note_stderr(void)
{
    struct stat st;
    if (fstat(2, &st) != 0) {
        hs_shim.err_known = -1;
        return;
    }
    hs_shim.err_dev = st.st_dev;
    hs_shim.err_ino = st.st_ino;
    hs_shim.err_known = 1;
}

void hs_shim_keep_stderr(void)
{
    if (hs_shim.err_known != 1 || err_copy >= 0) return;
    struct rlimit rl;
    long top = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)top)
        top = (long)rl.rlim_cur;
    long base = top >= 96 ? top - 32 : top > 16 ? top - 8 : 3;
    err_copy = fcntl(2, F_DUPFD_CLOEXEC, base);
}

static bool is_stderr(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == hs_shim.err_dev && st.st_ino == hs_shim.err_ino;
}

int hs_shim_errfd(void)
{
    if (hs_shim.err_known == 0) return 2;   /* before start-up noted it (hs_shim_read_env's own lines) */
    if (hs_shim.err_known < 0) return -1;
    if (is_stderr(2)) return 2;
    if (is_stderr(err_copy)) return err_copy;
    return -1;
}

void hs_shim_warn(const char *a, const char *b, const char *c)
{
    char line[1024];
    size_t n = 0;
    const char *parts[] = { "heapshim: warning: ", a, b, c, "\n" };
    for (unsigned i = 0; i < sizeof parts / sizeof *parts; i++) {
        for (const char *s = parts[i]; s && *s && n < sizeof line - 2; s++) line[n++] = *s;
    }
    if (line[n - 1] != '\n') line[n++] = '\n';
    int err = errno;
    hs_shim_write(hs_shim_errfd(), line, n);
    errno = err;
}

/* VAR='value'rest: a warning that names the bad value (at most 200 bytes of
 * it, control characters shown as '?') */
void hs_shim_warn_value(const char *var, const char *value, const char *rest)
{
    char v[208];
    size_t n = 0;
    for (const char *s = value ? value : ""; *s && n < 200; s++)
        v[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    if (value && strlen(value) > 200) v[n++] = '.', v[n++] = '.', v[n++] = '.';
    v[n] = 0;
    char head[80];
    size_t h = 0;
    for (const char *s = var; *s && h < sizeof head - 3; s++) head[h++] = *s;
    head[h++] = '=';
    head[h++] = '\'';
    head[h] = 0;
    char tail[512];
    size_t t = 0;
    tail[t++] = '\'';
    for (const char *s = rest; *s && t < sizeof tail - 1; s++) tail[t++] = *s;
    tail[t] = 0;
    hs_shim_warn(head, v, tail);
}

static bool is_true(const char *v) { return !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on"); }
static bool is_false(const char *v) { return !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off"); }

static bool read_bool(const char *name, bool dflt)
{
    const char *v = hs_shim_getenv(name);
    if (!v || !*v) return dflt;              /* VAR= is unset */
    if (is_true(v)) return true;
    if (is_false(v)) return false;
    hs_shim_warn_value(name, v, dflt ? ": not a boolean (accepted: 1/0, yes/no, true/false, on/off); using 1"
                                     : ": not a boolean (accepted: 1/0, yes/no, true/false, on/off); using 0");
    return dflt;
}

static void set_name(const char *s)
{
    strncpy(hs_shim.allocator_name, s, sizeof hs_shim.allocator_name - 1);
}

/*
 * The environment as the process was started with it. getenv() answers from
 * `environ`, which glibc sets only after a program's .preinit_array
 * functions ran: a process whose first malloc comes from one of those starts
 * the shim with `environ` still NULL, and every HEAPSHIM_* setting would be
 * silently ignored. Then the variables are read from /proc/self/environ
 * instead, into a static buffer (no allocation: this runs inside malloc).
 */
static char env_buf[64 * 1024] HS_COLD_BSS;
static size_t env_len;
static int env_loaded;

const char *hs_shim_getenv(const char *name)
{
    extern char **environ;
    if (environ) return getenv(name);
    if (!env_loaded) {
        env_loaded = 1;
        int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            for (;;) {
                ssize_t r = read(fd, env_buf + env_len, sizeof env_buf - 1 - env_len);
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0) break;
                env_len += (size_t)r;
                if (env_len >= sizeof env_buf - 1) break;
            }
            close(fd);
        }
        env_buf[env_len] = 0;
    }
    size_t n = strlen(name);
    for (size_t off = 0; off < env_len;) {
        const char *e = env_buf + off;
        size_t l = strnlen(e, env_len - off);
        if (l > n && !strncmp(e, name, n) && e[n] == '=') return e + n + 1;
        off += l + 1;
    }
    return NULL;
}

/*
 * Every HEAPSHIM_* name that some part of heapshim reads: the shim's
 * settings, then those of the heapshim command, the probe and
 * scripts/heapshim-ci, which reach the shim in the environment of the
 * programs they run. Any other HEAPSHIM_* variable is a typo or a setting
 * that does not exist (HEAPSHIM_MODE for HEAPSHIM_ALLOCATOR): one warning
 * line each (at most four), and it is ignored, as before.
 */
static const char *const known_names[] = {
    "HEAPSHIM_ALLOCATOR", "HEAPSHIM_STATS", "HEAPSHIM_PUBLISH", "HEAPSHIM_REPORT", "HEAPSHIM_REPORT_OPTIONAL",
    "HEAPSHIM_ROUTE",
    "HEAPSHIM_DIR", "HEAPSHIM_LABELS", "HEAPSHIM_PYTHON", "HEAPSHIM_PROFILE_RATE", "HEAPSHIM_PROFILE_SEED",
    "HEAPSHIM_PROFILE_UNWIND", "HEAPSHIM_PROFILE_OUT",
    "HEAPSHIM_LIB", "HEAPSHIM_PROBE_FAULT", "HEAPSHIM_PROBE_NO_PULL", "HEAPSHIM_SERVE_FAULT",
    "HEAPSHIM_CI_OUT", "HEAPSHIM_CI_FAKE_REPORT", "HEAPSHIM_KEEP_PLOT", "HEAPSHIM_DEPS",
    NULL,
};

static void check_name(const char *entry, size_t len, unsigned *warned)
{
    if (len < 9 || strncmp(entry, "HEAPSHIM_", 9) != 0) return;
    size_t n = 0;
    while (n < len && entry[n] != '=') n++;
    for (const char *const *k = known_names; *k; k++)
        if (strlen(*k) == n && !strncmp(*k, entry, n)) return;
    if (++*warned > 4) return;
    char name[72];
    size_t m = 0;
    for (; m < n && m < sizeof name - 4; m++) name[m] = (unsigned char)entry[m] < 0x20 ? '?' : entry[m];
    if (m < n) name[m++] = '.', name[m++] = '.', name[m++] = '.';
    name[m] = 0;
    hs_shim_warn(name, ": not a heapshim setting, ignored (the shim reads HEAPSHIM_ALLOCATOR, _STATS, _PUBLISH,",
                 " _REPORT, _ROUTE, _DIR, _LABELS, _PYTHON, _PROFILE_RATE, _PROFILE_SEED, _PROFILE_UNWIND, _PROFILE_OUT)");
}

/* the environment's HEAPSHIM_* names against known_names (called after
 * hs_shim_read_env's lookups: without environ, env_buf is loaded by then) */
static void check_names(void)
{
    extern char **environ;
    unsigned warned = 0;
    if (environ) {
        for (char **e = environ; *e; e++) check_name(*e, strlen(*e), &warned);
        return;
    }
    for (size_t off = 0; off < env_len;) {
        const char *e = env_buf + off;
        size_t l = strnlen(e, env_len - off);
        check_name(e, l, &warned);
        off += l + 1;
    }
}

/* Once, at start-up (hs__platform_config): hs_shim is still all zero
 * (.bss), and is not cleared again, so that a page of it that nothing
 * writes (the report template, the rules) stays untouched. */
void hs_shim_read_env(void)
{
    hs_shim.mode = HS_MODE_PYMALLOC;
    set_name("pymalloc");

    const char *a = hs_shim_getenv("HEAPSHIM_ALLOCATOR");
    if (a && *a) {
        if (!strcmp(a, "pymalloc") || !strcmp(a, "default")) {
        } else if (!strcmp(a, "malloc")) {
            hs_shim.mode = HS_MODE_MALLOC;
            set_name("malloc");
        } else if (!strcmp(a, "debug") || !strcmp(a, "pymalloc_debug")) {
            hs_shim.debug = true;
            set_name("pymalloc_debug");
        } else if (!strcmp(a, "malloc_debug")) {
            hs_shim.mode = HS_MODE_MALLOC;
            hs_shim.debug = true;
            set_name("malloc_debug");
        } else {
            hs_shim_warn("HEAPSHIM_ALLOCATOR: unknown allocator '", a,
                         "' (accepted: pymalloc, malloc, debug, pymalloc_debug, malloc_debug); using pymalloc");
        }
    }
    hs_shim.plain_mem = hs_shim.mode == HS_MODE_MALLOC && !hs_shim.debug;
    hs_shim.bare_mem = !hs_shim.debug;

    hs_shim.stats = read_bool("HEAPSHIM_STATS", false);
    hs_shim.publish = read_bool("HEAPSHIM_PUBLISH", true);

    const char *r = hs_shim_getenv("HEAPSHIM_REPORT");
    if (r && *r) {
        if (strlen(r) >= sizeof hs_shim.report) {
            hs_shim_warn("HEAPSHIM_REPORT: path too long (at most 4095 bytes)", "", "; no report");
        } else {
            strcpy(hs_shim.report, r);
            hs_shim.have_report = true;
        }
    }
    hs_shim.report_optional = read_bool("HEAPSHIM_REPORT_OPTIONAL", false);

    const char *route = hs_shim_getenv("HEAPSHIM_ROUTE");
    if (route && *route) {
        const char *why = NULL;
        if (hs_route_parse(route, hs_shim.rules, HS_ROUTE_MAX, &hs_shim.nrules, &why) != 0) {
            hs_shim.nrules = 0;
            char rest[400];
            size_t n = 0;
            for (const char *s2 = ": "; *s2; s2++) rest[n++] = *s2;
            for (const char *s2 = why ? why : "bad rules"; *s2 && n < 200; s2++) rest[n++] = *s2;
            for (const char *s2 = " (accepted: comma-separated GLOB=raw|mem|obj, e.g. 'libpython3*=obj,*=mem'); routing everything to mem";
                 *s2 && n < sizeof rest - 1; s2++) rest[n++] = *s2;
            rest[n] = 0;
            hs_shim_warn_value("HEAPSHIM_ROUTE", route, rest);
        }
    }
    /* read by the exporters, not by the shim: a value they would refuse is
     * said here, once, where the user set it (interpose/labels.h) */
    const char *labels = hs_shim_getenv("HEAPSHIM_LABELS");
    const char *lwhy = NULL;
    if (labels && hs_labels_check(labels, &lwhy) != 0) {
        char rest[400];
        size_t n = 0;
        for (const char *s2 = ": "; *s2; s2++) rest[n++] = *s2;
        for (const char *s2 = lwhy; *s2 && n < 300; s2++) rest[n++] = *s2;
        for (const char *s2 = "; exporters serve this process without these labels"; *s2 && n < sizeof rest - 1; s2++)
            rest[n++] = *s2;
        rest[n] = 0;
        hs_shim_warn_value("HEAPSHIM_LABELS", labels, rest);
    }
    hs_shim.plain_direct = hs_shim.plain_mem && hs_shim.nrules == 0;
    hs_shim.fast_direct = hs_shim.mode == HS_MODE_PYMALLOC && !hs_shim.debug && hs_shim.nrules == 0;
    hs_shim.free_path = hs_shim.debug ? HS_FREE_DEBUG
                      : hs_shim.plain_direct ? HS_FREE_BARE : HS_FREE_OWNED;
    check_names();
}
