#!/bin/bash
# tests/30-real-programs.sh - real programs we did not write, plain vs under
# the shim in every allocator mode: same stdout, same exit status, and
# consistent reports (allocs >= frees, peak >= live) from every process.
. "$(dirname "$0")/lib.sh"
[ -f "$SHIM" ] || { skip real-programs "no $SHIM"; finish; }
W="$TMPD/work"; mkdir -p "$W"

# inputs
"$PY" - "$W" <<'PYEOF'
import random, sys
random.seed(7)
d = sys.argv[1]
with open(d + "/lines.txt", "w") as f:
    for i in range(300000):
        f.write("%08d %s\n" % (random.randrange(10**8), "x" * random.randrange(40)))
with open(d + "/alloc.py", "w") as f:
    f.write("""
import json
d = {}
for i in range(150000):
    d["k%d" % i] = [i, str(i) * 3, {"v": i}]
s = json.dumps(d)
back = json.loads(s)
words = sorted(set(s.split('"')))
print(len(back), len(words), sum(len(w) for w in words) % 99991)
""")
with open(d + "/hello.c", "w") as f:
    f.write('#include <stdio.h>\nstruct p { int x, y; };\nint main(void) { struct p v[4] = {{1,2},{3,4}}; int s = 0; for (int i = 0; i < 4; i++) s += v[i].x * v[i].y; printf("sum %d\\n", s); return 0; }\n')
PYEOF

export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
export GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'
export GIT_CONFIG_NOSYSTEM=1 HOME="$W"

declare -A CMDS
CMDS[python3]="'$PY' alloc.py"
CMDS[perl]="perl -e 'my %h; \$h{\$_} = [\$_ x 3, {v=>\$_}] for 1..200000; my @k = sort keys %h; print scalar(@k), \" \", length(join(\",\", @k[0..999])), \"\\n\"'"
CMDS[git]="rm -rf repo && git init -q -b main repo && cd repo && cp ../lines.txt a.txt && git add a.txt && git commit -q -m one && echo more >> a.txt && git commit -q -am two && git log --format='%s %T' && git count-objects"
CMDS[gcc]="gcc -O2 -o hello hello.c && ./hello"
CMDS[sort]="sort --parallel=2 -S 8M lines.txt | md5sum"
CMDS[xz]="xz -T2 -3 -c lines.txt > lines.xz && xz -T2 -dc lines.xz | md5sum"
CMDS[mt_workload]="'$ROOT/$B/tests/mt_workload' 4 150"

run_one() {   # name mode  -> compares with the plain run
    local name=$1 mode=$2 cmd=${CMDS[$1]}
    local want="$TMPD/plain-$name.out"
    if [ ! -f "$want" ]; then
        (cd "$W" && bash -c "$cmd") > "$want" 2>/dev/null; echo $? > "$want.rc"
    fi
    local rdir="$TMPD/rep-$name-$mode"; mkdir -p "$rdir"
    (cd "$W" && HEAPSHIM_ALLOCATOR=$mode HEAPSHIM_REPORT="$rdir/%p.json" LD_PRELOAD="$SHIM" \
        bash -c "$cmd") > "$TMPD/got.out" 2> "$TMPD/got.err"
    local rc=$?
    if [ "$rc" != "$(cat "$want.rc")" ]; then
        fail "$name-$mode" "exit $rc, plain $(cat "$want.rc"); stderr: $(head -c 400 "$TMPD/got.err")"; return
    fi
    if ! cmp -s "$want" "$TMPD/got.out"; then
        fail "$name-$mode" "output differs: $(diff "$want" "$TMPD/got.out" | head -5)"; return
    fi
    if grep -q 'heapshim' "$TMPD/got.err"; then
        fail "$name-$mode" "shim wrote on stderr: $(grep heapshim "$TMPD/got.err" | head -3)"; return
    fi
    local why
    why=$("$PY" - "$rdir" "$mode" <<'PYEOF'
import glob, json, sys
reps = glob.glob(sys.argv[1] + "/*.json")
if not reps:
    print("no reports"); sys.exit(1)
want = {"pymalloc": "pymalloc", "malloc": "malloc", "debug": "pymalloc_debug"}[sys.argv[2]]
allocs = 0
for p in reps:
    r = json.load(open(p))
    if r["allocator"] != want:
        print(p, "allocator", r["allocator"]); sys.exit(1)
    for d, x in list(r["domains"].items()) + [("total", r["total"])]:
        if x["allocs"] < x["frees"] or x["peak_bytes"] < x["live_bytes"]:
            print(p, d, x); sys.exit(1)
        if d != "total" and x["live_blocks"] != x["allocs"] - x["frees"]:
            print(p, d, "live_blocks", x); sys.exit(1)
    allocs += r["total"]["allocs"]
if allocs == 0:
    print("no allocation counted"); sys.exit(1)
print(len(reps), "reports", allocs, "allocs")
PYEOF
) || { fail "$name-$mode" "reports: $why"; return; }
    pass "$name-$mode ($why)"
}

for name in python3 perl git gcc sort xz mt_workload; do
    for mode in pymalloc malloc; do run_one $name $mode; done
done
for name in python3 git sort mt_workload; do run_one $name debug; done
finish
