/* SPDX-License-Identifier: GPL-2.0 */
/* report_summary.h - the summary of `rcleak report FILE...`. */
#ifndef RCLEAK_REPORT_SUMMARY_H
#define RCLEAK_REPORT_SUMMARY_H

#include <stdbool.h>
#include "capfile.h"

/* Note what f's model holds after a tick completed (call after every one);
 * 0, or -ENOMEM. */
int summary_observe(struct capfile *f);
/* An event_fn for capfile_next_tick(): every event on the way, for the
 * peaks between ticks. ctx: an int that becomes -ENOMEM on failure. */
void summary_event(struct capfile *f, const struct rcl_event *e, double wall, void *ctx);
/* A file given that could not be read at all (capfile_open failed): the
 * JSON summary lists it, where stderr alone said it. */
struct summary_skip {
	const char *path;
	int given;                /* its place among the files given, from 0 */
	bool damaged;             /* its header cut short or damaged (exit 6), else unreadable (1) */
	bool no_refresh;          /* read, but no complete refresh to show (--at, --replay) */
	const char *host;         /* the capture's host, when it was read; else NULL */
	char error[sizeof(((struct capfile *)0)->open_err)]; /* the line said */
};

/* Print the summary of every file, as text or one JSON object (which also
 * lists the nskips files skipped); 0, or -ENOMEM before printing anything. */
int summary_print(struct capfile *files, int nfiles, const struct summary_skip *skips, int nskips,
		  bool json);

/* --at's and --replay's line for a file skipped, in place of its refreshes:
 * {"file":PATH,"skipped":{...}}, the entry the summary's list gives (or,
 * no_refresh, one of reason "no-refresh"). */
void summary_json_skip_line(const struct summary_skip *s);

#endif
