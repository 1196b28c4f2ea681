// SPDX-License-Identifier: GPL-2.0
/* Unit tests: which options go with which command (run's and report's), and
 * run's own values. No root, no kernel. */
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
		assert_int_equal(parse_row(&o, err, NULL, bad[i], 4, NULL), -1);
		assert_non_null(strstr(err, "--json FILE"));
		assert_null(strchr(err, '\n'));
	}
	assert_int_equal(parse_args(&o, err, "run", "--json", "out.json", "--", "true", NULL), 0);
	assert_string_equal(o.json_path, "out.json");
	assert_string_equal(o.run_argv[0], "true");
	assert_int_equal(parse_args(&o, err, "run", "--json", "./-x", "--", "true", NULL), 0);
	assert_string_equal(o.json_path, "./-x");
	/* --junit and record's -w likewise: the option was taken for FILE */
	assert_int_equal(parse_args(&o, err, "run", "--junit", "--max-open", "3", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--junit FILE"));
	assert_int_equal(parse_args(&o, err, "record", "-w", "-d", "5", NULL), -1);
	assert_non_null(strstr(err, "-w FILE"));
	assert_int_equal(parse_args(&o, err, "record", "-w", "./-d", NULL), 0);
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
		assert_int_equal(parse_row(&o, err, RUN, bad[i], 2, RUN_TRUE), -1);
		assert_non_null(strstr(err, bad[i][0]));
		assert_non_null(strstr(err, "live view"));
	}
	assert_int_equal(parse_args(&o, err, "run", "-i", "0.2", "--window", "3", "-p", "7000", "--", "true",
			       NULL), 0);
}

/* run --idle: it only counts idle connections (`idle` in the live views'
 * JSON), which run's summary has none of: taken, and did nothing. The
 * thresholds that decide a verdict stay */
