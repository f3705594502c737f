# bench/bench_report.py - room: bench/. The statistics and markdown of
# bench_preload.sh: reads the run's description (META) and its measurements
# (RESULTS), prints the tables (time, peak RSS, CPU time: median of the
# per-round ratios to glibc with their min-max, geomean per allocator) and
# PASS/MISS per target of issue 12, computed from what was measured.
#
# META lines (tab-separated):
#   rounds N | quick 0|1 | date TEXT | machine TEXT
#   cfg INDEX NAME SCOPE            SCOPE: all, or py (python workloads only)
#   wl INDEX NAME PY DESCRIPTION    PY: 1 for a python3 workload
# RESULTS lines (space-separated): wl cfg round wall_ns maxrss_kib status cpu_ns md5
#   (status: the exit code, or 128 + signal; 999 when the run left no measurement)
#
# A run fails when it exits non-zero or its output differs from glibc's (glibc's
# own output must be the same in every round). Failed runs are left out of the
# ratios and marked in the tables; any failure makes the exit status 3.
# Otherwise the exit status is 1 with --strict and a missed target, else 0.
#
# Usage: python3 bench_report.py META RESULTS [--strict]
import math
import sys

meta_path, res_path = sys.argv[1], sys.argv[2]
strict = "--strict" in sys.argv[3:]

rounds, quick, date, machine = 1, 0, "", ""
cfgs, wls = [], []          # cfgs: (name, scope); wls: (name, py, desc)
for line in open(meta_path):
    f = line.rstrip("\n").split("\t")
    if f[0] == "rounds":
        rounds = int(f[1])
    elif f[0] == "quick":
        quick = int(f[1])
    elif f[0] == "date":
        date = f[1]
    elif f[0] == "machine":
        machine = f[1]
    elif f[0] == "cfg":
        cfgs.append((f[2], f[3]))
    elif f[0] == "wl":
        wls.append((f[2], f[3] == "1", f[4]))

runs = {}                   # (w, c, r) -> dict
for line in open(res_path):
    f = line.split()
    if len(f) < 8:
        continue
    w, c, r = int(f[0]), int(f[1]), int(f[2])
    runs[(w, c, r)] = dict(wall=float(f[3]), rss=float(f[4]), st=int(f[5]), cpu=float(f[6]), md5=f[7])

# ---- failures ------------------------------------------------------------------
ref = {}                    # w -> glibc's output md5 (first round it ran)
failures = []               # (w, c, r, why)
for (w, c, r), x in sorted(runs.items()):
    if c == 0 and x["st"] == 0 and w not in ref:
        ref[w] = x["md5"]
for (w, c, r), x in sorted(runs.items()):
    why = []
    if x["st"] != 0:
        why.append("exit status %d" % x["st"] if x["st"] != 999 else "no measurement")
    if w not in ref:
        why.append("no successful glibc run to compare with")
    elif x["md5"] != ref[w]:
        why.append("output differs from glibc's" if c else "glibc's own output changed between rounds")
    if why:
        failures.append((w, c, r, ", ".join(why)))
failed = {(w, c, r) for w, c, r, _ in failures}


def applies(w, c):
    return cfgs[c][1] == "all" or wls[w][1]


def ratios(w, c, key):
    """per-round ratios of config c to glibc, rounds where both ran cleanly"""
    out = []
    for r in range(rounds):
        a, b = runs.get((w, c, r)), runs.get((w, 0, r))
        if a and b and (w, c, r) not in failed and (w, 0, r) not in failed and b[key] > 0:
            out.append(a[key] / b[key])
    return out


def median(v):
    v = sorted(v)
    n = len(v)
    if not n:
        return float("nan")
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def nfail(w, c):
    return sum(1 for r in range(rounds) if (w, c, r) in failed)


M = {}                      # (kind, w, c) -> median ratio
for w in range(len(wls)):
    for c in range(1, len(cfgs)):
        if applies(w, c):
            for kind in ("wall", "rss", "cpu"):
                M[(kind, w, c)] = median(ratios(w, c, kind))


def fmt_ratio(v):
    return "n/a" if math.isnan(v) else "%.2fx" % v


