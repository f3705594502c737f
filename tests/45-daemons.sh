#!/bin/bash
# run-suites: alone (real servers started and stopped within timeouts; creates a user)
# tests/45-daemons.sh - daemons and privilege drops (issue 14 item 6):
#   - daemon(3) and fork + parent exit: the daemon is listed by `top`, and
#     the parent leaves no stale file (glibc's daemon() left the parent
#     through its internal _exit, past the shim's: one stale file per start);
#   - a process that drops root (setuid, setresuid) to an unprivileged user
#     created here: its live file moves to that user's directory, owned by
#     the user, listed by the user's own `top`, removed at exit (it used to
#     stay in root's directory, which the process could no longer unlink);
#   - real servers: redis-server --daemonize yes; nginx (master daemonized
#     as root, workers as an unprivileged user), stopped with -s quit.
source "$(dirname "$0")/lib.sh"
HS="$ROOT/$B/heapshim"
PD="$ROOT/$B/tests/prog_daemon"; PU="$ROOT/$B/tests/prog_dropuid"
NEWUSER=; REDIS=; NGINX_CONF=
cleanup() {
    [ -n "$REDIS" ] && kill "$REDIS" 2>/dev/null
    [ -n "$NGINX_CONF" ] && nginx -c "$NGINX_CONF" -s stop 2>/dev/null
    if [ -n "$NEWUSER" ]; then
        pkill -u "$NEWUSER" 2>/dev/null; sleep 0.2
        [ -n "$U" ] && [ "$(stat -c %u "/dev/shm/heapshim-$U" 2>/dev/null)" = "$U" ] && rm -rf "/dev/shm/heapshim-$U"
        userdel "$NEWUSER" 2>/dev/null
    fi
    rm -rf "$TMPD"
}
trap cleanup EXIT
[ -x "$HS" ] && [ -x "$PD" ] || { skip daemons "build/heapshim or the test programs not built"; exit 0; }
jpid() {   # jpid JSON PID: the process's total live bytes, or nothing
    "$PY" -c 'import json,sys; d=json.load(sys.stdin); p=[x for x in d["processes"] if x["pid"]==int(sys.argv[1])]; print(p[0]["total"]["live_bytes"] if p else "")' "$2" <<< "$1" 2>/dev/null
}
jstale() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stale"])' <<< "$1" 2>/dev/null; }

# ---- daemon(3) and fork + parent exit
for m in daemon fork; do
    D="$TMPD/d-$m"; mkdir -m 700 "$D"
    # (the daemon's heap profile file, <pid>.prof, sits beside its live file)
    HEAPSHIM_DIR="$D" LD_PRELOAD="$SHIM" "$PD" $m "$TMPD/pid-$m" 6
    for _ in $(seq 50); do [ -s "$TMPD/pid-$m" ] && break; sleep 0.1; done
    dp=$(cat "$TMPD/pid-$m" 2>/dev/null)
    j=$("$HS" top --once --json --dir "$D" 2>&1)
    lb=$(jpid "$j" "${dp:-0}"); st=$(jstale "$j")
    [ -n "$dp" ] && [ "${lb:-0}" -ge 3000000 ] && [ "$st" = 0 ] && [ "$(ls "$D" | grep -vc '\.prof$\|^unwind-')" = 1 ] \
        && pass "daemon-$m-listed" || fail "daemon-$m-listed" "daemon pid '$dp' live '$lb', stale files $st, files: $(ls "$D" | tr '\n' ' ')"
done

# ---- quick_exit(3): its handlers run, then glibc's internal _exit, which no
# destructor and no interposed _exit sees: the shim's exit work (the report,
# the table, the live file's removal) was skipped. Now an at_quick_exit
# handler of the shim's, registered first, runs after the program's (which
# allocates 64 x 1000 B, so the report must count them), in every mode.
PQ="$ROOT/$B/tests/prog_quickexit"
bad=""
for mode in pymalloc malloc debug; do
    D="$TMPD/q-$mode"; mkdir -m 700 "$D"
    HEAPSHIM_ALLOCATOR=$mode HEAPSHIM_DIR="$D" HEAPSHIM_STATS=1 HEAPSHIM_REPORT="$D/r.json" LD_PRELOAD="$SHIM" \
        "$PQ" >"$TMPD/q.out" 2>"$TMPD/q.err"; rc=$?
    allocs=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["allocs"])' "$D/r.json" 2>/dev/null)
    left=$(ls "$D" | grep -vc '^r\.json$\|^unwind-')
    [ $rc = 3 ] && [ "${allocs:-0}" -ge 64 ] && grep -q '^heapshim: total' "$TMPD/q.err" && [ "$left" = 0 ] \
        || bad="$bad $mode:rc=$rc,allocs='$allocs',table=$(grep -c '^heapshim: total' "$TMPD/q.err"),left='$(ls "$D" | tr '\n' ' ')'"
