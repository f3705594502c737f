/*
 * interpose/strbuf.h - room: interpose/. Bounded string building for the
 * names the shim makes on every start (the live file's directory and name,
 * the profile file's name), without stdio.
 *
 * Why not snprintf: glibc's printf machinery lives in 64 KiB windows of
 * libc's text that a program which never prints does not touch, and the
 * kernel maps a file's pages around a fault by such windows. A single
 * snprintf (or dlerror(), which formats with asprintf) at start-up made
 * those windows resident in every shimmed process. Error paths (a warning,
 * once) may still use stdio.
 *
 * Use: char buf[N]; struct hs_sb b = HS_SB(buf, sizeof buf);
 * hs_sb_str(&b, "x-"); hs_sb_u64(&b, 42); if (!hs_sb_ok(&b)) ... too long.
 * The buffer is always NUL-terminated (cap >= 1); an overflow truncates and
 * is remembered.
 */
#ifndef HS_INTERPOSE_STRBUF_H
#define HS_INTERPOSE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hs_sb { char *p; size_t cap, len; bool over; };
#define HS_SB(buf, cap) ((struct hs_sb){ (buf), (cap), 0, false })

static inline void hs_sb_chr(struct hs_sb *b, char c)
{
    if (b->len + 1 < b->cap) b->p[b->len++] = c;
    else b->over = true;
    if (b->cap) b->p[b->len] = 0;
}

static inline void hs_sb_str(struct hs_sb *b, const char *s)
{
    while (*s) hs_sb_chr(b, *s++);
    if (b->cap) b->p[b->len] = 0;
}

static inline void hs_sb_u64(struct hs_sb *b, uint64_t v)
{
    char d[20];
    int n = 0;
    do d[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
    while (n) hs_sb_chr(b, d[--n]);
}

/* true when everything fit */
static inline bool hs_sb_ok(const struct hs_sb *b) { return !b->over && b->cap != 0; }

#endif
