/*
 * tools/cmd_top.c - `heapshim top`: live view of the shimmed processes.
 *
 * Room: presentation of live scans (tools/live.c): a table refreshed in
 * place with ANSI cursor moves (like top), or one JSON document for
 * scripts. Reads only; never resets the exporter's per-scrape peaks.
 */
#include "live.h"
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

static void print_json(const char *dir, const struct scan *s)
{
    json_t *procs = json_array();
    for (int i = 0; i < s->n; i++) json_array_append_new(procs, top_proc_json(&s->v[i]));
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
    printf("heapshim top - %d process%s in %s", s->n, s->n == 1 ? "" : "es", dir);
    if (s->stale) printf(", %d stale file%s (heapshim gc)", s->stale, s->stale == 1 ? "" : "s");
    if (s->bad) printf(", %d unreadable", s->bad);
    printf("%s", eol);
    top_print_heading();
    printf("%s", eol);
    for (int i = 0; i < s->n; i++) {
        top_print_row(&s->v[i]);
        printf("%s", eol);
    }
}

struct live_ctx {
    const char *dir;
    const int *pids;
    int npids;
    struct scan *s;
    int scanned;                    /* c->s is fresh (the first frame) */
    int explicit_dir;               /* named by --dir */
};
/* frame of the live view, from a fresh scan: pids that exit simply drop out */
static int live_frame(void *arg, const char *eol)
{
    struct live_ctx *c = arg;
    if (!c->scanned) {
        scan_free(c->s);
        live_scan_opt(c->dir, c->explicit_dir, c->pids, c->npids, 0, c->s, 1);
    }
    c->scanned = 0;
    print_frame(c->dir, c->s, eol);
    return 0;
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
    live_dir_check(dir, dir_opt != NULL);
    struct scan s;
    if (live_scan_opt(dir, dir_opt != NULL, pids, npids, 0, &s, 0) && npids) {
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

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct live_ctx c = { dir, pids, npids, &s, 1, dir_opt != NULL };
    top_live_loop(live_frame, &c, interval, &stop);
    scan_free(&s);
    free(pids);
    return 0;
}
