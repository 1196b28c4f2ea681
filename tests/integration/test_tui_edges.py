"""The interactive view at its edges, driven through tmux as in test_tui.py:
narrow and short terminals (numbers shown whole or not at all), the
drill-down's cells, an exited process's leaks, fd room over the limit,
the end of a replay and its last frame.

Run alone:  RCLEAK=$PWD/rcleak python3 tests/integration/runner.py -k tui_
"""
import os
import re
import signal
import subprocess
import sys
import time

import harness
from harness import Client, Redis, check, mkdtemp, proc_nofile, spawn, ss_sockets, wait_until
from tui_harness import (CONN, VERDICT_S, brief, exit_status, footer, poll, quit_ok, start_rcleak, start_replay,
                         table)

TESTS = ["test_tui_fdroom_over_limit",
         "test_tui_server_line_narrow",
         "test_tui_footer_short",
         "test_tui_redis_column_named",
         "test_tui_exited_leaked",
         "test_tui_filter_narrow",
         "test_tui_drill_narrow",
         "test_tui_conn_fds",
         "test_tui_replay_end",
         "test_tui_replay_last_frame",
         "test_tui_server_utf8_aligned",
         "test_tui_exited_keeps_verdict",
         "test_tui_filter_utf8"]


def test_tui_fdroom_over_limit():
    """A process whose soft nofile was lowered (prlimit) below the fds it
    holds has no fd room left: FDROOM shows the negative count, nofile - fds
    (it showed "-", which means unknown, on the row that most needs it), in
    the table and in the drill-down."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-tui-fdroom")
    tm, rpid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"])
    # FDS NOFILE FDROOM after the ten columns OPEN..IDLE
    row = re.compile(r"^\s*\S+\s+%d\s+\S+\s+client(?:\s+\S+){10}\s+(\S+)\s+(\S+)\s+(\S+)\s" % c.pid,
                     re.M)
    try:
        poll(tm, lambda s: row.search(s), "the row of pid %d" % c.pid, 10, err)
        fds = len(os.listdir("/proc/%d/fd" % c.pid))
        soft = fds - 2
        p = subprocess.run(["prlimit", "--pid", str(c.pid), "--nofile=%d:" % soft], capture_output=True,
                           text=True, timeout=10)
        check(p.returncode == 0, "prlimit --pid %d: %s" % (c.pid, p.stderr.strip()))
        check(proc_nofile(c.pid)[0] == soft, "ground truth: nofile of pid %d is %s, expected %d"
              % (c.pid, proc_nofile(c.pid), soft))
        check(len(os.listdir("/proc/%d/fd" % c.pid)) == fds, "ground truth: pid %d's fds changed" % c.pid)
        want = str(soft - fds)
        scr = poll(tm, lambda s: row.search(s) and row.search(s).group(2) == str(soft),
                   "pid %d's NOFILE at %d" % (c.pid, soft), 10, err)
        got = row.search(scr).groups()
        check(got == (str(fds), str(soft), want), "pid %d holds %d fds under a soft nofile of %d: "
              "FDS NOFILE FDROOM read %s, expected FDROOM %s" % (c.pid, fds, soft, got, want))
        tm.keys("/")
        tm.literal(str(c.pid))
        tm.keys("Enter")
        poll(tm, lambda s: [p for _, p, _ in table(s)] == [c.pid], "only the row of pid %d" % c.pid,
             10, err)
        tm.keys("Enter")
        scr = poll(tm, lambda s: "fd room" in s, "the drill-down of pid %d" % c.pid, 10, err)
        m = re.search(r"fd room (\S+)", scr)
        check(m and m.group(1) == want, "the drill-down of pid %d says fd room %s, expected %s"
              % (c.pid, m.group(1) if m else None, want))
        quit_ok(tm, err)
    finally:
        tm.kill()


def test_tui_server_line_narrow():
    """On a narrow terminal the server line and its fd-limit warning never
    show a number cut at the edge: port 46123 read ":46", and "caps this
    server at 1168 clients" read "at 11". The numbers shown are whole, and
    at 40 columns the warning still names the limit and the nofile."""
    r = Redis(wrap=["prlimit", "--nofile=1200:1200", "--"])
    eff = int(r.config_get("maxclients"))
    nofile = proc_nofile(r.pid)[0]
    check(nofile == 1200 and eff == 1200 - 32, "ground truth: redis-server under nofile %s has "
          "maxclients %d, expected 1168" % (nofile, eff))
    # where the compact line " redis-server PID :PORT" reaches ":46", and
    # where the long warning on its own line reaches "at 11"
    cut_port = 1 + len("redis-server") + 1 + len(str(r.pid)) + 1 + 3
    cut_warn = 3 + len("! the fd limit caps this server at %d" % eff) - 2
    for x in (cut_port, cut_warn):
        tm, _pid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"], x=x, y=24)
        try:
            scr = poll(tm, lambda s: re.search(r"^ok\s+%d\b" % r.pid, s, re.M) and
                       s.split("VERDICT")[0].count("redis-server"), "a %dx24 view with the server's "
                       "line" % x, 10, err)
            head = scr.split("VERDICT")[0].split("\n")
            line = [ln for ln in head if ln.lstrip().startswith("redis-server")][0]
            for n in re.findall(r"\d+", line.split("clients")[0]):
                check(int(n) in (r.pid, r.port), "%d columns: the server line shows %s, neither its "
                      "pid %d nor its port %d: %r" % (x, n, r.pid, r.port, line))
            warn = [ln for ln in head if ln.lstrip().startswith("!")]
            for n in re.findall(r"\d+", warn[0] if warn else ""):
                check(int(n) in (eff, nofile), "%d columns: the fd-limit warning shows %s, neither the "
                      "limit %d nor nofile %d: %r" % (x, n, eff, nofile, warn[0]))
            if x == cut_warn:
                check(warn and str(eff) in warn[0] and str(nofile) in warn[0], "%d columns: the fd-limit "
                      "warning does not name %d and nofile %d: %s" % (x, eff, nofile, brief(scr)))
            quit_ok(tm, err)
        finally:
            tm.kill()


def test_tui_footer_short():
    """On a terminal too short for the drill-down's facts (8 lines), the
    footer line holds the keys and nothing else: the facts' last line was
    drawn there and its tail showed among the keys (" idle 19s")."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-tui-foot")
    keys = {"Esc", "Back", "q", "Quit", "j/k", "Scroll", "p", "Pause", "h", "Help"}
    for x, y in ((100, 8), (40, 8)):
        tm, _pid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"], x=x, y=y)
        try:
            poll(tm, lambda s: re.search(r"^\S+\s+%d\b" % c.pid, s, re.M), "the row of pid %d" % c.pid,
                 10, err)
            tm.keys("/")
            tm.literal(str(c.pid))
            tm.keys("Enter")
            poll(tm, lambda s: "Filter: %d" % c.pid in s, "the filter on pid %d" % c.pid, 10, err)
            tm.keys("Enter")
            scr = poll(tm, lambda s: ("PID %d" % c.pid) in s and footer(s).startswith("Esc Back"),
                       "the drill-down of pid %d" % c.pid, 10, err)
            last = scr.rstrip("\n").split("\n")[-1]
            check(set(last.split()) <= keys, "%dx%d drill-down: the footer line is %r, words other "
                  "than its keys" % (x, y, last))
            quit_ok(tm, err)
        finally:
            tm.kill()


