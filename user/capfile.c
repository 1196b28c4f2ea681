// SPDX-License-Identifier: GPL-2.0
/* capfile.c - see capfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "capfile.h"
#include "log.h"
#include "peaks.h"
#include "view.h"

/* files given that are read from a copy (capfile_spooled): "-", a pipe */
struct spooled {
	const char *path;
	int fd;
};
static struct spooled spooled[RCL_MAX_FILES];
static int nspooled;

void capfile_spooled(const char *path, int fd)
{
	if (nspooled < RCL_MAX_FILES)
		spooled[nspooled++] = (struct spooled){ path, fd };
}

void capfile_stdin(int fd)
{
	capfile_spooled("-", fd);
}

static int spooled_fd(const char *path)
{
	for (int i = 0; i < nspooled; i++)
		if (!strcmp(spooled[i].path, path))
			return spooled[i].fd;
	return -1;
}

/* A recorder is writing path now: every writer holds an exclusive flock
 * on its file as long as it writes (capture_write.c), which a shared one
 * cannot be taken next to. */
static bool being_recorded(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), rc;

	if (fd < 0)
		return false;
	while ((rc = flock(fd, LOCK_SH | LOCK_NB)) < 0 && errno == EINTR)
		;
	rc = rc < 0 && errno == EWOULDBLOCK;
	close(fd); /* and the lock taken with it */
	return rc;
}

int capfile_open(struct capfile *f, const struct rcl_opts *o)
{
	char *err = f->open_err;
	size_t errlen = sizeof(f->open_err);
	int e;

	f->opts = *o;
	if (spooled_fd(f->path) >= 0)
		e = capture_reader_open_fd(&f->rd, spooled_fd(f->path), f->path, &f->info, err, errlen);
	else
		e = capture_reader_open(&f->rd, f->path, &f->info, err, errlen);
	if (e) {
		elog("%s", err); /* the reason names the file already */
		return e == -EBADMSG ? RCL_EXIT_INCOMPLETE : RCL_EXIT_ERROR;
	}
	/* "did not finish this file (killed ...)" was said of a recorder
	 * at work, and its chunk being written read as damage */
	f->recording = spooled_fd(f->path) < 0 && being_recorded(f->path);
	/* recorded with --pid or --comm: the live lines showed those, and so
	 * do the report's unless --all, --pid or --comm says otherwise (the
	 * file holds every process; report.c says so once) */
	if (!o->all && !o->pid && !o->comm[0]) {
		f->opts.pid = f->info.sel_pid;
		snprintf(f->opts.comm, sizeof(f->opts.comm), "%s", f->info.sel_comm);
	}
	f->opts.nports = 0; /* the views show the recorded ports */
	for (int i = 0; i < f->info.nports && i < RCL_MAX_PORTS; i++)
		f->opts.ports[f->opts.nports++] = f->info.ports[i];
	f->model = model_new(o->window_s);
	if (!f->model) {
		snprintf(err, errlen, "%s: out of memory", f->path);
		elog("%s", err);
		return RCL_EXIT_ERROR;
	}
	collect_thresholds(o, &f->model->th);
	replay_init(&f->rp, f->model);
	f->rp.window_fixed = o->window_set;
	f->rp.thresholds_given = o->thresholds_given;
	f->c.model = f->model;
	f->c.opts = &f->opts;
	f->c.tier = f->rp.meta.tier;
	f->c.walk = f->rp.meta.walk;
	f->c.host = f->info.host;
	f->c.kernel = f->info.kernel;
	return 0;
}

int capfile_reopen(struct capfile *f, const struct rcl_opts *o)
{
	const char *path = f->path, *file = f->c.file;
	struct capfile_told told = f->told;
	bool seen = f->selected_seen;
	char like[sizeof(f->selected_like)];
	int e;

	memcpy(like, f->selected_like, sizeof(like));
	capfile_close(f);
	memset(f, 0, sizeof(*f));
	f->path = path;
	f->told = told;
	f->selected_seen = seen;
	memcpy(f->selected_like, like, sizeof(like));
	e = capfile_open(f, o);
	f->c.file = file;
	return e;
}

