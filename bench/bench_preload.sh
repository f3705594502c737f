#!/bin/bash
# bench/bench_preload.sh - room: bench/. `make bench` part 2 (issue 4): real
# programs and workloads of ours, plain (glibc) and under LD_PRELOAD of the
# shim in each mode and of jemalloc / tcmalloc / mimalloc, round-robin over
# several rounds in one run. Prints markdown tables of median wall-time and
# peak-RSS ratios vs glibc (per-round ratios, then the median), and PASS/MISS
# for the issue's targets, computed from what was measured.
# Touches only a temporary directory of its own.
#
# Usage (from the repo root, B=build): bench/bench_preload.sh [-r ROUNDS] [-q] [--strict]
#   -r N      rounds (1..99, default 7)
#   -q        quick: one round, small inputs (smoke test, not for figures)
#   --strict  exit 1 when a target is missed
set -u
B=${B:-build}
rounds=7 quick=0 strict=0
while [ $# -gt 0 ]; do
    case $1 in
        -r) if ! [[ ${2:-} =~ ^[0-9]{1,2}$ ]] || [ "$2" -lt 1 ]; then
                echo "bench_preload: bad round count '${2:-}' for -r: expected an integer from 1 to 99" >&2
                exit 2
            fi
            rounds=$2; shift ;;
        -q) quick=1; rounds=1 ;;
        --strict) strict=1 ;;
        *) echo "bench_preload: unknown argument '$1': accepted: -r ROUNDS (1..99), -q, --strict" >&2
           exit 2 ;;
    esac
    shift
done

run=$B/bench/rusage_run
for f in "$run" "$B/bench/wl_churn" "$B/bench/wl_mt"; do
    [ -x "$f" ] || { echo "bench_preload: $f missing: run 'make bench'" >&2; exit 2; }
done

# Measure the shim as users run it: defaults, and none of the caller's
# HEAPSHIM_* settings (a report or stats table at exit would be extra work).
for v in $(compgen -e | grep '^HEAPSHIM_'); do unset "$v"; done
unset LD_PRELOAD

