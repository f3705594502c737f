/*
 * tools/table.c - the human per-domain table of one report.
 *
 * Room: formatting only (struct report -> text). Shared by `heapshim run`
 * (on stderr when the command exits) and `heapshim report`. The domain rows
 * are core/table.c's, the format HEAPSHIM_STATS and hs_print_stats print.
 */
#include "cli.h"
#include "../core/table.h"

void table_print(FILE *f, const struct report *r)
{
    char a[16], b[16];
    char cmd[100], alloc[sizeof r->allocator];
    /* one line, cut: it is a title; both come from the report, and no
     * escape sequence of a report reaches the terminal */
    snprintf(cmd, sizeof cmd, "%.99s", r->command);
    snprintf(alloc, sizeof alloc, "%s", r->allocator);
    fprintf(f, "heapshim: pid %lld  allocator %s  %s\n", (long long)r->pid, printable(alloc), printable(cmd));
    char line[HS_TABLE_LINE];
    hs_table_heading(line, sizeof line, "  ");
    fputs(line, f);
    for (int i = 0; i < D_N; i++) {
        const struct dom_stats *s = &r->dom[i];
        hs_table_row(line, sizeof line, "  ", dom_names[i], s->live_bytes, s->peak_bytes,
                     s->live_blocks, s->allocs, s->reallocs, s->frees, s->failed);
        fputs(line, f);
    }
    if (r->have_mapped)
        fprintf(f, "  mapped: live %s, peak %s; %llu maps, %llu remaps, %llu unmaps (the program's own mmap)\n",
                human_bytes(r->mapped_live, a), human_bytes(r->mapped_peak, b),
                (unsigned long long)r->mapped_maps, (unsigned long long)r->mapped_remaps,
                (unsigned long long)r->mapped_unmaps);
    fprintf(f, "  arenas: %llu mapped (peak %llu) x %s = %s, pools %llu used / %llu free\n",
            (unsigned long long)r->arenas_mapped, (unsigned long long)r->arenas_peak,
            human_bytes(r->arena_size, a), human_bytes(r->bytes_mapped, b),
            (unsigned long long)r->pools_used, (unsigned long long)r->pools_free);
    /* "-": never measured (a process killed before run read it alive) */
    fprintf(f, "  peak RSS: %s", r->rss_unknown ? "-" : human_bytes(r->rss_peak_bytes, a));
    if (r->rss_peak_bytes && !r->rss_unknown)
        fprintf(f, "  (peak heap %s = %.0f%% of it)", human_bytes(r->dom[D_TOTAL].peak_bytes, b),
                100.0 * (double)r->dom[D_TOTAL].peak_bytes / (double)r->rss_peak_bytes);
    if (r->ended_unix_ns > r->started_unix_ns)
        fprintf(f, "  wall %.3f s", (double)(r->ended_unix_ns - r->started_unix_ns) / 1e9);
    fputc('\n', f);
    if (r->have_mapped && r->rss_anon_peak_bytes && !r->rss_anon_unknown)
        fprintf(f, "  explained: heap peak %s + mapped peak %s = %.0f%% of the anonymous peak RSS %s\n",
                human_bytes(r->dom[D_TOTAL].peak_bytes, a), human_bytes(r->mapped_peak, b),
                100.0 * report_explained(r), human_bytes(r->rss_anon_peak_bytes, cmd));
}
