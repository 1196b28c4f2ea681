"""`rcleak run`'s summary where a CMD's names and counts are unusual: a comm
cut inside a UTF-8 character in --junit, connections closed by a process
other than their opener in the totals, thresholds too large for %g.  The
reference is what the CMD does by construction (and ss while it runs).

Run alone:  python3 tests/integration/runner.py -k run_summary
"""
import os
import re
import xml.etree.ElementTree as ET

from harness import Fail, Redis, Skip, check, free_port, mkdtemp, ss_sockets, total_connections
from run_harness import Run, expect, need_node, parse_done, prow, redis_delta, rule

TESTS = ["test_run_summary_junit_utf8", "test_run_summary_fork_closes", "test_run_summary_big_threshold",
         "test_run_summary_shared_at_end", "test_run_summary_fork_leak_named",
         "test_run_summary_junit_nonchar", "test_run_summary_lost_events",
         "test_run_summary_threshold_as_given", "test_run_summary_wrong_port",
         "test_run_summary_quit_not_close_wait", "test_run_summary_blame_all"]

# opens N connections to the port in argv[1] and exits holding them (os._exit:
# no interpreter shutdown that would close them)
LEAK = """import os, socket, sys
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(%d)]
for s in socks:
    s.sendall(b"PING\\r\\n"); s.recv(16)
os._exit(0)
"""


def _script(d, name, body):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("#!%s\n" % os.path.realpath(os.sys.executable) + body)
    os.chmod(path, 0o755)
    os.chmod(d, 0o755)
    return path


def _junit_leak_failures(name, n):
    """A script named name leaks n connections under --max-leaked 0 with
    --junit: exit 5, and the file is XML a parser takes; its failure
    messages."""
    r = Redis()
    d = mkdtemp("rcl-run-junit")
    path = _script(d, name, LEAK % n)
    run = Run(["-p", str(r.port), "--max-leaked", "0"], [path, str(r.port)], junit=True)
    try:
        rc = run.wait()
    finally:
        run.cleanup()
    check(rc == 5, "exit status %r, expected 5 (%d leaked); %s" % (rc, n, run.describe()))
    try:
        root = ET.parse(run.junit_path).getroot()
    except ET.ParseError as e:
        raise Fail("--junit file is not XML: %s: %r" % (e, open(run.junit_path, "rb").read()[:600]))
    return [f.get("message") or "" for f in root.iter("failure")]


def test_run_summary_junit_utf8():
    """A script named 'проверка_redis' (its comm: 15 bytes, cut inside a
    Cyrillic letter) leaks 2 connections under --max-leaked 0: the --junit
    file is still XML a parser takes (a stray byte made it unreadable), and
    the failure names the process, the cut byte as U+00D0."""
    msgs = _junit_leak_failures("проверка_redis", 2)
    want = "проверк\u00d0"
    check(any(want in m for m in msgs), "--junit failures %r do not name %r (the comm as the kernel cut it)"
          % (msgs, want))


def test_run_summary_fork_closes():
    """CMD opens 3 connections and forks; the parent drops its copies, the
    child closes the sockets: the totals say 3 opened and 3 closed, nothing
    leaked or open at the end (the closer's row was left out, and the totals
    read opened 3, closed 0)."""
    r = Redis()
    d = mkdtemp("rcl-run-fork")
    path = _script(d, "forkclose.py", """import os, socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(3)]
for s in socks:
    s.sendall(b"PING\\r\\n"); s.recv(16)
pid = os.fork()
if pid == 0:
    time.sleep(0.5)            # the parent has let go of its copies by then
    for s in socks:
        s.close()
    os._exit(0)
for s in socks:
    os.close(s.detach())       # the parent's fds only: the child's hold the sockets
os.waitpid(pid, 0)
""")
    run = Run(["-p", str(r.port)], [path, str(r.port)])
    try:
        rc = run.wait()
    finally:
        run.cleanup()
    check(rc == 0, "exit status %r; %s" % (rc, run.describe()))
    t = run.load_json()["totals"]
    check(t.get("opened") == 3 and t.get("closed") == 3 and t.get("leaked") == 0 and t.get("open_at_end") == 0,
          "totals %r, expected opened 3, closed 3, leaked 0, open at end 0" % t)


def test_run_summary_big_threshold():
    """--max-connects 1234567 and --max-churn 2.5 print as given in the
    summary's rules, not as 1.23457e+06."""
    r = Redis()
    run = Run(["-p", str(r.port), "--max-connects", "1234567", "--max-churn", "2.5"], ["true"])
    try:
        rc = run.wait()
    finally:
        run.cleanup()
    err = run.err()
    check(rc == 0, "exit status %r; %s" % (rc, run.describe()))
    check("<= 1234567)" in err and "<= 2.50)" in err and "e+06" not in err,
          "the summary's thresholds: %r" % [l for l in err.splitlines() if "rule" in l])


