/*
 * core/count.h - counting into a thread's slot of the live region.
 *
 * Room: inline helpers used on every allocation and free. The owner thread
 * is the only writer of its slot, so these are plain loads and stores
 * (relaxed atomics, so that readers in other threads and processes see whole
 * values); no lock prefix, no shared cache line. Slot 0 is shared by threads
 * without a heap and is written only under hs_slot0_lock. The protocol
 * (claims for the peaks, epochs and seq for consistent reads) is described
 * in include/heapshim/live.h; the rare parts are out of line in live.c.
 *
 * Every counting operation is:
 *   hs_slot_enter(s)      the poke and tick check (before any store)
 *   [seq odd]             only where several fields change together
 *   the counter stores    one per-class count, or allocs+bytes, ...
 *   pending[dom], pending[TOTAL] += / -= bytes, and a claim or release when
 *                         one leaves [release_at, 0]
 *   [seq even]
 */
#ifndef HS_CORE_COUNT_H
#define HS_CORE_COUNT_H
#include "internal.h"
#include "live_sum.h"

/* A field of the calling thread's own slot, read by that thread: it is the
 * field's only writer (slot 0: under hs_slot0_lock), so a plain load can be
 * neither torn nor stale, and the compiler may fold it into the compare
 * that uses it. The stores stay HS_STORE/HS_BUMP: readers in other threads
 * and processes load those fields while the owner writes them. */
#define HS_OWN(p) (*(p))

/* The process-wide epoch of in-process snapshots (live.c). Counting
 * operations do not read it: they compare header.poke (changed whenever the
 * epoch is, and by readers of other processes) with their slot's seen_poke,
 * and look at the epoch only when it moved. */
struct hs_epoch_line {
    uint64_t epoch;
    char pad[64 - sizeof(uint64_t)];
} __attribute__((aligned(64)));
extern HS_HIDDEN struct hs_epoch_line hs_epoch_line;
#define hs_snap_epoch (hs_epoch_line.epoch)
void hs_slot_enter_slow(struct hs_live_slot *s);     /* freeze, fork wait, tick */
void hs_claim(struct hs_live_slot *s, unsigned dom);   /* pending > 0 somewhere */
void hs_release(struct hs_live_slot *s, unsigned dom); /* pending < release_at somewhere */

/* The check itself: false when hs_slot_enter_slow is due (a new epoch, or
 * the tick ran out). Fast paths that cannot call out test this and leave
 * for their slow path, which enters again. Allocations tick; frees only
 * look at the epoch (a thread that frees also allocates, or others do).
 * The small allocation fast path looks at the epoch only too: its tick is
 * the sampling countdown's window (sample.c), which makes the slot's tick
 * due every 128 KiB allocated. */
HS_INLINE bool hs_slot_enter_quick(struct hs_live_slot *s)
{
    int64_t t = HS_OWN(&s->tick) - 1;
    HS_STORE(&s->tick, t);
    return HS_LIKELY((int)(__atomic_load_n(&hs_live->poke, __ATOMIC_ACQUIRE) == HS_OWN(&s->seen_poke)) &
                     (int)(t > 0));
}
HS_INLINE bool hs_slot_enter_quick_free(struct hs_live_slot *s)
{
    return HS_LIKELY(__atomic_load_n(&hs_live->poke, __ATOMIC_ACQUIRE) == HS_OWN(&s->seen_poke));
}

HS_INLINE void hs_slot_enter(struct hs_live_slot *s)
{
    if (HS_UNLIKELY(!hs_slot_enter_quick(s))) hs_slot_enter_slow(s);
}
HS_INLINE void hs_slot_enter_free(struct hs_live_slot *s)
{
    if (HS_UNLIKELY(!hs_slot_enter_quick_free(s))) hs_slot_enter_slow(s);
}

