/*
 * tests/test_model.c - randomized operation sequences checked against a
 * simple model.
 *
 * Room: this program only; public headers only. A few hundred thousand
 * malloc/calloc/realloc/free calls over random domains and sizes 0..4096 on
 * a table of slots. The model knows, for each live block, its domain, size
 * and the byte pattern written into it (checked before every realloc and
 * free), and, per domain, how many blocks are live and how many allocs,
 * reallocs and frees were made. One thread only, so the counters of a
 * domain move only through our calls: after every call the domain's
 * counters are read and the change checked; at checkpoints the running
 * totals are compared with the model from the start.
 *
 * Reproduce a failure with HS_MODEL_SEED=<seed> (printed at the start);
 * HS_MODEL_OPS sets the number of operations.
 */
#include "testutil.h"
#include <heapshim.h>
#include <CUnit/CUnit.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char byte;
#define FAIL_MSG(m) CU_assertImplementation(CU_FALSE, __LINE__, (m), __FILE__, "", CU_FALSE)

static void *(*const d_malloc[3])(size_t) = { hs_raw_malloc, hs_mem_malloc, hs_obj_malloc };
static void *(*const d_calloc[3])(size_t, size_t) = { hs_raw_calloc, hs_mem_calloc, hs_obj_calloc };
static void *(*const d_realloc[3])(void *, size_t) = { hs_raw_realloc, hs_mem_realloc,
                                                        hs_obj_realloc };
static void (*const d_free[3])(void *) = { hs_raw_free, hs_mem_free, hs_obj_free };

static uint64_t rng;
static uint64_t next(void)          /* xorshift64* */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}
static unsigned below(unsigned n) { return (unsigned)((next() >> 33) % n); }

