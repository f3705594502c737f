// SPDX-License-Identifier: GPL-2.0
/*
 * ebpf/probe.bpf.c - kernel side of heapshim-probe (CO-RE, libbpf).
 *
 * Nothing here runs on malloc or free. The programs:
 *
 *   on_init, on_publish   USDT heapshim:init / heapshim:publish in
 *                         libheapshim.so (attached by library path, pid -1,
 *                         so it covers processes started later). Args:
 *                         (region, size). Copies the header's published
 *                         snapshot under its seqlock into map `procs`.
 *                         publish fires at most every HS_LIVE_PUBLISH_MS
 *                         per process, on allocator slow paths, and at exit.
 *   pull                  sleepable task iterator, run by the loader: for
 *                         every process mapping the library, finds
 *                         libheapshim.so's `hs_live` pointer, then reads the
 *                         header and sums all used per-thread slots with
 *                         bpf_copy_from_user_task. Costs the target nothing
 *                         (it is not stopped or signalled) and sees idle
 *                         processes that never reach a publication point.
 *   sys_exit              tp_btf/sys_exit: mmap/munmap/brk/mremap traffic of
 *                         tracked processes only (one compare for everyone
 *                         else). tracefs is not needed for tp_btf.
 *   proc_exit             tp_btf/sched_process_exit: forget a process when
 *                         its last thread exits.
 *   proc_exec             tp_btf/sched_process_exec: forget it when it execs
 *                         (same tgid, same start time, a new image that may
 *                         not have the library; if it has, heapshim:init
 *                         tracks it again); with --serve its last record
 *                         goes to the loader first (ring buffer execs), which
 *                         folds the old image as an exit.
 *
 * Why the pull path uses a task iterator plus the open-coded vma iterator
 * (bpf_iter_task_vma_*, kernel 6.7+) rather than iter/task_vma: the
 * task_vma iterator calls the program with the target's mmap lock held, and
 * bpf_copy_from_user_task takes that lock again (a read lock taken twice
 * deadlocks when a writer queues in between). Here the vma walk only
 * locates the library and the lock is dropped (bpf_iter_task_vma_destroy)
 * before any user memory is read.
 *
 * Which mapping is libheapshim.so: the kernel's struct inode pointer, learnt
 * by a calibration pass over the loader's own mmap of the same file (the
 * loader keeps that mapping, so the inode stays alive and the pointer cannot
 * be reused). Comparing (dev, ino) from stat() would break on overlayfs,
 * where a mapping's inode is the lower file's, not the one stat() reports.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>
#include "probe.h"
#include "probe_sum.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- maps and globals ------------------------------------------------------ */

/* --serve: tgids of processes that just set up the shim (USDT heapshim:init) */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} births SEC(".maps");

/* --serve: the last record of an image that exec'd (struct hsp_proc), for
 * the loader to fold as an exit: the new image keeps the tgid and the start
 * time, and took its place in `procs` before the loader looked (a service
 * counter went back by the old image's count at every exec) */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1024 * 1024);
} execs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, HSP_MAX_PROCS);
    __type(key, __u32);
    __type(value, struct hsp_proc);
} procs SEC(".maps");

/* syscall counters, updated in place with atomics (procs is replaced whole
 * by the USDT programs, so the two must not share a value) */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, HSP_MAX_PROCS);
    __type(key, __u32);
    __type(value, struct hsp_syscalls);
} traffic SEC(".maps");

/* what the pull iterator found last time, per tgid (see struct hsp_seen) */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, HSP_MAX_PROCS);
    __type(key, __u32);
    __type(value, struct hsp_seen);
} pulled SEC(".maps");

/* Per-CPU scratch, one per kind of program: the sleepable iterator keeps its
 * CPU (migration is disabled) but may sleep in bpf_copy_from_user_task, and a
 * USDT program that runs on that CPU meanwhile must not overwrite its record. */
struct scratch {
    struct hs_probe_pull out;
    struct hs_live_slot slot;
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} scratch SEC(".maps");

