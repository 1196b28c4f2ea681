"""Clients and servers in other pid and network namespaces (containers), and
rcleak itself in a time namespace."""
import csv
import io
import os
import subprocess
import sys
import tempfile
import time

from harness import (HOLD_THEN_MORE, RCLEAK, Client, Fail, NetNS, Rcleak, Redis, Skip, check,
                     expect_row, expect_server, fields, server_row, proc_fds, proc_row, procs_of, spawn,
                     ss_count, ss_sockets, BOUND_CLIENT, same_tuple_clients)

TESTS = ["test_pid_namespace", "test_net_namespace", "test_net_namespace_same_port",
         "test_net_namespace_ask_redis", "test_net_namespace_same_tuple",
         "test_net_namespace_own_port", "test_net_namespace_reconcile",
         "test_time_namespace",
         "test_time_namespace_walk_proc", "test_time_namespace_record"]

PIDNS = ["unshare", "--pid", "--fork", "--mount-proc", "--"]


def test_pid_namespace():
    """Clients in their own pid namespace: rows carry host pids."""
    r = Redis()
    c1 = Client("hold", ["--target", "127.0.0.1:%d:4" % r.port], name="rclt-pns1",
                wrap=PIDNS, pidns=True)
    check(c1.ns_pid != c1.pid, "client is not in a new pid namespace")
    check(ss_count(c1.pid, [r.port]) == 4, "ground truth: ss for host pid %d" % c1.pid)
    rc = Rcleak(["-p", str(r.port)])
    row = proc_row(rc.first, c1.pid)
    check(row is not None and row.get("open") == 4,
          "first line: host pid %d %s, expected open=4 (ns pid %d row: %s)"
          % (c1.pid, fields(row, "open"), c1.ns_pid, fields(proc_row(rc.first, c1.ns_pid), "open", "comm")))
    c2 = Client("hold", ["--target", "127.0.0.1:%d:6" % r.port], name="rclt-pns2",
                wrap=PIDNS, pidns=True)
    check(ss_count(c2.pid, [r.port]) == 6, "ground truth: ss for host pid %d" % c2.pid)
    fds = proc_fds(c2.pid)
    expect_row(rc, c2.pid, {"open": 6, "opened": 6, "comm": "rclt-pns2", "fds": fds},
               what="client in a pid namespace (host pid %d, ns pid %d)" % (c2.pid, c2.ns_pid))


def test_net_namespace():
    """redis-server and clients inside another network namespace (a container's
    loopback); rcleak runs in the host namespace."""
    ns = NetNS()
    r = Redis(netns=ns, bind=("127.0.0.1",))
    c1 = Client("hold", ["--target", "127.0.0.1:%d:5" % r.port], name="rclt-nns1", wrap=ns.prefix)
    t1 = ss_count(c1.pid, [r.port], netns=ns)
    check(t1 == 5, "ground truth (ss in the namespace): %d" % t1)
    rc = Rcleak(["-p", str(r.port)])
    c2 = Client("hold", ["--target", "127.0.0.1:%d:7" % r.port], name="rclt-nns2", wrap=ns.prefix)
    t2 = ss_count(c2.pid, [r.port], netns=ns)
    check(t2 == 7, "ground truth (ss in the namespace): %d" % t2)
    problems = []
    first1 = proc_row(rc.first, c1.pid)
    if first1 is None or first1.get("open") != 5:
        problems.append("first line: pre-existing client %s, expected open=5" % fields(first1, "open"))
    for what, fn in (
            ("new client", lambda: expect_row(rc, c2.pid, {"open": 7, "opened": 7},
                                              what="new client in the netns", timeout=5)),
            ("pre-existing client", lambda: expect_row(rc, c1.pid, {"open": 5},
                                                       what="pre-existing client in the netns", timeout=5)),
            ("server", lambda: expect_server(rc, r.pid, {"clients": 12, "ports": [r.port]},
                                             what="redis-server in the netns", timeout=5))):
        try:
            fn()
        except AssertionError as e:
            problems.append(str(e))
    check(not problems, " | ".join(problems))


