"""--ask-redis: what rcleak asks the local redis-servers (maxclients, CLIENT LIST), as
which user, how often, and what it makes of a hostile or refusing server."""
import os
import re
import subprocess
import sys

from harness import (BOUND_CLIENT, Client, Fail, connstorm, free_port, Rcleak, Redis, check, expect_row, expect_server, fields,
                     mkdtemp, proc_nofile, proc_row, server_row, spawn, ss_accepted, ss_count, ss_sockets, stop,
                     total_connections, wait_until)
from record_harness import hold_many

TESTS = ["test_ask_redis_ipv4", "test_ask_redis_ipv6", "test_ask_redis_same_port_other_addr",
         "test_two_servers_one_port_v4_v6", "test_maxclients_discovered_wins", "test_ask_redis_auth",
         "test_ask_redis_acl_user", "test_ask_redis_client_list_duty", "test_ask_redis_kept_list_gone_client",
         "test_ask_redis_auth_mixed", "test_ask_redis_hostile_reply", "test_ask_redis_own_slot_headroom",
         "test_ask_redis_own_link_no_repair", "test_ask_redis_old_link_port",
         "test_ask_redis_relink_two_servers", "test_ask_redis_churn_accepted"]


def _ask_redis(bind, rc_extra=()):
    r = Redis(extra=["--maxclients", "100"], bind=bind)
    cfg = int(r.config_get("maxclients"))
    check(cfg == 100, "CONFIG GET maxclients says %d" % cfg)
    host = bind[0] if ":" not in bind[0] else "[%s]" % bind[0]
    c = Client("hold", ["--target", "%s:%d:10" % (host, r.port)], name="rclt-ask")
    rc = Rcleak(["-p", str(r.port), "--ask-redis"] + list(rc_extra))
    soft, _ = proc_nofile(r.pid)
    eff = min(cfg, soft - 32)

    def pred(obj):
        srv = server_row(obj, r.pid)
        # accepted connections redis holds, less the ones whose client end is
        # rcleak's own CONFIG GET link (rcleak does not count itself)
        links = ss_count(rc.pid, [r.port])
        held = ss_accepted(r.pid, r.port) - links
        if srv is None:
            return False, "no server row"
        # the link takes a slot of maxclients all the same
        want = {"maxclients": cfg, "maxclients_source": "config-get", "effective_limit": eff,
                "clients": held, "rcleak_links": links, "headroom": eff - held - links}
        bad = ["%s observed %r expected %r" % (k, srv.get(k), v)
               for k, v in want.items() if srv.get(k) != v]
        # the only connection accepted while rcleak runs is its own link:
        # never counted, even on kernels (< 6.18) where an accepted socket
        # gets its peer's port only after the SYN_RECV event
        row = proc_row(obj, r.pid)
        if row is None or row.get("opened") != 0:
            bad.append("redis-server opened %r, expected 0 (only rcleak's own link was accepted)"
                       % (row or {}).get("opened"))
        return not bad, "; ".join(bad) + " (maxclients_source %r)" % srv.get("maxclients_source")
    rc.wait_for(pred, what="--ask-redis, redis-server bound to %s only" % bind[0])
    c.exit()


def test_ask_redis_ipv4():
    """--ask-redis reads maxclients (100) from a server listening on 127.0.0.1 only."""
    _ask_redis(("127.0.0.1",))


def test_ask_redis_ipv6():
    """--ask-redis reads maxclients (100) from a server listening on ::1 only."""
    _ask_redis(("::1",))


