#!/usr/bin/env bash
# run-all.sh - the whole benchmark suite (`make bench`), about 15-20 minutes:
#   1. overhead  connect/PING/close storm throughput, tracers vs nothing (ABBA)
#   2. loss      lost events and counts vs ground truth under a 60 s storm
#      skips     record under a storm that makes the kernel skip its hook
#                (RPS in a network namespace): what the twin recovers
#   3. scale     10k/50k/100k pre-existing connections: time to first output
#                (vs ss, lsof), RSS + BPF maps, CPU per refresh
#   4. cost      BPF run_time_ns / run_cnt per program, rcleak vs the others
# Writes bench/results/latest.md and latest.json, plus dated copies, and
# the run's log as latest.log. Asserts nothing: it exits 0 whatever the
# figures are (non-zero only when it could not run at all).
#
#   [QUICK=1] [PARTS="overhead loss skips scale cost"] tools/bench/run-all.sh
# QUICK=1: a few minutes, for trying the scripts (2 pairs, 10 s, 10k only).
set -euo pipefail
source "$(dirname "$0")/lib.sh" # cd to the top, scratch folder removed at exit
[ "$(id -u)" -eq 0 ] || { echo "run-all.sh: needs root (BPF)" >&2; exit 3; }
[ -x "${RCLEAK:-./rcleak}" ] || { echo "run-all.sh: build rcleak first (make)" >&2; exit 1; }
PARTS=${PARTS:-overhead loss skips scale cost}
OUT=bench/results
mkdir -p "$OUT"
work=$SCRATCH
stamp=$(date -u +%Y%m%dT%H%M%SZ)
started=$(date +%s)

if [ -n "${QUICK:-}" ]; then
	OV_PAIRS=2 LOSS_SECS=10 SKIP_ROUNDS=1 SCALE_SIZES="10000" SCALE_RUNS=2 CPU_SECS=13 COST_ROUNDS=2
else
	OV_PAIRS=${OV_PAIRS:-8} LOSS_SECS=${LOSS_SECS:-60} SKIP_ROUNDS=${SKIP_ROUNDS:-5} SCALE_SIZES=${SCALE_SIZES:-"10000 50000 100000"}
	SCALE_RUNS=${SCALE_RUNS:-5} CPU_SECS=${CPU_SECS:-33} COST_ROUNDS=${COST_ROUNDS:-5}
fi

# dependencies, once (each script also checks its own)
build_loadgen
build_hookfloor || true
ensure_pkg redis-server redis-server
ensure_pkg redis-benchmark redis-tools
ensure_pkg /usr/sbin/tcplife libbpf-tools || true
ensure_pkg bpftrace bpftrace || true
ensure_pkg lsof lsof || true
ensure_pkg bpftool bpftool || true

sysctl -n kernel.bpf_stats_enabled > "$work/bpf_stats_before" 2>/dev/null || true
{
	echo "rcleak benchmarks, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), bpf_stats_enabled $(cat "$work/bpf_stats_before") (0 in every part but cost)"
	for part in $PARTS; do
		echo
		bgl=$(busy_pct 2)
		printf '%s\t%s\n' "$part" "$bgl" >> "$work/background.txt"
		echo "== $part ($(date +%H:%M:%S)); other load: ${bgl%%$'\t'*} % of all CPUs busy, busiest ${bgl#*$'\t'}"
		case $part in
		overhead) JSON=$work/overhead.json tools/bench/overhead.sh "$OV_PAIRS" 20000 ;;
		loss) JSON=$work/loss.json tools/bench/loss.sh "$LOSS_SECS" 4 2 ;;
		skips) JSON=$work/skips.json tools/bench/skips.sh "$SKIP_ROUNDS" 6 ;;
		scale) RUNS=$SCALE_RUNS CPU_SECS=$CPU_SECS JSON=$work/scale.json tools/bench/scale.sh $SCALE_SIZES ;;
		cost) JSON=$work/cost.json tools/bench/cost.sh "$COST_ROUNDS" 2 ;;
		*) echo "unknown part $part" ;;
		esac || echo "!! $part failed (exit $?)"
	done
	echo
	echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg); $(( $(date +%s) - started )) s in all"
} 2>&1 | tee "$work/log"

python3 tools/bench/render.py "$work" "$OUT" "$stamp" "$started" "$(( $(date +%s) - started ))"
cp "$work/log" "$OUT/latest.log"
echo
cat "$OUT/latest.md"
echo
echo "written: $OUT/latest.md, $OUT/latest.json, $OUT/latest.log, $OUT/$stamp.md, $OUT/$stamp.json"
