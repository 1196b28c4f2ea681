#!/usr/bin/env bash
# walk-ab.sh - the fd walk's BPF time, build against build: N loopback
# connections held (holdconns, 1000 per process, one redis-server: N at
# most ~19,000 here, the hard nofile limit), then each BINARY in turn,
# ROUNDS times, interleaved, runs `rcleak -i 0.2` for SECS and prints the
# iter/task_file program's run_time_ns per walk and per object it visited
# (bpf_stats). For changes to what the walk reads per socket, where scale.sh
# sees it only in the sys CPU of a refresh. A benchmark, not a test: it
# asserts nothing.
#
#   [N=19000] tools/bench/walk-ab.sh ROUNDS SECS BINARY...
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
ab_args "$@"
N=${N:-19000}
build_loadgen
ensure_pkg bpftool bpftool
bpf_stats_on
ulimit -n "$(ulimit -Hn)"
port=$(free_port)
start_redis "$port" $((N + 100))
"$HOLD" 127.0.0.1 "$port" $(((N + 999) / 1000)) 1000 > "$SCRATCH/hold.out" 2>&1 &
BG_PIDS+=($!)
for _ in $(seq 120); do
	held=$(($(ss -Htn state established "( dport = :$port )" | wc -l)))
	[ "$held" -ge "$N" ] && break
	sleep 0.5
done
echo "connections held: $held"

walk_ns() { # PID: run_time_ns and run_cnt of its iter/task_file program
	local id
	for id in $(bpf_ids "$1" prog_id); do
		bpftool -j prog show id "$id" 2>/dev/null | python3 -c '
import json, sys
p = json.load(sys.stdin)
if p.get("name") == "rcl_walk_files":
    print(p.get("run_time_ns", 0), p.get("run_cnt", 0))'
	done
}

for _ in $(seq "$ROUNDS"); do
	for bin in "${AB_BINS[@]}"; do
		"$bin" -p "$port" --json -i 0.2 > "$SCRATCH/live.jsonl" 2>"$SCRATCH/live.err" &
		pid=$!; BG_PIDS+=("$pid")
		wait_attached "$pid" 30 || { cat "$SCRATCH/live.err" >&2; exit 1; }
		sleep "$SECS"
		read -r ns cnt < <(walk_ns "$pid")
		kill -INT "$pid"; wait "$pid" || true
		walks=$(wc -l < "$SCRATCH/live.jsonl")
		awk -v ns="$ns" -v cnt="$cnt" -v w="$walks" -v bin="$bin" 'BEGIN {
			printf "%-40s walks %4d  %7.2f ms per walk  %5.0f ns per object\n", bin, w, ns / w / 1e6, ns / cnt }'
	done
done
