#!/bin/bash
# tests/40-cli-input.sh - bad input to every heapshim subcommand: one line
# on stderr naming the file/value and the problem, exit 2, never a crash.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tools/test-fixtures.bash"
[ -x "$HS" ] || { fail cli-built "no $HS (run make)"; finish; }
D="$TMPD/in"; mkdir -p "$D"

# --help and --version everywhere
out=$("$HS" --version) && echo "$out" | grep -q '^heapshim [0-9]' && pass version || fail version "$out"
for c in run top report diff export serve plot gc profile; do
    o=$("$HS" $c --help 2>&1); rc=$?
    [ $rc = 0 ] && echo "$o" | grep -q "usage: heapshim $c" && pass "help-$c" || fail "help-$c" "rc $rc: $o"
done
expect_bad no-command "no command given" "$HS"
expect_bad unknown-command "unknown command 'frobnicate'" "$HS" frobnicate

# reports: missing, empty, truncated, foreign JSON, non-JSON, wrong schema,
# wrong types, broken invariants, binary garbage
mkreport "$D/good.json"
head -c 300 "$D/good.json" > "$D/trunc.json"
: > "$D/empty.json"
echo '{"name": "package.json", "version": "1.0.0"}' > "$D/foreign.json"
echo 'hello world' > "$D/text.json"
mkreport "$D/schema9.json" schema=heapshim-report/9
mkreport "$D/schema2.json" schema=heapshim-report/2   # /2 without its mapped figures
mkreport "$D/noschema.json" schema=DELETE
mkreport "$D/type.json" domains.obj.peak_bytes='"big"'
mkreport "$D/neg.json" total.live_bytes=-5
mkreport "$D/incons.json" domains.mem.frees=999999
mkreport "$D/missing.json" domains.raw=DELETE
head -c 4096 /dev/urandom > "$D/random.json"
printf '{"schema":"heapshim-report/1","schema":"x"}' > "$D/dup.json"
expect_bad report-missing "$D/nope.json: cannot open: No such file" "$HS" report "$D/nope.json"
expect_bad report-empty "$D/empty.json: empty file" "$HS" report "$D/empty.json"
expect_bad report-truncated "$D/trunc.json: invalid or truncated JSON at line" "$HS" report "$D/trunc.json"
expect_bad report-foreign "$D/foreign.json: not a heapshim report" "$HS" report "$D/foreign.json"
expect_bad report-text "$D/text.json: invalid or truncated JSON" "$HS" report "$D/text.json"
expect_bad report-schema "$D/schema9.json: unsupported schema \"heapshim-report/9\"" "$HS" report "$D/schema9.json"
expect_bad report-schema2-no-mapped "$D/schema2.json: missing field mapped" "$HS" report "$D/schema2.json"
expect_bad report-noschema "$D/noschema.json: not a heapshim report \(no \"schema\"" "$HS" report "$D/noschema.json"
expect_bad report-type "$D/type.json: field domains.obj.peak_bytes is not an integer" "$HS" report "$D/type.json"
expect_bad report-negative "$D/neg.json: field total.live_bytes is negative" "$HS" report "$D/neg.json"
expect_bad report-inconsistent "$D/incons.json: inconsistent domains.mem: frees > allocs" "$HS" report "$D/incons.json"
expect_bad report-missing-field "$D/missing.json: missing field domains.raw" "$HS" report "$D/missing.json"
expect_bad report-random "$D/random.json: " "$HS" report "$D/random.json"
expect_bad report-duplicate "$D/dup.json: invalid or truncated JSON.*duplicate" "$HS" report "$D/dup.json"
expect_bad report-dir "$D: not a regular file" "$HS" report "$D"
expect_bad report-option "unknown option '--xml'" "$HS" report --xml "$D/good.json"
expect_bad report-none "no report given" "$HS" report
"$HS" report "$D/good.json" > "$D/table.txt" 2>&1 && grep -q 'obj' "$D/table.txt" && grep -Eq '^  obj +[0-9.]+ [KM]iB +2.4 MiB ' "$D/table.txt" \
    && pass report-good || fail report-good "$(cat "$D/table.txt")"
"$HS" report --json "$D/good.json" > "$D/again.json" && "$HS" report "$D/again.json" >/dev/null \
    && "$PY" -c "import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(a!=b)" "$D/good.json" "$D/again.json" \
    && pass report-json-roundtrip || fail report-json-roundtrip "report --json differs from the input"

# diff: bad files, bad numbers, unknown metrics
expect_bad diff-one-file "need two reports" "$HS" diff "$D/good.json"
expect_bad diff-bad-base "$D/trunc.json: invalid or truncated JSON" "$HS" diff "$D/trunc.json" "$D/good.json"
expect_bad diff-bad-new "$D/schema9.json: unsupported schema" "$HS" diff "$D/good.json" "$D/schema9.json"
expect_bad diff-growth-word "--max-growth: bad number 'ten'" "$HS" diff "$D/good.json" "$D/good.json" --max-growth ten
expect_bad diff-growth-neg "--max-growth: bad number '-5'" "$HS" diff "$D/good.json" "$D/good.json" --max-growth -5
expect_bad diff-growth-missing "--max-growth needs a value" "$HS" diff "$D/good.json" "$D/good.json" --max-growth
expect_bad diff-minbytes "--min-bytes: bad size '1e3'" "$HS" diff "$D/good.json" "$D/good.json" --min-bytes 1e3
expect_bad diff-metric "unknown metric 'obj.peak' \(accepted: .*total.*peak_bytes.*arenas.*rss_peak_bytes" \
    "$HS" diff "$D/good.json" "$D/good.json" --metric obj.peak

