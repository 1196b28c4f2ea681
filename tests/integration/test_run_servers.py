"""`rcleak run -- CMD` where CMD's tree holds servers: a redis-server, a
proxy that listens on a watched port, a replica linked to its master. The
connections a server accepted are its clients', not its leaks; a proxy's own
backend connections are judged as any client's.

Run alone:  python3 tests/integration/test_run_servers.py [-k NAME]
"""
import os
import shutil
import socket
import subprocess
import sys

import harness
from harness import (Client, Fail, Redis, Skip, check, mkdtemp, resp_ping, ss_accepted, ss_count,
                     wait_until)
from run_harness import (Run, _descendants, expect, expect_detail_names, expect_rules, prow,
                         summary_checks, wait_redis_idle)

TESTS = ["test_run_server_not_leak", "test_run_proxy_leak", "test_run_listener_accepts_only",
         "test_run_replica_link_not_leak"]


def test_run_server_not_leak():
    """CMD is a redis-server: the 4 connections it accepted from a client
    outside the tree, still open when it shuts down, are not leaks (role server)."""
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        raise Skip("redis-server/redis-cli not installed")
    # the port free_port() found free may be taken before redis-server binds
    # it (another test's client's ephemeral port, on a busy machine): then
    # redis-server exits at once, and another port is tried, as Redis() does
    for attempt in range(3):
        q = harness.free_port()
        d = mkdtemp("rcleak-run-redis-")
        log = os.path.join(d, "redis.log")
        cmd = ["redis-server", "--port", str(q), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--daemonize", "no", "--dir", d, "--logfile", log]
        run = Run(["-p", str(q), "--max-leaked", "0"], cmd)

        def bind_failed():
            try:
                with open(log) as f:
                    return run.proc.poll() is not None and "in use" in f.read()
            except OSError:
                return False

        def up():
            try:
                return resp_ping(q)
            except OSError:
                return bind_failed()
        try:
            wait_until(up, timeout=10, what="redis-server under rcleak run to answer")
        except Fail:
            run.cleanup()
            raise
        if run.proc.poll() is None or attempt == 2:
            break
        run.wait()
        run.cleanup()
    try:
        srv = [p for p, c in _descendants(run.pid) if c == "redis-server"]
        check(len(srv) == 1, "redis-server under rcleak: %s" % _descendants(run.pid))
        srv = srv[0]
        hold = Client("hold", ["--target", "127.0.0.1:%d:4" % q], name="rclt-srvhold")
        check(ss_accepted(srv, q) == 4, "ground truth: redis-server holds %d accepted"
              % ss_accepted(srv, q))
        subprocess.run(["redis-cli", "-p", str(q), "shutdown", "nosave"], capture_output=True,
                       timeout=10)
        rc = run.wait()
        check(rc == 0, "exit status %r, expected 0 (redis-server exited 0, no leak); %s"
              % (rc, run.describe()))
        js = run.load_json()
    finally:
        run.cleanup()
    row = prow(js, srv)
    expect(row, {"comm": "redis-server", "role": "server", "leaked": 0, "open_at_end": 0,
                 "opened": 0, "closed": 0, "exited": True},
           "--json redis-server %d (held 4 accepted at exit, opened none itself)" % srv)
    check(row["accepted"] >= 5, "--json redis-server accepted=%r, expected >= 5 (4 held, "
          "redis-cli, pings)" % row["accepted"])
    expect(js["totals"], {"leaked": 0, "open_at_end": 0}, "--json totals")
    expect(js, {"result": "pass", "exit_code": 0, "cmd_exit": 0}, "--json")
    expect_rules(js, {"max-leaked": (0, 0, True)})
    hold.stop()


_LISTENER = (
    "import os, socket, sys, time\n"
    "lport, rport, n, k, gate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), "
    "int(sys.argv[4]), sys.argv[5]\n"
    "ls = socket.socket()\n"
    "ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "ls.bind(('127.0.0.1', lport))\n"
    "ls.listen(16)\n"
    "acc = [ls.accept()[0] for _ in range(k)]\n"
    "own = [socket.create_connection(('127.0.0.1', rport)) for _ in range(n)]\n"
    "for s in own:\n"
    "    s.sendall(b'*1\\r\\n$4\\r\\nPING\\r\\n')\n"
    "    assert s.recv(64) == b'+PONG\\r\\n'\n"
    "print('READY pid=%d' % os.getpid(), flush=True)\n"
    "while not os.path.exists(gate):\n"
    "    time.sleep(0.02)\n"
    "os._exit(0)\n")


def _listener_case(n, k, rc_args, want_rc):
    """`rcleak run -p LPORT -p REDIS rc_args -- python3 _LISTENER`, with k
    connections accepted and n opened to Redis at exit (ground truth: ss).
    Returns (pid, run, json)."""
    r = Redis()
    lport = harness.free_port()
    d = mkdtemp("rcleak-run-listener-")
    gate = os.path.join(d, "gate")
    run = Run(["-p", str(lport), "-p", str(r.port)] + list(rc_args),
              [sys.executable, "-c", _LISTENER, str(lport), str(r.port), str(n), str(k), gate])
    conns = []
    try:
        def dial():
            try:
                conns.append(socket.create_connection(("127.0.0.1", lport), timeout=1))
            except OSError:
                return False
            return len(conns) == k
        if k:
            wait_until(dial, timeout=10, what="%d connections to the listener on %d" % (k, lport))
        wait_until(lambda: "READY" in run.out(), timeout=10, what="the listener's READY line")
        pid = int(run.out().split("READY pid=")[1].split()[0])
        check(ss_accepted(pid, lport) == k and ss_count(pid, [r.port]) == n,
              "ground truth: the listener %d holds %d accepted on %d (expected %d) and %d "
              "connections to Redis on %d (expected %d)"
              % (pid, ss_accepted(pid, lport), lport, k, ss_count(pid, [r.port]), r.port, n))
        with open(gate, "w"):
            pass
        rc = run.wait()
        check(rc == want_rc, "exit status %r, expected %r; %s" % (rc, want_rc, run.describe()))
        js = run.load_json()
    finally:
        run.cleanup()
        for c in conns:
            c.close()
    wait_redis_idle(r, "after the listener exited (the kernel closes what it left open)")
    return pid, run, js


def test_run_proxy_leak():
    """A process that listens on a watched port (a proxy, a Sentinel) and
    exits with 3 connections of its own to Redis open, and 4 it accepted:
    its own 3 are leaks (exit 5, named), the 4 accepted are not; its
    opened, peak and connects are its own (--max-connects 3 passes).  rcleak
    judged it a server and passed it, whatever it leaked."""
    n, k = 3, 4
    pid, run, js = _listener_case(n, k, ["--max-leaked", "0", "--max-connects", str(n)], 5)
    row = prow(js, pid)
    expect(row, {"comm": "python3", "role": "server", "leaked": n, "opened": n, "closed": 0,
                 "accepted": k, "open_at_end": 0, "peak_open": n, "verdict": "LEAK",
                 "exited": True}, "--json listener %d (%d own to Redis, %d accepted, at exit)"
           % (pid, n, k))
    expect(js["totals"], {"opened": n, "closed": 0, "leaked": n, "open_at_end": 0}, "--json totals")
    expect(js, {"result": "fail", "exit_code": 5, "cmd_exit": 0}, "--json")
    expect_rules(js, {"max-leaked": (0, n, False), "max-connects": (n, n, True)})
    expect_detail_names(js, "max-leaked", pid, "python3")
    summary_checks(run, pid, "python3", "LEAK", {"max-leaked": "FAIL", "max-connects": "PASS"})


def test_run_listener_accepts_only():
    """A listener that only accepts, and exits with its 4 accepted
    connections open: no leak, no connect, and no open connection of its
    own for --max-open (which counted the accepted ones): --max-leaked 0
    --max-open 0 --max-connects 0 pass."""
    k = 4
    pid, run, js = _listener_case(0, k, ["--max-leaked", "0", "--max-open", "0",
                                         "--max-connects", "0"], 0)
    row = prow(js, pid)
    expect(row, {"comm": "python3", "role": "server", "leaked": 0, "opened": 0, "closed": 0,
                 "accepted": k, "open_at_end": 0, "peak_open": 0, "verdict": "ok",
                 "exited": True}, "--json listener %d (%d accepted at exit)" % (pid, k))
    expect(js["totals"], {"opened": 0, "closed": 0, "leaked": 0, "open_at_end": 0}, "--json totals")
    expect(js, {"result": "pass", "exit_code": 0, "cmd_exit": 0}, "--json")
    expect_rules(js, {"max-leaked": (0, 0, True), "max-open": (0, 0, True),
                      "max-connects": (0, 0, True)})
    summary_checks(run, pid, "python3", None, {"max-leaked": "PASS", "max-open": "PASS"})




# argv: MASTER_PORT REPLICA_PORT DIR. A master and its replica, children of
# the shell; READY in DIR once the replica's link is up (asked over a socket
# closed properly: redis-cli exits with its connection open, a leak by
# rcleak's rule), then both stopped with SIGTERM once DIR/stop appears, the
# replica first (stopped second, it sees its master go and closes the link
# itself).


REPLICA_CMD = r"""
m=$1 r=$2 d=$3
redis-server --port $m --bind 127.0.0.1 --save '' --appendonly no --dir $d --logfile $d/m.log &
redis-server --port $r --bind 127.0.0.1 --save '' --appendonly no --dir $d --logfile $d/r.log \
    --replicaof 127.0.0.1 $m &
python3 - $r <<'PY'
import socket, sys, time
for _ in range(200):
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
            s.sendall(b"INFO replication\r\n")
            time.sleep(0.05)
            if b"master_link_status:up" in s.recv(4096):
                break
    except OSError:
        pass
    time.sleep(0.1)
PY
echo READY > $d/ready
while [ ! -e $d/stop ]; do sleep 0.05; done
kill %2
wait %2
kill %1
wait
"""


def test_run_replica_link_not_leak():
    """CMD starts a master and its replica, and stops both. The replica's
    link to its master is Redis's replication, which Redis makes and
    closes itself: the kernel closed it at the replica's exit, and rcleak
    run counted it as the replica's leak and failed --max-leaked 0 (LEAK,
    leaked 1), as report and the live view's exited row did. A
    redis-server's own connections are Redis's, not an app's leaks."""
    if not shutil.which("redis-server"):
        raise Skip("redis-server not installed")
    m, r = harness.free_port(), harness.free_port()
    d = mkdtemp("rcleak-run-replica-")
    run = Run(["-p", "%d,%d" % (m, r), "--max-leaked", "0"], ["bash", "-c", REPLICA_CMD, "replica", str(m),
                                                              str(r), d])
    try:
        wait_until(lambda: os.path.exists(os.path.join(d, "ready")), timeout=30,
                   what="the replica's link up under rcleak run")
        srv = dict((c_port, p) for p, c in _descendants(run.pid) if c == "redis-server"
                   for c_port in [p])
        replica = [p for p in srv if ss_count(p, [m]) == 1 and not ss_accepted(p, m)]
        check(len(replica) == 1, "ground truth: one redis-server holds a link to the master's port %d "
              "(ss): %s" % (m, [(p, ss_count(p, [m])) for p in srv]))
        open(os.path.join(d, "stop"), "w").close()
        rc = run.wait()
        js = run.load_json()
    finally:
        run.cleanup()
    row = prow(js, replica[0])
    expect(row, {"comm": "redis-server", "role": "server", "leaked": 0, "open_at_end": 0, "exited": True},
           "--json the replica %d (its link to the master closed at its exit)" % replica[0])
    check(rc == 0, "exit status %r, expected 0 (no app leaked); %s" % (rc, run.describe()))
    expect(js["totals"], {"leaked": 0, "open_at_end": 0}, "--json totals")


if __name__ == "__main__":
    import runner
    runner.MODULES = ["test_run_servers"]
    sys.exit(runner.main(sys.argv[1:]))
