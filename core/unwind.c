/*
 * core/unwind.c - the sampler's cached stack walk (core/unwind.h).
 *
 * Room: reads the calling thread's stack (only within its bounds), the
 * unwind tables of loaded objects (from their files with pread, else in
 * memory through _Unwind_Find_FDE of the shim's private libgcc), and keeps
 * its own rule cache and per-object records (anonymous mappings and
 * statics, made at the first sample). No allocation; its locks are only
 * ever try-locked. Opens object files only for the length of one walk.
 *
 * Why: libgcc's _Unwind_Backtrace interprets every frame's CFI again on
 * every sample (about 1,700 instructions a frame, docs/profiling.md "Cost").
 * Most frames of compiled code have a rule that is two numbers: the CFA is
 * rsp or rbp plus a constant, the return address is at CFA-8, and rbp is
 * either untouched or saved at a constant offset from the CFA. That rule is
 * computed once per return address, by a small interpreter of the CFI
 * subset below, and cached; a walk through cached frames is a few loads a
 * frame. A frame outside that subset (signal frames, CFA expressions, a CFA
 * on another register, unknown instructions) is marked so, and a sample
 * that meets one is walked by _Unwind_Backtrace instead (the caller does
 * that): the cached walk records exactly what libgcc records, or nothing.
 *
 * What libgcc does that is copied here (unwind-dw2.c): the FDE of a return
 * address ra is the one covering ra - 1; its rows apply while their location
 * is below ra; DW_CFA_restore makes a register "unsaved" (not its CIE rule);
 * the caller's sp is the CFA; a frame whose return-address rule is
 * "undefined" is reported and ends the walk (glibc's _start); a pc without
 * an FDE is reported and ends the walk (libgcc's fallback then looks for
 * the rt_sigreturn code bytes: inside a loaded object we let libgcc do it,
 * outside every object it could only read unmapped memory).
 *
 * Never trusted: every load from the stack is within the thread's stack
 * bounds, each CFA is above the previous one, and a frame that breaks either
 * ends the walk there (libgcc would read whatever the corrupt frame points
 * at).
 */
#include "internal.h"
#include "unwind.h"
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- the thread's stack --------------------------------------------------- */

/*
 * The top of the calling thread's stack, once per thread, without
 * allocating (pthread_getattr_np mallocs its cpuset, and an allocation here
 * would be counted as the program's: tests/26-counters.sh counts exactly):
 * the main thread's is __libc_stack_end; another glibc thread's frames are
 * all below its thread descriptor, which sits at the top of its stack block
 * (x86-64 keeps the TCB above the TLS, above the stack), so pthread_self().
 * A walk reads only between its own stack pointer and this top, and only
 * when they are less than HS_STACK_SPAN apart (a handler on a sigaltstack,
 * which may be anywhere, is walked by libgcc; its frames lead to a signal
 * frame anyway).
 */
static HS_TLS uintptr_t tls_stack_top;
extern void *__libc_stack_end;

uintptr_t hs_unwind_stack_top(void)
{
    if (HS_UNLIKELY(!tls_stack_top))
        tls_stack_top = hs_os_tid() == (uint64_t)getpid() ? (uintptr_t)__libc_stack_end : (uintptr_t)pthread_self();
    return tls_stack_top;
}

#if defined(__x86_64__)

/* ---- rules ------------------------------------------------------------------- */

/*
 * One return address's rule, packed in a word (0 = none):
 *   bits 0-1   kind: RULE_WALK, RULE_END (report this frame, stop), RULE_FALLBACK
 *   bit  2     the CFA is rbp + cfa_off (else rsp + cfa_off)
 *   bit  3     rbp is saved at CFA + bp_off (else unchanged)
 *   bits 4-31  cfa_off, signed
 *   bits 32-47 bp_off, signed
 *   bits 48-63 ra_off, signed (where the return address is, from the CFA)
 */
#define RULE_WALK     1u
#define RULE_END      2u
#define RULE_FALLBACK 3u
#define R_CFA_BP      4u
#define R_BP_SAVED    8u

HS_INLINE uint64_t rule_pack(unsigned flags, int64_t cfa_off, int64_t bp_off, int64_t ra_off)
{
    return (uint64_t)flags | ((uint64_t)cfa_off & 0xfffffffull) << 4 | ((uint64_t)bp_off & 0xffff) << 32 |
           ((uint64_t)ra_off & 0xffff) << 48;
}
HS_INLINE int64_t rule_cfa_off(uint64_t r) { return (int64_t)(r << 32) >> 36; }
HS_INLINE int64_t rule_bp_off(uint64_t r) { return (int64_t)(r << 16) >> 48; }
HS_INLINE int64_t rule_ra_off(uint64_t r) { return (int64_t)r >> 48; }

/* ---- the CFI subset ------------------------------------------------------------ */

struct dwarf_eh_bases { void *tbase, *dbase, *func; };
/* libgcc (the shim's private copy, interpose/interpose.mk) */
extern const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

#define REG_BP 6
#define REG_SP 7
#define REG_RA 16
enum { HOW_SAME, HOW_OFFSET, HOW_UNDEF, HOW_OTHER };

struct cfi {
    int64_t cfa_off, bp_off, ra_off;
    uint64_t cfa_reg;
    bool cfa_expr;
    uint8_t bp_how, ra_how, sp_how;
};

struct cur { const uint8_t *p, *end; bool bad; };

static uint64_t rd_uleb(struct cur *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; c->p < c->end; shift += 7) {
        uint8_t b = *c->p++;
        if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    c->bad = true;
    return 0;
}

static int64_t rd_sleb(struct cur *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    while (c->p < c->end) {
        uint8_t b = *c->p++;
        if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40)) v |= ~(uint64_t)0 << shift;
            return (int64_t)v;
        }
    }
    c->bad = true;
    return 0;
}

static uint64_t rd_fixed(struct cur *c, unsigned n)
{
    if ((size_t)(c->end - c->p) < n) {
        c->bad = true;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, c->p, n);         /* little-endian */
    c->p += n;
    return v;
}

/* skip a value of pointer encoding enc (DW_EH_PE_*); false when unsupported */
static bool skip_enc(struct cur *c, uint8_t enc)
{
    if (enc == 0xff) return true;                 /* omit */
    switch (enc & 0x0f) {
    case 0x00: case 0x04: case 0x0c: rd_fixed(c, 8); break;
    case 0x02: case 0x0a: rd_fixed(c, 2); break;
    case 0x03: case 0x0b: rd_fixed(c, 4); break;
    case 0x01: rd_uleb(c); break;
    case 0x09: rd_sleb(c); break;
    default: return false;
    }
    return (enc & 0x70) != 0x50 && !c->bad;       /* DW_EH_PE_aligned: not in .eh_frame */
}

static void set_how(struct cfi *s, uint64_t reg, uint8_t how, int64_t off)
{
    if (reg == REG_BP) s->bp_how = how, s->bp_off = off;
    else if (reg == REG_RA) s->ra_how = how, s->ra_off = off;
    else if (reg == REG_SP) s->sp_how = how;
}

