"""`rcleak run --json/--junit FILE` where FILE is a FIFO: a CI gate must
never hang on its summary. The FIFO is opened when FILE is checked, before
CMD runs, non-blocking, and held open to the end: no reader within 5 s is
refused then (exit 1, CMD not run), a reader that takes nothing for 10 s
fails the write at the end. And FILE checked before CMD runs, unwritable at the end, a
directory, swapped, the same for both, rcleak's own stdout or a socket.

Run alone:  python3 tests/integration/runner.py -k run_out
"""
import fcntl
import json
import os
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import harness
from harness import RCLEAK, Fail, check, mkdtemp, spawn, stop
from run_harness import Run, run_to_end

TESTS = ["test_run_out_fifo_no_reader", "test_run_out_fifo_late_reader",
         "test_run_out_fifo_stuck_reader", "test_run_out_fifo_wait_signal",
         "test_run_out_file_checked_first",
         "test_run_out_file_unwritable_at_end", "test_run_out_junit_unwritable_json",
         "test_run_out_file_is_dir",
         "test_run_out_file_swapped", "test_run_out_file_foreign_symlink", "test_run_out_file_is_stdout",
         "test_run_out_stdout_reader_gone", "test_run_out_file_same",
         "test_run_out_file_std_socket"]

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


def _in_sleep(pid):
    """pid sleeps in nanosleep() now (its wchan): rcleak's wait for a
    FIFO's reader, retried every 50 ms."""
    try:
        with open("/proc/%d/wchan" % pid) as f:
            return "nanosleep" in f.read()
    except OSError:
        return False