static void test_run_refuses_idle(void **state)
{
	struct rcl_opts o;
	char err[256];

	(void)state;
	assert_int_equal(parse_args(&o, err, "run", "--idle", "5", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--idle"));
	assert_non_null(strstr(err, "drop it"));
	assert_int_equal(parse_args(&o, err, "run", "--zombie", "2", "--churn-rate", "1", "--churn-life", "50",
				    "--", "true", NULL), 0);
	assert_int_equal(parse_args(&o, err, "--idle", "5", "-n", "1", NULL), 0);
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--replay", "--idle", "5", NULL), 0);
}

/* run: the live view's other rules and servers' headroom were taken and
 * did nothing ("run --leak-rate 1 -- pytest" judged as without it) */
static void test_run_refuses_live_rules(void **state)
{
	static const char *const bad[][2] = {
		{ "--leak-rate", "1" }, { "--zombie-idle", "5" }, { "--fd-limit", "20" },
		{ "--maxclients", "100" }, { "--ask-redis" },
	};
	struct rcl_opts o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_row(&o, err, RUN, bad[i], bad[i][1] ? 2 : 1, RUN_TRUE), -1);
		assert_non_null(strstr(err, bad[i][0]));
		assert_non_null(strstr(err, "drop it"));
	}
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
		assert_int_equal(parse_row(&o, err, RUN, bad[i], 2, RUN_TRUE), -1);
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
		assert_int_equal(parse_args(&o, err, "run", opt[i], "a1", opt[i], "b2", "--", "true", NULL), -1);
		assert_non_null(strstr(err, opt[i]));
		assert_non_null(strstr(err, "a1"));
		assert_non_null(strstr(err, "b2"));
		assert_int_equal(parse_args(&o, err, "run", opt[i], "a1", opt[i], "a1", "--", "true", NULL), 0);
	}
	assert_int_equal(parse_args(&o, err, "run", "--json=a1", "--json", "b2", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--json"));
	assert_int_equal(parse_args(&o, err, "run", "--json", "a1", "--junit", "b2", "--", "true", NULL), 0);
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
		assert_int_equal(parse_args(&o, err, "run", opt[i], "3", opt[i], "5", "--", "true", NULL), -1);
		assert_non_null(strstr(err, opt[i]));
		assert_non_null(strstr(err, "'3'"));
		assert_non_null(strstr(err, "'5'"));
		assert_null(strchr(err, '\n'));
		assert_int_equal(parse_args(&o, err, "run", opt[i], "3", opt[i], "3", "--", "true", NULL), 0);
		assert_int_equal(parse_args(&o, err, "run", opt[i], "3", opt[i], "03", "--", "true", NULL), 0);
		/* the last word alone still sets it */
		assert_int_equal(parse_args(&o, err, "run", opt[i], "7", "--", "true", NULL), 0);
	}
	assert_int_equal(parse_args(&o, err, "run", "--max-open=2", "--max-open", "4", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--max-open"));
	assert_int_equal(parse_args(&o, err, "run", "--max-churn", "2.5", "--max-churn", "2.50", "--", "true", NULL), 0);
	assert_true(o.max_churn == 2.5);
	/* two different limits are two rules */
	assert_int_equal(parse_args(&o, err, "run", "--max-open", "3", "--max-leaked", "5", "--", "true", NULL), 0);
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
	assert_int_equal(parse_args(&o, err, "run", "--", "", NULL), -1);
	assert_non_null(strstr(err, "CMD"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(parse_args(&o, err, "run", "--", "", "arg", NULL), -1);
	assert_int_equal(parse_args(&o, err, "run", "--max-open", "3", "", NULL), -1);
	/* an empty argument after CMD is CMD's business */
	assert_int_equal(parse_args(&o, err, "run", "--", "true", "", NULL), 0);
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
		static const char *const report_x[] = { "report", "x.rcl", NULL };

		assert_int_equal(parse_row(&o, err, report_x, bad[i], 3, NULL), -1);
		assert_non_null(strstr(err, says[i]));
		assert_null(strchr(err, '\n'));
	}
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--json", "--pid", "7", "--zombie", "5",
			       "--window", "30", "-v", NULL), 0);
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--replay", "--speed", "4", "--plain",
			       NULL), 0);
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--csv", NULL), 0);
	/* options after the files, as --help shows them, also where getopt
	 * permutes nothing (POSIXLY_CORRECT: "--csv: No such file") */
	setenv("POSIXLY_CORRECT", "1", 1);
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--csv", "y.rcl", "--", "-z.rcl", NULL), 0);
	unsetenv("POSIXLY_CORRECT");
	assert_true(o.csv);
	assert_string_equal(o.files[0], "x.rcl");
	assert_string_equal(o.files[1], "y.rcl");
	assert_string_equal(o.files[2], "-z.rcl");
	assert_null(o.files[3]);
	/* --idle counts the views' idle connections: the summary and --csv
	 * have none, and took it silently */
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--idle", "5", NULL), -1);
	assert_non_null(strstr(err, "--idle"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--csv", "--idle", "5", NULL), -1);
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--replay", "--idle", "5", NULL), 0);
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--at", "+2", "--idle", "5", NULL), 0);
	/* --speed paces a replay, and outside report it was taken silently */
	assert_int_equal(parse_args(&o, err, "--speed", "2", NULL), -1);
	assert_non_null(strstr(err, "report"));
	assert_int_equal(parse_args(&o, err, "record", "-w", "x.rcl", "--speed", "2", NULL), -1);
	assert_non_null(strstr(err, "--speed"));
	/* --all: not the selection a capture was recorded with; report's
	 * only, and no selection of its own next to it */
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--all", "--json", NULL), 0);
	assert_true(o.all);
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--all", "--comm", "php", NULL), -1);
	assert_non_null(strstr(err, "--all"));
	assert_non_null(strstr(err, "--comm"));
	assert_int_equal(parse_args(&o, err, "report", "x.rcl", "--pid", "7", "--all", NULL), -1);
	assert_non_null(strstr(err, "--pid"));
	assert_int_equal(parse_args(&o, err, "--all", NULL), -1);
	assert_non_null(strstr(err, "report"));
	assert_int_equal(parse_args(&o, err, "record", "-w", "x.rcl", "--all", NULL), -1);
	assert_non_null(strstr(err, "--all"));
	assert_int_equal(parse_args(&o, err, "run", "--all", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--all"));
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
		assert_int_equal(parse_args(&o, err, "run", "--wait-children", nums[i], "--", "make", "test",
				       NULL), -1);
		snprintf(want, sizeof(want), "--wait-children=%s", nums[i]);
		assert_non_null(strstr(err, want));
		assert_null(strchr(err, '\n'));
		assert_int_equal(parse_args(&o, err, "run", "--wait-children", nums[i], "make", NULL), -1);
		assert_non_null(strstr(err, want));
	}
	/* nothing after it: still the number that would have been CMD */
	assert_int_equal(parse_args(&o, err, "run", "--wait-children", "10", NULL), -1);
	assert_non_null(strstr(err, "--wait-children=10"));
	/* an abbreviation of it likewise */
	assert_int_equal(parse_args(&o, err, "run", "--wait-ch", "10", "--", "true", NULL), -1);
	assert_non_null(strstr(err, "--wait-children=10"));
	assert_int_equal(parse_args(&o, err, "run", "--wait-children=10", "--", "make", NULL), 0);
	assert_true(o.wait_children_s == 10);
	assert_string_equal(o.run_argv[0], "make");
	/* after "--" a command named like a number is CMD */
	assert_int_equal(parse_args(&o, err, "run", "--wait-children", "--", "10", NULL), 0);
	assert_true(o.wait_children_s == 30);
	assert_string_equal(o.run_argv[0], "10");
	assert_int_equal(parse_args(&o, err, "run", "--wait-children", "make", "10", NULL), 0);
	assert_true(o.wait_children_s == 30);
	assert_string_equal(o.run_argv[0], "make");
	assert_int_equal(parse_args(&o, err, "run", "--wait-children", "10x", NULL), 0);
	assert_string_equal(o.run_argv[0], "10x");
	assert_int_equal(parse_args(&o, err, "run", "--wait-children", "1.2.3", NULL), 0);
	assert_string_equal(o.run_argv[0], "1.2.3");
	assert_int_equal(parse_args(&o, err, "run", "--wait-children", "-p", "7000", "10", NULL), 0);
	assert_string_equal(o.run_argv[0], "10");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_json_file),
		cmocka_unit_test(test_run_refuses_live), cmocka_unit_test(test_run_refuses_idle),
		cmocka_unit_test(test_run_refuses_live_rules), cmocka_unit_test(test_run_refuses_report),
		cmocka_unit_test(test_run_once),
		cmocka_unit_test(test_run_limit_once),
		cmocka_unit_test(test_run_empty_cmd),
		cmocka_unit_test(test_report_refuses),
		cmocka_unit_test(test_wait_children_value),
	};

	return cmocka_run_group_tests_name("opts_commands", tests, NULL, NULL);
}
