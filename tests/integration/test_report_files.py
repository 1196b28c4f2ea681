"""`rcleak report`: how it takes its files. A capture on standard input
(`-`, a pipe), the hint for a capture it may not read, a capture still being
recorded, and files of one host whose spans do not overlap. Files it skips
(unreadable, damaged, without a refresh): test_report_skipped.py.

Run alone:  python3 tests/integration/runner.py -k report_files
"""
import fcntl
import json
import os
import pty
import re
import subprocess
import time

import capcraft
from harness import RCLEAK, Client, Redis, check, mkdtemp, needs, ss_count
from record_harness import Recorder, nobody_exe, report, report_piped, write_bytes

TESTS = ["test_report_files_stdin_capture", "test_report_files_stdin_garbage", "test_report_files_chown_hint",
         "test_report_files_pipes", "test_report_files_recording",
         "test_report_files_spans_apart",
         "test_report_files_spans_apart_hosts", "test_report_files_spans_apart_flight"]

HELD = 4   # connections the client holds through the recording


def _recorded():
    """A real capture: a client holding HELD connections to a redis-server
    through `record -i 0.5 -d 2`. (path, bytes, client pid)."""
    r = Redis()
    c = Client("hold", ["--target", "127.0.0.1:%d:%d" % (r.port, HELD)], name="rclt-rfstdin")
    check(ss_count(c.pid, [r.port]) == HELD, "ground truth: the client does not hold %d sockets" % HELD)
    path = os.path.join(mkdtemp("rcleak-files-rec-"), "real.rcl")
    rec = Recorder(path, ["-p", str(r.port), "-i", "0.5", "-d", "2"])
    check(rec.wait() == 0, "record: %s" % rec.describe())
    with open(path, "rb") as f:
        data = f.read()
    c.exit()
    return path, data, c.pid


# ---------------------------------------------------------------------------
# `-`: the capture on standard input
# ---------------------------------------------------------------------------
def test_report_files_stdin_capture():
    """`cat x.rcl | rcleak report -` reads the capture from the pipe, as
    `report x.rcl` reads the file: the summary (its file named `-`), --csv,
    --at and --replay say the same, and the client's peak is the HELD
    connections it held. It was `-: No such file or directory`, exit 1.
    The capture cut inside its last chunk reads, from the pipe as from the
    file, up to there with exit 6."""
    path, data, pid = _recorded()
    problems = []
    rc, out, err = report([path, "--json"])
    check(rc == 0, "report FILE --json: exit %d; stderr %s" % (rc, err.strip()[-300:]))
    want = json.loads(out)
    rc, out, err = report_piped(["-", "--json"], data)
    if rc != 0:
        problems.append("report - --json: exit %d, stderr %r" % (rc, err.strip()[-300:]))
    else:
        got = json.loads(out)
        f = got["files"][0]
        if f.get("path") != "-":
            problems.append("report - --json: path %r, expected '-'" % f.get("path"))
        f["path"] = path
        if got != want:
            problems.append("report - --json differs from report FILE --json: %r vs %r"
                            % (out[:300], json.dumps(want)[:300]))
        peak = [p.get("peak_open") for p in f.get("processes", []) if p.get("pid") == pid]
        if peak != [HELD]:
            problems.append("report - --json: client pid %d peak_open %r, it held %d" % (pid, peak, HELD))
    for mode in (["--csv"], ["--at", "+1s", "--json"], ["--replay", "--speed", "10000", "--json"], []):
        rc0, out0, err0 = report([path] + mode)
        rc1, out1, err1 = report_piped(["-"] + mode, data)
        if mode == []:
            out0 = out0.replace(path, "-")
        if (rc1, out1, err1) != (rc0, out0, err0) or rc0 != 0:
            problems.append("report - %s: exit %d, stdout %r, stderr %r; report FILE: exit %d, stdout %r, "
                            "stderr %r" % (" ".join(mode), rc1, out1[:200], err1[-200:], rc0, out0[:200],
                                           err0[-200:]))
    # cut inside its last chunk: read up to there, exit 6, the same words
    cut = os.path.join(mkdtemp("rcleak-files-cut-"), "cut.rcl")
    write_bytes(cut, data[:-7])
    rc0, out0, err0 = report([cut, "--json"])
    rc1, out1, err1 = report_piped(["-", "--json"], data[:-7])
    if rc0 != 6 or rc1 != 6 or err1 != err0.replace(cut, "-") or \
            out1 != out0.replace(json.dumps(cut), json.dumps("-")):
        problems.append("cut short: report FILE exit %d stderr %r, report - exit %d stderr %r stdout %s"
                        % (rc0, err0, rc1, err1, "alike" if out1 == out0.replace(json.dumps(cut), '"-"')
                           else "differs"))
    # a file redirected to stdin (a regular file, not a pipe) reads the same
    with open(path, "rb") as f:
        r = subprocess.run([RCLEAK, "report", "-", "--csv"], stdin=f, capture_output=True, timeout=60)
    rc0, out0, _ = report([path, "--csv"])
    if r.returncode != 0 or r.stdout.decode() != out0:
        problems.append("report - < FILE --csv: exit %d, stdout differs: %s; stderr %r"
                        % (r.returncode, r.stdout != out0.encode(), r.stderr.decode()[-200:]))
    check(not problems, " | ".join(problems))


