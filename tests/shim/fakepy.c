/*
 * tests/shim/fakepy.c - a stand-in for a CPython executable, for
 * tests/29-python.sh: it exports CPython's allocator API (built with
 * -rdynamic), with allocators of its own that count their calls, so the
 * cases no installed python shows can be checked under the shim:
 *
 *   FAKEPY_VERSION   what Py_GetVersion() says ("3.11.4 (main) [GCC]" if unset)
 *   -DFAKEPY_FT      also exports _Py_DecRefShared, as free-threaded builds do
 *   -DFAKEPY_NONAME  without _PyMem_GetCurrentAllocatorName (the shim tells
 *                    the allocators from their shape)
 *   -DFAKEPY_BADLAYOUT  debug hooks whose ctx is not laid out as CPython's
 *   argv[1]          "plain": CPython's defaults stay as they are;
 *                    "debug": as PYTHONMALLOC=debug, debug hooks laid out as
 *                    CPython's (ids 'r' 'm' 'o' side by side) go on before the
 *                    first arena is asked for;
 *                    "malloc": as PYTHONMALLOC=malloc
 *
 * It prints one line per fact, "FAIL ..." for a broken promise, and exits 1
 * when there was one: blocks from before the shim took over are freed and
 * resized by the allocator that made them, the shim's own blocks never reach
 * it, the debug hooks stay on top and still see every block.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default"), used))

typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
} PyMemAllocatorEx;

typedef struct {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
} PyObjectArenaAllocator;

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL " __VA_ARGS__); printf("\n"); failures++; } } while (0)

/* ---- "CPython's" own allocators, counted -------------------------------------
 * As CPython's: raw is malloc's own blocks (_PyMem_RawMalloc), so under the
 * shim they are the shim's blocks and the shim frees them as free() would;
 * pymalloc's blocks (mem and obj) come from memory it maps itself: here a
 * static area, bump-allocated, a tag word before each block. */
static long raw_made, raw_freed, raw_resized;
static long py_made, py_freed, py_resized;

static void *rawa_malloc(void *c, size_t n) { (void)c; raw_made++; return malloc(n ? n : 1); }
static void *rawa_calloc(void *c, size_t a, size_t b) { (void)c; raw_made++; return calloc(a ? a : 1, b ? b : 1); }
static void *rawa_realloc(void *c, void *p, size_t n)
{
    (void)c;
    if (p) raw_resized++;
    else raw_made++;
    return realloc(p, n ? n : 1);
}
static void rawa_free(void *c, void *p)
{
    (void)c;
    if (p) raw_freed++;
    free(p);
}

#define TAG 0x7079746f6e21ull
static unsigned char area[4 << 20] __attribute__((aligned(16)));
static size_t area_used;
static void *py_new(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (area_used + 16 + n > sizeof area) return NULL;
    uint64_t *h = (uint64_t *)(area + area_used);
    area_used += 16 + n;
    h[0] = TAG;
    h[1] = n;
    py_made++;
    return h + 2;
}
static uint64_t *py_hdr(void *q, const char *what)
{
    uint64_t *h = (uint64_t *)q - 2;
    int in = (unsigned char *)q > area && (unsigned char *)q < area + sizeof area;
    CHECK(in && h[0] == TAG, "pymalloc: %s of a block that is not its own, or freed (%p)", what, q);
    return in && h[0] == TAG ? h : NULL;
}
static void *pyma_malloc(void *c, size_t n) { (void)c; return py_new(n); }
static void *pyma_calloc(void *c, size_t a, size_t b) { (void)c; return py_new(a * b); }   /* static: zeroed */
static void *pyma_realloc(void *c, void *q, size_t n)
{
    (void)c;
    if (!q) return py_new(n);
    uint64_t *h = py_hdr(q, "realloc");
    if (!h) return NULL;
    py_resized++;
    void *r = py_new(n);
    if (r) {
        memcpy(r, q, h[1] < n ? h[1] : n);
        h[0] = 0;
        py_freed++;
    }
    return r;
}
static void pyma_free(void *c, void *q)
{
    (void)c;
    if (!q) return;
    uint64_t *h = py_hdr(q, "free");
    if (!h) return;
    h[0] = 0;
    py_freed++;
}

