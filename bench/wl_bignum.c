/*
 * bench/wl_bignum.c - room: bench/. A bignum workload for bench_preload.sh
 * (plain libc, run under LD_PRELOAD of each allocator), the shape of
 * mimalloc-bench's cfrac: a small arbitrary-precision integer type whose
 * every operation mallocs its result's limb array, so the program makes
 * millions of tiny (8..40 B), short-lived blocks, freed mostly in LIFO order.
 *
 *   1. factoring: for each of N semiprimes n = p * Q (p about 2^30, Q a
 *      62-bit prime found with Miller-Rabin), Pollard's rho (Floyd, with the
 *      differences multiplied up 64 at a time before each gcd) finds p; the
 *      cofactor is checked to be Q and prime;
 *   2. growing numbers: Fibonacci numbers up to F(FIB) by repeated addition
 *      (each a new block, sizes sweeping up to ~1.5 KiB), then F(FIB) to
 *      decimal by repeated division by 10^9.
 *
 * Deterministic (fixed seeds); prints the factors' checksum and F(FIB)'s digit
 * sum and exits 1 if any result is wrong, so an allocator bug shows up.
 *
 * Usage: wl_bignum [SEMIPRIMES (1..10000, default 8)] [FIB (100..1000000, default 20000)]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "benchutil.h"

typedef struct {
    int n;              /* limbs in use, no leading zero limb; 0 is zero */
    uint32_t d[];
} bn;

static void oom(void)
{
    fputs("wl_bignum: out of memory\n", stderr);
    exit(1);
}

static bn *bn_alloc(int n)
{
    bn *r = malloc(sizeof(bn) + (size_t)(n > 0 ? n : 1) * sizeof(uint32_t));
    if (!r) oom();
    r->n = n;
    return r;
}

static bn *bn_norm(bn *a)
{
    while (a->n > 0 && a->d[a->n - 1] == 0) a->n--;
    return a;
}

static bn *bn_u64(uint64_t v)
{
    bn *r = bn_alloc(2);
    r->d[0] = (uint32_t)v;
    r->d[1] = (uint32_t)(v >> 32);
    return bn_norm(r);
}

static bn *bn_copy(const bn *a)
{
    bn *r = bn_alloc(a->n);
    memcpy(r->d, a->d, (size_t)a->n * sizeof(uint32_t));
    return r;
}

static int bn_cmp(const bn *a, const bn *b)
{
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; i--)
        if (a->d[i] != b->d[i]) return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static int bn_is_u32(const bn *a, uint32_t v)
{
    return v == 0 ? a->n == 0 : a->n == 1 && a->d[0] == v;
}

static bn *bn_add(const bn *a, const bn *b)
{
    if (a->n < b->n) { const bn *t = a; a = b; b = t; }
    bn *r = bn_alloc(a->n + 1);
    uint64_t c = 0;
    for (int i = 0; i < a->n; i++) {
        c += (uint64_t)a->d[i] + (i < b->n ? b->d[i] : 0);
        r->d[i] = (uint32_t)c;
        c >>= 32;
    }
    r->d[a->n] = (uint32_t)c;
    return bn_norm(r);
}

static bn *bn_add_u32(const bn *a, uint32_t v)
{
    bn *b = bn_u64(v), *r = bn_add(a, b);
    free(b);
    return r;
}

/* a - b, a >= b */
static bn *bn_sub(const bn *a, const bn *b)
{
    bn *r = bn_alloc(a->n);
    int64_t br = 0;
    for (int i = 0; i < a->n; i++) {
        int64_t t = (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0) - br;
        br = t < 0;
        r->d[i] = (uint32_t)(t + (br << 32));
    }
    return bn_norm(r);
}

static bn *bn_absdiff(const bn *a, const bn *b)
{
    return bn_cmp(a, b) >= 0 ? bn_sub(a, b) : bn_sub(b, a);
}

static bn *bn_mul(const bn *a, const bn *b)
{
    if (a->n == 0 || b->n == 0) return bn_alloc(0);
    bn *r = bn_alloc(a->n + b->n);
    memset(r->d, 0, (size_t)r->n * sizeof(uint32_t));
    for (int i = 0; i < a->n; i++) {
        uint64_t c = 0;
        for (int j = 0; j < b->n; j++) {
            c += (uint64_t)a->d[i] * b->d[j] + r->d[i + j];
            r->d[i + j] = (uint32_t)c;
            c >>= 32;
        }
        r->d[i + b->n] = (uint32_t)c;
    }
    return bn_norm(r);
}

