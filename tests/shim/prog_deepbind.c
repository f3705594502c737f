/*
 * tests/shim/prog_deepbind.c - memory exchanged with libraries loaded by
 * dlopen(RTLD_DEEPBIND), run plain and under the shim by tests/28-deepbind.sh.
 *
 *   prog_deepbind DIR      DIR holds libdbplugin.so, libdblazy.so,
 *                          libdbcycle.so, libdbdep.so, libdbglob.so
 *                          (tests/shim/deepbind_*.c, see tests/deepbind.mk)
 *   prog_deepbind --load-only DIR
 *                          only load libdbglob.so with RTLD_DEEPBIND, twice
 *   prog_deepbind --race DIR
 *                          the first dlopen calls in two threads at once,
 *                          two more threads allocating meanwhile
 *
 * A deep-bound library resolves its own references to malloc, free, ... in
 * its own dependency scope first -- glibc's -- so without help from the
 * shim a block the program allocated is freed by glibc (or the reverse),
 * which corrupts the heap or crashes. Every check below passes a block
 * across that boundary, in both directions, through each kind of
 * reference (PLT now and lazy, a function-pointer table in data, a
 * dependency of the plugin, the plugin's constructor), and checks that
 * deep binding itself still works (symbol resolution, the caller's RUNPATH
 * and $ORIGIN in a dlopen from the plugin). Prints one "ok NAME" line per
 * check (the same plain and shimmed) and exits with the number of failures;
 * a crash is the failure this guards against.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(const char *name, int ok, const char *detail)
{
    if (ok) printf("ok %s\n", name);
    else {
        printf("FAIL %s: %s\n", name, detail);
        failures++;
    }
    fflush(stdout);
}

struct plugin {
    void *h;
    int (*ctor_status)(void);
    char *(*ctor_kept)(void);
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    void (*free)(void *);
    char *(*strdup)(const char *);
    size_t (*usable)(void *);
    void *(*memalign)(size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*posix_memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void (*free_via_table)(void *);
    void *(*realloc_via_table)(void *, size_t);
    void *(*dep_malloc)(size_t);
    void (*dep_free)(void *);
    void *(*dep_realloc)(void *, size_t);
    int (*probe)(void);
    void *(*open)(const char *, int);
};

static void *sym(void *h, const char *name)
{
    void *f = dlsym(h, name);
    if (!f) {
        fprintf(stderr, "prog_deepbind: %s: %s\n", name, dlerror());
        exit(100);
    }
    return f;
}

#define LOAD(pl, field) (*(void **)&(pl)->field = sym((pl)->h, "dbp_" #field))

static void bind_plugin(struct plugin *pl, void *h)
{
    pl->h = h;
    LOAD(pl, ctor_status); LOAD(pl, ctor_kept);
    LOAD(pl, malloc); LOAD(pl, calloc); LOAD(pl, realloc); LOAD(pl, reallocarray);
    LOAD(pl, free); LOAD(pl, strdup); LOAD(pl, usable);
    LOAD(pl, memalign); LOAD(pl, aligned_alloc); LOAD(pl, posix_memalign); LOAD(pl, valloc);
    LOAD(pl, free_via_table); LOAD(pl, realloc_via_table);
    LOAD(pl, dep_malloc); LOAD(pl, dep_free); LOAD(pl, dep_realloc);
    LOAD(pl, probe); LOAD(pl, open);
}

static void *open_plugin(const char *dir, const char *file, int mode)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    void *h = dlopen(path, mode);
    if (!h) {
        fprintf(stderr, "prog_deepbind: dlopen %s: %s\n", path, dlerror());
        exit(101);
    }
    return h;
}

static const size_t sizes[] = { 0, 1, 24, 200, 512, 513, 1024, 1025, 4000, 100000, 300000 };
#define NSIZES (sizeof sizes / sizeof *sizes)

static int filled(const unsigned char *p, size_t n, unsigned char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c) return 0;
    return 1;
}

/* Every crossing, for one loaded plugin; names carry its tag. */
static void exchange(const char *tag, struct plugin *pl)
{
    char name[128];
    int ok;

#define NAME(what) (snprintf(name, sizeof name, "%s-%s", tag, what), name)

    /* the program allocates, the plugin frees */
    for (size_t i = 0; i < NSIZES; i++) {
        unsigned char *p = malloc(sizes[i]);
        memset(p, 0xa5, sizes[i]);
        pl->free(p);
        p = calloc(1, sizes[i]);
        pl->free(p);
    }
    check(NAME("program-malloc-plugin-free"), 1, "");

    /* the plugin allocates, the program writes, reallocates and frees */
    ok = 1;
    for (size_t i = 0; i < NSIZES; i++) {
        unsigned char *p = pl->malloc(sizes[i]);
        memset(p, 0x5a, sizes[i]);
        if (malloc_usable_size(p) < sizes[i]) ok = 0;
        p = realloc(p, sizes[i] * 2 + 8);
        if (!filled(p, sizes[i], 0x5a)) ok = 0;
        free(p);
        unsigned char *z = pl->calloc(sizes[i] + 1, 1);
        if (!filled(z, sizes[i] + 1, 0)) ok = 0;
        free(z);
    }
    check(NAME("plugin-malloc-program-free"), ok, "usable size, contents or zeroing wrong");

    /* each side reallocates the other's blocks */
    ok = 1;
    for (size_t i = 1; i < NSIZES; i++) {
        unsigned char *p = malloc(sizes[i]);
        memset(p, 0x11, sizes[i]);
        p = pl->realloc(p, sizes[i] + 700);
        if (!filled(p, sizes[i], 0x11)) ok = 0;
        if (pl->usable(p) != malloc_usable_size(p)) ok = 0;
        p = realloc(p, sizes[i] / 2 + 1);
        p = pl->reallocarray(p, 3, sizes[i]);
        if (!filled(p, sizes[i] / 2 + 1, 0x11)) ok = 0;
        p = pl->realloc_via_table(p, 40);
        pl->free(p);
    }
    check(NAME("realloc-both-ways"), ok, "contents or usable size wrong");

    /* glibc functions called by the plugin allocate through the process's malloc */
    ok = 1;
    for (int i = 0; i < 100; i++) {
        char *s = pl->strdup("a string duplicated by glibc for the plugin");
        if (!s || strcmp(s, "a string duplicated by glibc for the plugin")) ok = 0;
        if (i & 1) free(s);
        else pl->free(s);
    }
    check(NAME("glibc-allocates-for-plugin"), ok, "strdup result wrong");

    /* aligned blocks, both ways */
    ok = 1;
    static const size_t aligns[] = { 16, 64, 256, 4096 };
    for (size_t a = 0; a < sizeof aligns / sizeof *aligns; a++) {
        for (size_t i = 0; i < NSIZES; i++) {
            size_t al = aligns[a], n = sizes[i];
            void *q[4] = { pl->memalign(al, n), pl->aligned_alloc(al, n), pl->posix_memalign(al, n), NULL };
            for (int k = 0; k < 3; k++) {
                if (!q[k] || (uintptr_t)q[k] % al) ok = 0;
                else memset(q[k], 0x33, n);
                free(q[k]);
            }
            void *m = NULL;
            if (posix_memalign(&m, al, n)) ok = 0;
            pl->free(m);
            pl->free(aligned_alloc(al, (n + al - 1) / al * al));
            pl->free(memalign(al, n));
        }
    }
    void *v = pl->valloc(100);
    if (!v || (uintptr_t)v % 4096) ok = 0;
    free(v);
    pl->free(valloc(5000));
    check(NAME("aligned-both-ways"), ok, "misaligned or failed");

    /* a function pointer to free stored in the plugin's data */
    for (size_t i = 0; i < NSIZES; i++) pl->free_via_table(malloc(sizes[i]));
    /* and the program's own pointers to malloc and free (built without PIE
     * -- the suite does so too -- these are canonical PLT entries) */
    void *(*volatile my_malloc)(size_t) = malloc;
    void (*volatile my_free)(void *) = free;
    for (size_t i = 0; i < NSIZES; i++) {
        pl->free(my_malloc(sizes[i]));
        my_free(pl->malloc(sizes[i]));
    }
    check(NAME("free-through-pointer-table"), 1, "");

    /* the plugin's dependency, in the same deep scope */
    ok = 1;
    for (size_t i = 0; i < NSIZES; i++) {
        pl->dep_free(malloc(sizes[i]));
        unsigned char *p = pl->dep_malloc(sizes[i] + 1);
        memset(p, 0x77, sizes[i] + 1);
        p = pl->dep_realloc(p, sizes[i] + 1000);
        if (!filled(p, sizes[i] + 1, 0x77)) ok = 0;
        p = realloc(p, 10);
        pl->dep_free(p);
    }
    check(NAME("dependency-both-ways"), ok, "contents wrong");
#undef NAME
}

