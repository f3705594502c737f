/*
 * interpose/override.c - the malloc family, exported over glibc's.
 *
 * Room: glibc semantics at the boundary (errno, realloc(p, 0) frees,
 * posix_memalign's EINVAL, ...), routing, and the choice of path. The
 * memory itself comes from the core: small blocks from arenas, everything
 * else from glibc with a 16-byte header (core/large.c) that tells us, at
 * free time, that the block is ours and which domain to count it in.
 *
 * Who owns a pointer handed to free/realloc/malloc_usable_size:
 *   1. the page map says it is in one of our pools      -> small block
 *   2. the header before it carries our sealed tag      -> large block
 *   3. otherwise it came from glibc before we started   -> glibc's, untouched
 *      (in plain malloc mode: a bare MEM block, see below)
 *
 * Plain malloc mode (HEAPSHIM_ALLOCATOR=malloc). Accounting only, so the
 * program should see glibc as it is. A 16-byte header on every block would
 * push each request up one glibc size step: the program's working set grows
 * and it runs measurably slower (25-30% on a small-object churn). So blocks
 * routed to MEM -- nearly all of them, since MEM is the default -- are bare
 * glibc blocks, counted by glibc's own usable size; RAW and OBJ blocks keep
 * the header so their domain is known at free. Case 3 is then counted as a
 * MEM free. The price: the few blocks glibc handed out while the shim was
 * starting (before it could count) are counted when they are freed, so MEM
 * may show a few hundred bytes fewer than it should.
 * With debug hooks on (HEAPSHIM_ALLOCATOR=*debug) blocks carry the debug
 * header as well and go through the domain table so the hooks check them.
 */
#include "shim.h"
#include "../core/debug.h"
#include "../core/alloc_fast.h"
#include "../core/large.h"
#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

extern HS_TLS int hs_tls_tag;

/* ---- routing -------------------------------------------------------------- */

HS_INLINE unsigned route(const void *ra)
{
    int tag = hs_tls_tag;
    if (tag >= 0) return (unsigned)tag;
    if (HS_LIKELY(hs_shim.nrules == 0)) return HS_DOMAIN_MEM;
    return hs_route_caller(ra);
}

/* ---- start-up --------------------------------------------------------------- */

/* true when the core is up; false while it is starting on this very thread
 * (a request made by the start-up code itself goes to glibc and stays glibc's) */
HS_INLINE bool ready(void)
{
    if (HS_LIKELY(hs_initialized == 2)) return true;
    hs__init();
    return hs_initialized == 2;
}

/* ---- the paths ---------------------------------------------------------------- */

static HS_NOINLINE void *debug_alloc(unsigned dom, size_t n, bool zero)
{
    hs_allocator_t *a = &hs_domain_table[dom];
    void *p = zero ? a->calloc(a->ctx, 1, n) : a->malloc(a->ctx, n);
    if (!p) errno = ENOMEM;
    return p;
}

/* glibc behind our header: RAW, large MEM/OBJ, and everything in malloc mode */
HS_INLINE void *sys_serve(unsigned dom, size_t n, bool zero)
{
    void *p = hs_large_alloc_fast(dom, n, zero);
    if (HS_UNLIKELY(!p)) {
        hs_count_failed(dom);
        errno = ENOMEM;
        return NULL;
    }
    hs_count_alloc_ticked(dom, hs_large_usable_fast(p));
    return p;
}

/* plain malloc mode, MEM: a bare glibc block (see the top of this file) */
HS_INLINE void *plain_serve(size_t n, bool zero)
{
    void *p = zero ? hs_sys_calloc(1, n) : hs_sys_malloc(n);
    if (HS_UNLIKELY(!p)) {
        hs_count_failed(HS_DOMAIN_MEM);
        errno = ENOMEM;
        return NULL;
    }
    hs_count_alloc_ticked(HS_DOMAIN_MEM, hs_sys_usable_size(p));
    return p;
}

HS_INLINE void plain_release(void *p)
{
    hs_count_free_ticked(HS_DOMAIN_MEM, hs_sys_usable_size(p));
    hs_sys_free(p);
}

