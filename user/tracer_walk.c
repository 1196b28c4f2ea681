// SPDX-License-Identifier: GPL-2.0
/* tracer_walk.c - the BPF iterator walks: holders, the snapshot, fd counts,
 * and the reconciliation sweep of the socket table (see tracer.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kclock.h"
#include "log.h"
#include "procscan.h"
#include "proctab.h"
#include "slots.h"
#include "tracer_int.h"

/* ------------------------------------------------------------------------
 * walks
 */

/* Consumes whole records at the start of data; returns the bytes used
 * (0: a record is incomplete, read more). */
typedef size_t (*iter_parse_fn)(struct tracer *t, const char *data, size_t len, void *ctx);

/* Run an iterator to its end, streaming its output through parse in
 * read()-sized pieces: at 100k connections the walk writes ~25 MiB, which
 * is never held whole. Returns 0 or -errno. */
static int run_iter(struct tracer *t, struct bpf_link *link, iter_parse_fn parse, void *ctx)
{
	size_t have = 0;
	int fd, err = 0;

	if (!t->buf && !(t->buf = malloc(ITER_BUF)))
		return -ENOMEM;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, t->buf + have, ITER_BUF - have);
		size_t used;

		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		have += (size_t)r;
		used = parse ? parse(t, t->buf, have, ctx) : have;
		memmove(t->buf, t->buf + used, have - used);
		have -= used;
	}
	close(fd);
	if (!err && have)
		vlog("walk: %zu trailing bytes ignored", have);
	return err;
}

static void next_gen(struct tracer *t)
{
	t->skel->bss->walk_gen = ++t->gen;
}

int tracer__snapshot(struct tracer *t)
{
	if (t->procscan) /* no socket map snapshot without iter/tcp */
		return 0;
	/* the first reconciliation's walk before (unseeable()) */
	t->tcp_before_ns = (__u64)(kclock_mono_s() * 1e9);
	next_gen(t);
	t->skel->bss->reconciling = 0;
	return run_iter(t, t->walk_tcp, NULL, NULL);
}

struct walk_ctx {
	tracer_fd_cb cb;
	void *ctx;
};

static void add_nfds(struct tracer *t, __u32 tgid, long nfds, long nunix)
{
	if (t->nnfds == t->nfdscap) {
		size_t ncap = t->nfdscap ? t->nfdscap * 2 : 256;
		struct tracer_nfds *n = realloc(t->nfds, ncap * sizeof(*n));

		if (!n)
			return; /* that process's fds read as unknown */
		t->nfds = n;
		t->nfdscap = ncap;
	}
	t->nfds[t->nnfds].tgid = tgid;
	t->nfds[t->nnfds].nunix = nunix;
	t->nfds[t->nnfds++].nfds = nfds;
}

static size_t parse_files(struct tracer *t, const char *data, size_t len, void *ctx)
{
	const struct walk_ctx *w = ctx;
	size_t off = 0;

	while (len - off >= sizeof(struct rcl_task_rec)) {
		__u32 mark;

		memcpy(&mark, data + off + offsetof(struct rcl_task_rec, mark), sizeof(mark));
		if (mark == RCL_WALK_TASK_MARK) {
			struct rcl_task_rec tr;

			memcpy(&tr, data + off, sizeof(tr));
			add_nfds(t, tr.tgid, (long)tr.nfds, (long)tr.nunix);
			off += sizeof(tr);
		} else {
			struct rcl_fd_rec rec;

			if (len - off < sizeof(rec))
				break;
			memcpy(&rec, data + off, sizeof(rec));
			w->cb(&rec, w->ctx);
			off += sizeof(rec);
		}
	}
	return off;
}

