/* SPDX-License-Identifier: GPL-2.0 */
/* clientlist.h - Redis's own view of its clients (CLIENT LIST), parsed and
 * joined to the local process holding the other end of each connection. */
#ifndef RCLEAK_CLIENTLIST_H
#define RCLEAK_CLIENTLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct redis_client {
	__u64 id;
	__u8 family;             /* of addr (v4-mapped IPv6 is turned into IPv4) */
	__u8 addr[16];           /* the client's address as Redis sees it */
	__u16 port;
	char addr_text[64];      /* as Redis printed it */
	char name[64];
	char lib_name[32];       /* Redis >= 7.2; "" before */
	char cmd[32];            /* last command */
	long age, idle;          /* seconds */
	/* silent by design while it waits: a pub/sub subscriber (flag P, or
	 * sub/psub/ssub channels), a client blocked in BLPOP and the like
	 * (flag b), a MONITOR client (flag O). Not a ZOMBIE however long it
	 * sends nothing. */
	bool waits;
	/* a replica's link to its master (flag M): Redis lists it among its
	 * clients and counts it against maxclients, but no process connected
	 * to the replica for it: the replica made it */
	bool master;
	/* join */
	__u32 pid;               /* local holder of the client end; 0: none */
	__u64 sk;                /* that client end's socket (rcl_fd_rec.sk); 0: none */
	char comm[16];
	bool remote;             /* no local holder: a client on another host */
};

/* Parse one CLIENT LIST line. Returns 0, or -1 if it has no usable addr. */
int clientlist_parse_line(const char *line, struct redis_client *out);

/* Parse a whole CLIENT LIST bulk reply ("$N\r\n...\r\n"). Returns the number
 * of entries stored in *out (malloc'd, caller frees), 0 when the reply is
 * incomplete (*need_more set) or -1 when it is not a CLIENT LIST reply. */
long clientlist_parse_reply(const char *buf, size_t len, struct redis_client **out, bool *need_more);

/* A connection to one redis-server, kept open across refreshes so rcleak
 * holds one slot, not one per second. */
struct redis_link {
	int fd;
	__u16 local_port;        /* our end: excluded from every count */
	char err[96];            /* the server's last error reply ("NOAUTH ..."), or "" */
	bool connected;          /* the last redis_link_open's connect() succeeded:
				  * the server's end exists (or did) */
	bool answered;           /* the server has answered on this link */
	bool hung_up;            /* the last ask: the server closed a link that
				  * never answered (end of file, reset) without
				  * a byte: no plain RESP there (a TLS port);
				  * not a link killed since (CLIENT KILL) */
};

/* Connect to family/addr:port (a wildcard address means loopback) in the
 * network namespace of process pid (0: rcleak's own): a server in a
 * container answers on its own loopback, where the host's 127.0.0.1:port
 * may be another server. Before connecting, binds an ephemeral port on the
 * address it connects to (a local one: the source it would get anyway) and
 * calls on_port(family, addr, port, ctx) with that end (addr: a struct
 * in_addr or in6_addr) so the caller can exclude it. With REDISCLI_AUTH
 * set (as redis-cli reads it), authenticates with that password, as ACL
 * user `user` when not NULL (AUTH user password, Redis 6+). Returns 0 or
 * -errno: -EACCES when the server refused the password (its reply in
 * l->err); l->connected says whether it got as far as a connection. */
int redis_link_open(struct redis_link *l, int family, const __u8 addr[16], __u16 port,
		    int timeout_ms, int pid, const char *user,
		    void (*on_port)(int family, const void *addr, __u16 port, void *ctx), void *ctx);
void redis_link_close(struct redis_link *l);

/* The server's last error said it is full ("max number of clients
 * reached"): Redis sends it to a connection it has just accepted over its
 * limit, whatever that connection asks first (AUTH included), then closes
 * it. */
bool redis_link_full(const struct redis_link *l);

/* CONFIG GET maxclients over the link; 0 when it does not answer (an
 * error reply, e.g. NOAUTH, is in l->err and the link stays open). */
long redis_link_maxclients(struct redis_link *l);

/* The same from INFO clients (Redis 7+), for a server that refuses CONFIG
 * (renamed, or an ACL user without it); 0 when it does not say. */
long redis_link_info_maxclients(struct redis_link *l);
/* INFO clients' cluster_connections (cluster bus links, Redis 7+); 0 when
 * none, or -1 when the link gave no answer. */
long redis_link_info_cluster_links(struct redis_link *l);

/* CLIENT LIST over the link. Returns entries (as clientlist_parse_reply) or
 * -1 on error: the link is closed, except after an error reply the server
 * gave whole without closing (err says it; the link stays usable). */
long redis_link_client_list(struct redis_link *l, struct redis_client **out);

#endif
