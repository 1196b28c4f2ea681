"""`rcleak record` and `rcleak report`: forensics captures.

A capture is checked against two references: the live JSON lines the same
`record --json` printed while it recorded (report must give back exactly what
the live view showed), and the ground truth of the scenario itself (the
clients' own counts, ss, Redis).  The capture container is also walked here,
independently of rcleak, by a small parser that follows
docs/capture-format.md; it says which chunks a cut-short or damaged file
still holds whole, hence how many ticks and events report must find.

Run alone:  python3 tests/integration/runner.py -k record
"""
import atexit
import csv
import io
import json
import os
import random
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import harness
from harness import (CLIENT, RCLEAK, Client, Fail, Lines, Redis, Skip, check, mkdtemp, spawn,
                     ss_accepted, ss_count, ss_states, stop, wait_until)

TESTS = ["test_record_replay_summary", "test_record_at", "test_record_csv", "test_record_csv_tuples",
         "test_record_join", "test_record_truncated", "test_record_corrupted",
         "test_record_refusals", "test_record_flight_trigger", "test_record_flight_sigusr1",
         "test_record_same_tier"]

# record types (user/record.h) and the container (docs/capture-format.md)
REC_EVENT, REC_TICK, REC_TICK_END, REC_EVENTS = 1, 2, 6, 8
CSV_HEADER = ("time,host,kind,owner_pid,task_pid,comm,family,laddr,lport,raddr,rport,"
              "old_state,new_state")
CSV_KINDS = {"connect", "accept", "state", "close", "app-close", "exit-close", "listen"}
HOST = os.uname().nodename

LEAK_N = 24          # scenario: the leaker's connections, one every 200 ms
CW_N = 3             # scenario: connections of the CLOSE_WAIT holder
RECORD_TIMEOUT = 30  # seconds for a `record -d` to finish


# ---------------------------------------------------------------------------
# running rcleak record / report
# ---------------------------------------------------------------------------
class Recorder:
    """One `rcleak record -w PATH ARGS`, stdout and stderr collected by line."""

    def __init__(self, path, args, json_out=True, preexec_fn=None):
        self.path = path
        self.argv = [RCLEAK, "record", "-w", path] + list(args) + (["--json"] if json_out else [])
        self.proc = spawn(self.argv, "rcleak record", stdin=subprocess.DEVNULL,
                          preexec_fn=preexec_fn)
        self.pid = self.proc.pid
        self.out = Lines(self.proc.stdout, "record stdout")
        self.err = Lines(self.proc.stderr, "record stderr")
        self.rc = None

    def describe(self):
        return "`rcleak %s` rc=%s; stderr: %s" % (" ".join(self.argv[1:]), self.proc.poll(),
                                                  self.err.text().strip()[-800:])

    def first(self, timeout=20):
        """Wait for the first live line (the recorder is up and recording)."""
        line = self.out.wait_line(0, timeout)
        if line is None:
            raise Fail("no first JSON line from the recorder within %ds: %s" % (timeout, self.describe()))
        return json.loads(line)

    def wait_lines(self, n, timeout):
        line = self.out.wait_line(n - 1, timeout)
        if line is None:
            raise Fail("recorder printed %d live lines, waited for %d within %ds: %s"
                       % (len(self.out.lines), n, timeout, self.describe()))

    def wait_err(self, needle, timeout):
        """Wait for a stderr line containing needle; returns (line, monotonic time seen)."""
        deadline = time.monotonic() + timeout
        i = 0
        while True:
            line = self.err.wait_line(i, max(0.0, deadline - time.monotonic()))
            if line is None:
                raise Fail("recorder stderr has no line with %r within %ds: %s"
                           % (needle, timeout, self.describe()))
            if needle in line:
                return line, time.monotonic()
            i += 1

    def wait(self, timeout=RECORD_TIMEOUT):
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(self.proc, signal.SIGKILL)
            raise Fail("rcleak record did not exit within %ds: %s" % (timeout, self.describe()))
        # the reader threads get EOF right after the exit
        wait_until(lambda: self.out.eof and self.err.eof, 5, "the recorder's pipes to close")
        return self.rc

    def live(self):
        """The live JSON lines, parsed."""
        res = []
        for i, line in enumerate(self.out.lines):
            try:
                res.append(json.loads(line))
            except ValueError:
                raise Fail("record --json stdout line %d is not JSON: %r" % (i, line[:300]))
        return res


