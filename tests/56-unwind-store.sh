#!/bin/bash
# tests/56-unwind-store.sh - the unwind rules kept between processes
# (core/unwind.c, "the store"): <live dir>/unwind-<build-id>, appended at
# exit with the rules a process read from its objects' files, read when an
# object is first met. Checked with HEAPSHIM_PROFILE_UNWIND=verify, which
# walks every sample both ways (libgcc's and the cache's) and counts where
# the rules came from: a second run of a program takes its rules from the
# store, and every walk still equals libgcc's; gcc (cc1) run twice opens its
# own file a handful of times instead of a hundred. Hostile store files
# (garbage, truncated, a flipped byte, another object's chunks, a FIFO, a
# directory, symlinks, a file others can write, a huge sparse file, forged
# rules with a valid check) change nothing the program does; a symlink in
# the store's place is never written through; a bad file is written again
# from what checked; no live directory, no store.
. "$(dirname "$0")/lib.sh"
P="$ROOT/$B/tests/prog_unwind"
[ -f "$SHIM" ] || { fail store-built "no $SHIM (run make)"; finish; }
[ -x "$P" ] || { fail store-built "no $P (run make test-bins)"; finish; }
unset HEAPSHIM_PROFILE_SEED HEAPSHIM_PROFILE_UNWIND
case $(uname -m) in x86_64) ;; *) skip store "the cached walk is x86-64 only"; finish ;; esac
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

# "files memory store differ samples" of the verify summaries in stderr file $1
sums() {
    sed -n 's/^heapshim: unwind verify: \([0-9]*\) samples, [0-9]* walked by the cache, \([0-9]*\) differ; rules: \([0-9]*\) from files, \([0-9]*\) in memory, \([0-9]*\) from the store$/\3 \4 \5 \2 \1/p' "$1" |
        awk '{ f += $1; m += $2; s += $3; d += $4; n += $5 } END { print f + 0, m + 0, s + 0, d + 0, n + 0 }'
}
ID=$(readelf -n "$P" 2>/dev/null | sed -n 's/.*Build ID: \([0-9a-f]*\).*/\1/p')
[ -n "$ID" ] || { fail store-build-id "no GNU build-id in $P"; finish; }

# run the chains program (every allocation sampled) with live dir $1, verify
# walks; stdout to $2.out, stderr to $2.err; prints the sums
run_chains() {
    HEAPSHIM_DIR=$1 HEAPSHIM_PROFILE_UNWIND=verify HEAPSHIM_PROFILE_RATE=1 LD_PRELOAD="$SHIM" \
        timeout 60 "$P" chains > "$2.out" 2> "$2.err"
    echo "$? $(sums "$2.err")"
}
fresh() { rm -rf "$1"; mkdir -m 700 "$1"; }

# 1. written by the first run, read by the second
D="$TMPD/s1"; fresh "$D"
set -- $(run_chains "$D" "$TMPD/c1"); rc1=$1 f1=$2 s1=$4 d1=$5
set -- $(run_chains "$D" "$TMPD/c2"); rc2=$1 f2=$2 s2=$4 d2=$5
EXPECT=$(cat "$TMPD/c1.out")
if [ "$rc1$rc2" != 00 ] || [ "$d1$d2" != 00 ]; then
    fail store-warm "exits $rc1 $rc2, differ $d1 $d2: $(head -c 300 "$TMPD/c2.err")"
elif [ "$s1" != 0 ] || [ "$f1" -lt 20 ] || [ "$f2" != 0 ] || [ "$s2" -lt "$f1" ]; then
    fail store-warm "first run: $f1 rules from files, $s1 from the store; second: $f2 from files, $s2 from the store (want all from the store)"
elif [ ! -f "$D/unwind-$ID" ] || [ "$(stat -c %a "$D/unwind-$ID")" != 600 ]; then
    fail store-warm "no store file unwind-$ID of mode 600: $(ls -la "$D" | head -5)"
else
    pass store-warm; echo "    first run: $f1 rules from files; second: $f2 from files, $s2 from the store; 0 differ"
fi
GOOD="$TMPD/good"; cp "$D/unwind-$ID" "$GOOD"

# 2. a real program: gcc twice, the same samples (seeded); cc1's opens of
# its own file counted by strace when there is one. The second run reads
# from files the rules of code its samples reach and the first run's did
# not (gcc's allocations differ a little between runs: ASLR orders its
# hash tables): 66, 122, 140, 140 and 146 of about 2,900 in five clean
# runs of stop 35 (2.3-5.0%); the store must serve at least 90% of it.
if ! command -v gcc > /dev/null; then
    skip store-gcc "no gcc"