_NAMED_CLIENT = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"CLIENT SETNAME checkout-service-worker-17\r\n")
assert s.recv(100) == b"+OK\r\n"
s.sendall(b"BZPOPMAX rclt-nokey 0\r\n")
print("HELD", flush=True)
sys.stdin.read()
"""


def test_tui_redis_column_named():
    """The drill-down's REDIS column (--ask-redis) of a client with a long
    name, blocked in BZPOPMAX, shows its age and idle whole: the column was
    46 columns wide however wide the screen, and once the age had two
    digits the idle was cut there ("idle=1" for 12 s)."""
    r = Redis()
    c = spawn([sys.executable, "-c", _NAMED_CLIENT, str(r.port)], "client with a long name")
    check(c.stdout.readline().strip() == b"HELD", "client did not connect")

    def entry():
        """CLIENT LIST's age and idle of the client, or None."""
        m = re.search(r"name=checkout-service-worker-17 age=(\d+) idle=(\d+)", r.cli("CLIENT", "LIST"))
        return (int(m.group(1)), int(m.group(2))) if m else None
    check(entry(), "ground truth: CLIENT LIST has no client named checkout-service-worker-17")
    tm, _pid, err = start_rcleak(["-p", str(r.port), "-i", "0.3", "--ask-redis"], x=200, y=24)
    try:
        poll(tm, lambda s: re.search(r"^\S+\s+%d\b" % c.pid, s, re.M), "the row of pid %d" % c.pid, 10, err)
        tm.keys("/")
        tm.literal(str(c.pid))
        tm.keys("Enter")
        poll(tm, lambda s: [p for _, p, _ in table(s)] == [c.pid], "only the row of pid %d" % c.pid, 10, err)
        tm.keys("Enter")
        # two digits of age: the old cut fell inside the idle
        wait_until(lambda: entry() and entry()[0] >= 11, 30, "the client's age in CLIENT LIST to reach 11 s")
        scr = poll(tm, lambda s: re.search(r"bzpopmax age=(\d\d+)s", s), "the REDIS cell with an age of "
                   "two digits", 10, err)
        line = [ln for ln in scr.split("\n") if "bzpopmax" in ln][0]
        after = entry()
        m = re.search(r"checkout-service-wor - bzpopmax age=(\d+)s idle=(\d+)s(\s|$)", line)
        check(m, "the REDIS cell of pid %d does not show its age and idle whole: %r" % (c.pid, line))
        check(int(m.group(2)) <= after[1], "the REDIS cell says idle=%ss; CLIENT LIST says %d s since: %r"
              % (m.group(2), after[1], line))
        quit_ok(tm, err)
    finally:
        tm.kill()
        c.stdin.close()


