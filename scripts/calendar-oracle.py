#!/usr/bin/env python3
"""Makes Tests/Fixtures/conformance/calendar-grammar-vectors.json from systemd-analyze (systemd 252).

Every production and refusal of calendarspec.c's parser, exercised by expressions built from its
grammar (weekday lists and ranges with '..' and '-', trailing commas, dates of two and three parts,
'~', chains of values, ranges and repetitions, fractions of seconds, '@' instants, zones, the
shorthands in any case, spaces) plus random ones from the same pieces. For each: the normalized
form or the refusal, and the next 5 elapses from a fixed base in UTC.

    python3 scripts/calendar-oracle.py > Tests/Fixtures/conformance/calendar-grammar-vectors.json

Only wfd's own refusal of fractions of a second (it fires on whole seconds) is marked: such an
expression is kept with "fraction": true.
"""
import json
import os
import random
import re
import subprocess
import sys

BASE = "2026-01-31 12:00:00 UTC"


def oracle(expr):
    env = dict(os.environ, TZ="UTC")
    out = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=5", "--base-time=" + BASE, expr],
        capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return None
    normalized, nexts = None, []
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("Normalized form:"):
            normalized = line.split(":", 1)[1].strip()
        elif line.startswith("Next elapse:") or line.startswith("Iter. #") or line.startswith("(in UTC):"):
            # "Next elapse: Mon 2026-02-02 12:00:00 UTC" (or "never"); an elapse in another zone
            # is followed by "(in UTC): Mon 2026-02-02 11:00:00 UTC", which replaces it.
            words = line.split(":", 1)[1].split()
            if len(words) < 4:
                continue
            if line.startswith("(in UTC):"):
                nexts.pop()
            nexts.append(words[1] + "T" + words[2] + "Z")
    return {"normalized": normalized, "next_utc": nexts}


def curated():
    days = ["Mon", "tue", "Wednesday", "THU", "Fri", "Sat", "Sun", "Monday", "sunday"]
    weekday_forms = [
        "Mon", "Mon,Tue", "Mon..Fri", "Mon-Fri", "Sat-Sun", "Sat..Sun", "Fri..Mon", "Fri-Mon", "Wed,",
        "Mon,Wed,", "Mon..Wed,Fri", "Mon..Wed..Fri", "Mon-Wed-Fri", "Mon..", "Mon-", "Mon.Fri", "Mon,,Tue",
        "Monday..Friday", "mon..sun", "Mon..Sun", "Sun..Mon", "Sun", "Monkey", "Mo", "Mon,5", "Tue..Tue",
        "Mon , Tue", "Mon,Tue,Wed,Thu,Fri,Sat,Sun", "fri,mon..wed",
    ]
    dates = [
        "", "*-*-*", "2026-01-31", "26-01-31", "69-12-31", "70-01-01", "1969-12-31", "2199-12-31", "2200-01-01",
        "*-02-29", "*-*-1/2", "*-*-*/2", "*-02~03", "*-*~07/1", "*-*~1", "*-*~28", "*-*~29", "*~01", "*-01~01-01",
        "2026-*~01", "*-1..3-1", "*-1..12/3-1", "*-*-5..5", "*-*-1..3/5", "*-01,01,02-01", "*-13-01", "*-00-01",
        "*-*-00", "*-*-32", "*-*-31/1", "1-1", "12-25", "*-*", "2026-1-1-1", "2026--01", "*-*-1,", "*-*-,1",
        "*-*-1..", "*-*-..3", "*-*-1/0", "*-*-1/31", "*-*-1/30", "2026..2028-01-01", "2026-01-01/2", "0-1-1",
        "*-*-01T00", "@1700000000", "@0", "@+5", "@ 5", "@-5", "@", "@x", "@253402300800", "@1700000000 12:00",
    ]
    times = [
        "", "00:00", "9:30", "09:30:00", "24:00", "23:60", "23:59:60", "23:59:59", "*:*", "*:*:*", "*:0/15",
        "0/6:00", "8..17:00", "8..17/2:00", "*:50/20", "*:50/9", "00:00:*/20", "00:00:20/20", "00:00:0/20",
        "00:00:00.5", "00:00:00.000000", "00:00:00.0000004", "00:00:00.0000005", "00:00:1.5..3", "00:00:5..5",
        "00:00:1..3", "00:00:1..3/1", "00:00:00.", "9", "9:", ":30", "9:30:", "09:30:00:00", "1,2,3:00",
        "1,,2:00", "01..03,05:*/10", "12:00:00 ", "0x10:00", "+1:00", "12:00am",
    ]
    zones = ["", " UTC", " utc", " Utc", " Europe/Berlin", " America/New_York", " Etc/UTC", " EST", " Japan",
             " Europe/Nowhere", " Europe//Berlin", " /etc/passwd", " ../UTC", " UTC ", "  UTC", " GMT+0"]
    shorthands = ["minutely", "hourly", "daily", "weekly", "monthly", "yearly", "annually", "anually",
                  "quarterly", "semiannually", "semi-annually", "biannually", "bi-annually", "DAILY", "Daily",
                  "fortnightly", "daily daily", "biweekly"]
    exprs = set()
    for w in weekday_forms:
        exprs.add(w)
        exprs.add(w + " 12:00")
        exprs.add(w + " *-*-* 12:00")
    for d in dates:
        exprs.add(d)
        exprs.add((d + " 12:00").strip())
    for t in times:
        exprs.add(t)
        exprs.add(("*-*-* " + t).strip())
    for z in zones:
        exprs.add("daily" + z)
        exprs.add("Mon 12:00" + z)
        exprs.add(z.strip())
    for s in shorthands:
        exprs.add(s)
        exprs.add(s + " Europe/Berlin")
    # Open repetitions whose next value passes the end of their field (find_next's carry through
    # mktime), at month ends, the year's end and within a month.
    for when in ["", "2026-01-31 ", "2026-12-31 ", "*-*-31 ", "*-02-28 ", "*-*-30 "]:
        for time in ["1/19:07", "0,1/19:07,32", "*:10/45", "23:10/45", "*:*:0/40", "23:59:0/40", "*:59:0/40",
                     "1/17:10/45:0/40"]:
            exprs.add(when + time)
    for date in ["*-*-1/20", "*-12-1/20", "2026-12-10/15", "*-*-5/10 06:00", "*-1/7-01"]:
        exprs.add(date)
    exprs.update(["", " ", "  daily", "daily ", "Mon  12:00", "Mon\t12:00", "*-*-*  12:00", "Mon *-*-*",
                  "Mon 2026-01-01", "2026-01-01 Mon", "12:00 Mon", "Mon..Fri 8..17:00/30", "@daily", "*",
                  "**", "*-*-* *:*:*.5", "Sat,Sun *-*-1..7 4:00", "Mon *-*-01..07 02:00 Europe/Berlin"])
    return exprs