/* glibc's own malloc family asked for by name through libc's handle (what
 * ctypes.CDLL("libc.so.6").free does): a block from the process's malloc
 * can be given to it, and what it returns is the process's. */
static void libc_handle(void)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!libc) {
        check("libc-handle", 0, dlerror());
        return;
    }
    void (*lfree)(void *) = (void (*)(void *))dlsym(libc, "free");
    void *(*lmalloc)(size_t) = (void *(*)(size_t))dlsym(libc, "malloc");
    void *(*lrealloc)(void *, size_t) = (void *(*)(void *, size_t))dlsym(libc, "realloc");
    if (!lfree || !lmalloc || !lrealloc) {
        check("libc-handle", 0, "dlsym failed");
        return;
    }
    for (size_t i = 0; i < NSIZES; i++) {
        lfree(strdup("from the process's malloc"));
        lfree(malloc(sizes[i]));
        free(lmalloc(sizes[i]));
        free(lrealloc(malloc(sizes[i]), sizes[i] + 100));
    }
    /* cfree: a compatibility symbol of old glibc, still bound by old programs */
    void (*lcfree)(void *) = (void (*)(void *))dlvsym(libc, "cfree", "GLIBC_2.2.5");
    if (lcfree)
        for (size_t i = 0; i < NSIZES; i++) lcfree(malloc(sizes[i]));
    check("libc-handle", 1, "");
    dlclose(libc);
}

