/* SPDX-License-Identifier: GPL-2.0 */
/*
 * recsort.h - the order of one refresh's fd records by (socket, holder),
 * without moving the records.
 *
 * At 100k connections a refresh has ~200k records of ~120 bytes; qsort()
 * on them moved ~460 MB and took most of rcleak's user CPU, and moving
 * them once into order still cost a cache miss per record. This sorts
 * 12-byte (socket, index) keys with a stable LSD radix sort over the bytes
 * that differ, then orders each run of one socket by holder (runs are 1-3
 * records long). The records stay in walk order.
 */
#ifndef RCLEAK_RECSORT_H
#define RCLEAK_RECSORT_H

#include <stddef.h>
#include <linux/types.h>
#include "rcleak.h"

struct recsort_key {
	__u64 sk;
	__u32 idx; /* into the records */
} __attribute__((packed));

struct recsort {
	struct recsort_key *keys, *tmp; /* scratch, kept between calls */
	size_t cap;
	size_t count[8][256];
};

/* The records' order by (sk, tgid, start_ns), records that compare equal
 * in their input order: an array of n keys owned by rs, valid until the
 * next call. NULL when the scratch cannot be allocated. */
const struct recsort_key *recsort(struct recsort *rs, const struct rcl_fd_rec *recs, size_t n);
void recsort_free(struct recsort *rs);

/* That order's comparator, without the input order. */
int recsort_cmp(const void *a, const void *b);

#endif
