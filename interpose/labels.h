/*
 * interpose/labels.h - the rules of HEAPSHIM_LABELS ('name=value,...'), in
 * one place for its two readers: the shim (interpose/env.c), which warns at
 * start-up about a value the exporters would refuse, and the exporters
 * (tools/exporter.c, exp_parse_labels), which read it from the live file
 * (the shim records it there, live.h labels_offset; /proc/PID/environ for
 * files of older shims) and turn it into Prometheus labels.
 *
 * Room: pure functions over a string; no allocation, no stdio, no globals
 * (the shim calls this inside the process's first malloc).
 */
#ifndef HS_INTERPOSE_LABELS_H
#define HS_INTERPOSE_LABELS_H
#include <stddef.h>
#include <string.h>

#define HS_LABELS_MAX       8       /* pairs */
#define HS_LABEL_KEY_MAX    32      /* bytes of a name */
#define HS_LABEL_VALUE_MAX  64      /* bytes of a value */
#define HS_LABELS_TEXT_MAX  640     /* bytes of ',k="v"...' with its NUL (proc_view.labels) */

static inline int hs_label_key_ok(const char *k, size_t n)
{
    static const char *const reserved[] = { "pid", "comm", "domain", "unit", "container_id",
                                            "cmdline", "uid", "job", "instance", "le", "quantile" };
    if (!n || n > HS_LABEL_KEY_MAX) return 0;
    if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z') || k[0] == '_')) return 0;
    if (n >= 2 && k[0] == '_' && k[1] == '_') return 0;
    for (size_t i = 1; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
              (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
            return 0;
    for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
        if (strlen(reserved[r]) == n && !memcmp(reserved[r], k, n)) return 0;
    return 1;
}

static inline int hs_label_value_ok(const char *v, size_t n)
{
    if (!n || n > HS_LABEL_VALUE_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\' || c == ',' || c == '=') return 0;
    }
    return 1;
}

/* One pair of val at p: its name [p, p+*kl) and value [*v, *v+*vl); the
 * next pair's start in *next (NULL after the last). */
static inline void hs_labels_pair(const char *p, size_t *kl, const char **v, size_t *vl,
                                  const char **next)
{
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    *kl = eq ? (size_t)(eq - p) : len;
    *v = eq ? eq + 1 : NULL;
    *vl = eq ? len - *kl - 1 : 0;
    *next = comma ? comma + 1 : NULL;
}

/* Is val a HEAPSHIM_LABELS the exporters accept ("" is: no labels)? 0, or
 * -1 with *why set to a static one-line reason that says what is accepted. */
static inline int hs_labels_check(const char *val, const char **why)
{
    const char *keys[HS_LABELS_MAX];
    size_t klen[HS_LABELS_MAX];
    size_t text = 0;
    int n = 0;
    if (!*val) return 0;
    for (const char *p = val; p;) {
        size_t kl, vl;
        const char *v, *next;
        hs_labels_pair(p, &kl, &v, &vl, &next);
        if (!v) {
            *why = "a pair without '=' (accepted: name=value,name=value)";
            return -1;
        }
        if (!hs_label_key_ok(p, kl)) {
            *why = "bad label name (accepted: [A-Za-z_][A-Za-z0-9_]*, at most 32, not __*, pid, comm, "
                   "domain, unit, container_id, cmdline, uid, job, instance, le, quantile)";
            return -1;
        }
        if (!hs_label_value_ok(v, vl)) {
            *why = "bad label value (accepted: 1..64 printable ASCII bytes without space, quote, "
                   "backslash, comma or '=')";
            return -1;
        }
        if (n == HS_LABELS_MAX) {
            *why = "more than 8 labels";
            return -1;
        }
        for (int k = 0; k < n; k++)
            if (klen[k] == kl && !memcmp(keys[k], p, kl)) {
                *why = "a label name given twice";
                return -1;
            }
        keys[n] = p;
        klen[n++] = kl;
        text += kl + vl + 4;            /* ,k="v" */
        if (text >= HS_LABELS_TEXT_MAX) {
            *why = "labels too long (accepted: at most 639 bytes as ,name=\"value\" pairs)";
            return -1;
        }
        p = next;
    }
    return 0;
}

#endif
