#!/usr/bin/env python3
"""Makes the jobs and the history issue 8 measures against: JOBS job files and JOBS × RUNS runs.

    scripts/make-fixture.py BIN_DIR DIR [--jobs 10000] [--runs 100]

DIR/jobs gets JOBS job files, each a daily cron at a spread-out minute with two `true` steps.
DIR/state gets, for every job, what wfd keeps: `jobs/<job>/job.json` and `latest.json` (with the newest 20 outcomes), an index
`jobs/<job>/runs.jsonl` of RUNS ended runs (one a day, a tenth of them failed), and the run
directory of the newest run (run.json, spec.json, steps/), and `schedule.json` with the newest 20
scheduling decisions; and the state directory's own `runs.jsonl`, every job's index in one in the
order the runs ended, with `format.json` saying format 2. The records are copies of the ones a
real wfd (BIN_DIR/wfd) writes for one run of a template job, with the job and run ids replaced
and the seal (seq, CRC-32C) made anew, so every reader and `wfctl fsck` accepts them. Older runs
exist as index lines only: `wfctl status` and `wfctl runs` read the index, never old run
directories.
"""
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    TABLE.append(c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


MARKER = b',\n  "checksum" : "crc32c:'


def resealed(data: bytes) -> bytes:
    """A sealed record of wfd's with its checksum computed anew (its content was edited)."""
    body = data[: data.rindex(MARKER)]
    return body + MARKER + b"%08x" % crc32c(body) + b'"\n}\n'


def sealed(record: dict) -> bytes:
    """`record` as wfd writes it: pretty JSON with sorted keys, then its seq and checksum."""
    text = json.dumps(record, indent=2, sort_keys=True, separators=(",", " : "))[:-2]
    body = (text + ',\n  "seq" : 1').encode()
    return body + MARKER + b"%08x" % crc32c(body) + b'"\n}\n'


def run_id(at: datetime.datetime, suffix: int) -> str:
    return at.strftime("%Y%m%dT%H%M%S.") + "%03dZ-%06x" % (at.microsecond // 1000, suffix)


def stamp(at: datetime.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (at.microsecond // 1000)


def template(bin_dir: str) -> dict:
    """One real run of a template job: the files wfd writes, as bytes."""
    work = tempfile.mkdtemp(prefix="wfd-fixture-template-")
    try:
        os.makedirs(os.path.join(work, "jobs"))
        path = os.path.join(work, "jobs", "fixturetemplate.yaml")
        with open(path, "w") as f:
            f.write("schedule: '59 23 * * *'\nsteps:\n  - {id: a, run: 'true'}\n  - {id: b, needs: [a], run: 'true'}\n")
        state = os.path.join(work, "state")
        daemon = subprocess.Popen([os.path.join(bin_dir, "wfd"), "--jobs", os.path.join(work, "jobs"), "--state",
                                   state, "--log-target", "stderr"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while not os.path.exists(os.path.join(state, "daemon.json")) and time.time() < deadline:
            time.sleep(0.05)
        subprocess.run([os.path.join(bin_dir, "wfctl"), "run", "fixturetemplate", "--wait", "--state", state],
                       check=True, stdout=subprocess.DEVNULL)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        job_dir = os.path.join(state, "jobs", "fixturetemplate")
        runs = os.path.join(state, "runs", "fixturetemplate")
        run = os.listdir(runs)[0]
        files = {"run": run, "work": work}
        for name in ["job.json", "latest.json"]:
            files[name] = open(os.path.join(job_dir, name), "rb").read()
        for name in ["run.json", "spec.json", "steps/a.json", "steps/b.json"]:
            files[name] = open(os.path.join(runs, run, name), "rb").read()
        return files
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    bin_dir, root = sys.argv[1], sys.argv[2]
    jobs = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 10000
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 100
    files = template(bin_dir)
    old_run = files["run"].encode()
    old_jobs = os.path.join(files["work"], "jobs").encode()
    random.seed(8)
    jobs_dir, state = os.path.join(root, "jobs"), os.path.join(root, "state")
    os.makedirs(jobs_dir, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    history = []  # every job's index in one, in the order runs ended (state format 2)
    for index in range(jobs):
        name = "job%05d" % index
        minute, hour = index % 60, (index // 60) % 24
        schedule = "%d %d * * *" % (minute, hour)
        with open(os.path.join(jobs_dir, name + ".yaml"), "w") as f:
            f.write("schedule: '%s'\nsteps:\n  - {id: a, run: 'true'}\n  - {id: b, needs: [a], run: 'true'}\n" % schedule)
        os.chmod(os.path.join(jobs_dir, name + ".yaml"), 0o644)
        job_dir = os.path.join(state, "jobs", name)
        os.makedirs(job_dir, exist_ok=True)
        lines, newest, decisions = [], None, []
        for day in range(runs, 0, -1):
            ended = now - datetime.timedelta(days=day - 1, seconds=random.randint(0, 3000))
            started = ended - datetime.timedelta(milliseconds=random.randint(20, 4000))
            rid = run_id(started, (index * runs + day) & 0xFFFFFF)
            failed = day > 1 and random.random() < 0.1  # the newest, whose record is kept, succeeded
            entry = {"ended_at": stamp(ended), "id": rid, "job": name, "started_at": stamp(started),
                     "state": "failed" if failed else "succeeded", "trigger": "schedule"}
            if failed:
                entry["error"] = "step 'b' failed: exited with status 1"
            lines.append(json.dumps(entry, sort_keys=True, separators=(",", ":")))
            newest = (rid, entry)
            fired = started - datetime.timedelta(milliseconds=3)
            decisions.append({"decided_at": stamp(fired), "fire_time": stamp(fired), "outcome": "started", "run": rid,
                              "trigger": "schedule"})
        with open(os.path.join(job_dir, "runs.jsonl"), "w") as f:
            f.write("\n".join(lines) + "\n")
        history += [(json.loads(line)["ended_at"], json.loads(line)["id"], line) for line in lines]

        def adapt(data: bytes, rid: str) -> bytes:
            data = data.replace(b"fixturetemplate", name.encode()).replace(old_run, rid.encode())
            data = data.replace(old_jobs, os.path.abspath(jobs_dir).encode())
            return resealed(data.replace(b"59 23 * * *", schedule.encode()))

        rid, entry = newest
        latest = json.loads(files["latest.json"].decode())
        recent = [{"id": e["id"], "state": e["state"]} for e in map(json.loads, lines[-20:])]
        succeeded = sum(1 for r in recent if r["state"] == "succeeded")
        latest.update({"job": name, "last": entry, "recent": recent,
                       "success_rate": {"ended": len(recent), "succeeded": succeeded}})
        latest.pop("seq", None), latest.pop("checksum", None)
        with open(os.path.join(job_dir, "latest.json"), "wb") as f:
            f.write(sealed(latest))
        mark = {"job": name, "last_fire_time": decisions[-1]["fire_time"], "notable": [], "recent": decisions[-20:],
                "version": 1}
        with open(os.path.join(job_dir, "schedule.json"), "wb") as f:
            f.write(sealed(mark))
        with open(os.path.join(job_dir, "job.json"), "wb") as f:
            f.write(adapt(files["job.json"], rid))
        run_dir = os.path.join(state, "runs", name, rid)
        os.makedirs(os.path.join(run_dir, "steps"), exist_ok=True)
        for part in ["run.json", "spec.json", "steps/a.json", "steps/b.json"]:
            with open(os.path.join(run_dir, part), "wb") as f:
                f.write(adapt(files[part], rid))
        if index % 1000 == 999:
            print(f"{index + 1} jobs", file=sys.stderr, flush=True)
    history.sort()
    with open(os.path.join(state, "runs.jsonl"), "w") as f:
        f.writelines(line + "\n" for _, _, line in history)
    with open(os.path.join(state, "format.json"), "w") as f:
        f.write('{"format": 2, "written_by": "make-fixture.py"}\n')
    print(f"{jobs} jobs and {jobs * runs} runs in {root}")


if __name__ == "__main__":
    main()
