/*
 * tests/test_arena.c - the arena allocator seen through hs_arena_stats and
 * the arena allocator hook (hs_get/set_arena_allocator).
 *
 * Room: this program only; public headers only. Single-threaded: the only
 * per-thread cache is the main thread's, which holds at most a few KiB per
 * size class, so the figures below are bounded with margins derived from
 * HS_ARENA_SIZE / HS_POOL_SIZE, not from the core's internals.
 */
#include "testutil.h"
#include <heapshim.h>
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef unsigned char byte;

/* CU_FAIL prints its argument's spelling; this records the formatted text
 * (CUnit copies it) so a failure says what was found. */
#define FAIL_MSG(m) CU_assertImplementation(CU_FALSE, __LINE__, (m), __FILE__, "", CU_FALSE)

#define POOLS_PER_ARENA (HS_ARENA_SIZE / HS_POOL_SIZE)

static hs_arena_stats_t ast(void)
{
    hs_arena_stats_t a;
    memset(&a, 0xff, sizeof a);
    CU_ASSERT_FATAL(hs_arena_stats(&a) == 0);
    return a;
}

static hs_domain_stats_t st(int d)
{
    hs_domain_stats_t s;
    CU_ASSERT_FATAL(hs_domain_stats((hs_domain_t)d, &s) == 0);
    return s;
}

static unsigned cls_of(size_t n) { return n ? (unsigned)((n - 1) / HS_ALIGNMENT) : 0; }
/* Most blocks of class size sz a pool can hold (a pool header only lowers it). */
static uint64_t per_pool(size_t sz) { return HS_POOL_SIZE / sz; }

static uint64_t sum_pools(const hs_arena_stats_t *a)
{
    uint64_t s = 0;
    for (unsigned c = 0; c < HS_NCLASSES; c++) s += a->classes[c].pools;
    return s;
}

/* The relations every snapshot must satisfy (single-threaded). */
static void check_relations(const hs_arena_stats_t *a, const char *where)
{
    int ok = a->arena_size == HS_ARENA_SIZE && a->pool_size == HS_POOL_SIZE &&
             a->bytes_mapped == a->arenas_mapped * a->arena_size &&
             a->arenas_peak >= a->arenas_mapped &&
             a->arenas_allocated_total - a->arenas_freed_total == a->arenas_mapped &&
             /* default (pool-aligned) arenas: all 16 pools usable */
             a->pools_used + a->pools_free == a->arenas_mapped * POOLS_PER_ARENA &&
             sum_pools(a) == a->pools_used;
    for (unsigned c = 0; c < HS_NCLASSES; c++) {
        ok &= a->classes[c].size == (c + 1) * HS_ALIGNMENT;
        ok &= a->classes[c].blocks_in_use <= a->classes[c].pools * per_pool(a->classes[c].size);
    }
    if (!ok) {
        char msg[512];
        snprintf(msg, sizeof msg, "arena stats inconsistent (%s): arenas %llu peak %llu bytes %llu "
                 "alloc_total %llu freed_total %llu pools used %llu free %llu, class pools %llu",
                 where, (unsigned long long)a->arenas_mapped, (unsigned long long)a->arenas_peak,
                 (unsigned long long)a->bytes_mapped,
                 (unsigned long long)a->arenas_allocated_total,
                 (unsigned long long)a->arenas_freed_total, (unsigned long long)a->pools_used,
                 (unsigned long long)a->pools_free, (unsigned long long)sum_pools(a));
        FAIL_MSG(msg);
    }
}

