/*
 * ebpf/probe.h - records shared by the kernel side (probe.bpf.c) and the
 * loader (probe.c). Plain fixed-width C: included by both sides.
 *
 * Two ways data reaches user space:
 *
 *   push  the USDT points heapshim:init / heapshim:publish (core/live.c) fire in
 *         the shimmed process with (region, size); the BPF program copies the
 *         header's published snapshot (seqlock) into map `procs`, keyed by tgid.
 *         The same map carries what only the kernel sees (RSS, mmap/munmap/brk
 *         traffic), so a tgid is "tracked" from its first USDT hit on.
 *
 *   pull  a sleepable task iterator reads every shimmed process's region with
 *         bpf_copy_from_user_task and writes one struct hs_probe_pull per
 *         process to the iterator's seq_file: the header as it is now, plus all
 *         used per-thread slots summed into one slot (and the largest
 *         high-water mark of the slots holding a peak grant). The loader pulls
 *         twice and runs hs_live_read_copies() on the two: a process whose
 *         counters did not move is read at that instant (also one idle since
 *         before the probe started), a busy one from its published snapshot
 *         (include/heapshim/live.h, "Consistent reads": the probe cannot ask
 *         for a publication, so a busy process's row may lag by up to
 *         HS_LIVE_PUBLISH_MS).
 */
#ifndef HS_EBPF_PROBE_H
#define HS_EBPF_PROBE_H

#include <heapshim/live.h>

#define HSP_MAX_PROCS   4096        /* tracked processes (map size) */
#define HSP_MAX_LIBS    4           /* library versions (inodes) watched at once */
#define HSP_MAX_SLOTS   HS_LIVE_MAX_SLOTS
#define HSP_SLOT_WORDS  (sizeof(struct hs_live_slot) / 8)
#define HSP_USER_HZ     100         /* /proc/PID/stat start times: task->start_boottime in these ticks */

/* syscalls counted per tracked process (x86_64 numbers) */
enum { HSP_SC_MMAP, HSP_SC_MUNMAP, HSP_SC_BRK, HSP_SC_MREMAP, HSP_SC_N };

struct hsp_syscalls {
    uint64_t calls[HSP_SC_N];
    uint64_t failed[HSP_SC_N];
    uint64_t bytes_in;              /* mmap length (successful), brk growth, mremap growth */
    uint64_t bytes_out;             /* munmap length (successful), brk shrink, mremap shrink */
    uint64_t last_brk;              /* program break after the last brk() seen */
    /* USDT statistics: here rather than in `procs` because they are updated
     * in place with atomics (two threads of a process may publish at once) */
    uint64_t usdt_hits;             /* publish + init points seen */
    uint64_t usdt_skipped;          /* snapshot being rewritten: kept the previous one */
};

/* an event of ring buffer `births` (--serve): a process that set up the
 * shim, with the labels its region records (live.h labels_offset): the
 * area as it lies after the header, checked by the reader */
struct hsp_birth {
    __u32 tgid;
    __u32 labels_offset, labels_len;   /* the header's (0, 0: not read) */
    __u32 _pad;
    __u64 created_unix_ns;             /* the header's (0: not read) */
    char area[HS_LIVE_LABELS_AREA];
};

/* value of map `procs` (key: tgid) -- filled by the USDT programs, the
 * syscall counters by tp_btf/sys_exit; the pull path inserts entries too. */
