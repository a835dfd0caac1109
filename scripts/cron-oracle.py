#!/usr/bin/env python3
"""Makes Tests/Fixtures/conformance/cron-grammar-vectors.json from cronsim 2.8 (pip install cronsim==2.8).

Every production and refusal of cronsim's Field.parse, and Debian cron's entry.c where they agree:
numbers (ASCII digits only: no sign, no space, no decimal), names of months and weekdays in any
case, '*', lists, ranges (never backwards, names allowed), steps on '*', ranges and single values
(which run to the end of the field), day-of-week 0-7, cronsim's L and LW (day of month), nL and
n#k (day of week), 5 or 6 fields split on any whitespace, and days that never exist; plus random
expressions of the same pieces. For each: accepted or refused, and the next 5 fire times after a
fixed start, in UTC.

    python3 scripts/cron-oracle.py > Tests/Fixtures/conformance/cron-grammar-vectors.json

Debian cron's aliases (@daily …) are not cronsim's: the tests hold them to entry.c separately.
"""
import json
import random
import sys
from datetime import datetime, timezone

import cronsim

START = datetime(2026, 1, 31, 12, 0, 0, tzinfo=timezone.utc)


def oracle(expr):
    try:
        it = cronsim.CronSim(expr, START)
        return [next(it).strftime("%Y-%m-%dT%H:%M:%SZ") for _ in range(5)]
    except cronsim.CronSimError:
        return None
    except StopIteration:
        return []


def curated():
    fields = {
        "minute": ["0", "59", "60", "+5", "-5", " 5", "05", "5.0", "1.5", "a", "*", "*/15", "*/0", "*/",
                   "/5", "5/", "5/15", "5/100", "*/99999999999999999999", "0-59/20", "10-5", "5-5", "5-5/2",
                   "1,2,3", "1,,2", ",1", "1,", "*-5", "5-*", "1-2-3", "1-5/2/3", "L", "LW", "1#2", "٣", "00",
                   "0x5", "1e1", "*/5,3", "59-59", "1-60"],
        "hour": ["0", "23", "24", "*/5", "0/5", "12-23/3", "8-17", "17-8"],
        "dom": ["1", "31", "32", "0", "L", "LW", "l", "lw", "L/2", "LW/3", "L-5", "5-L", "L,15", "1-L",
                "15W", "W", "?", "*/2", "2/10", "31/1", "1-31/7", "29", "30", "31"],
        "month": ["1", "12", "13", "0", "JAN", "jan", "Jan", "DEC", "JAN-MAR", "MAR-JAN", "JAN/2",
                  "FOO", "JANUARY", "FEB", "FEB,APR", "*/3", "2-2/5"],
        "dow": ["0", "7", "8", "SUN", "sun", "MON-FRI", "FRI-MON", "MON/2", "1/6", "*/2", "*/7", "5L", "7L",
                "0L", "8L", "L", "SUNL", "FRIL", "5L/2", "MON#2", "1#1", "1#5", "1#6", "1#0", "1#", "#2", "7#1",
                "1#2/3", "MONDAY", "MO", "1-7", "0-7/2", "6-7", "5,6,7", "?", "1#2,5L", "3-3"],
    }
    exprs = set()
    for value in fields["minute"]:
        exprs.add(f"{value} * * * *")
        exprs.add(f"0 {value} * * * *")  # as seconds
    for value in fields["hour"]:
        exprs.add(f"0 {value} * * *")
    for value in fields["dom"]:
        exprs.add(f"0 0 {value} * *")
        exprs.add(f"0 0 {value} * MON")
        exprs.add(f"0 0 {value} 2 *")
    for value in fields["month"]:
        exprs.add(f"0 0 1 {value} *")
    for value in fields["dow"]:
        exprs.add(f"0 0 * * {value}")
        exprs.add(f"0 0 13 * {value}")
    exprs.update([
        "", "*", "* * * *", "* * * * *", "* * * * * *", "* * * * * * *", "*\t*\t*\t*\t*", "*  * * * *",
        " * * * * * ", "*\n* * * *", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 2 1", "0 0 29 2 *",
        "0 0 31 2 *", "0 0 L 2 *", "0 0 30 2 MON", "0 0 */30 2 *", "0 0 0 31 2 *", "0 0 * * * #",
        "@daily", "@reboot",
    ])
    return exprs


def random_expr(rng):
    def value(lo, hi, names=None):
        if names and rng.random() < 0.2:
            return rng.choice(names)
        return str(rng.randint(lo, hi + (1 if rng.random() < 0.05 else 0)))

    def item(lo, hi, names=None, dow=False, dom=False):
        r = rng.random()
        if dom and r < 0.05:
            return rng.choice(["L", "LW"])
        if dow and r < 0.08:
            return value(lo, hi) + "L" if rng.random() < 0.5 else value(lo, hi, names) + "#" + str(rng.randint(0, 6))
        text = "*" if rng.random() < 0.25 else value(lo, hi, names)
        if text != "*" and rng.random() < 0.35:
            text += "-" + value(lo, hi, names)
        if rng.random() < 0.3:
            text += "/" + str(rng.randint(0 if rng.random() < 0.05 else 1, hi))
        return text

    def field(lo, hi, names=None, dow=False, dom=False):
        return ",".join(item(lo, hi, names, dow, dom) for _ in range(rng.randint(1, 3)))

    months = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
    days = "SUN MON TUE WED THU FRI SAT".split()
    parts = [field(0, 59), field(0, 23), field(1, 31, dom=True), field(1, 12, months), field(0, 7, days, dow=True)]
    if rng.random() < 0.2:
        parts.insert(0, field(0, 59))
    return " ".join(parts)


def main():
    rng = random.Random(28)
    exprs = sorted(curated()) + [random_expr(rng) for _ in range(800)]
    seen, cases = set(), []
    for expr in exprs:
        if expr in seen:
            continue
        seen.add(expr)
        result = oracle(expr)
        case = {"expr": expr, "valid": result is not None}
        if result is not None:
            case["next_utc"] = result
        cases.append(case)
    json.dump({"oracle": "cronsim " + cronsim.__version__ if hasattr(cronsim, "__version__") else "cronsim 2.8",
               "start": START.isoformat(), "cases": cases}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
