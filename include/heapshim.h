/*
 * heapshim.h - public API of the heapshim memory manager.
 *
 * Three allocation domains, after CPython's memory manager:
 *   RAW  straight to the system allocator, callable from any thread at any time;
 *   MEM  general-purpose buffers;
 *   OBJ  objects.
 * MEM and OBJ requests of <= HS_SMALL_MAX bytes are served by an arena allocator
 * (size classes in 16-byte steps, 16 KiB pools carved out of 256 KiB arenas);
 * larger ones fall back to the system allocator but stay accounted in their own
 * domain.
 *
 * Semantics (hs_ API, like PyMem_* / PyObject_*):
 *   - a zero-byte request returns a distinct non-NULL pointer (as if 1 byte);
 *   - calloc zeroes; nelem*elsize overflow returns NULL;
 *   - realloc(NULL, n) is malloc(n); realloc(p, 0) resizes to a minimal block
 *     and returns non-NULL; a failed realloc returns NULL and leaves p intact;
 *   - free(NULL) does nothing;
 *   - every pointer is aligned to 16 bytes.
 *
 * The library never exports PyMem_* / PyObject_* symbols; include
 * <heapshim/pymem.h> for macros that map those names onto this API.
 */
#ifndef HEAPSHIM_H
#define HEAPSHIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef HS_API
#define HS_API __attribute__((visibility("default")))
#endif

#define HS_VERSION_MAJOR 0
#define HS_VERSION_MINOR 1
#define HS_VERSION_STRING "0.1.0"

#define HS_ALIGNMENT   16u
#define HS_SMALL_MAX   1024u         /* largest request served from arenas */
#define HS_NCLASSES    (HS_SMALL_MAX / HS_ALIGNMENT)   /* 64 size classes */
#define HS_ARENA_SIZE  (256u * 1024u)
#define HS_POOL_SIZE   (16u * 1024u)

typedef enum hs_domain {
    HS_DOMAIN_RAW = 0,
    HS_DOMAIN_MEM = 1,
    HS_DOMAIN_OBJ = 2
} hs_domain_t;
#define HS_NDOMAINS 3

/* ---- the three domains -------------------------------------------------- */
HS_API void *hs_raw_malloc(size_t n);
HS_API void *hs_raw_calloc(size_t nelem, size_t elsize);
HS_API void *hs_raw_realloc(void *p, size_t n);
HS_API void  hs_raw_free(void *p);

HS_API void *hs_mem_malloc(size_t n);
HS_API void *hs_mem_calloc(size_t nelem, size_t elsize);
HS_API void *hs_mem_realloc(void *p, size_t n);
HS_API void  hs_mem_free(void *p);

HS_API void *hs_obj_malloc(size_t n);
HS_API void *hs_obj_calloc(size_t nelem, size_t elsize);
HS_API void *hs_obj_realloc(void *p, size_t n);
HS_API void  hs_obj_free(void *p);

/* Typed helpers, like PyMem_New / PyMem_Resize / PyMem_Del.
 * HS_MEM_NEW returns NULL when n*sizeof(TYPE) overflows.
 * HS_MEM_RESIZE always reassigns p (to NULL on failure: keep a copy of the old
 * pointer if you need it, exactly as with PyMem_Resize). */
#define HS_MEM_NEW(TYPE, n) ((TYPE *)hs__mem_new((size_t)(n), sizeof(TYPE)))
#define HS_MEM_RESIZE(p, TYPE, n) \
    ((p) = (TYPE *)hs__mem_resize((p), (size_t)(n), sizeof(TYPE)))
/* functions, not inline comparisons: a literal count would make the
 * overflow test "always false" and trip -Wtype-limits in the caller */
static inline void *hs__mem_new(size_t n, size_t size)
{
    return n > SIZE_MAX / size ? NULL : hs_mem_malloc(n * size);
}
static inline void *hs__mem_resize(void *p, size_t n, size_t size)
{
    return n > SIZE_MAX / size ? NULL : hs_mem_realloc(p, n * size);
}
#define HS_MEM_DEL(p) hs_mem_free(p)

/* ---- allocator hooks (like PyMemAllocatorEx) ----------------------------- */
typedef struct hs_allocator {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void  (*free)(void *ctx, void *ptr);
} hs_allocator_t;

/* Get/set the allocator of a domain. A hook may wrap the previous allocator
 * (get it first, keep it in ctx). Set hooks before allocating in that domain,
 * or make sure blocks are freed by the allocator that made them. An invalid
 * domain is ignored (get fills *out with NULLs). */
HS_API void hs_get_allocator(hs_domain_t d, hs_allocator_t *out);
HS_API void hs_set_allocator(hs_domain_t d, const hs_allocator_t *a);

/* ---- arena allocator (like PyObjectArenaAllocator) ----------------------- */
typedef struct hs_arena_allocator {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);        /* NULL on failure */
    void  (*free)(void *ctx, void *ptr, size_t size);
} hs_arena_allocator_t;
HS_API void hs_get_arena_allocator(hs_arena_allocator_t *out);
HS_API void hs_set_arena_allocator(const hs_arena_allocator_t *a);

