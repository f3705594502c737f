/*
 * interpose/livefile.c - the live counter file: safe creation, fork, removal.
 *
 * Room: the file-system side of publishing (layout: include/heapshim/live.h,
 * contents: core/live.c). Runs inside the first malloc() of the process and
 * in fork children, so only system calls, stack buffers and static buffers.
 * Names are built with strbuf.h, not stdio (see there: printf's code pages
 * cost every process RSS); only error paths format with snprintf (plain
 * integer/string conversions, which do not allocate). strerror() is
 * avoided: with a locale loaded it may allocate.
 *
 * Safety: the directory is opened with O_NOFOLLOW|O_DIRECTORY and checked on
 * the open descriptor (owner, mode), and the file is created relative to
 * that descriptor with O_EXCL|O_NOFOLLOW, so nobody can swap in a symlink
 * or a directory of their own between the check and the use. The exit
 * removal is fd-relative too, and removes only the file this process made
 * (same directory and file inode as at creation).
 */
#include "livefile.h"
#include "../core/internal.h"
#include "../core/prim/proc.h"
#include "strbuf.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* env.c's getenv, when linked in (it also works before glibc set environ) */
const char *hs_shim_getenv(const char *name) __attribute__((weak));

static char lf_why_buf[PATH_MAX + 200] HS_COLD_BSS;
/* the directory chosen at creation, for the fork child (whose environment
 * may have been changed by the program since) */
static char lf_live_dir[PATH_MAX] HS_COLD_BSS;
/* what was created (directory and file), so that the exit unlink removes
 * that file in that directory and nothing else: set at creation and in the
 * fork child, checked by hs_livefile_remove */
static dev_t lf_dir_dev, lf_file_dev;
static ino_t lf_dir_ino, lf_file_ino;
static char lf_file_name[16];
/* The pid the file is made for, looked up once per creation (the start-up
 * asked getpid() for each name it built: ten system calls). Set by
 * hs_livefile_create and, in a fork child or after a uid change, by
 * hs_livefile_fork_child, before any name is built. */
static pid_t lf_pid;
/* The live directory as opened and checked at start-up (hs_livefile_create),
 * kept open until the file is published (hs_livefile_publish) so that the
 * profile's stale-file check and the rename need no open of their own (the
 * directory was opened three times at each start). Both calls are in the
 * same hs__init_slow: the descriptor is never open while the program runs
 * (close-on-exec besides). -1 otherwise. */
static int lf_start_dirfd = -1;

/* ds: the directory's stat, as its descriptor was checked; fs: the file's,
 * as it was created (lf_create_file); the same inodes now */
static void lf_remember(const struct stat *ds, const struct stat *fs, const char *name)
{
    lf_file_name[0] = 0;
    if (!fs->st_ino) return;          /* its stat could not be read */
    lf_dir_dev = ds->st_dev;
    lf_dir_ino = ds->st_ino;
    lf_file_dev = fs->st_dev;
    lf_file_ino = fs->st_ino;
    struct hs_sb b = HS_SB(lf_file_name, sizeof lf_file_name);
    hs_sb_str(&b, name);
}

/* this process's file name in the live directory: its pid in decimal */
static void lf_pid_name(char name[16])
{
    struct hs_sb b = HS_SB(name, 16);
    hs_sb_u64(&b, (uint64_t)lf_pid);
}

/* The name the file is made under, until its header is written: ".<pid>.new",
 * which no reader takes for a live file. Renamed to <pid> then (lf_publish),
 * so that a reader never meets a live file that is not one yet (a scan
 * between the file's creation and its header had reported "bad magic"). */
static void lf_tmp_name(char name[24])
{
    struct hs_sb b = HS_SB(name, 24);
    hs_sb_chr(&b, '.');
    hs_sb_u64(&b, (uint64_t)lf_pid);
    hs_sb_str(&b, ".new");
}

static int lf_publish(int dirfd)
{
    char tmp[24], name[16];
    lf_tmp_name(tmp);
    lf_pid_name(name);
    /* the system call, not libc's renameat: that sits in libc's stdio code,
     * whose pages a program that never prints would get resident
     * (tests/53-quiet-pages.sh) */
    return (int)syscall(SYS_renameat, dirfd, tmp, dirfd, name);
}

