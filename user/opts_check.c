// SPDX-License-Identifier: GPL-2.0
/*
 * opts_check.c - which options go with which command: the checks of the
 * whole command line once getopt has read it (opts.c). An option that a
 * command takes and would do nothing with is a usage error that names the
 * command it belongs to, never silently ignored.
 */
#include <string.h>

#include "opts_int.h"

#define RECORD_ONLY "-w, --force, --ring, --trigger-* and --after go with 'rcleak record' (see --help)"
#define REPORT_ONLY "--at, --csv, --replay, --speed and --all go with 'rcleak report' (see --help)"
/* what only run takes, named whole: --fail-on-close-wait, left out, was
 * refused by a line that named other options */
#define RUN_ONLY "--user, --junit, --max-*, --fail-on-close-wait and --wait-children " \
		 "go with 'rcleak run' (see --help)"

static bool record_opts(const struct rcl_opts *o)
{
	return o->write_path || o->force || o->ring_s || o->trigger_headroom >= 0 || o->trigger_verdict ||
	       o->after_set;
}

static bool report_opts(const struct rcl_opts *o)
{
	return o->at || o->csv || o->replay || o->speed_set || o->all;
}

static bool run_opts(const struct rcl_opts *o)
{
	return o->run_user || o->json_path || o->junit_path || o->max_open >= 0 || o->max_leaked >= 0 ||
	       o->max_connects >= 0 || o->max_churn >= 0 || o->fail_on_close_wait || o->wait_children_s;
}

static int check_run(struct rcl_opts *o, int argc, char **argv, const struct opts_seen *seen,
		     char *err, size_t errlen)
{
	if (seen->rest >= argc)
		return opts_fail(err, errlen, "'rcleak run' needs a command: rcleak run [OPTIONS] -- CMD [ARGS...]");
	/* `rcleak run -- "$CMD"`, CMD unset: exec of an empty name, exit 127 */
	if (!*argv[seen->rest])
		return opts_fail(err, errlen, "an empty command name: give the command to run, "
			    "rcleak run [OPTIONS] -- CMD [ARGS...]");
	/* record's options were taken here and did nothing */
	if (record_opts(o))
		return opts_fail(err, errlen, RECORD_ONLY);
	/* and report's: "run --csv -- make" printed no CSV, exit 0 */
	if (report_opts(o))
		return opts_fail(err, errlen, REPORT_ONLY);
	/* the live view's options were taken here and did nothing:
	 * "run -d 60" did not stop anything after 60 s */
	if (o->duration_s || o->count || o->pid || o->comm[0] || o->view == RCL_VIEW_PLAIN)
		return opts_fail(err, errlen, "%s is for the live view: 'rcleak run' watches CMD's tree until CMD "
			    "exits (drop it)", o->duration_s ? "-d" : o->count ? "-n" : o->pid ? "--pid"
			    : o->comm[0] ? "--comm" : "--plain");
	/* it only counts idle connections, which the live views show and
	 * run's summary does not: "run --idle 5" was taken, did nothing */
	if (o->thresholds_given & RCL_TH_IDLE)
		return opts_fail(err, errlen, "--idle counts idle connections for the live views ('idle' in "
			    "--json); the summary of 'rcleak run' has no such count (drop it)");
	/* the live view's other rules, and its servers' headroom: run judges
	 * by --max-*, --fail-on-close-wait and --churn-*, and "run --leak-rate
	 * 1 -- pytest" was taken and changed nothing */
	if (o->thresholds_given & (RCL_TH_LEAK | RCL_TH_ZOMBIE_IDLE | RCL_TH_FD_LIMIT))
		return opts_fail(err, errlen, "%s decides the live view's verdicts; 'rcleak run' fails by "
			    "--max-open, --max-leaked, --max-connects, --max-churn and --fail-on-close-wait "
			    "(drop it)", o->thresholds_given & RCL_TH_LEAK ? "--leak-rate"
			    : o->thresholds_given & RCL_TH_ZOMBIE_IDLE ? "--zombie-idle" : "--fd-limit");
	if (o->ask_redis || o->maxclients)
		return opts_fail(err, errlen, "%s gives servers' headroom to the live view and record; the "
			    "summary of 'rcleak run' has none (drop it)",
			    o->ask_redis ? "--ask-redis" : "--maxclients");
	o->run_argv = argv + seen->rest;
	if (!o->interval_set)
		o->interval_s = 0.5;
	if (!o->window_set)
		o->window_s = 5; /* run mode: churn is judged over 5 s */
	/* run mode: a CLOSE_WAIT counts once held 1 s. Any one seen at a
	 * refresh counted, and ioredis's quit(), where Redis closes first,
	 * leaves one for the moment the client takes to close: a refresh in
	 * it failed --fail-on-close-wait for a client that closed at once */
	if (!(o->thresholds_given & RCL_TH_ZOMBIE))
		o->zombie_s = 1;
	return 0;
}

