/*
 * core/table.c - the per-domain table's one format (see core/table.h).
 * Room: formatting only; nothing here allocates or keeps state.
 */
#include "table.h"
#include <stdio.h>

void hs_table_bytes(char *out, size_t cap, uint64_t v)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    if (v < 1024) {
        snprintf(out, cap, "%llu B", (unsigned long long)v);
        return;
    }
    int k = 1;
    while (k < 6 && v >= (1ull << (10 * (k + 1)))) k++;
    for (;;) {
        uint64_t u = 1ull << (10 * k);
        uint64_t whole = v / u, tenths = ((v % u) * 10 + u / 2) / u;
        if (tenths == 10) {
            whole++;
            tenths = 0;
        }
        if (whole >= 1024 && k < 6) {      /* rounding reached the next unit */
            k++;
            continue;
        }
        snprintf(out, cap, "%llu.%llu %s", (unsigned long long)whole, (unsigned long long)tenths,
                 unit[k]);
        return;
    }
}

#define HS_TABLE_FMT "%s%-6s %11s %11s %12s %12s %10s %12s %7s\n"

int hs_table_heading(char *buf, size_t cap, const char *prefix)
{
    int n = snprintf(buf, cap, HS_TABLE_FMT, prefix, "domain", "live", "peak", "live blocks",
                     "allocs", "reallocs", "frees", "failed");
    return n < 0 ? 0 : (size_t)n < cap ? n : (int)cap - 1;
}

int hs_table_row(char *buf, size_t cap, const char *prefix, const char *domain,
                 uint64_t live_bytes, uint64_t peak_bytes, uint64_t live_blocks, uint64_t allocs,
                 uint64_t reallocs, uint64_t frees, uint64_t failed)
{
    char live[24], peak[24], c[5][24];
    hs_table_bytes(live, sizeof live, live_bytes);
    hs_table_bytes(peak, sizeof peak, peak_bytes);
    const uint64_t v[5] = { live_blocks, allocs, reallocs, frees, failed };
    for (int i = 0; i < 5; i++) snprintf(c[i], sizeof c[i], "%llu", (unsigned long long)v[i]);
    int n = snprintf(buf, cap, HS_TABLE_FMT, prefix, domain, live, peak, c[0], c[1], c[2], c[3], c[4]);
    return n < 0 ? 0 : (size_t)n < cap ? n : (int)cap - 1;
}
