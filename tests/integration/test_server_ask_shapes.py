"""--ask-redis against the Redis deployment shapes whose slots are not all
clients: a replica's link to its master, a cluster node's bus links, a
maxclients changed at runtime, a TLS-only port. Each against real clients
probing the server's free slots."""
import os
import re
import socket
import subprocess

from harness import (RCLEAK, Client, Skip, free_port, Rcleak, Redis, check, expect_server, mkdtemp, server_row,
                     spawn, stop, wait_until)
from record_harness import Recorder, report, report_json

TESTS = ["test_ask_redis_replica_master_link", "test_ask_redis_maxclients_set_at_runtime",
         "test_ask_redis_tls_port", "test_ask_redis_cluster_bus_links"]


def _probe_slots(port, n):
    """Ground truth of a server's free slots: n new clients, each PINGs;
    how many got PONG before Redis refused one (max number of clients)."""
    socks, ok = [], 0
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
            s.sendall(b"PING\r\n")
            ans = s.recv(200)
            if not ans.startswith(b"+PONG"):
                check(b"max number of clients" in ans, "probe client %d: %r" % (len(socks), ans))
                break
            ok += 1
    finally:
        for s in socks:
            s.close()
    return ok


def _recorded_headroom(r, room, what):
    """Record server r for 3 s with --ask-redis: report --json's lowest
    headroom of it must be room (what: the server, for the message).
    Returns the capture's path."""
    path = os.path.join(mkdtemp("rcleak-headroom-"), "h.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--ask-redis", "-d", "3"])
    check(rec.wait() == 0, "record: %s" % rec.describe())
    d, _err = report_json([path], "report --json of " + what)
    srv = [p for p in d["files"][0]["processes"] if p["pid"] == r.pid]
    check(len(srv) == 1 and srv[0].get("headroom_min") == room,
          "report: %s: headroom_min %r, expected %d" % (what, srv and srv[0].get("headroom_min"), room))
    return path


def test_ask_redis_replica_master_link():
    """A replica's link to its master is a client of the replica's own
    (CLIENT LIST flags=M, INFO's connected_clients counts it) and takes a
    slot of its maxclients: a replica at maxclients 6 with 2 clients and
    rcleak's link takes 2 more, not 3. rcleak said headroom 3 (6 - 2 - 1),
    live and in report's headroom_min, the master link uncounted: watching
    the replica's port, the link (to the master's port) is not seen by the
    walk at all. With --ask-redis, CLIENT LIST tells it: master_links 1,
    the headroom less its slot."""
    m = Redis(bind=("127.0.0.1",))
    r = Redis(extra=["--maxclients", "6", "--replicaof", "127.0.0.1", str(m.port)], bind=("127.0.0.1",))
    wait_until(lambda: "master_link_status:up" in r.cli("INFO", "replication"), 20,
               "the replica's link to its master")
    check(sum(" flags=M " in ln for ln in r.cli("CLIENT", "LIST").splitlines()) == 1,
          "ground truth: the replica's CLIENT LIST has no master link: %r" % r.cli("CLIENT", "LIST"))
    c = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-repl")
    rc = Rcleak(["-p", str(r.port), "--ask-redis", "-i", "0.5"])
    expect_server(rc, r.pid, {"maxclients": 6, "maxclients_source": "config-get", "clients": 2,
                              "rcleak_links": 1}, what="the replica's 2 clients, maxclients told")
    room = _probe_slots(r.port, 6)
    check(room == 2, "ground truth: the replica took %d more clients beside 2, its master link and "
          "rcleak's, expected 2" % room)
    expect_server(rc, r.pid, {"clients": 2, "rcleak_links": 1, "master_links": 1, "headroom": room},
                  timeout=5, what="the replica's headroom less its master link's slot")

    def master_entry(obj):
        srv = server_row(obj, r.pid) or {}
        ms = [e for e in srv.get("redis_clients", []) if e.get("master")]
        return (len(ms) == 1 and ms[0].get("addr") == "127.0.0.1:%d" % m.port,
                "redis_clients' master entries: %s" % ms)
    rc.wait_for(master_entry, 5, "the master link marked in redis_clients")
    rc.close()
    path = _recorded_headroom(r, room, "the replica (CLIENT LIST: 2 clients, the master link, rcleak's "
                              "link, of 6)")
    code, out, err = report([path])
    check(code == 0 and "headroom lowest %d " % room in out,
          "report: %r, expected headroom lowest %d; stderr %r" % (out, room, err[-300:]))
    c.exit()


def test_ask_redis_maxclients_set_at_runtime():
    """CONFIG SET maxclients at runtime, the SRE's move in an incident: the
    headroom must follow at the next refreshes, not half a minute later.
    rcleak re-read maxclients every 30 s: a server lowered from 50 to 8
    with 5 clients and rcleak's link had room for 2 (real clients probe
    it), and rcleak said headroom 44 for up to 30 s; raised back to 50, it
    said headroom 2 while Redis took 44 more."""
    r = Redis(extra=["--maxclients", "50"], bind=("127.0.0.1",))
    c = Client("hold", ["--target", "127.0.0.1:%d:5" % r.port], name="rclt-mcset")
    rc = Rcleak(["-p", str(r.port), "--ask-redis", "-i", "0.5"])
    expect_server(rc, r.pid, {"maxclients": 50, "clients": 5, "rcleak_links": 1, "headroom": 44},
                  what="before CONFIG SET maxclients 8")
    rc.skip_to_now()
    for _ in range(3):  # rcleak has read maxclients at its first refreshes
        rc.line()
    for mc in (8, 50):
        check(r.cli("CONFIG", "SET", "maxclients", str(mc)).strip() == "OK", "CONFIG SET maxclients %d" % mc)
        room = _probe_slots(r.port, mc)
        check(room == mc - 5 - 1, "ground truth: maxclients %d took %d more clients beside 5 and rcleak's "
              "link, expected %d" % (mc, room, mc - 5 - 1))
        expect_server(rc, r.pid, {"maxclients": mc, "maxclients_source": "config-get", "headroom": room},
                      timeout=5, what="the headroom after CONFIG SET maxclients %d" % mc)
    c.exit()


