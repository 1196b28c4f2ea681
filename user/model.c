// SPDX-License-Identifier: GPL-2.0
/* model.c - see model.h. */
#include <math.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "redis.h"

static int cmp_key(const void *a, const void *b)
{
	const struct rcl_owner *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return 0;
}

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

struct model *model_new(double window_s)
{
	struct model *m = calloc(1, sizeof(*m));

	if (m) {
		m->window_s = window_s;
		model_thresholds_default(&m->th);
	}
	return m;
}

static void noop_free(void *p)
{
	(void)p;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	tdestroy(m->index, noop_free);
	for (size_t i = 0; i < m->nprocs; i++)
		free(m->procs[i]);
	free(m->procs);
	free(m->recs);
	free(m->cw);
	free(m->cw_next);
	free(m);
}

struct proc *model_find(struct model *m, const struct rcl_owner *o)
{
	void *r = tfind(o, &m->index, cmp_key);

	return r ? *(struct proc **)r : NULL;
}

/* Find or create; NULL on allocation failure. */
static struct proc *get(struct model *m, const struct rcl_owner *o)
{
	struct proc *p = model_find(m, o), **slot;

	if (p)
		return p;
	if (m->nprocs == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		struct proc **np = realloc(m->procs, ncap * sizeof(*np));

		if (!np)
			return NULL;
		m->procs = np;
		m->cap = ncap;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->key.tgid = o->tgid;
	p->key.start_ns = o->start_ns;
	p->fds = -1;
	p->nofile_soft = p->nofile_hard = -1;
	slot = tsearch(&p->key, &m->index, cmp_key);
	if (!slot) {
		free(p);
		return NULL;
	}
	m->procs[m->nprocs++] = p;
	return p;
}

void model_begin(struct model *m)
{
	m->nrecs = 0;
	for (size_t i = 0; i < m->nprocs; i++) {
		struct proc *p = m->procs[i];

		p->held = p->touched = false;
		p->open = p->established = p->close_wait = p->syn_sent = 0;
		p->other = p->shared = p->clients = 0;
		p->nlisten = 0;
		p->idle = p->zombies = 0;
		p->max_idle_s = -1;
		p->ntop_remotes = 0;
	}
}

int model_hold(struct model *m, const struct rcl_fd_rec *rec)
{
	if (m->nrecs == m->reccap) {
		size_t ncap = m->reccap ? m->reccap * 2 : 1024;
		struct rcl_fd_rec *nr = realloc(m->recs, ncap * sizeof(*nr));

		if (!nr)
			return -1;
		m->recs = nr;
		m->reccap = ncap;
	}
	m->recs[m->nrecs++] = *rec;
	return 0;
}

void model_counters(struct model *m, const struct rcl_owner *o, const struct rcl_counters *c)
{
	struct proc *p = get(m, o);

	if (!p)
		return;
	p->opened = c->opened;
	p->closed = c->closed;
	p->exit_closed = c->exit_closed;
	p->released = c->released;
	p->peak = c->peak;
	if (!p->comm[0] && c->comm[0]) {
		memcpy(p->comm, c->comm, sizeof(p->comm));
		p->comm[sizeof(p->comm) - 1] = '\0';
	}
	p->listener = c->flags & RCL_PROC_LISTENER;
	memcpy(p->life, c->life, sizeof(p->life));
	p->touched = true;
}

void model_missed_close(struct model *m, const struct rcl_owner *o)
{
	struct proc *p;

	m->missed_closes++;
	if (!o->tgid || !(p = get(m, o)))
		return;
	p->missed_closed++;
}

/* fd records sorted by socket, then holder: one run per socket. */
static int cmp_rec(const void *a, const void *b)
{
	const struct rcl_fd_rec *x = a, *y = b;

	if (x->sk != y->sk)
		return x->sk < y->sk ? -1 : 1;
	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return 0;
}

static bool listens_on(const struct proc *p, __u16 port)
{
	for (int i = 0; i < p->nlisten; i++)
		if (p->listen[i].port == port)
			return true;
	return false;
}

static int cmp_proc(const void *a, const void *b)
{
	const struct proc *x = *(struct proc *const *)a, *y = *(struct proc *const *)b;

	if (x->open != y->open)
		return x->open > y->open ? -1 : 1;
	if (x->key.tgid != y->key.tgid)
		return x->key.tgid < y->key.tgid ? -1 : 1;
	return x->key.start_ns < y->key.start_ns ? -1 : x->key.start_ns > y->key.start_ns;
}

/* ------------------------------------------------------------------------
 * per-connection facts
 */

/* Seconds since jiffy stamp `then` (low 32 bits), or -1 without HZ. */
static double jiffies_ago(const struct model *m, __u64 now64, __u32 then)
{
	__u32 d = (__u32)now64 - then;

	if (m->hz <= 0 || (__s32)d < 0)
		return m->hz <= 0 ? -1 : 0;
	return (double)d / (double)m->hz;
}

static double latest_idle(const struct model *m, const struct rcl_fd_rec *r)
{
	/* the later of the two stamps, in wrapping jiffies arithmetic */
	__u32 last = (__s32)(r->last_rcv - r->last_snd) > 0 ? r->last_rcv : r->last_snd;

	return jiffies_ago(m, r->jiffies, last);
}

static int cmp_cw(const void *a, const void *b)
{
	__u64 x = ((const struct cw_seen *)a)->sk, y = ((const struct cw_seen *)b)->sk;

	return x < y ? -1 : x > y;
}

/* When was sk first seen in CLOSE_WAIT (previous refreshes carry it on). */
static double cw_since(struct model *m, __u64 sk, double now)
{
	struct cw_seen key = { .sk = sk }, *e;
	double since = now;

	e = !m->ncw ? NULL : bsearch(&key, m->cw, m->ncw, sizeof(*m->cw), cmp_cw);
	if (e)
		since = e->since;
	if (m->ncw_next == m->cwcap_next) {
		size_t ncap = m->cwcap_next ? m->cwcap_next * 2 : 64;
		struct cw_seen *n = realloc(m->cw_next, ncap * sizeof(*n));

		if (!n)
			return since;
		m->cw_next = n;
		m->cwcap_next = ncap;
	}
	/* recs are walked in socket order, so cw_next stays sorted */
	if (!m->ncw_next || m->cw_next[m->ncw_next - 1].sk != sk) {
		m->cw_next[m->ncw_next].sk = sk;
		m->cw_next[m->ncw_next++].since = since;
	}
	return since;
}

static double cw_lookup(const struct model *m, __u64 sk)
{
	struct cw_seen key = { .sk = sk }, *e;

	e = !m->ncw ? NULL : bsearch(&key, m->cw, m->ncw, sizeof(*m->cw), cmp_cw);
	return e ? m->now - e->since : 0;
}

/* Apply one distinct (socket, holder) pair. */
static void apply(struct model *m, const struct rcl_fd_rec *r, int holders, bool listen_pass,
		  double now)
{
	struct rcl_owner o = { .tgid = r->tgid, .start_ns = r->start_ns };
	double idle, rcv_idle;
	bool accepted;
	struct proc *p;

	if ((r->state == RCL_TCP_LISTEN) != listen_pass)
		return;
	p = get(m, &o);
	if (!p)
		return;
	p->held = p->touched = true;
	memcpy(p->comm, r->comm, sizeof(p->comm));
	p->comm[sizeof(p->comm) - 1] = '\0';
	p->nofile_soft = (long long)r->nofile_cur;
	p->nofile_hard = (long long)r->nofile_max;
	if (r->nofile_cur == (__u64)-1)
		p->nofile_soft = -1;
	if (r->nofile_max == (__u64)-1)
		p->nofile_hard = -1;
	if (listen_pass) {
		if (!listens_on(p, r->lport) && p->nlisten < MODEL_MAX_LISTEN) {
			struct listen_addr *l = &p->listen[p->nlisten++];

			l->port = r->lport;
			l->family = r->family;
			memcpy(l->addr, r->laddr, 16);
		}
		return;
	}
	accepted = listens_on(p, r->lport);
	p->open++;
	switch (r->state) {
	case RCL_TCP_ESTABLISHED: p->established++; break;
	case RCL_TCP_CLOSE_WAIT: p->close_wait++; break;
	case RCL_TCP_SYN_SENT: p->syn_sent++; break;
	default: p->other++; break;
	}
	if (holders > 1)
		p->shared++;
	if (accepted)
		p->clients++;

	idle = latest_idle(m, r);
	rcv_idle = jiffies_ago(m, r->jiffies, r->last_rcv);
	if (idle >= 0) {
		if (idle > p->max_idle_s)
			p->max_idle_s = idle;
		if (idle >= m->th.idle_s)
			p->idle++;
	}
	if (r->state == RCL_TCP_CLOSE_WAIT) {
		if (now - cw_since(m, r->sk, now) >= m->th.zombie_s)
			p->zombies++;
	} else if (accepted && r->state == RCL_TCP_ESTABLISHED && rcv_idle >= m->th.zombie_idle_s) {
		p->zombies++; /* the peer vanished without a FIN, or just went quiet */
	}
}

struct remote_key {
	struct proc *p;
	__u8 family;
	__u8 addr[16];
};

static int cmp_remote(const void *a, const void *b)
{
	const struct remote_key *x = a, *y = b;

	if (x->p != y->p)
		return x->p < y->p ? -1 : 1;
	if (x->family != y->family)
		return x->family - y->family;
	return memcmp(x->addr, y->addr, 16);
}

/* Top remote addresses of each server's clients. */
static void top_remotes(struct model *m)
{
	struct remote_key *keys;
	size_t n = 0;

	keys = malloc((m->nrecs ? m->nrecs : 1) * sizeof(*keys));
	if (!keys)
		return;
	for (size_t i = 0; i < m->nrecs; i++) {
		const struct rcl_fd_rec *r = &m->recs[i];
		struct rcl_owner o = { .tgid = r->tgid, .start_ns = r->start_ns };
		struct proc *p;

		if (r->state == RCL_TCP_LISTEN || (i && !cmp_rec(r, r - 1)))
			continue;
		p = model_find(m, &o);
		if (!p || !p->nlisten || !listens_on(p, r->lport))
			continue;
		keys[n].p = p;
		keys[n].family = r->family;
		memcpy(keys[n].addr, r->raddr, 16);
		n++;
	}
	qsort(keys, n, sizeof(*keys), cmp_remote);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		struct proc *p = keys[i].p;
		long cnt;
		int k;

		while (j < n && !cmp_remote(&keys[i], &keys[j]))
			j++;
		cnt = (long)(j - i);
		/* insert into p's top list, kept sorted by count */
		for (k = p->ntop_remotes; k > 0 && p->top_remotes[k - 1].count < cnt; k--)
			if (k < MODEL_TOP_REMOTES)
				p->top_remotes[k] = p->top_remotes[k - 1];
		if (k < MODEL_TOP_REMOTES) {
			p->top_remotes[k].family = keys[i].family;
			memcpy(p->top_remotes[k].addr, keys[i].addr, 16);
			p->top_remotes[k].count = cnt;
			if (p->ntop_remotes < MODEL_TOP_REMOTES)
				p->ntop_remotes++;
		}
		i = j;
	}
	free(keys);
}

