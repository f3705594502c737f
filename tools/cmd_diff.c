/*
 * tools/cmd_diff.c - `heapshim diff BASE.json NEW.json`: the CI regression gate.
 *
 * Room: compares named metrics of two reports (tools/report.c) and decides.
 * Exit 0 when every compared metric is within the allowed growth, 1 when at
 * least one grew more, 2 on bad input (a file, a metric name, a number).
 * Shrinking is never a regression: a gate must not punish improvements.
 */
#include "cli.h"
#include <string.h>

static const char usage[] =
    "usage: heapshim diff BASE.json NEW.json [--max-growth PCT] [--min-bytes N]\n"
    "                     [--metric NAME]...\n"
    "  Compare two reports and print each metric's change. Always compared:\n"
    "  {raw,mem,obj,total}.peak_bytes and .live_bytes; --metric adds more.\n"
    "  --max-growth PCT  allowed growth in percent (default 10; '10%' also accepted)\n"
    "  --min-bytes N     byte metrics growing by less than N bytes never fail (default 0)\n"
    "  A metric whose base is 0 fails as soon as it grows (beyond --min-bytes).\n"
    "  Exit 0 within limits, 1 on a regression, 2 on bad input.\n";

#define MAX_METRICS 64

int cmd_diff(int argc, char **argv)
{
    const char *files[2] = { NULL, NULL };
    int nfiles = 0;
    double max_growth = 10.0;
    uint64_t min_bytes = 0;
    const char *metrics[MAX_METRICS];
    int nm = 0;
    static const char *const defaults[] = {
        "raw.peak_bytes", "mem.peak_bytes", "obj.peak_bytes", "total.peak_bytes",
        "raw.live_bytes", "mem.live_bytes", "obj.live_bytes", "total.live_bytes",
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) metrics[nm++] = defaults[i];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--max-growth") || !strcmp(a, "--metric") || !strcmp(a, "--min-bytes")) {
            if (i + 1 >= argc) die_bad("%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--max-growth")) {
                char num[64];
                snprintf(num, sizeof num, "%s", v);
                size_t n = strlen(num);
                if (n && num[n - 1] == '%') num[n - 1] = 0;
                if (parse_double(num, 0, 1e9, &max_growth))
                    die_bad("--max-growth: bad number '%s' (accepted: a percentage >= 0, e.g. 5 or 2.5)", v);
            } else if (!strcmp(a, "--min-bytes")) {
                if (parse_u64(v, 0, UINT64_MAX, &min_bytes))
                    die_bad("--min-bytes: bad number '%s' (accepted: a byte count >= 0)", v);
            } else {
                struct report probe;
                uint64_t dummy;
                memset(&probe, 0, sizeof probe);
                if (report_metric(&probe, v, &dummy)) {
                    fprintf(stderr, "%s: unknown metric '%s' (accepted: ", hs_prog, v);
                    report_metric_list(stderr);
                    fputs(")\n", stderr);
                    return HS_EXIT_BAD;
                }
                int dup = 0;
                for (int k = 0; k < nm; k++) dup |= !strcmp(metrics[k], v);
                if (!dup) {
                    if (nm == MAX_METRICS) die_bad("too many --metric options (at most %d)", MAX_METRICS);
                    metrics[nm++] = v;
                }
            }
        } else if (a[0] == '-' && a[1]) {
            die_bad("unknown option '%s' (accepted: --max-growth PCT, --min-bytes N, --metric NAME, --help)", a);
        } else if (nfiles < 2) {
            files[nfiles++] = a;
        } else {
            die_bad("too many files ('%s'); accepted: BASE.json NEW.json", a);
        }
    }
    if (nfiles != 2) die_bad("need two reports (usage: heapshim diff BASE.json NEW.json [options])");

    static struct report base, cur;   /* large: keep them off the stack */
    char err[1024];
    if (report_load(files[0], &base, err, sizeof err)) die_bad("%s", err);
    if (report_load(files[1], &cur, err, sizeof err)) die_bad("%s", err);

    printf("heapshim diff: %s -> %s (allowed growth %g%%", files[0], files[1], max_growth);
    if (min_bytes) printf(", ignoring growth under %llu bytes", (unsigned long long)min_bytes);
    printf(")\n  %-22s %12s %12s %12s %9s  %s\n", "metric", "base", "new", "change", "change%",
           "verdict");
    int regressions = 0;
    for (int k = 0; k < nm; k++) {
        uint64_t b, n;
        report_metric(&base, metrics[k], &b);
        report_metric(&cur, metrics[k], &n);
        int bytes = metric_is_bytes(metrics[k]);
        char sb[16], sn[16], sd[24], pct[16];
        uint64_t delta = n > b ? n - b : b - n;
        if (bytes) {
            human_bytes(b, sb);
            human_bytes(n, sn);
            char t[16];
            snprintf(sd, sizeof sd, "%s%s", n > b ? "+" : n < b ? "-" : "", human_bytes(delta, t));
        } else {
            snprintf(sb, sizeof sb, "%llu", (unsigned long long)b);
            snprintf(sn, sizeof sn, "%llu", (unsigned long long)n);
            snprintf(sd, sizeof sd, "%s%llu", n > b ? "+" : n < b ? "-" : "", (unsigned long long)delta);
        }
        double growth = 0;
        if (b) growth = ((double)n - (double)b) * 100.0 / (double)b;
        if (b) snprintf(pct, sizeof pct, "%+.1f%%", growth);
        else snprintf(pct, sizeof pct, "%s", n ? "new" : "0.0%");
        const char *verdict = "ok";
        if (n > b && !(bytes && delta < min_bytes) && (b == 0 || growth > max_growth)) {
            verdict = "REGRESSION";
            regressions++;
        } else if (n < b) {
            verdict = "ok (smaller)";
        }
        printf("  %-22s %12s %12s %12s %9s  %s\n", metrics[k], sb, sn, sd, pct, verdict);
    }
    if (regressions)
        printf("heapshim diff: %d regression%s beyond +%g%%\n", regressions,
               regressions > 1 ? "s" : "", max_growth);
    else printf("heapshim diff: within limits\n");
    return regressions ? 1 : 0;
}
