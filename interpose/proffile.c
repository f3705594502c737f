/*
 * interpose/proffile.c - the sampled heap profile's settings and its file.
 *
 * Room: HEAPSHIM_PROFILE_* (parsed once, at start-up, into the core's
 * sampler: core/sample.h), the shared file $HEAPSHIM_DIR/<pid>.prof that
 * holds the profile (layout include/heapshim/profile.h, contents written by
 * core/sample.c), a fork child's own once it lives on, and at exit its copy into
 * HEAPSHIM_PROFILE_OUT and its removal. Runs inside malloc: system calls,
 * stack and static buffers only.
 *
 * Safety as for the live file (livefile.c): created in the live directory
 * that livefile.c created and checked, through a directory descriptor
 * (O_NOFOLLOW|O_DIRECTORY, owner and mode checked again on it), with
 * O_EXCL|O_NOFOLLOW, mode 0600; removed fd-relative and only if the entry
 * is still the file this process made.
 */
#include "shim.h"
#include "livefile.h"
#include "proffile.h"
#include "strbuf.h"
#include "../core/sample.h"
#include "../core/unwind.h"
#include "../core/prim/proc.h"
#include <heapshim/profile.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_RATE (512u * 1024u)

static char out_dir[PATH_MAX] HS_COLD_BSS;        /* HEAPSHIM_PROFILE_OUT, or "" */
static char file_name[32];            /* "<pid>.prof" once created */
static dev_t dir_dev, file_dev;
static ino_t dir_ino, file_ino;

/* decimal bytes with an optional k/K, m/M, g/G suffix (KiB, MiB, GiB) */
static int parse_rate(const char *v, uint64_t *out)
{
    uint64_t x = 0;
    const char *p = v;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (x > (UINT64_MAX - 9) / 10) return -1;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    unsigned shift = 0;
    if (*p == 'k' || *p == 'K') shift = 10, p++;
    else if (*p == 'm' || *p == 'M') shift = 20, p++;
    else if (*p == 'g' || *p == 'G') shift = 30, p++;
    if (*p == 'i' && shift) p++;
    if ((*p == 'b' || *p == 'B') && shift) p++;
    if (*p) return -1;
    if (x > ((uint64_t)1 << 40) >> shift) return -1;
    *out = x << shift;
    return 0;
}

void hs_profile_setup(void)
{
    uint64_t rate = DEFAULT_RATE, seed = 0;
    bool seeded = false;
    int unwind = HS_UNWIND_DWARF;
    const char *v = hs_shim_getenv("HEAPSHIM_PROFILE_RATE");
    /* malloc mode promises the program glibc's own blocks: a sampled block
     * (behind a header) would break that, so there sampling is asked for */
    if (hs_shim.mode == HS_MODE_MALLOC && !(v && *v)) rate = 0;
    if (v && *v && parse_rate(v, &rate) != 0) {
        hs_shim_warn("HEAPSHIM_PROFILE_RATE=", v,
                     ": not a size (accepted: bytes 0..1T, optional k/m/g suffix, 0 = off); using the default (512k; off in malloc mode)");
        rate = hs_shim.mode == HS_MODE_MALLOC ? 0 : DEFAULT_RATE;
    }
    v = hs_shim_getenv("HEAPSHIM_PROFILE_SEED");
    if (v && *v) {
        uint64_t s = 0;
        const char *p = v;
        for (; *p >= '0' && *p <= '9' && s <= (UINT64_MAX - 9) / 10; p++) s = s * 10 + (uint64_t)(*p - '0');
        if (*p || p == v) hs_shim_warn("HEAPSHIM_PROFILE_SEED=", v, ": not a decimal number; using a random seed");
        else seed = s, seeded = true;
    }
    v = hs_shim_getenv("HEAPSHIM_PROFILE_UNWIND");
    if (v && *v) {
        if (!strcmp(v, "fp")) unwind = HS_UNWIND_FP;
        else if (!strcmp(v, "libgcc")) unwind = HS_UNWIND_LIBGCC;
        else if (!strcmp(v, "verify")) unwind = HS_UNWIND_VERIFY;
        else if (strcmp(v, "dwarf") != 0)
            hs_shim_warn("HEAPSHIM_PROFILE_UNWIND=", v,
                         ": unknown (accepted: dwarf, libgcc, fp, verify); using dwarf");
    }
    v = hs_shim_getenv("HEAPSHIM_PROFILE_OUT");
    if (v && *v) {
        if (v[0] != '/' || strlen(v) >= sizeof out_dir - 40)
            hs_shim_warn("HEAPSHIM_PROFILE_OUT=", v, ": not an absolute directory path; no profile at exit");
        else
            strcpy(out_dir, v);
    }
    hs_sample_configure(rate, seed, seeded, unwind);
}

