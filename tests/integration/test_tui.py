"""The interactive view (ncurses), driven through tmux.

rcleak runs in a detached tmux session (its own server socket), under
`sh -c '...; echo EXIT=$?; sleep 60'` so the exit status and the restored
screen can be read from the pane after it exits.  Keys go in with
`tmux send-keys`, the screen comes back with `tmux capture-pane -p`; every
wait is a bounded poll.  Ground truth is ss and Redis, as elsewhere.

Run alone:  RCLEAK=$PWD/rcleak python3 tests/integration/test_tui.py [-k NAME]
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
from harness import (Client, NetNS, connstorm, Redis, Skip, check, mkdtemp, proc_nofile, spawn, ss_count, ss_sockets,
                     ss_states, stop, wait_until, same_tuple_clients)
from tui_harness import (COLOUR, CONN, CONN_AGE, Tmux, VERDICT_S, bg_client, brief,
                         check_no_progs, check_restored, exit_status, footer, poll, quit_ok,
                         sort_of, start_rcleak, table, term_modes)

TESTS = ["test_tui_keys", "test_tui_sigterm", "test_tui_usr1_quit", "test_tui_conn_age", "test_tui_tiny",
         "test_tui_empty_selection", "test_tui_utf8_names",
         "test_tui_help_80x24",
         "test_tui_many_ports",
         "test_tui_replay_host",
         "test_tui_replay_last_frame",
         "test_tui_maxclients_guess",
         "test_tui_unknown_term",
         "test_tui_stdin_not_terminal",
         "test_tui_eta_guess",
         "test_tui_nofile_raised",
         "test_tui_redis_column_netns",
         "test_tui_conn_age_walk_proc"]

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


def test_tui_conn_age():
    """A connection opened while a refresh walks the fds is young, not older
    than rcleak: the drill-down of a client that started after rcleak never
    shows the ">UPTIME" age of a connection that predates rcleak."""
    r = Redis()
    tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"])
    try:
        poll(tm, lambda s: "Sort:" in s, "the TUI to start", 10, err)
        rcl_start = harness._starttime(rpid)
        # one process, connect/PING/close in a loop: a connection is always
        # being opened while the walk runs
        storm = spawn([connstorm(), "-d", "30", "127.0.0.1", str(r.port), "1"], "connstorm")
        tm.keys("/")
        tm.literal("connstorm")
        tm.keys("Enter")
        scr = poll(tm, lambda s: [c for _, _, c in table(s)] == ["connstorm"],
                   "only the connstorm child's row after filtering", 10, err)
        child = table(scr)[0][1]
        check(harness._starttime(child) > rcl_start,
              "connstorm %d did not start after rcleak" % child)
        tm.keys("Enter")
        ages = []
        deadline = time.monotonic() + 15
        while len(ages) < 10 and time.monotonic() < deadline:   # several refreshes
            s = tm.screen()
            for ln in s.split("\n"):
                m = CONN_AGE.match(ln)
                if m:
                    ages.append(m.group(1))
            time.sleep(0.35)
        check(len(ages) >= 3, "too few connection lines of connstorm in the drill-down: %s; "
              "screen: %s" % (ages, brief(tm.screen())))
        old = [a for a in ages if a.startswith(">")]
        check(not old, "connections of pid %d (started after rcleak) shown as older than "
              "rcleak: AGE %s" % (child, ages))
        stop(storm)
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
    them)."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-tui-sel")
    check(ss_count(c.pid, [r.port]) == 3, "ss does not show the 3 connections of pid %d"
          % c.pid)
    for args, whose in ((["--pid", str(os.getpid())], "pid %d (--pid)" % os.getpid()),
                        (["--comm", "rclt-nosuch"], 'command "rclt-nosuch" (--comm)')):
        tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"] + args)
        try:
            scr = poll(tm, lambda s: "Sort:" in s and "on the watched ports" in s,
                       "the empty-table line with %s" % " ".join(args), 10, err)
            check("no connections of %s on the watched ports yet" % whose in scr,
                  "with %s and %d connections on port %d (ss), the empty table says: %s"
                  % (" ".join(args), ss_count(c.pid, [r.port]), r.port, brief(scr)))
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


def _ports_shown(text):
    """'6379,7000-7002 +3 more' -> (the ports named, the count of the rest)"""
    m = re.match(r"(\S+)(?: \+(\d+) more)?$", text)
    named = []
    for part in m.group(1).split(","):
        a, _, b = part.partition("-")
        named += list(range(int(a), int(b or a) + 1))
    return named, int(m.group(2) or 0)


def test_tui_many_ports():
    """-p with 30 scattered ports: the header names the ports it has room
    for and counts the rest; it never names fewer ports than are watched."""
    r = Redis()
    ports = [r.port + 3 * i for i in range(30) if r.port + 3 * i < 65536]
    tm, rpid, err = start_rcleak(["-p", ",".join(map(str, ports)), "-i", "0.5"])
    try:
        scr = poll(tm, lambda s: re.search(r"\bports (.+?)  interval", s),
                   "the ports in the header", 10, err)
        named, rest = _ports_shown(re.search(r"\bports (.+?)  interval", scr).group(1))
        check(named == ports[:len(named)] and len(named) + rest == len(ports),
              "header names ports %s and %d more, -p gave %d: %s"
              % (named, rest, len(ports), ports))
        quit_ok(tm, err)
    finally:
        tm.kill()


def test_tui_replay_host():
    """`report --replay` in the TUI: the header names the host and kernel
    the capture was made on (what `report` says), not the machine reading
    it. The capture is made in a UTS namespace under another hostname."""
    if not shutil.which("unshare"):
        raise Skip("unshare not installed")
    r = Redis()
    Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-tui-rep")
    path = os.path.join(mkdtemp("rcleak-tui-rep-"), "cap.rcl")
    rec = subprocess.run(["unshare", "--uts", "sh", "-c",
                          'hostname rclt-caphost && exec "$0" "$@"', harness.RCLEAK, "record",
                          "-w", path, "-p", str(r.port), "-n", "3", "-i", "0.3"],
                         capture_output=True, text=True, timeout=30)
    check(rec.returncode == 0, "record in a UTS namespace: %d %s" % (rec.returncode, rec.stderr))
    summary = subprocess.run([harness.RCLEAK, "report", path], capture_output=True, text=True,
                             timeout=30).stdout
    m = re.search(r"host (\S+), kernel (\S+),", summary)
    check(m and m.group(1) == "rclt-caphost", "report names host %r: %s"
          % (m and m.group(1), summary[:200]))
    tm = Tmux("%s report %s --replay; echo EXIT=$?; sleep 60"
              % (shlex.quote(harness.RCLEAK), shlex.quote(path)))
    try:
        scr = poll(tm, lambda s: "Sort:" in s, "the replay in the TUI", 10)
        head = scr.split("\n")[0]
        check("host %s " % m.group(1) in head and "kernel %s " % m.group(2) in head,
              "replay header %r, the capture was made on host %s, kernel %s"
              % (head, m.group(1), m.group(2)))
        quit_ok(tm, None, "report --replay")
    finally:
        tm.kill()
    # the same capture cut inside its last chunk: after the TUI, the damage
    # is said and the exit code is 6, as --plain and --json replays do (it
    # exited 0 without a word)
    cut = path + ".cut"
    with open(path, "rb") as f, open(cut, "wb") as g:
        g.write(f.read()[:-5])
    tm = Tmux("%s report %s --replay --speed 3; echo EXIT=$?; sleep 60"
              % (shlex.quote(harness.RCLEAK), shlex.quote(cut)))
    try:
        # the header shows the recorded interval (-i 0.3) and the speed, not 0.1s
        poll(tm, lambda s: "Sort:" in s and "interval 0.3s, replay x3" in s,
             "the replay of the cut capture in the TUI, its header saying interval 0.3s, replay x3", 10)
        tm.keys("q")
        rc, scr = exit_status(tm, None)
        check(rc == 6 and "ends inside a chunk" in scr,
              "report --replay (TUI) of a capture cut short: exit %d, screen after: %s" % (rc, brief(scr)))
    finally:
        tm.kill()


def test_tui_replay_last_frame():
    """`report --replay` in the TUI keeps its last frame until q: the last
    whole refresh. Client pid 200 holds 1500 connections at 3 refreshes (0,
    5, 10 s) of 3 chunks each; a 4th (15 s) is damaged in its last chunk,
    then the same file cut inside that refresh (a recorder killed). The
    replay read on into the 4th, which never completed, and drew its model
    half refilled: pid 200 holding 0 under `uptime 10s`."""
    import capcraft
    n = 1500
    data = capcraft.chunked_holder(n).data()
    last = capcraft.chunks(data)[-1][0]   # the start of the last chunk
    d = mkdtemp("rcleak-tui-last-")
    damaged, cut = os.path.join(d, "damaged.rcl"), os.path.join(d, "cut.rcl")
    with open(damaged, "wb") as f:
        f.write(data[:last + 40] + bytes([data[last + 40] ^ 0xFF]) + data[last + 41:])
    with open(cut, "wb") as f:
        f.write(data[:last])
    row = re.compile(r"^\S+\s+200\s+app\s+client\s+(\d+)\s", re.M)
    # exit 6: a damaged chunk; 0: cut between two chunks, whole as far as it goes
    for path, want_rc in ((damaged, 6), (cut, 0)):
        tm = Tmux("%s report %s --replay --speed 100; echo EXIT=$?; sleep 60"
                  % (shlex.quote(harness.RCLEAK), shlex.quote(path)))
        try:
            poll(tm, lambda s: "uptime 10s" in s and row.search(s), "the replay's refresh of 10 s", 10)
            # the last frame: within 2 s the replay has read the rest of the
            # file (0.05 s a refresh at x100), and nothing draws after it
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                scr = tm.screen()
                m = row.search(scr)
                check(m and int(m.group(1)) == n, "%s: the replay's last frame shows pid 200 holding %s, "
                      "expected %d: %s" % (os.path.basename(path), m and m.group(1), n, brief(scr)))
                time.sleep(0.1)
            tm.keys("q")
            rc, scr = exit_status(tm, None)
            check(rc == want_rc, "%s: exit %d after q, expected %d: %s" % (os.path.basename(path), rc, want_rc,
                                                                           brief(scr)))
        finally:
            tm.kill()


def test_tui_maxclients_guess():
    """A redis-server started with --maxclients 10 (redis rewrites its
    command line, so rcleak cannot read it there): the server line's limit is
    CONFIG GET's 10 with --ask-redis, and without it the assumed default is
    marked '?', never shown as if it were the server's."""
    r = Redis(extra=["--maxclients", "10"])
    truth = int(r.config_get("maxclients"))
    check(truth == 10, "CONFIG GET maxclients is %d, expected 10" % truth)
    Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-tui-mc")
    # "3+1/10" with --ask-redis: its own link takes a slot too
    line = re.compile(r"^\s*redis-server\s+%d\b.*?clients\s+\[?[| ]*(\d+)(?:\+1)?/(\d+)(\?)?" % r.pid,
                      re.M)
    for args, marked in (([], True), (["--ask-redis"], False)):
        tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"] + args)
        try:
            def ok(scr):
                m = line.search(scr)
                return m and int(m.group(1)) == 3 and (int(m.group(2)) == truth) != marked
            scr = poll(tm, ok, "server line with 3 clients", 10, err)
            m = line.search(scr)
            check(int(m.group(2)) == truth or m.group(3) == "?",
                  "%s: server line shows limit %s%s, CONFIG GET maxclients says %d"
                  % (args or "no --ask-redis", m.group(2), m.group(3) or "", truth))
            check(bool(m.group(3)) == marked, "%s: limit %s%s marked %s"
                  % (args or "no --ask-redis", m.group(2), m.group(3) or "",
                     "wrongly" if m.group(3) else "not"))
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