#define STATE_DEPTH 8

/* run CFI instructions [c) while loc < target; false: outside the subset */
static bool cfi_run(struct cur *c, uint64_t *loc, uint64_t target, struct cfi *s, struct cfi *stack,
                    unsigned *depth, uint64_t code_align, int64_t data_align)
{
    while (c->p < c->end && *loc < target) {
        uint8_t op = *c->p++;
        uint64_t reg;
        switch (op >> 6) {
        case 1: *loc += (uint64_t)(op & 0x3f) * code_align; continue;
        case 2: reg = op & 0x3f; set_how(s, reg, HOW_OFFSET, (int64_t)rd_uleb(c) * data_align); goto next;
        case 3: set_how(s, op & 0x3f, HOW_SAME, 0); continue;
        default: break;
        }
        switch (op) {
        case 0x00: break;                                            /* nop */
        case 0x02: *loc += rd_fixed(c, 1) * code_align; break;       /* advance_loc1 */
        case 0x03: *loc += rd_fixed(c, 2) * code_align; break;
        case 0x04: *loc += rd_fixed(c, 4) * code_align; break;
        case 0x05: reg = rd_uleb(c); set_how(s, reg, HOW_OFFSET, (int64_t)rd_uleb(c) * data_align); break;
        case 0x06: case 0x08: set_how(s, rd_uleb(c), HOW_SAME, 0); break;   /* restore_ext, same_value */
        case 0x07: set_how(s, rd_uleb(c), HOW_UNDEF, 0); break;
        case 0x09: reg = rd_uleb(c); rd_uleb(c); set_how(s, reg, HOW_OTHER, 0); break;  /* register */
        case 0x0a:                                                    /* remember_state */
            if (*depth >= STATE_DEPTH) return false;
            stack[(*depth)++] = *s;
            break;
        case 0x0b:                                                    /* restore_state */
            if (!*depth) return false;
            *s = stack[--*depth];
            break;
        case 0x0c: s->cfa_reg = rd_uleb(c); s->cfa_off = (int64_t)rd_uleb(c); s->cfa_expr = false; break;
        case 0x0d: s->cfa_reg = rd_uleb(c); s->cfa_expr = false; break;
        case 0x0e: s->cfa_off = (int64_t)rd_uleb(c); break;
        case 0x0f: {                                                  /* def_cfa_expression */
            uint64_t n = rd_uleb(c);
            if (n > (uint64_t)(c->end - c->p)) return false;
            c->p += n;
            s->cfa_expr = true;
            break;
        }
        case 0x10: case 0x16: {                                       /* (val_)expression */
            reg = rd_uleb(c);
            uint64_t n = rd_uleb(c);
            if (n > (uint64_t)(c->end - c->p)) return false;
            c->p += n;
            set_how(s, reg, HOW_OTHER, 0);
            break;
        }
        case 0x11: reg = rd_uleb(c); set_how(s, reg, HOW_OFFSET, rd_sleb(c) * data_align); break;
        case 0x12: s->cfa_reg = rd_uleb(c); s->cfa_off = rd_sleb(c) * data_align; s->cfa_expr = false; break;
        case 0x13: s->cfa_off = rd_sleb(c) * data_align; break;
        case 0x14: reg = rd_uleb(c); rd_uleb(c); set_how(s, reg, HOW_OTHER, 0); break;   /* val_offset */
        case 0x15: reg = rd_uleb(c); rd_sleb(c); set_how(s, reg, HOW_OTHER, 0); break;
        case 0x2e: rd_uleb(c); break;                                 /* GNU_args_size */
        case 0x2f: reg = rd_uleb(c); set_how(s, reg, HOW_OFFSET, -(int64_t)rd_uleb(c) * data_align); break;
        default: return false;       /* set_loc, advance_loc8, window_save, vendor ops */
        }
    next:
        if (c->bad) return false;
    }
    return !c->bad;
}

/* a pointer of encoding enc at c (the operand's own address is at_addr):
 * only what pc_begin uses in .eh_frame (absolute or pc-relative) */
static bool read_enc(struct cur *c, uint8_t enc, uint64_t at_addr, uint64_t *v)
{
    int64_t x;
    switch (enc & 0x0f) {
    case 0x00: case 0x04: x = (int64_t)rd_fixed(c, 8); break;
    case 0x0c: x = (int64_t)rd_fixed(c, 8); break;
    case 0x03: x = (int64_t)(uint32_t)rd_fixed(c, 4); break;
    case 0x0b: x = (int32_t)(uint32_t)rd_fixed(c, 4); break;
    default: return false;
    }
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: x += (int64_t)at_addr; break;
    default: return false;
    }
    *v = (uint64_t)x;
    return !c->bad;
}

/*
 * The rule of return address ra from its FDE: fde[0, favail) at address
 * fde_addr, its CIE cie[0, cavail). *func: the function's start, or 0 when
 * the caller does not know it (read from the FDE, which must cover ra - 1).
 */
