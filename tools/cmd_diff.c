/*
 * tools/cmd_diff.c - `heapshim diff BASE.json NEW.json`: the CI regression gate.
 *
 * Room: compares named metrics of two runs and decides. A run report holds
 * every process of the tree (tools/tree.c); processes are matched by
 * identity and each matched pair is compared, plus the tree's sum of peaks.
 * Absolute limits (--max-peak) apply to every selected process of NEW.
 * Exit 0 within limits, 1 on a regression or a limit exceeded, 2 on bad
 * input, 4 when there is nothing to compare. Shrinking is never a
 * regression: a gate must not punish improvements.
 */
#include "cli.h"
#include "profile.h"
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: heapshim diff BASE.json NEW.json [--max-growth PCT] [--min-bytes SIZE]\n"
    "                     [--metric NAME]... [--max-peak [DOMAIN=]SIZE]... [--process NAME]...\n"
    "                     [--json] [--junit FILE.xml|-] [--github]\n"
    "       heapshim diff NEW.json --max-peak [DOMAIN=]SIZE ...   (limits only)\n"
    "       heapshim diff --check [options]     (validate the options, compare nothing)\n"
    "  Compare two runs process by process (processes are matched by identity:\n"
    "  executable, for interpreters also the script, #N for the N-th largest of\n"
    "  several), plus the tree's sum of peaks. Always compared:\n"
    "  {raw,mem,obj,total}.peak_bytes and .live_bytes; --metric adds more.\n"
    "  Two heap profiles (PID.prof, recognised by their content) are compared\n"
    "  stack by stack instead: heapshim diff BASE.prof NEW.prof [--alloc] [-n N].\n"
    "  --max-growth PCT  allowed growth in percent (default 10; '10%' also accepted)\n"
    "  --min-bytes SIZE  byte metrics growing by less than SIZE never fail (default 0)\n"
    "  --max-peak [DOMAIN=]SIZE  absolute limit on each process's peak (DOMAIN raw,\n"
    "                    mem, obj, total (the default) or mapped), e.g. 24MiB or obj=100MB\n"
    "  --process NAME    only processes whose identity or executable is NAME\n"
    "  --json            the comparison as JSON on stdout instead of the table\n"
    "  --junit FILE      also write JUnit XML (one test case per process); '-' writes\n"
    "                    it to stdout and the table to stderr (not with --json)\n"
    "  --github          also print GitHub Actions ::error annotations (on stderr with --json)\n"
    "  SIZE: " SIZE_ACCEPTED ".\n"
    "  Exit 0 within limits, 1 on a regression, 2 on bad input, 4 no data.\n";

#define MAX_METRICS 64
#define MAX_LIMITS 8
#define MAX_SEL 32

struct out {
    int json, github;
    json_t *jprocs;
    FILE *junit;
    FILE *tx;                 /* the table and annotations: stdout, stderr with --junit - */
    const char *base_path, *new_path;
    int ncases, nfail;
    char *jx;                 /* JUnit body, grown as we go */
    size_t jxlen;
};

static void jx_add(struct out *o, const char *s)
{
    size_t n = strlen(s);
    char *p = realloc(o->jx, o->jxlen + n + 1);
    if (!p) return;
    memcpy(p + o->jxlen, s, n + 1);
    o->jx = p;
    o->jxlen += n;
}

static void xml_esc(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (; *s && k + 7 < cap; s++) {
        const char *r = NULL;
        switch (*s) {
        case '&': r = "&amp;"; break;
        case '<': r = "&lt;"; break;
        case '>': r = "&gt;"; break;
        case '"': r = "&quot;"; break;
        case '\'': r = "&apos;"; break;
        }
        if (r) k += (size_t)snprintf(out + k, cap - k, "%s", r);
        else out[k++] = (unsigned char)*s < 0x20 && *s != '\n' ? ' ' : *s;
    }
    out[k] = 0;
}