tmp=$(mktemp -d /tmp/hs-bench.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

# ---- allocators ----------------------------------------------------------
# name | LD_PRELOAD | extra environment
cfg_name=() cfg_so=() cfg_env=()
notes=()
add_cfg() { cfg_name+=("$1"); cfg_so+=("$2"); cfg_env+=("$3"); }
add_cfg glibc "" ""
if [ -f "$B/libheapshim.so" ]; then
    shim=$(cd "$(dirname "$B/libheapshim.so")" && pwd)/libheapshim.so
    add_cfg "heapshim pymalloc" "$shim" ""              # the default mode
    add_cfg "heapshim malloc" "$shim" "HEAPSHIM_ALLOCATOR=malloc"
else
    notes+=("heapshim columns skipped: $B/libheapshim.so does not exist (build it with 'make')")
fi
dpkg_so() {   # package, file name: the library's path from dpkg -L, if installed
    dpkg -L "$1" 2>/dev/null | grep -m1 "/$2\$"
}
for spec in "jemalloc libjemalloc2 libjemalloc.so.2" \
            "tcmalloc libtcmalloc-minimal4 libtcmalloc_minimal.so.4" \
            "mimalloc libmimalloc2.0 libmimalloc.so.2"; do
    read -r name pkg file <<< "$spec"
    so=$(dpkg_so "$pkg" "$file")
    if [ -n "$so" ] && [ -f "$so" ]; then add_cfg "$name" "$so" ""
    else notes+=("$name column skipped: package $pkg not installed"); fi
done
ncfg=${#cfg_name[@]}

# ---- workloads -------------------------------------------------------------
# Inputs are generated once, plainly (no preload), into $tmp.
if [ $quick = 1 ]; then nfunc=60 nlines=100000 pyrounds=3 churn_m=1 mt_b=2000
else nfunc=200 nlines=600000 pyrounds=12 churn_m=5 mt_b=15000; fi
PY=/usr/bin/python3
[ -x $PY ] || PY=$(command -v python3)

# a mid-size C file: many functions with loops, branches and a switch each
{
    echo '#include <string.h>'
    echo 'struct rec { int a, b; double w; char name[24]; };'
    for ((i = 0; i < nfunc; i++)); do
        cat <<EOF
int f$i(struct rec *r, int n, const char *s)
{
    int acc = $i;
    for (int k = 0; k < n; k++) {
        switch ((r[k].a + k) % 5) {
        case 0: acc += r[k].b * $((i % 7 + 2)); break;
        case 1: acc ^= (int)(r[k].w * $((i % 5 + 1)).5); break;
        case 2: acc -= (int)strlen(r[k].name) + k; break;
        case 3: if (s && s[k % 8] == 'x') acc <<= 1; else acc >>= 1; break;
        default: r[k].w += acc * 0.5; memcpy(r[k].name, s ? s : "none", 5);
        }
        if (acc > $((i * 1000 + 7))) acc = acc % $((i + 3)) + f$(( i > 0 ? i - 1 : 0 ))(r + 1, n / 2, s);
    }
    return acc;
}
EOF
    done
} > "$tmp/big.c"
# lines to sort: random words of random length, fixed seed
$PY - "$nlines" > "$tmp/lines.txt" <<'EOF'
import random, sys
rng = random.Random(3)
al = "abcdefghijklmnopqrstuvwxyz0123456789"
for i in range(int(sys.argv[1])):
    print("".join(rng.choice(al) for _ in range(rng.randrange(4, 40))), i)
EOF

wl_name=(churn mt4 python gcc sort)
wl_cmd=(
    "$B/bench/wl_churn $churn_m"
    "$B/bench/wl_mt 4 $mt_b"
    "$PY bench/alloc_churn.py $pyrounds"
    "gcc -O2 -c $tmp/big.c -o /dev/null"
    "env LC_ALL=C sort --parallel=2 -S 64M $tmp/lines.txt"
)
wl_desc=(
    "small-object churn (wl_churn, $churn_m M ops, 16-512 B)"
    "4 threads, cross-thread frees (wl_mt)"
    "python3 dict/list/str churn"
    "gcc -O2 -c, $nfunc functions"
    "sort --parallel=2, $nlines lines"
)
small_wl="churn mt4"    # the small-object workloads of the targets
nwl=${#wl_name[@]}

# ---- runs: round-robin, the starting allocator rotates every round --------
results=$tmp/results       # wl cfg round wall_ns rss_kib status same_output
: > "$results"
for ((r = 0; r < rounds; r++)); do
    for ((w = 0; w < nwl; w++)); do
        for ((k = 0; k < ncfg; k++)); do
            c=$(( (k + r) % ncfg ))
            envs=()
            [ -n "${cfg_so[c]}" ] && envs+=("LD_PRELOAD=${cfg_so[c]}")
            [ -n "${cfg_env[c]}" ] && envs+=("${cfg_env[c]}")
            # shellcheck disable=SC2086  # the command is word-split on purpose
            "$run" "$tmp/m" env "${envs[@]}" ${wl_cmd[w]} > "$tmp/out" 2> "$tmp/err"
            read -r wall rss st _ < "$tmp/m" || { wall=0 rss=0 st=999; }
            sum=$(md5sum < "$tmp/out")
            ref=$tmp/ref.$w
            [ -f "$ref" ] || { [ "$c" = 0 ] && echo "$sum" > "$ref"; }
            same=1
            [ -f "$ref" ] && [ "$sum" != "$(cat "$ref")" ] && same=0
            if [ "$st" != 0 ] || [ $same = 0 ]; then
                echo "bench_preload: ${wl_name[w]} under ${cfg_name[c]}: exit $st, output $([ $same = 1 ] && echo same || echo DIFFERENT): $(head -c 300 "$tmp/err")" >&2
            fi
            echo "$w $c $r $wall $rss $st $same" >> "$results"
        done
    done
    echo "bench_preload: round $((r + 1))/$rounds done" >&2
done

# ---- statistics ------------------------------------------------------------
median() { sort -g | awk '{v[NR] = $1} END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# per-round ratio of column $3 (4 wall, 5 rss) of allocator c to glibc, for workload w
ratios() {
    awk -v w="$1" -v c="$2" -v col="$3" '
        $1 == w && $2 == 0 { base[$3] = $col }
        $1 == w && $2 == c { val[$3] = $col }
        END { for (r in val) if (base[r] > 0) print val[r] / base[r] }' "$results"
}
# per-round difference allocator - glibc of column $3, for workload w
diffs() {
    awk -v w="$1" -v c="$2" -v col="$3" '
        $1 == w && $2 == 0 { base[$3] = $col }
        $1 == w && $2 == c { val[$3] = $col }
        END { for (r in val) if (r in base) print val[r] - base[r] }' "$results"
}
failed() { awk -v w="$1" -v c="$2" '$1 == w && $2 == c && ($6 != 0 || $7 != 1) { n++ } END { print n + 0 }' "$results"; }
glibc_stat() {   # median and spread ((max-min)/median, %) of glibc's column
    awk -v w="$1" -v col="$2" '$1 == w && $2 == 0 { print $col }' "$results" | sort -g |
        awk -v div="$3" '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
            printf "%.2f (±%.0f%%)", m / div, (v[NR] - v[1]) / m * 50 }'
}

declare -A R   # R[time|rss,w,c] = median ratio; F[w,c] = failed runs
declare -A F
for ((w = 0; w < nwl; w++)); do
    for ((c = 1; c < ncfg; c++)); do
        R[time,$w,$c]=$(ratios $w $c 4 | median)
        R[rss,$w,$c]=$(ratios $w $c 5 | median)
        R[rssd,$w,$c]=$(diffs $w $c 5 | median)
        F[$w,$c]=$(failed $w $c)
    done
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "### Programs under LD_PRELOAD vs plain glibc ($(date -u +%Y-%m-%d), $(nproc) cpus, $cpu)"
echo
echo "Median of $rounds rounds$([ $quick = 1 ] && echo ', QUICK mode: not for publication');" \
     "each cell is the median of the per-round ratios allocator/glibc (lower is better)."
echo "glibc's column is its median (± half its spread over the rounds, a noise gauge)."
echo "Peak RSS cells also give the median difference from glibc in MiB, in parentheses."
for n in "${notes[@]}"; do echo "- note: $n"; done
for kind in time rss; do
    echo
    if [ $kind = time ]; then echo "Wall time:"; else echo "Peak RSS (wait4 ru_maxrss):"; fi
    echo
    hdr="| workload | glibc $([ $kind = time ] && echo s || echo MiB) |"; sep="|---|---|"
    for ((c = 1; c < ncfg; c++)); do hdr+=" ${cfg_name[c]} |"; sep+="---|"; done
    echo "$hdr"; echo "$sep"
    for ((w = 0; w < nwl; w++)); do
        if [ $kind = time ]; then line="| ${wl_desc[w]} | $(glibc_stat $w 4 1e9) |"
        else line="| ${wl_desc[w]} | $(glibc_stat $w 5 1024) |"; fi
        for ((c = 1; c < ncfg; c++)); do
            cell=$(printf '%.2fx' "${R[$kind,$w,$c]}")
            [ $kind = rss ] && cell+=$(awk -v d="${R[rssd,$w,$c]}" 'BEGIN { printf " (%+.1f)", d / 1024 }')
            [ "${F[$w,$c]}" != 0 ] && cell="$cell FAILED ${F[$w,$c]}/$rounds"
            line+=" $cell |"
        done
        echo "$line"
    done
done

# ---- targets ---------------------------------------------------------------
echo
missed=0
col_of() { for ((c = 0; c < ncfg; c++)); do [ "${cfg_name[c]}" = "$1" ] && { echo $c; return; }; done; }
# target <description> <allocator> <kind> <limit> <op: le|lt> <workloads>
target() {
    local c verdict=PASS detail="" w
    c=$(col_of "$2")
    if [ -z "$c" ]; then
        echo "- target: $1: **SKIP** ($2 not measured: see the notes)"; return
    fi
    for ((w = 0; w < nwl; w++)); do
        [[ " $6 " == *" ${wl_name[w]} "* ]] || continue
        local v=${R[$3,$w,$c]} ok
        ok=$(awk -v v="$v" -v l="$4" -v op="$5" 'BEGIN { print (op == "lt" ? v < l : v <= l) ? 1 : 0 }')
        [ "${F[$w,$c]}" != 0 ] && ok=0
        [ "$ok" = 1 ] || verdict=MISS
        detail+="${detail:+, }${wl_name[w]} $(printf '%.3fx' "$v")$([ "$ok" = 1 ] || echo ' ✗')"
    done
    [ $verdict = MISS ] && missed=$((missed + 1))
    echo "- target: $1: **$verdict** ($detail)"
}
all_wl="${wl_name[*]}"
target "default mode: no workload more than 5% slower than glibc (time <= 1.05x)" \
       "heapshim pymalloc" time 1.05 le "$all_wl"
target "default mode: small-object workloads faster than glibc (time < 1.00x)" \
       "heapshim pymalloc" time 1.00 lt "$small_wl"
target "malloc mode: within 5% of glibc (time <= 1.05x)" "heapshim malloc" time 1.05 le "$all_wl"
target "default mode: peak RSS no more than 10% above glibc (<= 1.10x)" \
       "heapshim pymalloc" rss 1.10 le "$all_wl"
target "malloc mode: peak RSS no more than 10% above glibc (<= 1.10x)" \
       "heapshim malloc" rss 1.10 le "$all_wl"
[ $strict = 1 ] && [ $missed -gt 0 ] && exit 1
exit 0
