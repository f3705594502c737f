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
#include "count.h"
#include "live_sum.h"
#include "prim/proc.h"
#include "table.h"
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "usdt.h"           /* HS_USDT2: heapshim:init, heapshim:publish */

struct hs_live_header *hs_live;
/* A slot's counters as they were when its thread first saw a new epoch:
 * private to the process, one per slot (index as in the region). */
static struct hs_live_counts *frozen;
static hs_lock_t snap_lock = HS_LOCK_INIT;    /* one reader at a time; held across fork */
static int fork_hold;                         /* counting threads wait (fork under way) */
static HS_TLS int tls_forker;
HS_TLS unsigned hs_tls_tick;
size_t hs_live_size;

struct hs_live_slot *hs_live_slot_at(uint32_t i)
{
    return (struct hs_live_slot *)((char *)hs_live + hs_live->slots_offset) + i;
}

static uint64_t wstep_look(uint64_t now_ns);

/* The counters when not even the private region can be mapped (an address
 * space limit, ulimit -v, below what the program itself needs plus ours:
 * the shim aborted before main there). Two slots: the first thread counts
 * in slot 1, every other in slot 0 under its lock -- slow, but exact. */
static char fallback_region[HS_LIVE_REGION_SIZE(2)] __attribute__((aligned(4096))) HS_COLD_BSS;

/* HEAPSHIM_LABELS into the area after the header (live.h, labels_offset) */
static void set_labels(struct hs_live_header *h, const char *labels)
{
    h->labels_offset = (uint32_t)sizeof *h;
    size_t n = labels ? strlen(labels) : 0;
    if (n >= HS_LIVE_LABELS_AREA) {
        h->labels_len = HS_LIVE_LABELS_TOO_LONG;
        return;
    }
    if (n) memcpy((char *)h + h->labels_offset, labels, n);
    h->labels_len = (uint32_t)n;
}

HS_FORK_CODE void hs_live_fork_base(void)
{
    static struct hs_live_snapshot s HS_COLD_BSS;
    struct hs_live_header *h = hs_live;
    const char *why;
    if (hs_live_sum(h, hs_live_size, &s, &why) != 0) {
        h->base_offset = 0;
        return;
    }
    struct hs_live_base *b = (struct hs_live_base *)((char *)h + sizeof *h + HS_LIVE_LABELS_AREA);
    for (int d = 0; d < 4; d++) {
        b->allocs[d] = s.dom[d].allocs;
        b->reallocs[d] = s.dom[d].reallocs;
        b->frees[d] = s.dom[d].frees;
        b->failed[d] = s.dom[d].failed;
    }
    h->base_offset = (uint32_t)(sizeof *h + HS_LIVE_LABELS_AREA);
}

int hs_live_setup(void *region, size_t size, const char *allocator_name, const char *labels)
{
    if (!region || size < HS_LIVE_REGION_SIZE(2)) {
        size = HS_LIVE_REGION_SIZE(HS_LIVE_MAX_SLOTS);
        region = hs_os_map(size);
        if (!region) {
            region = fallback_region;
            size = sizeof fallback_region;
        }
    }
    struct hs_live_header *h = region;
    h->header_size = sizeof *h;
    h->slot_size = sizeof(struct hs_live_slot);
    h->slots_offset = sizeof *h + HS_LIVE_EXTRA_AREA;
    h->nslots = (uint32_t)((size - h->slots_offset) / sizeof(struct hs_live_slot));
    h->file_size = size;
    h->arena_size = HS_ARENA_SIZE;
    h->pool_size = HS_POOL_SIZE;
    strncpy(h->allocator, allocator_name ? allocator_name : "pymalloc", sizeof h->allocator - 1);
    hs_live_fill_identity(h);
    set_labels(h, labels);
    h->slots_used = 1;                     /* slot 0: the shared fallback */
    h->state = HS_LIVE_STATE_RUNNING;
    h->version = HS_LIVE_VERSION;
    __atomic_store_n(&h->magic, HS_LIVE_MAGIC, __ATOMIC_RELEASE);   /* last: readers key on it */
    hs_live = h;
    hs_live_size = size;
    wstep_look(hs_now_ns());
    frozen = hs_os_map(sizeof(struct hs_live_counts) * h->nslots);   /* touched as slots are used */
    HS_USDT2(init, hs_live, hs_live_size);
    return 0;
}

