/* SPDX-License-Identifier: GPL-2.0 */
/* report_at.h - `rcleak report --at TIME`: which refresh of a capture the
 * moment shows. */
#ifndef RCLEAK_REPORT_AT_H
#define RCLEAK_REPORT_AT_H

#include "at.h"
#include "capfile.h"

/* Reads f through once (the caller reopens it to replay): *want, how many
 * refreshes to replay to show the moment at (the last at or before it;
 * at least 1 when f holds one), and *outside, whether the moment lies
 * before the capture (< 0), after it (> 0) or in it (0). text: --at as
 * given, for messages. Returns 0; RCL_EXIT_USAGE after one line when at is
 * a time of day the capture holds on more than one day; RCL_EXIT_ERROR
 * after one line when out of memory. */
int report_at_find(struct capfile *f, const struct rcl_at *at, const char *text, unsigned long *want,
		   int *outside);

/* A moment outside f (outside: report_at_find's) shows its nearest
 * refresh, the one f is at: says so, and which, in one line. */
void report_at_warn(const struct capfile *f, const char *text, int outside);

#endif
