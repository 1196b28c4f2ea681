"""A redis-server's limits: Redis's effective client limit is
min(maxclients, nofile - 32), fixed when it starts; and maxclients from a
server that refuses CONFIG."""
import json
import os
import re
import signal
import subprocess
import time

import harness
from harness import (Client, Fail, Lines, Rcleak, Redis, Skip, check, expect_server, fields, mkdtemp, proc_nofile,
                     proc_row, server_row, spawn, ss_accepted, ss_count, ss_sockets, total_connections, wait_until)
from record_harness import Recorder, report, report_json
from run_harness import NODE_DIR, PY, need_node, need_py

TESTS = ["test_server_low_nofile", "test_server_nofile_raised", "test_ask_redis_config_renamed",
         "test_ask_redis_maxclients_raised", "test_server_nofile_lowered_restored",
         "test_ask_redis_server_stalls", "test_ask_redis_stalled_own_link", "test_ask_redis_stall_resumed",
         "test_ask_redis_many_servers", "test_ask_redis_client_list_refused",
         "test_report_server_full", "test_report_992_trap", "test_server_maxclients_raised_unasked"]


def test_server_low_nofile():
    """redis-server under ulimit -n 1000: effective_limit = nofile_soft - 32 = 968,
    and capped_by_nofile, also when --ask-redis reads the lowered maxclients."""
    r = Redis(wrap=["bash", "-c", 'ulimit -n 1000 && exec "$@"', "ulimit"])
    soft, _ = proc_nofile(r.pid)
    check(soft == 1000, "ground truth: redis nofile %s" % soft)
    cfg = int(r.config_get("maxclients"))           # redis lowers it itself: 968
    check(cfg == soft - 32, "ground truth: redis under ulimit -n 1000 runs with maxclients %d" % cfg)
    c = Client("hold", ["--target", "127.0.0.1:%d:20" % r.port], name="rclt-lowf")
    for args in ([], ["--ask-redis"]):
        rc = Rcleak(["-p", str(r.port)] + args)
        eff = min(cfg, soft - 32)

        def pred(obj):
            srv = server_row(obj, r.pid)
            if srv is None:
                return False, "no server row"
            mc = srv.get("maxclients")
            # Redis lowered its maxclients to the fd limit (cfg == soft - 32):
            # that limit decides, whether rcleak assumes 10000 or asks
            # rcleak's own --ask-redis link is no client, but takes a slot
            links = 1 if args else 0
            want = {"nofile_soft": soft, "clients": 20, "effective_limit": eff, "rcleak_links": links,
                    "headroom": eff - 20 - links, "capped_by_nofile": cfg == soft - 32}
            if args:
                want["maxclients"] = cfg
            bad = ["%s observed %r expected %r" % (k, srv.get(k), v)
                   for k, v in want.items() if srv.get(k) != v]
            return not bad, "; ".join(bad) + " (maxclients %r, source %r)" % (
                mc, srv.get("maxclients_source"))
        rc.wait_for(pred, what="redis under ulimit -n 1000 %s" % " ".join(args))
        rc.close()
    c.exit()


