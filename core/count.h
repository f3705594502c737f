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

/* Peak machinery: the domain's and the total's pending bytes move together;
 * when either crosses HS_LIVE_FLUSH_BYTES the out-of-line
 * hs_counter_flush_over (live.c) folds it. A pending_hwm never reaches the
 * threshold unflushed, so "pending >= threshold" implies that pending is a
 * new high: the threshold is tested only inside the (rare) new-high
 * branches, and the common case is two loads, adds, stores and compares. */
/* hs_pending_add without the flush; true when hs_counter_flush_over(s, dom)
 * is due */
HS_INLINE bool hs_pending_up_quiet(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    struct hs_live_counters *k = &s->dom[dom];
    int64_t p = HS_LOAD(&k->pending) + (int64_t)sz;
    HS_STORE(&k->pending, p);
    int64_t t = HS_LOAD(&s->total_pending) + (int64_t)sz;
    HS_STORE(&s->total_pending, t);
    if (HS_UNLIKELY(p > HS_LOAD(&k->pending_hwm))) {
        HS_STORE(&k->pending_hwm, p);
        if (HS_UNLIKELY(p >= HS_LIVE_FLUSH_BYTES)) {
            /* the total's high first: the flush folds both */
            if (t > HS_LOAD(&s->total_pending_hwm)) HS_STORE(&s->total_pending_hwm, t);
            return true;
        }
    }
    if (HS_UNLIKELY(t > HS_LOAD(&s->total_pending_hwm))) {
        HS_STORE(&s->total_pending_hwm, t);
        if (HS_UNLIKELY(t >= HS_LIVE_FLUSH_BYTES)) return true;
    }
    return false;
}

HS_INLINE void hs_pending_add(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    if (HS_UNLIKELY(hs_pending_up_quiet(s, dom, sz))) hs_counter_flush_over(s, dom);
}

/* hs_pending_sub without the flush; true when hs_counter_flush_over is due */
HS_INLINE bool hs_pending_down_quiet(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    struct hs_live_counters *k = &s->dom[dom];
    int64_t p = HS_LOAD(&k->pending) - (int64_t)sz;
    HS_STORE(&k->pending, p);
    int64_t t = HS_LOAD(&s->total_pending) - (int64_t)sz;
    HS_STORE(&s->total_pending, t);
    return (p <= -HS_LIVE_FLUSH_BYTES) | (t <= -HS_LIVE_FLUSH_BYTES);
}

HS_INLINE void hs_pending_sub(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    if (HS_UNLIKELY(hs_pending_down_quiet(s, dom, sz))) hs_counter_flush_over(s, dom);
}

/* These two return the slot's new allocs (frees) count of the domain. */
HS_INLINE uint64_t hs_slot_alloc(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    struct hs_live_counters *k = &s->dom[dom];
    uint64_t n = HS_LOAD(&k->allocs) + 1;
    HS_STORE(&k->allocs, n);
    HS_BUMP(&k->alloc_bytes, sz);
    hs_pending_add(s, dom, sz);
    return n;
}

HS_INLINE uint64_t hs_slot_free(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    struct hs_live_counters *k = &s->dom[dom];
    HS_BUMP(&k->free_bytes, sz);
    uint64_t n = HS_LOAD(&k->frees) + 1;
    HS_STORE(&k->frees, n);
    hs_pending_sub(s, dom, sz);
    return n;
}

HS_INLINE void hs_slot_realloc(struct hs_live_slot *s, unsigned dom, size_t old, size_t nsz)
{
    struct hs_live_counters *k = &s->dom[dom];
    HS_BUMP(&k->reallocs, 1);
    if (nsz == old) return;
    HS_BUMP(&k->alloc_bytes, nsz);
    HS_BUMP(&k->free_bytes, old);
    if (nsz > old) hs_pending_add(s, dom, nsz - old);
    else hs_pending_sub(s, dom, old - nsz);
}

/* Small arena blocks: one per-class increment plus the peak machinery. */
HS_INLINE void hs_slot_small_alloc(struct hs_live_slot *s, unsigned dom, unsigned cls)
{
    size_t sz = hs_class_size(cls);
    HS_BUMP(&s->small_allocs[HS_SMALLDOM(dom)][cls], 1);
    hs_pending_add(s, dom, sz);
}

HS_INLINE void hs_slot_small_free(struct hs_live_slot *s, unsigned dom, unsigned cls)
{
    size_t sz = hs_class_size(cls);
    HS_BUMP(&s->small_frees[HS_SMALLDOM(dom)][cls], 1);
    hs_pending_sub(s, dom, sz);
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

/*
 * Counting with the publication tick and no call inside, for paths where
 * this is all the work besides glibc's (the interposer in malloc mode): they
 * end in a tail call to glibc and should keep nothing in registers across a
 * call of their own. Returns true when hs_slot_catch_up(s, dom) is due: the
 * domain's or the total's pending bytes reached +-HS_LIVE_FLUSH_BYTES, or
 * this is the slot's 256th allocation (free) of the domain since the last
 * tick -- the tick is taken off the counter just written instead of a
 * separate thread-local counter (see hs_live_tick for why there is one).
 */
HS_INLINE bool hs_slot_alloc_quiet(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    struct hs_live_counters *k = &s->dom[dom];
    uint64_t n = HS_LOAD(&k->allocs) + 1;
    HS_STORE(&k->allocs, n);
    HS_BUMP(&k->alloc_bytes, sz);
    if (HS_UNLIKELY(hs_pending_up_quiet(s, dom, sz))) return true;
    return HS_UNLIKELY((n & 255) == 0);
}

HS_INLINE bool hs_slot_free_quiet(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    struct hs_live_counters *k = &s->dom[dom];
    HS_BUMP(&k->free_bytes, sz);
    uint64_t n = HS_LOAD(&k->frees) + 1;
    HS_STORE(&k->frees, n);
    bool flush = hs_pending_down_quiet(s, dom, sz);
    return HS_UNLIKELY(flush | ((n & 255) == 0));
}

/* what a *_quiet function found due (live.c) */
void hs_slot_catch_up(struct hs_live_slot *s, unsigned dom);

HS_INLINE void hs_slot_alloc_ticked(struct hs_live_slot *s, unsigned dom, size_t usable)
{
    if (HS_UNLIKELY(hs_slot_alloc_quiet(s, dom, usable))) hs_slot_catch_up(s, dom);
}
HS_INLINE void hs_slot_free_ticked(struct hs_live_slot *s, unsigned dom, size_t usable)
{
    if (HS_UNLIKELY(hs_slot_free_quiet(s, dom, usable))) hs_slot_catch_up(s, dom);
}
/* The same for callers without the slot at hand; a thread without a heap
 * counts in slot 0 and ticks hs_live_tick(). */
HS_INLINE void hs_count_alloc_ticked(unsigned dom, size_t usable)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) {
        hs_slot_alloc_ticked(h->slot, dom, usable);
    } else {
        hs_count_alloc(dom, usable);
        hs_live_tick();
    }
}
HS_INLINE void hs_count_free_ticked(unsigned dom, size_t usable)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) {
        hs_slot_free_ticked(h->slot, dom, usable);
    } else {
        hs_count_free(dom, usable);
        hs_live_tick();
    }
}

#endif
