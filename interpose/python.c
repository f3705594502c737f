/*
 * interpose/python.c - heapshim as CPython's allocator, in an unmodified
 * python (issue 13).
 *
 * Room: a process whose executable or one of its libraries exports CPython's
 * allocator API (PyMem_GetAllocator, PyMem_SetAllocator, ...: Debian's
 * /usr/bin/python3.11 links CPython statically and exports it; a program
 * linked with libpython3.X.so does too) gets heapshim as the allocator of
 * CPython's three domains, without PYTHONMALLOC and without any change to
 * the program:
 *
 *   PyMem_RawMalloc & co. -> hs_py_raw_*  -> hs_raw_*   raw: glibc, counted in raw
 *   PyMem_Malloc & co.    -> hs_py_mem_*  -> heapshim's arenas (<= 1024 B), counted in mem
 *   PyObject_Malloc & co. -> hs_py_obj_*  -> heapshim's arenas (<= 1024 B), counted in obj
 *
 * CPython's semantics are the hs_ API's own (0 bytes -> a distinct block,
 * realloc(p, 0) keeps a block). Plain malloc calls (C extensions, libc,
 * CPython's own direct ones) are untouched: the interposer routes them as
 * before (tags, HEAPSHIM_ROUTE, mem).
 *
 * Whose block is it. CPython hands us every pointer of its domain, also
 * those that the allocator before us handed out (CPython's pymalloc arenas,
 * glibc's malloc before installation). The core's classifier decides -- the
 * page map, then the sealed large-block header (in the shim's debug modes
 * both on the block behind the debug header), as override.c's owner_of():
 * a block of the core's is freed or resized by the core, in the block's own
 * domain; anything else goes to the allocator we replaced (prev[]), which
 * made it. A block from glibc's malloc through the shim (CPython's raw
 * domain before us is malloc) is the core's too, and the core frees it as
 * free() would, in the domain it was counted in. Like free(), the header
 * test reads the 16 bytes before a pointer that is not in our pools: every
 * block CPython's own allocators hand out has readable bytes there (a
 * pymalloc pool header or the previous block, glibc's chunk header).
 *
 * When. CPython's pre-initialisation (Python/preconfig.c, _PyPreConfig_Write)
 * rewrites the allocators when PYTHONMALLOC or -X dev asks for it; after it,
 * the documented moment for a custom allocator is before the interpreter
 * starts threads. In a statically linked python3.11 the executable calls
 * Py_BytesMain, Py_InitializeFromConfig... directly, so none of them can be
 * interposed. Two points are used instead:
 *   1. the shim's constructor, before main: the allocators are CPython's
 *      static defaults; install over them. With default settings CPython
 *      never rewrites them, and every block is counted from the first one.
 *      Before _PyPreConfig_Write, CPython allocates only raw blocks and frees
 *      each before the rewrite (it forces its default raw allocator around
 *      what must survive), so a later rewrite never meets a block of ours
 *      in the wrong hooks; the shim's free() handles ours anyway.
 *   2. the first call of CPython's arena allocator, hooked at the same time
 *      (PyObject_SetArenaAllocator; pre-initialisation leaves it alone): it
 *      comes after pre-initialisation and before any Python thread -- the
 *      first pymalloc arena when pymalloc runs, or in 3.11+ the first frame
 *      stack chunk (_PyObject_VirtualAlloc) while the interpreter starts.
 *      There the allocators are checked again:
 *        ours still                  -> nothing to do
 *        pymalloc (PYTHONMALLOC=pymalloc|default) -> install over it again
 *        pymalloc + debug hooks (PYTHONMALLOC=debug|pymalloc_debug, -X dev,
 *          PYTHONDEVMODE)            -> install *beneath* the hooks: ours in
 *          their place, then PyMem_SetupDebugHooks() wraps ours, so the hooks
 *          still check every block (guards, API ids, dead bytes)
 *        malloc, malloc_debug (PYTHONMALLOC=malloc...) -> left alone: the
 *          user asked for malloc, which is the shim's anyway (counted in mem,
 *          or where HEAPSHIM_ROUTE sends it)
 *        anything else (a program's own allocator, tracemalloc) -> left alone.
 *      Every later call only forwards to CPython's arena allocator.
 * An interpreter loaded later (libpython dlopen()ed by an editor or plugin
 * host, RTLD_GLOBAL or RTLD_LOCAL): while none has been found and once the
 * program has called dlopen, every anonymous mmap of the program looks at
 * the object that called it (once per object): one that exports
 * PyMem_SetAllocator gets point 1 with that object as the lookup scope.
 * CPython's first such mmap is pymalloc's first arena (or 3.11's first
 * frame chunk), after pre-initialisation; the arena hook still re-checks.
 * Blocks pymalloc handed out before stay its own (prev[]).
 * Whether the current allocators are CPython's pymalloc, malloc or its debug
 * hooks is asked of CPython itself (_PyMem_GetCurrentAllocatorName, exported
 * since 3.8) when it exports that, else told from their shape; the debug
 * hooks' ctx is CPython's debug_alloc_api_t {char api_id; PyMemAllocatorEx
 * alloc;}, the same from 3.4 to 3.13, checked (ids 'r' 'm' 'o', three side
 * by side) before it is read.
 *
 * Left alone, with one warning line: free-threaded builds (3.13t+: the
 * object allocator is mimalloc and cannot be replaced), versions other than
 * 3.8 to 3.13, an API with symbols missing, and debug hooks of an unknown
 * layout. Left alone silently: an interpreter that is already running when
 * the shim starts (the shim dlopen()ed by python), and PYTHONMALLOCSTATS
 * (pymalloc's statistics, which CPython prints only from pymalloc).
 * HEAPSHIM_PYTHON=0 turns all of it off.
 */
