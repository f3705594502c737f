/*
 * core/alloc_fast.h - the small-block fast paths, inline.
 *
 * Room: what runs on nearly every malloc and free of <= HS_SMALL_MAX (1024) bytes: a bin pop
 * or push on the calling thread's heap and a per-class count. Anything else
 * (no heap yet, empty or full bin) leaves for the out-of-line slow paths in
 * alloc.c. Included by alloc.c, domain.c and the interposer, so the common
 * case costs no call beyond the entry point itself.
 */
#ifndef HS_CORE_ALLOC_FAST_H
#define HS_CORE_ALLOC_FAST_H
#include "internal.h"
#include "count.h"
#include <string.h>
#include "sample.h"

/* bins are 16 bytes: a bin's offset in its row is its class's size less 16 */
_Static_assert(sizeof(hs_bin_t) == 16, "hs_bin_t is 16 bytes");

void *hs_small_malloc_slow(unsigned dom, size_t n);
void  hs_small_free_slow(void *p, unsigned dom, unsigned cls);
void  hs_small_free_stray(void *p);
/* a claim (release) found due by a fast path, after it counted; returns p */
void *hs_claim_then(struct hs_live_slot *s, unsigned dom, void *p);
void  hs_release_then(struct hs_live_slot *s, unsigned dom);

/*
 * The whole small allocation of a thread with a heap, when nothing unusual
 * is due: a bin pop and its counting, with no call. NULL when the bin is
 * empty or the slot's enter check wants its slow path -- then nothing has
 * changed and the caller takes its slow path. *due: a claim is due now
 * (hs_claim_then). The sampling countdown is charged last (sample.h): when
 * it runs out, NULL too, and hs_small_malloc_slow() takes the sample.
 */
/* the same with the class already known: cls = (n - 1) >> 4 for n >= 1
 * (callers that have excluded n == 0 compute it in fewer instructions) */
HS_INLINE void *hs_fast_small_malloc_cls(hs_heap_t *h, unsigned dom, size_t cls, size_t n, bool *due)
{
    *due = false;
    /* the bin's offset, cls * 16, is also the class size less 16: one
     * shift for both (GCC does not see it through hs_class_size) */
    size_t off = cls * sizeof(hs_bin_t);
    hs_bin_t *b = (hs_bin_t *)((char *)h->bins[HS_SMALLDOM(dom)] + off);
    void *p = b->head;
    struct hs_live_slot *s = h->slot;
    /* the epoch check only: this path's clock tick is the sampling
     * countdown's (sample.c, set_window) */
    if (HS_UNLIKELY(p == NULL) || HS_UNLIKELY(!hs_slot_enter_quick_free(s))) return NULL;
    /* charged only here, where the request is served: a request that leaves
     * for the slow path for another reason is charged there, once */
    if (hs_sample_charge(h, n)) return NULL;
    void *next = *(void **)p;
    b->head = next;
    /* the next block of this bin may be cold (a pool's free list taken
     * whole, arena.c): its line is on its way by the next allocation of the
     * class (python3 alloc_churn.py: half of the stall of this load gone) */
    __builtin_prefetch(next, 1, 3);
    b->count--;
    HS_BUMP(&s->small_allocs[HS_SMALLDOM(dom)][cls], 1);
    *due = hs_pending_up_quiet(s, dom, off + 16);
    return p;
}

HS_INLINE void *hs_fast_small_malloc(hs_heap_t *h, unsigned dom, size_t n, bool *due)
{
    return hs_fast_small_malloc_cls(h, dom, hs_size_class(n), n, due);
}

/*
 * The whole small free of a thread with a heap: p is ours and tag its page
 * map byte (nonzero). false when the slow path is needed (a full bin, a
 * pool without a class, the enter check): nothing has changed then. *due:
 * a release is due now (hs_release_then).
 */
/* the same for a caller that knows the block's small domain sd (0, 1) and
 * class, for instance from a page map byte it has already tested against
 * its own domain: the bin, the counter and the class size all come from
 * cls without re-deriving them from the tag */
HS_INLINE bool hs_fast_small_free_cls(hs_heap_t *h, void *p, unsigned sd, unsigned cls, bool *due)
{
    size_t off = (size_t)cls * sizeof(hs_bin_t);      /* and the class size less 16 */
    hs_bin_t *b = (hs_bin_t *)((char *)h->bins[sd] + off);
    struct hs_live_slot *s = h->slot;
    *due = false;
    if (HS_UNLIKELY(b->count >= b->cap) || HS_UNLIKELY(!hs_slot_enter_quick_free(s))) return false;
    *(void **)p = b->head;
    b->head = p;
    b->count++;
    HS_BUMP(&s->small_frees[sd][cls], 1);
    *due = hs_pending_down_quiet(s, sd + 1, off + 16);
    return true;
}

