/*
 * tools/cmd_profile.c - `heapshim profile`: where the memory comes from.
 *
 * Room: the subcommand and its outputs. Reads a process's sampled heap
 * profile (a pid: live, from its file in the live directory, no attach; or
 * a .prof file: `run --profile` copies, killed processes' last files),
 * symbolises it (symbolize.c) and writes one of: the top stacks (default),
 * the legacy heap-profile text that google-pprof reads, pprof's protobuf
 * (pprof_pb.c), collapsed stacks
 * (flamegraph.pl / speedscope input), an SVG flame graph (flame.c); or the
 * stacks that grew between two profiles (--diff). Also the top-N table for
 * `heapshim report --profile` (profile_print_top).
 */
#include "cli.h"
#include "profile.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: heapshim profile PID|FILE.prof [--format top|pprof|pb|collapsed|svg] [-o OUT|-]\n"
    "                        [--alloc] [--domain raw|mem|obj] [--frames all|python|native]\n"
    "                        [-n N] [--dir DIR]\n"
    "       heapshim profile --diff BASE.prof NEW.prof [-n N] [--alloc] [--frames ...]\n"
    "       (the same: heapshim diff BASE.prof NEW.prof)\n"
    "  Sampled heap profile of a shimmed process (HEAPSHIM_PROFILE_RATE, default one\n"
    "  sample per 512 KiB allocated): estimated live bytes per call stack (--alloc:\n"
    "  bytes allocated since start). PID reads the running process's profile from the\n"
    "  live directory without stopping it; FILE.prof is one written by `heapshim run\n"
    "  --profile DIR` or left by a killed process.\n"
    "  --format top        the N stacks holding the most (default, N = 10)\n"
    "           pprof      legacy heap profile text: google-pprof --text BINARY FILE\n"
    "           pb         pprof's protobuf, gzip'd (FILE.pb.gz): go tool pprof FILE.pb.gz\n"
    "           collapsed  one line per stack, root first: frame;frame;frame BYTES\n"
    "           svg        flame graph\n"
    "  --frames python     a CPython process's Python functions and lines only (stacks\n"
    "                      without any keep their native frames); native: C only\n"
    "  --diff              the stacks whose estimate grew the most from BASE to NEW\n";

int profile_write(const struct profile *p0, const char *format, int alloc, const char *domain, long top,
                  FILE *f);

static const char *const dom_name[3] = { "raw", "mem", "obj" };

struct opts {
    const char *format, *out, *dir, *domain;
    int alloc;
    long top;
    int frames;                       /* PROFILE_FRAMES_* */
};

/* --frames VALUE */
static int frames_opt(const char *v)
{
    if (!v) die_bad("--frames needs a value (accepted: all, python, native)");
    if (!strcmp(v, "all")) return PROFILE_FRAMES_ALL;
    if (!strcmp(v, "python")) return PROFILE_FRAMES_PYTHON;
    if (!strcmp(v, "native")) return PROFILE_FRAMES_NATIVE;
    die_bad("--frames '%s': unknown (accepted: all, python, native)", v);
    return 0;
}

static double value_of(const struct pstack *s, int alloc) { return alloc ? s->alloc_bytes : s->live_bytes; }
static double count_of(const struct pstack *s, int alloc) { return alloc ? s->alloc_count : s->live_count; }

static int g_alloc;
static int by_value(const void *a, const void *b)
{
    double x = value_of(a, g_alloc), y = value_of(b, g_alloc);
    return (x < y) - (x > y);
}

/* symbolised names of a stack, root first; caller frees */
static char **names_root_first(struct symbolizer *sy, const struct pstack *s, unsigned *n)
{
    char **v = calloc(s->depth + 2, sizeof *v);
    if (!v) return NULL;
    unsigned k = 0;
    for (unsigned i = s->depth; i-- > 0;) {
        char buf[512];
        v[k++] = strdup(sym_name(sy, s->frames[i], buf, sizeof buf));
    }
    if (!k) v[k++] = strdup("(no stack)");
    *n = k;
    return v;
}

