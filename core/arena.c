/*
 * core/arena.c - arenas and pools: the central, locked half of the small
 * object allocator (the picture is in internal.h).
 *
 * Room: owns the arena objects, usable_arenas, usedpools and the arena
 * allocator hook. Per-thread bins (heap.c) come here with a batch at a time;
 * nothing in this file runs on the allocation fast path.
 *
 * Names follow CPython's obmalloc where the idea is the same:
 *   usable_arenas    arenas with at least one free pool, sorted by
 *                    nfreepools ascending, so pools are drawn from the most
 *                    used arena and the emptiest ones can drain and be freed;
 *   nfp2lasta[n]     the last arena on usable_arenas with nfreepools == n,
 *                    which keeps the re-sort after a pool is freed O(1);
 *   usedpools        per (domain, class): pools with free blocks.
 */
#include "internal.h"
#include <string.h>
#include <sys/mman.h>

typedef struct hs_arena {
    uintptr_t address;          /* what the arena allocator returned; 0 = unused object */
    uintptr_t first_pool;       /* first pool-aligned address inside */
    unsigned  ntotalpools;      /* 16, or 15 for an unaligned arena */
    unsigned  nfreepools;       /* never used + emptied */
    unsigned  nextpool;         /* index of the first never-used pool */
    hs_pool_t *freepools;       /* emptied pools, linked through next */
    struct hs_arena *nextarena, *prevarena;
    hs_arena_allocator_t made_by;   /* the hook that made it frees it */
} hs_arena_t;

/* ---- the arena allocator hook ------------------------------------------ */

/* Default: an anonymous mapping trimmed so that it starts on a pool boundary,
 * which makes all 16 pools usable (mmap only promises page alignment). */
static void *default_arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    size_t slop = HS_POOL_SIZE - 4096;
    char *raw = hs_os_mmap(NULL, size + slop, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uintptr_t start = ((uintptr_t)raw + HS_POOL_MASK) & ~HS_POOL_MASK;
    size_t head = start - (uintptr_t)raw;
    if (head) hs_os_munmap(raw, head);
    if (slop - head) hs_os_munmap((char *)start + size, slop - head);
    return (void *)start;
}

static void default_arena_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    hs_os_munmap(ptr, size);
}

static hs_arena_allocator_t arena_allocator = {
    NULL, default_arena_alloc, default_arena_free
};

/* ---- state --------------------------------------------------------------- */

static hs_lock_t arena_lock = HS_LOCK_INIT;
static hs_arena_t *usable_arenas;
static hs_arena_t *unused_arena_objects;
static hs_arena_t *nfp2lasta[HS_POOLS_PER_ARENA + 1];
static uint64_t pools_free_count;   /* sum of nfreepools over mapped arenas */
/* Entirely free arenas kept mapped (at the tail of usable_arenas, drawn
 * from last) instead of unmapped at once: a program that builds and drops a
 * structure again and again would otherwise map and unmap arenas (and fault
 * their pages in again) every round. CPython keeps the last one.
 *
 * HS_ARENAS_KEPT are kept for good. Any more (never more than the arena
 * peak, by construction) are kept until one of:
 *   - HS_ARENA_DECAY_NS pass with no kept arena drawn or added (checked at
 *     arena operations and at the allocating threads' clock ticks: a
 *     process that stops allocating keeps what it had emptied);
 *   - the program asks the system for memory another way -- glibc requests
 *     of HS_SYS_NOTE_MIN bytes or more (every hs_sys_* allocation notes
 *     itself while an excess is kept: hs_sys_note, internal.h) and its own
 *     anonymous mappings (interpose/mapped.c) -- worth 1/HS_SYS_NOTE_DIV of
 *     the excess, net of the pools drawn from the arenas meanwhile (each
 *     pool taken while an excess is kept takes HS_POOL_SIZE off the count,
 *     not below 0): its next phase is not made of small blocks, and the kept
 *     arenas would only add to its RSS. A phase that is still made of small
 *     blocks besides glibc's (a producer that fills 256 KiB of small blocks
 *     and one 32 KiB array per batch while consumers free earlier batches,
 *     as xmalloc-test does) keeps its arenas: counted gross, its glibc
 *     requests unmapped and faulted in arenas again every few batches
 *     (955 munmaps in 2 s of xmalloc-test -w 2; half the process's time
 *     in page faults).
 * Measured, page faults with 2 kept / with this: wl_cxx (builds and drops
 * ~40 arenas of nodes per round) 19.1k / 3.1k (glibc 2.7k), 0.1 s less
 * system time in 0.9 s; peak RSS of the bench python3 workloads, a python3 script that frees
 * a dict while json.dumps' 6 MB result is being joined (a second's decay
 * alone raised its peak by 6 MB, 7%), perl and the C workloads unchanged
 * (within 1%); wl_cxx's +0.2 MiB. */
