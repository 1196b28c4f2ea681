"""`rcleak record` and `rcleak report`: one recorded scenario, reported back.

The capture is checked against two references: the live JSON lines the same
`record --json` printed while it recorded (report must give back exactly what
the live view showed: --replay, the summary, --at, --csv), and the ground
truth of the scenario itself (the clients' own counts, ss, Redis).  Damaged
captures and the files record refuses to write are in test_record_files.py,
several files joined in test_report.py, the flight recorder in test_ring.py;
the helpers in record_harness.py.

Run alone:  python3 tests/integration/runner.py -k record
"""
import atexit
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import time
import zlib

import harness
from harness import (RCLEAK, Client, Fail, Redis, Skip, check, connstorm, mkdtemp, spawn, stop, server_row, ss_count, ss_states,
                     wait_until)
from record_harness import (HOST, BgClient, Recorder, hold_many, jdiff, json_lines, nobody_exe, not_crashed,
                            opens_by_pid, parse_capture, report, report_json, rows_of, READ_NR, stop_in_read)

TESTS = ["test_record_replay_summary", "test_record_at", "test_record_csv", "test_record_csv_tuples",
         "test_report_reader_goes_away", "test_report_reader_gone_mid_wait", "test_report_same_file_twice", "test_record_same_tier",
         "test_record_duration_under_interval", "test_record_stop_last_tick",
         "test_record_count_as_live", "test_record_event_times", "test_record_stall_skips_ticks",
         "test_record_end_drains_events", "test_record_ignores_usr2",
         "test_record_nohup", "test_record_killed_keeps_first_tick", "test_record_tick_clocks",
         "test_record_stop_in_refresh", "test_record_stop_refresh_fails",
         "test_record_drains_between_slow_walks", "test_record_ask_redis_replay"]

CSV_HEADER = ("time,host,kind,owner_pid,task_pid,comm,family,laddr,lport,raddr,rport,"
              "old_state,new_state")
CSV_KINDS = {"connect", "accept", "state", "close", "app-close", "exit-close", "listen"}

LEAK_N = 24          # scenario: the leaker's connections, one every 200 ms
CW_N = 3             # scenario: connections of the CLOSE_WAIT holder


# ---------------------------------------------------------------------------
# the recorded scenario (made once, shared by the tests that read it)
# ---------------------------------------------------------------------------
_SCEN = {}


