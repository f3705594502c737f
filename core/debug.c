/*
 * core/debug.c - the debug hooks, like CPython's PyMem_SetupDebugHooks.
 *
 * Room: a wrapper allocator per domain, installed through the public hook
 * API only (hs_get_allocator / hs_set_allocator), so it sits on top of
 * whatever was there before -- the defaults or a user's hook. It touches
 * only the blocks that pass through it. Layout of a block: see debug.h.
 * Of the core it knows one thing: how a block under it was counted, so that
 * the counters show the bytes the program may use (see "Counting" below).
 *
 * Every detection prints one diagnostic with write(2) from a stack buffer
 * and aborts: by then the heap may be corrupt, so nothing here allocates.
 * The hooks share no mutable state besides the saved allocators, which are
 * written once, before the hooks are published.
 */
#include "debug.h"
#include "internal.h"
#include <heapshim.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HDR        16u        /* header: keeps the user pointer 16-aligned */
#define OFF_TAG    8u         /* domain tag: 'r', 'm', 'o' */
#define OFF_STATE  9u         /* ST_LIVE, or ST_FREED once freed */
#define OFF_LEAD   10u        /* leading guard bytes up to p-1 */
#define NLEAD      (HDR - OFF_LEAD)
#define NTAIL      8u         /* tail guard bytes after the data */
#define EXTRA      (HDR + NTAIL)
#define ST_LIVE    0x4cu      /* 'L': readable in a hex dump */
#define ST_FREED   0x46u      /* 'F' */
/* realloc erases (and restores) this many leading data bytes, so a block
 * the underlying realloc moves away from is left looking freed */
#define ERASE      64u

typedef unsigned char byte;

static const char dom_tag[HS_NDOMAINS] = { 'r', 'm', 'o' };
static const char *const dom_desc[HS_NDOMAINS] = {
    "hs_raw (raw domain)", "hs_mem (mem domain)", "hs_obj (obj domain)",
};

/* One per domain: the ctx of the wrapper. */
struct dbg_dom {
    hs_allocator_t under;     /* the allocator found at installation */
    int dom;
    bool peek;                /* may read the large header before a block of under */
    bool raw_bare;            /* under is the default RAW allocator: bare glibc blocks */
    uint8_t under_kind;       /* enum under_kind: what overhead_bound() may assume */
};

enum under_kind {
    UNDER_OTHER,              /* a user's allocator: no bound known */
    UNDER_PYMALLOC,           /* the MEM/OBJ default: pool blocks up to 512 bytes */
    UNDER_LARGE,              /* the shim's: glibc behind our 16-byte header */
    UNDER_BARE,               /* the RAW default: bare glibc blocks */
};
static size_t glibc_slack;    /* glibc's usable size beyond a request, at most */
static struct dbg_dom dbg[HS_NDOMAINS];
static int setup_claimed;     /* first caller of hs_setup_debug_hooks wins */
static int hooks_on;          /* published after all three are installed */

static int tag_domain(byte t)
{
    for (int d = 0; d < HS_NDOMAINS; d++)
        if (t == (byte)dom_tag[d]) return d;
    return -1;
}

static size_t hdr_size(const byte *h)
{
    size_t n;
    memcpy(&n, h, sizeof n);
    return n;
}

/* Write header and guards around inner block b; returns the user pointer. */
static byte *decorate(byte *b, size_t n, int dom)
{
    memcpy(b, &n, sizeof n);
    b[OFF_TAG] = (byte)dom_tag[dom];
    b[OFF_STATE] = ST_LIVE;
    memset(b + OFF_LEAD, HS_FORBIDDENBYTE, NLEAD);
    memset(b + HDR + n, HS_FORBIDDENBYTE, NTAIL);
    return b + HDR;
}

