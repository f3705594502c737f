/*
 * tools/live.h - the reading module of the heapshim command (tools/live.c):
 * the hardened way to open, check, copy and remove live files. Every reader
 * in tools/ goes through it (the rules are at the top of tools/live.c);
 * cli.h keeps the older path-based entry points (live_read, live_scan),
 * which are wrappers over these.
 */
#ifndef HS_TOOLS_LIVE_H
#define HS_TOOLS_LIVE_H
#include "cli.h"
#include <sys/stat.h>

/* how long a reader waits for a busy process's publication (per try, 2 tries;
 * a scan of a directory waits 200 ms in all, tools/live.c SCAN_WAIT_MS) */
#define LIVE_WAIT_MS 25

/* An open, checked live directory. */
struct live_dirh {
    int fd;
    unsigned owner;                 /* uid owning it (and required of its files) */
    char path[4096];
};
/* Open and check a live directory: a real directory (not a symlink), owned
 * by the euid (root: any owner when explicit_dir, i.e. named by --dir), not
 * writable by group/others. 0; 1 if it does not exist; -1 with a one-line
 * reason in err. */
int live_dir_open(const char *path, int explicit_dir, struct live_dirh *d, char *err, size_t cap);
void live_dir_close(struct live_dirh *d);
/* live_dir_open and close, the one rule for the commands' directory:
 * exits 2 with the reason if the directory is refused. One that does not
 * exist: the default ($HEAPSHIM_DIR, /dev/shm/heapshim-UID) means no shimmed
 * process has run yet (1, silently); one named with --dir (explicit_dir) is
 * a mistake for a command that reads it once (watching 0: top --once,
 * export: exit 2, one line), and for one that keeps watching (top's live
 * view, serve) a directory that may come (one warning line, 1). 0 when it
 * exists. */
int live_dir_check(const char *path, int explicit_dir, int watching);
/* Read the file `name` of an open directory (expect_pid < 0: any pid).
 * st (may be NULL) gets the fstat of the file that was read. */
int live_read_at(const struct live_dirh *d, const char *name, int expect_pid, int flags,
                 struct proc_view *p, struct stat *st, char *err, size_t cap);
/* Only the header of `name` in d, with every check of live_read_at before
 * the counters (live_open_at's, the identity checks, expect_pid < 0: any
 * pid, the pid namespace): p gets the header's identity (pid, ppid, start
 * time, ...; no counters, no RSS), without waiting for a busy process and
 * without asking whether it still runs. LIVE_OK, LIVE_GONE or LIVE_BAD
 * (reason in err). */
int live_peek_at(const struct live_dirh *d, const char *name, int expect_pid, struct proc_view *p,
                 char *err, size_t cap);
/* Open `name` in d with every check live_read_at makes (no symlink, no
 * FIFO, regular file of the directory's owner, mode, size): a descriptor,
 * or LIVE_GONE / LIVE_BAD with the reason in err. */
int live_open_at(const struct live_dirh *d, const char *name, struct stat *st, char *err, size_t cap);
/* Read a descriptor from live_open_at, kept open by an exporter: also after
 * the process exited and removed the file, when it holds the final
 * counters the process published at exit. d and name (the entry it was
 * opened as) allow the read-write reopen of the same inode (publication
 * request, LIVE_RESET_WINDOW); NULL for neither. LIVE_OK (running),
 * LIVE_STALE (exited: p holds its final figures) or LIVE_BAD. */
int live_read_kept(const struct live_dirh *d, const char *name, int fd, int flags,
                   struct proc_view *p, char *err, size_t cap);
/* Remove `name` from d if it is still the file whose fstat was `was`.
 * 0, or -1 with the reason in err. */
int live_unlink_stale(const struct live_dirh *d, const char *name, const struct stat *was,
                      char *err, size_t cap);
/* CLOCK_MONOTONIC_COARSE in ns: the clock of the window steps (live.h) */
uint64_t live_wclock_ns(void);
/* a live file name: the pid, or -1 */
int live_pid_name(const char *name);

/* Exits kept for a collector (include/heapshim/live.h "Where it lives").
 * live_exited_name: the pid in NAME if it is such an exit's name, else 0. live_collector_at:
 * the pid in the directory's collector file when it is a regular file of
 * the directory's owner, mode 0600 or stricter, naming a running process
 * by its pid and start time ("<pid> <start time>\n"; its pid); 0 when there is no such file or its process is gone; -1 when
 * the name holds something else (left alone: not ours to touch), with the
 * reason in err. st (may be NULL): the file's stat when one is there. */
int live_exited_name(const char *name);
int live_collector_at(const struct live_dirh *d, struct stat *st, char *err, size_t cap);
/* /proc/<pid>/stat field 22 (clock ticks); 0 if gone. The command's only parser of it. */
/* small /proc files: /proc/PID/WHAT (or a path) into buf, NUL-terminated,
 * at most cap - 1 bytes; bytes read or -1 (tools/live.c, the one reader) */
ssize_t proc_read(int pid, const char *what, char *buf, size_t cap);
ssize_t proc_read_path(const char *path, char *buf, size_t cap);
uint64_t proc_start_time(int pid);
/* a numeric field (>= 4) of /proc/<pid>/stat; 0 if gone */
uint64_t proc_stat_field(int pid, int field);
int proc_ppid(int pid);             /* field 4; 0 if gone */
/* live_scan of an open directory (explicit pids: flags LIVE_KEEP_STALE keeps
 * a stale file's last counters, marked stale) */
int live_scan_at(const struct live_dirh *d, const int *pids, int npids, int flags, struct scan *s, int quiet);
/* live_scan with explicit_dir (see live_dir_open) */
int live_scan_opt(const char *dir, int explicit_dir, const int *pids, int npids, int flags,
                  struct scan *s, int quiet);

#endif
