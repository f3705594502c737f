/*
 * interpose/override.c - the malloc family, exported over glibc's.
 *
 * Room: glibc semantics at the boundary (errno, realloc(p, 0) frees,
 * posix_memalign's EINVAL, ...), routing, and the choice of path. The
 * memory itself comes from the core: small blocks from arenas, everything
 * else from glibc with a 16-byte header (core/large.c) that tells us, at
 * free time, that the block is ours and which domain to count it in.
 *
 * Who owns a pointer handed to free/realloc/malloc_usable_size is decided in
 * one place, owner_of() below:
 *   0. debug modes: the debug header before it is ours  -> a debug block
 *   1. the page map says it is in one of our pools      -> small block
 *   2. the header before it carries our sealed tag      -> large block
 *   3. otherwise it came from glibc before we started   -> glibc's, untouched
 *      (in plain malloc mode: a bare MEM block, see below)
 *
 * The pymalloc fast path (the default mode, no debug hooks, no routing
 * rules: decided once, at start-up) is inline in malloc(), calloc() and
 * free(): one thread-local load (hs_tls_fast: the core is up, the thread
 * has a heap and no routing tag) answers every question, then a bin pop or
 * push and its counting (core/alloc_fast.h), with no call. Everything else
 * leaves through one out-of-line slow path per function.
 *
 * Bare MEM blocks. In the default mode, MEM blocks above 512 bytes are
 * glibc's own blocks, unchanged, counted by glibc's usable size: a 16-byte
 * header in front of them shifted glibc's trim and mmap-threshold decisions
 * (a large-block workload took 2x the page faults and 2x the time). RAW and
 * OBJ blocks that glibc serves keep the header, so that free() knows their
 * domain; a pointer that is neither in our pools nor behind our header is
 * then a bare MEM block (case 3 counts as a MEM free).
 *
 * Plain malloc mode (HEAPSHIM_ALLOCATOR=malloc). Accounting only, so the
 * program should see glibc as it is. A 16-byte header on every block would
 * push each request up one glibc size step: the program's working set grows
 * and it runs measurably slower (25-30% on a small-object churn). So blocks
 * routed to MEM -- nearly all of them, since MEM is the default -- are bare
 * glibc blocks, counted by glibc's own usable size; RAW and OBJ blocks keep
 * the header so their domain is known at free. Case 3 is then counted as a
 * MEM free. The price: the few blocks glibc handed out while the shim was
 * starting (before it could count) are counted when they are freed, so MEM
 * may show a few hundred bytes fewer than it should.
 * With debug hooks on (HEAPSHIM_ALLOCATOR=*debug) blocks carry the debug
 * header as well and go through the domain table so the hooks check them.
 *
 * Plain-direct mode (malloc mode, no routing rules) is the one where the
 * shim's own work is all the overhead, so its paths are cut to the bone:
 * malloc() and free() tail-jump to plain_malloc()/plain_free(), which need
 * one thread-local load (hs_tls_plain: the core is up, the thread untagged,
 * and its slot) and, in free(), one global flag (hs_core_blocks_out: while
 * the core has handed out no block of its own, tests 1 and 2 above cannot
 * succeed and are skipped). Aligned MEM requests are bare glibc blocks too,
 * so that aligned_alloc() does not end the shortcut.
 */
#include "shim.h"
#include "deepbind.h"
#include "../core/debug.h"
#include "../core/alloc_fast.h"
#include "../core/large.h"
#include "../core/owner.h"
#include "../core/sample.h"
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* ---- routing -------------------------------------------------------------- */

HS_INLINE unsigned route(const void *ra) { return hs_route(ra); }

/* ---- start-up --------------------------------------------------------------- */

/* true when the core is up; false while it is starting on this very thread
 * (a request made by the start-up code itself goes to glibc and stays glibc's) */
HS_INLINE bool ready(void)
{
    if (HS_LIKELY(hs_initialized == 2)) return true;
    hs__init();
    return hs_initialized == 2;
}

/* ---- the paths ---------------------------------------------------------------- */

static HS_NOINLINE void *debug_alloc(unsigned dom, size_t n, bool zero)
{
    hs_allocator_t *a = &hs_domain_table[dom];
    void *p = zero ? a->calloc(a->ctx, 1, n) : a->malloc(a->ctx, n);
    if (!p) errno = ENOMEM;
    return p;
}

/*
 * Failures. `failed` counts every call of the family that returns NULL or
 * an error code, once, in the domain the call was routed to (a realloc: the
 * block's own domain). Whoever turns the call down counts it: the core
 * when it or glibc runs out of memory (hs_small_malloc's slow path,
 * hs_counted_large, hs_pymalloc_realloc, hs_rawsys_*), the debug hooks for
 * a size they cannot wrap (core/debug.c), the plain paths here for bare
 * glibc blocks, and refused() below for what never reaches an allocator:
 * calloc/reallocarray/pvalloc overflow and EINVAL (an overflowing
 * reallocarray of a live block counts in the block's domain, as its other
 * failing reallocs do). realloc(p, 0) (a free) and free(NULL) are no
 * failures. All of it is off the success paths.
 * Nothing is counted while the shim starts on this very thread (glibc
 * serves those calls, and there are no counters yet).
 */
