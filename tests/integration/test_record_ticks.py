"""`rcleak record` over time: when it takes its ticks and how it ends.

-n and -d (the last tick when -d is shorter than -i), the tick a stop
signal asks for (SIGINT at any moment, inside a refresh, a refresh that
fails then), the signals that stop no recorder (SIGUSR2, SIGHUP under
nohup), the first tick on the disk at once (SIGKILL), ticks skipped after
a stall, event times and tick clocks against the test's own clock, the
kernel's ring drained at the end and between slow walks, the hook
tier record loads (the live view's), and a process the live refresh held
with nothing counted yet, replayed as it was.  Split from test_record.py, which
keeps the recorded scenario read back by report; the helpers are in
record_harness.py.

Run alone:  python3 tests/integration/runner.py -k record_
"""
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import zlib

import harness
from harness import (RCLEAK, Client, Redis, Skip, check, connstorm, free_port, mkdtemp, spawn, stop, server_row,
                     ss_count, total_connections, wait_until)
from record_harness import (BgClient, Recorder, hold_many, jdiff, json_lines, opens_by_pid, parse_capture, report,
                            report_json, rows_of, READ_NR, stop_in_read)

TESTS = ["test_record_same_tier", "test_record_duration_under_interval", "test_record_stop_last_tick",
         "test_record_count_as_live", "test_record_event_times", "test_record_stall_skips_ticks",
         "test_record_end_drains_events", "test_record_ignores_usr2",
         "test_record_nohup", "test_record_killed_keeps_first_tick", "test_record_tick_clocks",
         "test_record_stop_in_refresh", "test_record_stop_refresh_fails",
         "test_record_drains_between_slow_walks", "test_record_replay_refused_first",
         "test_record_stop_in_storm_summary"]


def test_record_same_tier():
    """record loads the same hook tier as the live view: its extra event code
    must not make the richest tier fail verification (a silent fallback
    doubled the cost per event once)."""
    r = Redis()
    d = mkdtemp("rcl-tier")
    live = subprocess.run([RCLEAK, "-p", str(r.port), "--json", "-n", "1"], capture_output=True,
                          text=True, timeout=30)
    check(live.returncode == 0, "live rcleak failed: %s" % live.stderr.strip())
    rec = subprocess.run([RCLEAK, "record", "-w", os.path.join(d, "t.rcl"), "-p", str(r.port),
                          "-n", "1", "--json"], capture_output=True, text=True, timeout=30)
    check(rec.returncode == 0, "rcleak record failed: %s" % rec.stderr.strip())
    a = json.loads(live.stdout.splitlines()[0])["hooks"]["lifecycle"]
    b = json.loads(rec.stdout.splitlines()[0])["hooks"]["lifecycle"]
    check(a == b, "record chose hook tier %r, live chose %r" % (b, a))


def test_record_count_as_live():
    """-n N: the live view prints N refreshes, the first at its start; record
    writes and prints N too (it wrote the first plus N more)."""
    r = Redis()
    d = mkdtemp("rcl-count")
    path = os.path.join(d, "n.rcl")
    live = subprocess.run([RCLEAK, "-p", str(r.port), "--json", "-n", "2", "-i", "0.2"],
                          capture_output=True, text=True, timeout=30)
    check(live.returncode == 0, "live rcleak failed: %s" % live.stderr.strip())
    rec = subprocess.run([RCLEAK, "record", "-w", path, "-p", str(r.port), "-n", "2", "-i", "0.2", "--json"],
                         capture_output=True, text=True, timeout=30)
    check(rec.returncode == 0, "rcleak record failed: %s" % rec.stderr.strip())
    js, _ = report_json([path], "report --json")
    ticks = js["files"][0].get("ticks")
    check(len(live.stdout.splitlines()) == 2 and len(rec.stdout.splitlines()) == 2 and ticks == 2,
          "-n 2: the live view printed %d lines; record printed %d and its file holds %r refreshes "
          "(expected 2, 2, 2)" % (len(live.stdout.splitlines()), len(rec.stdout.splitlines()), ticks))