def test_ask_redis_same_port_other_addr():
    """rcleak's own --ask-redis link is excluded by its address and port, not
    by port alone: a client from another address (a remote host; here
    127.0.0.2) whose source port happens to be the link's is a client."""
    import socket
    r = Redis(bind=("127.0.0.1",), extra=["--protected-mode", "no"])
    rc = Rcleak(["-p", str(r.port), "--ask-redis"])
    mine = []

    def link_port():
        for _st, local, peer, holders in ss_sockets([r.port]):
            if rc.pid in holders and peer.endswith(":%d" % r.port):
                mine.append(int(local.rsplit(":", 1)[1]))
                return True
        return False
    wait_until(link_port, what="rcleak's --ask-redis link in ss")
    y = mine[0]
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.2", y))
        s.connect(("127.0.0.1", r.port))
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        check(s.recv(64) == b"+PONG\r\n", "no PONG from the client at 127.0.0.2:%d" % y)
        peers = [peer for _st, local, peer, holders in ss_sockets([r.port]) if r.pid in holders]
        check("127.0.0.2:%d" % y in peers, "ground truth (ss): server ends' peers %s" % peers)
        n = r.connected_clients() - 1  # and rcleak's link
        check(n == 1, "ground truth (INFO clients, less rcleak's link): %d" % n)

        def pred(obj):
            row = server_row(obj, r.pid)
            if row is None:
                return False, "no server row"
            addrs = [e.get("addr") for e in row.get("redis_clients") or []]
            got = (row.get("clients"), "127.0.0.2:%d" % y in addrs)
            return got == (1, True), ("server: (clients, 127.0.0.2:%d in redis_clients) observed %r "
                                      "expected (1, True); redis_clients %s" % (y, got, addrs))
        rc.wait_for(pred, 8, "the client at 127.0.0.2 on rcleak's link port")
        # opened: the client's accept, and redis-cli's for INFO above
        expect_row(rc, r.pid, {"open": 1, "opened": 2}, timeout=5,
                   what="redis-server's row: the client's accept")
    finally:
        s.close()


def test_two_servers_one_port_v4_v6():
    """Two redis-servers on one port number, one on 127.0.0.1 and one on
    ::1: each server's accepts are its own (a passive open goes to the
    listener bound to its local address), whichever listened last."""
    r4 = Redis(bind=("127.0.0.1",))
    r6 = Redis(bind=("::1",), port=r4.port)
    rc = Rcleak(["-p", str(r4.port)])
    c4 = Client("hold", ["--target", "127.0.0.1:%d:3" % r4.port], name="rclt-2s-v4")
    c6 = Client("hold", ["--target", "[::1]:%d:2" % r4.port], name="rclt-2s-v6")
    check(ss_count(c4.pid, [r4.port]) == 3 and ss_count(c6.pid, [r4.port]) == 2
          and ss_accepted(r4.pid, r4.port) == 3 and ss_accepted(r6.pid, r4.port) == 2,
          "ground truth (ss): v4 client %d, v6 client %d, v4 server %d, v6 server %d"
          % (ss_count(c4.pid, [r4.port]), ss_count(c6.pid, [r4.port]),
             ss_accepted(r4.pid, r4.port), ss_accepted(r6.pid, r4.port)))
    problems = []
    for pid, n, what in ((r4.pid, 3, "127.0.0.1"), (r6.pid, 2, "::1")):
        try:
            expect_row(rc, pid, {"open": n, "opened": n}, timeout=5,
                       what="redis-server on %s" % what)
        except AssertionError as e:
            problems.append(str(e))
    check(not problems, " | ".join(problems))


def test_maxclients_discovered_wins():
    """--maxclients is for servers that do not tell: a server that does
    (CONFIG GET with --ask-redis; its command line, where set-proc-title
    no keeps it) keeps its own maxclients (100), not the option's 77."""
    _ask_redis(("127.0.0.1",), rc_extra=["--maxclients", "77"])
    r = Redis(extra=["--maxclients", "100", "--set-proc-title", "no"])
    rc = Rcleak(["-p", str(r.port), "--maxclients", "77"])
    soft, _ = proc_nofile(r.pid)
    expect_server(rc, r.pid, {"maxclients": 100, "maxclients_source": "cmdline",
                              "effective_limit": min(100, soft - 32)},
                  what="--maxclients 77, redis-server --maxclients 100 --set-proc-title no")
    # the title Redis sets by default hides its arguments: the option decides
    r2 = Redis(extra=["--maxclients", "100"])
    rc2 = Rcleak(["-p", str(r2.port), "--maxclients", "77"])
    expect_server(rc2, r2.pid, {"maxclients": 77, "maxclients_source": "option"},
                  what="--maxclients 77, redis-server --maxclients 100 with its proc title")


