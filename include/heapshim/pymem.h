/*
 * heapshim/pymem.h - opt-in source compatibility with CPython's memory API.
 *
 * Code written against PyMem_* / PyObject_* compiles unchanged against
 * heapshim once it includes this header. These are macros only: libheapshim
 * never exports a PyMem_* or PyObject_* symbol, so it can share a process
 * with a real CPython.
 */
#ifndef HEAPSHIM_PYMEM_H
#define HEAPSHIM_PYMEM_H

#include <heapshim.h>

#define PyMem_RawMalloc(n)          hs_raw_malloc(n)
#define PyMem_RawCalloc(ne, es)     hs_raw_calloc((ne), (es))
#define PyMem_RawRealloc(p, n)      hs_raw_realloc((p), (n))
#define PyMem_RawFree(p)            hs_raw_free(p)

#define PyMem_Malloc(n)             hs_mem_malloc(n)
#define PyMem_Calloc(ne, es)        hs_mem_calloc((ne), (es))
#define PyMem_Realloc(p, n)         hs_mem_realloc((p), (n))
#define PyMem_Free(p)               hs_mem_free(p)

#define PyMem_New(TYPE, n)          HS_MEM_NEW(TYPE, n)
#define PyMem_Resize(p, TYPE, n)    HS_MEM_RESIZE(p, TYPE, n)
#define PyMem_Del(p)                HS_MEM_DEL(p)

/* The deprecated macro spellings, same meaning. */
#define PyMem_MALLOC(n)             PyMem_Malloc(n)
#define PyMem_REALLOC(p, n)         PyMem_Realloc((p), (n))
#define PyMem_FREE(p)               PyMem_Free(p)
#define PyMem_NEW(TYPE, n)          PyMem_New(TYPE, n)
#define PyMem_RESIZE(p, TYPE, n)    PyMem_Resize(p, TYPE, n)
#define PyMem_DEL(p)                PyMem_Del(p)

#define PyObject_Malloc(n)          hs_obj_malloc(n)
#define PyObject_Calloc(ne, es)     hs_obj_calloc((ne), (es))
#define PyObject_Realloc(p, n)      hs_obj_realloc((p), (n))
#define PyObject_Free(p)            hs_obj_free(p)

typedef hs_domain_t          PyMemAllocatorDomain;
#define PYMEM_DOMAIN_RAW     HS_DOMAIN_RAW
#define PYMEM_DOMAIN_MEM     HS_DOMAIN_MEM
#define PYMEM_DOMAIN_OBJ     HS_DOMAIN_OBJ
typedef hs_allocator_t       PyMemAllocatorEx;
typedef hs_arena_allocator_t PyObjectArenaAllocator;
#define PyMem_GetAllocator(d, a)        hs_get_allocator((d), (a))
#define PyMem_SetAllocator(d, a)        hs_set_allocator((d), (a))
#define PyObject_GetArenaAllocator(a)   hs_get_arena_allocator(a)
#define PyObject_SetArenaAllocator(a)   hs_set_arena_allocator(a)
#define PyMem_SetupDebugHooks()         ((void)hs_setup_debug_hooks())

#endif /* HEAPSHIM_PYMEM_H */
