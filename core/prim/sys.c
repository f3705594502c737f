/*
 * core/prim/sys.c - the operating system and the system allocator.
 *
 * Room: the kernel -- mappings, randomness, clocks, thread ids. (The
 * system allocator's entry points are inline in internal.h: hs_sys_*.)
 *
 * Mappings are made with raw system calls, never through libc's mmap &
 * co.: the shim exports those symbols itself (interpose/mapped.c counts the
 * program's own mappings), and a call from here through them would count
 * the shim's arenas and live region as the program's. hs_os_mmap & co. are
 * also what interpose/mapped.c calls as "the real" functions.
 */
#include "../internal.h"
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#endif
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void *hs_os_mmap(void *addr, size_t n, int prot, int flags, int fd, long off)
{
    return (void *)syscall(SYS_mmap, addr, n, prot, flags, fd, off);   /* -1: MAP_FAILED, errno set */
}

int hs_os_munmap(void *p, size_t n) { return (int)syscall(SYS_munmap, p, n); }

void *hs_os_mremap(void *old, size_t old_n, size_t new_n, int flags, void *new_addr)
{
    return (void *)syscall(SYS_mremap, old, old_n, new_n, flags, new_addr);
}

int hs_os_mprotect(void *p, size_t n, int prot) { return (int)syscall(SYS_mprotect, p, n, prot); }

int hs_os_madvise(void *p, size_t n, int advice) { return (int)syscall(SYS_madvise, p, n, advice); }

bool hs_os_back(void *p, size_t n)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)4095, hi = ((uintptr_t)p + n + 4095) & ~(uintptr_t)4095;
    int err = errno;
    bool ok = hs_os_madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) == 0 || errno == EINVAL;
    errno = err;
    return ok;
}

/* A regular file that grows past RLIMIT_FSIZE does not fail: the kernel
 * sends SIGXFSZ, whose default is to kill the process (a program run under
 * `ulimit -f 1024` died before main: the live file is 2.4 MB). So every
 * file the shim sizes or writes asks first; the limit is read each time
 * (a program may lower it as it runs). errno kept. */
bool hs_os_file_fits(uint64_t end)
{
    int err = errno;
    struct rlimit rl;
    bool ok = syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, NULL, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
              end <= (uint64_t)rl.rlim_cur;
    errno = err;
    return ok;
}

void *hs_os_map(size_t n)
{
    void *p = hs_os_mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void hs_os_unmap(void *p, size_t n)
{
    if (p) hs_os_munmap(p, n);
}

uint64_t hs_os_random64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        v = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&v ^
            ((uint64_t)getpid() << 48);
    }
    return v | 1;
}

uint64_t hs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t hs_os_tid(void) { return (uint64_t)syscall(SYS_gettid); }

/*
 * dl_iterate_phdr holds the loader's list lock (dl_load_write_lock) while it
 * runs, and glibc 2.36 does not reset that lock in a fork child: a fork made
 * while another thread was inside left the child to wait for it forever at
 * its first call. The sampler calls it at every sample, so a program whose
 * threads allocate while another forks had fork children that hung, with
 * the default settings (2 of 2 runs of a 3,000-fork test). The core's calls
 * go through this gate: the fork handlers close it and wait for the calls
 * inside to leave (200 ms at most), and a fork child that cannot be sure
 * the lock is free -- a call did not leave in time, or the forking thread
 * was inside one itself (a fork from a signal handler) -- never calls it
 * again (the sampler keeps the modules it knows; the unwinder reads no new
 * object's tables). The program's own calls are as under glibc alone.
 */
static uint32_t dl_inside;           /* the core's calls in progress */
static int dl_closed;                /* 1: a fork is being prepared; 2: never again here */
static int dl_busy_at_fork;
static HS_TLS uint32_t tls_dl_inside; /* this thread's share of dl_inside */

bool hs_dl_iterate(int (*cb)(struct dl_phdr_info *, size_t, void *), void *arg)
{
    /* the thread's own count first up and last down: a signal handler
     * that forks anywhere in here finds its own share of dl_inside counted
     * in tls_dl_inside, and does not wait for it */
    tls_dl_inside++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    __atomic_add_fetch(&dl_inside, 1, __ATOMIC_SEQ_CST);
    bool open = !__atomic_load_n(&dl_closed, __ATOMIC_SEQ_CST);
    if (HS_LIKELY(open)) dl_iterate_phdr(cb, arg);
    __atomic_sub_fetch(&dl_inside, 1, __ATOMIC_RELEASE);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    tls_dl_inside--;
    return open;
}

/* Prepare waits for the other threads' calls to leave; a call of the
 * forking thread itself (a fork from a signal handler that interrupted
 * it) will not leave before the fork: waiting for it made a program whose
 * timer kept interrupting it livelock (prog_sigfork). */
void hs_dl_fork(int phase)
{
    if (phase == 0) {
        if (__atomic_exchange_n(&dl_closed, 1, __ATOMIC_SEQ_CST) == 2) {
            dl_busy_at_fork = 2;     /* this process may not call it: nor may its child, nor itself after */
            return;
        }
        uint32_t mine = tls_dl_inside;
        uint64_t t0 = hs_now_ns();
        for (unsigned spins = 0; __atomic_load_n(&dl_inside, __ATOMIC_SEQ_CST) > mine; spins++) {
            if (spins < 64) continue;
            sched_yield();
            if ((spins & 63) == 63 && hs_now_ns() - t0 > 200000000ull) break;
        }
        dl_busy_at_fork = __atomic_load_n(&dl_inside, __ATOMIC_SEQ_CST) != 0;
        return;
    }
    __atomic_store_n(&dl_closed, dl_busy_at_fork == 2 || (phase == 2 && dl_busy_at_fork) ? 2 : 0, __ATOMIC_RELEASE);
}

