"""`rcleak report` on crafted captures (capcraft.py): values no recorder
writes but a file can hold with valid checksums, damage said once, --at
values that are not times, and files without a complete refresh.  The
reference is the file's own bytes: how many ticks were written whole.
No root, no BPF.

Run alone:  python3 tests/integration/runner.py -k report_hostile
"""
import json
import os
import re
import resource
import subprocess

import capcraft
from harness import RCLEAK, check, mkdtemp, needs
from record_harness import json_lines, not_crashed, report

TESTS = ["test_report_hostile_times", "test_report_hostile_start", "test_report_hostile_damage_once",
         "test_report_hostile_at_values", "test_report_hostile_no_refresh",
         "test_report_hostile_cut_in_first_refresh", "test_report_hostile_strings",
         "test_report_hostile_damage_in_tick", "test_report_hostile_short_record_in_tick",
         "test_report_hostile_file_name", "test_report_hostile_huge_refresh",
         "test_report_hostile_bad_tick_tail", "test_report_hostile_dropped_tick_tail"]

MODES = ([], ["--json"], ["--csv"], ["--at", "+12s"], ["--replay", "--plain", "--speed", "10000"],
         ["--replay", "--json", "--speed", "10000"])


def _save(c, name):
    path = os.path.join(mkdtemp("rcl-hostile"), name)
    c.save(path)
    return path


@needs("rcleak")
def test_report_hostile_times():
    """Two of twelve ticks hold a wall clock of 1e17 s and a NaN interval
    (valid CRCs): every mode reads the file without crashing (a SIGSEGV in
    strftime once), skips those two records as damaged (exit 6, said once),
    and replays the other ten, without waiting out a tick's 1e9 s interval
    (a replay pauses at most two recorded intervals)."""
    bad = {3: dict(wall=1e17), 7: dict(dt=float("nan")), 9: dict(dt=1e9)}   # 9: a valid, long pause
    c = capcraft.Cap()
    c.meta()
    for i in range(12):
        kw = bad.get(i, {})
        c.tick(5.0 * i, kw.get("dt", 5.0 if i else 0.0), wall=kw.get("wall"),
               fds=[dict(tgid=200, fd=3, sk=0x3000, lport=40000, rport=6379, comm="app")],
               counters=[dict(tgid=200, opened=1, comm="app")], procs=[dict(tgid=200, comm="app")])
        c.flush()
    path = _save(c, "times.rcl")
    for mode in MODES:
        rc, out, err = report([path] + mode)
        what = "report %s" % " ".join(mode)
        not_crashed(rc, what, err)
        check(rc == 6, "%s: exit %d, expected 6 (2 records damaged); stderr %r" % (what, rc, err[-300:]))
        said = re.findall(r"(\d+) records damaged", err)
        check(said == ["2"], "%s: stderr says %r of the damaged records, expected one line of 2: %r"
              % (what, said, err[-300:]))
        if mode[:2] == ["--replay", "--json"]:
            lines = json_lines(out, what)
            check(len(lines) == 10, "%s: %d lines, the file holds 10 good ticks" % (what, len(lines)))


@needs("rcleak")
def test_report_hostile_start():
    """A header whose start time is 1e17 s (checksum valid): the header is
    damaged, nothing in the file can be read (exit 6, one line)."""
    c = capcraft.Cap(wall0=1e17)
    c.meta()
    c.tick(0.0, 0.0)
    path = _save(c, "start.rcl")
    for mode in MODES:
        rc, _out, err = report([path] + mode)
        what = "report %s" % " ".join(mode)
        not_crashed(rc, what, err)
        check(rc == 6 and "not a time" in err and len(err.strip().splitlines()) == 1,
              "%s: exit %d stderr %r, expected 6 and one line naming the start time" % (what, rc, err))


