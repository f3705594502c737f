/*
 * tools/cli.h - shared declarations of the heapshim command (build/heapshim).
 *
 * Room: the command-line tool only. It reads what the shim leaves behind
 * (JSON reports, docs/report-schema.md) and what it publishes while running
 * (live files, include/heapshim/live.h); it never links the allocator, only
 * core/live_read.o, the self-contained reader of live regions.
 */
#ifndef HS_TOOLS_CLI_H
#define HS_TOOLS_CLI_H
#include <heapshim/live.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#define HS_TOOL_VERSION "0.1.0"
#define HS_REPORT_SCHEMA "heapshim-report/2"     /* written; /1 is read too */
#define HS_REPORT_SCHEMA_V1 "heapshim-report/1"
#define HS_EXIT_OK 0
#define HS_EXIT_REGRESSION 1       /* diff, heapshim-ci gate */
#define HS_EXIT_BAD 2              /* bad input, everywhere */
#define HS_EXIT_WORKLOAD 3         /* heapshim-ci: the workload failed */
#define HS_EXIT_NODATA 4           /* diff, heapshim-ci: nothing to compare */

/* ---- util.c: errors, numbers, sizes --------------------------------------- */
extern const char *hs_prog;        /* "heapshim run", ... for messages */
__attribute__((format(printf, 1, 2), noreturn)) void die_bad(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void warnx_(const char *fmt, ...);
/* strict decimal parse into [lo, hi]; 0 or -1 */
int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
int parse_double(const char *s, double lo, double hi, double *out);
/* a size: plain bytes, or KiB/MiB/GiB/TiB (1024^n), kB/MB/GB/TB (1000^n) */
int parse_size(const char *s, uint64_t *out);
#define SIZE_ACCEPTED "bytes, or a size such as 512KiB, 24MiB, 1.5GiB, 300kB, 20MB"
/* "12.3 MiB" into buf (always fits in 16 bytes) */
const char *human_bytes(uint64_t v, char buf[16]);   /* "12.3 MiB" (tools/util.c, the one formatter) */
const char *short_bytes(uint64_t v, char buf[8]);    /* "12.3M": at most 5 characters (7 with a sign and a NUL) */
const char *human_count(uint64_t v, char buf[16]);
/* is the argument one of -h/--help */
int is_help(const char *a);
/* Data shown on a terminal (names from reports, command lines): control
 * bytes and bytes >= 0x7f become '?' in place, so no escape sequence or
 * newline of the data reaches the terminal or a CI log. Returns s. */
char *printable(char *s);
/* Are two paths the same file (st_dev and st_ino, links followed; when
 * neither exists yet, the same name in the same directory)? 0 when either
 * is "-", and for a character device. An output must never replace one of
 * the command's own inputs, nor another of its outputs. */
int same_file(const char *a, const char *b);
/* read a whole file (at most max bytes; "-" is standard input, read once and
 * kept for later calls); 0, or -1 with err set */
int read_file(const char *path, size_t max, char **buf, size_t *len, char *err, size_t cap);
/* DIR for output files: created with mode when missing; it must then be a
 * directory the user can create files in. 0, or -1 with the reason in err
 * ("not a directory", "cannot create files there: ...") */
int output_dir(const char *dir, unsigned mode, char *err, size_t cap);
/* An output file of a command, written whole. A new name or a regular file
 * is written as a temporary next to it (a random name, O_EXCL, no symbolic
 * link followed) and renamed over it by out_commit; a character device or a
 * FIFO (/dev/null, a pipe that someone reads) is written directly; a
 * symbolic link, a directory, a block device or a socket is refused.
 * Nothing that is not a regular file is ever replaced (as root, `-o
 * /dev/null` used to replace the device with a file). */
struct outfile {
    int fd, direct;
    char path[4400], tmp[4480];
};
/* 0, or -1 with the reason in err (the path is not in it) */
int out_create(struct outfile *o, const char *path, char *err, size_t cap);
int out_write(struct outfile *o, const void *buf, size_t len);     /* 0 or -1 (errno) */
int out_commit(struct outfile *o, char *err, size_t cap);          /* close, rename; 0 or -1 */
void out_abort(struct outfile *o);                                 /* close, the temporary removed */
uint64_t now_ns(void);           /* CLOCK_MONOTONIC */
uint64_t unix_ns(void);          /* CLOCK_REALTIME */

/* ---- opts.c: the one option parser (rules at the top of tools/opts.c) ------ */
#define OPT_NAME  1        /* the value is a path or a name: never starts with '-' */
#define OPT_STDIO 2        /* ... except "-", standard output */
struct opt {
    const char *name, *alias;   /* "--output", "-o" (alias may be NULL) */
    const char *arg;            /* the value's placeholder ("MS"), NULL: a flag */
    int id, flags;              /* id > 0, returned by opt_next */
};
enum { OPT_END = 0, OPT_OPERAND = -1, OPT_HELP = -2 };
struct optstate {
    int argc;
    char **argv;
    const struct opt *opts;     /* ends with { NULL } */
    int stop_at_operand;        /* run: the first operand ends the options */
    int i, done;                /* next argument; after `--` (or the operand) */
};
/* The next option's id (its value in *val), OPT_OPERAND (*val = operand),
 * OPT_HELP, or OPT_END (st->i: first operand when stop_at_operand). Exits 2
 * with one line on a usage error. */
int opt_next(struct optstate *st, const char **val);

/* ---- report.c: the JSON report ------------------------------------------- */
enum { D_RAW, D_MEM, D_OBJ, D_TOTAL, D_N };
extern const char *const dom_names[D_N];   /* raw mem obj total */

struct dom_stats {
    uint64_t live_bytes, live_blocks, peak_bytes, allocs, reallocs, frees, failed;
};
#define REPORT_MAX_CLASSES 64
struct report {
    int64_t pid, ppid;
    char command[4096], allocator[32], exit_kind[32];
    uint64_t started_unix_ns, ended_unix_ns;
    struct dom_stats dom[D_N];
    uint64_t arena_size, pool_size, arenas_mapped, arenas_peak, bytes_mapped,
             pools_used, pools_free;
    unsigned nclasses;
    struct { uint64_t size, blocks_in_use, pools; } cls[REPORT_MAX_CLASSES];
    uint64_t rss_peak_bytes;
    /* schema 2: mapped memory (include/heapshim/live.h) and anonymous RSS;
     * have_mapped 0 for a schema 1 report (no such figures) */
    int have_mapped;
    uint64_t mapped_live, mapped_peak, mapped_maps, mapped_unmaps, mapped_remaps,
             mapped_protects, mapped_discards, mapped_discard_bytes;
    uint64_t mapped_dom_live[3], mapped_dom_peak[3];
    uint64_t rss_anon_bytes, rss_anon_peak_bytes;
    /* null in the report: never measured (a process `run` never read
     * alive); the figures are 0 then and are not compared */
    int rss_unknown, rss_anon_unknown;
};
/* Parse and validate a report held in memory. 0, or -1 with a one-line
 * reason in err (without the file name). */
int report_parse(const char *buf, size_t len, struct report *r, char *err, size_t cap);
/* jansson's memory while parsing (tools/report.c): begin returns the
 * previous cap for end; hit says whether the last failure was the cap */
#define REPORT_PARSE_BUDGET (64u << 20)
size_t json_budget_begin(size_t cap);
void json_budget_end(size_t old);
int json_budget_hit(void);
/* Load a file: 0, or -1 with "PATH: reason" in err. */
int report_load(const char *path, struct report *r, char *err, size_t cap);
/* Named metrics ("obj.peak_bytes", "arenas.arenas_peak", "rss_peak_bytes",
 * "mapped.peak_bytes"): 0, -1 for an unknown name, 1 for a name this report
 * does not carry (mapped.* and rss_anon_* of a schema 1 report) */
int report_metric(const struct report *r, const char *name, uint64_t *out);
/* (heap peak + mapped peak) / anonymous peak RSS, 0 when unknown: each peak
 * at its own moment, so an upper bound of what one moment explained */
double report_explained(const struct report *r);
void report_metric_list(FILE *f);   /* the accepted names, one line */
int metric_is_bytes(const char *name);

/* ---- tree.c: every process of a run ---------------------------------------- */
/* A run report (heapshim run -o) is the main process's heapshim-report/1
 * with "ended" and "tree" added; a plain report is a tree of one process. */
struct tproc {
    char id[200], exe[64];          /* identity (docs/cli.md "Process identity") */
    char ended[16];                 /* exit | signal | lost */
    int signal;
    struct report r;
};
struct tree {
    struct tproc *p;
    int n;
    int have_concurrent;
    uint64_t concurrent_peak;       /* sampled high-water of the sum of live totals */
};
/* exe and the identity's shape from a command line (NULs as spaces) */
void proc_identity(const char *command, char *exe, size_t ecap, char *id, size_t icap);
/* number duplicates ("#2", ...) by decreasing total peak; sorts by id */
void tree_finish(struct tree *t);
int tree_load(const char *path, struct tree *t, char *err, size_t cap);
void tree_free(struct tree *t);
uint64_t tree_peak_sum(const struct tree *t);

/* ---- table.c: the human per-domain table ---------------------------------- */
void table_print(FILE *f, const struct report *r);

/* ---- live.c: live files of running processes ------------------------------ */
struct proc_view {
    int pid;
    int ppid;                       /* the header's: the parent at creation (0 unknown) */
    unsigned uid;                   /* the header's */
    char comm[16], cmdline[256], allocator[16];
    uint32_t state;
    uint64_t start_time, created_unix_ns, rss_bytes;
    uint64_t exe_dev, exe_ino;      /* the program file (header; 0 unknown) */
    uint64_t pidns_ino;             /* the pid namespace (header; 0 unknown) */
    uint64_t rss_anon_bytes;        /* RssAnon of /proc/PID/status; 0 unknown */
    struct hs_live_snapshot snap;
    uint64_t window_peak[4];        /* since the last reset (see live_read) */
    /* the window steps (live.h "Window steps") as read: wread_ns is
     * CLOCK_MONOTONIC just before the copy (0: no window steps read) */
    uint64_t wsteps[HS_LIVE_WSTEPS][4];
    int64_t claimed[4];
    uint64_t wread_ns;
    int window_reset;               /* 1 if we reset it (O_RDWR), 0 read only */
    int stale;                      /* read from a stale file (LIVE_KEEP_STALE): the process is gone */
    char labels[640];               /* exporters: ',name="value"...' added to every series */
    /* HEAPSHIM_LABELS as the file records it: has_file_labels 0 when it
     * does not (a view made from the header alone, or a file of a shim
     * before stop 32: exporters read /proc/PID/environ), else
     * file_labels_rc is hs_live_labels' answer (1 set, 0 not set, -1 refused) */
    int has_file_labels, file_labels_rc;
    char file_labels[HS_LIVE_LABELS_AREA];
    /* a fork child's counters at its fork (live.h base_offset; zeros if
     * none or not read): what it counts itself is snap less these */
    struct hs_live_base base;
};
#define LIVE_RESET_WINDOW 1        /* exchange window_peak with 0 (exporter) */
#define LIVE_KEEP_STALE   2        /* live_scan of explicit pids: keep the last
                                    * counters of a stale file (stale set) */
#define LIVE_MAX_FILE (64u << 20)  /* refuse bigger files: not ours */
enum { LIVE_OK = 0, LIVE_STALE = 1, LIVE_BAD = -1, LIVE_GONE = -2 };
/* the live directory: opt, else $HEAPSHIM_DIR, else /dev/shm/heapshim-<uid> */
const char *live_dir(const char *opt, char *buf, size_t cap);
/* Read one live file; expect_pid < 0 means take it from the header. */
int live_read(const char *path, int expect_pid, int flags, struct proc_view *p,
              char *err, size_t cap);
/* The HEAPSHIM_LABELS a live file open on fd records: see hs_live_labels
 * (-2 also for a file that is not a live file of this version); *created
 * its created_unix_ns (0 unknown). */
int live_labels_fd(int fd, char *out, size_t cap, uint64_t *created);
/* Is this process (pid, start time in ticks) still the one alive, running
 * the same program file (exe_dev/exe_ino from a header; exe_ino 0: not
 * checked)? */
int proc_alive(int pid, uint64_t start_time, uint64_t exe_dev, uint64_t exe_ino);
/* Is a header's pid namespace (0: unknown) known to be another than ours?
 * Then its pid means nothing here: the file is neither listed nor removed. */
int proc_other_pidns(uint64_t pidns_ino);
uint64_t proc_rss_bytes(int pid);   /* 0 if unknown */
uint64_t proc_rss_anon_bytes(int pid);   /* RssAnon; 0 if unknown */
/* Every readable, non-stale live file of dir (or only pids[]). Bad files
 * are reported through warn lines (prefix "PATH: "), stale ones counted. */
struct scan {
    struct proc_view *v;
    int n, stale, bad;
    int nodir;                      /* the directory does not exist (yet) */
};
int live_scan(const char *dir, const int *pids, int npids, int flags, struct scan *s,
              int quiet);
void scan_free(struct scan *s);

/* Checks done before hs_live_sum(): core/live_read.c computes
 * slots_offset + nslots * slot_size in 64 bits without an overflow check,
 * so a hostile slots_offset near 2^64 wraps and passes its bounds test
 * (reported to the lead). Until that is fixed, readers here refuse any
 * slot table that does not start inside the region. */
static inline int live_guard(const void *region, size_t len, const char **why)
{
    const struct hs_live_header *h = region;
    if (len >= sizeof *h && h->magic == HS_LIVE_MAGIC && h->version == HS_LIVE_VERSION &&
        h->slots_offset > len) {
        *why = "corrupt header: slot table starts past the end of the file";
        return -1;
    }
    return 0;
}

/* ---- prom.c: Prometheus text exposition ----------------------------------- */
/* Renders the scan into a malloc'd string (caller frees). */
char *prom_render(const struct scan *s, size_t *len);
struct prom_opts {
    const char *window_help;        /* HELP of heapshim_window_peak_bytes (NULL: reset by scrape) */
    int no_process_series;          /* only the directory-level families */
    const char *extra;              /* appended (other families), extra_len bytes */
    size_t extra_len;
};
char *prom_render_opts(const struct scan *s, const struct prom_opts *o, size_t *len);
/* A label value (at most max bytes of in) escaped as the format requires */
void prom_label_value(const char *in, size_t max, char *out, size_t cap);
/* The exposition's text builder (tools/prom.c), for every renderer of
 * families (exporter, probe): prom_add appends (oom set on failure, p
 * malloc'd, NUL-terminated), prom_family writes a family's HELP and TYPE. */
struct prom_buf {
    char *p;
    size_t len, cap;
    int oom;
};
__attribute__((format(printf, 2, 3))) void prom_add(struct prom_buf *b, const char *fmt, ...);
void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help);

