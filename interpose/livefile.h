/*
 * interpose/livefile.h - the shared-memory file that publishes a process's
 * live counters ($HEAPSHIM_DIR/<pid>, default /dev/shm/heapshim-<euid>/<pid>).
 *
 * Room: creating, re-creating (fork) and removing that file; the layout of
 * its contents is include/heapshim/live.h and is filled by the core. All of
 * it runs inside the first malloc() or in a fork child, so nothing here
 * allocates: system calls, stack and static buffers only.
 *
 * Every failure returns NULL and sets *why to one line (a static buffer,
 * valid until the next call) naming the directory or file and the problem.
 */
#ifndef HS_INTERPOSE_LIVEFILE_H
#define HS_INTERPOSE_LIVEFILE_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Make the directory if missing (0700), check it is a private directory of
 * ours (not a symlink, owned by our euid, no group/other bits), create
 * <dir>/.<pid>.new (0600, O_EXCL|O_NOFOLLOW; a stale file of an earlier
 * process with our pid is replaced), size it and map it shared. The mapping
 * is zero-filled; the path it is published under, <dir>/<pid>, goes to
 * path_out. */
void *hs_livefile_create(size_t size, char *path_out, size_t path_cap, const char **why);

/* Once the header is written: the file renamed to <dir>/<pid>, where
 * readers look (they never see it before it is a live file). 0, or -1 with
 * *why (the file removed; the counters stay in the unlinked mapping). */
int hs_livefile_publish(const char **why);

/* In a fork child (single-threaded): give the child a file of its own in
 * the same directory holding `used` bytes from src (the counters as they
 * were at the fork, copied before it: the parent goes on writing region;
 * NULL: region itself), mapped at region's address so pointers into it stay
 * valid. Returns region. On failure
 * the region becomes a private copy (the child never writes into the
 * parent's file) and NULL is returned with *why. */
void *hs_livefile_fork_child(void *region, const void *src, size_t size, size_t used,
                             char *path_out, size_t path_cap, const char **why);

/* In a fork child (single-threaded): the region becomes private memory
 * holding `used` bytes from src (NULL: region itself), with no file yet;
 * hs_livefile_fork_child(region, NULL, ...) makes the file from it later.
 * 0, or -1 (no memory: the region is still the parent's mapping). */
int hs_livefile_fork_private(void *region, const void *src, size_t size, size_t used);

/* Remove the file: relative to the directory, and only if the directory
 * and the file are still the ones this process created. exiting (a normal
 * exit): renamed for a running collector instead (live.h "Where it
 * lives"). */
void hs_livefile_remove(const char *path, bool exiting);
/* a collector runs for the live directory (live.h "Where it lives") */
bool hs_livefile_collector_running(void);
/* Remove NAME from the live directory, only if the directory and the entry
 * are still the ones this process made (device and inode of each, as
 * created): the one identity-checked removal of the live file and of the
 * heap profile (interpose/proffile.c). */
void hs_livefile_unlink_own(const char *name, dev_t dir_dev, ino_t dir_ino, dev_t file_dev, ino_t file_ino);

/* The effective uid changed: the file again, in the new user's default
 * directory (see livefile.c). */
void *hs_livefile_rehome(void *region, size_t size, size_t used, char *path_out, size_t path_cap,
                         const char **why);

/* Between hs_livefile_create and hs_livefile_publish (both in the
 * start-up, no program code in between): the live directory's descriptor,
 * opened and checked at creation, or -1. Not to be closed by the caller. */
int hs_livefile_start_dirfd(void);

/* The directory the live file was created in ("" if none): the heap
 * profile's file goes next to it (proffile.c). */
const char *hs_livefile_dir(void);

#endif
