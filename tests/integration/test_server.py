"""The server row, maxclients, fd limits (--ask-redis: test_server_ask.py; CLOSE_WAIT and
zombie clients: test_server_zombies.py)."""
import json
import os
import subprocess
import sys

from harness import (RCLEAK, Client, Lines, Rcleak, Redis, check, children_of, expect_row, expect_server,
                     fields, mkdtemp, proc_fds, proc_nofile, proc_row, server_row, spawn, ss_accepted,
                     ss_count, stop, wait_until)

TESTS = ["test_server_row", "test_maxclients_option",
         "test_ulimit_headroom", "test_server_restart", "test_server_killed_leaks_none",
         "test_server_exit_unreaped", "test_replica",
         "test_bgsave_child",
         "test_ask_redis_full", "test_maxclients_last_option", "test_unix_socket_clients"]


def test_server_row():
    """clients == INFO clients connected_clients (minus redis-cli's own)."""
    r = Redis()
    c1 = Client("hold", ["--target", "127.0.0.1:%d:30" % r.port], name="rclt-s1")
    rc = Rcleak(["-p", str(r.port)])
    c2 = Client("hold", ["--target", "[::1]:%d:12" % r.port], name="rclt-s2")
    n = r.connected_clients()
    check(n == 42, "ground truth: INFO clients says %d (minus redis-cli), expected 42" % n)
    soft, _hard = proc_nofile(r.pid)
    obj = expect_server(rc, r.pid, {"clients": n, "ports": [r.port], "nofile_soft": soft},
                        what="server row with 42 clients")
    srv = server_row(obj, r.pid)
    check(srv.get("comm") == "redis-server", "server comm %r" % srv.get("comm"))
    mc = srv.get("maxclients")
    check(mc is None or isinstance(mc, int), "maxclients is %r, expected int or null" % (mc,))
    if mc is None:
        check(srv.get("effective_limit") == soft - 32,
              "maxclients is null (source %r) but effective_limit=%r; expected "
              "min(maxclients, nofile_soft-32) = nofile_soft-32 = %d when maxclients is "
              "unknown (or report the assumed maxclients as an int)"
              % (srv.get("maxclients_source"), srv.get("effective_limit"), soft - 32))
    if isinstance(mc, int):
        eff = min(mc, soft - 32)
        check(srv.get("effective_limit") == eff and srv.get("headroom") == eff - n,
              "maxclients=%d nofile_soft=%d clients=%d: %s, expected effective_limit=%d headroom=%d"
              % (mc, soft, n, fields(srv, "effective_limit", "headroom"), eff, eff - n))
    c2.exit()
    n = r.connected_clients()
    check(n == 30, "ground truth after one client exited: INFO clients %d, expected 30" % n)
    expect_server(rc, r.pid, {"clients": n}, what="server row after a client exited")
    c1.exit()
    n = r.connected_clients()
    check(n == 0, "ground truth after both clients exited: INFO clients %d" % n)
    expect_server(rc, r.pid, {"clients": n}, what="server row with no clients")


def test_maxclients_option():
    """--maxclients 100: effective_limit = min(100, nofile_soft - 32), headroom."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:10" % r.port], name="rclt-mc")
    rc = Rcleak(["-p", str(r.port), "--maxclients", "100"])
    soft, _ = proc_nofile(r.pid)
    eff = min(100, soft - 32)
    n = r.connected_clients()
    check(n == 10, "ground truth: INFO clients %d" % n)
    expect_server(rc, r.pid, {"clients": n, "maxclients": 100, "effective_limit": eff,
                              "headroom": eff - n}, what="--maxclients 100")
    c.exit()


def test_ulimit_headroom():
    """A client under ulimit -n 64 holding 50 connections."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    c = Client("hold", ["--target", "127.0.0.1:%d:50" % r.port], name="rclt-ulim",
               wrap=["bash", "-c", 'ulimit -n 64 && exec "$@"', "ulimit"])
    soft, hard = proc_nofile(c.pid)
    check(soft == 64 and hard == 64, "ground truth: client nofile %s/%s" % (soft, hard))
    fds = proc_fds(c.pid)
    check(fds >= 50, "ground truth: client has %d fds" % fds)
    check(ss_count(c.pid, [r.port]) == 50, "ground truth: ss count")
    expect_row(rc, c.pid, {"open": 50, "fds": fds, "nofile_soft": 64, "nofile_hard": 64,
                           "fd_headroom": 64 - fds}, what="ulimit -n 64")
    check(proc_fds(c.pid) == fds, "client fd count changed during the test")


