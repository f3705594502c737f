/*
 * tools/cmd_serve.c - `heapshim serve --listen ADDR:PORT`: this user's
 * shimmed processes as Prometheus metrics, for one user without privileges
 * (the host-wide exporter is `heapshim-probe --serve`).
 *
 * Room: the exporter's clock and its view of the live directory. HTTP is
 * tools/httpd.c's, labels, windows, services and exited processes are
 * tools/exporter.c's (docs/exporter.md), files are read through
 * tools/live.c (copies only; see the rules there).
 *
 * Exited processes: the exporter keeps a read-only descriptor of every live
 * file it has seen -- opened at the directory's inotify IN_CREATE, so a
 * worker that lives a few milliseconds is held too -- and a process's file
 * stays readable through it after the process removed it at exit, holding
 * the final counters it published then. Each step (--window-step) reads the
 * kept files: a process that exited is folded into its service's totals
 * and its descriptor closed.
 */
#include "live.h"
#include "httpd.h"
#include "exporter.h"
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: heapshim serve --listen ADDR:PORT [--dir DIR] [--by process|service|both]\n"
    "                      [--window S] [--window-step S]\n"
    "  Serve the live counters of every shimmed process of this user as\n"
    "  Prometheus metrics on http://ADDR:PORT/metrics (other paths: 404).\n"
    "  ADDR is a numeric IPv4 address, or an IPv6 one in brackets ([::1]:9464).\n"
    "  PORT 0 picks a free port; the address actually bound is printed on stderr.\n"
    "  Labels: service (HEAPSHIM_LABELS='service=api,team=payments' in the\n"
    "  process's environment, else its systemd unit, else its comm) and the\n"
    "  other HEAPSHIM_LABELS pairs on every series; heapshim_process_info\n"
    "  carries the command line, unit and container id. Scrapes reset nothing\n"
    "  (docs/exporter.md). SIGINT/SIGTERM stop the server (exit 0).\n"
    EXP_OPTS_USAGE;

static volatile sig_atomic_t stop;
static void on_stop(int sig) { (void)sig; stop = 1; }

struct kept {
    int fd;
    int fresh;                       /* seen running, or created while we watched */
    char name[16];
};

struct serve {
    const char *dir;
    int explicit_dir;
    struct exporter *e;
    struct kept *k;
    int nk, kcap, kmax;
    int ino, wd;                     /* inotify, -1 if unavailable */
    struct httpd_ops ops;
};

static int kept_find(const struct serve *s, const char *name)
{
    for (int i = 0; i < s->nk; i++)
        if (!strcmp(s->k[i].name, name)) return i;
    return -1;
}

static int kept_add(struct serve *s, int fd, const char *name, int fresh)
{
    if (s->nk >= s->kmax) return -1;
    if (s->nk == s->kcap) {
        int nc = s->kcap ? 2 * s->kcap : 64;
        struct kept *nk = realloc(s->k, (size_t)nc * sizeof *nk);
        if (!nk) return -1;
        s->k = nk;
        s->kcap = nc;
    }
    s->k[s->nk].fd = fd;
    s->k[s->nk].fresh = fresh;
    snprintf(s->k[s->nk].name, sizeof s->k[s->nk].name, "%s", name);
    s->nk++;
    return 0;
}

static void kept_drop(struct serve *s, int i)
{
    close(s->k[i].fd);
    s->k[i] = s->k[--s->nk];
}

/* hold a new live file at once (its process may be gone before the next step) */
static void hold(struct serve *s, const struct live_dirh *d, const char *name, int fresh)
{
    if (live_pid_name(name) < 0 || kept_find(s, name) >= 0) return;
    struct stat st;
    char err[4600];
    int fd = live_open_at(d, name, &st, err, sizeof err);
    if (fd < 0) return;
    if (kept_add(s, fd, name, fresh) != 0) close(fd);
    else if (fresh) exp_prefetch(s->e, live_pid_name(name));   /* while it is there to ask */
}

static void hold_all(struct serve *s, const struct live_dirh *d)
{
    DIR *dd = NULL;
    int dfd = dup(d->fd);
    if (dfd >= 0 && !(dd = fdopendir(dfd))) close(dfd);
    if (!dd) return;
    rewinddir(dd);
    struct dirent *de;
    while ((de = readdir(dd))) hold(s, d, de->d_name, 0);
    closedir(dd);
}

static void watch(struct serve *s)
{
    if (s->ino < 0 || s->wd >= 0) return;
    /* the directory was checked (owner, mode) by live_dir_open just before */
    s->wd = inotify_add_watch(s->ino, s->dir, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW);
}

static void on_inotify(void *arg)
{
    struct serve *s = arg;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct live_dirh d;
    char err[4600];
    int have_dir = live_dir_open(s->dir, s->explicit_dir, &d, err, sizeof err) == 0;
    for (;;) {
        ssize_t n = read(s->ino, buf, sizeof buf);
        if (n <= 0) break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if (ev->mask & IN_IGNORED) s->wd = -1;       /* directory removed */
            if (have_dir && ev->len && (ev->mask & (IN_CREATE | IN_MOVED_TO))) hold(s, &d, ev->name, 1);
            p += sizeof *ev + ev->len;
        }
    }
    if (have_dir) live_dir_close(&d);
}

