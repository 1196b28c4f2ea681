// SPDX-License-Identifier: GPL-2.0
/* opts.c - command line parsing and validation (see opts.h). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "opts_int.h"

#define DEFAULT_PORT 6379

const char *opts_hooks_name(enum rcl_hooks h)
{
	switch (h) {
	case RCL_HOOKS_TP_BTF: return "tp_btf";
	case RCL_HOOKS_RAW_TP: return "raw_tp";
	case RCL_HOOKS_TRACEPOINT: return "tracepoint";
	default: return "auto";
	}
}

enum {
	OPT_PID = 256, OPT_COMM, OPT_JSON, OPT_PLAIN, OPT_WINDOW, OPT_RECONCILE,
	OPT_MAXCLIENTS, OPT_ASK_REDIS, OPT_REDIS_USER, OPT_HOOKS, OPT_WALK,
	OPT_IDLE, OPT_LEAK_RATE, OPT_CHURN_RATE, OPT_CHURN_LIFE, OPT_ZOMBIE, OPT_ZOMBIE_IDLE,
	OPT_FD_LIMIT, OPT_USER, OPT_JSON_FILE, OPT_JUNIT, OPT_MAX_OPEN, OPT_MAX_LEAKED,
	OPT_MAX_CONNECTS, OPT_MAX_CHURN, OPT_FAIL_CW, OPT_WAIT_CHILDREN,
	OPT_FORCE, OPT_RING, OPT_TRIG_HEADROOM, OPT_TRIG_VERDICT, OPT_AFTER, OPT_AT, OPT_CSV,
	OPT_REPLAY, OPT_SPEED, OPT_ALL,
};

static const struct option long_opts[] = {
	{ "ports", required_argument, NULL, 'p' },
	{ "interval", required_argument, NULL, 'i' },
	{ "duration", required_argument, NULL, 'd' },
	{ "count", required_argument, NULL, 'n' },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "comm", required_argument, NULL, OPT_COMM },
	/* a value only in run, as --json=FILE (see OPT_JSON) */
	{ "json", optional_argument, NULL, OPT_JSON },
	{ "plain", no_argument, NULL, OPT_PLAIN },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "reconcile", required_argument, NULL, OPT_RECONCILE },
	{ "maxclients", required_argument, NULL, OPT_MAXCLIENTS },
	{ "ask-redis", no_argument, NULL, OPT_ASK_REDIS },
	{ "redis-user", required_argument, NULL, OPT_REDIS_USER },
	{ "hooks", required_argument, NULL, OPT_HOOKS },
	{ "walk", required_argument, NULL, OPT_WALK },
	{ "idle", required_argument, NULL, OPT_IDLE },
	{ "leak-rate", required_argument, NULL, OPT_LEAK_RATE },
	{ "churn-rate", required_argument, NULL, OPT_CHURN_RATE },
	{ "churn-life", required_argument, NULL, OPT_CHURN_LIFE },
	{ "zombie", required_argument, NULL, OPT_ZOMBIE },
	{ "zombie-idle", required_argument, NULL, OPT_ZOMBIE_IDLE },
	{ "fd-limit", required_argument, NULL, OPT_FD_LIMIT },
	{ "user", required_argument, NULL, OPT_USER },
	{ "junit", required_argument, NULL, OPT_JUNIT },
	{ "max-open", required_argument, NULL, OPT_MAX_OPEN },
	{ "max-leaked", required_argument, NULL, OPT_MAX_LEAKED },
	{ "max-connects", required_argument, NULL, OPT_MAX_CONNECTS },
	{ "max-churn", required_argument, NULL, OPT_MAX_CHURN },
	{ "fail-on-close-wait", no_argument, NULL, OPT_FAIL_CW },
	{ "wait-children", optional_argument, NULL, OPT_WAIT_CHILDREN },
	{ "write", required_argument, NULL, 'w' },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "ring", required_argument, NULL, OPT_RING },
	{ "trigger-headroom", required_argument, NULL, OPT_TRIG_HEADROOM },
	{ "trigger-verdict", required_argument, NULL, OPT_TRIG_VERDICT },
	{ "after", required_argument, NULL, OPT_AFTER },
	{ "at", required_argument, NULL, OPT_AT },
	{ "csv", no_argument, NULL, OPT_CSV },
	{ "replay", no_argument, NULL, OPT_REPLAY },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "speed", required_argument, NULL, OPT_SPEED },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void defaults(struct rcl_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cmd = RCL_CMD_LIVE;
	o->view = RCL_VIEW_AUTO;
	o->hooks = RCL_HOOKS_AUTO;
	o->ports[0] = DEFAULT_PORT;
	o->nports = 1;
	o->interval_s = 1.0;
	o->window_s = 60.0;
	o->reconcile_s = 10.0;
	/* keep in step with model_thresholds_default() */
	o->idle_s = 300;
	o->leak_per_min = 5;
	o->churn_per_s = 5;
	o->churn_life_ms = 1000;
	o->zombie_s = 60;
	o->zombie_idle_s = 3600;
	o->fd_limit_pct = 10;
	o->max_open = o->max_leaked = o->max_connects = -1;
	o->max_churn = -1;
	o->trigger_headroom = -1;
	o->after_s = 10;
	o->speed = 1;
}

