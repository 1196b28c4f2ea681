"""ZOMBIE connections: CLOSE_WAIT (Redis closed, the client kept its fd), and
idle clients against the ones that only wait (a blocking command, a
subscriber, MONITOR), live and replayed."""
import json
import os
import re
import subprocess
import sys
import time

from harness import (RCLEAK, Client, Rcleak, Redis, check, expect_row, fields, mkdtemp, proc_row, spawn, ss_count,
                     ss_states, wait_until)

TESTS = ["test_close_wait", "test_close_wait_before_start", "test_zombie_waiting_clients",
         "test_zombie_monitor_client", "test_zombie_waiting_replayed"]

# A client that sends one command and then waits for its reply (BLPOP),
# or its messages (SUBSCRIBE, MONITOR), holding the connection.
WAITER = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
cmd = sys.argv[2:]
s.sendall(("*%d\r\n" % len(cmd) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in cmd)).encode())
if cmd[0] == "SUBSCRIBE":
    s.recv(4096)  # the subscribe confirmation
print("READY", flush=True)
sys.stdin.read()
"""


def test_close_wait():
    """Redis drops 8 of a client's 20 connections; the client keeps its fds."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    c = Client("hold", ["--target", "127.0.0.1:%d:20" % r.port], name="rclt-cw")
    ports = c.cmd("ports", "PORTS")[1:]
    check(len(ports) == 20, "client reported %d ports" % len(ports))
    for p in ports[:8]:
        out = r.cli("CLIENT", "KILL", "ADDR", "127.0.0.1:%s" % p)
        check(out.strip() in ("1", "OK"), "CLIENT KILL ADDR 127.0.0.1:%s: %r" % (p, out))
    wait_until(lambda: ss_count(c.pid, [r.port], "CLOSE-WAIT") == 8,
               what="8 CLOSE-WAIT sockets in ss")
    st = ss_states(c.pid, [r.port])
    check(st.get("CLOSE-WAIT") == 8 and st.get("ESTAB") == 12,
          "ground truth states for the client: %s" % st)
    expect_row(rc, c.pid, {"close_wait": st["CLOSE-WAIT"], "established": st["ESTAB"],
                           "open": 20}, what="CLOSE_WAIT")
    # a second rcleak, started now, must find the CLOSE_WAIT sockets in its snapshot
    rc2 = Rcleak(["-p", str(r.port)])
    row = proc_row(rc2.first, c.pid)
    check(row is not None and row.get("close_wait") == 8 and row.get("open") == 20,
          "second rcleak, first line: %s, expected close_wait=8 open=20"
          % fields(row, "open", "close_wait", "established"))
    check(ss_states(c.pid, [r.port]) == st, "ground truth changed: %s" % ss_states(c.pid, [r.port]))
    # stopping the second instance must not disturb the first
    rc2.close()
    check(rc2.proc.returncode == 0, "second rcleak exit status %s after SIGINT" % rc2.proc.returncode)
    c.cmd("close 5", "CLOSED")       # the first 5 are CLOSE_WAIT ones
    st = ss_states(c.pid, [r.port])
    check(st.get("CLOSE-WAIT") == 3 and st.get("ESTAB") == 12, "ground truth after close 5: %s" % st)
    expect_row(rc, c.pid, {"close_wait": 3, "established": 12, "open": 15},
               what="first rcleak after the second one stopped")


