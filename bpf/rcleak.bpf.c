// SPDX-License-Identifier: GPL-2.0
/*
 * rcleak.bpf.c - kernel side of rcleak.
 *
 * Three kinds of programs:
 *  - lifecycle: sock:inet_sock_set_state in three flavours (tp_btf, raw_tp,
 *    classic tracepoint) around one body; userspace keeps exactly one.
 *    Maintains the socket table (who opened which socket) and per-process
 *    opened/closed counters. Nothing goes to userspace per event, except
 *    for `rcleak record` (emit_events: the events ring buffer).
 *  - walks (BPF iterators), run by userspace once per refresh or per
 *    reconciliation: task_file (which process holds which watched socket, and
 *    how many fds each process has), tcp (every watched socket that exists:
 *    the snapshot at start and the repair of missed opens; userspace then
 *    sweeps the socket table for entries the walk did not see: missed closes).
 *  - nothing else: fd ownership is read from the kernel's fd tables by the
 *    walk, never reconstructed from events, so fork, dup, SCM_RIGHTS, threads
 *    and exit are exact by construction.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "rcleak.h"

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define RLIMIT_NOFILE 7
#define PF_EXITING 0x00000004

char LICENSE[] SEC("license") = "GPL";

/* Set before load: rcleak's own tgid, whose connections are never counted. */
const volatile __u32 self_tgid = 0;
/* Set before load by `rcleak run`: trace only processes that descend from
 * rcleak (it is a child subreaper, so orphans of the tree stay below it). */
const volatile bool tree_mode = false;
/* Set before load by `rcleak record`: send every event to the ring buffer. */
const volatile bool emit_events = false;
/* Set before load by `rcleak record` with the tp_btf or raw_tp hook: the
 * lifecycle program notes each run for its twin (see "runs the kernel
 * skipped" below). */
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

/* The socket table's fast half (see "the socket table" below). */
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

/* The tick the opens on a CPU are in (see "open times"), and the clock
 * read that its events are stamped with (see "event times"). */
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
 * stack (note_runs; see "runs the kernel skipped"). */
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
 * state of "open times" and "event times", and record's notes for the twin. */
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

/* Is sk the server end of rcleak's own link (its peer at rport one of
 * self_eps)? The port's bit first: one load for every other accept. */
static __always_inline bool self_end(const void *sk, __u16 rport, __u16 family)
{
	__u32 a[4] = {};

	if (!self_port(rport))
		return false;
	if (family == AF_INET) {
		a[2] = bpf_htonl(0xffff);
		a[3] = BPF_CORE_READ((struct sock *)sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&a, (struct sock *)sk, __sk_common.skc_v6_daddr.in6_u.u6_addr32);
	}
	for (int i = 0; i < RCL_SELF_EPS; i++) {
		const __u32 *e = (const __u32 *)self_eps[i].addr;

		if (self_eps[i].port == rport && e[0] == a[0] && e[1] == a[1] &&
		    e[2] == a[2] && e[3] == a[3])
			return true;
	}
	return false;
}

/*
 * Every hot-path function takes `btf`, a compile-time constant: true in the
 * tp_btf flavour, whose pointers are trusted BTF pointers that can be read
 * with plain (fault-checked) loads; false in raw_tp and the classic
 * tracepoint, which need bpf_probe_read_kernel (CO-RE reads). Inlining
 * drops the branch not taken, so each flavour verifies only its own.
 */
/* Before 5.5, start_boottime was called real_start_time. */
struct task_struct___pre55 {
	__u64 real_start_time;
} __attribute__((preserve_access_index));

/*
 * When a process started, the half of its identity that a reused pid
 * does not repeat: the clock /proc/PID/stat's starttime comes from (boot
 * time, which goes on during a suspend), so that userspace can tell
 * whether that pid is still that process. Monotonic start_time would drift
 * from it by every suspend since the process started.
 */
static __always_inline __u64 proc_start_ns(struct task_struct *leader, bool btf)
{
	__u64 t;

	if (bpf_core_field_exists(leader->start_boottime))
		t = btf ? leader->start_boottime : BPF_CORE_READ(leader, start_boottime);
	else if (bpf_core_field_exists(((struct task_struct___pre55 *)leader)->real_start_time))
		t = BPF_CORE_READ((struct task_struct___pre55 *)leader, real_start_time);
	else
		t = btf ? leader->start_time : BPF_CORE_READ(leader, start_time);
	if (start_tick_ns)
		t = t / start_tick_ns * start_tick_ns;
	return t;
}

static __always_inline void owner_of(struct task_struct *task, struct rcl_owner *o, bool btf)
{
	o->pad = 0;
	if (btf) {
		o->tgid = task->tgid;
		o->start_ns = proc_start_ns(task->group_leader, true);
	} else {
		o->tgid = BPF_CORE_READ(task, tgid);
		o->start_ns = proc_start_ns(BPF_CORE_READ(task, group_leader), false);
	}
}

/* The current process's name: its main thread's, as ps and the fd walk
 * name it, not the calling thread's (a pool worker that names itself,
 * "tokio-runtime-w", named the process's row, and --comm with the process's
 * name missed it); task is the current task. In tp_btf, plain loads (the
 * helper's string copy costs about 60 ns a call). The kernel keeps comm's
 * last byte 0, and a rename in between can only mix two names, as the
 * helper's copy can. The hot path asks for the current task once per run:
 * bpf_get_current_task_btf() is a helper call, not inlined on 6.18. */
static __always_inline void current_comm(char comm[RCL_COMM_LEN], struct task_struct *task,
					 bool btf)
{
	if (btf) {
		struct task_struct *leader = task->group_leader;

		__builtin_memcpy(comm, leader->comm, RCL_COMM_LEN);
	} else {
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);

		if (bpf_probe_read_kernel_str(comm, RCL_COMM_LEN, &leader->comm) < 0)
			comm[0] = '\0';
	}
}

/* A watched port's first entry in listeners (RCL_LISTEN_WAYS of them). */
static __always_inline __u32 listener_key(__u16 port)
{
	return ((__u32)port_idx[port] - 1) * RCL_LISTEN_WAYS;
}

/* The network namespace a socket is in, as a number (its struct net).
 * btf: read directly, as the hook's other fields (no helper call: every
 * accept asks). */
