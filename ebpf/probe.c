/*
 * ebpf/probe.c - loader and output of the eBPF probe
 * (build/heapshim-probe). Kernel side: probe.bpf.c; records: probe.h.
 *
 * Room: attaches to libheapshim.so itself (USDT by library path, pid -1, so
 * processes started later are covered), runs the pull iterator for the
 * processes that are already there (idle ones included), and shows what it
 * read the way the heapshim command does: the `heapshim top` table, the
 * `heapshim top --json` document, the `heapshim export` metrics. The
 * formatting helpers and the Prometheus renderer are the command's own
 * (tools/prom.c, tools/util.c, tools/live.c), linked in, so names cannot drift.
 *
 * Figures: for every process the pull iterator reaches, the header and the
 * sum of all used slots, run through hs_live_sum() -- what the live file
 * gives. A process the iterator cannot read (library without a symbol
 * table, kernel without the open-coded vma iterator) falls back to the last
 * snapshot its USDT point published.
 */
#include "cli.h"
#include "live.h"
#include "exporter.h"
#include "httpd.h"
#include "probe.h"
#include "elf_lib.h"
#include "../core/live_sum.h"      /* hs_live_mapped_load: the readers' one loader of the mapped block */
#include "probe.skel.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef HS_LIBDIR
#define HS_LIBDIR "/usr/local/lib"
#endif

static const char usage[] =
    "usage: heapshim-probe [--once] [--json] [--prometheus] [--pid PID]... [--interval MS]\n"
    "                      [--wait MS] [--lib PATH] [--verbose] [--help]\n"
    "       heapshim-probe --serve ADDR:PORT [--by WHAT] [--window S] [--window-step S]\n"
    "  Reads the live counters of every process that has libheapshim.so loaded,\n"
    "  system-wide, with eBPF: a USDT probe on the library's publication point\n"
    "  (never on malloc/free) and a task iterator that reads idle processes too.\n"
    "  Adds what only the kernel sees: RSS from the task's mm and the process's\n"
    "  mmap/munmap/brk calls (counted from the moment it is seen).\n"
    "  The table of `heapshim top` (fitted to the width, no GROWTH), plus from\n"
    "  104 columns on MMAP MUNMAP BRK (calls since tracked).\n"
    "  --once          one frame and exit\n"
    "  --json          (implies --once) the `heapshim top --json` document\n"
    "  --prometheus    (implies --once) the `heapshim export` metrics, plus\n"
    "                  heapshim_probe_* families for the kernel-side figures\n"
    "  --pid PID       only this process (repeat for more)\n"
    "  --interval MS   refresh period of the table (default 1000, 50..3600000)\n"
    "  --wait MS       with --once: watch for MS (0..3600000) before reading, so\n"
    "                  the syscall counts cover that time (default 0)\n"
    "  --lib PATH      the library to attach to; default $HEAPSHIM_LIB, else\n"
    "                  libheapshim.so next to this binary, ../lib/, " HS_LIBDIR "\n"
    "  --verbose       libbpf's messages on stderr\n"
    "  --serve ADDR:PORT  the host exporter: every shimmed process of every user\n"
    "                  and the kernel-side figures as Prometheus metrics on\n"
    "                  http://ADDR:PORT/metrics, with the labels, per-service\n"
    "                  families, exited processes and shared window peaks of\n"
    "                  `heapshim serve` (docs/exporter.md)\n"
    EXP_OPTS_USAGE
    "  Needs root (or CAP_BPF and CAP_PERFMON), a kernel with BTF and uprobes.\n"
    "  Exit status: 0, 1 on a runtime error, 2 on bad arguments or no BPF.\n";

#define MAX_PIDS 256

static struct {
    int once, json, prom, verbose;
    uint64_t interval, wait;
    int pids[MAX_PIDS], npids;
    const char *lib;
    int fault;                      /* HEAPSHIM_PROBE_FAULT, tests only: FAULT_* */
    const char *serve;              /* --serve ADDR:PORT */
    struct exp_opts eo;
} opt = { .interval = 1000 };
enum { FAULT_NONE, FAULT_VMA_BUSY, FAULT_VMA_BUSY_LATER, FAULT_SLOW_IDENT };

__attribute__((format(printf, 1, 2), noreturn)) static void die_env(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "heapshim-probe: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(HS_EXIT_BAD);
}

/* libbpf speaks only with --verbose: failures are reported here, in one line */
static int libbpf_out(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (!opt.verbose || level == LIBBPF_DEBUG) return 0;
    return vfprintf(stderr, fmt, ap);
}

/* ---- arguments ------------------------------------------------------------------- */

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage, stdout);
            exit(0);
        } else if (exp_parse_opt(&opt.eo, argc, argv, &i)) {
            opt.eo.step_s += 0;     /* checked below */
        } else if (!strcmp(a, "--serve")) {
            if (i + 1 >= argc) die_bad("--serve needs a value (ADDR:PORT)");
            opt.serve = argv[++i];
        } else if (!strcmp(a, "--once")) opt.once = 1;
        else if (!strcmp(a, "--json")) opt.json = opt.once = 1;
        else if (!strcmp(a, "--prometheus")) opt.prom = opt.once = 1;
        else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) opt.verbose = 1;
        else if (!strcmp(a, "--pid") || !strcmp(a, "--interval") || !strcmp(a, "--lib") ||
                 !strcmp(a, "--wait")) {
            if (i + 1 >= argc) die_bad("%s needs a value", a);
            const char *v = argv[++i];
            uint64_t n;
            if (!strcmp(a, "--lib")) {
                if (!*v) die_bad("--lib: empty path");
                opt.lib = v;
            } else if (!strcmp(a, "--interval")) {
                if (parse_u64(v, 50, 3600000, &opt.interval))
                    die_bad("--interval: bad number '%s' (accepted: milliseconds, 50..3600000)", v);
            } else if (!strcmp(a, "--wait")) {
                if (parse_u64(v, 0, 3600000, &opt.wait))
                    die_bad("--wait: bad number '%s' (accepted: milliseconds, 0..3600000)", v);
            } else {
                if (parse_u64(v, 1, 0x7fffffff, &n))
                    die_bad("--pid: bad pid '%s' (accepted: a process id, 1..2147483647)", v);
                if (opt.npids == MAX_PIDS) die_bad("--pid: at most %d pids", MAX_PIDS);
                opt.pids[opt.npids++] = (int)n;
            }
        } else {
            die_bad("unknown argument '%s' (accepted: --once, --json, --prometheus, --pid PID, "
                    "--interval MS, --wait MS, --lib PATH, --serve ADDR:PORT, --by WHAT, --window S, "
                    "--window-step S, --verbose, --help)", a);
        }
    }
    if (opt.serve && (opt.once || opt.wait))
        die_bad("--serve runs until stopped: not with --once, --json, --prometheus or --wait");
    if ((opt.eo.by_process || opt.eo.by_service || opt.eo.window_s || opt.eo.step_s) && !opt.serve)
        die_bad("--by, --window and --window-step go with --serve");
    if (opt.serve) exp_opts_check(&opt.eo);
    if (opt.json && opt.prom) die_bad("--json and --prometheus: choose one");
    if (opt.wait && !opt.once) die_bad("--wait goes with --once, --json or --prometheus");
    /* fault injection for tests/50-probe.sh: every vma walk of the pull
     * iterator fails to start, as when the target's mmap lock is busy; from
     * the first reading on, or from the second (after one good pull).
     * slow-ident (tests/44-fleet.sh): --serve waits 300 ms at each birth
     * before asking /proc who the newcomer is, as on a loaded machine */
    const char *f = getenv("HEAPSHIM_PROBE_FAULT");
    if (f && *f) {
        if (!strcmp(f, "vma-busy")) opt.fault = FAULT_VMA_BUSY;
        else if (!strcmp(f, "vma-busy-later")) opt.fault = FAULT_VMA_BUSY_LATER;
        else if (!strcmp(f, "slow-ident")) opt.fault = FAULT_SLOW_IDENT;
        else die_bad("HEAPSHIM_PROBE_FAULT: unknown fault '%s' (accepted: vma-busy, vma-busy-later, slow-ident)", f);
    }
}

