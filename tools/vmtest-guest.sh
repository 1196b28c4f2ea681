#!/bin/bash
# vmtest-guest.sh - the job of one tools/vmtest guest.  Not for the host: tools/vmtest
# copies it into the run folder, and the guest's init runs it chrooted into the
# host's root (read-only 9p; tmpfs on /tmp, /run, /var/tmp, /root), with the run
# folder at /run/vmtest holding job.sh:
#   VMT_PROJECT   the project folder (has the built ./rcleak)
#   VMT_KERNEL    6.1 or 6.12
#   VMT_HOOKS     tier forced with --hooks for the suite's live runs, or empty
#   VMT_DEGRADED  lockdown, nobtf, btf-empty or empty
#   VMT_TIMEOUT   seconds the command may take
#   VMT_RCLEAK    the host's snapshot of ./rcleak (/run/vmtest/rcleak), or empty
#   VMT_NOFILE    (soft hard) RLIMIT_NOFILE of the host, applied here
#   VMT_EXIT4_LIMIT  seconds an "exit 4, kernel unsupported" may take (default 10)
#   VMT_SPLAT_RE  extended regex of kernel splats (the host checks dmesg again)
#   VMT_CMD       (__suite NAME ...) | (__degraded_check) | (any command)
# Its exit status is the job's; init prints it as VMTEST-EXIT=<n> and saves dmesg.
set -u
out=/run/vmtest
# shellcheck source=/dev/null
. "$out/job.sh" || { echo "vmtest-guest: cannot read $out/job.sh"; exit 1; }
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb PYTHONDONTWRITEBYTECODE=1
unset RCLEAK_TEST_RCLEAK_ARGS
# the host's snapshot of ./rcleak (VMT_RCLEAK), else the project's
RCLEAK=${VMT_RCLEAK:-$VMT_PROJECT/rcleak}
# the host's fd limits (a kernel's default 1024 would fail tests that hold 9000 sockets)
ulimit -Hn "${VMT_NOFILE[1]}" 2>/dev/null
ulimit -Sn "${VMT_NOFILE[0]}" 2>/dev/null
TIERS=(tp_btf raw_tp tracepoint)
# "exit 4 within 2 s" on real hardware; TCG runs rcleak 7-10x slower (rcleak
# doctor: 0.19 s on the host, 1.2-2.0 s in a guest), so the guest allows 2 s x 5.
EXIT4_LIMIT=${VMT_EXIT4_LIMIT:-10}

g() { printf 'vmtest-guest: %s\n' "$*"; }
fail_setup() { g "SETUP FAILED: $*"; exit 1; }

g "kernel $(uname -r); $(nproc) cpus; cmdline: $(cat /proc/cmdline)"
cd "$VMT_PROJECT" || fail_setup "cannot cd to $VMT_PROJECT over 9p"
touch /tmp/.vmtest-rw && rm -f /tmp/.vmtest-rw || fail_setup "/tmp is not writable"
ip -o link show lo | grep -q 'UP' || fail_setup "loopback is down"
if [ "${VMT_CMD[0]}" = __suite ] || [ "${VMT_CMD[0]}" = __degraded_check ]; then
	[ -x "$RCLEAK" ] || fail_setup "$RCLEAK missing or not executable"
	"$RCLEAK" --version >/dev/null 2>&1 || fail_setup "$RCLEAK --version failed (does it run in the guest?)"
fi

# --- degraded kernels ---------------------------------------------------------
case $VMT_DEGRADED in
nobtf)
	# as on a kernel built without CONFIG_DEBUG_INFO_BTF: no /sys/kernel/btf at all
	mount -t tmpfs -o ro,mode=0555 tmpfs /sys/kernel/btf || fail_setup "cannot hide /sys/kernel/btf"
	[ ! -e /sys/kernel/btf/vmlinux ] || fail_setup "/sys/kernel/btf/vmlinux still visible"
	g "degraded: /sys/kernel/btf hidden (empty tmpfs)"
	;;
btf-empty)
	: >/run/empty-btf
	mount --bind /run/empty-btf /sys/kernel/btf/vmlinux || fail_setup "cannot bind an empty file over /sys/kernel/btf/vmlinux"
	[ ! -s /sys/kernel/btf/vmlinux ] || fail_setup "/sys/kernel/btf/vmlinux is not empty"
	g "degraded: empty file over /sys/kernel/btf/vmlinux"
	;;
lockdown)
	mkdir -p /run/secfs
	mount -t securityfs securityfs /run/secfs || fail_setup "cannot mount securityfs"
	ld=$(cat /run/secfs/lockdown 2>/dev/null)
	umount /run/secfs
	case $ld in *"[confidentiality]"*) g "degraded: lockdown is $ld" ;;
	*) fail_setup "lockdown is '$ld', expected [confidentiality] (lockdown=confidentiality on the command line)" ;;
	esac
	;;
esac