@needs("rcleak")
def test_report_files_stdin_garbage():
    """What is no whole capture, piped in, fails as the same bytes in a
    file do, naming `-` in one line: text (exit 1), nothing (exit 1), a
    header cut short (exit 6, and next to a good file that one is still
    reported). `-` given twice is a usage error (2), and so is `-` with a
    terminal for stdin: a capture is not typed."""
    good = capcraft.Cap()
    good.meta()
    good.tick(0.0, 0.0, [dict(tgid=200, fd=3, sk=0x3000, lport=40000, rport=6379)], [dict(tgid=200, opened=1)],
              [dict(tgid=200)])
    gpath = os.path.join(mkdtemp("rcleak-files-garbage-"), "good.rcl")
    good.save(gpath)
    gdata = good.data()
    problems = []
    for what, data, want_rc in (("text", b"this is not a capture\n" * 200, 1), ("nothing", b"", 1),
                                ("random bytes", os.urandom(70000), 1),
                                ("a header cut short", gdata[:30], 6)):
        rc, out, err = report_piped(["-"], data)
        if rc != want_rc or out or err.count("\n") != 1 or not err.startswith("rcleak: -: "):
            problems.append("%s piped in: exit %d, stdout %r, stderr %r; expected exit %d and one line "
                            "'rcleak: -: ...'" % (what, rc, out[:100], err, want_rc))
        if want_rc != 6:   # unreadable next to others: test_report_files_unreadable_skipped
            continue
        rc, out, err = report_piped(["-", gpath, "--json"], data)
        try:
            paths = [f["path"] for f in json.loads(out)["files"]]
        except (ValueError, KeyError):
            paths = None
        if rc != want_rc or paths != [gpath]:
            problems.append("%s piped in next to %s: exit %d, files reported %r, stderr %r; expected "
                            "exit %d and %s reported" % (what, gpath, rc, paths, err, want_rc, gpath))
    rc, out, err = report_piped(["-", gpath, "-"], gdata)
    if rc != 2 or out or err.count("\n") != 1:
        problems.append("'-' twice: exit %d, stdout %r, stderr %r; expected exit 2, one line" % (rc, out[:80], err))
    master, slave = pty.openpty()
    try:
        r = subprocess.run([RCLEAK, "report", "-"], stdin=slave, capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        r = None
    finally:
        os.close(slave)
        os.close(master)
    if r is None or r.returncode != 2 or r.stderr.count(b"\n") != 1:
        problems.append("'-' with a terminal for stdin: %s; expected exit 2 and one line"
                        % ("waited 10 s for input" if r is None else "exit %d, stderr %r" % (r.returncode,
                                                                                            r.stderr)))
    check(not problems, " | ".join(problems))


# ---------------------------------------------------------------------------
# the hint for a capture this user may not read: a command to paste
# ---------------------------------------------------------------------------
def test_report_files_chown_hint():
    """A capture `sudo rcleak record` left root's and 0600, read by another
    user: the message suggests `sudo chown "$USER" PATH`, and PATH went in
    as it was, so a path with a space or a quote gave a command that
    chowned other files or none. Pasted into sh (sudo and chown stubbed
    to print their arguments), the command now names exactly the file."""
    prefix, exe = nobody_exe()
    top = mkdtemp("rcleak-files-hint-")
    os.chmod(top, 0o755)
    d = os.path.join(top, "it's a $HOME `dir`")
    os.mkdir(d)
    os.chmod(d, 0o755)
    path = os.path.join(d, "my capture; rm -rf x.rcl")
    c = capcraft.Cap()
    c.meta()
    c.tick(0.0, 0.0)
    c.save(path)
    os.chmod(path, 0o600)
    problems = []
    for arg in (path, "./" + os.path.basename(path)):
        r = subprocess.run(prefix + [exe, "report", arg], cwd=d, capture_output=True, timeout=30)
        rc, err = r.returncode, r.stderr.decode("utf-8", "replace")
        m = re.search(r"record makes captures 0600: (.*)\)$", err.rstrip("\n"))
        if rc != 1 or err.count("\n") != 1 or not m:
            problems.append("report %r as uid 65534: exit %d, stderr %r; expected exit 1 and one line with "
                            "the chown hint" % (arg, rc, err))
            continue
        cmd = m.group(1)
        stub = 'sudo() { "$@"; }; chown() { for a in "$@"; do printf "%s\\0" "$a"; done; }; ' + cmd
        r = subprocess.run(["sh", "-c", stub], cwd=d, capture_output=True, timeout=10,
                           env={"USER": "someone", "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        got = r.stdout.decode("utf-8", "replace").split("\0")[:-1]
        if r.returncode != 0 or got != ["someone", arg]:
            problems.append("report %r: the hint's command %r, pasted into sh, runs chown with %r (sh exit %d, "
                            "stderr %r); expected ['someone', %r]" % (arg, cmd, got, r.returncode,
                                                                    r.stderr.decode()[-200:], arg))
    check(not problems, " | ".join(problems))


# ---------------------------------------------------------------------------
# a file that cannot be read, next to others
# ---------------------------------------------------------------------------
@needs("rcleak")
def test_report_files_pipes():
    """Captures given as pipes, as a shell's process substitution gives
    them (`rcleak report <(ssh a cat x.rcl) <(ssh b cat y.rcl)`, the joins
    of two hosts' captures) or a named FIFO: each was refused as "not a
    regular file", exit 1, and `-` takes one pipe only. Each is read whole
    first, as `-` is: the summary names the two hosts the crafted files
    hold, under the names given, exit 0, the same as of the files; a pipe
    cut short reads as a file cut short (exit 6)."""
    d = mkdtemp("rcleak-files-pipes-")
    a, b = os.path.join(d, "a.rcl"), os.path.join(d, "b.rcl")
    capcraft.tiny("host-a").save(a)
    capcraft.tiny("host-b").save(b)
    rc0, out0, err0 = report([a, b, "--json"])
    check(rc0 == 0, "report a.rcl b.rcl: exit %d; %s" % (rc0, err0[-300:]))
    want = json.loads(out0)
    r = subprocess.run(["bash", "-c", '"$0" report <(cat "$1") <(cat "$2") --json', RCLEAK, a, b],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    try:
        got = json.loads(out)
    except ValueError:
        got = None
    paths = [f.get("path") for f in got["files"]] if got else []
    if got:
        for f, p in zip(got["files"], (a, b)):
            f["path"] = p
    check(r.returncode == 0 and got == want and all(p.startswith("/dev/fd/") for p in paths) and len(paths) == 2,
          "report <(cat a.rcl) <(cat b.rcl) --json: exit %d, files %r, stderr %r; expected exit 0, the "
          "summary of report a.rcl b.rcl (hosts host-a, host-b) under /dev/fd/N" % (r.returncode, paths, err[-400:]))
    # a named FIFO, cut short: as a file cut short
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    cut = os.path.join(d, "cut.rcl")
    write_bytes(cut, capcraft.tiny("host-c").data()[:-7])
    rc1, out1, err1 = report([cut, "--json"])
    w = subprocess.Popen(["sh", "-c", 'cat "$0" > "$1"', cut, fifo])
    try:
        rc2, out2, err2 = report([fifo, "--json"])
    finally:
        w.wait(10)
    check((rc2, out2.replace(fifo, cut), err2.replace(fifo, cut)) == (rc1, out1, err1) and rc1 == 6,
          "report FIFO (a capture cut short): exit %d, stdout %r, stderr %r; the file: exit %d, %r, %r"
          % (rc2, out2[:200], err2[-300:], rc1, out1[:200], err1[-300:]))


@needs("rcleak")
def test_report_files_recording():
    """A capture still being recorded (`rcleak report` of the file a
    `record -d 600` is writing: what happened so far?). A recorder holds an
    exclusive flock on its file as long as it writes it (capture_write.c);
    the test holds it here. The summary said "the recorder did not finish
    this file (killed, a write error, or the host stopped)", false of a
    recorder at work, and a file read while the recorder was inside a
    chunk was "damaged", exit 6. Now one line says it is still being
    recorded, `--json` has "recording": true ("finished" stays false), and
    its end inside a chunk is no damage (exit 0, no warning). Unlocked, the
    same bytes are a recorder's unfinished file as before (exit 6 cut)."""
    d = mkdtemp("rcleak-files-live-")
    c = capcraft.Cap(host="host-a", minor=8)
    c.meta()
    for i in range(3):
        c.tick(float(i), 1.0, [dict(tgid=200, fd=3, sk=0x3000, lport=40000, rport=6379)],
               [dict(tgid=200, opened=1)], [dict(tgid=200)])
    whole = os.path.join(d, "live.rcl")
    c.save(whole)
    cut = os.path.join(d, "cut.rcl")
    write_bytes(cut, c.data()[:-7])
    problems = []
    for path, want_rc_free in ((whole, 0), (cut, 6)):
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            rc, out, err = report([path])
            rcj, outj, errj = report([path, "--json"])
        finally:
            os.close(fd)
        name = os.path.basename(path)
        if rc != 0 or "did not finish" in out or "still being recorded" not in out or err:
            problems.append("report %s (locked by its recorder): exit %d, stdout %r, stderr %r; expected exit "
                            "0, a line saying it is still being recorded, none saying it was not finished, "
                            "nothing on stderr" % (name, rc, out[:400], err[-300:]))
        try:
            f = json.loads(outj)["files"][0]
        except (ValueError, KeyError, IndexError):
            f = {}
        if rcj != 0 or f.get("recording") is not True or f.get("finished") is not False:
            problems.append("report %s --json (locked): exit %d, recording %r, finished %r; expected exit 0, "
                            "true, false" % (name, rcj, f.get("recording"), f.get("finished")))
        # no recorder: as before
        rc, out, err = report([path, "--json"])
        try:
            f = json.loads(out)["files"][0]
        except (ValueError, KeyError, IndexError):
            f = {}
        if rc != want_rc_free or f.get("recording") is not False:
            problems.append("report %s --json (no recorder): exit %d, recording %r; expected exit %d, false"
                            % (name, rc, f.get("recording"), want_rc_free))
    check(not problems, " | ".join(problems))


# ---------------------------------------------------------------------------
# files of one host whose spans do not overlap
# ---------------------------------------------------------------------------
def _host_file(name, wall0, boot, fds, counters, procs, ticks=3, host="redis-host", first=0):
    """A capture of host `host` starting at wall0: `ticks` refreshes 5 s
    apart of the given records, from the first-th (a flight recorder's
    ring dropped those before). Its path."""
    c = capcraft.Cap(host=host, boot=boot, wall0=wall0)
    c.meta(interval=5.0)
    for i in range(first, first + ticks):
        c.tick(5.0 * i, 5.0 if i else 0.0, fds, counters, procs)
    c.flush()
    path = os.path.join(mkdtemp("rcleak-files-span-"), name)
    c.save(path)
    return path


@needs("rcleak")
def test_report_files_spans_apart():
    """Two captures of one host: the server's (redis-server pid 100 with a
    loopback client 127.0.0.1:40000) and, an hour after it ended, one where
    pid 200 holds 127.0.0.1:40000 -> 6379. The summary joined them (pid 200
    counted as the server's client) without a word, though the two were
    never open at once. One line on stderr now says the files' spans do not
    overlap (--json's stdout stays one JSON object); files whose spans
    overlap, one file, or files that name no host say nothing."""
    t0 = 1700000000.0
    srv_fds = [dict(tgid=100, fd=6, sk=0x1000, lport=6379, rport=0, state=10, start=500, comm="redis-server",
                    laddr="0.0.0.0", raddr="0.0.0.0"),
               dict(tgid=100, fd=7, sk=0x2000, lport=6379, rport=40000, start=500, comm="redis-server")]
    srv = ([dict(tgid=100, start=500, opened=1, flags=1, comm="redis-server")],
           [dict(tgid=100, start=500, comm="redis-server")])
    cli_fds = [dict(tgid=200, fd=3, sk=0x3000, lport=40000, rport=6379, start=600, comm="app")]
    cli = ([dict(tgid=200, start=600, opened=1, comm="app")], [dict(tgid=200, start=600, comm="app")])
    a = _host_file("server.rcl", t0, "boot-a", srv_fds, *srv)            # t0 .. t0+10
    apart = _host_file("later.rcl", t0 + 3600, "boot-a", cli_fds, *cli)  # an hour after
    along = _host_file("along.rcl", t0 + 5, "boot-a", cli_fds, *cli)     # t0+5 .. t0+15
    problems = []
    for files, warn in (([a, apart], True), ([apart, a], True), ([a, along], False), ([a], False)):
        for mode in (["--json"], []):
            rc, out, err = report(files + mode)
            what = "report %s %s" % (" ".join(os.path.basename(f) for f in files), " ".join(mode))
            lines = err.splitlines()
            if rc != 0:
                problems.append("%s: exit %d, stderr %r" % (what, rc, err))
                continue
            if mode == ["--json"]:
                try:
                    json.loads(out)
                except ValueError:
                    problems.append("%s: stdout is not one JSON object: %r" % (what, out[:200]))
            if "overlap" in out:
                problems.append("%s: the warning went to stdout" % what)
            if warn and (len(lines) != 1 or "overlap" not in lines[0] or a not in lines[0] or apart not in lines[0]
                         or "redis-host" not in lines[0]):
                problems.append("%s: stderr %r; expected one line saying %s and %s (host redis-host) do not "
                                "overlap" % (what, err, a, apart))
            if not warn and err:
                problems.append("%s: stderr %r; the spans overlap, expected nothing" % (what, err))
    # files that name no host (a hostile file's): no telling they are one
    # host's, as the joins' loopback rule has it; they warned
    nameless = [_host_file(n, w, "", srv_fds, *srv, host="") for n, w in (("n1.rcl", t0), ("n2.rcl", t0 + 3600))]
    rc, out, err = report(nameless)
    if rc != 0 or err:
        problems.append("two files naming no host, an hour apart: exit %d, stderr %r; expected nothing" % (rc, err))
    check(not problems, " | ".join(problems))


def _server_and_client():
    """redis-server pid 100 on 10.0.0.1:6379 with one client, and pid 200
    (app) holding that connection from 10.0.0.2:40000: the fd records,
    then the counters and facts, of each side."""
    srv_fds = [dict(tgid=100, fd=6, sk=0x1000, lport=6379, rport=0, state=10, start=500, comm="redis-server",
                    laddr="0.0.0.0", raddr="0.0.0.0"),
               dict(tgid=100, fd=7, sk=0x2000, lport=6379, rport=40000, start=500, comm="redis-server",
                    laddr="10.0.0.1", raddr="10.0.0.2")]
    srv = ([dict(tgid=100, start=500, opened=1, flags=1, comm="redis-server")],
           [dict(tgid=100, start=500, comm="redis-server")])
    cli_fds = [dict(tgid=200, fd=3, sk=0x3000, lport=40000, rport=6379, start=600, comm="app",
                    laddr="10.0.0.2", raddr="10.0.0.1")]
    cli = ([dict(tgid=200, start=600, opened=1, comm="app")], [dict(tgid=200, start=600, comm="app")])
    return srv_fds, srv, cli_fds, cli


@needs("rcleak")
def test_report_files_spans_apart_hosts():
    """Two captures of two hosts: the server's (host redis-host: redis-server
    pid 100 with a client 10.0.0.2:40000 -> 10.0.0.1:6379) and, an hour
    after it ended, app-host's, where pid 200 holds 10.0.0.2:40000 ->
    10.0.0.1:6379. The summary joined them (pid 200 of app-host counted as
    the server's client) without a word, as it once did for files of one
    host: a join compares what the hosts held at the same time, and these
    two were never recording at once (the client port reused, say). One
    line on stderr now names both files and both hosts; stdout, the join
    included, is unchanged. Files whose spans overlap say nothing."""
    t0 = 1700000000.0
    srv_fds, srv, cli_fds, cli = _server_and_client()
    a = _host_file("server.rcl", t0, "boot-a", srv_fds, *srv)                               # t0 .. t0+10
    apart = _host_file("later.rcl", t0 + 3600, "boot-b", cli_fds, *cli, host="app-host")    # an hour after
    along = _host_file("along.rcl", t0 + 5, "boot-b", cli_fds, *cli, host="app-host")       # t0+5 .. t0+15
    problems = []
    for files, warn in (([a, apart], True), ([apart, a], True), ([a, along], False)):
        what = "report %s --json" % " ".join(os.path.basename(f) for f in files)
        rc, out, err = report(files + ["--json"])
        lines = err.splitlines()
        try:
            js = json.loads(out)
            joined = [(c["host"], c["pid"], c["count"]) for f in js["files"] for s in f["servers_joined"]
                      for c in s["client_processes"]]
        except (ValueError, KeyError):
            problems.append("%s: exit %d, stdout is not the summary: %r" % (what, rc, out[:200]))
            continue
        if rc != 0 or joined != [("app-host", 200, 1)]:
            problems.append("%s: exit %d, joins %r; expected exit 0 and pid 200 of app-host joined (the warning "
                            "leaves stdout alone)" % (what, rc, joined))
        if warn and (len(lines) != 1 or "overlap" not in lines[0] or a not in lines[0] or apart not in lines[0]
                     or "redis-host" not in lines[0] or "app-host" not in lines[0]):
            problems.append("%s: stderr %r; expected one line saying %s (redis-host) and %s (app-host) do not "
                            "overlap" % (what, err, a, apart))
        if not warn and err:
            problems.append("%s: stderr %r; the spans overlap, expected nothing" % (what, err))
    check(not problems, " | ".join(problems))


@needs("rcleak")
def test_report_files_spans_apart_flight():
    """A flight recorder's capture holds its ring and what came after, not
    its whole recording: app-host's `record --ring` started 10 minutes
    before redis-host's capture (t0 .. t0+10) and fired 20 s after that
    ended, its file holding t0+20 .. t0+30. Their spans were taken from
    the recording's start, t0-600, and overlapped: the joins paired
    connections never open at once without a word (and two overlapping
    files were said to start 10 minutes before their first refresh). One
    line now says they do not overlap, the flight capture starting at its
    first refresh."""
    t0 = 1700000000.0
    srv_fds, srv, cli_fds, cli = _server_and_client()
    a = _host_file("server.rcl", t0, "boot-a", srv_fds, *srv)                                # t0 .. t0+10
    flight = _host_file("flight.rcl", t0 - 600, "boot-b", cli_fds, *cli, host="app-host", first=124)
    starts = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t0 + 20))
    rc, out, err = report([a, flight, "--json"])
    lines = err.splitlines()
    check(rc == 0 and len(lines) == 1 and "overlap" in lines[0] and flight in lines[0]
          and "second starts %s" % starts in lines[0],
          "report %s %s: exit %d, stderr %r; expected one line saying they do not overlap, the flight capture "
          "starting %s" % (a, flight, rc, err, starts))
