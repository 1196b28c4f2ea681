"""`rcleak record --ring`: the flight recorder, against ground truth.

The ring_* tests check what a flight capture holds once the ring has
dropped its oldest ticks, and how record ends.  The record_flight_* tests
(a LEAK trigger, SIGUSR1, no trigger, --after 0, a ring that fails) are in
test_ring_flight.py.

Run alone:  python3 tests/integration/runner.py -k ring
"""
import csv
import io
import os
import shutil
import signal
import subprocess
import time

from harness import (RCLEAK, Client, NetNS, Redis, Skip, check, connstorm, mkdtemp, proc_fds, hook_dropped,
                     proc_nofile, spawn, ss_count, start_counter, stop_counter, tcp_opens, wait_until)
from record_harness import BgClient, Recorder, json_lines, report, report_json, rows_of

TESTS = ["test_ring_keeps_meta", "test_ring_covers_last_secs", "test_ring_trigger_in_report",
         "test_ring_trigger_verdict_selected", "test_ring_trigger_headroom", "test_ring_after_refused", "test_ring_error_keeps_memory",
         "test_ring_memory", "test_ring_long_interval", "test_ring_trigger_written_at_once",
         "test_ring_trigger_line_hostile_comm", "test_ring_report_before_trigger"]


def csv_rows(path):
    rc, out, err = report([path, "--csv"])
    check(rc == 0, "report --csv: exit %d; stderr %s" % (rc, err.strip()[-300:]))
    return [r_ for r_ in csv.reader(io.StringIO(out)) if len(r_) == 13][1:]


