#!/bin/bash
# tests/42-readers.sh - readers that cannot be fooled (issue 14 items 1, 2, 6):
# a FIFO named like a pid, a live file truncated while export/serve read it,
# gc against a directory swapped for a symlink, a live directory owned by
# another user (run as an unprivileged user the test creates: SKIP unless
# root), serve with idle/hostile connections, the report's temporary file
# next to a user's file of the old temporary name, a daemonized process.
# Every check is bounded by timeouts: a reader that hangs is a FAIL, not a
# hung suite.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tools/test-fixtures.bash"
[ -x "$HS" ] || { fail readers-built "no $HS (run make)"; finish; }
[ -x "$LIVEGEN" ] || { fail readers-built "no $LIVEGEN (run make)"; finish; }
L="$TMPD/rlive"; mkdir -m 700 "$L"
sleep 900 & SP=$!    # the process the files name: alive for the whole suite (slow under SAN=1)
pids=("$SP")
SERVE=; NEWUSER=
cleanup() {
    kill "${pids[@]}" $SERVE 2>/dev/null; wait 2>/dev/null
    [ -n "$NEWUSER" ] && userdel "$NEWUSER" 2>/dev/null
    rm -rf "$TMPD"
}
trap cleanup EXIT
"$LIVEGEN" "$L/$SP" pid="$SP" comm=victim mem=300000 window.mem=700000

# ---- a FIFO named like a pid: every reader returns promptly, leaves it alone
mkfifo "$L/4000001"
for cmd in "top --once" "top --json" "export --no-reset" "export" "gc --dry-run" "gc"; do
    name="fifo-${cmd// /}"
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    timeout 5 "$HS" $cmd --dir "$L" >"$TMPD/fifo.out" 2>&1 </dev/null; rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [ $rc = 124 ] || [ $rc -ge 128 ]; then fail "$name" "rc $rc after $ms ms (hung on the FIFO?)"
    elif [ ! -p "$L/4000001" ]; then fail "$name" "the FIFO was removed"
    else pass "$name"; fi
done
grep -q "4000001: not a regular file" "$TMPD/fifo.out" && pass fifo-reported || fail fifo-reported "$(cat "$TMPD/fifo.out")"
rm -f "$L/4000001"

# ---- a live file truncated (in place) while export and serve read it: no SIGBUS
cp "$L/$SP" "$TMPD/orig"
"$PY" - "$L/$SP" "$TMPD/orig" <<'PYEOF' &
import os, sys, time
data = open(sys.argv[2], "rb").read()
fd = os.open(sys.argv[1], os.O_RDWR)
end = time.time() + 60
while time.time() < end:
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
PYEOF
FLAP=$!
pids+=("$FLAP")
sig=0; ok=0
for i in $(seq 1 300); do
    timeout 5 "$HS" export --dir "$L" >/dev/null 2>&1; rc=$?
    if [ $rc -ge 124 ]; then sig=$((sig + 1)); else ok=$((ok + 1)); fi
done
[ $sig = 0 ] && pass truncate-export || fail truncate-export "$sig of 300 exports died (rc >= 124: SIGBUS or hang)"
"$HS" serve --listen 127.0.0.1:0 --dir "$L" 2>"$TMPD/serve.err" &
SERVE=$!
port=
for _ in $(seq 50); do
    port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$TMPD/serve.err")
    [ -n "$port" ] && break; sleep 0.1
done
if [ -z "$port" ]; then
    fail serve-start "$(cat "$TMPD/serve.err")"
else
    for i in $(seq 1 200); do curl -s -m 2 -o /dev/null "http://127.0.0.1:$port/metrics"; done
    kill -0 "$SERVE" 2>/dev/null && pass truncate-serve || fail truncate-serve "serve died during 200 scrapes of a file being truncated"
fi
kill "$FLAP" 2>/dev/null; wait "$FLAP" 2>/dev/null
cp "$TMPD/orig" "$L/$SP"