/* pymalloc's mem and obj share their functions in CPython; so do these */
static PyMemAllocatorEx cur[3] = {
    { NULL, rawa_malloc, rawa_calloc, rawa_realloc, rawa_free },
    { NULL, pyma_malloc, pyma_calloc, pyma_realloc, pyma_free },
    { NULL, pyma_malloc, pyma_calloc, pyma_realloc, pyma_free },
};
static const PyMemAllocatorEx dflt_raw = { NULL, rawa_malloc, rawa_calloc, rawa_realloc, rawa_free };
static const PyMemAllocatorEx dflt_py = { NULL, pyma_malloc, pyma_calloc, pyma_realloc, pyma_free };

EXPORT void PyMem_GetAllocator(int d, PyMemAllocatorEx *a) { if (d >= 0 && d < 3) *a = cur[d]; }
EXPORT void PyMem_SetAllocator(int d, PyMemAllocatorEx *a) { if (d >= 0 && d < 3) cur[d] = *a; }
EXPORT int Py_IsInitialized(void) { return 0; }
EXPORT const char *Py_GetVersion(void)
{
    const char *v = getenv("FAKEPY_VERSION");
    return v ? v : "3.11.4 (main, Jan 1 2024, 00:00:00) [GCC 12.2.0]";
}
#ifdef FAKEPY_FT
EXPORT void _Py_DecRefShared(void *o) { (void)o; }
#endif

/* ---- debug hooks laid out as CPython's ------------------------------------- */
typedef struct { char api_id; PyMemAllocatorEx alloc; } debug_alloc_api_t;
#ifndef FAKEPY_BADLAYOUT
static struct { debug_alloc_api_t raw, mem, obj; } dbg = { { 'r', { 0 } }, { 'm', { 0 } }, { 'o', { 0 } } };
#else   /* hooks of a layout the shim does not know */
static struct { debug_alloc_api_t raw, mem, obj; } dbg = { { 'R', { 0 } }, { 'M', { 0 } }, { 'O', { 0 } } };
#endif
static long dbg_calls, dbg_bad;

static void *dbg_malloc(void *ctx, size_t n)
{
    debug_alloc_api_t *api = ctx;
    dbg_calls++;
    char *p = api->alloc.malloc(api->alloc.ctx, n + 16);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    p[8] = api->api_id;
    return p + 16;
}
static void *dbg_calloc(void *ctx, size_t a, size_t b)
{
    char *p = dbg_malloc(ctx, a * b);
    if (p) memset(p, 0, a * b);
    return p;
}
static void dbg_free(void *ctx, void *q)
{
    debug_alloc_api_t *api = ctx;
    dbg_calls++;
    if (!q) return;
    char *p = (char *)q - 16;
    if (p[8] != api->api_id) dbg_bad++;
    p[8] = 'X';
    api->alloc.free(api->alloc.ctx, p);
}
static void *dbg_realloc(void *ctx, void *q, size_t n)
{
    debug_alloc_api_t *api = ctx;
    if (!q) return dbg_malloc(ctx, n);
    dbg_calls++;
    char *p = (char *)q - 16;
    if (p[8] != api->api_id) dbg_bad++;
    p = api->alloc.realloc(api->alloc.ctx, p, n + 16);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    return p + 16;
}
/* raw has functions of its own in CPython */
static void *dbg_raw_malloc(void *ctx, size_t n) { return dbg_malloc(ctx, n); }
static void *dbg_raw_calloc(void *ctx, size_t a, size_t b) { return dbg_calloc(ctx, a, b); }
static void *dbg_raw_realloc(void *ctx, void *q, size_t n) { return dbg_realloc(ctx, q, n); }
static void dbg_raw_free(void *ctx, void *q) { dbg_free(ctx, q); }