#include "shim.h"
#include "../core/owner.h"
#include "python.h"
#include "deepbind.h"
#include "../core/alloc_fast.h"
#include "../core/large.h"
#include "../core/debug.h"
#include "pyframes.h"
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/* CPython's PyMemAllocatorEx and PyObjectArenaAllocator (Include/cpython/
 * pymem.h, Include/cpython/objimpl.h; unchanged since 3.5 and 3.4) */
typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
} py_allocator_t;

typedef struct {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
} py_arena_allocator_t;

/* the ctx of CPython's debug hooks (Objects/obmalloc.c, debug_alloc_api_t) */
struct py_debug_api {
    char api_id;
    py_allocator_t alloc;
};

/* PYMEM_DOMAIN_RAW, _MEM, _OBJ are 0, 1, 2 as ours */
_Static_assert(HS_DOMAIN_RAW == 0 && HS_DOMAIN_MEM == 1 && HS_DOMAIN_OBJ == 2, "CPython's domain numbers");

static struct {
    void (*get)(int, py_allocator_t *);
    void (*set)(int, py_allocator_t *);
    void (*setup_debug_hooks)(void);
    void (*get_arena)(py_arena_allocator_t *);
    void (*set_arena)(py_arena_allocator_t *);
    int (*is_initialized)(void);
    const char *(*current_name)(void);     /* optional */
} api;

/* The allocator beneath us in each domain: pointers that are not the
 * core's go back to it. Written while no other thread can call us. */
static py_allocator_t prev[HS_NDOMAINS];
static py_arena_allocator_t prev_arena;
static enum hs_python_state state;
static int rechecked;

enum hs_python_state hs_python_state(void) { return state; }

const char *hs_python_state_name(enum hs_python_state s)
{
    static const char *const names[] = {
        [HS_PY_ABSENT] = "absent", [HS_PY_OFF] = "off", [HS_PY_UNSUPPORTED] = "unsupported",
        [HS_PY_RUNNING] = "running", [HS_PY_INSTALLED] = "installed",
        [HS_PY_UNDER_DEBUG] = "under_debug_hooks", [HS_PY_LEFT_MALLOC] = "left_malloc",
        [HS_PY_LEFT_OTHER] = "left_other", [HS_PY_LEFT_STATS] = "left_mallocstats",
    };
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "?";
}

/* ---- whose block: the core's one classifier -------------------------------- */

/* The domain of a block of the core's, or -1: not the core's (the allocator
 * beneath us made it). As override.c's owner_of(): the page map, then the
 * sealed large header; in debug modes both on the block behind the debug
 * header, whose own header then says the domain. */
static int owner_domain(const void *p)
{
    unsigned tag;
    if (HS_UNLIKELY(hs_shim.debug)) {
        const char *inner = (const char *)p - hs_debug_header_size();
        return hs_core_owner(inner, &tag) >= 0 ? hs_debug_block_domain(p) : -1;
    }
    return hs_core_owner(p, &tag);
}

/* ---- the allocators we install ------------------------------------------------ */

/*
 * Two sets of functions, chosen once at start (hs_shim.debug does not change
 * after it): the plain set, where a block of the core's is one of its small
 * blocks or a large block without a debug header, and the debug set for the
 * shim's own debug modes (HEAPSHIM_ALLOCATOR=debug), where every block of
 * the core's sits behind a debug header and goes through the domain table.
 * The plain set's mem and obj functions are the ones every Python object
 * takes: the core's small fast paths inline, with no test that only the
 * debug modes need. (CPython's own debug hooks, PYTHONMALLOC=debug or -X
 * dev, wrap whichever set is installed; they do not change it.)
 */

