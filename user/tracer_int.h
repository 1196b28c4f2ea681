/* SPDX-License-Identifier: GPL-2.0 */
/* tracer_int.h - the tracer's state, shared by tracer.c (load, attach,
 * events) and tracer_walk.c (the iterator walks and the sweep). Not for
 * other files: they go through tracer.h. */
#ifndef RCLEAK_TRACER_INT_H
#define RCLEAK_TRACER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "rcleak.skel.h"
#include "tracer.h"

struct tracer {
	struct rcleak_bpf *skel;
	struct bpf_link *lifecycle;
	struct bpf_link *twin; /* record: runs the kernel skipped (rcleak.bpf.c) */
	struct bpf_link *walk_files, *walk_tcp;
	struct ring_buffer *rb;
	struct rcl_sock_slot *slots; /* sock_slots, mapped (iters: the sweep reads it) */
	struct rcl_proc_slot *proc_slots; /* proc_slots, mapped */
	tracer_event_cb event_cb;
	void *event_ctx;
	int tier;           /* attached lifecycle flavour (tier_names), -1: none yet */
	struct procscan *procscan; /* set: holders come from /proc, not iterators */
	bool mounted_tracefs;
	__u64 gen;
	__u64 tcp_gen;      /* gen of the last reconciliation's tcp walk */
	__u64 tcp_before_ns; /* when it (or the snapshot's) began, bpf_ktime_get_ns() clock */
	char *buf;          /* one read() of an iterator: records stream through */
	struct tracer_nfds { __u32 tgid; long nfds, nunix; } *nfds; /* last walk, by tgid */
	size_t nnfds, nfdscap;
	int ncpus;
};

#define ITER_BUF (256 * 1024)
#define SLOTS_BYTES ((size_t)RCL_SOCK_SLOTS * sizeof(struct rcl_sock_slot))
#define PROC_SLOTS_BYTES ((size_t)RCL_PROC_SLOTS * sizeof(struct rcl_proc_slot))

#endif
