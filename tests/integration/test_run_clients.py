"""`rcleak run -- CMD` against real client libraries: its verdicts.

The programs under tests/clients/ (redis-py, ioredis, hiredis) each print one
"DONE ... pid=P comm=C opened=N closed=M open=O" line: what the library itself
did.  rcleak's verdicts (LEAK, CHURN, CLOSE_WAIT, a server's accepted
connections; --json, the rules, the stderr summary, the exit status) are
checked against that report and against Redis's own INFO counters and ss.

The client programs, Redis's counters, class Run and what the tests need
installed (a missing client library skips a test): run_harness.py.

Run alone:  python3 tests/integration/test_run_clients.py [-k NAME]
"""
import os
import sys

import harness
from harness import Fail, Redis, check, mkdtemp, ss_states, wait_until
from run_harness import (RULES, SET, Run, _descendants, _finish, expect, expect_detail_names,
                         expect_rules, need_c, need_node, need_py, parse_done, prow, redis_delta,
                         rule, summary_checks, total_connections, wait_redis_idle)

TESTS = ["test_run_py_leak", "test_run_py_leak_gc", "test_run_py_churn", "test_run_py_pool",
         "test_run_node_leak", "test_run_node_shared",
         "test_run_c_leak", "test_run_c_churn", "test_run_c_reuse",
         "test_run_churn_thresholds", "test_run_churn_short_lived", "test_run_churn_one_shot",
         "test_run_unittest_not_churn",
         "test_run_leak_early",
         "test_run_churn_slow",
         "test_run_close_wait", "test_run_churn_window"]


def run_app(prog, mode, n, rate, rc_args, want_rc, extra=()):
    """A fresh Redis; `rcleak run -p PORT rc_args -- prog mode PORT n rate extra`.
    Checks the exit status and Redis's count of accepted connections against
    the program's report.  Returns (redis, run, json, DONE dict)."""
    r = Redis()
    before = total_connections(r)
    cmd = list(prog) + [mode, str(r.port), str(n), str(rate)] + [str(x) for x in extra]
    run = Run(["-p", str(r.port)] + list(rc_args), cmd)
    try:
        rc = run.wait()
        done = parse_done(run.out(), " ".join(cmd))
        check(rc == want_rc, "exit status %r, expected %r (the program reports %s); %s"
              % (rc, want_rc, done, run.describe()))
        js = run.load_json()
    finally:
        run.cleanup()
    check(done["requests"] == n, "the program reports %s, expected requests=%d" % (done, n))
    accepted = redis_delta(r, before)
    check(accepted == done["opened"], "ground truth: Redis accepted %d connections, the program "
          "reports opened=%d" % (accepted, done["opened"]))
    return r, run, js, done


def _leak_case(prog, mode, n, rate):
    """Leaking program under --max-leaked 0 --max-open 2n: exit 5, leaked == n."""
    r, run, js, done = run_app(prog, mode, n, rate, ["--max-leaked", "0", "--max-open", str(2 * n)], 5)
    check(done["opened"] == n and done["open"] == n, "the program reports %s" % done)
    wait_redis_idle(r, "after the program exited (the kernel closes what it left open)")
    pid, comm = done["pid"], done["comm"]
    row = prow(js, pid)
    expect(row, {"comm": comm, "role": "client", "leaked": n, "opened": n, "closed": 0,
                 "open_at_end": 0, "peak_open": n, "verdict": "LEAK", "exited": True},
           "--json process %d (%s), the program reports %s" % (pid, comm, done))
    expect(js["totals"], {"opened": n, "closed": 0, "leaked": n, "open_at_end": 0}, "--json totals")
    expect(js, {"result": "fail", "exit_code": 5, "cmd_exit": 0, "cmd_signal": None}, "--json")
    expect_rules(js, {"max-leaked": (0, n, False), "max-open": (2 * n, n, True)})
    expect_detail_names(js, "max-leaked", pid, comm)
    summary_checks(run, pid, comm, "LEAK", {"max-leaked": "FAIL", "max-open": "PASS"})


