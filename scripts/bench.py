#!/usr/bin/env python3
"""wfd benchmarks: prints a table of figures with their goals. Benchmarks, not tests: nothing here
fails `make test`. Timings of wfctl are also given as a ratio to spawning /bin/true in the same
run, since these machines are shared and noisy.

    scripts/bench.py BIN_DIR [SECTION...]   sections: startup durable units scale steady precision web hooks traces
                                            agents
                                            (default: all; units needs root: it boots systemd)

scale builds (once, cached beside BIN_DIR) a fixture of 10,000 jobs and 1,000,000 runs with
scripts/make-fixture.py: about 2.5 minutes the first time. steady simulates
WFD_BENCH_STEADY_HOURS hours (default 2) of 100 jobs firing every minute, with wfd's clock 30
times faster than the real one.

make bench builds release binaries and calls this.
"""
import atexit
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else ".build/release"
SECTIONS = set(sys.argv[2:]) or {"startup", "durable", "units", "scale", "steady", "precision", "web", "hooks", "agents",
                                  "traces"}
WFD, WFCTL, WEB = os.path.join(BIN, "wfd"), os.path.join(BIN, "wfctl"), os.path.join(BIN, "wfd-web")
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


def rss_kib(pid, field="VmRSS"):
    """Resident memory in KiB; field="RssAnon" for the part that is wfd's own heap and stacks
    (the rest is clean pages of the binary, shared with the page cache and reclaimable)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def startup():
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


def precision_floor(seconds=30, jobs=50):
    """The same load started by scripts/precision-floor.c, which does nothing else: the least
    lateness this machine allows for `jobs` processes started at the same instant."""
    out = subprocess.run([FLOOR, str(jobs), str(seconds)], capture_output=True, text=True, check=True).stdout
    lateness = sorted(float(line) for line in out.split())
    pick = lambda q: lateness[min(len(lateness) - 1, int(q * len(lateness)))]
    return pick(0.5), pick(0.99), lateness[-1]


def precision_rows():
    floor50, floor99, floor_max = precision_floor()
    runs, skipped, p50, p99, worst = precision()
    rows.append(("precision: 50 jobs every second, 30 s: runs", f"{runs} ({skipped} skipped in the last 20 decisions)", "~1500"))
    rows.append(("precision: step's own clock - fire time, p50", f"{p50:.1f} ms ({p50 / floor50:.2f}x floor)", "<= 1 ms"))
    rows.append(("precision: p99", f"{p99:.1f} ms ({p99 / floor99:.2f}x floor)", "<= 5 ms"))
    rows.append(("precision: max", f"{worst:.1f} ms", "-"))
    rows.append(("floor (C): 50 x date posix_spawned at each second, p50 / p99 / max",
                 f"{floor50:.1f} / {floor99:.1f} / {floor_max:.1f} ms", "-"))
    _, _, one50, one99, _ = precision(seconds=10, jobs=1)
    one_floor50, one_floor99, _ = precision_floor(seconds=10, jobs=1)
    rows.append(("precision: 1 job every second, p50 / p99", f"{one50:.1f} / {one99:.1f} ms", "-"))
    rows.append(("floor (C): 1 x date at each second, p50 / p99", f"{one_floor50:.1f} / {one_floor99:.1f} ms", "-"))


def read_json(path):
    import json
    with open(path) as f:
        return json.load(f)


def rfc3339(text):
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def c_baseline(steps):
    """Milliseconds the C baseline (scripts/baseline.c) needs for `steps` steps."""
    work = tempfile.mkdtemp(prefix="wfd-baseline-")
    try:
        out = subprocess.run([BASELINE, work, str(steps)], capture_output=True, text=True, check=True).stdout
        return float(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def durable(rounds=5, steps=200, jobs=200):
    """W1: one job of 200 sequential `true` steps; W2: 200 one-step jobs firing at the same second;
    W3 (defined here: the earlier issues name only W1 and W2): one `for_each` step over 200 items,
    4 at once. Each round runs the C baseline first (W2, W3 are held against it) and right before
    and after W1 (W1 is held against their mean), so the ratios compare like with like."""
    import datetime
    w1, w2, w3, base, w1_base = [], [], [], [], []
    for _ in range(rounds):
        work = tempfile.mkdtemp(prefix="wfd-durable-")
        try:
            jobs_dir, state = os.path.join(work, "jobs"), os.path.join(work, "state")
            os.makedirs(jobs_dir)
            with open(os.path.join(jobs_dir, "w3.yaml"), "w") as f:
                items = ",".join(str(i) for i in range(steps))
                f.write(f"max_parallel: 4\nsteps:\n  - {{id: list, output: json, run: \"echo '[{items}]'\"}}\n"
                        "  - {id: each, needs: [list], for_each: '${{ steps.list.output }}', run: 'true'}\n")
            with open(os.path.join(jobs_dir, "w1.yaml"), "w") as f:
                f.write("steps:\n" + "".join(
                    f"  - {{id: s{i:03}, run: 'true'" + (f", needs: [s{i - 1:03}]" if i else "") + "}\n"
                    for i in range(steps)))
            fire = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=4)
            cron = f"{fire.second} {fire.minute} {fire.hour} * * *"
            for i in range(jobs):
                with open(os.path.join(jobs_dir, f"w2_{i:03}.yaml"), "w") as f:
                    f.write(f"schedule: '{cron}'\ntimezone: UTC\nsteps: [{{id: a, run: 'true'}}]\n")
            base.append(c_baseline(steps))
            daemon = subprocess.Popen([WFD, "--jobs", jobs_dir, "--state", state, "--log-target", "stderr"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ends = []
            deadline = time.time() + 60
            while time.time() < deadline and len(ends) < jobs:
                time.sleep(0.05)
                ends = []
                for i in range(jobs):
                    latest = os.path.join(state, "jobs", f"w2_{i:03}", "latest.json")
                    if os.path.exists(latest):
                        last = read_json(latest).get("last")
                        if last and last.get("ended_at"):
                            ends.append(rfc3339(last["ended_at"]))
            w2.append((max(ends) - fire.timestamp()) * 1000 if len(ends) == jobs else float("nan"))
            for name, results in (("w1", w1), ("w3", w3)):
                if name == "w1":
                    # W1 is bracketed by baselines run right before and after it: fsync latency
                    # here drifts within seconds, and W2 ran since the round's first baseline.
                    w1_base.append(c_baseline(steps))
                subprocess.run([WFCTL, "run", name, "--state", state], capture_output=True, check=True)
                _, record = wait_run(state, name)
                results.append((rfc3339(record["ended_at"]) - rfc3339(record["started_at"])) * 1000)
                if name == "w1":
                    w1_base[-1] = (w1_base[-1] + c_baseline(steps)) / 2
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    b, one, two = statistics.median(base), statistics.median(w1), statistics.median(w2)
    # Each round against its own baselines: the mean of the two run right before and after W1.
    ratio = statistics.median(x / y for x, y in zip(w1, w1_base))
    rows.append((f"W1: {steps} sequential steps, ms per step (median of {rounds})",
                 f"{one / steps:.2f} ms ({ratio:.2f}x baseline, median of per-round ratios)", "<= 1.2x baseline"))
    rows.append(("W1 / baseline, per round", ", ".join(f"{x / y:.2f}" for x, y in zip(w1, w1_base)), "-"))
    rows.append(("baseline around W1 (mean of before and after), ms per step",
                 ", ".join(f"{x / steps:.2f}" for x in w1_base), "-"))
    rows.append((f"W2: {jobs} one-step jobs firing at once, fire time -> last run ended",
                 f"{two / 1000:.3f} s ({two / b:.2f}x baseline's {steps} steps)", "<= 0.3 s"))
    three = statistics.median(w3)
    ratio3 = statistics.median(x / y for x, y in zip(w3, base))
    rows.append((f"W3: for_each over {steps} items, 4 at once, run start -> end (median of {rounds})",
                 f"{three:.0f} ms ({ratio3:.2f}x baseline's {steps} sequential steps)", "-"))
    rows.append(("baseline (C): spawn true + 2 durable writes, ms per step",
                 f"{b / steps:.2f} ms (rounds: {', '.join(f'{x / steps:.2f}' for x in base)})", "-"))
    rows.append(("W1 rounds, ms per step", ", ".join(f"{x / steps:.2f}" for x in w1), "-"))
    rows.append(("W2 rounds, s", ", ".join(f"{x / 1000:.3f}" for x in w2), "-"))


def wait_ready(argv, env_extra=None, log=None):
    """Starts wfd with a notify socket of our own; returns (process, seconds to READY=1)."""
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = "\0wfd-bench-%d-%d" % (os.getpid(), time.monotonic_ns())
    sock.bind(name)
    sock.settimeout(300)
    env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": "@" + name[1:]}
    env.update(env_extra or {})
    start = time.perf_counter()
    daemon = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log or subprocess.DEVNULL)
    while "READY=1" not in sock.recv(4096).decode():
        pass
    ready = time.perf_counter() - start
    sock.close()
    return daemon, ready


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fixture():
    """The 10,000-job, 1,000,000-run fixture, made once per version of make-fixture.py and wfd."""
    import hashlib
    digest = hashlib.sha256(open(os.path.join(ROOT, "scripts", "make-fixture.py"), "rb").read()).hexdigest()[:16]
    version = subprocess.run([WFD, "--version"], capture_output=True, text=True).stdout.splitlines()[0].strip()
    root = os.path.join(os.path.dirname(os.path.abspath(BIN)), f"bench-fixture-{digest}-{version}")
    if not os.path.exists(os.path.join(root, "done")):
        shutil.rmtree(root, ignore_errors=True)
        print(f"making the fixture in {root} (once; about 2.5 minutes)", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make-fixture.py"), BIN, root,
                        "--jobs", "10000", "--runs", "100"], check=True, stdout=subprocess.DEVNULL)
        open(os.path.join(root, "done"), "w").close()
    return root


def scale():
    root = fixture()
    jobs, state = os.path.join(root, "jobs"), os.path.join(root, "state")
    argv = [WFD, "--jobs", jobs, "--state", state, "--log-target", "stderr"]
    empty = tempfile.mkdtemp(prefix="wfd-empty-")
    atexit.register(shutil.rmtree, empty, True)
    os.makedirs(os.path.join(empty, "jobs"))
    floor, floor_ready = wait_ready([WFD, "--jobs", os.path.join(empty, "jobs"), "--state",
                                     os.path.join(empty, "state"), "--log-target", "stderr"])
    time.sleep(0.5)
    empty_rss, empty_anon = rss_kib(floor.pid) / 1024, rss_kib(floor.pid, "RssAnon") / 1024
    floor.send_signal(signal.SIGTERM)
    floor.wait(timeout=30)
    readies, rss, anon = [], [], []
    for _ in range(3):
        daemon, ready = wait_ready(argv)
        readies.append(ready)
        time.sleep(0.5)
        rss.append(rss_kib(daemon.pid) / 1024)
        anon.append(rss_kib(daemon.pid, "RssAnon") / 1024)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    rows.append(("scale: start-up, 10,000 jobs and 1,000,000 runs: to READY=1 (median of 3)",
                 f"{statistics.median(readies) * 1000:.0f} ms ({statistics.median(readies) / floor_ready:.0f}x "
                 f"an empty wfd's {floor_ready * 1000:.0f} ms)", "<= 1 s"))
    rows.append(("scale: wfd RSS after start-up, 10,000 jobs",
                 f"{statistics.median(rss):.1f} MiB (empty wfd: {empty_rss:.1f} MiB)", "<= 20 MiB"))
    rows.append(("scale: of which anonymous (heap, stacks; the rest is the binary's clean pages)",
                 f"{statistics.median(anon):.1f} MiB (empty wfd: {empty_anon:.1f} MiB)", "-"))

    log = open(os.path.join(root, "wfd.log"), "w")
    daemon, _ = wait_ready(argv, log=log)
    try:
        true = timed(["/bin/true"])
        version = timed([WFCTL, "--version"])
        status = timed([WFCTL, "status", "--state", state])
        runs = timed([WFCTL, "runs", "job04242", "--state", state])
        as_json = timed([WFCTL, "status", "--json", "--state", state], runs=5)
        rows.append(("scale: wfctl status, 10,000 jobs (wfd answers from memory)",
                     f"{status * 1000:.1f} ms ({status / version:.1f}x wfctl --version)", "<= 50 ms"))
        rows.append(("scale: wfctl status --json, 10,000 jobs", f"{as_json * 1000:.0f} ms", "-"))
        rows.append(("scale: wfctl runs JOB, 100 runs of 1,000,000",
                     f"{runs * 1000:.1f} ms ({runs / version:.1f}x wfctl --version)", "<= 50 ms"))
        rows.append(("floor: wfctl --version / spawn /bin/true", f"{version * 1000:.1f} / {true * 1000:.2f} ms", "-"))

        # Reload: one file of 10,000 changes; time until its job.json says so.
        latencies = []
        for i in range(10):
            name = f"job{1000 + i:05}"
            path = os.path.join(jobs, name + ".yaml")
            info = os.path.join(state, "jobs", name, "job.json")
            text = open(path).read()
            changed = text.replace("schedule: '", f"description: edit {time.time_ns()}\nschedule: '", 1)
            temporary = os.path.join(jobs, f".{name}.swp")
            with open(temporary, "w") as f:
                f.write(changed)
            os.chmod(temporary, 0o644)
            start = time.perf_counter()
            os.rename(temporary, path)
            while b"edit" not in open(info, "rb").read():
                time.sleep(0.0005)
            latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(0.3)
            with open(temporary, "w") as f:
                f.write(text)
            os.chmod(temporary, 0o644)
            os.rename(temporary, path)
            time.sleep(0.3)
        latencies.sort()
        log.flush()
        read = [line for line in open(os.path.join(root, "wfd.log")) if "files read" in line]
        said = read[-1].split("(")[-1].split(";")[0] if read else "?"
        rows.append(("scale: reload, 1 file of 10,000 changed -> applied, median / max of 10",
                     f"{latencies[4]:.0f} / {latencies[-1]:.0f} ms (last reload: {said})", "<= 200 ms"))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)

    # An hour of the fixture's schedule (10,000 daily jobs, ~7 fire times a minute) in a minute.
    daemon, _ = wait_ready(argv + ["--clock-speed", "60"])
    try:
        start_rss, start_fds = rss_kib(daemon.pid) / 1024, open_fds(daemon.pid)
        time.sleep(60)
        end_rss, end_fds = rss_kib(daemon.pid) / 1024, open_fds(daemon.pid)
        end_anon = rss_kib(daemon.pid, "RssAnon") / 1024
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    rows.append(("scale: wfd RSS after 1 simulated hour (clock 60x)",
                 f"{end_rss:.1f} MiB, {end_anon:.1f} anonymous (at start {start_rss:.1f}; fds {start_fds} -> {end_fds})",
                 "<= 20 MiB"))


def slope(points):
    """Least-squares slope of (x, y) points."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def steady(jobs=100, speed=30):
    """100 jobs every minute, simulated with wfd's clock `speed` times faster: RSS and fds."""
    hours = float(os.environ.get("WFD_BENCH_STEADY_HOURS", "2"))
    work = tempfile.mkdtemp(prefix="wfd-steady-")
    try:
        jobs_dir, state = os.path.join(work, "jobs"), os.path.join(work, "state")
        os.makedirs(jobs_dir)
        for i in range(jobs):
            with open(os.path.join(jobs_dir, f"m{i:03}.yaml"), "w") as f:
                f.write("schedule: '* * * * *'\nsteps:\n  - {id: a, run: 'true'}\n  - {id: b, needs: [a], run: 'true'}\n")
        daemon, _ = wait_ready([WFD, "--jobs", jobs_dir, "--state", state, "--log-target", "stderr",
                                "--clock-speed", str(speed)])
        samples = []
        try:
            real = hours * 3600 / speed
            start = time.perf_counter()
            while time.perf_counter() - start < real:
                simulated = (time.perf_counter() - start) * speed / 3600
                samples.append((simulated, rss_kib(daemon.pid) / 1024, open_fds(daemon.pid)))
                time.sleep(real / 60)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
        ran = sum(len(os.listdir(os.path.join(state, "runs", f"m{i:03}"))) for i in range(jobs))
        settled = [s for s in samples if s[0] >= hours / 4]  # after the first quarter: warm
        rss_slope = slope([(h, r) for h, r, _ in settled]) * 1024
        fd_slope = slope([(h, f) for h, _, f in settled])
        rows.append((f"steady: {jobs} jobs every minute, {hours:g} simulated h (clock {speed}x): runs",
                     f"{ran} (expected ~{int(jobs * hours * 60)})", "-"))
        rows.append(("steady: RSS first / last / slope after the first quarter",
                     f"{samples[0][1]:.1f} / {samples[-1][1]:.1f} MiB, {rss_slope:+.0f} KiB per h", "flat"))
        rows.append(("steady: open fds first / last / slope",
                     f"{samples[0][2]} / {samples[-1][2]}, {fd_slope:+.2f} per h", "flat"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def wait_run(state, name):
    """The record of the newest run of job `name` once it has ended."""
    runs_dir = os.path.join(state, "runs", name)
    while True:
        time.sleep(0.05)
        run = sorted(os.listdir(runs_dir))[-1]
        path = os.path.join(runs_dir, run, "run.json")
        record = read_json(path) if os.path.exists(path) else {}
        if record.get("state") in ("succeeded", "failed"):
            return run, record


def units(rounds=5, steps=200):
    """W1 with the unit executor: the same 200 sequential `true` steps, each a transient service
    of a systemd 252 booted in private namespaces (scripts/systemd-sandbox, with its system bus).
    Held against `systemd-run --wait true` in the same instance, run right before and after W1."""
    if os.geteuid() != 0:
        rows.append(("W1 as units", "skipped: needs root (it boots systemd)", "-"))
        return
    sandbox = os.path.join(ROOT, "scripts", "systemd-sandbox")
    ident = f"bench-{os.getpid()}"
    pid = subprocess.run([sandbox, "start", ident], capture_output=True, text=True, check=True).stdout.strip()
    state = f"/var/lib/wfd-bench-{os.getpid()}"
    inside = ["nsenter", "-t", pid, "-m", "-p"]
    daemon = None
    try:
        jobs_dir = os.path.join(state, "jobs")
        os.makedirs(jobs_dir)
        with open(os.path.join(jobs_dir, "w1.yaml"), "w") as f:
            f.write("executor: unit\nsteps:\n" + "".join(
                f"  - {{id: s{i:03}, run: 'true'" + (f", needs: [s{i - 1:03}]" if i else "") + "}\n"
                for i in range(steps)))

        def systemd_run(calls=20):
            start = time.perf_counter()
            for _ in range(calls):
                subprocess.run(inside + ["systemd-run", "--wait", "--quiet", "-G", "/bin/true"], check=True,
                               capture_output=True)
            return (time.perf_counter() - start) * 1000 / calls

        log = open(os.path.join(state, "wfd.log"), "w")
        daemon = subprocess.Popen(inside + [os.path.abspath(WFD), "--jobs", jobs_dir, "--state", state,
                                            "--executor", "unit", "--log-target", "stderr", "--log-level", "warning"],
                                  stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(state, "control.sock")) and time.time() < deadline:
            if daemon.poll() is not None:
                break
            time.sleep(0.05)
        if daemon.poll() is not None:
            with open(os.path.join(state, "wfd.log")) as f:
                rows.append(("W1 as units", "wfd did not start: " + f.read().strip().replace("\n", " | "), "-"))
            return
        def chain(units=100):
            """ms per unit of a chain of units systemd drives itself (OnSuccess=), no D-Bus, no
            wfd: the floor for a unit per step. From the journal's monotonic times of the first
            unit's start and the last one's end."""
            tag = f"chain{time.monotonic_ns()}"
            directory = f"/proc/{pid}/root/run/systemd/system"
            for i in range(units):
                then = f"OnSuccess={tag}-{i + 1}.service\n" if i + 1 < units else ""
                with open(os.path.join(directory, f"{tag}-{i}.service"), "w") as f:
                    f.write(f"[Unit]\n{then}[Service]\nType=exec\nExecStart=/bin/true\n")
            subprocess.run(inside + ["systemctl", "daemon-reload"], check=True)
            subprocess.run(inside + ["systemctl", "start", f"{tag}-0.service"], check=True)
            import json
            for _ in range(200):
                out = subprocess.run(inside + ["journalctl", "-o", "json", "-u", f"{tag}-0.service",
                                               "-u", f"{tag}-{units - 1}.service"], capture_output=True,
                                     text=True).stdout
                entries = [json.loads(line) for line in out.splitlines() if line.strip()]
                done = [e for e in entries if e.get("UNIT") == f"{tag}-{units - 1}.service"
                        and "Deactivated" in str(e.get("MESSAGE", ""))]
                if done:
                    first = min(int(e["__MONOTONIC_TIMESTAMP"]) for e in entries)
                    return (int(done[0]["__MONOTONIC_TIMESTAMP"]) - first) / 1000 / units
                time.sleep(0.1)
            return float("nan")

        chains = [chain() for _ in range(3)]
        per_step, reference = [], []
        for _ in range(rounds):
            before = systemd_run()
            subprocess.run([WFCTL, "run", "w1", "--state", state], capture_output=True, check=True)
            run, record = wait_run(state, "w1")
            if record.get("state") != "succeeded":
                rows.append(("W1 as units", f"run {run} {record.get('state')}: {record.get('error')}", "-"))
                return
            per_step.append((rfc3339(record["ended_at"]) - rfc3339(record["started_at"])) * 1000 / steps)
            reference.append((before + systemd_run()) / 2)
        rows.append((f"W1 as units: {steps} sequential steps, ms per step (median of {rounds})",
                     f"{statistics.median(per_step):.2f} ms", "<= 3.5 ms"))
        rows.append(("W1 as units, rounds, ms per step", ", ".join(f"{x:.2f}" for x in per_step), "-"))
        rows.append(("systemd-run --wait -G true in the same systemd, ms per call (around each round)",
                     ", ".join(f"{x:.1f}" for x in reference), "-"))
        rows.append(("W1 as units / systemd-run --wait (median of per-round ratios)",
                     f"{statistics.median(x / y for x, y in zip(per_step, reference)):.2f}x", "-"))
        rows.append(("a chain of 100 units systemd drives itself (OnSuccess=), ms per unit (3 chains)",
                     ", ".join(f"{x:.2f}" for x in chains), "-"))
        rows.append(("W1 as units / that chain (medians)",
                     f"{statistics.median(per_step) / statistics.median(chains):.2f}x", "-"))
    finally:
        if daemon:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        subprocess.run([sandbox, "stop", pid, ident], check=False)
        shutil.rmtree(state, ignore_errors=True)


class UnixHTTP:
    """HTTP/1.1 over wfd-web's Unix socket, one kept-alive connection."""

    def __init__(self, path):
        import http.client
        import socket

        class Connection(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)

        self.connection = Connection("wfd")

    def get(self, target):
        self.connection.request("GET", target)
        response = self.connection.getresponse()
        body = response.read()
        return response.status, body


def serve_web(state, extra=()):
    """wfd-web on a Unix socket of its own (and `extra` arguments); returns (process, socket path)."""
    folder = tempfile.mkdtemp(prefix="wfd-web-bench-")
    atexit.register(shutil.rmtree, folder, True)
    path = os.path.join(folder, "web.sock")
    web = subprocess.Popen([WEB, "serve", "--listen", "unix:" + path, "--state", state, *extra],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)
    return web, path


def latencies(client, target, count):
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        status, body = client.get(target)
        samples.append((time.perf_counter() - start) * 1000)
        assert status == 200, (target, status, body[:200])
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1], len(body)


def latency_row(client, label, target, count, goal="-"):
    """A row of the table: `target`'s p50 / p99 over `count` requests, and the size of its answer."""
    p50, p99, size = latencies(client, target, count)
    digits = 1 if p50 >= 10 else 2
    shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"
    rows.append((f"{label} (p50 / p99 of {count})", f"{p50:.{digits}f} / {p99:.{digits}f} ms ({shown})", goal))


def run_pages(client, state):
    """GET /api/v1/runs over the fixture's 1,000,000 runs: the first page, a page 500,000 runs
    deep (its cursor made from the index; the fixture keeps records of the newest runs only, so
    the records of that page's runs are written for it and removed after), one job's first page,
    and a filter no run in reach passes (the page reads its whole allowance of 10,000 lines)."""
    import datetime
    import importlib.util
    import json
    spec = importlib.util.spec_from_file_location("make_fixture", os.path.join(ROOT, "scripts", "make-fixture.py"))
    fixture_code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixture_code)
    history = os.path.join(state, "runs.jsonl")
    size = os.path.getsize(history)
    with open(history, "rb") as f:  # the line that starts just past the middle
        f.seek(size // 2)
        f.readline()
        offset = f.tell()
        f.seek(max(0, offset - 40000))
        before = f.read(offset - f.tell()).split(b"\n")[1:-1][-60:]
        cursor_entry = json.loads(f.readline())
    template_dir = os.path.join(state, "runs", "job00000")
    template_run = sorted(os.listdir(template_dir))[-1]
    template = json.loads(open(os.path.join(template_dir, template_run, "run.json")).read())
    made = []
    try:
        for line in before:
            entry = json.loads(line)
            record = dict(template, id=entry["id"], job=entry["job"], state=entry["state"],
                          ended_at=entry["ended_at"], started_at=entry["started_at"])
            record.pop("seq", None), record.pop("checksum", None)
            directory = os.path.join(state, "runs", entry["job"], entry["id"])
            os.makedirs(directory)
            made.append(directory)
            with open(os.path.join(directory, "run.json"), "wb") as f:
                f.write(fixture_code.sealed(record))
        ended = datetime.datetime.fromisoformat(cursor_entry["ended_at"].replace("Z", "+00:00"))
        cursor = f"{offset}-{int(ended.timestamp() * 1000)}-{cursor_entry['id']}"
        status, body = client.get(f"/api/v1/runs?limit=50&cursor={cursor}")
        assert status == 200 and len(json.loads(body)["runs"]) == 50, body[:300]
        for label, target, count in [
            ("the first page, wfd stopped (active runs: 10,000 latest.json read)", "/api/v1/runs?limit=50", 30),
            ("a page 500,000 runs deep, by its cursor", f"/api/v1/runs?limit=50&cursor={cursor}", 100),
            ("one job's first page", "/api/v1/runs?limit=50&job=job05000", 100),
            ("a filter nothing in reach passes (reads 10,000 lines)",
             f"/api/v1/runs?limit=50&state=cancelled&cursor={cursor}", 30),
        ]:
            latency_row(client, f"web: GET /api/v1/runs, 10^6 runs: {label}", target, count)
    finally:
        for directory in made:
            shutil.rmtree(directory, ignore_errors=True)


def web_bench():
    """wfd-web: API latency on 10,000 jobs and on a run of 200 steps, log lines to 100 followers
    over Server-Sent Events, wrk against /api/v1/jobs over TCP, and wfd-web's memory after it."""
    import json
    import socket
    import threading
    root = fixture()
    jobs, state = os.path.join(root, "jobs"), os.path.join(root, "state")
    web, path = serve_web(state)
    try:
        client = UnixHTTP(path)
        latency_row(client, "web: GET /api/v1/jobs, 10,000 jobs, wfd stopped: from the records", "/api/v1/jobs", 30)
        latency_row(client, "web: GET /api/v1/jobs/{job} among 10,000 jobs", "/api/v1/jobs/job05000", 100)
        run_pages(client, state)
        daemon, _ = wait_ready([WFD, "--jobs", jobs, "--state", state, "--log-target", "stderr"])
        try:
            client = UnixHTTP(path)
            latency_row(client, "web: GET /api/v1/jobs, 10,000 jobs, from wfd's memory", "/api/v1/jobs", 30,
                        "p99 <= 80 ms")
            latency_row(client, "web: GET /api/v1/runs, 10^6 runs: the first page, active runs from wfd's memory",
                        "/api/v1/runs?limit=50", 30)
            latency_row(client, "web UI: the jobs page, 10,000 jobs", "/", 10)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
    finally:
        web.terminate()
        web.wait()

    work = tempfile.mkdtemp(prefix="wfd-web-bench-")
    try:
        jobs_dir, state = os.path.join(work, "jobs"), os.path.join(work, "state")
        os.makedirs(jobs_dir)
        with open(os.path.join(jobs_dir, "w1.yaml"), "w") as f:
            f.write("steps:\n" + "".join(
                f"  - {{id: s{i:03}, run: 'true'" + (f", needs: [s{i - 1:03}]" if i else "") + "}\n" for i in range(200)))
        # 100 lines, 50 ms apart, each with the time it was written (ns since the epoch).
        with open(os.path.join(jobs_dir, "talk.yaml"), "w") as f:
            f.write("steps:\n  - {id: talk, run: 'sleep 1; for i in $(seq 100); do date +%s%N; sleep 0.05; done'}\n")
        for i in range(100):
            with open(os.path.join(jobs_dir, f"job{i:03}.yaml"), "w") as f:
                f.write("schedule: '0 3 * * *'\nsteps:\n  - {id: a, run: 'true'}\n")
        for name in os.listdir(jobs_dir):
            os.chmod(os.path.join(jobs_dir, name), 0o644)
        daemon, _ = wait_ready([WFD, "--jobs", jobs_dir, "--state", state, "--log-target", "stderr",
                                "--executor", "process"])
        tokens = os.path.join(work, "tokens.json")
        secret = json.loads(subprocess.run([WFCTL, "token", "add", "bench", "--file", tokens, "--json"],
                                           capture_output=True, text=True, check=True).stdout)["token"]
        port = 20000 + os.getpid() % 20000
        web, path = serve_web(state, ["--listen", f"127.0.0.1:{port}", "--tokens", tokens])
        try:
            subprocess.run([WFCTL, "run", "w1", "--state", state], capture_output=True, check=True)
            run, _ = wait_run(state, "w1")
            client = UnixHTTP(path)
            latency_row(client, "web: GET /api/v1/runs/{run}, 200 steps", f"/api/v1/runs/{run}", 200, "p99 <= 10 ms")
            latency_row(client, "web UI: a run's page, 200 steps (DAG, timeline, attempts)", f"/runs/{run}", 100)

            # Followers of one attempt's log, connected before it writes: 100 on threads of their own
            # (each timestamps what it receives once it holds the interpreter's lock), the same 100
            # read by one thread with epoll (timestamps as it gets to each socket, so the last of a
            # line's 100 waits for the Python before it), the same 100 over TCP with the kernel's
            # receive timestamps (SO_TIMESTAMPNS: when wfd-web's bytes arrived, whatever the client
            # does after), and 1.
            import selectors
            import struct
            so_timestampns = 35  # SO_TIMESTAMPNS (asm-generic/socket.h); Python does not name it

            def follow_run(followers, how):
                started = subprocess.run([WFCTL, "run", "talk", "--state", state], capture_output=True,
                                         text=True, check=True).stdout.split()[2]
                request = (f"GET /api/v1/runs/{started}/steps/talk/attempts/1/log/events HTTP/1.1\r\n"
                           f"Host: wfd\r\nAuthorization: Bearer {secret}\r\n\r\n").encode()
                late = []
                lock = threading.Lock()

                def lines_of(chunk, now):
                    for line in chunk.split(b"\n"):
                        if line.startswith(b"data: ") and line[6:].strip().isdigit():
                            with lock:
                                late.append((now - int(line[6:].strip())) / 1e6)

                socks = []
                for _ in range(followers):
                    if how == "kernel":
                        sock = socket.create_connection(("127.0.0.1", port))
                        sock.setsockopt(socket.SOL_SOCKET, so_timestampns, 1)
                    else:
                        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        sock.connect(path)
                    sock.sendall(request)
                    socks.append(sock)
                if how == "threads":
                    def follow(sock):
                        buffer = b""
                        while b"event: end" not in buffer:
                            chunk = sock.recv(65536)
                            if not chunk:
                                break
                            now = time.time_ns()
                            buffer += chunk
                            lines_of(chunk, now)
                        sock.close()
                    threads = [threading.Thread(target=follow, args=(sock,)) for sock in socks]
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join(timeout=60)
                else:
                    selector = selectors.DefaultSelector()
                    buffers = {}
                    for sock in socks:
                        selector.register(sock, selectors.EVENT_READ)
                        buffers[sock] = b""
                    deadline = time.time() + 60
                    while buffers and time.time() < deadline:
                        for key, _ in selector.select(timeout=1):
                            now = time.time_ns()
                            chunk, ancillary, _, _ = key.fileobj.recvmsg(65536, socket.CMSG_SPACE(16))
                            for level, kind, data in ancillary:
                                if level == socket.SOL_SOCKET and kind == so_timestampns and len(data) >= 16:
                                    seconds, nanoseconds = struct.unpack("qq", data[:16])
                                    now = seconds * 1_000_000_000 + nanoseconds
                            buffers[key.fileobj] += chunk
                            lines_of(chunk, now)
                            if not chunk or b"event: end" in buffers[key.fileobj]:
                                selector.unregister(key.fileobj)
                                key.fileobj.close()
                                del buffers[key.fileobj]
                late.sort()
                return late

            for followers, how, label in [
                (100, "threads", "each of 100 SSE followers, a thread each"),
                (100, "epoll", "each of 100 SSE followers, one epoll thread"),
                (100, "kernel", "each of 100 SSE followers over TCP, as the kernel timestamps its arrival"),
                (1, "epoll", "1 SSE follower"),
            ]:
                late = follow_run(followers, how)
                rows.append((f"web: log line written -> received by {label} ({len(late)} lines)",
                             f"p50 {late[len(late) // 2]:.1f} ms, p99 {late[int(len(late) * 0.99) - 1]:.1f} ms",
                             "<= 5 ms added" if followers == 100 else "-"))

            wrk = subprocess.run(["wrk", "-t2", "-c16", "-d30s", "--latency", "-H", f"Authorization: Bearer {secret}",
                                  f"http://127.0.0.1:{port}/api/v1/jobs"], capture_output=True, text=True)
            requests = next((l.split()[1] for l in wrk.stdout.splitlines() if l.startswith("Requests/sec")), "?")
            p99 = next((l.split()[1] for l in wrk.stdout.splitlines() if l.strip().startswith("99%")), "?")
            errors = [l.strip() for l in wrk.stdout.splitlines() if "Non-2xx" in l or "Socket errors" in l]
            rows.append(("web: wrk -t2 -c16 -d30s GET /api/v1/jobs (102 jobs) over TCP with a token",
                         f"{requests} req/s, p99 {p99}, errors: {', '.join(errors) or 'none'}", "no errors"))
            rows.append(("web: wfd-web resident memory after all of it (VmRSS / RssAnon)",
                         f"{rss_kib(web.pid) / 1024:.1f} / {rss_kib(web.pid, 'RssAnon') / 1024:.1f} MiB", "<= 30 MiB"))
        finally:
            web.terminate()
            web.wait()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def hooks_bench(samples=300, burst=2000):
    """Webhooks through wfd-web over loopback TCP, signed as GitHub signs them. Latency: from the
    client's first byte of a delivery to its run's step starting (the step record's started_at),
    one delivery at a time, each after the previous run ended; against the same measured for
    `wfctl run` (the control socket, no HTTP, no signature) in the same invocation, interleaved.
    Throughput: `burst` deliveries over 16 connections at once to a job with concurrency: queue,
    answered (each on disk) per second; and how fast their runs then drain."""
    import datetime
    import json
    import socket
    work = tempfile.mkdtemp(prefix="wfd-bench-hooks-")
    try:
        jobs, state, credentials = (os.path.join(work, name) for name in ("jobs", "state", "credentials"))
        os.makedirs(jobs)
        os.makedirs(credentials)
        secret = "bench-secret-0123456789"
        with open(os.path.join(credentials, "hook"), "w") as f:
            f.write(secret + "\n")
        for name in ("latency", "burst"):
            with open(os.path.join(jobs, f"{name}.yaml"), "w") as f:
                f.write("concurrency: queue\non: { webhook: { secret: hook } }\nretention: { keep_runs: 100000 }\n"
                        "steps:\n  - { id: a, run: 'true' }\n")
        with open(os.path.join(jobs, "manual.yaml"), "w") as f:
            f.write("retention: { keep_runs: 100000 }\nsteps:\n  - { id: a, run: 'true' }\n")
        daemon, _ = wait_ready([WFD, "--jobs", jobs, "--state", state, "--log-target", "stderr"],
                               env_extra={"CREDENTIALS_DIRECTORY": credentials})
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        web = subprocess.Popen([WEB, "serve", "--listen", f"127.0.0.1:{port}", "--state", state],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            import hashlib
            import hmac
            import http.client
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

            def started_at(job, run):
                path = os.path.join(state, "runs", job, run, "steps", "a.json")
                while True:
                    record = read_json(path) if os.path.exists(path) else {}
                    if record.get("state") in ("succeeded", "failed"):
                        text = record["attempts"][0]["started_at"]
                        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
                    time.sleep(0.002)

            def webhook(index):
                body = json.dumps({"action": "published", "n": index}).encode()
                signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                sent = time.time()
                connection.request("POST", "/hooks/latency", body=body, headers={
                    "Content-Type": "application/json", "X-GitHub-Event": "release",
                    "X-GitHub-Delivery": f"lat-{index}", "X-Hub-Signature-256": signature})
                response = connection.getresponse()
                run = json.loads(response.read())["run"]
                assert response.status == 202, response.status
                return (started_at("latency", run) - sent) * 1000

            def manual():
                sent = time.time()
                out = subprocess.run([WFCTL, "run", "manual", "--json", "--state", state],
                                     capture_output=True, text=True, check=True).stdout
                return (started_at("manual", json.loads(out)["run"]) - sent) * 1000

            hooks, runs = [], []
            for index in range(samples):
                hooks.append(webhook(index))
                runs.append(manual())
            hooks.sort()
            runs.sort()

            def p(values, q):
                return values[min(len(values) - 1, int(len(values) * q))]

            rows.append((f"hooks: delivery to step start, p50 / p99 of {samples} (wfd-web, signed)",
                         f"{p(hooks, 0.5):.1f} / {p(hooks, 0.99):.1f} ms", "p99 <= 20 ms"))
            rows.append((f"hooks: wfctl run to step start, p50 / p99 of {samples} (baseline, interleaved)",
                         f"{p(runs, 0.5):.1f} / {p(runs, 0.99):.1f} ms "
                         f"(webhook/baseline {p(hooks, 0.5) / p(runs, 0.5):.2f} at p50)", "-"))
            out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "deliver.py"),
                                  f"http://127.0.0.1:{port}/hooks/burst", secret, "--count", str(burst),
                                  "--concurrency", "16", "--prefix", "burst"],
                                 capture_output=True, text=True, check=True).stdout
            result = json.loads(out)
            statuses = [r["status"] for r in result["results"]]
            assert statuses.count(202) == burst, {s: statuses.count(s) for s in set(statuses)}
            accepted = time.perf_counter()
            per_second = burst / result["burst_seconds"]
            took = sorted(r["seconds"] * 1000 for r in result["results"])
            rows.append((f"hooks: {burst} deliveries over 16 connections, accepted (on disk) per second",
                         f"{per_second:.0f}/s (answer p50 / p99 {p(took, 0.5):.1f} / {p(took, 0.99):.1f} ms)", "-"))
            runs_dir = os.path.join(state, "runs", "burst")
            while True:
                done = 0
                for run in os.listdir(runs_dir):
                    path = os.path.join(runs_dir, run, "run.json")
                    if os.path.exists(path) and read_json(path).get("state") == "succeeded":
                        done += 1
                if done >= burst:
                    break
                time.sleep(0.2)
            drained = time.perf_counter() - accepted + result["burst_seconds"]
            rows.append((f"hooks: the {burst} queued runs, from the first delivery to the last run's end",
                         f"{drained:.1f} s ({burst / drained:.0f} runs/s, one at a time)", "-"))
            connection.close()
        finally:
            web.terminate()
            web.wait()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def traces_bench(rounds=5, steps=200):
    """What traces cost a run: W1 (200 sequential `true` steps) with traces off and with them sent
    to a loopback OTLP/HTTP receiver (a Python server that reads and counts), one wfd each,
    alternating run by run; ms per step, and the spans the receiver got."""
    import http.server
    import threading
    received = {"spans": 0, "requests": 0}

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            import json
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            for resource in json.loads(body).get("resourceSpans", []):
                for scope in resource.get("scopeSpans", []):
                    received["spans"] += len(scope.get("spans", []))
            received["requests"] += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    work = tempfile.mkdtemp(prefix="wfd-bench-traces-")
    try:
        jobs_dir = os.path.join(work, "jobs")
        os.makedirs(jobs_dir)
        with open(os.path.join(jobs_dir, "w1.yaml"), "w") as f:
            f.write("retention: { keep_runs: 1000 }\nsteps:\n" + "".join(
                f"  - {{id: s{i:03}, run: 'true'" + (f", needs: [s{i - 1:03}]" if i else "") + "}\n"
                for i in range(steps)))
        daemons = {}
        for mode, extra in (("off", {}), ("on", {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})):
            state = os.path.join(work, f"state-{mode}")
            daemons[mode] = (wait_ready([WFD, "--jobs", jobs_dir, "--state", state, "--log-target", "stderr"],
                                        env_extra=extra)[0], state)
        times = {"off": [], "on": []}
        for _ in range(rounds):
            for mode in ("off", "on"):
                state = daemons[mode][1]
                start = time.perf_counter()
                subprocess.run([WFCTL, "run", "w1", "--state", state], capture_output=True, check=True)
                wait_run(state, "w1")
                times[mode].append((time.perf_counter() - start) * 1000 / steps)
        time.sleep(1)
        for daemon, _ in daemons.values():
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
        off, on = statistics.median(times["off"]), statistics.median(times["on"])
        rows.append((f"traces: W1 ({steps} steps), ms per step, off / on (median of {rounds}, alternating)",
                     f"{off:.2f} / {on:.2f} ms (on/off {on / off:.2f}; rounds on: "
                     f"{', '.join(f'{x:.2f}' for x in times['on'])}; off: {', '.join(f'{x:.2f}' for x in times['off'])})",
                     "-"))
        rows.append(("traces: spans the receiver got, requests", f"{received['spans']} spans in {received['requests']} "
                     f"requests (expected {rounds * (steps + 1)})", "-"))
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def agents_bench(rounds=5, turns=20):
    """What wfd adds to an agent's turn: an agent of `turns` turns (each a model call answered by a
    tool call of an HTTP GET tool, then its answer) against the same calls made by explicit steps
    (`turns` pairs of an llm step and an http step, chained), both served by the loopback
    stand-in (scripts/standin.py), one wfd, alternating run by run; ms per turn (a model call and a
    tool call). The agent writes its transcript (fsynced) after each answer and around each call."""
    work = tempfile.mkdtemp(prefix="wfd-bench-agents-")
    standin = None
    try:
        turn_list = [{"calls": [{"name": "look", "arguments": {"id": "1"}}]}] * turns + [{"answer": {"done": True}}]
        scenario = {"routes": [
            {"method": "POST", "path": "/v1/chat/completions", "responses": [{"agent": {"turns": turn_list}}]},
            {"method": "POST", "path": "/v2/chat/completions", "responses": [{"openai": {"content": "ok"}}]},
            {"method": "GET", "path": "/items/[0-9]+", "responses": [{"json": {"id": 1, "ok": True}}]},
        ]}
        import json
        with open(os.path.join(work, "scenario.json"), "w") as f:
            json.dump(scenario, f)
        standin = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", "standin.py"),
                                    os.path.join(work, "scenario.json"), os.path.join(work, "standin.log")],
                                   stdout=subprocess.PIPE, text=True)
        port = int(standin.stdout.readline().split()[1])
        url = f"http://127.0.0.1:{port}"
        jobs_dir = os.path.join(work, "jobs")
        os.makedirs(jobs_dir)
        with open(os.path.join(jobs_dir, "agentic.yaml"), "w") as f:
            f.write(f"""retention: {{ keep_runs: 1000 }}
steps:
  - id: act
    agent:
      provider: openai
      model: stand-in
      base_url: {url}/v1
      instructions: Look {turns} times.
      max_tokens: 50
      max_turns: {turns + 1}
      schema: {{ type: object, required: [done] }}
      tools:
        - {{ name: look, http: {{ url: "{url}/items/${{{{ args.id }}}}" }} }}
""")
        with open(os.path.join(jobs_dir, "steps.yaml"), "w") as f:
            lines = ["retention: { keep_runs: 1000 }", "steps:"]
            for i in range(turns):
                ask, look = f"ask{i:02}", f"look{i:02}"
                lines.append(f"  - {{id: {ask}, llm: {{provider: openai, model: stand-in, base_url: '{url}/v2', "
                             f"prompt: 'Look.', max_tokens: 50}}" + (f", needs: [look{i - 1:02}]" if i else "") + "}")
                lines.append(f"  - {{id: {look}, needs: [{ask}], http: {{url: '{url}/items/1'}}}}")
            f.write("\n".join(lines) + "\n")
        state = os.path.join(work, "state")
        daemon, _ = wait_ready([WFD, "--jobs", jobs_dir, "--state", state, "--log-target", "stderr"])
        times = {"agentic": [], "steps": []}
        for _ in range(rounds):
            for name in ("agentic", "steps"):
                start = time.perf_counter()
                subprocess.run([WFCTL, "run", name, "--state", state], capture_output=True, check=True)
                _, record = wait_run(state, name)
                if record.get("state") != "succeeded":
                    raise RuntimeError(f"{name}: {record}")
                times[name].append((time.perf_counter() - start) * 1000 / turns)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        agent, steps = statistics.median(times["agentic"]), statistics.median(times["steps"])
        rows.append((f"agents: ms per turn (a model call and a tool call), agent / the same as llm and http steps "
                     f"({turns} turns, median of {rounds}, alternating)",
                     f"{agent:.2f} / {steps:.2f} ms (agent/steps {agent / steps:.2f}; agent: "
                     f"{', '.join(f'{x:.2f}' for x in times['agentic'])}; steps: "
                     f"{', '.join(f'{x:.2f}' for x in times['steps'])})", "-"))
    finally:
        if standin:
            standin.terminate()
            standin.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


