/*
 * core/alloc.c - the default allocators of the three domains.
 *
 * Room: the fast paths (a bin pop or push plus counting) and the hs_
 * semantics (zero-byte requests, calloc overflow, realloc rules). It decides
 * small vs large and counts; where memory comes from is heap.c/arena.c
 * (small), large.c (large, MEM/OBJ) and prim/sys.c (RAW).
 *
 * Two layers: take/put move a block between the program and the thread's
 * bins without touching the domain counters (only the per-class ones);
 * the public entry points add the counting, so that a realloc that moves a
 * block is counted once, as a realloc, not as an alloc plus a free.
 */
#include "internal.h"
#include "count.h"
#include "alloc_fast.h"
#include "large.h"
#include "sample.h"
#include <string.h>

/* ---- small blocks: take / put (uncounted, for realloc) -------------------- */

/* A thread without a heap (none could be made, or it is past its last TLS
 * destructor round) goes straight to the central pools, counted in slot 0. */
static void *take(unsigned dom, unsigned cls)
{
    hs_heap_t *h = hs_tls_heap;
    if (!h) h = hs_heap_init_thread();
    if (h) {
        hs_bin_t *b = &h->bins[HS_SMALLDOM(dom)][cls];
        void *p = b->head;
        if (p) {
            b->head = *(void **)p;
            b->count--;
            return p;
        }
        return hs_heap_refill(h, HS_SMALLDOM(dom), cls);
    }
    void *p = NULL;
    hs_lock(&hs_slot0_lock);
    if (!hs_central_take(dom, cls, 1, 1, &p)) p = NULL;
    hs_unlock(&hs_slot0_lock);
    return p;
}

static void put(void *p, unsigned dom, unsigned cls)
{
    hs_heap_t *h = hs_tls_heap;
    if (!h) h = hs_heap_init_thread();
    if (h) {
        hs_bin_t *b = &h->bins[HS_SMALLDOM(dom)][cls];
        *(void **)p = b->head;
        b->head = p;
        if (++b->count > b->cap) hs_heap_overflow(h, HS_SMALLDOM(dom), cls);
        return;
    }
    hs_lock(&hs_slot0_lock);
    *(void **)p = NULL;
    hs_central_give(dom, cls, p);
    hs_unlock(&hs_slot0_lock);
}

/* ---- small blocks: counted slow paths ------------------------------------- */

void *hs_small_malloc_slow(unsigned dom, size_t n)
{
    hs_heap_t *h = hs_tls_heap;
    /* below zero: the fast path charged this request and ran out; otherwise
     * the fast path did not get to charge it (empty bin, slot check), so here */
    if (h != NULL && (h->sample_left < 0 || hs_sample_charge(h, n))) {
        void *sp = hs_sample_alloc(h, dom, n, false, 0);
        if (sp) return sp;
    }
    unsigned cls = hs_size_class(n);
    void *p = take(dom, cls);
    bool locked;
    struct hs_live_slot *s = hs_slot_acquire(&locked);
    if (p) hs_slot_small_alloc(s, dom, cls);
    else hs_slot_failed(s, dom);
    hs_slot_release(locked);
    return p;
}

void hs_small_free_slow(void *p, unsigned dom, unsigned cls)
{
    put(p, dom, cls);
    bool locked;
    struct hs_live_slot *s = hs_slot_acquire(&locked);
    hs_slot_small_free(s, dom, cls);
    hs_slot_release(locked);
}

/* A pointer into one of our pools that never had a class: not a block we
 * handed out. As before the page map knew classes, the pool header decides. */
void hs_small_free_stray(void *p)
{
    const hs_pool_t *pool = hs_pool_of(p);
    hs_small_free_slow(p, pool->dom, pool->cls);
}

void *hs_small_malloc(unsigned dom, size_t n) { return hs_small_malloc_fast(dom, n); }
void hs_small_free(void *p) { hs_small_free_fast(p); }

/* ---- accounting entry points for other layers ---------------------------- */

