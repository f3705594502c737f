/*
 * tools/pprof_pb.c - a heap profile as pprof's protobuf (`heapshim profile
 * --format pb`): the gzip-compressed Profile message that `go tool pprof`
 * and pprof's web UI read.
 *
 * Room: turning a loaded profile (profile_read.c) into the message of
 * tools/pprof.proto with the code protoc-c generates from it (build/gen/,
 * tools/tools.mk), packing it with libprotobuf-c and compressing it with
 * zlib. Nothing is hand-encoded. Built only when scripts/configure found
 * protoc-c, libprotobuf-c and zlib (HS_HAVE_PPROF); otherwise
 * pprof_pb_write says so.
 *
 * What is written, Go's heap-profile convention: four values per sample,
 * alloc_objects/count, alloc_space/bytes, inuse_objects/count,
 * inuse_space/bytes (the estimates, rounded to integers the way the legacy
 * text rounds them), default inuse_space (alloc_space with --alloc); period
 * = the sampling rate in bytes; one sample per stack and domain, with a
 * "domain" label; one location per return address (innermost first), its
 * function named by symbolize.c (the names of every other output); one
 * mapping per loadable segment of each recorded module, the executable
 * first, with its build-id in hex.
 */
#include "cli.h"
#include "config.h"
#include "profile.h"
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if HS_HAVE_PPROF
#include "pprof.pb-c.h"
#include <zlib.h>

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__Sample PbSample;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Function PbFunction;
typedef Perftools__Profiles__Mapping PbMapping;
typedef Perftools__Profiles__ValueType PbValueType;
typedef Perftools__Profiles__Label PbLabel;

/* ---- interning: strings -> string_table index, addresses -> location id ---- */

struct strtab {
    char **v;                  /* the table ([0] = "") */
    size_t n, cap;
    size_t *slot;              /* open addressing: index + 1, 0 = empty */
    size_t nslot;              /* power of two */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* An open-addressing index of n entries (slots hold entry + 1, 0 empty)
 * rebuilt at twice its size; hash(ctx, i) is entry i's hash. */
static int slots_grow(size_t **slot, size_t *nslot, size_t n, uint64_t (*hash)(const void *, size_t),
                      const void *ctx)
{
    size_t ns = *nslot ? *nslot * 2 : 1024;
    size_t *sl = calloc(ns, sizeof *sl);
    if (!sl) return -1;
    for (size_t i = 0; i < n; i++) {
        size_t j = (size_t)hash(ctx, i) & (ns - 1);
        while (sl[j]) j = (j + 1) & (ns - 1);
        sl[j] = i + 1;
    }
    free(*slot);
    *slot = sl;
    *nslot = ns;
    return 0;
}

static uint64_t strtab_hash(const void *ctx, size_t i)
{
    return hash_str(((const struct strtab *)ctx)->v[i]);
}

static int strtab_grow(struct strtab *t)
{
    return slots_grow(&t->slot, &t->nslot, t->n, strtab_hash, t);
}

/* the index of s, added if new; -1 when out of memory */
static int64_t str_id(struct strtab *t, const char *s)
{
    if ((t->n + 1) * 2 > t->nslot && strtab_grow(t) != 0) return -1;
    size_t j = hash_str(s) & (t->nslot - 1);
    for (; t->slot[j]; j = (j + 1) & (t->nslot - 1))
        if (!strcmp(t->v[t->slot[j] - 1], s)) return (int64_t)(t->slot[j] - 1);
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 256;
        char **nv = realloc(t->v, nc * sizeof *nv);
        if (!nv) return -1;
        t->v = nv;
        t->cap = nc;
    }
    if (!(t->v[t->n] = strdup(s))) return -1;
    t->slot[j] = ++t->n;
    return (int64_t)(t->n - 1);
}

static void strtab_free(struct strtab *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->v[i]);
    free(t->v);
    free(t->slot);
}

/* ---- building the message ---------------------------------------------------- */

struct build {
    PbProfile prof;
    struct strtab st;
    /* locations by address (open addressing on the address, id = index + 1) */
    PbLocation **loc;
    size_t nloc, caploc;
    size_t *locslot, nlocslot;
    /* functions: id = string index of the name + position in fn[] */
    PbFunction **fn;
    size_t nfn, capfn;
    uint64_t *fn_of_str;        /* string index -> function id (0 none), grown with st */
    size_t nfn_of_str;
    PbMapping **map;
    size_t nmap;
    int oom;
};

