/*
 * tools/cmd_serve.c - `heapshim serve --listen ADDR:PORT`: this user's
 * shimmed processes as Prometheus metrics, for one user without privileges
 * (the host-wide exporter is `heapshim-probe --serve`).
 *
 * Room: the exporter's clock and its view of the live directory. It writes
 * nothing into the files but publication requests (window peaks come from
 * the window steps every process keeps, live.h). HTTP is
 * tools/httpd.c's, labels, windows, services and exited processes are
 * tools/exporter.c's (docs/exporter.md), files are read through
 * tools/live.c (copies only; see the rules there).
 *
 * Exited processes: the exporter keeps a read-only descriptor of every live
 * file it has seen, and a process's file stays readable through it after
 * the process removed it at exit, holding the final counters it published
 * then. New files are opened by a watcher thread of their own (inotify
 * IN_CREATE), which does nothing else and never waits on a scrape or a
 * step (those read every file and may take seconds under load), so a
 * worker that lives a few milliseconds is held too. The thread only opens
 * (tools/live.c's checks) and reads the newcomer's identity from /proc; it
 * hands both to the main thread through a queue under a mutex.
 *
 * A step (--window-step) and a scrape take the same reading (take_reading):
 * every kept file is read once; the running processes are what the step
 * closes or the scrape renders, and a process that exited is folded into
 * its service's totals by whichever reading learns of the exit first, so a
 * scrape never shows a service without a process it showed before (its
 * counters never go back). Its descriptor is closed; its entry stays, with
 * no descriptor, while the file is there (a process killed by SIGKILL
 * leaves it), so that it is not held again and folded once more. Both run
 * on the main thread (tools/httpd.c's loop); the watcher only queues.
 *
 * HEAPSHIM_SERVE_FAULT=slow-read (tests only) makes every file read of a
 * scrape or a step sleep 50 ms first: a slow scrape on demand;
 * HEAPSHIM_SERVE_FAULT=slow-ident makes the watcher wait 300 ms between
 * opening a newcomer and asking /proc who it is: a loaded machine, where a
 * worker is gone (its environ with it) before the watcher runs. Its labels
 * come from its file (live.h labels_offset), which outlives it.
 */
#include "live.h"
#include "httpd.h"
#include "exporter.h"
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
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
    int fd;                          /* -1: done (folded, or stale at the first look), kept
                                      * while its file is there so that it is not held again */
    int fresh;                       /* seen running, or created while we watched */
    dev_t dev;
    ino_t ino;
    char name[16];
};

/* Files done with whose entry was dropped (their file removed): the
 * watcher may hand over its own descriptor of such a file after the main
 * thread held, read, folded and dropped it (a worker that lived less than
 * the watcher took to name it), and that one must not be held again and
 * folded a second time (it was: 12 exits for 6 workers, 46-serve-exits
 * serve-gone-workers-labelled). The last SERVE_DONE_RING are remembered:
 * the watcher's queue is emptied at every reading, so an entry only needs
 * to outlive a few readings. */
#define SERVE_DONE_RING 4096
struct done_file {
    dev_t dev;
    ino_t ino;
    char name[16];
};

/* what the watcher thread opened, for the main thread */
struct incoming {
    int fd;
    dev_t dev;
    ino_t ino;
    char name[16];
    struct exp_ident id;
};

struct serve {
    const char *dir;
    int explicit_dir;
    struct exporter *e;
    struct kept *k;
    int nk, kcap, kmax;
    int nopen;                       /* entries of k with a descriptor (at most kmax) */
    int ino;                         /* inotify, -1 if unavailable */
    int wd;                          /* its watch, -1 if none (atomic: both threads) */
    unsigned slow_ms;                /* HEAPSHIM_SERVE_FAULT=slow-read */
    unsigned slow_ident_ms;          /* HEAPSHIM_SERVE_FAULT=slow-ident */
    int primed;                      /* the watch was in place at the last listing */
    int collector_said;              /* why it could not be, said once */
    dev_t cdev;                      /* that file, as made */
    ino_t cino;
    int cfd;                         /* the directory's collector file, ours (collector_claim), open
                                      * for the heartbeat; -1 if not (atomic: both threads) */
    pthread_mutex_t beat_mu;         /* guards last_beat */
    struct timespec last_beat;       /* CLOCK_MONOTONIC of the last heartbeat */
    struct httpd_ops ops;
    struct done_file *done;          /* [SERVE_DONE_RING], a ring */
    unsigned ndone;
    /* the watcher thread */
    pthread_t th;
    int th_running, th_stop;         /* th_stop: atomic */
    pthread_mutex_t mu;              /* guards q, nq, qcap */
    struct incoming *q;
    int nq, qcap;
};

