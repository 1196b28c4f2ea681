"""The interactive view (ncurses), driven through tmux.

rcleak runs in a detached tmux session (its own server socket), under
`sh -c '...; echo EXIT=$?; sleep 60'` so the exit status and the restored
screen can be read from the pane after it exits.  Keys go in with
`tmux send-keys`, the screen comes back with `tmux capture-pane -p`; every
wait is a bounded poll.  Ground truth is ss and Redis, as elsewhere.

Here: the keys, signals, terminal sizes and kinds, UTF-8 names, an empty
selection and the help.  The header and server lines are in
test_tui_status.py, the drill-down's connections in test_tui_conn.py, the
view at its edges in test_tui_edges.py; the helpers in tui_harness.py.

Run alone:  RCLEAK=$PWD/rcleak python3 tests/integration/runner.py -k tui_
"""
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import harness
from harness import Client, Redis, check, mkdtemp, spawn, ss_count, ss_sockets, ss_states, wait_until
from tui_harness import (COLOUR, CONN, Tmux, VERDICT_S, bg_client, brief, check_no_progs, check_restored,
                         exit_status, footer, poll, quit_ok, sort_of, start_rcleak, table, term_modes)

TESTS = ["test_tui_keys", "test_tui_sigterm", "test_tui_usr1_quit", "test_tui_tiny",
         "test_tui_empty_selection", "test_tui_utf8_names",
         "test_tui_help_80x24",
         "test_tui_unknown_term", "test_tui_stdin_not_terminal"]


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------
def _setup():
    """Redis; a CLOSE_WAIT holder (3 of 6 killed by Redis); a leaker (one
    more connection every 100 ms); a churner (20 connects/s)."""
    r = Redis()
    z = Client("hold", ["--target", "127.0.0.1:%d:6" % r.port], name="rclt-tui-zomb")
    for p in z.cmd("ports", "PORTS")[1:4]:
        out = r.cli("CLIENT", "KILL", "ADDR", "127.0.0.1:%s" % p)
        check(out.strip() in ("1", "OK"), "CLIENT KILL ADDR 127.0.0.1:%s: %r" % (p, out))
    wait_until(lambda: ss_states(z.pid, [r.port]) == {"CLOSE-WAIT": 3, "ESTAB": 3},
               what="3 CLOSE-WAIT + 3 ESTAB for the holder in ss")
    leak = bg_client("hold", ["--target", "127.0.0.1:%d:400" % r.port, "--interval-ms", "100"],
                     "rclt-tui-leak")
    churn = bg_client("churn", ["--target", "127.0.0.1:%d" % r.port, "--duration", "80",
                                "--rate", "20"], "rclt-tui-churn")
    return r, z, leak, churn


def _verdicts(tm, err, want):
    def ok(scr):
        got = {pid: v for v, pid, _ in table(scr)}
        return all(got.get(pid) == v for pid, v in want.items())
    scr = poll(tm, ok, "verdicts %s" % ", ".join("%d=%s" % kv for kv in want.items()),
               VERDICT_S, err)
    modes = term_modes(tm)
    check(modes["alternate"] == "1" and modes["cursor"] == "0",
          "the TUI runs without the alternate screen or with a visible cursor: %s" % modes)
    line = [ln for ln in tm.screen(escapes=True).split("\n")
            if re.search(r"LEAK\S*\s+%d\s" % list(want)[0], ln)]
    check(line and COLOUR.search(line[0].split("LEAK")[0]),
          "the LEAK verdict is not coloured: %r" % (line[:1],))
    return scr


