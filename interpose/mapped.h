/*
 * interpose/mapped.h - the program's own mappings (mapped.c).
 *
 * Room: what lifecycle.c needs of mapped.c. The figures themselves are read
 * from the live header by the core (hs_live_mapped_now, core/live.c).
 */
#ifndef HS_INTERPOSE_MAPPED_H
#define HS_INTERPOSE_MAPPED_H

/* fork: 0 prepare (holds the register's lock, so the child's copy of the
 * counters is between two updates), 1 parent, 2 child */
void hs_mapped_fork(int phase);

#endif
