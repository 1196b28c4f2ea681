#!/usr/bin/env bash
# loss.sh - does `rcleak record` keep up with the highest event rate this
# machine generates? A connect/PING/close storm (tools/loadgen/connstorm.c)
# for SECS against loopback redis-servers while `rcleak record` runs and a few
# holder processes keep connections open. Then:
#   - lost events (rcleak report --json FILE -> files[0].lost_events) and the
#     events recorded per second;
#   - `opened` per storm process in record's last tick vs the connections
#     connstorm made (ground truth of the event stream);
#   - `open` per process, from record's last tick and from a fresh
#     `rcleak -p PORTS --json -n 1` right after the storm, vs `ss -tanpH`
#     counted per pid (ground truth of the state).
# A benchmark, not a test: it asserts nothing.
#
#   [PINGS=0] [JSON=FILE] tools/bench/loss.sh [SECS] [STORM_PROCS] [SERVERS]     (60, 4, 2)
# PINGS: PINGs per connection (default 0: connect/close, the most events per second)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_root
bpf_stats_off # measured as the host runs (lib.sh: bpf_stats_set)
SECS=${1:-60}
NPROC=${2:-4}
NSERV=${3:-2}
HOLDERS=${HOLDERS:-4}
HOLD_EACH=${HOLD_EACH:-25}
build_loadgen

ports=()
for _ in $(seq "$NSERV"); do p=$(free_port); start_redis "$p" 1000; ports+=("$p"); done
plist=$(IFS=,; echo "${ports[*]}")

"$HOLD" 127.0.0.1 "$plist" "$HOLDERS" "$HOLD_EACH" > "$SCRATCH/hold.out" & BG_PIDS+=($!)
until grep -q READY "$SCRATCH/hold.out" 2>/dev/null; do sleep 0.2; done

# -v: its last line says how many of the runs the kernel skipped (which
# lost_events counts) its twin did
"$RCLEAK" record -v -w "$SCRATCH/loss.rcl" --force -p "$plist" --json > "$SCRATCH/record.jsonl" 2>"$SCRATCH/record.err" &
rec=$!; BG_PIDS+=("$rec")
SETTLE=1.5 wait_attached "$rec" 30 || { cat "$SCRATCH/record.err" >&2; exit 1; }
echo "storm: $NPROC processes, $SECS s, ports $plist; holders: $HOLDERS x $HOLD_EACH connections"
"$STORM" -P "${PINGS:-0}" -d "$SECS" 127.0.0.1 "$plist" "$NPROC" > "$SCRATCH/storm.out"
# right after the storm: ground truth, a fresh rcleak, ground truth again
ss -tanpH > "$SCRATCH/ss1.txt"
t0=$(now)
"$RCLEAK" -p "$plist" --json -n 1 > "$SCRATCH/fresh.json"
t1=$(now)
ss -tanpH > "$SCRATCH/ss2.txt"
sleep 2.2 # two more ticks of record after the storm
kill -INT "$rec"; wait "$rec" || true
"$RCLEAK" report --json "$SCRATCH/loss.rcl" > "$SCRATCH/report.json"

python3 - "$SCRATCH" "$plist" "$SECS" "$(elapsed "$t0" "$t1")" "${JSON:-}" <<'PY'
import json, os, re, sys
sys.path.insert(0, os.path.join(os.getcwd(), "tools/bench"))
from stats import summary
d, plist, secs, fresh_s, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
ports = {int(p) for p in plist.split(",")}

def ss_counts(path):
    """open watched connections per pid (a socket once per pid), like rcleak's open."""
    per = {}
    for line in open(path):
        f = line.split()
        if len(f) < 5 or f[0] == "LISTEN" or f[0] == "TIME-WAIT":
            continue
        lp, rp = int(f[3].rsplit(":", 1)[1]), int(f[4].rsplit(":", 1)[1])
        if lp not in ports and rp not in ports:
            continue
        for pid in set(re.findall(r"pid=(\d+)", line)):
            per[int(pid)] = per.get(int(pid), 0) + 1
    return per

