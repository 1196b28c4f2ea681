// SPDX-License-Identifier: GPL-2.0
/* collect_redis.c - what a refresh learns from the local redis-servers
 * (--ask-redis): one link per server, its maxclients (CONFIG GET, INFO, its
 * command line), its CLIENT LIST joined to the processes holding the other
 * ends. The ends of rcleak's own links are collect_own.c's. See collect.h. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include "collect.h"
#include "collect_int.h"
#include "log.h"
#include "procfs.h"
#include "redis.h"

/* How often a server's maxclients is re-read: about once a second (a
 * refresh of -i 1 comes a hair under 1 s after the last). CONFIG SET
 * maxclients is what an SRE does in the incident rcleak is watching, and
 * every 30 s left the headroom wrong for half a minute after it (44 on a
 * server lowered to 8 that refused its third new client); one CONFIG GET
 * costs the server microseconds. */
#define MAXCLIENTS_RECHECK_S 0.9
#define REFUSED_RECHECK_S 30.0    /* a server that refused CLIENT LIST: asked again */
#define ASK_TIMEOUT_MS 300
/* CLIENT LIST blocks the server while it writes a line per client: ~11 ms
 * at 7,000 clients here, so every 1 s refresh took 1 % of the server's
 * time and stalled its clients 11 ms a second (~75 ms at 50k clients). A
 * server is asked again after LIST_DUTY times what the last answer took
 * (the round trip, at least the server's own time): at most ~1 % of it, and
 * every refresh for one with a few hundred clients. */
#define LIST_DUTY 100.0
#define FULL_RETRY_S 10.0         /* a full server is asked again after this */

static struct server_link *link_for(struct collector *c, const struct proc *p)
{
	for (int i = 0; i < c->nlinks; i++)
		if (c->links[i].key.tgid == p->key.tgid && c->links[i].key.start_ns == p->key.start_ns)
			return &c->links[i];
	if (c->nlinks == COLLECT_MAX_LINKS)
		return NULL;
	memset(&c->links[c->nlinks], 0, sizeof(c->links[0]));
	c->links[c->nlinks].key = p->key;
	c->links[c->nlinks].link.fd = -1;
	c->links[c->nlinks].own = -1;
	return &c->links[c->nlinks++];
}

/* Once per server: what it answered, and what to do (--ask-redis). */
static void link_refused(const struct collector *c, struct server_link *l, const struct proc *p,
			 const char *what)
{
	const char *user = c->opts->redis_user;
	bool auth = (!strncmp(l->link.err, "NOAUTH", 6) || !strncmp(l->link.err, "WRONGPASS", 9) ||
		     !strcmp(what, "AUTH")) && !redis_link_full(&l->link);
	/* logged in, as a user without the right (Redis 6+ ACLs) */
	bool perm = !strncmp(l->link.err, "NOPERM", 6);

	if (l->warned)
		return;
	l->warned = true;
	elog("--ask-redis: redis-server pid %u port %u: %s: %s%s", p->key.tgid, p->listen[0].port,
	     what, l->link.err[0] ? l->link.err : "no answer",
	     perm ? (user ? " (give that ACL user +config|get +info +client|list)"
			  : " (--redis-user NAME logs in as an ACL user that may)")
	     : !auth ? ""
	     : !getenv("REDISCLI_AUTH") ? " (set REDISCLI_AUTH to its password)"
	     : user ? " (check --redis-user and REDISCLI_AUTH)"
	     : " (check REDISCLI_AUTH; --redis-user NAME for an ACL user)");
}

/* After a failed query: a server that refused the link as over its
 * maxclients closes it, and every try counts in its rejected_connections,
 * so it is asked again only after FULL_RETRY_S. */
static void note_failure(struct server_link *l, double now)
{
	if (!redis_link_full(&l->link))
		return;
	l->full = true;
	redis_link_close(&l->link);
	if (l->retry_at < now + FULL_RETRY_S)
		l->retry_at = now + FULL_RETRY_S;
}

/* l's link is closed (by the server, or by rcleak after a failure): its
 * own end is gone on rcleak's side, and waits for the server's to go. */
static void note_closed(struct collector *c, struct server_link *l)
{
	if (l->own >= 0 && l->link.fd < 0) {
		collect_own_closed(c, l->own, OWN_UNANSWERED);
		l->own = -1;
	}
}

