/*
 * bench/bench_core.c - room: bench/. `make bench` part 1 (issue 3): the
 * hs_obj_* API against glibc malloc/free in one process, interleaved round
 * by round (the side that goes first alternates), median of the rounds.
 * Prints a markdown table of throughputs and hs/glibc ratios, then PASS/MISS
 * for the targets, computed from the measured ratios.
 * Links build/libheapshim.a; touches nothing but its own heap.
 *
 * Usage: bench_core [-r ROUNDS] [-q] [--strict]
 *   -r N      rounds (1..99, default 11)
 *   -q        quick: a tenth of the operations (smoke test, not for figures)
 *   --strict  exit 1 when a target is missed (default: report only)
 */
#include <heapshim.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"
#include "core_wl.h"

static const wl_api_t API_HS = { hs_obj_malloc, hs_obj_free };
static const wl_api_t API_GLIBC = { malloc, free };

static double scale = 1.0;
#define N(x) ((uint64_t)((double)(x) * scale))

/* ---- 2-thread drivers (shared by both sides; the thread bodies differ) -- */
static wl_result_t run_prodcons(void *(*prod)(void *), void *(*cons)(void *))
{
    static wl_ring_t q;   /* static: 8 KiB ring, and off both allocators */
    memset(&q, 0, sizeof q);
    q.nmsg = N(2000000);
    q.seed = 7;
    pthread_t tp, tc;
    double t0 = bu_now();
    if (pthread_create(&tc, NULL, cons, &q) || pthread_create(&tp, NULL, prod, &q)) {
        fputs("bench_core: pthread_create failed\n", stderr);
        exit(1);
    }
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    return (wl_result_t){ q.nmsg, bu_now() - t0, q.check };
}

/* two threads each churning their own working set: ops summed, time of the
 * slower one (they run concurrently). */
static wl_result_t run_pair(void *(*body)(void *))
{
    wl_result_t r[2] = { { 0, 0, 1 }, { 0, 0, 2 } };   /* check field = seed in */
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, body, &r[i])) {
            fputs("bench_core: pthread_create failed\n", stderr);
            exit(1);
        }
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    return (wl_result_t){ r[0].ops + r[1].ops,
                          r[0].secs > r[1].secs ? r[0].secs : r[1].secs,
                          r[0].check + r[1].check };
}

