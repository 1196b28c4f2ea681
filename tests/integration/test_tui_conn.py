"""The interactive view's drill-down (user/tui_conn.c), driven through
tmux as in test_tui.py: a connection's age (young when it opened during a
walk, unknown under --walk proc) and the REDIS column (--ask-redis) of
clients in different network namespaces with the very same address.

Run alone:  RCLEAK=$PWD/rcleak python3 tests/integration/runner.py -k tui_
"""
import re
import time

import harness
from harness import Client, NetNS, connstorm, Redis, check, spawn, stop, same_tuple_clients
from tui_harness import CONN, CONN_AGE, brief, footer, poll, quit_ok, start_rcleak, table

TESTS = ["test_tui_conn_age", "test_tui_redis_column_netns", "test_tui_conn_age_walk_proc"]


def test_tui_conn_age():
    """A connection opened while a refresh walks the fds is young, not older
    than rcleak: the drill-down of a client that started after rcleak never
    shows the ">UPTIME" age of a connection that predates rcleak."""
    r = Redis()
    tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"])
    try:
        poll(tm, lambda s: "Sort:" in s, "the TUI to start", 10, err)
        rcl_start = harness._starttime(rpid)
        # one process, connect/PING/close in a loop: a connection is always
        # being opened while the walk runs
        storm = spawn([connstorm(), "-d", "30", "127.0.0.1", str(r.port), "1"], "connstorm")
        tm.keys("/")
        tm.literal("connstorm")
        tm.keys("Enter")
        scr = poll(tm, lambda s: [c for _, _, c in table(s)] == ["connstorm"],
                   "only the connstorm child's row after filtering", 10, err)
        child = table(scr)[0][1]
        check(harness._starttime(child) > rcl_start,
              "connstorm %d did not start after rcleak" % child)
        tm.keys("Enter")
        ages = []
        deadline = time.monotonic() + 15
        while len(ages) < 10 and time.monotonic() < deadline:   # several refreshes
            s = tm.screen()
            for ln in s.split("\n"):
                m = CONN_AGE.match(ln)
                if m:
                    ages.append(m.group(1))
            time.sleep(0.35)
        check(len(ages) >= 3, "too few connection lines of connstorm in the drill-down: %s; "
              "screen: %s" % (ages, brief(tm.screen())))
        old = [a for a in ages if a.startswith(">")]
        check(not old, "connections of pid %d (started after rcleak) shown as older than "
              "rcleak: AGE %s" % (child, ages))
        stop(storm)
    finally:
        tm.kill()


def test_tui_redis_column_netns():
    """The drill-down's REDIS column (--ask-redis) is the entry of the
    client's own server: a container's client and a host client with the
    very same 127.0.0.1:PORT -> 127.0.0.1:PORT (pods that each run a Redis
    on localhost) each show the name they gave their server (CLIENT
    SETNAME), not the other's, which the first matching address gave."""
    ns = NetNS()
    rn = Redis(netns=ns, bind=("127.0.0.1",))
    rh = Redis(bind=("127.0.0.1",), port=rn.port)
    y, pids, procs = same_tuple_clients(ns, rn.port, range(46100, 46200), lambda where: "rclt-%s-name" % where)
    for where, r in (("ns", rn), ("host", rh)):
        names = re.findall(r"addr=127\.0\.0\.1:%d .*?name=(\S*)" % y, r.cli("CLIENT", "LIST"))
        check(names == ["rclt-%s-name" % where], "ground truth: CLIENT LIST of the %s server names "
              "127.0.0.1:%d %s" % (where, y, names))
    tm, rpid, err = start_rcleak(["-p", str(rn.port), "-i", "0.3", "--ask-redis"], x=220)
    try:
        poll(tm, lambda s: set(pids.values()) <= {p for _, p, _ in table(s)},
             "the rows of both bound clients", 10, err)
        for where in ("ns", "host"):
            tm.keys("/")
            tm.literal(str(pids[where]))
            tm.keys("Enter")
            poll(tm, lambda s: [p for _, p, _ in table(s)] == [pids[where]],
                 "only the row of pid %d" % pids[where], err=err)
            tm.keys("Enter")
            scr = poll(tm, lambda s: any(CONN.match(ln) and "rclt-" in ln for ln in s.split("\n")),
                       "the %s client's connection with its REDIS column" % where, 10, err)
            line = [ln for ln in scr.split("\n") if CONN.match(ln)]
            check(len(line) == 1 and "rclt-%s-name" % where in line[0],
                  "%s client pid %d (named rclt-%s-name by its server's CLIENT LIST): %s"
                  % (where, pids[where], where, line))
            tm.keys("Escape")
            tm.keys("Escape")
            poll(tm, lambda s: "Filter:" not in footer(s) and "Sort:" in s, "the whole table again",
                 err=err)
        quit_ok(tm, err)
    finally:
        tm.kill()
        for p in procs.values():
            p.stdin.close()


def test_tui_conn_age_walk_proc():
    """--walk proc cannot know when a connection opened (/proc has no such
    time): the drill-down of a client that connected after rcleak started
    said its connections were older than rcleak (">UPTIME"); their age is
    unknown there, "-"."""
    r = Redis()
    tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.3", "--walk", "proc"])
    try:
        poll(tm, lambda s: "Sort:" in s and "walk proc" in s, "the TUI with walk proc", 10, err)
        rcl_start = harness._starttime(rpid)
        c = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-tui-wpage")
        check(harness._starttime(c.pid) > rcl_start, "client %d did not start after rcleak" % c.pid)
        tm.keys("/")
        tm.literal("rclt-tui-wpage")
        tm.keys("Enter")
        poll(tm, lambda s: [p for _, p, _ in table(s)] == [c.pid], "only the row of pid %d" % c.pid,
             10, err)
        tm.keys("Enter")
        scr = poll(tm, lambda s: len([ln for ln in s.split("\n") if CONN_AGE.match(ln)]) == 2,
                   "the drill-down of pid %d with its 2 connections" % c.pid, 10, err)
        ages = [CONN_AGE.match(ln).group(1) for ln in scr.split("\n") if CONN_AGE.match(ln)]
        check(not [a for a in ages if a.startswith(">")],
              "--walk proc: connections of pid %d (started after rcleak) shown as older than "
              "rcleak: AGE %s" % (c.pid, ages))
        quit_ok(tm, err)
    finally:
        tm.kill()
