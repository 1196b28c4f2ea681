// SPDX-License-Identifier: GPL-2.0
/*
 * run.c - `rcleak run [OPTIONS] -- CMD [ARGS...]`.
 *
 * rcleak attaches first, then forks CMD. The BPF side counts only processes
 * that descend from rcleak; rcleak is a child subreaper, so a daemon that
 * CMD leaves behind stays in the tree. CMD keeps rcleak's stdin, stdout and
 * stderr; the summary goes to stderr after CMD (and, with --wait-children,
 * its descendants) exited. Signals sent to rcleak with kill(2) are passed on
 * to CMD; a terminal's Ctrl-C already reaches CMD while it shares our process
 * group, and is not sent twice, but is passed on to a CMD that moved to a
 * group of its own (setsid, timeout). One that comes before CMD started
 * (during the BPF load, or the wait for a --json/--junit FIFO's reader)
 * stops rcleak at once, and CMD is never run; one that comes
 * while rcleak waits for CMD's descendants (--wait-children) ends the wait.
 * A signal ignored when rcleak started stays ignored, by rcleak and by CMD.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collect.h"
#include "log.h"
#include "probe.h"
#include "run.h"
#include "run_out.h"
#include "run_user.h"
#include "summary.h"
#include "tracer.h"

/* the signals rcleak passes on to CMD; before CMD runs, each one stops rcleak */
static const int fwd_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
#define NFWD (sizeof(fwd_sigs) / sizeof(fwd_sigs[0]))

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t got_signal;
static volatile sig_atomic_t cmd_gone;    /* CMD was reaped */
/* Either ends (or skips) the wait for CMD's descendants (--wait-children):
 * wait_signal, any signal that came once CMD was gone, rcleak's to answer
 * (nobody left to pass it to; its default is to terminate); cmd_stop, a
 * stop signal that came while CMD ran, passed on to CMD, which answers it
 * with its exit code (USR1 and USR2 then are CMD's business only). */
static volatile sig_atomic_t wait_signal;
static volatile sig_atomic_t cmd_stop;
/* fwd_sigs and SIGPIPE ignored when rcleak started (nohup, a background
 * job): they stay ignored, by rcleak and by CMD, as without rcleak */
static sigset_t ignored;
static sigset_t fwd_set; /* fwd_sigs, held while CMD is reaped */

static void forward(int sig, siginfo_t *info, void *uc)
{
	pid_t pid = child_pid;
	int saved_errno = errno; /* the main line reads errno after read(), fork() */

	(void)uc;
	got_signal = sig;
	/* CMD has exited but is not reaped yet (the main loop reaps every
	 * 20 ms): nobody takes the signal, it ends the wait as if CMD were
	 * gone (it was taken for CMD's, and the run kept CMD's exit code).
	 * waitid() is a bare system call; WNOWAIT leaves CMD to reap(). */
	if (!cmd_gone && pid > 0) {
		siginfo_t si = { 0 };

		if (!waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) && si.si_pid == pid)
			pid = 0;
	}
	if (cmd_gone || (child_pid > 0 && pid == 0))
		wait_signal = sig;
	else if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)
		cmd_stop = sig;
	/* SI_KERNEL: from the terminal, which signalled its foreground process
	 * group, ours: CMD has it already, unless it moved to a group of its
	 * own (setsid, timeout), which the terminal did not signal. getpgid
	 * is a bare system call (not on POSIX's async-signal-safe list). */
	if (pid > 0 && (!info || info->si_code != SI_KERNEL || getpgid(pid) != getpgrp()))
		kill(pid, sig);
	errno = saved_errno;
}

/* First thing cmd_run does: from here on a signal is noted (and, once
 * child_pid is set, passed on), never fatal to rcleak, so that a signal
 * during the BPF load still leaves through cleanup. */
static void install_forwarding(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&ignored);
	sigemptyset(&fwd_set);
	for (size_t i = 0; i < NFWD; i++) {
		sigaddset(&fwd_set, fwd_sigs[i]);
		if (!sigaction(fwd_sigs[i], NULL, &old) && old.sa_handler == SIG_IGN)
			sigaddset(&ignored, fwd_sigs[i]);
		else
			sigaction(fwd_sigs[i], &sa, NULL);
	}
	if (!sigaction(SIGPIPE, NULL, &old) && old.sa_handler == SIG_IGN)
		sigaddset(&ignored, SIGPIPE);
	signal(SIGPIPE, SIG_IGN);
}

