#!/usr/bin/env python3
"""render.py - join the parts' JSON into bench/results/latest.{json,md} and
dated copies. Called by run-all.sh:

    render.py WORKDIR OUTDIR STAMP STARTED_EPOCH DURATION_S

WORKDIR holds overhead.json, loss.json, skips.json, scale.json, cost.json (any may be
missing: that part is reported as not run). Every figure is median (min–max).
"""
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import summary, text  # noqa: E402

work, outdir, stamp, started, duration = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])


def load(name):
    p = os.path.join(work, name + ".json")
    return json.load(open(p)) if os.path.exists(p) else None


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return ""


def mem_total_gib():
    for l in open("/proc/meminfo"):
        if l.startswith("MemTotal:"):
            return round(int(l.split()[1]) / 2**20, 1)
    return None


machine = {
    "nproc": os.cpu_count(),
    "memory_gib": mem_total_gib(),
    "kernel": platform.release(),
    "date": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
    "duration_s": duration,
    "git": sh("git rev-parse --short HEAD") + (" (with uncommitted changes)" if sh("git status --porcelain --untracked-files=no") else ""),
    "rcleak": sh("./rcleak -V"),
    "redis": sh("redis-server --version").split(" sha=")[0],
    "libbpf_tools": sh("dpkg-query -W -f='${Version}' libbpf-tools"),
    "bpftrace": sh("dpkg-query -W -f='${Version}' bpftrace"),
    "nofile_hard": sh("bash -c 'ulimit -Hn'"),
    # as found (run-all.sh); every part but cost runs with the stats off
    "bpf_stats_enabled_before": (open(os.path.join(work, "bpf_stats_before")).read().strip()
                                 if os.path.exists(os.path.join(work, "bpf_stats_before")) else None),
}
res = {"machine": machine, "overhead": load("overhead"), "loss": load("loss"), "skips": load("skips"),
       "scale": load("scale"),
       "cost": load("cost"), "targets": []}

T = res["targets"]


def target(name, value, goal, met, unit=""):
    T.append({"what": name, "value": value, "target": goal, "met": met})
    return "met" if met else ("**MISSED**" if met is not None else "n/a")


md = []
m = machine
md.append("# rcleak benchmarks\n")
md.append("Machine: %d CPUs, %.1f GiB, kernel %s, %s; rcleak %s (git %s); %s; libbpf-tools %s, bpftrace %s. "
          "Run took %d s. Loopback only. Other test runs may share the machine: every figure is "
          "**median (min–max, n samples)**, tracer/nothing runs in interleaved ABBA pairs. "
          "`kernel.bpf_stats_enabled` was %s before the run; every part but 4 ran with it 0 (the stats read "
          "the clock around every BPF run, a cost every tracer would pay).\n" % (
              m["nproc"], m["memory_gib"] or 0, m["kernel"], m["date"], m["rcleak"], m["git"], m["redis"],
              m["libbpf_tools"] or "-", m["bpftrace"] or "-", duration, m["bpf_stats_enabled_before"] or "?"))

# ---- 1. overhead ---------------------------------------------------------
ov = res["overhead"]
bg = {}
bgp = os.path.join(work, "background.txt")
if os.path.exists(bgp):
    for l in open(bgp):
        part, pct, top = (l.rstrip("\n").split("\t") + ["", ""])[:3]
        bg[part] = {"busy_pct": float(pct), "top": top}
res["machine"]["background_before_each_part"] = bg
if bg:
    md.append("Other load on the machine, sampled for 2 s before each part with nothing of the benchmark running "
              "(%% of all CPUs busy; busiest process): %s.\n" % "; ".join(
                  "%s %.0f %% (%s)" % (k, v["busy_pct"], v["top"] or "-") for k, v in bg.items()))

md.append("## 1. Overhead: connect/PING/close storm throughput, tracer attached / nothing\n")
if not ov:
    md.append("not run\n")
