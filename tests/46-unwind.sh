#!/bin/bash
# tests/46-unwind.sh - the sampler's cached stack walk (core/unwind.c)
# against libgcc's _Unwind_Backtrace, frame by frame:
# HEAPSHIM_PROFILE_UNWIND=verify walks every sample both ways and counts the
# samples whose recorded stacks differ (the first few printed in full), and
# how many the cache walked (the rest fell back to libgcc), and where the
# rules were read (the objects' files or the store, >= 95%: reading .eh_frame in memory
# made it resident, +1.8 MiB for cc1). Programs: deep
# chains through plain, alloca (rbp-based CFA) and 64 KiB frames past the
# 32-frame cap, every entry point (tests/shim/prog_unwind.c); the same in 4
# threads; a library dlopened and dlclosed between samples; allocations in
# signal handlers, on the thread's stack and on a sigaltstack (these must
# fall back: a signal frame is outside the cache's rules); a C++ program throwing exceptions; python3 and gcc. Then: a
# hostile stack (callers' frames overwritten with garbage, stack and code
# addresses) must not crash the default walk; a bad HEAPSHIM_PROFILE_UNWIND
# warns and names the accepted values; and, with valgrind, a sample costs
# less than a fifth of libgcc's instructions.
. "$(dirname "$0")/lib.sh"
P="$ROOT/$B/tests/prog_unwind"
[ -f "$SHIM" ] || { fail unwind-built "no $SHIM (run make)"; finish; }
[ -x "$P" ] || { fail unwind-built "no $P (run make test-bins)"; finish; }
unset HEAPSHIM_PROFILE_SEED HEAPSHIM_PROFILE_UNWIND

# sum the verify summaries of stderr file $1: "samples cached differ processes
# rules-from-files rules-in-memory rules-from-the-store" (the store: rules
# kept by earlier runs in the live directory, tests/56-unwind-store.sh)
verify_sums() {
    sed -n 's/^heapshim: unwind verify: \([0-9]*\) samples, \([0-9]*\) walked by the cache, \([0-9]*\) differ; rules: \([0-9]*\) from files, \([0-9]*\) in memory, \([0-9]*\) from the store$/\1 \2 \3 \4 \5 \6/p' "$1" |
        awk '{ s += $1; c += $2; d += $3; f += $4; m += $5; t += $6; n++ } END { if (n) print s, c, d, n, f, m, t }'
}

# check NAME ERRFILE MIN_SAMPLES MIN_CACHED_PERMILLE [MIN_FALLBACKS [ANY_MEMORY]]
verify_check() {
    local name=$1 err=$2 min=$3 permille=$4 minfb=${5:-} anymem=${6:-}
    local sums; sums=$(verify_sums "$err")
    if [ -z "$sums" ]; then
        fail "$name" "no verify summary: $(head -c 400 "$err")"
        return
    fi
    set -- $sums
    local s=$1 c=$2 d=$3 procs=$4 rf=$5 rm=$6 rs=$7
    if [ "$d" != 0 ]; then
        fail "$name" "$d of $s samples differ from libgcc's walk: $(grep differ\; "$err" | head -2 | cut -c1-600)"
    elif [ "$s" -lt "$min" ]; then
        fail "$name" "$s samples, expected at least $min"
    elif [ $((c * 1000)) -lt $((s * permille)) ]; then
        fail "$name" "only $c of $s samples walked by the cache (want >= $permille per mille)"
    elif [ -n "$minfb" ] && [ $((s - c)) -lt "$minfb" ]; then
        fail "$name" "$c of $s samples walked by the cache: at least $minfb cross a signal frame and must be libgcc's"
    elif [ -z "$anymem" ] && [ $(( (rf + rs) * 100 )) -lt $(( (rf + rs + rm) * 95 )) ]; then
        fail "$name" "unwind rules: $rf read from the objects' files, $rs from the store, $rm in memory (want >= 95% from files or the store)"
    else
        pass "$name"; echo "    $s samples in $procs process(es), $c walked by the cache, 0 differ; rules: $rf from files, $rm in memory, $rs from the store"
    fi
}