def test_run_out_fifo_wait_signal():
    """SIGINT or SIGTERM while rcleak waits for a FIFO's reader (up to
    READER_WAIT_S, before CMD runs): acted on only once the wait ended,
    after seconds, and then as "a FIFO nobody reads", exit 1. An SRE's
    Ctrl-C stops rcleak at once: exit 128+N, one line saying CMD was not
    run, CMD not run, no BPF program of rcleak's left, the FIFO left."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        d, fifo = _fifo("rcleak-run-fifo-sig-")
        marker = os.path.join(d, "cmd-ran")
        port = str(harness.free_port())
        run = Run(["-p", port, "--json", fifo], ["sh", "-c", 'touch "$0"', marker], json_out=False)
        what = "%s to `%s` waiting for its FIFO's reader" % (sig.name, " ".join(run.argv[1:]))
        try:
            deadline = time.monotonic() + 15
            # in the reader's wait: asleep, no CMD, no BPF object of its own
            while not (_in_sleep(run.pid) and not harness.children_of(run.pid)
                       and not harness.bpf_fd_ids(str(run.pid), "prog_id")):
                check(run.proc.poll() is None, "%s: rcleak exited (rc %r) before the wait; %s"
                      % (what, run.proc.returncode, run.describe()))
                check(time.monotonic() < deadline, "%s: rcleak never waited" % what)
                time.sleep(0.01)
            time.sleep(0.3)
            t0 = time.monotonic()
            os.kill(run.pid, sig)
            rc = run.wait(timeout=READER_WAIT_S + 20)   # also: none of its rcl_ programs left
            took = time.monotonic() - t0
        finally:
            run.cleanup()
        lines = [l for l in run.err().splitlines() if l.strip()]
        check(took < 1.5, "%s: exited %.1fs after the signal, not at once; %s" % (what, took, run.describe()))
        check(rc == 128 + sig, "%s: exit status %r, expected %d; %s" % (what, rc, 128 + sig, run.describe()))
        check(not os.path.exists(marker), "%s: CMD ran" % what)
        check(len(lines) == 1 and lines[0].startswith("rcleak: ") and "signal %d" % sig in lines[0]
              and "not run" in lines[0], "%s: expected one line naming the signal and saying CMD "
              "was not run, got %r" % (what, lines))
        check(sorted(os.listdir(d)) == ["results"] and os.path.exists(fifo),
              "%s: left %s" % (what, sorted(os.listdir(d))))


def _marker_cmd(prefix):
    """A new directory others may enter, the path CMD touches there, and
    CMD: whether CMD ran is whether the marker exists."""
    d = mkdtemp(prefix)
    os.chmod(d, 0o755)
    marker = os.path.join(d, "cmd-ran")
    return d, marker, ["sh", "-c", 'touch "$0"', marker]


def test_run_out_file_checked_first():
    """--json or --junit FILE that cannot be written (its directory does not
    exist) is said before CMD runs, in one line, exit 1, and CMD is not run:
    it used to run CMD to its end (a whole test suite) and only then say
    "cannot write". A FILE it created is removed when CMD cannot run
    (exit 127), so no empty file passes for a result; one that is there is
    emptied, so that an earlier run's summary does not pass for this one's."""
    d, marker, cmd = _marker_cmd("rcleak-run-outfile-")
    good = os.path.join(d, "ok.json")
    port = str(harness.free_port())
    for args, want in ((["--json", os.path.join(d, "no", "r.json")], 1),
                       (["--json", good, "--junit", os.path.join(d, "no", "r.xml")], 1)):
        rc, out, err, lines = run_to_end(["-p", port] + args + ["--"] + cmd, 30)
        what = "`rcleak run %s`" % " ".join(args)
        check(rc == want, "%s: exit status %r, expected %d; stderr %r" % (what, rc, want, err[-400:]))
        check(not os.path.exists(marker), "%s: CMD ran, though its result could not be written" % what)
        check(len(lines) == 1 and "cannot write" in lines[0] and "/no/r." in lines[0],
              "%s: expected one line naming the file, got %r" % (what, err[-400:]))
        check(sorted(os.listdir(d)) == [], "%s: left %s behind" % (what, sorted(os.listdir(d))))
    p = spawn([RCLEAK, "run", "-p", port, "--json", good, "--", os.path.join(d, "nonexistent")],
              "rcleak run", stdin=subprocess.DEVNULL)
    out, err = p.communicate(timeout=30)
    check(p.returncode == 127 and not os.path.exists(good),
          "CMD not found: exit status %r (expected 127), --json file left: %s"
          % (p.returncode, os.path.exists(good)))
    # an earlier run's summary must not pass for this one's
    stale = '{"result": "pass", "from": "an earlier run"}\n'
    with open(good, "w") as f:
        f.write(stale)
    p = spawn([RCLEAK, "run", "-p", port, "--json", good, "--", os.path.join(d, "nonexistent")],
              "rcleak run", stdin=subprocess.DEVNULL)
    out, err = p.communicate(timeout=30)
    with open(good) as f:
        left = f.read()
    check(p.returncode == 127 and left == "",
          "CMD not found, --json FILE there from an earlier run: exit status %r (expected 127), "
          "FILE holds %r (expected emptied)" % (p.returncode, left[:80]))


def test_run_out_file_unwritable_at_end():
    """A --json/--junit FILE that passes the check but cannot be written at
    the end (/dev/full: no space) makes rcleak exit 1 after a passing CMD,
    and the summary's last line, the verdict, says so with that exit code:
    it used to print "PASS (exit 0)" and only then "cannot write", exiting
    1. A failing CMD keeps its own exit code, and the line names both."""
    port = str(harness.free_port())
    for cmd, want, tail in ((["true"], 1, "(exit 1: cannot write /dev/full)"),
                            (["sh", "-c", "exit 3"], 3, "(exit 3: 'sh' exited 3; cannot write /dev/full)")):
        for opt in ("--json", "--junit"):
            args = ["-p", port, opt, "/dev/full", "--"] + cmd
            rc, out, err, lines = run_to_end(args, 30)
            what = "`rcleak run %s`" % " ".join(args)
            check(rc == want, "%s: exit status %r, expected %d; stderr %r" % (what, rc, want, err[-400:]))
            check(any(l.startswith("rcleak: cannot write /dev/full: ") for l in lines),
                  "%s: no line saying why /dev/full was not written: %r" % (what, err[-400:]))
            check(lines and lines[-1].startswith("rcleak run: PASS ") and lines[-1].endswith(tail),
                  "%s: last line %r, expected the verdict ending %r" % (what, lines[-1:] , tail))


def test_run_out_junit_unwritable_json():
    """--json FILE next to a --junit FILE that cannot be written at the
    end (/dev/full): rcleak exits 1 after a passing CMD, but the JSON,
    written before the XML was tried, said "exit_code": 0, and a CI step
    that takes its verdict from the JSON passed the job that rcleak
    failed. The JSON's exit_code is rcleak's exit status, the XML's failure
    included; a failing CMD's own code stays, in both."""
    port = str(harness.free_port())
    d = mkdtemp("rcleak-run-junitfull-")
    js_path = os.path.join(d, "r.json")
    for cmd, want in ((["true"], 1), (["sh", "-c", "exit 3"], 3)):
        args = ["-p", port, "--json", js_path, "--junit", "/dev/full", "--"] + cmd
        rc, out, err, lines = run_to_end(args, 30)
        what = "`rcleak run %s`" % " ".join(args)
        check(rc == want, "%s: exit status %r, expected %d; stderr %r" % (what, rc, want, err[-400:]))
        with open(js_path) as f:
            js = json.load(f)
        check(js.get("exit_code") == rc, "%s: the JSON says exit_code %r, rcleak exited %r"
              % (what, js.get("exit_code"), rc))