def test_tui_exited_leaked():
    """A client killed (SIGKILL) while it holds 3 connections leaked them:
    its exited row and its drill-down say "3 leaked" / "leaked 3". They
    said only "closed 3", as for a process that closed them itself."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-tui-leak")
    tm, _pid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"])
    try:
        poll(tm, lambda s: re.search(r"^ok\s+%d\s.*\s3\s+3\s" % c.pid, s, re.M),
             "the row of pid %d with its 3 connections" % c.pid, 10, err)
        held = [st for st, _l, _p, h in ss_sockets([r.port]) if c.pid in h]
        check(len(held) == 3, "ground truth: ss shows pid %d holding %d connections, expected 3"
              % (c.pid, len(held)))
        os.kill(c.pid, signal.SIGKILL)
        c.proc.wait(10)
        scr = poll(tm, lambda s: re.search(r"^exited\s+%d\s" % c.pid, s, re.M),
                   "pid %d's row to say exited" % c.pid, 10, err)
        row = [ln for ln in scr.split("\n") if re.match(r"^exited\s+%d\s" % c.pid, ln)][0]
        check("(exited, 3 leaked)" in row, "pid %d was killed holding 3 connections; its row: %r"
              % (c.pid, row))
        tm.keys("/")
        tm.literal(str(c.pid))
        tm.keys("Enter")
        poll(tm, lambda s: [p for _, p, _ in table(s)] == [c.pid], "only the row of pid %d" % c.pid, 10, err)
        tm.keys("Enter")
        scr = poll(tm, lambda s: "PID %d" % c.pid in s and "closed" in s, "the drill-down of pid %d"
                   % c.pid, 10, err)
        m = re.search(r"leaked (\d+)", scr)
        check(m and m.group(1) == "3", "the drill-down of pid %d, killed holding 3 connections, says "
              "leaked %s" % (c.pid, m.group(1) if m else None))
        quit_ok(tm, err)
    finally:
        tm.kill()


def test_tui_filter_narrow():
    """On a 40-column terminal the '/' filter's text shows as it is typed,
    the cursor after it: the long prompt filled the line and hid it. A
    text longer than the line shows its tail; Enter still applies it."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:1" % r.port], name="rclt-tui-fnar")
    tm, _pid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"], x=40, y=12)
    try:
        poll(tm, lambda s: re.search(r"^ok\s+%d\b" % c.pid, s, re.M), "the row of pid %d" % c.pid, 10, err)
        tm.keys("/")
        tm.literal("rclt-tui")
        scr = poll(tm, lambda s: "rclt-tui" in footer(s), "the typed filter text in the footer", err=err)
        x = int(tm.run("display-message", "-p", "-t", "=0:", "#{cursor_x}").strip())
        last = scr.rstrip("\n").split("\n")[-1]
        check(x == last.index("rclt-tui") + len("rclt-tui"), "the cursor at column %d, not after the "
              "text typed: %r" % (x, last))
        tm.keys("C-u")
        tm.literal("x" * 40 + "rclt-tui-fnar")
        poll(tm, lambda s: footer(s).rstrip().endswith("x" * 10 + "rclt-tui-fnar"),
             "the tail of a filter text longer than the line", err=err)
        tm.keys("C-u")
        tm.literal("rclt-tui-fnar")
        tm.keys("Enter")
        poll(tm, lambda s: [p for _, p, _ in table(s)] == [c.pid], "only the row of pid %d" % c.pid, 10, err)
        quit_ok(tm, err)
    finally:
        tm.kill()