static int check_report(struct rcl_opts *o, int argc, char **argv, const struct opts_seen *seen,
			char *err, size_t errlen)
{
	int nfiles = seen->nfiles;

	/* and those after "--"; "report $CAPTURE", unset, was ": No
	 * such file", exit 1 */
	for (int i = seen->rest; i < argc; i++) {
		if (!*argv[i])
			return opts_fail(err, errlen, "an empty file name: give a capture file, "
				    "rcleak report FILE...");
		if (nfiles < RCL_MAX_FILES)
			o->file_list[nfiles] = argv[i];
		nfiles++;
	}
	if (!nfiles)
		return opts_fail(err, errlen, "'rcleak report' needs a capture file: rcleak report FILE...");
	if (nfiles > RCL_MAX_FILES)
		return opts_fail(err, errlen, "%d files: give at most %d at once", nfiles, RCL_MAX_FILES);
	o->files = o->file_list;
	/* standard input holds one capture, read once */
	for (int i = 0, dash = 0; i < nfiles; i++)
		if (!strcmp(o->file_list[i], "-") && dash++)
			return opts_fail(err, errlen, "'-' (standard input) is given twice: it holds one "
				    "capture, give it once");
	if (o->csv + o->replay + (o->at != NULL) > 1)
		return opts_fail(err, errlen, "--csv, --replay and --at do not go together: give one");
	if (o->speed_set && !o->replay)
		return opts_fail(err, errlen, "--speed paces --replay: add --replay, or drop --speed");
	/* what a capture already decided */
	if (seen->tracing_opt)
		return opts_fail(err, errlen, "%s is for tracing, not for 'rcleak report': a capture keeps its "
			    "own ports and refreshes (see --help)", seen->tracing_opt);
	if (record_opts(o))
		return opts_fail(err, errlen, RECORD_ONLY);
	if (run_opts(o))
		return opts_fail(err, errlen, RUN_ONLY);
	if (o->csv && o->view != RCL_VIEW_AUTO)
		return opts_fail(err, errlen, "--csv is an output of its own: drop --json or --plain");
	/* --all undoes the recorded selection; --pid, --comm give another */
	if (o->all && (o->pid || o->comm[0]))
		return opts_fail(err, errlen, "--all shows every process; %s shows some: give one",
			    o->pid ? "--pid" : "--comm");
	/* it counts the views' idle connections: the summary and --csv have
	 * no such count ("report x.rcl --idle 5" was taken, did nothing) */
	if ((o->thresholds_given & RCL_TH_IDLE) && !o->replay && !o->at)
		return opts_fail(err, errlen, "--idle counts idle connections in the views of --replay and "
			    "--at; the summary and --csv have none: add one of those, or drop it");
	return 0;
}

int opts_check(struct rcl_opts *o, int argc, char **argv, const struct opts_seen *seen,
	       char *err, size_t errlen)
{
	/* taken and done nothing: only --ask-redis talks to Redis */
	if (o->redis_user && !o->ask_redis && o->cmd != RCL_CMD_REPORT && o->cmd != RCL_CMD_DOCTOR)
		return opts_fail(err, errlen, "--redis-user names the ACL user --ask-redis logs in as: add "
			    "--ask-redis, or drop it");
	if (o->cmd == RCL_CMD_DOCTOR && seen->not_doctor[0])
		return opts_fail(err, errlen, "'rcleak doctor' takes only -v and -p (got %s): its output is "
			    "text, its exit code says whether rcleak can run", seen->not_doctor);
	/* taken and done nothing: the /proc walk re-reads no sockets */
	if (o->walk == RCL_WALK_PROC && o->reconcile_set && o->reconcile_s > 0)
		return opts_fail(err, errlen, "--reconcile needs the kernel's socket walk, which --walk proc does "
			    "not have: drop --reconcile, or --walk iter");
	if (o->cmd == RCL_CMD_RUN)
		return check_run(o, argc, argv, seen, err, errlen);
	if (o->cmd == RCL_CMD_REPORT)
		return check_report(o, argc, argv, seen, err, errlen);
	if (o->cmd == RCL_CMD_RECORD) {
		/* "record x.rcl -w y.rcl" stopped at x.rcl: "needs -w FILE" */
		if (seen->rest < argc)
			return opts_fail(err, errlen, "unexpected argument '%s': the capture file goes "
				    "after -w: rcleak record -w FILE [OPTIONS]", argv[seen->rest]);
		if (!o->write_path)
			return opts_fail(err, errlen, "'rcleak record' needs -w FILE");
		/* --after without --ring was taken and did nothing: say so, as
		 * for --trigger-* */
		if ((o->trigger_headroom >= 0 || o->trigger_verdict || o->after_set) && !o->ring_s)
			return opts_fail(err, errlen, "--trigger-* and --after go with --ring SECS (the flight recorder)");
	} else if (record_opts(o)) {
		return opts_fail(err, errlen, RECORD_ONLY);
	}
	if (report_opts(o))
		return opts_fail(err, errlen, REPORT_ONLY);
	if (run_opts(o))
		return opts_fail(err, errlen, RUN_ONLY);
	if (seen->rest < argc) {
		const char *w = argv[seen->rest];

		/* "rcleak -p 6380 record -w f": the command is argv[1] */
		if (seen->first == 1 && (!strcmp(w, "run") || !strcmp(w, "record") || !strcmp(w, "report") ||
					 !strcmp(w, "doctor")))
			return opts_fail(err, errlen, "unexpected argument '%s': a command goes first, "
				    "rcleak %s [OPTIONS]", w, w);
		return opts_fail(err, errlen, "unexpected argument '%s' (see --help)", w);
	}
	return 0;
}