static void *grow(void *v, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return v;
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *nv = realloc(v, nc * elem);
    if (nv) *cap = nc;
    return nv;
}

static int64_t sid(struct build *b, const char *s)
{
    int64_t i = str_id(&b->st, s);
    if (i < 0) b->oom = 1;
    return i < 0 ? 0 : i;
}

static uint64_t function_id(struct build *b, const char *name)
{
    int64_t s = sid(b, name);
    if (b->oom) return 0;
    if ((size_t)s >= b->nfn_of_str) {
        size_t nn = b->st.cap > (size_t)s ? b->st.cap : (size_t)s + 1;
        uint64_t *nv = realloc(b->fn_of_str, nn * sizeof *nv);
        if (!nv) return b->oom = 1, 0;
        memset(nv + b->nfn_of_str, 0, (nn - b->nfn_of_str) * sizeof *nv);
        b->fn_of_str = nv;
        b->nfn_of_str = nn;
    }
    if (b->fn_of_str[s]) return b->fn_of_str[s];
    PbFunction **nf = grow(b->fn, &b->capfn, b->nfn + 1, sizeof *nf);
    PbFunction *f = calloc(1, sizeof *f);
    if (!nf || !f) {
        free(f);
        if (nf) b->fn = nf;
        return b->oom = 1, 0;
    }
    b->fn = nf;
    perftools__profiles__function__init(f);
    f->id = b->nfn + 1;
    f->name = s;
    f->system_name = s;
    b->fn[b->nfn++] = f;
    return b->fn_of_str[s] = f->id;
}

static uint64_t mapping_of(const struct build *b, uint64_t addr)
{
    for (size_t i = 0; i < b->nmap; i++)
        if (addr >= b->map[i]->memory_start && addr < b->map[i]->memory_limit) return b->map[i]->id;
    return 0;
}

static uint64_t loc_hash_addr(uint64_t address)
{
    return (address * 0x9e3779b97f4a7c15ull) >> 20;
}

static uint64_t loc_hash(const void *ctx, size_t i)
{
    return loc_hash_addr(((const struct build *)ctx)->loc[i]->address);
}

static int loc_rehash(struct build *b)
{
    return slots_grow(&b->locslot, &b->nlocslot, b->nloc, loc_hash, b);
}

static uint64_t location_id(struct build *b, struct symbolizer *sy, uint64_t ra)
{
    if ((b->nloc + 1) * 2 > b->nlocslot && loc_rehash(b) != 0) return b->oom = 1, 0;
    size_t j = (size_t)loc_hash_addr(ra) & (b->nlocslot - 1);
    for (; b->locslot[j]; j = (j + 1) & (b->nlocslot - 1))
        if (b->loc[b->locslot[j] - 1]->address == ra) return b->locslot[j];
    char buf[512];
    uint64_t fid = function_id(b, sym_name(sy, ra, buf, sizeof buf));
    PbLocation **nl = grow(b->loc, &b->caploc, b->nloc + 1, sizeof *nl);
    if (nl) b->loc = nl;
    PbLocation *l = calloc(1, sizeof *l);
    PbLine *ln = calloc(1, sizeof *ln);
    PbLine **lines = calloc(1, sizeof *lines);
    if (b->oom || !nl || !l || !ln || !lines) {
        free(l), free(ln), free(lines);
        return b->oom = 1, 0;
    }
    perftools__profiles__location__init(l);
    perftools__profiles__line__init(ln);
    ln->function_id = fid;
    lines[0] = ln;
    l->id = b->nloc + 1;
    l->address = ra;
    l->mapping_id = mapping_of(b, ra);
    l->n_line = 1;
    l->line = lines;
    b->loc[b->nloc++] = l;
    b->locslot[j] = l->id;
    return l->id;
}

