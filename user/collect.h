/* SPDX-License-Identifier: GPL-2.0 */
/* collect.h - one refresh: run the walks, read the counters, feed the model,
 * then complete each process with /proc facts and Redis limits. */
#ifndef RCLEAK_COLLECT_H
#define RCLEAK_COLLECT_H

#include "model.h"
#include "opts.h"
#include "tracer.h"

struct collector {
	struct tracer *tracer;
	struct model *model;
	const struct rcl_opts *opts;
	double start;           /* monotonic seconds at start */
	double last;            /* time of the previous refresh */
	double last_reconcile;
	__u64 repairs;          /* stale socket entries removed by reconciliation */
	__u64 repairs_added;    /* sockets reconciliation found missing */
	__u64 lost;             /* BPF map inserts that failed */
	__u64 events;
	__u64 prev_events;
	double events_per_s;
	__u16 own_ports[8];     /* local ports of rcleak's own Redis queries */
	int nown;
};

double collect_now(void);

/* Snapshot + first refresh. */
int collect_start(struct collector *c);
/* One refresh at time now (collect_now()). Returns 0 or -errno. */
int collect_refresh(struct collector *c, double now);

#endif
