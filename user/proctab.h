/* SPDX-License-Identifier: GPL-2.0 */
/* proctab.h - the kernel's per-process counters as one table: the slots of
 * proc_slots (mapped) and the entries of the procs map (rcleak.h, "the
 * process table"). Pure: the caller reads the map; no BPF calls here. */
#ifndef RCLEAK_PROCTAB_H
#define RCLEAK_PROCTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "rcleak.h"

struct proctab_ent {
	struct rcl_owner o;
	struct rcl_counters c;
};

typedef void (*proctab_cb)(const struct rcl_owner *o, const struct rcl_counters *c, void *ctx);

/* Adds src's counts to dst (a process whose counters are in both halves):
 * sums, peak the larger, flags or-ed, dst's name unless it has none. */
void proctab_add(struct rcl_counters *dst, const struct rcl_counters *src);

/* Calls cb once per process: for each published slot, with the counts of
 * an entry of hash[] for the same process added; then for each entry of
 * hash[] no slot had. Sorts hash[]. Returns 0, or -ENOMEM. */
int proctab_each(const struct rcl_proc_slot *slots, size_t nslots,
		 struct proctab_ent *hash, size_t nhash, proctab_cb cb, void *ctx);

/* Frees o's slot, if o holds one (nslots must be RCL_PROC_SLOTS). */
void proctab_forget(struct rcl_proc_slot *slots, size_t nslots, const struct rcl_owner *o);

#endif
