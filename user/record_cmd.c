// SPDX-License-Identifier: GPL-2.0
/*
 * record_cmd.c - `rcleak record -w FILE`: every event on the watched ports
 * and a keyframe tick per refresh, into a capture file.
 *
 * Flight recorder (--ring SECS): records stay in memory, the oldest whole
 * ticks dropped beyond SECS, until SIGUSR1 or a trigger (--trigger-headroom,
 * --trigger-verdict); then the buffer is written out and recording goes on
 * for --after SECS.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "collect.h"
#include "log.h"
#include "portshint.h"
#include "probe.h"
#include "record.h"
#include "record_cmd.h"
#include "record_held.h"
#include "record_ring.h"
#include "record_trig.h"
#include "redis.h"
#include "tracer.h"
#include "view.h"

#define RINGBUF_BYTES (16u << 20) /* kernel ring buffer: ~200k events of headroom */

static volatile sig_atomic_t stop_sig, usr1;

static void on_stop(int sig)
{
	stop_sig = sig;
}

/* The line that ends a recording whose capture could not be written. */
static void write_failed(const char *path, int err)
{
	if (err == CAPTURE_EDELETED)
		elog("%s was deleted while recording: stopped, since nothing written to it could be read",
		     path);
	else if (err == CAPTURE_ETRUNCATED)
		elog("%s was cut short by another program while recording (logrotate's copytruncate?): "
		     "stopped; to rotate captures, stop rcleak and start it with a new -w", path);
	else
		elog("writing %s failed: %s; the file is valid up to its last whole refresh", path,
		     strerror(-err));
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

struct recorder {
	struct collector c;
	struct capture_writer *w;
	struct rec_sink sink;
	struct mem_ring ring;
	bool in_memory;
	int err;                /* first write error */
	bool ring_failed;       /* err is the ring's: it could not take a record */
	__u64 nevents;
	struct evb_enc *batch;  /* events since the last drain of the ring */
	double after_end;       /* after a trigger: when --after ends (model time) */
	struct trig_hold hold;  /* a trigger's write held by a full disk */
	struct trig_said guessed; /* servers said to have a guessed limit */
};

/* Write the events batched so far. */
static void flush_events(struct recorder *r)
{
	if (!r->batch->n) /* a quiet drain: nothing to write or clear */
		return;
	if (!r->err && (r->err = record_events(&r->sink, r->batch)) && r->in_memory)
		r->ring_failed = true;
	evb_reset(r->batch);
}

static int on_event(const struct rcl_event *e, void *ctx)
{
	struct recorder *r = ctx;

	r->nevents++;
	if (!evb_add(r->batch, e)) {
		flush_events(r);
		evb_add(r->batch, e);
	}
	return 0;
}

/* One kernel tick, in ns: how far before its real time the BPF side may
 * stamp an event (clock.bpf.h, "event times"). The coarse clocks advance
 * once a tick, and say so; 10 ms (HZ=100, the longest tick) if they
 * cannot. */
static __u32 tick_ns(void)
{
	struct timespec ts;

	if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) || ts.tv_sec || ts.tv_nsec <= 0)
		return 10000000;
	return (__u32)ts.tv_nsec;
}

static void fill_info(struct capture_info *ci, const struct rcl_opts *o, double wall, __u64 mono_ns)
{
	struct utsname u;
	FILE *f;

	memset(ci, 0, sizeof(*ci));
	snprintf(ci->version, sizeof(ci->version), "%s", RCLEAK_VERSION);
	if (uname(&u) == 0) {
		snprintf(ci->host, sizeof(ci->host), "%.63s", u.nodename);
		snprintf(ci->kernel, sizeof(ci->kernel), "%.63s", u.release);
	}
	if ((f = fopen("/proc/sys/kernel/random/boot_id", "r"))) {
		if (fgets(ci->boot_id, sizeof(ci->boot_id), f))
			ci->boot_id[strcspn(ci->boot_id, "\n")] = '\0';
		fclose(f);
	}
	for (int i = 0; i < o->nports && i < CAPTURE_MAX_PORTS; i++)
		ci->ports[ci->nports++] = o->ports[i];
	ci->wall_start = wall;
	ci->mono_start_ns = mono_ns;
	ci->ev_res_ns = tick_ns();
	/* the file holds every process; a report shows what the live lines
	 * showed unless told otherwise */
	ci->sel_pid = o->pid;
	snprintf(ci->sel_comm, sizeof(ci->sel_comm), "%s", o->comm);
}

