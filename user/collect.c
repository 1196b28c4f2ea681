// SPDX-License-Identifier: GPL-2.0
/* collect.c - see collect.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collect.h"
#include "collect_int.h"
#include "kclock.h"
#include "log.h"
#include "procfs.h"

double collect_now(void)
{
	return kclock_mono_s(); /* the clock of the BPF side's timestamps */
}

struct walk_ctx {
	struct collector *c;
	int err;
};

static void on_fd(const struct rcl_fd_rec *rec, void *ctx)
{
	struct walk_ctx *w = ctx;

	if (collect_own_connection(w->c, rec))
		return;
	if (rec->state == RCL_TCP_LISTEN) {
		struct rcl_owner o = { .tgid = rec->tgid, .start_ns = rec->start_ns };

		tracer__note_listener(w->c->tracer, rec->lport, &o);
	}
	if (model_hold(w->c->model, rec))
		w->err = -ENOMEM;
}

static void on_counters(const struct rcl_owner *o, const struct rcl_counters *cn, void *ctx)
{
	struct collector *c = ctx;

	model_counters(c->model, o, cn);
}

static void on_stale(const struct rcl_stale_rec *rec, void *ctx)
{
	struct collector *c = ctx;

	c->repairs++;
	/* a connect that never got established was no connection */
	if (rec->flags & RCL_SOCK_PENDING)
		return;
	/* a socket the walk added itself (snapshot/repair) was never "opened"
	 * in our counts, but its close still is one */
	model_missed_close(c->model, &rec->owner);
}

static void forget(const struct proc *p, void *ctx)
{
	struct collector *c = ctx;

	tracer__forget_proc(c->tracer, &p->key);
	if (c->watch)
		procwatch_drop(c->watch, &p->key);
}


/* Fill in what the fd walk does not know: liveness, fds, limits, cmdline.
 * With a watch, an exit is dated when the watch saw it, the highest rate
 * over a window is the watch's, and so is the command line when the watch
 * read it (while the process ran: it may be gone now). */
static void complete(struct collector *c, struct proc *p, double now)
{
	const struct procwatch_ent *we = c->watch ? procwatch_find(c->watch, &p->key) : NULL;
	int pid = (int)p->key.tgid;

	if (p->exited)
		return;
	if (we)
		p->max_churn = we->max_rate;
	if (p->cmdline_stale) { /* exec'd: the watch's copy is the old one too */
		char now_cmd[sizeof(p->cmdline)];

		if (procfs_cmdline(pid, now_cmd, sizeof(now_cmd)) == 0)
			memcpy(p->cmdline, now_cmd, sizeof(p->cmdline));
		p->cmdline_stale = false;
	}
	if (!p->have_cmdline && we && we->have_cmdline) {
		memcpy(p->cmdline, we->cmdline, sizeof(p->cmdline));
		p->have_cmdline = true;
	}
	/* a zombie has exited: the kernel closed its files, and its parent
	 * may never reap it */
	if (!p->held && ((we && we->exited_at >= 0) || !procfs_running(pid, p->key.start_ns))) {
		p->exited = true;
		p->exited_at = we && we->exited_at >= 0 && we->exited_at < now ? we->exited_at : now;
		p->fds = -1;
		model_keep_listen(p);
		return;
	}
	if (!p->have_cmdline) {
		if (procfs_cmdline(pid, p->cmdline, sizeof(p->cmdline)) == 0)
			p->have_cmdline = true;
		if (!p->comm[0]) {
			char path[64];
			FILE *f;

			snprintf(path, sizeof(path), "/proc/%d/comm", pid);
			if ((f = fopen(path, "r"))) {
				if (fgets(p->comm, sizeof(p->comm), f))
					p->comm[strcspn(p->comm, "\n")] = '\0';
				fclose(f);
			}
		}
	}
	p->fds = p->held ? tracer__nfds(c->tracer, p->key.tgid, NULL) : -1;
	if (p->fds < 0)
		p->fds = procfs_fd_count(pid);
	if (!p->held)
		procfs_nofile(pid, &p->nofile_soft, &p->nofile_hard);
	if (p->nlisten > 0)
		collect_discover_maxclients(c, p, now);
}