/* q = a / b, r = a % b (either may be NULL), b != 0: Knuth's algorithm D,
 * in Hacker's Delight's form, on scratch copies it allocates. */
static void bn_divmod(const bn *a, const bn *b, bn **qp, bn **rp)
{
    if (b->n == 0) {
        fputs("wl_bignum: division by zero (corrupted number)\n", stderr);
        exit(1);
    }
    if (bn_cmp(a, b) < 0) {
        if (qp) *qp = bn_alloc(0);
        if (rp) *rp = bn_copy(a);
        return;
    }
    int m = a->n, n = b->n;
    if (n == 1) {
        bn *q = bn_alloc(m);
        uint64_t rem = 0;
        for (int i = m - 1; i >= 0; i--) {
            uint64_t cur = (rem << 32) | a->d[i];
            q->d[i] = (uint32_t)(cur / b->d[0]);
            rem = cur % b->d[0];
        }
        if (qp) *qp = bn_norm(q); else free(q);
        if (rp) *rp = bn_u64(rem);
        return;
    }
    int s = __builtin_clz(b->d[n - 1]);
    bn *vn = bn_alloc(n), *un = bn_alloc(m + 1), *q = bn_alloc(m - n + 1);
    for (int i = n - 1; i > 0; i--)
        vn->d[i] = (b->d[i] << s) | (s ? (uint32_t)((uint64_t)b->d[i - 1] >> (32 - s)) : 0);
    vn->d[0] = b->d[0] << s;
    un->d[m] = s ? (uint32_t)((uint64_t)a->d[m - 1] >> (32 - s)) : 0;
    for (int i = m - 1; i > 0; i--)
        un->d[i] = (a->d[i] << s) | (s ? (uint32_t)((uint64_t)a->d[i - 1] >> (32 - s)) : 0);
    un->d[0] = a->d[0] << s;
    const uint64_t B = 1ull << 32;
    for (int j = m - n; j >= 0; j--) {
        uint64_t num = ((uint64_t)un->d[j + n] << 32) | un->d[j + n - 1];
        uint64_t qhat = num / vn->d[n - 1], rhat = num % vn->d[n - 1];
        while (qhat >= B || qhat * vn->d[n - 2] > ((rhat << 32) | un->d[j + n - 2])) {
            qhat--;
            rhat += vn->d[n - 1];
            if (rhat >= B) break;
        }
        int64_t k = 0, t;
        for (int i = 0; i < n; i++) {
            uint64_t p = qhat * vn->d[i];
            t = (int64_t)un->d[i + j] - k - (int64_t)(p & 0xffffffffu);
            un->d[i + j] = (uint32_t)t;
            k = (int64_t)(p >> 32) - (t >> 32);
        }
        t = (int64_t)un->d[j + n] - k;
        un->d[j + n] = (uint32_t)t;
        q->d[j] = (uint32_t)qhat;
        if (t < 0) {
            q->d[j]--;
            uint64_t c = 0;
            for (int i = 0; i < n; i++) {
                c += (uint64_t)un->d[i + j] + vn->d[i];
                un->d[i + j] = (uint32_t)c;
                c >>= 32;
            }
            un->d[j + n] += (uint32_t)c;
        }
    }
    if (rp) {
        bn *r = bn_alloc(n);
        for (int i = 0; i < n; i++)
            r->d[i] = (un->d[i] >> s) | (s ? (uint32_t)((uint64_t)un->d[i + 1] << (32 - s)) : 0);
        *rp = bn_norm(r);
    }
    if (qp) *qp = bn_norm(q); else free(q);
    free(un);
    free(vn);
}

static bn *bn_mod(const bn *a, const bn *m)
{
    bn *r;
    bn_divmod(a, m, NULL, &r);
    return r;
}

static bn *bn_mulmod(const bn *a, const bn *b, const bn *m)
{
    bn *t = bn_mul(a, b), *r = bn_mod(t, m);
    free(t);
    return r;
}