static int wanted(int pid)
{
    if (!opt.npids) return 1;
    for (int i = 0; i < opt.npids; i++)
        if (opt.pids[i] == pid) return 1;
    return 0;
}

/* ---- environment checks ------------------------------------------------------------ */

static void find_lib(char *out, size_t cap)
{
    const char *env = getenv("HEAPSHIM_LIB");
    if (opt.lib || (env && *env)) {
        const char *p = opt.lib ? opt.lib : env;
        if (!realpath(p, out) || access(out, R_OK) != 0)
            die_env("%s: libheapshim.so not found or not readable (%s: %s)", p,
                    opt.lib ? "--lib" : "$HEAPSHIM_LIB", strerror(errno));
        return;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        const char *dir = dirname(exe);
        const char *cand[] = { "%s/libheapshim.so", "%s/../lib/libheapshim.so" };
        for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
            char p[4200];
            snprintf(p, sizeof p, cand[i], dir);
            if (realpath(p, out) && access(out, R_OK) == 0) return;
        }
    }
    char p[4200];
    snprintf(p, sizeof p, "%s/libheapshim.so", HS_LIBDIR);
    if (realpath(p, out) && access(out, R_OK) == 0) return;
    (void)cap;
    die_env("libheapshim.so not found (looked next to this binary, in ../lib and in %s; "
            "use --lib PATH)", HS_LIBDIR);
}

static int have_caps(void)
{
    if (geteuid() == 0) return 1;
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capget, &h, d) != 0) return 0;
    int bpf = 39, perfmon = 38;   /* CAP_BPF, CAP_PERFMON (5.8+) */
    return (d[bpf / 32].effective & (1u << (bpf % 32))) &&
           (d[perfmon / 32].effective & (1u << (perfmon % 32)));
}

static void preflight(void)
{
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        die_env("this kernel has no BTF (/sys/kernel/btf/vmlinux missing): "
                "CONFIG_DEBUG_INFO_BTF=y is needed");
    if (access("/sys/bus/event_source/devices/uprobe/type", R_OK) != 0)
        die_env("this kernel has no uprobes (no /sys/bus/event_source/devices/uprobe): "
                "CONFIG_UPROBE_EVENTS=y is needed");
}

/* ---- the library: symbol, versions ---------------------------------------------------- */

struct libver {
    char path[4096];
    dev_t dev;
    ino_t ino;
    void *map;                  /* kept mapped: pins the inode the iterator compares */
    size_t len;
    uint64_t sym_off;
    struct bpf_link *usdt[2];
};

static struct probe_bpf *skel;
static struct bpf_link *iter_link;
static int pull_ok;             /* the iterator program loaded and calibrated */
static struct libver libs[HSP_MAX_LIBS];
static int nlibs;
static char lib_path[4096];

static int read_iter(struct bpf_link *link, char **buf, size_t *len)
{
    int fd = bpf_iter_create(bpf_link__fd(link));
    if (fd < 0) return -1;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (!b) {
        close(fd);
        return -1;
    }
    for (;;) {
        if (cap - n < 8192) {
            char *nb = realloc(b, cap * 2);
            if (!nb) break;
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(b);
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = n;
    return 0;
}

/* Find the kernel inode of lib version k through our own mapping of it. */
static int calibrate(int k)
{
    union bpf_iter_link_info li;
    memset(&li, 0, sizeof li);
    li.task.pid = (uint32_t)getpid();
    DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, o, .link_info = &li, .link_info_len = sizeof li);
    struct bpf_link *l = bpf_program__attach_iter(skel->progs.pull, &o);
    if (!l) l = bpf_program__attach_iter(skel->progs.pull, NULL);   /* kernels without task filter */
    if (!l) return -1;
    skel->bss->calib_lib = (uint32_t)k;
    skel->bss->calib_addr = (uint64_t)(uintptr_t)libs[k].map;
    char *b = NULL;
    size_t n;
    int rc = read_iter(l, &b, &n);
    free(b);
    skel->bss->calib_addr = 0;
    bpf_link__destroy(l);
    return rc == 0 && skel->bss->libs[k].inode ? 0 : -1;
}

/* Why add_lib turned a file down, one line: warned at once for a replaced
 * file (a later version); for the first, the caller exits with it. */
static char lib_why[4600];

__attribute__((format(printf, 2, 3))) static int lib_refuse(int quiet, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lib_why, sizeof lib_why, fmt, ap);
    va_end(ap);
    if (nlibs && !quiet) warnx_("%s", lib_why);
    return -1;
}

