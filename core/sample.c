/*
 * core/sample.c - sampled allocations: draw, serve, record, forget.
 *
 * Room: the slow path of sampling (core/sample.h has the fast side). It
 * draws the distances, serves a sampled request as a large block flagged in
 * its sealed header, walks the stack, and keeps the profile region
 * (include/heapshim/profile.h): modules, interned stacks with their totals,
 * the live sampled blocks. It may touch only that region, its own statics,
 * and the large allocator; it never calls malloc (it runs inside it).
 *
 * Locks: prof_lock guards the region's stack and live tables and `seq`;
 * mod_lock guards the module staging buffer and is only ever try-locked,
 * because the module list is read with dl_iterate_phdr, which takes the
 * loader's lock: a thread inside dlopen (holding that lock) that samples
 * must never wait for a thread that waits for the loader.
 * Neither lock is held while the stack is walked or memory is allocated.
 */
#include "internal.h"
#include "sample.h"
#include "count.h"
#include "large.h"
#include "usdt.h"
#include "unwind.h"
#include "prim/proc.h"
#include <heapshim/profile.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unwind.h>

/* ---- settings --------------------------------------------------------------- */

static uint64_t cfg_rate;              /* 0 = off until configured */
static uint64_t cfg_seed;
static bool cfg_seeded;
static int cfg_unwind;                 /* HS_UNWIND_* (sample.h) */
static uint32_t thread_counter;       /* per-thread seeds from one fixed seed */

void hs_sample_configure(uint64_t rate, uint64_t seed, bool seeded, int unwind)
{
    if (rate > ((uint64_t)1 << 40)) rate = (uint64_t)1 << 40;
    cfg_rate = rate;
    cfg_seed = seed;
    cfg_seeded = seeded;
    cfg_unwind = unwind;
}

uint64_t hs_sample_rate(void) { return cfg_rate; }

/* ---- numbers: no libm in the shim --------------------------------------------- */

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rng_next(uint64_t *s)      /* xorshift64* */
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

#define LN2 0.69314718055994531

/* natural logarithm of x > 0: x = m 2^e, m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172: the series to s^15
 * (Horner, constant coefficients) reaches 1e-13 */
static double ln(double x)
{
    union { double d; uint64_t u; } v = { x };
    int e = (int)((v.u >> 52) & 0x7ff) - 1023;
    v.u = (v.u & 0x000fffffffffffffull) | 0x3ff0000000000000ull;   /* m in [1, 2) */
    double m = v.d;
    if (m > 1.41421356237309515) { m *= 0.5; e++; }
    double s = (m - 1) / (m + 1), s2 = s * s;
    double p = 1.0 / 15;
    p = p * s2 + 1.0 / 13;
    p = p * s2 + 1.0 / 11;
    p = p * s2 + 1.0 / 9;
    p = p * s2 + 1.0 / 7;
    p = p * s2 + 1.0 / 5;
    p = p * s2 + 1.0 / 3;
    p = p * s2 + 1;
    return 2 * s * p + e * LN2;
}

/* 1 - exp(-x) for x >= 0, accurate for small x too: exp(-x) = 2^-k exp(-r),
 * r in [0, ln 2); 1 - exp(-r) = r (1 - r/2 (1 - r/3 (... (1 - r/14)))),
 * the rest below 3e-15, with no cancellation when k = 0 (x < ln 2) */
static double one_minus_exp_neg(double x)
{
    if (x > 40) return 1;
    int k = (int)(x / LN2);
    double r = x - k * LN2, q = 1 - r * (1.0 / 14);
    q = 1 - r * (1.0 / 13) * q;
    q = 1 - r * (1.0 / 12) * q;
    q = 1 - r * (1.0 / 11) * q;
    q = 1 - r * (1.0 / 10) * q;
    q = 1 - r * (1.0 / 9) * q;
    q = 1 - r * (1.0 / 8) * q;
    q = 1 - r * (1.0 / 7) * q;
    q = 1 - r * (1.0 / 6) * q;
    q = 1 - r * (1.0 / 5) * q;
    q = 1 - r * (1.0 / 4) * q;
    q = 1 - r * (1.0 / 3) * q;
    q = 1 - r * (1.0 / 2) * q;
    double s = r * q;                               /* 1 - exp(-r) */
    if (!k) return s;
    union { uint64_t u; double d; } scale = { (uint64_t)(1023 - k) << 52 };   /* 2^-k, k <= 57 */
    return 1 - (1 - s) * scale.d;
}

/* exponential distance of mean cfg_rate, at least 1 */
static int64_t draw(hs_heap_t *h)
{
    uint64_t u53 = (rng_next(&h->sample_rng) >> 11) + 1;     /* (0, 2^53] */
    double d = -ln((double)u53 * (1.0 / 9007199254740992.0)) * (double)cfg_rate;
    if (d < 1) d = 1;
    if (d > 4e18) d = 4e18;
    return (int64_t)d;
}

/* ---- the region ------------------------------------------------------------------- */

#define OFF_MODULES  ((sizeof(struct hs_prof_header) + 63) & ~(size_t)63)
#define OFF_STACKS   (OFF_MODULES + (size_t)HS_PROF_MODULES * sizeof(struct hs_prof_module))
#define OFF_LIVE     (OFF_STACKS + (size_t)HS_PROF_STACKS * sizeof(struct hs_prof_stack))
#define OFF_PYF      (OFF_LIVE + (size_t)HS_PROF_LIVE * sizeof(struct hs_prof_live))
#define REGION_SIZE  (((OFF_PYF + (size_t)HS_PROF_PYFRAMES * sizeof(struct hs_prof_pyframe)) + 4095) & ~(size_t)4095)

static hs_lock_t prof_lock = HS_LOCK_INIT;
static hs_lock_t mod_lock = HS_LOCK_INIT;
static struct hs_prof_header *region;      /* NULL until the first sample */
static bool region_failed;
/* free entries of the live table: a list threaded through the free entries
 * themselves (an entry with addr 0 is free; readers skip it whole, so its
 * `stack` field holds the next free entry + 1, 0 ending the list). A table
 * of its own (128 KiB of statics) cost a page of RSS of its own. */
