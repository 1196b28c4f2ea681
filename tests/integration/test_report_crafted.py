"""`rcleak report` on crafted captures (capcraft.py): what the summary and
--csv say of a scenario whose every byte the test chose, so they are held
to exact values. No root, no BPF: nothing here records.

Run alone:  python3 tests/integration/runner.py -k report_crafted
"""
import csv
import io
import json
import os
import time

import capcraft
from harness import check, mkdtemp, needs
from record_harness import report, report_json

TESTS = ["test_report_crafted_server_verdicts", "test_report_crafted_nofile_unlimited",
         "test_report_crafted_pid_comm", "test_report_crafted_csv_tuples", "test_report_crafted_at_due",
         "test_report_crafted_join_loopback", "test_report_crafted_server_between_ticks",
         "test_report_crafted_peak_old_events", "test_report_crafted_json_files",
         "test_report_crafted_thresholds_kept",
         "test_report_crafted_tail_server_exit", "test_report_crafted_selects_none",
         "test_report_crafted_growth_step"]

CSV_COLS = ("time,host,kind,owner_pid,task_pid,comm,family,laddr,lport,raddr,rport,old_state,"
            "new_state").split(",")


def save(cap, name):
    path = os.path.join(mkdtemp("rcleak-crafted-"), name)
    cap.save(path)
    return path


