/*
 * tools/fuzz/fuzz_report.c - libFuzzer target: the JSON report parser.
 *
 * Room: fuzzing only. Any input must give 0 or -1 with a message, never a
 * crash, a leak or undefined behaviour; an accepted report must satisfy
 * the invariants the parser promises, and every named metric must resolve.
 */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct report r;
    char err[512];
    err[0] = 0;
    if (report_parse((const char *)data, size, &r, err, sizeof err) != 0) {
        if (!err[0] || strchr(err, '\n')) abort();   /* one line, always */
        return 0;
    }
    for (int d = 0; d < D_N; d++)
        if (r.dom[d].frees > r.dom[d].allocs || r.dom[d].live_bytes > r.dom[d].peak_bytes) abort();
    uint64_t v;
    if (report_metric(&r, "total.peak_bytes", &v) || v != r.dom[D_TOTAL].peak_bytes) abort();
    if (report_metric(&r, "arenas.arenas_peak", &v) || report_metric(&r, "rss_peak_bytes", &v)) abort();
    return 0;
}