done
[ -z "$bad" ] && pass quick-exit-reported || fail quick-exit-reported "$bad"

# ---- exec(): the image that exec()s keeps its pid and start time, so its
# files passed for the new image's. A shell that sampled left its
# <pid>.prof (and each fork child its copy) behind every command it ran (a
# 15 MiB file each, 12 KiB used); and an exec of a program without the
# shim (a setuid or static binary, LD_PRELOAD dropped) left a live file that
# `top` listed with the old image's counters while the new program ran.
# Now the new image removes a <pid>.prof it did not make, and the headers
# name the program file, which readers compare with /proc/PID/exe.
D="$TMPD/exec"; mkdir -m 700 "$D"
HEAPSHIM_DIR="$D" HEAPSHIM_PROFILE_RATE=4k LD_PRELOAD="$SHIM" bash -c 'x=$(seq 50000); for i in $(seq 10); do /bin/true; done; exec /bin/true'
left=$(ls "$D" | grep -vc '^unwind-')
[ "$left" = 0 ] && pass exec-no-files-left || fail exec-no-files-left "left: $(ls "$D" | grep -v '^unwind-' | tr '\n' ' ')"
HEAPSHIM_DIR="$D" HEAPSHIM_PROFILE_RATE=4k LD_PRELOAD="$SHIM" bash -c 'x=$(seq 50000); exec env -u LD_PRELOAD sleep 3' &
xp=$!
for _ in $(seq 50); do [ "$(cat /proc/$xp/comm 2>/dev/null)" = sleep ] && break; sleep 0.05; done
j=$("$HS" top --once --json --dir "$D" 2>&1)
lb=$(jpid "$j" "$xp"); st=$(jstale "$j")
gco=$("$HS" gc --dir "$D" 2>&1)
left=$(ls "$D" | grep -vc '^unwind-')
alive=$(kill -0 $xp 2>/dev/null && echo yes)
wait $xp; rc=$?
[ -z "$lb" ] && [ "${st:-0}" -ge 1 ] && [ "$left" = 0 ] && [ "$alive" = yes ] && [ $rc = 0 ] \
    && pass exec-without-shim-stale \
    || fail exec-without-shim-stale "listed live '$lb', stale '$st', after gc left $left ($gco), sleep alive '$alive', rc $rc"

# ---- a pid namespace sharing the live directory (a container with the
# host's directory mounted in): its process is pid 1 there, and a gc on the
# host looked up /proc/1 (the host's init, another start time) and removed
# the running process's live file and profile. The header names the pid
# namespace now; a reader of another one neither lists nor removes it.
if [ "$(id -u)" = 0 ] && unshare -pf --mount-proc true 2>/dev/null; then
    D="$TMPD/pidns"; mkdir -m 700 "$D"
    unshare -pf --mount-proc env LD_PRELOAD="$SHIM" HEAPSHIM_DIR="$D" HEAPSHIM_PROFILE_RATE=4k \
        "$PY" -c 'import time; x = [bytes(100) for _ in range(20000)]; time.sleep(3)' &
    np=$!
    for _ in $(seq 60); do [ -e "$D/1" ] && break; sleep 0.05; done
    gco=$("$HS" gc --dir "$D" 2>&1)
    j=$("$HS" top --once --json --dir "$D" 2>&1)
    lb=$(jpid "$j" 1)
    there=$(ls "$D" | grep -c '^1$\|^1\.prof$')
    wait $np; rc=$?
    [ "$there" = 2 ] && [ -z "$lb" ] && [ $rc = 0 ] && pass pidns-not-removed \
        || fail pidns-not-removed "files 1 and 1.prof left $there of 2 ($gco), listed as pid 1: '$lb', rc $rc"
else
    skip pidns-not-removed "needs root and unshare -p"
fi

