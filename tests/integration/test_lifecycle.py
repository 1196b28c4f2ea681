"""Signals and BPF cleanup, JSON shape, -n/-d, --plain, hook tiers, filters,
and a final check that the suite left nothing behind."""
import json
import os
import signal
import subprocess
import sys
import time

import harness
from harness import (TIERS, Client, Rcleak, Redis, Skip, check, expect_row, fields,
                     free_port, have_bpftool, leaked_progs, prog_holders, proc_row,
                     rcl_progs, run_rcleak, spawn, ss_count)
from record_harness import READ_NR, hold_many, stop_in_read

TESTS = ["test_json_shape", "test_json_escaping", "test_json_cmdline_cut", "test_count_and_duration",
         "test_duration_last_line", "test_plain",
         "test_plain_verdict", "test_plain_limit_guess", "test_plain_server_eta",
         "test_filter_pid", "test_filter_comm", "test_filter_comm_thread", "test_early_signal",
         "test_live_nohup", "test_pid_namespace_refused", "test_live_ts_before_walk",
         "test_json_cmdline_unknown"]
FINAL = ["test_no_leftovers"]


# ---------------------------------------------------------------------------
# BPF programs after SIGINT / SIGTERM / SIGHUP (exit 0) and SIGKILL
# ---------------------------------------------------------------------------
def _held_by_session(sid):
    """rcl_ programs held (prog or link fd) by a process of session sid."""
    progs = rcl_progs()
    holders = prog_holders()
    return {i: n for i, n in progs.items()
            if any(harness._sid(h) == sid for h in holders.get(i, ()))}


def _make_signal_test(sig):
    def t():
        if not have_bpftool():
            raise Skip("bpftool not installed")
        before = rcl_progs()
        rc = Rcleak(["-p", str(free_port())])
        mine = _held_by_session(rc.pid)
        check(mine, "no BPF program named rcl_* is held by the running rcleak "
              "(bpftool prog list shows %s)" % sorted(set(rcl_progs().values())))
        rc.skip_to_now()
        rc.signal(sig)
        code = rc.wait_exit(15)
        want = -signal.SIGKILL if sig == signal.SIGKILL else 0
        check(code == want, "exit status after %s: %s, expected %s (stderr %r)"
              % (sig.name, code, want, rc.stderr().strip()[-300:]))
        if sig != signal.SIGKILL:
            rest = rc.out.text().splitlines()
            for line in rest:
                try:
                    json.loads(line)
                except ValueError:
                    check(False, "non-JSON stdout line after %s: %r" % (sig.name, line[:200]))
        leaked = leaked_progs(before, our_sids={rc.pid}, timeout=5)
        check(not leaked, "after %s, BPF programs still loaded: %s (ids %s)"
              % (sig.name, sorted(set(leaked.values())), sorted(leaked)))
    return t


def PARAM_TESTS():
    return [("cleanup_" + s.name.lower(), _make_signal_test(s), ("root", "rcleak"))
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)] + \
           [("hooks_" + t, _make_tier_test(t), ("root", "rcleak")) for t in TIERS] + \
           [(n[len("test_"):], globals()[n], ("root",)) for n in FINAL]


# ---------------------------------------------------------------------------
# JSON shape
# ---------------------------------------------------------------------------
NUM = (int, float)
PROC_FIELDS = {
    "pid": int, "comm": str, "role": str, "open": int, "established": int,
    "close_wait": int, "syn_sent": int, "shared": int, "opened": int, "closed": int,
    "open_rate": NUM, "close_rate": NUM, "growth_per_min": NUM, "fds": (int, type(None)),
    "nofile_soft": (int, type(None)), "nofile_hard": (int, type(None)),
    "fd_headroom": (int, type(None)), "exited": bool,
}
SERVER_FIELDS = {
    "pid": int, "comm": str, "ports": list, "clients": int,
    "nofile_soft": (int, type(None)), "maxclients": (int, type(None)),
    "effective_limit": (int, type(None)), "headroom": (int, type(None)),
}