static const char *lf_err_text(int e)
{
    switch (e) {
    case ENOENT: return "no such file or directory";
    case EACCES: return "permission denied";
    case EPERM: return "operation not permitted";
    case EEXIST: return "already exists";
    case ENOTDIR: return "a path component is not a directory";
    case EISDIR: return "is a directory";
    case ELOOP: return "is a symlink";
    case ENOSPC: return "no space left on device";
    case EROFS: return "read-only file system";
    case ENOMEM: return "out of memory";
    case EMFILE: case ENFILE: return "too many open files";
    case ENAMETOOLONG: return "name too long";
    case EDQUOT: return "disk quota exceeded";
    case EFBIG: return "file too large";
    default: {
        const char *n = strerrorname_np(e);   /* static table, no allocation */
        return n ? n : "unknown error";
    }
    }
}

static const char *lf_say(const char *what, const char *path, const char *problem)
{
    snprintf(lf_why_buf, sizeof lf_why_buf, "%s %s: %s", what, path, problem);
    return lf_why_buf;
}

/* $HEAPSHIM_DIR, else /dev/shm/heapshim-<euid>. The euid, because that is
 * who owns the files (and whom the ownership check below expects). */
static int lf_choose_dir(char *out, size_t cap, uid_t euid, const char **why)
{
    const char *env = hs_shim_getenv ? hs_shim_getenv("HEAPSHIM_DIR") : getenv("HEAPSHIM_DIR");
    struct hs_sb b = HS_SB(out, cap);
    if (env && *env) {
        if (env[0] != '/') {
            *why = lf_say("HEAPSHIM_DIR", env, "not an absolute path (accepted: /absolute/dir)");
            return -1;
        }
        hs_sb_str(&b, env);
    } else {
        hs_sb_str(&b, "/dev/shm/heapshim-");
        hs_sb_u64(&b, (unsigned)euid);
    }
    if (!hs_sb_ok(&b)) {
        *why = lf_say("live file directory", env ? env : "", "path too long");
        return -1;
    }
    size_t n = b.len;
    while (n > 1 && out[n - 1] == '/') out[--n] = 0;   /* "dir/" -> "dir" */
    return 0;
}

/* Make the directory if it is missing, open it without following a symlink
 * and check it is private to us (euid: ours, looked up by the caller).
 * Returns a directory descriptor, its stat in *st, or -1. */
