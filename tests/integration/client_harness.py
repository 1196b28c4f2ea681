"""What the tests run against Redis: tests/clients/rclient.py (Client), small
scripted clients (HOLD_THEN_MORE, BOUND_CLIENT, same_tuple_clients), the
load generators built from tools/loadgen (connstorm, holdconns), and
network namespaces (NetNS) to run servers and clients in.
"""
import os
import shutil
import socket
import subprocess
import sys

from core_harness import CLIENT, CONNSTORM, HOLDCONNS, Fail, Skip, check
from proc_harness import Lines, children_of, spawn, stop


def connstorm():
    """The connect storm generator (tools/loadgen/connstorm.c), or Fail."""
    if not os.access(CONNSTORM, os.X_OK):
        raise Fail("%s is missing: `make test` builds it (make build/connstorm)" % CONNSTORM)
    return CONNSTORM


def holdconns():
    """The connection holder (tools/loadgen/holdconns.c), or Fail."""
    if not os.access(HOLDCONNS, os.X_OK):
        raise Fail("%s is missing: make build/holdconns builds it" % HOLDCONNS)
    return HOLDCONNS


# A client (python3 -c HOLD_THEN_MORE PORT) that opens 3 connections and
# prints HELD, then on a line of stdin opens 2 more and prints MORE; it holds
# them until stdin closes.
HOLD_THEN_MORE = """
import socket, sys
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
print("HELD", flush=True)
sys.stdin.readline()
held += [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
print("MORE", flush=True)
sys.stdin.read()
"""


# --------------------------------------------------------------------------
# test clients
# --------------------------------------------------------------------------
class Client:
    def __init__(self, mode, args, name=None, ready_timeout=60, wrap=None, tag=None,
                 pidns=False):
        argv = [sys.executable, "-u", CLIENT]
        if tag is not None:
            argv += ["--tag", tag]
        if name:
            argv += ["--name", name]
        argv += [mode] + list(args)
        if wrap:
            argv = wrap + argv
        self.proc = spawn(argv, "client " + mode)
        self.out = Lines(self.proc.stdout, "client")
        self.next = 0
        self.pid = self.proc.pid
        self.ready = self.expect("READY", ready_timeout)
        # with a wrapper (bash -c 'ulimit ...; exec ...') the pid is the same
        self.pid = int(self.ready[1])
        self.ns_pid = self.pid
        if pidns:
            # READY carries the pid inside the new pid namespace; find the host
            # pid: unshare --fork's child.
            kids = children_of(self.proc.pid)
            if len(kids) != 1:
                raise RuntimeError("unshare has children %s" % kids)
            self.pid = kids[0]

    def expect(self, word, timeout=30):
        line = self.out.wait_line(self.next, timeout)
        if line is None:
            err = b""
            if self.proc.poll() is not None:
                try:
                    err = self.proc.stderr.read()
                except (OSError, ValueError):
                    pass
            raise RuntimeError("client: no %s line (rc=%s) %s %s" % (
                word, self.proc.poll(), self.out.text()[-300:],
                err.decode("utf-8", "replace")[-500:]))
        self.next += 1
        parts = line.split()
        if not parts or parts[0] != word:
            raise RuntimeError("client: expected %s, got %r" % (word, line))
        return parts

    def cmd(self, text, reply):
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()
        return self.expect(reply) if reply else None

    def exit(self, timeout=10):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError("client did not exit")

    def stop(self):
        stop(self.proc)


# A client bound to 127.0.0.1:argv[1], connected to 127.0.0.1:argv[2],
# that names itself argv[3] to Redis (CLIENT SETNAME) when given; prints
# its pid and holds the connection until its stdin ends.
BOUND_CLIENT = r"""
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.connect(("127.0.0.1", int(sys.argv[2])))
if len(sys.argv) > 3:
    s.sendall(b"CLIENT SETNAME %s\r\n" % sys.argv[3].encode())
    assert s.recv(100).startswith(b"+OK")
print(os.getpid(), flush=True)
sys.stdin.read()
"""


def same_tuple_clients(ns, port, ports, name=None):
    """One client in network namespace ns and one on the host with the very
    same 127.0.0.1:Y -> 127.0.0.1:port (pods that each run a Redis on
    localhost), Y the first of ports free on the host, each connected to
    its own namespace's server: (Y, {"ns": pid, "host": pid}, {"ns": Popen,
    "host": Popen}); closing a Popen's stdin ends it. name(where), when
    given, is the CLIENT SETNAME each gives its server."""
    procs = {}
    for y in ports:
        try:
            so = socket.socket()
            so.bind(("127.0.0.1", y))
            so.close()
        except OSError:
            continue
        for where, prefix in (("ns", ns.prefix), ("host", [])):
            argv = prefix + [sys.executable, "-c", BOUND_CLIENT, str(y), str(port)]
            procs[where] = spawn(argv + ([name(where)] if name else []),
                                 "client bound to 127.0.0.1:%d (%s)" % (y, where))
        break
    pids = {w: int(p.stdout.readline() or 0) for w, p in procs.items()}
    check(len(pids) == 2 and all(pids.values()), "bound clients did not start: %s" % pids)
    return y, pids, procs


# --------------------------------------------------------------------------
# namespaces
# --------------------------------------------------------------------------
class NetNS:
    """A new network namespace with lo up, kept alive by a holder process;
    it disappears when the holder is killed (cleanup)."""

    def __init__(self):
        if not shutil.which("unshare") or not shutil.which("nsenter") or not shutil.which("ip"):
            raise Skip("unshare/nsenter/ip not installed")
        self.proc = spawn(["unshare", "--net", "--", "sh", "-c",
                           "ip link set lo up && echo up && exec cat"], "netns holder")
        line = self.proc.stdout.readline().decode().strip()
        if line != "up":
            err = self.proc.stderr.read(500).decode("utf-8", "replace") if self.proc.poll() is not None else ""
            raise Skip("cannot create a network namespace: %s" % err.strip())
        self.pid = self.proc.pid
        self.prefix = ["nsenter", "--net=/proc/%d/ns/net" % self.pid, "--"]
