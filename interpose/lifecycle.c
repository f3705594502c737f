/*
 * interpose/lifecycle.c - the shim's start, fork and end.
 *
 * Room: glue between the core and the process. At the first allocation the
 * core asks hs__platform_config() what to do (environment, live file); at
 * fork the child gets a live file of its own; at exit the final snapshot is
 * published, the report written, the table printed and the live file
 * removed. Nothing here may allocate through malloc before the core is up.
 */
#include <malloc.h>
#include "shim.h"
#include "livefile.h"
#include "report.h"
#include "python.h"
#include "proffile.h"
#include "mapped.h"
#include "../core/prim/proc.h"
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

/* live_path names this process's file only while path_pid is owner_pid:
 * a fork child (a new owner_pid) has no path without writing the 4 KiB
 * buffer, whose page would cost the child a copy-on-write fault (45 us on
 * this VM) at every fork. Cleared by path_pid = 0. */
static char live_path[PATH_MAX] HS_COLD_BSS;
static pid_t path_pid;
static void *live_region;
static size_t live_size;
static uint64_t started_unix_ns;
static pid_t owner_pid;

static bool have_path(void) { return path_pid != 0 && path_pid == owner_pid && live_path[0]; }
/* after a call that may have written live_path: ours if it did */
static void path_taken(void) { path_pid = live_path[0] ? owner_pid : 0; }
static bool report_dir_at_start;     /* HEAPSHIM_REPORT's directory was there (report.h) */

/* per-mode base allocators for the domain table: glibc behind our header */
#define DOM_OF(ctx) ((unsigned)(uintptr_t)(ctx))
static void *sys_malloc_h(void *ctx, size_t n) { return hs_counted_large(DOM_OF(ctx), n ? n : 1, false, 0); }
static void *sys_calloc_h(void *ctx, size_t ne, size_t es)
{
    size_t n;
    if (__builtin_mul_overflow(ne, es, &n)) {
        hs_count_failed(DOM_OF(ctx));
        return NULL;
    }
    return hs_counted_large(DOM_OF(ctx), n ? n : 1, true, 0);
}
static void *sys_realloc_h(void *ctx, void *p, size_t n)
{
    return hs_pymalloc_realloc(DOM_OF(ctx), p, n ? n : 1);   /* large stays large */
}
static void sys_free_h(void *ctx, void *p) { (void)ctx; hs_pymalloc_free(p); }

static void install_sys_allocator(unsigned dom)
{
    hs_allocator_t a = { (void *)(uintptr_t)dom, sys_malloc_h, sys_calloc_h, sys_realloc_h, sys_free_h };
    hs_set_allocator((hs_domain_t)dom, &a);
}

void hs__platform_config(struct hs_core_config *cfg)
{
    hs_shim_read_env();        /* the settings first: noting the stderr writes hs_shim too */
    hs_shim_note_stderr();
    hs_profile_setup();
    if (hs_shim.stats) hs_shim_keep_stderr();
    owner_pid = getpid();
    started_unix_ns = hs_unix_ns();

    if (hs_shim.have_report) {
        char probe[PATH_MAX];
        if (hs_report_expand_path(hs_shim.report, probe, sizeof probe) != 0) {
            hs_shim_warn("HEAPSHIM_REPORT: bad template '", hs_shim.report,
                         "' (accepted: a path where %p is the pid and %% a percent sign); no report");
            hs_shim.have_report = false;
        } else {
            report_dir_at_start = hs_report_dir_exists(hs_shim.report);
        }
    }
    if (hs_shim.publish) {
        const char *why = NULL;
        size_t size = HS_LIVE_REGION_SIZE(HS_LIVE_MAX_SLOTS);
        live_region = hs_livefile_create(size, live_path, sizeof live_path, &why);
        path_taken();
        if (live_region) {
            hs_profile_live_dir_ready();
            live_size = size;
            cfg->live_region = live_region;
            cfg->live_region_size = size;
        } else {
            const char *dir = hs_shim_getenv("HEAPSHIM_DIR");
            hs_shim_warn(dir && *dir ? "HEAPSHIM_DIR: " : "live counters: ", why ? why : "unknown error",
                         "; live counters not published (accepted: HEAPSHIM_DIR naming a directory of"
                         " yours with mode 0700, or HEAPSHIM_PUBLISH=0)");
        }
    }
    cfg->allocator_name = hs_shim.allocator_name;
    cfg->labels = hs_shim_getenv("HEAPSHIM_LABELS");

    /* RAW through the shim is glibc behind our header, so free() can tell
     * it apart; in malloc mode MEM and OBJ are too. */
    install_sys_allocator(HS_DOMAIN_RAW);
    if (hs_shim.mode == HS_MODE_MALLOC) {
        install_sys_allocator(HS_DOMAIN_MEM);
        install_sys_allocator(HS_DOMAIN_OBJ);
    }
}