def _churn_case(prog, mode, n, rate, max_churn):
    """connect/request/close per request at rate/s: CHURN; with --max-churn
    below the rate, exit 5; with no thresholds, exit 0 and only reported."""
    rc_args = ["--max-leaked", "0", "--max-churn", str(max_churn)] if max_churn else []
    r, run, js, done = run_app(prog, mode, n, rate, rc_args, 5 if max_churn else 0)
    check(done["opened"] == n and done["closed"] == n, "the program reports %s" % done)
    check(r.connected_clients() == 0, "ground truth: Redis still has clients")
    pid, comm = done["pid"], done["comm"]
    row = prow(js, pid)
    what = "--json process %d (%s), the program reports %s" % (pid, comm, done)
    expect(row, {"comm": comm, "role": "client", "opened": n, "closed": n, "leaked": 0,
                 "open_at_end": 0, "verdict": "CHURN", "exited": True, "close_wait_max": 0}, what)
    check(row["peak_open"] <= 1, "%s: peak_open=%r, expected <= 1 (one connection at a time)"
          % (what, row["peak_open"]))
    med = row["median_lifetime_ms"]
    check(med is not None and 0 <= med < 1000, "%s: median_lifetime_ms=%r, expected < 1000"
          % (what, med))
    check(row["max_churn_per_s"] >= 5 and row["connects_per_s"] > 0,
          "%s: max_churn_per_s=%r connects_per_s=%r at %s connects/s"
          % (what, row["max_churn_per_s"], row["connects_per_s"], rate))
    expect(js["totals"], {"opened": n, "closed": n, "leaked": 0, "open_at_end": 0}, "--json totals")
    if max_churn:
        expect(js, {"result": "fail", "exit_code": 5, "cmd_exit": 0}, "--json")
        expect_rules(js, {"max-leaked": (0, 0, True), "max-churn": (max_churn, None, False)})
        v = rule(js, "max-churn")["value"]
        check(v > max_churn and v <= rate * 2,
              "rule max-churn value=%r, expected above the threshold %s (program ran at %s/s)"
              % (v, max_churn, rate))
        expect_detail_names(js, "max-churn", pid, comm)
        summary_checks(run, pid, comm, "CHURN", {"max-churn": "FAIL", "max-leaked": "PASS"})
    else:
        expect(js, {"result": "pass", "exit_code": 0, "cmd_exit": 0}, "--json")
        expect_rules(js, {})
        summary_checks(run, pid, comm, "CHURN", {})


def _pooled_case(prog, mode, n, rate, extra, limit):
    """Pooled / shared connections under an SRE's thresholds: exit 0, all pass."""
    rc_args = ["--max-leaked", "0", "--max-churn", "20", "--max-open", str(limit),
               "--max-connects", str(limit), "--fail-on-close-wait"]
    r, run, js, done = run_app(prog, mode, n, rate, rc_args, 0, extra)
    k = done["opened"]
    check(1 <= k <= limit and done["closed"] == k, "the program reports %s (pool size %d)"
          % (done, limit))
    check(r.connected_clients() == 0, "ground truth: Redis still has clients")
    pid, comm = done["pid"], done["comm"]
    row = prow(js, pid)
    what = "--json process %d (%s), the program reports %s" % (pid, comm, done)
    expect(row, {"comm": comm, "role": "client", "opened": k, "closed": k, "leaked": 0,
                 "open_at_end": 0, "verdict": "ok", "exited": True, "close_wait_max": 0}, what)
    check(1 <= row["peak_open"] <= k, "%s: peak_open=%r, expected 1..%d" % (what, row["peak_open"], k))
    check(row["max_churn_per_s"] <= 20, "%s: max_churn_per_s=%r" % (what, row["max_churn_per_s"]))
    expect(js["totals"], {"opened": k, "closed": k, "leaked": 0, "open_at_end": 0}, "--json totals")
    expect(js, {"result": "pass", "exit_code": 0, "cmd_exit": 0, "cmd_signal": None}, "--json")
    expect_rules(js, {"max-leaked": (0, 0, True), "max-churn": (20, None, True),
                      "max-open": (limit, row["peak_open"], True), "max-connects": (limit, k, True),
                      "close-wait": (SET, 0, True)})
    summary_checks(run, pid, comm, None, {n: "PASS" for n in RULES})


