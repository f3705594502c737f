/*
 * tools/exporter.c - the state of a long-running exporter (`heapshim
 * serve`, `heapshim-probe --serve`) between scrapes: labels and identity
 * per process, window peaks kept in steps, processes that exited folded
 * into their service, and the per-service families.
 *
 * Room: memory and /proc only (environ, cgroup); the live files are read by
 * the callers through tools/live.c (or the probe's BPF reading), the text
 * format is tools/prom.c's. Semantics in docs/exporter.md:
 *
 *   window peaks   the exporter, not the scraper, closes a step every
 *                  step_s seconds; a process's mark for it comes from the
 *                  window steps the process keeps in its live file (live.h
 *                  "Window steps", mark_of): nobody resets anything.
 *                  heapshim_window_peak_bytes is the highest mark of the
 *                  steps of the last window_s seconds and of the open step:
 *                  any number of scrapers read the same value, and a spike
 *                  is served for window_s (plus up to one 1.07 s step).
 *   services       a process's service is HEAPSHIM_LABELS' service=, else its
 *                  systemd unit (without .service), else its comm. A service
 *                  series is the sum over its processes running now plus, for
 *                  counters, the final figures of those that exited; its
 *                  window peak is the highest per-step sum of its processes'
 *                  step marks (exited ones included while in the window).
 *
 * Bounded: at most HS_LABELS_MAX labels of bounded size per process, the
 * environ read is capped, services are capped at EXP_MAX_SERVICES (the rest
 * counted in "other").
 */
#include "exporter.h"
#include "../interpose/labels.h"
#include "live.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXP_MAX_SERVICES 1024


struct exp_proc {
    int pid, used;
    uint64_t start_time, exe_dev, exe_ino;
    char service[EXP_NAME_MAX];
    char unit[EXP_NAME_MAX], cid[72];
    uint64_t limit;                 /* cgroup v2 memory.max; 0 = none */
    char labels[sizeof(((struct proc_view *)0)->labels)];
    int have_identity;
    uint64_t *ring;                 /* [nb][4] step marks */
    uint64_t last_peak[4];          /* all-time peaks at the last step */
    uint64_t wprev_ns;              /* its reading the last step closed with (0: none yet) */
    int64_t carry[4];               /* claimed[] in that reading */
    unsigned missed;                /* steps in a row it was not among the views */
};

struct exp_service {
    char name[EXP_NAME_MAX];
    char labels[sizeof(((struct proc_view *)0)->labels)];
    uint64_t exited;                /* processes folded */
    struct hs_live_domain done[4];  /* final counters of exited processes */
    uint64_t *ring;                 /* [nb][4]: exited processes' step marks */
    /* filled at render */
    struct hs_live_domain now[4];
    uint64_t rss, procs, win[4];
};

#define EXP_IDENT_CACHE 256

struct exporter {
    struct exp_ident ident[EXP_IDENT_CACHE];
    unsigned nident;
    struct exp_opts o;
    unsigned nb, cur;               /* steps kept, the open one */
    struct exp_proc *p;
    int np, pcap;
    struct exp_service *s;
    int ns;
    uint64_t label_errors;
};

/* ---- options --------------------------------------------------------------- */

int exp_set_opt(struct exp_opts *o, const char *a, const char *v)
{
    uint64_t n;
    if (!strcmp(a, "--by")) {
        if (!strcmp(v, "process")) o->by_process = 1, o->by_service = 0;
        else if (!strcmp(v, "service")) o->by_process = 0, o->by_service = 1;
        else if (!strcmp(v, "both")) o->by_process = o->by_service = 1;
        else die_bad("--by: unknown value '%s' (accepted: process, service, both)", v);
        return 1;
    }
    if (strcmp(a, "--window") && strcmp(a, "--window-step")) return 0;
    if (parse_u64(v, 1, 3600, &n))
        die_bad("%s: bad number '%s' (accepted: seconds, 1..3600)", a, v);
    if (!strcmp(a, "--window")) o->window_s = (unsigned)n;
    else o->step_s = (unsigned)n;
    return 1;
}

int exp_parse_opt(struct exp_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strcmp(a, "--by") && strcmp(a, "--window") && strcmp(a, "--window-step")) return 0;
    if (*i + 1 >= argc) die_bad("%s needs a value", a);
    return exp_set_opt(o, a, argv[++*i]);
}

