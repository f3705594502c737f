#!/bin/bash
# tests/33-realloc.sh - the default mode's realloc policy (core/internal.h
# hs_grow_room, hs_realloc_stays), measured with prog_growchain:
#   chain     a block grown from 1 to 8192 bytes one byte per realloc moves at
#             most 20 times (room for a quarter at each move; 16-byte classes
#             and glibc's 16-byte chunks alone moved it 33 times), keeps every
#             byte, and the counters stay exact: one realloc per call, live
#             bytes = the final block's malloc_usable_size + the blockers'
#   stay      a realloc that fits the block as it is allocates nothing, so it
#             is not charged to the sampling countdown: 200,000 such reallocs
#             at a 4 KiB rate give (nearly) no samples besides a 64 KiB
#             control block's (charging each call's size gave 41,322)
#   malloc    HEAPSHIM_ALLOCATOR=malloc keeps glibc's decisions: same chain,
#             counters exact
. "$(dirname "$0")/lib.sh"
[ -f "$SHIM" ] || { skip realloc "no $SHIM"; finish; }
PROG="$ROOT/$B/tests/prog_growchain"
[ -x "$PROG" ] || PROG="$ROOT/build/tests/prog_growchain"
[ -x "$PROG" ] || { fail realloc-build "no prog_growchain (make test-bins)"; finish; }
HS="$ROOT/build/heapshim"

# chain_case NAME MAX_MOVES [ENV...]
chain_case() {
    local name=$1 maxm=$2; shift 2
    local out
    out=$(env "$@" LD_PRELOAD="$SHIM" "$PROG" chain 8192 2>&1)
    set -- $out
    if [ "$1" != moves ] || [ $# -lt 12 ]; then fail "$name" "prog_growchain: $out"; return; fi
    local moves=$2 reallocs=$4 delta=$6 usable=$8 bu=${10} calls=${12}
    if [ "$reallocs" != "$calls" ]; then
        fail "$name" "reallocs counted $reallocs, calls $calls"
    elif [ "$delta" != $((usable + bu)) ]; then
        fail "$name" "live bytes moved by $delta, the blocks' usable sizes sum to $((usable + bu))"
    elif [ -n "$maxm" ] && [ "$moves" -gt "$maxm" ]; then
        fail "$name" "the chain moved $moves times (at most $maxm)"
    else
        pass "$name"; echo "    moves $moves, reallocs $reallocs, live +$delta B = final block $usable + blockers $bu"
    fi
}
chain_case realloc-chain 20
chain_case realloc-chain-malloc "" HEAPSHIM_ALLOCATOR=malloc

mkdir -p "$TMPD/prof"
out=$(HEAPSHIM_PROFILE_RATE=4096 HEAPSHIM_PROFILE_OUT="$TMPD/prof" LD_PRELOAD="$SHIM" "$PROG" stay 200000 2>&1)
samples=$("$HS" profile "$TMPD"/prof/*.prof 2>/dev/null | head -1 | sed -n 's/.*, \([0-9]*\) samples.*/\1/p')
if [ "$out" != "moves 0" ]; then
    fail realloc-stay "a realloc that fits moved the block: $out"
elif [ -z "$samples" ]; then
    fail realloc-stay "no profile written ($(ls "$TMPD/prof"))"
elif [ "$samples" -lt 1 ] || [ "$samples" -gt 4 ]; then
    fail realloc-stay "$samples samples: 1 expected for the 64 KiB control, at most 3 more (reallocs that allocate nothing are not charged)"
else
    pass realloc-stay; echo "    200000 reallocs in place, $samples samples at a 4 KiB rate"
fi
finish
