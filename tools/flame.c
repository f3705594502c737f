/*
 * tools/flame.c - an SVG flame graph of symbolised stacks.
 *
 * Room: drawing only. Stacks (root first) are merged into a tree; each node
 * is a box as wide as its share of the total, children above their parent,
 * siblings in name order (as flame graphs do: the x axis is not time). Each
 * box has a <title> with the full name and value for hover; names that do
 * not fit are cut. Self-contained SVG: no script, no external font.
 */
#include "profile.h"
#include <stdlib.h>
#include <string.h>

#define W 1200.0
#define ROW 17.0
#define TOP 40.0

struct node {
    const char *name;
    double value;
    struct node **kids;
    unsigned nkids, capkids;
};

static struct node *child(struct node *n, const char *name)
{
    for (unsigned i = 0; i < n->nkids; i++)
        if (!strcmp(n->kids[i]->name, name)) return n->kids[i];
    if (n->nkids == n->capkids) {
        unsigned c = n->capkids ? n->capkids * 2 : 4;
        struct node **k = realloc(n->kids, c * sizeof *k);
        if (!k) return NULL;
        n->kids = k;
        n->capkids = c;
    }
    struct node *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->name = name;
    n->kids[n->nkids++] = k;
    return k;
}

static void free_tree(struct node *n)
{
    for (unsigned i = 0; i < n->nkids; i++) free_tree(n->kids[i]);
    free(n->kids);
    free(n);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(struct node *const *)a)->name, (*(struct node *const *)b)->name);
}

static void xml(FILE *f, const char *s, size_t max)
{
    size_t n = 0;
    for (; *s && n < max; s++, n++) {
        unsigned char c = (unsigned char)*s;
        if (c == '<') fputs("&lt;", f);
        else if (c == '>') fputs("&gt;", f);
        else if (c == '&') fputs("&amp;", f);
        else if (c == '"') fputs("&quot;", f);
        else if (c < 0x20 || c >= 0x7f) fputc('?', f);
        else fputc(c, f);
    }
    if (*s && max > 2) fputs("..", f);
}

static unsigned depth_of(const struct node *n)
{
    unsigned d = 0;
    for (unsigned i = 0; i < n->nkids; i++) {
        unsigned k = depth_of(n->kids[i]);
        if (k > d) d = k;
    }
    return d + 1;
}

static const char *human(double v, const char *unit, char *buf, size_t cap)
{
    if (!strcmp(unit, "bytes")) {
        const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        int i = 0;
        while (i < 4 && v >= 1024) v /= 1024, i++;
        snprintf(buf, cap, "%.1f %s", v, u[i]);
    } else {
        snprintf(buf, cap, "%.0f %s", v, unit);
    }
    return buf;
}

static void draw(FILE *f, struct node *n, double x, unsigned level, double scale, double total,
                 double height, const char *unit)
{
    if (n->nkids > 1) qsort(n->kids, n->nkids, sizeof *n->kids, by_name);
    double w = n->value * scale;
    if (w < 0.3) return;
    double y = height - (level + 1) * ROW;
    unsigned h = 0;
    for (const char *s = n->name; *s; s++) h = h * 31 + (unsigned char)*s;
    int r = 200 + (int)(h % 55), g = 80 + (int)((h >> 8) % 120), b = 40 + (int)((h >> 16) % 50);
    char vb[32];
    fprintf(f, "<g><title>");
    xml(f, n->name, 4096);
    fprintf(f, " (%s, %.1f%%)</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" "
               "fill=\"rgb(%d,%d,%d)\" rx=\"2\"/>",
            human(n->value, unit, vb, sizeof vb), total > 0 ? 100.0 * n->value / total : 0.0, x, y, w,
            ROW - 1, r, g, b);
    size_t fit = (size_t)(w / 7.0);
    if (fit >= 5) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x + 3, y + ROW - 5);
        xml(f, n->name, fit - 2);
        fputs("</text>", f);
    }
    fputs("</g>\n", f);
    double cx = x;
    for (unsigned i = 0; i < n->nkids; i++) {
        draw(f, n->kids[i], cx, level + 1, scale, total, height, unit);
        cx += n->kids[i]->value * scale;
    }
}

int flame_svg(FILE *f, const struct fstack *s, size_t n, const char *title, const char *unit)
{
    struct node *root = calloc(1, sizeof *root);
    if (!root) return -1;
    root->name = "all";
    for (size_t i = 0; i < n; i++) {
        if (!(s[i].value > 0)) continue;
        struct node *c = root;
        root->value += s[i].value;
        for (unsigned k = 0; k < s[i].n && c; k++) {
            c = child(c, s[i].names[k]);
            if (c) c->value += s[i].value;
        }
    }
    unsigned depth = depth_of(root);
    double height = TOP + depth * ROW + 10;
    char vb[32];
    fprintf(f, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"Verdana, sans-serif\" font-size=\"11\">\n"
               "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#fdfcf5\"/>\n"
               "<text x=\"%.0f\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">",
            W + 20, height, W + 20, height, (W + 20) / 2);
    xml(f, title, 200);
    fprintf(f, " &#8212; %s</text>\n", human(root->value, unit, vb, sizeof vb));
    if (root->value > 0) draw(f, root, 10, 0, W / root->value, root->value, height - 10, unit);
    fputs("</svg>\n", f);
    free_tree(root);
    return ferror(f) ? -1 : 0;
}
