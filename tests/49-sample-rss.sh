#!/bin/bash
# tests/49-sample-rss.sh - the resident memory the sampler's own state costs
# (docs/profiling.md "Cost", "Peak RSS"), counted exactly: the pages of the
# shim's writable data (its rw-p segment and .bss) and of the profile file
# that are resident, from /proc/self/smaps (which counts page tables, unlike
# ru_maxrss: the kernel's RSS counters are per-CPU and batched, so a few
# pages more move a 3 MB program's ru_maxrss by up to about 128 KiB either
# way). prog_samplerealloc pages allocates 20,000 small blocks (a third
# realloc'd, half freed) and prints both; it runs with ASLR off (setarch -R)
# so that both runs place every mapping alike, at rate 0 and at the default
# rate. The sampler's statics must add at most 3 pages (12 KiB: the hot
# scalars with the stack index's head, the module staging's head, the
# unwinder's object records); they were 6 (24 KiB: a free-entry table of
# 128 KiB and the scalars, index and staging on pages of their own). The
# profile file: at most 4 pages at the default rate (header and modules,
# stack table, live table).
. "$(dirname "$0")/lib.sh"
P="$ROOT/$B/tests/prog_samplerealloc"
[ -f "$SHIM" ] || { fail sample-rss-built "no $SHIM (run make)"; finish; }
[ -x "$P" ] || { fail sample-rss-built "no $P (run make test-bins)"; finish; }
unset HEAPSHIM_PROFILE_UNWIND HEAPSHIM_PROFILE_OUT HEAPSHIM_PROFILE_SEED HEAPSHIM_ALLOCATOR

if ! setarch "$(uname -m)" -R true 2> /dev/null; then
    skip sample-rss-statics "setarch -R (ASLR off) not permitted here"
    finish
fi
pages() {   # rate -> "data prof"
    HEAPSHIM_PROFILE_RATE=$1 LD_PRELOAD="$SHIM" setarch "$(uname -m)" -R "$P" pages 20000 2> "$TMPD/err" |
        sed -n 's/^shim-data-kib \([0-9]*\) profile-file-kib \([0-9]*\)$/\1 \2/p'
}
off=$(pages 0) on=$(pages 512k)
set -- $off $on
if [ $# != 4 ]; then
    fail sample-rss-statics "could not measure: rate 0 '$off', default '$on': $(head -c 300 "$TMPD/err")"
elif [ "$3" -lt "$1" ] || [ "$2" != 0 ]; then
    fail sample-rss-statics "rate 0: shim data $1 KiB, profile file $2 KiB; default: $3 KiB, $4 KiB (expected no file at rate 0, no less data with sampling)"
elif [ $(($3 - $1)) -gt 12 ]; then
    fail sample-rss-statics "the sampler's statics cost $(($3 - $1)) KiB resident (shim data $1 -> $3 KiB; want <= 12)"
elif [ "$4" -gt 16 ]; then
    fail sample-rss-statics "the profile file costs $4 KiB resident (want <= 16)"
elif [ "$4" = 0 ]; then
    fail sample-rss-statics "no profile file resident at the default rate: nothing sampled?"
else
    pass sample-rss-statics
    echo "    shim data $1 -> $3 KiB (+$(($3 - $1))), profile file $4 KiB"
fi
finish