/* Threads allocate and exchange blocks with a plugin while the main thread
 * loads and unloads another deep-bound plugin over and over. */
struct worker { struct plugin *pl; int rounds; int ok; };

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int r = 0; r < w->rounds; r++) {
        void *keep[64];
        for (int i = 0; i < 64; i++) keep[i] = (i & 1) ? w->pl->malloc((size_t)(i * 37 % 600))
                                                       : malloc((size_t)(i * 53 % 900));
        for (int i = 0; i < 64; i++) {
            if (i % 3 == 0) keep[i] = realloc(keep[i], 100);
            if (i & 2) w->pl->free(keep[i]);
            else free(keep[i]);
        }
        char *s = w->pl->dep_realloc(w->pl->strdup("thread"), 64);
        if (!s || strcmp(s, "thread")) w->ok = 0;
        free(s);
    }
    return NULL;
}

static void threads(const char *dir, struct plugin *pl)
{
    enum { NT = 2 };
    pthread_t t[NT];
    struct worker w[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = (struct worker){ pl, 300, 1 };
        if (pthread_create(&t[i], NULL, work, &w[i])) {
            check("threads-while-loading", 0, "pthread_create");
            return;
        }
    }
    int ok = 1;
    for (int c = 0; c < 20; c++) {
        struct plugin cyc;
        bind_plugin(&cyc, open_plugin(dir, "libdbcycle.so", RTLD_NOW | RTLD_DEEPBIND));
        if (cyc.ctor_status() != 0) ok = 0;
        free(cyc.ctor_kept());
        cyc.free(malloc(100));
        free(cyc.malloc(100));
        free(cyc.dep_malloc(1000));
        if (dlclose(cyc.h)) ok = 0;
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(t[i], NULL);
        if (!w[i].ok) ok = 0;
    }
    check("threads-while-loading", ok, "a cycle or a worker failed");
}

/* --race: the process's first dlopen calls (deep-bound, two threads at
 * once) while two other threads allocate and free: the shim's one-time
 * redirect happens under way, and no thread may see half of it. */
struct racer { const char *dir; const char *lib; pthread_barrier_t *go; int ok; };

static void *race_loader(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->go);
    struct plugin pl;
    bind_plugin(&pl, open_plugin(r->dir, r->lib, RTLD_NOW | RTLD_DEEPBIND));
    if (pl.ctor_status() != 0) r->ok = 0;
    free(pl.ctor_kept());
    for (int i = 0; i < 300; i++) {
        pl.free(malloc((size_t)(i * 7 % 700)));
        pl.dep_free(pl.strdup("race"));
        void *q = pl.dep_malloc((size_t)(i * 13 % 900));
        q = realloc(q, 50);
        free(q);
    }
    return NULL;
}

static void *race_churn(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->go);
    void *keep[32] = { 0 };
    for (int i = 0; i < 20000; i++) {
        unsigned k = (unsigned)i % 32;
        free(keep[k]);
        keep[k] = malloc((size_t)(i % 1000));
    }
    for (int k = 0; k < 32; k++) free(keep[k]);
    return NULL;
}