def test_server_nofile_raised():
    """A redis-server started under nofile 1024 lowers its maxclients to 992
    and keeps it when its limit is raised later (prlimit --pid): CONFIG GET
    maxclients still says 992. rcleak, watching since before the raise,
    keeps effective_limit at 992 (limit_nofile 1024, the lowest it saw)
    while nofile_soft shows 4096."""
    r = Redis(extra=["--maxclients", "10000"], wrap=["prlimit", "--nofile=1024:1024", "--"])
    check(proc_nofile(r.pid)[0] == 1024, "ground truth: redis nofile %s" % (proc_nofile(r.pid),))
    cfg = int(r.config_get("maxclients"))
    check(cfg == 992, "ground truth: redis under nofile 1024 runs with maxclients %d, expected 992" % cfg)
    c = Client("hold", ["--target", "127.0.0.1:%d:5" % r.port], name="rclt-raise")
    rc = Rcleak(["-p", str(r.port)])

    def row_is(want):
        def pred(obj):
            srv = server_row(obj, r.pid)
            if srv is None:
                return False, "no server row"
            bad = ["%s observed %r expected %r" % (k, srv.get(k), v)
                   for k, v in want.items() if srv.get(k) != v]
            return not bad, "; ".join(bad)
        return pred

    rc.wait_for(row_is({"nofile_soft": 1024, "limit_nofile": 1024, "effective_limit": 992, "clients": 5,
                        "capped_by_nofile": True}), what="redis under nofile 1024")
    p = subprocess.run(["prlimit", "--pid", str(r.pid), "--nofile=4096:4096"], capture_output=True,
                       text=True, timeout=10)
    if p.returncode != 0 and "Operation not permitted" in p.stderr:
        # raising a hard limit is CAP_SYS_RESOURCE's, in the initial user
        # namespace; tests/unit/test_model.c (test_nofile_sized) covers the
        # model's side everywhere
        raise Skip("raising the running redis-server's hard nofile needs CAP_SYS_RESOURCE, which "
                   "root lacks here: %s" % p.stderr.strip())
    check(p.returncode == 0, "prlimit --pid %d --nofile=4096:4096: %s" % (r.pid, p.stderr.strip()))
    check(proc_nofile(r.pid)[0] == 4096, "ground truth: redis nofile after prlimit %s" % (proc_nofile(r.pid),))
    cfg = int(r.config_get("maxclients"))
    check(cfg == 992, "ground truth: after the raise redis says maxclients %d, expected 992 still" % cfg)
    rc.wait_for(row_is({"nofile_soft": 4096, "limit_nofile": 1024, "effective_limit": cfg,
                        "headroom": cfg - 5, "capped_by_nofile": True}),
                what="redis after its nofile was raised to 4096")
    rc.close()
    c.exit()


def test_ask_redis_config_renamed():
    """--ask-redis on a server whose CONFIG is renamed away (as hardened
    setups and ACL users without it have): maxclients comes from INFO
    clients (Redis 7+), 25 as the server says, source "info"; it was the
    default 10000."""
    r = Redis(extra=["--maxclients", "25", "--rename-command", "CONFIG", ""])
    info = r.cli("INFO", "clients")
    m = re.search(r"^maxclients:(\d+)", info, re.M)
    if not m:
        raise Skip("this redis-server's INFO clients has no maxclients (Redis 7+ has)")
    check(int(m.group(1)) == 25, "ground truth: INFO clients says maxclients %s, expected 25" % m.group(1))
    check("unknown command" in r.cli("CONFIG", "GET", "maxclients").lower(),
          "ground truth: CONFIG still answers on the server that renamed it away")
    rc = Rcleak(["-p", str(r.port), "--ask-redis"])
    expect_server(rc, r.pid, {"maxclients": 25, "maxclients_source": "info", "effective_limit": 25},
                  what="--ask-redis, CONFIG renamed away")



def test_ask_redis_maxclients_raised():
    """CONFIG SET maxclients up at runtime, with --ask-redis watching: Redis
    raises its own nofile to maxclients + 32 and takes the new limit. rcleak
    then reads 3000 from CONFIG GET and must show effective_limit 3000 =
    min(maxclients, nofile_soft - 32), as the server's limits say; it kept
    the nofile it had seen before the raise (1024) and said 992, capped."""
    r = Redis(extra=["--maxclients", "500"], wrap=["prlimit", "--nofile=1024:4096", "--"])
    check(proc_nofile(r.pid)[0] == 1024, "ground truth: redis nofile %s" % (proc_nofile(r.pid),))
    check(int(r.config_get("maxclients")) == 500, "ground truth: maxclients %s" % r.config_get("maxclients"))
    c = Client("hold", ["--target", "127.0.0.1:%d:5" % r.port], name="rclt-mcup")
    rc = Rcleak(["-p", str(r.port), "--ask-redis"])
    expect_server(rc, r.pid, {"maxclients": 500, "nofile_soft": 1024, "effective_limit": 500, "clients": 5},
                  what="before CONFIG SET maxclients 3000")
    check(r.cli("CONFIG", "SET", "maxclients", "3000").strip() == "OK", "CONFIG SET maxclients 3000")
    cfg = int(r.config_get("maxclients"))
    soft = proc_nofile(r.pid)[0]
    check(cfg == 3000 and soft >= 3032, "ground truth: after CONFIG SET, maxclients %d nofile %s" % (cfg, soft))
    eff = min(cfg, soft - 32)
    # rcleak re-reads maxclients about once a second
    expect_server(rc, r.pid, {"maxclients": cfg, "nofile_soft": soft, "effective_limit": eff,
                              "headroom": eff - 5 - 1,  # the 1: rcleak's own link's slot
                              "capped_by_nofile": soft - 32 <= cfg},
                  timeout=45, what="after CONFIG SET maxclients 3000")
    rc.close()
    c.exit()