static HS_NOINLINE void count_refused(const void *ra)
{
    if (ready()) hs_count_failed(route(ra));
}

static HS_NOINLINE void *refused(const void *ra, int err)
{
    count_refused(ra);
    errno = err;
    return NULL;
}

/* glibc behind our header: RAW, large MEM/OBJ, and everything in malloc mode */
HS_INLINE void *sys_serve(unsigned dom, size_t n, bool zero)
{
    void *p = hs_large_alloc_fast(dom, n, zero);
    if (HS_UNLIKELY(!p)) {
        hs_count_failed(dom);
        errno = ENOMEM;
        return NULL;
    }
    hs_count_alloc_ticked(dom, hs_large_usable_fast(p));
    return p;
}

/* plain malloc mode, MEM: a bare glibc block (see the top of this file),
 * counted into the thread's armed slot when it has one (hs_tls_plain) */
HS_INLINE void plain_count_alloc(void *p)
{
    struct hs_live_slot *s = hs_tls_plain;
    if (HS_LIKELY(s != NULL)) hs_slot_alloc_ticked(s, HS_DOMAIN_MEM, hs_sys_usable_size(p));
    else hs_count_alloc_ticked(HS_DOMAIN_MEM, hs_sys_usable_size(p));
}

static HS_NOINLINE void *plain_failed(void)
{
    hs_count_failed(HS_DOMAIN_MEM);
    errno = ENOMEM;
    return NULL;
}

HS_INLINE void *plain_serve(size_t n, bool zero)
{
    void *p = zero ? hs_sys_calloc(1, n) : hs_sys_malloc(n);
    if (HS_UNLIKELY(!p)) return plain_failed();
    plain_count_alloc(p);
    return p;
}

HS_INLINE void plain_release(void *p)
{
    struct hs_live_slot *s = hs_tls_plain;
    if (HS_LIKELY(s != NULL)) hs_slot_free_ticked(s, HS_DOMAIN_MEM, hs_sys_usable_size(p));
    else hs_count_free_ticked(HS_DOMAIN_MEM, hs_sys_usable_size(p));
    hs_sys_free(p);
}

/* Plain mode: no block of the process is the core's own, so a pointer given
 * to free/realloc is a bare glibc block and needs no ownership test. */
HS_INLINE bool plain_only(void)
{
    return hs_shim.plain_mem && HS_LIKELY(!HS_LOAD(&hs_core_blocks_out));
}

HS_INLINE void *serve(unsigned dom, size_t n)
{
    if (HS_UNLIKELY(hs_shim.debug)) return debug_alloc(dom, n, false);
    if (HS_LIKELY(n <= HS_SMALL_MAX && dom != HS_DOMAIN_RAW && hs_shim.mode == HS_MODE_PYMALLOC)) {
        void *p = hs_small_malloc_fast(dom, n);
        if (HS_UNLIKELY(!p)) errno = ENOMEM;
        return p;
    }
    void *sp = hs_sample_try(dom, n, false, 0);      /* the small path charges itself */
    if (HS_UNLIKELY(sp != NULL)) return sp;
    if (hs_shim.bare_mem && dom == HS_DOMAIN_MEM) return plain_serve(n, false);
    return sys_serve(dom, n, false);
}

/* malloc() in plain-direct mode, for a thread that is not armed: during
 * start-up, a tagged request, the thread's first request or the first after
 * hs_tag_pop (which arms it), or a thread that cannot be armed. */
static HS_NOINLINE void *plain_malloc_slow(size_t n)
{
    if (HS_UNLIKELY(!ready())) return __libc_malloc(n);
    if (hs_tls_tag >= 0) return serve((unsigned)hs_tls_tag, n);   /* no rules: the tag routes */
    hs_plain_arm();
    return plain_serve(n, false);
}

/* what hs_slot_free_quiet* found due after a free: a release (after an
 * allocation only a claim can be due: hs_claim_then, which returns p) */
static HS_NOINLINE void plain_free_catch_up(struct hs_live_slot *s, void *p)
{
    hs_release(s, HS_DOMAIN_MEM);
    hs_sys_free(p);
}

/* malloc() in plain-direct mode. Out of line, reached by a tail jump, so
 * that neither path pays for the other's registers; the rare work after
 * counting is a tail call too, so only the slot is kept across glibc. */
static HS_NOINLINE void *plain_malloc(size_t n)
{
    /* armed: the core is up, the thread untagged, the slot at hand */
    struct hs_live_slot *s = hs_tls_plain;
    if (HS_UNLIKELY(s == NULL)) return plain_malloc_slow(n);
    void *sp = hs_sample_try(HS_DOMAIN_MEM, n, false, 0);
    if (HS_UNLIKELY(sp != NULL)) return sp;
    void *p = hs_sys_malloc(n);
    if (HS_UNLIKELY(!p)) return plain_failed();
    /* armed means a heap, so hs_sample_try charged its countdown: the tick */
    if (HS_UNLIKELY(hs_slot_alloc_quiet_charged(s, HS_DOMAIN_MEM, hs_sys_usable_size(p))))
        return hs_claim_then(s, HS_DOMAIN_MEM, p);
    return p;
}

