/*
 * core/heap.c - per-thread heaps: bins of free small blocks, and the slot
 * each thread counts into.
 *
 * Room: owns the heap registry, the thread-exit and fork handling of heaps,
 * and the bin refill/overflow slow paths. The fast paths that pop and push
 * bins live in alloc.c; the central pools they refill from are in arena.c.
 *
 * A bin holds at most `cap` blocks (about 8 KiB worth, between 16 and 128
 * blocks, up to twice that for a bin that keeps running over and then dry,
 * within a process-wide allowance).
 * Refill takes a batch from the central pools under the class lock
 * (4 blocks at first, doubling up to cap/2), or a pool's whole free list
 * when one comes first and the cap can follow it (hs_central_take: its
 * blocks are cold, and walking them to cut a batch stalled on each one);
 * overflow gives half back. A
 * block freed by another thread simply goes into the freeing thread's bin,
 * so cross-thread frees need no atomic operation; the block's pool finds its
 * way back through the central lists.
 *
 * Draining. A thread that frees a burst of blocks overflows its bin again
 * and again with no refill in between. Whatever the bin holds when the
 * burst ends stays cached, and each cached block pins its pool and arena: a
 * full bin of randomly freed blocks could keep a hundred arenas mapped. So
 * an overflow with no refill and (almost) no allocation of the class since
 * the previous one halves the bin's cap (down to HS_BIN_DRAIN_CAP) and
 * empties the bin; the next refill restores the cap, since a thread that
 * allocates again wants its cache back.
 */
#include "internal.h"
#include "count.h"
#include <string.h>

HS_TLS hs_heap_t *hs_tls_heap;
HS_TLS struct hs_live_slot *hs_tls_plain;   /* see internal.h */
HS_TLS hs_heap_t *hs_tls_fast;              /* see internal.h */
static HS_TLS int tls_exiting;     /* set once the thread's heap was released */

static hs_lock_t registry_lock = HS_LOCK_INIT;
static hs_heap_t *all_heaps;       /* heaps owned by live threads */
static hs_heap_t *free_heaps;      /* recycled heap objects */
static uint32_t *free_slot_stack;  /* indices of released slots */
static uint32_t free_slot_top;
static pthread_key_t heap_key;
static int heap_key_ok;

struct hs_live_slot *hs_slot0;
hs_lock_t hs_slot0_lock = HS_LOCK_INIT;

/* A bin's cap starts at about 8 KiB worth of blocks (16..128) and may grow
 * to twice that (at most 255, so that a batch fits the bin's byte). The
 * growth is paid from one process-wide allowance of HS_BIN_GROW_BUDGET bytes
 * (counted as cap beyond the base times the class size): a single busy
 * thread gets all its bins grown, while many threads cannot multiply the
 * memory parked in their bins. */
#define HS_BIN_GROW_BUDGET (192u * 1024u)
static uint64_t grow_used;          /* bytes of the allowance in use (atomic) */

static uint32_t bin_cap(unsigned cls)
{
    size_t cap = 8192 / hs_class_size(cls);
    if (cap < 16) cap = 16;
    if (cap > 128) cap = 128;
    return (uint32_t)cap;
}

static uint32_t bin_cap_max(unsigned cls)
{
    uint32_t cap = 2 * bin_cap(cls);
    return cap > 255 ? 255 : cap;
}

/* bytes of the allowance a cap of this class takes */
static uint64_t grow_bytes(unsigned cls, uint32_t cap)
{
    uint32_t base = bin_cap(cls);
    return cap > base ? (uint64_t)(cap - base) * hs_class_size(cls) : 0;
}

/* Set a bin's cap, paying for growth past the base out of the allowance
 * (no growth when it is spent) and giving back what a smaller cap frees. */
static void bin_set_cap(hs_bin_t *b, unsigned cls, uint32_t cap)
{
    uint64_t had = grow_bytes(cls, b->cap), need = grow_bytes(cls, cap);
    if (need > had) {
        uint64_t more = need - had;
        if (__atomic_add_fetch(&grow_used, more, __ATOMIC_RELAXED) > HS_BIN_GROW_BUDGET) {
            __atomic_sub_fetch(&grow_used, more, __ATOMIC_RELAXED);
            return;
        }
    } else if (had > need) {
        __atomic_sub_fetch(&grow_used, had - need, __ATOMIC_RELAXED);
    }
    b->cap = (uint16_t)cap;
}