def test_server_nofile_lowered_restored():
    """A redis-server that started under nofile 4096 (maxclients 4064, as
    CONFIG GET says) has its soft limit lowered to 100 (prlimit --pid) while
    rcleak watches, then given back. The lowering bound while it lasted; the
    maxclients Redis sized at start never changed, so once restored Redis
    accepts 80 clients and its limit is min(maxclients, nofile - 32) again.
    rcleak kept the lowest nofile it saw and said effective_limit 68 and
    headroom -12 for a server holding 80 clients with room to spare."""
    r = Redis(wrap=["prlimit", "--nofile=4096:4096", "--"])
    check(proc_nofile(r.pid) == (4096, 4096), "ground truth: redis nofile %s" % (proc_nofile(r.pid),))
    cfg = int(r.config_get("maxclients"))
    check(cfg == 4064, "ground truth: redis under nofile 4096 runs with maxclients %d, expected 4064" % cfg)
    rc = Rcleak(["-p", str(r.port)])
    subprocess.run(["prlimit", "--pid", str(r.pid), "--nofile=100:4096"], check=True, timeout=10)
    check(proc_nofile(r.pid)[0] == 100, "ground truth: lowered nofile %s" % (proc_nofile(r.pid),))
    expect_server(rc, r.pid, {"nofile_soft": 100, "limit_nofile": 100, "effective_limit": 68},
                  what="redis with its nofile lowered to 100")
    subprocess.run(["prlimit", "--pid", str(r.pid), "--nofile=4096:4096"], check=True, timeout=10)
    check(proc_nofile(r.pid)[0] == 4096, "ground truth: restored nofile %s" % (proc_nofile(r.pid),))
    c = Client("hold", ["--target", "127.0.0.1:%d:80" % r.port], name="rclt-restore")
    n = r.connected_clients()
    check(n == 80, "ground truth: redis took %d clients after the restore, expected 80" % n)
    check(int(r.config_get("maxclients")) == cfg, "ground truth: maxclients changed")
    eff = min(cfg, 4096 - 32)
    # maxclients is not discovered (Redis's proc title): the default 10000
    # and nofile 4096 give the same 4064
    expect_server(rc, r.pid, {"nofile_soft": 4096, "limit_nofile": 4096, "clients": 80,
                              "effective_limit": eff, "headroom": eff - 80},
                  what="redis with its nofile restored to 4096")
    rc.close()
    c.exit()


