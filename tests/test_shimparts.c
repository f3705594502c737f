/*
 * tests/test_shimparts.c - the shim's malloc-free parts, tested on their own:
 * process identity (core/prim/proc.c), the live file (interpose/livefile.c)
 * and the exit report and table (interpose/report.c).
 *
 * interpose/ is not in libheapshim.a, so its two files are compiled into this
 * program directly. The report is parsed back with Python's strict JSON
 * parser (a reader independent of the writer). This program defines malloc &
 * co. as counting wrappers around glibc's, to prove that the code under test
 * never allocates (it runs inside the first malloc of a process).
 *
 * Run as "test_shimparts --report-child PATH ARGS..." it is the child that
 * the escaping tests exec with awkward arguments.
 */
#include "../interpose/report.c"
#include "../interpose/livefile.c"
#include "../core/prim/proc.h"
#include "testutil.h"
#include <heapshim.h>
#include <heapshim/live.h>
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* a live region of n slots, as the shim sizes it */
#define TS_REGION_SIZE(n) (sizeof(struct hs_live_header) + (size_t)(n) * sizeof(struct hs_live_slot))

static int g_argc;
static char **g_argv;
static char g_base[64];            /* private temporary directory of this run */

/* ---- counting malloc (not under AddressSanitizer, which owns malloc) ---- */
#if defined(__SANITIZE_ADDRESS__)
#define TS_COUNT_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_COUNT_MALLOC 0
#endif
#endif
#ifndef TS_COUNT_MALLOC
#define TS_COUNT_MALLOC 1
#endif

static volatile int ts_watch;
static volatile unsigned ts_allocs;
#if TS_COUNT_MALLOC
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void  __libc_free(void *);
#define TS_EXPORT __attribute__((visibility("default")))
TS_EXPORT void *malloc(size_t n) { if (ts_watch) ts_allocs++; return __libc_malloc(n); }
TS_EXPORT void *calloc(size_t a, size_t b) { if (ts_watch) ts_allocs++; return __libc_calloc(a, b); }
TS_EXPORT void *realloc(void *p, size_t n) { if (ts_watch) ts_allocs++; return __libc_realloc(p, n); }
TS_EXPORT void free(void *p) { if (ts_watch && p) ts_allocs++; __libc_free(p); }
#endif

/* ---- small helpers -------------------------------------------------------- */

static void at(char *out, const char *name)
{
    if (snprintf(out, PATH_MAX, "%s/%s", g_base, name) >= PATH_MAX) abort();
}

static ssize_t read_all(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t got = 0;
    ssize_t r;
    while (got < cap && (r = read(fd, buf + got, cap - got)) > 0) got += (size_t)r;
    close(fd);
    return (ssize_t)got;
}

static uint64_t now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *python(void)
{
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* argv joined by single spaces: what the report's "command" must say */
static void join_args(char **argv, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; argv[i]; i++)
        n += (size_t)snprintf(out + n, cap - n, i ? " %s" : "%s", argv[i]);
}

/* ---- a parsed JSON document, flattened by Python -------------------------- */
/* Each node becomes "path<TAB>type<TAB>value": type { or [ with the number of
 * members, i integer, s string (UTF-8 bytes in hex), b bool, ? anything else.
 * The parse is strict: valid UTF-8, no NaN, no duplicate keys. */
static const char py_flatten[] =
    "import json,sys\n"
    "def bad(x): raise ValueError(x)\n"
    "def obj(kv):\n"
    "    if len(set(k for k,_ in kv)) != len(kv): bad('duplicate key')\n"
    "    return dict(kv)\n"
    "d = json.loads(open(sys.argv[1],'rb').read().decode('utf-8'), parse_constant=bad, object_pairs_hook=obj)\n"
    "def walk(p, v):\n"
    "    if isinstance(v, dict):\n"
    "        print('%s\\t{\\t%d' % (p, len(v)))\n"
    "        for k, x in v.items(): walk(p + '.' + k if p else k, x)\n"
    "    elif isinstance(v, list):\n"
    "        print('%s\\t[\\t%d' % (p, len(v)))\n"
    "        for i, x in enumerate(v): walk('%s.%d' % (p, i), x)\n"
    "    elif isinstance(v, bool): print('%s\\tb\\t%d' % (p, v))\n"
    "    elif isinstance(v, int): print('%s\\ti\\t%d' % (p, v))\n"
    "    elif isinstance(v, str): print('%s\\ts\\t%s' % (p, v.encode('utf-8').hex()))\n"
    "    else: print('%s\\t?\\t' % p)\n"
    "walk('', d)\n";

struct jent { char *path; char type; char *val; };
struct jdoc { int n; struct jent e[1024]; };   /* a report flattens to about 400 nodes */

static void jdoc_free(struct jdoc *d)
{
    for (int i = 0; i < d->n; i++) {
        free(d->e[i].path);
        free(d->e[i].val);
    }
    d->n = 0;
}

/* 0 when the file parsed; the flattened nodes in *d */
static int jdoc_load(const char *file, struct jdoc *d)
{
    char script[PATH_MAX];
    at(script, "flatten.py");
    FILE *s = fopen(script, "w");
    if (!s) return -1;
    fputs(py_flatten, s);
    fclose(s);
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "%s %s %s", python(), script, file);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    d->n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, p)) > 0 && d->n < (int)(sizeof d->e / sizeof *d->e)) {
        if (line[len - 1] == '\n') line[--len] = 0;
        char *t1 = strchr(line, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) continue;
        *t1 = *t2 = 0;
        d->e[d->n].path = strdup(line);
        d->e[d->n].type = t1[1];
        d->e[d->n].val = strdup(t2 + 1);
        d->n++;
    }
    free(line);
    return pclose(p) == 0 && d->n > 0 ? 0 : -1;
}

static const struct jent *jget(const struct jdoc *d, const char *path)
{
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->e[i].path, path)) return &d->e[i];
    return NULL;
}

/* integer at path; records a failure (and returns UINT64_MAX) if absent,
 * not an integer, negative or above 2^63-1 */
static uint64_t jint(const struct jdoc *d, const char *path)
{
    const struct jent *e = jget(d, path);
    if (!e || e->type != 'i' || e->val[0] == '-') {
        fprintf(stderr, "  report: %s is not a non-negative integer\n", path);
        CU_FAIL("report field missing or not a non-negative integer");
        return UINT64_MAX;
    }
    errno = 0;
    unsigned long long v = strtoull(e->val, NULL, 10);
    CU_ASSERT(errno == 0 && v <= (unsigned long long)INT64_MAX);
    return v;
}

/* string at path, decoded from hex into out */
static int jstr(const struct jdoc *d, const char *path, char *out, size_t cap)
{
    const struct jent *e = jget(d, path);
    if (!e || e->type != 's') return -1;
    size_t n = strlen(e->val) / 2;
    if (n >= cap) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        if (sscanf(e->val + 2 * i, "%2x", &x) != 1) return -1;
        out[i] = (char)x;
    }
    out[n] = 0;
    return 0;
}

