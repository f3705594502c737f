/*
 * interpose/deepbind.c - libraries loaded with RTLD_DEEPBIND call the shim's
 * malloc family too.
 *
 * Room: symbol resolution of the malloc family for code that LD_PRELOAD
 * does not reach. dlopen(RTLD_DEEPBIND) (Debian's php loads every extension
 * so) makes the new library, and every object that the dlopen brings in with
 * it, resolve its references in its own dependency scope first: malloc, free,
 * ... bind to glibc's definitions, not to the preloaded shim's. A block the
 * program allocated is then freed by glibc, or the reverse: heap corruption
 * or a crash (php aborted at start-up in every mode but plain malloc).
 *
 * What other allocators do: jemalloc, mimalloc and snmalloc set glibc's
 * __malloc_hook & co. so that glibc's malloc forwards to theirs -- glibc 2.34
 * removed the hooks. heaptrack and hardened_malloc wrap dlopen and drop
 * RTLD_DEEPBIND, which changes the plugin's symbol resolution. gperftools
 * says: do not mix. Rewriting the new objects' GOT entries after dlopen
 * returns is too late and too narrow: the library's constructors run inside
 * dlopen (a constructor freeing a strdup()ed string crashes before any
 * post-dlopen patch), lazily bound entries resolve later, in that same deep
 * scope, and a dlopen wrapper moves the caller that glibc sees (dlopen takes
 * its return address for the caller's RUNPATH, $ORIGIN and namespace).
 *
 * What we do instead: make glibc's own symbol table answer with the shim.
 * Every lookup of "malloc" -- relocation of a deep-bound object, a lazy PLT
 * fix-up, dlsym(RTLD_NEXT) or dlsym on libc's handle (ctypes'
 * CDLL("libc.so.6").free) -- ends at a dynamic symbol entry of the object
 * that defines it, and the address it yields is that object's load base +
 * st_value. So once, at the process's first dlopen or dlmopen (see "when"
 * below), we set st_value of libc.so.6's entries for the malloc family (and
 * _exit/_Exit, which the shim also replaces) to (the shim's function -
 * libc's base). glibc's code is untouched: the shim
 * keeps reaching it through the __libc_* entry points (other symbols), and
 * so does anything else that asks for them by those names. Deep binding
 * keeps working for every other symbol, dlopen keeps its caller, and the
 * answer is in place before any constructor of a deep-bound library runs.
 *
 * Only when the process's definition of a name (what the global scope
 * gives our own GOT entry for it, or the canonical PLT entry of a program
 * built without PIE, which leads to us) is the shim's: if the program or an
 * earlier preloaded library defines malloc, or the shim was dlopen()ed
 * rather than preloaded or linked, nothing is changed. A dlsym(RTLD_NEXT,
 * "malloc") from a library after the shim, or dlsym on libc's handle, now
 * gives the shim's malloc: the same allocator as everybody else's.
 *
 * The symbol table lives in a read-only segment of libc: the pages holding
 * the entries are made writable for the stores (private copy-on-write
 * pages, about ten of them, already resident) and read-only again. All or
 * nothing: if any page cannot be made writable, or malloc/calloc/realloc/free
 * cannot all be redirected, nothing is written (one warning line), and
 * deep-bound libraries use glibc's allocator as before. Each store is one
 * aligned word: a concurrent lookup sees the old or the new value. No
 * allocation anywhere here.
 *
 * Not covered: a deep-bound library loaded by a dlopen that is not the
 * process's (one that code found with dlsym on libc's handle) before any
 * other dlopen; on architectures without the dlopen stubs, objects
 * relocated before the shim's constructor ran (glibc runs it after the
 * constructors of the program's libraries); namespaces made by
 * dlmopen(LM_ID_NEWLM), which load a libc of their own with its own heap
 * (the shim is not in them). LD_DEBUG=bindings still names libc.so.6 as
 * the object that a deep-bound malloc bound to.
 */
#include "shim.h"
#include "deepbind.h"
#include <dlfcn.h>
#include <elf.h>
#include <sched.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef void (*hs_fn_t)(void);

/* glibc's names that the shim defines over it (cfree: glibc's old alias of
 * free, a compatibility symbol still bound by old binaries), the shim's
 * function for each, and the process's definition of that function: the
 * addresses taken here go through our GOT, i.e. the global scope. */
