#!/bin/bash
# tests/55-pyframes.sh - Python-level frames in heap profiles (issue 16's
# plus): CPython 3.11's frame layout that interpose/pyframes.h hard-codes,
# against the installed python3.11-dev headers; estimated live bytes per
# Python function against the exact sizes of a script with known sites
# (within 10% for every site holding >= 5%, at exit and read live from the
# running process), the lines named; a Python thread's own frames; frames of
# a C call that released the GIL (os.listdir's opendir); HEAPSHIM_PYTHON=0
# (no frames); the legacy pprof text keeps only native addresses; CPython's
# own frame, generator and coroutine tests pass with nearly every
# allocation sampled; libpython3.11 dlopen()ed by a program; a profile
# naming interpreter frames it does not hold is read without harm.
. "$(dirname "$0")/lib.sh"
HS="$ROOT/$B/heapshim"
[ -x "$HS" ] || { fail pyframes-built "no $HS (run make)"; finish; }
export HEAPSHIM_LIB="$SHIM"
W="$TMPD/pyf"; mkdir -p "$W"
PYBIN=/usr/bin/python3.11
HAVE_DW=$(sed -n 's/^#define HS_HAVE_DW \([01]\).*/\1/p' "$ROOT/$B/config.h")

# 1. the layout: every offset of pyframes.h from the headers
if [ -r /usr/include/python3.11/internal/pycore_frame.h ]; then
    if ${CC:-cc} -std=gnu11 -Wall -Werror -I/usr/include/python3.11 -I"$ROOT/interpose" \
            -o "$W/layout" "$ROOT/tests/pyframes_layout.c" 2> "$W/layout.err" &&
        out=$("$W/layout" 2>&1); then
        pass pyframes-layout-3.11; echo "$out" | sed 's/^/    /'
    else
        fail pyframes-layout-3.11 "$(head -c 600 "$W/layout.err") $out"
    fi
else
    skip pyframes-layout-3.11 "no python3.11-dev headers (/usr/include/python3.11/internal)"
fi

if [ ! -x "$PYBIN" ] || ! "$PYBIN" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    skip pyframes "no CPython 3.11 at $PYBIN (the layout heapshim reads)"
    finish
fi
if [ "$HAVE_DW" != 1 ]; then
    skip pyframes "heapshim built without libdw (libdw-dev): no symbol names"
    finish
fi

# the script: sites whose live bytes are known exactly (sys.getsizeof of
# what each keeps: the objects and the list holding them), a thread with a
# site of its own, churn that keeps nothing; "wait" holds everything alive
# until stdin closes
cat > "$W/sites.py" <<'EOF'
import os, sys, threading
keep = {}
def site_big():
    l = keep["site_big"] = [None] * 6000            # site_big
    for i in range(6000): l[i] = bytes(6000)        # site_big
def site_mid():
    l = keep["site_mid"] = [None] * 14000           # site_mid
    for i in range(14000): l[i] = bytearray(700)    # site_mid
def site_small_objs():
    l = keep["site_small_objs"] = [None] * 60000    # site_small_objs
    for i in range(60000): l[i] = (i, i + 0.5)      # site_small_objs
def site_thread():
    l = keep["site_thread"] = [None] * 5000         # site_thread
    for i in range(5000): l[i] = bytes(3000)        # site_thread
def churn():
    for _ in range(200):
        x = [bytes(2000) for _ in range(100)]
def listing(d):
    for _ in range(40):
        os.listdir(d)
site_big()
site_mid()
t = threading.Thread(target=site_thread)
t.start(); t.join()
site_small_objs()
churn()
listing(os.path.dirname(os.path.abspath(__file__)))
def size(v):
    n = sys.getsizeof(v)
    for o in v:
        n += sys.getsizeof(o)
        if isinstance(o, tuple):
            n += sum(sys.getsizeof(x) for x in o if not isinstance(x, int) or x > 256 or x < -5)
    return n
for k, v in keep.items():
    print(k, size(v))
sys.stdout.flush()
if sys.argv[1:] == ["wait"]:
    print("ready", flush=True)
    sys.stdin.read()
