"""Harness for the rcleak integration tests (Python 3 standard library only).

Everything a test starts goes through spawn(), which puts it in a new process
group and records it, so cleanup() can kill the whole group (forked children
included) after every test, at exit, and on SIGTERM/SIGINT of the runner.
The pids are also appended to $RCLEAK_TEST_PIDFILE so tests/run.sh can kill
survivors if this interpreter itself dies.

Ground truth comes from the kernel's own view (ss -tanpH, /proc) and from Redis
(INFO clients), never from rcleak.
"""
import atexit
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
CLIENT = os.path.join(TESTS, "clients", "rclient.py")
CONNSTORM = os.environ.get("RCLEAK_TEST_CONNSTORM") or os.path.join(ROOT, "build", "connstorm")
HOLDCONNS = os.environ.get("RCLEAK_TEST_HOLDCONNS") or os.path.join(ROOT, "build", "holdconns")
RCLEAK = os.path.abspath(os.environ.get("RCLEAK") or os.path.join(ROOT, "rcleak"))
PIDFILE = os.environ.get("RCLEAK_TEST_PIDFILE")

CONVERGE_S = 10.0          # how long rcleak's JSON may take to match ground truth
INTERVAL = "0.5"           # rcleak -i used by the tests

TIERS = ("tp_btf", "raw_tp", "tracepoint")
SUITE_PROGS = None         # rcl_ programs loaded before the suite started (set by runner)


class Skip(Exception):
    pass


class Fail(AssertionError):
    pass


def needs(*what):
    """What a test needs, in place of the default ("root", "rcleak"), for the
    runner to check first: @needs("rcleak") runs without root."""
    def deco(fn):
        fn.needs = what
        return fn
    return deco


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# --------------------------------------------------------------------------
# process registry and cleanup
# --------------------------------------------------------------------------
_procs = []        # (Popen, description)
_history = []      # (pid, starttime, description) of everything ever spawned
_tmpdirs = []
_lock = threading.Lock()


def _record_pid(pid, start, what):
    if PIDFILE:
        try:
            with open(PIDFILE, "a") as f:
                f.write("%d %s %s\n" % (pid, start, what))
        except OSError:
            pass


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


def spawn(argv, what, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
          stderr=subprocess.PIPE, preexec_fn=None, env=None):
    """Start argv in a new session/process group and register it for cleanup."""
    def pre():
        os.setsid()
        if preexec_fn:
            preexec_fn()
    p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                         preexec_fn=pre, env=env, close_fds=True)
    start = _starttime(p.pid)
    with _lock:
        _procs.append((p, what))
        _history.append((p.pid, start, what))
    _record_pid(p.pid, start, what)
    return p


