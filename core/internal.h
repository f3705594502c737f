/*
 * core/internal.h - the picture of the heapshim core, shared by the .c files of core/.
 *
 * Nothing here is public API. Files outside core/ (interpose/, tools/) may use
 * the few entry points marked "for interpose/".
 *
 * =========================================================================
 *  Request flow
 * =========================================================================
 *
 *   hs_mem_malloc(n) --> domain table[MEM].malloc(ctx, n)      (domain.c)
 *                           |  (hooks may wrap it; default below)
 *                           v
 *                  hs__pymalloc_malloc(dom, n)
 *                     n <= 512 ?  small: per-thread bin -> central pools   (heap.c, arena.c)
 *                     n >  512 ?  large: system allocator + 16-byte header (large.c)
 *   hs_raw_malloc(n) --> table[RAW] --> system allocator, no header          (prim/sys.c)
 *
 *   Every default allocator counts into the calling thread's slot of the
 *   live region (stats.h, live.c), which readers sum.
 *
 * =========================================================================
 *  Arenas, pools, blocks
 * =========================================================================
 *
 *  An arena is HS_ARENA_SIZE (256 KiB) from the arena allocator hook (default:
 *  mmap, trimmed so pools are HS_POOL_SIZE-aligned). It is cut into 16 KiB
 *  pools; when a hook returns an unaligned arena, the partial pool at each end
 *  is skipped (15 usable pools instead of 16).
 *
 *     arena (256 KiB)
 *     +--------+--------+--------+-- ... --+--------+
 *     | pool 0 | pool 1 | pool 2 |         | pool15 |
 *     +--------+--------+--------+-- ... --+--------+
 *        |
 *        v   one pool (16 KiB), all blocks of one size class and one domain
 *     +-------------+-------+-------+-------+-----+---------------+
 *     | hs_pool hdr | block | block | block | ... | never touched |
 *     |  (48 bytes) |  (sz) |       |       |     |               |
 *     +-------------+-------+-------+-------+-----+---------------+
 *                                              ^ nextoffset (bump)
 *
 *  Blocks have no header: a block's pool is  p & ~(HS_POOL_SIZE-1),  and the
 *  pool header says the size class and the domain (MEM or OBJ pools are
 *  separate, so a free knows which domain to count without a per-block tag).
 *
 *  Ownership test: pagemap.c keeps one byte per 16 KiB of address space,
 *  nonzero where one of our pools is (two-level table: a static root of 2^17
 *  pointers, leaves of 2^17 bytes mapped on demand). Testing a pointer reads
 *  only the table, never the pointed-to memory, so any pointer may be asked.
 *  The byte also says the pool's domain and class, so the free fast path does
 *  not read the pool header (see hs_pagemap_get).
 *
 *  Pool states (as in CPython's obmalloc):
 *    used   some blocks handed out, some free  -> on usedpools[dom][cls]
 *    full   every block handed out            -> on no list
 *    empty  none handed out                   -> back on its arena's free list
 *  Arena states: on usable_arenas (sorted by nfreepools ascending, so the most
 *  used arenas are drawn from first and the emptiest ones get a chance to
 *  drain), or completely free -> returned through the arena allocator.
 *
 * =========================================================================
 *  Threads
 * =========================================================================
 *
 *  Each thread has a heap (heap.c): one bin per (domain, size class) holding a
 *  short singly linked list of free blocks. malloc pops, free pushes -- onto
 *  the freeing thread's bin, whoever allocated the block -- with no lock and
 *  no atomic instruction. A bin that runs empty takes a batch from the central
 *  pools under that class's lock; a bin that overflows gives half back.
 *  Locks: class_lock[dom][cls] guards usedpools and the pools of that class;
 *  arena_lock guards arenas. Order: class lock, then arena lock. At thread
 *  exit every bin goes back; at fork the child takes every lock's state over
 *  and reclaims the bins of the threads that did not follow it.
 */
#ifndef HS_CORE_INTERNAL_H
#define HS_CORE_INTERNAL_H