def test_run_out_file_is_dir():
    """--json or --junit naming a directory is said before CMD runs, one line,
    exit 1, CMD not run: the check took a directory for a FIFO or a device
    (opened only at the end), so the whole CMD ran and only then came
    "cannot write ...: Is a directory"."""
    d = mkdtemp("rcleak-run-outdir-")
    os.chmod(d, 0o755)
    sub = os.path.join(d, "results")
    os.mkdir(sub)
    marker = os.path.join(d, "cmd-ran")
    cmd = ["sh", "-c", 'touch "$0"', marker]
    port = str(harness.free_port())
    for opt in ("--json", "--junit"):
        args = ["-p", port, opt, sub, "--"] + cmd
        rc, out, err, lines = run_to_end(args, 30)
        what = "`rcleak run %s`" % " ".join(args)
        check(not os.path.exists(marker), "%s: CMD ran, though FILE is a directory" % what)
        check(rc == 1, "%s: exit status %r, expected 1; stderr %r" % (what, rc, err[-400:]))
        check(len(lines) == 1 and "cannot write %s" % sub in lines[0] and "not run" in lines[0],
              "%s: expected one line naming the directory, got %r" % (what, err[-400:]))
        check(sorted(os.listdir(sub)) == [], "%s: wrote %s into the directory"
              % (what, sorted(os.listdir(sub))))


def test_run_out_file_swapped():
    """CMD, run as another user (--user, or SUDO_USER under sudo), replaces
    the --json/--junit FILE in a directory it owns with a symlink to a file
    of root's: rcleak, root, wrote the summary through the symlink, over
    that file. Now the summary goes into the file it checked before CMD
    ran; a FILE replaced is not written (one line, exit 1), and a FILE that
    CMD removed is made anew."""
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise harness.Skip("no user nobody")
    port = str(harness.free_port())
    safe = mkdtemp("rcleak-run-victim-")
    os.chmod(safe, 0o755)
    victim = os.path.join(safe, "precious")
    for opt in ("--json", "--junit"):
        with open(victim, "w") as f:
            f.write("root's own\n")
        ws = mkdtemp("rcleak-run-ws-")
        os.chown(ws, nobody.pw_uid, nobody.pw_gid)
        os.chmod(ws, 0o755)
        out = os.path.join(ws, "result")
        swap = ["sh", "-c", 'rm -f "$0" && ln -s "$1" "$0"', out, victim]
        args = ["-p", port, "--user", "nobody", opt, out, "--"] + swap
        rc, _o, err, lines = run_to_end(args, 30)
        what = "`rcleak run %s`" % " ".join(args)
        with open(victim) as f:
            left = f.read()
        check(left == "root's own\n", "%s: root's file behind CMD's symlink was overwritten: %r"
              % (what, left[:120]))
        check(os.path.islink(out), "%s: CMD's symlink is gone" % what)
        check(rc == 1, "%s: exit status %r, expected 1 (FILE not written); stderr %r"
              % (what, rc, err[-400:]))
        check(any(l.startswith("rcleak: cannot write %s: " % out) and "replaced" in l for l in lines),
              "%s: no line saying FILE was replaced: %r" % (what, err[-400:]))
        check(lines and lines[-1].endswith("cannot write %s)" % out),
              "%s: last line %r should name the FILE not written" % (what, lines[-1:]))

        # removed, not replaced: made anew, with the summary
        os.unlink(out)
        gone = ["sh", "-c", 'rm -f "$0"', out]
        args = ["-p", port, "--user", "nobody", opt, out, "--"] + gone
        rc, _o, err, lines = run_to_end(args, 30)
        what = "`rcleak run %s`" % " ".join(args)
        check(rc == 0, "%s: exit status %r, expected 0; stderr %r" % (what, rc, err[-400:]))
        check(os.path.isfile(out) and not os.path.islink(out), "%s: FILE not made anew" % what)
        with open(out) as f:
            text = f.read()
        if opt == "--json":
            check(json.loads(text).get("exit_code") == 0, "%s: FILE holds %r" % (what, text[:200]))
        else:
            check(ET.fromstring(text).tag == "testsuites", "%s: FILE holds %r" % (what, text[:200]))