else:
    md.append("Generators: `%s`; `%s` (tools/loadgen/connstorm.c). %d pairs per tracer.\n" % (
        ov["generators"]["redis-benchmark"], ov["generators"]["connstorm"], ov["pairs_requested"]))
    md.append("Throughput ratio = conn/s attached / conn/s nothing. CPU-per-connection ratio = CPU µs per connection "
              "nothing / attached, where CPU is the generator's, the redis-server's and the tracer's own (loopback softirq "
              "work is charged to the sending task on this kernel): it is far less disturbed by other load on the "
              "machine than throughput, and equals the throughput ratio on a CPU-bound, otherwise idle machine. "
              "The floor is a tp_btf program that does nothing, on the tracepoint rcleak's lifecycle program uses "
              "(`sock:inet_sock_set_state`): what any tool attached there pays.\n")
    md.append("| tracer | generator | throughput ratio | CPU-per-connection ratio | conn/s, nothing → attached | CPU µs/conn, nothing → attached | target | |")
    md.append("|---|---|---|---|---|---|---|---|")
    goals = {"live": 0.99, "record": 0.97}
    names = {"floor": "empty program on rcleak's hook (`build/hookfloor`: the floor)",
             "live": "rcleak live (`--json -i 1 > /dev/null`)", "record": "rcleak record (`-w FILE --force`)",
             "tcplife": "libbpf-tools `tcplife`", "tcpstates": "libbpf-tools `tcpstates`",
             "bpftrace": "bpftrace count per pid on `sock:inet_sock_set_state`"}
    for mode, gens in ov["modes"].items():
        for g, r in gens.items():
            if not r["ratio"]["n"]:
                md.append("| %s | %s | n/a: %s | | | | | |" % (names.get(mode, mode), g, (r.get("error") or "no data").replace("|", "/")))
                continue
            goal = goals.get(mode)
            st = ""
            cr = r.get("cpu_ratio") or {"n": 0}
            if goal:
                st = target("overhead %s, %s: throughput ratio" % (mode, g), r["ratio"]["median"], ">= %.2f" % goal,
                            r["ratio"]["median"] >= goal)
                if cr["n"]:
                    st += " (CPU ratio: %s)" % target("overhead %s, %s: CPU-per-connection ratio" % (mode, g),
                                                      cr["median"], ">= %.2f" % goal, cr["median"] >= goal)
            md.append("| %s | %s | %s | %s | %s → %s | %s → %s | %s | %s |" % (
                names.get(mode, mode), g, text(r["ratio"], "%.3f"), text(cr, "%.3f"),
                text(r["none_per_s"], "%.0f"), text(r["tracer_per_s"], "%.0f"),
                text(r.get("cpu_us_per_conn_none"), "%.1f"), text(r.get("cpu_us_per_conn_tracer"), "%.1f"),
                ">= %.2f" % goal if goal else "", st))
    rec = ov["modes"].get("record", {})
    for g, r in rec.items():
        if r.get("record"):
            # one recorder per pair, attached through every generator's storm
            md.append("\nrecord, one capture per pair over the storms of %s: lost events %s; %s events per "
                      "capture; %s bytes/event." % (
                          " and ".join("`%s`" % x for x in rec), text(r["record"]["lost_events"], "%.0f"),
                          text(r["record"]["events"], "%.0f"), text(r["record"]["bytes_per_event"], "%.1f")))
            break
    md.append("")

# ---- 1b. direct cost: what the throughput ratio should be without noise ---
co = res["cost"]
if ov and co:
    md.append("### Direct cost per connection, and the ratio it predicts\n")
    md.append("Throughput ratios above move by several per cent from run to run here, more than the "
              "targets' margins. The direct cost does not: BPF time per connection (section 4, "
              "`bpf_stats`) plus the tracer process's own CPU per connection (this section's runs). Against "
              "the CPU a connection costs with nothing attached (median of every \"nothing\" run), it "
              "predicts the ratio on a CPU-bound machine with no other load; cache and scheduling effects "
              "on the traced tasks are not in it. Budget: the cost per connection a target allows.\n")
    md.append("Sampled: the same with section 4's sampled cost in place of bpf_stats' (the stats' clock reads "
              "out, the dispatch in).\n")
    md.append("| tracer | generator | BPF µs/conn | tracer's own CPU µs/conn | CPU µs/conn, nothing | predicted ratio | sampled BPF µs/conn → predicted ratio | target | budget µs/conn |")
    md.append("|---|---|---|---|---|---|---|---|---|")
    res["direct_cost"] = {}
    for mode, e in co.items():
        if mode not in ov["modes"] or not e.get("bpf_ns_per_connection", {}).get("n"):
            continue
        bpf_us = e["bpf_ns_per_connection"]["median"] / 1000
        for g, r in ov["modes"][mode].items():
            nothing = [p["cpu_us_none"] for mm in ov["modes"].values() for p in mm.get(g, {}).get("pairs", [])]
            own = (r.get("tracer_own_us_per_conn") or {}).get("median")
            if not nothing or own is None:
                continue
            base = statistics.median(nothing)
            pred = base / (base + bpf_us + own)
            goal = goals.get(mode)
            dc = {"bpf_us_per_conn": round(bpf_us, 3), "own_us_per_conn": own,
                  "nothing_us_per_conn": round(base, 2), "predicted_ratio": round(pred, 4)}
            sampled = "n/a"
            if (e.get("sampled_ns_per_connection") or {}).get("n"):
                s_us = e["sampled_ns_per_connection"]["median"] / 1000
                dc["sampled_bpf_us_per_conn"] = round(s_us, 3)
                dc["sampled_predicted_ratio"] = round(base / (base + s_us + own), 4)
                sampled = "%.2f → %.3f" % (s_us, dc["sampled_predicted_ratio"])
            res["direct_cost"].setdefault(mode, {})[g] = dc
            md.append("| %s | %s | %.2f | %.2f | %.1f | %.3f | %s | %s | %s |" % (
                names.get(mode, mode), g, bpf_us, own, base, pred, sampled, ">= %.2f" % goal if goal else "",
                "%.2f" % (base * (1 / goal - 1)) if goal else ""))
    md.append("")

