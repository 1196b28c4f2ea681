"""Command line: --help, --version, doctor, privileges, malformed input."""
import os
import re
import shutil
import stat
import subprocess

from harness import (RCLEAK, TIERS, Fail, Redis, Skip, check, have_bpftool, leaked_progs,
                     mkdtemp, needs, rcl_progs, run_rcleak)

TESTS = ["test_help", "test_version", "test_help_after_options", "test_doctor", "test_not_root",
         "test_doctor_not_root", "test_missing_caps", "test_plain_control_chars", "test_plain_utf8",
         "test_report_control_chars", "test_run_summary_control_chars",
         "test_stall_skips_ticks", "test_pid_of_thread", "test_comm_of_nobody", "test_stdout_write_error",
         "test_report_unreadable", "test_messages_one_line", "test_ring_says_what_it_holds",
         "test_plain_fdroom_over_limit", "test_usage_before_privileges"]


def _one_line_rcleak(err):
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1, "expected exactly one stderr line, got %d: %r" % (len(lines), err[:400]))
    check(lines[0].startswith("rcleak: "), "stderr does not start with 'rcleak: ': %r" % lines[0])
    return lines[0]


def _bpf_before():
    return rcl_progs() if have_bpftool() and os.geteuid() == 0 else None


def _bpf_after(before, what):
    if before is None:
        return
    leaked = leaked_progs(before, our_sids=set(), timeout=3)
    check(not leaked, "%s left BPF programs loaded: %s" % (what, sorted(leaked.values())))


@needs("rcleak")
def test_help():
    for flag in ("--help", "-h"):
        rc, out, err = run_rcleak([flag])
        check(rc == 0, "%s: exit %s, expected 0 (stderr %r)" % (flag, rc, err[:200]))
        text = out + err
        check(re.search(r"exit", text, re.I), "%s output does not mention exit codes" % flag)
        missing = [c for c in "01234" if not re.search(r"(?<![\w.-])%s(?![\w.])" % c, text)]
        check(not missing, "%s output does not mention exit code(s) %s" % (flag, ",".join(missing)))
        for opt in ("--ports", "--interval", "--json", "doctor"):
            check(opt in text, "%s output does not mention %s" % (flag, opt))
        # an 80-column terminal wrapped two Usage: lines of 82
        wide = [l for l in out.splitlines() if len(l) > 80]
        check(not wide, "%s: lines over 80 columns: %r" % (flag, wide))


@needs("rcleak")
def test_version():
    for flag in ("--version", "-V"):
        rc, out, err = run_rcleak([flag])
        check(rc == 0, "%s: exit %s, expected 0 (stderr %r)" % (flag, rc, err[:200]))
        check(re.search(r"\d", out), "%s printed no version number on stdout: %r" % (flag, out[:200]))


@needs("rcleak")
def test_help_after_options():
    """-h and -V act where they stand, after a command and its options: the
    help of 'rcleak --help' (one text covers every command) or the version,
    exit 0, nothing on stderr. These were usage errors (exit 2) that named
    the command's own options or its capture file. Nothing here loads BPF:
    help and version exit while the command line is read."""
    rc, help_text, err = run_rcleak(["--help"])
    check(rc == 0 and help_text, "--help: exit %s (stderr %r)" % (rc, err[:200]))
    rc, version, err = run_rcleak(["--version"])
    check(rc == 0 and version, "--version: exit %s (stderr %r)" % (rc, err[:200]))
    for args, want in (
            (["record", "-w", "f.rcl", "--help"], help_text),
            (["record", "-w", "f.rcl", "--version"], version),
            (["run", "--max-open", "3", "-h"], help_text),
            (["run", "--json", "out.json", "-V"], version),
            (["run", "--json=out.json", "-V"], version),
            (["report", "f.rcl", "--csv", "--help"], help_text),
            (["report", "x.rcl", "--help"], help_text),
            (["report", "--help", "x.rcl"], help_text),
            (["--pid", "4194304", "--help"], help_text),
            (["--ring", "5", "-V"], version)):
        rc, out, err = run_rcleak(args, timeout=10)
        shown = "rcleak " + " ".join(args)
        check(rc == 0, "%s: exit %s, expected 0 (stderr %r)" % (shown, rc, err[:200]))
        check(out == want, "%s printed %r, not the %s" % (
            shown, out[:200], "help" if want is help_text else "version"))
        check(not err, "%s: stderr %r, expected nothing" % (shown, err[:200]))


