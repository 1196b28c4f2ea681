"""`rcleak run --json/--junit FILE` where FILE is a FIFO: a CI gate must
never hang on its summary. The FIFO is opened when FILE is checked, before
CMD runs, non-blocking, and held open to the end: no reader within 5 s is
refused then (exit 1, CMD not run), a reader that takes nothing for 10 s
fails the write at the end. (The other FILE tests are in test_run.py.)

Run alone:  python3 tests/integration/runner.py -k run_out
"""
import fcntl
import json
import os
import signal
import subprocess
import threading
import time

import harness
from harness import RCLEAK, Fail, check, mkdtemp, spawn, stop

TESTS = ["test_run_out_fifo_no_reader", "test_run_out_fifo_late_reader", "test_run_out_fifo_stuck_reader"]

READER_WAIT_S = 5   # RUN_OUT_READER_WAIT_S, user/run_out.h
STALL_S = 10        # RUN_OUT_STALL_S
F_SETPIPE_SZ = 1031


def _run(args, timeout):
    """`rcleak run ARGS` to its end, at most timeout s: (exit status,
    stderr's non-empty lines, seconds it took)."""
    t0 = time.monotonic()
    p = spawn([RCLEAK, "run"] + args, "rcleak run " + " ".join(args), stdin=subprocess.DEVNULL)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("`rcleak run %s` did not exit within %ds: hung on its FIFO" % (" ".join(args), timeout))
    err = err.decode("utf-8", "replace")
    return p.returncode, [l for l in err.splitlines() if l.strip()], time.monotonic() - t0


def _fifo(prefix):
    d = mkdtemp(prefix)
    os.chmod(d, 0o755)
    path = os.path.join(d, "results")
    os.mkfifo(path)
    return d, path


def test_run_out_fifo_no_reader():
    """--json/--junit FIFO that nobody reads: rcleak ran CMD, then hung for
    ever opening the FIFO for its summary. Now refused before CMD runs,
    after waiting READER_WAIT_S for a reader: one line naming FILE and
    saying to start its reader, exit 1, CMD not run, the FIFO left as it
    was."""
    d, fifo = _fifo("rcleak-run-fifo-")
    marker = os.path.join(d, "cmd-ran")
    port = str(harness.free_port())
    for opt in ("--json", "--junit"):
        args = ["-p", port, opt, fifo, "--", "sh", "-c", 'touch "$0"', marker]
        rc, lines, took = _run(args, READER_WAIT_S + 40)
        what = "`rcleak run %s` (no reader)" % " ".join(args)
        check(not os.path.exists(marker), "%s: CMD ran" % what)
        check(rc == 1, "%s: exit status %r, expected 1; stderr %r" % (what, rc, lines))
        check(len(lines) == 1 and fifo in lines[0] and "reader" in lines[0] and "not run" in lines[0],
              "%s: expected one line naming the FIFO and its reader, got %r" % (what, lines))
        check(took >= READER_WAIT_S - 0.5, "%s: refused after %.1fs, before the %ds a reader has"
              % (what, took, READER_WAIT_S))
        check(sorted(os.listdir(d)) == ["results"] and os.path.exists(fifo),
              "%s: left %s" % (what, sorted(os.listdir(d))))


def _read_all(path, out, delay):
    time.sleep(delay)
    with open(path, "rb") as f:
        out.append(f.read())


def test_run_out_fifo_late_reader():
    """A reader that comes just after rcleak (`rcleak run --json f -- CMD &
    jq . <f`) gets the summary, all of it and then EOF, exit 0: the FIFO
    held open from the check does not end the reader's input early."""
    d, fifo = _fifo("rcleak-run-fifo-late-")
    port = str(harness.free_port())
    got = []
    reader = threading.Thread(target=_read_all, args=(fifo, got, 1.0), daemon=True)
    reader.start()
    cmd = ["sh", "-c", "sleep 1; echo done"]
    rc, lines, _ = _run(["-p", port, "--json", fifo, "--"] + cmd, 60)
    reader.join(10)
    check(rc == 0, "exit status %r, expected 0; stderr %r" % (rc, lines[-5:]))
    check(got, "the reader got no EOF")
    try:
        js = json.loads(got[0].decode("utf-8", "replace"))
    except ValueError as e:
        raise Fail("the FIFO's reader got no JSON (%s): %r" % (e, got[0][:300]))
    check(js.get("cmd") == cmd and js.get("exit_code") == 0, "JSON from the FIFO: %r" % js)


def test_run_out_fifo_stuck_reader():
    """A reader that opened the FIFO but reads nothing, its pipe shrunk to
    one page and the JSON longer (CMD's long argv is in it): rcleak hung in
    the write for ever. Now it gives up after STALL_S without progress: a
    line saying the reader took nothing, and the verdict's exit 1."""
    d, fifo = _fifo("rcleak-run-fifo-stuck-")
    port = str(harness.free_port())
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        fcntl.fcntl(rfd, F_SETPIPE_SZ, 4096)
        cmd = ["sh", "-c", "true", "x" * 12000]
        rc, lines, took = _run(["-p", port, "--json", fifo, "--"] + cmd, STALL_S + 60)
    finally:
        os.close(rfd)
    check(rc == 1, "exit status %r, expected 1; stderr %r" % (rc, lines[-5:]))
    check(any(l.startswith("rcleak: cannot write %s: " % fifo) and "reader" in l for l in lines),
          "no line saying the FIFO's reader took nothing: %r" % lines[-5:])
    check(lines and lines[-1].startswith("rcleak run: PASS ") and "cannot write" in lines[-1],
          "last line %r: expected the verdict naming the FIFO" % lines[-1:])
    check(took >= STALL_S - 0.5, "gave up after %.1fs, before %ds without progress" % (took, STALL_S))


if __name__ == "__main__":
    import sys
    import runner
    runner.MODULES = ["test_run_out"]
    sys.exit(runner.main(sys.argv[1:]))
