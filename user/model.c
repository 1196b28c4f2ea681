// SPDX-License-Identifier: GPL-2.0
/* model.c - see model.h. */
#include <math.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "model.h"

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

void model_free(struct model *m)
{
	if (!m)
		return;
	tdestroy(m->index, noop_free);
	for (size_t i = 0; i < m->nprocs; i++)
		free(m->procs[i]);
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
	m->order = NULL;
	m->last_held = NULL;
	for (size_t i = 0; i < m->nprocs; i++) {
		struct proc *p = m->procs[i];

		p->held = p->touched = false;
		p->open = p->established = p->close_wait = p->syn_sent = 0;
		p->other = p->shared = p->clients = 0;
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

static bool listens_on(const struct proc *p, __u16 port)
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
	 * line is the new one's */
	if (p->have_cmdline && p->comm[0] && strncmp(p->comm, r->comm, sizeof(p->comm)))
		p->cmdline_stale = true;
	memcpy(p->comm, r->comm, sizeof(p->comm));
	p->comm[sizeof(p->comm) - 1] = '\0';
	p->nofile_soft = r->nofile_cur == RCL_NOFILE_INF ? -1 : (long long)r->nofile_cur;
	p->nofile_hard = r->nofile_max == RCL_NOFILE_INF ? -1 : (long long)r->nofile_max;
	if (r->state == RCL_TCP_LISTEN && !listens_on(p, r->lport) && p->nlisten < MODEL_MAX_LISTEN) {
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

/* Since when has sk been in CLOSE_WAIT, at the latest (previous refreshes
 * carry it on). On first sight, when the walk stamped the last segment
 * received (RCL_FD_FIN): then, for the peer's FIN was one, and nothing the
 * peer sends afterwards can make that stamp earlier. So a socket left in
 * CLOSE_WAIT for hours before rcleak started is not timed from rcleak's
 * start. Else: now. */
static double cw_since(struct model *m, const struct rcl_fd_rec *r, double now)
{
	struct cw_seen key = { .sk = r->sk }, *e;
	double since = now;

	e = !m->ncw ? NULL : bsearch(&key, m->cw, m->ncw, sizeof(*m->cw), cmp_cw);
	if (e) {
		since = e->since;
	} else if ((r->flags & RCL_FD_FIN) && r->jiffies) {
		double ago = jiffies_ago(m, r->jiffies, r->last_rcv);

		if (ago > 0)
			since = now - ago;
	}
	if (m->ncw_next == m->cwcap_next) {
		size_t ncap = m->cwcap_next ? m->cwcap_next * 2 : 64;
		struct cw_seen *n = realloc(m->cw_next, ncap * sizeof(*n));

		if (!n)
			return since;
		m->cw_next = n;
		m->cwcap_next = ncap;
	}
	m->cw_next[m->ncw_next].sk = r->sk; /* sorted and deduplicated in model_end */
	m->cw_next[m->ncw_next++].since = since;
	return since;
}

static double cw_lookup(const struct model *m, __u64 sk)
{
	struct cw_seen key = { .sk = sk }, *e;

	e = !m->ncw ? NULL : bsearch(&key, m->cw, m->ncw, sizeof(*m->cw), cmp_cw);
	return e ? m->now - e->since : 0;
}

bool model_silent_peer(const struct model *m, const struct rcl_fd_rec *r)
{
	return r->state == RCL_TCP_ESTABLISHED &&
	       jiffies_ago(m, r->jiffies, r->last_rcv) >= m->th.zombie_idle_s;
}

/* Apply one distinct (socket, holder) pair, not a listening one. */
static void apply(struct model *m, const struct rcl_fd_rec *r, struct proc *p, int holders,
		  double now)
{
	double idle;
	bool accepted;

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
	if (idle >= 0) {
		if (idle > p->max_idle_s)
			p->max_idle_s = idle;
		if (idle >= m->th.idle_s)
			p->idle++;
	}
	if (r->state == RCL_TCP_CLOSE_WAIT) {
		if (now - cw_since(m, r, now) >= m->th.zombie_s)
			p->zombies++;
	} else if (accepted && model_silent_peer(m, r)) {
		p->zombies++; /* the peer vanished without a FIN, or just went quiet */
	}
}

struct remote_count_e {
	struct proc *p; /* NULL: free slot */
	__u8 family;
	__u8 addr[16];
	long count;
};

static size_t remote_hash(const struct proc *p, __u8 family, const __u8 addr[16])
{
	__u64 h = (__u64)(unsigned long)p * 0x9e3779b97f4a7c15ULL ^ family;

	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 29));
}

void model_addr_unmap(__u8 *family, __u8 addr[16])
{
	static const __u8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (*family == AF_INET6 && !memcmp(addr, mapped, sizeof(mapped))) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		*family = AF_INET;
	} else if (*family == AF_INET) {
		memset(addr + 4, 0, 12);
	}
}

/* Top remote addresses of each server's clients: counted in an open
 * addressing table of (server, address), which stays as small as the
 * number of distinct pairs. */
