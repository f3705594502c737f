/*
 * tools/cmd_run.c - `heapshim run -- CMD`: run a command under the shim.
 *
 * Room: process management. Finds libheapshim.so, starts CMD with it in
 * LD_PRELOAD and HEAPSHIM_REPORT pointing at a private temporary directory
 * (one report per process, %p = pid, so children inherit it and are
 * followed), waits, optionally samples the child's live file into a CSV,
 * then prints the table and exits with CMD's status. The shim itself never
 * touches this process: LD_PRELOAD is set only in the child.
 */
#include "cli.h"
#include "live.h"
#include "profile.h"
#include "../interpose/report_path.h"
#include <jansson.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: heapshim run [-o REPORT.json] [--reports-dir DIR] [--allocator NAME]\n"
    "                    [--route RULES] [--timeline FILE.csv] [--interval MS] [-q]\n"
    "                    [--profile DIR] [--progress]\n"
    "                    -- CMD [ARGS...]\n"
    "  Run CMD with libheapshim.so preloaded; when it exits, print the per-domain\n"
    "  table (live, peak, allocs, frees, arenas, peak RSS) on stderr and exit with\n"
    "  CMD's status (killed by signal N: run ends by N too; 127 if CMD is not found,\n"
    "  126 if it cannot be run).\n"
    "  Every process of CMD (children too) is recorded: its report at exit, or,\n"
    "  killed by a signal, the last reading of its live counters.\n"
    "  -o FILE            save the run report: the main process's report plus\n"
    "                     \"ended\" and \"tree\" (every process, tree totals);\n"
    "                     -o - writes it on stdout when CMD has ended\n"
    "  --reports-dir DIR  keep every process's report there, as report.PID.json\n"
    "  --allocator NAME   pymalloc (default), malloc, debug, pymalloc_debug, malloc_debug\n"
    "  --route RULES      HEAPSHIM_ROUTE, e.g. 'libpython3*=obj,*=mem'\n"
    "  --timeline FILE    sample the main process's live counters into a CSV (-: stdout):\n"
    "                     time_s,raw_bytes,mem_bytes,obj_bytes,total_bytes,arenas_mapped,rss_bytes\n"
    "  --interval MS      reading period of the live counters (default 100, 1..60000)\n"
    "  --profile DIR      sampled heap profile of every process into DIR: PID.prof (raw),\n"
    "                     PID.heap (google-pprof text), PID.collapsed, PID.svg (flame graph);\n"
    "                     at exit, or the last state of a process killed by a signal;\n"
    "                     the main process's top 10 stacks are printed after its table\n"
    "  --progress         on a terminal, a one-line progress after the first second\n"
    "                     (it is drawn over whatever CMD writes there meanwhile)\n"
    "  -q                 no table and no progress line (the reports are still written)\n"
    "  The library is $HEAPSHIM_LIB, else libheapshim.so next to this binary,\n"
    "  else ../lib/libheapshim.so relative to it (the installed layout).\n";

static const char *const allocators[] = { "pymalloc", "malloc", "debug", "pymalloc_debug",
                                          "malloc_debug" };