# ---- time namespaces: /proc/PID/stat gives a start time in the reader's
# time namespace, and a process in one of its own (unshare --time
# --boottime) wrote its own view: `heapshim gc` removed the running
# process's live file and profile as stale, and top did not list it. The
# readers allow for the difference of the two boottime offsets. A process
# of such a namespace killed by SIGKILL is still stale.
if [ "$(id -u)" = 0 ] && unshare -T --boottime 100000 true 2>/dev/null; then
    D="$TMPD/timens"; mkdir -m 700 "$D"
    unshare -T --boottime 100000 --fork env LD_PRELOAD="$SHIM" HEAPSHIM_DIR="$D" HEAPSHIM_PROFILE_RATE=4k \
        "$PY" -c 'import sys, time; x = [bytes(100) for _ in range(20000)]; open(sys.argv[1], "w").close(); time.sleep(3)' "$TMPD/timens.ready" &
    tp=$!
    for _ in $(seq 100); do [ -e "$TMPD/timens.ready" ] && break; sleep 0.05; done
    tpid=$(ls "$D" | grep '^[0-9]*$' | head -1)
    gco=$("$HS" gc --dir "$D" 2>&1)
    j=$("$HS" top --once --json --dir "$D" 2>&1)
    lb=$(jpid "$j" "${tpid:-0}")
    there=$(ls "$D" | grep -c "^$tpid\$\|^$tpid\.prof\$")
    wait $tp; rc=$?
    [ -n "$tpid" ] && [ "$there" = 2 ] && [ -n "$lb" ] && [ "$lb" -gt 2000000 ] && [ $rc = 0 ] && pass timens-not-removed \
        || fail timens-not-removed "pid '$tpid': files left $there of 2 ($gco), top's live bytes '$lb' (want > 2000000), rc $rc"
    # killed in its namespace: its files are stale for gc
    unshare -T --boottime 100000 --fork env LD_PRELOAD="$SHIM" HEAPSHIM_DIR="$D" \
        "$PY" -c 'import os, signal, time; x = [bytes(100) for _ in range(2000)]; time.sleep(0.3); os.kill(os.getpid(), signal.SIGKILL)' 2>/dev/null
    gco=$("$HS" gc --dir "$D" 2>&1)
    left=$(ls "$D" | grep -c '^[0-9]*$')
    echo "$gco" | grep -q "removed [12] stale files*, 0 live" && [ "$left" = 0 ] && pass timens-killed-stale \
        || fail timens-killed-stale "gc: $gco; live files left: $left"
else
    skip timens-not-removed "needs root and unshare --time"
fi

# ---- a fork child's live file is made when it shows it will live: a
# child that exits or execs within milliseconds never makes one (a shell's
# 20 subshells made and removed 20 files before); one that holds 1 MiB, or
# calls setsid(), or starts a thread, or keeps allocating past 20 ms, is
# listed by top.
if command -v strace >/dev/null; then
    D="$TMPD/lazy"; mkdir -m 700 "$D"
    # A child that lived 20 ms or more (a loaded machine, strace's own
    # cost: CI's run made a file for one) may make its file; one quicker
    # than that must not. Lifetimes from strace's clock: the parent's
    # clone() returning to the child's exit_group().
    HEAPSHIM_DIR="$D" LD_PRELOAD="$SHIM" strace -f -qq -ttt -e trace=openat,clone,clone3,exit_group -o "$TMPD/lazy.strace" \
        bash -c 'for i in {1..20}; do ( : ); done; x=$(echo sub); exit 0'
    read -r quick slow made_quick made_slow made_bash < <("$PY" - "$TMPD/lazy.strace" <<'PYEOF'
import re, sys
born, died, made, first = {}, {}, set(), None
for l in open(sys.argv[1]):
    m = re.match(r"(\d+)\s+([\d.]+) (.*)", l)
    if not m: continue
    pid, t, call = int(m.group(1)), float(m.group(2)), m.group(3)
    first = pid if first is None else first
    c = re.match(r"clone3?\(.*\) = (\d+)$", call)
    if c: born[int(c.group(1))] = t
    if call.startswith("exit_group("): died[pid] = t
    if re.search(r'\.\d+\.new"', call): made.add(pid)
kids = [k for k in born if k in died]
slow = {k for k in kids if died[k] - born[k] >= 0.020}
quick = set(kids) - slow
print(len(quick), len(slow), len(made & quick), len(made & slow), int(first in made))
PYEOF
)
    echo "# quick children: ${quick:-?} (files ${made_quick:-?}), slower than 20 ms: ${slow:-?} (files ${made_slow:-?}); bash's file: ${made_bash:-?}"
    if [ "${quick:-0}" -lt 10 ]; then
        skip fork-child-quick-no-file "only ${quick:-0} of 21 children lived under 20 ms here (a loaded machine)"
    else
        [ "$made_quick" = 0 ] && [ "$made_bash" = 1 ] && pass fork-child-quick-no-file \
          || fail fork-child-quick-no-file "$made_quick live files made by $quick children that lived under 20 ms (want 0), bash's: $made_bash (want 1)"
    fi
