/*
 * tools/report.c - load and validate a JSON report (schema heapshim-report/2,
 * and /1, which has no mapped memory).
 *
 * Room: turns bytes into struct report, or into one line saying what is
 * wrong. Reports come from CI artifacts, other machines and hand edits, so
 * nothing is trusted: JSON is parsed by jansson (duplicate keys rejected),
 * every field is type- and range-checked, and the invariants the schema
 * promises (allocs >= frees, peak >= live) are checked too. Also the table
 * of named metrics that `heapshim diff --metric` accepts.
 */
#include "cli.h"
#include <jansson.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char *const dom_names[D_N] = { "raw", "mem", "obj", "total" };

#define REPORT_MAX_FILE (16u << 20)

/* ---- bounded parsing ------------------------------------------------------------
 * jansson builds a tree of the whole document: a valid report just under the
 * 16 MiB cap made of small values (an unknown key holding five million
 * empty objects) took 1.28 GB of RSS and 56 s to parse. Every jansson
 * allocation of the command goes through this counting allocator (installed
 * before main), and while a parse is under way (json_budget_begin) the
 * memory jansson holds is capped: past the cap an allocation fails, jansson
 * gives up, and the caller says the document is too large. A real report
 * takes about 25 KB of tree; a run report about that per process. */
static size_t jb_used, jb_cap = SIZE_MAX;
static int jb_refused;              /* an allocation was refused since begin */
/* sizes by malloc_usable_size, no header: a string jansson allocates
 * (json_dumps) may be released with plain free() by its user, which then
 * only leaves the count a little high (the cap is relative to begin) */
static void *jb_malloc(size_t n)
{
    if (n > jb_cap - jb_used) {
        jb_refused = 1;
        return NULL;
    }
    void *p = malloc(n);
    if (p) jb_used += malloc_usable_size(p);
    return p;
}
static void jb_free(void *q)
{
    if (!q) return;
    size_t n = malloc_usable_size(q);
    jb_used = n > jb_used ? 0 : jb_used - n;
    free(q);
}
__attribute__((constructor)) static void jb_install(void) { json_set_alloc_funcs(jb_malloc, jb_free); }

size_t json_budget_begin(size_t cap)
{
    size_t old = jb_cap;
    jb_cap = jb_used + cap < jb_used ? SIZE_MAX : jb_used + cap;
    jb_refused = 0;
    return old;
}
void json_budget_end(size_t old) { jb_cap = old; }
int json_budget_hit(void) { return jb_refused; }

struct ctx {
    char *err;
    size_t cap;
};

static int bad(struct ctx *c, const char *fmt, const char *a, const char *b)
{
    snprintf(c->err, c->cap, fmt, a, b);
    return -1;
}

static int get_u64(struct ctx *c, json_t *obj, const char *where, const char *key,
                   uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return bad(c, "missing field %s%s", where, key);
    if (!json_is_integer(v)) return bad(c, "field %s%s is not an integer", where, key);
    json_int_t i = json_integer_value(v);
    if (i < 0) return bad(c, "field %s%s is negative", where, key);
    *out = (uint64_t)i;
    return 0;
}

/* an integer, or null for a figure nobody measured (*unknown = 1, *out 0) */
static int get_u64_or_null(struct ctx *c, json_t *obj, const char *key, uint64_t *out, int *unknown)
{
    json_t *v = json_object_get(obj, key);
    if (v && json_is_null(v)) {
        *out = 0;
        *unknown = 1;
        return 0;
    }
    return get_u64(c, obj, "", key, out);
}

static int get_str(struct ctx *c, json_t *obj, const char *key, char *out, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return bad(c, "missing field %s%s", "", key);
    if (!json_is_string(v)) return bad(c, "field %s%s is not a string", "", key);
    snprintf(out, cap, "%s", json_string_value(v));   /* cut if longer: display only */
    return 0;
}

static const char *const dom_fields[7] = {
    "live_bytes", "live_blocks", "peak_bytes", "allocs", "reallocs", "frees", "failed"
};

static uint64_t *dom_field(struct dom_stats *d, int i)
{
    uint64_t *f[7] = { &d->live_bytes, &d->live_blocks, &d->peak_bytes, &d->allocs,
                       &d->reallocs, &d->frees, &d->failed };
    return f[i];
}

