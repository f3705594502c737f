/*
 * tests/shim/deepbind_glob.c - libdbglob.so, loaded with RTLD_GLOBAL (not
 * deep-bound) before the deep-bound plugin: its db_probe() is the global
 * one, which the plugin must not see (it deep-binds to libdbdep.so's).
 * Its own dlopen is the process's -- the shim's, under the shim -- so
 * glob_open() checks that the shim's dlopen keeps the caller glibc sees:
 * a bare name is searched along this library's RUNPATH ($ORIGIN).
 */
#include <dlfcn.h>

__attribute__((visibility("default"))) int db_probe(void) { return 1; }

__attribute__((visibility("default"))) void *glob_open(const char *name, int mode)
{
    void *h = dlopen(name, mode);
    __asm__ volatile("" ::: "memory");     /* no tail call: we are the caller */
    return h;
}

__attribute__((visibility("default"))) void *glob_mopen(const char *name, int mode)
{
    void *h = dlmopen(LM_ID_BASE, name, mode);
    __asm__ volatile("" ::: "memory");
    return h;
}