#include <heapshim.h>
#include <heapshim/live.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define HS_LIKELY(x)   __builtin_expect(!!(x), 1)
#define HS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HS_INLINE      static inline __attribute__((always_inline))
#define HS_NOINLINE    __attribute__((noinline))
#define HS_HIDDEN      __attribute__((visibility("hidden")))
#define HS_TLS         __thread __attribute__((tls_model("initial-exec")))
/* Big zeroed arrays that most processes never touch, or touch one page of
 * (a buffer for a path, a report, an error text): after all the other
 * statics (the library links with --sort-section=name, and ".bss" sorts
 * before ".bss.hs_cold"), so that the small statics every process writes
 * as it starts share a few pages instead of one page each between the
 * arrays (a fresh page costs a fault at start and a copy at each fork). */
#define HS_COLD_BSS    __attribute__((section(".bss.hs_cold")))
/* Code that runs in a fork child right after the fork and at exit: grouped
 * (.text.unlikely) so that a child faults in few pages of the shim's text
 * (the kernel does not copy a file mapping's page table at a fork; each
 * page of code a child runs is a fault, ~45 us on this VM) */
#define HS_FORK_CODE   __attribute__((cold))

#define HS_POOL_MASK   ((uintptr_t)HS_POOL_SIZE - 1)
#define HS_POOLS_PER_ARENA (HS_ARENA_SIZE / HS_POOL_SIZE)
#define HS_NSMALLDOM   2                 /* MEM and OBJ have pools */
#define HS_SMALLDOM(d) ((unsigned)(d) - 1u)   /* MEM->0, OBJ->1 */

/*
 * Room for a growth chain. A realloc that grows a block by less than a
 * quarter is given a quarter: code that appends a few bytes at a time (string
 * builders, naive buffers) then moves its block once per quarter of growth,
 * not once per size class (16 B) or glibc chunk (16 B). A realloc that grows
 * by more (doubling vectors, a first realloc to the final size) gets exactly
 * what it asked for, so the slack exists only in blocks that are being grown
 * by small steps and is at most a quarter of them. The room is real usable
 * space: counted in live bytes like any usable byte.
 */
HS_INLINE size_t hs_grow_room(size_t old, size_t n)
{
    size_t room = old + (old >> 2);
    return n > old && n < room ? room : n;
}

/* A realloc to n of a block of usable size old that fits and shrinks it
 * by less than a quarter returns the block as it is (small blocks also
 * stay within their class). Such a realloc allocates nothing: it is not
 * charged to the sampling countdown (sample.h); one that moves or resizes
 * the block is, with its new size, as an allocation. */
HS_INLINE bool hs_realloc_stays(size_t old, size_t n) { return n <= old && 4 * n > 3 * old; }

/* size class of a request n <= HS_SMALL_MAX (0 counts as 1 byte) */
HS_INLINE unsigned hs_size_class(size_t n) { return (unsigned)((n - (n != 0)) >> 4); }
HS_INLINE size_t   hs_class_size(unsigned c) { return ((size_t)c + 1) << 4; }

/* ---- relaxed atomics on plain fields (the live region is plain C) ------- */
#define HS_LOAD(p)       __atomic_load_n((p), __ATOMIC_RELAXED)
#define HS_STORE(p, v)   __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* Single-writer increment of an 8-byte field: no lock prefix, never torn.
 * On x86-64 one add to memory (an aligned 8-byte access by one instruction
 * is single-copy atomic; the compiler's relaxed load and store would be
 * three instructions); elsewhere a relaxed load and store. */
#if defined(__x86_64__)
#define HS_BUMP(p, v) do {                                                    \
        _Static_assert(sizeof *(p) == 8, "HS_BUMP: 8-byte fields only");      \
        __asm__ volatile("addq %1, %0" : "+m"(*(p)) : "er"((uint64_t)(v)));    \
    } while (0)
#else
#define HS_BUMP(p, v)    HS_STORE((p), HS_LOAD(p) + (v))
#endif
#define HS_ADD(p, v)     __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

/* ---- locks (lock.c) ------------------------------------------------------ */
/* A test-and-test-and-set lock that yields under contention: no allocation,
 * statically initialisable, trivially reset in a fork child. Held, it holds
 * its holder's token (the address of a thread-local byte), so that a thread
 * can tell a lock it holds itself: a signal handler that forks while the
 * code it interrupted holds one (a crash handler that forks a reporter)
 * must not wait for it (hs_lock_for_fork). */