double model_life_percentile(const __u32 life[RCL_LIFE_BUCKETS], double q)
{
	__u64 total = 0, seen = 0, want;

	for (int b = 0; b < RCL_LIFE_BUCKETS; b++)
		total += life[b];
	if (!total)
		return -1;
	want = (__u64)ceil(q * (double)total);
	if (want < 1)
		want = 1;
	for (int b = 0; b < RCL_LIFE_BUCKETS; b++) {
		seen += life[b];
		if (seen >= want) {
			/* bucket 0: [0,1) ms; bucket b: [2^(b-1), 2^b) ms: geometric middle */
			return b == 0 ? 0.5 : ldexp(1.0, b - 1) * M_SQRT2;
		}
	}
	return -1;
}

/* Opens per second and closes/opens over the window, from two series. */
static void window_rates(struct proc *p)
{
	const struct series *o = &p->opened_series, *c = &p->closed_series;
	int first = o->head, last = (o->head + o->len - 1) % SERIES_CAP;
	double span, dopen, dclose;

	p->win_open_rate = 0;
	p->win_close_frac = -1;
	if (o->len < 2)
		return;
	span = o->t[last] - o->t[first];
	dopen = o->y[last] - o->y[first];
	dclose = c->y[(c->head + c->len - 1) % SERIES_CAP] - c->y[c->head];
	if (span > 0)
		p->win_open_rate = dopen / span;
	if (dopen > 0)
		p->win_close_frac = dclose / dopen;
}