static bn *bn_gcd(const bn *a0, const bn *b0)
{
    bn *a = bn_copy(a0), *b = bn_copy(b0);
    while (b->n) {
        bn *r = bn_mod(a, b);
        free(a);
        a = b;
        b = r;
    }
    free(b);
    return a;
}

static int bn_bit(const bn *a, int i)
{
    return i / 32 < a->n ? (int)(a->d[i / 32] >> (i % 32)) & 1 : 0;
}

static int bn_bits(const bn *a)
{
    return a->n ? 32 * a->n - __builtin_clz(a->d[a->n - 1]) : 0;
}

static bn *bn_powmod(const bn *b, const bn *e, const bn *m)
{
    bn *r = bn_u64(1), *x = bn_mod(b, m);
    for (int i = bn_bits(e) - 1; i >= 0; i--) {
        bn *t = bn_mulmod(r, r, m);
        free(r);
        r = t;
        if (bn_bit(e, i)) {
            t = bn_mulmod(r, x, m);
            free(r);
            r = t;
        }
    }
    free(x);
    return r;
}

/* Miller-Rabin with the first 12 prime bases: exact below 3.3e24 */
static int bn_is_prime(const bn *n)
{
    static const uint32_t base[] = { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37 };
    if (n->n == 0 || bn_is_u32(n, 1)) return 0;
    for (int i = 0; i < 12; i++) {
        if (bn_is_u32(n, base[i])) return 1;
        bn *t = bn_u64(base[i]), *r = bn_mod(n, t);
        int divides = r->n == 0;
        free(t);
        free(r);
        if (divides) return 0;
    }
    bn *one = bn_u64(1), *nm1 = bn_sub(n, one), *d = bn_copy(nm1);
    int s = 0;
    while (!bn_bit(d, 0)) {            /* d >>= 1, into a new number */
        bn *h = bn_alloc(d->n);
        for (int i = 0; i < d->n; i++)
            h->d[i] = (d->d[i] >> 1) | (i + 1 < d->n ? d->d[i + 1] << 31 : 0);
        free(d);
        d = bn_norm(h);
        s++;
    }
    int prime = 1;
    for (int i = 0; i < 12 && prime; i++) {
        bn *a = bn_u64(base[i]), *x = bn_powmod(a, d, n);
        free(a);
        if (bn_cmp(x, one) != 0 && bn_cmp(x, nm1) != 0) {
            int found = 0;
            for (int k = 1; k < s && !found; k++) {
                bn *y = bn_mulmod(x, x, n);
                free(x);
                x = y;
                found = bn_cmp(x, nm1) == 0;
            }
            prime = found;
        }
        free(x);
    }
    free(d);
    free(nm1);
    free(one);
    return prime;
}

static bn *next_prime(uint64_t from)
{
    bn *c = bn_u64(from | 1);
    while (!bn_is_prime(c)) {
        bn *t = bn_add_u32(c, 2);
        free(c);
        c = t;
    }
    return c;
}

/* x -> x^2 + c mod n */
static bn *rho_f(const bn *x, uint32_t c, const bn *n)
{
    bn *sq = bn_mul(x, x), *s = bn_add_u32(sq, c), *r = bn_mod(s, n);
    free(sq);
    free(s);
    return r;
}

/* a non-trivial factor of the composite n, or NULL */
static bn *pollard_rho(const bn *n, uint32_t c)
{
    bn *x = bn_u64(2), *y = bn_u64(2), *g = NULL;
    for (long round = 0; round < 100000; round++) {
        bn *q = bn_u64(1), *x0 = bn_copy(x), *y0 = bn_copy(y);
        for (int i = 0; i < 64; i++) {
            bn *t = rho_f(x, c, n);
            free(x);
            x = t;
            t = rho_f(y, c, n);
            free(y);
            y = rho_f(t, c, n);
            free(t);
            bn *d = bn_absdiff(x, y);
            t = bn_mulmod(q, d, n);
            free(d);
            free(q);
            q = t;
        }
        g = bn_gcd(q, n);
        free(q);
        if (bn_cmp(g, n) == 0) {        /* overshot: redo the batch one step at a time */
            free(g);
            g = NULL;
            free(x);
            free(y);
            x = x0;
            y = y0;
            for (int i = 0; i < 64; i++) {
                bn *t = rho_f(x, c, n);
                free(x);
                x = t;
                t = rho_f(y, c, n);
                free(y);
                y = rho_f(t, c, n);
                free(t);
                bn *d = bn_absdiff(x, y);
                g = bn_gcd(d, n);
                free(d);
                if (!bn_is_u32(g, 1)) break;
                free(g);
                g = NULL;
            }
            break;
        }
        free(x0);
        free(y0);
        if (!bn_is_u32(g, 1)) break;
        free(g);
        g = NULL;
    }
    free(x);
    free(y);
    if (g && bn_cmp(g, n) == 0) { free(g); g = NULL; }
    return g;
}