/* Taken by a compare-and-swap from 0, never an exchange: an exchange by a
 * thread that finds the lock held would write its own token over the
 * holder's, and the holder would no longer know the lock is its own. A
 * thread that asks again for a lock it holds (an allocation from a signal
 * handler that interrupted the shim with the lock held) would wait for
 * ever: hs_lock_slow says so on stderr and aborts, as glibc does for its
 * own corruptions (issue 12, item 10). */
typedef struct { uintptr_t v; } hs_lock_t;
#define HS_LOCK_INIT { 0 }
extern HS_TLS char hs_lock_anchor;        /* lock.c */
HS_INLINE uintptr_t hs_lock_me(void) { return (uintptr_t)&hs_lock_anchor; }
void hs_lock_slow(hs_lock_t *l);
HS_INLINE bool hs_lock_cas(hs_lock_t *l)
{
    uintptr_t free_v = 0;
    return __atomic_compare_exchange_n(&l->v, &free_v, hs_lock_me(), false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}
HS_INLINE void hs_lock(hs_lock_t *l) {
    if (HS_LIKELY(hs_lock_cas(l))) return;
    hs_lock_slow(l);
}
/* true when taken; never waits */
HS_INLINE bool hs_trylock(hs_lock_t *l)
{
    return !__atomic_load_n(&l->v, __ATOMIC_RELAXED) && hs_lock_cas(l);
}
/* held by the calling thread */
HS_INLINE bool hs_lock_mine(const hs_lock_t *l) { return __atomic_load_n(&l->v, __ATOMIC_RELAXED) == hs_lock_me(); }
/* the fork handlers' lock: taken, unless this thread holds it already (it
 * forked from a signal handler that interrupted the holder: waiting would
 * never end; the interrupted code releases it when the handler returns, in
 * the parent, and a child's locks are reset). true: taken, release it. */
extern HS_HIDDEN bool hs_fork_alone;
HS_INLINE bool hs_lock_for_fork(hs_lock_t *l)
{
    /* alone (below): no other thread can hold it; a hold of this thread's
     * own is left to the code it interrupted, as above */
    if (hs_fork_alone || hs_lock_mine(l)) return false;
    hs_lock(l);
    return true;
}
HS_INLINE void hs_unlock(hs_lock_t *l) { __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE); }
/* (a free lock is only read: in a fork child its page stays the parent's,
 * not a copy made by the write) */
HS_INLINE void hs_lock_reset(hs_lock_t *l) { if (l->v) l->v = 0; }
/* hs_fork_alone, set by the fork handlers' prepare step (init.c): the
 * forking thread is the process's only one (glibc's __libc_single_threaded:
 * no thread was ever created), so no other thread can hold a lock or be
 * counting: hs_lock_for_fork takes nothing, so the parent releases and the
 * child resets nothing, and no counting thread is held (live.c). Every page
 * a handler writes after the fork is copied at the next write of either
 * process: a shell paid about 20 such faults a fork. */

/* ---- system primitives (prim/sys.c) -------------------------------------- */
/* glibc's allocator, never ours: its __libc_* entry points (exported since
 * glibc 2.2.5) reach it without dlsym, which may itself allocate. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void  __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
/* Empty arenas kept beyond the base (arena.c) are unmapped once the program
 * has asked the system for a quarter of what they hold, in requests of
 * HS_SYS_NOTE_MIN bytes or more: a compare on smaller ones. */
#define HS_SYS_NOTE_MIN 4096u
extern uint64_t hs_arena_idle_bytes;
void hs_arena_sys_request(size_t n);
void hs_arena_tick(void);                  /* the decay, from a thread's clock tick */
HS_INLINE void hs_sys_note(size_t n)
{
    if (HS_UNLIKELY(n >= HS_SYS_NOTE_MIN) &&
        HS_UNLIKELY(__atomic_load_n(&hs_arena_idle_bytes, __ATOMIC_RELAXED) != 0)) hs_arena_sys_request(n);
}
HS_INLINE void *hs_sys_malloc(size_t n) { hs_sys_note(n); return __libc_malloc(n); }
HS_INLINE void *hs_sys_calloc(size_t ne, size_t es) { hs_sys_note(ne * es); return __libc_calloc(ne, es); }
HS_INLINE void *hs_sys_realloc(void *p, size_t n) { hs_sys_note(n); return __libc_realloc(p, n); }
HS_INLINE void *hs_sys_memalign(size_t align, size_t n) { hs_sys_note(n); return __libc_memalign(align, n); }
/*
 * The allocator behind hs_sys_*: glibc's, unless another allocator loaded
 * after the shim (LD_PRELOAD=libheapshim.so:libtcmalloc_minimal.so.4, what
 * `heapshim run` makes of an environment that preloads tcmalloc) defines
 * __libc_malloc and the rest too. Then hs_sys_usable_fn is that allocator's
 * malloc_usable_size, and nothing reads glibc's chunk headers from its
 * blocks (they have none: malloc_usable_size gave garbage, and programs
 * that trust it crashed). Set once at start-up (prim/sys.c).
 */