static uint64_t rule_of_fde(const uint8_t *fde, size_t favail, uint64_t fde_addr, const uint8_t *cie,
                            size_t cavail, uint64_t func, uintptr_t ra)
{
    uint32_t flen, clen;
    if (favail < 8 || cavail < 8) return RULE_FALLBACK;
    memcpy(&flen, fde, 4);
    memcpy(&clen, cie, 4);
    if (flen < 8 || flen == 0xffffffffu || flen > favail - 4) return RULE_FALLBACK;
    if (clen < 8 || clen == 0xffffffffu || clen > cavail - 4) return RULE_FALLBACK;

    /* the CIE */
    struct cur c = { cie + 8, cie + 4 + clen, false };
    uint64_t version = rd_fixed(&c, 1);
    if (version != 1 && version != 3) return RULE_FALLBACK;
    const char *aug = (const char *)c.p;
    size_t alen = strnlen(aug, (size_t)(c.end - c.p));
    if (c.p + alen >= c.end) return RULE_FALLBACK;
    c.p += alen + 1;
    uint64_t code_align = rd_uleb(&c);
    int64_t data_align = rd_sleb(&c);
    uint64_t ra_reg = version == 1 ? rd_fixed(&c, 1) : rd_uleb(&c);
    uint8_t fde_enc = 0;
    bool z = aug[0] == 'z';
    if (alen && !z) return RULE_FALLBACK;               /* "eh" and other old forms */
    if (z) {
        uint64_t n = rd_uleb(&c);
        if (c.bad || n > (uint64_t)(c.end - c.p)) return RULE_FALLBACK;
        struct cur a = { c.p, c.p + n, false };
        for (size_t i = 1; i < alen; i++) {
            switch (aug[i]) {
            case 'R': fde_enc = (uint8_t)rd_fixed(&a, 1); break;
            case 'L': rd_fixed(&a, 1); break;
            case 'P': if (!skip_enc(&a, (uint8_t)(rd_fixed(&a, 1) & 0x7f))) return RULE_FALLBACK; break;
            case 'B': case 'G': break;
            default: return RULE_FALLBACK;           /* 'S' (a signal frame) and unknown ones */
            }
        }
        if (a.bad) return RULE_FALLBACK;
        c.p += n;
    }
    if (c.bad || ra_reg != REG_RA || code_align == 0) return RULE_FALLBACK;

    /* the FDE's instructions */
    struct cur f = { fde + 8, fde + 4 + flen, false };
    if (func) {
        if (!skip_enc(&f, fde_enc) || !skip_enc(&f, fde_enc & 0x0f)) return RULE_FALLBACK;
    } else {
        uint64_t begin, range;
        if (!read_enc(&f, fde_enc, fde_addr + 8, &begin) || !read_enc(&f, fde_enc & 0x0f, 0, &range))
            return RULE_FALLBACK;
        if (ra - 1 < begin || ra - 1 - begin >= range) return RULE_FALLBACK;   /* not this pc's FDE */
        func = begin;
    }
    if (z) {
        uint64_t n = rd_uleb(&f);
        if (f.bad || n > (uint64_t)(f.end - f.p)) return RULE_FALLBACK;
        f.p += n;
    }

    struct cfi s = { .cfa_reg = REG_SP, .cfa_off = 8, .bp_how = HOW_SAME, .ra_how = HOW_SAME, .sp_how = HOW_SAME };
    struct cfi stack[STATE_DEPTH];
    unsigned depth = 0;
    uint64_t loc = func;
    if (!cfi_run(&c, &loc, ra, &s, stack, &depth, code_align, data_align)) return RULE_FALLBACK;
    if (!cfi_run(&f, &loc, ra, &s, stack, &depth, code_align, data_align)) return RULE_FALLBACK;

    if (s.cfa_expr || (s.cfa_reg != REG_SP && s.cfa_reg != REG_BP) || s.sp_how != HOW_SAME) return RULE_FALLBACK;
    if (s.ra_how == HOW_UNDEF) return RULE_END;
    if (s.ra_how != HOW_OFFSET || (s.bp_how != HOW_SAME && s.bp_how != HOW_OFFSET)) return RULE_FALLBACK;
    if (s.cfa_off < -(1 << 27) || s.cfa_off >= (1 << 27) || s.ra_off < -32768 || s.ra_off > 32767 ||
        s.bp_off < -32768 || s.bp_off > 32767)
        return RULE_FALLBACK;
    unsigned flags = RULE_WALK | (s.cfa_reg == REG_BP ? R_CFA_BP : 0) | (s.bp_how == HOW_OFFSET ? R_BP_SAVED : 0);
    return rule_pack(flags, s.cfa_off, s.bp_how == HOW_OFFSET ? s.bp_off : 0, s.ra_off);
}

/* The rule of ra from the tables in memory (libgcc finds the FDE). */
static uint64_t rule_from_memory(uintptr_t ra)
{
    struct dwarf_eh_bases b;
    const uint8_t *fde = _Unwind_Find_FDE((void *)(ra - 1), &b);
    if (!fde) {
        struct dl_find_object o;
        return _dl_find_object((void *)(ra - 1), &o) == 0 ? RULE_FALLBACK : RULE_END;
    }
    uint32_t flen, clen;
    int32_t cie_delta;
    memcpy(&flen, fde, 4);
    memcpy(&cie_delta, fde + 4, 4);
    const uint8_t *cie = fde + 4 - cie_delta;
    memcpy(&clen, cie, 4);
    return rule_of_fde(fde, (size_t)flen + 4, (uint64_t)(uintptr_t)fde, cie, (size_t)clen + 4,
                       (uint64_t)(uintptr_t)b.func, ra);
}

/* ---- the tables read from the object's file --------------------------------------- */

/*
 * Reading .eh_frame through the mapping makes its pages resident in the
 * program (file pages, and the kernel maps up to 16 neighbours of each page
 * faulted): on gcc's cc1 that was +1.8 MiB of RSS (4.5%), the whole cost of
 * sampling in memory. So the FDE and its CIE are read from the object's
 * file with pread into the stack, and the search table of .eh_frame_hdr
 * too: once per object a sparse index (every SPARSE-th entry's start, in
 * private memory: 1.4 KiB for cc1's 45,000 FDEs), then per fill one read of
 * SPARSE entries, one of the FDE (its CIE is usually kept). Nothing of the
 * tables is touched in memory. The file is
 * the loaded one: its GNU build-id (read in memory from the loaded note,
 * which the loader and the profile's module list read anyway) must equal
 * the file's; an object without one, without a file (the vDSO) or with
 * unusual encodings keeps the in-memory lookup (libgcc's _Unwind_Find_FDE).
 * A walk opens each object's file at most once (closed when it ends), with
 * errno kept.
 */
#define SPARSE     128u
#define NOBJ       64u
#define POOL_WORDS 16384u             /* sparse entries for all objects (64 KiB) */

struct uobj {
    uintptr_t start, end;             /* the object's mapping */
    uintptr_t hdr;                    /* .eh_frame_hdr's address */
    uintptr_t seg_lo, seg_hi;         /* file-backed part of the segment holding the tables */
    uint64_t delta;                   /* file offset = address - delta */
    uint32_t count;                   /* entries of the search table */
    uint32_t sparse_at, nsparse;      /* pool[sparse_at + k]: start of entry k * SPARSE */
    uint32_t store_at, nstore;        /* its rules from the store: store_pool[store_at..], sorted */
    bool store_bad;                   /* the store's file has a chunk that does not check */
    uint64_t id_off;                  /* file offset of the build-id's bytes */
    uint32_t id_len;
    uint8_t id[20];
    const char *path;                 /* the loader's l_name ("" = the program) */
    bool file;                        /* false: in memory */
    /* two CIEs kept (an object has one or two that its FDEs share): one
     * pread less per fill; written under obj_lock, read like the cache */
    struct ciekeep { uint64_t addr, len, w[8]; } cies[2];
};
static struct uobj objs[NOBJ] HS_COLD_BSS;
static uint32_t nobjs;
static int32_t *pool;
static uint32_t pool_used;
static hs_lock_t obj_lock = HS_LOCK_INIT;
static hs_lock_t fill_lock = HS_LOCK_INIT;  /* the cache's writer (below) */

struct fdslot { int fd; uint32_t obj; };
#define WALK_FDS 4

struct walk {
    uint64_t *frames;
    unsigned max;
    uintptr_t self_lo, self_hi, hi;  /* the shim's code; the stack's top */
    struct fdslot fds[WALK_FDS];
    unsigned nfds;
};

/* raw system calls, not libc's symbols: another preloaded library that
 * wraps open or pread (and may allocate, which would be counted as the
 * program's) is not entered from inside malloc */
static int sys_open(const char *path)
{
    return (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}
static void sys_close(int fd) { (void)syscall(SYS_close, fd); }

static bool pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    long r = syscall(SYS_pread64, fd, buf, n, (long)off);
    return r == (long)n;
}