class BgClient(Client):
    """An rclient.py whose READY is awaited later (it connects while other
    things happen)."""

    def __init__(self, mode, args, name):  # noqa: super().__init__ would wait for READY
        argv = [sys.executable, "-u", CLIENT, "--name", name, mode] + list(args)
        self.proc = spawn(argv, "client " + mode)
        self.out = Lines(self.proc.stdout, "client")
        self.next = 0
        self.pid = self.ns_pid = self.proc.pid
        self.name = name

    def wait_ready(self, timeout=30):
        self.ready = self.expect("READY", timeout)
        self.pid = int(self.ready[1])
        return int(self.ready[2])


def report(args, timeout=60, argv_prefix=(), exe=None):
    """`rcleak report ARGS` to completion: (rc, stdout, stderr).  rc < 0: killed by a signal."""
    argv = list(argv_prefix) + [exe or RCLEAK, "report"] + list(args)
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail("`rcleak report %s` did not exit within %ds" % (" ".join(args), timeout))
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def not_crashed(rc, what, err):
    check(rc is not None and 0 <= rc < 128,
          "%s: crashed (%s); stderr: %s" % (
              what, "signal %d" % -rc if rc is not None and rc < 0 else "exit %s" % rc,
              err.strip()[-400:]))


def report_json(args, what, want_rc=0):
    rc, out, err = report(list(args) + ["--json"])
    not_crashed(rc, what, err)
    check(rc == want_rc, "%s: exit %d, expected %d; stderr: %s" % (what, rc, want_rc, err.strip()[-500:]))
    try:
        return json.loads(out), err
    except ValueError:
        raise Fail("%s: stdout is not one JSON object: %r" % (what, out[:400]))


def json_lines(out, what):
    res = []
    for i, line in enumerate(out.splitlines()):
        try:
            res.append(json.loads(line))
        except ValueError:
            raise Fail("%s: line %d is not JSON: %r" % (what, i, line[:300]))
    return res


def jdiff(a, b, path=""):
    """Differences between two JSON values: [(path, a's value, b's value)]."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                out.append((path + "." + k, a.get(k, "<missing>"), b.get(k, "<missing>")))
            else:
                out += jdiff(a[k], b[k], path + "." + k)
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        if len(a) != len(b):
            out.append((path, "%d items" % len(a), "%d items" % len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            out += jdiff(x, y, "%s[%d]" % (path, i))
        return out
    if a != b or type(a) is not type(b):
        return [(path, a, b)]
    return []


def rows_of(line, pid):
    return [p for p in line.get("processes", []) if p.get("pid") == pid]


def opens_by_pid(line):
    """{pid: open} of a live line (live rows preferred over exited ones)."""
    res = {}
    for p in line.get("processes", []):
        if p.get("pid") not in res or not p.get("exited"):
            res[p.get("pid")] = p.get("open")
    return res


def nobody_exe():
    """(setpriv argv prefix, an rcleak uid 65534 can execute)."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise Skip("setpriv not installed")
    exe = os.path.realpath(RCLEAK)
    parts = exe.split("/")
    ok = all(os.stat("/".join(parts[:i]) or "/").st_mode & stat.S_IXOTH for i in range(2, len(parts)))
    if not ok or not os.stat(exe).st_mode & stat.S_IXOTH:
        d = mkdtemp("rcleak-nobody-")
        os.chmod(d, 0o755)
        exe = os.path.join(d, "rcleak")
        shutil.copy2(RCLEAK, exe)
        os.chmod(exe, 0o755)
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"], exe