# run: bad options, missing library
expect_bad run-no-cmd "no command given" "$HS" run
expect_bad run-allocator "unknown allocator 'tcmalloc'" "$HS" run --allocator tcmalloc -- true
expect_bad run-interval "--interval: bad number '0'" "$HS" run --interval 0 -- true
expect_bad run-interval-word "--interval: bad number 'fast'" "$HS" run --interval fast -- true
expect_bad run-lib "HEAPSHIM_LIB=$D/none.so: cannot read it" env HEAPSHIM_LIB="$D/none.so" "$HS" run -- true
expect_bad run-timeline "--timeline $D/no/such/dir.csv: cannot create" env HEAPSHIM_LIB=/dev/null "$HS" run --timeline "$D/no/such/dir.csv" -- true

# live files: every kind of damage, read through top with an explicit pid
L="$TMPD/livebad"; mkdir -p "$L"; chmod 700 "$L"
sleep 60 & SP=$!
gen() { "$LIVEGEN" "$L/$SP" pid=$SP "$@"; }
livebad() { local name=$1 pat=$2; shift 2; gen "$@"; expect_bad "live-$name" "$L/$SP: $pat" "$HS" top --once --dir "$L" $SP; }
livebad magic "not a heapshim live file \(bad magic\)" magic=0x1234
livebad version "unsupported live file version" version=7
livebad truncated-header "truncated" truncate=100
livebad truncated-slots "truncated: slot table" truncate=2600
livebad tiny "truncated: shorter than the magic" truncate=3
livebad header-size "corrupt header: header or slot size" header_size=12
livebad slot-offset "corrupt header: bad slot table" slots_offset=3
livebad nslots "corrupt header" nslots=0
livebad file-size "corrupt header: slot table runs past" file_size=100
livebad unterminated "corrupt header: unterminated string" unterminated=1
livebad offset-wrap "corrupt header: slot table starts past the end" slots_offset=0xffffffffffffffc0
gen; cp "$L/$SP" "$L/x"; "$LIVEGEN" "$L/$SP" pid=1 comm=init
expect_bad live-foreign "$L/$SP: foreign live file: its header says pid 1" "$HS" top --once --dir "$L" $SP
rm -f "$L/$SP"
expect_bad live-missing "pid $SP: no live file $L/$SP" "$HS" top --once --dir "$L" $SP
head -c 5000 /dev/urandom > "$L/$SP"
expect_bad live-random "$L/$SP: " "$HS" export --dir "$L" $SP
kill $SP 2>/dev/null; wait $SP 2>/dev/null
expect_bad live-pid-word "bad pid 'abc'" "$HS" top --once abc
expect_bad top-interval "--interval: bad number '10'" "$HS" top --interval 10
expect_bad top-option "unknown option '--color'" "$HS" top --color
expect_bad export-format "--format: unknown format 'json' \(accepted: prometheus\)" "$HS" export --format json
mkdir -p "$D/nolive"
expect_bad export-out "-o $D/no/dir/m.prom: cannot create" "$HS" export -o "$D/no/dir/m.prom" --dir "$D/nolive"

# serve: addresses and ports
expect_bad serve-no-listen "--listen ADDR:PORT is required" "$HS" serve
expect_bad serve-port-big "--listen 127.0.0.1:70000: bad port \(accepted: 0..65535\)" "$HS" serve --listen 127.0.0.1:70000
expect_bad serve-port-word "bad port" "$HS" serve --listen 127.0.0.1:http
expect_bad serve-port-empty "bad port" "$HS" serve --listen 127.0.0.1:
expect_bad serve-host-name "--listen localhost:9464: bad address" "$HS" serve --listen localhost:9464
expect_bad serve-host-bad "bad address" "$HS" serve --listen 300.1.2.3:9464
expect_bad serve-no-port "bad address" "$HS" serve --listen 127.0.0.1
expect_bad serve-v6-unbracketed "bad address" "$HS" serve --listen ::1:9464
expect_bad serve-foreign-addr "cannot bind: Cannot assign requested address" "$HS" serve --listen 192.0.2.1:9464

