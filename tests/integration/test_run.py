"""`rcleak run -- CMD`: the CI mode, against real client libraries.

The programs under tests/clients/ (redis-py, ioredis, hiredis) each print one
"DONE ... pid=P comm=C opened=N closed=M open=O" line: what the library itself
did.  rcleak's verdicts (--json, --junit, the stderr summary, the exit status)
are checked against that report and against Redis's own INFO counters and ss.

Needs: /usr/bin/python3 with python3-redis, node + npm (ioredis is installed
into tests/clients/node/node_modules by `npm ci` on first use), cc + libhiredis-dev.
A test whose client library is missing is skipped, not failed.

Run alone:  python3 tests/integration/test_run.py [-k NAME]
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import atexit
import xml.etree.ElementTree as ET

import harness
from harness import (RCLEAK, Client, Fail, Redis, Skip, check, have_bpftool, leaked_progs,
                     mkdtemp, rcl_progs, resp_ping, spawn, ss_accepted, ss_count, ss_states,
                     stop, wait_until)

TESTS = ["test_run_py_leak", "test_run_py_leak_gc", "test_run_py_churn", "test_run_py_pool",
         "test_run_node_leak", "test_run_node_shared",
         "test_run_c_leak", "test_run_c_churn", "test_run_c_reuse",
         "test_run_churn_thresholds", "test_run_churn_short_lived", "test_run_churn_one_shot",
         "test_run_leak_early",
         "test_run_churn_slow",
         "test_run_close_wait", "test_run_server_not_leak",
         "test_run_tree_only", "test_run_exit_status",
         "test_run_daemon_not_waited", "test_run_daemon_wait_children",
         "test_run_daemon_exits_while_waited",
         "test_run_cmd_not_found", "test_run_sigint", "test_run_signal_before_cmd",
         "test_run_user", "test_run_json_needs_file", "test_run_json_cmdline",
         "test_run_stdio_passthrough", "test_run_junit"]

CLIENTS = os.path.join(harness.TESTS, "clients")
PY = "/usr/bin/python3"          # Debian's, with python3-redis (PATH may be a pyenv one)
PY_APP = os.path.join(CLIENTS, "py", "redispy_app.py")
DAEMON = os.path.join(CLIENTS, "py", "forkdaemon.py")
NODE_DIR = os.path.join(CLIENTS, "node")
NODE_APP = os.path.join(NODE_DIR, "ioredis_app.js")
C_SRC = os.path.join(CLIENTS, "c", "hiredis_app.c")

RULES = ("max-open", "max-leaked", "max-connects", "max-churn", "close-wait")
RUN_TIMEOUT = 40                 # seconds for one `rcleak run` to finish
NUM = (int, float)


# ---------------------------------------------------------------------------
# client programs
# ---------------------------------------------------------------------------
def need_py():
    if not os.access(PY, os.X_OK):
        raise Skip("%s not installed" % PY)
    r = subprocess.run([PY, "-c", "import redis"], capture_output=True, timeout=30)
    if r.returncode != 0:
        raise Skip("python3-redis not installed (%s cannot import redis)" % PY)
    return [PY, PY_APP]


_node_lock = threading.Lock()


def need_node():
    node, npm = shutil.which("node") or shutil.which("nodejs"), shutil.which("npm")
    if not node:
        raise Skip("nodejs not installed")
    with _node_lock:
        if not os.path.isfile(os.path.join(NODE_DIR, "node_modules", "ioredis", "package.json")):
            if not npm:
                raise Skip("npm not installed (needed once to install ioredis)")
            cmd = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
            r = subprocess.run(cmd, cwd=NODE_DIR, capture_output=True, text=True, timeout=180)
            if r.returncode != 0:
                raise Fail("`npm ci` in %s failed (rc %d): %s" % (
                    NODE_DIR, r.returncode, (r.stderr or r.stdout).strip()[-400:]))
    return [node, NODE_APP]


_build = {}


def _build_dir():
    if "dir" not in _build:
        d = tempfile.mkdtemp(prefix="rcleak-run-build-")
        os.chmod(d, 0o755)              # --user nobody must be able to exec from it
        atexit.register(shutil.rmtree, d, True)
        _build["dir"] = d
    return _build["dir"]


def need_c():
    if "hiredis" in _build:
        return [_build["hiredis"]]
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise Skip("no C compiler")
    if not os.path.isfile("/usr/include/hiredis/hiredis.h"):
        raise Skip("libhiredis-dev not installed")
    out = os.path.join(_build_dir(), "hiredis_app")
    r = subprocess.run([cc, "-O2", "-Wall", "-o", out, C_SRC, "-lhiredis"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise Fail("building %s failed: %s" % (C_SRC, r.stderr.strip()[-400:]))
    os.chmod(out, 0o755)
    _build["hiredis"] = out
    return [out]


def parse_done(text, what="program"):
    """The DONE line of a client program as a dict (numbers as int)."""
    for line in text.splitlines():
        if line.startswith("DONE "):
            d = {}
            for kv in line.split()[1:]:
                k, _, v = kv.partition("=")
                d[k] = int(v) if re.fullmatch(r"-?\d+", v) else v
            return d
    raise Fail("%s printed no DONE line; stdout: %r" % (what, text[-400:]))


# ---------------------------------------------------------------------------
# Redis ground truth
# ---------------------------------------------------------------------------
def total_connections(r):
    """INFO stats total_connections_received (this redis-cli call included)."""
    out = r.cli("INFO", "stats")
    m = re.search(r"^total_connections_received:(\d+)", out, re.M)
    check(m, "no total_connections_received in INFO: %r" % out[:300])
    return int(m.group(1))


def redis_delta(r, before):
    """Connections Redis accepted since total_connections() returned before,
    not counting redis-cli's own two calls."""
    return total_connections(r) - before - 1


def wait_redis_idle(r, what):
    """Redis sees no client (all connections of the program are gone)."""
    last = [None]

    def idle():
        last[0] = r.connected_clients()
        return last[0] == 0
    try:
        wait_until(idle, timeout=5, what="")
    except Fail:
        raise Fail("%s: Redis still has %s connected clients" % (what, last[0]))


