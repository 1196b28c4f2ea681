// SPDX-License-Identifier: GPL-2.0
/* model.c - see model.h. */
#include <search.h>
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

struct model *model_new(double window_s)
{
	struct model *m = calloc(1, sizeof(*m));

	if (m)
		m->window_s = window_s;
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

/* Apply one distinct (socket, holder) pair. */
static void apply(struct model *m, const struct rcl_fd_rec *r, int holders, bool listen_pass)
{
	struct rcl_owner o = { .tgid = r->tgid, .start_ns = r->start_ns };
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
	p->open++;
	switch (r->state) {
	case RCL_TCP_ESTABLISHED: p->established++; break;
	case RCL_TCP_CLOSE_WAIT: p->close_wait++; break;
	case RCL_TCP_SYN_SENT: p->syn_sent++; break;
	default: p->other++; break;
	}
	if (holders > 1)
		p->shared++;
	if (listens_on(p, r->lport))
		p->clients++;
}

void model_end(struct model *m, double now, double dt)
{
	qsort(m->recs, m->nrecs, sizeof(*m->recs), cmp_rec);
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
					apply(m, &m->recs[k], holders, pass);
			i = j;
		}
	}

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
		if (!p->exited) {
			series_push(&p->series, now, (double)p->open, m->window_s);
			p->growth_per_min = series_slope_per_min(&p->series);
		} else {
			p->growth_per_min = 0;
		}
	}
	qsort(m->procs, m->nprocs, sizeof(*m->procs), cmp_proc);
	m->now = now;
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
