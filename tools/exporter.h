/*
 * tools/exporter.h - what a long-running exporter adds to one reading of
 * the live counters (tools/exporter.c): labels a fleet needs, windows that
 * several scrapers share, processes that exited between scrapes, and the
 * per-service aggregation. Used by `heapshim serve` (tools/cmd_serve.c) and
 * `heapshim-probe --serve` (ebpf/probe.c). Semantics: docs/exporter.md.
 */
#ifndef HS_TOOLS_EXPORTER_H
#define HS_TOOLS_EXPORTER_H
#include "cli.h"

#define EXP_ENVIRON_MAX (256u << 10)   /* bytes of /proc/PID/environ read */

struct exp_opts {
    int by_process, by_service;     /* which series to serve */
    unsigned window_s, step_s;      /* window peaks: max over the last window_s, in steps */
};

struct exporter;

/* opts are checked by the caller (exp_parse_opt); NULL on no memory */
struct exporter *exp_new(const struct exp_opts *o);
void exp_free(struct exporter *e);

/* Parse one exporter option at argv[*i] (--by, --window, --window-step);
 * 1 if it was one (the value consumed), 0 if not; exits 2 on a bad value. */
/* one exporter option (--by, --window, --window-step) and its value: 1 when
 * it is one of them (exits 2 with one line on a bad value), 0 otherwise */
int exp_set_opt(struct exp_opts *o, const char *name, const char *val);
int exp_parse_opt(struct exp_opts *o, int argc, char **argv, int *i);
#define EXP_OPTS_USAGE \
    "  --by WHAT       process, service or both (default): which series to serve;\n" \
    "                  service bounds the series to a fixed set per service\n" \
    "  --window S      window peaks are the high-water mark of the last S seconds\n" \
    "                  (1..3600, default 60), the same for every scraper\n" \
    "  --window-step S the exporter closes a window step every S seconds\n" \
    "                  (1..S of --window, default 5)\n"
void exp_opts_check(struct exp_opts *o);   /* defaults, step <= window; exits 2 */

/* One step of the exporter's clock: views of the processes running now,
 * each with window_peak[] holding the high-water mark of the step that
 * ends here (taken and reset in the file, or computed by the caller).
 * Processes tracked before and absent now must be passed to exp_exited
 * first (with their final figures when the caller has them). */
void exp_step(struct exporter *e, const struct proc_view *v, int n);
/* A process that exited: its final (or last known) figures, folded into its
 * service's totals. Called once per exit, by the first reading (a step or a
 * scrape) that learns of it, so that a render never loses a process. */
void exp_exited(struct exporter *e, const struct proc_view *final);
/* Pids the exporter tracks (for callers that must find who vanished). */
int exp_tracked(const struct exporter *e, int i, int *pid, uint64_t *start_time);
int exp_ntracked(const struct exporter *e);

/* Label and identity of a process, from /proc (once per process): fills
 * v->labels for the series. Also used at render for processes not yet
 * stepped. */
void exp_label(struct exporter *e, struct proc_view *v);

/* Render a scrape: the views read now (their window_peak[] = the current,
 * not yet closed, step's mark), merged with the exporter's windows and
 * totals. Malloc'd text, or NULL. extra (may be NULL) is appended. */
char *exp_render(struct exporter *e, struct scan *s, const char *extra, size_t extra_len,
                 size_t *len);

/* A process's identity read ahead (labels, service, unit, container,
 * limit), before it may exit. */
#define EXP_NAME_MAX 72
struct exp_ident {
    int pid;
    int label_error;                /* its HEAPSHIM_LABELS was refused */
    uint64_t at_ns;
    /* the live file's created_unix_ns (0 unknown): an exec keeps the pid
     * and the start time, and the images of a short exec chain, each with
     * its own file and labels, were named after one another by pid alone */
    uint64_t created_ns;
    char service[EXP_NAME_MAX];
    char unit[EXP_NAME_MAX], cid[72];
    uint64_t limit;
    char labels[sizeof(((struct proc_view *)0)->labels)];
};
/* exp_ident_read touches no exporter state (another thread may call it):
 * 0, or -1 if the process is gone; exp_ident_put keeps the result for the
 * process's first step. exp_prefetch is both. flabels/fstate: the
 * HEAPSHIM_LABELS its live file records (hs_live_labels: 1 set, 0 not set,
 * -1 refused); fstate -2 (not recorded) reads /proc/PID/environ instead. */
int exp_ident_read(int pid, uint64_t created_ns, const char *flabels, int fstate, struct exp_ident *c);
void exp_ident_put(struct exporter *e, const struct exp_ident *c);
/* Read a new process's labels and service now (from its file's labels or
 * /proc/PID/environ, cgroup, comm), before it may exit: used when its
 * first figures come. */
void exp_prefetch(struct exporter *e, int pid, uint64_t created_ns, const char *flabels, int fstate);

/* Pure parsers, exported for tests and the fuzzers: */
/* HEAPSHIM_LABELS value -> ',k="v"...' and the service (if given); 0, or -1
 * with a reason (nothing written to out then). */
int exp_parse_labels(const char *val, char *out, size_t cap, char *service, size_t scap,
                     const char **why);
/* /proc/PID/cgroup text -> systemd unit (".service"/".scope" leaf) and
 * container id (64 hex digits); empty strings when none */
void exp_parse_cgroup(const char *text, char *unit, size_t ucap, char *cid, size_t ccap);

#endif