def test_doctor():
    before = _bpf_before()
    rc, out, err = run_rcleak(["doctor"], timeout=30)
    text = out + err
    check(rc == 0, "doctor exit %s, expected 0 on this machine; output: %r" % (rc, text[-600:]))
    check(re.search(r"\bbtf\b", text, re.I), "doctor output does not mention BTF: %r" % text[:400])
    check(any(t in text for t in TIERS),
          "doctor output names none of the tiers %s: %r" % ("/".join(TIERS), text[:400]))
    _bpf_after(before, "doctor")


def _world_executable(path):
    """True if uid 65534 can reach and execute path (o+x on every directory)."""
    path = os.path.realpath(path)
    parts = path.split("/")
    for i in range(2, len(parts)):
        d = "/".join(parts[:i]) or "/"
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IXOTH)


def _nobody_exe():
    """rcleak where uid 65534 can execute it (a copy when it cannot reach ours)."""
    exe = RCLEAK
    if not _world_executable(exe):
        d = mkdtemp("rcleak-nobody-")
        os.chmod(d, 0o755)
        exe = os.path.join(d, "rcleak")
        shutil.copy2(RCLEAK, exe)
        os.chmod(exe, 0o755)
    return exe


@needs("rcleak")
def test_not_root():
    if os.geteuid() != 0:
        rc, out, err = run_rcleak(["--json", "-n", "1"])
    else:
        setpriv = shutil.which("setpriv")
        if not setpriv:
            raise Skip("setpriv not installed")
        exe = _nobody_exe()
        before = _bpf_before()
        rc, out, err = _run_as_nobody(setpriv, exe)
        _bpf_after(before, "unprivileged run")
    check(rc == 3, "unprivileged run: exit %s, expected 3 (stderr %r)" % (rc, err[:300]))
    line = _one_line_rcleak(err)
    check("sudo" in line.lower(), "message does not mention sudo: %r" % line)


@needs("root")
def test_doctor_not_root():
    """doctor as uid 65534, where tracefs is mounted but root's: it says it
    cannot see it, not that it is not mounted."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise Skip("setpriv not installed")
    if not os.path.isdir("/sys/kernel/tracing/events"):
        raise Skip("tracefs is not mounted at /sys/kernel/tracing here")
    if os.stat("/sys/kernel/tracing").st_mode & stat.S_IXOTH:
        raise Skip("tracefs is readable by everybody here")
    rc, out, err = _run_as_nobody(setpriv, _nobody_exe(), ["doctor"])
    line = [l_ for l_ in out.splitlines() if l_.startswith("tracefs")]
    check(line and "not mounted" not in line[0] and "sudo" in line[0],
          "doctor as uid 65534, tracefs line %r (exit %s)" % (line, rc))


@needs("root", "rcleak")
def test_usage_before_privileges():
    """What the command line got wrong is said first (exit 2), then that
    rcleak needs root (exit 3), as most tools do: `rcleak run --user typo`
    without sudo said "needs root", and with sudo only then "unknown user".
    Run as uid 65534: run's unknown --user, run's --json and --junit naming
    one file (there, or new), and record -w of a file there without --force
    exit 2, one line, nothing run or made; what depends on who runs it (a
    FILE that cannot be written: a missing folder) still comes after the
    privilege check, exit 3."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise Skip("setpriv not installed")
    exe = _nobody_exe()
    d = mkdtemp("rcleak-usage-first-")
    os.chmod(d, 0o755)
    marker = os.path.join(d, "cmd-ran")
    cmd = ["--", "sh", "-c", 'touch "$0"', marker]
    there = os.path.join(d, "there.json")
    with open(there, "w") as f:
        f.write("{}\n")
    os.chown(there, 65534, 65534)
    old = os.path.join(d, "old.rcl")
    with open(old, "w") as f:
        f.write("x")
    os.chown(old, 65534, 65534)
    new = os.path.join(d, "new.json")
    cases = ((["run", "--user", "rcl-no-such-user"] + cmd, 2, "rcl-no-such-user"),
             (["run", "--json", there, "--junit", os.path.join(d, ".", "there.json")] + cmd, 2, "--junit"),
             (["run", "--json", new, "--junit", os.path.join(d, ".", "new.json")] + cmd, 2, "--junit"),
             (["record", "-w", old, "-d", "1"], 2, "--force"),
             (["run", "--bogus"] + cmd, 2, "--bogus"),
             # still root's business first: these depend on who runs them
             (["run", "--user", "nobody"] + cmd, 3, "sudo"),
             (["run", "--json", os.path.join(d, "no", "r.json")] + cmd, 3, "sudo"),
             (["record", "-w", old, "--force", "-d", "1"], 3, "sudo"),
             (["record", "-w", os.path.join(d, "new.rcl"), "-d", "1"], 3, "sudo"))
    for args, want, word in cases:
        rc, out, err = _run_as_nobody(setpriv, exe, args)
        what = "`rcleak %s` as uid 65534" % " ".join(args)
        check(rc == want, "%s: exit %s, expected %d (stderr %r)" % (what, rc, want, err[:300]))
        line = _one_line_rcleak(err)
        check(word in line, "%s: %r does not say %r" % (what, line, word))
        check(not os.path.exists(marker), "%s: CMD ran" % what)
        check(sorted(os.listdir(d)) == ["old.rcl", "there.json"], "%s: left %s" % (what, os.listdir(d)))
        with open(old) as f:
            check(f.read() == "x", "%s: %s changed" % (what, old))


