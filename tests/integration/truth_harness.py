"""Ground truth from the kernel's own view, never from rcleak: the TCP sockets
ss shows and who holds them, a process's fds and nofile limit from /proc,
and a network namespace's connect and accept counts (/proc/net/snmp).
(What Redis says of its clients is redis_harness.Redis's.)
"""
import os
import re
import subprocess

from core_harness import check


# --------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------
_SS_STATE = {"ESTAB": "established", "CLOSE-WAIT": "close_wait", "SYN-SENT": "syn_sent"}


def _port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def ss_sockets(ports, netns=None):
    """Non-LISTEN TCP sockets with either side on one of ports (in netns, or
    the current network namespace).  Returns [(state, local, peer, {pid: [fds]})]."""
    ports = set(int(p) for p in ports)
    prefix = netns.prefix if netns else []
    r = subprocess.run(prefix + ["ss", "-tanpH"], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError("ss failed: " + r.stderr)
    res = []
    for line in r.stdout.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        state, local, peer = parts[0], parts[3], parts[4]
        if state in ("LISTEN", "UNCONN"):
            continue
        try:
            if _port_of(local) not in ports and _port_of(peer) not in ports:
                continue
        except ValueError:
            continue
        holders = {}
        if len(parts) > 5:
            for pid, fd in re.findall(r"pid=(\d+),fd=(\d+)", parts[5]):
                holders.setdefault(int(pid), []).append(int(fd))
        res.append((state, local, peer, holders))
    return res


def ss_count(pid, ports, state=None, netns=None):
    """Distinct sockets on ports held by pid (each socket once however many fds)."""
    n = 0
    for st, _l, _p, holders in ss_sockets(ports, netns):
        if pid in holders and (state is None or st == state):
            n += 1
    return n


def ss_accepted(pid, port):
    """Sockets held by pid whose local port is port (accepted by a server on port)."""
    n = 0
    for _st, local, _p, holders in ss_sockets([port]):
        if pid in holders and _port_of(local) == int(port):
            n += 1
    return n


def ss_states(pid, ports):
    out = {}
    for st, _l, _p, holders in ss_sockets(ports):
        if pid in holders:
            out[st] = out.get(st, 0) + 1
    return out


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                parts = line.split()
                soft, hard = parts[3], parts[4]
                conv = lambda v: None if v == "unlimited" else int(v)  # noqa: E731
                return conv(soft), conv(hard)
    raise RuntimeError("no Max open files in /proc/%d/limits" % pid)


def tcp_opens(ns):
    """(TcpActiveOpens, TcpPassiveOpens) of network namespace ns (a NetNS),
    from its /proc/net/snmp: the kernel's own count of connects and accepts."""
    r = subprocess.run(ns.prefix + ["cat", "/proc/net/snmp"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, "reading the namespace's /proc/net/snmp: %s" % r.stderr.strip())
    tcp = [line.split() for line in r.stdout.splitlines() if line.startswith("Tcp:")]
    check(len(tcp) == 2, "no Tcp lines in /proc/net/snmp: %r" % r.stdout[:300])
    row = dict(zip(tcp[0][1:], tcp[1][1:]))
    return int(row["ActiveOpens"]), int(row["PassiveOpens"])
