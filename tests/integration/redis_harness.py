"""redis-server for the tests: a free loopback port (within $RCLEAK_TEST_PORTS
when set), a server started on it and waited for, and what the server says
of itself through redis-cli (INFO clients and stats, CONFIG GET).
"""
import os
import random
import re
import shutil
import socket
import subprocess
import time

from core_harness import Skip, check
from proc_harness import mkdtemp, spawn, stop


# --------------------------------------------------------------------------
# ports, Redis
# --------------------------------------------------------------------------
def free_port():
    """A port free on both 127.0.0.1 and ::1, chosen by binding port 0, or
    from RCLEAK_TEST_PORTS=LO-HI when set (a shared machine where the tests
    may use only some ports)."""
    span = os.environ.get("RCLEAK_TEST_PORTS")
    lo, hi = (int(x) for x in span.split("-")) if span else (0, 0)
    for _ in range(200 if span else 50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", random.randint(lo, hi) if span else 0))
        except OSError:
            s.close()
            continue
        port = s.getsockname()[1]
        s.close()
        if port == 6379:
            continue
        try:
            s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s6.bind(("::1", port))
            s6.close()
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


def resp_ping(port, host="127.0.0.1", timeout=1.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        return s.recv(64) == b"+PONG\r\n"


class Redis:
    def __init__(self, extra=(), bind=("127.0.0.1", "::1"), netns=None, port=None, wrap=()):
        """A redis-server on a free loopback port (or on port, e.g. a restart),
        optionally inside netns and/or run through wrap (e.g. a ulimit shell)."""
        if not shutil.which("redis-server") or not shutil.which("redis-cli"):
            raise Skip("redis-server/redis-cli not installed")
        last = ""
        self.host = bind[0]
        self.prefix = netns.prefix if netns else []
        for _attempt in range(3):
            self.port = port or free_port()
            self.dir = mkdtemp("rcleak-redis-")
            self.log = os.path.join(self.dir, "redis.log")
            argv = self.prefix + list(wrap) + ["redis-server", "--port", str(self.port),
                    "--bind"] + list(bind) + ["--save", "", "--appendonly", "no",
                    "--daemonize", "no", "--dir", self.dir, "--logfile", self.log]
            argv += list(extra)
            self.proc = spawn(argv, "redis-server port %d" % self.port,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
            self.pid = self.proc.pid
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if self.prefix:
                        if self.cli("PING").strip() == "PONG":
                            return
                    elif resp_ping(self.port, bind[0]):
                        return
                except (OSError, RuntimeError):
                    pass
                time.sleep(0.05)
            try:
                last = open(self.log).read()[-500:]
            except OSError:
                last = ""
            stop(self.proc)
        raise RuntimeError("redis-server did not start: " + last)

    def cli(self, *args):
        r = subprocess.run(self.prefix + ["redis-cli", "-h", self.host, "-p", str(self.port)] + list(args),
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise RuntimeError("redis-cli %s: %s" % (" ".join(args), r.stderr))
        return r.stdout

    def connected_clients(self):
        """INFO clients connected_clients minus redis-cli's own connection."""
        out = self.cli("INFO", "clients")
        m = re.search(r"^connected_clients:(\d+)", out, re.M)
        check(m, "no connected_clients in INFO: %r" % out)
        return int(m.group(1)) - 1

    def config_get(self, key):
        out = self.cli("CONFIG", "GET", key).split("\n")
        return out[1].strip() if len(out) > 1 else None


def total_connections(r):
    """INFO stats total_connections_received (this redis-cli call included)."""
    out = r.cli("INFO", "stats")
    m = re.search(r"^total_connections_received:(\d+)", out, re.M)
    check(m, "no total_connections_received in INFO: %r" % out[:300])
    return int(m.group(1))