def random_expr(rng):
    def num(lo, hi):
        return str(rng.randint(lo, hi)).zfill(rng.choice([1, 2]))

    def component(lo, hi):
        c = num(lo, hi)
        if rng.random() < 0.3:
            c += ".." + num(lo, hi)
        if rng.random() < 0.3:
            c += "/" + str(rng.randint(0, hi))
        return c

    def chain(lo, hi):
        if rng.random() < 0.3:
            return "*"
        return ",".join(component(lo, hi) for _ in range(rng.randint(1, 3)))

    parts = []
    if rng.random() < 0.4:
        names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        items = []
        for _ in range(rng.randint(1, 3)):
            a = rng.choice(names)
            items.append(a + (rng.choice(["..", "-"]) + rng.choice(names) if rng.random() < 0.4 else ""))
        parts.append(",".join(items) + ("," if rng.random() < 0.1 else ""))
    if rng.random() < 0.7:
        sep = "~" if rng.random() < 0.2 else "-"
        if rng.random() < 0.5:
            parts.append(chain(1970, 2200) + "-" + chain(0, 13) + sep + chain(0, 32))
        else:
            parts.append(chain(0, 13) + sep + chain(0, 32))
    if rng.random() < 0.8:
        t = chain(0, 24) + ":" + chain(0, 60)
        if rng.random() < 0.5:
            t += ":" + chain(0, 60)
        parts.append(t)
    if rng.random() < 0.15:
        parts.append(rng.choice(["UTC", "Europe/Berlin", "Asia/Kolkata", "utc"]))
    return " ".join(parts)


def main():
    rng = random.Random(252)
    exprs = sorted(curated()) + [random_expr(rng) for _ in range(700)]
    seen, cases = set(), []
    for expr in exprs:
        if expr in seen:
            continue
        seen.add(expr)
        result = oracle(expr)
        case = {"expr": expr}
        if result is None:
            case["valid"] = False
        else:
            case.update(valid=True, normalized=result["normalized"], next_utc=result["next_utc"])
            # systemd prints a fraction of a second as .%06i after the digits ("00.500000").
            times = [part for part in result["normalized"].split(" ") if part.count(":") == 2]
            if any(re.search(r"\d\.\d", part.split(":")[2]) for part in times):
                case["fraction"] = True
        cases.append(case)
    version = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    json.dump({"oracle": version, "base": BASE, "tz": "UTC", "cases": cases}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