def _refused(rc, r, word, nlines, how):
    """rcleak says word (the server's refusal) on stderr; nlines refreshes
    later, server r's maxclients is still the default. Its stderr lines
    with word."""
    wait_until(lambda: word in rc.stderr(), what="rcleak to say %s on stderr" % word)
    for _ in range(nlines):
        obj = rc.line()
    srv = server_row(obj, r.pid)
    check(srv is not None and srv.get("maxclients_source") == "default",
          "%s: server row %s" % (how, fields(srv, "maxclients", "maxclients_source")))
    return [l_ for l_ in rc.stderr().splitlines() if word in l_]


def test_ask_redis_auth():
    """--ask-redis against a server with a password: without REDISCLI_AUTH,
    one line on stderr (however many refreshes) says what it answered and
    what to set, and maxclients stays the assumed default; with it, CONFIG
    GET gives the server's 100."""
    r = Redis(extra=["--maxclients", "100"])
    out = r.cli("CONFIG", "SET", "requirepass", "rclt-pw")
    check(out.strip() == "OK", "CONFIG SET requirepass: %r" % out)
    rc = Rcleak(["-p", str(r.port), "--ask-redis"])
    said = _refused(rc, r, "NOAUTH", 3, "without the password")
    check(len(said) == 1 and "REDISCLI_AUTH" in said[0] and str(r.pid) in said[0],
          "stderr lines about NOAUTH: %r, expected one naming pid %d and REDISCLI_AUTH"
          % (said, r.pid))
    rc.close()
    rc2 = Rcleak(["-p", str(r.port), "--ask-redis"], wrap=["env", "REDISCLI_AUTH=rclt-pw"])
    expect_server(rc2, r.pid, {"maxclients": 100, "maxclients_source": "config-get"},
                  what="--ask-redis with REDISCLI_AUTH")
    check("NOAUTH" not in rc2.stderr(), "with the password, stderr: %r" % rc2.stderr()[-300:])


def test_ask_redis_acl_user():
    """--redis-user: a server where only an ACL user may read its config
    (Redis 6+; the default user, which clients get without a password, may
    only PING). REDISCLI_AUTH alone logs in as the default user, whose
    CONFIG GET is refused: one line names --redis-user, and maxclients
    stays the default. With --redis-user NAME (AUTH NAME password), CONFIG
    GET gives the server's 100 and CLIENT LIST the client's connections."""
    r = Redis(extra=["--maxclients", "100"])
    for cmd in (["ACL", "SETUSER", "rclt-mon", "on", ">rclt-pw", "+config|get", "+info", "+client|list", "+ping"],
                ["ACL", "SETUSER", "default", "-@all", "+ping", "+auth", "+hello"]):
        out = r.cli(*cmd)
        check(out.strip() == "OK", "%s: %r" % (" ".join(cmd), out))
    c = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-acl")
    rc = Rcleak(["-p", str(r.port), "--ask-redis"], wrap=["env", "REDISCLI_AUTH=rclt-pw"])
    said = _refused(rc, r, "NOPERM", 2, "logged in as the default user")
    check(len(said) == 1 and "--redis-user" in said[0],
          "stderr lines about NOPERM: %r, expected one naming --redis-user" % said)
    rc.close()
    rc2 = Rcleak(["-p", str(r.port), "--ask-redis", "--redis-user", "rclt-mon"],
                 wrap=["env", "REDISCLI_AUTH=rclt-pw"])

    def pred(obj):
        row = server_row(obj, r.pid)
        pids = sorted(e.get("pid") for e in (row or {}).get("redis_clients", []))
        ok = (row is not None and row.get("maxclients") == 100 and row.get("maxclients_source") == "config-get"
              and pids == [c.pid, c.pid])
        return ok, "server row %s, redis_clients pids %r; expected maxclients 100 from config-get and [%d, %d]" % (
            fields(row, "maxclients", "maxclients_source"), pids, c.pid, c.pid)
    rc2.wait_for(pred, what="--ask-redis --redis-user rclt-mon")
    check("NOPERM" not in rc2.stderr() and "WRONGPASS" not in rc2.stderr(),
          "as the ACL user, stderr: %r" % rc2.stderr()[-300:])
    rc2.close()
    # --redis-user without REDISCLI_AUTH: it logs in as that user (an empty
    # password), refused, and says to set REDISCLI_AUTH; it went on as the
    # default user, and the NOPERM line named rights of a user it never was
    rc3 = Rcleak(["-p", str(r.port), "--ask-redis", "--redis-user", "rclt-mon"], wrap=["env", "-u", "REDISCLI_AUTH"])
    wait_until(lambda: "rclt-mon" in rc3.stderr() or "REDISCLI_AUTH" in rc3.stderr(),
               what="rcleak to say why it cannot log in as rclt-mon")
    said = [l_ for l_ in rc3.stderr().splitlines() if "--ask-redis" in l_]
    check(len(said) == 1 and "WRONGPASS" in said[0] and "REDISCLI_AUTH" in said[0],
          "--redis-user without REDISCLI_AUTH, stderr: %r; expected one WRONGPASS line asking for REDISCLI_AUTH"
          % said)
    rc3.close()
    c.exit()