static int find_lib(char *out, size_t cap)
{
    const char *env = getenv("HEAPSHIM_LIB");
    if (env && *env) {
        if (access(env, R_OK) != 0)
            die_bad("HEAPSHIM_LIB=%s: cannot read it: %s", env, strerror(errno));
        snprintf(out, cap, "%s", env);
        return 0;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = 0;
    char *dir = dirname(exe);
    const char *cand[] = { "%s/libheapshim.so", "%s/../lib/libheapshim.so" };
    for (int i = 0; i < 2; i++) {
        snprintf(out, cap, cand[i], dir);
        if (access(out, R_OK) == 0) {
            char *real = realpath(out, NULL);
            if (real) {
                snprintf(out, cap, "%s", real);
                free(real);
            }
            return 0;
        }
    }
    return -1;
}

static volatile sig_atomic_t child_pid, child_done;
static struct sigaction saved[NSIG];
/* Signals sent to us by a process (kill, docker stop, systemd) are passed on
 * to the workload; the terminal's ^C/^\ (si_code SI_KERNEL) reach the whole
 * foreground group anyway, so they are not sent twice. (A signal sent to the
 * whole process group by a process, kill -- -PGID, reaches CMD twice: once
 * directly, once from us; a sender's aim, the pid or the group, is not in
 * siginfo. Not solved.) */
static void forward(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (child_pid > 0 && (!si || si->si_code <= 0)) kill((pid_t)child_pid, sig);
}
/* The one place run changes a disposition: a handler (SIG_DFL, SIG_IGN or
 * a function) or, with SA_SIGINFO in flags, an action; the old one into
 * *old when given (saved[], given back to CMD in the child). */
static void set_disposition(int sig, void (*handler)(int), void (*action)(int, siginfo_t *, void *), int flags,
                            struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (flags & SA_SIGINFO) sa.sa_sigaction = action;
    else sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigaction(sig, &sa, old);
}

/* CMD was killed by sig: so is run, after its work, so that its caller sees
 * what it would have seen without run (a shell stops a loop on a child
 * killed by SIGINT, and goes on after one that exited 130). No core file of
 * run's own for a signal that dumps one. */
static void die_like(int sig)
{
    fflush(NULL);
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);
    set_disposition(sig, SIG_DFL, NULL, 0, NULL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    raise(sig);
}

static void on_chld(int sig)
{
    (void)sig;
    child_done = 1;
}

/* a process of the tree seen through its live file: the last good reading */
struct trk {
    int pid, ppid;
    int gone;                       /* its file was stale: the reading is final */
    uint64_t gone_ino;              /* that file (a new file under the pid is read again) */
    struct proc_view v;
    uint64_t first_unix_ns, last_unix_ns, rss_peak, rss_anon_peak;
    char exec_path[256];            /* its file went stale while it lived: the
                                     * program it exec'd then ("" unknown) */
};
struct tracker {
    struct trk *t;
    int n, cap;
    uint64_t concurrent_peak, samples;
    int root;
    uint64_t root_start;            /* CMD's start time (/proc/<pid>/stat field 22); 0 unknown */
    uint64_t t0_unix;               /* CLOCK_REALTIME just before CMD was started */
    const char *reports;            /* where the tree's processes write report.PID.json */
    int warned;
};

/* A stale file of a process that still lives (same pid and start time):
 * it exec'd a program that does not publish, the shim is not in it. Which
 * one is read now, while it runs. */
static void note_exec(struct trk *e)
{
    if (e->exec_path[0] || !proc_alive(e->pid, e->v.start_time, 0, 0)) return;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", e->pid);
    ssize_t n = readlink(path, e->exec_path, sizeof e->exec_path - 1);
    e->exec_path[n > 0 ? n : 0] = 0;
}

/* Why the dynamic loader does not preload the shim into the program file
 * path, as far as the file says: set-user-ID or set-group-ID to another
 * user or group than ours (secure-execution mode ignores LD_PRELOAD's
 * paths), file capabilities (the same, for a user other than root), or an
 * ELF file without an interpreter (static: no loader at all). 0 when the
 * file shows none of these (or cannot be read). */
static int no_shim_why(const char *path, char *why, size_t cap)
{
    struct stat st;
    if (!path[0] || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if ((st.st_mode & S_ISUID) && st.st_uid != getuid())
        return snprintf(why, cap, "set-user-ID to uid %u, the loader ignores LD_PRELOAD for it",
                        (unsigned)st.st_uid), 1;
    if ((st.st_mode & S_ISGID) && st.st_gid != getgid())
        return snprintf(why, cap, "set-group-ID to gid %u, the loader ignores LD_PRELOAD for it",
                        (unsigned)st.st_gid), 1;
    if (getuid() != 0 && getxattr(path, "security.capability", NULL, 0) > 0)
        return snprintf(why, cap, "a program with file capabilities, the loader ignores LD_PRELOAD for it"), 1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    unsigned char h[64];
    int dyn = -1;   /* -1 not an ELF file we read, 0 static, 1 has an interpreter */
    if (pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h && !memcmp(h, ELFMAG, SELFMAG) &&
        (h[EI_CLASS] == ELFCLASS64 || h[EI_CLASS] == ELFCLASS32)) {
        int is64 = h[EI_CLASS] == ELFCLASS64;
        uint64_t phoff;
        unsigned phentsize, phnum;
        if (is64) {
            Elf64_Ehdr eh;
            memcpy(&eh, h, sizeof eh);
            phoff = eh.e_phoff, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
        } else {
            Elf32_Ehdr eh;
            memcpy(&eh, h, sizeof eh);
            phoff = eh.e_phoff, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
        }
        if (phentsize >= (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)) && phnum < 4096) {
            dyn = 0;
            for (unsigned i = 0; i < phnum && dyn == 0; i++) {
                uint32_t type;
                if (pread(fd, &type, sizeof type, (off_t)(phoff + (uint64_t)i * phentsize)) != (ssize_t)sizeof type) {
                    dyn = -1;
                    break;
                }
                if (type == PT_INTERP) dyn = 1;
            }
        }
    }
    close(fd);
    if (dyn == 0) return snprintf(why, cap, "statically linked, no dynamic loader to preload the shim"), 1;
    return 0;
}

/* the program file execvp(cmd) ran: cmd itself with a '/', else the first
 * executable regular file of that name in $PATH ("" not found) */
static void which(const char *cmd, char *out, size_t cap)
{
    out[0] = 0;
    if (strchr(cmd, '/')) {
        snprintf(out, cap, "%s", cmd);
        return;
    }
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/bin:/usr/bin";
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        struct stat st;
        snprintf(out, cap, "%.*s%s%s", (int)len, p, len ? "/" : "", cmd);
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) return;
        if (!end) break;
        p = end;
    }
    out[0] = 0;
}

static struct trk *trk_find(struct tracker *k, int pid)
{
    for (int i = 0; i < k->n; i++)
        if (k->t[i].pid == pid) return &k->t[i];
    return NULL;
}

static int in_tree(struct tracker *k, int pid)
{
    for (int p = pid, steps = 0; p > 1 && steps < 4096; steps++) {
        if (p == k->root || trk_find(k, p)) return 1;
        p = proc_ppid(p);
    }
    return 0;
}

/* A process known by its header only (gone, or no longer below CMD in
 * /proc) may be of this run only if it started after CMD did: its start
 * time (ticks since boot) not before CMD's and its file made after the run
 * began. An older file -- a stale one left by an earlier process with a
 * reused pid, or a forged header -- is not taken, whatever ppid it names. */
static int started_in_run(const struct tracker *k, const struct proc_view *v)
{
    return v->start_time && v->start_time >= k->root_start && v->created_unix_ns >= k->t0_unix;
}

#define TRACK_MAX 4096          /* files read per tick, at most */
#define ADOPT_PASSES 16         /* rounds of adoption by ppid per tick (a chain a round) */

/* Is pid a process of the tree: CMD, one tracked, one chosen this tick, or
 * one that wrote its report (it ended between two readings: its file is
 * gone, and only the tree has our report directory in its environment)? */
static int tree_member(struct tracker *k, const int *pids, int np, int pid)
{
    if (pid <= 0) return 0;
    if (pid == k->root || trk_find(k, pid)) return 1;
    for (int i = 0; i < np; i++)
        if (pids[i] == pid) return 1;
    if (!k->reports) return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/report.%d.json", k->reports, pid);
    return access(path, F_OK) == 0;
}

struct cand {
    int pid, ppid;
    uint64_t start_time, ino;
};
static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->start_time != y->start_time) return x->start_time < y->start_time ? -1 : 1;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* One reading of the tree. A process is of the tree when its /proc parent
 * chain leads to CMD (while it lives), or when its live header names a
 * parent of the tree and it started after CMD (started_in_run): so one that
 * started and died between two readings (a child killed by SIGKILL, `sort`
 * killed by SIGPIPE) is found by its stale file, whose counters are its
 * last ones. A tracked process whose file turns stale gets those final
 * counters once. Stale readings are not in the sum of live bytes at once. */
