# bench/short_procs.sh - room: bench/. Many short processes, the way a
# configure script, a Makefile or a CI job's shell steps run: each round
# forks subshells and runs four small programs in a pipeline (printf is a
# builtin; sed, tr, cut and wc are separate processes), so what the run
# costs is mostly process start-up and exit, not allocation. For
# bench_preload.sh, where every process of the tree runs under the
# configuration being measured (LD_PRELOAD is inherited).
# Prints one line per round and a count: the output does not depend on the
# allocator.
# Usage: sh short_procs.sh [ROUNDS (default 200)]
n=${1:-200}
case $n in
    ''|*[!0-9]*) echo "short_procs.sh: bad round count '$n': expected a positive integer" >&2; exit 2 ;;
esac
i=0
while [ "$i" -lt "$n" ]; do
    line=$(printf 'round %d of the short process run\n' "$i" | sed 's/of the/OF THE/' | tr 'a-z' 'A-Z' | cut -d' ' -f1-4)
    len=$(printf '%s' "$line" | wc -c)
    echo "$line $len"
    i=$((i + 1))
done
echo "short_procs: $n rounds"
