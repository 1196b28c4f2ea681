/* SPDX-License-Identifier: GPL-2.0 */
/*
 * at.h - the moment `rcleak report --at TIME` names: parsed from its text
 * (pure), and, for a time of day, which day of a capture it is.
 */
#ifndef RCLEAK_AT_H
#define RCLEAK_AT_H

enum at_kind {
	AT_REL,   /* +N: seconds since the recording's start (uptime_s) */
	AT_WALL,  /* a Unix time, or a local date and time */
	AT_CLOCK, /* HH:MM[:SS], local: on which day is the capture's to say */
};

struct rcl_at {
	enum at_kind kind;
	double rel;        /* AT_REL */
	double from, upto; /* AT_WALL, Unix s: [from, upto), or the point from == upto */
	int h, m, s;       /* AT_CLOCK */
	double frac, half; /* AT_CLOCK: HH:MM:SS.fff's decimals, and half their last digit (0: a point) */
};

/* s as a moment, into *at. Returns 0, or -1 when s names none.
 *   +90s, +2m, +1h, +90        from the start of the recording
 *   HH:MM, HH:MM:SS[.fff]      local time (TZ), of a day of the capture
 *   YYYY-MM-DD HH:MM[:SS[.fff]] local time, that day (a 'T' for the space too)
 *   a Unix time                seconds, else told apart by its size: 12 to
 *                              14 digits before any point are milliseconds
 *                              (JavaScript's Date.now(), many logs), 15 to 17
 *                              microseconds, 18 to 20 nanoseconds; more is
 *                              refused
 * A Unix time or a clock time with decimals, or a Unix time in ms, µs or ns,
 * names what rounds to it
 * ([from, upto): --json prints a refresh's ts to the millisecond, and that
 * ts shows that refresh); a whole Unix time in seconds and a clock time are
 * points (a log line's time: the refresh at or before it). */
int at_parse(const char *s, struct rcl_at *at);

/* An AT_CLOCK's moment (Unix s) on the local day `day` days after the one
 * of wall (0: wall's own day); NAN when there is none (a wall out of
 * range). */
double at_clock_on(const struct rcl_at *at, double wall, int day);

/* Which day (from wall_start's, at_clock_on()) an AT_CLOCK names in a
 * capture that spans [start, end] (Unix s): the one day whose moment lies
 * in it; with none, the day whose moment is nearest to it (the first on a
 * tie; -1, the day before wall_start's, only when strictly nearest). *inside: how many days' moments lie in it; more than one is
 * ambiguous, and the caller refuses it. Days past max_days are not looked
 * at (a hostile file's end in the year 3000). Returns the day. */
int at_clock_day(const struct rcl_at *at, double wall_start, double start, double end, int max_days,
		 int *inside);

#endif
