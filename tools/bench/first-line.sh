#!/usr/bin/env bash
# first-line.sh - time from starting rcleak to its first complete JSON line
# with N connections already open (default 10000), against `ss -tnp` on the
# same state. A benchmark, not a test.
#
#   tools/bench/first-line.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-10000}
RUNS=${2:-3}
RCLEAK=${RCLEAK:-./rcleak}
[ "$(id -u)" -eq 0 ] || { echo "first-line.sh: needs root (BPF)" >&2; exit 3; }
ulimit -n "$(ulimit -Hn)" # no CAP_SYS_RESOURCE here: the hard limit is the ceiling

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --maxclients $((N + 100)) \
	--daemonize no --dir "$dir" --logfile "$dir/redis.log" &
rpid=$!
cpid=
cleanup() {
	[ -n "$cpid" ] && kill "$cpid" 2>/dev/null
	kill "$rpid" 2>/dev/null; wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

python3 - "$port" "$N" > "$dir/client.out" <<'PY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
print("READY", flush=True)
time.sleep(3600)
PY
cpid=$!
until grep -q READY "$dir/client.out" 2>/dev/null; do sleep 0.2; done

for r in $(seq "$RUNS"); do
	t0=$(date +%s.%N)
	line=$("$RCLEAK" -p "$port" --json -n 1)
	t1=$(date +%s.%N)
	got=$(printf '%s' "$line" | python3 -c "import json,sys; d=json.load(sys.stdin); print(max([p['open'] for p in d['processes'] if p['role']=='client'] or [0]))")
	t2=$(date +%s.%N)
	ssn=$(ss -tnpH "( dport = :$port )" | wc -l)
	t3=$(date +%s.%N)
	printf 'run %d: rcleak first line %.3f s (client open=%s)   ss -tnp %.3f s (%s sockets)\n' \
		"$r" "$(echo "$t1 - $t0" | bc)" "$got" "$(echo "$t3 - $t2" | bc)" "$ssn"
done