void hs_count_alloc(unsigned dom, size_t usable)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) {
        hs_slot_alloc(h->slot, dom, usable);
        return;
    }
    bool locked;
    struct hs_live_slot *s = hs_slot_acquire(&locked);
    hs_slot_alloc(s, dom, usable);
    hs_slot_release(locked);
}

void hs_count_free(unsigned dom, size_t usable)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) {
        hs_slot_free(h->slot, dom, usable);
        return;
    }
    bool locked;
    struct hs_live_slot *s = hs_slot_acquire(&locked);
    hs_slot_free(s, dom, usable);
    hs_slot_release(locked);
}

void hs_count_realloc(unsigned dom, size_t old_usable, size_t new_usable)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) {
        hs_slot_realloc(h->slot, dom, old_usable, new_usable);
        return;
    }
    bool locked;
    struct hs_live_slot *s = hs_slot_acquire(&locked);
    hs_slot_realloc(s, dom, old_usable, new_usable);
    hs_slot_release(locked);
}

void hs_count_failed(unsigned dom)
{
    bool locked;
    struct hs_live_slot *s = hs_slot_acquire(&locked);
    hs_slot_failed(s, dom);
    hs_slot_release(locked);
}

void *hs_counted_large(unsigned dom, size_t n, bool zero, size_t align)
{
    void *sp = hs_sample_try(dom, n, zero, align);
    if (HS_UNLIKELY(sp != NULL)) return sp;
    void *p = hs_large_alloc(dom, n, zero, align);
    if (!p) {
        hs_count_failed(dom);
        return NULL;
    }
    hs_count_alloc(dom, hs_large_usable(p));
    hs_live_tick();
    return p;
}

/* ---- pymalloc: the MEM and OBJ default ------------------------------------ */

void *hs_pymalloc_malloc(unsigned dom, size_t n)
{
    if (HS_LIKELY(n <= HS_SMALL_MAX)) return hs_small_malloc_fast(dom, n);
    return hs_counted_large(dom, n, false, 0);
}

void *hs_pymalloc_calloc(unsigned dom, size_t ne, size_t es)
{
    size_t n;
    if (__builtin_mul_overflow(ne, es, &n)) {
        hs_count_failed(dom);
        return NULL;
    }
    if (n <= HS_SMALL_MAX) {
        void *p = hs_small_malloc(dom, n);
        if (p) memset(p, 0, n);
        return p;
    }
    return hs_counted_large(dom, n, true, 0);
}

void hs_pymalloc_free(void *p)
{
    if (!p) return;
    unsigned tag = hs_pagemap_get(p);
    if (HS_LIKELY(tag != 0)) {
        hs_small_free_tagged(p, tag);
        return;
    }
    hs_count_free(hs_large_domain(p), hs_large_usable(p));
    hs_large_release(p);
    hs_live_tick();
}

/* A large block resized: it stays large, behind its header (glibc shrinks
 * or grows it in place when it can, by mremap when it mapped it); counted. */
HS_INLINE void *large_realloc(void *p, size_t n)
{
    unsigned bdom = hs_large_dom(p);
    size_t old = hs_large_usable_fast(p);
    if (hs_realloc_stays(old, n)) {
        hs_count_realloc(bdom, old, old);
        return p;
    }
    void *q = hs_large_resize(p, hs_grow_room(old, n));
    if (!q) {
        hs_count_failed(bdom);
        return NULL;
    }
    hs_count_realloc(bdom, old, hs_large_usable_fast(q));
    hs_live_tick();
    return q;
}