/* A signal came before CMD started: say so; the exit code is 128+N, as
 * for a CMD that signal N killed (README, exit codes). */
static int stopped_before_cmd(const struct rcl_opts *o)
{
	int sig = got_signal;

	elog("stopped by signal %d (%s) before '%s' started; it was not run (exit %d)", sig,
	     strsignal(sig), o->run_argv[0], 128 + sig);
	return 128 + sig;
}

/* In the child: become CMD. Writes errno to errfd when exec fails. parent:
 * rcleak's pid, taken before fork(). */
static void __attribute__((noreturn))
exec_child(const struct rcl_opts *o, const struct run_user *u, int errfd, pid_t parent)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE };
	sigset_t none;
	int err;

	/* CMD gets the dispositions rcleak was given: default, or ignored */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (!sigismember(&ignored, sigs[i]))
			signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if ((err = run_user_become(u)))
		goto fail;
	/* rcleak killed by SIGKILL (or the OOM killer) passes nothing on: the
	 * kernel sends CMD SIGTERM instead, so that CMD does not outlive it
	 * unseen. SIGTERM, not SIGKILL: it is what rcleak passes on when it is
	 * stopped itself, and CMD (make, a test runner) can stop its own
	 * children with it, where SIGKILL would leave them running. A CMD that
	 * ignores SIGTERM stays. Set after setuid(), which clears it (as does an
	 * exec that changes CMD's user or privileges: sudo under --user). */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM)) {
		err = errno;
		goto fail;
	}
	if (getppid() != parent) /* rcleak died before prctl: nobody would tell us */
		_exit(RCL_EXIT_NOEXEC);
	execvp(o->run_argv[0], o->run_argv);
	err = errno;
fail:
	if (write(errfd, &err, sizeof(err)) < 0) {
		/* nothing left to tell anyone */
	}
	_exit(RCL_EXIT_NOEXEC);
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	nanosleep(&ts, NULL); /* a signal cuts it short: fine */
}

/* Reap every child that is done; note CMD's status. Returns true while any
 * child (CMD or an orphan handed to us) is left. */
static bool reap(pid_t cmd, bool *cmd_done, int *status)
{
	sigset_t old;
	bool left;

	/* the signals held while CMD is reaped: between waitpid() and
	 * child_pid = 0 the handler would pass one on to a freed pid (a
	 * descendant may have it by then), and between that and cmd_gone it
	 * would drop a USR1 */
	sigprocmask(SIG_BLOCK, &fwd_set, &old);
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid > 0) {
			if (pid == cmd) {
				*cmd_done = true;
				*status = st;
				cmd_gone = 1;
				child_pid = 0;
			}
			continue;
		}
		left = pid == 0; /* 0: children left; -1 (ECHILD): none */
		break;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return left;
}

/* rcleak cannot watch any longer (reading kernel state failed) while CMD
 * runs: it waits for CMD to finish rather than end it (rcleak's exit would
 * send it PR_SET_PDEATHSIG's SIGTERM), signals still passed on. */
static void finish_unwatched(const struct rcl_opts *o, pid_t pid, bool cmd_done)
{
	int st;

	if (cmd_done)
		return;
	elog("no summary: waiting for '%s' (pid %d) to finish, unwatched", o->run_argv[0], (int)pid);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}

static void same_file_error(const struct out_file *json, const struct out_file *junit)
{
	elog("--json %s and --junit %s are one file: the XML would replace the JSON; give "
	     "each its own", json->path, junit->path);
}