def test_server_restart():
    """redis-server stops while clients hold connections (they go CLOSE_WAIT), then a
    new redis-server comes up on the same port."""
    r = Redis()
    port, old_pid = r.port, r.pid
    rc = Rcleak(["-p", str(port)])
    c = Client("hold", ["--target", "127.0.0.1:%d:10" % port], name="rclt-rst")
    expect_server(rc, old_pid, {"clients": 10}, what="before the restart")
    r.proc.terminate()
    r.proc.wait(10)
    wait_until(lambda: ss_count(c.pid, [port], "CLOSE-WAIT") == 10, what="10 CLOSE-WAIT in ss")

    def gone(obj):
        srv = server_row(obj, old_pid)
        row = proc_row(obj, old_pid)
        crow = proc_row(obj, c.pid)
        # the exited redis-server's row stays for a window, still a server
        # (it accepted 10 connections: a client's verdicts must not see them)
        ok = (srv is None and row is not None and row.get("exited") is True and row.get("open") == 0
              and row.get("role") == "server"
              and crow is not None and crow.get("close_wait") == 10 and crow.get("open") == 10)
        return ok, "old server row %s; old process row %s; client %s (expected no server row, " \
            "exited process with role server, client close_wait=10 open=10)" % (
                fields(srv, "clients"), fields(row, "exited", "open", "role"),
                fields(crow, "open", "close_wait", "established"))
    rc.wait_for(gone, what="after redis-server stopped")
    r2 = Redis(port=port)
    c2 = Client("hold", ["--target", "127.0.0.1:%d:4" % port], name="rclt-rst2")
    expect_server(rc, r2.pid, {"clients": 4, "ports": [port]}, what="the restarted redis-server")
    expect_row(rc, c.pid, {"close_wait": 10, "open": 10}, what="old client still holding CLOSE_WAIT")


def test_server_killed_leaks_none():
    """redis-server is killed (SIGKILL) while a client holds 10 connections:
    the kernel closes the server's ends at its exit. Those are the client's
    connections (ss: 10 in CLOSE-WAIT, in the client's hands), not the
    server's leaks: the exited server row said leaked 10. The client, killed
    next, leaked its 10 (as `rcleak run` counts both)."""
    n = 10
    r = Redis()
    port, srv = r.port, r.pid
    rc = Rcleak(["-p", str(port)])
    c = Client("hold", ["--target", "127.0.0.1:%d:%d" % (port, n)], name="rclt-srvkill")
    expect_server(rc, srv, {"clients": n}, what="before the kill")
    r.proc.kill()
    r.proc.wait(10)
    wait_until(lambda: ss_count(c.pid, [port], "CLOSE-WAIT") == n, what="%d CLOSE-WAIT in ss" % n)

    def server_gone(obj):
        row = proc_row(obj, srv)
        ok = row is not None and row.get("exited") is True and row.get("role") == "server" \
            and row.get("leaked") == 0
        return ok, "killed redis-server's row %s (expected exited, role server, leaked 0: ground truth, " \
            "ss shows the %d connections in CLOSE-WAIT held by the client pid %d)" % (
                fields(row, "exited", "role", "leaked", "opened", "closed"), n, c.pid)
    rc.wait_for(server_gone, what="after redis-server was killed")
    c.proc.kill()
    c.proc.wait(10)
    check(ss_count(c.pid, [port]) == 0, "ground truth: the killed client still holds sockets")

    def client_gone(obj):
        crow, row = proc_row(obj, c.pid), proc_row(obj, srv)
        ok = crow is not None and crow.get("exited") is True and crow.get("leaked") == n \
            and (row is None or row.get("leaked") == 0)
        return ok, "client row %s, server row %s (expected the client exited with leaked %d, the server " \
            "leaked 0)" % (fields(crow, "exited", "leaked"), fields(row, "leaked"), n)
    rc.wait_for(client_gone, what="after the client was killed")


