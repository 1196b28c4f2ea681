// SPDX-License-Identifier: GPL-2.0
/*
 * count.bpf.h - the per-process counters: opens, accepts, closes,
 * lifetimes, and the closes an application made (the close accounting).
 */
#ifndef RCLEAK_COUNT_BPF_H
#define RCLEAK_COUNT_BPF_H

#include "task.bpf.h"
#include "socktab.bpf.h"
#include "emit.bpf.h"

static const struct rcl_counters zero_counters;

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
	/* The process is dying (a fatal signal came, or exit_group()), and
	 * this task has not reached its exit yet: a close the signal's way
	 * out ran first. A thread blocked in recv() on a socket whose fd was
	 * closed keeps it alive; killed, it lets go as it leaves recv(), and
	 * that close was counted the application's own: a proxy killed with
	 * 6 connections kept so read closed 6, leaked 0. */
	if (!exiting)
		exiting = (btf ? task->signal->flags : BPF_CORE_READ(task, signal, flags)) & SIGNAL_GROUP_EXIT;
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

#endif /* RCLEAK_COUNT_BPF_H */