def test_tui_drill_narrow():
    """A server's drill-down on a narrow terminal cuts its lines between
    words, never inside a count: at 25 columns 12 clients from 127.0.0.1
    read "top remotes 127.0.0.1 x1", at 24 the summary over the list read
    "12 connections: ESTAB 1". (RULE is cut the same way.)"""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:12" % r.port], name="rclt-tui-dnar")
    truth = len([1 for st, _l, _p, h in ss_sockets([r.port]) if r.pid in h and c.pid not in h])
    check(truth == 12, "ground truth: ss shows redis-server %d with %d clients, expected 12" % (r.pid, truth))
    for x in (25, 24):
        tm, _pid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"], x=x, y=24)
        try:
            poll(tm, lambda s: re.search(r"^ok\s+%d\b" % r.pid, s, re.M), "the row of pid %d" % r.pid, 10, err)
            tm.keys("/")
            tm.literal(str(r.pid))
            tm.keys("Enter")
            poll(tm, lambda s: "Filter: %d" % r.pid in s, "the filter on pid %d" % r.pid, 10, err)
            tm.keys("Enter")
            scr = poll(tm, lambda s: "top remotes 127.0.0.1" in s and " connections: " in s,
                       "the drill-down of pid %d with its top remotes" % r.pid, 10, err)
            line = [ln for ln in scr.split("\n") if "top remotes" in ln][0]
            check(re.findall(r"x(\d+)", line) in ([], ["12"]), "%d columns: redis-server %d has 12 clients "
                  "from 127.0.0.1; top remotes reads %r" % (x, r.pid, line))
            line = [ln for ln in scr.split("\n") if " connections: " in ln][0]
            check(re.findall(r"\d+", line)[:2] in (["12"], ["12", "12"]), "%d columns: redis-server %d "
                  "holds 12 connections; the summary reads %r" % (x, r.pid, line))
            quit_ok(tm, err)
        finally:
            tm.kill()


_DUP_CLIENT = r"""
import os, resource, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for fd in (1500, 1501, 1502, 1503, 1504):
    os.dup2(s.fileno(), fd)
print("HELD", flush=True)
sys.stdin.read()
"""


def test_tui_conn_fds():
    """A connection held by six fds (dup2 to 1500..1504): the drill-down's
    FDS lists fd numbers it holds and counts the rest ("3,1500,1501+3"); cut
    at the column's edge it read "3,1500,1501,15", an fd it does not hold
    and no count of the others."""
    r = Redis()
    c = spawn([sys.executable, "-c", _DUP_CLIENT, str(r.port)], "client with a dup'ed socket")
    check(c.stdout.readline().strip() == b"HELD", "client did not connect")
    out = subprocess.run(["ss", "-tnpH", "state", "established", "dport", "= :%d" % r.port],
                         capture_output=True, text=True, timeout=10).stdout
    truth = {int(f) for f in re.findall(r"pid=%d,fd=(\d+)" % c.pid, out)}
    check(len(truth) == 6, "ground truth: ss shows pid %d's connection on fds %s, expected 6" % (c.pid, truth))
    tm, _pid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"], x=200, y=24)
    try:
        poll(tm, lambda s: re.search(r"^ok\s+%d\b" % c.pid, s, re.M), "the row of pid %d" % c.pid, 10, err)
        tm.keys("/")
        tm.literal(str(c.pid))
        tm.keys("Enter")
        poll(tm, lambda s: [p for _, p, _ in table(s)] == [c.pid], "only the row of pid %d" % c.pid, 10, err)
        tm.keys("Enter")
        scr = poll(tm, lambda s: any(CONN.match(ln) for ln in s.split("\n")), "the drill-down of pid %d"
                   % c.pid, 10, err)
        line = [ln for ln in scr.split("\n") if CONN.match(ln)][0]
        cell = line.split()[7]
        m = re.match(r"^([\d,]+?)(?:\+(\d+))?$", cell)
        listed = [int(f) for f in m.group(1).split(",")] if m else []
        check(m and set(listed) <= truth and len(listed) + int(m.group(2) or 0) == len(truth),
              "the connection is held by fds %s; the drill-down's FDS reads %r" % (sorted(truth), cell))
        quit_ok(tm, err)
    finally:
        tm.kill()
        c.stdin.close()