extern HS_HIDDEN size_t (*hs_sys_usable_fn)(void *);
void hs_sys_detect(void);
/*
 * Usable size of a block from glibc's allocator, read from its chunk header
 * (the word before the block: chunk size | flags; IS_MMAPPED = 2). This is
 * what glibc's malloc_usable_size computes; the shim cannot call that symbol
 * because it exports its own. The layout has been stable since glibc 2.0;
 * tests compare the two. Only for pointers from hs_sys_*.
 */
HS_INLINE size_t hs_sys_usable_size(const void *p)
{
    if (HS_UNLIKELY(hs_sys_usable_fn != NULL)) return hs_sys_usable_fn((void *)p);
    size_t word = ((const size_t *)p)[-1];
    size_t chunk = word & ~(size_t)7;
    return (word & 2) ? chunk - 2 * sizeof(size_t) : chunk - sizeof(size_t);
}
/* the same header's IS_MMAPPED bit: glibc resizes such a block with mremap
 * (no copy, its pages kept) */
HS_INLINE bool hs_sys_mmapped(const void *p) { return !hs_sys_usable_fn && (((const size_t *)p)[-1] & 2) != 0; }
/*
 * glibc's mmap threshold, raised the way glibc raises it itself. glibc
 * starts at 128 KiB and, each time the program frees a mapped block larger
 * than the threshold, moves it up to that block's size (at most 32 MiB) and
 * the trim threshold to twice that; but a program (or the shim) that sets
 * either threshold with mallopt turns that rule off for both. The shim keeps
 * glibc's heap top (a trim threshold of 64 MiB, interpose/lifecycle.c) and
 * applies glibc's rule to the mmap threshold here: hs_sys_mmap_dyn is that
 * threshold, or 0 while the shim leaves glibc's thresholds alone (malloc and
 * debug modes, GLIBC_TUNABLES naming a malloc tunable).
 */
extern HS_HIDDEN size_t hs_sys_mmap_dyn;
void hs_sys_free_mapped(void *p);          /* prim/sys.c */
/* p non-NULL, from hs_sys_* (or glibc's own, from before the shim) */
HS_INLINE void  hs_sys_free(void *p)
{
    if (HS_LOAD(&hs_sys_mmap_dyn) != 0 && HS_UNLIKELY(hs_sys_mmapped(p))) {
        hs_sys_free_mapped(p);
        return;
    }
    __libc_free(p);
}
void  *hs_os_map(size_t n);                /* anonymous RW mapping or NULL */
/* raw system calls, never libc's exported symbols (prim/sys.c says why);
 * like libc's: MAP_FAILED / -1 with errno set on failure */
void  *hs_os_mmap(void *addr, size_t n, int prot, int flags, int fd, long off);
int    hs_os_munmap(void *p, size_t n);
void  *hs_os_mremap(void *old, size_t old_n, size_t new_n, int flags, void *new_addr);
int    hs_os_mprotect(void *p, size_t n, int prot);
int    hs_os_madvise(void *p, size_t n, int advice);
/* Back the pages of [p, p + n) of a shared mapping with memory now
 * (MADV_POPULATE_WRITE, Linux 5.14+), so that no later store into them can
 * raise SIGBUS: a tmpfs that is full (a small /dev/shm) cannot give a page
 * of a file at its first store, and kills the process instead. false: not
 * backed (no space); true when backed, or when the kernel cannot tell
 * (EINVAL: before 5.14, the old risk). errno kept. */
