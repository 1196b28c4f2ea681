/* SPDX-License-Identifier: GPL-2.0 */
/* slots.h - a slot of the direct-mapped BPF arrays (sock_slots, proc_slots,
 * mapped into rcleak) whose first word says who holds it: 0 free, low bit
 * set while BPF writes it (rcleak.h). BPF claims a slot with a
 * compare-and-swap and writes the rest while userspace may read it. */
#ifndef RCLEAK_SLOTS_H
#define RCLEAK_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <linux/types.h>

/* Copies the len-byte slot (its word first) to out; returns the word, or 0
 * when the slot is free, being written, or changed hands during the copy.
 * Counters BPF adds to meanwhile are each read whole (8-byte aligned), as
 * the map's own copy reads them. */
static inline __u64 slot_read(const void *slot, size_t len, void *out)
{
	const __u64 *word = slot;
	__u64 w = __atomic_load_n(word, __ATOMIC_ACQUIRE);

	if (!w || (w & 1))
		return 0;
	memcpy(out, slot, len);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(word, __ATOMIC_RELAXED) == w ? w : 0;
}

/* Frees the slot if its word is still w: false, and the slot is left as
 * BPF made it, when BPF freed it or another took it meanwhile. */
static inline bool slot_free(void *slot, __u64 w)
{
	return __atomic_compare_exchange_n((__u64 *)slot, &w, 0, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

#endif
