/*
 * heapshim/live.h - layout of the live counter region (version 5).
 *
 * Shared by the writer (the allocator, in every shimmed process) and by all
 * readers (heapshim top/export/run --timeline, the eBPF probe). Keep it plain
 * C with fixed-width types: it is also included by BPF programs.
 *
 * Where it lives
 *   In a process running under LD_PRELOAD=libheapshim.so the region is a
 *   MAP_SHARED mapping of the file  $HEAPSHIM_DIR/<pid>  (default
 *   /dev/shm/heapshim-<uid>/<pid>, directory 0700, file 0600). When
 *   publishing is off (HEAPSHIM_PUBLISH=0), or in a program that links the
 *   library without the shim, the same layout sits in anonymous memory.
 *
 *   Exits kept for a collector: while the directory holds a file named
 *   HS_LIVE_COLLECTOR (mode 0600, the owner's, holding "<pid> <start
 *   time>\n" of a running collector, `heapshim serve`: decimal, the start
 *   time as /proc/<pid>/stat field 22), a process that exits normally
 *   renames its file, final counters and state EXITED in it, to
 *   HS_LIVE_EXITED_PREFIX "<pid>.<inode>" instead of removing it; the
 *   collector folds it and removes it. A worker that lives a millisecond
 *   is gone before any reader can open its file; this one outlives it.
 *   Without a running collector the file is removed as before (`heapshim
 *   gc` removes what a collector killed by SIGKILL left). Running means
 *   alive and beating: the collector sets the file's modification time
 *   every HS_LIVE_COLLECTOR_BEAT seconds, and one whose file is older than
 *   HS_LIVE_COLLECTOR_STALE seconds (stopped by SIGSTOP, a frozen cgroup,
 *   hung) is not running, so that exits never pile up in the directory for
 *   longer than that; the collector does not count the exits of such a gap
 *   and says so when it beats again.
 *
 *   +--------------------------+  offset 0
 *   | struct hs_live_header     |  identity, globals, published snapshot
 *   | labels (896 B), base      |  HEAPSHIM_LABELS text, a fork child's base
 *   +--------------------------+  header.slots_offset
 *   | struct hs_live_slot [0]   |  slot 0: shared fallback slot (under a lock)
 *   | struct hs_live_slot [1]   |  one slot per thread, recycled at thread exit
 *   | ...                       |
 *   | struct hs_live_slot [n-1] |  n = header.nslots; only [0, slots_used) used
 *   +--------------------------+  header.file_size
 *
 * Counting
 *   Every thread counts into its own slot with plain stores (nobody else
 *   writes it): per (domain, size class) block counts for small arena
 *   blocks, per domain allocs/frees/bytes for the others. All of these only
 *   grow; live = allocs - frees. A slot keeps its counts when its thread
 *   exits and another thread takes it over.
 *
 * Peaks: claims (version 2)
 *   header.claimed[i] (i = domain, or HS_LIVE_TOTAL) is an upper bound of the
 *   live bytes at every instant. A thread that allocates first takes a
 *   *claim* on it: slot.pending[i] = (bytes it counted) - (bytes it claimed)
 *   is kept <= 0. When an allocation makes it positive the thread adds
 *   pending + grant to claimed[i] (one atomic add); when frees take it below
 *   slot.release_at[i] = -2*grant it gives the excess back down to -grant.
 *   A slot without a grant (a thread that only frees) takes one at such a
 *   release, leaving the same state as a claim (pending -grant, release_at
 *   -2*grant), so that it releases once per grant of frees, not per free.
 *   So, with L the live bytes and G the sum of the grants held,
 *       L <= claimed[i] <= L + 2G                              at every instant.
 *   slot.hwm[i] is the slot's highest pending since its last claim or
 *   release. The peak is folded into peak[i] (and window_peak[i]), which only
 *   grow, from three events:
 *     - a claim:   claimed-before + the claimer's pending (>= L: every other
 *                  pending is <= 0);
 *     - a release, or a slot given up: claimed-before + the slot's hwm when
 *                  it is the only slot holding a grant (then L = claimed +
 *                  its pending exactly), claimed-before otherwise;
 *     - a reader:  V = max(peak[i], claimed[i] + the largest hwm of the
 *                  slots holding a grant; claimed[i] if none does; live).
 *   V is what every reader reports: it never decreases, live <= V, and
 *       true peak <= V <= true peak + 2G
 *   and V is exact while one thread at a time holds a grant. The grants
 *   come from a budget per index, max(64 KiB, peak[i] / 100) / 2: a slot
 *   taking or renewing one (at each claim, and at each release of a slot
 *   that holds one) gets at most half of what the other slots' grants leave
 *   of it, at most twice its last grant (a first one: budget / 256), and at
 *   least one byte (a slot alone comes to 16 KiB below 6.4 MiB of peak; n
 *   slots that keep claiming settle at about budget / (n + 1) each; a
 *   thread that allocated once and waits keeps a small first grant). So
 *   G <= budget + (slots holding a grant) bytes
 *   and, for up to 64 slots holding a grant (slot 0 holds none),
 *       true peak <= V < true peak + max(64 KiB, 1% of V) + 2 * slots.
 *   Past 64 holders (h of them) the budget is h/64 times that, first
 *   grants staying budget / 256 of the base: grants are not taken back from
 *   a thread that waits, and 400 threads that allocated once held the whole
 *   base budget, leaving busy threads 1 byte each (a claim and a release
 *   at every call, 8x slower: stop 32). Then
 *       true peak <= V < true peak + (h / 64) * max(64 KiB, 1% of V) + 2 * slots.
 *   (The grant used to be budget / 32 whatever the number of threads: the
 *   bound held for 32 of them, and a lone thread claimed 16x as often; then
 *   a quarter of what is left: a thread freeing and allocating blocks of
 *   8-16 KiB claimed and released at every call.) A reader
 *   resets window_peak[i] to claimed[i], never below live.
 *
 * Window steps (version 4)
 *   window_peak[] is one mark per file, which a reader must reset to start
 *   a new window: two readers steal each other's spikes, and a reader that
 *   may not write (the eBPF probe) cannot use it. So the process also keeps
 *   its peaks by time: wsteps[k][i] holds, packed (hs_live_wpack), the
 *   highest value folded into index i (domain, or HS_LIVE_TOTAL) during
 *   step number S = CLOCK_MONOTONIC_COARSE >> HS_LIVE_WSTEP_SHIFT (1.07 s),
 *   k = S % HS_LIVE_WSTEPS, with S in the high bits: one atomic max both
 *   opens a step (a later S beats any value of an earlier one) and raises
 *   it. Nobody resets anything; any number of readers read the same marks.
 *   What is folded (core/live.c): at a claim, the claimed[i] it leaves
 *   (before + pending + grant); at a release or a slot given up, what the
 *   peak gets (claimed before, or before + hwm when the slot is alone, see
 *   "Peaks"); at an in-process consistent read, its live bytes. Each of
 *   these is >= live from that event until the next one, and every value of
 *   claimed[i] is <= live + 2G. The step a fold goes to is the one of the
 *   process's latest clock look (every tick, publication and in-process
 *   read, and a claim by a thread that claimed HS_LIVE_WSTEP_LOOK bytes
 *   since its own last look), not a clock read per claim: a fold can carry
 *   an older step than its own only while no thread looked at the clock
 *   since, each having claimed less than HS_LIVE_WSTEP_LOOK meanwhile. So a
 *   reader that copied the header at T0 and again at T1 (reading the clock
 *   just before each copy) bounds the true peak P of (T0, T1] by
 *       M = max(claimed[i] at T0, live at T1, the marks of steps S(T0)..S(T1))
 *       P - W <= M <= the highest live + 2G over (T0 - 1.07 s, T1]
 *   with W = 0, or up to HS_LIVE_WSTEP_LOOK per allocating thread when no
 *   thread of the process looked at the clock between T0 and the peak (the
 *   step holding T0 may carry a value from before T0), provided
 *   S(T1) - S(T0) < HS_LIVE_WSTEPS (17 s): a reader that copies less often
 *   has lost the oldest steps (hs_live_step_mark says so). Marks count
 *   64-byte units, rounded up, at most 2^36 of them (4 TiB; more saturates);
 *   step numbers wrap every 2^28 steps (9 years of uptime). CLOCK_MONOTONIC
 *   is offset by time namespaces: a reader in another time namespace than
 *   the process (a container with its own) would see wrong steps.
 *
 * Consistent reads
 *   A sum of slots read one after the other while threads allocate is not a
 *   state that existed (a block freed by thread B after the reader passed
 *   B's slot, allocated by A before it reached A's ...). Three readers:
 *   - In the process (hs_total_stats & co., the publication below): an epoch
 *     protocol. The reader bumps a process-wide epoch and then header.poke;
 *     every counting operation compares header.poke with its slot's
 *     seen_poke, and one that finds it moved looks at the epoch: a thread
 *     whose next operation sees a new epoch first copies its slot aside
 *     (privately); the reader takes, slot by slot, the copy or the current
 *     slot. Operations are thus cut at the epoch change, respecting
 *     causality: a consistent cut, no phantom blocks, counters that never go
 *     back. A slot's multi-field updates (large blocks, reallocs) are
 *     bracketed by slot.seq (odd while under way).
 *   - The published snapshot (header.seq .. snap[], snap_cut_ns): a
 *     seqlock'd result of that in-process read, refreshed by the allocating
 *     threads themselves at most every HS_LIVE_PUBLISH_MS (they look at
 *     the clock every HS_LIVE_TICK_OPS counting operations, and on the
 *     small-block fast path every 128 KiB allocated), at the next
 *     operation after a reader's request, on thread exit, hs_publish() and
 *     exit. snap_cut_ns: CLOCK_MONOTONIC when its cut began.
 *   - Readers of the file in other processes (hs_live_read_fd): a copy of
 *     the used part, then a request (new values in pub_req and poke: the
 *     process's next counting operation publishes before it counts), then
 *     either a publication whose cut began after the request (the process
 *     is busy) or a second copy equal to the first in every counter (the
 *     process is idle: nothing happened in between, since counters only
 *     grow, and the copy is the exact state at that moment; the request
 *     stays pending, so the process publishes before anything changes).
 *     So successive reads never go back, also when one is an instant and
 *     the next a publication. A reader without write access cannot ask:
 *     its published reads may lag an earlier instant read by up to
 *     HS_LIVE_PUBLISH_MS. The eBPF probe is such a reader: it pulls twice
 *     and uses hs_live_read_copies (instant or last publication).
 *
 * Mapped memory (version 3)
 *   header.mapped counts the anonymous private mappings that the program
 *   makes itself through libc's mmap/mmap64, as they are changed by munmap,
 *   mremap, mprotect and madvise (interpose/mapped.c): GC heaps, JIT heaps,
 *   the arenas of allocators the shim does not replace. Not counted: file
 *   and MAP_SHARED mappings, glibc's own mappings (large malloc blocks,
 *   thread stacks, the loader: glibc calls its internal __mmap, not the
 *   exported symbol), the shim's own (core/prim/sys.c makes raw system
 *   calls), and calls made as raw syscalls or from libraries loaded with
 *   RTLD_DEEPBIND. live_bytes[d] are the bytes of such mappings that are
 *   accessible now (PROT_NONE reservations are not memory in use: a page
 *   counts from the mmap or mprotect that makes it accessible); d is the
 *   domain the calling object is routed to (HEAPSHIM_ROUTE, a tag; default
 *   mem) when it was mapped, [HS_LIVE_TOTAL] their sum. madvise(DONTNEED,
 *   FREE) only counts discards: the pages stay mapped and accessible and
 *   come back at the next touch, which no call reports, so live is the
 *   accessible address space, an upper bound of what those mappings hold
 *   resident.
 *   Writers: every update (one call of the family) runs under a process-wide
 *   lock, between two increments of header.mseq (odd while under way), and
 *   peak_bytes[i] = max(peak_bytes[i], live_bytes[i]) is taken in the same
 *   update: the peaks are exact (the highest value live took). Bytes go
 *   away before the system call that frees them (munmap, mremap's old
 *   range, MAP_FIXED over counted pages) and come after the one that maps
 *   them, so live never exceeds what the kernel holds of them.
 *   Readers: in the process, mseq read before and after (even and equal);
 *   the published snapshot copies a consistent mapped block (snap_mapped);
 *   other processes take it as part of their instant (two equal copies of
 *   the header, mseq even) or from the publication. Every reader therefore
 *   sees live <= peak and a maps/unmaps pair of one moment.
 *
 * Fork
 *   The fork handlers stop counting threads at their next operation (at most
 *   200 ms, so a thread blocked elsewhere cannot deadlock a fork), copy the
 *   region privately, and the child starts from that copy: the child's
 *   counters are the parent's at the fork (an operation in flight in
 *   another thread at that very moment may be on either side). They are
 *   private memory until the child shows it will live (interpose/
 *   lifecycle.c: 20 ms, 1 MiB, a thread, a fork, setsid, daemon, a uid
 *   change), then its own file; a child that execs or exits before never
 *   has one. Until its file is made, the child's header.start_time is 0
 *   (read with the file: a first /proc read costs a new process 25-35 us);
 *   a reader of its memory (the probe) takes the kernel's start time then.
 *   Its profile (profile.h) goes the same way: private until the live file
 *   is made, then a file of its own.
 *
 * Staleness
 *   The file is unlinked at normal exit and header.state set to
 *   HS_LIVE_STATE_EXITED. A file left by a killed process is recognised by
 *   checking that /proc/<pid>/stat still shows header.start_time (field 22):
 *   a different or missing value means the file is stale. A process that
 *   exec()s a program without the shim keeps both (its old image's file
 *   stays, as would its counters in a reader); so header.exe_dev/exe_ino
 *   name the program file, and a /proc/<pid>/exe that stat()s to another
 *   file also means stale (a reader that may not look there, or a zero
 *   exe_ino, goes by the start time alone). header.ppid keeps the parent of
 *   a process whose /proc entry is gone.
 */
