/*
 * core/count.h - counting into a thread's slot of the live region.
 *
 * Room: inline helpers used by alloc.c on every allocation and free. The
 * owner thread is the only writer of its slot, so these are plain loads and
 * stores (relaxed atomics so readers in other threads and processes see
 * whole values); no lock prefix, no shared cache line. Slot 0 is shared by
 * threads without a heap and is written only under hs_slot0_lock.
 * See include/heapshim/live.h for how readers turn this into statistics.
 */
#ifndef HS_CORE_COUNT_H
#define HS_CORE_COUNT_H
#include "internal.h"

HS_INLINE void hs_pending_up(struct hs_live_slot *s, int64_t *pending, int64_t *hwm,
                             unsigned idx, size_t sz)
{
    int64_t p = HS_LOAD(pending) + (int64_t)sz;
    HS_STORE(pending, p);
    if (p > HS_LOAD(hwm)) {
        HS_STORE(hwm, p);
        if (HS_UNLIKELY(p >= HS_LIVE_FLUSH_BYTES)) hs_counter_flush(s, idx);
    }
}

HS_INLINE void hs_pending_down(struct hs_live_slot *s, int64_t *pending, unsigned idx, size_t sz)
{
    int64_t p = HS_LOAD(pending) - (int64_t)sz;
    HS_STORE(pending, p);
    if (HS_UNLIKELY(p <= -HS_LIVE_FLUSH_BYTES)) hs_counter_flush(s, idx);
}

HS_INLINE void hs_slot_alloc(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    struct hs_live_counters *k = &s->dom[dom];
    HS_BUMP(&k->allocs, 1);
    HS_BUMP(&k->alloc_bytes, sz);
    hs_pending_up(s, &k->pending, &k->pending_hwm, dom, sz);
    hs_pending_up(s, &s->total_pending, &s->total_pending_hwm, HS_LIVE_TOTAL, sz);
}

HS_INLINE void hs_slot_free(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    struct hs_live_counters *k = &s->dom[dom];
    HS_BUMP(&k->free_bytes, sz);
    HS_BUMP(&k->frees, 1);
    hs_pending_down(s, &k->pending, dom, sz);
    hs_pending_down(s, &s->total_pending, HS_LIVE_TOTAL, sz);
}

HS_INLINE void hs_slot_realloc(struct hs_live_slot *s, unsigned dom, size_t old, size_t nsz)
{
    struct hs_live_counters *k = &s->dom[dom];
    HS_BUMP(&k->reallocs, 1);
    if (nsz == old) return;
    HS_BUMP(&k->alloc_bytes, nsz);
    HS_BUMP(&k->free_bytes, old);
    if (nsz > old) {
        hs_pending_up(s, &k->pending, &k->pending_hwm, dom, nsz - old);
        hs_pending_up(s, &s->total_pending, &s->total_pending_hwm, HS_LIVE_TOTAL, nsz - old);
    } else {
        hs_pending_down(s, &k->pending, dom, old - nsz);
        hs_pending_down(s, &s->total_pending, HS_LIVE_TOTAL, old - nsz);
    }
}

/* Small arena blocks: one per-class increment plus the peak machinery. */
HS_INLINE void hs_slot_small_alloc(struct hs_live_slot *s, unsigned dom, unsigned cls)
{
    size_t sz = hs_class_size(cls);
    HS_BUMP(&s->small_allocs[HS_SMALLDOM(dom)][cls], 1);
    hs_pending_up(s, &s->dom[dom].pending, &s->dom[dom].pending_hwm, dom, sz);
    hs_pending_up(s, &s->total_pending, &s->total_pending_hwm, HS_LIVE_TOTAL, sz);
}

HS_INLINE void hs_slot_small_free(struct hs_live_slot *s, unsigned dom, unsigned cls)
{
    size_t sz = hs_class_size(cls);
    HS_BUMP(&s->small_frees[HS_SMALLDOM(dom)][cls], 1);
    hs_pending_down(s, &s->dom[dom].pending, dom, sz);
    hs_pending_down(s, &s->total_pending, HS_LIVE_TOTAL, sz);
}

/* A moved small block was counted as an alloc and a free: make it one realloc. */
HS_INLINE void hs_slot_small_moved(struct hs_live_slot *s, unsigned dom)
{
    HS_BUMP(&s->dom[dom].frees, (uint64_t)-1);
    HS_BUMP(&s->dom[dom].allocs, (uint64_t)-1);
    HS_BUMP(&s->dom[dom].reallocs, 1);
}

HS_INLINE void hs_slot_failed(struct hs_live_slot *s, unsigned dom)
{
    HS_BUMP(&s->dom[dom].failed, 1);
}

/* The slot to count into: the thread's own, or slot 0 under its lock.
 * Returns the slot; *locked says whether hs_slot_release must unlock. */
struct hs_live_slot *hs_slot_acquire(bool *locked);
HS_INLINE void hs_slot_release(bool locked) { if (locked) hs_unlock(&hs_slot0_lock); }

/* Counting for callers that are not on a bin fast path (large blocks). */
void hs_count_alloc(unsigned dom, size_t usable);
void hs_count_free(unsigned dom, size_t usable);
HS_INLINE void hs_count_alloc_fast(unsigned dom, size_t usable)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) hs_slot_alloc(h->slot, dom, usable);
    else hs_count_alloc(dom, usable);
}
HS_INLINE void hs_count_free_fast(unsigned dom, size_t usable)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) hs_slot_free(h->slot, dom, usable);
    else hs_count_free(dom, usable);
}

#endif
