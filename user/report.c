// SPDX-License-Identifier: GPL-2.0
/*
 * report.c - `rcleak report FILE...`: analyse captures, without root.
 *
 * Every mode replays the recorded ticks through the same model as the live
 * view (replay.c: replay_record), so live and offline figures come from one
 * code path:
 *   (default)  summary (report_summary.c): span, hosts, servers and limits,
 *              per-process peaks, when growth started, verdicts seen, lost
 *              events, server connections joined across files
 *   --at TIME  the state at a moment, in the live views (--plain, --json)
 *   --csv      one row per recorded event
 *   --replay   the timeline through the live views, at --speed X
 */
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <sys/stat.h>

#include "at.h"
#include "capfile.h"
#include "collect.h"
#include "log.h"
#include "record.h"
#include "record_cmd.h"
#include "report_at.h"
#include "report_csv.h"
#include "report_summary.h"
#include "spool.h"
#include "tui.h"
#include "view.h"

#define MAX_FILES RCL_MAX_FILES /* opts.c refuses more */

/* A file given twice (or under two names: a link, ./x and x, or as the
 * standard input "-" is, stdin_fd) was read as two captures of the same
 * host, every connection and peak counted twice in the summary. 0, or
 * after one line RCL_EXIT_USAGE. */
static int check_distinct(char **paths, int stdin_fd)
{
	struct stat st[MAX_FILES];
	const char *name[MAX_FILES];
	int n = 0;

	for (char **p = paths; *p && n < MAX_FILES; p++) {
		if (!strcmp(*p, "-") ? stdin_fd < 0 || fstat(stdin_fd, &st[n]) : stat(*p, &st[n]))
			continue; /* capfile_open says why */
		for (int i = 0; i < n; i++) {
			if (st[i].st_dev == st[n].st_dev && st[i].st_ino == st[n].st_ino) {
				if (!strcmp(name[i], *p))
					elog("%s is given twice: give each capture once", *p);
				else
					elog("%s and %s are the same file: give each capture once", name[i], *p);
				return RCL_EXIT_USAGE;
			}
		}
		name[n++] = *p;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */

static void show(struct capfile *f, const struct rcl_opts *o)
{
	if (o->view == RCL_VIEW_JSON)
		view_json(stdout, &f->c, f->rp.tick.wall);
	else
		view_text(stdout, &f->c, f->rp.tick.wall);
}

/* Wait s seconds, or until stdout's reader goes away (a pipe's read end
 * closed reads as POLLERR, a socket's as POLLHUP): the next refresh then
 * fails on it and ends the replay. Slept through, a `| head -1` waited a
 * whole interval of the recording (a minute at -i 60, two at most) after
 * its reader had gone. */
static void sleep_s(double s)
{
	/* once woken so (a write still went through), or with no stdout to
	 * watch: sleep plainly (poll() skips a negative fd), not spin */
	static bool woken;
	struct pollfd p = { .fd = woken ? -1 : STDOUT_FILENO, .events = 0 };
	double until = collect_now() + s;

	while (s > 0) {
		int ms = s > 1e6 ? 1000000000 : (int)(s * 1000) + 1;

		if (poll(&p, 1, ms) > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL))) {
			woken = true;
			if (!(p.revents & POLLNVAL))
				return;
			p.fd = -1;
		}
		s = until - collect_now();
	}
}

/* --at's and --replay's --json lines of the files skipped (nskips of
 * them, in the order given) from *next on, up to the one given at place
 * upto (INT_MAX: all): each where its refreshes would be. stderr alone
 * named them, and a consumer of the lines could not tell a file skipped
 * from one never given. */
static void skip_lines(const struct summary_skip *skips, int nskips, int *next, int upto,
		       const struct rcl_opts *o)
{
	for (; *next < nskips && skips[*next].given < upto; (*next)++)
		if (o->view == RCL_VIEW_JSON && (o->at || o->replay))
			summary_json_skip_line(&skips[*next]);
}

/* f holds no complete refresh to show: said on stderr, and with --json a
 * skip line in its place (a consumer of the lines could not tell it was
 * given). */
static void no_refresh_said(const struct capfile *f, const struct rcl_opts *o)
{
	struct summary_skip s = { .path = f->path, .no_refresh = true, .host = f->info.host };

	snprintf(s.error, sizeof(s.error), "%s: no complete refresh recorded", f->path);
	elog("%s", s.error);
	if (o->view == RCL_VIEW_JSON)
		summary_json_skip_line(&s);
}

/* "--pid P --comm NAME", of those set in o, the name made safe to show */
static void sel_str(char *buf, size_t size, const struct rcl_opts *o)
{
	char name[4 * sizeof(o->comm)];

	shown_str(name, sizeof(name), o->comm);
	snprintf(buf, size, "%s%.0d%s%s%s", o->pid ? "--pid " : "", o->pid,
		 o->pid && o->comm[0] ? " " : "", o->comm[0] ? "--comm " : "", o->comm[0] ? name : "");
}