static __always_inline __u64 sock_net(const void *sk, bool btf)
{
	if (btf)
		return (__u64)((const struct sock *)sk)->__sk_common.skc_net.net;
	return (__u64)BPF_CORE_READ((struct sock *)sk, __sk_common.skc_net.net);
}

/* A socket's local address (the listener's bound one, or a passive
 * open's): IPv4 in a[0]. */
static __always_inline void sock_laddr(const void *sk, __u16 family, __u32 a[4], bool btf)
{
	const struct sock *s = sk;

	if (btf && family == AF_INET)
		a[0] = s->__sk_common.skc_rcv_saddr;
	else if (btf)
		__builtin_memcpy(a, &s->__sk_common.skc_v6_rcv_saddr, 16);
	else if (family == AF_INET)
		a[0] = BPF_CORE_READ((struct sock *)sk, __sk_common.skc_rcv_saddr);
	else
		BPF_CORE_READ_INTO((__u32 (*)[4])a, (struct sock *)sk,
				   __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32);
}

static __always_inline bool addr_eq(const __u32 *a, const __u32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* The listener of a passive open on port, in namespace net, of family,
 * to local address a: the one bound to that address, else a wildcard one
 * of the family, else any of that namespace, else one of any namespace. */
static __always_inline bool listener_get(__u16 port, __u64 net, __u16 family, const __u32 a[4],
					 struct rcl_owner *o)
{
	__u32 k = listener_key(port);
	int best = 0; /* 4 exact, 3 wildcard, 2 same net, 1 any net */

	for (int i = 0; i < RCL_LISTEN_WAYS; i++) {
		__u32 ki = k + i;
		struct rcl_listener *l = bpf_map_lookup_elem(&listeners, &ki);
		int rank;

		if (!l)
			continue;
		/* the ways are taken in order (listener_set): past the last
		 * ever written (by a walk of /proc too: family 0, an owner)
		 * there is nothing; one accept in an accept storm read 8 */
		if (!l->owner.tgid) {
			if (!l->family)
				break;
			continue;
		}
		if (l->net == net) {
			if (l->family == family && addr_eq(l->addr, a))
				rank = 4;
			else if (l->family == family && !(l->addr[0] | l->addr[1] | l->addr[2] | l->addr[3]))
				rank = 3;
			else
				rank = 2;
		} else if (!l->net) {
			rank = 1;
		} else {
			continue;
		}
		if (rank > best) {
			*o = l->owner;
			best = rank;
			if (rank == 4)
				break;
		}
	}
	return best > 0;
}

/* Port's listener in net, of family, bound to a, is now o (tgid 0: none).
 * The way of that listener, else a free one, else the last. */
static __always_inline void listener_set(__u16 port, __u64 net, __u16 family, const __u32 a[4],
					 const struct rcl_owner *o)
{
	__u32 k = listener_key(port), pick = k + RCL_LISTEN_WAYS - 1;
	struct rcl_listener nl = { .net = net, .family = family };
	bool have_free = false, same = false;

	for (int i = 0; i < RCL_LISTEN_WAYS; i++) {
		__u32 ki = k + i;
		struct rcl_listener *l = bpf_map_lookup_elem(&listeners, &ki);

		if (!l)
			continue;
		if (l->net == net && l->family == family && addr_eq(l->addr, a)) {
			pick = ki;
			same = true;
			break;
		}
		if (!l->owner.tgid && !have_free) {
			pick = ki;
			have_free = true;
		}
	}
	if (!o->tgid && !same) /* closing: only its own way */
		return;
	nl.owner = *o;
	nl.addr[0] = a[0];
	nl.addr[1] = a[1];
	nl.addr[2] = a[2];
	nl.addr[3] = a[3];
	bpf_map_update_elem(&listeners, &pick, &nl, BPF_ANY);
}

/* In tree mode, does task descend from rcleak? Always true otherwise. */
static __always_inline bool traced(struct task_struct *task, bool btf)
{
	if (!tree_mode)
		return true;
	for (int i = 0; i < TREE_DEPTH; i++) {
		__u32 tgid;

		task = btf ? task->real_parent : BPF_CORE_READ(task, real_parent);
		if (!task)
			return false;
		tgid = btf ? task->tgid : BPF_CORE_READ(task, tgid);
		if (tgid == self_tgid)
			return true;
		if (tgid <= 1)
			return false;
	}
	return false;
}

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

/* One run of the lifecycle program: the state change, and what the hook
 * read already, so that nothing is read twice. */
struct chg {
	const void *sk;
	struct rcl_cpu *pc;  /* this CPU's, looked up once a run */
	__u64 now;           /* bpf_ktime_get_ns(), read when first needed */
	int oldstate, newstate;
	__u16 lport, rport;  /* host order; lport is 0 on the way to CLOSE */
	__u16 family;
};

static __always_inline __u64 chg_now(struct chg *c)
{
	if (!c->now)
		c->now = bpf_ktime_get_ns();
	return c->now;
}

/* ------------------------------------------------------------------------
 * open times
 *
 * A clock read costs 50-75 ns on the VMs here, and a connection whose both
 * ends are watched needs four (open and close of each end) for its two
 * lifetimes: a quarter of live's BPF time under a connect storm. A socket's
 * open time itself need only be known to within a tick (the sweep, ages). So
 * per CPU, the first open of each tick reads the clock, and every open is
 * drawn for the lifetime sample with odds of RCL_LIFE_DRAWS in the number
 * of opens the CPU saw in the tick before: all of them while fewer open, a
 * random sample (not the first ones, which would favour whoever opens at
 * the start of a tick) when more do. A drawn socket reads the clock at its
 * open and close; the others take the tick's first clock read as a lower
 * bound, are marked UNTIMED, and their lifetimes are not counted. record
 * draws the same way (its events' times are read as seldom: "event times").
 */
static __always_inline void stamp_open(struct chg *c, struct rcl_sock *ns)
{
	struct rcl_open_clock *k = &c->pc->clk;
	__u64 j, r;

	j = bpf_jiffies64();
	if (k->tick != j) {
		/* the tick before decides this one's odds; an idle tick
		 * between them means few opens */
		__u32 before = k->tick + 1 == j ? k->opens : 0;

		k->odds = before <= RCL_LIFE_DRAWS ? 1ULL << 32
						   : ((__u64)RCL_LIFE_DRAWS << 32) / before;
		k->opens = 0;
		k->base_ns = chg_now(c);
		barrier(); /* a run nesting in between sees the base with its tick */
		k->tick = j;
		/* the helper once a tick; per open, a few ALU instructions
		 * (the helper call measured ~40 ns an open here) */
		if (!(k->odds >> 32))
			k->rng = (__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32() | 1;
	}
	k->opens++;
	if (k->odds >> 32)
		goto timed;
	r = k->rng;
	r ^= r << 13;
	r ^= r >> 7;
	r ^= r << 17;
	k->rng = r;
	if ((r >> 32) < k->odds)
		goto timed;
	ns->open_ns = k->base_ns;
	ns->flags |= RCL_SOCK_UNTIMED;
	return;
timed:
	ns->open_ns = chg_now(c);
}

/* ------------------------------------------------------------------------
 * event times
 *
 * rcleak record stamped every event with a clock read of its own: 6 to 10
 * reads a connection, a sixth of record's BPF time under a connect storm.
 * An event's time need only be close (the report shows ms, ticks are
 * seconds apart) and in order with the walks. So per CPU, an event takes the
 * CPU's last clock read for an event while that was in the same tick and
 * walk generation; else it reads the clock. A stamp is thus about one tick
 * at most before the event's real time (longer by as much as the kernel
 * runs a timer tick late: jiffies stand still meanwhile), never after it,
 * and never before an iterator walk the event came after: userspace bumps
 * walk_gen when such a walk starts, after it read the refresh's time, so
 * an event after that start reads the clock anew and is stamped after the
 * refresh's time (--walk proc bumps nothing: there a tick). An event while
 * the CPU is quiet (the first of its tick) is timed exactly. The capture
 * says the bound (its header's event time resolution). A run that nests in
 * another may mix the two runs' updates: a stamp then comes from either's
 * read, both in this tick. (Reading the clock again every 16
 * events as well, for stamps closer under a storm, cost back a third of
 * the gain and made the capture 20 % larger: the times' deltas compress
 * less; tools/bench/cost-ab.sh.)
 */

static __always_inline __u64 event_ts(struct chg *c)
{
	struct rcl_open_clock *k = &c->pc->clk;
	__u64 j, g;

	if (c->now) /* this run read the clock already */
		return c->now;
	j = bpf_jiffies64();
	g = walk_gen;
	if (k->ev_tick == j && k->ev_gen == g)
		return k->ev_ns;
	k->ev_ns = chg_now(c);
	k->ev_tick = j;
	k->ev_gen = g;
	return k->ev_ns;
}

/* The local port on the way to CLOSE, where skc_num is 0 already. tp_btf's
 * socket is a struct sock to the verifier, and inet_sport lies beyond it:
 * the helper gives the same socket as a tcp_sock, which costs a call where
 * the CO-RE read costs a probe read (4 % of record's BPF time under a
 * connect storm, tools/bench/profile.sh). */
static __always_inline __u16 close_lport(const struct sock *sk, bool btf)
{
	if (btf) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

		return tp ? bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport) : 0;
	}
	return bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
}

