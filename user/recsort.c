// SPDX-License-Identifier: GPL-2.0
/* recsort.c - see recsort.h. */
#include <stdlib.h>
#include <string.h>

#include "recsort.h"

#define key recsort_key

int recsort_cmp(const void *a, const void *b)
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

void recsort_free(struct recsort *rs)
{
	free(rs->keys);
	free(rs->tmp);
	rs->keys = rs->tmp = NULL;
	rs->cap = 0;
}

static int reserve(struct recsort *rs, size_t n)
{
	size_t ncap = rs->cap ? rs->cap : 1024;
	struct key *k, *t;

	if (n <= rs->cap)
		return 0;
	while (ncap < n)
		ncap *= 2;
	k = realloc(rs->keys, ncap * sizeof(struct key));
	if (!k)
		return -1;
	rs->keys = k;
	t = realloc(rs->tmp, ncap * sizeof(struct key));
	if (!t)
		return -1;
	rs->tmp = t;
	rs->cap = ncap;
	return 0;
}

/* Stable LSD radix sort of keys by sk, one pass per byte that is not the
 * same in every key (kernel pointers share their top bytes). Returns the
 * array holding the result: a or tmp. */
static struct key *radix(struct key *a, struct key *tmp, size_t n, size_t count[8][256])
{
	struct key *src = a, *dst = tmp;

	memset(count, 0, 8 * sizeof(count[0]));
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			count[b][(a[i].sk >> (8 * b)) & 0xff]++;
	for (int b = 0; b < 8; b++) {
		size_t *c = count[b], sum = 0;

		if (c[(a[0].sk >> (8 * b)) & 0xff] == n)
			continue; /* every key has this byte */
		for (int v = 0; v < 256; v++) {
			size_t x = c[v];

			c[v] = sum;
			sum += x;
		}
		for (size_t i = 0; i < n; i++)
			dst[c[(src[i].sk >> (8 * b)) & 0xff]++] = src[i];
		{
			struct key *t = src;

			src = dst;
			dst = t;
		}
	}
	return src;
}

const struct recsort_key *recsort(struct recsort *rs, const struct rcl_fd_rec *recs, size_t n)
{
	struct key *k;

	if (n > 0xffffffffu || reserve(rs, n ? n : 1))
		return NULL;
	k = rs->keys;
	for (size_t i = 0; i < n; i++) {
		k[i].sk = recs[i].sk;
		k[i].idx = (__u32)i;
	}
	if (n < 2)
		return k;
	k = radix(k, rs->tmp, n, rs->count);
	/* one socket's records, by holder: insertion sort keeps it stable */
	for (size_t i = 1; i < n; i++) {
		struct key x = k[i];
		size_t j = i;

		while (j > 0 && k[j - 1].sk == x.sk &&
		       recsort_cmp(&recs[k[j - 1].idx], &recs[x.idx]) > 0) {
			k[j] = k[j - 1];
			j--;
		}
		k[j] = x;
	}
	return k;
}