static void free_names(char **v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int dom_ok(const struct opts *o, const struct pstack *s)
{
    return !o->domain || !strcmp(o->domain, dom_name[s->dom]);
}

static void print_top(FILE *f, const struct profile *p, const struct opts *o, struct symbolizer *sy)
{
    double total = 0;
    for (uint32_t i = 0; i < p->nst; i++)
        if (dom_ok(o, &p->st[i])) total += value_of(&p->st[i], o->alloc);
    char b1[16];
    fprintf(f, "heap profile of pid %d (%s)%s: %s %s, rate %" PRIu64 " B, %" PRIu64 " samples%s%s\n",
            p->h.pid, p->h.exe, (p->h.flags & HS_PROF_F_EXITED) ? ", at exit" : "",
            human_bytes((uint64_t)llround(total), b1), o->alloc ? "allocated since start" : "live (estimated)",
            p->h.rate, p->h.samples, p->h.dropped ? ", some dropped (tables full)" : "",
            p->consistent ? "" : " [read while changing]");
    fprintf(f, "  %10s %6s %9s %4s  %s\n", "bytes", "share", "blocks", "dom", "stack (innermost first)");
    long shown = 0;
    for (uint32_t i = 0; i < p->nst && shown < o->top; i++) {
        const struct pstack *s = &p->st[i];
        if (!dom_ok(o, s) || !(value_of(s, o->alloc) > 0)) continue;
        shown++;
        char b2[16];
        fprintf(f, "  %10s %5.1f%% %9.0f %4s  ", human_bytes((uint64_t)llround(value_of(s, o->alloc)), b2),
                total > 0 ? 100 * value_of(s, o->alloc) / total : 0.0, count_of(s, o->alloc), dom_name[s->dom]);
        for (unsigned k = 0; k < s->depth && k < 6; k++) {
            char buf[512];
            fprintf(f, "%s%s", k ? " < " : "", sym_name(sy, s->frames[k], buf, sizeof buf));
        }
        /* the innermost interpreter frame (the Python line) when the first
         * six did not show one */
        unsigned py = 0;
        while (py < s->depth && !(s->frames[py] & HS_PROF_FRAME_PY)) py++;
        if (py >= 6 && py < s->depth) {
            char buf[512];
            fprintf(f, "%s < %s", py > 6 ? " < ..." : "", sym_name(sy, s->frames[py], buf, sizeof buf));
        }
        if (s->depth > 6 && !(py >= 6 && py + 1 == s->depth)) fputs(" < ...", f);
        fputc('\n', f);
    }
    if (!shown) fputs("  (no sampled allocations)\n", f);
}

/* google-pprof's legacy heap profile: counts and bytes are the estimates
 * already (the "heapprofile" type, which pprof does not scale again) */
static void print_pprof(FILE *f, const struct profile *p, const struct opts *o)
{
    double lc = 0, lb = 0, ac = 0, ab = 0;
    for (uint32_t i = 0; i < p->nst; i++) {
        if (!dom_ok(o, &p->st[i])) continue;
        lc += p->st[i].live_count, lb += p->st[i].live_bytes;
        ac += p->st[i].alloc_count, ab += p->st[i].alloc_bytes;
    }
    fprintf(f, "heap profile: %6.0f: %8.0f [%6.0f: %8.0f] @ heapprofile\n", lc, lb, ac, ab);
    for (uint32_t i = 0; i < p->nst; i++) {
        const struct pstack *s = &p->st[i];
        if (!dom_ok(o, s) || !s->depth) continue;
        fprintf(f, "%6.0f: %8.0f [%6.0f: %8.0f] @", s->live_count, s->live_bytes, s->alloc_count, s->alloc_bytes);
        /* interpreter frames have no address pprof could look up: the
         * native stack only (the interpreter loop's frame stays) */
        for (unsigned k = 0; k < s->depth; k++)
            if (!(s->frames[k] & HS_PROF_FRAME_PY)) fprintf(f, " 0x%016" PRIx64, s->frames[k]);
        fputc('\n', f);
    }
    fputs("\nMAPPED_LIBRARIES:\n", f);
    for (uint32_t i = 0; i < p->nmods; i++) {
        const struct hs_prof_module *m = &p->mods[i];
        const char *path = m->path[0] ? m->path : p->h.exe;
        if (path[0] != '/') continue;
        for (unsigned k = 0; k < m->nsegs; k++) {
            const struct hs_prof_segment *sg = &m->segs[k];
            uint64_t start = sg->start & ~(uint64_t)4095, end = (sg->end + 4095) & ~(uint64_t)4095;
            fprintf(f, "%012" PRIx64 "-%012" PRIx64 " %c%c%cp %08" PRIx64 " 00:00 0 %s\n", start, end,
                    (sg->flags & 4) ? 'r' : '-', (sg->flags & 2) ? 'w' : '-', (sg->flags & 1) ? 'x' : '-',
                    sg->offset & ~(uint64_t)4095, path);
        }
    }
}

static struct fstack *collect(const struct profile *p, const struct opts *o, struct symbolizer *sy, size_t *n)
{
    struct fstack *v = calloc(p->nst + 1, sizeof *v);
    size_t k = 0;
    *n = 0;
    if (!v) return NULL;
    for (uint32_t i = 0; i < p->nst; i++) {
        const struct pstack *s = &p->st[i];
        if (!dom_ok(o, s) || !(value_of(s, o->alloc) > 0)) continue;
        v[k].names = names_root_first(sy, s, &v[k].n);
        if (!v[k].names) continue;
        v[k].value = value_of(s, o->alloc);
        k++;
    }
    *n = k;
    return v;
}

static void free_collect(struct fstack *v, size_t n)
{
    for (size_t i = 0; i < n; i++) free_names(v[i].names, v[i].n);
    free(v);
}

static void print_collapsed(FILE *f, struct fstack *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (unsigned k = 0; k < v[i].n; k++) {
            for (const char *c = v[i].names[k]; *c; c++) fputc(*c == ';' || *c == '\n' ? ':' : *c, f);
            fputc(k + 1 < v[i].n ? ';' : ' ', f);
        }
        fprintf(f, "%.0f\n", v[i].value);
    }
}