static int get_dom(struct ctx *c, json_t *v, const char *where, struct dom_stats *d)
{
    if (!v) return bad(c, "missing field %s%s", where, "");
    if (!json_is_object(v)) return bad(c, "field %s%s is not an object", where, "");
    char w[64];
    snprintf(w, sizeof w, "%s.", where);
    for (int i = 0; i < 7; i++)
        if (get_u64(c, v, w, dom_fields[i], dom_field(d, i))) return -1;
    if (d->frees > d->allocs) return bad(c, "inconsistent %s: frees > allocs%s", where, "");
    if (d->live_bytes > d->peak_bytes)
        return bad(c, "inconsistent %s: live_bytes > peak_bytes%s", where, "");
    return 0;
}

static const char *const arena_fields[7] = {
    "arena_size", "pool_size", "arenas_mapped", "arenas_peak", "bytes_mapped",
    "pools_used", "pools_free"
};

static uint64_t *arena_field(struct report *r, int i)
{
    uint64_t *f[7] = { &r->arena_size, &r->pool_size, &r->arenas_mapped, &r->arenas_peak,
                       &r->bytes_mapped, &r->pools_used, &r->pools_free };
    return f[i];
}

static int parse_root(struct ctx *c, json_t *root, struct report *r)
{
    if (!json_is_object(root)) return bad(c, "not a heapshim report (top level is not an object)%s%s", "", "");
    json_t *sch = json_object_get(root, "schema");
    if (!sch) return bad(c, "not a heapshim report (no \"schema\" field; expected \"%s\")%s", HS_REPORT_SCHEMA, "");
    if (!json_is_string(sch)) return bad(c, "field schema is not a string (expected \"%s\")%s", HS_REPORT_SCHEMA, "");
    int v2 = !strcmp(json_string_value(sch), HS_REPORT_SCHEMA);
    if (!v2 && strcmp(json_string_value(sch), HS_REPORT_SCHEMA_V1)) {
        char s[64];
        snprintf(s, sizeof s, "%s", json_string_value(sch));
        return bad(c, "unsupported schema \"%s\" (this reader knows \"%s\" and \"heapshim-report/1\")", s,
                   HS_REPORT_SCHEMA);
    }
    uint64_t u;
    if (get_u64(c, root, "", "pid", &u)) return -1;
    r->pid = (int64_t)u;
    if (get_u64(c, root, "", "ppid", &u)) return -1;
    r->ppid = (int64_t)u;
    if (get_str(c, root, "command", r->command, sizeof r->command)) return -1;
    if (get_str(c, root, "allocator", r->allocator, sizeof r->allocator)) return -1;
    if (get_str(c, root, "exit_kind", r->exit_kind, sizeof r->exit_kind)) return -1;
    if (get_u64(c, root, "", "started_unix_ns", &r->started_unix_ns)) return -1;
    if (get_u64(c, root, "", "ended_unix_ns", &r->ended_unix_ns)) return -1;
    json_t *doms = json_object_get(root, "domains");
    if (!doms) return bad(c, "missing field %s%s", "domains", "");
    if (!json_is_object(doms)) return bad(c, "field %s%s is not an object", "domains", "");
    for (int d = 0; d < D_TOTAL; d++) {
        char w[32];
        snprintf(w, sizeof w, "domains.%s", dom_names[d]);
        if (get_dom(c, json_object_get(doms, dom_names[d]), w, &r->dom[d])) return -1;
    }
    if (get_dom(c, json_object_get(root, "total"), "total", &r->dom[D_TOTAL])) return -1;
    json_t *ar = json_object_get(root, "arenas");
    if (!ar) return bad(c, "missing field %s%s", "arenas", "");
    if (!json_is_object(ar)) return bad(c, "field %s%s is not an object", "arenas", "");
    for (int i = 0; i < 7; i++)
        if (get_u64(c, ar, "arenas.", arena_fields[i], arena_field(r, i))) return -1;
    json_t *cl = json_object_get(ar, "size_classes");
    if (!cl) return bad(c, "missing field %s%s", "arenas.size_classes", "");
    if (!json_is_array(cl)) return bad(c, "field %s%s is not an array", "arenas.size_classes", "");
    if (json_array_size(cl) > REPORT_MAX_CLASSES)
        return bad(c, "field %s%s has too many entries (at most 64)", "arenas.size_classes", "");
    r->nclasses = (unsigned)json_array_size(cl);
    for (unsigned i = 0; i < r->nclasses; i++) {
        json_t *e = json_array_get(cl, i);
        if (!json_is_object(e))
            return bad(c, "field %s%s: an entry is not an object", "arenas.size_classes", "");
        if (get_u64(c, e, "arenas.size_classes[].", "size", &r->cls[i].size) ||
            get_u64(c, e, "arenas.size_classes[].", "blocks_in_use", &r->cls[i].blocks_in_use) ||
            get_u64(c, e, "arenas.size_classes[].", "pools", &r->cls[i].pools))
            return -1;
    }
    if (get_u64_or_null(c, root, "rss_peak_bytes", &r->rss_peak_bytes, &r->rss_unknown)) return -1;
    if (!v2) return 0;
    json_t *m = json_object_get(root, "mapped");
    if (!m) return bad(c, "missing field %s%s", "mapped", "");
    if (!json_is_object(m)) return bad(c, "field %s%s is not an object", "mapped", "");
    if (get_u64(c, m, "mapped.", "live_bytes", &r->mapped_live) ||
        get_u64(c, m, "mapped.", "peak_bytes", &r->mapped_peak) ||
        get_u64(c, m, "mapped.", "maps", &r->mapped_maps) ||
        get_u64(c, m, "mapped.", "unmaps", &r->mapped_unmaps) ||
        get_u64(c, m, "mapped.", "remaps", &r->mapped_remaps) ||
        get_u64(c, m, "mapped.", "protects", &r->mapped_protects) ||
        get_u64(c, m, "mapped.", "discards", &r->mapped_discards) ||
        get_u64(c, m, "mapped.", "discard_bytes", &r->mapped_discard_bytes))
        return -1;
    if (r->mapped_live > r->mapped_peak) return bad(c, "inconsistent mapped: live_bytes > peak_bytes%s%s", "", "");
    json_t *md = json_object_get(m, "domains");
    if (!md) return bad(c, "missing field %s%s", "mapped.domains", "");
    if (!json_is_object(md)) return bad(c, "field %s%s is not an object", "mapped.domains", "");
    uint64_t sum = 0;
    for (int d = 0; d < D_TOTAL; d++) {
        char w[40];
        snprintf(w, sizeof w, "mapped.domains.%s", dom_names[d]);
        json_t *e = json_object_get(md, dom_names[d]);
        if (!e) return bad(c, "missing field %s%s", w, "");
        if (!json_is_object(e)) return bad(c, "field %s%s is not an object", w, "");
        snprintf(w, sizeof w, "mapped.domains.%s.", dom_names[d]);
        if (get_u64(c, e, w, "live_bytes", &r->mapped_dom_live[d]) ||
            get_u64(c, e, w, "peak_bytes", &r->mapped_dom_peak[d]))
            return -1;
        if (r->mapped_dom_live[d] > r->mapped_dom_peak[d])
            return bad(c, "inconsistent %s: live_bytes > peak_bytes%s", w, "");
        sum += r->mapped_dom_live[d];
    }
    if (sum != r->mapped_live)
        return bad(c, "inconsistent mapped: live_bytes is not the sum of its domains%s%s", "", "");
    int au = 0, apu = 0;
    if (get_u64_or_null(c, root, "rss_anon_bytes", &r->rss_anon_bytes, &au) ||
        get_u64_or_null(c, root, "rss_anon_peak_bytes", &r->rss_anon_peak_bytes, &apu))
        return -1;
    r->rss_anon_unknown = au || apu;
    r->have_mapped = 1;
    return 0;
}

