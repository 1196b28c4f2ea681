// SPDX-License-Identifier: GPL-2.0
/* collect_own.c - the local ends of rcleak's own --ask-redis links, which
 * are nobody's connections: noted as each link is made, in userspace
 * (own[]) and in the kernel's self_eps, and told apart from the clients in
 * each walk and in each CLIENT LIST. See collect_int.h. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "collect.h"
#include "collect_int.h"

/* addr (family's) as IPv6, an IPv4 one v4-mapped */
static void as_v6(int family, const void *addr, __u8 out[16])
{
	memset(out, 0, 16);
	if (family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, addr, 4);
	} else {
		memcpy(out, addr, 16);
	}
}

unsigned long collect_net_of(__u32 pid)
{
	char path[48];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	return stat(path, &st) ? 0 : (unsigned long)st.st_ino;
}

/* The slot of family/addr:port, seen by process tgid, if it is the local
 * end of one of rcleak's own links, else -1. By the address too: a remote
 * client may use the same source port. And in the link's network namespace
 * only: a host client bound to the 127.0.0.1:PORT rcleak asks a container's
 * Redis from is another connection, which was left out of the host Redis's
 * clients. */
static int own_slot(const struct collector *c, int family, const void *addr, __u16 port, __u32 tgid)
{
	__u8 a[16];

	if (!((c->own_port_bits[port >> 6] >> (port & 63)) & 1))
		return -1;
	as_v6(family, addr, a);
	for (int i = 0; i < RCL_SELF_EPS; i++)
		if (c->own[i].port && c->own[i].port == port && !memcmp(c->own[i].addr, a, 16) &&
		    (!c->own[i].net || collect_net_of(tgid) == c->own[i].net))
			return i;
	return -1;
}

bool collect_own_end(const struct collector *c, int family, const void *addr, __u16 port, __u32 tgid)
{
	return own_slot(c, family, addr, port, tgid) >= 0;
}

/* Server-side ends of rcleak's own queries are not the server's clients;
 * their slots are marked held. */
bool collect_own_connection(struct collector *c, const struct rcl_fd_rec *r)
{
	int i = r->state != RCL_TCP_LISTEN ? own_slot(c, r->family, r->raddr, r->rport, r->tgid) : -1;

	if (i >= 0) {
		c->own[i].held = true;
		c->own[i].holder.tgid = r->tgid;
		c->own[i].holder.start_ns = r->start_ns;
	}
	return i >= 0;
}

void collect_note_own_port(int family, const void *addr, __u16 port, void *ctx)
{
	struct collector *c = ctx;
	int slot = c->own_next;
	__u16 old;

	/* the oldest end that no process held at the last walk falls out:
	 * its server end is gone. One a server still holds stays (a server
	 * stalled since, its links rcleak gave up on unaccepted), unless all
	 * are held */
	for (int k = 0; k < RCL_SELF_EPS; k++) {
		int i = (c->own_next + k) % RCL_SELF_EPS;

		if (!c->own[i].port || !c->own[i].held) {
			slot = i;
			break;
		}
	}
	old = c->own[slot].port;
	c->own_next = (slot + 1) % RCL_SELF_EPS;
	/* its port's bit stays while another end has that port */
	c->own[slot].port = 0;
	tracer__self_ep(c->tracer, slot, NULL, 0);
	if (old) {
		bool other = false;

		for (int i = 0; i < RCL_SELF_EPS; i++)
			other |= c->own[i].port == old;
		if (!other) {
			tracer__self_port(c->tracer, old, false);
			c->own_port_bits[old >> 6] &= ~(1ULL << (old & 63));
		}
	}
	as_v6(family, addr, c->own[slot].addr);
	c->own[slot].port = port;
	c->own[slot].net = c->own_net_next;
	c->own[slot].held = true; /* until a walk finds it gone */
	memset(&c->own[slot].holder, 0, sizeof(c->own[slot].holder));
	tracer__self_ep(c->tracer, slot, c->own[slot].addr, port);
	tracer__self_port(c->tracer, port, true);
	c->own_port_bits[port >> 6] |= 1ULL << (port & 63);
}