else
    skip fork-child-quick-no-file "strace not installed"
fi
# ---- the same for the heap profile: a sampled shell's quick children make
# no <pid>.prof (each made one at the fork before: create, a mincore of 15
# MiB, a write per page, about 350 us a child); a child that lives on gets
# its own, made with its live file, holding the parent's samples from
# before the fork (a fixed seed and 4 KiB: the shell has samples by then)
if command -v strace >/dev/null; then
    D="$TMPD/lazyprof"; mkdir -m 700 "$D"
    HEAPSHIM_DIR="$D" HEAPSHIM_PROFILE_RATE=4k HEAPSHIM_PROFILE_SEED=1 LD_PRELOAD="$SHIM" \
        strace -f -qq -e trace=openat -o "$TMPD/lazyprof.strace" \
        bash -c 'x=$(seq 20000); for i in {1..20}; do ( : ); done; y=$(echo sub); exit 0'
    made=$(grep -c '[0-9]\.prof", O_RDWR|O_CREAT' "$TMPD/lazyprof.strace")
    [ "$made" -le 2 ] && pass fork-child-quick-no-profile \
        || fail fork-child-quick-no-profile "$made profile files created by a sampled bash and 21 quick children (want at most 2: bash's and seq's)"
else
    skip fork-child-quick-no-profile "strace not installed"