void exp_opts_check(struct exp_opts *o)
{
    if (!o->by_process && !o->by_service) o->by_process = o->by_service = 1;
    if (!o->window_s) o->window_s = 60;
    if (!o->step_s) o->step_s = o->window_s < 5 ? o->window_s : 5;
    if (o->step_s > o->window_s)
        die_bad("--window-step %u is longer than --window %u (accepted: a step <= the window)",
                o->step_s, o->window_s);
}

struct exporter *exp_new(const struct exp_opts *o)
{
    struct exporter *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->o = *o;
    /* steps that cover the window, plus the open one */
    e->nb = (o->window_s + o->step_s - 1) / o->step_s + 1;
    return e;
}

void exp_free(struct exporter *e)
{
    if (!e) return;
    for (int i = 0; i < e->np; i++) free(e->p[i].ring);
    for (int i = 0; i < e->ns; i++) free(e->s[i].ring);
    free(e->p);
    free(e->s);
    free(e);
}

/* ---- parsers ---------------------------------------------------------------- */

/* HEAPSHIM_LABELS: the rules are interpose/labels.h's (the shim warns by
 * them at start-up); here only the rendering */
_Static_assert(sizeof(((struct proc_view *)0)->labels) == HS_LABELS_TEXT_MAX, "labels text size");
int exp_parse_labels(const char *val, char *out, size_t cap, char *service, size_t scap,
                     const char **why)
{
    if (scap) service[0] = 0;
    if (hs_labels_check(val, why) != 0) return -1;
    char buf[HS_LABELS_TEXT_MAX];
    size_t o = 0;
    buf[0] = 0;
    for (const char *p = *val ? val : NULL; p;) {
        size_t kl, vl;
        const char *v, *next;
        hs_labels_pair(p, &kl, &v, &vl, &next);
        int w = snprintf(buf + o, sizeof buf - o, ",%.*s=\"%.*s\"", (int)kl, p, (int)vl, v);
        if (w < 0 || (size_t)w >= sizeof buf - o) {
            *why = "labels too long";
            return -1;
        }
        o += (size_t)w;
        if (kl == 7 && !memcmp(p, "service", 7) && scap) snprintf(service, scap, "%.*s", (int)vl, v);
        p = next;
    }
    if (o >= cap) {
        *why = "labels too long";
        return -1;
    }
    memcpy(out, buf, o + 1);
    return 0;
}

