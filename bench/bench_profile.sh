#!/bin/bash
# bench/bench_profile.sh - room: bench/. The cost of heap-profile sampling
# (issue 16): every workload under the shim with HEAPSHIM_PROFILE_RATE=0
# (off) and at the default rate (512 KiB), interleaved round by round (the
# side that goes first alternates), wall time, CPU time and peak RSS per
# run (bench/rusage_run). Prints one markdown row per workload: medians of
# the per-round ratios default/off with their min..max, and the geomean.
#
# Usage (repo root, after `make bench` built build/bench): bench/bench_profile.sh [-r ROUNDS]
set -u
B=${B:-build}
rounds=7
[ "${1:-}" = -r ] && rounds=$2
W=$B/bench
SHIM=$PWD/$B/libheapshim.so
PY=/usr/bin/python3
run=$W/rusage_run
for f in $run $W/wl_churn $W/wl_fixed $W/wl_mixed $W/wl_realloc $W/wl_large $W/wl_cxx $W/wl_logic; do
    [ -x "$f" ] || { echo "bench_profile: $f missing: run make bench (or make $f)" >&2; exit 2; }
done
T=$(mktemp -d /tmp/heapshim-bprof.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$PY" bench/gen_inputs.py "$T" full > /dev/null 2>&1 || { echo "bench_profile: gen_inputs.py failed" >&2; exit 2; }
names=(churn fixed mixed realloc large cxx logic python pyobj gcc sort)
cmds=("$W/wl_churn 4" "$W/wl_fixed 30" "$W/wl_mixed 4000 100000" "$W/wl_realloc 4000" "$W/wl_large 3000"
      "$W/wl_cxx 8" "$W/wl_logic 400" "$PY bench/alloc_churn.py 8" "$PY bench/py_objects.py 3 30000"
      "gcc -O2 -c $T/big.c -o /dev/null" "sort --parallel=2 -S 64M $T/lines.txt")
for ((r = 0; r < rounds; r++)); do
    for ((w = 0; w < ${#names[@]}; w++)); do
        order="0 512k"; [ $((r % 2)) = 1 ] && order="512k 0"
        for rate in $order; do
            env LD_PRELOAD=$SHIM HEAPSHIM_PROFILE_RATE=$rate $run "$T/res" ${cmds[w]} > /dev/null 2>&1 < /dev/null ||
                echo "bench_profile: ${names[w]} rate $rate failed" >&2
            echo "${names[w]} $rate $r $(cat "$T/res")" >> "$T/all"
        done
    done
done
"$PY" - "$T/all" <<'EOF'
import sys, statistics, math
rows = {}
for l in open(sys.argv[1]):
    name, rate, r, wall, rss, status, cpu = l.split()
    rows.setdefault(name, {}).setdefault(int(r), {})[rate] = (int(wall), int(rss), int(cpu))
print("| workload | wall default/off | cpu default/off | peak RSS default/off | wall off (median s) |")
print("|---|---|---|---|---|")
geo = {0: [], 1: [], 2: []}
def fmt(v): return "%.3f (%.3f..%.3f)" % (statistics.median(v), min(v), max(v))
for name, rs in rows.items():
    rat = {0: [], 1: [], 2: []}
    for r, d in rs.items():
        if "0" in d and "512k" in d:
            for k, idx in ((0, 0), (1, 2), (2, 1)):
                rat[k].append(d["512k"][idx] / d["0"][idx])
    for k in rat: geo[k].append(statistics.median(rat[k]))
    off = statistics.median(d["0"][0] for d in rs.values()) / 1e9
    print("| %s | %s | %s | %s | %.3f |" % (name, fmt(rat[0]), fmt(rat[1]), fmt(rat[2]), off))
g = lambda v: math.exp(sum(map(math.log, v)) / len(v))
print("| geomean | %.3f | %.3f | %.3f | |" % (g(geo[0]), g(geo[1]), g(geo[2])))
EOF
