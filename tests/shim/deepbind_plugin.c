/*
 * tests/shim/deepbind_plugin.c - the plugin that prog_deepbind loads with
 * dlopen(RTLD_DEEPBIND): libdbplugin.so (-z now), libdblazy.so (-z lazy,
 * loaded RTLD_LAZY) and libdbcycle.so (loaded and closed over and over
 * while other threads allocate). Each links libdbdep.so and has
 * RUNPATH=$ORIGIN.
 *
 * Deep binding makes the plugin's (and its dependencies') references to
 * malloc, free, ... resolve in its own scope first, i.e. to glibc, unless
 * the shim sees to it: every function here exchanges blocks with the main
 * program -- frees what the program allocated, allocates what the program
 * frees or reallocates -- and the constructor frees blocks that glibc
 * functions (strdup, realpath, asprintf, open_memstream) allocated through
 * the process's malloc, before dlopen has even returned.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API __attribute__((visibility("default")))

void *dep_malloc(size_t n);
void dep_free(void *p);
void *dep_realloc(void *p, size_t n);
char *dep_strdup(const char *s);
int db_probe(void);

static int ctor_status = -1;
static char *ctor_kept;

__attribute__((constructor)) static void plugin_init(void)
{
    char *s = strdup("constructor");
    if (!s) return;
    free(s);
    char *r = realpath("/", NULL);
    if (!r || strcmp(r, "/")) return;
    free(r);
    char *a = NULL;
    if (asprintf(&a, "%s-%d", "asprintf", 42) < 0 || strcmp(a, "asprintf-42")) return;
    a = realloc(a, 4096);
    if (!a) return;
    free(a);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return;
    for (int i = 0; i < 1000; i++) fprintf(f, "line %d\n", i);
    fclose(f);
    free(buf);
    ctor_kept = dep_strdup("kept by the constructor");   /* the program frees it */
    ctor_status = ctor_kept ? 0 : -2;
}

API int dbp_ctor_status(void) { return ctor_status; }
API char *dbp_ctor_kept(void) { char *k = ctor_kept; ctor_kept = NULL; return k; }

/* the plugin's own calls */
API void *dbp_malloc(size_t n) { return malloc(n); }
API void *dbp_calloc(size_t ne, size_t es) { return calloc(ne, es); }
API void *dbp_realloc(void *p, size_t n) { return realloc(p, n); }
API void *dbp_reallocarray(void *p, size_t ne, size_t es) { return reallocarray(p, ne, es); }
API void dbp_free(void *p) { free(p); }
API char *dbp_strdup(const char *s) { return strdup(s); }   /* glibc allocates */
API size_t dbp_usable(void *p) { return malloc_usable_size(p); }
API void *dbp_memalign(size_t a, size_t n) { return memalign(a, n); }
API void *dbp_aligned_alloc(size_t a, size_t n) { return aligned_alloc(a, n); }
API void *dbp_posix_memalign(size_t a, size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, a, n) ? NULL : p;
}
API void *dbp_valloc(size_t n) { return valloc(n); }

/* a table of function pointers in data (absolute / GLOB_DAT relocations,
 * bound at load time whatever the binding mode) */
struct freer { const char *name; void (*fn)(void *); void *(*re)(void *, size_t); };
static const struct freer freers[] = { { "free", free, realloc } };
API void dbp_free_via_table(void *p) { freers[0].fn(p); }
API void *dbp_realloc_via_table(void *p, size_t n) { return freers[0].re(p, n); }

/* one object further down, in the same deep scope */
API void *dbp_dep_malloc(size_t n) { return dep_malloc(n); }
API void dbp_dep_free(void *p) { dep_free(p); }
API void *dbp_dep_realloc(void *p, size_t n) { return dep_realloc(p, n); }

/* symbol resolution is still deep: 2 (libdbdep.so), not 1 (libdbglob.so) */
API int dbp_probe(void) { return db_probe(); }

/* dlopen from inside the plugin: a bare name is searched along the
 * plugin's own RUNPATH, $ORIGIN is the plugin's directory (glibc takes the
 * caller from dlopen's return address: no tail call here, or the caller
 * would be the program) */
API void *dbp_open(const char *name, int mode)
{
    void *h = dlopen(name, mode);
    __asm__ volatile("" ::: "memory");
    return h;
}