struct uscratch {
    struct hs_live_header hdr;
    struct hsp_proc proc;
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct uscratch);
} uscratch SEC(".maps");

/* set by the loader (mmapped .bss); libs[].inode written by calibration */
struct hsp_lib libs[HSP_MAX_LIBS];
__u32 self_tgid;        /* the loader: never a target */
__u64 calib_addr;       /* != 0: calibration pass, find the vma at this address */
__u32 calib_lib;        /* ... and record its inode in libs[calib_lib] */
__u32 fault_vma_busy;   /* tests: treat every vma walk as failed to start */
__u32 keep_exited;      /* --serve: an exited process stays in `procs` (flagged) for the
                         * loader to fold its final snapshot, then the loader deletes it */
/* statistics (atomic: iterator reads and exec/exit tracepoints may run on
 * several CPUs at once); the loader prints them in --json ("pull_stats") */
__u64 pull_runs;        /* records written */
__u64 pull_read_errors; /* bpf_copy_from_user_task failed on the header or a slot */
__u64 pull_vma_busy;    /* bpf_iter_task_vma_new failed (mmap lock busy, no memory) */
__u64 pull_vma_fallback;/* ... and the region known from an earlier pull or USDT was read */
__u64 pull_lib_gone;    /* a tgid pulled before no longer maps the library: dropped */
__u64 exec_dropped;     /* tracked processes forgotten at exec */
__u64 usdt_lost;        /* a USDT point's record not stored (the map update failed) */
__u64 births_lost;      /* a newcomer's identity not sent (the ring buffer was full) */
/* never written: zero sources for values too big for an inline memset */
struct hs_probe_pull zero_pull;
struct hsp_proc zero_proc;

/* Weak: before 6.7 the kernel lacks them; libbpf then loads the object with
 * the pull program switched off (probe.c, setup) instead of failing
 * on an unresolved extern. */
extern int bpf_iter_task_vma_new(struct bpf_iter_task_vma *it, struct task_struct *task,
                                 __u64 addr) __ksym __weak;
extern struct vm_area_struct *bpf_iter_task_vma_next(struct bpf_iter_task_vma *it) __ksym __weak;
extern void bpf_iter_task_vma_destroy(struct bpf_iter_task_vma *it) __ksym __weak;

/* ---- RSS from the task's mm, both kernel layouts ---------------------------- */

/* before 6.2: struct mm_rss_stat { atomic_long_t count[NR_MM_COUNTERS]; } */
struct mm_rss_stat___old {
    atomic_long_t count[4];
} __attribute__((preserve_access_index));
struct mm_struct___old {
    struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));

/* MM_FILEPAGES 0, MM_ANONPAGES 1, MM_SWAPENTS 2, MM_SHMEMPAGES 3 (an anonymous
 * enum, so no CO-RE enum relocation; stable since 4.5). RSS is file + anon +
 * shmem, as in /proc/PID/statm. Since 6.2 each is a percpu_counter; like
 * statm (get_mm_counter) we take its central count, clamped at 0. */
static __always_inline __u64 rss_pages(struct mm_struct *mm, __u64 *anon)
{
    long v[4] = {};
    *anon = 0;
    if (!mm) return 0;
    if (bpf_core_type_exists(struct mm_rss_stat___old)) {
        struct mm_struct___old *o = (void *)mm;
        v[0] = BPF_CORE_READ(o, rss_stat.count[0].counter);
        v[1] = BPF_CORE_READ(o, rss_stat.count[1].counter);
        v[3] = BPF_CORE_READ(o, rss_stat.count[3].counter);
    } else {
        v[0] = BPF_CORE_READ(mm, rss_stat[0].count);
        v[1] = BPF_CORE_READ(mm, rss_stat[1].count);
        v[3] = BPF_CORE_READ(mm, rss_stat[3].count);
    }
    __u64 r = 0;
    if (v[0] > 0) r += v[0];
    if (v[1] > 0) {
        r += v[1];
        *anon = v[1];
    }
    if (v[3] > 0) r += v[3];
    return r;
}