int profile_write(const struct profile *p0, const char *format, int alloc, const char *domain, long top,
                  FILE *f)
{
    struct profile p = *p0;
    struct opts o = { format, NULL, NULL, domain, alloc, top, PROFILE_FRAMES_ALL };
    g_alloc = alloc;
    qsort(p.st, p.nst, sizeof *p.st, by_value);
    struct symbolizer *sy = sym_open(&p);
    int rc = 0;
    if (!strcmp(format, "top")) {
        print_top(f, &p, &o, sy);
    } else if (!strcmp(format, "pprof")) {
        print_pprof(f, &p, &o);
    } else if (!strcmp(format, "pb")) {
        char err[256];
        rc = pprof_pb_write(&p, sy, domain, alloc, f, err, sizeof err);
        if (rc != 0) warnx_("%s", err);
    } else {
        size_t n = 0;
        struct fstack *v = collect(&p, &o, sy, &n);
        if (!v) rc = -1;
        else if (!strcmp(format, "collapsed")) print_collapsed(f, v, n);
        else {
            char title[400];
            const char *exe = strrchr(p.h.exe, '/');
            snprintf(title, sizeof title, "%s, pid %d: %s", exe ? exe + 1 : p.h.exe, p.h.pid,
                     alloc ? "bytes allocated since start" : "live bytes");
            rc = flame_svg(f, v, n, title, "bytes");
        }
        free_collect(v, n);
    }
    sym_close(sy);
    return rc;
}

/* ---- diff ------------------------------------------------------------------------ */

struct keyed { char *key; double base, now; };

static int by_growth(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    double gx = x->now - x->base, gy = y->now - y->base;
    return (gx < gy) - (gx > gy);
}