def test_close_wait_before_start():
    """CLOSE_WAIT sockets left for longer than --zombie before rcleak
    started are zombies in its first output, not timed from its start
    (the kernel's stamp of the last ACK received, the peer's FIN's); those
    that entered CLOSE_WAIT just before it started are not."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:8" % r.port], name="rclt-cwold")
    ports = c.cmd("ports", "PORTS")[1:]
    check(len(ports) == 8, "client reported %d ports" % len(ports))

    def kill(ps):
        for p in ps:
            out = r.cli("CLIENT", "KILL", "ADDR", "127.0.0.1:%s" % p)
            check(out.strip() in ("1", "OK"), "CLIENT KILL ADDR 127.0.0.1:%s: %r" % (p, out))
    kill(ports[:3])
    wait_until(lambda: ss_count(c.pid, [r.port], "CLOSE-WAIT") == 3,
               what="3 CLOSE-WAIT sockets in ss")
    time.sleep(6)  # state, not an assertion: they stay in CLOSE_WAIT this long
    young = time.monotonic()
    kill(ports[3:5])
    wait_until(lambda: ss_count(c.pid, [r.port], "CLOSE-WAIT") == 5,
               what="5 CLOSE-WAIT sockets in ss")
    rc = Rcleak(["-p", str(r.port), "--zombie", "4"])
    young = time.monotonic() - young
    st = ss_states(c.pid, [r.port])
    check(st.get("CLOSE-WAIT") == 5 and st.get("ESTAB") == 3, "ground truth states: %s" % st)
    row = proc_row(rc.first, c.pid)
    # the 3 old ones: in CLOSE_WAIT for over 6 s, past --zombie 4; the 2
    # young ones for under `young` s (past it too only if rcleak took that
    # long to start)
    want = 3 if young < 4 else 5
    check(row is not None and row.get("close_wait") == 5 and row.get("verdict") == "ZOMBIE" and
          row.get("zombies") == want,
          "first line: %s, expected close_wait=5 zombies=%d verdict=ZOMBIE"
          % (fields(row, "close_wait", "zombies", "verdict", "rule"), want))


def test_zombie_waiting_clients():
    """A silent client is a ZOMBIE after --zombie-idle; a subscriber and a
    client blocked in BLPOP, as silent, are not when --ask-redis lets
    CLIENT LIST say they wait (flags P and b). Without --ask-redis all
    three count."""
    r = Redis()
    silent = Client("hold", ["--target", "127.0.0.1:%d:1" % r.port], name="rclt-silent")
    waiters = []
    for cmd in (["SUBSCRIBE", "rclt-ch"], ["BLPOP", "rclt-list", "0"]):
        w = spawn([sys.executable, "-c", WAITER, str(r.port)] + cmd, "waiter " + cmd[0])
        check(w.stdout.readline() == b"READY\n", "%s client did not start" % cmd[0])
        waiters.append(w)
    listed = r.cli("CLIENT", "LIST")
    flags = re.findall(r"flags=(\S+)", listed)
    check(sum("P" in f for f in flags) == 1 and sum("b" in f for f in flags) == 1,
          "ground truth: CLIENT LIST flags %s, expected one P (subscriber) and one b (blocked)" % flags)
    time.sleep(2.5)  # all three silent past --zombie-idle 2
    for args, want in ((["--ask-redis"], 1), ([], 3)):
        rc = Rcleak(["-p", str(r.port), "--zombie-idle", "2"] + args)
        expect_row(rc, r.pid, {"zombies": want, "verdict": "ZOMBIE"},
                   what="redis-server with a silent client, a subscriber and a blocked client %s"
                   % " ".join(args))
        rc.close()
    for w in waiters:
        w.stdin.close()
        w.wait(10)
    silent.exit()


def test_zombie_monitor_client():
    """A MONITOR client (redis-cli monitor) only reads: it sends nothing
    after MONITOR, and Redis's own idle timeout spares it as it spares
    subscribers and blocked clients. With --ask-redis, CLIENT LIST says so
    (flags O): past --zombie-idle only the plain silent client is a zombie,
    not the monitor."""
    r = Redis()
    silent = Client("hold", ["--target", "127.0.0.1:%d:1" % r.port], name="rclt-silent")
    mon = spawn([sys.executable, "-c", WAITER, str(r.port), "MONITOR"], "waiter MONITOR")
    check(mon.stdout.readline() == b"READY\n", "MONITOR client did not start")
    wait_until(lambda: "O" in "".join(re.findall(r"flags=(\S+)", r.cli("CLIENT", "LIST"))),
               what="ground truth: CLIENT LIST shows the monitor (flags O)")
    time.sleep(2.5)  # both silent past --zombie-idle 2
    rc = Rcleak(["-p", str(r.port), "--zombie-idle", "2", "--ask-redis"])
    expect_row(rc, r.pid, {"zombies": 1, "verdict": "ZOMBIE"},
               what="redis-server with a silent client and a MONITOR client, --ask-redis")
    rc.close()
    mon.stdin.close()
    mon.wait(10)
    silent.exit()


def test_zombie_waiting_replayed():
    """record --ask-redis --json prints the live lines, and report --replay
    --json must give back the same verdicts: a server whose only client is
    a subscriber silent past --zombie-idle is ok live (CLIENT LIST says it
    waits), so it is ok in the replay and in the report's summary too, not
    ZOMBIE."""
    r = Redis()
    w = spawn([sys.executable, "-c", WAITER, str(r.port), "SUBSCRIBE", "rclt-ch"], "waiter SUBSCRIBE")
    check(w.stdout.readline() == b"READY\n", "subscriber did not start")
    check("P" in "".join(re.findall(r"flags=(\S+)", r.cli("CLIENT", "LIST"))),
          "ground truth: CLIENT LIST shows no subscriber (flags P)")
    time.sleep(2.5)  # silent past --zombie-idle 2
    d = mkdtemp("rcl-waitrec")
    cap = os.path.join(d, "wait.rcl")
    rec = subprocess.run([RCLEAK, "record", "-w", cap, "-p", str(r.port), "--ask-redis", "--zombie-idle", "2",
                          "--json", "-i", "0.5", "-d", "2"], capture_output=True, text=True, timeout=60)
    check(rec.returncode == 0, "record exited %d: %s" % (rec.returncode, rec.stderr[-300:]))
    live = [(proc_row(json.loads(l), r.pid) or {}).get("verdict") for l in rec.stdout.splitlines() if l.strip()]
    check(live and set(live) == {"ok"}, "record --json: server verdicts %s, expected ok" % live)
    rep = subprocess.run([RCLEAK, "report", cap, "--replay", "--json", "--speed", "1000"],
                         capture_output=True, text=True, timeout=60)
    check(rep.returncode == 0, "report --replay exited %d: %s" % (rep.returncode, rep.stderr[-300:]))
    replayed = [(proc_row(json.loads(l), r.pid) or {}).get("verdict") for l in rep.stdout.splitlines() if l.strip()]
    check(replayed == live, "report --replay --json: server verdicts %s, live %s" % (replayed, live))
    summ = subprocess.run([RCLEAK, "report", cap, "--json"], capture_output=True, text=True, timeout=60)
    procs = [p for p in json.loads(summ.stdout)["files"][0]["processes"] if p["pid"] == r.pid]
    check(procs and not procs[0].get("verdicts"), "report --json: server %s, expected no verdict" % procs)
    w.stdin.close()
    w.wait(10)
