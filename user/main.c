// SPDX-License-Identifier: GPL-2.0
/* main.c - rcleak entry point: subcommands, privilege checks, the live loop. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collect.h"
#include "log.h"
#include "model.h"
#include "opts.h"
#include "portshint.h"
#include "probe.h"
#include "procfs.h"
#include "record_cmd.h"
#include "rev.h"
#include "run.h"
#include "tracer.h"
#include "tui.h"
#include "view.h"



static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void install_signals(void)
{
	struct sigaction sa, hup;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: sleeps return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* unless ignored at start (nohup rcleak --json ... > log &): that one
	 * was meant to outlive its terminal, and a logout ended it */
	if (sigaction(SIGHUP, NULL, &hup) || hup.sa_handler != SIG_IGN)
		sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed stdout ends us through ferror() */
	/* SIGUSR1 tells a flight recorder to write its ring: `pkill -USR1
	 * rcleak` aimed at one killed every live view on the host (the
	 * default action), leaving a TUI's terminal on the alternate screen */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
}

/* *ts += secs (secs >= 0) */
static void ts_add(struct timespec *ts, double secs)
{
	ts->tv_sec += (time_t)secs;
	ts->tv_nsec += (long)((secs - (time_t)secs) * 1e9);
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* a - b in seconds */
static double ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(a->tv_sec - b->tv_sec) + (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

/* Sleep to next on CLOCK_MONOTONIC; a stop signal ends it (no SA_RESTART).
 * So does stdout's reader going away (`rcleak --json -i 60 | head -1`):
 * a pipe whose reader closed reports POLLERR with no event asked, where a
 * file or a terminal never wakes the poll. Only a failed write told it, at
 * the next refresh: the pipeline hung an interval. Returns true when the
 * reader is gone. */
static bool sleep_until(const struct timespec *next)
{
	struct pollfd pfd = { .fd = STDOUT_FILENO, .events = 0 };

	while (!stop_signal) {
		struct timespec now, left;
		double d;

		clock_gettime(CLOCK_MONOTONIC, &now);
		d = ts_diff(next, &now);
		if (d <= 0)
			break;
		left.tv_sec = (time_t)d;
		left.tv_nsec = (long)((d - (double)left.tv_sec) * 1e9);
		if (ppoll(&pfd, 1, &left, NULL) > 0 && (pfd.revents & (POLLERR | POLLHUP)))
			return true;
	}
	return false;
}

static const char *yesno(bool b)
{
	return b ? "yes" : "no";
}

static int cmd_doctor(const struct rcl_opts *o)
{
	static const enum rcl_hooks tiers[] = {
		RCL_HOOKS_TP_BTF, RCL_HOOKS_RAW_TP, RCL_HOOKS_TRACEPOINT,
	};
	struct tracer_tier_note notes[3];
	const char *chosen = NULL, *walk = NULL;
	struct rcl_probe p;
	int rc;

	probe_run(&p);
	printf("%-14s %s\n", "kernel", p.release);
	printf("%-14s %s\n", "btf", p.btf ? "yes (/sys/kernel/btf/vmlinux)" : "no: CO-RE needs CONFIG_DEBUG_INFO_BTF=y");
	printf("%-14s %s\n", "lockdown", p.lockdown);
	printf("%-14s root=%s CAP_BPF=%s CAP_PERFMON=%s CAP_SYS_ADMIN=%s\n", "capabilities",
	       yesno(p.root), yesno(p.cap_bpf), yesno(p.cap_perfmon), yesno(p.cap_sys_admin));
	printf("%-14s %s\n", "tracefs", p.tracefs[0] ? p.tracefs : p.tracefs_denied
	       ? "not readable by this user (root's: run doctor with sudo to see it)"
	       : "not mounted (mounted on demand for the tracepoint tier only)");
	rc = probe_preflight();
	if (rc) {
		printf("%-14s cannot run: %s\n", "verdict",
		       rc == RCL_EXIT_PRIV     ? "needs root (CAP_BPF, CAP_PERFMON): run with sudo"
		       : rc == RCL_EXIT_KERNEL ? "no BTF"
					       : "not in the host's PID namespace (docker run --pid=host)");
		return rc;
	}
	/* Try every tier for real (load + attach + detach): a kernel's word,
	 * not a version check. */
	for (size_t i = 0; i < sizeof(tiers) / sizeof(tiers[0]); i++) {
		struct tracer_opts to = { .ports = o->ports, .nports = o->nports,
					  .hooks = tiers[i], .walk = RCL_WALK_AUTO,
					  .verbose = o->verbose };
		struct tracer *t = NULL;
		char err[256];
		int n = 0;

		tracer__open(&t, &to, notes, &n, err, sizeof(err));
		if (t) {
			printf("hook %-9s ok%s\n", opts_hooks_name(tiers[i]),
			       chosen ? "" : " (chosen: first that works)");
			if (!chosen) {
				chosen = opts_hooks_name(tiers[i]);
				walk = tracer__walk(t);
			}
			tracer__free(t);
		} else {
			printf("hook %-9s unavailable: %s\n", opts_hooks_name(tiers[i]),
			       n ? notes[0].why : err);
		}
	}
	if (!chosen)
		printf("%-14s not checked (no tier loaded)\n", "walks");
	else if (!strcmp(walk, "iter"))
		printf("%-14s iter/task_file, iter/tcp: ok\n", "walks");
	else
		printf("%-14s /proc (BPF iterators unavailable: see -v); own network namespace only\n", "walks");
	printf("%-14s %s\n", "optional", "fentry/fexit, kprobes: not used (rcleak needs none)");
	if (!chosen) {
		printf("%-14s cannot run: no usable hook tier\n", "verdict");
		return RCL_EXIT_KERNEL;
	}
	printf("%-14s rcleak can run (tier %s)\n", "verdict", chosen);
	return RCL_EXIT_OK;
}

/* One refresh of the live view, with what --comm NAME says of it. */
static int live_refresh(struct collector *c)
{
	int e = collect_refresh_now(c);

	if (!e)
		collect_comm_check(c);
	return e;
}

static int cmd_live(const struct rcl_opts *o)
{
	struct tracer_opts to = { .ports = o->ports, .nports = o->nports,
				  .hooks = o->hooks, .walk = o->walk, .verbose = o->verbose };
	struct collector c = { .opts = o };
	struct timespec next, end;
	long printed = 0;
	char err[320];
	int rc, e;

	rc = probe_preflight();
	if (rc)
		return rc;
	install_signals();

	rc = tracer__open(&c.tracer, &to, NULL, NULL, err, sizeof(err));
	if (rc) {
		elog("%s", err);
		return rc;
	}
	vlog("hook tier: %s", tracer__tier(c.tracer));
	c.model = model_new(o->window_s);
	if (!c.model) {
		elog("out of memory");
		rc = RCL_EXIT_ERROR;
		goto cleanup;
	}
	e = collect_start(&c);
	if (e) {
		elog("reading kernel state failed: %s", strerror(-e));
		rc = RCL_EXIT_ERROR;
		goto cleanup;
	}
	collect_comm_check(&c);
	/* --pid and --comm have lines of their own; on a terminal only: a
	 * script's stderr keeps its one line per error */
	if (collect_sees_nothing(&c) && isatty(STDERR_FILENO))
		portshint_say(o->ports, o->nports);

	if (o->view == RCL_VIEW_TUI) {
		e = tui_run(&c, &stop_signal, live_refresh);
		if (e) {
			elog("reading kernel state failed: %s", strerror(-e));
			rc = RCL_EXIT_ERROR;
		} else {
			rc = RCL_EXIT_OK;
		}
		goto cleanup;
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	/* the end of -d on the clock of the sleeps (collect_now() may be
	 * another: the kernel's, outside a time namespace) */
	end = next;
	ts_add(&end, fmax(o->duration_s - (collect_now() - c.start), 0));
	for (;;) {
		/* the wall clock read with the refresh's time, before its
		 * walk: after it, ts was the walk's duration late (up to a
		 * second at 100k connections) */
		if (o->view == RCL_VIEW_JSON)
			view_json(stdout, &c, c.wall);
		else
			view_text(stdout, &c, c.wall);
		if (ferror(stdout)) /* reader went away: nothing left to do */
			break;
		printed++;
		if (o->count && printed >= o->count)
			break;
		if (o->duration_s && collect_now() - c.start >= o->duration_s - 1e-3)
			break;

		/* sleep to the next tick on a fixed grid; signals end the sleep */
		{
			struct timespec mono;
			double late;

			ts_add(&next, o->interval_s);
			/* Ticks already past (SIGSTOP, a paused VM, a refresh
			 * slower than -i) are skipped, keeping the grid: slept
			 * through one by one, they printed back to back, each
			 * an interval of ~0 s with meaningless rates, and used
			 * up -n. */
			clock_gettime(CLOCK_MONOTONIC, &mono);
			late = ts_diff(&mono, &next);
			if (late > 0)
				ts_add(&next, ceil(late / o->interval_s) * o->interval_s);
			/* do not overshoot the duration: its end is the last
			 * tick. Measured from the grid, not from when this
			 * line was printed: a refresh slower than the next
			 * (a reconciliation) ended the sleep before the end
			 * by the difference, and one more line came that many
			 * ms later, its rates over those ms. */
			if (o->duration_s && ts_diff(&next, &end) > 0)
				next = end;
		}
		if (sleep_until(&next))
			break; /* the reader went away: as a failed write says */
		if (stop_signal)
			break;
		e = live_refresh(&c);
		if (e) {
			elog("reading kernel state failed: %s", strerror(-e));
			rc = RCL_EXIT_ERROR;
			goto cleanup;
		}
	}
	if (stop_signal)
		vlog("stopping on signal %d", (int)stop_signal);
	rc = RCL_EXIT_OK;
cleanup:
	collect_free(&c);
	model_free(c.model);
	tracer__free(c.tracer);
	return rc;
}

/* A closed stdin, stdout or stderr (`rcleak >&-`) gets /dev/null, read-only:
 * left closed, its number went to the next file opened (a BPF map, an epoll,
 * a capture file), and the views wrote into that and exited 0. Writes to it
 * fail with EBADF, as on the closed fd, so out_status() says so; close-on-exec,
 * so run's CMD gets the fd closed, as it was given. */
static void hold_std_fds(void)
{
	for (int fd = 0; fd <= STDERR_FILENO; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		n = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (n >= 0 && n != fd) {
			dup3(n, fd, O_CLOEXEC);
			close(n);
		}
	}
}

static int run_cmd(struct rcl_opts *o)
{
	switch (o->cmd) {
	case RCL_CMD_HELP:
		opts_usage(stdout);
		out_flush(stdout);
		return RCL_EXIT_OK;
	case RCL_CMD_VERSION:
		printf("rcleak %s (%s)\n", RCLEAK_VERSION, RCLEAK_REV);
		out_flush(stdout);
		return RCL_EXIT_OK;
	case RCL_CMD_DOCTOR:
		return cmd_doctor(o);
	case RCL_CMD_RUN:
		return cmd_run(o);
	case RCL_CMD_RECORD:
		return cmd_record(o);
	case RCL_CMD_REPORT:
		return cmd_report(o);
	default:
		return cmd_live(o);
	}
}

int main(int argc, char **argv)
{
	struct rcl_opts o;
	char err[256];

	hold_std_fds();
	if (opts_parse(&o, argc, argv, err, sizeof(err))) {
		elog("%s", err);
		return RCL_EXIT_USAGE;
	}
	/* a terminal gets the TUI, anything else the table; record stays quiet
	 * unless asked for a view */
	if (o.view == RCL_VIEW_AUTO && o.cmd != RCL_CMD_RECORD)
		o.view = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO) && getenv("TERM") &&
			 strcmp(getenv("TERM"), "dumb") && tui_available() ? RCL_VIEW_TUI : RCL_VIEW_PLAIN;
	rcl_verbose = o.verbose;
	if (o.pid && (o.cmd == RCL_CMD_LIVE || o.cmd == RCL_CMD_RECORD)) {
		/* a thread id (top -H, a stack trace) means its process */
		int tgid = procfs_tgid(o.pid);

		if (tgid > 0 && tgid != o.pid) {
			elog("--pid %d is a thread of process %d: showing the process", o.pid, tgid);
			o.pid = tgid;
		} else if (tgid < 0) {
			elog("--pid %d: no such process now; its rows show if one with that pid connects",
			     o.pid);
		}
	}
	if (o.comm[0] && (o.cmd == RCL_CMD_LIVE || o.cmd == RCL_CMD_RECORD)) {
		/* a name that matches nothing showed an empty table, silently:
		 * 'python' for python3, 'redis' for redis-server */
		char like[32], name[32];

		if (o.pid && procfs_comm(o.pid, name, sizeof(name)) == 0 && strcmp(name, o.comm))
			elog("--pid %d is named '%s', not --comm %s: nothing shows while it is", o.pid, name,
			     o.comm);
		else if (!procfs_comm_exists(o.comm, like, sizeof(like)))
			elog("--comm %s: no process of that name now (names as 'ps -o comm=' shows them%s%s%s); "
			     "its rows show if one connects", o.comm, like[0] ? ", e.g. '" : "", like,
			     like[0] ? "'" : "");
	}
	/* output that did not reach stdout is no success (a full disk) */
	return out_status(run_cmd(&o));
}