def test_ask_redis_own_slot_headroom():
    """rcleak's own --ask-redis link is no client of the server's, but Redis
    counts it against maxclients all the same: with 11 clients of 12 and
    rcleak's link, the server refuses every new client, and the headroom
    said 1 (12 - 11) while redis-cli got 'ERR max number of clients
    reached'. The headroom is what is left for the apps: 0, the link's slot
    said in rcleak_links; clients stays 11."""
    r = Redis(extra=["--maxclients", "12"], bind=("127.0.0.1",))
    c = Client("hold", ["--target", "127.0.0.1:%d:11" % r.port], name="rclt-slot")
    rc = Rcleak(["-p", str(r.port), "--ask-redis"])
    expect_server(rc, r.pid, {"maxclients": 12, "maxclients_source": "config-get", "clients": 11},
                  what="the server's 11 clients, maxclients told")
    check(ss_accepted(r.pid, r.port) == 12 and ss_count(rc.pid, [r.port]) == 1,
          "ground truth (ss): server ends %d (expected 12), rcleak's link %d (expected 1)"
          % (ss_accepted(r.pid, r.port), ss_count(rc.pid, [r.port])))
    try:
        refused = r.cli("PING").strip()
    except RuntimeError as e:
        refused = str(e)
    check("max number of clients" in refused,
          "ground truth: a new client while rcleak holds its link: %r, expected a refusal" % refused)
    expect_server(rc, r.pid, {"clients": 11, "effective_limit": 12, "rcleak_links": 1, "headroom": 0},
                  timeout=5, what="headroom with rcleak's link in the last slot")
    c.exit()


def test_ask_redis_own_link_no_repair():
    """rcleak's own --ask-redis link is left out of the socket table on
    purpose (its connect is rcleak's, its accept dropped): no event of its
    was lost, so reconciliation must not add its two ends back as repairs
    (2 a link: the first one, and the one made again after CLIENT KILL).
    The server's opened and closed are then 1: redis-cli's connection that
    sent CLIENT KILL, the only one it accepted but rcleak's two links
    (INFO stats total_connections_received). lost_events is only said: it
    counts the hook's skipped runs host-wide, which the tests running beside
    this one cause (it was 227 once, with no repair)."""
    r = Redis(bind=("127.0.0.1",))
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-ownrep")
    t0 = total_connections(r)
    rc = Rcleak(["-p", str(r.port), "--ask-redis", "--reconcile", "0.5"])
    expect_server(rc, r.pid, {"maxclients_source": "config-get", "clients": 3, "rcleak_links": 1},
                  what="the server asked over rcleak's link")
    mine = [local for _st, local, _peer, h in ss_sockets([r.port]) if rc.pid in h]
    check(len(mine) == 1, "ground truth: rcleak's link (ss): %s" % mine)
    out = r.cli("CLIENT", "KILL", "ADDR", mine[0]).strip()
    check(out in ("1", "OK"), "CLIENT KILL ADDR %s: %r" % (mine[0], out))

    def relinked():
        now = [local for _st, local, _peer, h in ss_sockets([r.port]) if rc.pid in h]
        return now and now != mine and now
    wait_until(relinked, 15, "rcleak to ask the server over a new link")
    rc.skip_to_now()
    for _ in range(6):  # 3 s: 6 reconciliations, with the new link up
        obj = rc.line()
    # accepted since rcleak started, less its two links and this INFO's own
    accepted = total_connections(r) - t0 - 2 - 1
    row = proc_row(obj, r.pid)
    got = (obj.get("repairs"), fields(row, "open", "opened", "closed"))
    check(obj.get("repairs") == 0 and row is not None and row.get("open") == 3 and
          row.get("opened") == accepted and row.get("closed") == accepted,
          "repairs, redis-server's row: %r, expected 0 and open=3, opened=closed=%d (ss: %d clients; "
          "total_connections_received: %d accepted but rcleak's links; lost_events %r)"
          % (got, accepted, ss_accepted(r.pid, r.port) - 1, accepted, obj.get("lost_events")))
    c.exit()