static int jcount(const struct jdoc *d, const char *path, char type)
{
    const struct jent *e = jget(d, path);
    return e && e->type == type ? atoi(e->val) : -1;
}

static const char *const dom_keys[] = { "live_bytes", "live_blocks", "peak_bytes", "allocs",
                                        "reallocs", "frees", "failed" };

/* Every field of docs/report-schema.md, with its type, and nothing else. */
static void check_schema_shape(const struct jdoc *d)
{
    static const char *const root_ints[] = { "pid", "ppid", "started_unix_ns", "ended_unix_ns",
                                             "rss_peak_bytes", "rss_anon_bytes", "rss_anon_peak_bytes" };
    static const char *const mapped_ints[] = { "live_bytes", "peak_bytes", "maps", "unmaps", "remaps",
                                               "protects", "discards", "discard_bytes" };
    static const char *const arena_ints[] = { "arena_size", "pool_size", "arenas_mapped",
                                              "arenas_peak", "bytes_mapped", "pools_used",
                                              "pools_free" };
    char p[128], s[64];
    CU_ASSERT_EQUAL(jcount(d, "", '{'), 15);
    CU_ASSERT(jstr(d, "schema", s, sizeof s) == 0 && !strcmp(s, "heapshim-report/2"));
    /* mapped memory (schema 2): eight numbers and the three domains' live/peak */
    CU_ASSERT_EQUAL(jcount(d, "mapped", '{'), 9);
    for (unsigned i = 0; i < sizeof mapped_ints / sizeof *mapped_ints; i++) {
        snprintf(p, sizeof p, "mapped.%s", mapped_ints[i]);
        jint(d, p);
    }
    CU_ASSERT_EQUAL(jcount(d, "mapped.domains", '{'), 3);
    uint64_t msum = 0;
    for (int k = 0; k < 3; k++) {
        static const char *const md[] = { "raw", "mem", "obj" };
        snprintf(p, sizeof p, "mapped.domains.%s", md[k]);
        CU_ASSERT_EQUAL(jcount(d, p, '{'), 2);
        snprintf(p, sizeof p, "mapped.domains.%s.live_bytes", md[k]);
        msum += jint(d, p);
    }
    CU_ASSERT_EQUAL(msum, jint(d, "mapped.live_bytes"));
    CU_ASSERT(jint(d, "mapped.live_bytes") <= jint(d, "mapped.peak_bytes"));
    CU_ASSERT(jstr(d, "exit_kind", s, sizeof s) == 0 && !strcmp(s, "exit"));
    CU_ASSERT(jget(d, "command") && jget(d, "command")->type == 's');
    CU_ASSERT(jget(d, "allocator") && jget(d, "allocator")->type == 's');
    for (unsigned i = 0; i < sizeof root_ints / sizeof *root_ints; i++) jint(d, root_ints[i]);
    CU_ASSERT_EQUAL(jcount(d, "domains", '{'), 3);
    static const char *const doms[] = { "domains.raw", "domains.mem", "domains.obj", "total" };
    for (int k = 0; k < 4; k++) {
        CU_ASSERT_EQUAL(jcount(d, doms[k], '{'), 7);
        for (int f = 0; f < 7; f++) {
            snprintf(p, sizeof p, "%s.%s", doms[k], dom_keys[f]);
            jint(d, p);
        }
    }
    CU_ASSERT_EQUAL(jcount(d, "arenas", '{'), 8);
    for (unsigned i = 0; i < sizeof arena_ints / sizeof *arena_ints; i++) {
        snprintf(p, sizeof p, "arenas.%s", arena_ints[i]);
        jint(d, p);
    }
    CU_ASSERT_EQUAL(jint(d, "arenas.arena_size"), HS_ARENA_SIZE);
    CU_ASSERT_EQUAL(jint(d, "arenas.pool_size"), HS_POOL_SIZE);
    CU_ASSERT_EQUAL(jcount(d, "arenas.size_classes", '['), HS_NCLASSES);
    for (int c = 0; c < (int)HS_NCLASSES; c++) {
        snprintf(p, sizeof p, "arenas.size_classes.%d", c);
        CU_ASSERT_EQUAL(jcount(d, p, '{'), 3);
        snprintf(p, sizeof p, "arenas.size_classes.%d.size", c);
        CU_ASSERT_EQUAL(jint(d, p), (uint64_t)(c + 1) * 16);
        snprintf(p, sizeof p, "arenas.size_classes.%d.blocks_in_use", c);
        jint(d, p);
        snprintf(p, sizeof p, "arenas.size_classes.%d.pools", c);
        jint(d, p);
    }
}

static uint64_t field_of(const hs_domain_stats_t *s, int f)
{
    const uint64_t v[7] = { s->live_bytes, s->live_blocks, s->peak_bytes, s->allocs,
                            s->reallocs, s->frees, s->failed };
    return v[f];
}

/* ---- report: path templates ---------------------------------------------- */

static void test_expand_good(void)
{
    char out[256], want[256];
    CU_ASSERT_EQUAL(hs_report_expand_path("/tmp/r-%p.json", out, sizeof out), 0);
    snprintf(want, sizeof want, "/tmp/r-%d.json", (int)getpid());
    CU_ASSERT_STRING_EQUAL(out, want);
    CU_ASSERT_EQUAL(hs_report_expand_path("a%%b%p%%%p", out, sizeof out), 0);
    snprintf(want, sizeof want, "a%%b%d%%%d", (int)getpid(), (int)getpid());
    CU_ASSERT_STRING_EQUAL(out, want);
    CU_ASSERT_EQUAL(hs_report_expand_path("plain", out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "plain");
    CU_ASSERT_EQUAL(hs_report_expand_path("%%", out, 2), 0);   /* exactly fits */
    CU_ASSERT_STRING_EQUAL(out, "%");
}

static void test_expand_bad(void)
{
    char out[64];
    static const char *const bad[] = { "%x", "r-%P", "r-%", "%", "a%d", "%s%p", "x%%%", "" };
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++)
        CU_ASSERT_EQUAL(hs_report_expand_path(bad[i], out, sizeof out), -1);
    CU_ASSERT_EQUAL(hs_report_expand_path(NULL, out, sizeof out), -1);
    CU_ASSERT_EQUAL(hs_report_expand_path("abc", out, 3), -1);         /* no room for NUL */
    CU_ASSERT_EQUAL(hs_report_expand_path("%p", out, 2), -1);          /* pid does not fit */
    CU_ASSERT_EQUAL(hs_report_expand_path("abc", out, 0), -1);
}

/* ---- report: contents ---------------------------------------------------- */

