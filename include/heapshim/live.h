/*
 * heapshim/live.h - layout of the live counter region (version 1).
 *
 * Shared by the writer (the allocator, in every shimmed process) and by all
 * readers (heapshim top/export/run --timeline, the eBPF probe). Keep it plain
 * C with fixed-width types: it is also included by BPF programs.
 *
 * Where it lives
 *   In a process running under LD_PRELOAD=libheapshim.so the region is a
 *   MAP_SHARED mapping of the file  $HEAPSHIM_DIR/<pid>  (default
 *   /dev/shm/heapshim-<uid>/<pid>, directory 0700, file 0600). When
 *   publishing is off (HEAPSHIM_PUBLISH=0), or in a program that links the
 *   library without the shim, the same layout sits in anonymous memory.
 *
 *   +--------------------------+  offset 0
 *   | struct hs_live_header     |  identity, globals, published snapshot
 *   +--------------------------+  header.slots_offset
 *   | struct hs_live_slot [0]   |  slot 0: shared fallback slot (atomic RMW)
 *   | struct hs_live_slot [1]   |  one slot per thread, recycled at thread exit
 *   | ...                       |
 *   | struct hs_live_slot [n-1] |  n = header.nslots; only [0, slots_used) used
 *   +--------------------------+  header.file_size
 *
 * Why per-thread slots
 *   Counting must not slow the allocator's fast path, so every thread counts
 *   into its own slot with plain (non-locked) stores; nobody else writes it.
 *   A reader sums the slots. All cumulative counters only grow, so a reader
 *   that sums every "frees"/"free_bytes" field first and every "allocs"/
 *   "alloc_bytes" field afterwards gets allocs >= frees and live >= 0 with no
 *   lock at all (a block freed before the first read was allocated before it).
 *   Use hs_live_sum() (core/live.c) rather than summing by hand.
 *
 * Peak bytes
 *   Each slot keeps "pending" (net bytes since its last flush) and
 *   "pending_hwm" (the highest pending since then). When pending moves by
 *   HS_LIVE_FLUSH_BYTES the thread adds it to header.flushed[d] and raises
 *   header.peak[d] to (flushed before + pending_hwm). A reader takes
 *   max(peak[d], flushed[d] + sum of pending_hwm, live). This is exact while
 *   one thread allocates at a time; with T threads allocating concurrently it
 *   may overstate the true high-water mark by at most (T-1)*HS_LIVE_FLUSH_BYTES.
 *
 * Staleness
 *   The file is unlinked at normal exit and header.state set to
 *   HS_LIVE_STATE_EXITED. A file left by a killed process is recognised by
 *   checking that /proc/<pid>/stat still shows header.start_time (field 22):
 *   a different or missing value means the file is stale.
 */
#ifndef HEAPSHIM_LIVE_H
#define HEAPSHIM_LIVE_H

#ifndef __BPF__
#include <stdint.h>
#include <stddef.h>
#endif

#define HS_LIVE_MAGIC        0x314556494c534848ull   /* "HHSLIVE1" little-endian */
#define HS_LIVE_VERSION      1u
#define HS_LIVE_NDOM         3          /* raw, mem, obj */
#define HS_LIVE_TOTAL        3          /* index of the all-domain total in [4] arrays */
#define HS_LIVE_NCLASSES     32
#define HS_LIVE_MAX_SLOTS    1024       /* file is sized for this many (sparse) */
#define HS_LIVE_FLUSH_BYTES  (64 * 1024)

#define HS_LIVE_STATE_RUNNING 1u
#define HS_LIVE_STATE_EXITED  2u

/* Cumulative per-domain counters of one slot, for blocks that are not
 * small arena blocks (large MEM/OBJ blocks and all RAW blocks), plus the
 * per-domain realloc/failed counts and the peak machinery. */
struct hs_live_counters {
    uint64_t allocs, reallocs, frees, failed;
    uint64_t alloc_bytes, free_bytes;   /* usable bytes; live = alloc - free */
    int64_t  pending, pending_hwm;      /* peak machinery, see above */
};

/* Small arena blocks are counted per (domain, size class) only: on the fast
 * path that is one increment, and readers derive blocks and bytes
 * (count * class size). A realloc that moves a small block adds one to
 * small_allocs and small_frees and subtracts one (wrapping) from the
 * domain's allocs and frees, so it counts once, as a realloc. */
