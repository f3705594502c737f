#!/bin/bash
# bench/external_mbench.sh - the shim on benchmarks nobody here wrote:
# programs of mimalloc-bench (github.com/daanx/mimalloc-bench, bench/),
# built from a checkout the user provides (CI has no network, so this is
# not part of `make bench`), run side by side with glibc, jemalloc,
# tcmalloc and mimalloc in interleaved rounds.
#
# usage: bench/external_mbench.sh MIMALLOC_BENCH_DIR [ROUNDS] [LIB]
#   MIMALLOC_BENCH_DIR  a checkout (its bench/ directory is built with cmake
#                       into $TMPDIR/heapshim-mbench; shbench, which needs a
#                       download, is left out)
#   ROUNDS              default 3
#   LIB                 the shim to measure, default build/libheapshim.so
# Prints one line per run ("round bench allocator ms [throughput]") and
# then a table: per benchmark the median over the rounds of the ratio
# allocator/glibc of the same round (time; for the fixed-duration ones,
# larson, xmalloc-test and glibc-thread, the inverse of the throughput
# ratio), lower is better, with the lowest and highest round.
set -u
src=${1:-}
rounds=${2:-3}
lib=${3:-build/libheapshim.so}
if [ -z "$src" ] || [ ! -f "$src/bench/CMakeLists.txt" ]; then
    echo "external_mbench: '${src}' is not a mimalloc-bench checkout (no bench/CMakeLists.txt)" >&2
    exit 2
fi
case $rounds in ''|*[!0-9]*|0) echo "external_mbench: rounds '$rounds': a positive integer" >&2; exit 2;; esac
[ -f "$lib" ] || { echo "external_mbench: no shim at '$lib' (run make)" >&2; exit 2; }
lib=$(readlink -f "$lib")
work=${TMPDIR:-/tmp}/heapshim-mbench
mkdir -p "$work/src" "$work/build"
cp -r "$src/bench/." "$work/src/"
# shbench's sources come from a download: empty stand-ins keep cmake happy
for f in sh6bench-new.c sh8bench-new.c; do
    [ -s "$work/src/shbench/$f" ] || echo 'int main(void) { return 0; }' > "$work/src/shbench/$f"
done
(cd "$work/build" && cmake -DCMAKE_BUILD_TYPE=Release ../src > cmake.log 2>&1 &&
 make -j2 cfrac espresso barnes larson alloc-test cache-scratch cache-thrash malloc-large \
    mstress mleak rptest glibc-simple glibc-thread xmalloc-test > make.log 2>&1) ||
    { echo "external_mbench: the build failed, see $work/build/{cmake,make}.log" >&2; exit 1; }

libdir=/usr/lib/x86_64-linux-gnu
declare -A L=([glibc]="" [heapshim]=$lib [jemalloc]=$libdir/libjemalloc.so.2
              [tcmalloc]=$libdir/libtcmalloc_minimal.so.4 [mimalloc]=$libdir/libmimalloc.so.2)
allocs="glibc heapshim"
for a in jemalloc tcmalloc mimalloc; do [ -f "${L[$a]}" ] && allocs="$allocs $a"; done
cd "$work/build" || exit 1
B=(
"cfrac|./cfrac 17545186520507317056371138836327483792789528"
"espresso|./espresso ../src/espresso/largest.espresso"
"barnes|./barnes < ../src/barnes/input"
"alloc-test1|./alloc-test 1"
"cache-scratch|./cache-scratch 1 1000 1 2000000 2"
"cache-thrash|./cache-thrash 1 1000 1 2000000 2"
"malloc-large|./malloc-large"
"mstress|./mstress 2 50 25"
"mleak|./mleak 5"
"rptest|./rptest 2 0 1 2 500 1000 100 8 16000"
"glibc-simple|./glibc-simple"
"glibc-thread|./glibc-thread 2"
"larson|./larson 2 8 1000 5000 100 4141 2"
"xmalloc|./xmalloc-test -w 2 -t 2 -s 64"
)
out=$work/runs.txt
: > "$out"
for r in $(seq "$rounds"); do
    for b in "${B[@]}"; do
        n=${b%%|*} c=${b#*|}
        for a in $allocs; do
            s=$(date +%s%N)
            o=$(LD_PRELOAD=${L[$a]} bash -c "$c" 2>&1)
            ms=$(( ($(date +%s%N) - s) / 1000000 ))
            thr=
            case $n in
            larson) thr=$(echo "$o" | grep -oE 'Throughput = +[0-9]+' | grep -oE '[0-9]+$');;
            xmalloc) thr=$(echo "$o" | grep -oE 'free/sec: [0-9.]+' | grep -oE '[0-9.]+$');;
            glibc-thread) thr=$(echo "$o" | grep -oE '^[0-9]+ iterations' | grep -oE '^[0-9]+');;
            esac
            echo "$r $n $a $ms $thr" | tee -a "$out"
        done
    done
done
python3 - "$out" $allocs <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) < 4:
        continue
    r, n, a, ms = p[0], p[1], p[2], int(p[3])
    runs[(n, r)][a] = float(p[4]) if len(p) > 4 else None, ms
allocs = sys.argv[2:]
names = []
for (n, _) in runs:
    if n not in names:
        names.append(n)
print("| benchmark | glibc | " + " | ".join(allocs[1:]) + " |")
print("|---|---|" + "---|" * (len(allocs) - 1))
for n in names:
    rounds = [v for (m, _), v in runs.items() if m == n and "glibc" in v]
    g = statistics.median(v["glibc"][1] for v in rounds)
    cells = ["%.2f s" % (g / 1000)]
    for a in allocs[1:]:
        rs = []
        for v in rounds:
            if a not in v:
                continue
            (tg, msg), (ta, msa) = v["glibc"], v[a]
            rs.append(tg / ta if tg and ta else msa / msg)
        cells.append("%.2fx (%.2f-%.2f)" % (statistics.median(rs), min(rs), max(rs)) if rs else "-")
    print("| %s | %s |" % (n, " | ".join(cells)))
EOF
