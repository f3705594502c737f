/*
 * tools/cmd_export.c - `heapshim export`: one Prometheus scrape to stdout or
 * to a file (for node_exporter's textfile collector).
 *
 * Room: option parsing and output; the scan is tools/live.c, the format
 * tools/prom.c. A file is written to FILE.tmp.<pid> and renamed, because the
 * textfile collector may read it at any moment.
 */
#include "live.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: heapshim export [--format prometheus] [--dir DIR] [-o FILE] [--no-reset]\n"
    "                       [PID...]\n"
    "  Print the live counters of every shimmed process (or only PID...) in the\n"
    "  Prometheus text exposition format. -o writes FILE atomically (for the\n"
    "  node_exporter textfile collector; -o - is stdout).\n"
    "  heapshim_window_peak_bytes is the high-water mark since the previous\n"
    "  export/scrape, which this export resets\n"
    "  (--no-reset: read it without resetting). Stale files are skipped.\n";

int parse_pids(int argc, char **argv, int first, int **pids)
{
    int n = 0;
    *pids = calloc((size_t)(argc > first ? argc - first : 1), sizeof **pids);
    for (int i = first; i < argc; i++) {
        uint64_t v;
        if (parse_u64(argv[i], 1, 0x7fffffff, &v))
            die_bad("bad pid '%s' (accepted: a process id, 1..2147483647)", argv[i]);
        (*pids)[n++] = (int)v;
    }
    return n;
}

int cmd_export(int argc, char **argv)
{
    const char *dir_opt = NULL, *out = NULL;
    int flags = LIVE_RESET_WINDOW;
    enum { O_FORMAT = 1, O_DIR, O_OUT, O_NORESET };
    static const struct opt opts[] = {
        { "--format", NULL, "prometheus", O_FORMAT, 0 }, { "--dir", NULL, "DIR", O_DIR, OPT_NAME },
        { "-o", "--output", "FILE", O_OUT, OPT_NAME | OPT_STDIO },
        { "--no-reset", NULL, NULL, O_NORESET, 0 }, { NULL, NULL, NULL, 0, 0 },
    };
    struct optstate st = { argc, argv, opts, 0, 0, 0 };
    const char *v;
    int id, *pids, npids = 0;
    char **ops = calloc((size_t)argc, sizeof *ops);
    if (!ops) die_bad("out of memory");
    while ((id = opt_next(&st, &v)) != OPT_END) {
        if (id == OPT_HELP) {
            fputs(usage, stdout);
            free(ops);
            return 0;
        } else if (id == O_NORESET) flags = 0;
        else if (id == O_FORMAT) {
            if (strcmp(v, "prometheus")) die_bad("--format: unknown format '%s' (accepted: prometheus)", v);
        } else if (id == O_DIR) dir_opt = v;
        else if (id == O_OUT) out = !strcmp(v, "-") ? NULL : v;
        else ops[npids++] = (char *)v;
    }
    npids = parse_pids(npids, ops, 0, &pids);
    free(ops);
    char dir[4096];
    live_dir(dir_opt, dir, sizeof dir);
    live_dir_check(dir, dir_opt != NULL, 0);
    /* -o: created before the scan (which resets the window peaks), so a path
     * that cannot be written costs the exporter no window */
    struct outfile o;
    char oerr[512];
    if (out && out_create(&o, out, oerr, sizeof oerr)) die_bad("-o %s: %s", out, oerr);
    struct scan s;
    int rc = live_scan_opt(dir, dir_opt != NULL, pids, npids, flags, &s, 0);
    free(pids);
    if (rc && npids) {
        scan_free(&s);
        if (out) out_abort(&o);
        return HS_EXIT_BAD;
    }
    size_t len;
    char *text = prom_render(&s, &len);
    scan_free(&s);
    if (!text) {
        if (out) out_abort(&o);
        die_bad("out of memory");
    }
    if (!out) {
        fwrite(text, 1, len, stdout);
        free(text);
        return 0;
    }
    if (out_write(&o, text, len) != 0) {
        int e = errno;
        out_abort(&o);
        free(text);
        die_bad("-o %s: cannot write: %s", out, strerror(e));
    }
    free(text);
    if (out_commit(&o, oerr, sizeof oerr) != 0) die_bad("-o %s: %s", out, oerr);
    return 0;
}