def _starttime(pid):
    try:
        with open("/proc/%d/stat" % pid, errors="replace") as f:
            st = f.read()
        return int(st[st.rfind(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def survivors():
    """Everything the harness ever started that is still alive (same pid and
    start time, not a zombie), plus any live member of their process groups."""
    out = []
    with _lock:
        hist = list(_history)
    for pid, start, what in hist:
        try:
            with open("/proc/%d/stat" % pid, errors="replace") as f:
                st = f.read()
            state = st[st.rfind(")") + 2:].split()[0]
            if start is not None and _starttime(pid) == start and state != "Z":
                out.append("%s (pid %d)" % (what, pid))
                continue
        except OSError:
            pass
        if group_alive(pid):
            out.append("member of process group %d (%s)" % (pid, what))
    return out


def _kill_group(p, sig):
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid):
    """True if any process is still in process group pgid."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, errors="replace") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        # fields[0] = state, [1] = ppid, [2] = pgrp
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop(p, sig=signal.SIGTERM, timeout=5.0):
    """Send sig to p's process group, wait, escalate to SIGKILL."""
    if p.poll() is None:
        _kill_group(p, sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    _kill_group(p, signal.SIGKILL)
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        pass
    # forked children of the group
    deadline = time.monotonic() + 3
    while group_alive(p.pid) and time.monotonic() < deadline:
        _kill_group(p, signal.SIGKILL)
        time.sleep(0.05)
    for f in (p.stdin, p.stdout, p.stderr):
        try:
            if f:
                f.close()
        except OSError:
            pass


def cleanup():
    """Kill everything this harness started (clients first, rcleak, redis last)."""
    with _lock:
        procs = list(_procs)
        _procs.clear()
    order = {"client": 0, "rcleak": 1, "redis-server": 2}
    procs.sort(key=lambda pw: order.get(pw[1].split()[0], 1))
    for p, _ in procs:
        stop(p, signal.SIGTERM, timeout=3)
    for d in list(_tmpdirs):
        shutil.rmtree(d, ignore_errors=True)
        _tmpdirs.remove(d)


def _on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def mkdtemp(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


# --------------------------------------------------------------------------
# line reader over a pipe (bounded waits)
# --------------------------------------------------------------------------
class Lines:
    def __init__(self, stream, name):
        self.lines = []
        self.raw = []
        self.eof = False
        self.cv = threading.Condition()
        self.name = name
        t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        t.start()

    def _run(self, stream):
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self.cv:
                    self.raw.append(raw)
                    self.lines.append(line)
                    self.cv.notify_all()
        except (OSError, ValueError):
            pass
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def wait_line(self, index, timeout):
        """Return line number index (0-based), or None at EOF / timeout."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while len(self.lines) <= index and not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(min(left, 0.2))
            if len(self.lines) > index:
                return self.lines[index]
            return None

    def text(self):
        with self.cv:
            return "\n".join(self.lines)


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


# --------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------
_SS_STATE = {"ESTAB": "established", "CLOSE-WAIT": "close_wait", "SYN-SENT": "syn_sent"}


def _port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def ss_sockets(ports, netns=None):
    """Non-LISTEN TCP sockets with either side on one of ports (in netns, or
    the current network namespace).  Returns [(state, local, peer, {pid: [fds]})]."""
    ports = set(int(p) for p in ports)
    prefix = netns.prefix if netns else []
    r = subprocess.run(prefix + ["ss", "-tanpH"], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError("ss failed: " + r.stderr)
    res = []
    for line in r.stdout.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        state, local, peer = parts[0], parts[3], parts[4]
        if state in ("LISTEN", "UNCONN"):
            continue
        try:
            if _port_of(local) not in ports and _port_of(peer) not in ports:
                continue
        except ValueError:
            continue
        holders = {}
        if len(parts) > 5:
            for pid, fd in re.findall(r"pid=(\d+),fd=(\d+)", parts[5]):
                holders.setdefault(int(pid), []).append(int(fd))
        res.append((state, local, peer, holders))
    return res


def ss_count(pid, ports, state=None, netns=None):
    """Distinct sockets on ports held by pid (each socket once however many fds)."""
    n = 0
    for st, _l, _p, holders in ss_sockets(ports, netns):
        if pid in holders and (state is None or st == state):
            n += 1
    return n


def ss_accepted(pid, port):
    """Sockets held by pid whose local port is port (accepted by a server on port)."""
    n = 0
    for _st, local, _p, holders in ss_sockets([port]):
        if pid in holders and _port_of(local) == int(port):
            n += 1
    return n


def ss_states(pid, ports):
    out = {}
    for st, _l, _p, holders in ss_sockets(ports):
        if pid in holders:
            out[st] = out.get(st, 0) + 1
    return out


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                parts = line.split()
                soft, hard = parts[3], parts[4]
                conv = lambda v: None if v == "unlimited" else int(v)  # noqa: E731
                return conv(soft), conv(hard)
    raise RuntimeError("no Max open files in /proc/%d/limits" % pid)


def wait_until(pred, timeout=CONVERGE_S, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Fail("timed out waiting for " + what)
        time.sleep(0.05)


# --------------------------------------------------------------------------
# BPF programs (rcl_*) and their holders
# --------------------------------------------------------------------------
def have_bpftool():
    return shutil.which("bpftool") is not None


def rcl_progs():
    """{prog_id: name} of loaded BPF programs whose name starts with rcl_."""
    r = subprocess.run(["bpftool", "-j", "prog", "list"], capture_output=True,
                       text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError("bpftool prog list failed: " + r.stderr.strip())
    progs = json.loads(r.stdout or "[]")
    return {p["id"]: p.get("name", "") for p in progs
            if p.get("name", "").startswith("rcl_")}


def tcp_opens(ns):
    """(TcpActiveOpens, TcpPassiveOpens) of network namespace ns (a NetNS),
    from its /proc/net/snmp: the kernel's own count of connects and accepts."""
    r = subprocess.run(ns.prefix + ["cat", "/proc/net/snmp"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, "reading the namespace's /proc/net/snmp: %s" % r.stderr.strip())
    tcp = [line.split() for line in r.stdout.splitlines() if line.startswith("Tcp:")]
    check(len(tcp) == 2, "no Tcp lines in /proc/net/snmp: %r" % r.stdout[:300])
    row = dict(zip(tcp[0][1:], tcp[1][1:]))
    return int(row["ActiveOpens"]), int(row["PassiveOpens"])


def bpf_fdinfos(pid):
    """The /proc/PID/fdinfo text of each BPF object fd process pid holds
    (bpf-prog, bpf_link, bpf-map)."""
    fddir = "/proc/%s/fd" % pid
    try:
        fds = os.listdir(fddir)
    except OSError:
        return
    for fd in fds:
        try:
            tgt = os.readlink(os.path.join(fddir, fd))
        except OSError:
            continue
        if not tgt.startswith("anon_inode:bpf"):
            continue
        try:
            with open("/proc/%s/fdinfo/%s" % (pid, fd)) as f:
                yield f.read()
        except OSError:
            continue


def bpf_fd_ids(pid, kind):
    """Set of the BPF object ids (kind: "prog_id" or "map_id") that process
    pid holds fds of (bpf-prog, bpf_link, bpf-map), from /proc/PID/fdinfo."""
    ids = set()
    for info in bpf_fdinfos(pid):
        m = re.search(r"^%s:\s*(\d+)" % kind, info, re.M)
        if m:
            ids.add(int(m.group(1)))
    return ids


def bpf_linked_progs(pid):
    """Set of the ids of the BPF programs process pid keeps attached: the
    programs of the bpf_link fds it holds (a program loaded but not
    attached has no link)."""
    ids = set()
    for info in bpf_fdinfos(pid):
        m = re.search(r"^prog_id:\s*(\d+)", info, re.M)
        if m and re.search(r"^link_id:", info, re.M):
            ids.add(int(m.group(1)))
    return ids


def prog_holders():
    """{prog_id: set(pids)} from /proc/*/fdinfo of bpf-prog and bpf_link fds."""
    res = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            for i in bpf_fd_ids(d, "prog_id"):
                res.setdefault(i, set()).add(int(d))
    return res


def _sid(pid):
    try:
        with open("/proc/%d/stat" % pid, errors="replace") as f:
            st = f.read()
        return int(st[st.rfind(")") + 2:].split()[3])
    except (OSError, ValueError, IndexError):
        return None


def leaked_progs(before, our_sids, timeout=5.0):
    """rcl_ programs loaded since `before` that are not held by someone else's
    live process (another rcleak run by a human on this machine).  Polls up to
    timeout for the kernel to free them.  Returns {id: name} still leaked."""
    deadline = time.monotonic() + timeout
    while True:
        now = rcl_progs()
        new = {i: n for i, n in now.items() if i not in before}
        if new:
            holders = prog_holders()
            leaked = {}
            for i, n in new.items():
                hs = holders.get(i, set())
                foreign = hs and all(_sid(h) not in our_sids for h in hs)
                if not foreign:
                    leaked[i] = n
            new = leaked
        if not new or time.monotonic() > deadline:
            return new
        time.sleep(0.1)


# --------------------------------------------------------------------------
# rcleak
# --------------------------------------------------------------------------
def have_rcleak():
    return os.path.isfile(RCLEAK) and os.access(RCLEAK, os.X_OK)


def run_rcleak(args, timeout=15, preexec_fn=None, argv0=None):
    """Run rcleak to completion; returns CompletedProcess-like with rc, out, err."""
    p = spawn([argv0 or RCLEAK] + list(args), "rcleak " + " ".join(args),
              stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("rcleak %s did not exit within %ds" % (" ".join(args), timeout))
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


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


class Rcleak:
    """A running `rcleak --json ...` whose JSON lines are collected."""

    def __init__(self, args, wait_first=True, first_timeout=20, wrap=()):
        """wrap: a command rcleak runs under that execs it (its pid stays)."""
        self.args = ["--json", "-i", INTERVAL] + list(args) + \
            os.environ.get("RCLEAK_TEST_RCLEAK_ARGS", "").split()
        self.errdir = mkdtemp("rcleak-err-")
        self.errpath = os.path.join(self.errdir, "stderr")
        self.errf = open(self.errpath, "wb")
        self.proc = spawn(list(wrap) + [RCLEAK] + self.args, "rcleak " + " ".join(self.args),
                          stdin=subprocess.DEVNULL, stderr=self.errf)
        self.pid = self.proc.pid
        self.out = Lines(self.proc.stdout, "rcleak")
        self.next = 0          # index of the next line not yet consumed
        self.first = None
        if wait_first:
            self.first = self.line(first_timeout)

    def stderr(self):
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _describe_exit(self):
        rc = self.proc.poll()
        return "rcleak exited rc=%s; stderr: %s" % (rc, self.stderr().strip()[-800:])

    def line(self, timeout=CONVERGE_S):
        """The next JSON object (blocking, bounded)."""
        raw = self.out.wait_line(self.next, timeout)
        if raw is None:
            if self.proc.poll() is not None or self.out.eof:
                raise Fail("no JSON line: " + self._describe_exit())
            raise Fail("no JSON line from rcleak within %.0fs (stdout not line-buffered?)"
                       % timeout)
        self.next += 1
        try:
            obj = json.loads(raw)
        except ValueError:
            raise Fail("stdout line is not JSON: %r" % raw[:300])
        check(isinstance(obj, dict), "JSON line is not an object: %r" % raw[:300])
        return obj

    def skip_to_now(self):
        """Consume lines already printed: later waits see only fresh output."""
        with self.out.cv:
            self.next = len(self.out.lines)

    def wait_for(self, pred, timeout=CONVERGE_S, what="rcleak to converge"):
        """Read lines until pred(obj) returns (True, desc); at timeout fail with
        the last description, which should say observed vs expected."""
        deadline = time.monotonic() + timeout
        desc = "no line"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.debug_dump()
                raise Fail("%s: %s (after %.0fs)" % (what, desc, timeout))
            try:
                obj = self.line(left)
            except Fail:
                self.debug_dump()
                if self.proc.poll() is not None:
                    raise Fail("%s: %s; last: %s" % (what, self._describe_exit(), desc))
                raise Fail("%s: %s (after %.0fs)" % (what, desc, timeout))
            ok, desc = pred(obj)
            if ok:
                return obj
            self.last_obj = obj

    def debug_dump(self):
        """With RCLEAK_TEST_VERBOSE, show rcleak's stderr and last line."""
        if os.environ.get("RCLEAK_TEST_VERBOSE"):
            sys.stderr.write("# rcleak %s\n# stderr: %s\n# last line: %s\n" % (
                " ".join(self.args), self.stderr()[-3000:],
                json.dumps(getattr(self, "last_obj", None))[:3000]))

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait_exit(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail("rcleak did not exit within %ds" % timeout)

    def close(self):
        stop(self.proc, signal.SIGINT)
        try:
            self.errf.close()
        except OSError:
            pass


def procs_of(obj, pid):
    return [p for p in obj.get("processes", []) if p.get("pid") == pid]


def proc_row(obj, pid):
    """The single row of pid, or None.  Prefers a live row."""
    rows = procs_of(obj, pid)
    live = [r for r in rows if not r.get("exited")]
    return (live or rows or [None])[0]


def server_row(obj, pid):
    rows = [s for s in obj.get("servers", []) if s.get("pid") == pid]
    return rows[0] if rows else None


def fields(row, *names):
    if row is None:
        return "no row"
    return ", ".join("%s=%r" % (n, row.get(n, "<missing>")) for n in names)


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


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


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


def expect_row(rcl, pid, want, absent_ok=False, also=None, timeout=CONVERGE_S, what=None):
    """Wait until rcleak's row for pid has field == value for every item of want
    (and also(row) -> (ok, text) if given).  absent_ok: a missing row passes
    (used for 'open=0').  Fails with observed vs expected."""
    def pred(obj):
        row = proc_row(obj, pid)
        if row is None:
            if absent_ok:
                return True, ""
            return False, "no process row for pid %d (expected %s)" % (
                pid, ", ".join("%s=%r" % kv for kv in want.items()))
        bad = [(k, row.get(k, "<missing>"), v) for k, v in want.items() if row.get(k, "<missing>") != v]
        extra_ok, extra_txt = also(row) if also else (True, "")
        if not bad and extra_ok:
            return True, ""
        txt = "pid %d: " % pid + "; ".join("%s observed %r expected %r" % b for b in bad)
        if not extra_ok:
            txt += ("; " if bad else "") + extra_txt
        return False, txt
    return rcl.wait_for(pred, timeout, what or "process row of pid %d" % pid)


def expect_server(rcl, pid, want, timeout=CONVERGE_S, what=None):
    def pred(obj):
        row = server_row(obj, pid)
        if row is None:
            return False, "no server row for pid %d (servers: %s)" % (
                pid, [s.get("pid") for s in obj.get("servers", [])])
        bad = [(k, row.get(k, "<missing>"), v) for k, v in want.items() if row.get(k, "<missing>") != v]
        if not bad:
            return True, ""
        return False, "server pid %d: " % pid + "; ".join("%s observed %r expected %r" % b for b in bad)
    return rcl.wait_for(pred, timeout, what or "server row of pid %d" % pid)


HOOKFLOOR = os.environ.get("RCLEAK_TEST_HOOKFLOOR") or os.path.join(ROOT, "build", "hookfloor")


def start_counter():
    """build/hookfloor --count attached (after rcleak's programs), or None
    when it cannot attach (no tp_btf: then nothing is discounted)."""
    if not os.access(HOOKFLOOR, os.X_OK):
        raise Fail("%s is missing: `make test` builds it (make build/hookfloor)" % HOOKFLOOR)
    p = spawn([HOOKFLOOR, "--count"], "hookfloor --count", stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if p.poll() is not None:
            return None
        if bpf_fd_ids(p.pid, "prog_id"):
            return p
        time.sleep(0.05)
    stop(p)
    raise Fail("hookfloor --count did not attach within 20 s")


def stop_counter(p):
    """{"handshakes", "accepts", "skipped"} the counter saw, or None."""
    if p is None:
        return None
    p.send_signal(signal.SIGINT)
    try:
        out, _ = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("hookfloor --count did not exit within 20 s of SIGINT")
    w = out.decode().split()
    check(len(w) == 6 and p.returncode == 0,
          "hookfloor --count printed %r, exit %s" % (out[-200:], p.returncode))
    return dict(zip(w[0::2], map(int, w[1::2])))


def hook_dropped(active, passive, seen):
    """Handshakes and accepts of a storm (active, passive opens counted by
    the namespace) that the hook delivered to no program, less the
    counter's own counted skips: the kernel's (6.18-fc delivers some in
    bursts of 1-3 ms to nothing and counts no skip, tools/bench/hookloss.sh),
    not rcleak's to see or count. seen: stop_counter()'s, or None (0). The
    counter sees the whole host, so other traffic only makes this smaller."""
    if not seen:
        return 0
    return max(0, (active - seen["handshakes"]) + (passive - seen["accepts"]) - seen["skipped"])


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