/* Default mode: glibc serves the MEM blocks above HS_SMALL_MAX, bare. glibc
 * gives the top of its heap back as soon as more than its trim threshold is
 * free there (128 KiB at first, twice the mmap threshold once that has
 * risen), so a program that frees and allocates large blocks in turn
 * faults the same pages in again and again. We keep up to 64 MiB of free
 * heap top instead. Setting the trim threshold turns off glibc's rule for
 * raising its mmap threshold (from 128 KiB to the size of each larger mapped
 * block freed, at most 32 MiB), so the core applies that rule itself
 * (hs_sys_free, core/internal.h): which blocks are mapped stays glibc's
 * choice, and a program's medium blocks are mapped, and given back at free,
 * exactly until it frees a mapped one, as under glibc.
 *
 * Measured (peak RSS, faults, time; medians of 3): wl_large 300 (blocks of
 * 1 KiB to 4 MiB reused) and python3 alloc_churn.py 8. glibc alone: 28.3
 * MiB, 14.2k faults, 0.43 s; 35.0 MiB. Both thresholds fixed at 32 / 64 MiB
 * (before): 26.9 MiB, 6.4k, 0.22 s; 37.4 MiB (python +7%: its blocks of 128
 * KiB to 1 MiB sat in the heap). This rule: see docs/rss.md.
 * The user's own choice wins: nothing is set when GLIBC_TUNABLES names a
 * malloc tunable, and a later mallopt() of the program overrides this. */
extern int __libc_mallopt(int param, int value);
static void glibc_start_thresholds(void)
{
    const char *t = hs_shim_getenv("GLIBC_TUNABLES");
    if ((t && strstr(t, "glibc.malloc.")) || hs_sys_usable_fn) return;   /* not glibc's heap behind us */
    if (!__libc_mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024)) return;
    HS_STORE(&hs_sys_mmap_dyn, (size_t)128 * 1024);   /* glibc's starting mmap threshold */
}

/* The program's mallopt: glibc's. One that sets a threshold (or the top
 * pad, or the most mappings) turns glibc's rule off for good, and so it
 * turns off the shim's copy of it: the program's settings stay as it made
 * them. */
extern int __libc_mallopt(int param, int value);
__attribute__((visibility("default"))) int mallopt(int param, int value)
{
    if (param == M_MMAP_THRESHOLD || param == M_TRIM_THRESHOLD || param == M_TOP_PAD || param == M_MMAP_MAX)
        HS_STORE(&hs_sys_mmap_dyn, 0);
    return __libc_mallopt(param, value);
}

/* The core calls this once it is up (see hs__init_slow) -- debug hooks need
 * the domain table settled. */
void hs__platform_ready(void)
{
    hs_override_check_first();
    const char *why = NULL;
    if (hs_livefile_publish(&why) != 0) {
        path_pid = 0;
        hs_shim_warn("live counters not published: ", why ? why : "unknown error", "");
    }
    if (hs_shim.debug) hs_setup_debug_hooks();
    else if (hs_shim.mode == HS_MODE_PYMALLOC) glibc_start_thresholds();
}

/*
 * A fork child's live file. Most fork children live a few milliseconds:
 * a shell's subshells and command substitutions, and every fork() that
 * is followed by exec() (whose new image makes a file of its own). A file
 * for each (create, size, back, fill, rename, map; at exit remove) was
 * about a third of what the shim added to a fork+exit (a shell's ( : )
 * took 1.0 ms instead of 0.5; 0.8 without files). So the child's counters
 * start in private memory -- a copy of the parent's at the fork, exact as
 * before -- and become a live file when the child has shown it will live:
 * at its first clock look (every HS_LIVE_TICK_OPS counting operations) at
 * least HS_LIVE_CHILD_NS after the fork, at a claim once it holds
 * HS_LIVE_CHILD_BYTES, before it starts a thread (pthread_create below:
 * the copy is made with no other thread counting) or forks a child of its
 * own, when it calls setsid() (a daemon on its way: nginx's master forks
 * its workers and then only waits), before a change of uid, and in
 * daemon(). A child that execs or exits sooner never has a file; its
 * report (HEAPSHIM_REPORT), the in-process statistics and the probe's USDT
 * points are as before. One that does none of these and sleeps without
 * allocating is not listed by readers until it allocates.
 */
