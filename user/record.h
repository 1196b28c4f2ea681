/* SPDX-License-Identifier: GPL-2.0 */
/*
 * record.h - what rcleak records mean (the container is capture.h).
 *
 * A capture is a sequence of ticks, each a keyframe: everything the live
 * model was fed at one refresh (the fd walk's records, the per-process
 * counters, the /proc facts, the statistics), so `rcleak report` replays it
 * through the same model and views, and reading can start at any tick.
 * Between ticks come the kernel's events (every state change on a watched
 * port, with its owner), for the timeline and --csv.
 *
 * Every record is encoded field by field, little-endian, and decoded with
 * bounds checks: a record shorter than its type needs is rejected, longer
 * ones (a newer minor version) are read up to what this version knows.
 * Feeding the records back into a model is replay.h's.
 */
#ifndef RCLEAK_RECORD_H
#define RCLEAK_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "capture.h"
#include "collect.h"
#include "evbatch.h"
#include "model.h"
#include "rcleak.h"

enum rec_type {
	REC_EVENT = 1,       /* struct rcl_event (one event per record: earlier builds; still read) */
	REC_TICK = 2,        /* a refresh begins: struct rec_tick */
	REC_FD = 3,          /* struct rcl_fd_rec */
	REC_COUNTERS = 4,    /* struct rec_counters */
	REC_PROC = 5,        /* struct rec_proc: /proc facts of one process */
	REC_TICK_END = 6,    /* the refresh is complete */
	REC_META = 7,        /* tier and walk names, once at start */
	REC_EVENTS = 8,      /* a batch of events (evbatch.h), in ring order */
	REC_TRIGGER = 9,     /* what made the flight recorder write: struct rec_trigger */
	REC_END = 10,        /* the recorder finished the file (minor 6): u32 stop signal,
			      * then u8 REC_END_* flags (minor 11) */
};

/* REC_END flags. The stop's last refresh failed (reading kernel state): the
 * file's last tick is the refresh before, and the events after it are the
 * recording's last, which no tick counted. Without it (and in files before
 * minor 11) the last tick is the recording's final refresh: the events
 * after it are those of its walk and later, drained from the kernel's ring
 * at the end, and its counters, read after the walk, hold the walk's. */
#define REC_END_NO_FINAL 1u

struct rec_tick {
	double now;          /* model time: seconds since recording started */
	double dt;           /* since the previous tick */
	double wall;         /* Unix seconds */
	__u64 mono_ns;       /* CLOCK_MONOTONIC at the walk */
	__u64 events, lost, repairs, missed_closes;
	double events_per_s;
	__s64 hz;
};

struct rec_counters {
	struct rcl_owner owner;
	struct rcl_counters c;
};

struct rec_proc {
	struct rcl_owner owner;
	__s64 fds, nofile_soft, nofile_hard;
	__s64 maxclients;
	__u8 exited;
	double exited_at;
	__u64 missed_closed;
	char maxclients_source[16];
	char comm[RCL_COMM_LEN];
	char cmdline[128];
	__s64 unix_clients;  /* minor 2; 0 in older files */
	__s64 rcleak_links;  /* minor 9; 0 in older files */
	__s64 master_links;  /* minor 10; 0 in older files */
	__s64 cluster_links; /* minor 10; 0 in older files */
};

struct rec_meta {
	char tier[16];
	char walk[8];
	double interval_s;
	double window_s;     /* growth window of the recording (0: older files) */
	bool have_thresholds;
	struct model_thresholds th; /* verdict thresholds of the recording */
};

/* The flight recorder's trigger, written after the tick it fired at: the
 * verdict that fired may need more history than the ring kept (a LEAK's
 * growth over half the window), so a report could not judge it again. */
struct rec_trigger {
	double wall;              /* the tick it fired at */
	struct rcl_owner owner;   /* the process it names; 0 for SIGUSR1 */
	char verdict[16];         /* the verdict that fired, or "" */
	char rule[112];           /* that verdict's rule, or "" */
	char why[200];            /* the whole reason, as record printed it */
};

/* Where encoded records go: a capture file, or the flight recorder's memory. */
struct rec_sink {
	int (*append)(void *ctx, __u16 type, __u64 ts_ns, const void *data, __u32 len);
	void *ctx;
};

/* A sink that writes to a capture file. */
void rec_sink_file(struct rec_sink *s, struct capture_writer *w);

/* ---- writing: each returns 0 or -errno from the sink ------------------ */
int record_meta(struct rec_sink *s, const struct collector *c);
int record_event(struct rec_sink *s, const struct rcl_event *e);
/* A batch of events (nothing when it is empty). */
int record_events(struct rec_sink *s, const struct evb_enc *b);
/* The refresh that just completed (after collect_refresh). */
int record_tick(struct rec_sink *s, const struct collector *c, double wall);
int record_trigger(struct rec_sink *s, __u64 ts_ns, const struct rec_trigger *t);
/* The last record of a file the recorder finished: what stopped it (sig,
 * 0 when it ended by itself: -d, -n, --after), and flags (REC_END_*). Its
 * absence in a file of minor 6 or later says the recorder did not get
 * there (killed, a write error, the host stopped): the file may end early. */
int record_end(struct rec_sink *s, __u64 ts_ns, int sig, __u8 flags);

/* ---- decoding: 0, or -1 when the payload is too short ----------------- */
int record_decode_event(const void *p, size_t len, struct rcl_event *e);
int record_decode_tick(const void *p, size_t len, struct rec_tick *t);
int record_decode_fd(const void *p, size_t len, struct rcl_fd_rec *r);
int record_decode_counters(const void *p, size_t len, struct rec_counters *c);
int record_decode_proc(const void *p, size_t len, struct rec_proc *pr);
int record_decode_meta(const void *p, size_t len, struct rec_meta *m);
int record_decode_trigger(const void *p, size_t len, struct rec_trigger *t);
/* An end record: the signal it names, and its flags (0 before minor 11). */
int record_decode_end(const void *p, size_t len, __u32 *sig, __u8 *flags);

#endif