HS_INLINE void *serve(unsigned dom, size_t n)
{
    if (HS_UNLIKELY(hs_shim.debug)) return debug_alloc(dom, n, false);
    if (HS_LIKELY(n <= HS_SMALL_MAX && dom != HS_DOMAIN_RAW && hs_shim.mode == HS_MODE_PYMALLOC)) {
        void *p = hs_small_malloc_fast(dom, n);
        if (HS_UNLIKELY(!p)) errno = ENOMEM;
        return p;
    }
    if (hs_shim.plain_mem && dom == HS_DOMAIN_MEM) return plain_serve(n, false);
    return sys_serve(dom, n, false);
}

/* Debug mode: the user pointer sits behind the debug header; the block that
 * the core knows starts hs_debug_header_size() earlier. */
static bool debug_owned(const void *p, int *dom)
{
    const char *inner = (const char *)p - hs_debug_header_size();
    if (hs_pagemap_test(inner) || hs_large_owns(inner)) {
        *dom = hs_debug_block_domain(p);
        return *dom >= 0;
    }
    /* A large block freed once already: glibc has written its free-list
     * links over our large header, but the debug header after it still says
     * "freed" -- send it to the hooks, which report the double free. */
    if (hs_debug_block_freed(p)) {
        *dom = hs_debug_block_domain(p);
        return true;
    }
    return false;
}

static HS_NOINLINE void free_slow(void *p)
{
    int dom;
    if (hs_shim.debug && debug_owned(p, &dom)) {
        hs_domain_table[dom].free(hs_domain_table[dom].ctx, p);
        return;
    }
    if (hs_pagemap_test(p)) {
        hs_small_free(p);
    } else if (hs_large_owns_fast(p)) {
        hs_count_free_fast(hs_large_dom(p), hs_large_usable_fast(p));
        hs_large_release_fast(p);
        hs_live_tick();
    } else if (hs_shim.plain_mem && hs_initialized == 2) {
        plain_release(p);
    } else {
        __libc_free(p);
    }
}

/* ---- the exported family ------------------------------------------------------------ */

EXPORT void *malloc(size_t n)
{
    if (HS_UNLIKELY(!ready())) return __libc_malloc(n);
    if (hs_shim.plain_direct && HS_LIKELY(hs_tls_tag < 0)) return plain_serve(n, false);
    return serve(route(__builtin_return_address(0)), n);
}

EXPORT void free(void *p)
{
    if (!p) return;
    if (HS_LIKELY(!hs_shim.debug)) {
        unsigned tag = hs_pagemap_get(p);
        if (HS_LIKELY(tag != 0)) {
            hs_small_free_tagged(p, tag);
            return;
        }
        if (HS_LIKELY(hs_large_owns_fast(p))) {
            hs_count_free_ticked(hs_large_dom(p), hs_large_usable_fast(p));
            hs_large_release_fast(p);
            return;
        }
        if (hs_shim.plain_mem && HS_LIKELY(hs_initialized == 2)) {
            plain_release(p);
            return;
        }
    }
    free_slow(p);
}