# --- redis-py ----------------------------------------------------------------


def test_run_py_leak():
    """redis-py: a new redis.Redis() per request, never closed -> exit 5, LEAK."""
    _leak_case(need_py(), "leak", 50, 100)


def test_run_py_leak_gc():
    """redis-py: a new redis.Redis() per request, never closed, normal exit.
    CPython closes what it still references at shutdown, so these are the
    program's closes, not leaks at exit (README); the peak catches it:
    --max-open 10 fails with peak_open == n, --max-leaked 0 passes."""
    n = 50
    r, run, js, done = run_app(need_py(), "leak-gc", n, 100, ["--max-leaked", "0", "--max-open", "10"], 5)
    check(done["opened"] == n and done["open"] == n, "the program reports %s" % done)
    wait_redis_idle(r, "after the program exited")
    pid, comm = done["pid"], done["comm"]
    row = prow(js, pid)
    expect(row, {"comm": comm, "role": "client", "peak_open": n, "opened": n, "closed": n,
                 "leaked": 0, "open_at_end": 0, "exited": True},
           "--json process %d (%s), the program reports %s" % (pid, comm, done))
    expect(js, {"result": "fail", "exit_code": 5, "cmd_exit": 0}, "--json")
    expect_rules(js, {"max-leaked": (0, 0, True), "max-open": (10, n, False)})
    expect_detail_names(js, "max-open", pid, comm)


def test_run_py_churn():
    """redis-py: a new client per request, closed -> CHURN; --max-churn 10 -> exit 5."""
    _churn_case(need_py(), "churn", 100, 50, 10)


def test_run_py_pool():
    """redis-py: one ConnectionPool(max_connections=4) for 4 threads -> exit 0."""
    _pooled_case(need_py(), "pool", 200, 100, [4], 4)


# --- ioredis -------------------------------------------------------------------


def test_run_node_leak():
    """ioredis: new Redis() per request, never quit(), process.exit() -> exit 5."""
    _leak_case(need_node(), "leak", 50, 100)


def test_run_node_shared():
    """ioredis: one shared client -> exit 0, one connection."""
    _pooled_case(need_node(), "shared", 100, 50, [], 1)


# --- hiredis -------------------------------------------------------------------


def test_run_c_leak():
    """hiredis: redisConnect per request without redisFree, as fast as it goes."""
    _leak_case(need_c(), "leak", 100, 0)


def test_run_c_churn():
    """hiredis: redisConnect + redisFree per request, no thresholds: exit 0, CHURN reported."""
    _churn_case(need_c(), "free", 100, 50, None)


def test_run_c_reuse():
    """hiredis: one connection reused -> exit 0."""
    _pooled_case(need_c(), "reuse", 100, 50, [], 1)


def test_run_churn_thresholds():
    """--churn-rate moves the CHURN verdict: 50 connects/s is ok under
    --churn-rate 1000; 3 connects/s is ok by default (5) and CHURN under 2."""
    app = need_c()
    for n, rate, args, verdict in ((50, 50, ["--churn-rate", "1000"], "ok"),
                                   (6, 3, [], "ok"),
                                   (6, 3, ["--churn-rate", "2"], "CHURN")):
        _r, run, js, done = run_app(app, "free", n, rate, args, 0)
        row = prow(js, done["pid"])
        check(row["verdict"] == verdict and row["opened"] == n and row["closed"] == n,
              "%d connect/close at %d/s with %s: %s, expected verdict %s opened=closed=%d"
              " (connects_per_s=%r, median_lifetime_ms=%r)"
              % (n, rate, " ".join(args) or "default thresholds", row["verdict"], verdict, n,
                 row["connects_per_s"], row["median_lifetime_ms"]))
        expect(js, {"result": "pass", "exit_code": 0}, "--json (no rule set)")