/* realloc keeps the block in its own domain (the one that allocated it). */
void *hs_pymalloc_realloc(unsigned dom, void *p, size_t n)
{
    if (!p) return hs_pymalloc_malloc(dom, n);
    if (hs_pagemap_test(p)) {
        hs_pool_t *pool = hs_pool_of(p);
        unsigned bdom = pool->dom, cls = pool->cls;
        size_t old = hs_class_size(cls);
        /* Same class, or shrinking by less than a quarter: stay (as CPython). */
        if (hs_size_class(n) == cls || hs_realloc_stays(old, n)) {
            hs_count_realloc(bdom, old, old);
            return p;
        }
        void *q;
        size_t nu;
        /* growing: room for a chain (a small request stays small) */
        size_t room = hs_grow_room(old, n);
        n = n <= HS_SMALL_MAX && room > HS_SMALL_MAX ? HS_SMALL_MAX : room;
        if (n <= HS_SMALL_MAX) {
            unsigned nc = hs_size_class(n);
            q = take(bdom, nc);
            nu = hs_class_size(nc);
        } else {
            q = hs_large_alloc(bdom, n, false, 0);
            nu = q ? hs_large_usable(q) : 0;
        }
        if (!q) {
            hs_count_failed(bdom);
            return NULL;
        }
        hs_libc_memcpy(q, p, old < n ? old : n);   /* not rep movsq: alloc_fast.h */
        put(p, bdom, cls);
        bool locked;
        struct hs_live_slot *s = hs_slot_acquire(&locked);
        if (n <= HS_SMALL_MAX) hs_slot_small_move(s, bdom, cls, hs_size_class(n));
        else hs_slot_small_to_large(s, bdom, cls, nu);
        hs_slot_release(locked);
        return q;
    }
    return large_realloc(p, n);
}

/* A small block grown past HS_SMALL_MAX into a bare system block (the
 * interposer's default mode serves MEM blocks above 512 B that way, so a
 * realloc chain continues as glibc's own and later reallocs can grow in
 * place). Counted like any small-to-large move, with glibc's usable size.
 * p must be small (hs_pagemap_test) and n > HS_SMALL_MAX. */
void *hs_small_realloc_to_sys(void *p, size_t n)
{
    hs_pool_t *pool = hs_pool_of(p);
    unsigned bdom = pool->dom, cls = pool->cls;
    void *q = hs_sys_malloc(hs_grow_room(hs_class_size(cls), n));
    if (!q) {
        hs_count_failed(bdom);
        return NULL;
    }
    memcpy(q, p, hs_class_size(cls));
    put(p, bdom, cls);
    bool locked;
    struct hs_live_slot *s = hs_slot_acquire(&locked);
    hs_slot_small_to_large(s, bdom, cls, hs_sys_usable_size(q));
    hs_slot_release(locked);
    return q;
}

/* A MEM block behind our header (a sampled block, a once sampled one, an
 * aligned one) resized in the interposer's default mode. Above
 * HS_SAMPLE_REJOIN_MAX at an offset of at most 32 (sampled blocks, blocks
 * aligned to 32) it stays behind its header and glibc resizes it as it would
 * the bare block -- in place when it can, by mremap when it mapped it -- so
 * that a big sampled block's realloc costs what an unsampled one does
 * (core/sample.h says why the limit). For the profile it is a free of the
 * sample (hs_large_resize), as any realloc that is not sampled. Otherwise
 * (smaller, or aligned beyond 32, which realloc need not keep) it moves to a
 * bare system block like every other MEM block above HS_SMALL_MAX, one copy
 * as glibc's realloc would make when it moves a block. Counted as one
 * realloc. */
void *hs_large_realloc_mem(void *p, size_t n)
{
    if (hs_large_offset(p) <= 32 && hs_large_usable_fast(p) > HS_SAMPLE_REJOIN_MAX) return large_realloc(p, n);
    unsigned bdom = hs_large_domain(p);
    size_t old = hs_large_usable(p);
    if (hs_realloc_stays(old, n)) {
        hs_count_realloc(bdom, old, old);
        return p;
    }
    void *q = hs_sys_malloc(hs_grow_room(old, n));
    if (!q) {
        hs_count_failed(bdom);
        return NULL;
    }
    memcpy(q, p, old < n ? old : n);
    hs_large_release(p);
    hs_count_realloc(bdom, old, hs_sys_usable_size(q));
    return q;
}

/* ---- sampled realloc (sample.h) ------------------------------------------ */

