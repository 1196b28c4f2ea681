"""Helpers of the command-line tests (test_cli*.py): a stderr that is one
'rcleak: ' line, and the BPF programs a command must not leave loaded."""
import os

from harness import check, have_bpftool, leaked_progs, rcl_progs


def one_line_rcleak(err):
    """stderr err is one line that starts "rcleak: " (blank lines aside): that line."""
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1, "expected exactly one stderr line, got %d: %r" % (len(lines), err[:400]))
    check(lines[0].startswith("rcleak: "), "stderr does not start with 'rcleak: ': %r" % lines[0])
    return lines[0]


def bpf_before():
    """rcleak's BPF programs loaded now, for bpf_after (None where bpftool or root is missing)."""
    return rcl_progs() if have_bpftool() and os.geteuid() == 0 else None


def bpf_after(before, what):
    """Fails if a BPF program of rcleak's loaded since bpf_before() is still loaded."""
    if before is None:
        return
    leaked = leaked_progs(before, our_sids=set(), timeout=3)
    check(not leaked, "%s left BPF programs loaded: %s" % (what, sorted(leaked.values())))