def test_ask_redis_server_stalls():
    """--ask-redis re-reads maxclients every 30 s. A server that does not
    answer then (busy with a slow command or a script; here stopped with
    SIGSTOP) has not changed its maxclients: rcleak must keep the 50 it
    told, not fall back to the assumed 10000 and show thousands of free
    slots while the server is stuck."""
    r = Redis(extra=["--maxclients", "50"])
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-stall")
    rc = Rcleak(["-p", str(r.port), "--ask-redis", "-v"])
    expect_server(rc, r.pid, {"maxclients": 50, "maxclients_source": "config-get", "clients": 3},
                  what="before the server stalls")
    os.kill(r.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: "CONFIG GET maxclients failed for pid %d" % r.pid in rc.stderr(), timeout=45,
                   what="rcleak to re-read maxclients from the stopped server and fail")
        rc.skip_to_now()
        srv = server_row(rc.line(), r.pid)
    finally:
        os.kill(r.pid, signal.SIGCONT)
    cfg = int(r.config_get("maxclients"))
    check(cfg == 50, "ground truth: CONFIG GET maxclients %d" % cfg)
    soft = proc_nofile(r.pid)[0]
    eff = min(cfg, soft - 32)
    check(srv is not None and srv.get("maxclients") == cfg and srv.get("effective_limit") == eff,
          "while the server did not answer: %s, expected maxclients %d, effective_limit %d" % (
              srv and {k: srv.get(k) for k in ("maxclients", "maxclients_source", "effective_limit",
                                               "headroom", "clients")}, cfg, eff))
    rc.close()
    c.exit()


def test_ask_redis_stalled_own_link():
    """A server that stalls (SIGSTOP) still holds the server end of
    rcleak's --ask-redis link, which timed out; rcleak reconnects, and each
    new link sits unaccepted in the server's listen queue. rcleak remembers
    the last 8 ends of its links: after 8 reconnects the stalled server's
    end of the first one was counted as a client. Ground truth: the server
    holds 4 accepted connections, 3 of them the client's."""
    r = Redis(extra=["--maxclients", "50"])
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-stall2")
    rc = Rcleak(["-p", str(r.port), "--ask-redis"])
    expect_server(rc, r.pid, {"clients": 3}, what="before the server stalls")
    client_ports = set(int(p) for p in c.cmd("ports", "PORTS")[1:])
    os.kill(r.pid, signal.SIGSTOP)
    try:
        def unaccepted():
            # rcleak's new links, closed by it after their timeout: no process holds them
            return sum(1 for _st, _l, peer, holders in ss_sockets([r.port])
                       if peer.endswith(":%d" % r.port) and not holders)
        wait_until(lambda: unaccepted() >= 10, timeout=60,
                   what="rcleak to reconnect 10 times to the stopped server")
        held = ss_accepted(r.pid, r.port)
        check(held == 4, "ground truth: the stopped server holds %d connections, expected 3 + rcleak's" % held)
        rc.skip_to_now()
        srv = server_row(rc.line(), r.pid)
    finally:
        os.kill(r.pid, signal.SIGCONT)
    check(srv is not None and srv.get("clients") == len(client_ports),
          "stopped server: rcleak says clients %r, expected %d (its own link's end is nobody's client)"
          % (srv and srv.get("clients"), len(client_ports)))
    rc.close()
    c.exit()


def test_ask_redis_stall_resumed():
    """A server stalled (SIGSTOP) for over 30 s, then resumed: the links
    rcleak gave up on meanwhile sat in its listen queue, its ends of them
    rcleak's own, not lost events. rcleak forgot such an end 30 s after it
    gave up on the link, and reconciliation then took it for a socket whose
    open it had missed (repairs 1). It keeps them now while the server runs
    and has not answered since. Ground truth (ss): the server has unaccepted
    ends, and no process but rcleak has a connection to it."""
    r = Redis(bind=("127.0.0.1",))
    rc = Rcleak(["-p", str(r.port), "--ask-redis", "--reconcile", "0.5"])
    expect_server(rc, r.pid, {"maxclients_source": "config-get", "clients": 0, "rcleak_links": 1},
                  what="before the server stalls")
    os.kill(r.pid, signal.SIGSTOP)
    try:
        def given_up():
            # rcleak's links it closed after their timeout: held by no process
            return [peer for _st, local, peer, holders in ss_sockets([r.port])
                    if local.endswith(":%d" % r.port) and not holders]
        wait_until(lambda: len(given_up()) >= 1, timeout=15, what="rcleak to give up on a link")
        time.sleep(32)
        queued = given_up()
        # no process but rcleak ever connected: every client end is its
        others = [(local, h) for _st, local, peer, h in ss_sockets([r.port])
                  if peer.endswith(":%d" % r.port) and h and rc.pid not in h]
        check(queued and not others, "ground truth: the stopped server's queued ends %s (expected some), "
              "client ends of other processes %s (expected none)" % (queued, others))
        rc.skip_to_now()
        stalled = rc.line()
    finally:
        os.kill(r.pid, signal.SIGCONT)
    wait_until(lambda: not given_up(), timeout=10, what="the resumed server to accept and drop its queue")
    rc.skip_to_now()
    for _ in range(4):  # 2 s: 4 reconciliations
        obj = rc.line()
    row, srv = proc_row(obj, r.pid), server_row(obj, r.pid)
    truth = ss_accepted(r.pid, r.port) - ss_count(rc.pid, [r.port])
    check(stalled.get("repairs") == 0 and obj.get("repairs") == 0 and truth == 0 and srv is not None and
          srv.get("clients") == 0 and row is not None and row.get("opened") == 0 and row.get("closed") == 0,
          "repairs %r during the stall and %r after, the server's clients %r and row %s; expected 0, 0, 0 "
          "and opened 0, closed 0 (ss: %d clients but rcleak's link)"
          % (stalled.get("repairs"), obj.get("repairs"), srv and srv.get("clients"),
             fields(row, "opened", "closed"), truth))
    rc.close()