static uint32_t live_free_head;            /* first free entry + 1; 0 = none */

/* What every sample touches of this process's own statics, in one page: the
 * shim's code range (its frames are dropped), the module staging count, and
 * the stack table's hash index, used from its start (below, "stacks").
 * Spread over the file's statics they were four pages of RSS. */
#define INDEX_MIN 512u
static struct {
    uintptr_t self_lo, self_hi;
    bool self_known;
    uint32_t mod_nstage;
    uint32_t stack_index[HS_PROF_STACKS];      /* entry + 1; 0 = empty */
} hot __attribute__((aligned(4096))) HS_COLD_BSS;

size_t hs_sample_region_size(void) { return REGION_SIZE; }
void *hs_sample_region(void) { return region; }

static struct hs_prof_module *modules_of(struct hs_prof_header *r) { return (void *)((char *)r + OFF_MODULES); }
static struct hs_prof_stack *stacks_of(struct hs_prof_header *r) { return (void *)((char *)r + OFF_STACKS); }
static struct hs_prof_live *live_of(struct hs_prof_header *r) { return (void *)((char *)r + OFF_LIVE); }
static struct hs_prof_pyframe *pyf_of(struct hs_prof_header *r) { return (void *)((char *)r + OFF_PYF); }

/* The region is a file of the live directory (shared memory): a table's
 * pages are backed before it first writes into them (hs_os_back), so that
 * a full file system drops a sample (or keeps the old module list) instead
 * of killing the program with SIGBUS. backed[k]: offset in the region up to
 * which table k (modules, stacks, live, interpreter frames) is backed;
 * prof_lock held. Reset in a fork child, whose region is a new file. */
static const size_t backed_from[4] = { OFF_MODULES, OFF_STACKS, OFF_LIVE, OFF_PYF };
static size_t backed[4] = { OFF_MODULES, OFF_STACKS, OFF_LIVE, OFF_PYF };

static bool back_upto(struct hs_prof_header *r, unsigned k, size_t end)
{
    if (HS_LIKELY(end <= backed[k])) return true;
    size_t from = backed[k] & ~(size_t)4095, to = (end + 4095) & ~(size_t)4095;
    if (!hs_os_back((char *)r + from, to - from)) return false;
    backed[k] = to;
    return true;
}

HS_INLINE void seq_begin(struct hs_prof_header *r)
{
    __atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}
HS_INLINE void seq_end(struct hs_prof_header *r)
{
    __atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELEASE);
}


/* This process's start time: the live header's when it has read it (one
 * /proc read less), else read now */
static uint64_t own_start_time(int32_t pid)
{
    if (hs_live && hs_live->pid == pid && hs_live->start_time) return hs_live->start_time;
    return hs_proc_start_time(getpid());
}

/* prof_lock held */
static void region_init(struct hs_prof_header *r)
{
    r->header_size = sizeof *r;
    r->file_size = REGION_SIZE;
    r->pid = (int32_t)getpid();
    r->start_time = own_start_time(r->pid);
    /* the identity the live header has read already (fewer /proc reads) */
    if (hs_live && hs_live->pid == r->pid) {
        r->exe_dev = hs_live->exe_dev;
        r->exe_ino = hs_live->exe_ino;
        r->pidns_ino = hs_live->pidns_ino;
    } else {
        hs_proc_exe_id(&r->exe_dev, &r->exe_ino);
        r->pidns_ino = hs_proc_pidns();
    }
    r->rate = cfg_rate;
    r->created_unix_ns = hs_unix_ns();
    r->modules_off = OFF_MODULES;
    r->stacks_off = OFF_STACKS;
    r->live_off = OFF_LIVE;
    r->modules_cap = HS_PROF_MODULES;
    r->stacks_cap = HS_PROF_STACKS;
    r->live_cap = HS_PROF_LIVE;
    r->depth_cap = HS_PROF_DEPTH;
    r->pyframes_off = OFF_PYF;
    r->pyframes_cap = HS_PROF_PYFRAMES;
    hs_proc_exe_path(r->exe, sizeof r->exe);
    r->version = HS_PROF_VERSION;
    __atomic_store_n(&r->magic, HS_PROF_MAGIC, __ATOMIC_RELEASE);
}

/* prof_lock held: the region, made at the first sample (with errno kept:
 * the file, /proc/self/stat and the exe link may fail to open, EMFILE in a
 * program at its descriptor limit, inside that program's malloc) */
static HS_NOINLINE struct hs_prof_header *region_make(void)
{
    int err = errno;
    void *r = hs__platform_profile_region ? hs__platform_profile_region(REGION_SIZE) : NULL;
    if (!r) r = hs_os_map(REGION_SIZE);
    if (r) {
        region_init(r);
        __atomic_store_n(&region, (struct hs_prof_header *)r, __ATOMIC_RELEASE);
    } else {
        region_failed = true;
    }
    errno = err;
    return r;
}

static struct hs_prof_header *region_get(void)
{
    if (HS_LIKELY(region != NULL)) return region;
    if (region_failed) return NULL;
    return region_make();
}

/* ---- modules ---------------------------------------------------------------------- */

/* page-aligned: a program's first few modules (392 bytes each) stay in one
 * page rather than straddling two */
static struct hs_prof_module mod_stage[HS_PROF_MODULES] __attribute__((aligned(4096))) HS_COLD_BSS;
static uint64_t mod_gen_seen = UINT64_MAX;

static int gen_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) return 1;
    *(uint64_t *)arg = info->dlpi_adds + info->dlpi_subs;
    return 1;            /* the counters are the same in every call: stop */
}

