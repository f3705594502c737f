#!/bin/bash
# tests/25-glibc-threads.sh - the shim and glibc's own allocator in threaded
# programs: glibc is brought up on the main thread by the shim (core/init.c),
# so worker threads that make their first glibc allocation together do not
# race through glibc's unlocked one-time setup (which aborted wl_mt and this
# program at thread exit: "a->attached_threads > 0").
. "$(dirname "$0")/lib.sh"
[ -f "$SHIM" ] || { skip glibc-threads "no $SHIM"; finish; }
prog="$ROOT/$B/tests/glibc_arenas"
[ -x "$prog" ] || prog="$ROOT/build/tests/glibc_arenas"

# deterministic: the main thread owns main_arena, each worker gets its own
out=$(LD_PRELOAD="$SHIM" "$prog" 4 2>&1); rc=$?
if [ $rc = 0 ] && [ "$out" = 5 ]; then pass glibc-main-arena-on-main-thread
else fail glibc-main-arena-on-main-thread "expected 5 glibc arenas (main + 4 workers), got '$out' (rc=$rc)"; fi

finish
