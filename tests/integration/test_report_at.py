"""`rcleak report --at` and `--replay`: which refresh a moment shows (at
and beyond the capture's ends, the times --json printed, a capture across
midnight) and when --replay shows each, against the live lines the
recorder printed (split from test_report.py).

Run alone:  python3 tests/integration/runner.py -k report_at -k report_replay
"""
import json
import os
import re
import shutil
import subprocess
import time

import capcraft
from harness import RCLEAK, check, mkdtemp, needs
from record_harness import HOST, one_line_err, report, small

TESTS = ["test_report_at_bounds", "test_report_at_printed_times", "test_report_at_midnight",
         "test_report_at_days_units", "test_report_at_summary_times", "test_report_replay_pacing"]


# ---------------------------------------------------------------------------
# --at at and beyond the capture's ends
# ---------------------------------------------------------------------------
def test_report_at_bounds():
    """--at +0s is the capture's start: its first refresh, with no warning
    (it used to say "the capture starts after +0s"); +1s, the end of
    `-d 1`, is no warning either. A moment before the start or after the
    end shows the first or last refresh as the recorder printed it, with one
    line on stderr that says so and which refresh it shows (its local time
    and its time since the start)."""
    s = small()
    live, path = s["live"], s["path"]
    ws = s["info"]["wall_start"]
    check(len(live) >= 3, "test setup: %d live lines from record -d 1 -i 0.5" % len(live))
    hms = lambda ts: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(ts)))  # noqa: E731
    first, last = live[0], live[-1]
    mid = (live[0]["ts"] + live[1]["ts"]) / 2
    cases = [("+0s", first, None), ("+0", first, None), (repr(ws), first, None),
             ("%.3f" % mid, first, None), ("+1s", None, None),
             ("%.3f" % (ws - 3600), first, ("first refresh", hms(first["ts"]), "+%.1fs" % first["uptime_s"])),
             ("+1000s", last, ("last refresh", hms(last["ts"]), "+%.1fs" % last["uptime_s"])),
             ("%.3f" % (last["ts"] + 60), last, ("last refresh", hms(last["ts"]), "+%.1fs" % last["uptime_s"]))]
    problems = []
    for at, want, warn in cases:
        rc, out, err = report([path, "--at", at, "--json"])
        lines = out.splitlines()
        got = json.loads(lines[0]) if len(lines) == 1 else None
        if rc != 0 or got is None:
            problems.append("--at %s: exit %s, %d lines; expected exit 0 and one line" % (at, rc, len(lines)))
            continue
        if want is not None and (got.get("ts"), got.get("uptime_s")) != (want["ts"], want["uptime_s"]):
            problems.append("--at %s: showed the refresh at ts %r (uptime_s %r), expected the one at %r (%r)"
                            % (at, got.get("ts"), got.get("uptime_s"), want["ts"], want["uptime_s"]))
        if want is None and got.get("ts") not in [x["ts"] for x in live]:
            problems.append("--at %s: showed ts %r, no refresh the recorder printed" % (at, got.get("ts")))
        if warn is None and err:
            problems.append("--at %s: a moment inside the capture, but stderr says %r" % (at, err))
        elif warn is not None and (not one_line_err(err) or not all(w in err for w in warn)):
            problems.append("--at %s: stderr %r; expected one line with %s" % (at, err, " and ".join(
                repr(w) for w in warn)))
    check(not problems, " | ".join(problems))


def test_report_at_printed_times():
    """--at given the `ts` --json printed for a refresh (3 decimals,
    rounded) shows that refresh, with no warning: a ts that had rounded
    down named a moment just before its refresh, and showed the refresh
    before it. A warning gives the refresh's time to the millisecond."""
    s = small()
    live, path = s["live"], s["path"]
    check(len(live) >= 3, "test setup: %d live lines from record -d 1 -i 0.5" % len(live))
    problems = []
    for want in live:
        at = "%.3f" % want["ts"]
        rc, out, err = report([path, "--at", at, "--json"])
        lines = out.splitlines()
        got = json.loads(lines[0]) if rc == 0 and len(lines) == 1 else {}
        if (got.get("ts"), got.get("uptime_s")) != (want["ts"], want["uptime_s"]) or err:
            problems.append("--at %s: exit %d, showed ts %r (uptime_s %r), stderr %r; expected the refresh "
                            "printed at ts %r (uptime_s %r), no warning" % (
                                at, rc, got.get("ts"), got.get("uptime_s"), err.strip(), want["ts"],
                                want["uptime_s"]))
    # HH:MM:SS of the first refresh's own second is before it: the warning
    # gives the refresh's time to the millisecond, not "the capture starts
    # after 14:20:34: showing its first refresh, at 14:20:34"
    sec = int(live[0]["ts"])
    if live[0]["ts"] - sec >= 0.002:
        at = time.strftime("%H:%M:%S", time.localtime(sec))
        rc, out, err = report([path, "--at", at, "--json"])
        shown = time.strftime("%Y-%m-%d %H:%M:%S.", time.localtime(sec))
        if rc != 0 or "starts after %s" % at not in err or shown not in err:
            problems.append("--at %s (the first refresh came at %.3f): exit %d, stderr %r; expected the "
                            "warning with its time as %s..." % (at, live[0]["ts"], rc, err.strip(), shown))
    check(not problems, " | ".join(problems))


