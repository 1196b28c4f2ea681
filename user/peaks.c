// SPDX-License-Identifier: GPL-2.0
/* peaks.c - see peaks.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ownertab.h"
#include "peaks.h"

struct peak_proc {
	struct rcl_owner key;
	struct peak v;
};

/* A (socket, holder) pair. Open addressing on the socket, so that every
 * holder of a socket lies on its probe run; a closed pair leaves a
 * tombstone until the next tick or rehash. */
enum { SLOT_FREE = 0, SLOT_USED, SLOT_GONE };

struct sock_slot {
	__u64 sk;
	__u64 start_ns;  /* holder */
	__u32 tgid;
	__u8 state;      /* SLOT_* */
	__u8 accepted;   /* on one of the holder's listening ports: a client */
};

struct peaks {
	struct ownertab procs; /* struct peak_proc */
	struct sock_slot *socks;
	size_t sock_cap;      /* a power of 2, or 0 */
	size_t sock_taken;    /* slots USED or GONE */
	__u64 mono_ns;        /* the last tick's walk */
	bool seeded;
};

static __u64 mix(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static bool same(const struct rcl_owner *a, __u32 tgid, __u64 start_ns)
{
	return a->tgid == tgid && a->start_ns == start_ns;
}

struct peaks *peaks_new(void)
{
	struct peaks *pk = calloc(1, sizeof(struct peaks));

	if (pk)
		ownertab_init(&pk->procs, sizeof(struct peak_proc));
	return pk;
}

void peaks_free(struct peaks *pk)
{
	if (!pk)
		return;
	ownertab_free(&pk->procs);
	free(pk->socks);
	free(pk);
}

/* ------------------------------------------------------------------------
 * processes
 */

static struct peak_proc *proc_find(const struct peaks *pk, const struct rcl_owner *o)
{
	return ownertab_find(&pk->procs, o);
}

/* o's entry, made when missing (*made says so); NULL when out of memory.
 * A new entry has no minimum yet. Pointers into procs last until the next
 * call that makes one. */
static struct peak_proc *proc_get(struct peaks *pk, const struct rcl_owner *o, bool *made)
{
	bool fresh;
	struct peak_proc *p = ownertab_get(&pk->procs, o, &fresh);

	if (p && fresh)
		p->v.min_open = -1;
	if (made)
		*made = p && fresh;
	return p;
}

/* The counts just changed at wall (first: the capture's first tick): the
 * minimum, then the peaks. A process that held some at the first tick and
 * never fewer before its peak was climbing before the capture began: its
 * growth_from is the first tick only, which the report must not give as
 * the moment the growth started (a flight recorder's ring start, say). */
static void update(struct peak *v, double wall, bool first)
{
	if (v->min_open < 0 || v->open <= v->min_open) {
		v->min_open = v->open;
		v->min_at = wall;
		v->min_at_start = first && v->open > 0;
	}
	if (v->open > v->peak_open) {
		v->peak_open = v->open;
		v->peak_open_at = wall;
		v->growth_from = v->min_at;
		v->growth_before_start = v->min_at_start;
	}
	if (v->clients > v->peak_clients) {
		v->peak_clients = v->clients;
		v->peak_clients_at = wall;
	}
	/* no slot left: Redis refuses the next client (it refused this one
	 * when over); a server of no known limit never is */
	if (v->limit > 0 && !v->full_at &&
	    v->clients + v->rcleak_links + v->master_links + v->cluster_links >= v->limit) {
		v->full_at = wall;
		v->full_clients = v->clients;
		v->full_rcleak_links = v->rcleak_links;
		v->full_master_links = v->master_links;
		v->full_cluster_links = v->cluster_links;
		v->full_limit = v->limit;
	}
}

const struct peak *peaks_of(const struct peaks *pk, const struct rcl_owner *o)
{
	const struct peak_proc *p = proc_find(pk, o);

	return p ? &p->v : NULL;
}

/* ------------------------------------------------------------------------
 * sockets
 */

static size_t sock_home(const struct peaks *pk, __u64 sk)
{
	return mix(sk) & (pk->sock_cap - 1);
}

/* Put a pair known to be absent; room must have been made. */
static void sock_put(struct peaks *pk, __u64 sk, __u32 tgid, __u64 start_ns, bool accepted)
{
	size_t i = sock_home(pk, sk);

	while (pk->socks[i].state != SLOT_FREE)
		i = (i + 1) & (pk->sock_cap - 1);
	pk->socks[i] = (struct sock_slot){ .sk = sk, .start_ns = start_ns, .tgid = tgid,
					   .state = SLOT_USED, .accepted = accepted };
	pk->sock_taken++;
}

/* Room for n more pairs: at most 3/4 of the slots taken, tombstones dropped
 * when the table is rebuilt. */
static int sock_room(struct peaks *pk, size_t n)
{
	struct sock_slot *old = pk->socks;
	size_t oldcap = pk->sock_cap, live = 0, ncap = 64;

	if ((pk->sock_taken + n) * 4 <= pk->sock_cap * 3)
		return 0;
	for (size_t i = 0; i < oldcap; i++)
		live += old[i].state == SLOT_USED;
	while ((live + n) * 2 > ncap)
		ncap *= 2;
	pk->socks = calloc(ncap, sizeof(*pk->socks));
	if (!pk->socks) {
		pk->socks = old;
		return -ENOMEM;
	}
	pk->sock_cap = ncap;
	pk->sock_taken = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].state == SLOT_USED)
			sock_put(pk, old[i].sk, old[i].tgid, old[i].start_ns, old[i].accepted);
	free(old);
	return 0;
}

