/*
 * ebpf/probe_sum.h - the probe's slot sum, shared by the kernel side
 * (probe.bpf.c, the pull iterator) and user space (tests/test_probe_sum.c).
 *
 * Room: one pure function over two slots already copied; no maps, no
 * helpers, no loads from another process. The pull iterator cannot run
 * core/live_sum.h's accumulator (it keeps no state per slot), so it folds
 * every used slot into one: the loader then hands that single slot to
 * hs_live_read_copies() (core/live_read.c) as a one-slot region. That is
 * right only while summing here and summing there give the same figures;
 * tests/test_probe_sum.c compiles this file on the host and checks it
 * against hs_live_sum() on random regions, so a field added to
 * struct hs_live_slot and not summed here fails `make check`.
 *
 * Rules (include/heapshim/live.h, "Peaks"): counters add up (wrapping, as
 * the counters do); the peak view keeps the largest hwm among slots that
 * hold a grant (release_at < 0), marked by release_at = -1 in the sum; the
 * seq's low bit says an update was under way in some slot.
 */
#ifndef HS_EBPF_PROBE_SUM_H
#define HS_EBPF_PROBE_SUM_H
#include <heapshim/live.h>

/* Add slot x into the running sum a (a starts zeroed). Returns 1 if x has
 * an owner (a live thread), else 0. */
static __attribute__((always_inline)) inline int hsp_slot_add(struct hs_live_slot *a,
                                                              const struct hs_live_slot *x)
{
    a->seq |= x->seq & 1;
    for (int k = 0; k < 4; k++) {
        if (x->release_at[k] >= 0) continue;
        if (a->release_at[k] >= 0 || x->hwm[k] > a->hwm[k]) a->hwm[k] = x->hwm[k];
        a->release_at[k] = -1;
    }
    for (int d = 0; d < HS_LIVE_NDOM; d++) {
        a->dom[d].allocs += x->dom[d].allocs;
        a->dom[d].reallocs += x->dom[d].reallocs;
        a->dom[d].frees += x->dom[d].frees;
        a->dom[d].failed += x->dom[d].failed;
        a->dom[d].alloc_bytes += x->dom[d].alloc_bytes;
        a->dom[d].free_bytes += x->dom[d].free_bytes;
        a->dom[d].moves += x->dom[d].moves;
    }
    uint64_t *aa = &a->small_allocs[0][0];
    const uint64_t *xa = &x->small_allocs[0][0];
    for (int j = 0; j < HS_LIVE_SMALLDOM * HS_LIVE_NCLASSES; j++) aa[j] += xa[j];
    uint64_t *af = &a->small_frees[0][0];
    const uint64_t *xf = &x->small_frees[0][0];
    for (int j = 0; j < HS_LIVE_SMALLDOM * HS_LIVE_NCLASSES; j++) af[j] += xf[j];
    return x->owner ? 1 : 0;
}

#endif
