#!/usr/bin/env bash
# overhead.sh - throughput of a connect/PING/close storm against a loopback
# redis-server with nothing attached vs with a tracer attached, in
# interleaved A/B pairs (ABBA: odd pairs measure "nothing" first, even pairs
# the tracer first). Each pair runs every generator in GENS under both
# conditions. Prints each pair and the median and min–max ratio tracer/nothing
# of throughput, and of CPU per connection (generator + redis-server +
# tracer CPU time / connections; nothing / tracer), which other load on the
# machine disturbs far less than throughput.
# A benchmark, not a test: it asserts nothing.
#
#   [MODES="floor live record tcplife tcpstates bpftrace"] [GENS="redis-benchmark connstorm"]
#   [JSON=FILE] tools/bench/overhead.sh [PAIRS] [REQUESTS]          (6, 20000)
#
# Tracers (MODES):
#   floor     build/hookfloor: an empty tp_btf program on rcleak's hook, the
#             cost of being attached at all (tools/bench/hookfloor.c)
#   live      ./rcleak -p PORT --json -i 1 > /dev/null
#   record    ./rcleak record -w FILE --force -p PORT   (+ lost events, bytes/event)
#   tcplife   /usr/sbin/tcplife > /dev/null               (libbpf-tools)
#   tcpstates /usr/sbin/tcpstates > /dev/null             (libbpf-tools)
#   bpftrace  bpftrace -e 'tracepoint:sock:inet_sock_set_state { @[pid] = count(); }'
# libbpf-tools and bpftrace run unfiltered (every TCP socket of the host; the
# storm is nearly all of it here). They need tracefs, mounted if absent and
# unmounted at the end. A tracer that cannot run is reported n/a with its error.
# Generators (GENS):
#   redis-benchmark  -c 50 -n REQUESTS -k 0 -t ping_inline
#   connstorm        tools/loadgen/connstorm.c: STORM_PROCS processes (4)
#                    connect/PING/close with SO_LINGER 0 for STORM_SECS (3)
# MODE=record (one tracer) is still accepted, as before.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
bpf_stats_off # measured as the host runs (lib.sh: bpf_stats_set)
PAIRS=${1:-6}
N=${2:-20000}
MODES=${MODES:-${MODE:-floor live record tcplife tcpstates bpftrace}}
GENS=${GENS:-redis-benchmark connstorm}
STORM_SECS=${STORM_SECS:-3}
STORM_PROCS=${STORM_PROCS:-4}
TCPLIFE=${TCPLIFE:-/usr/sbin/tcplife}
TCPSTATES=${TCPSTATES:-/usr/sbin/tcpstates}
build_loadgen
case " $MODES " in *" floor "*) build_hookfloor || true ;; esac
ensure_pkg redis-benchmark redis-tools
case " $MODES " in *" tcplife "* | *" tcpstates "*) ensure_pkg "$TCPLIFE" libbpf-tools || true ;; esac
case " $MODES " in *" bpftrace "*) ensure_pkg bpftrace bpftrace || true ;; esac
case " $MODES " in *" tcplife "* | *" tcpstates "* | *" bpftrace "*) tracefs_up || true ;; esac

port=$(free_port)
start_redis "$port" 1000
redis_pid=$LAST_REDIS_PID
RAW=$SCRATCH/overhead.tsv
: > "$RAW"

cpu_ns() { awk '{print $1}' "/proc/$1/schedstat" 2>/dev/null || echo 0; }
# storm GEN -> "conn/s connections cpu_s tracer_s": cpu_s is the CPU time
# of the generator (and its children), the redis-server and the tracer over
# the storm; tracer_s the tracer's own share (its process, not its BPF
# programs, which run in the tasks they trace). Loopback softirq work runs
# in the sending task here (no IRQ_TIME_ACCOUNTING), so it counts too. CPU
# per connection is much less disturbed than throughput by other load on
# the machine.
storm() {
	local r0 t0=0 r1 t1=0 out
	r0=$(cpu_ns "$redis_pid"); [ -n "$tool_pid" ] && t0=$(cpu_ns "$tool_pid")
	out=$(
		case $1 in
		redis-benchmark)
			redis-benchmark -p "$port" -c 50 -n "$N" -k 0 -t ping_inline --csv 2>/dev/null |
				awk -F'"' -v n="$N" '/PING_INLINE/ {print $4, n}' ;;
		connstorm)
			"$STORM" -d "$STORM_SECS" 127.0.0.1 "$port" "$STORM_PROCS" | awk '$1 == "TOTAL" {print $4, $2}' ;;
		esac
		# CPU of this subshell's children: the generator. Not `times | tail`:
		# a builtin in a pipeline runs in a fork, whose children's times are 0
		times > "$SCRATCH/times"
		tail -1 "$SCRATCH/times"
	)
	r1=$(cpu_ns "$redis_pid"); [ -n "$tool_pid" ] && t1=$(cpu_ns "$tool_pid")
	printf '%s\n' "$out" | awk -v d=$(( r1 - r0 + t1 - t0 )) -v td=$(( t1 - t0 )) '
		function sec(x, a) { sub(/s$/, "", x); split(x, a, "m"); return a[1] * 60 + a[2] }
		NR == 1 { rate = $1; n = $2 } NR == 2 { cpu = sec($1) + sec($2) }
		END { if (rate == "") print "nan nan nan nan"; else printf "%s %s %.6f %.6f\n", rate, n, cpu + d / 1e9, td / 1e9 }'
}