/* RSS and its anonymous part (RssAnon of /proc/PID/status, what `heapshim
 * top` divides by for EXPL), in bytes */
static __always_inline __u64 rss_bytes(struct mm_struct *mm, __u64 *anon_bytes)
{
    __u64 anon, r = rss_pages(mm, &anon);
    *anon_bytes = anon * 4096;     /* x86_64 page size (syscall numbers below are x86_64 too) */
    return r * 4096;
}

static __always_inline void track(__u32 tgid, bool reset)
{
    struct hsp_syscalls zero = {};
    bpf_map_update_elem(&traffic, &tgid, &zero, reset ? BPF_ANY : BPF_NOEXIST);
}

static __always_inline void untrack(__u32 tgid)
{
    bpf_map_delete_elem(&procs, &tgid);
    bpf_map_delete_elem(&traffic, &tgid);
    bpf_map_delete_elem(&pulled, &tgid);
}

static __always_inline __u64 brk_bytes(struct mm_struct *mm)
{
    if (!mm) return 0;
    unsigned long brk = BPF_CORE_READ(mm, brk), start = BPF_CORE_READ(mm, start_brk);
    return brk > start ? brk - start : 0;
}

/* ---- push: USDT --------------------------------------------------------------- */

#define SNAP_BYTES (offsetof(struct hs_live_header, _reserved) - offsetof(struct hs_live_header, seq))
#define IDENT_BYTES offsetof(struct hs_live_header, arena_size)

/* --serve: wake the loader, which reads a newcomer's identity from /proc
 * while it is there (a worker may be gone by the next step), with the
 * labels its region records (they outlive it). At heapshim:init, and at a
 * fork child's first publication (a child fires no init: it was named
 * after its comm once it had died, its /proc environ gone with it). */
static __always_inline void birth(__u64 region)
{
    if (!keep_exited) return;
    struct hsp_birth *b = bpf_ringbuf_reserve(&births, sizeof *b, 0);
    if (!b) {
        __sync_fetch_and_add(&births_lost, 1);
        return;
    }
    const struct hs_live_header *uh = (const void *)region;
    b->tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
    if (bpf_probe_read_user(&b->labels_offset, sizeof b->labels_offset, &uh->labels_offset) ||
        bpf_probe_read_user(&b->labels_len, sizeof b->labels_len, &uh->labels_len) ||
        bpf_probe_read_user(b->area, sizeof b->area, (const char *)region + sizeof *uh))
        b->labels_offset = b->labels_len = 0;
    if (bpf_probe_read_user(&b->created_unix_ns, sizeof b->created_unix_ns, &uh->created_unix_ns))
        b->created_unix_ns = 0;
    bpf_ringbuf_submit(b, 0);
}

