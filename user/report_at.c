// SPDX-License-Identifier: GPL-2.0
/*
 * report_at.c - `rcleak report --at TIME`: which refresh of a capture the
 * moment (at.c) shows. The model cannot step back, so a first pass over
 * the capture counts the refreshes up to the moment, and the caller
 * replays that many.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "opts.h"
#include "report_at.h"

/* days of a capture a time of day is looked for on: a hostile file's
 * refresh in the year 3000 is not worth a million days' entries */
#define AT_MAX_DAYS 36600

struct at_span {
	double start, end; /* wall */
};

/* Every event on the first pass: the capture goes on until its last one. */
static void at_event(struct capfile *f, const struct rcl_event *e, double wall, void *ctx)
{
	struct at_span *s = ctx;

	(void)f;
	(void)e;
	if (wall > s->end)
		s->end = wall;
}

/* Every tick on the first pass. The recording's first refresh (no interval
 * before it) stands for its start, the header's time that +0s means, a walk
 * earlier; a flight recorder's file that dropped older ticks starts at its
 * first. A refresh lasts until its time since the start (uptime_s), in the
 * frame of +N: the recording's own clock, which the walks do not delay, so
 * +3s is no later than the last refresh of `-d 3`. */
static void at_tick(const struct capfile *f, struct at_span *s)
{
	double until = f->info.wall_start + f->rp.tick.now;

	if (f->ticks == 1)
		s->start = f->rp.tick.dt > 0 ? f->rp.tick.wall : f->info.wall_start;
	if (f->rp.tick.wall > s->end)
		s->end = f->rp.tick.wall;
	if (until > s->end)
		s->end = until;
}

/* Whether the moment [from, upto) (a point for +N) lies before the
 * capture's start (< 0), after its end (> 0), or in it (0). */
static int at_outside(double from, double upto, const struct at_span *s)
{
	if (from < upto ? upto <= s->start : from < s->start - 1e-6)
		return -1;
	return from > s->end + 1e-6;
}

/* A time of day: its moment on each day of the capture so far (moment[k],
 * day k after the first's) and the last refresh at or before each. */
struct at_days {
	double *moment;
	unsigned long *want;
	int n, cap;
};

/* The tick f is at, of wall time wall, the ticks-th. Returns 0 or -1 (out
 * of memory). */
static int days_tick(struct at_days *d, const struct rcl_at *at, double wall_start, double wall,
		     unsigned long ticks)
{
	/* one day past every refresh so far */
	while ((!d->n || d->moment[d->n - 1] <= wall) && d->n <= AT_MAX_DAYS) {
		if (d->n == d->cap) {
			int cap = d->cap ? 2 * d->cap : 8;
			double *m = realloc(d->moment, cap * sizeof(*m));
			unsigned long *w = m ? realloc(d->want, cap * sizeof(*w)) : NULL;

			if (m)
				d->moment = m;
			if (!w)
				return -1;
			d->want = w;
			d->cap = cap;
		}
		d->moment[d->n] = at_clock_on(at, wall_start, d->n);
		d->want[d->n++] = ticks - 1; /* every tick before was before it */
	}
	/* the days whose moment is at or after wall are a suffix (the
	 * moments grow with the day); a day's first refresh is its fallback.
	 * HH:MM:SS.fff names what rounds to it, as report prints a refresh */
	for (int k = d->n - 1; k >= 0; k--) {
		if (wall < d->moment[k] + (at->half > 0 ? at->half : 1e-6) || !d->want[k])
			d->want[k] = ticks;
		else
			break;
	}
	return 0;
}

/* A time of day the capture holds on several days: which, and what to give. */
static void days_ambiguous(const struct capfile *f, const struct rcl_at *at, const char *text, int first,
			   int n)
{
	char a[16] = "?", b[16] = "?";
	time_t t1 = (time_t)at_clock_on(at, f->info.wall_start, first);
	time_t t2 = (time_t)at_clock_on(at, f->info.wall_start, first + n - 1);
	struct tm tm;

	if (localtime_r(&t1, &tm))
		strftime(a, sizeof(a), "%Y-%m-%d", &tm);
	if (localtime_r(&t2, &tm))
		strftime(b, sizeof(b), "%Y-%m-%d", &tm);
	elog("--at %s: %s holds that time on %d days, %s %s %s: give the day too, as --at '%s %s', "
	     "or a Unix time", text, f->path, n, a, n > 2 ? "to" : "and", b, b, text);
}

int report_at_find(struct capfile *f, const struct rcl_at *at, const char *text, unsigned long *want,
		   int *outside)
{
	struct at_days d = { 0 };
	struct at_span span = { 0 };
	double from = at->from, upto = at->upto;
	int rc = 0;

	*want = 0;
	while (capfile_next_tick(f, at_event, &span) > 0) {
		/* +N is on the recording's own clock (uptime_s), whose
		 * refreshes are due at multiples of -i and come a little
		 * after (the walk): the one due at 10 s ran at 10.001, and
		 * +10s showed the refresh before it, an interval early. A
		 * quarter of the interval (a second at most) after N still
		 * counts as N. A wall-clock moment (a log line's) takes the
		 * last refresh at or before it, or printed as it. */
		double iv = f->rp.meta.interval_s > 0 ? f->rp.meta.interval_s : 1;
		double tol = iv / 4 < 1 ? iv / 4 : 1, wall = f->rp.tick.wall;

		at_tick(f, &span);
		if (at->kind == AT_CLOCK) {
			if (days_tick(&d, at, f->info.wall_start, wall, f->ticks)) {
				elog("out of memory");
				rc = RCL_EXIT_ERROR;
				goto out;
			}
		} else if ((at->kind == AT_REL ? f->rp.tick.now <= at->rel + tol : wall < upto + 1e-6) ||
			   !*want) {
			*want = f->ticks;
		}
	}
	if (at->kind == AT_REL)
		from = upto = f->info.wall_start + at->rel;
	if (at->kind == AT_CLOCK && d.n) {
		/* the day whose moment the capture holds, else the nearest:
		 * a capture across midnight holds 00:10 on its second day
		 * (the first day's showed its first refresh, "the capture
		 * starts after 00:10:00"). On two days, which one was meant
		 * cannot be told: it took the first without a word */
		int inside, day = at_clock_day(at, f->info.wall_start, span.start, span.end, AT_MAX_DAYS, &inside);

		if (inside > 1) {
			days_ambiguous(f, at, text, day, inside);
			rc = RCL_EXIT_USAGE;
			goto out;
		}
		from = at_clock_on(at, f->info.wall_start, day) - at->half;
		upto = from + 2 * at->half;
		/* the day before the first: before every refresh */
		*want = day < 0 ? 1 : day < d.n ? d.want[day] : f->ticks;
	}
	*outside = at_outside(from, upto, &span);
out:
	free(d.moment);
	free(d.want);
	return rc;
}

void report_at_warn(const struct capfile *f, const char *text, int outside)
{
	char when[40];
	double w = f->rp.tick.wall;

	/* to the millisecond: "starts after 14:20:34: showing its first
	 * refresh, at 14:20:34" said nothing of which came first; --at
	 * given it shows that refresh */
	capfile_fmt_time_ms(w, when, sizeof(when));
	if (outside < 0)
		elog("%s: the capture starts after %s: showing its first refresh, at %s (+%.1fs)", f->path,
		     text, when, f->rp.tick.now);
	else if (outside > 0)
		elog("%s: the capture ends before %s: showing its last refresh, at %s (+%.1fs)", f->path,
		     text, when, f->rp.tick.now);
}
