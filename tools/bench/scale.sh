#!/usr/bin/env bash
# scale.sh - rcleak with N pre-existing loopback connections (N = each SIZE):
#   - time to the first complete output, `rcleak -p PORTS --json -n 1`,
#     next to `ss -tnp` and `lsof -n -P -i` on the same state, in RUNS rounds
#     whose order rotates (rcleak, ss, lsof / ss, lsof, rcleak / ...);
#   - rcleak's RSS (VmRSS, VmHWM) plus the memlock of its BPF maps
#     (`bpftool map show`, the maps whose fds rcleak holds);
#   - CPU per refresh at -i 1 over CPU_SECS: user and system (kernel: the
#     BPF iterator walks run in rcleak's read()) time, as % of one core,
#     per 5 s window.
# The connections: N/1000 holdconns processes of 1000 each, spread
# round-robin over ceil(N/16000) redis-servers (the hard nofile limit here is
# 20000 per process and there is no CAP_SYS_RESOURCE to raise it, so neither
# one client process nor one redis-server can hold more than ~19,900).
# A benchmark, not a test: it asserts nothing.
#
#   [RUNS=5] [CPU_SECS=33] [JSON=FILE] tools/bench/scale.sh [SIZE...]   (10000 50000 100000)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
bpf_stats_off # measured as the host runs (lib.sh: bpf_stats_set)
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 50000 100000)
RUNS=${RUNS:-5}
CPU_SECS=${CPU_SECS:-33}
PER_PROC=${PER_PROC:-1000}
PER_SERVER=${PER_SERVER:-16000}
build_loadgen
ensure_pkg lsof lsof
ensure_pkg bpftool bpftool
ulimit -n "$(ulimit -Hn)"
hz=$(getconf CLK_TCK)
: > "$SCRATCH/scale.jsonl"

for N in "${SIZES[@]}"; do
	nserv=$(( (N + PER_SERVER - 1) / PER_SERVER ))
	nproc=$(( (N + PER_PROC - 1) / PER_PROC ))
	per=$(( (N + nproc - 1) / nproc ))
	maxc=$(( (nproc * per + nserv - 1) / nserv + 100 ))
	ports=(); spids=()
	for _ in $(seq "$nserv"); do
		p=$(free_port); start_redis "$p" "$maxc"; ports+=("$p"); spids+=("$LAST_REDIS_PID")
	done
	plist=$(IFS=,; echo "${ports[*]}")
	t0=$(now)
	"$HOLD" 127.0.0.1 "$plist" "$nproc" "$per" > "$SCRATCH/hold.out" 2> "$SCRATCH/hold.err" & hpid=$!; BG_PIDS+=("$hpid")
	until grep -q READY "$SCRATCH/hold.out" 2>/dev/null; do
		kill -0 "$hpid" 2>/dev/null || { echo "holdconns failed: $(head -3 "$SCRATCH/hold.err")" >&2; exit 1; }
		sleep 0.2
	done
	held=$(awk '{print $2}' "$SCRATCH/hold.out")
	setup=$(elapsed "$t0")
	echo "== $held connections ($nproc processes x $per, $nserv redis-servers: $plist), set up in ${setup}s"
	[ "$held" -eq $((nproc * per)) ] || echo "   (asked for $((nproc * per)); $(head -1 "$SCRATCH/hold.err"))"

	# time to answer, rotating the order each round
	tools=(rcleak ss lsof)
	for r in $(seq "$RUNS"); do
		for k in 0 1 2; do
			t=${tools[$(( (r + k) % 3 ))]}
			out=$SCRATCH/$t.$r.out
			a=$(now)
			case $t in
			rcleak) "$RCLEAK" -p "$plist" --json -n 1 > "$out" ;;
			ss) ss -tnp > "$out" ;;
			lsof) lsof -n -P -i > "$out" 2>/dev/null || true ;;
			esac
			b=$(now)
			case $t in
			rcleak) cnt=$(python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(sum(p["open"] for p in d["processes"] if p["role"]=="client"), sum(s["clients"] for s in d["servers"]))' "$out") ;;
			ss) cnt=$(grep -c -E ":(${plist//,/|})( |$)" "$out" || true) ;;
			lsof) cnt=$(grep -c -E ":(${plist//,/|})( |->|$)" "$out" || true) ;;
			esac
			printf '{"size":%d,"kind":"answer","tool":"%s","run":%d,"seconds":%s,"count":"%s"}\n' \
				"$N" "$t" "$r" "$(elapsed "$a" "$b")" "$cnt" >> "$SCRATCH/scale.jsonl"
			rm -f "$out"
		done
	done

	# memory and CPU per refresh of a live rcleak
	"$RCLEAK" -p "$plist" --json -i 1 -d "$CPU_SECS" > "$SCRATCH/live.jsonl" 2>"$SCRATCH/live.err" & rpid=$!; BG_PIDS+=("$rpid")
	until [ -s "$SCRATCH/live.jsonl" ]; do kill -0 "$rpid" 2>/dev/null || { cat "$SCRATCH/live.err" >&2; exit 1; }; sleep 0.05; done
	sleep 1
	for id in $(bpf_ids "$rpid" map_id); do bpftool -j map show id "$id"; echo; done > "$SCRATCH/maps.jsonl"
	: > "$SCRATCH/cpu.txt"
	end=$(( $(date +%s) + CPU_SECS - 3 ))
	while [ "$(date +%s)" -lt "$end" ] && kill -0 "$rpid" 2>/dev/null; do
		echo "$(now) $(awk '{print $14, $15}' "/proc/$rpid/stat") $(awk '{print $1}' "/proc/$rpid/schedstat") $(awk '/^VmRSS/ {r = $2} /^VmHWM/ {h = $2} END {print r, h}' "/proc/$rpid/status")" >> "$SCRATCH/cpu.txt"
		sleep 1
	done
	wait "$rpid" || true
	python3 - "$N" "$hz" "$SCRATCH/cpu.txt" "$SCRATCH/live.jsonl" "$SCRATCH/maps.jsonl" <<'PY' >> "$SCRATCH/scale.jsonl"