static void test_relations_at_start(void)
{
    hs_arena_stats_t a = ast();
    check_relations(&a, "start");
    void *p = hs_obj_malloc(40), *q = hs_mem_malloc(40);
    hs_arena_stats_t b = ast();
    check_relations(&b, "two blocks");
    CU_ASSERT(b.arenas_mapped >= 1);
    /* MEM and OBJ blocks of one class are counted together, in the class */
    CU_ASSERT_EQUAL(b.classes[cls_of(40)].blocks_in_use, a.classes[cls_of(40)].blocks_in_use + 2);
    CU_ASSERT(b.classes[cls_of(40)].pools >= 2);    /* MEM and OBJ never share a pool */
    hs_obj_free(p);
    hs_mem_free(q);
    hs_arena_stats_t c = ast();
    CU_ASSERT_EQUAL(c.classes[cls_of(40)].blocks_in_use, a.classes[cls_of(40)].blocks_in_use);
    /* large and RAW blocks never touch the arenas */
    void *big = hs_obj_malloc(HS_SMALL_MAX + 100), *raw = hs_raw_malloc(40);
    hs_arena_stats_t d = ast();
    for (unsigned k = 0; k < HS_NCLASSES; k++)
        CU_ASSERT_EQUAL(d.classes[k].blocks_in_use, c.classes[k].blocks_in_use);
    hs_obj_free(big);
    hs_raw_free(raw);
}

/* Allocate n blocks of size sz in OBJ; returns the array (caller frees). */
static void **burst(size_t n, size_t sz)
{
    void **v = malloc(n * sizeof *v);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = hs_obj_malloc(sz);
        if (!v[i]) {
            CU_FAIL("hs_obj_malloc returned NULL in a burst");
            n = i;
            break;
        }
        *(size_t *)v[i] = i;
    }
    return v;
}