static int open_dir(void);
static bool dir_ok(int fd);

void hs_profile_live_dir_ready(void)
{
    /* A <pid>.prof here now is not ours (ours is made at the first
     * sample): an earlier image of this very process left it when it
     * exec()ed us (a fork child's copy, or a shell's own), or a dead
     * process that had our pid did. It would pass for our profile (same
     * pid, same start time), and a shell script left one per command.
     * The directory as the live file's creation left it open (checked
     * again here, as open_dir would), else opened anew. */
    int held = hs_livefile_start_dirfd();
    int dirfd = held >= 0 ? (dir_ok(held) ? held : -1) : open_dir();
    if (dirfd >= 0) {
        char name[32];
        struct hs_sb b = HS_SB(name, sizeof name);
        hs_sb_u64(&b, (uint64_t)getpid());
        hs_sb_str(&b, ".prof");
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
            (void)unlinkat(dirfd, name, 0);
        if (dirfd != held) close(dirfd);
    }
    /* the unwind rules kept between processes, when there will be walks */
    if (hs_sample_rate()) hs_unwind_store_at(hs_livefile_dir());
}

/* an open live directory, checked again: private and ours (its identity
 * noted for the removal of our file) */
static bool dir_ok(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 077)) return false;
    dir_dev = st.st_dev;
    dir_ino = st.st_ino;
    return true;
}

/* the live directory, opened and checked again */
static int open_dir(void)
{
    const char *dir = hs_livefile_dir();
    if (!dir || !dir[0]) return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    if (!dir_ok(fd)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* create <pid>.prof of `size` bytes in the open directory; fd or -1 */
static int create_file(int dirfd, size_t size)
{
    char name[32];
    struct hs_sb b = HS_SB(name, sizeof name);
    hs_sb_u64(&b, (uint64_t)getpid());
    hs_sb_str(&b, ".prof");
    int fd = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST || attempt) break;
        if (unlinkat(dirfd, name, 0) != 0) return -1;   /* left by an earlier holder of our pid */
    }
    if (fd < 0) return -1;
    struct stat st;
    if (fchmod(fd, 0600) != 0 || !hs_os_file_fits(size) || ftruncate(fd, (off_t)size) != 0 || fstat(fd, &st) != 0) {
        close(fd);
        unlinkat(dirfd, name, 0);
        return -1;
    }
    file_dev = st.st_dev;
    file_ino = st.st_ino;
    memcpy(file_name, name, sizeof name);
    return fd;
}

void *hs__platform_profile_region(size_t size)
{
    int dirfd = open_dir();
    if (dirfd < 0) return NULL;
    int fd = create_file(dirfd, size);
    void *p = NULL;
    if (fd >= 0) {
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        /* the header's page backed now (the tables' pages as they grow,
         * core/sample.c): a full file system makes the profile private
         * memory (the caller's fallback), not a SIGBUS at the first store */
        if (p != MAP_FAILED && !hs_os_back(p, sizeof(struct hs_prof_header))) {
            munmap(p, size);
            p = MAP_FAILED;
        }
        if (p == MAP_FAILED) {
            p = NULL;
            unlinkat(dirfd, file_name, 0);
            file_name[0] = 0;
        }
        close(fd);
    }
    close(dirfd);
    return p;
}

static int page_is_zero(const char *p)
{
    const uint64_t *w = (const uint64_t *)p;
    for (size_t i = 0; i < 4096 / 8; i++)
        if (w[i]) return 0;
    return 1;
}

/* Which pages of the region are worth reading? A page of the region's file
 * that was never written is a hole, and reading it through the shared
 * mapping makes tmpfs allocate it (a full file system: SIGBUS, in the
 * program). mincore tells without touching it: not in memory, it is a hole,
 * all zeros (or a page swapped out, read as zeros: a copy of the profile
 * then lacks it). One call for the whole region, into a vector of one byte
 * a page (a call a page, 3,769 of them for the 15 MiB region, cost
 * milliseconds). A private region (no file: a fork child's before it made
 * one, or a region mincore cannot answer for) is read as it is. */
#define REGION_PAGES_MAX 8192u       /* the region is 3,769 pages (core/sample.c) */
static unsigned char *resident;       /* a mapping of its own while a copy is made */

