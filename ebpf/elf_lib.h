/*
 * ebpf/elf_lib.h - what heapshim-probe needs to know about a library file
 * (ebpf/elf_lib.c): where `hs_live` sits and which heapshim USDT points the
 * file declares. Plain C, no libbpf: fuzzed alone (tools/fuzz/fuzz_elf.c).
 */
#ifndef HS_EBPF_ELF_LIB_H
#define HS_EBPF_ELF_LIB_H
#include <stddef.h>
#include <stdint.h>

struct hsp_elf_info {
    uint64_t sym_off;       /* &hs_live minus the address of file offset 0; 0 = not found */
    int usdt_publish;       /* a stapsdt note heapshim:publish */
    int usdt_init;          /* a stapsdt note heapshim:init */
    unsigned notes;         /* stapsdt notes seen (any provider) */
};

/* Inspect an ELF64 image of len bytes held in memory (the probe maps the
 * file read-only and privately). Every offset and size read from the file is
 * checked against len before use: the probe runs as root, and the path may
 * be any file. 0 when the image is an ELF64 file (info filled, possibly with
 * nothing found), -1 when it is not (info zeroed). */
int hsp_elf_inspect(const unsigned char *f, size_t len, struct hsp_elf_info *info);

#endif
