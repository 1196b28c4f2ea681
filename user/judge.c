// SPDX-License-Identifier: GPL-2.0
/*
 * judge.c - the verdict rules (FD-LIMIT, LEAK, ZOMBIE, CHURN), their default
 * thresholds, and a redis-server's effective client limit and time to reach
 * it. Declared in model.h: the model calls them once the refresh's facts are
 * in (model_judge), and the views and the report name what they found.
 */
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "opts.h"
#include "redis.h"

void model_thresholds_default(struct model_thresholds *t)
{
	t->leak_per_min = 5;      /* a pool never grows 5/min for a whole window */
	t->leak_close_frac = 0.2;
	t->churn_per_s = 5;       /* connect-per-request at 5+/s ... */
	t->churn_life_ms = 1000;  /* ... with connections living under a second */
	t->zombie_s = 60;
	t->zombie_idle_s = 3600;
	t->fd_limit_pct = 10;
	t->idle_s = 300;          /* Redis's default tcp-keepalive */
}

/* The recorded thresholds into *th, but those the report was given: any
 * one given put every other back to its default, not to what was recorded
 * ("report --leak-rate 1" of a capture of --fd-limit 1 judged by 10 %). */
void model_thresholds_keep(struct model_thresholds *th, struct model_thresholds rec, unsigned given)
{
	if (given & RCL_TH_IDLE)
		rec.idle_s = th->idle_s;
	if (given & RCL_TH_LEAK)
		rec.leak_per_min = th->leak_per_min;
	if (given & RCL_TH_CHURN)
		rec.churn_per_s = th->churn_per_s;
	if (given & RCL_TH_LIFE)
		rec.churn_life_ms = th->churn_life_ms;
	if (given & RCL_TH_ZOMBIE)
		rec.zombie_s = th->zombie_s;
	if (given & RCL_TH_ZOMBIE_IDLE)
		rec.zombie_idle_s = th->zombie_idle_s;
	if (given & RCL_TH_FD_LIMIT)
		rec.fd_limit_pct = th->fd_limit_pct;
	*th = rec;
}

const char *verdict_name(enum verdict v)
{
	switch (v) {
	case V_FD_LIMIT: return "FD-LIMIT";
	case V_LEAK: return "LEAK";
	case V_ZOMBIE: return "ZOMBIE";
	case V_CHURN: return "CHURN";
	default: return "ok";
	}
}

/* Growth that lasts: at least half the rate over each half of the series,
 * as well as the rate over the whole. A one-time jump (a pool filled at
 * once, 1 -> 6 connections, then flat) had a slope over the window above
 * 5/min for tens of seconds after it, and was called LEAK; all its slope is
 * in one half. With too few samples to split (an interval over half the
 * window), the whole slope stands alone. */
/* The slopes over the series' earlier and later halves, and how many
 * samples each has (s->len >= 2). */
static void half_slopes(const struct series *s, double *a, int *na, double *b, int *nb)
{
	double t0 = s->t[s->head], t1 = s->t[(s->head + s->len - 1) % s->cap];

	*a = series_slope_range_per_min(s, t0, (t0 + t1) / 2, na);
	*b = series_slope_range_per_min(s, (t0 + t1) / 2, t1, nb);
}

static bool grows_throughout(const struct series *s, double per_min)
{
	double a, b;
	int na, nb;

	if (s->len < 2)
		return false;
	half_slopes(s, &a, &na, &b, &nb);
	if (na < 2 || nb < 2)
		return true;
	return a >= per_min / 2 && b >= per_min / 2;
}

/* Does the series still grow: a slope above 0 over its later half? Too
 * few samples to split: the whole slope's word stands. A pool filled at
 * once (2 -> 8 clients, then flat) kept a slope over the window, and with
 * it an ETA to the server's limit, for a whole window after it stopped. */
static bool still_grows(const struct series *s)
{
	double a, b;
	int na, nb;

	if (s->len < 2)
		return true;
	half_slopes(s, &a, &na, &b, &nb);
	return b > 0 || nb < 2;
}