#ifndef HEAPSHIM_LIVE_H
#define HEAPSHIM_LIVE_H

#ifndef __BPF__
#include <stdint.h>
#include <stddef.h>
#endif

/* the collector's file and the names of exits kept for it ("Where it lives") */
#define HS_LIVE_COLLECTOR      ".collector"
#define HS_LIVE_EXITED_PREFIX  ".exited."
/* the collector's heartbeat: it sets the file's modification time at least
 * every HS_LIVE_COLLECTOR_BEAT seconds; a file older than
 * HS_LIVE_COLLECTOR_STALE seconds is a collector that does not run (stopped,
 * frozen, hung), and exiting processes remove their files as without one */
#define HS_LIVE_COLLECTOR_BEAT   1
#define HS_LIVE_COLLECTOR_STALE  10

#define HS_LIVE_MAGIC        0x314556494c534848ull   /* "HHSLIVE1" little-endian */
#define HS_LIVE_VERSION      5u
#define HS_LIVE_NDOM         3          /* raw, mem, obj */
#define HS_LIVE_TOTAL        3          /* index of the all-domain total in [4] arrays */
#define HS_LIVE_NCLASSES     64         /* 16-byte classes up to 1024 B (version 5; 32, up to 512 B, before) */
#define HS_LIVE_MAX_SLOTS    1024       /* file is sized for this many (sparse) */
#define HS_LIVE_PEAK_SLACK   (64 * 1024)   /* absolute part of the peak bound */
#define HS_LIVE_PEAK_THREADS 32          /* unused since grants come from a budget ("Peaks"); kept for sources that name it */
#define HS_LIVE_TICK_OPS     4096        /* counting operations between clock looks */
#define HS_LIVE_WSTEPS       16          /* window steps kept (version 4) */
#define HS_LIVE_WSTEP_SHIFT  30          /* a step: 2^30 ns of CLOCK_MONOTONIC_COARSE */
#define HS_LIVE_WSTEP_BITS   28          /* step number bits of a packed mark */
#define HS_LIVE_WUNIT_SHIFT  6           /* marks count 64-byte units */
#define HS_LIVE_WSTEP_LOOK   (128 * 1024) /* bytes a thread claims between clock looks, at most */

