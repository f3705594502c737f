#!/bin/bash
# tests/15-build.sh - the build system (issue 12): in a build directory of its
# own, that the configuration stamp ($B/build-flags, written by the Makefile
# from scripts/configure's findings) rebuilds exactly when it should: nothing
# on a second run, everything on a new OPT, CFLAGS or compiler, and on a
# feature decided differently (USDT=0); that V=1 shows the commands; that
# bad inputs stop make with one clear line; and that the library carries the
# heapshim USDT notes whenever <sys/sdt.h> is usable (the library the suites
# and the probe use, and a fresh build). Builds the shared library only, at
# -O0, three times: about 15 s on 2 idle cores.
. "$(dirname "$0")/lib.sh"
TB="$TMPD/b"
SO="$TB/libheapshim.so"
nsrc=$(cd "$ROOT" && ls core/*.c core/prim/*.c interpose/*.c | wc -l)

# a make of our own: nothing from the make that runs the suites (its
# jobserver, SAN=1, CC=...) leaks in
hsmake() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u CC -u CFLAGS -u LDFLAGS \
        -u OPT -u SAN -u B -u V -u USDT make -C "$ROOT" --no-print-directory -j2 B="$TB" "$@" 2>&1
}
ncc() { grep -c '^  CC  ' <<<"$1"; }          # objects compiled, from make's short output
mtime() { stat -c %Y.%y "$1" 2>/dev/null; }
notes() { readelf -n "$1" 2>/dev/null | awk '/Provider: heapshim/{p=1; next} p && /Name:/{print $2; p=0}' | sort | tr '\n' ' '; }

# 1. a first build records the compiler, its version, the flags and the features
out=$(hsmake OPT=-O0 "$SO"); rc=$?
if [ $rc = 0 ] && [ -f "$SO" ] && grep -q '^CFLAGS=.* -O0 ' "$TB/build-flags" &&
   grep -q '^CC_VERSION=..' "$TB/build-flags" && grep -q '^HS_HAVE_SDT=[01]$' "$TB/build-flags" &&
   grep -q '^#define HS_HAVE_SDT [01]' "$TB/config.h" && [ "$(ncc "$out")" = "$nsrc" ]; then
    pass build-fresh
else
    fail build-fresh "rc $rc, $(ncc "$out") of $nsrc objects compiled: $(tail -n3 <<<"$out") / $(cat "$TB/build-flags" 2>/dev/null | head -n3)"
fi

# 2. the same again: nothing compiled, the stamp and the library untouched
s0=$(mtime "$TB/build-flags"); l0=$(mtime "$SO"); c0=$(mtime "$TB/config.h")
out=$(hsmake OPT=-O0 "$SO"); rc=$?
[ $rc = 0 ] && [ "$(ncc "$out")" = 0 ] && [ "$s0" = "$(mtime "$TB/build-flags")" ] &&
    [ "$l0" = "$(mtime "$SO")" ] && [ "$c0" = "$(mtime "$TB/config.h")" ] && pass build-noop ||
    fail build-noop "rc $rc, recompiled $(ncc "$out"), stamp $s0 -> $(mtime "$TB/build-flags"): $(head -n3 <<<"$out")"

# 3. new CFLAGS: everything rebuilt; V=1 shows the compiler's command lines
out=$(hsmake OPT=-O0 CFLAGS=-DHS_BUILD_TEST=1 V=1 "$SO"); rc=$?
ncmd=$(grep -c -- ' -O0 .*-DHS_BUILD_TEST=1 .*-c [^ ]*\.c -o ' <<<"$out")
[ $rc = 0 ] && [ "$ncmd" = "$nsrc" ] && [ "$l0" != "$(mtime "$SO")" ] &&
    grep -q '^CFLAGS=.* -O0 .*-DHS_BUILD_TEST=1$' "$TB/build-flags" && pass build-cflags-rebuild ||
    fail build-cflags-rebuild "rc $rc, $ncmd of $nsrc compile commands shown with -DHS_BUILD_TEST=1: $(grep -m2 -e error -e "\*\*\*" <<<"$out")"
FL=(OPT=-O1 CFLAGS=-DHS_BUILD_TEST=1)
LIVE="$TB/core/live.o"       # the object with the USDT points: cheaper than the whole library

# 3b. new OPT (on one object: the rest would follow the same way)
l1=$(mtime "$LIVE")
out=$(hsmake "${FL[@]}" "$LIVE"); rc=$?
[ $rc = 0 ] && [ "$(ncc "$out")" = 1 ] && [ "$l1" != "$(mtime "$LIVE")" ] &&
    grep -q '^CFLAGS=.* -O1 .*-DHS_BUILD_TEST=1$' "$TB/build-flags" && pass build-opt-rebuild ||
    fail build-opt-rebuild "rc $rc, $(ncc "$out") compiled: $(grep -m2 -e error -e "\*\*\*" <<<"$out")"

# 4. the USDT notes, wherever <sys/sdt.h> is usable (what issue 12 was about:
#    a library built before systemtap-sdt-dev came must not stay without them)
sdt=0
printf '#include <sys/sdt.h>\n' | cc -E -x c - >/dev/null 2>&1 && sdt=1
if [ $sdt = 1 ]; then
    n=$(notes "$SO")
    [ "$n" = "init publish sample_alloc sample_free " ] && pass build-usdt-notes || fail build-usdt-notes "heapshim notes in $SO: '$n' (config: $(grep SDT "$TB/config.h"))"
    if [ -f "$ROOT/build/libheapshim.so" ]; then
        n=$(notes "$ROOT/build/libheapshim.so")
        [ "$n" = "init publish sample_alloc sample_free " ] && pass build-usdt-notes-suites ||
            fail build-usdt-notes-suites "the library the suites and the probe use has heapshim notes '$n' although <sys/sdt.h> is there (stale build?)"
    else
        skip build-usdt-notes-suites "no $ROOT/build/libheapshim.so"
    fi
    # a feature decided differently goes through config.h and the stamp:
    # USDT=0 rebuilds without the notes, the default brings them back
    out=$(hsmake "${FL[@]}" USDT=0 "$LIVE"); rc=$?
    n0=$(notes "$LIVE"); k0=$(ncc "$out"); h0=$(grep -c '^#define HS_HAVE_SDT 0' "$TB/config.h")
    out=$(hsmake "${FL[@]}" "$LIVE"); rc2=$?
    n1=$(notes "$LIVE"); k1=$(ncc "$out")
    [ $rc = 0 ] && [ $rc2 = 0 ] && [ -z "$n0" ] && [ "$h0" = 1 ] && [ "$k0" = 1 ] && [ "$n1" = "init publish " ] && [ "$k1" = 1 ] &&
        pass build-feature-rebuild ||
        fail build-feature-rebuild "USDT=0: rc $rc, $k0 compiled, notes '$n0'; back: rc $rc2, $k1 compiled, notes '$n1'"
else
    skip build-usdt-notes "<sys/sdt.h> not installed (systemtap-sdt-dev; make check installs it)"
fi

# 5. another compiler: the library rebuilt with it (-Werror clean, USDT notes
#    too), then back to cc
if command -v clang >/dev/null 2>&1; then
    out=$(hsmake OPT=-O0 CFLAGS=-DHS_BUILD_TEST=1 CC=clang "$SO"); rc=$?
    k=$(ncc "$out"); n=$(notes "$SO")
    grep -q '^CC_VERSION=.*clang' "$TB/build-flags"; v=$?
    out2=$(hsmake "${FL[@]}" "$LIVE"); rc2=$?
    [ $rc = 0 ] && [ $v = 0 ] && [ "$k" = "$nsrc" ] && { [ $sdt = 0 ] || [ "$n" = "init publish sample_alloc sample_free " ]; } &&
        [ $rc2 = 0 ] && [ "$(ncc "$out2")" = 1 ] && ! grep -q '^CC_VERSION=.*clang' "$TB/build-flags" && pass build-cc-rebuild ||
        fail build-cc-rebuild "CC=clang: rc $rc, $k of $nsrc compiled, notes '$n' ($(grep -m1 -e error -e warning <<<"$out")); back to cc: rc $rc2, $(ncc "$out2") compiled"
else
    skip build-cc-rebuild "no clang"
fi

# 6. bad inputs: make stops at once with one line naming the variable
bad() {   # name expected-word make-args...
    local name=$1 word=$2; shift 2
    local o; o=$(hsmake "$@" "$SO"); local r=$?
    if [ $r != 0 ] && [ "$(grep -c . <<<"$o")" = 1 ] && grep -q -- "$word" <<<"$o" && [ "$(ncc "$o")" = 0 ]; then
        pass "$name"
    else
        fail "$name" "rc $r: $o"
    fi
}
bad build-bad-cc 'CC=/nonexistent/cc' CC=/nonexistent/cc
bad build-bad-usdt 'USDT=maybe' USDT=maybe
bad build-bad-san 'SAN=2' SAN=2
finish