def test_run_out_file_foreign_symlink():
    """The --json/--junit FILE is there before rcleak starts, a symlink of
    another user's to a file of root's (CMD of an earlier run, run as that
    user, left it in its work tree: `ln -s /etc/shadow result`): rcleak,
    root, emptied root's file at its check and wrote the summary into it.
    Now a symlink is written through only when it is root's, or its owner
    owns what it leads to: else one line, exit 1, CMD not run, root's file
    as it was. A user's symlink to that user's own file is written."""
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise harness.Skip("no user nobody")
    port = str(harness.free_port())
    safe = mkdtemp("rcleak-run-victim2-")
    os.chmod(safe, 0o755)
    victim = os.path.join(safe, "precious")
    for opt in ("--json", "--junit"):
        with open(victim, "w") as f:
            f.write("root's own\n")
        ws = mkdtemp("rcleak-run-ws2-")
        os.chown(ws, nobody.pw_uid, nobody.pw_gid)
        os.chmod(ws, 0o755)
        out = os.path.join(ws, "result")
        os.symlink(victim, out)
        os.lchown(out, nobody.pw_uid, nobody.pw_gid)
        marker = os.path.join(ws, "cmd-ran")
        args = ["-p", port, opt, out, "--", "sh", "-c", 'touch "$0"', marker]
        rc, _o, err, lines = run_to_end(args, 30)
        what = "`rcleak run %s` (FILE nobody's symlink to root's file)" % " ".join(args)
        with open(victim) as f:
            left = f.read()
        check(left == "root's own\n", "%s: root's file behind the symlink was overwritten: %r"
              % (what, left[:120]))
        check(rc == 1 and not os.path.exists(marker), "%s: exit status %r (expected 1), CMD ran: %s; "
              "stderr %r" % (what, rc, os.path.exists(marker), err[-400:]))
        check(len(lines) == 1 and lines[0].startswith("rcleak: cannot write %s: " % out)
              and "symlink" in lines[0] and "not run" in lines[0],
              "%s: expected one line naming FILE and its symlink, got %r" % (what, err[-400:]))
        check(os.path.islink(out), "%s: the symlink is gone" % what)
        # nobody's symlink to nobody's own file: written through
        own = os.path.join(ws, "own")
        with open(own, "w") as f:
            f.write("old\n")
        os.chown(own, nobody.pw_uid, nobody.pw_gid)
        os.unlink(out)
        os.symlink(own, out)
        os.lchown(out, nobody.pw_uid, nobody.pw_gid)
        rc, _o, err, lines = run_to_end(["-p", port, opt, out, "--", "true"], 30)
        with open(own) as f:
            got = f.read()
        check(rc == 0 and got.lstrip().startswith("{" if opt == "--json" else "<?xml"),
              "`rcleak run %s %s` (nobody's symlink to nobody's file): exit %r, the file holds %r; "
              "stderr %r" % (opt, out, rc, got[:80], err[-400:]))