static void add_keys(struct keyed **v, size_t *n, size_t *capn, const struct profile *p, int alloc, int which)
{
    struct symbolizer *sy = sym_open(p);
    for (uint32_t i = 0; i < p->nst; i++) {
        const struct pstack *s = &p->st[i];
        char key[8192];
        size_t len = (size_t)snprintf(key, sizeof key, "%s", dom_name[s->dom]);
        for (unsigned k = 0; k < s->depth && len < sizeof key - 600; k++) {
            char buf[512];
            len += (size_t)snprintf(key + len, sizeof key - len, " < %s", sym_name(sy, s->frames[k], buf, sizeof buf));
        }
        size_t j;
        for (j = 0; j < *n; j++)
            if (!strcmp((*v)[j].key, key)) break;
        if (j == *n) {
            if (*n == *capn) {
                *capn = *capn ? *capn * 2 : 64;
                *v = realloc(*v, *capn * sizeof **v);
                if (!*v) die_bad("out of memory");
            }
            (*v)[j] = (struct keyed){ strdup(key), 0, 0 };
            (*n)++;
        }
        if (which) (*v)[j].now += value_of(s, alloc);
        else (*v)[j].base += value_of(s, alloc);
    }
    sym_close(sy);
}

static int do_diff(const char *a, const char *b, const struct opts *o)
{
    struct profile pa, pb;
    char err[4400];
    if (profile_load(a, o->dir, &pa, err, sizeof err) != 0) die_bad("%s", err);
    if (profile_load(b, o->dir, &pb, err, sizeof err) != 0) die_bad("%s", err);
    profile_frames(&pa, o->frames);
    profile_frames(&pb, o->frames);
    struct keyed *v = NULL;
    size_t n = 0, capn = 0;
    add_keys(&v, &n, &capn, &pa, o->alloc, 0);
    add_keys(&v, &n, &capn, &pb, o->alloc, 1);
    if (n > 1) qsort(v, n, sizeof *v, by_growth);
    double ta = 0, tb = 0;
    for (size_t i = 0; i < n; i++) ta += v[i].base, tb += v[i].now;
    char b1[16], b2[16];
    printf("%s: %s -> %s: %s -> %s\n", o->alloc ? "allocated" : "live (estimated)", a, b,
           human_bytes((uint64_t)llround(ta), b1), human_bytes((uint64_t)llround(tb), b2));
    printf("  %11s %10s %10s  %s\n", "growth", "base", "new", "stack (innermost first)");
    long shown = 0;
    for (size_t i = 0; i < n && shown < o->top; i++) {
        double g = v[i].now - v[i].base;
        if (g <= 0) break;
        char b3[16];
        printf("  %+10.0fK %10s %10s  %s\n", g / 1024, human_bytes((uint64_t)llround(v[i].base), b1),
               human_bytes((uint64_t)llround(v[i].now), b3), v[i].key);
        shown++;
    }
    if (!shown) puts("  (no stack grew)");
    for (size_t i = 0; i < n; i++) free(v[i].key);
    free(v);
    profile_free(&pa);
    profile_free(&pb);
    return 0;
}

/* The one decision of `heapshim diff A B` between run reports and heap
 * profiles: profiles when an operand is a file whose content starts with
 * the profile magic (profile_is_file). */
int profile_diff_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-' && profile_is_file(argv[i])) return 1;
    return 0;
}

int cmd_profile_diff(int argc, char **argv)
{
    struct opts o = { "top", NULL, NULL, NULL, 0, 10, PROFILE_FRAMES_ALL };
    const char *files[2];
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--alloc")) o.alloc = 1;
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            uint64_t v;
            if (parse_u64(argv[++i], 1, 100000, &v)) die_bad("-n '%s': not a number (accepted: 1..100000)", argv[i]);
            o.top = (long)v;
        } else if (!strcmp(argv[i], "--frames")) {
            o.frames = frames_opt(i + 1 < argc ? argv[++i] : NULL);
        } else if (!strcmp(argv[i], "--diff")) {
        } else if (is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) die_bad("unknown option '%s' for a profile diff (accepted: --alloc, -n N, --frames F)", argv[i]);
        else if (nf < 2) files[nf++] = argv[i];
        else die_bad("too many profiles ('%s'): a profile diff takes BASE and NEW", argv[i]);
    }
    if (nf != 2) die_bad("a profile diff takes two profiles, BASE and NEW (got %d)", nf);
    return do_diff(files[0], files[1], &o);
}

