"""`rcleak run -- CMD`, the CI mode: its contract as a command.

The exit status (CMD's own, 128+N, 127, rcleak's 5) and the closing line,
a CMD that cannot run, signals to rcleak before and after CMD started,
--json FILE and its fields (the FILE itself: test_run_out.py; --user:
test_run_user.py), stdin/stdout/stderr passed through, and
--junit.  The verdicts against real client libraries are in
test_run_clients.py, the process tree and daemons in test_run_tree.py.

The client programs, Redis's counters, class Run and what the tests need
installed (a missing client library skips a test): run_harness.py.

Run alone:  python3 tests/integration/test_run.py [-k NAME]
"""
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import harness
from harness import RCLEAK, Fail, Redis, check, mkdtemp, spawn, stop, wait_until
from run_harness import (PY, RULES, Run, _descendants, _finish, expect, expect_rules, kill_marked,
                         need_c, parse_done, prow, run_to_end)

TESTS = ["test_run_exit_status", "test_run_cmd_not_found", "test_run_sigint",
         "test_run_signal_before_cmd", "test_run_ctrl_c", "test_run_ignored_signals",
         "test_run_rcleak_killed", "test_run_json_needs_file", "test_run_json_cmdline",
         "test_run_stdio_passthrough", "test_run_junit", "test_run_summary_unwritten",
         "test_run_summary_nonblocking_stderr"]


def test_run_exit_status():
    """CMD's non-zero exit wins (also over a broken threshold); killed by
    signal N -> 128+N; a clean CMD under thresholds it meets -> 0."""
    app = need_c()[0]
    r = Redis()
    p = str(r.port)
    cases = [
        (["sh", "-c", "exit 7"], [], 7, {"cmd_exit": 7, "cmd_signal": None},
         "rcleak run: PASS (exit 7: 'sh' exited 7)"),
        (["sh", "-c", "kill -TERM $$"], ["--max-leaked", "0"], 143,
         {"cmd_exit": None, "cmd_signal": 15}, "rcleak run: PASS (exit 143: 'sh' was killed by signal 15)"),
        (["sh", "-c", '"$0" leak "$1" 5 0; exit 3', app, p], ["--max-leaked", "0"], 3,
         {"cmd_exit": 3, "cmd_signal": None, "result": "fail"},
         "rcleak run: FAIL: a threshold was broken (exit 3: 'sh' exited 3)"),
        (["true"], ["--max-leaked", "0", "--max-connects", "0"], 0,
         {"cmd_exit": 0, "cmd_signal": None, "result": "pass"}, "rcleak run: PASS (exit 0)"),
    ]
    for cmd, args, want, fields, last in cases:
        run = Run(["-p", p] + args, cmd)
        try:
            rc = run.wait()
            check(rc == want, "`%s`: exit status %r, expected %r; %s"
                  % (" ".join(cmd), rc, want, run.describe()))
            js = run.load_json()
        finally:
            run.cleanup()
        expect(js, dict(fields, exit_code=want), "--json of `%s`" % " ".join(cmd))
        # the closing line says whose code the exit status is
        lines = run.err().strip().splitlines()
        check(lines and lines[-1] == last, "`%s`: last line %r, expected %r"
              % (" ".join(cmd), lines[-1] if lines else "", last))
        if want == 3:
            expect_rules(js, {"max-leaked": (0, 5, False)})
        if want == 0:
            expect_rules(js, {"max-leaked": (0, 0, True), "max-connects": (0, 0, True)})