# ---------------------------------------------------------------------------
# the capture container, read independently of rcleak (docs/capture-format.md)
# ---------------------------------------------------------------------------
def parse_capture(data, what="capture"):
    """Walk an undamaged capture: header end, wall_start, and every chunk
    as {start, end, data_start, clen, records: [type, ...]}."""
    check(data[:8] == b"RCLEAKCF", "%s: magic is %r, not RCLEAKCF" % (what, data[:8]))
    major, minor, blen = struct.unpack_from("<HHI", data, 8)
    check(major == 1, "%s: format major %d" % (what, major))
    hend = 16 + blen + 4
    check(len(data) >= hend and zlib.crc32(data[:16 + blen]) == struct.unpack_from("<I", data, 16 + blen)[0],
          "%s: file header fails its CRC (writer bug)" % what)
    info = {"header_end": hend, "wall_start": None, "ports": [], "host": None}
    pos = 16
    while pos < 16 + blen:
        tag, ln = struct.unpack_from("<HH", data, pos)
        v = data[pos + 4:pos + 4 + ln]
        if tag == 6:
            info["wall_start"] = struct.unpack("<d", v)[0]
        elif tag == 5:
            info["ports"] = list(struct.unpack("<%dH" % (ln // 2), v))
        elif tag == 2:
            info["host"] = v.decode("ascii", "replace")
        pos += 4 + ln
    chunks = []
    off = hend
    while off < len(data):
        check(data[off:off + 4] == b"RCHK", "%s: no sync word at byte %d (writer bug?)" % (what, off))
        seq, nrec, clen, ulen, dcrc, flags, hcrc = struct.unpack_from("<7I", data, off + 4)
        check(zlib.crc32(data[off:off + 28]) == hcrc, "%s: chunk at %d: header CRC" % (what, off))
        comp = data[off + 32:off + 32 + clen]
        check(len(comp) == clen and zlib.crc32(comp) == dcrc, "%s: chunk at %d: data CRC" % (what, off))
        raw = zlib.decompress(comp)
        check(len(raw) == ulen, "%s: chunk at %d: inflates to %d, header says %d" % (what, off, len(raw), ulen))
        recs, p = [], 0
        while p < len(raw):
            typ, _ts, ln = struct.unpack_from("<HQI", raw, p)
            # a batch (user/evbatch.h): version byte, u16 number of events
            nev = struct.unpack_from("<H", raw, p + 15)[0] if typ == REC_EVENTS else 1
            recs.append((typ, nev))
            p += 14 + ln
        check(len(recs) == nrec, "%s: chunk at %d: %d records, header says %d" % (what, off, len(recs), nrec))
        check(seq == len(chunks), "%s: chunk at %d has seq %d, expected %d" % (what, off, seq, len(chunks)))
        chunks.append({"start": off, "end": off + 32 + clen, "data_start": off + 32, "clen": clen,
                       "records": recs})
        off += 32 + clen
    info["chunks"] = chunks
    return info


def expect_counts(chunks):
    """(ticks, events) a reader that gets exactly these chunks must find: the
    replay's state machine (a tick completes at TICK_END after a TICK)."""
    ticks = events = 0
    in_tick = False
    for c in chunks:
        for t, nev in c["records"]:
            if t in (REC_EVENT, REC_EVENTS):
                events += nev
            elif t == REC_TICK:
                in_tick = True
            elif t == REC_TICK_END and in_tick:
                in_tick = False
                ticks += 1
    return ticks, events


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


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
# 1. replay == live; the summary against the live lines and ground truth
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
# 2. --at
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
# 3. --csv
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
        zero = [r_ for r_ in mine if r_[8] == "0" or r_[10] == "0"]
        if zero:
            problems.append("%d of %d '%s' rows of our clients have lport or rport 0; first %s"
                            % (len(zero), len(mine), kind, ",".join(zero[0])))
    srv = [r_ for r_ in rows if r_[3] == str(s["redis"]) and r_[2] in ("accept", "state", "close", "app-close")]
    zero = [r_ for r_ in srv if r_[8] == "0" or r_[10] == "0"]
    if zero:
        problems.append("%d of %d redis-server rows have lport or rport 0 (its lport is %d); first %s"
                        % (len(zero), len(srv), s["port"], ",".join(zero[0])))
    nocomm = [r_ for r_ in rows if r_[3] in ours and r_[5] != ours[r_[3]]]
    if nocomm:
        problems.append("%d rows of our clients whose comm column is not the owner's comm; first %s"
                        % (len(nocomm), ",".join(nocomm[0])))
    check(not problems, " | ".join(problems))


# ---------------------------------------------------------------------------
# 4. several files: server connections joined to client holders by 4-tuple
# ---------------------------------------------------------------------------
def test_record_join():
    """A (-d 3) and B (-d 6) record the same host.  c1 (3) connects before
    both, c2 (5) while both record, c3 (2) after A ended.  At their ends A's
    server holds 8 and B's 10; a join may only name holders found in the
    OTHER file: A -> {c1:3, c2:5}, B -> {c1:3, c2:5} (c3 is not in A)."""
    r = Redis()
    d = mkdtemp("rcleak-join-")
    pa, pb = os.path.join(d, "a.rcap"), os.path.join(d, "b.rcap")
    c1 = Client("hold", ["--target", "127.0.0.1:%d:3" % r.port], name="rclt-rj1")
    a = Recorder(pa, ["-p", str(r.port), "-i", "0.5", "-d", "3"])
    b = Recorder(pb, ["-p", str(r.port), "-i", "0.5", "-d", "6"])
    a.first()
    b.first()
    c2 = Client("hold", ["--target", "127.0.0.1:%d:5" % r.port], name="rclt-rj2")
    check(a.wait() == 0, "recorder A: %s" % a.describe())
    c3 = Client("hold", ["--target", "127.0.0.1:%d:2" % r.port], name="rclt-rj3")
    for c, n in ((c1, 3), (c2, 5), (c3, 2)):
        t = ss_count(c.pid, [r.port])
        check(t == n, "ground truth: ss shows %d sockets for pid %d, expected %d" % (t, c.pid, n))
    t = ss_accepted(r.pid, r.port)
    check(t == 10, "ground truth: redis-server holds %d accepted sockets, expected 10" % t)
    check(b.wait() == 0, "recorder B: %s" % b.describe())

    js, _ = report_json([pa, pb], "report A B --json")
    files = js.get("files", [])
    check(len(files) == 2, "report A B --json: %d files" % len(files))
    want_cp = sorted([(HOST, c1.pid, "rclt-rj1", 3), (HOST, c2.pid, "rclt-rj2", 5)])
    problems = []
    for i, (name, clients) in enumerate((("A", 8), ("B", 10))):
        f = files[i]
        sj = f.get("servers_joined")
        if not isinstance(sj, list) or len(sj) != 1:
            problems.append("files[%d] (%s): servers_joined=%r, expected one entry for redis-server pid %d"
                            % (i, name, sj, r.pid))
            continue
        e = sj[0]
        if e.get("pid") != r.pid or e.get("clients") != clients:
            problems.append("files[%d] (%s): server pid=%r clients=%r, expected pid %d clients %d"
                            % (i, name, e.get("pid"), e.get("clients"), r.pid, clients))
        got = sorted((x.get("host"), x.get("pid"), x.get("comm"), x.get("count"))
                     for x in e.get("client_processes", []))
        if got != want_cp:
            problems.append("files[%d] (%s): client_processes (host, pid, comm, count) %s, expected %s "
                            "(c3 pid %d is only in file B)" % (i, name, got, want_cp, c3.pid))
    # the text summary names the same joins
    rc, out, err = report([pa, pb])
    if rc != 0 or "%d from %s pid %d" % (5, HOST, c2.pid) not in " ".join(out.split()):
        problems.append("text report A B: exit %d, no line '5 from %s pid %d': %r" % (
            rc, HOST, c2.pid, out[-600:]))
    check(not problems, " | ".join(problems))


# ---------------------------------------------------------------------------
# 5. cut short at many offsets
# ---------------------------------------------------------------------------
def small_capture():
    """A small capture of a few chunks: 4 held, churn for 1.5 s, -d 3 -i 0.5."""
    r = Redis()
    d = mkdtemp("rcleak-small-")
    path = os.path.join(d, "small.rcap")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "-d", "3"])
    rec.first()
    Client("hold", ["--target", "127.0.0.1:%d:4" % r.port], name="rclt-rsmall")
    churn = BgClient("churn", ["--target", "127.0.0.1:%d" % r.port, "--duration", "1.5", "--rate", "20"],
                     "rclt-rsmallc")
    churn.wait_ready(20)
    check(rec.wait() == 0, "record: %s" % rec.describe())
    with open(path, "rb") as f:
        data = f.read()
    info = parse_capture(data, "small capture")
    check(len(info["chunks"]) >= 5, "small capture has %d chunks, expected one per tick (>= 5): "
          "does record flush each refresh?" % len(info["chunks"]))
    return d, data, info, rec.live()


def test_record_truncated():
    d, data, info, live = small_capture()
    chunks = info["chunks"]
    full_ticks, full_events = expect_counts(chunks)
    check(full_ticks == len(live), "small capture: %d whole ticks, record printed %d lines"
          % (full_ticks, len(live)))
    full = os.path.join(d, "full.rcap")
    write_bytes(full, data)
    rc, rep_out, err = report([full, "--replay", "--json", "--speed", "10000"])
    check(rc == 0 and not err.strip(), "whole file: replay exit %d stderr %r" % (rc, err[:300]))
    full_replay = rep_out.splitlines()
    js, err = report_json([full], "whole file")
    f0 = js["files"][0]
    check((f0["ticks"], f0["events"]) == (full_ticks, full_events) and not err.strip(),
          "whole file: ticks=%r events=%r stderr %r; the file holds %d ticks, %d events"
          % (f0["ticks"], f0["events"], err[:200], full_ticks, full_events))

    size = len(data)
    offsets = sorted(set(range(0, size, 97)) | set(range(max(0, size - 300), size)))
    ends = [info["header_end"]] + [c["end"] for c in chunks]
    cut = os.path.join(d, "cut.rcap")
    failures = []
    for x in offsets:
        write_bytes(cut, data[:x])
        rc, out, err = report([cut, "--json"])
        if rc is None or rc < 0 or rc >= 128:
            failures.append("cut at %d: crashed (rc %s); stderr %r" % (x, rc, err[-200:]))
            continue
        if x < info["header_end"]:
            # empty: not a capture (1); the magic, then cut short: damaged (6)
            want_rc = 1 if x == 0 else 6
            if rc != want_rc or err.count("\n") != 1:
                failures.append("cut at %d (inside the %d-byte file header): exit %d stderr %r; expected %d "
                                "with a one-line message" % (x, info["header_end"], rc, err.strip()[:150],
                                                             want_rc))
            continue
        whole = [c for c in chunks if c["end"] <= x]
        ticks, events = expect_counts(whole)
        last_end = max(e for e in ends if e <= x)
        try:
            f = json.loads(out)["files"][0]
        except (ValueError, KeyError, IndexError):
            failures.append("cut at %d: exit %d, stdout not a summary: %r stderr %r" % (x, rc, out[:150], err[:150]))
            continue
        if (f.get("ticks"), f.get("events")) != (ticks, events):
            failures.append("cut at %d: ticks=%r events=%r, expected %d, %d (the %d whole chunks)" % (
                x, f.get("ticks"), f.get("events"), ticks, events, len(whole)))
        if x in ends:   # at a chunk boundary the file is whole
            if rc != 0 or err.strip():
                failures.append("cut at %d (a chunk boundary: a whole file): exit %d stderr %r, expected 0, "
                                "no warning" % (x, rc, err.strip()[:150]))
            continue
        want = "read up to byte %d (%d whole chunks)" % (last_end, len(whole))
        if rc != 6 or want not in err:
            failures.append("cut at %d: exit %d stderr %r; expected exit 6 and a warning with %r" % (
                x, rc, err.strip()[:200], want))
            continue
        # the replay of what is left: exactly the first live lines
        rc, out, err = report([cut, "--replay", "--json", "--speed", "10000"])
        if rc != 6 or out.splitlines() != full_replay[:ticks]:
            failures.append("cut at %d: replay exit %d, %d lines; expected exit 6 and the first %d lines "
                            "of the whole file's replay" % (x, rc, len(out.splitlines()), ticks))
    check(not failures, "%d of %d cut offsets (file %d bytes, header %d, chunk ends %s) failed: %s" % (
        len(failures), len(offsets), size, info["header_end"], ends[1:], " | ".join(failures[:6])))


# ---------------------------------------------------------------------------
# 5b. damaged chunks, damaged headers, not a capture
# ---------------------------------------------------------------------------
def _flip(data, start, n):
    b = bytearray(data)
    for i in range(start, start + n):
        b[i] ^= 0xFF
    return bytes(b)


def _forge_clen(data, c, clen):
    """Chunk c's header with another compressed length and a header CRC that checks out."""
    b = bytearray(data)
    s = c["start"]
    struct.pack_into("<I", b, s + 12, clen)
    struct.pack_into("<I", b, s + 28, zlib.crc32(bytes(b[s:s + 28])))
    return bytes(b)


def test_record_corrupted():
    d, data, info, _live = small_capture()
    ch = info["chunks"]
    n = len(ch)
    i = n // 2
    mid = lambda c: c["data_start"] + c["clen"] // 2  # noqa: E731
    cases = [
        ("8 bytes flipped in the middle of chunk %d's data" % i, _flip(data, mid(ch[i]) - 4, 8), {i}, 1),
        ("one bit flipped in chunk %d's data" % i,
         data[:mid(ch[i])] + bytes([data[mid(ch[i])] ^ 0x10]) + data[mid(ch[i]) + 1:], {i}, 1),
        ("chunk %d's header: a byte of its length flipped" % i, _flip(data, ch[i]["start"] + 13, 1), {i}, 1),
        ("chunk %d's sync word overwritten" % i,
         data[:ch[i]["start"]] + b"XXXX" + data[ch[i]["start"] + 4:], {i}, 1),
        ("chunk %d's header claims the rest of the file (CRC recomputed)" % i,
         _forge_clen(data, ch[i], len(data) - ch[i]["data_start"]), {i}, 1),
        ("chunk %d's header claims 10 bytes less (CRC recomputed)" % i,
         _forge_clen(data, ch[i], ch[i]["clen"] - 10), {i}, 1),
        ("one damaged stretch from chunk %d's data into chunk %d's header" % (i - 1, i),
         _flip(data, mid(ch[i - 1]), ch[i]["start"] + 8 - mid(ch[i - 1])), {i - 1, i}, 1),
        ("chunks 1 and %d damaged" % (n - 2), _flip(_flip(data, mid(ch[1]), 4), mid(ch[n - 2]), 4),
         {1, n - 2}, 2),
        ("the last chunk's data damaged", _flip(data, mid(ch[-1]), 4), {n - 1}, 1),
        ("5000 random bytes after the file header",
         data[:info["header_end"]] + bytes(random.Random(7).getrandbits(8) for _ in range(5000)),
         set(range(n)), 1),
    ]
    path = os.path.join(d, "bad.rcap")
    problems = []
    for what, blob, lost, nbad in cases:
        write_bytes(path, blob)
        ticks, events = expect_counts([c for k, c in enumerate(ch) if k not in lost])
        for mode in (["--json"], ["--replay", "--json", "--speed", "10000"], ["--csv"], []):
            rc, out, err = report([path] + mode)
            label = "%s (report %s)" % (what, " ".join(mode) or "text")
            if rc is None or rc < 0 or rc >= 128:
                problems.append("%s: crashed (rc %s)" % (label, rc))
                continue
            want = "%d damaged chunk%s skipped" % (nbad, "" if nbad == 1 else "s")
            if rc != 6 or want not in err:
                problems.append("%s: exit %d stderr %r; expected exit 6 and %r" % (label, rc, err.strip()[:200], want))
            if mode == ["--json"]:
                try:
                    f = json.loads(out)["files"][0]
                    if (f.get("ticks"), f.get("events")) != (ticks, events):
                        problems.append("%s: ticks=%r events=%r, expected %d, %d (every chunk but %s)" % (
                            label, f.get("ticks"), f.get("events"), ticks, events, sorted(lost)))
                except (ValueError, KeyError, IndexError):
                    problems.append("%s: stdout not a summary: %r" % (label, out[:200]))
            elif mode[:1] == ["--replay"] and len(out.splitlines()) != ticks:
                problems.append("%s: %d lines, expected %d" % (label, len(out.splitlines()), ticks))
            elif mode == ["--csv"] and len(out.splitlines()) != events + 1:
                problems.append("%s: %d rows, expected %d events" % (label, len(out.splitlines()) - 1, events))

    # not readable at all: not a capture, or a newer format (exit 1); a
    # capture whose header is damaged or cut short (exit 6); a message either way
    hdr = info["header_end"]
    newer = bytearray(data[:8] + struct.pack("<H", 2) + data[10:])
    struct.pack_into("<I", newer, hdr - 4, zlib.crc32(bytes(newer[:hdr - 4])))
    unreadable = [
        ("wrong magic", b"RCLEAKXX" + data[8:], 1, "not an rcleak capture"),
        ("a text file", b"hello, this is not a capture\n" * 40, 1, "not an rcleak capture"),
        ("an empty file", b"", 1, None),
        ("format major 2 (its header checks out)", bytes(newer), 1, "newer"),
        ("format major 2, the header's CRC not redone", data[:8] + struct.pack("<H", 2) + data[10:], 6,
         "damaged"),
        ("a flipped byte in the file header's body", _flip(data, hdr - 10, 1), 6, "damaged"),
        ("the file header cut short", data[:hdr - 1], 6, "cut short"),
    ]
    for what, blob, want_rc, needle in unreadable:
        write_bytes(path, blob)
        rc, out, err = report([path, "--json"])
        if rc is None or rc < 0 or rc >= 128:
            problems.append("%s: crashed (rc %s)" % (what, rc))
        elif rc != want_rc or not err.strip() or (needle and needle not in err):
            problems.append("%s: exit %d stderr %r; expected exit %d and a message%s" % (
                what, rc, err.strip()[:200], want_rc, " with %r" % needle if needle else ""))
    for what, p in (("a directory", d), ("a missing file", os.path.join(d, "nope.rcap"))):
        rc, out, err = report([p])
        if rc != 1 or not err.strip():
            problems.append("%s: exit %d stderr %r; expected exit 1 and a message" % (what, rc, err.strip()[:200]))
    # a good file next to a bad one: the good one is still reported
    good = os.path.join(d, "good.rcap")
    write_bytes(good, data)
    write_bytes(path, b"garbage" * 10)
    rc, out, err = report([good, path, "--json"])
    if rc != 1 or path not in err:
        problems.append("good + not-a-capture: exit %d stderr %r; expected exit 1 naming %s" % (
            rc, err.strip()[:200], path))
    check(not problems, "%d problems: %s" % (len(problems), " | ".join(problems[:8])))


# ---------------------------------------------------------------------------
# 6. refusals: existing files, symlinks, --force
# ---------------------------------------------------------------------------
def test_record_refusals():
    r = Redis()
    d = mkdtemp("rcleak-refuse-")
    problems = []
    args = ["-p", str(r.port), "-i", "0.5", "-d", "1"]

    def snapshot(p):
        st = os.lstat(p)
        body = open(p, "rb").read() if stat.S_ISREG(st.st_mode) else None
        return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_ino, st.st_nlink, body,
                os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)

    def run(path, extra, what, want_rc, untouched=()):
        before = {p: snapshot(p) for p in untouched}
        rec = Recorder(path, args + list(extra), json_out=False)
        rc = rec.wait(20)
        err = rec.err.text().strip()
        ok_rc = rc == want_rc if want_rc is not None else rc not in (0, None) and 0 < rc < 128
        if not ok_rc or (rc != 0 and not err):
            problems.append("%s: exit %s stderr %r; expected %s with a message" % (
                what, rc, err[:200], "exit %d" % want_rc if want_rc is not None else "a refusal"))
        for p, s0 in before.items():
            if not os.path.lexists(p):
                problems.append("%s: %s is gone" % (what, p))
            elif snapshot(p) != s0:
                problems.append("%s: %s changed: %s -> %s" % (what, p, s0[:4] + s0[5:], snapshot(p)[:4] + snapshot(p)[5:]))
        return rc

    def regular(name, body=b"precious evidence\n", mode=0o644):
        p = os.path.join(d, name)
        write_bytes(p, body)
        os.chmod(p, mode)
        return p

    # an existing regular file, no --force: exit 2, file untouched
    p = regular("exists.rcap")
    run(p, [], "record -w onto an existing file", 2, untouched=[p])
    # refused before it loads anything into the kernel (and walks the host)
    if not shutil.which("strace"):
        problems.append("strace is missing: tools/install-deps.sh --test installs it")
    else:
        trace = os.path.join(d, "strace.txt")
        subprocess.run(["strace", "-f", "-qq", "-e", "trace=bpf", "-o", trace, RCLEAK, "record", "-w", p]
                       + args, capture_output=True, timeout=30)
        loads = [ln for ln in open(trace) if "BPF_PROG_LOAD" in ln]
        if loads:
            problems.append("record -w onto an existing file loaded %d BPF programs before refusing"
                            % len(loads))
    # a symlink to a regular file: refused with and without --force, target untouched
    tgt = regular("target.txt")
    ln = os.path.join(d, "link.rcap")
    os.symlink(tgt, ln)
    run(ln, [], "record -w onto a symlink", 2, untouched=[tgt, ln])
    run(ln, ["--force"], "record -w --force onto a symlink", None, untouched=[tgt, ln])
    # a dangling symlink: nothing is created through it
    missing = os.path.join(d, "created-through-link")
    dl = os.path.join(d, "dangling.rcap")
    os.symlink(missing, dl)
    for extra in ([], ["--force"]):
        run(dl, extra, "record -w %s onto a dangling symlink" % " ".join(extra), None, untouched=[dl])
        if os.path.lexists(missing):
            problems.append("record -w %s onto a dangling symlink created its target %s" % (" ".join(extra), missing))
            os.unlink(missing)
    # a file with another hard link, --force: refused, both names untouched
    hl = regular("linked.rcap")
    hl2 = os.path.join(d, "other-name")
    os.link(hl, hl2)
    run(hl, ["--force"], "record -w --force onto a file with another hard link", None, untouched=[hl, hl2])
    # a directory, --force: refused
    sub = os.path.join(d, "adir")
    os.mkdir(sub)
    run(sub, ["--force"], "record -w --force onto a directory", None, untouched=[sub])
    # a FIFO, --force: refused at once (no hang on open)
    fifo = os.path.join(d, "fifo.rcap")
    os.mkfifo(fifo, 0o644)
    run(fifo, ["--force"], "record -w --force onto a FIFO", None, untouched=[fifo])
    # --force onto a regular 0644 file: replaced, 0600, a readable capture
    p = regular("replace.rcap")
    rc = run(p, ["--force"], "record -w --force onto a regular file", 0)
    if rc == 0:
        mode = stat.S_IMODE(os.stat(p).st_mode)
        if mode != 0o600:
            problems.append("--force replaced file has mode %o, expected 600" % mode)
        rc, out, err = report([p, "--json"])
        if rc != 0 or b"precious" in open(p, "rb").read():
            problems.append("--force replaced file: report exit %d stderr %r (old bytes left: %s)" % (
                rc, err.strip()[:200], b"precious" in open(p, "rb").read()))
    # a new file under umask 0 is still 0600
    newp = os.path.join(d, "new.rcap")
    rec = Recorder(newp, args, json_out=False, preexec_fn=lambda: os.umask(0))
    rc = rec.wait(20)
    if rc != 0:
        problems.append("record -w a new file: exit %s: %s" % (rc, rec.describe()))
    elif stat.S_IMODE(os.stat(newp).st_mode) != 0o600:
        problems.append("new capture under umask 0 has mode %o, expected 600" % stat.S_IMODE(os.stat(newp).st_mode))
    check(not problems, " | ".join(problems))


# ---------------------------------------------------------------------------
# 7. flight recorder
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