def test_ask_redis_many_servers():
    """--ask-redis on a host with 12 redis-servers (a cluster's nodes on
    one box): rcleak keeps one link to each, and none of them is counted
    as a client. Ground truth: each server's only connection besides
    redis-cli's is rcleak's link (INFO clients), so rcleak's clients is 0
    for every one. It remembered the ends of its last 8 links only: the
    others' links counted as clients."""
    rs = [Redis(extra=["--maxclients", "100"], bind=("127.0.0.1",)) for _ in range(12)]
    rc = Rcleak(["-p", ",".join(str(r.port) for r in rs), "--ask-redis"])

    def pred(obj):
        bad = []
        for r in rs:
            row = server_row(obj, r.pid)
            if row is None or row.get("maxclients_source") != "config-get" or row.get("clients") != 0:
                bad.append("port %d: %s" % (r.port, row and {k: row.get(k) for k in ("clients", "maxclients_source")}))
        return not bad, "; ".join(bad)
    rc.wait_for(pred, what="12 servers asked, rcleak's links nobody's clients")
    for r in rs:
        n = r.connected_clients()
        check(n == 1, "ground truth: port %d has %d connections besides redis-cli's, expected rcleak's link"
              % (r.port, n))
    rc.close()


def test_ask_redis_client_list_refused():
    """--ask-redis on a server that refuses CLIENT LIST (renamed away, or
    an ACL user without it) but answers CONFIG GET: rcleak keeps its one
    link and says once on stderr why there is no CLIENT LIST. It closed
    the link at each refusal and connected again every 2 s, new
    connections to the server it watches, without a word. Ground truth:
    INFO stats counts the connections the server received."""
    r = Redis(extra=["--maxclients", "25", "--rename-command", "CLIENT", ""])
    check("unknown command" in r.cli("CLIENT", "LIST").lower(), "ground truth: CLIENT LIST still answers")
    before = total_connections(r)
    rc = Rcleak(["-p", str(r.port), "--ask-redis", "-i", "0.5"])
    expect_server(rc, r.pid, {"maxclients": 25, "maxclients_source": "config-get"},
                  what="--ask-redis, CLIENT renamed away")
    for _ in range(12):
        rc.line()
    after = total_connections(r)
    # the INFO call that read `after` is one, rcleak's link the other
    check(after - before == 2, "the server received %d connections while rcleak ran 12 refreshes, "
          "expected 1 from rcleak (and 1 from redis-cli)" % (after - before))
    said = [l_ for l_ in rc.stderr().splitlines() if "CLIENT LIST" in l_]
    check(len(said) == 1 and str(r.pid) in said[0] and "unknown command" in said[0].lower(),
          "stderr lines about CLIENT LIST: %r, expected one naming pid %d and what it answered" % (said, r.pid))
    rc.close()