static __always_inline int record(__u64 region, __u64 size, bool init)
{
    __u32 zero = 0, tgid = bpf_get_current_pid_tgid() >> 32;
    struct uscratch *s = bpf_map_lookup_elem(&uscratch, &zero);
    if (!s || !region) return 0;
    struct hsp_proc *p = &s->proc;
    struct hsp_proc *old = bpf_map_lookup_elem(&procs, &tgid);
    if (old && !init && old->region == region) {
        bpf_probe_read_kernel(p, sizeof *p, old);
    } else {
        /* new process, exec, or a fork child that got a region of its own */
        bpf_probe_read_kernel(p, sizeof *p, &zero_proc);
        p->tgid = tgid;
        track(tgid, init);
    }
    p->region = region;
    p->region_size = size;
    struct hs_live_header *h = &s->hdr;
    const struct hs_live_header *uh = (const void *)region;

    if (!(p->flags & HSP_F_IDENTITY)) {
        if (bpf_probe_read_user(h, IDENT_BYTES, uh) == 0 && h->magic == HS_LIVE_MAGIC &&
            h->version == HS_LIVE_VERSION) {
            p->pid = h->pid;
            p->uid = h->uid;
            p->start_time = h->start_time;
            /* 0: a fork child that has not read it yet (it does when it
             * makes its file): the kernel's, in /proc's clock ticks */
            if (!p->start_time)
                p->start_time = BPF_CORE_READ(bpf_get_current_task_btf(), group_leader, start_boottime) /
                                (1000000000ull / HSP_USER_HZ);
            p->created_unix_ns = h->created_unix_ns;
            __builtin_memcpy(p->comm, h->comm, sizeof p->comm);
            p->comm[15] = 0;
            if (bpf_probe_read_user(p->allocator, sizeof p->allocator, uh->allocator) == 0)
                p->allocator[15] = 0;
            bpf_probe_read_kernel(p->cmdline, sizeof p->cmdline, h->cmdline);
            p->cmdline[sizeof p->cmdline - 1] = 0;
            p->flags |= HSP_F_IDENTITY;
            if (!init) birth(region);   /* init did it */
        }
    }

    /* a fork child's base (live.h base_offset), where this shim puts it */
    __u32 bo = 0;
    if (bpf_probe_read_user(&bo, sizeof bo, &uh->base_offset) || bo != sizeof *uh + HS_LIVE_LABELS_AREA ||
        bpf_probe_read_user(&p->base, sizeof p->base, (const char *)region + bo))
        __builtin_memset(&p->base, 0, sizeof p->base);

    /* the window steps (live.h "Window steps"): the clock first, then the
     * marks and claimed[] as they are (atomics, not under the seqlock) */
    p->wread_ns = bpf_ktime_get_ns();
    if (bpf_probe_read_user(p->claimed, sizeof p->claimed, uh->claimed) ||
        bpf_probe_read_user(p->wsteps, sizeof p->wsteps, uh->wsteps))
        p->wread_ns = 0;

    /* seqlock: seq is odd while the process rewrites the snapshot. Retry a
     * few times; if it keeps changing, keep the previous snapshot. */
    bool ok = false;
    for (int i = 0; i < 3 && !ok; i++) {
        __u64 s1 = 0, s2 = 0;
        if (bpf_probe_read_user(&s1, sizeof s1, &uh->seq)) break;
        if (s1 & 1) continue;
        if (bpf_probe_read_user(&h->seq, SNAP_BYTES, &uh->seq)) break;
        if (bpf_probe_read_user(&s2, sizeof s2, &uh->seq)) break;
        if (s2 != s1 || h->seq != s1) continue;
        if (s1 == 0) break;                     /* nothing published yet */
        p->seq = s1;
        p->published_unix_ns = h->published_unix_ns;
        p->publications = h->publications;
        p->pub_rss_bytes = h->rss_bytes;
        __builtin_memcpy(p->snap, h->snap, sizeof p->snap);
        p->snap_arenas_mapped = h->snap_arenas_mapped;
        p->snap_bytes_mapped = h->snap_bytes_mapped;
        __builtin_memcpy(&p->snap_mapped, &h->snap_mapped, sizeof p->snap_mapped);
        p->flags |= HSP_F_SNAPSHOT;
        ok = true;
    }
    /* live globals: arenas_mapped, arenas_peak, bytes_mapped, pools_used, pools_free */
    __u64 g[5];
    if (bpf_probe_read_user(g, sizeof g, &uh->arenas_mapped) == 0) {
        p->arenas_peak = g[1];
        p->pools_used = g[3];
        p->pools_free = g[4];
    }
    p->seen_ns = bpf_ktime_get_ns();
    struct task_struct *task = bpf_get_current_task_btf();
    p->rss_bytes = rss_bytes(task->mm, &p->rss_anon_bytes);
    p->brk_bytes = brk_bytes(task->mm);
    if (bpf_map_update_elem(&procs, &tgid, p, BPF_ANY) != 0) __sync_fetch_and_add(&usdt_lost, 1);
    /* the counts: in place, atomically (procs is replaced whole above, and
     * two threads of one process may publish at the same time) */
    struct hsp_syscalls *t = bpf_map_lookup_elem(&traffic, &tgid);
    if (t) {
        __sync_fetch_and_add(&t->usdt_hits, 1);
        if (!ok && !init) __sync_fetch_and_add(&t->usdt_skipped, 1);
    }
    return 0;
}

