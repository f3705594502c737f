/*
 * interpose/report_path.h - the HEAPSHIM_REPORT path template ('%p' the
 * pid, '%%' a percent sign), in one place for its two users: the shim
 * (interpose/report.c, its own pid) and `heapshim run` (tools/cmd_run.c,
 * which hands an inner run's reports to the outer run's template).
 *
 * Room: a pure function over strings; no allocation, no stdio, no globals
 * (the shim calls it at exit, with the heap in any state).
 */
#ifndef HS_INTERPOSE_REPORT_PATH_H
#define HS_INTERPOSE_REPORT_PATH_H
#include <stddef.h>
#include <string.h>

/* Expand tmpl for pid into out (cap bytes). Returns 1 when the template
 * has a %p, 0 when it has none (one path for every process), or -1 for any
 * other %-sequence (or a lone % at the end), an empty template, or a
 * result that does not fit. */
static inline int hs_report_path(const char *tmpl, int pid, char *out, size_t cap)
{
    if (!tmpl || !*tmpl || !out || !cap) return -1;
    char ps[16];
    size_t pl = 0;
    /* the pid in decimal, without stdio */
    unsigned u = pid < 0 ? 0u : (unsigned)pid;
    do {
        ps[pl++] = (char)('0' + u % 10);
        u /= 10;
    } while (u && pl < sizeof ps);
    for (size_t i = 0; i < pl / 2; i++) {
        char t = ps[i];
        ps[i] = ps[pl - 1 - i];
        ps[pl - 1 - i] = t;
    }
    size_t n = 0;
    int has_p = 0;
    for (const char *s = tmpl; *s; s++) {
        const char *add = s;
        size_t len = 1;
        if (*s == '%') {
            s++;
            if (*s == 'p') {
                add = ps;
                len = pl;
                has_p = 1;
            } else if (*s != '%') {
                return -1;     /* %x, or a lone % at the end */
            }
        }
        if (n + len >= cap) return -1;
        memcpy(out + n, add, len);
        n += len;
    }
    out[n] = 0;
    return has_p;
}
#endif /* HS_INTERPOSE_REPORT_PATH_H */