EXPORT void *calloc(size_t ne, size_t es)
{
    if (HS_UNLIKELY(!ready())) return __libc_calloc(ne, es);
    size_t n;
    if (__builtin_mul_overflow(ne, es, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned dom = route(__builtin_return_address(0));
    if (HS_UNLIKELY(hs_shim.debug)) return debug_alloc(dom, n, true);
    if (n <= HS_SMALL_MAX && dom != HS_DOMAIN_RAW && hs_shim.mode == HS_MODE_PYMALLOC) {
        void *p = hs_small_malloc(dom, n);
        if (!p) errno = ENOMEM;
        else memset(p, 0, n);
        return p;
    }
    if (hs_shim.plain_mem && dom == HS_DOMAIN_MEM) return plain_serve(n, true);
    return sys_serve(dom, n, true);
}

static void *realloc_impl(void *p, size_t n, const void *ra)
{
    if (!p) return serve(route(ra), n);
    if (n == 0) {               /* glibc: frees and returns NULL */
        free(p);
        return NULL;
    }
    int dom;
    void *q;
    if (hs_shim.debug && debug_owned(p, &dom)) {
        q = hs_domain_table[dom].realloc(hs_domain_table[dom].ctx, p, n);
    } else if (hs_pagemap_test(p) || hs_large_owns(p)) {
        q = hs_pymalloc_realloc(HS_DOMAIN_MEM, p, n);   /* keeps the block's domain */
    } else if (hs_shim.plain_mem) {                     /* a bare MEM block */
        size_t old = hs_sys_usable_size(p);
        q = hs_sys_realloc(p, n);
        if (q) hs_count_realloc(HS_DOMAIN_MEM, old, hs_sys_usable_size(q));
        else hs_count_failed(HS_DOMAIN_MEM);
    } else {
        return __libc_realloc(p, n);                    /* glibc's from before us */
    }
    if (!q) errno = ENOMEM;
    return q;
}

EXPORT void *realloc(void *p, size_t n)
{
    if (HS_UNLIKELY(!ready())) return __libc_realloc(p, n);
    return realloc_impl(p, n, __builtin_return_address(0));
}

EXPORT void *reallocarray(void *p, size_t ne, size_t es)
{
    size_t n;
    if (__builtin_mul_overflow(ne, es, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    if (HS_UNLIKELY(!ready())) return __libc_realloc(p, n);
    return realloc_impl(p, n, __builtin_return_address(0));
}

/* Aligned requests. Small ones with alignment <= 16 are ordinary blocks;
 * larger alignments go to glibc's memalign behind our header. The debug
 * hooks only promise 16-byte alignment, so aligned blocks skip them (they
 * are still counted, and free() recognises them by the large header). */
static void *aligned_impl(size_t align, size_t n, const void *ra)
{
    unsigned dom = route(ra);
    if (align <= HS_ALIGNMENT) return serve(dom, n);
    void *p = hs_counted_large(dom, n, false, align);
    if (!p) errno = ENOMEM;
    return p;
}

static size_t next_pow2(size_t a)
{
    size_t p = 1;
    while (p < a && p) p <<= 1;
    return p;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (!align || (align & (align - 1)) || align % sizeof(void *)) return EINVAL;
    if (HS_UNLIKELY(!ready())) {
        void *p = __libc_memalign(align, n);
        if (!p) return ENOMEM;
        *out = p;
        return 0;
    }
    int saved = errno;
    void *p = aligned_impl(align, n, __builtin_return_address(0));
    errno = saved;
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *memalign(size_t align, size_t n)
{
    /* glibc rounds a non-power-of-two alignment up */
    if (align & (align - 1)) align = next_pow2(align);
    if (!align || align > ((size_t)1 << 62)) {
        errno = EINVAL;
        return NULL;
    }
    if (HS_UNLIKELY(!ready())) return __libc_memalign(align, n);
    return aligned_impl(align, n, __builtin_return_address(0));
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (!align || (align & (align - 1))) {   /* as glibc >= 2.38 and C17 */
        errno = EINVAL;
        return NULL;
    }
    if (HS_UNLIKELY(!ready())) return __libc_memalign(align, n);
    return aligned_impl(align, n, __builtin_return_address(0));
}

EXPORT void *valloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (HS_UNLIKELY(!ready())) return __libc_memalign(page, n);
    return aligned_impl(page, n, __builtin_return_address(0));
}

EXPORT void *pvalloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded;
    if (__builtin_add_overflow(n, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    rounded &= ~(page - 1);
    if (!rounded) rounded = page;
    if (HS_UNLIKELY(!ready())) return __libc_memalign(page, rounded);
    return aligned_impl(page, rounded, __builtin_return_address(0));
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (!p) return 0;
    int dom;
    if (hs_shim.debug && debug_owned(p, &dom)) return hs_debug_block_size(p);
    if (hs_pagemap_test(p)) return hs_small_usable(p);
    if (hs_large_owns(p)) return hs_large_usable(p);
    return hs_sys_usable_size(p);
}
