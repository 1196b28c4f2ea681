"""`rcleak record` and `rcleak report`: one recorded scenario, reported back.

The capture is checked against two references: the live JSON lines the same
`record --json` printed while it recorded (report must give back exactly what
the live view showed: --replay, the summary, --at, --csv), and the ground
truth of the scenario itself (the clients' own counts, ss, Redis).  Damaged
captures and the files record refuses to write are in test_record_files.py,
several files joined in test_report.py, the flight recorder in test_ring.py,
when record takes its ticks and how it ends in test_record_ticks.py; the
helpers in record_harness.py.

Run alone:  python3 tests/integration/runner.py -k record
"""
import atexit
import csv
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time

import harness
from harness import RCLEAK, Client, Fail, Redis, check, mkdtemp, server_row, ss_count, ss_states, wait_until
from record_harness import (HOST, BgClient, Recorder, jdiff, json_lines, nobody_exe, not_crashed, opens_by_pid,
                            parse_capture, report, report_json, rows_of)

TESTS = ["test_record_replay_summary", "test_record_at", "test_record_csv", "test_record_csv_tuples",
         "test_report_reader_goes_away", "test_report_reader_gone_mid_wait", "test_report_same_file_twice", "test_record_ask_redis_replay"]

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
        where = harness.keep_evidence("record_replay_summary", {
            "scenario.rcap": s["data"], "live.jsonl": "\n".join(s["raw_live"]) + "\n", "replay.jsonl": out,
            "pids.txt": "leak %d churn %d cw %d redis %d\n" % (s["leak"], s["churn"], s["cw"], s["redis"])})
        problems.append("replay differs from the live line in %d of %d lines; first: line %d (uptime_s %s): %s%s"
                        % (len(bad), min(len(rep), len(live)), i, up,
                           "; ".join("%s replay %r live %r" % (p, y, x) for p, x, y in d[:6]),
                           " (%s)" % where if where else ""))
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
        hs = [r_ for r_ in rows if r_[2] == "state" and r_[3] == str(pid)
              and r_[11] == "SYN_SENT" and r_[12] == "ESTABLISHED"]
        est = {r_[8] for r_ in hs}
        if len(est) != n:
            ports = [r_[8] for r_ in hs]
            again = sorted({p_ for p_ in ports if ports.count(p_) > 1})
            problems.append("%s: %d SYN_SENT->ESTABLISHED rows with distinct local ports (of %d rows; ports "
                            "in more than one: %s), expected %d" % (who, len(est), len(hs), again[:5], n))
        acc = {r_[10] for r_ in rows if r_[2] == "accept" and r_[3] == str(s["redis"])
               and r_[8] == str(s["port"])}
        lone = sorted(est - acc)
        if lone:
            problems.append("%s: %d connections without an accept row of redis-server pid %d; local ports %s"
                            % (who, len(lone), s["redis"], lone[:5]))
    # an accept is written when the server's socket leaves SYN_RECV, in
    # place of that change's own row, and reads as the passive open
    srv = [r_ for r_ in rows if r_[3] == str(s["redis"])]
    left = [r_ for r_ in srv if r_[2] == "state" and r_[11] == "SYN_RECV"]
    if left:
        problems.append("%d state rows of redis-server leaving SYN_RECV, which its accepts stand for; first %r"
                        % (len(left), left[0]))
    odd = [r_ for r_ in srv if r_[2] == "accept" and (r_[11], r_[12]) != ("LISTEN", "SYN_RECV")]
    if odd:
        problems.append("%d accept rows not LISTEN -> SYN_RECV; first %r" % (len(odd), odd[0]))
    if problems:
        where = harness.keep_evidence("record_csv", {"scenario.rcap": s["data"], "report.csv": out,
                                                     "record.stderr": s["record_stderr"],
                                                     "summary.json": json.dumps(js)})
        if where:
            problems.append(where)
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
