/*
 * tools/svgplot.c - `heapshim plot FILE.csv -o OUT.svg`: footprint chart.
 *
 * Room: drawing a timeline (tools/csv_timeline.c) as a self-contained SVG:
 * per-domain live bytes as stacked areas (raw at the bottom, then mem, then
 * obj, so the top edge is the total), RSS as a dashed line for scale, axes
 * with "nice" ticks in seconds and B/KiB/MiB/GiB, a legend and a title with
 * the peak. No external fonts or scripts: it must render the same in a
 * browser, in rsvg-convert and in a README.
 */
#include "cli.h"
#include "timeline.h"
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage[] =
    "usage: heapshim plot FILE.csv -o OUT.svg|OUT.png|- [--title TEXT] [--no-rss]\n"
    "  Draw a `heapshim run --timeline` CSV as an SVG chart: live bytes per\n"
    "  domain as stacked areas over time, RSS as a dashed line (--no-rss hides it).\n"
    "  -o - writes the SVG on stdout; OUT.png is rendered by rsvg-convert\n"
    "  (librsvg2-bin, when it was found at build time). FILE.csv - is stdin.\n";

#define W 960
#define H 540
#define ML 84     /* margins: room for the y labels, the legend, the title */
#define MR 190
#define MT 70
#define MB 58

static const char *const colour[3] = { "#8e6cc9", "#2a9d8f", "#f4a259" };
static const char *const label[3] = { "raw", "mem", "obj" };

/* 1, 2, 2.5 or 5 times a power of ten, at least raw */
static double nice_step(double raw)
{
    if (raw <= 0) return 1;
    double p = pow(10, floor(log10(raw)));
    double m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '<') fputs("&lt;", f);
        else if (c == '>') fputs("&gt;", f);
        else if (c == '&') fputs("&amp;", f);
        else if (c == '"') fputs("&quot;", f);
        else if (c < 0x20) fputc(' ', f);
        else fputc(c, f);
    }
}

static void fmt_num(char *buf, size_t cap, double v)
{
    if (fabs(v - round(v)) < 1e-9) snprintf(buf, cap, "%.0f", v);
    else snprintf(buf, cap, "%g", v);
}