/* Record one state change (rcleak record). comm: the acting process's name
 * (on the caller's stack) for the events that run in its context (connect,
 * listen, app and exit closes), else NULL. A full ring buffer is counted,
 * never silent. */
static __always_inline void emit(struct chg *c, __u8 kind, const struct rcl_owner *owner,
				 const char *comm, bool btf)
{
	const struct sock *sk = c->sk;
	struct rcl_event *e;

	if (!emit_events)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_add(c->pc, RCL_STAT_LOST_RINGBUF);
		return;
	}
	e->ts_ns = event_ts(c);
	__builtin_memset(e->laddr, 0, sizeof(e->laddr));
	__builtin_memset(e->raddr, 0, sizeof(e->raddr));
	e->sk = (__u64)sk;
	e->tgid = owner ? owner->tgid : 0;
	e->start_ns = owner ? owner->start_ns : 0;
	/* only these run in the process that acts; the rest is softirq, where
	 * current is whatever task was interrupted. Their owner is the current
	 * task's process (the callers take it from the task): no helper call. */
	if (kind == RCL_EV_CONNECT || kind == RCL_EV_LISTEN || kind == RCL_EV_APP_CLOSE ||
	    kind == RCL_EV_EXIT_CLOSE) {
		e->cur_tgid = owner ? owner->tgid : 0;
		if (comm)
			__builtin_memcpy(e->comm, comm, sizeof(e->comm));
		else
			__builtin_memset(e->comm, 0, sizeof(e->comm));
	} else {
		e->cur_tgid = 0;
		__builtin_memset(e->comm, 0, sizeof(e->comm));
	}
	e->oldstate = c->oldstate;
	e->newstate = c->newstate;
	e->kind = kind;
	/* the 4-tuple only where it is news: connect, accept, listen, and
	 * ESTABLISHED (a client's local port is chosen after connect()); the
	 * report fills the other events of a socket from those. Kernels before
	 * 6.18 (6.1, 6.12) fire the accept before the child has its peer's
	 * address and port: send none then, rather than 0.0.0.0:0, and the
	 * report takes the socket's next tuple (SYN_RECV -> ESTABLISHED). */
	if ((kind == RCL_EV_STATE && c->newstate != RCL_TCP_ESTABLISHED) ||
	    (kind == RCL_EV_ACCEPT && !c->rport)) {
		e->family = 0;
		e->lport = e->rport = 0;
		goto submit;
	}
	e->family = c->family;
	e->rport = c->rport;
	/* inet_sport, not the hook's skc_num, on the way to CLOSE: that is
	 * zeroed by then (inet_put_port). Both are 0 at connect(), before the
	 * source port is chosen. */
	e->lport = c->newstate == RCL_TCP_CLOSE ? close_lport(sk, btf) : c->lport;
	if (btf) {
		if (c->family == AF_INET) {
			__builtin_memcpy(e->laddr, &sk->__sk_common.skc_rcv_saddr, 4);
			__builtin_memcpy(e->raddr, &sk->__sk_common.skc_daddr, 4);
		} else {
			__builtin_memcpy(e->laddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
			__builtin_memcpy(e->raddr, &sk->__sk_common.skc_v6_daddr, 16);
		}
	} else if (c->family == AF_INET) {
		bpf_core_read(e->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e->raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(e->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
submit:
	/* never wake the reader: a wakeup per event would cost the traced
	 * workload a context switch each, and asking the ring how full it is
	 * reads a cache line the reader writes (~60 ns an event). The reader
	 * drains every 100 ms; 16 MiB hold ~1.5 s at the highest rate here. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

static const struct rcl_counters zero_counters;
static const struct rcl_owner no_owner;

/* A socket's owner as a procs key (whose padding must be zero). */
static __always_inline struct rcl_owner sock_owner(const struct rcl_sock *s)
{
	struct rcl_owner o = { .tgid = s->tgid, .start_ns = s->start_ns };

	return o;
}

/* The process table: per process, its counters, in the slot its owner
 * hashes to (proc_slots) or, when another process holds that slot, in the
 * procs map. A slot costs an inlined array lookup and two compares where a
 * hash lookup of the 16-byte key cost a fifth of the lifecycle program's
 * time (tools/bench/profile.sh). */
static __always_inline struct rcl_proc_slot *proc_slot(const struct rcl_owner *o)
{
	__u32 i = rcl_proc_slot_idx(o->tgid, o->start_ns);

	return bpf_map_lookup_elem(&proc_slots, &i);
}

/* Does slot e hold o's counters (published, not being written)? */
static __always_inline bool proc_slot_holds(const struct rcl_proc_slot *e,
					    const struct rcl_owner *o)
{
	return e && e->tag == (__u64)o->tgid << 1 && e->start_ns == o->start_ns;
}

/* A process's counters, or NULL when it has none yet. */
static __always_inline struct rcl_counters *proc_get(const struct rcl_owner *o)
{
	struct rcl_proc_slot *e = proc_slot(o);

	if (proc_slot_holds(e, o))
		return &e->c;
	return bpf_map_lookup_elem(&procs, o);
}

/* A process's counters; creates them on first use: in its slot when that
 * is free (claimed with a compare-and-swap, then published), else in the
 * procs map. */
static __always_inline struct rcl_counters *counters(const struct rcl_owner *o)
{
	struct rcl_proc_slot *e = proc_slot(o);
	__u64 tag = (__u64)o->tgid << 1;
	struct rcl_counters *c;

	if (proc_slot_holds(e, o))
		return &e->c;
	c = bpf_map_lookup_elem(&procs, o);
	if (c)
		return c;
	if (e && !e->tag && __sync_val_compare_and_swap(&e->tag, 0, tag | 1) == 0) {
		e->start_ns = o->start_ns;
		e->c = zero_counters;
		__sync_lock_test_and_set(&e->tag, tag); /* publish after the rest */
		return &e->c;
	}
	bpf_map_update_elem(&procs, o, &zero_counters, BPF_NOEXIST);
	c = bpf_map_lookup_elem(&procs, o);
	if (!c)
		stat_inc(RCL_STAT_LOST_PROC);
	return c;
}

/* A connection o opened: count it for o; returns o's counters (or NULL). */
static __always_inline struct rcl_counters *count_open(const struct rcl_owner *o)
{
	struct rcl_counters *c = counters(o);
	__s64 cur;

	if (!c)
		return NULL;
	__sync_fetch_and_add(&c->opened, 1);
	cur = __sync_add_and_fetch(&c->cur, 1);
	/* racy max: a concurrent open may undercount the peak by one */
	if (cur > 0 && (__u64)cur > c->peak)
		c->peak = cur;
	return c;
}

/* A connection accepted on a listen port of o's: counted apart from what o
 * opened (rcleak.h, struct rcl_counters), with no cur and no peak. */
static __always_inline void count_accept(const struct rcl_owner *o)
{
	struct rcl_counters *c = counters(o);

	if (c)
		__sync_fetch_and_add(&c->accepted, 1);
}

static __always_inline __u32 log2_bucket(__u64 ms)
{
	__u32 b = 0;

	if (!ms)
		return 0;
	/* bucket k >= 1 holds [2^(k-1), 2^k) */
	for (int i = 0; i < RCL_LIFE_BUCKETS - 1; i++) {
		if (!ms)
			break;
		ms >>= 1;
		b++;
	}
	return b < RCL_LIFE_BUCKETS ? b : RCL_LIFE_BUCKETS - 1;
}

/* The connection closed: count it for its owner, whose counters are c
 * when the caller has them already, and its lifetime when we saw it open. */
static __always_inline void count_close(struct chg *chg, const struct rcl_sock *s,
					struct rcl_counters *c)
{
	__u32 b;

	if (s->flags & RCL_SOCK_PENDING)
		return; /* a connect that never was a connection */
	if (!c) {
		struct rcl_owner o = sock_owner(s);

		c = counters(&o);
		if (!c)
			return;
	}
	__sync_fetch_and_add(s->flags & RCL_SOCK_SERVER ? &c->acc_closed : &c->closed, 1);
	if (s->flags & RCL_SOCK_SNAPSHOT)
		return;
	/* cur fell when the application let go; only a socket that died under
	 * it (a peer's reset) is taken off here. An accepted one is in no cur. */
	if (!(s->flags & (RCL_SOCK_RELEASED | RCL_SOCK_EXITED | RCL_SOCK_SERVER)))
		__sync_fetch_and_add(&c->cur, -1);
	if (s->flags & RCL_SOCK_UNTIMED)
		return; /* not drawn for the lifetime sample */
	b = log2_bucket((chg_now(chg) - s->open_ns) / 1000000);
	if (b < RCL_LIFE_BUCKETS)
		__sync_fetch_and_add(&c->life[b], 1);
}

/* A client socket still PENDING that leaves a state other than SYN_SENT was
 * established: its SYN_SENT -> ESTABLISHED run never reached the program
 * (the kernel skips a run that nests in one on the same CPU, and live mode
 * has no twin). Its open is counted now, so that a skipped run costs the
 * counts nothing, as before opens moved to ESTABLISHED. */
static __always_inline void open_pending(struct rcl_sock *s)
{
	if (!(s->flags & RCL_SOCK_PENDING))
		return;
	s->flags &= ~RCL_SOCK_PENDING;
	if (s->tgid) {
		struct rcl_owner o = sock_owner(s);

		count_open(&o);
	}
}

static __always_inline void settle_pending(struct rcl_sock *s, int oldstate)
{
	if (oldstate != RCL_TCP_SYN_SENT)
		open_pending(s);
}

/* The application side let go of the socket (tcp_close: to FIN_WAIT1,
 * LAST_ACK or CLOSE, in the context of the task that dropped the last
 * reference). When that task is exiting, the kernel is closing the fds the
 * process left open: a leak at exit. Otherwise the application closed it.
 * Either is counted for the task's process (the last holder), once per
 * socket, at the moment it happens, so the counts do not wait for the TCP
 * handshake that ends in CLOSE. __tcp_close() sets sk_shutdown to
 * SHUTDOWN_MASK before it changes the state (to FIN_WAIT1, LAST_ACK, or CLOSE
 * with a RST when data was left unread); a peer's RST (tcp_done) sets it
 * only after: that tells a close by the task in current from a softirq
 * transition that merely interrupted some task. */
#define SHUTDOWN_MASK 3

/* Returns true when it recorded the state change (as an app or exit close):
 * one tracepoint hit is one event, so the caller records nothing more. */
static __always_inline bool check_app_close(struct chg *chg, struct rcl_sock *s,
					    struct rcl_counters **owner_c, bool btf)
{
	const struct sock *sk = chg->sk;
	int oldstate = chg->oldstate;
	char comm[RCL_COMM_LEN];
	struct task_struct *task;
	struct rcl_counters *c;
	struct rcl_owner o;
	bool exiting;

	if (s->flags & (RCL_SOCK_EXITED | RCL_SOCK_RELEASED | RCL_SOCK_PENDING))
		return false;
	if (oldstate != RCL_TCP_ESTABLISHED && oldstate != RCL_TCP_CLOSE_WAIT &&
	    oldstate != RCL_TCP_SYN_SENT && oldstate != RCL_TCP_SYN_RECV)
		return false;
	if (((btf ? BPF_CORE_READ_BITFIELD(sk, sk_shutdown)
		  : BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown)) & SHUTDOWN_MASK) != SHUTDOWN_MASK)
		return false;
	/* only now: a peer's reset (softirq) is told apart by sk_shutdown */
	task = bpf_get_current_task_btf();
	exiting = (btf ? task->flags : BPF_CORE_READ(task, flags)) & PF_EXITING;
	owner_of(task, &o, btf);
	/* closed by another holder (fork, fd passing): its process, if it is
	 * of the tree. So is a socket found by a walk (open before rcleak
	 * started): in `rcleak run` a process outside the tree that exited
	 * with a connection it held from before was counted a leak of CMD's
	 * run (exit 5). The owner of a socket seen opening was in the tree
	 * at its connect: no walk up its ancestors for its own close. */
	if ((o.tgid != s->tgid || (s->flags & RCL_SOCK_SNAPSHOT)) && !traced(task, btf))
		return false;
	c = counters(&o);
	if (!c)
		return false;
	/* a process that never connected (a fork's child that closes, or
	 * exits with, its parent's connections) has no name yet, and one that
	 * lived shorter than a walk would keep none: `rcleak run` blamed
	 * "pid N ()". The closer is the current task (sk_shutdown above). */
	if (!c->comm[0]) {
		current_comm(comm, task, btf);
		__builtin_memcpy(c->comm, comm, sizeof(comm));
	}
	/* an accepted connection in fields of its own (struct rcl_counters) */
	if (exiting) {
		s->flags |= RCL_SOCK_EXITED;
		__sync_fetch_and_add(s->flags & RCL_SOCK_SERVER ? &c->acc_exit_closed
							 : &c->exit_closed, 1);
	} else {
		s->flags |= RCL_SOCK_RELEASED;
		__sync_fetch_and_add(s->flags & RCL_SOCK_SERVER ? &c->acc_released
							 : &c->released, 1);
	}
	/* usually the closer is the owner: no second lookup */
	if (o.tgid == s->tgid && o.start_ns == s->start_ns)
		*owner_c = c;
	/* the opener no longer has it open (its peak counts opens it holds;
	 * an accepted connection is in no cur) */
	if (!(s->flags & (RCL_SOCK_SNAPSHOT | RCL_SOCK_SERVER)) && s->tgid) {
		struct rcl_counters *oc = *owner_c;

		if (!oc) {
			struct rcl_owner so = sock_owner(s);

			oc = proc_get(&so);
		}
		if (oc)
			__sync_fetch_and_add(&oc->cur, -1);
	}
	if (emit_events)
		current_comm(comm, task, btf);
	emit(chg, exiting ? RCL_EV_EXIT_CLOSE : RCL_EV_APP_CLOSE, &o, emit_events ? comm : NULL, btf);
	return true;
}

/* ------------------------------------------------------------------------
 * lifecycle: one body, three hook flavours
 */

/* The server end of rcleak's own --ask-redis link, taken for a client's at
 * SYN_RECV: before 6.18 inet_csk_clone_lock() sets that state before it
 * copies the peer's port in, so the check there cannot see the port. The
 * open is taken back and the socket forgotten (as if SYN_RECV had seen it;
 * a later walk may find it as a snapshot, which counts nothing). */
static __always_inline void drop_own(__u64 key)
{
	struct rcl_sock *s = sock_get(key);

	if (!s || !(s->flags & RCL_SOCK_SERVER))
		return;
	if (s->tgid) {
		struct rcl_owner o = sock_owner(s);
		struct rcl_counters *c = proc_get(&o);

		if (c)
			__sync_fetch_and_add(&c->accepted, -1);
	}
	sock_del(key);
}

static __always_inline int on_state(struct rcl_cpu *pc, const void *sk, int oldstate,
				    int newstate, __u16 lport, __u16 rport, __u16 family,
				    __u16 protocol, bool btf)
{
	struct chg chg = { .sk = sk, .oldstate = oldstate, .newstate = newstate,
			   .lport = lport, .rport = rport, .family = family };
	struct rcl_counters *oc = NULL; /* the socket owner's, once looked up */
	struct rcl_owner owner = {};
	struct rcl_sock *s, ns = {};
	struct task_struct *task;
	char comm[RCL_COMM_LEN];
	__u64 key;
	bool lw, rw;

	if (protocol != IPPROTO_TCP || (family != AF_INET && family != AF_INET6))
		return 0;
	/* On the way to CLOSE, tcp_set_state() unhashes the socket and
	 * inet_put_port() zeroes its local port before the tracepoint fires:
	 * ports cannot be trusted there. Any socket we track is in the map. */
	if (newstate == RCL_TCP_CLOSE && oldstate != RCL_TCP_LISTEN) {
		chg.pc = pc ? pc : this_cpu();
		if (!chg.pc)
			return 0;
		key = sock_id(chg.pc, sk, btf);
		s = sock_get(key);
		if (!s)
			return 0;
		stat_add(chg.pc, RCL_STAT_EVENTS);
		settle_pending(s, oldstate);
		if (!check_app_close(&chg, s, &oc, btf)) {
			owner = sock_owner(s);
			emit(&chg, RCL_EV_CLOSE, &owner, NULL, btf);
		}
		if (s->tgid)
			count_close(&chg, s, oc);
		sock_del(key);
		return 0;
	}
	lw = port_watched(lport);
	rw = port_watched(rport);
	if (!lw && !rw)
		return 0;
	chg.pc = pc ? pc : this_cpu();
	if (!chg.pc)
		return 0;
	stat_add(chg.pc, RCL_STAT_EVENTS);

	/* the socket's number only where it is used: live does nothing with a
	 * handshake (a third of a connect storm's state changes) */
	switch (newstate) {
	case RCL_TCP_LISTEN: /* listen(): process context */
		if (!lw)
			return 0;
		task = bpf_get_current_task_btf();
		if (!traced(task, btf))
			return 0;
		owner_of(task, &owner, btf);
		{
			__u32 la[4] = {};

			sock_laddr(sk, family, la, btf);
			listener_set(lport, sock_net(sk, btf), family, la, &owner);
		}
		current_comm(comm, task, btf);
		oc = counters(&owner);
		if (oc) {
			oc->flags |= RCL_PROC_LISTENER;
			__builtin_memcpy(oc->comm, comm, sizeof(comm));
		}
		emit(&chg, RCL_EV_LISTEN, &owner, comm, btf);
		return 0;
	case RCL_TCP_SYN_SENT: /* connect(): process context */
		task = bpf_get_current_task_btf();
		owner_of(task, &owner, btf);
		if (owner.tgid == self_tgid || !traced(task, btf))
			return 0;
		ns.tgid = owner.tgid;
		ns.start_ns = owner.start_ns;
		ns.flags = RCL_SOCK_CLIENT | RCL_SOCK_PENDING;
		stamp_open(&chg, &ns);
		key = sock_id(chg.pc, sk, btf);
		if (sock_put(key, &ns)) {
			stat_add(chg.pc, RCL_STAT_LOST_SOCK);
			return 0;
		}
		/* read once, for the process and the event (not back from the
		 * process's entry, which another thread may be renaming) */
		current_comm(comm, task, btf);
		oc = counters(&owner); /* counted once established */
		if (oc) /* short-lived processes keep a name */
			__builtin_memcpy(oc->comm, comm, sizeof(comm));
		emit(&chg, RCL_EV_CONNECT, &owner, comm, btf);
		return 0;
	case RCL_TCP_SYN_RECV: /* passive open: softirq, owner = listener's */
		if (!lw || oldstate != RCL_TCP_LISTEN)
			return 0;
		if (self_end(sk, rport, family))
			return 0;
		{
			__u32 la[4] = {};

			sock_laddr(sk, family, la, btf);
			listener_get(lport, sock_net(sk, btf), family, la, &owner);
		}
		ns.tgid = owner.tgid;
		ns.start_ns = owner.start_ns;
		ns.flags = RCL_SOCK_SERVER;
		stamp_open(&chg, &ns);
		key = sock_id(chg.pc, sk, btf);
		if (sock_put(key, &ns)) {
			stat_add(chg.pc, RCL_STAT_LOST_SOCK);
			return 0;
		}
		if (owner.tgid)
			count_accept(&owner);
		emit(&chg, RCL_EV_ACCEPT, &owner, NULL, btf);
		return 0;
	case RCL_TCP_CLOSE: /* a listener closing */
		if (lw) {
			__u32 la[4] = {};

			sock_laddr(sk, family, la, btf);
			listener_set(lport, sock_net(sk, btf), family, la, &no_owner);
		}
		return 0;
	case RCL_TCP_ESTABLISHED:
		if (oldstate == RCL_TCP_SYN_RECV && lw && self_end(sk, rport, family)) {
			drop_own(sock_id(chg.pc, sk, btf));
			return 0;
		}
		if (oldstate != RCL_TCP_SYN_SENT)
			break;
		/* a client's connection counts from here (RCL_SOCK_PENDING) */
		s = sock_get(sock_id(chg.pc, sk, btf));
		if (!s)
			return 0;
		open_pending(s);
		owner = sock_owner(s);
		emit(&chg, RCL_EV_STATE, &owner, NULL, btf);
		return 0;
	case RCL_TCP_FIN_WAIT1:
	case RCL_TCP_LAST_ACK:
		s = sock_get(sock_id(chg.pc, sk, btf));
		if (s)
			settle_pending(s, oldstate);
		if (s && !check_app_close(&chg, s, &oc, btf)) {
			owner = sock_owner(s);
			emit(&chg, RCL_EV_STATE, &owner, NULL, btf);
		}
		return 0;
	}
	if (emit_events) { /* ESTABLISHED, CLOSE_WAIT, ...: only for the record */
		s = sock_get(sock_id(chg.pc, sk, btf));
		if (s) {
			owner = sock_owner(s);
			emit(&chg, RCL_EV_STATE, &owner, NULL, btf);
		}
	}
	return 0;
}

/* pc: this CPU's state when the caller has it, else NULL (looked up only
 * for a watched socket) */
static __always_inline int on_sock(struct rcl_cpu *pc, const struct sock *sk, int oldstate,
				   int newstate, bool btf)
{
	__u16 family, lport, rport, protocol;

	if (btf) {
		family = sk->__sk_common.skc_family;
		lport = sk->__sk_common.skc_num;
		rport = bpf_ntohs(sk->__sk_common.skc_dport);
		protocol = sk->sk_protocol;
	} else {
		family = BPF_CORE_READ(sk, __sk_common.skc_family);
		lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		protocol = BPF_CORE_READ(sk, sk_protocol);
	}
	return on_state(pc, sk, oldstate, newstate, lport, rport, family, protocol, btf);
}

/* ------------------------------------------------------------------------
 * runs the kernel skipped
 *
 * Kernels that guard __bpf_trace_run with prog->active (6.18 here) run a
 * tp_btf or raw_tp program at most once per CPU at a time: a state change
 * in a softirq that interrupts the lifecycle program on the same CPU skips
 * it, and only bpf_prog_info.recursion_misses tells. `rcleak record`
 * therefore attaches a twin after it on the same hook. The kernel runs the
 * programs of a hook one after the other, so for every state change the
 * twin runs right after the lifecycle program ran, or was skipped. The
 * lifecycle program pushes a note (socket, transition) at the end of each
 * run onto a per-CPU stack; the twin pops it, or, when it is not there,
 * does the work itself.
 *
 * Hook hits on a CPU nest like calls. A hit nested between a run and its
 * twin pushes and pops its own note, so the stack holds exactly the notes
 * of the hits in between their lifecycle run and their twin. The only notes
 * left over are those of hits nested in a twin (the kernel skips the inner
 * twin): the outer twin drops everything pushed above its own note, and
 * puts the top back where it found it when it ends. The push moves the top
 * before it writes, and a pop clears the socket, so a half-written or
 * popped note never matches.
 *
 * Measured on 6.18 under a connect storm with RPS on loopback
 * (tools/bench/skips.sh): without the twin 58-64 % of the skipped runs
 * were accepts and handshakes missing from the capture, 2.1-2.6 % of the
 * connections; with it 0.4-14 % of the skipped runs, 0.02-0.52 %. The
 * residue comes in bursts of 1-3 ms in which hits reached neither program
 * (nor an observer on the classic tracepoint, nor a lone counter on this
 * hook with rcleak not running: tools/bench/hookloss.sh), and that kernel
 * (6.18-fc) counted no skip for them. So `lost` is the kernel's count of
 * skipped runs, not a bound, and reconciliation repairs the counts.
 */

static __always_inline void note_run(struct rcl_runs *r, const void *sk, int oldstate,
				    int newstate)
{
	__u32 t = r->top;

	r->top = t + 1;
	barrier();
	r->change[t & (RCL_RUN_SLOTS - 1)] = (__u16)(oldstate << 8 | newstate);
	barrier();
	r->sk[t & (RCL_RUN_SLOTS - 1)] = (__u64)sk;
}

static __always_inline int lifecycle(const struct sock *sk, int oldstate, int newstate, bool btf)
{
	struct rcl_cpu *pc;

	if (!note_runs)
		return on_sock(NULL, sk, oldstate, newstate, btf);
	pc = this_cpu();
	on_sock(pc, sk, oldstate, newstate, btf);
	if (pc)
		note_run(&pc->runs, sk, oldstate, newstate);
	return 0;
}

static __always_inline int twin(const struct sock *sk, int oldstate, int newstate, bool btf)
{
	__u16 change = (__u16)(oldstate << 8 | newstate);
	struct rcl_cpu *pc = this_cpu();
	struct rcl_runs *r;
	__u32 top, base;
	bool ran = false;

	if (!pc)
		return 0; /* cannot tell: never count twice */
	r = &pc->runs;
	base = top = r->top;
	for (__u32 i = 0; i < RCL_RUN_SLOTS && i < top; i++) {
		__u32 j = (top - 1 - i) & (RCL_RUN_SLOTS - 1);

		if (r->sk[j] == (__u64)sk && r->change[j] == change) {
			r->sk[j] = 0;
			base = top - 1 - i;
			ran = true;
			break;
		}
	}
	r->top = base;
	if (!ran) {
		stat_add(pc, RCL_STAT_RECOVERED);
		on_sock(pc, sk, oldstate, newstate, btf);
	}
	r->top = base; /* drop notes of hits nested in this twin */
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(rcl_state_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	return lifecycle(sk, oldstate, newstate, true);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(rcl_state_raw, const struct sock *sk, const int oldstate, const int newstate)
{
	return lifecycle(sk, oldstate, newstate, false);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(rcl_twin_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	return twin(sk, oldstate, newstate, true);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(rcl_twin_raw, const struct sock *sk, const int oldstate, const int newstate)
{
	return twin(sk, oldstate, newstate, false);
}

SEC("tracepoint/sock/inet_sock_set_state")
int rcl_state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	return on_state(NULL, ctx->skaddr, ctx->oldstate, ctx->newstate, ctx->sport,
			ctx->dport, ctx->family, ctx->protocol, false);
}

/* ------------------------------------------------------------------------
 * walks
 */

/* The fd table the task_file walk is in, counted as it goes. It lives in
 * .bss and is committed only when everything the program wrote for an
 * object reached the seq_file: when the buffer fills, seq_file throws that
 * object's output away and shows the object again on the next read(), and
 * a half-committed count would then be counted twice. */
struct rcl_walk_table walk_cur = {};

/* See struct rcl_walk_task. */
struct rcl_walk_task walk_task = {};
volatile __u64 walk_sk_word;

/* Write the summary of table t; 0 on success (or nothing to write). */
static __always_inline int flush_table(struct seq_file *seq, const struct rcl_walk_table *t)
{
	struct rcl_task_rec tr = {};

	if (t->gen != walk_gen || !t->watched)
		return 0;
	tr.tgid = t->tgid;
	tr.mark = RCL_WALK_TASK_MARK;
	tr.nfds = t->nfds;
	tr.nunix = t->nunix;
	return bpf_seq_write(seq, &tr, sizeof(tr));
}

SEC("iter/task_file")
int rcl_walk_files(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct rcl_fd_rec rec = {};
	struct rcl_walk_table next;
	struct rcl_sock *s;
	struct socket *sock;
	struct sock *sk;
	__u64 files;

	if (!task || !file) { /* the end of the walk: the last table */
		if (flush_table(seq, &walk_cur) == 0)
			walk_cur.watched = 0;
		return 0;
	}
	rec.tgid = task->tgid;
	if (rec.tgid == self_tgid || !traced(task, true))
		return 0;
	files = (__u64)BPF_CORE_READ(task, files);
	next = walk_cur;
	if (next.gen != walk_gen || next.files != files) { /* a new fd table */
		if (flush_table(seq, &next))
			return 0; /* buffer full: this object comes again */
		next.gen = walk_gen;
		next.files = files;
		next.tgid = rec.tgid;
		next.nfds = 0;
		next.nunix = 0;
		next.watched = 0;
	}
	next.nfds++;

	/* sock and sk are BTF pointers: plain (fault-checked) loads, where a
	 * probe read is a helper call each, ten of them per socket */
	sock = bpf_sock_from_file(file);
	if (!sock)
		goto commit;
	sk = sock->sk;
	if (!sk)
		goto commit;
	if (sk->sk_protocol != IPPROTO_TCP) {
		/* The server end of a unix stream connection: connected, and
		 * bound to the address of the listener that accepted it (a
		 * client's end has none). Redis counts such clients in
		 * maxclients. */
		if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_UNIX &&
		    BPF_CORE_READ(sk, sk_type) == SOCK_STREAM &&
		    BPF_CORE_READ(sock, state) == SS_CONNECTED &&
		    BPF_CORE_READ((struct unix_sock *)sk, addr))
			next.nunix++;
		goto commit;
	}
	if (sk->sk_type != SOCK_STREAM)
		goto commit;
	rec.family = sk->__sk_common.skc_family;
	if (rec.family != AF_INET && rec.family != AF_INET6)
		goto commit;
	rec.lport = sk->__sk_common.skc_num;
	rec.rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (!port_watched(rec.lport) && !port_watched(rec.rport))
		goto commit;

	rec.fd = ctx->fd;
	/* the socket's address as a number (the key of the socket table):
	 * the verifier refuses arithmetic on the BTF pointer, and a value
	 * read back from a map is a number (a probe read was a helper call).
	 * One walk runs at a time. */
	walk_sk_word = (__u64)sk;
	rec.sk = walk_sk_word;
	rec.state = sk->__sk_common.skc_state;
	rec.jiffies = bpf_jiffies64();
	{
		/* probe reads: the verifier bounds sk's plain loads to struct
		 * sock, and bpf_skc_to_tcp_sock() takes no pointer walked to
		 * from the file (untrusted) */
		struct tcp_sock *tp = (struct tcp_sock *)sk;

		rec.last_rcv = BPF_CORE_READ(tp, inet_conn.icsk_ack.lrcvtime);
		rec.last_snd = BPF_CORE_READ(tp, lsndtime);
		/* the FIN carried an ACK, which stamped rcv_tstamp; a pure FIN
		 * leaves lrcvtime at the last data. In the record's own bytes:
		 * 8 more per socket cost 50 ms and 1.7 MiB at 100k connections */
		if (rec.state == RCL_TCP_CLOSE_WAIT) {
			__u32 ack = BPF_CORE_READ(tp, rcv_tstamp);

			if ((__s32)(ack - rec.last_rcv) > 0)
				rec.last_rcv = ack;
			rec.flags |= RCL_FD_FIN;
		}
	}
	if (walk_task.gen != walk_gen || walk_task.files != files || walk_task.tgid != rec.tgid) {
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);

		walk_task.start_ns = proc_start_ns(leader, false);
		walk_task.nofile_cur = rcl_nofile32(BPF_CORE_READ(task, signal, rlim[RLIMIT_NOFILE].rlim_cur));
		walk_task.nofile_max = rcl_nofile32(BPF_CORE_READ(task, signal, rlim[RLIMIT_NOFILE].rlim_max));
		bpf_probe_read_kernel_str(walk_task.comm, sizeof(walk_task.comm), &leader->comm);
		walk_task.exec_id = (__u8)BPF_CORE_READ(leader, self_exec_id);
		walk_task.gen = walk_gen;
		walk_task.files = files;
		walk_task.tgid = rec.tgid;
	}
	rec.start_ns = walk_task.start_ns;
	rec.nofile_cur = walk_task.nofile_cur;
	rec.nofile_max = walk_task.nofile_max;
	__builtin_memcpy(rec.comm, walk_task.comm, sizeof(rec.comm));
	rec.exec_id = walk_task.exec_id;
	/* word by word: plain loads, of the alignment the fields have */
	if (rec.family == AF_INET) {
		*(__u32 *)rec.laddr = sk->__sk_common.skc_rcv_saddr;
		*(__u32 *)rec.raddr = sk->__sk_common.skc_daddr;
	} else {
		for (int i = 0; i < 4; i++) {
			((__u32 *)rec.laddr)[i] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			((__u32 *)rec.raddr)[i] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];
		}
	}

	/* A socket that was open before we started (or whose open event was
	 * lost) has no owner yet: the first holder becomes its owner, so its
	 * close is attributed. */
	s = sock_get(rec.sk);
	if (s) {
		if (!s->tgid) {
			s->start_ns = rec.start_ns;
			s->tgid = rec.tgid;
		}
		if (!(s->flags & RCL_SOCK_SNAPSHOT))
			rec.open_ns = s->open_ns;
	}

	if (bpf_seq_write(seq, &rec, sizeof(rec)))
		return 0; /* buffer full: this object comes again */
	if (rec.state == RCL_TCP_LISTEN && port_watched(rec.lport)) {
		/* a listener from before rcleak started, or whose listen()
		 * event the last walk's notes overwrote: with its namespace,
		 * which userspace cannot tell from the record */
		struct rcl_owner lo = { .tgid = rec.tgid, .start_ns = rec.start_ns };

		listener_set(rec.lport, sock_net(sk, false), rec.family, (const __u32 *)rec.laddr, &lo);
	}
	next.watched = 1;
commit:
	walk_cur = next;
	return 0;
}

/* Every watched full socket that exists: insert the missing ones. */
SEC("iter/tcp")
int rcl_walk_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct rcl_sock *s, ns = {};
	__u16 family, lport, rport;
	__u64 key;
	__u8 state;

	if (!skc)
		return 0;
	family = BPF_CORE_READ(skc, skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	state = BPF_CORE_READ(skc, skc_state);
	if (state == RCL_TCP_TIME_WAIT || state == RCL_TCP_NEW_SYN_RECV ||
	    state == RCL_TCP_LISTEN || state == RCL_TCP_CLOSE)
		return 0;
	lport = BPF_CORE_READ(skc, skc_num);
	rport = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));
	if (!port_watched(lport) && !port_watched(rport))
		return 0;

	key = sock_id(this_cpu(), skc, true);
	s = sock_get(key);
	if (s) {
		s->seen_gen = (__u16)walk_gen;
		return 0;
	}
	ns.open_ns = bpf_ktime_get_ns();
	ns.flags = RCL_SOCK_SNAPSHOT;
	ns.seen_gen = (__u16)walk_gen;
	if (bpf_map_update_elem(&socks, &key, &ns, BPF_NOEXIST) == 0) {
		if (reconciling)
			stat_inc(RCL_STAT_REPAIR_ADD);
	}
	return 0;
}