# ---- 2. loss -------------------------------------------------------------
lo = res["loss"]
md.append("## 2. Loss: `rcleak record` under the highest event rate (connstorm)\n")
if not lo:
    md.append("not run\n")
else:
    s = lo["storm"]
    md.append("Storm: %d connections in %.1f s = %.0f conn/s (%d errors), against redis-servers on ports %s, "
              "while 4 holder processes keep connections. record's lifecycle hook: %s.\n" % (
                  s["connections"], s["seconds"], s["per_s"], s["errors"], ",".join(map(str, lo["ports"])),
                  (lo.get("record_hooks") or {}).get("lifecycle", "?")))
    md.append("| figure | value | target | |")
    md.append("|---|---|---|---|")
    md.append("| events recorded | %d (%.0f/s during the storm) | | |" % (lo["events_recorded"], lo["events_per_s_during_storm"]))
    md.append("| lost events (`report --json` files[0].lost_events) | %d | 0 | %s |" % (
        lo["lost_events"], target("loss: lost events", lo["lost_events"], "0", lo["lost_events"] == 0)))
    if lo.get("twin_recovered_runs") is not None:
        md.append("| runs the kernel skipped (one nested in another on a CPU; counted in lost events) that record's twin did, so in the capture | %d | | |"
                  % lo["twin_recovered_runs"])
    md.append("| `opened` per storm process vs connections connstorm made, total abs. difference | %d over %d processes | 0 | %s |" % (
        lo["opened_total_abs_diff"], len(lo["opened_vs_connstorm"]),
        target("loss: opened vs connstorm", lo["opened_total_abs_diff"], "0", lo["opened_total_abs_diff"] == 0)))
    md.append("| `open` per pid vs `ss -tanpH`, record's last tick: pids that differ | %d of %d | 0 | %s |" % (
        lo["open_mismatches_record"], len(lo["open_vs_ss"]),
        target("loss: open vs ss (record)", lo["open_mismatches_record"], "0", lo["open_mismatches_record"] == 0)))
    md.append("| `open` per pid vs `ss -tanpH`, fresh `rcleak --json -n 1`: pids that differ | %d of %d | 0 | %s |" % (
        lo["open_mismatches_fresh"], len(lo["open_vs_ss"]),
        target("loss: open vs ss (fresh -n 1)", lo["open_mismatches_fresh"], "0", lo["open_mismatches_fresh"] == 0)))
    md.append("| capture file | %.1f MiB | | |" % (lo["capture_bytes"] / 2**20))
    md.append("")
    md.append("| pid | ss -tanpH | record, last tick | fresh -n 1 |")
    md.append("|---|---|---|---|")
    for r in lo["open_vs_ss"]:
        md.append("| %d | %s | %d | %d |" % (r["pid"], r["ss"], r["record_last_tick"], r["fresh_n1"]))
    md.append("")

# ---- 2b. skipped runs (RPS) ------------------------------------------------
sk = res["skips"]
md.append("### Loss when the kernel skips the hook\n")
if not sk or not sk.get("runs"):
    md.append("not run\n")
