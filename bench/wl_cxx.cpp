/*
 * bench/wl_cxx.cpp - room: bench/. A C++ program of many small objects for
 * bench_preload.sh (plain libstdc++/libc, run under LD_PRELOAD): operator
 * new/delete through the standard containers, the way C++ programs allocate.
 * Each round:
 *
 *   1. std::map<std::string, long>: word counts over generated words (3..24
 *      characters, so some strings live in the object and some on the heap),
 *      then half of the keys erased;
 *   2. std::unordered_map<uint64_t, std::vector<uint32_t>>: keys inserted,
 *      their vectors grown by push_back, a third erased;
 *   3. std::list<item> as a FIFO queue with pushes and pops;
 *   4. a tree of polymorphic nodes of three sizes (new/delete, virtual
 *      destructors) built and dropped, with std::shared_ptr leaves.
 *
 * Deterministic (own PRNG, ordered traversal); prints a checksum and exits 1 if
 * a container lost or corrupted an element.
 *
 * Usage: wl_cxx [ROUNDS (1..1000, default 10)]
 */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

static uint64_t rnd(uint64_t &s)
{
    s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
    return s * 2685821657736338717ull;
}

static std::string word(uint64_t &s)
{
    uint64_t x = rnd(s);
    size_t n = 3 + (size_t)(x >> 59) % 22;   /* 3..24 */
    std::string w;
    for (size_t i = 0; i < n; i++) w += (char)('a' + (x >> (i * 2 % 50)) % 8);   /* few letters: repeats */
    return w;
}

struct node {
    virtual ~node() {}
    virtual uint64_t sum() const = 0;
};
struct leaf : node {
    std::shared_ptr<uint64_t> v;
    explicit leaf(uint64_t x) : v(std::make_shared<uint64_t>(x)) {}
    uint64_t sum() const override { return *v; }
};
struct pair_node : node {
    node *l, *r;
    pair_node(node *a, node *b) : l(a), r(b) {}
    ~pair_node() override { delete l; delete r; }
    uint64_t sum() const override { return l->sum() + 3 * r->sum(); }
};
struct wide_node : node {
    node *c[4];
    char pad[40];
    wide_node(node *a, node *b, node *x, node *y) : c{a, b, x, y} { memset(pad, 1, sizeof pad); }
    ~wide_node() override { for (node *n : c) delete n; }
    uint64_t sum() const override { return c[0]->sum() ^ c[1]->sum() ^ (c[2]->sum() + c[3]->sum()) ^ pad[7]; }
};

static node *build(uint64_t &s, int depth)
{
    if (depth == 0) return new leaf(rnd(s) >> 40);
    if (rnd(s) & 1) return new pair_node(build(s, depth - 1), build(s, depth - 1));
    return new wide_node(build(s, depth - 2 < 0 ? 0 : depth - 2), build(s, depth - 2 < 0 ? 0 : depth - 2),
                         build(s, depth - 2 < 0 ? 0 : depth - 2), build(s, depth - 3 < 0 ? 0 : depth - 3));
}

struct item { uint64_t id; std::string tag; };

int main(int argc, char **argv)
{
    long rounds = 10;
    if (argc > 1) {
        char *end;
        rounds = strtol(argv[1], &end, 10);
        if (!*argv[1] || *end || rounds < 1 || rounds > 1000) {
            fprintf(stderr, "%s: bad round count '%s': expected an integer from 1 to 1000\n", argv[0], argv[1]);
            return 2;
        }
    }
    if (argc > 2) {
        fprintf(stderr, "%s: too many arguments: expected [ROUNDS]\n", argv[0]);
        return 2;
    }
    uint64_t s = 88172645463325252ull, check = 0, bad = 0;
    for (long r = 0; r < rounds; r++) {
        /* 1. ordered map of strings */
        std::map<std::string, long> counts;
        long total = 0;
        for (int i = 0; i < 60000; i++) {
            counts[word(s)]++;
            total++;
        }
        long seen = 0;
        for (auto &kv : counts) seen += kv.second;
        bad += seen != total;
        int k = 0;
        for (auto it = counts.begin(); it != counts.end(); k++) {
            if (k & 1) it = counts.erase(it); else ++it;
        }
        for (auto &kv : counts) check = check * 31 + kv.first.size() + (uint64_t)kv.second;

        /* 2. hash map of vectors */
        std::unordered_map<uint64_t, std::vector<uint32_t>> h;
        for (int i = 0; i < 150000; i++) {
            uint64_t key = rnd(s) % 20000;
            h[key].push_back((uint32_t)(key * 7 + h[key].size()));
        }
        for (uint64_t key = 0; key < 20000; key += 3) h.erase(key);
        uint64_t hs = 0;
        for (auto &kv : h)
            for (size_t i = 0; i < kv.second.size(); i++) {
                bad += kv.second[i] != (uint32_t)(kv.first * 7 + i);
                hs += kv.second[i];
            }
        check += hs + h.size();

        /* 3. list as a queue */
        std::list<item> q;
        uint64_t next = 0, expect = 0;
        for (int i = 0; i < 200000; i++) {
            if (rnd(s) % 3 != 0 || q.empty()) {
                q.push_back(item{next, std::to_string(next * 1000003)});
                next++;
            } else {
                bad += q.front().id != expect || q.front().tag != std::to_string(expect * 1000003);
                expect++;
                q.pop_front();
            }
        }
        check += q.size() * 7 + expect;

        /* 4. polymorphic tree */
        for (int t = 0; t < 6; t++) {
            node *root = build(s, 14);
            check += root->sum();
            delete root;
        }
    }
    if (bad) {
        fprintf(stderr, "wl_cxx: %llu elements lost or corrupted\n", (unsigned long long)bad);
        return 1;
    }
    printf("wl_cxx: %ld rounds, checksum %llu\n", rounds, (unsigned long long)check);
    return 0;
}