int report_parse(const char *buf, size_t len, struct report *r, char *err, size_t cap)
{
    struct ctx c = { err, cap };
    memset(r, 0, sizeof *r);
    if (len == 0) return bad(&c, "empty file (expected a %s JSON report)%s", HS_REPORT_SCHEMA, "");
    json_error_t je;
    size_t old = json_budget_begin(REPORT_PARSE_BUDGET);
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    int hit = !root && json_budget_hit();
    json_budget_end(old);
    if (hit) {
        snprintf(err, cap, "too large to parse: its JSON tree passed %u MiB "
                 "(accepted: a heapshim report, which takes well under 1 MiB)",
                 (unsigned)(REPORT_PARSE_BUDGET >> 20));
        return -1;
    }
    if (!root) {
        snprintf(err, cap, "invalid or truncated JSON at line %d column %d: %s", je.line,
                 je.column, je.text);
        for (char *p = err; *p; p++)
            if ((unsigned char)*p < 0x20) *p = '?';
        return -1;
    }
    int rc = parse_root(&c, root, r);
    json_decref(root);
    /* field values quoted in a message may hold control characters: the
     * message must stay one printable line */
    for (char *p = err; rc && *p; p++)
        if ((unsigned char)*p < 0x20) *p = '?';
    return rc;
}