/* mem and obj: the small fast path of the core inline (a bin pop and its
 * counting), as hs_mem_malloc would do it, without the call. The domain
 * test stays: a program that links the core may replace a domain's
 * allocator (hs_set_allocator) at any time. */
HS_INLINE void *small_malloc(unsigned D, size_t n)
{
    hs_heap_t *h = hs_tls_heap;
    /* 1..HS_SMALL_MAX with the domain's default in place (one compare,
     * hs_domain_small_max): the size class is then (n - 1) >> 4 (0 bytes,
     * rare, take the call) */
    if (HS_LIKELY(h != NULL) && HS_LIKELY(n - 1 < HS_LOAD(&hs_domain_small_max[D]))) {
        /* hs_domain_small_max is HS_SMALL_MAX or 0: tell the compiler, so
         * that the class needs no widening */
        if (n - 1 >= HS_SMALL_MAX) __builtin_unreachable();
        bool due;
        void *p = hs_fast_small_malloc_cls(h, D, (n - 1) >> 4, n, &due);
        if (HS_LIKELY(p != NULL)) {
            if (HS_UNLIKELY(due)) return hs_claim_then(h->slot, D, p);
            return p;
        }
        /* an empty bin, the slot's enter check or a sample: the core's
         * small slow path itself, not through the domain's entry point */
        return hs_small_malloc_slow(D, n);
    }
    /* above HS_SMALL_MAX, the domain's default allocator in place: the core's
     * counted large block, without the domain table's two calls */
    if (n > HS_SMALL_MAX && HS_LIKELY(hs_domain_default[D])) return hs_counted_large(D, n, false, 0);
    return D == HS_DOMAIN_MEM ? hs_mem_malloc(n) : hs_obj_malloc(n);
}

/* calloc of a small block: the same, zeroed (as hs_pymalloc_calloc) */
HS_INLINE void *small_calloc(unsigned D, size_t ne, size_t es)
{
    size_t n;
    if (HS_LIKELY(!__builtin_mul_overflow(ne, es, &n)) && HS_LIKELY(n <= HS_SMALL_MAX)) {
        void *p = small_malloc(D, n);
        if (HS_LIKELY(p != NULL)) memset(p, 0, n);
        return p;
    }
    return D == HS_DOMAIN_MEM ? hs_mem_calloc(ne, es) : hs_obj_calloc(ne, es);
}

/* Any free in the shim's debug modes, and in the plain set a block that is
 * not a small one (a large block, one of the allocator beneath us, NULL). */
static HS_NOINLINE void free_slow(unsigned D, void *p)
{
    if (!p) return;
    int dom = owner_domain(p);
    if (dom >= 0) {
        const hs_allocator_t *a = &hs_domain_table[dom];
        a->free(a->ctx, p);
        return;
    }
    prev[D].free(prev[D].ctx, p);
}

/* A block of the core's pools that is not a small block of D (another
 * domain's, one of a pool that never had a class) */
static HS_NOINLINE void free_tagged(void *p, unsigned tag)
{
    hs_small_free_tagged(p, tag);
}

/* The plain set's free. For mem and obj the page map's tag is tested for a
 * small block of D itself first: then the domain is a constant and only the
 * class comes from the tag. */
HS_INLINE void py_free(unsigned D, void *p)
{
    unsigned tag = hs_pagemap_get(p);
    if (D != HS_DOMAIN_RAW) {
        unsigned base = HS_SMALLDOM(D) * HS_NCLASSES, cls = tag - 1u - base;
        if (HS_LIKELY(cls < HS_NCLASSES)) {
            hs_heap_t *h = hs_tls_heap;
            bool due;
            if (HS_LIKELY(h != NULL) && HS_LIKELY(hs_fast_small_free_cls(h, p, HS_SMALLDOM(D), cls, &due))) {
                if (HS_UNLIKELY(due)) hs_release_then(h->slot, D);
                return;
            }
            hs_small_free_slow(p, D, cls);
            return;
        }
    }
    if (tag != 0) free_tagged(p, tag);
    else free_slow(D, p);
}

/* realloc, after the small fast path (or without it: the debug set): the
 * allocator beneath us for its blocks, the core's domain table for the
 * core's, which keeps a block in its own domain */
static HS_NOINLINE void *realloc_slow(unsigned D, void *p, size_t n)
{
    if (!p) {
        if (D == HS_DOMAIN_RAW) return hs_raw_malloc(n);
        return small_malloc(D, n);
    }
    int dom = owner_domain(p);
    if (dom >= 0) {
        const hs_allocator_t *a = &hs_domain_table[dom];
        return a->realloc(a->ctx, p, n);
    }
    return prev[D].realloc(prev[D].ctx, p, n);
}

