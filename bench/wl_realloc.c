/*
 * bench/wl_realloc.c - room: bench/. realloc growth chains for
 * bench_preload.sh (plain libc, run under LD_PRELOAD): many strings and
 * vectors growing at once, interleaved, as parsers, string builders and
 * dynamic arrays do.
 *
 *   strings: 1000 builders; each step appends 1..24 bytes to a random one
 *     with realloc to the exact new length (naive code, one realloc per
 *     append); a builder that reaches its target length (64 B..8 KiB, skewed
 *     short) is checked, freed and replaced by a new one;
 *   vectors: 64 dynamic arrays of 8-byte items that double their capacity
 *     (from 4 items) when full; one that reaches its target (16..64k items,
 *     skewed short) is checked, freed and restarted.
 *
 * Each step is one append to a string and, every fourth step, 16 appends to a
 * vector. Deterministic; prints a checksum, exits 1 if a string or vector did
 * not keep its contents across its reallocs.
 *
 * Usage: wl_realloc [THOUSAND_STEPS (1..1000000, default 4000)]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"

#define NSTR 1000
#define NVEC 64

typedef struct { char *p; size_t len, target; uint64_t seed; } str_t;
typedef struct { uint64_t *p; size_t len, cap, target; uint64_t base; } vec_t;

static uint64_t sum, bad;

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fputs("wl_realloc: out of memory\n", stderr);
        exit(1);
    }
    return q;
}

/* skewed lengths: log-uniform between lo and hi */
static size_t skewed(uint64_t *seed, size_t lo, size_t hi)
{
    unsigned lb = 63 - (unsigned)__builtin_clzll(lo), hb = 63 - (unsigned)__builtin_clzll(hi);
    unsigned b = lb + (unsigned)(bu_rand(seed) >> 40) % (hb - lb + 1);
    size_t v = ((size_t)1 << b) + (size_t)(bu_rand(seed) >> 40) % ((size_t)1 << b);
    return v < lo ? lo : v > hi ? hi : v;
}

/* a string's bytes are a function of its seed and position, so it can be
 * checked when it is finished */
static char str_byte(uint64_t seed, size_t i)
{
    return (char)('a' + (seed + i * 7) % 26);
}

static void str_finish(str_t *s)
{
    for (size_t i = 0; i < s->len; i += 61) bad += s->p[i] != str_byte(s->seed, i);
    bad += s->p[s->len] != 0;
    sum += s->len + (unsigned char)s->p[s->len / 2];
    free(s->p);
}

static void str_start(str_t *s, uint64_t *seed)
{
    s->p = NULL;
    s->len = 0;
    s->target = skewed(seed, 64, 8192);
    s->seed = bu_rand(seed) >> 8;
}

static void vec_finish(vec_t *v)
{
    for (size_t i = 0; i < v->len; i += 97) bad += v->p[i] != v->base + i;
    sum += v->len ^ v->p[v->len - 1];
    free(v->p);
}

static void vec_start(vec_t *v, uint64_t *seed)
{
    v->len = 0;
    v->cap = 4;
    v->p = xrealloc(NULL, v->cap * sizeof *v->p);
    v->target = skewed(seed, 16, 65536);
    v->base = bu_rand(seed) >> 20;
}

int main(int argc, char **argv)
{
    long ksteps = argc > 1 ? bu_parse_count(argv[0], "thousand-step count", argv[1], 1, 1000000) : 4000;
    if (argc > 2) {
        fprintf(stderr, "%s: too many arguments: expected [THOUSAND_STEPS]\n", argv[0]);
        return 2;
    }
    uint64_t seed = 99;
    static str_t str[NSTR];
    static vec_t vec[NVEC];
    for (int i = 0; i < NSTR; i++) str_start(&str[i], &seed);
    for (int i = 0; i < NVEC; i++) vec_start(&vec[i], &seed);
    long nstr = 0, nvec = 0;
    for (long k = 0; k < ksteps * 1000; k++) {
        str_t *s = &str[(bu_rand(&seed) >> 33) % NSTR];
        size_t add = 1 + (size_t)(bu_rand(&seed) >> 40) % 24;
        s->p = xrealloc(s->p, s->len + add + 1);
        for (size_t i = 0; i < add; i++) s->p[s->len + i] = str_byte(s->seed, s->len + i);
        s->len += add;
        s->p[s->len] = 0;
        if (s->len >= s->target) {
            str_finish(s);
            str_start(s, &seed);
            nstr++;
        }
        if ((k & 3) == 0) {
            vec_t *v = &vec[(bu_rand(&seed) >> 33) % NVEC];
            for (int j = 0; j < 16; j++) {
                if (v->len == v->cap) {
                    v->cap *= 2;
                    v->p = xrealloc(v->p, v->cap * sizeof *v->p);
                }
                v->p[v->len] = v->base + v->len;
                v->len++;
            }
            if (v->len >= v->target) {
                vec_finish(v);
                vec_start(v, &seed);
                nvec++;
            }
        }
    }
    for (int i = 0; i < NSTR; i++)
        if (str[i].p) str_finish(&str[i]); else nstr--;
    for (int i = 0; i < NVEC; i++)
        if (vec[i].len) vec_finish(&vec[i]); else { free(vec[i].p); nvec--; }
    if (bad) {
        fprintf(stderr, "wl_realloc: %llu bytes or items lost across realloc\n", (unsigned long long)bad);
        return 1;
    }
    printf("wl_realloc: %ld k steps, %ld strings and %ld vectors built, checksum %llu\n", ksteps,
           nstr + NSTR, nvec + NVEC, (unsigned long long)sum);
    return 0;
}
