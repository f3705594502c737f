/*
 * interpose/mapped.c - the program's own anonymous mappings (mapped memory).
 *
 * Room: libc's mmap, mmap64, munmap, mremap, mprotect and madvise, exported
 * over glibc's, and the register of which pages they made. Counts into the
 * live header's mapped block (include/heapshim/live.h, "Mapped memory");
 * calls the kernel through core/prim/sys.c's raw system calls. Touches no
 * allocator state.
 *
 * What is counted: anonymous private mappings (MAP_PRIVATE|MAP_ANONYMOUS)
 * made through these symbols by the program or any library it loaded --
 * GC heaps (gcc's cc1), JIT heaps (V8), arenas of allocators the shim does
 * not replace (CPython's pymalloc when it is left alone). A page counts
 * while it is mapped and accessible: PROT_NONE reservations (V8 reserves
 * gigabytes that way and commits with mprotect) count from the mprotect
 * that opens them, and stop at the one that closes them.
 * What is not: file and MAP_SHARED mappings; glibc's own mappings (its
 * malloc's large blocks and heaps, thread stacks, the loader's: glibc calls
 * its internal __mmap, which is not this symbol); the shim's own (the core
 * makes raw system calls, and any call from inside libheapshim.so itself --
 * livefile.c, deepbind.c -- is passed through uncounted); raw syscall(2)
 * mappings; libraries loaded with RTLD_DEEPBIND (they bind glibc's mmap
 * first); static binaries (no preload at all).
 * madvise(MADV_DONTNEED / MADV_FREE) counts a discard (calls, and the
 * counted bytes it covered) and changes nothing else: the pages stay
 * mapped and come back at the next touch, which no call reports.
 *
 * Attribution: a mapping's bytes go to the domain its caller is routed to
 * (hs_route: the thread's tag, then HEAPSHIM_ROUTE's rules on the calling
 * object, else mem), decided when it is mapped and kept by its pages
 * through mremap and mprotect.
 *
 * The register: one byte per 4 KiB page of the 47-bit user address space,
 * in a two-level table (one leaf of 256 KiB per GiB touched, mapped on
 * demand, never given back; a page of leaf covers 16 MiB of address space).
 * Its cost is 1/4096 of what the program maps, reservations included: a
 * 32 GiB PROT_NONE reservation (a JVM's heap) costs 8 MiB of register.
 * Mappings above 2^47 (5-level paging) are not counted.
 * A byte is 0 for a page that is not ours, else (domain + 1) | NONE when it
 * is PROT_NONE. All updates and the counters' change run under one lock,
 * between two increments of the header's mseq (odd meanwhile): the mapped
 * figures are then one consistent state and the peaks exact. Bytes are
 * taken away before the system call that frees them (munmap, mremap's old
 * range, MAP_FIXED over our pages) and added after the one that maps them,
 * so live never exceeds what the kernel holds of them; mprotect counts when
 * it returns. A munmap or mremap the kernel refuses puts the range back as
 * it was when it was all of one state (one mapping); a refused munmap over
 * several of our mappings (ENOMEM on a split past vm.max_map_count) leaves
 * those pages uncounted. Ranges the kernel refuses outright (unaligned,
 * empty, past the address space) do not touch the register.
 */
#include "shim.h"
#include "mapped.h"
#include "python.h"
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>

#define EXPORT __attribute__((visibility("default")))

#define PG_SHIFT   12
#define PG         (1ul << PG_SHIFT)
#define VA_BITS    47
#define LEAF_SHIFT 30                               /* a leaf covers 1 GiB */
#define LEAF_PAGES (1ul << (LEAF_SHIFT - PG_SHIFT)) /* 262144 bytes per leaf */
#define TOP_N      (1ul << (VA_BITS - LEAF_SHIFT))  /* 131072 leaves */
#define ST_NONE    4u                               /* PROT_NONE: not counted */

static unsigned char **top;                         /* TOP_N leaf pointers, or NULL */
static hs_lock_t reg_lock = HS_LOCK_INIT;

/* ---- the shim's own code --------------------------------------------------- */

static uintptr_t self_lo, self_hi;                 /* libheapshim.so's range; 0: not known yet */

static bool from_shim(const void *ra)
{
    uintptr_t lo = __atomic_load_n(&self_lo, __ATOMIC_ACQUIRE);
    if (HS_UNLIKELY(!lo)) {
        struct dl_find_object fo;
        if (_dl_find_object((void *)(uintptr_t)&from_shim, &fo) != 0) return false;
        __atomic_store_n(&self_hi, (uintptr_t)fo.dlfo_map_end, __ATOMIC_RELAXED);
        __atomic_store_n(&self_lo, (uintptr_t)fo.dlfo_map_start, __ATOMIC_RELEASE);
        lo = (uintptr_t)fo.dlfo_map_start;
    }
    return (uintptr_t)ra - lo < __atomic_load_n(&self_hi, __ATOMIC_RELAXED) - lo;
}

