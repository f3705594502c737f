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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: heapshim run [-o REPORT.json] [--reports-dir DIR] [--allocator NAME]\n"
    "                    [--route RULES] [--timeline FILE.csv] [--interval MS] [-q]\n"
    "                    -- CMD [ARGS...]\n"
    "  Run CMD with libheapshim.so preloaded; when it exits, print the per-domain\n"
    "  table (live, peak, allocs, frees, arenas, peak RSS) on stderr and exit with\n"
    "  CMD's status (128+N if killed by signal N; 127 if CMD cannot be started).\n"
    "  Every process of CMD (children too) writes its own report; the summary\n"
    "  says how many there were.\n"
    "  -o FILE            save the main process's report (heapshim-report/1)\n"
    "  --reports-dir DIR  keep every process's report there, as report.PID.json\n"
    "  --allocator NAME   pymalloc (default), malloc, debug, pymalloc_debug, malloc_debug\n"
    "  --route RULES      HEAPSHIM_ROUTE, e.g. 'libpython3*=obj,*=mem'\n"
    "  --timeline FILE    sample the main process's live counters into a CSV:\n"
    "                     time_s,raw_bytes,mem_bytes,obj_bytes,total_bytes,arenas_mapped,rss_bytes\n"
    "  --interval MS      sampling period for --timeline (default 100, 1..60000)\n"
    "  -q                 no table (the report files are still written)\n"
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

static volatile sig_atomic_t child_pid;
static void forward(int sig)
{
    if (child_pid > 0) kill((pid_t)child_pid, sig);
}

/* one CSV row of the child's counters; zeros until its live file exists */
static void sample(FILE *csv, const char *dir, int pid, uint64_t t0)
{
    char path[4200], err[4600];
    struct proc_view v;
    snprintf(path, sizeof path, "%s/%d", dir, pid);
    int rc = live_read(path, pid, 0, &v, err, sizeof err);
    uint64_t rss = proc_rss_bytes(pid);
    if (rc != LIVE_OK) memset(&v.snap, 0, sizeof v.snap);
    fprintf(csv, "%.4f,%llu,%llu,%llu,%llu,%llu,%llu\n", (double)(now_ns() - t0) / 1e9,
            (unsigned long long)v.snap.dom[0].live_bytes, (unsigned long long)v.snap.dom[1].live_bytes,
            (unsigned long long)v.snap.dom[2].live_bytes, (unsigned long long)v.snap.dom[3].live_bytes,
            (unsigned long long)v.snap.arenas_mapped, (unsigned long long)rss);
}