bool   hs_os_back(void *p, size_t n);
void   hs_os_unmap(void *p, size_t n);
/* may a regular file reach `end` bytes under RLIMIT_FSIZE (else SIGXFSZ) */
bool   hs_os_file_fits(uint64_t end);
uint64_t hs_os_random64(void);
bool   hs_os_single_threaded(void);       /* no thread was ever created (glibc's flag) */
int    hs_os_other_process(int32_t owner); /* 1: not owner, own memory; 0: owner or shares it; -1 */
/* No fork since the word was armed: true while the armed word reads nonzero,
 * which it does in the process that armed it and in those sharing its
 * memory, never in a child that has its own (fork, clone without CLONE_VM:
 * the kernel zeroes the page there). false: a child, or not armed (not yet,
 * or the kernel cannot: before Linux 4.14). hs_os_fork_word_arm() arms it
 * (again, in a child); one page, mapped at the first arming. */
bool   hs_os_fork_word(void);
void   hs_os_fork_word_arm(void);
/* dl_iterate_phdr for the core (the sampler's module list, the unwinder's
 * objects): false without calling it when it may not run now (a fork is
 * being prepared) or never again in this process (see prim/sys.c).
 * hs_dl_fork(phase): from the fork handlers, 0 prepare, 1 parent, 2 child. */
struct dl_phdr_info;
bool   hs_dl_iterate(int (*cb)(struct dl_phdr_info *, size_t, void *), void *arg);
void   hs_dl_fork(int phase);
uint64_t hs_now_ns(void);                  /* CLOCK_MONOTONIC_COARSE */
uint64_t hs_unix_ns(void);                 /* CLOCK_REALTIME */
uint64_t hs_os_tid(void);

/* ---- page map (pagemap.c) ------------------------------------------------ */
/* One byte per 16 KiB of address space: 0 = not one of our pools;
 * HS_PM_OWNED = a pool of one of our arenas that has not been given a size
 * class yet; otherwise hs_pm_tag(sd, cls) of the pool's current use. A free
 * learns the block's domain and class here, from a small dense table, instead
 * of from the pool header: pool headers sit at 16 KiB-aligned addresses, all
 * in the same few cache sets, and reading them missed the cache on most
 * frees of a program with more than a few dozen pools. */
extern HS_HIDDEN uint8_t *hs_pagemap_root[];         /* 2^17 leaves of 2^17 bytes */
/*
 * Set (and never cleared) before the core first hands out a block of its
 * own: when a pool is marked here, or a large block's header is sealed
 * (large.h). While it is clear, every pointer in the process is a bare
 * glibc block (or foreign), so the interposer's plain malloc mode frees
 * without asking the page map or reading a large header. Set before the
 * block is returned, so any thread that was handed the pointer (through the
 * program's own synchronisation) sees it.
 */
extern uint8_t hs_core_blocks_out;
HS_INLINE void hs_note_core_block(void)
{
    if (HS_UNLIKELY(!HS_LOAD(&hs_core_blocks_out))) HS_STORE(&hs_core_blocks_out, 1);
}
#define HS_PM_ROOT_BITS 17
#define HS_PM_LEAF_BITS 17
#define HS_PM_OWNED     0xffu
HS_INLINE unsigned hs_pm_tag(unsigned sd, unsigned cls) { return 1u + sd * HS_NCLASSES + cls; }
HS_INLINE unsigned hs_pagemap_get(const void *p) {
    uintptr_t a = (uintptr_t)p, i = a >> (14 + HS_PM_LEAF_BITS);
    /* (the root covers 48 bits of address space: 14 + 17 + 17) */
    if (HS_UNLIKELY(i >= (1ul << HS_PM_ROOT_BITS))) return 0;
    const uint8_t *leaf = __atomic_load_n(&hs_pagemap_root[i], __ATOMIC_ACQUIRE);
    if (!leaf) return 0;
    return __atomic_load_n(&leaf[(a >> 14) & ((1u << HS_PM_LEAF_BITS) - 1)], __ATOMIC_RELAXED);
}
HS_INLINE bool hs_pagemap_test(const void *p) { return hs_pagemap_get(p) != 0; }
/* mark (as HS_PM_OWNED) or unmark the pools [first, first+n*POOL): -1 if the
 * table cannot grow. Arena lock held. */
int  hs_pagemap_mark(uintptr_t first_pool, unsigned npools, bool on);
/* record the use of a marked pool (its class lock held) */
void hs_pagemap_set(uintptr_t pool, unsigned tag);