static void test_report_fields_and_numbers(void)
{
    hs_domain_stats_t before[3], after[3], total;
    hs_arena_stats_t ar0, ar;
    for (int d = 0; d < 3; d++) CU_ASSERT_FATAL(hs_domain_stats((hs_domain_t)d, &before[d]) == 0);
    CU_ASSERT_FATAL(hs_arena_stats(&ar0) == 0);

    /* a known sequence: MEM 10 x 100 B (class 112), 3 freed; OBJ 4 x 1000 B
     * (large), one resized, one freed; RAW 2 x 50 B */
    void *m[10], *o[4], *r[2];
    for (int i = 0; i < 10; i++) m[i] = hs_mem_malloc(100);
    for (int i = 0; i < 3; i++) hs_mem_free(m[i]);
    for (int i = 0; i < 4; i++) o[i] = hs_obj_malloc(1000);
    o[1] = hs_obj_realloc(o[1], 3000);
    hs_obj_free(o[0]);
    for (int i = 0; i < 2; i++) r[i] = hs_raw_malloc(50);

    for (int d = 0; d < 3; d++) CU_ASSERT_FATAL(hs_domain_stats((hs_domain_t)d, &after[d]) == 0);
    CU_ASSERT_FATAL(hs_total_stats(&total) == 0);
    CU_ASSERT_FATAL(hs_arena_stats(&ar) == 0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t t0 = now_unix_ns(), started = t0 - 5000000000ull;

    char tmpl[PATH_MAX], path[PATH_MAX];
    at(tmpl, "rep-%p.json");
    hs_report_expand_path(tmpl, path, sizeof path);
    const char *why = NULL;
    int rc = hs_report_write(tmpl, "pymalloc_debug", started, &why);
    uint64_t t1 = now_unix_ns();
    if (rc) fprintf(stderr, "  hs_report_write: %s\n", why);
    CU_ASSERT_FATAL(rc == 0);

    struct jdoc *d = calloc(1, sizeof *d);
    CU_ASSERT_FATAL(jdoc_load(path, d) == 0);
    check_schema_shape(d);

    char s[8192], want[8192];
    CU_ASSERT_EQUAL(jint(d, "pid"), (uint64_t)getpid());
    CU_ASSERT_EQUAL(jint(d, "ppid"), (uint64_t)getppid());
    join_args(g_argv, want, sizeof want);
    CU_ASSERT(jstr(d, "command", s, sizeof s) == 0 && !strcmp(s, want));
    CU_ASSERT(jstr(d, "allocator", s, sizeof s) == 0 && !strcmp(s, "pymalloc_debug"));
    CU_ASSERT_EQUAL(jint(d, "started_unix_ns"), started);
    CU_ASSERT(jint(d, "ended_unix_ns") >= t0 && jint(d, "ended_unix_ns") <= t1);
    CU_ASSERT(jint(d, "rss_peak_bytes") >= (uint64_t)ru.ru_maxrss * 1024);

    /* the report says what the API says ... */
    static const char *const names[] = { "raw", "mem", "obj" };
    char p[128];
    for (int k = 0; k < 3; k++)
        for (int f = 0; f < 7; f++) {
            snprintf(p, sizeof p, "domains.%s.%s", names[k], dom_keys[f]);
            CU_ASSERT_EQUAL(jint(d, p), field_of(&after[k], f));
        }
    for (int f = 0; f < 7; f++) {
        snprintf(p, sizeof p, "total.%s", dom_keys[f]);
        CU_ASSERT_EQUAL(jint(d, p), field_of(&total, f));
    }
    CU_ASSERT_EQUAL(jint(d, "arenas.arenas_mapped"), ar.arenas_mapped);
    CU_ASSERT_EQUAL(jint(d, "arenas.arenas_peak"), ar.arenas_peak);
    CU_ASSERT_EQUAL(jint(d, "arenas.bytes_mapped"), ar.bytes_mapped);
    CU_ASSERT_EQUAL(jint(d, "arenas.pools_used"), ar.pools_used);
    CU_ASSERT_EQUAL(jint(d, "arenas.pools_free"), ar.pools_free);
    for (int c = 0; c < 32; c++) {
        snprintf(p, sizeof p, "arenas.size_classes.%d.blocks_in_use", c);
        CU_ASSERT_EQUAL(jint(d, p), ar.classes[c].blocks_in_use);
        snprintf(p, sizeof p, "arenas.size_classes.%d.pools", c);
        CU_ASSERT_EQUAL(jint(d, p), ar.classes[c].pools);
    }

    /* ... and the API saw exactly the sequence above */
    const hs_domain_stats_t *mb = &before[HS_DOMAIN_MEM], *ma = &after[HS_DOMAIN_MEM];
    const hs_domain_stats_t *ob = &before[HS_DOMAIN_OBJ], *oa = &after[HS_DOMAIN_OBJ];
    const hs_domain_stats_t *rb = &before[HS_DOMAIN_RAW], *ra = &after[HS_DOMAIN_RAW];
    CU_ASSERT_EQUAL(ma->allocs - mb->allocs, 10);
    CU_ASSERT_EQUAL(ma->frees - mb->frees, 3);
    CU_ASSERT_EQUAL(ma->live_blocks - mb->live_blocks, 7);
    CU_ASSERT_EQUAL(ma->live_bytes - mb->live_bytes, 7 * 112);
    CU_ASSERT_EQUAL(oa->allocs - ob->allocs, 4);
    CU_ASSERT_EQUAL(oa->reallocs - ob->reallocs, 1);
    CU_ASSERT_EQUAL(oa->frees - ob->frees, 1);
    CU_ASSERT_EQUAL(oa->live_blocks - ob->live_blocks, 3);
    CU_ASSERT(oa->live_bytes - ob->live_bytes >= 2 * 1000 + 3000);
    CU_ASSERT_EQUAL(ra->allocs - rb->allocs, 2);
    CU_ASSERT_EQUAL(ra->live_blocks - rb->live_blocks, 2);
    CU_ASSERT(ra->live_bytes - rb->live_bytes >= 2 * 50);
    CU_ASSERT_EQUAL(ar.classes[6].blocks_in_use - ar0.classes[6].blocks_in_use, 7);
    for (int k = 0; k < 3; k++) {
        CU_ASSERT(after[k].peak_bytes >= after[k].live_bytes);
        CU_ASSERT(after[k].allocs >= after[k].frees);
    }
    CU_ASSERT(total.peak_bytes >= total.live_bytes);

    for (int i = 3; i < 10; i++) hs_mem_free(m[i]);
    for (int i = 1; i < 4; i++) hs_obj_free(o[i]);
    for (int i = 0; i < 2; i++) hs_raw_free(r[i]);
    jdoc_free(d);
    free(d);
    unlink(path);
}

/* No temporary file stays behind; an existing report is replaced; a
 * symlink planted at the old temporary name is neither written through nor
 * removed (issue 14: the writer never deletes what it did not create). */
static void test_report_atomic(void)
{
    char tmpl[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX + 32], target[PATH_MAX];
    at(tmpl, "atomic-%p.json");
    hs_report_expand_path(tmpl, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    at(target, "precious");
    FILE *f = fopen(target, "w");
    fputs("precious", f);
    fclose(f);
    f = fopen(path, "w");
    fputs("old report", f);
    fclose(f);
    CU_ASSERT_FATAL(symlink(target, tmp) == 0);

    const char *why = NULL;
    CU_ASSERT_EQUAL(hs_report_write(tmpl, "pymalloc", 1, &why), 0);
    struct stat st;
    CU_ASSERT(lstat(tmp, &st) == 0 && S_ISLNK(st.st_mode));
    unlink(tmp);
    DIR *dd = opendir(g_base);
    CU_ASSERT_FATAL(dd != NULL);
    for (struct dirent *de; (de = readdir(dd));)
        CU_ASSERT(strstr(de->d_name, ".tmp.") == NULL);   /* nothing of ours left */
    closedir(dd);
    char buf[64];
    CU_ASSERT(read_all(target, buf, sizeof buf) == 8 && !memcmp(buf, "precious", 8));
    CU_ASSERT(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
    struct jdoc *d = calloc(1, sizeof *d);
    CU_ASSERT(jdoc_load(path, d) == 0);
    jdoc_free(d);
    free(d);
    unlink(path);
    unlink(target);
}

static void test_report_errors(void)
{
    const char *why = NULL;
    CU_ASSERT_EQUAL(hs_report_write("/tmp/r-%q", "pymalloc", 1, &why), -1);
    CU_ASSERT(why && strstr(why, "/tmp/r-%q") && strstr(why, "%p"));
    char tmpl[PATH_MAX];
    at(tmpl, "no-such-dir/r.json");
    why = NULL;
    CU_ASSERT_EQUAL(hs_report_write(tmpl, "pymalloc", 1, &why), -2);   /* the directory is missing */
    CU_ASSERT(why && strstr(why, "no-such-dir") && strstr(why, "ENOENT"));
    CU_ASSERT(!hs_report_dir_exists(tmpl));
    at(tmpl, "r.json");
    CU_ASSERT(hs_report_dir_exists(tmpl));
    why = NULL;
    char dir[PATH_MAX];
    at(dir, "a-dir");   /* the final name is a directory: rename must fail */
    mkdir(dir, 0700);
    CU_ASSERT_EQUAL(hs_report_write(dir, "pymalloc", 1, &why), -1);
    CU_ASSERT(why && strstr(why, "a-dir"));
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", dir, (int)getpid());
    CU_ASSERT(access(tmp, F_OK) != 0);   /* cleaned up */
    rmdir(dir);
}

/* Run this program again as "--report-child PATH args..." */
static int run_report_child(char **args)
{
    pid_t pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", args);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_report_command_escaping(void)
{
    char path[PATH_MAX];
    at(path, "escape.json");
    char *args[] = { g_argv[0], "--report-child", path, "say \"hi\"", "line1\nline2",
                     "back\\slash", "tab\there", "ctl\x01\x1f\x7f", "utf8 \xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x8e\x89",
                     "/", NULL };
    CU_ASSERT_EQUAL_FATAL(run_report_child(args), 0);
    struct jdoc *d = calloc(1, sizeof *d);
    CU_ASSERT_FATAL(jdoc_load(path, d) == 0);
    check_schema_shape(d);
    char want[4096], got[4096];
    join_args(args, want, sizeof want);
    CU_ASSERT(jstr(d, "command", got, sizeof got) == 0);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT(jstr(d, "allocator", got, sizeof got) == 0 && !strcmp(got, "malloc"));
    jdoc_free(d);
    free(d);
    unlink(path);
}

/* A command longer than the report keeps is cut on a character boundary. */
static void test_report_long_command(void)
{
    char path[PATH_MAX];
    at(path, "long.json");
    static char arg[12001];
    for (int i = 0; i < 6000; i++) memcpy(arg + 2 * i, "\xc3\xa9", 2);   /* 6000 x U+00E9 */
    char *args[] = { g_argv[0], "--report-child", path, "x", arg, NULL };
    CU_ASSERT_EQUAL_FATAL(run_report_child(args), 0);
    struct jdoc *d = calloc(1, sizeof *d);
    CU_ASSERT_FATAL(jdoc_load(path, d) == 0);   /* strict UTF-8 */
    static char got[16384], want[16384];
    join_args(args, want, sizeof want);
    CU_ASSERT(jstr(d, "command", got, sizeof got) == 0);
    size_t n = strlen(got);
    CU_ASSERT(n > 4000 && n < RP_CMD_MAX);
    CU_ASSERT(strncmp(got, want, n) == 0);   /* a prefix, nothing replaced */
    jdoc_free(d);
    free(d);
    unlink(path);
}

static void test_json_escaper(void)
{
    char out[256];
    struct rp_buf b = { out, 0, sizeof out - 1, 0 };
    rp_put_json_string(&b, "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f|\xff|\xc3(|\xed\xa0\x80|\xf4\x90\x80\x80|"
                           "\xe0\x80\xaf|\xc3\xa9\xf0\x9f\x8e\x89");
    out[b.len] = 0;
    CU_ASSERT_STRING_EQUAL(out,
        "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f|\\ufffd|\\ufffd(|"
        "\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|"
        "\xc3\xa9\xf0\x9f\x8e\x89\"");
    /* a full buffer is an overflow, never a cut string */
    char small[8];
    struct rp_buf s = { small, 0, sizeof small, 0 };
    rp_put_json_string(&s, "0123456789");
    CU_ASSERT(s.overflow);
}

/* ---- table ------------------------------------------------------------------- */

static void test_human_units(void)
{
    static const struct { uint64_t v; const char *s; } cases[] = {
        { 0, "0 B" }, { 1023, "1023 B" }, { 1024, "1.0 KiB" }, { 1536, "1.5 KiB" },
        { 1048575, "1.0 MiB" }, { 10u << 20, "10.0 MiB" }, { (3ull << 30) + (1ull << 29), "3.5 GiB" },
        { 1127, "1.1 KiB" },
    };
    char out[40];
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        rp_human(out, sizeof out, cases[i].v);
        CU_ASSERT_STRING_EQUAL(out, cases[i].s);
    }
}

static void test_table(void)
{
    void *keep = hs_mem_malloc(2000);
    int fds[2];
    CU_ASSERT_FATAL(pipe(fds) == 0);
    hs_report_table(fds[1], "pymalloc");
    close(fds[1]);
    static char buf[8192];
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
    close(fds[0]);
    buf[n] = 0;
    hs_domain_stats_t mem;
    hs_domain_stats(HS_DOMAIN_MEM, &mem);
    hs_mem_free(keep);

    char *lines[16];
    int nl = 0;
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l && nl < 16; l = strtok_r(NULL, "\n", &save))
        lines[nl++] = l;
    CU_ASSERT_EQUAL_FATAL(nl, 8);
    CU_ASSERT(strstr(lines[0], "allocator pymalloc") != NULL);
    static const char *const rows[] = { "raw", "mem", "obj", "total" };
    size_t width = strlen(lines[1]);
    CU_ASSERT(strstr(lines[1], "domain") && strstr(lines[1], "reallocs") && strstr(lines[1], "failed"));
    for (int i = 0; i < 4; i++) {
        char name[16], u1[8], u2[8];
        double live, peak;
        unsigned long long blocks, allocs, reallocs, frees, failed;
        CU_ASSERT_EQUAL(strlen(lines[2 + i]), width);       /* aligned columns */
        int got = sscanf(lines[2 + i], "heapshim: %15s %lf %7s %lf %7s %llu %llu %llu %llu %llu", name,
                         &live, u1, &peak, u2, &blocks, &allocs, &reallocs, &frees, &failed);
        CU_ASSERT_EQUAL(got, 10);
        CU_ASSERT_STRING_EQUAL(name, rows[i]);
        if (i == 1 && got == 10) {
            CU_ASSERT_EQUAL(allocs, mem.allocs);
            CU_ASSERT_EQUAL(frees, mem.frees);
            CU_ASSERT_EQUAL(blocks, mem.live_blocks);
            CU_ASSERT(!strcmp(u1, "B") || !strcmp(u1, "KiB") || !strcmp(u1, "MiB") || !strcmp(u1, "GiB"));
        }
    }
    CU_ASSERT(strstr(lines[6], "mapped") != NULL);
    CU_ASSERT(strstr(lines[7], "arenas") && strstr(lines[7], "peak RSS"));
}

/* ---- live file ---------------------------------------------------------------- */

static void use_dir(const char *name, char *dir)
{
    at(dir, name);
    setenv("HEAPSHIM_DIR", dir, 1);
}

static void test_livefile_create(void)
{
    char dir[PATH_MAX], path[PATH_MAX], want[PATH_MAX + 16];
    use_dir("live", dir);                               /* missing: created */
    const char *why = NULL;
    size_t size = TS_REGION_SIZE(8);
    unsigned char *p = hs_livefile_create(size, path, sizeof path, &why);
    if (!p) fprintf(stderr, "  %s\n", why);
    CU_ASSERT_FATAL(p != NULL);
    snprintf(want, sizeof want, "%s/%d", dir, (int)getpid());
    CU_ASSERT_STRING_EQUAL(path, want);
    /* made under a hidden name, published under <pid> once the header is in */
    char hidden[PATH_MAX + 32];
    snprintf(hidden, sizeof hidden, "%s/.%d.new", dir, (int)getpid());
    CU_ASSERT(access(path, F_OK) != 0 && access(hidden, F_OK) == 0);
    CU_ASSERT(hs_livefile_publish(&why) == 0);
    CU_ASSERT(access(path, F_OK) == 0 && access(hidden, F_OK) != 0);
    struct stat st;
    CU_ASSERT(lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
    CU_ASSERT(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600);
    CU_ASSERT_EQUAL(st.st_uid, geteuid());
    CU_ASSERT_EQUAL((size_t)st.st_size, size);
    size_t nonzero = 0;
    for (size_t i = 0; i < size; i++) nonzero += p[i] != 0;
    CU_ASSERT_EQUAL(nonzero, 0);
    /* shared: what we write is in the file */
    memcpy(p + 100, "published", 9);
    char buf[128];
    CU_ASSERT(read_all(path, buf, sizeof buf) == 128 && !memcmp(buf + 100, "published", 9));
    hs_livefile_remove(path, true);
    CU_ASSERT(access(path, F_OK) != 0);
    munmap(p, size);

    /* a trailing slash is fine; the file goes in the directory */
    char slash[PATH_MAX + 2];
    snprintf(slash, sizeof slash, "%s/", dir);
    setenv("HEAPSHIM_DIR", slash, 1);
    p = hs_livefile_create(4096, path, sizeof path, &why);
    CU_ASSERT(p != NULL);
    CU_ASSERT_STRING_EQUAL(path, want);
    CU_ASSERT(hs_livefile_publish(&why) == 0);
    if (p) {
        hs_livefile_remove(path, true);
        munmap(p, 4096);
    }
    /* no room for the path: refused, nothing left behind */
    p = hs_livefile_create(4096, path, 8, &why);
    CU_ASSERT(p == NULL && why && strstr(why, "too long"));
    CU_ASSERT(access(want, F_OK) != 0);
}

static void expect_refused(const char *dir, const char *problem)
{
    char path[PATH_MAX], want[PATH_MAX + 16];
    const char *why = NULL;
    setenv("HEAPSHIM_DIR", dir, 1);
    void *p = hs_livefile_create(4096, path, sizeof path, &why);
    CU_ASSERT(p == NULL);
    CU_ASSERT(why && strstr(why, dir) && strstr(why, problem) && !strchr(why, '\n'));
    if (why && !(strstr(why, dir) && strstr(why, problem))) fprintf(stderr, "  why: %s\n", why);
    snprintf(want, sizeof want, "%s/%d", dir, (int)getpid());
    CU_ASSERT(access(want, F_OK) != 0);
    if (p) munmap(p, 4096);
}

static void test_livefile_refuses(void)
{
    char real[PATH_MAX], link[PATH_MAX], open_dir[PATH_MAX], file[PATH_MAX];
    at(real, "real");
    at(link, "link");
    mkdir(real, 0700);
    CU_ASSERT_FATAL(symlink(real, link) == 0);
    expect_refused(link, "symlink");

    at(open_dir, "wide-open");
    mkdir(open_dir, 0700);
    chmod(open_dir, 0777);
    expect_refused(open_dir, "mode 0777");
    chmod(open_dir, 0750);
    expect_refused(open_dir, "mode 0750");

    at(file, "a-file");
    close(open(file, O_WRONLY | O_CREAT, 0600));
    expect_refused(file, "not a directory");

    char missing_parent[PATH_MAX];
    at(missing_parent, "no/such/parent");
    expect_refused(missing_parent, "cannot create it");

    const char *why = NULL;
    char path[PATH_MAX];
    setenv("HEAPSHIM_DIR", "relative/dir", 1);
    CU_ASSERT(hs_livefile_create(4096, path, sizeof path, &why) == NULL);
    CU_ASSERT(why && strstr(why, "HEAPSHIM_DIR") && strstr(why, "absolute"));
}

static void test_livefile_refuses_other_owner(void)
{
    char dir[PATH_MAX];
    if (geteuid() != 0) {
        /* cannot chown a fixture: a directory of root's is someone else's */
        struct stat st;
        CU_ASSERT_FATAL(stat("/usr", &st) == 0 && st.st_uid == 0);
        expect_refused("/usr", "owned by uid 0");
        return;
    }
    at(dir, "nobodys");
    mkdir(dir, 0700);
    CU_ASSERT_FATAL(chown(dir, 65534, 65534) == 0);
    expect_refused(dir, "owned by uid 65534");
}

/* A symlink planted at <dir>/<pid> is replaced, never followed; a stale file
 * of an earlier process is replaced by a fresh zero-filled one. */
static void test_livefile_nofollow_and_stale(void)
{
    char dir[PATH_MAX], path[PATH_MAX], target[PATH_MAX], planted[PATH_MAX + 16];
    use_dir("nofollow", dir);
    mkdir(dir, 0700);
    at(target, "victim");
    FILE *f = fopen(target, "w");
    fputs("precious", f);
    fclose(f);
    snprintf(planted, sizeof planted, "%s/%d", dir, (int)getpid());
    CU_ASSERT_FATAL(symlink(target, planted) == 0);
    const char *why = NULL;
    size_t size = 8192;
    unsigned char *p = hs_livefile_create(size, path, sizeof path, &why);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT(hs_livefile_publish(&why) == 0);   /* the symlink replaced, not followed */
    memset(p, 'W', size);
    struct stat st;
    CU_ASSERT(lstat(planted, &st) == 0 && S_ISREG(st.st_mode));
    char buf[64];
    CU_ASSERT(read_all(target, buf, sizeof buf) == 8 && !memcmp(buf, "precious", 8));
    munmap(p, size);

    /* now a stale regular file (full of 'W') sits there: replaced, zeroed */
    p = hs_livefile_create(size, path, sizeof path, &why);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT(hs_livefile_publish(&why) == 0);
    CU_ASSERT(p[0] == 0 && p[size - 1] == 0);
    hs_livefile_remove(path, true);
    munmap(p, size);
    unlink(target);
}

static void test_livefile_default_dir(void)
{
    unsetenv("HEAPSHIM_DIR");
    char path[PATH_MAX], want[PATH_MAX];
    const char *why = NULL;
    void *p = hs_livefile_create(4096, path, sizeof path, &why);
    if (!p) fprintf(stderr, "  default dir: %s\n", why);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT(hs_livefile_publish(&why) == 0);
    snprintf(want, sizeof want, "/dev/shm/heapshim-%u/%d", (unsigned)geteuid(), (int)getpid());
    CU_ASSERT_STRING_EQUAL(path, want);
    hs_livefile_remove(path, true);
    munmap(p, 4096);
}

/* A fork made inside one of the core's dl_iterate_phdr calls (a signal
 * handler that forks while a sample reads the module list): the fork
 * handlers must not wait for that call to leave (it cannot before the
 * fork returns: 200 ms a fork before stop 30, and a timer that kept
 * interrupting made the program livelock), the child must never call
 * dl_iterate_phdr through the gate (the loader's lock may be held, and
 * glibc does not reset it in the child), and the parent's gate opens again
 * after the fork. Deterministic where tests/26-counters.sh's timer is not. */
static long dlfork_us = -1;
static int dlfork_child_status = -1;
static int dlfork_cb_noop(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)info; (void)size; (void)arg;
    return 1;
}
static int dlfork_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)info; (void)size;
    int *done = arg;
    if (*done) return 1;
    *done = 1;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid = fork();
    if (pid == 0) _exit(hs_dl_iterate(dlfork_cb_noop, NULL) ? 1 : 0);   /* 0: the gate stays shut */
    clock_gettime(CLOCK_MONOTONIC, &b);
    dlfork_us = (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000;
    int st = 0;
    if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st)) dlfork_child_status = WEXITSTATUS(st);
    return 1;
}
static void test_fork_inside_dl_iterate(void)
{
    free(malloc(16));   /* the core is up: its fork handlers are registered */
    int done = 0;
    CU_ASSERT(hs_dl_iterate(dlfork_cb, &done));
    CU_ASSERT_EQUAL(done, 1);
    CU_ASSERT(dlfork_us >= 0 && dlfork_us < 100000);   /* 200,000 when it waited for itself */
    if (dlfork_us >= 100000) fprintf(stderr, "fork inside the gate took %ld us\n", dlfork_us);
    CU_ASSERT_EQUAL(dlfork_child_status, 0);
    CU_ASSERT(hs_dl_iterate(dlfork_cb_noop, NULL));      /* open again in the parent */
}

