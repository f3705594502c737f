#!/bin/bash
# run-suites: alone (a bpftrace USDT one-liner on the shim, felt by every shimmed process)
# tests/43-profile.sh - sampled heap profiles (issue 16): estimated live bytes
# per call site against the exact figures of a program with known sites
# (within 10% for every site holding >= 5% of the heap, two seeds, at exit
# and read live from a running process); a 1 MiB leak among 100 MiB of churn
# in the top 5; google-pprof --text on our output names the right functions
# (a C program, and gcc's cc1 compared with heapshim's own libdw names);
# the SVG flame graph parses; 4096 distinct stacks each interned once, and
# no libgcc_s in a sampled program; C++ exceptions while every allocation is
# sampled; pprof's protobuf (protoc --decode against the
# legacy text, go tool pprof); both stack walks (fp, dwarf) on known chains;
# HEAPSHIM_PROFILE_RATE validation and 0 = off;
# hostile profile files; diff (profile --diff and heapshim diff of two
# profiles); a fork child's own profile; the last profile of a process
# killed by SIGKILL, and gc removing it (hardened); the USDT points
# with a bpftrace one-liner, whose count must equal the profile's.
. "$(dirname "$0")/lib.sh"
HS="$ROOT/$B/heapshim"
PROG="$ROOT/$B/tests/prog_sites"
[ -x "$HS" ] || { fail profile-built "no $HS (run make)"; finish; }
[ -x "$PROG" ] || { fail profile-built "no $PROG (run make test-bins)"; finish; }
export HEAPSHIM_LIB="$SHIM"
W="$TMPD/prof"; mkdir -p "$W"
HAVE_DW=$(sed -n 's/^#define HS_HAVE_DW \([01]\).*/\1/p' "$ROOT/$B/config.h")
# a build that does not even decide about libdw has no profiles at all
[ -n "$HAVE_DW" ] || { fail profile-configured "no HS_HAVE_DW in $B/config.h: heap profiles not built"; finish; }

# estimated live bytes per site (leaf frame of the collapsed stacks) vs the
# program's own exact figures: every site with >= 5% of the total within 10%
check_sites() {   # name truth-file collapsed-file
    "$PY" - "$2" "$3" <<'EOF'
import sys
truth = dict((l.split()[0], int(l.split()[1])) for l in open(sys.argv[1]) if l.startswith("site_"))
est = {}
for l in open(sys.argv[2]):
    stack, v = l.rsplit(" ", 1)
    leaf = stack.split(";")[-1]
    est[leaf] = est.get(leaf, 0) + float(v)
total = sum(truth.values())
bad, checked = [], 0
for s, t in truth.items():
    if t < 0.05 * total:
        continue
    checked += 1
    e = est.get(s, 0)
    err = (e - t) / t
    print("%-18s truth %10d est %10.0f  %+5.1f%%" % (s, t, e, 100 * err))
    if abs(err) > 0.10:
        bad.append(s)
assert checked >= 5, checked
sys.exit(1 if bad else 0)
EOF
}

if [ "$HAVE_DW" != 1 ]; then
    skip profile-accuracy "heapshim built without libdw (libdw-dev): no symbol names"