static int cmp_nfds(const void *a, const void *b)
{
	const struct tracer_nfds *x = a, *y = b;

	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

int tracer__walk_files(struct tracer *t, tracer_fd_cb cb, void *ctx)
{
	struct walk_ctx w = { .cb = cb, .ctx = ctx };
	size_t out = 0;
	int err;

	if (t->procscan)
		return procscan_walk(t->procscan, cb, ctx);
	next_gen(t);
	t->nnfds = 0;
	err = run_iter(t, t->walk_files, parse_files, &w);
	if (err)
		return err;
	/* a process whose threads have fd tables of their own has one summary
	 * per table that holds a watched socket: add them up */
	if (t->nnfds > 1) /* nfds is NULL while no table held a watched socket */
		qsort(t->nfds, t->nnfds, sizeof(*t->nfds), cmp_nfds);
	for (size_t i = 0; i < t->nnfds; i++) {
		if (out && t->nfds[out - 1].tgid == t->nfds[i].tgid) {
			t->nfds[out - 1].nfds += t->nfds[i].nfds;
			t->nfds[out - 1].nunix += t->nfds[i].nunix;
		} else
			t->nfds[out++] = t->nfds[i];
	}
	t->nnfds = out;
	return 0;
}

long tracer__nfds(struct tracer *t, __u32 tgid, long *nunix)
{
	struct tracer_nfds key = { .tgid = tgid }, *e;

	if (t->procscan)
		return procscan_nfds(t->procscan, tgid, nunix);
	e = t->nnfds ? bsearch(&key, t->nfds, t->nnfds, sizeof(*t->nfds), cmp_nfds) : NULL;
	if (nunix)
		*nunix = e ? e->nunix : 0;
	return e ? e->nfds : -1;
}

/* Could the walk have missed the socket although it exists? prev_ns: when
 * the walk before it began (the snapshot's, for the first). Yes if the
 * socket is in another network namespace (iter/tcp walks rcleak's own
 * only), or if it opened after prev_ns (an UNTIMED socket's open_ns may lie
 * up to a tick before its open). Not only after this walk began: a connect
 * is noted at SYN_SENT, which tcp_v4_connect() sets before it picks the
 * source port and hashes the socket, so a walk can miss a connect from
 * before it began, and the connect may be established by the time the
 * sweep reads its entry; an accept's SYN_RECV, too, comes before its socket
 * is hashed. So a missed close is repaired a period later for a socket
 * opened in the last one, and a connect held unhashed for a whole period
 * (--reconcile, at least -i) can still be taken for one. */
static bool unseeable(const struct rcl_sock *v, __u64 prev_ns)
{
	__u64 latest = v->open_ns + (v->flags & RCL_SOCK_UNTIMED ? RCL_TICK_MAX_NS : 0);

	return latest >= prev_ns || (v->flags & RCL_SOCK_OTHER_NET);
}

/* Socket-map entries read per batch by the sweep. */
#define SWEEP_BATCH 4096

/* Entries of the socket map the last tcp walk (generation gen) did not see
 * and could have (unseeable()): their close event was missed. Each is deleted, and reported only if the delete found it still
 * there: a close event that raced with the walk accounted for it already.
 * A batch lookup, not an iter/bpf_map_elem program: some kernels refuse
 * that iterator (EPERM) while they allow task_file and tcp, and every
 * kernel with iter/tcp (5.9) has hash-map batch ops (5.6). */
static int sweep_socks(int fd, __u16 gen, __u64 prev_ns, tracer_stale_cb cb, void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bopts);
	__u32 cap = SWEEP_BATCH, in = 0, out = 0, n;
	struct rcl_sock *vals = NULL;
	__u64 *keys = NULL;
	bool first = true;
	int err = 0;

	for (;;) {
		if (!keys) {
			keys = calloc(cap, sizeof(*keys));
			vals = calloc(cap, sizeof(*vals));
			if (!keys || !vals) {
				err = -ENOMEM;
				goto cleanup;
			}
		}
		n = cap;
		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &n, &bopts);
		if (err == -ENOSPC && n == 0) { /* one bucket holds more than cap */
			free(keys);
			free(vals);
			keys = NULL;
			vals = NULL;
			cap *= 2;
			continue;
		}
		if (err && err != -ENOENT)
			goto cleanup;
		for (__u32 i = 0; i < n; i++) {
			struct rcl_stale_rec rec = {
				.sk = keys[i],
				.owner = { .tgid = vals[i].tgid, .start_ns = vals[i].start_ns },
				.flags = vals[i].flags,
			};

			/* 16 bits of generation: an entry last seen 65536 walks
			 * ago passes for seen once, and goes at the next one */
			if (vals[i].seen_gen == gen || unseeable(&vals[i], prev_ns))
				continue;
			if (bpf_map_delete_elem(fd, &keys[i]) == 0)
				cb(&rec, ctx);
		}
		if (err == -ENOENT) { /* that was the last batch */
			err = 0;
			break;
		}
		in = out;
		first = false;
	}