# argv: PORT N. A redis-py application that holds N connections (one
# client each, PING), prints HELD PID, holds them until stdin ends.
PY_HOLDER = r"""
import os, sys, redis
cs = [redis.Redis(port=int(sys.argv[1]), single_connection_client=True) for _ in range(int(sys.argv[2]))]
for c in cs:
    c.ping()
print("HELD", os.getpid(), flush=True)
sys.stdin.read()
"""

# argv: PORT N. A client of plain sockets that makes N connections at once
# (the server fills up and refuses the rest in one go, as a pool opened
# at start would see it), sending nothing (a full Redis writes its refusal
# at once and closes: with nothing unread, a FIN, CLOSE_WAIT here); prints
# HELD PID ACCEPTED REFUSED and keeps every socket until stdin ends.
RAW_HOLDER = r"""
import os, socket, sys
ss, ok, refused = [], 0, 0
ss = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) for _ in range(int(sys.argv[2]))]
for s in ss:
    s.settimeout(0.5)
    try:
        refused += b"max number of clients reached" in s.recv(200)
    except socket.timeout:
        ok += 1
print("HELD", os.getpid(), ok, refused, flush=True)
sys.stdin.read()
"""

# argv: PORT. One more client: prints what Redis says to it first (a full
# Redis writes its refusal at once, then closes).
PROBE = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"PING\r\n")
print(s.recv(200).decode(errors="replace").strip())
"""

# argv: PORT N SECS. N ioredis clients reconnecting every 50 ms for SECS
# (a reconnect storm against a full server); prints its connects.
NODE_STORM = r"""
const Redis = require(process.argv[1]);
const [port, n, secs] = process.argv.slice(2).map(Number);
let connects = 0;
const cs = [];
for (let i = 0; i < n; i++) {
  const c = new Redis(port, '127.0.0.1', { retryStrategy: () => 50, maxRetriesPerRequest: 0 });
  c.on('connect', () => { connects++; });
  c.on('error', () => {});
  cs.push(c);
}
setTimeout(() => { console.log('DONE ' + connects); process.exit(0); }, secs * 1000);
"""


def test_report_server_full():
    """A Redis at maxclients 12: a redis-py application holds 7 of its
    slots, a client of plain sockets 4 (and 2 more that Redis refused, in
    CLOSE_WAIT: no slots), rcleak's --ask-redis link the 12th (ss), and one
    more client is refused (max number of clients reached) while ioredis
    clients storm it with reconnects. report's summary said the server's peak and limit
    and every process "ok", and nowhere that it was full or who held its
    slots. It says FULL, first at a refresh of the holders' time, with the
    holders as ss counted them; --json has full_at and full_holders."""
    py = need_py()[0]
    node = need_node()[0]
    r = Redis(extra=["--maxclients", "12"])
    path = os.path.join(mkdtemp("rcleak-full-"), "full.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--ask-redis", "-d", "10"])
    rec.first()
    holders = []
    h = spawn([PY, "-c", PY_HOLDER, str(r.port), "7"], "redis-py holder of 7")
    line = Lines(h.stdout, "holder").wait_line(0, 30)
    check(line and line.startswith("HELD"), "the redis-py holder of 7 did not say HELD: %r" % line)
    holders.append((int(line.split()[1]), 7, h))
    # 6 asked for, 4 slots left: the last 2 refused, kept in CLOSE_WAIT
    t_fill = time.time()
    h = spawn([PY, "-c", RAW_HOLDER, str(r.port), "6"], "socket holder of 6")
    line = Lines(h.stdout, "holder").wait_line(0, 30)
    check(line and line.split()[2:] == ["4", "2"], "the socket holder: %r, expected 4 accepted, 2 refused" % line)
    holders.append((int(line.split()[1]), 4, h))
    t_full = time.time()
    for pid, n, _h in holders:
        check(ss_count(pid, [r.port], state="ESTAB") == n, "ground truth: ss shows pid %d with %d sockets, "
              "expected %d" % (pid, ss_count(pid, [r.port], state="ESTAB"), n))
    check(ss_count(holders[1][0], [r.port], state="CLOSE-WAIT") == 2, "ground truth: ss shows the refused "
          "sockets %s" % ss_count(holders[1][0], [r.port], state="CLOSE-WAIT"))
    probe = subprocess.run([py, "-c", PROBE, str(r.port)], capture_output=True, text=True, timeout=30)
    check("max number of clients reached" in probe.stdout,
          "ground truth: one more client was not refused: %r %r" % (probe.stdout, probe.stderr[-300:]))
    storm = subprocess.run([node, "-e", NODE_STORM, os.path.join(NODE_DIR, "node_modules", "ioredis"),
                            str(r.port), "3", "2"],
                           capture_output=True, text=True, timeout=30)
    check(storm.stdout.startswith("DONE") and int(storm.stdout.split()[1]) > 5,
          "the ioredis storm did not reconnect: %r %r" % (storm.stdout, storm.stderr[-300:]))
    for pid, n, _h in holders:
        check(ss_count(pid, [r.port], state="ESTAB") == n, "ground truth changed: pid %d holds %d" % (
            pid, ss_count(pid, [r.port], state="ESTAB")))
    check(rec.wait() == 0, "record: %s" % rec.describe())
    for _pid, _n, h in holders:
        h.stdin.close()
    d, _err = report_json([path], "report --json of a full server")
    try:
        full_summary_checks(d, path, r, holders, t_fill, t_full)
    except Fail as e:
        with open(path, "rb") as f:
            where = harness.keep_evidence("report_server_full", {
                "full.rcl": f.read(), "summary.json": json.dumps(d, indent=1),
                "truth.txt": "redis %d; holders %s; slots taken between %.3f and %.3f\n" % (
                    r.pid, [(pid, n) for pid, n, _h in holders], t_fill, t_full)})
        raise Fail("%s (%s)" % (e, where)) if where else e


def full_summary_checks(d, path, r, holders, t_fill, t_full):
    """report_server_full's checks of the summary of its capture."""
    srv = [p for p in d["files"][0]["processes"] if p["pid"] == r.pid]
    check(len(srv) == 1, "no row of redis-server %d: %s" % (r.pid, d["files"][0]["processes"]))
    srv = srv[0]
    want = [{"pid": pid, "comm": "python3", "count": n} for pid, n, _h in holders]
    check(srv.get("maxclients") == 12 and srv.get("maxclients_source") == "config-get",
          "--json: maxclients %r from %r, CONFIG GET says 12" % (srv.get("maxclients"), srv.get("maxclients_source")))
    check(srv.get("full_at") is not None and srv.get("headroom_min") == 0,
          "the summary does not say the server was full: %s" % {k: v for k, v in srv.items() if k != "verdicts"})
    check(t_fill <= srv["full_at"] <= t_full + 1.5,
          "full_at %.3f, the last slots were taken between %.3f and %.3f" % (srv["full_at"], t_fill, t_full))
    check(srv.get("full_holders") == want and srv.get("full_rcleak_links") == 1 and srv.get("full_clients") == 11,
          "the slots' holders: %s, links %s, clients %s; ss: %s + rcleak's link" % (
              srv.get("full_holders"), srv.get("full_rcleak_links"), srv.get("full_clients"), want))
    rc, out, err = report([path])
    check(rc == 0, "report: exit %d: %s" % (rc, err))
    line = [ln for ln in out.splitlines() if "FULL" in ln]
    check(len(line) == 1 and "11 clients + 1 rcleak --ask-redis link of 12" in line[0] and
          "7 python3 pid %d, 4 python3 pid %d" % (holders[0][0], holders[1][0]) in line[0],
          "the summary's FULL line: %r" % line)