static bool pages_readable(const char *r, size_t size, bool shared)
{
    size_t n = size / 4096;
    if (n > REGION_PAGES_MAX) n = REGION_PAGES_MAX;
    resident = hs_os_map(REGION_PAGES_MAX);
    if (!resident) return false;
    if (!shared || mincore((void *)r, n * 4096, resident) != 0) memset(resident, 1, n);
    return true;
}

static void pages_done(void)
{
    if (resident) hs_os_unmap(resident, REGION_PAGES_MAX);
    resident = NULL;
}

/* (no vector: no memory even for it; nothing is read) */
static bool page_readable(size_t off) { return resident && off / 4096 < REGION_PAGES_MAX && (resident[off / 4096] & 1); }

/* the region's pages that hold something, written at their offsets into
 * fd (zero pages and holes stay holes); false on a write error */
static bool copy_pages(int fd, const char *r, size_t size)
{
    for (size_t off = 0; off < size; off += 4096) {
        if (!page_readable(off) || page_is_zero(r + off)) continue;
        if (pwrite(fd, r + off, 4096, (off_t)off) != 4096) return false;
    }
    return true;
}

/* Fork child, single-threaded. Most fork children exec or exit within
 * milliseconds, so the child's file is made only when its live file is
 * (hs_profile_publish, from interpose/lifecycle.c): until then the region
 * is private memory with the parent's contents at the fork. Making the
 * file here (create, size, a mincore of the 15 MiB region, a write per
 * page, map) cost a sampled shell about 350 us per fork child. */
static bool pending;                  /* the region is private; its file is due */

HS_FORK_CODE static void fork_child(void)
{
    bool shared = file_name[0] != 0;  /* the region is the parent's file */
    file_name[0] = 0;
    pending = hs_sample_region() != NULL && (!shared || hs_sample_fork_private());
}

/* Remove <pid>.prof, only if the entry is still the file this process made
 * (the directory and the file as created: dir_dev/ino, file_dev/ino). */
static void remove_own_file(void)
{
    if (!file_name[0]) return;
    hs_livefile_unlink_own(file_name, dir_dev, dir_ino, file_dev, file_ino);
    file_name[0] = 0;
}

void hs_profile_publish(void)
{
    if (!pending) return;
    pending = false;
    size_t size = hs_sample_region_size();
    void *p = hs__platform_profile_region(size);   /* the file, mapped; or NULL: stays private */
    if (p && !hs_sample_publish(p)) {
        munmap(p, size);
        remove_own_file();
    }
}

HS_FORK_CODE void hs_profile_fork(int phase)
{
    if (phase == 2) fork_child();     /* before the core writes the child's pid into it */
    hs_sample_fork(phase);
    if (phase == 0 && file_name[0]) hs_sample_fork_snapshot();   /* under the profile's lock */
}

static void write_copy(const struct hs_prof_header *r, size_t size)
{
    char path[PATH_MAX + 48], tmp[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%d.prof", out_dir, (int)getpid());
    snprintf(tmp, sizeof tmp, "%s/.%d.prof.tmp", out_dir, (int)getpid());
    /* only a new name or a regular file is replaced; the temporary is ours
     * alone (O_EXCL: a file of that name is not truncated, nor removed) */
    struct stat at;
    if (lstat(path, &at) == 0 && !S_ISREG(at.st_mode)) {
        hs_shim_warn("HEAPSHIM_PROFILE_OUT: ", path, " is not a regular file: not replaced; no profile written");
        return;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        hs_shim_warn("HEAPSHIM_PROFILE_OUT: cannot create ", tmp, "; no profile written");
        return;
    }
    bool ok = hs_os_file_fits(size) && pages_readable((const char *)r, size, file_name[0] != 0) &&
              copy_pages(fd, (const char *)r, size);
    pages_done();
    if (ok && ftruncate(fd, (off_t)size) != 0) ok = false;
    if (close(fd) != 0) ok = false;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        hs_shim_warn("HEAPSHIM_PROFILE_OUT: cannot write ", path, "; no profile written");
    }
}

HS_FORK_CODE void hs_profile_exit(void)
{
    hs_unwind_store_save();
    struct hs_prof_header *r = hs_sample_region();
    if (r && out_dir[0]) {
        r->flags |= HS_PROF_F_EXITED;
        if (!r->start_time) r->start_time = hs_proc_start_time(getpid());   /* a fork child's, not read yet */
        write_copy(r, hs_sample_region_size());
    }
    remove_own_file();
}
