// SPDX-License-Identifier: GPL-2.0
/*
 * report_summary.c - `rcleak report FILE...` without a mode: the summary.
 * It watches every recorded tick go by (summary_observe), settles each
 * process's row (the events after the last tick, the peaks, a flight
 * recorder's trigger), then has it printed per file: the time span, the
 * servers and their limits, per-process peaks, when growth started, the
 * verdicts seen and lost events (report_summary_text.c, _json.c); with
 * several files, each server's connections joined by their 4-tuple to the
 * client-side holder found in another file (report_joins.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "capfile.h"
#include "peaks.h"
#include "report_summary.h"
#include "report_summary_int.h"
#include "view.h"

/* ------------------------------------------------------------------------
 * summary
 */

/* o's row, made when missing and make is set; NULL when missing or out of
 * memory. */
static struct seen_proc *seen_get(struct capfile *f, const struct rcl_owner *o, bool make)
{
	if (!f->seen.row_size)
		ownertab_init(&f->seen, sizeof(struct seen_proc));
	return make ? ownertab_get(&f->seen, o, NULL) : ownertab_find(&f->seen, o);
}

static struct seen_proc *seen_of(struct capfile *f, const struct proc *p)
{
	return seen_get(f, &p->key, true);
}

/* What the events after the last tick say of one process: the counters
 * of the last tick were read at its walk, and a recorder killed (SIGKILL,
 * the OOM killer) writes no refresh after it, though its file may hold a
 * whole interval of events more. Counted as the kernel side counts
 * (bpf/lifecycle.bpf.h): opened at an accept or a client's SYN_SENT ->
 * ESTABLISHED, closed when the socket reaches CLOSE (not a connect that
 * failed), for the owner the event names; leaked at a close at exit. */
struct tail_proc {
	struct rcl_owner key;
	char comm[RCL_COMM_LEN];
	__u64 opened, closed, leaked;
};

/* o's tally, made when missing; NULL when out of memory. */
static struct tail_proc *tail_of(struct capfile *f, const struct rcl_owner *o)
{
	if (!f->tail.row_size)
		ownertab_init(&f->tail, sizeof(struct tail_proc));
	return ownertab_get(&f->tail, o, NULL);
}

static int tail_event(struct capfile *f, const struct rcl_event *e)
{
	struct rcl_owner o = { .tgid = e->tgid, .start_ns = e->start_ns };
	bool opened = e->kind == RCL_EV_ACCEPT ||
		      (e->kind == RCL_EV_STATE && e->oldstate == RCL_TCP_SYN_SENT &&
		       e->newstate == RCL_TCP_ESTABLISHED);
	bool closed = e->newstate == RCL_TCP_CLOSE && e->oldstate != RCL_TCP_SYN_SENT &&
		      e->oldstate != RCL_TCP_LISTEN && e->kind != RCL_EV_LISTEN;
	struct tail_proc *t;

	/* before the first tick (a flight recorder's ring), or in the
	 * last tick's walk already */
	if (!f->have_tick || !e->tgid || e->ts_ns < f->rp.tick.mono_ns)
		return 0;
	if (!opened && !closed && e->kind != RCL_EV_CONNECT && e->kind != RCL_EV_EXIT_CLOSE)
		return 0;
	if (!(t = tail_of(f, &o)))
		return -ENOMEM;
	if (e->comm[0] && e->cur_tgid == e->tgid)
		memcpy(t->comm, e->comm, sizeof(t->comm));
	t->opened += opened;
	t->closed += closed;
	/* a socket on a port listened on at the last tick is a server's
	 * accepted one: closed at its exit, its clients' (proc_leaked) */
	t->leaked += e->kind == RCL_EV_EXIT_CLOSE && !(e->lport && model_listened(f->model, e->lport));
	return 0;
}

/* How bad p's verdict is at this refresh, the higher the worse: the
 * figure its rule names. */