/* The flight recorder's ring could not take a refresh (out of memory for
 * its next block): what it holds, up to the refresh before, is all the
 * evidence there is, so it goes to the file now, and record stops there with
 * the error. When that refresh's keyframe went in, the part of its tick
 * that did is dropped first (a keyframe without the rest of its records:
 * the file ended inside a refresh, as when the recorder is killed). Returns
 * the flush's error, 0 when the file has it. */
static int ring_rescue(struct recorder *r, const struct rcl_opts *o, int why)
{
	int e;

	if (r->ring.tick_open)
		mem_drop_tick(&r->ring);
	e = mem_flush_to(&r->ring, r->w);

	if (!e)
		e = capture_sync(r->w);
	r->in_memory = false;
	if (e)
		write_failed(o->write_path, e);
	else
		elog("keeping the last %gs in memory failed: %s; wrote what it held, up to the "
		     "refresh before, to %s", o->ring_s, strerror(-why), o->write_path);
	return e;
}

/* With --json or --plain, the live view of each tick, as `rcleak` shows it:
 * report --replay gives the same lines back from the file. */
static void show(const struct collector *c, const struct rcl_opts *o, double wall)
{
	if (o->view == RCL_VIEW_JSON)
		view_json(stdout, c, wall);
	else if (o->view == RCL_VIEW_PLAIN)
		view_text(stdout, c, wall);
}

/* A refresh's tick recorded: on the disk before its line is shown (a
 * crash loses at most one interval). A line printed, then a full disk or a
 * SIGKILL, was a refresh the file did not have, and report --replay gave
 * back one line fewer than record printed. The flight recorder's memory has
 * it (a failure there is rescued by the caller). */
static void tick_out(struct recorder *r, const struct rcl_opts *o, double wall)
{
	if (!r->err && !r->in_memory)
		r->err = capture_flush(r->w);
	if (!r->err || r->in_memory)
		show(&r->c, o, wall);
}

/* Record events until `until` (collect_now's clock), a stop signal, or,
 * while the ring is in memory, SIGUSR1: that writes the ring at once, not
 * at the next refresh, which -i can put a day away. */
static void sleep_events(struct recorder *r, double until)
{
	for (;;) {
		double left = until - collect_now();

		if (stop_sig || (usr1 && r->in_memory && !r->hold.held))
			return;
		/* a trigger's write held by a full disk: tried again now */
		if (usr1 && r->hold.held) {
			usr1 = 0;
			return;
		}
		/* one trigger a recording: a second SIGUSR1 (the SRE's kill
		 * again, unsure the first took) was ignored without a word */
		if (usr1 && r->after_end > 0) {
			double end = r->c.start + r->after_end - collect_now();

			usr1 = 0;
			elog("SIGUSR1 ignored: the trigger wrote the ring already (one trigger a recording); it "
			     "ends when --after does, in %.1fs", end > 0 ? end : 0);
		}
		/* one drain at least, even with no time left: when every walk
		 * took longer than -i, no refresh waited, nothing drained the
		 * kernel's ring between them, and once it was full its events
		 * were lost */
		tracer__poll_events(r->c.tracer, left > 0 ? (int)(left * 1000) + 1 : 0, on_event, r);
		/* a drain's events go out before anything else is recorded */
		flush_events(r);
		if (left <= 0)
			return;
	}
}