def test_run_summary_shared_at_end():
    """CMD opens 2 connections, forks a child that forks a grandchild (both
    keep the 2 sockets, as a fork does), lets go of its copies and exits:
    2 connections are open at the end (ss: 2 sockets, each held by both
    processes), not 4. Each holder counted them, and --max-leaked 2 failed
    with value 4; the lower pid counts them now."""
    r = Redis()
    d = mkdtemp("rcl-run-shared")
    path = _script(d, "sharedend.py", """import os, socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(2)]
for s in socks:
    s.sendall(b"PING\\r\\n"); s.recv(16)
r, w = os.pipe()
if os.fork() == 0:
    os.close(r)
    if os.fork() == 0:
        os.write(w, b"%d\\n" % os.getpid())
        time.sleep(30); os._exit(0)
    os.write(w, b"%d\\n" % os.getpid())
    os.close(w)
    time.sleep(30); os._exit(0)
os.close(w)
pids = b""
while pids.count(b"\\n") < 2:
    pids += os.read(r, 64)
for s in socks:
    os.close(s.detach())
print("HOLDERS", pids.decode().replace("\\n", " "), flush=True)
os._exit(0)
""")
    run = Run(["-p", str(r.port), "--max-leaked", "2"], [path, str(r.port)])
    try:
        rc = run.wait()
        holders = set()
        for line in run.out().splitlines():
            if line.startswith("HOLDERS"):
                holders = {int(x) for x in line.split()[1:]}
        socks = [h for _st, _l, _p, h in ss_sockets([r.port]) if holders & set(h)]
        check(len(holders) == 2 and len(socks) == 2 and all(holders <= set(h) for h in socks),
              "ground truth: 2 sockets, each held by both of %s; ss: %r" % (holders, socks))
    finally:
        run.cleanup()
    js = run.load_json()
    t = js["totals"]
    check(t.get("opened") == 2 and t.get("leaked") == 0 and t.get("open_at_end") == 2,
          "totals %r, expected opened 2, leaked 0, open at end 2 (each socket once)" % t)
    check(rc == 0, "exit status %r, expected 0 (2 open at end, --max-leaked 2); %s" % (rc, run.describe()))
    ends = sorted((p["pid"], p["open_at_end"]) for p in js["processes"] if p["pid"] in holders)
    check([n for _pid, n in ends] == [2, 0], "open_at_end of the holders %r, expected the lower pid 2, "
          "the other 0" % ends)


def test_run_summary_fork_leak_named():
    """CMD opens a connection, forks, drops its copy and exits at once; the
    child exits with it open after 0.3 s, before any walk (-i 5) saw it: the
    leak is the child's, and its row and the rule's detail name it (they
    read "pid N ()": the child never connected, so nothing had its name)."""
    r = Redis()
    d = mkdtemp("rcl-run-forkname")
    path = _script(d, "forkleak.py", """import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PING\\r\\n"); s.recv(16)
pid = os.fork()
if pid == 0:
    time.sleep(0.3)
    os._exit(0)
os.close(s.detach())
os.waitpid(pid, 0)
os._exit(0)
""")
    run = Run(["-p", str(r.port), "-i", "5", "--max-leaked", "0"], [path, str(r.port)])
    try:
        rc = run.wait()
    finally:
        run.cleanup()
    check(rc == 5, "exit status %r, expected 5 (1 leaked); %s" % (rc, run.describe()))
    js = run.load_json()
    rows = [(p["pid"], p["comm"], p["leaked"]) for p in js["processes"] if p["leaked"]]
    check(len(rows) == 1 and rows[0][1] == "forkleak.py", "rows with leaks %r, expected one, "
          "named forkleak.py" % rows)
    det = [x["detail"] for x in js["rules"] if x["name"] == "max-leaked"]
    check(det == ["pid %d (forkleak.py): 1" % rows[0][0]], "max-leaked detail %r" % det)


def test_run_summary_junit_nonchar():
    """A script named 'rcl\ufffe_x' leaks under --max-leaked 0: its comm holds
    EF BF BE, well-formed UTF-8 for U+FFFE, which XML does not allow: the
    --junit file was unreadable to a parser. The bytes go as U+00EF U+00BF
    U+00BE, as those of any name that is not text."""
    msgs = _junit_leak_failures("rcl\ufffe_x", 1)
    want = "rcl\u00ef\u00bf\u00be_x"
    check(any(want in m for m in msgs), "--junit failures %r do not name %r" % (msgs, want))