void *hs_sample_realloc(hs_heap_t *h, void *p, int kind, size_t n)
{
    unsigned dom, cls = 0;
    size_t old;
    if (kind == 0) {
        const hs_pool_t *pool = hs_pool_of(p);
        dom = pool->dom;
        cls = pool->cls;
        old = hs_class_size(cls);
    } else if (kind == 1) {
        dom = hs_large_domain(p);
        old = hs_large_usable(p);
    } else {
        dom = HS_DOMAIN_MEM;
        old = hs_sys_usable_size(p);
    }
    void *q;
    if (kind != 0 && (kind == 2 || hs_large_offset(p) <= 32)) {
        /* resized in place by glibc (no copy of a big block) */
        q = hs_sample_move(h, p, kind == 2, n);
        if (q) hs_count_realloc(dom, old, hs_large_usable(q));
        return q;
    }
    q = hs_sample_alloc_uncounted(h, dom, n);
    if (!q) return NULL;
    memcpy(q, p, old < n ? old : n);
    size_t nu = hs_large_usable(q);
    if (kind == 0) {
        put(p, dom, cls);
        bool locked;
        struct hs_live_slot *s = hs_slot_acquire(&locked);
        hs_slot_small_to_large(s, dom, cls, nu);
        hs_slot_release(locked);
        return q;
    }
    if (kind == 1) hs_large_release(p);
    else hs_sys_free(p);
    hs_count_realloc(dom, old, nu);
    return q;
}

/* ---- RAW: the system allocator, counted by glibc's usable size ------------ */

void *hs_rawsys_malloc(size_t n)
{
    void *p = hs_sys_malloc(n ? n : 1);
    if (!p) {
        hs_count_failed(HS_DOMAIN_RAW);
        return NULL;
    }
    hs_count_alloc(HS_DOMAIN_RAW, hs_sys_usable_size(p));
    return p;
}

void *hs_rawsys_calloc(size_t ne, size_t es)
{
    size_t n;
    if (__builtin_mul_overflow(ne, es, &n)) {
        hs_count_failed(HS_DOMAIN_RAW);
        return NULL;
    }
    void *p = hs_sys_calloc(1, n ? n : 1);
    if (!p) {
        hs_count_failed(HS_DOMAIN_RAW);
        return NULL;
    }
    hs_count_alloc(HS_DOMAIN_RAW, hs_sys_usable_size(p));
    return p;
}

void *hs_rawsys_realloc(void *p, size_t n)
{
    if (!p) return hs_rawsys_malloc(n);
    size_t old = hs_sys_usable_size(p);
    void *q = hs_sys_realloc(p, n ? n : 1);
    if (!q) {
        hs_count_failed(HS_DOMAIN_RAW);
        return NULL;
    }
    hs_count_realloc(HS_DOMAIN_RAW, old, hs_sys_usable_size(q));
    return q;
}

void hs_rawsys_free(void *p)
{
    if (!p) return;
    hs_count_free(HS_DOMAIN_RAW, hs_sys_usable_size(p));
    hs_sys_free(p);
}

/* A layer above the default allocators (the debug hooks) whose blocks carry
 * `bytes` of its own overhead: the core counts whole blocks, the program
 * sees less. on=true takes the bytes off live (counted as freed bytes),
 * on=false puts them back (counted as allocated bytes); block counts are
 * untouched. When to call which is the layer's business (core/debug.c takes
 * the overhead off before the allocator underneath counts a block, so that
 * no peak ever includes it). */
void hs_count_overhead(unsigned dom, size_t bytes, bool on)
{
    if (!bytes || dom >= HS_NDOMAINS) return;
    bool locked;
    struct hs_live_slot *s = hs_slot_acquire(&locked);
    if (on) {
        hs_slot_enter_free(s);
        hs_seq_begin(s);
        HS_BUMP(&s->dom[dom].free_bytes, bytes);
        hs_seq_end(s);
        hs_pending_sub(s, dom, bytes);
    } else {
        hs_slot_enter(s);
        hs_seq_begin(s);
        HS_BUMP(&s->dom[dom].alloc_bytes, bytes);
        hs_seq_end(s);
        hs_pending_add(s, dom, bytes);
    }
    hs_slot_release(locked);
}