#define HS_ARENAS_KEPT      2
#define HS_ARENA_DECAY_NS   1000000000ull           /* 1 s */
#define HS_SYS_NOTE_DIV     4u
static unsigned empty_kept;                         /* empty arenas on usable_arenas */
static uint64_t kept_touched_ns;                    /* last draw from or add to the excess; read unlocked */
uint64_t hs_arena_idle_bytes;                       /* the excess in bytes; read unlocked */
static int64_t sys_bytes_since;                     /* hs_sys_note()'s count while an excess is kept, net of pools drawn */

typedef struct hs_central {
    hs_lock_t  lock;
    hs_pool_t *used;            /* doubly linked list of pools with free blocks */
    char pad[64 - sizeof(hs_lock_t) - sizeof(hs_pool_t *)];
} hs_central_t;
static hs_central_t central[HS_NSMALLDOM][HS_NCLASSES] __attribute__((aligned(4096))) HS_COLD_BSS;

void hs_get_arena_allocator(hs_arena_allocator_t *out)
{
    if (!out) return;
    hs_lock(&arena_lock);
    *out = arena_allocator;
    hs_unlock(&arena_lock);
}

void hs_set_arena_allocator(const hs_arena_allocator_t *a)
{
    if (!a || !a->alloc || !a->free) return;
    hs_lock(&arena_lock);
    arena_allocator = *a;
    hs_unlock(&arena_lock);
}

/* ---- arenas (arena_lock held) --------------------------------------------- */

static void publish_arena_stats(void)
{
    HS_STORE(&hs_live->pools_free, pools_free_count);
}

/* Arena objects come from 64 KiB chunks carved as needed (not linked up
 * front: that wrote every page of the chunk, 64 KiB of RSS for a program
 * that uses one arena); freed ones are reused through unused_arena_objects. */
static hs_arena_t *new_arena_object(void)
{
    static hs_arena_t *chunk;
    static size_t carved, chunk_n;
    if (unused_arena_objects) {
        hs_arena_t *a = unused_arena_objects;
        unused_arena_objects = a->nextarena;
        return a;
    }
    if (carved == chunk_n) {
        size_t bytes = 64 * 1024;
        chunk = hs_os_map(bytes);
        if (!chunk) return NULL;
        chunk_n = bytes / sizeof(hs_arena_t);
        carved = 0;
    }
    return &chunk[carved++];
}

static hs_arena_t *new_arena(void)
{
    hs_arena_t *a = new_arena_object();
    if (!a) return NULL;
    hs_arena_allocator_t al = arena_allocator;
    void *mem = al.alloc(al.ctx, HS_ARENA_SIZE);
    if (!mem) goto fail;
    uintptr_t addr = (uintptr_t)mem;
    uintptr_t first = (addr + HS_POOL_MASK) & ~HS_POOL_MASK;
    unsigned n = (unsigned)((addr + HS_ARENA_SIZE - first) / HS_POOL_SIZE);
    if (hs_pagemap_mark(first, n, true) != 0) {
        hs_pagemap_mark(first, n, false);
        al.free(al.ctx, mem, HS_ARENA_SIZE);
        goto fail;
    }
    memset(a, 0, sizeof *a);
    a->address = addr;
    a->first_pool = first;
    a->ntotalpools = a->nfreepools = n;
    a->made_by = al;
    pools_free_count += n;

    uint64_t mapped = HS_LOAD(&hs_live->arenas_mapped) + 1;
    HS_STORE(&hs_live->arenas_mapped, mapped);
    if (mapped > HS_LOAD(&hs_live->arenas_peak)) HS_STORE(&hs_live->arenas_peak, mapped);
    HS_BUMP(&hs_live->bytes_mapped, HS_ARENA_SIZE);
    HS_BUMP(&hs_live->arenas_allocated_total, 1);
    publish_arena_stats();
    return a;
fail:
    a->nextarena = unused_arena_objects;
    unused_arena_objects = a;
    return NULL;
}