def test_tui_eta_guess():
    """A growing server whose maxclients rcleak could not learn (redis
    rewrites its command line): its limit is marked '?' as a guess, and so
    is the ETA, which is reckoned against that guess (10000 where CONFIG GET
    says 10); it was shown as if known."""
    r = Redis(extra=["--maxclients", "10"])
    truth = int(r.config_get("maxclients"))
    check(truth == 10, "CONFIG GET maxclients is %d, expected 10" % truth)
    line = re.compile(r"^\s*redis-server\s+%d\b.*?clients\s+\[?[| ]*\d+/(\d+)(\?)?.*\bETA (\S+)"
                      % r.pid, re.M)
    tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.3", "--window", "4"])
    try:
        poll(tm, lambda s: line.search(s), "the server line of pid %d" % r.pid, 10, err)
        bg_client("hold", ["--target", "127.0.0.1:%d:8" % r.port, "--interval-ms", "400"],
                  "rclt-tui-eta")
        scr = poll(tm, lambda s: line.search(s) and line.search(s).group(3) != "\u2014",
                   "an ETA on the server line of a growing server", 10, err)
        m = line.search(scr)
        check(m.group(2) == "?" and int(m.group(1)) != truth,
              "ground truth: the limit %s%s is not a guess of rcleak's" % (m.group(1), m.group(2) or ""))
        check(m.group(3).endswith("?"), "limit %s? (CONFIG GET maxclients says %d), but the ETA "
              "reckoned against it is shown as known: ETA %s" % (m.group(1), truth, m.group(3)))
        quit_ok(tm, err)
    finally:
        tm.kill()