else
    gen_c_file "$TMPD/big.c"
    D="$TMPD/s2"; fresh "$D"
    for k in 1 2; do
        HEAPSHIM_DIR=$D HEAPSHIM_PROFILE_SEED=7 HEAPSHIM_PROFILE_UNWIND=verify HEAPSHIM_PROFILE_RATE=16k \
            LD_PRELOAD="$SHIM" gcc -O2 -c "$TMPD/big.c" -o "$TMPD/big$k.o" 2> "$TMPD/g$k.err"
        eval "g$k=\"\$? \$(sums \"$TMPD/g$k.err\")\""
    done
    set -- $g1; grc1=$1 gf1=$2 gs1=$4 gd1=$5
    set -- $g2; grc2=$1 gf2=$2 gs2=$4 gd2=$5
    if [ "$grc1$grc2" != 00 ] || [ "$gd1$gd2" != 00 ] || ! cmp -s "$TMPD/big1.o" "$TMPD/big2.o"; then
        fail store-gcc "exits $grc1 $grc2, differ $gd1 $gd2: $(head -c 300 "$TMPD/g2.err")"
    elif [ "$gf1" -lt 200 ] || [ $((gf2 * 10)) -gt "$gf1" ] || [ "$gs2" -lt $((gf1 * 9 / 10)) ]; then
        fail store-gcc "first run $gf1 rules from files; second $gf2 from files, $gs2 from the store (want <= 10% of the first from files, >= 90% from the store)"
    else
        pass store-gcc; echo "    gcc's processes: first run $gf1 rules from files; second $gf2 from files, $gs2 from the store; 0 differ"
    fi
    if command -v strace > /dev/null; then
        for k in 1 2; do
            [ $k = 1 ] && fresh "$D"
            HEAPSHIM_DIR=$D HEAPSHIM_PROFILE_SEED=7 HEAPSHIM_PROFILE_RATE=16k strace -f -qq -e trace=openat \
                -o "$TMPD/st$k" env LD_PRELOAD="$SHIM" gcc -O2 -c "$TMPD/big.c" -o "$TMPD/big$k.o" 2> /dev/null
            eval "o$k=\$(grep -cE 'openat.*(/proc/self/exe|/cc1\")' \"$TMPD/st$k\")"
        done
        if [ "$o1" -ge 20 ] && [ $((o2 * 4)) -le "$o1" ]; then
            pass store-gcc-opens; echo "    cc1 opened its own file $o1 times, then $o2"
        else
            fail store-gcc-opens "cc1 opened its own file $o1 times, then $o2 (want a quarter or less)"
        fi
    else
        skip store-gcc-opens "no strace"
    fi
fi

# 3. hostile store files in the program's place: the program's output and
# exit are unchanged, every walk equals libgcc's, nothing is taken from them
"$PY" - "$GOOD" "$TMPD" "$ID" <<'EOF'
import os, struct, sys
good, d, bid = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(good, "rb").read()
M = (1 << 64) - 1
def mix(h, w):
    h = ((h ^ w) * 0x100000001b3) & M
    return h ^ (h >> 29)
def check(idb, recs):
    ids = struct.unpack("<3Q", idb.ljust(24, b"\0"))
    h = mix(mix(mix(mix(0xcbf29ce484222325, (1 << 16) | len(recs)), ids[0]), ids[1]), ids[2])
    for off, rule in recs:
        h = mix(mix(h, off), rule)
    return h
def chunk(idb, recs):
    return struct.pack("<IHHQ", 0x57555348, 1, len(recs), check(idb, recs)) + b"".join(struct.pack("<QQ", *r) for r in recs)