# 1. the test program's chains, threads, signal handlers: every allocation sampled
for mode in chains threads signal; do
    out=$(HEAPSHIM_PROFILE_UNWIND=verify HEAPSHIM_PROFILE_RATE=1 LD_PRELOAD="$SHIM" "$P" $mode 2> "$TMPD/$mode.err")
    n=${out#$mode }
    case $n in ''|*[!0-9]*) fail "unwind-verify-$mode" "program said '$out': $(head -c 300 "$TMPD/$mode.err")"; continue ;; esac
    if [ $mode = signal ]; then
        # 200 raises, each handler allocating 4 times: those 800 samples
        # cross a signal frame and must be libgcc's. A signal frame's rule is
        # read in memory by design (libc's sigreturn trampoline, one FDE),
        # once: before the cache's victim ring, in about a third of runs (by
        # where ASLR puts libc, the shim and the program) that rule shared a
        # two-way set with two other hot return addresses and the three
        # refilled each other at every raise (100 reads of the one FDE
        # against 250 from files, where other runs read it once against 30)
        verify_check "unwind-verify-$mode" "$TMPD/$mode.err" "$n" 400 800
        rm_=$(verify_sums "$TMPD/$mode.err" | awk '{print $6}')
        if [ "${rm_:-0}" -le 2 ]; then pass unwind-signal-rule-once
        else fail unwind-signal-rule-once "the signal frame's rule was read in memory $rm_ times (want at most 2: one FDE)"; fi
    else
        verify_check "unwind-verify-$mode" "$TMPD/$mode.err" "$n" 995
    fi
done

# 1b. objects loaded and unloaded between samples (the cache is emptied at
# each change, a new object may sit where the last one was)
# (a library of its own, built here: a SAN build has no tests/libroutetest.so)
LIBRT="$TMPD/libroutetest.so"
CC_BIN=$(command -v cc || command -v gcc || true)
if [ -z "$CC_BIN" ]; then
    skip unwind-verify-dlclose "no C compiler to build tests/shim/libroutetest.c"
elif ! "$CC_BIN" -O2 -shared -fPIC -o "$LIBRT" "$ROOT/tests/shim/libroutetest.c" 2> "$TMPD/dl.cc"; then
    fail unwind-verify-dlclose "libroutetest.c does not compile: $(head -c 300 "$TMPD/dl.cc")"
else
    out=$(HEAPSHIM_PROFILE_UNWIND=verify HEAPSHIM_PROFILE_RATE=1 LD_PRELOAD="$SHIM" "$P" dlclose "$LIBRT" 2> "$TMPD/dl.err")
    if [ "$out" != "dlclose 15000" ]; then
        fail unwind-verify-dlclose "program said '$out': $(head -c 300 "$TMPD/dl.err")"
    else
        verify_check unwind-verify-dlclose "$TMPD/dl.err" 15000 995
    fi
fi

# 2. C++: exceptions thrown while every allocation is sampled (frames of
# libstdc++ and of the program's libgcc_s on the stacks)
CXX_BIN=$(command -v g++ || true)
if [ -z "$CXX_BIN" ]; then
    skip unwind-verify-cxx "no g++ to build tests/shim/prog_exceptions.cpp"
elif ! "$CXX_BIN" -O2 -o "$TMPD/prog_exceptions" "$ROOT/tests/shim/prog_exceptions.cpp" 2> "$TMPD/cxx.cc"; then
    fail unwind-verify-cxx "g++ failed: $(head -3 "$TMPD/cxx.cc")"
else
    out=$(HEAPSHIM_PROFILE_UNWIND=verify HEAPSHIM_PROFILE_RATE=1 LD_PRELOAD="$SHIM" "$TMPD/prog_exceptions" 2> "$TMPD/cxx.err")
    if [ "$out" != "caught 20000" ]; then
        fail unwind-verify-cxx "program said '$out': $(head -c 300 "$TMPD/cxx.err")"
    else
        verify_check unwind-verify-cxx "$TMPD/cxx.err" 20000 990
    fi
fi