void model_end(struct model *m, double now, double dt)
{
	struct cw_seen *tmp;
	size_t tcap;

	if (m->nrecs)
		qsort(m->recs, m->nrecs, sizeof(*m->recs), cmp_rec);
	m->ncw_next = 0;
	/* listeners first, so clients can be matched against listen ports */
	for (int pass = 1; pass >= 0; pass--) {
		for (size_t i = 0; i < m->nrecs;) {
			size_t j = i;
			int holders = 0;

			/* count distinct holders of this socket */
			for (; j < m->nrecs && m->recs[j].sk == m->recs[i].sk; j++)
				if (j == i || cmp_rec(&m->recs[j], &m->recs[j - 1]))
					holders++;
			for (size_t k = i; k < j; k++)
				if (k == i || cmp_rec(&m->recs[k], &m->recs[k - 1]))
					apply(m, &m->recs[k], holders, pass, now);
			i = j;
		}
	}
	/* CLOSE_WAIT sockets not seen again are forgotten */
	tmp = m->cw;
	tcap = m->cwcap;
	m->cw = m->cw_next;
	m->cwcap = m->cwcap_next;
	m->ncw = m->ncw_next;
	m->cw_next = tmp;
	m->cwcap_next = tcap;
	m->ncw_next = 0;
	top_remotes(m);

	for (size_t i = 0; i < m->nprocs; i++) {
		struct proc *p = m->procs[i];
		__u64 closed = p->closed + p->missed_closed;

		if (p->have_prev && dt > 0) {
			p->open_rate = (double)(p->opened - p->prev_opened) / dt;
			p->close_rate = (double)(closed - p->prev_closed) / dt;
		} else {
			p->open_rate = p->close_rate = 0;
		}
		p->prev_opened = p->opened;
		p->prev_closed = closed;
		p->have_prev = true;
		if (!p->first_seen && !p->last_seen)
			p->first_seen = now;
		if (!p->exited)
			p->last_seen = now;
		if (p->close_wait > p->close_wait_max)
			p->close_wait_max = p->close_wait;
		p->median_lifetime_ms = model_life_percentile(p->life, 0.5);
		p->p99_lifetime_ms = model_life_percentile(p->life, 0.99);
		if (!p->exited) {
			series_push(&p->series, now, (double)p->open, m->window_s);
			series_push(&p->opened_series, now, (double)p->opened, m->window_s);
			series_push(&p->closed_series, now, (double)closed, m->window_s);
			p->growth_per_min = series_slope_per_min(&p->series);
			window_rates(p);
			if (p->win_open_rate > p->max_churn)
				p->max_churn = p->win_open_rate;
			if (p->nlisten) {
				series_push(&p->clients_series, now, (double)p->clients, m->window_s);
				p->clients_growth_per_min = series_slope_per_min(&p->clients_series);
			}
		} else {
			p->growth_per_min = 0;
			p->win_open_rate = 0;
		}
	}
	if (m->nprocs)
		qsort(m->procs, m->nprocs, sizeof(*m->procs), cmp_proc);
	m->now = now;
}