else
    # 1. at exit, through run --profile, two seeds
    for seed in 1 7; do
        rm -rf "$W/s$seed"
        HEAPSHIM_PROFILE_RATE=2k HEAPSHIM_PROFILE_SEED=$seed "$HS" run -q --profile "$W/s$seed" -- \
            "$PROG" sites > "$W/truth$seed" 2> "$W/err$seed"
        c=$(ls "$W/s$seed"/*.collapsed 2>/dev/null | head -1)
        if [ -n "$c" ] && out=$(check_sites x "$W/truth$seed" "$c" 2>&1); then
            pass "profile-accuracy-exit-seed$seed"; echo "$out" | sed 's/^/    /'
        else
            fail "profile-accuracy-exit-seed$seed" "$(cat "$W/err$seed") $out"
        fi
    done
    # 2. live, from the running process (no attach)
    mkfifo "$W/fifo"
    HEAPSHIM_PROFILE_RATE=2k LD_PRELOAD="$SHIM" "$PROG" sites wait < "$W/fifo" > "$W/truth-live" &
    pid=$!
    exec 9> "$W/fifo"
    for _ in $(seq 200); do grep -q ready "$W/truth-live" 2>/dev/null && break; sleep 0.05; done
    "$HS" profile $pid --format collapsed > "$W/live.collapsed" 2> "$W/live.err"
    [ -e "$HEAPSHIM_DIR/$pid.prof" ] && had=1 || had=0
    exec 9>&-
    wait $pid
    if out=$(check_sites x "$W/truth-live" "$W/live.collapsed" 2>&1); then
        pass profile-accuracy-live; echo "$out" | sed 's/^/    /'
    else
        fail profile-accuracy-live "$(cat "$W/live.err") $out"
    fi
    [ $had = 1 ] && [ ! -e "$HEAPSHIM_DIR/$pid.prof" ] && pass profile-file-removed-at-exit \
        || fail profile-file-removed-at-exit "had=$had, still there: $(ls "$HEAPSHIM_DIR")"
fi

# 2b. the stack walks on known call chains (a program keeping its frame
# pointers, a second thread): HEAPSHIM_PROFILE_UNWIND=fp and the default
# unwinder both record main;fp_top_a;fp_mid;fp_leaf_alloc (24 MiB) and
# fp_thread;fp_top_b;fp_leaf_alloc (8 MiB), each within 10% of its bytes
FPPROG="$ROOT/$B/tests/prog_fpchain"
if [ "$HAVE_DW" != 1 ]; then
    skip profile-unwind-chains "heapshim built without libdw (libdw-dev): no symbol names"
elif [ ! -x "$FPPROG" ]; then
    fail profile-unwind-chains "no $FPPROG (run make test-bins)"
else
    for unw in fp dwarf; do
        rm -rf "$W/unw-$unw"
        HEAPSHIM_PROFILE_UNWIND=$unw HEAPSHIM_PROFILE_RATE=16k HEAPSHIM_PROFILE_SEED=3 \
            "$HS" run -q --profile "$W/unw-$unw" -- "$FPPROG" > "$W/unw-$unw.truth" 2> "$W/unw-$unw.err"
        c=$(ls "$W/unw-$unw"/*.collapsed 2>/dev/null | head -1)
        if [ -n "$c" ] && out=$("$PY" - "$W/unw-$unw.truth" "$c" 2>&1 <<'EOF2'
import sys
truth = dict((l.split()[0], int(l.split()[1])) for l in open(sys.argv[1]))
chains = {"fp_top_a": "main;fp_top_a;fp_mid;fp_leaf_alloc", "fp_top_b": "fp_thread;fp_top_b;fp_leaf_alloc"}
est = dict.fromkeys(chains, 0.0)
for l in open(sys.argv[2]):
    stack, v = l.rsplit(" ", 1)
    for k, c in chains.items():
        if stack == c or stack.endswith(";" + c):
            est[k] += float(v)
ok = True
for k in chains:
    err = (est[k] - truth[k]) / truth[k]
    print("%-9s %-38s truth %9d est %11.0f %+5.1f%%" % (k, chains[k], truth[k], est[k], 100 * err))
    ok = ok and abs(err) <= 0.10
sys.exit(0 if ok else 1)
EOF2
        ); then
            pass "profile-unwind-chains-$unw"; echo "$out" | sed 's/^/    /'
        else
            fail "profile-unwind-chains-$unw" "$(cat "$W/unw-$unw.err") $out $(head -3 "$c" 2>/dev/null)"
        fi
    done
fi

# 2b. the stack table: 4096 distinct stacks (every path through 12 levels of
# two functions, 3 blocks of 64 B each), every allocation sampled, while the
# writer's hash index grows from 512 slots (core/sample.c): each stack once,
# with its 3 blocks; and the walk works without libgcc_s in the process (the
# shim links its unwinder in: interpose/interpose.mk)
MSPROG="$ROOT/$B/tests/prog_manystacks"
if [ ! -x "$MSPROG" ]; then
    fail profile-many-stacks "no $MSPROG (run make test-bins)"
else
    rm -rf "$W/ms"
    HEAPSHIM_PROFILE_RATE=1 "$HS" run -q --profile "$W/ms" -- "$MSPROG" 12 maps > "$W/ms.out" 2> "$W/ms.err"
    f=$(ls "$W/ms"/*.prof 2>/dev/null | head -1)
    if [ -n "$f" ] && "$HS" profile "$f" --format pprof -n 100000 > "$W/ms.heap" 2>> "$W/ms.err" &&
       out=$("$PY" - "$W/ms.heap" <<'EOF2'
import sys
stacks = [l.split("@", 1) for l in open(sys.argv[1]) if "@" in l and not l.startswith("heap profile")]
addrs = [a.split() for _, a in stacks]
dups = len(addrs) - len(set(tuple(a) for a in addrs))
# the leaf's stacks: 3 objects of 192 bytes each, 26 frames or more
leaf = [c for c, a in zip(stacks, addrs) if c[0].split()[:2] == ["3:", "192"] and len(a) >= 26]
print("%d stacks, %d duplicated, %d with the leaf's 3 blocks" % (len(addrs), dups, len(leaf)))
sys.exit(0 if dups == 0 and len(leaf) == 4096 else 1)
EOF2
       ); then
        pass profile-many-stacks; echo "    $out"
    else
        fail profile-many-stacks "$(cat "$W/ms.err") ${out:-}"
    fi
    if grep -q '^stacks 4096' "$W/ms.out" && ! grep -q '^mapped:' "$W/ms.out"; then
        pass profile-no-libgcc-s
    else
        fail profile-no-libgcc-s "libgcc_s mapped in a program the shim samples: $(grep '^mapped:' "$W/ms.out" | head -2)"
    fi
fi

# 2c. C++ exceptions while every allocation is sampled: the program's
# unwinder (libgcc_s) and the shim's private copy run nested, each on its own
# state; every throw must arrive intact
CXX_BIN=$(command -v g++ || true)
if [ -z "$CXX_BIN" ]; then
    skip profile-cxx-exceptions "no g++ to build tests/shim/prog_exceptions.cpp"
elif ! "$CXX_BIN" -O2 -o "$W/prog_exceptions" "$ROOT/tests/shim/prog_exceptions.cpp" 2> "$W/exc.err"; then
    fail profile-cxx-exceptions "g++ failed: $(head -3 "$W/exc.err")"
else
    rm -rf "$W/exc"
    if out=$(HEAPSHIM_PROFILE_RATE=1 "$HS" run -q --profile "$W/exc" -- "$W/prog_exceptions" 2> "$W/exc.err") &&
       [ "$out" = "caught 20000" ] && [ -n "$(ls "$W/exc"/*.prof 2>/dev/null)" ]; then
        pass profile-cxx-exceptions
    else
        fail profile-cxx-exceptions "out '$out': $(head -3 "$W/exc.err")"
    fi
fi

# 3. a 1 MiB leak among 100 MiB of churn and other holders: in the top 5
if [ "$HAVE_DW" = 1 ]; then
    for seed in 1 2 3; do
        rm -rf "$W/leak"
        HEAPSHIM_PROFILE_RATE=64k HEAPSHIM_PROFILE_SEED=$seed "$HS" run -q --profile "$W/leak" -- "$PROG" leak 2> "$W/leak.err"
        top=$("$HS" profile "$W"/leak/*.prof -n 5 2>&1)
        echo "$top" | sed -n '3,7p' | grep -q ' leak_site < main' && pass "profile-leak-top5-seed$seed" \
            || fail "profile-leak-top5-seed$seed" "$top"
    done
fi

# 4. google-pprof reads our legacy text and names the right functions
if ! command -v google-pprof > /dev/null; then
    skip profile-pprof "google-pprof not installed (google-perftools)"
elif [ "$HAVE_DW" != 1 ]; then
    skip profile-pprof "no libdw"
else
    heap=$(ls "$W"/s1/*.heap | head -1)
    txt=$(google-pprof --text "$PROG" "$heap" 2>&1)
    top3=$(echo "$txt" | awk '$2 ~ /%$/ {print $6}' | head -3 | sort | tr '\n' ' ')
    [ "$top3" = "site_big3000 site_mid300 site_small64 " ] && pass profile-pprof-c-program \
        || fail profile-pprof-c-program "top3 '$top3': $txt"
    # gcc: cc1's allocations since start; pprof (nm/addr2line on cc1) and
    # heapshim (libdw) must agree on the top three functions (by their own
    # bytes), and they must be libiberty's wrappers through which gcc mallocs.
    # pprof leaves out the allocation functions of its list, operator new
    # among them, and charges their callers: so does the heapshim side here
    # (a SAN run's samples put _Znwm third, where pprof had xrealloc)
    rm -rf "$W/gcc"
    "$HS" run -q --profile "$W/gcc" -- gcc -O2 -c "$ROOT/tests/shim/prog_sites.c" -o "$W/x.o" 2> "$W/gcc.err"
    cc1prof=
    for f in "$W"/gcc/*.prof; do
        "$HS" profile "$f" | head -1 | grep -q '/cc1)' && cc1prof=$f
    done
    if [ -z "$cc1prof" ]; then
        fail profile-pprof-gcc "no profile of cc1: $(ls "$W/gcc") $(cat "$W/gcc.err")"
    else
        cc1=$("$HS" profile "$cc1prof" | head -1 | sed 's/^heap profile of pid [0-9]* (\([^)]*\)).*/\1/')
        p=$(google-pprof --text --alloc_space "$cc1" "${cc1prof%.prof}.heap" 2>&1 | awk '$2 ~ /%$/ {print $6}' | head -3)
        h=$("$HS" profile "$cc1prof" --alloc --format collapsed | "$PY" -c '
import sys
t = {}
for l in sys.stdin:
    s, v = l.rsplit(" ", 1)
    frames = s.split(";")
    while len(frames) > 1 and frames[-1].startswith(("_Znw", "_Zna")):
        frames.pop()
    leaf = frames[-1]
    t[leaf] = t.get(leaf, 0) + float(v)
print("\n".join(sorted(t, key=t.get, reverse=True)[:3]))')
        if [ "$(echo "$p" | sort)" = "$(echo "$h" | sort)" ] && echo "$p" | grep -qx xmalloc &&
           ! echo "$p" | grep -qv -e '^xmalloc$' -e '^xcalloc$' -e '^xrealloc$' -e '^xstrdup$' -e '^xmemdup$'; then
            pass profile-pprof-gcc; echo "$p" | sed 's/^/    /'
        else
            fail profile-pprof-gcc "pprof: $p / heapshim: $h"
        fi
    fi
fi

# 4b. pprof's protobuf (--format pb, run --profile's PID.pb.gz): decoded by
# protoc --decode with our schema, every stack of the legacy text is a
# sample with the same four values (so the totals agree), the top three
# functions by inuse_space are the program's three biggest sites; and
# `go tool pprof` (Go's own reader) reads it and names the same three
HAVE_PPROF=$(sed -n 's/^#define HS_HAVE_PPROF \([01]\).*/\1/p' "$ROOT/$B/config.h")
pb=$(ls "$W"/s1/*.pb.gz 2>/dev/null | head -1)
if [ "$HAVE_PPROF" != 1 ]; then
    skip profile-pb "heapshim built without protobuf-c/zlib (libprotobuf-c-dev, protobuf-c-compiler, zlib1g-dev)"
    out=$("$HS" profile "$(ls "$W"/s1/*.prof | head -1)" --format pb -o "$W/x.pb.gz" 2>&1); rc=$?
    [ $rc = 2 ] && [[ $out == *"without protobuf-c"* ]] && pass profile-pb-unavailable || fail profile-pb-unavailable "rc $rc: $out"
elif [ "$HAVE_DW" != 1 ]; then
    skip profile-pb "no libdw: no names to check"
elif [ -z "$pb" ]; then
    fail profile-pb "run --profile wrote no PID.pb.gz: $(ls "$W/s1")"
else
    heap=$(ls "$W"/s1/*.heap | head -1)
    if ! command -v protoc > /dev/null; then
        skip profile-pb-protoc "protoc not installed (protobuf-compiler)"
    elif out=$(gzip -dc "$pb" | protoc --decode=perftools.profiles.Profile -I"$ROOT/tools" "$ROOT/tools/pprof.proto" 2>&1 |
               "$PY" -c '
import sys, re
def parse(lines, i):
    d = {}
    while i < len(lines):
        l = lines[i].strip(); i += 1
        if l == "}": return d, i
        if l.endswith("{"):
            v, i = parse(lines, i); d.setdefault(l[:-1].strip(), []).append(v)
        else:
            k, v = l.split(":", 1); v = v.strip()
            d.setdefault(k, []).append(v[1:-1] if v[:1] == chr(34) else v == "true" if v in ("true", "false") else int(v))
    return d, i
text = sys.stdin.read().splitlines()
p, _ = parse(text, 0)
st = p["string_table"]; st = [""] + st if st[0] != "" else st
types = [st[t["type"][0]] for t in p["sample_type"]]
assert types == ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"], types
assert st[p["default_sample_type"][0]] == "inuse_space"
loc = dict((l["id"][0], l) for l in p["location"])
fn = dict((f["id"][0], st[f["name"][0]]) for f in p["function"])
pb = {}
leaf = {}
for s in p["sample"]:
    ids = s.get("location_id", [])
    if not ids: continue
    addrs = tuple(loc[i]["address"][0] for i in ids)
    pb[addrs] = tuple(s["value"])
    name = fn[loc[ids[0]]["line"][0]["function_id"][0]]
    leaf[name] = leaf.get(name, 0) + s["value"][3]
legacy = {}
for l in open(sys.argv[1]):
    m = re.match(r"\s*(\d+):\s*(\d+) \[\s*(\d+):\s*(\d+)\] @ (.*)", l)
    if m and "heapprofile" not in l:
        v = tuple(int(x) for x in m.groups()[:4])
        legacy[tuple(int(a, 16) for a in m.group(5).split())] = (v[2], v[3], v[0], v[1])
assert legacy and set(legacy) == set(pb), (len(legacy), len(pb))
bad = [k for k in legacy if legacy[k] != pb[k]]
assert not bad, [(legacy[k], pb[k]) for k in bad[:3]]
tot = [sum(v[i] for v in pb.values()) for i in range(4)]
top = sorted(leaf, key=leaf.get, reverse=True)[:3]
assert sorted(top) == ["site_big3000", "site_mid300", "site_small64"], top
print("%d stacks, values equal to the legacy text; inuse %d B in %d objects, alloc %d B; top %s" % (len(pb), tot[3], tot[2], tot[1], " ".join(top)))
' "$heap" 2>&1); then
        pass profile-pb-protoc; echo "    $out"
    else
        fail profile-pb-protoc "$out"
    fi
    if ! command -v go > /dev/null; then
        skip profile-pb-go "go not installed (golang-go): go tool pprof"
    else
        txt=$(HOME=$TMPD GOCACHE=$TMPD/gocache go tool pprof -top -sample_index=inuse_space "$pb" 2>&1)
        top3=$(echo "$txt" | awk '$2 ~ /^[0-9.]+%$/ {print $6}' | head -3 | sort | tr '\n' ' ')
        [ "$top3" = "site_big3000 site_mid300 site_small64 " ] && pass profile-pb-go \
            || fail profile-pb-go "top3 '$top3': $txt"
    fi
fi

# 5. the flame graph is well-formed SVG with the sites in it
svg=$(ls "$W"/s1/*.svg 2>/dev/null | head -1)
if [ "$HAVE_DW" = 1 ]; then
    "$PY" -c '
import sys, xml.etree.ElementTree as ET
t = ET.parse(sys.argv[1]); ns = "{http://www.w3.org/2000/svg}"
rects = t.getroot().iter(ns + "rect"); texts = [e.text for e in t.getroot().iter(ns + "title")]
assert sum(1 for _ in rects) > 8
assert any(x and x.startswith("site_small64 ") for x in texts), texts[:20]' "$svg" 2>&1 \
        && pass profile-svg || fail profile-svg "$svg"
fi

# 6. HEAPSHIM_PROFILE_RATE: a bad value warns once and the program runs; 0 = off
out=$(HEAPSHIM_PROFILE_RATE=lots LD_PRELOAD="$SHIM" "$PROG" sites 2>&1 >/dev/null)
[ "$(echo "$out" | grep -c 'HEAPSHIM_PROFILE_RATE=lots')" = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] \
    && pass profile-rate-bad-value || fail profile-rate-bad-value "$out"
rm -rf "$W/off"
HEAPSHIM_PROFILE_RATE=0 "$HS" run -q --profile "$W/off" -- "$PROG" sites > /dev/null 2>&1
[ -d "$W/off" ] && [ -z "$(ls "$W/off")" ] && pass profile-rate-zero-off || fail profile-rate-zero-off "$(ls "$W/off")"

# 7. hostile files: refused with one line and exit 2, never a crash
head -c 1000 "$(ls "$W"/s1/*.prof | head -1)" > "$W/trunc.prof"
head -c 300000 /dev/urandom > "$W/random.prof"
"$PY" - "$(ls "$W"/s1/*.prof | head -1)" "$W/bad-offsets.prof" <<'EOF'
import sys, struct
d = bytearray(open(sys.argv[1], "rb").read())
struct.pack_into("<Q", d, 72, 1 << 62)      # modules_off far outside
open(sys.argv[2], "wb").write(d)
EOF
ln -s "$(ls "$W"/s1/*.prof | head -1)" "$W/link.prof"
for f in trunc random bad-offsets link; do
    out=$("$HS" profile "$W/$f.prof" 2>&1); rc=$?
    [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"$W/$f.prof"* ]] && pass "profile-hostile-$f" || fail "profile-hostile-$f" "rc $rc: $out"
done
# 7b. profile -o: never its own input, no symbolic link followed, no wait on
# a FIFO nobody reads (one line, exit 2, nothing changed)
cp "$(ls "$W"/s1/*.prof | head -1)" "$W/self.prof"; cp "$W/self.prof" "$W/self.copy"
echo precious > "$W/target"; ln -s "$W/target" "$W/olink"; mkfifo "$W/ofifo"
po() {   # name pattern args...: exit 2, exactly one line matching
    local name=$1 pat=$2; shift 2
    local out rc; out=$(timeout 10 "$HS" profile "$@" 2>&1 >/dev/null); rc=$?
    cmp -s "$W/self.prof" "$W/self.copy" || { fail "$name-input-kept" "$(ls -l "$W/self.prof")"; cp "$W/self.copy" "$W/self.prof"; }
    [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -Eq -- "$pat" && pass "$name" || fail "$name" "rc $rc (124: hung): $out"
}
po profile-o-input "^heapshim profile: -o $W/self.prof: the same file as the profile $W/self.prof \(accepted: another file, or - for stdout\)$" \
    "$W/self.prof" -o "$W/self.prof"
po profile-o-input-other-name "^heapshim profile: -o $W/./self.prof: the same file as the profile $W/self.prof " "$W/self.prof" -o "$W/./self.prof"
po profile-o-symlink "^heapshim profile: -o $W/olink: is a symbolic link: not followed, not replaced \(accepted" "$W/self.prof" -o "$W/olink"
po profile-o-fifo "^heapshim profile: -o $W/ofifo: cannot open it for writing: a FIFO nobody reads$" "$W/self.prof" -o "$W/ofifo"
cmp -s "$W/self.prof" "$W/self.copy" && [ "$(cat "$W/target")" = precious ] && pass profile-o-nothing-replaced \
    || fail profile-o-nothing-replaced "$(ls -l "$W/self.prof" "$W/target")"
"$HS" profile "$W/self.prof" -o "$W/self.txt" && grep -q '^heap profile of pid' "$W/self.txt" && [ -z "$(ls "$W" | grep '\.tmp\.')" ] \
    && pass profile-o-file || fail profile-o-file "$(head -3 "$W/self.txt"; ls "$W")"
# 7c. profile's options follow the one parser (tools/opts.c): --opt=VALUE,
# --output, `--`, `-o -` standard output (it made a file named -)
"$HS" profile "$W/self.prof" --format collapsed > "$W/opt.ref" 2>&1
out=$("$HS" profile "$W/self.prof" --format=collapsed 2>&1) && [ "$out" = "$(cat "$W/opt.ref")" ] && [ -s "$W/opt.ref" ] \
    && pass profile-opt-value-eq || fail profile-opt-value-eq "$out"
rm -f "$W/opt.out"
"$HS" profile "$W/self.prof" --format collapsed --output "$W/opt.out" 2>&1 && cmp -s "$W/opt.out" "$W/opt.ref" \
    && pass profile-opt-output-long || fail profile-opt-output-long "$(head -c 200 "$W/opt.out")"
out=$("$HS" profile --format collapsed -- "$W/self.prof" 2>&1) && [ "$out" = "$(cat "$W/opt.ref")" ] \
    && pass profile-opt-dashdash || fail profile-opt-dashdash "$out"
out=$(cd "$W" && "$HS" profile self.prof --format collapsed -o - 2>&1) && [ "$out" = "$(cat "$W/opt.ref")" ] && [ ! -e "$W/-" ] \
    && pass profile-opt-o-stdout || fail profile-opt-o-stdout "$(ls -l "$W/-" 2>&1): $out"
out=$("$HS" profile --help 2>&1); rc=$?
[ $rc = 0 ] && [[ $out == "usage: heapshim profile "* ]] && pass profile-opt-help || fail profile-opt-help "rc $rc: $out"
out=$("$HS" profile 999999999 2>&1); rc=$?
[ $rc = 2 ] && [[ $out == *"no profile for pid 999999999"* ]] && pass profile-no-such-pid || fail profile-no-such-pid "rc $rc: $out"

# 8. diff: from the leak run to the sites run, site_small64 grew most
if [ "$HAVE_DW" = 1 ]; then
    out=$("$HS" profile --diff "$W"/leak/*.prof "$W"/s1/*.prof 2>&1)
    echo "$out" | sed -n 3p | grep -q 'site_small64' && pass profile-diff || fail profile-diff "$out"
    # heapshim diff recognises two profiles by their content (names without .prof)
    cp "$(ls "$W"/leak/*.prof | head -1)" "$W/base.bin"; cp "$(ls "$W"/s1/*.prof | head -1)" "$W/new.bin"
    out2=$("$HS" diff "$W/base.bin" "$W/new.bin" 2>&1); rc=$?
    [ $rc = 0 ] && [ "$out2" = "$(echo "$out" | sed "s|[^ ]*/leak/[0-9]*.prof|$W/base.bin|; s|[^ ]*/s1/[0-9]*.prof|$W/new.bin|")" ] \
        && echo "$out2" | sed -n 3p | grep -q 'site_small64' && pass profile-diff-command || fail profile-diff-command "rc $rc: $out2"
    # a profile against a run report: one line naming the report, exit 2
    echo '{"schema":1}' > "$W/run.json"
    out=$("$HS" diff "$W/base.bin" "$W/run.json" 2>&1); rc=$?
    [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"$W/run.json"* ]] && pass profile-diff-mixed \
        || fail profile-diff-mixed "rc $rc: $out"
fi

# 8b. report --profile: the table, then the top stacks
if [ "$HAVE_DW" = 1 ]; then
    rm -rf "$W/rep"
    HEAPSHIM_PROFILE_RATE=64k "$HS" run -q -o "$W/rep.json" --profile "$W/rep" -- "$PROG" leak 2>/dev/null
    out=$("$HS" report "$W/rep.json" --profile "$W"/rep/*.prof 2>&1)
    echo "$out" | grep -q '^  total ' && echo "$out" | grep -A3 '^heap profile of pid' | grep -q 'hold_8m < main' \
        && pass profile-report-top || fail profile-report-top "$out"
fi

# 8c. run --profile (not -q): the main process's table, then its top stacks;
# sampling off: the table alone
if [ "$HAVE_DW" = 1 ]; then
    rm -rf "$W/runtop" "$W/runtop0"
    HEAPSHIM_PROFILE_RATE=64k "$HS" run --profile "$W/runtop" -- "$PROG" leak > /dev/null 2> "$W/runtop.err"
    HEAPSHIM_PROFILE_RATE=0 "$HS" run --profile "$W/runtop0" -- "$PROG" leak > /dev/null 2> "$W/runtop0.err"
    grep -A20 '^  total ' "$W/runtop.err" | grep -A3 '^heap profile of pid .*live (estimated)' | grep -q 'hold_8m < main' &&
        grep -q '^  total ' "$W/runtop0.err" && ! grep -q 'heap profile of pid' "$W/runtop0.err" \
        && pass profile-run-top || fail profile-run-top "$(cat "$W/runtop.err" "$W/runtop0.err")"
fi

# 8d. a hostile profile: its module paths name a FIFO. The symbolizer opens
# what the file names; a FIFO there must not block it (nothing writes to it)
# (a short directory: the FIFO's path replaces the program's, no longer)
if [ "$HAVE_DW" = 1 ] && [ -d "$W/runtop" ] && FD=$(mktemp -d /tmp/hsf.XXXXXX) && mkfifo "$FD/f"; then
    "$PY" - "$W"/runtop/*.prof "$W/hostile.prof" "$PROG" "$FD/f" <<'PYEOF'
import sys
src, dst, old, new = sys.argv[1], sys.argv[2], sys.argv[3].encode(), sys.argv[4].encode()
b = open(src, "rb").read()
assert len(new) <= len(old) and old in b
open(dst, "wb").write(b.replace(old, new + b"\0" * (len(old) - len(new))))
PYEOF
    out=$(timeout 20 "$HS" profile "$W/hostile.prof" 2>&1); rc=$?
    [ $rc = 0 ] && [[ $out == *"($FD/f)"* ]] && pass profile-hostile-fifo || fail profile-hostile-fifo "rc $rc (124: hung): $out"
    rm -rf "$FD"
fi

# 9. fork: the child writes a profile of its own, with its own pid
rm -rf "$W/fork"
"$HS" run -q --profile "$W/fork" -- sh -c "'$PROG' sites > /dev/null; '$PROG' leak" > /dev/null 2>&1
n=$(ls "$W/fork"/*.prof 2>/dev/null | wc -l)
[ "$n" -ge 2 ] && pass profile-per-process || fail profile-per-process "$(ls "$W/fork")"

# 9b. a process killed by SIGKILL: run --profile keeps its last live profile
# (a fixed seed and 64 KiB, so that the top stack is no matter of luck: at
# the default 512 KiB with a random seed, about 32 samples are expected at
# site_small64's 16 MiB and 16 at site_mid300's 8 MiB, and in one CI run the
# second outranked the first)
rm -rf "$W/kill"
HEAPSHIM_PROFILE_RATE=64k HEAPSHIM_PROFILE_SEED=1 "$HS" run -q --profile "$W/kill" -- bash -c "sleep 4 | '$PROG' sites wait > /dev/null & p=\$!; sleep 2.5; kill -9 \$p; wait; echo \$p > '$W/killed.pid'" > /dev/null 2>&1
kp=$(cat "$W/killed.pid" 2>/dev/null)
if [ -n "$kp" ] && [ -s "$W/kill/$kp.prof" ] && [ -s "$W/kill/$kp.heap" ]; then
    top=$("$HS" profile "$W/kill/$kp.prof" -n 1 2>&1)
    if [ "$HAVE_DW" != 1 ] || echo "$top" | sed -n 3p | grep -q 'site_small64 < main'; then
        pass profile-killed-process
    else
        fail profile-killed-process "$top"
    fi
else
    fail profile-killed-process "pid '$kp': $(ls "$W/kill" 2>&1)"
fi
# 9c. gc removes a killed process's profile (and its live file) from the live
# directory, with the live files' rules: not a running process's, not a
# symlink, not a file whose header names another pid, not another user's
if [ -n "$kp" ] && [ -e "$HEAPSHIM_DIR/$kp.prof" ]; then
    LP="$HEAPSHIM_DIR/$kp.prof"
    # a running process's profile: its own, kept
    mkfifo "$W/gcfifo"
    HEAPSHIM_PROFILE_RATE=2k LD_PRELOAD="$SHIM" "$PROG" sites wait < "$W/gcfifo" > "$W/gc-run.out" &
    rp=$!
    exec 8> "$W/gcfifo"
    for _ in $(seq 200); do grep -q ready "$W/gc-run.out" 2>/dev/null && break; sleep 0.05; done
    # hostile neighbours: a symlink to the stale profile, a profile whose header names another pid
    ln -s "$LP" "$HEAPSHIM_DIR/4000001.prof"
    cp "$LP" "$HEAPSHIM_DIR/4000002.prof"; chmod 600 "$HEAPSHIM_DIR/4000002.prof"
    dry=$("$HS" gc --dry-run 2>&1)
    out=$("$HS" gc 2>&1); rc=$?
    left=$(ls "$HEAPSHIM_DIR")
    if [ $rc = 0 ] && [ ! -e "$LP" ] && [ -e "$HEAPSHIM_DIR/$rp.prof" ] && [ -L "$HEAPSHIM_DIR/4000001.prof" ] &&
       [ -e "$HEAPSHIM_DIR/4000002.prof" ] && [[ $dry == *"would remove $LP (pid $kp, heap profile)"* ]] &&
       echo "$out" | grep -q "4000001.prof: is a symlink" && echo "$out" | grep -q "4000002.prof: its header names another pid"; then
        pass profile-gc-killed
    else
        fail profile-gc-killed "rc $rc: $dry / $out / left: $left"
    fi
    exec 8>&-
    wait $rp
    rm -f "$HEAPSHIM_DIR/4000001.prof" "$HEAPSHIM_DIR/4000002.prof"
else
    fail profile-gc-killed "no profile of the killed process $kp left in $HEAPSHIM_DIR: $(ls "$HEAPSHIM_DIR")"
fi

# 10. USDT: sampled allocations seen by a bpftrace one-liner, as many as the profile recorded
if [ "$(sed -n 's/^#define HS_HAVE_SDT \([01]\).*/\1/p' "$ROOT/$B/config.h")" != 1 ]; then
    skip profile-usdt "built without <sys/sdt.h>"
elif ! readelf -n "$SHIM" | grep -q 'Name: sample_alloc'; then
    fail profile-usdt "$SHIM has no heapshim:sample_alloc note although <sys/sdt.h> is there"
elif ! command -v bpftrace > /dev/null || [ "$(id -u)" != 0 ]; then
    skip profile-usdt "bpftrace or root missing"
else
    rm -rf "$W/usdt"; mkdir -p "$W/usdt"
    L="$W/usdt/libheapshim.so"; cp "$SHIM" "$L"   # an inode of our own: no other process fires these
    timeout 120 bpftrace -e "usdt:$L:heapshim:sample_alloc { @n = count(); @b = sum(arg2); }
        usdt:$L:heapshim:sample_free { @f = count(); }" > "$W/bt.out" 2>&1 &
    btpid=$!
    for _ in $(seq 200); do grep -q -e '^Attaching' -e ERROR "$W/bt.out" && break; sleep 0.1; done
    sleep 0.5
    LD_PRELOAD=$L HEAPSHIM_PROFILE_RATE=64k HEAPSHIM_PROFILE_OUT=$W/usdt "$PROG" sites > /dev/null
    kill -INT $btpid 2>/dev/null; wait $btpid
    bt=$(cat "$W/bt.out")
    n=$(echo "$bt" | sed -n 's/^@n: \([0-9]*\)/\1/p')
    samples=$("$HS" profile "$W"/usdt/*.prof 2>/dev/null | head -1 | sed -n 's/.*, \([0-9]*\) samples.*/\1/p')
    if [ -z "$n" ]; then
        skip profile-usdt "bpftrace cannot attach here: $(echo "$bt" | head -2)"
    elif [ -n "$n" ] && [ "$n" = "$samples" ]; then
        pass profile-usdt; echo "    bpftrace: $n sampled allocations, profile: $samples"
    else
        fail profile-usdt "bpftrace '$bt' vs profile samples '$samples'"
    fi
fi
finish