static void track(struct tracker *k, const char *live)
{
    /* only the files of the run's tree are read whole: in a live directory
     * shared with other work, someone else's busy process (whose
     * publication a reader waits for) must not space out this run's
     * samples; of the others only the header is read (never waits) */
    static int pids[TRACK_MAX];
    static uint64_t pinos[TRACK_MAX];
    static unsigned char byppid[TRACK_MAX];
    static struct cand cand[TRACK_MAX];
    int np = 0, nc = 0;
    struct live_dirh d;
    char err[4600];
    int drc = live_dir_open(live, 0, &d, err, sizeof err);
    if (drc < 0 && !k->warned) {
        warnx_("%s", err);
        k->warned = 1;
    }
    int dfd = drc == 0 ? dup(d.fd) : -1;
    DIR *dd = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!dd && dfd >= 0) close(dfd);
    for (struct dirent *de; dd && np < TRACK_MAX && (de = readdir(dd));) {
        int pid = live_pid_name(de->d_name);
        if (pid <= 0) continue;
        struct trk *e = trk_find(k, pid);
        if (e && e->gone && e->gone_ino == (uint64_t)de->d_ino) continue;   /* read to the end */
        if (e || in_tree(k, pid)) {
            pinos[np] = (uint64_t)de->d_ino;
            byppid[np] = 0;
            pids[np++] = pid;
            continue;
        }
        struct proc_view v;
        if (nc < TRACK_MAX && live_peek_at(&d, de->d_name, pid, &v, err, sizeof err) == LIVE_OK &&
            v.ppid > 0 && v.ppid != pid && started_in_run(k, &v))
            cand[nc++] = (struct cand){ pid, v.ppid, v.start_time, (uint64_t)de->d_ino };
    }
    if (dd) closedir(dd);
    /* adoption by the header's ppid: a parent starts no later than its
     * child, so in order of start time one round takes a whole chain; a
     * bounded number of rounds (a forged ppid can name anything; a cycle
     * never reaches the tree), the rest at the next tick */
    if (nc > 1) qsort(cand, (size_t)nc, sizeof *cand, cmp_cand);
    for (int round = 0, more = 1; more && round < ADOPT_PASSES && np < TRACK_MAX; round++) {
        more = 0;
        for (int c = 0; c < nc && np < TRACK_MAX; c++) {
            if (!cand[c].pid || !tree_member(k, pids, np, cand[c].ppid)) continue;
            pinos[np] = cand[c].ino;
            byppid[np] = 1;
            pids[np++] = cand[c].pid;
            cand[c].pid = 0;
            more = 1;
        }
    }
    struct scan s;
    memset(&s, 0, sizeof s);
    if (np) live_scan_at(&d, pids, np, LIVE_KEEP_STALE, &s, 1);
    if (drc == 0) live_dir_close(&d);
    uint64_t sum = 0, now = unix_ns();
    for (int i = 0; i < s.n; i++) {
        const struct proc_view *v = &s.v[i];
        int at = 0;
        while (at < np && pids[at] != v->pid) at++;
        struct trk *e = trk_find(k, v->pid);
        if (v->stale && e) {
            /* gone since its last reading: the same process (start time)
             * leaves its final counters; another one under its pid is not
             * known to be of the tree */
            e->gone = 1;
            e->gone_ino = at < np ? pinos[at] : 0;
            if (v->start_time != e->v.start_time) continue;
            note_exec(e);
            uint64_t rss = e->v.rss_bytes, anon = e->v.rss_anon_bytes;
            e->v = *v;
            e->v.rss_bytes = rss;           /* the process is gone: its last RSS */
            e->v.rss_anon_bytes = anon;
            e->last_unix_ns = now;
            continue;
        }
        /* a new one known by its header (gone, or adopted by ppid): checked
         * again on what was read, the file may have changed since the peek */
        if (!e && (v->stale || (at < np && byppid[at])) && !started_in_run(k, v)) continue;
        if (!e) {
            if (k->n == k->cap) {
                int nc2 = k->cap ? k->cap * 2 : 16;
                struct trk *nt = realloc(k->t, (size_t)nc2 * sizeof *nt);
                if (!nt) continue;
                k->t = nt;
                k->cap = nc2;
            }
            e = &k->t[k->n++];
            memset(e, 0, sizeof *e);
            e->pid = v->pid;
            /* /proc says who the parent is while the process lives; a gone
             * one's pid may be another process's now: the header's then */
            int pp = v->stale ? 0 : proc_ppid(e->pid);
            e->ppid = pp > 0 ? pp : v->ppid;
            e->first_unix_ns = v->created_unix_ns ? v->created_unix_ns : now;
            if (v->stale) {
                e->gone = 1;
                e->gone_ino = at < np ? pinos[at] : 0;
            }
        }
        if (v->stale) note_exec(e);
        e->v = *v;
        e->last_unix_ns = now;
        if (v->rss_bytes > e->rss_peak) e->rss_peak = v->rss_bytes;
        if (v->rss_anon_bytes > e->rss_anon_peak) e->rss_anon_peak = v->rss_anon_bytes;
        if (!v->stale) sum += v->snap.dom[3].live_bytes;
    }
    scan_free(&s);
    if (sum > k->concurrent_peak) k->concurrent_peak = sum;
    k->samples++;
}

static void progress(const struct tracker *k, double secs)
{
    uint64_t live = 0, peak[3] = { 0, 0, 0 };
    for (int i = 0; i < k->n; i++) {
        live += k->t[i].v.snap.dom[3].live_bytes;
        for (int d = 0; d < 3; d++) peak[d] += k->t[i].v.snap.dom[d].peak_bytes;
    }
    char a[16], b[16], c[16], e[16];
    fprintf(stderr, "\r\033[Kheapshim: %.1fs  live %s  peak raw %s mem %s obj %s  %d process%s",
            secs, human_bytes(live, a), human_bytes(peak[0], b), human_bytes(peak[1], c),
            human_bytes(peak[2], e), k->n, k->n == 1 ? "" : "es");
    fflush(stderr);
}

static json_t *jdom(const struct hs_live_domain *d)
{
    uint64_t peak = d->peak_bytes > d->live_bytes ? d->peak_bytes : d->live_bytes;
    uint64_t frees = d->frees < d->allocs ? d->frees : d->allocs;
    return json_pack("{sIsIsIsIsIsIsI}", "live_bytes", (json_int_t)d->live_bytes,
                     "live_blocks", (json_int_t)d->live_blocks, "peak_bytes", (json_int_t)peak,
                     "allocs", (json_int_t)d->allocs, "reallocs", (json_int_t)d->reallocs,
                     "frees", (json_int_t)frees, "failed", (json_int_t)d->failed);
}

