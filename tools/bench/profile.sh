#!/usr/bin/env bash
# profile.sh - where the lifecycle program's time goes. rcleak (live, or
# record with MODE=record) runs against a loopback redis-server through a
# SECS connect/PING/close storm (connstorm) while `perf record -e cpu-clock
# -a -g` samples every CPU. Samples whose stack holds the tracepoint's BPF
# dispatch (bpf_trace_run*) are rcleak's BPF time; they are grouped by the
# function they were in (the leaf), and that is printed with its share, plus
# the share of all samples on the machine. cpu-clock, not cycles: this VM
# has no hardware counters, and `bpftool prog profile` needs fentry, which
# this kernel refuses. Then the samples inside the lifecycle program are
# charged to its source lines (tools/bench/jitlines.py: the kernel's JIT
# line info; bpftool needs libbfd for that). A benchmark, not a test.
#
#   [MODE=live|record] tools/bench/profile.sh [SECS]   (10)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
bpf_stats_off # measured as the host runs (lib.sh: bpf_stats_set)
SECS=${1:-10}
MODE=${MODE:-live}
build_loadgen
ensure_pkg perf linux-perf

port=$(free_port)
start_redis "$port" 1000
case $MODE in
live) "$RCLEAK" -p "$port" --json -i 1 >/dev/null 2>"$SCRATCH/rcleak.err" & ;;
record) "$RCLEAK" record -w "$SCRATCH/p.rcl" --force -p "$port" >/dev/null 2>"$SCRATCH/rcleak.err" & ;;
*) echo "profile.sh: MODE is live or record, not '$MODE'" >&2; exit 2 ;;
esac
rc_pid=$!
BG_PIDS+=($rc_pid)
wait_attached $rc_pid || { echo "rcleak did not start: $(tail -1 "$SCRATCH/rcleak.err")" >&2; exit 1; }
"$STORM" -d $((SECS + 2)) 127.0.0.1 "$port" "${STORM_PROCS:-4}" >"$SCRATCH/storm.out" 2>&1 &
BG_PIDS+=($!)
sleep 1
perf record -q -e cpu-clock -F 4999 -a -g -o "$SCRATCH/perf.data" -- sleep "$SECS" 2>/dev/null
# the lifecycle program's JIT offsets -> source lines, while it is loaded
prog=
for id in $(bpf_ids "$rc_pid" prog_id); do
	name=$(bpftool -j prog show id "$id" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("name",""))')
	case $name in rcl_state_*) prog=$name; python3 tools/bench/jitlines.py "$id" >"$SCRATCH/lines" || prog= ;; esac
done
wait "${BG_PIDS[-1]}" || true
echo "rcleak $MODE, connstorm: $(awk '$1 == "TOTAL" {printf "%d connections, %.0f/s", $2, $4}' "$SCRATCH/storm.out")"
perf script -i "$SCRATCH/perf.data" -F ip,sym 2>/dev/null | python3 -c '
import collections, sys
leaf, total, ours, stack = collections.Counter(), 0, 0, []
def flush():
    global total, ours
    if not stack:
        return
    total += 1
    if any(s.startswith("bpf_trace_run") for s in stack):
        ours += 1
        leaf[stack[0]] += 1
for line in sys.stdin:
    parts = line.split(None, 1)
    if not parts:
        flush()
        stack.clear()
        continue
    stack.append(parts[1].strip() if len(parts) > 1 else "?")
flush()
if not ours:
    sys.exit("no sample under bpf_trace_run*: is the lifecycle program attached?")
print("%d samples, %d (%.2f%% of all CPUs) under the tracepoint dispatch" % (total, ours, 100.0 * ours / total))
print("%7s  %s" % ("share", "function (where the sample was)"))
for name, n in leaf.most_common(25):
    print("%6.1f%%  %s" % (100.0 * n / ours, name))
'
if [ -n "$prog" ]; then
	echo
	echo "by source line of $prog, with the helpers and map operations each line calls:"
	perf script -i "$SCRATCH/perf.data" -F ip,sym,symoff 2>/dev/null |
		python3 tools/bench/jitlines.py --hot "$SCRATCH/lines" bpf "$prog"
fi
