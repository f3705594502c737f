/*
 * tools/cmd_gc.c - `heapshim gc`: remove live files of processes that died.
 *
 * Room: deletes files in the live directory, and only those that are
 * provably stale: a valid live file whose process is gone (or whose pid now
 * belongs to another process, told apart by the start time). Foreign or
 * corrupt files are reported, never deleted: they may not be ours to touch.
 * The same holds for a process's heap profile, <pid>.prof, which a killed
 * process leaves too (judged by tools/profile_read.c's profile_stale_at:
 * the header's pid and start time). Exits kept for a collector
 * (include/heapshim/live.h "Where it lives") are removed when no collector
 * runs any more, and so is the collector file of one that is gone.
 */
#include "live.h"
#include "profile.h"
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: heapshim gc [--dir DIR] [--dry-run]\n"
    "  Remove live files left by shimmed processes that were killed (the shim\n"
    "  removes its file at normal exit), and their heap profiles (PID.prof);\n"
    "  exits kept for a `heapshim serve` that no longer runs, and its file.\n"
    "  Files of running processes and files\n"
    "  that are not valid live files are left alone (the latter are listed).\n";

int cmd_gc(int argc, char **argv)
{
    const char *dir_opt = NULL;
    int dry = 0, id;
    static const struct opt opts[] = {
        { "--dir", NULL, "DIR", 1, OPT_NAME }, { "--dry-run", "-n", NULL, 2, 0 },
        { NULL, NULL, NULL, 0, 0 },
    };
    struct optstate os = { argc, argv, opts, 0, 0, 0 };
    const char *val;
    while ((id = opt_next(&os, &val)) != OPT_END) {
        if (id == OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        } else if (id == 1) dir_opt = val;
        else if (id == 2) dry = 1;
        else die_bad("unexpected argument '%s' (accepted: --dir DIR, --dry-run, --help; no operands)", val);
    }
    char dir[4096], err[4800];
    live_dir(dir_opt, dir, sizeof dir);
    /* everything below is relative to this checked descriptor: a directory
     * swapped for a symlink after the check is never looked at */
    struct live_dirh dh;
    int dr = live_dir_open(dir, dir_opt != NULL, &dh, err, sizeof err);
    if (dr == 1) {
        /* the default directory: no shimmed process has run yet; a --dir
         * that does not exist is a mistake (live_dir_check's rule) */
        if (dir_opt) live_dir_check(dir, 1, 0);
        printf("heapshim gc: %s does not exist; nothing to do\n", dir);
        return 0;
    }
    if (dr < 0) die_bad("%s", err);
    int dfd = dup(dh.fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) die_bad("%s: cannot list live directory: %s", dir, strerror(errno));
    int removed = 0, kept = 0, bad = 0;
    struct stat cst;
    int coll = live_collector_at(&dh, &cst, err, sizeof err);
    if (coll < 0) {
        bad++;
        warnx_("%s (left alone)", err);
    } else if (coll == 0 && cst.st_ino && cst.st_size > 0) {   /* a collector that is gone */
        if (dry) printf("would remove %s/%s (a collector that is gone)\n", dir, HS_LIVE_COLLECTOR);
        else if (live_unlink_stale(&dh, HS_LIVE_COLLECTOR, &cst, err, sizeof err) == 0) removed++;
        else warnx_("%s", err);
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        int pid = live_pid_name(de->d_name), rc;
        struct proc_view v;
        struct stat st;
        if (pid >= 0) {
            rc = live_read_at(&dh, de->d_name, pid, 0, &v, &st, err, sizeof err);
        } else if (live_exited_name(de->d_name)) {
            /* an exit: the running collector's to fold and remove */
            if (coll > 0) continue;
            rc = live_read_at(&dh, de->d_name, -1, 0, &v, &st, err, sizeof err);
        } else if ((pid = profile_pid_name(de->d_name)) >= 0) {
            rc = profile_stale_at(&dh, de->d_name, &st, err, sizeof err);
            snprintf(v.comm, sizeof v.comm, "heap profile");
            v.pid = pid;
        } else {
            continue;
        }
        if (rc == LIVE_STALE) {
            if (dry) printf("would remove %s/%s (pid %d, %s)\n", dir, de->d_name, v.pid, v.comm);
            else if (live_unlink_stale(&dh, de->d_name, &st, err, sizeof err) == 0) removed++;
            else warnx_("%s", err);
        } else if (rc == LIVE_OK) {
            kept++;
        } else if (rc == LIVE_BAD) {
            bad++;
            warnx_("%s (left alone)", err);
        }
    }
    closedir(d);
    live_dir_close(&dh);
    if (!dry) printf("heapshim gc: removed %d stale file%s, %d live, %d not live files, in %s\n",
                     removed, removed == 1 ? "" : "s", kept, bad, dir);
    return 0;
}
