"""Verdicts against what a client does by construction, checked with ss:
growth that is a one-time step is not a leak, while steady growth is.

Run alone:  python3 tests/integration/runner.py -k verdict_
"""
import sys
import time

from harness import HOLD_THEN_MORE, Redis, Rcleak, check, proc_row, spawn, ss_count
from record_harness import BgClient

TESTS = ["test_verdict_step_not_leak"]


def test_verdict_step_not_leak():
    """A client holds 3 connections for 5 s, then opens 2 more at once and
    holds all 5 (ss). Under --window 8 the step's slope over the window is
    ~20/min for seconds after it, and was LEAK; no refresh says LEAK now.
    A steady leaker under the same rcleak is LEAK (the rule still fires)."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port), "--window", "8"])
    c = spawn([sys.executable, "-c", HOLD_THEN_MORE, str(r.port)], "hold-then-more")
    check(c.stdout.readline().strip() == b"HELD", "the client did not say HELD")
    time.sleep(5)   # state, not an assertion: the series spans half the window before the step
    c.stdin.write(b"more\n")
    c.stdin.flush()
    check(c.stdout.readline().strip() == b"MORE", "the client did not say MORE")
    check(ss_count(c.pid, [r.port]) == 5, "ground truth: ss shows %d sockets, expected 5"
          % ss_count(c.pid, [r.port]))
    rc.skip_to_now()
    leaks = []
    end = time.monotonic() + 10
    while time.monotonic() < end:
        row = proc_row(rc.line(), c.pid)
        if row is not None and row.get("verdict") == "LEAK":
            leaks.append((row.get("open"), row.get("rule")))
    check(ss_count(c.pid, [r.port]) == 5, "ground truth changed: ss shows %d sockets"
          % ss_count(c.pid, [r.port]))
    check(not leaks, "a one-time step 3 -> 5 (ss: 5 throughout) was called LEAK in %d refreshes: %s"
          % (len(leaks), leaks[:2]))
    steady = BgClient("hold", ["--target", "127.0.0.1:%d:60" % r.port, "--interval-ms", "200"],
                      "rclt-steady")

    def leak(obj):
        row = proc_row(obj, steady.pid)
        return (row is not None and row.get("verdict") == "LEAK",
                "the steady leaker's row: %s" % (row and {k: row.get(k) for k in ("open", "verdict", "rule")}))
    rc.wait_for(leak, timeout=20, what="a steady leaker (a connection every 200 ms) called LEAK")