def test_ask_redis_old_link_port():
    """Once rcleak's --ask-redis link is killed and made again, the old
    link's address and port are free: a client bound to them is a client
    like any other (ss, INFO clients). It was left out as rcleak's own: not
    in the server's clients (0, and rcleak_links 2) nor its opened and
    closed, nor in redis_clients. The kill goes over a unix socket, so that
    the client is the only TCP connection the server accepts but rcleak's."""
    sock = os.path.join(mkdtemp("rcleak-unix-"), "redis.sock")
    r = Redis(extra=["--unixsocket", sock], bind=("127.0.0.1",))

    def unix_cli(*args):
        return subprocess.run(["redis-cli", "-s", sock] + list(args), capture_output=True, text=True,
                              timeout=10).stdout.strip()
    rc = Rcleak(["-p", str(r.port), "--ask-redis"])
    expect_server(rc, r.pid, {"maxclients_source": "config-get", "clients": 0, "rcleak_links": 1},
                  what="the server asked over rcleak's link")
    mine = [local for _st, local, _peer, h in ss_sockets([r.port]) if rc.pid in h]
    check(len(mine) == 1, "ground truth: rcleak's link (ss): %s" % mine)
    out = unix_cli("CLIENT", "KILL", "ADDR", mine[0])
    check(out in ("1", "OK"), "CLIENT KILL ADDR %s: %r" % (mine[0], out))

    def relinked():
        now = [local for _st, local, _peer, h in ss_sockets([r.port]) if rc.pid in h]
        return now and now != mine and now
    wait_until(relinked, 15, "rcleak to ask the server over a new link")
    c = spawn([sys.executable, "-c", BOUND_CLIENT, mine[0].rsplit(":", 1)[1], str(r.port)],
              "client bound to rcleak's old link's %s" % mine[0])
    try:
        check(int(c.stdout.readline() or 0) == c.pid, "bound client did not connect")
        truth = ss_accepted(r.pid, r.port) - ss_count(rc.pid, [r.port])
        info = re.search(r"^connected_clients:(\d+)", unix_cli("INFO", "clients"), re.M)
        check(truth == 1 and info and int(info.group(1)) == 3,
              "ground truth: the server's clients but rcleak's link (ss) %d, expected 1; INFO clients %s, "
              "expected 3 (the client, rcleak's link, redis-cli)" % (truth, info and info.group(1)))

        def counted(obj):
            srv, row = server_row(obj, r.pid), proc_row(obj, r.pid)
            listed = [e.get("pid") for e in (srv or {}).get("redis_clients") or []]
            got = (fields(srv, "clients", "rcleak_links"), fields(row, "opened", "closed"), listed)
            return (srv is not None and srv.get("clients") == 1 and srv.get("rcleak_links") == 1 and
                    row is not None and row.get("opened") == 1 and row.get("closed") == 0 and listed == [c.pid],
                    "server, its row, redis_clients' pids: %r; expected clients 1, rcleak_links 1, "
                    "opened 1, closed 0, [%d]" % (got, c.pid))
        rc.wait_for(counted, what="the client on the old link's port counted")
    finally:
        c.stdin.close()
        c.wait(10)
    expect_row(rc, r.pid, {"opened": 1, "closed": 1}, what="the server's row after the client closed")