/* GitHub workflow command escaping: data %, CR, LF; properties also : , */
static void gh_esc(const char *s, int prop, char *out, size_t cap)
{
    size_t k = 0;
    for (; *s && k + 4 < cap; s++) {
        if (*s == '%') k += (size_t)snprintf(out + k, cap - k, "%%25");
        else if (*s == '\r') k += (size_t)snprintf(out + k, cap - k, "%%0D");
        else if (*s == '\n') k += (size_t)snprintf(out + k, cap - k, "%%0A");
        else if (prop && *s == ':') k += (size_t)snprintf(out + k, cap - k, "%%3A");
        else if (prop && *s == ',') k += (size_t)snprintf(out + k, cap - k, "%%2C");
        else out[k++] = *s;
    }
    out[k] = 0;
}

static void fmt_val(const char *metric, uint64_t v, char *out)
{
    if (metric_is_bytes(metric)) human_bytes(v, out);
    else snprintf(out, 16, "%llu", (unsigned long long)v);
}

/* one compared figure: table row, JSON entry, failure text */
static int row(struct out *o, json_t *jm, char *fails, size_t fcap, const char *metric,
               uint64_t b, uint64_t n, double max_growth, uint64_t min_bytes, int gated)
{
    int bytes = metric_is_bytes(metric);
    char sb[16], sn[16], sd[24], pct[40], t[16];   /* pct: up to +1.8e21 % (2^64 from 1), whole */
    uint64_t delta = n > b ? n - b : b - n;
    fmt_val(metric, b, sb);
    fmt_val(metric, n, sn);
    fmt_val(metric, delta, t);
    snprintf(sd, sizeof sd, "%s%s", n > b ? "+" : n < b ? "-" : "", t);
    double growth = 0;
    if (b) growth = ((double)n - (double)b) * 100.0 / (double)b;
    if (b) snprintf(pct, sizeof pct, "%+.1f%%", growth);
    else snprintf(pct, sizeof pct, "%s", n ? "new" : "0.0%");
    const char *verdict = "ok";
    int fail = 0;
    if (!gated) verdict = "info (not gated)";
    else if (n > b && !(bytes && delta < min_bytes) && (b == 0 || growth > max_growth)) {
        verdict = "REGRESSION";
        fail = 1;
    } else if (n < b) verdict = "ok (smaller)";
    if (!o->json) fprintf(o->tx, "  %-26s %12s %12s %12s %9s  %s\n", metric, sb, sn, sd, pct, verdict);
    json_t *e = json_pack("{sssIsIss}", "metric", metric, "base", (json_int_t)b, "new",
                          (json_int_t)n, "verdict", fail ? "regression" : gated ? "ok" : "info");
    json_object_set_new(e, "growth_pct", b ? json_real(growth) : json_null());
    json_array_append_new(jm, e);
    if (fail) {
        size_t l = strlen(fails);
        snprintf(fails + l, fcap - l, "%s%s %s -> %s (%s, allowed +%g%%)", l ? "; " : "", metric,
                 sb, sn, pct, max_growth);
    }
    return fail;
}

static void finish_case(struct out *o, const char *id, const char *status, const char *ended,
                        json_t *jm, const char *fails, json_t *jlim)
{
    json_t *p = json_pack("{sssssssoso}", "id", id, "status", status, "ended", ended, "metrics",
                          jm, "limits", jlim);
    json_object_set_new(p, "verdict", json_string(*fails ? "regression" : "ok"));
    json_array_append_new(o->jprocs, p);
    char eid[600], ef[4200], line[9000];
    xml_esc(id, eid, sizeof eid);
    xml_esc(fails, ef, sizeof ef);
    o->ncases++;
    if (*fails) {
        o->nfail++;
        snprintf(line, sizeof line,
                 "  <testcase classname=\"heapshim\" name=\"%s\">\n"
                 "    <failure message=\"heap regression\" type=\"heapshim\">process %s: %s</failure>\n"
                 "  </testcase>\n", eid, eid, ef);
        if (o->github) {
            char f[1200], msg[5000], full[4600];
            gh_esc(o->base_path, 1, f, sizeof f);
            snprintf(full, sizeof full, "process %s: %s", id, fails);
            gh_esc(printable(full), 0, msg, sizeof msg);   /* a log line: no escapes, no newline */
            fprintf(o->json ? stderr : o->tx, "::error file=%s,title=heapshim memory regression::%s\n", f, msg);
        }
    } else {
        snprintf(line, sizeof line, "  <testcase classname=\"heapshim\" name=\"%s\"/>\n", eid);
    }
    jx_add(o, line);
}