static void shuffle(void **v, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = n; i > 1; i--) {
        size_t j = ((size_t)rand() * 65536u + (size_t)rand()) % i;
        void *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* Empty arenas beyond two are kept (core/arena.c) until the program asks
 * the system allocator for a quarter of what they hold (hs_raw_malloc goes
 * to glibc: the request trigger), or until a quiet second has passed and an
 * allocating thread's clock tick looks (the decay trigger). */
static void give_back_by_request(size_t bytes)
{
    void *big = hs_raw_malloc(bytes);
    CU_ASSERT_PTR_NOT_NULL(big);
    hs_raw_free(big);
}

static void give_back_by_decay(void)
{
    /* after a quiet second, allocations served from the thread's bin alone
     * (no arena operation: one block taken and given back, 2 MB worth) */
    hs_obj_free(hs_obj_malloc(200));
    struct timespec ts = { 1, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    for (int i = 0; i < 10000; i++) hs_obj_free(hs_obj_malloc(200));
}

/* 50 MB of 64-byte objects maps arenas; freeing them keeps them for the
 * next burst, which maps none; then they are given back. order 0: free in
 * allocation order; 1: reverse; 2: random (given back by the decay, the
 * others by a request). */
static void burst_and_free(int order)
{
    const size_t sz = 64, bytes = (size_t)50 << 20, n = bytes / sz;
    const unsigned cls = cls_of(sz);
    hs_arena_stats_t a0 = ast();
    hs_domain_stats_t o0 = st(HS_DOMAIN_OBJ);
    void **v = burst(n, sz);
    hs_arena_stats_t a1 = ast();
    check_relations(&a1, "after burst");

    /* at most this many blocks fit without a new arena */
    uint64_t room = (a0.pools_free + a0.classes[cls].pools) * per_pool(sz);
    uint64_t need = n > room ? (n - room) / per_pool(sz) / POOLS_PER_ARENA : 0;
    CU_ASSERT(need > 100);                        /* the burst really needs arenas */
    CU_ASSERT(a1.arenas_mapped >= a0.arenas_mapped + need);
    CU_ASSERT(a1.arenas_peak >= a1.arenas_mapped);
    CU_ASSERT(a1.bytes_mapped >= (uint64_t)bytes);
    CU_ASSERT_EQUAL(a1.classes[cls].blocks_in_use, a0.classes[cls].blocks_in_use + n);
    CU_ASSERT(a1.classes[cls].pools * per_pool(sz) >= a1.classes[cls].blocks_in_use);
    CU_ASSERT_EQUAL(st(HS_DOMAIN_OBJ).live_blocks, o0.live_blocks + n);

    if (order == 1) {
        for (size_t i = 0; i < n / 2; i++) {
            void *t = v[i];
            v[i] = v[n - 1 - i];
            v[n - 1 - i] = t;
        }
    } else if (order == 2) {
        shuffle(v, n, 12345);
    }
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += *(size_t *)v[i] >= n;
        hs_obj_free(v[i]);
    }
    free(v);
    CU_ASSERT_EQUAL(bad, 0);
    hs_arena_stats_t a2 = ast();
    check_relations(&a2, "after freeing the burst");
    CU_ASSERT_EQUAL(a2.classes[cls].blocks_in_use, a0.classes[cls].blocks_in_use);
    CU_ASSERT_EQUAL(st(HS_DOMAIN_OBJ).live_blocks, o0.live_blocks);
    uint64_t grown = a1.arenas_mapped - a0.arenas_mapped;
    uint64_t slack = grown / 16 > 4 ? grown / 16 : 4;
    /* kept: the same burst again maps (nearly) nothing new */
    CU_ASSERT(a2.arenas_mapped + slack >= a1.arenas_mapped);
    v = burst(n, sz);
    hs_arena_stats_t a3 = ast();
    CU_ASSERT(a3.arenas_allocated_total <= a2.arenas_allocated_total + slack);
    for (size_t i = 0; i < n; i++) hs_obj_free(v[i]);
    free(v);
    if (order == 2) give_back_by_decay();
    else give_back_by_request(bytes);
    a2 = ast();
    check_relations(&a2, "after the kept arenas were given back");
    /* "a program that frees a burst of small objects gets its memory back".
     * The thread's cache may keep a few blocks, each pinning an arena, and
     * one arena may be kept partly used: allow 1/16 of the arenas the burst
     * made (at least 4) to stay mapped. */
    CU_ASSERT(a2.arenas_freed_total - a0.arenas_freed_total + slack >= need);
    if (a2.arenas_mapped > a0.arenas_mapped + slack) {
        char msg[240];
        snprintf(msg, sizeof msg, "after freeing a %zu MiB burst (%s order) %llu arenas stay "
                 "mapped (%llu before, %llu at the peak; allowed %llu)", bytes >> 20,
                 order == 0 ? "allocation" : order == 1 ? "reverse" : "random",
                 (unsigned long long)a2.arenas_mapped, (unsigned long long)a0.arenas_mapped,
                 (unsigned long long)a1.arenas_mapped,
                 (unsigned long long)(a0.arenas_mapped + slack));
        FAIL_MSG(msg);
    }
}

static void test_burst_in_order(void) { burst_and_free(0); }
static void test_burst_reverse(void) { burst_and_free(1); }
static void test_burst_random(void) { burst_and_free(2); }

/* Holes: every other block of 64 pools' worth freed, then as many blocks
 * allocated again. A refill takes a pool's free list whole when it fits the
 * bin's largest cap, and walks a run off it otherwise (core/arena.c); 48 B
 * leaves 170 holes a pool (whole, the cap raised), 16 B 510 (walked), 256 B
 * 31 (whole). Either way the holes are found again: no new pool, the
 * class's blocks back where they were, every block handed out distinct and
 * its own, and the pools all given back when everything is freed. */
static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

static void holes_refilled(size_t sz)
{
    const unsigned cls = cls_of(sz);
    const size_t n = 64 * per_pool(sz);
    hs_arena_stats_t a0 = ast();
    void **v = burst(n, sz);
    void **holes = malloc(n / 2 * sizeof *holes);
    CU_ASSERT_PTR_NOT_NULL_FATAL(holes);
    for (size_t i = 0; i < n / 2; i++) {
        holes[i] = v[2 * i];
        hs_obj_free(v[2 * i]);
    }
    qsort(holes, n / 2, sizeof *holes, cmp_ptr);
    hs_arena_stats_t a1 = ast();
    size_t mine = 0, dup = 0;
    for (size_t i = 0; i < n / 2; i++) {
        v[2 * i] = hs_obj_malloc(sz);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v[2 * i]);
        mine += bsearch(&v[2 * i], holes, n / 2, sizeof *holes, cmp_ptr) != NULL;
        memset(v[2 * i], 0xa5, sz);
    }
    hs_arena_stats_t a2 = ast();
    check_relations(&a2, "after the holes were refilled");
    qsort(v, n, sizeof *v, cmp_ptr);
    for (size_t i = 1; i < n; i++) dup += v[i] == v[i - 1];
    CU_ASSERT_EQUAL(dup, 0);
    CU_ASSERT_EQUAL(a2.classes[cls].pools, a1.classes[cls].pools);
    CU_ASSERT_EQUAL(a2.classes[cls].blocks_in_use, a0.classes[cls].blocks_in_use + n);
    /* a bin may hand out a few blocks it held before the holes were made */
    if (mine + 255 < n / 2) {
        char msg[200];
        snprintf(msg, sizeof msg, "%zu B: %zu of %zu blocks allocated into holes came from them",
                 sz, mine, n / 2);
        FAIL_MSG(msg);
    }
    for (size_t i = 0; i < n; i++) hs_obj_free(v[i]);
    free(v);
    free(holes);
    hs_arena_stats_t a3 = ast();
    check_relations(&a3, "after the holes test freed everything");
    CU_ASSERT_EQUAL(a3.classes[cls].blocks_in_use, a0.classes[cls].blocks_in_use);
    /* the thread's bin may keep up to its cap, pinning a few pools */
    CU_ASSERT(a3.classes[cls].pools <= a0.classes[cls].pools + 8);
}