static void build_id_of(const struct dl_phdr_info *info, struct hs_prof_module *m)
{
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            size_t nsz = (nh->n_namesz + 3) & ~3u, dsz = (nh->n_descsz + 3) & ~3u;
            const char *name = p + sizeof *nh, *desc = name + nsz;
            if (desc + dsz > end) break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4)) {
                uint32_t len = nh->n_descsz < 20 ? nh->n_descsz : 20;
                memcpy(m->build_id, desc, len);
                m->build_id_len = len;
                return;
            }
            p = desc + dsz;
        }
    }
}

static int mod_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (hot.mod_nstage >= HS_PROF_MODULES) return 1;
    struct hs_prof_module *m = &mod_stage[hot.mod_nstage];
    memset(m, 0, sizeof *m);
    m->base = info->dlpi_addr;
    for (unsigned i = 0; i < info->dlpi_phnum && m->nsegs < HS_PROF_SEGS; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        struct hs_prof_segment *s = &m->segs[m->nsegs++];
        s->start = info->dlpi_addr + ph->p_vaddr;
        s->end = s->start + ph->p_memsz;
        s->offset = ph->p_offset;
        s->flags = ph->p_flags;
    }
    if (!m->nsegs) return 0;                 /* nothing loaded (e.g. an empty name) */
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    size_t len = strlen(name);
    if (len >= HS_PROF_PATH) len = HS_PROF_PATH - 1;
    memcpy(m->path, name, len);
    m->path[len] = 0;
    build_id_of(info, m);
    hot.mod_nstage++;
    return 0;
}

/* The loader's generation (dl_iterate_phdr's adds + subs); the last one
 * seen when it may not be looked at now (hs_dl_iterate). */
static uint64_t loader_gen(void)
{
    static uint64_t last;
    uint64_t gen = 0;
    if (!hs_dl_iterate(gen_cb, &gen)) return HS_LOAD(&last);
    HS_STORE(&last, gen);
    return gen;
}

/* No lock held. Refresh the region's module table when objects were loaded
 * or unloaded since the last look (dl_iterate_phdr's adds + subs). */
static void modules_refresh(struct hs_prof_header *r)
{
    uint64_t gen = loader_gen();
    if (gen == HS_LOAD(&mod_gen_seen)) return;
    if (!hs_trylock(&mod_lock)) return;   /* someone else is at it */
    hot.mod_nstage = 0;
    if (!hs_dl_iterate(mod_cb, NULL)) {     /* not now (a fork), or not in this child */
        hs_unlock(&mod_lock);
        return;
    }
    hs_lock(&prof_lock);
    bool backed_ok = back_upto(r, 0, OFF_MODULES + (size_t)hot.mod_nstage * sizeof *mod_stage);
    if (backed_ok) {
        seq_begin(r);
        memcpy(modules_of(r), mod_stage, (size_t)hot.mod_nstage * sizeof *mod_stage);
        r->nmodules = hot.mod_nstage;
        r->module_gen = gen;
        seq_end(r);
    }
    hs_unlock(&prof_lock);
    if (backed_ok) HS_STORE(&mod_gen_seen, gen);
    hs_unlock(&mod_lock);
}

/* ---- stacks ----------------------------------------------------------------------- */

/* the shim's own code: frames inside it are not the program's */

static void self_range(void)
{
    if (HS_LIKELY(hot.self_known)) return;
    struct dl_find_object obj;
    if (_dl_find_object((void *)(uintptr_t)&hs_sample_alloc, &obj) == 0 && obj.dlfo_link_map &&
        obj.dlfo_link_map->l_name && obj.dlfo_link_map->l_name[0]) {
        /* a shared object of its own (the preloaded shim); linked into the
         * program statically, there is no range to skip by */
        hot.self_lo = (uintptr_t)obj.dlfo_map_start;
        hot.self_hi = (uintptr_t)obj.dlfo_map_end;
    }
    hot.self_known = true;
}

HS_INLINE bool in_self(uintptr_t ip) { return ip >= hot.self_lo && ip < hot.self_hi; }

struct unw_state { uint64_t *frames; unsigned n, max; };

