"""Runs of the lifecycle program the kernel skips, and `rcleak record`'s twin.

On kernels that guard tp_btf and raw_tp programs against recursion (6.18
here), a state change in a softirq that interrupts the lifecycle program on
the same CPU skips it. Loopback packets are normally processed right after
the send, outside any BPF run; Receive Packet Steering on the loopback
device of a namespace the test creates moves them to the other CPU, whose
softirq then interrupts whatever runs there. A connect/close storm in that
namespace makes the kernel skip hundreds of runs (bpftool's
recursion_misses), most of them passive opens and handshakes finishing in
softirq. The capture is compared with the namespace's own TCP counters
(/proc/net/snmp ActiveOpens, PassiveOpens), not with rcleak.

Without the twin about 60 % of the skipped runs are accepts or handshakes
missing from the capture; with it 0.4-14 % (bpf/rcleak.bpf.c,
"runs the kernel skipped").

Some kernels (6.18-fc here) also deliver a state change to no program on
the hook in bursts and count no skip for it (tools/bench/hookloss.sh):
nothing on the hook can see those. An independent counter on the same hook
(build/hookfloor --count) measures them during the storm, and the checks
hold rcleak to what was delivered.

Run alone:  python3 tests/integration/runner.py -k skipped
"""
import csv
import io
import json
import os
import re
import signal
import subprocess
import time

from harness import (RCLEAK, ROOT, Fail, Lines, NetNS, Redis, Skip, bpf_fd_ids, check, mkdtemp,
                     rcl_progs, spawn, stop)

TESTS = ["test_record_skipped_runs"]

CONNSTORM = os.environ.get("RCLEAK_TEST_CONNSTORM") or os.path.join(ROOT, "build", "connstorm")
HOOKFLOOR = os.environ.get("RCLEAK_TEST_HOOKFLOOR") or os.path.join(ROOT, "build", "hookfloor")
STORM_S = 4          # seconds of storm: several hundred skips here
STORM_PROCS = 2      # one per CPU of the CI machine
MIN_SKIPS = 50       # fewer, and the ratio below says nothing
MAX_LOST_SHARE = 0.25  # of the skipped runs, lost from the capture (without the twin: ~0.6)


def enable_rps(ns):
    """Steer the namespace's loopback receive processing to every CPU."""
    ncpu = os.cpu_count() or 1
    if ncpu < 2:
        raise Skip("RPS needs two CPUs to move softirqs between; this machine has %d" % ncpu)
    mask = "%x" % ((1 << min(ncpu, 32)) - 1)
    # /sys/class/net shows the namespace of whoever mounted sysfs: mount one
    # in a private mount namespace entered with the network namespace
    script = ("mount -t sysfs sysfs /sys && f=/sys/class/net/lo/queues/rx-0/rps_cpus && "
              "{ [ -e $f ] || { echo no-rps; exit 3; }; } && echo %s > $f && cat $f" % mask)
    r = subprocess.run(ns.prefix + ["unshare", "--mount", "--", "sh", "-c", script],
                       capture_output=True, text=True, timeout=20)
    if r.returncode == 3:
        raise Skip("this kernel has no Receive Packet Steering (CONFIG_RPS): nothing makes it skip runs")
    check(r.returncode == 0, "enabling RPS on the namespace's lo failed: %s" % r.stderr.strip())


def recursion_misses(rcleak_pid):
    """{program name: recursion_misses} of the rcl_ programs rcleak holds."""
    mine = bpf_fd_ids(rcleak_pid, "prog_id") & set(rcl_progs())
    res = {}
    for prog_id in mine:
        r = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(prog_id)],
                           capture_output=True, text=True, timeout=20)
        if r.returncode == 0:
            info = json.loads(r.stdout)
            res[info.get("name", "")] = info.get("recursion_misses", 0)
    return res


