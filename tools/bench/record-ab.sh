#!/usr/bin/env bash
# record-ab.sh - `rcleak record`'s whole cost per connection, build against
# build: each BINARY in turn, ROUNDS times, interleaved, records a loopback
# redis-server (connstorm, STORM_PROCS processes, SECS) and prints per run
# the BPF time per connection (bpf_stats run_time_ns of every program it
# holds), the recorder's own CPU per connection (/proc/PID/task/*/schedstat:
# nanoseconds, where utime counts 10 ms ticks) and the capture's bytes per
# connection. For changes to what record does per event, where cost.sh
# sees only the BPF half. A benchmark, not a test: it asserts nothing.
#
#   [STORM_PROCS=4] tools/bench/record-ab.sh ROUNDS SECS BINARY...
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
need_args 3 "$@"
ROUNDS=$1
SECS=$2
shift 2
STORM_PROCS=${STORM_PROCS:-4}
build_loadgen
ensure_pkg bpftool bpftool
bpf_stats_on
port=$(free_port)
start_redis "$port" 1000

bpf_ns() { # PID: run_time_ns summed over the programs it holds
	local id t=0 v
	for id in $(bpf_ids "$1" prog_id); do
		v=$(bpftool -j prog show id "$id" 2>/dev/null |
			python3 -c 'import json, sys; print(json.load(sys.stdin).get("run_time_ns", 0))' || echo 0)
		t=$((t + v))
	done
	echo "$t"
}
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }'; }

for _ in $(seq "$ROUNDS"); do
	for bin in "$@"; do
		"$bin" record -w "$SCRATCH/ab.rcl" --force -p "$port" >/dev/null 2>"$SCRATCH/ab.err" &
		rec=$!; BG_PIDS+=("$rec")
		wait_attached "$rec" 30 || { cat "$SCRATCH/ab.err" >&2; exit 1; }
		b0=$(bpf_ns "$rec"); c0=$(cpu_ns "$rec")
		conns=$("$STORM" -d "$SECS" 127.0.0.1 "$port" "$STORM_PROCS" | awk '$1 == "TOTAL" {print $2}')
		b1=$(bpf_ns "$rec"); c1=$(cpu_ns "$rec")
		kill -INT "$rec"; wait "$rec" || true
		awk -v n="$conns" -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v sz="$(stat -c %s "$SCRATCH/ab.rcl")" \
			-v bin="$bin" 'BEGIN { printf "%-40s conns %7d  BPF %5.0f ns  recorder %5.0f ns  capture %5.1f bytes per connection\n",
				bin, n, b / n, c / n, sz / n }'
	done
done
