/*
 * interpose/route.c - which domain a plain malloc call belongs to.
 *
 * Room: HEAPSHIM_ROUTE rules and the lookup of the calling shared object.
 *
 *   HEAPSHIM_ROUTE = RULE[,RULE]...      RULE = GLOB=DOMAIN
 *   GLOB   matched against the names of the shared object that called
 *          malloc (or mmap): its file name and full path as in /proc/PID/maps,
 *          its soname, the path it was loaded by (below); '*' any run of
 *          characters, '?' one character; the main program by its file name
 *          and full path
 *   DOMAIN raw | mem | obj
 *   The first matching rule wins; a call no rule matches goes to mem.
 *
 * Finding the caller: glibc's _dl_find_object() maps a return address to its
 * object without taking the loader lock or allocating. Each thread remembers
 * the last few objects it saw (address range -> domain), so the common case
 * is a few compares; on a miss the object's domain comes from a process-wide
 * table, where each object's names are matched once. Rules that matched
 * nothing by exit are named in one warning line each
 * (hs_route_warn_unmatched, from the exit code).
 */
#include "shim.h"
#include "../core/prim/proc.h"
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_domain(const char *s, size_t n)
{
    if (n == 3 && !memcmp(s, "raw", 3)) return HS_DOMAIN_RAW;
    if (n == 3 && !memcmp(s, "mem", 3)) return HS_DOMAIN_MEM;
    if (n == 3 && !memcmp(s, "obj", 3)) return HS_DOMAIN_OBJ;
    return -1;
}

int hs_route_parse(const char *spec, struct hs_route_rule *rules, unsigned max, unsigned *n,
                   const char **why)
{
    *n = 0;
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!len) {
            *why = "empty rule";
            return -1;
        }
        if (!eq || eq == p) {
            *why = "a rule is not GLOB=DOMAIN";
            return -1;
        }
        size_t plen = (size_t)(eq - p);
        int dom = parse_domain(eq + 1, len - plen - 1);
        if (dom < 0) {
            *why = "unknown domain in a rule";
            return -1;
        }
        if (plen >= HS_ROUTE_PATTERN_MAX) {
            *why = "a pattern is longer than 63 characters";
            return -1;
        }
        if (*n >= max) {
            *why = "more than 16 rules";
            return -1;
        }
        memcpy(rules[*n].pattern, p, plen);
        rules[*n].pattern[plen] = 0;
        rules[*n].dom = (unsigned)dom;
        (*n)++;
        if (!end) break;
        p = end + 1;
        if (!*p) {
            *why = "trailing comma";
            return -1;
        }
    }
    if (!*n) {
        *why = "no rules";
        return -1;
    }
    return 0;
}

bool hs_route_glob(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == '?' || *pat == *s) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*') pat++;
    return !*pat;
}

/* ---- caller lookup ------------------------------------------------------- */

/*
 * The names of an object. A rule matches an object when its glob matches any
 * of them:
 *   - the file name as /proc/PID/maps shows it (the file itself, symlinks
 *     resolved: libsqlite3.so.0.8.6), and that full path
 *     (/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6);
 *   - the name the loader opened it by (l_name: /lib/x86_64-linux-gnu/
 *     libsqlite3.so.0), its file name, and the soname (DT_SONAME,
 *     libsqlite3.so.0);
 *   - for the main program: /proc/self/exe (full path) and its file name.
 * A rule with a '/' is meant for a full path, but all names are tried for
 * every rule (a glob such as '*sqlite*' matches the path too).
 * Worked out once per object (the table below), when a thread of the
 * process first sees a call from it: reading /proc/self/maps happens once
 * per object, with raw reads into a stack buffer (this runs inside malloc).
 */

static char main_path[512] HS_COLD_BSS;

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* rules that matched some object (bit i: rule i), for the exit warning */
static unsigned rule_hits;

static int match_names(const char *const *names, unsigned n)
{
    for (unsigned i = 0; i < hs_shim.nrules; i++)
        for (unsigned k = 0; k < n; k++)
            if (names[k] && names[k][0] && hs_route_glob(hs_shim.rules[i].pattern, names[k])) {
                __atomic_fetch_or(&rule_hits, 1u << i, __ATOMIC_RELAXED);
                return (int)i;
            }
    return -1;
}

/* the path /proc/self/maps gives for the mapping holding addr; "" if none */
static void maps_path(uintptr_t addr, char *out, size_t cap)
{
    out[0] = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[8192];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0) break;
        have += (size_t)r;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = 0;
            char *e;
            uintptr_t lo = (uintptr_t)strtoull(line, &e, 16);
            uintptr_t hi = *e == '-' ? (uintptr_t)strtoull(e + 1, &e, 16) : 0;
            if (addr >= lo && addr < hi) {
                char *path = strchr(line, '/');
                if (path) {
                    size_t n = strlen(path);
                    if (n >= cap) n = cap - 1;
                    memcpy(out, path, n);
                    out[n] = 0;
                }
                close(fd);
                return;
            }
            line = nl + 1;
        }
        size_t left = have - (size_t)(line - buf);
        if (left == sizeof buf - 1) left = 0;     /* a line longer than the buffer: drop it */
        memmove(buf, line, left);
        have = left;
    }
    close(fd);
}