HS_INLINE void atomic_max64(int64_t *p, int64_t v)
{
    int64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v > cur &&
           !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* ---- claims: the peaks (live.h, "Peaks") ---------------------------------- */

/* Grants, per index: the sum of the grants the slots hold (granted[i]) is
 * kept within the budget max(64 KiB, peak[i] / 100) / 2, so that the slack
 * of claimed[] (at most twice the grants held) stays within the bound of
 * live.h ("Peaks") for any number of threads. A slot's first grant is
 * budget / 256 and each renewal (a claim, or a release of a holder) at most
 * doubles it, up to half of what the others leave: a single thread comes
 * to hold half the budget (16 KiB below 6.4 MiB of peak) within a few
 * claims, n threads that keep claiming settle at about budget / (n + 1)
 * each. A grant is at least one byte (a slot that took one holds one:
 * release_at < 0), so past the budget each slot adds a byte. Grants are
 * not taken back from a thread that waits: about 250 idle threads that
 * each allocated once hold the budget of a small heap (when first grants
 * were half of what was left, 10-20 did), and busy threads then claim at
 * every call (not solved: taking a grant back needs its holder's help).
 * A thread whose calls move its pending bytes by more than its grant claims
 * or releases at every call (about 150 instructions and two locked adds
 * each, the two indices inlined into hs_claim and hs_release; 250 before):
 * the old fixed share, budget / 32, did that to a thread whose blocks
 * are a few hundred bytes (larson from mimalloc-bench, 8-1000 B blocks in 2
 * threads: claims and releases 6.5% of its profile), a quarter to a thread
 * freeing and allocating blocks of 8-16 KiB (a ring of 12,000-byte blocks:
 * 1,160 instructions a malloc+free pair, 528 with half). */
static int64_t granted[4];

/* Slots holding a grant, per index: while there is one, the peak can be
 * folded exactly (live.h, "Peaks"); past HS_GRANT_SCALE_FROM of them the
 * budget grows with their number. */
static int64_t open_slots[4];

/* The budget for up to HS_GRANT_SCALE_FROM slots holding a grant. */
HS_INLINE int64_t grant_base(unsigned i)
{
    int64_t pk = HS_LOAD(&hs_live->peak[i]);
    return (pk / 100 > HS_LIVE_PEAK_SLACK ? pk / 100 : HS_LIVE_PEAK_SLACK) / 2;
}

/* Grants are not taken back from a thread that waits (that needs its
 * help), so with many holders the base budget would be held by idle
 * threads' first grants (budget / 256 each: 400 idle threads left a busy
 * one 1 byte, a claim and a release at every call, 0.72-0.78 s instead of
 * 0.06-0.10 beside 20). Past HS_GRANT_SCALE_FROM holders the budget is
 * base * holders / HS_GRANT_SCALE_FROM while first grants stay base / 256:
 * waiting threads hold at most a quarter of it, whatever their number. The
 * bound of live.h ("Peaks") is unchanged up to that many threads and grows
 * by holders / HS_GRANT_SCALE_FROM past it. */
#define HS_GRANT_SCALE_FROM 64
HS_INLINE int64_t grant_budget(unsigned i)
{
    int64_t b = grant_base(i), h = HS_LOAD(&open_slots[i]);
    return h > HS_GRANT_SCALE_FROM ? b / HS_GRANT_SCALE_FROM * h : b;
}

/* The grant the slot holds now (0: none) becomes its next one: returns it,
 * with granted[i] changed by the difference. A first grant is small
 * (budget / HS_GRANT_FIRST_DIV) and a grant at most doubles at each renewal:
 * a thread that allocated once and then waits (a pool's idle worker) keeps
 * what it took for as long as it waits, and when the first holders took
 * half of what was left each, 10-20 such threads held the whole budget and
 * the busy threads claimed and released at every call (4-10x slower in an
 * outside test: 20 idle threads, 8 busy). Busy threads renew often and
 * reach their share (half of what the others leave) within a few claims. */
#define HS_GRANT_FIRST_DIV 256
HS_INLINE int64_t grant_renew(unsigned i, int64_t held)
{
    int64_t budget = grant_budget(i);
    int64_t cur = __atomic_load_n(&granted[i], __ATOMIC_RELAXED), g;
    /* (budget >= 32 KiB: a first grant of at least 128 bytes) */
    int64_t most = held ? 2 * held : (int64_t)((uint64_t)grant_base(i) / HS_GRANT_FIRST_DIV);
    do {
        int64_t left = budget - (cur - held);
        g = left > 2 ? left / 2 : 1;     /* >= 1: a slot that took one holds one */
        if (g > most) g = most;
        /* the same grant again (a thread claiming alone, or at its share):
         * granted[i] does not change, so no locked write of a line that
         * every claiming thread writes */
        if (g == held) return g;
    } while (!__atomic_compare_exchange_n(&granted[i], &cur, cur - held + g, true,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return g;
}

/* the same out of line, for a release's renewal (rare once the grant is
 * grown: kept off the path of a thread that releases at every free) */
static HS_NOINLINE int64_t grant_renew_cold(unsigned i, int64_t held) { return grant_renew(i, held); }

/* a slot gives its grant up (settled) */
static void grant_drop(unsigned i, int64_t held)
{
    if (held) __atomic_sub_fetch(&granted[i], held, __ATOMIC_RELAXED);
}

HS_INLINE void fold_peak(unsigned i, int64_t v)
{
    atomic_max64(&hs_live->peak[i], v);
    atomic_max64(&hs_live->window_peak[i], v);
}

/* The window step's mark (live.h, "Window steps"): one atomic max of the
 * packed (step, value) opens the step and raises it.
 *
 * Which step: reading the clock at every claim and release cost ~5% of
 * the instructions of an allocation-heavy program (measured when grants
 * were 1 KiB below 6.4 MiB of peak; a lone thread's are 16 KiB now), so the step is the one of the process's latest clock
 * look (wstep_now: the ticks, every publication, and the claims below), and
 * a thread reads the clock itself at a claim once it has claimed
 * HS_LIVE_WSTEP_LOOK since its own last look. A fold can thus carry an
 * older step than its own, only while no thread of the process has looked
 * at the clock since that step, and each thread has claimed less than
 * HS_LIVE_WSTEP_LOOK meanwhile: a reader that counts from a later step
 * misses at most that much per thread of a rise (live.h "Window steps").
 * c caches the row and packed step of one operation (row NULL: not yet). */
static uint64_t wstep_now;              /* latest step number looked at */
static HS_TLS int64_t tls_wclaimed;     /* bytes this thread claimed since its last look */

struct wstep_ctx {
    uint64_t *row;
    uint64_t hi;
};

/* a clock look: the step now (raises wstep_now; the caller's own count restarts) */
static uint64_t wstep_look(uint64_t now_ns)
{
    uint64_t st = hs_live_step_at(now_ns), cur = HS_LOAD(&wstep_now);
    while (st > cur && !__atomic_compare_exchange_n(&wstep_now, &cur, st, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    tls_wclaimed = 0;
    return st > cur ? st : cur;
}

static inline void wstep_open(struct wstep_ctx *c, bool look)
{
    uint64_t st = look ? wstep_look(hs_now_ns()) : HS_LOAD(&wstep_now);
    c->row = hs_live->wsteps[st % HS_LIVE_WSTEPS];
    c->hi = (st & ((1ull << HS_LIVE_WSTEP_BITS) - 1)) << (64 - HS_LIVE_WSTEP_BITS);   /* hs_live_wpack(st, 0) */
}

HS_INLINE void fold_step(unsigned i, int64_t v, struct wstep_ctx *c)
{
    if (!c->row) wstep_open(c, false);
    /* hs_live_wpack's value part, inline: 64-byte units rounded up */
    uint64_t u = ((uint64_t)(v > 0 ? v : 0) + ((1u << HS_LIVE_WUNIT_SHIFT) - 1)) >> HS_LIVE_WUNIT_SHIFT;
    if (HS_UNLIKELY(u >> (64 - HS_LIVE_WSTEP_BITS))) u = (1ull << (64 - HS_LIVE_WSTEP_BITS)) - 1;
    uint64_t m = c->hi | u, cur = __atomic_load_n(&c->row[i], __ATOMIC_RELAXED);
    while (m > cur && !__atomic_compare_exchange_n(&c->row[i], &cur, m, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

HS_INLINE void claim_one(struct hs_live_slot *s, unsigned i, struct wstep_ctx *st)
{
    int64_t p = HS_LOAD(&s->pending[i]);
    if (p <= 0) return;
    int64_t held = -HS_LOAD(&s->release_at[i]) / 2;
    int64_t g = s == hs_slot0 ? 0 : grant_renew(i, held);
    if (g && !held) __atomic_add_fetch(&open_slots[i], 1, __ATOMIC_RELAXED);
    int64_t before = __atomic_fetch_add(&hs_live->claimed[i], p + g, __ATOMIC_RELAXED);
    fold_peak(i, before + p);        /* every other pending is <= 0 */
    if (i == HS_LIVE_TOTAL && !st->row && (tls_wclaimed += p + g) >= HS_LIVE_WSTEP_LOOK) wstep_open(st, true);
    fold_step(i, before + p + g, st);   /* >= live until the next claim or release */
    HS_STORE(&s->pending[i], -g);
    HS_STORE(&s->hwm[i], -g);
    HS_STORE(&s->release_at[i], -2 * g);
}

/* The peak of the window that a release (or settle) closes. */
HS_INLINE void fold_closing(struct hs_live_slot *s, unsigned i, int64_t before, struct wstep_ctx *st)
{
    bool alone = HS_LOAD(&s->release_at[i]) < 0 && HS_LOAD(&open_slots[i]) == 1;
    int64_t v = alone ? before + HS_LOAD(&s->hwm[i]) : before;
    fold_peak(i, v);
    fold_step(i, v, st);
}

HS_INLINE void release_one(struct hs_live_slot *s, unsigned i, struct wstep_ctx *st)
{
    int64_t p = HS_LOAD(&s->pending[i]), at = HS_LOAD(&s->release_at[i]);
    if (p >= at) return;
    int64_t g = -at / 2;
    /* A slot without a grant (a thread that only frees: a consumer) takes
     * one here, as a claim would, so that its next release is due after
     * another grant's worth of frees instead of at every free; one that
     * holds a grant renews it, as a claim does (a first grant is small and
     * grows by renewals: grant_renew). The state is the one a claim leaves
     * (pending -g, release at -2g), so the bound of live.h ("Peaks") holds
     * as for any grant holder. */
    bool take = at == 0 && s != hs_slot0 && (g = grant_renew(i, 0)) != 0;
    if (take) __atomic_add_fetch(&open_slots[i], 1, __ATOMIC_RELAXED);
    /* (renewed while it is below the smallest budget's half: a grant that
     * big needs no more growing by frees, and renewing at every release
     * of a thread whose blocks are above its grant cost 30 instructions a
     * pair: tests/54-claim-cost.sh) */
    else if (HS_UNLIKELY(at < 0 && g < HS_LIVE_PEAK_SLACK / 4)) g = grant_renew_cold(i, g);
    int64_t before = __atomic_fetch_sub(&hs_live->claimed[i], -p - g, __ATOMIC_RELAXED);
    fold_closing(s, i, before, st);  /* as a slot without a grant: not "alone" */
    if (g) HS_STORE(&s->release_at[i], -2 * g);
    HS_STORE(&s->pending[i], -g);
    HS_STORE(&s->hwm[i], -g);
}

int hs_live_pending;

void hs_claim(struct hs_live_slot *s, unsigned dom)
{
    struct wstep_ctx st = { NULL, 0 };
    claim_one(s, HS_LIVE_TOTAL, &st);   /* first: it decides the clock look */
    claim_one(s, dom, &st);
    if (HS_UNLIKELY(HS_LOAD(&hs_live_pending)) && hs__platform_pending)
        hs__platform_pending(HS_LOAD(&hs_live->claimed[HS_LIVE_TOTAL]) >= HS_LIVE_CHILD_BYTES);
}

void hs_release(struct hs_live_slot *s, unsigned dom)
{
    struct wstep_ctx st = { NULL, 0 };
    release_one(s, dom, &st);
    release_one(s, HS_LIVE_TOTAL, &st);
}

void *hs_claim_then(struct hs_live_slot *s, unsigned dom, void *p)
{
    hs_claim(s, dom);
    return p;
}

void hs_release_then(struct hs_live_slot *s, unsigned dom)
{
    hs_release(s, dom);
}

/* A slot whose thread is gone keeps no claim: claimed[] drops to exactly
 * what the slot counted. (Its owner, or the fork child, calls this.) */
void hs_slot_settle(struct hs_live_slot *s)
{
    struct wstep_ctx st = { NULL, 0 };
    for (unsigned i = 0; i < 4; i++) {
        int64_t p = HS_LOAD(&s->pending[i]);
        int64_t before = __atomic_fetch_add(&hs_live->claimed[i], p, __ATOMIC_RELAXED);
        fold_closing(s, i, before, &st);
        if (HS_LOAD(&s->release_at[i]) < 0) {
            __atomic_sub_fetch(&open_slots[i], 1, __ATOMIC_RELAXED);
            grant_drop(i, -HS_LOAD(&s->release_at[i]) / 2);
        }
        HS_STORE(&s->pending[i], 0);
        HS_STORE(&s->hwm[i], 0);
        HS_STORE(&s->release_at[i], 0);
    }
}

/* ---- consistent in-process reads (live.h, "Consistent reads") ------------- */

/* The epoch, alone on its cache line: every counting operation reads it. */
struct hs_epoch_line hs_epoch_line;

static uint32_t slot_index(const struct hs_live_slot *s)
{
    return (uint32_t)(s - hs_live_slot_at(0));
}

/* The owner (or slot 0's lock holder) reads its own slot: no races. */
static void counts_copy(struct hs_live_counts *c, const struct hs_live_slot *s)
{
    memcpy(c->hwm, s->hwm, sizeof c->hwm);
    memcpy(c->release_at, s->release_at, sizeof c->release_at);
    memcpy(c->dom, s->dom, sizeof c->dom);
    memcpy(c->small_allocs, s->small_allocs, sizeof c->small_allocs);
    memcpy(c->small_frees, s->small_frees, sizeof c->small_frees);
}

/* Another thread's slot, as it is: relaxed loads field by field. */
static void counts_load(struct hs_live_counts *c, const struct hs_live_slot *s)
{
    for (int i = 0; i < 4; i++) {
        c->hwm[i] = HS_LOAD(&s->hwm[i]);
        c->release_at[i] = HS_LOAD(&s->release_at[i]);
    }
    const uint64_t *src = &s->dom[0].allocs;
    uint64_t *dst = &c->dom[0].allocs;
    for (size_t i = 0; i < sizeof c->dom / 8; i++) dst[i] = HS_LOAD(&src[i]);
    src = &s->small_allocs[0][0];
    dst = &c->small_allocs[0][0];
    for (size_t i = 0; i < sizeof c->small_allocs / 8; i++) dst[i] = HS_LOAD(&src[i]);
    src = &s->small_frees[0][0];
    dst = &c->small_frees[0][0];
    for (size_t i = 0; i < sizeof c->small_frees / 8; i++) dst[i] = HS_LOAD(&src[i]);
}

static void pause_a_little(unsigned spins)
{
    if (spins < 64) __builtin_ia32_pause();
    else sched_yield();
}

/* The out-of-line part of hs_slot_enter: a new epoch (freeze the slot, and
 * wait while a fork is under way), and the clock look every
 * HS_LIVE_TICK_OPS operations. Runs before the operation's first store. */
static bool publish_requested(void);

/*
 * A child made by clone() without CLONE_VM and without glibc's fork handlers
 * (syscall(SYS_clone), clone3, glibc's clone() wrapper, _Fork: container
 * runtimes, sandboxes) has the parent's live file mapped, shared, and its
 * counting went into the parent's slots: 10,000 allocations of such a child
 * showed in the parent's counters and exit report (outside test, stop 31).
 * The platform's fork handling (hs__platform_fork(2): the region becomes a
 * private copy, a file of the child's own once it lives on) is run at the
 * child's first clock look instead: what the child counted before it went
 * to the parent (at most a tick's worth of operations or a sampling window
 * of bytes). Whether this is such a child is known without a system call
 * once the fork word is armed (prim/sys.c hs_os_fork_word): the kernel
 * zeroes it in the child. A child that shares the parent's memory (vfork,
 * posix_spawn) is left alone: its mappings are the parent's. Not for the
 * core alone (its region is anonymous memory, the child's own after a
 * clone).
 */
#define CLONE_ARM_LOOKS 8
static void clone_check(void)
{
    if (!hs__platform_fork || HS_LIKELY(hs_os_fork_word())) return;   /* no child since it was armed */
    if (hs_os_other_process(HS_LOAD(&hs_live->pid)) == 1) hs__platform_fork(2);
    /* Armed once a process has made CLONE_ARM_LOOKS looks: one that lives
     * shorter does not pay the page (its first write is a page fault, tens
     * of us here); a child re-arms it at its first look. */
    static unsigned looks;
    if (HS_LOAD(&looks) >= CLONE_ARM_LOOKS) hs_os_fork_word_arm();
    else HS_STORE(&looks, HS_LOAD(&looks) + 1);
}

void hs_slot_enter_slow(struct hs_live_slot *s)
{
    bool tick = HS_LOAD(&s->tick) <= 0;
    if (tick) clone_check();         /* first: nothing stored yet */
    if (tick) HS_STORE(&s->tick, HS_LIVE_TICK_OPS);
    uint64_t k = __atomic_load_n(&hs_live->poke, __ATOMIC_ACQUIRE);
    uint64_t e = __atomic_load_n(&hs_snap_epoch, __ATOMIC_ACQUIRE);   /* after the poke */
    if (e != HS_LOAD(&s->epoch)) {
        if (frozen) counts_copy(&frozen[slot_index(s)], s);
        __atomic_store_n(&s->epoch, e, __ATOMIC_RELEASE);
        /* A fork is under way: hold still until it is done, so that the
         * child's copy is the state at the fork. Slot 0 is held by the
         * fork's own lock; 200 ms at most, in case this thread holds
         * something the forking thread waits for. */
        if (__atomic_load_n(&fork_hold, __ATOMIC_ACQUIRE) && !tls_forker && s != hs_slot0) {
            uint64_t t0 = hs_now_ns();
            for (unsigned spins = 0; __atomic_load_n(&fork_hold, __ATOMIC_ACQUIRE); spins++) {
                pause_a_little(spins);
                if ((spins & 63) == 63 && hs_now_ns() - t0 > 200000000ull) break;
            }
        }
    }
    /* A reader in another process asked for a publication: made before
     * this operation changes anything. If it cannot be made now (the lock
     * is busy), seen_poke stays behind and the next operation tries again. */
    if (publish_requested()) return;
    HS_STORE(&s->seen_poke, k);
    if (tick) {
        if (HS_UNLIKELY(HS_LOAD(&hs_live_pending)) && hs__platform_pending) hs__platform_pending(false);
        hs_live_publish(false);
        hs_arena_tick();
    }
}

/* Read every used slot at the cut of epoch e (snap_lock held). */
/* A new epoch, seen by every counting operation from now on (through the
 * poke, which they read; the epoch is stored first). */
static uint64_t new_epoch(void)
{
    uint64_t e = HS_LOAD(&hs_snap_epoch) + 1;
    __atomic_store_n(&hs_snap_epoch, e, __ATOMIC_RELAXED);
    __atomic_fetch_add(&hs_live->poke, 1, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);    /* before any slot read */
    return e;
}

/* when the last consistent_sum's cut began (CLOCK_MONOTONIC; snap_lock) */
static uint64_t last_cut_ns;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hs_live_mapped_now(struct hs_live_mapped *out)
{
    struct hs_live_header *h = hs_live;
    memset(out, 0, sizeof *out);
    if (!h) return;
    for (unsigned spins = 0;; spins++) {
        uint64_t s = __atomic_load_n(&h->mseq, __ATOMIC_ACQUIRE);
        if (!(s & 1)) {
            hs_live_mapped_load(out, &h->mapped);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (HS_LOAD(&h->mseq) == s) return;
        }
        pause_a_little(spins);
    }
}

/* false: a slot is in the middle of an update by the calling thread itself
 * (a signal handler interrupted it: the fork child of a handler that forked
 * exits, and its exit publishes), which would never end while we wait */
/* The sum's working memory: static, under snap_lock (every caller holds
 * it), not on the stack. A publication runs inside whatever allocation
 * reached the clock look, on the program's stack: with these (about 5 KiB)
 * on it, a malloc needed 6.6 KiB of stack where glibc's needs under 4, and
 * coroutines on 4-6 KiB stacks overflowed them under the shim (outside
 * test, stop 31; tests/26-counters.sh small-stack-malloc). */
static struct {
    struct hs_live_acc acc;
    struct hs_live_counts c;
    struct hs_live_globals g;
    struct hs_live_snapshot snap;     /* publish_locked's */
} sum_scratch __attribute__((aligned(4096))) HS_COLD_BSS;

static bool consistent_sum(struct hs_live_snapshot *out)
{
    struct hs_live_header *h = hs_live;
    const struct hs_live_slot *own = hs_tls_heap ? hs_tls_heap->slot : NULL;
    last_cut_ns = mono_ns();
    uint64_t e = new_epoch();
    uint32_t n = __atomic_load_n(&h->slots_used, __ATOMIC_ACQUIRE);
    if (n > h->nslots) n = h->nslots;
    struct hs_live_acc *acc = &sum_scratch.acc;
    struct hs_live_counts *c = &sum_scratch.c;
    memset(acc, 0, sizeof *acc);
    for (uint32_t i = 0; i < n; i++) {
        const struct hs_live_slot *s = hs_live_slot_at(i);
        for (unsigned spins = 0;; spins++) {
            uint64_t ep = __atomic_load_n(&s->epoch, __ATOMIC_ACQUIRE);
            if (ep == e && frozen) {
                *c = frozen[i];          /* frozen before ep was stored */
                break;
            }
            uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
            if (q & 1) {
                if (s == own || (s == hs_slot0 && hs_lock_mine(&hs_slot0_lock))) return false;
                pause_a_little(spins);
                continue;
            }
            counts_load(c, s);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (HS_LOAD(&s->seq) == q && HS_LOAD(&s->epoch) == ep) break;
            pause_a_little(spins);
        }
        hs_live_acc_add(acc, c, HS_LOAD(&s->owner) != 0);
    }
    struct hs_live_globals *g = &sum_scratch.g;
    hs_live_globals_read(h, g);
    hs_live_acc_finish(acc, g, out);
    /* the mapped figures as of a moment within the cut (live.h, "Mapped memory") */
    hs_live_mapped_now(&out->mapped);
    /* What this read reports becomes the least any later read reports:
     * peaks never come down (live.h, "Peaks"); a cut can also show a little
     * more live than claimed[] held at any one instant (threads that never
     * synchronised), and then the peak is raised to it. */
    struct wstep_ctx st = { NULL, 0 };
    wstep_open(&st, true);
    for (int i = 0; i < 4; i++) {
        fold_peak((unsigned)i, (int64_t)out->dom[i].peak_bytes);
        fold_step((unsigned)i, (int64_t)out->dom[i].live_bytes, &st);   /* not the all-time peak */
    }
    return true;
}

/* ---- fork (live.h, "Fork") --------------------------------------------------- */

static void *fork_copy;
static size_t fork_copy_len, fork_copy_map;

static bool snap_taken;               /* by the fork handlers */

void hs_live_fork_prepare(void)
{
    snap_taken = hs_lock_for_fork(&snap_lock);
    if (hs_fork_alone) return;       /* no other thread to hold (internal.h) */
    tls_forker = 1;
    __atomic_store_n(&fork_hold, 1, __ATOMIC_RELAXED);
    new_epoch();
}

/* Last of the prepare steps: the region as it is now, privately. */
void hs_live_fork_snapshot(void)
{
    uint32_t n = HS_LOAD(&hs_live->slots_used);
    size_t used = hs_live->slots_offset + (size_t)n * sizeof(struct hs_live_slot);
    size_t page = 4096, map = (used + page - 1) & ~(page - 1);
    fork_copy = hs_os_map(map);
    if (fork_copy) {
        memcpy(fork_copy, hs_live, used);
        fork_copy_len = used;
        fork_copy_map = map;
    }
}

HS_FORK_CODE static void fork_done(void)
{
    if (fork_copy) hs_os_unmap(fork_copy, fork_copy_map);
    fork_copy = NULL;
    fork_copy_len = fork_copy_map = 0;
    if (hs_fork_alone) return;       /* nothing was held (hs_live_fork_prepare) */
    tls_forker = 0;
    __atomic_store_n(&fork_hold, 0, __ATOMIC_RELEASE);
}

void hs_live_fork_parent(void)
{
    fork_done();
    if (snap_taken) hs_unlock(&snap_lock);
}

const void *hs_live_fork_copy(size_t *len)
{
    *len = fork_copy_len;
    return fork_copy;
}

bool hs_live_fork_take_copy(void *region, size_t size)
{
    if (!fork_copy || size < fork_copy_map ||
        hs_os_mremap(fork_copy, fork_copy_map, size, MREMAP_MAYMOVE | MREMAP_FIXED, region) == MAP_FAILED)
        return false;
    fork_copy = NULL;            /* it is the region now: not unmapped by fork_done */
    fork_copy_len = fork_copy_map = 0;
    return true;
}

/* ---- the published snapshot ------------------------------------------------ */

#if HS_HAVE_SDT
/* the USDT points' semaphores (core/usdt.h); zero unless a tracer is attached */
__extension__ unsigned short heapshim_init_semaphore __attribute__((section(".probes"), used));
__extension__ unsigned short heapshim_publish_semaphore __attribute__((section(".probes"), used));
#endif

/* Refresh the seqlock'd snapshot in the header and fire the USDT point the
 * eBPF probe listens on. Rate-limited unless forced. */
static uint64_t last_ns;

HS_FORK_CODE void hs_live_fork_child(void)
{
    fork_done();
    hs_lock_reset(&snap_lock);
    last_ns = 0;
}

/* force: whatever the rate limit */
static void publish_locked(uint64_t now);

static void publish(bool force)
{
    if (!hs_live) return;
    uint64_t now = hs_now_ns();
    wstep_look(now);                 /* every tick's clock look moves the window step */
    if (!force && now - HS_LOAD(&last_ns) < (uint64_t)HS_LIVE_PUBLISH_MS * 1000000u) return;
    if (force) {
        if (hs_lock_mine(&snap_lock)) return;   /* a handler that interrupted our own publication */
        hs_lock(&snap_lock);
    } else if (!hs_trylock(&snap_lock)) return;
    publish_locked(now);
}

static void write_snapshot(const struct hs_live_snapshot *snap);

/* snap_lock held; released here */
static void publish_locked(uint64_t now)
{
    HS_STORE(&last_ns, now);
    if (consistent_sum(&sum_scratch.snap)) write_snapshot(&sum_scratch.snap);
    hs_unlock(&snap_lock);
    HS_USDT2(publish, hs_live, hs_live_size);
}

/* the seqlock'd snapshot in the header (snap_lock held) */
static void write_snapshot(const struct hs_live_snapshot *s)
{
    const struct hs_live_snapshot *snap = s;
    struct hs_live_header *h = hs_live;
    uint64_t seq = HS_LOAD(&h->seq);
    __atomic_store_n(&h->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    for (int d = 0; d < 4; d++) {
        struct hs_live_domain *o = &h->snap[d];
        HS_STORE(&o->live_bytes, snap->dom[d].live_bytes);
        HS_STORE(&o->live_blocks, snap->dom[d].live_blocks);
        HS_STORE(&o->peak_bytes, snap->dom[d].peak_bytes);
        HS_STORE(&o->allocs, snap->dom[d].allocs);
        HS_STORE(&o->reallocs, snap->dom[d].reallocs);
        HS_STORE(&o->frees, snap->dom[d].frees);
        HS_STORE(&o->failed, snap->dom[d].failed);
    }
    HS_STORE(&h->snap_arenas_mapped, snap->arenas_mapped);
    HS_STORE(&h->snap_bytes_mapped, snap->bytes_mapped);
    {
        uint64_t *dst = (uint64_t *)&h->snap_mapped;
        const uint64_t *src = (const uint64_t *)&snap->mapped;
        for (size_t k = 0; k < sizeof snap->mapped / sizeof(uint64_t); k++) HS_STORE(&dst[k], src[k]);
    }
    HS_STORE(&h->published_unix_ns, hs_unix_ns());
    HS_BUMP(&h->publications, 1);
    HS_STORE(&h->snap_cut_ns, last_cut_ns);
    __atomic_store_n(&h->seq, seq + 2, __ATOMIC_RELEASE);
}

/* A tracer is attached to heapshim:publish (its semaphore, core/usdt.h):
 * the publication before an exec is made only then (interpose/exec.c). */
bool hs_live_traced(void) { return HS_USDT_ATTACHED(publish); }

/* The header's rss_bytes is not written: every reader takes a process's
 * RSS from /proc or the kernel when it reads it (tools/live.c, the probe),
 * and the exit publication's read of /proc/self/statm (a first /proc read
 * costs a new process 11-14 us) filled a header removed a moment later. */
void hs_live_publish(bool force) { publish(force); }

/* pub_req as last served (any new value in the header is a request) */
static uint64_t pub_req_done;

/* true when a request is pending and could not be served now */
static bool publish_requested(void)
{
    uint64_t r = __atomic_load_n(&hs_live->pub_req, __ATOMIC_ACQUIRE);
    if (r == HS_LOAD(&pub_req_done)) return false;
    if (!hs_trylock(&snap_lock)) return true;
    HS_STORE(&pub_req_done, r);
    publish_locked(hs_now_ns());
    return false;
}

/* After a mapped update (interpose/mapped.c): serve a reader's request, or
 * publish if the last publication is older than HS_LIVE_PUBLISH_MS, so that
 * a process that maps and unmaps without allocating can still be read. */
void hs_live_mapped_changed(void)
{
    if (!hs_live) return;
    if (!publish_requested()) publish(false);
}

int hs_publish(void)
{
    hs__init();
    if (!hs_live) return -1;
    publish(true);
    return 0;
}

/* ---- statistics API ------------------------------------------------------- */

/* The statistics API reads at an epoch cut, like the publication. */
static int sum_now(struct hs_live_snapshot *snap)
{
    hs__init();
    if (!hs_live) return -1;
    hs_lock(&snap_lock);
    /* a reader in another process waits for a publication whose cut began
     * after its request: this read is one (the request seen before the cut;
     * the writers may find the lock busy with readers like this one) */
    uint64_t r = __atomic_load_n(&hs_live->pub_req, __ATOMIC_ACQUIRE);
    if (!consistent_sum(snap)) {
        hs_unlock(&snap_lock);
        return -1;
    }
    if (r != HS_LOAD(&pub_req_done)) {
        HS_STORE(&pub_req_done, r);
        write_snapshot(snap);
    }
    hs_unlock(&snap_lock);
    return 0;
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

int hs_all_stats(hs_domain_stats_t out[HS_NDOMAINS + 1])
{
    if (!out) return -1;
    struct hs_live_snapshot snap;
    if (sum_now(&snap) != 0) return -1;
    _Static_assert(HS_NDOMAINS == HS_LIVE_NDOM && HS_LIVE_TOTAL == HS_NDOMAINS, "rows: the domains, then the total");
    for (int i = 0; i <= HS_NDOMAINS; i++) to_stats(&snap.dom[i], &out[i]);
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

int hs_mapped_stats(hs_mapped_stats_t *out)
{
    if (!out) return -1;
    struct hs_live_snapshot snap;
    if (sum_now(&snap) != 0) return -1;
    _Static_assert(sizeof *out == sizeof snap.mapped, "hs_mapped_stats_t is hs_live_mapped");
    memcpy(out, &snap.mapped, sizeof *out);
    return 0;
}

const char *hs_domain_name(hs_domain_t d)
{
    static const char *const names[] = { "raw", "mem", "obj" };
    return (unsigned)d < HS_NDOMAINS ? names[d] : "?";
}

void hs_print_stats(FILE *out)
{
    struct hs_live_snapshot snap;
    if (!out || sum_now(&snap) != 0) return;
    static const char *const rows[] = { "raw", "mem", "obj", "total" };
    char line[HS_TABLE_LINE];
    hs_table_heading(line, sizeof line, "heapshim: ");
    fputs(line, out);
    for (int d = 0; d < 4; d++) {
        const struct hs_live_domain *x = &snap.dom[d];
        hs_table_row(line, sizeof line, "heapshim: ", rows[d], x->live_bytes, x->peak_bytes,
                     x->live_blocks, x->allocs, x->reallocs, x->frees, x->failed);
        fputs(line, out);
    }
    char mapped[32];
    hs_table_bytes(mapped, sizeof mapped, snap.bytes_mapped);
    fprintf(out, "heapshim: arenas %llu mapped (%s, peak %llu), pools %llu used / %llu free, %u thread(s)\n",
            (unsigned long long)snap.arenas_mapped, mapped, (unsigned long long)snap.arenas_peak,
            (unsigned long long)snap.pools_used, (unsigned long long)snap.pools_free, snap.threads);
    char mlive[32], mpeak[32];
    hs_table_bytes(mlive, sizeof mlive, snap.mapped.live_bytes[HS_LIVE_TOTAL]);
    hs_table_bytes(mpeak, sizeof mpeak, snap.mapped.peak_bytes[HS_LIVE_TOTAL]);
    fprintf(out, "heapshim: mapped %s (peak %s), %llu maps, %llu unmaps\n", mlive, mpeak,
            (unsigned long long)snap.mapped.maps, (unsigned long long)snap.mapped.unmaps);
    fprintf(out, "heapshim: %-6s %12s %8s   (size classes in use)\n", "class", "blocks", "pools");
    for (unsigned c = 0; c < HS_NCLASSES; c++) {
        if (!snap.class_blocks[c] && !snap.class_pools[c]) continue;
        fprintf(out, "heapshim: %6zu %12llu %8llu\n", hs_class_size(c),
                (unsigned long long)snap.class_blocks[c], (unsigned long long)snap.class_pools[c]);
    }
}
