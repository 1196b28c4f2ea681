/* SPDX-License-Identifier: GPL-2.0 */
/*
 * peaks.h - the most connections each process held at once over a
 * capture, and when, for `rcleak report`: exact between refreshes, not only
 * at them. Pure: fed the replayed model and the recorded events.
 *
 * Each refresh (tick) seeds every process's count with what the fd walk
 * found it holding (the model's open and clients), and a table of sockets
 * with who held each. The events recorded after the walk began then move
 * the counts one connection at a time: a connect or an accept adds the
 * socket to its owner (an accept counts from the handshake, before accept()
 * takes it, as the kernel's own count does); a close (the application's,
 * at exit, or a socket that died under its holder) takes it from every
 * process that held it. Events from before the walk are in the walk
 * already and are skipped; a socket already in the table is not added
 * twice. The next tick seeds everything again, so what events cannot see
 * (a socket passed to another process or inherited by fork, a lost event)
 * is wrong for one interval at most.
 *
 * Why not the kernel's own peak (struct rcl_counters.peak, recorded with
 * every tick): it counts only what opened since rcleak started (not the
 * connections held at the start), it is a racy maximum (a concurrent open
 * may go uncounted), it follows the opener only, in a flight-recorder file
 * it may come from before the file's first tick, and it has no time.
 *
 * Calls: peaks_tick() after every completed tick, peaks_event() for every
 * event in file order; events before the first tick are skipped.
 */
#ifndef RCLEAK_PEAKS_H
#define RCLEAK_PEAKS_H

#include <stdbool.h>
#include <linux/types.h>
#include "model.h"
#include "rcleak.h"

struct peak {
	long open, clients;           /* now: connections held, of them accepted */
	long peak_open, peak_clients; /* the most at once */
	double peak_open_at;          /* wall: when peak_open was first reached; 0 none */
	double peak_clients_at;
	long min_open;                /* the fewest so far */
	double min_at;                /* wall: the last time it was at min_open */
	double growth_from;           /* wall: min_at when peak_open was reached */
	bool min_at_start;            /* min_open is what it held at the first tick */
	bool growth_before_start;     /* the climb to peak_open was under way at the
				       * first tick: growth_from is only that tick */
	/* servers: the last tick's limit and links, and the first moment
	 * its clients took every slot left (full_at; 0: never), with what
	 * held them then: between two refreshes, none of which saw it */
	long limit, rcleak_links, master_links, cluster_links;
	double full_at;
	long full_clients, full_rcleak_links, full_master_links, full_cluster_links, full_limit;
};

struct peaks;

struct peaks *peaks_new(void);
void peaks_free(struct peaks *pk);

/* The model holds a tick that just completed, walked at m->mono_ns and
 * recorded at wall. 0, or -ENOMEM. */
int peaks_tick(struct peaks *pk, struct model *m, double wall);

/* One recorded event at wall, in file order; its ts_ns is the start of a
 * span of res_ns that holds its real time (1000: a capture's times in
 * microseconds, evbatch.h), 1 or 0 for an exact one. 0, or -ENOMEM. */
int peaks_event(struct peaks *pk, const struct rcl_event *e, __u32 res_ns, double wall);

/* Process o's counts, or NULL when it never held a connection. */
const struct peak *peaks_of(const struct peaks *pk, const struct rcl_owner *o);

#endif