/* ---- pools and arenas (arena.c) ------------------------------------------ */
struct hs_arena;
typedef struct hs_pool {
    uint32_t ref;              /* blocks out of this pool (in bins or in use) */
    uint16_t cls;              /* size class */
    uint8_t  dom;              /* HS_DOMAIN_MEM or HS_DOMAIN_OBJ */
    uint8_t  on_used;          /* linked on usedpools */
    void    *freeblock;        /* free blocks returned to the pool */
    struct hs_pool *next, *prev;   /* usedpools ring, or arena free list (next) */
    struct hs_arena *arena;
    uint16_t nextoffset;       /* first never-used block */
    uint16_t maxnextoffset;    /* last offset where a whole block fits */
    uint32_t nfree;            /* blocks on freeblock */
} hs_pool_t;
_Static_assert(HS_POOL_SIZE < 65536u, "pool offsets (up to HS_POOL_SIZE) fit 16 bits");
#define HS_POOL_HDR 48u
_Static_assert(sizeof(hs_pool_t) <= HS_POOL_HDR, "pool header grew");
_Static_assert(HS_NCLASSES == HS_LIVE_NCLASSES, "live file classes are the allocator's");
_Static_assert(1u + HS_NSMALLDOM * HS_NCLASSES < HS_PM_OWNED, "page-map tags fit a byte");

HS_INLINE hs_pool_t *hs_pool_of(const void *p) {
    return (hs_pool_t *)((uintptr_t)p & ~HS_POOL_MASK);
}

/* Take blocks of (dom, cls) from the central pools as a chain linked
 * through their first word; returns how many (0 = out of memory): up to
 * `want`, or, when a pool's free list comes first and holds at most `most`
 * blocks, that whole list (taken without walking it: see arena.c). */
unsigned hs_central_take(unsigned dom, unsigned cls, unsigned want, unsigned most, void **chain);
/* Give back the blocks of (dom, cls) of chain, linked through their first
 * word and ending in NULL. */
void     hs_central_give(unsigned dom, unsigned cls, void *chain);
void     hs_arena_fork_prepare(void);
void     hs_arena_fork_parent(void);
void     hs_arena_fork_child(void);

/* ---- per-thread heaps (heap.c) -------------------------------------------- */
typedef struct hs_bin {
    void    *head;
    uint16_t count;
    uint16_t cap;       /* most blocks the bin holds now (shrinks while draining) */
    uint8_t  batch;     /* next refill size: starts small, doubles to cap/2 */
    uint8_t  flags;     /* HS_BIN_REFILLED, HS_BIN_OVERFLOWED: since the other one */
    uint16_t mark;      /* the thread's allocations of this class (low 16 bits)
                         * at the last overflow, to tell a burst of frees */
} hs_bin_t;
#define HS_BIN_REFILLED   1u
#define HS_BIN_OVERFLOWED 2u

/* Cache-line aligned: heaps are carved side by side from one mapping, and
 * the owner reads `slot` on every operation while the next heap's owner
 * writes its first bins. */
typedef struct __attribute__((aligned(64))) hs_heap {
    hs_bin_t bins[HS_NSMALLDOM][HS_NCLASSES];
    struct hs_live_slot *slot;
    int64_t  sample_left;          /* bytes to the sampler's next look (sample.h) */
    int64_t  sample_rest;          /* and from there to the next sampled allocation */
    uint64_t sample_rng;           /* its generator's state */
    struct hs_heap *next_all;      /* registry of heaps */
    struct hs_heap *next_free;
    uint64_t tid;
    int      in_use;
    uint8_t  sample_seeded;        /* sample_rng seeded (sample.c) */
} hs_heap_t;

extern HS_TLS hs_heap_t *hs_tls_heap;
hs_heap_t *hs_heap_init_thread(void);     /* slow path: attach a heap (may be NULL) */
/*
 * The interposer's plain malloc mode (for interpose/): the slot an untagged
 * request of this thread counts a bare glibc MEM block into, or NULL, and
 * then the caller takes its slow path. Non-NULL means: the core is up, the
 * thread has a heap and no routing tag. One thread-local load thus answers
 * every question the plain fast path has (ready? tagged? which slot?).
 * hs_plain_arm() sets it; the core clears it whenever one of those answers
 * changes: hs_tag_push() and the heap's release at thread exit. A fork child
 * keeps it (the forking thread keeps its heap and slot, at the same address).
 */
