/*
 * interpose/pyframes.c - CPython's own frames in the heap profile's stacks.
 *
 * Room: at a sample, core/sample.c asks (through struct hs_interp,
 * core/sample.h) for the calling thread's Python frames; this file reads
 * them from the interpreter's memory, CPython 3.11's layout (pyframes.h).
 * It calls three functions of CPython, none of which allocates or takes a
 * lock: _PyThreadState_UncheckedGet (the thread state holding the GIL),
 * PyGILState_GetThisThreadState (this thread's, from its thread-specific
 * key) and PyCode_Addr2Line (a frame's line from its code's location
 * table). It never writes the interpreter's memory.
 *
 * Whose frames: the calling thread's own only, found as the thread state
 * holding the GIL when that names this thread (thread_id == pthread_self()),
 * else as this thread's thread state (a C call that released the GIL:
 * os.listdir's opendir, zlib, file reads). A thread's frame chain is
 * changed only by that thread, which is inside the allocation being
 * sampled, so the chain holds still while it is read, and every code
 * object on it is alive (its running frame holds it). CPython clears the
 * thread-specific key before it frees a thread state. A thread that has no
 * thread state (one that never ran Python) gets no Python frames. One race
 * is left: the line table that tracing builds on first use
 * (_co_linearray) may be read by a thread without the GIL while another
 * fills it, which can give a wrong line, never a read outside it.
 *
 * What a frame shows: the code's co_qualname, co_filename and the line the
 * frame is at (the call being made, for every frame but the innermost; the
 * instruction that allocates, for the innermost). Frames still being set up
 * (_PyFrame_IsIncomplete: before their first traceable instruction) are
 * left out, as CPython's own tracebacks leave them out, but still close
 * their run of the loop when they begin it.
 *
 * Versions: the layout is 3.11's; other versions (3.8-3.10 have no
 * _PyInterpreterFrame, 3.12+ moved the fields) and debug builds (another
 * object header with Py_TRACE_REFS) get no Python frames. A string that is
 * not a compact one (the legacy wstr strings of C extensions) shows as "?".
 */
#include "shim.h"
#include "pyframes.h"
#include "../core/sample.h"
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

static void *(*get_tstate)(void);                 /* _PyThreadState_UncheckedGet */
static void *(*this_tstate)(void);                /* PyGILState_GetThisThreadState */
static int (*addr2line)(void *code, int byte_offset);   /* PyCode_Addr2Line */
static uintptr_t code_type, str_type;             /* &PyCode_Type, &PyUnicode_Type */

#define AT(base, off, type) (*(type *)((const char *)(base) + (off)))

/* the UTF-8 of str object o into buf (cap > 0), cut at a character
 * boundary; *chars: its length in characters (-1: not a str we read) */
static size_t str_utf8(const void *o, char *buf, size_t cap, long *chars)
{
    *chars = -1;
    if (!o || AT(o, HS_PY311_OB_TYPE, uintptr_t) != str_type) return 0;
    uint32_t state = AT(o, HS_PY311_STR_STATE, uint32_t);
    unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1,
             ready = (state >> 7) & 1;
    if (!compact || !ready || (kind != 1 && kind != 2 && kind != 4)) return 0;
    long len = AT(o, HS_PY311_STR_LENGTH, long);
    if (len < 0) return 0;
    *chars = len;
    const unsigned char *d = (const unsigned char *)o + (ascii ? HS_PY311_STR_ASCII_DATA : HS_PY311_STR_COMPACT_DATA);
    size_t n = 0;
    for (long i = 0; i < len; i++) {
        uint32_t c = kind == 1 ? d[i] : kind == 2 ? ((const uint16_t *)d)[i] : ((const uint32_t *)d)[i];
        char u[4];
        size_t k;
        if (c < 0x80) {
            u[0] = (char)c, k = 1;
        } else if (c < 0x800) {
            u[0] = (char)(0xc0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3f)), k = 2;
        } else if (c < 0x10000) {
            u[0] = (char)(0xe0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 0x3f)),
            u[2] = (char)(0x80 | (c & 0x3f)), k = 3;
        } else if (c < 0x110000) {
            u[0] = (char)(0xf0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 0x3f)),
            u[2] = (char)(0x80 | ((c >> 6) & 0x3f)), u[3] = (char)(0x80 | (c & 0x3f)), k = 4;
        } else {
            u[0] = '?', k = 1;
        }
        if (n + k >= cap) break;
        memcpy(buf + n, u, k);
        n += k;
    }
    buf[n] = 0;
    return n;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

/* names longer than this hash by their start and their length */
#define HASH_TEXT 512

