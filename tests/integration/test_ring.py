"""`rcleak record --ring`: the flight recorder, against ground truth.

The record_flight_* tests (moved here from test_record.py) are the first
ones: a LEAK trigger, SIGUSR1, no trigger.  The ring_* tests check what a
flight capture holds once the ring has dropped its oldest ticks, and how
record ends.

Run alone:  python3 tests/integration/runner.py -k ring
"""
import csv
import io
import os
import shutil
import signal
import stat
import subprocess
import time

from harness import (RCLEAK, Client, Fail, NetNS, Redis, Skip, check, connstorm, mkdtemp, proc_fds,
                     hook_dropped, proc_nofile, spawn, ss_count, start_counter, stop_counter, tcp_opens,
                     wait_until)
from record_harness import (BgClient, Recorder, hold_many, json_lines, opens_by_pid, report, report_json,
                            rows_of)

TESTS = ["test_ring_keeps_meta", "test_ring_covers_last_secs", "test_ring_trigger_in_report",
         "test_ring_trigger_verdict_selected", "test_ring_trigger_headroom", "test_ring_after_refused", "test_ring_error_keeps_memory",
         "test_ring_memory", "test_ring_long_interval", "test_ring_trigger_written_at_once",
         "test_record_flight_trigger", "test_record_flight_sigusr1", "test_record_flight_tick_error", "test_record_flight_ring_fails", "test_record_flight_ring_fails_mid_tick",
         "test_record_flight_ring_fails_at_stop",
         "test_record_flight_after_zero", "test_ring_trigger_line_hostile_comm"]


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


# ---------------------------------------------------------------------------
# flight recorder
# ---------------------------------------------------------------------------
def test_record_flight_trigger():
    """--ring 5 --trigger-verdict LEAK --after 1: a leaking client makes it
    write the ring and 1 s more, then exit 0 on its own."""
    r = Redis()
    d = mkdtemp("rcleak-flight-")
    path = os.path.join(d, "flight.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--window", "4", "--ring", "5",
                          "--trigger-verdict", "LEAK", "--after", "1"])
    rec.first()
    leak = BgClient("hold", ["--target", "127.0.0.1:%d:40" % r.port, "--interval-ms", "100"], "rclt-rflight")
    line, t_trig = rec.wait_err("trigger:", 20)
    try:
        rc = rec.proc.wait(10)
    except subprocess.TimeoutExpired:
        raise Fail("flight recorder: trigger fired (%r) but it was still running 10 s later (--after 1)" % line)
    t_exit = time.monotonic()
    rec.wait(5)
    problems = []
    if rc != 0:
        problems.append("exit %d after the trigger, expected 0: %s" % (rc, rec.describe()))
    if t_exit - t_trig > 1 + 2.5:
        problems.append("exited %.1fs after the trigger line, --after 1" % (t_exit - t_trig))
    if "LEAK" not in line or str(leak.pid) not in line:
        problems.append("trigger line %r does not name LEAK and the leaker pid %d" % (line, leak.pid))
    check(not problems, " | ".join(problems))
    check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, "flight capture mode %o" % stat.S_IMODE(os.stat(path).st_mode))
    js, _ = report_json([path], "report of the flight capture")
    f = js["files"][0]
    procs = {p["pid"]: p for p in f["processes"]}
    lp = procs.get(leak.pid)
    vs = [v.get("verdict") for v in (lp or {}).get("verdicts", [])]
    if "LEAK" not in vs:
        problems.append("report of the flight capture: leaker pid %d verdicts %s (row %s), expected LEAK"
                        % (leak.pid, vs, "present" if lp else "missing"))
    live = rec.live()
    span = f["end"] - f["start"]
    if span > 5 + 1 + 1.0:
        problems.append("capture spans %.2fs, --ring 5 + --after 1" % span)
    if abs(f["end"] - live[-1]["ts"]) > 0.002:
        problems.append("capture ends at %.3f, the last live tick was %.3f" % (f["end"], live[-1]["ts"]))
    trig = [l_["ts"] for l_ in live for p in rows_of(l_, leak.pid) if p.get("verdict") == "LEAK"]
    if trig and f["end"] < trig[0] + 1 - 0.01:
        problems.append("capture ends %.2fs after the first LEAK tick, --after 1" % (f["end"] - trig[0]))
    check(not problems, " | ".join(problems))