/* seq brackets an update of several fields (readers retry while it is odd) */
HS_INLINE void hs_seq_begin(struct hs_live_slot *s)
{
    HS_BUMP(&s->seq, 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}
HS_INLINE void hs_seq_end(struct hs_live_slot *s)
{
#if defined(__x86_64__)
    /* x86 keeps stores in order: a release store needs only the compiler's
     * barrier, and the add to memory is that store */
    __atomic_signal_fence(__ATOMIC_RELEASE);
    HS_BUMP(&s->seq, 1);
#else
    __atomic_store_n(&s->seq, HS_LOAD(&s->seq) + 1, __ATOMIC_RELEASE);
#endif
}

/* pending bytes up (an allocation), and their high-water marks: true when a
 * claim is due. A claim is due only at a new high: hwm <= 0 whenever no
 * claim is due (a claim or release leaves hwm = pending = -grant <= 0, and
 * pending > 0 is claimed at once), so p > 0 implies p > hwm, and an
 * allocation below the mark (the common case of a thread that also frees)
 * tests nothing else. */
HS_INLINE bool hs_pending_up_quiet(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    int64_t p = HS_OWN(&s->pending[dom]) + (int64_t)sz;
    int64_t t = HS_OWN(&s->pending[HS_LIVE_TOTAL]) + (int64_t)sz;
    HS_STORE(&s->pending[dom], p);
    HS_STORE(&s->pending[HS_LIVE_TOTAL], t);
    if (p > HS_OWN(&s->hwm[dom])) {
        /* a new high of the domain: in a growing program usually of the
         * total too, so both are settled on this branch */
        HS_STORE(&s->hwm[dom], p);
        if (t > HS_OWN(&s->hwm[HS_LIVE_TOTAL])) HS_STORE(&s->hwm[HS_LIVE_TOTAL], t);
        return HS_UNLIKELY((int)(p > 0) | (int)(t > 0));
    }
    if (t > HS_OWN(&s->hwm[HS_LIVE_TOTAL])) {
        HS_STORE(&s->hwm[HS_LIVE_TOTAL], t);
        return HS_UNLIKELY(t > 0);
    }
    return false;
}

/* pending bytes down (a free): true when a release is due */
HS_INLINE bool hs_pending_down_quiet(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    int64_t p = HS_OWN(&s->pending[dom]) - (int64_t)sz;
    HS_STORE(&s->pending[dom], p);
    int64_t t = HS_OWN(&s->pending[HS_LIVE_TOTAL]) - (int64_t)sz;
    HS_STORE(&s->pending[HS_LIVE_TOTAL], t);
    return HS_UNLIKELY((int)(p < HS_OWN(&s->release_at[dom])) |
                       (int)(t < HS_OWN(&s->release_at[HS_LIVE_TOTAL])));
}

HS_INLINE void hs_pending_add(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    if (HS_UNLIKELY(hs_pending_up_quiet(s, dom, sz))) hs_claim(s, dom);
}

HS_INLINE void hs_pending_sub(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    if (HS_UNLIKELY(hs_pending_down_quiet(s, dom, sz))) hs_release(s, dom);
}

/* ---- whole operations ------------------------------------------------------- */

/* An allocation (not a small arena block) of `sz` usable bytes. */
HS_INLINE void hs_slot_alloc(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    struct hs_live_counters *k = &s->dom[dom];
    hs_slot_enter(s);
    hs_seq_begin(s);
    HS_BUMP(&k->allocs, 1);
    HS_BUMP(&k->alloc_bytes, sz);
    hs_seq_end(s);
    hs_pending_add(s, dom, sz);
}

HS_INLINE void hs_slot_free(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    struct hs_live_counters *k = &s->dom[dom];
    hs_slot_enter_free(s);
    hs_seq_begin(s);
    HS_BUMP(&k->frees, 1);
    HS_BUMP(&k->free_bytes, sz);
    hs_seq_end(s);
    hs_pending_sub(s, dom, sz);
}

/* A realloc that kept or resized a (non-small) block in place or moved it:
 * counted once, as a realloc, with its change of bytes. */
HS_INLINE void hs_slot_realloc(struct hs_live_slot *s, unsigned dom, size_t old, size_t nsz)
{
    struct hs_live_counters *k = &s->dom[dom];
    hs_slot_enter(s);
    if (nsz == old) {
        HS_BUMP(&k->reallocs, 1);
        return;
    }
    hs_seq_begin(s);
    HS_BUMP(&k->reallocs, 1);
    HS_BUMP(&k->alloc_bytes, nsz);
    HS_BUMP(&k->free_bytes, old);
    hs_seq_end(s);
    if (nsz > old) hs_pending_add(s, dom, nsz - old);
    else hs_pending_sub(s, dom, old - nsz);
}

/* Small arena blocks: one per-class increment plus the pending bytes. */
HS_INLINE void hs_slot_small_alloc(struct hs_live_slot *s, unsigned dom, unsigned cls)
{
    hs_slot_enter(s);
    HS_BUMP(&s->small_allocs[HS_SMALLDOM(dom)][cls], 1);
    hs_pending_add(s, dom, hs_class_size(cls));
}

HS_INLINE void hs_slot_small_free(struct hs_live_slot *s, unsigned dom, unsigned cls)
{
    hs_slot_enter_free(s);
    HS_BUMP(&s->small_frees[HS_SMALLDOM(dom)][cls], 1);
    hs_pending_sub(s, dom, hs_class_size(cls));
}

/* A small block moved by realloc to another small class: one realloc. */
HS_INLINE void hs_slot_small_move(struct hs_live_slot *s, unsigned dom, unsigned from, unsigned to)
{
    hs_slot_enter(s);
    hs_seq_begin(s);
    HS_BUMP(&s->small_allocs[HS_SMALLDOM(dom)][to], 1);
    HS_BUMP(&s->small_frees[HS_SMALLDOM(dom)][from], 1);
    HS_BUMP(&s->dom[dom].moves, 1);
    HS_BUMP(&s->dom[dom].reallocs, 1);
    hs_seq_end(s);
    size_t a = hs_class_size(to), b = hs_class_size(from);
    if (a > b) hs_pending_add(s, dom, a - b);
    else if (b > a) hs_pending_sub(s, dom, b - a);
}

/* A small block moved by realloc to a large block of `nsz` usable bytes:
 * the small block's free and the large block's bytes, one realloc. */
HS_INLINE void hs_slot_small_to_large(struct hs_live_slot *s, unsigned dom, unsigned from, size_t nsz)
{
    struct hs_live_counters *k = &s->dom[dom];
    hs_slot_enter(s);
    hs_seq_begin(s);
    HS_BUMP(&s->small_frees[HS_SMALLDOM(dom)][from], 1);
    HS_BUMP(&k->allocs, 1);          /* the large block's allocation ... */
    HS_BUMP(&k->alloc_bytes, nsz);
    HS_BUMP(&k->moves, 1);           /* ... which the domain counts as a realloc */
    HS_BUMP(&k->reallocs, 1);
    hs_seq_end(s);
    size_t b = hs_class_size(from);
    if (nsz > b) hs_pending_add(s, dom, nsz - b);
    else if (b > nsz) hs_pending_sub(s, dom, b - nsz);
}

HS_INLINE void hs_slot_failed(struct hs_live_slot *s, unsigned dom)
{
    hs_slot_enter(s);
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
 * Counting with no call on the common path, for paths where this is all the
 * work besides glibc's (the interposer in malloc mode): they end in a tail
 * call to glibc and should keep nothing in registers across a call of their
 * own. Returns true when a claim (after an allocation: hs_claim) or a
 * release (after a free: hs_release) is due; nothing else can be. The enter
 * check may still call out (a snapshot or a tick).
 */
HS_INLINE bool hs_slot_alloc_quiet_as(struct hs_live_slot *s, unsigned dom, size_t sz, bool ticks)
{
    struct hs_live_counters *k = &s->dom[dom];
    if (ticks) hs_slot_enter(s);
    else hs_slot_enter_free(s);
    hs_seq_begin(s);
    HS_BUMP(&k->allocs, 1);
    HS_BUMP(&k->alloc_bytes, sz);
    hs_seq_end(s);
    return hs_pending_up_quiet(s, dom, sz);
}
HS_INLINE bool hs_slot_alloc_quiet(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    return hs_slot_alloc_quiet_as(s, dom, sz, true);
}
/* The same for a caller that charged the sampling countdown just before
 * (hs_sample_try with the thread's heap): that is its clock tick. */
HS_INLINE bool hs_slot_alloc_quiet_charged(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    return hs_slot_alloc_quiet_as(s, dom, sz, false);
}

/* the counting of a free whose caller has made the enter check */
HS_INLINE bool hs_slot_free_quiet_entered(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    struct hs_live_counters *k = &s->dom[dom];
    hs_seq_begin(s);
    HS_BUMP(&k->frees, 1);
    HS_BUMP(&k->free_bytes, sz);
    hs_seq_end(s);
    return hs_pending_down_quiet(s, dom, sz);
}
HS_INLINE bool hs_slot_free_quiet(struct hs_live_slot *s, unsigned dom, size_t sz)
{
    hs_slot_enter_free(s);
    return hs_slot_free_quiet_entered(s, dom, sz);
}

HS_INLINE void hs_slot_alloc_ticked(struct hs_live_slot *s, unsigned dom, size_t usable)
{
    if (HS_UNLIKELY(hs_slot_alloc_quiet(s, dom, usable))) hs_claim(s, dom);
}
HS_INLINE void hs_slot_free_ticked(struct hs_live_slot *s, unsigned dom, size_t usable)
{
    if (HS_UNLIKELY(hs_slot_free_quiet(s, dom, usable))) hs_release(s, dom);
}
/* The same for callers without the slot at hand; a thread without a heap
 * counts in slot 0. */
HS_INLINE void hs_count_alloc_ticked(unsigned dom, size_t usable)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) hs_slot_alloc_ticked(h->slot, dom, usable);
    else hs_count_alloc(dom, usable);
}
HS_INLINE void hs_count_free_ticked(unsigned dom, size_t usable)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) hs_slot_free_ticked(h->slot, dom, usable);
    else hs_count_free(dom, usable);
}

#endif