/* a kept descriptor of this very file (name and inode) */
static int kept_find(const struct serve *s, const char *name, dev_t dev, ino_t ino)
{
    for (int i = 0; i < s->nk; i++)
        if (!strcmp(s->k[i].name, name) && s->k[i].dev == dev && s->k[i].ino == ino) return i;
    return -1;
}

static int kept_add(struct serve *s, int fd, const struct stat *st, const char *name, int fresh)
{
    if (s->nopen >= s->kmax) return -1;
    if (s->nk == s->kcap) {
        int nc = s->kcap ? 2 * s->kcap : 64;
        struct kept *nk = realloc(s->k, (size_t)nc * sizeof *nk);
        if (!nk) return -1;
        s->k = nk;
        s->kcap = nc;
    }
    s->k[s->nk].fd = fd;
    s->k[s->nk].fresh = fresh;
    s->k[s->nk].dev = st->st_dev;
    s->k[s->nk].ino = st->st_ino;
    snprintf(s->k[s->nk].name, sizeof s->k[s->nk].name, "%s", name);
    s->nk++;
    s->nopen++;
    return 0;
}

static void kept_close(struct serve *s, int i)
{
    if (s->k[i].fd < 0) return;
    close(s->k[i].fd);
    s->k[i].fd = -1;
    s->nopen--;
}

static void kept_drop(struct serve *s, int i)
{
    kept_close(s, i);
    s->k[i] = s->k[--s->nk];
}

/* a file done with, by its first name: remembered (see struct done_file) */
static void done_add(struct serve *s, dev_t dev, ino_t ino, const char *name)
{
    if (!s->done) return;
    struct done_file *f = &s->done[s->ndone++ % SERVE_DONE_RING];
    f->dev = dev;
    f->ino = ino;
    snprintf(f->name, sizeof f->name, "%s", name);
}

/* an entry done with, dropped now */
static void done_remember(struct serve *s, int i) { done_add(s, s->k[i].dev, s->k[i].ino, s->k[i].name); }

static int done_before(const struct serve *s, const char *name, dev_t dev, ino_t ino)
{
    unsigned n = s->ndone < SERVE_DONE_RING ? s->ndone : SERVE_DONE_RING;
    for (unsigned j = 0; s->done && j < n; j++)
        if (s->done[j].ino == ino && s->done[j].dev == dev && !strcmp(s->done[j].name, name)) return 1;
    return 0;
}

