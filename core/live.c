/*
 * core/live.c - the live counter region, seen from inside the process.
 *
 * Room: sets the region up (layout in include/heapshim/live.h), folds a
 * thread's pending bytes into the peak figures, refreshes the published
 * snapshot, and answers the statistics API by summing the region with the
 * same reader every other process uses (live_read.c). Counting itself is in
 * count.h, on the allocation paths.
 */
#include "internal.h"
#include "prim/proc.h"
#include <string.h>

#if defined(__has_include)
#if __has_include(<sys/sdt.h>)
/* with -fPIC the default operand constraint yields sym@GOTPCREL(%rip), which
 * libbpf cannot resolve; plain registers/constants ("nr") work everywhere */
#define STAP_SDT_ARG_CONSTRAINT nr
#include <sys/sdt.h>
#define HS_USDT2(name, a, b) DTRACE_PROBE2(heapshim, name, a, b)
#endif
#endif
#ifndef HS_USDT2
#define HS_USDT2(name, a, b) do { (void)(a); (void)(b); } while (0)
#endif

struct hs_live_header *hs_live;
HS_TLS unsigned hs_tls_tick;
size_t hs_live_size;

struct hs_live_slot *hs_live_slot_at(uint32_t i)
{
    return (struct hs_live_slot *)((char *)hs_live + hs_live->slots_offset) + i;
}

int hs_live_setup(void *region, size_t size, const char *allocator_name)
{
    if (!region || size < HS_LIVE_REGION_SIZE(2)) {
        size = HS_LIVE_REGION_SIZE(HS_LIVE_MAX_SLOTS);
        region = hs_os_map(size);
        if (!region) return -1;
    }
    struct hs_live_header *h = region;
    h->header_size = sizeof *h;
    h->slot_size = sizeof(struct hs_live_slot);
    h->slots_offset = sizeof *h;
    h->nslots = (uint32_t)((size - sizeof *h) / sizeof(struct hs_live_slot));
    h->file_size = size;
    h->arena_size = HS_ARENA_SIZE;
    h->pool_size = HS_POOL_SIZE;
    strncpy(h->allocator, allocator_name ? allocator_name : "pymalloc", sizeof h->allocator - 1);
    hs_live_fill_identity(h);
    h->slots_used = 1;                     /* slot 0: the shared fallback */
    h->state = HS_LIVE_STATE_RUNNING;
    h->version = HS_LIVE_VERSION;
    __atomic_store_n(&h->magic, HS_LIVE_MAGIC, __ATOMIC_RELEASE);   /* last: readers key on it */
    hs_live = h;
    hs_live_size = size;
    HS_USDT2(init, hs_live, hs_live_size);
    return 0;
}

