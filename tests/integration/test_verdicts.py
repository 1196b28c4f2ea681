"""Verdicts against what a client does by construction, checked with ss:
growth that is a one-time step is not a leak, while steady growth is.

Run alone:  python3 tests/integration/runner.py -k verdict_
"""
import os
import re
import select
import signal
import subprocess
import sys
import time

import harness
from harness import (HOLD_THEN_MORE, RCLEAK, Lines, Redis, Rcleak, check, expect_row, free_port, proc_row,
                     spawn, ss_accepted, ss_count, stop, wait_until)
from record_harness import BgClient

TESTS = ["test_verdict_step_not_leak", "test_refused_connects_not_connections", "test_verdict_proxy_leak",
         "test_verdict_exited_keeps_it", "test_report_churn_at_its_worst"]

# argv: DOWN_PORT UP_PORT SECS. Connects to DOWN_PORT (nothing listens) 20
# times a second for SECS, as a client retries against a stopped Redis, then
# makes 3 connections to UP_PORT (PING, close); prints "DONE refused made"
# and waits for a line on stdin.
RETRY_CLIENT = r"""
import socket, sys, time
down, up, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
refused = made = 0
end = time.monotonic() + secs
while time.monotonic() < end:
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", down))
    except ConnectionRefusedError:
        refused += 1
    s.close()
    time.sleep(0.05)
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", up))
    s.sendall(b"PING\r\n")
    s.recv(16)
    s.close()
    made += 1
print("DONE", refused, made, flush=True)
sys.stdin.readline()
"""


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


def test_refused_connects_not_connections():
    """A client retries connect() 20 times a second against a watched port
    where nothing listens (Redis down: every one refused), then makes 3 real
    connections. opened and closed count the 3 it made, not the refusals, and
    no refresh calls the retries CHURN (connect-per-request): they were
    counted as connections with a lifetime under a millisecond."""
    r = Redis()
    down = free_port()
    rc = Rcleak(["-p", "%d,%d" % (down, r.port), "--window", "4"])
    c = spawn([sys.executable, "-c", RETRY_CLIENT, str(down), str(r.port), "6"], "retry-client")
    churn = []
    line = b""
    end = time.monotonic() + 30
    while time.monotonic() < end and not line:
        row = proc_row(rc.line(), c.pid)
        if row is not None and row.get("verdict") == "CHURN":
            churn.append((row.get("opened"), row.get("rule")))
        if select.select([c.stdout], [], [], 0)[0]:
            line = c.stdout.readline()
    check(line.startswith(b"DONE"), "the client did not finish: %r" % line)
    _, refused, made = line.split()
    check(int(refused) >= 50 and int(made) == 3, "the client: %r (expected >= 50 refused, 3 made)" % line)
    check(ss_count(c.pid, [down, r.port]) == 0, "ground truth: ss shows %d sockets of the client"
          % ss_count(c.pid, [down, r.port]))
    expect_row(rc, c.pid, {"opened": 3, "closed": 3, "open": 0},
               what="a client with %s refused connects and 3 made" % refused.decode())
    check(not churn, "refused connects read as CHURN in %d refreshes: %s" % (len(churn), churn[:2]))
    c.stdin.write(b"\n")
    c.stdin.flush()


# argv: LISTEN_PORT REDIS_PORT N MS. A proxy: listens on 127.0.0.1:LISTEN_PORT
# and holds what it accepts; prints "READY"; then opens a connection to
# Redis every MS ms, N in all, and holds them (it never closes one: the
# upstream leak). Waits for stdin to close.
LEAKY_PROXY = r"""
import socket, sys, threading, time
lport, rport, n, ms = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport))
ls.listen(64)
inbound, upstream = [], []
threading.Thread(target=lambda: [inbound.append(ls.accept()) for _ in iter(int, 1)], daemon=True).start()
print("READY", flush=True)
for _ in range(n):
    upstream.append(socket.create_connection(("127.0.0.1", rport)))
    time.sleep(ms / 1000.0)
print("LEAKED", flush=True)
sys.stdin.read()
"""


def test_verdict_proxy_leak():
    """A proxy (a sidecar in front of Redis) listens on a watched port and
    leaks its upstream connections to Redis, another watched port: the
    connections it opens itself grow as a client's leak does, so it is
    LEAK. Only the connections it accepts are a server's symptom; it never
    got a verdict but FD-LIMIT or ZOMBIE."""
    r = Redis()
    port = free_port()
    p = spawn([sys.executable, "-c", LEAKY_PROXY, str(port), str(r.port), "60", "200"], "leaky proxy")
    check(p.stdout.readline() == b"READY\n", "proxy did not start")
    c = spawn([sys.executable, "-c", "import socket, sys; h = [socket.create_connection(('127.0.0.1', %d)) "
               "for _ in range(3)]; print('READY', flush=True); sys.stdin.read()" % port], "proxy's client")
    check(c.stdout.readline() == b"READY\n", "the proxy's client did not connect")
    rc = Rcleak(["-p", "%d,%d" % (port, r.port), "-i", "0.5", "--window", "8"])

    def pred(obj):
        row = proc_row(obj, p.pid)
        if row is None:
            return False, "no row for the proxy"
        return row.get("verdict") == "LEAK", "proxy: %s %r, upstream %d (ss), accepted %d (ss)" % (
            row.get("verdict"), row.get("rule"), ss_count(p.pid, [r.port]) - ss_accepted(p.pid, r.port),
            ss_accepted(p.pid, port))
    rc.wait_for(pred, timeout=30, what="the proxy leaking its upstream connections")
    up = ss_count(p.pid, [r.port])
    check(up > 3, "ground truth: ss shows the proxy holds %d upstream connections" % up)
    check(ss_accepted(p.pid, port) == 3, "ground truth: the proxy accepted %d" % ss_accepted(p.pid, port))
    rc.close()
    stop(c)
    stop(p)