@needs("rcleak")
def test_report_hostile_damage_once():
    """One chunk's compressed bytes flipped: every mode says it once (--csv
    and --at read the file twice and said it twice) and exits 6."""
    data = bytearray(capcraft.leak_scenario().data())
    chunks = [m.start() for m in re.finditer(b"RCHK", data)]
    check(len(chunks) == 12, "the crafted capture has %d chunks, expected 12" % len(chunks))
    data[chunks[5] + 40] ^= 0xff   # inside the 6th chunk's deflate stream (header: 32 bytes)
    path = os.path.join(mkdtemp("rcl-hostile"), "flip.rcl")
    with open(path, "wb") as f:
        f.write(data)
    for mode in MODES:
        rc, _out, err = report([path] + mode)
        what = "report %s" % " ".join(mode)
        not_crashed(rc, what, err)
        n = err.count("damaged chunk")
        check(rc == 6 and n == 1, "%s: exit %d, %d lines about the damaged chunk, expected 6 and 1: %r"
              % (what, rc, n, err[-400:]))


@needs("rcleak")
def test_report_hostile_at_values():
    """--at takes +N[smh] (decimal), HH:MM[:SS] and a Unix time; anything
    else is a usage error (exit 2, one line), not a moment read from a
    part of it or from strtod's hex and nan."""
    path = _save(capcraft.leak_scenario(), "at.rcl")
    for at in ("12:30junk", "22:13:40:99", "-3:00", "+nan", "+inf", "+0x10", "0x6553f100", "+", "+-5",
               "1:2:3x", "12: 30", "nan", "+5d", "123:00"):
        rc, out, err = report([path, "--at", at])
        not_crashed(rc, "--at %s" % at, err)
        check(rc == 2 and "bad --at" in err and not out,
              "--at %r: exit %d, stdout %d bytes, stderr %r; expected a usage error" % (at, rc, len(out), err))
    for at in ("+12s", "+0.5m", "+12", "22:13", "22:13:40", "1700000010"):
        rc, out, err = report([path, "--at", at])
        check(rc == 0 and out.strip(), "--at %r: exit %d, stderr %r; expected the state at it" % (at, rc, err))


@needs("rcleak")
def test_report_hostile_no_refresh():
    """A capture with no complete refresh has nothing to show: --at and
    --replay say so and exit 1; cut inside its only chunk, exit 6 (the
    damage is why), in every mode."""
    c = capcraft.Cap()
    c.meta()
    c.event(0.5, sk=0x10, tgid=200, cur_tgid=200, start=1000, lport=40000, rport=6379, old=7, new=2, kind=1,
            comm="app")
    whole = c.data()
    path = os.path.join(mkdtemp("rcl-hostile"), "empty.rcl")
    cut = path + ".cut"
    with open(path, "wb") as f:
        f.write(whole)
    with open(cut, "wb") as f:
        f.write(whole[:-5])
    for mode in (["--at", "+1s"], ["--replay", "--plain"], ["--replay", "--json"]):
        rc, out, err = report([path] + mode)
        what = "report %s" % " ".join(mode)
        # no refresh shown; with --json, the file's skip line (7b1a6bd)
        if "--json" in mode:
            shown = [json.loads(ln).get("skipped", {}).get("reason") for ln in out.splitlines()]
            ok = shown == ["no-refresh"]
        else:
            ok = not out.strip()
        check(rc == 1 and "no complete refresh" in err and ok,
              "%s: exit %d stdout %r stderr %r, expected 1, 'no complete refresh' and no refresh shown"
              % (what, rc, out[:200], err))
    rc, out, err = report([path, "--json"])
    js = json_lines(out, "report --json of a capture without a refresh") if rc == 0 else [{}]
    f = (js[0].get("files") or [{}])[0]
    check(rc == 0 and f.get("ticks") == 0 and f.get("start") == f.get("end") == 1700000000.0,
          "report --json: exit %d, %r; expected 0 ticks, start and end the header's 1700000000 (not 1970)"
          % (rc, {k: f.get(k) for k in ("ticks", "start", "end")}))
    for mode in MODES:
        rc, _out, err = report([cut] + mode)
        what = "report %s (cut short)" % " ".join(mode)
        not_crashed(rc, what, err)
        check(rc == 6 and "ends inside a chunk" in err, "%s: exit %d stderr %r, expected 6" % (what, rc, err))