/* the sampling countdown ran out on a small realloc: the sampler may take it */
static HS_NOINLINE void *realloc_sampled(unsigned D, hs_heap_t *h, void *p, unsigned tag, size_t n)
{
    void *sp = hs_sample_realloc(h, p, 0, n);
    if (sp) return sp;
    void *q = hs_fast_small_realloc(h, p, tag, n);
    if (HS_LIKELY(q != NULL)) return q;
    return realloc_slow(D, p, n);
}

/* The plain set's realloc: a small block staying small in place or by a
 * bin pop and push (the interposer's realloc does the same), charged to the
 * sampler first */
HS_INLINE void *py_realloc(unsigned D, void *p, size_t n)
{
    hs_heap_t *h = hs_tls_heap;
    if (HS_LIKELY(h != NULL) && n - 1 < HS_SMALL_MAX) {
        unsigned tag = hs_pagemap_get(p);          /* p NULL has none */
        if (tag != 0 && HS_LIKELY(hs_domain_default[(tag - 1) / HS_NCLASSES + 1])) {
            /* a realloc that leaves the block as it is allocates nothing:
             * not charged (hs_realloc_stays, core/internal.h) */
            if (!hs_small_realloc_stays(tag, n) && HS_UNLIKELY(hs_sample_charge(h, n)))
                return realloc_sampled(D, h, p, tag, n);
            void *q = hs_fast_small_realloc(h, p, tag, n);
            if (HS_LIKELY(q != NULL)) return q;
        }
    }
    return realloc_slow(D, p, n);
}

/* Named functions, one set per domain, so that an outside observer
 * (bpftrace uprobes, tests/29-python.sh) can count CPython's calls of each
 * domain where they arrive: malloc, calloc and realloc(NULL, n) are the
 * allocations (the debug set's realloc and free carry a _dbg suffix). */
static HS_NOINLINE void *hs_py_raw_malloc(void *ctx, size_t n) { (void)ctx; return hs_raw_malloc(n); }
static HS_NOINLINE void *hs_py_raw_calloc(void *ctx, size_t ne, size_t es) { (void)ctx; return hs_raw_calloc(ne, es); }
static HS_NOINLINE void *hs_py_raw_realloc(void *ctx, void *p, size_t n) { (void)ctx; return py_realloc(HS_DOMAIN_RAW, p, n); }
static HS_NOINLINE void hs_py_raw_free(void *ctx, void *p) { (void)ctx; py_free(HS_DOMAIN_RAW, p); }

static HS_NOINLINE void *hs_py_mem_malloc(void *ctx, size_t n) { (void)ctx; return small_malloc(HS_DOMAIN_MEM, n); }
static HS_NOINLINE void *hs_py_mem_calloc(void *ctx, size_t ne, size_t es) { (void)ctx; return small_calloc(HS_DOMAIN_MEM, ne, es); }
static HS_NOINLINE void *hs_py_mem_realloc(void *ctx, void *p, size_t n) { (void)ctx; return py_realloc(HS_DOMAIN_MEM, p, n); }
static HS_NOINLINE void hs_py_mem_free(void *ctx, void *p) { (void)ctx; py_free(HS_DOMAIN_MEM, p); }

static HS_NOINLINE void *hs_py_obj_malloc(void *ctx, size_t n) { (void)ctx; return small_malloc(HS_DOMAIN_OBJ, n); }
static HS_NOINLINE void *hs_py_obj_calloc(void *ctx, size_t ne, size_t es) { (void)ctx; return small_calloc(HS_DOMAIN_OBJ, ne, es); }
static HS_NOINLINE void *hs_py_obj_realloc(void *ctx, void *p, size_t n) { (void)ctx; return py_realloc(HS_DOMAIN_OBJ, p, n); }
static HS_NOINLINE void hs_py_obj_free(void *ctx, void *p) { (void)ctx; py_free(HS_DOMAIN_OBJ, p); }

/* the debug set: realloc and free through the domain table (malloc and
 * calloc find hs_domain_default off there and take it too) */
static HS_NOINLINE void *hs_py_raw_realloc_dbg(void *ctx, void *p, size_t n) { (void)ctx; return realloc_slow(HS_DOMAIN_RAW, p, n); }
static HS_NOINLINE void hs_py_raw_free_dbg(void *ctx, void *p) { (void)ctx; free_slow(HS_DOMAIN_RAW, p); }
static HS_NOINLINE void *hs_py_mem_realloc_dbg(void *ctx, void *p, size_t n) { (void)ctx; return realloc_slow(HS_DOMAIN_MEM, p, n); }
static HS_NOINLINE void hs_py_mem_free_dbg(void *ctx, void *p) { (void)ctx; free_slow(HS_DOMAIN_MEM, p); }
static HS_NOINLINE void *hs_py_obj_realloc_dbg(void *ctx, void *p, size_t n) { (void)ctx; return realloc_slow(HS_DOMAIN_OBJ, p, n); }
static HS_NOINLINE void hs_py_obj_free_dbg(void *ctx, void *p) { (void)ctx; free_slow(HS_DOMAIN_OBJ, p); }

