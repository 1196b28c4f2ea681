// SPDX-License-Identifier: GPL-2.0
/* proctab.c - see proctab.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proctab.h"
#include "slots.h"

void proctab_add(struct rcl_counters *dst, const struct rcl_counters *src)
{
	dst->opened += src->opened;
	dst->closed += src->closed;
	dst->exit_closed += src->exit_closed;
	dst->released += src->released;
	dst->accepted += src->accepted;
	dst->acc_closed += src->acc_closed;
	dst->acc_exit_closed += src->acc_exit_closed;
	dst->acc_released += src->acc_released;
	dst->cur += src->cur;
	if (src->peak > dst->peak)
		dst->peak = src->peak;
	dst->flags |= src->flags;
	if (!dst->comm[0])
		memcpy(dst->comm, src->comm, sizeof(dst->comm));
	for (int i = 0; i < RCL_LIFE_BUCKETS; i++)
		dst->life[i] += src->life[i];
}

static int cmp_owner(const void *a, const void *b)
{
	const struct rcl_owner *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
}

/* A consistent copy of slot e: false when it is free, being written, or
 * changed hands while it was copied. */
static bool read_slot(const struct rcl_proc_slot *e, struct proctab_ent *out)
{
	struct rcl_proc_slot copy;
	__u64 tag = slot_read(e, sizeof(*e), &copy);

	if (!tag)
		return false;
	out->o = (struct rcl_owner){ .tgid = (__u32)(tag >> 1), .start_ns = copy.start_ns };
	out->c = copy.c;
	return true;
}

int proctab_each(const struct rcl_proc_slot *slots, size_t nslots,
		 struct proctab_ent *hash, size_t nhash, proctab_cb cb, void *ctx)
{
	bool *used = calloc(nhash ? nhash : 1, sizeof(*used));

	if (!used)
		return -ENOMEM;
	/* the owner is the first member: entries sort and search as owners */
	if (nhash)
		qsort(hash, nhash, sizeof(*hash), cmp_owner);
	for (size_t i = 0; slots && i < nslots; i++) {
		struct proctab_ent e;
		struct proctab_ent *h;

		if (!read_slot(&slots[i], &e))
			continue;
		h = nhash ? bsearch(&e.o, hash, nhash, sizeof(*hash), cmp_owner) : NULL;
		if (h) {
			proctab_add(&e.c, &h->c);
			used[h - hash] = true;
		}
		cb(&e.o, &e.c, ctx);
	}
	for (size_t i = 0; i < nhash; i++)
		if (!used[i])
			cb(&hash[i].o, &hash[i].c, ctx);
	free(used);
	return 0;
}

void proctab_forget(struct rcl_proc_slot *slots, size_t nslots, const struct rcl_owner *o)
{
	struct rcl_proc_slot *e;
	__u64 tag = (__u64)o->tgid << 1;

	if (!slots || nslots != RCL_PROC_SLOTS)
		return;
	e = &slots[rcl_proc_slot_idx(o->tgid, o->start_ns)];
	if (__atomic_load_n(&e->tag, __ATOMIC_ACQUIRE) != tag || e->start_ns != o->start_ns)
		return;
	slot_free(e, tag);
}