/* Debug mode: the user pointer sits behind the debug header; the block that
 * the core knows starts hs_debug_header_size() earlier. */
static bool debug_owned(const void *p, int *dom)
{
    const char *inner = (const char *)p - hs_debug_header_size();
    unsigned t;
    if (hs_core_owner(inner, &t) >= 0) {
        *dom = hs_debug_block_domain(p);
        return *dom >= 0;
    }
    /* A large block freed once already: glibc has written its free-list
     * links over our large header, but the debug header after it still says
     * "freed" -- send it to the hooks, which report the double free. */
    if (hs_debug_block_freed(p)) {
        *dom = hs_debug_block_domain(p);
        return true;
    }
    return false;
}

/* ---- who owns a pointer: the one classifier ------------------------------------ */

enum owner {
    OWN_DEBUG,      /* debug modes: a block behind the debug header (*dom set) */
    OWN_SMALL,      /* one of our pools (*tag = its page-map byte) */
    OWN_LARGE,      /* glibc behind our sealed header */
    OWN_BARE,       /* plain malloc mode: a bare glibc MEM block, counted */
    OWN_GLIBC,      /* glibc's from before we started (or start-up): not counted */
};

static enum owner owner_of(const void *p, unsigned *tag, int *dom)
{
    if (HS_UNLIKELY(hs_shim.debug) && debug_owned(p, dom)) return OWN_DEBUG;
    /* no block of the core's own exists while plain_only() holds */
    if (!plain_only() && hs_core_owner(p, tag) >= 0) return *tag ? OWN_SMALL : OWN_LARGE;
    return hs_shim.bare_mem && hs_initialized == 2 ? OWN_BARE : OWN_GLIBC;
}

/* ---- plain-direct free ---------------------------------------------------------------- */

static void free_slow(void *p);

/* free() in plain-direct mode when its fast path does not apply: the core
 * has handed out a block of its own, or the thread is not armed (a thread
 * that only frees, one past its heap's release, or start-up). */
static HS_NOINLINE void plain_free_slow(void *p)
{
    if (!HS_LOAD(&hs_core_blocks_out) && hs_plain_arm()) plain_release(p);
    else free_slow(p);
}

/* free() in plain-direct mode: while the core has handed out no block of
 * its own, p is a bare glibc block and needs no ownership test. */
/* a new epoch or a reader's request first: out of line, so that the fast
 * path below makes no call but its tail jump into glibc */
static HS_NOINLINE void plain_free_enter(struct hs_live_slot *s, void *p)
{
    hs_slot_enter_slow(s);
    if (HS_UNLIKELY(hs_slot_free_quiet_entered(s, HS_DOMAIN_MEM, hs_sys_usable_size(p))))
        hs_release(s, HS_DOMAIN_MEM);
    hs_sys_free(p);
}
/* the counting and the release of a bare MEM block p into the armed slot s */
HS_INLINE void plain_free_counted(struct hs_live_slot *s, void *p)
{
    if (HS_UNLIKELY(!hs_slot_enter_quick_free(s))) {
        plain_free_enter(s, p);
        return;
    }
    if (HS_UNLIKELY(hs_slot_free_quiet_entered(s, HS_DOMAIN_MEM, hs_sys_usable_size(p)))) {
        plain_free_catch_up(s, p);
        return;
    }
    hs_sys_free(p);
}

static HS_NOINLINE void plain_free(void *p)
{
    if (!p) return;
    struct hs_live_slot *s = hs_tls_plain;
    if (HS_UNLIKELY(s == NULL || HS_LOAD(&hs_core_blocks_out))) {
        plain_free_slow(p);
        return;
    }
    plain_free_counted(s, p);
}

/* ---- the exported family ------------------------------------------------------------ */

/* free() of anything the fast path does not take. */
static HS_NOINLINE void free_slow(void *p)
{
    if (!p) return;
    unsigned tag = 0;
    int dom = 0;
    switch (owner_of(p, &tag, &dom)) {
    case OWN_DEBUG:
        hs_domain_table[dom].free(hs_domain_table[dom].ctx, p);
        return;
    case OWN_SMALL:
        hs_small_free_tagged(p, tag);
        return;
    case OWN_LARGE:
        hs_count_free_ticked(hs_large_dom(p), hs_large_usable_fast(p));
        hs_large_release_fast(p);
        return;
    case OWN_BARE:
        plain_release(p);
        return;
    case OWN_GLIBC:
        __libc_free(p);
        return;
    }
}

/* malloc() of anything the fast path does not take: plain-direct mode (a
 * tail jump to its own path), start-up, routing, tags, large blocks, an
 * empty bin, a thread to arm. */
static HS_NOINLINE void *malloc_slow(size_t n, const void *ra)
{
    if (HS_UNLIKELY(!ready())) return __libc_malloc(n);
    if (hs_shim.fast_direct && !hs_tls_fast) hs_fast_arm();
    return serve(route(ra), n);
}

