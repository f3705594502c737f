#!/bin/bash
# tests/54-claim-cost.sh - what the peak protocol (include/heapshim/live.h
# "Peaks", core/live.c) costs a thread that frees and allocates blocks
# larger than the small classes, one after the other.
#
# A thread's pending bytes move by each block's size; when a call takes
# them past the thread's grant, the thread claims or releases (about 300
# instructions and two locked adds each). A lone thread's grant was a
# quarter of the budget (8 KiB below 6.4 MiB of peak): a ring of
# 12,000-byte blocks then claimed at every malloc and released at every
# free, 1,067 instructions a malloc+free pair against glibc's 297. With
# half the budget (16 KiB) it claims no more: 433. 4,000-byte blocks (415,
# never past the grant) are the control. Blocks above the grant (17,000
# bytes) still claim and release at every call: 1,071 instructions a pair,
# 955 once a claim no longer looks for a release nor a release for a claim,
# 766 with the claim and release of the two indices (domain, total) inlined
# into one function each (core/live.c).
#
# claim-cost-SIZE: instructions (cachegrind, sampling off) of a 64-slot ring
# of SIZE..SIZE+56-byte blocks under the shim, minus the same plain, per
# malloc+free pair, must stay under the size's budget (250 below the grant,
# 550 above it). SKIP without valgrind, or when
# valgrind cannot read the shim's debug information (a clang build).
. "$(dirname "$0")/lib.sh"
[ -f "$SHIM" ] || { fail claim-cost-built "no $SHIM (run make)"; finish; }
why=$(valgrind_why)
[ -z "$why" ] || { skip claim-cost "$why"; finish; }
N=100000
cat > "$TMPD/ring.c" <<'EOF'
#include <stdlib.h>
int main(int argc, char **argv)
{
    long n = atol(argv[1]);
    size_t sz = (size_t)atol(argv[2]);
    static void *ring[64];
    void *volatile sink;
    for (long i = 0; i < n; i++) {
        unsigned k = (unsigned)i & 63;
        free(ring[k]);
        ring[k] = malloc(sz + (size_t)(i & 7) * 8);
        sink = ring[k];
    }
    (void)sink;
    return 0;
}
EOF
cc -O2 -o "$TMPD/ring" "$TMPD/ring.c" || { fail claim-cost-built "ring.c does not compile"; finish; }
irefs() {   # irefs [ENV...] -- instructions of one ring run
    env "$@" HEAPSHIM_PROFILE_RATE=0 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$TMPD/ring" "$N" "$SIZE" 2>&1 >/dev/null | awk '/I *refs/ {gsub(",", "", $4); print $4}'
}
for SB in 4000:250 12000:250 17000:550; do
    SIZE=${SB%:*} BUDGET=${SB#*:}
    plain=$(irefs) shim=$(irefs LD_PRELOAD="$SHIM")
    if [ -z "$plain" ] || [ -z "$shim" ]; then
        fail claim-cost-$SIZE "no instruction count (plain '$plain', shim '$shim')"
        continue
    fi
    extra=$(( (shim - plain) / N ))
    if [ "$extra" -le "$BUDGET" ]; then
        pass "claim-cost-$SIZE: $extra instructions a pair above glibc's $((plain / N)) (budget $BUDGET)"
    else
        fail claim-cost-$SIZE "$extra instructions a pair above glibc's $((plain / N)) (budget $BUDGET)"
    fi
done
finish
