/*
 * core/table.h - the one format of the per-domain table: what
 * HEAPSHIM_STATS prints at exit (interpose/report.c), hs_print_stats()
 * (core/live.c) and `heapshim run` / `heapshim report` (tools/table.c).
 *
 * Room: formatting only. Self-contained (core/table.c uses nothing but
 * snprintf: no allocation, no stdio streams, no state), so the shim can
 * write lines with write(2) at exit and the heapshim command links the
 * object alone. Callers choose the line prefix ("heapshim: " for lines the
 * shim mixes into a program's stderr, "  " under the command's title).
 */
#ifndef HS_CORE_TABLE_H
#define HS_CORE_TABLE_H
#include <stddef.h>
#include <stdint.h>

#define HS_TABLE_LINE 200          /* a line always fits (with a prefix <= 16) */

/* "0 B", "1023 B", "1.5 KiB", "24.9 MiB": integer arithmetic, one decimal */
void hs_table_bytes(char *out, size_t cap, uint64_t v);
/* the column heading and one domain row, each ending with '\n'; the
 * length written (cut at cap) */
int hs_table_heading(char *buf, size_t cap, const char *prefix);
int hs_table_row(char *buf, size_t cap, const char *prefix, const char *domain,
                 uint64_t live_bytes, uint64_t peak_bytes, uint64_t live_blocks, uint64_t allocs,
                 uint64_t reallocs, uint64_t frees, uint64_t failed);

#endif
