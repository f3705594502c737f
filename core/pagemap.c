/*
 * core/pagemap.c - which 16 KiB pools of the address space are ours, and
 * what each one is used for.
 *
 * Room: the ownership table only. One byte per HS_POOL_SIZE slot of a 48-bit
 * address space, in two levels:
 *
 *   address bits  47 ........ 31 | 30 ........ 14 | 13 ... 0
 *                 root index (17) | leaf byte (17) | offset in pool
 *
 * The root (2^17 pointers, 1 MiB of .bss that is only touched where used) is
 * static; a leaf (2^17 bytes = 128 KiB of address space, covers 2 GiB, of
 * which only the pages holding marked pools are ever touched) is mapped on
 * first use and never freed, so a lookup racing with an arena release reads a
 * valid leaf. A byte is 0 (not ours), HS_PM_OWNED (a pool of one of our
 * arenas, no class yet) or hs_pm_tag(sd, cls) (internal.h).
 * hs_pagemap_get() (internal.h) reads only this table -- never the memory the
 * pointer points to -- which is what lets free() accept foreign pointers.
 * Writers: marking holds the arena lock, hs_pagemap_set the pool's class lock.
 */
#include "internal.h"

uint8_t *hs_pagemap_root[1u << HS_PM_ROOT_BITS] HS_COLD_BSS;
uint8_t hs_core_blocks_out;

HS_INLINE uint8_t *leaf_byte(uint8_t *leaf, uintptr_t a)
{
    return &leaf[(a >> 14) & ((1u << HS_PM_LEAF_BITS) - 1)];
}

int hs_pagemap_mark(uintptr_t first_pool, unsigned npools, bool on)
{
    if (on) hs_note_core_block();
    for (unsigned i = 0; i < npools; i++) {
        uintptr_t a = first_pool + (uintptr_t)i * HS_POOL_SIZE;
        if (a >> 48) return -1;
        uint8_t **slot = &hs_pagemap_root[a >> 31];
        uint8_t *leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (!leaf) {
            if (!on) continue;
            leaf = hs_os_map(1u << HS_PM_LEAF_BITS);
            if (!leaf) return -1;
            __atomic_store_n(slot, leaf, __ATOMIC_RELEASE);
        }
        __atomic_store_n(leaf_byte(leaf, a), on ? (uint8_t)HS_PM_OWNED : 0, __ATOMIC_RELEASE);
    }
    return 0;
}

void hs_pagemap_set(uintptr_t pool, unsigned tag)
{
    uint8_t *leaf = __atomic_load_n(&hs_pagemap_root[pool >> 31], __ATOMIC_ACQUIRE);
    __atomic_store_n(leaf_byte(leaf, pool), (uint8_t)tag, __ATOMIC_RELEASE);
}
