/*
 * tools/prom.c - render live counters as Prometheus text exposition (0.0.4).
 *
 * Room: formatting only (struct scan -> text), shared by `export` and
 * `serve`. Naming follows the Prometheus conventions: base units (bytes),
 * `_total` for counters, one HELP/TYPE per family with all its samples
 * together, labels pid/comm/domain. The all-domain total is exported as its
 * own families (heapshim_total_*) rather than as domain="total", so that
 * sum by (pid) over domains never counts twice.
 */
#include "cli.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* the growing text of a rendering (cli.h, struct prom_buf): the one builder
 * of the exposition, also for the exporter's and the probe's families */
static void sb_vadd(struct prom_buf *b, const char *fmt, va_list ap)
{
    if (b->oom) return;
    for (;;) {
        va_list cp;
        va_copy(cp, ap);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, cp);
        va_end(cp);
        if (n < 0) { b->oom = 1; return; }
        if (b->p && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *np = realloc(b->p, ncap);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = ncap;
    }
}

void prom_add(struct prom_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vadd(b, fmt, ap);
    va_end(ap);
}

/* Label values: escape \ " and newline as the format requires; other
 * control bytes and non-ASCII (comm may be anything, and need not be
 * UTF-8) become '?', so the output always parses. */
void prom_label_value(const char *in, size_t max, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < max && in[i] && o + 3 < cap; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\\' || c == '"') { out[o++] = '\\'; out[o++] = (char)c; }
        else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (c < 0x20 || c >= 0x7f) out[o++] = '?';
        else out[o++] = (char)c;
    }
    out[o] = 0;
}