extern HS_TLS int hs_tls_tag;              /* hs_tag_push's domain, -1 for none (domain.c) */
extern HS_TLS struct hs_live_slot *hs_tls_plain;
struct hs_live_slot *hs_plain_arm(void);   /* NULL if this thread cannot be armed now */
/* The same for the pymalloc mode: the heap an untagged request of this
 * thread is served from by the interposer's fast path, or NULL (then its
 * slow path). Set by hs_fast_arm(), cleared with hs_tls_plain. */
extern HS_TLS hs_heap_t *hs_tls_fast;
hs_heap_t *hs_fast_arm(void);              /* NULL if this thread cannot be armed now */
void      *hs_heap_refill(hs_heap_t *h, unsigned sd, unsigned cls);   /* pops one */
void       hs_heap_overflow(hs_heap_t *h, unsigned sd, unsigned cls);
void       hs_heap_flush_all(hs_heap_t *h);
void       hs_heap_setup(void);
void       hs_heap_fork_prepare(void);
void       hs_heap_fork_parent(void);
void       hs_heap_fork_child(void);
/* the shared fallback slot (slot 0), for threads without a heap */
extern struct hs_live_slot *hs_slot0;
extern hs_lock_t hs_slot0_lock;

/* ---- live region and counting (live.c, stats.h) --------------------------- */
extern HS_HIDDEN struct hs_live_header *hs_live;     /* never NULL after hs__init() */
extern size_t hs_live_size;
struct hs_live_slot *hs_live_slot_at(uint32_t i);
int  hs_live_setup(void *region, size_t size, const char *allocator_name, const char *labels);
/* In a fork child, once the region is its own: its counters as they are
 * now become its base (live.h base_offset). */
void hs_live_fork_base(void);
void hs_live_publish(bool force);          /* refresh header snapshot (rate limited) */
bool hs_live_traced(void);                 /* a tracer is attached to heapshim:publish */
/* Called on every large-block operation: looks at the clock only every 256th
 * time, so a program that never reaches a small-block slow path still
 * publishes, and one that does many large operations pays next to nothing. */
extern HS_TLS unsigned hs_tls_tick;
/* Slow paths call this instead of hs_live_publish(false) directly: even the
 * publication's clock read is worth skipping on most of them. */
HS_INLINE void hs_live_tick_every(unsigned n)
{
    if (HS_UNLIKELY(++hs_tls_tick % n == 0)) hs_live_publish(false);
}
HS_INLINE void hs_live_tick(void) { hs_live_tick_every(256); }
/* Fork (live.h, "Fork"): prepare stops counting threads at their next
 * operation; snapshot (the last prepare step) copies the region privately;
 * the child starts its own live file from hs_live_fork_copy(). */
void hs_live_fork_prepare(void);
void hs_live_fork_snapshot(void);
void hs_live_fork_parent(void);
void hs_live_fork_child(void);
const void *hs_live_fork_copy(size_t *len);
/* Fork child: that copy (anonymous memory) moved over `region` and grown to
 * `size` (zero pages after the copied part), in one mremap: the child's
 * private counters without a second copy. False when there is no copy or
 * the move failed (the caller copies instead). */
bool hs_live_fork_take_copy(void *region, size_t size);
/* the header's mapped block as one consistent state (its seqlock, mseq) */
void hs_live_mapped_now(struct hs_live_mapped *out);
/* after a mapped update: a pending request, or the 50 ms publication */
void hs_live_mapped_changed(void);
/* a slot given up (thread exit, fork child): its claims drop to its counts */
void hs_slot_settle(struct hs_live_slot *s);
#define HS_LIVE_REGION_SIZE(nslots) \
    (sizeof(struct hs_live_header) + HS_LIVE_EXTRA_AREA + (size_t)(nslots) * sizeof(struct hs_live_slot))

/* ---- large blocks (large.c): system allocator + 16-byte header ----------- */
/* None of these count; alloc.c does. The header (just before the block)
 * carries the domain and the offset back to glibc's block, sealed with a
 * per-process secret so that a foreign pointer is recognised as foreign. */
void  *hs_large_alloc(unsigned dom, size_t n, bool zero, size_t align);
void  *hs_large_resize(void *p, size_t n);     /* NULL on failure, p intact */
void   hs_large_release(void *p);
bool   hs_large_owns(const void *p);           /* reads the 16 bytes before p */
size_t hs_large_usable(const void *p);
unsigned hs_large_domain(const void *p);
void   hs_large_init(void);

