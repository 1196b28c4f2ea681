// SPDX-License-Identifier: GPL-2.0
/* at.c - the moment `rcleak report --at TIME` names (at.h). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "at.h"

/* A decimal number at s (digits and a point: strtod also takes "nan",
 * "inf" and hex, "0x10" read as 16 s once): its value and end, or false. */
static bool decimal(const char *s, double *v, char **end)
{
	size_t n = strspn(s, "0123456789.");

	if (!n)
		return false;
	*v = strtod(s, end);
	return *end == s + n && isfinite(*v);
}

/* HH:MM or HH:MM:SS, digits only and nothing after ("12:30junk",
 * "1:2:3:4", "-3:00" were taken once), or HH:MM:SS.fff, the time to the
 * millisecond that report prints for a refresh. Returns true with *h, *m,
 * *sec, and in *frac the decimals' value and in *half half their last
 * digit's (0: none, a point). */
static bool clock_text(const char *s, int *h, int *m, int *sec, double *frac, double *half)
{
	int n = 0, got;
	const char *dot;

	*sec = 0;
	*frac = *half = 0;
	got = sscanf(s, "%2d:%2d%n:%2d%n", h, m, &n, sec, &n);
	if (got == 3 && s[n] == '.' && (dot = s + n)[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1) &&
	    strlen(dot + 1) <= 9) {
		*frac = strtod(dot, NULL);
		*half = 0.5 * pow(10, -(double)strlen(dot + 1));
		n += strlen(dot);
		return s[0] && strchr("0123456789", s[0]) && *h >= 0 && *h <= 23 && *m >= 0 && *m <= 59 &&
		       *sec >= 0 && *sec <= 60 && strspn(s, "0123456789:") == (size_t)(dot - s);
	}
	return got >= 2 && !s[n] && strchr("0123456789", s[0]) && s[0] && *h >= 0 && *h <= 23 &&
	       *m >= 0 && *m <= 59 && *sec >= 0 && *sec <= 60 && strspn(s, "0123456789:") == strlen(s);
}

/* YYYY-MM-DD, then ' ' or 'T', then clock_text(): local time, as a point.
 * A day that does not exist (02-30) is refused, not moved to March. */
static bool date_text(const char *s, struct rcl_at *at)
{
	struct tm tm = { 0 };
	int y, mo, d, h, m, sec;
	double frac, half;

	if (strspn(s, "0123456789") != 4 || s[4] != '-' || strspn(s + 5, "0123456789") != 2 ||
	    s[7] != '-' || strspn(s + 8, "0123456789") != 2 || (s[10] != ' ' && s[10] != 'T') ||
	    sscanf(s, "%4d-%2d-%2d", &y, &mo, &d) != 3 || !clock_text(s + 11, &h, &m, &sec, &frac, &half))
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	at->from = at->upto = (double)mktime(&tm);
	if (tm.tm_mday != d || tm.tm_mon != mo - 1 || at->from < 0)
		return false;
	at->from += frac - half;
	at->upto += frac + half;
	at->kind = AT_WALL;
	return true;
}

int at_parse(const char *s, struct rcl_at *at)
{
	char *end;
	double v;

	memset(at, 0, sizeof(*at));
	if (s[0] == '+') { /* offset from the start: +90s, +2m, +90 */
		if (!decimal(s + 1, &v, &end))
			return -1;
		if (*end == 'm')
			v *= 60, end++;
		else if (*end == 'h')
			v *= 3600, end++;
		else if (*end == 's')
			end++;
		if (*end)
			return -1;
		at->kind = AT_REL;
		at->rel = v;
		return 0;
	}
	if (date_text(s, at))
		return 0;
	if (strchr(s, ':')) {
		if (!clock_text(s, &at->h, &at->m, &at->s, &at->frac, &at->half))
			return -1;
		at->kind = AT_CLOCK;
		return 0;
	}
	if (decimal(s, &v, &end) && !*end && v > 0) {
		/* seconds up to 11 digits (the year 5138); 1765094400000, a
		 * time in ms, read as seconds was some 55,000 years after
		 * every capture */
		const char *dot = strchr(s, '.');
		size_t zeros = strspn(s, "0"), digits = strspn(s + zeros, "0123456789");
		size_t decimals = dot ? strlen(dot + 1) : 0;
		double unit = digits <= 11 ? 1 : digits <= 14 ? 1e-3 : digits <= 17 ? 1e-6 : digits <= 20 ? 1e-9 : 0;
		double half = decimals || unit < 1 ? 0.5 * pow(10, -(double)decimals) * unit : 0;

		if (!unit)
			return -1;
		at->kind = AT_WALL;
		at->from = v * unit - half;
		at->upto = v * unit + half;
		return 0;
	}
	return -1;
}

double at_clock_on(const struct rcl_at *at, double wall, int day)
{
	time_t t0;
	struct tm tm;

	/* a hostile file's start: out of time_t's range the cast is undefined */
	if (!(wall > -1e15 && wall < 1e15))
		return NAN;
	t0 = (time_t)wall;
	if (!localtime_r(&t0, &tm))
		return NAN;
	tm.tm_hour = at->h;
	tm.tm_min = at->m;
	tm.tm_sec = at->s;
	tm.tm_mday += day;
	tm.tm_isdst = -1;
	t0 = mktime(&tm);
	return t0 == (time_t)-1 ? NAN : (double)t0 + at->frac;
}

int at_clock_day(const struct rcl_at *at, double wall_start, double start, double end, int max_days,
		 int *inside)
{
	int best = 0, first_in = -1;
	double best_d = INFINITY;

	*inside = 0;
	if (isnan(start) || isnan(end))
		return 0;
	for (int day = 0; day <= max_days; day++) {
		double t = at_clock_on(at, wall_start, day);
		double d = t < start - 1e-6 ? start - t : t > end + 1e-6 ? t - end : 0;

		if (isnan(t)) /* no such day: a hostile file's times */
			break;
		if (!d && !(*inside)++)
			first_in = day;
		if (d < best_d) {
			best_d = d;
			best = day;
		}
		if (t > end) /* every later day is farther */
			break;
	}
	if (first_in >= 0)
		return first_in;
	/* the evening before the first day (23:50 for a capture from
	 * 00:30), when strictly nearer: it showed the last refresh, "the
	 * capture ends before 23:50" */
	{
		double t = at_clock_on(at, wall_start, -1);

		if (!isnan(t) && t < start && start - t < best_d)
			return -1;
	}
	return best;
}
