#!/bin/bash
# run-suites: alone (the probe reads every shimmed process on the machine)
# tests/50-probe.sh - heapshim-probe (ebpf/, docs/probe.md) against real
# processes: two shimmed (one busy, publishing; one idle since before the
# probe started) and one plain. Checks that the probe lists exactly the
# shimmed ones, with the counters of their live files (`heapshim top`), by
# the pull path and by the USDT path; a process started after the probe;
# kernel-side RSS and mmap counts; an exited process dropping out; the
# table, the live mode, --prometheus (promtool), bad arguments (exit 2) and
# an unprivileged run (exit 2, one clear line). Also the gaps closed later:
# a vma walk that cannot start (injected), USDT rows as complete as top's,
# exec into an image without the shim, a replaced library warned about once.
# SKIP unless root on a kernel with BTF and uprobes, with the probe built.
. "$(dirname "$0")/lib.sh"
PROBE="$ROOT/$B/heapshim-probe"
HS="$ROOT/$B/heapshim"
[ -x "$HS" ] || HS="$ROOT/build/heapshim"
why=
if [ ! -x "$PROBE" ]; then why="$PROBE not built (needs clang, bpftool, libbpf-dev; see make's output)"
elif [ "$(id -u)" != 0 ]; then why="not root (the probe loads BPF programs)"
elif [ ! -r /sys/kernel/btf/vmlinux ]; then why="kernel without BTF (/sys/kernel/btf/vmlinux)"
elif [ ! -e /sys/bus/event_source/devices/uprobe/type ]; then why="kernel without uprobes"
elif [ ! -x "$HS" ]; then why="no $HS to compare with (libjansson-dev missing?)"
fi
if [ -n "$why" ]; then
    skip probe "$why"
    finish
fi

# a probe run against the plain shim (under SAN=1 next to the binary is the
# sanitized library, which nobody preloads)
probe() { "$PROBE" --lib "$SHIM" "$@"; }
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMPD"; }
trap cleanup EXIT
wait_live() {   # pid: until its live file exists (the shim is up)
    for _ in $(seq 100); do [ -e "$HEAPSHIM_DIR/$1" ] && return 0; sleep 0.05; done
    return 1
}

# busy: allocates through malloc all the time (publishes every 50 ms)
# (both map memory of their own, known sizes: the MAPPED figures)
PYTHONMALLOC=malloc LD_PRELOAD=$SHIM "$PY" -c '
import mmap, time
m = mmap.mmap(-1, 5 << 20, flags=mmap.MAP_PRIVATE); m.write(bytes(5 << 20))
while True:
    d = [bytes(100 + i % 300) for i in range(3000)]
    time.sleep(0.002)' & BUSY=$!
# idle: allocates, then sleeps: never reaches a publication point again
LD_PRELOAD=$SHIM "$PY" -c '
import mmap, time
keep = [bytearray(1000 + i) for i in range(2000)]
m = mmap.mmap(-1, 8 << 20, flags=mmap.MAP_PRIVATE); m.write(bytes(8 << 20))
n = mmap.mmap(-1, 3 << 20, flags=mmap.MAP_PRIVATE); n.close()
time.sleep(600)' & IDLE=$!
sleep 600 & PLAIN=$!
pids+=("$BUSY" "$IDLE" "$PLAIN")
wait_live "$BUSY" && wait_live "$IDLE" || { fail probe-setup "no live files in $HEAPSHIM_DIR: $(ls "$HEAPSHIM_DIR")"; finish; }
sleep 0.5   # the idle one is asleep by now

