// SPDX-License-Identifier: GPL-2.0
/*
 * report_csv.c - `rcleak report --csv`: one row per recorded event, in two
 * passes over each file. The first learns what some events lack (a client's
 * local port, chosen after connect(); the 4-tuple of events the kernel sent
 * without one; the owner's name of softirq events), from the other events
 * and from the sockets each refresh walked; the second prints, the rows of
 * the processes --pid and --comm select.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "report_csv.h"
#include "view.h"

static const char *const state_names[] = {
	"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
	"CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
};
static const char *const kind_names[] = {
	"state", "connect", "accept", "close", "app-close", "exit-close", "listen",
};

static const char *state_name(unsigned s)
{
	return s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

/* What a first pass learns, so every row can be complete: a socket's local
 * port (unknown at connect(), before the port is chosen), its 4-tuple (a
 * connection older than the recording changes state without one: only the
 * refreshes' walks know it) and an owner's name (softirq events carry none). */
struct csv_sock {
	__u64 sk;
	__u64 seq;       /* position in the file: 2n for the nth event, 2n + 1
			  * for a refresh's walk that came after it */
	__u16 lport, rport;
	__u8 family;
	__u8 laddr[16], raddr[16];
};

/* sk -> its latest entry in socks, while the first pass runs: a walk adds
 * a socket only when its 4-tuple is new, else every refresh would add all
 * the connections held again. Open addressing; sk 0 marks a free slot. */
struct csv_last {
	__u64 sk;
	size_t at;
};

struct csv_name {
	__u32 tgid;
	__u64 start_ns;
	char comm[RCL_COMM_LEN];
};

/* A process's own name, as the first refresh that walked it found it: the
 * events carry the acting thread's (a JVM's pool-1-thread-1, a Redis I/O
 * thread), which is no process name the summary, --comm or ps know. */
struct csv_wname {
	__u32 tgid;      /* 0: a free slot */
	__u64 start_ns;
	char comm[RCL_COMM_LEN];
};

struct csv_ctx {
	__u64 seq;       /* events seen in this pass */
	struct csv_wname *wnames;
	size_t nwnames, capwnames; /* capwnames: a power of 2 */
	struct csv_sock *socks;
	size_t nsocks, capsocks;
	struct csv_last *last;
	size_t nlast, caplast;   /* caplast: a power of 2 */
	struct csv_name *names;
	size_t nnames, capnames;
	bool sorted;
};

