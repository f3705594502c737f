#!/bin/bash
# bench/bench_profile.sh - room: bench/. The cost of heap-profile sampling
# (issue 16): every workload under the shim with HEAPSHIM_PROFILE_RATE=0
# (off) and at the default rate (512 KiB), interleaved round by round (the
# side that goes first alternates), wall time, CPU time and peak RSS per
# run (bench/rusage_run). Prints one markdown row per workload: medians of
# the per-round ratios default/off with their min..max and, for CPU time, a
# 95% bootstrap interval of that median (resampled rounds), and the geomean.
# A 2% effect needs the interval, not the spread: on this shared VM single
# rounds move by tens of percent.
#
# The runs use a live directory of their own (HEAPSHIM_DIR in a temporary
# directory), so the stack walker's rules kept between runs (the unwind store,
# docs/profiling.md) start empty and are warm after each workload's first
# sampled run; -c empties the store before every sampled run (a program's
# first run on a machine, every time).
#
# Usage (repo root, after `make bench` built build/bench):
#   bench/bench_profile.sh [-r ROUNDS] [-w NAME,NAME...] [-c] [-q] [--strict]
# -q: 2 rounds (a smoke run, not for figures); --strict: exit 1 on a MISS.
set -u
B=${B:-build}
rounds=15
only=
cold=0
strict=0
while [ $# -gt 0 ]; do
    case $1 in
    -r) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "bench_profile: -r wants a number of rounds >= 1, not '${2:-}'" >&2; exit 2; }
        rounds=$2; shift 2 ;;
    -w) [ -n "${2:-}" ] || { echo "bench_profile: -w wants workload names separated by commas" >&2; exit 2; }
        only=,$2,; shift 2 ;;
    -c) cold=1; shift ;;
    -q) rounds=2; shift ;;
    --strict) strict=1; shift ;;
    *) echo "bench_profile: unknown argument '$1' (accepted: -r ROUNDS, -w NAME,NAME..., -c, -q, --strict)" >&2; exit 2 ;;
    esac
done
W=$B/bench
SHIM=$PWD/$B/libheapshim.so
PY=/usr/bin/python3
run=$W/rusage_run
for f in $run $W/wl_churn $W/wl_fixed $W/wl_mixed $W/wl_realloc $W/wl_large $W/wl_cxx $W/wl_logic; do
    [ -x "$f" ] || { echo "bench_profile: $f missing: run make bench (or make $f)" >&2; exit 2; }
done
T=$(mktemp -d /tmp/heapshim-bprof.XXXXXX)
L=$(mktemp -d /dev/shm/heapshim-bprof.XXXXXX)   # tmpfs, like the default live directory
trap 'rm -rf "$T" "$L"' EXIT
"$PY" bench/gen_inputs.py "$T" full > /dev/null 2>&1 || { echo "bench_profile: gen_inputs.py failed" >&2; exit 2; }
names=(churn fixed mixed realloc large cxx logic python pyobj gcc sort)
cmds=("$W/wl_churn 4" "$W/wl_fixed 30" "$W/wl_mixed 4000 100000" "$W/wl_realloc 4000" "$W/wl_large 3000"
      "$W/wl_cxx 8" "$W/wl_logic 400" "$PY bench/alloc_churn.py 8" "$PY bench/py_objects.py 3 30000"
      "gcc -O2 -c $T/big.c -o /dev/null" "sort --parallel=2 -S 64M $T/lines.txt")