void exp_parse_cgroup(const char *text, char *unit, size_t ucap, char *cid, size_t ccap)
{
    if (ucap) unit[0] = 0;
    if (ccap) cid[0] = 0;
    /* cgroup v2: "0::/path"; v1 (and hybrid) lines "N:ctrl:/path". The unit
     * is where systemd put the process: the v2 path unless it is "/" (a
     * hybrid host, where systemd's tree is name=systemd), else the
     * name=systemd one, else the first line's */
    const char *line = text, *path = NULL, *v2 = NULL, *sd = NULL;
    size_t plen = 0, v2len = 0, sdlen = 0;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        const char *c1 = memchr(line, ':', ll);
        const char *c2 = c1 ? memchr(c1 + 1, ':', ll - (size_t)(c1 + 1 - line)) : NULL;
        if (c2) {
            const char *pp = c2 + 1;
            size_t pl = ll - (size_t)(pp - line);
            if (c2 == c1 + 1 && c1 - line == 1 && line[0] == '0') {
                v2 = pp;
                v2len = pl;
            } else if ((size_t)(c2 - c1 - 1) == 12 && !memcmp(c1 + 1, "name=systemd", 12)) {
                sd = pp;
                sdlen = pl;
            } else if (!path) {
                path = pp;
                plen = pl;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (v2 && !(v2len == 1 && v2[0] == '/')) {
        path = v2;
        plen = v2len;
    } else if (sd) {
        path = sd;
        plen = sdlen;
    }
    if (!path) return;
    /* walk the components: the last *.service / *.scope is the unit, a run
     * of 64 hex digits is a container id */
    size_t i = 0;
    while (i < plen) {
        while (i < plen && path[i] == '/') i++;
        size_t s = i;
        while (i < plen && path[i] != '/') i++;
        size_t n = i - s;
        const char *c = path + s;
        if (!n) continue;
        for (size_t k = 0; k + 64 <= n; k++) {
            size_t h = 0;
            while (h < 64 && ((c[k + h] >= '0' && c[k + h] <= '9') || (c[k + h] >= 'a' && c[k + h] <= 'f'))) h++;
            if (h == 64 && (k + 64 == n || c[k + 64] == '.' ) && (k == 0 || c[k - 1] == '-' || c[k - 1] == '/')) {
                if (ccap > 64) {
                    memcpy(cid, c + k, 64);
                    cid[64] = 0;
                }
                break;
            }
        }
        if ((n > 8 && !memcmp(c + n - 8, ".service", 8)) || (n > 6 && !memcmp(c + n - 6, ".scope", 6))) {
            int ok = 1;
            for (size_t k = 0; k < n; k++)
                if ((unsigned char)c[k] < 0x21 || (unsigned char)c[k] > 0x7e || c[k] == '"' || c[k] == '\\') ok = 0;
            if (ok && n < ucap) {
                memcpy(unit, c, n);
                unit[n] = 0;
            }
        }
    }
}

/* ---- /proc ------------------------------------------------------------------ */


/* the memory limit of the process's cgroup, 0 if none; the path is
 * checked for ".." and the file read without following a link */
static uint64_t cgroup_limit_at(const char *cg, const char *line_start, const char *fmt)
{
    const char *l = strstr(cg, line_start), *b = l;
    while (b && b > cg && b[-1] >= '0' && b[-1] <= '9') b--;     /* "4:memory:/..." */
    if (!l || (b != cg && b[-1] != '\n')) return 0;
    l += strlen(line_start) - 1;
    size_t n = strcspn(l, "\n");
    if (n >= 3000 || memmem(l, n, "..", 2)) return 0;
    char path[3200], buf[64];
    snprintf(path, sizeof path, fmt, (int)n, l);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return 0;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0) return 0;
    buf[r] = 0;
    buf[strcspn(buf, "\n")] = 0;
    uint64_t v;
    /* v1 says "no limit" with a huge number (LONG_MAX rounded to pages) */
    return parse_u64(buf, 1, UINT64_MAX, &v) == 0 && v < (1ull << 62) ? v : 0;
}

/* cgroup v2 memory.max, else v1 memory.limit_in_bytes */
static uint64_t cgroup_limit(const char *cg)
{
    uint64_t v = cgroup_limit_at(cg, "0::/", "/sys/fs/cgroup%.*s/memory.max");
    return v ? v : cgroup_limit_at(cg, ":memory:/", "/sys/fs/cgroup/memory%.*s/memory.limit_in_bytes");
}

/* HEAPSHIM_LABELS from the environment the process started with */
static int environ_labels(int pid, char *val, size_t cap)
{
    char *b = malloc(EXP_ENVIRON_MAX + 1);
    if (!b) return 0;
    ssize_t n = proc_read(pid, "environ", b, EXP_ENVIRON_MAX + 1);
    int found = 0;
    static const char key[] = "HEAPSHIM_LABELS=";
    for (ssize_t i = 0; n > 0 && i < n;) {
        size_t l = strnlen(b + i, (size_t)(n - i));
        if (l >= sizeof key - 1 && !memcmp(b + i, key, sizeof key - 1)) {
            snprintf(val, cap, "%.*s", (int)(l - (sizeof key - 1)), b + i + sizeof key - 1);
            found = l - (sizeof key - 1) < cap ? 1 : -1;   /* -1: too long */
        }
        i += (ssize_t)l + 1;
    }
    free(b);
    return found;
}

static struct exp_proc *find_proc(struct exporter *e, int pid, uint64_t start)
{
    for (int i = 0; i < e->np; i++)
        if (e->p[i].used && e->p[i].pid == pid && e->p[i].start_time == start) return &e->p[i];
    return NULL;
}

/* identity of a process: labels and service, once */
static void identify_pid(int *label_error, int pid, const char *comm16, const char *flabels, int fstate,
                         char *service, size_t scap, char *labels, size_t lcap,
                         char unit_out[EXP_NAME_MAX], char cid_out[72], uint64_t *limit);
static void identify(struct exporter *e, struct exp_proc *p, const struct proc_view *v)
{
    /* read ahead while the process was there (a few seconds at most) */
    uint64_t now = now_ns();
    for (unsigned i = 0; i < EXP_IDENT_CACHE; i++) {
        struct exp_ident *c = &e->ident[i];
        if (c->pid == v->pid && (!c->created_ns || c->created_ns == v->created_unix_ns) &&
            now - c->at_ns < 60ull * 1000000000ull) {
            snprintf(p->service, sizeof p->service, "%s", c->service);
            snprintf(p->labels, sizeof p->labels, "%s", c->labels);
            memcpy(p->unit, c->unit, sizeof p->unit);
            memcpy(p->cid, c->cid, sizeof p->cid);
            p->limit = c->limit;
            c->pid = 0;
            p->have_identity = 1;
            return;
        }
    }
    int lerr = 0;
    identify_pid(&lerr, v->pid, v->comm, v->file_labels, v->has_file_labels ? v->file_labels_rc : -2,
                 p->service, sizeof p->service,
                 p->labels, sizeof p->labels, p->unit, p->cid, &p->limit);
    e->label_errors += (uint64_t)lerr;
    p->have_identity = 1;
}

/* the identity of a running process, read now into c (no exporter state:
 * callable from another thread, cmd_serve.c's watcher); 0, or -1 if gone */
int exp_ident_read(int pid, uint64_t created_ns, const char *flabels, int fstate, struct exp_ident *c)
{
    memset(c, 0, sizeof *c);
    if (pid <= 0) return -1;
    char comm[32];
    ssize_t n = proc_read(pid, "comm", comm, sizeof comm);
    /* gone already: still named by the labels its file recorded, when they
     * give a service (else its comm, known to the reading that finds it) */
    if (n <= 0 && fstate != 1) return -1;
    if (n <= 0) comm[0] = 0;
    else if (comm[n - 1] == '\n') comm[n - 1] = 0;
    c->pid = pid;
    c->at_ns = now_ns();
    c->created_ns = created_ns;
    identify_pid(&c->label_error, pid, comm, flabels, fstate, c->service, sizeof c->service, c->labels, sizeof c->labels,
                 c->unit, c->cid, &c->limit);
    if (!c->service[0]) {
        memset(c, 0, sizeof *c);
        return -1;
    }
    return 0;
}

/* keep it for the process's first step (identify) */
void exp_ident_put(struct exporter *e, const struct exp_ident *c)
{
    if (c->pid <= 0) return;
    e->label_errors += (uint64_t)c->label_error;
    e->ident[e->nident++ % EXP_IDENT_CACHE] = *c;
    e->ident[(e->nident - 1) % EXP_IDENT_CACHE].label_error = 0;
}

void exp_prefetch(struct exporter *e, int pid, uint64_t created_ns, const char *flabels, int fstate)
{
    struct exp_ident c;
    if (exp_ident_read(pid, created_ns, flabels, fstate, &c) == 0) exp_ident_put(e, &c);
}

static void identify_pid(int *label_error, int pid, const char *comm16, const char *flabels, int fstate,
                         char *service, size_t scap, char *labels, size_t lcap,
                         char unit_out[EXP_NAME_MAX], char cid_out[72], uint64_t *limit)
{
    char val[1024], lab[sizeof(((struct proc_view *)0)->labels)], svc[EXP_NAME_MAX], unit[EXP_NAME_MAX],
        cid[72], cg[4096];
    const char *why = NULL;
    lab[0] = svc[0] = 0;
    /* the file's record when it has one: a worker's environ is gone with it */
    int f = fstate == -2 ? environ_labels(pid, val, sizeof val) : fstate;
    if (fstate != -2) snprintf(val, sizeof val, "%s", f > 0 ? flabels : "");
    if (f < 0 || (f > 0 && exp_parse_labels(val, lab, sizeof lab, svc, sizeof svc, &why) != 0)) {
        (*label_error)++;
        lab[0] = svc[0] = 0;
    }
    exp_parse_cgroup(proc_read(pid, "cgroup", cg, sizeof cg) > 0 ? cg : "", unit, sizeof unit, cid,
                     sizeof cid);
    memcpy(unit_out, unit, EXP_NAME_MAX);
    memcpy(cid_out, cid, 72);
    *limit = cgroup_limit(cg);
    if (!svc[0] && unit[0] && strlen(unit) > 8 && !strcmp(unit + strlen(unit) - 8, ".service"))
        snprintf(svc, sizeof svc, "%.*s", (int)(strlen(unit) - 8), unit);
    if (!svc[0]) prom_label_value(comm16, 16, svc, sizeof svc);
    snprintf(service, scap, "%s", svc);
    /* series labels: service first, then the user's (service= is not repeated) */
    char out[sizeof(((struct proc_view *)0)->labels)];
    int o = snprintf(out, sizeof out, ",service=\"%s\"", svc);
    const char *q = lab;
    while (*q) {
        const char *next = strchr(q + 1, ',');
        size_t l = next ? (size_t)(next - q) : strlen(q);
        if (strncmp(q, ",service=", 9) != 0 && (size_t)o + l < sizeof out) {
            memcpy(out + o, q, l);
            o += (int)l;
            out[o] = 0;
        }
        q += l;
    }
    snprintf(labels, lcap, "%s", out);
}

static struct exp_proc *track(struct exporter *e, const struct proc_view *v)
{
    struct exp_proc *p = find_proc(e, v->pid, v->start_time);
    if (p) return p;
    int slot = -1;
    for (int i = 0; i < e->np && slot < 0; i++)
        if (!e->p[i].used) slot = i;
    if (slot < 0) {
        if (e->np == e->pcap) {
            int nc = e->pcap ? 2 * e->pcap : 64;
            struct exp_proc *np = realloc(e->p, (size_t)nc * sizeof *np);
            if (!np) return NULL;
            e->p = np;
            e->pcap = nc;
        }
        slot = e->np++;
    }
    p = &e->p[slot];
    memset(p, 0, sizeof *p);
    p->ring = calloc((size_t)e->nb * 4, sizeof *p->ring);
    if (!p->ring) return NULL;
    p->used = 1;
    p->pid = v->pid;
    p->start_time = v->start_time;
    p->exe_dev = v->exe_dev;
    p->exe_ino = v->exe_ino;
    for (int d = 0; d < 4; d++) p->last_peak[d] = v->snap.dom[d].peak_bytes;
    identify(e, p, v);
    return p;
}

static struct exp_service *service_of(struct exporter *e, const struct exp_proc *p)
{
    const char *name = p->service;
    for (int i = 0; i < e->ns; i++)
        if (!strcmp(e->s[i].name, name)) return &e->s[i];
    if (e->ns >= EXP_MAX_SERVICES) {
        name = "other";
        for (int i = 0; i < e->ns; i++)
            if (!strcmp(e->s[i].name, name)) return &e->s[i];
    }
    struct exp_service *ns = realloc(e->s, (size_t)(e->ns + 1) * sizeof *ns);
    if (!ns) return NULL;
    e->s = ns;
    struct exp_service *s = &e->s[e->ns];
    memset(s, 0, sizeof *s);
    s->ring = calloc((size_t)e->nb * 4, sizeof *s->ring);
    if (!s->ring) return NULL;
    e->ns++;
    snprintf(s->name, sizeof s->name, "%s", name);
    /* the service's labels: its first process's (service first) */
    snprintf(s->labels, sizeof s->labels, "%s", strcmp(name, "other") ? p->labels : ",service=\"other\"");
    return s;
}

void exp_label(struct exporter *e, struct proc_view *v)
{
    struct exp_proc *p = track(e, v);
    if (p) snprintf(v->labels, sizeof v->labels, "%s", p->labels);
}

int exp_ntracked(const struct exporter *e) { return e->np; }
int exp_tracked(const struct exporter *e, int i, int *pid, uint64_t *start_time)
{
    if (i < 0 || i >= e->np || !e->p[i].used) return 0;
    *pid = e->p[i].pid;
    *start_time = e->p[i].start_time;
    return 1;
}

/* ---- steps -------------------------------------------------------------------- */

/* A process's mark for the step that ends with this reading. From the
 * process's window steps (live.h "Window steps") when the reading has them:
 * the highest of claimed[] at the reading the last step closed with, and of
 * the marks of the steps from that reading to this one (for a process not
 * stepped yet: over the last step_s seconds); if that is longer than the
 * steps kept, the all-time peak when it rose. Without window steps (a
 * reading that has none), the window mark the caller took. Never below
 * live. */
static uint64_t mark_of(const struct exporter *e, const struct exp_proc *p, const struct proc_view *v, int d)
{
    uint64_t l = v->snap.dom[d].live_bytes, w = v->window_peak[d];
    if (v->wread_ns && p) {
        w = p->wprev_ns && p->carry[d] > 0 ? (uint64_t)p->carry[d] : 0;
        if (!p->wprev_ns || v->wread_ns > p->wprev_ns) {   /* else: nothing newer was read */
            uint64_t to = hs_live_step_at(v->wread_ns);
            uint64_t span = ((uint64_t)e->o.step_s * 1000000000ull >> HS_LIVE_WSTEP_SHIFT) + 1;
            uint64_t from = p->wprev_ns ? hs_live_step_at(p->wprev_ns) : (to > span ? to - span : 0);
            int lost = 0;
            uint64_t m = hs_live_step_mark((const uint64_t(*)[4])v->wsteps, from, to, (unsigned)d, &lost);
            if (m > w) w = m;
            uint64_t pk = v->snap.dom[d].peak_bytes;
            if (lost && pk > p->last_peak[d] && pk > w) w = pk;
        }
    }
    return w > l ? w : l;
}

/* the process's next step starts at this reading */
static void mark_done(struct exp_proc *p, const struct proc_view *v)
{
    if (!v->wread_ns || v->wread_ns <= p->wprev_ns) return;
    p->wprev_ns = v->wread_ns;
    for (int d = 0; d < 4; d++) p->carry[d] = v->claimed[d];
}

void exp_step(struct exporter *e, const struct proc_view *v, int n)
{
    /* the open step closes with these marks; then the next one opens */
    for (int i = 0; i < n; i++) {
        struct exp_proc *p = track(e, &v[i]);
        if (!p) continue;
        for (int d = 0; d < 4; d++) {
            uint64_t *b = &p->ring[e->cur * 4 + (unsigned)d], m = mark_of(e, p, &v[i], d);
            if (m > *b) *b = m;
            p->last_peak[d] = v[i].snap.dom[d].peak_bytes;
        }
        mark_done(p, &v[i]);
    }
    /* forget processes that vanished without an exit (killed, files
     * unreadable, never held): not seen for two steps and not running */
    for (int i = 0; i < e->np; i++) {
        struct exp_proc *p = &e->p[i];
        if (!p->used) continue;
        int seen = 0;
        for (int k = 0; k < n && !seen; k++) seen = v[k].pid == p->pid && v[k].start_time == p->start_time;
        p->missed = seen ? 0 : p->missed + 1;
        if (p->missed >= 2 && !proc_alive(p->pid, p->start_time, p->exe_dev, p->exe_ino)) {
            free(p->ring);
            memset(p, 0, sizeof *p);
        }
    }
    e->cur = (e->cur + 1) % e->nb;
    for (int i = 0; i < e->np; i++)
        if (e->p[i].used) memset(&e->p[i].ring[e->cur * 4], 0, 4 * sizeof(uint64_t));
    for (int i = 0; i < e->ns; i++) memset(&e->s[i].ring[e->cur * 4], 0, 4 * sizeof(uint64_t));
}

/* The calls a process made itself, domain d: its counters less what a
 * fork child inherited (live.h base_offset), for the sums of a service,
 * which would count a parent's history once more per fork child */
static void own_calls(const struct proc_view *v, int d, struct hs_live_domain *out)
{
    const struct hs_live_domain *x = &v->snap.dom[d];
    const struct hs_live_base *b = &v->base;
    out->allocs = x->allocs > b->allocs[d] ? x->allocs - b->allocs[d] : 0;
    out->frees = x->frees > b->frees[d] ? x->frees - b->frees[d] : 0;
    out->reallocs = x->reallocs > b->reallocs[d] ? x->reallocs - b->reallocs[d] : 0;
    out->failed = x->failed > b->failed[d] ? x->failed - b->failed[d] : 0;
}

void exp_exited(struct exporter *e, const struct proc_view *f)
{
    struct exp_proc *p = find_proc(e, f->pid, f->start_time);
    if (!p) p = track(e, f);        /* born and gone between two steps */
    if (!p) return;
    struct exp_service *s = service_of(e, p);
    if (s) {
        s->exited++;
        for (int d = 0; d < 4; d++) {
            struct hs_live_domain x;
            own_calls(f, d, &x);
            s->done[d].allocs += x.allocs;
            s->done[d].frees += x.frees;
            s->done[d].reallocs += x.reallocs;
            s->done[d].failed += x.failed;
            /* its last step: what it reached since the last one closed */
            uint64_t *b = &p->ring[e->cur * 4 + (unsigned)d], m = mark_of(e, p, f, d);
            if (m > *b) *b = m;
        }
        for (unsigned k = 0; k < e->nb * 4; k++) s->ring[k] += p->ring[k];
    }
    free(p->ring);
    memset(p, 0, sizeof *p);
}

/* ---- render -------------------------------------------------------------------- */

char *exp_render(struct exporter *e, struct scan *s, const char *extra, size_t extra_len, size_t *len)
{
    struct prom_buf b = { 0 };
    for (int i = 0; i < e->ns; i++) {
        memset(e->s[i].now, 0, sizeof e->s[i].now);
        e->s[i].rss = e->s[i].procs = 0;
    }
    /* per step sums per service: start from the exited processes' marks */
    uint64_t *sum = calloc((size_t)(e->ns + 1) * e->nb * 4 + 1, sizeof *sum);
    int nsvc_alloc = e->ns;
    for (int i = 0; i < s->n && sum; i++) {
        struct proc_view *v = &s->v[i];
        struct exp_proc *p = track(e, v);
        if (!p) continue;
        snprintf(v->labels, sizeof v->labels, "%s", p->labels);
        /* the window: closed steps and the open one (the file's mark now) */
        uint64_t w[4];
        for (int d = 0; d < 4; d++) {
            uint64_t m = mark_of(e, p, v, d);
            uint64_t *open_b = &p->ring[e->cur * 4 + (unsigned)d];
            if (m < *open_b) m = *open_b;
            w[d] = m;
            for (unsigned k = 0; k < e->nb; k++)
                if (p->ring[k * 4 + (unsigned)d] > w[d]) w[d] = p->ring[k * 4 + (unsigned)d];
            v->window_peak[d] = w[d];
        }
        if (!e->o.by_service) continue;
        struct exp_service *sv = service_of(e, p);
        if (!sv) continue;
        if (e->ns > nsvc_alloc) {       /* a new service: grow the sums */
            uint64_t *ns2 = realloc(sum, ((size_t)e->ns + 1) * e->nb * 4 * sizeof *sum + 8);
            if (!ns2) break;
            memset(ns2 + (size_t)nsvc_alloc * e->nb * 4, 0,
                   (size_t)(e->ns - nsvc_alloc) * e->nb * 4 * sizeof *sum);
            sum = ns2;
            nsvc_alloc = e->ns;
        }
        size_t si = (size_t)(sv - e->s);
        for (int d = 0; d < 4; d++) {
            const struct hs_live_domain *x = &v->snap.dom[d];
            struct hs_live_domain own;
            own_calls(v, d, &own);
            sv->now[d].live_bytes += x->live_bytes;
            sv->now[d].live_blocks += x->live_blocks;
            sv->now[d].allocs += own.allocs;
            sv->now[d].frees += own.frees;
            sv->now[d].reallocs += own.reallocs;
            sv->now[d].failed += own.failed;
            for (unsigned k = 0; k < e->nb; k++) {
                uint64_t m = p->ring[k * 4 + (unsigned)d];
                if (k == e->cur && mark_of(e, p, v, d) > m) m = mark_of(e, p, v, d);
                sum[(si * e->nb + k) * 4 + (unsigned)d] += m;
            }
        }
        sv->rss += v->rss_bytes;
        sv->procs++;
    }
    if (e->o.by_service && sum) {
        for (int i = 0; i < e->ns; i++) {
            struct exp_service *sv = &e->s[i];
            for (int d = 0; d < 4; d++) {
                uint64_t best = 0;
                for (unsigned k = 0; k < e->nb; k++) {
                    uint64_t t = sum[((size_t)i * e->nb + k) * 4 + (unsigned)d] + sv->ring[k * 4 + (unsigned)d];
                    if (t > best) best = t;
                }
                if (best < sv->now[d].live_bytes) best = sv->now[d].live_bytes;
                sv->win[d] = best;
            }
        }
        static const struct { const char *name, *type, *help; int f; } fam[] = {
            { "heapshim_service_live_bytes", "gauge", "Usable bytes of live blocks of the service's running processes, per domain.", 0 },
            { "heapshim_service_live_blocks", "gauge", "Live blocks of the service's running processes, per domain.", 1 },
            { "heapshim_service_window_peak_bytes", "gauge", "Highest per-step sum of the service's processes' step high-water marks over the window (exited processes included), per domain: an upper bound of the service's concurrent peak that misses no process's spike.", 2 },
            { "heapshim_service_allocs_total", "counter", "Allocations of the service's processes, running and exited, per domain.", 3 },
            { "heapshim_service_frees_total", "counter", "Frees of the service's processes, running and exited, per domain.", 4 },
            { "heapshim_service_reallocs_total", "counter", "Reallocations of the service's processes, running and exited, per domain.", 5 },
            { "heapshim_service_failed_total", "counter", "Failed allocations of the service's processes, running and exited, per domain.", 6 },
        };
        for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
            prom_family(&b, fam[f].name, fam[f].type, fam[f].help);
            for (int i = 0; i < e->ns; i++) {
                struct exp_service *sv = &e->s[i];
                for (int d = 0; d < 4; d++) {
                    uint64_t v = 0;
                    switch (fam[f].f) {
                    case 0: v = sv->now[d].live_bytes; break;
                    case 1: v = sv->now[d].live_blocks; break;
                    case 2: v = sv->win[d]; break;
                    case 3: v = sv->now[d].allocs + sv->done[d].allocs; break;
                    case 4: v = sv->now[d].frees + sv->done[d].frees; break;
                    case 5: v = sv->now[d].reallocs + sv->done[d].reallocs; break;
                    default: v = sv->now[d].failed + sv->done[d].failed; break;
                    }
                    prom_add(&b, "%s{%s,domain=\"%s\"} %llu\n", fam[f].name, sv->labels + 1, dom_names[d],
                       (unsigned long long)v);
                }
            }
        }
        prom_family(&b, "heapshim_service_processes", "gauge", "Running shimmed processes of the service.");
        for (int i = 0; i < e->ns; i++)
            prom_add(&b, "heapshim_service_processes{%s} %llu\n", e->s[i].labels + 1, (unsigned long long)e->s[i].procs);
        prom_family(&b, "heapshim_service_exited_processes_total", "counter",
                    "Processes of the service that exited while the exporter ran (their final counters are in the service counters).");
        for (int i = 0; i < e->ns; i++)
            prom_add(&b, "heapshim_service_exited_processes_total{%s} %llu\n", e->s[i].labels + 1,
               (unsigned long long)e->s[i].exited);
        prom_family(&b, "heapshim_service_rss_bytes", "gauge", "Resident set size of the service's running processes.");
        for (int i = 0; i < e->ns; i++)
            prom_add(&b, "heapshim_service_rss_bytes{%s} %llu\n", e->s[i].labels + 1, (unsigned long long)e->s[i].rss);
    }
    free(sum);
    if (e->o.by_process) {
        prom_family(&b, "heapshim_process_info", "gauge",
                    "Identity of a shimmed process: its command line, systemd unit, container and user (value 1).");
        for (int i = 0; i < s->n; i++) {
            const struct proc_view *v = &s->v[i];
            struct exp_proc *p = find_proc(e, v->pid, v->start_time);
            char comm[64], cmd[800];
            prom_label_value(v->comm, sizeof v->comm, comm, sizeof comm);
            prom_label_value(v->cmdline, sizeof v->cmdline, cmd, sizeof cmd);
            prom_add(&b, "heapshim_process_info{pid=\"%d\",comm=\"%s\"%s,cmdline=\"%s\",unit=\"%s\",container_id=\"%s\",uid=\"%u\",allocator=\"%s\"} 1\n",
               v->pid, comm, v->labels, cmd, p ? p->unit : "", p ? p->cid : "", v->uid,
               v->allocator[0] && !memchr(v->allocator, '"', sizeof v->allocator) && !memchr(v->allocator, '\\', sizeof v->allocator) ? v->allocator : "?");
        }
        prom_family(&b, "heapshim_memory_limit_bytes", "gauge",
                    "Memory limit of the process's cgroup (cgroup v2 memory.max; absent when unlimited).");
        for (int i = 0; i < s->n; i++) {
            const struct proc_view *v = &s->v[i];
            struct exp_proc *p = find_proc(e, v->pid, v->start_time);
            char comm[64];
            prom_label_value(v->comm, sizeof v->comm, comm, sizeof comm);
            if (p && p->limit)
                prom_add(&b, "heapshim_memory_limit_bytes{pid=\"%d\",comm=\"%s\"%s} %llu\n", v->pid, comm, v->labels,
                   (unsigned long long)p->limit);
        }
    }
    prom_family(&b, "heapshim_label_errors_total", "counter",
                "Processes whose HEAPSHIM_LABELS was refused (bad name, value or count; served without those labels).");
    prom_add(&b, "heapshim_label_errors_total %llu\n", (unsigned long long)e->label_errors);
    prom_family(&b, "heapshim_window_seconds", "gauge",
                "Length of the window of the window peaks (seconds); heapshim_window_step_seconds is how often a step closes.");
    prom_add(&b, "heapshim_window_seconds %u\n", e->o.window_s);
    prom_family(&b, "heapshim_window_step_seconds", "gauge", "How often the exporter closes a window step (seconds).");
    prom_add(&b, "heapshim_window_step_seconds %u\n", e->o.step_s);
    if (extra && extra_len) prom_add(&b, "%.*s", (int)extra_len, extra);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    char help[256];
    snprintf(help, sizeof help,
             "High-water mark of live bytes over the last %u s (steps of %u s, closed by the exporter; scrapes reset nothing), per domain.",
             e->o.window_s, e->o.step_s);
    struct prom_opts po = { .window_help = help, .no_process_series = !e->o.by_process,
                            .extra = b.p, .extra_len = b.len };
    char *text = prom_render_opts(s, &po, len);
    free(b.p);
    return text;
}
