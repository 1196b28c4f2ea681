#!/usr/bin/env bash
# hookloss.sh - does every TCP state change reach a BPF program on
# sock:inet_sock_set_state? Without rcleak: a network namespace with Receive
# Packet Steering on its loopback (the other CPU's softirq interrupts the
# hook, as a NIC's interrupts do) runs a redis-server and a SECS
# connect/close storm (connstorm) while `build/hookfloor --count`, alone on
# the hook, counts the handshakes (SYN_SENT -> ESTABLISHED) and accepts
# (LISTEN -> SYN_RECV) delivered to it. Per run, against the namespace's
# TcpActiveOpens and TcpPassiveOpens: how many the hook did not deliver, and
# how many of those the kernel counted as skipped runs (recursion_misses).
# Any beyond that count reached no program and no count: no BPF tool on
# this hook can see or count them, rcleak included. A benchmark, not a
# test: it asserts nothing.
#
#   tools/bench/hookloss.sh [ROUNDS] [SECS]     (3, 6)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
bpf_stats_off # measured as the host runs (lib.sh: bpf_stats_set)
ROUNDS=${1:-3}
SECS=${2:-6}
[ "$(nproc)" -ge 2 ] || { echo "hookloss.sh: RPS needs two CPUs" >&2; exit 1; }
build_loadgen
build_hookfloor
NS=rcleak-hookloss-$$
cleanup_ns() { ip netns del "$NS" 2>/dev/null || true; }
trap 'cleanup_ns; bench_cleanup' EXIT

one_run() {
	local d=$SCRATCH/run port=16400 rp
	rm -rf "$d"; mkdir -p "$d"
	cleanup_ns
	rps_ns_redis "$NS" $port "$d" || return 1
	rp=$NS_REDIS_PID
	start_counter "$d/count" || { kill "$rp"; return 1; }
	ip netns exec "$NS" cat /proc/net/snmp > "$d/snmp0"
	ip netns exec "$NS" "$STORM" -P 0 -d "$SECS" 127.0.0.1 $port 2 > "$d/storm.out"
	ip netns exec "$NS" cat /proc/net/snmp > "$d/snmp1"
	kill -INT "$COUNTER_PID"; wait "$COUNTER_PID" || true
	kill "$rp"; wait "$rp" 2>/dev/null || true
	cleanup_ns
	python3 - "$d" <<'PY'
import sys
sys.path.insert(0, "tools/bench")
from ns_count import counted, tcp_opens, undelivered
d = sys.argv[1]
a0, p0 = tcp_opens(d + "/snmp0")
a1, p1 = tcp_opens(d + "/snmp1")
seen = counted(d + "/count")
lost = undelivered(a1 - a0, p1 - p0, seen)
print("conns %6d  not delivered: handshakes %4d accepts %4d  skipped (counted) %4d  uncounted %4d = %.2f %% of connections"
      % (a1 - a0, a1 - a0 - seen["handshakes"], p1 - p0 - seen["accepts"], seen["skipped"],
         lost, 100.0 * lost / max(a1 - a0, 1)))
PY
}

echo "kernel $(uname -r), $(nproc) CPUs, ${SECS} s storms, hookfloor --count alone on the hook"
for ((r = 1; r <= ROUNDS; r++)); do one_run; done
