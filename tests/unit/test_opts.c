// SPDX-License-Identifier: GPL-2.0
/* Unit tests: option and port-range parsing. No root, no kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "opts.h"

static int parse(struct rcl_opts *o, char *err, ...)
{
	char *argv[32] = { "rcleak" };
	int argc = 1;
	va_list ap;
	char *a;

	va_start(ap, err);
	while ((a = va_arg(ap, char *)))
		argv[argc++] = a;
	va_end(ap);
	return opts_parse(o, argc, argv, err, 256);
}

static void test_defaults(void **state)
{
	struct rcl_opts o;
	char err[256];

	assert_int_equal(parse(&o, err, NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_LIVE);
	assert_int_equal(o.nports, 1);
	assert_int_equal(o.ports[0], 6379);
	assert_true(o.interval_s == 1.0);
	assert_true(o.window_s == 60.0);
	assert_true(o.reconcile_s == 10.0);
	assert_int_equal(o.view, RCL_VIEW_AUTO);
}

static void test_full(void **state)
{
	struct rcl_opts o;
	char err[256];

	assert_int_equal(parse(&o, err, "-p", "7000-7002,6379", "-i", "0.5", "-d", "30",
			       "-n", "3", "--pid", "42", "--comm", "python3", "--json",
			       "--window", "10", "--maxclients", "500", "--hooks", "raw_tp",
			       "-v", NULL), 0);
	assert_int_equal(o.nports, 4);
	assert_int_equal(o.ports[0], 6379);
	assert_int_equal(o.ports[3], 7002);
	assert_true(o.interval_s == 0.5);
	assert_true(o.duration_s == 30);
	assert_int_equal(o.count, 3);
	assert_int_equal(o.pid, 42);
	assert_string_equal(o.comm, "python3");
	assert_int_equal(o.view, RCL_VIEW_JSON);
	assert_int_equal(o.maxclients, 500);
	assert_int_equal(o.hooks, RCL_HOOKS_RAW_TP);
	assert_int_equal(o.verbose, 1);
}

static void test_commands(void **state)
{
	struct rcl_opts o;
	char err[256];

	assert_int_equal(parse(&o, err, "doctor", "-v", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_DOCTOR);
	assert_int_equal(parse(&o, err, "--help", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	assert_int_equal(parse(&o, err, "-V", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_VERSION);
	/* help CMD: the one help text, which covers every command */
	assert_int_equal(parse(&o, err, "help", "run", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	/* a CMD help does not know is a typo, not a request for help */
	assert_int_equal(parse(&o, err, "help", "rnu", NULL), -1);
	assert_non_null(strstr(err, "no help for 'rnu'"));
	assert_int_equal(parse(&o, err, "help", "run", "x", NULL), -1);
	/* live and top are command names too (rcleak(8)): "no help for 'live'" */
	assert_int_equal(parse(&o, err, "help", "live", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	assert_int_equal(parse(&o, err, "help", "top", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	assert_int_equal(parse(&o, err, "help", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	/* asking help for help is help: "no help for '-h'", exit 2 */
	assert_int_equal(parse(&o, err, "help", "-h", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	assert_int_equal(parse(&o, err, "help", "--help", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	assert_int_equal(parse(&o, err, "frobnicate", NULL), -1);
	assert_non_null(strstr(err, "unknown command"));
	/* the message lists every command, not only doctor */
	assert_non_null(strstr(err, "run, record, report, doctor"));
	/* a command after an option: "unexpected argument 'record'" */
	assert_int_equal(parse(&o, err, "-p", "6380", "record", "-w", "f.rcl", NULL), -1);
	assert_non_null(strstr(err, "'record': a command goes first, rcleak record [OPTIONS]"));
	assert_int_equal(parse(&o, err, "-v", "doctor", NULL), -1);
	assert_non_null(strstr(err, "'doctor': a command goes first"));
	/* one process, one name, one verdict: the second silently replaced
	 * the first (-p adds its ports; these did not, and said nothing) */
	assert_int_equal(parse(&o, err, "--pid", "10", "--pid", "20", NULL), -1);
	assert_non_null(strstr(err, "--pid given twice"));
	assert_int_equal(parse(&o, err, "--comm", "a", "--comm", "b", NULL), -1);
	assert_non_null(strstr(err, "--comm given twice"));
	assert_int_equal(parse(&o, err, "record", "-w", "f", "--ring", "5", "--trigger-verdict", "LEAK",
			       "--trigger-verdict", "ZOMBIE", NULL), -1);
	assert_non_null(strstr(err, "--trigger-verdict given twice"));
	assert_int_equal(parse(&o, err, "--pid", "10", "--comm", "a", "--pid", "10", "--comm", "a", NULL), 0);
	/* the word that stopped the options is named: it was "needs -w FILE" */
	assert_int_equal(parse(&o, err, "record", "x.rcl", "-w", "y.rcl", NULL), -1);
	assert_non_null(strstr(err, "unexpected argument 'x.rcl'"));
	assert_non_null(strstr(err, "-w FILE"));
	/* a list too long to read says what to give, as other bad lists do */
	{
		static char lst[1200];

		memset(lst, '1', sizeof(lst) - 1);
		assert_int_equal(parse(&o, err, "-p", lst, NULL), -1);
		assert_non_null(strstr(err, "7000-7063"));
	}
	/* refused, it was left out of the list of run's options it named */
	assert_int_equal(parse(&o, err, "--fail-on-close-wait", NULL), -1);
	assert_non_null(strstr(err, "--fail-on-close-wait"));
	assert_int_equal(parse(&o, err, "report", "x.rcl", "--fail-on-close-wait", NULL), -1);
	assert_non_null(strstr(err, "--fail-on-close-wait"));
}

static void test_bad(void **state)
{
	static const char *const bad[][3] = {
		{ "-p", "abc" }, { "-p", "0" }, { "-p", "70000" }, { "-p", "10-5" },
		{ "-p", "" }, { "-p", "1-65" }, { "-p", ",,," }, { "-p", "80-" },
		{ "-i", "0" }, { "-i", "-1" }, { "-i", "abc" }, { "-i", "nan" },
		{ "-i", "inf" }, { "-i", "0x10" }, { "-d", "0X1p4" }, { "-n", "0" }, { "-n", "1.5" }, { "-d", "-3" },
		{ "-i", " 1" }, { "-i", "1 " }, { "-i", "\t2" }, { "-n", " 3" }, { "-n", "3 " }, { "--pid", " 1" },
		{ "--pid", "x" }, { "--pid", "0" }, { "--comm", "" },
		{ "--comm", "0123456789abcdefXYZ" }, { "--window", "1" },
		{ "--hooks", "kprobe" }, { "--maxclients", "-5" }, { "--bogus" },
		{ "-x" }, { "-p" }, { "junk" }, { "-n", "3", "extra" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[5] = { "rcleak" };
		struct rcl_opts o;
		char err[256] = "";
		int argc = 1;

		for (int j = 0; j < 3 && bad[i][j]; j++)
			argv[argc++] = (char *)bad[i][j];
		assert_int_equal(opts_parse(&o, argc, argv, err, sizeof(err)), -1);
		assert_true(strlen(err) > 0);
		assert_null(strchr(err, '\n'));
	}
}

/* a value given to a long option that takes none names that option, not
 * getopt's internal value (was "unknown option '-\x02'", or '-h') */
static void test_no_value(void **state)
{
	static const char *const bad[] = { "--json=x", "--plain=1", "--ask-redis=yes", "--help=1",
					    "--version=2", "--verbose=3" };
	static const char *const says[] = { "'--json' takes no value", "'--plain' takes no value",
					    "'--ask-redis' takes no value", "'--help' takes no value",
					    "'--version' takes no value", "'--verbose' takes no value" };
	struct rcl_opts o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(&o, err, bad[i], NULL), -1);
		assert_non_null(strstr(err, says[i]));
	}
	/* "-p -n 1": -p lost its value, not "bad port range '-n'" */
	assert_int_equal(parse(&o, err, "-p", "-n", "1", NULL), -1);
	assert_non_null(strstr(err, "'-p' needs a port list"));
	assert_int_equal(parse(&o, err, "--ports", "-1", NULL), -1);
	assert_non_null(strstr(err, "'-p' needs a port list"));
	/* threshold bounds print as numbers an SRE can type, not 2.592e+06 */
	assert_int_equal(parse(&o, err, "--idle", "0", NULL), -1);
	assert_non_null(strstr(err, "from 1 to 2592000"));
	assert_int_equal(parse(&o, err, "--leak-rate", "0", NULL), -1);
	assert_non_null(strstr(err, "from 0.01 to 1000000000"));
	/* two views: refused, whichever comes last (it used to win silently) */
	assert_int_equal(parse(&o, err, "--json", "--plain", NULL), -1);
	assert_non_null(strstr(err, "--json and --plain"));
	assert_int_equal(parse(&o, err, "report", "x.rcl", "--plain", "--json", NULL), -1);
	assert_non_null(strstr(err, "--json and --plain"));
	/* -d past a year names the bound ("give seconds > 0" was no help) */
	assert_int_equal(parse(&o, err, "-d", "1e9", NULL), -1);
	assert_non_null(strstr(err, "31536000"));
	/* doctor ignored every option but -v and -p: refused, named as given */
	assert_int_equal(parse(&o, err, "doctor", "--json", NULL), -1);
	assert_non_null(strstr(err, "'rcleak doctor' takes only -v and -p (got --json)"));
	assert_int_equal(parse(&o, err, "doctor", "-v", "-n", "1", NULL), -1);
	assert_non_null(strstr(err, "(got -n)"));
	assert_int_equal(parse(&o, err, "doctor", "-vv", "-p", "6380", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_DOCTOR);
	/* an unknown letter is still named as given */
	assert_int_equal(parse(&o, err, "-x", NULL), -1);
	assert_non_null(strstr(err, "'-x'"));
	/* an abbreviation of several options was "unknown option '--re'" */
	assert_int_equal(parse(&o, err, "--re", "5", NULL), -1);
	assert_non_null(strstr(err, "'--re' is ambiguous: --reconcile, --redis-user, --replay"));
	assert_int_equal(parse(&o, err, "run", "--max-c=3", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "'--max-c' is ambiguous: --max-connects, --max-churn"));
	assert_int_equal(parse(&o, err, "--rec", "5", NULL), 0);
	assert_true(o.reconcile_set);
	/* a missing value names its option, not the word it was in ("-vp") */
	assert_int_equal(parse(&o, err, "-vp", NULL), -1);
	assert_non_null(strstr(err, "option '-p' needs a value"));
	assert_int_equal(parse(&o, err, "--int", NULL), -1);
	assert_non_null(strstr(err, "option '--interval' needs a value"));
	assert_int_equal(parse(&o, err, "--comm", NULL), -1);
	assert_non_null(strstr(err, "option '--comm' needs a value"));
}

/* run --json takes FILE; "--" or an option in its place is a usage error
 * that names --json FILE, not a file name */
static void test_run_json_file(void **state)
{
	static const char *const bad[][4] = {
		{ "run", "--json", "--", "true" }, { "run", "--json", "-p", "6379" },
		{ "run", "--json", "-", "true" }, { "run", "--json", "" }, { "run", "--json" },
	};
	struct rcl_opts o;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[6] = { "rcleak" };
		int argc = 1;

		for (int j = 0; j < 4 && bad[i][j]; j++)
			argv[argc++] = (char *)bad[i][j];
		err[0] = '\0';
		assert_int_equal(opts_parse(&o, argc, argv, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "--json FILE"));
		assert_null(strchr(err, '\n'));
	}
	assert_int_equal(parse(&o, err, "run", "--json", "out.json", "--", "true", NULL), 0);
	assert_string_equal(o.json_path, "out.json");
	assert_string_equal(o.run_argv[0], "true");
	assert_int_equal(parse(&o, err, "run", "--json", "./-x", "--", "true", NULL), 0);
	assert_string_equal(o.json_path, "./-x");
	/* --junit and record's -w likewise: the option was taken for FILE */
	assert_int_equal(parse(&o, err, "run", "--junit", "--max-open", "3", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--junit FILE"));
	assert_int_equal(parse(&o, err, "record", "-w", "-d", "5", NULL), -1);
	assert_non_null(strstr(err, "-w FILE"));
	assert_int_equal(parse(&o, err, "record", "-w", "./-d", NULL), 0);
	assert_string_equal(o.write_path, "./-d");
}

/* run: the live view's options did nothing there ("run -d 60" stopped
 * nothing): refused, naming the one given */
static void test_run_refuses_live(void **state)
{
	static const char *const bad[][2] = {
		{ "-d", "5" }, { "-n", "2" }, { "--pid", "7" }, { "--comm", "x" }, { "--plain" },
	};
	struct rcl_opts o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[7] = { "rcleak", "run" };
		int argc = 2;

		for (int j = 0; j < 2 && bad[i][j]; j++)
			argv[argc++] = (char *)bad[i][j];
		argv[argc++] = "--";
		argv[argc++] = "true";
		err[0] = '\0';
		assert_int_equal(opts_parse(&o, argc, argv, err, sizeof(err)), -1);
		assert_non_null(strstr(err, bad[i][0]));
		assert_non_null(strstr(err, "live view"));
	}
	assert_int_equal(parse(&o, err, "run", "-i", "0.2", "--window", "3", "-p", "7000", "--", "true",
			       NULL), 0);
}

/* run: report's options were taken and did nothing ("run --csv -- make"
 * printed no CSV, "run --at +5s" showed no moment, exit 0): refused, as
 * record's and the live view's are */
static void test_run_refuses_report(void **state)
{
	static const char *const bad[][2] = {
		{ "--csv" }, { "--at", "+5s" }, { "--replay" }, { "--speed", "2" },
	};
	struct rcl_opts o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[7] = { "rcleak", "run" };
		int argc = 2;

		for (int j = 0; j < 2 && bad[i][j]; j++)
			argv[argc++] = (char *)bad[i][j];
		argv[argc++] = "--";
		argv[argc++] = "true";
		err[0] = '\0';
		assert_int_equal(opts_parse(&o, argc, argv, err, sizeof(err)), -1);
		assert_non_null(strstr(err, bad[i][0]));
		assert_non_null(strstr(err, "rcleak report"));
	}
}

/* run --json, --junit and --user given twice with two values: the second
 * replaced the first without a word, and the first FILE, never written
 * nor emptied, kept an earlier run's summary for the CI step that reads
 * it. Refused, naming both; the same value twice is one. */
static void test_run_once(void **state)
{
	static const char *const opt[] = { "--json", "--junit", "--user" };
	struct rcl_opts o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(&o, err, "run", opt[i], "a1", opt[i], "b2", "--", "true", NULL), -1);
		assert_non_null(strstr(err, opt[i]));
		assert_non_null(strstr(err, "a1"));
		assert_non_null(strstr(err, "b2"));
		assert_int_equal(parse(&o, err, "run", opt[i], "a1", opt[i], "a1", "--", "true", NULL), 0);
	}
	assert_int_equal(parse(&o, err, "run", "--json=a1", "--json", "b2", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--json"));
	assert_int_equal(parse(&o, err, "run", "--json", "a1", "--junit", "b2", "--", "true", NULL), 0);
}

/* --max-open, --max-leaked, --max-connects and --max-churn given twice with
 * two values: the second won without a word, where --json, --junit and
 * --user twice are usage errors (test_run_once). Refused, naming the
 * option and both values; one value twice (written two ways, too) is one. */
static void test_run_limit_once(void **state)
{
	static const char *const opt[] = { "--max-open", "--max-leaked", "--max-connects", "--max-churn" };
	struct rcl_opts o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(&o, err, "run", opt[i], "3", opt[i], "5", "--", "true", NULL), -1);
		assert_non_null(strstr(err, opt[i]));
		assert_non_null(strstr(err, "'3'"));
		assert_non_null(strstr(err, "'5'"));
		assert_null(strchr(err, '\n'));
		assert_int_equal(parse(&o, err, "run", opt[i], "3", opt[i], "3", "--", "true", NULL), 0);
		assert_int_equal(parse(&o, err, "run", opt[i], "3", opt[i], "03", "--", "true", NULL), 0);
		/* the last word alone still sets it */
		assert_int_equal(parse(&o, err, "run", opt[i], "7", "--", "true", NULL), 0);
	}
	assert_int_equal(parse(&o, err, "run", "--max-open=2", "--max-open", "4", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--max-open"));
	assert_int_equal(parse(&o, err, "run", "--max-churn", "2.5", "--max-churn", "2.50", "--", "true", NULL), 0);
	assert_true(o.max_churn == 2.5);
	/* two different limits are two rules */
	assert_int_equal(parse(&o, err, "run", "--max-open", "3", "--max-leaked", "5", "--", "true", NULL), 0);
	assert_int_equal(o.max_open, 3);
	assert_int_equal(o.max_leaked, 5);
}

/* `rcleak run -- ''` (an unset $CMD) exec'd an empty name: exit 127,
 * "cannot run '': No such file or directory". A usage error, one line
 * saying what to give. */
static void test_run_empty_cmd(void **state)
{
	struct rcl_opts o;
	char err[256];

	(void)state;
	err[0] = '\0';
	assert_int_equal(parse(&o, err, "run", "--", "", NULL), -1);
	assert_non_null(strstr(err, "CMD"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(parse(&o, err, "run", "--", "", "arg", NULL), -1);
	assert_int_equal(parse(&o, err, "run", "--max-open", "3", "", NULL), -1);
	/* an empty argument after CMD is CMD's business */
	assert_int_equal(parse(&o, err, "run", "--", "true", "", NULL), 0);
}

/* report reads a capture: what tracing, record or run decide is refused,
 * with one line naming what was given; what views and verdicts use is not */
static void test_report_refuses(void **state)
{
	static const char *const bad[][3] = {
		{ "-p", "6379" }, { "-i", "2" }, { "-n", "3" }, { "-d", "5" }, { "--reconcile", "0" },
		{ "--hooks", "raw_tp" }, { "--walk", "proc" }, { "--ask-redis" }, { "--maxclients", "9" },
		{ "--ring", "5" }, { "--force" }, { "--max-open", "3" }, { "--fail-on-close-wait" },
		{ "--csv", "--json" }, { "--csv", "--plain" }, { "--speed", "4" }, { "--speed", "4", "--csv" },
	};
	static const char *const says[] = {
		"-p", "-i", "-n", "-d", "--reconcile", "--hooks", "--walk", "--ask-redis", "--maxclients",
		"record", "record", "run", "run", "--csv", "--csv", "--replay", "--replay",
	};
	struct rcl_opts o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[6] = { "rcleak", "report", "x.rcl" };
		int argc = 3;

		for (int j = 0; j < 3 && bad[i][j]; j++)
			argv[argc++] = (char *)bad[i][j];
		err[0] = '\0';
		assert_int_equal(opts_parse(&o, argc, argv, err, sizeof(err)), -1);
		assert_non_null(strstr(err, says[i]));
		assert_null(strchr(err, '\n'));
	}
	assert_int_equal(parse(&o, err, "report", "x.rcl", "--json", "--pid", "7", "--zombie", "5",
			       "--window", "30", "-v", NULL), 0);
	assert_int_equal(parse(&o, err, "report", "x.rcl", "--replay", "--speed", "4", "--plain",
			       NULL), 0);
	assert_int_equal(parse(&o, err, "report", "x.rcl", "--csv", NULL), 0);
	/* options after the files, as --help shows them, also where getopt
	 * permutes nothing (POSIXLY_CORRECT: "--csv: No such file") */
	setenv("POSIXLY_CORRECT", "1", 1);
	assert_int_equal(parse(&o, err, "report", "x.rcl", "--csv", "y.rcl", "--", "-z.rcl", NULL), 0);
	unsetenv("POSIXLY_CORRECT");
	assert_true(o.csv);
	assert_string_equal(o.files[0], "x.rcl");
	assert_string_equal(o.files[1], "y.rcl");
	assert_string_equal(o.files[2], "-z.rcl");
	assert_null(o.files[3]);
	/* --speed paces a replay, and outside report it was taken silently */
	assert_int_equal(parse(&o, err, "--speed", "2", NULL), -1);
	assert_non_null(strstr(err, "report"));
	assert_int_equal(parse(&o, err, "record", "-w", "x.rcl", "--speed", "2", NULL), -1);
	assert_non_null(strstr(err, "--speed"));
}

/* -h and -V act where they stand, whatever command and options came
 * before: "record -w f --help" printed a usage error (exit 2) that named
 * -w, and "report x.rcl --help" one about x.rcl */
static void test_help_anywhere(void **state)
{
	static const char *const help[][6] = {
		{ "record", "-w", "f.rcl", "--help" }, { "record", "-w", "f.rcl", "-h" },
		{ "record", "--help" }, { "run", "--max-open", "3", "-h" }, { "run", "--help" },
		{ "run", "--json", "out.json", "--help" }, { "run", "-h", "--", "true" },
		{ "report", "f.rcl", "--csv", "--help" }, { "report", "x.rcl", "--help" },
		{ "report", "--help", "x.rcl", "--csv" }, { "report", "--help" },
		{ "doctor", "-v", "--help" }, { "doctor", "--json", "--help" },
		{ "--ring", "5", "--help" }, { "-n", "3", "-h" },
		/* what follows is not looked at, as in coreutils and git */
		{ "--help", "--bogus" }, { "record", "-h", "-w" }, { "-h", "-V" },
	};
	static const char *const version[][6] = {
		{ "record", "-w", "f.rcl", "--version" }, { "record", "-w", "f.rcl", "-V" },
		{ "run", "--max-open", "3", "-V" }, { "report", "x.rcl", "--csv", "--version" },
		{ "report", "x.rcl", "-V" }, { "-V", "-h" },
	};
	struct rcl_opts o;
	char err[256];

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		const char *const (*args)[6] = k ? version : help;
		size_t n = k ? sizeof(version) / sizeof(version[0]) : sizeof(help) / sizeof(help[0]);

		for (size_t i = 0; i < n; i++) {
			char *argv[8] = { "rcleak" };
			int argc = 1;

			for (int j = 0; j < 6 && args[i][j]; j++)
				argv[argc++] = (char *)args[i][j];
			err[0] = '\0';
			assert_int_equal(opts_parse(&o, argc, argv, err, sizeof(err)), 0);
			assert_int_equal(o.cmd, k ? RCL_CMD_VERSION : RCL_CMD_HELP);
		}
	}
	/* a bad option or value before -h is still a usage error */
	assert_int_equal(parse(&o, err, "--bogus", "--help", NULL), -1);
	assert_int_equal(parse(&o, err, "-i", "0", "--help", NULL), -1);
	assert_int_equal(parse(&o, err, "record", "-w", "-d", "--help", NULL), -1);
	assert_non_null(strstr(err, "-w FILE"));
	assert_int_equal(parse(&o, err, "run", "--json", "--help", NULL), -1);
	assert_non_null(strstr(err, "--json FILE"));
	/* CMD's own --help and -V stay CMD's */
	assert_int_equal(parse(&o, err, "run", "--", "python3", "--help", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_RUN);
	assert_string_equal(o.run_argv[0], "python3");
	assert_string_equal(o.run_argv[1], "--help");
	assert_int_equal(parse(&o, err, "run", "--max-open", "3", "python3", "-V", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_RUN);
	assert_string_equal(o.run_argv[1], "-V");
	assert_int_equal(parse(&o, err, "run", "--", "-h", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_RUN);
	assert_string_equal(o.run_argv[0], "-h");
}

/* run --json=FILE, as --junit=FILE: it was "option '--json' takes no
 * value"; record's -w likewise. The "=" form follows the rules of FILE. */
static void test_file_equals(void **state)
{
	struct rcl_opts o;
	char err[256];

	(void)state;
	assert_int_equal(parse(&o, err, "run", "--json=out.json", "--", "true", NULL), 0);
	assert_string_equal(o.json_path, "out.json");
	assert_string_equal(o.run_argv[0], "true");
	assert_int_equal(parse(&o, err, "run", "--json=out.json", "true", "x", NULL), 0);
	assert_string_equal(o.json_path, "out.json");
	assert_string_equal(o.run_argv[0], "true");
	assert_string_equal(o.run_argv[1], "x");
	assert_int_equal(parse(&o, err, "run", "--json=./-x", "--junit=j.xml", "--", "true", NULL), 0);
	assert_string_equal(o.json_path, "./-x");
	assert_string_equal(o.junit_path, "j.xml");
	assert_int_equal(parse(&o, err, "run", "--json=", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--json FILE"));
	assert_int_equal(parse(&o, err, "run", "--json=-x", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "./-x"));
	/* run --json=FILE without CMD is still missing CMD */
	assert_int_equal(parse(&o, err, "run", "--json=out.json", NULL), -1);
	assert_non_null(strstr(err, "needs a command"));
	/* the views' --json takes no value, whatever the command */
	assert_int_equal(parse(&o, err, "report", "x.rcl", "--json=out.json", NULL), -1);
	assert_non_null(strstr(err, "'--json' takes no value"));
	assert_int_equal(parse(&o, err, "record", "-w", "f.rcl", "--json=", NULL), -1);
	assert_non_null(strstr(err, "'--json' takes no value"));
	/* record: --write=FILE and -wFILE */
	assert_int_equal(parse(&o, err, "record", "--write=f.rcl", NULL), 0);
	assert_string_equal(o.write_path, "f.rcl");
	assert_int_equal(parse(&o, err, "record", "-wf.rcl", NULL), 0);
	assert_string_equal(o.write_path, "f.rcl");
	assert_int_equal(parse(&o, err, "record", "--write=-d", NULL), -1);
	assert_non_null(strstr(err, "-w FILE"));
	assert_int_equal(parse(&o, err, "record", "--write=", NULL), -1);
	assert_non_null(strstr(err, "-w FILE"));
	/* "-w=f.rcl" recorded to a file named "=f.rcl" (a short option's
	 * value has no '='), as "--junit==j.xml" wrote "=j.xml" */
	assert_int_equal(parse(&o, err, "record", "-w=f.rcl", NULL), -1);
	assert_non_null(strstr(err, "./=f.rcl"));
	assert_int_equal(parse(&o, err, "run", "--junit==j.xml", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--junit FILE"));
	assert_int_equal(parse(&o, err, "run", "--json", "=j.json", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--json FILE"));
	assert_int_equal(parse(&o, err, "record", "-w", "./=f.rcl", NULL), 0);
	assert_string_equal(o.write_path, "./=f.rcl");
}

static void test_ports(void **state)
{
	__u16 p[RCL_MAX_PORTS];
	char err[256];

	assert_int_equal(opts_parse_ports("6379", p, RCL_MAX_PORTS, err, sizeof(err)), 1);
	assert_int_equal(opts_parse_ports("6380,6379,6380", p, RCL_MAX_PORTS, err, sizeof(err)), 2);
	assert_int_equal(p[0], 6379);
	assert_int_equal(p[1], 6380);
	assert_int_equal(opts_parse_ports("7000-7005,6379", p, RCL_MAX_PORTS, err, sizeof(err)), 7);
	assert_int_equal(opts_parse_ports("1-64", p, RCL_MAX_PORTS, err, sizeof(err)), 64);
	assert_int_equal(opts_parse_ports("1-64,64,1", p, RCL_MAX_PORTS, err, sizeof(err)), 64);
	assert_int_equal(opts_parse_ports("1-65", p, RCL_MAX_PORTS, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most 64"));
	assert_int_equal(opts_parse_ports("65535", p, RCL_MAX_PORTS, err, sizeof(err)), 1);
	assert_int_equal(p[0], 65535);
	assert_int_equal(opts_parse_ports("1-65535", p, RCL_MAX_PORTS, err, sizeof(err)), -1);
	assert_int_equal(opts_parse_ports("5-5", p, RCL_MAX_PORTS, err, sizeof(err)), 1);
	assert_int_equal(opts_parse_ports("5 ", p, RCL_MAX_PORTS, err, sizeof(err)), -1);
	/* empty elements and signs were taken */
	static const char *const bad[] = { "+5", "6379,", ",6379", "6379,,6380", "6379, 6380", "0x10" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(opts_parse_ports(bad[i], p, RCL_MAX_PORTS, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "bad port"));
	}
}

/* -p again adds to the list: "-p 22001 -p 22002" watched 22002 alone. The
 * first -p replaces the default 6379; a port given twice counts once. */
static void test_ports_repeated(void **state)
{
	char *argv[] = { "rcleak", "-p", "22002", "-p", "22001,22002", "-p", "7000-7001", NULL };
	struct rcl_opts o;
	char err[256];

	assert_int_equal(opts_parse(&o, 7, argv, err, sizeof(err)), 0);
	assert_int_equal(o.nports, 4);
	assert_int_equal(o.ports[0], 7000);
	assert_int_equal(o.ports[1], 7001);
	assert_int_equal(o.ports[2], 22001);
	assert_int_equal(o.ports[3], 22002);
	{
		char *argv2[] = { "rcleak", "-p", "1-40", "-p", "100-130", NULL };

		assert_int_equal(opts_parse(&o, 5, argv2, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "at most 64"));
	}
}

/* --wait-children takes SECS only as --wait-children=SECS: "--wait-children
 * 10 -- make test" ran "10" as CMD (exit 127). A number right after the bare
 * option is a usage error that says to write the "=" form; after "--", or a
 * word that is no number, it is CMD. */
static void test_wait_children_value(void **state)
{
	static const char *const nums[] = { "10", "2.5", ".5", "30." };
	struct rcl_opts o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		char want[64];

		err[0] = '\0';
		assert_int_equal(parse(&o, err, "run", "--wait-children", nums[i], "--", "make", "test",
				       NULL), -1);
		snprintf(want, sizeof(want), "--wait-children=%s", nums[i]);
		assert_non_null(strstr(err, want));
		assert_null(strchr(err, '\n'));
		assert_int_equal(parse(&o, err, "run", "--wait-children", nums[i], "make", NULL), -1);
		assert_non_null(strstr(err, want));
	}
	/* nothing after it: still the number that would have been CMD */
	assert_int_equal(parse(&o, err, "run", "--wait-children", "10", NULL), -1);
	assert_non_null(strstr(err, "--wait-children=10"));
	/* an abbreviation of it likewise */
	assert_int_equal(parse(&o, err, "run", "--wait-ch", "10", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--wait-children=10"));
	assert_int_equal(parse(&o, err, "run", "--wait-children=10", "--", "make", NULL), 0);
	assert_true(o.wait_children_s == 10);
	assert_string_equal(o.run_argv[0], "make");
	/* after "--" a command named like a number is CMD */
	assert_int_equal(parse(&o, err, "run", "--wait-children", "--", "10", NULL), 0);
	assert_true(o.wait_children_s == 30);
	assert_string_equal(o.run_argv[0], "10");
	assert_int_equal(parse(&o, err, "run", "--wait-children", "make", "10", NULL), 0);
	assert_true(o.wait_children_s == 30);
	assert_string_equal(o.run_argv[0], "make");
	assert_int_equal(parse(&o, err, "run", "--wait-children", "10x", NULL), 0);
	assert_string_equal(o.run_argv[0], "10x");
	assert_int_equal(parse(&o, err, "run", "--wait-children", "1.2.3", NULL), 0);
	assert_string_equal(o.run_argv[0], "1.2.3");
	assert_int_equal(parse(&o, err, "run", "--wait-children", "-p", "7000", "10", NULL), 0);
	assert_string_equal(o.run_argv[0], "10");
}

/* a value out of range gets a message that names the range: past the top,
 * "give a number >= 1" (--maxclients 100000001) told to do what was done */
static void test_range_named(void **state)
{
	static const char *const cases[][3] = {
		{ "--maxclients", "100000001", "100000000" }, { "-n", "1000000001", "1000000000" },
		{ "--window", "86401", "86400" }, { "--reconcile", "86401", "86400" },
		{ "--pid", "4194305", "4194304" },
		/* 6 characters, 18 bytes: the limit is the kernel's, in bytes */
		{ "--comm", "\xe5\x90\x8d\xe5\x89\x8d\xe5\x90\x8d\xe5\x89\x8d\xe5\x90\x8d\xe5\x89\x8d", "15 bytes" },
	};
	static const char *const run_cases[][3] = {
		{ "--max-open", "1000000001", "1000000000" }, { "--max-leaked", "-1", "1000000000" },
	};
	struct rcl_opts o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(&o, err, cases[i][0], cases[i][1], NULL), -1);
		if (!strstr(err, cases[i][2]))
			fail_msg("%s %s: '%s' does not name the bound %s", cases[i][0], cases[i][1], err,
				 cases[i][2]);
	}
	for (size_t i = 0; i < sizeof(run_cases) / sizeof(run_cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse(&o, err, "run", run_cases[i][0], run_cases[i][1], "--", "true", NULL), -1);
		if (!strstr(err, run_cases[i][2]))
			fail_msg("run %s %s: '%s' does not name the bound %s", run_cases[i][0], run_cases[i][1],
				 err, run_cases[i][2]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults), cmocka_unit_test(test_full),
		cmocka_unit_test(test_commands), cmocka_unit_test(test_bad),
		cmocka_unit_test(test_ports), cmocka_unit_test(test_ports_repeated), cmocka_unit_test(test_run_json_file),
		cmocka_unit_test(test_report_refuses), cmocka_unit_test(test_no_value),
		cmocka_unit_test(test_run_refuses_live), cmocka_unit_test(test_run_refuses_report),
		cmocka_unit_test(test_run_once), cmocka_unit_test(test_run_limit_once),
		cmocka_unit_test(test_run_empty_cmd),
		cmocka_unit_test(test_help_anywhere),
		cmocka_unit_test(test_file_equals), cmocka_unit_test(test_wait_children_value),
		cmocka_unit_test(test_range_named),
	};

	return cmocka_run_group_tests_name("opts", tests, NULL, NULL);
}