/* A one-value option's value into *slot. Given again with another value,
 * the second replaced the first without a word (run's summary file, the
 * record's capture, the hook tier): a usage error, why saying what to do. */
static int take_once(const char **slot, const char *val, const char *opt, const char *why, char *err,
		     size_t errlen)
{
	if (*slot && strcmp(*slot, val))
		return opts_fail(err, errlen, "%s given twice ('%s', '%s'): %s", opt, *slot, val, why);
	*slot = val;
	return 0;
}

int opts_parse(struct rcl_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	const char *tracing_opt = NULL; /* the first option given that only tracing uses */
	/* --hooks and --walk as first given: again with another value, the
	 * second forced the other tier or walk without a word */
	const char *hooks_arg = NULL, *walk_arg = NULL;
	char not_doctor[40] = "";     /* the first option given that doctor has no use for */
	__u16 more[RCL_MAX_PORTS];
	bool ports_given = false;
	int c, li, first = 1, nfiles = 0;
	long l;
	double d;

	defaults(o);
	if (argc > 1 && argv[1][0] != '-') {
		if (!strcmp(argv[1], "doctor"))
			o->cmd = RCL_CMD_DOCTOR;
		else if (!strcmp(argv[1], "live") || !strcmp(argv[1], "top"))
			o->cmd = RCL_CMD_LIVE;
		else if (!strcmp(argv[1], "help")) { /* help [CMD]: one text covers all */
			o->cmd = RCL_CMD_HELP;
			/* "help rnu" printed the help and exit 0: a typo passed;
			 * live and top, the live view's names, were refused */
			if (argc > 2 && strcmp(argv[2], "run") && strcmp(argv[2], "record") &&
			    strcmp(argv[2], "report") && strcmp(argv[2], "doctor") &&
			    strcmp(argv[2], "live") && strcmp(argv[2], "top") &&
			    strcmp(argv[2], "-h") && strcmp(argv[2], "--help"))
				return opts_fail(err, errlen, "no help for '%s' (commands: live, run, record, report, doctor)",
					    argv[2]);
			if (argc > 3)
				return opts_fail(err, errlen, "unexpected argument '%s': give 'rcleak help [CMD]'", argv[3]);
			return 0;
		}
		else if (!strcmp(argv[1], "run"))
			o->cmd = RCL_CMD_RUN;
		else if (!strcmp(argv[1], "record"))
			o->cmd = RCL_CMD_RECORD;
		else if (!strcmp(argv[1], "report"))
			o->cmd = RCL_CMD_REPORT;
		else
			return opts_fail(err, errlen, "unknown command '%s' (commands: run, record, report, doctor; see --help)", argv[1]);
		first = 2;
	}

	/* getopt_long over argv[first-1..]: argv[first-1] plays argv[0]. */
	optind = 0; /* full re-initialisation (GNU), so tests can call us twice */
	opterr = 0;
	/* report takes options after its files; everything else stops at the
	 * first non-option (run's CMD keeps its own options) */
	while ((li = -1, c = getopt_long(argc - first + 1, argv + first - 1,
					  o->cmd == RCL_CMD_REPORT ? "-:p:i:d:n:w:vVh" : "+:p:i:d:n:w:vVh",
					  long_opts, &li)) != -1) {
		/* doctor probes the kernel with -p's ports and says so with -v;
		 * anything else given to it would be silently ignored */
		if (!not_doctor[0] && c != 'v' && c != 'p' && c != 'h' && c != 'V' && c != ':' && c != '?') {
			if (li >= 0)
				snprintf(not_doctor, sizeof(not_doctor), "--%s", long_opts[li].name);
			else
				snprintf(not_doctor, sizeof(not_doctor), "-%c", c);
		}
		switch (c) {
		case 'p':
			if (!tracing_opt)
				tracing_opt = "-p";
			/* no port list starts with '-': "-p -n 1" lost its value
			 * to getopt, which took -n for the list */
			if (optarg[0] == '-')
				return opts_fail(err, errlen, "option '-p' needs a port list, e.g. -p 6379,7000-7005 (got '%s')",
					    optarg);
			l = opts_parse_ports(optarg, more, RCL_MAX_PORTS, err, errlen);
			if (l < 0)
				return -1;
			/* -p again adds its ports ("-p 22001 -p 22002" watched
			 * 22002 alone); the first replaces the default */
			if (!ports_given)
				o->nports = 0;
			ports_given = true;
			if (opts_add_ports(o, more, (int)l, err, errlen))
				return -1;
			break;
		case 'i':
			if (!tracing_opt)
				tracing_opt = "-i";
			if (opts_parse_secs(optarg, &d) || d < 0.01 || d > 86400)
				return opts_fail(err, errlen, "bad interval '%s': give seconds from 0.01 to 86400, e.g. -i 0.5",
					    optarg);
			o->interval_s = d;
			o->interval_set = true;
			break;
		case 'd':
			if (!tracing_opt)
				tracing_opt = "-d";
			if (opts_parse_secs(optarg, &d) || d <= 0 || d > 365 * 86400.0)
				/* name the upper bound: "-d 1e9" is > 0 too */
				return opts_fail(err, errlen, "bad duration '%s': give seconds > 0, at most a year "
					    "(31536000), e.g. -d 30", optarg);
			o->duration_s = d;
			break;
		case 'n':
			if (!tracing_opt)
				tracing_opt = "-n";
			if (opts_parse_long(optarg, 1, 1000000000L, &l))
				return opts_fail(err, errlen, "bad count '%s': give a number of intervals from 1 to 1000000000", optarg);
			o->count = l;
			break;
		case OPT_PID:
			if (opts_parse_long(optarg, 1, 4194304, &l))
				return opts_fail(err, errlen, "bad pid '%s': give a process id from 1 to 4194304", optarg);
			/* the second replaced the first, unlike -p's lists */
			if (o->pid && o->pid != l)
				return opts_fail(err, errlen, "--pid given twice (%d, %ld): it shows one process; "
					    "give one (--comm NAME shows all of a name)", o->pid, l);
			o->pid = (int)l;
			break;
		case OPT_COMM:
			/* bytes, not characters: "名前名前名前" is 6 characters,
			 * and was refused as over 15 of them */
			if (!*optarg)
				return opts_fail(err, errlen, "--comm needs a process name, as 'ps -o comm=' shows it");
			if (strlen(optarg) >= sizeof(o->comm))
				return opts_fail(err, errlen, "bad comm '%s' (%zu bytes): the kernel's name of a process is "
					    "at most 15 bytes; give it as 'ps -o comm=' shows it", optarg, strlen(optarg));
			if (o->comm[0] && strcmp(o->comm, optarg))
				return opts_fail(err, errlen, "--comm given twice ('%s', '%s'): it shows one name; give one",
					    o->comm, optarg);
			strcpy(o->comm, optarg);
			break;
		case OPT_JSON:
			if (o->cmd == RCL_CMD_RUN) { /* run: --json FILE or --json=FILE */
				/* getopt gives an optional value only in the "="
				 * form ("--json=out.json" was refused as taking no
				 * value, while --junit=x.xml worked): a separate
				 * word is taken here */
				const char *f = optarg;

				if (!f && optind < argc - first + 1)
					f = argv[first - 1 + optind];
				/* "--", another option, "" or nothing: FILE is missing */
				if (opts_need_file("--json", f ? f : "", err, errlen))
					return -1;
				if (!optarg)
					optind++;
				/* the second replaced the first, which kept an
				 * earlier run's summary, never emptied */
				if (take_once(&o->json_path, f, "--json", "it writes one file; give one", err, errlen))
					return -1;
				break;
			}
			/* the views' --json has no value: only run's writes a file */
			if (optarg)
				return opts_fail(err, errlen, "option '--json' takes no value (only 'rcleak run --json FILE' "
					    "writes a file; see --help)");
			if (o->view == RCL_VIEW_PLAIN)
				return opts_fail(err, errlen, "--json and --plain do not go together: give one");
			o->view = RCL_VIEW_JSON;
			break;
		case OPT_USER:
			if (!*optarg)
				return opts_fail(err, errlen, "--user needs a user name or a uid");
			if (take_once(&o->run_user, optarg, "--user", "CMD runs as one user; give one", err, errlen))
				return -1;
			break;
		case OPT_JUNIT:
			/* as for run --json: "--junit --max-open 3" wrote the XML
			 * to a file named "--max-open" and ran "3" */
			if (opts_need_file("--junit", optarg, err, errlen))
				return -1;
			if (take_once(&o->junit_path, optarg, "--junit", "it writes one file; give one", err, errlen))
				return -1;
			break;
		case OPT_MAX_OPEN:
		case OPT_MAX_LEAKED:
		case OPT_MAX_CONNECTS:
		{
			const char *name = c == OPT_MAX_OPEN ? "--max-open" : c == OPT_MAX_LEAKED ? "--max-leaked"
											 : "--max-connects";
			long *limit = c == OPT_MAX_OPEN ? &o->max_open : c == OPT_MAX_LEAKED ? &o->max_leaked
											     : &o->max_connects;

			if (opts_parse_long(optarg, 0, 1000000000L, &l))
				return opts_fail(err, errlen, "bad %s '%s': give a count from 0 to 1000000000",
					    name, optarg);
			/* as --json twice: the second won without a word (a CI
			 * line's limit overridden by one appended to it) */
			if (*limit >= 0 && *limit != l)
				return opts_fail(err, errlen, "%s given twice ('%ld', '%s'): it is one limit; "
					    "give one", name, *limit, optarg);
			*limit = l;
			break;
		}
		case OPT_MAX_CHURN: {
			double was = o->max_churn;

			if (opts_threshold(optarg, 0, 1e9, &o->max_churn, "--max-churn (connects/s)", err, errlen))
				return -1;
			if (was >= 0 && was != o->max_churn)
				return opts_fail(err, errlen, "--max-churn given twice ('%g', '%s'): it is one "
					    "limit; give one", was, optarg);
			break;
		}
		case 'w':
			/* "-w -d 5" recorded to a file named "-d" */
			if (opts_need_file("-w", optarg, err, errlen))
				return -1;
			/* as run's --json twice: the second won without a word,
			 * and the incident's capture was not where it was asked */
			if (take_once(&o->write_path, optarg, "-w", "record writes one file; give one", err, errlen))
				return -1;
			break;
		case OPT_FORCE:
			o->force = true;
			break;
		case OPT_RING:
			if (opts_threshold(optarg, 1, 86400, &o->ring_s, "--ring seconds", err, errlen))
				return -1;
			break;
		case OPT_TRIG_HEADROOM:
			if (opts_threshold(optarg, 0, 100, &o->trigger_headroom, "--trigger-headroom percent", err, errlen))
				return -1;
			break;
		case OPT_TRIG_VERDICT:
			if (strcmp(optarg, "LEAK") && strcmp(optarg, "CHURN") && strcmp(optarg, "ZOMBIE") &&
			    strcmp(optarg, "FD-LIMIT"))
				return opts_fail(err, errlen, "bad --trigger-verdict '%s': give LEAK, CHURN, ZOMBIE or FD-LIMIT", optarg);
			if (o->trigger_verdict && strcmp(o->trigger_verdict, optarg))
				return opts_fail(err, errlen, "--trigger-verdict given twice (%s, %s): it fires on one "
					    "verdict; give one", o->trigger_verdict, optarg);
			o->trigger_verdict = optarg;
			break;
		case OPT_AFTER:
			if (opts_threshold(optarg, 0, 86400, &o->after_s, "--after seconds", err, errlen))
				return -1;
			o->after_set = true;
			break;
		case OPT_AT:
			if (!*optarg)
				return opts_fail(err, errlen, "--at needs a time: +90s, 12:03[:10], 2026-12-07 12:03 or a Unix time");
			/* the second moment was shown, the first not, without a word */
			if (take_once(&o->at, optarg, "--at", "report shows one moment; run it once for each", err,
				      errlen))
				return -1;
			break;
		case OPT_CSV:
			o->csv = true;
			break;
		case OPT_REPLAY:
			o->replay = true;
			break;
		case OPT_ALL:
			o->all = true;
			break;
		case OPT_SPEED:
			if (opts_threshold(optarg, 0.01, 10000, &o->speed, "--speed factor", err, errlen))
				return -1;
			o->speed_set = true;
			break;
		case OPT_FAIL_CW:
			o->fail_on_close_wait = true;
			break;
		case OPT_WAIT_CHILDREN:
			o->wait_children_s = 30;
			/* SECS only as "=SECS" (an optional value): "run
			 * --wait-children 10 -- make" ran "10" as CMD. A word
			 * after "--" is CMD, whatever it looks like. */
			if (!optarg && o->cmd == RCL_CMD_RUN && first - 1 + optind < argc &&
			    opts_is_number(argv[first - 1 + optind]))
				return opts_fail(err, errlen, "'%s' after --wait-children would be the command: "
					    "write --wait-children=%s (a command of that name goes after --)",
					    argv[first - 1 + optind], argv[first - 1 + optind]);
			if (optarg && opts_threshold(optarg, 0.1, 86400, &o->wait_children_s,
						"--wait-children seconds", err, errlen))
				return -1;
			break;
		case OPT_PLAIN:
			/* the last one silently won: a script that parses one
			 * format got the other */
			if (o->view == RCL_VIEW_JSON)
				return opts_fail(err, errlen, "--json and --plain do not go together: give one");
			o->view = RCL_VIEW_PLAIN;
			break;
		case OPT_WINDOW:
			if (opts_parse_secs(optarg, &d) || d < 2 || d > 86400)
				return opts_fail(err, errlen, "bad window '%s': give seconds from 2 to 86400, e.g. --window 60", optarg);
			o->window_s = d;
			o->window_set = true;
			break;
		case OPT_RECONCILE:
			if (!tracing_opt)
				tracing_opt = "--reconcile";
			if (opts_parse_secs(optarg, &d) || d < 0 || d > 86400)
				return opts_fail(err, errlen, "bad reconcile period '%s': give seconds from 0 to 86400 (0 turns it off)", optarg);
			o->reconcile_s = d;
			o->reconcile_set = true;
			break;
		case OPT_MAXCLIENTS:
			if (!tracing_opt)
				tracing_opt = "--maxclients";
			if (opts_parse_long(optarg, 1, 100000000L, &l))
				return opts_fail(err, errlen, "bad maxclients '%s': give a number from 1 to 100000000", optarg);
			o->maxclients = l;
			break;
		case OPT_ASK_REDIS:
			if (!tracing_opt)
				tracing_opt = "--ask-redis";
			o->ask_redis = true;
			break;
		case OPT_REDIS_USER:
			if (!tracing_opt)
				tracing_opt = "--redis-user";
			/* an ACL user name is one word of printable bytes */
			if (!*optarg || strlen(optarg) > 128)
				return opts_fail(err, errlen, "bad --redis-user '%s': give the name of a Redis ACL user "
					    "(1 to 128 bytes)", optarg);
			for (const char *q = optarg; *q; q++)
				if ((unsigned char)*q <= ' ' || *q == 0x7f)
					return opts_fail(err, errlen, "bad --redis-user '%s': an ACL user name has no "
						    "spaces or control characters", optarg);
			o->redis_user = optarg;
			break;
		case OPT_HOOKS:
			if (!tracing_opt)
				tracing_opt = "--hooks";
			if (!strcmp(optarg, "auto"))
				o->hooks = RCL_HOOKS_AUTO;
			else if (!strcmp(optarg, "tp_btf"))
				o->hooks = RCL_HOOKS_TP_BTF;
			else if (!strcmp(optarg, "raw_tp"))
				o->hooks = RCL_HOOKS_RAW_TP;
			else if (!strcmp(optarg, "tracepoint"))
				o->hooks = RCL_HOOKS_TRACEPOINT;
			else
				return opts_fail(err, errlen, "bad hook tier '%s': give auto, tp_btf, raw_tp or tracepoint", optarg);
			if (take_once(&hooks_arg, optarg, "--hooks", "it forces one tier; give one", err, errlen))
				return -1;
			break;
		case OPT_WALK:
			if (!tracing_opt)
				tracing_opt = "--walk";
			if (!strcmp(optarg, "auto"))
				o->walk = RCL_WALK_AUTO;
			else if (!strcmp(optarg, "iter"))
				o->walk = RCL_WALK_ITER;
			else if (!strcmp(optarg, "proc"))
				o->walk = RCL_WALK_PROC;
			else
				return opts_fail(err, errlen, "bad walk '%s': give auto, iter or proc", optarg);
			if (take_once(&walk_arg, optarg, "--walk", "it is one way to find holders; give one", err,
				      errlen))
				return -1;
			break;
		case OPT_IDLE:
			o->thresholds_given |= RCL_TH_IDLE;
			if (opts_threshold(optarg, 1, 86400 * 30, &o->idle_s, "--idle seconds", err, errlen))
				return -1;
			break;
		case OPT_LEAK_RATE:
			o->thresholds_given |= RCL_TH_LEAK;
			if (opts_threshold(optarg, 0.01, 1e9, &o->leak_per_min, "--leak-rate (connections/min)", err, errlen))
				return -1;
			break;
		case OPT_CHURN_RATE:
			o->thresholds_given |= RCL_TH_CHURN;
			if (opts_threshold(optarg, 0.01, 1e9, &o->churn_per_s, "--churn-rate (connects/s)", err, errlen))
				return -1;
			break;
		case OPT_CHURN_LIFE:
			o->thresholds_given |= RCL_TH_LIFE;
			if (opts_threshold(optarg, 0.001, 1e9, &o->churn_life_ms, "--churn-life (ms)", err, errlen))
				return -1;
			break;
		case OPT_ZOMBIE:
			o->thresholds_given |= RCL_TH_ZOMBIE;
			if (opts_threshold(optarg, 1, 86400 * 30, &o->zombie_s, "--zombie seconds", err, errlen))
				return -1;
			break;
		case OPT_ZOMBIE_IDLE:
			o->thresholds_given |= RCL_TH_ZOMBIE_IDLE;
			if (opts_threshold(optarg, 1, 86400 * 30, &o->zombie_idle_s, "--zombie-idle seconds", err, errlen))
				return -1;
			break;
		case OPT_FD_LIMIT:
			o->thresholds_given |= RCL_TH_FD_LIMIT;
			if (opts_threshold(optarg, 0.1, 100, &o->fd_limit_pct, "--fd-limit percent", err, errlen))
				return -1;
			break;
		case 1: /* report's FILE: its options go before and after them, with
			 * POSIXLY_CORRECT too, where getopt permutes nothing */
			if (!*optarg)
				return opts_fail(err, errlen, "an empty file name: give a capture file, "
					    "rcleak report FILE...");
			if (nfiles < RCL_MAX_FILES)
				o->file_list[nfiles] = optarg;
			nfiles++;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'V':
		case 'h':
			/* -h and -V act where they stand, as in coreutils and git:
			 * what came before was parsed (a bad option or value there
			 * is still a usage error), what follows is not looked at,
			 * and none of the checks of the whole command line below
			 * applies ("record -w f --help" was refused for its -w,
			 * "report x.rcl --help" for x.rcl). The one help text
			 * covers every command. run's CMD and the words after "--"
			 * never get here: "run -- CMD --help" is CMD's --help. */
			o->cmd = c == 'h' ? RCL_CMD_HELP : RCL_CMD_VERSION;
			return 0;
		case ':':
			return opts_bad_option(long_opts, c, argv[first - 1 + optind - 1], err, errlen);
		default:
			return opts_bad_option(long_opts, c, argv[first - 1 + optind - 1], err, errlen);
		}
	}
	return opts_check(o, argc, argv, &(struct opts_seen){ .first = first, .rest = first - 1 + optind,
			  .nfiles = nfiles, .tracing_opt = tracing_opt, .not_doctor = not_doctor }, err, errlen);
}