def _run_as_nobody(setpriv, exe, args=("--json", "-n", "1")):
    from harness import spawn, stop
    import subprocess
    import signal
    argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--", exe] + list(args)
    p = spawn(argv, "rcleak as nobody", stdin=subprocess.DEVNULL)
    try:
        out, err = p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("unprivileged rcleak did not exit within 15s")
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


@needs("root", "rcleak")
def test_report_unreadable():
    """'sudo rcleak record' makes a capture 0600, root's; 'rcleak report' of
    it without root said "x.rcl: Permission denied" and no more, as if
    report needed root. The line says how to read it, still exit 1."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise Skip("setpriv not installed")
    d = mkdtemp("rcleak-unreadable-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "x.rcl")
    with open(path, "wb") as f:
        f.write(b"not read")
    os.chmod(path, 0o600)
    rc, out, err = _run_as_nobody(setpriv, _nobody_exe(), ["report", path])
    check(rc == 1, "report of root's 0600 file as uid 65534: exit %s, expected 1 (%r)" % (rc, err[:300]))
    line = _one_line_rcleak(err)
    check(path in line and "Permission denied" in line and "chown" in line,
          "the line does not name the file, the error and chown: %r" % line)


@needs("rcleak")
def test_messages_one_line():
    """A value or a file name with a newline or an escape in it (a variable
    read from a file) was echoed as it is: the message took two lines, or
    cleared the terminal. Control bytes are shown as '?', as in the views."""
    d = mkdtemp("rcleak-oneline-")
    for args, want_rc in ((["--pid", "1\n2"], 2),
                          (["-p", "6379\n6380"], 2),
                          (["--comm", "\x1b[2J0123456789abcdef"], 2),
                          (["report", os.path.join(d, "a\nb.rcl")], 1)):
        rc, out, err = run_rcleak(args, timeout=10)
        check(rc == want_rc, "rcleak %r: exit %s, expected %s (%r)" % (args, rc, want_rc, err[:200]))
        line = _one_line_rcleak(err)
        check(not re.search(r"[\x00-\x1f\x7f]", line), "rcleak %r: control bytes in %r" % (args, line))
        check("?" in line, "rcleak %r: the value is not shown with '?': %r" % (args, line))


@needs("root", "rcleak")
def test_ring_says_what_it_holds():
    """'record --ring 600 -d 1' said "no trigger fired: writing the last
    600s", of a recording one second long: a reader took the file for ten
    minutes of history. The line names what was recorded: -d 1, and the
    last walk's time (far from 600 s, whatever the machine's speed)."""
    from harness import free_port
    path = os.path.join(mkdtemp("rcleak-ringmsg-"), "r.rcl")
    rc, out, err = run_rcleak(["record", "-w", path, "-p", str(free_port()), "-i", "0.25",
                               "--ring", "600", "-d", "1"], timeout=30)
    check(rc == 0, "record --ring 600 -d 1: exit %s (%r)" % (rc, err[-300:]))
    m = re.search(r"no trigger fired: writing the last ([0-9.e+]+)s", err)
    check(m, "record --ring 600 -d 1: no 'no trigger fired' line in %r" % err[-300:])
    check(0 < float(m.group(1)) < 2,
          "record --ring 600 -d 1 says it writes the last %ss: it recorded 1 s" % m.group(1))


def test_missing_caps():
    """uid 0 but no capabilities at all (empty bounding set): exit 3."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise Skip("setpriv not installed")
    from harness import spawn, stop
    import subprocess
    import signal
    before = _bpf_before()
    argv = [setpriv, "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--",
            RCLEAK, "--json", "-n", "1"]
    p = spawn(argv, "rcleak without caps", stdin=subprocess.DEVNULL)
    try:
        out, err = p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("capability-less rcleak did not exit within 15s")
    err = err.decode("utf-8", "replace")
    if p.returncode != 3 and "setpriv:" in err:
        raise Skip("setpriv cannot drop capabilities here: " + err.strip()[:200])
    check(p.returncode == 3, "root without CAP_BPF/CAP_PERFMON: exit %s, expected 3 (stderr %r)"
          % (p.returncode, err[:300]))
    _one_line_rcleak(err)
    _bpf_after(before, "capability-less run")