/* The most blocks a refill takes when a pool's whole free list comes first
 * (hs_central_take): up to the class's largest cap while the allowance can
 * pay for raising the cap that far. In python3 alloc_churn.py 9 in 10 of
 * the lists longer than the cap were within twice it. */
static unsigned take_most(const hs_bin_t *b, unsigned cls)
{
    uint32_t max = bin_cap_max(cls);
    uint64_t more = grow_bytes(cls, max) - grow_bytes(cls, b->cap);
    if (b->cap >= max || __atomic_load_n(&grow_used, __ATOMIC_RELAXED) + more > HS_BIN_GROW_BUDGET) return b->cap;
    return max;
}

/* 8 before: a python3 script freeing a 200k-entry dict then overflowed
 * every 8 frees; 32 takes 1.2% of its instructions off (cachegrind) with
 * the same peak RSS on the bench workloads (within 0.5%). 64: python3
 * alloc_churn.py 2 566.5M -> 565.3M instructions (its bursts of dict
 * deletions overflow half as often), peak RSS of alloc_churn, py_objects,
 * wl_churn and wl_mt unchanged (medians of 5, within 0.3%). Only classes
 * below 128 B have a base cap above it. */
#define HS_BIN_DRAIN_CAP 64

/* Heap objects come from 64 KiB mappings, carved one at a time: threading
 * a free list through a whole new mapping would touch all of its pages, 64
 * KiB of RSS in every process, most of which never runs 60 threads.
 * registry_lock held. */
static hs_heap_t *carve_next, *carve_end;

static hs_heap_t *heap_object(void)
{
    if (free_heaps) {
        hs_heap_t *h = free_heaps;
        free_heaps = h->next_free;
        return h;
    }
    if (carve_next == carve_end) {
        size_t bytes = 64 * 1024;
        hs_heap_t *chunk = hs_os_map(bytes);
        if (!chunk) return NULL;
        carve_next = chunk;
        carve_end = chunk + bytes / sizeof(hs_heap_t);
    }
    return carve_next++;
}

/* registry_lock held */
static struct hs_live_slot *slot_take(void)
{
    uint32_t idx;
    if (free_slot_top) {
        idx = free_slot_stack[--free_slot_top];
    } else {
        uint32_t used = HS_LOAD(&hs_live->slots_used);
        if (used >= hs_live->nslots) return NULL;
        /* a slot first used: its pages backed first (hs_os_back); none to
         * be had, the thread counts in slot 0, as when slots run out */
        if (!hs_os_back(hs_live_slot_at(used), sizeof(struct hs_live_slot))) return NULL;
        idx = used;
        __atomic_store_n(&hs_live->slots_used, used + 1, __ATOMIC_RELEASE);
    }
    return hs_live_slot_at(idx);
}

static void slot_put(struct hs_live_slot *s)
{
    /* an idle slot holds no claim (live.h, "Peaks") */
    hs_slot_settle(s);
    /* In a fork child, the slot of a thread that was in the middle of an
     * update when the parent forked: that thread is gone, and readers would
     * wait for the update to end forever. */
    uint64_t q = HS_LOAD(&s->seq);
    if (q & 1) HS_STORE(&s->seq, q + 1);
    HS_STORE(&s->owner, 0);
    uint32_t idx = (uint32_t)(((char *)s - ((char *)hs_live + hs_live->slots_offset)) /
                              sizeof(struct hs_live_slot));
    free_slot_stack[free_slot_top++] = idx;
}

static void heap_release(hs_heap_t *h);

static void heap_thread_exit(void *arg)
{
    hs_heap_t *h = arg;
    if (!h) return;
    tls_exiting++;
    hs_tls_heap = NULL;
    hs_tls_plain = NULL;           /* the slot goes back for another thread */
    hs_tls_fast = NULL;
    heap_release(h);
}

/* Never starts the core: free() calls it too, and must not. */
struct hs_live_slot *hs_plain_arm(void)
{
    if (__atomic_load_n(&hs_initialized, __ATOMIC_ACQUIRE) != 2 || hs_tls_tag >= 0) return NULL;
    hs_heap_t *h = hs_tls_heap ? hs_tls_heap : hs_heap_init_thread();
    if (!h) return NULL;
    hs_tls_plain = h->slot;
    return h->slot;
}

