#!/bin/bash
# tests/53-quiet-pages.sh - the shim does not make glibc's printf code
# resident in a program that never prints (interpose/strbuf.h). The kernel
# maps a file's pages around a fault by 64 KiB windows, so one snprintf or
# dlerror() (which formats with asprintf) at start-up made the windows of
# vfprintf resident in every shimmed process: about 110 KiB more RSS (of a
# 2 MB program's 0.7 MB of shim overhead). prog_quiet_pages allocates small
# and large blocks (so the shim starts, samples and publishes), then reads
# /proc/self/pagemap for the page of vfprintf with raw system calls. Plain,
# the page must be absent (else this libc or kernel maps it anyway: SKIP);
# under the shim, in every mode, it must be absent too. The old code fails:
# resident in the default and malloc modes.
. "$(dirname "$0")/lib.sh"
P="$ROOT/$B/tests/prog_quiet_pages"
[ -f "$SHIM" ] || { fail quiet-pages-built "no $SHIM (run make)"; finish; }
[ -x "$P" ] || { fail quiet-pages-built "no $P (run make test-bins)"; finish; }
unset HEAPSHIM_ALLOCATOR HEAPSHIM_PROFILE_RATE HEAPSHIM_REPORT HEAPSHIM_STATS

state() { "$@" 2> "$TMPD/err" | sed -n 's/^vfprintf \([a-z]*\)$/\1/p'; }
plain=$(state "$P" 200)
if [ "$plain" != absent ]; then
    skip quiet-pages "vfprintf's page is '$plain' in the plain program (this libc or kernel maps it anyway)"
    finish
fi
for mode in pymalloc malloc pymalloc_debug; do
    got=$(HEAPSHIM_ALLOCATOR=$mode state env LD_PRELOAD="$SHIM" "$P" 200)
    if [ "$got" = absent ]; then
        pass "quiet-pages-$mode: vfprintf's page absent, as in the plain program"
    else
        fail "quiet-pages-$mode" "vfprintf's page is '$got' under the shim (plain: absent): the shim formatted with stdio on its normal path; $(head -c 200 "$TMPD/err")"
    fi
done
finish