/* The server closed the link at rcleak's first bytes without a byte of
 * answer: no plain RESP on that port (a TLS-only Redis resets it, and logs
 * a line each time). Said once; asked again only every REFUSED_RECHECK_S,
 * not at every refresh's retry, which filled the server's log. */
static bool hung_up(struct server_link *l, const struct proc *p, double now)
{
	if (!l->link.hung_up)
		return false;
	l->link.hung_up = false;
	l->retry_at = now + REFUSED_RECHECK_S;
	if (!l->warned)
		/* its name: a proxy on a watched port hangs up on RESP too */
		elog("--ask-redis: %s pid %u port %u: closed rcleak's connection without answering "
		     "(a TLS port? rcleak speaks plain RESP): its maxclients is not known, --maxclients N "
		     "tells it; asked again every %.0f s", p->comm[0] ? p->comm : "server", p->key.tgid,
		     p->listen[0].port, REFUSED_RECHECK_S);
	l->warned = true;
	return true;
}

/* An open link to server p, or NULL (failures retry after a pause). */
static struct redis_link *ensure_link(struct collector *c, const struct proc *p, double now)
{
	struct server_link *l = link_for(c, p);
	int err;

	if (!l)
		return NULL;
	l->seen = true;
	if (l->link.fd >= 0)
		return &l->link;
	note_closed(c, l);
	if (now < l->retry_at || !p->nlisten)
		return NULL;
	/* where redis_link_open makes it, to what */
	c->own_net_next = collect_net_of(p->key.tgid);
	c->own_srv_next = p->key;
	c->own_srv_port_next = p->listen[0].port;
	c->own_last = -1;
	err = redis_link_open(&l->link, p->listen[0].family, p->listen[0].addr, p->listen[0].port,
			      ASK_TIMEOUT_MS, (int)p->key.tgid, c->opts->redis_user, collect_note_own_port, c);
	/* a refusal is an answer: the server had accepted the link; a
	 * connect that failed left the server no end */
	if (err)
		collect_own_closed(c, c->own_last,
				   !l->link.connected ? OWN_NO_CONNECTION
				   : err == -EACCES ? OWN_ANSWERED : OWN_UNANSWERED);
	else
		l->own = c->own_last;
	if (err == -EACCES) /* a full server refuses whatever comes first */
		link_refused(c, l, p, redis_link_full(&l->link) ? "connect" : "AUTH");
	else if (err && hung_up(l, p, now)) /* at AUTH (REDISCLI_AUTH set) */
		return NULL;
	else if (err)
		vlog("cannot connect to redis-server pid %u port %u: retrying in 10 s",
		     p->key.tgid, p->listen[0].port);
	if (err) {
		l->retry_at = now + 10;
		note_failure(l, now);
		return NULL;
	}
	l->fresh = true; /* after this refresh's walk: collect_count_fresh_links */
	return &l->link;
}

const struct server_link *collect_link_of(const struct collector *c, const struct proc *p)
{
	for (int i = 0; i < c->nlinks; i++)
		if (c->links[i].key.tgid == p->key.tgid && c->links[i].key.start_ns == p->key.start_ns)
			return c->links[i].clients ? &c->links[i] : NULL;
	return NULL;
}

/* A cluster node counts its bus links against maxclients too (2 per other
 * node: INFO clients' cluster_connections), on a port no client uses. Read
 * with maxclients; a link that does not answer keeps the last count. */
static void cluster_links(struct redis_link *l, struct proc *p)
{
	long n = redis_link_info_cluster_links(l);

	if (n >= 0)
		p->cluster_links = n;
}

