// SPDX-License-Identifier: GPL-2.0
/*
 * maps.bpf.h - what rcleak's BPF programs share: the settings userspace
 * writes before load, the globals it writes between walks, the maps, and
 * the per-CPU state a run looks up once.
 */
#ifndef RCLEAK_MAPS_BPF_H
#define RCLEAK_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "rcleak.h"

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define RLIMIT_NOFILE 7
#define PF_EXITING 0x00000004
#define SIGNAL_GROUP_EXIT 0x00000004 /* signal_struct.flags: group exit in progress */


/* Set before load: rcleak's own tgid, whose connections are never counted. */
const volatile __u32 self_tgid = 0;
/* Set before load: the inode of rcleak's network namespace, the only one
 * the tcp walk sees (0: unknown, every socket is taken for one of it). */
const volatile __u32 self_netns = 0;
/* Set before load by `rcleak run`: trace only processes that descend from
 * rcleak (it is a child subreaper, so orphans of the tree stay below it). */
const volatile bool tree_mode = false;
/* Set before load by `rcleak record`: send every event to the ring buffer. */
const volatile bool emit_events = false;
/* Set before load by `rcleak record` with the tp_btf or raw_tp hook: the
 * lifecycle program notes each run for its twin (see "runs the kernel
 * skipped" in rcleak.bpf.c). */
const volatile bool note_runs = false;
/* Set before load when holders come from /proc (no iterators): 1e9 /
 * USER_HZ. Process start times are then rounded down to whole clock ticks,
 * as /proc shows them, so that the counters' keys are the /proc walk's.
 * 0: exact, as the iterator walks read them. */
const volatile __u64 start_tick_ns = 0;
/* Set before load: the watched ports, one bit each (8 KiB, read-only). */
const volatile __u64 watched_bits[65536 / 64] = {};
/* Per watched port, 1 + its place on the command line (listeners' key). */
const volatile __u8 port_idx[65536] = {};

#define TREE_DEPTH 48 /* ancestors checked; deeper descendants are missed */

/* Set by userspace before each walk. */
__u64 walk_gen = 0;
/* Set by userspace: nonzero while a reconciliation tcp walk runs, so sockets
 * it has to add count as repairs (the first walk is the snapshot). */
__u32 reconciling = 0;

/* Preallocated: an insert on every connect must not allocate (and charge
 * memcg) in the hot path. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RCL_MAX_SOCKS);
	__type(key, __u64);
	__type(value, struct rcl_sock);
} socks SEC(".maps");

/* The socket table's fast half (see socktab.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RCL_SOCK_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct rcl_sock_slot);
} sock_slots SEC(".maps");

/* The word through which a typed socket pointer becomes a number
 * (sock_id), one per CPU in struct rcl_cpu. */
struct sock_id_word {
	__u64 val;
	__u64 seq; /* runs that used it */
};

/* The tick the opens on a CPU are in (clock.bpf.h, "open times"), and the
 * clock read that its events are stamped with ("event times"). */
struct rcl_open_clock {
	__u64 tick;    /* jiffies of the tick this state is for */
	__u64 base_ns; /* the clock at this tick's first open here */
	__u64 odds;    /* an open is drawn when a random u32 is below this */
	__u64 rng;     /* xorshift64 state, reseeded each tick */
	__u32 opens;   /* opens here in this tick so far */
	__u32 pad;
	__u64 ev_ns;   /* the last clock read for an event here */
	__u64 ev_tick; /* jiffies when ev_ns was read */
	__u64 ev_gen;  /* walk_gen when ev_ns was read */
};

/* Notes of lifecycle runs whose twin has not run yet, on a CPU, as a
 * stack (note_runs; rcleak.bpf.c, "runs the kernel skipped"). */
#define RCL_RUN_SLOTS 16
struct rcl_runs {
	__u64 sk[RCL_RUN_SLOTS];
	__u16 change[RCL_RUN_SLOTS]; /* oldstate << 8 | newstate */
	__u32 top;                   /* notes pushed less notes popped */
};

/* What each CPU keeps, in one map value so that a run looks it up once
 * (three per-CPU maps cost three lookups, an eighth of live's program under
 * a connect storm: tools/bench/profile.sh): the counters userspace reads
 * (stat[], first: tracer__stats), the socket number's word, the clock
 * state of clock.bpf.h, and record's notes for the twin. */
struct rcl_cpu {
	__u64 stat[RCL_STAT__MAX];
	struct sock_id_word id;
	struct rcl_open_clock clk;
	struct rcl_runs runs;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rcl_cpu);
} cpu_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RCL_MAX_PROCS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rcl_owner);
	__type(value, struct rcl_counters);
} procs SEC(".maps");

/* The process table's fast half (rcleak.h, struct rcl_proc_slot). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RCL_PROC_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct rcl_proc_slot);
} proc_slots SEC(".maps");

/* Watched local port (port_idx - 1) -> owner of the listening socket, for
 * passive opens (which run in softirq context, where current is unrelated);
 * tgid 0: none. An array, not a hash keyed by port: its lookup is a few
 * inlined instructions, the hash's was 8 % of the lifecycle program's time
 * under an accept storm. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RCL_MAX_PORTS * RCL_LISTEN_WAYS);
	__type(key, __u32);
	__type(value, struct rcl_listener);
} listeners SEC(".maps");


/* Local ports of rcleak's own connections to Redis (--ask-redis), one bit
 * each, set by userspace: the server-side end of those is not anybody's
 * client. A bitmap, not a map: one load per accept instead of a lookup. */
__u64 self_bits[65536 / 64] = {};
/* ... and their whole local ends: a remote client whose source port is
 * one of those is still a client. Written before the port's bit is set. */
struct rcl_self_ep self_eps[RCL_SELF_EPS] = {};

/* Events for recording; sized by userspace (only loaded with room when
 * emit_events is set). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096 * 4);
} events SEC(".maps");



/* ------------------------------------------------------------------------
 * helpers
 */

static __always_inline struct rcl_cpu *this_cpu(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_state, &zero);
}

/* idx: an RCL_STAT_* constant */
static __always_inline void stat_add(struct rcl_cpu *pc, __u32 idx)
{
	if (idx < RCL_STAT__MAX)
		pc->stat[idx] += 1;
}

static __always_inline void stat_inc(__u32 idx)
{
	struct rcl_cpu *pc = this_cpu();

	if (pc)
		stat_add(pc, idx);
}

static __always_inline bool port_watched(__u16 port)
{
	return port && (watched_bits[port >> 6] >> (port & 63)) & 1;
}

static __always_inline bool self_port(__u16 port)
{
	return (self_bits[port >> 6] >> (port & 63)) & 1;
}

#endif /* RCLEAK_MAPS_BPF_H */
