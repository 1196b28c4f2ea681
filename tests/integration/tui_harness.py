"""Driving rcleak's TUI through tmux, for test_tui*.py: a tmux server of the
test's own (class Tmux), rcleak started in it, and readers of the screen
(the table's rows, the footer, terminal modes), every wait a bounded poll.
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import harness
from harness import CLIENT, Fail, Skip, check, children_of, mkdtemp, spawn, wait_until

VERDICT_S = 30.0    # how long the verdicts may take to show
SCREEN_S = 5.0      # how long a key may take to show its effect

ROW = re.compile(r"^\s*(LEAK|CHURN|ZOMBIE|FD-LIMIT|ok|exited)\s+(\d+)\s+(\S+)")
CONN = re.compile(r"^\s*(\S+:\d+)\s+(\S+:\d+)\s+([A-Z][A-Z0-9-]*)\s")
CONN_AGE = re.compile(r"^\s*\S+:\d+\s+\S+:\d+\s+[A-Z][A-Z0-9-]*\s+(\S+)\s")
COLOUR = re.compile(r"\x1b\[[0-9;]*\b(3[0-7]|4[0-7])m")   # a foreground/background colour


# --------------------------------------------------------------------------
# tmux
# --------------------------------------------------------------------------
class Tmux:
    """A tmux server of our own running one pane: cmd, under sh."""

    def __init__(self, cmd, x=200, y=50):
        if not shutil.which("tmux"):
            raise Skip("tmux not installed")
        self.sock = "rcleak-test-%d-%d" % (os.getpid(), time.monotonic_ns() % 10**9)
        self.base = ["tmux", "-L", self.sock, "-f", "/dev/null"]
        self.run("new-session", "-d", "-x", str(x), "-y", str(y), cmd)
        info = self.run("display-message", "-p", "#{pane_pid} #{socket_path}").strip()
        pid, self.path = info.split(" ", 1)
        self.pane_pid = int(pid)
        self.victims = []          # (pid, starttime) to kill if still alive at the end

    def run(self, *args):
        r = subprocess.run(self.base + list(args), capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise RuntimeError("tmux %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def keys(self, *keys):
        self.run("send-keys", "-t", "=0:", *keys)

    def literal(self, text):
        self.run("send-keys", "-t", "=0:", "-l", text)

    def screen(self, escapes=False):
        return self.run("capture-pane", "-p", "-t", "=0:", *(["-e"] if escapes else []))

    def kill(self):
        subprocess.run(self.base + ["kill-server"], capture_output=True, timeout=10)
        try:                      # tmux leaves its socket behind
            os.unlink(self.path)
        except OSError:
            pass
        for pid, start in self.victims:   # rcleak ignoring SIGHUP would survive
            if harness._starttime(pid) == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def start_rcleak(args, env="", x=200, y=50):
    """rcleak in tmux (stderr to a file); returns (tmux, rcleak pid, stderr path).
    -d bounds its life should the test itself die."""
    d = mkdtemp("rcleak-tui-")
    err = os.path.join(d, "stderr")
    cmd = "%s %s %s -d 85 2>%s; echo EXIT=$?; sleep 60" % (
        env, shlex.quote(harness.RCLEAK), " ".join(shlex.quote(a) for a in args),
        shlex.quote(err))
    tm = Tmux(cmd, x, y)
    kids = wait_until(lambda: children_of(tm.pane_pid), 5, "rcleak to start in tmux")
    pid = kids[0]
    tm.victims.append((pid, harness._starttime(pid)))
    return tm, pid, err


def start_replay(path, args=(), x=200, y=50):
    """`rcleak report PATH --replay ARGS` in tmux (stderr on the screen)."""
    return Tmux("%s report %s --replay%s; echo EXIT=$?; sleep 60"
                % (shlex.quote(harness.RCLEAK), shlex.quote(path),
                   "".join(" " + shlex.quote(a) for a in args)), x, y)


def table(scr):
    """[(verdict, pid, comm)] of the table rows on the screen, in order."""
    rows = []
    for line in scr.split("\n"):
        m = ROW.match(line)
        if m:
            rows.append((m.group(1), int(m.group(2)), m.group(3)))
    return rows


def footer(scr):
    lines = [ln for ln in scr.split("\n") if ln.strip()]
    return lines[-1] if lines else ""


def sort_of(scr):
    m = re.search(r"Sort: (\S+)", footer(scr))
    return m.group(1) if m else None


def brief(scr):
    """The screen in one line, for a failure message."""
    return " | ".join(ln.strip() for ln in scr.split("\n") if ln.strip())[-450:]


def poll(tm, pred, what, timeout=SCREEN_S, err=None):
    """Capture the pane until pred(screen) is true; Fail with the last screen."""
    deadline = time.monotonic() + timeout
    while True:
        scr = tm.screen()
        if pred(scr):
            return scr
        if time.monotonic() > deadline:
            if os.environ.get("RCLEAK_TEST_VERBOSE"):
                sys.stderr.write("# screen:\n%s\n" % scr)
            extra = ""
            if err:
                try:
                    extra = "; rcleak stderr: " + open(err).read().strip()[-200:]
                except OSError:
                    pass
            raise Fail("%s (after %.0fs); screen: %s%s" % (what, timeout, brief(scr), extra))
        time.sleep(0.1)


def exit_status(tm, err):
    scr = poll(tm, lambda s: "EXIT=" in s, "rcleak to exit", 10, err)
    return int(re.search(r"EXIT=(\d+)", scr).group(1)), scr


def quit_ok(tm, err, what="rcleak"):
    """'q', then the exit status must be 0; returns the last screen."""
    tm.keys("q")
    rc, scr = exit_status(tm, err)
    check(rc == 0, "%s exit status %d after 'q'" % (what, rc))
    return scr


def term_modes(tm):
    """tmux's view of the pane: alternate screen, cursor visible, keypad mode."""
    out = tm.run("display-message", "-p", "-t", "=0:",
                 "#{alternate_on} #{cursor_flag} #{keypad_cursor_flag}").split()
    return dict(zip(("alternate", "cursor", "keypad"), out))


def check_restored(tm, scr):
    """rcleak gave the terminal back: main screen, cursor shown, keypad off,
    and none of the TUI left on the pane.  (tmux itself can copy lines of an
    alternate screen to the main one when the window shrinks; the test never
    shrinks the pane into the TUI's content, so the text check holds.)"""
    modes = term_modes(tm)
    check(modes == {"alternate": "0", "cursor": "1", "keypad": "0"},
          "terminal not restored after exit: %s" % modes)
    check("Sort:" not in scr and "rcleak  host" not in scr and " Quit " not in scr,
          "after exit the pane still shows the TUI: %s" % brief(scr))


def check_no_progs(before, tm):
    leaked = harness.leaked_progs(before, {tm.pane_pid})
    check(not leaked, "rcl_ BPF programs still loaded after rcleak exited: %s" % leaked)


def bg_client(mode, args, name):
    """A client that is still working when it is needed (no READY wait)."""
    p = spawn([sys.executable, "-u", CLIENT, "--name", name, mode] + args, "client " + mode)
    return p.pid
