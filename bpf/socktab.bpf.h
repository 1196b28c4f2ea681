// SPDX-License-Identifier: GPL-2.0
/*
 * socktab.bpf.h - the socket table: per watched socket, its owner and open
 * time.
 */
#ifndef RCLEAK_SOCKTAB_BPF_H
#define RCLEAK_SOCKTAB_BPF_H

#include "maps.bpf.h"

/* ------------------------------------------------------------------------
 * the socket table
 *
 * Per watched socket, its owner and open time, keyed by the address of its
 * struct sock. A hash-map insert at the open and a delete at the close cost
 * about 0.5 us per socket here (bucket locks, the free list): half of what
 * the lifecycle program spent per connection. So a socket first tries its
 * slot of sock_slots, a direct-mapped array claimed with one
 * compare-and-swap and freed with one store; the socket map (a hash) holds
 * the sockets whose slot was taken and the walks' snapshots. Readers look in
 * the slot, then in the map. A slot being written has the low bit of sk set,
 * so no reader takes it for a socket's (struct sock is 8-aligned).
 */

/* The socket's address as a number, for the slot's hash. tp_btf's socket
 * pointer is typed, and the verifier refuses arithmetic on it; a value read
 * back from a map is a number. A run that interrupts this one between the
 * store and the load may overwrite the word; it also bumps seq, and a probe
 * read then does it. (Comparing the number with the pointer instead would
 * let the compiler use the pointer for it.) */
static __always_inline __u64 sock_id(struct rcl_cpu *pc, const void *sk, bool btf)
{
	volatile struct sock_id_word *w;
	__u64 id = 0, seq;

	if (!btf)
		return (__u64)sk;
	if (pc) {
		w = &pc->id;
		seq = w->seq + 1;
		w->seq = seq;
		w->val = (__u64)sk;
		id = w->val;
		if (w->seq == seq)
			return id;
	}
	bpf_probe_read_kernel(&id, sizeof(id), &sk);
	return id;
}

static __always_inline struct rcl_sock_slot *sock_slot(__u64 id)
{
	__u32 i = (__u32)(((id >> 6) * 0x9E3779B97F4A7C15ull) >> (64 - RCL_SOCK_SLOT_BITS));

	return bpf_map_lookup_elem(&sock_slots, &i);
}

static __always_inline struct rcl_sock *sock_get(__u64 id)
{
	struct rcl_sock_slot *e = sock_slot(id);

	if (e && e->sk == id)
		return &e->v;
	return bpf_map_lookup_elem(&socks, &id);
}

/* Insert or replace (a socket at the address of one whose close was
 * missed). Nonzero: the table is full. */
static __always_inline long sock_put(__u64 id, const struct rcl_sock *ns)
{
	struct rcl_sock_slot *e = sock_slot(id);

	if (e) {
		__u64 cur = e->sk;

		/* a socket at the address of one whose close was missed: marked
		 * as being written meanwhile, like a claim, so that the sweep
		 * never copies half of each (and frees the new one for the old) */
		if (cur == id) {
			if (__sync_val_compare_and_swap(&e->sk, id, id | 1) == id) {
				e->v = *ns;
				__sync_lock_test_and_set(&e->sk, id);
				return 0;
			}
			cur = e->sk; /* the sweep freed it meanwhile */
		}
		if (!cur && __sync_val_compare_and_swap(&e->sk, 0, id | 1) == 0) {
			e->v = *ns;
			__sync_lock_test_and_set(&e->sk, id); /* publish after v */
			return 0;
		}
	}
	return bpf_map_update_elem(&socks, &id, ns, BPF_ANY);
}

static __always_inline void sock_del(__u64 id)
{
	struct rcl_sock_slot *e = sock_slot(id);

	if (e && e->sk == id) {
		barrier(); /* every read of e->v before the slot is free */
		e->sk = 0;
		return;
	}
	bpf_map_delete_elem(&socks, &id);
}

#endif /* RCLEAK_SOCKTAB_BPF_H */
