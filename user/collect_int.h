/* SPDX-License-Identifier: GPL-2.0 */
/* collect_int.h - between collect.c (the refresh), collect_redis.c (what
 * the local redis-servers tell) and collect_own.c (rcleak's own links to
 * them). */
#ifndef RCLEAK_COLLECT_INT_H
#define RCLEAK_COLLECT_INT_H

#include "collect.h"

/* The network namespace of pid, as its inode (0: unknown). */
unsigned long collect_net_of(__u32 pid);

/* Is family/addr:port, seen by process tgid, the local end of one of
 * rcleak's own links? */
bool collect_own_end(const struct collector *c, int family, const void *addr, __u16 port, __u32 tgid);

/* redis_link_open's on_port: the local end of the link being made (in
 * c->own_net_next), noted before its SYN goes out. */
void collect_note_own_port(int family, const void *addr, __u16 port, void *ctx);

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
