/*
 * core/lock.c - the contended half of hs_lock (fast half inline in internal.h).
 *
 * Room: locking only. A test-and-test-and-set lock: spin briefly with pause,
 * then yield. Critical sections in the core are short (moving a batch of
 * blocks between a thread bin and the central pools), so a futex would buy
 * little; what we need is no allocation, static init, and a trivial reset in
 * a fork child.
 */
#include "internal.h"
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

HS_TLS char hs_lock_anchor;

/* This thread holds the lock it asks for: the code that took it was
 * interrupted (a signal handler that allocates) and cannot go on until the
 * handler returns, which it will not do while it waits. */
static HS_NOINLINE void lock_reentered(void)
{
    static const char msg[] = "heapshim: the allocator was entered again on a thread that holds its lock"
                              " (malloc or free from a signal handler that interrupted them?): aborting\n";
    (void)!write(2, msg, sizeof msg - 1);
    abort();
}

void hs_lock_slow(hs_lock_t *l)
{
    if (__atomic_load_n(&l->v, __ATOMIC_RELAXED) == hs_lock_me()) lock_reentered();
    for (unsigned spins = 0;; spins++) {
        if (!__atomic_load_n(&l->v, __ATOMIC_RELAXED) && hs_lock_cas(l)) return;
#if defined(__x86_64__) || defined(__i386__)
        if (spins < 64) { __builtin_ia32_pause(); continue; }
#endif
        if (spins < 64) continue;
        sched_yield();
    }
}