/*
 * The line and hash of a frame position, kept: a sample meets the same
 * positions again and again (the same call sites), and working them out
 * costs thousands of instructions (PyCode_Addr2Line scans the code's
 * location table from its start; the names are encoded and hashed): about
 * 20 us a sample in CPython's own test suite at a 512-byte rate. Keyed by
 * the code object and the instruction; a code object freed and another made
 * at its address is told apart by its name and file objects, first line,
 * size and first traceable instruction (a false hit needs all of them
 * equal: then a frame could show another line of a function of the same
 * name in the same file). Threads may walk at the same time (one holding
 * the GIL, others that released it): each entry is a seqlock; a reader
 * that meets a write in progress, or a writer that meets another, simply
 * does without the entry.
 */
#define POS_CACHE 512           /* entries, power of two: 32 KiB, only in a python3 that samples */
struct pos_entry {
    uint64_t seq;               /* odd while written */
    uintptr_t code, prev, qualname, filename;
    long size;
    int32_t line, first_line, traceable, pad;
    uint64_t hash;
};
static struct pos_entry pos_cache[POS_CACHE] HS_COLD_BSS;

static struct pos_entry *pos_slot(uintptr_t code, uintptr_t prev)
{
    uint64_t k = (code ^ (prev * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
    return &pos_cache[(k >> 40) & (POS_CACHE - 1)];
}

/* the entry's line and hash when it holds this position of this code */
static bool pos_get(const struct pos_entry *e, const struct pos_entry *want, int32_t *line, uint64_t *hash)
{
    uint64_t s0 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
    if (s0 & 1) return false;
    bool same = __atomic_load_n(&e->code, __ATOMIC_RELAXED) == want->code &&
                __atomic_load_n(&e->prev, __ATOMIC_RELAXED) == want->prev &&
                __atomic_load_n(&e->qualname, __ATOMIC_RELAXED) == want->qualname &&
                __atomic_load_n(&e->filename, __ATOMIC_RELAXED) == want->filename &&
                __atomic_load_n(&e->size, __ATOMIC_RELAXED) == want->size &&
                __atomic_load_n(&e->first_line, __ATOMIC_RELAXED) == want->first_line &&
                __atomic_load_n(&e->traceable, __ATOMIC_RELAXED) == want->traceable;
    int32_t l = __atomic_load_n(&e->line, __ATOMIC_RELAXED);
    uint64_t h = __atomic_load_n(&e->hash, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (!same || __atomic_load_n(&e->seq, __ATOMIC_RELAXED) != s0) return false;
    *line = l;
    *hash = h;
    return true;
}

static void pos_put(struct pos_entry *e, const struct pos_entry *v)
{
    uint64_t s0 = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
    if ((s0 & 1) || !__atomic_compare_exchange_n(&e->seq, &s0, s0 + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&e->code, v->code, __ATOMIC_RELAXED);
    __atomic_store_n(&e->prev, v->prev, __ATOMIC_RELAXED);
    __atomic_store_n(&e->qualname, v->qualname, __ATOMIC_RELAXED);
    __atomic_store_n(&e->filename, v->filename, __ATOMIC_RELAXED);
    __atomic_store_n(&e->size, v->size, __ATOMIC_RELAXED);
    __atomic_store_n(&e->first_line, v->first_line, __ATOMIC_RELAXED);
    __atomic_store_n(&e->traceable, v->traceable, __ATOMIC_RELAXED);
    __atomic_store_n(&e->line, v->line, __ATOMIC_RELAXED);
    __atomic_store_n(&e->hash, v->hash, __ATOMIC_RELAXED);
    __atomic_store_n(&e->seq, s0 + 2, __ATOMIC_RELEASE);
}

/* the line of a frame at prev in code, and the hash of its name, file and
 * lines: worked out (outside the cache) */
static void pos_work(const char *code, const char *prev, int32_t first_line, int32_t *line, uint64_t *hash)
{
    const char *first = code + HS_PY311_CO_CODE;
    long off = prev - first;     /* bytes; -2 before the first instruction */
    *line = off >= 0 && off < (1l << 30) ? addr2line((void *)code, (int)off) : first_line;
    char text[HASH_TEXT];
    uint64_t h = 0xcbf29ce484222325ull;
    long chars;
    size_t l = str_utf8(AT(code, HS_PY311_CO_QUALNAME, const void *), text, sizeof text, &chars);
    h = fnv(fnv(h, text, l), &chars, sizeof chars);
    l = str_utf8(AT(code, HS_PY311_CO_FILENAME, const void *), text, sizeof text, &chars);
    h = fnv(fnv(h, text, l), &chars, sizeof chars);
    h = fnv(fnv(h, line, sizeof *line), &first_line, sizeof first_line);
    *hash = h ? h : 1;
}

static unsigned walk(struct hs_interp_frame *out, unsigned max)
{
    unsigned long self = (unsigned long)pthread_self();
    void *ts = get_tstate();
    if (!ts || AT(ts, HS_PY311_TS_THREAD_ID, unsigned long) != self) {
        ts = this_tstate();
        if (!ts || AT(ts, HS_PY311_TS_THREAD_ID, unsigned long) != self) return 0;
    }
    const void *cf = AT(ts, HS_PY311_TS_CFRAME, const void *);
    const void *fr = cf ? AT(cf, HS_PY311_CF_CURRENT, const void *) : NULL;
    unsigned n = 0;
    /* the chain ends at NULL; the bound only guards against a cycle */
    for (unsigned guard = 0; fr && n < max && guard < 100000; guard++) {
        const char *code = AT(fr, HS_PY311_FR_CODE, const char *);
        const char *prev = AT(fr, HS_PY311_FR_PREV_INSTR, const char *);
        bool entry = AT(fr, HS_PY311_FR_IS_ENTRY, unsigned char) != 0;
        unsigned char owner = AT(fr, HS_PY311_FR_OWNER, unsigned char);
        fr = AT(fr, HS_PY311_FR_PREVIOUS, const void *);
        struct hs_interp_frame *f = &out[n];
        memset(f, 0, sizeof *f);
        f->entry = entry;
        if (code && AT(code, HS_PY311_OB_TYPE, uintptr_t) == code_type) {
            const char *first = code + HS_PY311_CO_CODE;
            int traceable = AT(code, HS_PY311_CO_FIRSTTRACEABLE, int);
            if (owner != HS_PY311_OWNED_BY_GENERATOR && prev < first + 2 * (long)traceable) {
                if (entry) n++;          /* nothing to show, but its run ends here */
                continue;
            }
            f->code = (uintptr_t)code;
            f->first_line = AT(code, HS_PY311_CO_FIRSTLINENO, int);
            struct pos_entry key = {
                .code = (uintptr_t)code, .prev = (uintptr_t)prev,
                .qualname = AT(code, HS_PY311_CO_QUALNAME, uintptr_t),
                .filename = AT(code, HS_PY311_CO_FILENAME, uintptr_t),
                .size = AT(code, HS_PY311_OB_SIZE, long),
                .first_line = f->first_line, .traceable = traceable,
            };
            struct pos_entry *e = pos_slot(key.code, key.prev);
            if (!pos_get(e, &key, &f->line, &f->hash)) {
                pos_work(code, prev, f->first_line, &f->line, &f->hash);
                key.line = f->line;
                key.hash = f->hash;
                pos_put(e, &key);
            }
            n++;
        } else if (entry) {
            n++;
        }
    }
    return n;
}

static void describe(const struct hs_interp_frame *f, char *name, size_t name_cap, char *file, size_t file_cap)
{
    const char *code = (const char *)f->code;
    long chars;
    if (!str_utf8(AT(code, HS_PY311_CO_QUALNAME, const void *), name, name_cap, &chars) && chars < 0)
        memcpy(name, "?", 2);
    /* a path keeps its end (the file's name) when it does not fit */
    char path[1024];
    size_t l = str_utf8(AT(code, HS_PY311_CO_FILENAME, const void *), path, sizeof path, &chars);
    if (!l && chars < 0) {
        memcpy(file, "?", 2);
        return;
    }
    size_t from = l < file_cap ? 0 : l - (file_cap - 1);
    while (from < l && ((unsigned char)path[from] & 0xc0) == 0x80) from++;
    memcpy(file, path + from, l - from + 1);
}

static struct hs_interp py_interp = { 0, 0, walk, describe };

void hs_pyframes_start(void *(*lookup)(const char *name), unsigned major, unsigned minor)
{
    if (major != 3 || minor != 11) return;
    /* a debug build's objects have another header (Py_TRACE_REFS) */
    if (lookup("_Py_RefTotal") || lookup("_Py_ForgetReference")) return;
    void *eval = lookup("_PyEval_EvalFrameDefault");
    get_tstate = (void *(*)(void))lookup("_PyThreadState_UncheckedGet");
    this_tstate = (void *(*)(void))lookup("PyGILState_GetThisThreadState");
    addr2line = (int (*)(void *, int))lookup("PyCode_Addr2Line");
    code_type = (uintptr_t)lookup("PyCode_Type");
    str_type = (uintptr_t)lookup("PyUnicode_Type");
    (void)dlerror();
    Dl_info info;
    const ElfW(Sym) *es = NULL;
    if (!eval || !get_tstate || !this_tstate || !addr2line || !code_type || !str_type ||
        !dladdr1(eval, &info, (void **)&es, RTLD_DL_SYMENT) || !es || !es->st_size)
        return;
    py_interp.eval_lo = (uintptr_t)eval;
    py_interp.eval_hi = (uintptr_t)eval + es->st_size;
    hs_sample_set_interp(&py_interp);
}