fi
D="$TMPD/lazyprof2"; mkdir -m 700 "$D"
out=$(HEAPSHIM_DIR="$D" HEAPSHIM_PROFILE_RATE=4k HEAPSHIM_PROFILE_SEED=1 LD_PRELOAD="$SHIM" bash -c '
    x=$(seq 20000)
    ( sleep 0.05; for i in $(seq 3000); do z="$z$i"; done; me=$BASHPID
      echo "child $me $(ls "'"$D"'" | grep -c "^$me\.prof$")"
      env -u LD_PRELOAD "'"$HS"'" profile --dir "'"$D"'" $me 2>&1 | head -3 ) ' 2>&1)
cp_=$(echo "$out" | awk '/^child /{print $2}')
[ -n "$cp_" ] && echo "$out" | grep -q "^child $cp_ 1$" && echo "$out" | grep -q "^heap profile of pid $cp_ " \
    && echo "$out" | grep -q "initialize_shell_variables\|make_variable_value\|xmalloc" \
    && pass fork-child-lives-profile || fail fork-child-lives-profile "$out"
# ---- a fork child's profile is the parent's at the fork, with the parent
# sampling at once after it (prog_forkprof: 200 blocks sampled before, 2,000
# after): until stop 33 the child copied the parent's shared file after
# the fork and took some of the later ones (212, 222, 360, 211 samples in 4
# runs); the parent now copies under its profile lock before the fork
FP="$ROOT/$B/tests/prog_forkprof"
fp_res=
for k in 1 2 3; do
    D="$TMPD/forkprof$k"; mkdir -m 700 "$D"
    HEAPSHIM_DIR="$D" HEAPSHIM_PROFILE_RATE=4k HEAPSHIM_PROFILE_SEED=1 LD_PRELOAD="$SHIM" "$FP" 200 2000 > "$D.out" 2>&1 &
    fpp=$!
    cp_=
    for _ in $(seq 100); do cp_=$(sed -n 's/^child //p' "$D.out"); [ -n "$cp_" ] && break; sleep 0.05; done
    n=$("$HS" profile --dir "$D" "$cp_" 2>&1 | head -1 | sed -n 's/.*, \([0-9]*\) samples$/\1/p')
    wait $fpp; rc=$?
    fp_res="$fp_res ${n:-none}/exit$rc"
done
[ "$fp_res" = " 200/exit0 200/exit0 200/exit0" ] && pass "fork-child-profile-at-fork: samples/exit$fp_res" \
    || fail fork-child-profile-at-fork "the child's samples and exit status per run (want 200, 0):$fp_res"
D="$TMPD/lazy2"; mkdir -m 700 "$D"
HEAPSHIM_DIR="$D" LD_PRELOAD="$SHIM" "$PY" - "$TMPD/lazy.pids" <<'PYEOF' &
import os, sys, threading, time
def child(kind):
    if kind == "big":
        x = [bytearray(1000) for _ in range(2000)]        # 2 MB: past 1 MiB
    elif kind == "setsid":
        os.setsid()
    elif kind == "thread":
        threading.Thread(target=time.sleep, args=(4,)).start()
    elif kind == "busy":
        t0 = time.time()
        while time.time() - t0 < 0.1:                    # allocating past 20 ms
            y = [str(i) for i in range(1000)]
    time.sleep(4)
    os._exit(0)
pids = []
for kind in ("big", "setsid", "thread", "busy"):
    p = os.fork()
    if p == 0:
        child(kind)
    pids.append("%s=%d" % (kind, p))
open(sys.argv[1], "w").write(" ".join(pids))
for _ in pids:
    os.wait()
PYEOF
lp=$!
for _ in $(seq 50); do [ -s "$TMPD/lazy.pids" ] && break; sleep 0.1; done
sleep 0.6
j=$("$HS" top --once --json --dir "$D" 2>&1)
missing=""
for kv in $(cat "$TMPD/lazy.pids"); do
    [ -n "$(jpid "$j" "${kv#*=}")" ] || missing="$missing $kv"
done
wait $lp
[ -s "$TMPD/lazy.pids" ] && [ -z "$missing" ] && pass fork-child-lives-listed \
    || fail fork-child-lives-listed "not listed:$missing ($(cat "$TMPD/lazy.pids" 2>/dev/null))"

# ---- privilege drops, as an unprivileged user made here
if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null || ! command -v runuser >/dev/null; then
    skip uid-drop "needs root with useradd and runuser"
else
    NEWUSER="hsd45u$$"
    useradd -M -r -s /bin/sh "$NEWUSER" 2>"$TMPD/useradd.err" || { skip uid-drop "useradd: $(cat "$TMPD/useradd.err")"; NEWUSER=; }
fi
if [ -n "$NEWUSER" ]; then
    U=$(id -u "$NEWUSER")
    chmod 711 "$TMPD"; mkdir -m 777 "$TMPD/pub"
    HSU="$HS"
    if ! runuser -u "$NEWUSER" -- test -x "$HS"; then
        cp "$HS" "$TMPD/heapshim-copy" && chmod 755 "$TMPD/heapshim-copy" && HSU="$TMPD/heapshim-copy"
    fi
    RD="/dev/shm/heapshim-0"; UD="/dev/shm/heapshim-$U"
    for how in setuid setresuid; do
        rm -f "$TMPD/pub/pid"
        env -u HEAPSHIM_DIR LD_PRELOAD="$SHIM" "$PU" $how "$U" "$TMPD/pub/pid" 3 & P=$!
        for _ in $(seq 50); do [ -s "$TMPD/pub/pid" ] && break; sleep 0.1; done
        owner=$(stat -c %u "$UD/$P" 2>/dev/null)
        j=$(runuser -u "$NEWUSER" -- env -u HEAPSHIM_DIR "$HSU" top --once --json 2>&1)
        lb=$(jpid "$j" "$P")
        [ "$owner" = "$U" ] && [ ! -e "$RD/$P" ] && [ "${lb:-0}" -ge 2000000 ] \
            && pass "uid-drop-$how-moved" || fail "uid-drop-$how-moved" "file owner '$owner' (want $U), in root's dir: $([ -e "$RD/$P" ] && echo yes || echo no), user's top: live '$lb' $(echo "$j" | head -c 200)"
        wait $P; rc=$?
        [ $rc = 0 ] && [ ! -e "$UD/$P" ] && [ ! -e "$RD/$P" ] && pass "uid-drop-$how-removed" \
            || fail "uid-drop-$how-removed" "exit $rc; left: $(ls "$UD/$P" "$RD/$P" 2>/dev/null)"
    done
fi

# ---- real servers
if command -v redis-server >/dev/null; then
    rport=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    D="$TMPD/d-redis"; mkdir -m 700 "$D"
    HEAPSHIM_DIR="$D" LD_PRELOAD="$SHIM" redis-server --daemonize yes --port "$rport" --bind 127.0.0.1 \
        --pidfile "$TMPD/redis.pid" --dir "$TMPD" --save '' --logfile "$TMPD/redis.log" >/dev/null 2>&1
    for _ in $(seq 50); do [ -s "$TMPD/redis.pid" ] && break; sleep 0.1; done
    REDIS=$(cat "$TMPD/redis.pid" 2>/dev/null)
    sleep 0.3
    j=$("$HS" top --once --json --dir "$D" 2>&1)
    lb=$(jpid "$j" "${REDIS:-0}"); st=$(jstale "$j")
    [ -n "$REDIS" ] && [ "${lb:-0}" -gt 0 ] && [ "$st" = 0 ] && pass redis-daemonized-listed \
        || fail redis-daemonized-listed "redis pid '$REDIS' live '$lb' stale '$st': $(echo "$j" | head -c 300)"
    kill "$REDIS"; for _ in $(seq 50); do kill -0 "$REDIS" 2>/dev/null || break; sleep 0.1; done; REDIS=
    [ -z "$(ls "$D" | grep -v '^unwind-')" ] && pass redis-no-stale || fail redis-no-stale "left: $(ls "$D")"
else
    skip redis-daemonized-listed "redis-server not installed (Debian package redis-server)"
fi
if command -v nginx >/dev/null && [ -n "$NEWUSER" ]; then
    nport=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    N="$TMPD/nginx"; mkdir -p "$N/logs" "$N/tmp"; chmod 777 "$N/tmp"
    NGINX_CONF="$N/nginx.conf"
    cat > "$NGINX_CONF" <<NG
user $NEWUSER;
worker_processes 2;
pid $N/nginx.pid;
error_log $N/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $N/tmp/body; proxy_temp_path $N/tmp/proxy; fastcgi_temp_path $N/tmp/fcgi;
    uwsgi_temp_path $N/tmp/uwsgi; scgi_temp_path $N/tmp/scgi;
    server { listen 127.0.0.1:$nport; location / { return 200 "ok\n"; } }
}
NG
    env -u HEAPSHIM_DIR LD_PRELOAD="$SHIM" nginx -c "$NGINX_CONF" 2>"$TMPD/nginx.err"
    for _ in $(seq 50); do [ -s "$N/nginx.pid" ] && break; sleep 0.1; done
    master=$(cat "$N/nginx.pid" 2>/dev/null)
    curl -s -m 3 "http://127.0.0.1:$nport/" >/dev/null
    sleep 0.3
    workers=$(pgrep -P "${master:-1}" -u "$NEWUSER" | tr '\n' ' ')
    mj=$("$HS" top --once --json --dir /dev/shm/heapshim-0 2>/dev/null)   # other users of the machine may have files there
    wj=$(runuser -u "$NEWUSER" -- env -u HEAPSHIM_DIR "$HSU" top --once --json 2>/dev/null)
    ok=1; [ -n "$master" ] && [ -n "$(jpid "$mj" "$master")" ] || ok=0
    nw=0; for w in $workers; do [ -n "$(jpid "$wj" "$w")" ] && nw=$((nw + 1)); done
    [ $ok = 1 ] && [ $nw = 2 ] && pass nginx-master-and-workers-listed \
        || fail nginx-master-and-workers-listed "master '$master' listed $ok, workers '$workers' listed $nw of 2 by their user's top; $(cat "$TMPD/nginx.err")"
    nginx -c "$NGINX_CONF" -s quit 2>/dev/null; NGINX_CONF=
    for _ in $(seq 50); do kill -0 "${master:-1}" 2>/dev/null || break; sleep 0.1; done
    left=$(for p in $master $workers; do ls /dev/shm/heapshim-0/$p /dev/shm/heapshim-$U/$p 2>/dev/null; done)
    [ -z "$left" ] && pass nginx-no-stale || fail nginx-no-stale "left: $left"
else
    skip nginx-master-and-workers-listed "nginx not installed (Debian package nginx-light) or no test user"
fi
finish