# A client whose comm has a newline and an escape, and whose argv has a
# carriage return: what a process sets for itself.
_EVIL_CLIENT = r"""
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, b"rclt\nfake\x1b[2J", 0, 0, 0)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("HELD", flush=True)
sys.stdin.read()
"""


@needs("root", "rcleak")
def test_plain_control_chars():
    """--plain prints comm and cmdline as the TUI draws them, control bytes
    as '?': a process cannot forge a row (newline) or overwrite one (carriage
    return, escape sequences) of the table an SRE reads or a log keeps."""
    import sys
    from harness import spawn
    r = Redis()
    script = os.path.join(mkdtemp("rcleak-evil-"), "e.py")  # short: the cmdline is cut
    with open(script, "w") as f:
        f.write(_EVIL_CLIENT)
    c = spawn([sys.executable, script, str(r.port), "\r999 fake LEAK\x1b[0m"],
              "client with control characters in comm and argv")
    check(c.stdout.readline().strip() == b"HELD", "client did not connect")
    with open("/proc/%d/comm" % c.pid, "rb") as f:
        check(b"\n" in f.read().rstrip(b"\n"), "ground truth: comm has no newline")
    rc, out, err = run_rcleak(["--plain", "-p", str(r.port), "-n", "1", "--pid", str(c.pid)])
    check(rc == 0, "exit %s (stderr %r)" % (rc, err[:300]))
    bad = sorted({ch for ch in out if ord(ch) < 0x20 and ch != "\n" or ord(ch) == 0x7f})
    check(not bad, "control characters %r in --plain output: %r" % (bad, out[-600:]))
    rows = [l for l in out.splitlines() if l.startswith("%d " % c.pid)]
    check(len(rows) == 1 and "rclt?fake?[2J" in rows[0] and "?999 fake LEAK?[0m" in rows[0],
          "row of pid %d: %r" % (c.pid, rows))
    check(not any(l.startswith("fake") for l in out.splitlines()),
          "the comm's newline forged a line: %r" % out[-600:])
    c.stdin.close()
    c.wait(10)


@needs("root", "rcleak")
def test_report_control_chars():
    """`report` (the summary, the join, `--csv`) shows a recorded process's
    name as the live views do, control bytes as '?': a capture's names are
    whatever the recorded processes chose, and the summary printed them
    raw, so a name with an escape sequence acted on the terminal of whoever
    read the report. UTF-8 names stay as they are."""
    import signal
    import sys
    from harness import spawn
    from record_harness import Recorder, report
    r = Redis()
    d = mkdtemp("rcleak-evil-rec-")
    script = os.path.join(d, "e.py")
    with open(script, "w") as f:
        f.write(_EVIL_CLIENT)
    utf8 = os.path.join(d, "u.py")
    with open(utf8, "w") as f:
        f.write(_EVIL_CLIENT.replace('b"rclt\\nfake\\x1b[2J"', '"café-名前".encode()'))
    path = os.path.join(d, "evil.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.2"])
    rec.first()
    clients = []
    for sc in (script, utf8):
        c = spawn([sys.executable, sc, str(r.port)], "client with a hostile or UTF-8 comm")
        check(c.stdout.readline().strip() == b"HELD", "client did not connect")
        clients.append(c)
    with open("/proc/%d/comm" % clients[0].pid, "rb") as f:
        check(b"\x1b" in f.read(), "ground truth: comm has no escape")
    rec.wait_lines(len(rec.out.lines) + 3, 20)  # a few refreshes see them
    rec.proc.send_signal(signal.SIGINT)
    check(rec.wait() == 0, "record: " + rec.describe())
    for c in clients:
        c.stdin.close()
        c.wait(10)
    for args in ([path], [path, "--csv"]):
        rc, out, err = report(args)
        what = "`rcleak report %s`" % " ".join(args)
        check(rc == 0, "%s: exit %s (stderr %r)" % (what, rc, err[-300:]))
        bad = sorted({ch for ch in out if ord(ch) < 0x20 and ch != "\n" or ord(ch) == 0x7f})
        check(not bad, "%s: control characters %r in the output: %r" % (what, bad, out[-600:]))
        check("rclt?fake?[2J" in out, "%s: the hostile name is not shown as 'rclt?fake?[2J': %r"
              % (what, out[-800:]))
        check("café-名前" in out, "%s: the UTF-8 name is not shown as it is: %r" % (what, out[-800:]))
        check(not any(l.startswith("fake") for l in out.splitlines()),
              "%s: the name's newline forged a line: %r" % (what, out[-600:]))


