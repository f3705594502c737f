/*
 * tests/shim/filereader.c - another process's reads of a live file must be
 * states that existed (include/heapshim/live.h, "Consistent reads").
 *
 * Reads FILE in a loop for SECONDS the way every reader of the CLI does
 * (hs_live_read_fd: a copy, a publication request, then a publication or a
 * second, identical copy). Checks every read
 * against the previous one and against a bound:
 *   - allocs, reallocs, frees, failed never decrease (per domain and total)
 *   - live_bytes <= peak_bytes, peak_bytes never decreases
 *   - mapped memory (version 3): live <= peak per domain and total, the total
 *     the sum of the domains, peaks and call counts never decrease
 *   - live_blocks <= (the first read's live_blocks) + MAXBLOCKS: the program
 *     (tests/shim/prog_torn.c) never holds more than that many blocks beyond
 *     what it held when the reading started
 * Prints how many reads were instants, published snapshots and busy
 * (a publication under way: retried), and the worst violation.
 * usage: filereader FILE SECONDS MAXBLOCKS   exit 0 clean, 1 a violation, 2 cannot run
 */
#include <heapshim/live.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: filereader FILE SECONDS MAXBLOCKS\n");
        return 2;
    }
    double secs = atof(argv[2]);
    long long maxblocks = atoll(argv[3]);
    int fd = open(argv[1], O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        fprintf(stderr, "filereader: %s: not a readable live file\n", argv[1]);
        return 2;
    }
    size_t len = (size_t)st.st_size;
    char *a = calloc(1, len);
    if (!a) return 2;
    struct hs_live_snapshot prev, s;
    memset(&prev, 0, sizeof prev);
    int have_prev = 0;
    unsigned long long instant = 0, published = 0, late = 0, busy = 0, bad = 0;
    long long first_blocks = -1;
    char worst[256] = "";
    double end = now() + secs;
    while (now() < end) {
        const char *how = NULL, *why = NULL;
        if (hs_live_read_fd(fd, a, len, 100, &s, &how, &why) != 0) {
            if (why && !strncmp(why, "busy", 4)) {
                busy++;
                continue;
            }
            fprintf(stderr, "filereader: %s\n", why ? why : "?");
            free(a);
            return 2;
        }
        if (how && !strcmp(how, "instant")) instant++;
        else if (how && !strcmp(how, "published")) published++;
        else late++;
        const struct hs_live_domain *t = &s.dom[HS_LIVE_TOTAL];
        if (first_blocks < 0) first_blocks = (long long)t->live_blocks;
        char why_bad[200] = "";
        for (int d = 0; d < 4 && have_prev && !why_bad[0]; d++) {
            const struct hs_live_domain *x = &s.dom[d], *p = &prev.dom[d];
            if (x->allocs < p->allocs || x->frees < p->frees || x->reallocs < p->reallocs ||
                x->failed < p->failed)
                snprintf(why_bad, sizeof why_bad, "domain %d: a cumulative counter went back "
                         "(allocs %llu -> %llu, frees %llu -> %llu)", d,
                         (unsigned long long)p->allocs, (unsigned long long)x->allocs,
                         (unsigned long long)p->frees, (unsigned long long)x->frees);
            else if (x->peak_bytes < p->peak_bytes)
                snprintf(why_bad, sizeof why_bad, "domain %d: peak went down %llu -> %llu", d,
                         (unsigned long long)p->peak_bytes, (unsigned long long)x->peak_bytes);
        }
        for (int d = 0; d < 4 && !why_bad[0]; d++)
            if (s.dom[d].live_bytes > s.dom[d].peak_bytes)
                snprintf(why_bad, sizeof why_bad, "domain %d: live %llu above peak %llu", d,
                         (unsigned long long)s.dom[d].live_bytes, (unsigned long long)s.dom[d].peak_bytes);
        const struct hs_live_mapped *m = &s.mapped, *pm = &prev.mapped;
        for (int d = 0; d < 4 && !why_bad[0]; d++)
            if (m->live_bytes[d] > m->peak_bytes[d] || (have_prev && m->peak_bytes[d] < pm->peak_bytes[d]))
                snprintf(why_bad, sizeof why_bad, "mapped %d: live %llu peak %llu (peak before %llu)", d,
                         (unsigned long long)m->live_bytes[d], (unsigned long long)m->peak_bytes[d],
                         (unsigned long long)pm->peak_bytes[d]);
        if (!why_bad[0] && m->live_bytes[0] + m->live_bytes[1] + m->live_bytes[2] != m->live_bytes[3])
            snprintf(why_bad, sizeof why_bad, "mapped: total %llu is not the sum of the domains",
                     (unsigned long long)m->live_bytes[3]);
        if (!why_bad[0] && have_prev && (m->maps < pm->maps || m->unmaps < pm->unmaps || m->remaps < pm->remaps))
            snprintf(why_bad, sizeof why_bad, "mapped: call counts went back "
                     "(maps %llu -> %llu, unmaps %llu -> %llu)", (unsigned long long)pm->maps,
                     (unsigned long long)m->maps, (unsigned long long)pm->unmaps, (unsigned long long)m->unmaps);
        if (!why_bad[0] && (long long)t->live_blocks > first_blocks + maxblocks)
            snprintf(why_bad, sizeof why_bad, "phantom blocks: live %llu, at most %lld possible",
                     (unsigned long long)t->live_blocks, first_blocks + maxblocks);
        if (why_bad[0]) {
            if (!bad++) snprintf(worst, sizeof worst, "%s (%s read)", why_bad, how);
        }
        prev = s;
        have_prev = 1;
    }
    printf("%llu reads: %llu instant, %llu published after the request, %llu published late, "
           "%llu busy retried; %llu bad%s%s\n", instant + published + late, instant, published,
           late, busy, bad, bad ? ": first: " : "", worst);
    free(a);
    close(fd);
    return bad ? 1 : (instant + published + late ? 0 : 2);
}