/* An armed thread (hs_tls_fast: pymalloc mode, no debug hooks, no rules,
 * untagged) asking for more than HS_SMALL_MAX: a bare MEM block, as serve()
 * would decide after its checks. Out of line, reached by a tail jump. */
static HS_NOINLINE void *bare_malloc(hs_heap_t *h, size_t n)
{
    if (HS_UNLIKELY(hs_sample_charge(h, n))) {
        void *sp = hs_sample_alloc(h, HS_DOMAIN_MEM, n, false, 0);
        if (sp) return sp;
    }
    void *p = hs_sys_malloc(n);
    if (HS_UNLIKELY(!p)) return plain_failed();
    /* the countdown was charged above: that is the tick (plain_malloc) */
    if (HS_UNLIKELY(hs_slot_alloc_quiet_charged(h->slot, HS_DOMAIN_MEM, hs_sys_usable_size(p))))
        return hs_claim_then(h->slot, HS_DOMAIN_MEM, p);
    return p;
}

/* The pymalloc fast path: see the top of this file. A macro, not an inline
 * function, so that the caller's address RA (for routing) is computed on
 * the slow branch only: passed as an argument, the compiler loads it on every
 * call. Expanded in malloc() and in operator new (below). */
#define HS_MALLOC_BODY(n, RA)                                                              \
    hs_heap_t *h = hs_tls_fast;                                                            \
    size_t m = (n) - 1;             /* n in 1..512: m < 512 (n == 0 wraps) */              \
    if (HS_LIKELY(h != NULL) && HS_LIKELY(m < HS_SMALL_MAX)) {                             \
        bool due;                                                                          \
        void *p = hs_fast_small_malloc_cls(h, HS_DOMAIN_MEM, m >> 4, (n), &due);           \
        if (HS_LIKELY(p != NULL)) {                                                        \
            if (HS_UNLIKELY(due)) return hs_claim_then(h->slot, HS_DOMAIN_MEM, p);         \
            return p;                                                                      \
        }                                                                                  \
    }                                                                                      \
    if (HS_LIKELY(h != NULL) && (n) > HS_SMALL_MAX) return bare_malloc(h, (n));            \
    /* plain-direct mode has a path of its own, reached by a tail jump */                  \
    if (hs_shim.plain_direct) return plain_malloc(n);                                      \
    return malloc_slow((n), (RA))

EXPORT void *malloc(size_t n)
{
    HS_MALLOC_BODY(n, __builtin_return_address(0));
}

/* free() of an armed thread (hs_tls_fast) for a pointer that is none of our
 * pools': a bare MEM block unless our header seals it (owner_of's answer,
 * without its mode checks: armed means the pymalloc mode without debug). */
static HS_NOINLINE void bare_free(hs_heap_t *h, void *p)
{
    if (HS_UNLIKELY(p == NULL)) return;
    if (HS_UNLIKELY(hs_large_owns_fast(p))) {
        free_slow(p);
        return;
    }
    plain_free_counted(h->slot, p);
}

/* free() of plain-direct mode, and the rest of the modes' slow path. */
static HS_NOINLINE void free_other(void *p)
{
    if (hs_shim.free_path == HS_FREE_BARE) {
        plain_free(p);
        return;
    }
    /* a thread that frees before (or without ever) calling malloc -- a
     * consumer -- is armed here, so its next frees take the fast path */
    if (hs_shim.fast_direct && !hs_tls_fast && p) hs_fast_arm();
    free_slow(p);
}

HS_INLINE void free_at(void *p)
{
    hs_heap_t *h = hs_tls_fast;
    if (HS_LIKELY(h != NULL)) {
        /* a NULL p has no page-map byte: the slow path returns */
        unsigned tag = hs_pagemap_get(p);
        bool due;
        if (HS_UNLIKELY(tag == 0)) {
            bare_free(h, p);
            return;
        }
        /* the domain as a constant on each branch (mem first: plain malloc's
         * default), so that the bin, counter and size come from the class */
        unsigned cls = tag - 1;
        if (HS_LIKELY(cls < HS_NCLASSES)) {
            if (HS_LIKELY(hs_fast_small_free_cls(h, p, HS_SMALLDOM(HS_DOMAIN_MEM), cls, &due))) {
                if (HS_UNLIKELY(due)) hs_release_then(h->slot, HS_DOMAIN_MEM);
                return;
            }
        } else if ((cls -= HS_NCLASSES) < HS_NCLASSES) {
            if (HS_LIKELY(hs_fast_small_free_cls(h, p, HS_SMALLDOM(HS_DOMAIN_OBJ), cls, &due))) {
                if (HS_UNLIKELY(due)) hs_release_then(h->slot, HS_DOMAIN_OBJ);
                return;
            }
        }
    }
    free_other(p);
}

EXPORT void free(void *p) { free_at(p); }

