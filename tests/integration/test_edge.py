"""Harder cases of 'which process holds the socket now' and of the port list."""
import json
import os
import signal
import subprocess
import time

from harness import (RCLEAK, Client, Rcleak, Redis, check, expect_row, expect_server, fields,
                     free_port, mkdtemp, proc_row, run_rcleak, server_row, spawn, ss_count,
                     ss_states, stop, wait_until)

TESTS = ["test_fd_passing", "test_threads_exit", "test_implicit_close", "test_high_fd_numbers",
         "test_exec_keeps_sockets", "test_exec_new_command_line",
         "test_syn_sent", "test_ipv4_mapped_ipv6", "test_port_range", "test_ports_max_64",
         "test_preexisting_9000", "test_exited_row_expires", "test_fork_parent_exits",
         "test_source_port_watched", "test_server_two_ports", "test_parallel_churn",
         "test_short_lived_processes"]


def test_fd_passing():
    """Sockets sent over SCM_RIGHTS to a process that never connected: counted there."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    c = Client("pass", ["--target", "127.0.0.1:%d:8" % r.port], name="rclt-pass")
    sender, receiver = int(c.ready[1]), int(c.ready[2])
    ts, tr = ss_count(sender, [r.port]), ss_count(receiver, [r.port])
    check(ts == 0 and tr == 8, "ground truth: sender %d receiver %d" % (ts, tr))

    def pred(obj):
        srow, rrow = proc_row(obj, sender), proc_row(obj, receiver)
        s_open = 0 if srow is None else srow.get("open")
        ok = s_open == 0 and rrow is not None and rrow.get("open") == 8
        return ok, "sender open=%r (expected 0), receiver %s (expected open=8)" % (
            s_open, fields(rrow, "open", "established"))
    rc.wait_for(pred, what="SCM_RIGHTS")


def test_threads_exit():
    """Threads connect then exit; the process keeps the sockets."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    c = Client("threads", ["--target", "127.0.0.1:%d" % r.port, "--threads", "3",
                           "--per-thread", "5", "--exit-threads"], name="rclt-thx")
    # pthread_join() returns at the futex wake in mm_release(), a moment
    # before the kernel unlists the thread: wait for /proc to catch up
    wait_until(lambda: os.listdir("/proc/%d/task" % c.pid) == [str(c.pid)], timeout=5,
               what="ground truth: the connecting threads to be gone from /proc/%d/task" % c.pid)
    truth = ss_count(c.pid, [r.port])
    check(truth == 15, "ground truth: ss %d" % truth)
    expect_row(rc, c.pid, {"open": truth, "established": truth, "opened": 15, "closed": 0,
                           "exited": False}, what="after the connecting threads exited")


def test_implicit_close():
    """Sockets released by dup2() over their fd and by close_range()."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    c = Client("hold", ["--target", "127.0.0.1:%d:10" % r.port], name="rclt-dup2")
    expect_row(rc, c.pid, {"open": 10}, what="before")
    c.cmd("dup2close 4", "DUP2CLOSED")
    truth = ss_count(c.pid, [r.port])
    check(truth == 6, "ground truth after dup2: %d" % truth)
    expect_row(rc, c.pid, {"open": 6, "closed": 4}, what="after dup2() over 4 socket fds")
    c.cmd("closerange", "RANGECLOSED")
    truth = ss_count(c.pid, [r.port])
    check(truth == 0, "ground truth after close_range: %d" % truth)
    expect_row(rc, c.pid, {"open": 0, "closed": 10, "opened": 10},
               what="after close_range() over the other 6")


def test_high_fd_numbers():
    """Sockets living at fd numbers near the nofile limit (dup2 to 19990+)."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    c = Client("hold", ["--target", "127.0.0.1:%d:8" % r.port], name="rclt-hifd",
               wrap=["bash", "-c", 'ulimit -n 20000 && exec "$@"', "ulimit"])
    expect_row(rc, c.pid, {"open": 8}, what="before moving fds")
    c.cmd("movehigh 5 19990", "MOVED")
    fds = sorted(int(f) for f in os.listdir("/proc/%d/fd" % c.pid))
    check(fds[-5:] == list(range(19990, 19995)), "ground truth: fds %s" % fds[-6:])
    truth = ss_count(c.pid, [r.port])
    check(truth == 8, "ground truth %d" % truth)
    expect_row(rc, c.pid, {"open": 8, "closed": 0, "fds": len(fds)}, what="sockets at fds 19990..19994")
    c.cmd("close 5", "CLOSED")        # closes the five high ones
    check(ss_count(c.pid, [r.port]) == 3, "ground truth after close")
    expect_row(rc, c.pid, {"open": 3, "closed": 5}, what="after closing the high fds")


