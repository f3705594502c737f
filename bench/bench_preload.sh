#!/bin/bash
# bench/bench_preload.sh - room: bench/. `make bench` part 2 (issues 4 and 12):
# the speed suite. Allocation benchmarks of ours and real Debian programs, run
# plain (glibc) and under LD_PRELOAD of the shim in each mode and of jemalloc,
# tcmalloc and mimalloc, round-robin within each round (the starting allocator
# rotating), over several rounds in one run. Prints markdown tables of the
# median per-round ratios to glibc (wall time, peak RSS, CPU time) with their
# range, the geomean per allocator, and PASS/MISS per target of issue 12,
# computed from what was measured (bench/bench_report.py).
#
# Every workload is deterministic and prints a checksum (our programs check
# their own results too and exit 1 on a wrong one); a run that exits non-zero
# or whose output differs from glibc's is reported on stderr at the end of its
# round with a command line that reproduces it, its temporary directory is kept,
# and the script exits 3 whatever the targets say.
#
# Touches only a temporary directory of its own (removed unless a run failed).
#
# Usage (from the repo root, B=build): bench/bench_preload.sh [-r ROUNDS] [-q] [--strict] [-w NAMES]
#   -r N      rounds (1..99, default 5)
#   -q        quick: small inputs and one round unless -r says otherwise (smoke
#             test, under a minute; not for figures)
#   --strict  exit 1 when a target is missed
#   -w NAMES  only these workloads (comma-separated names, as -l lists them)
#   -c NAMES  only these allocator configs besides glibc (comma-separated: heapshim,
#             "heapshim malloc", jemalloc, tcmalloc, mimalloc, "py:malloc glibc",
#             "py:malloc heapshim", "py:malloc mimalloc"); the targets that need
#             a config left out say SKIP
#   -a NAME=LIB  also run under another build of the shim (an A/B of two
#             builds in one interleaved run), as config NAME; may be repeated
#   -l        list the workloads and exit
set -u
B=${B:-build}
rounds= quick=0 strict=0 only= only_cfg= list=0 extra=()
while [ $# -gt 0 ]; do
    case $1 in
        -r) if ! [[ ${2:-} =~ ^[0-9]{1,2}$ ]] || [ "$2" -lt 1 ]; then
                echo "bench_preload: bad round count '${2:-}' for -r: expected an integer from 1 to 99" >&2
                exit 2
            fi
            rounds=$2; shift ;;
        -q) quick=1 ;;
        --strict) strict=1 ;;
        -w) [ -n "${2:-}" ] || { echo "bench_preload: -w needs a comma-separated list of workload names (see -l)" >&2; exit 2; }
            only=$2; shift ;;
        -c) [ -n "${2:-}" ] || { echo "bench_preload: -c needs a comma-separated list of allocator configs" >&2; exit 2; }
            only_cfg=$2; shift ;;
        -a) if ! [[ ${2:-} =~ ^[A-Za-z0-9_.-]+=.+$ ]] || [ ! -f "${2#*=}" ]; then
                echo "bench_preload: bad -a '${2:-}': expected NAME=LIB, NAME of letters, digits, '_', '.', '-', and LIB an existing file" >&2
                exit 2
            fi
            extra+=("$2"); shift ;;
        -l) list=1 ;;
        *) echo "bench_preload: unknown argument '$1': accepted: -r ROUNDS (1..99), -q, --strict, -w NAMES, -c NAMES, -a NAME=LIB, -l" >&2
           exit 2 ;;
    esac
    shift
done
[ -n "$rounds" ] || rounds=$([ $quick = 1 ] && echo 1 || echo 5)

PY=/usr/bin/python3            # Debian's python3 (a workload, and the one the targets are about)
[ -x $PY ] || PY=$(command -v python3)
run=$B/bench/rusage_run
bins="wl_churn wl_mt wl_bignum wl_fixed wl_threads wl_prodcons wl_batches wl_mixed wl_realloc wl_large wl_cxx wl_logic"