static int render(FILE *f, const struct timeline *t, const char *title, int rss)
{
    double tmax = TL(t, t->n - 1, TL_TIME), tmin = TL(t, 0, TL_TIME);
    double ymax = 0, peak = 0, peak_t = 0;
    for (size_t i = 0; i < t->n; i++) {
        double tot = TL(t, i, TL_RAW) + TL(t, i, TL_MEM) + TL(t, i, TL_OBJ);
        if (tot > peak) { peak = tot; peak_t = TL(t, i, TL_TIME); }
        if (tot > ymax) ymax = tot;
        if (rss && TL(t, i, TL_RSS) > ymax) ymax = TL(t, i, TL_RSS);
    }
    double dur = tmax - tmin;            /* the subtitle's: before the axis is widened */
    if (tmax <= tmin) tmax = tmin + 1;   /* one sample: still a chart */
    /* y unit: the largest binary unit under ymax */
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    double div = 1;
    while (u < 4 && ymax / div >= 1024) { div *= 1024; u++; }
    double ystep = nice_step(ymax / div / 5);
    double ytop = ystep * ceil(ymax / div / ystep);
    if (ytop <= 0) ytop = ystep;
    double xstep = nice_step((tmax - tmin) / 8);
    double x0 = floor(tmin / xstep) * xstep, x1 = ceil(tmax / xstep) * xstep;
    const double pw = W - ML - MR, ph = H - MT - MB;
#define PX(tv) (ML + ((tv) - x0) / (x1 - x0) * pw)
#define PY(bv) (MT + ph - (bv) / div / ytop * ph)

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
    fputs("<text x=\"84\" y=\"32\" font-size=\"20\" font-weight=\"bold\" fill=\"#222\">", f);
    xml_text(f, title);
    fputs("</text>\n", f);
    /* cells go up to 1e300: a peak past 2^64 bytes is printed in EiB, not
     * converted (the conversion is undefined there and gave "0 B") */
    char pk[40];
    if (peak < 18446744073709551615.0) human_bytes((uint64_t)peak, pk);
    else {
        double e = peak / 1152921504606846976.0;   /* three significant digits, as human_bytes */
        snprintf(pk, sizeof pk, e < 99.95 ? "%.1f EiB" : e < 1e6 ? "%.0f EiB" : "%.3g EiB", e);
    }
    fprintf(f, "<text x=\"84\" y=\"54\" font-size=\"13\" fill=\"#555\">peak heap %s at %.2f s, "
               "%zu sample%s over %.2f s</text>\n", pk, peak_t, t->n, t->n == 1 ? "" : "s", dur);

    /* grid and y labels */
    for (double y = 0; y <= ytop + ystep / 2; y += ystep) {
        double py = MT + ph - y / ytop * ph;
        char n[32];
        fmt_num(n, sizeof n, y);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n", ML, py,
                ML + pw, py);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" fill=\"#444\" text-anchor=\"end\">%s %s</text>\n",
                ML - 8, py + 4, n, unit[u]);
    }
    for (double x = x0; x <= x1 + xstep / 2; x += xstep) {
        double px = ML + (x - x0) / (x1 - x0) * pw;
        char n[32];
        fmt_num(n, sizeof n, fabs(x) < xstep / 1e6 ? 0 : x);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eeeeee\"/>\n", px, MT,
                px, MT + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#444\" text-anchor=\"middle\">%s s</text>\n",
                px, MT + ph + 18, n);
    }
    /* stacked areas: the top edge of a layer, then back along the one below */
    for (int d = 0; d < 3; d++) {
        fprintf(f, "<path fill=\"%s\" fill-opacity=\"0.85\" stroke=\"%s\" stroke-width=\"1\" d=\"", colour[d],
                colour[d]);
        for (size_t i = 0; i < t->n; i++) {
            double top = 0;
            for (int k = 0; k <= d; k++) top += TL(t, i, TL_RAW + k);
            fprintf(f, "%c%.1f,%.1f", i ? 'L' : 'M', PX(TL(t, i, TL_TIME)), PY(top));
        }
        for (size_t i = t->n; i-- > 0;) {
            double bot = 0;
            for (int k = 0; k < d; k++) bot += TL(t, i, TL_RAW + k);
            fprintf(f, "L%.1f,%.1f", PX(TL(t, i, TL_TIME)), PY(bot));
        }
        fputs("Z\"/>\n", f);
    }
    if (rss) {
        fputs("<path fill=\"none\" stroke=\"#333333\" stroke-width=\"1.6\" stroke-dasharray=\"6,4\" d=\"", f);
        for (size_t i = 0; i < t->n; i++)
            fprintf(f, "%c%.1f,%.1f", i ? 'L' : 'M', PX(TL(t, i, TL_TIME)), PY(TL(t, i, TL_RSS)));
        fputs("\"/>\n", f);
    }
    /* axes and their titles */
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", ML, MT + ph, ML + pw,
            MT + ph);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>\n", ML, MT, ML, MT + ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"13\" fill=\"#333\" text-anchor=\"middle\">time (s)</text>\n",
            ML + pw / 2, H - 14);
    fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" font-size=\"13\" fill=\"#333\" "
               "text-anchor=\"middle\">bytes (%s)</text>\n", MT + ph / 2, unit[u]);
    /* legend, top layer first, as the areas are stacked */
    double lx = ML + pw + 24, ly = MT + 10;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" font-weight=\"bold\" fill=\"#333\">domain</text>\n", lx, ly);
    for (int d = 2, row = 1; d >= 0; d--, row++) {
        double y = ly + 24.0 * row;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"12\" fill=\"%s\"/>\n", lx, y - 10, colour[d]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" fill=\"#333\">%s</text>\n", lx + 24, y, label[d]);
    }
    if (rss) {
        double y = ly + 24.0 * 4;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" stroke-width=\"1.6\" "
                   "stroke-dasharray=\"6,4\"/>\n", lx, y - 4, lx + 16, y - 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" fill=\"#333\">RSS</text>\n", lx + 24, y);
    }
    fputs("</svg>\n", f);
    return ferror(f) ? -1 : 0;
#undef PX
#undef PY
}