static _Unwind_Reason_Code unw_cb(struct _Unwind_Context *ctx, void *arg)
{
    struct unw_state *st = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    if (!ip) return _URC_END_OF_STACK;
    if (st->n == 0 && in_self(ip)) return _URC_NO_REASON;     /* still inside the shim */
    st->frames[st->n++] = ip;
    return st->n >= st->max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

/* frame-pointer walk: bounded by the thread's stack (core/unwind.c), each
 * frame above the last, aligned, and at most 1 MiB above it; stops at the
 * first that is not */

/* The shim is built without frame pointers, and its functions may use the
 * frame-pointer register for data, so the chain cannot start in the shim:
 * the unwind tables take us out of it (a few frames), to the first frame of
 * the program, whose pc and frame-pointer register they restore; the chain
 * is followed from there. (Starting at our own frame recorded no frame at
 * all, even in a program built with -fno-omit-frame-pointer: the saved
 * register was the shim's data.) */
#if defined(__x86_64__)
#define HS_DWARF_FP 6               /* rbp */
#elif defined(__aarch64__)
#define HS_DWARF_FP 29              /* x29 */
#endif

struct fp_start { uintptr_t ip, fp; };

static _Unwind_Reason_Code fp_start_cb(struct _Unwind_Context *ctx, void *arg)
{
    struct fp_start *s = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    if (!ip) return _URC_END_OF_STACK;
    if (in_self(ip)) return _URC_NO_REASON;
    s->ip = ip;
#ifdef HS_DWARF_FP
    s->fp = (uintptr_t)_Unwind_GetGR(ctx, HS_DWARF_FP);
#endif
    return _URC_END_OF_STACK;
}

static HS_NOINLINE unsigned walk_fp(uint64_t *frames, unsigned max)
{
    uintptr_t lo = (uintptr_t)__builtin_frame_address(0), hi = hs_unwind_stack_top();
    if (lo >= hi || hi - lo > HS_STACK_SPAN) hi = lo;        /* not a stack we know: no chain */
    struct fp_start s = { 0, 0 };
    _Unwind_Backtrace(fp_start_cb, &s);
    if (!s.ip || !max) return 0;
    unsigned n = 0;
    frames[n++] = s.ip;
    uintptr_t fp = s.fp;
    while (n < max) {
        if (fp < lo || fp + 16 > hi || (fp & 7)) break;
        uintptr_t next = ((uintptr_t *)fp)[0], ra = ((uintptr_t *)fp)[1];
        if (!ra) break;
        frames[n++] = ra;
        if (next <= fp || next - fp > ((uintptr_t)1 << 20)) break;
        fp = next;
    }
    return n;
}

/* libgcc's _Unwind_Backtrace: the reference walk, and the fallback of the
 * cached one */
HS_INLINE unsigned walk_libgcc(uint64_t *frames, unsigned max)
{
    struct unw_state st = { frames, 0, max };
    _Unwind_Backtrace(unw_cb, &st);
    return st.n;
}

/* HEAPSHIM_PROFILE_UNWIND=verify: every sample walked both ways; the
 * libgcc walk is recorded, a difference is reported on stderr (the first
 * few in full), and a summary line at exit (tests/46-unwind.sh) */
static uint64_t ver_samples, ver_cached, ver_diff;

static void put_hex(char *buf, size_t *at, size_t cap, uint64_t v)
{
    char t[17];
    int k = 0;
    do t[k++] = "0123456789abcdef"[v & 15], v >>= 4; while (v);
    if (*at + (size_t)k + 3 > cap) return;
    buf[(*at)++] = ' ', buf[(*at)++] = '0', buf[(*at)++] = 'x';
    while (k) buf[(*at)++] = t[--k];
}

static void put_str(char *buf, size_t *at, size_t cap, const char *s)
{
    for (; *s && *at < cap; s++) buf[(*at)++] = *s;
}

static void put_dec(char *buf, size_t *at, size_t cap, uint64_t v)
{
    char t[21];
    int k = 0;
    do t[k++] = (char)('0' + v % 10), v /= 10; while (v);
    while (k && *at < cap) buf[(*at)++] = t[--k];
}

static void verify_report(const uint64_t *a, unsigned na, const uint64_t *b, unsigned nb)
{
    char buf[1600];
    size_t at = 0;
    put_str(buf, &at, sizeof buf, "heapshim: unwind verify: differ; libgcc:");
    for (unsigned i = 0; i < na; i++) put_hex(buf, &at, sizeof buf - 1, a[i]);
    put_str(buf, &at, sizeof buf, "; cached:");
    for (unsigned i = 0; i < nb; i++) put_hex(buf, &at, sizeof buf - 1, b[i]);
    if (at >= sizeof buf) at = sizeof buf - 1;
    buf[at++] = '\n';
    (void)!write(2, buf, at);
}

__attribute__((destructor)) static void verify_summary(void)
{
    if (cfg_unwind != HS_UNWIND_VERIFY || !cfg_rate) return;
    char buf[240];
    size_t at = 0;
    put_str(buf, &at, sizeof buf, "heapshim: unwind verify: ");
    put_dec(buf, &at, sizeof buf, HS_LOAD(&ver_samples));
    put_str(buf, &at, sizeof buf, " samples, ");
    put_dec(buf, &at, sizeof buf, HS_LOAD(&ver_cached));
    put_str(buf, &at, sizeof buf, " walked by the cache, ");
    put_dec(buf, &at, sizeof buf, HS_LOAD(&ver_diff));
    uint64_t ff, fm, fs;
    hs_unwind_stats(&ff, &fm, &fs);
    put_str(buf, &at, sizeof buf, " differ; rules: ");
    put_dec(buf, &at, sizeof buf, ff);
    put_str(buf, &at, sizeof buf, " from files, ");
    put_dec(buf, &at, sizeof buf, fm);
    put_str(buf, &at, sizeof buf, " in memory, ");
    put_dec(buf, &at, sizeof buf, fs);
    put_str(buf, &at, sizeof buf, " from the store\n");
    (void)!write(2, buf, at);
}

static HS_NOINLINE unsigned walk_verify(uint64_t *frames, unsigned max, uint64_t gen)
{
    uint64_t other[HS_PROF_DEPTH];
    struct hs_unwind_req rq = { other, max, hot.self_lo, hot.self_hi, gen };
    unsigned nc = hs_unwind_cached(&rq);
    unsigned n = walk_libgcc(frames, max);
    HS_ADD(&ver_samples, 1);
    if (nc != HS_UNWIND_FALLBACK) {
        HS_ADD(&ver_cached, 1);
        /* the two walks start in different functions of the shim: only
         * the program's frames (the recorded ones) must be equal */
        if (nc != n || memcmp(other, frames, n * sizeof *frames) != 0) {
            if (HS_ADD(&ver_diff, 1) < 5) verify_report(frames, n, other, nc);
        }
    }
    return n;
}

/* inline, as are its callers down to the entry point (the shim's frames
 * are walked and dropped); gen: the loader's generation now */
HS_INLINE unsigned capture(uint64_t *frames, unsigned max, uint64_t gen)
{
    self_range();
    switch (cfg_unwind) {
    case HS_UNWIND_FP: return walk_fp(frames, max);
    case HS_UNWIND_LIBGCC: return walk_libgcc(frames, max);
    case HS_UNWIND_VERIFY: return walk_verify(frames, max, gen);
    default: break;
    }
    struct hs_unwind_req rq = { frames, max, hot.self_lo, hot.self_hi, gen };
    unsigned n = hs_unwind_cached(&rq);
    return n != HS_UNWIND_FALLBACK ? n : walk_libgcc(frames, max);
}

/* a multiply and a shift a frame (splitmix per frame was about 15
 * instructions a frame); the index uses the low bits, after a last mix */
HS_INLINE uint64_t stack_hash(const uint64_t *f, unsigned n, unsigned dom)
{
    uint64_t h = 0x84222325cbf29ce4ull ^ dom;
    for (unsigned i = 0; i < n; i++) {
        h = (h ^ f[i]) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    h = (h ^ (h >> 32)) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
    return h ? h : 1;
}

HS_INLINE bool frames_equal(const uint64_t *a, const uint64_t *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

/* The hash index of the stack table (hot.stack_index), in this process's
 * memory: the entries themselves are appended in order, so that a process with a few hundred
 * stacks touches a few pages of the shared file, not one page per stack (the
 * file is resident memory of the process: shmem). The index is used from its
 * start only as far as the stacks need (index_size slots, kept at most 3/4
 * full, doubled and rebuilt from the entries' hashes), so that a process with
 * a few stacks touches 2 KiB of it rather than all 32 KiB (a hash spreads
 * them over every page). */
static uint32_t index_size = INDEX_MIN;           /* power of two, <= HS_PROF_STACKS */

/* A hash index of a table whose n entries of `stride` bytes start with
 * their 64-bit hash (the stacks', the interpreter frames'), rebuilt at size
 * slots (a power of two): entry + 1 in each used slot, linear probing */
static void index_rebuild(uint32_t *index, uint32_t size, const void *entries, size_t stride, uint32_t n)
{
    uint32_t mask = size - 1;
    memset(index, 0, size * sizeof *index);
    for (uint32_t k = 0; k < n; k++) {
        uint64_t h;
        memcpy(&h, (const char *)entries + (size_t)k * stride, sizeof h);
        uint32_t i = (uint32_t)h & mask;
        while (index[i]) i = (i + 1) & mask;
        index[i] = k + 1;
    }
}
_Static_assert(offsetof(struct hs_prof_stack, hash) == 0, "index_rebuild reads the hash first");
_Static_assert(offsetof(struct hs_prof_pyframe, hash) == 0, "index_rebuild reads the hash first");

/* prof_lock held: index_size doubled, the entries placed again */
static void index_grow(const struct hs_prof_header *r)
{
    index_size *= 2;
    index_rebuild(hot.stack_index, index_size, stacks_of((struct hs_prof_header *)r), sizeof(struct hs_prof_stack),
                  r->nstacks);
}

/* prof_lock held: the stack's index, interned; UINT32_MAX when full */
static uint32_t stack_intern(struct hs_prof_header *r, const uint64_t *f, unsigned n, unsigned dom)
{
    uint64_t h = stack_hash(f, n, dom);
    struct hs_prof_stack *t = stacks_of(r);
    if (r->nstacks >= index_size / 4 * 3 && index_size < HS_PROF_STACKS) index_grow(r);
    uint32_t mask = index_size - 1;
    for (uint32_t i = (uint32_t)h & mask, probes = 0; probes < index_size; i = (i + 1) & mask, probes++) {
        uint32_t e = hot.stack_index[i];
        if (e) {
            struct hs_prof_stack *s = &t[e - 1];
            if (s->hash == h && s->depth == n && s->dom == dom && frames_equal(s->frames, f, n))
                return e - 1;
            continue;
        }
        if (r->nstacks >= HS_PROF_STACKS / 4 * 3) return UINT32_MAX;
        uint32_t k = r->nstacks;
        if (!back_upto(r, 1, OFF_STACKS + (size_t)(k + 1) * sizeof *t)) return UINT32_MAX;
        struct hs_prof_stack *s = &t[k];
        s->depth = n;
        s->dom = dom;
        memcpy(s->frames, f, n * sizeof *f);
        s->hash = h;
        r->nstacks = k + 1;
        hot.stack_index[i] = k + 1;
        return k;
    }
    return UINT32_MAX;
}

/* ---- interpreter frames ------------------------------------------------------------ */

static const struct hs_interp *interp;     /* set once (hs_sample_set_interp) */

void hs_sample_set_interp(const struct hs_interp *in)
{
    __atomic_store_n(&interp, in, __ATOMIC_RELEASE);
}

/* the table's hash index (entry + 1; 0 = empty), in .bss: used from its
 * start only as far as the entries need (py_index_size slots, at least
 * twice the entries: doubled and rebuilt when half full), so that a process
 * with a few hundred frames touches one page of it, as the stack index */
#define PY_INDEX_MAX (2 * HS_PROF_PYFRAMES)
static uint32_t py_index[PY_INDEX_MAX] HS_COLD_BSS;
static uint32_t py_index_size = 1024;

/* prof_lock held: the table index of f, copied in if new; UINT32_MAX when
 * the table is full or cannot grow */
static uint32_t pyframe_intern(struct hs_prof_header *r, const struct hs_interp *in,
                               const struct hs_interp_frame *f)
{
    struct hs_prof_pyframe *t = pyf_of(r);
    if (r->npyframes >= py_index_size / 2 && py_index_size < PY_INDEX_MAX) {
        py_index_size *= 2;
        index_rebuild(py_index, py_index_size, t, sizeof *t, r->npyframes);
    }
    uint32_t mask = py_index_size - 1;
    for (uint32_t i = (uint32_t)f->hash & mask, probes = 0; probes < py_index_size; i = (i + 1) & mask, probes++) {
        uint32_t e = py_index[i];
        if (e) {
            if (t[e - 1].hash == f->hash) return e - 1;
            continue;
        }
        uint32_t k = r->npyframes;
        if (k >= HS_PROF_PYFRAMES || !back_upto(r, 3, OFF_PYF + (size_t)(k + 1) * sizeof *t)) return UINT32_MAX;
        struct hs_prof_pyframe *d = &t[k];
        d->line = f->line;
        d->first_line = f->first_line;
        in->describe(f, d->name, sizeof d->name, d->file, sizeof d->file);
        d->name[sizeof d->name - 1] = 0;
        d->file[sizeof d->file - 1] = 0;
        d->hash = f->hash;
        r->npyframes = k + 1;
        py_index[i] = k + 1;
        return k;
    }
    return UINT32_MAX;
}

/* prof_lock held: each run of the interpreter loop in frames[0, *depth)
 * gets its interpreter frames (py, innermost first, a run ending at an
 * entry frame) right before its native frame; what does not fit the depth
 * is cut from the outer end, as for native frames */
static void pyframes_splice(struct hs_prof_header *r, const struct hs_interp *in, uint64_t *frames,
                            unsigned *depth, const struct hs_interp_frame *py, unsigned npy)
{
    uint64_t out[HS_PROF_DEPTH];
    unsigned n = 0, k = 0;
    for (unsigned i = 0; i < *depth && n < HS_PROF_DEPTH; i++) {
        uint64_t ra = frames[i];
        if (k < npy && ra > in->eval_lo && ra <= in->eval_hi) {
            for (bool last = false; k < npy && !last; k++) {
                last = py[k].entry;
                if (!py[k].code) continue;
                uint32_t id = pyframe_intern(r, in, &py[k]);
                if (id != UINT32_MAX && n < HS_PROF_DEPTH) out[n++] = HS_PROF_FRAME_PY | id;
            }
            if (n >= HS_PROF_DEPTH) break;
        }
        out[n++] = ra;
    }
    memcpy(frames, out, n * sizeof *out);
    *depth = n;
}

/* ---- USDT ---------------------------------------------------------------------- */

#if HS_HAVE_SDT
/* their semaphores (core/usdt.h), which the points' notes name */
__extension__ unsigned short heapshim_sample_alloc_semaphore __attribute__((section(".probes"), used));
__extension__ unsigned short heapshim_sample_free_semaphore __attribute__((section(".probes"), used));
#define USDT_ALLOC(p, n, w) DTRACE_PROBE3(heapshim, sample_alloc, p, n, w)
#define USDT_FREE(p) DTRACE_PROBE1(heapshim, sample_free, p)
#else
#define USDT_ALLOC(p, n, w) do { (void)(p); (void)(n); (void)(w); } while (0)
#define USDT_FREE(p) do { (void)(p); } while (0)
#endif

/* one probe site each (sample_record is inlined into its callers) */
static HS_NOINLINE void usdt_alloc(void *p, size_t n, uint64_t est) { USDT_ALLOC(p, n, est); }

/* ---- the sampled block -------------------------------------------------------------- */

/* the word before the header: which live entry the block is (or none) */
#define TAG_MAGIC   0x5a4d0000ull
HS_INLINE uint64_t *live_word(void *p) { return (uint64_t *)p - 3; }

static void *serve_flagged(unsigned dom, size_t n, bool zero, size_t align)
{
    size_t off = align > 32 ? align : 32, total;
    if (n > PTRDIFF_MAX - 64 || __builtin_add_overflow(n, off, &total)) return NULL;
    void *base;
    if (align > HS_ALIGNMENT) base = hs_sys_memalign(off, total);
    else base = zero ? hs_sys_calloc(1, total) : hs_sys_malloc(total);
    if (!base) return NULL;
    void *p = hs_large_seal_flags(base, off, dom, HS_LARGE_SAMPLED);
    if (zero && align > HS_ALIGNMENT) memset(p, 0, n);
    *live_word(p) = TAG_MAGIC << 32 | UINT32_MAX;
    return p;
}

static HS_TLS bool tls_busy;

HS_INLINE void *sample_alloc(hs_heap_t *h, unsigned dom, size_t n, bool zero, size_t align, bool count);

void *hs_sample_alloc(hs_heap_t *h, unsigned dom, size_t n, bool zero, size_t align)
{
    return sample_alloc(h, dom, n, zero, align, true);
}

void *hs_sample_alloc_uncounted(hs_heap_t *h, unsigned dom, size_t n)
{
    return sample_alloc(h, dom, n, false, 0, false);
}

/* The countdown is also the small fast path's clock tick (it no longer
 * counts operations: one subtraction serves both). A distance d to the next
 * sample is split into a window of at most HS_TICK_BYTES (sample_left, what
 * the fast paths subtract from) and the rest; when a window runs out before
 * the distance does, this is a tick, not a sample: the slot looks at the
 * clock (hs_slot_enter_slow: publishes if it is time; the operation has
 * not stored anything yet) and the next window starts. Sampling off: an
 * endless distance, windows only. */
#define HS_TICK_BYTES ((int64_t)128 * 1024)
#define NO_SAMPLE     ((int64_t)1 << 62)

static void set_window(hs_heap_t *h, int64_t d)
{
    h->sample_left = d < HS_TICK_BYTES ? d : HS_TICK_BYTES;
    h->sample_rest = d - h->sample_left;
}

/* Whether this request is sampled after all (a tick, first draw of the
 * thread, rate 0, a sample already being taken on this thread); leaves a
 * fresh countdown. true: tls_busy is set, and sample_record() clears it. */
static bool sample_decide(hs_heap_t *h, size_t n)
{
    if (HS_UNLIKELY(!h->sample_seeded)) {
        h->sample_seeded = 1;
        uint32_t k = __atomic_fetch_add(&thread_counter, 1, __ATOMIC_RELAXED);
        h->sample_rng = splitmix(cfg_seeded ? cfg_seed + k : hs_os_random64() ^ hs_os_tid());
        if (!h->sample_rng) h->sample_rng = 1;
        /* the first distance starts where this request starts */
        h->sample_left = -(int64_t)n;
        h->sample_rest = cfg_rate ? draw(h) : NO_SAMPLE;
    }
    /* sample_left is below zero by what this request overshot its window */
    int64_t rest = h->sample_rest + h->sample_left;
    if (rest >= 0 || !cfg_rate) {
        HS_STORE(&h->slot->tick, 0);        /* due: the clock look, now */
        hs_slot_enter_slow(h->slot);
        set_window(h, cfg_rate ? rest : NO_SAMPLE);
        return false;
    }
    /* the window ends here too: a tick as well as a sample (without the
     * clock look a thread that sampled often went on for several windows
     * without one: a raw clone child counted up to 2,061 blocks of 100 B
     * into its parent instead of at most a window's 1,311) */
    HS_STORE(&h->slot->tick, 0);
    hs_slot_enter_slow(h->slot);
    set_window(h, draw(h));
    if (tls_busy || hs_initialized != 2) return false;
    tls_busy = true;
    return true;
}

HS_INLINE void sample_record(void *p, unsigned dom, size_t n);

HS_INLINE void *sample_alloc(hs_heap_t *h, unsigned dom, size_t n, bool zero, size_t align, bool count)
{
    if (!sample_decide(h, n)) return NULL;
    void *p = serve_flagged(dom, n, zero, align);
    if (!p) {
        tls_busy = false;
        return NULL;                  /* the caller tries the usual way, and counts */
    }
    if (count) hs_count_alloc(dom, hs_large_usable_fast(p));
    sample_record(p, dom, n);
    return p;
}

/* a sampled block p (flagged, live word set) of n bytes: into the profile */
HS_INLINE void sample_record(void *p, unsigned dom, size_t n)
{

    /* the allocation stands for 1/P(sampled) allocations like it */
    double pr = one_minus_exp_neg((double)n / (double)cfg_rate);
    double wc = pr > 0 ? 1.0 / pr : 1.0;
    uint64_t weight = (uint64_t)(wc * HS_PROF_WEIGHT_ONE + 0.5);
    uint64_t est = (uint64_t)(wc * (double)n + 0.5);

    /* the loader's generation, looked at on every sample (the module list
     * and the unwind cache follow it) */
    uint64_t gen = loader_gen();
    uint64_t frames[HS_PROF_DEPTH];
    unsigned depth = capture(frames, HS_PROF_DEPTH, gen);
    /* the interpreter's frames, read now (they change as it runs), copied
     * into the profile under the lock */
    const struct hs_interp *in = __atomic_load_n(&interp, __ATOMIC_ACQUIRE);
    struct hs_interp_frame py[HS_PROF_DEPTH];
    unsigned npy = in ? in->walk(py, HS_PROF_DEPTH) : 0;
    uint64_t now = hs_unix_ns();

    hs_lock(&prof_lock);
    struct hs_prof_header *r = region_get();
    bool fresh_modules = false;
    if (r) {
        seq_begin(r);
        if (npy) pyframes_splice(r, in, frames, &depth, py, npy);
        uint32_t si = stack_intern(r, frames, depth, dom), li = UINT32_MAX;
        if (si != UINT32_MAX) {
            if (live_free_head) {
                li = live_free_head - 1;
                uint32_t next = live_of(r)[li].stack;
                live_free_head = next <= HS_PROF_LIVE ? next : 0;
            } else if (r->live_hwm < HS_PROF_LIVE &&
                       back_upto(r, 2, OFF_LIVE + (size_t)(r->live_hwm + 1) * sizeof(struct hs_prof_live))) {
                li = r->live_hwm++;
            }
        }
        if (li != UINT32_MAX) {
            struct hs_prof_stack *s = &stacks_of(r)[si];
            s->alloc_weight += weight;
            s->alloc_bytes += est;
            struct hs_prof_live *e = &live_of(r)[li];
            e->size = n;
            e->weight = weight;
            e->est_bytes = est;
            e->time_ns = now;
            e->stack = si;
            e->dom = dom;
            e->addr = (uint64_t)(uintptr_t)p;
            *live_word(p) = TAG_MAGIC << 32 | li;
            r->samples++;
        } else {
            r->dropped++;
        }
        seq_end(r);
        fresh_modules = HS_LOAD(&mod_gen_seen) == UINT64_MAX || r->samples % 64 == 1 ||
                        r->nmodules == 0;
    }
    hs_unlock(&prof_lock);
    /* the loader is asked outside prof_lock (see the top of the file); a
     * cheap look at its counters on a share of the samples */
    if (r && (fresh_modules || gen != HS_LOAD(&mod_gen_seen))) modules_refresh(r);
    usdt_alloc(p, n, est);
    tls_busy = false;
}

/*
 * A realloc the sampler took: p (a bare glibc block, or behind our header at
 * an offset of at most 32) becomes a sampled block of n bytes, at most one
 * copy of its contents, as the unsampled realloc would cost:
 * - at offset 32 already (a sampled block, a once sampled one, one aligned
 *   to 32): resized by glibc with the header in place -- in place, by
 *   mremap, or by glibc's own copy, exactly the unsampled realloc's work;
 * - elsewhere the contents must move behind the 32-byte header. A block
 *   glibc mapped (mremap keeps its pages) or one that shrinks (glibc splits
 *   it in place) is resized by glibc and shifted; one that grows goes to a
 *   fresh block with one copy (resizing it first would copy it twice when
 *   glibc cannot grow it in place).
 * The new size gets the same room for a growth chain as any realloc
 * (hs_grow_room). NULL: not sampled after all, p intact.
 */
void *hs_sample_move(hs_heap_t *h, void *p, bool bare, size_t n)
{
    if (!sample_decide(h, n)) return NULL;
    size_t off = bare ? 0 : hs_large_offset(p);
    size_t old = bare ? hs_sys_usable_size(p) : hs_large_usable_fast(p);
    unsigned dom = bare ? HS_DOMAIN_MEM : hs_large_dom(p);
    size_t want = hs_grow_room(old, n), keep = old < n ? old : n;
    if (want > PTRDIFF_MAX - 64 || off > 32) {
        tls_busy = false;
        return NULL;
    }
    char *base = (char *)p - off, *nb;
    if (off == 32 || hs_sys_mmapped(base) || want + 32 <= old + off) {
        /* the old sample (if any) ends here, whatever happens next; a
         * flagged block without its live word is ignored at its release */
        if (!bare && (hs_large_hdr(p)->info & HS_LARGE_SAMPLED)) hs_sample_release(p);
        nb = hs_sys_realloc(base, want + 32);
        if (nb && off != 32) memmove(nb + 32, nb + off, keep);
    } else {
        nb = hs_sys_malloc(want + 32);
        if (nb) {
            memcpy(nb + 32, p, keep);
            if (!bare) hs_large_hdr(p)->tag = 0;       /* as hs_large_release_fast */
            hs_sys_free(base);
        }
    }
    if (!nb) {
        tls_busy = false;
        return NULL;
    }
    void *q = hs_large_seal_flags(nb, 32, dom, HS_LARGE_SAMPLED);
    *live_word(q) = TAG_MAGIC << 32 | UINT32_MAX;
    sample_record(q, dom, n);
    return q;
}

void hs_sample_release(void *p)
{
    uint64_t w = *live_word(p);
    USDT_FREE(p);
    if ((w >> 32) != TAG_MAGIC || (uint32_t)w >= HS_PROF_LIVE) return;
    uint32_t li = (uint32_t)w;
    hs_lock(&prof_lock);
    struct hs_prof_header *r = region;
    if (r) {
        struct hs_prof_live *e = &live_of(r)[li];
        if (e->addr == (uint64_t)(uintptr_t)p) {
            seq_begin(r);
            e->addr = 0;
            e->stack = live_free_head;
            r->sampled_frees++;
            seq_end(r);
            live_free_head = li + 1;
        }
    }
    hs_unlock(&prof_lock);
    *live_word(p) = 0;
}

/* What of the region holds anything: the header, and each table up to
 * where it is backed (back_upto: nothing is written past that). */
static unsigned region_extents(size_t off[5], size_t len[5])
{
    unsigned n = 0;
    off[n] = 0;
    len[n++] = OFF_MODULES;
    for (unsigned k = 0; k < 4; k++)
        if (backed[k] > backed_from[k]) {
            off[n] = backed_from[k];
            len[n++] = backed[k] - backed_from[k];
        }
    return n;
}

/* The parent's copy of its file region's used parts, made at the fork's
 * prepare under the profile's lock (hs_sample_fork_snapshot): private
 * memory, so the child inherits it as it was at the fork and takes it as
 * its region with one mremap, and the parent drops its own mapping after
 * the fork. The child used to copy from the shared file after the fork:
 * twice the page faults (reads of the file's pages, writes of fresh ones,
 * about 45 us each on a VM), and a copy that could hold the parent's
 * writes made after the fork. */
static char *fork_snap;

/* a new private mapping of REGION_SIZE holding the region's used parts, or NULL */
static char *copy_used(const struct hs_prof_header *r)
{
    char *c = hs_os_map(REGION_SIZE);
    if (!c) return NULL;
    size_t off[5], len[5];
    unsigned n = region_extents(off, len);
    for (unsigned i = 0; i < n; i++) memcpy(c + off[i], (const char *)r + off[i], len[i]);
    return c;
}

void hs_sample_fork_snapshot(void)
{
    /* (none when one is made already: a fork from a signal handler inside
     * another fork's prepare; that one's child then copies for itself) */
    if (region && !fork_snap) fork_snap = copy_used(region);
}

/* the parent, after the fork: the copy is the child's now */
static void fork_snapshot_drop(void)
{
    if (fork_snap) hs_os_unmap(fork_snap, REGION_SIZE);
    fork_snap = NULL;
}

HS_FORK_CODE bool hs_sample_fork_private(void)
{
    struct hs_prof_header *r = region;
    if (!r) return true;
    /* the parent's copy; without one (no memory for it then), a copy now */
    char *tmp = fork_snap ? fork_snap : copy_used(r);
    fork_snap = NULL;
    if (tmp) {
        if (hs_os_mremap(tmp, REGION_SIZE, REGION_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, r) != MAP_FAILED)
            return true;
        hs_os_unmap(tmp, REGION_SIZE);
    }
    /* no memory for a copy: no profile in this child (the parent's file
     * is never written from here) */
    hs_os_unmap(r, REGION_SIZE);
    region = NULL;
    region_failed = true;
    return false;
}

bool hs_sample_publish(void *p)
{
    struct hs_prof_header *r = region;
    if (!r || !p || hs_lock_mine(&prof_lock)) return false;
    hs_lock(&prof_lock);
    size_t off[5], len[5];
    unsigned n = region_extents(off, len);
    bool ok = true;
    for (unsigned i = 0; i < n && ok; i++) ok = hs_os_back((char *)p + off[i], len[i]);
    if (ok) {
        if (!r->start_time) r->start_time = own_start_time(r->pid);
        /* the header last: a reader that opens the file meanwhile finds no
         * magic yet, rather than a header over empty tables */
        for (unsigned i = n; i-- > 0;) memcpy((char *)p + off[i], (const char *)r + off[i], len[i]);
        ok = hs_os_mremap(p, REGION_SIZE, REGION_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, r) != MAP_FAILED;
    }
    hs_unlock(&prof_lock);
    return ok;
}

static bool mod_taken, prof_taken;    /* by the fork handlers */

HS_FORK_CODE void hs_sample_fork(int phase)
{
    if (phase == 0) {
        mod_taken = hs_lock_for_fork(&mod_lock);
        prof_taken = hs_lock_for_fork(&prof_lock);
        return;
    }
    if (phase == 2) {
        hs_unwind_fork_child();
        /* backed[] stays: the child's region has those parts (the fork's
         * copy of a private region; hs_sample_fork_private's of a file) */
        hs_lock_reset(&prof_lock);
        hs_lock_reset(&mod_lock);
        if (region) {
            region->pid = (int32_t)getpid();
            /* the live header's when the platform has read it already, else
             * read when the child's file is made (hs_sample_publish) */
            region->start_time = hs_live && hs_live->pid == region->pid ? hs_live->start_time : 0;
        }
        return;
    }
    fork_snapshot_drop();
    if (prof_taken) hs_unlock(&prof_lock);
    if (mod_taken) hs_unlock(&mod_lock);
}
