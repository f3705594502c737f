/*
 * bench/wl_logic.c - room: bench/. A two-level logic minimiser for
 * bench_preload.sh (plain libc, run under LD_PRELOAD), the allocation shape
 * of mimalloc-bench's espresso: families of cubes that are built, merged,
 * deduplicated and thrown away, arrays grown with realloc, and blocks of many
 * sizes dying young.
 *
 * For each of FUNCTIONS random Boolean functions of VARS inputs (about a
 * third of the minterms on), Quine-McCluskey: every cube is a malloc'd
 * record with the list of minterms it covers (so the records grow from 12 B
 * to hundreds of bytes as cubes merge), each merge level builds a new family
 * (a realloc'd array) and a chained hash set (malloc'd nodes) to drop
 * duplicates; the cubes that merged no further are the prime implicants.
 * Then a greedy cover: per-minterm lists of the primes covering it (grown with
 * realloc), essential primes first, then the prime covering most uncovered
 * minterms, until every minterm is covered.
 *
 * Checks its result: every prime covers only on-set minterms and exactly the
 * 2^k minterms of its cube, and the cover covers the whole on-set; prints the
 * prime and cover counts and a checksum, exits 1 on a wrong result.
 *
 * Usage: wl_logic [FUNCTIONS (1..100000, default 400)] [VARS (4..20, default 12)]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"

typedef struct {
    uint32_t val, mask;     /* mask: the variables the cube does not depend on */
    uint32_t n;             /* minterms covered */
    uint32_t prime;         /* merged with no other cube at its level */
    uint32_t m[];           /* the minterms, ascending */
} cube_t;

typedef struct hnode {
    struct hnode *next;
    uint32_t val, mask;
} hnode_t;

typedef struct { cube_t **c; size_t n, cap; } family_t;

static void oom(void)
{
    fputs("wl_logic: out of memory\n", stderr);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) oom();
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) oom();
    return q;
}

static void fam_add(family_t *f, cube_t *c)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap + f->cap / 2 + 4 : 16;
        f->c = xrealloc(f->c, f->cap * sizeof *f->c);
    }
    f->c[f->n++] = c;
}

static cube_t *cube_new(uint32_t val, uint32_t mask, uint32_t n)
{
    cube_t *c = xmalloc(sizeof *c + n * sizeof(uint32_t));
    c->val = val;
    c->mask = mask;
    c->n = n;
    c->prime = 1;
    return c;
}

/* the union of two sorted minterm lists (disjoint: the cubes differ in one variable) */
static cube_t *cube_merge(const cube_t *a, const cube_t *b, uint32_t bit)
{
    cube_t *c = cube_new(a->val & ~bit, a->mask | bit, a->n + b->n);
    uint32_t i = 0, j = 0, k = 0;
    while (i < a->n && j < b->n) c->m[k++] = a->m[i] < b->m[j] ? a->m[i++] : b->m[j++];
    while (i < a->n) c->m[k++] = a->m[i++];
    while (j < b->n) c->m[k++] = b->m[j++];
    return c;
}

static int by_mask_val(const void *a, const void *b)
{
    const cube_t *x = *(cube_t *const *)a, *y = *(cube_t *const *)b;
    if (x->mask != y->mask) return x->mask < y->mask ? -1 : 1;
    return (x->val > y->val) - (x->val < y->val);
}

