// SPDX-License-Identifier: GPL-2.0
/*
 * lifecycle.bpf.h - one body for the state-change programs of all three
 * hook flavours: what each TCP state change does to the socket table and
 * the counters.
 */
#ifndef RCLEAK_LIFECYCLE_BPF_H
#define RCLEAK_LIFECYCLE_BPF_H

#include "task.bpf.h"
#include "listen.bpf.h"
#include "socktab.bpf.h"
#include "clock.bpf.h"
#include "emit.bpf.h"
#include "count.bpf.h"

/* A listener's owner when it closes: none. */
static const struct rcl_owner no_owner;

/* The server end of rcleak's own --ask-redis link, taken for a client's at
 * SYN_RECV: before 6.18 inet_csk_clone_lock() sets that state before it
 * copies the peer's port in, so the check there cannot see the port. The
 * open is taken back and the socket forgotten (as if SYN_RECV had seen it;
 * the tcp walk leaves both ends of rcleak's links out: rcl_walk_tcp). */
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

/* An open (a connect's SYN_SENT, an accept's SYN_RECV) into the socket
 * table: owner o, flags, the open time, whether it is in another network
 * namespace. false: the table is full (counted). ns is the caller's zeroed
 * entry, on its stack. */
static __always_inline bool track_open(struct chg *chg, struct rcl_sock *ns,
				       const struct rcl_owner *o, __u16 flags, bool btf)
{
	ns->tgid = o->tgid;
	ns->start_ns = o->start_ns;
	ns->flags = flags;
	if (sock_other_net(chg->sk, btf))
		ns->flags |= RCL_SOCK_OTHER_NET;
	stamp_open(chg, ns);
	if (sock_put(sock_id(chg->pc, chg->sk, btf), ns)) {
		stat_add(chg->pc, RCL_STAT_LOST_SOCK);
		return false;
	}
	return true;
}

/* record: a passive open's accept is written when the new socket leaves
 * SYN_RECV (at ESTABLISHED, a few microseconds after, nearly always), in
 * place of that transition's own event: one event of a connection's six
 * fewer, and the accept has its peer on every kernel (before 6.18 the
 * child's SYN_RECV comes before its peer's address and port are in). Once
 * a socket: when the hook never delivered that transition (a softirq storm,
 * bench/NOTES.md), the socket's next one writes it, before its own event.
 * Not for a socket a walk found (SNAPSHOT): it was accepted before. */
static __always_inline void emit_accept(struct chg *chg, struct rcl_sock *s, bool btf)
{
	struct rcl_owner o;

	if (!emit_events || (s->flags & (RCL_SOCK_SERVER | RCL_SOCK_SNAPSHOT | RCL_SOCK_ACC_OUT)) !=
			    RCL_SOCK_SERVER)
		return;
	s->flags |= RCL_SOCK_ACC_OUT;
	o = sock_owner(s);
	emit(chg, RCL_EV_ACCEPT, &o, NULL, btf);
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
		emit_accept(&chg, s, btf);
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
		if (!track_open(&chg, &ns, &owner, RCL_SOCK_CLIENT | RCL_SOCK_PENDING, btf))
			return 0;
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
		if (self_end(sk, rport, lport, family))
			return 0;
		{
			__u32 la[4] = {};

			sock_laddr(sk, family, la, btf);
			listener_get(lport, sock_net(sk, btf), family, la, &owner);
		}
		if (!track_open(&chg, &ns, &owner, RCL_SOCK_SERVER, btf))
			return 0;
		if (owner.tgid)
			count_accept(&owner);
		return 0; /* its event when it leaves SYN_RECV (emit_accept) */
	case RCL_TCP_CLOSE: /* a listener closing */
		if (lw) {
			__u32 la[4] = {};

			sock_laddr(sk, family, la, btf);
			listener_set(lport, sock_net(sk, btf), family, la, &no_owner);
		}
		return 0;
	case RCL_TCP_ESTABLISHED:
		if (oldstate == RCL_TCP_SYN_RECV && lw && self_end(sk, rport, lport, family)) {
			drop_own(sock_id(chg.pc, sk, btf));
			return 0;
		}
		if (oldstate == RCL_TCP_SYN_RECV) {
			if (emit_events && (s = sock_get(sock_id(chg.pc, sk, btf))))
				emit_accept(&chg, s, btf);
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
		if (s)
			emit_accept(&chg, s, btf);
		if (s && !check_app_close(&chg, s, &oc, btf)) {
			owner = sock_owner(s);
			emit(&chg, RCL_EV_STATE, &owner, NULL, btf);
		}
		return 0;
	}
	if (emit_events) { /* ESTABLISHED, CLOSE_WAIT, ...: only for the record */
		s = sock_get(sock_id(chg.pc, sk, btf));
		if (s) {
			emit_accept(&chg, s, btf);
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

#endif /* RCLEAK_LIFECYCLE_BPF_H */