#define HS_LIVE_STATE_RUNNING 1u
#define HS_LIVE_STATE_EXITED  2u

/* Cumulative per-domain counters of one slot, for blocks that are not
 * small arena blocks (large MEM/OBJ blocks and all RAW blocks), plus the
 * per-domain realloc and failure counts. Every field only grows. */
struct hs_live_counters {
    uint64_t allocs, reallocs, frees, failed;
    uint64_t alloc_bytes, free_bytes;   /* usable bytes; live = alloc - free */
    uint64_t moves;                     /* small blocks moved by realloc: one
                                         * small alloc + one small free that
                                         * the domain counts as a realloc */
    uint64_t _spare;
};

/* Small arena blocks are counted per (domain, size class) only: on the fast
 * path that is one increment, and readers derive blocks and bytes
 * (count * class size). allocs of a domain = small_allocs - moves + allocs. */
#define HS_LIVE_SMALLDOM 2              /* [0] = mem, [1] = obj */

struct hs_live_slot {
    /* line 0: written by the owner's allocations and frees */
    int64_t  pending[4];                /* [domain], [HS_LIVE_TOTAL]: counted - claimed, <= 0 */
    int64_t  hwm[4];                    /* highest pending since the last claim or release */
    /* line 1 */
    uint64_t seen_poke;                 /* header.poke when this slot last looked */
    int64_t  tick;                      /* operations left before the next clock look */
    uint64_t seq;                       /* odd while a multi-field update runs */
    uint64_t owner;                     /* kernel tid of the owner, 0 = free */
    int64_t  release_at[4];             /* -2 * grant; 0: the slot holds no grant */
    /* line 2: rarely written */
    uint64_t epoch;                     /* in-process snapshot epoch seen last */
    uint64_t _spare[7];
    struct hs_live_counters dom[HS_LIVE_NDOM];
    uint64_t small_allocs[HS_LIVE_SMALLDOM][HS_LIVE_NCLASSES];
    uint64_t small_frees[HS_LIVE_SMALLDOM][HS_LIVE_NCLASSES];
};   /* 2432 bytes */