def _sort(tm, err):
    scr = tm.screen()
    check(sort_of(scr) == "VERDICT", "default sort is %r, expected VERDICT" % sort_of(scr))
    sev = [v in ("LEAK", "ZOMBIE", "FD-LIMIT") for v, _, _ in table(scr)]
    check(sev == sorted(sev, reverse=True),
          "default order does not put LEAK/ZOMBIE/FD-LIMIT first: %s" % table(scr))
    tm.keys("s")
    scr = poll(tm, lambda s: sort_of(s) == "PID", "footer to show Sort: PID after 's'", err=err)
    pids = [p for _, p, _ in table(scr)]
    check(pids == sorted(pids), "rows not in pid order after 's': %s" % pids)
    tm.keys("r")
    scr = poll(tm, lambda s: "reversed" in footer(s), "footer to show the reversed sort", err=err)
    pids = [p for _, p, _ in table(scr)]
    check(pids == sorted(pids, reverse=True), "rows not in reverse pid order after 'r': %s" % pids)
    tm.keys("<")
    poll(tm, lambda s: sort_of(s) == "VERDICT" and "reversed" not in footer(s),
         "footer to show Sort: VERDICT after '<'", err=err)


def _filter_and_drill(tm, err, r, z):
    before = len(table(tm.screen()))
    tm.keys("/")
    poll(tm, lambda s: footer(s).startswith("Filter"), "the filter prompt after '/'", err=err)
    tm.literal(str(z.pid))
    tm.keys("Enter")
    scr = poll(tm, lambda s: [p for _, p, _ in table(s)] == [z.pid],
               "only the row of pid %d after filtering on it" % z.pid, err=err)
    # the header says how many the filter hides
    m = re.search(r"processes (\d+) of (\d+)", scr)
    check(m and int(m.group(1)) == 1 and int(m.group(2)) == before,
          "header after filtering %d rows down to 1: %s" % (before, m.group(0) if m else brief(scr)))
    tm.keys("Enter")
    scr = poll(tm, lambda s: re.search(r"^\s*6 connections", s, re.M) and
               len([ln for ln in s.split("\n") if CONN.match(ln)]) == 6,
               "the drill-down of pid %d with 6 connection lines" % z.pid, err=err)
    check(re.search(r"PID %d\b" % z.pid, scr) and "CLOSE_WAIT held" in scr,
          "drill-down lacks the pid or the ZOMBIE rule: %s" % brief(scr))
    shown = {}
    ends = set()
    for ln in scr.split("\n"):
        m = CONN.match(ln)
        if m:
            shown[m.group(3)] = shown.get(m.group(3), 0) + 1
            ends.add((m.group(1), m.group(2)))
    truth = ss_states(z.pid, [r.port])
    check(shown == truth, "drill-down states %s, ss says %s" % (shown, truth))
    ss_ends = {(loc, peer) for _st, loc, peer, h in ss_sockets([r.port]) if z.pid in h}
    check(ends == ss_ends, "drill-down endpoints %s, ss says %s" % (sorted(ends), sorted(ss_ends)))
    tm.keys("Escape")
    poll(tm, lambda s: [p for _, p, _ in table(s)] == [z.pid] and "VERDICT" in s,
         "the filtered table again after Esc", err=err)
    tm.keys("/")
    tm.keys("Enter")   # an empty filter clears it
    poll(tm, lambda s: len(table(s)) >= 3 and "Filter:" not in footer(s),
         "all rows again after an empty filter", err=err)


def _pause_help(tm, err):
    tm.keys("p")
    poll(tm, lambda s: "PAUSED" in s.split("\n")[0], "PAUSED in the header after 'p'", err=err)
    tm.keys("p")
    poll(tm, lambda s: "PAUSED" not in s, "PAUSED gone after a second 'p'", err=err)
    tm.keys("h")
    poll(tm, lambda s: "Press any key to return" in s, "the help screen after 'h'", err=err)
    tm.keys("x")
    poll(tm, lambda s: "VERDICT" in s and len(table(s)) >= 3, "the table after closing help",
         err=err)