/* one HELP/TYPE pair: every family of every renderer starts here */
void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help)
{
    prom_add(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}


#define WINDOW_HELP_RESET "High-water mark of live bytes since the previous scrape (reset by each scrape), per domain."

enum { F_LIVE, F_BLOCKS, F_PEAK, F_WINDOW, F_ALLOCS, F_REALLOCS, F_FREES, F_FAILED };

static uint64_t dom_value(const struct proc_view *v, int d, int f)
{
    const struct hs_live_domain *s = &v->snap.dom[d];
    switch (f) {
    case F_LIVE: return s->live_bytes;
    case F_BLOCKS: return s->live_blocks;
    case F_PEAK: return s->peak_bytes;
    /* the process raises window_peak only at flushes; the live value may be
     * higher right now, and a high-water mark is never below the present */
    case F_WINDOW: return v->window_peak[d] > s->live_bytes ? v->window_peak[d] : s->live_bytes;
    case F_ALLOCS: return s->allocs;
    case F_REALLOCS: return s->reallocs;
    case F_FREES: return s->frees;
    default: return s->failed;
    }
}

char *prom_render(const struct scan *s, size_t *len)
{
    return prom_render_opts(s, NULL, len);
}

char *prom_render_opts(const struct scan *s, const struct prom_opts *o, size_t *len)
{
    static const struct prom_opts none;
    if (!o) o = &none;
    struct prom_buf b = { 0 };
    int nproc = o->no_process_series ? 0 : s->n;
    char (*comm)[64] = calloc((size_t)(s->n ? s->n : 1), sizeof *comm);
    if (!comm) return NULL;
    for (int i = 0; i < s->n; i++) prom_label_value(s->v[i].comm, sizeof s->v[i].comm, comm[i], 64);

    static const struct { const char *name, *type, *help; int f; } per_dom[] = {
        { "heapshim_live_bytes", "gauge", "Usable bytes of live blocks, per allocation domain.", F_LIVE },
        { "heapshim_live_blocks", "gauge", "Live blocks, per allocation domain.", F_BLOCKS },
        { "heapshim_peak_bytes", "gauge", "All-time high-water mark of live bytes, per domain.", F_PEAK },
        { "heapshim_window_peak_bytes", "gauge", NULL, F_WINDOW },
        { "heapshim_allocs_total", "counter", "Allocations, per domain.", F_ALLOCS },
        { "heapshim_reallocs_total", "counter", "Reallocations that moved or resized a block, per domain.", F_REALLOCS },
        { "heapshim_frees_total", "counter", "Frees, per domain.", F_FREES },
        { "heapshim_failed_total", "counter", "Failed allocations, per domain.", F_FAILED },
    };
    for (size_t f = 0; f < sizeof per_dom / sizeof per_dom[0]; f++) {
        const char *help = per_dom[f].help;
        if (!help) help = o->window_help ? o->window_help : WINDOW_HELP_RESET;
        prom_family(&b, per_dom[f].name, per_dom[f].type, help);
        for (int i = 0; i < nproc; i++)
            for (int d = 0; d < HS_LIVE_NDOM; d++)
                prom_add(&b, "%s{pid=\"%d\",comm=\"%s\"%s,domain=\"%s\"} %llu\n", per_dom[f].name,
                       s->v[i].pid, comm[i], s->v[i].labels, dom_names[d],
                       (unsigned long long)dom_value(&s->v[i], d, per_dom[f].f));
    }

    static const struct { const char *name, *type, *help; int what; } per_proc[] = {
        { "heapshim_total_live_bytes", "gauge", "Usable bytes of live blocks, all domains.", 0 },
        { "heapshim_total_peak_bytes", "gauge", "All-time high-water mark of the all-domain live bytes (not the sum of the domain peaks).", 1 },
        { "heapshim_total_window_peak_bytes", "gauge", "High-water mark of the all-domain live bytes over the same window as heapshim_window_peak_bytes.", 2 },
        { "heapshim_arenas_mapped", "gauge", "Arenas currently mapped by the arena allocator.", 3 },
        { "heapshim_arenas_peak", "gauge", "Most arenas mapped at once.", 4 },
        { "heapshim_arena_mapped_bytes", "gauge", "Bytes mapped for arenas.", 5 },
        { "heapshim_pools_used", "gauge", "Pools holding at least one block.", 6 },
        { "heapshim_pools_free", "gauge", "Empty pools kept in mapped arenas.", 7 },
        { "heapshim_rss_bytes", "gauge", "Resident set size of the process (/proc/PID/statm).", 8 },
        { "heapshim_threads", "gauge", "Threads currently owning a counter slot.", 9 },
        { "heapshim_process_start_time_seconds", "gauge", "When the process started publishing, seconds since the Unix epoch.", 10 },
    };
    for (size_t f = 0; f < sizeof per_proc / sizeof per_proc[0]; f++) {
        prom_family(&b, per_proc[f].name, per_proc[f].type, per_proc[f].help);
        for (int i = 0; i < nproc; i++) {
            const struct proc_view *v = &s->v[i];
            const struct hs_live_domain *t = &v->snap.dom[HS_LIVE_TOTAL];
            uint64_t val = 0;
            switch (per_proc[f].what) {
            case 0: val = t->live_bytes; break;
            case 1: val = t->peak_bytes; break;
            case 2: val = dom_value(v, HS_LIVE_TOTAL, F_WINDOW); break;
            case 3: val = v->snap.arenas_mapped; break;
            case 4: val = v->snap.arenas_peak; break;
            case 5: val = v->snap.bytes_mapped; break;
            case 6: val = v->snap.pools_used; break;
            case 7: val = v->snap.pools_free; break;
            case 8: val = v->rss_bytes; break;
            case 9: val = v->snap.threads; break;
            default: break;
            }
            if (per_proc[f].what == 10)
                prom_add(&b, "%s{pid=\"%d\",comm=\"%s\"%s} %.3f\n", per_proc[f].name, v->pid, comm[i],
                       v->labels, (double)v->created_unix_ns / 1e9);
            else
                prom_add(&b, "%s{pid=\"%d\",comm=\"%s\"%s} %llu\n", per_proc[f].name, v->pid, comm[i],
                       v->labels, (unsigned long long)val);
        }
    }
    /* mapped memory (include/heapshim/live.h, "Mapped memory") */
    static const struct { const char *name, *type, *help; } mapped_fam[] = {
        { "heapshim_mapped_live_bytes", "gauge",
          "Accessible bytes of the program's own anonymous private mappings (mmap), per domain of the caller." },
        { "heapshim_mapped_peak_bytes", "gauge", "All-time high-water mark of mapped live bytes, per domain (exact)." },
        { "heapshim_mapped_maps_total", "counter", "mmap calls that mapped counted pages." },
        { "heapshim_mapped_unmaps_total", "counter", "munmap calls that removed counted pages." },
        { "heapshim_rss_anon_bytes", "gauge", "Anonymous resident memory of the process (RssAnon of /proc/PID/status)." },
    };
    for (size_t f = 0; f < sizeof mapped_fam / sizeof mapped_fam[0]; f++) {
        prom_family(&b, mapped_fam[f].name, mapped_fam[f].type, mapped_fam[f].help);
        for (int i = 0; i < nproc; i++) {     /* per process, with its labels, like every family above */
            const struct hs_live_mapped *m = &s->v[i].snap.mapped;
            if (f < 2) {
                for (int d = 0; d < HS_LIVE_NDOM; d++)
                    prom_add(&b, "%s{pid=\"%d\",comm=\"%s\"%s,domain=\"%s\"} %llu\n", mapped_fam[f].name,
                           s->v[i].pid, comm[i], s->v[i].labels, dom_names[d],
                           (unsigned long long)(f ? m->peak_bytes[d] : m->live_bytes[d]));
                continue;
            }
            uint64_t val = f == 2 ? m->maps : f == 3 ? m->unmaps : s->v[i].rss_anon_bytes;
            prom_add(&b, "%s{pid=\"%d\",comm=\"%s\"%s} %llu\n", mapped_fam[f].name, s->v[i].pid, comm[i],
                   s->v[i].labels, (unsigned long long)val);
        }
    }
    prom_family(&b, "heapshim_processes", "gauge", "Shimmed processes exported.");
    prom_add(&b, "heapshim_processes %d\n", s->n);
    prom_family(&b, "heapshim_stale_files", "gauge", "Live files left by dead processes (remove with heapshim gc).");
    prom_add(&b, "heapshim_stale_files %d\n", s->stale);
    prom_family(&b, "heapshim_bad_files", "gauge", "Files in the live directory that could not be read as live files.");
    prom_add(&b, "heapshim_bad_files %d\n", s->bad);
    if (o->extra) prom_add(&b, "%.*s", (int)o->extra_len, o->extra);
    free(comm);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