# FORKS processes, at most PAR at once, each connecting once to 127.0.0.1:PORT
# and closing with a RST (no TIME_WAIT: 38,000 of those would use up the
# ephemeral ports); prints how many connects succeeded
FORKER = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int port = atoi(argv[1]), par = atoi(argv[3]);
	long n = atol(argv[2]), started = 0, running = 0, ok = 0;

	while (started < n || running) {
		while (running < par && started < n) {
			pid_t p = fork();

			if (p == 0) {
				struct sockaddr_in a;
				struct linger l = { 1, 0 };
				int fd = socket(AF_INET, SOCK_STREAM, 0);

				memset(&a, 0, sizeof(a));
				a.sin_family = AF_INET;
				a.sin_port = htons(port);
				a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
				if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
					_exit(1);
				setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
				close(fd);
				_exit(0);
			}
			if (p < 0)
				break;
			started++;
			running++;
		}
		int st;
		if (wait(&st) > 0) {
			running--;
			ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
		} else if (started < n) {
			break;
		}
	}
	printf("DONE forks=%ld ok=%ld\n", started, ok);
	return 0;
}
"""


def test_run_summary_lost_events():
    """A tree of 38,000 processes that each connect once: more than the BPF
    process table holds (32768 + its 2048 slots) while run keeps every
    exited process to the summary, so some connects are counted nowhere. The
    summary said nothing of it: totals short of what the tree did, and PASS.
    Now the counts are whole, or the loss is in the text and in --json's
    lost_events."""
    import shutil
    import subprocess
    import run_harness
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise Skip("no C compiler")
    src = os.path.join(run_harness._build_dir(), "forker.c")
    exe = os.path.join(run_harness._build_dir(), "forker")
    with open(src, "w") as f:
        f.write(FORKER)
    b = subprocess.run([cc, "-O2", "-o", exe, src], capture_output=True, text=True, timeout=120)
    check(b.returncode == 0, "building the forker failed: %s" % b.stderr[-400:])
    r = Redis()
    n = 38000
    run = Run(["-p", str(r.port)], [exe, str(r.port), str(n), "4"])
    try:
        rc = run.wait(timeout=300)
        js = run.load_json()
    finally:
        run.cleanup()
    out = run.out()
    check(rc == 0 and "DONE forks=%d " % n in out, "forker: rc %r, stdout %r; %s"
          % (rc, out[-200:], run.describe()))
    ok = int(out.split("ok=")[1].split()[0])
    check(ok > 34816, "ground truth: only %d of %d connects succeeded" % (ok, n))
    opened = js["totals"]["opened"]
    check(opened <= ok, "--json totals.opened %d, but the tree made %d connections" % (opened, ok))
    if opened < ok:
        lost = js.get("lost_events")
        check(isinstance(lost, int) and lost > 0,
              "--json totals.opened %d of %d connections the tree made, and lost_events=%r"
              % (opened, ok, lost))
        err = run.err()
        check("lost events: %d " % lost in err,
              "the summary counts %d of %d connections and does not say events were lost: %r"
              % (opened, ok, err[-600:]))


def test_run_summary_threshold_as_given():
    """--max-churn 2.345 and 0.004 are in the text and in --json as given:
    they read 2.35 and 0.00 (rounded to the hundredth), so --json's
    threshold was not the one set, and "value 0.20 (<= 0.00)" failed a
    threshold that looked like 0. A round one still prints as before."""
    r = Redis()
    for given, shown in (("2.345", "2.345"), ("0.004", "0.004"), ("2.5", "2.50")):
        run = Run(["-p", str(r.port), "--max-churn", given], ["true"])
        try:
            rc = run.wait()
            js = run.load_json()
        finally:
            run.cleanup()
        churn = [x for x in js["rules"] if x["name"] == "max-churn"][0]
        line = [l for l in run.err().splitlines() if "rule max-churn" in l]
        check(rc == 0 and churn["threshold"] == float(given),
              "--max-churn %s: --json threshold %r; %s" % (given, churn["threshold"], run.describe()))
        check(line and line[0].endswith("(<= %s)" % shown),
              "--max-churn %s: the summary's rule line %r, expected it to end '(<= %s)'"
              % (given, line, shown))


def test_run_summary_wrong_port():
    """A CI gate given the wrong port (-p 6379's default, the Redis on
    another): CMD leaks 2 connections to the Redis it uses, which Redis
    counts (INFO stats), and the run passes, its summary saying "0
    processes used watched ports" and no more. It passes still (CMD may
    use no Redis), and now says that nothing was judged, which ports it
    watched and to give CMD's port with -p. With the right port the line
    is not there (and the run fails on the leak)."""
    r = Redis()
    d = mkdtemp("rcl-run-port")
    path = _script(d, "leaky", LEAK % 2)
    other = free_port()
    said = "no process of the run connected to or listened on port %d: nothing was judged" % other
    for port, want_rc, want_said in ((other, 0, True), (r.port, 5, False)):
        before = total_connections(r)
        run = Run(["-p", str(port), "--max-leaked", "0"], [path, str(r.port)])
        try:
            rc = run.wait()
        finally:
            run.cleanup()
        made = redis_delta(r, before)
        check(made == 2, "ground truth: Redis accepted %d connections from the script, expected 2" % made)
        err = run.err()
        check(rc == want_rc and (said in err) == want_said and (not want_said or "give it with -p" in err),
              "-p %d (the script's Redis on %d): exit %r, expected %d; the summary %s say %r; %s"
              % (port, r.port, rc, want_rc, "should" if want_said else "should not", said, run.describe()))


def test_run_summary_quit_not_close_wait():
    """ioredis closes a connection with quit(): Redis answers and closes its
    end first, so the client's end is in CLOSE_WAIT for the moment ioredis
    takes to close it. 2000 clients, each quit() and its close awaited (the
    program counts 2000 opened, 2000 closed; Redis accepted 2000). A refresh
    that came in such a moment (-i 0.05 makes it certain) counted it: verdict
    ZOMBIE and --fail-on-close-wait failed (exit 5) a program that closed
    every connection at once. A connection counts when it sat in CLOSE_WAIT
    for --zombie (1 s in run mode)."""
    node = need_node()
    r = Redis()
    before = total_connections(r)
    run = Run(["-p", str(r.port), "-i", "0.05", "--fail-on-close-wait", "--max-leaked", "0"],
              node + ["quit", str(r.port), "2000", "0"])
    try:
        rc = run.wait(timeout=90)
        done = parse_done(run.out(), "ioredis_app quit")
        js = run.load_json()
    finally:
        run.cleanup()
    accepted = redis_delta(r, before)
    check(done["opened"] == done["closed"] == accepted == 2000,
          "ground truth: the program reports %s, Redis accepted %d" % (done, accepted))
    row = prow(js, done["pid"])
    expect(row, {"opened": 2000, "closed": 2000, "leaked": 0, "close_wait_max": 0},
           "--json process %d (ioredis, quit())" % done["pid"])
    check(row["verdict"] != "ZOMBIE", "verdict ZOMBIE for a program that closed every connection "
          "at once: %r" % row)
    check(rule(js, "close-wait")["passed"] and rc == 0,
          "exit status %r, rule close-wait %r; expected a pass; %s"
          % (rc, rule(js, "close-wait"), run.describe()))


def test_run_summary_blame_all():
    """20 processes (xargs -P 4) each leak one connection under --max-leaked
    0: the rule's value is 20 (Redis accepted 20), and its detail, in the
    text, --json and --junit alike, named 7 of them and no more: a reader
    summing it found 7 where the value said 20. It names those it has room
    for and says how many more there are."""
    r = Redis()
    d = mkdtemp("rcl-run-blame")
    path = _script(d, "rcl-leaker-one", LEAK % 1)
    before = total_connections(r)
    run = Run(["-p", str(r.port), "--max-leaked", "0"],
              ["sh", "-c", 'seq 20 | xargs -P 4 -I{} "$0" "$1"', path, str(r.port)], junit=True)
    try:
        rc = run.wait()
        js = run.load_json()
    finally:
        run.cleanup()
    made = redis_delta(r, before)
    check(made == 20 and rc == 5, "ground truth: Redis accepted %d connections (expected 20); exit %r, "
          "expected 5; %s" % (made, rc, run.describe()))
    leaked = rule(js, "max-leaked")
    check(leaked["value"] == 20, "rule max-leaked value %r, expected 20" % leaked["value"])
    root = ET.parse(run.junit_path).getroot()
    junit = [f.get("message") or "" for f in root.iter("failure")]
    text = [l for l in run.err().splitlines() if "rule max-leaked" in l]
    for where, detail in (("--json", leaked["detail"]), ("--junit", " ".join(junit)),
                          ("the summary", " ".join(text))):
        named = len(re.findall(r"pid \d+ \(rcl-leaker-one\): 1", detail))
        m = re.search(r"and (\d+) more", detail)
        more = int(m.group(1)) if m else 0
        check(named + more == 20, "%s: max-leaked's detail names %d processes and %d more, expected 20 "
              "in all: %r" % (where, named, more, detail))