# 1. --once --json, pull path: exactly the shimmed pids, counters of the live files
"$HS" top --once --json "$BUSY" > "$TMPD/top0.json"
"$HS" top --once --json "$IDLE" > "$TMPD/topidle.json"
probe --once --json --pid "$BUSY" --pid "$IDLE" --pid "$PLAIN" > "$TMPD/p.json" 2> "$TMPD/p.err"; rc=$?
"$HS" top --once --json "$BUSY" > "$TMPD/top1.json"
probe --once --json > "$TMPD/all.json" 2>> "$TMPD/p.err"; rc2=$?
cat > "$TMPD/probecmp.py" <<'PY'
import json, sys
def load(f): return json.load(open(f))
def procs(f): return {p["pid"]: p for p in load(f)["processes"]}
FIELDS = ("live_bytes", "live_blocks", "peak_bytes", "allocs", "reallocs", "frees", "failed")
MONO = ("allocs", "reallocs", "frees")        # only grow: before <= probe <= after
def groups(p): return [("total", p["total"])] + [(d, p["domains"][d]) for d in ("raw", "mem", "obj")]
def exact(a, b, what):
    for (n, x), (_, y) in zip(groups(a), groups(b)):
        for f in FIELDS:
            assert x[f] == y[f], "%s: %s.%s probe %d, live file %d" % (what, n, f, x[f], y[f])
    assert a["arenas"] == b["arenas"], (what, a["arenas"], b["arenas"])
    assert a["threads"] == b["threads"] and a["comm"] == b["comm"] and a["cmdline"] == b["cmdline"], what
    same_mapped(a, b, what)
def same_mapped(a, b, what):   # the program's own mappings: set up before the probe ran, fixed since
    assert a["mapped"] == b["mapped"], (what, a["mapped"], b["mapped"])