static const struct {
    const char *name;
    const char *ours;           /* the shim's exported name */
    hs_fn_t global;
    bool required;              /* malloc, calloc, realloc, free: all or nothing */
} redirects[] = {
    { "malloc", "malloc", (hs_fn_t)malloc, true },
    { "calloc", "calloc", (hs_fn_t)calloc, true },
    { "realloc", "realloc", (hs_fn_t)realloc, true },
    { "free", "free", (hs_fn_t)free, true },
    { "cfree", "free", (hs_fn_t)free, false },
    { "reallocarray", "reallocarray", (hs_fn_t)reallocarray, false },
    { "memalign", "memalign", (hs_fn_t)memalign, false },
    { "aligned_alloc", "aligned_alloc", (hs_fn_t)aligned_alloc, false },
    { "posix_memalign", "posix_memalign", (hs_fn_t)posix_memalign, false },
    { "valloc", "valloc", (hs_fn_t)valloc, false },
    { "pvalloc", "pvalloc", (hs_fn_t)pvalloc, false },
    { "malloc_usable_size", "malloc_usable_size", (hs_fn_t)malloc_usable_size, false },
    { "_exit", "_exit", (hs_fn_t)_exit, false },
    { "_Exit", "_Exit", (hs_fn_t)_Exit, false },
};
#define NREDIRECTS (sizeof redirects / sizeof *redirects)
#define MAX_SLOTS  (2 * NREDIRECTS)     /* a name may have several versions */
#define MAX_PAGES  MAX_SLOTS

static int state;                       /* see hs_deepbind_state() */

int hs_deepbind_state(void) { return __atomic_load_n(&state, __ATOMIC_ACQUIRE); }

/* ---- the loaded objects ------------------------------------------------------ */

struct object {
    uintptr_t inside;               /* an address to look for */
    ElfW(Addr) base;
    const ElfW(Phdr) *phdr;
    ElfW(Half) phnum;
    bool found;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct object *o = data;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (o->inside >= start && o->inside - start < ph->p_memsz) {
            o->base = info->dlpi_addr;
            o->phdr = info->dlpi_phdr;
            o->phnum = info->dlpi_phnum;
            o->found = true;
            return 1;
        }
    }
    return 0;
}

/* the PT_LOAD segment of o holding [a, a+n), or NULL */
static const ElfW(Phdr) *segment_of(const struct object *o, uintptr_t a, size_t n)
{
    for (ElfW(Half) i = 0; i < o->phnum; i++) {
        const ElfW(Phdr) *ph = &o->phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t start = o->base + ph->p_vaddr;
        if (a >= start && a - start <= ph->p_memsz && n <= ph->p_memsz - (a - start)) return ph;
    }
    return NULL;
}

/* protection of the page at a now: its segment's, read-only within RELRO */
static int page_prot(const struct object *o, const ElfW(Phdr) *seg, uintptr_t a)
{
    int prot = ((seg->p_flags & PF_R) ? PROT_READ : 0) | ((seg->p_flags & PF_W) ? PROT_WRITE : 0)
             | ((seg->p_flags & PF_X) ? PROT_EXEC : 0);
    for (ElfW(Half) i = 0; i < o->phnum; i++) {
        const ElfW(Phdr) *ph = &o->phdr[i];
        if (ph->p_type == PT_GNU_RELRO && a >= o->base + ph->p_vaddr && a - (o->base + ph->p_vaddr) < ph->p_memsz)
            prot &= ~PROT_WRITE;
    }
    return prot;
}

/* ---- libc's dynamic symbol table ------------------------------------------------- */

struct symtab {
    const ElfW(Sym) *sym;
    const char *str;
    size_t strsz;
    const uint32_t *gnu_hash;
    const uint32_t *sysv_hash;
};

/* a d_ptr of the dynamic section: glibc adjusts them by the load base in
 * place on most targets, not on all (read-only dynamic sections) */
static uintptr_t dyn_ptr(const struct object *o, ElfW(Addr) v)
{
    return v < o->base ? o->base + v : v;
}

