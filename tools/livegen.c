/*
 * tools/livegen.c - build/tools/hs-livegen: write a synthetic live file.
 *
 * Room: a test helper, not installed. Fills the layout of
 * include/heapshim/live.h (version 1) with figures given on the command
 * line, or with deliberate damage, so the suites and the fuzz corpora can
 * exercise the readers without a running shimmed process.
 *
 *   hs-livegen OUT pid=N [start=TICKS] [comm=S] [cmdline=S] [allocator=S]
 *              [raw=B] [mem=B] [obj=B]           bytes in large blocks (one block each)
 *              [small_mem=N] [small_obj=N]        N 64-byte small blocks
 *              [class.C=N]                        N obj blocks of class C (0..31,
 *                                                 (C+1)*16 bytes); repeatable
 *              [peak.D=B] [window.D=B]            D = raw|mem|obj|total
 *              [arenas=N] [threads=N] [nslots=N] [state=running|exited]
 *              [magic=N] [version=N] [header_size=N] [slots_offset=N]
 *              [file_size=N] [truncate=N] [unterminated=1]
 *              [seq=N]                             the header's seq (odd: a
 *                                                 publication that never ends)
 *              [ppid=N] [created=NS]              the parent's pid; created_unix_ns
 *                                                 (default 1795400000000000000)
 * start defaults to the start time of pid (from /proc), so the file is live
 * while that process runs.
 */
#include <heapshim/live.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t start_of(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 12345;   /* no such process: the file will be stale */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    unsigned long long v = 0;
    /* skip state and fields 4..21, then read field 22 */
    p += 2;
    for (int i = 3; i < 22 && p; i++) {
        p = strchr(p, ' ');
        if (p) p++;
    }
    if (p) sscanf(p, "%llu", &v);
    return v;
}