struct phdr_find { uintptr_t base, hdr; struct uobj *o; bool found; };

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct phdr_find *f = arg;
    if (info->dlpi_addr != f->base) return 0;
    bool seg = false;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && f->hdr >= lo && f->hdr < lo + ph->p_filesz) {
            f->o->seg_lo = lo;
            f->o->seg_hi = lo + ph->p_filesz;
            f->o->delta = lo - ph->p_offset;
            seg = true;
        } else if (ph->p_type == PT_NOTE && !f->o->id_len) {
            const uint8_t *p = (const uint8_t *)lo, *end = p + ph->p_filesz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
                const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
                size_t nsz = (nh->n_namesz + 3) & ~3u, dsz = (nh->n_descsz + 3) & ~3u;
                const uint8_t *name = p + sizeof *nh, *desc = name + nsz;
                if (desc + dsz > end) break;
                if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4) &&
                    nh->n_descsz >= 8 && nh->n_descsz <= 20) {
                    f->o->id_len = nh->n_descsz;
                    memcpy(f->o->id, desc, nh->n_descsz);
                    f->o->id_off = ph->p_offset + (uint64_t)(desc - (const uint8_t *)lo);
                    break;
                }
                p = desc + dsz;
            }
        }
    }
    f->found = seg;
    return 1;
}

/* the file of object k, opened for this walk (build-id checked); -1: none */
static int obj_fd(struct walk *w, uint32_t k)
{
    for (unsigned i = 0; i < w->nfds; i++)
        if (w->fds[i].obj == k) return w->fds[i].fd;
    if (w->nfds >= WALK_FDS) return -1;
    const struct uobj *o = &objs[k];
    int fd = sys_open(o->path[0] ? o->path : "/proc/self/exe");
    if (fd >= 0) {
        uint8_t id[20];
        if (!pread_all(fd, id, o->id_len, o->id_off) || memcmp(id, o->id, o->id_len) != 0) {
            sys_close(fd);
            fd = -1;
        }
    }
    w->fds[w->nfds].fd = fd;          /* -1 remembered too: not tried again in this walk */
    w->fds[w->nfds++].obj = k;
    return fd;
}

static void store_load(struct uobj *o);

/* object k made ready for reading from its file; false: in memory from now on */
static bool obj_setup(struct walk *w, struct uobj *o, uint32_t k)
{
    if (!o->path || (o->path[0] && !strchr(o->path, '/')) || !o->id_len) return false;
    if (!pool) {
        pool = hs_os_map(POOL_WORDS * sizeof *pool);
        if (!pool) return false;
    }
    int fd = obj_fd(w, k);
    if (fd < 0) return false;
    /* the header: version 1, eh_frame_ptr pcrel|sdata4, fde_count udata4,
     * table datarel|sdata4 (what ld writes) */
    uint8_t h[12];
    if (!pread_all(fd, h, sizeof h, o->hdr - o->delta) || h[0] != 1 || h[1] != 0x1b || h[2] != 0x03 ||
        h[3] != 0x3b)
        return false;
    uint32_t count;
    memcpy(&count, h + 8, 4);
    if (!count || count > (uint32_t)((o->seg_hi - o->hdr - 12) / 8)) return false;
    uint32_t ns = (count + SPARSE - 1) / SPARSE;
    if (pool_used + ns > POOL_WORDS) return false;
    int32_t buf[1024];                /* 512 entries */
    uint64_t off = o->hdr - o->delta + 12;
    for (uint32_t i = 0; i < count; i += 512) {
        uint32_t m = count - i < 512 ? count - i : 512;
        if (!pread_all(fd, buf, (size_t)m * 8, off + (uint64_t)i * 8)) return false;
        for (uint32_t j = (SPARSE - i % SPARSE) % SPARSE; j < m; j += SPARSE) pool[pool_used + (i + j) / SPARSE] = buf[2 * j];
    }
    o->count = count;
    o->sparse_at = pool_used;
    o->nsparse = ns;
    pool_used += ns;
    store_load(o);
    return true;
}

/* the object holding ra (found or made); NULL: not in one we can read from its file */
static struct uobj *obj_for(struct walk *w, uintptr_t ra, uint32_t *kp)
{
    uint32_t n = __atomic_load_n(&nobjs, __ATOMIC_ACQUIRE);
    for (uint32_t k = 0; k < n; k++)
        if (ra - 1 >= objs[k].start && ra - 1 < objs[k].end) {
            *kp = k;
            return objs[k].file ? &objs[k] : NULL;
        }
    struct dl_find_object fo;
    if (_dl_find_object((void *)(ra - 1), &fo) != 0 || !fo.dlfo_eh_frame || !fo.dlfo_link_map) return NULL;
    if (!hs_trylock(&obj_lock)) return NULL;
    struct uobj *o = NULL;
    n = nobjs;
    if (n < NOBJ) {
        o = &objs[n];
        memset(o, 0, sizeof *o);
        o->start = (uintptr_t)fo.dlfo_map_start;
        o->end = (uintptr_t)fo.dlfo_map_end;
        o->hdr = (uintptr_t)fo.dlfo_eh_frame;
        o->path = fo.dlfo_link_map->l_name;
        struct phdr_find f = { fo.dlfo_link_map->l_addr, o->hdr, o, false };
        if (!hs_dl_iterate(phdr_cb, &f)) {
            hs_unlock(&obj_lock);    /* not now (a fork): not kept, looked up again later */
            return NULL;
        }
        o->file = f.found && obj_setup(w, o, n);
        __atomic_store_n(&nobjs, n + 1, __ATOMIC_RELEASE);
        *kp = n;
    }
    hs_unlock(&obj_lock);
    return o && o->file ? o : NULL;
}

/* the CIE at address a, if kept: its bytes into out (64), their number */
static size_t cie_get(struct uobj *o, uintptr_t a, uint8_t *out)
{
    struct ciekeep *c = &o->cies[(a >> 3) & 1];
    if (__atomic_load_n(&c->addr, __ATOMIC_ACQUIRE) != a) return 0;
    uint64_t w[8];
    size_t n = HS_LOAD(&c->len);
    for (int i = 0; i < 8; i++) w[i] = HS_LOAD(&c->w[i]);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (HS_LOAD(&c->addr) != a || n > sizeof w) return 0;
    memcpy(out, w, sizeof w);
    return n;
}

static void cie_keep(struct uobj *o, uintptr_t a, const uint8_t *bytes, size_t n)
{
    if (n > 64 || !hs_trylock(&obj_lock)) return;
    struct ciekeep *c = &o->cies[(a >> 3) & 1];
    uint64_t w[8] = { 0 };
    memcpy(w, bytes, n);
    HS_STORE(&c->addr, 0);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    for (int i = 0; i < 8; i++) HS_STORE(&c->w[i], w[i]);
    HS_STORE(&c->len, n);
    __atomic_store_n(&c->addr, (uint64_t)a, __ATOMIC_RELEASE);
    hs_unlock(&obj_lock);
}