/* Open, attach and calibrate one version of the library file. */
static int add_lib(const char *path, int quiet)
{
    if (nlibs == HSP_MAX_LIBS)
        return lib_refuse(quiet, "%s replaced more than %d times: new processes are not attached "
                                 "(restart heapshim-probe)", path, HSP_MAX_LIBS);
    struct libver *v = &libs[nlibs];
    memset(v, 0, sizeof *v);
    snprintf(v->path, sizeof v->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);   /* a FIFO put there must not block the probe */
    struct stat st;
    const char *why = NULL;
    if (fd < 0 || fstat(fd, &st) != 0) why = strerror(errno);
    else if (!S_ISREG(st.st_mode)) why = "not a regular file";
    else if (st.st_size < 64) why = "shorter than an ELF header";
    if (why) {
        if (fd >= 0) close(fd);
        return lib_refuse(quiet, "%s: cannot open as a library: %s (accepted: libheapshim.so)", path, why);
    }
    v->dev = st.st_dev;
    v->ino = st.st_ino;
    v->len = (size_t)st.st_size;
    v->map = mmap(NULL, v->len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (v->map == MAP_FAILED) {
        v->map = NULL;
        return lib_refuse(quiet, "%s: cannot map: %s", path, strerror(errno));
    }
    struct hsp_elf_info ei;
    if (hsp_elf_inspect(v->map, v->len, &ei) != 0) {
        munmap(v->map, v->len);
        v->map = NULL;
        return lib_refuse(quiet, "%s: not an ELF64 little-endian file (accepted: libheapshim.so)", path);
    }
    v->sym_off = ei.sym_off;
    skel->bss->libs[nlibs].sym_off = v->sym_off;
    skel->bss->libs[nlibs].inode = 0;
    /* uprobes are keyed by inode: these links follow this version of the
     * file; a replaced file needs links of its own (see maybe_reattach) */
    v->usdt[0] = bpf_program__attach_usdt(skel->progs.on_publish, -1, path, "heapshim", "publish", NULL);
    int e0 = errno;
    v->usdt[1] = bpf_program__attach_usdt(skel->progs.on_init, -1, path, "heapshim", "init", NULL);
    int have_usdt = v->usdt[0] && v->usdt[1];
    if (!have_usdt && !(pull_ok && v->sym_off)) {
        /* nothing to read this file's processes with: not our library */
        bpf_link__destroy(v->usdt[0]);
        bpf_link__destroy(v->usdt[1]);
        munmap(v->map, v->len);
        v->map = NULL;
        return lib_refuse(quiet, "%s: not a usable libheapshim.so (no heapshim USDT points to attach to, and "
                                 "no hs_live symbol for the pull iterator)", path);
    }
    if (!have_usdt && !quiet) {
        if (!ei.usdt_publish || !ei.usdt_init)
            warnx_("%s: has no USDT notes heapshim:publish/init (%u stapsdt notes): built without "
                   "<sys/sdt.h> (Debian systemtap-sdt-dev)? Only the pull path is used", path, ei.notes);
        else
            warnx_("%s: cannot attach to the USDT points heapshim:publish/init (%s); only the pull "
                   "path is used", path, strerror(e0 ? e0 : errno));
    }
    int k = nlibs++;
    if (pull_ok && calibrate(k) != 0 && !quiet)
        warnx_("%s: the pull iterator cannot locate this library's mapping", path);
    if (pull_ok && !v->sym_off && !quiet)
        warnx_("%s: no hs_live in its symbol table (stripped?): processes idle since before the "
               "probe started show only after their next publication", path);
    return 0;
}

/* The library file was replaced (make, package upgrade): running processes
 * keep the old inode (still probed through the old links), new ones map the
 * new file, which needs new uprobes. Checked at every refresh. */
static void maybe_reattach(void)
{
    /* the last version that could not be attached: not retried (nor warned
     * about again) until the file changes; a file still being written keeps
     * its inode but changes size or mtime, so it is retried when complete */
    static struct {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime;
        int valid;
    } failed;
    struct stat st;
    if (stat(lib_path, &st) != 0) return;   /* being replaced right now: next time */
    for (int i = 0; i < nlibs; i++)
        if (libs[i].dev == st.st_dev && libs[i].ino == st.st_ino) return;
    int same_inode = failed.valid && failed.dev == st.st_dev && failed.ino == st.st_ino;
    if (same_inode && failed.size == st.st_size && failed.mtime.tv_sec == st.st_mtim.tv_sec &&
        failed.mtime.tv_nsec == st.st_mtim.tv_nsec)
        return;
    /* warn once per replacement (per inode), however often it is retried */
    if (add_lib(lib_path, same_inode) == 0) {
        failed.valid = 0;
        if (opt.verbose)
            fprintf(stderr, "heapshim-probe: %s was replaced: attached to the new file too\n", lib_path);
        return;
    }
    failed.valid = 1;
    failed.dev = st.st_dev;
    failed.ino = st.st_ino;
    failed.size = st.st_size;
    failed.mtime = st.st_mtim;
}

static void setup(void)
{
    /* HEAPSHIM_PROBE_NO_PULL=1: USDT only (tests of the push path, old kernels) */
    const char *np = getenv("HEAPSHIM_PROBE_NO_PULL");
    int no_pull = np && *np && strcmp(np, "0");
    libbpf_set_print(libbpf_out);
    for (int attempt = 0; attempt < 2; attempt++) {
        skel = probe_bpf__open();
        if (!skel) die_env("cannot open the BPF object: %s", strerror(errno));
        /* a kernel without bpf_copy_from_user_task or the vma iterator kfuncs
         * (before 6.7) rejects the pull program: load without it */
        if (attempt == 1 || no_pull) bpf_program__set_autoload(skel->progs.pull, false);
        int err = probe_bpf__load(skel);
        if (!err) {
            pull_ok = attempt == 0 && !no_pull;
            break;
        }
        probe_bpf__destroy(skel);
        skel = NULL;
        if (err == -EPERM || err == -EACCES)
            die_env("the kernel refused to load BPF programs (%s): run as root, or with "
                    "CAP_BPF and CAP_PERFMON", strerror(-err));
        if (attempt == 1)
            die_env("cannot load the BPF programs: %s (--verbose shows the verifier's log)",
                    strerror(-err));
    }
    if (!pull_ok && !no_pull)
        warnx_("this kernel cannot run the pull iterator (needs 6.7+): processes show only "
               "once they publish (every %d ms while they allocate)", HS_LIVE_PUBLISH_MS);
    skel->bss->self_tgid = (uint32_t)getpid();

    struct bpf_link *l1 = bpf_program__attach(skel->progs.sys_exit);
    struct bpf_link *l2 = l1 ? bpf_program__attach(skel->progs.proc_exit) : NULL;
    struct bpf_link *l3 = l2 ? bpf_program__attach(skel->progs.proc_exec) : NULL;
    if (!l3)
        die_env("cannot attach to the sys_exit/sched_process_exit/sched_process_exec tracepoints: %s",
                strerror(errno));
    skel->links.sys_exit = l1;
    skel->links.proc_exit = l2;
    skel->links.proc_exec = l3;
    if (pull_ok) {
        iter_link = bpf_program__attach_iter(skel->progs.pull, NULL);
        if (!iter_link) {
            warnx_("cannot attach the pull iterator: %s", strerror(errno));
            pull_ok = 0;
        }
    }
    if (add_lib(lib_path, 0) != 0) die_env("%s", lib_why);
    if (pull_ok && !skel->bss->libs[0].inode) pull_ok = 0;
    if (opt.fault == FAULT_VMA_BUSY) skel->bss->fault_vma_busy = 1;
}

static void teardown(void)
{
    for (int i = 0; i < nlibs; i++) {
        bpf_link__destroy(libs[i].usdt[0]);
        bpf_link__destroy(libs[i].usdt[1]);
        if (libs[i].map) munmap(libs[i].map, libs[i].len);
    }
    bpf_link__destroy(iter_link);
    probe_bpf__destroy(skel);
}

/* ---- one reading: pull + procs map --------------------------------------------------- */

struct view {
    struct proc_view v;
    const char *source;             /* "pull" or "usdt" */
    struct hsp_syscalls sc;
    uint64_t brk_bytes, usdt_hits, publications;
};

struct reading {
    struct view *v;
    int n, bad;
    struct view *gone;              /* --serve: processes that exited, final snapshot */
    int ngone;
};

static int add(struct reading *r, const struct view *v)
{
    struct view *nv = realloc(r->v, (size_t)(r->n + 1) * sizeof *nv);
    if (!nv) return -1;
    r->v = nv;
    r->v[r->n++] = *v;
    return 0;
}

static struct view *find(struct reading *r, int pid)
{
    for (int i = 0; i < r->n; i++)
        if (r->v[i].v.pid == pid) return &r->v[i];
    return NULL;
}

static void forget(int tgid)
{
    uint32_t k = (uint32_t)tgid;
    bpf_map__delete_elem(skel->maps.procs, &k, sizeof k, 0);
    bpf_map__delete_elem(skel->maps.traffic, &k, sizeof k, 0);
    bpf_map__delete_elem(skel->maps.pulled, &k, sizeof k, 0);
}

/* ---- what /proc tells about a process (rows the iterator did not read) ---- */


/* "Threads:" of /proc/PID/status; 0 if unknown */
static uint32_t proc_threads(int pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (proc_read_path(path, buf, sizeof buf) <= 0) return 0;
    const char *t = strstr(buf, "\nThreads:");
    return t ? (uint32_t)strtoul(t + 9, NULL, 10) : 0;
}

/* argv joined by spaces, cut to cap - 1, as the shim writes its header */
static int proc_cmdline(int pid, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    ssize_t n = proc_read_path(path, out, cap);
    if (n <= 0) return -1;
    while (n > 0 && out[n - 1] == 0) n--;
    for (ssize_t i = 0; i < n; i++)
        if (!out[i]) out[i] = ' ';
    out[n] = 0;
    return n ? 0 : -1;
}

/* Does the process map one of our library versions (by dev/inode or path)?
 * Asked only when the iterator could not walk its mappings. */
static int proc_maps_lib(int pid)
{
    char path[64], line[4608];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned maj, min;
        unsigned long long ino;
        int off = 0;
        if (sscanf(line, "%*s %*s %*s %x:%x %llu %n", &maj, &min, &ino, &off) < 3 || !ino) continue;
        char *name = line + off;
        name[strcspn(name, "\n")] = 0;
        for (int i = 0; i < nlibs && !found; i++)
            found = (libs[i].ino == (ino_t)ino && libs[i].dev == makedev(maj, min)) ||
                    !strcmp(name, libs[i].path);
    }
    fclose(f);
    return found;
}

