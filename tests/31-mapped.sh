#!/bin/bash
# tests/31-mapped.sh - mapped memory (include/heapshim/live.h, "Mapped
# memory"; interpose/mapped.c): the program's own anonymous private mappings
# counted exactly, in the domain its caller is routed to, and nothing else.
#   exact      build/tests/prog_mapped mmaps, munmaps, mremaps (growth,
#              shrink), mprotects and madvises known sizes and checks every
#              figure after each step, peaks included; MAP_SHARED, file
#              mappings, glibc's own mapping of a 64 MiB malloc block and the
#              shim's arenas must not move them
#   route      HEAPSHIM_ROUTE sends the program's bytes to obj / raw
#   race       8 threads mmap/mremap/munmap at once; exact final figures,
#              a reader thread checks every read (live <= peak, total = sum)
#   fork       a fork child starts from the parent's figures, counts its own
#   core       no core object calls libc's mmap family (raw system calls)
#   reader     another process reads the live file while they race
#              (build/tests/filereader: the CLI's reader) and checks every read
#   report     HEAPSHIM_REPORT carries the figures (schema heapshim-report/2)
. "$(dirname "$0")/lib.sh"
[ -f "$SHIM" ] || { skip mapped "no $SHIM"; finish; }
PROG="$ROOT/$B/tests/prog_mapped"
[ -x "$PROG" ] || { skip mapped "$PROG not built (make test-bins)"; finish; }

check() {   # name expected-rc command...
    local name=$1; shift
    local out="$TMPD/$name.out"
    timeout 120 env LD_PRELOAD="$SHIM" "$@" >"$out" 2>&1; local rc=$?
    if [ $rc = 0 ] && grep -q '^PASS' "$out" && ! grep -q '^FAIL' "$out"; then
        pass "$name: $(grep '^PASS' "$out" | head -1)"
    else
        fail "$name" "exit $rc: $(grep -m3 -A5 '^FAIL' "$out" | tr '\n' ' ' | head -c 900)"
    fi
}

for mode in pymalloc malloc; do
    check "mapped-exact-$mode" HEAPSHIM_ALLOCATOR=$mode "$PROG" exact
done
check mapped-route-obj HEAPSHIM_ROUTE='prog_mapped=obj' "$PROG" exact obj
check mapped-route-raw HEAPSHIM_ROUTE='libc.so*=obj,prog_*=raw' "$PROG" exact raw
check mapped-race HEAPSHIM_ALLOCATOR=pymalloc "$PROG" race 8 20000
check mapped-fork "$PROG" fork

# the core maps through raw system calls (core/prim/sys.c), never through
# the exported symbols: no core object refers to libc's mmap family (the
# interposer's own calls, livefile.c and deepbind.c, pass uncounted)
refs=""
for o in "$ROOT/$B"/core/*.o "$ROOT/$B"/core/prim/*.o; do
    [ -f "$o" ] || continue
    u=$(nm -u "$o" 2>/dev/null | awk '{print $2}' | grep -xE 'mmap|mmap64|munmap|mremap|mprotect|madvise' | tr '\n' ' ')
    [ -n "$u" ] && refs="$refs ${o##*/}: $u"
done
if ! command -v nm >/dev/null; then skip mapped-core-raw-syscalls "no nm"
elif [ -z "$(ls "$ROOT/$B"/core/*.o 2>/dev/null)" ]; then skip mapped-core-raw-syscalls "no core objects in $B"
elif [ -z "$refs" ]; then pass mapped-core-raw-syscalls
else fail mapped-core-raw-syscalls "core objects call libc's mapping functions:$refs"; fi

# another process reads while the threads race
READER="$ROOT/$B/tests/filereader"
if [ -x "$READER" ]; then
    ldir="$TMPD/reader.live"; mkdir -m 700 "$ldir"
    # 50000 rounds: about 17 s here, for the reader's 2 s (200000 took 70 s)
    HEAPSHIM_DIR="$ldir" LD_PRELOAD="$SHIM" "$PROG" race 4 50000 >"$TMPD/race2.out" 2>&1 & rp=$!
    for _ in $(seq 100); do [ -f "$ldir/$rp" ] && break; sleep 0.05; done
    timeout 60 "$READER" "$ldir/$rp" 2 100000000 >"$TMPD/reader.out" 2>&1; rc=$?
    wait $rp; prc=$?
    if [ $rc = 0 ] && [ $prc = 0 ]; then pass "mapped-reader-other-process: $(cat "$TMPD/reader.out")"
    else fail mapped-reader-other-process "reader exit $rc: $(cat "$TMPD/reader.out"); program exit $prc: $(tail -1 "$TMPD/race2.out")"; fi
else
    skip mapped-reader-other-process "$READER not built"
fi

# the exit report: 8 MiB mapped and held to the end, peak 8 MiB
rep="$TMPD/rep.json"
HEAPSHIM_REPORT="$rep" LD_PRELOAD="$SHIM" "$PROG" hold 8 0 >/dev/null 2>&1
if [ -f "$rep" ] && "$PY" - "$rep" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
m = r["mapped"]
ok = (r["schema"] == "heapshim-report/2" and m["live_bytes"] == 8 << 20 and m["peak_bytes"] == 8 << 20
      and m["maps"] == 1 and m["unmaps"] == 0 and m["domains"]["mem"]["live_bytes"] == 8 << 20
      and r["rss_anon_bytes"] > 8 << 20)
print(json.dumps(m)[:300], r.get("rss_anon_bytes"))
sys.exit(0 if ok else 1)
PYEOF
then pass mapped-report
else fail mapped-report "$(cat "$rep" 2>/dev/null | head -c 600)"; fi

finish
