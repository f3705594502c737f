/*
 * tools/profile_read.c - reading a heap profile file, as hostile input.
 *
 * Room: opening (a pid's file in the live directory through tools/live.c's
 * checked directory, or a path; never following a symlink, never mapping),
 * reading it whole with pread while its `seq` stands still, validating every
 * field used, and aggregating the live table into per-stack estimates. The
 * layout and the protocol are include/heapshim/profile.h.
 */
#include "cli.h"
#include "live.h"
#include "profile.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILE ((size_t)256 << 20)

static int say(char *err, size_t cap, const char *fmt, const char *a, const char *b)
{
    snprintf(err, cap, fmt, a, b);
    return -1;
}

static int is_pid(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static int read_all(int fd, unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, buf + done, len - done, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    return 0;
}

static uint64_t seq_at(int fd)
{
    uint64_t s = 1;
    if (pread(fd, &s, sizeof s, offsetof(struct hs_prof_header, seq)) != sizeof s) return 1;
    return s;
}

int profile_is_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return 0;
    uint64_t m = 0;
    int ok = pread(fd, &m, sizeof m, 0) == sizeof m && m == HS_PROF_MAGIC;
    close(fd);
    return ok;
}

int profile_load(const char *what, const char *dir, struct profile *p, char *err, size_t cap)
{
    memset(p, 0, sizeof *p);
    int fd;
    if (is_pid(what)) {
        char dbuf[4096];
        const char *d = live_dir(dir, dbuf, sizeof dbuf);
        struct live_dirh dh;
        int rc = live_dir_open(d, dir != NULL, &dh, err, cap);
        if (rc == 1) return say(err, cap, "no live directory %s (is the process running under the shim?)%s", d, "");
        if (rc != 0) return -1;
        char name[32];
        snprintf(name, sizeof name, "%s.prof", what);
        fd = openat(dh.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            snprintf(err, cap, "no profile for pid %s in %s (%s; a process that allocated less "
                     "than one sampling interval, or HEAPSHIM_PROFILE_RATE=0, has none)",
                     what, d, errno == ENOENT ? "no such file" : strerror(errno));
            live_dir_close(&dh);
            return -1;
        }
        struct stat st;
        if (fstat(fd, &st) != 0 || st.st_uid != dh.owner) {
            close(fd);
            live_dir_close(&dh);
            return say(err, cap, "%s/%s: not owned by the live directory's owner; refused", d, name);
        }
        snprintf(p->source, sizeof p->source, "%s/%s", d, name);
        live_dir_close(&dh);
    } else {
        fd = open(what, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            return say(err, cap, "%s: %s (accepted: a pid of a shimmed process, or a .prof file)", what,
                       errno == ELOOP ? "is a symlink (refusing to follow it)" : strerror(errno));
        snprintf(p->source, sizeof p->source, "%s", what);
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return say(err, cap, "%s: not a regular file%s", p->source, "");
    }
    if ((size_t)st.st_size < sizeof(struct hs_prof_header) || (size_t)st.st_size > MAX_FILE) {
        close(fd);
        return say(err, cap, "%s: size does not fit a heapshim profile%s", p->source, "");
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = malloc(len);
    if (!buf) {
        close(fd);
        return say(err, cap, "%s: out of memory%s", p->source, "");
    }
    int consistent = 0;
    for (int tries = 0; tries < 20; tries++) {
        uint64_t s0 = seq_at(fd);
        if (read_all(fd, buf, len) != 0) {
            free(buf);
            close(fd);
            return say(err, cap, "%s: read failed or the file shrank%s", p->source, "");
        }
        if (!(s0 & 1) && seq_at(fd) == s0) {
            consistent = 1;
            break;
        }
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    close(fd);
    char src[sizeof p->source];
    memcpy(src, p->source, sizeof src);
    int rc = profile_parse(buf, len, p, err, cap);
    if (rc != 0) {                   /* name the file: "profile: why" -> "FILE: why" */
        char why[512];
        snprintf(why, sizeof why, "%s", strncmp(err, "profile: ", 9) ? err : err + 9);
        snprintf(err, cap, "%s: %s", src, why);
    }
    memcpy(p->source, src, sizeof src);
    p->consistent = consistent;
    free(buf);
    return rc;
}

static int find_stack(const uint32_t *map, uint32_t idx) { return map[idx] == UINT32_MAX ? -1 : (int)map[idx]; }

int profile_parse(const unsigned char *buf, size_t len, struct profile *p, char *err, size_t cap)
{
    memset(p, 0, sizeof *p);
    snprintf(p->source, sizeof p->source, "(buffer)");
    if (len < sizeof p->h) return say(err, cap, "profile: %s%s", "shorter than its header", "");
    memcpy(&p->h, buf, sizeof p->h);
    struct hs_prof_header *h = &p->h;
    if (h->magic != HS_PROF_MAGIC) return say(err, cap, "profile: %s%s", "not a heapshim profile (bad magic)", "");
    if ((h->version != 1 && h->version != HS_PROF_VERSION) || h->header_size != sizeof *h)
        return say(err, cap, "profile: %s%s", "unsupported version or header size (this heapshim reads versions 1 and 2)", "");
    if (h->version == 1) h->pyframes_off = h->pyframes_cap = h->npyframes = 0;
    if (h->depth_cap != HS_PROF_DEPTH) return say(err, cap, "profile: %s%s", "unexpected stack depth", "");
    if (h->modules_cap > 65536 || h->stacks_cap > (1u << 24) || h->live_cap > (1u << 26))
        return say(err, cap, "profile: %s%s", "table capacities out of range", "");
    /* every table inside the buffer, without overflow (64-bit sums of < 2^40 values) */
    uint64_t mend = h->modules_off + (uint64_t)h->modules_cap * sizeof(struct hs_prof_module);
    uint64_t send = h->stacks_off + (uint64_t)h->stacks_cap * sizeof(struct hs_prof_stack);
    uint64_t lend = h->live_off + (uint64_t)h->live_cap * sizeof(struct hs_prof_live);
    if (h->pyframes_cap > (1u << 20)) return say(err, cap, "profile: %s%s", "table capacities out of range", "");
    uint64_t pend = h->pyframes_off + (uint64_t)h->pyframes_cap * sizeof(struct hs_prof_pyframe);
    if (h->modules_off > len || h->stacks_off > len || h->live_off > len || h->pyframes_off > len || mend > len ||
        send > len || lend > len || pend > len || (h->modules_off | h->stacks_off | h->live_off | h->pyframes_off) % 8)
        return say(err, cap, "profile: %s%s", "a table lies outside the file", "");
    if (h->nmodules > h->modules_cap || h->live_hwm > h->live_cap || h->npyframes > h->pyframes_cap)
        return say(err, cap, "profile: %s%s", "counts above capacities", "");
    h->exe[sizeof h->exe - 1] = 0;

    p->nmods = h->nmodules;
    p->mods = calloc(p->nmods ? p->nmods : 1, sizeof *p->mods);
    p->npyf = h->npyframes;
    p->pyf = calloc(p->npyf ? p->npyf : 1, sizeof *p->pyf);
    uint32_t *map = malloc(((size_t)h->stacks_cap + 1) * sizeof *map);
    p->st = calloc((size_t)h->stacks_cap + 1, sizeof *p->st);
    if (!p->mods || !p->pyf || !map || !p->st) {
        free(map);
        profile_free(p);
        return say(err, cap, "profile: %s%s", "out of memory", "");
    }
    memcpy(p->mods, buf + h->modules_off, (size_t)p->nmods * sizeof *p->mods);
    for (uint32_t i = 0; i < p->nmods; i++) {
        struct hs_prof_module *m = &p->mods[i];
        m->path[sizeof m->path - 1] = 0;
        if (m->nsegs > HS_PROF_SEGS) m->nsegs = 0;
        if (m->build_id_len > 20) m->build_id_len = 0;
    }
    memcpy(p->pyf, buf + h->pyframes_off, (size_t)p->npyf * sizeof *p->pyf);
    for (uint32_t i = 0; i < p->npyf; i++) {
        p->pyf[i].name[sizeof p->pyf[i].name - 1] = 0;
        p->pyf[i].file[sizeof p->pyf[i].file - 1] = 0;
    }
    const struct hs_prof_stack *fs = (const void *)(buf + h->stacks_off);
    for (uint32_t i = 0; i < h->stacks_cap; i++) {
        struct hs_prof_stack s;
        memcpy(&s, &fs[i], sizeof s);
        map[i] = UINT32_MAX;
        if (!s.hash || s.depth > HS_PROF_DEPTH || s.dom > 2) continue;
        struct pstack *d = &p->st[p->nst];
        d->depth = s.depth;
        d->dom = s.dom;
        memcpy(d->frames, s.frames, sizeof d->frames);
        d->alloc_count = (double)s.alloc_weight / HS_PROF_WEIGHT_ONE;
        d->alloc_bytes = (double)s.alloc_bytes;
        map[i] = p->nst++;
    }
    const struct hs_prof_live *fl = (const void *)(buf + h->live_off);
    for (uint32_t i = 0; i < h->live_hwm; i++) {
        struct hs_prof_live e;
        memcpy(&e, &fl[i], sizeof e);
        if (!e.addr || e.stack >= h->stacks_cap) continue;
        int si = find_stack(map, e.stack);
        if (si < 0) continue;
        struct pstack *d = &p->st[si];
        d->live_count += (double)e.weight / HS_PROF_WEIGHT_ONE;
        d->live_bytes += (double)e.est_bytes;
        d->live_samples++;
    }
    free(map);
    return 0;
}

int profile_pid_name(const char *name)
{
    size_t l = strlen(name);
    char num[16];
    if (l < 6 || l - 5 >= sizeof num || strcmp(name + l - 5, ".prof")) return -1;
    memcpy(num, name, l - 5);
    num[l - 5] = 0;
    uint64_t v;
    if (!is_pid(num) || parse_u64(num, 1, 0x7fffffff, &v)) return -1;
    return (int)v;
}

int profile_stale_at(const struct live_dirh *d, const char *name, struct stat *st, char *err, size_t cap)
{
    int pid = profile_pid_name(name);
    if (pid < 0) {
        snprintf(err, cap, "%s/%s: not named PID.prof", d->path, name);
        return LIVE_BAD;
    }
    int fd = live_open_at(d, name, st, err, cap);   /* no link, regular, owner, mode, size */
    if (fd < 0) return fd;
    struct hs_prof_header h;
    ssize_t r = pread(fd, &h, sizeof h, 0);
    close(fd);
    const char *why = NULL;
    if (r != (ssize_t)sizeof h || h.magic != HS_PROF_MAGIC) why = "not a heapshim profile (bad magic or short)";
    else if ((h.version != 1 && h.version != HS_PROF_VERSION) || h.header_size != sizeof h)
        why = "unsupported profile version";
    else if (h.pid != pid) why = "its header names another pid";
    else if (proc_other_pidns(h.pidns_ino)) why = "a process of another pid namespace, which this one cannot look up";
    if (why) {
        snprintf(err, cap, "%s/%s: %s", d->path, name, why);
        return LIVE_BAD;
    }
    if (proc_alive(pid, h.start_time, h.exe_dev, h.exe_ino)) return LIVE_OK;
    snprintf(err, cap, "%s/%s: stale (process %d is gone or is another process now)", d->path, name, pid);
    return LIVE_STALE;
}

static int by_frames(const void *a, const void *b)
{
    const struct pstack *x = a, *y = b;
    if (x->dom != y->dom) return x->dom < y->dom ? -1 : 1;
    if (x->depth != y->depth) return x->depth < y->depth ? -1 : 1;
    return memcmp(x->frames, y->frames, x->depth * sizeof x->frames[0]);
}

void profile_frames(struct profile *p, int which)
{
    if (which == PROFILE_FRAMES_ALL) return;
    for (uint32_t i = 0; i < p->nst; i++) {
        struct pstack *s = &p->st[i];
        unsigned n = 0, py = 0;
        for (unsigned k = 0; k < s->depth; k++) py += (s->frames[k] & HS_PROF_FRAME_PY) != 0;
        if (which == PROFILE_FRAMES_PYTHON && !py) continue;
        for (unsigned k = 0; k < s->depth; k++)
            if (((s->frames[k] & HS_PROF_FRAME_PY) != 0) == (which == PROFILE_FRAMES_PYTHON))
                s->frames[n++] = s->frames[k];
        memset(s->frames + n, 0, (HS_PROF_DEPTH - n) * sizeof s->frames[0]);
        s->depth = n;
    }
    qsort(p->st, p->nst, sizeof *p->st, by_frames);
    uint32_t m = 0;
    for (uint32_t i = 0; i < p->nst; i++) {
        if (m && !by_frames(&p->st[m - 1], &p->st[i])) {
            struct pstack *d = &p->st[m - 1], *s = &p->st[i];
            d->live_count += s->live_count, d->live_bytes += s->live_bytes;
            d->alloc_count += s->alloc_count, d->alloc_bytes += s->alloc_bytes;
            d->live_samples += s->live_samples;
        } else {
            p->st[m++] = p->st[i];
        }
    }
    p->nst = m;
}

void profile_free(struct profile *p)
{
    free(p->mods);
    free(p->st);
    free(p->pyf);
    p->mods = NULL;
    p->st = NULL;
    p->pyf = NULL;
}

/* Copy a pid's profile file from the live directory to dest (a killed
 * process's last state, for `run --profile`): same checks as profile_load,
 * then written as dest.tmp and renamed. 0, or -1 with err. */
int profile_copy_live(int pid, const char *live, const char *dest, char *err, size_t cap)
{
    char what[24];
    snprintf(what, sizeof what, "%d", pid);
    struct profile p;
    if (profile_load(what, live, &p, err, cap) != 0) return -1;   /* validated first */
    profile_free(&p);
    struct live_dirh dh;
    if (live_dir_open(live, 1, &dh, err, cap) != 0) return -1;
    char name[32];
    snprintf(name, sizeof name, "%d.prof", pid);
    int fd = openat(dh.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    live_dir_close(&dh);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > MAX_FILE) {
        if (fd >= 0) close(fd);
        return say(err, cap, "%s: cannot read %s", live, name);
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    int rc = buf && read_all(fd, buf, len) == 0 ? 0 : -1;
    close(fd);
    if (rc != 0) {
        free(buf);
        return say(err, cap, "%s: cannot read %s", live, name);
    }
    struct outfile o;
    char why[512];
    if (out_create(&o, dest, why, sizeof why) != 0) {
        free(buf);
        return say(err, cap, "%s: %s", dest, why);
    }
    if (out_write(&o, buf, len) != 0) {
        out_abort(&o);
        rc = say(err, cap, "%s: cannot write it: %s", dest, strerror(errno));
    } else if (out_commit(&o, why, sizeof why) != 0) {
        rc = say(err, cap, "%s: %s", dest, why);
    }
    free(buf);
    return rc;
}