if [ -n "$only" ]; then
    for n in ${only//,/ }; do
        [[ " ${names[*]} " = *" $n "* ]] || { echo "bench_profile: -w: no workload '$n' (accepted: ${names[*]})" >&2; exit 2; }
    done
fi
for ((r = 0; r < rounds; r++)); do
    for ((w = 0; w < ${#names[@]}; w++)); do
        [ -z "$only" ] || [[ $only = *",${names[w]},"* ]] || continue
        order="0 512k"; [ $((r % 2)) = 1 ] && order="512k 0"
        for rate in $order; do
            [ $cold = 1 ] && [ $rate != 0 ] && rm -f "$L"/unwind-*
            env HEAPSHIM_DIR="$L" LD_PRELOAD=$SHIM HEAPSHIM_PROFILE_RATE=$rate $run "$T/res" ${cmds[w]} > /dev/null 2>&1 < /dev/null ||
                echo "bench_profile: ${names[w]} rate $rate failed" >&2
            echo "${names[w]} $rate $r $(cat "$T/res")" >> "$T/all"
        done
    done
done
"$PY" - "$T/all" "$strict" "$cold" <<'EOF'
import sys, statistics, math, random
rows = {}
for l in open(sys.argv[1]):
    name, rate, r, wall, rss, status, cpu = l.split()
    rows.setdefault(name, {}).setdefault(int(r), {})[rate] = (int(wall), int(rss), int(cpu))
SUITE = ("churn", "fixed", "mixed", "realloc", "large", "cxx", "logic")   # the speed suite's own
LIMIT = 1.02
med = statistics.median
def fmt(v): return "%.3f (%.3f..%.3f)" % (med(v), min(v), max(v))
g = lambda v: math.exp(sum(map(math.log, v)) / len(v))
# ratio[name][k]: per-round ratios default/off; k 0 wall, 1 cpu, 2 peak RSS
ratio = {}
for name, rs in rows.items():
    ratio[name] = {0: {}, 1: {}, 2: {}}
    for r, d in rs.items():
        if "0" in d and "512k" in d:
            for k, idx in ((0, 0), (1, 2), (2, 1)):
                ratio[name][k][r] = d["512k"][idx] / d["0"][idx]
rng = random.Random(1)
def boot(stat, names):
    # percentile bootstrap (2000 resamples of the rounds, one draw shared by
    # the workloads of a resample) of stat over the per-round CPU ratios
    rs = sorted(set.intersection(*(set(ratio[n][1]) for n in names)))
    out = []
    for _ in range(2000):
        pick = rng.choices(rs, k=len(rs))
        out.append(stat({n: [ratio[n][1][r] for r in pick] for n in names}))
    out.sort()
    return out[50], out[1949]
missed = []
def verdict(lo, hi):
    if lo > LIMIT: missed.append(1)
    return "PASS" if hi <= LIMIT else "MISS" if lo > LIMIT else "NOT RESOLVED (the interval holds %.2f)" % LIMIT
print("| workload | rounds | wall default/off | cpu default/off | cpu: 95% interval of the median | peak RSS default/off | wall off (median s) |")
print("|---|---|---|---|---|---|---|")
geo = {0: [], 1: [], 2: []}
iv = {}
for name, rs in rows.items():
    rat = {k: list(ratio[name][k].values()) for k in ratio[name]}
    if not rat[1]: continue
    for k in rat: geo[k].append(med(rat[k]))
    iv[name] = boot(lambda d: med(d[name]), [name])
    off = med(d["0"][0] for d in rs.values() if "0" in d) / 1e9
    print("| %s | %d | %s | %s | %.3f..%.3f | %s | %.3f |" % (name, len(rat[1]), fmt(rat[0]), fmt(rat[1]), iv[name][0],
                                                        iv[name][1], fmt(rat[2]), off))
print("| geomean | | %.3f | %.3f | | %.3f | |" % (g(geo[0]), g(geo[1]), g(geo[2])))
print()
suite = [n for n in SUITE if n in iv]
if suite:
    lo, hi = boot(lambda d: g([med(v) for v in d.values()]), suite)
    gm = g([med(ratio[n][1].values()) for n in suite])
    print("- target: sampling at the default rate costs <= 2%% CPU time, speed suite geomean (%s): **%s** (%.3f, interval %.3f..%.3f)"
          % (" ".join(suite), verdict(lo, hi), gm, lo, hi))
for n in ("python", "pyobj", "gcc", "sort"):
    if n in iv:
        print("- target: sampling at the default rate costs <= 2%% CPU time, %s: **%s** (%.3f, interval %.3f..%.3f)"
              % (n, verdict(*iv[n]), med(ratio[n][1].values()), iv[n][0], iv[n][1]))
over = ["%s %.3f" % (n, med(ratio[n][2].values())) for n in iv if med(ratio[n][2].values()) > LIMIT]
if iv:
    print("- target: sampling at the default rate costs <= 2%% peak RSS, every workload: **%s**%s"
          % ("MISS" if over else "PASS", " (over: " + ", ".join(over) + ")" if over else ""))
    if over: missed.append(1)
print("\nThe unwind store (docs/profiling.md): %s. Peak RSS is ru_maxrss, which moves in steps of up to about "
      "128 KiB in a small program (docs/profiling.md, \"The smallest programs\")."
      % ("emptied before every sampled run (-c: each run is a program's first on the machine)" if sys.argv[3] == "1"
         else "kept between runs (warm after each workload's first sampled run)"))
sys.exit(1 if sys.argv[2] == "1" and missed else 0)
EOF
