// SPDX-License-Identifier: GPL-2.0
/*
 * listen.bpf.h - the listeners of watched ports (who accepts a connection
 * is the listener's owner), and the server end of rcleak's own link.
 */
#ifndef RCLEAK_LISTEN_BPF_H
#define RCLEAK_LISTEN_BPF_H

#include "maps.bpf.h"
#include "task.bpf.h"

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

/* Is the socket in another network namespace than rcleak's? Asked at
 * opens only (the socket table's RCL_SOCK_OTHER_NET). */
static __always_inline bool sock_other_net(const void *sk, bool btf)
{
	const struct net *net;

	if (!self_netns)
		return false;
	if (btf) {
		net = ((const struct sock *)sk)->__sk_common.skc_net.net;
		return net->ns.inum != self_netns;
	}
	return BPF_CORE_READ((struct sock *)sk, __sk_common.skc_net.net, ns.inum) != self_netns;
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


/* Is port, at the socket's local address (local) or its peer's, one end
 * of rcleak's own --ask-redis links (self_eps), other the port at the
 * other end (the server's, or rcleak's)? In the link's network namespace
 * only: a host client bound to the address and port rcleak asks a
 * container's Redis from is a client of the host's Redis. */
static __always_inline bool self_addr(const void *sk, __u16 port, __u16 other, __u16 family, bool local)
{
	__u32 a[4] = {}, net = 0;

	if (!self_port(port))
		return false;
	if (family == AF_INET) {
		a[2] = bpf_htonl(0xffff);
		a[3] = local ? BPF_CORE_READ((struct sock *)sk, __sk_common.skc_rcv_saddr)
			     : BPF_CORE_READ((struct sock *)sk, __sk_common.skc_daddr);
	} else if (local) {
		BPF_CORE_READ_INTO(&a, (struct sock *)sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32);
	} else {
		BPF_CORE_READ_INTO(&a, (struct sock *)sk, __sk_common.skc_v6_daddr.in6_u.u6_addr32);
	}
	for (int i = 0; i < RCL_SELF_EPS; i++) {
		const __u32 *e = (const __u32 *)self_eps[i].addr;

		if (self_eps[i].port != port || self_eps[i].srv_port != other || e[0] != a[0] ||
		    e[1] != a[1] || e[2] != a[2] || e[3] != a[3])
			continue;
		if (!self_eps[i].netns)
			return true;
		if (!net) /* read once, for an end that matched */
			net = BPF_CORE_READ((struct sock *)sk, __sk_common.skc_net.net, ns.inum);
		if (net == self_eps[i].netns)
			return true;
	}
	return false;
}

/* Is sk the server end of rcleak's own link (its peer at rport one of
 * self_eps, its own port lport the link's server port)? The port's bit
 * first: one load for every other accept. */
static __always_inline bool self_end(const void *sk, __u16 rport, __u16 lport, __u16 family)
{
	return self_addr(sk, rport, lport, family, false);
}

#endif /* RCLEAK_LISTEN_BPF_H */