def test_record_flight_sigusr1():
    """--ring 3: SIGUSR1 writes the last 3 s (older ticks dropped) and
    --after 1 more; what is written are the live ticks of that stretch.
    Then --ring 2 -d 3 with no trigger: the last 2 s at the end."""
    r = Redis()
    d = mkdtemp("rcleak-flight-")
    path = os.path.join(d, "usr1.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--ring", "3", "--after", "1"])
    rec.first()
    c = Client("hold", ["--target", "127.0.0.1:%d:4" % r.port], name="rclt-rusr1")
    rec.wait_lines(12, 15)                  # >= 5.5 s recorded: the ring has dropped some
    os.kill(rec.pid, signal.SIGUSR1)
    line, _t = rec.wait_err("trigger:", 10)
    rc = rec.wait(10)
    problems = []
    if rc != 0:
        problems.append("exit %d after SIGUSR1, expected 0: %s" % (rc, rec.describe()))
    if "SIGUSR1" not in line:
        problems.append("trigger line %r does not say SIGUSR1" % line)
    live = rec.live()
    rc, out, err = report([path, "--replay", "--json", "--speed", "10000"])
    check(rc == 0, "replay of the SIGUSR1 capture: exit %d; stderr %s" % (rc, err.strip()[-300:]))
    rep = json_lines(out, "replay of the SIGUSR1 capture")
    check(rep, "the SIGUSR1 capture holds no tick")
    lts = [l_["ts"] for l_ in live]
    if rep[0]["ts"] <= lts[0] + 1:
        problems.append("capture starts at tick ts %.3f, the recording at %.3f: nothing older than --ring 3 "
                        "was dropped" % (rep[0]["ts"], lts[0]))
    span = rep[-1]["ts"] - rep[0]["ts"]
    if span > 3 + 1 + 1.0:
        problems.append("capture spans %.2fs, --ring 3 + --after 1" % span)
    if rep[-1]["ts"] != lts[-1]:
        problems.append("capture ends at %.3f, the last live tick was %.3f" % (rep[-1]["ts"], lts[-1]))
    if rep[0]["ts"] in lts:
        k = lts.index(rep[0]["ts"])
        seg = live[k:]
        if [x["ts"] for x in rep] != [x["ts"] for x in seg]:
            problems.append("capture ticks %s are not the live ticks from %.3f on %s" % (
                [x["ts"] for x in rep], rep[0]["ts"], [x["ts"] for x in seg]))
        else:
            bad = [(x["ts"], opens_by_pid(x), opens_by_pid(y)) for x, y in zip(rep, seg)
                   if opens_by_pid(x) != opens_by_pid(y)]
            if bad:
                problems.append("%d ticks differ from the live lines in open counts; first at %.3f: %s vs live %s"
                                % (len(bad), bad[0][0], bad[0][1], bad[0][2]))
            got = [opens_by_pid(x).get(c.pid) for x in rep]
            if set(got) != {4}:
                problems.append("client pid %d open in the capture's ticks: %s, ground truth 4" % (c.pid, got))
    else:
        problems.append("capture's first tick ts %.3f is no live tick" % rep[0]["ts"])

    # no trigger at all: the ring is written when -d ends
    path2 = os.path.join(d, "none.rcap")
    rec2 = Recorder(path2, ["-p", str(r.port), "-i", "0.5", "--ring", "2", "-d", "3"])
    rc = rec2.wait(15)
    err = rec2.err.text()
    if rc != 0 or "no trigger" not in err:
        problems.append("--ring 2 -d 3: exit %s stderr %r; expected 0 and 'no trigger fired'" % (rc, err.strip()[-200:]))
    else:
        rc, out, err = report([path2, "--replay", "--json", "--speed", "10000"])
        rep2 = json_lines(out, "replay of --ring 2 -d 3") if rc == 0 else []
        live2 = rec2.live()
        if rc != 0 or not rep2:
            problems.append("--ring 2 -d 3 capture: replay exit %d, %d ticks" % (rc, len(rep2)))
        elif rep2[-1]["ts"] != live2[-1]["ts"] or rep2[-1]["ts"] - rep2[0]["ts"] > 2 + 0.5 + 0.01 \
                or rep2[-1]["ts"] - rep2[0]["ts"] < 2 - 0.01 or rep2[0]["ts"] <= live2[0]["ts"]:
            # the last 2 s whole: from the last tick at or before them (-i 0.5)
            problems.append("--ring 2 -d 3 capture: ticks %.3f..%.3f, live %.3f..%.3f; expected the last 2 s"
                            % (rep2[0]["ts"], rep2[-1]["ts"], live2[0]["ts"], live2[-1]["ts"]))
    check(not problems, " | ".join(problems))