static bool read_dynamic(const struct object *o, struct symtab *t)
{
    const ElfW(Dyn) *dyn = NULL;
    for (ElfW(Half) i = 0; i < o->phnum; i++)
        if (o->phdr[i].p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)(o->base + o->phdr[i].p_vaddr);
    if (!dyn) return false;
    memset(t, 0, sizeof *t);
    size_t syment = sizeof(ElfW(Sym));
    for (unsigned n = 0; dyn->d_tag != DT_NULL && n < 4096; dyn++, n++) {
        switch (dyn->d_tag) {
        case DT_SYMTAB: t->sym = (const ElfW(Sym) *)dyn_ptr(o, dyn->d_un.d_ptr); break;
        case DT_STRTAB: t->str = (const char *)dyn_ptr(o, dyn->d_un.d_ptr); break;
        case DT_STRSZ: t->strsz = dyn->d_un.d_val; break;
        case DT_SYMENT: syment = dyn->d_un.d_val; break;
        case DT_GNU_HASH: t->gnu_hash = (const uint32_t *)dyn_ptr(o, dyn->d_un.d_ptr); break;
        case DT_HASH: t->sysv_hash = (const uint32_t *)dyn_ptr(o, dyn->d_un.d_ptr); break;
        default: break;
        }
    }
    if (!t->sym || !t->str || !t->strsz || syment != sizeof(ElfW(Sym))) return false;
    if (!segment_of(o, (uintptr_t)t->sym, sizeof *t->sym) || !segment_of(o, (uintptr_t)t->str, t->strsz))
        return false;
    if (t->gnu_hash && !segment_of(o, (uintptr_t)t->gnu_hash, 4 * sizeof(uint32_t))) t->gnu_hash = NULL;
    if (t->sysv_hash && !segment_of(o, (uintptr_t)t->sysv_hash, 2 * sizeof(uint32_t))) t->sysv_hash = NULL;
    return t->gnu_hash || t->sysv_hash;
}

static bool name_is(const struct symtab *t, const ElfW(Sym) *s, const char *name)
{
    size_t len = strlen(name);
    return s->st_name < t->strsz && t->strsz - s->st_name > len && !memcmp(t->str + s->st_name, name, len + 1);
}

/* every entry named `name` (each version of it), through the hash table
 * that the loader itself uses; returns how many were stored in out[] */
static unsigned lookup(const struct object *o, const struct symtab *t, const char *name,
                       const ElfW(Sym) **out, unsigned max)
{
    unsigned n = 0;
    if (t->gnu_hash) {
        const uint32_t *ht = t->gnu_hash;
        uint32_t nbuckets = ht[0], symoffset = ht[1], bloom_size = ht[2];
        if (!nbuckets) return 0;
        const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(ht + 4) + bloom_size);
        const uint32_t *chain = buckets + nbuckets;
        if (!segment_of(o, (uintptr_t)buckets, nbuckets * sizeof *buckets)) return 0;
        uint32_t h = 5381;
        for (const char *c = name; *c; c++) h = h * 33 + (unsigned char)*c;
        uint32_t i = buckets[h % nbuckets];
        if (i < symoffset) return 0;
        for (unsigned guard = 0; guard < (1u << 20); guard++, i++) {
            if (!segment_of(o, (uintptr_t)&chain[i - symoffset], sizeof *chain)) break;
            uint32_t ch = chain[i - symoffset];
            const ElfW(Sym) *s = &t->sym[i];
            if ((ch | 1) == (h | 1) && segment_of(o, (uintptr_t)s, sizeof *s) && name_is(t, s, name) && n < max)
                out[n++] = s;
            if (ch & 1) break;
        }
        return n;
    }
    const uint32_t *ht = t->sysv_hash;
    uint32_t nbucket = ht[0], nchain = ht[1];
    if (!nbucket || !segment_of(o, (uintptr_t)(ht + 2), ((size_t)nbucket + nchain) * sizeof *ht)) return 0;
    uint32_t h = 0;
    for (const char *c = name; *c; c++) {
        h = (h << 4) + (unsigned char)*c;
        uint32_t g = h & 0xf0000000u;
        if (g) h ^= g >> 24;
        h &= ~g;
    }
    const uint32_t *bucket = ht + 2, *chain = bucket + nbucket;
    unsigned guard = 0;
    for (uint32_t i = bucket[h % nbucket]; i != STN_UNDEF && i < nchain && guard < nchain; i = chain[i], guard++) {
        const ElfW(Sym) *s = &t->sym[i];
        if (segment_of(o, (uintptr_t)s, sizeof *s) && name_is(t, s, name) && n < max) out[n++] = s;
    }
    return n;
}

/* ---- is a name defined anywhere (for python.c) ------------------------------------ */