int report_load(const char *path, struct report *r, char *err, size_t cap)
{
    char *buf;
    size_t len;
    if (read_file(path, REPORT_MAX_FILE, &buf, &len, err, cap)) return -1;
    char why[512];
    int rc = report_parse(buf, len, r, why, sizeof why);
    free(buf);
    if (rc) snprintf(err, cap, "%s: %s", path, why);
    return rc;
}

/* ---- named metrics ------------------------------------------------------------ */

int report_metric(const struct report *r, const char *name, uint64_t *out)
{
    struct report *w = (struct report *)r;   /* the field tables hand out pointers */
    for (int d = 0; d < D_N; d++) {
        size_t n = strlen(dom_names[d]);
        if (strncmp(name, dom_names[d], n) || name[n] != '.') continue;
        for (int i = 0; i < 7; i++)
            if (!strcmp(name + n + 1, dom_fields[i])) {
                *out = *dom_field(&w->dom[d], i);
                return 0;
            }
    }
    if (!strncmp(name, "arenas.", 7))
        for (int i = 0; i < 7; i++)
            if (!strcmp(name + 7, arena_fields[i])) {
                *out = *arena_field(w, i);
                return 0;
            }
    if (!strcmp(name, "rss_peak_bytes")) {
        *out = r->rss_peak_bytes;
        return r->rss_unknown ? 1 : 0;
    }
    static const char *const mnames[] = { "mapped.live_bytes", "mapped.peak_bytes", "mapped.maps",
                                          "mapped.unmaps", "mapped.remaps", "mapped.protects",
                                          "mapped.discards", "mapped.discard_bytes",
                                          "rss_anon_bytes", "rss_anon_peak_bytes" };
    const uint64_t mvals[] = { r->mapped_live, r->mapped_peak, r->mapped_maps, r->mapped_unmaps,
                               r->mapped_remaps, r->mapped_protects, r->mapped_discards,
                               r->mapped_discard_bytes, r->rss_anon_bytes, r->rss_anon_peak_bytes };
    for (size_t i = 0; i < sizeof mnames / sizeof mnames[0]; i++)
        if (!strcmp(name, mnames[i])) {
            *out = mvals[i];
            return r->have_mapped && !(i >= 8 && r->rss_anon_unknown) ? 0 : 1;
        }
    return -1;
}

double report_explained(const struct report *r)
{
    if (!r->have_mapped || r->rss_anon_unknown || !r->rss_anon_peak_bytes) return 0;
    return (double)(r->dom[D_TOTAL].peak_bytes + r->mapped_peak) / (double)r->rss_anon_peak_bytes;
}

void report_metric_list(FILE *f)
{
    fputs("{raw,mem,obj,total}.{", f);
    for (int i = 0; i < 7; i++) fprintf(f, "%s%s", i ? "," : "", dom_fields[i]);
    fputs("}, arenas.{", f);
    for (int i = 0; i < 7; i++) fprintf(f, "%s%s", i ? "," : "", arena_fields[i]);
    fputs("}, rss_peak_bytes, mapped.{live_bytes,peak_bytes,maps,unmaps,remaps,protects,discards,"
          "discard_bytes}, rss_anon_bytes, rss_anon_peak_bytes", f);
}

int metric_is_bytes(const char *name)
{
    size_t n = strlen(name);
    return (n >= 6 && !strcmp(name + n - 6, "_bytes")) || !strcmp(name, "arenas.arena_size") ||
           !strcmp(name, "arenas.pool_size");
}