static void free_arena(hs_arena_t *a)
{
    hs_pagemap_mark(a->first_pool, a->ntotalpools, false);
    a->made_by.free(a->made_by.ctx, (void *)a->address, HS_ARENA_SIZE);
    pools_free_count -= a->nfreepools;
    a->address = 0;
    a->nextarena = unused_arena_objects;
    unused_arena_objects = a;
    HS_STORE(&hs_live->arenas_mapped, HS_LOAD(&hs_live->arenas_mapped) - 1);
    HS_STORE(&hs_live->bytes_mapped, HS_LOAD(&hs_live->bytes_mapped) - HS_ARENA_SIZE);
    HS_BUMP(&hs_live->arenas_freed_total, 1);
    publish_arena_stats();
}

static void unlink_arena(hs_arena_t *a)
{
    if (a->prevarena) a->prevarena->nextarena = a->nextarena;
    else usable_arenas = a->nextarena;
    if (a->nextarena) a->nextarena->prevarena = a->prevarena;
    a->nextarena = a->prevarena = NULL;
}

static void insert_arena_after(hs_arena_t *a, hs_arena_t *pos)
{
    a->prevarena = pos;
    a->nextarena = pos->nextarena;
    if (pos->nextarena) pos->nextarena->prevarena = a;
    pos->nextarena = a;
}

/* a leaves the nfp group `nfp` (keeps nfp2lasta right) */
static void leave_group(hs_arena_t *a, unsigned nfp)
{
    if (nfp2lasta[nfp] == a)
        nfp2lasta[nfp] = (a->prevarena && a->prevarena->nfreepools == nfp) ? a->prevarena : NULL;
}

/* ---- the kept excess (arena_lock held) ---------------------------------- */

static void excess_changed(void)
{
    uint64_t idle = empty_kept > HS_ARENAS_KEPT ? (uint64_t)(empty_kept - HS_ARENAS_KEPT) * HS_ARENA_SIZE : 0;
    if (idle && !HS_LOAD(&hs_arena_idle_bytes)) HS_STORE(&sys_bytes_since, 0);
    HS_STORE(&hs_arena_idle_bytes, idle);
    if (idle) HS_STORE(&kept_touched_ns, hs_now_ns());
}

/* Unmap the empty arenas beyond HS_ARENAS_KEPT: the tail of usable_arenas
 * (group HS_POOLS_PER_ARENA, the last). */
static void purge_excess(void)
{
    hs_arena_t *a;
    while (empty_kept > HS_ARENAS_KEPT && (a = nfp2lasta[HS_POOLS_PER_ARENA]) != NULL) {
        leave_group(a, HS_POOLS_PER_ARENA);
        unlink_arena(a);
        free_arena(a);
        empty_kept--;
    }
    HS_STORE(&hs_arena_idle_bytes, 0);
}

static void purge_if_stale(void)
{
    if (HS_LIKELY(!HS_LOAD(&hs_arena_idle_bytes))) return;
    if (hs_now_ns() - HS_LOAD(&kept_touched_ns) >= HS_ARENA_DECAY_NS) purge_excess();
}

/* may an arena that just became empty be kept? (a hook's short arena would
 * sit among partly used ones: the base only) */
static bool keep_empty(const hs_arena_t *a)
{
    return empty_kept < HS_ARENAS_KEPT || a->ntotalpools == HS_POOLS_PER_ARENA;
}