def fmt_time(wall):
    """A wall time as the report prints it (capfile_fmt_time: local)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))


def fmt_time_ms(wall):
    """A refresh's time as the summary prints it, to the millisecond
    (rounded, as --json's ts): what --at given it shows."""
    r = round(wall, 3)
    return fmt_time(int(r // 1)) + ".%03d" % (round(r * 1000) % 1000)


def summary(args, what):
    rc, out, err = report(args)
    check(rc == 0, "%s: exit %s; stderr: %s" % (what, rc, err.strip()[-400:]))
    return out


def text_rows(out):
    """{pid: (row line, [the lines under it])} of the summary's table."""
    rows, cur = {}, None
    for line in out.splitlines():
        f = line.split()
        if line.startswith("  ") and f and f[0].isdigit():
            cur = int(f[0])
            rows[cur] = (line, [])
        elif cur is not None and line.startswith("          "):
            rows[cur][1].append(line.strip())
        else:
            cur = None
    return rows


def csv_rows(args, what):
    rc, out, err = report(list(args) + ["--csv"])
    check(rc == 0, "%s: exit %s; stderr: %s" % (what, rc, err.strip()[-400:]))
    rows = list(csv.reader(io.StringIO(out)))
    check(rows and rows[0] == CSV_COLS, "%s: header %r" % (what, rows[:1]))
    bad = [r for r in rows[1:] if len(r) != len(CSV_COLS)]
    check(not bad, "%s: rows of %d fields: %r" % (what, len(CSV_COLS), bad[:2]))
    return [dict(zip(CSV_COLS, r)) for r in rows[1:]]


def leak_with_good_events():
    """capcraft.leak_scenario, then a tick at 60 s after two events of the
    good client 300: its app-close, and the state change the kernel sent
    in softirq (no name) of the connection it closed."""
    c = capcraft.leak_scenario()
    c.event(56.0, sk=0x4000, tgid=300, cur_tgid=300, start=700, lport=50000, rport=6379, old=1, new=4,
            kind=4, comm="good")
    c.event(57.0, sk=0x4000, tgid=300, cur_tgid=0, start=700, lport=50000, rport=6379, old=4, new=5,
            kind=0)
    return c


# ---------------------------------------------------------------------------
# the summary lists every verdict, a server's too
# ---------------------------------------------------------------------------
@needs("rcleak")
def test_report_crafted_server_verdicts():
    """Every verdict --json gives, the text summary gives with the time it
    first fired, servers' too: redis-server pid 100 at 1000 of 1024 fds is
    FD-LIMIT from the first tick (the text used to leave servers out of the
    table: their FD-LIMIT and ZOMBIE were nowhere)."""
    path = save(capcraft.leak_scenario(), "leak.rcl")
    out = summary([path], "report")
    js, _ = report_json([path], "report --json")
    rows = text_rows(out)
    procs = js["files"][0]["processes"]
    srv = [p for p in procs if p["pid"] == 100]
    check(srv and any(v["verdict"] == "FD-LIMIT" for v in srv[0]["verdicts"]),
          "--json: redis-server pid 100 has no FD-LIMIT: %r" % srv)
    problems = []
    for p in procs:
        row = rows.get(p["pid"])
        if not row:
            problems.append("pid %d (%s): no row in the text summary" % (p["pid"], p["comm"]))
            continue
        for v in p["verdicts"]:
            want = "%s first at %s: %s" % (v["verdict"], fmt_time_ms(v["first_at"]), v["rule"])
            if want not in row[1]:
                problems.append("pid %d: no %r under its row; under it: %r" % (p["pid"], want, row[1]))
            if v["verdict"] not in row[0].split()[-1].split(","):
                problems.append("pid %d: row %r does not name %s" % (p["pid"], row[0], v["verdict"]))
    check(not problems, " | ".join(problems) + "; summary:\n" + out)


@needs("rcleak")
def test_report_crafted_nofile_unlimited():
    """A server whose nofile is unlimited (RCL_NOFILE_INF in its records, -1
    in its process record) says `nofile unlimited`, not `nofile -1`."""
    c = capcraft.Cap()
    c.meta()
    inf = 0xffffffffffffffff
    for i in range(3):
        fds = [dict(tgid=100, fd=6, sk=0x1000, lport=6379, rport=0, state=10, start=500, comm="redis-server",
                    laddr="0.0.0.0", raddr="0.0.0.0", nofile=inf, nofile_max=inf),
               dict(tgid=100, fd=7, sk=0x2000, lport=6379, rport=40000, start=500, comm="redis-server",
                    nofile=inf, nofile_max=inf)]
        procs = [dict(tgid=100, start=500, fds=8, nofile_soft=-1, nofile_hard=-1, comm="redis-server",
                      cmdline="redis-server *:6379")]
        c.tick(5.0 * i, 5.0 if i else 0.0, fds, procs=procs)
        c.flush()
    out = summary([save(c, "unlimited.rcl")], "report")
    line = [x for x in out.splitlines() if "server pid 100 " in x]
    check(len(line) == 1, "no one 'server pid 100' line in the summary:\n" + out)
    check("nofile unlimited)" in line[0] and "-1" not in line[0],
          "server line %r: expected 'nofile unlimited'" % line[0])
    # maxclients not known: Redis's default, marked assumed as the live view marks it
    check("of 10000? " in line[0], "server line %r: an unlimited nofile leaves maxclients' 10000? (assumed) "
          "as the limit" % line[0])



@needs("rcleak")
def test_report_crafted_server_between_ticks():
    """A redis-server that started, took 3 clients and died between two
    refreshes (a crash loop under -i 5; recorded so by a real one): no walk
    saw it listen, so nothing says its limits. The summary said `peak 3
    clients of 0 (maxclients 10000 from default, nofile 0)` and --json
    `effective_limit: 0`, a full server; now its limits are unknown (null)."""
    c = capcraft.Cap()
    c.meta(interval=5.0)
    c.tick(0.0, 0.0)
    c.flush()
    c.event(1.0, sk=0x1000, tgid=100, cur_tgid=100, start=500, lport=6379, rport=0, old=7, new=10, kind=6,
            laddr="0.0.0.0", raddr="0.0.0.0", comm="redis-server")
    for k in range(3):
        c.event(1.1 + k / 100, sk=0x2000 + k, tgid=100, cur_tgid=0, start=500, lport=6379, rport=40000 + k,
                old=10, new=3, kind=2)
    for k in range(3):
        c.event(1.5, sk=0x2000 + k, tgid=100, cur_tgid=100, start=500, lport=6379, rport=40000 + k, old=1,
                new=4, kind=5, comm="redis-server")
    c.tick(5.0, 5.0, counters=[dict(tgid=100, start=500, opened=3, closed=3, exit_closed=3, flags=1,
                                    comm="redis-server")],
           procs=[dict(tgid=100, start=500, fds=0, exited=1, exited_at=1.5, comm="redis-server",
                       cmdline="redis-server *:6379")])
    path = save(c, "between.rcl")
    out = summary([path], "report")
    line = [x for x in out.splitlines() if "server pid 100 " in x]
    check(len(line) == 1 and "peak 3 clients" in line[0] and " of 0 " not in line[0]
          and "nofile 0" not in line[0] and "unknown" in line[0],
          "server line %r: expected its peak of 3 clients and its limits unknown" % line)
    js, _ = report_json([path], "report --json")
    srv = [p for p in js["files"][0]["processes"] if p["pid"] == 100]
    check(srv and srv[0].get("role") == "server" and srv[0].get("clients_max") == 3
          and "effective_limit" in srv[0] and srv[0]["effective_limit"] is None,
          "--json row of pid 100 %r: expected role server, clients_max 3, effective_limit null" % srv)



@needs("rcleak")
def test_report_crafted_peak_old_events():
    """A capture of format 1.0, whose events are records of type 1, one
    each (rcleak before 2026-11-23): client 200 holds 1 connection at both
    refreshes, and between them connects 4 more (1.0-1.3 s) and closes them
    (2.0-2.3 s). Its peak is 5, at 1.3 s: the reader gave such events no
    time (0), older than every refresh, so the peaks skipped them all and
    said 1."""
    c = capcraft.Cap(minor=0)
    c.meta()
    held = [dict(tgid=200, fd=3, sk=0x3000, lport=41000, rport=6379, start=600, comm="app")]
    c.tick(0.0, 0.0, held, [dict(tgid=200, start=600, opened=1, comm="app")],
           [dict(tgid=200, start=600, comm="app")])
    for k in range(4):
        c.event(1.0 + k / 10, sk=0x3001 + k, tgid=200, cur_tgid=200, start=600, lport=0, rport=6379, old=7,
                new=2, kind=1, comm="app")
    for k in range(4):
        c.event(2.0 + k / 10, sk=0x3001 + k, tgid=200, cur_tgid=200, start=600, lport=41001 + k, rport=6379,
                old=1, new=4, kind=4, comm="app")
    c.tick(5.0, 5.0, held, [dict(tgid=200, start=600, opened=5, closed=4, released=4, comm="app")],
           [dict(tgid=200, start=600, comm="app")])
    js, _ = report_json([save(c, "old-events.rcl")], "report --json")
    row = [p for p in js["files"][0]["processes"] if p["pid"] == 200]
    check(row and row[0]["peak_open"] == 5 and abs(row[0]["peak_at"] - (c.wall0 + 1.3)) < 0.01,
          "pid 200: %r; expected peak_open 5 at %.3f" % (row, c.wall0 + 1.3))


# ---------------------------------------------------------------------------
# --pid and --comm select, as in the live view
# ---------------------------------------------------------------------------
@needs("rcleak")
def test_report_crafted_pid_comm():
    """--pid and --comm select the summary's processes (text and --json)
    and the --csv rows, by owner: they used to be taken and ignored. The
    softirq row of the good client (no name in the event) goes by its
    owner's name."""
    path = save(leak_with_good_events(), "leak.rcl")
    problems = []
    for args, want in ((["--pid", "200"], {200}), (["--comm", "good"], {300}),
                       (["--comm", "redis-server"], {100}), (["--pid", "100", "--comm", "good"], set()),
                       ([], {100, 200, 300})):
        what = "report %s" % " ".join(args)
        out = summary([path] + args, what)
        got = set(text_rows(out))
        if got != want:
            problems.append("%s: table rows of pids %s, expected %s" % (what, sorted(got), sorted(want)))
        servers = [x for x in out.splitlines() if x.startswith("  server pid")]
        if bool(servers) != (100 in want):
            problems.append("%s: server lines %r" % (what, servers))
        js, _ = report_json([path] + args, what + " --json")
        got = {p["pid"] for p in js["files"][0]["processes"]}
        if got != want:
            problems.append("%s --json: processes %s, expected %s" % (what, sorted(got), sorted(want)))
        rows = csv_rows([path] + args, what + " --csv")
        owners = {int(r["owner_pid"]) for r in rows}
        want_rows = {200: 11, 300: 2}
        n = sum(want_rows.get(p, 0) for p in want)
        if not owners <= want or len(rows) != n:
            problems.append("%s --csv: %d rows of owners %s, expected %d of %s"
                            % (what, len(rows), sorted(owners), n, sorted(want)))
    check(not problems, " | ".join(problems))


# ---------------------------------------------------------------------------
# --csv: a 4-tuple from the walks, or none; never an invented one
# ---------------------------------------------------------------------------
@needs("rcleak")
def test_report_crafted_csv_tuples():
    """A connection older than the recording (10.0.0.2:41000 -> 10.0.0.1:6379
    in every walk) goes ESTABLISHED -> CLOSE_WAIT: the kernel sends no
    4-tuple with that, and no other event of the socket has one; the row
    takes it from the walks. A socket nothing knows gets empty family,
    addresses and ports: they used to read `ipv6,::,0,::,0`. A connect
    (its port chosen after it) takes its local port from the next walk."""
    c = capcraft.Cap()
    c.meta()
    fds = [dict(tgid=100, fd=6, sk=0x1000, lport=6379, rport=0, state=10, start=500, comm="redis-server",
                laddr="0.0.0.0", raddr="0.0.0.0"),
           dict(tgid=200, fd=3, sk=0x5000, lport=41000, rport=6379, start=600, comm="cli",
                laddr="10.0.0.2", raddr="10.0.0.1")]
    c.tick(0.0, 0.0, fds)
    c.flush()
    c.event(2.5, sk=0x5000, tgid=200, cur_tgid=0, start=600, lport=0, rport=0, old=1, new=8, kind=0, family=0)
    c.event(2.6, sk=0x7000, tgid=200, cur_tgid=0, start=600, lport=0, rport=0, old=1, new=8, kind=0, family=0)
    c.event(2.7, sk=0x6000, tgid=200, cur_tgid=200, start=600, lport=0, rport=6379, old=7, new=2, kind=1,
            laddr="10.0.0.2", raddr="10.0.0.1", comm="cli")
    fds[1]["state"] = 8
    fds.append(dict(tgid=200, fd=4, sk=0x6000, lport=41001, rport=6379, start=600, comm="cli",
                    laddr="10.0.0.2", raddr="10.0.0.1"))
    c.tick(5.0, 5.0, fds)
    rows = csv_rows([save(c, "cw.rcl")], "report")
    tup = ("family", "laddr", "lport", "raddr", "rport")
    got = [(r["kind"], r["old_state"], r["new_state"]) + tuple(r[k] for k in tup) for r in rows]
    want = [("state", "ESTABLISHED", "CLOSE_WAIT", "ipv4", "10.0.0.2", "41000", "10.0.0.1", "6379"),
            ("state", "ESTABLISHED", "CLOSE_WAIT", "", "", "", "", ""),
            ("connect", "CLOSE", "SYN_SENT", "ipv4", "10.0.0.2", "41001", "10.0.0.1", "6379")]
    check(got == want, "--csv rows (kind, states, %s):\n  %s\nexpected\n  %s"
          % (",".join(tup), "\n  ".join(map(str, got)), "\n  ".join(map(str, want))))


@needs("rcleak")
def test_report_crafted_at_due():
    """-i 5 refreshes that ran a little after they were due (0, 5.001,
    10.0007, 15.002 s, as a walk delays them): --at +10s is the refresh due
    at 10 s, not the one before it (it compared wall clocks, and showed
    uptime 5.0); +12s is still the one of 10 s, +14s too (a quarter of the
    interval after 10 s is past), and a wall-clock moment takes the last
    refresh at or before it."""
    c = capcraft.Cap()
    c.meta(interval=5.0)
    for i, now in enumerate((0.0, 5.001, 10.0007, 15.002)):
        c.tick(now, now - (0.0, 0.0, 5.001, 10.0007)[i], fds=[dict(tgid=200, fd=3 + k, sk=0x100 + k, lport=41000 + k,
                                                                    rport=6379) for k in range(i + 1)],
               counters=[dict(tgid=200, opened=i + 1)], procs=[dict(tgid=200)])
        c.flush()
    path = save(c, "due.rcl")
    for at, want in (("+10s", 3), ("+10", 3), ("+12s", 3), ("+14s", 3), ("+15s", 4), ("+5s", 2), ("+0s", 1),
                     ("%.4f" % (c.wall0 + 10.0), 2), ("%.4f" % (c.wall0 + 10.0008), 3)):
        js, _ = report_json([path, "--at", at], "--at %s" % at)
        rows = [p for p in js.get("processes", []) if p.get("pid") == 200]
        got = rows[0].get("open") if rows else None
        check(got == want, "--at %s: the refresh shown holds %r connections of pid 200 (uptime %r); expected "
              "the one holding %d" % (at, got, js.get("uptime_s"), want))


# ---------------------------------------------------------------------------
# the recorded thresholds: each one given again replaces that one only
# ---------------------------------------------------------------------------
@needs("rcleak")
def test_report_crafted_thresholds_kept():
    """Recorded with --fd-limit 1, redis-server pid 100 (24 of 1024 fds
    left, 2.3 %) is no FD-LIMIT. A report given another threshold
    (--leak-rate) judged it by the default --fd-limit 10 instead: any one
    threshold given put every other one back to its default, not to the
    one recorded. --fd-limit given again does replace it."""
    th = (5, 0.2, 5, 1000, 60, 3600, 1, 300)  # capcraft.Cap.meta's order: fd_limit 1 %
    path = save(capcraft.leak_scenario(th=th), "fd1.rcl")

    def verdicts(args):
        js, _ = report_json([path] + args, "report %s --json" % " ".join(args))
        return {p["pid"]: {v["verdict"] for v in p["verdicts"]} for p in js["files"][0]["processes"]}

    for args, server_fd_limit in (([], False), (["--leak-rate", "5"], False), (["--zombie", "60"], False),
                                  (["--fd-limit", "10"], True)):
        got = verdicts(args)
        check(("FD-LIMIT" in got.get(100, set())) == server_fd_limit,
              "report %s: redis-server pid 100 verdicts %r; recorded --fd-limit 1, expected %s"
              % (" ".join(args), sorted(got.get(100, set())), "FD-LIMIT" if server_fd_limit else "none"))
        check("LEAK" in got.get(200, set()), "report %s: pid 200 is no LEAK: %r" % (" ".join(args), got))


# ---------------------------------------------------------------------------
# joins: a loopback connection has both ends on one host
# ---------------------------------------------------------------------------
def join_files(server_boot, client_boot):
    """redis-host: redis-server pid 100 with 3 clients over loopback
    (127.0.0.1:40000-40002) and 2 from 10.0.0.2:50000-50001. client-host:
    pid 200 holds 127.0.0.1:40000 -> 127.0.0.1:6379 (its own local Redis)
    and pid 300 10.0.0.2:50000 -> 10.0.0.1:6379. The paths."""
    srv = capcraft.Cap(host="redis-host", boot=server_boot)
    srv.meta()
    fds = [dict(tgid=100, fd=6, sk=0x1000, lport=6379, rport=0, state=10, start=500, comm="redis-server",
                laddr="0.0.0.0", raddr="0.0.0.0")]
    fds += [dict(tgid=100, fd=7 + k, sk=0x2000 + k, lport=6379, rport=40000 + k, start=500, comm="redis-server")
            for k in range(3)]
    fds += [dict(tgid=100, fd=20 + k, sk=0x2100 + k, lport=6379, rport=50000 + k, start=500, comm="redis-server",
                 laddr="10.0.0.1", raddr="10.0.0.2") for k in range(2)]
    srv.tick(0.0, 0.0, fds, [dict(tgid=100, start=500, opened=5, flags=1, comm="redis-server")],
             [dict(tgid=100, start=500, comm="redis-server")])
    cli = capcraft.Cap(host="client-host", boot=client_boot)
    cli.meta()
    fds = [dict(tgid=200, fd=3, sk=0x3000, lport=40000, rport=6379, start=600, comm="localapp"),
           dict(tgid=300, fd=3, sk=0x3100, lport=50000, rport=6379, start=700, comm="remoteapp",
                laddr="10.0.0.2", raddr="10.0.0.1")]
    cli.tick(0.0, 0.0, fds, [dict(tgid=200, start=600, opened=1, comm="localapp"),
                             dict(tgid=300, start=700, opened=1, comm="remoteapp")],
             [dict(tgid=200, start=600, comm="localapp"), dict(tgid=300, start=700, comm="remoteapp")])
    return save(srv, "redis-host.rcl"), save(cli, "client-host.rcl")


@needs("rcleak")
def test_report_crafted_join_loopback():
    """Files of two hosts (other boot ids): the client host's pid 200 holds
    127.0.0.1:40000 -> 127.0.0.1:6379, a connection to its own local Redis,
    and the Redis host's server one from 127.0.0.1:40000, another connection
    of the same tuple on that host. Only pid 300 (10.0.0.2 -> 10.0.0.1)
    holds one of its connections: the join said 1 from pid 200 too. Files
    of one host and boot (a test of test_report.test_record_join) join
    loopback connections as before."""
    problems = []
    for boots, want in ((("boot-a", "boot-b"), [("client-host", 300, "remoteapp", 1)]),
                        (("boot-a", "boot-a"), [("client-host", 200, "localapp", 1),
                                                ("client-host", 300, "remoteapp", 1)])):
        paths = join_files(*boots)
        js, _ = report_json(list(paths), "report --json (boot ids %s, %s)" % boots)
        joined = js["files"][0]["servers_joined"]
        got = sorted((c["host"], c["pid"], c["comm"], c["count"]) for s in joined
                     for c in s["client_processes"])
        if got != want:
            problems.append("boot ids %s, %s: --json joins %r, expected %r" % (boots + (got, want)))
        out = summary(list(paths), "report (boot ids %s, %s)" % boots)
        text = [x.split() for x in out.splitlines() if " from client-host pid " in x]
        got = sorted(("client-host", int(f[4]), f[5].strip("()"), int(f[0])) for f in text)
        if got != want:
            problems.append("boot ids %s, %s: text joins %r, expected %r" % (boots + (got, want)))
    check(not problems, " | ".join(problems))


@needs("rcleak")
def test_report_crafted_json_files():
    """--at and --replay with --json over several files print one object
    per refresh and file, and nothing said which file or host a line was
    of; a file with no complete refresh (the second of three here) printed
    none, so the second line, host C's, read as host B's. Each line of a
    report of several files now names its file and host; one file's lines
    stay the live lines (no such keys)."""
    paths = []
    for host, ticks in (("host-a", 2), ("host-b", 0), ("host-c", 2)):
        c = capcraft.Cap(host=host)
        c.meta()
        for i in range(ticks):
            c.tick(1.0 * i, 1.0 if i else 0.0, [dict(tgid=200, fd=3, sk=0x3000, lport=40000, rport=6379)],
                   [dict(tgid=200, opened=1)], [dict(tgid=200)])
        paths.append(save(c, host + ".rcl"))
    problems = []
    for mode in (["--at", "+0s"], ["--replay", "--speed", "10000"]):
        rc, out, err = report(paths + mode + ["--json"])
        got = []
        for line in out.splitlines():
            js = json.loads(line)
            got.append((js.get("file"), js.get("host")))
        per_file = 1 if mode[0] == "--at" else 2   # --replay: each refresh
        # host B's: its skip line, in its place (7b1a6bd)
        want = [(paths[0], "host-a")] * per_file + [(paths[1], "host-b")] + [(paths[2], "host-c")] * per_file
        if rc != 1 or got != want:
            problems.append("%s --json: exit %d, lines of (file, host) %r; expected exit 1 (no refresh in %s) "
                            "and %r" % (" ".join(mode), rc, got, paths[1], want))
        rc, out, err = report([paths[0]] + mode + ["--json"])
        keys = [k for line in out.splitlines() for k in ("file", "host") if k in json.loads(line)]
        if rc != 0 or keys:
            problems.append("one file, %s --json: exit %d, keys %r: a file's lines are the live lines"
                            % (" ".join(mode), rc, keys))
    check(not problems, " | ".join(problems))


@needs("rcleak")
def test_report_crafted_tail_server_exit():
    """A killed recorder's file: one refresh (redis-server pid 100 listening
    on 6379 with 3 clients of pid 200), then the events it wrote before it
    died: the server's exit closing its 3 ends (exit-close, local port 6379),
    then the client's exit closing its 3. The events after the last refresh
    count into the rows: the server's exit closes were counted LEAKED 3, as
    if they were its own; they are its clients' connections (the summary of
    a whole capture counts them nowhere), the client's 3 are its leaks."""
    c = capcraft.Cap()
    c.meta()
    fds = [dict(tgid=100, fd=6, sk=0x1000, lport=6379, rport=0, state=10, start=500, comm="redis-server",
                laddr="0.0.0.0", raddr="0.0.0.0")]
    for k in range(3):
        fds.append(dict(tgid=100, fd=7 + k, sk=0x2000 + k, lport=6379, rport=40000 + k, start=500,
                        comm="redis-server"))
        fds.append(dict(tgid=200, fd=3 + k, sk=0x3000 + k, lport=40000 + k, rport=6379, start=600,
                        comm="client"))
    c.tick(0.0, 0.0, fds, [dict(tgid=100, start=500, flags=1, comm="redis-server"),
                           dict(tgid=200, start=600, opened=3, peak=3, comm="client")],
           [dict(tgid=100, start=500, fds=20, comm="redis-server", cmdline="redis-server *:6379"),
            dict(tgid=200, start=600, fds=6, comm="client", cmdline="client")])
    for k in range(3):  # ESTABLISHED -> FIN_WAIT1 at the server's exit, then the client's
        c.event(2.0, sk=0x2000 + k, tgid=100, cur_tgid=100, start=500, lport=6379, rport=40000 + k, old=1,
                new=4, kind=5, comm="redis-server")
    for k in range(3):  # CLOSE_WAIT -> LAST_ACK at the client's exit
        c.event(3.0, sk=0x3000 + k, tgid=200, cur_tgid=200, start=600, lport=40000 + k, rport=6379, old=8,
                new=9, kind=5, comm="client")
    d = mkdtemp("rcleak-crafted-tail-")
    path = os.path.join(d, "tail.rcl")
    c.save(path)
    rep, _err = report_json([path], "report --json")
    procs = {p["pid"]: p for p in rep["files"][0]["processes"]}
    check(procs.get(100, {}).get("leaked") == 0 and procs.get(200, {}).get("leaked") == 3,
          "report --json of a file ending in exit closes after its refresh: server row %s, client row %s; "
          "expected leaked 0 for the server (its clients' connections), 3 for the client"
          % (procs.get(100), procs.get(200)))


# ---------------------------------------------------------------------------
# --pid, --comm that select no process of the capture
# ---------------------------------------------------------------------------
@needs("rcleak")
def test_report_crafted_selects_none():
    """A --comm or --pid that no process of the capture has (python for
    python3, a pid from another host) gave an empty summary, table or CSV
    without a word, in every mode: read as "that process held nothing".
    The live view says so of a name no process has; report now says, in one
    line on stderr, that no refresh of the capture holds such a process,
    with a name that looks like it (exit 0, the output as it was). One that
    selects a process is said nothing of."""
    path = save(capcraft.tiny("hostA"), "tiny.rcl")  # pid 200, 'app'
    problems = []
    for sel, said in ((["--comm", "ap"], ("--comm ap", "no process of that name", "'app'")),
                      (["--pid", "999"], ("--pid 999", "no process of that pid")),
                      (["--pid", "200", "--comm", "web"], ("--pid 200 --comm web",)),
                      (["--comm", "app"], None), (["--pid", "200"], None), (["--pid", "200", "--comm", "app"], None)):
        for mode in ([], ["--json"], ["--csv"], ["--at", "+0s"], ["--replay", "--json"]):
            args = [path] + sel + mode
            rc, out, err = report(args)
            lines = [ln for ln in err.splitlines() if ln.strip()]
            if said is None:
                if rc != 0 or lines:
                    problems.append("report %s (selects pid 200): exit %d, stderr %r; expected 0, nothing said"
                                    % (" ".join(args), rc, err.strip()))
            elif rc != 0 or len(lines) != 1 or not all(w in lines[0] for w in said) or "tiny.rcl" not in lines[0]:
                problems.append("report %s (selects nothing): exit %d, stderr %r; expected exit 0 and one line "
                                "with %s and the file" % (" ".join(args), rc, err.strip(), " and ".join(
                                    repr(w) for w in said)))
    check(not problems, " | ".join(problems))


def _step_cap(ticks):
    """pid 200 holds 0 connections, then 4 from the refresh at 2 s on (one
    burst in flight, or a pool filled), refreshes every 2 s, window 30 s."""
    c = capcraft.Cap(wall0=1796637600.0)
    c.meta(interval=2.0, window=30.0)
    for i in range(ticks):
        n = 4 if i else 0
        c.tick(i * 2.0, 2.0 if i else 0.0,
               fds=[dict(tgid=200, fd=3 + k, sk=0x100 + k, lport=41000 + k, rport=6379) for k in range(n)],
               counters=[dict(tgid=200, opened=n)], procs=[dict(tgid=200)])
        c.flush()
    return c


@needs("rcleak")
def test_report_crafted_growth_step():
    """A process's GROW/min in the summary (max_growth_per_min) was the
    highest window slope of any refresh, two refreshes 2 s apart, 0 then 4
    connections, included: +120/min for a process that held 4 for the next
    minute (an ioredis reconnect storm read +239.9/min). Only refreshes whose
    samples span half the window count now, as for LEAK; a capture shorter
    than that keeps its best slope (4 in 2 s, 4 s: 120 and 120/min)."""
    got = {}
    for name, ticks in (("long", 31), ("short", 3)):
        js, _err = report_json([save(_step_cap(ticks), name + ".rcl")], "report --json of the %s step" % name)
        rows = [p for f in js.get("files", []) for p in f.get("processes", []) if p.get("pid") == 200]
        got[name] = rows[0].get("max_growth_per_min") if rows else None
    check(got["long"] is not None and got["long"] < 20 and got["short"] is not None and got["short"] >= 60,
          "max_growth_per_min: %r over 60 s of a step 0 -> 4 at 2 s (a slope over half the 30 s window at "
          "most 8/min), %r over 4 s (the slope 60-120/min)" % (got["long"], got["short"]))