# plot: bad CSVs
P="$TMPD/plot"; mkdir -p "$P"
printf 'a,b,c\n1,2,3\n' > "$P/foreign.csv"
printf 'time_s,raw_bytes,mem_bytes,obj_bytes,total_bytes,arenas_mapped,rss_bytes\n' > "$P/header.csv"
printf 'time_s,raw_bytes,mem_bytes,obj_bytes\n0,1,2,3\n0.1,1,x,3\n' > "$P/bad.csv"
printf 'time_s,raw_bytes,mem_bytes,obj_bytes\n0.5,1,2,3\n0.1,1,2,3\n' > "$P/back.csv"
printf 'time_s,raw_bytes,mem_bytes,obj_bytes\n0,1,2,-3\n' > "$P/neg.csv"
head -c 3000 /dev/urandom > "$P/random.csv"
: > "$P/empty.csv"
expect_bad plot-missing "$P/none.csv: cannot open" "$HS" plot "$P/none.csv" -o "$P/o.svg"
expect_bad plot-empty "$P/empty.csv: empty" "$HS" plot "$P/empty.csv" -o "$P/o.svg"
expect_bad plot-foreign "$P/foreign.csv:1: not a heapshim timeline \(no column 'time_s'" "$HS" plot "$P/foreign.csv" -o "$P/o.svg"
expect_bad plot-nosamples "$P/header.csv: no samples" "$HS" plot "$P/header.csv" -o "$P/o.svg"
expect_bad plot-badcell "$P/bad.csv:3: bad value 'x' in column mem_bytes" "$HS" plot "$P/bad.csv" -o "$P/o.svg"
expect_bad plot-backwards "$P/back.csv:3: time goes backwards" "$HS" plot "$P/back.csv" -o "$P/o.svg"
expect_bad plot-negative "$P/neg.csv:2: bad value '-3'" "$HS" plot "$P/neg.csv" -o "$P/o.svg"
expect_bad plot-random "$P/random.csv" "$HS" plot "$P/random.csv" -o "$P/o.svg"
expect_bad plot-no-out "no output given" "$HS" plot "$P/bad.csv"
printf 'time_s,raw_bytes,mem_bytes,obj_bytes\n0,1,2,3\n' > "$P/good.csv"
expect_bad plot-out-dir "-o $P/no/dir.svg: cannot create" "$HS" plot "$P/good.csv" -o "$P/no/dir.svg" --no-rss
expect_bad gc-option "unknown option '--force' \(accepted: --dir DIR, --dry-run, --help\)" "$HS" gc --force

# ---- bounded parsing: a valid report just under the 16 MiB cap made of
# small values (five million empty objects under an unknown key) took
# 1.28 GB of RSS and 56 s; now refused within the parser's memory cap,
# while a real run report of 2,500 processes (6 MB) still parses
HEAPSHIM_LIB="$SHIM" "$HS" run -o "$P/run.json" -- sh -c '/bin/true; /bin/true' >/dev/null 2>&1   # the plain shim (SAN=1 too)
"$PY" - "$P/run.json" "$P/huge.json" "$P/tree.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
one = r["tree"]["processes"][0]
main = {k: v for k, v in r.items() if k != "tree"}
huge = dict(main)
n = (16 * 1024 * 1024 - len(json.dumps(main)) - 64) // 3
huge["x"] = [{}] * n
s = json.dumps(huge, separators=(",", ":")); assert len(s) < 16 << 20
open(sys.argv[2], "w").write(s)
r["tree"]["processes"] = [one] * 2500
open(sys.argv[3], "w").write(json.dumps(r))
PYEOF
rss_run() {   # rss_run OUTFILE CMD...: runs CMD, prints "RC MAXRSS_KB SECONDS"
    local o=$1; shift
    "$PY" -c '
import resource, subprocess, sys, time
t = time.time()
p = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], "w"))
print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, round(time.time() - t, 1))' "$o" "$@"
}
# AddressSanitizer (SAN=1) keeps redzones and a quarantine: bounds x 2.5 there
sf=2; [ "${SAN:-0}" = 1 ] && sf=5
read rc kb secs < <(rss_run "$P/huge.err" "$HS" report "$P/huge.json")
[ "$rc" = 2 ] && [ "$kb" -lt $((153600 * sf / 2)) ] && [ "$(wc -l < "$P/huge.err")" = 1 ] && grep -q 'too large to parse' "$P/huge.err" \
    && pass report-parse-bounded || fail report-parse-bounded "exit $rc, max RSS $kb KB (bound $((150 * sf / 2)) MiB), $secs s: $(head -c 300 "$P/huge.err")"
echo "# 16 MiB of empty objects: report exit $rc, max RSS $((kb / 1024)) MiB, $secs s"
read rc kb secs < <(rss_run "$P/huge2.err" "$HS" diff "$P/huge.json" "$P/huge.json")
[ "$rc" = 2 ] && [ "$kb" -lt $((307200 * sf / 2)) ] && grep -q 'too large to parse' "$P/huge2.err" \
    && pass tree-parse-bounded || fail tree-parse-bounded "exit $rc, max RSS $kb KB (bound $((300 * sf / 2)) MiB), $secs s: $(head -c 300 "$P/huge2.err")"
echo "# the same through diff (run-report parser): exit $rc, max RSS $((kb / 1024)) MiB, $secs s"
read rc kb secs < <(rss_run "$P/tree.err" "$HS" diff "$P/tree.json" "$P/tree.json")
[ "$rc" = 0 ] && pass tree-large-valid || fail tree-large-valid "exit $rc: $(head -c 300 "$P/tree.err")"
echo "# a 2,500-process run report ($(($(wc -c < "$P/tree.json") / 1024)) KiB): diff exit $rc, max RSS $((kb / 1024)) MiB, $secs s"


