"""Command line: --help, --version, doctor, one-line messages, output that
cannot be written, malformed input. Privileges: test_cli_privileges.py;
what the views print of processes: test_cli_views.py."""
import os
import re

from harness import RCLEAK, TIERS, Fail, check, mkdtemp, needs, run_rcleak
from cli_harness import bpf_after, bpf_before, one_line_rcleak

TESTS = ["test_help", "test_version", "test_help_after_options", "test_doctor",
         "test_stdout_write_error", "test_reader_gone_long_interval", "test_messages_one_line",
         "test_ring_says_what_it_holds"]


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
    before = bpf_before()
    rc, out, err = run_rcleak(["doctor"], timeout=30)
    text = out + err
    check(rc == 0, "doctor exit %s, expected 0 on this machine; output: %r" % (rc, text[-600:]))
    check(re.search(r"\bbtf\b", text, re.I), "doctor output does not mention BTF: %r" % text[:400])
    check(any(t in text for t in TIERS),
          "doctor output names none of the tiers %s: %r" % ("/".join(TIERS), text[:400]))
    bpf_after(before, "doctor")


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
        line = one_line_rcleak(err)
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
        line = one_line_rcleak(err)
        check(why in line and "output" in line, "%s: stderr %r does not say why" % (shown, line))
    for args in (["--json", "-p", port, "-n", "1"], ["record", "-w", os.path.join(d, "x.rcl"),
                                                    "--json", "-p", port, "-n", "2", "-i", "0.2"]):
        rc, err = _rcleak_out(args, subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
        shown = "rcleak %s >&-" % " ".join(args)
        check(rc == 1, "%s: exit %s, expected 1 (stderr %r)" % (shown, rc, err[:300]))
        line = one_line_rcleak(err)
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



@needs("root", "rcleak")
def test_reader_gone_long_interval():
    """`rcleak --json -i 30 | head -1` (and --plain): the reader went away
    after the first line, and rcleak slept on to its next refresh, 30 s,
    before a write told it: the pipeline hung that long. It ends when the
    reader goes, quietly, with 0."""
    import subprocess
    import time
    from harness import free_port, spawn, stop
    port = str(free_port())
    for view in ("--json", "--plain"):
        p = spawn([RCLEAK, view, "-p", port, "-i", "30"], "rcleak %s -i 30 | head -1" % view,
                  stdin=subprocess.DEVNULL)
        p.stdout.readline()
        t0 = time.monotonic()
        p.stdout.close()
        while p.poll() is None and time.monotonic() - t0 < 20:
            time.sleep(0.05)
        took = time.monotonic() - t0
        if p.poll() is None:
            stop(p, 9)
            raise Fail("rcleak %s -i 30 | head -1: still running %.0f s after its reader went away"
                       % (view, took))
        err = p.stderr.read().decode("utf-8", "replace")
        check(p.returncode == 0 and took < 5 and not err.strip(),
              "rcleak %s -i 30 | head -1: exit %s %.1f s after its reader went away, stderr %r; expected "
              "0 at once and nothing said" % (view, p.returncode, took, err[:300]))


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
    # -w given twice: the second won without a word, and the capture was
    # not at the first path (a directory that does not exist: before the
    # fix nothing is made, exit 1)
    ["record", "-w", "/nonexistent-rcl/a.rcl", "-w", "/nonexistent-rcl/b.rcl", "-n", "1"],
    # one forced mode, one moment: the second won without a word
    ["--hooks", "raw_tp", "--hooks", "tracepoint", "-n", "1"],
    ["--walk", "iter", "--walk", "proc", "-n", "1"],
    ["report", "missing.rcl", "--at", "+1s", "--at", "+2s"],
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
        before = bpf_before()
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
        bpf_after(before, shown)
    return t


def PARAM_TESTS():
    return [(_bad_name(a), _make_bad(a), ("root", "rcleak")) for a in BAD_INPUTS]
