/* SPDX-License-Identifier: GPL-2.0 */
/*
 * replay.h - a capture's records (record.h) fed back into a model, tick by
 * tick, as the live refresh feeds it: what `rcleak report` shows.
 */
#ifndef RCLEAK_REPLAY_H
#define RCLEAK_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "capture.h"
#include "model.h"
#include "rcleak.h"
#include "record.h"

/* The most a recorder writes in one refresh; a refresh with more is not a
 * recorder's, and is skipped as damaged (a crafted one naming 150,000
 * processes took a report 1.8 GB of memory from a 3.5 MB file).
 * Counters: one per entry of the kernel side's process table. Processes
 * (the model's, facts): those, and as many again that only hold sockets
 * others opened (a fork's children). Fd records: one per watched socket
 * held, the socket table's capacity, twice for the sockets held twice. */
#define REPLAY_MAX_COUNTERS (RCL_MAX_PROCS + RCL_PROC_SLOTS)
#define REPLAY_MAX_PROCS    (2 * REPLAY_MAX_COUNTERS)
#define REPLAY_MAX_FDS      (2 * (RCL_MAX_SOCKS + RCL_SOCK_SLOTS))

/* Feeds one capture's ticks into a model, exactly as the live refresh does.
 * Call replay_record() for every record in order; it returns 1 when a tick
 * has just completed (the model holds that moment), else 0. */
struct replay {
	struct model *model;
	struct rec_tick tick;     /* the last tick completed (every record checked out) */
	struct rec_tick reading;  /* the header of the tick being read */
	struct rec_meta meta;
	struct rec_trigger trigger; /* the first trigger record read */
	bool have_trigger;
	bool finished;            /* an end record was read */
	__u32 end_signal;         /* ... and the signal it names (0: none) */
	bool end_no_final;        /* ... which says the stop's last refresh
				   * failed (REC_END_NO_FINAL): the events
				   * after the last tick are none of its */
	bool in_tick;
	bool tick_bad;            /* a record of the tick being read could not be read */
	bool dropped;             /* ... so its TICK_END completed nothing: the model
				   * is half refilled (the caller clears it) */
	struct rec_proc *facts;   /* facts of the tick being read */
	size_t nfacts, capfacts;
	unsigned long bad_records; /* too short to decode */
	unsigned long too_big;    /* refreshes skipped: more than REPLAY_MAX_* */
	size_t tick_fds, tick_counters; /* records of the tick being read */
	size_t procs_before;      /* the model's processes when it began */
	bool window_fixed;        /* --window given: keep it */
	unsigned thresholds_given; /* RCL_TH_*: the report's; the others as recorded */
};

void replay_init(struct replay *r, struct model *m);
void replay_free(struct replay *r);
int replay_record(struct replay *r, const struct capture_record *rec);

#endif