/* A pulled process as a region of one slot holding the sum: what the
 * readers of a live file take (core/live_read.c). */
struct pulled_region {
    struct hs_live_header h;
    struct hs_live_slot s;
};

static void pull_region(struct pulled_region *reg, const struct hs_probe_pull *p)
{
    memcpy(&reg->h, &p->hdr, sizeof reg->h);
    memcpy(&reg->s, &p->sum, sizeof reg->s);
    reg->h.slots_offset = sizeof reg->h;
    reg->h.nslots = 1;
    reg->h.slots_used = 1;
    reg->h.file_size = sizeof *reg;
    reg->h.comm[sizeof reg->h.comm - 1] = 0;
    reg->h.cmdline[sizeof reg->h.cmdline - 1] = 0;
    reg->h.allocator[sizeof reg->h.allocator - 1] = 0;
}

/* p from the first pull, q from the second (the same process), for the
 * two-copy rule of hs_live_read_copies; q = p when the process was not in
 * the second pull (then the sum is taken as it is). */
static uint64_t pull_ns;            /* the window-step clock when the pulls began */
static void from_pull(struct reading *r, const struct hs_probe_pull *p, const struct hs_probe_pull *q)
{
    if (p->status == HSP_PULL_VMA_BUSY) {
        /* the kernel could not walk its mappings and nothing was known about
         * it: unreadable if it is one of ours (the heading says so) */
        if (wanted((int)p->tgid) && proc_maps_lib((int)p->tgid)) {
            r->bad++;
            if (opt.verbose)
                warnx_("pid %u: its mappings could not be walked (mmap lock busy): skipped this time",
                       p->tgid);
        }
        return;
    }
    if (p->status != HSP_PULL_OK) {
        if (p->status != HSP_PULL_NOT_READY && wanted((int)p->tgid)) r->bad++;
        return;
    }
    if (!wanted((int)p->tgid) || p->hdr.state == HS_LIVE_STATE_EXITED) return;
    struct pulled_region reg, reg2;
    pull_region(&reg, p);
    pull_region(&reg2, q);
    struct view w;
    memset(&w, 0, sizeof w);
    const char *why, *how;
    if (hs_live_read_copies(&reg, &reg2, sizeof reg, &w.v.snap, &how, &why) != 0) {
        if (opt.verbose) warnx_("pid %u: %s", p->tgid, why);
        r->bad++;
        return;
    }
    w.v.snap.threads = p->threads;
    w.v.pid = (int)p->tgid;
    memcpy(w.v.comm, reg.h.comm, sizeof w.v.comm);
    memcpy(w.v.cmdline, reg.h.cmdline, sizeof w.v.cmdline);
    memcpy(w.v.allocator, reg.h.allocator, sizeof w.v.allocator);
    w.v.state = reg.h.state;
    /* 0: a fork child that has not read it yet (probe.bpf.c, record) */
    w.v.start_time = reg.h.start_time ? reg.h.start_time : p->start_boottime_ns / (1000000000ull / HSP_USER_HZ);
    w.v.created_unix_ns = reg.h.created_unix_ns;
    w.v.uid = reg.h.uid;
    w.v.rss_bytes = p->rss_bytes;
    w.v.rss_anon_bytes = p->rss_anon_bytes;
    /* read only: the window peak as the process left it (export --no-reset) */
    for (int i = 0; i < 4; i++) w.v.window_peak[i] = reg.h.window_peak[i] > 0 ? (uint64_t)reg.h.window_peak[i] : 0;
    /* the window steps of the first pull, which began at pull_ns */
    memcpy(w.v.wsteps, reg.h.wsteps, sizeof w.v.wsteps);
    memcpy(w.v.claimed, reg.h.claimed, sizeof w.v.claimed);
    w.v.wread_ns = pull_ns;
    w.v.base = p->base;
    w.source = "pull";
    w.brk_bytes = p->brk_bytes;
    w.publications = reg.h.publications;
    add(r, &w);
}

