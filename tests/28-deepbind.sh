#!/bin/bash
# tests/28-deepbind.sh - programs that load libraries with dlopen(RTLD_DEEPBIND)
# run under the shim exactly as they run plain, in every allocator mode:
# same stdout, same exit status, nothing from the shim on stderr.
# A deep-bound library resolves malloc & co. in its own scope first (glibc's);
# interpose/deepbind.c points glibc's symbol table at the shim so that those
# lookups find the shim (without it, every shimmed run below but plain malloc
# mode crashes).
#   - build/tests/prog_deepbind: blocks crossing between the program and
#     deep-bound plugins both ways (tests/shim/deepbind_*.c)
#   - php (Debian's php-cli deep-binds its extensions): sqlite3 and mbstring
#   - python's ctypes calling glibc's free by name (the same lookup)
#   - where mprotect cannot make memory writable: one warning line, the
#     program unchanged
. "$(dirname "$0")/lib.sh"
# DEEPBIND_SHIM: another build of the shim to try (e.g. one without the fix)
SHIM=${DEEPBIND_SHIM:-$SHIM}
[ -f "$SHIM" ] || { skip deepbind "no $SHIM"; finish; }
MODES="pymalloc malloc debug malloc_debug"

bin() {   # a test program of ours: build/san/tests/X under SAN=1, else build/tests/X
    local p="$ROOT/$B/tests/$1"
    [ -x "$p" ] || p="$ROOT/build/tests/$1"
    [ -x "$p" ] && echo "$p"
}

# The plugins: built by tests/deepbind.mk into build/tests/deepbind, or here.
plugins() {
    local d
    for d in "$ROOT/$B/tests/deepbind" "$ROOT/build/tests/deepbind"; do
        [ -f "$d/libdbplugin.so" ] && [ -f "$d/libdblazy.so" ] && [ -f "$d/libdbcycle.so" ] \
            && [ -f "$d/libdbdep.so" ] && [ -f "$d/libdbglob.so" ] && { echo "$d"; return 0; }
    done
    d="$TMPD/plugins"; mkdir -p "$d"
    local cc=${CC:-cc} s="$ROOT/tests/shim" f="-std=gnu11 -O2 -g -fPIC -shared -D_GNU_SOURCE -Wall -Wextra -Werror"
    $cc $f -fno-optimize-sibling-calls -Wl,-z,lazy -o "$d/libdbdep.so" "$s/deepbind_dep.c" &&
    $cc $f -o "$d/libdbglob.so" "$s/deepbind_glob.c" -Wl,-rpath,'$ORIGIN' -ldl &&
    $cc $f -Wl,-z,now -o "$d/libdbplugin.so" "$s/deepbind_plugin.c" -L"$d" -ldbdep -Wl,-rpath,'$ORIGIN' -ldl &&
    $cc $f -Wl,-z,now -o "$d/libdbcycle.so" "$s/deepbind_plugin.c" -L"$d" -ldbdep -Wl,-rpath,'$ORIGIN' -ldl &&
    $cc $f -Wl,-z,lazy -o "$d/libdblazy.so" "$s/deepbind_plugin.c" -L"$d" -ldbdep -Wl,-rpath,'$ORIGIN' -ldl \
        || return 1
    echo "$d"
}

# same(name, want-prefix, env..., -- cmd...): run cmd under the shim with the
# env given and compare with the plain run saved as $want-prefix.{out,rc}
same() {
    local name=$1 want=$2; shift 2
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
    # (in a subshell of its own: no "Aborted" job message from this shell)
    (env "${envs[@]}" LD_PRELOAD="$SHIM" "$@" > "$TMPD/got.out" 2> "$TMPD/got.err"; exit $?) 2>/dev/null
    local rc=$?
    if [ "$rc" != "$(cat "$want.rc")" ]; then
        fail "$name" "exit $rc, plain $(cat "$want.rc"); stderr: $(head -c 300 "$TMPD/got.err")"; return
    fi
    if ! cmp -s "$want.out" "$TMPD/got.out"; then
        fail "$name" "output differs: $(diff "$want.out" "$TMPD/got.out" | head -4 | tr '\n' ' ')"; return
    fi
    if grep -q heapshim "$TMPD/got.err"; then
        fail "$name" "the shim wrote on stderr: $(grep heapshim "$TMPD/got.err" | head -2)"; return
    fi
    pass "$name"
}

# ---- the C reproducer --------------------------------------------------------
prog=$(bin prog_deepbind)
if [ -z "$prog" ]; then
    fail deepbind-prog "no prog_deepbind built (tests/shim/prog_deepbind.c)"
elif ! dir=$(plugins); then
    fail deepbind-prog "cannot build the plugins (tests/shim/deepbind_*.c)"
