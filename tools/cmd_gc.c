/*
 * tools/cmd_gc.c - `heapshim gc`: remove live files of processes that died.
 *
 * Room: deletes files in the live directory, and only those that are
 * provably stale: a valid live file whose process is gone (or whose pid now
 * belongs to another process, told apart by the start time). Foreign or
 * corrupt files are reported, never deleted: they may not be ours to touch.
 */
#include "cli.h"
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: heapshim gc [--dir DIR] [--dry-run]\n"
    "  Remove live files left by shimmed processes that were killed (the shim\n"
    "  removes its file at normal exit). Files of running processes and files\n"
    "  that are not valid live files are left alone (the latter are listed).\n";

int cmd_gc(int argc, char **argv)
{
    const char *dir_opt = NULL;
    int dry = 0;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--dry-run")) dry = 1;
        else if (!strcmp(argv[i], "--dir")) {
            if (i + 1 >= argc) die_bad("--dir needs a value");
            dir_opt = argv[++i];
        } else die_bad("unknown argument '%s' (accepted: --dir DIR, --dry-run, --help)", argv[i]);
    }
    char dir[4096], path[4400], err[4800];
    live_dir(dir_opt, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) {
            printf("heapshim gc: %s does not exist; nothing to do\n", dir);
            return 0;
        }
        die_bad("%s: cannot open live directory: %s", dir, strerror(errno));
    }
    int removed = 0, kept = 0, bad = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t pid;
        if (parse_u64(de->d_name, 1, 0x7fffffff, &pid)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct proc_view v;
        int rc = live_read(path, (int)pid, 0, &v, err, sizeof err);
        if (rc == LIVE_STALE) {
            if (dry) printf("would remove %s (pid %d, %s)\n", path, v.pid, v.comm);
            else if (unlink(path) == 0) removed++;
            else warnx_("%s: cannot remove: %s", path, strerror(errno));
        } else if (rc == LIVE_OK) {
            kept++;
        } else if (rc == LIVE_BAD) {
            bad++;
            warnx_("%s (left alone)", err);
        }
    }
    closedir(d);
    if (!dry) printf("heapshim gc: removed %d stale file%s, %d live, %d not live files, in %s\n",
                     removed, removed == 1 ? "" : "s", kept, bad, dir);
    return 0;
}
