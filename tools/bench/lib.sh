# shellcheck shell=bash
# lib.sh - shared helpers of the benchmark scripts (sourced, not run).
# Benchmarks assert nothing: they measure and print.

BENCH_SCRIPT=$(realpath "$0") # before the cd: $0 may be relative
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
BENCH_ROOT=$PWD
RCLEAK=${RCLEAK:-$BENCH_ROOT/rcleak}
BUILD=${OUTPUT:-$BENCH_ROOT/build}
case $BUILD in /*) ;; *) BUILD=$BENCH_ROOT/$BUILD ;; esac
HOLD=${HOLD:-$BUILD/holdconns}
STORM=${STORM:-$BUILD/connstorm}
HOOKFLOOR=${HOOKFLOOR:-$BUILD/hookfloor}

need_root() {
	[ "$(id -u)" -eq 0 ] || { echo "$(basename "$0"): needs root (BPF)" >&2; exit 3; }
}

# Build the load generators into $BUILD when missing or older than their
# source (the Makefile does the same; this keeps the scripts standalone).
build_loadgen() {
	local n
	mkdir -p "$BUILD"
	for n in holdconns connstorm; do
		if [ ! -x "$BUILD/$n" ] || [ "$BENCH_ROOT/tools/loadgen/$n.c" -nt "$BUILD/$n" ]; then
			${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror "$BENCH_ROOT/tools/loadgen/$n.c" -o "$BUILD/$n" || return 1
		fi
	done
}

# The empty program on rcleak's hook (tools/bench/hookfloor.c), built with
# make: it needs a BPF skeleton. A failed build leaves the "floor" tracer
# n/a with its error; nothing else depends on it.
build_hookfloor() {
	make -s -C "$BENCH_ROOT" OUTPUT="$BUILD" "$BUILD/hookfloor" >&2
}

# ensure_pkg COMMAND PACKAGE: apt-get install PACKAGE when COMMAND is missing.
# Idempotent; `apt-get update` only when the first install attempt fails.
ensure_pkg() {
	command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] && return 0
	echo "installing $2 (for $1)" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "$2" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$2" >/dev/null 2>&1; } ||
		{ echo "could not install $2" >&2; return 1; }
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Every background process a script starts goes into BG_PIDS; bench_cleanup
# ends them (only them) and removes the scratch folder.
BG_PIDS=()
SCRATCH=$(mktemp -d /tmp/rcleak-bench.XXXXXX)
TRACEFS_MOUNTED=
BPF_STATS_OLD=
bench_cleanup() {
	local p
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "$BPF_STATS_OLD" ]; then sysctl -q -w kernel.bpf_stats_enabled="$BPF_STATS_OLD" >/dev/null 2>&1 || true; fi
	if [ -n "$TRACEFS_MOUNTED" ]; then umount /sys/kernel/tracing 2>/dev/null || true; fi
	rm -rf "$SCRATCH"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# start_redis PORT [MAXCLIENTS]: a throwaway loopback redis-server.
start_redis() {
	local port=$1 max=${2:-10000}
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --maxclients "$max" \
		--daemonize no --dir "$SCRATCH" --logfile "$SCRATCH/redis-$port.log" &
	BG_PIDS+=($!)
	# shellcheck disable=SC2034 # read by the scripts that source this
	LAST_REDIS_PID=$!
	for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "redis-server on $port did not start" >&2
	return 1
}

# rps_ns_redis NS PORT DIR: a new network namespace NS whose loopback steers
# receive processing to every CPU (Receive Packet Steering: the other CPU's
# softirq then interrupts the hook, as a NIC's interrupts do), with a
# throwaway redis-server on PORT in it (files in DIR, pid in NS_REDIS_PID).
# Used by skips.sh and hookloss.sh; delete the namespace with
# `ip netns del NS`.
rps_ns_redis() {
	local ns=$1 port=$2 dir=$3
	ip netns add "$ns"
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" sh -c "printf '%x' $(( (1 << $(nproc)) - 1 )) > /sys/class/net/lo/queues/rx-0/rps_cpus"
	ip netns exec "$ns" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize no --dir "$dir" --logfile "$dir/redis.log" &
	BG_PIDS+=($!)
	# shellcheck disable=SC2034 # read by the scripts that source this
	NS_REDIS_PID=$!
	for _ in $(seq 100); do ip netns exec "$ns" redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "redis-server on $port in $ns did not start" >&2
	return 1
}

# start_counter FILE: build/hookfloor --count on the hook, attached, its
# output to FILE (pid in COUNTER_PID); stop it with kill -INT. FILE then
# holds "handshakes N accepts N skipped N" (ns_count.py reads it).
start_counter() {
	"$HOOKFLOOR" --count > "$1" 2> "$1.err" &
	BG_PIDS+=($!)
	# shellcheck disable=SC2034 # read by the scripts that source this
	COUNTER_PID=$!
	wait_attached "$COUNTER_PID" 30 || { cat "$1.err" >&2; return 1; }
}

# Classic tracepoints (libbpf-tools, bpftrace) need tracefs; it is not
# mounted at boot here. Mounted once, unmounted at exit if we mounted it.
tracefs_up() {
	[ -d /sys/kernel/tracing/events ] && return 0
	mount -t tracefs tracefs /sys/kernel/tracing && TRACEFS_MOUNTED=1
}

# bpf_stats_on / bpf_stats_off: kernel.bpf_stats_enabled for this script,
# restored at exit. With the stats on, the kernel reads the clock twice
# around every BPF program run (sched_clock, kvm-clock here): on 2026-12-06
# that was 0.66 -> 1.13 % of all CPU under the hook's dispatch during a
# connstorm (tools/bench/profile.sh), a cost every tracer then pays. So the
# scripts that measure throughput, CPU or a profile turn them off, whatever
# an earlier run (or the user) left on; only the cost scripts turn them on.
bpf_stats_set() {
	[ -n "$BPF_STATS_OLD" ] || BPF_STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -q -w kernel.bpf_stats_enabled="$1"
}
bpf_stats_on() { bpf_stats_set 1; }
bpf_stats_off() { bpf_stats_set 0; }

# ids PID KIND: the BPF prog_id or map_id of every fd process PID holds.
bpf_ids() {
	local pid=$1 kind=$2 f
	for f in /proc/"$pid"/fdinfo/*; do
		awk -v k="$kind" '$1 == k":" {print $2}' "$f" 2>/dev/null
	done | sort -un
}

# wait_attached PID [SECS]: until PID holds a BPF program (loaded; attach
# follows at once), or it exits, or SECS pass. Then settle a little.
wait_attached() {
	local pid=$1 secs=${2:-20} i
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		[ -n "$(bpf_ids "$pid" prog_id | head -1)" ] && { sleep "${SETTLE:-1}"; kill -0 "$pid" 2>/dev/null; return; }
		sleep 0.1
	done
	return 1
}

# need_args MIN "$@": with fewer than MIN arguments, the calling script's
# header comment (down to `set -eu...`) as its usage on stderr, and exit 2.
need_args() {
	local min=$1
	shift
	[ $# -ge "$min" ] && return 0
	sed -n '2,/^set -eu/p' "$BENCH_SCRIPT" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

# ab_args "$@": the A/B scripts' arguments, ROUNDS SECS BINARY...: sets
# ROUNDS, SECS and the array AB_BINS (usage and exit 2 when short).
ab_args() {
	need_args 3 "$@"
	ROUNDS=$1
	SECS=$2
	shift 2
	AB_BINS=("$@")
}

now() { date +%s.%N; }
# elapsed T0 [T1]: seconds between two `now` stamps (T1 defaults to now).
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.4f", b - a }'; }

# busy_pct SECS: % of all CPUs busy over SECS (from /proc/stat), a TAB, and
# the busiest process over that time (comm and % of one CPU).
busy_pct() {
	local secs=${1:-2}
	python3 - "$secs" <<'PY'
import os, time, sys
def cpu():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f), f[3] + f[4]
def procs():
    d = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                s = open("/proc/%s/stat" % p).read()
                r = s.rsplit(")", 1)[1].split()
                d[p] = (s[s.index("(") + 1:s.rindex(")")], int(r[11]) + int(r[12]))
            except (OSError, ValueError, IndexError):
                pass
    return d
secs = float(sys.argv[1]); hz = os.sysconf("SC_CLK_TCK")
t0, i0 = cpu(); p0 = procs(); time.sleep(secs); t1, i1 = cpu(); p1 = procs()
busy = 100.0 * (1 - (i1 - i0) / max(t1 - t0, 1))
top = max(((v[1] - p0.get(k, (0, 0))[1], v[0]) for k, v in p1.items()), default=(0, ""))
print("%.1f\t%s %.0f%%" % (busy, top[1], top[0] / hz / secs * 100))
PY
}