else
    "$prog" "$dir" > "$TMPD/plain-c.out" 2> "$TMPD/plain-c.err"; echo $? > "$TMPD/plain-c.rc"
    if [ "$(cat "$TMPD/plain-c.rc")" != 0 ] || ! grep -q '^prog_deepbind: 0 failures$' "$TMPD/plain-c.out"; then
        fail deepbind-prog-plain "the plain run fails: $(grep -v '^ok' "$TMPD/plain-c.out" | head -3) $(head -c 300 "$TMPD/plain-c.err")"
    else
        pass "deepbind-prog-plain ($(grep -c '^ok' "$TMPD/plain-c.out") checks)"
        for mode in $MODES; do
            same "deepbind-prog-$mode" "$TMPD/plain-c" HEAPSHIM_ALLOCATOR=$mode -- "$prog" "$dir"
        done
        # the program's own blocks in obj: behind a header even in malloc mode
        for mode in malloc pymalloc; do
            same "deepbind-prog-$mode-routed" "$TMPD/plain-c" HEAPSHIM_ALLOCATOR=$mode \
                HEAPSHIM_ROUTE='prog_deepbind=obj,libdb*=raw' -- "$prog" "$dir"
        done
        # a program built without PIE that takes malloc's and free's address:
        # the global scope's malloc is its canonical PLT entry, still ours
        if ${CC:-cc} -std=gnu11 -O1 -D_GNU_SOURCE -no-pie -fno-pic -o "$TMPD/prog_deepbind_nopie" \
            "$ROOT/tests/shim/prog_deepbind.c" -lpthread -ldl 2> "$TMPD/nopie.err"; then
            for mode in pymalloc debug; do
                same "deepbind-prog-nopie-$mode" "$TMPD/plain-c" HEAPSHIM_ALLOCATOR=$mode -- "$TMPD/prog_deepbind_nopie" "$dir"
            done
        else
            fail deepbind-prog-nopie "cannot build it: $(head -c 300 "$TMPD/nopie.err")"
        fi
        # the first dlopen calls (where the redirect is made) from two threads
        # at once, two more threads allocating meanwhile: 20 processes a mode
        for mode in pymalloc debug; do
            bad=0
            for i in $(seq 20); do
                out=$( (HEAPSHIM_ALLOCATOR=$mode LD_PRELOAD="$SHIM" "$prog" --race "$dir" 2>&1; exit $?) 2>/dev/null) \
                    && [ "$out" = "race ok" ] || { bad=$((bad + 1)); why=$out; }
            done
            if [ $bad = 0 ]; then pass "deepbind-race-$mode (20 runs)"
            else fail "deepbind-race-$mode" "$bad of 20 runs failed: $(head -c 300 <<<"$why")"; fi
        done
        # the plugins' calls reach the shim: counted, and routed by their caller
        (HEAPSHIM_ROUTE='libdbdep.so=obj' HEAPSHIM_REPORT="$TMPD/route.json" LD_PRELOAD="$SHIM" \
            "$prog" "$dir" > /dev/null 2>&1; exit $?) 2>/dev/null
        objs=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["domains"]["obj"]["allocs"])' \
            "$TMPD/route.json" 2>/dev/null)
        if [ -n "$objs" ] && [ "$objs" -gt 0 ]; then pass "deepbind-plugin-counted ($objs obj allocs from libdbdep.so)"
        else fail deepbind-plugin-counted "no allocation of the deep-bound libdbdep.so counted in obj (got '$objs')"; fi
    fi
fi

# ---- php: Debian's php-cli loads its extensions with RTLD_DEEPBIND -------------
PHP=$(command -v php)
if [ -z "$PHP" ]; then
    skip deepbind-php "php not installed (php-cli, php-sqlite3, php-mbstring)"
else
    extdir=$("$PHP" -r 'echo ini_get("extension_dir");' 2>/dev/null)
    mods=$("$PHP" -m 2>/dev/null)
    if ! grep -qx sqlite3 <<<"$mods" || ! grep -qx mbstring <<<"$mods" \
        || [ ! -f "$extdir/sqlite3.so" ] || [ ! -f "$extdir/mbstring.so" ]; then
        skip deepbind-php "php without the sqlite3 and mbstring extensions as shared objects (php-sqlite3, php-mbstring)"
    else
        cat > "$TMPD/t.php" <<'EOF'