struct fork_setup {
    char dir[PATH_MAX], path[PATH_MAX];
    unsigned char *region;
    size_t size, used;
};

static void fork_setup(struct fork_setup *fs, const char *name)
{
    use_dir(name, fs->dir);
    fs->size = TS_REGION_SIZE(16);
    fs->used = 5000;
    const char *why = NULL;
    fs->region = hs_livefile_create(fs->size, fs->path, sizeof fs->path, &why);
    CU_ASSERT_FATAL(fs->region != NULL);
    CU_ASSERT(hs_livefile_publish(&why) == 0);
    memset(fs->region, 'A', fs->used);
    memset(fs->region + fs->used, 'B', 100);   /* beyond `used`: not copied */
}

static int all_are(const unsigned char *p, size_t n, unsigned char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c) return 0;
    return 1;
}

static void test_livefile_fork_child(void)
{
    struct fork_setup fs;
    fork_setup(&fs, "fork");
    int fds[2];
    CU_ASSERT_FATAL(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        char cpath[PATH_MAX], want[PATH_MAX + 16];
        strcpy(cpath, fs.path);            /* as the shim passes it: the parent's path */
        const char *why = NULL;
        void *r = hs_livefile_fork_child(fs.region, NULL, fs.size, fs.used, cpath, sizeof cpath, &why);
        snprintf(want, sizeof want, "%s/%d", fs.dir, (int)getpid());
        int code = r != fs.region ? 1
                 : !all_are(fs.region, fs.used, 'A') ? 2
                 : !all_are(fs.region + fs.used, 100, 0) ? 3
                 : strcmp(cpath, want) ? 4 : 0;
        memset(fs.region, 'C', 100);       /* must not reach the parent */
        (void)!write(fds[1], &code, sizeof code);
        _exit(0);
    }
    close(fds[1]);
    int code = -1, st = 0;
    CU_ASSERT(read(fds[0], &code, sizeof code) == sizeof code);
    close(fds[0]);
    waitpid(pid, &st, 0);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the parent's mapping and file are untouched */
    CU_ASSERT(all_are(fs.region, fs.used, 'A') && all_are(fs.region + fs.used, 100, 'B'));
    static unsigned char buf[TS_REGION_SIZE(16)];
    CU_ASSERT(read_all(fs.path, (char *)buf, fs.size) == (ssize_t)fs.size && all_are(buf, 100, 'A'));
    /* the child's file: its own writes, the copy, zeros beyond `used` */
    char cpath[PATH_MAX + 16];
    snprintf(cpath, sizeof cpath, "%s/%d", fs.dir, (int)pid);
    struct stat sb;
    CU_ASSERT_FATAL(lstat(cpath, &sb) == 0);
    CU_ASSERT(S_ISREG(sb.st_mode) && (sb.st_mode & 07777) == 0600 && (size_t)sb.st_size == fs.size);
    CU_ASSERT(read_all(cpath, (char *)buf, fs.size) == (ssize_t)fs.size);
    CU_ASSERT(all_are(buf, 100, 'C'));
    CU_ASSERT(all_are(buf + 100, fs.used - 100, 'A'));
    CU_ASSERT(all_are(buf + fs.used, fs.size - fs.used, 0));
    unlink(cpath);
    hs_livefile_remove(fs.path, true);
    munmap(fs.region, fs.size);
}