static HS_NOINLINE void *calloc_slow(size_t ne, size_t es, const void *ra)
{
    if (HS_UNLIKELY(!ready())) return __libc_calloc(ne, es);
    size_t n;
    if (__builtin_mul_overflow(ne, es, &n)) return refused(ra, ENOMEM);
    if (hs_shim.fast_direct && !hs_tls_fast) hs_fast_arm();
    unsigned dom = route(ra);
    if (HS_UNLIKELY(hs_shim.debug)) return debug_alloc(dom, n, true);
    if (n <= HS_SMALL_MAX && dom != HS_DOMAIN_RAW && hs_shim.mode == HS_MODE_PYMALLOC) {
        void *p = hs_small_malloc(dom, n);
        if (!p) errno = ENOMEM;
        else memset(p, 0, n);
        return p;
    }
    void *sp = hs_sample_try(dom, n, true, 0);
    if (HS_UNLIKELY(sp != NULL)) return sp;
    if (hs_shim.bare_mem && dom == HS_DOMAIN_MEM) return plain_serve(n, true);
    return sys_serve(dom, n, true);
}

EXPORT void *calloc(size_t ne, size_t es)
{
    hs_heap_t *h = hs_tls_fast;
    size_t n;
    if (HS_LIKELY(h != NULL) && !__builtin_mul_overflow(ne, es, &n) && HS_LIKELY(n <= HS_SMALL_MAX)) {
        bool due;
        void *p = hs_fast_small_malloc(h, HS_DOMAIN_MEM, n, &due);
        if (HS_LIKELY(p != NULL)) {
            memset(p, 0, n);
            if (HS_UNLIKELY(due)) return hs_claim_then(h->slot, HS_DOMAIN_MEM, p);
            return p;
        }
    }
    return calloc_slow(ne, es, __builtin_return_address(0));
}

/* ---- realloc of a bare glibc MEM block ------------------------------------------ */

/* Counting a realloc of a bare block p into q (NULL: it failed; p is
 * still the caller's). old is p's usable size, read before the call. */
HS_INLINE void bare_counted(size_t old, void *q)
{
    struct hs_live_slot *s = hs_tls_plain;
    if (HS_UNLIKELY(!q)) hs_count_failed(HS_DOMAIN_MEM);
    else if (HS_LIKELY(s != NULL)) hs_slot_realloc(s, HS_DOMAIN_MEM, old, hs_sys_usable_size(q));
    else hs_count_realloc(HS_DOMAIN_MEM, old, hs_sys_usable_size(q));
}

/* The default (pymalloc) mode's realloc of a bare block, n != 0: the
 * shim's allocator policy, as for its own blocks (core/alloc.c): a block
 * that still fits stays where it is (hs_realloc_stays; not charged to the
 * sampling countdown), a small growth gets room for the chain
 * (hs_grow_room). In malloc mode glibc decides everything (realloc_impl).
 * h: the thread's heap or NULL. */
static HS_NOINLINE void *bare_realloc(hs_heap_t *h, void *p, size_t n)
{
    size_t old = hs_sys_usable_size(p);
    void *q = p;
    if (!hs_realloc_stays(old, n)) {
        if (h != NULL && HS_UNLIKELY(hs_sample_charge(h, n))) {
            void *sp = hs_sample_realloc(h, p, 2, n);
            if (sp) return sp;
        }
        size_t want = hs_grow_room(old, n);
        q = hs_sys_realloc(p, want);
        if (HS_UNLIKELY(!q) && want != n) q = hs_sys_realloc(p, n);
    }
    bare_counted(old, q);
    if (HS_UNLIKELY(!q)) errno = ENOMEM;
    return q;
}

/* Does a realloc leave the block as it is (then it is not charged to the
 * sampling countdown)? As the paths below decide; in malloc mode glibc
 * decides, so a bare block is always charged there. */
static bool realloc_stays(enum owner own, const void *p, size_t n)
{
    if (own == OWN_SMALL) return hs_small_realloc_stays(hs_pagemap_get(p), n);
    if (own == OWN_LARGE) return hs_realloc_stays(hs_large_usable_fast(p), n);
    return false;
}