tool_pid=
start_tool() { # MODE -> tool_pid, 0 once attached
	local m=$1 err=$SCRATCH/$1.err
	case $m in
	floor) "$HOOKFLOOR" 2>"$err" & ;;
	live) "$RCLEAK" -p "$port" --json -i 1 >/dev/null 2>"$err" & ;;
	record) "$RCLEAK" record -w "$SCRATCH/bench.rcl" --force -p "$port" >/dev/null 2>"$err" & ;;
	tcplife) "$TCPLIFE" >/dev/null 2>"$err" & ;;
	tcpstates) "$TCPSTATES" >/dev/null 2>"$err" & ;;
	bpftrace) bpftrace -e 'tracepoint:sock:inet_sock_set_state { @[pid] = count(); }' \
		>"$SCRATCH/bpftrace.out" 2>"$err" & ;;
	*) echo "unknown mode $m" >"$err"; return 1 ;;
	esac
	tool_pid=$!
	BG_PIDS+=("$tool_pid")
	SETTLE=1.5 wait_attached "$tool_pid" 30 # rcleak: past its snapshot and first walk
}
stop_tool() {
	kill -INT "$tool_pid" 2>/dev/null || true
	wait "$tool_pid" 2>/dev/null || true
	tool_pid=
}
tool_error() { # the first lines the tool printed on stderr (its error)
	grep -v -e 'RLIMIT_MEMLOCK' -e '^$' "$SCRATCH/$1.err" 2>/dev/null | head -4 | tr '\n' ' ' | cut -c1-400
}

declare -A na
run_gens() { # LABEL MODE PAIR: one storm per generator
	local g v
	for g in $GENS; do
		read -r v n c tc < <(storm "$g")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$g" "$3" "$1" "${v:-nan}" "${n:-nan}" "${c:-nan}" "${tc:-nan}" >> "$RAW"
	done
}
printf '%-9s %-15s %4s  %10s  %10s  %-6s   %8s  %8s  %s\n' mode generator pair none/s tracer/s ratio "none us" "tracer us" "cpu ratio"
for m in $MODES; do
	for i in $(seq "$PAIRS"); do
		[ $((i % 2)) -eq 1 ] && run_gens none "$m" "$i"
		if ! start_tool "$m"; then
			rc=0
			kill "$tool_pid" 2>/dev/null || true
			wait "$tool_pid" 2>/dev/null || rc=$?
			na[$m]="exit $rc: $(tool_error "$m")"
			echo "$m: cannot run here: ${na[$m]}"
			tool_pid=
			break
		fi
		run_gens tool "$m" "$i"
		if ! kill -0 "$tool_pid" 2>/dev/null; then
			na[$m]="died during the storm: $(tool_error "$m")"
			echo "$m: ${na[$m]}"
			break
		fi
		stop_tool
		if [ "$m" = record ]; then
			"$RCLEAK" report --json "$SCRATCH/bench.rcl" | python3 -c '
import json, os, sys
d = json.load(sys.stdin)["files"][0]
size = os.path.getsize(sys.argv[1])
print("record\t%s\t%d\t%d\t%d" % (sys.argv[2], d["events"], d["lost_events"], size))' "$SCRATCH/bench.rcl" "$i" >> "$RAW.rec"
		fi
		[ $((i % 2)) -eq 0 ] && run_gens none "$m" "$i"
		for g in $GENS; do
			awk -F'\t' -v m="$m" -v g="$g" -v i="$i" '$1 == m && $2 == g && $3 == i { v[$4] = $5; c[$4] = $7 / $6 * 1e6 }
				END { printf "%-9s %-15s %4d  %10.0f  %10.0f  %.4f   %8.1f  %8.1f  %.4f\n", m, g, i,
					v["none"], v["tool"], v["tool"] / v["none"], c["none"], c["tool"], c["none"] / c["tool"] }' "$RAW"
		done
	done
