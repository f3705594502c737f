/*
 * interpose/report.h - what the shim leaves behind at exit: the JSON report
 * (HEAPSHIM_REPORT, schema in docs/report-schema.md) and the per-domain
 * table (HEAPSHIM_STATS=1).
 *
 * Room: formatting and writing only; the figures come from the public
 * statistics API. No malloc and no stdio (the heap may be in any state at
 * exit): fixed buffers, snprintf with integer/string conversions, write(2).
 */
#ifndef HS_INTERPOSE_REPORT_H
#define HS_INTERPOSE_REPORT_H
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* Expand a report path template: %p -> the pid, %% -> %. Returns 0, or -1
 * for any other %-sequence (or a lone % at the end), an empty template, or
 * a result that does not fit in cap bytes. */
int hs_report_expand_path(const char *tmpl, char *out, size_t cap);

/* Write the report for this process to the expanded template, atomically
 * (<path>.tmp.<pid>, then rename). Returns 0, or -1 with *why set to one
 * line (static buffer) naming the file and the problem; -2 (and *why) when
 * the report's directory does not exist. Not reentrant. */
int hs_report_write(const char *tmpl, const char *allocator_name,
                    uint64_t started_unix_ns, const char **why);
/* Is the directory of the expanded template there now? Asked at start: a
 * directory that was there then and is gone at exit was removed by whoever
 * asked for the report (`heapshim run`, once its command has ended, while
 * a background process of the command lives on), and nobody will read the
 * report: it is not written, and nothing is said in the program's stderr.
 * The same for any missing directory with HEAPSHIM_REPORT_OPTIONAL=1 (what
 * run sets: a process started by such a background process after run
 * ended never saw the directory). */
bool hs_report_dir_exists(const char *tmpl);

/* The human table (per domain and total: live, peak, blocks, allocs,
 * reallocs, frees, failed; arenas; peak RSS), written to fd with write(2). */
void hs_report_table(int fd, const char *allocator_name);

#endif
