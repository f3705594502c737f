/*
 * tools/top_view.c - one process of `heapshim top`: its table row and its
 * JSON object. Room: the heapshim command; heapshim-probe links this file
 * too, so the probe's columns and keys are the command's by construction
 * (the issue asks for "same columns, same field names").
 */
#include "cli.h"
#include <jansson.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

/* (heap live + mapped live) / anonymous RSS (RssAnon); a reader that has
 * no RssAnon (the probe) divides by the whole RSS */
double top_explained(const struct proc_view *v)
{
    uint64_t rss = v->rss_anon_bytes ? v->rss_anon_bytes : v->rss_bytes;
    return rss ? (double)(v->snap.dom[HS_LIVE_TOTAL].live_bytes + v->snap.mapped.live_bytes[HS_LIVE_TOTAL]) /
                     (double)rss
               : 0;
}

void top_print_heading(void)
{
    printf("%7s %-15s %19s %19s %19s %19s %19s %6s %9s %5s", "PID", "COMMAND", "RAW live/peak",
           "MEM live/peak", "OBJ live/peak", "TOTAL live/peak", "MAPPED live/peak", "ARENAS", "RSS", "EXPL");
}

void top_print_row(const struct proc_view *v)
{
    char b[11][16], cell[5][40];
    for (int d = 0; d < 4; d++)
        snprintf(cell[d], sizeof cell[d], "%s/%s", human_bytes(v->snap.dom[d].live_bytes, b[2 * d]),
                 human_bytes(v->snap.dom[d].peak_bytes, b[2 * d + 1]));
    snprintf(cell[4], sizeof cell[4], "%s/%s", human_bytes(v->snap.mapped.live_bytes[HS_LIVE_TOTAL], b[9]),
             human_bytes(v->snap.mapped.peak_bytes[HS_LIVE_TOTAL], b[10]));
    printf("%7d %-15.15s %19s %19s %19s %19s %19s %6llu %9s %4.0f%%", v->pid, v->comm, cell[0], cell[1],
           cell[2], cell[3], cell[4], (unsigned long long)v->snap.arenas_mapped,
           human_bytes(v->rss_bytes, b[8]), 100 * top_explained(v));
}

static json_t *dom_json(const struct hs_live_domain *d)
{
    return json_pack("{sIsIsIsIsIsIsI}", "live_bytes", (json_int_t)d->live_bytes, "live_blocks",
                     (json_int_t)d->live_blocks, "peak_bytes", (json_int_t)d->peak_bytes,
                     "allocs", (json_int_t)d->allocs, "reallocs", (json_int_t)d->reallocs,
                     "frees", (json_int_t)d->frees, "failed", (json_int_t)d->failed);
}

json_t *top_proc_json(const struct proc_view *v)
{
    json_t *doms = json_object();
    for (int d = 0; d < HS_LIVE_NDOM; d++)
        json_object_set_new(doms, dom_names[d], dom_json(&v->snap.dom[d]));
    json_t *ar = json_pack("{sIsIsIsIsI}", "arenas_mapped", (json_int_t)v->snap.arenas_mapped,
                           "arenas_peak", (json_int_t)v->snap.arenas_peak, "bytes_mapped",
                           (json_int_t)v->snap.bytes_mapped, "pools_used",
                           (json_int_t)v->snap.pools_used, "pools_free",
                           (json_int_t)v->snap.pools_free);
    const struct hs_live_mapped *m = &v->snap.mapped;
    json_t *mdoms = json_object();
    for (int d = 0; d < HS_LIVE_NDOM; d++)
        json_object_set_new(mdoms, dom_names[d], json_pack("{sIsI}", "live_bytes", (json_int_t)m->live_bytes[d],
                                                           "peak_bytes", (json_int_t)m->peak_bytes[d]));
    json_t *mj = json_pack("{sIsIsIsIsIsIsIsIso}", "live_bytes", (json_int_t)m->live_bytes[HS_LIVE_TOTAL],
                           "peak_bytes", (json_int_t)m->peak_bytes[HS_LIVE_TOTAL], "maps", (json_int_t)m->maps,
                           "unmaps", (json_int_t)m->unmaps, "remaps", (json_int_t)m->remaps,
                           "protects", (json_int_t)m->protects, "discards", (json_int_t)m->discards,
                           "discard_bytes", (json_int_t)m->discard_bytes, "domains", mdoms);
    return json_pack("{sisssssssIsososo sosIsIsf}", "pid", v->pid, "comm", v->comm, "cmdline",
                     v->cmdline, "allocator", v->allocator, "threads", (json_int_t)v->snap.threads,
                     "domains", doms, "total", dom_json(&v->snap.dom[HS_LIVE_TOTAL]), "arenas", ar,
                     "mapped", mj, "rss_bytes", (json_int_t)v->rss_bytes,
                     "rss_anon_bytes", (json_int_t)v->rss_anon_bytes, "rss_explained", top_explained(v));
}

/* The refreshing view. On a terminal: keys unbuffered (q quits), cursor
 * hidden, each frame drawn over the last; otherwise frames follow each other
 * separated by a blank line. Returns what the last frame() returned (0 when
 * the user quit or *stop was set by a signal handler). */
int top_live_loop(int (*frame)(void *arg, const char *eol), void *arg, uint64_t interval_ms,
                  volatile sig_atomic_t *stop)
{
    int tty_out = isatty(1), tty_in = isatty(0), rc = 0;
    struct termios saved, raw;
    if (tty_in && tcgetattr(0, &saved) == 0) {
        raw = saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        tcsetattr(0, TCSANOW, &raw);
    } else tty_in = 0;
    if (tty_out) printf("\033[?25l\033[H\033[2J");
    while (!*stop) {
        if (tty_out) printf("\033[H");
        if ((rc = frame(arg, tty_out ? "\033[K\n" : "\n")) != 0) break;
        if (tty_out) printf("\033[J");
        else putchar('\n');
        fflush(stdout);
        struct pollfd p = { 0, POLLIN, 0 };
        if (poll(&p, tty_in ? 1 : 0, (int)interval_ms) > 0) {
            char c;
            if (read(0, &c, 1) == 1 && (c == 'q' || c == 'Q')) break;
        }
    }
    if (tty_out) printf("\033[?25h");
    fflush(stdout);
    if (tty_in) tcsetattr(0, TCSANOW, &saved);
    return rc;
}