struct defined_query {
    const char *name;
    uintptr_t inside;               /* 0: any object; else the object holding it */
    bool found;
    uintptr_t base;                 /* found: that object's load address and name */
    const char *obj;
};

static int defined_in(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct defined_query *q = data;
    struct object o = { .inside = q->inside, .base = info->dlpi_addr, .phdr = info->dlpi_phdr,
                        .phnum = info->dlpi_phnum, .found = true };
    if (q->inside && !segment_of(&o, q->inside, 1)) return 0;
    struct symtab t;
    const ElfW(Sym) *hits[4];
    if (!read_dynamic(&o, &t)) return 0;
    unsigned n = lookup(&o, &t, q->name, hits, 4);
    for (unsigned i = 0; i < n; i++)
        if (hits[i]->st_shndx != SHN_UNDEF) q->found = true;
    if (q->found) {
        q->base = info->dlpi_addr;
        q->obj = info->dlpi_name;
    }
    return q->found || q->inside;   /* stop at the first definition, or at the one object asked */
}

bool hs_elf_defines(const void *inside, const char *name)
{
    struct defined_query q = { name, (uintptr_t)inside, false, 0, NULL };
    dl_iterate_phdr(defined_in, &q);
    return q.found;
}

bool hs_elf_first_definer(const char *name, uintptr_t *base, const char **obj)
{
    struct defined_query q = { name, 0, false, 0, NULL };
    dl_iterate_phdr(defined_in, &q);
    *base = q.base;
    *obj = q.obj;
    return q.found;
}

/* ---- the redirection ------------------------------------------------------------- */

struct slot {
    ElfW(Sym) *sym;
    ElfW(Addr) value;               /* new st_value */
};

struct page {
    uintptr_t addr;
    int prot;                       /* as it is now */
    bool writable;                  /* made writable by us */
};

/* one line: what failed, and what it means */
static void warn(const char *a, const char *b, const char *c)
{
    char line[256];
    size_t n = 0;
    const char *parts[] = { a, b, c };
    for (unsigned i = 0; i < 3; i++)
        for (const char *p = parts[i]; p && *p && n < sizeof line - 1; p++) line[n++] = *p;
    line[n] = 0;
    hs_shim_warn("RTLD_DEEPBIND: ", line,
                 "; libraries loaded with RTLD_DEEPBIND call glibc's malloc, not the shim's");
}

static const char *errname(int e)
{
    const char *s = strerrorname_np(e);
    return s ? s : "unknown error";
}

/* a plain function definition (an IFUNC's st_value is its resolver's) */
static bool plain_function(const ElfW(Sym) *s)
{
    unsigned bind = ELF64_ST_BIND(s->st_info), type = ELF64_ST_TYPE(s->st_info);   /* = ELF32_* */
    return s->st_shndx != SHN_UNDEF && s->st_shndx != SHN_ABS && (bind == STB_GLOBAL || bind == STB_WEAK)
        && type == STT_FUNC;
}

/* the address of o's own definition of name, or 0 */
static uintptr_t definition(const struct object *o, const struct symtab *t, const char *name)
{
    const ElfW(Sym) *found[4];
    unsigned n = lookup(o, t, name, found, 4);
    for (unsigned k = 0; k < n; k++)
        if (plain_function(found[k])) return o->base + found[k]->st_value;
    return 0;
}

/*
 * Is `ours` what the program's calls of `name` reach? `global` is what the
 * global scope gave our GOT: `ours` itself; or, in a program built without
 * PIE that takes the function's address, the program's canonical PLT entry
 * (an undefined symbol with a value), whose calls still reach the first
 * definition after the program -- ours, as nothing before us defined it;
 * or another object's definition (the program's own allocator, or a
 * library preloaded before us): not ours.
 */
static bool process_uses(uintptr_t ours, uintptr_t global, const char *name)
{
    if (global == ours) return true;
    struct object o = { .inside = global };
    struct symtab t;
    dl_iterate_phdr(find_object, &o);
    if (!o.found || !read_dynamic(&o, &t)) return false;
    const ElfW(Sym) *found[4];
    unsigned n = lookup(&o, &t, name, found, 4);
    for (unsigned k = 0; k < n; k++)
        if (found[k]->st_shndx == SHN_UNDEF && found[k]->st_value && o.base + found[k]->st_value == global)
            return true;
    return false;
}

