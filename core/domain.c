/*
 * core/domain.c - the three domains: the hs_ API and the allocator table.
 *
 * Room: the public entry points and the hook table they dispatch through
 * (like CPython's _PyMem_Raw / _PyMem / _PyObject). Default allocators are
 * in alloc.c. The per-thread routing tag (hs_tag_push/pop) lives here too
 * because it is part of the public API; only the interposer acts on it.
 */
#include "internal.h"
#include "alloc_fast.h"

static void *raw_malloc(void *ctx, size_t n) { (void)ctx; return hs_rawsys_malloc(n); }
static void *raw_calloc(void *ctx, size_t ne, size_t es) { (void)ctx; return hs_rawsys_calloc(ne, es); }
static void *raw_realloc(void *ctx, void *p, size_t n) { (void)ctx; return hs_rawsys_realloc(p, n); }
static void  raw_free(void *ctx, void *p) { (void)ctx; hs_rawsys_free(p); }

#define DOM_OF(ctx) ((unsigned)(uintptr_t)(ctx))
static void *py_malloc(void *ctx, size_t n) { return hs_pymalloc_malloc(DOM_OF(ctx), n); }
static void *py_calloc(void *ctx, size_t ne, size_t es) { return hs_pymalloc_calloc(DOM_OF(ctx), ne, es); }
static void *py_realloc(void *ctx, void *p, size_t n) { return hs_pymalloc_realloc(DOM_OF(ctx), p, n); }
static void  py_free(void *ctx, void *p) { (void)ctx; hs_pymalloc_free(p); }

static const hs_allocator_t defaults[HS_NDOMAINS] = {
    { NULL, raw_malloc, raw_calloc, raw_realloc, raw_free },
    { (void *)(uintptr_t)HS_DOMAIN_MEM, py_malloc, py_calloc, py_realloc, py_free },
    { (void *)(uintptr_t)HS_DOMAIN_OBJ, py_malloc, py_calloc, py_realloc, py_free },
};

hs_allocator_t hs_domain_table[HS_NDOMAINS] = {
    { NULL, raw_malloc, raw_calloc, raw_realloc, raw_free },
    { (void *)(uintptr_t)HS_DOMAIN_MEM, py_malloc, py_calloc, py_realloc, py_free },
    { (void *)(uintptr_t)HS_DOMAIN_OBJ, py_malloc, py_calloc, py_realloc, py_free },
};
bool hs_domain_default[HS_NDOMAINS] = { true, true, true };
size_t hs_domain_small_max[HS_NDOMAINS] = { HS_SMALL_MAX, HS_SMALL_MAX, HS_SMALL_MAX };

void hs_get_allocator(hs_domain_t d, hs_allocator_t *out)
{
    if (!out) return;
    if ((unsigned)d >= HS_NDOMAINS) {
        *out = (hs_allocator_t){ 0 };
        return;
    }
    *out = hs_domain_table[d];
}

void hs_set_allocator(hs_domain_t d, const hs_allocator_t *a)
{
    if ((unsigned)d >= HS_NDOMAINS || !a || !a->malloc || !a->calloc || !a->realloc || !a->free)
        return;
    const hs_allocator_t *def = &defaults[d];
    bool is_default = a->ctx == def->ctx && a->malloc == def->malloc && a->calloc == def->calloc &&
                      a->realloc == def->realloc && a->free == def->free;
    hs_domain_table[d] = *a;
    __atomic_store_n(&hs_domain_default[d], is_default, __ATOMIC_RELEASE);
    __atomic_store_n(&hs_domain_small_max[d], is_default ? (size_t)HS_SMALL_MAX : 0, __ATOMIC_RELEASE);
}

/* While a domain has its default allocator, its small requests take the
 * inline fast path directly instead of the table's two calls. */
#define DOMAIN_API(prefix, D, SMALL)                                                  \
    void *prefix##_malloc(size_t n)                                                   \
    {                                                                                 \
        if (SMALL && HS_LIKELY(hs_domain_default[D]) && n <= HS_SMALL_MAX)            \
            return hs_small_malloc_fast(D, n);                                        \
        return hs_domain_table[D].malloc(hs_domain_table[D].ctx, n);                  \
    }                                                                                 \
    void *prefix##_calloc(size_t ne, size_t es)                                       \
    { return hs_domain_table[D].calloc(hs_domain_table[D].ctx, ne, es); }             \
    void *prefix##_realloc(void *p, size_t n)                                         \
    { return hs_domain_table[D].realloc(hs_domain_table[D].ctx, p, n); }              \
    void prefix##_free(void *p)                                                       \
    {                                                                                 \
        unsigned tag = SMALL && HS_LIKELY(hs_domain_default[D]) ? hs_pagemap_get(p) : 0; \
        if (tag) {                                                                    \
            hs_small_free_tagged(p, tag);                                             \
            return;                                                                   \
        }                                                                             \
        if (p) hs_domain_table[D].free(hs_domain_table[D].ctx, p);                    \
    }

DOMAIN_API(hs_raw, HS_DOMAIN_RAW, 0)
DOMAIN_API(hs_mem, HS_DOMAIN_MEM, 1)
DOMAIN_API(hs_obj, HS_DOMAIN_OBJ, 1)

/* ---- per-thread routing tag ------------------------------------------------ */

HS_TLS int hs_tls_tag = -1;

hs_domain_t hs_tag_push(hs_domain_t d)
{
    hs_domain_t prev = (hs_domain_t)hs_tls_tag;
    if ((unsigned)d < HS_NDOMAINS) {
        hs_tls_tag = (int)d;
        hs_tls_plain = NULL;       /* the interposer's untagged fast paths are off */
        hs_tls_fast = NULL;
    }
    return prev;
}

void hs_tag_pop(hs_domain_t prev)
{
    hs_tls_tag = ((unsigned)prev < HS_NDOMAINS) ? (int)prev : -1;
}
