#!/bin/bash
# tests/32-route-names.sh - HEAPSHIM_ROUTE rules name libraries the way users
# see them (interpose/route.c): Debian's sqlite3 under the shim, its library
# named by its file name as in /proc/PID/maps (libsqlite3.so.0.8.6), its
# soname (libsqlite3.so.0), its full path, and the program by its full path
# (/usr/bin/sqlite3); each form must send the same calls to obj as the
# soname does. A rule that matches nothing is named in one warning line at
# exit; rules that match say nothing.
. "$(dirname "$0")/lib.sh"
[ -f "$SHIM" ] || { skip route-names "no $SHIM"; finish; }
SQ=$(command -v sqlite3) || { skip route-names "sqlite3 not installed (apt-get install sqlite3)"; finish; }
SQL="create table t(a, b); insert into t select value, printf('%08d', value) from generate_series(1,20000);
create index i on t(b); select count(*), sum(length(b)) from t;"
want_out=$(echo "$SQL" | "$SQ" :memory:)

objs() {   # rule -> "obj-allocs mem-allocs"; output and stderr checked
    local rule=$1 rep="$TMPD/r.json"
    rm -f "$rep"
    out=$(echo "$SQL" | HEAPSHIM_ROUTE="$rule" HEAPSHIM_REPORT="$rep" LD_PRELOAD="$SHIM" "$SQ" :memory: 2>"$TMPD/err")
    [ "$out" = "$want_out" ] || { echo "output changed: $out"; return 1; }
    "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["domains"]["obj"]["allocs"], r["domains"]["mem"]["allocs"])' "$rep"
}

real=$(readlink -f "$(ldd "$SQ" | awk '/libsqlite3/ {print $3}')")
base=$(objs 'libsqlite3.so.0=obj') || { fail route-names-soname "$base"; finish; }
set -- $base
if [ "$1" -gt 100 ] && [ ! -s "$TMPD/err" ]; then pass "route-names-soname: libsqlite3.so.0=obj: obj $1 allocs, mem $2"
else fail route-names-soname "obj $1 mem $2; stderr: $(cat "$TMPD/err")"; fi
for rule in "$(basename "$real")=obj" "$real=obj" 'libsqlite3.so.0.*=obj' '/usr/lib/*/libsqlite3*=obj'; do
    got=$(objs "$rule")
    if [ "$got" = "$base" ] && [ ! -s "$TMPD/err" ]; then pass "route-names '$rule': $got (as the soname)"
    else fail "route-names '$rule'" "obj/mem allocs '$got', with the soname '$base'; stderr: $(cat "$TMPD/err")"; fi
done
# the program itself by its full path and by its file name: its own calls
for rule in "$SQ=obj" 'sqlite3=obj'; do
    got=$(objs "$rule"); set -- $got
    if [ -n "$got" ] && [ "$1" -gt 0 ] && [ "$got" != "$base" ] && [ ! -s "$TMPD/err" ]; then
        pass "route-names '$rule': obj $1 (the program's own calls), mem $2"
    else fail "route-names '$rule'" "obj/mem allocs '$got'; stderr: $(cat "$TMPD/err")"; fi
done
# a rule that matches nothing: one line at exit naming it; the others silent
got=$(objs 'libsqlite3.so.0=obj,libnosuch*=raw')
n=$(grep -c "HEAPSHIM_ROUTE: rule 'libnosuch\*=raw' matched no caller" "$TMPD/err")
if [ "$got" = "$base" ] && [ "$n" = 1 ] && [ "$(wc -l <"$TMPD/err")" = 1 ]; then
    pass "route-names-unmatched-warning: $(cat "$TMPD/err" | cut -c1-80)..."
else fail route-names-unmatched-warning "got '$got' (want '$base'), $n warning lines: $(cat "$TMPD/err")"; fi
finish
