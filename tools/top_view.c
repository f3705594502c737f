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

double top_explained(const struct proc_view *v)
{
    return v->rss_bytes ? (double)v->snap.dom[HS_LIVE_TOTAL].live_bytes / (double)v->rss_bytes : 0;
}

void top_print_heading(void)
{
    printf("%7s %-15s %19s %19s %19s %19s %6s %9s %5s", "PID", "COMMAND", "RAW live/peak",
           "MEM live/peak", "OBJ live/peak", "TOTAL live/peak", "ARENAS", "RSS", "EXPL");
}

void top_print_row(const struct proc_view *v)
{
    char b[9][16], cell[4][40];
    for (int d = 0; d < 4; d++)
        snprintf(cell[d], sizeof cell[d], "%s/%s", human_bytes(v->snap.dom[d].live_bytes, b[2 * d]),
                 human_bytes(v->snap.dom[d].peak_bytes, b[2 * d + 1]));
    printf("%7d %-15.15s %19s %19s %19s %19s %6llu %9s %4.0f%%", v->pid, v->comm, cell[0], cell[1],
           cell[2], cell[3], (unsigned long long)v->snap.arenas_mapped,
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
    return json_pack("{sisssssssIsososo sIsf}", "pid", v->pid, "comm", v->comm, "cmdline",
                     v->cmdline, "allocator", v->allocator, "threads", (json_int_t)v->snap.threads,
                     "domains", doms, "total", dom_json(&v->snap.dom[HS_LIVE_TOTAL]), "arenas", ar,
                     "rss_bytes", (json_int_t)v->rss_bytes, "rss_explained", top_explained(v));
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
