# bench/exporter_scale.py ROOT N serve|probe - scrape latency, concurrent clients and
# series counts of the fleet exporter with N idle shimmed processes in 5
# services (docs/exporter.md). Not part of make check; run as root for probe.
import os, subprocess, sys, time, threading, urllib.request, statistics, re, signal
ROOT = sys.argv[1]; N = int(sys.argv[2]); mode = sys.argv[3]   # serve | probe
shim = ROOT + "/build/libheapshim.so"
import tempfile
d = tempfile.mkdtemp(prefix="hs-scale-"); os.makedirs(d, mode=0o700, exist_ok=True)
env = dict(os.environ, LD_PRELOAD=shim)
if mode == "serve": env["HEAPSHIM_DIR"] = d
else: env.pop("HEAPSHIM_DIR", None)
procs = []
for i in range(N):
    e = dict(env, HEAPSHIM_LABELS="service=svc%d,team=t%d" % (i % 5, i % 3))
    procs.append(subprocess.Popen(["sleep", "120"], env=e))
time.sleep(2)
cmd = [ROOT + "/build/heapshim", "serve", "--listen", "127.0.0.1:19500", "--window", "60", "--window-step", "5"] if mode == "serve" \
      else [ROOT + "/build/heapshim-probe", "--serve", "127.0.0.1:19500", "--window", "60", "--window-step", "5"]
srv = subprocess.Popen(cmd, env=dict(os.environ, HEAPSHIM_DIR=d) if mode == "serve" else os.environ, stderr=subprocess.DEVNULL)
time.sleep(3)
def scrape():
    t = time.time(); body = urllib.request.urlopen("http://127.0.0.1:19500/metrics", timeout=30).read(); return time.time() - t, body
lat = []; body = b""
for _ in range(10):
    t, body = scrape(); lat.append(t)
txt = body.decode()
series = [l for l in txt.splitlines() if l and not l.startswith("#")]
pid0 = procs[0].pid
per_proc = len([l for l in series if 'pid="%d"' % pid0 in l])
per_svc = len([l for l in series if 'service="svc0"' in l and 'pid=' not in l])
print("%s: %d processes, scrape median %.3f s (min %.3f max %.3f), %d series, %d bytes; per process %d, per service %d"
      % (mode, N, statistics.median(lat), min(lat), max(lat), len(series), len(body), per_proc, per_svc))
# concurrent clients
res = []; errs = [0]
def client():
    for _ in range(4):
        try:
            t, _b = scrape(); res.append(t)
        except Exception:
            errs[0] += 1
th = [threading.Thread(target=client) for _ in range(50)]
t0 = time.time()
[x.start() for x in th]; [x.join() for x in th]
print("%s: 50 clients x 4 scrapes: median %.3f s, max %.3f s, %d errors, %.1f s total" % (mode, statistics.median(res), max(res), errs[0], time.time() - t0))
# --by service size
srv.send_signal(signal.SIGTERM); srv.wait()
cmd2 = cmd + ["--by", "service"]
srv = subprocess.Popen(cmd2, env=dict(os.environ, HEAPSHIM_DIR=d) if mode == "serve" else os.environ, stderr=subprocess.DEVNULL)
time.sleep(3)
t, body = scrape()
series = [l for l in body.decode().splitlines() if l and not l.startswith("#")]
print("%s --by service: %d series, %d bytes, scrape %.3f s" % (mode, len(series), len(body), t))
srv.send_signal(signal.SIGTERM); srv.wait()
for p in procs: p.kill()
for p in procs: p.wait()