def test_run_out_file_is_stdout():
    """--json /dev/stdout and --junit /dev/stderr, rcleak's stdout and stderr
    on files (`{ echo before; rcleak run ...; } >ci.log 2>err.log`): the
    files are CMD's output too, and the check emptied them, then the end
    again: the JSON was all ci.log held. Now the summary goes after what
    was written there, CMD's lines and those before rcleak kept."""
    d = mkdtemp("rcleak-run-stdout-")
    out_path, err_path = os.path.join(d, "ci.log"), os.path.join(d, "err.log")
    cmd = ["sh", "-c", "echo cmd-out; echo cmd-err >&2"]
    args = [RCLEAK, "run", "-p", str(harness.free_port()), "--json", "/dev/stdout",
            "--junit", "/dev/stderr", "--"] + cmd
    with open(out_path, "w") as fo, open(err_path, "w") as fe:
        fo.write("before\n")
        fo.flush()
        p = spawn(args, "rcleak run", stdin=subprocess.DEVNULL, stdout=fo, stderr=fe)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop(p, signal.SIGKILL)
            raise Fail("`%s` did not exit" % " ".join(args[1:]))
    with open(out_path, "rb") as f:
        out = f.read().decode("utf-8", "replace")
    with open(err_path, "rb") as f:
        err = f.read().decode("utf-8", "replace")
    what = "`%s >ci.log 2>err.log`" % " ".join(args[1:])
    check(rc == 0, "%s: exit status %r; stderr %r" % (what, rc, err[-400:]))
    check(out.startswith("before\ncmd-out\n"), "%s: ci.log lost what was written before the "
          "JSON: %r" % (what, out[:300]))
    try:
        js = json.loads(out[len("before\ncmd-out\n"):])
    except ValueError as e:
        raise Fail("%s: after CMD's line, ci.log holds no JSON (%s): %r" % (what, e, out[:300]))
    check(js.get("exit_code") == 0 and js.get("cmd") == cmd, "%s: JSON %r" % (what, js))
    check(err.startswith("cmd-err\n"), "%s: err.log lost CMD's line: %r" % (what, err[:300]))
    xml_end = err.find("</testsuites>\n")
    check(xml_end > 0, "%s: err.log holds no JUnit XML: %r" % (what, err[:600]))
    try:
        ET.fromstring(err[len("cmd-err\n"):xml_end + len("</testsuites>")])
    except ET.ParseError as e:
        raise Fail("%s: the JUnit XML in err.log is broken (%s): %r" % (what, e, err[:600]))
    lines = err.strip().splitlines()
    check(lines[-1] == "rcleak run: PASS (exit 0)", "%s: err.log's last line %r" % (what, lines[-1]))


def test_run_out_stdout_reader_gone():
    """--json /dev/stdout, rcleak's stdout a pipe whose reader went away
    (`rcleak run --json /dev/stdout -- make | head -c 100`): EPIPE counted
    as a FILE not written, "PASS (exit 1: cannot write /dev/stdout)", where
    the exit codes say a reader that goes away is no error, as it is for
    the summary on stderr. Now exit 0 after a passing CMD, no line about
    it; the summary on stderr still says PASS (exit 0)."""
    args = [RCLEAK, "run", "-p", str(harness.free_port()), "--json", "/dev/stdout", "--", "true"]
    r, w = os.pipe()
    os.close(r)                         # the reader is gone before rcleak writes
    try:
        p = spawn(args, "rcleak run", stdin=subprocess.DEVNULL, stdout=w)
    finally:
        os.close(w)
    try:
        _out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("`%s` did not exit" % " ".join(args[1:]))
    err = err.decode("utf-8", "replace")
    lines = [l for l in err.splitlines() if l.strip()]
    what = "`%s | (reader gone)`" % " ".join(args[1:])
    check(p.returncode == 0, "%s: exit status %r, expected 0; stderr %r" % (what, p.returncode, err[-400:]))
    check(not any("cannot write" in l for l in lines) and lines and lines[-1] == "rcleak run: PASS (exit 0)",
          "%s: stderr %r, expected no 'cannot write' and the verdict PASS (exit 0)" % (what, err[-400:]))


def test_run_out_file_same():
    """--json and --junit naming one file (under two names, too): the XML
    was written over the JSON, exit 0, and a CI step that reads the JSON
    got XML. Now a usage error before CMD runs: one line, exit 2, no file
    left."""
    d, marker, cmd = _marker_cmd("rcleak-run-same-")
    same = os.path.join(d, "result")
    port = str(harness.free_port())
    for other in (same, os.path.join(d, ".", "result")):
        args = ["-p", port, "--json", same, "--junit", other, "--"] + cmd
        rc, out, err, lines = run_to_end(args, 30)
        what = "`rcleak run %s`" % " ".join(args)
        check(not os.path.exists(marker), "%s: CMD ran; %r" % (what, err[-400:]))
        check(rc == 2, "%s: exit status %r, expected 2; stderr %r" % (what, rc, err[-400:]))
        check(len(lines) == 1 and "--json" in lines[0] and "--junit" in lines[0],
              "%s: expected one line naming --json and --junit, got %r" % (what, err[-400:]))
        check(sorted(os.listdir(d)) == [], "%s: left %s behind" % (what, sorted(os.listdir(d))))


