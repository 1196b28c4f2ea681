// SPDX-License-Identifier: GPL-2.0
/* Unit tests: the moment `report --at TIME` names (at.c), in TZ=UTC. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "at.h"

#define T0 1796637600.0 /* 2026-12-07 10:00:00 UTC */
#define H 3600.0

static int utc(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static void near(double got, double want)
{
	if (fabs(got - want) > 1e-6)
		fail_msg("got %.9f, expected %.9f", got, want);
}

/* A Unix time's unit is told by its size: seconds up to 11 digits, then
 * ms, µs and ns. 1796637600000 (ms) was read as seconds, in the year
 * 58900. Each names what rounds to it. */
static void test_unix_units(void **state)
{
	struct rcl_at a;

	(void)state;
	assert_int_equal(at_parse("1796637600", &a), 0);
	assert_int_equal(a.kind, AT_WALL);
	near(a.from, T0);
	near(a.upto, T0); /* a whole second: a point */
	assert_int_equal(at_parse("1796637600.123", &a), 0);
	near(a.from, T0 + 0.1225);
	near(a.upto, T0 + 0.1235);
	assert_int_equal(at_parse("1796637600123", &a), 0); /* ms */
	near(a.from, T0 + 0.1225);
	near(a.upto, T0 + 0.1235);
	assert_int_equal(at_parse("1796637600123.5", &a), 0);
	near(a.from, T0 + 0.12345);
	assert_int_equal(at_parse("1796637600123456", &a), 0); /* µs */
	near((a.from + a.upto) / 2, T0 + 0.123456);
	assert_true(a.upto - a.from < 2e-6);
	assert_int_equal(at_parse("1796637600123456789", &a), 0); /* ns */
	near((a.from + a.upto) / 2, T0 + 0.123456789);
	assert_int_equal(at_parse("99999999999", &a), 0); /* 11 digits: seconds */
	near(a.from, 99999999999.0);
	assert_int_equal(at_parse("100000000000", &a), 0); /* 12: ms */
	near(a.from, 1e8 - 0.0005);
	assert_int_equal(at_parse("000001796637600", &a), 0); /* leading zeros do not count */
	near(a.from, T0);
	assert_int_equal(at_parse("123456789012345678901", &a), -1); /* 21 digits */
	assert_int_equal(at_parse("0", &a), -1);
	assert_int_equal(at_parse("0x10", &a), -1);
	assert_int_equal(at_parse("nan", &a), -1);
	assert_int_equal(at_parse("1e9", &a), -1);
}

/* HH:MM (undocumented once) and HH:MM:SS are a time of day; junk around
 * them is refused. */
static void test_clock(void **state)
{
	struct rcl_at a;

	(void)state;
	assert_int_equal(at_parse("14:05", &a), 0);
	assert_int_equal(a.kind, AT_CLOCK);
	assert_true(a.h == 14 && a.m == 5 && a.s == 0);
	assert_int_equal(at_parse("09:05:07", &a), 0);
	assert_true(a.h == 9 && a.m == 5 && a.s == 7 && a.half == 0);
	/* to the millisecond, as report prints a refresh: what rounds to it */
	assert_int_equal(at_parse("09:05:07.250", &a), 0);
	assert_true(a.h == 9 && a.m == 5 && a.s == 7);
	near(a.frac, 0.25);
	near(a.half, 0.0005);
	near(at_clock_on(&a, T0, 0), T0 - 55 * 60 + 7.25);
	for (const char **s = (const char *[]){ "24:00", "14:60", "14:05junk", "1:2:3:4", "-3:00", ":30",
						  "14:05:61", "14:", "14:05.5", "14:05:07.", "14:05:07.5x",
						  "14:05:07.-5", "14:05:07.1234567890", NULL }; *s; s++)
		if (at_parse(*s, &a) == 0)
			fail_msg("'%s' taken as a time of day", *s);
	near(at_clock_on(&(struct rcl_at){ .kind = AT_CLOCK, .h = 8 }, T0, 0), T0 - 2 * H);
	near(at_clock_on(&(struct rcl_at){ .kind = AT_CLOCK, .h = 8 }, T0, 1), T0 + 22 * H);
}

/* YYYY-MM-DD HH:MM[:SS] (or with a T) names one day: what to give when a
 * time of day is on several days of a capture. */
static void test_date(void **state)
{
	struct rcl_at a;

	(void)state;
	assert_int_equal(at_parse("2026-12-07 10:00", &a), 0);
	assert_int_equal(a.kind, AT_WALL);
	near(a.from, T0);
	near(a.upto, T0);
	assert_int_equal(at_parse("2026-12-08T12:30:15", &a), 0);
	near(a.from, T0 + 26.5 * H + 15);
	assert_int_equal(at_parse("2026-12-08 12:30:15.5", &a), 0);
	near(a.from, T0 + 26.5 * H + 15.45);
	near(a.upto, T0 + 26.5 * H + 15.55);
	for (const char **s = (const char *[]){ "2026-02-30 10:00", "2026-13-01 10:00", "2026-12-07",
						  "2026-12-07 10:00x", "2026-12-07  10:00", "26-12-07 10:00",
						  "2026-12-7 10:00", "1969-12-31 23:00", NULL }; *s; s++)
		if (at_parse(*s, &a) == 0)
			fail_msg("'%s' taken", *s);
}

static void test_rel(void **state)
{
	struct rcl_at a;

	(void)state;
	assert_int_equal(at_parse("+90s", &a), 0);
	assert_int_equal(a.kind, AT_REL);
	near(a.rel, 90);
	assert_int_equal(at_parse("+2m", &a), 0);
	near(a.rel, 120);
	assert_int_equal(at_parse("+1.5h", &a), 0);
	near(a.rel, 5400);
	assert_int_equal(at_parse("+2d", &a), -1);
}

/* Which day a time of day names in a capture: the one that holds it, else
 * the nearest; several that hold it are counted (ambiguous). */
static void test_clock_day(void **state)
{
	struct rcl_at a;
	int in, day;

	(void)state;
	at_parse("12:00", &a);
	/* 30 h from 2026-12-07 10:00: 12:00 on both days */
	day = at_clock_day(&a, T0, T0, T0 + 30 * H, 100, &in);
	assert_int_equal(in, 2);
	assert_int_equal(day, 0);
	at_parse("08:00", &a); /* the second day's only */
	day = at_clock_day(&a, T0, T0, T0 + 30 * H, 100, &in);
	assert_true(in == 1 && day == 1);
	at_parse("17:00", &a); /* the first day's only */
	day = at_clock_day(&a, T0, T0, T0 + 30 * H, 100, &in);
	assert_true(in == 1 && day == 0);
	/* across midnight, 23:00 to 01:00: 00:30 is the second day's */
	at_parse("00:30", &a);
	day = at_clock_day(&a, T0 + 13 * H, T0 + 13 * H, T0 + 15 * H, 100, &in);
	assert_true(in == 1 && day == 1);
	/* held on no day: the nearest, the first on a tie (12:00: 11 h before
	 * and after) */
	at_parse("12:00", &a);
	day = at_clock_day(&a, T0 + 13 * H, T0 + 13 * H, T0 + 15 * H, 100, &in);
	assert_true(in == 0 && day == 0);
	at_parse("06:00", &a); /* 5 h after the end, not 17 h before the start */
	day = at_clock_day(&a, T0 + 13 * H, T0 + 13 * H, T0 + 15 * H, 100, &in);
	assert_true(in == 0 && day == 1);
	/* 00:30 to 02:00: 23:50 is the evening before (40 min before the
	 * start), not that night (22 h after the end); 12:00 is 10 h after
	 * the end, 12.5 h after the evening before's: that day's */
	at_parse("23:50", &a);
	day = at_clock_day(&a, T0 - 9.5 * H, T0 - 9.5 * H, T0 - 8 * H, 100, &in);
	assert_true(in == 0 && day == -1);
	at_parse("12:00", &a);
	day = at_clock_day(&a, T0 - 9.5 * H, T0 - 9.5 * H, T0 - 8 * H, 100, &in);
	assert_true(in == 0 && day == 0);
	at_parse("06:00", &a);
	/* a week: on every day; days past max_days not looked at */
	day = at_clock_day(&a, T0, T0, T0 + 7 * 24 * H, 100, &in);
	assert_true(in == 7 && day == 1);
	day = at_clock_day(&a, T0, T0, 1e15, 3, &in);
	assert_true(in == 3 && day == 1);
	/* a hostile file's start, out of time_t's range: no day, no loop */
	assert_true(isnan(at_clock_on(&a, 1e300, 0)));
	assert_true(isnan(at_clock_on(&a, NAN, 0)));
	day = at_clock_day(&a, 1e300, 0, 1e300, 36600, &in);
	assert_true(in == 0 && day == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unix_units), cmocka_unit_test(test_clock), cmocka_unit_test(test_date),
		cmocka_unit_test(test_rel), cmocka_unit_test(test_clock_day),
	};

	return cmocka_run_group_tests_name("at", tests, utc, NULL);
}
