/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ownertab.h - rows keyed by process, found in O(1): a growing array of
 * fixed-size rows, each beginning with its struct rcl_owner, and an
 * open-addressing index of row numbers. A search of every row for every
 * process at every tick took hours over a long capture of one connection
 * per process (a shell loop of redis-cli); the summary, the tail of a
 * killed recorder and the peaks each keep one.
 */
#ifndef RCLEAK_OWNERTAB_H
#define RCLEAK_OWNERTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "rcleak.h"

struct ownertab {
	void *rows;        /* n rows of row_size bytes; each begins with its key */
	size_t row_size, n, cap;
	__u32 *idx;        /* 1 + row number, 0 free; idxcap (a power of 2) long */
	size_t idxcap;
};

/* An empty table of rows of row_size bytes (whose first member is a
 * struct rcl_owner). Nothing is allocated until a row is made. */
void ownertab_init(struct ownertab *t, size_t row_size);
void ownertab_free(struct ownertab *t);

/* No rows (their memory kept). */
void ownertab_clear(struct ownertab *t);

/* Row i (< t->n). */
static inline void *ownertab_row(const struct ownertab *t, size_t i)
{
	return (char *)t->rows + i * t->row_size;
}

/* o's row, or NULL. */
void *ownertab_find(const struct ownertab *t, const struct rcl_owner *o);

/* o's row, made (zeroed, its key o) when missing, and then *made is set
 * (made may be NULL); NULL when out of memory. Row pointers last until
 * the next call that makes a row. */
void *ownertab_get(struct ownertab *t, const struct rcl_owner *o, bool *made);

/* After the rows were reordered in place (qsort): index them again. 0, or
 * -ENOMEM (the table is then left without an index: ownertab_find finds
 * nothing until ownertab_get makes one again). */
int ownertab_reindex(struct ownertab *t);

#endif