def test_tui_replay_end():
    """`report --replay` in the TUI says when the capture's last refresh is
    on screen ("END OF REPLAY"): it stayed there until q looking like a
    live view of a calm incident. 'p' shows PAUSED in its place."""
    r = Redis()
    Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-tui-rend")
    path = os.path.join(mkdtemp("rcleak-tui-rend-"), "cap.rcl")
    rec = subprocess.run([harness.RCLEAK, "record", "-w", path, "-p", str(r.port), "-n", "3", "-i", "0.3"],
                         capture_output=True, text=True, timeout=30)
    check(rec.returncode == 0, "record: %d %s" % (rec.returncode, rec.stderr))
    tm = start_replay(path, x=120, y=24)
    try:
        scr = poll(tm, lambda s: "END OF REPLAY" in s.split("\n")[0], "the end of the replay in the header", 10)
        check("rcleak  host" in scr, "the replay's header: %s" % brief(scr))
        tm.keys("p")
        poll(tm, lambda s: "PAUSED" in s.split("\n")[0] and "END OF REPLAY" not in s, "PAUSED in its place", 10)
        quit_ok(tm, None, "report --replay")
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
        tm = start_replay(path, ["--speed", "100"])
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


_UTF8_LISTENER = r"""
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, "café-名前".encode(), 0, 0, 0)
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
a, _ = s.accept()
print("HELD", flush=True)
sys.stdin.read()
"""


def test_tui_server_utf8_aligned():
    """The server lines (100 columns and more) keep their pid column
    aligned when a server's name is UTF-8 ("café-名前": 12 bytes, 9
    columns): the name was padded to 15 bytes, not columns, and its pid
    stood 3 columns left of the others'."""
    import unicodedata
    r = Redis()
    port = harness.free_port()
    c = spawn([sys.executable, "-c", _UTF8_LISTENER, str(port)], "listener with a UTF-8 comm")
    check(c.stdout.readline().strip() == b"HELD", "listener did not start")
    tm, _pid, err = start_rcleak(["-p", "%d,%d" % (r.port, port), "-i", "0.3"],
                                 env="LANG=C.UTF-8 LC_ALL=C.UTF-8", x=160, y=24)

    def width(text):
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    def pid_end(scr, pid):
        """The display column after pid on its server line, or None."""
        for ln in scr.split("VERDICT")[0].split("\n"):
            m = re.search(r" %d " % pid, ln)
            if m:
                return width(ln[:m.end() - 1])
        return None
    try:
        scr = poll(tm, lambda s: pid_end(s, r.pid) and pid_end(s, c.pid), "the server lines of pids %d and %d"
                   % (r.pid, c.pid), 10, err)
        check(pid_end(scr, r.pid) == pid_end(scr, c.pid), "the pid of redis-server %d ends at column %d, "
              "that of the UTF-8-named server %d at %d: %s" % (r.pid, pid_end(scr, r.pid), c.pid,
                                                               pid_end(scr, c.pid), brief(scr)))
        quit_ok(tm, err)
    finally:
        tm.kill()
        c.stdin.close()



