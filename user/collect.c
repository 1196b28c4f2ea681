// SPDX-License-Identifier: GPL-2.0
/* collect.c - see collect.h. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "collect.h"
#include "log.h"
#include "procfs.h"
#include "redis.h"

#define MAXCLIENTS_RECHECK_S 30.0 /* how often a server's maxclients is re-read */
#define ASK_TIMEOUT_MS 300

double collect_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct walk_ctx {
	struct collector *c;
	int err;
};

/* Server-side ends of rcleak's own queries are not the server's clients. */
static bool own_connection(const struct collector *c, const struct rcl_fd_rec *r)
{
	for (int i = 0; i < c->nown; i++)
		if (r->rport == c->own_ports[i] && r->state != RCL_TCP_LISTEN)
			return true;
	return false;
}

static void on_fd(const struct rcl_fd_rec *rec, void *ctx)
{
	struct walk_ctx *w = ctx;

	if (own_connection(w->c, rec))
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
	/* a socket the walk added itself (snapshot/repair) was never "opened"
	 * in our counts, but its close still is one */
	model_missed_close(c->model, &rec->owner);
}

static void forget(const struct proc *p, void *ctx)
{
	struct collector *c = ctx;

	tracer__forget_proc(c->tracer, &p->key);
}

static void discover_maxclients(struct collector *c, struct proc *p, double now)
{
	long mc = 0;

	if (p->maxclients && now - p->maxclients_at < MAXCLIENTS_RECHECK_S)
		return;
	p->maxclients_at = now;
	if (c->opts->maxclients) {
		p->maxclients = c->opts->maxclients;
		p->maxclients_source = "option";
		return;
	}
	if (c->opts->ask_redis && p->nlisten > 0) {
		__u16 lp = 0;

		mc = redis_ask_maxclients(p->listen[0].family, p->listen[0].addr,
					  p->listen[0].port, ASK_TIMEOUT_MS, &lp);
		if (lp) {
			/* remember the port so the server end is not counted */
			memmove(c->own_ports + 1, c->own_ports, sizeof(c->own_ports) - sizeof(c->own_ports[0]));
			c->own_ports[0] = lp;
			if (c->nown < (int)(sizeof(c->own_ports) / sizeof(c->own_ports[0])))
				c->nown++;
		}
		if (mc > 0) {
			p->maxclients = mc;
			p->maxclients_source = "config-get";
			return;
		}
		vlog("CONFIG GET maxclients failed for pid %u (port %u)", p->key.tgid, p->listen[0].port);
	}
	mc = redis_maxclients_from_cmdline(p->cmdline, (int)p->key.tgid);
	if (mc > 0) {
		p->maxclients = mc;
		p->maxclients_source = "cmdline";
		return;
	}
	p->maxclients = 0;
	p->maxclients_source = "default";
}

/* Fill in what the fd walk does not know: liveness, fds, limits, cmdline. */
static void complete(struct collector *c, struct proc *p, double now)
{
	int pid = (int)p->key.tgid;

	if (p->exited)
		return;
	if (!p->held && !procfs_alive(pid, p->key.start_ns)) {
		p->exited = true;
		p->exited_at = now;
		p->fds = -1;
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
	p->fds = p->held ? tracer__nfds(c->tracer, p->key.tgid) : -1;
	if (p->fds < 0)
		p->fds = procfs_fd_count(pid);
	if (!p->held)
		procfs_nofile(pid, &p->nofile_soft, &p->nofile_hard);
	if (p->nlisten > 0)
		discover_maxclients(c, p, now);
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
	err = tracer__walk_files(c->tracer, on_fd, &w);
	if (err)
		return err;
	if (w.err)
		return w.err;
	tracer__for_each_proc(c->tracer, on_counters, c);
	c->model->mono_ns = (__u64)(now * 1e9);
	if (!c->model->hz && c->model->nrecs) /* no kernel config: from jiffies */
		c->model->hz = procfs_hz_from_jiffies(c->model->recs[0].jiffies, procfs_uptime());
	model_end(c->model, now - c->start, dt);
	for (size_t i = 0; i < c->model->nprocs; i++)
		complete(c, c->model->procs[i], now - c->start);
	model_judge(c->model);
	model_gc(c->model, forget, c);

	tracer__stats(c->tracer, stats);
	c->lost = stats[RCL_STAT_LOST_SOCK] + stats[RCL_STAT_LOST_PROC];
	c->events = stats[RCL_STAT_EVENTS];
	c->events_per_s = dt > 0 ? (double)(c->events - c->prev_events) / dt : 0;
	c->prev_events = c->events;
	c->repairs_added = stats[RCL_STAT_REPAIR_ADD];
	c->last = now;
	return 0;
}

int collect_start(struct collector *c)
{
	int err;

	const struct rcl_opts *o = c->opts;
	struct model_thresholds *th = &c->model->th;

	th->idle_s = o->idle_s;
	th->leak_per_min = o->leak_per_min;
	th->churn_per_s = o->churn_per_s;
	th->churn_life_ms = o->churn_life_ms;
	th->zombie_s = o->zombie_s;
	th->zombie_idle_s = o->zombie_idle_s;
	th->fd_limit_pct = o->fd_limit_pct;
	c->model->hz = procfs_kernel_hz();
	vlog("kernel HZ: %ld%s", c->model->hz, c->model->hz ? "" : " (unknown yet: from jiffies at the first walk)");
	c->start = collect_now();
	err = tracer__snapshot(c->tracer);
	if (err)
		return err;
	c->last_reconcile = c->start;
	return collect_refresh(c, collect_now());
}