struct hsp_proc {
    uint32_t tgid;
    uint32_t flags;                 /* HSP_F_* */
    uint64_t region, region_size;   /* USDT arguments */
    uint64_t rss_bytes;             /* task->mm at the last USDT hit */
    uint64_t rss_anon_bytes;        /* its anonymous pages (MM_ANONPAGES) */
    uint64_t brk_bytes;             /* mm->brk - mm->start_brk at the last USDT hit */
    uint64_t seen_ns;               /* bpf_ktime_get_ns() of the last hit */
    /* identity, copied from the header on first sight */
    int32_t  pid;
    uint32_t uid;
    uint64_t start_time;            /* clock ticks since boot, /proc/PID/stat field 22 */
    uint64_t created_unix_ns;
    char     comm[16];
    char     allocator[16];
    char     cmdline[256];          /* the header's (argv joined by spaces) */
    /* the header's live globals at the last hit (not part of the snapshot) */
    uint64_t arenas_peak, pools_used, pools_free;
    /* published snapshot: header fields seq .. snap_bytes_mapped, snap_mapped */
    uint64_t seq, published_unix_ns, publications, pub_rss_bytes;
    struct hs_live_domain snap[4];
    uint64_t snap_arenas_mapped, snap_bytes_mapped;
    struct hs_live_mapped snap_mapped;  /* the program's own mappings (version 3) */
    /* window steps (version 4): the header's wsteps and claimed[], copied at
     * each hit after wread_ns (bpf_ktime_get_ns, CLOCK_MONOTONIC) was read */
    uint64_t wread_ns;
    int64_t claimed[4];
    uint64_t wsteps[HS_LIVE_WSTEPS][4];
    /* a fork child's base (live.h base_offset; zeros if none), at each hit */
    struct hs_live_base base;
    /* kernel-only: the process's mapping traffic since it was tracked */
    struct hsp_syscalls sc;
};
#define HSP_F_IDENTITY  1u          /* identity fields valid */
#define HSP_F_SNAPSHOT  2u          /* a snapshot was copied */
#define HSP_F_EXITED    4u          /* last thread exited (kept for the loader when keep_exited) */

/* One record of the pull iterator. */
#define HSP_PULL_MAGIC  0x4c4c5550u /* "PULL" */
enum {
    HSP_PULL_OK = 0,
    HSP_PULL_NOT_READY,             /* library mapped, hs_live still NULL */
    HSP_PULL_READ_FAILED,           /* bpf_copy_from_user_task failed */
    HSP_PULL_BAD_HEADER,            /* not a version-1 region */
    HSP_PULL_VMA_BUSY,              /* the vma walk could not start (mmap lock
                                     * busy, no memory) and no region was known
                                     * from an earlier pull or from USDT */
};
struct hs_probe_pull {
    uint32_t magic;                 /* HSP_PULL_MAGIC */
    uint32_t status;                /* HSP_PULL_* */
    uint32_t tgid;
    uint32_t threads;               /* slots with an owner */
    uint32_t slots_summed;
    uint32_t lib;                   /* index of the library version it maps */
    uint32_t flags;                 /* HSP_PF_* */
    uint32_t _pad;
    uint64_t region;
    uint64_t rss_bytes;             /* task->mm now: file + anon + shmem pages */
    uint64_t rss_anon_bytes;        /* anon pages alone (RssAnon) */
    uint64_t brk_bytes;             /* mm->brk - mm->start_brk */
    uint64_t start_boottime_ns;     /* task->start_boottime */
    struct hs_live_header hdr;      /* copied now */
    struct hs_live_slot sum;        /* all used slots summed (see above) */
    struct hs_live_base base;       /* a fork child's base (zeros if none) */
};

#define HSP_PF_VMA_BUSY  1u         /* vma walk failed; region from an earlier pull or USDT */

/* value of map `pulled` (key: tgid): what the pull iterator found last time,
 * the fallback when the vma walk cannot start, and the mark that lets it
 * notice an exec into an image without the library */
struct hsp_seen {
    uint64_t region;
    uint64_t base;                  /* address of the library's mapping at offset 0 */
    uint32_t lib;
    uint32_t _pad;
};

/* Library versions the iterator recognises, set by the loader. inode is
 * the kernel's struct inode pointer, found by the calibration pass on the
 * loader's own mapping of the file (see probe.bpf.c). */
struct hsp_lib {
    uint64_t inode;
    uint64_t sym_off;               /* &hs_live minus the address of file offset 0; 0 = unknown */
};

#endif
