/*
 * core/live_read.c - validate and sum a live counter region (readers' side).
 *
 * Room: pure functions over bytes. Used in-process by hs_domain_stats() and
 * by every external reader (heapshim top/export, the eBPF probe's loader,
 * fuzzers). Depends on nothing but include/heapshim/live.h: it must stay
 * linkable on its own and must never trust the region -- it may be a
 * truncated, foreign or hostile file, or be changing under our feet.
 */
#include <heapshim/live.h>
#include <string.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

int hs_live_check_header(const void *region, size_t len, const char **why)
{
    static const char *dummy;
    if (!why) why = &dummy;
    const struct hs_live_header *h = region;
    if (!region || len < 16) {
        *why = "truncated: shorter than the magic and version";
        return -1;
    }
    if (h->magic != HS_LIVE_MAGIC) {
        *why = "not a heapshim live file (bad magic)";
        return -1;
    }
    if (h->version != HS_LIVE_VERSION) {
        *why = "unsupported live file version (this reader knows version 1)";
        return -1;
    }
    if (len < sizeof(*h)) {
        *why = "truncated: shorter than the version 1 header";
        return -1;
    }
    if (h->header_size != sizeof(*h) || h->slot_size != sizeof(struct hs_live_slot)) {
        *why = "corrupt header: header or slot size does not match version 1";
        return -1;
    }
    if (h->slots_offset < sizeof(*h) || h->slots_offset % 8 || h->nslots == 0 ||
        h->nslots > (1u << 20)) {
        *why = "corrupt header: bad slot table position or count";
        return -1;
    }
    uint64_t need;
    if (h->slots_offset > h->file_size ||
        __builtin_add_overflow(h->slots_offset, (uint64_t)h->nslots * sizeof(struct hs_live_slot), &need) ||
        need > h->file_size) {
        *why = "corrupt header: slot table runs past the recorded file size";
        return -1;
    }
    if (len < need) {
        *why = "truncated: slot table runs past the end of the file";
        return -1;
    }
    if (h->comm[sizeof h->comm - 1] != 0 || h->cmdline[sizeof h->cmdline - 1] != 0 ||
        h->allocator[sizeof h->allocator - 1] != 0) {
        *why = "corrupt header: unterminated string field";
        return -1;
    }
    return 0;
}

static uint64_t sat_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }
/* hostile files may hold any value: keep peak arithmetic in saturating
 * unsigned math (negative signed fields count as 0) */
static uint64_t pos(int64_t v) { return v > 0 ? (uint64_t)v : 0; }
static uint64_t sat_add(uint64_t a, uint64_t b) { uint64_t r; return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r; }
static uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }

