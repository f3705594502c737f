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
    "usage: heapshim export [--format prometheus] [--dir DIR] [-o FILE] [--no-reset] [PID...]\n"
    "  Print the live counters of every shimmed process (or only PID...) in the\n"
    "  Prometheus text exposition format. -o writes FILE atomically (for the\n"
    "  node_exporter textfile collector). heapshim_window_peak_bytes is the\n"
    "  high-water mark since the previous export/scrape, which this export resets\n"
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
    int flags = LIVE_RESET_WINDOW, i;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--no-reset")) {
            flags = 0;
        } else if (!strcmp(a, "--format") || !strcmp(a, "--dir") || !strcmp(a, "-o")) {
            if (i + 1 >= argc) die_bad("%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--format")) {
                if (strcmp(v, "prometheus")) die_bad("--format: unknown format '%s' (accepted: prometheus)", v);
            } else if (!strcmp(a, "--dir")) dir_opt = v;
            else out = v;
        } else if (!strcmp(a, "--")) {
            i++;
            break;
        } else {
            die_bad("unknown option '%s' (accepted: --format prometheus, --dir DIR, -o FILE, --no-reset, --help)", a);
        }
    }
    int *pids;
    int npids = parse_pids(argc, argv, i, &pids);
    char dir[4096];
    live_dir(dir_opt, dir, sizeof dir);
    live_dir_check(dir, dir_opt != NULL);
    struct scan s;
    int rc = live_scan_opt(dir, dir_opt != NULL, pids, npids, flags, &s, 0);
    free(pids);
    if (rc && npids) {
        scan_free(&s);
        return HS_EXIT_BAD;
    }
    size_t len;
    char *text = prom_render(&s, &len);
    scan_free(&s);
    if (!text) die_bad("out of memory");
    if (!out) {
        fwrite(text, 1, len, stdout);
        free(text);
        return 0;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", out, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int e = errno;
        free(text);
        die_bad("%s: cannot create: %s", tmp, strerror(e));
    }
    int ok = fwrite(text, 1, len, f) == len;
    ok &= fclose(f) == 0;
    free(text);
    if (!ok || rename(tmp, out) != 0) {
        int e = errno;
        unlink(tmp);
        die_bad("%s: cannot write: %s", out, strerror(e));
    }
    return 0;
}
