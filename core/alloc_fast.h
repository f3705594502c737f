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

/* p must be owned (hs_pagemap_test) */
HS_INLINE void hs_small_free_fast(void *p)
{
    const hs_pool_t *pool = hs_pool_of(p);
    unsigned dom = pool->dom, cls = pool->cls;
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) {
        hs_bin_t *b = &h->bins[HS_SMALLDOM(dom)][cls];
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

#endif