static int cmp_csv_sock(const void *a, const void *b)
{
	const struct csv_sock *x = a, *y = b;

	if (x->sk != y->sk)
		return x->sk < y->sk ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The learnt tuple of the same socket nearest to event seq: the next one
 * (after) for a connect, whose port is chosen just after it, and for an
 * accept that came without its peer (kernels before 6.18); else the last
 * one before (socket addresses are reused by later connections). */
static const struct csv_sock *csv_find(const struct csv_ctx *x, __u64 sk, __u64 seq, bool after)
{
	size_t lo = 0, hi = x->nsocks;

	while (lo < hi) { /* first entry >= (sk, seq) */
		size_t mid = (lo + hi) / 2;
		const struct csv_sock *m = &x->socks[mid];

		if (m->sk < sk || (m->sk == sk && m->seq < seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (after)
		return lo < x->nsocks && x->socks[lo].sk == sk ? &x->socks[lo] : NULL;
	if (lo < x->nsocks && x->socks[lo].sk == sk && x->socks[lo].seq == seq)
		return &x->socks[lo];
	return lo > 0 && x->socks[lo - 1].sk == sk ? &x->socks[lo - 1] : NULL;
}

static int cmp_csv_name(const void *a, const void *b)
{
	const struct csv_name *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

static __u64 csv_hash(__u64 sk)
{
	return (sk * 0x9E3779B97F4A7C15ull) >> 32;
}

/* The slot of sk in x->last: its own, or the free one it would take. */
static struct csv_last *csv_last_slot(const struct csv_ctx *x, __u64 sk)
{
	size_t i = csv_hash(sk) & (x->caplast - 1);

	while (x->last[i].sk && x->last[i].sk != sk)
		i = (i + 1) & (x->caplast - 1);
	return &x->last[i];
}

static bool csv_last_grow(struct csv_ctx *x)
{
	size_t ncap = x->caplast ? x->caplast * 2 : 1024;
	struct csv_last *old = x->last, *n = calloc(ncap, sizeof(*n));
	size_t oldcap = x->caplast;

	if (!n)
		return false;
	x->last = n;
	x->caplast = ncap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].sk)
			*csv_last_slot(x, old[i].sk) = old[i];
	free(old);
	return true;
}

/* Learn sk's 4-tuple at position seq. A walk's (walk) only when it differs
 * from the last one learnt of sk: the earlier entry already stands for it. */
static void csv_add(struct csv_ctx *x, __u64 sk, __u64 seq, int family, __u16 lport, __u16 rport,
		    const __u8 *laddr, const __u8 *raddr, bool walk)
{
	struct csv_last *l;
	struct csv_sock *s;

	if (!sk || ((x->nlast + 1) * 2 > x->caplast && !csv_last_grow(x)))
		return;
	l = csv_last_slot(x, sk);
	if (walk && l->sk) {
		s = &x->socks[l->at];
		if (s->family == family && s->lport == lport && s->rport == rport &&
		    !memcmp(s->laddr, laddr, 16) && !memcmp(s->raddr, raddr, 16))
			return;
	}
	if (x->nsocks == x->capsocks) {
		size_t ncap = x->capsocks ? x->capsocks * 2 : 1024;
		struct csv_sock *n = realloc(x->socks, ncap * sizeof(*n));

		if (!n)
			return;
		x->socks = n;
		x->capsocks = ncap;
	}
	s = &x->socks[x->nsocks];
	s->sk = sk;
	s->seq = seq;
	s->family = (__u8)family;
	s->lport = lport;
	s->rport = rport;
	memcpy(s->laddr, laddr, 16);
	memcpy(s->raddr, raddr, 16);
	if (!l->sk)
		x->nlast++;
	l->sk = sk;
	l->at = x->nsocks++;
}

static struct csv_wname *csv_wname_slot(struct csv_wname *t, size_t cap, __u32 tgid, __u64 start_ns)
{
	size_t i = csv_hash(start_ns * 0x9E3779B97F4A7C15ull + tgid) & (cap - 1);

	while (t[i].tgid && (t[i].tgid != tgid || t[i].start_ns != start_ns))
		i = (i + 1) & (cap - 1);
	return &t[i];
}

/* The name its walks gave owner (tgid, start_ns), or NULL. */
static const char *csv_wname(const struct csv_ctx *x, __u32 tgid, __u64 start_ns)
{
	const struct csv_wname *w;

	if (!x->capwnames)
		return NULL;
	w = csv_wname_slot(x->wnames, x->capwnames, tgid, start_ns);
	return w->tgid ? w->comm : NULL;
}

static void csv_learn_names(struct csv_ctx *x, const struct model *m)
{
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *p = m->procs[i];
		struct csv_wname *w;

		if (!p->held || !p->comm[0])
			continue;
		if ((x->nwnames + 1) * 2 > x->capwnames) {
			size_t ncap = x->capwnames ? x->capwnames * 2 : 256;
			struct csv_wname *n = calloc(ncap, sizeof(*n));

			if (!n)
				return;
			for (size_t k = 0; k < x->capwnames; k++)
				if (x->wnames[k].tgid)
					*csv_wname_slot(n, ncap, x->wnames[k].tgid, x->wnames[k].start_ns) =
						x->wnames[k];
			free(x->wnames);
			x->wnames = n;
			x->capwnames = ncap;
		}
		w = csv_wname_slot(x->wnames, x->capwnames, p->key.tgid, p->key.start_ns);
		if (w->tgid) /* the first walk's: a refresh before an exec names the events before it */
			continue;
		w->tgid = p->key.tgid;
		w->start_ns = p->key.start_ns;
		memcpy(w->comm, p->comm, sizeof(w->comm));
		w->comm[sizeof(w->comm) - 1] = '\0';
		x->nwnames++;
	}
}

/* After a refresh: the sockets its walk found, with their 4-tuples, and
 * the names of the processes that held them. */
static void csv_learn_walk(struct csv_ctx *x, const struct model *m)
{
	csv_learn_names(x, m);
	for (size_t i = 0; i < m->nrecs; i++) {
		const struct rcl_fd_rec *r = &m->recs[i];

		if (r->lport && r->family)
			csv_add(x, r->sk, 2 * x->seq + 1, r->family, r->lport, r->rport, r->laddr,
				r->raddr, true);
	}
}

static void csv_learn(struct capfile *f, const struct rcl_event *e, double wall, void *vctx)
{
	struct csv_ctx *x = vctx;

	(void)f;
	(void)wall;
	x->seq++;
	if (e->lport && e->family)
		csv_add(x, e->sk, 2 * x->seq, e->family, e->lport, e->rport, e->laddr, e->raddr, false);
	if (e->comm[0] && e->tgid && e->cur_tgid == e->tgid) {
		if (x->nnames == x->capnames) {
			size_t ncap = x->capnames ? x->capnames * 2 : 256;
			struct csv_name *n = realloc(x->names, ncap * sizeof(*n));

			if (!n)
				return;
			x->names = n;
			x->capnames = ncap;
		}
		x->names[x->nnames].tgid = e->tgid;
		x->names[x->nnames].start_ns = e->start_ns;
		memcpy(x->names[x->nnames++].comm, e->comm, RCL_COMM_LEN);
	}
}

static void csv_sort(struct csv_ctx *x)
{
	if (x->nsocks)
		qsort(x->socks, x->nsocks, sizeof(*x->socks), cmp_csv_sock);
	if (x->nnames)
		qsort(x->names, x->nnames, sizeof(*x->names), cmp_csv_name);
	free(x->last); /* only the first pass needs it */
	x->last = NULL;
	x->sorted = true;
}

/* The name of e's owner: the process's own, as a walk found it holding
 * (the last refresh before e, else its first), as the summary names it;
 * else the event's when the owner acted, else the one its other events
 * gave (softirq events carry none), else the model's. An event's name is
 * its thread's: the connect rows of a JVM's pool threads were
 * "pool-1-thread-1", and --comm java kept none of them. */
static const char *csv_owner_name(struct capfile *f, const struct csv_ctx *x, const struct rcl_event *e)
{
	struct csv_name key = { .tgid = e->tgid, .start_ns = e->start_ns }, *n = NULL;
	struct rcl_owner o = { .tgid = e->tgid, .start_ns = e->start_ns };
	const struct proc *p = model_find(f->model, &o);
	const char *w;

	if (p && p->held && p->comm[0])
		return p->comm;
	if ((w = csv_wname(x, e->tgid, e->start_ns)))
		return w;
	if (e->comm[0] && e->cur_tgid == e->tgid)
		return e->comm;
	if (x->nnames)
		n = bsearch(&key, x->names, x->nnames, sizeof(*x->names), cmp_csv_name);
	if (n)
		return n->comm;
	p = model_find(f->model, &o);
	return p ? p->comm : NULL;
}

static void csv_event(struct capfile *f, const struct rcl_event *ev, double wall, void *vctx)
{
	struct csv_ctx *x = vctx;
	struct rcl_event e = *ev;
	const struct rcl_opts *o = &f->opts;
	const char *owner = e.tgid ? csv_owner_name(f, x, &e) : NULL;
	char la[64], ra[64];

	x->seq++;
	/* --pid, --comm: the owner's, as the live view's select its rows */
	if (o->pid && (int)e.tgid != o->pid)
		return;
	if (o->comm[0] && (!owner || strcmp(o->comm, owner)))
		return;
	if ((!e.lport || !e.family) && x->nsocks) {
		const struct csv_sock *s = csv_find(x, e.sk, 2 * x->seq, e.kind == RCL_EV_CONNECT ||
						      e.kind == RCL_EV_ACCEPT);

		if (s && !e.family) { /* the kernel sent no 4-tuple for this one */
			e.family = s->family;
			e.rport = s->rport;
			memcpy(e.laddr, s->laddr, 16);
			memcpy(e.raddr, s->raddr, 16);
		}
		if (s)
			e.lport = s->lport;
	}
	/* softirq: name the owner; the owner acting: by its process name */
	if ((!e.comm[0] || e.cur_tgid == e.tgid) && owner && owner != e.comm)
		memcpy(e.comm, owner, sizeof(e.comm));
	printf("%.6f,", wall);
	csv_field(stdout, f->info.host);
	printf(",%s,%u,%u,", e.kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[e.kind] : "?",
	       e.tgid, e.cur_tgid);
	csv_field(stdout, e.comm);
	if (!e.family) { /* neither the event nor anything else knew its 4-tuple */
		printf(",,,,,,%s,%s\n", state_name(e.oldstate), state_name(e.newstate));
		return;
	}
	addr_str(e.family, e.laddr, la, sizeof(la));
	addr_str(e.family, e.raddr, ra, sizeof(ra));
	printf(",%s,%s,%u,%s,%u,%s,%s\n", e.family == 2 ? "ipv4" : "ipv6", la, e.lport, ra,
	       e.rport, state_name(e.oldstate), state_name(e.newstate));
}

bool report_csv(struct capfile *files, int nfiles, const struct rcl_opts *o)
{
	bool damaged = false;

	printf("time,host,kind,owner_pid,task_pid,comm,family,laddr,lport,raddr,rport,old_state,new_state\n");
	/* a failed stdout (a reader gone, a full disk) stops at the next tick */
	for (int fi = 0; fi < nfiles && !ferror(stdout); fi++) {
		struct csv_ctx x = { 0 };

		while (capfile_next_tick(&files[fi], csv_learn, &x) > 0)
			csv_learn_walk(&x, files[fi].model);
		csv_sort(&x);
		x.seq = 0;
		damaged |= capfile_damage(&files[fi]);
		if (capfile_reopen(&files[fi], o) == 0)
			while (!ferror(stdout) && capfile_next_tick(&files[fi], csv_event, &x) > 0)
				;
		free(x.socks);
		free(x.names);
		free(x.wnames);
	}
	return damaged;
}
