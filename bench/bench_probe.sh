#!/bin/bash
# bench/bench_probe.sh - room: bench/. `make bench` part 3 (issue 6): what
# heapshim-probe costs the programs it watches, side by side in one run:
#
#   1. shimmed workloads with the probe attached (live mode, refreshing every
#      second, as an operator runs it) vs not attached, alternating each
#      round; the median of the per-round ratios, wall and CPU time;
#   2. how often the publication point fires while a workload runs (the
#      probe's own usdt_hits count over one second);
#   3. the approach the probe avoids: a bpftrace uprobe on libc's malloc and
#      free (what bcc's memleak does), plain glibc workload with vs without.
#
# Prints markdown tables and PASS/MISS for the target (probe attached: under
# 1% slower). Needs root and build/heapshim-probe; prints a SKIP line and
# exits 0 without them (the probe is optional). Touches only a temporary
# directory of its own.
#
# Usage (from the repo root, B=build): bench/bench_probe.sh [-r ROUNDS] [-q] [--strict]
#   -r N      rounds of part 1 (1..99, default 9); part 3 runs 3 rounds
#   -q        quick: 1 round, small inputs (smoke test, not for figures)
#   --strict  exit 1 when the target is missed
set -u
B=${B:-build}
rounds=9 quick=0 strict=0
while [ $# -gt 0 ]; do
    case $1 in
        -r) if ! [[ ${2:-} =~ ^[0-9]{1,2}$ ]] || [ "$2" -lt 1 ]; then
                echo "bench_probe: bad round count '${2:-}' for -r: expected an integer from 1 to 99" >&2
                exit 2
            fi
            rounds=$2; shift ;;
        -q) quick=1; rounds=1 ;;
        --strict) strict=1 ;;
        *) echo "bench_probe: unknown argument '$1': accepted: -r ROUNDS (1..99), -q, --strict" >&2
           exit 2 ;;
    esac
    shift
done

run=$B/bench/rusage_run
probe=$B/heapshim-probe
for f in "$run" "$B/bench/wl_churn" "$B/bench/wl_mt" "$B/bench/wl_publish" "$B/libheapshim.so"; do
    [ -e "$f" ] || { echo "bench_probe: $f missing: run 'make bench'" >&2; exit 2; }
done
skip() { echo "### heapshim-probe overhead: SKIPPED ($1)"; exit 0; }
[ -x "$probe" ] || skip "$probe not built: needs clang, bpftool, libbpf-dev (see make's output)"
[ "$(id -u)" = 0 ] || skip "not root: the probe loads BPF programs"
[ -r /sys/kernel/btf/vmlinux ] || skip "kernel without BTF"

for v in $(compgen -e | grep '^HEAPSHIM_'); do unset "$v"; done
unset LD_PRELOAD
shim=$(cd "$B" && pwd)/libheapshim.so
tmp=$(mktemp -d /tmp/hs-bench-probe.XXXXXX) || exit 1
probe_pid=
stop_probe() {
    [ -n "$probe_pid" ] || return 0
    kill -INT "$probe_pid" 2>/dev/null
    wait "$probe_pid" 2>/dev/null
    probe_pid=
}
trap 'stop_probe; rm -rf "$tmp"' EXIT

# start the probe in live mode; return once it has drawn its first frame
# (it is attached then), or fail
start_probe() {
    : > "$tmp/probe.out"
    "$probe" --lib "$shim" --interval 1000 > "$tmp/probe.out" 2> "$tmp/probe.err" &
    probe_pid=$!
    for _ in $(seq 200); do
        [ -s "$tmp/probe.out" ] && return 0
        kill -0 "$probe_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "bench_probe: heapshim-probe did not start: $(head -c 300 "$tmp/probe.err")" >&2
    stop_probe
    return 1
}