static void judge(const struct model *m, struct proc *p)
{
	const struct model_thresholds *th = &m->th;
	const struct series *s = &p->series;
	double growth = p->growth_per_min;
	long held = p->open;

	p->verdict = V_OK;
	p->rule[0] = '\0';
	if (p->exited)
		return;
	if (p->fds >= 0 && p->nofile_soft > 0 &&
	    (double)(p->nofile_soft - p->fds) < th->fd_limit_pct / 100.0 * (double)p->nofile_soft) {
		p->verdict = V_FD_LIMIT;
		snprintf(p->rule, sizeof(p->rule), "fd headroom %lld < %g%% of nofile %lld",
			 p->nofile_soft - p->fds, th->fd_limit_pct, p->nofile_soft);
		return;
	}
	/* a server's accepted connections are a symptom, not its fault; the
	 * ones it opens itself (a proxy's upstream) are judged as a client's */
	if (p->nlisten) {
		s = &p->out_series;
		growth = p->out_growth_per_min;
		held = p->open - (p->clients - p->unix_clients);
	}
	if (held > 0 && growth >= th->leak_per_min &&
	    series_span(s) >= m->window_s / 2 && grows_throughout(s, th->leak_per_min) &&
	    (p->win_close_frac < 0 || p->win_close_frac <= th->leak_close_frac)) {
		p->verdict = V_LEAK;
		snprintf(p->rule, sizeof(p->rule), "%s +%.1f/min over %.0fs >= %g/min, closes %.0f%% of opens",
			 p->nlisten ? "opened, not accepted," : "open", growth, series_span(s), th->leak_per_min,
			 p->win_close_frac < 0 ? 0 : p->win_close_frac * 100);
		return;
	}
	if (p->zombies > 0) {
		p->verdict = V_ZOMBIE;
		if (p->nlisten)
			snprintf(p->rule, sizeof(p->rule), "%ld connections: CLOSE_WAIT > %gs or peer silent > %gs",
				 p->zombies, th->zombie_s, th->zombie_idle_s);
		else
			snprintf(p->rule, sizeof(p->rule), "%ld CLOSE_WAIT held > %gs (peer closed, app did not)",
				 p->zombies, th->zombie_s);
		return;
	}
	if (!p->nlisten && p->win_open_rate >= th->churn_per_s && p->median_lifetime_ms >= 0 &&
	    p->median_lifetime_ms < th->churn_life_ms) {
		int n;

		p->verdict = V_CHURN;
		n = snprintf(p->rule, sizeof(p->rule), "%.1f connects/s >= %g, median lifetime %.1fms < %gms",
			     p->win_open_rate, th->churn_per_s, p->median_lifetime_ms, th->churn_life_ms);
		/* a leak inside the churn (an error path that never closes) is
		 * not LEAK, whose closes stay under 20 % of opens: say it, when
		 * the growth lasts as LEAK's must (over half the window: two
		 * refreshes, 0 then 4 connections in flight, said +240/min) */
		if (p->growth_per_min >= th->leak_per_min && series_span(&p->series) >= m->window_s / 2 &&
		    grows_throughout(&p->series, th->leak_per_min) &&
		    n > 0 && (size_t)n < sizeof(p->rule))
			snprintf(p->rule + n, sizeof(p->rule) - (size_t)n, "; open also grows +%.1f/min",
				 p->growth_per_min);
	}
}

void model_judge(struct model *m)
{
	for (size_t i = 0; i < m->nprocs; i++) {
		struct proc *p = m->procs[i];

		/* A maxclients the server told (CONFIG GET, INFO) already holds
		 * what Redis sized at start, and a CONFIG SET maxclients up
		 * raises its nofile with it: the fd limit it runs under now is
		 * the one that binds. Otherwise the first one rcleak saw stands
		 * for the one Redis sized by at start, and binds with the one
		 * now: a limit lowered later and given back costs nothing once
		 * given back. */
		if (p->nofile_start < 0 && p->nofile_soft >= 0)
			p->nofile_start = p->nofile_soft;
		/* But a server holding more slots than that limit allows was
		 * sized since by its nofile now: CONFIG SET maxclients up
		 * raises Redis's own fd limit, and rcleak without --ask-redis
		 * sees only the raise (it said headroom -8 for a server of 40
		 * clients that took more). Two over, not one: a client Redis
		 * refuses is in its fd table for the moment it takes to write
		 * the refusal, one at a time. */
		if (p->nlisten && p->nofile_start >= 0 && p->nofile_soft > p->nofile_start &&
		    p->clients + p->rcleak_links + p->master_links + p->cluster_links >=
			    p->nofile_start - REDIS_RESERVED_FDS + 2)
			p->nofile_start = p->nofile_soft;
		if (p->maxclients_source && (!strcmp(p->maxclients_source, "config-get") ||
					     !strcmp(p->maxclients_source, "info")))
			p->nofile_sized = p->nofile_soft;
		else if (p->nofile_soft >= 0 && (p->nofile_start < 0 || p->nofile_soft < p->nofile_start))
			p->nofile_sized = p->nofile_soft;
		else
			p->nofile_sized = p->nofile_start;
		judge(m, p);
		if (!p->exited) {
			p->last_verdict = p->verdict;
			memcpy(p->last_rule, p->rule, sizeof(p->last_rule));
		}
		p->eta_s = -1;
		p->capped_by_nofile = false;
		if (p->nlisten && !p->exited) {
			/* rcleak's own links take slots too */
			long room = model_server_headroom(p);
			long mc = p->maxclients > 0 ? p->maxclients : REDIS_DEFAULT_MAXCLIENTS;

			/* <=: at equality the fd limit binds as well, and it is
			 * what Redis shows when it lowered maxclients itself to
			 * fit the fd limit (CONFIG GET then answers nofile - 32) */
			p->capped_by_nofile = p->nofile_sized >= 0 && p->nofile_sized - REDIS_RESERVED_FDS <= mc;
			if (p->clients_growth_per_min <= 0 || !still_grows(&p->clients_series))
				;
			else if (room > 0)
				p->eta_s = (double)room / (p->clients_growth_per_min / 60.0);
			else
				p->eta_s = 0;
		}
	}
}

long model_server_limit(const struct proc *p)
{
	return model_effective_limit(p->maxclients, p->nofile_sized);
}

long model_server_headroom(const struct proc *p)
{
	return model_server_limit(p) - p->clients - p->rcleak_links - p->master_links - p->cluster_links;
}

long model_effective_limit(long maxclients, long long nofile_soft)
{
	long mc = maxclients > 0 ? maxclients : REDIS_DEFAULT_MAXCLIENTS;

	if (nofile_soft < 0) /* unlimited */
		return mc;
	if (nofile_soft - REDIS_RESERVED_FDS < mc)
		return nofile_soft - REDIS_RESERVED_FDS < 0 ? 0 : (long)(nofile_soft - REDIS_RESERVED_FDS);
	return mc;
}
