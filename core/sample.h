/*
 * core/sample.h - sampled allocation sites (heap profiles), the core's side.
 *
 * Room: the countdown that decides which allocations are sampled, and the
 * entry points of core/sample.c (which records them). Nothing here touches
 * a block that is not sampled.
 *
 * Each thread's heap carries a signed countdown of bytes (hs_heap_t
 * sample_left). Every allocation subtracts its size; when the countdown goes
 * below zero the allocation is sampled: served by hs_sample_alloc() as a
 * large block whose sealed header carries HS_LARGE_SAMPLED (core/large.h),
 * so that only frees that take the large path already look at the flag, and
 * the next distance is drawn from an exponential distribution of mean
 * HEAPSHIM_PROFILE_RATE bytes. Rate 0: the countdown is set to INT64_MAX at
 * the thread's first allocation and never runs out.
 *
 * Where the charge happens: inside the small fast path (alloc_fast.h, two
 * instructions, the heap pointer is in a register there), and on each path
 * that does not take it (large, aligned, malloc mode, realloc) in
 * interpose/override.c and core/alloc.c through hs_sample_try().
 */
#ifndef HS_CORE_SAMPLE_H
#define HS_CORE_SAMPLE_H
#include "internal.h"

/* true when this request of n bytes is to be sampled */
HS_INLINE bool hs_sample_charge(hs_heap_t *h, size_t n)
{
    /* in unsigned arithmetic: a request of 2^63 bytes or more (it fails
     * anyway) wraps instead of overflowing; the same sub and js */
    h->sample_left = (int64_t)((uint64_t)h->sample_left - (uint64_t)n);
    return HS_UNLIKELY(h->sample_left < 0);
}

/*
 * The sampled allocation itself: a counted large block of the domain (zeroed
 * when zero, aligned when align > 16), recorded with its stack. NULL when
 * this request is not sampled after all (first use of the thread, sampling
 * off, a sample already being taken on this thread, no memory): the caller
 * then serves it as usual. Always leaves a fresh countdown.
 */
void *hs_sample_alloc(hs_heap_t *h, unsigned dom, size_t n, bool zero, size_t align);
/* the same without counting it (for a realloc, counted as one by the caller) */
void *hs_sample_alloc_uncounted(hs_heap_t *h, unsigned dom, size_t n);
/*
 * realloc(p, n) taken by the sampler (for interpose/, after hs_sample_charge
 * said so): p moves into a sampled block, counted as one realloc of p's
 * domain, as the unsampled realloc would be. kind: 0 p is in our pools,
 * 1 behind our large header, 2 a bare glibc MEM block. NULL: not sampled
 * after all, p untouched.
 */
void *hs_sample_realloc(hs_heap_t *h, void *p, int kind, size_t n);
/* for hs_sample_realloc: p (a bare glibc block, or behind our header at an
 * offset of at most 32) into a sampled block of n bytes, uncounted, with at
 * most one copy of its contents (none at offset 32: glibc resizes the block
 * behind its header, as it would unsampled; sample.c says which); NULL: not
 * sampled, p intact */
void *hs_sample_move(hs_heap_t *h, void *p, bool bare, size_t n);

/*
 * A MEM block behind the sampling header (sampled, or sampled once) that a
 * realloc resizes without sampling it, in the default mode
 * (hs_large_realloc_mem): up to this usable size it is copied out to a
 * bare block, so that the rest of its realloc chain takes the interposer's
 * inline paths for bare blocks again (a block behind a header takes the
 * generic realloc path, about 170 instructions more a call: a chain of
 * 42,000 reallocs growing such a block from 4 KiB to 4 MiB cost 12.2 M
 * instructions against 5.2 M); above it glibc resizes it behind its header,
 * no copy by the shim (in place, by mremap, or glibc's own copy, as it
 * would a bare block: copying every sampled block out cost bench/wl_large
 * +52% instructions). A copy of 64 KiB costs a few microseconds, about as
 * much as 50 such calls.
 */
#define HS_SAMPLE_REJOIN_MAX ((size_t)64 * 1024)