/* The clock tick of an allocating thread (live.c, every 128 KiB or so it
 * allocates): a program whose blocks now all come from the threads' bins
 * makes no arena operation, and would keep what it emptied for good. */
void hs_arena_tick(void)
{
    if (HS_LIKELY(!HS_LOAD(&hs_arena_idle_bytes))) return;
    if (hs_now_ns() - HS_LOAD(&kept_touched_ns) < HS_ARENA_DECAY_NS) return;
    if (!hs_trylock(&arena_lock)) return;
    purge_if_stale();
    hs_unlock(&arena_lock);
}

void hs_arena_sys_request(size_t n)
{
    int64_t seen = __atomic_add_fetch(&sys_bytes_since, (int64_t)n, __ATOMIC_RELAXED);
    if (seen < (int64_t)(HS_LOAD(&hs_arena_idle_bytes) / HS_SYS_NOTE_DIV)) return;
    /* never waits: the caller may be an arena allocator hook calling
     * malloc or mmap under arena_lock (while kept arenas are unmapped); a
     * later request tries again */
    if (!hs_trylock(&arena_lock)) return;
    if (HS_LOAD(&hs_arena_idle_bytes)) purge_excess();
    hs_unlock(&arena_lock);
}

/* Hand out one pool, from the most used arena that has one. */
static hs_pool_t *take_pool(void)
{
    if (!usable_arenas) {
        hs_arena_t *a = new_arena();
        if (!a) return NULL;
        usable_arenas = a;
        a->nextarena = a->prevarena = NULL;
        nfp2lasta[a->nfreepools] = a;
    }
    purge_if_stale();
    hs_arena_t *a = usable_arenas;          /* the head has the fewest free pools */
    hs_pool_t *pool;
    if (a->nfreepools == a->ntotalpools && empty_kept) {
        empty_kept--;                       /* a kept one in use again */
        excess_changed();
    }
    if (a->freepools) {
        pool = a->freepools;
        a->freepools = pool->next;
    } else {
        pool = (hs_pool_t *)(a->first_pool + (uintptr_t)a->nextpool * HS_POOL_SIZE);
        a->nextpool++;
    }
    pool->arena = (struct hs_arena *)a;
    /* small blocks still drawn while an excess is kept: the glibc requests
     * noted meanwhile do not mean a new phase (see HS_ARENAS_KEPT). A race
     * with hs_arena_sys_request's add may lose a few of its bytes: a
     * heuristic's count, never below 0 for long. */
    if (HS_LOAD(&hs_arena_idle_bytes) &&
        __atomic_sub_fetch(&sys_bytes_since, (int64_t)HS_POOL_SIZE, __ATOMIC_RELAXED) < 0)
        HS_STORE(&sys_bytes_since, 0);
    unsigned old = a->nfreepools--;
    pools_free_count--;
    leave_group(a, old);
    if (a->nfreepools == 0) {
        unlink_arena(a);                    /* full: on no list */
    } else if (!nfp2lasta[a->nfreepools]) {
        nfp2lasta[a->nfreepools] = a;       /* still the head: all others have more */
    }
    HS_BUMP(&hs_live->pools_used, 1);
    publish_arena_stats();
    return pool;
}

/* Take an empty pool back; free the arena when it is entirely free. */
static void return_pool(hs_pool_t *pool)
{
    hs_arena_t *a = (hs_arena_t *)pool->arena;
    pool->next = a->freepools;
    a->freepools = pool;
    unsigned old = a->nfreepools++;
    pools_free_count++;
    HS_STORE(&hs_live->pools_used, HS_LOAD(&hs_live->pools_used) - 1);
    unsigned nfp = a->nfreepools;

    if (old == 0) {
        /* was full and on no list: it now belongs at the end of group 1 */
        hs_arena_t *pos = nfp2lasta[1];
        if (pos) insert_arena_after(a, pos);
        else {
            a->prevarena = NULL;
            a->nextarena = usable_arenas;
            if (usable_arenas) usable_arenas->prevarena = a;
            usable_arenas = a;
        }
        nfp2lasta[1] = a;
    } else {
        leave_group(a, old);
        if (nfp == a->ntotalpools) {
            if (!keep_empty(a)) {
                unlink_arena(a);
                free_arena(a);
                purge_if_stale();
                return;
            }
            empty_kept++;                   /* kept: moves to the end of the list below */
            excess_changed();
        }
        hs_arena_t *pos = nfp2lasta[nfp] ? nfp2lasta[nfp] : nfp2lasta[old];
        if (pos && pos != a) {
            unlink_arena(a);
            insert_arena_after(a, pos);
        }
        nfp2lasta[nfp] = a;
    }
    publish_arena_stats();
}