static int lf_open_private_dir(const char *dir, uid_t euid, struct stat *st_out, const char **why)
{
    /* opened first: it exists in every process but the first (mkdir and
     * lstat before it were two system calls more at each start) */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (mkdir(dir, 0700) == 0) {
            /* the umask may have taken bits away; we want exactly 0700 */
            (void)chmod(dir, 0700);
        } else if (errno != EEXIST) {
            char p[64];
            snprintf(p, sizeof p, "cannot create it: %s", lf_err_text(errno));
            *why = lf_say("live file directory", dir, p);
            return -1;
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    struct stat st_link, *st = st_out;
    if (fd < 0) {
        /* O_NOFOLLOW: a symlink in the last component is ELOOP, or ENOTDIR
         * with O_DIRECTORY (told apart by lstat, on this error path only) */
        int e = errno;
        bool link = e == ELOOP || (e == ENOTDIR && lstat(dir, &st_link) == 0 && S_ISLNK(st_link.st_mode));
        *why = lf_say("live file directory", dir,
                      link ? "is a symlink (refusing to follow it)"
                      : e == ENOTDIR ? "is not a directory" : lf_err_text(e));
        return -1;
    }
    /* decide on the descriptor: this is the directory we will create in */
    char p[160];
    const char *problem = NULL;
    if (fstat(fd, st) != 0) {
        problem = lf_err_text(errno);
    } else if (!S_ISDIR(st->st_mode)) {
        problem = "is not a directory";
    } else if (st->st_uid != euid) {
        snprintf(p, sizeof p, "owned by uid %u, not by us (uid %u); refusing to use it",
                 (unsigned)st->st_uid, (unsigned)euid);
        problem = p;
    } else if (st->st_mode & 077) {
        snprintf(p, sizeof p, "has mode %04o; group and others must have no access (chmod 700)",
                 (unsigned)(st->st_mode & 07777));
        problem = p;
    }
    if (problem) {
        close(fd);
        *why = lf_say("live file directory", dir, problem);
        return -1;
    }
    return fd;
}

/* Create <dir>/.<pid>.new in the open directory, 0600, sized; path_out gets
 * <dir>/<pid>, the name it is published under. Returns the file descriptor,
 * or -1 (nothing left behind). */
static int lf_create_file(int dirfd, const char *dir, size_t size, struct stat *fs,
                       char *path_out, size_t path_cap, const char **why)
{
    char name[16], path[PATH_MAX + 16];
    struct hs_sb pb = HS_SB(path, sizeof path);
    lf_pid_name(name);
    hs_sb_str(&pb, dir);
    hs_sb_chr(&pb, '/');
    hs_sb_str(&pb, name);
    size_t n = pb.len;
    if (!hs_sb_ok(&pb) || n >= path_cap) {
        *why = lf_say("live file", dir, "path too long");
        return -1;
    }
    int fd = -1;
    char tmp[24];
    lf_tmp_name(tmp);
    for (int attempt = 0; attempt < 2; attempt++) {
        fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST || attempt) break;
        /* left by an earlier process that had our pid (it is not running:
         * the pid is ours now). A symlink is removed, never followed. */
        if (unlinkat(dirfd, tmp, 0) != 0) {
            char p[96];
            snprintf(p, sizeof p, "exists and cannot be removed: %s", lf_err_text(errno));
            *why = lf_say("live file", path, p);
            return -1;
        }
    }
    if (fd < 0) {
        *why = lf_say("live file", path, lf_err_text(errno));
        return -1;
    }
    /* 0600 whatever the umask: set when the umask took bits away (a umask
     * takes none of 0600's in the usual 022, 027, 077: no system call) */
    if (fstat(fd, fs) != 0 || (fs->st_mode & 07777) != 0600) {
        (void)fchmod(fd, 0600);
        if (fstat(fd, fs) != 0) fs->st_ino = 0;   /* not remembered (lf_remember) */
    }
    bool fits = hs_os_file_fits(size);   /* past RLIMIT_FSIZE: SIGXFSZ, not an error */
    if (!fits || ftruncate(fd, (off_t)size) != 0) {
        char p[128];
        if (!fits) snprintf(p, sizeof p, "cannot size it: %zu bytes are over the file size limit (ulimit -f)", size);
        else snprintf(p, sizeof p, "cannot size it: %s", lf_err_text(errno));
        *why = lf_say("live file", path, p);
        close(fd);
        unlinkat(dirfd, tmp, 0);
        return -1;
    }
    memcpy(path_out, path, (size_t)n + 1);
    return fd;
}

static void lf_remove_created(int dirfd)
{
    char name[16], tmp[24];
    lf_pid_name(name);
    lf_tmp_name(tmp);
    unlinkat(dirfd, tmp, 0);
    unlinkat(dirfd, name, 0);
}

void *hs_livefile_create(size_t size, char *path_out, size_t path_cap, const char **why)
{
    const char *ignored;
    if (!why) why = &ignored;
    char dir[PATH_MAX];
    uid_t euid = geteuid();
    if (lf_choose_dir(dir, sizeof dir, euid, why) != 0) return NULL;
    struct stat ds;
    int dirfd = lf_open_private_dir(dir, euid, &ds, why);
    if (dirfd < 0) return NULL;
    lf_pid = getpid();
    struct stat fs;
    int fd = lf_create_file(dirfd, dir, size, &fs, path_out, path_cap, why);
    if (fd < 0) {
        close(dirfd);
        return NULL;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED && !hs_os_back(p, HS_LIVE_REGION_SIZE(1))) {
        /* the header and the shared slot backed now, each other slot when a
         * thread first takes it (core/heap.c): a full file system gives no
         * page for them, and a store would kill the program with SIGBUS */
        munmap(p, size);
        *why = lf_say("live file", path_out, "no space to back it (the file system is full)");
        lf_remove_created(dirfd);
        path_out[0] = 0;
        p = NULL;
    } else if (p == MAP_FAILED) {
        char msg[96];
        snprintf(msg, sizeof msg, "cannot map it: %s", lf_err_text(errno));
        *why = lf_say("live file", path_out, msg);
        lf_remove_created(dirfd);
        path_out[0] = 0;
        p = NULL;
    } else {
        memcpy(lf_live_dir, dir, strlen(dir) + 1);
        char name[16];
        lf_pid_name(name);
        lf_remember(&ds, &fs, name);   /* published once the header is written */
    }
    close(fd);
    if (p && lf_file_name[0] && lf_start_dirfd < 0) lf_start_dirfd = dirfd;   /* until hs_livefile_publish */
    else close(dirfd);
    return p;
}