static double verdict_figure(const struct proc *p)
{
	switch (p->verdict) {
	case V_LEAK: return p->nlisten ? p->out_growth_per_min : p->growth_per_min;
	case V_CHURN: return p->win_open_rate;
	case V_ZOMBIE: return (double)p->zombies;
	case V_FD_LIMIT: return (double)(p->fds - p->nofile_soft); /* less headroom */
	default: return 0;
	}
}

/* Was verdict k of s at its worst enough worse than when it first fired
 * to be said apart: a rate (LEAK's growth, CHURN's connects/s) a quarter
 * over the first's, a count (ZOMBIE's connections, FD-LIMIT's fds over
 * the limit) over it at all. */
bool summary_worse(const struct seen_proc *s, int k)
{
	double first = s->first_val[k], worst = s->worst_val[k];

	if (!s->worst_at[k] || s->worst_at[k] == s->first_verdict_at[k])
		return false;
	if (k == V_LEAK || k == V_CHURN)
		return worst > first * 1.25;
	return worst > first;
}

/* The refresh where p's verdict was at its worst, the first of equals. */
static void note_worst(struct seen_proc *s, const struct proc *p, double wall)
{
	double v = verdict_figure(p);

	if (!s->worst_at[p->verdict])
		s->first_val[p->verdict] = v;
	if (s->worst_at[p->verdict] && v <= s->worst_val[p->verdict])
		return;
	s->worst_at[p->verdict] = wall;
	s->worst_val[p->verdict] = v;
	snprintf(s->worst_rule[p->verdict], sizeof(s->worst_rule[0]), "%s", p->rule);
}

/* A server's headroom at this refresh: its lowest, and when it was full
 * (no slot left for a client: what refuses the next one with "max number
 * of clients reached") who held its slots then. */
static int note_room(struct capfile *f, struct seen_proc *s, const struct proc *p, double wall)
{
	struct holder_count hc[SUMMARY_FULL_BY];
	long room = model_server_headroom(p), n;

	if (!s->have_room || room < s->room_min) {
		s->room_min = room;
		s->room_min_at = wall;
	}
	s->have_room = true;
	if (room > 0)
		return 0;
	s->full_ticks++;
	if (s->full_at)
		return 0;
	if ((n = model_server_holders(f->model, p, hc, SUMMARY_FULL_BY)) < 0)
		return -ENOMEM;
	s->full_at = wall;
	s->full_clients = p->clients;
	s->full_links = p->rcleak_links;
	s->full_master = p->master_links;
	s->full_cluster = p->cluster_links;
	s->full_limit = model_server_limit(p);
	s->full_nholders = n;
	s->nfull_by = n < SUMMARY_FULL_BY ? (int)n : SUMMARY_FULL_BY;
	for (int k = 0; k < s->nfull_by; k++) {
		s->full_by[k].pid = hc[k].p->key.tgid;
		memcpy(s->full_by[k].comm, hc[k].p->comm, sizeof(s->full_by[k].comm));
		s->full_by[k].count = hc[k].count;
	}
	return 0;
}

