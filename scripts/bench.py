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


def precision(seconds=30, jobs=50):
    """Lateness of each step's process start (it prints its own clock) against its fire time."""
    work = tempfile.mkdtemp(prefix="wfd-precision-")
    try:
        jobs_dir = os.path.join(work, "jobs")
        os.makedirs(jobs_dir)
        for i in range(jobs):
            with open(os.path.join(jobs_dir, f"p{i:02}.yaml"), "w") as f:
                f.write("schedule: '* * * * * *'\nsteps: [{id: a, run: 'date +%s.%N'}]\n")
        state = os.path.join(work, "state")
        daemon = subprocess.Popen([WFD, "--jobs", jobs_dir, "--state", state, "--log-target", "stderr"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(seconds + 2)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        import json
        from datetime import datetime
        lateness, runs, skipped = [], 0, 0
        for i in range(jobs):
            runs_dir = os.path.join(state, "runs", f"p{i:02}")
            for run in sorted(os.listdir(runs_dir))[1:]:  # the first fire time may be partial
                record = json.load(open(os.path.join(runs_dir, run, "run.json")))
                log = os.path.join(runs_dir, run, "logs", "a.1.log")
                if record.get("state") != "succeeded" or not os.path.exists(log):
                    continue
                fire = datetime.fromisoformat(record["scheduled_for"].replace("Z", "+00:00")).timestamp()
                started = float(open(log).read().strip())
                lateness.append((started - fire) * 1000)
                runs += 1
            mark = json.load(open(os.path.join(state, "jobs", f"p{i:02}", "schedule.json")))
            skipped += sum(1 for d in mark["recent"] if d["outcome"] == "skipped")
        lateness.sort()
        pick = lambda q: lateness[min(len(lateness) - 1, int(q * len(lateness)))]
        return runs, skipped, pick(0.5), pick(0.99), lateness[-1]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def spawn_baseline(runs=50):
    """The same step started straight from this script: spawn to the step's own clock reading."""
    samples = []
    for _ in range(runs):
        start = time.time()
        out = subprocess.run(["/bin/sh", "-c", "date +%s.%N"], capture_output=True, text=True).stdout
        samples.append((float(out.strip()) - start) * 1000)
    return statistics.median(samples)


baseline_step = spawn_baseline()
runs, skipped, p50, p99, worst = precision()
rows.append(("precision: 50 jobs every second, 30 s: runs", f"{runs} ({skipped} skipped in the last 20 decisions)", "~1500"))
rows.append(("precision: step's own clock - fire time, p50", f"{p50:.1f} ms", "<= 1 ms"))
rows.append(("precision: p99", f"{p99:.1f} ms", "<= 5 ms"))
rows.append(("precision: max", f"{worst:.1f} ms", "-"))
runs1, _, one50, one99, _ = precision(seconds=10, jobs=1)
rows.append(("precision: 1 job every second, p50 / p99", f"{one50:.1f} / {one99:.1f} ms", "-"))
rows.append(("baseline: sh -c date spawned by python, p50", f"{baseline_step:.1f} ms", "-"))

width = max(len(r[0]) for r in rows)
print(f"{'benchmark'.ljust(width)}  {'figure'.ljust(30)}  goal")
for name, figure, goal in rows:
    print(f"{name.ljust(width)}  {figure.ljust(30)}  {goal}")