#define HS_LIVE_CHILD_NS (20 * 1000000ull)
/* hs_live_pending (core): this process's counters are private, no file yet */
static uint64_t live_pending_ns;    /* since when (hs_now_ns) */

/* the file now; profile: the profile's file too (not at exit, where it
 * would be removed at once) */
static void live_pending_to_file(bool force, bool profile);
static void live_publish_pending(bool force) { live_pending_to_file(force, true); }

static void live_pending_to_file(bool force, bool profile)
{
    if (!HS_LOAD(&hs_live_pending) || getpid() != owner_pid) return;
    if (!force && hs_now_ns() - live_pending_ns < HS_LIVE_CHILD_NS) return;
    int err = errno;
    HS_STORE(&hs_live_pending, 0);
    const char *why = NULL;
    size_t used = hs_live->slots_offset + (size_t)HS_LOAD(&hs_live->slots_used) * sizeof(struct hs_live_slot);
    hs_live_fill_child_identity(hs_live, false);   /* the time the file is made */
    bool made = hs_livefile_fork_child(live_region, NULL, live_size, used, live_path, sizeof live_path, &why) != NULL;
    path_taken();
    if (!made) {
        path_pid = 0;
        struct stat st;
        const char *dir = hs_livefile_dir();
        if (!(dir[0] && stat(dir, &st) != 0 && (errno == ENOENT || errno == ENOTDIR)))
            hs_shim_warn("live counters of the fork child not published: ", why ? why : "unknown error", "");
    }
    if (profile) hs_profile_publish();     /* the profile's file, made now too */
    errno = err;
}

void hs__platform_pending(bool big) { live_publish_pending(big); }

__attribute__((visibility("default"))) pid_t setsid(void)
{
    if (HS_UNLIKELY(HS_LOAD(&hs_live_pending))) live_publish_pending(true);
    return (pid_t)syscall(SYS_setsid);
}

__attribute__((visibility("default"))) int pthread_create(pthread_t *t, const pthread_attr_t *attr,
                                                          void *(*start)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real) real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(RTLD_NEXT, "pthread_create");
    if (!real) return ENOSYS;
    if (HS_UNLIKELY(HS_LOAD(&hs_live_pending))) live_publish_pending(true);
    return real(t, attr, start, arg);
}

/* the fork child's live region, its own from here on: a private copy (the
 * file comes later, live_publish_pending) or, when no memory is left for
 * that, a file made now */
HS_FORK_CODE static void live_fork_child(void)
{
    const char *why = NULL;
    /* the counters as they were at the fork (the parent goes on writing its file) */
    size_t used;
    const void *src = hs_live_fork_copy(&used);
    if (!src) used = hs_live->slots_offset + (size_t)HS_LOAD(&hs_live->slots_used) * sizeof(struct hs_live_slot);
    if (path_pid || HS_LOAD(&hs_live_pending)) {   /* the parent had a file, or its counters private */
        path_pid = 0;                /* the parent's path: never ours to remove */
        if (hs_livefile_fork_private(live_region, src, live_size, used) == 0) {
            live_pending_ns = hs_now_ns();
            HS_STORE(&hs_live_pending, 1);
            return;
        }
    }
    bool made = hs_livefile_fork_child(live_region, src, live_size, used, live_path, sizeof live_path, &why) != NULL;
    path_taken();
    if (!made) {
        path_pid = 0;
        /* a directory the process can no longer reach (it chroot()ed since
         * start): the child's counters stay private, without a line in the
         * program's output; any other failure is said */
        struct stat st;
        const char *dir = hs_livefile_dir();
        int err = errno;
        if (!(dir[0] && stat(dir, &st) != 0 && (errno == ENOENT || errno == ENOTDIR)))
            hs_shim_warn("live counters of the fork child not published: ", why ? why : "unknown error", "");
        errno = err;
    }
}