# ---- the option syntax of every command (tools/opts.c), table-driven ------
# Each row: NAME <tab> PATTERN (grep -E) <tab> the arguments after heapshim
# (shell words). Every row must exit 2 with exactly one line on stderr that
# matches: the bad value, and what is accepted. Options may follow operands,
# -- ends the options, a value-taking option never takes -- as its value.
C="$TMPD/conv"; mkdir -p "$C"; chmod 700 "$C"
mkreport "$C/a.json"; cp "$C/a.json" "$C/b.json"; ln -s "$C/b.json" "$C/link.json"; ln -s "$C/b.json" "$C/link.svg"
printf 'time_s,raw_bytes,mem_bytes,obj_bytes,total_bytes,arenas_mapped,rss_bytes\n0,1000,2000,3000,6000,1,90000\n0.1,1500,2500,3500,7500,1,95000\n' > "$C/t.csv"
cp "$C/t.csv" "$C/data.svg"   # a timeline whose name is an output's
printf 'time_s,raw_bytes,mem_bytes,obj_bytes\n0,0x10,0,0\n1,0,0,0\n' > "$C/hex.csv"
mkfifo "$C/fifo"
# run's rows reach the library lookup: the preloadable shim is the plain build
[ -r "$SHIM" ] && export HEAPSHIM_LIB="$SHIM"
cd "$C" || exit 1   # a file named -- or - would appear here
while IFS=$'\t' read -r name pat args; do
    [ -z "$name" ] || [ "${name#\#}" != "$name" ] && continue
    eval "set -- $args"
    expect_bad "opt-$name" "$pat" "$HS" "$@"