int hs_live_sum(const void *region, size_t len, struct hs_live_snapshot *out,
                const char **why)
{
    if (hs_live_check_header(region, len, why) != 0) return -1;
    const struct hs_live_header *h = region;
    const struct hs_live_slot *slots =
        (const struct hs_live_slot *)((const char *)region + h->slots_offset);
    uint32_t n = LOAD(&h->slots_used);
    if (n > h->nslots) n = h->nslots;

    memset(out, 0, sizeof *out);
    /* uint64 sums wrap: realloc compensation subtracts (see live.h) */
    uint64_t frees[HS_LIVE_NDOM] = {0}, free_bytes[HS_LIVE_NDOM] = {0};
    uint64_t allocs[HS_LIVE_NDOM] = {0}, alloc_bytes[HS_LIVE_NDOM] = {0};
    uint64_t cfrees[HS_LIVE_NCLASSES] = {0};
    uint64_t hwm_sum[4] = {0};

    /* Frees first, allocations second: every block freed before we started
     * was allocated before we started, so allocs >= frees and live >= 0
     * without stopping anybody (see live.h). */
    for (uint32_t i = 0; i < n; i++) {
        const struct hs_live_slot *s = &slots[i];
        for (int d = 0; d < HS_LIVE_NDOM; d++) {
            frees[d] += LOAD(&s->dom[d].frees);
            free_bytes[d] += LOAD(&s->dom[d].free_bytes);
        }
        for (int sd = 0; sd < HS_LIVE_SMALLDOM; sd++) {
            for (int c = 0; c < HS_LIVE_NCLASSES; c++) {
                uint64_t f = LOAD(&s->small_frees[sd][c]);
                frees[sd + 1] += f;
                free_bytes[sd + 1] += f * (uint64_t)(16 * (c + 1));
                cfrees[c] += f;
            }
        }
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n; i++) {
        const struct hs_live_slot *s = &slots[i];
        if (LOAD(&s->owner)) out->threads++;
        for (int d = 0; d < HS_LIVE_NDOM; d++) {
            struct hs_live_domain *o = &out->dom[d];
            allocs[d] += LOAD(&s->dom[d].allocs);
            alloc_bytes[d] += LOAD(&s->dom[d].alloc_bytes);
            o->reallocs += LOAD(&s->dom[d].reallocs);
            o->failed += LOAD(&s->dom[d].failed);
            hwm_sum[d] = sat_add(hwm_sum[d], pos(LOAD(&s->dom[d].pending_hwm)));
        }
        hwm_sum[HS_LIVE_TOTAL] = sat_add(hwm_sum[HS_LIVE_TOTAL], pos(LOAD(&s->total_pending_hwm)));
        for (int sd = 0; sd < HS_LIVE_SMALLDOM; sd++) {
            for (int c = 0; c < HS_LIVE_NCLASSES; c++) {
                uint64_t a = LOAD(&s->small_allocs[sd][c]);
                allocs[sd + 1] += a;
                alloc_bytes[sd + 1] += a * (uint64_t)(16 * (c + 1));
                out->class_blocks[c] += a;
            }
        }
    }
    for (int c = 0; c < HS_LIVE_NCLASSES; c++) {
        out->class_blocks[c] = sat_sub(out->class_blocks[c], cfrees[c]);
        out->class_pools[c] = LOAD(&h->class_pools[c]);
    }

    struct hs_live_domain *t = &out->dom[HS_LIVE_TOTAL];
    for (int d = 0; d < HS_LIVE_NDOM; d++) {
        struct hs_live_domain *o = &out->dom[d];
        o->frees = frees[d];
        o->allocs = allocs[d] < frees[d] ? frees[d] : allocs[d];   /* only if corrupt */
        o->live_blocks = o->allocs - o->frees;
        o->live_bytes = sat_sub(alloc_bytes[d], free_bytes[d]);
        /* flushed may be negative for a while (frees counted before the
         * matching allocs were flushed): add in signed range only when safe */
        int64_t fl = LOAD(&h->flushed[d]);
        uint64_t est = fl >= 0 ? sat_add((uint64_t)fl, hwm_sum[d])
                               : sat_sub(hwm_sum[d], (uint64_t)(-(fl + 1)) + 1);
        o->peak_bytes = max64(max64(pos(LOAD(&h->peak[d])), est), o->live_bytes);
        t->live_bytes = sat_add(t->live_bytes, o->live_bytes);
        t->live_blocks = sat_add(t->live_blocks, o->live_blocks);
        t->allocs = sat_add(t->allocs, o->allocs);
        t->reallocs = sat_add(t->reallocs, o->reallocs);
        t->frees = sat_add(t->frees, o->frees);
        t->failed = sat_add(t->failed, o->failed);
    }
    int64_t tfl = LOAD(&h->flushed[HS_LIVE_TOTAL]);
    uint64_t test = tfl >= 0 ? sat_add((uint64_t)tfl, hwm_sum[HS_LIVE_TOTAL])
                             : sat_sub(hwm_sum[HS_LIVE_TOTAL], (uint64_t)(-(tfl + 1)) + 1);
    t->peak_bytes = max64(max64(pos(LOAD(&h->peak[HS_LIVE_TOTAL])), test), t->live_bytes);
    /* when a domain peaked the sum was at least that high */
    for (int d = 0; d < HS_LIVE_NDOM; d++) t->peak_bytes = max64(t->peak_bytes, out->dom[d].peak_bytes);

    out->arenas_mapped = LOAD(&h->arenas_mapped);
    out->arenas_peak = max64(LOAD(&h->arenas_peak), out->arenas_mapped);
    out->bytes_mapped = LOAD(&h->bytes_mapped);
    out->pools_used = LOAD(&h->pools_used);
    out->pools_free = LOAD(&h->pools_free);
    return 0;
}
