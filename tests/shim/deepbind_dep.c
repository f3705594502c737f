/*
 * tests/shim/deepbind_dep.c - libdbdep.so, a dependency (DT_NEEDED) of the
 * deep-bound plugin (deepbind_plugin.c). Loaded by the plugin's
 * dlopen(RTLD_DEEPBIND), it is relocated in the plugin's scope too: its
 * malloc family resolves in that scope first. It does the plugin's
 * allocation work one object further down. Built with -z lazy, and without
 * tail calls (so that HEAPSHIM_ROUTE sees this object as the caller).
 */
#include <stdlib.h>
#include <string.h>

/* Also defined by libdbglob.so, loaded RTLD_GLOBAL before the plugin: a
 * deep-bound plugin must still see this one (deep binding kept intact). */
__attribute__((visibility("default"))) int db_probe(void) { return 2; }

__attribute__((visibility("default"))) void *dep_malloc(size_t n) { return malloc(n); }
__attribute__((visibility("default"))) void dep_free(void *p) { free(p); }
__attribute__((visibility("default"))) void *dep_realloc(void *p, size_t n) { return realloc(p, n); }
__attribute__((visibility("default"))) char *dep_strdup(const char *s) { return strdup(s); }