/* A published, self-consistent snapshot (one hs_domain_stats_t per domain). */
struct hs_live_domain {
    uint64_t live_bytes, live_blocks, peak_bytes;
    uint64_t allocs, reallocs, frees, failed;
};

/* The program's own anonymous private mappings (see "Mapped memory"). */
struct hs_live_mapped {
    uint64_t live_bytes[4];             /* raw, mem, obj, total: accessible now */
    uint64_t peak_bytes[4];             /* exact high-water marks of live_bytes */
    uint64_t maps;                      /* mmap calls that mapped counted pages */
    uint64_t unmaps;                    /* munmap calls that removed counted pages */
    uint64_t remaps;                    /* mremap calls of counted mappings */
    uint64_t protects;                  /* mprotect calls that changed counted pages */
    uint64_t discards, discard_bytes;   /* madvise(DONTNEED/FREE) over counted pages */
};   /* 112 bytes */

struct hs_live_header {
    /* identity -- written once at creation */
    uint64_t magic;                 /* HS_LIVE_MAGIC */
    uint32_t version;               /* HS_LIVE_VERSION */
    uint32_t header_size;           /* sizeof(struct hs_live_header) */
    uint64_t file_size;             /* bytes of the whole region */
    uint32_t slot_size;             /* sizeof(struct hs_live_slot) */
    uint32_t nslots;                /* slots in the region */
    uint64_t slots_offset;          /* byte offset of slot 0 */
    int32_t  pid;
    uint32_t uid;
    uint64_t start_time;            /* /proc/<pid>/stat field 22, clock ticks */
    uint64_t created_unix_ns;       /* CLOCK_REALTIME at creation */
    char     comm[16];              /* NUL-terminated */
    char     cmdline[256];          /* argv joined by spaces, NUL-terminated, may be cut */
    char     allocator[16];         /* "pymalloc", "malloc", "pymalloc_debug", ... */
    uint64_t arena_size, pool_size;