static const py_allocator_t ours_plain[HS_NDOMAINS] = {
    { NULL, hs_py_raw_malloc, hs_py_raw_calloc, hs_py_raw_realloc, hs_py_raw_free },
    { NULL, hs_py_mem_malloc, hs_py_mem_calloc, hs_py_mem_realloc, hs_py_mem_free },
    { NULL, hs_py_obj_malloc, hs_py_obj_calloc, hs_py_obj_realloc, hs_py_obj_free },
};
static const py_allocator_t ours_debug[HS_NDOMAINS] = {
    { NULL, hs_py_raw_malloc, hs_py_raw_calloc, hs_py_raw_realloc_dbg, hs_py_raw_free_dbg },
    { NULL, hs_py_mem_malloc, hs_py_mem_calloc, hs_py_mem_realloc_dbg, hs_py_mem_free_dbg },
    { NULL, hs_py_obj_malloc, hs_py_obj_calloc, hs_py_obj_realloc_dbg, hs_py_obj_free_dbg },
};
/* the set in use: chosen by hs_python_start, before the first install */
static const py_allocator_t *ours = ours_plain;

/* ---- what CPython has installed ------------------------------------------------- */

enum kind {
    K_OURS,
    K_PYMALLOC,            /* CPython's default: malloc for raw, pymalloc for mem and obj */
    K_PYMALLOC_DEBUG,      /* the debug hooks over pymalloc (their layout checked) */
    K_MALLOC,              /* malloc for all three */
    K_MALLOC_DEBUG,
    K_DEBUG_UNKNOWN,       /* debug hooks, but not in the layout we know */
    K_OTHER,               /* someone else's */
};

static bool same(const py_allocator_t *a, const py_allocator_t *b)
{
    return a->ctx == b->ctx && a->malloc == b->malloc && a->calloc == b->calloc &&
           a->realloc == b->realloc && a->free == b->free;
}

/* pymalloc or malloc, told from the shape: CPython's own have no ctx; mem
 * and obj share pymalloc's functions; malloc is the same in all three */
static enum kind shape(const py_allocator_t a[HS_NDOMAINS])
{
    if (a[0].ctx || a[1].ctx || a[2].ctx || !same(&a[1], &a[2])) return K_OTHER;
    return same(&a[0], &a[1]) ? K_MALLOC : K_PYMALLOC;
}

/* CPython's debug hooks: their ctx is &_PyMem_Debug.{raw,mem,obj}, three
 * debug_alloc_api_t side by side with ids 'r' 'm' 'o'; mem and obj share
 * _PyMem_DebugMalloc & co., raw has _PyMem_DebugRawMalloc & co. The
 * pointers are compared before anything is read through them. Fills
 * beneath[] with the allocators the hooks wrap. */
static bool debug_layout(const py_allocator_t a[HS_NDOMAINS], py_allocator_t beneath[HS_NDOMAINS])
{
    static const char ids[HS_NDOMAINS] = { 'r', 'm', 'o' };
    const size_t step = sizeof(struct py_debug_api);
    if (!a[0].ctx || (uintptr_t)a[1].ctx != (uintptr_t)a[0].ctx + step ||
        (uintptr_t)a[2].ctx != (uintptr_t)a[1].ctx + step)
        return false;
    if (a[1].malloc != a[2].malloc || a[1].free != a[2].free || a[0].malloc == a[1].malloc)
        return false;
    for (unsigned d = 0; d < HS_NDOMAINS; d++) {
        const struct py_debug_api *dbg = a[d].ctx;
        if (dbg->api_id != ids[d]) return false;
        beneath[d] = dbg->alloc;
        if (!beneath[d].malloc || !beneath[d].calloc || !beneath[d].realloc || !beneath[d].free) return false;
    }
    return true;
}