/* ---- counting ------------------------------------------------------------------ */
/*
 * The allocator under the hooks counts the whole inner block it hands out:
 * header, data, tail guard and its own rounding. The program sees n bytes
 * (malloc_usable_size of a debug block is n, and n is all it may use), so
 * live bytes must move by n. The hooks take the difference off with
 * hs_count_overhead(): when a block is handed out, and put it back when the
 * block is released or moved.
 *
 * Why here and not in the interposer: this layer makes the overhead, and
 * every way a debug block is born, moved or dies passes through the four
 * functions below -- the shim's malloc family, the hs_* API called directly
 * (a shimmed program can reach it through dlsym, and free() then releases
 * what hs_mem_malloc() made), reallocs the core carries out as a move. So
 * the adjustment always balances; done in the interposer it would miss the
 * hs_* calls and put back, at free(), overhead that was never taken off.
 * Library users of hs_setup_debug_hooks() get the same numbers as the shim.
 *
 * Only blocks the core counted are adjusted, by the size it counted:
 *   - a block of one of our pools (page map): its class size;
 *   - a large block behind our sealed header: hs_large_usable();
 *   - a bare glibc block of the default RAW allocator: glibc's usable size.
 * A block of a user's allocator installed under the hooks was counted by
 * nobody we know of: left alone. Reading the large header means reading
 * the 16 bytes before a block of the allocator under; that is done only
 * when it is the core's default or the interposer is linked in (its free()
 * reads that header of every pointer anyway, and the allocators it puts
 * under the hooks are all the core's). Whether a block qualifies depends
 * on the block and on what was fixed at installation, so it answers the
 * same at release as at allocation.
 *
 * Order, for the peaks: a peak is a high-water mark, so a moment where the
 * counters show more than the program holds would stay in it for good,
 * while a moment where they show less is forgotten. So the overhead never
 * goes off after the allocator under has counted the whole block: an upper
 * bound of it is taken off before the request (exact for a pool block: the
 * class of n + 24 bytes; for glibc, the header plus glibc's rounding, a
 * chunk it does not split or one it maps), and the difference to the real
 * overhead is settled once the block is out -- put back, live bytes rising
 * to exactly the new value. On release the overhead is put back after the
 * allocator under has counted its free (hs_count_overhead's comment in
 * core/alloc.c puts it first; that order would raise live bytes above the
 * truth for a moment). Live bytes thus only dip on the way, and a peak
 * counts debug blocks by their n bytes only.
 *
 * Failures: a request this layer refuses by itself (n + 24 bytes would not
 * fit a size_t, calloc overflow) reaches no allocator that would count it,
 * so it is counted here; failures of the allocator under are its own to
 * count.
 */
static bool core_counted(const struct dbg_dom *self, const void *b, unsigned *dom, size_t *usable)
{
    if (hs_pagemap_test(b)) {
        *dom = hs_small_domain(b);
        *usable = hs_small_usable(b);
        return true;
    }
    if (self->peek && hs_large_owns(b)) {
        *dom = hs_large_domain(b);
        *usable = hs_large_usable(b);
        return true;
    }
    if (self->raw_bare) {
        *dom = HS_DOMAIN_RAW;
        *usable = hs_sys_usable_size(b);
        return true;
    }
    return false;
}

/* at least the overhead the core will count for a new inner block of a
 * debug block of n bytes (see "Order"); 0 when nothing is known */
static size_t overhead_bound(const struct dbg_dom *self, size_t n)
{
    switch (self->under_kind) {
    case UNDER_PYMALLOC:
        if (n + EXTRA <= HS_SMALL_MAX) return hs_class_size(hs_size_class(n + EXTRA)) - n;
        return EXTRA + HS_ALIGNMENT + glibc_slack;
    case UNDER_LARGE:
        return EXTRA + HS_ALIGNMENT + glibc_slack;
    case UNDER_BARE:
        return EXTRA + glibc_slack;
    default:
        return 0;
    }
}

/* Inner block b now carries a debug block of n bytes, and `taken` bytes
 * were taken off this domain before it was requested: settle to the
 * overhead the core really counted for b. */
static void overhead_settle(const struct dbg_dom *self, const byte *b, size_t n, size_t taken)
{
    unsigned mine = (unsigned)self->dom, dom = mine;
    size_t u, ov = 0;
    if (core_counted(self, b, &dom, &u) && u > n) ov = u - n;
    if (dom == mine) {
        if (ov > taken) hs_count_overhead(dom, ov - taken, true);
        else if (taken > ov) hs_count_overhead(dom, taken - ov, false);
        return;
    }
    hs_count_overhead(dom, ov, true);          /* counted in another domain */
    hs_count_overhead(mine, taken, false);
}

