/*
 * tools/top_view.c - one process of `heapshim top`: its table row and its
 * JSON object. Room: the heapshim command; heapshim-probe links this file
 * too, so the probe's columns and keys are the command's by construction
 * (the issue asks for "same columns, same field names").
 * One table, top_heading/top_row: `heapshim top`'s, fitted to a given width
 * (columns dropped from the least important); the probe prints it too,
 * without the columns it has no figures for (GROWTH), its own appended.
 */
#include "cli.h"
#include <jansson.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* (heap live + mapped live) / anonymous RSS (RssAnon); a reader that has
 * no RssAnon divides by the whole RSS */
double top_explained(const struct proc_view *v)
{
    uint64_t rss = v->rss_anon_bytes ? v->rss_anon_bytes : v->rss_bytes;
    return rss ? (double)(v->snap.dom[HS_LIVE_TOTAL].live_bytes + v->snap.mapped.live_bytes[HS_LIVE_TOTAL]) /
                     (double)rss
               : 0;
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
    return top_live_loop_keys(frame, NULL, arg, interval_ms, stop);
}

/* ---- the table of `heapshim top`: fits the width it is given ---------------- */

/* columns: title, width, right-aligned; dropped from the right of this list
 * (in `drop` order) when the width is too small */
static const struct { const char *title; int w; } tcol[TC_N] = {
    [TC_PID] = { "PID", 7 },     [TC_CMD] = { "COMMAND", 0 }, [TC_LIVE] = { "LIVE", 6 },
    [TC_PEAK] = { "PEAK", 6 },   [TC_GROWTH] = { "GROWTH", 7 }, [TC_RAW] = { "RAW", 6 },
    [TC_MEM] = { "MEM", 6 },     [TC_OBJ] = { "OBJ", 6 },     [TC_MAPPED] = { "MAPPED", 6 },
    [TC_RSS] = { "RSS", 6 },
    [TC_EXPL] = { "EXPL", 4 },
};
#define TOP_CMD_MIN 8
#define TOP_CMD_MAX 40
#define TOP_CMD_WITH_MAPPED 10      /* MAPPED (the program's own mappings) only when COMMAND keeps this: from 80 columns */

void top_layout_for(int width, int wide_cmd, struct top_layout *L)
{
    top_layout_without(width, wide_cmd, 0, L);
}

void top_layout_without(int width, int wide_cmd, unsigned lacking, struct top_layout *L)
{
    static const int drop[] = { TC_EXPL, TC_OBJ, TC_MEM, TC_RAW, TC_RSS, TC_GROWTH, TC_PEAK, TC_LIVE };
    if (width < 20) width = 20;
    L->width = width;
    int fixed = 0;
    for (int c = 0; c < TC_N; c++) {
        L->on[c] = c == TC_PID || c == TC_CMD || !(lacking & (1u << c));
        if (c != TC_CMD && L->on[c]) fixed += tcol[c].w + 1;
    }
    if (L->on[TC_MAPPED] && fixed + TOP_CMD_WITH_MAPPED > width) {   /* 80 columns: EXPL counts mapped memory in */
        L->on[TC_MAPPED] = 0;
        fixed -= tcol[TC_MAPPED].w + 1;
    }
    for (size_t k = 0; k < sizeof drop / sizeof drop[0] && fixed + TOP_CMD_MIN > width; k++) {
        if (!L->on[drop[k]]) continue;
        L->on[drop[k]] = 0;
        fixed -= tcol[drop[k]].w + 1;
    }
    L->cmdw = width - fixed;
    if (!wide_cmd && L->cmdw > TOP_CMD_MAX) L->cmdw = TOP_CMD_MAX;
    if (L->cmdw < 1) L->cmdw = 1;
}

/* append at most room characters of s (printable ASCII; others become '?') */
static size_t put(char *buf, size_t n, size_t cap, const char *s, int width, int right)
{
    size_t len = strlen(s);
    if (width >= 0 && len > (size_t)width) len = (size_t)width;
    int pad = width > (int)len ? width - (int)len : 0;
    if (right)
        while (pad-- > 0 && n + 1 < cap) buf[n++] = ' ';
    for (size_t i = 0; i < len && n + 1 < cap; i++)
        buf[n++] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e ? '?' : s[i];
    if (!right)
        while (pad-- > 0 && n + 1 < cap) buf[n++] = ' ';
    buf[n] = 0;
    return n;
}

