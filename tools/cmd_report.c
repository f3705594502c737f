/*
 * tools/cmd_report.c - `heapshim report FILE.json [--json]`.
 *
 * Room: load one report (tools/report.c) and show it: the human table, or
 * the validated report again as JSON (normalised: only the schema's fields,
 * so scripts can rely on what they get).
 */
#include "cli.h"
#include "profile.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: heapshim report FILE.json [--json] [--profile PID.prof]\n"
    "  Print the per-domain table (live, peak, blocks, allocs, reallocs, frees,\n"
    "  failed; arenas; peak RSS) of a report written by the shim (HEAPSHIM_REPORT)\n"
    "  or by `heapshim run -o` (FILE - is standard input). --json prints the\n"
    "  validated report as JSON.\n"
    "  --profile P.prof adds the 10 stacks holding the most live bytes of that heap\n"
    "  profile (`heapshim run --profile DIR` writes them; docs/profiling.md).\n"
    "  Exit 2 if the file is missing, not JSON, or not a heapshim-report/1 or /2.\n";

static json_t *dom_json(const struct dom_stats *d)
{
    return json_pack("{sIsIsIsIsIsIsI}", "live_bytes", (json_int_t)d->live_bytes,
                     "live_blocks", (json_int_t)d->live_blocks, "peak_bytes",
                     (json_int_t)d->peak_bytes, "allocs", (json_int_t)d->allocs, "reallocs",
                     (json_int_t)d->reallocs, "frees", (json_int_t)d->frees, "failed",
                     (json_int_t)d->failed);
}

static void print_json(const struct report *r)
{
    json_t *cls = json_array();
    for (unsigned i = 0; i < r->nclasses; i++)
        json_array_append_new(cls, json_pack("{sIsIsI}", "size", (json_int_t)r->cls[i].size,
                                             "blocks_in_use", (json_int_t)r->cls[i].blocks_in_use,
                                             "pools", (json_int_t)r->cls[i].pools));
    json_t *doms = json_pack("{sososo}", "raw", dom_json(&r->dom[D_RAW]), "mem",
                             dom_json(&r->dom[D_MEM]), "obj", dom_json(&r->dom[D_OBJ]));
    json_t *ar = json_pack("{sIsIsIsIsIsIsIso}", "arena_size", (json_int_t)r->arena_size,
                           "pool_size", (json_int_t)r->pool_size, "arenas_mapped",
                           (json_int_t)r->arenas_mapped, "arenas_peak", (json_int_t)r->arenas_peak,
                           "bytes_mapped", (json_int_t)r->bytes_mapped, "pools_used",
                           (json_int_t)r->pools_used, "pools_free", (json_int_t)r->pools_free,
                           "size_classes", cls);
    json_t *root = json_pack("{sssIsIsssssIsIsssoso sosI}", "schema", HS_REPORT_SCHEMA, "pid",
                             (json_int_t)r->pid, "ppid", (json_int_t)r->ppid, "command",
                             r->command, "allocator", r->allocator, "started_unix_ns",
                             (json_int_t)r->started_unix_ns, "ended_unix_ns",
                             (json_int_t)r->ended_unix_ns, "exit_kind", r->exit_kind, "domains",
                             doms, "total", dom_json(&r->dom[D_TOTAL]), "arenas", ar,
                             "rss_peak_bytes", (json_int_t)r->rss_peak_bytes);
    if (root && r->rss_unknown) json_object_set_new(root, "rss_peak_bytes", json_null());
    if (root && r->have_mapped) {
        json_t *md = json_object();
        for (int d = 0; d < D_TOTAL; d++)
            json_object_set_new(md, dom_names[d], json_pack("{sIsI}", "live_bytes", (json_int_t)r->mapped_dom_live[d],
                                                            "peak_bytes", (json_int_t)r->mapped_dom_peak[d]));
        json_object_set_new(root, "mapped",
                            json_pack("{sIsIsIsIsIsIsIsIso}", "live_bytes", (json_int_t)r->mapped_live,
                                      "peak_bytes", (json_int_t)r->mapped_peak, "maps", (json_int_t)r->mapped_maps,
                                      "unmaps", (json_int_t)r->mapped_unmaps, "remaps", (json_int_t)r->mapped_remaps,
                                      "protects", (json_int_t)r->mapped_protects,
                                      "discards", (json_int_t)r->mapped_discards,
                                      "discard_bytes", (json_int_t)r->mapped_discard_bytes, "domains", md));
        json_object_set_new(root, "rss_anon_bytes", r->rss_anon_unknown ? json_null()
                            : json_integer((json_int_t)r->rss_anon_bytes));
        json_object_set_new(root, "rss_anon_peak_bytes", r->rss_anon_unknown ? json_null()
                            : json_integer((json_int_t)r->rss_anon_peak_bytes));
    } else if (root) {
        json_object_set_new(root, "schema", json_string(HS_REPORT_SCHEMA_V1));   /* as it was read */
    }
    char *s = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (s) puts(s);
    free(s);
    json_decref(root);
}

int cmd_report(int argc, char **argv)
{
    const char *file = NULL, *prof = NULL;
    int as_json = 0, id;
    static const struct opt opts[] = {
        { "--json", NULL, NULL, 1, 0 }, { "--profile", NULL, "PID.prof", 2, OPT_NAME },
        { NULL, NULL, NULL, 0, 0 },
    };
    struct optstate st = { argc, argv, opts, 0, 0, 0 };
    const char *v;
    while ((id = opt_next(&st, &v)) != OPT_END) {
        if (id == OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        } else if (id == 1) as_json = 1;
        else if (id == 2) prof = v;
        else if (!file) file = v;
        else die_bad("more than one report given ('%s'); accepted: one FILE.json (- for stdin)", v);
    }
    if (!file) die_bad("no report given (usage: heapshim report FILE.json [--json])");
    struct report r;
    char err[1024];
    if (report_load(file, &r, err, sizeof err)) die_bad("%s", err);
    struct profile pr;
    char perr[4400];
    if (prof && profile_load(prof, NULL, &pr, perr, sizeof perr)) die_bad("--profile: %s", perr);
    if (as_json) {
        print_json(&r);
        return 0;
    }
    table_print(stdout, &r);
    /* a run report: every process of the tree, largest first */
    struct tree t;
    if (tree_load(file, &t, err, sizeof err)) die_bad("%s", err);
    if (t.n > 1 || (t.n == 1 && strcmp(t.p[0].ended, "exit"))) {
        char a[16];
        printf("  tree: %d process%s, sum of peaks %s", t.n, t.n == 1 ? "" : "es",
               human_bytes(tree_peak_sum(&t), a));
        if (t.have_concurrent) printf(", most live at once %s (sampled)", human_bytes(t.concurrent_peak, a));
        putchar('\n');
        for (int i = 0; i < t.n; i++)
            printf("  %-30s pid %-8lld total peak %-10s%s%s\n", printable(t.p[i].id), (long long)t.p[i].r.pid,
                   human_bytes(t.p[i].r.dom[D_TOTAL].peak_bytes, a),
                   strcmp(t.p[i].ended, "exit") ? "  ended: " : "",
                   strcmp(t.p[i].ended, "exit") ? t.p[i].ended : "");
    }
    tree_free(&t);
    if (prof) {
        putchar('\n');
        profile_print_top(&pr, prof, stdout);
        profile_free(&pr);
    }
    return 0;
}
