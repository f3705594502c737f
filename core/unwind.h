/*
 * core/unwind.h - the sampler's stack walk with a cache of unwind rules.
 *
 * Room: walking the calling thread's stack for core/sample.c, reading only
 * that stack (within its bounds), the unwind tables (.eh_frame_hdr and
 * .eh_frame, from the objects' files, else in memory through the shim's
 * private libgcc's _Unwind_Find_FDE) and its own rule cache. It never
 * allocates and takes no lock that anyone waits for.
 *
 * x86-64: each return address's unwind rule (CFA = rsp+k or rbp+k, return
 * address and saved rbp at fixed offsets from the CFA) is computed once from
 * its FDE and kept in a table shared by all threads; a sample whose frames
 * all have such rules is walked with plain loads. Anything else (a signal
 * frame, a CFA expression, a CFA on another register, an unknown CFI
 * instruction) makes that sample fall back to libgcc's _Unwind_Backtrace,
 * which records the same stack. Other architectures: always the fallback.
 */
#ifndef HS_CORE_UNWIND_H
#define HS_CORE_UNWIND_H
#include "internal.h"

/* what hs_unwind_cached returns when this sample needs the full unwinder */
#define HS_UNWIND_FALLBACK 0xffffffffu

/* what a walk is asked for: up to max return addresses into frames, without
 * the leading frames inside [self_lo, self_hi) (the shim); gen is the
 * loader's dlpi_adds + dlpi_subs now (the cache is emptied when it moves) */
struct hs_unwind_req {
    uint64_t *frames;
    unsigned max;
    uintptr_t self_lo, self_hi;
    uint64_t gen;
};

/*
 * The return addresses of the calling thread's stack, from the frame of the
 * function that calls this one: the number of frames, or HS_UNWIND_FALLBACK.
 * On x86-64 an assembly entry that takes its caller's pc, sp and rbp and
 * jumps on: the walk starts in the caller's frame, none of its own is
 * walked (core/unwind.c).
 */
unsigned hs_unwind_cached(const struct hs_unwind_req *rq);

/* rules computed so far: read from the objects' files, read in memory,
 * taken from the store */
void hs_unwind_stats(uint64_t *from_files, uint64_t *in_memory, uint64_t *from_store);

/* The store of rules kept between processes (core/unwind.c, "the store"):
 * its directory, an absolute path (NULL or "": none; kept, not copied: a
 * string that lives as long as the process), and this
 * process's new rules appended to it (at exit) */
void hs_unwind_store_at(const char *dir);
void hs_unwind_store_save(void);

/* a fork child: the cache's try-locks, held by a thread that is gone, released */
void hs_unwind_fork_child(void);

/* the top of the calling thread's stack (once per thread, no allocation);
 * the walks read the stack only between their own frame and this top, when
 * the two are at most HS_STACK_SPAN apart */
uintptr_t hs_unwind_stack_top(void);
#define HS_STACK_SPAN ((uintptr_t)64 << 20)

#endif