# Runs argv as a child and never wait()s for it: once the child exits, it
# stays a zombie (as under a supervisor slow to reap, or a container whose
# init does not reap).
NO_REAP = "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(3600)"


def _stat_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rfind(")") + 2:].split()[0]
    except OSError:
        return None


def test_server_exit_unreaped():
    """redis-server and a client exit, and their parent does not reap them
    (zombies): both rows say exited, and the server's stays a server's."""
    r = Redis(wrap=[sys.executable, "-c", NO_REAP])
    kids = children_of(r.pid)
    check(len(kids) == 1, "the non-reaping parent has children %s" % kids)
    srv, port = kids[0], r.port
    rc = Rcleak(["-p", str(port)])
    c = Client("hold", ["--target", "127.0.0.1:%d:4" % port], name="rclt-unreap",
               wrap=[sys.executable, "-c", NO_REAP])
    expect_server(rc, srv, {"clients": 4}, what="before the shutdown")
    expect_row(rc, c.pid, {"open": 4}, what="client before it exits")
    c.cmd("exit", None)
    subprocess.run(["redis-cli", "-p", str(port), "SHUTDOWN", "NOSAVE"], capture_output=True, timeout=10)
    wait_until(lambda: _stat_state(srv) == "Z" and _stat_state(c.pid) == "Z",
               what="redis-server and the client to be zombies")

    def gone(obj):
        row, crow = proc_row(obj, srv), proc_row(obj, c.pid)
        ok = (server_row(obj, srv) is None and row is not None and row.get("exited") is True
              and row.get("role") == "server" and crow is not None and crow.get("exited") is True
              and crow.get("leaked") == 4)
        return ok, "server process row %s; client row %s (expected both exited, role server, " \
            "client leaked=4; ground truth: both zombies)" % (
                fields(row, "exited", "role", "open", "fds"), fields(crow, "exited", "open", "leaked", "fds"))
    rc.wait_for(gone, what="after both exited, unreaped")


def test_replica():
    """A replica (B replicaof A): B's outbound link to A is not one of B's clients."""
    a = Redis()
    b = Redis()
    rc = Rcleak(["-p", "%d,%d" % (a.port, b.port)])
    b.cli("REPLICAOF", "127.0.0.1", str(a.port))
    wait_until(lambda: "master_link_status:up" in b.cli("INFO", "replication"),
               what="replication link up")
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % b.port], name="rclt-repl")

    def pred(obj):
        bad = []
        for srv in (a, b):
            truth = ss_accepted(srv.pid, srv.port)
            row = server_row(obj, srv.pid)
            if row is None or row.get("clients") != truth:
                bad.append("server %s port %d: %s expected clients=%d" % (
                    "A" if srv is a else "B", srv.port, fields(row, "clients"), truth))
        bt = ss_count(b.pid, [a.port, b.port])
        brow = proc_row(obj, b.pid)
        if brow is None or brow.get("open") != bt:
            bad.append("replica process %s expected open=%d" % (fields(brow, "open", "role"), bt))
        return not bad, "; ".join(bad)
    rc.wait_for(pred, what="master/replica")
    check(ss_accepted(b.pid, b.port) == 3, "ground truth: replica has %d clients" % ss_accepted(b.pid, b.port))