SEC("usdt")
int BPF_USDT(on_publish, __u64 region, __u64 size)
{
    return record(region, size, false);
}

SEC("usdt")
int BPF_USDT(on_init, __u64 region, __u64 size)
{
    birth(region);
    return record(region, size, true);
}

/* ---- kernel-only facts: mapping traffic ---------------------------------------- */

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
    long id = regs->orig_ax;
    int k;
    switch (id) {                       /* x86_64 syscall numbers */
    case 9: k = HSP_SC_MMAP; break;
    case 11: k = HSP_SC_MUNMAP; break;
    case 12: k = HSP_SC_BRK; break;
    case 25: k = HSP_SC_MREMAP; break;
    default: return 0;
    }
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct hsp_syscalls *t = bpf_map_lookup_elem(&traffic, &tgid);
    if (!t) return 0;                   /* not a shimmed process */
    __sync_fetch_and_add(&t->calls[k], 1);
    /* the argument registers are still in pt_regs at exit; ax holds ret */
    bool failed = ret < 0 && ret > -4096;
    if (k == HSP_SC_BRK) {
        /* exchange, not load then store: two threads' brk calls may exit at
         * once, and each move must be counted once (the deltas telescope) */
        __u64 now = (__u64)ret, last = __sync_lock_test_and_set(&t->last_brk, now);
        if (regs->di && now != regs->di) failed = true;   /* brk returns the old break on failure */
        if (last && now > last) __sync_fetch_and_add(&t->bytes_in, now - last);
        else if (last && now < last) __sync_fetch_and_add(&t->bytes_out, last - now);
    } else if (!failed) {
        if (k == HSP_SC_MMAP) __sync_fetch_and_add(&t->bytes_in, regs->si);
        else if (k == HSP_SC_MUNMAP) __sync_fetch_and_add(&t->bytes_out, regs->si);
        else if (regs->dx > regs->si) __sync_fetch_and_add(&t->bytes_in, regs->dx - regs->si);
        else __sync_fetch_and_add(&t->bytes_out, regs->si - regs->dx);
    }
    if (failed) __sync_fetch_and_add(&t->failed[k], 1);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(proc_exit, struct task_struct *task)
{
    /* signal->live is decremented before this tracepoint: 0 = last thread */
    if (BPF_CORE_READ(task, signal, live.counter) != 0) return 0;
    __u32 tgid = task->tgid;
    struct hsp_proc *p = keep_exited ? bpf_map_lookup_elem(&procs, &tgid) : NULL;
    if (p) {
        /* its last publication (the shim publishes at exit) is its final
         * figures: the loader folds them, then forgets the entry */
        p->flags |= HSP_F_EXITED;
        bpf_map_delete_elem(&traffic, &tgid);
        bpf_map_delete_elem(&pulled, &tgid);
        return 0;
    }
    untrack(tgid);
    return 0;
}

/* exec keeps the tgid and the start time, so nothing else would tell that
 * the image changed: a new image without the library would stay listed from
 * its last snapshot. If it has the library, heapshim:init tracks it again. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(proc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
    __u32 tgid = p->tgid;
    struct hsp_proc *old = bpf_map_lookup_elem(&procs, &tgid);
    if (old || bpf_map_lookup_elem(&pulled, &tgid))
        __sync_fetch_and_add(&exec_dropped, 1);
    if (old && keep_exited && (old->flags & HSP_F_IDENTITY) && (old->flags & HSP_F_SNAPSHOT)) {
        struct hsp_proc *e = bpf_ringbuf_reserve(&execs, sizeof *e, 0);
        if (e) {
            bpf_probe_read_kernel(e, sizeof *e, old);
            bpf_ringbuf_submit(e, 0);
        }
    }
    untrack(tgid);
    return 0;
}

/* ---- pull: task iterator ---------------------------------------------------------- */