storm = {}
total = None
for line in open(os.path.join(d, "storm.out")):
    f = line.split()
    if f[0] == "CHILD":
        storm[int(f[1])] = int(f[2])
    elif f[0] == "TOTAL":
        total = {"connections": int(f[1]), "seconds": float(f[2]), "per_s": float(f[3]), "errors": int(f[4])}
rep = json.load(open(os.path.join(d, "report.json")))["files"][0]
ticks = [json.loads(l) for l in open(os.path.join(d, "record.jsonl")) if l.strip()]
last = ticks[-1]
fresh = json.loads(open(os.path.join(d, "fresh.json")).read().strip().splitlines()[-1])
ss1, ss2 = ss_counts(os.path.join(d, "ss1.txt")), ss_counts(os.path.join(d, "ss2.txt"))
rec_open = {p["pid"]: p["open"] for p in last["processes"]}
rec_opened = {p["pid"]: p["opened"] for p in last["processes"]}
fresh_open = {p["pid"]: p["open"] for p in fresh["processes"]}
pids = sorted(set(ss1) | set(ss2) | {p for p, v in rec_open.items() if v} | {p for p, v in fresh_open.items() if v})
rows, mism_rec, mism_fresh = [], 0, 0
for p in pids:
    a, b = ss1.get(p, 0), ss2.get(p, 0)
    truth = a if a == b else None
    r, f = rec_open.get(p, 0), fresh_open.get(p, 0)
    if truth is not None:
        mism_rec += r != truth
        mism_fresh += f != truth
    rows.append({"pid": p, "ss": truth if truth is not None else [a, b], "record_last_tick": r, "fresh_n1": f})
opened_rows = [{"pid": p, "connstorm": n, "record_opened": rec_opened.get(p)} for p, n in sorted(storm.items())]
opened_diff = sum(abs((r["record_opened"] or 0) - r["connstorm"]) for r in opened_rows)
m = re.search(r"(\d+) runs the kernel skipped were recovered", open(os.path.join(d, "record.err")).read())
recovered = int(m.group(1)) if m else None
span = rep["end"] - rep["start"]
res = {
    "storm": total, "storm_seconds_requested": secs, "ports": sorted(ports),
    "lost_events": rep["lost_events"], "events_recorded": rep["events"], "twin_recovered_runs": recovered,
    "events_per_s_during_storm": round(rep["events"] / total["seconds"], 1) if total else None,
    "record_live_lost_events": last.get("lost_events"), "record_live_events": last.get("events"),
    "capture_bytes": os.path.getsize(os.path.join(d, "loss.rcl")),
    "open_vs_ss": rows, "open_mismatches_record": mism_rec, "open_mismatches_fresh": mism_fresh,
    "opened_vs_connstorm": opened_rows, "opened_total_abs_diff": opened_diff,
    "fresh_first_line_s": round(fresh_s, 3), "record_hooks": last.get("hooks"), "fresh_hooks": fresh.get("hooks"),
}
print("storm: %d connections in %.1f s = %.0f conn/s (%d errors)" % (total["connections"], total["seconds"], total["per_s"], total["errors"]))
print("record: %d events recorded (%.0f/s), lost_events %d (skipped runs its twin did: %s), capture %.1f MiB" % (
    rep["events"], res["events_per_s_during_storm"], rep["lost_events"],
    "?" if recovered is None else recovered, res["capture_bytes"] / 2**20))
print("opened per storm process, record vs connstorm: total |diff| %d over %d processes" % (opened_diff, len(opened_rows)))
print("open per pid vs ss -tanpH: %d mismatches in record's last tick, %d in a fresh -n 1 (%d pids)" % (mism_rec, mism_fresh, len(rows)))
for r in rows:
    print("  pid %-8d ss %-8s record %-6d fresh %d" % (r["pid"], r["ss"], r["record_last_tick"], r["fresh_n1"]))
if out:
    json.dump(res, open(out, "w"), indent=1)
PY