MIN_LIFE = 0.1   # README: a life under 0.1 s counts as 0.1 s for connects/s


def _churn_life_run(r, k, pace, interval, max_churn, want_rc):
    """hiredis_app doing k connect/PING/close at pace/s (0: flat out), as a
    grandchild (CMD goes on after it exits, so that only rcleak itself can
    date that exit), under --max-churn max_churn.  Returns the DONE line and
    the program's --json row."""
    app = need_c()[0]
    cmd = ["sh", "-c", '"$0" free "$1" "$2" "$3"; sleep 1', app, str(r.port), str(k), str(pace)]
    before = total_connections(r)
    args = ["-p", str(r.port), "--max-churn", str(max_churn)] + (["-i", interval] if interval else [])
    run = Run(args, cmd)
    rc, done, js = _finish(run)
    check(done["opened"] == k and done["closed"] == k, "the program reports %s" % done)
    check(redis_delta(r, before) == k, "ground truth: Redis accepted %d, expected %d"
          % (redis_delta(r, before), k))
    what = "%d connects at %s/s in %ss (%s), -i %s, --max-churn %s" % (
        k, pace or "max", done["elapsed"], done, interval or "default", max_churn)
    check(rc == want_rc, "%s: exit status %r, expected %r; %s" % (what, rc, want_rc, run.describe()))
    expect(prow(js, done["pid"]), {"opened": k, "closed": k, "exited": True}, "--json: " + what)
    expect_rules(js, {"max-churn": (max_churn, None, want_rc == 0)})
    return done, prow(js, done["pid"]), what


def test_run_churn_short_lived():
    """k = 20 connect/close pairs flat out by a process that exits while CMD
    goes on: over its whole life (taken as at least 0.1 s) that is more than
    50/s as long as it lived under 0.4 s (checked on its own elapsed time),
    so --max-churn 50 fails: exit 5 under the default -i, -i 1 and -i 2
    alike (20 over -i would pass)."""
    r = Redis()
    k, thr = 20, 50
    for interval in (None, "1", "2"):
        done, row, what = _churn_life_run(r, k, 0, interval, thr, 5)
        elapsed = float(done["elapsed"])
        check(k / max(elapsed, MIN_LIFE) > 1.25 * thr, "%s: too slow a machine for this test: "
              "the program's own rate %.1f/s is not well above %d/s" % (what, k / elapsed, thr))
        # it lived at least `elapsed`: its rate is at most k / max(elapsed, 0.1)
        cap = k / max(elapsed, MIN_LIFE) + 0.01
        check(thr < row["max_churn_per_s"] <= cap and row["connects_per_s"] <= cap,
              "%s: max_churn_per_s=%r connects_per_s=%r, expected above %s and at most %.2f"
              % (what, row["max_churn_per_s"], row["connects_per_s"], thr, cap))


# A unittest module: 3 tests, each with a redis-py client of its own,
# closed (RPORT in the environment).


UNITTEST_SUITE = r"""
import os, unittest, redis
PORT = int(os.environ["RPORT"])
class T(unittest.TestCase):
    def run_one(self):
        r = redis.Redis(port=PORT)
        r.set("k", "v")
        self.assertEqual(r.get("k"), b"v")
        r.connection_pool.disconnect()
    test_a = test_b = test_c = run_one
"""