static uint64_t bn_low64(const bn *a)
{
    return (a->n > 0 ? a->d[0] : 0) | (a->n > 1 ? (uint64_t)a->d[1] << 32 : 0);
}

int main(int argc, char **argv)
{
    long nsemi = argc > 1 ? bu_parse_count(argv[0], "semiprime count", argv[1], 1, 10000) : 8;
    long nfib = argc > 2 ? bu_parse_count(argv[0], "Fibonacci index", argv[2], 100, 1000000) : 20000;
    if (argc > 3) {
        fprintf(stderr, "%s: too many arguments: expected [SEMIPRIMES] [FIB]\n", argv[0]);
        return 2;
    }
    uint64_t seed = 0x5eed, check = 0;
    int bad = 0;

    /* 1. factoring */
    for (long k = 0; k < nsemi; k++) {
        uint64_t ps = (1ull << 30) + (bu_rand(&seed) >> 35);            /* ~2^30 */
        uint64_t Qs = (1ull << 61) + (bu_rand(&seed) >> 4);             /* ~2^62 */
        bn *p = next_prime(ps), *Q = next_prime(Qs), *n = bn_mul(p, Q), *f = NULL;
        for (uint32_t c = 1; !f && c < 20; c++) f = pollard_rho(n, c);
        if (!f) {
            fprintf(stderr, "wl_bignum: no factor found for semiprime %ld\n", k);
            return 1;
        }
        bn *cof, *rem;
        bn_divmod(n, f, &cof, &rem);
        bn *small = bn_cmp(f, cof) < 0 ? f : cof, *big = small == f ? cof : f;
        if (rem->n != 0 || bn_cmp(small, p) != 0 || bn_cmp(big, Q) != 0 || !bn_is_prime(big)) {
            fprintf(stderr, "wl_bignum: wrong factorisation of semiprime %ld\n", k);
            bad = 1;
        }
        check = check * 1000003 + bn_low64(small) * 31 + bn_low64(big);
        free(p); free(Q); free(n); free(f); free(cof); free(rem);
    }

    /* 2. growing numbers: F(nfib), then its decimal digits */
    bn *a = bn_u64(0), *b = bn_u64(1);
    for (long i = 0; i < nfib; i++) {
        bn *t = bn_add(a, b);
        free(a);
        a = b;
        b = t;
    }
    bn *ten9 = bn_u64(1000000000u), *v = bn_copy(a);
    uint64_t digsum = 0, ndig = 0;
    while (v->n) {
        bn *q, *r;
        bn_divmod(v, ten9, &q, &r);
        uint64_t chunk = bn_low64(r);
        for (int i = 0; i < 9; i++) {
            digsum += chunk % 10;
            ndig++;
            chunk /= 10;
        }
        free(v);
        free(r);
        v = q;
    }
    free(v);
    /* F(n) mod 10^9 by the same recurrence on plain integers, as a check */
    uint64_t fa = 0, fb = 1;
    for (long i = 0; i < nfib; i++) {
        uint64_t t = (fa + fb) % 1000000000u;
        fa = fb;
        fb = t;
    }
    bn *low = bn_mod(a, ten9);
    if (bn_low64(low) != fa) {
        fprintf(stderr, "wl_bignum: F(%ld) mod 10^9 is %llu, expected %llu\n", nfib,
                (unsigned long long)bn_low64(low), (unsigned long long)fa);
        bad = 1;
    }
    free(low); free(ten9); free(a); free(b);
    printf("wl_bignum: %ld semiprimes, factor checksum %llu; F(%ld) digit sum %llu (%llu digits with padding)\n",
           nsemi, (unsigned long long)check, nfib, (unsigned long long)digsum,
           (unsigned long long)ndig);
    return bad;
}