/* The slot of the pair (sk, o), or NULL. */
static struct sock_slot *sock_find(const struct peaks *pk, __u64 sk, const struct rcl_owner *o)
{
	if (!pk->sock_cap)
		return NULL;
	for (size_t i = sock_home(pk, sk); pk->socks[i].state != SLOT_FREE;
	     i = (i + 1) & (pk->sock_cap - 1)) {
		struct sock_slot *s = &pk->socks[i];

		if (s->state == SLOT_USED && s->sk == sk && (!o || same(o, s->tgid, s->start_ns)))
			return s;
	}
	return NULL;
}

/* Socket sk is gone: every process that held it holds one fewer. */
static void sock_close(struct peaks *pk, __u64 sk, double wall)
{
	struct sock_slot *s;

	while ((s = sock_find(pk, sk, NULL))) {
		struct rcl_owner o = { .tgid = s->tgid, .start_ns = s->start_ns };
		struct peak_proc *p = proc_find(pk, &o);

		s->state = SLOT_GONE;
		if (!p)
			continue;
		if (p->v.open > 0)
			p->v.open--;
		if (s->accepted && p->v.clients > 0)
			p->v.clients--;
		update(&p->v, wall, false);
	}
}

/* ------------------------------------------------------------------------ */

static bool listens_on(const struct proc *p, __u16 port)
{
	for (int i = 0; i < p->nlisten; i++)
		if (p->listen[i].port == port)
			return true;
	return false;
}

int peaks_tick(struct peaks *pk, struct model *m, double wall)
{
	const struct proc *holder = NULL;

	/* the sockets: exactly the walk's (socket, holder) pairs */
	if (pk->sock_cap)
		memset(pk->socks, 0, pk->sock_cap * sizeof(*pk->socks));
	pk->sock_taken = 0;
	if (sock_room(pk, m->nrecs))
		return -ENOMEM;
	for (size_t i = 0; i < m->nrecs; i++) {
		const struct rcl_fd_rec *r = &m->recs[i];
		struct rcl_owner o = { .tgid = r->tgid, .start_ns = r->start_ns };

		if (r->state == RCL_TCP_LISTEN)
			continue;
		/* a walk lists each process's fds together */
		if (!holder || !same(&holder->key, o.tgid, o.start_ns))
			holder = model_find(m, &o);
		if (!sock_find(pk, r->sk, &o))
			sock_put(pk, r->sk, o.tgid, o.start_ns, holder && listens_on(holder, r->lport));
	}
	/* the counts: exactly what the model says each process holds */
	for (size_t i = 0; i < pk->procs.n; i++) {
		struct peak_proc *e = ownertab_row(&pk->procs, i);

		e->v.open = e->v.clients = 0;
	}
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *p = m->procs[i];
		struct peak_proc *e;

		/* a server holding none has no entry until it accepts one
		 * (its growth counts from then): its limit comes next tick */
		e = p->open ? proc_get(pk, &p->key, NULL) : p->nlisten ? proc_find(pk, &p->key) : NULL;
		if (!e && p->open)
			return -ENOMEM;
		if (!e)
			continue;
		e->v.open = p->open;
		e->v.clients = p->clients;
		e->v.limit = p->nlisten ? model_server_limit(p) : 0;
		e->v.rcleak_links = p->rcleak_links;
		e->v.master_links = p->master_links;
		e->v.cluster_links = p->cluster_links;
	}
	for (size_t i = 0; i < pk->procs.n; i++)
		update(&((struct peak_proc *)ownertab_row(&pk->procs, i))->v, wall, !pk->seeded);
	pk->mono_ns = m->mono_ns;
	pk->seeded = true;
	return 0;
}

int peaks_event(struct peaks *pk, const struct rcl_event *e, __u32 res_ns, double wall)
{
	struct rcl_owner o = { .tgid = e->tgid, .start_ns = e->start_ns };
	struct peak_proc *p;
	bool made;

	/* before the walk: the walk has it already. Only when its whole span
	 * is: a time cut to the microsecond (version 3 batches) puts an event
	 * that came within the walk's first microsecond before the walk, and
	 * its close was skipped, the socket counted on until the next tick (a
	 * peak one too high), or its connect (one too low). One that came just
	 * before is harmless taken: a connect the walk saw is not added twice,
	 * the close of a socket the walk did not see takes nothing. */
	if (!pk->seeded || (e->ts_ns < pk->mono_ns && pk->mono_ns - e->ts_ns >= (res_ns ? res_ns : 1)))
		return 0;
	switch (e->kind) {
	case RCL_EV_CONNECT:
	case RCL_EV_ACCEPT:
		if (!e->tgid || sock_find(pk, e->sk, &o))
			return 0;
		/* another holder of this address: its close was lost and the
		 * kernel reused the memory for this socket */
		sock_close(pk, e->sk, wall);
		if (sock_room(pk, 1) || !(p = proc_get(pk, &o, &made)))
			return -ENOMEM;
		if (made) { /* it held nothing until now */
			p->v.min_open = 0;
			p->v.min_at = wall;
		}
		sock_put(pk, e->sk, o.tgid, o.start_ns, e->kind == RCL_EV_ACCEPT);
		p->v.open++;
		p->v.clients += e->kind == RCL_EV_ACCEPT;
		update(&p->v, wall, false);
		return 0;
	case RCL_EV_CLOSE:
	case RCL_EV_APP_CLOSE:
	case RCL_EV_EXIT_CLOSE:
		sock_close(pk, e->sk, wall);
		return 0;
	default:
		if (e->newstate == RCL_TCP_CLOSE)
			sock_close(pk, e->sk, wall);
		return 0;
	}
}
