/*
 * tools/cmd_top.c - `heapshim top`: live view of the shimmed processes.
 *
 * Room: presentation of live scans (tools/live.c): a table refreshed in
 * place with ANSI cursor moves (like top), or one JSON document for
 * scripts. Reads only; never resets the exporter's per-scrape peaks.
 * The view is made for hundreds of processes: every line fits the
 * terminal's width (tools/top_view.c drops the least important columns),
 * the title, the key line and the column heading are always drawn, rows are
 * cut at the terminal's height with the largest consumers first, and keys
 * change the order, the filter, the tree grouping, the command lines and
 * the size-class histogram of the selected process without a new scan.
 */
#include "live.h"
#include <heapshim.h>
#include <ctype.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: heapshim top [--sort KEY] [--filter TEXT] [--user USER] [--tree] [--full]\n"
    "                    [--hist PID] [--interval MS] [--once] [--json] [--dir DIR]\n"
    "                    [PID...]\n"
    "  Live view of every shimmed process of this user (or only PID...): PID,\n"
    "  COMMAND, total LIVE and PEAK bytes, GROWTH of live bytes over the last\n"
    "  interval, live bytes per domain (RAW MEM OBJ), RSS, and EXPL, the share of\n"
    "  RSS the counters explain. Rows fit the terminal's width (else $COLUMNS,\n"
    "  else 80); on a terminal they stop at its height, largest first.\n"
    "  --sort KEY     live (default), peak, growth, name, pid or rss\n"
    "  --filter TEXT  only processes whose command name or line contains TEXT\n"
    "  --user USER    only processes of USER (a name or a numeric uid)\n"
    "  --tree         children under their parents (siblings in --sort order)\n"
    "  --full         the full command line of every process\n"
    "  --hist PID     live small blocks of PID per size class, as a histogram\n"
    "  --interval MS  refresh period (default 1000, 50..3600000)\n"
    "  --once         one frame and exit (two readings --interval apart when\n"
    "                 GROWTH is shown or sorted by); --json (implies --once) JSON\n"
    "  Keys: l p g n s sort by live, peak, growth, name, pid; r reverse; t tree;\n"
    "  c command lines; / filter; u user; j k (or arrows) select; h histogram of\n"
    "  the selected process; Esc clears the filters; q quits.\n"
    "  Files of dead processes are skipped (heapshim gc removes them).\n";

enum { K_LIVE, K_PEAK, K_GROWTH, K_NAME, K_PID, K_RSS, K_N };
static const char *const key_names[K_N] = { "live", "peak", "growth", "name", "pid", "rss" };

static volatile sig_atomic_t stop;
static void on_stop(int sig) { (void)sig; stop = 1; }

struct prev {
    int pid;
    uint64_t start_time, live;
};

struct top {
    const char *dir;
    int explicit_dir;
    const int *pids;
    int npids;
    struct scan s;
    int scanned;                    /* s is fresh (the first frame) */
    struct prev *prev;              /* the previous scan's live bytes, by pid */
    int nprev, have_prev;
    int64_t *growth;                /* per s.v[] */
    unsigned char *has_growth;
    /* the view */
    int sort, reverse, tree, full;
    char filter[128];
    int user_set;
    uid_t uid;
    int hist_pid, sel_pid, scroll;
    int interactive;                /* a terminal on both ends: keys, height */
    int prompt;                     /* 0, '/' (filter) or 'u' (user) being typed */
    char pbuf[128];
    int plen, esc;
    char msg[160];
    /* the frame's order */
    int *order, *depth, norder;
};