import json, sys
n, hz = int(sys.argv[1]), int(sys.argv[2])
s = [l.split() for l in open(sys.argv[3]) if len(l.split()) >= 6]
maps = [json.loads(x) for x in open(sys.argv[5]) if x.strip()]
allm = sum(m.get("bytes_memlock", 0) for m in maps)  # every map it holds, .rodata and .bss too
win = []
for i in range(0, len(s) - 5, 5):
    a, b = s[i], s[i + 5]
    dt = float(b[0]) - float(a[0])
    win.append({"user_pct": (int(b[1]) - int(a[1])) / hz / dt * 100, "sys_pct": (int(b[2]) - int(a[2])) / hz / dt * 100,
                "total_pct": (int(b[3]) - int(a[3])) / 1e9 / dt * 100})
lines = [json.loads(l) for l in open(sys.argv[4]) if l.strip()]
last = lines[-1] if lines else {}
print(json.dumps({"size": n, "kind": "live", "windows": win,
                  "rss_kib": int(s[-1][4]), "hwm_kib": int(s[-1][5]), "rss_samples_kib": [int(x[4]) for x in s],
                  "maps_all_bytes": allm,
                  "maps": {m.get("name"): m.get("bytes_memlock") for m in maps},
                  "client_open_last": sum(p["open"] for p in last.get("processes", []) if p["role"] == "client"),
                  "refreshes": len(lines)}))
PY
	# the servers close first (their side goes to TIME_WAIT, not the clients'
	# ephemeral ports), then the holders
	for p in "${spids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${spids[@]}"; do wait "$p" 2>/dev/null || true; done
	kill "$hpid" 2>/dev/null || true; wait "$hpid" 2>/dev/null || true
	printf '{"size":%d,"kind":"setup","seconds":%s,"held":%s,"processes":%d,"servers":%d}\n' \
		"$N" "$setup" "$held" "$nproc" "$nserv" >> "$SCRATCH/scale.jsonl"
	python3 - "$SCRATCH/scale.jsonl" "$N" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "tools/bench"))
from stats import summary, text
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
for t in ("rcleak", "ss", "lsof"):
    r = [x for x in rows if x["size"] == n and x["kind"] == "answer" and x["tool"] == t]
    print("   %-6s time to answer %s s   counts %s" % (t, text(summary(x["seconds"] for x in r), "%.3f"), sorted({x["count"] for x in r})))
lv = [x for x in rows if x["size"] == n and x["kind"] == "live"][-1]
w = lv["windows"]
print("   rcleak -i 1: user %s %%, sys %s %% of a core per refresh; RSS %.1f MiB (peak %.1f), BPF maps %.1f MiB" % (
    text(summary(x["user_pct"] for x in w), "%.2f"), text(summary(x["sys_pct"] for x in w), "%.2f"),
    lv["rss_kib"] / 1024, lv["hwm_kib"] / 1024, lv["maps_all_bytes"] / 2**20))
PY
done

python3 - "$SCRATCH/scale.jsonl" "${JSON:-}" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "tools/bench"))
from stats import summary
rows = [json.loads(l) for l in open(sys.argv[1])]
res = {}
for n in sorted({r["size"] for r in rows}):
    e = {}
    for t in ("rcleak", "ss", "lsof"):
        r = [x for x in rows if x["size"] == n and x["kind"] == "answer" and x["tool"] == t]
        e["answer_" + t] = summary((x["seconds"] for x in r), 3)
        e["answer_" + t]["counts"] = sorted({x["count"] for x in r})
    lv = [x for x in rows if x["size"] == n and x["kind"] == "live"][-1]
    w = lv["windows"]
    e["cpu_user_pct"] = summary((x["user_pct"] for x in w), 2)
    e["cpu_sys_pct"] = summary((x["sys_pct"] for x in w), 2)
    e["cpu_total_pct"] = summary((x["total_pct"] for x in w), 2)
    e["rss_mib"] = summary((x / 1024 for x in lv["rss_samples_kib"]), 1)
    e["rss_peak_mib"] = round(lv["hwm_kib"] / 1024, 1)
    e["bpf_maps_mib"] = round(lv["maps_all_bytes"] / 2**20, 1)
    e["bpf_maps"] = lv["maps"]
    e["rss_plus_maps_mib"] = round((lv["hwm_kib"] * 1024 + lv["maps_all_bytes"]) / 2**20, 1)
    e["live_client_open_last"] = lv["client_open_last"]
    e["setup"] = [x for x in rows if x["size"] == n and x["kind"] == "setup"][-1]
    res[str(n)] = e
if sys.argv[2]:
    json.dump(res, open(sys.argv[2], "w"), indent=1)
PY