    /* live globals -- atomics, written by the process */
    uint32_t state;                 /* HS_LIVE_STATE_* */
    uint32_t slots_used;            /* high-water of slots handed out */
    int64_t  claimed[4];            /* [HS_LIVE_NDOM] + total: >= live, see "Peaks" */
    int64_t  peak[4];               /* high-water marks of claimed[] */
    int64_t  window_peak[4];        /* high-water since a reader last reset it to claimed[] */
    uint64_t arenas_mapped, arenas_peak, bytes_mapped, pools_used, pools_free;
    uint64_t arenas_allocated_total, arenas_freed_total;
    uint64_t class_pools[HS_LIVE_NCLASSES];

    /* published snapshot -- seqlock: seq is odd while the process writes.
     * A consistent in-process read (see "Consistent reads"), refreshed at
     * most every HS_LIVE_PUBLISH_MS while the process allocates, and at
     * thread exit and exit; this is what the eBPF probe reads at its USDT
     * point and what other readers fall back to while the process is busy. */
    uint64_t seq;
    uint64_t published_unix_ns;
    uint64_t publications;
    uint64_t snap_cut_ns;           /* CLOCK_MONOTONIC when the snapshot's cut began */
    uint64_t rss_bytes;             /* 0: no longer written (readers read RSS from /proc or the kernel) */
    struct hs_live_domain snap[4];  /* raw, mem, obj, total */
    uint64_t snap_arenas_mapped, snap_bytes_mapped;