def test_exec_keeps_sockets():
    """A process that exec()s with its sockets inherited still holds them."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    c = Client("hold", ["--target", "127.0.0.1:%d:6" % r.port], name="rclt-exec")
    expect_row(rc, c.pid, {"open": 6}, what="before exec")
    e = c.cmd("exec", "EXECED")
    check(int(e[1]) == c.pid, "exec changed the pid")
    truth = ss_count(c.pid, [r.port])
    check(truth == 6, "ground truth after exec: %d" % truth)
    expect_row(rc, c.pid, {"open": 6, "exited": False}, what="after exec")
    c.exit()
    expect_row(rc, c.pid, {"open": 0, "exited": True, "closed": 6}, what="after the exec'd image exited")


def _proc_text(pid, name):
    with open("/proc/%d/%s" % (pid, name), "rb") as f:
        return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()


def test_exec_new_command_line():
    """A process that exec()s into another program while holding its
    connections: its row names the new program, command line included
    (the one read before the exec is another program's), live and in a
    capture's replay; then once more into a program of the same name
    (python3 into python3), which only the exec count tells."""
    r = Redis()
    d = mkdtemp("rcleak-exec-")
    cap = os.path.join(d, "exec.rcl")
    c = Client("hold", ["--target", "127.0.0.1:%d:4" % r.port], name="rclt-preexec")
    rc = Rcleak(["-p", str(r.port)])
    rec = spawn([RCLEAK, "record", "-w", cap, "-p", str(r.port), "-i", "0.5"], "rcleak record",
                stdin=subprocess.DEVNULL)
    old = _proc_text(c.pid, "cmdline")
    expect_row(rc, c.pid, {"open": 4, "comm": "rclt-preexec"}, what="before exec")
    check(c.cmd("exec", "EXECED")[1] == str(c.pid), "exec changed the pid")
    comm, cmd = _proc_text(c.pid, "comm"), _proc_text(c.pid, "cmdline")
    check(comm == "python3" and "rclient.py" not in cmd and cmd != old,
          "ground truth after exec: comm %r cmdline %r" % (comm, cmd))
    check(ss_count(c.pid, [r.port]) == 4, "ground truth after exec: ss count")

    def same_cmd(row):
        got = row.get("cmdline") or ""
        shown = got[:-3] if got.endswith("...") else got
        return bool(shown) and cmd.startswith(shown), "cmdline %r, expected (a prefix of) %r" % (got, cmd)
    expect_row(rc, c.pid, {"open": 4, "comm": comm}, also=same_cmd, what="after exec")
    check(c.cmd("exec", "EXECED")[1] == str(c.pid), "the second exec changed the pid")
    comm2, cmd = _proc_text(c.pid, "comm"), _proc_text(c.pid, "cmdline")
    check(comm2 == comm and cmd.startswith("rclt-gen2 "),
          "ground truth after the second exec: comm %r cmdline %r" % (comm2, cmd))
    check(ss_count(c.pid, [r.port]) == 4, "ground truth after the second exec: ss count")
    expect_row(rc, c.pid, {"open": 4, "comm": comm}, also=same_cmd, what="after the second exec")
    time.sleep(1.5)  # state, not an assertion: the recorder's keyframes see the exec
    stop(rec, signal.SIGINT)
    check(rec.returncode == 0, "rcleak record exit status %s" % rec.returncode)
    rcode, out, err = run_rcleak(["report", cap, "--replay", "--speed", "1000", "--json"])
    check(rcode == 0 and out.strip(), "report exit %d: %s" % (rcode, err.strip()[-300:]))
    last = json.loads(out.strip().splitlines()[-1])
    rows = [p for p in last.get("processes", []) if p.get("pid") == c.pid]
    got = [(p.get("comm"), p.get("cmdline")) for p in rows]
    check(len(rows) == 1 and same_cmd(rows[0])[0] and rows[0].get("comm") == comm,
          "report's row of pid %d: %r, expected comm %r cmdline %r" % (c.pid, got, comm, cmd))
    c.exit()


def test_syn_sent():
    """Connects stuck in SYN_SENT against a listener whose accept queue is full."""
    q = free_port()
    lst = Client("listen", ["--port", str(q), "--backlog", "0"], name="rclt-lst")
    rc = Rcleak(["-p", str(q)])
    c = Client("synsent", ["--target", "127.0.0.1:%d:6" % q], name="rclt-syn")
    wait_until(lambda: sum(ss_states(c.pid, [q]).values()) == 6, what="6 sockets in ss")
    st = ss_states(c.pid, [q])
    check(st.get("SYN-SENT", 0) >= 4, "ground truth: expected most connects in SYN-SENT: %s" % st)
    expect_row(rc, c.pid, {"open": 6, "syn_sent": st.get("SYN-SENT", 0),
                           "established": st.get("ESTAB", 0)}, what="SYN_SENT")
    srv = server_row(rc.line(), lst.pid)
    check(srv is not None and srv.get("clients") == 0 and srv.get("ports") == [q],
          "listener that never accepts: %s, expected clients=0 ports=[%d]"
          % (fields(srv, "clients", "ports"), q))
    # a second rcleak started now sees them in its snapshot (first line)
    rc2 = Rcleak(["-p", str(q)])
    row = proc_row(rc2.first, c.pid)
    check(row is not None and row.get("syn_sent") == st.get("SYN-SENT", 0) and row.get("open") == 6,
          "second rcleak, first line: %s, expected syn_sent=%d open=6"
          % (fields(row, "open", "syn_sent", "established"), st.get("SYN-SENT", 0)))
    check(ss_states(c.pid, [q]) == st, "ground truth changed during the test: %s" % ss_states(c.pid, [q]))
    lst.stop()


def test_ipv4_mapped_ipv6():
    """An AF_INET6 socket connected to ::ffff:127.0.0.1."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    c = Client("hold", ["--target", "[::ffff:127.0.0.1]:%d:9" % r.port], name="rclt-map")
    truth = ss_count(c.pid, [r.port])
    check(truth == 9, "ground truth %d" % truth)
    expect_row(rc, c.pid, {"open": 9, "established": 9, "opened": 9}, what="v4-mapped")
    n = r.connected_clients()
    expect_server(rc, r.pid, {"clients": n}, what="server with v4-mapped clients")


def test_port_range():
    """-p LO-HI with the Redis port inside the range (ground truth over the range)."""
    r = Redis()
    lo = max(1024, r.port - 2)
    hi = min(65535, lo + 5)
    ports = list(range(lo, hi + 1))
    rc = Rcleak(["-p", "%d-%d" % (lo, hi)])
    c = Client("hold", ["--target", "127.0.0.1:%d:12" % r.port], name="rclt-range")
    truth = ss_count(c.pid, ports)
    check(truth == 12, "ground truth %d" % truth)
    expect_row(rc, c.pid, {"open": truth}, what="-p %d-%d" % (lo, hi))
    obj = expect_server(rc, r.pid, {"clients": 12}, what="server in a port range")
    check(server_row(obj, r.pid).get("ports") == [r.port],
          "server ports %r, expected [%d]" % (server_row(obj, r.pid).get("ports"), r.port))


def test_ports_max_64():
    """64 ports is the maximum and must be accepted."""
    rc, out, err = run_rcleak(["--json", "-n", "1", "-i", "0.2", "-p", "20000-20063"], timeout=30)
    check(rc == 0, "-p 20000-20063 (64 ports): exit %s, expected 0 (stderr %r)" % (rc, err[-300:]))
    p64 = ",".join(str(p) for p in range(21000, 21064))
    rc, out, err = run_rcleak(["--json", "-n", "1", "-i", "0.2", "-p", p64], timeout=30)
    check(rc == 0, "-p with a list of 64 ports: exit %s, expected 0 (stderr %r)" % (rc, err[-300:]))


def test_preexisting_9000():
    """The design's incident: 9,000 connections already open when rcleak starts."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:9000" % r.port], name="rclt-9k", ready_timeout=80)
    truth = ss_count(c.pid, [r.port])
    check(truth == 9000, "ground truth: ss %d" % truth)
    n = r.connected_clients()
    check(n == 9000, "ground truth: INFO clients %d" % n)
    rc = Rcleak(["-p", str(r.port)], first_timeout=30)
    row = proc_row(rc.first, c.pid)
    srv = server_row(rc.first, r.pid)
    check(row is not None and row.get("open") == 9000,
          "first JSON line: client %s, expected open=9000" % fields(row, "open", "established"))
    check(srv is not None and srv.get("clients") == 9000,
          "first JSON line: server %s, expected clients=9000" % fields(srv, "clients"))
    c2 = Client("hold", ["--target", "[::1]:%d:300" % r.port], name="rclt-9k2")
    expect_row(rc, c2.pid, {"open": 300, "opened": 300}, what="300 more on top of 9000")
    expect_server(rc, r.pid, {"clients": 9300}, what="server with 9300 clients")
    c.cmd("close 1000", "CLOSED")
    expect_row(rc, c.pid, {"open": 8000, "closed": 1000}, what="after closing 1000 of 9000")


def test_exited_row_expires():
    """With --window 2 an exited process is listed (exited=true), then dropped."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port), "--window", "2"])
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-exp")
    expect_row(rc, c.pid, {"open": 3}, what="before exit")
    c.exit()
    expect_row(rc, c.pid, {"exited": True, "closed": 3}, what="exited row")

    def gone(obj):
        row = proc_row(obj, c.pid)
        return row is None, "row still listed: %s" % fields(row, "exited", "open")
    rc.wait_for(gone, timeout=15, what="exited row to leave after the 2 s window")


def test_fork_parent_exits():
    """Parent opens 10, forks, exits; the orphaned child holds them."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    c = Client("fork", ["--target", "127.0.0.1:%d:10" % r.port, "--orphan-child"],
               name="rclt-orph")
    parent, child = int(c.ready[1]), int(c.ready[2])
    expect_row(rc, child, {"open": 10, "shared": 10}, what="child while both hold")
    check(c.exit() == 0, "parent exit status")
    check(ss_count(child, [r.port]) == 10, "ground truth: child holds %d" % ss_count(child, [r.port]))

    def pred(obj):
        prow, crow = proc_row(obj, parent), proc_row(obj, child)
        p_ok = prow is None or (prow.get("open") == 0 and prow.get("exited") is True)
        c_ok = crow is not None and crow.get("open") == 10 and crow.get("shared") == 0 \
            and crow.get("exited") is False and crow.get("close_wait") == 0
        return p_ok and c_ok, "parent %s (expected open=0 exited=true or no row); child %s " \
            "(expected open=10 shared=0 exited=false)" % (
                fields(prow, "open", "exited", "closed"), fields(crow, "open", "shared", "exited"))
    rc.wait_for(pred, what="after the parent exited")
    n = r.connected_clients()
    check(n == 10, "ground truth: INFO clients %d" % n)
    expect_server(rc, r.pid, {"clients": 10}, what="server after the parent exited")


def test_source_port_watched():
    """A connection whose LOCAL port is the watched one (either side of the tuple)."""
    u = Redis()                      # unwatched server
    q = free_port()                  # watched: used as the client's source port
    rc = Rcleak(["-p", str(q)])
    c = Client("hold", ["--target", "127.0.0.1:%d:1" % u.port, "--src-port", str(q)],
               name="rclt-src")
    check(ss_count(c.pid, [q]) == 1 and ss_count(u.pid, [q]) == 1, "ground truth: ss")
    obj = expect_row(rc, c.pid, {"open": 1, "established": 1}, what="client with watched source port")
    obj = expect_row(rc, u.pid, {"open": 1}, what="unwatched redis-server whose peer port is watched")
    check(server_row(obj, u.pid) is None,
          "redis-server listening on an unwatched port is listed as a server: %s"
          % server_row(obj, u.pid))


def test_server_two_ports():
    """One process listening on two watched ports: one server row, both ports."""
    q1, q2 = free_port(), free_port()
    while q2 == q1:
        q2 = free_port()
    lst = Client("listen", ["--port", str(q1), "--also-port", str(q2), "--backlog", "64",
                            "--accept"], name="rclt-2p")
    rc = Rcleak(["-p", "%d,%d" % (q1, q2)])
    c = Client("synsent", ["--target", "127.0.0.1:%d:3" % q1, "--target", "127.0.0.1:%d:2" % q2],
               name="rclt-2pc")
    wait_until(lambda: ss_count(lst.pid, [q1, q2]) == 5, what="5 accepted sockets in ss")

    def pred(obj):
        srv = [s for s in obj.get("servers", []) if s.get("pid") == lst.pid]
        if len(srv) != 1:
            return False, "%d server rows for the listener (expected 1): %s" % (len(srv), srv)
        s = srv[0]
        ok = sorted(s.get("ports") or []) == sorted([q1, q2]) and s.get("clients") == 5
        return ok, "server %s, expected ports=%s clients=5" % (fields(s, "ports", "clients"), sorted([q1, q2]))
    rc.wait_for(pred, what="two-port server")


def test_parallel_churn():
    """4 processes churning at once (2 s x 150/s each): exact per-process counts."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    import threading
    clients, errors = [], []

    def run(i):
        try:
            clients.append(Client("churn", ["--target", "127.0.0.1:%d" % r.port, "--duration", "2",
                                             "--rate", "150"], name="rclt-pch%d" % i))
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
    ts = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not errors and len(clients) == 4, "clients failed: %s" % errors)
    counts = {c.pid: int(c.ready[2]) for c in clients}

    def pred(obj):
        bad = []
        for pid, n in counts.items():
            row = proc_row(obj, pid)
            if row is None or (row.get("open"), row.get("opened"), row.get("closed")) != (0, n, n):
                bad.append("pid %d: %s expected open=0 opened=%d closed=%d" % (
                    pid, fields(row, "open", "opened", "closed"), n, n))
        if obj.get("lost_events") != 0:
            bad.append("lost_events=%r" % obj.get("lost_events"))
        return not bad, "; ".join(bad)
    rc.wait_for(pred, what="4 parallel churners")


def test_short_lived_processes():
    """30 redis-cli PING processes, each connecting once and exiting at once (a
    cron job pattern): each listed exited=true, opened=1, closed=1, comm redis-cli."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port), "--window", "60"])
    pids = []
    for _ in range(30):
        p = subprocess.Popen(["redis-cli", "-p", str(r.port), "PING"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        out, _ = p.communicate(timeout=10)
        check(out.strip() == b"PONG", "redis-cli PING: %r" % out)
        pids.append(p.pid)

    def pred(obj):
        bad = []
        for pid in pids:
            row = proc_row(obj, pid)
            if row is None or (row.get("exited"), row.get("opened"), row.get("closed"),
                               row.get("open"), row.get("comm")) != (True, 1, 1, 0, "redis-cli"):
                bad.append("pid %d: %s" % (pid, fields(row, "exited", "opened", "closed", "open", "comm")))
        return not bad, "%d of %d redis-cli processes wrong (expected exited=True opened=1 " \
            "closed=1 open=0 comm='redis-cli'): %s" % (len(bad), len(pids), "; ".join(bad[:4]))
    rc.wait_for(pred, what="short-lived redis-cli processes")
