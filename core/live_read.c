/*
 * core/live_read.c - validate and sum a live counter region (readers' side).
 *
 * Room: pure functions over bytes. Used in-process by hs_domain_stats() and
 * by every external reader (heapshim top/export, the eBPF probe's loader,
 * fuzzers). Depends on nothing but include/heapshim/live.h: it must stay
 * linkable on its own and must never trust the region -- it may be a
 * truncated, foreign or hostile file, or be changing under our feet.
 */
#include "live_sum.h"
#include <heapshim/live.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>
#include <string.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

int hs_live_labels_at(uint32_t labels_offset, uint32_t labels_len, const void *area, size_t avail,
                      char *out, size_t cap)
{
    if (cap) out[0] = 0;
    if (labels_offset == 0) return -2;
    if (!cap || labels_len >= cap || labels_len >= HS_LIVE_LABELS_AREA || labels_len > avail ||
        labels_offset < sizeof(struct hs_live_header))
        return -1;                     /* HS_LIVE_LABELS_TOO_LONG too */
    memcpy(out, area, labels_len);
    out[labels_len] = 0;
    if (strlen(out) != labels_len) {   /* a NUL inside: not what the shim writes */
        out[0] = 0;
        return -1;
    }
    return labels_len ? 1 : 0;
}

int hs_live_base_read(const void *region, size_t len, struct hs_live_base *out)
{
    const struct hs_live_header *h = region;
    memset(out, 0, sizeof *out);
    if (!region || len < sizeof *h) return -1;
    if (h->base_offset == 0) return 0;
    uint64_t end = (uint64_t)h->base_offset + sizeof *out;
    if (h->base_offset < sizeof *h || h->base_offset % 8 || end > h->slots_offset || end > len) return -1;
    memcpy(out, (const char *)region + h->base_offset, sizeof *out);
    return 0;
}