/* ---- pools (class lock held) ---------------------------------------------- */

static void used_push(hs_central_t *c, hs_pool_t *p)
{
    p->prev = NULL;
    p->next = c->used;
    if (c->used) c->used->prev = p;
    c->used = p;
    p->on_used = 1;
}

static void used_unlink(hs_central_t *c, hs_pool_t *p)
{
    if (p->prev) p->prev->next = p->next;
    else c->used = p->next;
    if (p->next) p->next->prev = p->prev;
    p->next = p->prev = NULL;
    p->on_used = 0;
}

/*
 * Blocks move between a bin and the pools by runs of one pool, not block by
 * block (issue 13: in a python3 run these walks were a quarter of what the
 * shim costs above pymalloc). take cuts a run off a pool's free list with
 * one walk, and carves a run of never-used blocks as one linked stretch in
 * address order; give splices each run of consecutive blocks of one pool
 * onto that pool's free list with one store and adjusts its ref once.
 */

/* up to `want` blocks of pool's free list (non-empty) onto *head; how many */
static unsigned take_free_run(hs_pool_t *pool, unsigned want, void **head)
{
    void *first = pool->freeblock, *last = first, *next;
    unsigned k = 1;
    while (k < want && (next = *(void **)last) != NULL) {
        last = next;
        k++;
    }
    pool->freeblock = *(void **)last;
    pool->nfree -= k;
    *(void **)last = *head;
    *head = first;
    return k;
}

/* up to `want` never-used blocks of pool (at least one left) onto *head */
static unsigned take_carve_run(hs_pool_t *pool, size_t size, unsigned want, void **head)
{
    unsigned avail = (unsigned)((pool->maxnextoffset - pool->nextoffset) / size) + 1;
    unsigned k = avail < want ? avail : want;
    char *first = (char *)pool + pool->nextoffset, *b = first;
    for (unsigned i = 1; i < k; i++, b += size) *(void **)b = b + size;
    *(void **)b = *head;
    *head = first;
    pool->nextoffset += (uint16_t)(k * size);
    return k;
}

/*
 * A pool's free list is walked only to cut it. Its blocks were freed a while
 * ago and are cold, so a walk is a chain of dependent cache misses paid back
 * to back: in python3 running bench/alloc_churn.py, this loop alone was 18%
 * of the run's time (perf, cpu-clock), while cachegrind, which counts misses
 * but not their latency, showed nothing. So a free list that comes first and
 * holds at most `most` blocks is taken whole, as it is, NULL end and all,
 * its length known from nfree: each block is then first touched by the
 * allocation that hands it out (which prefetches the next, alloc_fast.h), as
 * in CPython's pymalloc. Nothing can be put behind a list taken whole, so
 * the take stops at the next pool with a free list; never-used blocks (a
 * carved run, whose end is known) still go in front of it.
 */