/* The child cannot get a file (directory made unsafe after the parent's
 * creation): it gets NULL and a private copy, and its writes stay its own. */
static void test_livefile_fork_child_fallback(void)
{
    struct fork_setup fs;
    fork_setup(&fs, "fork-fallback");
    chmod(fs.dir, 0777);
    int fds[2];
    CU_ASSERT_FATAL(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        char cpath[PATH_MAX];
        strcpy(cpath, fs.path);
        const char *why = NULL;
        void *r = hs_livefile_fork_child(fs.region, NULL, fs.size, fs.used, cpath, sizeof cpath, &why);
        int code = r != NULL ? 1
                 : !why || !strstr(why, fs.dir) || !strstr(why, "mode") ? 2
                 : cpath[0] != 0 ? 3
                 : !all_are(fs.region, fs.used, 'A') ? 4 : 0;
        memset(fs.region, 'X', fs.used);
        (void)!write(fds[1], &code, sizeof code);
        _exit(0);
    }
    close(fds[1]);
    int code = -1, st = 0;
    CU_ASSERT(read(fds[0], &code, sizeof code) == sizeof code);
    close(fds[0]);
    waitpid(pid, &st, 0);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT(all_are(fs.region, fs.used, 'A'));
    char cpath[PATH_MAX + 16];
    snprintf(cpath, sizeof cpath, "%s/%d", fs.dir, (int)pid);
    CU_ASSERT(access(cpath, F_OK) != 0);
    chmod(fs.dir, 0700);
    hs_livefile_remove(fs.path, true);
    munmap(fs.region, fs.size);
}

