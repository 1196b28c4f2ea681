#!/usr/bin/env bash
# skips.sh - what `rcleak record` loses when the kernel skips its lifecycle
# program. A network namespace with Receive Packet Steering on its loopback
# (the other CPU's softirq then interrupts the hook, as a real NIC's
# interrupts do) runs a redis-server and a connect/close storm (connstorm)
# for SECS while `rcleak record` watches from the host. Per run:
#   - connections (the namespace's TcpActiveOpens) and the lifecycle
#     program's recursion_misses (bpftool);
#   - the skipped runs the twin did (record -v), and lost_events (report);
#   - handshakes (SYN_SENT->ESTABLISHED) and accepts missing from the
#     capture, against TcpActiveOpens and TcpPassiveOpens;
#   - of those, how many the hook delivered to no program without a skip
#     counted: what build/hookfloor --count, attached after rcleak, did not
#     see either, less its own counted skips (tools/bench/hookloss.sh).
# Each BINARY in turn, ROUNDS times, interleaved: pass an rcleak built
# before the twin to compare. A benchmark, not a test: it asserts nothing.
#
#   [JSON=FILE] tools/bench/skips.sh [ROUNDS] [SECS] [BINARY...]     (3, 4, ./rcleak)
# JSON: every run's figures, for render.py (run-all.sh's part "skips").
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
bpf_stats_off # measured as the host runs (lib.sh: bpf_stats_set)
ROUNDS=${1:-3}
SECS=${2:-4}
shift 2 2>/dev/null || shift $#
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=("$RCLEAK")
[ "$(nproc)" -ge 2 ] || { echo "skips.sh: RPS needs two CPUs" >&2; exit 1; }
build_loadgen
build_hookfloor
NS=rcleak-skips-$$
cleanup_ns() { ip netns del "$NS" 2>/dev/null || true; }
trap 'cleanup_ns; bench_cleanup' EXIT

one_run() {
	local bin=$1 d=$SCRATCH/run port=16400 rp rec misses
	rm -rf "$d"; mkdir -p "$d"
	cleanup_ns
	rps_ns_redis "$NS" $port "$d" || return 1
	rp=$NS_REDIS_PID
	"$bin" record -v -w "$d/s.rcl" -p $port -i 0.5 --json > "$d/live.jsonl" 2> "$d/err" &
	rec=$!
	BG_PIDS+=("$rec")
	wait_attached "$rec" 30 || { cat "$d/err" >&2; kill "$rp"; return 1; }
	start_counter "$d/count" || { kill "$rp"; return 1; }
	ip netns exec "$NS" cat /proc/net/snmp > "$d/snmp0"
	ip netns exec "$NS" "$STORM" -P 0 -d "$SECS" 127.0.0.1 $port 2 > "$d/storm.out"
	ip netns exec "$NS" cat /proc/net/snmp > "$d/snmp1"
	kill -INT "$COUNTER_PID"; wait "$COUNTER_PID" || true
	misses=$(bpftool prog show | awk '/name rcl_state_/ { for (i = 1; i < NF; i++) if ($i == "recursion_misses") print $(i + 1) }' | head -1)
	kill -INT "$rec"; wait "$rec" || true
	kill "$rp"; wait "$rp" 2>/dev/null || true
	cleanup_ns
	"$bin" report "$d/s.rcl" --csv > "$d/s.csv"
	"$bin" report "$d/s.rcl" --json > "$d/rep.json"
	python3 - "$d" "${misses:-0}" "$bin" "$SCRATCH/runs.jsonl" <<'PY'
import csv, json, re, sys
sys.path.insert(0, "tools/bench")
from ns_count import counted, tcp_opens, undelivered
d, misses, binary, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
a0, p0 = tcp_opens(d + "/snmp0")
a1, p1 = tcp_opens(d + "/snmp1")
est = acc = 0
for r in csv.reader(open(d + "/s.csv")):
    if len(r) == 13 and r[2] == "state" and r[11] == "SYN_SENT" and r[12] == "ESTABLISHED":
        est += 1
    elif len(r) == 13 and r[2] == "accept":
        acc += 1
m = re.search(r"(\d+) runs the kernel skipped were recovered", open(d + "/err").read())
lost = json.load(open(d + "/rep.json"))["files"][0]["lost_events"]
conns = a1 - a0
missing = (conns - est) + (p1 - p0 - acc)
dropped = undelivered(conns, p1 - p0, counted(d + "/count"))
print("%-40s conns %6d  skipped %5d  twin did %5s  lost_events %5d  missing: handshakes %4d accepts %4d"
      " = %5.2f %% of connections, %5.1f %% of skipped runs; delivered to no program %4d" % (
          binary[-40:], conns, misses, m.group(1) if m else "-", lost, conns - est, p1 - p0 - acc,
          100.0 * missing / max(conns, 1), 100.0 * missing / max(misses, 1), dropped))
with open(runs, "a") as f:
    f.write(json.dumps({"binary": binary, "connections": conns, "skipped": misses,
                        "twin_did": int(m.group(1)) if m else None, "lost_events": lost,
                        "missing_handshakes": conns - est, "missing_accepts": p1 - p0 - acc,
                        "undelivered": dropped}) + "\n")
PY
}

for ((r = 1; r <= ROUNDS; r++)); do
	for b in "${BINS[@]}"; do one_run "$b"; done
done
if [ -n "${JSON:-}" ]; then
	python3 -c 'import json, sys; json.dump({"secs": float(sys.argv[2]), "runs": [json.loads(l) for l in open(sys.argv[1])]}, open(sys.argv[3], "w"), indent=1)' \
		"$SCRATCH/runs.jsonl" "$SECS" "$JSON"
fi