int capfile_settle(struct capfile *f, const struct rcl_opts *o)
{
	struct capfile t;
	struct model *m;
	int e;

	if ((!f->rp.in_tick && !f->half_tick) || !f->ticks)
		return 0;
	memset(&t, 0, sizeof(t));
	t.path = f->path;
	if ((e = capfile_open(&t, o))) {
		capfile_close(&t);
		return e;
	}
	while (t.ticks < f->ticks && capfile_next_tick(&t, NULL, NULL) > 0)
		;
	if (t.ticks == f->ticks) { /* its model for f's: t frees f's */
		m = f->model;
		f->model = f->rp.model = f->c.model = t.model;
		t.model = t.rp.model = t.c.model = m;
	}
	capfile_close(&t);
	return 0;
}

void capfile_close(struct capfile *f)
{
	ownertab_free(&f->seen);
	peaks_free(f->peaks);
	ownertab_free(&f->tail);
	free(f->evb);
	join_index_free(f->jix);
	replay_free(&f->rp);
	model_free(f->model);
	if (f->rd)
		capture_reader_close(f->rd);
}

/* The time of a record, as Unix seconds. */
static double wall_of(const struct capfile *f, __u64 ts_ns)
{
	return f->info.wall_start + ((double)ts_ns - (double)f->info.mono_start_ns) / 1e9;
}

/* The events of one batch record; a damaged one counts as a bad record
 * (the events before the damage stand). */
/* --pid, --comm still to be seen: events are looked at too. */
static bool selecting(const struct capfile *f)
{
	return !f->selected_seen && (f->opts.pid || f->opts.comm[0]);
}

/* An event of a process --pid/--comm select: one seen only between
 * refreshes (a connect and an exit between two, a killed recorder's tail)
 * has its row in the summary. Its name is the acting task's, which is the
 * owner's when the owner acted (a thread's own name aside). */
static void note_event(struct capfile *f, const struct rcl_event *e)
{
	const struct rcl_opts *o = &f->opts;

	if ((!o->pid || e->tgid == (__u32)o->pid) &&
	    (!o->comm[0] || (e->cur_tgid == e->tgid && !strncmp(e->comm, o->comm, sizeof(e->comm)))))
		f->selected_seen = true;
}

static void read_batch(struct capfile *f, const struct capture_record *rec, event_fn on_event,
		       void *ctx)
{
	struct rcl_event e;
	int n;

	if (!f->evb && !(f->evb = malloc(sizeof(*f->evb)))) {
		f->rp.bad_records++; /* said at the end, with the damage */
		return;
	}
	if (evb_dec_init(f->evb, rec->data, rec->len, rec->ts_ns)) {
		f->rp.bad_records++;
		return;
	}
	f->ev_res_ns = evb_dec_res_ns(f->evb);
	if (f->ev_res_ns < f->info.ev_res_ns) /* stamped from a CPU's last read */
		f->ev_res_ns = f->info.ev_res_ns;
	while ((n = evb_dec_next(f->evb, &e)) == 1) {
		f->events++;
		if (selecting(f))
			note_event(f, &e);
		if (on_event)
			on_event(f, &e, wall_of(f, e.ts_ns), ctx);
	}
	if (n < 0)
		f->rp.bad_records++;
}

/* A chunk skipped inside a tick took part of its records (a refresh of
 * many connections spans several chunks): that tick is no refresh. Its
 * records up to TICK_END are dropped; the model, begun, stays half refilled
 * until the next tick (or capfile_settle). Completed, it showed a process
 * holding 999 of its 1500 connections, in --at, --replay and the peaks. */
static void tick_damage(struct capfile *f)
{
	struct capture_damage d;

	capture_damage(f->rd, &d);
	if (d.chunks_bad != f->bad_seen && f->rp.in_tick) {
		f->rp.in_tick = false;
		f->half_tick = true;
	}
	f->bad_seen = d.chunks_bad;
}

/* --pid, --comm: does the refresh just read hold a process they select?
 * (f->selected_seen, f->selected_like) */
static void note_selected(struct capfile *f)
{
	const struct rcl_opts *o = &f->opts;
	size_t n = strlen(o->comm);

	if (f->selected_seen || (!o->pid && !o->comm[0]))
		return;
	for (size_t i = 0; i < f->model->nprocs; i++) {
		const struct proc *p = f->model->procs[i];

		if (view_selected(o, p)) {
			f->selected_seen = true;
			return;
		}
		if (n && !f->selected_like[0] && p->comm[0] &&
		    (!strncmp(p->comm, o->comm, n) || !strncmp(o->comm, p->comm, strlen(p->comm))))
			snprintf(f->selected_like, sizeof(f->selected_like), "%s", p->comm);
	}
}