static enum kind classify(const py_allocator_t cur[HS_NDOMAINS], py_allocator_t beneath[HS_NDOMAINS])
{
    if (same(&cur[0], &ours[0]) && same(&cur[1], &ours[1]) && same(&cur[2], &ours[2])) return K_OURS;
    if (api.current_name) {
        const char *name = api.current_name();
        if (!name) return K_OTHER;
        if (!strcmp(name, "pymalloc")) return shape(cur) == K_PYMALLOC ? K_PYMALLOC : K_OTHER;
        if (!strcmp(name, "malloc")) return K_MALLOC;
        if (!strcmp(name, "malloc_debug")) return K_MALLOC_DEBUG;
        if (!strcmp(name, "pymalloc_debug"))
            return debug_layout(cur, beneath) && shape(beneath) == K_PYMALLOC ? K_PYMALLOC_DEBUG : K_DEBUG_UNKNOWN;
        return K_OTHER;       /* e.g. 3.13's "mimalloc" */
    }
    enum kind k = shape(cur);
    if (k != K_OTHER) return k;
    if (!debug_layout(cur, beneath)) return K_OTHER;
    k = shape(beneath);
    return k == K_PYMALLOC ? K_PYMALLOC_DEBUG : k == K_MALLOC ? K_MALLOC_DEBUG : K_DEBUG_UNKNOWN;
}

static void warn_once(const char *a, const char *b, const char *c)
{
    static int warned;
    if (__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED)) return;
    hs_shim_warn(a, b, c);
}

static void get_all(py_allocator_t cur[HS_NDOMAINS])
{
    for (int d = 0; d < HS_NDOMAINS; d++) api.get(d, &cur[d]);
}

/* over CPython's pymalloc: ours in its place, its blocks still its own */
static void install_over(const py_allocator_t cur[HS_NDOMAINS])
{
    for (int d = 0; d < HS_NDOMAINS; d++) prev[d] = cur[d];
    for (int d = 0; d < HS_NDOMAINS; d++) api.set(d, (py_allocator_t *)&ours[d]);
    state = HS_PY_INSTALLED;
}

/* beneath CPython's debug hooks: ours on top for a moment, then CPython
 * wraps ours with its hooks (PyMem_SetupDebugHooks keeps the allocator it
 * finds beneath them). The hooks' own state (_PyMem_Debug) is written only
 * by CPython. */
static void install_beneath(const py_allocator_t cur[HS_NDOMAINS], const py_allocator_t beneath[HS_NDOMAINS])
{
    for (int d = 0; d < HS_NDOMAINS; d++) prev[d] = beneath[d];
    for (int d = 0; d < HS_NDOMAINS; d++) api.set(d, (py_allocator_t *)&ours[d]);
    api.setup_debug_hooks();
    py_allocator_t now[HS_NDOMAINS];
    get_all(now);
    bool ok = true;
    for (int d = 0; d < HS_NDOMAINS; d++) {
        const struct py_debug_api *dbg = cur[d].ctx;
        ok = ok && same(&now[d], &cur[d]) && same(&dbg->alloc, &ours[d]);
    }
    if (ok) {
        state = HS_PY_UNDER_DEBUG;
        return;
    }
    /* not what CPython 3.8-3.13 do: put everything back as it was */
    for (int d = 0; d < HS_NDOMAINS; d++) {
        struct py_debug_api *dbg = cur[d].ctx;
        if (same(&dbg->alloc, &ours[d])) dbg->alloc = beneath[d];
        api.set(d, (py_allocator_t *)&cur[d]);
    }
    state = HS_PY_LEFT_OTHER;
    warn_once("python: CPython's debug hooks did not take heapshim beneath them;",
              " CPython's allocators left as they were", "");
}

/* Look at CPython's allocators and take the domains where we can. */
static void take_over(void)
{
    py_allocator_t cur[HS_NDOMAINS], beneath[HS_NDOMAINS];
    get_all(cur);
    switch (classify(cur, beneath)) {
    case K_OURS:
        break;
    case K_PYMALLOC:
        install_over(cur);
        break;
    case K_PYMALLOC_DEBUG:
        install_beneath(cur, beneath);
        break;
    case K_MALLOC:
    case K_MALLOC_DEBUG:
        state = HS_PY_LEFT_MALLOC;
        break;
    case K_DEBUG_UNKNOWN:
        state = HS_PY_LEFT_OTHER;
        warn_once("python: CPython's debug hooks are not laid out as heapshim knows them;",
                  " CPython's allocators left alone", "");
        break;
    case K_OTHER:
        state = HS_PY_LEFT_OTHER;
        break;
    }
}

/* ---- the re-check: CPython's arena allocator -------------------------------------- */

static void *arena_alloc(void *ctx, size_t n)
{
    (void)ctx;
    if (HS_UNLIKELY(!__atomic_load_n(&rechecked, __ATOMIC_ACQUIRE)) &&
        !__atomic_exchange_n(&rechecked, 1, __ATOMIC_ACQ_REL))
        take_over();
    return prev_arena.alloc(prev_arena.ctx, n);
}

static void arena_free(void *ctx, void *p, size_t n)
{
    (void)ctx;
    prev_arena.free(prev_arena.ctx, p, n);
}

