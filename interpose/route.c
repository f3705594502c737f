/*
 * interpose/route.c - which domain a plain malloc call belongs to.
 *
 * Room: HEAPSHIM_ROUTE rules and the lookup of the calling shared object.
 *
 *   HEAPSHIM_ROUTE = RULE[,RULE]...      RULE = GLOB=DOMAIN
 *   GLOB   matched against the file name (no directory) of the shared object
 *          that called malloc; '*' any run of characters, '?' one character;
 *          the main program is matched by its own file name
 *   DOMAIN raw | mem | obj
 *   The first matching rule wins; a call no rule matches goes to mem.
 *
 * Finding the caller: glibc's _dl_find_object() maps a return address to its
 * object without taking the loader lock or allocating. Each thread remembers
 * the last few objects it saw (address range -> domain), so the common case
 * is a few compares; objects are looked up again only on a miss.
 */
#include "shim.h"
#include <dlfcn.h>
#include <link.h>
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

static char main_name[256];

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static unsigned route_name(const char *name)
{
    for (unsigned i = 0; i < hs_shim.nrules; i++)
        if (hs_route_glob(hs_shim.rules[i].pattern, name)) return hs_shim.rules[i].dom;
    return HS_DOMAIN_MEM;
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
        const char *path = fo.dlfo_link_map ? fo.dlfo_link_map->l_name : NULL;
        if (!path || !*path) {
            if (!main_name[0]) {
                char buf[4096];
                ssize_t k = readlink("/proc/self/exe", buf, sizeof buf - 1);
                buf[k > 0 ? k : 0] = 0;
                const char *b = base_name(buf);
                size_t len = strlen(b);
                if (len >= sizeof main_name) len = sizeof main_name - 1;
                memcpy(main_name, b, len);
                main_name[len] = 0;
            }
            path = main_name;
        }
        dom = route_name(base_name(path));
        start = (uintptr_t)fo.dlfo_map_start;
        end = (uintptr_t)fo.dlfo_map_end;
    } else {
        dom = route_name("");      /* anonymous code (JIT): only '*' rules match */
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