EOF
# estimated live bytes per site: stacks whose innermost Python frame is the
# site's function (or a comprehension inside it) against the truth; also
# that each site's frame names the script's file and the right line
check_py_sites() {   # truth collapsed
    "$PY" - "$1" "$2" "$W/sites.py" <<'EOF'
import re, sys
truth = dict((l.split()[0], int(l.split()[1])) for l in open(sys.argv[1]) if l.startswith("site_"))
src = open(sys.argv[3]).read().splitlines()
est, lines = {}, {}
pyf = re.compile(r"^(.*) \((.*):(-?\d+)\)$")
for l in open(sys.argv[2]):
    stack, v = l.rsplit(" ", 1)
    frames = stack.split(";")
    inner = None
    for f in reversed(frames):           # leaf last: the innermost Python frame
        m = pyf.match(f)
        if m:
            inner = m
            break
    if not inner:
        continue
    name = inner.group(1).split(".")[0]
    if inner.group(2) != sys.argv[3]:
        continue
    est[name] = est.get(name, 0) + float(v)
    lines.setdefault(name, set()).add(int(inner.group(3)))
total = sum(truth.values())
bad = []
for s, t in sorted(truth.items()):
    e = est.get(s, 0)
    err = (e - t) / t
    want = [i + 1 for i, l in enumerate(src) if l.endswith("# " + s)]
    print("%-16s truth %10d est %11.0f %+5.1f%%  lines %s (want %s)" % (s, t, e, 100 * err, sorted(lines.get(s, [])), want))
    if t >= 0.05 * total and abs(err) > 0.10:
        bad.append(s)
    if lines.get(s) and set(lines[s]) != set(want):
        bad.append(s + " lines")
sys.exit(1 if bad else 0)
EOF
}

# 2. at exit (run --profile): CPython has freed everything by then, so the
# bytes allocated since start (each site allocates what it keeps, and the
# loop's int objects below 257 bytes each: under 0.5% of it)
HEAPSHIM_PROFILE_RATE=8k HEAPSHIM_PROFILE_SEED=5 "$HS" run -q --profile "$W/exit" -- \
    "$PYBIN" "$W/sites.py" > "$W/truth" 2> "$W/exit.err"