/* ---- the diagnostic -------------------------------------------------------- */

struct diag {
    char buf[2048];
    size_t len;
};

static void __attribute__((format(printf, 2, 3))) say(struct diag *g, const char *fmt, ...)
{
    if (g->len >= sizeof g->buf) return;
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(g->buf + g->len, sizeof g->buf - g->len, fmt, ap);
    va_end(ap);
    if (r > 0) g->len += (size_t)r;
    if (g->len > sizeof g->buf - 1) g->len = sizeof g->buf - 1;
}

/* Bytes p+lo .. p+hi-1 in hex; '|' before p (start of data) and before p+n
 * (start of the tail guard, when n is known), the byte at p+mark in [ ]. */
static void dump(struct diag *g, const byte *p, long lo, long hi, long n, long mark)
{
    say(g, "heapshim: debug:   bytes from p%+ld ('|' = start of data / of tail guard, "
           "[..] = the byte at fault):", lo);
    for (long i = lo; i < hi; i++) {
        if (i == 0 || (n >= 0 && i == n)) say(g, " |");
        say(g, i == mark ? " [%02x]" : " %02x", p[i]);
    }
    say(g, "\n");
}

static void __attribute__((noreturn)) fatal(struct diag *g)
{
    size_t off = 0;
    while (off < g->len) {
        ssize_t w = write(2, g->buf + off, g->len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    abort();
}

/* ---- checks on free and realloc ---------------------------------------------- */

/* Returns only if p is a live, intact block of domain self->dom. */
static void check_block(const struct dbg_dom *self, const byte *p, const char *op)
{
    const byte *h = p - HDR;
    int tag = tag_domain(h[OFF_TAG]);
    const char *by = dom_desc[self->dom];
    struct diag g = { .len = 0 };

    /* Already freed: the tag is intact and says so. (The size field may be
     * the underlying allocator's free-list link by now: not shown.) */
    if (tag >= 0 && h[OFF_STATE] == ST_FREED) {
        bool is_free = op[0] == 'f';
        say(&g, "heapshim: debug: %s %p: block allocated by %s was already freed; %s by %s\n",
            is_free ? "double free of" : "realloc of freed block", (const void *)p,
            dom_desc[tag], is_free ? "freed again" : op, by);
        dump(&g, p, -(long)HDR, (long)NTAIL, -1, -(long)HDR + (long)OFF_STATE);
        fatal(&g);
    }

    /* Underrun: the guard byte nearest the data is the one hit first. */
    int bad = 0;
    long first = 0;
    for (unsigned i = HDR; i-- > OFF_LEAD;)
        if (h[i] != HS_FORBIDDENBYTE && bad++ == 0) first = (long)i - (long)HDR;
    bool known = tag >= 0 && h[OFF_STATE] == ST_LIVE;
    /* with nothing of the header left it is no block of ours, as far as we
     * can tell: reported below as such, not as an underrun */
    if (bad && (known || bad < (int)NLEAD)) {
        size_t n = known ? hdr_size(h) : 0;
        if (known) say(&g, "heapshim: debug: buffer underrun on %p: %zu-byte block allocated by %s",
                       (const void *)p, n, dom_desc[tag]);
        else say(&g, "heapshim: debug: buffer underrun on %p: block of unknown size and domain "
                     "(header overwritten)", (const void *)p);
        say(&g, ", %s by %s: leading guard byte at p%ld is 0x%02x, expected 0x%02x "
                "(%d of %u guard bytes damaged)\n",
            op, by, first, p[first], HS_FORBIDDENBYTE, bad, NLEAD);
        long hi = known ? (long)(n + NTAIL < 16 ? n + NTAIL : 16) : (long)NTAIL;
        dump(&g, p, -(long)HDR, hi, known ? (long)n : -1, first);
        fatal(&g);
    }

    if (!known) {
        say(&g, "heapshim: debug: bad block header on %p: not a live block of the debug hooks "
                "(wild pointer, block from before the hooks were installed, or header "
                "overwritten by an underrun); %s by %s\n", (const void *)p, op, by);
        dump(&g, p, -(long)HDR, (long)NTAIL, -1, -(long)HDR + (long)OFF_TAG);
        fatal(&g);
    }

    size_t n = hdr_size(h);
    if (tag != self->dom) {
        say(&g, "heapshim: debug: API family mismatch on %p: %zu-byte block allocated by %s, "
                "%s by %s: a block must be released by the family that allocated it\n",
            (const void *)p, n, dom_desc[tag], op, by);
        dump(&g, p, -(long)HDR, (long)NTAIL, (long)n, -(long)HDR + (long)OFF_TAG);
        fatal(&g);
    }

    /* Overrun: the guard byte nearest the data is the one hit first. */
    for (unsigned i = 0; i < NTAIL; i++)
        if (p[n + i] != HS_FORBIDDENBYTE && bad++ == 0) first = (long)(n + i);
    if (bad) {
        say(&g, "heapshim: debug: buffer overrun on %p: %zu-byte block allocated by %s, "
                "%s by %s: tail guard byte at p+%ld is 0x%02x, expected 0x%02x "
                "(%d of %u guard bytes damaged)\n",
            (const void *)p, n, dom_desc[tag], op, by, first, p[first], HS_FORBIDDENBYTE,
            bad, NTAIL);
        long lo = (long)n - 16;    /* never before the header */
        dump(&g, p, lo, (long)(n + NTAIL), (long)n, first);
        fatal(&g);
    }
}

/* ---- the wrapper allocator ------------------------------------------------------ */

static HS_NOINLINE void *refuse(const struct dbg_dom *self)
{
    hs_count_failed((unsigned)self->dom);
    return NULL;
}

static void *dbg_malloc(void *ctx, size_t n)
{
    const struct dbg_dom *self = ctx;
    if (n > SIZE_MAX - EXTRA) return refuse(self);
    size_t taken = overhead_bound(self, n);
    hs_count_overhead((unsigned)self->dom, taken, true);
    byte *b = self->under.malloc(self->under.ctx, n + EXTRA);
    if (!b) {
        hs_count_overhead((unsigned)self->dom, taken, false);
        return NULL;
    }
    overhead_settle(self, b, n, taken);
    byte *p = decorate(b, n, self->dom);
    memset(p, HS_CLEANBYTE, n);
    return p;
}

static void *dbg_calloc(void *ctx, size_t ne, size_t es)
{
    const struct dbg_dom *self = ctx;
    size_t n;
    if (__builtin_mul_overflow(ne, es, &n) || n > SIZE_MAX - EXTRA) return refuse(self);
    size_t taken = overhead_bound(self, n);
    hs_count_overhead((unsigned)self->dom, taken, true);
    byte *b = self->under.calloc(self->under.ctx, 1, n + EXTRA);
    if (!b) {
        hs_count_overhead((unsigned)self->dom, taken, false);
        return NULL;
    }
    overhead_settle(self, b, n, taken);
    return decorate(b, n, self->dom);     /* data already zero */
}

static void dbg_free(void *ctx, void *ptr)
{
    const struct dbg_dom *self = ctx;
    if (!ptr) return;
    byte *p = ptr;
    check_block(self, p, "freed");
    byte *h = p - HDR;
    size_t n = hdr_size(h), u;
    unsigned dom;
    bool counted = core_counted(self, h, &dom, &u) && u > n;   /* while h is ours */
    memset(p, HS_DEADBYTE, n + NTAIL);
    h[OFF_STATE] = ST_FREED;       /* tag and guards stay: a second free is recognised */
    self->under.free(self->under.ctx, h);
    if (counted) hs_count_overhead(dom, u - n, false);     /* after: see "Order" */
}

static void *dbg_realloc(void *ctx, void *ptr, size_t n)
{
    const struct dbg_dom *self = ctx;
    if (!ptr) return dbg_malloc(ctx, n);
    byte *p = ptr;
    check_block(self, p, "reallocated");
    if (n > SIZE_MAX - EXTRA) return refuse(self);      /* p stays valid */

    /* Mark the old block freed and erase its first bytes before the
     * underlying realloc: if that moves the block, what it leaves behind
     * looks freed (a stale free is caught); the saved bytes are put back
     * in the result, or in p if the realloc fails. */
    byte *h = p - HDR;
    size_t old = hdr_size(h);
    size_t erase = old < ERASE ? old : ERASE;
    unsigned odom;
    size_t ou;
    bool ocounted = core_counted(self, h, &odom, &ou);   /* before the move frees h */
    byte save_hdr[HDR], save_data[ERASE];
    memcpy(save_hdr, h, HDR);
    memcpy(save_data, p, erase);
    memset(p, HS_DEADBYTE, erase);
    h[OFF_STATE] = ST_FREED;

    size_t taken = overhead_bound(self, n);
    hs_count_overhead((unsigned)self->dom, taken, true);
    byte *b = self->under.realloc(self->under.ctx, h, n + EXTRA);
    if (!b) {
        hs_count_overhead((unsigned)self->dom, taken, false);
        memcpy(h, save_hdr, HDR);
        memcpy(p, save_data, erase);
        return NULL;
    }
    /* the allocator under counted one realloc of the inner blocks: the new
     * overhead settled, then the old one back (see "Order"; a block kept in
     * its pool class or shrunk in place is the case where the new overhead
     * exceeds the bound, and then the counters are below the old value) */
    overhead_settle(self, b, n, taken);
    if (ocounted && ou > old) hs_count_overhead(odom, ou - old, false);
    byte *q = b + HDR;
    memcpy(q, save_data, erase < n ? erase : n);
    if (n > old) memset(q + old, HS_CLEANBYTE, n - old);
    return decorate(b, n, self->dom);
}

/* ---- installation and the internal view ---------------------------------------- */

int hs_setup_debug_hooks(void)
{
    if (__atomic_exchange_n(&setup_claimed, 1, __ATOMIC_ACQ_REL)) return -1;
    /* the interposer is linked in: see "Counting" */
    bool shim = hs__platform_config != NULL;
    /* glibc's usable size exceeds a request by its 16-byte rounding and up
     * to 31 bytes of a chunk it does not split, or, for a chunk it maps,
     * by less than a page and its header */
    long page = sysconf(_SC_PAGESIZE);
    glibc_slack = (page > 0 ? (size_t)page : 65536) + 64;
    for (int d = 0; d < HS_NDOMAINS; d++) {
        hs_get_allocator((hs_domain_t)d, &dbg[d].under);
        dbg[d].dom = d;
        bool dflt = __atomic_load_n(&hs_domain_default[d], __ATOMIC_ACQUIRE);
        /* the default RAW allocator hands out bare glibc blocks: nothing
         * of ours before them (and under ASan, a redzone) */
        dbg[d].peek = shim || (dflt && d != HS_DOMAIN_RAW);
        dbg[d].raw_bare = dflt && d == HS_DOMAIN_RAW;
        dbg[d].under_kind = dflt ? (d == HS_DOMAIN_RAW ? UNDER_BARE : UNDER_PYMALLOC)
                                 : shim ? UNDER_LARGE : UNDER_OTHER;
        hs_allocator_t a = { &dbg[d], dbg_malloc, dbg_calloc, dbg_realloc, dbg_free };
        hs_set_allocator((hs_domain_t)d, &a);
    }
    __atomic_store_n(&hooks_on, 1, __ATOMIC_RELEASE);
    return 0;
}

int hs_debug_installed(void)
{
    return __atomic_load_n(&hooks_on, __ATOMIC_ACQUIRE);
}

size_t hs_debug_header_size(void)
{
    return HDR;
}

int hs_debug_block_domain(const void *p)
{
    const byte *h = (const byte *)p - HDR;
    int d = tag_domain(h[OFF_TAG]);
    if (d < 0 || (h[OFF_STATE] != ST_LIVE && h[OFF_STATE] != ST_FREED)) return -1;
    if (h[OFF_LEAD] != HS_FORBIDDENBYTE) return -1;
    return d;
}

size_t hs_debug_block_size(const void *p)
{
    return hdr_size((const byte *)p - HDR);
}

int hs_debug_block_freed(const void *p)
{
    return hs_debug_block_domain(p) >= 0 && ((const unsigned char *)p - 16)[OFF_STATE] == ST_FREED;
}