def test_run_out_file_std_socket():
    """--json /dev/stdout and --junit /dev/stderr, rcleak's stdout and stderr
    on sockets (a systemd unit's, whose output goes to the journal): the
    summary goes onto them. open() of /dev/stdout fails on a socket (ENXIO),
    and the end of the run, CMD done, said "cannot write /dev/stdout" with
    exit 1. The JSON and the XML read from the sockets are whole. A FILE
    that is a socket's name (not rcleak's stdout) is said before CMD runs,
    exit 1, as a directory is."""
    import socket
    import threading
    cmd = ["sh", "-c", "echo cmd-out"]
    args = [RCLEAK, "run", "-p", str(harness.free_port()), "--json", "/dev/stdout",
            "--junit", "/dev/stderr", "--"] + cmd
    got = {}
    out_r, out_w = socket.socketpair()
    err_r, err_w = socket.socketpair()

    def drain(name, sock):
        data = b""
        while True:
            d = sock.recv(65536)
            if not d:
                break
            data += d
        got[name] = data.decode("utf-8", "replace")
    threads = [threading.Thread(target=drain, args=("out", out_r), daemon=True),
               threading.Thread(target=drain, args=("err", err_r), daemon=True)]
    for t in threads:
        t.start()
    try:
        p = spawn(args, "rcleak run (stdout, stderr on sockets)", stdin=subprocess.DEVNULL,
                  stdout=out_w.fileno(), stderr=err_w.fileno())
    finally:
        out_w.close()
        err_w.close()
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("`%s` did not exit" % " ".join(args[1:]))
    for t in threads:
        t.join(10)
    out, err = got.get("out", ""), got.get("err", "")
    what = "`%s`, stdout and stderr on sockets" % " ".join(args[1:])
    check(rc == 0, "%s: exit status %r, expected 0; stderr %r" % (what, rc, err[-400:]))
    check(out.startswith("cmd-out\n"), "%s: stdout lost CMD's line: %r" % (what, out[:200]))
    try:
        js = json.loads(out[len("cmd-out\n"):])
    except ValueError as e:
        raise Fail("%s: after CMD's line, stdout holds no JSON (%s): %r" % (what, e, out[:300]))
    check(js.get("exit_code") == 0 and js.get("cmd") == cmd, "%s: JSON %r" % (what, js))
    start, end = err.find("<?xml"), err.find("</testsuites>")
    check(start >= 0 and end > start, "%s: stderr holds no JUnit XML: %r" % (what, err[:600]))
    try:
        ET.fromstring(err[start:end + len("</testsuites>")])
    except ET.ParseError as e:
        raise Fail("%s: the JUnit XML on stderr is broken (%s): %r" % (what, e, err[:600]))

    # a socket's name, not rcleak's own: said before CMD runs, not at its end
    d = mkdtemp("rcleak-run-sock-")
    sock_path, marker = os.path.join(d, "result.sock"), os.path.join(d, "cmd-ran")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    try:
        args = ["-p", str(harness.free_port()), "--json", sock_path, "--", "touch", marker]
        rc, out, err, lines = run_to_end(args, 30)
    finally:
        srv.close()
    what = "`rcleak run %s`" % " ".join(args)
    check(rc == 1 and not os.path.exists(marker), "%s: exit status %r (expected 1), CMD ran: %s; "
          "stderr %r" % (what, rc, os.path.exists(marker), err[-400:]))
    check(len(lines) == 1 and "cannot write %s" % sock_path in lines[0] and "not run" in lines[0],
          "%s: expected one line naming the socket, got %r" % (what, err[-400:]))


if __name__ == "__main__":
    import sys
    import runner
    runner.MODULES = ["test_run_out"]
    sys.exit(runner.main(sys.argv[1:]))