@needs("rcleak")
def test_report_hostile_cut_in_first_refresh():
    """A recorder killed inside its first refresh (a big host's spans
    chunks), between two of its chunks: the summary said the file ends
    inside a refresh and that it ends "at the one before, at 1970-01-01
    00:00:00", a refresh that is not there. It says the file holds no whole
    refresh, and no date."""
    c = capcraft.chunked_holder(n=300, ticks=2)
    data = c.data()
    ch = capcraft.chunks(data)
    path = os.path.join(mkdtemp("rcl-hostile"), "firstcut.rcl")
    with open(path, "wb") as f:
        f.write(data[:ch[1][0]])   # the first of the first refresh's 3 chunks
    rc, out, err = report([path])
    line = [ln.strip() for ln in out.splitlines() if "inside" in ln]
    check(rc == 0 and line and "1970" not in out and "no whole refresh" in line[0],
          "summary of a capture cut inside its first refresh: exit %d, line %r (stderr %r); expected "
          "exit 0 and one line saying it holds no whole refresh, without a date" % (rc, line, err[:200]))


@needs("rcleak")
def test_report_hostile_strings():
    """Every string a capture holds (the hook tier and walk of its meta
    record, names, command lines, a trigger's texts) set to an escape
    sequence (OSC 2, a window title; CSI 2J, clear the screen), a BEL, a
    quote and a backslash: no mode prints a control byte, and every --json
    line parses. The tier and walk went out as they were, in the summary's
    first line, the views' header and --json's hooks (where the quote and
    the control bytes made the line no JSON)."""
    bad = "\x1b]2;pwned\x07\x1b[2J\"\\"
    c = capcraft.Cap()
    c.meta(tier=bad, walk="\x1b[31m\"x")
    fds = [dict(tgid=200, fd=3, sk=0x3000, lport=41000, rport=6379, comm=bad),
           dict(tgid=100, fd=6, sk=0x1000, lport=6379, rport=0, state=10, start=500, comm=bad, laddr="0.0.0.0",
                raddr="0.0.0.0"),
           dict(tgid=100, fd=7, sk=0x2000, lport=6379, rport=41000, start=500, comm=bad)]
    procs = [dict(tgid=200, comm=bad, cmdline=bad * 5, src=bad),
             dict(tgid=100, start=500, comm=bad, cmdline=bad, src=bad)]
    c.tick(0.0, 0.0, fds, [dict(tgid=200, opened=1, comm=bad)], procs)
    c.event(0.5, sk=0x3001, tgid=200, cur_tgid=200, start=1000, lport=0, rport=6379, old=7, new=2, kind=1,
            comm=bad)
    c.tick(1.0, 1.0, fds, [dict(tgid=200, opened=2, comm=bad)], procs)
    c.trigger(1.0, c.wall0 + 1.0, tgid=200, start=1000, verdict=bad, rule=bad, why=bad)
    path = _save(c, "strings.rcl")
    problems = []
    for mode in MODES + (["--at", "+1s", "--json"],):
        rc, out, err = report([path] + mode)
        what = "report %s" % " ".join(mode)
        not_crashed(rc, what, err)
        ctl = sorted({"%#x" % ord(ch) for ch in out + err if ord(ch) < 0x20 and ch != "\n"})
        if rc != 0 or ctl:
            problems.append("%s: exit %d, control bytes %s in its output" % (what, rc, ctl))
        if "--json" in mode:
            for line in out.splitlines():
                try:
                    json.loads(line)
                except ValueError as e:
                    problems.append("%s: a line is no JSON (%s): %r" % (what, e, line[:120]))
                    break
    check(not problems, " | ".join(problems))


_chunks = capcraft.chunks


def _at_pid200(path, at, problems):
    """report --at AT --json of path: (exit code, the line, the open counts
    of pid 200's rows, stderr), or None with the problem noted."""
    rc, out, err = report([path, "--at", at, "--json"])
    not_crashed(rc, "--at " + at, err)
    try:
        js = json.loads(out)
    except ValueError:
        problems.append("--at %s: exit %d, no JSON: %r %r" % (at, rc, out[:100], err[-200:]))
        return None
    return rc, js, [p["open"] for p in js["processes"] if p["pid"] == 200], err


