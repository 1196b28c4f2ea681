#!/usr/bin/env bash
# cost.sh - BPF cost per event: with kernel.bpf_stats_enabled=1 (restored at
# the end), each tracer runs through a SECS connect/PING/close storm
# (connstorm) and `bpftool prog show` gives run_time_ns and run_cnt of every
# BPF program whose fd it holds, before and after. Per program: ns per run;
# per tracer: all its BPF time per storm connection. ROUNDS rounds, the
# tracers' order rotating each round. live_raw_tp is rcleak live forced to
# the raw_tp hook tier (--hooks raw_tp): the tier record falls back to when
# its tp_btf program does not load. floor is build/hookfloor, an empty
# tp_btf program on the same hook: what any program there costs. A
# benchmark, not a test. clock is hookfloor --clock: the empty program plus
# one bpf_ktime_get_ns() a run; its ns/run less floor's is what one clock
# read costs here. live_other is rcleak live watching another port than the
# storm's: what it costs the host's other TCP traffic.
#
# bpf_stats reads the clock around every run it measures, and a clock read
# costs about what floor measures: every ns/run figure carries one, which
# the tracer does not pay when the stats are off (as in overhead.sh). And it
# leaves out the dispatch (bpf_trace_run*), which every run does pay. So,
# unless SAMPLE=0, each tracer also runs a second storm with the stats off
# under `perf record -e cpu-clock -a -g`, and the CPU time of the samples
# whose stack holds bpf_trace_run* or trace_call_bpf (tools/bench/hooksamples.py) per storm
# connection is its sampled cost: programs, helpers and dispatch, no stats.
#
#   [MODES="floor clock live live_other live_raw_tp record tcplife tcpstates bpftrace"] [SAMPLE=0] [JSON=FILE] tools/bench/cost.sh [ROUNDS] [SECS]   (5, 2)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
ROUNDS=${1:-5}
SECS=${2:-2}
read -r -a MODES <<< "${MODES:-floor clock live live_other live_raw_tp record tcplife tcpstates bpftrace}"
STORM_PROCS=${STORM_PROCS:-4}
TCPLIFE=${TCPLIFE:-/usr/sbin/tcplife}
TCPSTATES=${TCPSTATES:-/usr/sbin/tcpstates}
build_loadgen
case " ${MODES[*]} " in *" floor "* | *" clock "*) build_hookfloor || true ;; esac
ensure_pkg bpftool bpftool
ensure_pkg "$TCPLIFE" libbpf-tools || true
ensure_pkg bpftrace bpftrace || true
SAMPLE=${SAMPLE:-1}
PERIOD=100000 # ns of CPU a sample stands for (10k samples a second a CPU)
if [ "$SAMPLE" = 1 ] && ! ensure_pkg perf linux-perf; then
	echo "cost.sh: no perf: no sampled cost" >&2
	SAMPLE=0
fi
tracefs_up || true
bpf_stats_on

port=$(free_port)
start_redis "$port" 1000
other_port=$(free_port) # watched by live_other; nothing listens there
: > "$SCRATCH/cost.jsonl"

snap() { # PID -> one JSON line per program it holds
	local id
	for id in $(bpf_ids "$1" prog_id); do bpftool -j prog show id "$id" 2>/dev/null; echo; done
}