cleanup:
	free(keys);
	free(vals);
	return err;
}

/* The same for the socket table's slots (socktab.bpf.h, "the socket
 * table"), which BPF frees with a store: a slot goes with a compare-and-swap
 * of its socket, so that a slot freed, or taken by another socket, in the
 * meantime stays as BPF left it. */
static void sweep_slots(struct rcl_sock_slot *slots, __u16 gen, __u64 prev_ns,
			tracer_stale_cb cb, void *ctx)
{
	for (__u32 i = 0; i < RCL_SOCK_SLOTS; i++) {
		struct rcl_sock_slot e;
		__u64 sk = slot_read(&slots[i], sizeof(e), &e);
		struct rcl_stale_rec rec;

		if (!sk || e.v.seen_gen == gen || unseeable(&e.v, prev_ns))
			continue;
		if (!slot_free(&slots[i], sk))
			continue;
		rec = (struct rcl_stale_rec){
			.sk = sk,
			.owner = { .tgid = e.v.tgid, .start_ns = e.v.start_ns },
			.flags = e.v.flags,
		};
		cb(&rec, ctx);
	}
}

int tracer__reconcile(struct tracer *t, tracer_stale_cb cb, void *ctx)
{
	__u64 before_ns, prev_ns = t->tcp_before_ns;
	int err;

	if (t->procscan) /* the sweep needs the tcp walk */
		return 0;
	before_ns = (__u64)(kclock_mono_s() * 1e9); /* bpf_ktime_get_ns() clock */
	next_gen(t);
	t->tcp_gen = t->gen;
	t->skel->bss->reconciling = 1;
	err = run_iter(t, t->walk_tcp, NULL, NULL);
	t->skel->bss->reconciling = 0;
	if (err)
		return err;
	t->tcp_before_ns = before_ns;
	sweep_slots(t->slots, (__u16)t->gen, prev_ns, cb, ctx);
	return sweep_socks(bpf_map__fd(t->skel->maps.socks), (__u16)t->gen, prev_ns, cb, ctx);
}

int tracer__each_seen_sock(struct tracer *t, tracer_sock_cb cb, void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.socks);
	__u16 gen = (__u16)t->tcp_gen;
	__u64 key, next, *prev = NULL;
	struct rcl_sock v;

	if (t->procscan)
		return -EOPNOTSUPP;
	for (__u32 i = 0; i < RCL_SOCK_SLOTS; i++) {
		struct rcl_sock_slot e;
		__u64 sk = slot_read(&t->slots[i], sizeof(e), &e);

		if (sk && e.v.seen_gen == gen)
			cb(sk, &e.v, ctx);
	}
	/* one lookup a key: called once, at the end of `rcleak run` */
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &v) == 0 && v.seen_gen == gen)
			cb(next, &v, ctx);
		key = next;
		prev = &key;
	}
	return 0;
}

/* Per process, its counters: the slots, and the procs map's entries (the
 * processes whose slot another held, or that raced for it), added up per
 * process by proctab_each. */
int tracer__for_each_proc(struct tracer *t, tracer_proc_cb cb, void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.procs);
	struct proctab_ent *ents = NULL, *grown;
	size_t n = 0, cap = 0;
	struct rcl_owner key, next;
	void *prev = NULL;
	int err;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(ents, cap * sizeof(*ents));
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			ents = grown;
		}
		if (bpf_map_lookup_elem(fd, &next, &ents[n].c) == 0)
			ents[n++].o = next;
		key = next;
		prev = &key;
	}
	err = proctab_each(t->proc_slots, t->proc_slots ? RCL_PROC_SLOTS : 0, ents, n, cb, ctx);
cleanup:
	free(ents);
	return err;
}