@needs("rcleak")
def test_report_hostile_damage_in_tick():
    """Client pid 200 holds 1500 connections at each of 4 refreshes (0, 5,
    10, 15 s), each refresh written in 3 chunks, as a recorder writes one of
    many connections. The middle chunk of the refresh at 5 s is damaged,
    then that of the last one (15 s). A refresh that lost a chunk is no
    refresh: --at +5s showed it whole, 999 connections, and the summary
    counted it; now +5s shows the one at 0 s, the summary counts the 2 whole
    refreshes and ends at the one of 10 s (its joins read that model), and
    the damage is said (exit 6)."""
    n = 1500
    c = capcraft.chunked_holder(n)
    data = bytearray(c.data())
    ch = _chunks(bytes(data))
    check(len(ch) == 12, "crafted: %d chunks, expected 3 per refresh" % len(ch))
    for k in (4, 10):   # the middle chunk of the refreshes at 5 and 15 s
        data[ch[k][0] + 32 + ch[k][1] // 2] ^= 0xFF
    path = os.path.join(mkdtemp("rcl-hostile"), "midtick.rcl")
    with open(path, "wb") as f:
        f.write(bytes(data))
    problems = []
    for at, uptime in (("+0s", 0.0), ("+5s", 0.0), ("+10s", 10.0), ("+15s", 10.0)):
        got = _at_pid200(path, at, problems)
        if not got:
            continue
        rc, js, opens, err = got
        if rc != 6 or js["uptime_s"] != uptime or opens != [n]:
            problems.append("--at %s: exit %d, the refresh of uptime %r with pid 200 holding %r; expected "
                            "exit 6 and the refresh of %.0f s holding %d" % (at, rc, js["uptime_s"], opens,
                                                                              uptime, n))
    rc, out, err = report([path, "--json"])
    not_crashed(rc, "--json", err)
    f = json.loads(out)["files"][0] if rc in (0, 6) else {}
    if rc != 6 or f.get("ticks") != 2 or f.get("end") != c.wall0 + 10.0:
        problems.append("summary: exit %d, ticks %r, end %r; expected exit 6, the 2 whole refreshes, ending "
                        "at %.3f" % (rc, f.get("ticks"), f.get("end"), c.wall0 + 10.0))
    rc, out, err = report([path, "--replay", "--json", "--speed", "10000"])
    got = [(x["uptime_s"], [p["open"] for p in x["processes"]]) for x in json_lines(out, "--replay --json")]
    if got != [(0.0, [n]), (10.0, [n])]:
        problems.append("--replay --json: refreshes %r, expected those of 0 and 10 s with %d" % (got, n))
    check(not problems, " | ".join(problems))


@needs("rcleak")
def test_report_hostile_short_record_in_tick():
    """Client pid 200 holds 2 connections at 3 refreshes (0, 5, 10 s); in
    the one at 5 s one of its fd records is cut to 20 bytes (valid CRCs: a
    crafted file). That refresh is no refresh, as one that lost a chunk:
    --at +5s showed it with pid 200 holding 1; now the one at 0 s, and the
    summary counts 2 refreshes. The record is said damaged (exit 6)."""
    c = capcraft.Cap()
    c.meta(interval=5.0)
    for i in range(3):
        fds = [dict(tgid=200, fd=3 + k, sk=0x3000 + k, lport=40000 + k, rport=6379, start=600, comm="app")
               for k in range(2)]
        c.tick(5.0 * i, 5.0 if i else 0.0, fds, [dict(tgid=200, start=600, opened=2, comm="app")],
               [dict(tgid=200, start=600, comm="app")])
        if i == 1:  # the tick's records: TICK, FD, FD, ...: cut the second FD's payload
            r = c.recs[2]
            c.recs[2] = r[:10] + capcraft.u32(20) + r[14:34]
        c.flush()
    path = _save(c, "short-fd.rcl")
    problems = []
    for at, uptime in (("+0s", 0.0), ("+5s", 0.0), ("+10s", 10.0)):
        got = _at_pid200(path, at, problems)
        if not got:
            continue
        rc, js, opens, err = got
        if rc != 6 or js["uptime_s"] != uptime or opens != [2] or "1 records damaged" not in err:
            problems.append("--at %s: exit %d, the refresh of uptime %r with pid 200 holding %r, stderr %r; "
                            "expected exit 6, 1 record damaged, and the refresh of %.0f s holding 2"
                            % (at, rc, js["uptime_s"], opens, err.strip()[-200:], uptime))
    rc, out, err = report([path, "--json"])
    f = json.loads(out)["files"][0] if rc in (0, 6) else {}
    if rc != 6 or f.get("ticks") != 2:
        problems.append("summary: exit %d, ticks %r; expected exit 6 and 2 refreshes" % (rc, f.get("ticks")))
    check(not problems, " | ".join(problems))


@needs("rcleak")
def test_report_hostile_file_name():
    """The damage lines name the file as given, and a file name is anybody's
    (`rcleak report /shared/captures/*`): a newline and an escape in it went
    raw to stderr, the newline beginning a line of the name's choosing.
    Now, as every "rcleak:" line, control bytes as '?'. A capture cut short
    (ends inside a chunk: exit 6) under such a name, in every mode."""
    whole = capcraft.leak_scenario().data()
    name = "cap\nrcleak: fake\x1b[2J.rcl"
    path = os.path.join(mkdtemp("rcl-hostile"), name)
    with open(path, "wb") as f:
        f.write(whole[:-5])
    shown = path.replace("\n", "?").replace("\x1b", "?")
    for mode in MODES:
        rc, _out, err = report([path] + mode)
        what = "report %s (a file named %r, cut short)" % (" ".join(mode), name)
        not_crashed(rc, what, err)
        lines = err.splitlines()
        check(rc == 6 and any("ends inside a chunk" in l and shown in l for l in lines),
              "%s: exit %d, expected 6 and the line naming it as %r; stderr %r" % (what, rc, shown, err))
        bad = [l for l in lines if not l.startswith("rcleak: ") or l.startswith("rcleak: fake")
               or any(ord(ch) < 0x20 for ch in l)]
        check(not bad, "%s: stderr lines not one line each, or of the name's making: %r" % (what, bad))


def _report_rss(args):
    """`rcleak report ARGS` to completion, with at most 4 GiB of address
    space (a report that takes more fails, not the host): (rc, stdout,
    stderr, its own peak RSS in bytes)."""
    d = mkdtemp("rcl-hostile")
    with open(os.path.join(d, "out"), "w+b") as out, open(os.path.join(d, "err"), "w+b") as err:
        p = subprocess.Popen([RCLEAK, "report"] + list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)))
        _pid, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                ru.ru_maxrss * 1024)


