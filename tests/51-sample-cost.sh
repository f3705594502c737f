#!/bin/bash
# tests/51-sample-cost.sh - what one sample costs the allocating thread
# (core/sample.c, core/unwind.c; docs/profiling.md "Cost"), and that taking
# it leaves the program's errno alone.
#
# sample-errno: prog_samplecost nofiles runs with RLIMIT_NOFILE at 3, so
#   that everything the sampler opens inside malloc fails with EMFILE (the
#   profile file, /proc/self/stat, the objects' files for unwind tables);
#   malloc must leave errno as it was, every time. (The profile region made
#   at the first sample changed it once: fixed with this test.)
# sample-cost: prog_samplecost allocates blocks of 64-127 KiB through two
#   functions of its own and frees them; at rate 4k every allocation is
#   sampled. Instructions (cachegrind, children traced) at rate 4k minus
#   rate 0, divided by the samples, must stay under SAMPLE_BUDGET: 1,461 on
#   the tree before the walk started in its caller's frame and interning
#   hashed with one multiply a frame, 1,316 after (gcc 12, Debian 12);
#   1,377 since bf85b7b, whose cheaper claims and releases (every one of
#   these blocks claims or releases) saved more at rate 0, on the bare
#   blocks' path, than at rate 4k: the sample itself did not grow. 1,405
#   since stop 30 (1,384 before): the loader's generation, read at every
#   sample, goes through a gate that a fork closes (prim/sys.c,
#   hs_dl_iterate: a fork child hung at its first sample when another
#   thread was sampling at the fork). 1,516 since stop 33: a sample is a
#   clock look too (the window it ends was a tick; a thread that sampled
#   often went several windows without a look, and a raw clone child
#   counted into its parent past the bound); budget 1,540.
#   SKIP without valgrind, or when valgrind cannot read the shim's debug
#   information (a clang build's DWARF 5).
. "$(dirname "$0")/lib.sh"
P="$ROOT/$B/tests/prog_samplecost"
[ -f "$SHIM" ] || { fail sample-cost-built "no $SHIM (run make)"; finish; }
[ -x "$P" ] || { fail sample-cost-built "no $P (run make test-bins)"; finish; }
unset HEAPSHIM_PROFILE_UNWIND HEAPSHIM_PROFILE_OUT
SAMPLE_BUDGET=1540

for unwind in dwarf verify; do
    out=$(HEAPSHIM_PROFILE_SEED=1 HEAPSHIM_PROFILE_RATE=4k HEAPSHIM_PROFILE_UNWIND=$unwind LD_PRELOAD="$SHIM" "$P" nofiles 3000 2> "$TMPD/err")
    rc=$?
    if [ $rc = 0 ] && [ "$out" = "errno-kept 3000" ]; then
        pass sample-errno-$unwind
    else
        fail sample-errno-$unwind "exit $rc, '$out': $(grep -v 'unwind verify' "$TMPD/err" | head -c 300)"
    fi
done

if vg_why=$(valgrind_why) && [ -n "$vg_why" ]; then
    skip sample-cost "$vg_why"
else
    irefs() {   # rate
        HEAPSHIM_PROFILE_SEED=1 HEAPSHIM_PROFILE_RATE=$1 valgrind --tool=cachegrind --cache-sim=no --trace-children=yes \
            --cachegrind-out-file=/dev/null env LD_PRELOAD="$SHIM" "$P" 20000 2> "$TMPD/vg.$1" > /dev/null
        sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' "$TMPD/vg.$1" | tr -d , | tail -1
    }
    samples=$(HEAPSHIM_PROFILE_SEED=1 HEAPSHIM_PROFILE_RATE=4k LD_PRELOAD="$SHIM" "$P" 20000 | sed -n 's/^samples \([0-9]*\) dropped 0$/\1/p')
    off=$(irefs 0) on=$(irefs 4k)
    if [ -z "$off" ] || [ -z "$on" ] || [ -z "$samples" ] || [ "$samples" -lt 19000 ]; then
        fail sample-cost "could not measure: rate 0 '$off', rate 4k '$on', samples '$samples' (want >= 19000 of 20000)"
    else
        per=$(( (on - off) / samples ))
        if [ "$per" -le $SAMPLE_BUDGET ]; then
            pass sample-cost; echo "    $samples samples: $per instructions each (budget $SAMPLE_BUDGET; rate 0 $off, rate 4k $on)"
        else
            fail sample-cost "$samples samples: $per instructions each (budget $SAMPLE_BUDGET; rate 0 $off, rate 4k $on)"
        fi
    fi
fi
finish
