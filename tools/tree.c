/*
 * tools/tree.c - every process of a run: identities, run reports.
 *
 * Room: the process-tree side of the gate. A run report (`heapshim run -o`)
 * is the main process's heapshim-report/1 with "ended" and "tree" added
 * (docs/report-schema.md, "Run reports"); a plain report reads as a tree of
 * one process, so old baselines keep working. Processes of two runs are
 * matched by identity (docs/cli.md, "Process identity"): the executable's
 * file name, for interpreters also what they run, and "#N" for the N-th
 * largest of several processes with the same identity.
 */
#include "cli.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const interpreters[] = {
    "sh", "bash", "dash", "zsh", "ksh", "busybox", "perl", "ruby", "node", "nodejs",
    "Rscript", "lua", "tclsh", "php", "java", NULL,
};

static int is_interpreter(const char *exe)
{
    for (int i = 0; interpreters[i]; i++)
        if (!strcmp(exe, interpreters[i])) return 1;
    /* python, python3, python3.11, pypy3, perl5.36 ... */
    return !strncmp(exe, "python", 6) || !strncmp(exe, "pypy", 4) || !strncmp(exe, "perl", 4);
}

/* next space-separated token of *p into out; 0 at the end */
static int token(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    while (*s == ' ') s++;
    if (!*s) return 0;
    size_t n = 0;
    while (s[n] && s[n] != ' ') n++;
    snprintf(out, cap, "%.*s", (int)n, s);
    *p = s + n;
    return 1;
}

static const char *base_name(const char *s)
{
    const char *b = strrchr(s, '/');
    return b && b[1] ? b + 1 : s;
}

void proc_identity(const char *command, char *exe, size_t ecap, char *id, size_t icap)
{
    char t[256];
    const char *p = command;
    if (!token(&p, t, sizeof t)) {
        snprintf(exe, ecap, "?");
        snprintf(id, icap, "?");
        return;
    }
    snprintf(exe, ecap, "%s", base_name(t));
    snprintf(id, icap, "%s", exe);
    if (!is_interpreter(exe)) return;
    while (token(&p, t, sizeof t)) {
        if (!strcmp(t, "-c")) {                /* inline program: its text is no name */
            snprintf(id + strlen(id), icap - strlen(id), " -c");
            return;
        }
        if (!strcmp(t, "-m")) {                /* python -m MODULE */
            char m[128];
            if (token(&p, m, sizeof m))
                snprintf(id + strlen(id), icap - strlen(id), " -m %s", m);
            return;
        }
        if (t[0] != '-') {                     /* the script */
            snprintf(id + strlen(id), icap - strlen(id), " %s", base_name(t));
            return;
        }
    }
}

static int cmp_for_numbering(const void *a, const void *b)
{
    const struct tproc *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c) return c;
    uint64_t px = x->r.dom[D_TOTAL].peak_bytes, py = y->r.dom[D_TOTAL].peak_bytes;
    if (px != py) return px > py ? -1 : 1;
    return (x->r.pid > y->r.pid) - (x->r.pid < y->r.pid);
}

void tree_finish(struct tree *t)
{
    for (int i = 0; i < t->n; i++)
        proc_identity(t->p[i].r.command, t->p[i].exe, sizeof t->p[i].exe, t->p[i].id,
                      sizeof t->p[i].id);
    if (t->n > 1) qsort(t->p, (size_t)t->n, sizeof *t->p, cmp_for_numbering);
    char prev[200] = "";
    for (int i = 0, k = 1; i < t->n; i++) {
        k = i > 0 && !strcmp(t->p[i].id, prev) ? k + 1 : 1;
        snprintf(prev, sizeof prev, "%s", t->p[i].id);
        if (k > 1) {
            size_t l = strlen(t->p[i].id);
            snprintf(t->p[i].id + l, sizeof t->p[i].id - l, "#%d", k);
        }
    }
}