def test_ring_keeps_meta():
    """What the recording decided (tier, interval, thresholds) survives the
    ring's trims: a client at 25 % fd headroom is FD-LIMIT under
    `--fd-limit 90` and must stay so in the report, which otherwise judges
    with the default 10 %."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:10" % r.port], name="rclt-ringmeta",
               wrap=["prlimit", "--nofile=40:40", "--"])
    fds, nofile = proc_fds(c.pid), proc_nofile(c.pid)[0]
    check(nofile == 40 and 10 <= fds <= 36,
          "ground truth: the client has %d fds of nofile %s; expected 10..36 of 40" % (fds, nofile))
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "meta.rcap")
    # --ring 1 at -i 0.5: the first trim comes at the third refresh
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--ring", "1", "-d", "3",
                          "--fd-limit", "90"])
    rc = rec.wait(20)
    check(rc == 0, "record --ring 1 -d 3: %s" % rec.describe())
    live = rec.live()
    lv = [p.get("verdict") for p in rows_of(live[-1], c.pid)]
    check(lv == ["FD-LIMIT"], "live: the client (%d fds of 40) has verdicts %s under --fd-limit 90"
          % (fds, lv))
    problems = []
    rc, out, err = report([path, "--replay", "--json", "--speed", "10000"])
    check(rc == 0, "replay of the ring capture: exit %d; stderr %s" % (rc, err.strip()[-300:]))
    rep = json_lines(out, "replay of the ring capture")
    check(rep, "the ring capture holds no tick")
    check(rep[0]["ts"] > live[0]["ts"], "the ring dropped nothing: the test proves nothing")
    if rep[-1]["hooks"] != live[-1]["hooks"]:
        problems.append("replay hooks %s, recorded with %s" % (rep[-1]["hooks"], live[-1]["hooks"]))
    if rep[-1]["interval_s"] != 0.5:
        problems.append("replay interval_s %s, recorded at -i 0.5" % rep[-1]["interval_s"])
    rv = [p.get("verdict") for p in rows_of(rep[-1], c.pid)]
    if rv != ["FD-LIMIT"]:
        problems.append("replay: the client's verdicts %s, recorded FD-LIMIT (--fd-limit 90)" % rv)
    js, _ = report_json([path], "report of the ring capture")
    procs = {p["pid"]: p for p in js["files"][0]["processes"]}
    vs = [v.get("verdict") for v in procs.get(c.pid, {}).get("verdicts", [])]
    if "FD-LIMIT" not in vs:
        problems.append("report: the client's verdicts %s, expected FD-LIMIT" % vs)
    check(not problems, " | ".join(problems))


def test_ring_covers_last_secs():
    """--ring keeps the whole last SECS, even where a refresh interval is
    longer than what is left of them: at -i 2 --ring 3.5, connections made
    3 s before the trigger's refresh (between two refreshes) are in the
    capture as connects, not only as already open in a later keyframe."""
    r = Redis()
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "cover.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "2", "--ring", "3.5", "--after", "0"])
    rec.wait_lines(2, 20)
    time.sleep(1.0)                        # well inside the interval after line 2
    t0 = time.time()
    c = Client("hold", ["--target", "127.0.0.1:%d:5" % r.port], name="rclt-ringcov")
    check(ss_count(c.pid, [r.port]) == 5, "ground truth: ss shows %d sockets for the client, expected 5"
          % ss_count(c.pid, [r.port]))
    rec.wait_lines(3, 10)
    os.kill(rec.pid, signal.SIGUSR1)       # handled at the next refresh
    rec.wait_err("trigger:", 10)
    rc = rec.wait(15)
    check(rc == 0, "record after SIGUSR1: %s" % rec.describe())
    live = rec.live()
    # the refresh that wrote the ring: the first after SIGUSR1, line 4
    check(len(live) >= 4, "record printed %d live lines" % len(live))
    if live[3]["ts"] - t0 >= 3.5 - 0.1:
        raise Skip("machine too slow: the connects came %.2fs before the trigger, not inside --ring 3.5"
                   % (live[3]["ts"] - t0))
    rows = csv_rows(path)
    conn = [r_ for r_ in rows if r_[2] == "connect" and r_[3] == str(c.pid)]
    check(len(conn) == 5, "the capture holds %d connects of pid %d, which made 5 within the last 3.5 s "
          "before the trigger (%.2fs); capture rows from %s" % (
              len(conn), c.pid, live[3]["ts"] - t0, rows[0][0] if rows else None))
    js, _ = report_json([path], "report of the SIGUSR1 capture")
    trig = js["files"][0].get("trigger")
    check(trig and trig.get("why") == "SIGUSR1" and trig.get("pid") is None
          and trig.get("at") == live[3]["ts"],
          "report's trigger %r; expected SIGUSR1 at the refresh %.3f" % (trig, live[3]["ts"]))


def _holds_3(r, name):
    """A client holding 3 connections to r, as ss shows them."""
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name=name)
    held = ss_count(c.pid, [r.port])
    check(held == 3, "ground truth: ss shows %d sockets for the client, expected 3" % held)
    return c


def test_ring_trigger_in_report():
    """A LEAK trigger shows in the report even when the ring holds less than
    the half window a LEAK needs (--window 8 --ring 2): the file says what
    fired, for which process, and when."""
    r = Redis()
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "leak.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--window", "8", "--ring", "2",
                          "--trigger-verdict", "LEAK", "--after", "1"])
    rec.first()
    leak = BgClient("hold", ["--target", "127.0.0.1:%d:60" % r.port, "--interval-ms", "200"],
                    "rclt-ringleak")
    line, _t = rec.wait_err("trigger:", 30)
    rc = rec.wait(15)
    check(rc == 0, "record after the LEAK trigger: %s" % rec.describe())
    check("LEAK" in line and "pid %d " % leak.pid in line,
          "trigger line %r does not name LEAK and the leaker pid %d" % (line, leak.pid))
    held = ss_count(leak.pid, [r.port])
    check(held > 0, "ground truth: ss shows the leaker holds no connection")
    live = rec.live()
    fired = [l_["ts"] for l_ in live for p in rows_of(l_, leak.pid) if p.get("verdict") == "LEAK"]
    check(fired, "live: the leaker never showed LEAK")
    js, _ = report_json([path], "report of the LEAK capture")
    f = js["files"][0]
    problems = []
    trig = f.get("trigger")
    if not trig or trig.get("pid") != leak.pid or trig.get("verdict") != "LEAK" \
            or trig.get("at") != fired[0]:
        problems.append("report's trigger %r; expected pid %d LEAK at %.3f" % (trig, leak.pid, fired[0]))
    procs = {p["pid"]: p for p in f["processes"]}
    vs = {v.get("verdict"): v for v in procs.get(leak.pid, {}).get("verdicts", [])}
    if "LEAK" not in vs:
        problems.append("report: the leaker's verdicts %s, the recorder fired on its LEAK" % sorted(vs))
    elif vs["LEAK"].get("first_at") != fired[0] or "/min" not in vs["LEAK"].get("rule", ""):
        problems.append("report: LEAK %r; expected first at %.3f with its rule" % (vs["LEAK"], fired[0]))
    rc, out, err = report([path])
    if rc != 0 or "trigger" not in out or "LEAK" not in out:
        problems.append("report summary (exit %d) does not say what fired: %r" % (rc, out[:400]))
    check(not problems, " | ".join(problems))


def test_ring_trigger_verdict_selected():
    """--comm narrows --trigger-verdict to that process: a leaker of another
    name leaks for 8 s (ss: 40 connections; LEAK fired within 6 s before
    this) without a trigger; the selected one then
    fires it, named in the trigger line."""
    r = Redis()
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "sel.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--window", "8", "--ring", "5",
                          "--trigger-verdict", "LEAK", "--after", "1", "--comm", "rclt-ringsel"])
    rec.first()
    other = BgClient("hold", ["--target", "127.0.0.1:%d:40" % r.port, "--interval-ms", "200"],
                     "rclt-ringother")
    wait_until(lambda: ss_count(other.pid, [r.port]) == 40, 30,
               what="the other leaker holding its 40 connections (ss)")
    time.sleep(2)   # state, not an assertion: refreshes judge the 8 s of leaking
    err = rec.err.text()
    check("trigger:" not in err and rec.proc.poll() is None,
          "a leaker --comm does not select fired the trigger: %r" % err[-300:])
    sel = BgClient("hold", ["--target", "127.0.0.1:%d:60" % r.port, "--interval-ms", "200"], "rclt-ringsel")
    line, _t = rec.wait_err("trigger:", 30)
    check(rec.wait(15) == 0, "record after the LEAK trigger: %s" % rec.describe())
    check("LEAK" in line and "pid %d " % sel.pid in line,
          "trigger line %r does not name LEAK and the selected leaker pid %d" % (line, sel.pid))


def test_ring_trigger_headroom():
    """--trigger-headroom 20 on a server with maxclients 10 and 8 clients
    (INFO clients): fires, names the server, and the report says so."""
    r = Redis(extra=["--maxclients", "10"])
    c = Client("hold", ["--target", "127.0.0.1:%d:8" % r.port], name="rclt-ringroom")
    check(r.connected_clients() == 8, "ground truth: INFO clients says %d clients, expected 8"
          % r.connected_clients())
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "room.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--ring", "2", "--maxclients", "10",
                          "--trigger-headroom", "20", "--after", "0.5"])
    line, _t = rec.wait_err("trigger:", 20)
    rc = rec.wait(15)
    check(rc == 0, "record after the headroom trigger: %s" % rec.describe())
    check("pid %d:" % r.pid in line and "8 clients of 10" in line,
          "trigger line %r does not name redis-server pid %d with 8 clients of 10" % (line, r.pid))
    js, _ = report_json([path], "report of the headroom capture")
    f = js["files"][0]
    trig = f.get("trigger")
    check(trig and trig.get("pid") == r.pid and trig.get("verdict") is None
          and "8 clients of 10" in trig.get("why", ""),
          "report's trigger %r; expected redis-server pid %d, 8 clients of 10" % (trig, r.pid))
    srv = [p for p in f["processes"] if p["pid"] == r.pid]
    check(srv and srv[0].get("clients_max") == 8 and srv[0].get("effective_limit") == 10,
          "report: server row %r; expected 8 clients of 10" % srv)
    cl = [p for p in f["processes"] if p["pid"] == c.pid]
    check(cl and cl[0].get("peak_open") == 8, "report: client row %r; ss/INFO say 8" % cl)


def test_ring_after_refused():
    """--after means something only to the flight recorder: without --ring,
    and in report, the live view and run, it is refused with one line and
    exit 2 like --ring and --trigger-* (it was taken and did nothing)."""
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "after.rcap")
    cases = [
        (["record", "-w", path, "--after", "5", "-n", "1"], "record without --ring"),
        (["report", path, "--after", "5"], "report"),
        (["--after", "5", "-n", "1"], "the live view"),
        (["run", "--after", "5", "--", "true"], "run"),
        (["run", "-w", path, "--", "true"], "run -w"),
    ]
    problems = []
    for args, what in cases:
        r = subprocess.run([RCLEAK] + args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=30)
        lines = r.stderr.strip().splitlines()
        if r.returncode != 2 or len(lines) != 1 or "--after" not in lines[0] and "-w" not in lines[0]:
            problems.append("%s: exit %d, stderr %r; expected exit 2 and one line" % (
                what, r.returncode, r.stderr.strip()[-300:]))
        if os.path.exists(path):
            problems.append("%s: created %s" % (what, path))
            os.unlink(path)
    check(not problems, " | ".join(problems))


def test_ring_error_keeps_memory():
    """A refresh that fails (here: no fd left for the walk's iterator, after
    `prlimit --nofile=8` on the recorder) ends record with exit 1; what the
    flight recorder held in memory is written out, as a plain record has
    written it already: the client's 3 connections (ss) are in the file."""
    if not shutil.which("prlimit"):
        raise Skip("prlimit not installed")
    r = Redis()
    c = _holds_3(r, "rclt-ringerr")
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "err.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--ring", "5"])
    rec.wait_lines(3, 20)
    p = subprocess.run(["prlimit", "--pid", str(rec.pid), "--nofile=8:8"], capture_output=True, text=True,
                       timeout=10)
    check(p.returncode == 0, "prlimit on the recorder failed: %s" % p.stderr.strip())
    rc = rec.wait(15)
    err = rec.err.text()
    check(rc == 1 and "reading kernel state failed" in err,
          "record with no fd left: exit %s, stderr %r; expected exit 1 and the failed refresh"
          % (rc, err.strip()[-300:]))
    live = rec.live()
    rc, out, rerr = report([path, "--replay", "--json", "--speed", "10000"])
    rep = json_lines(out, "replay of the capture") if rc == 0 else []
    check(len(rep) >= 3, "the capture of a flight recorder that failed holds %d ticks (report exit %d, %s); "
          "record had shown %d" % (len(rep), rc, rerr.strip()[-200:], len(live)))
    check(rep[-1]["ts"] == live[-1]["ts"], "the capture ends at %.3f, the last live tick was %.3f"
          % (rep[-1]["ts"], live[-1]["ts"]))
    got = [p_.get("open") for p_ in rows_of(rep[-1], c.pid)]
    check(got == [3], "the capture's last tick: client pid %d open %s, ss says 3" % (c.pid, got))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def test_ring_memory():
    """The ring keeps its ticks compressed: 900 connections (ss) refreshed
    every 0.1 s under --ring 60 grow the recorder by a few MiB over 60
    refreshes, not by a record per connection per tick (about 340 bytes
    each, 20 MiB here, when they were kept one by one). The capture then
    still holds every tick with all 900 connections."""
    r = Redis()
    n = 900   # under the 992 clients a redis-server at nofile 1024 takes
    c = Client("hold", ["--target", "127.0.0.1:%d:%d" % (r.port, n)], name="rclt-ringmem",
               wrap=["prlimit", "--nofile=4096:4096", "--"])
    check(ss_count(c.pid, [r.port]) == n, "ground truth: ss shows %d sockets for the client, expected %d"
          % (ss_count(c.pid, [r.port]), n))
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "mem.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.1", "--ring", "60"])
    rec.wait_lines(11, 30)
    before = rss_kib(rec.pid)
    rec.wait_lines(71, 60)
    after = rss_kib(rec.pid)
    os.kill(rec.pid, signal.SIGINT)
    rc = rec.wait(30)
    check(rc == 0, "record --ring 60 after SIGINT: %s" % rec.describe())
    live = rec.live()
    check(after - before < 8 * 1024, "the recorder grew by %d KiB over 60 refreshes of %d connections "
          "(from %d KiB)" % (after - before, n, before))
    rc, out, err = report([path, "--replay", "--json", "--speed", "10000"])
    rep = json_lines(out, "replay of the capture") if rc == 0 else []
    check(len(rep) == len(live) and rep[-1]["ts"] == live[-1]["ts"],
          "the capture holds %d ticks (report exit %d %s), record showed %d"
          % (len(rep), rc, err.strip()[-200:], len(live)))
    bad = [x["ts"] for x in rep if [p_.get("open") for p_ in rows_of(x, c.pid)] != [n]]
    check(not bad, "%d ticks of the capture do not show the client's %d connections; first at %.3f"
          % (len(bad), n, bad[0] if bad else 0))


