"""Helpers of the `rcleak run -- CMD` tests (test_run*.py).

The client programs under tests/clients/ (redis-py, ioredis, hiredis), each
printing one "DONE ... pid=P comm=C opened=N closed=M open=O" line: what the
library itself did (need_py, need_node, need_c, parse_done); Redis's own
counters (redis_delta, wait_redis_idle, over harness's total_connections); and one
`rcleak run` (class Run) with the checks of its --json, the rules and the
stderr summary.

Needs: /usr/bin/python3 with python3-redis, node + npm (ioredis is installed
into tests/clients/node/node_modules by `npm ci` on first use), cc + libhiredis-dev.
A test whose client library is missing is skipped, not failed.
"""
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import termios
import threading
import time
import atexit

import harness
from harness import (RCLEAK, Fail, Skip, check, have_bpftool, leaked_progs, mkdtemp, rcl_progs,
                     spawn, stop, total_connections, wait_until)

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
def _cmd_user(args, env):
    """(uid, gid) of the user CMD runs as under `rcleak run ARGS` with
    environment env (--user, else SUDO_USER, DOAS_USER, PKEXEC_UID), or
    None for root."""
    import pwd
    args = list(args)
    name = None
    for i, a in enumerate(args):
        if a == "--":
            break
        if a == "--user" and i + 1 < len(args):
            name = args[i + 1]
        elif a.startswith("--user="):
            name = a[len("--user="):]
    if name is None and os.geteuid() == 0:
        name = env.get("SUDO_USER") or env.get("DOAS_USER") or env.get("PKEXEC_UID") or None
    if name is None or name == "root":
        return None
    try:
        pw = pwd.getpwnam(name)
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        pass
    if name.isdigit():
        try:
            pw = pwd.getpwuid(int(name))
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            return int(name), 65534
    return None


class Run:
    """One `rcleak run [args] -- cmd`, stdin/stdout/stderr on files (no TTY).

    ignore: signals set to SIG_IGN when rcleak starts (as nohup does), the
    others are SIG_DFL.  tty=True: stdin, stdout and stderr on a new
    pseudo-terminal instead, rcleak's controlling terminal with rcleak's
    process group in the foreground (as under a shell); out() is what
    the terminal showed, stdout and stderr mixed, err() empty; ctrl_c()
    types ^C on it."""

    _seq = 0

    def __init__(self, args, cmd, stdin_data=None, env=None, json_out=True, junit=False,
                 ignore=(), tty=False):
        Run._seq += 1
        self.dir = mkdtemp("rcleak-run-")
        os.chmod(self.dir, 0o755)
        owner = _cmd_user(args, os.environ if env is None else env)
        if owner:               # rcleak writes --json/--junit FILE as CMD's user
            os.chown(self.dir, *owner)
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
                signal.signal(sig, signal.SIG_IGN if sig in ignore else signal.SIG_DFL)
            if tty:     # spawn made us a session leader: take the terminal
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")
        e = dict(os.environ if env is None else env)
        e["RCLEAK_RUN_TEST_MARK"] = self.mark        # to find CMD's leftovers
        stdin = subprocess.DEVNULL
        self.tty = None
        if tty:
            self.tty, slave = os.openpty()
            stdin = slave
        elif stdin_data is not None:
            inp = os.path.join(self.dir, "stdin")
            with open(inp, "wb") as f:
                f.write(stdin_data)
            stdin = open(inp, "rb")
        with open(self.out_path, "wb") as fo, open(self.err_path, "wb") as fe:
            self.t0 = time.monotonic()
            self.proc = spawn(argv, "rcleak run", stdin=stdin, stdout=slave if tty else fo,
                              stderr=slave if tty else fe, env=e, preexec_fn=dfl_signals)
        if tty:
            os.close(slave)
            threading.Thread(target=self._copy_tty, daemon=True).start()
        elif stdin is not subprocess.DEVNULL:
            stdin.close()
        self.pid = self.proc.pid
        self.rc = None
        self.elapsed = None
        self.js = None

    def _copy_tty(self):
        # drain the terminal (rcleak would block on a full one) into out()
        with open(self.out_path, "ab") as f:
            while True:
                try:
                    data = os.read(self.tty, 4096)
                except OSError:         # EIO: no process has the terminal open
                    data = b""
                if not data:
                    break
                f.write(data)
                f.flush()
        os.close(self.tty)

    def ctrl_c(self):
        os.write(self.tty, b"\x03")

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
                 ("cmd_signal", (int, type(None))), ("duration_s", NUM), ("lost_events", int),
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


def _finish(run):
    """Wait for run; its exit status, CMD's DONE line and its --json."""
    try:
        rc = run.wait()
        return rc, parse_done(run.out()), run.load_json()
    finally:
        run.cleanup()


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


def run_to_end(args, timeout, **kw):
    """`rcleak run ARGS` to its end: (exit status, stdout, stderr, stderr's
    non-empty lines)."""
    p = spawn([RCLEAK, "run"] + args, "rcleak run " + " ".join(args), stdin=subprocess.DEVNULL, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("`rcleak run %s` did not exit" % " ".join(args))
    err = err.decode("utf-8", "replace")
    return p.returncode, out, err, [l for l in err.splitlines() if l.strip()]