/* ---- process identity ------------------------------------------------------------ */

/* field 22 of /proc/<pid>/stat, computed by Python */
static uint64_t py_start_time(int pid)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "%s -c \"print(open('/proc/%d/stat').read().rsplit(')', 1)[1].split()[19])\"",
             python(), pid);
    FILE *p = popen(cmd, "r");
    unsigned long long v = 0;
    if (!p || fscanf(p, "%llu", &v) != 1) v = 0;
    if (p) pclose(p);
    return v;
}

static void test_proc_start_time(void)
{
    uint64_t mine = hs_proc_start_time(getpid());
    CU_ASSERT(mine > 0);
    CU_ASSERT_EQUAL(mine, py_start_time(getpid()));
    CU_ASSERT_EQUAL(hs_proc_start_time(0), 0);
    CU_ASSERT_EQUAL(hs_proc_start_time(-5), 0);
    CU_ASSERT_EQUAL(hs_proc_start_time(INT_MAX), 0);   /* above any pid_max */

    /* a child whose name holds spaces and parentheses */
    int go[2], ready[2];
    CU_ASSERT_FATAL(pipe(go) == 0 && pipe(ready) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_NAME, "x) (y z) 1 2 )");
        char c = 1;
        (void)!write(ready[1], &c, 1);
        (void)!read(go[0], &c, 1);
        _exit(0);
    }
    char c;
    CU_ASSERT(read(ready[0], &c, 1) == 1);
    char path[64], stat_line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    ssize_t n = read_all(path, stat_line, sizeof stat_line - 1);
    CU_ASSERT(n > 0 && strstr(stat_line, "(x) (y z) 1 2 ))") != NULL);
    uint64_t child = hs_proc_start_time(pid);
    CU_ASSERT_EQUAL(child, py_start_time(pid));
    CU_ASSERT(child >= mine);
    (void)!write(go[1], &c, 1);
    waitpid(pid, NULL, 0);
    close(go[0]); close(go[1]); close(ready[0]); close(ready[1]);
}