static void test_holes_whole(void) { holes_refilled(48); }
static void test_holes_walked(void) { holes_refilled(16); }
static void test_holes_few(void) { holes_refilled(256); }

/* A phase still made of small blocks keeps its kept arenas while it also
 * asks glibc for memory: a producer that fills 256 KiB of small blocks and
 * one 64 KiB array per step (xmalloc-test's shape) refills a freed 8 MiB
 * burst from the kept arenas. Counted gross, its glibc requests reached a
 * quarter of the excess half way and the rest was unmapped, then mapped and
 * faulted in again (core/arena.c, HS_ARENAS_KEPT). */
static void test_kept_through_mixed_phase(void)
{
    const size_t sz = 64, bytes = (size_t)8 << 20, n = bytes / sz;
    const size_t step = (256u << 10) / sz, side = 64u << 10;
    hs_arena_stats_t a0 = ast();
    void **v = burst(n, sz);
    for (size_t i = 0; i < n; i++) hs_obj_free(v[i]);
    hs_arena_stats_t a1 = ast();
    check_relations(&a1, "after freeing the 8 MiB burst");
    void *arrays[64];
    size_t na = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % step == 0 && na < 64) {
            arrays[na] = hs_raw_malloc(side);       /* glibc: the request trigger */
            CU_ASSERT_PTR_NOT_NULL(arrays[na]);
            na++;
        }
        v[i] = hs_obj_malloc(sz);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v[i]);
    }
    hs_arena_stats_t a2 = ast();
    check_relations(&a2, "after the mixed refill");
    CU_ASSERT(na * side >= bytes / 4 * 3 / 4);     /* glibc asked for well over a quarter of the burst */
    uint64_t mapped = a2.arenas_allocated_total - a1.arenas_allocated_total;
    uint64_t freed = a2.arenas_freed_total - a1.arenas_freed_total;
    if (mapped > 2 || freed > 2) {
        char msg[200];
        snprintf(msg, sizeof msg, "refilling a freed 8 MiB burst beside %zu KiB of glibc requests "
                 "unmapped %llu arenas and mapped %llu (allowed 2 each)", na * side >> 10,
                 (unsigned long long)freed, (unsigned long long)mapped);
        FAIL_MSG(msg);
    }
    for (size_t i = 0; i < n; i++) hs_obj_free(v[i]);
    for (size_t i = 0; i < na; i++) hs_raw_free(arrays[i]);
    free(v);
    give_back_by_request(bytes);
    hs_arena_stats_t a3 = ast();
    check_relations(&a3, "after the mixed phase was given back");
    CU_ASSERT(a3.arenas_mapped <= a0.arenas_mapped + 4);    /* and given back at the end */
}