int capfile_next_tick(struct capfile *f, event_fn on_event, void *ctx)
{
	struct capture_record rec;
	bool done;
	int n;

	while ((n = capture_next(f->rd, &rec)) > 0) {
		tick_damage(f);
		if (rec.type == REC_EVENT) {
			struct rcl_event e;

			f->events++;
			f->ev_res_ns = 1;
			if ((on_event || selecting(f)) && record_decode_event(rec.data, rec.len, &e) == 0) {
				/* its time is the record's (the payload has none):
				 * left 0, older than every refresh, the peaks and a
				 * killed recorder's tail skipped every such event */
				e.ts_ns = rec.ts_ns;
				if (selecting(f))
					note_event(f, &e);
				if (on_event)
					on_event(f, &e, wall_of(f, rec.ts_ns), ctx);
			}
			continue;
		}
		if (rec.type == REC_EVENTS) {
			read_batch(f, &rec, on_event, ctx);
			continue;
		}
		done = replay_record(&f->rp, &rec) == 1;
		if (f->rp.dropped) { /* as a tick that lost a chunk */
			f->rp.dropped = false;
			f->half_tick = true;
		}
		if (done) {
			f->ticks++;
			f->half_tick = false;
			if (f->rp.meta.interval_s > 0 && !f->tui)
				f->opts.interval_s = f->rp.meta.interval_s;
			f->c.events = f->rp.tick.events;
			f->c.events_per_s = f->rp.tick.events_per_s;
			f->c.lost = f->rp.tick.lost;
			f->c.repairs = f->rp.tick.repairs;
			f->c.repairs_added = 0;
			f->lost = f->rp.tick.lost;
			if (!f->have_tick)
				f->first_wall = f->rp.tick.wall;
			f->have_tick = true;
			f->last_wall = f->rp.tick.wall;
			note_selected(f);
			return 1;
		}
	}
	tick_damage(f); /* the last chunks, damaged */
	if (n < 0)
		elog("%s: read error: %s", f->path, strerror(-n));
	f->done = true;
	return n < 0 ? -1 : 0;
}

bool capfile_damage(struct capfile *f)
{
	struct capture_damage d;

	capture_damage(f->rd, &d);
	if (d.chunks_bad > f->told.chunks)
		elog("%s: %lu damaged chunk%s skipped (bad checksum, stream or length)", f->path,
		     d.chunks_bad, d.chunks_bad == 1 ? "" : "s");
	/* a recorder at work is inside its next chunk: no damage */
	if (f->recording)
		d.truncated = false;
	if (d.truncated && !f->told.truncated)
		elog("%s: file ends inside a chunk: read up to byte %llu (%lu whole chunks)", f->path,
		     (unsigned long long)d.truncated_at, d.chunks_ok);
	if (f->rp.bad_records > f->told.records)
		elog("%s: %lu records damaged or too short to read, skipped", f->path, f->rp.bad_records);
	if (f->rp.too_big > f->told.too_big)
		elog("%s: %lu refresh%s skipped as damaged: more than a recorder writes (%u connections, "
		     "%u processes)", f->path, f->rp.too_big, f->rp.too_big == 1 ? "" : "es", REPLAY_MAX_FDS,
		     REPLAY_MAX_PROCS);
	if (d.chunks_bad > f->told.chunks)
		f->told.chunks = d.chunks_bad;
	if (f->rp.bad_records > f->told.records)
		f->told.records = f->rp.bad_records;
	if (f->rp.too_big > f->told.too_big)
		f->told.too_big = f->rp.too_big;
	f->told.truncated |= d.truncated;
	/* a record that cannot be read is damage as much as a chunk */
	return d.chunks_bad || d.truncated || f->rp.bad_records || f->rp.too_big;
}

void capfile_fmt_time(double wall, char *buf, size_t len)
{
	time_t t = (time_t)wall;
	struct tm tm;

	/* an event's time comes from the file's clocks: anything */
	if (!capture_wall_ok(wall) || !localtime_r(&t, &tm))
		snprintf(buf, len, "%s", "?");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

void capfile_fmt_time_ms(double wall, char *buf, size_t len)
{
	/* rounded, as --json prints ts: the last digit is the one that
	 * `--at` takes back as that refresh's ([t - 0.5 ms, t + 0.5 ms)) */
	double r = round(wall * 1000) / 1000, sec = floor(r);
	size_t n;

	capfile_fmt_time(sec, buf, len);
	n = strlen(buf);
	if (strcmp(buf, "?") && n < len)
		snprintf(buf + n, len - n, ".%03d", (int)llround((r - sec) * 1000) % 1000);
}