# the good file must be what we think it is: one chunk that checks
magic, ver, n, chk = struct.unpack_from("<IHHQ", data, 0)
recs = [struct.unpack_from("<QQ", data, 16 + 16 * i) for i in range(n)]
idb = bytes.fromhex(bid)
assert magic == 0x57555348 and ver == 1 and chk == check(idb, recs), "good store file does not check"
w = lambda name, b: open(os.path.join(d, name), "wb").write(b)
w("h-garbage", os.urandom(4096))
w("h-truncated", data[:40])
flip = bytearray(data); flip[16 + 8] ^= 1; w("h-flipped", bytes(flip))
w("h-otherid", chunk(bytes(20), recs))                       # checks for another build-id only
w("h-version", struct.pack("<IHHQ", 0x57555348, 2, n, chk) + data[16:])
w("h-count", struct.pack("<IHHQ", 0x57555348, 1, 60000, chk) + data[16:])
# forged: valid check, rules that point anywhere (CFA far off, return address
# off the stack, the end of the walk, the fallback)
import random
rnd = random.Random(5)
forged = [(off, rnd.choice([rnd.getrandbits(64), 1 | (rnd.getrandbits(28) << 4), 2, 3, 1 | 4 | 8])) for off, _ in recs]
w("h-forged", chunk(idb, forged))
EOF
[ -f "$TMPD/h-forged" ] || fail store-hostile-made "could not make the hostile files"
hostile_run() {   # name, then how to put it in place (in $D)
    local name=$1; shift
    D="$TMPD/h"; fresh "$D"
    "$@"
    set -- $(run_chains "$D" "$TMPD/hr")
    local rc=$1 s=$4 d=$5
    if [ "$rc" != 0 ] || [ "$(cat "$TMPD/hr.out")" != "$EXPECT" ]; then
        fail "store-hostile-$name" "exit $rc, said '$(head -c 100 "$TMPD/hr.out")': $(head -c 300 "$TMPD/hr.err")"
    elif [ "$d" != 0 ]; then
        fail "store-hostile-$name" "$d samples differ from libgcc's walk"
    elif [ "$s" != 0 ]; then
        fail "store-hostile-$name" "$s rules taken from the hostile file"
    else
        pass "store-hostile-$name"
    fi
}
for h in garbage truncated flipped otherid version count; do
    hostile_run "$h" cp "$TMPD/h-$h" "$D/unwind-$ID"
done
hostile_run fifo mkfifo "$D/unwind-$ID"
hostile_run dir mkdir "$D/unwind-$ID"
hostile_run symlink-good ln -s "$GOOD" "$D/unwind-$ID"
hostile_run symlink-zero ln -s /dev/zero "$D/unwind-$ID"
hostile_run others-write sh -c "cp '$GOOD' '$D/unwind-$ID' && chmod 666 '$D/unwind-$ID'"
hostile_run sparse-1g sh -c "truncate -s 1G '$D/unwind-$ID'"

# forged rules with a valid check: taken (nothing tells them from true ones
# but libgcc), and the walk's bounds hold: the program is unchanged; verify
# mode counts the differences
D="$TMPD/f"; fresh "$D"; cp "$TMPD/h-forged" "$D/unwind-$ID"
out=$(HEAPSHIM_DIR=$D HEAPSHIM_PROFILE_RATE=1 LD_PRELOAD="$SHIM" timeout 60 "$P" chains 2> "$TMPD/f.err"); rc=$?
fresh "$D"; cp "$TMPD/h-forged" "$D/unwind-$ID"
set -- $(run_chains "$D" "$TMPD/fv")
if [ $rc != 0 ] || [ "$out" != "$EXPECT" ]; then
    fail store-forged "exit $rc, said '$out': $(head -c 300 "$TMPD/f.err")"
elif [ "$4" = 0 ] || [ "$5" = 0 ]; then
    fail store-forged "verify took $4 rules from the forged file and found $5 differences (want both > 0)"
else
    pass store-forged; echo "    program unchanged; verify: $4 forged rules taken, $5 of $6 samples differ from libgcc's"
fi

# 4. never written through a symlink; a bad file written again from what
# checked; no live directory, no store
D="$TMPD/w"; fresh "$D"; printf 'mine\n' > "$TMPD/victim"; ln -s "$TMPD/victim" "$D/unwind-$ID"
run_chains "$D" "$TMPD/w1" > /dev/null
if [ "$(cat "$TMPD/victim")" = mine ] && [ -L "$D/unwind-$ID" ]; then pass store-no-follow
else fail store-no-follow "the symlink's target became: $(head -c 100 "$TMPD/victim" | od -c | head -2)"; fi
D="$TMPD/r"; fresh "$D"; { cat "$GOOD"; head -c 100 /dev/urandom; } > "$D/unwind-$ID"
set -- $(run_chains "$D" "$TMPD/r1"); ra=$4
set -- $(run_chains "$D" "$TMPD/r2"); rb=$4 rbf=$2
if [ "$ra" -gt 0 ] && [ "$rbf" = 0 ] && [ "$rb" -ge "$ra" ]; then
    pass store-rewritten; echo "    the good chunk before the garbage gave $ra rules; after the rewrite $rb, 0 from files"
else
    fail store-rewritten "before the rewrite $ra rules from the store; after it $rb from the store, $rbf from files"
fi
D="$TMPD/p"; fresh "$D"
HEAPSHIM_PUBLISH=0 HEAPSHIM_DIR=$D HEAPSHIM_PROFILE_RATE=1 LD_PRELOAD="$SHIM" "$P" chains > /dev/null 2>&1
if ls "$D" | grep -q unwind-; then fail store-no-live-dir "HEAPSHIM_PUBLISH=0 wrote $(ls "$D")"; else pass store-no-live-dir; fi
finish
