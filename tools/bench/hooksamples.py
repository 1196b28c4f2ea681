#!/usr/bin/env python3
"""hooksamples.py - CPU time under a tracepoint's BPF dispatch, by sampling.

Reads `perf script -F ip,sym` output (stdin) of a system-wide
`perf record -e cpu-clock -c PERIOD_NS -a -g` and prints one JSON object:
samples in all, samples whose stack holds bpf_trace_run* (the BPF programs
attached to a raw tracepoint, tp_btf and raw_tp alike, with their helpers
and the dispatch itself) or trace_call_bpf (those on the classic
tracepoint: rcleak's third tier, tcplife, tcpstates, bpftrace's
tracepoint:), and the CPU seconds each stands for. Unlike
bpf_stats' run_time_ns it needs no clock read around every run (which
bpf_stats adds to every run it measures) and it counts the dispatch, which
bpf_stats does not. A benchmark tool, not a test.

    perf script -i perf.data -F ip,sym | hooksamples.py PERIOD_NS
"""
import json
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: perf script -F ip,sym | hooksamples.py PERIOD_NS")
    period = int(sys.argv[1])
    total = under = 0
    stack = []

    def flush():
        nonlocal total, under
        if stack:
            total += 1
            if any(s.startswith("bpf_trace_run") or s == "trace_call_bpf" for s in stack):
                under += 1
        stack.clear()

    for line in sys.stdin:
        parts = line.split(None, 1)
        if not parts:
            flush()
            continue
        stack.append(parts[1].strip() if len(parts) > 1 else "?")
    flush()
    print(json.dumps({"samples": total, "under_hook": under,
                      "cpu_s": total * period / 1e9, "hook_cpu_s": under * period / 1e9}))


if __name__ == "__main__":
    main()