def test_tui_exited_keeps_verdict():
    """A client opening a connection every 100 ms is LEAK (window 4 s); it
    is then killed (SIGKILL) holding them. Its exited row keeps the verdict
    it had, LEAK, and its cmdline says it exited with them leaked; the
    drill-down says LEAK (exited) with the rule that fired. The row read
    "exited" and the drill-down "none fired": the one process that most
    needed its verdict lost it as it left."""
    r = Redis()
    lp = spawn([sys.executable, "-u", harness.CLIENT, "--name", "rclt-tui-xleak", "hold", "--target",
                "127.0.0.1:%d:400" % r.port, "--interval-ms", "100"], "client hold")
    leak = lp.pid
    tm, _pid, err = start_rcleak(["-p", str(r.port), "-i", "0.3", "--window", "4"])
    try:
        poll(tm, lambda s: ("LEAK", leak, "rclt-tui-xleak") in table(s), "pid %d judged LEAK" % leak, VERDICT_S,
             err)
        os.kill(leak, signal.SIGKILL)
        lp.wait(10)
        scr = poll(tm, lambda s: re.search(r"^\S+\s+%d\s.*\(exited, \d+ leaked\)" % leak, s, re.M),
                   "pid %d's row to say it exited" % leak, 10, err)
        row = [ln for ln in scr.split("\n") if re.match(r"^\S+\s+%d\s" % leak, ln)][0]
        check(row.split()[0] == "LEAK", "pid %d, LEAK when it was killed: its exited row reads %r"
              % (leak, row))
        tm.keys("/")
        tm.literal(str(leak))
        tm.keys("Enter")
        poll(tm, lambda s: [p for _, p, _ in table(s)] == [leak], "only the row of pid %d" % leak, 10, err)
        tm.keys("Enter")
        scr = poll(tm, lambda s: "PID %d" % leak in s and "RULE" in s, "the drill-down of pid %d" % leak, 10, err)
        m = re.search(r"VERDICT (.*?)\s{2,}|VERDICT (.*)$", scr, re.M)
        verdict = (m.group(1) or m.group(2)).strip() if m else None
        rule = re.search(r"RULE (.*)", scr)
        check(verdict == "LEAK (exited)" and rule and "open +" in rule.group(1),
              "the drill-down of pid %d, LEAK when it was killed, says VERDICT %r, RULE %r"
              % (leak, verdict, rule.group(1).strip() if rule else None))
        quit_ok(tm, err)
    finally:
        tm.kill()


_UTF8_CLIENT = r"""
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, sys.argv[2].encode(), 0, 0, 0)
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("HELD", flush=True)
sys.stdin.read()
"""


def test_tui_filter_utf8():
    """Two clients of one Redis, named "café-名前" (UTF-8: 12 bytes, 9
    columns) and "cafe-plain". '/' and "É-名" typed (tmux sends UTF-8): the
    footer shows the text as typed, the cursor right after it (by columns);
    Enter leaves the UTF-8-named client's row alone (É matches é, as E
    matches e), and the footer's "Filter: É-名" ends at the line's end, as
    "Sort:" does without a filter. The filter took ASCII only: the UTF-8
    bytes were dropped as they came, and nothing typed could pick out a
    process whose name is not ASCII."""
    import unicodedata
    r = Redis()
    kids = []
    for name in ("café-名前", "cafe-plain"):
        k = spawn([sys.executable, "-c", _UTF8_CLIENT, str(r.port), name], "client " + name)
        check(k.stdout.readline().strip() == b"HELD", "client %s did not start" % name)
        kids.append(k)
    utf, plain = kids
    tm, _pid, err = start_rcleak(["-p", str(r.port), "-i", "0.3"], env="LANG=C.UTF-8 LC_ALL=C.UTF-8", x=120,
                                 y=20)

    def width(text):
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    try:
        poll(tm, lambda s: {utf.pid, plain.pid} <= {p for _, p, _ in table(s)},
             "the rows of pids %d and %d" % (utf.pid, plain.pid), 10, err)
        tm.keys("/")
        tm.literal("É-名")
        scr = poll(tm, lambda s: "É-名" in footer(s), "the typed filter text in the footer", err=err)
        x = int(tm.run("display-message", "-p", "-t", "=0:", "#{cursor_x}").strip())
        last = scr.rstrip("\n").split("\n")[-1]
        want = width(last[:last.index("É-名") + len("É-名")])
        check(x == want, "the cursor at column %d, not after the text typed (column %d): %r" % (x, want, last))
        tm.keys("Enter")
        scr = poll(tm, lambda s: [p for _, p, _ in table(s)] == [utf.pid], "only the row of pid %d" % utf.pid,
                   10, err)
        last = [ln for ln in scr.split("\n") if ln.strip()][-1]
        check("Filter: É-名" in last and width(last.rstrip()) == 119,
              "the footer with the filter applied ends at column %d of 120 (a space after Sort: as without a "
              "filter): %r" % (width(last.rstrip()), last))
        quit_ok(tm, err)
    finally:
        tm.kill()
        for k in kids:
            k.stdin.close()

if __name__ == "__main__":
    # Until runner.MODULES lists this file: run its tests with the runner.
    import runner
    runner.MODULES = ["test_tui"]
    sys.exit(runner.main(sys.argv[1:]))
