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
#include "large.h"
#include <string.h>

uint64_t hs_large_secret;

void hs_large_init(void) { hs_large_secret = hs_os_random64(); }

void *hs_large_alloc(unsigned dom, size_t n, bool zero, size_t align)
{
    hs__init();
    size_t total;
    void *base;
    if (align <= HS_ALIGNMENT) {
        (void)total;
        return hs_large_alloc_fast(dom, n, zero);
    }
    /* aligned: glibc aligns base, we hand out base + align (header fits before) */
    if (__builtin_add_overflow(n, align, &total)) return NULL;
    base = hs_sys_memalign(align, total);
    if (!base) return NULL;
    void *p = hs_large_seal(base, align, dom);
    if (zero) memset(p, 0, n);
    return p;
}

bool hs_large_owns(const void *p) { return p && hs_large_owns_fast(p); }
unsigned hs_large_domain(const void *p) { return hs_large_dom(p); }
size_t hs_large_usable(const void *p) { return hs_large_usable_fast(p); }
void hs_large_release(void *p) { hs_large_release_fast(p); }

void *hs_large_resize(void *p, size_t n)
{
    size_t off = hs_large_offset(p);
    unsigned dom = hs_large_dom(p);
    if (off <= 32) {
        /* 16: the usual header; 32: a sampled block (sample.h) or one aligned
         * to 32, kept at that offset (realloc promises 16-byte alignment only).
         * A sampled block stops being one: for the profile, realloc is a free
         * and a new allocation, which the caller charged. */
        size_t total;
        if (__builtin_add_overflow(n, off, &total)) return NULL;
        if (hs_large_hdr(p)->info & HS_LARGE_SAMPLED) {
            hs_sample_release(p);
            hs_large_hdr(p)->info &= ~(uint64_t)HS_LARGE_SAMPLED;   /* resealed below, or stays unflagged */
            hs_large_hdr(p)->tag = hs_large_secret ^ (uint64_t)(uintptr_t)p ^ hs_large_hdr(p)->info;
        }
        void *base = hs_sys_realloc((char *)p - off, total);
        return base ? hs_large_seal(base, off, dom) : NULL;
    }
    /* an aligned block: realloc gives no alignment promise beyond 16 */
    void *q = hs_large_alloc(dom, n, false, 0);
    if (!q) return NULL;
    size_t old = hs_large_usable(p);
    memcpy(q, p, old < n ? old : n);
    hs_large_release(p);
    return q;
}