done <<EOF
version-extra	^heapshim: --version takes no arguments \(got 'extra'\)$	--version extra
help-extra	^heapshim: --help takes no arguments \(got 'run'	--help run
run-timeline-dashdash	--timeline needs a value \(got '--'; accepted: FILE.csv\)	run --timeline -- true
run-o-dashdash	-o needs a value \(got '--'; accepted: FILE\)	run -o -- true
run-reports-dir-dashdash	--reports-dir needs a value \(got '--'; accepted: DIR\)	run --reports-dir -- true
run-route-dashdash	--route needs a value \(got '--'; accepted: RULES\)	run --route -- true
run-allocator-dashdash	--allocator needs a value \(got '--'	run --allocator -- true
run-interval-dashdash	--interval needs a value \(got '--'; accepted: MS\)	run --interval -- true
run-o-missing	-o needs a value \(got nothing; accepted: FILE\)	run -o
run-o-optionlike	-o: '-x' looks like an option, not FILE \(write ./-x	run -o -x -- true
run-route-garbage	--route: bad rules 'garbage': .*accepted: GLOB=DOMAIN	run --route garbage -- true
run-route-domain	--route: bad rules '\*=heap'.*DOMAIN raw\|mem\|obj	run --route '*=heap' -- true
run-unknown	unknown option '--frob' \(accepted: -o FILE, --reports-dir DIR, --allocator NAME, --route RULES, --timeline FILE.csv, --interval MS, -q, --profile DIR, --progress, --help\)	run --frob -- true
run-interval-eq	--interval: bad number '0' \(accepted: milliseconds, 1..60000\)	run --interval=0 -- true
run-interval-neg	--interval: bad number '-5'	run --interval -5 -- true
run-flag-value	--quiet takes no value \(got '--quiet=1'\)	run --quiet=1 -- true
run-empty-value	-o: empty value \(accepted: FILE\)	run -o '' -- true
run-both-stdout	-o - and --timeline -: only one of them	run -o - --timeline - -- true
run-o-unwritable	^heapshim run: -o $C/no/dir/x.json: cannot create: No such file	run -o $C/no/dir/x.json -- touch $C/ran
run-reports-dir-file	--reports-dir $C/a.json/x: cannot create	run --reports-dir $C/a.json/x -- true
run-reports-dir-notdir	--reports-dir $C/a.json: not a directory \(accepted: a directory you can write	run --reports-dir $C/a.json -- touch $C/ran
run-profile-notdir	--profile $C/a.json: not a directory \(accepted: a directory you can write	run --profile $C/a.json -- touch $C/ran
run-profile-unwritable	--profile /proc/self: cannot create files there	run --profile /proc/self -- touch $C/ran
run-o-symlink	-o $C/link.json: is a symbolic link: not followed, not replaced \(accepted: a regular file or a new name, a character device such as /dev/null, a FIFO, or - for standard output\)	run -o $C/link.json -- touch $C/ran
export-o-symlink	-o $C/link.json: is a symbolic link: not followed, not replaced	export -o $C/link.json --dir $C
plot-o-symlink	-o $C/link.svg: is a symbolic link: not followed, not replaced	plot $C/t.csv -o $C/link.svg
run-timeline-symlink	^heapshim run: --timeline $C/link.json: is a symbolic link: not followed, not replaced \(accepted: a regular file or a new name	run --timeline $C/link.json -- touch $C/ran
run-o-timeline-same	^heapshim run: -o $C/same.json and --timeline $C/same.json: the same file \(accepted: two different files\)$	run -o $C/same.json --timeline $C/same.json -- touch $C/ran
run-o-timeline-same-file	^heapshim run: -o $C/b.json and --timeline ./b.json: the same file \(accepted: two different files\)$	run -o $C/b.json --timeline ./b.json -- touch $C/ran
diff-junit-input	^heapshim diff: --junit $C/b.json: the same file as the report $C/b.json \(accepted: another file, or - for stdout\)$	diff $C/a.json $C/b.json --junit $C/b.json
diff-junit-input-other-name	^heapshim diff: --junit ./a.json: the same file as the report $C/a.json \(accepted: another file	diff $C/a.json $C/b.json --junit ./a.json
diff-junit-symlink	^heapshim diff: --junit $C/link.json: is a symbolic link: not followed, not replaced \(accepted	diff $C/a.json $C/a.json --junit $C/link.json
plot-o-input	^heapshim plot: -o $C/data.svg: the same file as the input $C/data.svg \(accepted: another file, or - for stdout\)$	plot $C/data.svg -o $C/data.svg
plot-o-input-other-name	^heapshim plot: -o ./data.svg: the same file as the input $C/data.svg	plot $C/data.svg -o ./data.svg
top-pid-word	bad pid 'abc' \(accepted: a process id	top --once abc
top-pid-zero	bad pid '0'	top 0 --once
top-sort	--sort: unknown key 'size' \(accepted: live, peak, growth, name, pid, rss\)	top --once --sort size
top-sort-dashdash	--sort needs a value \(got '--'; accepted: live\|peak\|growth\|name\|pid\|rss\)	top --sort -- 1
top-user	--user: unknown user 'no_such_user_x' \(accepted: a user name or a numeric uid\)	top --once --user no_such_user_x
top-hist	--hist: bad pid 'abc' \(accepted: a process id	top --once --hist abc
top-interval-eq	--interval: bad number '49' \(accepted: milliseconds, 50..3600000\)	top --interval=49
top-dir-dashdash	--dir needs a value \(got '--'; accepted: DIR\)	top --dir -- 1
top-dir-optionlike	--dir: '-x' looks like an option	top --dir -x
top-once-dir-missing	^heapshim top: --dir $C/nodir: no such directory \(accepted: an existing live directory	top --once --dir $C/nodir
top-json-dir-missing	^heapshim top: --dir $C/nodir: no such directory \(accepted	top --json --dir $C/nodir
export-dir-missing	^heapshim export: --dir $C/nodir: no such directory \(accepted: an existing live directory	export --no-reset --dir $C/nodir
gc-dir-nonexistent	^heapshim gc: --dir $C/nodir: no such directory \(accepted: an existing live directory	gc --dir $C/nodir
gc-dry-dir-nonexistent	^heapshim gc: --dir $C/nodir: no such directory \(accepted	gc --dry-run --dir $C/nodir
top-unknown	unknown option '--sort-by' \(accepted: --sort live\|peak	top --sort-by live
top-once-value	--once takes no value	top --once=yes
report-two	more than one report given \('$C/b.json'\); accepted: one FILE.json	report $C/a.json $C/b.json
report-json-value	--json takes no value	report --json=1 $C/a.json
report-unknown-after	unknown option '--xml' \(accepted: --json, --profile PID.prof, --help\)	report $C/a.json --xml
diff-three	too many files \('$C/a.json'\); accepted: BASE.json NEW.json	diff $C/a.json $C/b.json $C/a.json
diff-junit-dashdash	--junit needs a value \(got '--'; accepted: FILE\|-\)	diff $C/a.json $C/b.json --junit -- x
diff-junit-stdout-json	--junit - and --json both write standard output \(accepted: one of them on stdout, --junit FILE\)	diff $C/a.json $C/b.json --junit - --json
diff-process-optionlike	--process: '-x' looks like an option, not NAME	diff $C/a.json $C/b.json --process -x
diff-maxpeak-domain	--max-peak: unknown domain in 'heap=1MiB' \(accepted: \[raw\|mem\|obj\|total\|mapped=\]SIZE\)	diff $C/a.json $C/b.json --max-peak heap=1MiB
diff-maxpeak-size	--max-peak: bad size '1XB'	diff $C/a.json --max-peak 1XB
diff-minbytes-neg	--min-bytes: bad size '-1' \(accepted: bytes, or a size	diff $C/a.json $C/b.json --min-bytes -1
diff-growth-eq	--max-growth: bad number 'x' \(accepted: a percentage	diff $C/a.json $C/b.json --max-growth=x
report-help-extra	^heapshim report: --help takes no arguments \(got '$C/a.json'; accepted: heapshim report --help alone\)$	report $C/a.json --help
top-help-extra	^heapshim top: --help takes no arguments \(got 'x'; accepted: heapshim top --help alone\)$	top --help x
diff-help-extra	^heapshim diff: -h takes no arguments \(got '$C/a.json'; accepted: heapshim diff -h alone\)$	diff $C/a.json -h
profile-help-extra	^heapshim profile: --help takes no arguments \(got 'extra'; accepted: heapshim profile --help alone\)$	profile --help extra
profile-help-after	^heapshim profile: --help takes no arguments \(got '$C/a.json'	profile $C/a.json --help
profile-none	^heapshim profile: no PID or profile file given \(usage: heapshim profile PID\|FILE.prof \[options\]; see heapshim profile --help\)$	profile
profile-o-optionlike	^heapshim profile: -o: '-x' looks like an option, not OUT\|- \(write ./-x for a file of that name\)$	profile $C/a.json -o -x
profile-unknown	^heapshim profile: unknown option '--frob' \(accepted: --format top\|pprof\|pb\|collapsed\|svg, -o OUT\|-, --dir DIR, --domain raw\|mem\|obj, --alloc, --frames all\|python\|native, -n N, --diff, --help\)$	profile $C/a.json --frob
profile-format-eq	^heapshim profile: --format 'html': unknown \(accepted: top, pprof, pb, collapsed, svg\)$	profile $C/a.json --format=html
profile-n-dashdash	^heapshim profile: -n needs a value \(got '--'; accepted: N\)$	profile -n -- 1
profile-two	^heapshim profile: one process or file at a time \(got '1' and '2'\)$	profile 1 -- 2
diff-growth-hex	^heapshim diff: --max-growth: bad number '0x10' \(accepted: a percentage >= 0, e.g. 5 or 2.5\)$	diff $C/a.json $C/b.json --max-growth 0x10
diff-growth-hexfloat	^heapshim diff: --max-growth: bad number '0x1p4%' \(accepted: a percentage	diff $C/a.json $C/b.json --max-growth 0x1p4%
diff-growth-exp-empty	^heapshim diff: --max-growth: bad number '1e' \(accepted: a percentage	diff $C/a.json $C/b.json --max-growth 1e
plot-cell-hex	^heapshim plot: $C/hex.csv:2: bad value '0x10' in column raw_bytes \(accepted: a number >= 0\)$	plot $C/hex.csv -o $C/hex.svg
diff-both-stdin	BASE and NEW are both '-'	diff - -
diff-check-files	--check takes no files \(got '$C/a.json'\)	diff --check $C/a.json
export-pid	bad pid '12x'	export 12x --no-reset
export-format-eq	--format: unknown format 'json' \(accepted: prometheus\)	export --format=json
export-o-dashdash	-o needs a value \(got '--'; accepted: FILE\)	export -o -- 1
export-o-unwritable	-o $C/no/m.prom: cannot create	export -o $C/no/m.prom --dir $C
serve-extra	unexpected argument 'extra' \(accepted: --listen ADDR:PORT, --dir DIR, --by WHAT, --window S, --window-step S, --help; no operands\)	serve --listen 127.0.0.1:0 extra
serve-listen-dashdash	--listen needs a value \(got '--'; accepted: ADDR:PORT\)	serve --listen --
serve-dir-bad	$C/a.json: .*(not a directory|Not a directory)	serve --listen 127.0.0.1:0 --dir $C/a.json
plot-pdf	-o $C/x.pdf: unknown output format \(accepted: FILE.svg, FILE.png	plot $C/t.csv -o $C/x.pdf
plot-noext	-o $C/x: unknown output format	plot $C/t.csv -o $C/x
plot-o-dashdash	-o needs a value \(got '--'; accepted: OUT.svg\|OUT.png\|-\)	plot -o -- $C/t.csv
plot-two	more than one input \('$C/a.json'\); accepted: one FILE.csv	plot $C/t.csv $C/a.json -o -
plot-title-missing	--title needs a value \(got nothing; accepted: TEXT\)	plot $C/t.csv -o - --title
gc-extra	unexpected argument 'now' \(accepted: --dir DIR, --dry-run, --help; no operands\)	gc now
gc-dir-missing	--dir needs a value \(got nothing; accepted: DIR\)	gc --dir
EOF
# a FIFO nobody reads: an error at once, never a wait (timeout: the old hang)
expect_bad opt-run-timeline-fifo "^heapshim run: --timeline $C/fifo: cannot open it for writing: a FIFO nobody reads$" \
    timeout 10 "$HS" run --timeline "$C/fifo" -- touch "$C/ran"
expect_bad opt-diff-junit-fifo "^heapshim diff: --junit $C/fifo: cannot open it for writing: a FIFO nobody reads$" \
    timeout 10 "$HS" diff "$C/a.json" "$C/a.json" --junit "$C/fifo"
# the inputs and a link's target are as they were; a failed diff leaves its
# --junit file alone (it was truncated before the reports were read)
echo keep > "$C/j.xml"
expect_bad opt-diff-junit-kept-on-error "^heapshim diff: $C/none.json: cannot open" "$HS" diff "$C/none.json" "$C/a.json" --junit "$C/j.xml"
[ "$(cat "$C/j.xml")" = keep ] && cmp -s "$C/a.json" "$C/b.json" && cmp -s "$C/t.csv" "$C/data.svg" && [ ! -e "$C/same.json" ] \
    && [ -L "$C/link.json" ] && pass opt-outputs-never-inputs \
    || fail opt-outputs-never-inputs "j.xml '$(head -c 50 "$C/j.xml")', data.svg '$(head -c 50 "$C/data.svg")': $(ls -l "$C")"
cd "$ROOT" || exit 1
[ ! -e "$C/ran" ] && pass opt-run-o-unwritable-not-run || fail opt-run-o-unwritable-not-run "the workload ran although -o could not be written"
[ -L "$C/link.json" ] && cmp -s "$C/a.json" "$C/b.json" && pass opt-o-symlink-kept || fail opt-o-symlink-kept "$(ls -l "$C/link.json")"
# -o naming a character device (as root: a node of our own standing in for
# /dev/null) is written into, never replaced by a file
if [ "$(id -u)" = 0 ] && mknod "$C/null" c 1 3 2>/dev/null && mknod "$C/null.svg" c 1 3 2>/dev/null; then
    "$HS" run -q -o "$C/null" -- true; r1=$?
    mkdir -p -m 700 "$C/nolive"; "$HS" export -o "$C/null" --dir "$C/nolive"; r2=$?
    "$HS" plot "$C/t.csv" -o "$C/null.svg"; r3=$?
    [ $r1 = 0 ] && [ $r2 = 0 ] && [ $r3 = 0 ] && [ -c "$C/null" ] && [ -c "$C/null.svg" ] && pass opt-o-device-kept \
        || fail opt-o-device-kept "run $r1 export $r2 plot $r3: $(ls -l "$C/null" "$C/null.svg")"
else
    skip opt-o-device-kept "needs root for mknod"
fi
[ ! -e "$C/--" ] && [ ! -e "$C/-" ] && [ ! -e "$C/-x" ] && pass opt-no-file-named-dashdash || fail opt-no-file-named-dashdash "a file named -- was created"

# what the conventions make work (each failed before): options after
# operands, - as standard output / input, PNG, top PID --once
sleep 60 >/dev/null 2>&1 & TP=$!
"$LIVEGEN" "$C/$TP" pid=$TP comm=convjob obj=5000000
out=$("$HS" top "$TP" --once --dir "$C" 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -Eq "^ *$TP convjob +4.77M" && pass opt-top-pid-then-once || fail opt-top-pid-then-once "rc $rc: $out"
out=$("$HS" export "$TP" --no-reset --dir "$C" -o - 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "heapshim_live_bytes{pid=\"$TP\",comm=\"convjob\",domain=\"obj\"} 5000000" \
    && pass opt-export-o-stdout || fail opt-export-o-stdout "rc $rc: $(echo "$out" | head -3)"
kill $TP 2>/dev/null; wait $TP 2>/dev/null
# top's title sums the processes' live bytes: saturated as the rows are,
# never wrapped (2 x 16 EiB + 2.86 MiB was shown as 2.86 MiB)
S="$TMPD/sat"; mkdir -p "$S"; chmod 700 "$S"
sleep 60 >/dev/null 2>&1 & S1=$!; sleep 60 >/dev/null 2>&1 & S2=$!; sleep 60 >/dev/null 2>&1 & S3=$!
"$LIVEGEN" "$S/$S1" pid=$S1 mem=18446744073709551615; "$LIVEGEN" "$S/$S2" pid=$S2 mem=18446744073709551615
"$LIVEGEN" "$S/$S3" pid=$S3 mem=3000000
out=$(COLUMNS=200 "$HS" top --once --interval 50 --dir "$S" 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | head -1 | grep -q '^heapshim top - 3 processes, sort live, live >16.0 EiB, RSS ' \
    && pass top-title-sum-saturated || fail top-title-sum-saturated "rc $rc: $(echo "$out" | head -1)"
kill $S1 $S2 $S3 2>/dev/null; wait $S1 $S2 $S3 2>/dev/null
# a --dir that does not exist yet: the live view and serve say so (one line)
# and keep watching; the default directory missing is no process yet
out=$(COLUMNS=200 timeout -s INT 1 "$HS" top --interval 200 --dir "$C/later" 2>"$C/later.err" </dev/null); rc=$?
[ "$(cat "$C/later.err")" = "heapshim top: --dir $C/later: no such directory yet; showing no process until it is created" ] \
    && echo "$out" | head -1 | grep -q "^heapshim top - 0 processes, no directory $C/later yet" \
    && pass opt-top-live-dir-later || fail opt-top-live-dir-later "rc $rc: $(cat "$C/later.err") / $(echo "$out" | head -2)"
timeout -s INT 1 "$HS" serve --listen 127.0.0.1:0 --dir "$C/later" > /dev/null 2>"$C/later.err"; rc=$?
grep -q "^heapshim serve: --dir $C/later: no such directory yet" "$C/later.err" \
    && pass opt-serve-dir-later || fail opt-serve-dir-later "rc $rc: $(cat "$C/later.err")"
out=$(COLUMNS=200 HEAPSHIM_DIR="$C/later" "$HS" top --once 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | head -1 | grep -q "^heapshim top - 0 processes, no directory $C/later yet" \
    && pass opt-top-default-dir-missing || fail opt-top-default-dir-missing "rc $rc: $out"
# GROWTH in --once: two readings --interval apart whenever the column is shown
if [ -r "$SHIM" ]; then
    HEAPSHIM_DIR="$C" LD_PRELOAD="$SHIM" "$PY" -c '
import time
keep = []
while True:
    keep.append(bytearray(64 << 10)); time.sleep(0.01)' & GP=$!
    for _ in $(seq 100); do [ -e "$C/$GP" ] && break; sleep 0.05; done
    out=$(COLUMNS=80 "$HS" top --once --interval 300 --dir "$C" "$GP" 2>&1); rc=$?
    kill $GP 2>/dev/null; wait $GP 2>/dev/null
    g=$(echo "$out" | awk -v p="$GP" '$1 == p { print $5 }')
    [ $rc = 0 ] && echo "$out" | sed -n 2p | grep -q ' GROWTH ' && case $g in +[0-9]*[KM]) true;; *) false;; esac \
        && pass "opt-top-once-growth ($g in 300 ms)" || fail opt-top-once-growth "rc $rc, growth '$g': $out"
else
    skip opt-top-once-growth "no $SHIM"
fi
out=$("$HS" report "$C/a.json" --json 2>&1) && echo "$out" | "$PY" -c 'import json,sys; json.load(sys.stdin)' \
    && pass opt-report-option-after || fail opt-report-option-after "$out"
"$HS" report - < "$C/a.json" > "$C/r.txt" 2>&1 && "$HS" report "$C/a.json" > "$C/r2.txt" && cmp -s "$C/r.txt" "$C/r2.txt" \
    && pass opt-report-stdin || fail opt-report-stdin "$(head -3 "$C/r.txt")"
"$HS" diff "$C/a.json" - --max-growth 5 < "$C/b.json" > "$C/d.txt" 2>&1 && grep -q 'total.peak_bytes' "$C/d.txt" \
    && pass opt-diff-stdin || fail opt-diff-stdin "$(cat "$C/d.txt")"
# decimal numbers with a fraction and an exponent are still numbers
"$HS" diff "$C/a.json" "$C/b.json" --max-growth 2.5e1% > /dev/null && "$HS" diff "$C/a.json" "$C/b.json" --max-growth .5 > /dev/null \
    && pass opt-diff-growth-decimal || fail opt-diff-growth-decimal "2.5e1% or .5 refused"
# sizes: one formatter (tools/util.c); 1023.5 KiB rounds up to the next unit
mkreport "$C/k1.json" domains.mem.peak_bytes=1048064; mkreport "$C/k2.json" domains.mem.peak_bytes=1047552
out=$("$HS" diff "$C/k2.json" "$C/k1.json" 2>&1)
echo "$out" | grep -Eq '^ +mem\.peak_bytes +1023 KiB +1.00 MiB +\+512 B ' \
    && pass opt-sizes-next-unit || fail opt-sizes-next-unit "$(echo "$out" | grep mem.peak)"
# --junit -: the JUnit document alone on stdout (the table on stderr), no file named -
(cd "$C" && "$HS" diff "$C/a.json" "$C/b.json" --junit - > "$C/j.out" 2> "$C/j.err"); rc=$?
[ $rc = 0 ] && [ ! -e "$C/-" ] && grep -q 'total.peak_bytes' "$C/j.err" && "$PY" -c '
import sys, xml.etree.ElementTree as ET
s = ET.parse(sys.argv[1]).getroot()
assert s.tag == "testsuite" and s.get("failures") == "0" and int(s.get("tests")) >= 1, ET.tostring(s)' "$C/j.out" \
    && pass opt-diff-junit-stdout || fail opt-diff-junit-stdout "rc $rc: $(head -c 300 "$C/j.out") / $(head -c 300 "$C/j.err")"
out=$(cd "$C" && "$HS" plot "$C/t.csv" -o - --no-rss 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | head -c 300 | grep -q '<svg' && [ ! -e "$C/-" ] && pass opt-plot-o-stdout || fail opt-plot-o-stdout "rc $rc: $(echo "$out" | head -c 200)"
out=$("$HS" plot - -o - < "$C/t.csv" 2>&1) && echo "$out" | grep -q 'Heap footprint by domain: -' && pass opt-plot-stdin || fail opt-plot-stdin "$(echo "$out" | head -c 200)"
if grep -q '^#define HS_HAVE_RSVG 1' "$ROOT/$B/config.h"; then
    "$HS" plot "$C/t.csv" -o "$C/t.png" 2> "$C/png.err" && r=$(png_check "$C/t.png" 960 540) && case $r in ok*) true;; *) false;; esac \
        && pass "opt-plot-png ($r)" || fail opt-plot-png "${r:-plot failed: $(head -c 300 "$C/png.err")}"
else
    expect_bad opt-plot-png "-o $C/t.png: PNG output needs rsvg-convert \(librsvg2-bin\)" "$HS" plot "$C/t.csv" -o "$C/t.png"
fi
ls "$C" | grep -q '\.tmp\.' && fail opt-no-temporaries "$(ls "$C")" || pass opt-no-temporaries
if [ -r "$SHIM" ]; then
    out=$(cd "$C" && "$HS" run -q -o - -- true 2>"$C/run.err"); rc=$?
    [ $rc = 0 ] && echo "$out" | "$HS" report - | grep -q 'heapshim: pid' && [ ! -e "$C/-" ] \
        && pass opt-run-o-stdout || fail opt-run-o-stdout "rc $rc: $(head -c 300 "$C/run.err") $(echo "$out" | head -c 200)"
    out=$(cd "$C" && "$HS" run -q --timeline - --interval 5 -- sleep 0.2 2>&1) && echo "$out" | head -1 | grep -q '^time_s,raw_bytes' \
        && [ "$(echo "$out" | wc -l)" -ge 3 ] && [ ! -e "$C/-" ] && pass opt-run-timeline-stdout || fail opt-run-timeline-stdout "$(echo "$out" | head -3)"
else
    skip opt-run-o-stdout "no $SHIM"
fi
finish
