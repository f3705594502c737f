/*
 * bench/core_wl.h - room: bench/. The workloads of bench_core, written once
 * against an allocator pair (alloc, release) and instantiated for hs_obj_*
 * and for glibc malloc/free. The bodies are always_inline and the pair is a
 * compile-time constant, so each instantiation makes direct calls: neither
 * side pays for an indirect call the other does not.
 *
 * Each workload does its setup untimed, times its steady state, then frees
 * what is left (untimed) so the next measurement starts from a clean heap.
 * Every block is written to (as a real program would) and a checksum is
 * kept, so the compiler cannot drop a malloc/free pair.
 */
#ifndef HS_CORE_WL_H
#define HS_CORE_WL_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include "benchutil.h"

#define WL_INLINE static inline __attribute__((always_inline))

typedef struct {
    void *(*alloc)(size_t);
    void (*release)(void *);
} wl_api_t;

typedef struct {
    uint64_t ops;      /* allocations done in the timed part (each one freed) */
    double secs;       /* timed part */
    uint64_t check;    /* keeps the stores alive */
} wl_result_t;

/* Abort loudly: a benchmark that silently measures failed allocations lies. */
static void wl_oom(void)
{
    fputs("bench_core: allocation failed\n", stderr);
    exit(1);
}

/* (a) small-object churn: nslots live blocks, each step frees a random slot
 * and refills it with a random size in [16, 512]. */
WL_INLINE wl_result_t wl_churn(const wl_api_t *a, size_t nslots, uint64_t nops, uint64_t seed)
{
    wl_result_t r = { nops, 0, 0 };
    void **slot = calloc(nslots, sizeof *slot);
    if (!slot) wl_oom();
    for (size_t i = 0; i < nslots; i++) {
        size_t n = bu_range(&seed, 16, 512);
        if (!(slot[i] = a->alloc(n))) wl_oom();
        *(size_t *)slot[i] = n;
    }
    double t0 = bu_now();
    for (uint64_t k = 0; k < nops; k++) {
        uint64_t x = bu_rand(&seed);
        size_t i = (size_t)(x >> 32) % nslots;
        size_t n = 16 + (size_t)(x & 0xffff) % 497;
        r.check += *(size_t *)slot[i];
        a->release(slot[i]);
        if (!(slot[i] = a->alloc(n))) wl_oom();
        *(size_t *)slot[i] = n;
    }
    r.secs = bu_now() - t0;
    for (size_t i = 0; i < nslots; i++) a->release(slot[i]);
    free(slot);
    return r;
}

/* (b) linked structure build-and-drop: a complete binary tree of small
 * nodes built depth-first, then freed post-order. Recursive, so it cannot be
 * always_inline: the macro stamps out one copy per allocator instead, each
 * calling its (constant) allocator directly. */
struct wl_node { struct wl_node *l, *r; uint64_t key, pad; };

#define WL_DEFINE_TREE(SIDE, API)                                              \
    static struct wl_node *wl_tree_build_##SIDE(int depth, uint64_t *key)      \
    {                                                                          \
        struct wl_node *n = (API).alloc(sizeof *n);                            \
        if (!n) wl_oom();                                                      \
        n->key = (*key)++;                                                     \
        n->l = depth > 1 ? wl_tree_build_##SIDE(depth - 1, key) : NULL;        \
        n->r = depth > 1 ? wl_tree_build_##SIDE(depth - 1, key) : NULL;        \
        return n;                                                              \
    }                                                                          \
    static uint64_t wl_tree_drop_##SIDE(struct wl_node *n)                     \
    {                                                                          \
        uint64_t sum = n->key;                                                 \
        if (n->l) sum += wl_tree_drop_##SIDE(n->l);                            \
        if (n->r) sum += wl_tree_drop_##SIDE(n->r);                            \
        (API).release(n);                                                      \
        return sum;                                                            \
    }                                                                          \
    static wl_result_t wl_tree_##SIDE(int depth, int reps)                     \
    {                                                                          \
        wl_result_t r = { 0, 0, 0 };                                           \
        double t0 = bu_now();                                                  \
        for (int i = 0; i < reps; i++) {                                       \
            uint64_t key = 0;                                                  \
            r.check += wl_tree_drop_##SIDE(wl_tree_build_##SIDE(depth, &key)); \
            r.ops += key;                                                      \
        }                                                                      \
        r.secs = bu_now() - t0;                                                \
        return r;                                                              \
    }