# --- a redis-server with known clients (tier and degraded checks) --------------
redis_pid='' holder_pid='' holder_in=''
start_redis() {
	port=16379
	mkdir -p /tmp/vmtest-redis
	redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
		--dir /tmp/vmtest-redis --logfile /tmp/vmtest-redis/log >/dev/null 2>&1 &
	redis_pid=$!
	for _ in $(seq 100); do
		[ "$(redis-cli -p $port PING 2>/dev/null)" = PONG ] && break
		sleep 0.1
	done
	[ "$(redis-cli -p $port PING 2>/dev/null)" = PONG ] || fail_setup "redis-server did not start"
	# 3 connections held by a known process
	mkfifo /tmp/vmtest-holder.in
	python3 tests/clients/rclient.py --name rclt-vmtest hold --target 127.0.0.1:$port:3 \
		</tmp/vmtest-holder.in >/tmp/vmtest-holder.out 2>&1 &
	holder_pid=$!
	exec {holder_in}>/tmp/vmtest-holder.in
	for _ in $(seq 100); do
		grep -q '^READY' /tmp/vmtest-holder.out && break
		sleep 0.1
	done
	grep -q '^READY' /tmp/vmtest-holder.out || fail_setup "test client did not connect: $(cat /tmp/vmtest-holder.out)"
}
stop_redis() {
	[ -n "$holder_in" ] && exec {holder_in}>&-
	[ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
	wait 2>/dev/null
	holder_pid='' redis_pid='' holder_in=''
	rm -f /tmp/vmtest-holder.in
}

# a kernel splat since boot (after one, later checks only pile up hangs)
splat() {
	dmesg | grep -E "$VMT_SPLAT_RE" | head -n 1 | sed 's/^\[ *[0-9.]*\] //'
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# check_live NAME WANT_TIER ARGS...: `rcleak ARGS` must either print one JSON line
# that counts the known clients right (and uses WANT_TIER if given), or exit 4
# within 2 s with a one-line reason.  Sets live_tier.  Returns 0 when acceptable.
live_tier=
check_live() {
	local name=$1 want=$2 t0 t1 rc secs; shift 2
	t0=$(now)
	timeout -k 5 30 "$RCLEAK" "$@" >/tmp/vmtest-live.out 2>/tmp/vmtest-live.err
	rc=$?
	t1=$(now)
	secs=$(elapsed "$t0" "$t1")
	live_tier=
	g "$name: rcleak $* -> exit $rc in ${secs}s"
	sed 's/^/    stderr: /' /tmp/vmtest-live.err | head -n 5
	case $rc in
	0)
		live_tier=$(python3 - "$want" "$holder_pid" "$redis_pid" <<'EOF'
import json, sys
want, holder, server = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = [l for l in open("/tmp/vmtest-live.out").read().splitlines() if l.strip()]
def bad(msg):
    print("BAD " + msg)
    sys.exit(0)
if len(lines) != 1:
    bad("%d stdout lines, expected 1 JSON line" % len(lines))
try:
    o = json.loads(lines[0])
except ValueError:
    bad("stdout is not JSON: %r" % lines[0][:200])
tier = (o.get("hooks") or {}).get("lifecycle")
if tier not in ("tp_btf", "raw_tp", "tracepoint"):
    bad("hooks.lifecycle=%r" % tier)
if want and tier != want:
    bad("hooks.lifecycle=%r, forced %r" % (tier, want))
rows = {p.get("pid"): p for p in o.get("processes", [])}
h = rows.get(holder)
if not h or h.get("open") != 3:
    bad("client pid %d: open=%r, expected 3 (wrong answer)" % (holder, h and h.get("open")))
srv = [s for s in o.get("servers", []) if s.get("pid") == server]
if not srv or srv[0].get("clients") != 3:
    bad("redis-server pid %d: clients=%r, expected 3 (wrong answer)" % (server, srv and srv[0].get("clients")))
print(tier)
EOF
)
		case $live_tier in
		BAD*) g "$name: FAIL: ${live_tier#BAD }"; live_tier=; return 1 ;;
		"") g "$name: FAIL: JSON check crashed"; return 1 ;;
		esac
		g "$name: ok: tier $live_tier, client open=3, server clients=3"
		return 0
		;;
	4)
		local nerr nout
		nerr=$(grep -c . /tmp/vmtest-live.err)
		nout=$(grep -c . /tmp/vmtest-live.out)
		if [ "$nerr" -ne 1 ] || [ "$nout" -ne 0 ]; then
			g "$name: FAIL: exit 4 with $nerr stderr lines and $nout stdout lines (want one reason line, no output)"
			return 1
		fi
		if awk -v s="$secs" -v l="$EXIT4_LIMIT" 'BEGIN { exit !(s > l) }'; then
			g "$name: FAIL: exit 4 took ${secs}s (limit ${EXIT4_LIMIT}s under TCG)"
			return 1
		fi
		g "$name: ok: kernel unsupported (exit 4) in ${secs}s: $(cat /tmp/vmtest-live.err)"
		return 0
		;;
	*)
		g "$name: FAIL: exit $rc (want 0 with a right answer, or 4 within 2 s)"
		return 1
		;;
	esac
}