HS_FORK_CODE void hs__platform_fork(int phase)
{
    if (phase == 0 && HS_UNLIKELY(HS_LOAD(&hs_live_pending))) live_publish_pending(true);   /* a child that forks lives on */
    if (phase == 2) {
        /* the live region first: until it is the child's own, hs_live is
         * the parent's file and nothing may be written into it */
        owner_pid = getpid();
        if (live_region) live_fork_child();
        hs_live_fork_base();      /* what it counted so far is the parent's */
        /* the child's pid and parent; its start time is read when its
         * file is made (live_publish_pending; the profile's header takes
         * it from there, and the eBPF probe from the kernel until then) */
        hs_live_fill_child_identity(hs_live, true);
        /* a file made at once (no memory for a private copy): its start
         * time now, for the readers that check it */
        if (have_path()) hs_live_fill_child_identity(hs_live, false);
    }
    hs_profile_fork(phase);
    /* a child whose live file was made at once (no memory for a private
     * copy) gets its profile's file at once too */
    if (phase == 2 && !HS_LOAD(&hs_live_pending)) hs_profile_publish();
    hs_mapped_fork(phase);
}

/* Before an exec (interpose/exec.c). The eBPF probe folds an image that
 * execs from the last figures its heapshim:publish point gave (the exec
 * ends the image without an exit, and its counters go with its memory), so
 * whatever it counted since was lost: a shell's last command lines, a
 * wrapper's set-up. Published now, forced -- only while such a tracer is
 * attached, so that an exec costs nothing more otherwise; not in a vfork
 * child, which runs in our memory but is not us. errno is the caller's. */
void hs_shim_before_exec(void)
{
    if (hs_initialized != 2 || !hs_live_traced()) return;
    int err = errno;
    if (getpid() == owner_pid) hs_live_publish(true);
    errno = err;
}

/* Start at load time too, so a process that never allocates still has a
 * live file and a report (the first malloc usually comes first anyway). */
static void shim_exit(void);
static void shim_quick_exit(void) { shim_exit(); }

__attribute__((constructor)) static void shim_start(int argc, char **argv)
{
    int saved = errno;   /* zero at main, as without the shim */
    hs_proc_set_args(argc, argv);   /* the command line without a /proc read */
    hs__init();
    hs_proc_set_args(0, NULL);
    hs_python_start();   /* CPython's domains, when the process exports its allocator API */
    hs_exec_setup();     /* glibc's execvpe, found now: not in a child (exec.c) */
    /* quick_exit(3) runs its handlers, then leaves through glibc's internal
     * _exit, which neither our _exit nor a destructor sees: no report, no
     * table, and the live file was left behind. Registered first, ours runs
     * after the program's own handlers (they run in reverse order). */
    at_quick_exit(shim_quick_exit);
    errno = saved;
}

HS_FORK_CODE static void shim_exit(void)
{
    static int done;
    if (hs_initialized != 2) hs__init();
    /* a vfork/posix_spawn child shares our memory but is not us */
    if (hs_initialized != 2 || getpid() != owner_pid || done) return;
    done = 1;
    /* a fork child whose counters are still private (it lived less than
     * HS_LIVE_CHILD_NS): its final figures in a file for a collector that
     * runs (include/heapshim/live.h "Where it lives"), which would
     * otherwise never see its calls */
    if (HS_LOAD(&hs_live_pending) && hs_livefile_collector_running()) live_pending_to_file(true, false);
    hs_live_publish(true);
    HS_STORE(&hs_live->state, HS_LIVE_STATE_EXITED);
    if (hs_shim.have_report) {
        const char *why = NULL;
        int rc = hs_report_write(hs_shim.report, hs_shim.allocator_name, started_unix_ns, &why);
        if (rc != 0 && !(rc == -2 && (report_dir_at_start || hs_shim.report_optional)))
            hs_shim_warn("HEAPSHIM_REPORT: report not written: ", why ? why : "unknown error", "");
    }
    if (hs_shim.stats) hs_report_table(hs_shim_errfd(), hs_shim.allocator_name);
    hs_profile_exit();
    hs_route_warn_unmatched();
    if (have_path()) hs_livefile_remove(live_path, true);
    path_pid = 0;
}

__attribute__((destructor)) static void shim_fini(void) { shim_exit(); }

