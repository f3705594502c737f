/*
 * include/heapshim/profile.h - the sampled heap profile file of a process,
 * $HEAPSHIM_DIR/<pid>.prof, shared between the shim (core/sample.c, the only
 * writer) and readers (tools/profile_read.c). docs/profiling.md describes
 * what is sampled; this header is the layout and the read protocol.
 *
 * The file is a fixed-size region: header, module table, stack table, live
 * table, interpreter-frame table, at the offsets the header gives. All
 * integers are native-endian (the file never leaves the machine as is).
 * Version 2; version 1 (before the interpreter frames: pyframes_off,
 * pyframes_cap and npyframes were reserved, zero) is read the same way.
 *
 * Writers: the threads of the process, one at a time (an in-process lock
 * held for a few hundred instructions per sample or sampled free). Each
 * change is bracketed by `seq`: odd while a change is under way, even when
 * the file is consistent.
 *
 * Readers (other processes) never map the file: they pread() it whole, read
 * `seq` before and after (retrying a few times while it moves or is odd),
 * and validate everything they use as hostile input: magic, version,
 * offsets and capacities against the file size, counts against capacities,
 * stack indexes against nstacks, depths against HS_PROF_DEPTH, modules'
 * strings NUL-terminated inside their field.
 *
 * Statistics: each sampled allocation stands for `weight_count` allocations
 * of its stack (fixed point, HS_PROF_WEIGHT_ONE = 1.0) and est_bytes bytes;
 * see docs/profiling.md for the estimator.
 */
#ifndef HEAPSHIM_PROFILE_H
#define HEAPSHIM_PROFILE_H
#include <stdint.h>

#define HS_PROF_MAGIC      0x31464f5250534823ull   /* "#HSPROF1" little-endian */
#define HS_PROF_VERSION    2u
#define HS_PROF_DEPTH      32u        /* frames kept per stack */
#define HS_PROF_MODULES    256u
#define HS_PROF_STACKS     32768u     /* power of two (the writer's hash index) */
#define HS_PROF_LIVE       32768u
#define HS_PROF_SEGS       4u         /* loadable segments kept per module */
#define HS_PROF_PATH       224u
#define HS_PROF_WEIGHT_ONE 65536u
#define HS_PROF_PYFRAMES   16384u     /* interpreter frames kept (distinct function + line) */
#define HS_PROF_PYNAME     96u
#define HS_PROF_PYFILE     152u

/* A stack's frame with this bit set is not a return address but an
 * interpreter's frame (a CPython function and line): its low 32 bits index
 * the interpreter-frame table. No user-space address has the bit. In a
 * stack such frames come right before (outside) the native frame of the
 * interpreter loop that runs them, innermost first as every frame. */
#define HS_PROF_FRAME_PY   (1ull << 63)

/* flags */
#define HS_PROF_F_EXITED   1u         /* the process exited normally (final copy) */

struct hs_prof_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;             /* sizeof(struct hs_prof_header) */
    uint64_t file_size;
    uint64_t seq;                     /* odd while being changed */
    int32_t  pid;
    uint32_t flags;
    uint64_t start_time;              /* /proc/<pid>/stat field 22: pid + this = one process */
    uint64_t rate;                    /* mean sampling interval, bytes */
    uint64_t created_unix_ns;
    uint64_t modules_off, stacks_off, live_off;
    uint32_t modules_cap, stacks_cap, live_cap, depth_cap;
    uint32_t nmodules;                /* used entries of the module table */
    uint32_t nstacks;                 /* used entries of the stack table: [0, nstacks) */
    uint64_t samples;                 /* sampled allocations so far */
    uint64_t sampled_frees;
    uint64_t dropped;                 /* samples not recorded: a table was full */
    uint64_t module_gen;              /* dl_iterate_phdr adds + subs at the last refresh */
    uint32_t live_hwm;                /* live entries [0, live_hwm) may be in use */
    uint32_t pad0;
    char     exe[256];                /* /proc/self/exe at creation */
    uint64_t pyframes_off;            /* version 2: the interpreter-frame table */
    uint32_t pyframes_cap;
    uint32_t npyframes;               /* used entries: [0, npyframes) */
    uint64_t exe_dev, exe_ino;        /* as in the live header (0: unknown) */
    uint64_t pidns_ino;               /* as in the live header (0: unknown) */
    uint64_t reserved[3];
};

struct hs_prof_segment {
    uint64_t start, end;              /* loaded address range */
    uint64_t offset;                  /* file offset of start */
    uint32_t flags;                   /* PF_X 1, PF_W 2, PF_R 4 */
    uint32_t pad;
};

struct hs_prof_module {
    uint64_t base;                    /* load bias (l_addr) */
    uint32_t nsegs;
    uint32_t build_id_len;            /* 0..20 */
    uint8_t  build_id[20];
    uint32_t pad;
    struct hs_prof_segment segs[HS_PROF_SEGS];
    char     path[HS_PROF_PATH];      /* NUL-terminated; "" for the executable = header.exe */
};

struct hs_prof_stack {
    uint64_t hash;                    /* 0 = empty entry */
    uint32_t depth;                   /* <= HS_PROF_DEPTH */
    uint32_t dom;                     /* 0 raw, 1 mem, 2 obj */
    uint64_t alloc_weight;            /* allocations since start, fixed point */
    uint64_t alloc_bytes;             /* estimated bytes allocated since start */
    uint64_t frames[HS_PROF_DEPTH];   /* return addresses, innermost first */
};

struct hs_prof_live {
    uint64_t addr;                    /* the block; 0 = free entry (its other fields are the writer's) */
    uint64_t size;                    /* requested size */
    uint64_t weight;                  /* allocations it stands for, fixed point */
    uint64_t est_bytes;               /* bytes it stands for */
    uint64_t time_ns;                 /* CLOCK_REALTIME of the allocation */
    uint32_t stack;                   /* index into the stack table */
    uint32_t dom;
};

/* One function and line of an interpreter (CPython: a code object's
 * co_qualname and co_filename, and the line the frame was running), as
 * copied by the process when a sample first met it. */
struct hs_prof_pyframe {
    uint64_t hash;                    /* of name, file and line; 0 = empty entry */
    int32_t  line;                    /* -1: unknown */
    int32_t  first_line;              /* the function's first line */
    char     name[HS_PROF_PYNAME];    /* UTF-8, NUL-terminated, cut at a character boundary */
    char     file[HS_PROF_PYFILE];    /* UTF-8, NUL-terminated; the start is dropped when too long */
};

#endif /* HEAPSHIM_PROFILE_H */