else:
    runs = sk["runs"]

    def col(f):
        return [f(r) for r in runs]
    md.append("A network namespace with Receive Packet Steering on its loopback, so that the other CPU's softirq "
              "interrupts the hook as a NIC's interrupts do; a %.0f s connect/close storm there (`tools/bench/skips.sh`), "
              "`rcleak record` on the host. The kernel skips a run of the lifecycle program that is already running on "
              "that CPU; record's twin program does most of them again. Missing: handshakes (SYN_SENT->ESTABLISHED) and "
              "accepts the capture lacks, against the namespace's TcpActiveOpens and TcpPassiveOpens. `lost_events` "
              "is the kernel's count of skipped runs; state changes that reach no program without a skip counted "
              "are in no count, so more can be missing than it says.\n" % sk["secs"])
    md.append("| figure | value |")
    md.append("|---|---|")
    md.append("| connections per run | %s |" % text(summary(col(lambda r: r["connections"])), "%.0f"))
    md.append("| lifecycle runs the kernel skipped | %s |" % text(summary(col(lambda r: r["skipped"])), "%.0f"))
    md.append("| of which the twin did | %s |" % text(summary(col(lambda r: r["twin_did"] or 0)), "%.0f"))
    md.append("| lost_events reported | %s |" % text(summary(col(lambda r: r["lost_events"])), "%.0f"))
    md.append("| handshakes + accepts missing from the capture | %s |" % text(
        summary(col(lambda r: r["missing_handshakes"] + r["missing_accepts"])), "%.0f"))
    md.append("| same, %% of the skipped runs | %s |" % text(
        summary(col(lambda r: 100.0 * (r["missing_handshakes"] + r["missing_accepts"]) / max(r["skipped"], 1))), "%.1f"))
    md.append("| same, %% of the connections | %s |" % text(
        summary(col(lambda r: 100.0 * (r["missing_handshakes"] + r["missing_accepts"]) / max(r["connections"], 1))), "%.2f"))
    if all("undelivered" in r for r in runs):
        md.append("| of those, delivered by the hook to no program and counted nowhere (an independent "
                  "`build/hookfloor --count` on the hook did not see them either) | %s |"
                  % text(summary(col(lambda r: r["undelivered"])), "%.0f"))
        md.append("| missing beyond those: rcleak's own loss | %s |" % text(summary(col(
            lambda r: max(0, r["missing_handshakes"] + r["missing_accepts"] - r["undelivered"]))), "%.0f"))
    md.append("")

# ---- 3. scale ------------------------------------------------------------
sc = res["scale"]
md.append("## 3. Scale: pre-existing loopback connections\n")
if not sc:
    md.append("not run\n")
else:
    md.append("Connections held by N/1000 `holdconns` processes over ceil(N/16000) redis-servers: the hard "
              "nofile limit is %s per process and there is no CAP_SYS_RESOURCE to raise it, so neither one client "
              "process nor one redis-server can hold more than ~19,900 (each connection is 2 sockets: 200k at 100k). "
              "Time to answer: %s rounds, order rotated each round; `ss -tnp` and `lsof -n -P -i` list every TCP "
              "socket of the host. CPU: `rcleak -i 1` per 5 s window, %% of one core; sys is the kernel side "
              "(the BPF iterator walks run in rcleak's read()).\n" % (m["nofile_hard"], next(iter(sc.values()))["answer_rcleak"]["n"]))
    md.append("| connections | rcleak first output (s) | `ss -tnp` (s) | `lsof -n -P -i` (s) | rcleak RSS (MiB) | BPF maps (MiB) | RSS peak + maps (MiB) | user CPU / refresh (%) | sys CPU / refresh (%) | setup |")
    md.append("|---|---|---|---|---|---|---|---|---|---|")
    for n, e in sorted(sc.items(), key=lambda kv: int(kv[0])):
        md.append("| %s | %s | %s | %s | %s | %.1f | %.1f | %s | %s | %d procs, %d servers, %.0f s |" % (
            format(int(n), ","), text(e["answer_rcleak"], "%.3f"), text(e["answer_ss"], "%.2f"),
            text(e["answer_lsof"], "%.2f"), text(e["rss_mib"], "%.1f"), e["bpf_maps_mib"], e["rss_plus_maps_mib"],
            text(e["cpu_user_pct"], "%.2f"), text(e["cpu_sys_pct"], "%.2f"),
            e["setup"]["processes"], e["setup"]["servers"], e["setup"]["seconds"]))
    md.append("")
    md.append("| target | value | |")
    md.append("|---|---|---|")
    big = str(max(int(k) for k in sc))
    e = sc[big]
    md.append("| first complete output < 1 s at %s | %.3f s | %s |" % (format(int(big), ","), e["answer_rcleak"]["median"],
              target("scale: first output at %s" % big, e["answer_rcleak"]["median"], "< 1 s", e["answer_rcleak"]["median"] < 1)))
    md.append("| RSS + BPF maps < 64 MiB at %s | %.1f MiB | %s |" % (format(int(big), ","), e["rss_plus_maps_mib"],
              target("scale: RSS + maps at %s" % big, e["rss_plus_maps_mib"], "< 64 MiB", e["rss_plus_maps_mib"] < 64)))
    for n, e in sorted(sc.items(), key=lambda kv: int(kv[0])):
        u = e["cpu_user_pct"]["median"]
        md.append("| user CPU per 1 s refresh < 2 %% at %s | %.2f %% | %s |" % (format(int(n), ","), u if u is not None else -1,
                  target("scale: user CPU at %s" % n, u, "< 2 %", (u < 2) if u is not None else None)))
    md.append("\nBPF maps at %s (memlock bytes): %s.\n" % (format(int(big), ","), ", ".join(
        "%s %s" % (k, format(v, ",")) for k, v in sorted(sc[big]["bpf_maps"].items()))))

