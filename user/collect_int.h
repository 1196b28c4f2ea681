/* SPDX-License-Identifier: GPL-2.0 */
/* collect_int.h - between collect.c (the refresh), collect_redis.c (what
 * the local redis-servers tell) and collect_own.c (rcleak's own links to
 * them). */
#ifndef RCLEAK_COLLECT_INT_H
#define RCLEAK_COLLECT_INT_H

#include "collect.h"

/* The network namespace of pid, as its inode (0: unknown). */
unsigned long collect_net_of(__u32 pid);

/* Is family/addr:port, in CLIENT LIST of server srv, the local end of one
 * of rcleak's own links to it? */
bool collect_own_end(const struct collector *c, int family, const void *addr, __u16 port,
		     const struct rcl_owner *srv);

/* redis_link_open's on_port: the local end of the link being made (to
 * c->own_srv_next's c->own_srv_port_next, in c->own_net_next), noted
 * before its SYN goes out; its slot in c->own_last. */
void collect_note_own_port(int family, const void *addr, __u16 port, void *ctx);

/* How a link closed on rcleak's side ended. */
enum own_close {
	OWN_NO_CONNECTION, /* its connect failed: the server has no end */
	OWN_UNANSWERED,    /* the server may not have accepted it yet */
	OWN_ANSWERED,      /* the server answered (a refusal too): accepted */
};

/* The link of own slot slot (-1: none) is closed on rcleak's side. */
void collect_own_closed(struct collector *c, int slot, enum own_close how);

/* The server of own slot slot answered over the link: it accepted it, and
 * every link to it before (its listen queue is first in, first out). */
void collect_own_answered(struct collector *c, int slot);

/* After a refresh's walk and queries: the ends of links closed on
 * rcleak's side whose server end is gone are dropped (here and in the
 * kernel): their address and port are free for any client. */
void collect_own_sweep(struct collector *c);

/* r is the server-side end of one of rcleak's own links (--ask-redis): not
 * the server's client. Marks that end held. */
bool collect_own_connection(struct collector *c, const struct rcl_fd_rec *r);

/* p's maxclients and where it was read from (a listening process). */
void collect_discover_maxclients(struct collector *c, struct proc *p, double now);

/* --ask-redis, each refresh: CLIENT LIST from every live server, joined to
 * the holders; links of servers that are gone are dropped. */
void collect_ask_servers(struct collector *c, double now);

/* Links opened after this refresh's walk, which saw the others, and still
 * open: each takes a slot of its server's maxclients (rcleak_links). */
void collect_count_fresh_links(struct collector *c);

#endif
