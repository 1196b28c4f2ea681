#!/usr/bin/env bash
# overhead.sh - throughput of a connect/PING/close storm against a loopback
# redis-server, with nothing attached vs with rcleak attached, in
# interleaved (ABBA) pairs. Prints each pair and the median ratio.
# MODE=live (default): rcleak --json to /dev/null.
# MODE=record: rcleak record -w FILE; also prints lost events and capture
# bytes per event. A benchmark, not a test: it asserts nothing.
#
#   [MODE=live|record] tools/bench/overhead.sh [PAIRS] [REQUESTS]   (5, 20000)
set -euo pipefail
cd "$(dirname "$0")/../.."
PAIRS=${1:-5}
N=${2:-20000}
RCLEAK=${RCLEAK:-./rcleak}
MODE=${MODE:-live}
[ "$(id -u)" -eq 0 ] || { echo "overhead.sh: needs root (BPF)" >&2; exit 3; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
	--daemonize no --dir "$dir" --logfile "$dir/redis.log" &
rpid=$!
rc_pid=
cleanup() {
	[ -n "$rc_pid" ] && kill "$rc_pid" 2>/dev/null; wait "$rc_pid" 2>/dev/null || true
	kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

storm() {
	redis-benchmark -p "$port" -c 50 -n "$N" -k 0 -t ping_inline --csv 2>/dev/null |
		awk -F'"' '/PING_INLINE/ {print $4}'
}

ratios=()
echo "pair  none_rps  rcleak_rps  ratio"
for i in $(seq "$PAIRS"); do
	# ABBA order: odd pairs measure "nothing" first, even pairs rcleak first
	if [ $((i % 2)) -eq 1 ]; then a=$(storm); fi
	if [ "$MODE" = record ]; then
		"$RCLEAK" record -w "$dir/bench.rcl" --force -p "$port" -i 1 & rc_pid=$!
	else
		"$RCLEAK" -p "$port" --json -i 1 >/dev/null & rc_pid=$!
	fi
	sleep 1.5 # attached and past its first walk
	b=$(storm)
	kill -INT "$rc_pid"; wait "$rc_pid" || true; rc_pid=
	if [ "$MODE" = record ]; then
		"$RCLEAK" report --json "$dir/bench.rcl" | python3 -c '
import json, os, sys
d = json.load(sys.stdin)["files"][0]
size = os.path.getsize(sys.argv[1])
print("      record: %d events, %d lost, %d bytes, %.1f bytes/event" % (d["events"], d["lost_events"], size, size / max(d["events"], 1)))' "$dir/bench.rcl"
	fi
	if [ $((i % 2)) -eq 0 ]; then a=$(storm); fi
	r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", b / a }')
	ratios+=("$r")
	printf '%4d  %8s  %10s  %s\n' "$i" "$a" "$b" "$r"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "median ratio (rcleak '"$MODE"' / nothing): %.4f  (min %.4f, max %.4f, %d pairs)\n", m, v[1], v[NR], NR }'