# An LD_PRELOAD shim: the Nth call of libdeflate_alloc_compressor (env
# RCLT_FAIL_COMPRESSOR=N) returns NULL, as when memory is short.
FAIL_COMPRESSOR_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

struct libdeflate_compressor;

struct libdeflate_compressor *libdeflate_alloc_compressor(int level)
{
	static struct libdeflate_compressor *(*real)(int);
	static int calls;
	const char *n = getenv("RCLT_FAIL_COMPRESSOR");

	if (!real)
		real = (struct libdeflate_compressor *(*)(int))dlsym(RTLD_NEXT, "libdeflate_alloc_compressor");
	if (n && ++calls == atoi(n))
		return NULL;
	return real(level);
}
"""


def build_shim(d, name, source):
    """An LD_PRELOAD shim built from C source into d/name.so; its path."""
    cc = shutil.which("cc") or shutil.which("gcc")
    check(cc, "no C compiler (cc) to build the LD_PRELOAD shim: tools/install-deps.sh installs one")
    src, so = os.path.join(d, name + ".c"), os.path.join(d, name + ".so")
    with open(src, "w") as f:
        f.write(source)
    p = subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", so, src, "-ldl"], capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0, "building the shim: %s" % p.stderr.strip()[-300:])
    return so


def fail_compressor_shim(d):
    return build_shim(d, "failcomp", FAIL_COMPRESSOR_C)


def _nomem_recorder(name, args):
    """record ARGS with the ring's compressor failing (the 2nd allocation:
    the 1st is the file's): (the capture's path, the Recorder)."""
    d = mkdtemp("rcleak-ring-")
    env = dict(os.environ, LD_PRELOAD=fail_compressor_shim(d), RCLT_FAIL_COMPRESSOR="2")
    path = os.path.join(d, name + ".rcap")
    return path, Recorder(path, args, env=env)


def _ring_kept(path, what):
    """The capture a flight recorder wrote when its ring failed: readable,
    with the refreshes the ring held (report --json)."""
    js, _ = report_json([path], what)
    f = js["files"][0]
    check(f["ticks"] >= 1, "%s: the capture holds %d refreshes; the ring held at least the first"
          % (what, f["ticks"]))


def test_record_flight_tick_error():
    """The flight recorder's tick that fails in memory (here: out of memory
    for its compressor, an LD_PRELOAD shim failing the 2nd allocation, the
    ring's first: the 1st is the file's) at the refresh SIGUSR1 brings is an
    error: exit 1, said on stderr. The trigger's flush of the ring at that
    same refresh succeeded after it and hid it: record said it wrote the
    last 30 s, went on for --after and exited 0. What the ring held is in
    the file."""
    r = Redis()
    path, rec = _nomem_recorder("nomem", ["-p", str(r.port), "-i", "60", "--ring", "30", "--after", "1"])
    rec.first()
    os.kill(rec.pid, signal.SIGUSR1)
    rc = rec.wait(20)
    err = rec.err.text()
    check(rc == 1 and "Cannot allocate memory" in err and "wrote the last" not in err,
          "a flight recorder whose tick ran out of memory at the trigger's refresh: exit %s, stderr %r; "
          "expected exit 1 and the error" % (rc, err.strip()[-400:]))
    _ring_kept(path, "the ring that failed at the trigger's refresh")


def test_record_flight_ring_fails():
    """The ring fails a refresh with no trigger (out of memory for its
    compressor at the second refresh): what it held goes to the file, and
    record stops there, exit 1, with the error in one line. It stopped with
    the file holding its header alone: the incident's evidence, lost."""
    r = Redis()
    path, rec = _nomem_recorder("nomem", ["-p", str(r.port), "-i", "0.2", "--ring", "30"])
    rc = rec.wait(20)
    err = rec.err.text()
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc == 1 and len(lines) >= 1 and "Cannot allocate memory" in lines[-1] and path in lines[-1],
          "a flight recorder whose ring ran out of memory: exit %s, stderr %r; expected exit 1 and one "
          "line with the error and the file" % (rc, err.strip()[-400:]))
    _ring_kept(path, "the ring that failed with no trigger")


# An LD_PRELOAD shim: the Nth call of libdeflate_deflate_compress on a
# block of at least 1,000,000 bytes (env RCLT_FAIL_BIG_DEFLATE=N) returns 0,
# which record takes for an error (-ENOBUFS). The ring closes a block that
# big only inside a refresh whose records pass 1 MiB.
FAIL_BIG_DEFLATE_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

struct libdeflate_compressor;

