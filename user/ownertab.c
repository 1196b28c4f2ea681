// SPDX-License-Identifier: GPL-2.0
/* ownertab.c - rows keyed by process (ownertab.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ownertab.h"

static size_t home(const struct ownertab *t, const struct rcl_owner *o)
{
	__u64 x = o->start_ns * 0x9E3779B97F4A7C15ULL + o->tgid;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	return (size_t)(x ^ (x >> 29)) & (t->idxcap - 1);
}

static const struct rcl_owner *key_of(const struct ownertab *t, size_t i)
{
	return ownertab_row(t, i);
}

static void put(struct ownertab *t, size_t row)
{
	size_t i = home(t, key_of(t, row));

	while (t->idx[i])
		i = (i + 1) & (t->idxcap - 1);
	t->idx[i] = (__u32)(row + 1);
}

/* An index of cap slots (a power of 2) over every row. */
static int index_rows(struct ownertab *t, size_t cap)
{
	__u32 *n = calloc(cap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	free(t->idx);
	t->idx = n;
	t->idxcap = cap;
	for (size_t i = 0; i < t->n; i++)
		put(t, i);
	return 0;
}

void ownertab_init(struct ownertab *t, size_t row_size)
{
	memset(t, 0, sizeof(*t));
	t->row_size = row_size;
}

void ownertab_free(struct ownertab *t)
{
	free(t->rows);
	free(t->idx);
	ownertab_init(t, t->row_size);
}

void ownertab_clear(struct ownertab *t)
{
	t->n = 0;
	if (t->idx)
		memset(t->idx, 0, t->idxcap * sizeof(*t->idx));
}

void *ownertab_find(const struct ownertab *t, const struct rcl_owner *o)
{
	if (!t->idxcap)
		return NULL;
	for (size_t i = home(t, o);; i = (i + 1) & (t->idxcap - 1)) {
		const struct rcl_owner *k;

		if (!t->idx[i])
			return NULL;
		k = key_of(t, t->idx[i] - 1);
		if (k->tgid == o->tgid && k->start_ns == o->start_ns)
			return ownertab_row(t, t->idx[i] - 1);
	}
}

void *ownertab_get(struct ownertab *t, const struct rcl_owner *o, bool *made)
{
	struct rcl_owner *k;
	void *row;

	if (t->n && !t->idxcap && ownertab_reindex(t)) /* lost to ENOMEM */
		return NULL;
	row = ownertab_find(t, o);
	if (made)
		*made = !row;
	if (row)
		return row;
	/* at most half full: probes stay short */
	if ((t->n + 1) * 2 > t->idxcap && index_rows(t, t->idxcap ? t->idxcap * 2 : 64))
		return NULL;
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 32;
		void *n = realloc(t->rows, ncap * t->row_size);

		if (!n)
			return NULL;
		t->rows = n;
		t->cap = ncap;
	}
	row = ownertab_row(t, t->n);
	memset(row, 0, t->row_size);
	k = row;
	k->tgid = o->tgid;
	k->start_ns = o->start_ns;
	put(t, t->n++);
	return row;
}

int ownertab_reindex(struct ownertab *t)
{
	size_t cap = 64;

	while (t->n * 2 > cap)
		cap *= 2;
	if (index_rows(t, cap)) {
		free(t->idx);
		t->idx = NULL;
		t->idxcap = 0;
		return -ENOMEM;
	}
	return 0;
}