@needs("rcleak")
def test_report_hostile_huge_refresh():
    """Four refreshes of client pid 200 holding one connection (0, 5, 10,
    15 s); the one at 10 s also names 150,000 processes (counters records,
    one each, compressed to a few bytes apiece: about 0.5 MB), four times
    what a recorder's process table can hold (34,816), and the one at 15 s
    holds 600,000 fd records of one process, more than its socket table
    can (a 3.5 MB file). Each process cost the report ~12 KiB: 1.9 GB of
    memory, 550 times the file's size. Now each refresh is skipped as
    damaged (one line, exit 6), the others read, and the report's peak
    memory stays within 32 MiB + 100 times the file's size (a connection
    the model holds takes ~120 bytes; its record, compressed, ~5)."""
    c = capcraft.Cap()
    c.meta(interval=5.0)
    one = [dict(tgid=200, fd=3, sk=0x3000, lport=40000, rport=6379, start=600, comm="app")]
    ctr = [dict(tgid=200, start=600, opened=1, comm="app")]
    procs = [dict(tgid=200, start=600, comm="app")]
    many_procs = ctr + [dict(tgid=1000 + k, start=600, opened=1, comm="x") for k in range(150000)]
    many_fds = one + [dict(tgid=300, fd=4 + k, sk=0x10000 + k, lport=50000, rport=6379, start=700, comm="y")
                      for k in range(600000)]
    for i, (fds, counters) in enumerate(((one, ctr), (one, ctr), (one, many_procs), (many_fds, ctr), (one, ctr))):
        c.tick(5.0 * i, 5.0 if i else 0.0, fds, counters, procs)
        recs, c.recs = c.recs, []
        for k in range(0, len(recs), 60000):   # chunks within the 16 MiB a reader takes
            c.recs = recs[k:k + 60000]
            c.flush()
    path = _save(c, "huge.rcl")
    size = os.path.getsize(path)
    bound = (32 << 20) + 100 * size
    problems = []
    for mode in ([], ["--json"], ["--at", "+20s", "--json"], ["--replay", "--json", "--speed", "10000"]):
        rc, out, err, rss = _report_rss([path] + mode)
        what = "report %s" % " ".join(mode)
        not_crashed(rc, what, err)
        said = re.findall(r"(\d+) refresh(?:es)? skipped", err)
        if rc != 6 or said != ["2"] or rss > bound:
            problems.append("%s: exit %d, peak memory %.0f MiB (bound %.0f MiB for a file of %.1f MB), said %r "
                            "of the refreshes skipped, expected exit 6 and one line of 2: %r"
                            % (what, rc, rss / 2**20, bound / 2**20, size / 1e6, said, err.strip()[-300:]))
            continue
        if mode == ["--json"]:
            f = json.loads(out)["files"][0]
            if f["ticks"] != 3:
                problems.append("%s: %r refreshes, expected the 3 of a size a recorder writes" % (what, f["ticks"]))
        if mode[:1] == ["--replay"]:
            got = [(x["uptime_s"], len(x["processes"])) for x in json_lines(out, what)]
            if got != [(0.0, 1), (5.0, 1), (20.0, 1)]:
                problems.append("%s: refreshes %r, expected those of 0, 5 and 20 s with pid 200 alone"
                                % (what, got))
    check(not problems, " | ".join(problems))