/* DT_SONAME of a loaded object, or NULL */
static const char *soname_of(const struct link_map *lm)
{
    const ElfW(Dyn) *d = lm ? lm->l_ld : NULL;
    if (!d) return NULL;
    uintptr_t strtab = 0, off = 0;
    int have = 0;
    for (; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_STRTAB) strtab = (uintptr_t)d->d_un.d_ptr;
        if (d->d_tag == DT_SONAME) off = (uintptr_t)d->d_un.d_val, have = 1;
    }
    if (!have || !strtab) return NULL;
    /* glibc relocates DT_STRTAB in l_ld to an address; a small value is
     * still relative to the load base */
    if (strtab < lm->l_addr) strtab += lm->l_addr;
    return (const char *)(strtab + off);
}

static unsigned route_object(uintptr_t addr, const struct link_map *lm)
{
    char real[512];
    const char *names[5] = { NULL, NULL, NULL, NULL, NULL };
    const char *path = lm ? lm->l_name : NULL;
    if (!path || !*path) {                      /* the main program */
        if (!main_path[0]) hs_proc_exe_path(main_path, sizeof main_path);
        names[0] = base_name(main_path);
        names[1] = main_path;
    } else {
        maps_path(addr, real, sizeof real);
        names[0] = real[0] ? base_name(real) : NULL;
        names[1] = real[0] ? real : NULL;
        names[2] = soname_of(lm);
        names[3] = base_name(path);
        names[4] = path;
    }
    int r = match_names(names, 5);
    return r < 0 ? HS_DOMAIN_MEM : hs_shim.rules[r].dom;
}

/* Objects whose domain is known, by load address: filled once each, read
 * without a lock (an entry is published by its start, last). */
#define OBJ_MAX 256
static struct { uintptr_t start, end; unsigned char dom; } objs[OBJ_MAX] HS_COLD_BSS;
static unsigned nobjs;
static hs_lock_t objs_lock = HS_LOCK_INIT;

static unsigned object_domain(uintptr_t start, uintptr_t end, uintptr_t addr, const struct link_map *lm)
{
    unsigned n = __atomic_load_n(&nobjs, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (objs[i].start == start && objs[i].end == end) return objs[i].dom;
    unsigned dom = route_object(addr, lm);
    hs_lock(&objs_lock);
    n = nobjs;
    if (n < OBJ_MAX) {
        objs[n].start = start;
        objs[n].end = end;
        objs[n].dom = (unsigned char)dom;
        __atomic_store_n(&nobjs, n + 1, __ATOMIC_RELEASE);
    }
    hs_unlock(&objs_lock);
    return dom;
}

HS_FORK_CODE void hs_route_warn_unmatched(void)
{
    unsigned hits = __atomic_load_n(&rule_hits, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < hs_shim.nrules; i++) {
        if (hits & (1u << i)) continue;
        char rule[HS_ROUTE_PATTERN_MAX + 8];
        static const char *const dn[] = { "raw", "mem", "obj" };
        snprintf(rule, sizeof rule, "%s=%s", hs_shim.rules[i].pattern, dn[hs_shim.rules[i].dom % 3]);
        hs_shim_warn("HEAPSHIM_ROUTE: rule '", rule,
                     "' matched no caller (names tried: the file name and full path as in"
                     " /proc/PID/maps, the soname, the path it was loaded by)");
    }
}

#define CACHE_WAYS 4
struct route_cache {
    uintptr_t start[CACHE_WAYS], end[CACHE_WAYS];
    unsigned char dom[CACHE_WAYS];
    unsigned next;
};
static HS_TLS struct route_cache cache;

static HS_NOINLINE unsigned route_miss(uintptr_t ra)
{
    struct dl_find_object fo;
    unsigned dom;
    uintptr_t start = ra, end = ra + 1;
    if (_dl_find_object((void *)ra, &fo) == 0) {
        start = (uintptr_t)fo.dlfo_map_start;
        end = (uintptr_t)fo.dlfo_map_end;
        dom = object_domain(start, end, ra, fo.dlfo_link_map);
    } else {
        const char *none[1] = { "" };           /* anonymous code (JIT): only '*' rules match */
        int r = match_names(none, 1);
        dom = r < 0 ? HS_DOMAIN_MEM : hs_shim.rules[r].dom;
    }
    unsigned w = cache.next++ % CACHE_WAYS;
    cache.start[w] = start;
    cache.end[w] = end;
    cache.dom[w] = (unsigned char)dom;
    return dom;
}

unsigned hs_route_caller(const void *ret_addr)
{
    uintptr_t ra = (uintptr_t)ret_addr;
    for (unsigned w = 0; w < CACHE_WAYS; w++)
        if (ra - cache.start[w] < cache.end[w] - cache.start[w]) return cache.dom[w];
    return route_miss(ra);
}
