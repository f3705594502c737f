/*
 * core/init.c - bringing the core up, once, and keeping it sane across fork.
 *
 * Room: the order of initialisation and the fork handlers. Initialisation is
 * lazy (the first allocation of any kind) because under LD_PRELOAD the first
 * malloc can come before any constructor runs. It must not allocate through
 * malloc: everything it needs comes from mmap.
 */
#include "internal.h"
#include <errno.h>

int hs_initialized;
static hs_lock_t init_lock = HS_LOCK_INIT;
static HS_TLS int tls_in_init;

/* Fork: counting threads are held first (so that nothing counts between the
 * copy of the counters and the fork), the allocator's locks next, and the
 * counters are copied last; the child's live file starts from that copy. */
bool hs_fork_alone;

static void fork_prepare(void)
{
    int saved = errno;
    hs_dl_fork(0);                   /* first: no lock of ours is held inside it */
    hs_fork_alone = hs_os_single_threaded();   /* before the locks: internal.h */
    hs_live_fork_prepare();
    hs_heap_fork_prepare();
    hs_arena_fork_prepare();
    if (hs__platform_fork) hs__platform_fork(0);
    hs_live_fork_snapshot();
    errno = saved;
}

/* None of the three handlers shows in the errno the program sees after a
 * fork() that succeeded: the child's handler creates its own live and
 * profile files (open, read, close). */
static void fork_parent(void)
{
    int saved = errno;
    if (hs__platform_fork) hs__platform_fork(1);
    hs_arena_fork_parent();
    hs_heap_fork_parent();
    hs_live_fork_parent();
    hs_dl_fork(1);
    errno = saved;
}

HS_FORK_CODE static void fork_child(void)
{
    int saved = errno;
    if (hs__platform_fork) hs__platform_fork(2);
    hs_arena_fork_child();
    hs_heap_fork_child();
    hs_live_fork_child();
    hs_dl_fork(2);
    errno = saved;
}

void hs__init_slow(void)
{
    if (__atomic_load_n(&hs_initialized, __ATOMIC_ACQUIRE) == 2 || tls_in_init) return;
    /* the start-up's system calls (mkdir of an existing live directory:
     * EEXIST, ...) leave nothing in errno: a program sees 0 at main (C11
     * 7.5p3), and a malloc that succeeds does not touch it */
    int saved = errno;
    tls_in_init = 1;
    int did_init = 0;
    hs_lock(&init_lock);
    if (hs_initialized != 2) {
        did_init = 1;
        hs_initialized = 1;
        hs_sys_detect();
        struct hs_core_config cfg = { 0 };
        if (hs__platform_config) hs__platform_config(&cfg);
        if (hs_live_setup(cfg.live_region, cfg.live_region_size, cfg.allocator_name, cfg.labels) != 0) {
            /* no memory even for the counters: nothing sensible can run */
            static const char msg[] = "heapshim: cannot map the counter region\n";
            (void)!write(2, msg, sizeof msg - 1);
            abort();
        }
        /* Bring glibc's allocator up here, on the initialising thread (the
         * main thread, under the shim), so that it is not first used by
         * several threads at once. glibc's one-time setup (ptmalloc_init) is
         * unlocked and gives the calling thread main_arena without counting
         * it: when our arenas serve every small request of a program, its
         * first glibc call can come from worker threads starting together,
         * two of them end up on main_arena counted once, and the second to
         * exit aborts in __malloc_arena_thread_freeres. */
        void *first = hs_sys_malloc(1);
        if (first) hs_sys_free(first);
        hs_large_init();
        hs_heap_setup();
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        __atomic_store_n(&hs_initialized, 2, __ATOMIC_RELEASE);
    }
    hs_unlock(&init_lock);
    tls_in_init = 0;
    if (did_init && hs__platform_ready) hs__platform_ready();
    errno = saved;
}
