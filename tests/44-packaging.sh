#!/bin/bash
# tests/44-packaging.sh - the library as it is installed and linked:
# versioned soname (libheapshim.so.1, libheapshim.so a symlink that
# LD_PRELOAD still takes), make install into a DESTDIR (everything the docs
# name, the installed heapshim and heapshim-ci working from there), the
# API-only pkg-config (heapshim-api: hs_* without replacing malloc) against
# the full one, make uninstall (the tree empty again, a user's file kept),
# and one per-domain table format in HEAPSHIM_STATS, hs_print_stats and
# `heapshim report`.
. "$(dirname "$0")/lib.sh"
PB="$ROOT/build"     # the plain build: what make install installs
[ -e "$PB/libheapshim.so" ] || { fail pkg-built "no $PB/libheapshim.so (run make)"; finish; }
CC=${CC:-cc}
# make install of the plain build, also when this suite runs under make check SAN=1
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$ROOT" --no-print-directory SAN=0 "$@"; }

# ---- soname ----------------------------------------------------------------
so=$(readelf -d "$PB/libheapshim.so" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$so" = libheapshim.so.1 ] && [ -L "$PB/libheapshim.so" ] && [ "$(readlink "$PB/libheapshim.so")" = libheapshim.so.1 ] \
    && pass "pkg-soname ($so)" || fail pkg-soname "soname '$so', link '$(readlink "$PB/libheapshim.so")'"
out=$(HEAPSHIM_STATS=1 LD_PRELOAD="$PB/libheapshim.so" /bin/true 2>&1)
echo "$out" | grep -q '^heapshim: total ' && pass pkg-preload-documented-path || fail pkg-preload-documented-path "$out"

# ---- make install into a DESTDIR ------------------------------------------
if ! command -v pkg-config >/dev/null; then skip pkg-install "pkg-config is not installed (make check installs it)"; finish; fi
D="$TMPD/dest"; P=/usr/local; I="$D$P"
mkdir -p "$D"
mk -s install DESTDIR="$D" PREFIX="$P" > "$TMPD/install.log" 2>&1; rc=$?
[ $rc = 0 ] && pass pkg-make-install || fail pkg-make-install "exit $rc: $(tail -3 "$TMPD/install.log")"
missing=
for f in bin/heapshim bin/heapshim-ci include/heapshim.h include/heapshim/live.h lib/libheapshim.a \
         lib/libheapshim.so.1 lib/pkgconfig/heapshim.pc lib/pkgconfig/heapshim-api.pc; do
    [ -f "$I/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && [ "$(readlink "$I/lib/libheapshim.so")" = libheapshim.so.1 ] \
    && pass pkg-installed-files || fail pkg-installed-files "missing:$missing; lib/libheapshim.so -> $(readlink "$I/lib/libheapshim.so")"
# the installed command finds the installed library (../lib) and heapshim-ci finds it
out=$(cd "$TMPD" && env -u HEAPSHIM_LIB "$I/bin/heapshim" run -q -o "$TMPD/inst.json" -- /bin/true 2>&1) \
    && "$I/bin/heapshim" report "$TMPD/inst.json" | grep -q '^  total ' \
    && pass pkg-installed-run || fail pkg-installed-run "$out"
out=$(cd "$TMPD" && env -u HEAPSHIM HEAPSHIM_CI_OUT="$TMPD/ci-new.json" "$I/bin/heapshim-ci" record "$TMPD/ci-base.json" -- /bin/true 2>&1) \
    && [ -s "$TMPD/ci-base.json" ] && pass pkg-installed-ci || fail pkg-installed-ci "$out"

# ---- pkg-config: the API alone, and the whole shim ---------------------------
cat > "$TMPD/api.c" <<'EOF'
#include <heapshim.h>
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
    void *p = hs_obj_malloc(48), *q = malloc(100);
    hs_domain_stats_t s;
    hs_domain_stats(HS_DOMAIN_OBJ, &s);
    printf("obj allocs %llu live_blocks %llu\n", (unsigned long long)s.allocs, (unsigned long long)s.live_blocks);
    hs_print_stats(stdout);
    hs_obj_free(p);
    free(q);
    return 0;
}
EOF
pc() { PKG_CONFIG_PATH="$I/lib/pkgconfig" pkg-config --define-variable=prefix="$I" "$@"; }
if $CC -o "$TMPD/api" "$TMPD/api.c" $(pc --cflags --libs heapshim-api) 2> "$TMPD/cc.log"; then
    out=$("$TMPD/api" 2>&1)
    # malloc stays glibc's: no libheapshim.so needed, malloc not defined in the program
    if ! ldd "$TMPD/api" | grep -q libheapshim && nm "$TMPD/api" | grep -Eq ' U malloc(@|$)' \
        && ! nm "$TMPD/api" | grep -Eq ' T (malloc|free)$'; then pass pkg-api-keeps-malloc
    else fail pkg-api-keeps-malloc "$(ldd "$TMPD/api" | grep heapshim) $(nm "$TMPD/api" | grep -E ' (malloc|free)$')"; fi
    echo "$out" | grep -q '^obj allocs 1 live_blocks 1$' && pass pkg-api-counts || fail pkg-api-counts "$out"
    echo "$out" | grep -v '^obj allocs' > "$TMPD/print_stats.txt"
else
    fail pkg-api-link "$(head -3 "$TMPD/cc.log")"
fi
if $CC -o "$TMPD/full" "$TMPD/api.c" $(pc --cflags --libs heapshim) 2> "$TMPD/cc2.log"; then
    ldd "$TMPD/full" | grep -q "libheapshim.so.1 => $I/lib/libheapshim.so.1\|libheapshim.so.1 => not found" \
        && pass pkg-full-links-soname || fail pkg-full-links-soname "$(ldd "$TMPD/full" | grep heapshim)"
else
    fail pkg-full-link "$(head -3 "$TMPD/cc2.log")"
fi

# ---- make uninstall: exactly what install put there -------------------------
mkdir -p "$I/include/heapshim" "$I/bin"
echo "mine" > "$I/include/heapshim/user-notes.h"; echo "mine" > "$I/bin/user-tool"
mk -s install DESTDIR="$D" PREFIX="$P" > /dev/null 2>&1   # twice: no duplicates left behind
mk -s uninstall DESTDIR="$D" PREFIX="$P" > "$TMPD/uninstall.log" 2>&1; rc=$?
left=$(cd "$D" && find . -type f -o -type l | sort | tr '\n' ' ')
[ $rc = 0 ] && [ "$left" = "./usr/local/bin/user-tool ./usr/local/include/heapshim/user-notes.h " ] \
    && pass pkg-uninstall-keeps-user-files || fail pkg-uninstall-keeps-user-files "exit $rc, left: $left"
rm -f "$I/include/heapshim/user-notes.h" "$I/bin/user-tool"
mk -s install DESTDIR="$D" PREFIX="$P" > /dev/null 2>&1
mk -s uninstall DESTDIR="$D" PREFIX="$P" > /dev/null 2>&1; rc=$?
left=$(cd "$D" && find . -mindepth 1 | sort | tr '\n' ' ')
# what existed before the second install (usr/local/{bin,include/heapshim}, made above) stays, empty
[ $rc = 0 ] && [ -z "$(cd "$D" && find . -type f -o -type l)" ] && [ ! -e "$I/lib" ] && [ ! -e "$I/share" ] \
    && pass pkg-uninstall-empty || fail pkg-uninstall-empty "exit $rc, left: $left"
rm -rf "$D"; mkdir -p "$D"
mk -s install DESTDIR="$D" PREFIX="$P" > /dev/null 2>&1
mk -s uninstall DESTDIR="$D" PREFIX="$P" > /dev/null 2>&1
left=$(cd "$D" && find . -mindepth 1 | tr '\n' ' ')
[ -z "$left" ] && pass pkg-uninstall-fresh-tree-empty || fail pkg-uninstall-fresh-tree-empty "left: $left"

# ---- one per-domain table format ---------------------------------------------
# HEAPSHIM_STATS at exit and the report written at the same exit, printed
# by `heapshim report`: the same heading and the same rows (only the line
# prefix differs); hs_print_stats (above) has the same heading.
HS="$ROOT/$B/heapshim"
if [ -x "$HS" ]; then
    HEAPSHIM_STATS=1 HEAPSHIM_REPORT="$TMPD/t.json" LD_PRELOAD="$PB/libheapshim.so" \
        "$PY" -c 'x = [str(i) for i in range(20000)]' 2> "$TMPD/stats.txt"
    grep -E '^heapshim: (domain|raw|mem|obj|total) ' "$TMPD/stats.txt" | sed 's/^heapshim: //' > "$TMPD/a.txt"
    "$HS" report "$TMPD/t.json" | grep -E '^  (domain|raw|mem|obj|total) ' | sed 's/^  //' > "$TMPD/b.txt"
    [ "$(wc -l < "$TMPD/a.txt")" = 5 ] && cmp -s "$TMPD/a.txt" "$TMPD/b.txt" && pass pkg-table-stats-equals-report \
        || fail pkg-table-stats-equals-report "$(diff "$TMPD/a.txt" "$TMPD/b.txt" | head -6)"
    if [ -s "$TMPD/print_stats.txt" ]; then
        h1=$(head -1 "$TMPD/a.txt"); h2=$(grep '^heapshim: domain' "$TMPD/print_stats.txt" | sed 's/^heapshim: //')
        rows=$(grep -Ec '^heapshim: (raw|mem|obj|total) +[0-9.]+ [KMG]?i?B +[0-9.]+ [KMG]?i?B( +[0-9]+){5}$' "$TMPD/print_stats.txt")
        [ "$h1" = "$h2" ] && [ "$rows" = 4 ] && pass pkg-table-print-stats \
            || fail pkg-table-print-stats "heading '$h2' vs '$h1', $rows rows: $(head -5 "$TMPD/print_stats.txt")"
    fi
fi
finish