def _typeok(v, t):
    if isinstance(v, bool) and t is not bool and (t is int or (isinstance(t, tuple) and bool not in t)):
        return False
    return isinstance(v, t)


def _check_obj(obj):
    for k, t in (("ts", NUM), ("interval_s", NUM), ("hooks", dict), ("lost_events", int),
                 ("repairs", int), ("servers", list), ("processes", list)):
        check(k in obj, "top-level key %r missing: %s" % (k, sorted(obj)))
        check(_typeok(obj[k], t), "top-level %r has type %s" % (k, type(obj[k]).__name__))
    check(obj["interval_s"] == float(harness.INTERVAL),
          "interval_s=%r, expected %s (-i %s)" % (obj["interval_s"], harness.INTERVAL, harness.INTERVAL))
    check(obj["hooks"].get("lifecycle") in TIERS, "hooks.lifecycle=%r" % obj["hooks"].get("lifecycle"))
    check(obj["lost_events"] >= 0 and obj["repairs"] >= 0, "negative lost_events/repairs")
    for p in obj["processes"]:
        for k, t in PROC_FIELDS.items():
            check(k in p, "process row lacks %r: %s" % (k, p))
            check(_typeok(p[k], t), "process %s: %r=%r has the wrong type" % (p.get("pid"), k, p[k]))
        check("cmdline" in p, "process row lacks 'cmdline'")
        check(p["role"] in ("client", "server"), "role=%r" % p["role"])
        check(p["established"] + p["close_wait"] + p["syn_sent"] <= p["open"],
              "pid %s: established+close_wait+syn_sent > open: %s" % (
                  p["pid"], fields(p, "open", "established", "close_wait", "syn_sent")))
        check(0 <= p["shared"] <= p["open"], "pid %s: %s" % (p["pid"], fields(p, "shared", "open")))
        if p["nofile_soft"] is not None and not p["exited"]:
            check(p["fd_headroom"] == p["nofile_soft"] - p["fds"],
                  "pid %s: fd_headroom != nofile_soft - fds: %s" % (
                      p["pid"], fields(p, "fd_headroom", "nofile_soft", "fds")))
    for s in obj["servers"]:
        for k, t in SERVER_FIELDS.items():
            check(k in s, "server row lacks %r: %s" % (k, s))
            check(_typeok(s[k], t), "server %s: %r=%r has the wrong type" % (s.get("pid"), k, s[k]))
        check("maxclients_source" in s, "server row lacks 'maxclients_source'")
        check(all(isinstance(x, int) for x in s["ports"]), "server ports %r" % s["ports"])
        if s["effective_limit"] is not None:
            check(s["headroom"] == s["effective_limit"] - s["clients"],
                  "server %s: headroom != effective_limit - clients: %s" % (
                      s["pid"], fields(s, "headroom", "effective_limit", "clients")))


def test_json_shape():
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-json")
    rc = Rcleak(["-p", str(r.port)])
    objs = [rc.first, rc.line(), rc.line()]
    for o in objs:
        _check_obj(o)
    ts = [o["ts"] for o in objs]
    check(ts[0] < ts[1] < ts[2], "ts not increasing: %s" % ts)
    check(ts[0] > 1.5e9, "ts %r is not a unix time in seconds" % ts[0])
    row = proc_row(objs[-1], c.pid)
    check(row is not None and row["open"] == 3, "client row: %s" % fields(row, "open"))
    srv = [s for s in objs[-1]["servers"] if s["pid"] == r.pid]
    check(srv and srv[0]["ports"] == [r.port], "server row: %s" % srv)