/* ---- the default allocators (alloc.c) ------------------------------------- */
/* Small blocks (n <= HS_SMALL_MAX), counted. */
void  *hs_small_malloc(unsigned dom, size_t n);
void   hs_small_free(void *p);                   /* p owned (pagemap) */
HS_INLINE size_t   hs_small_usable(const void *p) { return hs_class_size(hs_pool_of(p)->cls); }
HS_INLINE unsigned hs_small_domain(const void *p) { return hs_pool_of(p)->dom; }
/* pymalloc: hs_ semantics (0 bytes -> 1, realloc(p,0) keeps a block), counted */
void  *hs_pymalloc_malloc(unsigned dom, size_t n);
void  *hs_pymalloc_calloc(unsigned dom, size_t ne, size_t es);
void  *hs_pymalloc_realloc(unsigned dom, void *p, size_t n);   /* keeps p's domain */
void  *hs_small_realloc_to_sys(void *p, size_t n);       /* small -> bare system block */
void  *hs_large_realloc_mem(void *p, size_t n);          /* MEM behind a header, default mode */
void   hs_pymalloc_free(void *p);
/* large blocks, counted (for interpose/: glibc-style aligned requests) */
void  *hs_counted_large(unsigned dom, size_t n, bool zero, size_t align);
/* RAW: the system allocator, counted by glibc's usable size */
void  *hs_rawsys_malloc(size_t n);
void  *hs_rawsys_calloc(size_t ne, size_t es);
void  *hs_rawsys_realloc(void *p, size_t n);
void   hs_rawsys_free(void *p);

/* Accounting for callers outside the default allocators (for interpose/). */
void hs_count_alloc(unsigned dom, size_t usable);
void hs_count_free(unsigned dom, size_t usable);
void hs_count_realloc(unsigned dom, size_t old_usable, size_t new_usable);
void hs_count_failed(unsigned dom);
/* overhead bytes of a layer above (debug hooks), see alloc.c */
void hs_count_overhead(unsigned dom, size_t bytes, bool on);

/* ---- domain table (domain.c) ---------------------------------------------- */
extern HS_HIDDEN hs_allocator_t hs_domain_table[HS_NDOMAINS];
extern HS_HIDDEN bool hs_domain_default[HS_NDOMAINS];    /* true while the default is installed */
/* HS_SMALL_MAX while the default is installed, else 0: one compare tells
 * "small and default" (n - 1 < hs_domain_small_max[d] for n >= 1) */
extern HS_HIDDEN size_t hs_domain_small_max[HS_NDOMAINS];

/* ---- initialisation (init.c) ---------------------------------------------- */
/* What the embedding layer (interpose/) may decide before the core starts. */
struct hs_core_config {
    void    *live_region;          /* NULL: anonymous region made by the core */
    size_t   live_region_size;
    const char *allocator_name;    /* recorded in the live header */
    const char *labels;            /* HEAPSHIM_LABELS (NULL: not set), recorded beside it */
};
/* Weak hooks, defined by interpose/ when linked in: fill *cfg at first init;
 * take part in fork (phase 0 prepare, 1 parent, 2 child). */
void hs__platform_config(struct hs_core_config *cfg) __attribute__((weak));
void hs__platform_fork(int phase) __attribute__((weak));
void hs__platform_ready(void) __attribute__((weak));
/* A fork child's counters are in private memory until it has lived a
 * while (interpose/lifecycle.c, "A fork child's live file"): while
 * hs_live_pending is set, the core asks at every clock look and claim
 * whether to publish them now (big: the total claimed is past
 * HS_LIVE_CHILD_BYTES). */
extern HS_HIDDEN int hs_live_pending;
#define HS_LIVE_CHILD_BYTES ((int64_t)1 << 20)
void hs__platform_pending(bool big) __attribute__((weak));

extern HS_HIDDEN int hs_initialized;         /* 0 no, 1 in progress, 2 done */
void hs__init_slow(void);
HS_INLINE void hs__init(void) { if (HS_UNLIKELY(hs_initialized != 2)) hs__init_slow(); }

#endif /* HS_CORE_INTERNAL_H */