# ---- workloads ---------------------------------------------------------------------
# name | command (word-split; inputs in $in) | stdin | description; python3 ones are
# also run with PYTHONMALLOC=malloc (py=1). Sizes: full run about 0.3-1.5 s each
# under glibc on an idle machine; -q a tenth of that.
in=@IN@     # replaced by the input directory once it exists
wl_name=() wl_cmd=() wl_in=() wl_desc=() wl_py=()
add_wl() { wl_name+=("$1"); wl_py+=("$2"); wl_in+=("$3"); wl_cmd+=("$4"); wl_desc+=("$5"); }
if [ $quick = 1 ]; then
    s_churn=1 s_mt=2000 s_big="3 5000" s_fix=3 s_thr="4 60" s_pc="2 200000" s_mix="300 20000" s_rea=400
    s_lar=400 s_cxx=1 s_log=40 s_py=2 s_pyo="1 8000" s_pl="1 10000" s_bat=150 s_sh=20
else
    s_churn=4 s_mt=15000 s_big="32 20000" s_fix=30 s_thr="4 500" s_pc="2 2000000" s_mix="4000 100000" s_rea=4000
    s_lar=3000 s_cxx=8 s_log=400 s_py=8 s_pyo="3 30000" s_pl="2 40000" s_bat=1500 s_sh=150
fi
W=$B/bench
add_wl bignum 0 /dev/null "$W/wl_bignum $s_big" \
    "bignum: Pollard rho + Fibonacci, tiny short-lived limb arrays (wl_bignum)"
add_wl fixed 0 /dev/null "$W/wl_fixed $s_fix" \
    "malloc/free loop, 16/32/64/128 B, batches of 1-10000 (wl_fixed)"
add_wl churn 0 /dev/null "$W/wl_churn $s_churn" \
    "small-object churn, 50k live blocks of 16-512 B (wl_churn)"
add_wl mixed 0 /dev/null "$W/wl_mixed $s_mix" \
    "mixed 8 B-4 KiB, 100k long-lived slots, random replacement (wl_mixed)"
add_wl realloc 0 /dev/null "$W/wl_realloc $s_rea" \
    "realloc growth: 1000 strings + 64 vectors growing at once (wl_realloc)"
add_wl large 0 /dev/null "$W/wl_large $s_lar" \
    "large blocks 1 KiB-4 MiB reused, every page touched (wl_large)"
add_wl cxx 0 /dev/null "$W/wl_cxx $s_cxx" \
    "C++ new/delete: map, unordered_map, list, polymorphic tree (wl_cxx)"
add_wl logic 0 /dev/null "$W/wl_logic $s_log" \
    "logic minimiser: Quine-McCluskey cubes, hash sets, realloc'd families (wl_logic)"
add_wl threads 0 /dev/null "$W/wl_threads $s_thr" \
    "threads created and destroyed while allocating, 4 at once (wl_threads)"
add_wl threads1k 0 /dev/null "$W/wl_threads $s_thr 3000 1000" \
    "the same with blocks of 16-1000 B, larson's range (wl_threads ... 1000)"
add_wl prodcons 0 /dev/null "$W/wl_prodcons $s_pc" \
    "producer/consumer rings, every free cross-thread, 2 pairs (wl_prodcons)"
add_wl batches 0 /dev/null "$W/wl_batches 2 $s_bat" \
    "batches of small blocks + a 32 KiB array handed to consumers, 2+2 threads (wl_batches)"
add_wl mt4 0 /dev/null "$W/wl_mt 4 $s_mt" \
    "4 threads in a ring, batches freed cross-thread (wl_mt)"
add_wl python 1 /dev/null "$PY bench/alloc_churn.py $s_py" \
    "python3: dict/list/str churn (alloc_churn.py)"
add_wl pyobj 1 /dev/null "$PY bench/py_objects.py $s_pyo" \
    "python3: class instances, sort, json, regex (py_objects.py)"
add_wl perl 0 /dev/null "perl bench/perl_churn.pl $s_pl" \
    "perl: hashes, arrays, split/join, regex (perl_churn.pl)"
add_wl shell 0 /dev/null "sh bench/short_procs.sh $s_sh" \
    "sh: pipelines of short commands (sed, tr, cut, wc), start-up and exit (short_procs.sh)"