/* Whatever the kernel's ring holds now, recorded. */
static void drain_events(struct recorder *r)
{
	tracer__poll_events(r->c.tracer, 0, on_event, r);
	flush_events(r);
}

/* What the ring holds, for the lines that say so: --ring, or less when
 * recording began less long ago ("the last 600s" of a minute's recording) */
static double held_s(const struct recorder *r, const struct rcl_opts *o)
{
	/* to a tenth: the last refresh of -d 1 is at 1.00046 */
	return fmin(o->ring_s, round((r->c.model ? r->c.model->now : 0) * 10) / 10);
}

/* The capture file was refused (e, msg from capture_writer_*): says why;
 * the exit code. */
static int refused(int e, const char *msg)
{
	elog("%s", msg);
	/* exists, a symlink, not a regular file, another owner's, hard-linked,
	 * another recorder's still: the user's to fix */
	return e == -EEXIST || e == -ELOOP || e == -EISDIR || e == -EINVAL || e == -EMLINK ||
	       e == -EPERM || e == -EBUSY ? RCL_EXIT_USAGE : RCL_EXIT_ERROR;
}

/* The held ring to the file (record_held.h) at model time now; true once
 * written: recording goes on to the file. */
static bool trigger_write(struct recorder *r, const struct rcl_opts *o, double now, bool ending)
{
	int e = held_write(&r->hold, &r->ring, r->w, o->write_path, now, r->hold.at + o->after_s,
			   ending);

	if (e < 0)
		r->err = e; /* the error line follows; nothing more is recorded */
	if (e <= 0)
		return false;
	rec_sink_file(&r->sink, r->w);
	r->in_memory = false;
	r->after_end = r->hold.at + o->after_s;
	return true;
}

