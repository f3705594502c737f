/*
 * tools/symbolize.c - return addresses of a profile to function names.
 *
 * Room: symbolisation at read time, outside the profiled process, with
 * elfutils' libdwfl (Debian libdw-dev; scripts/configure: HS_HAVE_DW).
 * Each module the profile recorded (path, load bias, build-id) is reported
 * to libdwfl from its file on disk; a file whose build-id differs from the
 * recorded one (replaced since) is not used. Addresses that no module
 * explains, or whose module has no symbol there, come out as
 * "module+0xOFFSET" or "0xADDR". Without libdw, every name is of that form.
 */
#include "config.h"
#include "profile.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#if HS_HAVE_DW
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

/* names already looked up, by return address: a profile's stacks share
 * most of their frames, and libdwfl's name lookup scans a module's symbol
 * table (30 s for the 24,000 stacks of a python3 profile, 0.3 s kept) */
struct memo { uint64_t ra; char *name; };

struct symbolizer {
    const struct profile *p;
    struct memo *memo;                 /* open addressing, power of two; ra 0 = empty */
    size_t nmemo, capmemo;
#if HS_HAVE_DW
    Dwfl *dwfl;
    char *usable;                      /* per module: reported and build-id matches */
#endif
};

int sym_available(void) { return HS_HAVE_DW; }

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static const char *mod_path(const struct profile *p, const struct hs_prof_module *m)
{
    return m->path[0] ? m->path : p->h.exe;
}

/* the module whose segments hold addr, or -1 */
static int mod_of(const struct profile *p, uint64_t addr)
{
    for (uint32_t i = 0; i < p->nmods; i++)
        for (uint32_t k = 0; k < p->mods[i].nsegs; k++)
            if (addr >= p->mods[i].segs[k].start && addr < p->mods[i].segs[k].end) return (int)i;
    return -1;
}

#if HS_HAVE_DW
/* Separate debug information by build-id only (/usr/lib/debug/.build-id,
 * where Debian's -dbgsym packages put it): the standard search also follows
 * the file's .gnu_debuglink into its own directory, which a hostile
 * profile's module path chooses (a FIFO named there would block the open). */
static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_build_id_find_debuginfo,
};
#endif

struct symbolizer *sym_open(const struct profile *p)
{
    struct symbolizer *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = p;
#if HS_HAVE_DW
    s->usable = calloc(p->nmods ? p->nmods : 1, 1);
    s->dwfl = dwfl_begin(&callbacks);
    if (!s->usable || !s->dwfl) return s;
    dwfl_report_begin(s->dwfl);
    for (uint32_t i = 0; i < p->nmods; i++) {
        const struct hs_prof_module *m = &p->mods[i];
        const char *path = mod_path(p, m);
        if (path[0] != '/') continue;                /* linux-vdso.so.1 and the like */
        /* the path comes from the profile, a hostile file: opened without
         * blocking (a FIFO there would wait for a writer forever) and used
         * only if it is a regular file; libdwfl takes the descriptor */
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        struct stat st;
        if (fd < 0) continue;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            continue;
        }
        Dwfl_Module *dm = dwfl_report_elf(s->dwfl, base_name(path), path, fd, m->base, false);
        if (!dm) {
            close(fd);
            continue;
        }
        const unsigned char *bits;
        GElf_Addr vaddr;
        int n = dwfl_module_build_id(dm, &bits, &vaddr);
        if (m->build_id_len && (n != (int)m->build_id_len || memcmp(bits, m->build_id, (size_t)n) != 0))
            continue;                                /* not the file that was loaded */
        s->usable[i] = 1;
    }
    dwfl_report_end(s->dwfl, NULL, NULL);
#endif
    return s;
}

static const char *sym_lookup(struct symbolizer *s, uint64_t ra, char *buf, size_t cap);

static size_t memo_at(const struct symbolizer *s, uint64_t ra)
{
    size_t i = (size_t)((ra * 0x9e3779b97f4a7c15ull) >> 20) & (s->capmemo - 1);
    while (s->memo[i].ra && s->memo[i].ra != ra) i = (i + 1) & (s->capmemo - 1);
    return i;
}

/* keep name for ra; without memory, nothing is kept (the next call looks
 * it up again) */
static void memo_put(struct symbolizer *s, uint64_t ra, const char *name)
{
    if ((s->nmemo + 1) * 2 > s->capmemo) {
        size_t cap = s->capmemo ? s->capmemo * 2 : 1024;
        struct memo *m = calloc(cap, sizeof *m), *old = s->memo;
        if (!m) return;
        size_t oldcap = s->capmemo;
        s->memo = m;
        s->capmemo = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].ra) s->memo[memo_at(s, old[i].ra)] = old[i];
        free(old);
    }
    char *copy = strdup(name);
    if (!copy) return;
    size_t i = memo_at(s, ra);
    s->memo[i] = (struct memo){ ra, copy };
    s->nmemo++;
}

const char *sym_name(struct symbolizer *s, uint64_t ra, char *buf, size_t cap)
{
    if (!s || !ra) return sym_lookup(s, ra, buf, cap);
    if (s->capmemo) {
        size_t i = memo_at(s, ra);
        if (s->memo[i].ra) {
            snprintf(buf, cap, "%s", s->memo[i].name);
            return buf;
        }
    }
    sym_lookup(s, ra, buf, cap);
    memo_put(s, ra, buf);
    return buf;
}

static const char *sym_lookup(struct symbolizer *s, uint64_t ra, char *buf, size_t cap)
{
    if (ra & HS_PROF_FRAME_PY) {                 /* an interpreter frame: the profile names it */
        uint64_t id = ra & 0xffffffffu;
        if (!s || id >= s->p->npyf) {
            snprintf(buf, cap, "python frame #%" PRIu64 "?", id);
            return buf;
        }
        const struct hs_prof_pyframe *f = &s->p->pyf[id];
        if (f->line >= 0) snprintf(buf, cap, "%s (%s:%d)", f->name, f->file, f->line);
        else snprintf(buf, cap, "%s (%s)", f->name, f->file);
        return buf;
    }
    /* a return address: the call is the instruction before it */
    uint64_t pc = ra ? ra - 1 : 0;
    int mi = s ? mod_of(s->p, pc) : -1;
#if HS_HAVE_DW
    if (mi >= 0 && s->dwfl && s->usable && s->usable[mi]) {
        Dwfl_Module *dm = dwfl_addrmodule(s->dwfl, pc);
        const char *name = dm ? dwfl_module_addrname(dm, pc) : NULL;
        if (name && *name) {
            snprintf(buf, cap, "%s", name);
            return buf;
        }
    }
#endif
    if (mi >= 0) {
        const struct hs_prof_module *m = &s->p->mods[mi];
        snprintf(buf, cap, "%s+0x%" PRIx64, base_name(mod_path(s->p, m)), pc - m->base);
    } else {
        snprintf(buf, cap, "0x%" PRIx64, pc);
    }
    return buf;
}

void sym_close(struct symbolizer *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->capmemo; i++) free(s->memo[i].name);
    free(s->memo);
#if HS_HAVE_DW
    if (s->dwfl) dwfl_end(s->dwfl);
    free(s->usable);
#endif
    free(s);
}