/* What -o names: 0 SVG on stdout, 1 an SVG file, 2 a PNG file (rsvg-convert). */
static int out_kind(const char *out)
{
    if (!strcmp(out, "-")) return 0;
    const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (dot && (!slash || dot > slash) && !strcasecmp(dot, ".svg")) return 1;
    if (dot && (!slash || dot > slash) && !strcasecmp(dot, ".png")) {
        if (!HS_HAVE_RSVG)
            die_bad("-o %s: PNG output needs rsvg-convert (librsvg2-bin), which was not found when "
                    "heapshim was built (accepted: FILE.svg, or - for SVG on stdout)", out);
        if (access(HS_RSVG_CONVERT, X_OK) != 0)
            die_bad("-o %s: PNG output needs %s, which is gone: %s (accepted: FILE.svg, FILE.png "
                    "with librsvg2-bin installed, or - for SVG on stdout)", out, HS_RSVG_CONVERT,
                    strerror(errno));
        return 2;
    }
    die_bad("-o %s: unknown output format (accepted: FILE.svg, FILE.png%s, or - for SVG on stdout)",
            out, HS_HAVE_RSVG ? "" : " (needs librsvg2-bin at build time)");
}

/* SVG text in svg[0..len) into a PNG on fd, through rsvg-convert. 0 or -1. */
static int svg_to_png(const char *svg, size_t len, int fd, char *err, size_t cap)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(err, cap, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, cap, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        if (dup2(p[0], 0) < 0 || dup2(fd, 1) < 0) _exit(127);
        execl(HS_RSVG_CONVERT, "rsvg-convert", "-f", "png", (char *)NULL);
        _exit(127);
    }
    close(p[0]);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(p[1], svg + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(p[1]);
    signal(SIGPIPE, old);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (off < len || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(err, cap, "%s failed (%s %d)", HS_RSVG_CONVERT,
                 WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        return -1;
    }
    return 0;
}

int cmd_plot(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *title = NULL, *v;
    int rss = 1, id;
    static const struct opt opts[] = {
        { "-o", "--output", "OUT.svg|OUT.png|-", 1, OPT_NAME | OPT_STDIO },
        { "--title", NULL, "TEXT", 2, 0 },
        { "--no-rss", NULL, NULL, 3, 0 },
        { NULL, NULL, NULL, 0, 0 },
    };
    struct optstate st = { argc, argv, opts, 0, 0, 0 };
    while ((id = opt_next(&st, &v)) != OPT_END) {
        if (id == OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        } else if (id == 1) out = v;
        else if (id == 2) title = v;
        else if (id == 3) rss = 0;
        else if (!in) in = v;
        else die_bad("more than one input ('%s'); accepted: one FILE.csv (- for stdin)", v);
    }
    if (!in) die_bad("no timeline given (usage: heapshim plot FILE.csv -o OUT.svg)");
    if (!out) die_bad("no output given (usage: heapshim plot FILE.csv -o OUT.svg|OUT.png|-)");
    int kind = out_kind(out);
    if (same_file(out, in))   /* the rename would replace the timeline it was drawn from */
        die_bad("-o %s: the same file as the input %s (accepted: another file, or - for stdout)", out, in);
    /* the output is created (out_create) before the input is read */
    struct outfile o;
    char err[1024];
    int fd = 1;
    if (kind) {
        if (out_create(&o, out, err, sizeof err)) die_bad("-o %s: %s", out, err);
        fd = o.fd;
    }
    struct timeline t;
    if (timeline_load(in, &t, err, sizeof err)) {
        if (kind) out_abort(&o);
        die_bad("%s", err);
    }
    char deftitle[512];
    if (!title) {
        const char *base = strrchr(in, '/');
        snprintf(deftitle, sizeof deftitle, "Heap footprint by domain: %s", base ? base + 1 : in);
        title = deftitle;
    }
    char *svg = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&svg, &len);
    int rc = f ? render(f, &t, title, rss && t.have_rss) : -1;
    if (f) rc |= fclose(f);
    free(t.v);
    err[0] = 0;
    if (!rc && kind == 2) rc = svg_to_png(svg, len, fd, err, sizeof err);
    else if (!rc) {
        fflush(stdout);
        for (size_t off = 0; !rc && off < len;) {
            ssize_t w = write(fd, svg + off, len - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) rc = -1;
            else off += (size_t)w;
        }
    }
    free(svg);
    if (kind && rc) out_abort(&o);
    else if (kind) rc = out_commit(&o, err, sizeof err);
    if (rc) die_bad("-o %s: write error%s%s", out, err[0] ? ": " : "", err);
    return 0;
}
