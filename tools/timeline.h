/*
 * tools/timeline.h - a timeline CSV in memory (shared by csv_timeline.c and
 * svgplot.c only).
 */
#ifndef HS_TOOLS_TIMELINE_H
#define HS_TOOLS_TIMELINE_H
#include <stddef.h>

enum { TL_TIME, TL_RAW, TL_MEM, TL_OBJ, TL_RSS, TL_NCOLS };
struct timeline {
    double *v;                /* n rows of TL_NCOLS */
    size_t n, cap;
    int have_rss;
};
#define TL(t, i, c) ((t)->v[(size_t)(i) * TL_NCOLS + (c)])
int timeline_load(const char *path, struct timeline *t, char *err, size_t cap);
#endif