int collect_refresh(struct collector *c, double now)
{
	struct walk_ctx w = { .c = c };
	__u64 stats[RCL_STAT__MAX];
	double dt = c->last > 0 ? now - c->last : 0;
	int err;

	if (c->opts->reconcile_s > 0 && c->last_reconcile > 0 &&
	    now - c->last_reconcile >= c->opts->reconcile_s) {
		err = tracer__reconcile(c->tracer, on_stale, c);
		if (err)
			return err;
		c->last_reconcile = now;
	}

	model_begin(c->model);
	for (int i = 0; i < RCL_SELF_EPS; i++) {
		c->own[i].held = false; /* on_fd marks those still held */
		c->own[i].holder.tgid = 0;
	}
	err = tracer__walk_files(c->tracer, on_fd, &w);
	if (err)
		return err;
	if (w.err)
		return w.err;
	tracer__for_each_proc(c->tracer, on_counters, c);
	/* a server's unix-socket clients take slots of its maxclients, and
	 * so do rcleak's own links to it */
	for (size_t i = 0; i < c->model->nprocs; i++) {
		struct proc *p = c->model->procs[i];

		if (!p->held || !p->nlisten)
			continue;
		tracer__nfds(c->tracer, p->key.tgid, &p->unix_clients);
		for (int k = 0; k < RCL_SELF_EPS; k++)
			p->rcleak_links += c->own[k].holder.tgid == p->key.tgid &&
					   c->own[k].holder.start_ns == p->key.start_ns;
	}
	c->model->mono_ns = (__u64)(now * 1e9);
	if (!c->model->hz && c->model->nrecs) { /* no kernel config: from jiffies */
		__u64 j = c->model->recs[0].jiffies;

		c->model->hz = procfs_hz_from_jiffies(j, kclock_boot_s());
		if (!c->model->hz && c->hz_t0 > 0)
			c->model->hz = procfs_hz_from_ticks(c->hz_j0, c->hz_t0, j, now);
		else if (!c->model->hz) {
			c->hz_j0 = j;
			c->hz_t0 = now;
		}
		if (c->model->hz)
			vlog("kernel HZ: %ld, from jiffies", c->model->hz);
	}
	model_end(c->model, now - c->start, dt);
	for (size_t i = 0; i < c->model->nprocs; i++)
		complete(c, c->model->procs[i], now - c->start);
	/* before the verdicts: CLIENT LIST tells which silent clients wait */
	if (c->opts->ask_redis) {
		collect_ask_servers(c, now - c->start);
		collect_count_fresh_links(c);
	}
	model_judge(c->model);
	if (!c->keep_exited)
		model_gc(c->model, forget, c);

	tracer__stats(c->tracer, stats);
	c->lost = stats[RCL_STAT_LOST_SOCK] + stats[RCL_STAT_LOST_PROC];
	c->events = stats[RCL_STAT_EVENTS];
	c->events_per_s = dt > 0 ? (double)(c->events - c->prev_events) / dt : 0;
	c->prev_events = c->events;
	c->repairs_added = stats[RCL_STAT_REPAIR_ADD];
	c->lost += stats[RCL_STAT_LOST_RINGBUF] + tracer__missed_runs(c->tracer);
	c->last_dt = dt;
	c->last = now;
	return 0;
}

bool collect_sees_nothing(const struct collector *c)
{
	return !c->opts->pid && !c->opts->comm[0] && !c->model->nprocs;
}

void collect_comm_check(struct collector *c)
{
	const char *name = c->opts->comm;
	int pid = c->opts->pid;
	char now[32];

	if (!name[0])
		return;
	/* a row alive that --comm (and --pid) select says it; /proc is read
	 * only when none is (the process filtered on died, or never
	 * connected) */
	for (size_t i = 0; i < c->model->nprocs; i++) {
		const struct proc *p = c->model->procs[i];

		if (!p->exited && !strcmp(p->comm, name) && (!pid || (int)p->key.tgid == pid)) {
			c->comm_state = COMM_RUNNING;
			return;
		}
	}
	/* with --pid too, both select: that process, by that name */
	if (pid)
		c->comm_state = procfs_comm(pid, now, sizeof(now)) == 0 && !strcmp(now, name) ? COMM_RUNNING
											 : COMM_NONE;
	else
		c->comm_state = procfs_comm_exists(name, NULL, 0) ? COMM_RUNNING : COMM_NONE;
}