int summary_observe(struct capfile *f)
{
	const struct model *m = f->model;
	double wall = f->rp.tick.wall;

	if (!f->peaks && !(f->peaks = peaks_new()))
		return -ENOMEM;
	ownertab_clear(&f->tail); /* its counters hold everything until its walk */
	if (peaks_tick(f->peaks, f->model, wall))
		return -ENOMEM;
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *p = m->procs[i];
		struct seen_proc *s;

		/* a fork's child that exited with its parent's connections
		 * opened and closed none itself: its leaks were in no row */
		if (!p->open && !p->opened && !p->closed && !p->missed_closed && !p->exit_closed &&
		    !p->nlisten && !p->listener)
			continue;
		/* --pid/--comm as the live view takes them: the name a process
		 * has at this tick (an exec into another program counts from it) */
		if (!view_selected(&f->opts, p))
			continue;
		s = seen_of(f, p);
		if (!s)
			return -ENOMEM;
		memcpy(s->comm, p->comm, sizeof(s->comm));
		if (p->cmdline[0])
			memcpy(s->cmdline, p->cmdline, sizeof(s->cmdline));
		s->server |= p->nlisten > 0 || p->listener;
		s->opened = p->opened;
		s->closed = p->closed + p->missed_closed;
		s->leaked = proc_leaked(p);
		if (p->exited)
			continue;
		/* over half the window at least, as LEAK's rule takes it: two
		 * refreshes a second apart, 0 then 4 connections in flight,
		 * read +240/min. A capture shorter than that keeps its best. */
		{
			double g = p->growth_per_min > 0 ? p->growth_per_min : 0;
			bool held = series_span(&p->series) >= m->window_s / 2;

			if (held && !s->growth_held) {
				s->max_growth = g;
				s->growth_held = true;
			} else if ((held || !s->growth_held) && g > s->max_growth) {
				s->max_growth = g;
			}
		}
		if (p->verdict != V_OK && !(s->verdicts & (1u << p->verdict))) {
			s->verdicts |= 1u << p->verdict;
			s->first_verdict_at[p->verdict] = wall;
			snprintf(s->rule[p->verdict], sizeof(s->rule[0]), "%s", p->rule);
		}
		if (p->verdict != V_OK)
			note_worst(s, p, wall);
		if (p->nlisten && note_room(f, s, p, wall))
			return -ENOMEM;
		if (p->nlisten) {
			long eff = model_server_limit(p);

			s->limits = true;
			s->effective_limit = eff;
			s->maxclients = p->maxclients;
			s->maxclients_source = p->maxclients_source;
			s->nofile = p->nofile_sized;
		}
	}
	return 0;
}

void summary_event(struct capfile *f, const struct rcl_event *e, double wall, void *ctx)
{
	int *err = ctx;

	if (wall > f->last_event)
		f->last_event = wall;
	if (f->peaks && peaks_event(f->peaks, e, f->ev_res_ns, wall) && !*err)
		*err = -ENOMEM;
	if (tail_event(f, e) && !*err)
		*err = -ENOMEM;
}

/* Events this long after the last refresh: it was not the recording's
 * end (the recorder killed), and the summary says so. A quarter of the
 * interval, a second at most, as --at's lateness: the final refresh of a
 * recording that stops normally is taken after its last events, bar a
 * few that race it. A file the recorder finished ends with its final
 * refresh, unless its end record says that refresh failed: the events
 * after it are those of its walk and of the drain after it (a storm's go
 * on through a long walk, milliseconds past the refresh's time), which its
 * counters, read after the walk, hold in part, and the live view's last
 * line none: no tail (the summary of a recording stopped with Ctrl-C in a
 * storm said the recorder was killed, and counted them). */
bool tail_long(const struct capfile *f)
{
	double iv = f->rp.meta.interval_s > 0 ? f->rp.meta.interval_s : 1;

	if (f->rp.finished && !f->rp.end_no_final)
		return false;
	return f->have_tick && f->last_event > f->last_wall + (iv / 4 < 1 ? iv / 4 : 1);
}

/* The events after the last tick into the rows: counted into the rows of
 * processes the ticks saw, and rows for those only these events show (a
 * storm that began after the last refresh: it was in no row). Only when
 * the recording did not end with a refresh: the counters of a tick are
 * read after its walk, so the events of the walk's own span are in them
 * and would count twice (the few of a killed recorder's last walk do) in
 * every capture's final refresh. */