/* one step: read every kept file (taking its window), fold the exited */
static void step(void *arg)
{
    struct serve *s = arg;
    struct live_dirh d;
    char err[4600];
    int rc = live_dir_open(s->dir, s->explicit_dir, &d, err, sizeof err);
    if (rc == 0) {
        watch(s);
        hold_all(s, &d);
    }
    int nk0 = s->nk;                 /* files held before this step: read now */
    struct proc_view *v = calloc((size_t)(nk0 ? nk0 : 1), sizeof *v);
    int n = 0;
    for (int i = 0; v && i < s->nk;) {
        /* a busy process's read may wait for its publication: hold the
         * files created meanwhile first (a short-lived worker's) */
        if (s->ino >= 0) on_inotify(s);
        if (i >= s->nk || i >= nk0) break;
        /* the name now leads to another file: the process exec'd (the new
         * image made a file of its own) or the pid was reused; the kept one
         * holds the old image's last figures: folded like an exit */
        struct stat a, b;
        int replaced = rc == 0 && fstat(s->k[i].fd, &a) == 0 &&
                       fstatat(d.fd, s->k[i].name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
                       (a.st_ino != b.st_ino || a.st_dev != b.st_dev);
        int r = live_read_kept(rc == 0 && !replaced ? &d : NULL, s->k[i].name, s->k[i].fd,
                               replaced ? 0 : LIVE_RESET_WINDOW, &v[n], err, sizeof err);
        if (replaced && r == LIVE_OK) r = LIVE_STALE;
        if (r == LIVE_OK) {
            s->k[i].fresh = 1;
            n++;
            i++;
            continue;
        }
        /* exited: its final figures; a stale file found at the first look
         * (a process killed before the exporter started) is not folded */
        if (r == LIVE_STALE && v[n].pid > 0 && s->k[i].fresh) exp_exited(s->e, &v[n]);
        kept_drop(s, i);
    }
    /* files that replaced folded ones: read from the next step on */
    if (rc == 0) hold_all(s, &d);
    if (v) exp_step(s->e, v, n);
    free(v);
    if (rc == 0) live_dir_close(&d);
}

static char *render(void *arg, size_t *len)
{
    struct serve *s = arg;
    if (s->ino >= 0) on_inotify(s);  /* hold new files before a possibly long read */
    struct scan sc;
    live_scan_opt(s->dir, s->explicit_dir, NULL, 0, 0, &sc, 1);
    char *text = exp_render(s->e, &sc, NULL, 0, len);
    scan_free(&sc);
    return text;
}

int cmd_serve(int argc, char **argv)
{
    const char *listen_s = NULL, *dir_opt = NULL;
    struct exp_opts eo = { 0 };
    static const struct opt opts[] = {
        { "--listen", NULL, "ADDR:PORT", 1, OPT_NAME }, { "--dir", NULL, "DIR", 2, OPT_NAME },
        { "--by", NULL, "WHAT", 3, OPT_NAME }, { "--window", NULL, "S", 4, 0 },
        { "--window-step", NULL, "S", 5, 0 }, { NULL, NULL, NULL, 0, 0 },
    };
    struct optstate st = { argc, argv, opts, 0, 0, 0 };
    const char *v;
    int id;
    while ((id = opt_next(&st, &v)) != OPT_END) {
        if (id == OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        } else if (id == 1) listen_s = v;
        else if (id == 2) dir_opt = v;
        else if (id >= 3) exp_set_opt(&eo, opts[id - 1].name, v);
        else die_bad("unexpected argument '%s' (accepted: --listen ADDR:PORT, --dir DIR, --by WHAT, "
                     "--window S, --window-step S, --help; no operands)", v);
    }
    if (!listen_s) die_bad("--listen ADDR:PORT is required (e.g. --listen 127.0.0.1:9464)");
    exp_opts_check(&eo);
    char dir[4096];
    live_dir(dir_opt, dir, sizeof dir);
    live_dir_check(dir, dir_opt != NULL, 1);   /* refused before binding; each scrape checks again */
    int fd = httpd_listen("--listen", listen_s);
    struct serve s = { .dir = dir, .explicit_dir = dir_opt != NULL, .wd = -1 };
    s.e = exp_new(&eo);
    if (!s.e) die_bad("out of memory");
    /* one descriptor per process held: as many as the limit allows */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        s.kmax = rl.rlim_cur > 700 ? (int)(rl.rlim_cur - 600) : 100;   /* 512 connections + margin */
    }
    s.ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    s.ops = (struct httpd_ops){ .render = render, .tick = step, .tick_ms = (uint64_t)eo.step_s * 1000,
                                .extra_fd = s.ino, .on_extra = on_inotify, .arg = &s };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;      /* no SA_RESTART: poll() must return */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    httpd_run(fd, &s.ops, &stop);
    close(fd);
    for (int i = 0; i < s.nk; i++) close(s.k[i].fd);
    free(s.k);
    if (s.ino >= 0) close(s.ino);
    exp_free(s.e);
    return 0;
}