EXPORT void PyMem_SetupDebugHooks(void)
{
    debug_alloc_api_t *apis[3] = { &dbg.raw, &dbg.mem, &dbg.obj };
    for (int d = 0; d < 3; d++) {
        if (cur[d].malloc == dbg_malloc || cur[d].malloc == dbg_raw_malloc) continue;
        apis[d]->alloc = cur[d];
        cur[d] = d == 0 ? (PyMemAllocatorEx){ apis[d], dbg_raw_malloc, dbg_raw_calloc, dbg_raw_realloc, dbg_raw_free }
                        : (PyMemAllocatorEx){ apis[d], dbg_malloc, dbg_calloc, dbg_realloc, dbg_free };
    }
}

#ifndef FAKEPY_NONAME
EXPORT const char *_PyMem_GetCurrentAllocatorName(void)
{
    const PyMemAllocatorEx *a = cur;
    int is_dbg = a[0].malloc == dbg_raw_malloc && a[1].malloc == dbg_malloc && a[2].malloc == dbg_malloc;
    const PyMemAllocatorEx *b = is_dbg ? (PyMemAllocatorEx[]){ dbg.raw.alloc, dbg.mem.alloc, dbg.obj.alloc } : a;
    static PyMemAllocatorEx mal;
    mal = dflt_raw;
    if (!memcmp(&b[0], &mal, sizeof mal) && !memcmp(&b[1], &mal, sizeof mal) && !memcmp(&b[2], &mal, sizeof mal))
        return is_dbg ? "malloc_debug" : "malloc";
    if (!memcmp(&b[0], &dflt_raw, sizeof mal) && !memcmp(&b[1], &dflt_py, sizeof mal) &&
        !memcmp(&b[2], &dflt_py, sizeof mal))
        return is_dbg ? "pymalloc_debug" : "pymalloc";
    return NULL;
}
#endif

/* ---- the arena allocator ------------------------------------------------------ */
static long arenas;
static void *arena_alloc(void *c, size_t n) { (void)c; arenas++; return malloc(n); }
static void arena_free(void *c, void *p, size_t n) { (void)c; (void)n; free(p); }
static PyObjectArenaAllocator arena = { NULL, arena_alloc, arena_free };
EXPORT void PyObject_GetArenaAllocator(PyObjectArenaAllocator *a) { *a = arena; }
EXPORT void PyObject_SetArenaAllocator(PyObjectArenaAllocator *a) { arena = *a; }
static void *VirtualAlloc(size_t n) { return arena.alloc(arena.ctx, n); }
static void VirtualFree(void *p, size_t n) { arena.free(arena.ctx, p, n); }

/* ---- the program ---------------------------------------------------------------- */
static void *A(int d, size_t n) { return cur[d].malloc(cur[d].ctx, n); }
static void *R(int d, void *p, size_t n) { return cur[d].realloc(cur[d].ctx, p, n); }
static void F(int d, void *p) { cur[d].free(cur[d].ctx, p); }

/* Blocks of "CPython's" own allocators from before the shim's constructor:
 * the executable's preinit functions run before any library's initialiser. */