def cell(kind, w, c):
    v = ratios(w, c, kind)
    s = fmt_ratio(median(v))
    if len(v) > 1:
        s += " (%.2f-%.2f)" % (min(v), max(v))
    if kind == "rss" and v:
        d = median([runs[(w, c, r)]["rss"] - runs[(w, 0, r)]["rss"] for r in range(rounds)
                    if (w, c, r) in runs and (w, 0, r) in runs
                    and (w, c, r) not in failed and (w, 0, r) not in failed])
        s += " %+.1f MiB" % (d / 1024)
    k = nfail(w, c)
    if k:
        s += " **FAILED %d/%d**" % (k, rounds)
    return s


def glibc_cell(w, kind):
    v = [runs[(w, 0, r)][kind] for r in range(rounds) if (w, 0, r) in runs and (w, 0, r) not in failed]
    if not v:
        return "**FAILED**"
    m = median(v)
    div = 1e9 if kind in ("wall", "cpu") else 1024.0
    s = "%.2f" % (m / div)
    if len(v) > 1 and m > 0:
        s += " (±%.0f%%)" % ((max(v) - min(v)) / m * 50)
    return s


def geomean(v):
    v = [x for x in v if x > 0 and not math.isnan(x)]
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else float("nan")


main_cfgs = [c for c in range(1, len(cfgs)) if cfgs[c][1] == "all"]
py_cfgs = [c for c in range(1, len(cfgs)) if cfgs[c][1] == "py"]
py_wls = [w for w in range(len(wls)) if wls[w][1]]


def suite_geomean(kind, c):
    """(geomean of the per-workload medians, min and max of the per-round geomeans, complete?)"""
    g = geomean([M[(kind, w, c)] for w in range(len(wls))])
    per_round = []
    for r in range(rounds):
        v = []
        for w in range(len(wls)):
            a, b = runs.get((w, c, r)), runs.get((w, 0, r))
            if a and b and (w, c, r) not in failed and (w, 0, r) not in failed and b[kind] > 0:
                v.append(a[kind] / b[kind])
        if len(v) == len(wls):
            per_round.append(geomean(v))
    complete = all(not math.isnan(M[(kind, w, c)]) and nfail(w, c) == 0 for w in range(len(wls)))
    return g, per_round, complete


def geo_cell(kind, c):
    g, pr, complete = suite_geomean(kind, c)
    s = "**%s**" % fmt_ratio(g)
    if len(pr) > 1:
        s += " (%.2f-%.2f)" % (min(pr), max(pr))
    if not complete:
        s += " (incomplete: failed runs left out)"
    return s


# ---- tables -------------------------------------------------------------------------
print("### Programs under LD_PRELOAD vs plain glibc (%s, %s)" % (date, machine))
print()
print("%d round%s%s. Each round runs every workload under every allocator back to back, the"
      % (rounds, "" if rounds == 1 else "s", ", **QUICK mode (-q): small inputs, not for figures**" if quick else ""))
print("starting allocator rotating. A cell is the median over the rounds of the ratio allocator/glibc")
print("of the same round (lower is better), with the lowest and highest per-round ratio in parentheses;")
print("glibc's column is its median in seconds (MiB), ± half its spread over the rounds. The geomean")
print("row is over all %d workloads (in parentheses: the range of the per-round geomeans)." % len(wls))
for kind, title, unit in (("wall", "Wall time", "s"), ("rss", "Peak RSS (wait4 ru_maxrss; the largest process of the run)", "MiB"),
                          ("cpu", "CPU time (user + sys, all threads and child processes)", "s")):
    print()
    print("%s:" % title)
    print()
    print("| workload | glibc %s |%s" % (unit, "".join(" %s |" % cfgs[c][0] for c in main_cfgs)))
    print("|---|---|%s" % ("---|" * len(main_cfgs)))
    for w in range(len(wls)):
        print("| %s | %s |%s" % (wls[w][2], glibc_cell(w, kind), "".join(" %s |" % cell(kind, w, c) for c in main_cfgs)))
    if main_cfgs:
        print("| **geomean** | |%s" % "".join(" %s |" % geo_cell(kind, c) for c in main_cfgs))