int cmd_run(const struct rcl_opts *o)
{
	struct tracer_opts to = { .ports = o->ports, .nports = o->nports, .hooks = o->hooks,
				  .walk = o->walk, .tree = true, .verbose = o->verbose };
	struct run_summary sum = { .argv = o->run_argv };
	struct procwatch watch = { .window_s = o->window_s };
	struct collector c = { .opts = o, .watch = &watch };
	bool cmd_done = false, children = true, cut_in_wait = false;
	struct out_file json = { .path = o->json_path, .fd = -1 };
	struct out_file junit = { .path = o->junit_path, .fd = -1 };
	bool summary = false;
	double last_refresh, cmd_end = 0;
	int pipefd[2] = { -1, -1 }, status = 0, cut = 0, rc, err, e;
	struct run_user user;
	sigset_t fwd, unblocked;
	char msg[320];
	pid_t pid, self = getpid();
	ssize_t n;

	install_forwarding();
	/* what the command line got wrong first (exit 2), then privileges
	 * (exit 3), as most tools do: `rcleak run --user typo` without sudo
	 * said "needs root", and under sudo then "unknown user" */
	if (run_user_resolve(o, &user))
		return RCL_EXIT_USAGE;
	/* FILE is written as CMD's user (run_out.h) */
	if (user.set && user.uid != 0)
		json.as = junit.as = &user;
	if (json.path && junit.path && run_out_same_name(json.path, junit.path)) {
		same_file_error(&json, &junit);
		return RCL_EXIT_USAGE;
	}
	if ((rc = probe_preflight()))
		return rc;
	if (got_signal)
		return stopped_before_cmd(o);
	rc = RCL_EXIT_ERROR;
	/* a signal while it waits for a FIFO's reader stops rcleak at once */
	if ((json.path && (e = run_out_check(&json, &got_signal))) ||
	    (junit.path && (e = run_out_check(&junit, &got_signal)))) {
		if (e == RUN_OUT_STOPPED)
			rc = stopped_before_cmd(o);
		goto cleanup;
	}
	if (run_out_same(&json, &junit)) { /* one made by the check: both new */
		same_file_error(&json, &junit);
		rc = RCL_EXIT_USAGE;
		goto cleanup;
	}

	rc = tracer__open(&c.tracer, &to, NULL, NULL, msg, sizeof(msg));
	if (rc) {
		elog("%s", msg);
		goto cleanup;
	}
	rc = RCL_EXIT_ERROR;
	c.keep_exited = true; /* CMD's tree only: its leaks, however early */
	c.model = model_new(o->window_s);
	if (!c.model) {
		elog("out of memory");
		goto cleanup;
	}
	if (got_signal) {
		rc = stopped_before_cmd(o);
		goto cleanup;
	}
	if ((e = collect_start(&c))) {
		elog("reading kernel state failed: %s", strerror(-e));
		goto cleanup;
	}
	/* orphans of CMD's tree become our children: still in the tree, and
	 * reaped by us */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		elog("cannot become a child subreaper: %s", strerror(errno));
		goto cleanup;
	}
	if (pipe2(pipefd, O_CLOEXEC)) {
		elog("pipe: %s", strerror(errno));
		goto cleanup;
	}
	fflush(NULL);
	/* A signal from here to child_pid's assignment would reach neither us
	 * (as a reason to stop) nor CMD: hold it until CMD is known, then it is
	 * passed on. The child unblocks once it has its default handlers. */
	sigemptyset(&fwd);
	for (size_t i = 0; i < NFWD; i++)
		sigaddset(&fwd, fwd_sigs[i]);
	sigprocmask(SIG_BLOCK, &fwd, &unblocked);
	if (got_signal) {
		sigprocmask(SIG_SETMASK, &unblocked, NULL);
		rc = stopped_before_cmd(o);
		goto cleanup;
	}
	pid = fork();
	if (pid == 0)
		exec_child(o, &user, pipefd[1], self);
	if (pid > 0)
		child_pid = pid;
	e = errno;
	sigprocmask(SIG_SETMASK, &unblocked, NULL);
	if (pid < 0) {
		elog("fork: %s", strerror(e));
		goto cleanup;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	do /* EOF: exec succeeded */
		n = read(pipefd[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(err)) {
		elog("cannot run '%s': %s", o->run_argv[0], strerror(err));
		waitpid(pid, NULL, 0);
		rc = RCL_EXIT_NOEXEC;
		goto cleanup;
	}
	vlog("running '%s' as pid %d%s%s", o->run_argv[0], (int)pid,
	     user.set ? " as user " : "", user.set ? user.name : "");

	last_refresh = collect_now();
	while (children) {
		double now = collect_now();

		/* every pass: exits, rates and command lines (procwatch.h) */
		if ((e = collect_watch(&c, now))) {
			elog("reading kernel state failed: %s", strerror(-e));
			finish_unwatched(o, pid, cmd_done);
			goto cleanup;
		}
		children = reap(pid, &cmd_done, &status);
		if (cmd_done && !cmd_end)
			cmd_end = now;
		if (cmd_done && o->wait_children_s && children && (wait_signal || cmd_stop)) {
			cut = wait_signal;
			cut_in_wait = cut != 0;
			if (!cut)
				cut = cmd_stop;
			break;
		}
		if (cmd_done && (!o->wait_children_s || !children ||
				 now - cmd_end >= o->wait_children_s))
			break;
		if (now - last_refresh >= o->interval_s) {
			if ((e = collect_refresh(&c, now))) {
				elog("reading kernel state failed: %s", strerror(-e));
				finish_unwatched(o, pid, cmd_done);
				goto cleanup;
			}
			last_refresh = now;
		}
		sleep_s(0.02);
	}

	/* the final picture: who still holds what, every exit counted, and
	 * the connections no fd holds */
	if ((e = collect_final(&c, collect_now()))) {
		elog("reading kernel state failed: %s", strerror(-e));
		goto cleanup;
	}
	sum.duration_s = (cmd_end ? cmd_end : collect_now()) - c.start;
	sum.lost_events = c.lost;
	if (WIFSIGNALED(status)) {
		sum.cmd_exit = -1;
		sum.cmd_signal = WTERMSIG(status);
	} else {
		sum.cmd_exit = WEXITSTATUS(status);
	}
	if (summary_build(&sum, c.model, o, c.model->now, c.start_boot)) {
		elog("out of memory");
		goto cleanup;
	}
	/* The signal is not passed on to the descendants still running: they
	 * are not rcleak's to stop (a daemon CMD left behind on purpose, a
	 * server a test started). rcleak only watches them, and was asked to
	 * stop. */
	if (cut && cut_in_wait) {
		/* as 128+N says of a CMD that signal N killed: the run was cut */
		sum.exit_code = 128 + cut;
		sum.wait_signal = cut;
		elog("signal %d (%s) ended the wait for the descendants of '%s': those still "
		     "running were left running, not signalled (exit %d)", cut, strsignal(cut),
		     o->run_argv[0], sum.exit_code);
	} else if (cut) { /* CMD had it: its exit code is the answer */
		elog("signal %d (%s) came while '%s' ran: not waiting for its descendants; those "
		     "still running were left running, not signalled", cut, strsignal(cut),
		     o->run_argv[0]);
	}
	/* the files first: the summary's last line is the verdict, exit code
	 * included, and a FILE that cannot be written changes that code. The
	 * XML (which has no exit code) before the JSON (which has): written
	 * after it, an XML that could not be written failed the run the JSON
	 * had said passed (exit_code 0, rcleak's exit 1) */
	summary = true;
	if (junit.path && run_out_write(&junit, &sum, summary_junit))
		sum.unwritten = o->junit_path;
	if (sum.unwritten && sum.exit_code == RCL_EXIT_OK)
		sum.exit_code = RCL_EXIT_ERROR;
	if (json.path && run_out_write(&json, &sum, summary_json) && !sum.unwritten)
		sum.unwritten = o->json_path;
	if (sum.unwritten && sum.exit_code == RCL_EXIT_OK)
		sum.exit_code = RCL_EXIT_ERROR;
	rc = sum.exit_code;
	/* The verdict that nobody saw is no pass (`2>/dev/full`, a closed
	 * stderr): exit 1, as for a FILE not written, unless CMD or a
	 * threshold failed the run already. A reader that went away (EPIPE)
	 * is no error, as on stdout. */
	if ((e = run_out_stderr(&sum)) && e != EPIPE) {
		elog("cannot write the summary to standard error: %s", strerror(e));
		if (rc == RCL_EXIT_OK)
			rc = RCL_EXIT_ERROR;
	}
cleanup:
	if (!summary) {
		run_out_drop(&json);
		run_out_drop(&junit);
	}
	summary_free(&sum);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	collect_free(&c);
	model_free(c.model);
	tracer__free(c.tracer);
	procwatch_free(&watch);
	return rc;
}