def test_json_escaping():
    """A comm with a quote, backslash and control byte; a cmdline with a newline, an
    invalid UTF-8 byte and many multi-byte characters: every line stays valid
    UTF-8 JSON and comm round-trips."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    name = 'q"b\\s\x01z'
    tag = "nl\nff\udcff" + "\u00e9" * 70      # \udcff: the raw byte 0xff in argv
    c = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name=name, tag=tag)
    with open("/proc/%d/comm" % c.pid, "rb") as f:
        comm = f.read().rstrip(b"\n").decode("utf-8", "surrogateescape")
    check(comm == name, "ground truth: comm is %r" % comm)
    expect_row(rc, c.pid, {"open": 2}, what="client with odd comm")
    with rc.out.cv:
        raws = list(rc.out.raw)
    for raw in raws:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            check(False, "stdout line is not valid UTF-8 (%s) near %r" % (e.reason, raw[max(0, e.start - 30):e.end + 10]))
        try:
            obj = json.loads(text)
        except ValueError as e:
            check(False, "stdout line is not valid JSON (%s): %r" % (e, text[:200]))
    row = proc_row(obj, c.pid)
    check(row is not None and row.get("comm") == name,
          "comm observed %r expected %r" % (row and row.get("comm"), name))
    cmd = row.get("cmdline")
    check(isinstance(cmd, str), "cmdline %r" % (cmd,))
    # valid UTF-8 stays itself; the one raw byte 0xff is \u00ff, which no
    # valid character is written as (the bytes can be told back)
    check("ff\u00ff" + "\u00e9" * 10 in cmd,
          "cmdline %r does not keep its UTF-8 (expected 'ff', U+00FF for the raw byte, then "
          "e-acute)" % cmd[:160])


def test_json_cmdline_cut():
    """The command line is cut at 124 bytes and "..." added: only when there
    was more (one of exactly 127 bytes was whole, yet marked cut), and never
    inside a UTF-8 character (its first bytes showed as \u00e5\u0090 and
    '??': bytes the process never had)."""
    import sys
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    target = ["hold", "--target", "127.0.0.1:%d:1" % r.port]
    fixed = [sys.executable, "-u", harness.CLIENT, "--tag", ""] + target
    whole = "x" * (127 - (len(b"\0".join(a.encode() for a in fixed))))
    clients = [Client("hold", target[1:], tag=whole),
               Client("hold", target[1:], tag="a" + "\u540d" * 60)]
    for c in clients:
        with open("/proc/%d/cmdline" % c.pid, "rb") as f:
            truth = f.read().rstrip(b"\0").replace(b"\0", b" ").decode()
        row = expect_row(rc, c.pid, {"open": 1}, what="client with a long command line")
        cmd = proc_row(row, c.pid)["cmdline"]
        if len(truth.encode()) <= 127:
            check(cmd == truth, "a whole command line of %d bytes shows as %r, it is %r"
                  % (len(truth.encode()), cmd, truth))
        else:
            check(cmd.endswith("...") and truth.startswith(cmd[:-3]) and len(cmd.encode()) <= 127,
                  "a command line of %d bytes shows as %r, which is not its start and '...': %r"
                  % (len(truth.encode()), cmd, truth))


def _early(sig, delay):
    def t():
        import time
        import subprocess
        before = rcl_progs() if have_bpftool() else None
        p = harness.spawn([harness.RCLEAK, "--json", "-p", str(free_port())], "rcleak early",
                          stdin=subprocess.DEVNULL)
        time.sleep(delay)
        os.kill(p.pid, sig)
        try:
            _out, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            harness.stop(p, signal.SIGKILL)
            check(False, "rcleak did not exit within 15s of %s at %.0f ms" % (sig.name, delay * 1000))
        check(p.returncode == 0, "%s %.0f ms after start: exit %s, expected 0 (stderr %r)"
              % (sig.name, delay * 1000, p.returncode, err.decode("utf-8", "replace")[-200:]))
        if before is not None:
            leaked = leaked_progs(before, our_sids={p.pid}, timeout=5)
            check(not leaked, "%s %.0f ms after start left BPF programs: %s"
                  % (sig.name, delay * 1000, sorted(set(leaked.values()))))
    return t


def test_live_nohup():
    """`nohup rcleak --json ... > log &`: the live view started with SIGHUP
    ignored outlives its terminal, as nohup means; it took SIGHUP as a stop
    signal anyway, and a logout ended the log. Sent SIGHUP, it goes on
    printing; SIGINT still stops it, exit 0."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)], wrap=("nohup",))
    rc.proc.send_signal(signal.SIGHUP)
    rc.line()
    rc.line()
    check(rc.proc.poll() is None, "rcleak under nohup stopped at SIGHUP: exit %r" % rc.proc.poll())
    rc.proc.send_signal(signal.SIGINT)
    code = rc.proc.wait(20)
    check(code == 0, "rcleak under nohup, stopped by SIGINT: exit %r; stderr: %s" % (code, rc.stderr()[-300:]))


