// SPDX-License-Identifier: GPL-2.0
/* replay.c - see replay.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "replay.h"

void replay_init(struct replay *r, struct model *m)
{
	memset(r, 0, sizeof(*r));
	r->model = m;
	snprintf(r->meta.tier, sizeof(r->meta.tier), "?");
	snprintf(r->meta.walk, sizeof(r->meta.walk), "?");
}

void replay_free(struct replay *r)
{
	free(r->facts);
	r->facts = NULL;
}

static void apply_facts(struct replay *r)
{
	for (size_t i = 0; i < r->nfacts; i++) {
		const struct rec_proc *f = &r->facts[i];
		struct proc *p = model_find(r->model, &f->owner);

		if (!p)
			continue;
		p->fds = f->fds;
		p->nofile_soft = f->nofile_soft;
		p->nofile_hard = f->nofile_hard;
		p->maxclients = f->maxclients;
		p->exited = f->exited;
		p->exited_at = f->exited_at;
		model_keep_listen(p); /* --at called it a client */
		if (!p->comm[0])
			memcpy(p->comm, f->comm, sizeof(p->comm));
		if (f->cmdline[0]) { /* the newest: an exec changes it */
			memcpy(p->cmdline, f->cmdline, sizeof(p->cmdline));
			p->have_cmdline = true;
		}
		/* the model holds a pointer: map the text to a static string */
		p->maxclients_source = !strcmp(f->maxclients_source, "option") ? "option"
				     : !strcmp(f->maxclients_source, "config-get") ? "config-get"
				     : !strcmp(f->maxclients_source, "cmdline") ? "cmdline"
				     : !strcmp(f->maxclients_source, "info") ? "info"
				     : !strcmp(f->maxclients_source, "refused") ? "refused" : "default";
	}
}

/* The tick being read holds more than a recorder writes: give it up now,
 * before the rest of its records take memory, and the processes it made
 * with it. Its records up to TICK_END are skipped. */
static void give_up(struct replay *r)
{
	model_drop_since(r->model, r->procs_before);
	r->in_tick = false;
	r->dropped = true;
	r->too_big++;
}

/* Would a record of o make the model hold more processes than a
 * recorder's? */
static bool procs_full(struct replay *r, const struct rcl_owner *o)
{
	return r->model->nprocs >= REPLAY_MAX_PROCS && !model_find(r->model, o);
}

