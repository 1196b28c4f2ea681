// SPDX-License-Identifier: GPL-2.0
/* join.c - see join.h. */
#include <stdlib.h>
#include <string.h>

#include "join.h"

#define KEY_LEN (1 + 2 + 2 + 16 + 16)

struct join_entry {
	unsigned char key[KEY_LEN]; /* family, lport, rport, laddr, raddr */
	size_t pos;                 /* in the model's records: first wins */
	const struct rcl_fd_rec *r;
};

struct join_index {
	struct join_entry *e;
	size_t n;
};

static const __u8 v4_mapped[12] = { [10] = 0xff, [11] = 0xff };

/* The tuple as bytes; an IPv4 address keeps its 4 bytes only. An IPv6
 * socket's IPv4-mapped addresses (::ffff:a.b.c.d: a dual-stack listener's
 * IPv4 clients) are the IPv4 connection the other end sees: they joined
 * nobody. */
static void make_key(unsigned char *k, __u8 family, __u16 lport, __u16 rport,
		     const __u8 *laddr, const __u8 *raddr)
{
	size_t a;

	if (family == 10 && !memcmp(laddr, v4_mapped, 12) && !memcmp(raddr, v4_mapped, 12)) {
		family = 2;
		laddr += 12;
		raddr += 12;
	}
	a = family == 2 ? 4 : 16;
	memset(k, 0, KEY_LEN);
	k[0] = family;
	k[1] = (unsigned char)(lport >> 8);
	k[2] = (unsigned char)lport;
	k[3] = (unsigned char)(rport >> 8);
	k[4] = (unsigned char)rport;
	memcpy(k + 5, laddr, a);
	memcpy(k + 21, raddr, a);
}

static bool loopback(__u8 family, const __u8 *a)
{
	static const __u8 v6_lo[16] = { [15] = 1 };

	if (family == 2)
		return a[0] == 127;
	return !memcmp(a, v6_lo, 16) || (!memcmp(a, v4_mapped, 12) && a[12] == 127);
}

bool join_loopback(const struct rcl_fd_rec *r)
{
	return loopback(r->family, r->laddr) || loopback(r->family, r->raddr);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct join_entry *x = a, *y = b;
	int c = memcmp(x->key, y->key, KEY_LEN);

	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

struct join_index *join_index_build(const struct model *m)
{
	struct join_index *ix = calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	ix->e = malloc((m->nrecs ? m->nrecs : 1) * sizeof(*ix->e));
	if (!ix->e) {
		free(ix);
		return NULL;
	}
	for (size_t i = 0; i < m->nrecs; i++) {
		const struct rcl_fd_rec *q = &m->recs[i];
		struct join_entry *e = &ix->e[ix->n];

		if (q->state == RCL_TCP_LISTEN)
			continue;
		make_key(e->key, q->family, q->lport, q->rport, q->laddr, q->raddr);
		e->pos = i;
		e->r = q;
		ix->n++;
	}
	if (ix->n > 1)
		qsort(ix->e, ix->n, sizeof(*ix->e), cmp_entry);
	return ix;
}

void join_index_free(struct join_index *ix)
{
	if (!ix)
		return;
	free(ix->e);
	free(ix);
}

const struct rcl_fd_rec *join_index_peer(const struct join_index *ix, const struct rcl_fd_rec *r)
{
	unsigned char k[KEY_LEN];
	size_t lo = 0, hi;

	if (!ix)
		return NULL;
	make_key(k, r->family, r->rport, r->lport, r->raddr, r->laddr);
	hi = ix->n;
	while (lo < hi) { /* the first entry not below k */
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(ix->e[mid].key, k, KEY_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ix->n && !memcmp(ix->e[lo].key, k, KEY_LEN) ? ix->e[lo].r : NULL;
}