/* A row from the last USDT snapshot. What the snapshot lacks comes from
 * /proc now, as `heapshim top` takes it: RSS (statm), RssAnon (status), threads (the OS
 * threads; top counts threads that allocated through the shim and are
 * alive, the same unless some thread never allocated), and the command line
 * if the header's was not copied. */
static void usdt_view(struct view *wp, uint32_t tgid, const struct hsp_proc *p);
static void from_usdt(struct reading *r, uint32_t tgid, const struct hsp_proc *p)
{
    if (find(r, (int)tgid) || !(p->flags & HSP_F_IDENTITY) || !wanted((int)tgid)) return;
    struct view w;
    usdt_view(&w, tgid, p);
    add(r, &w);
}

static void usdt_view(struct view *wp, uint32_t tgid, const struct hsp_proc *p)
{
    struct view w;
    memset(&w, 0, sizeof w);
    w.v.pid = (int)tgid;
    memcpy(w.v.comm, p->comm, sizeof w.v.comm);
    w.v.comm[15] = 0;
    memcpy(w.v.cmdline, p->cmdline, sizeof w.v.cmdline);
    w.v.cmdline[sizeof w.v.cmdline - 1] = 0;
    if (!w.v.cmdline[0] && proc_cmdline((int)tgid, w.v.cmdline, sizeof w.v.cmdline) != 0)
        memcpy(w.v.cmdline, w.v.comm, sizeof w.v.comm);
    memcpy(w.v.allocator, p->allocator, sizeof w.v.allocator);
    w.v.allocator[15] = 0;
    w.v.state = HS_LIVE_STATE_RUNNING;
    w.v.start_time = p->start_time;
    w.v.created_unix_ns = p->created_unix_ns;
    w.v.rss_bytes = proc_rss_bytes((int)tgid);
    if (!w.v.rss_bytes) w.v.rss_bytes = p->rss_bytes;
    w.v.rss_anon_bytes = proc_rss_anon_bytes((int)tgid);
    if (!w.v.rss_anon_bytes) w.v.rss_anon_bytes = p->rss_anon_bytes;
    memcpy(w.v.snap.dom, p->snap, sizeof w.v.snap.dom);
    w.v.snap.arenas_mapped = p->snap_arenas_mapped;
    w.v.snap.arenas_peak = p->arenas_peak > p->snap_arenas_mapped ? p->arenas_peak : p->snap_arenas_mapped;
    w.v.snap.bytes_mapped = p->snap_bytes_mapped;
    hs_live_mapped_load(&w.v.snap.mapped, &p->snap_mapped);
    w.v.snap.pools_used = p->pools_used;
    w.v.snap.pools_free = p->pools_free;
    w.v.snap.threads = proc_threads((int)tgid);
    for (int i = 0; i < 4; i++) w.v.window_peak[i] = p->snap[i].live_bytes;
    memcpy(w.v.wsteps, p->wsteps, sizeof w.v.wsteps);
    memcpy(w.v.claimed, p->claimed, sizeof w.v.claimed);
    w.v.wread_ns = p->wread_ns;
    w.v.uid = p->uid;
    w.v.base = p->base;
    w.source = "usdt";
    w.brk_bytes = p->brk_bytes;
    w.publications = p->publications;
    *wp = w;
}

static int cmp_view(const void *a, const void *b)
{
    const struct view *x = a, *y = b;
    return (x->v.pid > y->v.pid) - (x->v.pid < y->v.pid);
}

