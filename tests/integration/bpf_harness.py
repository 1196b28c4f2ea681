"""BPF programs on the host: the rcl_ programs loaded (bpftool), which process
holds which program or map (/proc/PID/fdinfo), the ones a test left behind,
and build/hookfloor --count, which counts what the kernel's hook delivered
next to rcleak's programs.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

from core_harness import ROOT, Fail, check
from proc_harness import _sid, spawn, stop


# --------------------------------------------------------------------------
# BPF programs (rcl_*) and their holders
# --------------------------------------------------------------------------
def have_bpftool():
    return shutil.which("bpftool") is not None


def rcl_progs():
    """{prog_id: name} of loaded BPF programs whose name starts with rcl_."""
    r = subprocess.run(["bpftool", "-j", "prog", "list"], capture_output=True,
                       text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError("bpftool prog list failed: " + r.stderr.strip())
    progs = json.loads(r.stdout or "[]")
    return {p["id"]: p.get("name", "") for p in progs
            if p.get("name", "").startswith("rcl_")}


def bpf_fdinfos(pid):
    """The /proc/PID/fdinfo text of each BPF object fd process pid holds
    (bpf-prog, bpf_link, bpf-map)."""
    fddir = "/proc/%s/fd" % pid
    try:
        fds = os.listdir(fddir)
    except OSError:
        return
    for fd in fds:
        try:
            tgt = os.readlink(os.path.join(fddir, fd))
        except OSError:
            continue
        if not tgt.startswith("anon_inode:bpf"):
            continue
        try:
            with open("/proc/%s/fdinfo/%s" % (pid, fd)) as f:
                yield f.read()
        except OSError:
            continue


def bpf_fd_ids(pid, kind):
    """Set of the BPF object ids (kind: "prog_id" or "map_id") that process
    pid holds fds of (bpf-prog, bpf_link, bpf-map), from /proc/PID/fdinfo."""
    ids = set()
    for info in bpf_fdinfos(pid):
        m = re.search(r"^%s:\s*(\d+)" % kind, info, re.M)
        if m:
            ids.add(int(m.group(1)))
    return ids


def bpf_linked_progs(pid):
    """Set of the ids of the BPF programs process pid keeps attached: the
    programs of the bpf_link fds it holds (a program loaded but not
    attached has no link)."""
    ids = set()
    for info in bpf_fdinfos(pid):
        m = re.search(r"^prog_id:\s*(\d+)", info, re.M)
        if m and re.search(r"^link_id:", info, re.M):
            ids.add(int(m.group(1)))
    return ids


def prog_holders():
    """{prog_id: set(pids)} from /proc/*/fdinfo of bpf-prog and bpf_link fds."""
    res = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            for i in bpf_fd_ids(d, "prog_id"):
                res.setdefault(i, set()).add(int(d))
    return res


def leaked_progs(before, our_sids, timeout=5.0):
    """rcl_ programs loaded since `before` that are not held by someone else's
    live process (another rcleak run by a human on this machine).  Polls up to
    timeout for the kernel to free them.  Returns {id: name} still leaked."""
    deadline = time.monotonic() + timeout
    while True:
        now = rcl_progs()
        new = {i: n for i, n in now.items() if i not in before}
        if new:
            holders = prog_holders()
            leaked = {}
            for i, n in new.items():
                hs = holders.get(i, set())
                foreign = hs and all(_sid(h) not in our_sids for h in hs)
                if not foreign:
                    leaked[i] = n
            new = leaked
        if not new or time.monotonic() > deadline:
            return new
        time.sleep(0.1)


HOOKFLOOR = os.environ.get("RCLEAK_TEST_HOOKFLOOR") or os.path.join(ROOT, "build", "hookfloor")


def start_hookfloor(args):
    """build/hookfloor ARGS attached, or None when it cannot attach (no
    tp_btf). Started after rcleak, its program runs after rcleak's on the
    hook."""
    what = " ".join(["hookfloor"] + args)
    if not os.access(HOOKFLOOR, os.X_OK):
        raise Fail("%s is missing: `make test` builds it (make build/hookfloor)" % HOOKFLOOR)
    p = spawn([HOOKFLOOR] + args, what, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if p.poll() is not None:
            return None
        if bpf_linked_progs(p.pid):
            return p
        time.sleep(0.05)
    stop(p)
    raise Fail("%s did not attach within 20 s" % what)


def start_counter():
    """build/hookfloor --count attached (after rcleak's programs), or None
    when it cannot attach (no tp_btf: then nothing is discounted)."""
    return start_hookfloor(["--count"])


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


def hook_dropped(active, passive, seen):
    """Handshakes and accepts of a storm (active, passive opens counted by
    the namespace) that the hook delivered to no program, less the
    counter's own counted skips: the kernel's (6.18-fc delivers some in
    bursts of 1-3 ms to nothing and counts no skip, tools/bench/hookloss.sh),
    not rcleak's to see or count. seen: stop_counter()'s, or None (0). The
    counter sees the whole host, so other traffic only makes this smaller."""
    if not seen:
        return 0
    return max(0, (active - seen["handshakes"]) + (passive - seen["accepts"]) - seen["skipped"])