    /* requests -- a cache line of their own (offset 1344; the region starts
     * on a page): every counting operation of the process reads `poke`, and
     * only readers write here. Padding instead of an alignment attribute, so
     * that a copy of the header at any address is plain bytes to read. */
    uint64_t _req_pad0[3];
    uint64_t poke;                  /* any new value: writers look up the
                                     * epoch and pub_req at their next operation */
    uint64_t pub_req;               /* any new value: publish at the next operation */
    uint64_t _req_pad[6];

    /* mapped memory (version 3) -- seqlock mseq: odd while a call updates */
    uint64_t mseq;
    struct hs_live_mapped mapped;
    /* ... and as of the published snapshot (under seq, like snap[]) */
    struct hs_live_mapped snap_mapped;

    /* window steps (version 4) -- atomics, see "Window steps" */
    uint64_t wsteps[HS_LIVE_WSTEPS][4];

    /* the program file (stat of /proc/self/exe at creation: st_dev, st_ino;
     * 0 in files of shims before stop 29). A process that exec()s a
     * program without the shim keeps its pid and start time, and its file
     * stays behind: readers compare these with /proc/<pid>/exe. */
    uint64_t exe_dev, exe_ino;
    /* the pid namespace the pid belongs to (st_ino of /proc/self/ns/pid; 0
     * unknown, and in files of shims before stop 29): a reader in another
     * namespace cannot look the process up by this pid -- /proc/<pid> there
     * is some other process -- so it neither lists nor removes the file */
    uint64_t pidns_ino;
    /* the parent's pid (getppid() at creation; in a fork child, the forking
     * process), numbered in pidns_ino's namespace; 0 unknown, and in files
     * of shims before stop 29. /proc/<pid>/stat has it only while the
     * process lives (then the reaper's, once the parent is gone): with it a
     * reader places a process in its tree after it died (`heapshim run`).
     * The process writes it: a reader takes it as a claim, not a fact. */
    int32_t  ppid;
    /* HEAPSHIM_LABELS as the process found it in its environment at start
     * (stop 32): labels_len bytes at labels_offset, no NUL, inside
     * [header_size, slots_offset) (the area of HS_LIVE_LABELS_AREA bytes
     * between the header and slot 0). labels_offset 0: not recorded (files
     * of shims before stop 32), readers ask /proc/<pid>/environ; labels_len
     * 0: not set; HS_LIVE_LABELS_TOO_LONG: set, HS_LIVE_LABELS_AREA bytes
     * or longer.
     * Exporters take a process's labels from here, so that a worker that
     * lived a few milliseconds is labelled after its death (its environ is
     * gone with it). The process writes it: a reader checks it like any
     * other value of the file (the labels' rules, interpose/labels.h). */
    uint32_t labels_offset;
    uint32_t labels_len;
    /* A fork child's counters at the fork (stop 32): a struct hs_live_base
     * at base_offset (after the labels' area, before slot 0), written by the
     * child before it counts anything of its own; 0: none (not a fork
     * child, or a shim before stop 32). The child's counters start as the
     * parent's (see "Fork"), so a reader that adds processes up (a service's
     * allocations) takes a child's counts less these, or it counts the
     * parent's history once more per child (a preforking server: 350,000
     * allocations served for 200,000 made). */
    uint32_t base_offset;
    uint64_t _reserved[6];
};   /* 2240 bytes */

