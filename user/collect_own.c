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

/* Does slot i's end have family/addr:port, seen by process tgid? By the
 * address too: a remote client may use the same source port. And in the
 * link's network namespace only: a host client bound to the 127.0.0.1:PORT
 * rcleak asks a container's Redis from is another connection, which was
 * left out of the host Redis's clients. */
static bool own_is(const struct collector *c, int i, const __u8 a[16], __u16 port, __u32 tgid)
{
	return c->own[i].port && c->own[i].port == port && !memcmp(c->own[i].addr, a, 16) &&
	       (!c->own[i].net || collect_net_of(tgid) == c->own[i].net);
}

static bool own_port_noted(const struct collector *c, __u16 port)
{
	return (c->own_port_bits[port >> 6] >> (port & 63)) & 1;
}

bool collect_own_end(const struct collector *c, int family, const void *addr, __u16 port,
		     const struct rcl_owner *srv)
{
	__u8 a[16];

	if (!own_port_noted(c, port))
		return false;
	as_v6(family, addr, a);
	for (int i = 0; i < RCL_SELF_EPS; i++)
		if (own_is(c, i, a, port, srv->tgid) && c->own[i].srv.tgid == srv->tgid &&
		    c->own[i].srv.start_ns == srv->start_ns)
			return true;
	return false;
}

/* Server-side ends of rcleak's own queries are not the server's clients;
 * their slots are marked held. The whole connection: the server's port
 * too, and once rcleak's end is closed the very socket seen while it was
 * open, since its address and port are anybody's then. */
bool collect_own_connection(struct collector *c, const struct rcl_fd_rec *r)
{
	__u8 a[16];
	int i;

	if (r->state == RCL_TCP_LISTEN || !own_port_noted(c, r->rport))
		return false;
	as_v6(r->family, r->raddr, a);
	for (i = 0; i < RCL_SELF_EPS; i++) {
		struct own_end *e = &c->own[i];

		if (e->srv_port != r->lport || !own_is(c, i, a, r->rport, r->tgid))
			continue;
		if (!e->live && e->sk && e->sk != r->sk)
			continue; /* a client on the address and port since */
		if (e->live) { /* nobody else has the address and port */
			e->sk = r->sk;
			e->seen = true;
		}
		break;
	}
	if (i == RCL_SELF_EPS)
		return false;
	c->own[i].held = true;
	c->own[i].holder.tgid = r->tgid;
	c->own[i].holder.start_ns = r->start_ns;
	return true;
}

/* Slot i empties: in the kernel's self_eps too, and its port's bit unless
 * another end has that port. */
static void own_free(struct collector *c, int i)
{
	__u16 old = c->own[i].port;
	bool other = false;

	c->own[i].port = 0;
	tracer__self_ep(c->tracer, i, NULL, 0, 0, 0);
	if (!old)
		return;
	for (int k = 0; k < RCL_SELF_EPS; k++)
		other |= c->own[k].port == old;
	if (!other) {
		tracer__self_port(c->tracer, old, false);
		c->own_port_bits[old >> 6] &= ~(1ULL << (old & 63));
	}
}

void collect_note_own_port(int family, const void *addr, __u16 port, void *ctx)
{
	struct collector *c = ctx;
	int slot = -1;
	struct own_end *e;

	/* a free slot; else the oldest end whose link is gone and that no
	 * process held at the last walk; else the oldest gone one (a server
	 * stalled since holds the ends of links rcleak gave up on); at most
	 * COLLECT_MAX_LINKS of the RCL_SELF_EPS are open links */
	for (int pass = 0; pass < 3 && slot < 0; pass++) {
		for (int k = 0; k < RCL_SELF_EPS; k++) {
			int i = (c->own_next + k) % RCL_SELF_EPS;

			e = &c->own[i];
			if (!e->port || (pass == 1 && !e->live && !e->held) || (pass == 2 && !e->live)) {
				slot = i;
				break;
			}
		}
	}
	if (slot < 0)
		slot = c->own_next;
	c->own_next = (slot + 1) % RCL_SELF_EPS;
	own_free(c, slot);
	e = &c->own[slot];
	memset(e, 0, sizeof(*e));
	as_v6(family, addr, e->addr);
	e->port = port;
	e->net = c->own_net_next;
	e->srv = c->own_srv_next;
	e->srv_port = c->own_srv_port_next;
	e->live = true;
	e->held = true; /* until a walk finds it gone */
	tracer__self_ep(c->tracer, slot, e->addr, port, e->srv_port, (__u32)e->net);
	tracer__self_port(c->tracer, port, true);
	c->own_port_bits[port >> 6] |= 1ULL << (port & 63);
	c->own_last = slot;
}

void collect_own_closed(struct collector *c, int slot, enum own_close how)
{
	if (slot < 0 || slot >= RCL_SELF_EPS || !c->own[slot].live)
		return;
	c->own[slot].live = false;
	if (how == OWN_NO_CONNECTION)
		own_free(c, slot);
	else if (how == OWN_ANSWERED)
		collect_own_answered(c, slot);
}

void collect_own_answered(struct collector *c, int slot)
{
	const struct own_end *e;

	if (slot < 0 || slot >= RCL_SELF_EPS || !c->own[slot].port)
		return;
	e = &c->own[slot];
	for (int i = 0; i < RCL_SELF_EPS; i++)
		if (c->own[i].port && (i == slot || !c->own[i].live) &&
		    c->own[i].srv.tgid == e->srv.tgid && c->own[i].srv.start_ns == e->srv.start_ns)
			c->own[i].seen = true;
}

/* Is there a link to server srv (it still runs)? */
static bool own_server_runs(const struct collector *c, const struct rcl_owner *srv)
{
	for (int i = 0; i < c->nlinks; i++)
		if (c->links[i].key.tgid == srv->tgid && c->links[i].key.start_ns == srv->start_ns)
			return true;
	return false;
}

void collect_own_sweep(struct collector *c)
{
	for (int i = 0; i < RCL_SELF_EPS; i++) {
		const struct own_end *e = &c->own[i];

		if (!e->port || e->live)
			continue;
		/* the server let go of its end, or exited: the address and
		 * port are anybody's. One it never showed it accepted (it
		 * stalls) may still be in its listen queue: kept */
		if ((e->seen && !e->held) || !own_server_runs(c, &e->srv))
			own_free(c, i);
	}
}