static int take_reading(struct reading *r)
{
    memset(r, 0, sizeof *r);
    if (pull_ok) {
        /* two pulls: a process whose counters are the same in both was
         * read at one instant; otherwise its published snapshot is used */
        char *b = NULL, *b2 = NULL;
        size_t n = 0, n2 = 0;
        pull_ns = live_wclock_ns();
        if (read_iter(iter_link, &b, &n) != 0 || read_iter(iter_link, &b2, &n2) != 0) {
            warnx_("reading the pull iterator failed: %s", strerror(errno));
            free(b);
            return -1;
        }
        const size_t rec = sizeof(struct hs_probe_pull);
        for (size_t off = 0; off + rec <= n; off += rec) {
            struct hs_probe_pull p, q;
            memcpy(&p, b + off, sizeof p);
            if (p.magic != HSP_PULL_MAGIC) continue;
            q = p;
            for (size_t o2 = 0; o2 + rec <= n2; o2 += rec) {
                if (((const struct hs_probe_pull *)(const void *)(b2 + o2))->tgid == p.tgid) {
                    memcpy(&q, b2 + o2, sizeof q);
                    break;
                }
            }
            if (q.magic != HSP_PULL_MAGIC || q.status != p.status) q = p;
            from_pull(r, &p, &q);
        }
        free(b);
        free(b2);
    }
    /* the push side: processes the iterator did not read, and dead ones */
    uint32_t key, next, *prev = NULL;
    int dead[256], ndead = 0;
    while (bpf_map__get_next_key(skel->maps.procs, prev, &next, sizeof next) == 0) {
        key = next;
        prev = &key;
        struct hsp_proc p;
        if (bpf_map__lookup_elem(skel->maps.procs, &key, sizeof key, &p, sizeof p, 0) != 0) continue;
        if ((p.flags & HSP_F_EXITED) || ((p.flags & HSP_F_IDENTITY) && !proc_alive((int)key, p.start_time, 0, 0))) {
            if (ndead < 256) dead[ndead++] = (int)key;
            /* --serve: the last snapshot (published at exit) is folded */
            if (opt.serve && (p.flags & HSP_F_IDENTITY) && (p.flags & HSP_F_SNAPSHOT)) {
                struct view *ng = realloc(r->gone, (size_t)(r->ngone + 1) * sizeof *ng);
                if (ng) {
                    r->gone = ng;
                    usdt_view(&r->gone[r->ngone++], key, &p);
                }
            }
            continue;
        }
        from_usdt(r, key, &p);
    }
    for (int i = 0; i < ndead; i++) forget(dead[i]);
    /* tracked only through the pull path, and gone: the traffic and pulled entries */
    struct bpf_map *swept[2] = { skel->maps.traffic, skel->maps.pulled };
    for (int m = 0; m < 2; m++) {
        prev = NULL;
        ndead = 0;
        while (bpf_map__get_next_key(swept[m], prev, &next, sizeof next) == 0) {
            key = next;
            prev = &key;
            char path[64];
            snprintf(path, sizeof path, "/proc/%u", key);
            if (access(path, F_OK) != 0 && ndead < 256) dead[ndead++] = (int)key;
        }
        for (int i = 0; i < ndead; i++) forget(dead[i]);
    }

    for (int i = 0; i < r->n; i++) {
        struct view *w = &r->v[i];
        uint32_t k = (uint32_t)w->v.pid;
        if (bpf_map__lookup_elem(skel->maps.traffic, &k, sizeof k, &w->sc, sizeof w->sc, 0) == 0)
            w->usdt_hits = w->sc.usdt_hits;
    }
    if (r->n > 1) qsort(r->v, (size_t)r->n, sizeof *r->v, cmp_view);
    return 0;
}

/* ---- output ----------------------------------------------------------------------------- */

static json_t *kernel_json(const struct view *w)
{
    const struct hsp_syscalls *s = &w->sc;
    return json_pack("{sIsIsIsIsIsIsIsIsIsI}", "rss_bytes", (json_int_t)w->v.rss_bytes, "brk_bytes",
                     (json_int_t)w->brk_bytes, "mmap_calls", (json_int_t)s->calls[HSP_SC_MMAP],
                     "munmap_calls", (json_int_t)s->calls[HSP_SC_MUNMAP], "brk_calls",
                     (json_int_t)s->calls[HSP_SC_BRK], "mremap_calls",
                     (json_int_t)s->calls[HSP_SC_MREMAP], "failed_calls",
                     (json_int_t)(s->failed[0] + s->failed[1] + s->failed[2] + s->failed[3]),
                     "mapped_bytes", (json_int_t)s->bytes_in, "unmapped_bytes",
                     (json_int_t)s->bytes_out, "usdt_hits", (json_int_t)w->usdt_hits);
}

/* The `heapshim top --json` document (same keys, same order), plus a few
 * keys of the probe's own: "source", "publications", "kernel" per process,
 * "lib" and "pull" at the top. "dir" is null: no live directory was read. */
static void print_json(const struct reading *r)
{
    json_t *procs = json_array();
    for (int i = 0; i < r->n; i++) {
        const struct view *w = &r->v[i];
        json_t *p = top_proc_json(&w->v);
        json_object_set_new(p, "source", json_string(w->source));
        json_object_set_new(p, "publications", json_integer((json_int_t)w->publications));
        json_object_set_new(p, "kernel", kernel_json(w));
        json_array_append_new(procs, p);
    }
    const struct probe_bpf__bss *b = skel->bss;
    json_t *st = json_pack("{sIsIsIsIsIsIsIsI}", "runs", (json_int_t)b->pull_runs, "read_errors",
                           (json_int_t)b->pull_read_errors, "vma_busy", (json_int_t)b->pull_vma_busy,
                           "vma_fallback", (json_int_t)b->pull_vma_fallback, "lib_gone",
                           (json_int_t)b->pull_lib_gone, "exec_dropped", (json_int_t)b->exec_dropped,
                           "usdt_lost", (json_int_t)b->usdt_lost, "births_lost", (json_int_t)b->births_lost);
    json_t *root = json_pack("{snsIsosisi sssbso}", "dir", "time_unix_ns", (json_int_t)unix_ns(),
                             "processes", procs, "stale", 0, "bad", r->bad, "lib", lib_path,
                             "pull", pull_ok, "pull_stats", st);
    char *txt = root ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    if (txt) puts(txt);
    free(txt);
    json_decref(root);
}

/* the probe's own families (kernel-side figures), after the exporter's */
static void probe_families(struct prom_buf *out, const struct reading *r)
{
    static const char *const scn[HSP_SC_N] = { "mmap", "munmap", "brk", "mremap" };
    char comm[64];
    prom_family(out, "heapshim_probe_syscalls_total", "counter",
                "Mapping system calls of the process since the probe tracked it (kernel-side count).");
    for (int i = 0; i < r->n; i++) {
        prom_label_value(r->v[i].v.comm, sizeof r->v[i].v.comm, comm, sizeof comm);
        for (int k = 0; k < HSP_SC_N; k++)
            prom_add(out, "heapshim_probe_syscalls_total{pid=\"%d\",comm=\"%s\",syscall=\"%s\"} %llu\n",
                     r->v[i].v.pid, comm, scn[k], (unsigned long long)r->v[i].sc.calls[k]);
    }
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        { "heapshim_probe_mapped_bytes_total", "counter",
          "Bytes mapped (mmap, brk and mremap growth) since the probe tracked the process." },
        { "heapshim_probe_unmapped_bytes_total", "counter",
          "Bytes unmapped (munmap, brk and mremap shrink) since the probe tracked the process." },
        { "heapshim_probe_brk_bytes", "gauge",
          "Size of the process's brk heap (mm->brk - mm->start_brk)." },
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        prom_family(out, fam[f].name, fam[f].type, fam[f].help);
        for (int i = 0; i < r->n; i++) {
            const struct view *w = &r->v[i];
            uint64_t v = f == 0 ? w->sc.bytes_in : f == 1 ? w->sc.bytes_out : w->brk_bytes;
            prom_label_value(w->v.comm, sizeof w->v.comm, comm, sizeof comm);
            prom_add(out, "%s{pid=\"%d\",comm=\"%s\"} %llu\n", fam[f].name, w->v.pid, comm,
                     (unsigned long long)v);
        }
    }
}

