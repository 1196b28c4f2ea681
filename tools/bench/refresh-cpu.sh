#!/usr/bin/env bash
# refresh-cpu.sh - rcleak's CPU per refresh with NPROC client processes
# holding CONNS connections in all (default 1000 and 20000) against two
# loopback redis-servers: user and system (kernel walk) time per refresh, as
# a share of one core at a 1 s interval. A benchmark, not a test.
#
#   tools/bench/refresh-cpu.sh [NPROC] [CONNS] [SECS]
set -euo pipefail
cd "$(dirname "$0")/../.."
NPROC=${1:-1000}
CONNS=${2:-20000}
SECS=${3:-20}
RCLEAK=${RCLEAK:-./rcleak}
HOLD=${HOLD:-build/holdconns}
[ "$(id -u)" -eq 0 ] || { echo "refresh-cpu.sh: needs root (BPF)" >&2; exit 3; }
ulimit -n "$(ulimit -Hn)"
per=$(( (CONNS + NPROC - 1) / NPROC ))
half=$(( CONNS / 2 + 100 ))
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p1=$(free_port); p2=$(free_port)
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
for p in $p1 $p2; do
	redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --maxclients "$half" \
		--daemonize no --dir "$dir" --logfile "$dir/redis-$p.log" & pids+=($!)
done
for p in $p1 $p2; do
	for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
"$HOLD" 127.0.0.1 "$p1,$p2" "$NPROC" "$per" > "$dir/hold.out" & pids+=($!)
until grep -q READY "$dir/hold.out" 2>/dev/null; do sleep 0.5; done
echo "state: $(cat "$dir/hold.out") connections from $NPROC processes"

"$RCLEAK" -p "$p1,$p2" --json -i 1 -d "$SECS" > "$dir/out.json" & rpid=$!
sleep 1.5 # past load and the first (snapshot) refresh
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$rpid/stat")
t0=$(date +%s.%N)
sleep $((SECS - 4))
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$rpid/stat")
t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$rpid/status")
wait "$rpid"
hz=$(getconf CLK_TCK)
python3 - "$u0" "$s0" "$u1" "$s1" "$t0" "$t1" "$hz" "$rss" "$dir/out.json" <<'PY'
import json, sys
u0, s0, u1, s1 = (int(x) for x in sys.argv[1:5])
t0, t1, hz, rss = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
lines = [json.loads(l) for l in open(sys.argv[9])]
last = lines[-1]
held = sum(p["open"] for p in last["processes"] if p["role"] == "client")
n = (t1 - t0)  # refreshes at 1 s
print("refreshes measured: %.0f  (interval 1 s)" % n)
print("user CPU per refresh: %.2f ms  = %.2f %% of a core" % ((u1 - u0) / hz / n * 1e3, (u1 - u0) / hz / n * 100))
print("sys  CPU per refresh: %.2f ms  = %.2f %% of a core (fd walk runs in the kernel)" % ((s1 - s0) / hz / n * 1e3, (s1 - s0) / hz / n * 100))
print("total: %.2f %% of a core; rcleak RSS %.1f MiB; client connections seen in the last line: %d" % (((u1 - u0) + (s1 - s0)) / hz / n * 100, rss / 1024, held))
PY
