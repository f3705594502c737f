/*
 * tests/shim/deepbind_glob.c - libdbglob.so, loaded with RTLD_GLOBAL before
 * the deep-bound plugin: its db_probe() is the global one, which the
 * plugin must not see (it deep-binds to libdbdep.so's).
 */
__attribute__((visibility("default"))) int db_probe(void) { return 1; }