/* ---- the store: rules kept between processes ------------------------------------- */

/*
 * A program run again and again (cc1 once per source file, python3 once per
 * script) starts with an empty cache and reads every rule from its objects'
 * files again: an open at each walk that meets a new return address, most
 * of what sampling costs such a program (docs/profiling.md, "Cost"). So the
 * rules read from files are kept between processes, one file per object in
 * the live directory: <dir>/unwind-<build-id in hex>. A rule depends only on
 * the object's bytes and the return address's offset from the object's
 * start, and the build-id names those bytes.
 *
 * The file is a sequence of chunks, each a header (magic, version, count, a
 * check over the build-id and the records) and its records (offset, rule).
 * At exit a process appends, per object, the rules it read from the object's
 * file itself (the log below), one write per chunk with O_APPEND: writers'
 * chunks do not mix. When an object is first set up in a process, its file
 * is read once, STORE_MAX records at most, every chunk up to the first that
 * does not check, into private memory, sorted; a miss of the cache searches
 * them before it opens the object's file.
 *
 * Hostile: the file is other processes' writing. Opened with O_NOFOLLOW and
 * O_NONBLOCK; only a regular file of ours that others cannot write is read;
 * a short read or a failed check ends it. A wrong rule that passes makes a
 * wrong stack, never a read outside the thread's stack (the walk's bounds),
 * and HEAPSHIM_PROFILE_UNWIND=verify compares every walk with libgcc's.
 */
#define STORE_MAX     4096u           /* records read per object */
#define STORE_POOL    16384u          /* records of all objects (256 KiB of address space, touched as used) */
#define STORE_CHUNK   256u            /* records per chunk */
#define STORE_BYTES   (80u << 10)     /* a file this long takes no more chunks */
#define STORE_MAGIC   0x57555348u     /* "HSUW" */
#define STORE_VERSION 1u              /* with the rule's packing (rule_pack) */
#define LEARN_MAX     4096u

struct srec { uint64_t off, rule; };
struct schunk { uint32_t magic; uint16_t version, n; uint64_t check; };

static const char *store_dir = "";    /* the live directory (a string that stays), "" = no store */
static struct srec *store_pool;       /* obj_lock */
static uint32_t store_used;           /* obj_lock */
static struct srec *learn;            /* (return address, rule) read from files here (fill_lock) */
static uint32_t nlearn;               /* fill_lock */
static uint64_t fills_store;

void hs_unwind_store_at(const char *dir)
{
    size_t n = dir ? strlen(dir) : 0;
    store_dir = n && n < 200 && dir[0] == '/' ? dir : "";
}

/* the store's file of o into out (256); false: none */
static bool store_name(const struct uobj *o, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(store_dir);
    if (!n || !o->id_len) return false;
    memcpy(out, store_dir, n);
    memcpy(out + n, "/unwind-", 8);
    n += 8;
    for (uint32_t i = 0; i < o->id_len; i++) {
        out[n++] = hex[o->id[i] >> 4];
        out[n++] = hex[o->id[i] & 15];
    }
    out[n] = 0;
    return true;
}

HS_INLINE uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint64_t store_check(const struct uobj *o, const struct srec *r, uint32_t n)
{
    uint64_t id[3] = { 0, 0, 0 };
    memcpy(id, o->id, o->id_len);
    uint64_t h = mix(mix(mix(mix(0xcbf29ce484222325ull, STORE_VERSION << 16 | n), id[0]), id[1]), id[2]);
    for (uint32_t i = 0; i < n; i++) h = mix(mix(h, r[i].off), r[i].rule);
    return h;
}

/* a regular file of ours that others cannot write */
static bool store_file_ok(int fd, uint64_t *size)
{
    struct stat st;
    if (syscall(SYS_fstat, fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != (uid_t)syscall(SYS_geteuid) ||
        (st.st_mode & 022))
        return false;
    *size = (uint64_t)st.st_size;
    return true;
}

/* r[0..n) sorted by offset, duplicates dropped: the count kept */
static uint32_t store_sort(struct srec *r, uint32_t n)
{
    for (uint32_t gap = n / 2; gap; gap /= 2)          /* Shell's sort: no allocation */
        for (uint32_t i = gap; i < n; i++) {
            struct srec t = r[i];
            uint32_t j = i;
            for (; j >= gap && r[j - gap].off > t.off; j -= gap) r[j] = r[j - gap];
            r[j] = t;
        }
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!m || r[i].off != r[m - 1].off) r[m++] = r[i];
    return m;
}

/* o's rules from the store, once, when it is set up (obj_lock held) */
static void store_load(struct uobj *o)
{
    char path[256];
    if (!store_name(o, path)) return;
    if (!store_pool && !(store_pool = hs_os_map(STORE_POOL * sizeof *store_pool))) return;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return;
    uint64_t size, off = 0;
    uint32_t at = store_used, n = 0, room = STORE_POOL - at < STORE_MAX ? STORE_POOL - at : STORE_MAX;
    if (store_file_ok(fd, &size)) {
        struct schunk h;
        while (off < size && n < room) {
            struct srec *r = store_pool + at + n;
            if (!pread_all(fd, &h, sizeof h, off) || h.magic != STORE_MAGIC || h.version != STORE_VERSION || !h.n ||
                h.n > STORE_CHUNK || (h.n <= room - n && (!pread_all(fd, r, h.n * sizeof *r, off + sizeof h) ||
                                                          store_check(o, r, h.n) != h.check))) {
                o->store_bad = true;  /* written again at exit, from what was good */
                break;
            }
            if (h.n > room - n) break;  /* full here: the rest stays unread */
            n += h.n;
            off += sizeof h + h.n * sizeof *r;
        }
    }
    sys_close(fd);
    o->store_at = at;
    o->nstore = store_sort(store_pool + at, n);
    store_used += o->nstore;
}