def test_tui_nofile_raised():
    """A redis-server started under nofile 1024 with maxclients 992 (CONFIG
    GET) keeps it after its limit is raised to 4096: the server
    line's warning names the nofile that capped it, 1024, not 4096 (it read
    "caps this server at 992 clients (nofile 4096)", numbers that do not go
    together)."""
    # a hard limit of 4096 lets the soft one be raised without
    # CAP_SYS_RESOURCE; maxclients 992 fits 1024, so redis leaves it be
    r = Redis(extra=["--maxclients", "992"], wrap=["prlimit", "--nofile=1024:4096", "--"])
    check(int(r.config_get("maxclients")) == 992, "ground truth: maxclients under nofile 1024")
    check(proc_nofile(r.pid)[0] == 1024, "ground truth: redis nofile %s" % (proc_nofile(r.pid),))
    tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"])
    warn = re.compile(r"caps this server at (\d+) clients \(nofile (\d+)")
    row = re.compile(r"^\s*ok\s+%d\s+redis-server\s+server(?:\s+\S+){11}\s+(\d+)\s" % r.pid, re.M)
    try:
        poll(tm, lambda s: warn.search(s), "the fd-limit warning on the server line", 10, err)
        p = subprocess.run(["prlimit", "--pid", str(r.pid), "--nofile=4096:4096"], capture_output=True,
                           text=True, timeout=10)
        check(p.returncode == 0, "prlimit --pid %d: %s" % (r.pid, p.stderr.strip()))
        truth = int(r.config_get("maxclients"))
        check(truth == 992, "ground truth: after the raise maxclients is %d, expected 992" % truth)
        scr = poll(tm, lambda s: row.search(s) and row.search(s).group(1) == "4096",
                   "the redis-server row's NOFILE at 4096 after the raise", 10, err)
        m = warn.search(scr)
        check(m and int(m.group(1)) == truth and int(m.group(2)) == 1024,
              "after the raise to 4096 (maxclients still %d, sized by nofile 1024) the warning "
              "says: %s" % (truth, m.group(0) if m else brief(scr)))
        quit_ok(tm, err)
    finally:
        tm.kill()


