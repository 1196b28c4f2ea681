/* SPDX-License-Identifier: GPL-2.0 */
/*
 * procwatch.h - `rcleak run`'s close look at the processes of its tree,
 * between two refreshes: when each one exits, its command line while it
 * still runs, and its highest connects/s over any window.
 *
 * A refresh (every -i SECS) finds a process that lived less than that only
 * once it is gone: its exit then dates from the refresh, and its command
 * line is lost; and a rate taken between two refreshes depends on -i. The
 * run loop instead looks every pass (about 20 ms): the caller notes every
 * process the BPF counters know, with its connects so far
 * (procwatch_note), then procwatch_check reads /proc/PID/stat of each one
 * not seen to exit yet. So an exit is dated at most one pass late, and the
 * rate over a window is measured within one pass, whatever -i is. A process
 * that exits before the pass after its first connect is noted exited at
 * once, with no command line.
 *
 * Pure bookkeeping over /proc: no BPF, no model; times are the caller's
 * (model seconds).
 */
#ifndef RCLEAK_PROCWATCH_H
#define RCLEAK_PROCWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "model.h"
#include "rcleak.h"

#define PROCWATCH_SAMPLES 64 /* connects so far, at most every window/62 s */

struct procwatch_ent {
	struct rcl_owner key;
	double exited_at;        /* when first found exited; < 0: running */
	bool final;              /* counted once more after its exit: done */
	bool have_cmdline;       /* read while it ran */
	char cmdline[MODEL_CMDLINE];
	/* connects over any window of window_s: the most in one window, and
	 * samples of the count going back one window */
	double max_rate;         /* connects/s */
	double t[PROCWATCH_SAMPLES];
	__u64 opened[PROCWATCH_SAMPLES];
	int head, len;
};

/* Entries sorted by key. Set window_s (> 0), the rest zero, before use. */
struct procwatch {
	double window_s;
	struct procwatch_ent *ents;
	size_t n, cap;
};

/* Process o had opened connections in all by now: add it
 * when new (reading its command line if it still runs), and count them
 * toward its highest rate. Returns 0 or -ENOMEM. */
int procwatch_note(struct procwatch *w, const struct rcl_owner *o, __u64 opened, double now);

/* Mark exited, at now, every process that no longer runs (gone, or a
 * zombie). Reads /proc/PID/stat of each one not marked yet. */
void procwatch_check(struct procwatch *w, double now);

/* What the watch knows of o, or NULL. */
const struct procwatch_ent *procwatch_find(const struct procwatch *w, const struct rcl_owner *o);

/* Forget o (its counters are gone). */
void procwatch_drop(struct procwatch *w, const struct rcl_owner *o);

void procwatch_free(struct procwatch *w);

#endif
