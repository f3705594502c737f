/*
 * core/alloc_fast.h - the small-block fast paths, inline.
 *
 * Room: what runs on nearly every malloc and free of <= 512 bytes: a bin pop
 * or push on the calling thread's heap and a per-class count. Anything else
 * (no heap yet, empty or full bin) leaves for the out-of-line slow paths in
 * alloc.c. Included by alloc.c, domain.c and the interposer, so the common
 * case costs no call beyond the entry point itself.
 */
#ifndef HS_CORE_ALLOC_FAST_H
#define HS_CORE_ALLOC_FAST_H
#include "internal.h"
#include "count.h"

void *hs_small_malloc_slow(unsigned dom, unsigned cls);
void  hs_small_free_slow(void *p, unsigned dom, unsigned cls);

HS_INLINE void *hs_small_malloc_fast(unsigned dom, size_t n)
{
    unsigned cls = hs_size_class(n);
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) {
        hs_bin_t *b = &h->bins[HS_SMALLDOM(dom)][cls];
        void *p = b->head;
        if (HS_LIKELY(p != NULL)) {
            b->head = *(void **)p;
            b->count--;
            hs_slot_small_alloc(h->slot, dom, cls);
            return p;
        }
    }
    return hs_small_malloc_slow(dom, cls);
}

void  hs_small_free_stray(void *p);

/* p is ours and tag = hs_pagemap_get(p) (nonzero): the domain and class come
 * from the page map, so the pool header is not read. */
HS_INLINE void hs_small_free_tagged(void *p, unsigned tag)
{
    unsigned idx = tag - 1;          /* sd * HS_NCLASSES + cls */
    if (HS_UNLIKELY(idx >= HS_NSMALLDOM * HS_NCLASSES)) {
        hs_small_free_stray(p);      /* a pool that was never given a class */
        return;
    }
    unsigned dom = idx / HS_NCLASSES + 1, cls = idx % HS_NCLASSES;
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) {
        hs_bin_t *b = &h->bins[idx / HS_NCLASSES][cls];
        if (HS_LIKELY(b->count < b->cap)) {
            *(void **)p = b->head;
            b->head = p;
            b->count++;
            hs_slot_small_free(h->slot, dom, cls);
            return;
        }
    }
    hs_small_free_slow(p, dom, cls);
}

/* p must be owned (hs_pagemap_test) */
HS_INLINE void hs_small_free_fast(void *p)
{
    hs_small_free_tagged(p, hs_pagemap_get(p));
}

#endif