def test_net_namespace_same_port():
    """A redis-server in a network namespace and another on the host, on the
    same port number: each server's accepts are its own, not the other's
    (passive opens are attributed to the listener of their namespace)."""
    ns = NetNS()
    rn = Redis(netns=ns, bind=("127.0.0.1",))
    # started second: the higher pid, the last listener the walk sees
    rh = Redis(bind=("127.0.0.1",), port=rn.port)
    rc = Rcleak(["-p", str(rn.port)])
    cn = Client("hold", ["--target", "127.0.0.1:%d:3" % rn.port], name="rclt-sp-ns", wrap=ns.prefix)
    ch = Client("hold", ["--target", "127.0.0.1:%d:2" % rn.port], name="rclt-sp-host")
    tn = ss_count(cn.pid, [rn.port], netns=ns)
    th = ss_count(ch.pid, [rn.port])
    check(tn == 3 and th == 2, "ground truth (ss): ns client %d, host client %d" % (tn, th))
    problems = []
    for fn in (lambda: expect_row(rc, rn.pid, {"open": 3, "opened": 3},
                                  what="namespace's redis-server", timeout=5),
               lambda: expect_row(rc, rh.pid, {"open": 2, "opened": 2},
                                  what="host's redis-server", timeout=5),
               lambda: expect_server(rc, rn.pid, {"clients": 3}, timeout=5),
               lambda: expect_server(rc, rh.pid, {"clients": 2}, timeout=5)):
        try:
            fn()
        except AssertionError as e:
            problems.append(str(e))
    # after: redis-cli's own connections are accepts too
    n, h = rn.connected_clients(), rh.connected_clients()
    check(n == 3 and h == 2, "ground truth (INFO clients): ns %d, host %d" % (n, h))
    check(not problems, " | ".join(problems))


def test_net_namespace_ask_redis():
    """--ask-redis with a redis-server in a network namespace and another on
    the host on the same port: each is asked in its own namespace, so each
    gets its own maxclients and CLIENT LIST, not the host server's."""
    ns = NetNS()
    rn = Redis(netns=ns, bind=("127.0.0.1",), extra=("--maxclients", "50"))
    rh = Redis(bind=("127.0.0.1",), port=rn.port, extra=("--maxclients", "100"))
    check(rn.config_get("maxclients") == "50" and rh.config_get("maxclients") == "100",
          "ground truth (CONFIG GET): ns %r, host %r"
          % (rn.config_get("maxclients"), rh.config_get("maxclients")))
    cn = Client("hold", ["--target", "127.0.0.1:%d:3" % rn.port], name="rclt-ar-ns", wrap=ns.prefix)
    ch = Client("hold", ["--target", "127.0.0.1:%d:2" % rn.port], name="rclt-ar-host")
    check(ss_count(cn.pid, [rn.port], netns=ns) == 3 and ss_count(ch.pid, [rn.port]) == 2,
          "ground truth (ss)")
    rc = Rcleak(["-p", str(rn.port), "--ask-redis"])

    def entries(row, pid):
        return sum(1 for e in row.get("redis_clients") or [] if e.get("pid") == pid)

    problems = []
    for r, mc, mine, other in ((rn, 50, cn, ch), (rh, 100, ch, cn)):
        def pred(obj, r=r, mc=mc, mine=mine, other=other):
            row = server_row(obj, r.pid)
            if row is None:
                return False, "no server row for pid %d" % r.pid
            got = (row.get("maxclients"), row.get("maxclients_source"), row.get("clients"),
                   entries(row, mine.pid), entries(row, other.pid))
            want = (mc, "config-get", 3 if r is rn else 2, 3 if r is rn else 2, 0)
            return got == want, ("server pid %d: (maxclients, source, clients, CLIENT LIST "
                                 "entries of its client, of the other) observed %r expected %r"
                                 % (r.pid, got, want))
        try:
            rc.wait_for(pred, 8, "server in %s" % ("the namespace" if r is rn else "the host"))
        except AssertionError as e:
            problems.append(str(e))
    check(not problems, " | ".join(problems))


def test_net_namespace_same_tuple():
    """--ask-redis joins each CLIENT LIST entry to the client process in the
    server's network namespace: a container's client and a host client can
    have the very same 127.0.0.1:PORT -> 127.0.0.1:PORT."""
    ns = NetNS()
    rn = Redis(netns=ns, bind=("127.0.0.1",))
    rh = Redis(bind=("127.0.0.1",), port=rn.port)
    y, pids, _procs = same_tuple_clients(ns, rn.port, range(46000, 46100))
    addr = "127.0.0.1:%d" % y
    tn = [h for _st, local, _peer, h in ss_sockets([rn.port], netns=ns) if local == addr]
    th = [h for _st, local, _peer, h in ss_sockets([rn.port]) if local == addr]
    check(tn == [{pids["ns"]: [3]}] and th == [{pids["host"]: [3]}],
          "ground truth (ss): %s in the namespace %s, on the host %s" % (addr, tn, th))
    rc = Rcleak(["-p", str(rn.port), "--ask-redis"])
    problems = []
    for r, want in ((rn, pids["ns"]), (rh, pids["host"])):
        def pred(obj, r=r, want=want):
            row = server_row(obj, r.pid)
            got = [e.get("pid") for e in (row or {}).get("redis_clients") or [] if e.get("addr") == addr]
            return got == [want], "server pid %d: %s joined to %s, expected [%d]" % (r.pid, addr, got, want)
        try:
            rc.wait_for(pred, 8, "CLIENT LIST joined in the server's namespace")
        except AssertionError as e:
            problems.append(str(e))
    check(not problems, " | ".join(problems))