static void *realloc_impl(void *p, size_t n, const void *ra)
{
    if (!p) return serve(route(ra), n);
    if (n == 0) {               /* glibc: frees and returns NULL */
        free(p);
        return NULL;
    }
    unsigned tag = 0;
    int dom = 0;
    void *q;
    enum owner own = owner_of(p, &tag, &dom);
    hs_heap_t *sh = hs_tls_heap;
    bool bare_policy = own == OWN_BARE && hs_shim.mode == HS_MODE_PYMALLOC;
    if (bare_policy) return bare_realloc(sh, p, n);     /* charges itself */
    if (own != OWN_DEBUG && own != OWN_GLIBC && sh && !realloc_stays(own, p, n) &&
        hs_sample_charge(sh, n)) {
        /* sampling: the new size is charged; a sampled realloc moves the
         * block into a sampled one (for the profile a free and an
         * allocation; for the counters one realloc, as always) */
        void *sp = hs_sample_realloc(sh, p, own == OWN_SMALL ? 0 : own == OWN_LARGE ? 1 : 2, n);
        if (sp) return sp;
    }
    switch (own) {
    case OWN_DEBUG:
        q = hs_domain_table[dom].realloc(hs_domain_table[dom].ctx, p, n);
        break;
    case OWN_SMALL:
        /* a MEM block outgrowing the pools becomes what malloc would have
         * served (bare glibc), not a block behind our header */
        if (n > HS_SMALL_MAX && hs_shim.bare_mem && hs_small_domain(p) == HS_DOMAIN_MEM) {
            q = hs_small_realloc_to_sys(p, n);
            break;
        }
        /* fall through */
    case OWN_LARGE:
        /* default mode: a MEM block behind our header (sampled, aligned):
         * a big one resized behind it, the others rejoin the bare MEM
         * blocks (core/alloc.c decides) */
        if (own == OWN_LARGE && hs_shim.mode == HS_MODE_PYMALLOC && hs_shim.bare_mem &&
            hs_large_dom(p) == HS_DOMAIN_MEM) {
            q = hs_large_realloc_mem(p, n);
            break;
        }
        q = hs_pymalloc_realloc(HS_DOMAIN_MEM, p, n);   /* keeps the block's domain */
        break;
    case OWN_BARE: {               /* malloc mode (bare_policy above) */
        size_t old = hs_sys_usable_size(p);
        q = hs_sys_realloc(p, n);   /* malloc mode: glibc decides everything */
        bare_counted(old, q);
        break;
    }
    default:                    /* glibc's from before us */
        q = __libc_realloc(p, n);
        if (!q) hs_count_failed(route(ra));             /* glibc set errno */
        return q;
    }
    if (!q) errno = ENOMEM;
    return q;
}

EXPORT void *realloc(void *p, size_t n)
{
    hs_heap_t *h = hs_tls_fast;
    if (HS_LIKELY(h != NULL) && HS_LIKELY(n != 0)) {
        unsigned tag = hs_pagemap_get(p);
        if (tag != 0) {                 /* one of our pools (p NULL has no tag) */
            if (n <= HS_SMALL_MAX) {
                if (!hs_small_realloc_stays(tag, n) &&
                    HS_UNLIKELY(hs_sample_charge(h, n))) {  /* as realloc_impl charges */
                    void *sp = hs_sample_realloc(h, p, 0, n);
                    if (sp) return sp;
                }
                void *q = hs_fast_small_realloc(h, p, tag, n);
                if (HS_LIKELY(q != NULL)) return q;
            }
        } else if (p != NULL && !hs_large_owns_fast(p)) {
            /* armed (pymalloc mode, no debug hooks, untagged): a block
             * neither ours nor behind our header is a bare MEM block */
            return bare_realloc(h, p, n);
        }
    }
    if (HS_UNLIKELY(!ready())) return __libc_realloc(p, n);
    return realloc_impl(p, n, __builtin_return_address(0));
}

/* reallocarray(p, ...) overflowing: a failed realloc of p, counted in the
 * block's own domain like every other failing realloc of it (a block glibc
 * handed out before us has none: where the call was routed) */
static HS_NOINLINE void *realloc_overflow(void *p, const void *ra)
{
    if (!p || !ready()) return refused(ra, ENOMEM);
    unsigned tag = 0, dom;
    int ddom = 0;
    switch (owner_of(p, &tag, &ddom)) {
    case OWN_DEBUG: dom = (unsigned)ddom; break;
    case OWN_SMALL: dom = hs_small_domain(p); break;
    case OWN_LARGE: dom = hs_large_dom(p); break;
    case OWN_BARE: dom = HS_DOMAIN_MEM; break;
    default: dom = route(ra); break;
    }
    hs_count_failed(dom);
    errno = ENOMEM;
    return NULL;
}

/*
 * Another allocator ahead of the shim in the lookup order
 * (LD_PRELOAD=libjemalloc.so.2:libheapshim.so): its malloc, realloc and free
 * are the program's, and the calls it lacks (jemalloc: reallocarray, pvalloc,
 * cfree) came here with its blocks, which the shim took for glibc's: glibc's
 * realloc aborted on them ("invalid pointer"; ls -la crashed). Found once at
 * start-up (hs_override_check_first): those calls go to that allocator's
 * realloc, memalign and free, and the shim says, in one line, that it counts
 * nothing there.
 */
static void *(*first_realloc)(void *, size_t);
static void *(*first_memalign)(size_t, size_t);
static void (*first_free)(void *);

void hs_override_check_first(void)
{
    uintptr_t base;
    const char *obj;
    struct dl_find_object self;
    if (!hs_elf_first_definer("malloc", &base, &obj) ||
        _dl_find_object((void *)&hs_override_check_first, &self) != 0 || !self.dlfo_link_map ||
        base == self.dlfo_link_map->l_addr)
        return;
    void *r = dlsym(RTLD_DEFAULT, "realloc"), *al = dlsym(RTLD_DEFAULT, "memalign"), *f = dlsym(RTLD_DEFAULT, "free");
    if (!r || !al || !f) return;
    first_memalign = (void *(*)(size_t, size_t))al;
    first_free = (void (*)(void *))f;
    __atomic_store_n(&first_realloc, (void *(*)(void *, size_t))r, __ATOMIC_RELEASE);
    hs_shim_warn("malloc is ", obj && obj[0] ? obj : "the program's own",
                 ", loaded before heapshim: nothing is counted (put libheapshim.so first in LD_PRELOAD)");
}