static void add_mappings(struct build *b, const struct profile *p)
{
    size_t total = 0;
    for (uint32_t i = 0; i < p->nmods; i++) total += p->mods[i].nsegs;
    b->map = calloc(total ? total : 1, sizeof *b->map);
    if (!b->map) {
        b->oom = 1;
        return;
    }
    /* the executable (path "") first: pprof takes the first mapping as the main binary */
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < p->nmods; i++) {
            const struct hs_prof_module *m = &p->mods[i];
            if ((pass == 0) != (m->path[0] == 0)) continue;
            char bid[41] = "";
            for (unsigned k = 0; k < m->build_id_len && k < 20; k++) snprintf(bid + 2 * k, 3, "%02x", m->build_id[k]);
            for (unsigned k = 0; k < m->nsegs && k < HS_PROF_SEGS; k++) {
                const struct hs_prof_segment *sg = &m->segs[k];
                if (!(sg->flags & 1) || sg->end <= sg->start) continue;     /* code only */
                PbMapping *mp = calloc(1, sizeof *mp);
                if (!mp) {
                    b->oom = 1;
                    return;
                }
                perftools__profiles__mapping__init(mp);
                mp->id = b->nmap + 1;
                mp->memory_start = sg->start;
                mp->memory_limit = sg->end;
                mp->file_offset = sg->offset;
                mp->filename = sid(b, m->path[0] ? m->path : p->h.exe);
                mp->build_id = bid[0] ? sid(b, bid) : 0;
                mp->has_functions = 1;
                b->map[b->nmap++] = mp;
            }
        }
}

static PbValueType *value_type(struct build *b, const char *type, const char *unit)
{
    PbValueType *v = calloc(1, sizeof *v);
    if (!v) return b->oom = 1, NULL;
    perftools__profiles__value_type__init(v);
    v->type = sid(b, type);
    v->unit = sid(b, unit);
    return v;
}

static void build_free(struct build *b)
{
    PbProfile *pr = &b->prof;
    for (size_t i = 0; i < pr->n_sample_type; i++) free(pr->sample_type[i]);
    free(pr->sample_type);
    for (size_t i = 0; i < pr->n_sample; i++) {
        PbSample *s = pr->sample[i];
        free(s->location_id);
        free(s->value);
        for (size_t k = 0; k < s->n_label; k++) free(s->label[k]);
        free(s->label);
        free(s);
    }
    free(pr->sample);
    free(pr->period_type);
    free(pr->comment);
    for (size_t i = 0; i < b->nloc; i++) {
        free(b->loc[i]->line[0]);
        free(b->loc[i]->line);
        free(b->loc[i]);
    }
    free(b->loc);
    free(b->locslot);
    for (size_t i = 0; i < b->nfn; i++) free(b->fn[i]);
    free(b->fn);
    free(b->fn_of_str);
    for (size_t i = 0; i < b->nmap; i++) free(b->map[i]);
    free(b->map);
    strtab_free(&b->st);
}

/* the rounding of the legacy text's %.0f (round half to even, the current mode) */
static int64_t whole(double v)
{
    if (!(v > 0)) return 0;                       /* also NaN: a hostile file's sums */
    if (v >= 9.2e18) return INT64_MAX;
    return (int64_t)llrint(v);
}