def test_ask_redis_relink_two_servers():
    """Two redis-servers on one port number, on 127.0.0.1 and on ::1, each
    with a client: both of rcleak's links killed (over unix sockets, so
    that no other TCP connection comes), rcleak makes each anew, and
    neither link, old or new, is counted: each server's opened and closed
    stay 0 and its clients are its client's (ss), with one rcleak link."""
    socks = [os.path.join(mkdtemp("rcleak-unix-"), "redis.sock") for _ in range(2)]
    r4 = Redis(extra=["--unixsocket", socks[0]], bind=("127.0.0.1",))
    r6 = Redis(extra=["--unixsocket", socks[1]], bind=("::1",), port=r4.port)
    c4 = Client("hold", ["--target", "127.0.0.1:%d:3" % r4.port], name="rclt-rl-v4")
    c6 = Client("hold", ["--target", "[::1]:%d:2" % r4.port], name="rclt-rl-v6")
    rc = Rcleak(["-p", str(r4.port), "--ask-redis"])
    servers = ((r4, socks[0], 3, "127.0.0.1:%d" % r4.port), (r6, socks[1], 2, "[::1]:%d" % r4.port))
    for r, _sock, n, _addr in servers:
        expect_server(rc, r.pid, {"maxclients_source": "config-get", "clients": n, "rcleak_links": 1},
                      what="server pid %d asked over rcleak's link" % r.pid)

    def link_of(addr):  # rcleak's link to the server at addr (ss)
        return [local for _st, local, peer, h in ss_sockets([r4.port]) if rc.pid in h and peer == addr]
    old = [link_of(addr) for _r, _s, _n, addr in servers]
    check(all(len(o) == 1 for o in old), "ground truth: rcleak's links (ss): %s" % old)
    for (_r, sock, _n, _addr), o in zip(servers, old):
        out = subprocess.run(["redis-cli", "-s", sock, "CLIENT", "KILL", "ADDR", o[0]], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        check(out in ("1", "OK"), "CLIENT KILL ADDR %s over %s: %r" % (o[0], sock, out))
    wait_until(lambda: all(len(link_of(addr)) == 1 and link_of(addr) != o
                           for (_r, _s, _n, addr), o in zip(servers, old)), 15,
               "rcleak to ask both servers over new links")

    def counted(obj):
        bad = []
        for r, _sock, n, addr in servers:
            srv, row = server_row(obj, r.pid), proc_row(obj, r.pid)
            truth = ss_accepted(r.pid, r.port) - len(link_of(addr))
            if (srv is None or row is None or srv.get("clients") != n or truth != n or
                    srv.get("rcleak_links") != 1 or row.get("opened") != 0 or row.get("closed") != 0):
                bad.append("pid %d: %s, %s (ss: %d clients but rcleak's link)"
                           % (r.pid, fields(srv, "clients", "rcleak_links"), fields(row, "opened", "closed"),
                              truth))
        return not bad, "; ".join(bad) + "; expected clients 3 and 2, rcleak_links 1, opened 0, closed 0"
    rc.skip_to_now()
    rc.wait_for(counted, what="both servers after their links were made anew")
    c4.exit()
    c6.exit()


def test_ask_redis_churn_accepted():
    """A server's opened and closed count the connections it accepted (by
    design), and none of rcleak's links: over a churn of connections (~2000 here, ~200 under QEMU)
    (50 PINGs each, so Redis counts every one), with rcleak's link killed
    twice meanwhile and made anew, both are what INFO stats
    total_connections_received counts, less rcleak's links and the
    redis-cli calls over the unix socket."""
    sock = os.path.join(mkdtemp("rcleak-unix-"), "redis.sock")
    r = Redis(extra=["--unixsocket", sock], bind=("127.0.0.1",))

    def unix_cli(*args):
        return subprocess.run(["redis-cli", "-s", sock] + list(args), capture_output=True, text=True,
                              timeout=10).stdout.strip()

    def total():
        return int(re.search(r"^total_connections_received:(\d+)", unix_cli("INFO", "stats"), re.M).group(1))
    rc = Rcleak(["-p", str(r.port), "--ask-redis", "-i", "0.2"])
    expect_server(rc, r.pid, {"maxclients_source": "config-get", "rcleak_links": 1},
                  what="the server asked over rcleak's link")
    link = lambda: [local for _st, local, _peer, h in ss_sockets([r.port]) if rc.pid in h]
    t0 = total()  # its own connection included
    cs = spawn([connstorm(), "-P", "50", "-d", "5", "127.0.0.1", str(r.port), "1"], "connstorm",
               stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    calls, links = 0, 1
    for _ in range(2):
        mine = wait_until(link, 10, "rcleak's link")
        out = unix_cli("CLIENT", "KILL", "ADDR", mine[0])
        calls += 1
        check(out in ("1", "OK"), "CLIENT KILL ADDR %s: %r" % (mine[0], out))
        wait_until(lambda: link() and link() != mine, 15, "rcleak to ask the server over a new link")
        links += 1
    tail = cs.stdout.read().decode().split()
    cs.wait(20)
    made = int(tail[tail.index("TOTAL") + 1])
    want = (made, made + int(tail[tail.index("TOTAL") + 4]))
    seen = []

    def counted():
        # since t0: the churn, the kills, rcleak's new links, and these
        # calls.  A connection connstorm closed at its end may still wait
        # in the listen queue while Redis answers the unix socket first
        # (one fewer, once under load): let it come.
        seen.append(total() - t0 - calls - len(seen) - (links - 1) - 1)
        return seen[-1] in want
    try:
        wait_until(counted, 5)
    except Fail:
        pass
    accepted = seen[-1]
    check(made > 100 and accepted in want,
          "ground truth: connstorm made %d connections (%s), the server accepted %d but rcleak's %d links "
          "(total_connections_received)" % (made, " ".join(tail[tail.index("TOTAL"):]), accepted, links))
    expect_row(rc, r.pid, {"opened": accepted, "closed": accepted},
               what="the server's accepted connections after the churn")


def test_ask_redis_client_list_duty():
    """CLIENT LIST blocks the server while it lists every client (~11 ms at
    7,000 here): --ask-redis asked it every refresh, at -i 0.1 a tenth of
    the server's time. It now asks again after 100 times what the last
    answer took, and keeps that answer meanwhile: with 8000 clients, over 20
    refreshes the server counts at most half as many CLIENT LIST calls, and
    every line still lists its clients."""
    r = Redis(extra=["--maxclients", "9000"])
    hold_many(r.port, 8, 1000)

    def calls():
        m = re.search(r"^cmdstat_client\|list:calls=(\d+)", r.cli("INFO", "commandstats"), re.M)
        return int(m.group(1)) if m else 0
    before = calls()
    rc = Rcleak(["-p", str(r.port), "--ask-redis", "-i", "0.1"])
    lines = [rc.line() for _ in range(20)]
    rc.close()
    n = calls() - before
    listed = [len((server_row(o, r.pid) or {}).get("redis_clients") or []) for o in lines]
    check(n <= len(lines) // 2, "%d refreshes at -i 0.1 against a server with 8000 clients asked CLIENT LIST %d "
          "times, expected at most %d" % (len(lines), n, len(lines) // 2))
    check(all(k >= 8000 for k in listed[2:]),
          "redis_clients per line %s, expected the 8000 held connections in each (the last answer kept)" % listed)


def test_ask_redis_kept_list_gone_client():
    """Between two CLIENT LISTs of a big server (LIST_DUTY: 8000 clients,
    ~1 s apart), each refresh joins the last answer anew. A client on this
    host that closed its connection meanwhile was joined to nobody and
    listed as `remote: true` (a client on another host) until the next
    answer: it is dropped instead, as the next answer drops it."""
    r = Redis(extra=["--maxclients", "9000"])
    hold_many(r.port, 8, 1000)
    c = Client("hold", ["--target", "127.0.0.1:%d:1" % r.port], name="rclt-gone")
    rc = Rcleak(["-p", str(r.port), "--ask-redis", "-i", "0.1"])

    def mine(obj):
        row = server_row(obj, r.pid)
        es = [e for e in (row or {}).get("redis_clients") or [] if e.get("pid") == c.pid]
        return len(es) == 1, "redis_clients entries of pid %d: %r" % (c.pid, es)
    obj = rc.wait_for(mine, what="the client's connection in redis_clients")
    addr = [e["addr"] for e in server_row(obj, r.pid)["redis_clients"] if e.get("pid") == c.pid][0]
    c.exit()
    lines = [rc.line() for _ in range(25)]
    rc.close()
    listed = [[e for e in (server_row(o, r.pid) or {}).get("redis_clients") or [] if e.get("addr") == addr]
              for o in lines]
    remote = [i for i, es in enumerate(listed) if any(e.get("remote") for e in es)]
    check(not remote, "the closed client %s listed as remote in %d of the %d lines after it exited (lines %s)"
          % (addr, len(remote), len(lines), remote[:10]))


def test_ask_redis_auth_mixed():
    """REDISCLI_AUTH on a host where one server has a password and one has
    none: the one without refuses AUTH ("without any password configured"),
    yet answers CONFIG GET and CLIENT LIST, as redis-cli goes on after that
    refusal. Both servers report their own maxclients, and stderr has no
    complaint."""
    a = Redis(extra=["--maxclients", "100"])
    b = Redis(extra=["--maxclients", "90"])
    out = a.cli("CONFIG", "SET", "requirepass", "rclt-pw")
    check(out.strip() == "OK", "CONFIG SET requirepass: %r" % out)
    check(b.cli("CONFIG", "GET", "requirepass").split("\n")[1].strip() == "",
          "ground truth: server B has a password")
    c = Client("hold", ["--target", "127.0.0.1:%d:2" % b.port], name="rclt-mixed")
    rc = Rcleak(["-p", "%d,%d" % (a.port, b.port), "--ask-redis"],
                wrap=["env", "REDISCLI_AUTH=rclt-pw"])

    def pred(obj):
        bad = []
        for srv, mc in ((a, 100), (b, 90)):
            row = server_row(obj, srv.pid)
            if row is None or row.get("maxclients") != mc or row.get("maxclients_source") != "config-get":
                bad.append("server port %d: %s, expected maxclients=%d from config-get" % (
                    srv.port, fields(row, "maxclients", "maxclients_source"), mc))
        brow = server_row(obj, b.pid)
        pids = sorted(e.get("pid") for e in (brow or {}).get("redis_clients", []))
        if pids != [c.pid, c.pid]:
            bad.append("server B redis_clients pids %r, expected [%d, %d]" % (pids, c.pid, c.pid))
        return not bad, "; ".join(bad)
    rc.wait_for(pred, what="--ask-redis, REDISCLI_AUTH set, one server without a password")
    check("AUTH" not in rc.stderr(), "stderr: %r" % rc.stderr()[-300:])
    c.exit()


_FAKE_SERVER = r"""
import socket, sys, threading
ls = socket.socket()
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(16)
print("LISTENING", flush=True)
def serve(c):
    while c.recv(4096):
        c.sendall(b"-NOAUTH \x1b]0;rclt-pwned\x07\x1b[2J\xc2\x9b31m rclt-evil\r\n")
while True:
    threading.Thread(target=serve, args=(ls.accept()[0],), daemon=True).start()
"""


def test_ask_redis_hostile_reply():
    """Whatever listens on a watched port is asked by --ask-redis, and its
    error reply went to stderr as it came: a local user's listener on the
    port (no Redis at all) wrote escape sequences to root's terminal (a
    title, a cleared screen). The line says what it answered with the
    control bytes as '?'."""
    port = free_port()
    srv = spawn([sys.executable, "-c", _FAKE_SERVER, str(port)], "listener with a hostile reply")
    check(srv.stdout.readline().strip() == b"LISTENING", "fake server did not listen")
    rc = Rcleak(["-p", str(port), "--ask-redis"])
    try:
        wait_until(lambda: "rclt-evil" in rc.stderr(), what="rcleak to say what the listener answered")
        err = rc.stderr()
        bad = sorted({ch for ch in err if (ord(ch) < 0x20 and ch != "\n") or 0x7f <= ord(ch) < 0xa0})
        check(not bad, "control characters %r on stderr: %r" % (bad, err[-300:]))
    finally:
        rc.close()
        stop(srv)