/* Each size class gets its own pools and its blocks are counted there. */
static void test_per_class(void)
{
    enum { PER = 300 };
    static void *v[HS_NCLASSES][PER];
    hs_arena_stats_t a0 = ast();
    for (unsigned c = 0; c < HS_NCLASSES; c++)
        for (int i = 0; i < PER; i++) {
            v[c][i] = (i & 1) ? hs_obj_malloc((c + 1) * HS_ALIGNMENT - (size_t)(i % 16))
                              : hs_mem_malloc((c + 1) * HS_ALIGNMENT - (size_t)(i % 16));
            CU_ASSERT_PTR_NOT_NULL_FATAL(v[c][i]);
        }
    hs_arena_stats_t a1 = ast();
    check_relations(&a1, "per class");
    for (unsigned c = 0; c < HS_NCLASSES; c++) {
        CU_ASSERT_EQUAL(a1.classes[c].blocks_in_use, a0.classes[c].blocks_in_use + PER);
        /* 150 blocks in each of two domains that never share pools */
        uint64_t pp = per_pool(a1.classes[c].size);
        uint64_t min_pools = 2 * ((PER / 2 + pp - 1) / pp);
        CU_ASSERT(a1.classes[c].pools >= min_pools);
    }
    for (unsigned c = 0; c < HS_NCLASSES; c++)
        for (int i = 0; i < PER; i++) (i & 1) ? hs_obj_free(v[c][i]) : hs_mem_free(v[c][i]);
    hs_arena_stats_t a2 = ast();
    check_relations(&a2, "per class freed");
    for (unsigned c = 0; c < HS_NCLASSES; c++)
        CU_ASSERT_EQUAL(a2.classes[c].blocks_in_use, a0.classes[c].blocks_in_use);
}

/* ---- arena allocator hooks --------------------------------------------------- */

struct arena_counting {
    hs_arena_allocator_t prev;
    unsigned long allocs, frees, bad_size, unknown_free;
    void *given[4096];
    unsigned ngiven;
};
static struct arena_counting ac;

static void *ac_alloc(void *ctx, size_t size)
{
    struct arena_counting *k = ctx;
    k->allocs++;
    k->bad_size += size != HS_ARENA_SIZE;
    void *p = k->prev.alloc(k->prev.ctx, size);
    if (p && k->ngiven < 4096) k->given[k->ngiven++] = p;
    return p;
}

static void ac_free(void *ctx, void *ptr, size_t size)
{
    struct arena_counting *k = ctx;
    k->frees++;
    k->bad_size += size != HS_ARENA_SIZE;
    int known = 0;
    for (unsigned i = 0; i < k->ngiven; i++) known |= k->given[i] == ptr;
    k->unknown_free += !known;
    k->prev.free(k->prev.ctx, ptr, size);
}

static void test_counting_arena_allocator(void)
{
    hs_arena_allocator_t orig, now;
    hs_get_arena_allocator(&orig);
    CU_ASSERT_FATAL(orig.alloc && orig.free);
    memset(&ac, 0, sizeof ac);
    ac.prev = orig;
    hs_arena_allocator_t hook = { &ac, ac_alloc, ac_free };
    hs_set_arena_allocator(&hook);
    hs_get_arena_allocator(&now);
    CU_ASSERT(now.ctx == &ac && now.alloc == ac_alloc && now.free == ac_free);

    /* enough 256-byte blocks to need several new arenas */
    const size_t sz = 256;
    hs_arena_stats_t a0 = ast();
    uint64_t room = (a0.pools_free + a0.classes[cls_of(sz)].pools) * per_pool(sz);
    size_t n = (size_t)room + 8 * POOLS_PER_ARENA * per_pool(sz);
    void **v = burst(n, sz);
    hs_arena_stats_t a1 = ast();
    CU_ASSERT(ac.allocs >= 7);
    CU_ASSERT_EQUAL(ac.allocs, a1.arenas_allocated_total - a0.arenas_allocated_total);
    CU_ASSERT_EQUAL(ac.bad_size, 0);
    CU_ASSERT_EQUAL(ac.frees, 0);
    for (size_t i = 0; i < n; i++) hs_obj_free(v[i]);
    free(v);
    give_back_by_request(n * sz);
    hs_arena_stats_t a2 = ast();
    /* the arenas it made drained and went back through it */
    CU_ASSERT(ac.frees + 2 >= ac.allocs);
    CU_ASSERT(ac.frees >= 1);
    CU_ASSERT_EQUAL(ac.unknown_free, 0);
    CU_ASSERT_EQUAL(ac.bad_size, 0);
    CU_ASSERT(a2.arenas_freed_total - a0.arenas_freed_total >= ac.frees);
    check_relations(&a2, "counting hook");
    hs_set_arena_allocator(&orig);
    hs_get_arena_allocator(&now);
    CU_ASSERT(now.ctx == orig.ctx && now.alloc == orig.alloc && now.free == orig.free);
    unsigned long was = ac.allocs;
    v = burst(n, sz);
    for (size_t i = 0; i < n; i++) hs_obj_free(v[i]);
    free(v);
    CU_ASSERT_EQUAL(ac.allocs, was);               /* no longer asked */
}

