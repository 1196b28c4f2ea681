// SPDX-License-Identifier: GPL-2.0
/*
 * model_conn.c - per-connection facts of the model: idle times and CLOSE_WAIT
 * ages from the walk's jiffy stamps, zombies, each server's top remote
 * addresses, and the drill-down list of one process's connections
 * (model_conns). model.c keeps the process table and the refresh; the two
 * share model_int.h.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "model.h"
#include "model_int.h"

/* fd records sorted by socket, then holder: one run per socket. */
#define cmp_rec recsort_cmp

/* Seconds since jiffy stamp `then` (low 32 bits), or -1 without HZ or
 * without stamps: the /proc walk has none (now64 0), and its connections
 * read as active this instant (idle 0 s, max_idle_s 0.0), so a silent
 * peer could never be a ZOMBIE. */
static double jiffies_ago(const struct model *m, __u64 now64, __u32 then)
{
	__u32 d = (__u32)now64 - then;

	if (!now64)
		return -1;
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

int model_cmp_cw(const void *a, const void *b)
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

	e = !m->ncw ? NULL : bsearch(&key, m->cw, m->ncw, sizeof(*m->cw), model_cmp_cw);
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

	e = !m->ncw ? NULL : bsearch(&key, m->cw, m->ncw, sizeof(*m->cw), model_cmp_cw);
	return e ? m->now - e->since : 0;
}

bool model_listened(const struct model *m, __u16 port)
{
	return (m->listen_bits[port >> 6] >> (port & 63)) & 1;
}

bool model_silent_peer(const struct model *m, const struct rcl_fd_rec *r)
{
	return r->state == RCL_TCP_ESTABLISHED &&
	       jiffies_ago(m, r->jiffies, r->last_rcv) >= m->th.zombie_idle_s;
}

void model_apply(struct model *m, const struct rcl_fd_rec *r, struct proc *p, int holders,
		 double now)
{
	double idle;
	bool accepted;

	accepted = model_listens_on(p, r->lport);
	/* A server's accepted socket (its local port one a process listens
	 * on, its peer's not) held by a process that does not listen there:
	 * a fork of the server (the BGSAVE or AOF-rewrite child) keeps copies
	 * of its clients' sockets until it is done. They are the server's
	 * clients, not connections the fork holds to Redis. */
	if (!accepted && model_listened(m, r->lport) && !model_listened(m, r->rport))
		return;
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
	else if (model_conn_over(r->state))
		p->own_over++;

	idle = latest_idle(m, r);
	if (idle >= 0) {
		if (idle > p->max_idle_s)
			p->max_idle_s = idle;
		if (idle >= m->th.idle_s)
			p->idle++;
	}
	if (r->state == RCL_TCP_CLOSE_WAIT) {
		if (now - cw_since(m, r, now) >= m->th.zombie_s) {
			p->zombies++;
			p->cw_held++;
		}
	} else if (accepted && model_silent_peer(m, r) && !(r->flags & RCL_FD_WAITS)) {
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

/* Counted in an open addressing table of (server, address), which stays
 * as small as the number of distinct pairs. */
void model_top_remotes(struct model *m)
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
		if (!p || !p->nlisten || !model_listens_on(p, r->lport))
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

static int cmp_holder(const void *a, const void *b)
{
	const struct holder_count *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->p->key.tgid < y->p->key.tgid ? -1 : x->p->key.tgid > y->p->key.tgid;
}

long model_server_holders(const struct model *m, const struct proc *srv, struct holder_count *out,
			  size_t max)
{
	struct holder_count *tab = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < m->nrecs; i++) {
		const struct rcl_fd_rec *r = &m->recs[i];
		const struct proc *q = m->recproc[i];
		size_t k;

		/* recholders 0: the same (socket, holder) as the one before;
		 * CLOSE_WAIT, CLOSE: the server let go of its end (a client it
		 * refused holds it still), it takes no slot */
		if (r->state == RCL_TCP_LISTEN || r->state == RCL_TCP_CLOSE_WAIT || r->state == RCL_TCP_CLOSE ||
		    !m->recholders[i] || !q || q == srv)
			continue;
		if (!model_listens_on(srv, r->rport) || (q->nlisten && model_listens_on(q, r->lport)))
			continue;
		for (k = 0; k < n && tab[k].p != q; k++)
			;
		if (k == n) {
			if (n == cap) {
				size_t ncap = cap ? 2 * cap : 16;
				struct holder_count *nt = realloc(tab, ncap * sizeof(*nt));

				if (!nt) {
					free(tab);
					return -1;
				}
				tab = nt;
				cap = ncap;
			}
			tab[n].p = q;
			tab[n++].count = 0;
		}
		tab[k].count++;
	}
	if (n)
		qsort(tab, n, sizeof(*tab), cmp_holder);
	for (size_t k = 0; k < n && k < max; k++)
		out[k] = tab[k];
	free(tab);
	return (long)n;
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