for r in $(seq "$ROUNDS"); do
	n=${#MODES[@]}
	for k in $(seq 0 $((n - 1))); do
		m=${MODES[$(( (r + k) % n ))]}
		err=$SCRATCH/$m.err
		case $m in
		floor) "$HOOKFLOOR" 2>"$err" & ;;
		clock) "$HOOKFLOOR" --clock 2>"$err" & ;;
		live) "$RCLEAK" -p "$port" --json -i 1 >/dev/null 2>"$err" & ;;
		live_other) "$RCLEAK" -p "$other_port" --json -i 1 >/dev/null 2>"$err" & ;;
		live_raw_tp) "$RCLEAK" -p "$port" --json -i 1 --hooks raw_tp >/dev/null 2>"$err" & ;;
		record) "$RCLEAK" record -w "$SCRATCH/cost.rcl" --force -p "$port" >/dev/null 2>"$err" & ;;
		tcplife) "$TCPLIFE" >/dev/null 2>"$err" & ;;
		tcpstates) "$TCPSTATES" >/dev/null 2>"$err" & ;;
		bpftrace) bpftrace -e 'tracepoint:sock:inet_sock_set_state { @[pid] = count(); }' >/dev/null 2>"$err" & ;;
		esac
		tp=$!; BG_PIDS+=("$tp")
		if ! SETTLE=1.2 wait_attached "$tp" 30; then
			kill "$tp" 2>/dev/null || true; wait "$tp" 2>/dev/null || true
			printf '{"mode":"%s","round":%d,"error":%s}\n' "$m" "$r" \
				"$(grep -v -e RLIMIT_MEMLOCK -e '^$' "$err" | head -3 | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')" >> "$SCRATCH/cost.jsonl"
			continue
		fi
		snap "$tp" > "$SCRATCH/before"
		conns=$("$STORM" -d "$SECS" 127.0.0.1 "$port" "$STORM_PROCS" | awk '$1 == "TOTAL" {print $2}')
		snap "$tp" > "$SCRATCH/after"
		sampled='{}'
		if [ "$SAMPLE" = 1 ]; then
			sysctl -q -w kernel.bpf_stats_enabled=0
			perf record -q -e cpu-clock -c "$PERIOD" -a -g -o "$SCRATCH/s.perf" -- \
				"$STORM" -d "$SECS" 127.0.0.1 "$port" "$STORM_PROCS" >"$SCRATCH/s.storm" 2>/dev/null || true
			sysctl -q -w kernel.bpf_stats_enabled=1
			sampled=$(perf script -i "$SCRATCH/s.perf" -F ip,sym 2>/dev/null |
				python3 tools/bench/hooksamples.py "$PERIOD" |
				python3 -c 'import json,sys; d=json.load(sys.stdin); d["connections"]=int(sys.argv[1]); print(json.dumps(d))' \
					"$(awk '$1 == "TOTAL" {print $2}' "$SCRATCH/s.storm")") || sampled='{}'
		fi
		kill -INT "$tp"; wait "$tp" 2>/dev/null || true
		python3 - "$m" "$r" "$conns" "$SCRATCH/before" "$SCRATCH/after" "$sampled" >> "$SCRATCH/cost.jsonl" <<'PY'
import json, sys
m, r, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sampled = json.loads(sys.argv[6])
load = lambda p: {d["id"]: d for d in (json.loads(l) for l in open(p) if l.strip())}
b, a = load(sys.argv[4]), load(sys.argv[5])
progs = []
for i, x in a.items():
    y = b.get(i, {})
    dt = x.get("run_time_ns", 0) - y.get("run_time_ns", 0)
    dc = x.get("run_cnt", 0) - y.get("run_cnt", 0)
    progs.append({"name": x.get("name"), "type": x.get("type"), "runs": dc, "ns": dt,
                  "ns_per_run": round(dt / dc, 1) if dc else None})
out = {"mode": m, "round": r, "connections": conns, "progs": progs,
       "bpf_ns_per_connection": round(sum(p["ns"] for p in progs) / max(conns, 1), 1)}
if sampled.get("connections"):
    out["sampled"] = sampled
    out["sampled_ns_per_connection"] = round(sampled["hook_cpu_s"] * 1e9 / sampled["connections"], 1)
print(json.dumps(out))
PY
	done
done

python3 - "$SCRATCH/cost.jsonl" "${JSON:-}" "${MODES[*]}" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "tools/bench"))
from stats import summary, text
rows = [json.loads(l) for l in open(sys.argv[1])]
res = {}
for m in sys.argv[3].split():
    r = [x for x in rows if x["mode"] == m]
    ok = [x for x in r if "progs" in x]
    e = {"error": next((x["error"] for x in r if "error" in x), None) if not ok else None, "progs": {}}
    for x in ok:
        for p in x["progs"]:
            e["progs"].setdefault(p["name"], {"type": p["type"], "ns_per_run": [], "runs_per_connection": []})
            if p["ns_per_run"] is not None:
                e["progs"][p["name"]]["ns_per_run"].append(p["ns_per_run"])
            e["progs"][p["name"]]["runs_per_connection"].append(p["runs"] / max(x["connections"], 1))
    for name, p in e["progs"].items():
        p["ns_per_run"] = summary(p["ns_per_run"], 1)
        p["runs_per_connection"] = summary(p["runs_per_connection"], 2)
    e["bpf_ns_per_connection"] = summary((x["bpf_ns_per_connection"] for x in ok), 1)
    e["sampled_ns_per_connection"] = summary((x["sampled_ns_per_connection"] for x in ok
                                              if "sampled_ns_per_connection" in x), 1)
    res[m] = e
    if not ok:
        print("%-9s n/a: %s" % (m, e["error"]))
        continue
    print("%-9s BPF ns per storm connection %s; sampled, stats off, dispatch included: %s" % (
        m, text(e["bpf_ns_per_connection"], "%.0f"), text(e["sampled_ns_per_connection"], "%.0f")))
    for name, p in sorted(e["progs"].items()):
        print("          %-16s %-10s ns/run %s, runs/connection %s" % (name, p["type"], text(p["ns_per_run"], "%.0f"), text(p["runs_per_connection"], "%.2f")))
if sys.argv[2]:
    json.dump(res, open(sys.argv[2], "w"), indent=1)
PY