COMPILED = tempfile.mkdtemp(prefix="wfd-cc-")
atexit.register(shutil.rmtree, COMPILED, True)
BASELINE, FLOOR = os.path.join(COMPILED, "baseline"), os.path.join(COMPILED, "precision-floor")
CC = shutil.which("cc") or shutil.which("clang") or "/opt/swift/usr/bin/clang"
if "durable" in SECTIONS:
    subprocess.run([CC, "-O2", "-o", BASELINE, os.path.join(ROOT, "scripts", "baseline.c")], check=True)
if "precision" in SECTIONS:
    subprocess.run([CC, "-O2", "-o", FLOOR, os.path.join(ROOT, "scripts", "precision-floor.c")], check=True)
if "startup" in SECTIONS:
    startup()
if "durable" in SECTIONS:
    durable()
if "units" in SECTIONS:
    units()
if "scale" in SECTIONS:
    scale()
if "steady" in SECTIONS:
    steady()
if "precision" in SECTIONS:
    precision_rows()
if "web" in SECTIONS:
    web_bench()
if "hooks" in SECTIONS:
    hooks_bench()
if "traces" in SECTIONS:
    traces_bench()
if "agents" in SECTIONS:
    agents_bench()

width = max(len(r[0]) for r in rows)
print(f"{'benchmark'.ljust(width)}  {'figure'.ljust(30)}  goal")
for name, figure, goal in rows:
    print(f"{name.ljust(width)}  {figure.ljust(30)}  {goal}")
