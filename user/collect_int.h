/* SPDX-License-Identifier: GPL-2.0 */
/* collect_int.h - between collect.c (the refresh) and collect_redis.c (what
 * the local redis-servers tell, and rcleak's own links to them). */
#ifndef RCLEAK_COLLECT_INT_H
#define RCLEAK_COLLECT_INT_H

#include "collect.h"

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