/* (c) mixed sizes: like the churn, but one request in 16 is 1..64 KiB. */
WL_INLINE size_t wl_mixed_size(uint64_t *seed)
{
    uint64_t x = bu_rand(seed);
    if ((x & 15) == 0) return 1024 + (size_t)(x >> 32) % (63 * 1024 + 1);
    return 16 + (size_t)(x >> 32) % 497;
}

WL_INLINE wl_result_t wl_mixed(const wl_api_t *a, size_t nslots, uint64_t nops, uint64_t seed)
{
    wl_result_t r = { nops, 0, 0 };
    void **slot = calloc(nslots, sizeof *slot);
    if (!slot) wl_oom();
    for (size_t i = 0; i < nslots; i++) {
        size_t n = wl_mixed_size(&seed);
        if (!(slot[i] = a->alloc(n))) wl_oom();
        *(size_t *)slot[i] = n;
    }
    double t0 = bu_now();
    for (uint64_t k = 0; k < nops; k++) {
        size_t i = (size_t)(bu_rand(&seed) >> 32) % nslots;
        size_t n = wl_mixed_size(&seed);
        r.check += *(size_t *)slot[i];
        a->release(slot[i]);
        if (!(slot[i] = a->alloc(n))) wl_oom();
        *(size_t *)slot[i] = n;
    }
    r.secs = bu_now() - t0;
    for (size_t i = 0; i < nslots; i++) a->release(slot[i]);
    free(slot);
    return r;
}

/* (d) producer/consumer: a lock-free single-producer single-consumer ring.
 * Head and tail sit on their own cache lines so the ring itself adds as
 * little cross-core traffic as possible beyond what the allocator causes. */
#define WL_RING 1024u
typedef struct {
    _Alignas(64) uint64_t head;        /* written by the producer */
    _Alignas(64) uint64_t tail;        /* written by the consumer */
    _Alignas(64) void *buf[WL_RING];
    uint64_t nmsg, seed, check;
} wl_ring_t;

/* Spin briefly, then yield: on a 2-core machine shared with other work a
 * pure spin could burn the slice the other side needs. */
static inline void wl_backoff(unsigned *spins)
{
    if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        *spins = 0;
        sched_yield();
    }
}

WL_INLINE void wl_produce(const wl_api_t *a, wl_ring_t *q)
{
    uint64_t seed = q->seed;
    unsigned spins = 0;
    for (uint64_t k = 0; k < q->nmsg; k++) {
        size_t n = bu_range(&seed, 16, 512);
        size_t *p = a->alloc(n);
        if (!p) wl_oom();
        *p = n;
        while (k - __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) >= WL_RING) wl_backoff(&spins);
        q->buf[k % WL_RING] = p;
        __atomic_store_n(&q->head, k + 1, __ATOMIC_RELEASE);
    }
}

WL_INLINE void wl_consume(const wl_api_t *a, wl_ring_t *q)
{
    unsigned spins = 0;
    uint64_t sum = 0;
    for (uint64_t k = 0; k < q->nmsg; k++) {
        while (__atomic_load_n(&q->head, __ATOMIC_ACQUIRE) <= k) wl_backoff(&spins);
        size_t *p = q->buf[k % WL_RING];
        sum += *p;
        a->release(p);
        __atomic_store_n(&q->tail, k + 1, __ATOMIC_RELEASE);
    }
    q->check = sum;
}

#endif