# ---------------------------------------------------------------------------
# CMD that cannot run, signals, --user, stdio, --junit
# ---------------------------------------------------------------------------
def test_run_cmd_not_found():
    """Not found (path, PATH search) or not executable: 127, one line on stderr."""
    d = mkdtemp("rcleak-run-noexec-")
    noexec = os.path.join(d, "not-executable.sh")
    with open(noexec, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(noexec, 0o644)
    port = str(harness.free_port())
    for cmd in (["/nonexistent/rcl-no-such-cmd", "arg"], ["rcl-no-such-cmd-on-path"], [noexec]):
        run = Run(["-p", port], cmd, json_out=False)
        try:
            rc = run.wait(timeout=20)
        finally:
            run.cleanup()
        err = run.err()
        lines = [l for l in err.splitlines() if l.strip()]
        check(rc == 127, "`rcleak run -- %s`: exit status %r, expected 127; stderr %r"
              % (" ".join(cmd), rc, err[-600:]))
        check(len(lines) == 1 and os.path.basename(cmd[0]) in lines[0],
              "`rcleak run -- %s`: stderr should be one line naming the command, got %r"
              % (" ".join(cmd), err[-600:]))
        check(run.out() == "", "stdout not empty: %r" % run.out()[:300])


def test_run_sigint():
    """SIGINT to rcleak is forwarded to CMD; rcleak exits with CMD's status:
    130 for `sleep` (killed by SIGINT), 3 for a CMD that exits 3 on SIGINT."""
    py = PY if os.access(PY, os.X_OK) else sys.executable
    port = str(harness.free_port())
    trap = ("import signal, sys, time\n"
            "signal.signal(signal.SIGINT, lambda *a: sys.exit(3))\n"
            "print('READY', flush=True)\n"
            "time.sleep(30)\n")
    for cmd, want, fields in ((["sleep", "30"], 130, {"cmd_signal": 2, "cmd_exit": None}),
                              ([py, "-c", trap], 3, {"cmd_exit": 3, "cmd_signal": None})):
        run = Run(["-p", port], cmd)
        try:
            if cmd[0] == "sleep":
                wait_until(lambda: any(c == "sleep" for _p, c in _descendants(run.pid)),
                           timeout=15, what="rcleak to start `sleep 30`")
            else:
                wait_until(lambda: "READY" in run.out(), timeout=15, what="CMD to print READY")
            time.sleep(0.2)
            t = time.monotonic()
            os.kill(run.pid, signal.SIGINT)
            rc = run.wait(timeout=15)
            took = time.monotonic() - t
            left = kill_marked(run.mark)
            check(not left, "processes of CMD still running after rcleak exited: %s" % left)
            check(rc == want, "`%s`: exit status after SIGINT %r, expected %r; %s"
                  % (" ".join(cmd[:2]), rc, want, run.describe()))
            check(took < 5, "rcleak took %.1fs to exit after SIGINT" % took)
            js = run.load_json()
            expect(js, dict(fields, exit_code=want), "--json after SIGINT to `%s`" % cmd[0])
        finally:
            run.cleanup()


def _catches(pid, sig):
    """The kernel's word that pid has a handler for sig (SigCgt in status)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except OSError:
        pass
    return False


def test_run_signal_before_cmd():
    """SIGTERM, SIGINT or SIGHUP to rcleak as soon as it catches it, long
    before its BPF programs are loaded: CMD (which would create a marker
    file first thing) is never started, rcleak unloads, says so in one line,
    writes no --json, and exits 128+N (README, exit codes)."""
    port = str(harness.free_port())
    d = mkdtemp("rcleak-run-early-")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        marker = os.path.join(d, "started-%d" % sig)
        run = Run(["-p", port], ["sh", "-c", 'touch "$0"; exec sleep 30', marker])
        try:
            deadline = time.monotonic() + 15
            while not _catches(run.pid, sig):
                check(run.proc.poll() is None, "rcleak exited (rc %r) before it caught %s; %s"
                      % (run.proc.returncode, sig.name, run.describe()))
                check(time.monotonic() < deadline, "rcleak never caught %s" % sig.name)
                time.sleep(0.001)
            kids = harness.children_of(run.pid)
            check(not kids, "rcleak had started CMD (children %s) by the time it caught %s"
                  % (kids, sig.name))
            os.kill(run.pid, sig)
            rc = run.wait(timeout=20)          # also: none of its rcl_ programs left
            left = kill_marked(run.mark)
        finally:
            run.cleanup()
        lines = [l for l in run.err().splitlines() if l.strip()]
        check(rc == 128 + sig, "%s before CMD started: exit status %r, expected %d; %s"
              % (sig.name, rc, 128 + sig, run.describe()))
        check(not os.path.exists(marker) and not left,
              "%s before CMD started: CMD ran anyway (marker %s, processes %s)"
              % (sig.name, os.path.exists(marker), left))
        check(len(lines) == 1 and lines[0].startswith("rcleak: ") and "not run" in lines[0],
              "%s before CMD started: stderr should be one line saying CMD was not run, got %r"
              % (sig.name, run.err()[-600:]))
        check(not os.path.exists(run.json_path), "%s before CMD started: --json %s written"
              % (sig.name, run.json_path))
        check(run.out() == "", "stdout not empty: %r" % run.out()[:300])


def _cmd_pid(run, comm):
    """The pid of rcleak's descendant comm, once there is one."""
    found = []

    def started():
        found[:] = [p for p, c in _descendants(run.pid) if c == comm]
        return bool(found)
    wait_until(started, timeout=15, what="rcleak to start `%s`" % comm)
    return found[0]


def _running(pid):
    """pid is alive and not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rfind(")") + 2:].split()[0] != "Z"


def _sig_bits(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    return 0


def test_run_ctrl_c():
    """Ctrl-C on rcleak's terminal: a CMD in rcleak's process group has it
    from the terminal, once (rcleak does not send it again); a CMD in a
    group of its own (setsid, timeout), which the terminal does not
    signal, has it from rcleak, and rcleak exits 130."""
    port = str(harness.free_port())
    for cmd in (["setsid", "sleep", "30"], ["timeout", "25", "sleep", "30"]):
        run = Run(["-p", port], cmd, tty=True)
        try:
            sleep = _cmd_pid(run, "sleep")
            time.sleep(0.2)
            t = time.monotonic()
            run.ctrl_c()
            rc = run.wait(timeout=10)
            took = time.monotonic() - t
            left = kill_marked(run.mark)
            check(rc == 130 and not _running(sleep) and not left,
                  "Ctrl-C with `%s` in a process group of its own: exit status %r (expected "
                  "130), sleep %s, left %s; terminal: %r" % (" ".join(cmd), rc,
                  "still running" if _running(sleep) else "gone", left, run.out()[-600:]))
            check(took < 5, "rcleak took %.1fs to exit after Ctrl-C" % took)
            expect(run.load_json(), {"cmd_signal": 2, "exit_code": 130}, "--json after Ctrl-C")
        finally:
            run.cleanup()
    py = PY if os.access(PY, os.X_OK) else sys.executable
    count = ("import signal, time\n"
             "n = []\n"
             "signal.signal(signal.SIGINT, lambda *a: n.append(1))\n"
             "print('READY', flush=True)\n"
             "while not n:\n"
             "    time.sleep(0.05)\n"
             "time.sleep(1)\n"
             "print('SIGINTS', len(n), flush=True)\n")
    run = Run(["-p", port], [py, "-c", count], tty=True)
    try:
        wait_until(lambda: "READY" in run.out(), timeout=15, what="CMD to print READY")
        run.ctrl_c()
        rc = run.wait(timeout=10)
    finally:
        run.cleanup()
    check(rc == 0 and "SIGINTS 1\r\n" in run.out(),
          "Ctrl-C with CMD in rcleak's process group: exit status %r, expected 0, and CMD "
          "should have had one SIGINT; terminal: %r" % (rc, run.out()[-600:]))


def test_run_ignored_signals():
    """A signal ignored when rcleak starts (nohup, a background job) stays
    ignored by rcleak and by CMD: `nohup rcleak run -- sh -c 'kill -HUP $$'`
    survives as under nohup alone. Not ignored, it kills CMD (128+N)."""
    port = str(harness.free_port())
    for sig in (signal.SIGHUP, signal.SIGINT):
        script = "kill -%s $$; echo survived; sleep 2" % sig.name[3:]
        run = Run(["-p", port], ["sh", "-c", script], ignore=(sig,))
        try:
            wait_until(lambda: "survived" in run.out() or run.proc.poll() is not None,
                       timeout=15, what="CMD to signal itself")
            bit = 1 << (sig - 1)
            ign = _sig_bits(run.pid, "SigIgn") if run.proc.poll() is None else 0
            cgt = _sig_bits(run.pid, "SigCgt") if run.proc.poll() is None else 0
            rc = run.wait(timeout=20)
        finally:
            run.cleanup()
        check(rc == 0 and run.out() == "survived\n",
              "%s ignored when rcleak started: `sh -c '%s'` gave exit status %r (expected 0), "
              "stdout %r; %s" % (sig.name, script, rc, run.out()[:200], run.describe()))
        check(ign & bit and not cgt & bit, "%s ignored when rcleak started: rcleak %s it"
              % (sig.name, "catches" if cgt & bit else "does not ignore"))
        run = Run(["-p", port], ["sh", "-c", script])
        try:
            rc = run.wait(timeout=20)
        finally:
            run.cleanup()
        check(rc == 128 + sig and run.out() == "",
              "%s not ignored: `sh -c '%s'` gave exit status %r, expected %d; %s"
              % (sig.name, script, rc, 128 + sig, run.describe()))


def test_run_rcleak_killed():
    """rcleak killed with SIGKILL (which it cannot pass on): the kernel sends
    CMD SIGTERM (PR_SET_PDEATHSIG), also under --user, so CMD does not
    outlive it; and none of rcleak's BPF programs are left."""
    port = str(harness.free_port())
    for args in ([], ["--user", "nobody"]):
        run = Run(["-p", port] + args, ["sleep", "47"])
        try:
            sleep = _cmd_pid(run, "sleep")
            os.kill(run.pid, signal.SIGKILL)
            rc = run.wait(timeout=10)
            check(rc == -signal.SIGKILL, "rcleak exit status %r after SIGKILL" % rc)
            try:
                wait_until(lambda: not _running(sleep), timeout=5, what="")
            except Fail:
                raise Fail("`rcleak run %s-- sleep 47`: sleep (pid %d) still running 5 s after "
                           "rcleak was killed" % ("".join(a + " " for a in args), sleep))
        finally:
            run.cleanup()


def test_run_json_needs_file():
    """In run mode --json takes FILE: `--`, another option or nothing in its
    place is a usage error (exit 2, one line naming `--json FILE`); no file
    named after that word is written and CMD is not run."""
    d = mkdtemp("rcleak-run-jsonarg-")
    marker = os.path.join(d, "cmd-ran")
    cmd = ["sh", "-c", 'touch "$0"', marker]
    for args in (["--json", "--"] + cmd, ["--json", "-p", "6379", "--"] + cmd, ["--json"]):
        rc, out, err, lines = run_to_end(args, 15, preexec_fn=lambda: os.chdir(d))
        what = "`rcleak run %s`" % " ".join(args)
        check(rc == 2, "%s: exit status %r, expected 2; stderr %r" % (what, rc, err[-400:]))
        check(len(lines) == 1 and lines[0].startswith("rcleak: ") and "--json FILE" in lines[0],
              "%s: expected one line naming `--json FILE`, got %r" % (what, err[-400:]))
        check(sorted(os.listdir(d)) == [], "%s: wrote %s in its working directory"
              % (what, sorted(os.listdir(d))))
        check(out == b"", "%s: stdout %r" % (what, out[:200]))


def test_run_json_cmdline():
    """--json's cmdline of a process that lived 0.25 s, long gone at the
    only refresh after it (-i 2), is the command line it was started with;
    that of a process that came and went while rcleak was stopped (SIGSTOP),
    so that nothing could read it, is null, never ""."""
    app = need_c()[0]
    r = Redis()
    port = str(r.port)
    known = [app, "free", port, "5", "20"]
    run = Run(["-p", port, "-i", "2"], ["sh", "-c", '"$@"; sleep 0.5', "sh"] + known)
    rc, done, js = _finish(run)
    check(rc == 0 and done["opened"] == 5, "rc %r, the program reports %s; %s"
          % (rc, done, run.describe()))
    row = prow(js, done["pid"])
    check(row["cmdline"] == " ".join(known), "--json cmdline of pid %d (ran %ss): %r, expected %r"
          % (done["pid"], done["elapsed"], row["cmdline"], " ".join(known)))

    d = mkdtemp("rcleak-run-cmdline-")
    go, fin = os.path.join(d, "go"), os.path.join(d, "done")
    script = 'while [ ! -e "$0" ]; do sleep 0.02; done; "$1" free "$2" 2 0; touch "$3"; sleep 0.5'
    run = Run(["-p", port], ["sh", "-c", script, go, app, port, fin])
    stopped = False
    try:
        wait_until(lambda: harness.children_of(run.pid), timeout=15, what="rcleak to start CMD")
        os.kill(run.pid, signal.SIGSTOP)
        stopped = True
        with open(go, "w"):
            pass
        wait_until(lambda: os.path.exists(fin), timeout=15, what="the program to finish")
        os.kill(run.pid, signal.SIGCONT)
        stopped = False
        rc = run.wait()
        done = parse_done(run.out())
        js = run.load_json()
    finally:
        if stopped:
            os.kill(run.pid, signal.SIGCONT)
        run.cleanup()
    check(rc == 0 and done["opened"] == 2, "rc %r, the program reports %s; %s"
          % (rc, done, run.describe()))
    row = prow(js, done["pid"])
    expect(row, {"comm": done["comm"], "opened": 2, "exited": True, "cmdline": None},
           "--json row of pid %d, which exited while rcleak was stopped" % done["pid"])
    empty = [(p["pid"], p["comm"]) for p in js["processes"] if p.get("cmdline") == ""]
    check(not empty, "--json cmdline \"\" for %s: unknown is null" % empty)


def test_run_stdio_passthrough():
    """stdin, stdout, stderr are CMD's, untouched (files, no TTY); rcleak
    writes nothing on stdout and its summary after CMD's stderr."""
    blob = bytes(range(256)) * 64
    stdin = b"in-line-1\nin-line-2\n" + blob
    cmd = ["sh", "-c", 'printf "out-1\\n"; printf "err-1\\n" >&2; cat; printf "out-2\\n"']
    run = Run(["-p", str(harness.free_port())], cmd, stdin_data=stdin)
    try:
        rc = run.wait()
    finally:
        run.cleanup()
    check(rc == 0, "exit status %r; %s" % (rc, run.describe()))
    with open(run.out_path, "rb") as f:
        got = f.read()
    want = b"out-1\n" + stdin + b"out-2\n"
    check(got == want, "stdout is not CMD's output byte for byte: %d bytes, expected %d; head %r"
          % (len(got), len(want), got[:80]))
    err = run.err()
    check(err.startswith("err-1\n"), "stderr should start with CMD's own line: %r" % err[:200])
    check(len(err.strip().splitlines()) > 1, "no summary after CMD's stderr: %r" % err[:400])
    with open(run.json_path) as f:
        js = json.load(f)
    check(js.get("cmd") == cmd and js.get("exit_code") == 0, "--json: %r" % js)

    # rcleak got fds 0-2 only: CMD must not inherit anything else (a BPF fd
    # kept by a daemon would keep rcleak's programs loaded after it exits)
    py = PY if os.access(PY, os.X_OK) else sys.executable
    lister = ("import os\n"
              "d = os.open('/proc/self/fd', os.O_RDONLY | os.O_DIRECTORY)\n"
              "out = []\n"
              "for fd in sorted(int(x) for x in os.listdir(d)):\n"
              "    if fd != d:\n"
              "        try: out.append('%d=%s' % (fd, os.readlink('/proc/self/fd/%d' % fd)))\n"
              "        except OSError: pass\n"
              "print('FDS', ' '.join(out))\n")
    run = Run(["-p", str(harness.free_port())], [py, "-c", lister])
    try:
        rc = run.wait()
    finally:
        run.cleanup()
    fds = [l for l in run.out().splitlines() if l.startswith("FDS")]
    check(rc == 0 and fds, "fd lister: rc %r, stdout %r; %s" % (rc, run.out()[:300], run.describe()))
    extra = [f for f in fds[0].split()[1:] if int(f.split("=")[0]) > 2]
    check(not extra, "CMD inherited fds beyond 0-2 from rcleak: %s" % extra)


def test_run_junit():
    """--junit: valid XML, one testcase per rule; broken -> failure with a
    message, met -> neither, unset -> skipped."""
    app = need_c()[0]
    r = Redis()
    args = ["-p", str(r.port), "--max-leaked", "0", "--max-open", "10", "--max-connects", "3"]
    for cmd, want_rc, failed, met in (
            ([app, "leak", str(r.port), "5", "0"], 5, {"max-leaked", "max-connects"}, {"max-open"}),
            (["true"], 0, set(), {"max-leaked", "max-open", "max-connects"})):
        run = Run(args, cmd, junit=True)
        try:
            rc = run.wait()
        finally:
            run.cleanup()
        check(rc == want_rc, "exit status %r, expected %r; %s" % (rc, want_rc, run.describe()))
        check(os.path.isfile(run.junit_path), "--junit file not written")
        try:
            root = ET.parse(run.junit_path).getroot()
        except ET.ParseError as e:
            raise Fail("--junit file is not valid XML: %s: %r" % (e, open(run.junit_path).read()[:500]))
        cases = list(root.iter("testcase"))
        names = [c.get("name") for c in cases]
        check(sorted(names) == sorted(RULES), "--junit testcases %s, expected one per rule %s"
              % (names, list(RULES)))
        for c in cases:
            n = c.get("name")
            fl, sk = c.findall("failure"), c.findall("skipped")
            if n in failed:
                check(len(fl) == 1 and (fl[0].get("message") or "").strip() and not sk,
                      "--junit testcase %s: expected one <failure message=...>, got %s"
                      % (n, ET.tostring(c)[:300]))
            elif n in met:
                check(not fl and not sk, "--junit testcase %s (met): %s" % (n, ET.tostring(c)[:300]))
            else:
                check(len(sk) == 1 and not fl, "--junit testcase %s (not set): expected <skipped/>, "
                      "got %s" % (n, ET.tostring(c)[:300]))
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        check(suites, "--junit: no <testsuite> (root %s)" % root.tag)
        for s in suites:
            for attr, val in (("tests", len(RULES)), ("failures", len(failed))):
                if s.get(attr) is not None:
                    check(int(s.get(attr)) == val, "--junit <testsuite %s=%s>, expected %d"
                          % (attr, s.get(attr), val))


if __name__ == "__main__":
    import runner
    runner.MODULES = ["test_run"]
    sys.exit(runner.main(sys.argv[1:]))


def test_run_summary_unwritten():
    """The summary on stderr is run's verdict: when it cannot be written
    (`2>/dev/full`, a closed stderr) rcleak exits 1 after a passing CMD, as
    for a --json FILE it cannot write; it exited 0, a clean pass nobody saw.
    CMD's own code and a broken threshold (5) still win; a reader that went
    away (a pipe closed) is no error, as on stdout."""
    r = Redis()
    port = str(r.port)
    leak = ["python3", "-c", "import os, socket, sys\n"
            "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
            "s.sendall(b'PING\\r\\n'); s.recv(16); os._exit(0)", port]
    d = mkdtemp("rcleak-run-stderr-")
    json_path = os.path.join(d, "leak.json")
    for what, cmd, extra, want in (("a passing CMD", ["true"], [], 1),
                                   ("CMD exiting 3", ["sh", "-c", "exit 3"], [], 3),
                                   ("a CMD leaking 1 under --max-leaked 0", leak,
                                    ["--max-leaked", "0", "--json", json_path], 5)):
        args = ["-p", port] + extra + ["--"] + cmd
        with open("/dev/full", "wb") as full:
            p = spawn([RCLEAK, "run"] + args, "rcleak run 2>/dev/full", stdin=subprocess.DEVNULL,
                      stdout=subprocess.DEVNULL, stderr=full)
        rc = p.wait(timeout=30)
        check(rc == want, "`rcleak run %s 2>/dev/full` (%s): exit status %r, expected %d"
              % (" ".join(args), what, rc, want))
    with open(json_path) as f:
        js = json.load(f)
    check(js["totals"]["leaked"] == 1 and js["result"] == "fail",
          "ground truth of the leaking CMD: --json %r, expected 1 leaked, fail" % js["totals"])

    # stderr closed: rcleak holds fd 2 on /dev/null, read-only (EBADF)
    args = [RCLEAK, "run", "-p", port, "--", "true"]
    p = spawn(["sh", "-c", 'exec "$@" 2>&-', "sh"] + args, "rcleak run 2>&-",
              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rc = p.wait(timeout=30)
    check(rc == 1, "`rcleak run -- true 2>&-`: exit status %r, expected 1" % rc)

    # a reader that went away is no error
    rfd, wfd = os.pipe()
    os.close(rfd)
    try:
        p = spawn(args, "rcleak run 2>|closed", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                  stderr=wfd)
    finally:
        os.close(wfd)
    rc = p.wait(timeout=30)
    check(rc == 0, "`rcleak run -- true` with stderr a pipe nobody reads: exit status %r, "
          "expected 0 (EPIPE is no error)" % rc)


# sets O_NONBLOCK on its stderr (node does so on its stdio) and fills the pipe
FILL_NONBLOCK = """import fcntl, os
fcntl.fcntl(2, fcntl.F_SETFL, fcntl.fcntl(2, fcntl.F_GETFL) | os.O_NONBLOCK)
try:
    while True:
        os.write(2, b"x" * 4096)
except BlockingIOError:
    pass
"""


def test_run_summary_nonblocking_stderr():
    """A CMD that leaves stderr non-blocking (node does, on a pipe: the flag
    is the open file's, rcleak's stderr too) with the pipe full behind a
    slow reader (a CI log collector): the summary and --junit /dev/stderr
    wait for the reader. They were lost to EAGAIN (the JUnit XML with
    "cannot write /dev/stderr", exit 1; the summary without a word). The
    reader starts 2 s after CMD exited and gets CMD's bytes, the XML, and
    the verdict, exit 0."""
    import threading
    cmd = ["python3", "-c", FILL_NONBLOCK]
    args = [RCLEAK, "run", "-p", str(harness.free_port()), "--junit", "/dev/stderr", "--"] + cmd
    rfd, wfd = os.pipe()
    got = []

    def slow_reader():
        time.sleep(2)
        with os.fdopen(rfd, "rb") as f:
            got.append(f.read())
    t = threading.Thread(target=slow_reader, daemon=True)
    t.start()
    try:
        p = spawn(args, "rcleak run (stderr non-blocking, full)", stdin=subprocess.DEVNULL,
                  stdout=subprocess.DEVNULL, stderr=wfd)
    finally:
        os.close(wfd)
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("`%s` did not exit" % " ".join(args[1:]))
    t.join(30)
    err = got[0].decode("utf-8", "replace") if got else ""
    rest = err.lstrip("x")
    what = "`%s`, stderr a full pipe left non-blocking by CMD" % " ".join(args[1:])
    check(len(err) - len(rest) >= 65536, "%s: CMD's 64 KiB not read first: %r" % (what, err[:100]))
    check(rc == 0, "%s: exit status %r, expected 0; stderr after CMD's bytes %r" % (what, rc, rest[-600:]))
    start, end = rest.find("<?xml"), rest.find("</testsuites>")
    check(start >= 0 and end > start, "%s: no JUnit XML on stderr: %r" % (what, rest[:600]))
    lines = [l for l in rest.splitlines() if l.strip()]
    check(lines and lines[-1] == "rcleak run: PASS (exit 0)",
          "%s: the last line is %r, expected the verdict 'rcleak run: PASS (exit 0)'" % (what, lines[-1:]))