def anon_close(p, what):       # RssAnon as the kernel counts it (MM_ANONPAGES), and EXPL from it
    import os
    st = open("/proc/%d/status" % p["pid"]).read()
    anon = int(st.split("RssAnon:")[1].split()[0]) * 1024
    assert abs(p["rss_anon_bytes"] - anon) <= max(anon // 10, 1 << 20), (what, p["rss_anon_bytes"], anon)
    e = (p["total"]["live_bytes"] + p["mapped"]["live_bytes"]) / p["rss_anon_bytes"]
    assert abs(p["rss_explained"] - e) < 1e-9, (what, p["rss_explained"], e)
def bracket(before, p, after, what):
    for (n, x), (_, b), (_, c) in zip(groups(p), groups(before), groups(after)):
        for f in MONO:
            assert b[f] <= x[f] <= c[f], "%s: %s.%s probe %d not within live file %d..%d" % (what, n, f, x[f], b[f], c[f])
PY
if grep -q "cannot run the pull iterator" "$TMPD/p.err"; then
    skip probe-pull-json "kernel $(uname -r) cannot run the pull iterator (needs 6.7+), so idle processes cannot be listed"
else
"$PY" - "$TMPD" "$BUSY" "$IDLE" "$PLAIN" <<'PY' && [ $rc = 0 ] && [ $rc2 = 0 ] && pass probe-pull-json || fail probe-pull-json "rc $rc/$rc2: $(cat "$TMPD/p.err") $(head -c 1500 "$TMPD/p.json")"
import sys; sys.path.insert(0, sys.argv[1]); from probecmp import *
t, busy, idle, plain = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
p = procs(t + "/p.json")
assert sorted(p) == sorted([busy, idle]), "listed %s, want %s" % (sorted(p), sorted([busy, idle]))
a = procs(t + "/all.json")
assert busy in a and idle in a and plain not in a, sorted(a)
doc = load(t + "/p.json")
top = load(t + "/top0.json")
for k in top:                                  # every key of heapshim top --json is there
    assert k in doc, k
for k in top["processes"][0]:
    assert k in p[busy], k
exact(p[idle], procs(t + "/topidle.json")[idle], "idle")
bracket(procs(t + "/top0.json")[busy], p[busy], procs(t + "/top1.json")[busy], "busy")
same_mapped(p[busy], procs(t + "/top0.json")[busy], "busy")
assert p[idle]["source"] == "pull" and p[idle]["total"]["allocs"] > 2000, p[idle]
m = p[idle]["mapped"]     # 8 MiB kept, 3 MiB mapped and unmapped (and whatever python maps itself)
assert m["live_bytes"] >= 8 << 20 and m["peak_bytes"] >= m["live_bytes"] + (3 << 20) - (1 << 20) and m["unmaps"] >= 1, m
assert p[busy]["mapped"]["live_bytes"] >= 5 << 20, p[busy]["mapped"]
anon_close(p[idle], "idle"); anon_close(p[busy], "busy")
PY
fi
grep -q "pid $PLAIN: not seen" "$TMPD/p.err" && pass probe-unshimmed-warned || fail probe-unshimmed-warned "$(cat "$TMPD/p.err")"

# 1b. the vma walk cannot start (mmap lock busy; injected with
#     HEAPSHIM_PROBE_FAULT): a process read before is read again at the
#     region found then; one never read is counted unreadable, not dropped
#     silently; a process without the shim is neither
if grep -q "cannot run the pull iterator" "$TMPD/p.err"; then
    skip probe-vma-busy "no pull iterator on kernel $(uname -r)"
else
HEAPSHIM_PROBE_FAULT=vma-busy-later probe --once --json --wait 300 --pid "$BUSY" --pid "$IDLE" --pid "$PLAIN" \
    > "$TMPD/f1.json" 2> "$TMPD/f1.err"; rc=$?
HEAPSHIM_PROBE_FAULT=vma-busy probe --once --json --pid "$IDLE" --pid "$PLAIN" > "$TMPD/f2.json" 2> "$TMPD/f2.err"; rc2=$?
"$HS" top --once --json "$IDLE" > "$TMPD/topidle2.json"
"$PY" - "$TMPD" "$BUSY" "$IDLE" <<'PY' && [ $rc = 0 ] && [ $rc2 = 0 ] && pass probe-vma-busy || fail probe-vma-busy "rc $rc/$rc2: $(cat "$TMPD/f1.err" "$TMPD/f2.err") $(head -c 1500 "$TMPD/f1.json") $(head -c 600 "$TMPD/f2.json")"
import sys; sys.path.insert(0, sys.argv[1]); from probecmp import *
t, busy, idle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = load(t + "/f1.json"); p = procs(t + "/f1.json"); st = d["pull_stats"]
assert sorted(p) == sorted([busy, idle]) and d["bad"] == 0, (sorted(p), d["bad"])
assert p[idle]["source"] == "pull" and p[busy]["source"] == "pull", p
exact(p[idle], procs(t + "/topidle2.json")[idle], "idle, walk failed")
assert st["vma_busy"] >= 2 and st["vma_fallback"] >= 2, st
d = load(t + "/f2.json")
assert d["processes"] == [] and d["bad"] == 1 and d["pull_stats"]["vma_busy"] >= 2, (d["bad"], d["pull_stats"], d["processes"][:1])
PY
fi
out=$(HEAPSHIM_PROBE_FAULT=bogus "$PROBE" --once 2>&1 >/dev/null); rc=$?
[ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "^heapshim-probe: HEAPSHIM_PROBE_FAULT: unknown fault 'bogus'" \
    && pass probe-fault-env-bad || fail probe-fault-env-bad "rc $rc: $out"

# 2. kernel-side facts: RSS from the task's mm matches /proc/PID/statm
"$PY" - "$TMPD/p.json" "$IDLE" "$BUSY" <<'PY' && pass probe-rss || fail probe-rss "$(grep -A3 rss_bytes "$TMPD/p.json" | head -20)"
import json, os, sys
ps = {x["pid"]: x for x in json.load(open(sys.argv[1]))["processes"]}
pid = int(sys.argv[2]) if int(sys.argv[2]) in ps else int(sys.argv[3])   # idle, if the pull path ran
p = ps[pid]
statm = int(open("/proc/%d/statm" % pid).read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
assert abs(p["rss_bytes"] - statm) <= max(statm // 10, 1 << 20), (p["rss_bytes"], statm)
assert p["kernel"]["rss_bytes"] == p["rss_bytes"] and 0 < p["rss_explained"], p
PY

# 3. the push path alone (USDT, no iterator): the busy one, by its snapshot,
#    with its mmap traffic; the idle one never publishes, so it is absent;
#    a process started after the probe is caught by heapshim:init
"$HS" top --once --json "$BUSY" > "$TMPD/top2.json"
( sleep 0.4; exec env LD_PRELOAD="$SHIM" "$PY" -c '
import mmap, time
m = mmap.mmap(-1, 1 << 20)
time.sleep(3)' ) & LATE=$!
pids+=("$LATE")
HEAPSHIM_PROBE_NO_PULL=1 probe --once --json --wait 1500 > "$TMPD/u.json" 2> "$TMPD/u.err"; rc=$?
"$HS" top --once --json "$BUSY" > "$TMPD/top3.json"
"$PY" - "$TMPD" "$BUSY" "$IDLE" "$LATE" <<'PY' && [ $rc = 0 ] && pass probe-usdt-json || fail probe-usdt-json "rc $rc late '$LATE': $(cat "$TMPD/u.err") $(head -c 1500 "$TMPD/u.json")"
import sys; sys.path.insert(0, sys.argv[1]); from probecmp import *
t, busy, idle, late = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
u = procs(t + "/u.json")
assert busy in u and idle not in u, sorted(u)
b = u[busy]
assert b["source"] == "usdt" and b["kernel"]["usdt_hits"] >= 5, b
bracket(procs(t + "/top2.json")[busy], b, procs(t + "/top3.json")[busy], "busy via usdt")
same_mapped(b, procs(t + "/top3.json")[busy], "busy via usdt")
assert b["mapped"]["live_bytes"] >= 5 << 20, b["mapped"]
anon_close(b, "busy via usdt")
assert late in u and u[late]["source"] == "usdt", ("late", late, sorted(u))
PY
# USDT rows as complete as top's: the header's command line, threads, the
# arenas' live globals, RSS now (statm), the brk heap
"$PY" - "$TMPD" "$BUSY" "$LATE" <<'PY' && pass probe-usdt-complete || fail probe-usdt-complete "$(head -c 2000 "$TMPD/u.json")"
import sys, os; sys.path.insert(0, sys.argv[1]); from probecmp import *
t, busy, late = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u = procs(t + "/u.json"); b = u[busy]; top = procs(t + "/top3.json")[busy]
assert b["cmdline"] == top["cmdline"] and b["cmdline"] != b["comm"], (b["cmdline"], top["cmdline"])
assert b["threads"] == top["threads"] >= 1, (b["threads"], top["threads"])
assert b["arenas"]["arenas_peak"] >= b["arenas"]["arenas_mapped"] > 0, b["arenas"]
assert (b["arenas"]["pools_used"] > 0) == (top["arenas"]["pools_used"] > 0), (b["arenas"], top["arenas"])
assert b["kernel"]["brk_bytes"] > 0, b["kernel"]
statm = int(open("/proc/%d/statm" % busy).read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
assert abs(b["rss_bytes"] - statm) <= max(statm // 10, 1 << 20), (b["rss_bytes"], statm)
l = u[late]
assert "import mmap" in l["cmdline"] and l["threads"] >= 1, l
PY
# the mapping traffic of the late one, counted from its heapshim:init on
"$PY" - "$TMPD/u.json" "$LATE" <<'PY' && pass probe-syscalls || fail probe-syscalls "$(grep -A12 '"kernel"' "$TMPD/u.json" | head -40)"
import json, sys
p = {x["pid"]: x for x in json.load(open(sys.argv[1]))["processes"]}[int(sys.argv[2])]
k = p["kernel"]
assert k["mmap_calls"] >= 1 and k["mapped_bytes"] >= 1 << 20, k
PY
wait "$LATE" 2>/dev/null

# 3b. the library file replaced while the probe runs: a non-library twice
#     (one warning each, not one per frame), then a library (attached);
#     runs in the background during 3c
mkdir -p "$TMPD/lib"; cp "$SHIM" "$TMPD/lib/libheapshim.so"
timeout --preserve-status -s INT 6 "$PROBE" --lib "$TMPD/lib/libheapshim.so" --verbose --interval 100 --pid "$BUSY" \
    > "$TMPD/rep.txt" 2> "$TMPD/rep.err" & REPP=$!
# the replacements start once the probe has attached (its first frame): on a
# loaded machine it takes longer than a fixed delay to start
( for _ in $(seq 50); do grep -q '^heapshim-probe - ' "$TMPD/rep.txt" 2>/dev/null && break; sleep 0.1; done
  sleep 0.3; cp /bin/true "$TMPD/lib/n" && mv -f "$TMPD/lib/n" "$TMPD/lib/libheapshim.so"
  sleep 0.8; cp /bin/false "$TMPD/lib/n" && mv -f "$TMPD/lib/n" "$TMPD/lib/libheapshim.so"
  sleep 0.8; cp "$SHIM" "$TMPD/lib/n" && mv -f "$TMPD/lib/n" "$TMPD/lib/libheapshim.so" ) & REP=$!

# 3c. exec into an image without the shim (same tgid, same start time): the
#     process drops out, in live mode (pull + usdt) and with --once --wait
#     (usdt only, where only the exec tracepoint can tell)
( sleep 1; exec env LD_PRELOAD="$SHIM" sh -c 'x=$(echo a b); sleep 1; exec env -u LD_PRELOAD sleep 30' ) & EX=$!
pids+=("$EX")
timeout --preserve-status -s INT 3.8 "$PROBE" --lib "$SHIM" --interval 250 --pid "$EX" > "$TMPD/ex.txt" 2>&1 & EXL=$!
HEAPSHIM_PROBE_NO_PULL=1 probe --once --json --wait 3200 --pid "$EX" > "$TMPD/ex.json" 2> "$TMPD/ex.err"; rc=$?
wait "$EXL"; rc2=$?
# frames: listed while sh runs (from 1 s), gone after its exec (2 s; the probe starts in ~0.3 s)
frames=$(grep -E "^heapshim-probe - |^ *$EX " "$TMPD/ex.txt" | awk -v p="$EX" '/^heapshim-probe/ {n++} $1 == p {seen[n] = 1} END {
    for (i = 1; i <= n; i++) printf "%s", (i in seen) ? "L" : "-"; print "" }')
[ $rc2 = 0 ] && echo "$frames" | grep -Eq '^-*L+-{2,}$' && [ "$(readlink "/proc/$EX/exe")" = "$(readlink -f "$(command -v sleep)")" ] \
    && pass probe-exec-live || fail probe-exec-live "rc $rc2 frames '$frames' exe $(readlink "/proc/$EX/exe"): $(head -c 800 "$TMPD/ex.txt")"
"$PY" - "$TMPD/ex.json" "$EX" <<'PY' && [ $rc = 0 ] && pass probe-exec-usdt || fail probe-exec-usdt "rc $rc: $(cat "$TMPD/ex.err") $(head -c 800 "$TMPD/ex.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert [p["pid"] for p in d["processes"]] == [], [p["pid"] for p in d["processes"]]
assert d["pull_stats"]["exec_dropped"] >= 1, d["pull_stats"]     # it was tracked before
PY
kill "$EX" 2>/dev/null

wait "$REPP"; rc=$?
wait "$REP"
nw=$(grep -c 'libheapshim.so: not a usable libheapshim.so' "$TMPD/rep.err")
na=$(grep -c 'was replaced: attached to the new file too' "$TMPD/rep.err")
[ $rc = 0 ] && [ "$nw" = 2 ] && [ "$na" = 1 ] && [ "$(grep -c '^heapshim-probe - ' "$TMPD/rep.txt")" -ge 10 ] \
    && pass probe-lib-replaced || fail probe-lib-replaced "rc $rc, $nw warnings, $na attached: $(sort "$TMPD/rep.err" | uniq -c | head -c 800)"

# 4. the table, once and refreshed; the pid filter
#    (heapshim top's table, fitted the same way: 80 columns, the same cells
#    as top's for the idle process; MMAP MUNMAP BRK when there is room)
t=$(COLUMNS=80 probe --once --pid "$IDLE" 2>&1)
COLUMNS=200 "$HS" top --once --interval 50 "$IDLE" > "$TMPD/top.txt" 2>&1
t2=$(COLUMNS=120 probe --once --pid "$IDLE" 2>&1)
echo "$t" > "$TMPD/probe.txt"
"$PY" - "$TMPD/probe.txt" "$TMPD/top.txt" "$IDLE" <<'PY' && echo "$t2" | sed -n 2p | grep -Eq ' EXPL +MMAP +MUNMAP +BRK$' \
    && [ "$(echo "$t2" | awk 'length($0) > 120' | wc -l)" = 0 ] && pass probe-table || fail probe-table "$t / $t2 / $(cat "$TMPD/top.txt")"
import sys
def table(f, pid):
    lines = open(f).read().splitlines()
    assert all(len(l) <= 80 for l in lines) or f.endswith("top.txt"), [l for l in lines if len(l) > 80]
    head = lines[1].split()
    rows = [l.split() for l in lines[2:] if l.split() and l.split()[0] == pid]
    assert len(rows) == 1, lines
    return dict(zip(head, rows[0]))
p, t = table(sys.argv[1], sys.argv[3]), table(sys.argv[2], sys.argv[3])
assert list(p)[:2] == ["PID", "COMMAND"] and "MAPPED" in p and "GROWTH" not in p, p
for c in ("LIVE", "PEAK", "RAW", "MEM", "OBJ", "MAPPED"):
    if c in p: assert p[c] == t[c], (c, p, t)
assert p["MAPPED"].startswith("8.0"), p
PY
timeout --preserve-status -s INT 3 "$PROBE" --lib "$SHIM" --interval 300 --pid "$BUSY" > "$TMPD/live.txt" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(grep -c '^heapshim-probe - 1 process' "$TMPD/live.txt")" -ge 3 ] \
    && pass probe-live || fail probe-live "rc $rc: $(head -c 600 "$TMPD/live.txt")"

# 5. --prometheus: the metric names of heapshim export, valid exposition
probe --prometheus > "$TMPD/m.prom" 2> "$TMPD/m.err"; rc=$?
"$HS" export --no-reset "$IDLE" > "$TMPD/e.prom"
names() { grep '^# TYPE' "$1" | awk '{print $3}' | sort; }
missing=$(comm -23 <(names "$TMPD/e.prom") <(names "$TMPD/m.prom"))
[ $rc = 0 ] && [ -z "$missing" ] && grep -q "^heapshim_live_bytes{pid=\"$IDLE\",comm=\"python3\",domain=\"mem\"} " "$TMPD/m.prom" \
    && grep -q "^heapshim_probe_syscalls_total{pid=\"$BUSY\"" "$TMPD/m.prom" \
    && grep -q "^heapshim_mapped_live_bytes{pid=\"$IDLE\",comm=\"python3\",domain=\"mem\"} [1-9]" "$TMPD/e.prom" \
    && [ "$(grep "^heapshim_mapped_[a-z_]*{pid=\"$IDLE\"" "$TMPD/m.prom")" = "$(grep "^heapshim_mapped_[a-z_]*{pid=\"$IDLE\"" "$TMPD/e.prom")" ] \
    && pass probe-prom-names || fail probe-prom-names "rc $rc, missing: $missing $(cat "$TMPD/m.err")"
if command -v promtool >/dev/null; then
    out=$(promtool check metrics < "$TMPD/m.prom" 2>&1) && pass probe-promtool || fail probe-promtool "$out"
else
    skip probe-promtool "promtool missing (Debian package prometheus)"
fi

# 6. an exited process disappears
kill "$IDLE"; wait "$IDLE" 2>/dev/null
j=$(probe --once --json 2>/dev/null)
echo "$j" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); ps=[p["pid"] for p in d["processes"]]; assert '"$IDLE"' not in ps and '"$BUSY"' in ps, ps' \
    && pass probe-exited-gone || fail probe-exited-gone "$(echo "$j" | head -c 400)"

# 7. bad arguments: one line, exit 2 (no BPF is loaded for these); a FIFO
#    given as the library is opened without blocking and refused
mkfifo "$TMPD/fifo.so"; head -c 20 /dev/zero > "$TMPD/short.so"
for args in "--bogus" "--interval 5" "--interval" "--pid 0" "--pid x" "--json --prometheus" \
            "--wait 10" "--lib /nonexistent/libheapshim.so --once" "--lib /bin/sh --once" \
            "--lib $TMPD/fifo.so --once" "--lib $TMPD/short.so --once"; do
    out=$(timeout 20 "$PROBE" $args 2>&1 >/dev/null); rc=$?
    if [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q '^heapshim-probe: '; then :
    else fail "probe-bad-args" "'$args': rc $rc: $out"; args=FAILED; break; fi
done
[ "$args" != FAILED ] && pass probe-bad-args
"$PROBE" --help | grep -q '^usage: heapshim-probe' && pass probe-help || fail probe-help "no usage"

# 8. without privileges: a clear line, exit 2
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    cp "$PROBE" "$TMPD/probe-copy" 2>/dev/null; chmod 755 "$TMPD" "$TMPD/probe-copy"
    out=$(cd / && setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --inh-caps=-all \
          "$TMPD/probe-copy" --lib "$SHIM" --once 2>&1); rc=$?
    [ $rc = 2 ] && echo "$out" | grep -q 'needs root, or CAP_BPF and CAP_PERFMON' && [ "$(echo "$out" | wc -l)" = 1 ] \
        && pass probe-unprivileged || fail probe-unprivileged "rc $rc: $out"
else
    skip probe-unprivileged "setpriv or user nobody missing"
fi
finish