int replay_record(struct replay *r, const struct capture_record *rec)
{
	switch (rec->type) {
	case REC_META:
		if (record_decode_meta(rec->data, rec->len, &r->meta))
			r->bad_records++;
		else {
			/* judge as it was recorded, unless the report says otherwise */
			if (r->meta.window_s >= 2 && !r->window_fixed)
				r->model->window_s = r->meta.window_s;
			if (r->meta.have_thresholds)
				model_thresholds_keep(&r->model->th, r->meta.th, r->thresholds_given);
		}
		return 0;
	case REC_TICK: {
		struct rec_tick t;

		/* checked before anything is kept: a rejected header once
		 * replaced the last tick's times, and the events after it
		 * were timed from a refresh that never was (report's tail) */
		if (record_decode_tick(rec->data, rec->len, &t)) {
			r->bad_records++;
			r->in_tick = false;
			return 0;
		}
		/* r->tick only once it completes: a refresh dropped as
		 * damaged (a bad record, a lost chunk, more than a recorder
		 * writes) left its header as the last refresh's time, and the
		 * events after the last whole one, stamped before it, were
		 * taken for part of its walk (report's tail) */
		r->reading = t;
		model_begin(r->model);
		r->model->hz = t.hz;
		r->nfacts = 0;
		r->tick_fds = r->tick_counters = 0;
		r->procs_before = r->model->nprocs;
		r->in_tick = true;
		r->tick_bad = false;
		return 0;
	}
	case REC_FD: {
		struct rcl_owner o = { 0 };
		struct rcl_fd_rec fd;

		if (!r->in_tick || record_decode_fd(rec->data, rec->len, &fd)) {
			r->bad_records += r->in_tick;
			r->tick_bad |= r->in_tick;
			return 0;
		}
		o.tgid = fd.tgid;
		o.start_ns = fd.start_ns;
		if (++r->tick_fds > REPLAY_MAX_FDS || procs_full(r, &o)) {
			give_up(r);
			return 0;
		}
		model_hold(r->model, &fd);
		return 0;
	}
	case REC_COUNTERS: {
		struct rec_counters c;

		if (!r->in_tick || record_decode_counters(rec->data, rec->len, &c)) {
			r->bad_records += r->in_tick;
			r->tick_bad |= r->in_tick;
			return 0;
		}
		if (++r->tick_counters > REPLAY_MAX_COUNTERS || procs_full(r, &c.owner)) {
			give_up(r);
			return 0;
		}
		model_counters(r->model, &c.owner, &c.c);
		return 0;
	}
	case REC_PROC:
		if (!r->in_tick)
			return 0;
		if (r->nfacts == REPLAY_MAX_PROCS) {
			give_up(r);
			return 0;
		}
		if (r->nfacts == r->capfacts) {
			size_t ncap = r->capfacts ? r->capfacts * 2 : 64;
			struct rec_proc *n = realloc(r->facts, ncap * sizeof(*n));

			if (!n)
				return 0;
			r->facts = n;
			r->capfacts = ncap;
		}
		if (record_decode_proc(rec->data, rec->len, &r->facts[r->nfacts]) == 0) {
			const struct rcl_owner *o = &r->facts[r->nfacts].owner;

			/* every process of the live model has its facts, even
			 * one with no socket held and nothing counted yet (a
			 * connect between the walk and the counters' read: the
			 * kernel made its counters, zero until established). It
			 * took samples from that refresh on (its growth), so the
			 * replay must hold it from then too */
			if (procs_full(r, o)) {
				give_up(r);
				return 0;
			}
			if (!model_get(r->model, o))
				return 0;
			r->nfacts++;
		} else {
			r->bad_records++;
			r->tick_bad = true;
		}
		return 0;
	case REC_TICK_END:
		if (!r->in_tick)
			return 0;
		r->in_tick = false;
		/* a refresh missing a record is no refresh: completed, it
		 * showed a process without the sockets of its lost records */
		if (r->tick_bad) {
			r->dropped = true;
			return 0;
		}
		r->tick = r->reading;
		r->model->mono_ns = r->tick.mono_ns;
		r->model->missed_closes = r->tick.missed_closes;
		/* before model_end, which counts them (among the clients, the
		 * closes), as the live refresh does */
		for (size_t i = 0; i < r->nfacts; i++) {
			struct proc *p = model_find(r->model, &r->facts[i].owner);

			if (p) {
				/* a close the kernel's events missed (found by
				 * reconciliation): live counts it in this
				 * refresh's close rate and closed series */
				p->missed_closed = r->facts[i].missed_closed;
				p->unix_clients = r->facts[i].unix_clients;
				p->rcleak_links = r->facts[i].rcleak_links;
				p->master_links = r->facts[i].master_links;
				p->cluster_links = r->facts[i].cluster_links;
			}
		}
		model_end(r->model, r->tick.now, r->tick.dt);
		apply_facts(r);
		model_judge(r->model);
		model_gc(r->model, NULL, NULL);
		return 1;
	case REC_TRIGGER:
		if (r->have_trigger)
			return 0;
		if (record_decode_trigger(rec->data, rec->len, &r->trigger))
			r->bad_records++;
		else
			r->have_trigger = true;
		return 0;
	case REC_END: {
		__u32 sig;
		__u8 flags;

		if (record_decode_end(rec->data, rec->len, &sig, &flags)) {
			r->bad_records++;
		} else {
			r->finished = true;
			r->end_signal = sig;
			r->end_no_final = flags & REC_END_NO_FINAL;
		}
		return 0;
	}
	default: /* events, and types from a newer version */
		return 0;
	}
}