p=$(ls "$W/exit"/*.prof 2>/dev/null | head -1)
c="$W/exit.alloc.collapsed"
[ -n "$p" ] && "$HS" profile "$p" --alloc --format collapsed > "$c" 2>> "$W/exit.err"
if [ -n "$p" ] && out=$(check_py_sites "$W/truth" "$c" 2>&1); then
    pass pyframes-accuracy-exit; echo "$out" | sed 's/^/    /'
else
    fail pyframes-accuracy-exit "$(head -c 400 "$W/exit.err") $out"
fi

# 2b. run --profile prints the main process's top stacks as Python frames,
# by bytes allocated since start (at exit CPython has freed the objects)
HEAPSHIM_PROFILE_RATE=8k HEAPSHIM_PROFILE_SEED=5 "$HS" run --profile "$W/exit2" -- \
    "$PYBIN" "$W/sites.py" > /dev/null 2> "$W/run.err"
top1=$(grep -m1 -E '^ +[0-9.]+ [KMG]?i?B +[0-9.]+%' "$W/run.err")
if grep -q "allocated since start" "$W/run.err" && grep -q "site_big ($W/sites.py:5) < <module> ($W/sites.py:" "$W/run.err" &&
    ! grep -q "_PyEval\|python3.11+" <<< "$top1" &&
    grep -q "Python frames only; the C frames too: heapshim profile .*--frames all" "$W/run.err"; then
    pass pyframes-run-top
else
    fail pyframes-run-top "first stack: '$top1'; $(tail -3 "$W/run.err")"
fi
# ... and its PID.collapsed and PID.svg by bytes allocated too (by live bytes
# at exit, after CPython's finalization, they were empty)
c2=$(ls "$W/exit2"/*.collapsed 2>/dev/null | head -1)
s2=$(ls "$W/exit2"/*.svg 2>/dev/null | head -1)
if [ -n "$c2" ] && grep -q "site_big ($W/sites.py:5)" "$c2" && [ -n "$s2" ] && grep -q "bytes allocated since start" "$s2" &&
    grep -q "site_big" "$s2"; then
    pass pyframes-run-files
else
    fail pyframes-run-files "$(ls -la "$W/exit2" 2>&1 | head -8)"
fi

# 3. the thread's site: its own stack (site_thread, no <module> frame:
# the thread's interpreter run starts in threading's bootstrap)
if [ -n "$c" ] && grep -q "site_thread ($W/sites.py:" "$c" &&
    ! grep "site_thread ($W/sites.py:" "$c" | grep -q "<module> ($W/sites.py"; then
    pass pyframes-thread
else
    fail pyframes-thread "$(grep -c site_thread "$c" 2>/dev/null) stacks name site_thread; $(grep site_thread "$c" 2>/dev/null | head -1 | head -c 400)"
fi

# 4. a C call that released the GIL: opendir's buffer (mem) under listing()
if [ -n "$c" ] && grep -E "listing \($W/sites.py:[0-9]+\);.*opendir" "$c" > /dev/null; then
    pass pyframes-gil-released
else
    fail pyframes-gil-released "no stack with listing() above opendir: $(grep opendir "$c" 2>/dev/null | head -2 | head -c 600)"
fi

# 5. read live from the running process (no attach): the same sites
mkfifo "$W/fifo"
HEAPSHIM_PROFILE_RATE=8k HEAPSHIM_PROFILE_SEED=9 LD_PRELOAD="$SHIM" "$PYBIN" "$W/sites.py" wait \
    < "$W/fifo" > "$W/truth-live" &
pid=$!
exec 9> "$W/fifo"
for _ in $(seq 200); do grep -q ready "$W/truth-live" 2>/dev/null && break; sleep 0.05; done
"$HS" profile $pid --format collapsed > "$W/live.collapsed" 2> "$W/live.err"
"$HS" profile $pid > "$W/live.top" 2>> "$W/live.err"
exec 9>&-
wait $pid
if out=$(check_py_sites "$W/truth-live" "$W/live.collapsed" 2>&1); then
    pass pyframes-accuracy-live; echo "$out" | sed 's/^/    /'
else
    fail pyframes-accuracy-live "$(cat "$W/live.err") $out"
fi
# the top view shows a Python line on each of its Python stacks
if grep -q "site_big ($W/sites.py:5)" "$W/live.top"; then
    pass pyframes-top-view
else
    fail pyframes-top-view "$(head -c 800 "$W/live.top")"
fi

# 5b. --frames: python keeps a stack's Python frames only (a stack without
# any keeps its native ones), native drops them; stacks made equal merge,
# and the totals stay what they were
if [ -n "$p" ]; then
    for fr in all python native; do
        "$HS" profile "$p" --alloc --frames $fr --format collapsed > "$W/fr-$fr.collapsed" 2> "$W/fr.err"
    done
    if out=$("$PY" - "$W" 2>&1 <<'EOF2'
import re, sys
w = sys.argv[1]
pyf = re.compile(r"^.* \(.*:-?\d+\)$")
tot, py = {}, {}
for fr in ("all", "python", "native"):
    lines = [l.rsplit(" ", 1) for l in open("%s/fr-%s.collapsed" % (w, fr))]
    tot[fr] = sum(float(v) for _, v in lines)
    stacks = [st.split(";") for st, _ in lines]
    py[fr] = sum(1 for st in stacks for f in st if pyf.match(f))
    if fr == "python":
        mixed = [st for st in stacks if any(pyf.match(f) for f in st) and not all(pyf.match(f) for f in st)]
        assert not mixed, "python view keeps native frames: %s" % ";".join(mixed[0])[:300]
        # (a stack may repeat here once per domain: collapsed lines carry none)
        assert len(stacks) < sum(1 for _ in open("%s/fr-all.collapsed" % w)), "nothing merged"
print("totals all %.0f python %.0f native %.0f; python frames: all %d python %d native %d" %
      (tot["all"], tot["python"], tot["native"], py["all"], py["python"], py["native"]))
assert abs(tot["python"] - tot["all"]) <= 1e-6 * tot["all"] + 1 and abs(tot["native"] - tot["all"]) <= 1e-6 * tot["all"] + 1
assert py["all"] > 0 and py["python"] > 0 and py["native"] == 0
EOF2
    ); then
        pass pyframes-frames-option; echo "    $out"
    else
        fail pyframes-frames-option "$out $(head -c 300 "$W/fr.err")"
    fi
    e1=$("$HS" profile "$p" --frames pythn 2>&1); r1=$?
    e2=$("$HS" profile "$p" --frames python --format pprof 2>&1); r2=$?
    if [ $r1 = 2 ] && [ $r2 = 2 ] && [ "$(echo "$e1" | wc -l)" = 1 ] && grep -q "'pythn'.*all, python, native" <<< "$e1" &&
        grep -q "addresses only" <<< "$e2"; then
        pass pyframes-frames-bad
    else
        fail pyframes-frames-bad "r1=$r1 '$e1' r2=$r2 '$e2'"
    fi
else
    fail pyframes-frames-option "no profile from step 2"
fi

# 6. the legacy pprof text: addresses only, none of them an interpreter frame
h=$(ls "$W/exit"/*.heap 2>/dev/null | head -1)
if [ -n "$h" ] && grep -q "@ 0x" "$h" && ! grep -Eq "0x8[0-9a-f]{15}" "$h"; then
    pass pyframes-pprof-native-only
else
    fail pyframes-pprof-native-only "$(grep -m2 -E '0x8[0-9a-f]{15}' "$h" 2>/dev/null | head -c 300)"
fi

# 7. HEAPSHIM_PYTHON=0: CPython left alone, no Python frames
HEAPSHIM_PYTHON=0 HEAPSHIM_PROFILE_RATE=8k "$HS" run -q --profile "$W/off" -- \
    "$PYBIN" "$W/sites.py" > /dev/null 2> "$W/off.err"
c0=$(ls "$W/off"/*.collapsed 2>/dev/null | head -1)
if [ -n "$c0" ] && [ -s "$c0" ] && ! grep -q "($W/sites.py:" "$c0"; then
    pass pyframes-off
else
    fail pyframes-off "$(head -c 300 "$W/off.err") $(grep -m1 "sites.py" "$c0" 2>/dev/null | head -c 300)"
fi

# 8. CPython's own tests of frames, generators and coroutines with nearly
# every allocation above a few hundred bytes sampled (each sample walks the
# Python frames): they pass as they do plain, and their frames are named
if "$PY" -c 'import test.libregrtest' 2>/dev/null; then
    mkdir -p "$W/suite" "$W/suite-prof"
    (cd "$W/suite" && PYTHONHASHSEED=0 HEAPSHIM_PROFILE_RATE=512 HEAPSHIM_PROFILE_OUT="$W/suite-prof" \
        LD_PRELOAD="$SHIM" timeout 300 "$PYBIN" -m test test_generators test_coroutines test_frame \
        test_asyncgen test_contextlib > "$W/suite.log" 2>&1); rc=$?
    named=0    # over the main process and the python3 subprocesses the tests start
    for sp in "$W/suite-prof"/*.prof; do
        [ -e "$sp" ] || continue
        k=$("$HS" profile "$sp" --alloc --format collapsed 2>/dev/null | grep -c "test_generators.py:[0-9]*)")
        named=$((named + k))
    done
    if [ $rc = 0 ] && grep -q "Tests result: SUCCESS" "$W/suite.log" && [ "$named" -gt 0 ]; then
        pass "pyframes-cpython-tests ($named stacks in test_generators.py)"
    else
        fail pyframes-cpython-tests "rc=$rc, $named stacks named; $(tail -5 "$W/suite.log" | tr '\n' ' ')"
    fi
else
    skip pyframes-cpython-tests "CPython's test suite is not installed (Debian: libpython3.11-testsuite)"
fi

# 9. an interpreter a program loads itself (libpython3.11 dlopen()ed after
# the shim started, RTLD_LOCAL): the same frames, from its own copy of
# CPython ("<string>" is the code given to PyRun_SimpleString)
LIBPY=$("$PYBIN" -c 'import sysconfig; print(sysconfig.get_config_var("INSTSONAME") or "")' 2>/dev/null)
if [ -n "$LIBPY" ] && "$PYBIN" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$LIBPY" 2>/dev/null; then
    cat > "$W/embed.c" <<'EOF2'
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    void *h = argc == 2 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
    void (*init)(void) = h ? (void (*)(void))dlsym(h, "Py_Initialize") : NULL;
    int (*run)(const char *) = h ? (int (*)(const char *))dlsym(h, "PyRun_SimpleString") : NULL;
    int (*fin)(void) = h ? (int (*)(void))dlsym(h, "Py_FinalizeEx") : NULL;
    if (!init || !run || !fin) return 2;
    init();
    run("def embedded_site():\n    return [str(i) * 40 for i in range(40000)]\nx = embedded_site()\nprint(len(x))\n");
    return fin() < 0 ? 1 : 0;
}
EOF2
    if ${CC:-cc} -o "$W/embed" "$W/embed.c" -ldl 2> "$W/embed.cc"; then
        HEAPSHIM_PROFILE_RATE=8k "$HS" run -q --profile "$W/embed-prof" -- "$W/embed" "$LIBPY" > "$W/embed.out" 2>&1
        ep=$(ls "$W/embed-prof"/*.prof 2>/dev/null | head -1)
        if [ -n "$ep" ] && "$HS" profile "$ep" --alloc --format collapsed 2>/dev/null |
            grep -q "embedded_site (<string>:2);embedded_site.<locals>.<listcomp> (<string>:2)"; then
            pass pyframes-embedded
        else
            fail pyframes-embedded "$(head -c 300 "$W/embed.out") $(ls "$W/embed-prof" 2>&1 | head -3)"
        fi
    else
        fail pyframes-embedded "cannot build: $(head -c 300 "$W/embed.cc")"
    fi
else
    skip pyframes-embedded "no loadable libpython3.11 ($LIBPY)"
fi

# 10. a hostile profile: stacks naming interpreter frames past the table, a
# table outside the file; read with a clear result, never a crash
if [ -n "$p" ]; then
    "$PY" - "$p" "$W" <<'EOF'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
# header: pyframes_off at the offset after exe[256]; see profile.h
off = 8 + 4 + 4 + 8 + 8 + 4 + 4 + 8 + 8 + 8 + 8 * 3 + 4 * 4 + 4 + 4 + 8 * 4 + 4 + 4 + 256
pyoff, cap, n = struct.unpack_from("<QII", b, off)
bad = bytearray(b); struct.pack_into("<QII", bad, off, pyoff, cap, 0)          # names with no table
open(sys.argv[2] + "/none.prof", "wb").write(bad)
bad = bytearray(b); struct.pack_into("<QII", bad, off, len(b) - 8, cap, n)     # table outside the file
open(sys.argv[2] + "/outside.prof", "wb").write(bad)
EOF
    "$HS" profile "$W/none.prof" --alloc > "$W/none.out" 2>&1; r1=$?
    "$HS" profile "$W/outside.prof" > "$W/outside.out" 2>&1; r2=$?
    if [ $r1 = 0 ] && grep -q "python frame #[0-9]*?" "$W/none.out" &&
        [ $r2 != 0 ] && [ $r2 -lt 128 ] && [ "$(wc -l < "$W/outside.out")" = 1 ] &&
        grep -q "outside the file" "$W/outside.out"; then
        pass pyframes-hostile
    else
        fail pyframes-hostile "r1=$r1 r2=$r2: $(head -c 300 "$W/none.out") / $(head -c 300 "$W/outside.out")"
    fi
else
    fail pyframes-hostile "no profile from step 2"
fi
finish