# ---------------------------------------------------------------------------
# rcleak run
# ---------------------------------------------------------------------------
class Run:
    """One `rcleak run [args] -- cmd`, stdin/stdout/stderr on files (no TTY)."""

    _seq = 0

    def __init__(self, args, cmd, stdin_data=None, env=None, json_out=True, junit=False):
        Run._seq += 1
        self.dir = mkdtemp("rcleak-run-")
        os.chmod(self.dir, 0o755)
        self.json_path = os.path.join(self.dir, "result.json") if json_out else None
        self.junit_path = os.path.join(self.dir, "result.xml") if junit else None
        self.mark = "rcl-run-test-%d-%d" % (os.getpid(), Run._seq)
        argv = [RCLEAK, "run"] + list(args)
        if self.json_path:
            argv += ["--json", self.json_path]
        if self.junit_path:
            argv += ["--junit", self.junit_path]
        argv += ["--"] + list(cmd)
        self.argv, self.cmd = argv, list(cmd)
        self.before = rcl_progs() if have_bpftool() else None

        def dfl_signals():
            # CMD must see default dispositions whatever the runner inherited
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP,
                        signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")
        e = dict(os.environ if env is None else env)
        e["RCLEAK_RUN_TEST_MARK"] = self.mark        # to find CMD's leftovers
        stdin = subprocess.DEVNULL
        if stdin_data is not None:
            inp = os.path.join(self.dir, "stdin")
            with open(inp, "wb") as f:
                f.write(stdin_data)
            stdin = open(inp, "rb")
        with open(self.out_path, "wb") as fo, open(self.err_path, "wb") as fe:
            self.t0 = time.monotonic()
            self.proc = spawn(argv, "rcleak run", stdin=stdin, stdout=fo, stderr=fe, env=e,
                              preexec_fn=dfl_signals)
        if stdin is not subprocess.DEVNULL:
            stdin.close()
        self.pid = self.proc.pid
        self.rc = None
        self.elapsed = None
        self.js = None

    def out(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def err(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def describe(self):
        return "`%s` rc=%s; stderr: %s" % (" ".join(self.argv[1:]), self.rc,
                                           self.err().strip()[-1200:])

    def wait(self, timeout=RUN_TIMEOUT, check_progs=True):
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(self.proc, signal.SIGKILL)
            kill_marked(self.mark)
            raise Fail("rcleak run did not exit within %ds: %s" % (timeout, self.describe()))
        self.elapsed = time.monotonic() - self.t0
        if check_progs:
            no_progs_left(self)
        return self.rc

    def load_json(self):
        check(self.json_path and os.path.isfile(self.json_path),
              "--json file not written: %s" % self.describe())
        with open(self.json_path) as f:
            text = f.read()
        try:
            self.js = json.loads(text)
        except ValueError as e:
            raise Fail("--json file is not JSON (%s): %r" % (e, text[:400]))
        check_shape(self.js, self)
        return self.js

    def cleanup(self):
        kill_marked(self.mark)


def kill_marked(mark):
    """SIGKILL every process whose environment carries mark (CMD's tree,
    including daemons that left rcleak's process group).  Returns their pids."""
    killed = []
    needle = ("RCLEAK_RUN_TEST_MARK=%s\0" % mark).encode()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read()
        except OSError:
            continue
        if needle in env:
            try:
                os.kill(int(d), signal.SIGKILL)
                killed.append(int(d))
            except OSError:
                pass
    return killed


def no_progs_left(run):
    if run.before is None:
        return
    leaked = leaked_progs(run.before, our_sids={run.pid}, timeout=5)
    check(not leaked, "after `rcleak run` exited, BPF programs still loaded: %s (ids %s)"
          % (sorted(set(leaked.values())), sorted(leaked)))


def check_shape(js, run):
    """The --json contract (types of every field)."""
    where = "--json of %s" % " ".join(run.argv[1:])
    check(isinstance(js, dict), "%s: not an object" % where)
    for k, t in (("cmd", list), ("exit_code", int), ("cmd_exit", (int, type(None))),
                 ("cmd_signal", (int, type(None))), ("duration_s", NUM),
                 ("result", str), ("totals", dict), ("processes", list), ("rules", list)):
        check(k in js, "%s: no field %r (has %s)" % (where, k, sorted(js)))
        check(isinstance(js[k], t) and not (t is int and isinstance(js[k], bool)),
              "%s: %s=%r is not %s" % (where, k, js[k], t))
    check(js["cmd"] == run.cmd, "%s: cmd=%r, expected %r" % (where, js["cmd"], run.cmd))
    check(js["result"] in ("pass", "fail"), "%s: result=%r" % (where, js["result"]))
    for k in ("opened", "closed", "leaked", "open_at_end"):
        check(isinstance(js["totals"].get(k), int), "%s: totals.%s=%r" % (
            where, k, js["totals"].get(k, "<missing>")))
    pf = {"pid": int, "comm": str, "cmdline": (str, type(None)), "role": str,
          "peak_open": int, "leaked": int,
          "open_at_end": int, "opened": int, "closed": int,
          "median_lifetime_ms": NUM + (type(None),), "connects_per_s": NUM,
          "max_churn_per_s": NUM, "close_wait_max": int, "verdict": str, "exited": bool}
    for p in js["processes"]:
        for k, t in pf.items():
            check(k in p, "%s: process %s has no %r" % (where, p.get("pid"), k))
            check(isinstance(p[k], t) and (t is bool or not isinstance(p[k], bool)),
                  "%s: process %s: %s=%r" % (where, p.get("pid"), k, p[k]))
        check(p["verdict"] in ("LEAK", "CHURN", "ZOMBIE", "ok"),
              "%s: process %s verdict=%r" % (where, p["pid"], p["verdict"]))
        check(p["role"] in ("client", "server"), "%s: role=%r" % (where, p["role"]))
    names = [r.get("name") for r in js["rules"]]
    check(sorted(names) == sorted(RULES), "%s: rules %s, expected one each of %s"
          % (where, names, list(RULES)))
    for r in js["rules"]:
        for k in ("threshold", "value", "passed", "detail"):
            check(k in r, "%s: rule %s has no %r" % (where, r.get("name"), k))
        check(isinstance(r["passed"], bool), "%s: rule %s passed=%r" % (where, r["name"], r["passed"]))
        if r["threshold"] is None:
            check(r["passed"] is True, "%s: rule %s not set but passed=%r"
                  % (where, r["name"], r["passed"]))
    failed = [r["name"] for r in js["rules"] if not r["passed"]]
    if failed:
        check(js["result"] == "fail", "%s: rules %s failed but result=%r"
              % (where, failed, js["result"]))
    check(js["exit_code"] == run.rc, "%s: exit_code=%r but rcleak exited %r"
          % (where, js["exit_code"], run.rc))
    check(0 <= js["duration_s"] <= run.elapsed + 1, "%s: duration_s=%r, rcleak ran %.1fs"
          % (where, js["duration_s"], run.elapsed))


def prow(js, pid):
    rows = [p for p in js["processes"] if p["pid"] == pid]
    check(len(rows) == 1, "--json: %d process entries for pid %d (processes: %s)" % (
        len(rows), pid, [(p["pid"], p["comm"]) for p in js["processes"]]))
    return rows[0]


def rule(js, name):
    return [r for r in js["rules"] if r["name"] == name][0]


def expect(row, want, what):
    bad = ["%s observed %r expected %r" % (k, row.get(k, "<missing>"), v)
           for k, v in want.items() if row.get(k, "<missing>") != v]
    check(not bad, "%s: %s" % (what, "; ".join(bad)))


SET = object()       # expect_rules: any non-null threshold (e.g. --fail-on-close-wait)


def expect_rules(js, want):
    """want: {name: (threshold or SET, value or None for any, passed)}; the
    other rules must be unset (threshold null, passed)."""
    for name in RULES:
        r = rule(js, name)
        if name in want:
            thr, val, passed = want[name]
            thr_ok = r["threshold"] is not None if thr is SET else r["threshold"] == thr
            ok = thr_ok and r["passed"] is passed and (val is None or r["value"] == val)
            check(ok, "rule %s: threshold=%r value=%r passed=%r, expected threshold=%s%s passed=%r"
                  " (detail %r)" % (name, r["threshold"], r["value"], r["passed"],
                                    "<set>" if thr is SET else repr(thr),
                                    "" if val is None else " value=%r" % val, passed, r["detail"]))
        else:
            check(r["threshold"] is None and r["passed"] is True,
                  "rule %s not set: threshold=%r passed=%r, expected null/true"
                  % (name, r["threshold"], r["passed"]))


def expect_detail_names(js, name, pid, comm):
    d = rule(js, name)["detail"] or ""
    check(str(pid) in d or comm in d, "rule %s detail %r names neither pid %d nor comm %r"
          % (name, d, pid, comm))


def summary_checks(run, pid, comm, verdict, rules):
    """The stderr summary names the process (pid, comm) with its verdict, and
    each rule in rules ({name: "PASS"/"FAIL"})."""
    err = run.err()
    lines = err.splitlines()
    check(any(str(pid) in l and comm in l for l in lines),
          "summary on stderr names no line with pid %d and comm %r: %r" % (pid, comm, err[-1500:]))
    if verdict:
        check(any(verdict in l for l in lines),
              "summary on stderr does not show verdict %s for pid %d: %r" % (verdict, pid, err[-1500:]))
    for name, word in rules.items():
        check(any(name in l and word in l for l in lines),
              "summary on stderr has no line with rule %s and %s: %r" % (name, word, err[-1500:]))


def run_app(prog, mode, n, rate, rc_args, want_rc, extra=()):
    """A fresh Redis; `rcleak run -p PORT rc_args -- prog mode PORT n rate extra`.
    Checks the exit status and Redis's count of accepted connections against
    the program's report.  Returns (redis, run, json, DONE dict)."""
    r = Redis()
    before = total_connections(r)
    cmd = list(prog) + [mode, str(r.port), str(n), str(rate)] + [str(x) for x in extra]
    run = Run(["-p", str(r.port)] + list(rc_args), cmd)
    try:
        rc = run.wait()
        done = parse_done(run.out(), " ".join(cmd))
        check(rc == want_rc, "exit status %r, expected %r (the program reports %s); %s"
              % (rc, want_rc, done, run.describe()))
        js = run.load_json()
    finally:
        run.cleanup()
    check(done["requests"] == n, "the program reports %s, expected requests=%d" % (done, n))
    accepted = redis_delta(r, before)
    check(accepted == done["opened"], "ground truth: Redis accepted %d connections, the program "
          "reports opened=%d" % (accepted, done["opened"]))
    return r, run, js, done


def _leak_case(prog, mode, n, rate):
    """Leaking program under --max-leaked 0 --max-open 2n: exit 5, leaked == n."""
    r, run, js, done = run_app(prog, mode, n, rate, ["--max-leaked", "0", "--max-open", str(2 * n)], 5)
    check(done["opened"] == n and done["open"] == n, "the program reports %s" % done)
    wait_redis_idle(r, "after the program exited (the kernel closes what it left open)")
    pid, comm = done["pid"], done["comm"]
    row = prow(js, pid)
    expect(row, {"comm": comm, "role": "client", "leaked": n, "opened": n, "closed": 0,
                 "open_at_end": 0, "peak_open": n, "verdict": "LEAK", "exited": True},
           "--json process %d (%s), the program reports %s" % (pid, comm, done))
    expect(js["totals"], {"opened": n, "closed": 0, "leaked": n, "open_at_end": 0}, "--json totals")
    expect(js, {"result": "fail", "exit_code": 5, "cmd_exit": 0, "cmd_signal": None}, "--json")
    expect_rules(js, {"max-leaked": (0, n, False), "max-open": (2 * n, n, True)})
    expect_detail_names(js, "max-leaked", pid, comm)
    summary_checks(run, pid, comm, "LEAK", {"max-leaked": "FAIL", "max-open": "PASS"})


def _churn_case(prog, mode, n, rate, max_churn):
    """connect/request/close per request at rate/s: CHURN; with --max-churn
    below the rate, exit 5; with no thresholds, exit 0 and only reported."""
    rc_args = ["--max-leaked", "0", "--max-churn", str(max_churn)] if max_churn else []
    r, run, js, done = run_app(prog, mode, n, rate, rc_args, 5 if max_churn else 0)
    check(done["opened"] == n and done["closed"] == n, "the program reports %s" % done)
    check(r.connected_clients() == 0, "ground truth: Redis still has clients")
    pid, comm = done["pid"], done["comm"]
    row = prow(js, pid)
    what = "--json process %d (%s), the program reports %s" % (pid, comm, done)
    expect(row, {"comm": comm, "role": "client", "opened": n, "closed": n, "leaked": 0,
                 "open_at_end": 0, "verdict": "CHURN", "exited": True, "close_wait_max": 0}, what)
    check(row["peak_open"] <= 1, "%s: peak_open=%r, expected <= 1 (one connection at a time)"
          % (what, row["peak_open"]))
    med = row["median_lifetime_ms"]
    check(med is not None and 0 <= med < 1000, "%s: median_lifetime_ms=%r, expected < 1000"
          % (what, med))
    check(row["max_churn_per_s"] >= 5 and row["connects_per_s"] > 0,
          "%s: max_churn_per_s=%r connects_per_s=%r at %s connects/s"
          % (what, row["max_churn_per_s"], row["connects_per_s"], rate))
    expect(js["totals"], {"opened": n, "closed": n, "leaked": 0, "open_at_end": 0}, "--json totals")
    if max_churn:
        expect(js, {"result": "fail", "exit_code": 5, "cmd_exit": 0}, "--json")
        expect_rules(js, {"max-leaked": (0, 0, True), "max-churn": (max_churn, None, False)})
        v = rule(js, "max-churn")["value"]
        check(v > max_churn and v <= rate * 2,
              "rule max-churn value=%r, expected above the threshold %s (program ran at %s/s)"
              % (v, max_churn, rate))
        expect_detail_names(js, "max-churn", pid, comm)
        summary_checks(run, pid, comm, "CHURN", {"max-churn": "FAIL", "max-leaked": "PASS"})
    else:
        expect(js, {"result": "pass", "exit_code": 0, "cmd_exit": 0}, "--json")
        expect_rules(js, {})
        summary_checks(run, pid, comm, "CHURN", {})


def _pooled_case(prog, mode, n, rate, extra, limit):
    """Pooled / shared connections under an SRE's thresholds: exit 0, all pass."""
    rc_args = ["--max-leaked", "0", "--max-churn", "20", "--max-open", str(limit),
               "--max-connects", str(limit), "--fail-on-close-wait"]
    r, run, js, done = run_app(prog, mode, n, rate, rc_args, 0, extra)
    k = done["opened"]
    check(1 <= k <= limit and done["closed"] == k, "the program reports %s (pool size %d)"
          % (done, limit))
    check(r.connected_clients() == 0, "ground truth: Redis still has clients")
    pid, comm = done["pid"], done["comm"]
    row = prow(js, pid)
    what = "--json process %d (%s), the program reports %s" % (pid, comm, done)
    expect(row, {"comm": comm, "role": "client", "opened": k, "closed": k, "leaked": 0,
                 "open_at_end": 0, "verdict": "ok", "exited": True, "close_wait_max": 0}, what)
    check(1 <= row["peak_open"] <= k, "%s: peak_open=%r, expected 1..%d" % (what, row["peak_open"], k))
    check(row["max_churn_per_s"] <= 20, "%s: max_churn_per_s=%r" % (what, row["max_churn_per_s"]))
    expect(js["totals"], {"opened": k, "closed": k, "leaked": 0, "open_at_end": 0}, "--json totals")
    expect(js, {"result": "pass", "exit_code": 0, "cmd_exit": 0, "cmd_signal": None}, "--json")
    expect_rules(js, {"max-leaked": (0, 0, True), "max-churn": (20, None, True),
                      "max-open": (limit, row["peak_open"], True), "max-connects": (limit, k, True),
                      "close-wait": (SET, 0, True)})
    summary_checks(run, pid, comm, None, {n: "PASS" for n in RULES})


# --- redis-py ----------------------------------------------------------------
def test_run_py_leak():
    """redis-py: a new redis.Redis() per request, never closed -> exit 5, LEAK."""
    _leak_case(need_py(), "leak", 50, 100)


def test_run_py_leak_gc():
    """redis-py: a new redis.Redis() per request, never closed, normal exit.
    CPython closes what it still references at shutdown, so these are the
    program's closes, not leaks at exit (README); the peak catches it:
    --max-open 10 fails with peak_open == n, --max-leaked 0 passes."""
    n = 50
    r, run, js, done = run_app(need_py(), "leak-gc", n, 100, ["--max-leaked", "0", "--max-open", "10"], 5)
    check(done["opened"] == n and done["open"] == n, "the program reports %s" % done)
    wait_redis_idle(r, "after the program exited")
    pid, comm = done["pid"], done["comm"]
    row = prow(js, pid)
    expect(row, {"comm": comm, "role": "client", "peak_open": n, "opened": n, "closed": n,
                 "leaked": 0, "open_at_end": 0, "exited": True},
           "--json process %d (%s), the program reports %s" % (pid, comm, done))
    expect(js, {"result": "fail", "exit_code": 5, "cmd_exit": 0}, "--json")
    expect_rules(js, {"max-leaked": (0, 0, True), "max-open": (10, n, False)})
    expect_detail_names(js, "max-open", pid, comm)


def test_run_py_churn():
    """redis-py: a new client per request, closed -> CHURN; --max-churn 10 -> exit 5."""
    _churn_case(need_py(), "churn", 100, 50, 10)


def test_run_py_pool():
    """redis-py: one ConnectionPool(max_connections=4) for 4 threads -> exit 0."""
    _pooled_case(need_py(), "pool", 200, 100, [4], 4)


# --- ioredis -------------------------------------------------------------------
def test_run_node_leak():
    """ioredis: new Redis() per request, never quit(), process.exit() -> exit 5."""
    _leak_case(need_node(), "leak", 50, 100)


def test_run_node_shared():
    """ioredis: one shared client -> exit 0, one connection."""
    _pooled_case(need_node(), "shared", 100, 50, [], 1)


# --- hiredis -------------------------------------------------------------------
def test_run_c_leak():
    """hiredis: redisConnect per request without redisFree, as fast as it goes."""
    _leak_case(need_c(), "leak", 100, 0)


def test_run_c_churn():
    """hiredis: redisConnect + redisFree per request, no thresholds: exit 0, CHURN reported."""
    _churn_case(need_c(), "free", 100, 50, None)


def test_run_c_reuse():
    """hiredis: one connection reused -> exit 0."""
    _pooled_case(need_c(), "reuse", 100, 50, [], 1)


def test_run_churn_thresholds():
    """--churn-rate moves the CHURN verdict: 50 connects/s is ok under
    --churn-rate 1000; 3 connects/s is ok by default (5) and CHURN under 2."""
    app = need_c()
    for n, rate, args, verdict in ((50, 50, ["--churn-rate", "1000"], "ok"),
                                   (6, 3, [], "ok"),
                                   (6, 3, ["--churn-rate", "2"], "CHURN")):
        _r, run, js, done = run_app(app, "free", n, rate, args, 0)
        row = prow(js, done["pid"])
        check(row["verdict"] == verdict and row["opened"] == n and row["closed"] == n,
              "%d connect/close at %d/s with %s: %s, expected verdict %s opened=closed=%d"
              " (connects_per_s=%r, median_lifetime_ms=%r)"
              % (n, rate, " ".join(args) or "default thresholds", row["verdict"], verdict, n,
                 row["connects_per_s"], row["median_lifetime_ms"]))
        expect(js, {"result": "pass", "exit_code": 0}, "--json (no rule set)")


MIN_LIFE = 0.1   # README: a life under 0.1 s counts as 0.1 s for connects/s


def _finish(run):
    """Wait for run; its exit status, CMD's DONE line and its --json."""
    try:
        rc = run.wait()
        return rc, parse_done(run.out()), run.load_json()
    finally:
        run.cleanup()


def _churn_life_run(r, k, pace, interval, max_churn, want_rc):
    """hiredis_app doing k connect/PING/close at pace/s (0: flat out), as a
    grandchild (CMD goes on after it exits, so that only rcleak itself can
    date that exit), under --max-churn max_churn.  Returns the DONE line and
    the program's --json row."""
    app = need_c()[0]
    cmd = ["sh", "-c", '"$0" free "$1" "$2" "$3"; sleep 1', app, str(r.port), str(k), str(pace)]
    before = total_connections(r)
    args = ["-p", str(r.port), "--max-churn", str(max_churn)] + (["-i", interval] if interval else [])
    run = Run(args, cmd)
    rc, done, js = _finish(run)
    check(done["opened"] == k and done["closed"] == k, "the program reports %s" % done)
    check(redis_delta(r, before) == k, "ground truth: Redis accepted %d, expected %d"
          % (redis_delta(r, before), k))
    what = "%d connects at %s/s in %ss (%s), -i %s, --max-churn %s" % (
        k, pace or "max", done["elapsed"], done, interval or "default", max_churn)
    check(rc == want_rc, "%s: exit status %r, expected %r; %s" % (what, rc, want_rc, run.describe()))
    expect(prow(js, done["pid"]), {"opened": k, "closed": k, "exited": True}, "--json: " + what)
    expect_rules(js, {"max-churn": (max_churn, None, want_rc == 0)})
    return done, prow(js, done["pid"]), what


def test_run_churn_short_lived():
    """k = 20 connect/close pairs flat out by a process that exits while CMD
    goes on: over its whole life (taken as at least 0.1 s) that is more than
    50/s as long as it lived under 0.4 s (checked on its own elapsed time),
    so --max-churn 50 fails: exit 5 under the default -i, -i 1 and -i 2
    alike (20 over -i would pass)."""
    r = Redis()
    k, thr = 20, 50
    for interval in (None, "1", "2"):
        done, row, what = _churn_life_run(r, k, 0, interval, thr, 5)
        elapsed = float(done["elapsed"])
        check(k / max(elapsed, MIN_LIFE) > 1.25 * thr, "%s: too slow a machine for this test: "
              "the program's own rate %.1f/s is not well above %d/s" % (what, k / elapsed, thr))
        # it lived at least `elapsed`: its rate is at most k / max(elapsed, 0.1)
        cap = k / max(elapsed, MIN_LIFE) + 0.01
        check(thr < row["max_churn_per_s"] <= cap and row["connects_per_s"] <= cap,
              "%s: max_churn_per_s=%r connects_per_s=%r, expected above %s and at most %.2f"
              % (what, row["max_churn_per_s"], row["connects_per_s"], thr, cap))


def test_run_churn_one_shot():
    """One connect/close by a process that lives a few ms (redis-cli ping's
    pattern): one connect is no rate, so --max-churn 1 passes and its
    verdict is not CHURN."""
    r = Redis()
    done, row, what = _churn_life_run(r, 1, 0, None, 1, 0)
    check(row["connects_per_s"] <= 1 / 5 + 0.01 and row.get("verdict") != "CHURN",
          "%s: connects_per_s=%r verdict=%r, expected 1 over the 5 s window and not CHURN"
          % (what, row["connects_per_s"], row.get("verdict")))


def test_run_leak_early():
    """A grandchild that leaks 5 connections and exits long before CMD ends
    (4 s after, twice --window 2): its leaks are still in the summary, and
    --max-leaked 0 fails."""
    app = need_c()[0]
    r = Redis()
    cmd = ["sh", "-c", '"$0" leak "$1" 5 0; sleep 4', app, str(r.port)]
    run = Run(["-p", str(r.port), "--max-leaked", "0", "--window", "2"], cmd)
    rc, done, js = _finish(run)
    check(done["opened"] == 5 and done["open"] == 5, "the program reports %s" % done)
    check(rc == 5, "exit status %r, expected 5; %s" % (rc, run.describe()))
    expect(prow(js, done["pid"]), {"leaked": 5, "opened": 5, "exited": True, "verdict": "LEAK"},
           "--json: the early leaker %d" % done["pid"])
    expect_rules(js, {"max-leaked": (0, 5, False)})


def test_run_churn_slow():
    """k = 10 connect/close pairs at 4/s, over more than 2 s (its own
    elapsed time): over its whole life that is at most k / elapsed < 5/s, so
    --max-churn 8 passes: exit 0 under the default -i and -i 0.1 (a rate
    taken between two refreshes 0.1 s apart would not)."""
    r = Redis()
    k, thr = 10, 8
    for interval in (None, "0.1"):
        done, row, what = _churn_life_run(r, k, 4, interval, thr, 0)
        elapsed = float(done["elapsed"])
        check(elapsed > 2, "%s: the program took %.3fs, expected over 2 s" % (what, elapsed))
        cap = k / elapsed + 0.01
        check(0 < row["max_churn_per_s"] <= cap and 0 < row["connects_per_s"] <= cap,
              "%s: max_churn_per_s=%r connects_per_s=%r, expected at most %.2f (k / elapsed)"
              % (what, row["max_churn_per_s"], row["connects_per_s"], cap))


def test_run_close_wait():
    """A client that keeps 3 connections Redis closed (QUIT) in CLOSE_WAIT for
    1.5 s, then frees them: --fail-on-close-wait -> exit 5; nothing leaked."""
    app = need_c()[0]
    r = Redis()
    before = total_connections(r)
    run = Run(["-p", str(r.port), "--fail-on-close-wait", "--max-leaked", "0"],
              [app, "closewait", str(r.port), "3", "1.5"])
    seen = {}

    def close_wait_in_ss():
        for pid, comm in _descendants(run.pid):
            if comm == "hiredis_app":
                seen[pid] = ss_states(pid, [r.port])
                return seen[pid].get("CLOSE-WAIT", 0) == 3
        return False
    try:
        try:
            wait_until(close_wait_in_ss, timeout=10, what="")
        except Fail:
            raise Fail("ground truth: expected 3 CLOSE-WAIT sockets of hiredis_app in ss, saw %s"
                       % seen)
        rc = run.wait()
        done = parse_done(run.out())
        check(rc == 5, "exit status %r, expected 5; %s" % (rc, run.describe()))
        js = run.load_json()
    finally:
        run.cleanup()
    check(redis_delta(r, before) == 3 and done["opened"] == 3 and done["closed"] == 3,
          "ground truth: Redis accepted %d; the program reports %s" % (redis_delta(r, before), done))
    pid, comm = done["pid"], done["comm"]
    expect(prow(js, pid), {"comm": comm, "opened": 3, "closed": 3, "leaked": 0, "open_at_end": 0,
                           "close_wait_max": 3, "exited": True},
           "--json process %d (%s), the program reports %s" % (pid, comm, done))
    expect_rules(js, {"close-wait": (SET, None, False), "max-leaked": (0, 0, True)})
    check(rule(js, "close-wait")["value"] >= 1, "rule close-wait value %r" % rule(js, "close-wait"))
    expect_detail_names(js, "close-wait", pid, comm)
    summary_checks(run, pid, comm, None, {"close-wait": "FAIL", "max-leaked": "PASS"})


def test_run_server_not_leak():
    """CMD is a redis-server: the 4 connections it accepted from a client
    outside the tree, still open when it shuts down, are not leaks (role server)."""
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        raise Skip("redis-server/redis-cli not installed")
    q = harness.free_port()
    d = mkdtemp("rcleak-run-redis-")
    cmd = ["redis-server", "--port", str(q), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--daemonize", "no", "--dir", d,
           "--logfile", os.path.join(d, "redis.log")]
    run = Run(["-p", str(q), "--max-leaked", "0"], cmd)

    def up():
        try:
            return resp_ping(q)
        except OSError:
            return False
    try:
        wait_until(up, timeout=10, what="redis-server under rcleak run to answer")
        srv = [p for p, c in _descendants(run.pid) if c == "redis-server"]
        check(len(srv) == 1, "redis-server under rcleak: %s" % _descendants(run.pid))
        srv = srv[0]
        hold = Client("hold", ["--target", "127.0.0.1:%d:4" % q], name="rclt-srvhold")
        check(ss_accepted(srv, q) == 4, "ground truth: redis-server holds %d accepted"
              % ss_accepted(srv, q))
        subprocess.run(["redis-cli", "-p", str(q), "shutdown", "nosave"], capture_output=True,
                       timeout=10)
        rc = run.wait()
        check(rc == 0, "exit status %r, expected 0 (redis-server exited 0, no leak); %s"
              % (rc, run.describe()))
        js = run.load_json()
    finally:
        run.cleanup()
    row = prow(js, srv)
    expect(row, {"comm": "redis-server", "role": "server", "leaked": 0, "open_at_end": 0,
                 "exited": True}, "--json redis-server %d (held 4 accepted at exit)" % srv)
    check(row["opened"] >= 5, "--json redis-server opened=%r, expected >= 5 (4 held, "
          "redis-cli, pings)" % row["opened"])
    expect(js["totals"], {"leaked": 0, "open_at_end": 0}, "--json totals")
    expect(js, {"result": "pass", "exit_code": 0, "cmd_exit": 0}, "--json")
    expect_rules(js, {"max-leaked": (0, 0, True)})
    hold.stop()


# ---------------------------------------------------------------------------
# process tree, exit status, daemons
# ---------------------------------------------------------------------------
def test_run_tree_only():
    """Only CMD's tree is traced: a client outside it (holding, and churning
    during the run) and redis-server are not in the report."""
    app = need_c()[0]
    r = Redis()
    hold = Client("hold", ["--target", "127.0.0.1:%d:6" % r.port], name="rclt-outside")
    # 30 s of connect/PING/close at 50/s, stopped once rcleak returns
    churn = spawn([app, "free", str(r.port), "1500", "50"], "client outside churn",
                  stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = total_connections(r)
    cmd = ["sh", "-c", '"$0" leak "$1" 5 0; "$0" free "$1" 20 40', app, str(r.port)]
    run = Run(["-p", str(r.port)], cmd)
    try:
        rc = run.wait()
        check(churn.poll() is None, "the outside churn ended before rcleak did (test too slow)")
        check(rc == 0, "exit status %r, expected 0; %s" % (rc, run.describe()))
        dones = [parse_done(l) for l in run.out().splitlines() if l.startswith("DONE ")]
        check(len(dones) == 2, "CMD printed %r" % run.out())
        js = run.load_json()
    finally:
        run.cleanup()
    leak, free = dones
    stop(churn)
    accepted = redis_delta(r, before)
    # the outside churn runs concurrently; its connections made after `before`
    # are unknown, so check only that Redis saw at least CMD's.
    check(accepted >= 25, "ground truth: Redis accepted %d, expected >= 25" % accepted)
    ours = {leak["pid"], free["pid"]}
    stray = [(p["pid"], p["comm"], p["opened"]) for p in js["processes"]
             if p["pid"] not in ours and (p["opened"] or p["leaked"] or p["open_at_end"] or p["peak_open"])]
    check(not stray, "--json lists processes outside CMD's tree with connections: %s "
          "(outside holder %d, outside churn %d, redis-server %d; CMD's programs %s)"
          % (stray, hold.pid, churn.pid, r.pid, sorted(ours)))
    expect(prow(js, leak["pid"]), {"opened": 5, "closed": 0, "leaked": 5, "verdict": "LEAK",
                                   "exited": True}, "--json leaking child %s" % leak)
    expect(prow(js, free["pid"]), {"opened": 20, "closed": 20, "leaked": 0, "exited": True},
           "--json closing child %s" % free)
    expect(js["totals"], {"opened": 25, "closed": 20, "leaked": 5, "open_at_end": 0}, "--json totals")
    expect(js, {"result": "pass", "exit_code": 0, "cmd_exit": 0}, "--json (no thresholds)")
    check(ss_count(hold.pid, [r.port]) == 6, "ground truth: the outside holder lost connections")


def test_run_exit_status():
    """CMD's non-zero exit wins (also over a broken threshold); killed by
    signal N -> 128+N; a clean CMD under thresholds it meets -> 0."""
    app = need_c()[0]
    r = Redis()
    p = str(r.port)
    cases = [
        (["sh", "-c", "exit 7"], [], 7, {"cmd_exit": 7, "cmd_signal": None},
         "rcleak run: PASS (exit 7: 'sh' exited 7)"),
        (["sh", "-c", "kill -TERM $$"], ["--max-leaked", "0"], 143,
         {"cmd_exit": None, "cmd_signal": 15}, "rcleak run: PASS (exit 143: 'sh' was killed by signal 15)"),
        (["sh", "-c", '"$0" leak "$1" 5 0; exit 3', app, p], ["--max-leaked", "0"], 3,
         {"cmd_exit": 3, "cmd_signal": None, "result": "fail"},
         "rcleak run: FAIL: a threshold was broken (exit 3: 'sh' exited 3)"),
        (["true"], ["--max-leaked", "0", "--max-connects", "0"], 0,
         {"cmd_exit": 0, "cmd_signal": None, "result": "pass"}, "rcleak run: PASS (exit 0)"),
    ]
    for cmd, args, want, fields, last in cases:
        run = Run(["-p", p] + args, cmd)
        try:
            rc = run.wait()
            check(rc == want, "`%s`: exit status %r, expected %r; %s"
                  % (" ".join(cmd), rc, want, run.describe()))
            js = run.load_json()
        finally:
            run.cleanup()
        expect(js, dict(fields, exit_code=want), "--json of `%s`" % " ".join(cmd))
        # the closing line says whose code the exit status is
        lines = run.err().strip().splitlines()
        check(lines and lines[-1] == last, "`%s`: last line %r, expected %r"
              % (" ".join(cmd), lines[-1] if lines else "", last))
        if want == 3:
            expect_rules(js, {"max-leaked": (0, 5, False)})
        if want == 0:
            expect_rules(js, {"max-leaked": (0, 0, True), "max-connects": (0, 0, True)})


_base = {}


def baseline():
    """How long `rcleak run -- true` takes here (BPF load and teardown)."""
    if "t" not in _base:
        run = Run(["-p", str(harness.free_port())], ["true"], json_out=False)
        rc = run.wait()
        check(rc == 0, "`rcleak run -- true` exited %r; %s" % (rc, run.describe()))
        _base["t"] = run.elapsed
    return _base["t"]


def _daemon_run(life, rc_args):
    py = need_py()[0]
    base = baseline()
    r = Redis()
    run = Run(["-p", str(r.port), "--max-leaked", "0"] + rc_args, [py, DAEMON, str(r.port), "5", str(life)])
    try:
        rc = run.wait(timeout=life + 30)
        done = parse_done(run.out(), "forkdaemon")
        d = int(done["daemon"])
        harness._record_pid(d, harness._starttime(d), "daemon")
        alive = os.path.exists("/proc/%d" % d) and harness._starttime(d) is not None
        held = ss_count(d, [r.port]) if alive else 0
        js = run.load_json() if rc != 127 else None
    finally:
        run.cleanup()
    return r, run, rc, done, d, alive, held, js, base


def _check_daemon_open(run, rc, done, d, alive, held, js):
    check(rc == 5, "exit status %r, expected 5 (open_at_end counts for --max-leaked); %s"
          % (rc, run.describe()))
    check(alive and held == 5, "ground truth: the daemon %d should still hold 5 connections "
          "(alive %s, ss %d)" % (d, alive, held))
    row = prow(js, d)
    expect(row, {"comm": "rcl-daemon", "role": "client", "opened": 5, "closed": 0, "leaked": 0,
                 "open_at_end": 5, "exited": False}, "--json daemon %d (%s)" % (d, done))
    expect(js["totals"], {"opened": 5, "closed": 0, "leaked": 0, "open_at_end": 5}, "--json totals")
    expect(js, {"result": "fail", "exit_code": 5, "cmd_exit": 0}, "--json")
    expect_rules(js, {"max-leaked": (0, 5, False)})
    expect_detail_names(js, "max-leaked", d, "rcl-daemon")
    summary_checks(run, d, "rcl-daemon", None, {"max-leaked": "FAIL"})


def test_run_daemon_not_waited():
    """CMD starts a daemon (double fork, setsid) holding 5 connections and
    exits: rcleak returns promptly, the daemon's are open_at_end."""
    r, run, rc, done, d, alive, held, js, base = _daemon_run(30, [])
    check(run.elapsed < base + 2.0, "rcleak returned after %.1fs (`rcleak run -- true`: %.1fs); "
          "expected it not to wait for the daemon" % (run.elapsed, base))
    _check_daemon_open(run, rc, done, d, alive, held, js)


def test_run_daemon_wait_children():
    """--wait-children=2 with a daemon living 30 s: waits about 2 s, no more."""
    r, run, rc, done, d, alive, held, js, base = _daemon_run(30, ["--wait-children=2"])
    check(2.0 <= run.elapsed <= base + 4.0, "rcleak returned after %.1fs with --wait-children=2 "
          "(`rcleak run -- true`: %.1fs); expected 2 s more than that, at most"
          % (run.elapsed, base))
    _check_daemon_open(run, rc, done, d, alive, held, js)


def test_run_daemon_exits_while_waited():
    """--wait-children=20 and a daemon (an orphan) that exits after 1.5 s with
    its 5 connections open: rcleak waits for it and reports them leaked."""
    r, run, rc, done, d, alive, held, js, base = _daemon_run(1.5, ["--wait-children=20"])
    check(rc == 5, "exit status %r, expected 5; %s" % (rc, run.describe()))
    check(not alive, "the daemon %d is still running after rcleak returned" % d)
    check(1.5 <= run.elapsed <= base + 5.0, "rcleak returned after %.1fs; the daemon lived 1.5 s "
          "(`rcleak run -- true`: %.1fs)" % (run.elapsed, base))
    wait_redis_idle(r, "after the daemon exited")
    expect(prow(js, d), {"comm": "rcl-daemon", "opened": 5, "closed": 0, "leaked": 5,
                         "open_at_end": 0, "exited": True, "verdict": "LEAK"},
           "--json daemon %d (%s)" % (d, done))
    expect(js["totals"], {"opened": 5, "closed": 0, "leaked": 5, "open_at_end": 0}, "--json totals")
    expect_rules(js, {"max-leaked": (0, 5, False)})
    summary_checks(run, d, "rcl-daemon", "LEAK", {"max-leaked": "FAIL"})


# ---------------------------------------------------------------------------
# CMD that cannot run, signals, --user, stdio, --junit
# ---------------------------------------------------------------------------
def test_run_cmd_not_found():
    """Not found (path, PATH search) or not executable: 127, one line on stderr."""
    d = mkdtemp("rcleak-run-noexec-")
    noexec = os.path.join(d, "not-executable.sh")
    with open(noexec, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(noexec, 0o644)
    port = str(harness.free_port())
    for cmd in (["/nonexistent/rcl-no-such-cmd", "arg"], ["rcl-no-such-cmd-on-path"], [noexec]):
        run = Run(["-p", port], cmd, json_out=False)
        try:
            rc = run.wait(timeout=20)
        finally:
            run.cleanup()
        err = run.err()
        lines = [l for l in err.splitlines() if l.strip()]
        check(rc == 127, "`rcleak run -- %s`: exit status %r, expected 127; stderr %r"
              % (" ".join(cmd), rc, err[-600:]))
        check(len(lines) == 1 and os.path.basename(cmd[0]) in lines[0],
              "`rcleak run -- %s`: stderr should be one line naming the command, got %r"
              % (" ".join(cmd), err[-600:]))
        check(run.out() == "", "stdout not empty: %r" % run.out()[:300])


def _descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for k in harness.children_of(p):
            try:
                with open("/proc/%d/task/%d/children" % (k, k)):
                    pass
                with open("/proc/%d/comm" % k) as f:
                    out.append((k, f.read().strip()))
            except OSError:
                continue
            todo.append(k)
    return out


def test_run_sigint():
    """SIGINT to rcleak is forwarded to CMD; rcleak exits with CMD's status:
    130 for `sleep` (killed by SIGINT), 3 for a CMD that exits 3 on SIGINT."""
    py = PY if os.access(PY, os.X_OK) else sys.executable
    port = str(harness.free_port())
    trap = ("import signal, sys, time\n"
            "signal.signal(signal.SIGINT, lambda *a: sys.exit(3))\n"
            "print('READY', flush=True)\n"
            "time.sleep(30)\n")
    for cmd, want, fields in ((["sleep", "30"], 130, {"cmd_signal": 2, "cmd_exit": None}),
                              ([py, "-c", trap], 3, {"cmd_exit": 3, "cmd_signal": None})):
        run = Run(["-p", port], cmd)
        try:
            if cmd[0] == "sleep":
                wait_until(lambda: any(c == "sleep" for _p, c in _descendants(run.pid)),
                           timeout=15, what="rcleak to start `sleep 30`")
            else:
                wait_until(lambda: "READY" in run.out(), timeout=15, what="CMD to print READY")
            time.sleep(0.2)
            t = time.monotonic()
            os.kill(run.pid, signal.SIGINT)
            rc = run.wait(timeout=15)
            took = time.monotonic() - t
            left = kill_marked(run.mark)
            check(not left, "processes of CMD still running after rcleak exited: %s" % left)
            check(rc == want, "`%s`: exit status after SIGINT %r, expected %r; %s"
                  % (" ".join(cmd[:2]), rc, want, run.describe()))
            check(took < 5, "rcleak took %.1fs to exit after SIGINT" % took)
            js = run.load_json()
            expect(js, dict(fields, exit_code=want), "--json after SIGINT to `%s`" % cmd[0])
        finally:
            run.cleanup()


def _catches(pid, sig):
    """The kernel's word that pid has a handler for sig (SigCgt in status)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except OSError:
        pass
    return False


def test_run_signal_before_cmd():
    """SIGTERM, SIGINT or SIGHUP to rcleak as soon as it catches it, long
    before its BPF programs are loaded: CMD (which would create a marker
    file first thing) is never started, rcleak unloads, says so in one line,
    writes no --json, and exits 128+N (README, exit codes)."""
    port = str(harness.free_port())
    d = mkdtemp("rcleak-run-early-")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        marker = os.path.join(d, "started-%d" % sig)
        run = Run(["-p", port], ["sh", "-c", 'touch "$0"; exec sleep 30', marker])
        try:
            deadline = time.monotonic() + 15
            while not _catches(run.pid, sig):
                check(run.proc.poll() is None, "rcleak exited (rc %r) before it caught %s; %s"
                      % (run.proc.returncode, sig.name, run.describe()))
                check(time.monotonic() < deadline, "rcleak never caught %s" % sig.name)
                time.sleep(0.001)
            kids = harness.children_of(run.pid)
            check(not kids, "rcleak had started CMD (children %s) by the time it caught %s"
                  % (kids, sig.name))
            os.kill(run.pid, sig)
            rc = run.wait(timeout=20)          # also: none of its rcl_ programs left
            left = kill_marked(run.mark)
        finally:
            run.cleanup()
        lines = [l for l in run.err().splitlines() if l.strip()]
        check(rc == 128 + sig, "%s before CMD started: exit status %r, expected %d; %s"
              % (sig.name, rc, 128 + sig, run.describe()))
        check(not os.path.exists(marker) and not left,
              "%s before CMD started: CMD ran anyway (marker %s, processes %s)"
              % (sig.name, os.path.exists(marker), left))
        check(len(lines) == 1 and lines[0].startswith("rcleak: ") and "not run" in lines[0],
              "%s before CMD started: stderr should be one line saying CMD was not run, got %r"
              % (sig.name, run.err()[-600:]))
        check(not os.path.exists(run.json_path), "%s before CMD started: --json %s written"
              % (sig.name, run.json_path))
        check(run.out() == "", "stdout not empty: %r" % run.out()[:300])


def test_run_json_needs_file():
    """In run mode --json takes FILE: `--`, another option or nothing in its
    place is a usage error (exit 2, one line naming `--json FILE`); no file
    named after that word is written and CMD is not run."""
    d = mkdtemp("rcleak-run-jsonarg-")
    marker = os.path.join(d, "cmd-ran")
    cmd = ["sh", "-c", 'touch "$0"', marker]
    for args in (["--json", "--"] + cmd, ["--json", "-p", "6379", "--"] + cmd, ["--json"]):
        p = spawn([RCLEAK, "run"] + args, "rcleak run " + " ".join(args),
                  stdin=subprocess.DEVNULL, preexec_fn=lambda: os.chdir(d))
        try:
            out, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            stop(p, signal.SIGKILL)
            raise Fail("`rcleak run %s` did not exit" % " ".join(args))
        err = err.decode("utf-8", "replace")
        lines = [l for l in err.splitlines() if l.strip()]
        what = "`rcleak run %s`" % " ".join(args)
        check(p.returncode == 2, "%s: exit status %r, expected 2; stderr %r"
              % (what, p.returncode, err[-400:]))
        check(len(lines) == 1 and lines[0].startswith("rcleak: ") and "--json FILE" in lines[0],
              "%s: expected one line naming `--json FILE`, got %r" % (what, err[-400:]))
        check(sorted(os.listdir(d)) == [], "%s: wrote %s in its working directory"
              % (what, sorted(os.listdir(d))))
        check(out == b"", "%s: stdout %r" % (what, out[:200]))


def test_run_json_cmdline():
    """--json's cmdline of a process that lived 0.25 s, long gone at the
    only refresh after it (-i 2), is the command line it was started with;
    that of a process that came and went while rcleak was stopped (SIGSTOP),
    so that nothing could read it, is null, never ""."""
    app = need_c()[0]
    r = Redis()
    port = str(r.port)
    known = [app, "free", port, "5", "20"]
    run = Run(["-p", port, "-i", "2"], ["sh", "-c", '"$@"; sleep 0.5', "sh"] + known)
    rc, done, js = _finish(run)
    check(rc == 0 and done["opened"] == 5, "rc %r, the program reports %s; %s"
          % (rc, done, run.describe()))
    row = prow(js, done["pid"])
    check(row["cmdline"] == " ".join(known), "--json cmdline of pid %d (ran %ss): %r, expected %r"
          % (done["pid"], done["elapsed"], row["cmdline"], " ".join(known)))

    d = mkdtemp("rcleak-run-cmdline-")
    go, fin = os.path.join(d, "go"), os.path.join(d, "done")
    script = 'while [ ! -e "$0" ]; do sleep 0.02; done; "$1" free "$2" 2 0; touch "$3"; sleep 0.5'
    run = Run(["-p", port], ["sh", "-c", script, go, app, port, fin])
    stopped = False
    try:
        wait_until(lambda: harness.children_of(run.pid), timeout=15, what="rcleak to start CMD")
        os.kill(run.pid, signal.SIGSTOP)
        stopped = True
        with open(go, "w"):
            pass
        wait_until(lambda: os.path.exists(fin), timeout=15, what="the program to finish")
        os.kill(run.pid, signal.SIGCONT)
        stopped = False
        rc = run.wait()
        done = parse_done(run.out())
        js = run.load_json()
    finally:
        if stopped:
            os.kill(run.pid, signal.SIGCONT)
        run.cleanup()
    check(rc == 0 and done["opened"] == 2, "rc %r, the program reports %s; %s"
          % (rc, done, run.describe()))
    row = prow(js, done["pid"])
    expect(row, {"comm": done["comm"], "opened": 2, "exited": True, "cmdline": None},
           "--json row of pid %d, which exited while rcleak was stopped" % done["pid"])
    empty = [(p["pid"], p["comm"]) for p in js["processes"] if p.get("cmdline") == ""]
    check(not empty, "--json cmdline \"\" for %s: unknown is null" % empty)


def test_run_user():
    """--user nobody: CMD runs as uid 65534 and is traced; without --user,
    SUDO_USER (rcleak run under sudo) is the default."""
    app = need_c()[0]
    r = Redis()
    before = total_connections(r)
    cmd = ["sh", "-c", 'id -u; exec "$0" leak "$1" 10 0', app, str(r.port)]
    run = Run(["-p", str(r.port), "--user", "nobody", "--max-leaked", "0"], cmd)
    try:
        rc = run.wait()
        out = run.out()
        check(rc == 5, "exit status %r, expected 5; stdout %r; %s" % (rc, out[-300:], run.describe()))
        check(out.splitlines()[:1] == ["65534"], "CMD's `id -u` printed %r, expected 65534"
              % out[:200])
        done = parse_done(out)
        js = run.load_json()
    finally:
        run.cleanup()
    check(redis_delta(r, before) == 10, "ground truth: Redis accepted != 10")
    expect(prow(js, done["pid"]), {"comm": done["comm"], "opened": 10, "leaked": 10,
                                   "verdict": "LEAK", "exited": True},
           "--json process of the program run as nobody (%s)" % done)
    expect(js["totals"], {"opened": 10, "leaked": 10, "open_at_end": 0, "closed": 0}, "--json totals")

    env = dict(os.environ, SUDO_USER="nobody", SUDO_UID="65534", SUDO_GID="65534")
    run = Run(["-p", str(r.port)], ["id", "-u"], env=env)
    try:
        rc = run.wait()
    finally:
        run.cleanup()
    check(rc == 0 and run.out().strip() == "65534",
          "with SUDO_USER=nobody and no --user: rc %r, `id -u` printed %r, expected 65534; %s"
          % (rc, run.out()[:200], run.describe()))


def test_run_stdio_passthrough():
    """stdin, stdout, stderr are CMD's, untouched (files, no TTY); rcleak
    writes nothing on stdout and its summary after CMD's stderr."""
    blob = bytes(range(256)) * 64
    stdin = b"in-line-1\nin-line-2\n" + blob
    cmd = ["sh", "-c", 'printf "out-1\\n"; printf "err-1\\n" >&2; cat; printf "out-2\\n"']
    run = Run(["-p", str(harness.free_port())], cmd, stdin_data=stdin)
    try:
        rc = run.wait()
    finally:
        run.cleanup()
    check(rc == 0, "exit status %r; %s" % (rc, run.describe()))
    with open(run.out_path, "rb") as f:
        got = f.read()
    want = b"out-1\n" + stdin + b"out-2\n"
    check(got == want, "stdout is not CMD's output byte for byte: %d bytes, expected %d; head %r"
          % (len(got), len(want), got[:80]))
    err = run.err()
    check(err.startswith("err-1\n"), "stderr should start with CMD's own line: %r" % err[:200])
    check(len(err.strip().splitlines()) > 1, "no summary after CMD's stderr: %r" % err[:400])
    with open(run.json_path) as f:
        js = json.load(f)
    check(js.get("cmd") == cmd and js.get("exit_code") == 0, "--json: %r" % js)

    # rcleak got fds 0-2 only: CMD must not inherit anything else (a BPF fd
    # kept by a daemon would keep rcleak's programs loaded after it exits)
    py = PY if os.access(PY, os.X_OK) else sys.executable
    lister = ("import os\n"
              "d = os.open('/proc/self/fd', os.O_RDONLY | os.O_DIRECTORY)\n"
              "out = []\n"
              "for fd in sorted(int(x) for x in os.listdir(d)):\n"
              "    if fd != d:\n"
              "        try: out.append('%d=%s' % (fd, os.readlink('/proc/self/fd/%d' % fd)))\n"
              "        except OSError: pass\n"
              "print('FDS', ' '.join(out))\n")
    run = Run(["-p", str(harness.free_port())], [py, "-c", lister])
    try:
        rc = run.wait()
    finally:
        run.cleanup()
    fds = [l for l in run.out().splitlines() if l.startswith("FDS")]
    check(rc == 0 and fds, "fd lister: rc %r, stdout %r; %s" % (rc, run.out()[:300], run.describe()))
    extra = [f for f in fds[0].split()[1:] if int(f.split("=")[0]) > 2]
    check(not extra, "CMD inherited fds beyond 0-2 from rcleak: %s" % extra)


def test_run_junit():
    """--junit: valid XML, one testcase per rule; broken -> failure with a
    message, met -> neither, unset -> skipped."""
    app = need_c()[0]
    r = Redis()
    args = ["-p", str(r.port), "--max-leaked", "0", "--max-open", "10", "--max-connects", "3"]
    for cmd, want_rc, failed, met in (
            ([app, "leak", str(r.port), "5", "0"], 5, {"max-leaked", "max-connects"}, {"max-open"}),
            (["true"], 0, set(), {"max-leaked", "max-open", "max-connects"})):
        run = Run(args, cmd, junit=True)
        try:
            rc = run.wait()
        finally:
            run.cleanup()
        check(rc == want_rc, "exit status %r, expected %r; %s" % (rc, want_rc, run.describe()))
        check(os.path.isfile(run.junit_path), "--junit file not written")
        try:
            root = ET.parse(run.junit_path).getroot()
        except ET.ParseError as e:
            raise Fail("--junit file is not valid XML: %s: %r" % (e, open(run.junit_path).read()[:500]))
        cases = list(root.iter("testcase"))
        names = [c.get("name") for c in cases]
        check(sorted(names) == sorted(RULES), "--junit testcases %s, expected one per rule %s"
              % (names, list(RULES)))
        for c in cases:
            n = c.get("name")
            fl, sk = c.findall("failure"), c.findall("skipped")
            if n in failed:
                check(len(fl) == 1 and (fl[0].get("message") or "").strip() and not sk,
                      "--junit testcase %s: expected one <failure message=...>, got %s"
                      % (n, ET.tostring(c)[:300]))
            elif n in met:
                check(not fl and not sk, "--junit testcase %s (met): %s" % (n, ET.tostring(c)[:300]))
            else:
                check(len(sk) == 1 and not fl, "--junit testcase %s (not set): expected <skipped/>, "
                      "got %s" % (n, ET.tostring(c)[:300]))
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        check(suites, "--junit: no <testsuite> (root %s)" % root.tag)
        for s in suites:
            for attr, val in (("tests", len(RULES)), ("failures", len(failed))):
                if s.get(attr) is not None:
                    check(int(s.get(attr)) == val, "--junit <testsuite %s=%s>, expected %d"
                          % (attr, s.get(attr), val))


if __name__ == "__main__":
    import runner
    runner.MODULES = ["test_run"]
    sys.exit(runner.main(sys.argv[1:]))
