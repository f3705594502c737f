/*
 * tools/profile.h - heap profiles in the heapshim command: reading a
 * process's sampled profile (include/heapshim/profile.h), symbolising it,
 * and writing it out (pprof legacy text, collapsed stacks, SVG flame graph).
 *
 * Files: profile_read.c (hardened reader, aggregation), symbolize.c (libdw),
 * flame.c (the SVG), cmd_profile.c (the subcommand, outputs, diff).
 */
#ifndef HS_TOOLS_PROFILE_H
#define HS_TOOLS_PROFILE_H
#include <heapshim/profile.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* one stack of the profile, with its estimates */
struct pstack {
    uint32_t depth, dom;
    uint64_t frames[HS_PROF_DEPTH];   /* innermost first */
    double live_count, live_bytes;    /* estimated, of the sampled blocks still allocated */
    double alloc_count, alloc_bytes;  /* estimated, since start */
    uint64_t live_samples;
};

struct profile {
    struct hs_prof_header h;          /* as read (strings NUL-terminated) */
    struct hs_prof_module *mods;
    uint32_t nmods;
    struct pstack *st;
    uint32_t nst;
    struct hs_prof_pyframe *pyf;      /* interpreter frames (version 2), validated */
    uint32_t npyf;
    int consistent;                   /* read at a moment no writer was inside */
    char source[4200];
};

/* Load a profile: `what` is a pid (its file in the live directory `dir`,
 * NULL: $HEAPSHIM_DIR or the default) or a path. 0, or -1 with a one-line
 * reason in err. Everything read is validated (the file is hostile). */
int profile_load(const char *what, const char *dir, struct profile *p, char *err, size_t cap);
/* the same from a buffer (for the fuzzer and tests) */
int profile_parse(const unsigned char *buf, size_t len, struct profile *p, char *err, size_t cap);
void profile_free(struct profile *p);
/* Which frames the stacks keep (`--frames`): all of them; the interpreter's
 * only (a stack that has none keeps its native frames); the native ones
 * only. Stacks made equal by it are merged (their estimates summed). */
enum { PROFILE_FRAMES_ALL, PROFILE_FRAMES_PYTHON, PROFILE_FRAMES_NATIVE };
void profile_frames(struct profile *p, int which);
/* is this a file that starts with the profile magic */
int profile_is_file(const char *path);

/* gc of DIR/<pid>.prof: the pid of such a name, or -1 */
int profile_pid_name(const char *name);
/* Judge `name` in an open live directory (tools/live.h rules: opened
 * relative to d, no symlink, regular file of d's owner, mode, size; then
 * the header's magic, version and pid): LIVE_STALE when its process is gone
 * (pid + start time), with st the file judged (for live_unlink_stale);
 * LIVE_OK when it runs; LIVE_BAD (err says why: left alone) or LIVE_GONE. */
struct live_dirh;
struct stat;
int profile_stale_at(const struct live_dirh *d, const char *name, struct stat *st, char *err, size_t cap);

int profile_copy_live(int pid, const char *live, const char *dest, char *err, size_t cap);

/* ---- cmd_profile.c ---------------------------------------------------------- */
/* format: top, pprof, collapsed, svg; alloc: since start instead of live */
int profile_write(const struct profile *p, const char *format, int alloc, const char *domain, long top,
                  FILE *f);
/* The 10 stacks of a finished process that `run --profile` and `report
 * --profile` print: by live bytes at exit; by bytes allocated since start
 * when nothing sampled was live then, or for a CPython process (it frees its
 * objects as it finalizes), whose stacks are shown as Python frames only
 * (path: the file, named in the line that says how to see the C frames). */
void profile_print_top(struct profile *p, const char *path, FILE *f);
/* `heapshim diff A B` / `heapshim profile --diff A B`: which stacks grew */
int cmd_profile_diff(int argc, char **argv);
/* does this diff command line compare heap profiles (by content) */
int profile_diff_wanted(int argc, char **argv);
int profile_run_collect(const char *dir, const char *live, const int *pids, int npids);

/* ---- symbolize.c ---------------------------------------------------------- */
struct symbolizer;
/* ---- pprof_pb.c: pprof's gzip'd protobuf (built with HS_HAVE_PPROF) ---- */
int pprof_pb_available(void);
/* 0, or -1 with a one-line reason in err */
int pprof_pb_write(const struct profile *p, struct symbolizer *sy, const char *domain, int alloc, FILE *f,
                   char *err, size_t cap);
struct symbolizer *sym_open(const struct profile *p);
/* the function at return address ra ("?" forms: "libc.so.6+0x1f2e3", "0x..."),
 * into buf; returns buf */
const char *sym_name(struct symbolizer *s, uint64_t ra, char *buf, size_t cap);
void sym_close(struct symbolizer *s);
int sym_available(void);              /* built with libdw */

/* ---- flame.c ---------------------------------------------------------------- */
/* stacks as root-first frame names with a value each */
struct fstack { char **names; unsigned n; double value; };
int flame_svg(FILE *f, const struct fstack *s, size_t n, const char *title, const char *unit);

#endif