/* ---- start ------------------------------------------------------------------------- */

static bool word_in(const char *v, const char *const *words)
{
    for (; *words; words++)
        if (!strcmp(v, *words)) return true;
    return false;
}

/* HEAPSHIM_PYTHON: on unless a false boolean; a bad value warns (when
 * warn) and is off */
static bool wanted_as(bool warn);
static bool wanted(void) { return wanted_as(true); }
static bool wanted_quiet(void) { return wanted_as(false); }
static bool wanted_as(bool warn)
{
    static const char *const yes[] = { "1", "yes", "true", "on", NULL };
    static const char *const no[] = { "0", "no", "false", "off", NULL };
    const char *v = hs_shim_getenv("HEAPSHIM_PYTHON");
    /* malloc mode is accounting only: the program keeps its own allocators
     * (CPython's pymalloc included) unless HEAPSHIM_PYTHON=1 asks; replacing
     * pymalloc there made python 1.7x slower with 1.2-1.4x the peak RSS
     * (every object a glibc block behind our 16-byte header) */
    if (!v || !*v) return hs_shim.mode != HS_MODE_MALLOC;
    if (word_in(v, yes)) return true;
    if (warn && !word_in(v, no)) {
        char shown[64];
        size_t len = strlen(v);
        if (len > sizeof shown - 4) len = sizeof shown - 4;
        memcpy(shown, v, len);
        strcpy(shown + len, strlen(v) > len ? "..." : "");
        hs_shim_warn("HEAPSHIM_PYTHON='", shown,
                     "': not a boolean (accepted: 1/0, yes/no, true/false, on/off); off: CPython's allocators left alone");
    }
    return false;
}

/* where CPython's API is looked up: the whole process at start, the object
 * that brought it for an interpreter loaded later */
static void *py_scope = RTLD_DEFAULT;

static void *sym(const char *name)
{
    return dlsym(py_scope, name);
}

/* "3.11.2 (main, ...) [GCC 12.2.0]" -> 3, 11 */
static bool parse_version(const char *s, unsigned *major, unsigned *minor)
{
    unsigned v[2] = { 0, 0 };
    for (int i = 0; i < 2; i++) {
        if (*s < '0' || *s > '9') return false;
        while (*s >= '0' && *s <= '9' && v[i] < 1000) v[i] = v[i] * 10 + (unsigned)(*s++ - '0');
        if (i == 0 && *s++ != '.') return false;
    }
    *major = v[0];
    *minor = v[1];
    return true;
}

static void fmt_version(char *buf, size_t size, const char *vs)
{
    size_t n = 0;
    while (vs && vs[n] && vs[n] != ' ' && n + 1 < size) {
        buf[n] = vs[n];
        n++;
    }
    buf[n] = 0;
}

/* Which CPython is this: true for a build we can take over (its version
 * in *major, *minor), else false with one warning line. */
static bool supported(unsigned *major_out, unsigned *minor_out)
{
    const char *(*get_version)(void) = (const char *(*)(void))sym("Py_GetVersion");
    const unsigned long *hexversion = sym("Py_Version");      /* 3.11+ */
    const char *vs = get_version ? get_version() : NULL;
    unsigned major = 0, minor = 0;
    bool known;
    if (hexversion) {
        major = (unsigned)((*hexversion >> 24) & 0xff);
        minor = (unsigned)((*hexversion >> 16) & 0xff);
        known = true;
    } else {
        known = vs && parse_version(vs, &major, &minor);
    }
    char shown[32];
    fmt_version(shown, sizeof shown, vs ? vs : "?");
    /* free-threaded: the version says so, or the symbols only such builds export */
    if ((vs && strstr(vs, "free-threading")) || sym("_Py_DecRefShared") || sym("_Py_MergeZeroLocalRefcount")) {
        warn_once("python: CPython ", shown,
                  " is a free-threaded build (its object allocator cannot be replaced);"
                  " CPython's allocators left alone");
        return false;
    }
    if (!known || major != 3 || minor < 8 || minor > 13) {
        warn_once("python: CPython version ", shown,
                  " is not one heapshim knows (3.8 to 3.13); CPython's allocators left alone");
        return false;
    }
    *major_out = major;
    *minor_out = minor;
    return true;
}

int hs_python_watch;
#if defined(__x86_64__)
extern uint32_t hs_db_opens;   /* deepbind.c */
#endif