struct loop_ctx {
    struct task_struct *task;
    __u64 slots;                        /* user address of slot 0 */
    __u32 threads;
    int err;
};

static __always_inline struct scratch *get_scratch(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline int copy_slot(struct scratch *s, __u32 i, struct loop_ctx *c)
{
    const void *src = (const void *)(c->slots + (__u64)i * sizeof(struct hs_live_slot));
    if (bpf_copy_from_user_task(&s->slot, sizeof s->slot, src, c->task, 0)) {
        c->err = 1;
        return -1;
    }
    return 0;
}

/* One pass over the slots, summing every counter into out.sum. A sum made
 * while the process counts is not a state that existed: the loader pulls
 * twice and uses the sum only when both agree (see live.h, "Consistent
 * reads"), the published snapshot otherwise. */
static long sum_slot(__u32 i, void *ctx)
{
    struct loop_ctx *c = ctx;
    struct scratch *s = get_scratch();
    if (!s || copy_slot(s, i, c)) return 1;
    c->threads += hsp_slot_add(&s->out.sum, &s->slot);   /* probe_sum.h */
    return 0;
}

static __always_inline void calibrate(struct task_struct *task)
{
    struct bpf_iter_task_vma it;
    struct vm_area_struct *vma;
    __u32 k = calib_lib;
    bpf_iter_task_vma_new(&it, task, calib_addr);
    vma = bpf_iter_task_vma_next(&it);
    if (vma && vma->vm_start <= calib_addr && vma->vm_file && k < HSP_MAX_LIBS)
        libs[k].inode = (__u64)vma->vm_file->f_inode;
    bpf_iter_task_vma_destroy(&it);
}

SEC("iter.s/task")
int pull(struct bpf_iter__task *ctx)
{
    struct seq_file *seq = ctx->meta->seq;
    struct task_struct *task = ctx->task;
    if (!task || task->pid != task->tgid || !task->mm) return 0;   /* leaders with an mm */
    __u32 tgid = task->tgid;
    if (calib_addr) {
        if (tgid == self_tgid) calibrate(task);
        return 0;
    }
    if (tgid == self_tgid) return 0;

    /* 1. is libheapshim.so mapped, where (the vma at file offset 0) */
    struct bpf_iter_task_vma it;
    struct vm_area_struct *vma;
    __u64 base = 0;
    __u32 lib = 0;
    /* fails with -EBUSY when the mmap lock cannot be taken right now (a
     * writer holds it: mmap, munmap, brk...), -ENOMEM; next() then ends at
     * once and destroy() is still required */
    int werr = bpf_iter_task_vma_new(&it, task, 0);
    if (fault_vma_busy) werr = -16;   /* -EBUSY */
    if (!werr) {
        while ((vma = bpf_iter_task_vma_next(&it))) {
            if (vma->vm_pgoff || !vma->vm_file) continue;
            __u64 ino = (__u64)vma->vm_file->f_inode;
            for (__u32 k = 0; k < HSP_MAX_LIBS; k++) {
                if (libs[k].inode && libs[k].inode == ino) {
                    base = vma->vm_start;
                    lib = k;
                    break;
                }
            }
            if (base) break;
        }
    }
    bpf_iter_task_vma_destroy(&it);   /* drop the mmap lock before reading memory */

    /* 2. the region: hs_live through the symbol, else what an earlier pull or
     * USDT told us */
    __u64 region = 0;
    struct hsp_proc *known = bpf_map_lookup_elem(&procs, &tgid);
    struct hsp_seen *seen = bpf_map_lookup_elem(&pulled, &tgid);
    if (werr) {
        __sync_fetch_and_add(&pull_vma_busy, 1);
    } else if (!base) {
        if (seen) {
            /* it mapped the library at the last pull and no longer does: an
             * exec into an image without it (the exec tracepoint normally
             * got there first) */
            __sync_fetch_and_add(&pull_lib_gone, 1);
            untrack(tgid);
            return 0;
        }
        if (!known) return 0;         /* not a shimmed process */
    }
    struct scratch *s = get_scratch();
    if (!s) return 0;
    struct hs_probe_pull *out = &s->out;
    bpf_probe_read_kernel(out, sizeof *out, &zero_pull);
    out->magic = HSP_PULL_MAGIC;
    out->tgid = tgid;
    out->rss_bytes = rss_bytes(task->mm, &out->rss_anon_bytes);
    out->brk_bytes = brk_bytes(task->mm);
    out->start_boottime_ns = task->start_boottime;
    if (werr) {
        out->flags |= HSP_PF_VMA_BUSY;
        if (seen) {
            region = seen->region;
            lib = seen->lib;
        } else if (known) {
            region = known->region;
        }
        if (!region) {
            /* never read: the loader decides from /proc whether it maps the
             * library, and counts it unreadable if it does */
            out->status = HSP_PULL_VMA_BUSY;
            __sync_fetch_and_add(&pull_runs, 1);
            bpf_seq_write(seq, out, sizeof *out);
            return 0;
        }
        __sync_fetch_and_add(&pull_vma_fallback, 1);
    }
    out->lib = lib;
    __u32 k = lib < HSP_MAX_LIBS ? lib : 0;
    if (base && libs[k].sym_off) {
        if (bpf_copy_from_user_task(&region, sizeof region, (void *)(base + libs[k].sym_off), task, 0))
            region = 0;
    }
    if (!region && known) region = known->region;
    out->region = region;
    __sync_fetch_and_add(&pull_runs, 1);
    if (!region) {
        out->status = HSP_PULL_NOT_READY;
        bpf_seq_write(seq, out, sizeof *out);
        return 0;
    }

    /* 3. the header, then the slots: frees of all, then allocations of all */
    struct hs_live_header *h = &out->hdr;
    if (bpf_copy_from_user_task(h, sizeof *h, (void *)region, task, 0)) {
        __sync_fetch_and_add(&pull_read_errors, 1);
        out->status = HSP_PULL_READ_FAILED;
        bpf_seq_write(seq, out, sizeof *out);
        return 0;
    }
    if (h->magic != HS_LIVE_MAGIC || h->version != HS_LIVE_VERSION ||
        h->slot_size != sizeof(struct hs_live_slot) || h->slots_offset < sizeof *h ||
        h->slots_offset > (1u << 20)) {
        out->status = HSP_PULL_BAD_HEADER;
        bpf_seq_write(seq, out, sizeof *out);
        return 0;
    }
    if (h->base_offset != sizeof *h + HS_LIVE_LABELS_AREA ||
        bpf_copy_from_user_task(&out->base, sizeof out->base, (void *)(region + h->base_offset), task, 0))
        __builtin_memset(&out->base, 0, sizeof out->base);
    __u32 n = h->slots_used;
    if (n > h->nslots) n = h->nslots;
    if (n > HSP_MAX_SLOTS) n = HSP_MAX_SLOTS;
    struct loop_ctx lc = { .task = task, .slots = region + h->slots_offset };
    bpf_loop(n, sum_slot, &lc, 0);
    if (lc.err) {
        __sync_fetch_and_add(&pull_read_errors, 1);
        out->status = HSP_PULL_READ_FAILED;
    } else {
        out->status = HSP_PULL_OK;
        out->threads = lc.threads;
        out->slots_summed = n;
        out->sum.owner = 1;
        track(tgid, false);           /* count its mapping traffic from now on */
        if (base) {                   /* remember where it was found */
            struct hsp_seen sv = { .region = region, .base = base, .lib = lib };
            bpf_map_update_elem(&pulled, &tgid, &sv, BPF_ANY);
        }
    }
    bpf_seq_write(seq, out, sizeof *out);
    return 0;
}
