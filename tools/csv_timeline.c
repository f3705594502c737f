/*
 * tools/csv_timeline.c - read a `heapshim run --timeline` CSV.
 *
 * Room: parsing only (text -> arrays), for `heapshim plot`. Columns are
 * found by name in the header, so extra columns are tolerated and the
 * order does not matter; every bad cell is reported with its line.
 */
#include "cli.h"
#include "timeline.h"
#include <stdlib.h>
#include <string.h>

static const char *const want[TL_NCOLS] = { "time_s", "raw_bytes", "mem_bytes", "obj_bytes",
                                             "rss_bytes" };

static int split(char *line, char **f, int max)
{
    int n = 0;
    for (char *p = line;; p++) {
        if (n == max) return -1;
        f[n++] = p;
        p = strchr(p, ',');
        if (!p) break;
        *p = 0;
    }
    return n;
}

int timeline_load(const char *path, struct timeline *t, char *err, size_t cap)
{
    memset(t, 0, sizeof *t);
    char *buf;
    size_t len;
    if (read_file(path, 256u << 20, &buf, &len, err, cap)) return -1;
    if (memchr(buf, 0, len)) {
        snprintf(err, cap, "%s: binary data, not a CSV timeline", path);
        free(buf);
        return -1;
    }
    int col[TL_NCOLS];
    for (int c = 0; c < TL_NCOLS; c++) col[c] = -1;
    int lineno = 0, have_header = 0;
    char *next;
    for (char *line = buf; line && line < buf + len; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lineno++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[--l] = 0;
        if (!l || line[0] == '#') continue;
        char *f[64];
        int nf = split(line, f, 64);
        if (nf < 0) {
            snprintf(err, cap, "%s:%d: too many columns (at most 64)", path, lineno);
            goto fail;
        }
        if (!have_header) {
            for (int i = 0; i < nf; i++)
                for (int c = 0; c < TL_NCOLS; c++)
                    if (!strcmp(f[i], want[c])) col[c] = i;
            for (int c = 0; c < TL_NCOLS - 1; c++)   /* rss_bytes is optional */
                if (col[c] < 0) {
                    snprintf(err, cap, "%s:%d: not a heapshim timeline (no column '%s'; expected "
                             "time_s,raw_bytes,mem_bytes,obj_bytes[,rss_bytes...])", path, lineno, want[c]);
                    goto fail;
                }
            t->have_rss = col[TL_RSS] >= 0;
            have_header = 1;
            continue;
        }
        if (t->n == t->cap) {
            size_t nc = t->cap ? t->cap * 2 : 1024;
            double *np = realloc(t->v, nc * TL_NCOLS * sizeof(double));
            if (!np) {
                snprintf(err, cap, "%s: out of memory", path);
                goto fail;
            }
            t->v = np;
            t->cap = nc;
        }
        for (int c = 0; c < TL_NCOLS; c++) {
            double x = 0;
            if (col[c] < 0) continue;
            if (col[c] >= nf || parse_double(f[col[c]], 0, 1e300, &x)) {
                snprintf(err, cap, "%s:%d: bad value '%.40s' in column %s (accepted: a number >= 0)",
                         path, lineno, col[c] < nf ? f[col[c]] : "", want[c]);
                goto fail;
            }
            t->v[t->n * TL_NCOLS + (size_t)c] = x;
        }
        if (t->n && TL(t, t->n, TL_TIME) < TL(t, t->n - 1, TL_TIME)) {
            snprintf(err, cap, "%s:%d: time goes backwards", path, lineno);
            goto fail;
        }
        t->n++;
    }
    free(buf);
    if (!have_header) {
        snprintf(err, cap, "%s: empty (expected a header time_s,raw_bytes,mem_bytes,obj_bytes,...)", path);
        return -1;
    }
    if (t->n == 0) {
        snprintf(err, cap, "%s: no samples after the header", path);
        return -1;
    }
    return 0;
fail:
    free(buf);
    free(t->v);
    t->v = NULL;
    return -1;
}