@needs("rcleak")
def test_report_hostile_bad_tick_tail():
    """A killed recorder's file: client pid 200 holds one connection at
    the refreshes of 0, 5 and 10 s; the refresh of 15 s has a damaged
    header (valid CRCs: a wall clock of 1e17 s, its walk's clock 2^63 ns);
    then pid 200 exits at 16, 17, 18 and 19 s leaving one connection open
    each time (exit-close events, as the kernel side writes them), and the
    file ends. That refresh is skipped as damaged (exit 6), and the events
    after the refresh of 10 s count into pid 200's row: leaked 4. The
    rejected header was kept as the last refresh's time all the same, the
    events taken for part of that refresh's walk (before 2^63 ns), and the
    row said leaked 0."""
    c = capcraft.Cap()
    c.meta(interval=5.0)
    fds = [dict(tgid=200, fd=3, sk=0x3000, lport=40000, rport=6379, start=600, comm="app")]
    procs = [dict(tgid=200, start=600, comm="app")]
    for i in range(3):
        c.tick(5.0 * i, 5.0 if i else 0.0, fds, [dict(tgid=200, start=600, opened=1, comm="app")], procs)
    t = c.ts(15.0)
    u64, f64 = capcraft.u64, capcraft.f64
    c.rec(2, t, f64(15.0) + f64(5.0) + f64(1e17) + u64(1 << 63) + u64(0) * 4 + f64(0.0) + u64(250))
    c.rec(3, t, capcraft.fd(**fds[0]))
    c.rec(6, t, b"")
    for k in range(4):
        c.event(16.0 + k, sk=0x4000 + k, tgid=200, cur_tgid=200, start=600, lport=41000 + k, rport=6379, old=1,
                new=4, kind=5, comm="app")
    path = _save(c, "bad-tick-tail.rcl")
    rc, out, err = report([path, "--json"])
    not_crashed(rc, "report --json", err)
    f = json.loads(out)["files"][0] if rc in (0, 6) else {}
    row = {p["pid"]: p for p in f.get("processes", [])}.get(200, {})
    check(rc == 6 and f.get("ticks") == 3 and row.get("leaked") == 4 and f.get("end") == c.wall0 + 10.0,
          "report --json: exit %d, %r refreshes ending at %r, pid 200's row %r; expected exit 6 (the refresh of "
          "15 s damaged), the 3 others ending at %.1f, and the 4 connections leaked after the last of them"
          % (rc, f.get("ticks"), f.get("end"), row, c.wall0 + 10.0))


