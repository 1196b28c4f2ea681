// SPDX-License-Identifier: GPL-2.0
/*
 * emit.bpf.h - one state change to the events ring buffer (`rcleak
 * record`).
 */
#ifndef RCLEAK_EMIT_BPF_H
#define RCLEAK_EMIT_BPF_H

#include "clock.bpf.h"

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
	/* an accept is the passive open, whenever it is written (emit_accept) */
	e->oldstate = kind == RCL_EV_ACCEPT ? RCL_TCP_LISTEN : c->oldstate;
	e->newstate = kind == RCL_EV_ACCEPT ? RCL_TCP_SYN_RECV : c->newstate;
	e->kind = kind;
	/* the 4-tuple only where it is news: connect, accept, listen, and
	 * ESTABLISHED (a client's local port is chosen after connect()); the
	 * report fills the other events of a socket from those. An accept
	 * without its peer's port (none now: emit_accept; builds before wrote
	 * it at SYN_RECV, where kernels before 6.18 had no peer yet) sends no
	 * tuple rather than 0.0.0.0:0, and the report takes the socket's next. */
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

#endif /* RCLEAK_EMIT_BPF_H */