def _resize(tm, err, pids):
    tm.run("resize-window", "-t", "=0:", "-x", "100", "-y", "30")

    def ok(scr):
        lines = scr.split("\n")
        if lines and lines[-1] == "":
            lines = lines[:-1]
        head = [ln for ln in lines if ln.startswith("VERDICT")]
        return (len(lines) == 30 and all(len(ln) <= 100 for ln in lines) and head and
                "GROW/min" in head[0] and "CMDLINE" not in scr and "Sort:" in lines[-1] and
                set(pids) <= {p for _, p, _ in table(scr)})
    poll(tm, ok, "a 100x30 re-render (header without CMDLINE, footer on line 30, rows %s)"
         % pids, err=err)


def test_tui_keys():
    """Verdicts, sort, filter, drill-down vs ss, pause, help, resize, q."""
    before = harness.rcl_progs() if harness.have_bpftool() else {}
    r, z, leak, churn = _setup()
    tm, rpid, err = start_rcleak(["-p", str(r.port), "--window", "6", "--zombie", "2",
                                  "-i", "0.5"], env="env -u NO_COLOR")
    try:
        _verdicts(tm, err, {leak: "LEAK", churn: "CHURN", z.pid: "ZOMBIE"})
        _sort(tm, err)
        _filter_and_drill(tm, err, r, z)
        _pause_help(tm, err)
        _resize(tm, err, [leak, churn, z.pid])
        scr = quit_ok(tm, err)
        check_restored(tm, scr)
        if harness.have_bpftool():
            check_no_progs(before, tm)
    finally:
        tm.kill()


def test_tui_sigterm():
    """SIGTERM restores the terminal and exits 0; NO_COLOR means no colours."""
    before = harness.rcl_progs() if harness.have_bpftool() else {}
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-tui-term")
    tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.5"], env="NO_COLOR=1")
    try:
        poll(tm, lambda s: c.pid in [p for _, p, _ in table(s)], "the row of pid %d" % c.pid,
             10, err)
        colour = COLOUR.search(tm.screen(escapes=True))
        check(not colour, "colours on screen with NO_COLOR=1: %r" % (colour and colour.group(0)))
        t0 = time.monotonic()
        os.kill(rpid, signal.SIGTERM)
        rc, scr = exit_status(tm, err)
        check(rc == 0, "rcleak exit status %d after SIGTERM" % rc)
        check(time.monotonic() - t0 < 5, "rcleak took %.1fs to exit after SIGTERM"
              % (time.monotonic() - t0))
        check_restored(tm, scr)
        if harness.have_bpftool():
            check_no_progs(before, tm)
    finally:
        tm.kill()