uint64_t tree_peak_sum(const struct tree *t)
{
    uint64_t s = 0;
    for (int i = 0; i < t->n; i++) s += t->p[i].r.dom[D_TOTAL].peak_bytes;
    return s;
}

void tree_free(struct tree *t)
{
    free(t->p);
    memset(t, 0, sizeof *t);
}

static int ended_ok(const char *s)
{
    return !strcmp(s, "exit") || !strcmp(s, "signal") || !strcmp(s, "lost");
}

int tree_load(const char *path, struct tree *t, char *err, size_t cap)
{
    memset(t, 0, sizeof *t);
    char *buf, why[512];
    size_t len;
    if (read_file(path, 256u << 20, &buf, &len, err, cap)) return -1;
    json_error_t je;
    /* a run report takes about 7.5 bytes of JSON tree per byte of file: 12 x
     * the file, at least the single report's budget
     * (tools/report.c, bounded parsing) */
    size_t tcap = 12 * len;
    if (tcap < REPORT_PARSE_BUDGET) tcap = REPORT_PARSE_BUDGET;
    size_t old = json_budget_begin(tcap);
    json_t *root = len ? json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    int hit = len && !root && json_budget_hit();
    json_budget_end(old);
    if (hit) {
        snprintf(err, cap, "%s: too large to parse: its JSON tree passed %zu MiB "
                 "(accepted: a heapshim run report)", path, tcap >> 20);
        free(buf);
        return -1;
    }
    json_t *tr = root && json_is_object(root) ? json_object_get(root, "tree") : NULL;
    if (!tr) {                                 /* a plain report: one process */
        json_decref(root);
        t->p = calloc(1, sizeof *t->p);
        if (!t->p) {
            free(buf);
            snprintf(err, cap, "%s: out of memory", path);
            return -1;
        }
        int rc = report_parse(buf, len, &t->p[0].r, why, sizeof why);
        free(buf);
        if (rc) {
            snprintf(err, cap, "%s: %s", path, why);
            tree_free(t);
            return -1;
        }
        snprintf(t->p[0].ended, sizeof t->p[0].ended, "exit");
        t->n = 1;
        tree_finish(t);
        return 0;
    }
    free(buf);
    json_t *procs = json_object_get(tr, "processes");
    if (!json_is_object(tr) || !json_is_array(procs)) {
        snprintf(err, cap, "%s: field tree.processes is missing or not an array", path);
        json_decref(root);
        return -1;
    }
    size_t n = json_array_size(procs);
    t->p = calloc(n ? n : 1, sizeof *t->p);
    if (!t->p) {
        snprintf(err, cap, "%s: out of memory", path);
        json_decref(root);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(procs, i), *rep = json_object_get(e, "report"),
               *en = json_object_get(e, "ended");
        char *s = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
        int rc = s ? report_parse(s, strlen(s), &t->p[i].r, why, sizeof why) : -1;
        free(s);
        if (!rep) snprintf(why, sizeof why, "no report object");
        if (!rc && (!json_is_string(en) || !ended_ok(json_string_value(en)))) {
            rc = -1;
            snprintf(why, sizeof why, "field ended is not one of exit, signal, lost");
        }
        if (rc) {
            snprintf(err, cap, "%s: tree.processes[%zu]: %s", path, i, why);
            json_decref(root);
            tree_free(t);
            return -1;
        }
        snprintf(t->p[i].ended, sizeof t->p[i].ended, "%s", json_string_value(en));
        json_t *sg = json_object_get(e, "signal");
        if (json_is_integer(sg)) t->p[i].signal = (int)json_integer_value(sg);
    }
    t->n = (int)n;
    json_t *tot = json_object_get(tr, "totals"), *cp = json_object_get(tot, "concurrent_peak_bytes");
    if (json_is_integer(cp) && json_integer_value(cp) >= 0) {
        t->have_concurrent = 1;
        t->concurrent_peak = (uint64_t)json_integer_value(cp);
    }
    json_decref(root);
    tree_finish(t);
    return 0;
}
