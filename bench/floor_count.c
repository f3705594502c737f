/* bench/floor_count.c - room: bench/. The least an exact per-call counter
 * can do on top of glibc: per-thread allocations, frees and live bytes by
 * glibc's usable size, in thread-local variables; no peaks, no other
 * thread or process can read them, no routing, no sampling. Not a tool: the
 * floor under what HEAPSHIM_ALLOCATOR=malloc costs (docs/benchmarks.md,
 * "The floor"), for bench_preload.sh -a floor=build/bench/libfloor_count.so.
 * glibc's chunk header gives the usable size (as core/internal.h reads it). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
static __thread struct { uint64_t allocs, frees, live; } c __attribute__((tls_model("initial-exec")));
static inline size_t usable(const void *p)
{
    size_t w = ((const size_t *)p)[-1], ch = w & ~(size_t)7;
    return (w & 2) ? ch - 16 : ch - 8;
}
__attribute__((visibility("default"))) void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    if (p) { c.allocs++; c.live += usable(p); }
    return p;
}
__attribute__((visibility("default"))) void free(void *p)
{
    if (!p) return;
    c.frees++; c.live -= usable(p);
    __libc_free(p);
}
__attribute__((visibility("default"))) void *calloc(size_t a, size_t b)
{
    void *p = __libc_calloc(a, b);
    if (p) { c.allocs++; c.live += usable(p); }
    return p;
}
__attribute__((visibility("default"))) void *realloc(void *o, size_t n)
{
    size_t old = o ? usable(o) : 0;
    void *p = __libc_realloc(o, n);
    if (p) { c.live += usable(p) - old; if (!o) c.allocs++; }
    else if (o && n == 0) { c.frees++; c.live -= old; }
    return p;
}
__attribute__((visibility("default"))) void *memalign(size_t a, size_t n)
{
    void *p = __libc_memalign(a, n);
    if (p) { c.allocs++; c.live += usable(p); }
    return p;
}
__attribute__((visibility("default"))) int posix_memalign(void **r, size_t a, size_t n)
{
    if (a < sizeof(void *) || (a & (a - 1))) return EINVAL;
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    c.allocs++; c.live += usable(p);
    *r = p;
    return 0;
}
__attribute__((visibility("default"))) void *aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