/* ra's rule from the store, or 0 */
static uint64_t store_find(const struct uobj *o, uintptr_t ra)
{
    const struct srec *r = store_pool + o->store_at;
    uint64_t key = ra - o->start;
    uint32_t lo = 0, hi = o->nstore;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (r[mid].off < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < o->nstore && r[lo].off == key ? r[lo].rule : 0;
}

/* a rule read from a file, for the store at exit (fill_lock held) */
static void store_learn(uintptr_t ra, uint64_t rule)
{
    if (!store_dir[0] || nlearn >= LEARN_MAX) return;
    if (!learn) {
        int err = errno;
        learn = hs_os_map(LEARN_MAX * sizeof *learn);
        errno = err;
        if (!learn) return;
    }
    learn[nlearn].off = ra;
    learn[nlearn++].rule = rule;
}

struct store_out { struct schunk h; struct srec r[STORE_CHUNK]; };

/* the chunk of m records appended to o's file (*fd: -1 not yet open, -2 not
 * writable); false: no more for this object */
static bool store_append(const struct uobj *o, int *fd, struct store_out *c, uint32_t m)
{
    uint64_t size;
    if (*fd == -1) {
        char path[256];
        *fd = -2;
        if (!store_name(o, path)) return false;
        int f = (int)syscall(SYS_openat, AT_FDCWD, path,
                             O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, 0600);
        if (f < 0) return false;
        if (!store_file_ok(f, &size) || size >= STORE_BYTES) {
            sys_close(f);
            return false;
        }
        *fd = f;
    }
    if (*fd < 0) return false;
    c->h.magic = STORE_MAGIC;
    c->h.version = STORE_VERSION;
    c->h.n = (uint16_t)m;
    c->h.check = store_check(o, c->r, m);
    size_t len = sizeof c->h + m * sizeof c->r[0];
    struct stat st;
    if (syscall(SYS_fstat, *fd, &st) != 0 || !hs_os_file_fits((uint64_t)st.st_size + len)) return false;
    return syscall(SYS_write, *fd, c, len) == (long)len;
}

/* one record into the chunk, the chunk appended when full; false: no more
 * for this object */
static bool store_put(const struct uobj *o, int *fd, struct store_out *c, uint32_t *m, uint64_t off, uint64_t rule)
{
    c->r[*m].off = off;
    c->r[(*m)++].rule = rule;
    if (*m < STORE_CHUNK) return true;
    *m = 0;
    return store_append(o, fd, c, STORE_CHUNK);
}

void hs_unwind_store_save(void)
{
    if (!store_dir[0] || !hs_trylock(&fill_lock)) return;
    if (!hs_trylock(&obj_lock)) {
        hs_unlock(&fill_lock);
        return;
    }
    int err = errno;
    /* the chunk being written: a mapping of its own for the moment (not a
     * static: the pages of the shim's statics are every process's) */
    uint32_t nl = nlearn, no = HS_LOAD(&nobjs);
    bool work = nl != 0;
    for (uint32_t k = 0; k < no; k++) work |= objs[k].file && objs[k].store_bad;
    struct store_out *cp = work ? hs_os_map(sizeof *cp) : NULL;
    nlearn = 0;
    if (!cp) no = 0;
    for (uint32_t k = 0; k < no; k++) {
        const struct uobj *o = &objs[k];
        if (!o->file) continue;
        int fd = -1;
        uint32_t m = 0;
        if (o->store_bad) {
            /* a new file in its place, from the records that checked */
            char path[256];
            struct stat st;
            if (!store_name(o, path) || syscall(SYS_newfstatat, AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                !S_ISREG(st.st_mode) || syscall(SYS_unlinkat, AT_FDCWD, path, 0) != 0)
                continue;
            const struct srec *r = store_pool + o->store_at;
            for (uint32_t i = 0; i < o->nstore && store_put(o, &fd, cp, &m, r[i].off, r[i].rule); i++) {}
        }
        for (uint32_t i = 0; i < nl; i++) {
            uintptr_t ra = learn[i].off;   /* the log holds return addresses */
            if (ra - 1 >= o->start && ra - 1 < o->end && !store_put(o, &fd, cp, &m, ra - o->start, learn[i].rule)) break;
        }
        if (m) store_append(o, &fd, cp, m);
        if (fd >= 0) sys_close(fd);
    }
    if (cp) hs_os_unmap(cp, sizeof *cp);
    errno = err;
    hs_unlock(&obj_lock);
    hs_unlock(&fill_lock);
}

/* The rule of ra from the store or read from its object's file (*stored
 * says which); 0: not possible here (the caller reads it in memory) */
static uint64_t rule_from_file(struct walk *w, uintptr_t ra, bool *stored)
{
    uint32_t k;
    struct uobj *o = obj_for(w, ra, &k);
    if (!o) return 0;
    uint64_t sr = o->nstore ? store_find(o, ra) : 0;
    if (sr) {
        *stored = true;
        return sr;
    }
    int64_t rel = (int64_t)(ra - 1) - (int64_t)o->hdr;
    if (rel < INT32_MIN || rel > INT32_MAX) return 0;
    const int32_t *sp = pool + o->sparse_at;
    if (o->sparse_at + o->nsparse > POOL_WORDS || sp[0] > rel) return 0;
    uint32_t lo = 0, hi = o->nsparse;             /* the last sparse start <= rel */
    while (hi - lo > 1) {
        uint32_t mid = (lo + hi) / 2;
        if (sp[mid] <= rel) lo = mid;
        else hi = mid;
    }
    int fd = obj_fd(w, k);
    if (fd < 0) return 0;
    uint32_t first = lo * SPARSE, m = o->count - first < SPARSE ? o->count - first : SPARSE;
    int32_t t[2 * SPARSE];
    if (!pread_all(fd, t, (size_t)m * 8, o->hdr - o->delta + 12 + (uint64_t)first * 8) || t[0] > rel) return 0;
    uint32_t a = 0, b = m;
    while (b - a > 1) {
        uint32_t mid = (a + b) / 2;
        if (t[2 * mid] <= rel) a = mid;
        else b = mid;
    }
    uintptr_t fde_addr = o->hdr + (uintptr_t)(intptr_t)t[2 * a + 1];
    uint8_t fb[512], cb[256];
    if (fde_addr < o->seg_lo || fde_addr + 8 > o->seg_hi) return 0;
    size_t fn = o->seg_hi - fde_addr < sizeof fb ? o->seg_hi - fde_addr : sizeof fb;
    if (!pread_all(fd, fb, fn, fde_addr - o->delta)) return 0;
    int32_t cie_delta;
    memcpy(&cie_delta, fb + 4, 4);
    uintptr_t cie_addr = fde_addr + 4 - (uintptr_t)(intptr_t)cie_delta;
    if (cie_delta <= 0 || cie_addr < o->seg_lo || cie_addr + 8 > o->seg_hi) return 0;
    size_t cn = cie_get(o, cie_addr, cb);
    if (!cn) {
        cn = o->seg_hi - cie_addr < sizeof cb ? o->seg_hi - cie_addr : sizeof cb;
        if (!pread_all(fd, cb, cn, cie_addr - o->delta)) return 0;
        uint32_t clen;
        memcpy(&clen, cb, 4);
        if (clen <= 60) cie_keep(o, cie_addr, cb, clen + 4);
    }
    uint64_t r = rule_of_fde(fb, fn, fde_addr, cb, cn, 0, ra);
    /* an FDE longer than what was read, or not this pc's: in memory */
    return r == RULE_FALLBACK ? 0 : r;
}

static void walk_close(struct walk *w)
{
    int err = errno;
    for (unsigned i = 0; i < w->nfds; i++)
        if (w->fds[i].fd >= 0) sys_close(w->fds[i].fd);
    w->nfds = 0;
    errno = err;
}

/* ---- the cache --------------------------------------------------------------------- */

/*
 * Two-way, shared by all threads, read without a lock: an entry is
 * (key = return address, rule). One writer at a time (fill_lock, try-locked;
 * a thread that does not get it uses the rule it computed without storing
 * it) clears the key, writes the rule, then the key; a reader loads the key,
 * the rule, then the key again, and takes the rule only when both loads of
 * the key are its address. Emptied when the loader's generation moves (a
 * dlclose can put other code at a cached address).
 *
 * Sized by use, for resident memory: the mapping holds CACHE_MAX entries
 * (256 KiB of address space) but only its first cache_mask + 1 are used,
 * from 256 (one page), four times more each time the fills since the last
 * growth pass half of them (a hash touches every page of what it uses:
 * python3 touched 132 KiB of a fixed 8192-entry table). A growth moves the
 * entries to their sets under the new mask (a set's index under a mask is
 * its index under the next one, less a multiple of the old size, so each
 * moves to an unused part of the mapping, and only a set's own two entries
 * can land in its new set): no rule is read again because the table grew.
 *
 * Victims: an entry pushed out of a full set goes to a ring of NVICTIM
 * entries (same protocol), which a miss searches before reading a file and
 * a hit swaps back. Three hot return addresses in one set (the hash is
 * linear in the address, so two objects at a fixed distance can share a set
 * at every size) had refilled each other from files at every sample.
 */
#define CACHE_MIN 256u
#define CACHE_MAX 16384u
#define NVICTIM 16u
struct centry { uint64_t key, rule; };
static struct centry *cache;
static uint32_t cache_mask = CACHE_MIN - 1;
static uint32_t cache_fills;               /* stored since the last growth (fill_lock) */
static uint64_t cache_gen;
/* the victim ring: the NVICTIM entries after the table's CACHE_MAX in the
 * same mapping (its own page, touched once a set overflows; not in the
 * shim's statics, whose pages every process pays for) */
#define victims (cache + CACHE_MAX)
static uint32_t victim_next;               /* fill_lock */

/* the set of ra under mask: two entries (a pair of return addresses that
 * collide stay both; direct-mapped, such a pair refilled each other on every
 * sample, and in about one run in fifty of a small C++ program it collided
 * at every table size) */
HS_INLINE uint32_t set_index(uintptr_t ra, uint32_t mask)
{
    uint32_t h = (uint32_t)(((uint64_t)ra * 0x9e3779b97f4a7c15ull) >> 32);
    return h & mask & ~1u;
}

HS_INLINE struct centry *set_of(uintptr_t ra) { return &cache[set_index(ra, HS_LOAD(&cache_mask))]; }

HS_INLINE uint64_t entry_get(struct centry *e, uintptr_t ra)
{
    if (__atomic_load_n(&e->key, __ATOMIC_ACQUIRE) != ra) return 0;
    uint64_t r = __atomic_load_n(&e->rule, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&e->key, __ATOMIC_RELAXED) == ra ? r : 0;
}

/* (fill_lock) */
static void entry_put(struct centry *e, uint64_t key, uint64_t rule)
{
    __atomic_store_n(&e->key, 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&e->rule, rule, __ATOMIC_RELAXED);
    __atomic_store_n(&e->key, key, __ATOMIC_RELEASE);
}

HS_INLINE uint64_t cache_get(uintptr_t ra)
{
    struct centry *e = set_of(ra);
    uint64_t r = entry_get(e, ra);
    return r ? r : entry_get(e + 1, ra);
}

/* four times the entries, each moved to its set under the new mask (fill_lock) */
static void cache_grow(uint32_t mask)
{
    uint32_t nmask = (mask + 1) * 4 - 1;
    for (uint32_t i = 0; i <= mask; i++) {
        uint64_t k = HS_LOAD(&cache[i].key);
        uint32_t j = set_index(k, nmask);
        if (!k || j == (i & ~1u)) continue;
        struct centry *to = &cache[j];
        if (HS_LOAD(&to->key)) to++;
        entry_put(to, k, HS_LOAD(&cache[i].rule));
    }
    /* readers under either mask find every entry until the moved ones'
     * old places are cleared */
    __atomic_store_n(&cache_mask, nmask, __ATOMIC_RELEASE);
    for (uint32_t i = 0; i <= mask; i++) {
        uint64_t k = HS_LOAD(&cache[i].key);
        if (k && set_index(k, nmask) != (i & ~1u)) __atomic_store_n(&cache[i].key, 0, __ATOMIC_RELAXED);
    }
}

/* ra's rule into its set; what it pushes out goes to the victim ring, at
 * slot `to` (the one ra came from) or the next (fill_lock) */
static void cache_put(uintptr_t ra, uint64_t r, struct centry *to)
{
    struct centry *e = set_of(ra);
    /* an empty way, else the two in turn */
    if (HS_LOAD(&e[0].key) && (!HS_LOAD(&e[1].key) || (cache_fills & 1))) e++;
    uint64_t old = HS_LOAD(&e->key);
    if (old) entry_put(to ? to : &victims[victim_next++ % NVICTIM], old, HS_LOAD(&e->rule));
    else if (to) __atomic_store_n(&to->key, 0, __ATOMIC_RELAXED);
    entry_put(e, (uint64_t)ra, r);
}

/* rules computed, from files and in memory, and taken from the store (for
 * the verify summary) */
static uint64_t fills_file, fills_mem;

void hs_unwind_stats(uint64_t *from_files, uint64_t *in_memory, uint64_t *from_store)
{
    *from_files = HS_LOAD(&fills_file);
    *in_memory = HS_LOAD(&fills_mem);
    *from_store = HS_LOAD(&fills_store);
}

/* errno is kept here and in walk_close, the only places that make system
 * calls: a walk whose rules are all cached does not touch it */
static HS_NOINLINE uint64_t cache_fill(struct walk *w, uintptr_t ra)
{
    for (unsigned i = 0; i < NVICTIM; i++) {
        uint64_t r = entry_get(&victims[i], ra);
        if (!r) continue;
        if (hs_trylock(&fill_lock)) {
            cache_put(ra, r, &victims[i]);
            hs_unlock(&fill_lock);
        }
        return r;
    }
    int err = errno;
    bool stored = false;
    uint64_t r = rule_from_file(w, ra, &stored);
    bool learned = r && !stored;
    if (stored) HS_ADD(&fills_store, 1);
    else if (r) HS_ADD(&fills_file, 1);
    else {
        r = rule_from_memory(ra);
        HS_ADD(&fills_mem, 1);
    }
    errno = err;
    if (hs_trylock(&fill_lock)) {
        uint32_t mask = HS_LOAD(&cache_mask);
        if (++cache_fills > (mask + 1) / 2 && mask + 1 < CACHE_MAX) {
            cache_grow(mask);
            cache_fills = 0;
        }
        cache_put(ra, r, NULL);
        if (learned) store_learn(ra, r);
        hs_unlock(&fill_lock);
    }
    return r;
}

/* the cache exists and belongs to loader generation gen; false: not now */
static bool cache_ready(uint64_t gen)
{
    if (HS_LIKELY(__atomic_load_n(&cache, __ATOMIC_ACQUIRE) != NULL) &&
        HS_LIKELY(HS_LOAD(&cache_gen) == gen))
        return true;
    if (!hs_trylock(&fill_lock)) return false;
    bool ok = true;
    if (!cache) {
        int err = errno;
        struct centry *c = hs_os_map((CACHE_MAX + NVICTIM) * sizeof *c);
        errno = err;
        if (c) __atomic_store_n(&cache, c, __ATOMIC_RELEASE);
        else ok = false;
        HS_STORE(&cache_gen, gen);
    } else if (HS_LOAD(&cache_gen) != gen) {
        /* the objects' records go too (a dlclosed object's name is freed) */
        if (!hs_trylock(&obj_lock)) {
            hs_unlock(&fill_lock);
            return false;
        }
        __atomic_store_n(&nobjs, 0, __ATOMIC_RELEASE);
        pool_used = 0;
        store_used = 0;
        nlearn = 0;                   /* addresses of objects that may be gone */
        hs_unlock(&obj_lock);
        uint32_t used = HS_LOAD(&cache_mask) + 1;
        for (uint32_t i = 0; i < used; i++) __atomic_store_n(&cache[i].key, 0, __ATOMIC_RELAXED);
        for (uint32_t i = 0; i < NVICTIM; i++) __atomic_store_n(&victims[i].key, 0, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        HS_STORE(&cache_gen, gen);
    }
    hs_unlock(&fill_lock);
    return ok;
}

/* ---- the walk ------------------------------------------------------------------------- */

/* the walk from ip, sp, bp (the registers of the frame it starts in) */
/* reads other functions' frames: not instrumented (SAN=1) */
__attribute__((no_sanitize_address)) static unsigned walk_from(struct walk *w, uintptr_t ip, uintptr_t sp, uintptr_t bp)
{
    const uintptr_t lo = sp, hi = w->hi;
    if (sp >= hi || hi - sp > HS_STACK_SPAN) return HS_UNWIND_FALLBACK;   /* not on the stack we know */
    unsigned n = 0;
    /* the shim's leading frames: walked, not recorded */
    while (ip >= w->self_lo && ip < w->self_hi) {
        uint64_t r = cache_get(ip);
        if (HS_UNLIKELY(!r)) r = cache_fill(w, ip);
        unsigned kind = (unsigned)r & 3;
        if (kind != RULE_WALK) return kind == RULE_END ? 0 : HS_UNWIND_FALLBACK;
        uintptr_t cfa = ((r & R_CFA_BP) ? bp : sp) + (uintptr_t)rule_cfa_off(r);
        if (cfa <= sp || cfa > hi) return 0;
        uintptr_t ra_at = cfa + (uintptr_t)rule_ra_off(r);
        if (ra_at < lo || ra_at > hi - 8) return 0;
        if (r & R_BP_SAVED) {
            uintptr_t bp_at = cfa + (uintptr_t)rule_bp_off(r);
            if (bp_at < lo || bp_at > hi - 8) return 0;
            memcpy(&bp, (const void *)bp_at, sizeof bp);
        }
        memcpy(&ip, (const void *)ra_at, sizeof ip);
        sp = cfa;
    }
    while (ip) {
        w->frames[n++] = ip;
        if (n >= w->max) break;
        uint64_t r = cache_get(ip);
        if (HS_UNLIKELY(!r)) r = cache_fill(w, ip);
        unsigned kind = (unsigned)r & 3;
        if (kind != RULE_WALK) {
            if (kind == RULE_END) break;
            return HS_UNWIND_FALLBACK;
        }
        uintptr_t cfa = ((r & R_CFA_BP) ? bp : sp) + (uintptr_t)rule_cfa_off(r);
        if (cfa <= sp || cfa > hi) break;                   /* corrupt, or the stack's end */
        uintptr_t ra_at = cfa + (uintptr_t)rule_ra_off(r);
        if (ra_at < lo || ra_at > hi - 8) break;
        if (r & R_BP_SAVED) {
            uintptr_t bp_at = cfa + (uintptr_t)rule_bp_off(r);
            if (bp_at < lo || bp_at > hi - 8) break;
            memcpy(&bp, (const void *)bp_at, sizeof bp);    /* a corrupt frame may be misaligned */
        }
        memcpy(&ip, (const void *)ra_at, sizeof ip);
        sp = cfa;
    }
    return n;
}

/* called by hs_unwind_cached (below) with the registers of its caller:
 * its pc (a return address into it), its sp and its rbp */
__attribute__((used, visibility("hidden"))) unsigned hs__unwind_cached(const struct hs_unwind_req *rq, uintptr_t ip,
                                                                       uintptr_t sp, uintptr_t bp);

unsigned hs__unwind_cached(const struct hs_unwind_req *rq, uintptr_t ip, uintptr_t sp, uintptr_t bp)
{
    if (!rq->max || !cache_ready(rq->gen)) return HS_UNWIND_FALLBACK;
    struct walk w;
    w.frames = rq->frames;
    w.max = rq->max;
    w.self_lo = rq->self_lo;
    w.self_hi = rq->self_hi;
    w.hi = hs_unwind_stack_top();
    w.nfds = 0;                       /* fds[] is used below nfds only */
    unsigned n = walk_from(&w, ip, sp, bp);
    if (w.nfds) walk_close(&w);
    return n;
}

/* hs_unwind_cached(rq): the caller's return address, its sp after the
 * return, and its rbp as they are, then on to hs__unwind_cached (a tail
 * jump: the walk starts at the caller's frame, and this entry has none) */
__asm__(".text\n"
        ".p2align 4\n"
        ".type hs_unwind_cached, @function\n"
        ".hidden hs_unwind_cached\n"
        ".globl hs_unwind_cached\n"
        "hs_unwind_cached:\n"
        ".cfi_startproc\n"
        "\tmovq (%rsp), %rsi\n"
        "\tleaq 8(%rsp), %rdx\n"
        "\tmovq %rbp, %rcx\n"
        "\tjmp hs__unwind_cached\n"
        ".cfi_endproc\n"
        ".size hs_unwind_cached, .-hs_unwind_cached\n");

HS_FORK_CODE void hs_unwind_fork_child(void)
{
    hs_lock_reset(&fill_lock);
    hs_lock_reset(&obj_lock);
    nlearn = 0;                       /* the parent stores what it read */
}

#else  /* not x86-64: libgcc's unwinder for every sample */

void hs_unwind_stats(uint64_t *from_files, uint64_t *in_memory, uint64_t *from_store)
{
    *from_files = *in_memory = *from_store = 0;
}

void hs_unwind_store_at(const char *dir) { (void)dir; }

void hs_unwind_store_save(void) {}

void hs_unwind_fork_child(void) {}

unsigned hs_unwind_cached(const struct hs_unwind_req *rq)
{
    (void)rq;
    return HS_UNWIND_FALLBACK;
}

#endif