def test_net_namespace_own_port():
    """rcleak's own --ask-redis connection is left out of the counts by its
    local address and port, in its server's network namespace only: a host
    client bound to the very address and port rcleak asks a container's
    Redis from is a client of the host's Redis (ss, INFO clients), and was
    left out of its clients, and of its opened (the kernel side took its
    accept for the server end of rcleak's link)."""
    ns = NetNS()
    rn = Redis(netns=ns, bind=("127.0.0.1",))
    rh = Redis(bind=("127.0.0.1",), port=rn.port)
    rc = Rcleak(["-p", str(rn.port), "--ask-redis"])
    mine = []
    for _ in range(50):
        mine = [local for _st, local, _peer, h in ss_sockets([rn.port], netns=ns)
                if rc.pid in h and local.startswith("127.0.0.1:")]
        if mine:
            break
        time.sleep(0.1)
    check(len(mine) == 1, "ground truth: rcleak's connection to the container's Redis (ss): %s" % mine)
    y = int(mine[0].rsplit(":", 1)[1])
    c = spawn([sys.executable, "-c", BOUND_CLIENT, str(y), str(rh.port)],
              "host client bound to 127.0.0.1:%d" % y)
    try:
        check(int(c.stdout.readline() or 0) == c.pid, "bound client did not connect")
        # the host Redis's clients: its accepted sockets but rcleak's own
        truth = [peer for _st, local, peer, h in ss_sockets([rh.port])
                 if rh.pid in h and local == "127.0.0.1:%d" % rh.port
                 and not any(rc.pid in h2 for _s2, l2, _p2, h2 in ss_sockets([rh.port]) if l2 == peer)]
        check("127.0.0.1:%d" % y in truth, "ground truth: the host Redis's clients (ss) %s lack "
              "127.0.0.1:%d" % (truth, y))
        expect_server(rc, rh.pid, {"clients": len(truth)},
                      what="the host Redis's clients, one bound to rcleak's port in the container")
        # the bound client is the only connection the host Redis accepted
        # since rcleak started: it was left out of its opened as well
        expect_row(rc, rh.pid, {"opened": 1, "closed": 0},
                   what="the host Redis's accepted connections, one bound to rcleak's port in the container")
    finally:
        c.stdin.close()
        c.wait(10)


def test_net_namespace_reconcile():
    """Reconciliation walks the sockets of rcleak's own network namespace
    only: connections in another one (a container's), which it never sees
    there, are no missed closes: no repairs, none counted closed."""
    ns = NetNS()
    r = Redis(netns=ns, bind=("127.0.0.1",))
    rc = Rcleak(["-p", str(r.port), "--reconcile", "0.5"])
    c = Client("hold", ["--target", "127.0.0.1:%d:5" % r.port], name="rclt-nsrec", wrap=ns.prefix)
    truth = ss_count(c.pid, [r.port], netns=ns)
    check(truth == 5, "ground truth (ss in the namespace): %d" % truth)
    expect_row(rc, c.pid, {"open": 5, "opened": 5}, what="client in the netns")
    time.sleep(2)  # state: 4 reconciliations pass
    obj = rc.line()
    row = proc_row(obj, c.pid)
    got = (obj.get("repairs"), obj.get("lost_events"), fields(row, "open", "opened", "closed"))
    check(obj.get("repairs") == 0 and row is not None and row.get("closed") == 0 and
          ss_count(c.pid, [r.port], netns=ns) == 5,
          "after 4 reconciliations: repairs, lost, client's row %r, expected repairs 0 and "
          "closed 0 (ss: %d open)" % (got, ss_count(c.pid, [r.port], netns=ns)))


# rcleak in a time namespace whose clocks are far from the kernel's: /proc's
# start times and its own clock readings carry the offsets, BPF's do not.
TIMENS = ["unshare", "--time", "--boottime", "100000", "--monotonic", "50000", "--"]