static int dom_index(const char *s)
{
    static const char *const n[4] = { "raw", "mem", "obj", "total" };
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, n[i])) return i;
    fprintf(stderr, "hs-livegen: unknown domain '%s'\n", s);
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t cls[HS_LIVE_NCLASSES] = { 0 };
    if (argc < 2) {
        fputs("usage: hs-livegen OUT key=value... (see tools/livegen.c)\n", stderr);
        return 2;
    }
    uint32_t nslots = 4, threads = 1;
    long truncate_to = -1;
    int pid = 0, have_start = 0, unterminated = 0;
    struct hs_live_header hd;
    memset(&hd, 0, sizeof hd);
    hd.magic = HS_LIVE_MAGIC;
    hd.version = HS_LIVE_VERSION;
    hd.header_size = sizeof hd;
    hd.slot_size = sizeof(struct hs_live_slot);
    hd.slots_offset = (sizeof hd + 63) & ~(uint64_t)63;
    hd.uid = (uint32_t)getuid();
    hd.state = HS_LIVE_STATE_RUNNING;
    hd.arena_size = 256 * 1024;
    hd.pool_size = 16 * 1024;
    snprintf(hd.comm, sizeof hd.comm, "synthetic");
    snprintf(hd.cmdline, sizeof hd.cmdline, "synthetic workload");
    snprintf(hd.allocator, sizeof hd.allocator, "pymalloc");
    uint64_t large[3] = { 0 }, small[2] = { 0 }, file_size = 0;
    int have_file_size = 0, have_created = 0;
    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "hs-livegen: bad argument '%s' (key=value)\n", argv[i]);
            return 2;
        }
        *eq = 0;
        const char *k = argv[i], *v = eq + 1;
        unsigned long long n = strtoull(v, NULL, 0);
        if (!strcmp(k, "pid")) pid = (int)n;
        else if (!strcmp(k, "start")) { hd.start_time = n; have_start = 1; }
        else if (!strcmp(k, "comm")) snprintf(hd.comm, sizeof hd.comm, "%s", v);
        else if (!strcmp(k, "cmdline")) snprintf(hd.cmdline, sizeof hd.cmdline, "%s", v);
        else if (!strcmp(k, "allocator")) snprintf(hd.allocator, sizeof hd.allocator, "%s", v);
        else if (!strcmp(k, "raw")) large[0] = n;
        else if (!strcmp(k, "mem")) large[1] = n;
        else if (!strcmp(k, "obj")) large[2] = n;
        else if (!strcmp(k, "small_mem")) small[0] = n;
        else if (!strcmp(k, "small_obj")) small[1] = n;
        else if (!strncmp(k, "class.", 6) && strtoul(k + 6, NULL, 10) < HS_LIVE_NCLASSES)
            cls[strtoul(k + 6, NULL, 10)] += n;
        else if (!strncmp(k, "peak.", 5)) hd.peak[dom_index(k + 5)] = (int64_t)n;
        else if (!strncmp(k, "window.", 7)) hd.window_peak[dom_index(k + 7)] = (int64_t)n;
        else if (!strcmp(k, "arenas")) { hd.arenas_mapped = hd.arenas_peak = n; hd.bytes_mapped = n * hd.arena_size; }
        else if (!strcmp(k, "threads")) threads = (uint32_t)n;
        else if (!strcmp(k, "nslots")) nslots = (uint32_t)n;
        else if (!strcmp(k, "state")) hd.state = !strcmp(v, "exited") ? HS_LIVE_STATE_EXITED : HS_LIVE_STATE_RUNNING;
        else if (!strcmp(k, "magic")) hd.magic = n;
        else if (!strcmp(k, "version")) hd.version = (uint32_t)n;
        else if (!strcmp(k, "header_size")) hd.header_size = (uint32_t)n;
        else if (!strcmp(k, "slots_offset")) hd.slots_offset = n;
        else if (!strcmp(k, "file_size")) { file_size = n; have_file_size = 1; }
        else if (!strcmp(k, "truncate")) truncate_to = (long)n;
        else if (!strcmp(k, "unterminated")) unterminated = (int)n;
        else if (!strcmp(k, "seq")) hd.seq = n;
        else if (!strcmp(k, "ppid")) hd.ppid = (int32_t)n;
        else if (!strcmp(k, "created")) { hd.created_unix_ns = n; have_created = 1; }
        else {
            fprintf(stderr, "hs-livegen: unknown key '%s'\n", k);
            return 2;
        }
    }
    hd.pid = pid;
    if (!have_start) hd.start_time = start_of(pid);
    hd.nslots = nslots;
    hd.slots_used = threads > nslots ? nslots : threads;
    /* damaged offsets are written into the header only; the slots go where
     * a sane writer would put them, so the damage stays the one asked for */
    uint64_t so = hd.slots_offset >= sizeof hd && hd.slots_offset < (1u << 20)
                      ? hd.slots_offset : (sizeof hd + 63) & ~(uint64_t)63;
    /* room for one slot at least: the figures go into slot 0 even when the
     * header claims none (nslots=0 damage) */
    uint64_t real_size = so + (uint64_t)(nslots ? nslots : 1) * sizeof(struct hs_live_slot);
    hd.file_size = have_file_size ? file_size : real_size;
    if (unterminated) memset(hd.comm, 'x', sizeof hd.comm);
    if (!have_created) hd.created_unix_ns = 1795400000000000000ull;

    char *buf = calloc(1, real_size);
    if (!buf) return 1;
    memcpy(buf, &hd, sizeof hd);
    struct hs_live_slot *s = (struct hs_live_slot *)(buf + so);
    for (uint32_t t = 0; t < hd.slots_used; t++) s[t].owner = 1000 + t;
    for (int d = 0; d < 3; d++)
        if (large[d]) {
            s[0].dom[d].allocs = 1;
            s[0].dom[d].alloc_bytes = large[d];
        }
    for (int sd = 0; sd < 2; sd++) s[0].small_allocs[sd][3] = small[sd];   /* class 3: 64 B */
    for (int c = 0; c < HS_LIVE_NCLASSES; c++) s[0].small_allocs[1][c] += cls[c];
    size_t len = truncate_to >= 0 && (uint64_t)truncate_to < real_size ? (size_t)truncate_to : real_size;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd) != 0) {
        perror(argv[1]);
        return 1;
    }
    free(buf);
    return 0;
}
