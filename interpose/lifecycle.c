/*
 * interpose/lifecycle.c - the shim's start, fork and end.
 *
 * Room: glue between the core and the process. At the first allocation the
 * core asks hs__platform_config() what to do (environment, live file); at
 * fork the child gets a live file of its own; at exit the final snapshot is
 * published, the report written, the table printed and the live file
 * removed. Nothing here may allocate through malloc before the core is up.
 */
#include "shim.h"
#include "livefile.h"
#include "report.h"
#include "python.h"
#include "mapped.h"
#include "../core/prim/proc.h"
#include <string.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static char live_path[PATH_MAX];
static void *live_region;
static size_t live_size;
static uint64_t started_unix_ns;
static pid_t owner_pid;

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
    hs_shim_read_env();
    if (hs_shim.stats || hs_shim.have_report) hs_shim_keep_stderr();
    owner_pid = getpid();
    started_unix_ns = hs_unix_ns();

    if (hs_shim.have_report) {
        char probe[PATH_MAX];
        if (hs_report_expand_path(hs_shim.report, probe, sizeof probe) != 0) {
            hs_shim_warn("HEAPSHIM_REPORT: bad template '", hs_shim.report,
                         "' (accepted: a path where %p is the pid and %% a percent sign); no report");
            hs_shim.have_report = false;
        }
    }
    if (hs_shim.publish) {
        const char *why = NULL;
        size_t size = HS_LIVE_REGION_SIZE(HS_LIVE_MAX_SLOTS);
        live_region = hs_livefile_create(size, live_path, sizeof live_path, &why);
        if (live_region) {
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

    /* RAW through the shim is glibc behind our header, so free() can tell
     * it apart; in malloc mode MEM and OBJ are too. */
    install_sys_allocator(HS_DOMAIN_RAW);
    if (hs_shim.mode == HS_MODE_MALLOC) {
        install_sys_allocator(HS_DOMAIN_MEM);
        install_sys_allocator(HS_DOMAIN_OBJ);
    }
}

/* The core calls this once it is up (see hs__init_slow) -- debug hooks need
 * the domain table settled. */
void hs__platform_ready(void)
{
    if (hs_shim.debug) hs_setup_debug_hooks();
}

void hs__platform_fork(int phase)
{
    hs_mapped_fork(phase);
    if (phase != 2) return;
    owner_pid = getpid();
    if (!live_region) return;
    const char *why = NULL;
    /* the counters as they were at the fork (the parent goes on writing its file) */
    size_t used;
    const void *src = hs_live_fork_copy(&used);
    if (!src) used = hs_live->slots_offset + (size_t)HS_LOAD(&hs_live->slots_used) * sizeof(struct hs_live_slot);
    if (!hs_livefile_fork_child(live_region, src, live_size, used, live_path, sizeof live_path, &why)) {
        live_path[0] = 0;
        hs_shim_warn("live counters of the fork child not published: ", why ? why : "unknown error", "");
    }
    hs_live_fill_identity(hs_live);
}

/* Start at load time too, so a process that never allocates still has a
 * live file and a report (the first malloc usually comes first anyway). */
__attribute__((constructor)) static void shim_start(void)
{
    hs__init();
    hs_python_start();   /* CPython's domains, when the process exports its allocator API */
}

static void shim_exit(void)
{
    static int done;
    if (hs_initialized != 2) hs__init();
    /* a vfork/posix_spawn child shares our memory but is not us */
    if (hs_initialized != 2 || getpid() != owner_pid || done) return;
    done = 1;
    hs_live_publish(true);
    HS_STORE(&hs_live->state, HS_LIVE_STATE_EXITED);
    if (hs_shim.have_report) {
        const char *why = NULL;
        if (hs_report_write(hs_shim.report, hs_shim.allocator_name, started_unix_ns, &why) != 0)
            hs_shim_warn("HEAPSHIM_REPORT: report not written: ", why ? why : "unknown error", "");
    }
    if (hs_shim.stats) hs_report_table(hs_shim_errfd(), hs_shim.allocator_name);
    hs_route_warn_unmatched();
    if (live_path[0]) hs_livefile_remove(live_path);
    live_path[0] = 0;
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
