#!/usr/bin/python3
# tests/python_figures.py - the figures of issue 13 part 1 for Debian's
# python3 under the shim (interpose/python.c); not a pass/fail suite (the
# machine decides the times), run by hand:
#
#   /usr/bin/python3 tests/python_figures.py [ROUNDS]      (default 7)
#
# explained  the heap counters (hs_total_stats' live bytes, read in the
#            process through ctypes) against /proc/self/status RssAnon, at
#            the end of each workload with its data still alive; for the
#            shim as CPython's allocator (default), HEAPSHIM_PYTHON=0 (the
#            shim before issue 13) and PYTHONMALLOC=malloc
# time       interleaved rounds of plain python3, the shim and the shim with
#            HEAPSHIM_PYTHON=0: medians (and ranges) of wall time, CPU time
#            (user + sys of the child, from wait4) and peak RSS; the ratios
#            are the shim's over plain python3 (CPython's own pymalloc)
# Workloads: bench/alloc_churn.py 6 and bench/py_objects.py 2 (run through
# runpy so their module globals, the data, are alive when measured); for
# explained also "build": 300000 strings and a dict of 100000 lists, kept.
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIM = os.path.join(ROOT, "build", "libheapshim.so")
PY = "/usr/bin/python3"
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 7
WORKLOADS = [("alloc_churn", "bench/alloc_churn.py", ["6"]), ("py_objects", "bench/py_objects.py", ["2"])]

MEASURE = r'''
import ctypes, runpy, sys, json
path, args = sys.argv[1], sys.argv[2:]
sys.argv = [path] + args
g = runpy.run_path(path, run_name="__main__")          # its data stay alive in g
class S(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in
                ("live_bytes", "live_blocks", "peak_bytes", "allocs", "reallocs", "frees", "failed")]
lib = ctypes.CDLL(None)
tot = S(); lib.hs_total_stats(ctypes.byref(tot))
dom = {}
for i, name in enumerate(("raw", "mem", "obj")):
    s = S(); lib.hs_domain_stats(i, ctypes.byref(s)); dom[name] = (s.live_bytes, s.allocs)
st = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open("/proc/self/status")
      if l.startswith(("RssAnon", "RssFile", "RssShmem", "VmHWM"))}
ar = (ctypes.c_uint64 * 200)()
lib.hs_arena_stats(ar)      # arenas_mapped, arenas_peak, bytes_mapped, ... first
print("FIGURES " + json.dumps({"live": tot.live_bytes, "peak": tot.peak_bytes, "rss_anon": st["RssAnon"],
                               "anon_peak": st["VmHWM"] - st["RssFile"] - st["RssShmem"],
                               "arena_bytes": ar[2], "domains": dom}))
del g
'''


def run(env_extra, argv, preload):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HEAPSHIM_", "PYTHONMALLOC", "PYTHONDEVMODE", "PYTHONTRACEMALLOC"))}
    env.update(env_extra)
    env["HEAPSHIM_PUBLISH"] = "0"
    if preload:
        env["LD_PRELOAD"] = SHIM
    p = subprocess.Popen([PY] + argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    if p.returncode != 0:
        sys.exit("failed: %s %s: %s" % (env_extra, argv, err[-400:]))
    return out


def run_timed(env_extra, argv, preload):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HEAPSHIM_", "PYTHONMALLOC", "PYTHONDEVMODE", "PYTHONTRACEMALLOC"))}
    env.update(env_extra)
    env["HEAPSHIM_PUBLISH"] = "0"
    if preload:
        env["LD_PRELOAD"] = SHIM
    t0 = time.perf_counter()
    pid = os.posix_spawn(PY, [PY] + argv, env, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)])
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("failed: %s %s" % (env_extra, argv))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024


def mib(b):
    return "%.1f MiB" % (b / 1048576)


def explained():
    print("explained: heap counters / anonymous RSS, at the end with the workload's data alive: live bytes /"
          " RssAnon, and the heap peak / the anonymous peak (VmHWM - RssFile - RssShmem)")
    import tempfile
    build = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    build.write("keep = [('s%d' % i) * 3 for i in range(300000)]\n"
                "table = {i: [str(i), (i, i + 1)] for i in range(100000)}\n")
    build.close()
    for name, path, args in WORKLOADS + [("build", build.name, [])]:
        for label, env in (("shim", {}), ("shim HEAPSHIM_PYTHON=0", {"HEAPSHIM_PYTHON": "0"}),
                           ("shim PYTHONMALLOC=malloc", {"PYTHONMALLOC": "malloc"})):
            out = run(env, ["-c", MEASURE, path] + args, True)
            f = json.loads(next(l for l in out.splitlines() if l.startswith("FIGURES "))[8:])
            d = f["domains"]
            print("  %-11s %-24s live %8s / RssAnon %8s = %5.1f%%   peak %8s / anon peak %8s = %5.1f%%"
                  "   (live raw %s, mem %s, obj %s; arenas %s)"
                  % (name, label, mib(f["live"]), mib(f["rss_anon"]), 100.0 * f["live"] / f["rss_anon"],
                     mib(f["peak"]), mib(f["anon_peak"]), 100.0 * f["peak"] / f["anon_peak"],
                     mib(d["raw"][0]), mib(d["mem"][0]), mib(d["obj"][0]), mib(f["arena_bytes"])))
    os.unlink(build.name)


def timing():
    configs = [("plain python3", {}, False), ("shim", {}, True), ("shim HEAPSHIM_PYTHON=0", {"HEAPSHIM_PYTHON": "0"}, True)]
    for name, path, args in WORKLOADS:
        res = {c[0]: [] for c in configs}
        for r in range(ROUNDS):
            for label, env, pre in (configs if r % 2 == 0 else configs[::-1]):   # interleaved
                res[label].append(run_timed(env, [path] + args, pre))
        base = [statistics.median(x[i] for x in res["plain python3"]) for i in range(3)]
        print("time: %s, %d interleaved rounds, medians [min-max]" % (name, ROUNDS))
        for label, _, _ in configs:
            v = res[label]
            med = [statistics.median(x[i] for x in v) for i in range(3)]
            rng = [(min(x[i] for x in v), max(x[i] for x in v)) for i in range(3)]
            print("  %-24s wall %.3f s [%.3f-%.3f] %.2fx   cpu %.3f s [%.3f-%.3f] %.2fx   peak RSS %s %.2fx"
                  % (label, med[0], rng[0][0], rng[0][1], med[0] / base[0], med[1], rng[1][0], rng[1][1],
                     med[1] / base[1], mib(med[2]), med[2] / base[2]))


if __name__ == "__main__":
    if not os.path.exists(SHIM):
        sys.exit("no %s: make first" % SHIM)
    explained()
    if "--no-time" not in sys.argv:
        timing()