size_t libdeflate_deflate_compress(struct libdeflate_compressor *c, const void *in, size_t n,
				   void *out, size_t avail)
{
	static size_t (*real)(struct libdeflate_compressor *, const void *, size_t, void *, size_t);
	static int calls;
	const char *k = getenv("RCLT_FAIL_BIG_DEFLATE");

	if (!real)
		real = (size_t (*)(struct libdeflate_compressor *, const void *, size_t, void *, size_t))
			dlsym(RTLD_NEXT, "libdeflate_deflate_compress");
	if (k && n >= 1000000 && ++calls == atoi(k))
		return 0;
	return real(c, in, n, out, avail);
}
"""


def test_record_flight_ring_fails_mid_tick():
    """The ring fails part way through a refresh (its records pass 1 MiB:
    6000 held connections, both ends, and the block closed at 1 MiB of the
    second refresh fails): the file gets what the ring held up to the
    refresh before, not that refresh's keyframe and its first records. With
    them the file ended inside a refresh, and report said "the recorder was
    killed while writing it" of a recorder that was not."""
    r = Redis(extra=["--maxclients", "8000"])
    hold_many(r.port, 6, 1000)
    d = mkdtemp("rcleak-ring-")
    so = build_shim(d, "faildeflate", FAIL_BIG_DEFLATE_C)
    path = os.path.join(d, "midtick.rcap")
    env = dict(os.environ, LD_PRELOAD=so, RCLT_FAIL_BIG_DEFLATE="2")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--ring", "30"], env=env)
    rc = rec.wait(40)
    err = rec.err.text()
    check(rc == 1 and "No buffer space" in err and path in err,
          "a flight recorder whose ring failed inside a refresh: exit %s, stderr %r; expected exit 1 and "
          "the error with the file" % (rc, err.strip()[-400:]))
    js, _ = report_json([path], "the ring that failed inside a refresh")
    f = js["files"][0]
    check(f["ticks"] >= 1 and f.get("ends_inside_refresh") is False,
          "the capture the failed ring went to: %d refreshes, ends_inside_refresh %r; expected the "
          "refreshes before the failed one, whole, and nothing of it" % (f["ticks"], f.get("ends_inside_refresh")))


def test_record_flight_ring_fails_at_stop():
    """The ring fails the last refresh a stop signal asks for (out of memory
    for its compressor: -i 60, SIGINT after the first refresh): what it
    held goes to the file, as at any refresh, and record exits 1 with the
    error. The ring was dropped: the file held its header alone."""
    r = Redis()
    path, rec = _nomem_recorder("stopnomem", ["-p", str(r.port), "-i", "60", "--ring", "30"])
    rec.first()
    # in the wait for the next refresh: one that comes in the first's tail
    # (its line printed, the recorder preempted on a loaded host) has the
    # first refresh for its last, by design, and nothing fails
    time.sleep(0.3)
    rec.proc.send_signal(signal.SIGINT)
    rc = rec.wait(20)
    err = rec.err.text()
    check(rc == 1 and "Cannot allocate memory" in err and path in err,
          "a flight recorder whose ring ran out of memory at the stop's refresh: exit %s, stderr %r; "
          "expected exit 1 and the error with the file" % (rc, err.strip()[-400:]))
    _ring_kept(path, "the ring that failed at the stop's refresh")


def test_record_flight_after_zero():
    """--after 0: the trigger's tick is the last. SIGUSR1 at -i 0.5: record
    exits 0, and its last live tick, the capture's last and the trigger's
    time are one (it took one more tick, milliseconds after the trigger's)."""
    r = Redis()
    d = mkdtemp("rcleak-ring-")
    path = os.path.join(d, "after0.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--ring", "10", "--after", "0"])
    rec.wait_lines(3, 20)
    time.sleep(0.1)  # the tick before the trigger's is 0.1 s older at least
    os.kill(rec.pid, signal.SIGUSR1)
    rc = rec.wait(20)
    check(rc == 0, "--after 0, SIGUSR1: %s" % rec.describe())
    live = [x["ts"] for x in rec.live()]
    js, _ = report_json([path], "report of the --after 0 capture")
    f = js["files"][0]
    trig = f.get("trigger") or {}
    check(trig.get("why") == "SIGUSR1", "report's trigger %r, expected SIGUSR1" % (trig,))
    since = [t for t in live if t >= trig.get("at", 0) - 0.0005]  # ts as printed: 3 decimals
    check(len(since) == 1 and abs(f["end"] - trig["at"]) < 0.0015,
          "--after 0: trigger at %s, the capture ends at %.3f, live ticks end %s; expected the trigger's "
          "tick last" % (trig.get("at"), f["end"], live[-3:]))


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
