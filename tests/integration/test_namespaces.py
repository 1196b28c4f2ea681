"""Clients and servers in other pid and network namespaces (containers)."""
from harness import (Client, NetNS, Rcleak, Redis, check, expect_row, expect_server,
                     fields, proc_fds, proc_row, ss_count)

TESTS = ["test_pid_namespace", "test_net_namespace"]

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