static void test_proc_comm(void)
{
    char orig[32], buf[32];
    ssize_t n = read_all("/proc/self/comm", orig, sizeof orig - 1);
    CU_ASSERT_FATAL(n > 0);
    orig[n] = 0;
    orig[strcspn(orig, "\n")] = 0;
    hs_proc_comm(buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, orig);
    prctl(PR_SET_NAME, "hs-comm (test)");
    hs_proc_comm(buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "hs-comm (test)");
    hs_proc_comm(buf, 5);
    CU_ASSERT_STRING_EQUAL(buf, "hs-c");
    prctl(PR_SET_NAME, orig);
}

static void test_proc_cmdline(void)
{
    char want[8192], buf[8192];
    join_args(g_argv, want, sizeof want);
    hs_proc_cmdline(buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, want);
    size_t len = strlen(want);
    for (size_t cap = 1; cap <= len + 2; cap++) {
        memset(buf, 0x55, sizeof buf);
        hs_proc_cmdline(buf, cap);
        size_t expect = len < cap - 1 ? len : cap - 1;
        CU_ASSERT_EQUAL(strlen(buf), expect);
        CU_ASSERT(strncmp(buf, want, expect) == 0);
    }
}

static void test_proc_rss(void)
{
    char status[8192];
    ssize_t n = read_all("/proc/self/status", status, sizeof status - 1);
    uint64_t r0 = hs_proc_rss_bytes();
    CU_ASSERT_FATAL(n > 0);
    status[n] = 0;
    const char *v = strstr(status, "VmRSS:");
    unsigned long long kib = 0;
    CU_ASSERT_FATAL(v && sscanf(v, "VmRSS: %llu", &kib) == 1);
    uint64_t diff = r0 > kib * 1024 ? r0 - kib * 1024 : kib * 1024 - r0;
    CU_ASSERT(diff <= 512 * 1024);

    size_t big = 16u << 20;
    char *m = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(m != MAP_FAILED);
    memset(m, 1, big);
    uint64_t r1 = hs_proc_rss_bytes();
    CU_ASSERT(r1 >= r0 + big - (1u << 20));
    CU_ASSERT(hs_proc_rss_peak_bytes() >= r1 - (1u << 20));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    CU_ASSERT(hs_proc_rss_peak_bytes() >= (uint64_t)ru.ru_maxrss * 1024);
    munmap(m, big);
}

