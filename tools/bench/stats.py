#!/usr/bin/env python3
"""stats.py - min/median/max of benchmark samples.

As a module: summary(values) -> {"n", "min", "median", "max"} (None-safe).
As a command: numbers on stdin, one per line -> that JSON object, or with
--text "median X (min A, max B, N samples)".
"""
import json
import statistics
import sys


def summary(values, digits=4):
    vals = sorted(float(v) for v in values if v is not None)
    if not vals:
        return {"n": 0, "min": None, "median": None, "max": None}
    r = lambda x: round(x, digits)
    return {"n": len(vals), "min": r(vals[0]), "median": r(statistics.median(vals)), "max": r(vals[-1])}


def text(s, fmt="%.4g", unit=""):
    if not s or not s.get("n"):
        return "n/a"
    return "%s%s (%s–%s, n=%d)" % (fmt % s["median"], unit, fmt % s["min"], fmt % s["max"], s["n"])


if __name__ == "__main__":
    s = summary(l.strip() for l in sys.stdin if l.strip())
    if "--text" in sys.argv:
        print(text(s))
    else:
        print(json.dumps(s))