def test_tui_redis_column_netns():
    """The drill-down's REDIS column (--ask-redis) is the entry of the
    client's own server: a container's client and a host client with the
    very same 127.0.0.1:PORT -> 127.0.0.1:PORT (pods that each run a Redis
    on localhost) each show the name they gave their server (CLIENT
    SETNAME), not the other's, which the first matching address gave."""
    ns = NetNS()
    rn = Redis(netns=ns, bind=("127.0.0.1",))
    rh = Redis(bind=("127.0.0.1",), port=rn.port)
    y, pids, procs = same_tuple_clients(ns, rn.port, range(46100, 46200), lambda where: "rclt-%s-name" % where)
    for where, r in (("ns", rn), ("host", rh)):
        names = re.findall(r"addr=127\.0\.0\.1:%d .*?name=(\S*)" % y, r.cli("CLIENT", "LIST"))
        check(names == ["rclt-%s-name" % where], "ground truth: CLIENT LIST of the %s server names "
              "127.0.0.1:%d %s" % (where, y, names))
    tm, rpid, err = start_rcleak(["-p", str(rn.port), "-i", "0.3", "--ask-redis"], x=220)
    try:
        poll(tm, lambda s: set(pids.values()) <= {p for _, p, _ in table(s)},
             "the rows of both bound clients", 10, err)
        for where in ("ns", "host"):
            tm.keys("/")
            tm.literal(str(pids[where]))
            tm.keys("Enter")
            poll(tm, lambda s: [p for _, p, _ in table(s)] == [pids[where]],
                 "only the row of pid %d" % pids[where], err=err)
            tm.keys("Enter")
            scr = poll(tm, lambda s: any(CONN.match(ln) and "rclt-" in ln for ln in s.split("\n")),
                       "the %s client's connection with its REDIS column" % where, 10, err)
            line = [ln for ln in scr.split("\n") if CONN.match(ln)]
            check(len(line) == 1 and "rclt-%s-name" % where in line[0],
                  "%s client pid %d (named rclt-%s-name by its server's CLIENT LIST): %s"
                  % (where, pids[where], where, line))
            tm.keys("Escape")
            tm.keys("Escape")
            poll(tm, lambda s: "Filter:" not in footer(s) and "Sort:" in s, "the whole table again",
                 err=err)
        quit_ok(tm, err)
    finally:
        tm.kill()
        for p in procs.values():
            p.stdin.close()


