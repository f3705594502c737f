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

HS_TLS char hs_lock_anchor;

void hs_lock_slow(hs_lock_t *l)
{
    for (unsigned spins = 0;; spins++) {
        if (!__atomic_load_n(&l->v, __ATOMIC_RELAXED) &&
            !__atomic_exchange_n(&l->v, hs_lock_me(), __ATOMIC_ACQUIRE))
            return;
#if defined(__x86_64__) || defined(__i386__)
        if (spins < 64) { __builtin_ia32_pause(); continue; }
#endif
        if (spins < 64) continue;
        sched_yield();
    }
}