static byte pat(size_t i, unsigned seed) { return (byte)(seed * 0x9Du + i * 131u + (i >> 8)); }
static void fill(byte *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) p[i] = pat(i, seed);
}
static int intact(const byte *p, size_t n, unsigned seed)
{
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) acc |= (unsigned)(p[i] ^ pat(i, seed));
    return acc == 0;
}
static int all_zero(const byte *p, size_t n)
{
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

/* sizes 0..4096, weighted to the small classes where the arenas are */
static size_t rand_size(void)
{
    unsigned r = below(100);
    if (r < 5) return 0;
    if (r < 55) return below(129);
    if (r < 80) return 129 + below(HS_SMALL_MAX - 128);
    return HS_SMALL_MAX + 1 + below(4096 - HS_SMALL_MAX);
}

struct slot {
    byte    *p;
    size_t   n;
    uint64_t usable;    /* what the counters added for it */
    unsigned seed;
    int      dom;
};

#define NSLOTS 4096
static struct slot slots[NSLOTS];

struct model {
    uint64_t allocs, reallocs, frees, blocks, bytes;
};

static hs_domain_stats_t st(int d)
{
    hs_domain_stats_t s;
    CU_ASSERT_FATAL(hs_domain_stats((hs_domain_t)d, &s) == 0);
    return s;
}

static int failures;
static uint64_t seed0;
static long opno;

static void bad(const char *what, int d, size_t n, long long got, long long want)
{
    if (++failures > 8) return;
    char msg[256];
    snprintf(msg, sizeof msg, "seed %" PRIu64 " op %ld domain %d size %zu: %s (got %lld, want %lld)",
             seed0, opno, d, n, what, got, want);
    FAIL_MSG(msg);
}

/* The usable size the counters gave a block of request n must cover n; a
 * fresh MEM/OBJ small block is exactly its 16-byte class; other blocks carry
 * at most a chunk header and rounding of the system allocator -- except a
 * realloc's (old: the block's usable size before it), which may keep the
 * old size when it shrinks by less than a quarter, or get room up to a
 * quarter above the old size when it grows by less (core hs_grow_room). */
static void check_usable(int d, size_t n, uint64_t u, int fresh, uint64_t old)
{
    size_t want = n ? n : 1;
    if (d != HS_DOMAIN_RAW && fresh && n <= HS_SMALL_MAX) {
        uint64_t cls = (want + HS_ALIGNMENT - 1) / HS_ALIGNMENT * HS_ALIGNMENT;
        if (u != cls) bad("small block not counted as its class size", d, n, (long long)u,
                          (long long)cls);
        return;
    }
    uint64_t hi = want + 64 + (n <= HS_SMALL_MAX ? HS_SMALL_MAX : 0);
    if (!fresh && n <= old && 4 * n > 3 * old && old > hi) hi = old;   /* stays */
    if (!fresh && n > old && n < old + old / 4 && old + old / 4 + 64 > hi)
        hi = old + old / 4 + 64;                                      /* room for a chain */
    if (u < want || u > hi)
        bad("usable bytes out of range", d, n, (long long)u, (long long)want);
}

static void test_random_ops(void)
{
    const char *es = getenv("HS_MODEL_SEED"), *eo = getenv("HS_MODEL_OPS");
    seed0 = es ? strtoull(es, NULL, 0) : 0x5eed2024ull;
    long nops = eo ? strtol(eo, NULL, 0) : 300000;
    if (!seed0) seed0 = 1;
    rng = seed0;
    printf("\n    model: seed %" PRIu64 " (HS_MODEL_SEED), %ld operations\n", seed0, nops);

    struct model m[3];
    hs_domain_stats_t base[3], last[3];
    memset(m, 0, sizeof m);
    for (int d = 0; d < 3; d++) base[d] = last[d] = st(d);
    uint64_t max_live[3] = { 0, 0, 0 };

    for (opno = 0; opno < nops && failures <= 8; opno++) {
        struct slot *s = &slots[below(NSLOTS)];
        int d;
        size_t n;
        if (!s->p) {
            d = (int)below(3);
            n = rand_size();
            unsigned how = below(20);
            byte *p;
            if (how < 12) {
                p = d_malloc[d](n);
            } else if (how < 17) {
                size_t el = 1 + below(8), ne = n / el;   /* ne*el <= n */
                n = ne * el;
                p = d_calloc[d](ne, el);
                if (p && !all_zero(p, n)) bad("calloc memory not zeroed", d, n, 1, 0);
            } else {
                p = d_realloc[d](NULL, n);
            }
            if (!p) {
                bad("allocation returned NULL", d, n, 0, 1);
                continue;
            }
            if ((uintptr_t)p % HS_ALIGNMENT) bad("misaligned", d, n, (long long)((uintptr_t)p % 16), 0);
            hs_domain_stats_t now = st(d);
            uint64_t u = now.live_bytes - last[d].live_bytes;
            check_usable(d, n, u, 1, 0);
            m[d].allocs++;
            m[d].blocks++;
            m[d].bytes += u;
            if (now.allocs - last[d].allocs != 1) bad("allocs did not move by 1", d, n,
                                                      (long long)(now.allocs - last[d].allocs), 1);
            last[d] = now;
            s->p = p;
            s->n = n;
            s->usable = u;
            s->dom = d;
            s->seed = (unsigned)opno;
            fill(p, n, s->seed);
        } else {
            d = s->dom;
            n = s->n;
            if (!intact(s->p, n, s->seed)) bad("block contents changed while live", d, n, 1, 0);
            if (below(2)) {
                size_t nn = below(10) ? rand_size() : 0;
                byte *q = d_realloc[d](s->p, nn);
                if (!q) {
                    bad("realloc returned NULL", d, nn, 0, 1);
                    continue;
                }
                size_t keep = n < nn ? n : nn;
                if (!intact(q, keep, s->seed)) bad("realloc lost contents", d, nn, (long long)n, 0);
                hs_domain_stats_t now = st(d);
                uint64_t u = s->usable + (now.live_bytes - last[d].live_bytes);
                check_usable(d, nn, u, 0, s->usable);
                m[d].reallocs++;
                m[d].bytes += u - s->usable;
                if (now.reallocs - last[d].reallocs != 1)
                    bad("reallocs did not move by 1", d, nn,
                        (long long)(now.reallocs - last[d].reallocs), 1);
                if (now.live_blocks != last[d].live_blocks)
                    bad("realloc changed live_blocks", d, nn, (long long)now.live_blocks,
                        (long long)last[d].live_blocks);
                last[d] = now;
                s->p = q;
                s->n = nn;
                s->usable = u;
                s->seed = (unsigned)opno;
                fill(q, nn, s->seed);
            } else {
                d_free[d](s->p);
                hs_domain_stats_t now = st(d);
                if (last[d].live_bytes - now.live_bytes != s->usable)
                    bad("free did not give back the block's usable bytes", d, n,
                        (long long)(last[d].live_bytes - now.live_bytes), (long long)s->usable);
                m[d].frees++;
                m[d].blocks--;
                m[d].bytes -= s->usable;
                last[d] = now;
                s->p = NULL;
            }
        }
        if (last[d].live_bytes > max_live[d]) max_live[d] = last[d].live_bytes;

        if (opno % 10000 == 9999) {
            hs_domain_stats_t t;
            CU_ASSERT_FATAL(hs_total_stats(&t) == 0);
            uint64_t sum = 0;
            for (int k = 0; k < 3; k++) {
                hs_domain_stats_t c = st(k);
                sum += c.live_bytes;
                if (c.live_blocks - base[k].live_blocks != m[k].blocks)
                    bad("checkpoint: live_blocks", k, 0, (long long)(c.live_blocks - base[k].live_blocks),
                        (long long)m[k].blocks);
                if (c.live_bytes - base[k].live_bytes != m[k].bytes)
                    bad("checkpoint: live_bytes", k, 0, (long long)(c.live_bytes - base[k].live_bytes),
                        (long long)m[k].bytes);
                if (c.allocs - base[k].allocs != m[k].allocs)
                    bad("checkpoint: allocs", k, 0, (long long)(c.allocs - base[k].allocs),
                        (long long)m[k].allocs);
                if (c.frees - base[k].frees != m[k].frees)
                    bad("checkpoint: frees", k, 0, (long long)(c.frees - base[k].frees),
                        (long long)m[k].frees);
                if (c.reallocs - base[k].reallocs != m[k].reallocs)
                    bad("checkpoint: reallocs", k, 0, (long long)(c.reallocs - base[k].reallocs),
                        (long long)m[k].reallocs);
                if (c.failed != base[k].failed)
                    bad("checkpoint: failed", k, 0, (long long)c.failed, (long long)base[k].failed);
                if (c.peak_bytes < max_live[k])
                    bad("checkpoint: peak below a live figure seen", k, 0, (long long)c.peak_bytes,
                        (long long)max_live[k]);
            }
            if (t.live_bytes != sum) bad("checkpoint: total live_bytes", -1, 0, (long long)t.live_bytes,
                                         (long long)sum);
        }
    }

    /* drain, then everything is back where it started */
    for (int i = 0; i < NSLOTS; i++) {
        struct slot *s = &slots[i];
        if (!s->p) continue;
        if (!intact(s->p, s->n, s->seed)) bad("block contents changed (final)", s->dom, s->n, 1, 0);
        d_free[s->dom](s->p);
        m[s->dom].frees++;
        s->p = NULL;
    }
    for (int d = 0; d < 3; d++) {
        hs_domain_stats_t c = st(d);
        CU_ASSERT_EQUAL(c.live_blocks, base[d].live_blocks);
        CU_ASSERT_EQUAL(c.live_bytes, base[d].live_bytes);
        CU_ASSERT_EQUAL(c.allocs - base[d].allocs, m[d].allocs);
        CU_ASSERT_EQUAL(c.frees - base[d].frees, m[d].frees);
        CU_ASSERT_EQUAL(c.allocs - base[d].allocs, c.frees - base[d].frees);
        CU_ASSERT(c.peak_bytes >= max_live[d]);
    }
    CU_ASSERT_EQUAL(failures, 0);
}

int main(void)
{
    static const hs_test_t tests[] = {
        { "random operations against a model", test_random_ops },
        { NULL, NULL },
    };
    hs_test_add_suite("model", tests);
    return hs_test_main();
}