/* An arena allocator hook that itself asks glibc for memory (a logging or
 * accounting hook calling malloc) runs under the arena lock, also while
 * kept arenas are being given back: its request must not try to take that
 * lock to give them back (it deadlocked). */
static hs_arena_allocator_t mallocing_prev;
static unsigned long mallocing_frees;
static void *mallocing_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return mallocing_prev.alloc(mallocing_prev.ctx, size);
}
static void mallocing_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    mallocing_frees++;
    void *note = hs_raw_malloc((size_t)64 << 20);      /* a big glibc request */
    hs_raw_free(note);
    mallocing_prev.free(mallocing_prev.ctx, ptr, size);
}

static void test_hook_allocating_under_lock(void)
{
    hs_get_arena_allocator(&mallocing_prev);
    hs_arena_allocator_t hook = { NULL, mallocing_alloc, mallocing_free };
    hs_set_arena_allocator(&hook);
    const size_t sz = 128, n = ((size_t)16 << 20) / sz;
    void **v = burst(n, sz);                    /* 16 MiB of arenas made by the hook */
    for (size_t i = 0; i < n; i++) hs_obj_free(v[i]);
    free(v);
    hs_arena_stats_t a = ast();
    CU_ASSERT(a.arenas_mapped >= 32);           /* kept */
    give_back_by_request((size_t)64 << 20);     /* the hook's frees run under the lock */
    CU_ASSERT(mallocing_frees >= 16);
    hs_set_arena_allocator(&mallocing_prev);
    a = ast();
    check_relations(&a, "after a hook that allocates");
}

static unsigned long failing_calls, failing_frees;
static void *fail_alloc(void *ctx, size_t size)
{
    failing_calls++;
    return NULL;
}
static void fail_free(void *ctx, void *ptr, size_t size) { failing_frees++; }

static byte pat(size_t i, unsigned seed) { return (byte)(seed * 0x9Du + i * 131u + (i >> 8)); }

/* With a failing arena allocator, requests that need a new arena fail
 * cleanly, nothing already allocated is damaged, and once the default is
 * back allocation works again. */