static int selected(const struct tproc *p, const char *const *sel, int nsel)
{
    if (!nsel) return 1;
    for (int i = 0; i < nsel; i++)
        if (!strcmp(p->id, sel[i]) || !strcmp(p->exe, sel[i])) return 1;
    return 0;
}

static const struct tproc *find(const struct tree *t, const char *id)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->p[i].id, id)) return &t->p[i];
    return NULL;
}

int cmd_diff(int argc, char **argv)
{
    if (profile_diff_wanted(argc, argv)) return cmd_profile_diff(argc, argv);
    const char *files[2] = { NULL, NULL };
    int nfiles = 0, check_only = 0;
    double max_growth = 10.0;
    uint64_t min_bytes = 0;
    const char *metrics[MAX_METRICS];
    int nm = 0, nlim = 0, nsel = 0;
    struct { int dom; uint64_t max; char text[64]; } lim[MAX_LIMITS];
    const char *sel[MAX_SEL];
    const char *junit = NULL;
    struct out o;
    memset(&o, 0, sizeof o);
    static const char *const defaults[] = {
        "raw.peak_bytes", "mem.peak_bytes", "obj.peak_bytes", "total.peak_bytes",
        "raw.live_bytes", "mem.live_bytes", "obj.live_bytes", "total.live_bytes",
        "mapped.peak_bytes", "mapped.live_bytes",   /* when both reports have them (schema 2) */
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) metrics[nm++] = defaults[i];

    enum { O_GROWTH = 1, O_MINB, O_METRIC, O_MAXPEAK, O_PROCESS, O_JSON, O_JUNIT, O_GITHUB, O_CHECK };
    static const struct opt opts[] = {
        { "--max-growth", NULL, "PCT", O_GROWTH, 0 },
        { "--min-bytes", NULL, "SIZE", O_MINB, 0 },
        { "--metric", NULL, "NAME", O_METRIC, OPT_NAME },
        { "--max-peak", NULL, "[DOMAIN=]SIZE", O_MAXPEAK, 0 },
        { "--process", NULL, "NAME", O_PROCESS, OPT_NAME },
        { "--json", NULL, NULL, O_JSON, 0 },
        { "--junit", NULL, "FILE|-", O_JUNIT, OPT_NAME | OPT_STDIO },
        { "--github", NULL, NULL, O_GITHUB, 0 },
        { "--check", NULL, NULL, O_CHECK, 0 },
        { NULL, NULL, NULL, 0, 0 },
    };
    struct optstate st = { argc, argv, opts, 0, 0, 0 };
    const char *v;
    int id;
    while ((id = opt_next(&st, &v)) != OPT_END) {
        if (id == OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        }
        if (id == OPT_OPERAND) {
            if (nfiles < 2) files[nfiles++] = v;
            else die_bad("too many files ('%s'); accepted: BASE.json NEW.json (- for stdin)", v);
            continue;
        }
        if (id == O_JSON) { o.json = 1; continue; }
        if (id == O_GITHUB) { o.github = 1; continue; }
        if (id == O_CHECK) { check_only = 1; continue; }
        if (id == O_GROWTH) {
            char num[64];
            snprintf(num, sizeof num, "%s", v);
            size_t n = strlen(num);
            if (n && num[n - 1] == '%') num[n - 1] = 0;
            if (strlen(v) >= sizeof num || parse_double(num, 0, 1e9, &max_growth))
                die_bad("--max-growth: bad number '%s' (accepted: a percentage >= 0, e.g. 5 or 2.5)", v);
        } else if (id == O_MINB) {
            if (parse_size(v, &min_bytes))
                die_bad("--min-bytes: bad size '%s' (accepted: %s)", v, SIZE_ACCEPTED);
        } else if (id == O_MAXPEAK) {
            if (nlim == MAX_LIMITS) die_bad("too many --max-peak options (at most %d)", MAX_LIMITS);
            const char *eq = strchr(v, '='), *sz = eq ? eq + 1 : v;
            int dom = D_TOTAL;
            if (eq) {
                dom = -1;
                for (int d = 0; d < D_N; d++)
                    if ((size_t)(eq - v) == strlen(dom_names[d]) && !strncmp(v, dom_names[d], (size_t)(eq - v)))
                        dom = d;
                if ((size_t)(eq - v) == 6 && !strncmp(v, "mapped", 6)) dom = D_N;   /* mapped memory */
                if (dom < 0)
                    die_bad("--max-peak: unknown domain in '%s' (accepted: [raw|mem|obj|total|mapped=]SIZE)", v);
            }
            if (parse_size(sz, &lim[nlim].max))
                die_bad("--max-peak: bad size '%s' (accepted: [raw|mem|obj|total|mapped=]SIZE, SIZE %s)", v, SIZE_ACCEPTED);
            lim[nlim].dom = dom;
            snprintf(lim[nlim].text, sizeof lim[nlim].text, "%.63s", v);
            nlim++;
        } else if (id == O_PROCESS) {
            if (nsel == MAX_SEL) die_bad("too many --process options (at most %d)", MAX_SEL);
            sel[nsel++] = v;
        } else if (id == O_JUNIT) {
            junit = v;
        } else {
            struct report probe;
            uint64_t dummy;
            memset(&probe, 0, sizeof probe);
            if (report_metric(&probe, v, &dummy) < 0) {
                fprintf(stderr, "%s: unknown metric '%s' (accepted: ", hs_prog, v);
                report_metric_list(stderr);
                fputs(")\n", stderr);
                return HS_EXIT_BAD;
            }
            int dup = 0;
            for (int k = 0; k < nm; k++) dup |= !strcmp(metrics[k], v);
            if (!dup) {
                if (nm == MAX_METRICS) die_bad("too many --metric options (at most %d)", MAX_METRICS);
                metrics[nm++] = v;
            }
        }
    }
    if (check_only) {
        if (nfiles) die_bad("--check takes no files (got '%s')", files[0]);
        return 0;
    }
    if (nfiles == 0 || (nfiles == 1 && !nlim))
        die_bad("need two reports (usage: heapshim diff BASE.json NEW.json [options]; one report only with --max-peak)");
    if (files[0] && files[1] && !strcmp(files[0], "-") && !strcmp(files[1], "-"))
        die_bad("BASE and NEW are both '-' (accepted: at most one of them from standard input)");
    o.tx = stdout;
    if (junit && !strcmp(junit, "-")) {
        /* standard output is the JUnit document alone: the table goes to stderr */
        if (o.json) die_bad("--junit - and --json both write standard output (accepted: one of them on stdout, --junit FILE)");
        o.junit = stdout;
        o.tx = stderr;
    }
    for (int k = 0; junit && k < nfiles; k++)
        if (same_file(junit, files[k]))
            die_bad("--junit %s: the same file as the report %s (accepted: another file, or - for stdout)",
                    junit, files[k]);

    static struct tree base, cur;
    char err[1024];
    int have_base = nfiles == 2;
    if (have_base && tree_load(files[0], &base, err, sizeof err)) die_bad("%s", err);
    if (tree_load(files[nfiles - 1], &cur, err, sizeof err)) die_bad("%s", err);
    /* --junit FILE: created once the reports are read (out_create: no
     * symbolic link followed, no wait on a FIFO), the document made in
     * memory and renamed into place whole at the end */
    struct outfile jo;
    char *jdoc = NULL;
    size_t jlen = 0;
    if (junit && !o.junit) {
        if (out_create(&jo, junit, err, sizeof err)) die_bad("--junit %s: %s", junit, err);
        o.junit = open_memstream(&jdoc, &jlen);
        if (!o.junit) {
            out_abort(&jo);
            die_bad("--junit %s: out of memory", junit);
        }
    }
    o.base_path = files[0];
    o.new_path = files[nfiles - 1];
    o.jprocs = json_array();

    if (!o.json) {
        if (have_base) fprintf(o.tx, "heapshim diff: %s -> %s (allowed growth %g%%", files[0], files[1], max_growth);
        else fprintf(o.tx, "heapshim diff: %s (limits only", files[0]);
        if (min_bytes) fprintf(o.tx, ", ignoring growth under %llu bytes", (unsigned long long)min_bytes);
        for (int l = 0; l < nlim; l++) fprintf(o.tx, ", max peak %s", lim[l].text);
        fprintf(o.tx, ")\n  %-26s %12s %12s %12s %9s  %s\n", "metric", "base", "new", "change", "change%",
               "verdict");
    }
    int regressions = 0, compared = 0, multi = base.n > 1 || cur.n > 1 || nsel;
    /* every selected process of NEW: matched with BASE, or new */
    for (int i = 0; i < cur.n; i++) {
        const struct tproc *p = &cur.p[i];
        if (!selected(p, sel, nsel)) continue;
        const struct tproc *q = have_base ? find(&base, p->id) : NULL;
        const char *status = q ? "matched" : have_base ? "new" : "limits";
        char sid[sizeof p->id];   /* the identity comes from argv[0]: no escapes to the terminal */
        snprintf(sid, sizeof sid, "%s", p->id);
        printable(sid);
        if (!o.json && (multi || !q || strcmp(p->ended, "exit")))
            fprintf(o.tx, "  process %s (pid %lld%s)%s%s\n", sid, (long long)p->r.pid,
                   q ? "" : have_base ? ", not in the baseline" : "",
                   strcmp(p->ended, "exit") ? ", ended: " : "",
                   strcmp(p->ended, "exit") ? p->ended : "");
        json_t *jm = json_array(), *jl = json_array();
        char fails[4096] = "";
        if (q) {
            compared++;
            for (int k = 0; k < nm; k++) {
                uint64_t b, n;
                /* mapped.* of a schema 1 report: not there to compare */
                if (report_metric(&q->r, metrics[k], &b) || report_metric(&p->r, metrics[k], &n))
                    continue;
                /* live bytes of a process that did not exit are not what it
                 * left behind at exit: shown, not gated */
                int gated = !strstr(metrics[k], ".live_bytes") ||
                            (!strcmp(p->ended, "exit") && !strcmp(q->ended, "exit"));
                regressions += row(&o, jm, fails, sizeof fails, metrics[k], b, n, max_growth, min_bytes, gated);
            }
        }
        for (int l = 0; l < nlim; l++) {
            uint64_t pk = lim[l].dom == D_N ? p->r.mapped_peak : p->r.dom[lim[l].dom].peak_bytes;
            int over = pk > lim[l].max;
            char a[16], b[16];
            compared++;
            human_bytes(pk, a);
            human_bytes(lim[l].max, b);
            if (!o.json)
                fprintf(o.tx, "  %-26s %12s %12s %12s %9s  %s\n", "limit", b, a, lim[l].dom == D_N ? "mapped" : dom_names[lim[l].dom], "",
                       over ? "OVER LIMIT" : "ok");
            json_array_append_new(jl, json_pack("{sssIsIss}", "domain", lim[l].dom == D_N ? "mapped" : dom_names[lim[l].dom], "max_peak_bytes",
                                                (json_int_t)lim[l].max, "peak_bytes", (json_int_t)pk,
                                                "verdict", over ? "over" : "ok"));
            if (over) {
                regressions++;
                size_t fl = strlen(fails);
                snprintf(fails + fl, sizeof fails - fl, "%s%s.peak_bytes %s over the limit %s", fl ? "; " : "",
                         lim[l].dom == D_N ? "mapped" : dom_names[lim[l].dom], a, b);
            }
        }
        finish_case(&o, p->id, status, p->ended, jm, fails, jl);
    }
    /* processes of BASE that NEW does not have: listed, not failed */
    for (int i = 0; have_base && i < base.n; i++) {
        if (!selected(&base.p[i], sel, nsel) || find(&cur, base.p[i].id)) continue;
        char sid[sizeof base.p[i].id];
        snprintf(sid, sizeof sid, "%s", base.p[i].id);
        if (!o.json) fprintf(o.tx, "  process %s: in the baseline only (not run this time)\n", printable(sid));
        json_array_append_new(o.jprocs, json_pack("{sssssss[]s[]}", "id", base.p[i].id, "status", "gone",
                                                  "verdict", "ok", "metrics", "limits"));
    }
    /* the tree: the sum of every process's peak is gated, the sampled
     * concurrent high-water is shown only (sampling makes it jitter) */
    if (have_base && !nsel && (base.n > 1 || cur.n > 1)) {
        if (!o.json) fprintf(o.tx, "  tree (%d -> %d processes)\n", base.n, cur.n);
        json_t *jm = json_array();
        char fails[1024] = "";
        regressions += row(&o, jm, fails, sizeof fails, "tree.peak_sum_bytes", tree_peak_sum(&base),
                           tree_peak_sum(&cur), max_growth, min_bytes, 1);
        if (base.have_concurrent && cur.have_concurrent)
            row(&o, jm, fails, sizeof fails, "tree.concurrent_peak_bytes", base.concurrent_peak,
                cur.concurrent_peak, max_growth, min_bytes, 0);
        finish_case(&o, "(tree)", "matched", "exit", jm, fails, json_array());
    }
    const char *verdict = !compared ? "no-data" : regressions ? "regression" : "pass";
    int rc = !compared ? HS_EXIT_NODATA : regressions ? HS_EXIT_REGRESSION : HS_EXIT_OK;
    if (o.json) {
        json_t *root = json_pack("{sssosssfsIsisiso}", "schema", "heapshim-diff/1", "base",
                                 have_base ? json_string(files[0]) : json_null(), "new", o.new_path,
                                 "max_growth_pct", max_growth, "min_bytes", (json_int_t)min_bytes,
                                 "regressions", regressions, "exit", rc, "processes", o.jprocs);
        json_object_set_new(root, "verdict", json_string(verdict));
        json_dumpf(root, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(root);
    } else {
        json_decref(o.jprocs);
        if (!compared)
            fprintf(o.tx, "heapshim diff: no data: %s\n", nsel ? "no process matches --process in both runs"
                                                        : "no process of the new run is in the baseline");
        else if (regressions)
            fprintf(o.tx, "heapshim diff: %d regression%s (allowed growth +%g%%)\n", regressions,
                   regressions > 1 ? "s" : "", max_growth);
        else fprintf(o.tx, "heapshim diff: within limits\n");
    }
    if (o.junit) {
        fprintf(o.junit, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<testsuite name=\"heapshim\" tests=\"%d\" failures=\"%d\" errors=\"%d\">\n",
                o.ncases, o.nfail, !compared);
        if (o.jx) fputs(o.jx, o.junit);
        if (!compared)
            fputs("  <testcase classname=\"heapshim\" name=\"(no data)\">\n"
                  "    <error message=\"no process to compare\"/>\n  </testcase>\n", o.junit);
        fputs("</testsuite>\n", o.junit);
        if (o.junit == stdout) {
            if (fflush(stdout) != 0 || ferror(stdout)) warnx_("--junit -: write error");
        } else if (fclose(o.junit) != 0 || out_write(&jo, jdoc, jlen) != 0) {
            warnx_("--junit %s: write error: %s", junit, strerror(errno));
            out_abort(&jo);
        } else if (out_commit(&jo, err, sizeof err) != 0) {
            warnx_("--junit %s: %s", junit, err);
        }
        free(jdoc);
    }
    if (o.github && !compared) {
        char f[1200];
        gh_esc(o.new_path, 1, f, sizeof f);
        fprintf(o.json ? stderr : o.tx, "::error file=%s,title=heapshim::no data: no process to compare\n", f);
    }
    free(o.jx);
    tree_free(&base);
    tree_free(&cur);
    return rc;
}