#define HS_LIVE_SMALLDOM 2              /* [0] = mem, [1] = obj */

struct hs_live_slot {
    uint64_t owner;                     /* kernel tid of the owner, 0 = free */
    uint64_t generation;                /* bumped on every reuse */
    struct hs_live_counters dom[HS_LIVE_NDOM];
    int64_t  total_pending, total_pending_hwm;
    uint64_t small_allocs[HS_LIVE_SMALLDOM][HS_LIVE_NCLASSES];
    uint64_t small_frees[HS_LIVE_SMALLDOM][HS_LIVE_NCLASSES];
    uint64_t _reserved[4];
};   /* 1280 bytes */

/* A published, self-consistent snapshot (one hs_domain_stats_t per domain). */
struct hs_live_domain {
    uint64_t live_bytes, live_blocks, peak_bytes;
    uint64_t allocs, reallocs, frees, failed;
};

struct hs_live_header {
    /* identity -- written once at creation */
    uint64_t magic;                 /* HS_LIVE_MAGIC */
    uint32_t version;               /* HS_LIVE_VERSION */
    uint32_t header_size;           /* sizeof(struct hs_live_header) */
    uint64_t file_size;             /* bytes of the whole region */
    uint32_t slot_size;             /* sizeof(struct hs_live_slot) */
    uint32_t nslots;                /* slots in the region */
    uint64_t slots_offset;          /* byte offset of slot 0 */
    int32_t  pid;
    uint32_t uid;
    uint64_t start_time;            /* /proc/<pid>/stat field 22, clock ticks */
    uint64_t created_unix_ns;       /* CLOCK_REALTIME at creation */
    char     comm[16];              /* NUL-terminated */
    char     cmdline[256];          /* argv joined by spaces, NUL-terminated, may be cut */
    char     allocator[16];         /* "pymalloc", "malloc", "pymalloc_debug", ... */
    uint64_t arena_size, pool_size;

    /* live globals -- atomics, written by the process */
    uint32_t state;                 /* HS_LIVE_STATE_* */
    uint32_t slots_used;            /* high-water of slots handed out */
    int64_t  flushed[4];            /* [HS_LIVE_NDOM] + total: sum of flushed pending */
    int64_t  peak[4];               /* high-water marks, see above */
    int64_t  window_peak[4];        /* high-water since a reader last reset it to 0 */
    uint64_t arenas_mapped, arenas_peak, bytes_mapped, pools_used, pools_free;
    uint64_t arenas_allocated_total, arenas_freed_total;
    uint64_t class_pools[HS_LIVE_NCLASSES];

    /* published snapshot -- seqlock: seq is odd while the process writes.
     * Refreshed at most every HS_LIVE_PUBLISH_MS on allocator slow paths and
     * at exit; this is what the eBPF probe reads at its USDT point. Readers
     * of the file may instead sum the slots (always current). */
    uint64_t seq;
    uint64_t published_unix_ns;
    uint64_t publications;
    uint64_t rss_bytes;             /* VmRSS at publication */
    struct hs_live_domain snap[4];  /* raw, mem, obj, total */
    uint64_t snap_arenas_mapped, snap_bytes_mapped;

    uint64_t _reserved[16];
};

#define HS_LIVE_PUBLISH_MS 50

#ifndef __BPF__
/* Result of summing a region (what a reader wants). */
struct hs_live_snapshot {
    struct hs_live_domain dom[4];   /* raw, mem, obj, total */
    uint64_t arenas_mapped, arenas_peak, bytes_mapped, pools_used, pools_free;
    uint64_t class_blocks[HS_LIVE_NCLASSES], class_pools[HS_LIVE_NCLASSES];
    uint32_t threads;               /* slots currently owned */
};

/* Validate a region of len bytes (mapped or copied from a file) and sum it.
 * Returns 0, or -1 with *why set to a static one-line reason ("bad magic",
 * "unsupported version 7 (this reader knows 1)", "truncated: ...").
 * Never reads outside [region, region+len). Safe on hostile input. */
int hs_live_sum(const void *region, size_t len, struct hs_live_snapshot *out,
                const char **why);

/* Validate only the header (identity fields). Same return convention. */
int hs_live_check_header(const void *region, size_t len, const char **why);
#endif

#endif /* HEAPSHIM_LIVE_H */
