"""Helpers of the `rcleak record` / `rcleak report` tests (test_record*.py,
test_report.py, test_report_at.py, test_ring*.py).

Running rcleak record (class Recorder, its live --json lines) and report,
a client that connects in the background (BgClient), comparing JSON
(jdiff), and the capture container walked independently of rcleak, by a
small parser that follows docs/capture-format.md (parse_capture): it says
which chunks a cut-short or damaged file still holds whole, hence how many
ticks and events report must find (expect_counts).
"""
import atexit
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zlib

from harness import (CLIENT, RCLEAK, Client, Fail, Lines, Redis, Skip, check, holdconns, mkdtemp, spawn, stop,
                     wait_until)

# record types (user/record.h) and the container (docs/capture-format.md)
REC_EVENT, REC_TICK, REC_TICK_END, REC_EVENTS = 1, 2, 6, 8
HOST = os.uname().nodename
RECORD_TIMEOUT = 30  # seconds for a `record -d` to finish


# ---------------------------------------------------------------------------
# running rcleak record / report
# ---------------------------------------------------------------------------
class Recorder:
    """One `rcleak record -w PATH ARGS`, stdout and stderr collected by line."""

    def __init__(self, path, args, json_out=True, preexec_fn=None, env=None):
        self.path = path
        self.argv = [RCLEAK, "record", "-w", path] + list(args) + (["--json"] if json_out else [])
        self.proc = spawn(self.argv, "rcleak record", stdin=subprocess.DEVNULL,
                          preexec_fn=preexec_fn, env=env)
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


def hold_many(port, nproc, nconn, timeout=60):
    """holdconns: nproc processes holding nconn connections each to port on
    127.0.0.1 (a walk that takes a while); its Popen once all are up."""
    p = spawn([holdconns(), "127.0.0.1", str(port), str(nproc), str(nconn)], "client holdconns",
              stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = Lines(p.stdout, "holdconns")
    line = out.wait_line(0, timeout)
    want = "READY %d" % (nproc * nconn)
    if line is None or line.strip() != want:
        raise Fail("holdconns %d x %d: %r, expected %r" % (nproc, nconn, line, want))
    return p


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


def report_piped(args, data, timeout=60):
    """`cat FILE | rcleak report ARGS`, FILE holding data: a real pipe on
    rcleak's stdin, as `ssh host cat x.rcl | rcleak report -` gives it.
    (rc, stdout, stderr)."""
    d = mkdtemp("rcleak-files-pipe-")
    src = os.path.join(d, "in")
    write_bytes(src, data)
    cat = subprocess.Popen(["cat", src], stdout=subprocess.PIPE)
    try:
        r = subprocess.run([RCLEAK, "report"] + list(args), stdin=cat.stdout, capture_output=True,
                           timeout=timeout)
    finally:
        cat.stdout.close()
        cat.wait()
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


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
    """Walk an undamaged capture: header end, wall_start, mono_start (ns),
    every chunk as {start, end, data_start, clen, records: [type, ...]},
    and ticks: each keyframe's (wall, mono_ns), in file order."""
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
        elif tag == 7 and ln == 8:
            info["mono_start"] = struct.unpack("<Q", v)[0]
        elif tag == 5:
            info["ports"] = list(struct.unpack("<%dH" % (ln // 2), v))
        elif tag == 2:
            info["host"] = v.decode("ascii", "replace")
        elif tag == 8 and ln == 8:
            info["ev_res"] = struct.unpack("<Q", v)[0]
        pos += 4 + ln
    chunks, ticks = [], []
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
            if typ == REC_TICK and ln >= 32:  # now, dt, wall (f64), mono_ns (u64)
                ticks.append(struct.unpack_from("<dQ", raw, p + 14 + 16))
            p += 14 + ln
        check(len(recs) == nrec, "%s: chunk at %d: %d records, header says %d" % (what, off, len(recs), nrec))
        check(seq == len(chunks), "%s: chunk at %d has seq %d, expected %d" % (what, off, seq, len(chunks)))
        chunks.append({"start": off, "end": off + 32 + clen, "data_start": off + 32, "clen": clen,
                       "records": recs})
        off += 32 + clen
    info["chunks"] = chunks
    info["ticks"] = ticks
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


READ_NR = {"x86_64": 0, "aarch64": 63}  # read(2), as /proc/PID/syscall numbers it


def stop_in_read(pid, nr, tries=300):
    """SIGSTOP pid until it stops right after a read(2) (/proc/PID/syscall):
    inside a refresh of record or the live view, whose walk reads the BPF
    iterators (their waits are epoll or clock_nanosleep, their output
    writes). True when it did, pid stopped."""
    for _ in range(tries):
        os.kill(pid, signal.SIGSTOP)
        wait_until(lambda: open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] == "T", 5,
                   "rcleak to stop")
        with open("/proc/%d/syscall" % pid) as f:
            sc = f.read().split()
        if sc and sc[0] == str(nr):
            return True
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.003)
    return False


# ---------------------------------------------------------------------------
# a small capture, made once and shared (test_report.py, test_report_at.py)
# ---------------------------------------------------------------------------
_SMALL = {}


def small(duration="1"):
    """A capture of a redis-server alone, `record -d DURATION -i 0.5`: its
    path, bytes, container layout (parse_capture) and the live lines. The
    one of -d 1 is made once and shared."""
    if _SMALL and duration == "1":
        return _SMALL
    r = Redis()
    d = tempfile.mkdtemp(prefix="rcleak-report-small-")   # outlives harness.cleanup()
    atexit.register(shutil.rmtree, d, True)
    path = os.path.join(d, "small.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "-d", duration])
    check(rec.wait() == 0, "record: %s" % rec.describe())
    with open(path, "rb") as f:
        data = f.read()
    res = dict(dir=d, path=path, data=data, info=parse_capture(data, "small capture"), live=rec.live())
    if duration == "1":
        _SMALL.update(res)
    return res


def one_line_err(err):
    """stderr is exactly one line (with its newline)."""
    return err.endswith("\n") and err.count("\n") == 1