static int take_tail(struct capfile *f)
{
	if (!tail_long(f))
		return 0;
	for (size_t i = 0; i < f->tail.n; i++) {
		const struct tail_proc *t = ownertab_row(&f->tail, i);
		struct seen_proc *s = seen_get(f, &t->key, false);

		if (!s) {
			if ((f->opts.pid && (int)t->key.tgid != f->opts.pid) ||
			    (f->opts.comm[0] && strcmp(f->opts.comm, t->comm)))
				continue;
			if (!(s = seen_get(f, &t->key, true)))
				return -ENOMEM;
			memcpy(s->comm, t->comm, sizeof(s->comm));
		}
		s->opened += t->opened;
		s->closed += t->closed;
		/* a redis-server's own links are Redis's (proc_leaked) */
		if (!proc_is_redis(s->comm, s->server))
			s->leaked += t->leaked;
	}
	ownertab_clear(&f->tail); /* once */
	return 0;
}


/* Each process's peaks, counted between the ticks too (peaks.h). */
static void take_peaks(struct capfile *f)
{
	for (size_t i = 0; i < f->seen.n; i++) {
		struct seen_proc *s = ownertab_row(&f->seen, i);
		const struct peak *pk = f->peaks ? peaks_of(f->peaks, &s->key) : NULL;

		s->peak_open = pk ? pk->peak_open : 0;
		s->peak_at = pk ? pk->peak_open_at : 0;
		s->growth_from = pk ? pk->growth_from : 0;
		s->growth_before = pk && pk->growth_before_start;
		s->clients_max = pk ? pk->peak_clients : 0;
		/* full between two refreshes, none of which saw it: a burst
		 * that took the last slot, and Redis refused the next, gone
		 * by the next refresh. Its "headroom lowest 1" and no FULL
		 * read as a server that never filled. */
		if (pk && pk->full_at && !s->full_at && s->have_room) {
			s->full_at = pk->full_at;
			s->full_between = true;
			s->full_clients = pk->full_clients;
			s->full_links = pk->full_rcleak_links;
			s->full_master = pk->full_master_links;
			s->full_cluster = pk->full_cluster_links;
			s->full_limit = pk->full_limit;
			s->full_nholders = 0;
			s->nfull_by = 0;
			s->room_min = 0;
			s->room_min_at = pk->full_at;
		}
	}
}

/* The wall times a file's refreshes span; with none complete, the header's
 * start for both (JSON said 0, 1970, where the text said the header's). */
void span_of(const struct capfile *f, double *start, double *end)
{
	*start = f->first_wall ? f->first_wall : f->info.wall_start;
	*end = f->last_wall ? f->last_wall : f->info.wall_start;
}

/* A flight capture's trigger: the verdict that fired counts as seen at its
 * tick even when the ring kept too little history to judge it again (a
 * LEAK's growth over half the window). */
static void take_trigger(struct capfile *f)
{
	const struct rec_trigger *t = &f->rp.trigger;

	if (!f->rp.have_trigger || !t->verdict[0])
		return;
	for (size_t i = 0; i < f->seen.n; i++) {
		struct seen_proc *s = ownertab_row(&f->seen, i);

		if (s->key.tgid != t->owner.tgid || s->key.start_ns != t->owner.start_ns)
			continue;
		/* the replay may judge it too, but only later (during --after,
		 * once the ring holds enough history): the recorder saw it first */
		for (int k = V_OK + 1; k <= V_FD_LIMIT; k++)
			if (!strcmp(verdict_name(k), t->verdict) &&
			    (!(s->verdicts & (1u << k)) || s->first_verdict_at[k] > t->wall)) {
				s->verdicts |= 1u << k;
				s->first_verdict_at[k] = t->wall;
				snprintf(s->rule[k], sizeof(s->rule[0]), "%s", t->rule);
			}
		return;
	}
}

int summary_print(struct capfile *files, int nfiles, const struct summary_skip *skips, int nskips,
		  bool json)
{
	for (int fi = 0; fi < nfiles; fi++)
		if (take_tail(&files[fi]))
			return -ENOMEM;
	for (int fi = 0; fi < nfiles; fi++) {
		take_peaks(&files[fi]);
		take_trigger(&files[fi]);
	}
	warn_spans_apart(files, nfiles);
	if (json)
		summary_json_out(files, nfiles, skips, nskips);
	else
		summary_text_out(files, nfiles);
	return 0;
}