/* the mapped block of a live reading, as the report writes it */
static json_t *jmapped(const struct hs_live_mapped *m)
{
    json_t *md = json_object();
    for (int d = 0; d < HS_LIVE_NDOM; d++)
        json_object_set_new(md, dom_names[d], json_pack("{sIsI}", "live_bytes", (json_int_t)m->live_bytes[d],
                                                        "peak_bytes", (json_int_t)m->peak_bytes[d]));
    return json_pack("{sIsIsIsIsIsIsIsIso}", "live_bytes", (json_int_t)m->live_bytes[HS_LIVE_TOTAL],
                     "peak_bytes", (json_int_t)m->peak_bytes[HS_LIVE_TOTAL], "maps", (json_int_t)m->maps,
                     "unmaps", (json_int_t)m->unmaps, "remaps", (json_int_t)m->remaps,
                     "protects", (json_int_t)m->protects, "discards", (json_int_t)m->discards,
                     "discard_bytes", (json_int_t)m->discard_bytes, "domains", md);
}

/* a heapshim-report/2 made from the last live reading of a process that
 * wrote no report (killed by a signal, or ended without exit handlers) */
static json_t *snapshot_report(const struct trk *e)
{
    json_t *cls = json_array();
    for (int i = 0; i < HS_LIVE_NCLASSES; i++)
        json_array_append_new(cls, json_pack("{sIsIsI}", "size", (json_int_t)(16 * (i + 1)),
                                             "blocks_in_use", (json_int_t)e->v.snap.class_blocks[i],
                                             "pools", (json_int_t)e->v.snap.class_pools[i]));
    char cmd[sizeof e->v.cmdline + 1];
    memcpy(cmd, e->v.cmdline, sizeof e->v.cmdline);
    cmd[sizeof e->v.cmdline] = 0;
    for (char *c = cmd; *c; c++)
        if ((unsigned char)*c < 0x20) *c = ' ';
    if (!cmd[0]) snprintf(cmd, sizeof cmd, "%.16s", e->v.comm);
    const struct hs_live_snapshot *s = &e->v.snap;
    uint64_t apk = s->arenas_peak > s->arenas_mapped ? s->arenas_peak : s->arenas_mapped;
    json_t *r = json_pack("{sssIsIsssssssIsIs{sososo}sos{sIsIsIsIsIsIsIso}sI}",
                     "schema", HS_REPORT_SCHEMA, "pid", (json_int_t)e->pid,
                     "ppid", (json_int_t)(e->ppid > 0 ? e->ppid : 0), "command", cmd,
                     "allocator", e->v.allocator[0] ? e->v.allocator : "?",
                     "exit_kind", "snapshot",
                     "started_unix_ns", (json_int_t)e->first_unix_ns,
                     "ended_unix_ns", (json_int_t)e->last_unix_ns,
                     "domains", "raw", jdom(&s->dom[0]), "mem", jdom(&s->dom[1]), "obj", jdom(&s->dom[2]),
                     "total", jdom(&s->dom[3]),
                     "arenas", "arena_size", (json_int_t)(s->arenas_mapped ? s->bytes_mapped / s->arenas_mapped : 0), "pool_size", (json_int_t)0,
                     "arenas_mapped", (json_int_t)s->arenas_mapped, "arenas_peak", (json_int_t)apk,
                     "bytes_mapped", (json_int_t)s->bytes_mapped, "pools_used", (json_int_t)s->pools_used,
                     "pools_free", (json_int_t)s->pools_free, "size_classes", cls,
                     "rss_peak_bytes", (json_int_t)e->rss_peak);
    if (r) {
        json_object_set_new(r, "mapped", jmapped(&s->mapped));
        /* the anonymous RSS of the last reading: the process is gone. A
         * process run never read alive (its file was stale at the first
         * reading) has no RSS anyone measured: null, not 0 */
        int anon = e->rss_anon_peak > 0;
        if (!e->rss_peak) json_object_set_new(r, "rss_peak_bytes", json_null());
        json_object_set_new(r, "rss_anon_bytes", anon ? json_integer((json_int_t)e->v.rss_anon_bytes) : json_null());
        json_object_set_new(r, "rss_anon_peak_bytes", anon ? json_integer((json_int_t)e->rss_anon_peak) : json_null());
    }
    return r;
}

static int route_ok(const char *spec, const char **why)
{
    const char *p = spec;
    int n = 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!len) return *why = "an empty rule", 0;
        if (!eq || eq == p) return *why = "a rule is not GLOB=DOMAIN", 0;
        size_t dl = len - (size_t)(eq - p) - 1;
        if (dl != 3 || (memcmp(eq + 1, "raw", 3) && memcmp(eq + 1, "mem", 3) && memcmp(eq + 1, "obj", 3)))
            return *why = "a domain is not raw, mem or obj", 0;
        if (eq - p >= 64) return *why = "a pattern is longer than 63 characters", 0;
        if (++n > 16) return *why = "more than 16 rules", 0;
        if (!end) return 1;
        p = end + 1;
    }
}

/* one CSV row of the main process's counters; zeros until its live file
 * exists. Negative when it could not be written (errno says why). */
static int sample(FILE *csv, const char *dir, int pid, uint64_t t0)
{
    char path[4200], err[4600];
    struct proc_view v;
    snprintf(path, sizeof path, "%s/%d", dir, pid);
    int rc = live_read(path, pid, 0, &v, err, sizeof err);
    uint64_t rss = proc_rss_bytes(pid);
    if (rc != LIVE_OK) memset(&v.snap, 0, sizeof v.snap);
    return fprintf(csv, "%.4f,%llu,%llu,%llu,%llu,%llu,%llu\n", (double)(now_ns() - t0) / 1e9,
            (unsigned long long)v.snap.dom[0].live_bytes, (unsigned long long)v.snap.dom[1].live_bytes,
            (unsigned long long)v.snap.dom[2].live_bytes, (unsigned long long)v.snap.dom[3].live_bytes,
            (unsigned long long)v.snap.arenas_mapped, (unsigned long long)rss);
}