void hs_python_start(void)
{
    if (hs_initialized != 2) return;
    /* asked of the symbol tables first: a process without CPython (nearly
     * every one) then makes no failing dlsym, whose error only dlerror()
     * clears, and dlerror() formats with asprintf (deepbind.h) */
    bool listed = hs_elf_defines(NULL, "PyMem_SetAllocator");
    api.set = listed ? (void (*)(int, py_allocator_t *))sym("PyMem_SetAllocator") : NULL;
    if (!api.set) {
        if (listed) (void)dlerror();   /* leave no error behind for the program's dlerror() */
        state = HS_PY_ABSENT;
#if defined(__x86_64__)
        if (py_scope == RTLD_DEFAULT && wanted_quiet()) __atomic_store_n(&hs_python_watch, 1, __ATOMIC_RELAXED);
#endif
        return;
    }
    if (!wanted()) {
        state = HS_PY_OFF;
        return;
    }
    api.get = (void (*)(int, py_allocator_t *))sym("PyMem_GetAllocator");
    api.setup_debug_hooks = (void (*)(void))sym("PyMem_SetupDebugHooks");
    api.get_arena = (void (*)(py_arena_allocator_t *))sym("PyObject_GetArenaAllocator");
    api.set_arena = (void (*)(py_arena_allocator_t *))sym("PyObject_SetArenaAllocator");
    api.is_initialized = (int (*)(void))sym("Py_IsInitialized");
    api.current_name = (const char *(*)(void))sym("_PyMem_GetCurrentAllocatorName");
    bool complete = api.get && api.setup_debug_hooks && api.get_arena && api.set_arena && api.is_initialized;
    unsigned major = 0, minor = 0;
    bool ok = complete && supported(&major, &minor);
    (void)dlerror();
    if (!complete)
        warn_once("python: CPython's allocator API is incomplete in this process (PyMem_GetAllocator,"
                  " PyMem_SetupDebugHooks, PyObject_{Get,Set}ArenaAllocator, Py_IsInitialized);",
                  " CPython's allocators left alone", "");
    if (!ok) {
        state = HS_PY_UNSUPPORTED;
        return;
    }
    /* the profile's Python frames: whoever allocates, from here on */
    hs_pyframes_start(sym, major, minor);
    if (api.is_initialized()) {
        state = HS_PY_RUNNING;
        return;
    }
    /* PYTHONMALLOCSTATS asks for pymalloc's statistics at exit, which CPython
     * prints only while pymalloc is its allocator: pymalloc stays */
    const char *stats = hs_shim_getenv("PYTHONMALLOCSTATS");
    if (stats && *stats) {
        state = HS_PY_LEFT_STATS;
        return;
    }
    ours = hs_shim.debug ? ours_debug : ours_plain;
    take_over();
    api.get_arena(&prev_arena);
    if (prev_arena.alloc && prev_arena.free) {
        py_arena_allocator_t hook = { NULL, arena_alloc, arena_free };
        api.set_arena(&hook);
    }
}

/* ---- an interpreter loaded later ---------------------------------------------------- */

/*
 * ra: the caller of an anonymous mmap, while no interpreter has been found
 * and the program has called dlopen. Each object is looked at once (the
 * last few are remembered); one exporting PyMem_SetAllocator gets the start
 * procedure with its own scope. Serialised: the first thread in looks, the
 * others pass (an interpreter starting up runs in one thread).
 */
void hs_python_late(const void *ra)
{
#if defined(__x86_64__)
    static int busy;
    static uintptr_t seen[8], callers[16];  /* objects looked at; call sites already known */
    static unsigned nseen, ncallers;
    if (!__atomic_load_n(&hs_db_opens, __ATOMIC_RELAXED)) return;       /* nothing loaded since start */
    if (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE)) return;
    /* a program's mmaps come from a few call sites: those are compared
     * before dladdr (which walks the loader's list under its lock) */
    bool again = false;
    for (unsigned i = 0; i < ncallers && i < 16; i++) again |= callers[i] == (uintptr_t)ra;
    Dl_info info;
    if (!again) callers[ncallers++ % 16] = (uintptr_t)ra;
    if (!again && state == HS_PY_ABSENT && dladdr(ra, &info) && info.dli_fname && info.dli_fbase) {
        uintptr_t base = (uintptr_t)info.dli_fbase;
        bool known = false;
        for (unsigned i = 0; i < nseen && i < 8; i++) known |= seen[i] == base;
        if (!known) {
            seen[nseen++ % 8] = base;
            void *h = hs_elf_defines(ra, "PyMem_SetAllocator") ? dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD) : NULL;
            if (h && dlsym(h, "PyMem_SetAllocator")) {
                py_scope = h;           /* kept open: CPython's functions are called from now on */
                hs_python_start();
                if (state != HS_PY_ABSENT) __atomic_store_n(&hs_python_watch, 0, __ATOMIC_RELAXED);
            } else if (h) {
                dlclose(h);
            }
            (void)dlerror();
        }
    }
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
#else
    (void)ra;
#endif
}