def test_tui_conn_age_walk_proc():
    """--walk proc cannot know when a connection opened (/proc has no such
    time): the drill-down of a client that connected after rcleak started
    said its connections were older than rcleak (">UPTIME"); their age is
    unknown there, "-"."""
    r = Redis()
    tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.3", "--walk", "proc"])
    try:
        poll(tm, lambda s: "Sort:" in s and "walk proc" in s, "the TUI with walk proc", 10, err)
        rcl_start = harness._starttime(rpid)
        c = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-tui-wpage")
        check(harness._starttime(c.pid) > rcl_start, "client %d did not start after rcleak" % c.pid)
        tm.keys("/")
        tm.literal("rclt-tui-wpage")
        tm.keys("Enter")
        poll(tm, lambda s: [p for _, p, _ in table(s)] == [c.pid], "only the row of pid %d" % c.pid,
             10, err)
        tm.keys("Enter")
        scr = poll(tm, lambda s: len([ln for ln in s.split("\n") if CONN_AGE.match(ln)]) == 2,
                   "the drill-down of pid %d with its 2 connections" % c.pid, 10, err)
        ages = [CONN_AGE.match(ln).group(1) for ln in scr.split("\n") if CONN_AGE.match(ln)]
        check(not [a for a in ages if a.startswith(">")],
              "--walk proc: connections of pid %d (started after rcleak) shown as older than "
              "rcleak: AGE %s" % (c.pid, ages))
        quit_ok(tm, err)
    finally:
        tm.kill()