done
for m in "${!na[@]}"; do printf 'na\t%s\t%s\n' "$m" "${na[$m]}" >> "$RAW.na"; done

python3 - "$RAW" "$MODES" "$GENS" "${JSON:-}" "$N" "$STORM_SECS" "$STORM_PROCS" "$PAIRS" <<'PY'
import json, math, sys, os
sys.path.insert(0, os.path.join(os.getcwd(), "tools/bench"))
from stats import summary, text
raw, modes, gens, out = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]
rows = [l.rstrip("\n").split("\t") for l in open(raw)]
na = {}
if os.path.exists(raw + ".na"):
    for l in open(raw + ".na"):
        _, m, e = l.rstrip("\n").split("\t", 2)
        na[m] = e
rec = [l.split("\t") for l in open(raw + ".rec")] if os.path.exists(raw + ".rec") else []
res = {"pairs_requested": int(sys.argv[8]), "generators": {
    "redis-benchmark": "redis-benchmark -c 50 -n %s -k 0 -t ping_inline" % sys.argv[5],
    "connstorm": "connstorm -d %s 127.0.0.1 PORT %s (connect/PING/close, SO_LINGER 0)" % (sys.argv[6], sys.argv[7])},
    "modes": {}}
print()
for m in modes:
    res["modes"][m] = {}
    for g in gens:
        v = {}
        for mm, gg, i, label, x, n, c, tc in rows:
            if mm == m and gg == g:
                try:
                    f, us, tus = float(x), float(c) / float(n) * 1e6, float(tc) / float(n) * 1e6
                except (ValueError, ZeroDivisionError):
                    f, us, tus = math.nan, math.nan, math.nan
                v.setdefault(int(i), {})[label] = f
                v[int(i)][label + "_us"] = us
                v[int(i)][label + "_own_us"] = tus
        pairs = [(i, p["none"], p["tool"]) for i, p in sorted(v.items())
                 if "none" in p and "tool" in p and p["none"] > 0 and not math.isnan(p["tool"])]
        cp = [(i, p["none_us"], p["tool_us"]) for i, p in sorted(v.items())
              if p.get("none_us", 0) > 0 and p.get("tool_us", 0) > 0]
        r = {"pairs": [{"pair": i, "none": a, "tracer": b, "ratio": round(b / a, 4),
                        "cpu_us_none": round(v[i]["none_us"], 2), "cpu_us_tracer": round(v[i]["tool_us"], 2)} for i, a, b in pairs],
             "ratio": summary(b / a for _, a, b in pairs),
             "cpu_us_per_conn_none": summary((a for _, a, _ in cp), 2),
             "cpu_us_per_conn_tracer": summary((b for _, _, b in cp), 2),
             "cpu_ratio": summary(a / b for _, a, b in cp),
             "tracer_own_us_per_conn": summary((p["tool_own_us"] for p in v.values()
                                                if not math.isnan(p.get("tool_own_us", math.nan))), 3),
             "none_per_s": summary((a for _, a, _ in pairs), 1),
             "tracer_per_s": summary((b for _, _, b in pairs), 1),
             "error": na.get(m)}
        if m == "record" and rec:
            r["record"] = {"lost_events": summary(int(x[3]) for x in rec),
                           "events": summary(int(x[2]) for x in rec),
                           "bytes_per_event": summary((int(x[4]) / max(int(x[2]), 1) for x in rec), 2)}
        res["modes"][m][g] = r
        print("%-9s %-15s ratio %s   CPU/conn ratio %s%s" % (m, g, text(r["ratio"]), text(r["cpu_ratio"]),
              ("   n/a: " + na[m]) if m in na and not pairs else ""))
    if m == "record" and rec:
        print("          record (one capture per pair, every generator): lost events %s, bytes/event %s" % (
            text(res["modes"][m][gens[0]]["record"]["lost_events"], "%.0f"),
            text(res["modes"][m][gens[0]]["record"]["bytes_per_event"], "%.1f")))
if out:
    json.dump(res, open(out, "w"), indent=1)
PY