static void *early[3];
static void preinit(int argc, char **argv, char **envp)
{
    (void)argc, (void)argv, (void)envp;
    for (int d = 0; d < 3; d++) early[d] = A(d, 40);
}
__attribute__((section(".preinit_array"), used)) static void (*preinit_p)(int, char **, char **) = preinit;

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "plain";
    setvbuf(stdout, NULL, _IOLBF, 0);
    int at_main = cur[1].malloc != pyma_malloc;
    printf("at main: %s\n", at_main ? "replaced" : "untouched");

    /* pre-initialisation, as PYTHONMALLOC asks: CPython frees what it made
     * so far, rewrites the allocators and makes blocks with the new ones */
    if (!strcmp(mode, "debug") || !strcmp(mode, "malloc")) {
        for (int d = 0; d < 3; d++) F(d, early[d]);
        if (!strcmp(mode, "debug")) {
            cur[0] = dflt_raw;
            cur[1] = cur[2] = dflt_py;
            PyMem_SetupDebugHooks();
        } else {
            cur[0] = cur[1] = cur[2] = dflt_raw;
        }
        for (int d = 0; d < 3; d++) early[d] = A(d, 40);
    }
    long raw_before = raw_made, py_before = py_made;

    /* the interpreter starts: its first arena (the shim re-checks here) */
    void *ar = VirtualAlloc(1 << 16);
    VirtualFree(ar, 1 << 16);
    CHECK(arenas == 1, "the arena allocator beneath the shim's hook was not called (%ld)", arenas);

    int replaced;
    if (!strcmp(mode, "debug")) {
        CHECK(cur[0].malloc == dbg_raw_malloc && cur[1].malloc == dbg_malloc && cur[2].malloc == dbg_malloc,
              "the debug hooks are no longer on top");
        replaced = dbg.mem.alloc.malloc != pyma_malloc;
        CHECK(replaced == (dbg.raw.alloc.malloc != rawa_malloc) && replaced == (dbg.obj.alloc.malloc != pyma_malloc),
              "only some domains beneath the debug hooks were replaced");
    } else if (!strcmp(mode, "malloc")) {
        replaced = cur[1].malloc != rawa_malloc;
    } else {
        replaced = cur[1].malloc != pyma_malloc;
    }
    printf("after start: %s\n", replaced ? "replaced" : "untouched");

    /* the program runs: new blocks, and the early ones resized and freed */
    long dbg_before = dbg_calls;
    static void *mine[3][64];
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < 64; i++) {
            mine[d][i] = A(d, (size_t)i * 24);
            CHECK(mine[d][i] != NULL, "domain %d: allocation of %d bytes failed", d, i * 24);
            if (mine[d][i]) memset(mine[d][i], 0x5a, (size_t)i * 24);
        }
    for (int d = 0; d < 3; d++) {
        memset(early[d], 0x33, 40);
        void *e = R(d, early[d], 4000);
        CHECK(e != NULL && ((unsigned char *)e)[39] == 0x33, "domain %d: realloc of an early block failed", d);
        F(d, e ? e : early[d]);
        for (int i = 0; i < 64; i++) {
            void *q = R(d, mine[d][i], (size_t)i * 40 + 1);
            CHECK(q != NULL, "domain %d: realloc failed", d);
            CHECK(!q || i == 0 || ((unsigned char *)q)[i * 24 - 1] == 0x5a, "domain %d: realloc lost the data", d);
            F(d, q ? q : mine[d][i]);
        }
    }
    if (replaced) {
        /* every new block was the shim's; the early pymalloc blocks went back
         * to pymalloc (the early raw block was malloc's: the shim's own) */
        CHECK(raw_made == raw_before && py_made == py_before + (!strcmp(mode, "malloc") ? 0 : 2),
              "new blocks came from the replaced allocators (raw %ld, pymalloc %ld)", raw_made - raw_before,
              py_made - py_before);
        if (strcmp(mode, "malloc"))
            CHECK(py_resized == 2, "%ld of the 2 early pymalloc blocks were resized by pymalloc", py_resized);
    } else {
        /* pymalloc's realloc here always makes a new block: 2 early, 128 others */
        CHECK(raw_made + py_made - raw_before - py_before == 3 * 64 + (!strcmp(mode, "malloc") ? 0 : 2 + 128),
              "the program's allocators made %ld blocks", raw_made + py_made - raw_before - py_before);
        /* (a raw block, malloc's, that the shim saw is freed by the shim) */
        CHECK(at_main || raw_made == raw_freed, "%ld raw blocks not freed", raw_made - raw_freed);
    }
    if (!strcmp(mode, "debug")) {
        CHECK(dbg_calls - dbg_before == 3 * (64 + 64 + 64 + 2), "the debug hooks saw %ld calls, not 582", dbg_calls - dbg_before);
        CHECK(dbg_bad == 0, "the debug hooks saw %ld blocks of another API", dbg_bad);
    }
    CHECK(py_made == py_freed, "%ld pymalloc blocks were never given back to it", py_made - py_freed);
    printf("%s\n", failures ? "failed" : "ok");
    return failures ? 1 : 0;
}