def tcp_opens(ns):
    """(TcpActiveOpens, TcpPassiveOpens) of the namespace, from /proc/net/snmp."""
    r = subprocess.run(ns.prefix + ["cat", "/proc/net/snmp"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, "reading the namespace's /proc/net/snmp: %s" % r.stderr.strip())
    tcp = [line.split() for line in r.stdout.splitlines() if line.startswith("Tcp:")]
    check(len(tcp) == 2, "no Tcp lines in /proc/net/snmp: %r" % r.stdout[:300])
    row = dict(zip(tcp[0][1:], tcp[1][1:]))
    return int(row["ActiveOpens"]), int(row["PassiveOpens"])


def start_counter():
    """build/hookfloor --count attached (after rcleak's programs), or None
    when it cannot attach (no tp_btf: then nothing is discounted)."""
    if not os.access(HOOKFLOOR, os.X_OK):
        raise Fail("%s is missing: `make test` builds it (make build/hookfloor)" % HOOKFLOOR)
    p = spawn([HOOKFLOOR, "--count"], "hookfloor --count", stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if p.poll() is not None:
            return None
        if bpf_fd_ids(p.pid, "prog_id"):
            return p
        time.sleep(0.05)
    stop(p)
    raise Fail("hookfloor --count did not attach within 20 s")


def stop_counter(p):
    """{"handshakes", "accepts", "skipped"} the counter saw, or None."""
    if p is None:
        return None
    p.send_signal(signal.SIGINT)
    try:
        out, _ = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise Fail("hookfloor --count did not exit within 20 s of SIGINT")
    w = out.decode().split()
    check(len(w) == 6 and p.returncode == 0,
          "hookfloor --count printed %r, exit %s" % (out[-200:], p.returncode))
    return dict(zip(w[0::2], map(int, w[1::2])))


def test_record_skipped_runs():
    """Under a storm that makes the kernel skip the lifecycle program, the
    capture still holds nearly every passive open and handshake, and what it
    lacks is within the lost count record reports."""
    if not os.access(CONNSTORM, os.X_OK):
        raise Fail("%s is missing: `make test` builds it (make build/connstorm)" % CONNSTORM)
    ns = NetNS()
    enable_rps(ns)
    r = Redis(netns=ns, bind=("127.0.0.1",))
    d = mkdtemp("rcl-skips")
    path = os.path.join(d, "storm.rcl")
    errpath = os.path.join(d, "record.err")
    with open(errpath, "wb") as errf:
        rec = spawn([RCLEAK, "record", "-v", "-w", path, "-p", str(r.port), "-i", "0.5", "--json"],
                    "rcleak record", stdin=subprocess.DEVNULL, stderr=errf)
    out = Lines(rec.stdout, "record stdout")
    first = out.wait_line(0, 30)
    check(first, "record printed nothing: %s" % open(errpath).read().strip()[-500:])
    tier = json.loads(first)["hooks"]["lifecycle"]
    if tier == "tracepoint":
        raise Skip("the lifecycle hook is the classic tracepoint, which has no twin")
    counter = start_counter()
    active0, passive0 = tcp_opens(ns)
    storm = subprocess.run(ns.prefix + [CONNSTORM, "-P", "0", "-d", str(STORM_S), "127.0.0.1",
                                        str(r.port), str(STORM_PROCS)],
                           capture_output=True, text=True, timeout=STORM_S + 60)
    check(storm.returncode == 0, "connstorm failed: %s %s" % (storm.stdout, storm.stderr))
    active1, passive1 = tcp_opens(ns)
    seen = stop_counter(counter)
    misses = recursion_misses(rec.pid)
    lifecycle = sum(v for n, v in misses.items() if n.startswith("rcl_state_"))
    rec.send_signal(signal.SIGINT)
    try:
        rc = rec.wait(30)
    except subprocess.TimeoutExpired:
        stop(rec, signal.SIGKILL)
        raise Fail("record did not exit within 30 s of SIGINT")
    err = open(errpath).read()
    check(rc == 0, "record exited %s: %s" % (rc, err[-500:]))
    check(any(n.startswith("rcl_twin_") for n in misses),
          "record on %s attached no twin: its programs are %s" % (tier, sorted(misses)))
    if lifecycle < MIN_SKIPS:
        raise Skip("the kernel skipped only %d lifecycle runs in %d connections (%s), fewer than %d: "
                   "%s" % (lifecycle, active1 - active0, misses, MIN_SKIPS,
                           "this kernel does not guard %s programs against recursion" % tier
                           if not lifecycle else "too few to measure the twin by"))
    m = re.search(r"(\d+) runs the kernel skipped were recovered", err)
    check(m, "record -v did not say how many skipped runs it recovered: %r" % err[-300:])
    recovered = int(m.group(1))

    rep = subprocess.run([RCLEAK, "report", path, "--json"], capture_output=True, text=True, timeout=60)
    check(rep.returncode == 0, "report --json: %s" % rep.stderr.strip()[-300:])
    lost = json.loads(rep.stdout)["files"][0]["lost_events"]
    rows = subprocess.run([RCLEAK, "report", path, "--csv"], capture_output=True, text=True, timeout=120)
    check(rows.returncode == 0, "report --csv: %s" % rows.stderr.strip()[-300:])
    handshakes = accepts = 0
    for row in csv.reader(io.StringIO(rows.stdout)):
        if len(row) != 13:
            continue
        if row[2] == "state" and row[11] == "SYN_SENT" and row[12] == "ESTABLISHED":
            handshakes += 1
        elif row[2] == "accept" and row[3] == str(r.pid):
            accepts += 1
    missing = (active1 - active0 - handshakes) + (passive1 - passive0 - accepts)
    # handshakes and accepts the hook delivered to no program, the counter's
    # own counted skips aside: the kernel's, not rcleak's to see or count
    dropped = 0
    if seen:
        dropped = max(0, (active1 - active0 - seen["handshakes"]) +
                      (passive1 - passive0 - seen["accepts"]) - seen["skipped"])
    what = ("%d connections; the kernel skipped %d lifecycle runs, the twin did %d; the capture "
            "lacks %d of %d handshakes and %d of %d accepts; record reports %d lost; %s"
            % (active1 - active0, lifecycle, recovered, active1 - active0 - handshakes,
               active1 - active0, passive1 - passive0 - accepts, passive1 - passive0, lost,
               "an independent counter on the hook saw %(handshakes)d handshakes and %(accepts)d "
               "accepts and was skipped %(skipped)d times" % seen if seen
               else "no independent counter (hookfloor cannot attach here)"))
    check(recovered > 0, "the twin recovered nothing: " + what)
    missing -= min(missing, dropped)
    check(missing <= lost, "beyond what the hook delivered to no program (%d), the capture lacks "
          "more than the lost count says: %s" % (dropped, what))
    check(missing <= MAX_LOST_SHARE * lifecycle,
          "beyond what the hook delivered to no program (%d), more than %d %% of the skipped runs "
          "are missing from the capture: %s" % (dropped, MAX_LOST_SHARE * 100, what))