# One connection that sends a command and then waits on the server without
# sending anything: SUBSCRIBE (pub/sub) or BLPOP (blocked), raw RESP.


def test_bgsave_child():
    """A BGSAVE forks the redis-server; the child holds copies of every
    client socket until it is done (ss), but those are the server's
    clients, not connections the child made: it must not show as a client
    holding 20 Redis connections (it did, with the server's pid as parent,
    sorted first by its growth), while the server keeps its 20 clients."""
    r = Redis(extra=["--rdbcompression", "no"])
    data = "".join("*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$1\r\nv\r\n" % (len("k%d" % i), i)
                   for i in range(100000))
    p = subprocess.run(["redis-cli", "-p", str(r.port), "--pipe"], input=data, capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0, "redis-cli --pipe: %s" % p.stderr[-300:])
    c = Client("hold", ["--target", "127.0.0.1:%d:20" % r.port], name="rclt-bgsave")
    rc = Rcleak(["-p", str(r.port), "-i", "0.3"])
    expect_server(rc, r.pid, {"clients": 20}, what="before the BGSAVE")
    r.cli("CONFIG", "SET", "rdb-key-save-delay", "1000")  # 100000 keys: 100 s, ended below
    try:
        check("started" in r.cli("BGSAVE"), "BGSAVE did not start")
        kids = []
        wait_until(lambda: kids.extend(children_of(r.pid)) or kids, what="ground truth: the BGSAVE child")
        child = kids[0]
        wait_until(lambda: ss_count(child, [r.port]) >= 20,
                   what="ground truth: the BGSAVE child holds the 20 client sockets (ss)")
        rc.skip_to_now()
        for _ in range(3):
            obj = rc.line()
        check(ss_count(child, [r.port]) >= 20, "ground truth: the BGSAVE child is gone")
        row = proc_row(obj, child)
        check(row is None or row.get("open") == 0,
              "BGSAVE child pid %d: %s, expected no connections of its own" % (
                  child, fields(row, "role", "open", "shared", "growth_per_min")))
        srv = server_row(obj, r.pid)
        check(srv is not None and srv.get("clients") == 20, "server: %s" % fields(srv, "clients"))
    finally:
        r.cli("CONFIG", "SET", "rdb-key-save-delay", "0")
    c.exit()


# Holds COUNT connections to 127.0.0.1:PORT, each AUTHed with PASSWORD (when
# not empty) and PINGed; prints READY, holds them until stdin closes.
FILL = """
import socket, sys
port, count, pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
held = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    if pw:
        s.sendall(b"AUTH %s\\r\\n" % pw.encode())
        assert f.readline() == b"+OK\\r\\n"
    s.sendall(b"PING\\r\\n")
    assert f.readline() == b"+PONG\\r\\n"
    held.append((s, f))
print("READY", flush=True)
sys.stdin.read()
"""


def _fill(port, count, pw=""):
    p = spawn([sys.executable, "-c", FILL, str(port), str(count), pw], "client fill %d" % port)
    out = Lines(p.stdout, "fill")
    check(out.wait_line(0, 20) == "READY", "filler of port %d: %r %r" % (
        port, out.text()[-200:], p.stderr.read().decode()[-300:] if p.poll() is not None else ""))
    return p