def test_record_duration_under_interval():
    """-d shorter than -i: record ends when -d is due, with a last tick then,
    not at the refresh after it (a minute later at -i 60); the file holds
    both ticks and the connections the client holds (ss)."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-rdur")
    check(ss_count(c.pid, [r.port]) == 2, "ground truth: ss shows %d sockets for the client, expected 2"
          % ss_count(c.pid, [r.port]))
    d = mkdtemp("rcl-dur")
    path = os.path.join(d, "dur.rcl")
    t0 = time.monotonic()
    rec = Recorder(path, ["-p", str(r.port), "-i", "60", "-d", "2"])
    check(rec.wait(30) == 0, "record -i 60 -d 2: %s" % rec.describe())
    took = time.monotonic() - t0
    live = rec.live()
    check(len(live) == 2, "record -i 60 -d 2 printed %d ticks in %.1f s, expected the first and one at 2 s"
          % (len(live), took))
    check(1.5 <= live[1]["ts"] - live[0]["ts"] <= 10,
          "the last tick came %.2f s after the first, -d 2" % (live[1]["ts"] - live[0]["ts"]))
    js, _err = report_json([path], "the -d 2 capture")
    check(js["files"][0]["ticks"] == 2, "the capture holds %d ticks, expected 2" % js["files"][0]["ticks"])
    # the end record: finished, by itself
    f = js["files"][0]
    check((f.get("finished"), f.get("stop_signal")) == (True, 0),
          "the -d 2 capture: finished %r, stop_signal %r; expected true and 0" % (f.get("finished"), f.get("stop_signal")))
    rc, out, err = report([path, "--replay", "--json", "--speed", "10000"])
    rep = json_lines(out, "replay of the -d 2 capture") if rc == 0 else []
    check([opens_by_pid(x).get(c.pid) for x in rep] == [2, 2],
          "the client's open connections in the replayed ticks: %s (report exit %d %s), ss says 2"
          % ([opens_by_pid(x).get(c.pid) for x in rep], rc, err.strip()[-200:]))


def test_record_stop_last_tick():
    """Stopped by SIGINT (how a recording usually ends) at -i 60: the file
    ends with a tick taken at the stop, not with the one a minute before it.
    The replayed last tick holds the connections a client opened after the
    start (ss) and the server's clients (INFO clients), and the file holds
    the client's connect events."""
    r = Redis()
    d = mkdtemp("rcl-stop")
    path = os.path.join(d, "stop.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "60"])
    rec.first()
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-rstop")
    truth = ss_count(c.pid, [r.port])
    check(truth == 3, "ground truth: ss shows %d sockets for the client, expected 3" % truth)
    clients = r.connected_clients()
    check(clients == 3, "ground truth: INFO clients says %d connected, expected 3" % clients)
    rec.proc.send_signal(signal.SIGINT)
    check(rec.wait(30) == 0, "record stopped by SIGINT: %s" % rec.describe())
    live = rec.live()
    check(len(live) == 2, "record -i 60 stopped by SIGINT printed %d ticks, expected the first and "
          "one at the stop" % len(live))
    js, _err = report_json([path], "the capture stopped by SIGINT")
    check(js["files"][0]["ticks"] == 2, "the capture holds %d ticks, expected 2" % js["files"][0]["ticks"])
    f = js["files"][0]
    check((f.get("finished"), f.get("stop_signal")) == (True, signal.SIGINT),
          "the capture stopped by SIGINT: finished %r, stop_signal %r; expected true and %d"
          % (f.get("finished"), f.get("stop_signal"), signal.SIGINT))
    rc, out, err = report([path])
    check(rc == 0 and "did not finish" not in out, "the summary of a finished capture says it was not: %r"
          % out[:600])
    # the same file as a writer before format 1.6 would have labelled it:
    # no end record can be expected, so nothing is said either way
    old = os.path.join(d, "minor4.rcl")
    with open(path, "rb") as f:
        data = bytearray(f.read())
    blen = struct.unpack_from("<I", data, 12)[0]
    struct.pack_into("<H", data, 10, 5)
    struct.pack_into("<I", data, 16 + blen, zlib.crc32(bytes(data[:16 + blen])))
    with open(old, "wb") as f:
        f.write(data)
    js, _err = report_json([old], "the capture labelled format 1.5")
    f = js["files"][0]
    check((f.get("finished", "missing"), f.get("stop_signal", "missing")) == (None, None),
          "a capture of format 1.5: finished %r, stop_signal %r; expected null and null"
          % (f.get("finished", "missing"), f.get("stop_signal", "missing")))
    rc, out, err = report([path, "--replay", "--json", "--speed", "10000"])
    rep = json_lines(out, "replay of the capture stopped by SIGINT") if rc == 0 else []
    check(len(rep) == 2 and opens_by_pid(rep[-1]).get(c.pid) == truth,
          "the client's open connections in the replayed ticks: %s (report exit %d %s), ss says %d"
          % ([opens_by_pid(x).get(c.pid) for x in rep], rc, err.strip()[-200:], truth))
    srv = server_row(rep[-1], r.pid)
    check(srv is not None and srv.get("clients") == clients,
          "redis-server pid %d in the replayed last tick: %s; INFO clients says %d"
          % (r.pid, srv and srv.get("clients"), clients))
    rc, out, err = report([path, "--csv"])
    check(rc == 0, "report --csv: exit %d %s" % (rc, err.strip()[-200:]))
    conn = [x for x in csv.reader(io.StringIO(out)) if len(x) > 3 and x[2] == "connect" and x[3] == str(c.pid)]
    check(len(conn) == truth, "the capture holds %d connect events of the client, it made %d"
          % (len(conn), truth))


EVTIME_N = 400  # test_record_event_times: connects timed by the test's own clock


def test_record_event_times():
    """An event's time is within about one kernel tick before the change and never
    after it (the recorder stamps most events with their CPU's last clock
    read: bpf/rcleak.bpf.c, "event times"), and the capture's header says
    that tick. EVTIME_N connects of this process, each timed by its own clock
    around connect(), 5 ms apart, next to a connect storm on both CPUs that
    keeps their stamps cached: each one's connect row in --csv."""
    tick = time.clock_getres(getattr(time, "CLOCK_MONOTONIC_COARSE", 6))  # Linux: 6
    slack = 0.001  # the capture's wall/monotonic pair, read at its start, and --csv's microseconds
    late_tick = 0.005  # a timer tick the kernel runs late (a busy VM) holds the jiffy that much longer
    r = Redis()
    d = mkdtemp("rcl-evtime")
    path = os.path.join(d, "t.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5"])
    rec.first()
    storm = spawn([connstorm(), "-P", "0", "-d", "120", "127.0.0.1", str(r.port), "2"], "connstorm",
                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marks = {}
    time.sleep(0.3)
    for _ in range(EVTIME_N):
        with socket.socket() as s:
            t0 = time.time()
            s.connect(("127.0.0.1", r.port))
            t1 = time.time()
            marks[s.getsockname()[1]] = (t0, t1)
        time.sleep(0.005)
    storm_alive = storm.poll() is None
    stop(storm)
    rec.proc.send_signal(signal.SIGINT)
    check(rec.wait(30) == 0, "record stopped by SIGINT: %s" % rec.describe())
    check(storm_alive, "the storm ended before the timed connects did (exit %s): they were not next to one"
          % storm.returncode)
    with open(path, "rb") as f:
        info = parse_capture(f.read())
    check(info.get("ev_res") == round(tick * 1e9),
          "the capture's header says events are stamped within %r ns; the kernel's tick is %d ns"
          % (info.get("ev_res"), round(tick * 1e9)))
    rc, out, err = report([path, "--csv"])
    check(rc == 0, "report --csv: exit %d %s" % (rc, err.strip()[-200:]))
    rows = [r_ for r_ in csv.reader(io.StringIO(out)) if len(r_) == 13][1:]
    got = {int(r_[8]): float(r_[0]) for r_ in rows
           if r_[2] == "connect" and r_[3] == str(os.getpid()) and r_[8].isdigit()}
    missing = sorted(set(marks) - set(got))
    check(not missing, "%d of the %d timed connects have no connect row; local ports %s"
          % (len(missing), len(marks), missing[:5]))
    early = [(p, t0 - got[p]) for p, (t0, t1) in marks.items() if got[p] < t0 - tick - late_tick - slack]
    late = [(p, got[p] - t1) for p, (t0, t1) in marks.items() if got[p] > t1 + slack]
    check(not early and not late,
          "of %d connects timed around connect(), %d have a --csv time more than a tick (%.1f ms) and %.0f ms "
          "before, and %d one after; first (local port, seconds off): %s %s"
          % (len(marks), len(early), tick * 1e3, late_tick * 1e3, len(late), early[:3], late[:3]))


def test_record_stall_skips_ticks():
    """After a stall (SIGSTOP here; a paused VM, a walk slower than -i)
    record skips the refreshes it missed, as the live view does, instead of
    writing them back to back: no two ticks closer than the interval (0.5
    s), whose rates would be over ~0 s, in the live lines or the capture,
    and -n counts real intervals. The gaps are a consequence of the
    schedule, not a speed: a slow machine only widens them."""
    d = mkdtemp("rcl-stall")
    path = os.path.join(d, "stall.rcl")
    rec = Recorder(path, ["-p", str(harness.free_port()), "-i", "0.5", "-n", "8"])
    rec.first()
    rec.wait_lines(2, 20)
    rec.proc.send_signal(signal.SIGSTOP)
    time.sleep(2.5)           # five refreshes missed
    rec.proc.send_signal(signal.SIGCONT)
    check(rec.wait(30) == 0, "record -n 8: %s" % rec.describe())
    ups = [x["uptime_s"] for x in rec.live()]
    rc, out, err = report([path, "--replay", "--json", "--speed", "10000"])
    check(rc == 0, "replay of the capture: exit %d %s" % (rc, err.strip()[-200:]))
    rep = [x["uptime_s"] for x in json_lines(out, "replay of the capture")]
    for what, u in (("record --json", ups), ("the capture", rep)):
        # uptime_s has 0.1 s precision: 0.4 is the 0.5 s interval, rounded down
        gaps = [round(b - a, 1) for a, b in zip(u, u[1:])]
        check(len(u) == 8 and all(g >= 0.4 for g in gaps),
              "%s: uptime_s of the ticks %r: gaps %r, expected 8 ticks and no gap under the 0.5 s interval"
              % (what, u, gaps))


def test_record_end_drains_events():
    """A recording that ends by itself (-n, -d, the end of --after) writes
    the events still in the kernel's ring after its last tick, as one
    stopped by a signal does: the last tick's counters were read after its
    walk, and every connection they count as opened has its events in the
    file. -n 1 next to a client that connects 3000 times a second wrote the
    first tick, whose counters held the connections made during the
    recorder's start and first walk, and not one event; -n 2 lost those of
    its last walk."""
    r = Redis()
    churn = _churner(r, "rclt-rdrain")
    d = mkdtemp("rcl-drain")
    try:
        for n in ("1", "2"):
            path = os.path.join(d, "n%s.rcl" % n)
            rec = Recorder(path, ["-p", str(r.port), "-n", n, "-i", "0.3"], json_out=False)
            check(rec.wait(30) == 0, "record -n %s: %s" % (n, rec.describe()))
            check(churn.proc.poll() is None, "the churner ended before record -n %s did" % n)
            js, _ = report_json([path], "report of record -n %s" % n)
            f = js["files"][0]
            opened = sum(p["opened"] for p in f["processes"] if p["pid"] == churn.pid)
            rc, out, err = report([path, "--csv"])
            check(rc == 0, "report --csv: exit %d %s" % (rc, err.strip()[-200:]))
            est = {r_[8] for r_ in csv.reader(io.StringIO(out)) if len(r_) == 13 and r_[2] == "state"
                   and r_[3] == str(churn.pid) and r_[11] == "SYN_SENT" and r_[12] == "ESTABLISHED"}
            check(opened > 0, "record -n %s: the churner opened no connection in the recording (%r)"
                  % (n, f["processes"]))
            check(len(est) >= opened - f["lost_events"],
                  "record -n %s: the file's last counters say the churner opened %d connections; the file "
                  "holds the SYN_SENT -> ESTABLISHED event of %d (%d events in all, %d lost)"
                  % (n, opened, len(est), f["events"], f["lost_events"]))
    finally:
        stop(churn.proc)


def _churner(r, name):
    """A client that connects, PINGs and closes 3000 times a second for 60 s."""
    c = BgClient("churn", ["--target", "127.0.0.1:%d" % r.port, "--duration", "60", "--rate", "3000"], name)
    wait_until(lambda: total_connections(r) > 100, 10, "the churner to connect")
    return c


def test_record_ignores_usr2():
    """SIGUSR2 stops no recorder, as it stops no live view (`pkill -USR2
    rcleak` aimed at something else): it killed record mid-recording, its
    file without the last tick and the end record. Stopped by SIGINT after
    it, record exits 0 and the file says it finished."""
    d = mkdtemp("rcl-usr2")
    path = os.path.join(d, "usr2.rcl")
    rec = Recorder(path, ["-p", str(harness.free_port()), "-i", "0.2"])
    rec.wait_lines(2, 20)
    for sig in (signal.SIGUSR2, signal.SIGUSR1):  # USR1 is only the flight recorder's
        rec.proc.send_signal(sig)
        n = len(rec.out.lines)
        rec.wait_lines(n + 2, 20)
    rec.proc.send_signal(signal.SIGINT)
    check(rec.wait(30) == 0, "record sent SIGUSR2 and SIGUSR1, then SIGINT: %s" % rec.describe())
    js, _ = report_json([path], "report of the capture")
    f = js["files"][0]
    check((f.get("finished"), f.get("stop_signal")) == (True, signal.SIGINT),
          "finished %r, stop_signal %r; expected true and %d" % (f.get("finished"), f.get("stop_signal"),
                                                                signal.SIGINT))


def test_record_nohup():
    """`nohup rcleak record ... &`: a recorder started with SIGHUP ignored
    outlives its terminal, as nohup means; record took SIGHUP as a stop
    signal anyway, and a logout ended the recording. Sent SIGHUP, it goes
    on recording; SIGINT still stops it, exit 0, the file finished."""
    d = mkdtemp("rcl-nohup")
    path = os.path.join(d, "nohup.rcl")
    rec = Recorder(path, ["-p", str(harness.free_port()), "-i", "0.2"],
                   preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    rec.wait_lines(2, 20)
    rec.proc.send_signal(signal.SIGHUP)
    n = len(rec.out.lines)
    rec.wait_lines(n + 3, 20)
    check(rec.proc.poll() is None, "record started under nohup stopped at SIGHUP: %s" % rec.describe())
    rec.proc.send_signal(signal.SIGINT)
    check(rec.wait(30) == 0, "record stopped by SIGINT: %s" % rec.describe())
    js, _ = report_json([path], "report of the capture")
    f = js["files"][0]
    check((f.get("finished"), f.get("stop_signal")) == (True, signal.SIGINT),
          "finished %r, stop_signal %r; expected true and %d (SIGINT, not SIGHUP)"
          % (f.get("finished"), f.get("stop_signal"), signal.SIGINT))


def test_record_killed_keeps_first_tick():
    """The first refresh is on the disk once it is taken, as every later
    one is: a recorder killed (SIGKILL, the OOM killer) during its first
    interval left a file of its header alone, nothing report could show,
    for up to -i (a minute here, and an incident's worth of events under
    64 KiB). The first keyframe holds the connections a client held before
    the recording began (ss)."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-rkill1")
    truth = ss_count(c.pid, [r.port])
    check(truth == 3, "ground truth: ss shows %d sockets for the client, expected 3" % truth)
    d = mkdtemp("rcl-kill1")
    path = os.path.join(d, "kill1.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "60"])
    rec.first()
    rec.proc.send_signal(signal.SIGKILL)
    rec.wait(30)
    rc, out, err = report([path, "--replay", "--json", "--speed", "10000"])
    rep = json_lines(out, "replay of the killed recorder's file") if rc == 0 else []
    check(len(rep) == 1 and opens_by_pid(rep[0]).get(c.pid) == truth,
          "replay of the file of a recorder killed in its first interval: exit %d, %d ticks, the client "
          "open %s (ss says %d); stderr %s; file of %d bytes"
          % (rc, len(rep), [opens_by_pid(x).get(c.pid) for x in rep], truth, err.strip()[-200:],
             os.path.getsize(path)))


def test_record_tick_clocks():
    """A tick's wall clock and its monotonic time are one moment: mapped to
    the wall clock through the capture's start pair (read together), each
    tick's monotonic time is its wall time. With 2800 connections held the
    walk takes milliseconds; the wall clock read after it put every tick
    that much late against its events in report's peaks and growth (0.3 ms
    idle, ~0.6 s at 100k connections)."""
    slack = 0.0005  # two clock reads side by side, and the clocks' drift over the ~2 s recorded
    r = Redis()
    hold_many(r.port, 4, 700)
    d = mkdtemp("rcl-tickclk")
    path = os.path.join(d, "t.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.3", "-n", "6"])
    check(rec.wait(60) == 0, "record -n 6: %s" % rec.describe())
    with open(path, "rb") as f:
        info = parse_capture(f.read())
    ticks = info["ticks"]
    check(len(ticks) == 6, "the capture holds %d ticks, -n 6" % len(ticks))
    off = [wall - (info["wall_start"] + (mono - info["mono_start"]) / 1e9) for wall, mono in ticks]
    bad = [x for x in off if abs(x) > slack]
    check(not bad, "of %d ticks, %d have a wall clock off their monotonic time by more than %.1f ms: "
          "%s (ms)" % (len(ticks), len(bad), slack * 1e3, ["%.3f" % (x * 1e3) for x in off]))


def test_record_stop_in_refresh():
    """SIGINT that comes during a refresh: that refresh's tick is the last
    (record stopped with SIGSTOP inside its walk, SIGINT sent, SIGCONT).
    Every live tick and the capture's ticks are older than the signal; a
    second "last tick" was taken milliseconds after it."""
    nr = READ_NR.get(os.uname().machine)
    if nr is None:
        raise Skip("read(2)'s number on %s is not known to the test" % os.uname().machine)
    r = Redis()
    hold_many(r.port, 2, 1000)  # a walk of 2000 connections: some milliseconds in read()
    d = mkdtemp("rcl-stopref")
    path = os.path.join(d, "t.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.05"])
    rec.wait_lines(3, 30)
    try:
        inside = stop_in_read(rec.pid, nr)
        t_sig = time.time()
        rec.proc.send_signal(signal.SIGINT)
    finally:
        os.kill(rec.pid, signal.SIGCONT)
    check(inside, "the recorder was never seen stopped inside a read() of its walk")
    check(rec.wait(30) == 0, "record stopped by SIGINT: %s" % rec.describe())
    live = [x["ts"] for x in rec.live()]
    after = [t for t in live if t > t_sig]
    check(not after, "SIGINT at %.3f during a refresh: %d live ticks after it (%s), expected the refresh's "
          "own as the last" % (t_sig, len(after), after))
    js, _err = report_json([path], "the capture stopped by SIGINT")
    f = js["files"][0]
    check(f["ticks"] == len(live) and f["end"] < t_sig and f.get("stop_signal") == signal.SIGINT,
          "the capture: %d ticks (record showed %d), ends at %.3f (SIGINT at %.3f), stop_signal %r"
          % (f["ticks"], len(live), f["end"], t_sig, f.get("stop_signal")))


def test_record_stop_refresh_fails():
    """The last refresh a stop signal asks for fails (no fd left for the
    walk's iterator, after `prlimit --nofile=8` on the recorder): reading
    kernel state failed, exit 1 as documented (it exited 0), the error said
    in one line, and the file is whole and finished, ending at the refresh
    before. Its end record says that refresh failed: the connections a
    client made after the refresh before are in the summary, from their
    events, as a killed recorder's are (a finished file's last refresh is
    otherwise the final one, after which the recorder only drains)."""
    if not shutil.which("prlimit"):
        raise Skip("prlimit not installed")
    r = Redis()
    d = mkdtemp("rcl-stopfail")
    path = os.path.join(d, "t.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "60"])
    rec.first()
    time.sleep(1.2)  # past the lateness a final refresh's own events may have (1 s)
    n = 3
    c = Client("hold", ["--target", "127.0.0.1:%d:%d" % (r.port, n)], name="rclt-stopfail")
    p = subprocess.run(["prlimit", "--pid", str(rec.pid), "--nofile=8:8"], capture_output=True, text=True,
                       timeout=10)
    check(p.returncode == 0, "prlimit on the recorder failed: %s" % p.stderr.strip())
    rec.proc.send_signal(signal.SIGINT)
    rc = rec.wait(30)
    err = rec.err.text()
    check(rc == 1 and "reading kernel state failed" in err,
          "record whose last refresh failed: exit %s, stderr %r; expected exit 1 and the failed refresh"
          % (rc, err.strip()[-300:]))
    js, rerr = report_json([path], "the capture whose last refresh failed")
    f = js["files"][0]
    check(f["ticks"] == 1 and f.get("finished") is True and f.get("stop_signal") == signal.SIGINT,
          "the capture: %d ticks, finished %r, stop_signal %r; expected the first tick, finished by SIGINT"
          % (f["ticks"], f.get("finished"), f.get("stop_signal")))
    row = [p_ for p_ in f["processes"] if p_["pid"] == c.pid]
    check(row and row[0]["opened"] == n and row[0]["closed"] == 0,
          "the client that made %d connections after the last whole refresh: summary row %s; expected "
          "opened %d, closed 0 (from the events after it)" % (n, row, n))
    # the text says why there is no last refresh, not "killed?"
    rc, out, _err = report([path])
    tail = [ln for ln in out.splitlines() if "after the last refresh" in ln]
    check(rc == 0 and len(tail) == 1 and "last refresh failed" in tail[0] and "killed" not in out,
          "the text summary of a capture whose last refresh failed: exit %d, %r; expected one line saying "
          "events go on after the last refresh because it failed" % (rc, tail or out[:400]))


def test_record_drains_between_slow_walks():
    """Walks slower than -i (12000 held connections, -i 0.01) leave no wait
    between refreshes; record still drains the kernel's ring after each, so
    a storm's events reach the capture. Before, nothing drained the ring
    while every walk ran late, and once the 16 MiB ring was full (~160k
    events, under 2 s of this storm) every further event was lost."""
    r = Redis(extra=["--maxclients", "13000"])
    hold_many(r.port, 8, 1500)
    d = mkdtemp("rcl-slowwalk")
    path = os.path.join(d, "t.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.01"])
    rec.wait_lines(6, 60)
    up = [x["ts"] for x in rec.live()]
    gaps = [b - a for a, b in zip(up[1:], up[2:])]
    if not gaps or min(gaps) <= 0.01:
        stop(rec.proc)
        raise Skip("a walk of 12000 connections took less than -i 0.01 here (refreshes %s s apart): "
                   "no refresh without a wait to test" % ", ".join("%.3f" % g for g in gaps))
    storm = subprocess.run([connstorm(), "-P", "0", "-d", "4", "127.0.0.1", str(r.port), "2"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    total = re.search(r"^TOTAL (\d+) ", storm.stdout, re.M)
    check(storm.returncode == 0 and total, "connstorm: rc %s, %r" % (storm.returncode, storm.stdout[-300:]))
    conns = int(total.group(1))
    time.sleep(0.3)
    rec.proc.send_signal(signal.SIGINT)
    check(rec.wait(60) == 0, "record stopped by SIGINT: %s" % rec.describe())
    js, _err = report_json([path], "the capture of walks slower than -i")
    f = js["files"][0]
    # 5 events a connection (connect, the client's handshake, the accept,
    # which stands for the server's handshake too, two closes);
    # lost_events also counts the odd run the kernel skips
    want = 5 * conns
    check(f["lost_events"] <= want // 1000 and f["events"] >= want * 0.99,
          "%d connections (%d events) in a storm while every walk took longer than -i: the "
          "capture holds %d events and reports %d lost" % (conns, want, f["events"], f["lost_events"]))


def test_record_replay_refused_first():
    """A process whose first connect on a watched port was refused has
    counters in the kernel, all zero, and no socket: the live model holds it
    from that refresh on and takes its samples (0 open), which the capture
    kept only as its /proc facts.  The replay made it only at its first
    connection, so its growth over the window started later: 0 or twice the
    live view's (a TCG guest met the same with a connect between the walk
    and the counters' read, one run in several).  --replay gives back every
    live line; the client's peak is what ss showed."""
    r = Redis()
    refused = free_port()   # watched, and nothing listens on it
    n = 12
    d = mkdtemp("rcl-refused")
    path = os.path.join(d, "refused.rcl")
    rec = Recorder(path, ["-p", "%d,%d" % (r.port, refused), "-i", "0.5", "--window", "4"])
    rec.first()
    c = BgClient("hold", ["--refused", str(refused), "--after-refused-ms", "1500",
                          "--target", "127.0.0.1:%d:%d" % (r.port, n), "--interval-ms", "200"], "rclt-rrefused")
    check(c.wait_ready(30) == n, "the client made %s connections, expected %d" % (c.ready[2], n))
    truth = ss_count(c.pid, [r.port])
    check(truth == n, "ground truth: ss shows %d sockets for the client, expected %d" % (truth, n))
    time.sleep(1.5)
    rec.proc.send_signal(signal.SIGINT)
    check(rec.wait() == 0, "record: %s" % rec.describe())
    live = rec.live()
    peak = max([row.get("open", -1) for line in live for row in rows_of(line, c.pid)] or [None])
    check(peak == n, "live: the client's peak open is %r, ss showed %d" % (peak, n))
    rc, out, err = report([path, "--replay", "--json", "--speed", "1000"])
    check(rc == 0, "report --replay --json: exit %d; stderr: %s" % (rc, err.strip()[-300:]))
    rep = json_lines(out, "report --replay --json")
    check(len(rep) == len(live), "replay printed %d lines, record printed %d" % (len(rep), len(live)))
    for i, (a, b) in enumerate(zip(live, rep)):
        diff = jdiff(a, b)
        check(not diff, "replay differs from the live line %d (uptime_s %s): %s" % (
            i, a.get("uptime_s"), "; ".join("%s replay %r live %r" % (p, y, x) for p, x, y in diff[:6])))


def test_record_stop_in_storm_summary():
    """A recording stopped by SIGINT during a connect storm, its last
    refresh a walk of 4000 held connections at -i 0.01: the recorder drains
    the kernel's ring after that refresh, and the storm's events go on
    through it, some milliseconds past the refresh's time.  The summary
    took those for the tail of a killed recorder ("the recorder was
    killed?") and added them to OPENED and CLOSED, counting the walk's own
    twice (its counters, read after the walk, hold them): a finished file's
    per-process opened and closed are the last live line's."""
    r = Redis()
    hold_many(r.port, 4, 1000)
    d = mkdtemp("rcl-stopstorm")
    path = os.path.join(d, "t.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.01", "--window", "4"])
    rec.first()
    storm = spawn([connstorm(), "-d", "4", "127.0.0.1", str(r.port), "2"], "connstorm",
                  stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: any(row.get("comm") == "connstorm" and row.get("opened", 0) > 1000
                           for row in json.loads(rec.out.lines[-1]).get("processes", [])), 20,
               "the storm to show in the live lines")
    check(storm.poll() is None, "connstorm ended before the recorder was stopped")
    rec.proc.send_signal(signal.SIGINT)
    check(rec.wait(60) == 0, "record stopped by SIGINT: %s" % rec.describe())
    check(storm.poll() is None, "connstorm ended before the recorder's last refresh")
    stop(storm)
    last = rec.live()[-1]
    js, _err = report_json([path], "the capture stopped in a storm")
    f = js["files"][0]
    check(f.get("finished") is True and f.get("stop_signal") == signal.SIGINT,
          "the capture: finished %r, stop_signal %r; expected finished by SIGINT"
          % (f.get("finished"), f.get("stop_signal")))
    if f["last_event"] is None or f["last_event"] <= f["end"] + 0.01 / 4:
        raise Skip("no event came more than 2.5 ms after the last refresh (%s, last event %s): the "
                   "drain after it had nothing to tell apart" % (f["end"], f["last_event"]))
    rows = {p["pid"]: p for p in f["processes"]}
    bad = []
    for row in last["processes"]:
        s = rows.get(row["pid"])
        if not s or (s["opened"], s["closed"]) != (row["opened"], row["closed"]):
            bad.append("pid %d (%s): live opened %d closed %d, summary %s" % (
                row["pid"], row["comm"], row["opened"], row["closed"],
                "opened %d closed %d" % (s["opened"], s["closed"]) if s else "no row"))
    check(not bad, "the summary of a finished file against its last live line (events %.3fs after "
          "it): %s" % (f["last_event"] - f["end"], "; ".join(bad[:4])))
    rc, out, err = report([path])
    check(rc == 0 and "killed?" not in out,
          "report of a finished file: exit %d, says the recorder was killed: %r" % (
              rc, [l_ for l_ in out.splitlines() if "killed" in l_][:1]))
