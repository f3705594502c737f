/*
 * interpose/shim.h - what the LD_PRELOAD layer decided at start-up.
 *
 * Room: shared by the interposer's files (env.c parses, route.c routes,
 * override.c serves, lifecycle.c starts and ends). Everything here is set
 * once during the first allocation, before any other thread can see it,
 * and never changes afterwards (except in a fork child).
 */
#ifndef HS_INTERPOSE_SHIM_H
#define HS_INTERPOSE_SHIM_H
#include "../core/internal.h"
#include <limits.h>

enum hs_shim_mode {
    HS_MODE_PYMALLOC = 0,      /* small MEM/OBJ blocks from arenas (default) */
    HS_MODE_MALLOC = 1,        /* everything to glibc, accounting only */
};

/* What free() tries first (decided at start-up, like the rest of hs_shim). */
enum hs_free_path {
    HS_FREE_OWNED = 0,         /* ask the page map, then the large header, then
                                * treat the block as glibc's (pymalloc; malloc
                                * mode with routing rules) */
    HS_FREE_BARE = 1,          /* plain_direct: a bare glibc MEM block, as long
                                * as the core has handed out none of its own
                                * (hs_core_blocks_out); else as OWNED */
    HS_FREE_DEBUG = 2,         /* debug hooks: through the domain table */
};

#define HS_ROUTE_MAX 16
#define HS_ROUTE_PATTERN_MAX 64

struct hs_route_rule {
    char pattern[HS_ROUTE_PATTERN_MAX];   /* glob on the object's file name */
    unsigned dom;
};

struct hs_shim_config {
    int  mode;                  /* enum hs_shim_mode */
    bool debug;                 /* debug hooks on top */
    bool plain_mem;             /* malloc mode without debug: MEM blocks are bare
                                 * glibc blocks (see override.c) */
    bool bare_mem;              /* MEM blocks that glibc serves are bare glibc
                                 * blocks: plain_mem, or the pymalloc mode without
                                 * debug for blocks above 512 bytes */
    bool plain_direct;          /* plain_mem and no HEAPSHIM_ROUTE rules: an
                                 * untagged request is a bare MEM block */
    bool fast_direct;           /* pymalloc, no debug hooks, no rules: an untagged
                                 * request takes the inline fast path (hs_tls_fast) */
    uint8_t free_path;          /* enum hs_free_path */
    bool stats;                 /* HEAPSHIM_STATS=1: table on stderr at exit */
    bool publish;               /* live file (HEAPSHIM_PUBLISH, default on) */
    bool report_optional;       /* HEAPSHIM_REPORT_OPTIONAL=1: a report whose directory
                                 * is gone is skipped without a word (heapshim run) */
    bool have_report;
    /* the stderr the process started with (env.c, hs_shim_note_stderr):
     * 1 noted, -1 fd 2 was closed, 0 not yet; here, with the settings
     * written at start-up, so that noting it makes no page resident */
    int err_known;
    dev_t err_dev;
    ino_t err_ino;
    char allocator_name[16];    /* as recorded in reports and the live header */
    unsigned nrules;
    /* the big buffers last: a process without a report template or rules
     * writes only the first page of this struct at start-up */
    char report[PATH_MAX];      /* HEAPSHIM_REPORT template */
    struct hs_route_rule rules[HS_ROUTE_MAX];
};

extern HS_HIDDEN struct hs_shim_config hs_shim;

/* env.c: getenv() that also works before glibc has set `environ` (a first
 * malloc from a .preinit_array function) */
const char *hs_shim_getenv(const char *name);
/* env.c: read HEAPSHIM_* into hs_shim; one warning line per bad variable */
void hs_shim_read_env(void);
/* the fd for the shim's own lines: 2 while it is the stderr the process
 * started with (noted by hs_shim_note_stderr, first thing at start-up), or
 * a copy of that stderr once fd 2 was closed or reused (kept by
 * hs_shim_keep_stderr when HEAPSHIM_STATS or HEAPSHIM_REPORT is set), else
 * -1: the line is dropped, never written into another file (env.c) */
void hs_shim_note_stderr(void);
/* override.c: another allocator's malloc ahead of the shim? then the calls
 * it lacks go to it, and one warning line (at start-up) */
void hs_override_check_first(void);
void hs_shim_keep_stderr(void);
int  hs_shim_errfd(void);
/* Write all of buf to fd as the shim must: a reader that went away (stderr
 * piped into `head`, a FIFO) gives EPIPE, never a SIGPIPE that ends the
 * program (blocked while writing; one raised here is taken). 0 or an errno. */
int  hs_shim_write(int fd, const void *buf, size_t n);
/* write one line to stderr without allocating (errno kept) */
void hs_shim_warn(const char *a, const char *b, const char *c);
void hs_shim_warn_value(const char *var, const char *value, const char *rest);   /* VAR='value'rest */

/* route.c */
int  hs_route_parse(const char *spec, struct hs_route_rule *rules, unsigned max,
                    unsigned *n, const char **why);
bool hs_route_glob(const char *pattern, const char *name);
unsigned hs_route_caller(const void *ret_addr);   /* rules; default MEM */
void hs_shim_before_exec(void);       /* lifecycle.c: called by the exec family (exec.c) */
void hs_exec_setup(void);             /* exec.c: at start-up */
void hs_route_warn_unmatched(void);   /* at exit: one line per rule that matched no caller */
/* The domain of a plain call made from ret_addr: the thread's tag, else the
 * rules, else MEM. Used by malloc & co. (override.c) and mmap & co.
 * (mapped.c) alike. */
HS_INLINE unsigned hs_route(const void *ret_addr)
{
    int tag = hs_tls_tag;
    if (tag >= 0) return (unsigned)tag;
    if (HS_LIKELY(hs_shim.nrules == 0)) return HS_DOMAIN_MEM;
    return hs_route_caller(ret_addr);
}

#endif