# ---- serve: idle connections, a NUL byte, an oversize line: a scrape still answers at once
if [ -n "$port" ] && kill -0 "$SERVE" 2>/dev/null; then
    "$PY" - "$port" >"$TMPD/hostile.out" 2>&1 <<'PYEOF' &
import socket, sys, time
port = int(sys.argv[1])
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
def ask(payload):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(3)
    t = time.time()
    s.sendall(payload)
    try:
        r = s.recv(100)
    except socket.timeout:
        r = b"(timeout)"
    return r.split(b"\r\n")[0].decode("ascii", "replace"), time.time() - t
print("nul", *ask(b"GET /metr\0ics HTTP/1.0\r\n"), flush=True)
print("long", *ask(b"GET /" + b"a" * 5000), flush=True)
time.sleep(6)
PYEOF
    HOSTILE=$!
    pids+=("$HOSTILE")
    sleep 0.5
    r=$(curl -s -m 5 -o "$TMPD/scrape" -w '%{http_code} %{time_total}' "http://127.0.0.1:$port/metrics")
    code=${r% *}; secs=${r#* }
    if [ "$code" = 200 ] && "$PY" -c "import sys; sys.exit(0 if float('$secs') < 1 else 1)" && grep -q "pid=\"$SP\"" "$TMPD/scrape"; then
        pass serve-idle-clients
    else
        fail serve-idle-clients "scrape with 20 idle connections open: code $code in ${secs}s (want 200 in < 1 s)"
    fi
    sleep 1
    n=$(grep -c "^nul HTTP/1.0 400 " "$TMPD/hostile.out"); l=$(grep -c "^long HTTP/1.0 400 " "$TMPD/hostile.out")
    fast=$(awk '$1 == "nul" || $1 == "long" { if ($NF + 0 > 1) print "slow" }' "$TMPD/hostile.out")
    [ "$n" = 1 ] && [ "$l" = 1 ] && [ -z "$fast" ] && pass serve-bad-request-400 \
        || fail serve-bad-request-400 "$(cat "$TMPD/hostile.out")"
    kill "$HOSTILE" 2>/dev/null; wait "$HOSTILE" 2>/dev/null
    kill -0 "$SERVE" 2>/dev/null && pass serve-survives || fail serve-survives "serve is gone"
else
    fail serve-idle-clients "serve is not running"
fi
kill "$SERVE" 2>/dev/null; wait "$SERVE" 2>/dev/null; SERVE=

# ---- gc: the directory is swapped for a symlink to a victim directory while gc runs
G="$TMPD/gcd"; V="$TMPD/victim"; mkdir -m 700 "$G" "$V"
"$LIVEGEN" "$TMPD/stale-tpl" pid=4100000
"$PY" - "$TMPD/stale-tpl" "$G" "$V" <<'PYEOF'
import struct, sys
tpl = bytearray(open(sys.argv[1], "rb").read())
for i in range(1500):
    pid = 4100000 + i
    struct.pack_into("<i", tpl, 40, pid)       # header.pid (include/heapshim/live.h)
    open(f"{sys.argv[2]}/{pid}", "wb").write(tpl)
    open(f"{sys.argv[3]}/{pid}", "w").write("precious\n")
PYEOF
"$PY" - "$G" "$V" <<'PYEOF' &
import os, sys, time
g, v = sys.argv[1], sys.argv[2]
end = time.time() + 60
while time.time() < end:
    os.rename(g, g + ".real"); os.symlink(v, g)
    os.unlink(g); os.rename(g + ".real", g)
PYEOF
SWAP=$!
pids+=("$SWAP")
for i in $(seq 1 8); do timeout 10 "$HS" gc --dir "$G" >/dev/null 2>&1; done
kill "$SWAP" 2>/dev/null; wait "$SWAP" 2>/dev/null
[ -L "$G" ] && rm -f "$G"; [ -d "$G.real" ] && mv "$G.real" "$G"
left=$(ls "$V" | wc -l)
[ "$left" = 1500 ] && pass gc-swapped-dir || fail gc-swapped-dir "$((1500 - left)) of 1500 files outside the live directory were deleted"
timeout 20 "$HS" gc --dir "$G" >/dev/null 2>&1
[ "$(ls "$G" | wc -l)" = 0 ] && pass gc-removes-stale || fail gc-removes-stale "$(ls "$G" | wc -l) stale files left"
ln -s "$V" "$TMPD/gclink"
out=$(timeout 5 "$HS" gc --dir "$TMPD/gclink" 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "symlink" && [ "$(ls "$V" | wc -l)" = 1500 ] && pass gc-symlink-refused \
    || fail gc-symlink-refused "rc $rc: $(echo "$out" | head -c 300)"

# ---- a live directory owned by another user is refused
if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null || ! command -v runuser >/dev/null; then
    skip dir-other-owner "needs root with useradd and runuser (creates an unprivileged user)"
else
    NEWUSER="hsr42u$$"
    if ! useradd -M -r -s /bin/sh "$NEWUSER" 2>"$TMPD/useradd.err"; then
        skip dir-other-owner "useradd failed: $(cat "$TMPD/useradd.err")"; NEWUSER=
    fi
fi
if [ -n "$NEWUSER" ]; then
    chmod 711 "$TMPD"
    # a checkout under /root (mode 0700, where root clones on a fresh
    # machine) is out of the user's reach: run a copy of the command
    HSU="$HS"
    if ! runuser -u "$NEWUSER" -- test -x "$HS"; then
        cp "$HS" "$TMPD/heapshim-copy" && chmod 755 "$TMPD/heapshim-copy" && HSU="$TMPD/heapshim-copy"
    fi
    # another user (root here) made the victim's directory first and fills it
    F="$TMPD/fake"; mkdir -m 755 "$F"
    "$LIVEGEN" "$F/$SP" pid="$SP" comm=fabricated mem=1000000000; chmod 644 "$F/$SP"
    out=$(timeout 5 runuser -u "$NEWUSER" -- env HEAPSHIM_DIR="$F" "$HSU" top --once --json 2>&1); rc=$?
    [ $rc = 2 ] && echo "$out" | grep -q "owned by uid 0" && ! echo "$out" | grep -q fabricated \
        && pass dir-other-owner || fail dir-other-owner "rc $rc: $(echo "$out" | head -c 300)"
    out=$(timeout 5 runuser -u "$NEWUSER" -- "$HSU" export --no-reset --dir "$F" 2>&1); rc=$?
    [ $rc = 2 ] && ! echo "$out" | grep -q fabricated && pass dir-other-owner-export \
        || fail dir-other-owner-export "rc $rc: $(echo "$out" | head -c 300)"
    # root: another user's directory only when named with --dir
    U="$TMPD/userdir"; mkdir -m 700 "$U"; "$LIVEGEN" "$U/$SP" pid="$SP" comm=theirs; chown -R "$NEWUSER" "$U"
    out=$(HEAPSHIM_DIR="$U" timeout 5 "$HS" top --once 2>&1); rc=$?
    out2=$(timeout 5 "$HS" top --once --dir "$U" 2>&1); rc2=$?
    [ $rc = 2 ] && [ $rc2 = 0 ] && echo "$out2" | grep -q theirs && pass dir-root-explicit \
        || fail dir-root-explicit "HEAPSHIM_DIR: rc $rc ($out); --dir: rc $rc2 ($out2)"
    # a group/other-writable directory of our own is refused too
    W="$TMPD/wdir"; mkdir -m 733 "$W"; chmod 733 "$W"
    out=$(timeout 5 "$HS" top --once --dir "$W" 2>&1); rc=$?
    [ $rc = 2 ] && echo "$out" | grep -q "mode 0733" && pass dir-writable-refused || fail dir-writable-refused "rc $rc: $out"
fi

# ---- HEAPSHIM_REPORT never deletes a user's file named <report>.tmp.<pid>
R="$TMPD/rep"; mkdir "$R"
sh -c 'echo precious > "$1.tmp.$$"; exec env LD_PRELOAD="$2" HEAPSHIM_REPORT="$1" HEAPSHIM_PUBLISH=0 true' \
    sh "$R/r.json" "$SHIM"
u=$(ls "$R" | grep -c '^r\.json\.tmp\.[0-9]*$')
c=$(cat "$R"/r.json.tmp.* 2>/dev/null)
left=$(ls -A "$R" | grep -c 'tmp' )
[ "$u" = 1 ] && [ "$c" = precious ] && [ "$left" = 1 ] && "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$R/r.json" 2>/dev/null \
    && pass report-tmp-clobber || fail report-tmp-clobber "files: $(ls -A "$R" | tr '\n' ' ') user file: '$c'"

# ---- a live file is never seen before it is one: processes starting while
# a reader scans (the file is made under a hidden name and renamed once its
# header is written; before, 259 of 660 scans warned "bad magic")
# (3 s and at least 20 scans: a SAN build scanned 18 times in 3 s)
S="$TMPD/slive"; mkdir -m 700 "$S"
( end=$((SECONDS + 60)); while [ $SECONDS -lt $end ] && [ ! -e "$TMPD/slive.stop" ]; do HEAPSHIM_DIR="$S" LD_PRELOAD="$SHIM" /bin/true; done ) &
SPAWN=$!
scans=0; warned=0; end=$((SECONDS + 3))
while kill -0 $SPAWN 2>/dev/null && { [ $SECONDS -lt $end ] || [ $scans -lt 20 ]; }; do
    timeout 5 "$HS" export --no-reset --dir "$S" > /dev/null 2> "$TMPD/scan.err"
    scans=$((scans + 1))
    [ -s "$TMPD/scan.err" ] && { warned=$((warned + 1)); cp "$TMPD/scan.err" "$TMPD/scan.bad"; }
done
touch "$TMPD/slive.stop"
wait $SPAWN
[ "$scans" -ge 20 ] && [ "$warned" = 0 ] && pass live-file-never-early && echo "    $scans scans while processes started: no warning" \
    || fail live-file-never-early "$warned of $scans scans warned while processes started: $(head -c 300 "$TMPD/scan.bad" 2>/dev/null)"
leftover=$(ls -A "$S" | grep -v '^unwind-' | head -3)
[ -z "$leftover" ] && pass live-file-none-left || fail live-file-none-left "left in the live directory: $leftover"

# ---- a daemon (fork, setsid, fork; both parents exit) is listed by top
D="$TMPD/dlive"; mkdir -m 700 "$D"
HEAPSHIM_DIR="$D" LD_PRELOAD="$SHIM" "$PY" - "$TMPD/dpid" <<'PYEOF'
import os, sys, time
if os.fork():
    sys.exit(0)                      # the parent exits normally
os.setsid()
if os.fork():
    os._exit(0)                      # as daemon(3) does
open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
x = [bytearray(1000) for _ in range(2000)]
time.sleep(15)
PYEOF
for _ in $(seq 50); do [ -s "$TMPD/dpid" ] && break; sleep 0.1; done
dp=$(cat "$TMPD/dpid" 2>/dev/null)
pids+=($dp)
sleep 0.3
j=$(timeout 5 "$HS" top --once --json --dir "$D" 2>&1)
[ -n "$dp" ] && echo "$j" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
p = [x for x in d["processes"] if x["pid"] == '"${dp:-0}"']
assert p and p[0]["total"]["live_bytes"] > 2000 * 1000, d
' 2>/dev/null && pass daemon-listed || fail daemon-listed "daemon pid '$dp' not listed: $(echo "$j" | head -c 400)"
finish