unsigned hs_central_take(unsigned dom, unsigned cls, unsigned want, unsigned most, void **chain)
{
    hs_central_t *c = &central[HS_SMALLDOM(dom)][cls];
    size_t size = hs_class_size(cls);
    void *head = NULL;
    unsigned n = 0;
    bool whole = false;                 /* a free list taken whole is in */

    hs_lock(&c->lock);
    while (n < want) {
        hs_pool_t *pool = c->used;
        if (!pool) {
            hs_lock(&arena_lock);
            pool = take_pool();
            hs_unlock(&arena_lock);
            if (!pool) break;
            pool->ref = 0;
            pool->cls = (uint16_t)cls;
            pool->dom = (uint8_t)dom;
            pool->freeblock = NULL;
            pool->nfree = 0;
            pool->nextoffset = HS_POOL_HDR;
            pool->maxnextoffset = (uint16_t)(HS_POOL_SIZE - size);
            hs_pagemap_set((uintptr_t)pool, hs_pm_tag(HS_SMALLDOM(dom), cls));
            used_push(c, pool);
            HS_BUMP(&hs_live->class_pools[cls], 1);
        }
        unsigned k = 0;
        if (pool->freeblock) {
            if (whole) break;           /* nothing goes behind that list */
            if (head == NULL && pool->nfree <= most) {
                head = pool->freeblock;
                k = pool->nfree;
                pool->freeblock = NULL;
                pool->nfree = 0;
                whole = true;
            } else {
                k = take_free_run(pool, want - n, &head);
            }
        }
        if (n + k < want && pool->nextoffset <= pool->maxnextoffset)
            k += take_carve_run(pool, size, want - n - k, &head);
        n += k;
        pool->ref += k;
        if (!pool->freeblock && pool->nextoffset > pool->maxnextoffset)
            used_unlink(c, pool);           /* full */
    }
    hs_unlock(&c->lock);
    *chain = head;
    return n;
}

void hs_central_give(unsigned dom, unsigned cls, void *chain)
{
    hs_central_t *c = &central[HS_SMALLDOM(dom)][cls];
    hs_lock(&c->lock);
    while (chain) {
        /* the run of blocks of chain's pool at its head: first..last (the
         * chain ends in NULL, whose pool is none) */
        void *first = chain, *last = first, *next;
        hs_pool_t *pool = hs_pool_of(first);
        unsigned k = 1;
        while (hs_pool_of(next = *(void **)last) == pool) {
            last = next;
            k++;
        }
        chain = next;
        *(void **)last = pool->freeblock;
        pool->freeblock = first;
        pool->nfree += k;
        if (!pool->on_used) used_push(c, pool);
        if ((pool->ref -= k) == 0) {
            used_unlink(c, pool);
            HS_STORE(&hs_live->class_pools[cls], HS_LOAD(&hs_live->class_pools[cls]) - 1);
            hs_lock(&arena_lock);
            return_pool(pool);
            hs_unlock(&arena_lock);
        }
    }
    hs_unlock(&c->lock);
}

/* ---- fork: take every lock so the child sees consistent structures -------- */

static bool central_taken[HS_NSMALLDOM][HS_NCLASSES], arena_taken;   /* by the fork handlers */

void hs_arena_fork_prepare(void)
{
    for (unsigned d = 0; d < HS_NSMALLDOM; d++)
        for (unsigned k = 0; k < HS_NCLASSES; k++) central_taken[d][k] = hs_lock_for_fork(&central[d][k].lock);
    arena_taken = hs_lock_for_fork(&arena_lock);
}

void hs_arena_fork_parent(void)
{
    if (arena_taken) hs_unlock(&arena_lock);
    for (unsigned d = 0; d < HS_NSMALLDOM; d++)
        for (unsigned k = 0; k < HS_NCLASSES; k++)
            if (central_taken[d][k]) hs_unlock(&central[d][k].lock);
}

HS_FORK_CODE void hs_arena_fork_child(void)
{
    /* alone: nothing was taken, no other thread held any, and a hold of
     * this thread's own is the interrupted code's to release (internal.h).
     * Not even read then: a page of the central lists that the parent
     * never touched costs the child a fault at the first read (1 of
     * bench/fork_pages.c's faults per fork). */
    if (hs_fork_alone) return;
    hs_lock_reset(&arena_lock);
    for (unsigned d = 0; d < HS_NSMALLDOM; d++)
        for (unsigned k = 0; k < HS_NCLASSES; k++) hs_lock_reset(&central[d][k].lock);
}