static void top_remotes(struct model *m)
{
	struct remote_count_e *tab = NULL;
	size_t cap = 0, used = 0;

	for (size_t i = 0; i < m->nrecs; i++) {
		const struct rcl_fd_rec *r = &m->recs[i];
		struct proc *p = m->recproc[i];
		__u8 fam, addr[16];
		size_t h;

		if (r->state == RCL_TCP_LISTEN || !m->recholders[i])
			continue;
		if (!p || !p->nlisten || !listens_on(p, r->lport))
			continue;
		if (2 * (used + 1) > cap) { /* grow: rehash into twice the size */
			size_t ncap = cap ? cap * 2 : 64;
			struct remote_count_e *nt = calloc(ncap, sizeof(*nt));

			if (!nt)
				break;
			for (size_t k = 0; k < cap; k++) {
				if (!tab[k].p)
					continue;
				h = remote_hash(tab[k].p, tab[k].family, tab[k].addr) & (ncap - 1);
				while (nt[h].p)
					h = (h + 1) & (ncap - 1);
				nt[h] = tab[k];
			}
			free(tab);
			tab = nt;
			cap = ncap;
		}
		/* an IPv4 client of a dual-stack listener is the same host
		 * as on an IPv4 one */
		fam = r->family;
		memcpy(addr, r->raddr, 16);
		model_addr_unmap(&fam, addr);
		h = remote_hash(p, fam, addr) & (cap - 1);
		while (tab[h].p && (tab[h].p != p || tab[h].family != fam ||
				    memcmp(tab[h].addr, addr, 16)))
			h = (h + 1) & (cap - 1);
		if (!tab[h].p) {
			tab[h].p = p;
			tab[h].family = fam;
			memcpy(tab[h].addr, addr, 16);
			used++;
		}
		tab[h].count++;
	}
	for (size_t i = 0; i < cap; i++) {
		struct proc *p = tab[i].p;
		long cnt = tab[i].count;
		int k;

		if (!p)
			continue;
		/* insert into p's top list, kept sorted by count, then address */
		for (k = p->ntop_remotes; k > 0 && (p->top_remotes[k - 1].count < cnt ||
		     (p->top_remotes[k - 1].count == cnt &&
		      memcmp(p->top_remotes[k - 1].addr, tab[i].addr, 16) > 0)); k--)
			if (k < MODEL_TOP_REMOTES)
				p->top_remotes[k] = p->top_remotes[k - 1];
		if (k < MODEL_TOP_REMOTES) {
			p->top_remotes[k].family = tab[i].family;
			memcpy(p->top_remotes[k].addr, tab[i].addr, 16);
			p->top_remotes[k].count = cnt;
			if (p->ntop_remotes < MODEL_TOP_REMOTES)
				p->ntop_remotes++;
		}
	}
	free(tab);
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
	m->ncw_next = 0;
	for (size_t i = 0; i < m->nrecs; i++)
		if (m->recholders[i] && m->recproc[i] && m->recs[i].state != RCL_TCP_LISTEN)
			apply(m, &m->recs[i], m->recproc[i], m->recholders[i], now);
	if (m->ncw_next) { /* by socket, once each (a shared socket came twice) */
		size_t out = 1;

		qsort(m->cw_next, m->ncw_next, sizeof(*m->cw_next), cmp_cw);
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
	top_remotes(m);

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

/* Record at position i of the order by (socket, holder). */
static const struct rcl_fd_rec *ordered(const struct model *m, size_t i)
{
	return &m->recs[m->order ? m->order[i].idx : i];
}

size_t model_conns(const struct model *m, const struct proc *p, struct conn_view *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nrecs;) {
		size_t j = i;
		int holders = 0;
		long mine = -1;

		for (; j < m->nrecs && ordered(m, j)->sk == ordered(m, i)->sk; j++) {
			const struct rcl_fd_rec *r = ordered(m, j);

			if (j == i || cmp_rec(r, ordered(m, j - 1)))
				holders++;
			if (mine < 0 && r->tgid == p->key.tgid && r->start_ns == p->key.start_ns)
				mine = (long)j;
			if (!m->order) { /* unordered: each record alone */
				j++;
				break;
			}
		}
		if (mine >= 0 && ordered(m, mine)->state != RCL_TCP_LISTEN) {
			const struct rcl_fd_rec *r = ordered(m, mine);

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
				for (size_t k = mine; k < j && !cmp_rec(ordered(m, k), r); k++) {
					if (c->nfds < 4)
						c->fds[c->nfds] = (int)ordered(m, k)->fd;
					c->nfds++;
				}
				/* mono_ns is read before the walk: a socket opened
				 * while it ran is younger than that, not unknown
				 * (-1 would show it as older than rcleak). */
				if (!r->open_ns)
					c->age_s = -1;
				else if (m->mono_ns > r->open_ns)
					c->age_s = (double)(m->mono_ns - r->open_ns) / 1e9;
				else
					c->age_s = 0;
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
			if (m->last_held == p)
				m->last_held = NULL;
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