/* Never starts the core either (free() calls it too). */
hs_heap_t *hs_fast_arm(void)
{
    if (__atomic_load_n(&hs_initialized, __ATOMIC_ACQUIRE) != 2 || hs_tls_tag >= 0) return NULL;
    hs_heap_t *h = hs_tls_heap ? hs_tls_heap : hs_heap_init_thread();
    hs_tls_fast = h;
    if (h) hs_tls_plain = h->slot;  /* bare MEM blocks count into it directly too */
    return h;
}

hs_heap_t *hs_heap_init_thread(void)
{
    hs__init();
    if (hs_tls_heap) return hs_tls_heap;
    if (__atomic_load_n(&hs_initialized, __ATOMIC_ACQUIRE) != 2) return NULL;
    /* Once this thread's heap has been released, anything it still
     * allocates or frees (glibc frees its per-thread data after the key
     * destructors) goes through the shared slot: a new heap made now might
     * never be given back. */
    if (tls_exiting || !heap_key_ok) return NULL;

    hs_lock(&registry_lock);
    hs_heap_t *h = heap_object();
    struct hs_live_slot *s = h ? slot_take() : NULL;
    if (h && !s) {
        h->next_free = free_heaps;
        free_heaps = h;
        h = NULL;
    }
    if (h) {
        memset(h, 0, sizeof *h);
        for (unsigned d = 0; d < HS_NSMALLDOM; d++)
            for (unsigned c = 0; c < HS_NCLASSES; c++) {
                h->bins[d][c].cap = (uint16_t)bin_cap(c);
                h->bins[d][c].batch = 4;
            }
        h->slot = s;
        h->tid = hs_os_tid();
        h->in_use = 1;
        HS_STORE(&s->owner, h->tid);
        h->next_all = all_heaps;
        all_heaps = h;
    }
    hs_unlock(&registry_lock);
    if (!h) return NULL;
    if (pthread_setspecific(heap_key, h) != 0) {
        heap_release(h);
        return NULL;
    }
    hs_tls_heap = h;
    return h;
}

void hs_heap_flush_all(hs_heap_t *h)
{
    for (unsigned d = 0; d < HS_NSMALLDOM; d++) {
        for (unsigned c = 0; c < HS_NCLASSES; c++) {
            hs_bin_t *b = &h->bins[d][c];
            if (b->count) hs_central_give(d + 1, c, b->head);
            b->head = NULL;
            b->count = 0;
            if (b->cap > bin_cap(c)) bin_set_cap(b, c, bin_cap(c));   /* the heap is done */
        }
    }
}

static void heap_release(hs_heap_t *h)
{
    hs_heap_flush_all(h);
    hs_lock(&registry_lock);
    for (hs_heap_t **pp = &all_heaps; *pp; pp = &(*pp)->next_all) {
        if (*pp == h) {
            *pp = h->next_all;
            break;
        }
    }
    slot_put(h->slot);
    h->slot = NULL;
    h->in_use = 0;
    h->next_free = free_heaps;
    free_heaps = h;
    hs_unlock(&registry_lock);
    hs_live_publish(false);
}

void *hs_heap_refill(hs_heap_t *h, unsigned sd, unsigned cls)
{
    hs_bin_t *b = &h->bins[sd][cls];
    void *chain;
    if (b->flags & HS_BIN_OVERFLOWED) {
        /* The bin went from overflowing to empty: a working set of this
         * class that swings by more than the cap. A bigger cap makes these
         * round trips through the central pools rarer (a wandering count
         * takes about cap^2/4 steps to reach either end). A drained bin
         * gets its cap back, since a thread that allocates again wants its
         * cache. */
        uint32_t base = bin_cap(cls), max = bin_cap_max(cls);
        if (b->cap < base) b->cap = (uint16_t)base;
        else if (b->cap < max) bin_set_cap(b, cls, 2u * b->cap < max ? 2u * b->cap : max);
    }
    b->flags = HS_BIN_REFILLED;
    /* A thread that only needs a few blocks of a class gets a few: a full
     * batch would touch pages a short-lived program never uses. Busy bins
     * double their batch on every refill. */
    unsigned want = b->batch;
    if (b->batch < b->cap / 2) b->batch = (uint8_t)(b->batch * 2 < b->cap / 2 ? b->batch * 2 : b->cap / 2);
    unsigned got = hs_central_take(sd + 1, cls, want, take_most(b, cls), &chain);
    hs_live_tick_every(8);
    if (!got) return NULL;
    void *p = chain;
    b->head = *(void **)p;
    b->count = got - 1;
    /* a free list taken whole may hold more than the cap: the cap follows,
     * or the next free would overflow the bin and walk those cold blocks
     * back (bin_set_cap refuses when another thread spent the allowance
     * since take_most looked; the bin then simply overflows) */
    if (b->count > b->cap) bin_set_cap(b, cls, b->count);
    return p;
}