def test_ring_long_interval():
    """A tick far longer than the storm in it (-i 60): the ring closes its
    events into compressed blocks as they come, not one plain block per
    tick (~16 bytes an event, 36 MB for 20 s of a storm before). Over 4 s of
    a connect storm the recorder grows by less than the whole storm's
    compressed capture and a block; SIGUSR1 then writes, at once and not at
    the refresh a minute away, every handshake and accept the namespace
    counted, and --after 1 ends a second later."""
    storm_bin = connstorm()
    ns = NetNS()
    r = Redis(netns=ns, bind=("127.0.0.1",))
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "long.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "60", "--ring", "30", "--after", "1"])
    rec.first()
    counter = start_counter()
    active0, passive0 = tcp_opens(ns)
    storm = spawn(ns.prefix + [storm_bin, "-P", "0", "-d", "7", "127.0.0.1", str(r.port), "2"], "connstorm",
                  stdin=subprocess.DEVNULL)
    time.sleep(2)  # the kernel's ring buffer pages are all touched by then
    before = rss_kib(rec.pid)
    time.sleep(4)
    after = rss_kib(rec.pid)
    out, err = storm.communicate(timeout=60)
    check(storm.returncode == 0, "connstorm failed: %s %s" % (out, err))
    active1, passive1 = tcp_opens(ns)
    seen = stop_counter(counter)
    os.kill(rec.pid, signal.SIGUSR1)
    rec.wait_err("trigger:", 20)
    rc = rec.wait(30)
    check(rc == 0, "record after SIGUSR1: %s" % rec.describe())
    size = os.path.getsize(path)
    check(after - before < size // 1024 + 1024,
          "the recorder grew by %d KiB over 4 s of a storm whose whole capture is %d KiB (from %d KiB)"
          % (after - before, size // 1024, before))
    handshakes = accepts = 0
    for row in csv_rows(path):
        if row[2] == "state" and row[11] == "SYN_SENT" and row[12] == "ESTABLISHED":
            handshakes += 1
        elif row[2] == "accept" and row[3] == str(r.pid):
            accepts += 1
    # runs the kernel skipped (none on plain loopback here) may be missing,
    # and so may what the hook delivered to no program (tools/bench/hookloss.sh)
    lost = report_json([path], "the capture")[0]["files"][0]["lost_events"]
    active, passive = active1 - active0, passive1 - passive0
    dropped = hook_dropped(active, passive, seen)
    what = ("the capture holds %d handshakes and %d accepts; the namespace counted %d active and %d "
            "passive opens; record reports %d lost; the hook delivered %d to no program"
            % (handshakes, accepts, active, passive, lost, dropped))
    check(active > 1000, "the storm made only %d connections" % active)
    check(handshakes <= active and accepts <= passive and
          (active - handshakes) + (passive - accepts) <= lost + dropped, what)


def test_ring_trigger_written_at_once():
    """Once record says the trigger fired, the ring is in the file: killed
    (SIGKILL, as the OOM killer would) right after that line, during a
    long --after at -i 2, the capture still holds the ring's ticks, the
    client's 3 connections (ss) and the trigger."""
    r = Redis()
    c = _holds_3(r, "rclt-ringkill")
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "kill.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "2", "--ring", "10", "--after", "60"])
    rec.wait_lines(2, 20)
    # on the disk, not only in the page cache: the host may go down next.
    # strace attached to the recorder sees the fdatasync.
    if not shutil.which("strace"):
        check(False, "strace is missing: tools/install-deps.sh --test installs it")
    trace = os.path.join(d, "sync.txt")
    st = subprocess.Popen(["strace", "-p", str(rec.pid), "-e", "trace=fdatasync,fsync", "-o", trace],
                          stderr=subprocess.PIPE, text=True)
    try:
        attached = st.stderr.readline()
        check("attached" in attached, "strace -p %d: %r" % (rec.pid, attached))
        os.kill(rec.pid, signal.SIGUSR1)
        rec.wait_err("trigger:", 10)
    finally:
        st.terminate()
        st.wait(10)
    synced = [ln for ln in open(trace) if ln.startswith(("fdatasync(", "fsync(")) and "= 0" in ln]
    check(synced, "no fdatasync once the trigger wrote the ring: %r" % open(trace).read()[-300:])
    os.kill(rec.pid, signal.SIGKILL)
    rec.wait(10)
    live = rec.live()
    rc, out, err = report([path, "--replay", "--json", "--speed", "10000"])
    rep = json_lines(out, "replay of the capture") if rc == 0 else []
    check(len(rep) >= 3 and rep[-1]["ts"] == live[-1]["ts"],
          "killed after the trigger line: the capture holds %d ticks (report exit %d, %s), "
          "record had shown %d, the last at %.3f" % (len(rep), rc, err.strip()[-200:], len(live),
                                                      live[-1]["ts"]))
    got = [p_.get("open") for p_ in rows_of(rep[-1], c.pid)]
    check(got == [3], "the capture's last tick: client pid %d open %s, ss says 3" % (c.pid, got))
    js, _ = report_json([path], "report of the capture")
    trig = js["files"][0].get("trigger")
    check(trig and trig.get("why") == "SIGUSR1", "report's trigger %r, expected SIGUSR1" % (trig,))


def test_ring_trigger_line_hostile_comm():
    """The trigger line names the process by its comm, which is whatever the
    process set (prctl): a newline and an escape in it went raw to stderr,
    a root terminal or the journal, where the newline began a line of the
    process's choosing. Now, as every "rcleak:" line, one line, control
    bytes as '?'. A client at 25 % fd headroom named "rclt\\nfake\\x1b[2J"
    (its /proc comm) fires --trigger-verdict FD-LIMIT under --fd-limit 90."""
    r = Redis()
    name = "rclt\nfake\x1b[2J"
    c = Client("hold", ["--target", "127.0.0.1:%d:10" % r.port], name=name,
               wrap=["prlimit", "--nofile=40:40", "--"])
    with open("/proc/%d/comm" % c.pid) as f:
        comm = f.read()[:-1]
    check(comm == name, "ground truth: the client's comm is %r, expected %r" % (comm, name))
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "comm.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--ring", "2", "--fd-limit", "90",
                          "--trigger-verdict", "FD-LIMIT", "--after", "0.5"])
    rec.wait_err("trigger:", 20)
    rc = rec.wait(15)
    check(rc == 0, "record after the FD-LIMIT trigger: %s" % rec.describe())
    raw = b"".join(rec.err.raw)
    bad = [l for l in raw.split(b"\n") if l and (not l.startswith(b"rcleak: ") or
                                                any(b < 0x20 or b == 0x7f for b in l))]
    check(not bad, "stderr lines not one-line 'rcleak: ' lines of printable bytes: %r" % bad)
    check(any(b"pid %d (rclt?fake?[2J)" % c.pid in l for l in raw.split(b"\n")),
          "no trigger line naming pid %d as rclt?fake?[2J: %r" % (c.pid, raw[-600:]))


