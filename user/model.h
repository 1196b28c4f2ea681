/* SPDX-License-Identifier: GPL-2.0 */
/*
 * model.h - per-process state: what each process holds now, what it opened
 * and closed, how fast, and the redis-server limits. Pure: it is fed facts
 * (fd records, counters, /proc facts) and never reads the kernel or prints.
 *
 * One refresh:
 *   model_begin(m)
 *   model_hold(m, rec)            for each fd holding a watched socket
 *   model_counters(m, owner, c)   for each per-process counter entry
 *   model_missed_close(m, owner)  for each close found by reconciliation
 *   model_end(m, now, dt)         derive open/by-state/shared/rates/growth
 *   ... caller fills fds/nofile/cmdline/liveness of each proc ...
 *   views read m->procs[0..n)
 */
#ifndef RCLEAK_MODEL_H
#define RCLEAK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "rcleak.h"
#include "rate.h"

#define MODEL_MAX_LISTEN 16
#define MODEL_CMDLINE 128

struct listen_addr {
	__u16 port;
	__u8 family;
	__u8 addr[16];
};

struct proc {
	struct rcl_owner key;
	char comm[RCL_COMM_LEN];
	char cmdline[MODEL_CMDLINE];
	bool have_cmdline;

	/* this refresh, from the fd walk */
	bool held;               /* seen by the walk (alive, holds something) */
	long open;               /* distinct non-listening watched sockets held */
	long established, close_wait, syn_sent, other;
	long shared;             /* ... of which another process holds too */
	long clients;            /* ... accepted on one of its listen ports */
	struct listen_addr listen[MODEL_MAX_LISTEN];
	int nlisten;             /* > 0: a server */

	/* counters since start (BPF) plus closes found by reconciliation */
	__u64 opened, closed, missed_closed;
	__u64 prev_opened, prev_closed;
	bool have_prev;
	double open_rate, close_rate; /* per second, last interval */
	double growth_per_min;
	struct series series;

	/* facts the caller fills after model_end (-1 = unknown) */
	long fds;
	long long nofile_soft, nofile_hard;
	bool exited;
	double exited_at;        /* model time of the first refresh that found it gone */
	long maxclients;         /* servers: 0 unknown */
	const char *maxclients_source;
	double maxclients_at;    /* when last discovered */

	bool touched;            /* internal: seen in this refresh */
};

struct model {
	double window_s;
	double now;              /* seconds, monotonic, of the last model_end */
	struct proc **procs;     /* sorted: open desc, then pid */
	size_t nprocs, cap;
	void *index;             /* tsearch tree of procs by key */
	struct rcl_fd_rec *recs; /* this refresh's fd records */
	size_t nrecs, reccap;
	__u64 missed_closes;     /* total found by reconciliation */
};

struct model *model_new(double window_s);
void model_free(struct model *m);

void model_begin(struct model *m);
int model_hold(struct model *m, const struct rcl_fd_rec *rec);
void model_counters(struct model *m, const struct rcl_owner *o, const struct rcl_counters *c);
void model_missed_close(struct model *m, const struct rcl_owner *o);
void model_end(struct model *m, double now, double dt);

/* Drop processes that exited more than window_s ago; cb (may be NULL) sees
 * each before it is freed. */
void model_gc(struct model *m, void (*cb)(const struct proc *p, void *ctx), void *ctx);

struct proc *model_find(struct model *m, const struct rcl_owner *o);

/* Redis effective limit: min(maxclients, nofile_soft - 32); maxclients 0
 * means Redis's default. -1 if nothing is known. */
long model_effective_limit(long maxclients, long long nofile_soft);

#endif