/* ---- the register (reg_lock held) -------------------------------------------- */

static bool reg_setup(void)
{
    if (top) return true;
    void *t = hs_os_mmap(NULL, TOP_N * sizeof *top, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (t == MAP_FAILED) return false;
    top = t;
    return true;
}

static unsigned char *leaf(uintptr_t page, bool make)
{
    uintptr_t i = page >> (LEAF_SHIFT - PG_SHIFT);
    if (!top || i >= TOP_N) return NULL;
    if (!top[i] && make) {
        void *l = hs_os_mmap(NULL, LEAF_PAGES, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (l != MAP_FAILED) top[i] = l;
    }
    return top[i];
}

HS_INLINE bool counted(unsigned st) { return st && !(st & ST_NONE); }
HS_INLINE unsigned st_dom(unsigned st) { return (st & 3u) - 1; }

/* Set every page of [lo, hi) (page numbers) to st, adding to delta[] the
 * change of counted bytes per domain. Returns the pages that were ours. */
static uint64_t reg_set(uintptr_t lo, uintptr_t hi, unsigned st, int64_t delta[3])
{
    uint64_t ours = 0;
    while (lo < hi) {
        uintptr_t end = (lo | (LEAF_PAGES - 1)) + 1;
        if (end > hi) end = hi;
        unsigned char *l = leaf(lo, st != 0);
        if (l) {
            unsigned char *b = l + (lo & (LEAF_PAGES - 1));
            size_t n = end - lo;
            uint64_t hist[8] = { 0 };
            for (size_t k = 0; k < n; k++) hist[b[k] & 7]++;
            for (unsigned s = 1; s < 8; s++) {
                if (!hist[s]) continue;
                ours += hist[s];
                if (counted(s)) delta[st_dom(s)] -= (int64_t)(hist[s] << PG_SHIFT);
            }
            if (st || ours) memset(b, (int)st, n);
            if (counted(st)) delta[st_dom(st)] += (int64_t)(n << PG_SHIFT);
        }
        lo = end;
    }
    return ours;
}

/* Open (none = false) or close our pages of [lo, hi) to access. */
static uint64_t reg_protect(uintptr_t lo, uintptr_t hi, bool none, int64_t delta[3])
{
    uint64_t changed = 0;
    while (lo < hi) {
        uintptr_t end = (lo | (LEAF_PAGES - 1)) + 1;
        if (end > hi) end = hi;
        unsigned char *l = leaf(lo, false);
        for (uintptr_t p = lo; l && p < end; p++) {
            unsigned char *b = &l[p & (LEAF_PAGES - 1)];
            unsigned st = *b;
            if (!st || (bool)(st & ST_NONE) == none) continue;
            *b = (unsigned char)(none ? st | ST_NONE : st & ~ST_NONE);
            delta[st_dom(st)] += none ? -(int64_t)PG : (int64_t)PG;
            changed++;
        }
        lo = end;
    }
    return changed;
}

/* Counted bytes in [lo, hi). */
static uint64_t reg_counted(uintptr_t lo, uintptr_t hi)
{
    uint64_t n = 0;
    while (lo < hi) {
        uintptr_t end = (lo | (LEAF_PAGES - 1)) + 1;
        if (end > hi) end = hi;
        const unsigned char *l = leaf(lo, false);
        if (l)
            for (uintptr_t p = lo; p < end; p++) n += counted(l[p & (LEAF_PAGES - 1)]);
        lo = end;
    }
    return n << PG_SHIFT;
}

/* The state of page lo, and whether [lo, hi) all has it. */
static unsigned reg_state(uintptr_t lo, uintptr_t hi, bool *uniform)
{
    const unsigned char *l = lo < hi ? leaf(lo, false) : NULL;
    unsigned st = l ? l[lo & (LEAF_PAGES - 1)] : 0;
    *uniform = true;
    while (lo < hi && *uniform) {
        uintptr_t end = (lo | (LEAF_PAGES - 1)) + 1;
        if (end > hi) end = hi;
        const unsigned char *m = leaf(lo, false);
        if (!m) {
            if (st) *uniform = false;           /* a leaf of pages that are not ours */
        } else {
            for (uintptr_t p = lo; p < end; p++)
                if (m[p & (LEAF_PAGES - 1)] != st) {
                    *uniform = false;
                    break;
                }
        }
        lo = end;
    }
    return st;
}

/* ---- the counters (reg_lock held) ------------------------------------------------ */

enum { MEV_NONE, MEV_MAP, MEV_UNMAP, MEV_REMAP, MEV_PROTECT, MEV_DISCARD };

static void publish(const int64_t delta[3], int ev, uint64_t discard_bytes)
{
    struct hs_live_header *h = hs_live;
    if (!h) return;
    struct hs_live_mapped *m = &h->mapped;
    uint64_t seq = HS_LOAD(&h->mseq);
    __atomic_store_n(&h->mseq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    int64_t sum = 0;
    for (int d = 0; d < 3; d++) {
        if (!delta[d]) continue;
        uint64_t v = HS_LOAD(&m->live_bytes[d]) + (uint64_t)delta[d];
        HS_STORE(&m->live_bytes[d], v);
        if (v > HS_LOAD(&m->peak_bytes[d])) HS_STORE(&m->peak_bytes[d], v);
        sum += delta[d];
    }
    if (sum) {
        uint64_t v = HS_LOAD(&m->live_bytes[HS_LIVE_TOTAL]) + (uint64_t)sum;
        HS_STORE(&m->live_bytes[HS_LIVE_TOTAL], v);
        if (v > HS_LOAD(&m->peak_bytes[HS_LIVE_TOTAL])) HS_STORE(&m->peak_bytes[HS_LIVE_TOTAL], v);
    }
    switch (ev) {
    case MEV_MAP: HS_STORE(&m->maps, HS_LOAD(&m->maps) + 1); break;
    case MEV_UNMAP: HS_STORE(&m->unmaps, HS_LOAD(&m->unmaps) + 1); break;
    case MEV_REMAP: HS_STORE(&m->remaps, HS_LOAD(&m->remaps) + 1); break;
    case MEV_PROTECT: HS_STORE(&m->protects, HS_LOAD(&m->protects) + 1); break;
    case MEV_DISCARD:
        HS_STORE(&m->discards, HS_LOAD(&m->discards) + 1);
        HS_STORE(&m->discard_bytes, HS_LOAD(&m->discard_bytes) + discard_bytes);
        break;
    default: break;
    }
    __atomic_store_n(&h->mseq, seq + 2, __ATOMIC_RELEASE);
}

/* reg_lock released: the publication reads the mapped block itself */
static void after_update(void) { hs_live_mapped_changed(); }

HS_FORK_CODE void hs_mapped_fork(int phase)
{
    static bool taken;
    if (phase == 0) taken = hs_lock_for_fork(&reg_lock);
    else if (phase == 1) {
        if (taken) hs_unlock(&reg_lock);
    } else {
        hs_lock_reset(&reg_lock);
    }
}

/* ---- the exported functions ------------------------------------------------------ */

/* true when the call's pages are to be counted at all: the live header is
 * up (starting the shim if this is the process's first call of ours) and
 * the caller is not the shim itself */
static bool counting(const void *ra)
{
    if (HS_UNLIKELY(hs_initialized != 2)) {
        hs__init();
        if (hs_initialized != 2) return false;   /* the shim is starting on this thread */
    }
    return hs_live && !from_shim(ra);
}

/* page numbers, clamped to the 47-bit address space the register covers
 * (a huge length must not walk 2^52 pages) */
#define PG_LIMIT (1ul << (VA_BITS - PG_SHIFT))
HS_INLINE uintptr_t pg_lo(const void *p)
{
    uintptr_t lo = (uintptr_t)p >> PG_SHIFT;
    return lo < PG_LIMIT ? lo : PG_LIMIT;
}
HS_INLINE uintptr_t pg_hi(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p, e;
    if (__builtin_add_overflow(a, n, &e) || e > (uintptr_t)-PG) return PG_LIMIT;
    e = (e + PG - 1) >> PG_SHIFT;
    return e < PG_LIMIT ? e : PG_LIMIT;
}
HS_INLINE bool aligned(const void *p) { return !((uintptr_t)p & (PG - 1)); }

static HS_NOINLINE void *do_mmap(const void *ra, void *addr, size_t len, int prot, int flags, int fd,
                                  off_t off)
{
    bool count = counting(ra);
    bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
    int64_t delta[3] = { 0, 0, 0 };
    /* MAP_FIXED drops what was there, before the call (it may do so even
     * when it fails) */
    if (count && (flags & MAP_FIXED) && aligned(addr) && len && top) {
        hs_lock(&reg_lock);
        if (reg_set(pg_lo(addr), pg_hi(addr, len), 0, delta)) publish(delta, MEV_UNMAP, 0);
        hs_unlock(&reg_lock);
    }
    if (count && (flags & MAP_ANONYMOUS)) {
        if (prot != PROT_NONE) hs_sys_note(len);                  /* arena.c's kept ones */
        if (HS_UNLIKELY(hs_python_watching())) hs_python_late(ra); /* python.h */
    }
    void *p = hs_os_mmap(addr, len, prot, flags, fd, (long)off);
    if (!count || p == MAP_FAILED) return p;
    bool mine = (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE;
    if (!mine && !(fixed && top)) return p;       /* not ours, and nothing of ours replaced */
    hs_lock(&reg_lock);
    if (reg_setup()) {
        unsigned st = mine ? (hs_route(ra) + 1) | (prot == PROT_NONE ? ST_NONE : 0) : 0;
        memset(delta, 0, sizeof delta);
        reg_set(pg_lo(p), pg_hi(p, len), st, delta);
        if (mine || delta[0] || delta[1] || delta[2]) publish(delta, mine ? MEV_MAP : MEV_UNMAP, 0);
    }
    hs_unlock(&reg_lock);
    after_update();
    return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return do_mmap(__builtin_return_address(0), addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return do_mmap(__builtin_return_address(0), addr, len, prot, flags, fd, off);
}

/* a range the kernel accepts for munmap: page-aligned, not empty, inside
 * the user address space (else EINVAL, and nothing is unmapped) */
static bool valid_range(const void *addr, size_t len)
{
    uintptr_t a = (uintptr_t)addr, e;
    return len && aligned(addr) && !__builtin_add_overflow(a, len, &e) && e <= (PG_LIMIT << PG_SHIFT);
}

EXPORT int munmap(void *addr, size_t len)
{
    if (!top || !hs_live || !valid_range(addr, len) || from_shim(__builtin_return_address(0)))
        return hs_os_munmap(addr, len);
    int64_t delta[3] = { 0, 0, 0 };
    uintptr_t lo = pg_lo(addr), hi = pg_hi(addr, len);
    bool uniform;
    hs_lock(&reg_lock);
    unsigned st = reg_state(lo, hi, &uniform);
    if (reg_set(lo, hi, 0, delta)) publish(delta, MEV_UNMAP, 0);
    hs_unlock(&reg_lock);
    after_update();
    int r = hs_os_munmap(addr, len);
    if (r != 0 && st && uniform) {           /* refused (ENOMEM): as it was */
        int e = errno;
        memset(delta, 0, sizeof delta);
        hs_lock(&reg_lock);
        reg_set(lo, hi, st, delta);
        publish(delta, MEV_NONE, 0);
        hs_unlock(&reg_lock);
        errno = e;
    }
    return r;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    if (!top || !hs_live || !valid_range(old, old_len) || from_shim(__builtin_return_address(0)))
        return hs_os_mremap(old, old_len, new_len, flags, new_addr);
    int64_t delta[3] = { 0, 0, 0 };
    bool uniform;
    uintptr_t lo = pg_lo(old), hi = pg_hi(old, old_len);
    /* the old range goes first (the kernel may hand it out again before we
     * are back); a mapping is one VMA, of one state unless its pages came
     * from callers routed to different domains (then the first page's) */
    hs_lock(&reg_lock);
    unsigned st = reg_state(lo, hi, &uniform);
    if (st || !uniform) reg_set(lo, hi, 0, delta);
    bool ours = st != 0;
    if (delta[0] || delta[1] || delta[2]) publish(delta, MEV_NONE, 0);
    hs_unlock(&reg_lock);
    void *p = hs_os_mremap(old, old_len, new_len, flags, new_addr);
    if (!ours) return p;
    int e = errno;
    memset(delta, 0, sizeof delta);
    hs_lock(&reg_lock);
    if (p == MAP_FAILED) {
        reg_set(lo, hi, st, delta);               /* nothing moved: as it was */
        publish(delta, MEV_NONE, 0);
    } else {
        if (flags & MREMAP_DONTUNMAP) reg_set(lo, hi, st, delta);   /* still mapped, emptied */
        reg_set(pg_lo(p), pg_hi(p, new_len), st, delta);
        publish(delta, MEV_REMAP, 0);
    }
    hs_unlock(&reg_lock);
    after_update();
    errno = e;
    return p;
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
    int r = hs_os_mprotect(addr, len, prot);
    if (r == 0 && top && len && hs_live && !from_shim(__builtin_return_address(0))) {
        int64_t delta[3] = { 0, 0, 0 };
        hs_lock(&reg_lock);
        if (reg_protect(pg_lo(addr), pg_hi(addr, len), prot == PROT_NONE, delta))
            publish(delta, MEV_PROTECT, 0);
        hs_unlock(&reg_lock);
        after_update();
    }
    return r;
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
    int r = hs_os_madvise(addr, len, advice);
    if (r == 0 && (advice == MADV_DONTNEED || advice == MADV_FREE) && top && len && hs_live &&
        !from_shim(__builtin_return_address(0))) {
        int e = errno;
        hs_lock(&reg_lock);
        uint64_t n = reg_counted(pg_lo(addr), pg_hi(addr, len));
        int64_t none[3] = { 0, 0, 0 };
        if (n) publish(none, MEV_DISCARD, n);
        hs_unlock(&reg_lock);
        after_update();
        errno = e;
    }
    return r;
}
