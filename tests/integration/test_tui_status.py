"""The interactive view's header and server lines (user/tui_status.c),
driven through tmux as in test_tui.py: the ports it names, the host and
kernel of a replay, a server's maxclients and ETA when they are guesses,
the nofile that capped a server.  Ground truth is CONFIG GET, the
server's limits in /proc, and the host `report` names.

Run alone:  RCLEAK=$PWD/rcleak python3 tests/integration/runner.py -k tui_
"""
import os
import re
import shutil
import subprocess

import harness
from harness import Client, Redis, Skip, check, free_port, mkdtemp, proc_nofile
from tui_harness import bg_client, brief, exit_status, poll, quit_ok, start_rcleak, start_replay

TESTS = ["test_tui_many_ports", "test_tui_replay_host", "test_tui_maxclients_guess", "test_tui_eta_guess",
         "test_tui_nofile_raised", "test_tui_ports_hint"]


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
    tm = start_replay(path)
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
    tm = start_replay(cut, ["--speed", "3"])
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


def _redis_listens():
    """The ports redis-server listens on (ss -tlnpH), sorted."""
    out = subprocess.run(["ss", "-tlnpH"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         universal_newlines=True).stdout
    return sorted({int(ln.split()[3].rsplit(":", 1)[1]) for ln in out.splitlines()
                   if '"redis-server"' in ln})


def _hint(ports):
    if not ports:
        return "no redis-server listens here; another port? quit, then rcleak -p PORT"
    ps = ",".join(map(str, ports))
    return "redis-server listens here on %s: quit, then rcleak -p %s" % (ps, ps)


def test_tui_ports_hint():
    """The TUI on a port nothing uses: the line rcleak prints on stderr at
    the start (the ports redis-server listens on here) was under the screen,
    and the empty table said only that there were no connections yet. The
    table says it, as ss shows redis-server's ports, follows a redis-server
    started meanwhile, and stops once one listens on the watched port (the
    header shows that server then). A replay's empty table does not say it:
    this host's ports tell nothing of the host that recorded."""
    watched = free_port()
    tm, rpid, err = start_rcleak(["-p", str(watched), "-i", "0.3"])
    try:
        # ss read again at every look: a redis-server of an earlier test
        # may still be on its way out
        scr = poll(tm, lambda s: _hint(_redis_listens()) in s,
                   "the hint as ss tells it now: %r" % _hint(_redis_listens()), 10, err)
        check("no connections on the watched ports yet" in scr,
              "the empty table's line is missing above the hint: %s" % brief(scr))
        r = Redis()
        check(r.port != watched, "the test's redis-server took the watched port")
        want = _hint(_redis_listens())
        check(str(r.port) in want, "ss does not show redis-server on port %d: %s" % (r.port, want))
        poll(tm, lambda s: str(r.port) in s and _hint(_redis_listens()) in s,
             "the hint %r after a redis-server started on %d" % (want, r.port), 15, err)
        # a replay's empty table: this host's redis-server (r) says nothing
        # of the host the capture was made on
        path = os.path.join(mkdtemp("rcleak-tui-hint-"), "cap.rcl")
        rec = subprocess.run([harness.RCLEAK, "record", "-w", path, "-p", str(watched), "-n", "3", "-i", "0.3"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
        check(rec.returncode == 0, "record of port %d: exit %d %s" % (watched, rec.returncode, rec.stderr))
        rp = start_replay(path, ["--speed", "0.2"])
        try:
            scr = poll(rp, lambda s: "no connections on the watched ports yet" in s,
                       "the replay's empty table", 10)
            check("listens here" not in scr, "the replay's empty table names this host's redis-server: %s"
                  % brief(scr))
            rp.keys("q")
        finally:
            rp.kill()
        Redis(port=watched)
        poll(tm, lambda s: "listens" not in s and "127.0.0.1:%d" % watched in s,
             "the server line of port %d, and no hint" % watched, 10, err)
        quit_ok(tm, err)
    finally:
        tm.kill()