void hs_heap_overflow(hs_heap_t *h, unsigned sd, unsigned cls)
{
    hs_bin_t *b = &h->bins[sd][cls];
    unsigned keep;
    /* A burst: (nearly) nothing of this class allocated since the last
     * overflow and no refill. A bin whose count merely wanders up and down
     * (a program churning a working set) overflows twice in a row about half
     * the time, and emptying it then would cost a refill soon after. */
    uint16_t allocs = (uint16_t)HS_LOAD(&h->slot->small_allocs[sd][cls]);
    unsigned since = (uint16_t)(allocs - b->mark);
    b->mark = allocs;
    if (!(b->flags & HS_BIN_REFILLED) && since <= b->cap / 8u) {
        /* draining: shrink the cap and give back everything; no allocation
         * is coming to use warm blocks */
        if (b->cap > HS_BIN_DRAIN_CAP) bin_set_cap(b, cls, b->cap / 2u);
        keep = 0;
    } else {
        /* keep the most recently freed half (warm in cache) */
        keep = b->cap / 2;
    }
    b->flags = HS_BIN_OVERFLOWED;
    void *rest = b->head;
    if (keep) {
        void *last = b->head;
        for (unsigned i = 1; i < keep; i++) last = *(void **)last;
        rest = *(void **)last;
        *(void **)last = NULL;
    } else {
        b->head = NULL;
    }
    hs_central_give(sd + 1, cls, rest);
    b->count = (uint16_t)keep;
    hs_live_tick_every(8);
}

struct hs_live_slot *hs_slot_acquire(bool *locked)
{
    hs_heap_t *h = hs_tls_heap;
    if (!h) h = hs_heap_init_thread();
    if (HS_LIKELY(h != NULL)) {
        *locked = false;
        return h->slot;
    }
    hs_lock(&hs_slot0_lock);
    *locked = true;
    return hs_slot0;
}

/* ---- setup and fork -------------------------------------------------------- */

void hs_heap_setup(void)
{
    hs_slot0 = hs_live_slot_at(0);
    free_slot_stack = hs_os_map(sizeof(uint32_t) * hs_live->nslots);
    if (free_slot_stack && pthread_key_create(&heap_key, heap_thread_exit) == 0) heap_key_ok = 1;
}

static bool registry_taken, slot0_taken;   /* by the fork handlers */

void hs_heap_fork_prepare(void)
{
    registry_taken = hs_lock_for_fork(&registry_lock);
    slot0_taken = hs_lock_for_fork(&hs_slot0_lock);
}

void hs_heap_fork_parent(void)
{
    if (slot0_taken) hs_unlock(&hs_slot0_lock);
    if (registry_taken) hs_unlock(&registry_lock);
}

/* In the child only the forking thread exists: the other threads' bins hold
 * blocks nobody will free, so give them back and free their slots. */
HS_FORK_CODE void hs_heap_fork_child(void)
{
    hs_lock_reset(&registry_lock);
    hs_lock_reset(&hs_slot0_lock);
    hs_heap_t *mine = hs_tls_heap, *h = all_heaps, *next;
    all_heaps = NULL;
    for (; h; h = next) {
        next = h->next_all;
        if (h == mine) {
            h->next_all = all_heaps;
            all_heaps = h;
            h->tid = hs_os_tid();
            HS_STORE(&h->slot->owner, h->tid);
            continue;
        }
        hs_heap_flush_all(h);
        slot_put(h->slot);
        h->slot = NULL;
        h->in_use = 0;
        h->next_free = free_heaps;
        free_heaps = h;
    }
}