#define HS_LIVE_LABELS_AREA     896u           /* bytes of labels' text room after the header */
#define HS_LIVE_LABELS_TOO_LONG 0xffffffffu

/* what a fork child inherited, per index (raw, mem, obj, total) */
struct hs_live_base {
    uint64_t allocs[4], reallocs[4], frees[4], failed[4];
};   /* 128 bytes */
/* bytes between the header and slot 0: the labels, then the base */
#define HS_LIVE_EXTRA_AREA (HS_LIVE_LABELS_AREA + 128u)

#define HS_LIVE_PUBLISH_MS 50

#ifndef __BPF__
_Static_assert(offsetof(struct hs_live_header, poke) % 64 == 0, "poke on a cache line of its own");
_Static_assert(sizeof(struct hs_live_header) == 2240, "version 5 header size");
_Static_assert(sizeof(struct hs_live_slot) == 2432, "version 5 slot size");

/* A window mark: the step number (its low HS_LIVE_WSTEP_BITS bits) above
 * the value in 64-byte units (rounded up, saturating). */
static inline uint64_t hs_live_wpack(uint64_t step, int64_t bytes)
{
    const uint64_t vbits = 64 - HS_LIVE_WSTEP_BITS, vmax = (1ull << vbits) - 1;
    uint64_t u = bytes <= 0 ? 0 : ((uint64_t)bytes + (1u << HS_LIVE_WUNIT_SHIFT) - 1) >> HS_LIVE_WUNIT_SHIFT;
    if (u > vmax) u = vmax;
    return ((step & ((1ull << HS_LIVE_WSTEP_BITS) - 1)) << vbits) | u;
}
static inline uint64_t hs_live_wstep_of(uint64_t packed) { return packed >> (64 - HS_LIVE_WSTEP_BITS); }
static inline uint64_t hs_live_wbytes_of(uint64_t packed)
{
    return (packed & ((1ull << (64 - HS_LIVE_WSTEP_BITS)) - 1)) << HS_LIVE_WUNIT_SHIFT;
}
/* The step number of a CLOCK_MONOTONIC(_COARSE) time in ns. */
static inline uint64_t hs_live_step_at(uint64_t mono_ns) { return mono_ns >> HS_LIVE_WSTEP_SHIFT; }

/* The highest mark of index i (a domain or HS_LIVE_TOTAL) over the steps
 * from..to (step numbers) in a copy of wsteps, in bytes. *lost (may be
 * NULL) is set to 1 when the range is longer than the steps kept (its
 * oldest steps are gone; the rest is used), else 0. A hostile copy can only
 * make the answer wrong, never make it read outside the copy. */