add_wl gcc 0 /dev/null "gcc -O2 -c $in/big.c -o /dev/null" \
    "gcc -O2 -c of a generated C file"
add_wl sort 0 /dev/null "sort --parallel=2 -S 64M $in/lines.txt" \
    "sort --parallel=2 of generated lines"
add_wl xz 0 /dev/null "xz -T1 -6 -c $in/xz.in" \
    "xz -6 of generated text"
add_wl sqlite 0 $in/db.sql "sqlite3 :memory:" \
    "sqlite3: single-row INSERTs, indexes, group/join/LIKE queries"
add_wl gitlog 0 /dev/null "git -C $in/repo log -p --stat" \
    "git log -p --stat of a generated repository"
add_wl gitpack 0 /dev/null "git -c pack.threads=1 -C $in/repo pack-objects --revs --all --stdout -q --no-reuse-delta" \
    "git pack-objects (repack with fresh deltas) of it"

if [ $list = 1 ]; then
    for ((w = 0; w < ${#wl_name[@]}; w++)); do printf '%-9s %s\n' "${wl_name[w]}" "${wl_desc[w]}"; done
    exit 0
fi
if [ -n "$only" ]; then      # keep the named workloads, in suite order
    keep=() known=" ${wl_name[*]} "
    for n in ${only//,/ }; do
        [[ $known == *" $n "* ]] || { echo "bench_preload: unknown workload '$n' for -w: accepted: ${wl_name[*]}" >&2; exit 2; }
    done
    for ((w = 0; w < ${#wl_name[@]}; w++)); do [[ ",$only," == *",${wl_name[w]},"* ]] && keep+=("$w"); done
    for a in wl_name wl_cmd wl_in wl_desc wl_py; do
        eval "old=(\"\${$a[@]}\")"; new=()
        for w in "${keep[@]}"; do new+=("${old[w]}"); done
        eval "$a=(\"\${new[@]}\")"
    done
fi
nwl=${#wl_name[@]}

for f in "$run" $(printf "$W/%s " $bins); do
    [ -x "$f" ] || { echo "bench_preload: $f missing: run 'make bench'" >&2; exit 2; }
done
for p in perl gcc sort xz sqlite3 git; do
    command -v $p > /dev/null || { echo "bench_preload: $p missing: run 'make bench' (it installs BENCH_DEPS)" >&2; exit 2; }
done

# Measure every allocator as users run it: defaults, and none of the caller's
# settings for the shim, the other allocators or glibc's own malloc.
for v in $(compgen -e | grep -E '^(HEAPSHIM_|MALLOC_|MIMALLOC_|TCMALLOC_|JE_MALLOC|PYTHONMALLOC)'); do unset "$v"; done
unset LD_PRELOAD GLIBC_TUNABLES
export LC_ALL=C GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

# ---- allocators --------------------------------------------------------------------
# name | LD_PRELOAD | extra environment | scope (all, or py: python3 workloads only)
cfg_name=() cfg_so=() cfg_env=() cfg_scope=()
notes=()
add_cfg() { cfg_name+=("$1"); cfg_so+=("$2"); cfg_env+=("$3"); cfg_scope+=("$4"); }
add_cfg glibc "" "" all
shim=
if [ -f "$B/libheapshim.so" ]; then
    shim=$(cd "$B" && pwd)/libheapshim.so
    add_cfg heapshim "$shim" "" all                  # the default mode (pymalloc)
    add_cfg "heapshim malloc" "$shim" "HEAPSHIM_ALLOCATOR=malloc" all
else
    notes+=("heapshim columns skipped: $B/libheapshim.so does not exist (build it with 'make')")
fi
dpkg_so() {   # package, file name: the library's path from dpkg -L, if installed
    dpkg -L "$1" 2>/dev/null | grep -m1 "/$2\$"
}
mimalloc=
for spec in "jemalloc libjemalloc2 libjemalloc.so.2" \
            "tcmalloc libtcmalloc-minimal4 libtcmalloc_minimal.so.4" \
            "mimalloc libmimalloc2.0 libmimalloc.so.2"; do
    read -r name pkg file <<< "$spec"
    so=$(dpkg_so "$pkg" "$file")
    if [ -n "$so" ] && [ -f "$so" ]; then
        add_cfg "$name" "$so" "" all
        [ $name = mimalloc ] && mimalloc=$so
    else notes+=("$name column skipped: package $pkg not installed"); fi
done
add_cfg "py:malloc glibc" "" "PYTHONMALLOC=malloc" py
[ -n "$shim" ] && add_cfg "py:malloc heapshim" "$shim" "PYTHONMALLOC=malloc" py
[ -n "$mimalloc" ] && add_cfg "py:malloc mimalloc" "$mimalloc" "PYTHONMALLOC=malloc" py
for x in ${extra[@]+"${extra[@]}"}; do
    for c in "${cfg_name[@]}"; do
        [ "$c" = "${x%%=*}" ] && { echo "bench_preload: -a '$x': the name '$c' is taken; accepted: any name but ${cfg_name[*]}" >&2; exit 2; }
    done
    so=$(cd "$(dirname "${x#*=}")" && pwd)/$(basename "${x#*=}")
    add_cfg "${x%%=*}" "$so" "" all
    [ -z "$only_cfg" ] || only_cfg=$only_cfg,${x%%=*}   # -c named the others
done
if [ -n "$only_cfg" ]; then  # glibc (the baseline) and the named configs
    IFS=, read -r -a want <<< "$only_cfg"
    for n in "${want[@]}"; do
        ok=0
        for c in "${cfg_name[@]}"; do [ "$c" = "$n" ] && ok=1; done
        [ $ok = 1 ] || { echo "bench_preload: unknown or unavailable config '$n' for -c: accepted: ${cfg_name[*]:1}" >&2; exit 2; }
    done
    for a in cfg_name cfg_so cfg_env cfg_scope; do eval "old_$a=(\"\${$a[@]}\")"; eval "$a=()"; done
    for ((c = 0; c < ${#old_cfg_name[@]}; c++)); do
        keep=$([ $c = 0 ] && echo 1 || echo 0)
        for n in "${want[@]}"; do [ "${old_cfg_name[c]}" = "$n" ] && keep=1; done
        [ $keep = 1 ] || continue
        cfg_name+=("${old_cfg_name[c]}"); cfg_so+=("${old_cfg_so[c]}")
        cfg_env+=("${old_cfg_env[c]}"); cfg_scope+=("${old_cfg_scope[c]}")
    done
fi
ncfg=${#cfg_name[@]}

tmp=$(mktemp -d /tmp/hs-bench.XXXXXX) || exit 1
keep_tmp=0
trap '[ $keep_tmp = 1 ] || rm -rf "$tmp"' EXIT
in_dir=$tmp/in
mkdir -p "$in_dir"
for ((w = 0; w < nwl; w++)); do
    wl_cmd[w]=${wl_cmd[w]//@IN@/$in_dir}
    wl_in[w]=${wl_in[w]//@IN@/$in_dir}
done
t_start=$SECONDS
$PY bench/gen_inputs.py "$in_dir" "$([ $quick = 1 ] && echo quick || echo full)" ||
    { echo "bench_preload: generating the inputs failed" >&2; exit 1; }

# ---- runs: round-robin, the starting allocator rotates every round -----------------
envs_of() {   # the env(1) arguments of config $1
    envs=()
    [ -n "${cfg_so[$1]}" ] && envs+=("LD_PRELOAD=${cfg_so[$1]}")
    [ -n "${cfg_env[$1]}" ] && envs+=("${cfg_env[$1]}")
}
repro() {     # a command line that reruns workload $1 under config $2
    envs_of "$2"
    local s="cd $PWD && env LC_ALL=C GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null ${envs[*]} ${wl_cmd[$1]}"
    [ "${wl_in[$1]}" != /dev/null ] && s+=" < ${wl_in[$1]}"
    echo "$s"
}
results=$tmp/results       # wl cfg round wall_ns rss_kib status cpu_ns md5
: > "$results"
nfail=0
t_runs=$SECONDS
for ((r = 0; r < rounds; r++)); do
    t_round=$SECONDS
    for ((w = 0; w < nwl; w++)); do
        for ((k = 0; k < ncfg; k++)); do
            c=$(( (k + r) % ncfg ))
            [ "${cfg_scope[c]}" = all ] || [ "${wl_py[w]}" = 1 ] || continue
            envs_of $c
            rm -f "$tmp/m"
            # shellcheck disable=SC2086  # the command is word-split on purpose
            "$run" "$tmp/m" env "${envs[@]}" ${wl_cmd[w]} < "${wl_in[w]}" > "$tmp/out" 2> "$tmp/err"
            read -r wall rss st cpu _ < "$tmp/m" 2>/dev/null || { wall=0 rss=0 st=999 cpu=0; }
            sum=$(md5sum < "$tmp/out" | cut -c1-32)
            echo "$w $c $r $wall $rss $st $cpu $sum" >> "$results"
            if [ "$st" != 0 ]; then
                cp "$tmp/err" "$tmp/err.$w.$c.$r"
            fi
        done
    done
    # this round's failures: a non-zero exit, or an output other than glibc's
    while read -r w c st sum ref; do
        nfail=$((nfail + 1)); keep_tmp=1
        why="exit status $st"
        [ "$st" = 0 ] && why="output differs from glibc's (md5 $sum, glibc $ref)"
        [ "$st" = 0 ] && [ "$ref" = none ] && why="glibc's run failed this round: nothing to compare with"
        {
            echo "bench_preload: FAILED: ${wl_name[w]} under ${cfg_name[c]}, round $((r + 1)): $why"
            [ -f "$tmp/err.$w.$c.$r" ] && sed 's/^/    stderr: /' "$tmp/err.$w.$c.$r" | head -5
            echo "    reproduce: $(repro "$w" "$c")"
            echo "    (inputs kept in $in_dir)"
        } >&2
    done < <(awk -v r="$r" '$3 == r && $2 == 0 && $6 == 0 && !($1 in ref) { ref[$1] = $8 }
                           { if ($3 == r) row[NR] = $0 }
                           END { for (i in row) { split(row[i], f, " ");
                                   if (f[6] != 0 || (f[1] in ref && f[8] != ref[f[1]]) || !(f[1] in ref))
                                       print f[1], f[2], f[6], f[8], (f[1] in ref ? ref[f[1]] : "none") } }' "$results" |
             sort -n -k1,1 -k2,2)
    left=$(( (SECONDS - t_runs) * (rounds - r - 1) / (r + 1) ))
    echo "bench_preload: round $((r + 1))/$rounds done ($((SECONDS - t_round)) s$(
        [ $left -gt 0 ] && echo "; about $((left / 60)) min $((left % 60)) s left"))" >&2
done

# ---- report ------------------------------------------------------------------------------
meta=$tmp/meta
{
    printf 'rounds\t%s\nquick\t%s\n' "$rounds" "$quick"
    printf 'date\t%s\n' "$(date -u +%Y-%m-%d)"
    printf 'machine\t%s cpus, %s\n' "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
    for ((c = 0; c < ncfg; c++)); do printf 'cfg\t%s\t%s\t%s\n' "$c" "${cfg_name[c]}" "${cfg_scope[c]}"; done
    for ((w = 0; w < nwl; w++)); do
        printf 'wl\t%s\t%s\t%s\t%s\n' "$w" "${wl_name[w]}" "${wl_py[w]}" "${wl_desc[w]}"
    done
} > "$meta"
for n in "${notes[@]}"; do echo "- note: $n"; done
$PY bench/bench_report.py "$meta" "$results" $([ $strict = 1 ] && echo --strict)
st=$?
echo
echo "Allocators: glibc $(ldd --version | head -1 | awk '{print $NF}')$(
    for p in libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0; do
        v=$(dpkg-query -W -f='${Version}' $p 2>/dev/null) && printf ', %s %s' "$p" "${v%%-*}"
    done); shim $shim. This run took $((SECONDS - t_start)) s."
if [ $nfail -gt 0 ]; then
    echo "bench_preload: $nfail run(s) FAILED (see above); temporary directory kept: $tmp" >&2
    exit 3
fi
exit $st
