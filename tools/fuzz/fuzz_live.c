/*
 * tools/fuzz/fuzz_live.c - libFuzzer target: the live-region reader.
 *
 * Room: fuzzing only. Feeds arbitrary bytes to hs_live_sum (core/live_read.c)
 * in an exactly-sized heap copy, so AddressSanitizer catches any read past
 * the end, and renders accepted regions with the Prometheus formatter the
 * exporter uses (header strings and all).
 */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the fuzzer's own buffer may be unaligned; files are read into malloc'd
     * (aligned) memory, so do the same */
    void *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct hs_live_snapshot snap;
    const char *why = NULL;
#ifdef HS_FUZZ_GUARD
    /* the tool's own pre-check (see live_guard in cli.h); build without
     * HS_FUZZ_GUARD to fuzz core/live_read.c bare */
    if (live_guard(copy, size, &why) != 0) {
        free(copy);
        return 0;
    }
#endif
    int rc = hs_live_check_header(copy, size, &why);
    if (rc != 0 && (!why || !*why)) abort();
    why = NULL;
    if (hs_live_sum(copy, size, &snap, &why) == 0) {
        if (rc != 0) abort();   /* sum accepts only what the header check accepts */
        /* per domain allocs >= frees and peak >= live always hold; the total's
         * sums may wrap on hostile counters (reported to the lead), so only
         * peak >= live is checked there */
        for (int d = 0; d < 4; d++)
            if ((d < 3 && snap.dom[d].frees > snap.dom[d].allocs) ||
                snap.dom[d].live_bytes > snap.dom[d].peak_bytes)
                abort();
        const struct hs_live_header *h = copy;
        struct proc_view v;
        memset(&v, 0, sizeof v);
        v.pid = h->pid;
        memcpy(v.comm, h->comm, sizeof v.comm);
        v.snap = snap;
        struct scan s = { &v, 1, 0, 0 };
        size_t len;
        char *text = prom_render(&s, &len);
        if (!text || strlen(text) != len) abort();
        free(text);
    } else if (!why || !*why) {
        abort();
    }
    free(copy);
    return 0;
}