static inline uint64_t hs_live_step_mark(const uint64_t ws[HS_LIVE_WSTEPS][4], uint64_t from, uint64_t to,
                                         unsigned i, int *lost)
{
    const uint64_t smask = (1ull << HS_LIVE_WSTEP_BITS) - 1;
    uint64_t best = 0;
    if (lost) *lost = 0;
    if (i > 3 || from > to) return 0;
    if (to - from >= HS_LIVE_WSTEPS) {
        if (lost) *lost = 1;
        from = to - (HS_LIVE_WSTEPS - 1);
    }
    for (uint64_t s = from; s <= to; s++) {
        uint64_t m = ws[s % HS_LIVE_WSTEPS][i];
        if (hs_live_wstep_of(m) == (s & smask) && hs_live_wbytes_of(m) > best) best = hs_live_wbytes_of(m);
    }
    return best;
}

/* Result of summing a region (what a reader wants). */
struct hs_live_snapshot {
    struct hs_live_domain dom[4];   /* raw, mem, obj, total */
    uint64_t arenas_mapped, arenas_peak, bytes_mapped, pools_used, pools_free;
    uint64_t class_blocks[HS_LIVE_NCLASSES], class_pools[HS_LIVE_NCLASSES];
    uint32_t threads;               /* slots currently owned */
    struct hs_live_mapped mapped;   /* the program's own mappings (version 3) */
};

/* Validate a region of len bytes (mapped or copied from a file) and sum it.
 * Returns 0, or -1 with *why set to a static one-line reason ("bad magic",
 * "unsupported version 7 (this reader knows 1)", "truncated: ...").
 * Never reads outside [region, region+len). Safe on hostile input. */
int hs_live_sum(const void *region, size_t len, struct hs_live_snapshot *out,
                const char **why);

/* Read a live file of another process from two copies a and b of its first
 * len bytes, b made after a (see "Consistent reads"): when every counter is
 * the same in both, sum a (*how = "instant"); otherwise take the published
 * snapshot, if a and b hold the same complete publication (*how =
 * "published"). Returns 0, or -1 with *why set ("busy: publication under
 * way", or what hs_live_sum says). Never reads outside the copies. */
int hs_live_read_copies(const void *a, const void *b, size_t len,
                        struct hs_live_snapshot *out, const char **how, const char **why);

/* Read the live file of another process open on fd (read access; with
 * write access too, publication requests make successive reads monotonic,
 * see "Consistent reads") into buf (len bytes, the file's size: the unused
 * slots are left as they are in buf, zero if the caller cleared it), and sum
 * it. *how: "instant", "published", or without write access "published (no
 * request: may lag)". Waits about wait_ms for a publication; then -1 with
 * *why starting "busy:" (read again). Returns 0, or -1 with *why. */
int hs_live_read_fd(int fd, void *buf, size_t len, unsigned wait_ms,
                    struct hs_live_snapshot *out, const char **how, const char **why);

/* Validate only the header (identity fields). Same return convention. */
int hs_live_check_header(const void *region, size_t len, const char **why);

/* The HEAPSHIM_LABELS text recorded in a copy of len bytes of a region
 * whose header passed hs_live_check_header (labels_offset): 1 and the text
 * in out (NUL-terminated), 0 not set (out ""), -1 set but too long for cap
 * or HS_LIVE_LABELS_AREA, or misplaced (a hostile header), -2 not recorded
 * (a file of a shim before stop 32: ask /proc/<pid>/environ). Never reads
 * outside [region, region+len). */
int hs_live_labels(const void *region, size_t len, char *out, size_t cap);
/* The same from the two header fields and the avail bytes copied from
 * labels_offset on (the eBPF probe copies the area alone). */
int hs_live_labels_at(uint32_t labels_offset, uint32_t labels_len, const void *area, size_t avail,
                      char *out, size_t cap);

/* A fork child's base (base_offset) from a copy of len bytes of a region
 * whose header passed hs_live_check_header: 0 and *out (all zero when the
 * file has none), or -1 (zeros) for a misplaced one (a hostile header). */
int hs_live_base_read(const void *region, size_t len, struct hs_live_base *out);
#endif

#endif /* HEAPSHIM_LIVE_H */