/* the outcome: 2, 3 or 4 (see hs_deepbind_state) */
static int redirect_libc(void)
{
    struct object self = { .inside = (uintptr_t)&hs_deepbind_setup };
    struct object libc = { .inside = (uintptr_t)&gnu_get_libc_version };   /* glibc's alone */
    dl_iterate_phdr(find_object, &self);
    dl_iterate_phdr(find_object, &libc);
    if (!self.found || !libc.found) {
        warn("cannot find glibc or the shim among the loaded objects", NULL, NULL);
        return 4;
    }
    if (self.base == libc.base) return 3;      /* linked into libc?! nothing to do */

    struct symtab t, selft;
    if (!read_dynamic(&libc, &t) || !read_dynamic(&self, &selft)) {
        warn("cannot read glibc's or the shim's dynamic symbol table", NULL, NULL);
        return 4;
    }
    /* the process's malloc must be ours: else whoever defines it is
     * the allocator of the process and this is not our business */
    uintptr_t ours[NREDIRECTS];
    for (unsigned r = 0; r < NREDIRECTS; r++) {
        ours[r] = definition(&self, &selft, redirects[r].ours);
        if (ours[r] && !process_uses(ours[r], (uintptr_t)redirects[r].global, redirects[r].ours)) ours[r] = 0;
        if (!ours[r] && redirects[r].required) return 3;
    }

    struct slot slots[MAX_SLOTS];
    unsigned nslots = 0;
    for (unsigned r = 0; r < NREDIRECTS; r++) {
        if (!ours[r]) continue;         /* not the shim's: leave glibc's */
        const ElfW(Sym) *found[4];
        unsigned n = lookup(&libc, &t, redirects[r].name, found, 4);
        unsigned usable = 0;
        for (unsigned k = 0; k < n && nslots < MAX_SLOTS; k++) {
            if (!plain_function(found[k])) continue;
            slots[nslots++] = (struct slot){ (ElfW(Sym) *)found[k], (ElfW(Addr))(ours[r] - libc.base) };
            usable++;
        }
        if (!usable && redirects[r].required) {
            warn("no plain definition of ", redirects[r].name, " in glibc's symbol table");
            return 4;
        }
    }

    /* make every page writable first: all or nothing */
    size_t pagesz = (size_t)sysconf(_SC_PAGESIZE);
    struct page pages[MAX_PAGES];
    unsigned npages = 0;
    for (unsigned i = 0; i < nslots; i++) {
        uintptr_t a = (uintptr_t)&slots[i].sym->st_value;
        uintptr_t pg = a & ~(uintptr_t)(pagesz - 1);
        unsigned k;
        for (k = 0; k < npages && pages[k].addr != pg; k++) {}
        if (k < npages) continue;
        const ElfW(Phdr) *seg = segment_of(&libc, a, sizeof(ElfW(Addr)));
        if (!seg) {
            warn("a symbol entry outside glibc's segments", NULL, NULL);
            return 4;
        }
        pages[npages++] = (struct page){ pg, page_prot(&libc, seg, a), false };
    }
    int err = 0;
    for (unsigned k = 0; k < npages && !err; k++) {
        if (pages[k].prot & PROT_WRITE) continue;
        if (mprotect((void *)pages[k].addr, pagesz, pages[k].prot | PROT_WRITE) != 0) err = errno;
        else pages[k].writable = true;
    }
    if (!err) {
        for (unsigned i = 0; i < nslots; i++) __atomic_store_n(&slots[i].sym->st_value, slots[i].value, __ATOMIC_RELAXED);
    }
    int rerr = 0;
    for (unsigned k = 0; k < npages; k++)
        if (pages[k].writable && mprotect((void *)pages[k].addr, pagesz, pages[k].prot) != 0) rerr = errno;
    if (err) {
        warn("cannot make glibc's symbol table writable (mprotect: ", errname(err), ")");
        return 4;
    }
    if (rerr)   /* redirected all the same: a warning, not a failure */
        hs_shim_warn("RTLD_DEEPBIND: glibc's symbol table left writable (mprotect: ", errname(rerr), ")");
    return 2;
}