/* Span of time the open-count series covers. */
static double series_span(const struct series *s)
{
	if (s->len < 2)
		return 0;
	return s->t[(s->head + s->len - 1) % SERIES_CAP] - s->t[s->head];
}

static void judge(const struct model *m, struct proc *p)
{
	const struct model_thresholds *th = &m->th;

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
	if (!p->nlisten && p->open > 0 && p->growth_per_min >= th->leak_per_min &&
	    series_span(&p->series) >= m->window_s / 2 &&
	    (p->win_close_frac < 0 || p->win_close_frac <= th->leak_close_frac)) {
		p->verdict = V_LEAK;
		snprintf(p->rule, sizeof(p->rule), "open +%.1f/min over %.0fs >= %g/min, closes %.0f%% of opens",
			 p->growth_per_min, series_span(&p->series), th->leak_per_min,
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
		p->verdict = V_CHURN;
		snprintf(p->rule, sizeof(p->rule), "%.1f connects/s >= %g, median lifetime %.1fms < %gms",
			 p->win_open_rate, th->churn_per_s, p->median_lifetime_ms, th->churn_life_ms);
	}
}

void model_judge(struct model *m)
{
	for (size_t i = 0; i < m->nprocs; i++) {
		struct proc *p = m->procs[i];

		judge(m, p);
		p->eta_s = -1;
		p->capped_by_nofile = false;
		if (p->nlisten && !p->exited) {
			long eff = model_effective_limit(p->maxclients, p->nofile_soft);
			long mc = p->maxclients > 0 ? p->maxclients : REDIS_DEFAULT_MAXCLIENTS;

			p->capped_by_nofile = p->nofile_soft >= 0 && p->nofile_soft - REDIS_RESERVED_FDS < mc;
			if (p->clients_growth_per_min > 0 && eff > p->clients)
				p->eta_s = (double)(eff - p->clients) / (p->clients_growth_per_min / 60.0);
			else if (p->clients_growth_per_min > 0)
				p->eta_s = 0;
		}
	}
}

size_t model_conns(const struct model *m, const struct proc *p, struct conn_view *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nrecs;) {
		size_t j = i;
		int holders = 0;
		long mine = -1;

		for (; j < m->nrecs && m->recs[j].sk == m->recs[i].sk; j++) {
			const struct rcl_fd_rec *r = &m->recs[j];

			if (j == i || cmp_rec(r, r - 1))
				holders++;
			if (mine < 0 && r->tgid == p->key.tgid && r->start_ns == p->key.start_ns)
				mine = (long)j;
		}
		if (mine >= 0 && m->recs[mine].state != RCL_TCP_LISTEN) {
			const struct rcl_fd_rec *r = &m->recs[mine];

			if (n < max) {
				struct conn_view *c = &out[n];

				memset(c, 0, sizeof(*c));
				c->sk = r->sk;
				c->state = r->state;
				c->family = r->family;
				c->lport = r->lport;
				c->rport = r->rport;
				memcpy(c->laddr, r->laddr, 16);
				memcpy(c->raddr, r->raddr, 16);
				c->holders = holders;
				for (size_t k = mine; k < j && !cmp_rec(&m->recs[k], r); k++) {
					if (c->nfds < 4)
						c->fds[c->nfds] = (int)m->recs[k].fd;
					c->nfds++;
				}
				c->age_s = r->open_ns && m->mono_ns > r->open_ns
						   ? (double)(m->mono_ns - r->open_ns) / 1e9 : -1;
				c->idle_s = latest_idle(m, r);
				c->rcv_idle_s = jiffies_ago(m, r->jiffies, r->last_rcv);
				c->close_wait_s = r->state == RCL_TCP_CLOSE_WAIT ? cw_lookup(m, r->sk) : 0;
			}
			n++;
		}
		i = j;
	}
	return n;
}

void model_gc(struct model *m, void (*cb)(const struct proc *p, void *ctx), void *ctx)
{
	size_t out = 0;

	for (size_t i = 0; i < m->nprocs; i++) {
		struct proc *p = m->procs[i];

		if (p->exited && m->now - p->exited_at >= m->window_s) {
			if (cb)
				cb(p, ctx);
			tdelete(&p->key, &m->index, cmp_key);
			free(p);
			continue;
		}
		m->procs[out++] = p;
	}
	m->nprocs = out;
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
