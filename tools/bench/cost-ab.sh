#!/usr/bin/env bash
# cost-ab.sh - rcleak's whole cost per connection, build against build: each
# BINARY in turn, ROUNDS times, interleaved, watches (MODE=live: `--json -i 1`)
# or records (MODE=record, the default) a loopback redis-server through a
# connstorm (STORM_PROCS processes, SECS) and prints per run the BPF time per
# connection (bpf_stats run_time_ns of every program it holds), rcleak's own
# CPU per connection (/proc/PID/task/*/schedstat: nanoseconds, where utime
# counts 10 ms ticks) and, for record, the capture's bytes per connection.
# For changes to what rcleak does per event, where cost.sh measures one build
# at a time. A benchmark, not a test: it asserts nothing.
#
#   [MODE=record|live] [STORM_PROCS=4] tools/bench/cost-ab.sh ROUNDS SECS BINARY...
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
ab_args "$@"
STORM_PROCS=${STORM_PROCS:-4}
MODE=${MODE:-record}
case $MODE in
live | record) ;;
*) echo "cost-ab.sh: MODE is live or record, not '$MODE'" >&2; exit 2 ;;
esac
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
	for bin in "${AB_BINS[@]}"; do
		rm -f "$SCRATCH/ab.rcl"
		if [ "$MODE" = record ]; then
			"$bin" record -w "$SCRATCH/ab.rcl" --force -p "$port" >/dev/null 2>"$SCRATCH/ab.err" &
		else
			"$bin" -p "$port" --json -i 1 >/dev/null 2>"$SCRATCH/ab.err" &
		fi
		rec=$!; BG_PIDS+=("$rec")
		wait_attached "$rec" 30 || { cat "$SCRATCH/ab.err" >&2; exit 1; }
		b0=$(bpf_ns "$rec"); c0=$(cpu_ns "$rec")
		conns=$("$STORM" -d "$SECS" 127.0.0.1 "$port" "$STORM_PROCS" | awk '$1 == "TOTAL" {print $2}')
		b1=$(bpf_ns "$rec"); c1=$(cpu_ns "$rec")
		kill -INT "$rec"; wait "$rec" || true
		awk -v n="$conns" -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v sz="$(stat -c %s "$SCRATCH/ab.rcl" 2>/dev/null || echo -1)" \
			-v bin="$bin" 'BEGIN { printf "%-40s conns %7d  BPF %5.0f ns  rcleak %5.0f ns", bin, n, b / n, c / n
				if (sz >= 0) printf "  capture %5.1f bytes", sz / n
				printf " per connection\n" }'
	done
done