EXPORT void *reallocarray(void *p, size_t ne, size_t es)
{
    size_t n;
    if (__builtin_mul_overflow(ne, es, &n)) return realloc_overflow(p, __builtin_return_address(0));
    void *(*fr)(void *, size_t) = __atomic_load_n(&first_realloc, __ATOMIC_ACQUIRE);
    if (HS_UNLIKELY(fr != NULL)) return fr(p, n);
    if (HS_UNLIKELY(!ready())) return __libc_realloc(p, n);
    return realloc_impl(p, n, __builtin_return_address(0));
}

/* Aligned requests. Small ones with alignment <= 16 are ordinary blocks;
 * larger alignments go to glibc's memalign behind our header. The debug
 * hooks only promise 16-byte alignment, so aligned blocks skip them (they
 * are still counted, and free() recognises them by the large header).
 * In plain malloc mode an aligned MEM block is a bare glibc block like any
 * other (glibc's chunk header gives its usable size): a header would end
 * plain free()'s shortcut (hs_core_blocks_out) for the rest of the process. */
static void *aligned_impl(size_t align, size_t n, const void *ra)
{
    unsigned dom = route(ra);
    if (align <= HS_ALIGNMENT) return serve(dom, n);
    if (hs_shim.plain_mem && dom == HS_DOMAIN_MEM) {
        void *sp = hs_sample_try(dom, n, false, align);   /* hs_counted_large charges itself */
        if (HS_UNLIKELY(sp != NULL)) return sp;
        void *q = hs_sys_memalign(align, n);
        if (!q) return plain_failed();
        plain_count_alloc(q);
        return q;
    }
    void *p = hs_counted_large(dom, n, false, align);
    if (!p) errno = ENOMEM;
    return p;
}

/*
 * glibc 2.36's _mid_memalign, behind memalign, aligned_alloc (in 2.36 an
 * alias of memalign: glibc 2.38 made aligned_alloc refuse an alignment that
 * is not a power of two, 2.36 does not), valloc, pvalloc and posix_memalign:
 *   align <= 16 (0, 3 and 12 included)     -> malloc(n)
 *   align > SIZE_MAX / 2 + 1               -> NULL, EINVAL
 *   otherwise at least 32 (its MINSIZE), rounded up to a power of two; then
 *   an alignment of 2^63 (above PTRDIFF_MAX), a size above PTRDIFF_MAX or
 *   memory glibc cannot get -> NULL, ENOMEM (from glibc's memalign, or
 *   from ours in the same cases).
 * tests/27-failcount.sh compares the results with glibc's own.
 */
static void *mid_memalign(size_t align, size_t n, const void *ra)
{
    if (align <= HS_ALIGNMENT) return serve(route(ra), n);
    if (align > SIZE_MAX / 2 + 1) return refused(ra, EINVAL);
    if (align < 2 * HS_ALIGNMENT) align = 2 * HS_ALIGNMENT;
    if (align & (align - 1))       /* below 2^63 here: the next power of two fits */
        align = (size_t)1 << (sizeof(unsigned long long) * CHAR_BIT -
                              (unsigned)__builtin_clzll((unsigned long long)align));
    return aligned_impl(align, n, ra);
}

/* glibc 2.36: EINVAL unless a power-of-two multiple of sizeof(void *),
 * errno untouched then; on ENOMEM errno is ENOMEM too (glibc's memalign set
 * it), and *out is left alone on either. */
EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (!align || (align & (align - 1)) || align % sizeof(void *)) {
        count_refused(__builtin_return_address(0));
        return EINVAL;
    }
    if (HS_UNLIKELY(!ready())) {
        void *p = __libc_memalign(align, n);
        if (!p) return ENOMEM;
        *out = p;
        return 0;
    }
    void *p = mid_memalign(align, n, __builtin_return_address(0));
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *memalign(size_t align, size_t n)
{
    if (HS_UNLIKELY(!ready())) return __libc_memalign(align, n);
    return mid_memalign(align, n, __builtin_return_address(0));
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (HS_UNLIKELY(!ready())) return __libc_memalign(align, n);
    return mid_memalign(align, n, __builtin_return_address(0));
}

EXPORT void *valloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (HS_UNLIKELY(!ready())) return __libc_memalign(page, n);
    return aligned_impl(page, n, __builtin_return_address(0));
}

/* glibc 2.36 rounds with the mask -(pagesize - 1), not -pagesize: that
 * keeps bit 0, so pvalloc(0) asks for 1 byte and pvalloc(k * page) for one
 * byte more than k pages. Followed to the byte, so that malloc mode hands
 * out glibc's very block. */