int cmd_profile(int argc, char **argv)
{
    struct opts o = { "top", NULL, NULL, NULL, 0, 10, PROFILE_FRAMES_ALL };
    const char *what = NULL, *v;
    /* the one option parser (tools/opts.c): --opt=VALUE, --output, `--`,
     * `-o -` for standard output, values that look like options refused */
    enum { O_FORMAT = 1, O_OUT, O_DIR, O_DOMAIN, O_ALLOC, O_FRAMES, O_N, O_DIFF };
    static const struct opt opts[] = {
        { "--format", "-f", "top|pprof|pb|collapsed|svg", O_FORMAT, 0 },
        { "-o", "--output", "OUT|-", O_OUT, OPT_NAME | OPT_STDIO },
        { "--dir", NULL, "DIR", O_DIR, OPT_NAME },
        { "--domain", NULL, "raw|mem|obj", O_DOMAIN, 0 },
        { "--alloc", NULL, NULL, O_ALLOC, 0 },
        { "--frames", NULL, "all|python|native", O_FRAMES, 0 },
        { "-n", NULL, "N", O_N, 0 },
        { "--diff", NULL, NULL, O_DIFF, 0 },
        { NULL, NULL, NULL, 0, 0 },
    };
    struct optstate st = { argc, argv, opts, 0, 0, 0 };
    int id;
    while ((id = opt_next(&st, &v)) != OPT_END) {
        if (id == OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        } else if (id == O_DIFF) {
            return cmd_profile_diff(argc, argv);
        } else if (id == O_FORMAT) {
            o.format = v;
            if (strcmp(o.format, "top") && strcmp(o.format, "pprof") && strcmp(o.format, "pb") &&
                strcmp(o.format, "collapsed") && strcmp(o.format, "svg"))
                die_bad("--format '%s': unknown (accepted: top, pprof, pb, collapsed, svg)", o.format);
            if (!strcmp(o.format, "pb") && !pprof_pb_available())
                die_bad("--format pb: this heapshim was built without protobuf-c and zlib (install "
                        "libprotobuf-c-dev, protobuf-c-compiler, zlib1g-dev and rebuild)");
        } else if (id == O_OUT) {
            o.out = strcmp(v, "-") ? v : NULL;   /* -: standard output */
        } else if (id == O_DIR) {
            o.dir = v;
        } else if (id == O_DOMAIN) {
            o.domain = v;
            if (strcmp(o.domain, "raw") && strcmp(o.domain, "mem") && strcmp(o.domain, "obj"))
                die_bad("--domain '%s': unknown (accepted: raw, mem, obj)", o.domain);
        } else if (id == O_ALLOC) {
            o.alloc = 1;
        } else if (id == O_FRAMES) {
            o.frames = frames_opt(v);
        } else if (id == O_N) {
            uint64_t n;
            if (parse_u64(v, 1, 100000, &n)) die_bad("-n '%s': not a number (accepted: 1..100000)", v);
            o.top = (long)n;
        } else if (!what) {
            what = v;
        } else {
            die_bad("one process or file at a time (got '%s' and '%s')", what, v);
        }
    }
    if (!what)
        die_bad("no PID or profile file given (usage: heapshim profile PID|FILE.prof [options]; see heapshim profile --help)");
    if (o.frames == PROFILE_FRAMES_PYTHON && !strcmp(o.format, "pprof"))
        die_bad("--frames python with --format pprof: google-pprof's text holds addresses only "
                "(accepted: --frames python with top, pb, collapsed or svg)");
    if (!strcmp(o.format, "pb") && !o.out && isatty(STDOUT_FILENO))
        die_bad("--format pb writes compressed binary: give -o FILE.pb.gz or redirect standard output");
    struct profile p;
    char err[4400];
    if (profile_load(what, o.dir, &p, err, sizeof err) != 0) die_bad("%s", err);
    profile_frames(&p, o.frames);
    /* -o FILE: never the profile just read; an output file like the other
     * commands' (out_create: no symbolic link followed, a FIFO nobody reads
     * an error), made in memory and renamed into place whole */
    if (o.out && same_file(o.out, p.source))
        die_bad("-o %s: the same file as the profile %s (accepted: another file, or - for stdout)", o.out,
                p.source);
    struct outfile of;
    char *text = NULL;
    size_t len = 0;
    FILE *f = stdout;
    if (o.out) {
        if (out_create(&of, o.out, err, sizeof err)) die_bad("-o %s: %s", o.out, err);
        f = open_memstream(&text, &len);
        if (!f) {
            out_abort(&of);
            die_bad("-o %s: out of memory", o.out);
        }
    }
    int rc = profile_write(&p, o.format, o.alloc, o.domain, o.top, f);
    err[0] = 0;
    if (o.out) {
        if (fclose(f) != 0) rc = -1;
        if (rc == 0 && out_write(&of, text, len) != 0) {
            snprintf(err, sizeof err, ": %s", strerror(errno));
            rc = -1;
        }
        if (rc != 0) out_abort(&of);
        else if (out_commit(&of, err + 2, sizeof err - 2) != 0) {
            memcpy(err, ": ", 2);
            rc = -1;
        }
        free(text);
    } else if (fflush(f) != 0) rc = -1;
    profile_free(&p);
    if (rc != 0) die_bad("%s: write failed%s", o.out ? o.out : "stdout", err);
    return 0;
}