static void test_failing_arena_allocator(void)
{
    enum { KEEP = 2000 };
    static byte *keep[KEEP];
    static size_t ksz[KEEP];
    for (int i = 0; i < KEEP; i++) {
        ksz[i] = (size_t)(i * 37) % 700;          /* small and large, MEM and OBJ */
        keep[i] = (i & 1) ? hs_obj_malloc(ksz[i]) : hs_mem_malloc(ksz[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(keep[i]);
        for (size_t j = 0; j < ksz[i]; j++) keep[i][j] = pat(j, (unsigned)i);
    }
    byte *small = hs_obj_malloc(16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(small);
    memset(small, 0x6B, 16);

    hs_arena_allocator_t orig;
    hs_get_arena_allocator(&orig);
    hs_arena_allocator_t failing = { NULL, fail_alloc, fail_free };
    hs_set_arena_allocator(&failing);

    /* use up every free pool with 512-byte blocks; bounded by what exists */
    const size_t sz = HS_SMALL_MAX;
    hs_arena_stats_t a0 = ast();
    hs_domain_stats_t o0 = st(HS_DOMAIN_OBJ);
    size_t cap = (size_t)((a0.pools_free + a0.classes[cls_of(sz)].pools) * per_pool(sz)) + 1000;
    void **v = malloc(cap * sizeof *v);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    size_t got = 0;
    while (got < cap && (v[got] = hs_obj_malloc(sz)) != NULL) got++;
    CU_ASSERT(got < cap);                         /* it did run out */
    CU_ASSERT(failing_calls >= 1);
    hs_arena_stats_t a1 = ast();
    CU_ASSERT_EQUAL(a1.pools_free, 0);            /* it failed only when it needed an arena */
    CU_ASSERT_EQUAL(a1.arenas_mapped, a0.arenas_mapped);
    hs_domain_stats_t o1 = st(HS_DOMAIN_OBJ);
    CU_ASSERT_EQUAL(o1.failed, o0.failed + 1);
    CU_ASSERT_EQUAL(o1.live_blocks, o0.live_blocks + got);

    /* more failures, each counted; calloc and a growing realloc too */
    CU_ASSERT_PTR_NULL(hs_obj_malloc(sz));
    CU_ASSERT_PTR_NULL(hs_obj_calloc(1, sz));
    CU_ASSERT_PTR_NULL(hs_obj_realloc(small, sz));
    CU_ASSERT_EQUAL(st(HS_DOMAIN_OBJ).failed, o0.failed + 4);
    int ok = 1;
    for (int j = 0; j < 16; j++) ok &= small[j] == 0x6B;
    CU_ASSERT(ok);                                /* the failed realloc left it alone */
    /* large blocks do not need arenas */
    void *big = hs_obj_malloc(4096);
    CU_ASSERT_PTR_NOT_NULL(big);
    hs_obj_free(big);

    size_t damaged = 0;
    for (int i = 0; i < KEEP; i++)
        for (size_t j = 0; j < ksz[i]; j++) damaged += keep[i][j] != pat(j, (unsigned)i);
    CU_ASSERT_EQUAL(damaged, 0);

    /* memory available again */
    hs_set_arena_allocator(&orig);
    void *again = hs_obj_malloc(sz);
    CU_ASSERT_PTR_NOT_NULL(again);
    small = hs_obj_realloc(small, sz);
    CU_ASSERT_PTR_NOT_NULL_FATAL(small);
    ok = 1;
    for (int j = 0; j < 16; j++) ok &= small[j] == 0x6B;
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(failing_frees, 0);            /* it never made an arena to free */

    hs_obj_free(again);
    hs_obj_free(small);
    for (size_t i = 0; i < got; i++) hs_obj_free(v[i]);
    free(v);
    for (int i = 0; i < KEEP; i++) (i & 1) ? hs_obj_free(keep[i]) : hs_mem_free(keep[i]);
    hs_arena_stats_t a2 = ast();
    check_relations(&a2, "after the failing hook");
}

int main(void)
{
    static const hs_test_t tests[] = {
        { "arena stats relations", test_relations_at_start },
        { "per-class blocks and pools", test_per_class },
        { "failing arena allocator", test_failing_arena_allocator },
        { "counting arena allocator wraps the default", test_counting_arena_allocator },
        { "50 MiB burst freed in order returns arenas", test_burst_in_order },
        { "50 MiB burst freed in reverse returns arenas", test_burst_reverse },
        { "50 MiB burst freed at random returns arenas", test_burst_random },
        { "arena hook asking glibc for memory under the lock", test_hook_allocating_under_lock },
        { "kept arenas stay through a phase mixing small blocks and glibc", test_kept_through_mixed_phase },
        { "holes of 48 B refilled (free lists taken whole)", test_holes_whole },
        { "holes of 16 B refilled (free lists walked)", test_holes_walked },
        { "holes of 256 B refilled", test_holes_few },
        { NULL, NULL },
    };
    hs_test_add_suite("arena", tests);
    return hs_test_main();
}