if [ $quick = 1 ]; then churn_m=1 mt_b=2000 small_m=1; else churn_m=5 mt_b=15000 small_m=1; fi
PY=/usr/bin/python3
[ -x $PY ] || PY=$(command -v python3)
wl_name=(churn mt4 python)
wl_cmd=(
    "$B/bench/wl_churn $churn_m"
    "$B/bench/wl_mt 4 $mt_b"
    "$PY bench/alloc_churn.py $([ $quick = 1 ] && echo 3 || echo 12)"
)
wl_desc=(
    "small-object churn (wl_churn, $churn_m M ops)"
    "4 threads, cross-thread frees (wl_mt)"
    "python3 dict/list/str churn"
)
nwl=${#wl_name[@]}
# longer versions of the same workloads, for part 2 (they must outlive the
# 1-second reading)
hits_cmd=(
    "$B/bench/wl_churn 200"
    "$B/bench/wl_mt 4 400000"
    "$PY bench/alloc_churn.py 100"
)

# one measured run: run_one LABEL W ROUND ENV... -- appends "label w round wall rss st cpu"
results=$tmp/results
: > "$results"
run_one() {
    local label=$1 w=$2 r=$3; shift 3
    # shellcheck disable=SC2086  # the command is word-split on purpose
    "$run" "$tmp/m" env "$@" ${wl_cmd[w]} > /dev/null 2> "$tmp/err"
    local wall rss st cpu
    read -r wall rss st cpu < "$tmp/m" || { wall=0 rss=0 st=999 cpu=0; }
    [ "$st" = 0 ] || echo "bench_probe: ${wl_name[w]} ($label): exit $st: $(head -c 300 "$tmp/err")" >&2
    echo "$label $w $r $wall $rss $st $cpu" >> "$results"
}

# ---- 1. probe attached vs not, alternating which comes first ---------------
for ((r = 0; r < rounds; r++)); do
    for half in 0 1; do
        if (( (r + half) % 2 )); then
            start_probe || exit 1
            for ((w = 0; w < nwl; w++)); do run_one on $w $r "LD_PRELOAD=$shim"; done
            stop_probe
        else
            for ((w = 0; w < nwl; w++)); do run_one off $w $r "LD_PRELOAD=$shim"; done
        fi
    done
    echo "bench_probe: round $((r + 1))/$rounds done" >&2
done

# ---- 2. publication rate while a workload runs -------------------------------
# the probe's count of USDT hits of one process over one second of --wait
declare -A HITS
for ((w = 0; w < nwl; w++)); do
    # shellcheck disable=SC2086
    env LD_PRELOAD="$shim" ${hits_cmd[w]} > /dev/null 2>&1 &
    wpid=$!
    sleep 0.2
    "$probe" --lib "$shim" --once --json --wait 1000 --pid "$wpid" > "$tmp/hits.json" 2> /dev/null
    HITS[$w]=$($PY -c '
import json, sys
try:
    p = [p for p in json.load(open(sys.argv[1]))["processes"] if p["pid"] == int(sys.argv[2])]
    print(p[0]["kernel"]["usdt_hits"] if p else "n/a (exited)")
except Exception as e:
    print("n/a")' "$tmp/hits.json" "$wpid")
    kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
done

# ---- 2b. what the probe adds to one publication -------------------------------
# wl_publish calls hs_publish() in a loop (each call passes the USDT point);
# ns per call with the probe attached minus without is the probe's cost per
# hit. Times the hit rate of part 2, it is the probe's share of a second of
# the workload -- a figure the noisy A/B of part 1 cannot resolve at 1%.
pub_n=$([ $quick = 1 ] && echo 20000 || echo 200000)
pub_rounds=$([ $quick = 1 ] && echo 1 || echo 5)
: > "$tmp/pub"
for ((r = 0; r < pub_rounds; r++)); do
    for half in 0 1; do
        if (( (r + half) % 2 )); then
            start_probe || exit 1
            ns=$(env LD_PRELOAD="$shim" "$B/bench/wl_publish" $pub_n 2> "$tmp/err") && echo "on $ns" >> "$tmp/pub"
            stop_probe
        else
            ns=$(env LD_PRELOAD="$shim" "$B/bench/wl_publish" $pub_n 2> "$tmp/err") && echo "off $ns" >> "$tmp/pub"
        fi
        [ -n "$ns" ] || echo "bench_probe: wl_publish failed: $(head -c 300 "$tmp/err")" >&2
    done
done

# ---- 3. the memleak approach: bpftrace uprobes on libc malloc/free -------------
libc=$(ldd "$B/bench/wl_churn" | awk '/libc\.so/ { print $3; exit }')
bt_rounds=$([ $quick = 1 ] && echo 1 || echo 3)
bt_note=
wl_cmd+=("$B/bench/wl_churn $small_m")
wl_name+=(churn-small)
bt_w=$nwl
if ! command -v bpftrace > /dev/null; then
    bt_note="bpftrace not installed (Debian package bpftrace)"
elif [ -z "$libc" ]; then
    bt_note="cannot find the libc wl_churn uses"
else
    # every malloc entry and return and every free, counted per process: the
    # least work a memleak-style tracer does on each call
    bt_prog="BEGIN { printf(\"ready\\n\"); }
uprobe:$libc:malloc { @calls[pid] = count(); }
uretprobe:$libc:malloc { @rets[pid] = count(); }
uprobe:$libc:free { @frees[pid] = count(); }"
    for ((r = 0; r < bt_rounds; r++)); do
        run_one bt-off $bt_w $r
        ( ulimit -l unlimited 2>/dev/null; exec bpftrace -e "$bt_prog" ) > "$tmp/bt.out" 2> "$tmp/bt.err" &
        bt_pid=$!
        ok=0
        for _ in $(seq 300); do
            grep -q '^ready' "$tmp/bt.out" 2>/dev/null && { ok=1; break; }
            kill -0 "$bt_pid" 2>/dev/null || break
            sleep 0.05
        done
        if [ $ok = 0 ]; then
            bt_note="bpftrace did not attach: $(head -c 200 "$tmp/bt.err" | tr '\n' ' ')"
            kill "$bt_pid" 2>/dev/null; wait "$bt_pid" 2>/dev/null
            break
        fi
        run_one bt-on $bt_w $r
        kill -INT "$bt_pid"; wait "$bt_pid" 2>/dev/null
    done
fi

# ---- statistics ---------------------------------------------------------------
median() { sort -g | awk '{v[NR] = $1} END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# per-round ratios of column col, label b over label a, for workload w
ratios() {
    awk -v a="$1" -v b="$2" -v w="$3" -v col="$4" '
        $2 == w && $1 == a && $6 == 0 { base[$3] = $col }
        $2 == w && $1 == b && $6 == 0 { val[$3] = $col }
        END { for (r in val) if (base[r] > 0) print val[r] / base[r] }' "$results"
}
spread() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", (v[NR] - v[1]) * 50; else print "nan" }'; }
secs() { awk -v a="$1" -v w="$2" '$1 == a && $2 == w { print $4 / 1e9 }' "$results" | median; }
failures() { awk '$6 != 0 { n++ } END { print n + 0 }' "$results"; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "### heapshim-probe overhead ($(date -u +%Y-%m-%d), $(nproc) cpus, $cpu, kernel $(uname -r))"
echo
echo "Workloads under the shim (default mode), with heapshim-probe attached (live mode,"
echo "1 s refresh) vs not attached; median of $rounds rounds$([ $quick = 1 ] && echo ', QUICK mode: not for publication'),"
echo "alternating which comes first. Cells: median per-round ratio attached/not attached"
echo "(± half the spread of the ratios, in %). USDT hits: publications the probe saw in one"
echo "second of the workload."
echo
pub_off=$(awk '$1 == "off" { print $2 }' "$tmp/pub" | median)
pub_on=$(awk '$1 == "on" { print $2 }' "$tmp/pub" | median)
pub_cost=$(awk -v a="$pub_on" -v b="$pub_off" 'BEGIN { if (a == "nan" || b == "nan") print "nan"; else printf "%.0f", a - b }')
echo "| workload | not attached, s | wall ratio | CPU ratio | USDT hits/s | probe's share, computed |"
echo "|---|---|---|---|---|---|"
declare -A W C
for ((w = 0; w < nwl; w++)); do
    W[$w]=$(ratios off on $w 4 | median)
    c=$(ratios off on $w 7 | median)
    # hits per second times ns per hit, as a fraction of that second
    C[$w]=$(awk -v h="${HITS[$w]}" -v ns="$pub_cost" 'BEGIN { if (h !~ /^[0-9]+$/ || ns == "nan") print "nan"; else printf "%.4f", h * (ns > 0 ? ns : 0) / 1e9 * 100 }')
    printf '| %s | %.2f | %.3fx (±%s%%) | %.3fx (±%s%%) | %s | %s%% |\n' "${wl_desc[w]}" "$(secs off $w)" \
        "${W[$w]}" "$(ratios off on $w 4 | spread)" "$c" "$(ratios off on $w 7 | spread)" "${HITS[$w]}" "${C[$w]}"
done
echo
echo "Cost of one publication (hs_publish() in a loop, wl_publish, $pub_n calls, median of"
echo "$pub_rounds rounds each way): $pub_off ns not attached, $pub_on ns attached; the probe adds"
echo "**$pub_cost ns per USDT hit**. The last column is USDT hits/s x that cost: the share of"
echo "each second of the workload spent in the probe."
echo
echo "The approach the probe avoids — a probe on every call — on plain glibc:"
echo
echo "| workload | plain glibc, s | with bpftrace uprobes on malloc (entry, return) and free | ratio |"
echo "|---|---|---|---|"
if [ -n "$bt_note" ]; then
    echo "| small-object churn (wl_churn, $small_m M ops) | $(secs bt-off $bt_w) | not measured: $bt_note | |"
    btr=nan
else
    btr=$(ratios bt-off bt-on $bt_w 4 | median)
    printf '| small-object churn (wl_churn, %s M ops) | %.2f | %.2f s | %.1fx (%s rounds) |\n' \
        "$small_m" "$(secs bt-off $bt_w)" "$(secs bt-on $bt_w)" "$btr" "$bt_rounds"
fi
echo
# The target is judged on the computed share (per-hit cost x hit rate, both
# measured here); the direct A/B ratio is printed beside it with its noise.
verdict=PASS detail="" direct=""
for ((w = 0; w < nwl; w++)); do
    ok=$(awk -v v="${C[$w]}" 'BEGIN { print (v != "nan" && v + 0 < 1) ? 1 : 0 }')
    [ "$ok" = 1 ] || verdict=MISS
    detail+="${detail:+, }${wl_name[w]} ${C[$w]}%$([ "$ok" = 1 ] || echo ' ✗')"
    direct+="${direct:+, }${wl_name[w]} $(printf '%.3fx' "${W[$w]}") (±$(ratios off on $w 4 | spread)%)"
done
nf=$(failures)
[ "$nf" = 0 ] || { verdict=MISS; detail+=", $nf failed runs"; }
echo "- target: probe attached, under 1% slower (USDT hits/s x cost per hit < 1%): **$verdict** ($detail)"
echo "- direct A/B wall ratio, attached/not attached: $direct -- on this shared machine the"
echo "  run-to-run noise is far above 1%, so these bound the overhead only loosely"
[ "$btr" != nan ] && echo "- for comparison: uprobes on every malloc/free: $(printf '%.1fx' "$btr") on the same kind of workload"
[ $strict = 1 ] && [ $verdict = MISS ] && exit 1
exit 0