def test_verdict_exited_keeps_it():
    """A client opening a connection every 100 ms is LEAK (window 4 s), then
    is killed (SIGKILL) holding them, as a leaker that hit its fd limit
    crashes. Its exited row, kept a window, keeps the verdict and rule it
    had at its last refresh alive, in --json and --plain as in the TUI:
    both said "ok" with no rule, so the process that took the slots read
    as innocent the moment it mattered most."""
    r = Redis()
    lp = spawn([sys.executable, "-u", harness.CLIENT, "--name", "rclt-xleak", "hold", "--target",
                "127.0.0.1:%d:400" % r.port, "--interval-ms", "100"], "client hold")
    leak = lp.pid
    rc = Rcleak(["-p", str(r.port), "--window", "4"])
    plain = spawn([RCLEAK, "--plain", "-i", "0.5", "--window", "4", "-p", str(r.port)], "rcleak --plain",
                  stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = Lines(plain.stdout, "rcleak --plain")
    try:
        expect_row(rc, leak, {"verdict": "LEAK", "exited": False}, timeout=30, what="the leaker judged LEAK")
        wait_until(lambda: re.search(r"^%d\s+\S+\s+client\s+LEAK\b" % leak, out.text(), re.M),
                   timeout=30, what="the leaker judged LEAK in --plain")
        os.kill(leak, signal.SIGKILL)
        lp.wait(10)
        check(ss_count(leak, [r.port]) == 0, "ground truth (ss): the killed leaker holds connections")
        row = proc_row(expect_row(rc, leak, {"exited": True}, timeout=10, what="the killed leaker's row"), leak)
        check(row.get("verdict") == "LEAK" and (row.get("rule") or "").startswith("open +"),
              "--json: the leaker, LEAK when it was killed, exited with verdict %r, rule %r"
              % (row.get("verdict"), row.get("rule")))
        n = len(out.lines)
        wait_until(lambda: any(re.match(r"^%d\s.*\(exited\)" % leak, ln) for ln in out.lines[n:]),
                   timeout=10, what="the killed leaker's row in --plain")
        lines = out.lines[n:]
        i = [k for k, ln in enumerate(lines) if re.match(r"^%d\s.*\(exited\)" % leak, ln)][0]
        check(lines[i].split()[3] == "LEAK" and i + 1 < len(lines) and
              re.match(r"^\s+LEAK: open \+", lines[i + 1]),
              "--plain: the leaker, LEAK when it was killed, exited as %r, then %r"
              % (lines[i], lines[i + 1] if i + 1 < len(lines) else None))
    finally:
        stop(plain)


def test_report_churn_at_its_worst():
    """hiredis connect-per-request (redisConnect, PING, redisFree) at 50/s
    for 7 s, recorded under --window 4. report's summary gave CHURN with
    the rule of the refresh it first fired at, when the window held only
    the storm's start: "6.2 connects/s" for a storm of 50 (the program's
    own count over its time). It also gives the rule at its worst, whose
    rate is the program's."""
    import json as _json
    from record_harness import Recorder, report
    from run_harness import need_c, parse_done
    app = need_c()[0]
    r = Redis()
    path = os.path.join(harness.mkdtemp("rcleak-churn-"), "churn.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--window", "4", "-d", "11"])
    rec.first()
    out = subprocess.run([app, "free", str(r.port), "350", "50"], capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, "hiredis_app: rc %d: %s" % (out.returncode, out.stderr[-300:]))
    done = parse_done(out.stdout, "hiredis_app")
    truth = done["opened"] / float(done["elapsed"])
    check(done["opened"] == 350 and 40 <= truth <= 52, "ground truth: hiredis_app opened %s in %ss" % (
        done["opened"], done["elapsed"]))
    check(rec.wait() == 0, "record: %s" % rec.describe())
    rc, text, err = report([path, "--json"])
    check(rc == 0, "report --json: exit %d: %s" % (rc, err))
    rows = [p for p in _json.loads(text)["files"][0]["processes"] if p["pid"] == done["pid"]]
    check(len(rows) == 1, "no row of hiredis_app %d" % done["pid"])
    churn = [v for v in rows[0]["verdicts"] if v["verdict"] == "CHURN"]
    check(churn, "hiredis_app at %.1f connects/s is not CHURN: %s" % (truth, rows[0]["verdicts"]))
    m = re.match(r"([0-9.]+) connects/s", churn[0].get("worst_rule", ""))
    check(m and 0.75 * truth <= float(m.group(1)) <= 1.25 * truth,
          "the CHURN rule at its worst: %r (first: %r), the program made %.1f connects/s" % (
              churn[0].get("worst_rule"), churn[0]["rule"], truth))
    rc, text, err = report([path])
    worst = [ln for ln in text.splitlines() if "CHURN worst at" in ln]
    check(rc == 0 and len(worst) == 1 and churn[0]["worst_rule"] in worst[0],
          "the summary's CHURN lines: %r" % [ln for ln in text.splitlines() if "CHURN" in ln])