def test_pid_namespace_refused():
    """The live view and record in a PID namespace of their own (a container
    without --pid=host) showed no process at all while a client held 3
    connections (the kernel's pids are the host's; /proc there has others),
    and said nothing. Now each says so in one line and exits 1, as run does
    (test_run_pid_namespace); doctor's verdict says why it cannot run."""
    import shutil
    if not shutil.which("unshare"):
        raise Skip("unshare not installed")
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-pidns")
    check(ss_count(c.pid, [r.port]) == 3, "ground truth: ss does not show the client's 3 connections")
    d = harness.mkdtemp("rcleak-pidns-")
    pidns = ["unshare", "--pid", "--fork", "--mount-proc", "--"]
    for what, argv in (("the live view", [harness.RCLEAK, "-p", str(r.port), "--json", "-n", "1"]),
                       ("record", [harness.RCLEAK, "record", "-w", os.path.join(d, "t.rcl"), "-p", str(r.port),
                                   "-n", "1"])):
        p = subprocess.run(pidns + argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        check(p.returncode == 1 and not p.stdout.strip() and len(lines) == 1 and "PID namespace" in lines[0],
              "%s in a PID namespace of its own: exit %r (expected 1), stdout %r, stderr %r"
              % (what, p.returncode, p.stdout[:300], p.stderr[-300:]))
    check(not os.path.exists(os.path.join(d, "t.rcl")), "record in a PID namespace of its own made its file")
    p = subprocess.run(pidns + [harness.RCLEAK, "doctor"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 1 and "PID namespace" in p.stdout,
          "doctor in a PID namespace of its own: exit %r, stdout %r" % (p.returncode, p.stdout[-400:]))


def test_json_cmdline_unknown():
    """A process gone before rcleak could read its command line (it
    connected and exited while rcleak was stopped) has "cmdline": null in
    the live --json, as README says and run's --json gives; it was ""."""
    r = Redis()
    rc = Rcleak(["-p", str(r.port)])
    os.kill(rc.pid, signal.SIGSTOP)
    try:
        p = subprocess.run([sys.executable, "-c", "import socket, sys\n"
                            "s = [socket.create_connection(('127.0.0.1', %d)) for _ in range(2)]\n"
                            "print(__import__('os').getpid())" % r.port],
                           capture_output=True, text=True, timeout=30)
    finally:
        os.kill(rc.pid, signal.SIGCONT)
    check(p.returncode == 0, "the client: %s" % p.stderr[-300:])
    pid = int(p.stdout.strip())
    row = None
    for _ in range(10):
        row = next((x for x in rc.line()["processes"] if x["pid"] == pid), None)
        if row is not None:
            break
    rc.proc.send_signal(signal.SIGINT)
    rc.proc.wait(20)
    check(row is not None, "no row for the client pid %d, which connected twice and exited" % pid)
    check(row["cmdline"] is None, "the row of pid %d, gone before rcleak read it: cmdline %r, expected null"
          % (pid, row["cmdline"]))


def test_live_ts_before_walk():
    """A line's ts is the wall clock read with its refresh's time, before the
    walk. The live view stopped inside a walk's read() for a second prints
    that refresh with a ts from before the stop; it read the wall clock
    after the walk, so ts was the walk's duration late (up to a second at
    100k connections), here after the stop."""
    nr = READ_NR.get(os.uname().machine)
    if nr is None:
        raise Skip("read(2)'s number on %s is not known to the test" % os.uname().machine)
    r = Redis()
    hold_many(r.port, 2, 1000)  # a walk of 2000 connections: some milliseconds in read()
    rc = Rcleak(["-p", str(r.port), "-i", "0.05"])  # often in a walk: a stop lands in one
    rc.line()
    try:
        inside = stop_in_read(rc.pid, nr)
        t_stop = time.time()
        time.sleep(0.3)  # what it printed before the stop reaches the reader
        printed = len(rc.out.lines)
        time.sleep(0.7)
    finally:
        os.kill(rc.pid, signal.SIGCONT)
    check(inside, "the live view was never seen stopped inside a read() of its walk")
    raw = rc.out.wait_line(printed, 10)
    check(raw is not None, "no line after the stop: rcleak rc=%s" % rc.proc.poll())
    ts = json.loads(raw)["ts"]
    rc.proc.send_signal(signal.SIGINT)
    code = rc.proc.wait(20)
    check(ts < t_stop, "the refresh stopped in its walk at %.3f printed ts %.3f (%.3f s after the stop)"
          % (t_stop, ts, ts - t_stop))
    check(code == 0, "rcleak stopped by SIGINT: exit %r" % code)


def test_early_signal():
    """SIGINT/SIGTERM while rcleak is still loading and attaching: exit 0, nothing left."""
    for delay in (0.01, 0.02, 0.05):
        for sig in (signal.SIGINT, signal.SIGTERM):
            _early(sig, delay)()


def test_count_and_duration():
    port = str(free_port())
    rc, out, err = run_rcleak(["--json", "-n", "3", "-i", "0.2", "-p", port], timeout=30)
    check(rc == 0, "-n 3: exit %s (stderr %r)" % (rc, err[-300:]))
    lines = out.splitlines()
    check(len(lines) == 3, "-n 3 printed %d lines, expected 3" % len(lines))
    for l in lines:
        json.loads(l)
    rc, out, err = run_rcleak(["--json", "-d", "1", "-i", "0.3", "-p", port], timeout=30)
    check(rc == 0, "-d 1: exit %s (stderr %r)" % (rc, err[-300:]))
    lines = out.splitlines()
    check(len(lines) >= 1, "-d 1 printed no JSON line")
    for l in lines:
        json.loads(l)


def test_duration_last_line():
    """-d 2 -i 0.5 prints the refreshes at 0, 0.5, 1, 1.5 and 2 s: five lines.
    When one refresh took longer than the next (a reconciliation, here at
    1.5 s), the sleep before the last ended early by the difference, the
    duration was not over yet, and a sixth line came a few ms later: its
    rates over those ms."""
    port = str(free_port())
    for _ in range(3):
        rc, out, err = run_rcleak(["--json", "-d", "2", "-i", "0.5", "--reconcile", "1.5",
                                   "-p", port], timeout=30)
        check(rc == 0, "-d 2: exit %s (stderr %r)" % (rc, err[-300:]))
        ups = [json.loads(l)["uptime_s"] for l in out.splitlines()]
        # a refresh late by more than -i skips a tick (stall_skips_ticks):
        # never a line twice at one time, the last at the end of -d
        check(ups and ups[-1] == 2.0 and len(set(ups)) == len(ups),
              "-d 2 -i 0.5 printed lines at uptime_s %s, expected 0, 0.5, 1, 1.5 and 2" % ups)


def test_plain():
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:4" % r.port], name="rclt-plain")
    rc, out, err = run_rcleak(["--plain", "-n", "2", "-i", "0.3", "-p", str(r.port)], timeout=30)
    check(rc == 0, "--plain -n 2: exit %s (stderr %r)" % (rc, err[-300:]))
    check(out.strip(), "--plain printed nothing")
    check("\x1b" not in out, "--plain output contains terminal escape sequences")
    check(str(c.pid) in out, "--plain output does not list the client pid %d" % c.pid)


def test_plain_limit_guess():
    """--plain's server table: a redis-server started with --maxclients 10,
    which rcleak cannot read (redis rewrites its command line), has its
    MAXCLIENTS marked '10000?', and so are the LIMIT and HEADROOM reckoned
    from it; they read 10000 and 9997 as if known, where CONFIG GET says 10
    and 7 are left."""
    r = Redis(extra=["--maxclients", "10"])
    truth = int(r.config_get("maxclients"))
    check(truth == 10, "ground truth: CONFIG GET maxclients is %d, expected 10" % truth)
    Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-plainlim")
    rc, out, err = run_rcleak(["--plain", "-n", "1", "-p", str(r.port)], timeout=30)
    check(rc == 0, "--plain -n 1: exit %s (stderr %r)" % (rc, err[-300:]))
    lines = out.splitlines()
    head = [i for i, l in enumerate(lines) if l.startswith("SERVER ")]
    row = [l for l in lines if l.startswith("%d " % r.pid)][:1]
    check(head and row, "no server table with pid %d: %r" % (r.pid, out[:600]))
    cols = dict(zip(lines[head[0]].split(), row[0].split()))
    check(cols["CLIENTS"] == "3", "server row %s, ss-side truth is 3 clients" % cols)
    for name, known in (("LIMIT", truth), ("HEADROOM", truth - 3)):
        check(cols[name] == str(known) or cols[name].endswith("?"),
              "%s %s is shown as known; CONFIG GET maxclients %d gives %d (row %s)"
              % (name, cols[name], truth, known, row[0]))
    # the mark alone read as a limit known to a reader who had not read the
    # man page (HEADROOM 9997? of a server 7 clients from full): a line under
    # the servers says what it means and what tells the real one
    notes = [l for l in lines[head[0] + 1:] if l.strip().startswith("?:")]
    check(notes and "10000 assumed" in notes[0] and "--ask-redis" in notes[0],
          "no line under the server table says what '?' means: %r" % out[:800])
    rc, out, err = run_rcleak(["--plain", "-n", "1", "-p", str(r.port), "--maxclients", "10"], timeout=30)
    check(rc == 0 and "10000 assumed" not in out, "--maxclients 10: exit %s, the '?' line still says "
          "the default is assumed: %r" % (rc, out[:800]))


def test_plain_server_eta():
    """The plain server table gives each server's growth and its time to
    the limit, as --json (growth_per_min, eta_s) and the TUI do: it had
    only CLIENTS and HEADROOM, so an SRE reading `rcleak | tee` could not
    tell a server filling in a minute from one that is still. A client
    opening 10 connections a second (600/min, ss) against maxclients 400
    (--ask-redis): GROW/min near 600, ETA near HEADROOM at that rate."""
    import re
    r = Redis(extra=["--maxclients", "400"])
    p = spawn([harness.RCLEAK, "--plain", "-n", "14", "-i", "0.5", "--window", "4", "--ask-redis",
               "-p", str(r.port)], "rcleak --plain")
    c = Client("hold", ["--target", "127.0.0.1:%d:300" % r.port, "--interval-ms", "100"],
               name="rclt-plaineta")
    out, err = p.communicate(timeout=60)
    check(p.returncode == 0, "--plain -n 14: exit %s (stderr %r)" % (p.returncode, err[-300:]))
    lines = out.decode().splitlines()
    heads = [i for i, l in enumerate(lines) if l.startswith("SERVER ")]
    check(heads, "no server table: %r" % lines[:5])
    cols = dict(zip(lines[heads[-1]].split(), lines[heads[-1] + 1].split()))
    check("GROW/min" in cols and "ETA" in cols, "the server table has no GROW/min or ETA: %r"
          % lines[heads[-1]:heads[-1] + 2])
    grow = float(cols["GROW/min"])
    m = re.match(r"^(?:(\d+)m)?(\d+)s$", cols["ETA"])
    check(400 <= grow <= 800 and m, "a client at 600/min (ss: %d held): GROW/min %s, ETA %s"
          % (ss_count(c.pid, [r.port]), cols["GROW/min"], cols["ETA"]))
    eta = int(m.group(1) or 0) * 60 + int(m.group(2))
    want = int(cols["HEADROOM"]) / (grow / 60)
    check(abs(eta - want) <= max(2, want * 0.1), "ETA %ss, expected HEADROOM %s at %s/min: %.0fs"
          % (eta, cols["HEADROOM"], grow, want))
    c.exit()


def test_plain_verdict():
    """--plain (the view when stdout is not a terminal) gives each row its
    verdict, and the rule's numbers under a row that is not ok: a client
    that opens 150 connections while rcleak watches and closes none (ss)
    is LEAK there; the redis-server holding them is not."""
    r = Redis()
    p = spawn([harness.RCLEAK, "--plain", "-n", "14", "-i", "0.5", "--window", "2",
               "-p", str(r.port)], "rcleak --plain")
    c = Client("hold", ["--target", "127.0.0.1:%d:150" % r.port, "--interval-ms", "25"],
               name="rclt-plainleak")
    truth = ss_count(c.pid, [r.port])
    check(truth == 150, "ground truth: ss shows %d sockets for the client, expected 150" % truth)
    out, err = p.communicate(timeout=60)
    check(p.returncode == 0, "--plain -n 14: exit %s (stderr %r)" % (p.returncode, err[-300:]))
    out = out.decode()
    lines = out.splitlines()
    head = [l_ for l_ in lines if l_.split()[:1] == ["PID"]]
    check(head and head[0].split()[3] == "VERDICT",
          "no VERDICT column in the table header: %r" % (head[:1],))
    rows = [(i, l_.split()) for i, l_ in enumerate(lines) if l_.split()[:1] == [str(c.pid)]]
    leak = [i for i, f in rows if f[3] == "LEAK"]
    check(leak, "the client's rows never say LEAK: %r" % [" ".join(f[:5]) for _, f in rows])
    rule = lines[leak[0] + 1] if leak[0] + 1 < len(lines) else ""
    check(rule.split()[:1] == ["LEAK:"] and "/min" in rule,
          "no rule under the client's LEAK row: %r" % rule)
    srv = [f[3] for f in (l_.split() for l_ in lines) if f[:1] == [str(r.pid)] and
           f[2:3] == ["server"]]
    check(srv and all(v == "ok" for v in srv), "redis-server verdicts %r, expected ok" % srv)


# ---------------------------------------------------------------------------
# hook tiers
# ---------------------------------------------------------------------------
def _kernel_iters():
    """Whether this kernel's BTF names the contexts of the task_file and tcp
    BPF iterators (read apart from rcleak): None without readable BTF."""
    try:
        with open("/sys/kernel/btf/vmlinux", "rb") as f:
            btf = f.read()
    except OSError:
        return None
    return b"\0bpf_iter__task_file\0" in btf and b"\0bpf_iter__tcp\0" in btf


def _make_tier_test(tier):
    def t():
        r = Redis()
        pre = Client("hold", ["--target", "127.0.0.1:%d:5" % r.port], name="rclt-pre")
        rc = Rcleak(["-p", str(r.port), "--hooks", tier])
        check(rc.first["hooks"].get("lifecycle") == tier,
              "--hooks %s: hooks=%r" % (tier, rc.first["hooks"]))
        # the walks fall back to /proc where the kernel lacks iterators; on
        # one that has them, the fallback means a walk program was refused
        # (and every count test would still pass on /proc)
        if _kernel_iters():
            check(rc.first["hooks"].get("holders") == "iter/task_file" and
                  rc.first["hooks"].get("snapshot") == "iter/tcp",
                  "--hooks %s: the kernel has BPF iterators, rcleak walks with %r (run rcleak -v to "
                  "see why a walk program was refused)" % (tier, rc.first["hooks"]))
        row = proc_row(rc.first, pre.pid)
        check(row is not None and row["open"] == 5,
              "--hooks %s first line: pre-existing client %s, expected open=5" % (tier, fields(row, "open")))
        new = Client("hold", ["--target", "[::1]:%d:7" % r.port], name="rclt-new")
        expect_row(rc, new.pid, {"open": 7, "opened": 7}, what="--hooks %s new client" % tier)
        pre.cmd("close 2", "CLOSED")
        expect_row(rc, pre.pid, {"open": 3, "closed": 2}, what="--hooks %s after close 2" % tier)
        new.exit()
        expect_row(rc, new.pid, {"open": 0, "closed": 7, "exited": True},
                   what="--hooks %s after the new client exited" % tier)
    return t


# ---------------------------------------------------------------------------
# --pid / --comm filters
# ---------------------------------------------------------------------------
def _filter_test(args_of, keep):
    r = Redis()
    a = Client("hold", ["--target", "127.0.0.1:%d:5" % r.port], name="rclt-fa")
    b = Client("hold", ["--target", "127.0.0.1:%d:7" % r.port], name="rclt-fb")
    target = a if keep == "a" else b
    rc = Rcleak(["-p", str(r.port)] + args_of(a, b))
    expect_row(rc, target.pid, {"open": 5 if keep == "a" else 7}, what="filtered row")
    for _ in range(2):
        obj = rc.line()
        others = [(p.get("pid"), p.get("comm")) for p in obj["processes"] if p.get("pid") != target.pid]
        check(not others, "filter %s: other processes listed: %s" % (args_of(a, b), others[:5]))


def test_filter_pid():
    _filter_test(lambda a, b: ["--pid", str(a.pid)], "a")


def test_filter_comm():
    _filter_test(lambda a, b: ["--comm", "rclt-fb"], "b")


_THREAD_CLIENT = r"""
import ctypes, socket, sys, threading
libc = ctypes.CDLL(None)
libc.prctl(15, b"rclt-thmain", 0, 0, 0)
def work():
    libc.prctl(15, b"rclt-worker", 0, 0, 0)    # this thread's name only
    for _ in range(int(sys.argv[2])):
        socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()
t = threading.Thread(target=work)
t.start()
t.join()
print("DONE", flush=True)
sys.stdin.read()
"""


def test_filter_comm_thread():
    """A process whose connections a named thread makes and closes (a pool
    worker: Java's, tokio's) is named as ps names it, by its main thread:
    its row said the worker thread's name, and --comm with the process's
    name, as ps -o comm= shows it, did not list it."""
    import sys
    r = Redis()
    rc = Rcleak(["-p", str(r.port), "--comm", "rclt-thmain"])
    c = spawn([sys.executable, "-c", _THREAD_CLIENT, str(r.port), "4"],
              "client connecting from a named thread")
    try:
        check(c.stdout.readline().strip() == b"DONE", "client did not connect")
        with open("/proc/%d/comm" % c.pid) as f:
            truth = f.read().rstrip("\n")
        check(truth == "rclt-thmain", "ground truth: /proc/%d/comm is %r" % (c.pid, truth))
        expect_row(rc, c.pid, {"opened": 4, "closed": 4, "comm": truth},
                   what="--comm %s (as ps -o comm= shows it): the row of pid %d, whose worker "
                   "thread made 4 connections" % (truth, c.pid))
    finally:
        rc.close()
        c.stdin.close()
        c.wait(10)


# ---------------------------------------------------------------------------
# final: nothing left behind by the whole suite
# ---------------------------------------------------------------------------
def test_no_leftovers():
    harness.cleanup()
    alive = harness.survivors()
    check(not alive, "processes started by the suite still alive: %s" % alive)
    if harness.SUITE_PROGS is not None:
        ours = {pid for pid, _s, _w in harness._history}
        leaked = leaked_progs(harness.SUITE_PROGS, our_sids=ours, timeout=3)
        check(not leaked, "rcl_ BPF programs still loaded after the suite: %s" % leaked)