static int cmp_prev(const void *a, const void *b)
{
    const struct prev *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* growth of every process since the previous scan (new ones: none) */
static void take_growth(struct top *t)
{
    free(t->growth);
    free(t->has_growth);
    t->growth = calloc((size_t)t->s.n + 1, sizeof *t->growth);
    t->has_growth = calloc((size_t)t->s.n + 1, 1);
    for (int i = 0; t->growth && t->has_growth && t->have_prev && i < t->s.n; i++) {
        struct prev key = { t->s.v[i].pid, 0, 0 };
        const struct prev *p = bsearch(&key, t->prev, (size_t)t->nprev, sizeof *t->prev, cmp_prev);
        if (p && p->start_time == t->s.v[i].start_time) {
            t->growth[i] = (int64_t)(t->s.v[i].snap.dom[HS_LIVE_TOTAL].live_bytes - p->live);
            t->has_growth[i] = 1;
        }
    }
    free(t->prev);
    t->prev = calloc((size_t)t->s.n + 1, sizeof *t->prev);
    t->nprev = 0;
    for (int i = 0; t->prev && i < t->s.n; i++)
        t->prev[t->nprev++] = (struct prev){ t->s.v[i].pid, t->s.v[i].start_time,
                                             t->s.v[i].snap.dom[HS_LIVE_TOTAL].live_bytes };
    qsort(t->prev, (size_t)t->nprev, sizeof *t->prev, cmp_prev);
    t->have_prev = t->prev != NULL;
}

static void rescan(struct top *t, int quiet)
{
    scan_free(&t->s);
    live_scan_opt(t->dir, t->explicit_dir, t->pids, t->npids, 0, &t->s, quiet);
    take_growth(t);
}

static int ci_contains(const char *hay, size_t max, const char *needle)
{
    size_t n = strlen(needle);
    if (!n) return 1;
    for (size_t i = 0; i + n <= max && hay[i]; i++)
        if (!strncasecmp(hay + i, needle, n)) return 1;
    return 0;
}

static int shown(const struct top *t, const struct proc_view *v)
{
    if (t->filter[0] && !ci_contains(v->comm, sizeof v->comm, t->filter) &&
        !ci_contains(v->cmdline, sizeof v->cmdline, t->filter))
        return 0;
    if (t->user_set) {
        char p[32];
        struct stat st;
        snprintf(p, sizeof p, "/proc/%d", v->pid);
        if (stat(p, &st) != 0 || st.st_uid != t->uid) return 0;
    }
    return 1;
}

static const struct top *sort_ctx;
static int cmp_view(const void *a, const void *b)
{
    const struct top *t = sort_ctx;
    int i = *(const int *)a, j = *(const int *)b;
    const struct proc_view *x = &t->s.v[i], *y = &t->s.v[j];
    int r = 0;
    uint64_t u, w;
    switch (t->sort) {
    case K_LIVE: u = x->snap.dom[HS_LIVE_TOTAL].live_bytes, w = y->snap.dom[HS_LIVE_TOTAL].live_bytes;
                 r = (u < w) - (u > w); break;
    case K_PEAK: u = x->snap.dom[HS_LIVE_TOTAL].peak_bytes, w = y->snap.dom[HS_LIVE_TOTAL].peak_bytes;
                 r = (u < w) - (u > w); break;
    case K_RSS: r = (x->rss_bytes < y->rss_bytes) - (x->rss_bytes > y->rss_bytes); break;
    case K_GROWTH: {
        int64_t g = t->has_growth[i] ? t->growth[i] : INT64_MIN;
        int64_t h = t->has_growth[j] ? t->growth[j] : INT64_MIN;
        r = (g < h) - (g > h);
        break;
    }
    case K_NAME: r = strcmp(x->comm, y->comm); break;
    default: break;
    }
    if (t->reverse) r = -r;
    return r ? r : (x->pid > y->pid) - (x->pid < y->pid);
}

/* t->order: shown processes in sort order; with --tree, each followed by
 * its descendants (depth-first, siblings in sort order) */
static void build_order(struct top *t)
{
    free(t->order);
    free(t->depth);
    int n = t->s.n;
    t->order = calloc((size_t)n + 1, sizeof *t->order);
    t->depth = calloc((size_t)n + 1, sizeof *t->depth);
    t->norder = 0;
    if (!t->order || !t->depth) return;
    int *cand = calloc((size_t)n + 1, sizeof *cand), nc = 0;
    if (!cand) return;
    for (int i = 0; i < n; i++)
        if (shown(t, &t->s.v[i])) cand[nc++] = i;
    sort_ctx = t;
    qsort(cand, (size_t)nc, sizeof *cand, cmp_view);
    if (!t->tree) {
        memcpy(t->order, cand, (size_t)nc * sizeof *cand);
        t->norder = nc;
        free(cand);
        return;
    }
    /* parent of each candidate among the candidates (-1: a root) */
    int *par = calloc((size_t)nc + 1, sizeof *par), *stack = calloc((size_t)nc + 1, sizeof *stack);
    unsigned char *done = calloc((size_t)nc + 1, 1);
    if (!par || !stack || !done) {
        free(par), free(stack), free(done), free(cand);
        return;
    }
    for (int a = 0; a < nc; a++) {
        int pp = proc_ppid(t->s.v[cand[a]].pid);
        par[a] = -1;
        for (int b = 0; pp > 0 && b < nc; b++)
            if (t->s.v[cand[b]].pid == pp) par[a] = b;
    }
    /* a cycle (pid reuse between two reads) makes its members roots */
    for (int a = 0; a < nc; a++) {
        int x = par[a], steps = 0;
        while (x >= 0 && steps++ <= nc) x = par[x];
        if (steps > nc) par[a] = -1;
    }
    for (int root = 0; root < nc; root++) {
        if (par[root] >= 0 || done[root]) continue;
        int sp = 0;
        stack[sp++] = root;
        while (sp) {
            int a = stack[--sp];
            if (done[a]) continue;
            done[a] = 1;
            int d = 0;
            for (int x = par[a]; x >= 0; x = par[x]) d++;
            t->order[t->norder] = cand[a];
            t->depth[t->norder++] = d;
            /* children pushed in reverse sort order so the first pops first */
            for (int b = nc - 1; b >= 0; b--)
                if (par[b] == a && !done[b]) stack[sp++] = b;
        }
    }
    free(par), free(stack), free(done), free(cand);
}

static int view_of_pid(const struct top *t, int pid)
{
    for (int i = 0; i < t->s.n; i++)
        if (t->s.v[i].pid == pid) return i;
    return -1;
}

/* prints a line cut to the width; eol ends it */
static int lines_out;
static void line(const char *s, int width, const char *eol)
{
    printf("%.*s%s", width, s, eol);
    lines_out++;
}

/* the size-class histogram of one process: lines_max lines at most */
static void print_hist(const struct proc_view *v, int width, int lines_max,
                       const char *eol)
{
    char buf[512], a[16], b[16];
    uint64_t blocks = 0, bytes = 0, maxb = 0;
    int used = 0;
    for (int c = 0; c < HS_LIVE_NCLASSES; c++) {
        uint64_t n = v->snap.class_blocks[c], by = n * (uint64_t)(c + 1) * HS_ALIGNMENT;
        blocks += n;
        bytes += by;
        if (by > maxb) maxb = by;
        used += n != 0;
    }
    snprintf(buf, sizeof buf, "size classes of pid %d (%.15s): %s small blocks live, %s in them",
             v->pid, v->comm, human_count(blocks, a), human_bytes(bytes, b));
    line(printable(buf), width, eol);
    if (!used) {
        line("  (no small arena blocks live)", width, eol);
        return;
    }
    /* two classes per line when the width allows it */
    int cols = width >= 70 ? 2 : 1, cw = width / cols;
    int rows = (used + cols - 1) / cols;
    if (lines_max > 0 && rows > lines_max - 1) rows = lines_max - 1;
    int idx[HS_LIVE_NCLASSES], k = 0;
    for (int c = 0; c < HS_LIVE_NCLASSES; c++)
        if (v->snap.class_blocks[c]) idx[k++] = c;
    for (int r = 0; r < rows; r++) {
        size_t n = 0;
        buf[0] = 0;
        for (int col = 0; col < cols; col++) {
            int e = col * rows + r;
            if (e >= k) break;
            int c = idx[e];
            uint64_t cnt = v->snap.class_blocks[c], by = cnt * (uint64_t)(c + 1) * HS_ALIGNMENT;
            char cell[256];
            int pre = snprintf(cell, sizeof cell, " %4uB %7s %7s ", (unsigned)((c + 1) * HS_ALIGNMENT),
                               human_count(cnt, a), short_bytes(by, b));
            int barw = cw - pre - 1;
            if (barw < 1) barw = 1;
            int len = maxb ? (int)((double)by / (double)maxb * barw + 0.5) : 0;
            if (len < 1 && by) len = 1;
            if (len > (int)sizeof cell - 1 - pre) len = (int)sizeof cell - 1 - pre;
            memset(cell + pre, '#', (size_t)len);
            cell[pre + len] = 0;
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%-*.*s", col + 1 < cols ? cw : 0, cw, cell);
            if (n >= sizeof buf) n = sizeof buf - 1;
        }
        while (n && buf[n - 1] == ' ') buf[--n] = 0;
        line(buf, width, eol);
    }
    if (rows * cols < k) {
        snprintf(buf, sizeof buf, "  ... %d more classes (a taller terminal shows them)", k - rows * cols);
        line(buf, width, eol);
    }
}

static void print_frame(struct top *t, const char *eol)
{
    int rows_avail = 0;
    int width = top_term_size(t->interactive ? &rows_avail : NULL);
    if (!t->interactive) rows_avail = 0;
    if (rows_avail > 0) rows_avail--;   /* the last line's newline must not scroll the screen */
    struct top_layout L;
    top_layout_for(width, t->full, &L);
    build_order(t);
    lines_out = 0;
    char buf[1024], a[16], b[16];
    /* saturated, as the rows show each figure: a wrapped sum would be a
     * small, false number ("more than" when it saturated) */
    uint64_t live = 0, rss = 0;
    int live_over = 0, rss_over = 0;
    for (int k = 0; k < t->norder; k++) {
        uint64_t l = t->s.v[t->order[k]].snap.dom[HS_LIVE_TOTAL].live_bytes, r = t->s.v[t->order[k]].rss_bytes;
        live_over |= live > UINT64_MAX - l;
        rss_over |= rss > UINT64_MAX - r;
        live = live_over ? UINT64_MAX : live + l;
        rss = rss_over ? UINT64_MAX : rss + r;
    }
    /* what matters first: a line is cut at the width */
    int n = t->norder == t->s.n
                ? snprintf(buf, sizeof buf, "heapshim top - %d process%s", t->s.n, t->s.n == 1 ? "" : "es")
                : snprintf(buf, sizeof buf, "heapshim top - %d of %d processes", t->norder, t->s.n);
#define ADD(...) do { if (n < (int)sizeof buf) n += snprintf(buf + n, sizeof buf - (size_t)n, __VA_ARGS__); } while (0)
    if (t->s.nodir) ADD(", no directory %s yet", t->dir);   /* why there is nothing */
    ADD(", sort %s%s%s", key_names[t->sort], t->reverse ? " reversed" : "", t->tree ? ", tree" : "");
    if (t->filter[0]) ADD(", filter '%.24s'", t->filter);
    if (t->user_set) ADD(", uid %u", (unsigned)t->uid);
    ADD(", live %s%s, RSS %s%s", live_over ? ">" : "", human_bytes(live, a), rss_over ? ">" : "",
        human_bytes(rss, b));
    if (t->s.stale) ADD(", %d stale file%s", t->s.stale, t->s.stale == 1 ? "" : "s");
    if (t->s.bad) ADD(", %d unreadable", t->s.bad);
#undef ADD
    line(printable(buf), width, eol);
    if (t->interactive) {
        if (t->prompt)
            snprintf(buf, sizeof buf, "%s: %s_   (Enter applies, Esc cancels)",
                     t->prompt == '/' ? "filter" : "user", t->pbuf);
        else if (t->msg[0])
            snprintf(buf, sizeof buf, "%s", t->msg);
        else
            snprintf(buf, sizeof buf, "sort l p g n s  r reverse  t tree  c cmdline  / filter  "
                                      "u user  h hist  q quit");
        line(buf, width, eol);
    }
    top_heading(&L, buf, sizeof buf);
    line(buf, width, eol);

    /* the histogram's process: --hist PID, else (key h) the selected one */
    int hv = t->hist_pid ? view_of_pid(t, t->hist_pid) : -1;
    int hist_lines = 0;
    if (t->hist_pid) {
        int used = 0;
        if (hv >= 0)
            for (int cl = 0; cl < HS_LIVE_NCLASSES; cl++) used += t->s.v[hv].snap.class_blocks[cl] != 0;
        hist_lines = 2 + (used + (width >= 70 ? 1 : 0)) / (width >= 70 ? 2 : 1);
        if (rows_avail && hist_lines > rows_avail / 2) hist_lines = rows_avail / 2;
    }
    /* rows: all of them, or as many as the terminal holds (one line kept
     * for "... N more") */
    int room = t->norder;
    if (rows_avail) {
        room = rows_avail - lines_out - hist_lines - 1;
        if (room < 1) room = 1;
    }
    int sel = 0;
    for (int k = 0; k < t->norder; k++)
        if (t->s.v[t->order[k]].pid == t->sel_pid) sel = k;
    if (t->norder) t->sel_pid = t->s.v[t->order[sel]].pid;
    if (sel < t->scroll) t->scroll = sel;
    if (sel >= t->scroll + room) t->scroll = sel - room + 1;
    if (t->scroll > t->norder - room) t->scroll = t->norder - room;
    if (t->scroll < 0) t->scroll = 0;
    int used_rows = 0;
    for (int k = t->scroll; k < t->norder && used_rows < room; k++) {
        int i = t->order[k];
        const struct proc_view *v = &t->s.v[i];
        char cmd[400];
        int d = t->tree ? t->depth[k] : 0;
        if (d > 6) d = 6;
        snprintf(cmd, sizeof cmd, "%*s%s%s", 2 * (d ? d - 1 : 0), "", d ? "`-" : "",
                 t->full && v->cmdline[0] ? v->cmdline : v->comm);
        top_row(&L, v, cmd, t->has_growth[i], t->growth[i], buf, sizeof buf);
        int selected = t->interactive && v->pid == t->sel_pid;
        if (selected) printf("\033[7m");
        printf("%.*s", width, buf);
        if (selected) printf("\033[27m");
        printf("%s", eol);
        lines_out++;
        used_rows++;
        /* --full: what the COMMAND column cut goes on continuation lines */
        size_t cl = strlen(cmd), cw = (size_t)L.cmdw;
        if (t->full && cl > cw) {
            size_t indent = L.on[TC_PID] ? 8 : 0;
            size_t per = (size_t)width > indent + 10 ? (size_t)width - indent : (size_t)width;
            for (size_t off = cw; off < cl && (!rows_avail || used_rows < room); off += per) {
                char cont[1024];
                snprintf(cont, sizeof cont, "%*s%.*s", (int)indent, "", (int)per, cmd + off);
                line(printable(cont), width, eol);
                if (rows_avail) used_rows++;
            }
        }
    }
    int below = t->norder - t->scroll - used_rows;
    if (below > 0 || t->scroll > 0) {
        snprintf(buf, sizeof buf, "  ... %d more below%s (j/k scroll)",
                 below > 0 ? below : 0, t->scroll ? ", some above" : "");
        line(buf, width, eol);
    }
    if (t->hist_pid) {
        if (hv >= 0) print_hist(&t->s.v[hv], width, hist_lines, eol);
        else {
            snprintf(buf, sizeof buf, "size classes: pid %d is not in this view", t->hist_pid);
            line(buf, width, eol);
        }
    }
}

static void print_json(struct top *t)
{
    build_order(t);
    json_t *procs = json_array();
    for (int k = 0; k < t->norder; k++)
        json_array_append_new(procs, top_proc_json(&t->s.v[t->order[k]]));
    json_t *root = json_pack("{sssIsosisi}", "dir", t->dir, "time_unix_ns", (json_int_t)unix_ns(),
                             "processes", procs, "stale", t->s.stale, "bad", t->s.bad);
    char *txt = root ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    if (txt) puts(txt);
    free(txt);
    json_decref(root);
}

static int parse_user(const char *v, uid_t *uid)
{
    uint64_t n;
    if (!parse_u64(v, 0, 0xfffffffe, &n)) {
        *uid = (uid_t)n;
        return 0;
    }
    struct passwd *pw = getpwnam(v);
    if (!pw) return -1;
    *uid = pw->pw_uid;
    return 0;
}

static int live_frame(void *arg, const char *eol)
{
    struct top *t = arg;
    if (!t->scanned) rescan(t, 1);
    t->scanned = 0;
    print_frame(t, eol);
    return 0;
}

/* keys: -1 quit, 1 redraw from the last scan, 0 nothing */
static int on_key1(struct top *t, int c);
static int on_key(void *arg, int c)
{
    struct top *t = arg;
    int r = on_key1(t, c);
    if (r > 0) t->scanned = 1;   /* the redraw reuses the last scan: keys answer at once */
    return r;
}

static int on_key1(struct top *t, int c)
{
    t->msg[0] = 0;
    if (t->prompt) {
        if (c == 27) t->prompt = 0;
        else if (c == '\n' || c == '\r') {
            if (t->prompt == '/') snprintf(t->filter, sizeof t->filter, "%s", t->pbuf);
            else if (!t->plen) t->user_set = 0;
            else if (parse_user(t->pbuf, &t->uid) == 0) t->user_set = 1;
            else snprintf(t->msg, sizeof t->msg, "unknown user '%.60s' (accepted: a user name or a numeric uid)", t->pbuf);
            t->prompt = 0;
        } else if ((c == 127 || c == 8) && t->plen) t->pbuf[--t->plen] = 0;
        else if (c >= 0x20 && c < 0x7f && t->plen + 1 < (int)sizeof t->pbuf) {
            t->pbuf[t->plen++] = (char)c;
            t->pbuf[t->plen] = 0;
        }
        return 1;
    }
    /* arrows: ESC [ A / ESC [ B */
    if (t->esc == 1) {
        t->esc = c == '[' ? 2 : 0;
        if (t->esc) return 0;
        t->filter[0] = 0;
        t->user_set = 0;
    } else if (t->esc == 2) {
        t->esc = 0;
        c = c == 'A' ? 'k' : c == 'B' ? 'j' : 0;
    }
    int sel = 0;
    for (int k = 0; k < t->norder; k++)
        if (t->s.v[t->order[k]].pid == t->sel_pid) sel = k;
    switch (c) {
    case 'q': case 'Q': return -1;
    /* a new order starts at its top: the selection goes to the first row */
    case 'l': t->sort = K_LIVE, t->sel_pid = -1; break;
    case 'p': t->sort = K_PEAK, t->sel_pid = -1; break;
    case 'g': t->sort = K_GROWTH, t->sel_pid = -1; break;
    case 'n': t->sort = K_NAME, t->sel_pid = -1; break;
    case 's': t->sort = K_PID, t->sel_pid = -1; break;
    case 'r': t->reverse = !t->reverse, t->sel_pid = -1; break;
    case 't': t->tree = !t->tree, t->sel_pid = -1; break;
    case 'c': t->full = !t->full; break;
    case 'h': case '\n': case '\r':
        t->hist_pid = t->hist_pid ? 0 : t->sel_pid;
        break;
    case 'j': if (sel + 1 < t->norder) t->sel_pid = t->s.v[t->order[sel + 1]].pid; break;
    case 'k': if (sel > 0) t->sel_pid = t->s.v[t->order[sel - 1]].pid; break;
    case '/': case 'u':
        t->prompt = c;
        t->plen = 0;
        t->pbuf[0] = 0;
        break;
    case 27: t->esc = 1; return 0;
    default: return 0;
    }
    return 1;
}

int cmd_top(int argc, char **argv)
{
    uint64_t interval = 1000, hist = 0;
    int once = 0, as_json = 0, id;
    const char *dir_opt = NULL, *v;
    struct top t;
    memset(&t, 0, sizeof t);
    enum { O_INTERVAL = 1, O_ONCE, O_JSON, O_DIR, O_SORT, O_FILTER, O_USER, O_TREE, O_FULL, O_HIST };
    static const struct opt opts[] = {
        { "--sort", NULL, "live|peak|growth|name|pid|rss", O_SORT, 0 },
        { "--filter", NULL, "TEXT", O_FILTER, 0 },
        { "--user", NULL, "USER", O_USER, OPT_NAME },
        { "--tree", NULL, NULL, O_TREE, 0 },
        { "--full", NULL, NULL, O_FULL, 0 },
        { "--hist", NULL, "PID", O_HIST, 0 },
        { "--interval", NULL, "MS", O_INTERVAL, 0 },
        { "--once", NULL, NULL, O_ONCE, 0 },
        { "--json", NULL, NULL, O_JSON, 0 },
        { "--dir", NULL, "DIR", O_DIR, OPT_NAME },
        { NULL, NULL, NULL, 0, 0 },
    };
    struct optstate st = { argc, argv, opts, 0, 0, 0 };
    char **ops = calloc((size_t)argc, sizeof *ops);
    int nops = 0;
    if (!ops) die_bad("out of memory");
    while ((id = opt_next(&st, &v)) != OPT_END) {
        switch (id) {
        case OPT_HELP: fputs(usage, stdout); free(ops); return 0;
        case OPT_OPERAND: ops[nops++] = (char *)v; break;
        case O_ONCE: once = 1; break;
        case O_JSON: as_json = once = 1; break;
        case O_DIR: dir_opt = v; break;
        case O_TREE: t.tree = 1; break;
        case O_FULL: t.full = 1; break;
        case O_INTERVAL:
            if (parse_u64(v, 50, 3600000, &interval))
                die_bad("--interval: bad number '%s' (accepted: milliseconds, 50..3600000)", v);
            break;
        case O_SORT: {
            int k;
            for (k = 0; k < K_N && strcmp(v, key_names[k]); k++) {}
            if (k == K_N) die_bad("--sort: unknown key '%s' (accepted: live, peak, growth, name, pid, rss)", v);
            t.sort = k;
            break;
        }
        case O_FILTER:
            if (strlen(v) >= sizeof t.filter)
                die_bad("--filter: text too long (%zu bytes; accepted: at most %zu)", strlen(v), sizeof t.filter - 1);
            snprintf(t.filter, sizeof t.filter, "%s", v);
            break;
        case O_USER:
            if (parse_user(v, &t.uid))
                die_bad("--user: unknown user '%s' (accepted: a user name or a numeric uid)", v);
            t.user_set = 1;
            break;
        case O_HIST:
            if (parse_u64(v, 1, 0x7fffffff, &hist))
                die_bad("--hist: bad pid '%s' (accepted: a process id, 1..2147483647)", v);
            t.hist_pid = (int)hist;
            break;
        }
    }
    int *pids;
    int npids = parse_pids(nops, ops, 0, &pids);
    free(ops);
    char dir[4096];
    live_dir(dir_opt, dir, sizeof dir);
    live_dir_check(dir, dir_opt != NULL, !once);
    t.dir = dir;
    t.explicit_dir = dir_opt != NULL;
    t.pids = pids;
    t.npids = npids;
    if (live_scan_opt(dir, dir_opt != NULL, pids, npids, 0, &t.s, 0) && npids) {
        scan_free(&t.s);
        free(pids);
        return HS_EXIT_BAD;
    }
    take_growth(&t);
    int rc = 0;
    if (once) {
        /* GROWTH needs a second reading: taken whenever the column is
         * shown (the width allows it) or sorted by */
        struct top_layout L;
        top_layout_for(top_term_size(NULL), t.full, &L);
        if (!as_json && (t.sort == K_GROWTH || L.on[TC_GROWTH])) {
            struct timespec ts = { (time_t)(interval / 1000), (long)(interval % 1000) * 1000000L };
            nanosleep(&ts, NULL);
            rescan(&t, 1);
        }
        if (t.hist_pid && view_of_pid(&t, t.hist_pid) < 0) {
            warnx_("--hist %d: no live file of a running process %d in %s", t.hist_pid, t.hist_pid, dir);
            rc = HS_EXIT_BAD;
        } else if (as_json) print_json(&t);
        else print_frame(&t, "\n");
    } else {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        t.interactive = isatty(0) && isatty(1);
        t.scanned = 1;
        top_live_loop_keys(live_frame, on_key, &t, interval, &stop);
    }
    scan_free(&t.s);
    free(t.prev), free(t.growth), free(t.has_growth), free(t.order), free(t.depth);
    free(pids);
    return rc;
}