@needs("root", "rcleak")
def test_run_summary_control_chars():
    """`rcleak run`'s summary (stderr: a terminal, a CI log) shows CMD's
    process names as the live views do, control bytes as '?', in its table
    and in a rule's detail line; it printed them raw."""
    import subprocess
    import sys
    r = Redis()
    script = os.path.join(mkdtemp("rcleak-evil-run-"), "e.py")
    with open(script, "w") as f:
        # stdin at EOF: the client exits at once, holding its connection
        f.write(_EVIL_CLIENT.replace("sys.stdin.read()", "sys.stdin.read()\nimport os\nos._exit(0)"))
    p = subprocess.run([RCLEAK, "run", "-p", str(r.port), "--max-leaked", "0", "--",
                        sys.executable, script, str(r.port)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode == 5, "exit %s, expected 5 (a leak at exit); stderr %r" % (p.returncode, err[-600:]))
    bad = sorted({ch for ch in err if ord(ch) < 0x20 and ch != "\n" or ord(ch) == 0x7f})
    check(not bad, "control characters %r in the summary: %r" % (bad, err[-800:]))
    rows = [l for l in err.splitlines() if "rclt?fake?[2J" in l]
    check(any("client" in l for l in rows) and any("max-leaked" in l for l in rows),
          "the name is not shown as 'rclt?fake?[2J' in the table row and the rule's line: %r" % err[-800:])
    check(not any(l.startswith("fake") for l in err.splitlines()),
          "the name's newline forged a line: %r" % err[-600:])


@needs("root", "rcleak")
def test_plain_utf8():
    """--plain shows UTF-8 names as they are ('café' was 'caf??'): a comm of
    'café-名前' and an argv word 'ünï'; a right-to-left override (U+202E)
    in argv, which would reorder the rest of the row on a terminal, still
    shows as '?' (one per byte)."""
    import sys
    from harness import spawn
    r = Redis()
    script = os.path.join(mkdtemp("rcleak-utf8-"), "u.py")
    with open(script, "w") as f:
        f.write(_EVIL_CLIENT.replace('b"rclt\\nfake\\x1b[2J"', '"café-名前".encode()'))
    c = spawn([sys.executable, script, str(r.port), "ünï\u202eabc"], "client with a UTF-8 comm and argv")
    check(c.stdout.readline().strip() == b"HELD", "client did not connect")
    with open("/proc/%d/comm" % c.pid, "rb") as f:
        check(f.read().rstrip(b"\n") == "café-名前".encode(), "ground truth: comm is not café-名前")
    rc, out, err = run_rcleak(["--plain", "-p", str(r.port), "-n", "1", "--pid", str(c.pid)])
    check(rc == 0, "exit %s (stderr %r)" % (rc, err[:300]))
    rows = [l for l in out.splitlines() if l.startswith("%d " % c.pid)]
    check(len(rows) == 1 and "café-名前" in rows[0] and "ünï???abc" in rows[0] and "\u202e" not in out,
          "row of pid %d: %r" % (c.pid, rows))
    c.stdin.close()
    c.wait(10)


def test_plain_fdroom_over_limit():
    """--plain's FDROOM of a process whose soft nofile was lowered (prlimit)
    below the fds it holds is the negative count, nofile - fds, as in --json
    and the TUI: it printed "-", which reads as unknown, on the row that
    most needs it."""
    from harness import Client, proc_nofile
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-plainroom")
    fds = len(os.listdir("/proc/%d/fd" % c.pid))
    soft = fds - 2
    p = subprocess.run(["prlimit", "--pid", str(c.pid), "--nofile=%d:" % soft], capture_output=True, text=True,
                       timeout=10)
    check(p.returncode == 0, "prlimit --pid %d: %s" % (c.pid, p.stderr.strip()))
    check(proc_nofile(c.pid)[0] == soft and len(os.listdir("/proc/%d/fd" % c.pid)) == fds,
          "ground truth: pid %d nofile %s, %d fds; expected %d and %d"
          % (c.pid, proc_nofile(c.pid), len(os.listdir("/proc/%d/fd" % c.pid)), soft, fds))
    rc, out, err = run_rcleak(["--plain", "-p", str(r.port), "-n", "1", "--pid", str(c.pid)])
    check(rc == 0, "exit %s (stderr %r)" % (rc, err[:300]))
    lines = out.splitlines()
    head = [l for l in lines if "FDROOM" in l]
    rows = [l for l in lines if l.startswith("%d " % c.pid)]
    check(len(head) == 1 and len(rows) == 1, "--plain output: %r" % out[-800:])
    cols = head[0].split()
    got = rows[0].split()[cols.index("FDS"):cols.index("FDROOM") + 1]
    check(got == [str(fds), str(soft), str(soft - fds)], "pid %d holds %d fds under a soft nofile of %d: "
          "FDS NOFILE FDROOM read %s, expected FDROOM %d" % (c.pid, fds, soft, got, soft - fds))


# A process whose second thread holds 2 connections: prints its pid and
# that thread's id.
_THREAD_CLIENT = r"""
import socket, sys, threading
held, ready = [], threading.Event()
def run():
    held.extend(socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(2))
    print(threading.get_native_id(), flush=True)
    ready.set()
    sys.stdin.read()
t = threading.Thread(target=run)
t.start()
ready.wait()
t.join()
"""


@needs("root", "rcleak")
def test_pid_of_thread():
    """--pid with a thread's id (top -H, a stack dump) selects its process,
    and says so; a pid with no process says that."""
    import json
    import sys
    from harness import spawn, ss_count
    r = Redis()
    c = spawn([sys.executable, "-c", _THREAD_CLIENT, str(r.port)], "client with a thread")
    tid = int(c.stdout.readline())
    check(tid != c.pid and os.path.exists("/proc/%d/task/%d" % (c.pid, tid)),
          "ground truth: thread %d is not a thread of %d" % (tid, c.pid))
    held = ss_count(c.pid, [r.port])
    check(held == 2, "ground truth: ss shows %d connections of pid %d" % (held, c.pid))
    rc, out, err = run_rcleak(["--json", "-p", str(r.port), "-n", "1", "--pid", str(tid)])
    check(rc == 0, "exit %s (stderr %r)" % (rc, err[:300]))
    rows = [p for p in json.loads(out.splitlines()[-1])["processes"]]
    check([(p["pid"], p["open"]) for p in rows] == [(c.pid, held)],
          "--pid %d (a thread of %d): rows %s" % (tid, c.pid, [(p["pid"], p["open"]) for p in rows]))
    check("thread of process %d" % c.pid in err, "stderr does not say whose thread: %r" % err)
    c.stdin.close()
    c.wait(10)
    gone = c.pid
    check(not os.path.exists("/proc/%d" % gone), "pid %d still exists" % gone)
    rc, out, err = run_rcleak(["--json", "-p", str(r.port), "-n", "1", "--pid", str(gone)])
    check(rc == 0 and "no such process" in err, "--pid of a gone process: exit %s, stderr %r" % (rc, err))


@needs("root", "rcleak")
def test_comm_of_nobody():
    """--comm with a name no process has (python for python3, redis for
    redis-server: the kernel's name, not the program's) showed an empty
    table, silently, for as long as it ran. It says so, with a name that
    looks like it, and shows the rows of one that connects later; a name
    that some process has is said nothing of. So does a --pid whose
    process has another name than --comm's."""
    import json
    r = Redis()
    rc, out, err = run_rcleak(["--json", "-p", str(r.port), "-n", "1", "--comm", "redis"])
    check(rc == 0 and "--comm redis: no process of that name now" in err and "'redis-server'" in err,
          "--comm redis (the server is redis-server): exit %s, stderr %r" % (rc, err))
    check(json.loads(out.splitlines()[-1])["processes"] == [], "--comm redis: rows %r" % out[-300:])
    rc, out, err = run_rcleak(["--json", "-p", str(r.port), "-n", "1", "--comm", "redis-server"])
    rows = json.loads(out.splitlines()[-1])["processes"]
    check(rc == 0 and "--comm" not in err and [p["pid"] for p in rows] == [r.pid],
          "--comm redis-server: exit %s, stderr %r, rows %s" % (rc, err, [p["pid"] for p in rows]))
    # both, of two processes: nothing shows, and it says why
    rc, out, err = run_rcleak(["--json", "-p", str(r.port), "-n", "1", "--pid", str(r.pid), "--comm", "python3"])
    check(rc == 0 and "--pid %d is named 'redis-server', not --comm python3" % r.pid in err,
          "--pid of redis-server with --comm python3: exit %s, stderr %r" % (rc, err))


@needs("root", "rcleak")
def test_stall_skips_ticks():
    """After a stall (SIGSTOP here; a paused VM, an overlong refresh) the
    live loop skips the ticks it missed instead of printing them back to
    back: no two lines closer than the interval (0.5 s), whose rates would
    be over ~0 s, and -n counts real intervals. The gaps are a consequence
    of the schedule, not a speed: a slow machine only widens them."""
    import signal
    import time
    from harness import Rcleak, free_port
    rc = Rcleak(["-p", str(free_port()), "-n", "8"])
    ups = [rc.first["uptime_s"], rc.line()["uptime_s"]]
    rc.signal(signal.SIGSTOP)
    time.sleep(2.5)           # five ticks missed
    rc.signal(signal.SIGCONT)
    ups += [rc.line()["uptime_s"] for _ in range(6)]
    check(rc.wait_exit() == 0, "rcleak -n 8: exit %s" % rc.proc.returncode)
    # uptime_s has 0.1 s precision: 0.4 is the 0.5 s interval, rounded down
    gaps = [round(b - a, 1) for a, b in zip(ups, ups[1:])]
    check(all(g >= 0.4 for g in gaps),
          "uptime_s of the 8 lines %r: gaps %r, expected none under the 0.5 s interval"
          % (ups, gaps))


def _rcleak_out(args, stdout, preexec_fn=None, timeout=20):
    """rcleak ARGS with stdout given (a file, or closed by preexec_fn): (rc, stderr)."""
    import subprocess
    from harness import spawn, stop
    p = spawn([RCLEAK] + list(args), "rcleak " + " ".join(args), stdin=subprocess.DEVNULL,
              stdout=stdout, preexec_fn=preexec_fn)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(p, 9)
        raise Fail("rcleak %s did not exit within %ds" % (" ".join(args), timeout))
    return p.returncode, err.decode("utf-8", "replace")


@needs("root", "rcleak")
def test_stdout_write_error():
    """Output that never reached stdout is a runtime error (exit 1, one line
    that says why), not a success: `rcleak --json -n 10 > f.jsonl` and
    `report --csv > events.csv` on a full disk, or with stdout closed,
    exited 0 with nothing written. A reader that goes away (`| head -1`)
    still ends the view quietly with 0. The closed stdout's number was taken
    by the next file opened, a BPF map or the capture, and the views wrote
    into that."""
    import subprocess
    import time
    from harness import free_port, spawn, stop
    from record_harness import Recorder
    port = str(free_port())
    d = mkdtemp("rcleak-out-")
    cap = os.path.join(d, "c.rcl")
    rec = Recorder(cap, ["-p", port, "-i", "0.2", "-n", "2"], json_out=False)
    check(rec.wait() == 0, "record: %s" % rec.describe())
    cases = [(["--json", "-p", port, "-n", "1"], "No space left"),
             (["--plain", "-p", port, "-n", "2", "-i", "0.2"], "No space left"),
             (["report", cap], "No space left"),
             (["report", cap, "--csv"], "No space left"),
             (["report", cap, "--replay", "--json", "--speed", "100"], "No space left"),
             (["doctor"], "No space left"),
             (["--help"], "No space left")]
    for args, why in cases:
        with open("/dev/full", "wb") as full:
            rc, err = _rcleak_out(args, full)
        shown = "rcleak %s > /dev/full" % " ".join(args)
        check(rc == 1, "%s: exit %s, expected 1 (stderr %r)" % (shown, rc, err[:300]))
        line = _one_line_rcleak(err)
        check(why in line and "output" in line, "%s: stderr %r does not say why" % (shown, line))
    for args in (["--json", "-p", port, "-n", "1"], ["record", "-w", os.path.join(d, "x.rcl"),
                                                    "--json", "-p", port, "-n", "2", "-i", "0.2"]):
        rc, err = _rcleak_out(args, subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
        shown = "rcleak %s >&-" % " ".join(args)
        check(rc == 1, "%s: exit %s, expected 1 (stderr %r)" % (shown, rc, err[:300]))
        line = _one_line_rcleak(err)
        check("Bad file descriptor" in line, "%s: stderr %r does not say why" % (shown, line))
    # the capture written with stdout closed holds no JSON line
    rc, out, err = run_rcleak(["report", os.path.join(d, "x.rcl")])
    check(rc == 0, "report of the capture recorded with stdout closed: exit %s (%r)" % (rc, err[:300]))
    # a reader that goes away ends the view, quietly, with 0
    p = spawn([RCLEAK, "--json", "-p", port, "-i", "0.1"], "rcleak | head -1",
              stdin=subprocess.DEVNULL)
    p.stdout.readline()
    p.stdout.close()
    deadline = time.monotonic() + 10
    while p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if p.poll() is None:
        stop(p, 9)
        raise Fail("rcleak --json did not exit within 10 s of its reader going away")
    err = p.stderr.read().decode("utf-8", "replace")
    check(p.returncode == 0 and not err.strip(),
          "rcleak --json | head -1: exit %s, stderr %r; expected 0 and nothing" % (p.returncode, err[:300]))


# ---------------------------------------------------------------------------
# malformed command lines: exit 2, one stderr line, no signal, no BPF left
# ---------------------------------------------------------------------------
_65_PORTS = ",".join(str(p) for p in range(7000, 7065))
BAD_INPUTS = [
    ["-p", "abc"],
    ["-p", "0"],
    ["-p", "70000"],
    ["-p", "10-5"],
    ["-p", _65_PORTS],
    ["-p", "7000-7064"],
    ["-p", "6379,"],
    ["-p", "+6379"],
    ["-p", "1-40", "-p", "100-130"],
    ["-p", ""],
    ["-p", "6379x"],
    ["-p"],
    ["--ports=1-65535"],
    ["-i", "0"],
    ["-i", "-1"],
    ["-i", "1e-9"],
    ["-i", "abc"],
    ["-i", "1x"],
    ["-i", "nan"],
    ["-n", "0"],
    ["-n", "abc"],
    ["-n", "1.5"],
    ["-d", "-3"],
    ["-d", "abc"],
    ["--bogus"],
    ["--pid", "x"],
    ["--pid", "99999999999999999999"],
    ["--hooks", "kprobe"],
    ["--window", "0"],
    ["--reconcile", "-1"],
    ["--walk", "proc", "--reconcile", "5"],
    ["--maxclients", "abc"],
    ["--json", "junk"],
    ["frobnicate"],
    ["doctor", "--bogus"],
    ["doctor", "--json"],
    ["--json=1"],
    ["--json", "--plain"],
    ["-p", "-n", "1"],
    ["-d", "1e9"],
    ["help", "rnu"],
    ["run", "-d", "5", "--", "true"],
    ["run", "--plain", "--", "true"],
    ["run", "--junit", "--max-open", "3", "--", "true"],
    ["record", "-w", "-d", "1"],
    ["record", "--write=-d"],
    ["run", "--json=", "--", "true"],
    ["run", "--json=-x", "--", "true"],
    ["report", "x.rcl", "--json=out.json"],
    ["--bogus", "--help"],
    ["record", "-w", "-d", "--help"],
    # a short option's value has no '=': this recorded to "=x.rcl" (the
    # --help stops it before it loads anything, were it taken)
    ["record", "-w=x.rcl", "--help"],
    # an unset variable ("report $CAPTURE"): was "rcleak: : No such file
    # or directory", exit 1
    ["report", ""],
    ["report", "x.rcl", ""],
    # a bad --at is a usage error before any file is opened: it was exit 1
    # for the missing file, the --at never looked at
    ["report", "missing.rcl", "--at", "junk"],
    # more files than report reads at once: exit 1 for the first missing
    # one, or exit 2 after 16 captures were read, and in no text
    ["report"] + ["f%d.rcl" % i for i in range(17)],
]


def _bad_name(args):
    s = "_".join(a if a else "''" for a in args)
    if len(s) > 40:
        s = s[:37] + "..."
    return "bad_input[%s]" % s.replace(" ", "_")


def _make_bad(args):
    def t():
        before = _bpf_before()
        rc, out, err = run_rcleak(args, timeout=10)
        shown = "rcleak " + " ".join(repr(a) if (not a or " " in a) else a for a in args)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        check(rc is not None and rc >= 0,
              "%s: killed by signal %s (crash)" % (shown, -rc if rc is not None else "?"))
        check(rc == 2, "%s: exit %s, expected 2 (stderr %r)" % (shown, rc, err[:200]))
        lines = [l for l in err.splitlines() if l.strip()]
        check(len(lines) == 1, "%s: expected a one-line stderr message, got %d lines: %r"
              % (shown, len(lines), err[:300]))
        check(lines[0].startswith("rcleak: "), "%s: stderr does not start with 'rcleak: ': %r"
              % (shown, lines[0][:200]))
        _bpf_after(before, shown)
    return t


def PARAM_TESTS():
    return [(_bad_name(a), _make_bad(a), ("root", "rcleak")) for a in BAD_INPUTS]