static int copy_file(const char *from, const char *to)
{
    char *buf, err[512];
    size_t len;
    if (read_file(from, 64u << 20, &buf, &len, err, sizeof err)) return -1;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", to, (int)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fwrite(buf, 1, len, f) == len;
    if (f) ok &= fclose(f) == 0;
    free(buf);
    if (!ok || rename(tmp, to)) {
        unlink(tmp);
        return -1;
    }
    return 0;
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

int cmd_run(int argc, char **argv)
{
    const char *out = NULL, *alloc = NULL, *route = NULL, *timeline = NULL, *keep = NULL;
    uint64_t interval = 100;
    int quiet = 0, i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-') break;              /* `heapshim run prog args` works too */
        if (is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(a, "-q")) {
            quiet = 1;
            continue;
        }
        if (strcmp(a, "-o") && strcmp(a, "--allocator") && strcmp(a, "--route") &&
            strcmp(a, "--timeline") && strcmp(a, "--interval") && strcmp(a, "--reports-dir"))
            die_bad("unknown option '%s' (accepted: -o, --reports-dir, --allocator, --route, "
                    "--timeline, --interval, -q, --help; then -- CMD)", a);
        if (i + 1 >= argc) die_bad("%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "--reports-dir")) keep = v;
        else if (!strcmp(a, "--route")) route = v;
        else if (!strcmp(a, "--timeline")) timeline = v;
        else if (!strcmp(a, "--interval")) {
            if (parse_u64(v, 1, 60000, &interval))
                die_bad("--interval: bad number '%s' (accepted: milliseconds, 1..60000)", v);
        } else {
            int ok = 0;
            for (size_t k = 0; k < sizeof allocators / sizeof allocators[0]; k++)
                ok |= !strcmp(v, allocators[k]);
            if (!ok) die_bad("--allocator: unknown allocator '%s' (accepted: pymalloc, malloc, debug, pymalloc_debug, malloc_debug)", v);
            alloc = v;
        }
    }
    if (i >= argc) die_bad("no command given (usage: heapshim run [options] -- CMD [ARGS...])");
    char **cmd = argv + i;

    char lib[4096];
    if (find_lib(lib, sizeof lib))
        die_bad("cannot find libheapshim.so (looked next to this binary and in ../lib; set HEAPSHIM_LIB=/path/to/libheapshim.so)");
    if (keep && mkdir(keep, 0755) != 0 && errno != EEXIST)
        die_bad("--reports-dir %s: cannot create: %s", keep, strerror(errno));
    FILE *csv = NULL;
    if (timeline) {
        csv = fopen(timeline, "w");
        if (!csv) die_bad("--timeline %s: cannot create: %s", timeline, strerror(errno));
        fputs("time_s,raw_bytes,mem_bytes,obj_bytes,total_bytes,arenas_mapped,rss_bytes\n", csv);
    }
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

    fflush(NULL);
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) die_bad("fork: %s", strerror(errno));
    if (pid == 0) {
        setenv("LD_PRELOAD", preload, 1);
        setenv("HEAPSHIM_REPORT", report_tmpl, 1);
        if (alloc) setenv("HEAPSHIM_ALLOCATOR", alloc, 1);
        if (route) setenv("HEAPSHIM_ROUTE", route, 1);
        if (timeline) setenv("HEAPSHIM_PUBLISH", "1", 1);
        execvp(cmd[0], cmd);
        fprintf(stderr, "heapshim run: %s: cannot run: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    /* like system(): the terminal's ^C/^\ go to the child; we report after it */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGTERM, forward);
    signal(SIGHUP, forward);

    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, csv ? WNOHANG : 0);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) die_bad("waitpid: %s", strerror(errno));
        if (csv && w == 0) {
            sample(csv, live, pid, t0);
            struct timespec ts = { (time_t)(interval / 1000), (long)(interval % 1000) * 1000000L };
            nanosleep(&ts, NULL);
        }
    }
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (csv && fclose(csv) != 0) warnx_("--timeline %s: write error", timeline);

    /* collect every process's report */
    char main_report[4400];
    snprintf(main_report, sizeof main_report, "%s/report.%d.json", tmpdir, (int)pid);
    int nreports = 0, nkids = 0;
    struct kid { int64_t pid; uint64_t peak; char cmd[64]; } top[5];
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    static struct report r;
    char err[1024], path[4400];
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, "report.", 7) || strstr(de->d_name, ".tmp.")) continue;
        nreports++;
        snprintf(path, sizeof path, "%s/%s", tmpdir, de->d_name);
        if (keep) {
            char dst[8800];
            snprintf(dst, sizeof dst, "%s/%s", keep, de->d_name);
            if (copy_file(path, dst)) warnx_("--reports-dir: cannot write %s", dst);
        }
        if (!strcmp(path, main_report) || report_load(path, &r, err, sizeof err)) continue;
        /* keep the five children with the highest peaks, for the summary */
        struct kid k = { r.pid, r.dom[D_TOTAL].peak_bytes, "" };
        snprintf(k.cmd, sizeof k.cmd, "%.63s", r.command);
        for (char *c = k.cmd; *c; c++)
            if ((unsigned char)*c < 0x20) *c = ' ';
        int at = nkids < 5 ? nkids : 5;
        while (at > 0 && top[at - 1].peak < k.peak) {
            if (at < 5) top[at] = top[at - 1];
            at--;
        }
        if (at < 5) top[at] = k;
        nkids++;
    }
    if (d) closedir(d);

    int have_main = report_load(main_report, &r, err, sizeof err) == 0;
    if (have_main) {
        if (!quiet) table_print(stderr, &r);
        if (out && copy_file(main_report, out)) warnx_("-o %s: cannot write the report", out);
    } else {
        const char *why = WIFSIGNALED(status) ? "it was killed by a signal, so its exit code did not run"
                          : rc == 127 ? "it could not be started"
                          : "it exited without running exit handlers (_exit, or exec of a static binary?)";
        warnx_("no report from pid %d: %s", (int)pid, why);
        if (out) warnx_("-o %s: not written (no report)", out);
    }
    if (!quiet) {
        char a[16];
        for (int k = 0; k < nkids && k < 5; k++)
            fprintf(stderr, "  child pid %lld: total peak %s  %s\n", (long long)top[k].pid,
                    human_bytes(top[k].peak, a), top[k].cmd);
        if (nkids > 5) fprintf(stderr, "  ... and %d more children%s\n", nkids - 5,
                               keep ? "" : " (--reports-dir DIR keeps every report)");
        if (WIFSIGNALED(status))
            fprintf(stderr, "heapshim: %d process%s seen (main pid %d killed by signal %d)\n",
                    nreports, nreports == 1 ? "" : "es", (int)pid, WTERMSIG(status));
        else
            fprintf(stderr, "heapshim: %d process%s seen (main pid %d exited with status %d)\n",
                    nreports, nreports == 1 ? "" : "es", (int)pid, rc);
    }
    rm_tree(tmpdir);
    return rc;
}
