#!/bin/bash
# bench/explained.sh - how much of a program's anonymous memory the shim's
# counters explain (issue 13): python3, perl, git, gcc (cc1), node, sort.
#
#   bench/explained.sh [-i MS] [PROGRAM...]     (default: all six, every 10 ms)
#   make bench-explained                        (the same, into $(B)/bench/explained.txt)
#
# Each program runs under build/libheapshim.so with a private live
# directory; a sampler reads, every MS milliseconds, every live file there
# (build/heapshim top --once --json: the heap counters, the mapped figures
# and RssAnon of /proc/PID/status, read together) and keeps, per process,
# every sample. The figures printed are those of the first sample at the
# process's RssAnon peak, for the process named (cc1 for gcc, node for
# node, ...): the first whose RssAnon is within 128 KiB of the highest (the
# kernel's RSS counters are per-CPU and batched: a process whose RSS stays
# put reads a page or two higher or lower from one sample to the next).
# Taking simply the highest sample picked, for python3, a sample of the
# interpreter's teardown, where the heap was already half freed (into pools
# that stay mapped until the process exits) and RssAnon read 4 KiB above its
# plateau: 28-50% "explained" for a program whose whole run sat at 90%.
#   heap      live bytes of the three domains
#   mapped    live bytes of the program's own anonymous mappings
#   explained (heap + mapped) / RssAnon, at that same sample
#   heap only heap / RssAnon (what the shim explained before mapped memory)
# and, from the exit report (HEAPSHIM_REPORT), the peak form that
# `heapshim run` shows: (heap peak + mapped peak) / (VmHWM - RssFile -
# RssShmem), each peak at its own moment.
# The output's table is what the README quotes; nothing there is typed by hand.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
SHIM="$ROOT/$B/libheapshim.so"
HS="$ROOT/$B/heapshim"
PY=/usr/bin/python3
INTERVAL=10
while getopts i: o; do
    case $o in
    i) INTERVAL=$OPTARG ;;
    *) echo "usage: bench/explained.sh [-i MS] [python3|perl|git|gcc|node|sort]..." >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
progs=("$@")
[ ${#progs[@]} -eq 0 ] && progs=(python3 perl git gcc node sort)
for f in "$SHIM" "$HS"; do [ -x "$f" ] || [ -f "$f" ] || { echo "explained.sh: $f missing (run make)" >&2; exit 2; }; done
W=$(mktemp -d /tmp/heapshim-explained.XXXXXX)
trap 'rm -rf "$W"' EXIT

# inputs
seq 1 1500000 | "$PY" -c 'import random,sys; l=sys.stdin.read().split(); random.seed(1); random.shuffle(l); print("\n".join(l))' >"$W/sort.in"
cat >"$W/build.py" <<'EOF'
keep = [('s%d' % i) * 3 for i in range(300000)]
table = {i: [str(i), (i, i + 1)] for i in range(100000)}
import time; time.sleep(0.3)
EOF

workload() {   # name -> the command (as words), and the process name to report
    case $1 in
    python3) CMD=(/usr/bin/python3 "$W/build.py"); COMM=python3 ;;
    perl) CMD=(perl -e 'my %h; $h{$_} = [($_) x 4, "x" x 40] for 1 .. 300000; select(undef, undef, undef, 0.3)'); COMM=perl ;;
    git) CMD=(git -C "$ROOT" log -p -n 400 --stat); COMM=git ;;
    gcc) CMD=(gcc -O2 -c -o "$W/x.o" "$ROOT/bench/wl_logic.c"); COMM=cc1 ;;
    node) CMD=(node -e 'let a=[]; for (let i=0;i<1e6;i++) a.push({i, s:"x"+i}); setTimeout(()=>console.log(a.length), 300)'); COMM=node ;;
    sort) CMD=(sort -n "$W/sort.in"); COMM=sort ;;
    *) echo "explained.sh: unknown program '$1' (accepted: python3 perl git gcc node sort)" >&2; exit 2 ;;
    esac
}

printf '%-8s %-6s %10s %10s %10s %10s %9s %9s   %s\n' program proc heap mapped 'heap+map' RssAnon explained 'heap only' 'peak form (run)'
for p in "${progs[@]}"; do
    workload "$p"
    command -v "${CMD[0]}" >/dev/null || { echo "$p: ${CMD[0]} not installed (skipped)"; continue; }
    live="$W/live-$p"; mkdir -m 700 "$live"; rm -f "$W"/rep-*.json
    HEAPSHIM_DIR="$live" HEAPSHIM_REPORT="$W/rep-%p.json" LD_PRELOAD="$SHIM" "${CMD[@]}" >/dev/null 2>"$W/err" &
    pid=$!
    "$PY" - "$HS" "$live" "$pid" "$INTERVAL" "$W/samples-$p.json" <<'EOF'
import json, os, subprocess, sys, time
hs, live, pid, interval, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) / 1000, sys.argv[5]
best = {}
env = dict(os.environ, HEAPSHIM_DIR=live)
env.pop("LD_PRELOAD", None)
while True:
    try:    # the program can be reaped between any two reads (ESRCH, ENOENT)
        alive = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        alive = False
    try:
        r = subprocess.run([hs, "top", "--once", "--json"], env=env, capture_output=True, text=True, timeout=10)
        doc = json.loads(r.stdout) if r.stdout.strip() else {}
    except Exception:
        doc = {}
    for p in doc.get("processes", []):
        anon = p.get("rss_anon_bytes", 0)
        key = "%d %s" % (p["pid"], p["comm"])
        if anon:
            best.setdefault(key, []).append({"comm": p["comm"], "rss_anon_bytes": anon,
                                             "heap": p["total"]["live_bytes"], "mapped": p["mapped"]["live_bytes"]})
    if not alive:
        break
    time.sleep(interval)
json.dump(best, open(out, "w"))
EOF
    wait $pid || { echo "$p: the program failed: $(head -c 300 "$W/err")"; continue; }
    "$PY" - "$W/samples-$p.json" "$COMM" "$p" "$W" <<'EOF'
import glob, json, sys
best, comm, name, w = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
mib = lambda b: "%.1f MiB" % (b / 1048576)
GRAN = 128 * 1024   # the RSS counters' granularity (see the top of this file)
c = []
for samples in best.values():
    if samples and samples[0]["comm"] == comm:
        top = max(s["rss_anon_bytes"] for s in samples)
        c.append(next(s for s in samples if s["rss_anon_bytes"] >= top - GRAN))
peak = ""
for f in glob.glob(w + "/rep-*.json"):
    r = json.load(open(f))
    if r["command"].split()[0].endswith("/" + comm) or r["command"].split()[0] == comm:
        ap = r["rss_anon_peak_bytes"]
        if ap:
            peak = "%.0f%% (%s + %s of %s)" % (100 * (r["total"]["peak_bytes"] + r["mapped"]["peak_bytes"]) / ap,
                                             mib(r["total"]["peak_bytes"]), mib(r["mapped"]["peak_bytes"]), mib(ap))
if not c:
    print("%-8s %-6s no sample of %s (too short for the interval?)  %s" % (name, comm, comm, peak))
    sys.exit(0)
v = max(c, key=lambda v: v["rss_anon_bytes"])
a = v["rss_anon_bytes"]
print("%-8s %-6s %10s %10s %10s %10s %8.0f%% %8.0f%%   %s" % (name, comm, mib(v["heap"]), mib(v["mapped"]),
      mib(v["heap"] + v["mapped"]), mib(a), 100 * (v["heap"] + v["mapped"]) / a, 100 * v["heap"] / a, peak))
EOF
done