static int copy_file(const char *from, const char *to)
{
    char *buf, err[512];
    size_t len;
    if (read_file(from, 64u << 20, &buf, &len, err, sizeof err)) return -1;
    struct outfile o;
    int rc = out_create(&o, to, err, sizeof err);
    if (rc == 0 && out_write(&o, buf, len) != 0) {
        out_abort(&o);
        rc = -1;
    } else if (rc == 0) {
        rc = out_commit(&o, err, sizeof err);
    }
    free(buf);
    return rc;
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[4400];
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

static int cmp_trk_peak(const void *a, const void *b)
{
    const struct tproc *x = a, *y = b;
    uint64_t px = x->r.dom[D_TOTAL].peak_bytes, py = y->r.dom[D_TOTAL].peak_bytes;
    return (px < py) - (px > py);
}

/* --profile: after the main process's table, its 10 stacks, as `heapshim
 * report --profile` shows them (profile_print_top: live bytes at exit, or
 * bytes allocated since start, the header line says which). No profile
 * (sampling off): nothing. */
static void print_main_top(const char *dir, int pid)
{
    char path[4400], err[4400];
    snprintf(path, sizeof path, "%s/%d.prof", dir, pid);
    if (access(path, F_OK) != 0) return;
    struct profile p;
    if (profile_load(path, NULL, &p, err, sizeof err)) {
        warnx_("--profile: %s", err);
        return;
    }
    profile_print_top(&p, path, stderr);
    profile_free(&p);
}

int cmd_run(int argc, char **argv)
{
    const char *out = NULL, *alloc = NULL, *route = NULL, *timeline = NULL, *keep = NULL, *prof = NULL;
    char prof_abs[4096];
    uint64_t interval = 100;
    int quiet = 0, want_progress = 0, i, id;
    enum { O_OUT = 1, O_KEEP, O_ALLOC, O_ROUTE, O_TIMELINE, O_INTERVAL, O_QUIET, O_PROFILE, O_PROGRESS };
    static const struct opt opts[] = {
        { "-o", "--output", "FILE", O_OUT, OPT_NAME | OPT_STDIO },
        { "--reports-dir", NULL, "DIR", O_KEEP, OPT_NAME },
        { "--allocator", NULL, "NAME", O_ALLOC, OPT_NAME },
        { "--route", NULL, "RULES", O_ROUTE, OPT_NAME },
        { "--timeline", NULL, "FILE.csv", O_TIMELINE, OPT_NAME | OPT_STDIO },
        { "--interval", NULL, "MS", O_INTERVAL, 0 },
        { "-q", "--quiet", NULL, O_QUIET, 0 },
        { "--profile", NULL, "DIR", O_PROFILE, OPT_NAME },
        { "--progress", NULL, NULL, O_PROGRESS, 0 },
        { NULL, NULL, NULL, 0, 0 },
    };
    /* `heapshim run prog args` works too: the first operand ends the options */
    struct optstate st = { argc, argv, opts, 1, 0, 0 };
    const char *v;
    while ((id = opt_next(&st, &v)) != OPT_END) {
        if (id == OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        }
        if (id == O_QUIET) quiet = 1;
        else if (id == O_PROGRESS) want_progress = 1;
        else if (id == O_OUT) out = v;
        else if (id == O_KEEP) keep = v;
        else if (id == O_PROFILE) prof = v;
        else if (id == O_ROUTE) {
            const char *why;
            if (!route_ok(v, &why))
                die_bad("--route: bad rules '%s': %s (accepted: GLOB=DOMAIN[,GLOB=DOMAIN]..., DOMAIN raw|mem|obj)", v, why);
            route = v;
        } else if (id == O_TIMELINE) timeline = v;
        else if (id == O_INTERVAL) {
            if (parse_u64(v, 1, 60000, &interval))
                die_bad("--interval: bad number '%s' (accepted: milliseconds, 1..60000)", v);
        } else if (id == O_ALLOC) {
            int ok = 0;
            for (size_t k = 0; k < sizeof allocators / sizeof allocators[0]; k++)
                ok |= !strcmp(v, allocators[k]);
            if (!ok) die_bad("--allocator: unknown allocator '%s' (accepted: pymalloc, malloc, debug, pymalloc_debug, malloc_debug)", v);
            alloc = v;
        }
    }
    i = st.i;
    if (out && timeline && !strcmp(out, "-") && !strcmp(timeline, "-"))
        die_bad("-o - and --timeline -: only one of them can be standard output");
    if (out && timeline && same_file(out, timeline))   /* one rename would replace the other */
        die_bad("-o %s and --timeline %s: the same file (accepted: two different files)", out, timeline);
    if (i >= argc) die_bad("no command given (usage: heapshim run [options] -- CMD [ARGS...])");
    char **cmd = argv + i;

    char lib[4096];
    if (find_lib(lib, sizeof lib))
        die_bad("cannot find libheapshim.so (looked next to this binary and in ../lib; set HEAPSHIM_LIB=/path/to/libheapshim.so)");
    char derr[512];
    if (keep && output_dir(keep, 0755, derr, sizeof derr))
        die_bad("--reports-dir %s: %s (accepted: a directory you can write, created if missing)", keep, derr);
    if (prof && output_dir(prof, 0700, derr, sizeof derr))
        die_bad("--profile %s: %s (accepted: a directory you can write, created if missing)", prof, derr);
    if (prof && !realpath(prof, prof_abs)) die_bad("--profile %s: cannot resolve it: %s", prof, strerror(errno));
    /* -o: the file is created now (a temporary renamed at the end, or
     * /dev/null and the like opened: out_create), so a path that cannot be
     * written fails before the workload runs */
    static struct outfile ro;
    int have_ro = 0;
    int out_std = out && !strcmp(out, "-");   /* -o -: the report on stdout at the end */
    if (out && !out_std) {
        if (out_create(&ro, out, derr, sizeof derr)) die_bad("-o %s: %s", out, derr);
        have_ro = 1;
    }
    /* --timeline: an output file like -o (out_create: no symbolic link
     * followed, a FIFO nobody reads an error, not a hang), written through a
     * stream on its descriptor and renamed into place when CMD has ended */
    static struct outfile to;
    int have_to = 0;
    FILE *csv = NULL;
    if (timeline && !strcmp(timeline, "-")) {
        /* CMD writes to the same stdout: a row is one write, never cut by
         * CMD's lines (a block-buffered row was split across them) */
        csv = stdout;
        setvbuf(stdout, NULL, _IOLBF, 0);
    }
    else if (timeline) {
        int fd = -1;
        if (out_create(&to, timeline, derr, sizeof derr) == 0) {
            have_to = 1;
            fd = fcntl(to.fd, F_DUPFD_CLOEXEC, 0);
            if (fd < 0 || !(csv = fdopen(fd, "w"))) snprintf(derr, sizeof derr, "%s", strerror(errno));
        }
        if (!csv) {
            if (fd >= 0) close(fd);
            if (have_to) out_abort(&to);
            if (have_ro) out_abort(&ro);
            die_bad("--timeline %s: %s", timeline, derr);
        }
    }
    /* run inside a run: this process is of the outer run's tree, which
     * gave it HEAPSHIM_REPORT (one report per pid) and
     * HEAPSHIM_REPORT_OPTIONAL=1. The reports of CMD's tree are given to
     * the outer run too when CMD has ended (the outer's directory may be
     * gone if this run outlived it: nothing to say then), so the outer run
     * lists every process of the inner tree */
    const char *oo = getenv("HEAPSHIM_REPORT_OPTIONAL");
    const char *outer_tmpl = oo && !strcmp(oo, "1") ? getenv("HEAPSHIM_REPORT") : NULL;
    const char *tmpbase = getenv("TMPDIR");
    char tmpdir[4096];
    snprintf(tmpdir, sizeof tmpdir, "%s/heapshim-run.XXXXXX", tmpbase && *tmpbase ? tmpbase : "/tmp");
    if (!mkdtemp(tmpdir)) die_bad("%s: cannot create a temporary directory: %s", tmpdir, strerror(errno));
    char live[4096];
    live_dir(NULL, live, sizeof live);

    /* the child gets LD_PRELOAD (ours first, the caller's after) and the knobs */
    char preload[8400], report_tmpl[4200];
    const char *old = getenv("LD_PRELOAD");
    snprintf(preload, sizeof preload, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
    snprintf(report_tmpl, sizeof report_tmpl, "%s/report.%%p.json", tmpdir);

    /* every signal whose default would end run and leave CMD running is
     * passed on; SIGCHLD (no SA_RESTART: the sleep ends at once); SIGPIPE
     * ignored: a closed stderr or stdout ends run's writes with EPIPE, not
     * run. CMD gets every one of them back as it was (saved[]). */
    static const int fwd[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH };
    static const int changed[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH,
                                   SIGCHLD, SIGPIPE };
    for (size_t k = 0; k < sizeof fwd / sizeof fwd[0]; k++)
        set_disposition(fwd[k], NULL, forward, SA_SIGINFO | SA_RESTART, &saved[fwd[k]]);
    set_disposition(SIGCHLD, on_chld, NULL, 0, &saved[SIGCHLD]);
    set_disposition(SIGPIPE, SIG_IGN, NULL, 0, &saved[SIGPIPE]);
    /* (after SIGPIPE is ignored: --timeline - into a pipe already closed is
     * a write error, not the end of run) */
    int csv_errno = 0;   /* the first write error of the timeline */
    if (csv && fputs("time_s,raw_bytes,mem_bytes,obj_bytes,total_bytes,arenas_mapped,rss_bytes\n", csv) < 0)
        csv_errno = errno;

    fflush(NULL);
    uint64_t t0 = now_ns(), t0_unix = unix_ns();
    pid_t pid = fork();
    if (pid < 0) die_bad("fork: %s", strerror(errno));
    if (pid == 0) {
        for (size_t k = 0; k < sizeof changed / sizeof changed[0]; k++) sigaction(changed[k], &saved[changed[k]], NULL);
        setenv("LD_PRELOAD", preload, 1);
        setenv("HEAPSHIM_REPORT", report_tmpl, 1);
        setenv("HEAPSHIM_REPORT_OPTIONAL", "1", 1);   /* gone with run: nothing to say */
        setenv("HEAPSHIM_PUBLISH", "1", 1);   /* run reads the live files while it runs */
        if (alloc) setenv("HEAPSHIM_ALLOCATOR", alloc, 1);
        if (route) setenv("HEAPSHIM_ROUTE", route, 1);
        if (prof) setenv("HEAPSHIM_PROFILE_OUT", prof_abs, 1);
        execvp(cmd[0], cmd);
        int e = errno;
        fprintf(stderr, "heapshim run: %s: cannot run: %s\n", cmd[0], strerror(e));
        _exit(e == ENOENT || e == ENOTDIR ? 127 : 126);   /* as a shell: not found, or not runnable */
    }
    child_pid = pid;

    /* while it runs: every process of the tree through its live file (the
     * last good reading is what is left of a process killed by a signal) */
    static struct tracker k;
    memset(&k, 0, sizeof k);
    k.root = (int)pid;
    k.root_start = proc_start_time((int)pid);   /* our child: there until we reap it */
    k.t0_unix = t0_unix;
    k.reports = tmpdir;
    int tty = want_progress && !quiet && isatty(2), shown = 0, status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) die_bad("waitpid: %s", strerror(errno));
        track(&k, live);
        if (csv && sample(csv, live, pid, t0) < 0 && !csv_errno) csv_errno = errno;
        double secs = (double)(now_ns() - t0) / 1e9;
        if (tty && secs >= 1.0) {
            progress(&k, secs);
            shown = 1;
        }
        struct timespec ts = { (time_t)(interval / 1000), (long)(interval % 1000) * 1000000L };
        if (!child_done) nanosleep(&ts, NULL);
    }
    /* and once more now that CMD is gone: what died since the last reading
     * (a process killed by a signal leaves its file) */
    track(&k, live);
    if (shown) fputs("\r\033[K", stderr);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    /* an output (-o, --timeline, --reports-dir) that could not be written:
     * said on stderr, and run does not end with 0 (exit 2, as for an output
     * refused before CMD ran) when CMD itself succeeded */
    int out_failed = 0;
    if (csv == stdout && (fflush(csv) != 0 || ferror(csv))) {
        warnx_("--timeline -: cannot write the timeline to standard output: %s",
               strerror(csv_errno ? csv_errno : errno));
        out_failed = 1;
    }
    int csv_err = have_to && ferror(csv);
    if (have_to && (fclose(csv) != 0 || csv_err)) {
        warnx_("--timeline %s: write error: %s", timeline, strerror(csv_errno ? csv_errno : errno));
        out_abort(&to);
        out_failed = 1;
    } else if (have_to && out_commit(&to, derr, sizeof derr) != 0) {
        warnx_("--timeline %s: %s", timeline, derr);
        out_failed = 1;
    }
    if (prof) {
        int *pids = calloc((size_t)k.n + 1, sizeof *pids);
        for (int t = 0; pids && t < k.n; t++) pids[t] = k.t[t].pid;
        int np = profile_run_collect(prof_abs, live, pids, pids ? k.n : 0);
        if (!quiet) fprintf(stderr, "heapshim run: %d heap profile%s in %s\n", np, np == 1 ? "" : "s", prof_abs);
        free(pids);
    }

    /* processes that left no report: their last live reading stands in */
    char err[1024], path[4400];
    static struct report r;
    int nsnap = 0;
    for (int t = 0; t < k.n; t++) {
        snprintf(path, sizeof path, "%s/report.%d.json", tmpdir, k.t[t].pid);
        if (access(path, F_OK) == 0) continue;
        json_t *j = snapshot_report(&k.t[t]);
        if (!j || json_dump_file(j, path, JSON_INDENT(2)) != 0)
            warnx_("pid %d: cannot keep its last live reading", k.t[t].pid);
        else nsnap++;
        json_decref(j);
    }

    /* collect every process's report into the tree */
    char main_report[4400];
    snprintf(main_report, sizeof main_report, "%s/report.%d.json", tmpdir, (int)pid);
    struct tree tr = { 0 };
    json_t **jrep = NULL;
    int cap = 0, nreports = 0;
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, "report.", 7) || strstr(de->d_name, ".tmp.")) continue;
        nreports++;
        snprintf(path, sizeof path, "%s/%s", tmpdir, de->d_name);
        int rpid = atoi(de->d_name + 7);
        char odst[8800];
        if (outer_tmpl && *outer_tmpl && rpid > 0 && hs_report_path(outer_tmpl, rpid, odst, sizeof odst) == 1 &&
            access(odst, F_OK) != 0)
            (void)copy_file(path, odst);
        if (keep) {
            char dst[8800];
            snprintf(dst, sizeof dst, "%s/%s", keep, de->d_name);
            if (copy_file(path, dst)) {
                warnx_("--reports-dir: cannot write %s", dst);
                out_failed = 1;
            }
        }
        if (report_load(path, &r, err, sizeof err)) {
            warnx_("%s (left out)", err);
            continue;
        }
        if (tr.n == cap) {
            cap = cap ? cap * 2 : 16;
            struct tproc *np = realloc(tr.p, (size_t)cap * sizeof *np);
            json_t **nj = realloc(jrep, (size_t)cap * sizeof *nj);
            if (!np || !nj) die_bad("out of memory");
            tr.p = np;
            jrep = nj;
        }
        struct tproc *tp = &tr.p[tr.n];
        memset(tp, 0, sizeof *tp);
        tp->r = r;
        int is_main = r.pid == (int64_t)pid;
        if (strcmp(r.exit_kind, "snapshot")) snprintf(tp->ended, sizeof tp->ended, "exit");
        else if (is_main && WIFSIGNALED(status)) {
            snprintf(tp->ended, sizeof tp->ended, "signal");
            tp->signal = WTERMSIG(status);
        } else snprintf(tp->ended, sizeof tp->ended, "lost");
        jrep[tr.n] = json_load_file(path, 0, NULL);
        /* the pid rides in the report: tree_finish reorders */
        tr.n++;
    }
    if (d) closedir(d);
    json_t **byidx = jrep;
    int64_t *pids = malloc((size_t)(tr.n ? tr.n : 1) * sizeof *pids);
    for (int t = 0; t < tr.n; t++) pids[t] = tr.p[t].r.pid;
    tree_finish(&tr);

    /* the run report: the main process's report + "ended" + "tree" */
    json_t *root = NULL, *procs = json_array(), *exes = json_object();
    for (int t = 0; t < tr.n; t++) {
        json_t *rep = NULL;
        for (int q = 0; q < tr.n; q++)
            if (pids[q] == tr.p[t].r.pid) rep = byidx[q];
        if (!rep) continue;
        json_t *e = json_pack("{sssssIsIss}", "id", tr.p[t].id, "exe", tr.p[t].exe,
                              "pid", (json_int_t)tr.p[t].r.pid, "ppid", (json_int_t)tr.p[t].r.ppid,
                              "ended", tr.p[t].ended);
        if (tr.p[t].signal) json_object_set_new(e, "signal", json_integer(tr.p[t].signal));
        json_object_set(e, "report", rep);
        json_array_append_new(procs, e);
        if (tr.p[t].r.pid == (int64_t)pid) {
            root = json_deep_copy(rep);
            json_object_set_new(root, "ended", json_string(tr.p[t].ended));
            if (tr.p[t].signal) json_object_set_new(root, "signal", json_integer(tr.p[t].signal));
        }
        uint64_t pk = tr.p[t].r.dom[D_TOTAL].peak_bytes;
        json_t *x = json_object_get(exes, tr.p[t].exe);
        if (!x) {
            x = json_pack("{sIsIsI}", "processes", (json_int_t)0, "peak_bytes", (json_int_t)0,
                          "peak_sum_bytes", (json_int_t)0);
            json_object_set_new(exes, tr.p[t].exe, x);
        }
        json_object_set_new(x, "processes", json_integer(json_integer_value(json_object_get(x, "processes")) + 1));
        if ((json_int_t)pk > json_integer_value(json_object_get(x, "peak_bytes")))
            json_object_set_new(x, "peak_bytes", json_integer((json_int_t)pk));
        json_object_set_new(x, "peak_sum_bytes",
                            json_integer(json_integer_value(json_object_get(x, "peak_sum_bytes")) + (json_int_t)pk));
    }
    /* the sum of live bytes at one time was at least the largest single peak */
    for (int t = 0; t < tr.n; t++)
        if (tr.p[t].r.dom[D_TOTAL].peak_bytes > k.concurrent_peak)
            k.concurrent_peak = tr.p[t].r.dom[D_TOTAL].peak_bytes;
    json_t *totals = json_pack("{sIsIsIsIso}", "processes", (json_int_t)tr.n,
                               "peak_sum_bytes", (json_int_t)tree_peak_sum(&tr),
                               "concurrent_peak_bytes", (json_int_t)k.concurrent_peak,
                               "samples", (json_int_t)k.samples, "executables", exes);
    if (root) {
        json_object_set_new(root, "tree", json_pack("{soso}", "processes", procs, "totals", totals));
        if (have_ro) {
            char *txt = json_dumps(root, JSON_INDENT(2));
            have_ro = 0;
            if (!txt || out_write(&ro, txt, strlen(txt)) != 0 || out_write(&ro, "\n", 1) != 0) {
                warnx_("-o %s: cannot write the report: %s", out, strerror(errno));
                out_abort(&ro);
                out_failed = 1;
            } else if (out_commit(&ro, derr, sizeof derr) != 0) {
                warnx_("-o %s: %s", out, derr);
                out_failed = 1;
            }
            free(txt);
        } else if (out_std) {
            fflush(stdout);
            if (json_dumpf(root, stdout, JSON_INDENT(2)) != 0 || putchar('\n') == EOF ||
                fflush(stdout) != 0) {
                warnx_("-o -: cannot write the report to standard output: %s", strerror(errno));
                out_failed = 1;
            }
        }
        json_decref(root);
    } else {
        json_decref(procs);
        json_decref(totals);
    }
    if (have_ro) out_abort(&ro);

    int have_main = report_load(main_report, &r, err, sizeof err) == 0;
    if (have_main) {
        if (!quiet) table_print(stderr, &r);
        if (!quiet && prof) print_main_top(prof_abs, (int)pid);
        struct trk *me = trk_find(&k, (int)pid);
        char why[160];
        if (!strcmp(r.exit_kind, "snapshot") && WIFSIGNALED(status))
            warnx_("pid %d was killed by signal %d: figures from its last live reading", (int)pid,
                   WTERMSIG(status));
        else if (!strcmp(r.exit_kind, "snapshot") && me && me->exec_path[0])
            /* run saw it running another program, one that does not publish */
            warnx_("pid %d exec'd %s, %s, and wrote no report (it exited with status %d): figures from"
                   " its last live reading, before that exec", (int)pid, printable(me->exec_path),
                   no_shim_why(me->exec_path, why, sizeof why) ? why : "a program the shim was not in", rc);
        else if (!strcmp(r.exit_kind, "snapshot"))
            warnx_("pid %d exited with status %d and wrote no report: after run's last reading it"
                   " exec'd a program the shim is not in (set-user-ID, static, LD_PRELOAD removed) or"
                   " made the exit system call itself, which of these is not known: figures from its"
                   " last live reading", (int)pid, rc);
    } else {
        char prog[4096], why[160];
        which(cmd[0], prog, sizeof prog);
        if (WIFSIGNALED(status))
            warnx_("no report from pid %d: it was killed by signal %d before its first live reading",
                   (int)pid, WTERMSIG(status));
        else if (rc == 127 || rc == 126)
            warnx_("no report from pid %d: it could not be started", (int)pid);
        else if (no_shim_why(prog, why, sizeof why))
            /* what run exec'd itself: the file says why nothing was counted */
            warnx_("no report from pid %d: %s is %s; nothing was counted (it exited with status %d)",
                   (int)pid, printable(prog), why, rc);
        else
            warnx_("no report from pid %d: it exited with status %d before run's first reading and wrote"
                   " no report: it exec'd a program the shim is not in (set-user-ID, static, LD_PRELOAD"
                   " removed) or made the exit system call itself, which of these is not known",
                   (int)pid, rc);
        if (out) warnx_("-o %s: not written (no report)", out);
    }
    if (!quiet) {
        struct tproc *kids = calloc((size_t)(tr.n ? tr.n : 1), sizeof *kids);
        int nkids = 0;
        for (int t = 0; kids && t < tr.n; t++)
            if (tr.p[t].r.pid != (int64_t)pid) kids[nkids++] = tr.p[t];
        if (nkids > 1) qsort(kids, (size_t)nkids, sizeof *kids, cmp_trk_peak);
        char a[16];
        for (int q = 0; q < nkids && q < 5; q++) {
            char c[64], note[512] = "";
            snprintf(c, sizeof c, "%.63s", kids[q].r.command);
            struct trk *kt = trk_find(&k, (int)kids[q].r.pid);
            if (strcmp(kids[q].ended, "exit") && kt && kt->exec_path[0]) {
                char why[160];
                snprintf(note, sizeof note, "  (no report: it exec'd %s, %s; last live reading before that)",
                         printable(kt->exec_path),
                         no_shim_why(kt->exec_path, why, sizeof why) ? why : "a program the shim was not in");
            } else if (strcmp(kids[q].ended, "exit")) {
                snprintf(note, sizeof note, "  (no report: last live reading)");
            }
            fprintf(stderr, "  child pid %lld: total peak %s  %s%s\n", (long long)kids[q].r.pid,
                    human_bytes(kids[q].r.dom[D_TOTAL].peak_bytes, a), printable(c), note);
        }
        if (nkids > 5) fprintf(stderr, "  ... and %d more children%s\n", nkids - 5,
                               keep ? "" : " (--reports-dir DIR keeps every report)");
        free(kids);
        if (tr.n > 1) {
            char b[16];
            fprintf(stderr, "  tree: %d processes, sum of peaks %s, most live at once %s (sampled)\n",
                    tr.n, human_bytes(tree_peak_sum(&tr), a), human_bytes(k.concurrent_peak, b));
        }
        if (WIFSIGNALED(status))
            fprintf(stderr, "heapshim: %d process%s seen (main pid %d killed by signal %d)\n",
                    nreports, nreports == 1 ? "" : "es", (int)pid, WTERMSIG(status));
        else
            fprintf(stderr, "heapshim: %d process%s seen (main pid %d exited with status %d)\n",
                    nreports, nreports == 1 ? "" : "es", (int)pid, rc);
    }
    (void)nsnap;
    for (int t = 0; t < tr.n; t++) json_decref(byidx[t]);
    free(byidx);
    free(pids);
    tree_free(&tr);
    free(k.t);
    rm_tree(tmpdir);
    if (WIFSIGNALED(status)) die_like(WTERMSIG(status));
    return out_failed && rc == 0 ? 2 : rc;
}