/* ---- one instantiation per allocator ------------------------------------ */
#define DEFINE_SIDE(SIDE, API)                                                 \
    WL_DEFINE_TREE(SIDE, API)                                                  \
    static wl_result_t churn10k_##SIDE(void)                                   \
    { return wl_churn(&API, 10000, N(4000000), 42); }                          \
    static wl_result_t churn100k_##SIDE(void)                                  \
    { return wl_churn(&API, 100000, N(4000000), 43); }                         \
    static wl_result_t tree_##SIDE(void)                                       \
    { return wl_tree_##SIDE(20, scale < 1 ? 1 : 2); }                         \
    static wl_result_t mixed_##SIDE(void)                                      \
    { return wl_mixed(&API, 20000, N(2000000), 44); }                          \
    static void *prod_##SIDE(void *q) { wl_produce(&API, q); return NULL; }    \
    static void *cons_##SIDE(void *q) { wl_consume(&API, q); return NULL; }    \
    static wl_result_t prodcons_##SIDE(void)                                   \
    { return run_prodcons(prod_##SIDE, cons_##SIDE); }                         \
    static void *churn_thread_##SIDE(void *arg)                                \
    {                                                                          \
        wl_result_t *r = arg;                                                  \
        *r = wl_churn(&API, 10000, N(2000000), 100 + r->check);                \
        return NULL;                                                           \
    }                                                                          \
    static wl_result_t churn2t_##SIDE(void) { return run_pair(churn_thread_##SIDE); }

DEFINE_SIDE(hs, API_HS)
DEFINE_SIDE(glibc, API_GLIBC)

enum { T_NONE, T_CHURN1, T_TWO };   /* which target a row counts toward */
typedef struct {
    const char *id, *desc;
    int threads, target;
    wl_result_t (*run[2])(void);     /* [0] heapshim, [1] glibc */
} bench_t;

#define ROW(id, desc, thr, tgt) { #id, desc, thr, tgt, { id##_hs, id##_glibc } }
static const bench_t benches[] = {
    ROW(churn10k,  "(a) churn, 10k live slots, 16-512 B",      1, T_CHURN1),
    ROW(churn100k, "(a) churn, 100k live slots, 16-512 B",     1, T_CHURN1),
    ROW(tree,      "(b) build+drop 1M-node tree, 32 B nodes",  1, T_NONE),
    ROW(mixed,     "(c) mixed, 20k slots, 1/16 are 1-64 KiB",  1, T_NONE),
    ROW(prodcons,  "(d) producer/consumer, cross-thread free", 2, T_TWO),
    ROW(churn2t,   "(e) churn in 2 threads, 10k slots each",   2, T_TWO),
};
#define NBENCH (int)(sizeof benches / sizeof benches[0])
#define MAXROUNDS 99

static double tput[NBENCH][2][MAXROUNDS];   /* ops per second */

static void usage_exit(const char *prog, const char *bad)
{
    fprintf(stderr, "%s: unknown argument '%s': accepted: -r ROUNDS (1..99), -q, --strict\n",
            prog, bad);
    exit(2);
}

int main(int argc, char **argv)
{
    int rounds = 11, strict = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc)
            rounds = (int)bu_parse_count(argv[0], "round count for -r", argv[++i], 1, MAXROUNDS);
        else if (!strcmp(argv[i], "-q")) scale = 0.1;
        else if (!strcmp(argv[i], "--strict")) strict = 1;
        else usage_exit(argv[0], argv[i]);
    }

    uint64_t check = 0;
    for (int r = 0; r < rounds; r++) {
        for (int b = 0; b < NBENCH; b++) {
            int first = (r + b) % 2;          /* alternate who runs first */
            for (int k = 0; k < 2; k++) {
                int side = k ? !first : first;
                wl_result_t res = benches[b].run[side]();
                check += res.check;
                tput[b][side][r] = (double)res.ops / res.secs;
            }
        }
        fprintf(stderr, "bench_core: round %d/%d done\n", r + 1, rounds);
    }

    printf("### Core library: hs_obj_* vs glibc malloc/free (median of %d rounds%s)\n\n",
           rounds, scale < 1 ? ", QUICK mode: not for publication" : "");
    printf("| workload | threads | hs_obj Mops/s | glibc Mops/s | hs/glibc | per-round range |\n");
    printf("|---|---|---|---|---|---|\n");
    double ratio[NBENCH];
    for (int b = 0; b < NBENCH; b++) {
        double per[MAXROUNDS], lo = 1e300, hi = 0;
        for (int r = 0; r < rounds; r++) {
            per[r] = tput[b][0][r] / tput[b][1][r];
            lo = per[r] < lo ? per[r] : lo;
            hi = per[r] > hi ? per[r] : hi;
        }
        double hs = bu_median(tput[b][0], rounds), gl = bu_median(tput[b][1], rounds);
        ratio[b] = hs / gl;
        printf("| %s | %d | %.1f | %.1f | **%.2fx** | %.2f-%.2fx |\n", benches[b].desc,
               benches[b].threads, hs / 1e6, gl / 1e6, ratio[b], lo, hi);
    }
    printf("\nAn op is one allocation and its free. (checksum %llu)\n\n",
           (unsigned long long)(check & 0xffff));

    static const struct { int tgt; double min; const char *what; } targets[] = {
        { T_CHURN1, 1.5, "single-threaded small-object churn >= 1.5x glibc" },
        { T_TWO,    1.0, "2 threads no slower than glibc (>= 1.0x)" },
    };
    int missed = 0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        int ok = 1;
        char detail[256] = "";
        size_t len = 0;
        for (int b = 0; b < NBENCH; b++) {
            if (benches[b].target != targets[t].tgt) continue;
            if (ratio[b] < targets[t].min) ok = 0;
            len += (size_t)snprintf(detail + len, sizeof detail - len, "%s%s %.2fx",
                                    len ? ", " : "", benches[b].id, ratio[b]);
        }
        missed += !ok;
        printf("- target: %s: **%s** (%s)\n", targets[t].what, ok ? "PASS" : "MISS", detail);
    }
    return strict && missed ? 1 : 0;
}
