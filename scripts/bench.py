#!/usr/bin/env python3
"""wfd benchmarks: prints a table of figures with their goals. Benchmarks, not tests: nothing here
fails `make test`. Timings of wfctl are also given as a ratio to spawning /bin/true in the same
run, since these machines are shared and noisy.

    scripts/bench.py BIN_DIR          (make bench builds release binaries and calls this)
"""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else ".build/release"
WFD, WFCTL = os.path.join(BIN, "wfd"), os.path.join(BIN, "wfctl")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOBS = 100
rows = []


def timed(argv, runs=20):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


work = tempfile.mkdtemp(prefix="wfd-bench-")
try:
    jobs = os.path.join(work, "jobs")
    os.makedirs(jobs)
    for i in range(JOBS):
        with open(os.path.join(jobs, f"job{i:03}.yaml"), "w") as f:
            f.write(f"schedule: '{i % 60} 3 * * *'\nsteps:\n  - {{id: a, run: 'true'}}\n  - {{id: b, needs: [a], run: 'true'}}\n")
    state = os.path.join(work, "state")
    daemon = subprocess.Popen([WFD, "--jobs", jobs, "--state", state, "--log-target", "stderr"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    info = os.path.join(state, "jobs", f"job{JOBS - 1:03}", "job.json")
    start = time.perf_counter()
    while not os.path.exists(info):
        time.sleep(0.001)
    rows.append((f"start-up with {JOBS} jobs: last job indexed", f"{(time.perf_counter() - start) * 1000:.0f} ms", "-"))
    time.sleep(0.5)
    rows.append((f"wfd RSS with {JOBS} jobs (release)", f"{rss_kib(daemon.pid) / 1024:.1f} MiB", "<= 20 MiB"))

    latencies = []
    for i in range(20):
        name = f"new{i:02}"
        temporary = os.path.join(jobs, f".{name}.swp")
        with open(temporary, "w") as f:
            f.write("schedule: '0 0 1 1 *'\nsteps: [{id: a, run: 'true'}]\n")
        target = os.path.join(state, "jobs", name, "job.json")
        start = time.perf_counter()
        os.rename(temporary, os.path.join(jobs, f"{name}.yaml"))
        while not os.path.exists(target):
            time.sleep(0.0005)
        latencies.append((time.perf_counter() - start) * 1000)
        time.sleep(0.1)
    latencies.sort()
    rows.append(("hot reload: rename -> job indexed, median", f"{statistics.median(latencies):.0f} ms", "<= 200 ms"))
    rows.append(("hot reload: p95 (20 edits)", f"{latencies[18]:.0f} ms", "<= 200 ms"))

    baseline = timed(["/bin/true"])
    status = timed([WFCTL, "status", "--state", state])
    rows.append((f"wfctl status, {JOBS + 20} jobs", f"{status * 1000:.1f} ms ({status / baseline:.0f}x /bin/true)", "<= 50 ms"))
    validate = timed([WFCTL, "validate", os.path.join(ROOT, "Tests/Fixtures/jobs/invalid")])
    rows.append(("wfctl validate, 60-file corpus", f"{validate * 1000:.1f} ms ({validate / baseline:.0f}x /bin/true)", "-"))
    reload = timed([WFCTL, "reload", "--state", state], runs=10)
    rows.append((f"wfctl reload, {JOBS + 20} jobs", f"{reload * 1000:.1f} ms", "-"))
    rows.append(("baseline: spawn /bin/true", f"{baseline * 1000:.2f} ms", "-"))
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
finally:
    shutil.rmtree(work, ignore_errors=True)

width = max(len(r[0]) for r in rows)
print(f"{'benchmark'.ljust(width)}  {'figure'.ljust(30)}  goal")
for name, figure, goal in rows:
    print(f"{name.ljust(width)}  {figure.ljust(30)}  {goal}")
