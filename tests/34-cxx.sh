#!/bin/bash
# tests/34-cxx.sh - C++ operator new and delete (interpose/override.c, end):
#   route     HEAPSHIM_ROUTE naming the program routes its `new`: with
#             libstdc++'s operator new in between, the caller of malloc was
#             libstdc++ and the rule matched nothing; exactly N allocs and N
#             frees in obj, for N news of scalar, array and nothrow forms and
#             plain, array and sized deletes
#   fail      semantics stay the C++ runtime's: a failing new runs the
#             new_handler, then throws std::bad_alloc; the nothrow form
#             returns nullptr -- the same output as without the shim
#   mode      the same counts in HEAPSHIM_ALLOCATOR=malloc and debug
. "$(dirname "$0")/lib.sh"
[ -f "$SHIM" ] || { skip cxx "no $SHIM"; finish; }
CXX_BIN=$(command -v g++ || command -v c++ || true)
if [ -z "$CXX_BIN" ]; then skip cxx "no g++ to build tests/shim/prog_cxxnew.cpp"; finish; fi
PROG="$TMPD/prog_cxxnew"
"$CXX_BIN" -O2 -o "$PROG" "$ROOT/tests/shim/prog_cxxnew.cpp" 2> "$TMPD/cc.err" ||
    { fail cxx-build "prog_cxxnew.cpp does not compile: $(head -c 300 "$TMPD/cc.err")"; finish; }

N=3000
for mode in pymalloc malloc debug; do
    rm -f "$TMPD/r.json"
    out=$(HEAPSHIM_ALLOCATOR=$mode HEAPSHIM_REPORT="$TMPD/r.json" HEAPSHIM_ROUTE='prog_cxxnew=obj' \
          LD_PRELOAD="$SHIM" "$PROG" count $N 2> "$TMPD/err")
    got=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))["domains"]["obj"]; print(d["allocs"], d["frees"], d["live_blocks"])' \
          "$TMPD/r.json" 2>/dev/null)
    if [ "$out" != "news $N" ]; then
        fail "cxx-route-$mode" "program said '$out': $(head -c 300 "$TMPD/err")"
    elif [ "$got" != "$N $N 0" ]; then
        fail "cxx-route-$mode" "obj allocs/frees/live blocks '$got', want '$N $N 0' ($(head -c 300 "$TMPD/err"))"
    elif grep -q 'matched no caller' "$TMPD/err"; then
        fail "cxx-route-$mode" "$(cat "$TMPD/err")"
    else
        pass "cxx-route-$mode"
    fi
done

want=$("$PROG" fail 2>&1)
got=$(LD_PRELOAD="$SHIM" "$PROG" fail 2>&1)
if [ "$want" = "$got" ] && echo "$got" | grep -q 'bad_alloc after 1 handler' && echo "$got" | grep -q 'nothrow nullptr'; then
    pass cxx-fail-semantics
else
    fail cxx-fail-semantics "without the shim '$want', with '$got'"
fi
finish