int collect_refresh_now(struct collector *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	c->wall = ts.tv_sec + ts.tv_nsec / 1e9;
	return collect_refresh(c, collect_now());
}

struct watch_ctx {
	struct procwatch *w;
	double now;
	int err;
};

static void on_watched(const struct rcl_owner *o, const struct rcl_counters *cn, void *ctx)
{
	struct watch_ctx *x = ctx;

	if (procwatch_note(x->w, o, cn->opened, x->now))
		x->err = -ENOMEM;
}

int collect_watch(struct collector *c, double now)
{
	struct watch_ctx x = { .w = c->watch, .now = now - c->start };
	int err;

	if (!c->watch)
		return 0;
	err = tracer__for_each_proc(c->tracer, on_watched, &x);
	if (err || x.err)
		return err ? err : x.err;
	procwatch_check(c->watch, x.now);
	return 0;
}

/* Did the last fd walk see socket sk held? */
static int cmp_key_sk(const void *a, const void *b)
{
	__u64 x = ((const struct recsort_key *)a)->sk, y = ((const struct recsort_key *)b)->sk;

	return (x > y) - (x < y);
}

static bool walk_held(const struct model *m, __u64 sk)
{
	struct recsort_key key = { .sk = sk };

	if (m->order)
		return bsearch(&key, m->order, m->nrecs, sizeof(key), cmp_key_sk) != NULL;
	for (size_t i = 0; i < m->nrecs; i++) /* no memory for the order */
		if (m->recs[i].sk == sk)
			return true;
	return false;
}

static void on_seen_sock(__u64 sk, const struct rcl_sock *v, void *ctx)
{
	struct collector *c = ctx;
	struct rcl_owner o = { .tgid = v->tgid, .start_ns = v->start_ns };
	struct proc *p;

	/* a connection its owner opened, established and not let go of
	 * (closed, or left open at an exit): not one accepted (a listen
	 * queue's, not taken yet), nor one from before rcleak started */
	if (!(v->flags & RCL_SOCK_CLIENT) || !v->tgid ||
	    (v->flags & (RCL_SOCK_SERVER | RCL_SOCK_SNAPSHOT | RCL_SOCK_EXITED | RCL_SOCK_RELEASED |
			 RCL_SOCK_PENDING)))
		return;
	if (walk_held(c->model, sk))
		return;
	p = model_find(c->model, &o);
	if (p && !p->exited)
		p->unheld++;
}

int collect_final(struct collector *c, double now)
{
	/* the tcp walk before the fd walk: a socket made between the two is
	 * one the tcp walk did not see, and one closed between them is let
	 * go of (or gone) when the table is read */
	bool tcp = c->opts->reconcile_s > 0 && strcmp(c->walk, "proc");
	int err;

	/* twice: a sweep spares what opened since the walk before it began
	 * (unseeable()), which for a short `run` is everything it saw */
	for (int i = 0; tcp && i < 2; i++) {
		err = tracer__reconcile(c->tracer, on_stale, c);
		if (err)
			return err;
		c->last_reconcile = now;
	}
	err = collect_refresh(c, now);
	if (err || !tcp)
		return err;
	return tracer__each_seen_sock(c->tracer, on_seen_sock, c);
}

void collect_thresholds(const struct rcl_opts *o, struct model_thresholds *th)
{
	th->idle_s = o->idle_s;
	th->leak_per_min = o->leak_per_min;
	th->churn_per_s = o->churn_per_s;
	th->churn_life_ms = o->churn_life_ms;
	th->zombie_s = o->zombie_s;
	th->zombie_idle_s = o->zombie_idle_s;
	th->fd_limit_pct = o->fd_limit_pct;
}

int collect_start(struct collector *c)
{
	int err;

	collect_thresholds(c->opts, &c->model->th);
	c->model->hz = procfs_kernel_hz();
	c->tier = tracer__tier(c->tracer);
	c->walk = tracer__walk(c->tracer);
	vlog("kernel HZ: %ld%s", c->model->hz, c->model->hz ? "" : " (unknown yet: from jiffies at the first walk)");
	c->start = collect_now();
	c->start_boot = kclock_boot_s();
	err = tracer__snapshot(c->tracer);
	if (err)
		return err;
	c->last_reconcile = c->start;
	return collect_refresh_now(c);
}