# ---- 4. cost -------------------------------------------------------------
co = res["cost"]
md.append("## 4. Cost per event: `bpftool prog show` run_time_ns / run_cnt (kernel.bpf_stats_enabled=1, reset after)\n")
if not co:
    md.append("not run\n")
else:
    md.append("Each tracer through a 2 s connstorm; the order rotates each round. runs per connection include any "
              "other TCP traffic on the host during the storm. bpf_stats reads the clock around every run it "
              "measures (one read is about the floor's whole figure) and leaves out the dispatch "
              "(`bpf_trace_run*`, `trace_call_bpf` on the classic tracepoint): the last column is a second storm "
              "per round with the stats off under `perf record -e cpu-clock -a -g`, the CPU of the samples "
              "whose stack holds the dispatch per connection "
              "(`tools/bench/hooksamples.py`): programs, helpers and dispatch, no stats; other BPF programs on "
              "the hook, from other load on the machine, would be counted too.\n")
    md.append("| tracer | program | type | ns per run | runs per storm connection | BPF ns per storm connection (all its programs) | sampled ns per storm connection (stats off, dispatch included) |")
    md.append("|---|---|---|---|---|---|---|")
    cnames = {"live_raw_tp": "live, `--hooks raw_tp`", "floor": "floor (empty program, `build/hookfloor`)",
              "live_other": "live, watching another port (the storm is other TCP traffic to it)",
              "clock": "clock (the floor + one `bpf_ktime_get_ns()`, `build/hookfloor --clock`)"}
    for mode, e in co.items():
        mode = cnames.get(mode, mode)
        if not e["progs"]:
            md.append("| %s | n/a: %s | | | | | |" % (mode, (e.get("error") or "no data").replace("|", "/")))
            continue
        first = True
        for name, p in sorted(e["progs"].items(), key=lambda kv: -(kv[1]["runs_per_connection"]["median"] or 0)):
            if not p["ns_per_run"]["n"]:
                continue
            md.append("| %s | `%s` | %s | %s | %s | %s | %s |" % (mode if first else "", name, p["type"], text(p["ns_per_run"], "%.0f"),
                      text(p["runs_per_connection"], "%.2f"), text(e["bpf_ns_per_connection"], "%.0f") if first else "",
                      text(e.get("sampled_ns_per_connection"), "%.0f") if first else ""))
            first = False
    md.append("")
    per_run = lambda m, prog: ((co.get(m) or {}).get("progs", {}).get(prog) or {}).get("ns_per_run", {}).get("median")
    fl, ck = per_run("floor", "floor_state"), per_run("clock", "floor_clock")
    lv = ((co.get("live") or {}).get("bpf_ns_per_connection") or {}).get("median")
    if fl is not None and ck is not None:
        md.append("One clock read (`bpf_ktime_get_ns()`, clock less floor per run) costs %.0f ns on this machine. "
                  "Timing every socket would take 4 reads per storm connection (open and close of both ends), "
                  "%.0f ns%s; live mode reads the clock once per CPU and tick plus at the open and close of "
                  "about 2 sockets drawn per CPU and tick (README, `lifetimes`), record for every event it "
                  "sends.\n" % (ck - fl, 4 * (ck - fl), " (live's whole cost is %.0f)" % lv if lv else ""))

# ---- summary of targets -------------------------------------------------
missed = [t for t in T if t["met"] is False]
md.append("## Targets\n")
md.append("%d of %d met." % (sum(1 for t in T if t["met"]), len(T)) + (
    " Missed: " + "; ".join("%s = %s (target %s)" % (t["what"], t["value"], t["target"]) for t in missed) + "." if missed else ""))
md.append("")

text_md = "\n".join(md)
os.makedirs(outdir, exist_ok=True)
for base in ("latest", stamp):
    with open(os.path.join(outdir, base + ".md"), "w") as f:
        f.write(text_md)
    with open(os.path.join(outdir, base + ".json"), "w") as f:
        json.dump(res, f, indent=1)