void collect_discover_maxclients(struct collector *c, struct proc *p, double now)
{
	char full[REDIS_CMDLINE_MAX];
	long mc = 0;

	if (p->maxclients && now - p->maxclients_at < MAXCLIENTS_RECHECK_S)
		return;
	p->maxclients_at = now;
	/* what the server says, then its command line; --maxclients only
	 * where neither tells */
	if (c->opts->ask_redis) {
		struct redis_link *l = ensure_link(c, p, now);
		struct server_link *sl = link_for(c, p);

		mc = l ? redis_link_maxclients(l) : 0;
		if (sl && mc <= 0 && hung_up(sl, p, now))
			goto cmdline;
		if (sl && (mc > 0 || (l && l->err[0])))
			collect_own_answered(c, sl->own);
		if (mc > 0) {
			p->maxclients = mc;
			p->maxclients_source = "config-get";
			if (sl)
				sl->full = false;
			cluster_links(l, p);
			return;
		}
		/* CONFIG renamed away or not in the ACL user's commands:
		 * Redis 7's INFO clients says maxclients too */
		if (l && l->fd >= 0 && l->err[0] && !redis_link_full(l)) {
			char why[sizeof(l->err)];

			snprintf(why, sizeof(why), "%s", l->err);
			mc = redis_link_info_maxclients(l);
			if (mc > 0) {
				vlog("CONFIG GET maxclients refused for pid %u (%s): took INFO clients'",
				     p->key.tgid, why);
				p->maxclients = mc;
				p->maxclients_source = "info";
				if (sl)
					sl->full = false;
				cluster_links(l, p);
				return;
			}
			snprintf(l->err, sizeof(l->err), "%s", why);
		}
		if (sl && l && l->fd >= 0 && l->err[0])
			link_refused(c, sl, p, "CONFIG GET maxclients");
		vlog("CONFIG GET maxclients failed for pid %u%s%s", p->key.tgid,
		     l && l->err[0] ? ": " : "", l ? l->err : "");
		if (sl)
			note_failure(sl, now);
		/* It refused rcleak as one client too many: it holds at least
		 * maxclients clients, which is what it holds on the watched
		 * ports when they are all of them. Asked again soon. */
		if (sl && sl->full && p->clients > 0) {
			p->maxclients = p->clients;
			p->maxclients_source = "refused";
			p->maxclients_at = now - MAXCLIENTS_RECHECK_S + FULL_RETRY_S;
			return;
		}
		/* It told before and does not answer now (busy with a slow
		 * command or script, stopped): its maxclients has not changed
		 * for that. What it told stands; asked again soon. */
		if (p->maxclients > 0 && p->maxclients_source &&
		    (!strcmp(p->maxclients_source, "config-get") || !strcmp(p->maxclients_source, "info"))) {
			p->maxclients_at = now - MAXCLIENTS_RECHECK_S + FULL_RETRY_S;
			return;
		}
	}
cmdline:
	/* the whole command line: p->cmdline is cut for display */
	if (procfs_cmdline((int)p->key.tgid, full, sizeof(full)) == 0)
		mc = redis_maxclients_from_cmdline(full, (int)p->key.tgid);
	if (mc > 0) {
		p->maxclients = mc;
		p->maxclients_source = "cmdline";
		return;
	}
	if (c->opts->maxclients) {
		p->maxclients = c->opts->maxclients;
		p->maxclients_source = "option";
		return;
	}
	p->maxclients = 0;
	p->maxclients_source = "default";
}

/* ------------------------------------------------------------------------
 * CLIENT LIST joined to local holders
 */

struct end_key {                /* a client-side socket end on this host */
	__u8 family;
	__u8 addr[16];
	__u16 port;
	const struct rcl_fd_rec *rec;
};

static int cmp_end(const void *a, const void *b)
{
	const struct end_key *x = a, *y = b;

	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->family != y->family)
		return x->family - y->family;
	return memcmp(x->addr, y->addr, 16);
}

/* The ends of srv's connections on this host, sorted for bsearch by the
 * client's address and port as Redis sees it: with server_side, srv's own
 * accepted sockets (keyed by their peer); else the client processes'
 * sockets to srv's ports (keyed by their local end). NULL when out of
 * memory. */
static struct end_key *connection_ends(const struct model *m, const struct proc *srv,
				       bool server_side, size_t *count)
{
	struct end_key *ends = malloc((m->nrecs ? m->nrecs : 1) * sizeof(*ends));
	size_t n = 0;

	if (!ends)
		return NULL;
	for (size_t i = 0; i < m->nrecs; i++) {
		const struct rcl_fd_rec *r = &m->recs[i];
		__u16 srv_port = server_side ? r->lport : r->rport;
		bool to_srv = false;

		for (int k = 0; k < srv->nlisten; k++)
			to_srv |= srv_port == srv->listen[k].port;
		if (!to_srv || r->state == RCL_TCP_LISTEN || (r->tgid == srv->key.tgid) != server_side)
			continue;
		ends[n].family = r->family;
		memcpy(ends[n].addr, server_side ? r->raddr : r->laddr, 16);
		model_addr_unmap(&ends[n].family, ends[n].addr);
		ends[n].port = server_side ? r->rport : r->lport;
		ends[n].rec = r;
		n++;
	}
	if (n > 1)
		qsort(ends, n, sizeof(*ends), cmp_end);
	*count = n;
	return ends;
}

