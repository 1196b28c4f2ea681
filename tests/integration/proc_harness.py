"""The processes a test starts, and their cleanup.

Everything a test starts goes through spawn(), which puts it in a new process
group and records it, so cleanup() can kill the whole group (forked children
included) after every test, at exit, and on SIGTERM/SIGINT of the runner.
The pids are also appended to $RCLEAK_TEST_PIDFILE so tests/run.sh can kill
survivors if this interpreter itself dies.  Lines reads a child's output
with bounded waits; the /proc helpers say when a process started, its
session and its children.
"""
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from core_harness import PIDFILE


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


def spawn(argv, what, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
          stderr=subprocess.PIPE, preexec_fn=None, env=None, pass_fds=()):
    """Start argv in a new session/process group and register it for cleanup
    (pass_fds: descriptors it keeps, as subprocess takes them)."""
    def pre():
        os.setsid()
        if preexec_fn:
            preexec_fn()
    p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                         preexec_fn=pre, env=env, close_fds=True, pass_fds=pass_fds)
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


def _sid(pid):
    try:
        with open("/proc/%d/stat" % pid, errors="replace") as f:
            st = f.read()
        return int(st[st.rfind(")") + 2:].split()[3])
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


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


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