/* Sleep s seconds, or until a signal. */
static void nap(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

int cmd_record(const struct rcl_opts *o)
{
	struct tracer_opts to = { .ports = o->ports, .nports = o->nports, .hooks = o->hooks,
				  .walk = o->walk, .ringbuf_bytes = RINGBUF_BYTES,
				  .verbose = o->verbose };
	struct recorder r = { .c = { .opts = o } };
	struct capture_info ci;
	double next, stop_at = 0, wall;
	long ticks = 0; /* refreshes written, the first one's too (-n counts it, as live does) */
	bool stop_woke = false; /* a stop signal ended a wait for the next refresh */
	bool last_failed = false; /* the last refresh it asked for could not be read */
	bool rescued = false; /* the ring failed a refresh and went to the file (said) */
	bool wait_room = false; /* held through --after: waits for room, recording no more */
	struct stat st;
	char msg[320];
	int rc, e;

	/* what the command line got wrong first (exit 2), then privileges
	 * (exit 3): a FILE there without --force is refused whoever runs it
	 * (said as capture_writer_check says it) */
	if (!o->force && !lstat(o->write_path, &st) &&
	    (e = capture_writer_check(o->write_path, 0, msg, sizeof(msg))))
		return refused(e, msg);
	if ((rc = probe_preflight()))
		return rc;
	/* a path that will be refused fails now, not after the BPF load and
	 * the first walk (seconds on a big host) */
	if ((e = capture_writer_check(o->write_path, o->force ? CAPTURE_FORCE : 0, msg, sizeof(msg))))
		return refused(e, msg);
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	/* unless ignored at start (nohup rcleak record ... &): the recorder
	 * was meant to outlive its terminal, and a logout ended it */
	{
		struct sigaction hup;

		if (sigaction(SIGHUP, NULL, &hup) || hup.sa_handler != SIG_IGN)
			signal(SIGHUP, on_stop);
	}
	signal(SIGUSR1, on_usr1);
	/* ignored, as the live view does: by default it killed the recorder
	 * mid-chunk, its file without a last tick or end record */
	signal(SIGUSR2, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* past a file size limit (ulimit -f, a unit's LimitFSIZE) the write
	 * fails with EFBIG and the file is cut back to its last whole chunk,
	 * as on a full disk; by default the kernel killed the recorder there
	 * instead, without a word, mid-chunk */
	signal(SIGXFSZ, SIG_IGN);

	rc = tracer__open(&r.c.tracer, &to, NULL, NULL, msg, sizeof(msg));
	if (rc) {
		elog("%s", msg);
		return rc;
	}
	rc = RCL_EXIT_ERROR;
	r.c.model = model_new(o->window_s);
	r.batch = malloc(sizeof(*r.batch));
	if (!r.c.model || !r.batch) {
		elog("out of memory");
		goto cleanup;
	}
	evb_reset(r.batch);
	if ((e = collect_start(&r.c))) {
		elog("reading kernel state failed: %s", strerror(-e));
		goto cleanup;
	}
	/* the pair that maps every event's time to the wall clock: the first
	 * refresh's, read together before its walk. Not the collector's start
	 * with the wall clock after the walk (up to a second on a big host):
	 * that put every event that much later in --csv and the summary. And
	 * the first tick's own pair: its time is the capture's start, so that
	 * `report --at` with the time report printed for it finds it. */
	fill_info(&ci, o, r.c.wall, r.c.model->mono_ns);
	if ((e = capture_writer_open(&r.w, o->write_path, &ci, o->force ? CAPTURE_FORCE : 0,
				     msg, sizeof(msg)))) {
		rc = refused(e, msg);
		goto cleanup;
	}
	/* a write error leaves the file whole up to a refresh, not inside
	 * one that spans chunks */
	capture_writer_units(r.w, REC_TICK, REC_TICK_END);
	/* a recording of the wrong port is empty, and said nothing (on a
	 * terminal: a script's stderr keeps its one line per error) */
	if (collect_sees_nothing(&r.c) && isatty(STDERR_FILENO))
		portshint_say(o->ports, o->nports);
	r.in_memory = o->ring_s > 0;
	/* The meta record (tier, walk, interval, thresholds) goes straight to
	 * the file, even with --ring: in the ring it came before the first
	 * tick and went with the first trim, and a report of a flight capture
	 * then showed tier "?", interval 1 and the default thresholds. */
	rec_sink_file(&r.sink, r.w);
	r.err = record_meta(&r.sink, &r.c);
	/* on the disk now: a report of a flight recorder's file before its
	 * trigger said tier "?" */
	if (!r.err && r.in_memory)
		r.err = capture_flush(r.w);
	if (r.in_memory) {
		r.ring.keep_s = o->ring_s;
		r.sink.append = mem_append;
		r.sink.ctx = &r.ring;
		elog("flight recorder: keeping the last %gs in memory; SIGUSR1%s writes %s",
		     o->ring_s, o->trigger_verdict || o->trigger_headroom >= 0 ? " or a trigger" : "",
		     o->write_path);
		record_trigger_limits(o, r.c.model, &r.guessed);
	}
	/* read with the first walk's time, before it: a tick's wall and
	 * monotonic times are one moment (report's peaks and growth take the
	 * one, events the other) */
	wall = r.c.wall;
	if (!r.err)
		r.err = record_tick(&r.sink, &r.c, wall);
	/* on the disk now, as every later tick is at its refresh: a recorder
	 * killed in its first interval left its header alone (up to -i) */
	tick_out(&r, o, wall);
	ticks++;

	next = r.c.start + o->interval_s;
	while (!r.err && !stop_sig && !(o->count && ticks >= o->count)) {
		double until = next;

		/* the end of --after or -d comes when it is due, not at the
		 * refresh after it */
		if (stop_at && r.c.start + stop_at < until)
			until = r.c.start + stop_at;
		if (o->duration_s && r.c.start + o->duration_s < until)
			until = r.c.start + o->duration_s;
		sleep_events(&r, until);
		if (stop_sig) {
			stop_woke = true;
			break;
		}
		/* a refresh brought forward (SIGUSR1, the end) keeps the
		 * schedule. Refreshes already past (SIGSTOP, a paused VM, a
		 * walk slower than -i) are skipped, keeping the grid, as the
		 * live view does: taken one by one they were written back to
		 * back, each over ~0 s with meaningless rates, and used up -n. */
		{
			double now = collect_now();

			if (now >= next) /* the first grid point after now */
				next += (floor((now - next) / o->interval_s) + 1) * o->interval_s;
		}
		if ((e = collect_refresh_now(&r.c))) {
			elog("reading kernel state failed: %s", strerror(-e));
			/* the flight recorder's memory is all the evidence there
			 * is (a plain record has written it already): keep it */
			if (r.in_memory && !r.err) {
				elog("writing the last %gs to %s", held_s(&r, o), o->write_path);
				r.err = mem_flush_to(&r.ring, r.w);
			}
			if (r.err)
				write_failed(o->write_path, r.err);
			goto cleanup;
		}
		r.ring.cur_t = r.c.model->now;
		wall = r.c.wall;
		/* not over a drain's error: its events are lost */
		if (!r.err)
			r.err = record_tick(&r.sink, &r.c, wall);
		tick_out(&r, o, wall); /* a ring's failure: rescued below */
		ticks++;
		if (r.in_memory && r.err) {
			/* nothing in memory is lost for it: on the disk (a
			 * trigger at this refresh would write the same) */
			ring_rescue(&r, o, r.err);
			rescued = true;
			break;
		}
		if (r.in_memory) {
			/* held for a trigger's write that found the disk
			 * full: the window before it stays whole */
			if (!r.hold.held)
				mem_trim(&r.ring, r.c.model->now);
			/* the file takes nothing until the trigger, maybe days
			 * away: deleted or cut short meanwhile (a /tmp cleaner,
			 * logrotate), it is said now, not when the ring, the
			 * incident's evidence, has nowhere to go */
			if (!r.err && (r.err = capture_check(r.w)))
				break;
			record_trigger_limits(o, r.c.model, &r.guessed);
			if (!r.hold.held && record_triggered(o, r.c.model, usr1, &r.hold.trig)) {
				/* after its tick: the report says what fired, and
				 * when; into the ring, which goes to the file whole */
				r.hold.trig.wall = wall;
				r.hold.at = r.c.model->now;
				r.hold.ring_s = held_s(&r, o);
				usr1 = 0;
				if ((r.err = record_trigger(&r.sink, r.c.model->mono_ns, &r.hold.trig))) {
					ring_rescue(&r, o, r.err);
					rescued = true;
					break;
				}
				r.hold.held = true;
			}
			if (r.hold.held && trigger_write(&r, o, r.c.model->now, false))
				stop_at = r.after_end;
			/* held through --after: no more refreshes, which the
			 * ring would keep for as long as the disk stays full;
			 * below, it waits for room */
			if (r.hold.held && !r.err && r.c.model->now >= r.hold.at + o->after_s) {
				wait_room = true;
				break;
			}
		}
		/* the end of --after: at its own refresh, or with --after 0 at
		 * the trigger's (which took one more tick, at once, before) */
		if (stop_at && r.c.model->now >= stop_at)
			break;
		if (o->duration_s && r.c.model->now >= o->duration_s - 1e-3)
			break;
		if (o->count && ticks >= o->count)
			break;
	}
	/* Stopped by a signal (Ctrl-C, systemd's SIGTERM): the usual way a
	 * recording ends. The events still in the kernel's ring go in, and a
	 * last tick: without it the file's counts (open, lost events) were
	 * those of the last refresh, a minute old at -i 60. That is when the
	 * signal ended a wait: one that came during a refresh (its walk takes
	 * up to a second at 100k connections), or during the first, has that
	 * refresh's tick for its last, and another one milliseconds later was
	 * a second "last tick". */
	if (stop_woke && !r.err) {
		drain_events(&r);
		if ((e = collect_refresh_now(&r.c))) {
			/* a runtime error (exit 1), as at any refresh; the
			 * file is still finished, whole up to the refresh
			 * before */
			elog("reading kernel state failed: %s; the capture ends at the last refresh",
			     strerror(-e));
			last_failed = true;
		} else {
			r.ring.cur_t = r.c.model->now;
			wall = r.c.wall;
			r.err = record_tick(&r.sink, &r.c, wall);
			r.ring_failed = r.err && r.in_memory;
			tick_out(&r, o, wall);
			ticks++;
			/* what happened during the walk, as after any tick */
			if (!r.err)
				drain_events(&r);
		}
	} else if (!r.err) {
		/* Ended by itself (-d, -n, the end of --after) or by a signal
		 * at a refresh: the events of the last walk, as after any
		 * tick. They stayed in the kernel's ring: the file's last
		 * counters held connections that it had no event of (-n 1
		 * wrote no event at all). */
		drain_events(&r);
	}
	/* the ring failed a record outside a refresh of the loop (the events
	 * of a drain, the last tick a stop signal asked for): what it holds
	 * goes to the file, as at any refresh, not nowhere */
	if (r.in_memory && r.err && r.ring_failed && !rescued) {
		ring_rescue(&r, o, r.err);
		rescued = true;
	}
	rc = last_failed ? RCL_EXIT_ERROR : RCL_EXIT_OK;
	/* the trigger's records, --after's included, wait for room on the
	 * disk until they are written or a stop signal */
	if (wait_room && r.hold.held && !r.err && !stop_sig) {
		elog("trigger: %s: --after's %gs held in memory too: recording no more; trying every %gs "
		     "to write them to %s (free some space there; stopped, rcleak writes what fits)",
		     r.hold.trig.why, o->after_s, o->interval_s, o->write_path);
		while (r.hold.held && !r.err && !stop_sig) {
			if (!usr1)
				nap(o->interval_s);
			usr1 = 0;
			if (!stop_sig)
				trigger_write(&r, o, collect_now() - r.c.start, true);
		}
	}
	if (r.in_memory && !r.err) {
		if (r.hold.held)
			elog("trigger: %s: stopping with the last %gs before it and %.1fs since in memory: a "
			     "last try to write them to %s", r.hold.trig.why, r.hold.ring_s,
			     collect_now() - r.c.start - r.hold.at, o->write_path);
		else
			elog("no trigger fired: writing the last %gs to %s", held_s(&r, o),
			     o->write_path);
		r.err = mem_flush_to(&r.ring, r.w);
		if (r.hold.held && !r.err)
			elog("trigger: %s: wrote them to %s", r.hold.trig.why, o->write_path);
	}
	/* the last record: a recorder killed between two chunks left a file
	 * that read as whole; a file without it says it may end early */
	if (!r.err) {
		rec_sink_file(&r.sink, r.w);
		r.err = record_end(&r.sink, r.c.model->mono_ns, stop_sig,
				   last_failed ? REC_END_NO_FINAL : 0);
	}
	if (r.err) {
		if (!rescued)
			write_failed(o->write_path, r.err);
		rc = RCL_EXIT_ERROR;
	}
cleanup:
	if (r.w) {
		e = capture_writer_close(r.w);
		if (e && rc == RCL_EXIT_OK) {
			write_failed(o->write_path, e);
			rc = RCL_EXIT_ERROR;
		}
	}
	if (rc == RCL_EXIT_OK)
		vlog("recorded %llu events in %ld ticks; %llu runs the kernel skipped were recovered",
		     (unsigned long long)r.nevents, ticks,
		     (unsigned long long)tracer__recovered_runs(r.c.tracer));
	mem_free(&r.ring);
	free(r.batch);
	collect_free(&r.c);
	model_free(r.c.model);
	tracer__free(r.c.tracer);
	return rc;
}