/* live bytes at exit, or (nothing sampled was live then, or a CPython
 * process, which frees its objects as it finalizes) bytes allocated since
 * start: the choice for a finished process's top and files */
static int exit_view_alloc(const struct profile *p)
{
    double live = 0;
    for (uint32_t i = 0; i < p->nst; i++) live += p->st[i].live_bytes;
    return !(live > 0) || p->npyf > 0;
}

void profile_print_top(struct profile *p, const char *path, FILE *f)
{
    int alloc = exit_view_alloc(p);
    bool python = p->npyf > 0;
    if (python) profile_frames(p, PROFILE_FRAMES_PYTHON);
    profile_write(p, "top", alloc, NULL, 10, f);
    if (python)
        fprintf(f, "  (Python frames only; the C frames too: heapshim profile %s%s --frames all)\n", path,
                alloc ? " --alloc" : "");
}

/* ---- run --profile DIR ------------------------------------------------------------ */

static int write_one(const struct profile *p, const char *dir, const char *ext, const char *format, int alloc)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%d.%s", dir, p->h.pid, ext);
    FILE *f = fopen(path, "we");
    if (!f) return -1;
    int rc = profile_write(p, format, alloc, NULL, 10, f);
    if (fclose(f) != 0) rc = -1;
    return rc;
}

/* After `heapshim run --profile DIR`: the processes that exited wrote
 * DIR/<pid>.prof themselves (HEAPSHIM_PROFILE_OUT); the last file of each
 * tracked process that did not (killed by a signal) is copied from the live
 * directory. Then every DIR/<pid>.prof gets <pid>.heap (google-pprof text),
 * <pid>.collapsed, <pid>.svg and (built with protobuf-c) <pid>.pb.gz next to it. Returns the number of profiles. */
int profile_run_collect(const char *dir, const char *live, const int *pids, int npids)
{
    char path[4400], err[4400];
    for (int i = 0; i < npids; i++) {
        snprintf(path, sizeof path, "%s/%d.prof", dir, pids[i]);
        if (access(path, F_OK) == 0) continue;
        char lp[4400];
        snprintf(lp, sizeof lp, "%s/%d.prof", live, pids[i]);
        if (access(lp, F_OK) != 0) continue;           /* it never sampled */
        if (profile_copy_live(pids[i], live, path, err, sizeof err) != 0)
            warnx_("pid %d: its last profile not kept: %s", pids[i], err);
    }
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".prof") || de->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct profile p;
        if (profile_load(path, NULL, &p, err, sizeof err) != 0) {
            warnx_("%s", err);
            continue;
        }
        /* the collapsed stacks and the flame graph show live bytes at exit;
         * bytes allocated since start when nothing sampled was live then, or
         * for a CPython process, which frees its objects as it finalizes
         * (the legacy text and the protobuf carry both) */
        int alloc = exit_view_alloc(&p);
        if (write_one(&p, dir, "heap", "pprof", 0) || write_one(&p, dir, "collapsed", "collapsed", alloc) ||
            write_one(&p, dir, "svg", "svg", alloc) || (pprof_pb_available() && write_one(&p, dir, "pb.gz", "pb", 0)))
            warnx_("%s: cannot write its outputs in %s", de->d_name, dir);
        else n++;
        profile_free(&p);
    }
    closedir(d);
    return n;
}