# --forced tier: make sure rcleak really runs that tier on this kernel
tier_check() {
	start_redis
	check_live "tier-check" "$VMT_HOOKS" --hooks "$VMT_HOOKS" -p $port --json -n 1 -i 0.5
	local rc=$?
	stop_redis
	[ $rc -eq 0 ] && [ "$live_tier" = "$VMT_HOOKS" ]
}

degraded_check() {
	local bad=0 t0 t1 rc secs auto_tier chosen
	start_redis
	t0=$(now)
	timeout -k 5 30 "$RCLEAK" doctor >/tmp/vmtest-doctor.out 2>&1
	rc=$?
	t1=$(now)
	secs=$(elapsed "$t0" "$t1")
	g "doctor: exit $rc in ${secs}s"
	sed 's/^/    /' /tmp/vmtest-doctor.out
	chosen=$(sed -n 's/^verdict .*rcleak can run (tier \([a-z_]*\)).*/\1/p' /tmp/vmtest-doctor.out)
	case $rc in
	0) [ -n "$chosen" ] || { g "doctor: FAIL: exit 0 without 'rcleak can run (tier X)'"; bad=1; } ;;
	4) grep -q '^verdict .*cannot run' /tmp/vmtest-doctor.out || { g "doctor: FAIL: exit 4 without a 'cannot run' verdict"; bad=1; } ;;
	*) g "doctor: FAIL: exit $rc (want 0 or 4)"; bad=1 ;;
	esac
	if [ -n "$(splat)" ]; then
		g "FAIL: kernel splat after rcleak doctor: $(splat); the rest of the check is skipped"
		return 1
	fi
	check_live "auto" "" -p $port --json -n 1 -i 0.5 || bad=1
	auto_tier=$live_tier
	if [ $rc -eq 0 ] && [ -n "$chosen" ] && [ "$auto_tier" != "$chosen" ]; then
		g "FAIL: doctor chose $chosen but the live run used '${auto_tier:-nothing}'"
		bad=1
	fi
	if [ $rc -eq 4 ] && [ -n "$auto_tier" ]; then
		g "FAIL: doctor says cannot run, but the live run worked (tier $auto_tier)"
		bad=1
	fi
	for t in "${TIERS[@]}"; do
		if [ -n "$(splat)" ]; then
			g "FAIL: kernel splat: $(splat); the rest of the check is skipped"
			return 1
		fi
		check_live "forced-$t" "$t" --hooks "$t" -p $port --json -n 1 -i 0.5 || bad=1
	done
	# kprobe is not a tier: a usage error
	"$RCLEAK" --hooks kprobe -n 1 >/dev/null 2>&1
	rc=$?
	if [ $rc -ne 2 ]; then g "FAIL: --hooks kprobe exit $rc, want 2"; bad=1; fi
	stop_redis
	if [ $bad -eq 0 ]; then g "degraded check ($VMT_DEGRADED): PASS"; else g "degraded check ($VMT_DEGRADED): FAIL"; fi
	return $bad
}

# --- the job ---------------------------------------------------------------
rc=0
case ${VMT_CMD[0]} in
__suite)
	if [ -n "$VMT_HOOKS" ]; then
		tier_check || { g "forced tier $VMT_HOOKS does not work on this kernel"; exit 1; }
		export RCLEAK_TEST_RCLEAK_ARGS="--hooks $VMT_HOOKS"
	fi
	g "suite: tests/vm/pick.py ${VMT_CMD[*]:1}${VMT_HOOKS:+ (RCLEAK_TEST_RCLEAK_ARGS=$RCLEAK_TEST_RCLEAK_ARGS)}"
	t0=$(now)
	# a failing test's files (a capture, its JSON lines) land in the run
	# folder, which tools/vmtest keeps when the run fails
	RCLEAK=$RCLEAK RCLEAK_TEST_VERBOSE=1 RCLEAK_TEST_EVIDENCE=$out/evidence PYTHONDONTWRITEBYTECODE=1 timeout -k 10 "$VMT_TIMEOUT" \
		python3 -u tests/vm/pick.py "${VMT_CMD[@]:1}" 2>&1 | tee /tmp/vmtest-suite.out
	rc=${PIPESTATUS[0]}
	g "suite: exit $rc in $(elapsed "$t0" "$(now)")s"
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' /tmp/vmtest-suite.out | tail -n 1)
	if [ -z "$summary" ]; then
		g "suite: FAIL: no summary line from tests/vm/pick.py"
		[ $rc -ne 0 ] || rc=1
	elif [ "${summary%% *}" -eq 0 ]; then
		g "suite: FAIL: no test passed ($summary)"
		[ $rc -ne 0 ] || rc=1
	fi
	grep '^SKIP ' /tmp/vmtest-suite.out | sed 's/^/vmtest-guest: note: /'
	;;
__degraded_check)
	degraded_check
	rc=$?
	;;
*)
	if [ -n "$VMT_HOOKS" ]; then
		export RCLEAK_TEST_RCLEAK_ARGS="--hooks $VMT_HOOKS"
	fi
	export RCLEAK
	g "running: ${VMT_CMD[*]}"
	timeout -k 10 "$VMT_TIMEOUT" "${VMT_CMD[@]}"
	rc=$?
	;;
esac
g "job exit status $rc"
exit $rc
