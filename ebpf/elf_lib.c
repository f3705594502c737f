/*
 * ebpf/elf_lib.c - the probe's ELF reader: the `hs_live` symbol and the
 * stapsdt (USDT) notes of a library file.
 *
 * Room: pure parsing of bytes in memory (no I/O, no allocation), so that it
 * can be fuzzed on its own (tools/fuzz/fuzz_elf.c) -- it runs as root in
 * heapshim-probe on a file named by --lib or $HEAPSHIM_LIB. Every offset,
 * count and size is checked against the image before it is used, in a form
 * that cannot overflow (compare with len - offset, never offset + size).
 *
 * Why both: the pull iterator needs hs_live's offset (the symbol is hidden,
 * but a library that is not stripped keeps it in .symtab); the push path
 * needs the USDT points, and telling "built without <sys/sdt.h>" from "cannot
 * attach" needs the notes. Attaching itself is libbpf's (it parses the notes
 * again, its own way).
 */
#include "elf_lib.h"
#include <elf.h>
#include <string.h>

/* [off, off + size) inside [0, len) */
static int in_image(uint64_t off, uint64_t size, size_t len)
{
    return off <= len && size <= len - off;
}

/* The address of the PT_LOAD segment mapping file offset 0 (page aligned). */
static int load_base(const unsigned char *f, size_t len, const Elf64_Ehdr *eh, uint64_t *base)
{
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || !in_image(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), len))
        return -1;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, f + eh->e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
        if (ph.p_type == PT_LOAD && (ph.p_offset & ~0xfffull) == 0) {
            *base = ph.p_vaddr & ~0xfffull;
            return 0;
        }
    }
    return -1;
}

static void find_symbol(const unsigned char *f, size_t len, const Elf64_Ehdr *eh, uint64_t base,
                        struct hsp_elf_info *info)
{
    static const char want[] = "hs_live";
    for (int pass = 0; pass < 2 && !info->sym_off; pass++) {
        unsigned type = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;
        for (unsigned i = 0; i < eh->e_shnum && !info->sym_off; i++) {
            Elf64_Shdr sh, st;
            memcpy(&sh, f + eh->e_shoff + (uint64_t)i * sizeof sh, sizeof sh);
            if (sh.sh_type != type || sh.sh_link >= eh->e_shnum || sh.sh_entsize != sizeof(Elf64_Sym))
                continue;
            memcpy(&st, f + eh->e_shoff + (uint64_t)sh.sh_link * sizeof st, sizeof st);
            if (!in_image(sh.sh_offset, sh.sh_size, len) || !in_image(st.sh_offset, st.sh_size, len))
                continue;
            const char *str = (const char *)f + st.sh_offset;
            uint64_t nsym = sh.sh_size / sizeof(Elf64_Sym);
            for (uint64_t k = 0; k < nsym; k++) {
                Elf64_Sym sym;
                memcpy(&sym, f + sh.sh_offset + k * sizeof sym, sizeof sym);
                if (ELF64_ST_TYPE(sym.st_info) != STT_OBJECT || sym.st_size != 8 || !sym.st_value ||
                    sym.st_name >= st.sh_size || st.sh_size - sym.st_name < sizeof want ||
                    memcmp(str + sym.st_name, want, sizeof want) != 0)
                    continue;
                if (sym.st_value > base) info->sym_off = sym.st_value - base;
                break;
            }
        }
    }
}

/* strnlen within [p, end) or -1 if unterminated */
static long cstr(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *z = memchr(p, 0, (size_t)(end - p));
    return z ? (long)(z - p) : -1;
}

/* Notes of one SHT_NOTE section: namesz, descsz, type, name (4-aligned),
 * desc (4-aligned). A stapsdt note: name "stapsdt", type 3, desc = three
 * 8-byte addresses, then provider, probe name, argument string. */
static void scan_notes(const unsigned char *p, uint64_t size, struct hsp_elf_info *info)
{
    uint64_t off = 0;
    while (size - off >= 12) {
        uint32_t nh[3];
        memcpy(nh, p + off, sizeof nh);
        uint64_t namesz = nh[0], descsz = nh[1], type = nh[2];
        uint64_t name_al = (namesz + 3) & ~3ull, desc_al = (descsz + 3) & ~3ull;
        off += 12;
        if (name_al > size - off) return;
        const unsigned char *name = p + off;
        off += name_al;
        if (desc_al > size - off) return;
        const unsigned char *desc = p + off;
        off += desc_al;
        if (type != 3 || namesz != 8 || memcmp(name, "stapsdt", 8) != 0 || descsz < 24) continue;
        info->notes++;
        const unsigned char *s = desc + 24, *end = desc + descsz;
        long lp = cstr(s, end);
        if (lp < 0) continue;
        const unsigned char *pn = s + lp + 1;
        if (pn >= end) continue;
        long ln = cstr(pn, end);
        if (ln < 0) continue;
        if (lp == 8 && !memcmp(s, "heapshim", 8)) {
            if (ln == 7 && !memcmp(pn, "publish", 7)) info->usdt_publish = 1;
            if (ln == 4 && !memcmp(pn, "init", 4)) info->usdt_init = 1;
        }
    }
}

int hsp_elf_inspect(const unsigned char *f, size_t len, struct hsp_elf_info *info)
{
    memset(info, 0, sizeof *info);
    Elf64_Ehdr eh;
    if (len < sizeof eh || memcmp(f, ELFMAG, SELFMAG) || f[EI_CLASS] != ELFCLASS64 ||
        f[EI_DATA] != ELFDATA2LSB)
        return -1;
    memcpy(&eh, f, sizeof eh);
    int have_sh = eh.e_shentsize == sizeof(Elf64_Shdr) &&
                  in_image(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr), len);
    if (!have_sh) return 0;
    uint64_t base;
    if (load_base(f, len, &eh, &base) == 0) find_symbol(f, len, &eh, base, info);
    for (unsigned i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh;
        memcpy(&sh, f + eh.e_shoff + (uint64_t)i * sizeof sh, sizeof sh);
        if (sh.sh_type == SHT_NOTE && in_image(sh.sh_offset, sh.sh_size, len))
            scan_notes(f + sh.sh_offset, sh.sh_size, info);
    }
    return 0;
}