def _need_timens():
    r = subprocess.run(TIMENS + ["cat", "/proc/self/timens_offsets"], capture_output=True,
                       text=True, timeout=10)
    if r.returncode != 0:
        raise Skip("no time namespaces here (unshare --time: %s)" % r.stderr.strip()[-200:])
    check("100000" in r.stdout, "unshare --time did not set the offset: %r" % r.stdout)


def test_time_namespace():
    """A client that closed its connections and lives on is not taken for an
    exited process: its pid's start time in /proc, shifted by the namespace's
    boot-time offset, still matches the one BPF recorded."""
    _need_timens()
    r = Redis()
    rc = Rcleak(["-p", str(r.port)], wrap=TIMENS)
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-tns")
    check(ss_count(c.pid, [r.port]) == 3, "ground truth: ss for the client")
    expect_row(rc, c.pid, {"open": 3, "opened": 3, "exited": False}, what="holding 3")
    c.cmd("close 3", "CLOSED")
    check(ss_count(c.pid, [r.port]) == 0, "ground truth: the client still has sockets")
    expect_row(rc, c.pid, {"open": 0, "opened": 3, "closed": 3}, what="after closing all 3")
    rc.skip_to_now()
    for _ in range(3):  # and it stays alive, refresh after refresh
        obj = rc.line()
        check(os.path.exists("/proc/%d" % c.pid), "the client is gone")
        row = proc_row(obj, c.pid)
        check(row is not None and row.get("exited") is False,
              "the live client (pid %d, holding nothing) is listed as %s"
              % (c.pid, fields(row, "exited", "open", "closed")))


def test_time_namespace_walk_proc():
    """--walk proc in a time namespace: the holder rows (from /proc) and the
    kernel counters (from BPF) are keyed alike, so a process is one row."""
    _need_timens()
    r = Redis()
    p = spawn([sys.executable, "-c", HOLD_THEN_MORE, str(r.port)], "timens walk-proc client")
    check(p.stdout.readline() == b"HELD\n", "client did not connect")
    rc = Rcleak(["-p", str(r.port), "--walk", "proc"], wrap=TIMENS)
    p.stdin.write(b"go\n")
    p.stdin.flush()
    check(p.stdout.readline() == b"MORE\n", "client did not open 2 more")
    truth = ss_count(p.pid, [r.port])
    check(truth == 5, "ground truth: ss shows %d sockets for the client, expected 5" % truth)
    obj = expect_row(rc, p.pid, {"open": truth, "opened": 2, "exited": False},
                     what="--walk proc in a time namespace")
    rows = procs_of(obj, p.pid)
    check(len(rows) == 1, "expected one row for pid %d, got %d: %s"
          % (p.pid, len(rows), [fields(x, "open", "opened", "exited") for x in rows]))
    p.stdin.close()
    p.wait(10)


def test_time_namespace_record():
    """Recorded in a time namespace, events still carry the wall-clock time
    they happened at: the capture's clock and BPF's timestamps agree."""
    _need_timens()
    r = Redis()
    d = tempfile.mkdtemp(prefix="rcleak-timens-")
    path = os.path.join(d, "t.rcap")
    t0 = time.time()
    rec = subprocess.Popen(TIMENS + [RCLEAK, "record", "-w", path, "-p", str(r.port), "-i", "0.5",
                                     "-d", "4"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        c = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-tnsrec")
        c.cmd("close 2", "CLOSED")
        _, err = rec.communicate(timeout=30)
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.wait()
    t1 = time.time()
    check(rec.returncode == 0, "record exited %s: %s" % (rec.returncode, err.decode()[-300:]))
    out = subprocess.run([RCLEAK, "report", "--csv", path], capture_output=True, text=True,
                         timeout=60)
    os.unlink(path)
    os.rmdir(d)
    check(out.returncode == 0, "report --csv exited %d: %s" % (out.returncode, out.stderr[-300:]))
    rows = [x for x in csv.DictReader(io.StringIO(out.stdout)) if x["owner_pid"] == str(c.pid)]
    kinds = sorted(x["kind"] for x in rows)
    check(kinds.count("connect") == 2, "the client's events: %s, expected 2 connects" % kinds)
    bad = [x["time"] for x in rows if not t0 - 1 <= float(x["time"]) <= t1 + 1]
    if bad:
        raise Fail("events stamped outside the recording (%.1f..%.1f): %s" % (t0, t1, bad[:4]))
