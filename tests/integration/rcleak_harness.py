"""rcleak under test: run to completion (run_rcleak), or running with --json
(Rcleak) with its lines read as they come, and the waits for its rows to
match what a test expects (expect_row, expect_server).
"""
import json
import os
import signal
import subprocess
import sys
import time

from core_harness import CONVERGE_S, INTERVAL, RCLEAK, Fail, check
from proc_harness import Lines, mkdtemp, spawn, stop


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