static void atomic_max64(int64_t *p, int64_t v)
{
    int64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v > cur &&
           !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* Fold a slot's pending bytes of one domain (or the total) into the shared
 * figures: flushed += pending; peak >= flushed-before + pending_hwm. */
void hs_counter_flush(struct hs_live_slot *s, unsigned idx)
{
    int64_t *pending, *hwm;
    if (idx == HS_LIVE_TOTAL) {
        pending = &s->total_pending;
        hwm = &s->total_pending_hwm;
    } else {
        pending = &s->dom[idx].pending;
        hwm = &s->dom[idx].pending_hwm;
    }
    int64_t p = HS_LOAD(pending), hw = HS_LOAD(hwm);
    int64_t before = __atomic_fetch_add(&hs_live->flushed[idx], p, __ATOMIC_RELAXED);
    atomic_max64(&hs_live->peak[idx], before + hw);
    atomic_max64(&hs_live->window_peak[idx], before + hw);
    HS_STORE(hwm, 0);
    HS_STORE(pending, 0);
}

static bool over_threshold(int64_t p)
{
    return p >= HS_LIVE_FLUSH_BYTES || p <= -HS_LIVE_FLUSH_BYTES;
}

void hs_counter_flush_over(struct hs_live_slot *s, unsigned dom)
{
    if (over_threshold(HS_LOAD(&s->dom[dom].pending))) hs_counter_flush(s, dom);
    if (over_threshold(HS_LOAD(&s->total_pending))) hs_counter_flush(s, HS_LIVE_TOTAL);
}

void hs_slot_catch_up(struct hs_live_slot *s, unsigned dom)
{
    hs_counter_flush_over(s, dom);
    hs_live_publish(false);
}

/* Refresh the seqlock'd snapshot in the header and fire the USDT point the
 * eBPF probe listens on. Rate-limited: called from slow paths. */
static uint64_t last_ns;
static int busy;

void hs_live_fork_child(void)
{
    busy = 0;
    last_ns = 0;
}

/* force: whatever the rate limit; rss: also read /proc (costs syscalls) */
static void publish(bool force, bool rss)
{
    if (!hs_live) return;
    uint64_t now = hs_now_ns();
    if (!force && now - HS_LOAD(&last_ns) < (uint64_t)HS_LIVE_PUBLISH_MS * 1000000u) return;
    if (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE)) return;
    HS_STORE(&last_ns, now);

    struct hs_live_snapshot snap;
    const char *why;
    if (hs_live_sum(hs_live, hs_live_size, &snap, &why) == 0) {
        struct hs_live_header *h = hs_live;
        uint64_t seq = HS_LOAD(&h->seq);
        __atomic_store_n(&h->seq, seq + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        for (int d = 0; d < 4; d++) {
            struct hs_live_domain *o = &h->snap[d];
            HS_STORE(&o->live_bytes, snap.dom[d].live_bytes);
            HS_STORE(&o->live_blocks, snap.dom[d].live_blocks);
            HS_STORE(&o->peak_bytes, snap.dom[d].peak_bytes);
            HS_STORE(&o->allocs, snap.dom[d].allocs);
            HS_STORE(&o->reallocs, snap.dom[d].reallocs);
            HS_STORE(&o->frees, snap.dom[d].frees);
            HS_STORE(&o->failed, snap.dom[d].failed);
        }
        HS_STORE(&h->snap_arenas_mapped, snap.arenas_mapped);
        HS_STORE(&h->snap_bytes_mapped, snap.bytes_mapped);
        if (rss) HS_STORE(&h->rss_bytes, hs_proc_rss_bytes());
        HS_STORE(&h->published_unix_ns, hs_unix_ns());
        HS_BUMP(&h->publications, 1);
        __atomic_store_n(&h->seq, seq + 2, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
    HS_USDT2(publish, hs_live, hs_live_size);
}

/* reading /proc costs syscalls: only on the forced (exit) publication */
void hs_live_publish(bool force) { publish(force, force); }

int hs_publish(void)
{
    hs__init();
    if (!hs_live) return -1;
    publish(true, false);
    return 0;
}

/* ---- statistics API ------------------------------------------------------- */

static int sum_now(struct hs_live_snapshot *snap)
{
    hs__init();
    const char *why;
    return hs_live_sum(hs_live, hs_live_size, snap, &why);
}

static void to_stats(const struct hs_live_domain *d, hs_domain_stats_t *out)
{
    out->live_bytes = d->live_bytes;
    out->live_blocks = d->live_blocks;
    out->peak_bytes = d->peak_bytes;
    out->allocs = d->allocs;
    out->reallocs = d->reallocs;
    out->frees = d->frees;
    out->failed = d->failed;
}

int hs_domain_stats(hs_domain_t d, hs_domain_stats_t *out)
{
    if ((unsigned)d >= HS_NDOMAINS || !out) return -1;
    struct hs_live_snapshot snap;
    if (sum_now(&snap) != 0) return -1;
    to_stats(&snap.dom[d], out);
    return 0;
}

int hs_total_stats(hs_domain_stats_t *out)
{
    if (!out) return -1;
    struct hs_live_snapshot snap;
    if (sum_now(&snap) != 0) return -1;
    to_stats(&snap.dom[HS_LIVE_TOTAL], out);
    return 0;
}

int hs_arena_stats(hs_arena_stats_t *out)
{
    if (!out) return -1;
    struct hs_live_snapshot snap;
    if (sum_now(&snap) != 0) return -1;
    memset(out, 0, sizeof *out);
    out->arenas_mapped = snap.arenas_mapped;
    out->arenas_peak = snap.arenas_peak;
    out->bytes_mapped = snap.bytes_mapped;
    out->pools_used = snap.pools_used;
    out->pools_free = snap.pools_free;
    out->arena_size = HS_ARENA_SIZE;
    out->pool_size = HS_POOL_SIZE;
    out->arenas_allocated_total = HS_LOAD(&hs_live->arenas_allocated_total);
    out->arenas_freed_total = HS_LOAD(&hs_live->arenas_freed_total);
    for (unsigned c = 0; c < HS_NCLASSES; c++) {
        out->classes[c].size = (uint32_t)hs_class_size(c);
        out->classes[c].blocks_in_use = snap.class_blocks[c];
        out->classes[c].pools = snap.class_pools[c];
    }
    return 0;
}

const char *hs_domain_name(hs_domain_t d)
{
    static const char *const names[] = { "raw", "mem", "obj" };
    return (unsigned)d < HS_NDOMAINS ? names[d] : "?";
}

static void human(char *buf, size_t cap, uint64_t v)
{
    if (v >= 10ull << 30) snprintf(buf, cap, "%.1f GiB", (double)v / (1ull << 30));
    else if (v >= 10ull << 20) snprintf(buf, cap, "%.1f MiB", (double)v / (1ull << 20));
    else if (v >= 10ull << 10) snprintf(buf, cap, "%.1f KiB", (double)v / (1ull << 10));
    else snprintf(buf, cap, "%llu B", (unsigned long long)v);
}

void hs_print_stats(FILE *out)
{
    struct hs_live_snapshot snap;
    if (!out || sum_now(&snap) != 0) return;
    static const char *const rows[] = { "raw", "mem", "obj", "total" };
    fprintf(out, "heapshim: %-6s %12s %12s %12s %12s %10s %10s %7s\n", "domain",
            "live", "peak", "live blocks", "allocs", "reallocs", "frees", "failed");
    for (int d = 0; d < 4; d++) {
        const struct hs_live_domain *x = &snap.dom[d];
        char live[32], peak[32];
        human(live, sizeof live, x->live_bytes);
        human(peak, sizeof peak, x->peak_bytes);
        fprintf(out, "heapshim: %-6s %12s %12s %12llu %12llu %10llu %10llu %7llu\n", rows[d], live,
                peak, (unsigned long long)x->live_blocks, (unsigned long long)x->allocs,
                (unsigned long long)x->reallocs, (unsigned long long)x->frees,
                (unsigned long long)x->failed);
    }
    char mapped[32];
    human(mapped, sizeof mapped, snap.bytes_mapped);
    fprintf(out, "heapshim: arenas %llu mapped (%s, peak %llu), pools %llu used / %llu free, %u thread(s)\n",
            (unsigned long long)snap.arenas_mapped, mapped, (unsigned long long)snap.arenas_peak,
            (unsigned long long)snap.pools_used, (unsigned long long)snap.pools_free, snap.threads);
    fprintf(out, "heapshim: %-6s %12s %8s   (size classes in use)\n", "class", "blocks", "pools");
    for (unsigned c = 0; c < HS_NCLASSES; c++) {
        if (!snap.class_blocks[c] && !snap.class_pools[c]) continue;
        fprintf(out, "heapshim: %6zu %12llu %8llu\n", hs_class_size(c),
                (unsigned long long)snap.class_blocks[c], (unsigned long long)snap.class_pools[c]);
    }
}