@needs("rcleak")
def test_report_hostile_dropped_tick_tail():
    """A killed recorder's file: client pid 200 holds one connection at
    the refreshes of 0, 5 and 10 s; the refresh of 15 s has a header that
    checks out but is dropped as damaged: (a) one of its records is cut to
    3 bytes, (b) it holds more counters records than a recorder writes
    (REPLAY_MAX_COUNTERS, 34,816), (c) its middle chunk is damaged. Then
    the events a CPU's ring still held: pid 200 exiting at 11, 12, 13 and
    14 s leaving one connection open each time. The events after the
    refresh of 10 s count into pid 200's row: leaked 4. The dropped
    refresh's header was kept as the last refresh's time all the same, the
    events taken for part of its walk (before 15 s), and the row said
    leaked 0."""
    fds = [dict(tgid=200, fd=3, sk=0x3000, lport=40000, rport=6379, start=600, comm="app")]
    ctr = [dict(tgid=200, start=600, opened=1, comm="app")]
    procs = [dict(tgid=200, start=600, comm="app")]
    problems = []
    for how in ("short record", "too many counters", "damaged chunk"):
        c = capcraft.Cap()
        c.meta(interval=5.0)
        for i in range(3):
            c.tick(5.0 * i, 5.0 if i else 0.0, fds, ctr, procs)
        c.flush()
        if how == "too many counters":
            c.tick(15.0, 5.0, fds, ctr * 34817, procs)
        else:
            c.tick(15.0, 5.0, fds, ctr, procs)
        if how == "short record":   # TICK, FD, COUNTERS, PROC, TICK_END: cut the PROC's payload
            r = c.recs[3]
            c.recs[3] = r[:10] + capcraft.u32(3) + r[14:17]
        if how == "damaged chunk":  # TICK | FD, COUNTERS | PROC, TICK_END: three chunks
            recs, c.recs = c.recs, []
            for part in (recs[:1], recs[1:3], recs[3:]):
                c.recs = part
                c.flush()
        for k in range(4):
            c.event(11.0 + k, sk=0x4000 + k, tgid=200, cur_tgid=200, start=600, lport=41000 + k, rport=6379,
                    old=1, new=4, kind=5, comm="app")
        data = bytearray(c.data())
        if how == "damaged chunk":
            ch = _chunks(bytes(data))
            data[ch[-3][0] + 32 + ch[-3][1] // 2] ^= 0xFF   # the refresh's middle chunk
        path = os.path.join(mkdtemp("rcl-hostile"), "dropped-tick-tail.rcl")
        with open(path, "wb") as f:
            f.write(bytes(data))
        rc, out, err = report([path, "--json"])
        not_crashed(rc, "report --json (%s)" % how, err)
        f = json.loads(out)["files"][0] if rc in (0, 6) else {}
        row = {p["pid"]: p for p in f.get("processes", [])}.get(200, {})
        if rc != 6 or f.get("ticks") != 3 or row.get("leaked") != 4 or f.get("end") != c.wall0 + 10.0:
            problems.append("%s: report --json: exit %d, %r refreshes ending at %r, pid 200's row %r; expected "
                            "exit 6 (the refresh of 15 s dropped), the 3 others ending at %.1f, and the 4 "
                            "connections leaked after the last of them; stderr %r"
                            % (how, rc, f.get("ticks"), f.get("end"), row, c.wall0 + 10.0, err.strip()[-200:]))
    check(not problems, " | ".join(problems))