int hs_live_labels(const void *region, size_t len, char *out, size_t cap)
{
    const struct hs_live_header *h = region;
    if (cap) out[0] = 0;
    if (!region || len < sizeof *h) return -1;
    if (h->labels_offset == 0) return -2;
    if (h->labels_offset < sizeof *h || h->labels_offset > h->slots_offset || h->labels_offset > len)
        return -1;
    size_t room = (size_t)(h->slots_offset < len ? h->slots_offset : len) - h->labels_offset;
    if (room > HS_LIVE_LABELS_AREA) room = HS_LIVE_LABELS_AREA;
    return hs_live_labels_at(h->labels_offset, h->labels_len, (const char *)region + h->labels_offset, room,
                             out, cap);
}

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
        *why = "unsupported live file version (this reader knows version 5)";
        return -1;
    }
    if (len < sizeof(*h)) {
        *why = "truncated: shorter than the version 5 header";
        return -1;
    }
    if (h->header_size != sizeof(*h) || h->slot_size != sizeof(struct hs_live_slot)) {
        *why = "corrupt header: header or slot size does not match version 5";
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

void hs_live_acc_add(struct hs_live_acc *a, const struct hs_live_counts *c, bool owned)
{
    if (owned) a->threads++;
    for (int i = 0; i < 4; i++) {
        if (c->release_at[i] >= 0) continue;          /* holds no grant */
        if (!a->open[i] || c->hwm[i] > a->open_hwm[i]) a->open_hwm[i] = c->hwm[i];
        a->open[i] = true;
    }
    for (int d = 0; d < HS_LIVE_NDOM; d++) {
        a->in[d] += c->dom[d].allocs;
        a->out[d] += c->dom[d].frees;
        a->in_bytes[d] += c->dom[d].alloc_bytes;
        a->out_bytes[d] += c->dom[d].free_bytes;
        a->moves[d] += c->dom[d].moves;
        a->reallocs[d] += c->dom[d].reallocs;
        a->failed[d] += c->dom[d].failed;
    }
    for (int sd = 0; sd < HS_LIVE_SMALLDOM; sd++) {
        for (int k = 0; k < HS_LIVE_NCLASSES; k++) {
            uint64_t in = c->small_allocs[sd][k], out = c->small_frees[sd][k];
            uint64_t sz = (uint64_t)(16 * (k + 1));
            a->in[sd + 1] += in;
            a->out[sd + 1] += out;
            a->in_bytes[sd + 1] += in * sz;
            a->out_bytes[sd + 1] += out * sz;
            a->class_in[k] += in;
            a->class_out[k] += out;
        }
    }
}

void hs_live_globals_read(const struct hs_live_header *h, struct hs_live_globals *g)
{
    for (int i = 0; i < 4; i++) {
        g->peak[i] = LOAD(&h->peak[i]);
        g->claimed[i] = LOAD(&h->claimed[i]);
    }
    g->arenas_mapped = LOAD(&h->arenas_mapped);
    g->arenas_peak = LOAD(&h->arenas_peak);
    g->bytes_mapped = LOAD(&h->bytes_mapped);
    g->pools_used = LOAD(&h->pools_used);
    g->pools_free = LOAD(&h->pools_free);
    for (int k = 0; k < HS_LIVE_NCLASSES; k++) g->class_pools[k] = LOAD(&h->class_pools[k]);
}

int64_t hs_live_peak_view(const struct hs_live_acc *a, const struct hs_live_globals *g, unsigned i)
{
    int64_t v = g->claimed[i];
    if (a->open[i]) {
        /* claimed + hwm, saturating (a hostile file may hold anything) */
        int64_t w;
        if (__builtin_add_overflow(v, a->open_hwm[i], &w)) w = a->open_hwm[i] > 0 ? INT64_MAX : 0;
        v = w;
    }
    return v > g->peak[i] ? v : g->peak[i];
}

void hs_live_acc_finish(const struct hs_live_acc *a, const struct hs_live_globals *g,
                        struct hs_live_snapshot *out)
{
    memset(out, 0, sizeof *out);
    out->threads = a->threads;
    struct hs_live_domain *t = &out->dom[HS_LIVE_TOTAL];
    for (int d = 0; d < HS_LIVE_NDOM; d++) {
        struct hs_live_domain *o = &out->dom[d];
        /* a moved block ended one block and began another: one realloc */
        uint64_t in = a->in[d] < a->out[d] ? a->out[d] : a->in[d];   /* only if corrupt */
        o->live_blocks = in - a->out[d];
        o->allocs = sat_sub(in, a->moves[d]);
        o->frees = sat_sub(a->out[d], a->moves[d]);
        o->reallocs = a->reallocs[d];
        o->failed = a->failed[d];
        o->live_bytes = sat_sub(a->in_bytes[d], a->out_bytes[d]);
        o->peak_bytes = max64(pos(hs_live_peak_view(a, g, (unsigned)d)), o->live_bytes);
        t->live_bytes = sat_add(t->live_bytes, o->live_bytes);
        t->live_blocks = sat_add(t->live_blocks, o->live_blocks);
        t->allocs = sat_add(t->allocs, o->allocs);
        t->reallocs = sat_add(t->reallocs, o->reallocs);
        t->frees = sat_add(t->frees, o->frees);
        t->failed = sat_add(t->failed, o->failed);
    }
    t->peak_bytes = max64(pos(hs_live_peak_view(a, g, HS_LIVE_TOTAL)), t->live_bytes);
    for (int k = 0; k < HS_LIVE_NCLASSES; k++) {
        out->class_blocks[k] = sat_sub(a->class_in[k], a->class_out[k]);
        out->class_pools[k] = g->class_pools[k];
    }
    out->arenas_mapped = g->arenas_mapped;
    out->arenas_peak = max64(g->arenas_peak, g->arenas_mapped);
    out->bytes_mapped = g->bytes_mapped;
    out->pools_used = g->pools_used;
    out->pools_free = g->pools_free;
}

void hs_live_mapped_load(struct hs_live_mapped *out, const struct hs_live_mapped *m)
{
    for (int i = 0; i < 4; i++) {
        out->live_bytes[i] = LOAD(&m->live_bytes[i]);
        out->peak_bytes[i] = LOAD(&m->peak_bytes[i]);
    }
    out->maps = LOAD(&m->maps);
    out->unmaps = LOAD(&m->unmaps);
    out->remaps = LOAD(&m->remaps);
    out->protects = LOAD(&m->protects);
    out->discards = LOAD(&m->discards);
    out->discard_bytes = LOAD(&m->discard_bytes);
    /* a hostile or torn file: a reader never shows live above peak */
    for (int i = 0; i < 4; i++) out->peak_bytes[i] = max64(out->peak_bytes[i], out->live_bytes[i]);
}

static void counts_load(struct hs_live_counts *c, const struct hs_live_slot *s)
{
    for (int i = 0; i < 4; i++) {
        c->hwm[i] = LOAD(&s->hwm[i]);
        c->release_at[i] = LOAD(&s->release_at[i]);
    }
    for (int d = 0; d < HS_LIVE_NDOM; d++) {
        c->dom[d].allocs = LOAD(&s->dom[d].allocs);
        c->dom[d].reallocs = LOAD(&s->dom[d].reallocs);
        c->dom[d].frees = LOAD(&s->dom[d].frees);
        c->dom[d].failed = LOAD(&s->dom[d].failed);
        c->dom[d].alloc_bytes = LOAD(&s->dom[d].alloc_bytes);
        c->dom[d].free_bytes = LOAD(&s->dom[d].free_bytes);
        c->dom[d].moves = LOAD(&s->dom[d].moves);
    }
    for (int sd = 0; sd < HS_LIVE_SMALLDOM; sd++)
        for (int k = 0; k < HS_LIVE_NCLASSES; k++) {
            c->small_allocs[sd][k] = LOAD(&s->small_allocs[sd][k]);
            c->small_frees[sd][k] = LOAD(&s->small_frees[sd][k]);
        }
}

/* A plain sum of the slots as they are read, one after the other: exact for
 * a region nobody writes (a copy, a process that is idle or gone); for a
 * region being written see hs_live_read_copies. */
int hs_live_sum(const void *region, size_t len, struct hs_live_snapshot *out,
                const char **why)
{
    if (hs_live_check_header(region, len, why) != 0) return -1;
    const struct hs_live_header *h = region;
    const struct hs_live_slot *slots =
        (const struct hs_live_slot *)((const char *)region + h->slots_offset);
    uint32_t n = LOAD(&h->slots_used);
    if (n > h->nslots) n = h->nslots;
    struct hs_live_acc acc;
    memset(&acc, 0, sizeof acc);
    for (uint32_t i = 0; i < n; i++) {
        struct hs_live_counts c;
        counts_load(&c, &slots[i]);
        hs_live_acc_add(&acc, &c, LOAD(&slots[i].owner) != 0);
    }
    struct hs_live_globals g;
    hs_live_globals_read(h, &g);
    hs_live_acc_finish(&acc, &g, out);
    hs_live_mapped_load(&out->mapped, &h->mapped);
    return 0;
}

int hs_live_read_copies(const void *a, const void *b, size_t len,
                        struct hs_live_snapshot *out, const char **how, const char **why)
{
    static const char *dummy;
    if (!how) how = &dummy;
    if (!why) why = &dummy;
    if (hs_live_sum(a, len, out, why) != 0) return -1;
    const struct hs_live_header *ha = a, *hb = b;
    /* what was checked: the slot table [slots_offset, +nslots*slot_size) fits len */
    uint32_t n = ha->slots_used < ha->nslots ? ha->slots_used : ha->nslots;
    size_t used = (size_t)ha->slots_offset + (size_t)n * sizeof(struct hs_live_slot);
    const struct hs_live_slot *sa = (const void *)((const char *)a + ha->slots_offset);
    bool quiet = ha->slots_used == hb->slots_used && memcmp(a, b, used) == 0;
    for (uint32_t i = 0; quiet && i < n; i++)
        if (sa[i].seq & 1) quiet = false;      /* an update under way in both copies */
    if (ha->mseq & 1) quiet = false;           /* a mapped update under way in both */
    if (quiet) {
        *how = "instant";
        return 0;
    }
    uint64_t s1 = ha->seq, s2 = hb->seq;
    if ((s1 & 1) || s1 != s2) {
        *why = "busy: a publication was under way while the file was read";
        return -1;
    }
    /* the per-class figures stay those of the plain sum of a */
    for (int d = 0; d < 4; d++) out->dom[d] = ha->snap[d];
    for (int d = 0; d < 4; d++)
        if (out->dom[d].peak_bytes < out->dom[d].live_bytes) out->dom[d].peak_bytes = out->dom[d].live_bytes;
    out->arenas_mapped = ha->snap_arenas_mapped;
    out->bytes_mapped = ha->snap_bytes_mapped;
    if (out->arenas_peak < out->arenas_mapped) out->arenas_peak = out->arenas_mapped;
    hs_live_mapped_load(&out->mapped, &ha->snap_mapped);
    *how = "published";
    return 0;
}

/* ---- reading another process's file (live.h, "Consistent reads") --------- */

static int pread_all(int fd, void *b, size_t n, size_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)b + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

/* the used part of a region whose header is at b (bounded by len) */
static size_t used_len(const void *b, size_t len)
{
    const struct hs_live_header *h = b;
    if (len < sizeof *h || h->slot_size != sizeof(struct hs_live_slot) || h->slots_offset > len)
        return len;
    uint64_t n = h->slots_used < h->nslots ? h->slots_used : h->nslots;
    uint64_t w = h->slots_offset + n * sizeof(struct hs_live_slot);
    return w < len ? (size_t)w : len;
}

/* a copy of the used part into b (the header first, to know how much) */
static int copy_used(int fd, void *b, size_t len, size_t *used)
{
    size_t hl = len < sizeof(struct hs_live_header) ? len : sizeof(struct hs_live_header);
    if (pread_all(fd, b, hl, 0) != 0) return -1;
    size_t u = used_len(b, len);
    if (pread_all(fd, b, u, 0) != 0) return -1;
    /* the slot table may have grown meanwhile: one more pass covers it */
    size_t u2 = used_len(b, len);
    if (u2 > u && pread_all(fd, b, u2, 0) != 0) return -1;
    *used = u2 > u ? u2 : u;
    return 0;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* any new value will do: the writers compare, never order */
static uint64_t request_value(void)
{
    uint64_t x = mono_ns() * 0x9e3779b97f4a7c15ull ^ ((uint64_t)getpid() << 32);
    return x ? x : 1;
}

/* The header's published snapshot as one consistent piece: the header read
 * again until its seq is even and the same before and after, or until the
 * clock passes deadline (one try at least): a seq that stays odd (a writer
 * stopped mid-publication, or a hostile file) costs a reader no more. */
static int read_publication(int fd, struct hs_live_header *h, uint64_t deadline)
{
    const size_t at = offsetof(struct hs_live_header, seq);
    for (;;) {
        /* seq, the header, seq again: each its own read. The seq inside the
         * one pread of the header does not order the snapshot's fields: a
         * string copy's loads may be performed out of order (x86's fast
         * strings), so it may be read after fields that a later publication
         * has already overwritten -- a torn snapshot with a newer
         * snap_cut_ns, which a reader takes as made after its request (seen
         * once in 26-counters torn-file: allocs and frees 3,330 operations
         * below the read before). */
        uint64_t s1, s2;
        if (pread_all(fd, &s1, sizeof s1, at) != 0 || pread_all(fd, h, sizeof *h, 0) != 0 ||
            pread_all(fd, &s2, sizeof s2, at) != 0)
            return -1;
        if (!(s1 & 1) && s1 == s2 && h->seq == s1) return 0;
        if (mono_ns() >= deadline) return -1;
        struct timespec ts = { 0, 200 * 1000 };
        nanosleep(&ts, NULL);
    }
}

static void take_publication(const struct hs_live_header *h, struct hs_live_snapshot *out)
{
    for (int d = 0; d < 4; d++) {
        out->dom[d] = h->snap[d];
        if (out->dom[d].peak_bytes < out->dom[d].live_bytes) out->dom[d].peak_bytes = out->dom[d].live_bytes;
    }
    out->arenas_mapped = h->snap_arenas_mapped;
    out->bytes_mapped = h->snap_bytes_mapped;
    if (out->arenas_peak < out->arenas_mapped) out->arenas_peak = out->arenas_mapped;
    hs_live_mapped_load(&out->mapped, &h->snap_mapped);
}

int hs_live_read_fd(int fd, void *buf, size_t len, unsigned wait_ms,
                    struct hs_live_snapshot *out, const char **how, const char **why)
{
    static const char *dummy;
    if (!how) how = &dummy;
    if (!why) why = &dummy;
    size_t used;
    if (copy_used(fd, buf, len, &used) != 0) {
        *why = "short read (the file shrank?)";
        return -1;
    }
    if (hs_live_sum(buf, len, out, why) != 0) return -1;   /* validates the header */
    const struct hs_live_header *ha = buf;
    /* the request: pub_req first, then the poke that makes writers look; a
     * publication whose cut began after t_req holds every operation that
     * ended before this read began */
    uint64_t t_req = mono_ns();
    uint64_t r = request_value();
    bool asked = pwrite(fd, &r, sizeof r, offsetof(struct hs_live_header, pub_req)) == (ssize_t)sizeof r;
    if (asked) {
        r = request_value() ^ 0x5555555555555555ull;
        asked = pwrite(fd, &r, sizeof r, offsetof(struct hs_live_header, poke)) == (ssize_t)sizeof r;
    }
    char *b = malloc(used ? used : 1);
    if (!b) {
        *why = "out of memory";
        return -1;
    }
    struct hs_live_header h;
    int rc = -1;
    /* waits are measured on the clock: wait_ms in all, whatever each try took */
    const uint64_t deadline = t_req + (uint64_t)wait_ms * 1000000u;
    for (;;) {
        /* a publication made after the request: the process is busy */
        if (asked && read_publication(fd, &h, mono_ns() + 1000000u) == 0 && h.snap_cut_ns > t_req) {
            take_publication(&h, out);
            *how = "published";
            rc = 0;
            break;
        }
        /* nothing moved since the first copy: that copy is an instant */
        size_t used2;
        if (copy_used(fd, b, used, &used2) != 0) {
            *why = "short read (the file shrank?)";
            break;
        }
        /* the request line (poke, pub_req: readers write it) is not compared */
        const size_t rq0 = offsetof(struct hs_live_header, _req_pad0),
                     rq1 = offsetof(struct hs_live_header, mseq);
        bool quiet = used2 == used && !(ha->seq & 1) && !(ha->mseq & 1) && used > rq1 && memcmp(buf, b, rq0) == 0 &&
                     memcmp((const char *)buf + rq1, b + rq1, used - rq1) == 0;
        const struct hs_live_slot *sa = (const void *)((const char *)buf + ha->slots_offset);
        uint32_t n = ha->slots_used < ha->nslots ? ha->slots_used : ha->nslots;
        for (uint32_t i = 0; quiet && i < n; i++)
            if (sa[i].seq & 1) quiet = false;
        if (quiet) {
            *how = "instant";
            rc = 0;
            break;
        }
        if (mono_ns() >= deadline) {
            if (asked) {
                /* busy, and no publication after the request came in time:
                 * the last one may be older than an earlier read */
                *why = "busy: no publication came in time (try again)";
                break;
            }
            /* no write access, no request: the last publication */
            if (read_publication(fd, &h, mono_ns() + 2000000u) != 0) {
                *why = "busy: a publication was under way while the file was read";
                break;
            }
            take_publication(&h, out);
            *how = "published (no request: may lag)";
            rc = 0;
            break;
        }
        /* the next copy starts from here */
        memcpy(buf, b, used);
        if (hs_live_sum(buf, len, out, why) != 0) break;
        struct timespec ts = { 0, 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    free(b);
    return rc;
}