/* ---- debug hooks (like PyMem_SetupDebugHooks) ---------------------------- */
/* Wraps all three domains: clean/dead fill bytes, guard bytes, the allocating
 * domain recorded; on free/realloc detects overrun, underrun, API-family
 * mismatch and double free, prints one diagnostic and aborts.
 * Returns 0, or -1 if already installed. */
HS_API int hs_setup_debug_hooks(void);

#define HS_CLEANBYTE     0xCDu   /* fills new memory */
#define HS_DEADBYTE      0xDDu   /* fills freed memory */
#define HS_FORBIDDENBYTE 0xFDu   /* guard bytes */

/* ---- statistics ---------------------------------------------------------- */
typedef struct hs_domain_stats {
    uint64_t live_bytes;   /* usable bytes of live blocks */
    uint64_t live_blocks;
    uint64_t peak_bytes;   /* high-water mark of live_bytes */
    uint64_t allocs, reallocs, frees, failed;   /* cumulative */
} hs_domain_stats_t;

/* 0, or -1 for a bad domain. Cheap, lock-free, never blocks allocation. */
HS_API int hs_domain_stats(hs_domain_t d, hs_domain_stats_t *out);

/* Totals over the three domains: live_bytes summed; peak_bytes is the
 * high-water mark of the sum (not the sum of the peaks). */
HS_API int hs_total_stats(hs_domain_stats_t *out);

/* The three domains (out[0..2], by hs_domain_t) and the total (out[3]) from
 * one consistent read: the total's counters are the sums of the domains'
 * (peak_bytes as in hs_total_stats). Separate hs_domain_stats and
 * hs_total_stats calls are separate moments: rows that must add up (a
 * table, a report) come from this one. 0, or -1 as hs_total_stats. */
HS_API int hs_all_stats(hs_domain_stats_t out[HS_NDOMAINS + 1]);

typedef struct hs_class_stats {
    uint32_t size;           /* block size of the class */
    uint64_t blocks_in_use;  /* handed out to the program, MEM+OBJ */
    uint64_t pools;          /* pools currently carved for this class */
} hs_class_stats_t;

typedef struct hs_arena_stats {
    uint64_t arenas_mapped, arenas_peak, bytes_mapped, pools_used, pools_free;
    uint64_t arena_size, pool_size;
    uint64_t arenas_allocated_total, arenas_freed_total;  /* cumulative */
    hs_class_stats_t classes[HS_NCLASSES];
} hs_arena_stats_t;
HS_API int hs_arena_stats(hs_arena_stats_t *out);

/* Mapped memory: the anonymous private mappings the program made itself
 * through libc's mmap & co., counted by the LD_PRELOAD shim (all zero in a
 * program that only links the library). Indexes 0-2 are the domains their
 * callers were routed to, 3 the total; peaks are exact. One consistent
 * state (include/heapshim/live.h, "Mapped memory"). */
typedef struct hs_mapped_stats {
    uint64_t live_bytes[4];        /* accessible (not PROT_NONE) bytes now */
    uint64_t peak_bytes[4];        /* high-water marks of live_bytes */
    uint64_t maps, unmaps, remaps, protects;     /* calls that changed them */
    uint64_t discards, discard_bytes;            /* madvise DONTNEED/FREE */
} hs_mapped_stats_t;
HS_API int hs_mapped_stats(hs_mapped_stats_t *out);

/* Human-readable table, like sys._debugmallocstats(). */
HS_API void hs_print_stats(FILE *out);

/* Publish the counters now: refresh the snapshot that readers of the live
 * file (heapshim top, export) and heapshim-probe see, and fire the
 * heapshim:publish USDT point, whatever the 50 ms rate limit. The allocator
 * publishes by itself from its slow paths; a program that is about to sleep
 * for long calls this so its last figures are shown. 0, or -1 when there is
 * nothing to publish into (the counter region is not set up). When another
 * thread is publishing at that moment, its publication stands for this one. */
HS_API int hs_publish(void);

/* ---- routing (used by the LD_PRELOAD interposer) ------------------------- */
/* Plain malloc calls made by this thread go to domain d until the matching
 * pop. Returns the previous tag (HS_TAG_NONE when there was none), to hand
 * back to hs_tag_pop. The hs_ API is never affected by the tag. An invalid d
 * leaves the tag unchanged. */
#define HS_TAG_NONE ((hs_domain_t)-1)
HS_API hs_domain_t hs_tag_push(hs_domain_t d);
HS_API void        hs_tag_pop(hs_domain_t prev);

/* Name of a domain: "raw", "mem", "obj" (or "?" for a bad one). */
HS_API const char *hs_domain_name(hs_domain_t d);

#ifdef __cplusplus
}
#endif
#endif /* HEAPSHIM_H */