void hs_deepbind_setup(void)
{
    int expect = 0;
    if (__atomic_compare_exchange_n(&state, &expect, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&state, redirect_libc(), __ATOMIC_RELEASE);
        return;
    }
    /* Another thread is at it: wait, so that our caller's dlopen binds to
     * the finished table. Bounded, in case that thread waits for a loader
     * lock our caller holds (a dlopen from a dl_iterate_phdr callback). */
    for (unsigned i = 0; i < 100000 && __atomic_load_n(&state, __ATOMIC_ACQUIRE) == 1; i++) sched_yield();
}

/* ---- when ------------------------------------------------------------------------- */

#if defined(__x86_64__)
/*
 * At the process's first dlopen or dlmopen (the only ways to a deep-bound
 * library, or to libc's handle for a dlsym): a process that loads nothing
 * at run time pays nothing (the redirect costs a dozen mprotect calls and
 * copy-on-write faults, about a millisecond of CPU on a small VM, and ~40
 * KiB of private pages). Earlier than the shim's constructor if need be: a
 * library constructor that runs before it and loads a plugin is covered.
 *
 * dlopen and dlmopen are tail jumps to the real ones (the next definitions
 * after the shim, dlsym(RTLD_NEXT)): glibc takes the caller from its
 * return address (RUNPATH, $ORIGIN, namespace), which must stay the
 * program's, and the arguments, return value and dlerror() are the real
 * function's own. Only the first call of either detours through
 * hs_db_prepare(), all argument registers saved (3 pushes keep the stack
 * 16-byte aligned at the call).
 */
HS_HIDDEN void *hs_db_real_dlopen, *hs_db_real_dlmopen;
HS_HIDDEN uint8_t hs_db_ready;
HS_HIDDEN uint32_t hs_db_opens;     /* dlopen/dlmopen calls so far (python.c looks) */

HS_HIDDEN void hs_db_prepare(void);
HS_HIDDEN void hs_db_prepare(void)
{
    if (!__atomic_load_n(&hs_db_real_dlopen, __ATOMIC_ACQUIRE)) {
        void *o = dlsym(RTLD_NEXT, "dlopen"), *m = dlsym(RTLD_NEXT, "dlmopen");
        if (!o || !m) {
            static const char msg[] = "heapshim: fatal: no dlopen/dlmopen after the shim (dlsym RTLD_NEXT)\n";
            (void)!write(2, msg, sizeof msg - 1);
            abort();
        }
        __atomic_store_n(&hs_db_real_dlmopen, m, __ATOMIC_RELEASE);
        __atomic_store_n(&hs_db_real_dlopen, o, __ATOMIC_RELEASE);
    }
    hs_deepbind_setup();
    __atomic_store_n(&hs_db_ready, 1, __ATOMIC_RELEASE);
}

#define HS_DB_STUB(name, real)                                              \
    ".globl " name "\n"                                                     \
    ".type " name ", @function\n"                                           \
    ".p2align 4\n"                                                          \
    name ":\n"                                                              \
    "    .cfi_startproc\n"                                                  \
    "    endbr64\n"                                                         \
    "    lock incl hs_db_opens(%rip)\n"                                     \
    "    cmpb $0, hs_db_ready(%rip)\n"                                      \
    "    je 1f\n"                                                           \
    "    jmp *" real "(%rip)\n"                                             \
    "1:  pushq %rdi\n"                                                      \
    "    .cfi_adjust_cfa_offset 8\n"                                        \
    "    pushq %rsi\n"                                                      \
    "    .cfi_adjust_cfa_offset 8\n"                                        \
    "    pushq %rdx\n"                                                      \
    "    .cfi_adjust_cfa_offset 8\n"                                        \
    "    call hs_db_prepare\n"                                              \
    "    popq %rdx\n"                                                       \
    "    .cfi_adjust_cfa_offset -8\n"                                       \
    "    popq %rsi\n"                                                       \
    "    .cfi_adjust_cfa_offset -8\n"                                       \
    "    popq %rdi\n"                                                       \
    "    .cfi_adjust_cfa_offset -8\n"                                       \
    "    jmp *" real "(%rip)\n"                                             \
    "    .cfi_endproc\n"                                                    \
    ".size " name ", .-" name "\n"

__asm__(".text\n"
        HS_DB_STUB("dlopen", "hs_db_real_dlopen")
        HS_DB_STUB("dlmopen", "hs_db_real_dlmopen"));

#else
/* No stubs for this architecture: at start-up, from the shim's constructor
 * (after the constructors of the program's libraries). */
__attribute__((constructor)) static void deepbind_start(void) { hs_deepbind_setup(); }
#endif