def test_report_992_trap():
    """redis-server started under ulimit -n 1024 runs with maxclients 992
    (CONFIG GET says so: it lowered it itself). A capture without
    --ask-redis cannot know that, and the live view marks the assumed
    default "10000?"; report's summary stated "maxclients 10000 from
    default" as a fact. It marks it assumed, and says the fd limit caps the
    server at 992, its effective limit."""
    r = Redis(wrap=["bash", "-c", 'ulimit -n 1024 && exec "$@"', "ulimit"])
    check(r.config_get("maxclients") == "992", "ground truth: maxclients %r under ulimit -n 1024"
          % r.config_get("maxclients"))
    path = os.path.join(mkdtemp("rcleak-992-"), "trap.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "-d", "2"])
    rec.first()
    c = Client("hold", ["--target", "127.0.0.1:%d:5" % r.port], name="rclt-992")
    check(rec.wait() == 0, "record: %s" % rec.describe())
    c.exit()
    d, _err = report_json([path], "report --json of the 992 trap")
    srv = [p for p in d["files"][0]["processes"] if p["pid"] == r.pid]
    check(len(srv) == 1 and srv[0].get("maxclients", 0) is None and srv[0].get("maxclients_source") == "default"
          and srv[0]["effective_limit"] == 992, "--json: %s" % srv)
    rc, out, err = report([path])
    line = [ln for ln in out.splitlines() if "server pid %d" % r.pid in ln]
    check(rc == 0 and len(line) == 1, "report: exit %d, server lines %r: %s" % (rc, line, err))
    check("of 992 " in line[0] and "maxclients 10000 " not in line[0] and "10000?" in line[0]
          and "caps it at 992" in line[0],
          "Redis runs with maxclients 992 (CONFIG GET); the summary says: %r" % line[0])


def test_server_maxclients_raised_unasked():
    """A redis-server sized by a low fd limit (nofile 64, maxclients 20) gets
    CONFIG SET maxclients 100 with rcleak watching without --ask-redis:
    Redis raises its own nofile to 132 and takes 40 clients, and one more
    (PING answers PONG). rcleak kept the nofile it saw first as the one
    Redis sized by (so that a prlimit raise gains nothing) and said
    effective_limit 32, headroom -8, capped by nofile 64, and report's
    summary said the server was FULL, unmarked, as a bound it cannot pass.
    A server holding more slots than that limit allows has been sized
    since by its nofile now: the limit is min(10000?, 132 - 32)."""
    r = Redis(extra=["--maxclients", "20"], wrap=["prlimit", "--nofile=64:20000", "--"],
              bind=("127.0.0.1",))
    check(proc_nofile(r.pid)[0] == 64 and r.config_get("maxclients") == "20",
          "ground truth: nofile %s, maxclients %s" % (proc_nofile(r.pid), r.config_get("maxclients")))
    path = os.path.join(mkdtemp("rcleak-mcraise-"), "raise.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "-d", "6"])
    rec.first()
    check(r.cli("CONFIG", "SET", "maxclients", "100").strip() == "OK", "CONFIG SET maxclients 100")
    soft = proc_nofile(r.pid)[0]
    check(soft == 132, "ground truth: Redis raised its nofile to %s, expected 132" % soft)
    c = Client("hold", ["--target", "127.0.0.1:%d:40" % r.port], name="rclt-mcraise")
    check(r.connected_clients() == 40, "ground truth: INFO clients %d, expected 40" % r.connected_clients())
    probe = subprocess.run([PY, "-c", PROBE, str(r.port)], capture_output=True, text=True, timeout=30)
    check(probe.stdout.strip() == "+PONG", "ground truth: one more client: %r" % probe.stdout)
    check(rec.wait() == 0, "record: %s" % rec.describe())
    last = [server_row(o, r.pid) for o in rec.live()][-1]
    want = {"clients": 40, "nofile_soft": soft, "limit_nofile": soft, "effective_limit": soft - 32,
            "headroom": soft - 32 - 40, "maxclients_source": "default"}
    check(last is not None and all(last.get(k) == v for k, v in want.items()),
          "the live line at the end: %s, expected %s" % (last, want))
    c.exit()
    d, _err = report_json([path], "report --json of a server raised at runtime")
    srv = [p for p in d["files"][0]["processes"] if p["pid"] == r.pid]
    check(len(srv) == 1 and srv[0].get("full_at") is None and srv[0].get("headroom_min", -1) > 0,
          "report: the server never refused a client, and: %s" % srv)
