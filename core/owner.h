/*
 * core/owner.h - whose block is this: the core's one ownership test.
 *
 * Room: the question every path that is handed a pointer asks (free,
 * realloc, malloc_usable_size in interpose/override.c; CPython's domains in
 * interpose/python.c; the debug layer's own check). Asked in one place so
 * that the answer cannot differ between them. Reads only the page map and,
 * for a pointer not in our pools, the 16 bytes before it (large.h).
 */
#ifndef HS_CORE_OWNER_H
#define HS_CORE_OWNER_H
#include "internal.h"
#include "large.h"

/* The domain of a block the core handed out, or -1: not the core's. *tag:
 * the page-map byte of a small block (nonzero), 0 for a large one. */
HS_INLINE int hs_core_owner(const void *p, unsigned *tag)
{
    unsigned t = hs_pagemap_get(p);
    *tag = t;
    if (t) return t == HS_PM_OWNED ? (int)hs_small_domain(p) : (int)((t - 1) / HS_NCLASSES + 1);
    if (hs_large_owns_fast(p)) return (int)hs_large_dom(p);
    return -1;
}

#endif