/* does the entry's name in d still lead to the entry's file? */
static int kept_present(const struct serve *s, int i, const struct live_dirh *d)
{
    struct stat st;
    return d && fstatat(d->fd, s->k[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == s->k[i].dev &&
           st.st_ino == s->k[i].ino;
}

/* a file whose process is done with (folded, or dead at the first look):
 * its descriptor closed; remembered while the file is there (or while the
 * directory cannot be looked at: d NULL). 1 if remembered, 0 if dropped. */
static int kept_done(struct serve *s, int i, const struct live_dirh *d)
{
    if (d && !kept_present(s, i, d)) {
        done_remember(s, i);
        kept_drop(s, i);
        return 0;
    }
    kept_close(s, i);
    return 1;
}

/* hold a live file found by listing the directory (not yet kept); 1 if it
 * is refused (not a live file this reader may open), else 0 */
static int hold(struct serve *s, const struct live_dirh *d, const char *name, int fresh)
{
    struct stat st;
    if (live_pid_name(name) < 0 || fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        kept_find(s, name, st.st_dev, st.st_ino) >= 0)
        return 0;
    char err[4600];
    int fd = live_open_at(d, name, &st, err, sizeof err);
    if (fd < 0) return fd == LIVE_BAD;
    if (kept_find(s, name, st.st_dev, st.st_ino) >= 0 || kept_add(s, fd, &st, name, fresh) != 0) close(fd);
    return 0;
}

/* a listing of d from its start (a dup shares the offset of the listing
 * before), or NULL */
static DIR *list_dir(const struct live_dirh *d)
{
    DIR *dd = NULL;
    int dfd = dup(d->fd);
    if (dfd >= 0 && !(dd = fdopendir(dfd))) close(dfd);
    if (dd) rewinddir(dd);
    return dd;
}

/* fresh: the files listed were created while we watched (the watch and a
 * first listing were in place before): fold them also if they exited
 * before their first read. Returns the files refused. */
static int hold_all(struct serve *s, const struct live_dirh *d, int fresh)
{
    DIR *dd = list_dir(d);
    if (!dd) return 0;
    int bad = 0;
    struct dirent *de;
    while ((de = readdir(dd))) bad += hold(s, d, de->d_name, fresh);
    closedir(dd);
    return bad;
}

static void watch(struct serve *s)
{
    if (s->ino < 0 || __atomic_load_n(&s->wd, __ATOMIC_ACQUIRE) >= 0) return;
    /* the directory was checked (owner, mode) by live_dir_open just before */
    int wd = inotify_add_watch(s->ino, s->dir, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW);
    __atomic_store_n(&s->wd, wd, __ATOMIC_RELEASE);
}

/* ---- the watcher thread: opens new files at once -------------------------------
 * Touches only s->ino, s->dir, the queue (under s->mu) and what it opens;
 * never the exporter nor the kept list. */
static void enqueue(struct serve *s, int fd, const struct stat *st, const char *name)
{
    if (s->slow_ident_ms) {
        struct timespec ts = { 0, (long)s->slow_ident_ms * 1000000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
    struct incoming in;
    memset(&in, 0, sizeof in);
    in.fd = fd;
    in.dev = st->st_dev;
    in.ino = st->st_ino;
    snprintf(in.name, sizeof in.name, "%s", name);
    /* while it is there to ask (/proc); its labels from the file, which
     * keeps them after it exits (live.h labels_offset) */
    char fl[HS_LIVE_LABELS_AREA];
    uint64_t created;
    int fst = live_labels_fd(fd, fl, sizeof fl, &created);
    exp_ident_read(live_pid_name(name), created, fl, fst, &in.id);
    pthread_mutex_lock(&s->mu);
    int ok = 0;
    if (s->nq < s->kmax) {
        if (s->nq == s->qcap) {
            int nc = s->qcap ? 2 * s->qcap : 64;
            struct incoming *nq = realloc(s->q, (size_t)nc * sizeof *nq);
            if (nq) {
                s->q = nq;
                s->qcap = nc;
            }
        }
        if (s->nq < s->qcap) {
            s->q[s->nq++] = in;
            ok = 1;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (!ok) close(fd);
}

static void collector_beat(struct serve *s);

static void *watcher(void *arg)
{
    struct serve *s = arg;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    char err[4600];
    while (!__atomic_load_n(&s->th_stop, __ATOMIC_ACQUIRE)) {
        struct pollfd pfd = { s->ino, POLLIN, 0 };
        int ready = poll(&pfd, 1, 200);
        collector_beat(s);
        if (ready <= 0) continue;
        ssize_t n = read(s->ino, buf, sizeof buf);
        if (n <= 0) continue;
        struct live_dirh d;
        int have_dir = live_dir_open(s->dir, s->explicit_dir, &d, err, sizeof err) == 0;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if (ev->mask & IN_IGNORED) __atomic_store_n(&s->wd, -1, __ATOMIC_RELEASE);   /* directory removed */
            if (have_dir && ev->len && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && live_pid_name(ev->name) > 0) {
                struct stat st;
                int fd = live_open_at(&d, ev->name, &st, err, sizeof err);
                if (fd >= 0) enqueue(s, fd, &st, ev->name);
            }
            p += sizeof *ev + ev->len;
        }
        if (have_dir) live_dir_close(&d);
    }
    return NULL;
}

/* the watcher's files into the kept list (main thread) */
static void take_incoming(struct serve *s)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nq; i++) {
        struct incoming *in = &s->q[i];
        struct stat st = { .st_dev = in->dev, .st_ino = in->ino };
        if (kept_find(s, in->name, in->dev, in->ino) >= 0 || done_before(s, in->name, in->dev, in->ino) ||
            kept_add(s, in->fd, &st, in->name, 1) != 0) {
            close(in->fd);
            continue;
        }
        exp_ident_put(s->e, &in->id);
    }
    s->nq = 0;
    pthread_mutex_unlock(&s->mu);
}

static void slow_read(const struct serve *s)
{
    if (!s->slow_ms) return;
    struct timespec ts = { 0, (long)s->slow_ms * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static int cmp_pid(const void *a, const void *b)
{
    const struct proc_view *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* ---- exits kept for the collector (include/heapshim/live.h "Where it lives") ----
 * The exporter is the directory's collector while it runs: it makes the
 * collector file (its pid and start time; O_EXCL, replacing only the file of a collector
 * that is gone), and a process that exits renames its file for it instead
 * of removing it, so that a worker gone before the watcher could open its
 * file is still folded, once, with its final figures; the exporter removes
 * each such file once folded (or once folded through a descriptor it held).
 * Another exporter already collecting here keeps the role; this one then
 * folds what it holds, as before. */
static void collector_claim(struct serve *s, const struct live_dirh *d)
{
    if (__atomic_load_n(&s->cfd, __ATOMIC_ACQUIRE) >= 0) return;
    char buf[48], err[4600];
    int len = snprintf(buf, sizeof buf, "%d %llu\n", (int)getpid(), (unsigned long long)proc_start_time(getpid()));
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = openat(d->fd, HS_LIVE_COLLECTOR, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            struct stat st;
            if (write(fd, buf, (size_t)len) == len && fstat(fd, &st) == 0) {
                s->cdev = st.st_dev;
                s->cino = st.st_ino;
                pthread_mutex_lock(&s->beat_mu);
                clock_gettime(CLOCK_MONOTONIC, &s->last_beat);
                pthread_mutex_unlock(&s->beat_mu);
                __atomic_store_n(&s->cfd, fd, __ATOMIC_RELEASE);
                return;
            }
            unlinkat(d->fd, HS_LIVE_COLLECTOR, 0);
            close(fd);
            return;
        }
        if (errno != EEXIST) break;
        struct stat st;
        int pid = live_collector_at(d, &st, err, sizeof err);
        if (pid != 0) {              /* another running collector's, or not a collector's file */
            if (!s->collector_said && pid < 0) fprintf(stderr, "heapshim serve: %s; exits are not kept for it\n", err);
            s->collector_said = 1;
            return;
        }
        /* a collector that is gone (or a file still empty: retried at the next reading) */
        if (st.st_size == 0 || live_unlink_stale(d, HS_LIVE_COLLECTOR, &st, err, sizeof err) != 0) return;
    }
}

/* The heartbeat (live.h "Where it lives"): the collector file's
 * modification time, set at least every HS_LIVE_COLLECTOR_BEAT seconds by
 * the watcher thread (and by each reading, for a serve without one). A
 * process that exits while the file is older than HS_LIVE_COLLECTOR_STALE
 * seconds removes its file; a serve that finds its file that old (it was
 * stopped, or the clock moved) says that it did not count those exits. */
static void collector_beat(struct serve *s)
{
    int fd = __atomic_load_n(&s->cfd, __ATOMIC_ACQUIRE);
    if (fd < 0) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&s->beat_mu);
    if (now.tv_sec - s->last_beat.tv_sec >= HS_LIVE_COLLECTOR_BEAT) {
        struct stat st;
        long long age = fstat(fd, &st) == 0 ? (long long)(time(NULL) - st.st_mtim.tv_sec) : 0;
        if (age > HS_LIVE_COLLECTOR_STALE)
            fprintf(stderr,
                    "heapshim serve: its collector file had not been updated for %lld s (stopped?): processes "
                    "that exited in the last %lld s of that removed their files and are not counted\n",
                    age, age - HS_LIVE_COLLECTOR_STALE);
        futimens(fd, NULL);
        s->last_beat = now;
    }
    pthread_mutex_unlock(&s->beat_mu);
}

/* at exit: our collector file, if it is still ours */
static void collector_release(struct serve *s)
{
    int cfd = __atomic_exchange_n(&s->cfd, -1, __ATOMIC_ACQ_REL);
    if (cfd < 0) return;
    close(cfd);
    struct live_dirh d;
    char err[4600];
    if (live_dir_open(s->dir, s->explicit_dir, &d, err, sizeof err) != 0) return;
    struct stat st;
    if (fstatat(d.fd, HS_LIVE_COLLECTOR, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == s->cdev && st.st_ino == s->cino)
        unlinkat(d.fd, HS_LIVE_COLLECTOR, 0);
    live_dir_close(&d);
}

/* every exit kept for us, folded once and removed: after the kept files
 * (one folded through its descriptor is in the done ring by then) */
static void collect_exits(struct serve *s, const struct live_dirh *d, struct scan *sc)
{
    DIR *dd = list_dir(d);
    if (!dd) return;
    struct dirent *de;
    char err[4600];
    while ((de = readdir(dd))) {
        int epid = live_exited_name(de->d_name);
        if (!epid) continue;
        struct stat st;
        if (fstatat(d->fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        /* the file held under its first name: the same inode and the pid
         * of that name (an inode number is reused soon on some file
         * systems: matched alone, a new exit was taken for a folded one
         * and removed unread, 3-9 of 120 under load) */
        char was[16];
        snprintf(was, sizeof was, "%d", epid);
        int held = 0, done = 0;
        for (int i = 0; i < s->nk && !held && !done; i++)
            if (s->k[i].dev == st.st_dev && s->k[i].ino == st.st_ino && !strcmp(s->k[i].name, was)) {
                held = s->k[i].fd >= 0;
                done = s->k[i].fd < 0;  /* folded through it (read exited before the rename) */
            }
        if (held) continue;          /* folded through its descriptor at the next reading */
        if (!done && !done_before(s, was, st.st_dev, st.st_ino)) {
            struct stat fs;
            int fd = live_open_at(d, de->d_name, &fs, err, sizeof err);
            if (fd < 0) {
                sc->bad += fd == LIVE_BAD;
                continue;
            }
            struct proc_view v;
            int r = live_read_kept(NULL, de->d_name, fd, 0, &v, err, sizeof err);
            close(fd);
            /* only an exit, of the process its name says: a running
             * process's file, or a foreign one, under this name is not */
            if (r != LIVE_STALE || v.state != HS_LIVE_STATE_EXITED || v.pid != epid) {
                sc->bad += r != LIVE_GONE;
                continue;
            }
            exp_exited(s->e, &v);
            done_add(s, fs.st_dev, fs.st_ino, was);
        }
        (void)live_unlink_stale(d, de->d_name, &st, err, sizeof err);
    }
    closedir(dd);
}

/* One reading, for a step and for a scrape alike: every kept file read
 * once; the running processes into sc (by pid; sc->stale: files of dead
 * processes still there, sc->bad: files refused or unreadable), and every
 * exit that this reading is the first to see folded now, exactly once (the
 * entry keeps no descriptor after, kept_done). 0, or -1 if out of memory. */
static int take_reading(struct serve *s, struct scan *sc)
{
    struct live_dirh d;
    char err[4600];
    memset(sc, 0, sizeof *sc);
    int rc = live_dir_open(s->dir, s->explicit_dir, &d, err, sizeof err);
    take_incoming(s);                /* first: what the watcher holds is fresh */
    if (rc == 0) {
        int watched = s->primed && __atomic_load_n(&s->wd, __ATOMIC_ACQUIRE) >= 0;
        watch(s);
        sc->bad = hold_all(s, &d, watched);
        s->primed = __atomic_load_n(&s->wd, __ATOMIC_ACQUIRE) >= 0;
    } else {
        sc->nodir = rc == 1;
        sc->bad = rc < 0;
    }
    int nk0 = s->nk;                 /* files held before this reading: read now */
    struct proc_view *v = calloc((size_t)(nk0 ? nk0 : 1), sizeof *v);
    if (!v) {
        if (rc == 0) live_dir_close(&d);
        return -1;
    }
    int n = 0;
    for (int i = 0; i < s->nk && i < nk0;) {
        if (s->k[i].fd < 0) {        /* done with: a stale file while it is there */
            if (rc == 0 && !kept_present(s, i, &d)) {
                done_remember(s, i);
                kept_drop(s, i);
                continue;
            }
            sc->stale += rc == 0;
            i++;
            continue;
        }
        slow_read(s);
        /* the name now leads to another file: the process exec'd (the new
         * image made a file of its own) or the pid was reused; the kept one
         * holds the old image's last figures: folded like an exit */
        struct stat a, b;
        int replaced = rc == 0 && fstat(s->k[i].fd, &a) == 0 &&
                       fstatat(d.fd, s->k[i].name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
                       (a.st_ino != b.st_ino || a.st_dev != b.st_dev);
        /* read only: window marks come from the process's window steps
         * (live.h), which nobody resets; the read-write reopen is only for
         * a busy process's publication request */
        int r = live_read_kept(rc == 0 && !replaced ? &d : NULL, s->k[i].name, s->k[i].fd, 0, &v[n], err,
                               sizeof err);
        if (replaced && r == LIVE_OK) r = LIVE_STALE;
        if (r != LIVE_BAD && v[n].pid != live_pid_name(s->k[i].name)) r = LIVE_BAD;   /* a foreign file */
        if (r == LIVE_OK) {
            s->k[i].fresh = 1;
            n++;
            i++;
            continue;
        }
        if (r != LIVE_STALE) {       /* unreadable now: held again below, read next time */
            sc->bad++;
            kept_drop(s, i);
            continue;
        }
        /* exited: its final figures; a stale file found at the first look
         * (a process killed before the exporter started) is not folded */
        if (v[n].pid > 0 && s->k[i].fresh) exp_exited(s->e, &v[n]);
        if (kept_done(s, i, rc == 0 ? &d : NULL)) {
            sc->stale += rc == 0;
            i++;
        }
    }
    /* files that replaced folded ones: read from the next reading on */
    if (rc == 0) {
        collector_claim(s, &d);
        collector_beat(s);
        collect_exits(s, &d, sc);
        hold_all(s, &d, s->primed);
        live_dir_close(&d);
    }
    if (n > 1) qsort(v, (size_t)n, sizeof *v, cmp_pid);
    sc->v = v;
    sc->n = n;
    return 0;
}

/* one step: the reading's running processes close the window step */
static void step(void *arg)
{
    struct serve *s = arg;
    struct scan sc;
    if (take_reading(s, &sc) != 0) return;
    exp_step(s->e, sc.v, sc.n);
    scan_free(&sc);
}

static char *render(void *arg, size_t *len)
{
    struct serve *s = arg;
    struct scan sc;
    if (take_reading(s, &sc) != 0) return NULL;
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
    const char *fault = getenv("HEAPSHIM_SERVE_FAULT");
    unsigned slow_ms = 0, slow_ident_ms = 0;
    if (fault && *fault) {
        if (!strcmp(fault, "slow-read")) slow_ms = 50;
        else if (!strcmp(fault, "slow-ident")) slow_ident_ms = 300;
        else die_bad("HEAPSHIM_SERVE_FAULT: unknown fault '%s' (accepted: slow-read, slow-ident)", fault);
    }
    int fd = httpd_listen("--listen", listen_s);
    struct serve s = { .dir = dir, .explicit_dir = dir_opt != NULL, .wd = -1, .slow_ms = slow_ms,
                       .slow_ident_ms = slow_ident_ms, .cfd = -1 };
    s.e = exp_new(&eo);
    s.done = calloc(SERVE_DONE_RING, sizeof *s.done);
    if (!s.e || !s.done) die_bad("out of memory");
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
    pthread_mutex_init(&s.mu, NULL);
    pthread_mutex_init(&s.beat_mu, NULL);
    s.ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    int terr = s.ino < 0 ? errno : pthread_create(&s.th, NULL, watcher, &s);
    if (!terr) s.th_running = 1;
    else warnx_("cannot watch %s for new processes (%s): processes shorter than a step may be missed",
                dir, strerror(terr));
    s.ops = (struct httpd_ops){ .render = render, .tick = step, .tick_ms = (uint64_t)eo.step_s * 1000,
                                .extra_fd = -1, .arg = &s };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;      /* no SA_RESTART: poll() must return */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    httpd_run(fd, &s.ops, &stop);
    close(fd);
    if (s.th_running) {
        __atomic_store_n(&s.th_stop, 1, __ATOMIC_RELEASE);
        pthread_join(s.th, NULL);
    }
    collector_release(&s);
    take_incoming(&s);
    for (int i = 0; i < s.nk; i++)
        if (s.k[i].fd >= 0) close(s.k[i].fd);
    free(s.k);
    free(s.q);
    free(s.done);
    if (s.ino >= 0) close(s.ino);
    exp_free(s.e);
    return 0;
}