@needs("rcleak")
def test_report_at_summary_times():
    """Every moment the summary names, given back to --at as it printed it,
    shows the refresh it names: the trigger's, the lowest headroom's, each
    verdict's first. The summary printed them cut to the second
    (`trigger at 2023-11-14 22:13:25`) and --at HH:MM:SS is a point, so a
    refresh at 25.700 was after it: an SRE copying the trigger's time saw
    the refresh before the trigger (an interval earlier: 5 s here, a
    minute with -i 60), the server with more headroom than what fired. So
    does the time the out-of-range warning prints (to the millisecond,
    which --at refused: exit 2), as a date and time and as a time of day.
    A crafted capture, its refreshes at .7 s past a second, 5 s apart."""
    c = capcraft.leak_scenario(ticks=8, wall0=1700000000.7)
    c.trigger(25.0, 1700000025.7, tgid=100, start=500, why="redis-server pid 100: crafted headroom")
    path = os.path.join(mkdtemp("rcleak-at-summary-"), "trig.rcl")
    c.save(path)
    env = dict(os.environ, TZ="UTC")

    def rep(args):
        r = subprocess.run([RCLEAK, "report", path] + args, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr
    rc, out, err = rep(["--json"])
    check(rc == 0, "report --json: exit %d: %s" % (rc, err))
    f = json.loads(out)["files"][0]
    srv = [p for p in f["processes"] if p["pid"] == 100][0]
    leaky = [p for p in f["processes"] if p["pid"] == 200][0]
    want = [("flight recorder trigger at", f["trigger"]["at"]), ("headroom lowest", srv["headroom_min_at"])]
    want += [("%s first at" % v["verdict"], v["first_at"]) for v in srv["verdicts"] + leaky["verdicts"]]
    rc, text, err = rep([])
    check(rc == 0, "report: exit %d: %s" % (rc, err))
    stamp = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)"
    problems = []
    for label, ts in want:
        m = re.search(re.escape(label) + r"[^\n]*? at " + stamp if label == "headroom lowest"
                      else re.escape(label) + " " + stamp, text)
        if not m:
            problems.append("no %r line with a time in the summary: %r" % (label, text))
            continue
        for at in (m.group(1), m.group(1)[11:]):
            rc, out, err = rep(["--at", at, "--json"])
            got = json.loads(out.splitlines()[0]) if rc == 0 and out.strip() else {}
            if got.get("ts") != round(ts, 3) or err:
                problems.append("%s %s: --at %r: exit %d, showed the refresh at ts %r, stderr %r; expected the "
                                "one at %.3f" % (label, m.group(1), at, rc, got.get("ts"), err.strip(), ts))
    # the out-of-range warning's time, given back
    rc, out, err = rep(["--at", "+1000s", "--json"])
    m = re.search("last refresh, at " + stamp, err)
    check(m, "--at +1000s: stderr %r; expected the last refresh's time" % err)
    last = json.loads(out.splitlines()[0])["ts"]
    for at in (m.group(1), m.group(1)[11:]):
        rc, out, err = rep(["--at", at, "--json"])
        got = json.loads(out.splitlines()[0]) if rc == 0 and out.strip() else {}
        if got.get("ts") != last or err:
            problems.append("--at %r (the warning's time of the last refresh): exit %d, showed ts %r, stderr "
                            "%r; expected ts %r" % (at, rc, got.get("ts"), err.strip(), last))
    check(not problems, " | ".join(problems))