static void test_fill_identity(void)
{
    static struct hs_live_header h;
    memset(&h, 0, sizeof h);
    uint64_t t0 = now_unix_ns();
    hs_live_fill_identity(&h);
    uint64_t t1 = now_unix_ns();
    char comm[16], cmd[256];
    hs_proc_comm(comm, sizeof comm);
    hs_proc_cmdline(cmd, sizeof cmd);
    CU_ASSERT_EQUAL(h.pid, getpid());
    CU_ASSERT_EQUAL(h.ppid, getppid());
    CU_ASSERT_EQUAL(h.uid, getuid());
    CU_ASSERT_EQUAL(h.start_time, hs_proc_start_time(getpid()));
    CU_ASSERT(h.start_time > 0);
    CU_ASSERT(h.created_unix_ns >= t0 && h.created_unix_ns <= t1);
    CU_ASSERT_STRING_EQUAL(h.comm, comm);
    CU_ASSERT_STRING_EQUAL(h.cmdline, cmd);
    CU_ASSERT(h.magic == 0 && h.file_size == 0);   /* identity only */
}

/* ---- nothing of the above allocates --------------------------------------------- */

static void test_no_malloc(void)
{
    if (!TS_COUNT_MALLOC) {
        fprintf(stderr, "  (AddressSanitizer owns malloc: allocation count not checked)\n");
        return;
    }
    char dir[PATH_MAX], bad[PATH_MAX], tmpl[PATH_MAX], path[PATH_MAX], buf[512];
    use_dir("nomalloc", dir);
    at(bad, "nomalloc-bad");
    at(tmpl, "nomalloc-%p.json");
    static struct hs_live_header h;
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    const char *why;
    /* the counter itself works: strdup allocates */
    ts_allocs = 0;
    ts_watch = 1;
    char *volatile counted = strdup("counted");   /* volatile: not elided */
    free(counted);
    ts_watch = 0;
    CU_ASSERT_EQUAL_FATAL(ts_allocs, 2);

    ts_allocs = 0;
    ts_watch = 1;
    hs_proc_start_time(getpid());
    hs_proc_comm(buf, sizeof buf);
    hs_proc_cmdline(buf, sizeof buf);
    hs_proc_rss_bytes();
    hs_proc_rss_peak_bytes();
    hs_live_fill_identity(&h);
    hs_report_expand_path(tmpl, path, sizeof path);
    void *p = hs_livefile_create(8192, path, sizeof path, &why);
    hs_livefile_remove(path, true);
    int rep = hs_report_write(tmpl, "pymalloc", 1, &why);
    hs_report_write("/nonexistent-dir/x", "pymalloc", 1, &why);
    hs_report_table(devnull, "pymalloc");
    ts_watch = 0;
    unsigned first = ts_allocs;
    CU_ASSERT_EQUAL(first, 0);
    CU_ASSERT(p != NULL && rep == 0);
    if (p) munmap(p, 8192);
    hs_report_expand_path(tmpl, path, sizeof path);
    unlink(path);

    /* refusals and the fork child, too */
    mkdir(bad, 0777);
    chmod(bad, 0777);
    setenv("HEAPSHIM_DIR", bad, 1);
    ts_allocs = 0;
    ts_watch = 1;
    void *q = hs_livefile_create(8192, path, sizeof path, &why);
    ts_watch = 0;
    CU_ASSERT(q == NULL);
    CU_ASSERT_EQUAL(ts_allocs, 0);

    setenv("HEAPSHIM_DIR", dir, 1);
    char ppath[PATH_MAX];
    void *region = hs_livefile_create(65536, ppath, sizeof ppath, &why);
    CU_ASSERT_FATAL(region != NULL);
    CU_ASSERT(hs_livefile_publish(&why) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        ts_allocs = 0;
        ts_watch = 1;
        void *r = hs_livefile_fork_child(region, NULL, 65536, 4096, path, sizeof path, &why);
        ts_watch = 0;
        hs_livefile_remove(path, true);
        _exit(r == region && ts_allocs == 0 ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    hs_livefile_remove(ppath, true);
    munmap(region, 65536);
    close(devnull);
}

/* ---- the exec'd child ------------------------------------------------------------- */

/* Writes the report to argv[2] (allocator "malloc"), then checks that every
 * cut of the command line is a prefix ending on a character boundary.
 * Exit 0 ok, 2 report failed, 3 a bad cut. */
static int report_child(char **argv)
{
    void *p = hs_obj_malloc(64);
    const char *why = NULL;
    if (hs_report_write(argv[2], "malloc", now_unix_ns(), &why) != 0) {
        fprintf(stderr, "report child: %s\n", why);
        return 2;
    }
    hs_obj_free(p);
    static char full[65536], cut[300];
    hs_proc_cmdline(full, sizeof full);
    for (size_t cap = 1; cap <= sizeof cut; cap++) {
        hs_proc_cmdline(cut, cap);
        size_t n = strlen(cut);
        if (n >= cap || strncmp(cut, full, n) != 0) return 3;
        for (size_t i = 0; i < n;) {
            size_t l = rp_utf8_len((const unsigned char *)cut + i);
            if (!l) return 3;
            i += l;
        }
        size_t lim = strlen(full) < cap - 1 ? strlen(full) : cap - 1;
        if (n + 3 < lim) return 3;         /* cut more than a partial character */
    }
    return 0;
}

int main(int argc, char **argv)
{
    g_argc = argc;
    g_argv = argv;
    if (argc > 2 && !strcmp(argv[1], "--report-child")) return report_child(argv);

    hs_mem_free(hs_mem_malloc(1));    /* bring the core up */
    snprintf(g_base, sizeof g_base, "/tmp/hs-shimparts-XXXXXX");
    if (!mkdtemp(g_base)) {
        perror("mkdtemp");
        return 2;
    }
    static const hs_test_t report_tests[] = {
        { "expand_path_good", test_expand_good },
        { "expand_path_bad", test_expand_bad },
        { "report_fields_and_numbers", test_report_fields_and_numbers },
        { "report_atomic", test_report_atomic },
        { "report_errors", test_report_errors },
        { "report_command_escaping", test_report_command_escaping },
        { "report_long_command", test_report_long_command },
        { "json_escaper", test_json_escaper },
        { "human_units", test_human_units },
        { "table", test_table },
        { NULL, NULL },
    };
    static const hs_test_t live_tests[] = {
        { "create", test_livefile_create },
        { "refuses_unsafe_dirs", test_livefile_refuses },
        { "refuses_other_owner", test_livefile_refuses_other_owner },
        { "nofollow_and_stale", test_livefile_nofollow_and_stale },
        { "default_dir", test_livefile_default_dir },
        { "fork_child", test_livefile_fork_child },
        { "fork_child_fallback", test_livefile_fork_child_fallback },
        { "fork_inside_dl_iterate", test_fork_inside_dl_iterate },
        { NULL, NULL },
    };
    static const hs_test_t proc_tests[] = {
        { "start_time", test_proc_start_time },
        { "comm", test_proc_comm },
        { "cmdline", test_proc_cmdline },
        { "rss", test_proc_rss },
        { "fill_identity", test_fill_identity },
        { "no_malloc", test_no_malloc },
        { NULL, NULL },
    };
    hs_test_add_suite("report", report_tests);
    hs_test_add_suite("livefile", live_tests);
    hs_test_add_suite("proc", proc_tests);
    int rc = hs_test_main();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_base);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_base);
    return rc;
}
