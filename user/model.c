// SPDX-License-Identifier: GPL-2.0
/* model.c - see model.h: the process table and one refresh. Per-connection
 * facts (idle, CLOSE_WAIT, zombies, top remotes, model_conns) are in
 * model_conn.c. */
#include <math.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "model_int.h"

static int cmp_key(const void *a, const void *b)
{
	const struct rcl_owner *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return 0;
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

/* A process and its series. */
static void proc_free(struct proc *p)
{
	series_free(&p->series);
	series_free(&p->opened_series);
	series_free(&p->closed_series);
	series_free(&p->out_series);
	series_free(&p->clients_series);
	free(p);
}

void model_free(struct model *m)
{
	if (!m)
		return;
	tdestroy(m->index, noop_free);
	for (size_t i = 0; i < m->nprocs; i++)
		proc_free(m->procs[i]);
	free(m->procs);
	free(m->recs);
	free(m->recproc);
	free(m->recholders);
	recsort_free(&m->sort);
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
	p->nofile_soft = p->nofile_hard = p->nofile_sized = p->nofile_start = -1;
	p->max_idle_s = -1; /* as model_begin has it: 0.0 read as just active */
	slot = tsearch(&p->key, &m->index, cmp_key);
	if (!slot) {
		free(p);
		return NULL;
	}
	m->procs[m->nprocs++] = p;
	return p;
}

struct proc *model_get(struct model *m, const struct rcl_owner *o)
{
	return get(m, o);
}

void model_drop_since(struct model *m, size_t n)
{
	/* get() appends, and only model_end sorts */
	for (size_t i = n; i < m->nprocs; i++) {
		tdelete(&m->procs[i]->key, &m->index, cmp_key);
		proc_free(m->procs[i]);
	}
	if (n < m->nprocs)
		m->nprocs = n;
	m->nrecs = 0; /* they point to the processes gone */
	m->last_held = NULL;
}

void model_begin(struct model *m)
{
	m->nrecs = 0;
	m->order = NULL;
	m->last_held = NULL;
	for (size_t i = 0; i < m->nprocs; i++) {
		struct proc *p = m->procs[i];

		p->held = p->touched = false;
		p->open = p->established = p->close_wait = p->syn_sent = 0;
		p->other = p->shared = p->clients = p->unix_clients = p->rcleak_links = p->master_links = 0;
		p->own_over = p->cw_held = p->unheld = 0;
		/* the walk refills the listen list of a process that runs;
		 * one that exited keeps it, and is still a server (role, and
		 * no client verdict for the accepts it made) */
		if (!p->exited) {
			p->alive_nlisten = p->nlisten;
			p->nlisten = 0;
		}
		p->idle = p->zombies = 0;
		p->max_idle_s = -1;
		p->ntop_remotes = 0;
	}
}

bool model_listens_on(const struct proc *p, __u16 port)
{
	for (int i = 0; i < p->nlisten; i++)
		if (p->listen[i].port == port)
			return true;
	return false;
}

/* What a record says of its holder; listeners are taken here, before
 * model_end() matches clients against their ports. */
static struct proc *hold_proc(struct model *m, const struct rcl_fd_rec *r)
{
	struct rcl_owner o = { .tgid = r->tgid, .start_ns = r->start_ns };
	struct proc *p = m->last_held;

	/* a walk lists each process's fds together */
	if (!p || p->key.tgid != o.tgid || p->key.start_ns != o.start_ns)
		p = get(m, &o);
	if (!p)
		return NULL;
	m->last_held = p;
	p->held = p->touched = true;
	/* exec() names the process after its new program, and its command
	 * line is the new one's; an exec into a program of the same name
	 * (python3 into python3, a server re-executing itself) shows in the
	 * exec count */
	if (p->have_cmdline && ((p->comm[0] && strncmp(p->comm, r->comm, sizeof(p->comm))) ||
				(p->exec_known && p->exec_id != r->exec_id)))
		p->cmdline_stale = true;
	p->exec_id = r->exec_id;
	p->exec_known = true;
	memcpy(p->comm, r->comm, sizeof(p->comm));
	p->comm[sizeof(p->comm) - 1] = '\0';
	p->nofile_soft = r->nofile_cur == RCL_NOFILE_INF ? -1 : (long long)r->nofile_cur;
	p->nofile_hard = r->nofile_max == RCL_NOFILE_INF ? -1 : (long long)r->nofile_max;
	if (r->state == RCL_TCP_LISTEN && !model_listens_on(p, r->lport) && p->nlisten < MODEL_MAX_LISTEN) {
		struct listen_addr *l = &p->listen[p->nlisten++];

		l->port = r->lport;
		l->family = r->family;
		memcpy(l->addr, r->laddr, 16);
	}
	return p;
}

int model_hold(struct model *m, const struct rcl_fd_rec *rec)
{
	if (m->nrecs == m->reccap) {
		size_t ncap = m->reccap ? m->reccap * 2 : 1024;
		struct rcl_fd_rec *nr = realloc(m->recs, ncap * sizeof(*nr));
		struct proc **np;
		__u16 *nh;

		if (!nr)
			return -1;
		m->recs = nr;
		np = realloc(m->recproc, ncap * sizeof(*np));
		if (!np)
			return -1;
		m->recproc = np;
		nh = realloc(m->recholders, ncap * sizeof(*nh));
		if (!nh)
			return -1;
		m->recholders = nh;
		m->reccap = ncap;
	}
	m->recs[m->nrecs] = *rec;
	m->recproc[m->nrecs++] = hold_proc(m, rec);
	return 0;
}

void model_counters(struct model *m, const struct rcl_owner *o, const struct rcl_counters *c)
{
	struct proc *p = get(m, o);

	if (!p)
		return;
	/* the views show totals; rcleak run tells a listener's own apart */
	p->opened = c->opened + c->accepted;
	p->closed = c->closed + c->acc_closed;
	p->exit_closed = c->exit_closed + c->acc_exit_closed;
	p->released = c->released + c->acc_released;
	p->accepted = c->accepted;
	p->acc_closed = c->acc_closed;
	p->acc_exit_closed = c->acc_exit_closed;
	p->acc_released = c->acc_released;
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
#define cmp_rec recsort_cmp

static int cmp_proc(const void *a, const void *b)
{
	const struct proc *x = *(struct proc *const *)a, *y = *(struct proc *const *)b;

	if (x->open != y->open)
		return x->open > y->open ? -1 : 1;
	if (x->key.tgid != y->key.tgid)
		return x->key.tgid < y->key.tgid ? -1 : 1;
	return x->key.start_ns < y->key.start_ns ? -1 : x->key.start_ns > y->key.start_ns;
}

__u64 model_life_count(const __u32 life[RCL_LIFE_BUCKETS])
{
	__u64 total = 0;

	for (int b = 0; b < RCL_LIFE_BUCKETS; b++)
		total += life[b];
	return total;
}

double model_life_percentile(const __u32 life[RCL_LIFE_BUCKETS], double q)
{
	__u64 total = model_life_count(life), seen = 0, want;

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
static void window_rates(struct proc *p, double window_s)
{
	const struct series *o = &p->opened_series, *c = &p->closed_series;
	int first = o->head, last = o->len ? (o->head + o->len - 1) % o->cap : 0;
	double span, dopen, dclose;

	p->win_open_rate = 0;
	p->win_close_frac = -1;
	if (o->len < 2)
		return;
	span = o->t[last] - o->t[first];
	dopen = o->y[last] - o->y[first];
	dclose = c->len ? c->y[(c->head + c->len - 1) % c->cap] - c->y[c->head] : 0;
	/* over half the window at least, as LEAK's growth: a burst of 12
	 * connects in the first second rcleak saw a process was "10/s" and
	 * CHURN; a churner at 100/s still shows in a second and a half */
	if (span > 0)
		p->win_open_rate = dopen / (span > window_s / 2 ? span : window_s / 2);
	if (dopen > 0)
		p->win_close_frac = dclose / dopen;
}

/* recholders[] from the records' order by (socket, holder). */
static void count_holders(struct model *m)
{
	const struct recsort_key *k = recsort(&m->sort, m->recs, m->nrecs);

	m->order = k;
	if (!k) { /* no memory for the sort: every record its own socket */
		for (size_t i = 0; i < m->nrecs; i++)
			m->recholders[i] = 1;
		return;
	}
	for (size_t i = 0; i < m->nrecs;) {
		size_t j = i + 1;
		int holders = 1;

		if (j < m->nrecs && k[j].sk == k[i].sk) { /* shared or dup'd: rare */
			for (; j < m->nrecs && k[j].sk == k[i].sk; j++)
				if (cmp_rec(&m->recs[k[j].idx], &m->recs[k[j - 1].idx]))
					holders++;
		}
		if (holders > 0xffff)
			holders = 0xffff;
		for (size_t x = i; x < j; x++)
			m->recholders[k[x].idx] =
				x == i || cmp_rec(&m->recs[k[x].idx], &m->recs[k[x - 1].idx]) ? (__u16)holders : 0;
		i = j;
	}
}

void model_end(struct model *m, double now, double dt)
{
	struct cw_seen *tmp;
	size_t tcap;

	count_holders(m);
	memset(m->listen_bits, 0, sizeof(m->listen_bits));
	for (size_t i = 0; i < m->nrecs; i++)
		if (m->recs[i].state == RCL_TCP_LISTEN)
			m->listen_bits[m->recs[i].lport >> 6] |= 1ull << (m->recs[i].lport & 63);
	m->ncw_next = 0;
	for (size_t i = 0; i < m->nrecs; i++)
		if (m->recholders[i] && m->recproc[i] && m->recs[i].state != RCL_TCP_LISTEN)
			model_apply(m, &m->recs[i], m->recproc[i], m->recholders[i], now);
	if (m->ncw_next) { /* by socket, once each (a shared socket came twice) */
		size_t out = 1;

		qsort(m->cw_next, m->ncw_next, sizeof(*m->cw_next), model_cmp_cw);
		for (size_t i = 1; i < m->ncw_next; i++)
			if (m->cw_next[i].sk != m->cw_next[out - 1].sk)
				m->cw_next[out++] = m->cw_next[i];
		m->ncw_next = out;
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
	model_top_remotes(m);

	for (size_t i = 0; i < m->nprocs; i++) {
		struct proc *p = m->procs[i];
		__u64 closed = p->closed + p->missed_closed;

		/* New since the last refresh: it had no counters then (they
		 * would have made it a row), so all it opened and closed, it
		 * did in this interval. (Its growth slope and window rates
		 * still start at its first row: a pool opened at start is not
		 * a leak, nor churn.) */
		if (!p->have_prev && dt > 0 && m->now > 0) {
			p->have_prev = true;
			p->prev_opened = p->prev_closed = 0;
		}
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
		if (p->cw_held > p->close_wait_max)
			p->close_wait_max = p->cw_held;
		p->median_lifetime_ms = model_life_percentile(p->life, 0.5);
		p->p99_lifetime_ms = model_life_percentile(p->life, 0.99);
		if (!p->exited) {
			series_push(&p->series, now, (double)p->open, m->window_s);
			series_push(&p->opened_series, now, (double)p->opened, m->window_s);
			series_push(&p->closed_series, now, (double)closed, m->window_s);
			p->growth_per_min = series_slope_per_min(&p->series);
			window_rates(p, m->window_s);
			if (p->nlisten) {
				/* the connections it opened itself (a proxy's
				 * upstream): LEAK judges those */
				series_push(&p->out_series, now, (double)(p->open - p->clients), m->window_s);
				p->out_growth_per_min = series_slope_per_min(&p->out_series);
				/* Redis counts unix-socket clients in maxclients too */
				p->clients += p->unix_clients;
				series_push(&p->clients_series, now, (double)p->clients, m->window_s);
				p->clients_growth_per_min = series_slope_per_min(&p->clients_series);
			}
			/* connections: not a socket whose connection is over */
			long own = p->open - (p->clients - p->unix_clients) - p->own_over;

			if (own > p->own_open_max)
				p->own_open_max = own;
		} else {
			p->growth_per_min = 0;
			p->win_open_rate = 0;
		}
	}
	if (m->nprocs)
		qsort(m->procs, m->nprocs, sizeof(*m->procs), cmp_proc);
	m->now = now;
}

void model_gc(struct model *m, void (*cb)(const struct proc *p, void *ctx), void *ctx)
{
	size_t out = 0;

	for (size_t i = 0; i < m->nprocs; i++) {
		struct proc *p = m->procs[i];

		if (p->exited && m->now - p->exited_at >= m->window_s) {
			if (m->last_held == p)
				m->last_held = NULL;
			if (cb)
				cb(p, ctx);
			tdelete(&p->key, &m->index, cmp_key);
			proc_free(p);
			continue;
		}
		m->procs[out++] = p;
	}
	m->nprocs = out;
}