/* `heapshim export`'s exposition (its own renderer), then the probe's families */
static int print_prom(const struct reading *r)
{
    struct scan s = { 0 };
    s.v = calloc((size_t)(r->n ? r->n : 1), sizeof *s.v);
    if (!s.v) return -1;
    for (int i = 0; i < r->n; i++) s.v[i] = r->v[i].v;
    s.n = r->n;
    s.bad = r->bad;
    size_t len;
    char *text = prom_render(&s, &len);
    free(s.v);
    if (!text) return -1;
    fwrite(text, 1, len, stdout);
    free(text);
    struct prom_buf b = { 0 };
    probe_families(&b, r);
    if (b.oom) {
        free(b.p);
        return -1;
    }
    if (b.len) fwrite(b.p, 1, b.len, stdout);
    free(b.p);
    return 0;
}

/* ---- --serve: the host exporter ------------------------------------------------------
 * Every step (--window-step) and every scrape take a reading; the exits it
 * is the first to learn of are folded into their services then (fold_exits),
 * whichever of the two it is, so a scrape never shows a service without a
 * process it showed before: processes that exited since the last reading
 * (their final USDT snapshot, kept by proc_exit for us, which take_reading
 * hands over once and forgets) and those that vanished otherwise (their
 * figures in the last reading).
 * Window peaks come from the window steps each process keeps in its region
 * (live.h "Window steps"), copied by the pull iterator (the header) or at
 * the USDT hit: the exporter computes every step's mark from them
 * (tools/exporter.c mark_of), exactly as for `heapshim serve`; nothing is
 * written into the processes. */
static struct exporter *xp;
static struct reading prev;         /* the last reading (step or scrape): its running processes */

/* Fold the exits r is the first reading to see, exactly once, and make r
 * the last reading. r keeps its views (running processes only: one also in
 * r->gone exited between the two halves of take_reading and is taken out);
 * r->gone is freed. */
static void fold_exits(struct reading *r)
{
    for (int i = 0; i < r->ngone; i++) exp_exited(xp, &r->gone[i].v);
    int n = 0;
    for (int i = 0; i < r->n; i++) {
        int gone = 0;
        for (int k = 0; k < r->ngone && !gone; k++) gone = r->gone[k].v.pid == r->v[i].v.pid;
        if (!gone) r->v[n++] = r->v[i];
    }
    r->n = n;
    /* gone without an exit snapshot (exec into another image, pull only): last figures */
    for (int i = 0; i < prev.n; i++) {
        const struct view *o = &prev.v[i];
        int still = 0;
        for (int k = 0; k < r->n && !still; k++) still = r->v[k].v.pid == o->v.pid && r->v[k].v.start_time == o->v.start_time;
        for (int k = 0; k < r->ngone && !still; k++) still = r->gone[k].v.pid == o->v.pid;
        if (!still) exp_exited(xp, &o->v);
    }
    free(r->gone);
    r->gone = NULL;
    r->ngone = 0;
    free(prev.v);
    prev.v = malloc((size_t)(r->n ? r->n : 1) * sizeof *prev.v);
    prev.n = prev.v ? r->n : 0;
    if (prev.v && r->n) memcpy(prev.v, r->v, (size_t)r->n * sizeof *prev.v);
}

/* --serve: newcomers' identities and exec'd images' last records (serve_main) */
static struct ring_buffer *births;
/* A reading takes what that ring holds before and after it: a process
 * that the reading finds through its USDT entry sent its birth (its labels)
 * before that entry was made, but perhaps while the reading ran; a step
 * that identified it before the loop read the ring named it from /proc,
 * and a worker gone by then after its comm (its labels lost: 4 of
 * 2,140 workers of 1-2 ms in bursts of 5 here with the ring read between
 * readings only, 4 of about 3,000 with it read before each reading too,
 * 0 of 1,500 now). Exec'd images' records (the same ring) are folded before
 * the reading's exits, as they came. */
static int serve_reading(struct reading *r)
{
    if (births) ring_buffer__consume(births);
    int rc = take_reading(r);
    if (births) ring_buffer__consume(births);
    return rc;
}

static void serve_step(void *arg)
{
    (void)arg;
    struct reading r;
    if (serve_reading(&r) != 0) return;
    fold_exits(&r);
    struct proc_view *pv = calloc((size_t)(r.n ? r.n : 1), sizeof *pv);
    for (int i = 0; pv && i < r.n; i++) pv[i] = r.v[i].v;
    if (pv) exp_step(xp, pv, r.n);
    free(pv);
    free(r.v);
    if (opt.fault == FAULT_VMA_BUSY_LATER) skel->bss->fault_vma_busy = 1;
    maybe_reattach();
}

static char *serve_render(void *arg, size_t *len)
{
    (void)arg;
    struct reading r;
    if (serve_reading(&r) != 0) return NULL;
    fold_exits(&r);
    struct scan s = { 0 };
    s.v = calloc((size_t)(r.n ? r.n : 1), sizeof *s.v);
    char *text = NULL;
    struct prom_buf fam = { 0 };
    if (s.v) {
        for (int i = 0; i < r.n; i++) s.v[i] = r.v[i].v;
        s.n = r.n;
        s.bad = r.bad;
        if (opt.eo.by_process) probe_families(&fam, &r);   /* per process: not with --by service */
        if (!fam.oom) text = exp_render(xp, &s, fam.p, fam.len, len);
    }
    free(fam.p);
    free(s.v);
    free(r.v);
    return text;
}

static volatile sig_atomic_t stop;
static void on_stop(int sig) { (void)sig; stop = 1; }