def scenario():
    """A leaker (hold, growing), a churner and a CLOSE_WAIT holder (CLIENT
    KILL), recorded with `record --json -i 0.5 --window 4` and stopped with
    SIGINT 7 s after it started, or 1.5 s after the scenario is complete if
    that is later (a slow machine, such as a TCG guest, needs longer than 7 s
    for the leaker's 24 connections)."""
    if _SCEN:
        return _SCEN
    r = Redis()
    d = tempfile.mkdtemp(prefix="rcleak-record-scen-")   # outlives harness.cleanup()
    atexit.register(shutil.rmtree, d, True)
    path = os.path.join(d, "scenario.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "--window", "4"])
    rec.first()
    started = time.monotonic()
    leak = BgClient("hold", ["--target", "127.0.0.1:%d:%d" % (r.port, LEAK_N), "--interval-ms", "200"],
                    "rclt-rleak")
    churn = BgClient("churn", ["--target", "127.0.0.1:%d" % r.port, "--duration", "3", "--rate", "20"],
                     "rclt-rchurn")
    cw = Client("hold", ["--target", "127.0.0.1:%d:%d" % (r.port, CW_N)], name="rclt-rcw")
    for port in cw.cmd("ports", "PORTS")[1:]:
        r.cli("CLIENT", "KILL", "ADDR", "127.0.0.1:%s" % port)
    last = [None]

    def cw_all():
        last[0] = ss_states(cw.pid, [r.port])
        return last[0].get("CLOSE-WAIT") == CW_N
    try:
        wait_until(cw_all, 5)
    except Fail:
        raise Fail("ground truth: after CLIENT KILL the holder's sockets are %s, expected %d CLOSE-WAIT"
                   % (last[0], CW_N))
    # the plain live view at the same time, for the schema
    rc, out, err = harness.run_rcleak(["--json", "-n", "1", "-p", str(r.port)], timeout=20)
    check(rc == 0 and out.strip(), "rcleak --json -n 1: exit %d stderr %r" % (rc, err[-300:]))
    plain = json.loads(out.splitlines()[0])
    n_leak = leak.wait_ready(30)
    n_churn = churn.wait_ready(30)
    check(n_leak == LEAK_N, "leaker reported %d connections" % n_leak)
    check(n_churn > 20, "churner made only %d connections" % n_churn)
    truth_leak = ss_count(leak.pid, [r.port])
    check(truth_leak == LEAK_N, "ground truth: ss shows %d sockets for the leaker, expected %d"
          % (truth_leak, LEAK_N))
    check(ss_count(churn.pid, [r.port]) == 0, "ground truth: the churner still holds sockets")
    check(rec.proc.poll() is None, "record exited before the scenario was complete: %s" % rec.describe())
    time.sleep(max(7 - (time.monotonic() - started), 1.5))
    rec.proc.send_signal(signal.SIGINT)
    rc = rec.wait()
    check(rc == 0, "record exited %s: %s" % (rc, rec.describe()))
    live = rec.live()
    check(len(live) >= 12, "record --json printed %d lines in 7 s or more at -i 0.5" % len(live))
    with open(path, "rb") as f:
        data = f.read()
    _SCEN.update(path=path, dir=d, live=live, raw_live=list(rec.out.lines), data=data,
                 mode=stat.S_IMODE(os.stat(path).st_mode), port=r.port, redis=r.pid,
                 leak=leak.pid, churn=churn.pid, cw=cw.pid, n_churn=n_churn,
                 record_stderr=rec.err.text(), plain=plain)
    return _SCEN


# ---------------------------------------------------------------------------
# replay == live; the summary against the live lines and ground truth
# ---------------------------------------------------------------------------
def test_record_replay_summary():
    s = scenario()
    live, path = s["live"], s["path"]
    check(s["mode"] == 0o600, "capture file mode is %o, expected 600" % s["mode"])
    parse_capture(s["data"], "scenario capture")

    # ground truth in the live lines themselves (what the replay must give back)
    problems = []
    lk = [row for line in live for row in rows_of(line, s["leak"])]
    if max([r_.get("open", -1) for r_ in lk] or [-1]) != LEAK_N:
        problems.append("live: leaker peak open %s, ground truth %d" % (
            max([r_.get("open", -1) for r_ in lk] or [None]), LEAK_N))
    cwl = [rows_of(line, s["cw"]) for line in live]
    cwl = [x[0] for x in cwl if x]
    if not cwl or cwl[-1].get("close_wait") != CW_N:
        problems.append("live: CLOSE_WAIT holder's last row close_wait=%r, expected %d" % (
            cwl[-1].get("close_wait") if cwl else "<no row>", CW_N))

    # record --json prints the schema of rcleak --json
    ref = s["plain"]
    if sorted(ref) != sorted(live[-1]):
        problems.append("record --json top-level keys %s, rcleak --json has %s" % (sorted(live[-1]), sorted(ref)))
    for what, a, b in (("servers[] row", (ref.get("servers") or [{}])[0], (live[-1].get("servers") or [{}])[0]),
                       ("redis-server's processes[] row", (rows_of(ref, s["redis"]) or [{}])[0],
                        (rows_of(live[-1], s["redis"]) or [{}])[0])):
        if sorted(a) != sorted(b):
            problems.append("record --json %s keys %s, rcleak --json has %s" % (what, sorted(b), sorted(a)))

    # --replay --json gives back every live line, exactly
    rc, out, err = report([path, "--replay", "--json", "--speed", "1000"])
    not_crashed(rc, "report --replay --json", err)
    check(rc == 0, "report --replay --json: exit %d; stderr: %s" % (rc, err.strip()[-400:]))
    rep = json_lines(out, "report --replay --json")
    if len(rep) != len(live):
        problems.append("replay printed %d lines, record --json printed %d" % (len(rep), len(live)))
    bad = []
    for i, (a, b) in enumerate(zip(live, rep)):
        d = jdiff(a, b)
        if d:
            bad.append((i, a.get("uptime_s"), d))
    if bad:
        i, up, d = bad[0]
        problems.append("replay differs from the live line in %d of %d lines; first: line %d (uptime_s %s): %s"
                        % (len(bad), min(len(rep), len(live)), i, up,
                           "; ".join("%s replay %r live %r" % (p, y, x) for p, x, y in d[:6])))
    elif len(rep) == len(live):
        # the same objects; the text too (number formatting)
        for i, (a, b) in enumerate(zip(s["raw_live"], out.splitlines())):
            if a != b:
                problems.append("replay line %d is the same JSON but not the same text: live %r replay %r"
                                % (i, a[:200], b[:200]))
                break

    # --speed 5: the recorded span in about a fifth of the time
    span = live[-1]["ts"] - live[0]["ts"]
    t0 = time.monotonic()
    rc, out, err = report([path, "--replay", "--json", "--speed", "5"])
    took = time.monotonic() - t0
    if rc != 0 or len(out.splitlines()) != len(live) or not 0.8 * span / 5 <= took <= span / 5 + 3:
        problems.append("report --replay --speed 5 of a %.1fs capture: exit %d, %d lines, took %.2fs "
                        "(expected about %.2fs)" % (span, rc, len(out.splitlines()), took, span / 5))

    # the summary: per process, against the live lines
    js, err = report_json([path], "report --json")
    check(len(js.get("files", [])) == 1, "report --json: files=%r" % js.get("files"))
    f = js["files"][0]
    if f.get("ticks") != len(live):
        problems.append("summary ticks=%r, record printed %d live lines" % (f.get("ticks"), len(live)))
    if f.get("host") != HOST:
        problems.append("summary host=%r, expected %r" % (f.get("host"), HOST))
    procs = {}
    for p in f.get("processes", []):
        procs.setdefault(p["pid"], []).append(p)
    pids = []
    for line in live:
        for row in line.get("processes", []):
            if row["pid"] not in pids:
                pids.append(row["pid"])
    for pid in pids:
        rows = [row for line in live for row in rows_of(line, pid)]
        last = rows[-1]
        want = {"opened": last["opened"], "closed": last["closed"]}
        got = procs.get(pid)
        if not got:
            problems.append("summary has no process %d (%s), live lines do: %s" % (
                pid, last.get("comm"), want))
            continue
        if len(got) != 1:
            problems.append("summary lists pid %d %d times" % (pid, len(got)))
        got = got[0]
        for k, v in want.items():
            if got.get(k) != v:
                problems.append("summary pid %d (%s): %s=%r, live lines give %r" % (
                    pid, last.get("comm"), k, got.get(k), v))
        # every live line is a moment of the capture: the peak is at least
        # what each showed (between them it may be more: see below)
        live_peak = max(r_["open"] for r_ in rows)
        if not isinstance(got.get("peak_open"), int) or got["peak_open"] < live_peak:
            problems.append("summary pid %d (%s): peak_open=%r, a live line showed %d open" % (
                pid, last.get("comm"), got.get("peak_open"), live_peak))
        seen = sorted({r_["verdict"] for r_ in rows if r_.get("verdict") not in (None, "ok")})
        sv = sorted(v_.get("verdict") for v_ in got.get("verdicts", []))
        if sv != seen:
            problems.append("summary pid %d (%s): verdicts %s, live lines showed %s" % (
                pid, last.get("comm"), sv, seen))
    extra = sorted(set(procs) - set(pids))
    if extra:
        problems.append("summary lists processes the live lines never showed: %s" % extra)
    for pid, verdict, who in ((s["leak"], "LEAK", "leaker"), (s["churn"], "CHURN", "churner")):
        got = (procs.get(pid) or [{}])[0]
        vs = [v_.get("verdict") for v_ in got.get("verdicts", [])]
        if verdict not in vs:
            problems.append("summary: %s pid %d verdicts %s, expected %s among them" % (who, pid, vs, verdict))
    # peaks against what each client did: the leaker held LEAK_N, the
    # CLOSE_WAIT holder CW_N, the churner one at a time (connect, PING, close)
    for pid, n, who in ((s["leak"], LEAK_N, "leaker"), (s["cw"], CW_N, "CLOSE_WAIT holder"),
                        (s["churn"], 1, "churner")):
        row = (procs.get(pid) or [{}])[0]
        if row.get("peak_open") != n:
            problems.append("summary: %s pid %d peak_open=%r, ground truth %d" % (who, pid, row.get("peak_open"), n))
    crow = (procs.get(s["churn"]) or [{}])[0]
    if crow.get("opened") != s["n_churn"]:
        problems.append("summary: churner opened=%r, the client made %d" % (crow.get("opened"), s["n_churn"]))

    # the text summary names the leaker's verdict
    rc, out, err = report([path])
    lines = [l_ for l_ in out.splitlines() if l_.split()[:1] == [str(s["leak"])]]
    if rc != 0 or not lines or "LEAK" not in lines[0]:
        problems.append("text summary: exit %d, leaker pid %d line %r, expected LEAK in it" % (
            rc, s["leak"], lines[0] if lines else None))

    # unprivileged: a readable copy, as uid 65534
    prefix, exe = nobody_exe()
    ud = mkdtemp("rcleak-report-nobody-")
    os.chmod(ud, 0o755)
    copy = os.path.join(ud, "copy.rcap")
    shutil.copyfile(path, copy)
    os.chmod(copy, 0o644)
    rc, out2, err2 = report([copy, "--json"], argv_prefix=prefix, exe=exe)
    not_crashed(rc, "report as uid 65534", err2)
    if rc != 0:
        problems.append("report --json as uid 65534 on a readable copy: exit %d; stderr: %s"
                        % (rc, err2.strip()[-300:]))
    else:
        try:
            js2 = json.loads(out2)
            a = [dict(x, path=None) for x in js.get("files", [])]
            b = [dict(x, path=None) for x in js2.get("files", [])]
            d = jdiff(a, b)
            if d:
                problems.append("report as uid 65534 differs from root's: %s" % "; ".join(
                    "%s nobody %r root %r" % (p, y, x) for p, x, y in d[:5]))
        except ValueError:
            problems.append("report --json as uid 65534: not JSON: %r" % out2[:300])
    rc, _o, err3 = report([copy, "--replay", "--json", "--speed", "1000"], argv_prefix=prefix, exe=exe)
    if rc != 0:
        problems.append("report --replay as uid 65534: exit %d; stderr: %s" % (rc, err3.strip()[-300:]))
    # the 0600 original is not readable by that user: a clean refusal
    os.chmod(s["dir"], 0o755)
    try:
        rc, _o, err4 = report([path], argv_prefix=prefix, exe=exe)
    finally:
        os.chmod(s["dir"], 0o700)
    not_crashed(rc, "report as uid 65534 on the 0600 file", err4)
    if rc != 1 or not err4.strip():
        problems.append("report as uid 65534 on the 0600 capture: exit %d, stderr %r; expected exit 1 "
                        "with a message" % (rc, err4.strip()[:200]))
    check(not problems, " | ".join(problems))


# ---------------------------------------------------------------------------
# --at
# ---------------------------------------------------------------------------
def test_record_at():
    s = scenario()
    live, path = s["live"], s["path"]
    info = parse_capture(s["data"])
    ws = info["wall_start"]
    ups = [l_["uptime_s"] for l_ in live]
    tss = [l_["ts"] for l_ in live]
    problems = []

    def compare(arg, k, what):
        rc, out, err = report([path, "--at", arg, "--json"])
        not_crashed(rc, what, err)
        if rc != 0:
            problems.append("%s: exit %d; stderr: %s" % (what, rc, err.strip()[-200:]))
            return
        got = json_lines(out, what)
        if len(got) != 1:
            problems.append("%s: %d JSON lines, expected 1" % (what, len(got)))
            return
        g, w = got[0], live[k]
        if g.get("uptime_s") != w["uptime_s"] or opens_by_pid(g) != opens_by_pid(w):
            ks = [i for i, l_ in enumerate(live) if l_["uptime_s"] == g.get("uptime_s")]
            txt = "%s: got the tick at uptime_s %r (live line %s), expected uptime_s %r (line %d)" % (
                what, g.get("uptime_s"), ks[0] if ks else "?", w["uptime_s"], k)
            if not problems:
                txt += "; open by pid got %s expected %s" % (opens_by_pid(g), opens_by_pid(w))
            problems.append(txt)
        elif jdiff(w, g):
            d = jdiff(w, g)
            problems.append("%s: same tick as live line %d but differs: %s" % (
                what, k, "; ".join("%s at %r live %r" % (p, y, x) for p, x, y in d[:4])))

    # +Ns between two ticks: the live line whose uptime_s is the largest <= N
    for k in (2, len(live) // 2, len(live) - 3):
        n = (ups[k] + ups[k + 1]) / 2
        check(tss[k] < ws + n < tss[k + 1], "test setup: +%gs is not between ticks %d and %d by wall time"
              % (n, k, k + 1))
        compare("+%.3fs" % n, k, "--at +%.3fs" % n)
    # past the end: the last tick
    compare("+1000s", len(live) - 1, "--at +1000s")
    # a Unix timestamp between two ticks
    k = len(live) // 3
    t = (tss[k] + tss[k + 1]) / 2
    compare("%.3f" % t, k, "--at %.3f (Unix time)" % t)
    # HH:MM:SS: the largest tick at or before that second (one not within 50 ms of a tick)
    for sec in range(int(tss[1]) + 1, int(tss[-1]) + 1):
        if all(abs(x - sec) > 0.02 for x in tss):
            k = max(i for i, x in enumerate(tss) if x <= sec)
            hms = time.strftime("%H:%M:%S", time.localtime(sec))
            compare(hms, k, "--at %s (= %d)" % (hms, sec))
            break
    # the table view of a moment
    rc, out, err = report([path, "--at", "+%.3fs" % ((ups[-2] + ups[-1]) / 2), "--plain"])
    if rc != 0 or str(s["leak"]) not in out:
        problems.append("--at --plain: exit %d, leaker pid %d %s in the table: %r" % (
            rc, s["leak"], "not" if str(s["leak"]) not in out else "", out[:300]))
    rc, out, err = report([path, "--at", "yesterday"])
    not_crashed(rc, "--at yesterday", err)
    if rc != 2 or not err.strip():
        problems.append("--at yesterday: exit %d, stderr %r; expected usage error 2 with a message"
                        % (rc, err.strip()[:200]))
    check(not problems, " | ".join(problems))


# ---------------------------------------------------------------------------
# --csv
# ---------------------------------------------------------------------------
def test_record_csv():
    s = scenario()
    rc, out, err = report([s["path"], "--csv"])
    not_crashed(rc, "report --csv", err)
    check(rc == 0, "report --csv: exit %d; stderr: %s" % (rc, err.strip()[-300:]))
    lines = out.splitlines()
    check(lines and lines[0] == CSV_HEADER, "--csv header is %r, expected %r" % (
        lines[0] if lines else None, CSV_HEADER))
    rows = list(csv.reader(io.StringIO("\n".join(lines[1:]) + "\n")))
    problems = []
    bad = [(i, r_) for i, r_ in enumerate(rows) if len(r_) != 13]
    if bad:
        problems.append("%d of %d rows do not have 13 fields; first: row %d %r" % (
            len(bad), len(rows), bad[0][0], bad[0][1]))
    rows = [r_ for r_ in rows if len(r_) == 13]
    kinds = {r_[2] for r_ in rows}
    if kinds - CSV_KINDS:
        problems.append("unknown kinds %s" % sorted(kinds - CSV_KINDS))
    hosts = {r_[1] for r_ in rows}
    if hosts != {HOST}:
        problems.append("host column %s, expected only %r" % (sorted(hosts), HOST))
    js, _ = report_json([s["path"]], "report --json")
    if len(rows) != js["files"][0].get("events"):
        problems.append("--csv has %d rows, the summary counts %r events" % (
            len(rows), js["files"][0].get("events")))
    try:
        times = [float(r_[0]) for r_ in rows]
        span = (js["files"][0]["start"] - 1, js["files"][0]["end"] + 1)
        out_of = [t for t in times if not span[0] <= t <= span[1]]
        if out_of:
            problems.append("%d rows have a time outside the capture's span %s: %s" % (
                len(out_of), span, out_of[:3]))
    except ValueError as e:
        problems.append("time column not a number: %s" % e)
    for pid, n, who, comm in ((s["churn"], s["n_churn"], "churner", "rclt-rchurn"),
                              (s["leak"], LEAK_N, "leaker", "rclt-rleak"),
                              (s["cw"], CW_N, "CLOSE_WAIT holder", "rclt-rcw")):
        conn = [r_ for r_ in rows if r_[2] == "connect" and r_[3] == str(pid)]
        if len(conn) != n:
            problems.append("%s pid %d: %d connect rows, the client made %d connections" % (who, pid, len(conn), n))
        wrong = [r_ for r_ in conn if r_[4] != str(pid) or r_[5] != comm or r_[10] != str(s["port"])
                 or r_[6] != "ipv4" or r_[7] != "127.0.0.1" or r_[9] != "127.0.0.1"]
        if wrong:
            problems.append("%s: %d connect rows with task_pid/comm/family/addresses/rport not (%d, %s, ipv4, "
                            "127.0.0.1 -> 127.0.0.1:%d); first %r" % (who, len(wrong), pid, comm, s["port"], wrong[0]))
        # each of its connections (SYN_SENT -> ESTABLISHED) has the server's accept
        est = {r_[8] for r_ in rows if r_[2] == "state" and r_[3] == str(pid)
               and r_[11] == "SYN_SENT" and r_[12] == "ESTABLISHED"}
        if len(est) != n:
            problems.append("%s: %d SYN_SENT->ESTABLISHED rows with distinct local ports, expected %d"
                            % (who, len(est), n))
        acc = {r_[10] for r_ in rows if r_[2] == "accept" and r_[3] == str(s["redis"])
               and r_[8] == str(s["port"])}
        lone = sorted(est - acc)
        if lone:
            problems.append("%s: %d connections without an accept row of redis-server pid %d; local ports %s"
                            % (who, len(lone), s["redis"], lone[:5]))
    check(not problems, " | ".join(problems))


def _report_reader_leaves(path, args):
    """`rcleak report PATH ARGS` into a pipe cut to one page (so that the
    report writes after its reader has gone), whose reader takes one line
    and leaves: (the process, that line, when the reader left)."""
    import fcntl
    r, w = os.pipe()
    fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ
    p = subprocess.Popen([RCLEAK, "report", path] + list(args), stdin=subprocess.DEVNULL,
                         stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    with os.fdopen(r, "rb") as reader:
        first = reader.readline()
    return p, first, time.monotonic()


def test_report_reader_goes_away():
    """`rcleak report ... | head` ends as the live view does when its reader
    goes away: quietly, with 0, not killed by SIGPIPE (141, a failure under
    `set -o pipefail`), and a --replay stops at its next refresh instead of
    playing on to the end of the capture."""
    s = scenario()
    js, _ = report_json([s["path"]], "report --json")
    span = js["files"][0]["end"] - js["files"][0]["start"]
    speed = 0.1
    cases = [["--csv"], ["--plain"], ["--replay", "--plain", "--speed", str(speed)],
             ["--replay", "--json", "--speed", str(speed)]]
    problems = []
    for args in cases:
        p, first, t0 = _report_reader_leaves(s["path"], args)
        try:
            _, err = p.communicate(timeout=span / speed / 2)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            problems.append("report %s: still running %.0f s after its reader went away (the replay "
                            "lasts %.0f s)" % (" ".join(args), time.monotonic() - t0, span / speed))
            continue
        err = err.decode("utf-8", "replace").strip()
        if not first:
            problems.append("report %s: wrote nothing before its reader went away" % " ".join(args))
        if p.returncode != 0 or err:
            problems.append("report %s | head -1: exit %s, stderr %r; expected 0 and nothing" % (
                " ".join(args), p.returncode, err[:300]))
    check(not problems, "; ".join(problems))


def test_report_reader_gone_mid_wait():
    """A replay whose reader goes away while it waits for the next refresh
    ends then, with 0: it slept on through the whole interval (up to two
    of the recording's, a minute or two at -i 60, divided by --speed)
    before a write told it, and then read the rest of the capture for
    damage nobody would see (half a minute for a GiB)."""
    s = scenario()
    problems = []
    gap = 10  # 0.5 s refreshes at speed 0.05
    for view in ("--plain", "--json"):
        p, first, t0 = _report_reader_leaves(s["path"], ["--replay", view, "--speed", "0.05"])
        try:
            _, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            problems.append("report --replay %s: still running 20 s after its reader went away" % view)
            continue
        took = time.monotonic() - t0
        err = err.decode("utf-8", "replace").strip()
        if not first or p.returncode != 0 or err:
            problems.append("report --replay %s | head -1: output %r, exit %s, stderr %r; expected a line, "
                            "0 and nothing" % (view, first[:80], p.returncode, err[:300]))
        if took > gap / 2:
            problems.append("report --replay %s: ended %.1f s after its reader went away, in the wait "
                            "for the next refresh (%d s); expected at once" % (view, took, gap))
    check(not problems, "; ".join(problems))


def test_report_same_file_twice():
    """`report a.rcl a.rcl`, or a capture and a link to it, read one file as
    two captures of the host and counted every connection twice: a usage
    error (exit 2) that names the file, before anything is read."""
    s = scenario()
    d = mkdtemp("rcleak-twice-")
    link = os.path.join(d, "link.rcl")
    os.symlink(os.path.abspath(s["path"]), link)
    for args, says in (([s["path"], s["path"]], "given twice"), ([s["path"], link], "same file")):
        rc, out, err = report(args)
        not_crashed(rc, "report " + " ".join(args), err)
        lines = [l for l in err.splitlines() if l.strip()]
        check(rc == 2 and len(lines) == 1 and says in lines[0] and not out.strip(),
              "report %s: exit %d, stdout %r, stderr %r; expected exit 2 and one line saying %r"
              % (" ".join(args), rc, out[:200], err[:300], says))
    rc, out, err = report([s["path"], "--json"])
    check(rc == 0 and json.loads(out)["files"], "report of the file once: exit %d (%r)" % (rc, err[:300]))


def test_record_csv_tuples():
    """Every row names its connection: a connect row (the client's open) and a
    close row carry the connection's local port, as ss shows it; the comm
    column names the owner whenever owner_pid does."""
    s = scenario()
    rc, out, err = report([s["path"], "--csv"])
    check(rc == 0, "report --csv: exit %d; stderr: %s" % (rc, err.strip()[-300:]))
    rows = [r_ for r_ in csv.reader(io.StringIO(out)) if len(r_) == 13][1:]
    ours = {str(s["leak"]): "rclt-rleak", str(s["churn"]): "rclt-rchurn", str(s["cw"]): "rclt-rcw"}
    problems = []
    for kind in ("connect", "accept", "state", "close", "app-close", "exit-close"):
        mine = [r_ for r_ in rows if r_[2] == kind and r_[3] in ours]
        zero = [r_ for r_ in mine if r_[8] in ("0", "") or r_[10] in ("0", "")]
        if zero:
            problems.append("%d of %d '%s' rows of our clients have lport or rport 0 or none; first %s"
                            % (len(zero), len(mine), kind, ",".join(zero[0])))
    srv = [r_ for r_ in rows if r_[3] == str(s["redis"]) and r_[2] in ("accept", "state", "close", "app-close")]
    zero = [r_ for r_ in srv if r_[8] in ("0", "") or r_[10] in ("0", "")]
    if zero:
        problems.append("%d of %d redis-server rows have lport or rport 0 or none (its lport is %d); first %s"
                        % (len(zero), len(srv), s["port"], ",".join(zero[0])))
    nocomm = [r_ for r_ in rows if r_[3] in ours and r_[5] != ours[r_[3]]]
    if nocomm:
        problems.append("%d rows of our clients whose comm column is not the owner's comm; first %s"
                        % (len(nocomm), ",".join(nocomm[0])))
    check(not problems, " | ".join(problems))


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
    wait_until(lambda: _total_conns(r) > 100, 10, "the churner to connect")
    return c


def _total_conns(r):
    return int(r.cli("INFO", "stats").split("total_connections_received:")[1].split()[0])


def test_record_ask_redis_replay():
    """record --ask-redis --json, then report --replay --json of its file:
    each server's headroom in the replay is the live one, less the slot of
    rcleak's own link (11 clients of maxclients 12 and the link: 0), and
    every line is the live line but for redis_clients, CLIENT LIST's
    answer, which a capture does not keep (the README said the lines came
    back exactly)."""
    r = Redis(extra=["--maxclients", "12"], bind=("127.0.0.1",))
    c = Client("hold", ["--target", "127.0.0.1:%d:11" % r.port], name="rclt-rec-ask")
    path = os.path.join(mkdtemp("rcleak-rec-ask-"), "ask.rcl")
    rec = subprocess.run([RCLEAK, "record", "-w", path, "-p", str(r.port), "--ask-redis", "--json",
                          "-n", "3", "-i", "0.5"], capture_output=True, text=True, timeout=60)
    check(rec.returncode == 0, "record --ask-redis: exit %d, stderr %r" % (rec.returncode, rec.stderr[-300:]))
    live = json_lines(rec.stdout, "record --ask-redis --json")
    srv = [server_row(line, r.pid) for line in live]
    check(all(s_ and s_.get("clients") == 11 and s_.get("rcleak_links") == 1 and s_.get("headroom") == 0
              and s_.get("redis_clients") for s_ in srv),
          "live: server rows (11 clients and rcleak's link of 12: headroom 0, redis_clients listed): %s"
          % [s_ and {k: s_.get(k) for k in ("clients", "rcleak_links", "headroom")} for s_ in srv])
    rc, out, err = report([path, "--replay", "--json", "--speed", "1000"])
    not_crashed(rc, "report --replay --json", err)
    check(rc == 0, "report --replay --json: exit %d; stderr %r" % (rc, err[-300:]))
    rep = json_lines(out, "report --replay --json")
    check(len(rep) == len(live), "replay printed %d lines, record %d" % (len(rep), len(live)))
    for i, (a, b) in enumerate(zip(live, rep)):
        for s_ in a.get("servers", []):
            s_.pop("redis_clients", None)
        d = jdiff(a, b)
        check(not d, "replay line %d differs from the live line (redis_clients aside): %s"
              % (i, "; ".join("%s replay %r live %r" % (p_, y, x) for p_, x, y in d[:6])))
    c.exit()


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
    before."""
    if not shutil.which("prlimit"):
        raise Skip("prlimit not installed")
    r = Redis()
    d = mkdtemp("rcl-stopfail")
    path = os.path.join(d, "t.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "60"])
    rec.first()
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
    # 6 state changes a connection (connect, accept, two handshakes, two
    # closes); lost_events also counts the odd run the kernel skips
    want = 6 * conns
    check(f["lost_events"] <= want // 1000 and f["events"] >= want * 0.99,
          "%d connections (%d state changes) in a storm while every walk took longer than -i: the "
          "capture holds %d events and reports %d lost" % (conns, want, f["events"], f["lost_events"]))

