/*
 * tools/cmd_top.c - `heapshim top`: live view of the shimmed processes.
 *
 * Room: presentation of live scans (tools/live.c): a table refreshed in
 * place with ANSI cursor moves (like top), or one JSON document for
 * scripts. Reads only; never resets the exporter's per-scrape peaks.
 */
#include "cli.h"
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char usage[] =
    "usage: heapshim top [--interval MS] [--once] [--json] [--dir DIR] [PID...]\n"
    "  Live view of every shimmed process of this user (or only PID...): pid,\n"
    "  command, live and peak bytes per domain and in total, arenas mapped, RSS,\n"
    "  and the share of RSS the counters explain (total live bytes / RSS).\n"
    "  Refreshed every --interval ms (default 1000, 50..3600000); q or Ctrl-C quits.\n"
    "  --once prints one frame and exits; --json (implies --once) prints JSON.\n"
    "  Files of dead processes are skipped (heapshim gc removes them).\n";

static volatile sig_atomic_t stop;
static void on_stop(int sig) { (void)sig; stop = 1; }

static double explained(const struct proc_view *v)
{
    return v->rss_bytes ? (double)v->snap.dom[HS_LIVE_TOTAL].live_bytes / (double)v->rss_bytes : 0;
}

static json_t *dom_json(const struct hs_live_domain *d)
{
    return json_pack("{sIsIsIsIsIsIsI}", "live_bytes", (json_int_t)d->live_bytes, "live_blocks",
                     (json_int_t)d->live_blocks, "peak_bytes", (json_int_t)d->peak_bytes,
                     "allocs", (json_int_t)d->allocs, "reallocs", (json_int_t)d->reallocs,
                     "frees", (json_int_t)d->frees, "failed", (json_int_t)d->failed);
}

static void print_json(const char *dir, const struct scan *s)
{
    json_t *procs = json_array();
    for (int i = 0; i < s->n; i++) {
        const struct proc_view *v = &s->v[i];
        json_t *doms = json_object();
        for (int d = 0; d < HS_LIVE_NDOM; d++)
            json_object_set_new(doms, dom_names[d], dom_json(&v->snap.dom[d]));
        json_t *ar = json_pack("{sIsIsIsIsI}", "arenas_mapped", (json_int_t)v->snap.arenas_mapped,
                               "arenas_peak", (json_int_t)v->snap.arenas_peak, "bytes_mapped",
                               (json_int_t)v->snap.bytes_mapped, "pools_used",
                               (json_int_t)v->snap.pools_used, "pools_free",
                               (json_int_t)v->snap.pools_free);
        json_array_append_new(
            procs, json_pack("{sisssssssIsososo sIsf}", "pid", v->pid, "comm", v->comm, "cmdline",
                             v->cmdline, "allocator", v->allocator, "threads",
                             (json_int_t)v->snap.threads, "domains", doms, "total",
                             dom_json(&v->snap.dom[HS_LIVE_TOTAL]), "arenas", ar, "rss_bytes",
                             (json_int_t)v->rss_bytes, "rss_explained", explained(v)));
    }
    json_t *root = json_pack("{sssIsosisi}", "dir", dir, "time_unix_ns", (json_int_t)unix_ns(),
                             "processes", procs, "stale", s->stale, "bad", s->bad);
    char *txt = root ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    if (txt) puts(txt);
    free(txt);
    json_decref(root);
}

/* one frame; eol is "\033[K\n" when refreshing in place, "\n" otherwise */
static void print_frame(const char *dir, const struct scan *s, const char *eol)
{
    char b[10][16];
    printf("heapshim top - %d process%s in %s", s->n, s->n == 1 ? "" : "es", dir);
    if (s->stale) printf(", %d stale file%s (heapshim gc)", s->stale, s->stale == 1 ? "" : "s");
    if (s->bad) printf(", %d unreadable", s->bad);
    printf("%s", eol);
    printf("%7s %-15s %19s %19s %19s %19s %6s %9s %5s%s", "PID", "COMMAND", "RAW live/peak",
           "MEM live/peak", "OBJ live/peak", "TOTAL live/peak", "ARENAS", "RSS", "EXPL", eol);
    for (int i = 0; i < s->n; i++) {
        const struct proc_view *v = &s->v[i];
        char cell[4][24];
        for (int d = 0; d < 4; d++)
            snprintf(cell[d], sizeof cell[d], "%s/%s", human_bytes(v->snap.dom[d].live_bytes, b[2 * d]),
                     human_bytes(v->snap.dom[d].peak_bytes, b[2 * d + 1]));
        printf("%7d %-15.15s %19s %19s %19s %19s %6llu %9s %4.0f%%%s", v->pid, v->comm, cell[0],
               cell[1], cell[2], cell[3], (unsigned long long)v->snap.arenas_mapped,
               human_bytes(v->rss_bytes, b[8]), 100 * explained(v), eol);
    }
}

int cmd_top(int argc, char **argv)
{
    uint64_t interval = 1000;
    int once = 0, as_json = 0, i;
    const char *dir_opt = NULL;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--once")) once = 1;
        else if (!strcmp(a, "--json")) as_json = once = 1;
        else if (!strcmp(a, "--interval") || !strcmp(a, "--dir")) {
            if (i + 1 >= argc) die_bad("%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--dir")) dir_opt = v;
            else if (parse_u64(v, 50, 3600000, &interval))
                die_bad("--interval: bad number '%s' (accepted: milliseconds, 50..3600000)", v);
        } else if (!strcmp(a, "--")) {
            i++;
            break;
        } else die_bad("unknown option '%s' (accepted: --interval MS, --once, --json, --dir DIR, --help)", a);
    }
    int *pids;
    int npids = parse_pids(argc, argv, i, &pids);
    char dir[4096];
    live_dir(dir_opt, dir, sizeof dir);
    struct scan s;
    if (live_scan(dir, pids, npids, 0, &s, 0) && npids) {
        scan_free(&s);
        free(pids);
        return HS_EXIT_BAD;
    }
    if (once) {
        if (as_json) print_json(dir, &s);
        else print_frame(dir, &s, "\n");
        scan_free(&s);
        free(pids);
        return 0;
    }

    int tty_out = isatty(1), tty_in = isatty(0);
    struct termios saved, raw;
    if (tty_in && tcgetattr(0, &saved) == 0) {
        raw = saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        tcsetattr(0, TCSANOW, &raw);
    } else tty_in = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (tty_out) printf("\033[?25l\033[H\033[2J");
    while (!stop) {
        if (tty_out) printf("\033[H");
        print_frame(dir, &s, tty_out ? "\033[K\n" : "\n");
        if (tty_out) printf("\033[J");
        else putchar('\n');
        fflush(stdout);
        scan_free(&s);
        struct pollfd p = { 0, POLLIN, 0 };
        if (poll(&p, tty_in ? 1 : 0, (int)interval) > 0) {
            char c;
            if (read(0, &c, 1) == 1 && (c == 'q' || c == 'Q')) break;
        }
        /* pids that exit simply drop out of the view */
        live_scan(dir, pids, npids, 0, &s, 1);
    }
    scan_free(&s);
    if (tty_out) printf("\033[?25h");
    fflush(stdout);
    if (tty_in) tcsetattr(0, TCSANOW, &saved);
    free(pids);
    return 0;
}