/* Is this process another one than `owner` that does not share its memory
 * (kcmp KCMP_VM)? 1: another process, its own memory (a clone() child
 * without CLONE_VM); 0: the owner itself, or one that shares its memory (a
 * vfork or posix_spawn child: whatever it maps is the owner's); -1: cannot
 * tell (kcmp not allowed or absent). A gone owner does not share ours. */
int hs_os_other_process(int32_t owner)
{
    int err = errno;
    long me = syscall(SYS_getpid);
    int r;
    if (owner <= 0 || me == owner) r = 0;
    else {
        long k = syscall(SYS_kcmp, me, (long)owner, 1 /* KCMP_VM */, 0L, 0L);
        r = k > 0 ? 1 : k == 0 ? 0 : errno == ESRCH ? 1 : -1;
    }
    errno = err;
    return r;
}

/*
 * The fork word: telling a child that has its own memory without a system
 * call. getpid() is one (glibc has not cached it since 2.25; 1.1 us on this
 * VM), and the core asked it at every clock look (live.c clone_check):
 * 15,522 times in `wl_fixed 30`, whose CPU time went from 274 to 240 ms
 * (the least of 12 interleaved runs each) without them. A private page
 * marked MADV_WIPEONFORK reads as zeros in every child the kernel makes
 * with a copy of our memory -- glibc's fork, a raw clone(), _Fork -- and
 * keeps its word in threads and in vfork or posix_spawn children (the same
 * memory). Costs one page (and its fault) and two system calls, once.
 */
static volatile uint64_t *fork_word;    /* NULL: not armed */
static int fork_word_state;             /* 0: not tried, 1: mapped, 2: the kernel cannot */

bool hs_os_fork_word(void)
{
    volatile uint64_t *w = __atomic_load_n(&fork_word, __ATOMIC_ACQUIRE);
    return w && *w;
}

void hs_os_fork_word_arm(void)
{
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
    volatile uint64_t *w = __atomic_load_n(&fork_word, __ATOMIC_ACQUIRE);
    if (w) {
        *w = 1;                          /* a child's wiped page, armed for its own children */
        return;
    }
    if (__atomic_load_n(&fork_word_state, __ATOMIC_RELAXED)) return;
    int err = errno;
    void *p = hs_os_map(4096);
    if (p && hs_os_madvise(p, 4096, MADV_WIPEONFORK) == 0) {
        *(volatile uint64_t *)p = 1;
        volatile uint64_t *none = NULL;
        if (!__atomic_compare_exchange_n(&fork_word, &none, (volatile uint64_t *)p, false, __ATOMIC_RELEASE,
                                         __ATOMIC_RELAXED))
            hs_os_unmap(p, 4096);        /* another thread armed it first */
        __atomic_store_n(&fork_word_state, 1, __ATOMIC_RELAXED);
    } else {
        hs_os_unmap(p, 4096);
        __atomic_store_n(&fork_word_state, 2, __ATOMIC_RELAXED);
    }
    errno = err;
}

bool hs_os_single_threaded(void)
{
#if __has_include(<sys/single_threaded.h>)
    return __libc_single_threaded;
#else
    return false;
#endif
}

uint64_t hs_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- glibc's mmap threshold (internal.h, hs_sys_free) ------------------------ */

extern int __libc_mallopt(int param, int value);   /* glibc's; the shim exports mallopt (interpose/lifecycle.c) */
#define HS_SYS_MMAP_MAX (32u * 1024u * 1024u)   /* glibc's DEFAULT_MMAP_THRESHOLD_MAX (64-bit) */
size_t hs_sys_mmap_dyn;
size_t (*hs_sys_usable_fn)(void *);

/* Which object defines the __libc_malloc we call: glibc's own (the object
 * of gnu_get_libc_version, which only glibc has), or another allocator's;
 * then its malloc_usable_size, looked up in that object (hs_sys_usable_fn,
 * internal.h). Before anything is counted (core/init.c). */
void hs_sys_detect(void)
{
    struct dl_find_object a, g;
    if (_dl_find_object((void *)&__libc_malloc, &a) != 0 || _dl_find_object((void *)&gnu_get_libc_version, &g) != 0 ||
        a.dlfo_map_start == g.dlfo_map_start || !a.dlfo_link_map)
        return;
    int err = errno;
    void *h = dlopen(a.dlfo_link_map->l_name, RTLD_NOLOAD | RTLD_LAZY);
    size_t (*fn)(void *) = h ? (size_t (*)(void *))dlsym(h, "malloc_usable_size") : NULL;
    if (h) dlclose(h);
    errno = err;
    if (fn) hs_sys_usable_fn = fn;
}
static hs_lock_t mmap_dyn_lock = HS_LOCK_INIT;

/* A mapped glibc block freed: glibc's own rule, applied by the shim because
 * its trim threshold turned glibc's off. mallopt only after the free, which
 * holds glibc's locks; under our lock, so that two raises cannot land out
 * of order. */
void hs_sys_free_mapped(void *p)
{
    size_t chunk = ((const size_t *)p)[-1] & ~(size_t)7;
    __libc_free(p);
    if (chunk <= HS_LOAD(&hs_sys_mmap_dyn) || chunk > HS_SYS_MMAP_MAX) return;
    hs_lock(&mmap_dyn_lock);
    if (chunk > hs_sys_mmap_dyn && __libc_mallopt(M_MMAP_THRESHOLD, (int)chunk)) HS_STORE(&hs_sys_mmap_dyn, chunk);
    hs_unlock(&mmap_dyn_lock);
}