EXPORT void *pvalloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded;
    if (__builtin_add_overflow(n, page - 1, &rounded)) return refused(__builtin_return_address(0), ENOMEM);
    rounded &= ~(page - 1);
    if (HS_UNLIKELY(__atomic_load_n(&first_realloc, __ATOMIC_ACQUIRE) != NULL)) return first_memalign(page, rounded);
    if (HS_UNLIKELY(!ready())) return __libc_memalign(page, rounded);
    return aligned_impl(page, rounded, __builtin_return_address(0));
}

/* glibc's old alias of free: a compatibility symbol (cfree@GLIBC_2.2.5)
 * that binaries built against glibc before 2.26 still bind. Our unversioned
 * definition satisfies their versioned reference, as malloc's does. */
EXPORT void cfree(void *p);
EXPORT void cfree(void *p)
{
    if (HS_UNLIKELY(__atomic_load_n(&first_realloc, __ATOMIC_ACQUIRE) != NULL)) {
        first_free(p);
        return;
    }
    free(p);
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (!p) return 0;
    unsigned tag = 0;
    int dom = 0;
    switch (owner_of(p, &tag, &dom)) {
    case OWN_DEBUG: return hs_debug_block_size(p);
    case OWN_SMALL: return hs_small_usable(p);
    case OWN_LARGE: return hs_large_usable_fast(p);
    default: return hs_sys_usable_size(p);
    }
}

/* ---- C++ operator new and delete ----------------------------------------------------
 *
 * Exported under their Itanium C++ ABI names, as mimalloc and tcmalloc do, so
 * that a C++ program's new reaches the fast path directly instead of through
 * libstdc++'s operator new, and so that routing (HEAPSHIM_ROUTE) sees the code
 * that said `new`, not libstdc++ (which calls malloc from inside its own
 * operator). Semantics stay the C++ runtime's: when no memory comes back, the
 * runtime's own operator runs (found once with dlsym(RTLD_NEXT)): its
 * new_handler loop calls malloc (us) again and throws std::bad_alloc, or
 * returns NULL for the nothrow forms. A program that defines its own
 * operator new keeps it (the executable comes first in symbol lookup). The
 * aligned forms (C++17) are left to the runtime, which calls aligned_alloc
 * and free (ours). */

typedef void *(*hs_cxx_new_fn)(size_t);
typedef void *(*hs_cxx_new_nt_fn)(size_t, const void *);

static HS_NOINLINE void *cxx_new_failed(const char *sym, size_t n)
{
    hs_cxx_new_fn next = (hs_cxx_new_fn)dlsym(RTLD_NEXT, sym);
    if (!next) abort();         /* no C++ runtime beneath us: nothing can throw */
    return next(n);
}

static HS_NOINLINE void *cxx_new_nothrow_failed(const char *sym, size_t n, const void *tag)
{
    hs_cxx_new_nt_fn next = (hs_cxx_new_nt_fn)dlsym(RTLD_NEXT, sym);
    return next ? next(n, tag) : NULL;
}

/* operator new(size_t) and operator new[](size_t): the body of malloc, for
 * the caller's address; a failure goes to the runtime */
HS_INLINE void *cxx_malloc(size_t n, const void *ra)
{
    HS_MALLOC_BODY(n, ra);
}

EXPORT void *_Znwm(size_t n);
EXPORT void *_Znwm(size_t n)
{
    void *p = cxx_malloc(n, __builtin_return_address(0));
    return HS_LIKELY(p != NULL) ? p : cxx_new_failed("_Znwm", n);
}
EXPORT void *_Znam(size_t n);
EXPORT void *_Znam(size_t n)
{
    void *p = cxx_malloc(n, __builtin_return_address(0));
    return HS_LIKELY(p != NULL) ? p : cxx_new_failed("_Znam", n);
}
EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const void *tag);
EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const void *tag)
{
    void *p = cxx_malloc(n, __builtin_return_address(0));
    return HS_LIKELY(p != NULL) ? p : cxx_new_nothrow_failed("_ZnwmRKSt9nothrow_t", n, tag);
}
EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const void *tag);
EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const void *tag)
{
    void *p = cxx_malloc(n, __builtin_return_address(0));
    return HS_LIKELY(p != NULL) ? p : cxx_new_nothrow_failed("_ZnamRKSt9nothrow_t", n, tag);
}

/* operator delete and delete[], plain, sized (C++14) and nothrow: free */
EXPORT void _ZdlPv(void *p);
EXPORT void _ZdlPv(void *p) { free_at(p); }
EXPORT void _ZdaPv(void *p);
EXPORT void _ZdaPv(void *p) { free_at(p); }
EXPORT void _ZdlPvm(void *p, size_t n);
EXPORT void _ZdlPvm(void *p, size_t n) { (void)n; free_at(p); }
EXPORT void _ZdaPvm(void *p, size_t n);
EXPORT void _ZdaPvm(void *p, size_t n) { (void)n; free_at(p); }
EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *tag);
EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *tag) { (void)tag; free_at(p); }
EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *tag);
EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *tag) { (void)tag; free_at(p); }
