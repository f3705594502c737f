/*
 * core/live_sum.h - turning slot counters into statistics (readers' side).
 *
 * Room: one accumulator shared by every reader -- the in-process consistent
 * read (live.c) and the readers of a region or a copy of one (live_read.c)
 * -- so that the counting rules of include/heapshim/live.h are applied in
 * one place. Pure functions over values already read; no loads from shared
 * memory here.
 */
#ifndef HS_CORE_LIVE_SUM_H
#define HS_CORE_LIVE_SUM_H
#include <heapshim/live.h>
#include <stdbool.h>

/* The counters of one slot, as read at one moment. */
struct hs_live_counts {
    int64_t hwm[4], release_at[4];      /* for the peak (live.h, "Peaks") */
    struct hs_live_counters dom[HS_LIVE_NDOM];
    uint64_t small_allocs[HS_LIVE_SMALLDOM][HS_LIVE_NCLASSES];
    uint64_t small_frees[HS_LIVE_SMALLDOM][HS_LIVE_NCLASSES];
};

/* Running sums over slots (uint64 arithmetic wraps, as the counters do). */
struct hs_live_acc {
    uint64_t in[HS_LIVE_NDOM], out[HS_LIVE_NDOM];           /* blocks */
    uint64_t in_bytes[HS_LIVE_NDOM], out_bytes[HS_LIVE_NDOM];
    uint64_t moves[HS_LIVE_NDOM], reallocs[HS_LIVE_NDOM], failed[HS_LIVE_NDOM];
    uint64_t class_in[HS_LIVE_NCLASSES], class_out[HS_LIVE_NCLASSES];
    int64_t open_hwm[4];                /* largest hwm of the slots holding a grant */
    bool open[4];                       /* some slot holds a grant */
    uint32_t threads;
};

void hs_live_acc_add(struct hs_live_acc *a, const struct hs_live_counts *c, bool owned);
/* Finish: the sums plus the header's figures (peaks, arenas), whose fields
 * the caller has read (`peak` = header.peak[], ...). Saturating where a
 * hostile file could overflow. */
struct hs_live_globals {
    int64_t peak[4], claimed[4];
    uint64_t arenas_mapped, arenas_peak, bytes_mapped, pools_used, pools_free;
    uint64_t class_pools[HS_LIVE_NCLASSES];
};
void hs_live_acc_finish(const struct hs_live_acc *a, const struct hs_live_globals *g,
                        struct hs_live_snapshot *out);
void hs_live_globals_read(const struct hs_live_header *h, struct hs_live_globals *g);
/* The mapped block as read (relaxed loads), peaks raised to live. */
void hs_live_mapped_load(struct hs_live_mapped *out, const struct hs_live_mapped *m);
/* The peak a reader reports for index i (live.h, "Peaks"), before live. */
int64_t hs_live_peak_view(const struct hs_live_acc *a, const struct hs_live_globals *g, unsigned i);

#endif
