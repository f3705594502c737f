/*
 * core/prim/proc.h - who this process is, read from /proc without malloc.
 *
 * Room: process identity and size figures for the live header and the exit
 * report. Every function here may run inside the first malloc() of a process,
 * so none of them allocates: raw open/read/close and stack buffers only.
 */
#ifndef HS_PRIM_PROC_H
#define HS_PRIM_PROC_H

#include <heapshim/live.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Field 22 (starttime, clock ticks since boot) of /proc/<pid>/stat; together
 * with the pid it names one process for good. 0 when it cannot be read. */
uint64_t hs_proc_start_time(int pid);

/* The program file this process runs: st_dev and st_ino of /proc/self/exe
 * (zeros when it cannot be read). With the pid and the start time it tells
 * an image that exec() replaced by another program. */
void hs_proc_exe_id(uint64_t *dev, uint64_t *ino);

/* The program file's path (the /proc/self/exe link), NUL-terminated, cut
 * to cap-1 bytes; "" when it cannot be read. Errno kept. A path, not the
 * file: it may name another file by now (replaced, " (deleted)", another
 * root), so a caller that opens it checks what it opened. */
void hs_proc_exe_path(char *buf, size_t cap);

/* st_ino of /proc/self/ns/pid: the pid namespace this process's pid is
 * counted in (0 when it cannot be read) */
uint64_t hs_proc_pidns(void);

/* /proc/self/comm without the trailing newline; "" on error. */
void hs_proc_comm(char *buf, size_t cap);

/* /proc/self/cmdline, arguments joined by single spaces, cut to cap-1 bytes
 * (always NUL-terminated); "" on error. */
void hs_proc_cmdline(char *buf, size_t cap);
/* The arguments glibc hands the shim's constructor, for hs_proc_cmdline to
 * use instead of reading /proc while the process starts (a fresh process's
 * first /proc reads cost 15-30 us each); (0, NULL) when start-up is over,
 * as the program may then rewrite its argument area (a process title). */
void hs_proc_set_args(int argc, char **argv);

/* Resident set size now (/proc/self/statm), and its peak (getrusage). */
uint64_t hs_proc_rss_bytes(void);
uint64_t hs_proc_rss_peak_bytes(void);
/* Anonymous resident memory from /proc/self/status: *now = RssAnon, *peak =
 * VmHWM - RssFile - RssShmem (the kernel keeps no anonymous high-water
 * mark; this is the estimate tests/python_figures.py uses too), at least
 * *now. Zeros when it cannot be read. */
void hs_proc_anon(uint64_t *now, uint64_t *peak);

/* Fill the identity fields of a live header: pid, ppid, uid, start_time,
 * created_unix_ns, comm, cmdline, exe_dev, exe_ino, pidns_ino. */
void hs_live_fill_identity(struct hs_live_header *h);
/* The same for a fork child whose header is its parent's copy: only pid,
 * ppid, start_time and created_unix_ns change at a fork (uid, comm, cmdline,
 * the program file and the pid namespace do not). At the fork (at_fork) the
 * ppid is read (the forking process: a later call would see the reaper if
 * it died) and start_time set to 0, unknown; the call made when the child's
 * file is made reads it (once per child). */
void hs_live_fill_child_identity(struct hs_live_header *h, bool at_fork);

#endif /* HS_PRIM_PROC_H */
