"""`rcleak record --ring`: the flight recorder, against ground truth.

test_record.py has the first flight-recorder tests (a LEAK trigger, SIGUSR1,
no trigger); these check what a flight capture holds once the ring has
dropped its oldest ticks, and how record ends.

Run alone:  python3 tests/integration/runner.py -k ring
"""
import os

from harness import Client, Redis, check, mkdtemp, proc_fds, proc_nofile
from test_record import Recorder, json_lines, report, report_json, rows_of

TESTS = ["test_ring_keeps_meta"]


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