def test_tui_usr1_quit():
    """SIGUSR1 (for a flight recorder: `pkill -USR1 rcleak`) leaves the live
    view running, where it killed it with the terminal on the alternate
    screen; Ctrl-\\ (SIGQUIT) exits 131 as it should, the terminal restored."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-tui-usr1")
    tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.5"])
    try:
        poll(tm, lambda s: c.pid in [p for _, p, _ in table(s)], "the row of pid %d" % c.pid, 10, err)
        os.kill(rpid, signal.SIGUSR1)
        os.kill(rpid, signal.SIGUSR2)
        c.cmd("close 1", "CLOSED")
        poll(tm, lambda s: "EXIT=" not in s and any(p == c.pid for _, p, _ in table(s)) and
             re.search(r"\b%d\b.*\brclt-tui-usr1\b" % c.pid, s) is not None,
             "the live view still running after SIGUSR1 and SIGUSR2", 10, err)
        check(os.path.exists("/proc/%d" % rpid), "rcleak pid %d is gone after SIGUSR1/SIGUSR2" % rpid)
        tm.keys("C-\\")
        rc, scr = exit_status(tm, err)
        check(rc == 128 + signal.SIGQUIT, "rcleak exit status %d after Ctrl-\\, expected %d"
              % (rc, 128 + signal.SIGQUIT))
        # the shell's own "NNN Quit  rcleak ..." line is not the TUI's footer
        check_restored(tm, "\n".join(ln for ln in scr.split("\n") if not re.search(r"\d+ Quit ", ln)))
    finally:
        tm.kill()


def _size_ok(scr, x, y):
    lines = scr.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    return len(lines) == y and all(len(ln) <= x for ln in lines)


def test_tui_tiny():
    """A 20x5 terminal still shows a row of the table (the servers' lines
    give way to it); back to 80x24 and up to 400x120, the same rows."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-tui-tiny")
    truth = {pid for _st, _l, _p, h in ss_sockets([r.port]) for pid in h}
    check({r.pid, c.pid} <= truth, "ss does not show pids %d and %d on port %d: %s"
          % (r.pid, c.pid, r.port, truth))
    tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"])
    try:
        scr = poll(tm, lambda s: {c.pid, r.pid} <= {p for _, p, _ in table(s)},
                   "the rows of pids %d and %d" % (r.pid, c.pid), 10, err)

        def clients_shown(s):
            """N/M on the server's line (before growth), or None."""
            for ln in s.split("\n"):
                if ln.lstrip().startswith("redis-server") and " %d " % r.pid in ln:
                    m = re.search(r"(\d+/\d+)\S*(?=\s|$)", ln.split("growth")[0])
                    return m.group(1) if m else None
            return None
        whole = clients_shown(scr)
        check(whole and whole.startswith("2/"), "the server line at 200 columns shows clients %r, "
              "expected 2/LIMIT: %s" % (whole, brief(scr)))
        # narrower, in a terminal of that width from the start: the number
        # whole or not at all (it was cut at the edge: 68/6000 as "68/6")
        for x in range(36, 54, 2):
            tn, _pid, errn = start_rcleak(["-p", str(r.port), "-i", "0.3"], x=x, y=24)
            try:
                scr = poll(tn, lambda s: c.pid in {p for _, p, _ in table(s)} and
                           " %d " % r.pid in s.split("VERDICT")[0], "a %dx24 view with the server's line" % x,
                           10, errn)
                got = clients_shown(scr)
                check(got in (None, whole), "%d columns: the server line shows clients %r, the whole "
                      "figure is %s: %s" % (x, got, whole, brief(scr)))
                quit_ok(tn, errn)
            finally:
                tn.kill()
        tm.run("resize-window", "-t", "=0:", "-x", "20", "-y", "5")
        # 20 columns: VERDICT and PID only
        tiny = re.compile(r"^(LEAK|CHURN|ZOMBIE|FD-LIMIT|ok|exited)\s+(\d+)\s*$", re.M)
        scr = poll(tm, lambda s: _size_ok(s, 20, 5) and tiny.search(s),
                   "a table row on a 20x5 screen", err=err)
        for m in tiny.finditer(scr):
            check(int(m.group(2)) in truth, "20x5 row of pid %s, which ss does not show on "
                  "port %d" % (m.group(2), r.port))
        for x, y in ((80, 24), (400, 120)):
            tm.run("resize-window", "-t", "=0:", "-x", str(x), "-y", str(y))
            poll(tm, lambda s: _size_ok(s, x, y) and
                 {p for _, p, _ in table(s)} == {r.pid, c.pid},
                 "rows of exactly pids %d and %d on a %dx%d screen" % (r.pid, c.pid, x, y),
                 err=err)
        quit_ok(tm, err)
    finally:
        tm.kill()


_UTF8_CLIENT = r"""
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, "café-名前".encode(), 0, 0, 0)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("HELD", flush=True)
sys.stdin.read()
"""


