/* SPDX-License-Identifier: GPL-2.0 */
/* rate.h - time series of a count and its slope over a sliding window. */
#ifndef RCLEAK_RATE_H
#define RCLEAK_RATE_H

#define SERIES_CAP 128 /* samples kept; finer samples are thinned out */

/* The samples live on the heap, room for cap of them, grown as they come
 * (to SERIES_CAP at most): a process seen at one refresh costs a few
 * samples, not SERIES_CAP of five series (10 KiB; a report of a capture
 * naming 150,000 processes took 1.8 GB). All zero is an empty series;
 * series_free() gives its memory back. */
struct series {
	double *t;            /* seconds, monotonic; NULL while cap is 0 */
	double *y;            /* in the same block as t */
	int head;             /* index of the oldest sample */
	int len;
	int cap;
};

void series_free(struct series *s);

/* Seconds from the oldest sample to the newest (0 with fewer than 2). */
double series_span(const struct series *s);

/* Add a sample at time t; drop samples older than window seconds, except the
 * newest before t (an interval longer than the window still has a slope).
 * When the window holds more than SERIES_CAP samples at this rate, a sample
 * closer than window/SERIES_CAP to the previous one replaces it. */
void series_push(struct series *s, double t, double y, double window);

/* Least-squares slope of the samples, per minute; 0 with fewer than 2
 * samples or no time spread. */
double series_slope_per_min(const struct series *s);

/* The same over the samples from from to to (inclusive); *n: how many. */
double series_slope_range_per_min(const struct series *s, double from, double to, int *n);

#endif
