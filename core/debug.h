/*
 * core/debug.h - internal view of the debug hooks (core/debug.c).
 *
 * Room: what the LD_PRELOAD interposer needs to route a plain free(p),
 * realloc(p) or malloc_usable_size(p) to the right domain while the debug
 * hooks are on. Not public API; touches nothing but the 16 bytes before p.
 *
 * Block layout under the hooks (user pointer p, 16-aligned):
 *
 *   p-16      p-8  p-7   p-6 .. p-1     p .. p+n-1    p+n .. p+n+7
 *   +---------+----+-----+-------------+-------------+-------------+
 *   | size n  |tag |state| 6 x 0xFD    | data        | 8 x 0xFD    |
 *   +---------+----+-----+-------------+-------------+-------------+
 *    size_t   'r'/'m'/'o' live/freed     leading guard  tail guard
 *
 * The underlying allocator sees one block starting at p-16.
 */
#ifndef HS_CORE_DEBUG_H
#define HS_CORE_DEBUG_H

#include <stddef.h>

/* 1 once hs_setup_debug_hooks() has installed the hooks on all domains. */
int hs_debug_installed(void);

/* Bytes of debug header before each user pointer (16). */
size_t hs_debug_header_size(void);

/* The domain (0 raw, 1 mem, 2 obj) recorded in the header of user pointer p,
 * or -1 if the header does not look like one of ours (domain tag, state byte
 * and the outermost leading guard byte are checked). Reads only the 16 bytes
 * before p; the caller guarantees they are readable. A block already freed
 * through the hooks still answers, so that a second free reaches the hooks
 * and is reported as a double free rather than handed on blindly; so does a
 * block with a short underrun (up to 5 bytes), for the same reason. */
int hs_debug_block_domain(const void *p);

/* 1 if the header of user pointer p (one hs_debug_block_domain accepts)
 * says the block was already freed through the hooks. */
int hs_debug_block_freed(const void *p);
/* The size requested for user pointer p (same preconditions as above). */
size_t hs_debug_block_size(const void *p);

#endif /* HS_CORE_DEBUG_H */