/* Programs that leave through _exit (dash, many fork children) skip
 * destructors; catch them here so they are reported and their live file is
 * removed like everybody else's. */
__attribute__((visibility("default"), noreturn)) void _exit(int status)
{
    shim_exit();
    for (;;) syscall(SYS_exit_group, status);
}

__attribute__((visibility("default"), noreturn)) void _Exit(int status)
{
    shim_exit();
    for (;;) syscall(SYS_exit_group, status);
}

/* daemon(3): glibc's leaves the parent through its internal _exit, which
 * the interposed one above never sees, so the parent's live file stayed
 * behind (a stale file in every `top` of a daemon-started server). The
 * same steps as glibc's, with the parent leaving through our _exit. */
__attribute__((visibility("default"))) int daemon(int nochdir, int noclose)
{
    pid_t p = fork();
    if (p < 0) return -1;
    if (p > 0) _exit(0);
    live_publish_pending(true);       /* a daemon lives on: listed at once */
    if (setsid() < 0) return -1;
    if (!nochdir && chdir("/") != 0) return -1;
    if (!noclose) {
        int fd = open("/dev/null", O_RDWR);
        struct stat st;
        if (fd < 0) return -1;
        if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode)) {
            close(fd);
            errno = ENODEV;
            return -1;
        }
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2) close(fd);
    }
    return 0;
}

/* Privilege changes: a server started as root that becomes www-data (nginx's
 * workers, postgres, redis with a user) had its live file in root's
 * directory, which it could no longer unlink at exit: every worker left a
 * stale file there, and its own user's `heapshim top` never listed it.
 * Around a call that changes the effective uid (dropping root, or taking it
 * back with seteuid(0): a fork child of a process that had dropped and
 * regained root could not make its file in nobody's directory, and said
 * so on the program's stderr), the file is removed while the old uid still
 * can, and made again after the call in the directory of whoever the
 * process is then (HEAPSHIM_DIR set by the user: left alone, as the
 * directory does not depend on the uid). errno is the call's. Counts made
 * by other threads during the move may be lost: servers drop privileges
 * before they start threads. */
static int uid_move_begin(long new_euid)
{
    /* a fork child's counters still private: their file first, so that it
     * moves like any other */
    if (HS_LOAD(&hs_live_pending) && new_euid != -1 && (uid_t)new_euid != geteuid()) live_publish_pending(true);
    if (!have_path() || !live_region || new_euid == -1 || (uid_t)new_euid == geteuid()) return 0;
    const char *d = hs_shim_getenv("HEAPSHIM_DIR");
    if (d && *d) return 0;
    if (getpid() != owner_pid) return 0;
    hs_livefile_remove(live_path, false);
    path_pid = 0;
    return 1;
}

static void uid_move_end(int moved)
{
    if (!moved) return;
    int err = errno;                  /* the call's */
    size_t used = hs_live->slots_offset + (size_t)HS_LOAD(&hs_live->slots_used) * sizeof(struct hs_live_slot);
    const char *why = NULL;
    bool made = hs_livefile_rehome(live_region, live_size, used, live_path, sizeof live_path, &why) != NULL;
    path_taken();
    if (!made) {
        path_pid = 0;
        hs_shim_warn("live counters not published after the uid change: ", why ? why : "unknown error", "");
    } else {
        hs_live_fill_identity(hs_live);
    }
    errno = err;
}

#define UID_WRAP(name, params, args, euid)                                  \
    __attribute__((visibility("default"))) int name params                  \
    {                                                                       \
        static int (*real) params;                                          \
        if (!real) real = (int (*) params)dlsym(RTLD_NEXT, #name);          \
        if (!real) {                                                        \
            errno = ENOSYS;                                                 \
            return -1;                                                      \
        }                                                                   \
        int moved = uid_move_begin(euid);                                   \
        int r = real args;                                                  \
        uid_move_end(moved);                                                \
        return r;                                                           \
    }
UID_WRAP(setuid, (uid_t u), (u), (long)u)
UID_WRAP(seteuid, (uid_t e), (e), (long)e)
UID_WRAP(setreuid, (uid_t r_, uid_t e), (r_, e), e == (uid_t)-1 ? -1L : (long)e)
UID_WRAP(setresuid, (uid_t r_, uid_t e, uid_t s_), (r_, e, s_), e == (uid_t)-1 ? -1L : (long)e)