def test_run_unittest_not_churn():
    """`python3 -m unittest` of 3 tests with a redis-py client each (Redis
    accepted 3 connections) lives about 0.1 s: its row said CHURN, 3
    connections over 0.1 s read as 30/s, where the live view needs the rate
    over half its window (a burst is not churn). --max-churn, which counts
    short lives so, still reads 30; the verdict is ok."""
    py = need_py()[0]
    r = Redis()
    d = mkdtemp("rcleak-unittest-")
    with open(os.path.join(d, "test_three.py"), "w") as f:
        f.write(UNITTEST_SUITE)
    before = total_connections(r)
    env = dict(os.environ, RPORT=str(r.port), PYTHONPATH=d)
    run = Run(["-p", str(r.port)], [py, "-m", "unittest", "test_three"], env=env)
    check(run.wait() == 0, "exit %s: %s" % (run.rc, run.describe()))
    check(redis_delta(r, before) == 3, "ground truth: Redis accepted %d connections, expected 3"
          % redis_delta(r, before))
    js = run.load_json()
    rows = [p for p in js["processes"] if p["opened"]]
    check(len(rows) == 1 and rows[0]["opened"] == 3 and rows[0]["closed"] == 3,
          "--json rows: %s" % js["processes"])
    check(rows[0]["verdict"] == "ok", "a unittest run that made 3 connections: verdict %s "
          "(connects_per_s %s)" % (rows[0]["verdict"], rows[0]["connects_per_s"]))


def test_run_churn_one_shot():
    """One connect/close by a process that lives a few ms (redis-cli ping's
    pattern): one connect is no rate, so --max-churn 1 passes and its
    verdict is not CHURN."""
    r = Redis()
    done, row, what = _churn_life_run(r, 1, 0, None, 1, 0)
    check(row["connects_per_s"] <= 1 / 5 + 0.01 and row.get("verdict") != "CHURN",
          "%s: connects_per_s=%r verdict=%r, expected 1 over the 5 s window and not CHURN"
          % (what, row["connects_per_s"], row.get("verdict")))


def test_run_leak_early():
    """A grandchild that leaks 5 connections and exits long before CMD ends
    (4 s after, twice --window 2): its leaks are still in the summary, and
    --max-leaked 0 fails."""
    app = need_c()[0]
    r = Redis()
    cmd = ["sh", "-c", '"$0" leak "$1" 5 0; sleep 4', app, str(r.port)]
    run = Run(["-p", str(r.port), "--max-leaked", "0", "--window", "2"], cmd)
    rc, done, js = _finish(run)
    check(done["opened"] == 5 and done["open"] == 5, "the program reports %s" % done)
    check(rc == 5, "exit status %r, expected 5; %s" % (rc, run.describe()))
    expect(prow(js, done["pid"]), {"leaked": 5, "opened": 5, "exited": True, "verdict": "LEAK"},
           "--json: the early leaker %d" % done["pid"])
    expect_rules(js, {"max-leaked": (0, 5, False)})


def test_run_churn_slow():
    """k = 10 connect/close pairs at 4/s, over more than 2 s (its own
    elapsed time): over its whole life that is at most k / elapsed < 5/s, so
    --max-churn 8 passes: exit 0 under the default -i and -i 0.1 (a rate
    taken between two refreshes 0.1 s apart would not)."""
    r = Redis()
    k, thr = 10, 8
    for interval in (None, "0.1"):
        done, row, what = _churn_life_run(r, k, 4, interval, thr, 0)
        elapsed = float(done["elapsed"])
        check(elapsed > 2, "%s: the program took %.3fs, expected over 2 s" % (what, elapsed))
        cap = k / elapsed + 0.01
        check(0 < row["max_churn_per_s"] <= cap and 0 < row["connects_per_s"] <= cap,
              "%s: max_churn_per_s=%r connects_per_s=%r, expected at most %.2f (k / elapsed)"
              % (what, row["max_churn_per_s"], row["connects_per_s"], cap))


