"""Command line without privileges: not root, root without capabilities,
uid 65534 (what the command line got wrong is said before "needs root";
a capture root wrote, reported by another user). Split from test_cli.py."""
import os
import shutil
import stat

from harness import RCLEAK, Fail, Skip, check, mkdtemp, needs, run_rcleak
from cli_harness import bpf_after, bpf_before, one_line_rcleak

TESTS = ["test_not_root", "test_doctor_not_root", "test_missing_caps", "test_report_unreadable",
         "test_usage_before_privileges"]


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
        before = bpf_before()
        rc, out, err = _run_as_nobody(setpriv, exe)
        bpf_after(before, "unprivileged run")
    check(rc == 3, "unprivileged run: exit %s, expected 3 (stderr %r)" % (rc, err[:300]))
    line = one_line_rcleak(err)
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
        line = one_line_rcleak(err)
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
    line = one_line_rcleak(err)
    check(path in line and "Permission denied" in line and "chown" in line,
          "the line does not name the file, the error and chown: %r" % line)


def test_missing_caps():
    """uid 0 but no capabilities at all (empty bounding set): exit 3."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise Skip("setpriv not installed")
    from harness import spawn, stop
    import subprocess
    import signal
    before = bpf_before()
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
    one_line_rcleak(err)
    bpf_after(before, "capability-less run")