static int build_profile(struct build *b, const struct profile *p, struct symbolizer *sy, const char *domain,
                         int alloc)
{
    PbProfile *pr = &b->prof;
    perftools__profiles__profile__init(pr);
    sid(b, "");
    add_mappings(b, p);
    static const char *const types[4][2] = {
        { "alloc_objects", "count" }, { "alloc_space", "bytes" }, { "inuse_objects", "count" }, { "inuse_space", "bytes" },
    };
    pr->sample_type = calloc(4, sizeof *pr->sample_type);
    if (!pr->sample_type) return -1;
    for (int i = 0; i < 4; i++) pr->sample_type[pr->n_sample_type++] = value_type(b, types[i][0], types[i][1]);
    pr->default_sample_type = sid(b, alloc ? "alloc_space" : "inuse_space");
    pr->period_type = value_type(b, "space", "bytes");
    pr->period = (int64_t)(p->h.rate > INT64_MAX ? INT64_MAX : p->h.rate);
    pr->time_nanos = (int64_t)(p->h.created_unix_ns > INT64_MAX ? 0 : p->h.created_unix_ns);
    char note[400];
    snprintf(note, sizeof note, "heapshim sampled heap profile of pid %d (%s)%s", p->h.pid, p->h.exe,
             (p->h.flags & HS_PROF_F_EXITED) ? ", at exit" : "");
    pr->comment = calloc(1, sizeof *pr->comment);
    if (pr->comment) pr->comment[pr->n_comment++] = sid(b, note);
    int64_t k_domain = sid(b, "domain");
    pr->sample = calloc(p->nst ? p->nst : 1, sizeof *pr->sample);
    if (!pr->sample || b->oom) return -1;
    for (uint32_t i = 0; i < p->nst && !b->oom; i++) {
        const struct pstack *s = &p->st[i];
        if (s->dom > 2 || (domain && strcmp(domain, dom_names[s->dom]))) continue;
        int64_t v[4] = { whole(s->alloc_count), whole(s->alloc_bytes), whole(s->live_count), whole(s->live_bytes) };
        if (!v[0] && !v[1] && !v[2] && !v[3]) continue;
        PbSample *sm = calloc(1, sizeof *sm);
        if (!sm) return -1;
        pr->sample[pr->n_sample++] = sm;
        perftools__profiles__sample__init(sm);
        sm->value = malloc(sizeof v);
        sm->location_id = calloc(s->depth ? s->depth : 1, sizeof *sm->location_id);
        sm->label = calloc(1, sizeof *sm->label);
        PbLabel *lb = calloc(1, sizeof *lb);
        if (!sm->value || !sm->location_id || !sm->label || !lb) {
            free(lb);
            return -1;
        }
        memcpy(sm->value, v, sizeof v);
        sm->n_value = 4;
        perftools__profiles__label__init(lb);
        lb->key = k_domain;
        lb->str = sid(b, dom_names[s->dom]);
        sm->label[sm->n_label++] = lb;
        for (unsigned k = 0; k < s->depth && k < HS_PROF_DEPTH; k++) {
            uint64_t id = location_id(b, sy, s->frames[k]);
            if (!id) return -1;
            sm->location_id[sm->n_location_id++] = id;
        }
    }
    pr->location = b->loc;
    pr->n_location = b->nloc;
    pr->function = b->fn;
    pr->n_function = b->nfn;
    pr->mapping = b->map;
    pr->n_mapping = b->nmap;
    pr->string_table = b->st.v;
    pr->n_string_table = b->st.n;
    return b->oom ? -1 : 0;
}

/* gzip (RFC 1952) of buf into f */
static int write_gzip(const uint8_t *buf, size_t len, FILE *f)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    uint8_t out[65536];
    int rc = 0, zr;
    z.next_in = (Bytef *)(uintptr_t)buf;
    do {
        size_t chunk = len > (1u << 30) ? (1u << 30) : len;
        z.avail_in = (uInt)chunk;
        len -= chunk;
        do {
            z.next_out = out;
            z.avail_out = sizeof out;
            zr = deflate(&z, len ? Z_NO_FLUSH : Z_FINISH);
            if (zr == Z_STREAM_ERROR) rc = -1;
            size_t have = sizeof out - z.avail_out;
            if (rc == 0 && have && fwrite(out, 1, have, f) != have) rc = -1;
        } while (rc == 0 && z.avail_out == 0);
    } while (rc == 0 && len);
    if (rc == 0 && zr != Z_STREAM_END) rc = -1;
    deflateEnd(&z);
    return rc;
}

int pprof_pb_available(void) { return 1; }

int pprof_pb_write(const struct profile *p, struct symbolizer *sy, const char *domain, int alloc, FILE *f,
                   char *err, size_t cap)
{
    struct build b;
    memset(&b, 0, sizeof b);
    int rc = build_profile(&b, p, sy, domain, alloc);
    uint8_t *buf = NULL;
    if (rc == 0) {
        size_t len = perftools__profiles__profile__get_packed_size(&b.prof);
        buf = malloc(len ? len : 1);
        if (!buf) rc = -1;
        else if (perftools__profiles__profile__pack(&b.prof, buf) != len) rc = -1;
        else if (write_gzip(buf, len, f) != 0) {
            snprintf(err, cap, "cannot write the compressed profile");
            free(buf);
            build_free(&b);
            return -1;
        }
    }
    if (rc != 0) snprintf(err, cap, "out of memory building the pprof profile");
    free(buf);
    build_free(&b);
    return rc;
}

#else /* !HS_HAVE_PPROF */

int pprof_pb_available(void) { return 0; }

int pprof_pb_write(const struct profile *p, struct symbolizer *sy, const char *domain, int alloc, FILE *f,
                   char *err, size_t cap)
{
    (void)p, (void)sy, (void)domain, (void)alloc, (void)f;
    snprintf(err, cap, "this heapshim was built without protobuf-c and zlib (libprotobuf-c-dev, "
                       "protobuf-c-compiler, zlib1g-dev): --format pb is not available");
    return -1;
}
#endif