def test_run_close_wait():
    """A client that keeps 3 connections Redis closed (QUIT) in CLOSE_WAIT for
    2.5 s, then frees them: --fail-on-close-wait -> exit 5; nothing leaked.
    (They count once held --zombie, 1 s in run mode: 2.5 s leaves a refresh,
    every 0.5 s, between 1 s and their close.)"""
    app = need_c()[0]
    r = Redis()
    before = total_connections(r)
    run = Run(["-p", str(r.port), "--fail-on-close-wait", "--max-leaked", "0"],
              [app, "closewait", str(r.port), "3", "2.5"])
    seen = {}

    def close_wait_in_ss():
        for pid, comm in _descendants(run.pid):
            if comm == "hiredis_app":
                seen[pid] = ss_states(pid, [r.port])
                return seen[pid].get("CLOSE-WAIT", 0) == 3
        return False
    try:
        try:
            wait_until(close_wait_in_ss, timeout=10, what="")
        except Fail:
            raise Fail("ground truth: expected 3 CLOSE-WAIT sockets of hiredis_app in ss, saw %s"
                       % seen)
        rc = run.wait()
        done = parse_done(run.out())
        check(rc == 5, "exit status %r, expected 5; %s" % (rc, run.describe()))
        js = run.load_json()
    finally:
        run.cleanup()
    check(redis_delta(r, before) == 3 and done["opened"] == 3 and done["closed"] == 3,
          "ground truth: Redis accepted %d; the program reports %s" % (redis_delta(r, before), done))
    pid, comm = done["pid"], done["comm"]
    expect(prow(js, pid), {"comm": comm, "opened": 3, "closed": 3, "leaked": 0, "open_at_end": 0,
                           "close_wait_max": 3, "exited": True},
           "--json process %d (%s), the program reports %s" % (pid, comm, done))
    expect_rules(js, {"close-wait": (SET, None, False), "max-leaked": (0, 0, True)})
    check(rule(js, "close-wait")["value"] >= 1, "rule close-wait value %r" % rule(js, "close-wait"))
    expect_detail_names(js, "close-wait", pid, comm)
    summary_checks(run, pid, comm, None, {"close-wait": "FAIL", "max-leaked": "PASS"})


def test_run_churn_window():
    """--max-churn is the most connects in any --window (5 s unless given),
    as README says: `rcleak help run` said "the most in any 5 s" whatever
    --window was. 30 connects at once by a process that lives 11 s, under
    --window 10: 3 connects/s (30 in 10 s), not the 6 of 5 s, so
    --max-churn 4 passes."""
    rc, out, err = harness.run_rcleak(["help", "run"], timeout=10)
    text = " ".join(out.split())
    m = text.find("--max-churn RATE")
    check(rc == 0 and m >= 0, "`rcleak help run`: rc %r, no --max-churn in %r" % (rc, out[:300]))
    desc = text[m:text.find("--fail-on-close-wait", m)]
    check("--window" in desc and "any 5 s" not in desc,
          "`rcleak help run` describes --max-churn as %r: no word of --window, which sets its window"
          % desc)
    r = Redis()
    burst = ("import socket, sys, time\n"
             "for _ in range(30):\n"
             "    socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close()\n"
             "time.sleep(11)\n")
    run = Run(["-p", str(r.port), "--window", "10", "--max-churn", "4"],
              [sys.executable, "-c", burst, str(r.port)])
    try:
        rc = run.wait(timeout=60)
        js = run.load_json()
    finally:
        run.cleanup()
    rows = [p for p in js["processes"] if p["opened"] == 30]
    check(len(rows) == 1, "--json: no process with the 30 connects: %s" % js["processes"])
    check(rows[0]["max_churn_per_s"] == 3.0 and rc == 0,
          "30 connects at once, a life of 11 s, --window 10 --max-churn 4: max_churn_per_s %r "
          "(expected 3.0: 30 in 10 s), exit status %r (expected 0); %s"
          % (rows[0]["max_churn_per_s"], rc, run.describe()))


# A process that listens on a watched port, accepts k connections (from the
# test, outside CMD's tree) and opens n of its own to a real redis-server on
# another watched port, PINGs on each, says READY, and once the gate file
# exists exits with os._exit: every socket left to the kernel.  A proxy
# (twemproxy, envoy) or a Sentinel, in small.


if __name__ == "__main__":
    import runner
    runner.MODULES = ["test_run_clients"]
    sys.exit(runner.main(sys.argv[1:]))
