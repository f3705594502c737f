/*
 * core/pagemap.c - which 16 KiB pools of the address space are ours.
 *
 * Room: the ownership table only. One bit per HS_POOL_SIZE slot of a 48-bit
 * address space, in two levels:
 *
 *   address bits  47 ........ 31 | 30 ........ 14 | 13 ... 0
 *                 root index (17) | leaf bit (17)  | offset in pool
 *
 * The root (2^17 pointers, 1 MiB of .bss that is only touched where used) is
 * static; a leaf (2^17 bits = 16 KiB, covers 2 GiB) is mapped on first use and
 * never freed, so a lookup racing with an arena release reads a valid leaf.
 * hs_pagemap_test() (internal.h) reads only this table -- never the memory the
 * pointer points to -- which is what lets free() accept foreign pointers.
 * Writers hold the arena lock.
 */
#include "internal.h"

uint64_t *hs_pagemap_root[1u << HS_PM_ROOT_BITS];

int hs_pagemap_mark(uintptr_t first_pool, unsigned npools, bool on)
{
    for (unsigned i = 0; i < npools; i++) {
        uintptr_t a = first_pool + (uintptr_t)i * HS_POOL_SIZE;
        if (a >> 48) return -1;
        uint64_t **slot = &hs_pagemap_root[a >> 31];
        uint64_t *leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (!leaf) {
            if (!on) continue;
            leaf = hs_os_map((1u << HS_PM_LEAF_BITS) / 8);
            if (!leaf) return -1;
            __atomic_store_n(slot, leaf, __ATOMIC_RELEASE);
        }
        uintptr_t bit = (a >> 14) & ((1u << HS_PM_LEAF_BITS) - 1);
        uint64_t m = 1ull << (bit & 63);
        if (on) __atomic_fetch_or(&leaf[bit >> 6], m, __ATOMIC_RELEASE);
        else __atomic_fetch_and(&leaf[bit >> 6], ~m, __ATOMIC_RELEASE);
    }
    return 0;
}