static void top_line(const struct top_layout *L, const char *cell[TC_N], char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (int c = 0; c < TC_N; c++) {
        if (!L->on[c]) continue;
        if (n) n = put(buf, n, cap, " ", 1, 0);
        n = c == TC_CMD ? put(buf, n, cap, cell[c], L->cmdw, 0) : put(buf, n, cap, cell[c], tcol[c].w, 1);
    }
    while (n > 0 && buf[n - 1] == ' ') buf[--n] = 0;   /* never wider than L->width */
    if (n > (size_t)L->width) buf[L->width] = 0;
}

void top_heading(const struct top_layout *L, char *buf, size_t cap)
{
    const char *cell[TC_N];
    for (int c = 0; c < TC_N; c++) cell[c] = tcol[c].title;
    top_line(L, cell, buf, cap);
}

void top_row(const struct top_layout *L, const struct proc_view *v, const char *cmd,
             int have_growth, int64_t growth, char *buf, size_t cap)
{
    char pid[16], b[TC_N][8], g[10], expl[8];
    const char *cell[TC_N];
    snprintf(pid, sizeof pid, "%d", v->pid);
    cell[TC_PID] = pid;
    cell[TC_CMD] = cmd;
    cell[TC_LIVE] = short_bytes(v->snap.dom[HS_LIVE_TOTAL].live_bytes, b[TC_LIVE]);
    cell[TC_PEAK] = short_bytes(v->snap.dom[HS_LIVE_TOTAL].peak_bytes, b[TC_PEAK]);
    if (!have_growth) snprintf(g, sizeof g, "-");
    else if (growth == 0) snprintf(g, sizeof g, "0");
    else snprintf(g, sizeof g, "%c%s", growth > 0 ? '+' : '-',
                  short_bytes(growth > 0 ? (uint64_t)growth : (uint64_t)0 - (uint64_t)growth, b[TC_GROWTH]));
    cell[TC_GROWTH] = g;
    cell[TC_RAW] = short_bytes(v->snap.dom[0].live_bytes, b[TC_RAW]);
    cell[TC_MEM] = short_bytes(v->snap.dom[1].live_bytes, b[TC_MEM]);
    cell[TC_OBJ] = short_bytes(v->snap.dom[2].live_bytes, b[TC_OBJ]);
    cell[TC_MAPPED] = short_bytes(v->snap.mapped.live_bytes[HS_LIVE_TOTAL], b[TC_MAPPED]);
    cell[TC_RSS] = v->rss_bytes ? short_bytes(v->rss_bytes, b[TC_RSS]) : "-";
    double e = 100 * top_explained(v);
    if (v->rss_bytes) snprintf(expl, sizeof expl, "%.0f%%", e > 999 ? 999 : e);
    else snprintf(expl, sizeof expl, "-");
    cell[TC_EXPL] = expl;
    top_line(L, cell, buf, cap);
}

int top_term_size(int *rows)
{
    struct winsize ws;
    int w = 0;
    if (rows) *rows = 0;
    if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        w = ws.ws_col;
        if (rows) *rows = ws.ws_row;
    }
    if (w <= 0) {
        const char *c = getenv("COLUMNS");
        uint64_t v;
        if (c && !parse_u64(c, 20, 10000, &v)) w = (int)v;
    }
    return w > 0 ? w : 80;
}

int top_live_loop_keys(int (*frame)(void *arg, const char *eol), int (*key)(void *arg, int c),
                       void *arg, uint64_t interval_ms, volatile sig_atomic_t *stop)
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
    int redraw = 1;
    uint64_t next = 0;
    while (!*stop) {
        uint64_t now = now_ns();
        if (redraw || now >= next) {
            if (tty_out) printf("\033[H");
            if ((rc = frame(arg, tty_out ? "\033[K\n" : "\n")) != 0) break;
            if (tty_out) printf("\033[J");
            else putchar('\n');
            fflush(stdout);
            if (!redraw || now >= next) next = now_ns() + interval_ms * 1000000ull;
            redraw = 0;
            now = now_ns();
        }
        struct pollfd p = { 0, POLLIN, 0 };
        int wait_ms = next > now ? (int)((next - now) / 1000000ull) + 1 : 0;
        if (poll(&p, tty_in ? 1 : 0, wait_ms) > 0) {
            char c;
            if (read(0, &c, 1) != 1) continue;
            int r = key ? key(arg, (unsigned char)c) : (c == 'q' || c == 'Q') ? -1 : 0;
            if (r < 0) break;
            if (r > 0) redraw = 1;   /* the view changed: draw it now from the last scan */
        }
    }
    if (tty_out) printf("\033[?25h");
    fflush(stdout);
    if (tty_in) tcsetattr(0, TCSANOW, &saved);
    return rc;
}