/* Of the ends equal to *e (sorted together), one in namespace net: the
 * same address and port are another connection in another namespace (a
 * container's 127.0.0.1:PORT and the host's). *e when none tells. */
static struct end_key *end_in_net(struct end_key *ends, size_t n, struct end_key *e,
				  unsigned long net)
{
	struct end_key *first = e, *last = ends + n;

	if (!net)
		return e;
	while (first > ends && !cmp_end(first - 1, e))
		first--;
	for (struct end_key *x = first; x < last && !cmp_end(x, e); x++) {
		if (collect_net_of(x->rec->tgid) == net)
			return x;
	}
	return e;
}

/* kept: l->clients is an earlier refresh's answer (LIST_DUTY), joined
 * before: an entry whose local holder is gone now is dropped (the
 * connection closed: the next answer has it no more), not made remote. */
static void join_clients(struct collector *c, struct server_link *l, const struct proc *srv, bool kept)
{
	size_t n;
	struct end_key *ends = connection_ends(c->model, srv, false, &n);
	unsigned long net = 0;
	bool net_read = false;

	long out = 0;

	if (!ends)
		return;
	for (long i = 0; i < l->nclients; i++) {
		struct redis_client *rc = &l->clients[i];
		struct end_key key = { .family = rc->family, .port = rc->port }, *e;
		bool was_local = rc->pid != 0;

		/* a list kept from an earlier refresh (LIST_DUTY) is joined
		 * anew: its holders may have gone */
		rc->pid = 0;
		rc->sk = 0;
		rc->comm[0] = '\0';
		rc->remote = false;
		memcpy(key.addr, rc->addr, 16);
		model_addr_unmap(&key.family, key.addr);
		e = bsearch(&key, ends, n, sizeof(*ends), cmp_end);
		if (e && ((e > ends && !cmp_end(e - 1, e)) || (e + 1 < ends + n && !cmp_end(e + 1, e)))) {
			if (!net_read) { /* only where two ends look alike */
				net = collect_net_of(srv->key.tgid);
				net_read = true;
			}
			e = end_in_net(ends, n, e, net);
		}
		if (e) {
			rc->pid = e->rec->tgid;
			rc->sk = e->rec->sk;
			memcpy(rc->comm, e->rec->comm, sizeof(rc->comm));
			rc->comm[sizeof(rc->comm) - 1] = '\0';
		} else if (kept && was_local) {
			continue; /* closed since that answer */
		} else {
			rc->remote = true;
		}
		if (out != i)
			l->clients[out] = *rc;
		out++;
	}
	l->nclients = out;
	free(ends);
}

/* Clients that wait by design (pub/sub subscribers, clients blocked in
 * BLPOP and the like: CLIENT LIST) send nothing while they wait, so the
 * silent-peer ZOMBIE rule takes back what it counted for them, and their
 * records are marked (RCL_FD_WAITS) for a capture's replay to judge the
 * same. Each one's socket on the server's side is found by its peer's
 * address and port, as Redis sees them. */
static void exempt_waiting(struct collector *c, const struct server_link *l, struct proc *srv)
{
	struct model *m = c->model;
	struct end_key *peers;
	bool any = false;
	size_t n;

	for (long i = 0; i < l->nclients && !any; i++)
		any = l->clients[i].waits;
	if (!any || !(peers = connection_ends(m, srv, true, &n)))
		return;
	for (long i = 0; i < l->nclients; i++) {
		const struct redis_client *rc = &l->clients[i];
		struct end_key key = { .family = rc->family, .port = rc->port }, *e;

		if (!rc->waits)
			continue;
		memcpy(key.addr, rc->addr, 16);
		model_addr_unmap(&key.family, key.addr);
		e = n ? bsearch(&key, peers, n, sizeof(*peers), cmp_end) : NULL;
		if (!e)
			continue;
		if (model_silent_peer(m, e->rec) && srv->zombies > 0)
			srv->zombies--;
		m->recs[e->rec - m->recs].flags |= RCL_FD_WAITS;
	}
	free(peers);
}

/* A replica's link to its master is one of its clients (CLIENT LIST
 * flags=M) that no accept made, so the walk does not count it (nor sees
 * it, unless the master's port is watched too); Redis counts it against
 * maxclients all the same. */
static void count_master_links(const struct server_link *l, struct proc *srv)
{
	for (long i = 0; l->clients && i < l->nclients; i++)
		srv->master_links += l->clients[i].master;
}

