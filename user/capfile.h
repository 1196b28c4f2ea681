/* SPDX-License-Identifier: GPL-2.0 */
/*
 * capfile.h - one capture file as `rcleak report` reads it: opened, then
 * stepped through a refresh (tick) at a time, every recorded tick replayed
 * into the file's own model, every event handed to a callback.
 */
#ifndef RCLEAK_CAPFILE_H
#define RCLEAK_CAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "capture.h"
#include "collect.h"
#include "join.h"
#include "opts.h"
#include "ownertab.h"
#include "record.h"
#include "replay.h"

struct seen_proc; /* the summary's of a process across the file (report_summary_int.h) */
struct peaks;     /* and its peaks between ticks (peaks.h) */

struct capfile {
	const char *path;
	struct capture_reader *rd;
	struct capture_info info;
	struct model *model;
	struct replay rp;
	struct collector c;      /* a facade for the views: no tracer */
	struct rcl_opts opts;
	struct ownertab seen;    /* struct seen_proc (report_summary_int.h) */
	struct peaks *peaks;
	struct ownertab tail;    /* struct tail_proc: per process, the events since the last tick */
	double first_wall, last_wall;
	double last_event;       /* wall: the last event's time; 0 none */
	unsigned long ticks, events;
	__u64 lost;
	bool done;
	bool have_tick;
	bool ends_in_tick;       /* the summary's: the file ended inside a tick */
	bool half_tick;          /* a tick lost a chunk: its model is half refilled */
	unsigned long bad_seen;  /* chunks the reader had skipped at the last record */
	bool tui;                /* replayed in the TUI: keeps its own pace */
	bool recording;          /* a recorder holds the file (its flock): still being written */
	struct join_index *jix;  /* its records by 4-tuple, while joins print */
	struct evb_dec *evb;     /* the event batch being read (15 KiB: on the heap) */
	__u32 ev_res_ns;         /* the event handed to on_event: its time's resolution */
	/* the damage said on stderr already (a second pass finds it again;
	 * capfile_reopen keeps it) */
	struct capfile_told {
		unsigned long chunks, records, too_big;
		bool truncated;
	} told;
	/* --pid, --comm: whether a refresh or an event read so far is of a
	 * process they select, and else the name of one in a refresh that
	 * looks like --comm's (python3 for python); capfile_reopen keeps both */
	bool selected_seen;
	char selected_like[16];
	/* why capfile_open failed, as said on stderr (without "rcleak: "); a
	 * long path, twice in the hint of a 0600 capture: log.c's line holds
	 * 2 KiB */
	char open_err[2000];
};

typedef void (*event_fn)(struct capfile *f, const struct rcl_event *e, double wall, void *ctx);

/* Open f->path (set by the caller; "-": the capfile_stdin file, a pipe
 * its capfile_spooled copy) with the
 * report's options. 0, or after
 * saying why in one line the exit code: RCL_EXIT_INCOMPLETE for a capture
 * whose header is cut short or damaged, RCL_EXIT_ERROR for anything else
 * (not a capture, cannot be opened, out of memory). */
int capfile_open(struct capfile *f, const struct rcl_opts *o);
/* The file a path "-" names from now on: standard input, spooled
 * (spool.h); the caller keeps fd. */
void capfile_stdin(int fd);
/* The file path names from now on: fd, a copy of what it held (a pipe's,
 * spool.h); the caller keeps fd. */
void capfile_spooled(const char *path, int fd);
/* Start over at the beginning of the file (a second pass). */
int capfile_reopen(struct capfile *f, const struct rcl_opts *o);
void capfile_close(struct capfile *f);
/* Read to its end, f may stop inside a tick (a recorder killed while it
 * wrote one, or a damaged chunk that took part of the last one), which left
 * its model half refilled: put back the model of its
 * last complete tick, for what reads the end state (the summary's joins).
 * 0, or an exit code after one line. */
int capfile_settle(struct capfile *f, const struct rcl_opts *o);
/* Read until a tick completes (1), the end (0) or an I/O error (-1);
 * on_event, when set, sees every event on the way. */
int capfile_next_tick(struct capfile *f, event_fn on_event, void *ctx);
/* Warn about damage (once: a second pass finds the same); true when the
 * file was cut short or damaged, records included. */
bool capfile_damage(struct capfile *f);
/* A wall time (Unix seconds) as the report prints it: local, to the second. */
void capfile_fmt_time(double wall, char *buf, size_t len);
/* The same to the millisecond (rounded): the time of a refresh that
 * `report --at` given it shows. */
void capfile_fmt_time_ms(double wall, char *buf, size_t len);

#endif