def test_ask_redis_full():
    """`sudo rcleak --ask-redis` started when Redis already answers `ERR max
    number of clients reached` (the moment it is run for): Redis refuses
    rcleak's own link too, so CONFIG GET cannot tell its maxclients. The
    server row must not fall back to the assumed 10000 and show thousands of
    free slots: a full server's limit is the clients it holds (headroom 0).
    With REDISCLI_AUTH, the refusal answers the AUTH: stderr must not blame
    the password. Once slots are free, CONFIG GET's answer replaces it."""
    a = Redis(extra=["--maxclients", "12"])
    b = Redis(extra=["--maxclients", "12"])
    out = b.cli("CONFIG", "SET", "requirepass", "rclt-pw")
    check(out.strip() == "OK", "CONFIG SET requirepass: %r" % out)
    env = dict(os.environ, REDISCLI_AUTH="rclt-pw")
    ca = Client("hold", ["--target", "127.0.0.1:%d:7" % a.port], name="rclt-fulla")
    fills = [_fill(a.port, 5), _fill(b.port, 7, "rclt-pw"), _fill(b.port, 5, "rclt-pw")]
    for srv in (a, b):
        r = subprocess.run(["redis-cli", "-p", str(srv.port), "PING"], env=env,
                           capture_output=True, text=True, timeout=10)
        check("max number of clients reached" in r.stdout + r.stderr,
              "ground truth: redis-server port %d is not full: %r" % (srv.port, r.stdout + r.stderr))
        check(ss_accepted(srv.pid, srv.port) == 12, "ground truth: port %d holds %d clients" % (
            srv.port, ss_accepted(srv.pid, srv.port)))
    rc = Rcleak(["-p", "%d,%d" % (a.port, b.port), "--ask-redis"],
                wrap=["env", "REDISCLI_AUTH=rclt-pw"])

    def full(obj):
        bad = []
        for srv in (a, b):
            row = server_row(obj, srv.pid)
            if row is None or row.get("clients") != 12 or row.get("effective_limit") != 12 or \
                    row.get("headroom") != 0:
                bad.append("server port %d (full at maxclients 12, 12 clients): %s" % (
                    srv.port, fields(row, "clients", "maxclients", "maxclients_source",
                                     "effective_limit", "headroom")))
        return not bad, "; ".join(bad)
    rc.wait_for(full, what="--ask-redis against full servers")
    err = rc.stderr()
    check("REDISCLI_AUTH" not in err, "a full server's refusal blamed on the password: %r" % err[-400:])
    # free 5 slots of each: CONFIG GET answers again (ground truth) and rcleak
    # takes its answer
    ca.cmd("close 5", "CLOSED")
    stop(fills[2])
    for srv in (a, b):
        r = subprocess.run(["redis-cli", "-p", str(srv.port), "CONFIG", "GET", "maxclients"],
                           env=env, capture_output=True, text=True, timeout=10)
        check(r.stdout.split("\n")[1:2] == ["12"], "ground truth: CONFIG GET maxclients on port %d: %r"
              % (srv.port, r.stdout))
        wait_until(lambda: ss_accepted(srv.pid, srv.port) - ss_count(rc.pid, [srv.port]) == 7,
                   what="ground truth: port %d holds 7 clients besides rcleak's link" % srv.port)

    def freed(obj):
        bad = []
        for srv in (a, b):
            row = server_row(obj, srv.pid)
            # headroom: 12 less the 7 clients and rcleak's own link
            want = {"clients": 7, "maxclients": 12, "maxclients_source": "config-get",
                    "effective_limit": 12, "rcleak_links": 1, "headroom": 4}
            if row is None or any(row.get(k) != v for k, v in want.items()):
                bad.append("server port %d: %s, expected %s" % (
                    srv.port, fields(row, *want), want))
        return not bad, "; ".join(bad)
    rc.wait_for(freed, timeout=30, what="--ask-redis after the servers freed 5 slots")
    for p in fills[:2]:
        stop(p)
    ca.exit()


def test_maxclients_last_option():
    """redis-server applies its command-line options in order, names
    case-insensitive (a wrapper's override after the unit's own, say):
    `--maxclients 50 --MAXCLIENTS 20` runs with 20 (CONFIG GET), and with
    set-proc-title no its command line must say the same to rcleak."""
    r = Redis(extra=["--maxclients", "50", "--set-proc-title", "no", "--MAXCLIENTS", "20"])
    cfg = int(r.config_get("maxclients"))
    check(cfg == 20, "ground truth: CONFIG GET maxclients says %d" % cfg)
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-mc2")
    rc = Rcleak(["-p", str(r.port)])
    soft, _ = proc_nofile(r.pid)
    eff = min(cfg, soft - 32)
    expect_server(rc, r.pid, {"maxclients": cfg, "maxclients_source": "cmdline", "clients": 3,
                              "effective_limit": eff, "headroom": eff - 3},
                  what="redis-server --maxclients 50 ... --MAXCLIENTS 20")
    c.exit()


