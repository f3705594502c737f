/*
 * core/prim/sys.c - the operating system and the system allocator.
 *
 * Room: the only file of the core that talks to glibc's allocator and to the
 * kernel. Everything above asks here. glibc's own entry points (__libc_malloc
 * and friends, exported since glibc 2.2.5) are called directly instead of
 * malloc(): inside libheapshim.so, "malloc" is our own interposed symbol, and
 * these names reach glibc without dlsym (which may itself allocate).
 */
#include "../internal.h"
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void  __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

void *hs_sys_malloc(size_t n) { return __libc_malloc(n); }
void *hs_sys_calloc(size_t ne, size_t es) { return __libc_calloc(ne, es); }
void *hs_sys_realloc(void *p, size_t n) { return __libc_realloc(p, n); }
void  hs_sys_free(void *p) { __libc_free(p); }
void *hs_sys_memalign(size_t align, size_t n) { return __libc_memalign(align, n); }

/*
 * Usable size of a block from glibc's allocator, read from its chunk header
 * (the word before the block: chunk size | flags; IS_MMAPPED = 2). This is
 * what glibc's malloc_usable_size computes; we cannot call that symbol from
 * inside the shim because the shim exports its own malloc_usable_size.
 * The layout has been stable since glibc 2.0; tests compare the two.
 */
size_t hs_sys_usable_size(const void *p)
{
    if (!p) return 0;
    size_t word = ((const size_t *)p)[-1];
    size_t chunk = word & ~(size_t)7;
    return (word & 2) ? chunk - 2 * sizeof(size_t) : chunk - sizeof(size_t);
}

void *hs_os_map(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void hs_os_unmap(void *p, size_t n)
{
    if (p) munmap(p, n);
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

uint64_t hs_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
