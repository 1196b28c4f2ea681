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
#include "opts_helpers.h"

static void test_defaults(void **state)
{
	struct rcl_opts o;
	char err[256];

	assert_int_equal(parse_args(&o, err, NULL), 0);
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

	assert_int_equal(parse_args(&o, err, "-p", "7000-7002,6379", "-i", "0.5", "-d", "30",
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

	assert_int_equal(parse_args(&o, err, "doctor", "-v", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_DOCTOR);
	assert_int_equal(parse_args(&o, err, "--help", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	assert_int_equal(parse_args(&o, err, "-V", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_VERSION);
	/* help CMD: the one help text, which covers every command */
	assert_int_equal(parse_args(&o, err, "help", "run", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	/* a CMD help does not know is a typo, not a request for help */
	assert_int_equal(parse_args(&o, err, "help", "rnu", NULL), -1);
	assert_non_null(strstr(err, "no help for 'rnu'"));
	assert_int_equal(parse_args(&o, err, "help", "run", "x", NULL), -1);
	/* live and top are command names too (rcleak(8)): "no help for 'live'" */
	assert_int_equal(parse_args(&o, err, "help", "live", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	assert_int_equal(parse_args(&o, err, "help", "top", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	assert_int_equal(parse_args(&o, err, "help", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	/* asking help for help is help: "no help for '-h'", exit 2 */
	assert_int_equal(parse_args(&o, err, "help", "-h", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	assert_int_equal(parse_args(&o, err, "help", "--help", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_HELP);
	assert_int_equal(parse_args(&o, err, "frobnicate", NULL), -1);
	assert_non_null(strstr(err, "unknown command"));
	/* the message lists every command, not only doctor */
	assert_non_null(strstr(err, "run, record, report, doctor"));
	/* a command after an option: "unexpected argument 'record'" */
	assert_int_equal(parse_args(&o, err, "-p", "6380", "record", "-w", "f.rcl", NULL), -1);
	assert_non_null(strstr(err, "'record': a command goes first, rcleak record [OPTIONS]"));
	assert_int_equal(parse_args(&o, err, "-v", "doctor", NULL), -1);
	assert_non_null(strstr(err, "'doctor': a command goes first"));
	/* one process, one name, one verdict: the second silently replaced
	 * the first (-p adds its ports; these did not, and said nothing) */
	assert_int_equal(parse_args(&o, err, "--pid", "10", "--pid", "20", NULL), -1);
	assert_non_null(strstr(err, "--pid given twice"));
	assert_int_equal(parse_args(&o, err, "--comm", "a", "--comm", "b", NULL), -1);
	assert_non_null(strstr(err, "--comm given twice"));
	assert_int_equal(parse_args(&o, err, "record", "-w", "f", "--ring", "5", "--trigger-verdict", "LEAK",
			       "--trigger-verdict", "ZOMBIE", NULL), -1);
	assert_non_null(strstr(err, "--trigger-verdict given twice"));
	assert_int_equal(parse_args(&o, err, "--pid", "10", "--comm", "a", "--pid", "10", "--comm", "a", NULL), 0);
	/* the word that stopped the options is named: it was "needs -w FILE" */
	assert_int_equal(parse_args(&o, err, "record", "x.rcl", "-w", "y.rcl", NULL), -1);
	assert_non_null(strstr(err, "unexpected argument 'x.rcl'"));
	assert_non_null(strstr(err, "-w FILE"));
	/* a list too long to read says what to give, as other bad lists do */
	{
		static char lst[1200];

		memset(lst, '1', sizeof(lst) - 1);
		assert_int_equal(parse_args(&o, err, "-p", lst, NULL), -1);
		assert_non_null(strstr(err, "7000-7063"));
	}
	/* refused, it was left out of the list of run's options it named */
	assert_int_equal(parse_args(&o, err, "--fail-on-close-wait", NULL), -1);
	assert_non_null(strstr(err, "--fail-on-close-wait"));
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--fail-on-close-wait", NULL), -1);
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
		struct rcl_opts o;
		char err[256];

		assert_int_equal(parse_row(&o, err, NULL, bad[i], 3, NULL), -1);
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
		assert_int_equal(parse_args(&o, err, bad[i], NULL), -1);
		assert_non_null(strstr(err, says[i]));
	}
	/* "-p -n 1": -p lost its value, not "bad port range '-n'" */
	assert_int_equal(parse_args(&o, err, "-p", "-n", "1", NULL), -1);
	assert_non_null(strstr(err, "'-p' needs a port list"));
	assert_int_equal(parse_args(&o, err, "--ports", "-1", NULL), -1);
	assert_non_null(strstr(err, "'-p' needs a port list"));
	/* threshold bounds print as numbers an SRE can type, not 2.592e+06 */
	assert_int_equal(parse_args(&o, err, "--idle", "0", NULL), -1);
	assert_non_null(strstr(err, "from 1 to 2592000"));
	assert_int_equal(parse_args(&o, err, "--leak-rate", "0", NULL), -1);
	assert_non_null(strstr(err, "from 0.01 to 1000000000"));
	/* two views: refused, whichever comes last (it used to win silently) */
	assert_int_equal(parse_args(&o, err, "--json", "--plain", NULL), -1);
	assert_non_null(strstr(err, "--json and --plain"));
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--plain", "--json", NULL), -1);
	assert_non_null(strstr(err, "--json and --plain"));
	/* -d past a year names the bound ("give seconds > 0" was no help) */
	assert_int_equal(parse_args(&o, err, "-d", "1e9", NULL), -1);
	assert_non_null(strstr(err, "31536000"));
	/* doctor ignored every option but -v and -p: refused, named as given */
	assert_int_equal(parse_args(&o, err, "doctor", "--json", NULL), -1);
	assert_non_null(strstr(err, "'rcleak doctor' takes only -v and -p (got --json)"));
	assert_int_equal(parse_args(&o, err, "doctor", "-v", "-n", "1", NULL), -1);
	assert_non_null(strstr(err, "(got -n)"));
	assert_int_equal(parse_args(&o, err, "doctor", "-vv", "-p", "6380", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_DOCTOR);
	/* an unknown letter is still named as given */
	assert_int_equal(parse_args(&o, err, "-x", NULL), -1);
	assert_non_null(strstr(err, "'-x'"));
	/* an abbreviation of several options was "unknown option '--re'" */
	assert_int_equal(parse_args(&o, err, "--re", "5", NULL), -1);
	assert_non_null(strstr(err, "'--re' is ambiguous: --reconcile, --redis-user, --replay"));
	assert_int_equal(parse_args(&o, err, "run", "--max-c=3", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "'--max-c' is ambiguous: --max-connects, --max-churn"));
	assert_int_equal(parse_args(&o, err, "--rec", "5", NULL), 0);
	assert_true(o.reconcile_set);
	/* a missing value names its option, not the word it was in ("-vp") */
	assert_int_equal(parse_args(&o, err, "-vp", NULL), -1);
	assert_non_null(strstr(err, "option '-p' needs a value"));
	assert_int_equal(parse_args(&o, err, "--int", NULL), -1);
	assert_non_null(strstr(err, "option '--interval' needs a value"));
	assert_int_equal(parse_args(&o, err, "--comm", NULL), -1);
	assert_non_null(strstr(err, "option '--comm' needs a value"));
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
	assert_int_equal(parse_args(&o, err, "--bogus", "--help", NULL), -1);
	assert_int_equal(parse_args(&o, err, "-i", "0", "--help", NULL), -1);
	assert_int_equal(parse_args(&o, err, "record", "-w", "-d", "--help", NULL), -1);
	assert_non_null(strstr(err, "-w FILE"));
	assert_int_equal(parse_args(&o, err, "run", "--json", "--help", NULL), -1);
	assert_non_null(strstr(err, "--json FILE"));
	/* CMD's own --help and -V stay CMD's */
	assert_int_equal(parse_args(&o, err, "run", "--", "python3", "--help", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_RUN);
	assert_string_equal(o.run_argv[0], "python3");
	assert_string_equal(o.run_argv[1], "--help");
	assert_int_equal(parse_args(&o, err, "run", "--max-open", "3", "python3", "-V", NULL), 0);
	assert_int_equal(o.cmd, RCL_CMD_RUN);
	assert_string_equal(o.run_argv[1], "-V");
	assert_int_equal(parse_args(&o, err, "run", "--", "-h", NULL), 0);
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
	assert_int_equal(parse_args(&o, err, "run", "--json=out.json", "--", "true", NULL), 0);
	assert_string_equal(o.json_path, "out.json");
	assert_string_equal(o.run_argv[0], "true");
	assert_int_equal(parse_args(&o, err, "run", "--json=out.json", "true", "x", NULL), 0);
	assert_string_equal(o.json_path, "out.json");
	assert_string_equal(o.run_argv[0], "true");
	assert_string_equal(o.run_argv[1], "x");
	assert_int_equal(parse_args(&o, err, "run", "--json=./-x", "--junit=j.xml", "--", "true", NULL), 0);
	assert_string_equal(o.json_path, "./-x");
	assert_string_equal(o.junit_path, "j.xml");
	assert_int_equal(parse_args(&o, err, "run", "--json=", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--json FILE"));
	assert_int_equal(parse_args(&o, err, "run", "--json=-x", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "./-x"));
	/* run --json=FILE without CMD is still missing CMD */
	assert_int_equal(parse_args(&o, err, "run", "--json=out.json", NULL), -1);
	assert_non_null(strstr(err, "needs a command"));
	/* the views' --json takes no value, whatever the command */
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--json=out.json", NULL), -1);
	assert_non_null(strstr(err, "'--json' takes no value"));
	assert_int_equal(parse_args(&o, err, "record", "-w", "f.rcl", "--json=", NULL), -1);
	assert_non_null(strstr(err, "'--json' takes no value"));
	/* record: --write=FILE and -wFILE */
	assert_int_equal(parse_args(&o, err, "record", "--write=f.rcl", NULL), 0);
	assert_string_equal(o.write_path, "f.rcl");
	assert_int_equal(parse_args(&o, err, "record", "-wf.rcl", NULL), 0);
	assert_string_equal(o.write_path, "f.rcl");
	assert_int_equal(parse_args(&o, err, "record", "--write=-d", NULL), -1);
	assert_non_null(strstr(err, "-w FILE"));
	assert_int_equal(parse_args(&o, err, "record", "--write=", NULL), -1);
	assert_non_null(strstr(err, "-w FILE"));
	/* "-w=f.rcl" recorded to a file named "=f.rcl" (a short option's
	 * value has no '='), as "--junit==j.xml" wrote "=j.xml" */
	assert_int_equal(parse_args(&o, err, "record", "-w=f.rcl", NULL), -1);
	assert_non_null(strstr(err, "./=f.rcl"));
	assert_int_equal(parse_args(&o, err, "run", "--junit==j.xml", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--junit FILE"));
	assert_int_equal(parse_args(&o, err, "run", "--json", "=j.json", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--json FILE"));
	assert_int_equal(parse_args(&o, err, "record", "-w", "./=f.rcl", NULL), 0);
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
		assert_int_equal(parse_args(&o, err, cases[i][0], cases[i][1], NULL), -1);
		if (!strstr(err, cases[i][2]))
			fail_msg("%s %s: '%s' does not name the bound %s", cases[i][0], cases[i][1], err,
				 cases[i][2]);
	}
	for (size_t i = 0; i < sizeof(run_cases) / sizeof(run_cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse_args(&o, err, "run", run_cases[i][0], run_cases[i][1], "--", "true", NULL), -1);
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
		cmocka_unit_test(test_ports), cmocka_unit_test(test_ports_repeated),
		cmocka_unit_test(test_no_value),
		cmocka_unit_test(test_help_anywhere),
		cmocka_unit_test(test_file_equals),
		cmocka_unit_test(test_range_named),
	};

	return cmocka_run_group_tests_name("opts", tests, NULL, NULL);
}