/* Each refresh: CLIENT LIST from every live server, joined; drop links of
 * servers that are gone. */
void collect_ask_servers(struct collector *c, double now)
{
	int out = 0;

	for (int i = 0; i < c->nlinks; i++)
		c->links[i].seen = false;
	for (size_t i = 0; i < c->model->nprocs; i++) {
		struct proc *p = c->model->procs[i];
		struct redis_link *rl;
		struct server_link *l;
		long n, kept = 0;

		double t0;

		if (!p->nlisten || p->exited || !(rl = ensure_link(c, p, now)))
			continue;
		l = link_for(c, p);
		if (now < l->list_at) {
			/* not yet (LIST_DUTY): the last answer, joined anew to
			 * this refresh's holders; none after a refusal */
			if (l->clients) {
				join_clients(c, l, p, true);
				exempt_waiting(c, l, p);
				count_master_links(l, p);
			}
			continue;
		}
		free(l->clients);
		l->clients = NULL;
		l->nclients = 0;
		t0 = collect_now();
		n = redis_link_client_list(rl, &l->clients);
		if (n >= 0 || rl->fd >= 0)
			collect_own_answered(c, l->own);
		if (n < 0 && rl->fd >= 0) {
			/* refused (renamed away, not in the ACL user's commands),
			 * the link fine: keep it, ask again now and then */
			if (!l->warned) /* once per server, whichever refusal */
				elog("--ask-redis: redis-server pid %u port %u: CLIENT LIST: %s: no redis_clients, "
				     "and its waiting clients are not told from silent ones",
				     p->key.tgid, p->listen[0].port, rl->err);
			l->warned = true;
			l->list_at = now + REFUSED_RECHECK_S;
			continue;
		}
		if (n < 0) {
			if (!hung_up(l, p, now))
				l->retry_at = now + 2;
			note_failure(l, now);
			continue;
		}
		l->full = false;
		l->list_at = now + LIST_DUTY * (collect_now() - t0);
		for (long k = 0; k < n; k++) /* rcleak's own connection is nobody's */
			if (!collect_own_end(c, l->clients[k].family, l->clients[k].addr, l->clients[k].port,
					     &p->key))
				l->clients[kept++] = l->clients[k];
		l->nclients = kept;
		if (!l->clients)
			l->clients = calloc(1, sizeof(*l->clients)); /* answered, empty */
		join_clients(c, l, p, false);
		exempt_waiting(c, l, p);
		count_master_links(l, p);
	}
	for (int i = 0; i < c->nlinks; i++) {
		if (!c->links[i].seen)
			redis_link_close(&c->links[i].link);
		note_closed(c, &c->links[i]);
		if (!c->links[i].seen) {
			free(c->links[i].clients);
			continue;
		}
		c->links[out++] = c->links[i];
	}
	c->nlinks = out;
	collect_own_sweep(c);
}

static bool same_end(const struct redis_client *rc, int family, const __u8 addr[16], __u16 port)
{
	__u8 fam = (__u8)family, a[16];

	if (rc->port != port)
		return false;
	memcpy(a, addr, 16);
	model_addr_unmap(&fam, a);
	return fam == rc->family && !memcmp(a, rc->addr, fam == AF_INET ? 4 : 16);
}

const struct redis_client *collect_redis_peer(const struct collector *c, const struct proc *p,
					      __u64 sk, int family, const __u8 raddr[16], __u16 rport)
{
	for (int i = 0; i < c->nlinks; i++) {
		const struct server_link *l = &c->links[i];
		bool mine = l->key.tgid == p->key.tgid && l->key.start_ns == p->key.start_ns;

		for (long k = 0; l->clients && k < l->nclients; k++) {
			const struct redis_client *rc = &l->clients[k];

			if (mine ? same_end(rc, family, raddr, rport) : sk && rc->sk == sk)
				return rc;
		}
	}
	return NULL;
}

void collect_count_fresh_links(struct collector *c)
{
	for (int i = 0; i < c->nlinks; i++) {
		struct server_link *l = &c->links[i];
		struct proc *p;

		if (l->fresh && l->link.fd >= 0 && (p = model_find(c->model, &l->key)))
			p->rcleak_links++;
		l->fresh = false;
	}
}

void collect_free(struct collector *c)
{
	for (int i = 0; i < c->nlinks; i++) {
		redis_link_close(&c->links[i].link);
		free(c->links[i].clients);
	}
	c->nlinks = 0;
}