/* --pid or --comm that select no process of any file read (in its
 * refreshes or events): the empty summary, table or CSV said nothing, and
 * read as "that process held nothing" (the live view says so of a name no
 * process has). One line, with a name that looks like --comm's. Not when
 * stdout's reader went away, which leaves the files unread. A file's own
 * selection (recorded with --pid, --comm) is said of that file. */
static void selects_none(const struct capfile *files, int nfiles, const struct rcl_opts *o)
{
	const char *like = "", *where = nfiles == 1 ? files[0].path : "the captures given";
	char sel[96];

	if (!nfiles || ferror(stdout))
		return;
	if (!o->pid && !o->comm[0]) {
		for (int fi = 0; fi < nfiles; fi++) {
			const struct capfile *f = &files[fi];

			if (f->selected_seen || !f->done || (!f->opts.pid && !f->opts.comm[0]))
				continue;
			sel_str(sel, sizeof(sel), &f->opts);
			elog("%s: recorded with %s, and no process it selects is in it: nothing shows "
			     "(--all shows every process)", f->path, sel);
		}
		return;
	}
	for (int fi = 0; fi < nfiles; fi++) {
		if (files[fi].selected_seen || !files[fi].done)
			return;
		if (!like[0])
			like = files[fi].selected_like;
	}
	sel_str(sel, sizeof(sel), o);
	if (o->pid && o->comm[0]) {
		elog("%s: no process of that pid and name in %s: nothing shows", sel, where);
	} else if (o->pid) {
		elog("%s: no process of that pid in %s: nothing shows", sel, where);
	} else {
		elog("%s: no process of that name in %s (names as 'ps -o comm=' shows "
		     "them%s%s%s): nothing shows", sel, where, like[0] ? ", e.g. '" : "", like,
		     like[0] ? "'" : "");
	}
}

/* Files recorded with --pid or --comm show what their recorder showed
 * (capfile_open); said once, as the report begins. */
static void say_recorded_sel(const struct capfile *files, int nfiles, const struct rcl_opts *o)
{
	char sel[96];

	if (o->all || o->pid || o->comm[0])
		return;
	for (int fi = 0; fi < nfiles; fi++) {
		if (!files[fi].opts.pid && !files[fi].opts.comm[0])
			continue;
		sel_str(sel, sizeof(sel), &files[fi].opts);
		elog("%s: recorded with %s: showing what its recorder showed (the file holds every "
		     "process: --all shows them)", files[fi].path, sel);
	}
}

static volatile sig_atomic_t replay_stop;

static void on_replay_signal(int sig)
{
	replay_stop = sig;
}

/* TUI refresh during a replay: the next tick; at the end the last frame
 * stays until q. */
static int replay_refresh(struct collector *c)
{
	struct capfile *f = (struct capfile *)((char *)c - offsetof(struct capfile, c));

	/* at the end, the model of the last whole tick: a file that ends
	 * inside one (a recorder killed, a damaged last chunk) left it half
	 * refilled, and the last frame showed every count 0 */
	if (!f->done && capfile_next_tick(f, NULL, NULL) <= 0)
		capfile_settle(f, &f->opts);
	c->replay_end = f->done; /* the TUI says so: a still screen is no calm */
	return 0;
}

static int replay_tui(struct capfile *files, int nfiles, const struct rcl_opts *o)
{
	struct capfile *f = &files[0];

	if (nfiles > 1)
		elog("the TUI replays one file: %s (use --plain or --json for all)", f->path);
	f->tui = true;
	signal(SIGINT, on_replay_signal);
	signal(SIGTERM, on_replay_signal);
	signal(SIGHUP, on_replay_signal);
	if (capfile_next_tick(f, NULL, NULL) <= 0) {
		elog("%s: no complete refresh recorded", f->path);
		return RCL_EXIT_ERROR;
	}
	f->opts.interval_s = (f->rp.meta.interval_s > 0 ? f->rp.meta.interval_s : 1) / o->speed;
	f->opts.count = 0;
	f->opts.duration_s = 0;
	return tui_run(&f->c, &replay_stop, replay_refresh) ? RCL_EXIT_ERROR : RCL_EXIT_OK;
}