int hs_livefile_start_dirfd(void) { return lf_start_dirfd; }

int hs_livefile_publish(const char **why)
{
    /* the directory kept open since the file was made: what the path
     * names now is checked (without following a symlink, as the open
     * that made it did), and the rename is made in the directory that
     * holds the file, which is that one */
    int dirfd = lf_start_dirfd;
    lf_start_dirfd = -1;
    if (!lf_file_name[0]) {           /* none made (called once, after the start-up) */
        if (dirfd >= 0) close(dirfd);
        return 0;
    }
    struct stat ds;
    int rc = -1;
    bool seen;
    if (dirfd >= 0) {
        seen = fstatat(AT_FDCWD, lf_live_dir, &ds, AT_SYMLINK_NOFOLLOW) == 0;
    } else {
        dirfd = open(lf_live_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        seen = dirfd >= 0 && fstat(dirfd, &ds) == 0;
    }
    if (seen && ds.st_dev == lf_dir_dev && ds.st_ino == lf_dir_ino) {
        rc = lf_publish(dirfd);
        if (rc != 0) {
            *why = lf_say("live file", lf_live_dir, lf_err_text(errno));
            lf_remove_created(dirfd);
        }
    } else {
        *why = lf_say("live file directory", lf_live_dir, "replaced or gone since the file was made");
    }
    if (rc != 0) lf_file_name[0] = 0;
    if (dirfd >= 0) close(dirfd);
    return rc;
}

/* Replace the shared mapping at region by private anonymous memory holding
 * the same first `used` bytes. mremap moves the copy over the old mapping in
 * one step, so the region is never absent. */
static int lf_private_copy(void *region, const void *src, size_t size, size_t used)
{
    void *tmp = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (tmp == MAP_FAILED) return -1;
    memcpy(tmp, src, used);
    if (mremap(tmp, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, region) == MAP_FAILED) {
        munmap(tmp, size);
        return -1;
    }
    return 0;
}

static void *lf_child_fail(void *region, const void *src, size_t size, size_t used, const char **why)
{
    if (lf_private_copy(region, src, size, used) != 0) {
        /* out of memory even for the copy: say so rather than pretend */
        size_t n = strlen(lf_why_buf);
        snprintf(lf_why_buf + n, sizeof lf_why_buf - n,
                 "; and no memory for a private copy: the child's counts go to the parent's file");
        *why = lf_why_buf;
    }
    return NULL;
}

HS_FORK_CODE int hs_livefile_fork_private(void *region, const void *src, size_t size, size_t used)
{
    lf_file_name[0] = 0;             /* never the parent's file to remove */
    if (used > size) used = size;
    /* the core's copy at the fork becomes the region itself (one mremap;
     * a new mapping and a second copy of its pages cost ~60 us a child) */
    if (src && hs_live_fork_take_copy(region, size)) return 0;
    return lf_private_copy(region, src ? src : region, size, used);
}

void *hs_livefile_fork_child(void *region, const void *src, size_t size, size_t used,
                             char *path_out, size_t path_cap, const char **why)
{
    const char *ignored;
    if (!why) why = &ignored;
    if (!src) src = region;
    if (used > size) used = size;
    if (path_cap) path_out[0] = 0;   /* never leave the parent's path to unlink */
    lf_file_name[0] = 0;             /* nor the parent's file to remove */
    if (!lf_live_dir[0]) {
        *why = lf_say("live file", "(none)", "no live file was created in the parent");
        return lf_child_fail(region, src, size, used, why);
    }
    struct stat ds;
    int dirfd = lf_open_private_dir(lf_live_dir, geteuid(), &ds, why);
    if (dirfd < 0) return lf_child_fail(region, src, size, used, why);
    lf_pid = getpid();                /* the child's (or, after a uid change, still ours) */
    struct stat fs;
    int fd = lf_create_file(dirfd, lf_live_dir, size, &fs, path_out, path_cap, why);
    if (fd < 0) {
        close(dirfd);
        return lf_child_fail(region, src, size, used, why);
    }
    /* the kernel copies the counters at the fork straight into the new file */
    size_t done = 0;
    while (done < used) {
        ssize_t w = pwrite(fd, (const char *)src + done, used - done, (off_t)done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    if (done < used) {
        char msg[96];
        snprintf(msg, sizeof msg, "cannot fill it: %s", lf_err_text(errno));
        *why = lf_say("live file", path_out, msg);
        goto fail;
    }
    if (lf_publish(dirfd) != 0) {     /* its header is there: a live file now */
        *why = lf_say("live file", path_out, lf_err_text(errno));
        goto fail;
    }
    if (mmap(region, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
        char msg[96];
        snprintf(msg, sizeof msg, "cannot map it: %s", lf_err_text(errno));
        *why = lf_say("live file", path_out, msg);
        /* a failed MAP_FIXED may already have dropped the old mapping; the
         * file holds the copy, so map that privately */
        if (mmap(region, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0) != MAP_FAILED) {
            close(fd);
            lf_remove_created(dirfd);
            close(dirfd);
            path_out[0] = 0;
            return NULL;
        }
        goto fail;
    }
    char name[16];
    lf_pid_name(name);
    lf_remember(&ds, &fs, name);
    close(fd);
    close(dirfd);
    return region;

fail:
    close(fd);
    lf_remove_created(dirfd);
    close(dirfd);
    path_out[0] = 0;
    return lf_child_fail(region, src, size, used, why);
}

const char *hs_livefile_dir(void) { return lf_live_dir; }

/* Relative to the directory descriptor, after checking that descriptor is
 * the directory we created the file in and that the entry is still our
 * file: with HEAPSHIM_DIR below a directory another user can write, the
 * path may by now lead somewhere else (a swapped symlink), and unlink(path)
 * would remove that user's choice of victim. */
/* the live directory, opened, if it is still the one of dir_dev/dir_ino; else -1 */
static int lf_open_own_dir(dev_t dir_dev, ino_t dir_ino)
{
    int dirfd = open(lf_live_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat ds;
    if (dirfd >= 0 && (fstat(dirfd, &ds) != 0 || ds.st_dev != dir_dev || ds.st_ino != dir_ino)) {
        close(dirfd);
        dirfd = -1;
    }
    return dirfd;
}

/* NAME in dirfd is still the regular file of file_dev/file_ino */
static bool lf_own_entry(int dirfd, const char *name, dev_t file_dev, ino_t file_ino)
{
    struct stat fs;
    return fstatat(dirfd, name, &fs, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(fs.st_mode) && fs.st_dev == file_dev &&
           fs.st_ino == file_ino;
}

void hs_livefile_unlink_own(const char *name, dev_t dir_dev, ino_t dir_ino, dev_t file_dev, ino_t file_ino)
{
    if (!name[0] || !lf_live_dir[0]) return;
    int dirfd = lf_open_own_dir(dir_dev, dir_ino);
    if (dirfd < 0) return;
    if (lf_own_entry(dirfd, name, file_dev, file_ino)) unlinkat(dirfd, name, 0);
    close(dirfd);
}

/* A collector beat within HS_LIVE_COLLECTOR_STALE seconds: its file's
 * modification time (a file dated ahead of the clock, which was set back,
 * counts as beating) */
static bool lf_collector_beats(const struct stat *st)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) return true;
    return (int64_t)now.tv_sec - (int64_t)st->st_mtim.tv_sec <= HS_LIVE_COLLECTOR_STALE;
}

/* A collector runs for this directory (live.h "Where it lives"): its file
 * is a regular file of ours, not writable by others, beating, holding the
 * pid and start time of a process that is there. One system call at exit
 * when there is no such file (the openat fails), seven when there is (the
 * file, then /proc/<pid>/stat). */
static bool lf_collector_running(int dirfd)
{
    int fd = openat(dirfd, HS_LIVE_COLLECTOR, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return false;
    struct stat st;
    char buf[24];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 022) &&
        lf_collector_beats(&st))
        n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    /* "<pid> <start time>\n": the process that made it, told apart from a
     * later one with its pid by the start time (/proc/<pid>/stat field 22) */
    uint64_t v[2] = { 0, 0 };
    int k = 0;
    for (ssize_t i = 0; i < n && buf[i] != '\n'; i++) {
        if (buf[i] == ' ' && k == 0) {
            k = 1;
            continue;
        }
        if (buf[i] < '0' || buf[i] > '9' || v[k] > (UINT64_MAX - 9) / 10) return false;
        v[k] = v[k] * 10 + (uint64_t)(buf[i] - '0');
    }
    if (v[0] == 0 || v[0] > 0x7fffffff || k != 1 || v[1] == 0) return false;
    return hs_proc_start_time((int)v[0]) == v[1];
}

bool hs_livefile_collector_running(void)
{
    if (!lf_live_dir[0]) return false;
    int err = errno;
    int dirfd = lf_open_own_dir(lf_dir_dev, lf_dir_ino);
    bool yes = dirfd >= 0 && lf_collector_running(dirfd);
    if (dirfd >= 0) close(dirfd);
    errno = err;
    return yes;
}

void hs_livefile_remove(const char *path, bool exiting)
{
    if (!path || !path[0] || !lf_file_name[0] || !lf_live_dir[0]) return;
    const char *slash = strrchr(path, '/');
    if (!slash || strcmp(slash + 1, lf_file_name) != 0) return;   /* not the file we made */
    if (!exiting) {
        hs_livefile_unlink_own(lf_file_name, lf_dir_dev, lf_dir_ino, lf_file_dev, lf_file_ino);
        lf_file_name[0] = 0;
        return;
    }
    /* at exit: kept for a running collector under a name of its own
     * (live.h), else removed; the same identity checks as
     * hs_livefile_unlink_own, on one descriptor of the directory */
    int err = errno;
    int dirfd = lf_open_own_dir(lf_dir_dev, lf_dir_ino);
    if (dirfd >= 0 && lf_own_entry(dirfd, lf_file_name, lf_file_dev, lf_file_ino)) {
        bool kept = false;
        if (lf_collector_running(dirfd)) {
            char to[64];
            struct hs_sb b = HS_SB(to, sizeof to);
            hs_sb_str(&b, HS_LIVE_EXITED_PREFIX);
            hs_sb_str(&b, lf_file_name);
            hs_sb_chr(&b, '.');
            hs_sb_u64(&b, (uint64_t)lf_file_ino);   /* unique while the file is there */
            kept = hs_sb_ok(&b) && renameat(dirfd, lf_file_name, dirfd, to) == 0;
        }
        if (!kept) unlinkat(dirfd, lf_file_name, 0);
    }
    if (dirfd >= 0) close(dirfd);
    errno = err;
    lf_file_name[0] = 0;
}

/* After the process changed its effective uid (a server dropping root):
 * make the live file again in the new user's default directory, owned by
 * that user, holding the counters as they are, and map it over the region
 * (the old file was removed by the caller while it still could). Same
 * steps as a fork child's file, in another directory. NULL with *why when
 * it could not: the region is then private memory, as in a child whose
 * file failed. */
void *hs_livefile_rehome(void *region, size_t size, size_t used, char *path_out, size_t path_cap,
                         const char **why)
{
    const char *ignored;
    if (!why) why = &ignored;
    char dir[PATH_MAX];
    if (lf_choose_dir(dir, sizeof dir, geteuid(), why) != 0) return lf_child_fail(region, region, size, used, why);
    memcpy(lf_live_dir, dir, strlen(dir) + 1);
    return hs_livefile_fork_child(region, region, size, used, path_out, path_cap, why);
}