def test_ring_report_before_trigger():
    """`rcleak report` of the file a flight recorder holds while it waits for
    its trigger (the SRE checking that it runs): the ring is in memory, the
    file has no refresh yet. The summary said it "ends at its last whole
    refresh so far, at 1970-01-01 00:00:00". It says there is no refresh
    in it yet, and why: the ring is written at the trigger, SIGUSR1 or the
    stop. Once stopped, the file holds the ring."""
    r = Redis()
    path = os.path.join(mkdtemp("rcleak-ring-wait-"), "waiting.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--ring", "60"])
    try:
        rec.wait_lines(3, 20)
        rc, out, err = report([path])
    finally:
        rec.proc.send_signal(signal.SIGINT)
    check(rec.wait(20) == 0, "record: %s" % rec.describe())
    check(rc == 0 and "1970" not in out and "no refresh" in out and "SIGUSR1" in out,
          "report of a waiting flight recorder's file: exit %d, stdout %r, stderr %r; expected no 1970, and a "
          "line saying no refresh is in it yet until a trigger or SIGUSR1" % (rc, out, err))
    js, _ = report_json([path], "report of the stopped flight recorder's file")
    check(js["files"][0]["ticks"] >= 3, "the stopped recorder's file holds %r ticks" % js["files"][0]["ticks"])