/* ---- top_view.c: one process as `heapshim top` shows it --------------------- */
double top_explained(const struct proc_view *v);   /* (heap + mapped live) / anonymous RSS */
struct json_t *top_proc_json(const struct proc_view *v);   /* `top --json` object */
/* Redraws frame(arg, eol) every interval_ms until q, *stop, or a frame
 * returning non-zero (which is returned). eol ends every line of a frame. */
int top_live_loop(int (*frame)(void *arg, const char *eol), void *arg, uint64_t interval_ms,
                  volatile sig_atomic_t *stop);

/* `heapshim top`'s table, fitted to a width (tools/top_view.c) */
enum { TC_PID, TC_CMD, TC_LIVE, TC_PEAK, TC_GROWTH, TC_RAW, TC_MEM, TC_OBJ, TC_MAPPED, TC_RSS, TC_EXPL, TC_N };
struct top_layout {
    int width, cmdw;                /* the whole line; the COMMAND column */
    unsigned char on[TC_N];         /* columns shown */
};
void top_layout_for(int width, int wide_cmd, struct top_layout *L);
/* the same for a reader without some columns (bit 1 << TC_x set in lacking:
 * never shown, their room goes to the others) */
void top_layout_without(int width, int wide_cmd, unsigned lacking, struct top_layout *L);
void top_heading(const struct top_layout *L, char *buf, size_t cap);
/* one row, never wider than L->width; growth shown when have_growth */
void top_row(const struct top_layout *L, const struct proc_view *v, const char *cmd,
             int have_growth, int64_t growth, char *buf, size_t cap);
/* columns of the terminal on stdout, else $COLUMNS, else 80; rows (0 unknown) */
int top_term_size(int *rows);
/* top_live_loop with keys: key(arg, c) returns -1 to quit, 1 to redraw now,
 * 0 nothing; without key, q quits. */
int top_live_loop_keys(int (*frame)(void *arg, const char *eol), int (*key)(void *arg, int c),
                       void *arg, uint64_t interval_ms, volatile sig_atomic_t *stop);

/* strict list of pids from argv[first..]; exits 2 on a bad one */
int parse_pids(int argc, char **argv, int first, int **pids);

/* ---- subcommands ------------------------------------------------------------ */
int cmd_run(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_profile(int argc, char **argv);         /* cmd_profile.c */

#endif
