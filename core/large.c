/*
 * core/large.c - MEM and OBJ blocks above HS_SMALL_MAX, and aligned blocks.
 *
 * Room: large blocks only. They come from the system allocator (glibc) with
 * a 16-byte header in front of the pointer we hand out:
 *
 *   base (from glibc)                       p (returned, 16-aligned)
 *   |<---------- offset (16, or the alignment) ---------->|
 *   +--------------------------------------+--------------+-------------+
 *   | (padding, aligned blocks only)       | tag  | info  | data ...    |
 *   +--------------------------------------+--------------+-------------+
 *                                           info = offset << 2 | domain
 *                                           tag  = secret ^ p ^ info
 *
 * The header lets free() find the domain to count and glibc's base pointer,
 * and the tag (sealed with a per-process random secret) tells our blocks
 * from pointers glibc handed out before the shim was loaded: those fail the
 * check and go back to glibc untouched. The tag is wiped on release so a
 * stale pointer is not mistaken for a live block.
 */
#include "internal.h"
#include <string.h>

static uint64_t large_secret;

typedef struct { uint64_t tag, info; } large_hdr_t;

void hs_large_init(void) { large_secret = hs_os_random64(); }

HS_INLINE large_hdr_t *hdr_of(const void *p) { return (large_hdr_t *)p - 1; }

static void *seal(void *base, size_t offset, unsigned dom)
{
    char *p = (char *)base + offset;
    large_hdr_t *h = hdr_of(p);
    h->info = ((uint64_t)offset << 2) | dom;
    h->tag = large_secret ^ (uint64_t)(uintptr_t)p ^ h->info;
    return p;
}

void *hs_large_alloc(unsigned dom, size_t n, bool zero, size_t align)
{
    hs__init();
    size_t total;
    void *base;
    if (align <= HS_ALIGNMENT) {
        if (__builtin_add_overflow(n, sizeof(large_hdr_t), &total)) return NULL;
        base = zero ? hs_sys_calloc(1, total) : hs_sys_malloc(total);
        return base ? seal(base, sizeof(large_hdr_t), dom) : NULL;
    }
    /* aligned: glibc aligns base, we hand out base + align (header fits before) */
    if (__builtin_add_overflow(n, align, &total)) return NULL;
    base = hs_sys_memalign(align, total);
    if (!base) return NULL;
    void *p = seal(base, align, dom);
    if (zero) memset(p, 0, n);
    return p;
}

bool hs_large_owns(const void *p)
{
    if (!p || ((uintptr_t)p & (HS_ALIGNMENT - 1)) || (uintptr_t)p < 4096) return false;
    const large_hdr_t *h = hdr_of(p);
    uint64_t info = h->info;
    return h->tag == (large_secret ^ (uint64_t)(uintptr_t)p ^ info) &&
           (info & 3) <= HS_DOMAIN_OBJ && (info >> 2) >= sizeof(large_hdr_t);
}

unsigned hs_large_domain(const void *p) { return (unsigned)(hdr_of(p)->info & 3); }

static size_t offset_of(const void *p) { return (size_t)(hdr_of(p)->info >> 2); }

size_t hs_large_usable(const void *p)
{
    size_t off = offset_of(p);
    return hs_sys_usable_size((const char *)p - off) - off;
}

void hs_large_release(void *p)
{
    size_t off = offset_of(p);
    hdr_of(p)->tag = 0;
    hs_sys_free((char *)p - off);
}

void *hs_large_resize(void *p, size_t n)
{
    size_t off = offset_of(p);
    unsigned dom = hs_large_domain(p);
    if (off == sizeof(large_hdr_t)) {
        size_t total;
        if (__builtin_add_overflow(n, sizeof(large_hdr_t), &total)) return NULL;
        void *base = hs_sys_realloc((char *)p - off, total);
        return base ? seal(base, off, dom) : NULL;
    }
    /* an aligned block: realloc gives no alignment promise beyond 16 */
    void *q = hs_large_alloc(dom, n, false, 0);
    if (!q) return NULL;
    size_t old = hs_large_usable(p);
    memcpy(q, p, old < n ? old : n);
    hs_large_release(p);
    return q;
}