int cmd_report(const struct rcl_opts *o)
{
	struct capfile files[MAX_FILES];
	struct summary_skip skips[MAX_FILES];
	int given[MAX_FILES]; /* files[i]'s place among the files given */
	int pipe_fd[MAX_FILES], npipes = 0; /* copies of the pipes given */
	int nfiles = 0, nskips = 0, rc = RCL_EXIT_OK, stdin_fd = -1, next_skip = 0;
	bool damaged = false, no_refresh = false, unreadable = false, several = o->files[0] && o->files[1];
	struct rcl_at at;

	/* as the live view: a reader going away (`report --csv | head`) ends
	 * the report through ferror(), with 0, not SIGPIPE's 141; the loops
	 * below stop at the next refresh once stdout has failed */
	signal(SIGPIPE, SIG_IGN);
	memset(files, 0, sizeof(files));
	/* a bad --at is a usage error, whatever the files are: read after
	 * them, "report missing.rcl --at junk" said only that the file was
	 * missing (exit 1) */
	if (o->at && at_parse(o->at, &at)) {
		elog("bad --at '%s': give +90s, +2m, HH:MM[:SS[.fff]], YYYY-MM-DD HH:MM[:SS[.fff]] or a Unix time "
		     "(s, ms, us or ns)", o->at);
		return RCL_EXIT_USAGE;
	}
	for (char **p = o->files; *p; p++)
		if (!strcmp(*p, "-")) { /* opts.c took it once at most */
			if ((rc = spool_stdin(&stdin_fd)))
				return rc;
			capfile_stdin(stdin_fd);
		}
	if ((rc = check_distinct(o->files, stdin_fd)))
		goto cleanup;
	/* a pipe given as a file (`report <(ssh a cat x.rcl) <(ssh b cat
	 * y.rcl)`, a FIFO) is read whole first, as "-" is: it was "not a
	 * regular file", and "-" takes one pipe only */
	for (char **p = o->files; *p && npipes < MAX_FILES; p++) {
		int fd;

		if (!strcmp(*p, "-"))
			continue;
		if ((rc = spool_pipe(*p, &fd)))
			goto cleanup;
		if (fd >= 0) {
			pipe_fd[npipes++] = fd;
			capfile_spooled(*p, fd);
		}
	}
	for (char **p = o->files; *p; p++) {
		int e;

		if (nfiles == MAX_FILES) {
			elog("at most %d files at once", MAX_FILES);
			rc = RCL_EXIT_USAGE;
			goto cleanup;
		}
		files[nfiles].path = *p;
		e = capfile_open(&files[nfiles], o);
		if (e) {
			/* a file that cannot be read (missing, another user's,
			 * not a capture: exit 1 at the end) or a capture whose
			 * header is damaged (6): none of it can be read, the
			 * other files still are. The one line said which; one
			 * unreadable file aborted the report of all the others,
			 * where a damaged one was skipped */
			memset(&skips[nskips], 0, sizeof(skips[0]));
			skips[nskips].path = *p;
			skips[nskips].given = (int)(p - o->files);
			skips[nskips].damaged = e == RCL_EXIT_INCOMPLETE;
			snprintf(skips[nskips].error, sizeof(skips[0].error), "%s", files[nfiles].open_err);
			nskips++;
			capfile_close(&files[nfiles]);
			memset(&files[nfiles], 0, sizeof(files[0]));
			if (e == RCL_EXIT_INCOMPLETE)
				damaged = true;
			else
				unreadable = true;
			continue;
		}
		given[nfiles++] = (int)(p - o->files);
	}
	if (!nfiles) { /* nothing readable in any file given */
		rc = unreadable ? RCL_EXIT_ERROR : RCL_EXIT_INCOMPLETE;
		/* the summary's JSON still says which, and why */
		if (!o->at && !o->replay && !o->csv && o->view == RCL_VIEW_JSON &&
		    summary_print(files, 0, skips, nskips, true) == 0)
			out_flush(stdout);
		skip_lines(skips, nskips, &next_skip, INT_MAX, o);
		out_flush(stdout);
		goto cleanup;
	}
	say_recorded_sel(files, nfiles, o);
	if (o->replay && o->view == RCL_VIEW_TUI) {
		rc = replay_tui(files, nfiles, o);
		/* then the damage, as the other modes say it (it exited 0
		 * without a word on a file cut short) */
		goto damage;
	}
	if (o->view == RCL_VIEW_TUI || o->view == RCL_VIEW_AUTO)
		((struct rcl_opts *)o)->view = RCL_VIEW_PLAIN;
	/* several files' --json lines name theirs: one printed none (no
	 * refresh), and the next file's line passed for it. Several given:
	 * the one readable of two is no live capture of one file */
	for (int fi = 0; fi < nfiles && several; fi++)
		files[fi].c.file = files[fi].path;

	if (o->csv) {
		damaged |= report_csv(files, nfiles, o);
	} else if (o->at) {
		unsigned long want[MAX_FILES];
		int outside[MAX_FILES];

		/* every file's refresh found before any is shown: a time of
		 * day that one of them holds on two days is a usage error,
		 * with nothing printed of the others */
		for (int fi = 0; fi < nfiles; fi++) {
			if ((rc = report_at_find(&files[fi], &at, o->at, &want[fi], &outside[fi])))
				goto cleanup;
			damaged |= capfile_damage(&files[fi]);
		}
		for (int fi = 0; fi < nfiles && !ferror(stdout); fi++) {
			struct capfile *f = &files[fi];
			int e;

			skip_lines(skips, nskips, &next_skip, given[fi], o);
			/* the model cannot step back: replay up to that refresh */
			if ((e = capfile_reopen(f, o))) {
				rc = e;
				goto cleanup;
			}
			while (f->ticks < want[fi] && capfile_next_tick(f, NULL, NULL) > 0)
				;
			if (!f->have_tick) {
				no_refresh_said(f, o);
				no_refresh = true;
				continue;
			}
			report_at_warn(f, o->at, outside[fi]);
			if (several && o->view != RCL_VIEW_JSON)
				printf("== %s (%s)\n", f->path, f->info.host);
			show(f, o);
		}
	} else if (o->replay) {
		for (int fi = 0; fi < nfiles && !ferror(stdout); fi++) {
			struct capfile *f = &files[fi];
			bool first = true;

			skip_lines(skips, nskips, &next_skip, given[fi], o);
			while (!ferror(stdout) && capfile_next_tick(f, NULL, NULL) > 0) {
				double iv = f->rp.meta.interval_s > 0 ? f->rp.meta.interval_s : 1;

				/* a tick's dt is the gap since the tick before it, so
				 * it is waited before the tick is shown: waited after,
				 * the second tick came with the first, each later one a
				 * gap early, and the replay lingered after the last.
				 * At most two intervals: a recorder stopped (SIGSTOP)
				 * for an hour, or a file's hostile dt, would hold the
				 * replay for as long */
				if (!first)
					sleep_s((f->rp.tick.dt < 2 * iv ? f->rp.tick.dt : 2 * iv) / o->speed);
				/* which file's timeline this is, as --at says it:
				 * the tables alone ran from one file into the next,
				 * the clock jumping back without a word */
				else if (several && o->view != RCL_VIEW_JSON)
					printf("== %s (%s)\n", f->path, f->info.host);
				first = false;
				show(f, o);
			}
			if (!f->have_tick) { /* as --at and the TUI say it */
				no_refresh_said(f, o);
				no_refresh = true;
			}
		}
	} else {
		int err = 0;

		/* the call that ends each file reads its events after the last
		 * tick: they count for the peaks too */
		for (int fi = 0; fi < nfiles && !err; fi++)
			while (!err && capfile_next_tick(&files[fi], summary_event, &err) > 0)
				err = summary_observe(&files[fi]);
		if (err) {
			elog("out of memory");
			rc = RCL_EXIT_ERROR;
			goto cleanup;
		}
		/* the joins read each file's end: its last whole refresh */
		for (int fi = 0; fi < nfiles; fi++) {
			files[fi].ends_in_tick = files[fi].rp.in_tick;
			if ((rc = capfile_settle(&files[fi], o)))
				goto cleanup;
		}
		if (summary_print(files, nfiles, skips, nskips, o->view == RCL_VIEW_JSON)) {
			elog("out of memory");
			rc = RCL_EXIT_ERROR;
			goto cleanup;
		}
	}
	skip_lines(skips, nskips, &next_skip, INT_MAX, o); /* those given after the last read */
	out_flush(stdout);
damage:
	for (int fi = 0; fi < nfiles; fi++) {
		/* read to the end so damage anywhere in the file is reported;
		 * not for a reader that has gone (`--replay | head -1`): it
		 * wants nothing more, and a GiB capture took half a minute */
		while (!files[fi].done && !ferror(stdout) && capfile_next_tick(&files[fi], NULL, NULL) > 0)
			;
		damaged |= capfile_damage(&files[fi]);
	}
	selects_none(files, nfiles, o);
	/* a file skipped because it could not be read: 1, whatever else; a
	 * file with nothing to show (--at, --replay) because it was cut short
	 * or damaged says so with 6; without damage it is an error */
	if (rc == RCL_EXIT_OK)
		rc = unreadable ? RCL_EXIT_ERROR : damaged ? RCL_EXIT_INCOMPLETE
			: no_refresh ? RCL_EXIT_ERROR : RCL_EXIT_OK;
cleanup:
	for (int fi = 0; fi < nfiles; fi++)
		capfile_close(&files[fi]);
	if (stdin_fd > STDERR_FILENO)
		close(stdin_fd);
	for (int i = 0; i < npipes; i++)
		close(pipe_fd[i]);
	return rc;
}