static int on_birth(void *ctx, void *data, size_t len)
{
    (void)ctx;
    const struct hsp_birth *b = data;
    if (len < sizeof *b) return 0;
    if (opt.fault == FAULT_SLOW_IDENT) {
        struct timespec ts = { 0, 300 * 1000000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
    /* the area was copied from right after the header: a file that puts
     * its labels elsewhere is not read (the reader of the file would) */
    char fl[HS_LIVE_LABELS_AREA];
    int fst = b->labels_offset == 0 ? -2
            : b->labels_offset != sizeof(struct hs_live_header) ? -1
            : hs_live_labels_at(b->labels_offset, b->labels_len, b->area, sizeof b->area, fl, sizeof fl);
    exp_prefetch(xp, (int)b->tgid, b->created_unix_ns, fl, fst);
    return 0;
}
/* --serve: an image that exec'd, its last record: folded as an exit now
 * (the new image, same pid and start time, is tracked anew; its figures
 * start from zero). The shim publishes right before an exec while this
 * probe is attached (interpose/exec.c), so the record holds the old
 * image's last calls; an image that made the execve system call itself
 * is folded from its last publication. */
static int on_exec(void *ctx, void *data, size_t len)
{
    (void)ctx;
    const struct hsp_proc *p = data;
    if (len < sizeof *p) return 0;
    struct view w;
    usdt_view(&w, p->tgid, p);
    /* the last reading may know later figures (a pull sums the slots; the
     * record holds the last publication): counters only grow, so the one
     * with more calls is the later. Then it is folded, and not again by
     * fold_exits as "gone without an exit snapshot" (a new image without
     * the library leaves no record of its own) */
    int n = 0;
    for (int i = 0; i < prev.n; i++) {
        const struct view *o = &prev.v[i];
        if (o->v.pid != w.v.pid || o->v.start_time != w.v.start_time) {
            prev.v[n++] = *o;
            continue;
        }
        if (o->v.snap.dom[HS_LIVE_TOTAL].allocs + o->v.snap.dom[HS_LIVE_TOTAL].frees >
            w.v.snap.dom[HS_LIVE_TOTAL].allocs + w.v.snap.dom[HS_LIVE_TOTAL].frees)
            w = *o;
    }
    prev.n = n;
    exp_exited(xp, &w.v);
    return 0;
}

static void births_ready(void *arg)
{
    (void)arg;
    ring_buffer__consume(births);
}

static int serve_main(void)
{
    int lfd = httpd_listen("--serve", opt.serve);
    xp = exp_new(&opt.eo);
    if (!xp) die_env("out of memory");
    skel->bss->keep_exited = 1;
    births = ring_buffer__new(bpf_map__fd(skel->maps.births), on_birth, NULL, NULL);
    if (births && ring_buffer__add(births, bpf_map__fd(skel->maps.execs), on_exec, NULL) != 0) {
        ring_buffer__free(births);
        births = NULL;
    }
    signal(SIGPIPE, SIG_IGN);
    struct httpd_ops ops = { .render = serve_render, .tick = serve_step,
                             .tick_ms = (uint64_t)opt.eo.step_s * 1000,
                             .extra_fd = births ? ring_buffer__epoll_fd(births) : -1,
                             .on_extra = births_ready };
    httpd_run(lfd, &ops, &stop);
    ring_buffer__free(births);
    close(lfd);
    exp_free(xp);
    free(prev.v);
    return 0;
}

/* `heapshim top`'s table (tools/top_view.c), fitted to the terminal the
 * same way, without GROWTH (one reading); MMAP MUNMAP BRK appended when the
 * table keeps its 80 columns beside them */
#define KERNEL_COLS_W 24
static void print_frame(const struct reading *r, const char *eol)
{
    int width = top_term_size(NULL);
    int kern = width >= 80 + KERNEL_COLS_W;
    struct top_layout L;
    top_layout_without(kern ? width - KERNEL_COLS_W : width, 0, 1u << TC_GROWTH, &L);
    char buf[1024], title[4300];
    int n = snprintf(title, sizeof title, "heapshim-probe - %d process%s", r->n, r->n == 1 ? "" : "es");
    if (r->bad) n += snprintf(title + n, sizeof title - (size_t)n, ", %d unreadable", r->bad);
    snprintf(title + n, sizeof title - (size_t)n, " (%s), %s", pull_ok ? "pull + usdt" : "usdt only", lib_path);
    printf("%.*s%s", width, title, eol);      /* what matters first: cut at the width, as top's */
    top_heading(&L, buf, sizeof buf);
    int tw = (int)strlen(buf);              /* every row of the table is this wide */
    printf("%s", buf);
    if (kern) printf(" %7s %7s %7s", "MMAP", "MUNMAP", "BRK");
    printf("%s", eol);
    for (int i = 0; i < r->n; i++) {
        const struct hsp_syscalls *s = &r->v[i].sc;
        char c[3][16];
        top_row(&L, &r->v[i].v, r->v[i].v.comm, 0, 0, buf, sizeof buf);
        printf("%s", buf);
        if (kern)
            printf("%*s %7s %7s %7s", tw - (int)strlen(buf), "", human_count(s->calls[HSP_SC_MMAP], c[0]),
                   human_count(s->calls[HSP_SC_MUNMAP], c[1]), human_count(s->calls[HSP_SC_BRK], c[2]));
        printf("%s", eol);
    }
}

static int live_frame(void *arg, const char *eol)
{
    (void)arg;
    struct reading r;
    if (take_reading(&r) != 0) return 1;
    if (opt.fault == FAULT_VMA_BUSY_LATER) skel->bss->fault_vma_busy = 1;
    print_frame(&r, eol);
    free(r.v);
    maybe_reattach();
    return 0;
}

int main(int argc, char **argv)
{
    hs_prog = "heapshim-probe";
    parse_args(argc, argv);
    if (!have_caps())
        die_env("needs root, or CAP_BPF and CAP_PERFMON (running as uid %u without them)",
                (unsigned)geteuid());
    find_lib(lib_path, sizeof lib_path);
    preflight();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    setup();

    int rc = 0;
    if (opt.serve) {
        rc = serve_main();
    } else if (opt.once) {
        struct reading r;
        if (opt.wait) {
            /* one pull first, so idle processes are tracked (their mmap/brk
             * traffic counted) during the wait, not only from its end */
            if (take_reading(&r) == 0) free(r.v);
            if (opt.fault == FAULT_VMA_BUSY_LATER) skel->bss->fault_vma_busy = 1;
            struct timespec ts = { (time_t)(opt.wait / 1000), (long)(opt.wait % 1000) * 1000000L };
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop) {
            }
        }
        if (take_reading(&r) != 0) rc = 1;
        else {
            for (int i = 0; i < opt.npids; i++)
                if (!find(&r, opt.pids[i]))
                    warnx_("pid %d: not seen (not running, or libheapshim.so is not loaded in it)",
                           opt.pids[i]);
            if (opt.json) print_json(&r);
            else if (opt.prom) rc = print_prom(&r) ? 1 : 0;
            else print_frame(&r, "\n");
            free(r.v);
        }
    } else {
        rc = top_live_loop(live_frame, NULL, opt.interval, &stop);
    }
    fflush(stdout);
    teardown();
    return rc;
}