static int race(const char *dir)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 4);
    struct racer r[4] = { { dir, "libdbplugin.so", &go, 1 }, { dir, "libdblazy.so", &go, 1 },
                          { dir, NULL, &go, 1 }, { dir, NULL, &go, 1 } };
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, i < 2 ? race_loader : race_churn, &r[i]);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    int ok = r[0].ok && r[1].ok;
    printf("race %s\n", ok ? "ok" : "failed");
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: prog_deepbind DIR | --load-only DIR\n");
        return 2;
    }
    if (!strcmp(argv[1], "--race") && argc > 2) return race(argv[2]);
    if (!strcmp(argv[1], "--load-only") && argc > 2) {
        /* deep-bind a library that exchanges nothing, twice, and leave */
        for (int i = 0; i < 2; i++) {
            void *h = open_plugin(argv[2], "libdbglob.so", RTLD_NOW | RTLD_DEEPBIND);
            int (*probe)(void) = (int (*)(void))sym(h, "db_probe");
            printf("loaded %d\n", probe());
            dlclose(h);
        }
        return 0;
    }
    const char *dir = argv[1];

    /* the global definition of db_probe (1); the deep-bound plugin must
     * keep seeing its dependency's (2) */
    void *glob = open_plugin(dir, "libdbglob.so", RTLD_NOW | RTLD_GLOBAL);
    void *(*glob_open)(const char *, int) = (void *(*)(const char *, int))sym(glob, "glob_open");
    void *(*glob_mopen)(const char *, int) = (void *(*)(const char *, int))sym(glob, "glob_mopen");

    /* lazy binding first, so that libdbdep.so is lazily bound too */
    struct plugin lazy, now, again;
    bind_plugin(&lazy, open_plugin(dir, "libdblazy.so", RTLD_LAZY | RTLD_DEEPBIND));
    bind_plugin(&now, open_plugin(dir, "libdbplugin.so", RTLD_NOW | RTLD_DEEPBIND));

    check("constructor-frees-glibc-blocks", lazy.ctor_status() == 0 && now.ctor_status() == 0,
          "a constructor step failed");
    char *k1 = lazy.ctor_kept(), *k2 = now.ctor_kept();
    check("constructor-block-to-program", k1 && k2 && !strcmp(k1, "kept by the constructor"), "wrong contents");
    free(k1);
    now.free(k2);

    exchange("lazy", &lazy);
    exchange("now", &now);

    /* deep binding still deep: the plugin sees its own dependency's symbol */
    int (*gprobe)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "db_probe");
    check("deep-binding-kept", now.probe() == 2 && lazy.probe() == 2 && gprobe && gprobe() == 1,
          "the plugin did not bind to its own dependency first");

    /* the program cannot find a plugin by its bare name (no RUNPATH) ... */
    void *none = dlopen("libdblazy.so", RTLD_NOW | RTLD_NOLOAD);
    check("program-dlopen-no-runpath", none == NULL, "found by a bare name");
    if (none) dlclose(none);
    /* ... but a dlopen made by the plugin searches the plugin's RUNPATH,
     * and $ORIGIN is the plugin's directory */
    void *sub1 = now.open("libdblazy.so", RTLD_NOW | RTLD_DEEPBIND);
    void *sub2 = now.open("$ORIGIN/libdblazy.so", RTLD_LAZY | RTLD_DEEPBIND);
    check("plugin-dlopen-keeps-caller", sub1 == lazy.h && sub2 == lazy.h, "not found or another object");
    if (sub1) dlclose(sub1);
    if (sub2) dlclose(sub2);
    /* the same from a library that is not deep-bound: its dlopen and
     * dlmopen are the process's (the shim's, when shimmed) */
    void *sub3 = glob_open("libdbcycle.so", RTLD_NOW | RTLD_DEEPBIND);
    void *sub4 = glob_open("$ORIGIN/libdblazy.so", RTLD_LAZY);
    void *sub5 = glob_mopen("libdblazy.so", RTLD_LAZY | RTLD_DEEPBIND);
    check("library-dlopen-keeps-caller", sub3 && sub4 == lazy.h && sub5 == lazy.h, "not found or another object");
    if (sub3) {
        struct plugin c3;
        bind_plugin(&c3, sub3);
        free(c3.ctor_kept());
        c3.free(malloc(10));
        dlclose(sub3);
    }
    if (sub4) dlclose(sub4);
    if (sub5) dlclose(sub5);

    /* dlmopen into the base namespace is dlopen */
    char path[4096];
    snprintf(path, sizeof path, "%s/libdbplugin.so", dir);
    void *h = dlmopen(LM_ID_BASE, path, RTLD_NOW | RTLD_DEEPBIND);
    if (!h) {
        check("dlmopen-base", 0, dlerror());
    } else {
        bind_plugin(&again, h);
        check("dlmopen-base", h == now.h, "another object");
        exchange("dlmopen", &again);
        dlclose(h);
    }

    libc_handle();
    threads(dir, &now);

    /* failures are reported by dlopen as always */
    void *bad = dlopen("/nonexistent/libnothing.so", RTLD_NOW | RTLD_DEEPBIND);
    const char *err = dlerror();
    check("dlopen-error", bad == NULL && err && strstr(err, "libnothing.so"), "no error string");

    printf("prog_deepbind: %d failures\n", failures);
    return failures > 100 ? 100 : failures;
}
