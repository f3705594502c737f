/*
 * interpose/proffile.h - the heap profile's settings and file (proffile.c),
 * for lifecycle.c.
 */
#ifndef HS_INTERPOSE_PROFFILE_H
#define HS_INTERPOSE_PROFFILE_H
void hs_profile_setup(void);          /* HEAPSHIM_PROFILE_*: at start-up */
void hs_profile_live_dir_ready(void); /* the live directory exists: the unwind store goes there */
void hs_profile_fork(int phase);      /* 0 prepare, 1 parent, 2 child */
void hs_profile_publish(void);        /* a fork child lives on: its file, with its live file */
void hs_profile_exit(void);           /* the unwind store; copy to HEAPSHIM_PROFILE_OUT, remove the file */
#endif