<?php
$db = new SQLite3(':memory:');
$db->exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, body TEXT)');
$st = $db->prepare('INSERT INTO t (name, body) VALUES (:n, :b)');
for ($i = 0; $i < 3000; $i++) {
    $st->bindValue(':n', "name-$i", SQLITE3_TEXT);
    $st->bindValue(':b', str_repeat(mb_strtoupper("héllo wörld $i "), 1 + $i % 40), SQLITE3_TEXT);
    $st->execute();
    $st->reset();
}
$r = $db->query('SELECT name, body, length(body) AS l FROM t WHERE id % 7 = 0 ORDER BY l DESC, id');
$h = 0; $n = 0;
while ($row = $r->fetchArray(SQLITE3_ASSOC)) {
    $s = mb_strtolower($row['body']);
    $h = crc32($h . mb_substr($s, 3, 50) . mb_strlen($s) . $row['name']);
    $n++;
}
echo "$n rows, hash $h\n";
echo mb_convert_case("ÄÖÜ straße", MB_CASE_UPPER), " ", mb_strwidth("日本語テキスト"), "\n";
$words = [];
foreach (mb_str_split(str_repeat("αβγδεζηθ", 500)) as $c) { $words[$c] = ($words[$c] ?? 0) + 1; }
ksort($words);
echo json_encode($words, JSON_UNESCAPED_UNICODE), "\n";
$db->close();
if (class_exists('PDO') && in_array('sqlite', PDO::getAvailableDrivers())) {
    $p = new PDO('sqlite::memory:');
    $p->exec('CREATE TABLE k (v TEXT)');
    $ins = $p->prepare('INSERT INTO k VALUES (?)');
    for ($i = 0; $i < 500; $i++) $ins->execute([mb_substr(str_repeat("ünïcödé", 20), $i % 50)]);
    echo $p->query('SELECT count(*), sum(length(v)) FROM k')->fetch(PDO::FETCH_NUM)[1], "\n";
}
exit(3);
EOF
        (cd "$TMPD" && "$PHP" t.php) > "$TMPD/plain-php.out" 2>/dev/null; echo $? > "$TMPD/plain-php.rc"
        if [ "$(cat "$TMPD/plain-php.rc")" != 3 ] || ! grep -q 'rows, hash' "$TMPD/plain-php.out"; then
            fail deepbind-php-plain "the plain php run fails (rc $(cat "$TMPD/plain-php.rc"))"
        else
            pass deepbind-php-plain
            for mode in $MODES; do
                same "deepbind-php-$mode" "$TMPD/plain-php" HEAPSHIM_ALLOCATOR=$mode -- "$PHP" "$TMPD/t.php"
            done
            same deepbind-php-malloc-routed "$TMPD/plain-php" HEAPSHIM_ALLOCATOR=malloc HEAPSHIM_ROUTE='*=obj' \
                -- "$PHP" "$TMPD/t.php"
        fi
    fi
fi

# ---- python's ctypes: glibc's malloc family by name, from libc's handle ---------
# (not deep binding, the same lookup: CDLL("libc.so.6").free must be the
# process's free, since strdup's block comes from the process's malloc)
if [ -x "$PY" ]; then
    cat > "$TMPD/ct.py" <<'EOF'
import ctypes
libc = ctypes.CDLL("libc.so.6")
libc.strdup.restype = ctypes.c_void_p
libc.strdup.argtypes = [ctypes.c_char_p]
libc.free.argtypes = [ctypes.c_void_p]
libc.malloc.restype = ctypes.c_void_p
libc.realloc.restype = ctypes.c_void_p
libc.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
n = 0
for i in range(2000):
    p = libc.strdup(b"x" * (i % 700))
    p = libc.realloc(p, 1000 + i)
    n += ctypes.string_at(p, i % 700) == b"x" * (i % 700)
    libc.free(p)
    libc.free(libc.malloc(i % 600))
print("ctypes", n)
EOF
    "$PY" "$TMPD/ct.py" > "$TMPD/plain-py.out" 2>/dev/null; echo $? > "$TMPD/plain-py.rc"
    for mode in $MODES; do
        same "deepbind-python-ctypes-$mode" "$TMPD/plain-py" HEAPSHIM_ALLOCATOR=$mode -- "$PY" "$TMPD/ct.py"
    done
else
    skip deepbind-python-ctypes "no python3"
fi

# ---- mprotect refused: one warning line, the program unchanged -----------------
# (the redirect is made at the first dlopen: a program that loads nothing
# does not try, and says nothing)
nomp=$(bin prog_nomprotect)
if [ -z "$nomp" ] || [ -z "$prog" ] || [ -z "$dir" ]; then
    fail deepbind-no-mprotect "no prog_nomprotect or prog_deepbind built (tests/shim/prog_*.c)"
else
    "$nomp" true 2>/dev/null; rc=$?
    if [ $rc = 125 ]; then
        skip deepbind-no-mprotect "cannot install a seccomp filter here"
    else
        out=$("$nomp" env LD_PRELOAD="$SHIM" "$prog" --load-only "$dir" 2> "$TMPD/nomp.err"); rc=$?
        n=$(grep -c 'heapshim: warning: RTLD_DEEPBIND: .*mprotect: EACCES' "$TMPD/nomp.err")
        others=$(grep -vc 'heapshim: warning: RTLD_DEEPBIND' "$TMPD/nomp.err")
        if [ "$out" = "$(printf 'loaded 1\nloaded 1')" ] && [ $rc = 0 ] && [ "$n" = 1 ] && [ "$others" = 0 ]; then
            pass deepbind-no-mprotect
        else
            fail deepbind-no-mprotect "rc=$rc out=$out, want one warning line: $(head -c 400 "$TMPD/nomp.err")"
        fi
        out=$("$nomp" env LD_PRELOAD="$SHIM" sh -c 'echo hello; exit 3' 2> "$TMPD/nomp.err"); rc=$?
        if [ "$out" = hello ] && [ $rc = 3 ] && [ ! -s "$TMPD/nomp.err" ]; then pass deepbind-no-dlopen-silent
        else fail deepbind-no-dlopen-silent "rc=$rc out=$out err=$(head -c 300 "$TMPD/nomp.err")"; fi
    fi
fi

finish
