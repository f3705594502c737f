/*
 * interpose/python.h - heapshim as CPython's allocator (interpose/python.c).
 */
#ifndef HS_INTERPOSE_PYTHON_H
#define HS_INTERPOSE_PYTHON_H

/* Called once from the shim's constructor, after the core is up: when the
 * process (its executable or a library loaded with it) exports CPython's
 * allocator API, install heapshim as CPython's raw, mem and obj allocators
 * (HEAPSHIM_PYTHON=0 turns it off). Never fails the host program; at most
 * one warning line on stderr. */
void hs_python_start(void);

/* An interpreter loaded after start (libpython dlopen()ed by an editor or a
 * plugin host): interpose/mapped.c calls hs_python_late(ra) for the
 * program's anonymous mmaps while hs_python_watching() -- no interpreter
 * found so far, and the program has called dlopen. The first such mmap of
 * an object exporting CPython's allocator API (pymalloc's first arena, once
 * the interpreter's pre-initialisation is done) installs heapshim as it
 * would have at start. x86-64 only (the dlopen count comes from
 * deepbind.c's stubs). */
extern int hs_python_watch;
static inline int hs_python_watching(void) { return __atomic_load_n(&hs_python_watch, __ATOMIC_RELAXED); }
void hs_python_late(const void *ra);

/* What hs_python_start and the re-check did (for tests and reports). */
enum hs_python_state {
    HS_PY_ABSENT = 0,       /* no CPython allocator API in the process */
    HS_PY_OFF,              /* HEAPSHIM_PYTHON=0 (or a bad value) */
    HS_PY_UNSUPPORTED,      /* free-threaded build, unknown version, missing symbols */
    HS_PY_RUNNING,          /* the interpreter was already running: left alone */
    HS_PY_INSTALLED,        /* heapshim is CPython's allocator for the three domains */
    HS_PY_UNDER_DEBUG,      /* ... beneath CPython's debug hooks (PYTHONMALLOC=debug, -X dev) */
    HS_PY_LEFT_MALLOC,      /* PYTHONMALLOC=malloc / malloc_debug: CPython calls malloc, left alone */
    HS_PY_LEFT_OTHER,       /* someone else's allocator was installed: left alone */
    HS_PY_LEFT_STATS,       /* PYTHONMALLOCSTATS: pymalloc's statistics wanted, pymalloc stays */
};
enum hs_python_state hs_python_state(void);
const char *hs_python_state_name(enum hs_python_state s);

#endif