# Holds COUNT connections to the unix socket PATH, each PINGed; prints
# READY, holds them until stdin closes.
UNIX_FILL = r"""
import socket, sys
path, count = sys.argv[1], int(sys.argv[2])
held = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    f = s.makefile("rb")
    s.sendall(b"PING\r\n")
    assert f.readline() == b"+PONG\r\n"
    held.append((s, f))
print("READY", flush=True)
sys.stdin.read()
"""


def test_unix_socket_clients():
    """Clients on redis-server's unix socket take slots of its maxclients
    as TCP clients do: clients == INFO connected_clients with both kinds,
    unix_clients the unix ones, headroom from both; with --walk proc too,
    and in what record wrote."""
    d = mkdtemp("rcl-unix")
    path = os.path.join(d, "redis.sock")
    r = Redis(extra=["--unixsocket", path, "--unixsocketperm", "700", "--maxclients", "50"])
    tcp = _fill(r.port, 4)
    ux = spawn([sys.executable, "-c", UNIX_FILL, path, "3"], "unix-socket clients")
    out = Lines(ux.stdout, "unix fill")
    check(out.wait_line(0, 20) == "READY", "unix-socket clients did not start: %r" % out.text()[-200:])
    n = r.connected_clients()
    check(n == 7, "ground truth: INFO clients says %d (minus redis-cli), expected 4 TCP + 3 unix" % n)
    soft, _ = proc_nofile(r.pid)
    eff = min(50, soft - 32)
    for walk in ([], ["--walk", "proc"]):
        rc = Rcleak(["-p", str(r.port), "--maxclients", "50"] + walk)
        expect_server(rc, r.pid, {"clients": n, "unix_clients": 3, "effective_limit": eff,
                                  "headroom": eff - n},
                      what="4 TCP and 3 unix-socket clients %s" % " ".join(walk))
        rc.close()

    cap = os.path.join(d, "unix.rcl")
    rec = subprocess.run([RCLEAK, "record", "-w", cap, "-p", str(r.port), "--maxclients", "50",
                          "-i", "0.5", "-d", "2"], capture_output=True, text=True, timeout=60)
    check(rec.returncode == 0, "record exited %d: %s" % (rec.returncode, rec.stderr[-300:]))
    rep = subprocess.run([RCLEAK, "report", cap, "--replay", "--json", "--speed", "1000"],
                         capture_output=True, text=True, timeout=60)
    check(rep.returncode == 0, "report --replay exited %d: %s" % (rep.returncode, rep.stderr[-300:]))
    lines = [json.loads(l) for l in rep.stdout.splitlines() if l.strip()]
    check(lines, "report --replay printed nothing")
    srv = server_row(lines[-1], r.pid)
    check(srv and srv.get("clients") == n and srv.get("unix_clients") == 3
          and srv.get("headroom") == eff - n,
          "replayed server row %s, expected clients=%d unix_clients=3 headroom=%d"
          % (fields(srv or {}, "clients", "unix_clients", "headroom"), n, eff - n))

    ux.stdin.close()
    ux.wait(10)
    n = r.connected_clients()
    check(n == 4, "ground truth after the unix-socket clients left: INFO clients %d" % n)
    rc = Rcleak(["-p", str(r.port), "--maxclients", "50"])
    expect_server(rc, r.pid, {"clients": n, "unix_clients": 0, "headroom": eff - n},
                  what="after the unix-socket clients left")
    rc.close()
    tcp.stdin.close()
    tcp.wait(10)