if py_cfgs and py_wls:
    print()
    print("CPython's own allocator (pymalloc, plain `python3` under glibc = 1.00) against `PYTHONMALLOC=malloc`,")
    print("which sends every Python object to malloc, under glibc, the shim (default mode) and mimalloc;")
    print("wall time, then peak RSS:")
    print()
    cols = py_cfgs
    print("| workload | python3 s | %s |" % " | ".join(cfgs[c][0] for c in cols))
    print("|---|---|%s" % ("---|" * len(cols)))
    for w in py_wls:
        print("| %s | %s | %s |" % (wls[w][2], glibc_cell(w, "wall"), " | ".join(cell("wall", w, c) for c in cols)))
    for w in py_wls:
        print("| %s, peak RSS | %s MiB | %s |" % (wls[w][2], glibc_cell(w, "rss"),
                                                  " | ".join(cell("rss", w, c) for c in cols)))

# ---- targets ----------------------------------------------------------------------
print()
missed = 0


def col(name):
    for c, (n, _) in enumerate(cfgs):
        if n == name:
            return c
    return None


def verdict(ok):
    return "**PASS**" if ok else "**MISS**"


def per_workload(desc, name, kind, limit, wlist):
    global missed
    c = col(name)
    if c is None:
        print("- target: %s: **SKIP** (%s not measured)" % (desc, name))
        return
    ok_all, detail = True, []
    for w in wlist:
        v = M.get((kind, w, c), float("nan"))
        ok = not math.isnan(v) and v <= limit + 1e-9 and nfail(w, c) == 0
        ok_all &= ok
        if not ok:
            rr = ratios(w, c, kind)
            detail.append("%s %s%s%s" % (wls[w][0], fmt_ratio(v),
                                         " (%.2f-%.2f)" % (min(rr), max(rr)) if len(rr) > 1 else "",
                                         " FAILED" if nfail(w, c) else ""))
    worst = max((M.get((kind, w, c), float("nan")) for w in wlist), default=float("nan"))
    missed += not ok_all
    print("- target: %s: %s (worst %s%s)" % (desc, verdict(ok_all), fmt_ratio(worst),
                                              "; over the line: " + ", ".join(detail) if detail else ""))


all_w = list(range(len(wls)))
c_hs, c_mi = col("heapshim"), col("mimalloc")
if c_hs is None or c_mi is None:
    print("- target: default mode: geomean time <= mimalloc's x 1.05: **SKIP** (heapshim or mimalloc not measured)")
else:
    g_hs, pr_hs, comp_hs = suite_geomean("wall", c_hs)
    g_mi, pr_mi, _ = suite_geomean("wall", c_mi)
    ok = comp_hs and g_hs <= g_mi * 1.05 + 1e-9

    def rng(pr):
        return " (rounds %.2f-%.2f)" % (min(pr), max(pr)) if len(pr) > 1 else ""
    missed += not ok
    print("- target: default mode: geomean time <= mimalloc's x 1.05: %s (heapshim %s%s, mimalloc %s%s, limit %s%s)"
          % (verdict(ok), fmt_ratio(g_hs), rng(pr_hs), fmt_ratio(g_mi), rng(pr_mi), fmt_ratio(g_mi * 1.05),
             "" if comp_hs else "; failed runs"))
per_workload("default mode: no workload more than 3% slower than glibc (time <= 1.03x)", "heapshim", "wall", 1.03, all_w)
per_workload("malloc mode: within 5% of glibc on every workload (time <= 1.05x)", "heapshim malloc", "wall", 1.05, all_w)
per_workload("default mode: peak RSS <= glibc + 10% on every workload", "heapshim", "rss", 1.10, all_w)
per_workload("malloc mode: peak RSS <= glibc + 10% on every workload", "heapshim malloc", "rss", 1.10, all_w)
if py_wls:
    per_workload("CPython: PYTHONMALLOC=malloc under the shim no slower than plain python3 (pymalloc) (<= 1.00x)",
                 "py:malloc heapshim", "wall", 1.00, py_wls)

if failures:
    print()
    print("**FAILED RUNS** (left out of the ratios above; reproducers on stderr):")
    print()
    for w, c, r, why in failures:
        print("- %s under %s, round %d: %s" % (wls[w][0], cfgs[c][0], r + 1, why))
    sys.exit(3)
sys.exit(1 if strict and missed else 0)