HS_INLINE bool hs_fast_small_free(hs_heap_t *h, void *p, unsigned tag, bool *due)
{
    *due = false;
    unsigned idx = tag - 1;          /* sd * HS_NCLASSES + cls: flat index of both tables */
    if (HS_UNLIKELY(idx >= HS_NSMALLDOM * HS_NCLASSES)) return false;
    hs_bin_t *b = &h->bins[0][0] + idx;
    struct hs_live_slot *s = h->slot;
    if (HS_UNLIKELY(b->count >= b->cap) || HS_UNLIKELY(!hs_slot_enter_quick_free(s))) return false;
    *(void **)p = b->head;
    b->head = p;
    b->count++;
    HS_BUMP(&s->small_frees[0][0] + idx, 1);
    *due = hs_pending_down_quiet(s, idx / HS_NCLASSES + 1, hs_class_size(idx % HS_NCLASSES));
    return true;
}

HS_INLINE void *hs_small_malloc_fast(unsigned dom, size_t n)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL)) {
        bool due;
        void *p = hs_fast_small_malloc(h, dom, n, &due);
        if (HS_LIKELY(p != NULL)) {
            if (HS_UNLIKELY(due)) return hs_claim_then(h->slot, dom, p);
            return p;
        }
    }
    return hs_small_malloc_slow(dom, n);
}

/* p is ours and tag = hs_pagemap_get(p) (nonzero): the domain and class come
 * from the page map, so the pool header is not read. */
HS_INLINE void hs_small_free_tagged(void *p, unsigned tag)
{
    hs_heap_t *h = hs_tls_heap;
    bool due;
    if (HS_LIKELY(h != NULL) && HS_LIKELY(hs_fast_small_free(h, p, tag, &due))) {
        if (HS_UNLIKELY(due)) hs_release_then(h->slot, (tag - 1) / HS_NCLASSES + 1);
        return;
    }
    unsigned idx = tag - 1;
    if (HS_UNLIKELY(idx >= HS_NSMALLDOM * HS_NCLASSES)) {
        hs_small_free_stray(p);      /* a pool that was never given a class */
        return;
    }
    hs_small_free_slow(p, idx / HS_NCLASSES + 1, idx % HS_NCLASSES);
}

/* p must be owned (hs_pagemap_test) */
HS_INLINE void hs_small_free_fast(void *p)
{
    hs_small_free_tagged(p, hs_pagemap_get(p));
}

/*
 * realloc of a small block of a thread with a heap, to n in 1..HS_SMALL_MAX,
 * when nothing unusual is due: the block stays when n is in its class or
 * shrinks it by less than a quarter (as hs_pymalloc_realloc decides), or
 * moves to n's class by a bin pop and a bin push, counted as one move (an
 * empty bin is refilled and a full one drained out of line, as take/put in
 * alloc.c do). tag = hs_pagemap_get(p), nonzero. NULL when the slow path is
 * needed (a pool without a class, no memory): nothing has changed then.
 */
/* Does a realloc to n of the small block with page-map byte tag leave it
 * where it is (hs_fast_small_realloc's first case)? */
HS_INLINE bool hs_small_realloc_stays(unsigned tag, size_t n)
{
    unsigned cls = (tag - 1) % HS_NCLASSES;
    return hs_size_class(n) == cls || hs_realloc_stays(hs_class_size(cls), n);
}

/* libc's memcpy called, not expanded inline: GCC expands memcpy of a
 * size it cannot see as rep movsq, slower than libc's few vector moves for
 * the tens of bytes a small realloc copies (test: alloc_churn.py) */
extern void *hs_libc_memcpy(void *dst, const void *src, size_t n) __asm__("memcpy");

HS_INLINE void *hs_fast_small_realloc(hs_heap_t *h, void *p, unsigned tag, size_t n)
{
    unsigned idx = tag - 1;
    if (HS_UNLIKELY(idx >= HS_NSMALLDOM * HS_NCLASSES)) return NULL;
    unsigned sd = idx / HS_NCLASSES, cls = idx % HS_NCLASSES, nc = hs_size_class(n);
    size_t old = hs_class_size(cls);
    struct hs_live_slot *s = h->slot;
    if (nc == cls || hs_realloc_stays(old, n)) {
        hs_slot_realloc(s, sd + 1, old, old);
        return p;
    }
    if (nc > cls) {             /* growing: room for a chain (hs_grow_room) */
        size_t r = hs_grow_room(old, n);
        nc = hs_size_class(r < HS_SMALL_MAX ? r : HS_SMALL_MAX);
    }
    hs_bin_t *to = &h->bins[sd][nc], *from = &h->bins[sd][cls];
    void *q = to->head;
    if (HS_LIKELY(q != NULL)) {
        to->head = *(void **)q;
        to->count--;
    } else if ((q = hs_heap_refill(h, sd, nc)) == NULL) {
        return NULL;            /* no memory: the slow path counts the failure */
    }
    hs_libc_memcpy(q, p, old < n ? old : n);
    *(void **)p = from->head;
    from->head = p;
    if (HS_UNLIKELY(++from->count > from->cap)) hs_heap_overflow(h, sd, cls);
    hs_slot_small_move(s, sd + 1, cls, nc);
    return q;
}

#endif