def test_report_at_midnight():
    """HH:MM:SS in a capture that runs across midnight (local time: TZ is
    set so that midnight falls inside the small capture) names the moment
    on the day it is inside the capture, not the same time on the
    capture's first day, a day before it: that showed the first refresh
    with "the capture starts after 00:00:00"."""
    s = small()
    # its refreshes span about 0.95 s, which 1 time in 20 holds no whole
    # second (the test then failed in its setup): one of -d 2 always does
    if int(s["live"][-1]["ts"]) <= s["live"][0]["ts"]:
        s = small("2")
    live, path = s["live"], s["path"]
    m = int(live[-1]["ts"])          # a second after the first refresh: local midnight
    check(live[0]["ts"] < m, "test setup: the capture %r..%r has no whole second" % (live[0]["ts"],
                                                                                  live[-1]["ts"]))
    off = (-m) % 86400               # local = UTC + off
    if off > 43200:
        off -= 86400
    sign = "-" if off >= 0 else "+"  # POSIX TZ: the offset west of UTC
    a = abs(off)
    tz = "RCL%s%02d:%02d:%02d" % (sign, a // 3600, a // 60 % 60, a % 60)
    env = dict(os.environ, TZ=tz)
    want = [y for y in live if y["ts"] <= m][-1]   # the last refresh at or before midnight
    r = subprocess.run([RCLEAK, "report", path, "--at", "00:00:00", "--json"], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    got = json.loads(lines[0]) if r.returncode == 0 and len(lines) == 1 else {}
    check((got.get("ts"), got.get("uptime_s")) == (want["ts"], want["uptime_s"]) and not r.stderr,
          "TZ=%s report --at 00:00:00 of a capture from %r to %r: exit %d, showed ts %r, stderr %r; expected "
          "the refresh at ts %r, no warning" % (tz, live[0]["ts"], live[-1]["ts"], r.returncode, got.get("ts"),
                                                r.stderr.strip(), want["ts"]))
    # and one just after midnight, in the text view, as it was printed then
    after = [y for y in live if y["ts"] > m]
    if after:
        r = subprocess.run([RCLEAK, "report", path, "--at", "%.3f" % after[0]["ts"], "--plain"], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        check(r.stdout.startswith("00:00:00 "), "TZ=%s report --at %.3f --plain: first line %r" % (
            tz, after[0]["ts"], r.stdout.split("\n")[0]))


def growing_cap(wall0, interval, n):
    """A crafted capture from Unix time wall0: n refreshes interval s
    apart, the i-th (from 1) with pid 200 holding i connections."""
    c = capcraft.Cap(wall0=float(wall0))
    c.meta(interval=interval)
    for i in range(n):
        c.tick(i * interval, interval if i else 0.0,
               fds=[dict(tgid=200, fd=3 + k, sk=0x100 + k, lport=41000 + k, rport=6379) for k in range(i + 1)],
               counters=[dict(tgid=200, opened=i + 1)], procs=[dict(tgid=200)])
        c.flush()
    return c


def _open_at(path, at, env):
    """`report PATH --at AT --json`: the run, its one JSON line ({} when
    not one), and what pid 200 holds in it (None: no row)."""
    r = subprocess.run([RCLEAK, "report", path, "--at", at, "--json"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    js = json.loads(lines[0]) if r.returncode == 0 and len(lines) == 1 else {}
    rows = [p for p in js.get("processes", []) if p.get("pid") == 200]
    return r, js, rows[0].get("open") if rows else None


@needs("rcleak")
def test_report_at_days_units():
    """A crafted capture of 30 h (TZ=UTC, 2026-12-07 10:00 to 2026-12-08
    16:00, a refresh every 6 h, the n-th holding n connections). A Unix
    time in milliseconds (1796637600000, as JavaScript and many logs give
    it) was read as seconds, some 55,000 years after the capture: its last
    refresh, with "the capture ends before". Milliseconds, microseconds and
    nanoseconds are told apart by size. HH:MM is a time of day; one that
    the capture holds on two days (12:00) picked the first without a word:
    now a usage error (exit 2, one line naming both days and what to give,
    nothing on stdout), and YYYY-MM-DD HH:MM names the day. One the capture
    holds once (08:00, 17:00) is that moment. One it holds on no day is the
    nearest day's, the evening before the capture's first day too (23:50
    for a capture from 00:30: its first refresh, not its last)."""
    wall0 = 1796637600  # 2026-12-07 10:00:00 UTC
    path = os.path.join(mkdtemp("rcleak-at-days-"), "days.rcl")
    growing_cap(wall0, 21600.0, 6).save(path)
    env = dict(os.environ, TZ="UTC")
    h = 3600
    problems = []
    for at, want in (("%d" % (wall0 * 1000), 1), ("%d" % ((wall0 + 6 * h) * 1000 + 500), 2),
                     ("%d.5" % ((wall0 + 6 * h) * 1000), 2), ("%d" % ((wall0 + 12 * h) * 10**6), 3),
                     ("%d" % ((wall0 + 18 * h) * 10**9 + 123), 4), ("%d" % (wall0 + 24 * h), 5),
                     ("08:00", 4), ("17:00", 2), ("17:00:00", 2), ("2026-12-08 12:00", 5),
                     ("2026-12-08T12:00:00", 5), ("2026-12-07 12:00", 1)):
        r, js, got = _open_at(path, at, env)
        if got != want or r.stderr:
            problems.append("--at %s: exit %d, the refresh shown holds %r connections (uptime %r), stderr %r; "
                            "expected the one holding %d, no warning" % (at, r.returncode, got, js.get("uptime_s"),
                                                                           r.stderr.strip(), want))
    for at in ("12:00", "12:00:00", "10:30"):
        r = subprocess.run([RCLEAK, "report", path, "--at", at, "--json"], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        err = r.stderr.strip().splitlines()
        if (r.returncode != 2 or r.stdout or len(err) != 1 or "2026-12-07" not in err[0]
                or "2026-12-08" not in err[0] or "2026-12-08 %s" % at not in err[0]):
            problems.append("--at %s (on both days of the capture): exit %d, stdout %r, stderr %r; expected "
                            "exit 2, no output, one line naming both days and giving 2026-12-08 %s"
                            % (at, r.returncode, r.stdout[:80], r.stderr.strip(), at))
    # a capture from 00:30 to 02:00: 23:50 is the evening before it, 40 min
    # before its start (its first refresh), not 23:50 that night, 22 h
    # after its end; 03:00 is an hour after its end
    night = 1796603400  # 2026-12-07 00:30:00 UTC
    npath = os.path.join(os.path.dirname(path), "night.rcl")
    growing_cap(night, 1800.0, 4).save(npath)
    for at, want, said in (("23:50", 1, "starts after 23:50"), ("03:00", 4, "ends before 03:00"),
                           ("01:00", 2, None)):
        r, js, got = _open_at(npath, at, env)
        if got != want or (said or "") not in r.stderr or (said is None and r.stderr):
            problems.append("--at %s (capture 00:30 to 02:00): exit %d, the refresh shown holds %r connections, "
                            "stderr %r; expected the one holding %d, %s" % (
                                at, r.returncode, got, r.stderr.strip(), want,
                                "a line with %r" % said if said else "no warning"))
    for at in ("1" * 21, "24:00", "2026-02-30 10:00", "2026-12-08 12:00junk"):
        r = subprocess.run([RCLEAK, "report", path, "--at", at], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 2 or r.stdout or "bad --at" not in r.stderr:
            problems.append("--at %s: exit %d, stderr %r; expected exit 2, bad --at" % (at, r.returncode,
                                                                                      r.stderr.strip()))
    check(not problems, " | ".join(problems))


def test_report_replay_pacing():
    """--replay shows each refresh when it came, on the recording's clock
    divided by --speed: a refresh recorded d seconds after the one before
    comes d/speed after it, and the replay ends with the last one. It used
    to sleep the gap *before* a refresh after showing it, so the second came
    at once with the first, each later one a gap early, and the replay
    lingered one interval after the last."""
    s = small()
    live, path = s["live"], s["path"]
    check(len(live) >= 3, "test setup: %d live lines from record -d 1 -i 0.5" % len(live))
    speed = 0.5
    t0 = time.monotonic()
    p = subprocess.Popen([RCLEAK, "report", path, "--replay", "--json", "--speed", str(speed)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in p.stdout:
        seen.append((time.monotonic() - t0, json.loads(line)["uptime_s"]))
    p.wait(30)
    end = time.monotonic() - t0
    err = p.stderr.read()
    check(p.returncode == 0 and len(seen) == len(live), "report --replay --speed %g: exit %s, %d lines "
          "(record printed %d); stderr %r" % (speed, p.returncode, len(seen), len(live), err.strip()[:300]))
    tol = 0.35  # a replay on a busy machine: the gaps are 1 s here
    problems = []
    for k, (t, up) in enumerate(seen):
        want = (up - seen[0][1]) / speed
        if abs((t - seen[0][0]) - want) > tol:
            problems.append("refresh %d (uptime_s %g) came %.2fs after the first, expected %.2fs"
                            % (k, up, t - seen[0][0], want))
    if end - seen[-1][0] > tol:
        problems.append("the replay ended %.2fs after its last refresh, expected at once" % (end - seen[-1][0]))
    check(not problems, "report --replay --speed %g of refreshes at uptime_s %s: %s" % (
        speed, [up for _t, up in seen], " | ".join(problems)))
    # several files, --plain: each file's timeline says which file it is,
    # as --at does (it ran from one into the next, the clock going back)
    other = os.path.join(mkdtemp("rcleak-replay2-"), "other.rcl")
    shutil.copyfile(path, other)
    rc, out, err = report([path, other, "--replay", "--plain", "--speed", "10000"])
    heads = [ln for ln in out.splitlines() if ln.startswith("== ")]
    want = ["== %s (%s)" % (path, HOST), "== %s (%s)" % (other, HOST)]
    check(rc == 0 and heads == want, "report A B --replay --plain: exit %d, file headers %r, expected %r"
          % (rc, heads, want))