def test_tui_utf8_names():
    """On a UTF-8 terminal the table shows a comm of 'café-名前' as it is
    (it was 'caf??-??????'), and the column after it still lines up."""
    r = Redis()
    c = spawn([sys.executable, "-c", _UTF8_CLIENT, str(r.port)], "client with a UTF-8 comm")
    check(c.stdout.readline().strip() == b"HELD", "client did not connect")
    tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.5"], env="LANG=C.UTF-8 LC_ALL=C.UTF-8")
    try:
        scr = poll(tm, lambda s: c.pid in [p for _, p, _ in table(s)], "the row of pid %d" % c.pid, 10, err)
        rows = {p: comm for _, p, comm in table(scr)}
        check(rows.get(c.pid) == "café-名前", "pid %d's COMM on a UTF-8 terminal: %r"
              % (c.pid, rows.get(c.pid)))
        quit_ok(tm, err)
    finally:
        tm.kill()
        c.stdin.close()
        c.wait(10)


def test_tui_empty_selection():
    """--pid / --comm that select no process: the empty table says whose
    connections are missing, not that the watched ports have none (ss shows
    them). A --comm that no running process has says that, as --plain and
    --json do at each refresh: "no connections ... yet" read as if the
    process ran and had not connected."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-tui-sel")
    check(ss_count(c.pid, [r.port]) == 3, "ss does not show the 3 connections of pid %d"
          % c.pid)
    with open("/proc/self/comm") as f:
        mine = f.read().strip()  # this test's, which holds no connection on the port
    for args, line in ((["--pid", str(os.getpid())], "no connections of pid %d (--pid) on the watched ports yet"
                        % os.getpid()),
                       (["--comm", mine], 'no connections of command "%s" (--comm) on the watched ports yet' % mine),
                       (["--comm", "rclt-nosuch"], 'no process named "rclt-nosuch" is running (--comm)')):
        tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"] + args)
        try:
            scr = poll(tm, lambda s: "Sort:" in s and ("on the watched ports" in s or "is running" in s),
                       "the empty-table line with %s" % " ".join(args), 10, err)
            check(line in scr,
                  "with %s and %d connections on port %d (ss), the empty table says: %s; expected %r"
                  % (" ".join(args), ss_count(c.pid, [r.port]), r.port, brief(scr), line))
            quit_ok(tm, err)
        finally:
            tm.kill()


def test_tui_help_80x24():
    """The help shows whole on the most common terminal, 80x24: every key,
    verdict and column line to its end, the way back, and the thresholds
    that were given (--idle, --zombie)."""
    r = Redis()
    tm, rpid, err = start_rcleak(["-p", str(r.port), "--idle", "7", "--zombie", "3"])
    try:
        tm.run("resize-window", "-t", "=0:", "-x", "80", "-y", "24")
        poll(tm, lambda s: _size_ok(s, 80, 24) and "Sort:" in s, "the table at 80x24", 10, err)
        tm.keys("h")
        scr = poll(tm, lambda s: "Press any key to return" in s, "the help after 'h'", err=err)
        lines = scr.split("\n")
        # every key the view takes (Space, g/G, F1, Ctrl-L and Esc on the
        # table worked and were in no help)
        for want in ("h, ?, F1       this help; Ctrl-L redraws the screen", "ok        nothing fired",
                     "PgUp/PgDn or Space, Home/End or g/G", "or Esc in the table, shows everything again",
                     "CLOSE_WAIT held > 3s;", "IDLE idle >= 7s",
                     "FDS/NOFILE/FDROOM open fds, soft RLIMIT_NOFILE, and the fds left"):
            check(any(want in ln for ln in lines), "the 80x24 help lacks %r: %s"
                  % (want, brief(scr)))
        check(all(len(ln) < 80 for ln in lines), "a help line is cut at the 80th column: %s"
              % [ln for ln in lines if len(ln) >= 80])
        tm.keys("x")
        poll(tm, lambda s: "Sort:" in s, "the table after closing the help", err=err)
        tm.keys("F1")
        poll(tm, lambda s: "Press any key to return" in s, "the help after F1", err=err)
        tm.keys("x")
        poll(tm, lambda s: "Sort:" in s, "the table after closing the help", err=err)
        quit_ok(tm, err)
    finally:
        tm.kill()


def test_tui_unknown_term():
    """A terminal curses has no description of (TERM=xterm-kitty on a host
    without kitty's terminfo) gets the plain table, as --plain prints it: a
    replay of a capture of 3 refreshes shows 3 and exits 0 (it printed the
    last one again every interval, forever), and -d 1 -i 5 ends at 1 s, its
    last table at uptime 1s (it slept the whole interval past -d)."""
    r = Redis()
    Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-tui-noterm")
    path = os.path.join(mkdtemp("rcleak-tui-noterm-"), "cap.rcl")
    rec = subprocess.run([harness.RCLEAK, "record", "-w", path, "-p", str(r.port), "-n", "3",
                          "-i", "0.3"], capture_output=True, text=True, timeout=30)
    check(rec.returncode == 0, "record: %d %s" % (rec.returncode, rec.stderr))
    plain = subprocess.run([harness.RCLEAK, "report", path, "--replay", "--plain"],
                           capture_output=True, text=True, timeout=30).stdout
    want = plain.count("  hook=")
    check(want == 3, "report --replay --plain of a capture of 3 refreshes shows %d" % want)
    for cmd, tables, last in (
            ("%s report %s --replay --speed 3" % (shlex.quote(harness.RCLEAK), shlex.quote(path)),
             want, None),
            ("%s -p %d -d 1 -i 5" % (shlex.quote(harness.RCLEAK), r.port), 2, "uptime=1s")):
        tm = Tmux("TERM=rclt-noterm %s; echo EXIT=$?; sleep 60" % cmd)
        try:
            scr = poll(tm, lambda s: "EXIT=" in tm.run("capture-pane", "-p", "-S", "-", "-t", "=0:"),
                       "%s to exit with TERM=rclt-noterm" % cmd, 15)
            scr = tm.run("capture-pane", "-p", "-S", "-", "-t", "=0:")
            rc = int(re.search(r"EXIT=(\d+)", scr).group(1))
            heads = re.findall(r"  hook=.*", scr)
            check(rc == 0 and len(heads) == tables and (last is None or last in heads[-1]),
                  "TERM=rclt-noterm %s: exit %d, %d tables (expected %d%s): %s"
                  % (cmd, rc, len(heads), tables, ", the last at " + last if last else "",
                     [h.split("  ")[3] for h in heads][:10]))
        finally:
            tm.kill()


def test_tui_stdin_not_terminal():
    """The TUI reads its keys from stdin: on a terminal, with stdin from
    /dev/null (a cron job's, `ssh host rcleak </dev/null`), rcleak prints
    the plain table and ends at -d. --help said the plain table is the
    default only "when stdout is not a terminal", which this is not: it
    must say stdin too."""
    r = Redis()
    Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-tui-nostdin")
    cmd = "%s -p %d -d 1 -i 5 </dev/null" % (shlex.quote(harness.RCLEAK), r.port)
    tm = Tmux("%s; echo EXIT=$?; sleep 60" % cmd)
    try:
        poll(tm, lambda s: "EXIT=" in tm.run("capture-pane", "-p", "-S", "-", "-t", "=0:"),
             "%s to exit" % cmd, 15)
        scr = tm.run("capture-pane", "-p", "-S", "-", "-t", "=0:")
        rc = int(re.search(r"EXIT=(\d+)", scr).group(1))
        check(rc == 0 and len(re.findall(r"  hook=", scr)) == 2,
              "stdout a terminal, stdin /dev/null: exit %d, screen %r" % (rc, scr[-600:]))
    finally:
        tm.kill()
    out = subprocess.run([harness.RCLEAK, "--help"], capture_output=True, text=True, timeout=10).stdout
    plain = out[out.index("      --plain "):out.index("      --window ")]
    check("stdin" in plain, "--help's --plain does not say stdin decides too: %r" % plain)