def test_ask_redis_tls_port():
    """A TLS-only redis-server (port 0, tls-port), the shape compliance
    asks for: rcleak speaks plain RESP, and the server resets each link at
    its first bytes. --ask-redis said nothing on stderr (its maxclients
    silently the default), the plain view's note told to give --ask-redis,
    which was given, and rcleak made two links every 2 s, each a line in
    the server's log (Error accepting a client connection: wrong version
    number). One line says so, and what tells the limit instead; the
    server is asked again only every 30 s."""
    import shutil
    if not shutil.which("openssl"):
        raise Skip("openssl not installed")
    d = mkdtemp("rcleak-tls-")
    key, crt, log = (os.path.join(d, n) for n in ("k.pem", "c.pem", "redis.log"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True, timeout=60)
    port = free_port()
    srv = spawn(["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                 "--tls-cert-file", crt, "--tls-key-file", key, "--tls-ca-cert-file", crt,
                 "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", d,
                 "--logfile", log], "TLS redis-server", stdin=subprocess.DEVNULL)
    ready = wait_until(lambda: os.path.exists(log) and ("Ready to accept" in open(log).read() or
                                                         srv.poll() is not None) and open(log).read(), 10,
                       "the TLS redis-server to start")
    if "Ready to accept" not in ready:
        stop(srv)
        raise Skip("redis-server without TLS: %s" % ready[-300:])
    before = open(log).read().count("Error accepting a client connection")
    out = subprocess.run([RCLEAK, "-p", str(port), "--ask-redis", "--plain", "-i", "0.5", "-n", "10"],
                         capture_output=True, text=True, timeout=60)
    resets = open(log).read().count("Error accepting a client connection") - before
    check(out.returncode == 0, "rcleak exit %d: %s" % (out.returncode, out.stderr[-300:]))
    said = [ln for ln in out.stderr.splitlines() if "pid %d" % srv.pid in ln]
    check(len(said) == 1 and "without answering" in said[0] and "--maxclients" in said[0],
          "stderr about the TLS server: %r" % out.stderr[-600:])
    check("--ask-redis or --maxclients N tell" not in out.stdout and "--maxclients N tells" in out.stdout,
          "the plain view's note under the servers: %r" % [ln for ln in out.stdout.splitlines() if "?:" in ln][:1])
    check(resets <= 2, "rcleak made %d links the TLS server reset in 5 s (its log's lines), expected at most 2"
          % resets)
    stop(srv)


def test_ask_redis_cluster_bus_links():
    """A Redis Cluster node counts its cluster bus links against maxclients
    (INFO clients' cluster_connections: 2 per other node), as it does its
    clients: a node of a 3-node cluster at maxclients 10 with 2 clients and
    rcleak's link takes 3 more, not 7. rcleak said headroom 7, live and in
    report's headroom_min: the bus is on another port, and no client of
    the node's. With --ask-redis, INFO clients tells them: cluster_links."""
    bus = [free_port() for _ in range(3)]
    nodes = []
    for i in range(3):
        d = mkdtemp("rcleak-cluster-")
        nodes.append(Redis(extra=["--cluster-enabled", "yes", "--cluster-port", str(bus[i]),
                                  "--cluster-config-file", os.path.join(d, "nodes.conf")]
                           + (["--maxclients", "10"] if i == 0 else []), bind=("127.0.0.1",)))
    out = subprocess.run(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % n.port for n in nodes]
                         + ["--cluster-yes"], capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, "redis-cli --cluster create: %s %s" % (out.stdout[-300:], out.stderr[-300:]))
    r = nodes[0]
    wait_until(lambda: "cluster_state:ok" in r.cli("CLUSTER", "INFO"), 20, "the cluster to be ok")
    bus_links = int(re.search(r"^cluster_connections:(\d+)", r.cli("INFO", "clients"), re.M).group(1))
    check(bus_links == 4, "ground truth: INFO clients cluster_connections %d, expected 4" % bus_links)
    c = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-cluster")
    rc = Rcleak(["-p", str(r.port), "--ask-redis", "-i", "0.5"])
    expect_server(rc, r.pid, {"maxclients": 10, "clients": 2, "rcleak_links": 1},
                  what="the node's 2 clients, maxclients told")
    room = _probe_slots(r.port, 10)
    check(room == 10 - 2 - 1 - bus_links, "ground truth: the node took %d more clients beside 2, rcleak's "
          "link and %d bus links, expected %d" % (room, bus_links, 10 - 2 - 1 - bus_links))
    expect_server(rc, r.pid, {"clients": 2, "rcleak_links": 1, "cluster_links": bus_links, "headroom": room},
                  timeout=5, what="the node's headroom less its cluster bus links")
    rc.close()
    _recorded_headroom(r, room, "the cluster node")
    c.exit()
