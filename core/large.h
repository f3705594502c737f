/*
 * core/large.h - the header of large blocks, inline (layout in large.c).
 *
 * Room: reading and writing the 16-byte header in front of a large block.
 * Inline because in HEAPSHIM_ALLOCATOR=malloc mode every allocation of the
 * program is a large block, and these few loads are the whole overhead.
 */
#ifndef HS_CORE_LARGE_H
#define HS_CORE_LARGE_H
#include "internal.h"

typedef struct { uint64_t tag, info; } hs_large_hdr_t;
extern uint64_t hs_large_secret;

HS_INLINE hs_large_hdr_t *hs_large_hdr(const void *p) { return (hs_large_hdr_t *)p - 1; }

/* info bits 2..5 are free (offsets are multiples of 16): bit 2 marks a
 * sampled block (core/sample.h), whose release tells the profile */
#define HS_LARGE_SAMPLED 4u
void hs_sample_release(void *p);

HS_INLINE void *hs_large_seal_flags(void *base, size_t offset, unsigned dom, unsigned flags)
{
    char *p = (char *)base + offset;
    hs_large_hdr_t *h = hs_large_hdr(p);
    hs_note_core_block();
    h->info = ((uint64_t)offset << 2) | flags | dom;
    h->tag = hs_large_secret ^ (uint64_t)(uintptr_t)p ^ h->info;
    return p;
}

HS_INLINE void *hs_large_seal(void *base, size_t offset, unsigned dom)
{
    return hs_large_seal_flags(base, offset, dom, 0);
}

HS_INLINE bool hs_large_owns_fast(const void *p)
{
    if (((uintptr_t)p & (HS_ALIGNMENT - 1)) || (uintptr_t)p < 4096) return false;
    const hs_large_hdr_t *h = hs_large_hdr(p);
    uint64_t info = h->info;
    return h->tag == (hs_large_secret ^ (uint64_t)(uintptr_t)p ^ info) &&
           (info & 3) <= HS_DOMAIN_OBJ && (info >> 2) >= sizeof(hs_large_hdr_t);
}

HS_INLINE size_t hs_large_offset(const void *p) { return (size_t)(hs_large_hdr(p)->info >> 2) & ~(size_t)15; }
HS_INLINE unsigned hs_large_dom(const void *p) { return (unsigned)(hs_large_hdr(p)->info & 3); }

HS_INLINE size_t hs_large_usable_fast(const void *p)
{
    size_t off = hs_large_offset(p);
    return hs_sys_usable_size((const char *)p - off) - off;
}

/* glibc behind a 16-byte header, natural (16-byte) alignment; uncounted */
HS_INLINE void *hs_large_alloc_fast(unsigned dom, size_t n, bool zero)
{
    if (HS_UNLIKELY(n > PTRDIFF_MAX - 64)) return NULL;
    size_t total = n + sizeof(hs_large_hdr_t);
    void *base = zero ? hs_sys_calloc(1, total) : hs_sys_malloc(total);
    return HS_LIKELY(base != NULL) ? hs_large_seal(base, sizeof(hs_large_hdr_t), dom) : NULL;
}

HS_INLINE void hs_large_release_fast(void *p)
{
    if (HS_UNLIKELY(hs_large_hdr(p)->info & HS_LARGE_SAMPLED)) hs_sample_release(p);
    size_t off = hs_large_offset(p);
    hs_large_hdr(p)->tag = 0;
    hs_sys_free((char *)p - off);
}

#endif