int main(int argc, char **argv)
{
    long nfunc = argc > 1 ? bu_parse_count(argv[0], "function count", argv[1], 1, 100000) : 400;
    int nv = argc > 2 ? (int)bu_parse_count(argv[0], "variable count", argv[2], 4, 20) : 12;
    if (argc > 3) {
        fprintf(stderr, "%s: too many arguments: expected [FUNCTIONS] [VARS]\n", argv[0]);
        return 2;
    }
    uint32_t size = 1u << nv;
    uint64_t seed = 1234567, check = 0, nprimes = 0, ncover = 0;
    int bad = 0;
    unsigned char *on = xmalloc(size);
    for (long fn = 0; fn < nfunc; fn++) {
        /* a random function: a third of the minterms on, in clumps so that
         * cubes do merge (the on-set of a few random cubes plus noise) */
        memset(on, 0, size);
        for (int k = 0; k < 6 + (int)(fn % 5); k++) {
            uint32_t mask = 0;
            for (int v = 0; v < nv; v++)
                if (bu_rand(&seed) % 3 == 0) mask |= 1u << v;
            uint32_t val = (uint32_t)(bu_rand(&seed) >> 20) & (size - 1) & ~mask;
            for (uint32_t s = mask;; s = (s - 1) & mask) {   /* every minterm of the cube */
                on[val | s] = 1;
                if (!s) break;
            }
        }
        for (uint32_t i = 0; i < size; i++)
            if (bu_rand(&seed) % 25 == 0) on[i] ^= 1;

        /* level 0: the minterms */
        family_t cur = { 0 }, primes = { 0 };
        uint32_t non = 0;
        for (uint32_t i = 0; i < size; i++)
            if (on[i]) {
                cube_t *c = cube_new(i, 0, 1);
                c->m[0] = i;
                fam_add(&cur, c);
                non++;
            }
        size_t hsize = 1;
        while (hsize < 2 * cur.n + 16) hsize *= 2;
        while (cur.n) {
            /* merge partners share the mask and differ in one bit of val */
            family_t next = { 0 };
            hnode_t **hash = calloc(hsize, sizeof *hash);
            if (!hash) oom();
            /* index: cubes sorted by (mask, val) */
            cube_t **idx = xmalloc(cur.n * sizeof *idx);
            memcpy(idx, cur.c, cur.n * sizeof *idx);
            qsort(idx, cur.n, sizeof *idx, by_mask_val);
            for (size_t lo = 0; lo < cur.n;) {
                size_t hi = lo;
                while (hi < cur.n && idx[hi]->mask == idx[lo]->mask) hi++;
                for (size_t i = lo; i < hi; i++)
                    for (size_t j = i + 1; j < hi; j++) {
                        uint32_t d = idx[i]->val ^ idx[j]->val;
                        if (d & (d - 1)) continue;        /* not exactly one bit apart */
                        idx[i]->prime = idx[j]->prime = 0;
                        uint32_t val = idx[i]->val & ~d, mask = idx[i]->mask | d;
                        size_t h = ((size_t)val * 2654435761u ^ (size_t)mask * 40503u) & (hsize - 1);
                        hnode_t *e = hash[h];
                        while (e && !(e->val == val && e->mask == mask)) e = e->next;
                        if (e) continue;
                        e = xmalloc(sizeof *e);
                        e->val = val;
                        e->mask = mask;
                        e->next = hash[h];
                        hash[h] = e;
                        fam_add(&next, cube_merge(idx[i], idx[j], d));
                    }
                lo = hi;
            }
            free(idx);
            for (size_t h = 0; h < hsize; h++)
                for (hnode_t *e = hash[h], *nx; e; e = nx) {
                    nx = e->next;
                    free(e);
                }
            free(hash);
            for (size_t i = 0; i < cur.n; i++) {
                if (cur.c[i]->prime) fam_add(&primes, cur.c[i]);
                else free(cur.c[i]);
            }
            free(cur.c);
            cur = next;
        }

        /* check the primes */
        for (size_t i = 0; i < primes.n; i++) {
            cube_t *p = primes.c[i];
            bad |= p->n != 1u << __builtin_popcount(p->mask);
            for (uint32_t k = 0; k < p->n; k++)
                bad |= !on[p->m[k]] || (p->m[k] & ~p->mask) != p->val;
        }

        /* greedy cover: who covers each minterm */
        uint32_t **by = calloc(size, sizeof *by), *nby = calloc(size, sizeof *nby);
        unsigned char *covered = calloc(size, 1), *chosen = calloc(primes.n + 1, 1);
        if (!by || !nby || !covered || !chosen) oom();
        for (size_t i = 0; i < primes.n; i++)
            for (uint32_t k = 0; k < primes.c[i]->n; k++) {
                uint32_t m = primes.c[i]->m[k];
                if ((nby[m] & (nby[m] - 1)) == 0)           /* 0, 1, 2, 4, ...: grow */
                    by[m] = xrealloc(by[m], (nby[m] ? 2 * nby[m] : 1) * sizeof *by[m]);
                by[m][nby[m]++] = (uint32_t)i;
            }
        uint32_t left = non, picked = 0;
        for (uint32_t m = 0; m < size; m++)                 /* essential primes */
            if (on[m] && nby[m] == 1 && !chosen[by[m][0]]) {
                cube_t *p = primes.c[by[m][0]];
                chosen[by[m][0]] = 1;
                picked++;
                for (uint32_t k = 0; k < p->n; k++)
                    if (!covered[p->m[k]]) { covered[p->m[k]] = 1; left--; }
            }
        while (left) {
            size_t best = 0;
            uint32_t bestn = 0;
            for (size_t i = 0; i < primes.n; i++) {
                if (chosen[i]) continue;
                uint32_t u = 0;
                for (uint32_t k = 0; k < primes.c[i]->n; k++) u += !covered[primes.c[i]->m[k]];
                if (u > bestn) { bestn = u; best = i; }
            }
            if (!bestn) { bad = 1; break; }
            chosen[best] = 1;
            picked++;
            for (uint32_t k = 0; k < primes.c[best]->n; k++)
                if (!covered[primes.c[best]->m[k]]) { covered[primes.c[best]->m[k]] = 1; left--; }
        }
        for (uint32_t m = 0; m < size; m++) bad |= on[m] != covered[m];
        uint64_t h = 0;
        for (size_t i = 0; i < primes.n; i++)
            if (chosen[i]) h += (uint64_t)primes.c[i]->val * 31 + primes.c[i]->mask;
        check = check * 1000003 + h + primes.n;
        nprimes += primes.n;
        ncover += picked;
        for (uint32_t m = 0; m < size; m++) free(by[m]);
        free(by); free(nby); free(covered); free(chosen);
        for (size_t i = 0; i < primes.n; i++) free(primes.c[i]);
        free(primes.c);
    }
    free(on);
    if (bad) {
        fputs("wl_logic: wrong prime implicants or cover\n", stderr);
        return 1;
    }
    printf("wl_logic: %ld functions of %d inputs, %llu primes, %llu in the covers, checksum %llu\n",
           nfunc, nv, (unsigned long long)nprimes, (unsigned long long)ncover, (unsigned long long)check);
    return 0;
}