# 3. real programs: python3 building and parsing JSON, gcc compiling a
# generated file (cc1 and as: one summary per process)
HEAPSHIM_PROFILE_UNWIND=verify HEAPSHIM_PROFILE_RATE=4k LD_PRELOAD="$SHIM" "$PY" -c '
import json
d = [{"k": i, "v": str(i) * 7, "l": list(range(i % 13))} for i in range(60000)]
s = json.dumps(d); assert len(json.loads(s)) == 60000' > /dev/null 2> "$TMPD/py.err"
verify_check unwind-verify-python3 "$TMPD/py.err" 2000 990
if ! command -v gcc > /dev/null; then
    skip unwind-verify-gcc "no gcc"
else
    gen_c_file "$TMPD/big.c"
    HEAPSHIM_PROFILE_UNWIND=verify HEAPSHIM_PROFILE_RATE=16k LD_PRELOAD="$SHIM" gcc -O2 -c "$TMPD/big.c" -o "$TMPD/big.o" 2> "$TMPD/gcc.err"
    verify_check unwind-verify-gcc "$TMPD/gcc.err" 1000 990
fi

# 4. a hostile stack: the default walk must survive it (libgcc's, which
# follows whatever the frames point at, is killed by SIGSEGV here)
out=$(HEAPSHIM_PROFILE_RATE=1 LD_PRELOAD="$SHIM" "$P" hostile 5000 2> "$TMPD/hostile.err"); rc=$?
if [ $rc = 0 ] && [ "$out" = "hostile 5000" ]; then
    pass unwind-hostile-stack
else
    fail unwind-hostile-stack "exit $rc, said '$out': $(head -c 300 "$TMPD/hostile.err")"
fi

# 5. a bad value: one warning naming it and what is accepted; the default walk
out=$(HEAPSHIM_PROFILE_UNWIND=bogus HEAPSHIM_PROFILE_RATE=1 LD_PRELOAD="$SHIM" "$P" chains 2>&1 >/dev/null)
if [ "$(echo "$out" | grep -c 'HEAPSHIM_PROFILE_UNWIND=bogus')" = 1 ] &&
   echo "$out" | grep -q 'accepted: dwarf, libgcc, fp, verify'; then
    pass unwind-mode-bad
else
    fail unwind-mode-bad "stderr: $(echo "$out" | head -c 300)"
fi

# 6. the cost: instructions per sample (callgrind, whole process, minus the
# same run with sampling off) of the cached walk against libgcc's
FP="$ROOT/$B/tests/prog_fpchain"
if vg_why=$(valgrind_why) && [ -n "$vg_why" ]; then
    skip unwind-cost "$vg_why"
elif [ ! -x "$FP" ]; then
    fail unwind-cost "no $FP"
else
    irefs() {   # rate unwind
        HEAPSHIM_PROFILE_SEED=1 HEAPSHIM_PROFILE_RATE=$1 HEAPSHIM_PROFILE_UNWIND=$2 valgrind --tool=callgrind --trace-children=yes \
            --callgrind-out-file=/dev/null env LD_PRELOAD="$SHIM" "$FP" 2>&1 >/dev/null |
            sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' | tr -d , | head -1
    }
    samples=$(HEAPSHIM_PROFILE_SEED=1 HEAPSHIM_PROFILE_RATE=2k HEAPSHIM_PROFILE_UNWIND=verify LD_PRELOAD="$SHIM" "$FP" 2>&1 >/dev/null |
              sed -n 's/.*verify: \([0-9]*\) samples.*/\1/p')
    off=$(irefs 0 dwarf); old=$(irefs 2k libgcc); new=$(irefs 2k dwarf)
    if [ -z "$off" ] || [ -z "$old" ] || [ -z "$new" ] || [ -z "$samples" ] || [ "$samples" -lt 1000 ]; then
        fail unwind-cost "could not measure: off '$off' libgcc '$old' cached '$new' samples '$samples'"
    else
        po=$(( (old - off) / samples )); pn=$(( (new - off) / samples ))
        if [ $((pn * 5)) -lt "$po" ]; then
            pass unwind-cost; echo "    $samples samples: $po instructions each with libgcc's walk, $pn with the cache"
        else
            fail unwind-cost "$samples samples: $po instructions each with libgcc's walk, $pn with the cache (want < 1/5)"
        fi
    fi
fi
finish