/* charge a request that did not take the small fast path; a sampled block or NULL */
HS_INLINE void *hs_sample_try(unsigned dom, size_t n, bool zero, size_t align)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h == NULL) || HS_LIKELY(!hs_sample_charge(h, n))) return NULL;
    return hs_sample_alloc(h, dom, n, zero, align);
}

/* a sampled block is being released (large.h, from hs_large_release_fast) */
void hs_sample_release(void *p);

/* The stack walks (HEAPSHIM_PROFILE_UNWIND): the unwind tables through the
 * cache of rules (core/unwind.c), libgcc's _Unwind_Backtrace where it cannot;
 * _Unwind_Backtrace for every sample; frame pointers; both table walks on
 * every sample, compared (a test mode). */
enum { HS_UNWIND_DWARF, HS_UNWIND_LIBGCC, HS_UNWIND_FP, HS_UNWIND_VERIFY };
/* Settings (interpose/proffile.c): mean interval in bytes (0 = off), the
 * seed of every thread's generator (seeded = false: random), the walk
 * (HS_UNWIND_*). Called once before the first allocation is served. */
void hs_sample_configure(uint64_t rate, uint64_t seed, bool seeded, int unwind);
uint64_t hs_sample_rate(void);

/* The region the profile lives in (include/heapshim/profile.h): made by the
 * embedding layer at the first sample (interpose/proffile.c: a shared file
 * in the live directory); an anonymous mapping when it returns NULL. */
void *hs__platform_profile_region(size_t size) __attribute__((weak));
size_t hs_sample_region_size(void);
/* the region when one exists (for the exit copy and fork), else NULL */
void *hs_sample_region(void);
/* fork: 0 prepare (takes the profile's locks), 1 parent, 2 child (releases them) */
void hs_sample_fork(int phase);
/* Fork child, before hs_sample_fork(2), when the region is the parent's
 * file (a shared mapping the child must neither write nor go on reading):
 * its contents at the fork become private memory at the same address (the
 * header and the tables' backed parts: nothing else was written). False
 * when there was no memory for the copy: the child has no profile. */
bool hs_sample_fork_private(void);
/* Fork prepare, after hs_sample_fork(0), when the region is this process's
 * file: a private copy of its used parts for the child to take in
 * hs_sample_fork_private (the parent's is dropped by hs_sample_fork(1)). */
void hs_sample_fork_snapshot(void);
/* A fork child that lives on: the (private) region moves into p, a shared
 * mapping of REGION_SIZE bytes of the child's own new file, its header's
 * page backed (hs__platform_profile_region). False when the file cannot
 * hold it (full file system) or the profile lock is this thread's: p is
 * left to the caller to unmap and remove, and the region stays private. */
bool hs_sample_publish(void *p);

/*
 * An interpreter's own frames in the sampled stacks (interpose/pyframes.c
 * registers CPython's). At a sample, walk() gives the calling thread's
 * interpreter frames, innermost first, or 0 when it has none or may not
 * read them (it does not hold the interpreter's lock); each frame's `entry`
 * marks the outermost frame of one run of the interpreter loop, whose
 * native frame has its return addresses in (eval_lo, eval_hi]. The sampler
 * puts each run's frames before that native frame. describe() copies the
 * name and file of a frame walk() has just returned (still running, so
 * alive), only for one not seen before (`hash`: of name, file and line,
 * never 0). Neither may allocate or take a lock the allocator may wait
 * for. Set once, before or while threads run; never unset.
 */
struct hs_interp_frame {
    uintptr_t code;                     /* 0: a frame with nothing to show (still only a boundary) */
    uint64_t hash;
    int32_t line, first_line;
    bool entry;
};
struct hs_interp {
    uintptr_t eval_lo, eval_hi;
    unsigned (*walk)(struct hs_interp_frame *out, unsigned max);
    void (*describe)(const struct hs_interp_frame *f, char *name, size_t name_cap, char *file, size_t file_cap);
};
void hs_sample_set_interp(const struct hs_interp *in);

#endif
