// SPDX-License-Identifier: GPL-2.0
/* clientlist.c - see clientlist.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "clientlist.h"
#include "redis.h"

/* Value of key in a "k=v k=v" line, copied into out (len bytes). */
static bool field(const char *line, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);
	const char *p = line;

	while ((p = strstr(p, key))) {
		if ((p == line || p[-1] == ' ') && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t n = strcspn(v, " \r\n");

			if (n >= len)
				n = len - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return true;
		}
		p += kl;
	}
	return false;
}

/* "127.0.0.1:40222", "[::1]:40222", "::ffff:1.2.3.4:5" (older Redis) */
static int parse_hostport(const char *s, __u8 *family, __u8 addr[16], __u16 *port)
{
	char host[64];
	const char *colon;
	struct in6_addr a6;
	long p;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, end - s - 1);
		host[end - s - 1] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -1;
		memcpy(host, s, colon - s);
		host[colon - s] = '\0';
	}
	p = strtol(colon + 1, NULL, 10);
	if (p <= 0 || p > 65535)
		return -1;
	*port = (__u16)p;
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, host, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		*family = AF_INET;
		memcpy(addr, &a6.s6_addr[12], 4);
	} else {
		*family = AF_INET6;
		memcpy(addr, &a6, 16);
	}
	return 0;
}

/* Channels, patterns and shard channels a client subscribes to (Redis 7
 * has all three; older servers lack ssub). */
static const char *const sub_fields[] = { "sub", "psub", "ssub" };

int clientlist_parse_line(const char *line, struct redis_client *out)
{
	char v[64];

	memset(out, 0, sizeof(*out));
	if (!field(line, "addr", out->addr_text, sizeof(out->addr_text)) ||
	    parse_hostport(out->addr_text, &out->family, out->addr, &out->port))
		return -1;
	if (field(line, "id", v, sizeof(v)))
		out->id = strtoull(v, NULL, 10);
	if (field(line, "age", v, sizeof(v)))
		out->age = atol(v);
	if (field(line, "idle", v, sizeof(v)))
		out->idle = atol(v);
	field(line, "name", out->name, sizeof(out->name));
	field(line, "lib-name", out->lib_name, sizeof(out->lib_name));
	field(line, "cmd", out->cmd, sizeof(out->cmd));
	/* subscribers (P), blocked clients (b) and MONITOR clients (O) only
	 * read: Redis's own idle timeout spares them too */
	if (field(line, "flags", v, sizeof(v)) && (strchr(v, 'P') || strchr(v, 'b') || strchr(v, 'O')))
		out->waits = true;
	if (field(line, "flags", v, sizeof(v)) && strchr(v, 'M'))
		out->master = true;
	for (size_t k = 0; k < sizeof(sub_fields) / sizeof(sub_fields[0]); k++)
		if (field(line, sub_fields[k], v, sizeof(v)) && atol(v) > 0)
			out->waits = true;
	return 0;
}

long clientlist_parse_reply(const char *buf, size_t len, struct redis_client **out, bool *need_more)
{
	const char *p, *end;
	char *e;
	long n, cap = 0, cnt = 0;
	struct redis_client *v = NULL;

	*out = NULL;
	*need_more = false;
	if (len < 1)
		return (*need_more = true), 0;
	if (buf[0] != '$')
		return -1;
	p = memchr(buf, '\n', len);
	if (!p)
		return (*need_more = true), 0;
	n = strtol(buf + 1, &e, 10);
	if (n < 0 || e[0] != '\r')
		return -1;
	p++;
	if ((size_t)(p - buf) + (size_t)n + 2 > len)
		return (*need_more = true), 0;
	end = p + n;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char line[2048];
		struct redis_client rc;

		if (l >= sizeof(line))
			l = sizeof(line) - 1;
		memcpy(line, p, l);
		line[l] = '\0';
		p = nl ? nl + 1 : end;
		if (clientlist_parse_line(line, &rc))
			continue;
		if (cnt == cap) {
			long ncap = cap ? cap * 2 : 64;
			struct redis_client *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				free(v);
				return -1;
			}
			v = nv;
			cap = ncap;
		}
		v[cnt++] = rc;
	}
	*out = v;
	return cnt;
}

/* The server's error reply at buf ("-ERR ...\r\n") into l->err, printable
 * ASCII only, any other byte '?': it goes to stderr, a root terminal, and
 * whatever listens on a watched port is asked, a local user's listener
 * too, whose escape sequences the terminal would obey. */
static void link_err(struct redis_link *l, const char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len && buf[n + 1] != '\r' && buf[n + 1] != '\n' && n + 1 < sizeof(l->err)) {
		unsigned char ch = (unsigned char)buf[n + 1];

		l->err[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	l->err[n] = '\0';
}

/* AUTH with REDISCLI_AUTH, when set, as ACL user `user` when not NULL: 0,
 * or -EACCES with the reply in l->err. */
static int link_auth(struct redis_link *l, int fd, const char *user)
{
	const char *pw = getenv("REDISCLI_AUTH");
	char req[800], buf[256];
	size_t len = 0;
	int n;

	if (!pw || !*pw) {
		if (!user)
			return 0;
		/* a user with no password asked of rcleak: an ACL user with
		 * nopass takes any, and a refusal then asks for REDISCLI_AUTH
		 * rather than blaming the default user's rights */
		pw = "";
	}
	if (user)
		n = snprintf(req, sizeof(req), "*3\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
			     strlen(user), user, strlen(pw), pw);
	else
		n = snprintf(req, sizeof(req), "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n", strlen(pw), pw);
	if (strlen(pw) > 512 || n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(l->err, sizeof(l->err), "REDISCLI_AUTH is longer than 512 bytes");
		return -EACCES;
	}
	if (write(fd, req, n) != n)
		return -errno;
	while (len < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (r <= 0) {
			l->hung_up = !len && (r == 0 || errno == ECONNRESET);
			return r < 0 ? -errno : -ECONNRESET;
		}
		len += r;
		l->answered = true;
		if (memchr(buf, '\n', len))
			break;
	}
	if (len >= 3 && !memcmp(buf, "+OK", 3))
		return 0;
	buf[len] = '\0';
	/* A server without a password refuses AUTH (Redis 6+: "called without
	 * any password configured", 5: "no password is set"), yet the link
	 * works: go on unauthenticated, as redis-cli does. One REDISCLI_AUTH
	 * must serve a host where only some servers have a password. */
	if (buf[0] == '-' && (strstr(buf, "without any password configured") ||
			      strstr(buf, "no password is set")))
		return 0;
	if (len && buf[0] == '-')
		link_err(l, buf, len);
	else
		snprintf(l->err, sizeof(l->err), "unexpected reply to AUTH");
	return -EACCES;
}

/* A TCP socket in the network namespace of pid (0: this thread's). The
 * socket keeps the namespace it was made in; the thread goes back to its
 * own at once. -1 with errno. */
static int socket_in(int family, int pid)
{
	char path[64];
	struct stat a, b;
	int self = -1, them, fd = -1, err;
	bool other;

	if (pid <= 0)
		return socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	them = open(path, O_RDONLY | O_CLOEXEC);
	if (them < 0) /* gone, or not in our /proc: as before, our own */
		return socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0 || fstat(them, &a) || fstat(self, &b)) {
		err = errno;
		goto out;
	}
	other = a.st_ino != b.st_ino || a.st_dev != b.st_dev;
	if (other && setns(them, CLONE_NEWNET)) {
		err = errno;
		goto out;
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	err = errno;
	if (other && setns(self, CLONE_NEWNET))
		abort(); /* everything after would look at the wrong namespace */
out:
	close(them);
	if (self >= 0)
		close(self);
	errno = err;
	return fd;
}

int redis_link_open(struct redis_link *l, int family, const __u8 addr[16], __u16 port,
		    int timeout_ms, int pid, const char *user,
		    void (*on_port)(int family, const void *addr, __u16 port, void *ctx), void *ctx)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct sockaddr_storage ss = {}, me = {};
	socklen_t sl, ml;
	int fd, err;

	l->fd = -1;
	l->local_port = 0;
	l->err[0] = '\0';
	l->connected = false;
	l->answered = false;
	l->hung_up = false;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss, *m = (struct sockaddr_in *)&me;
		__u32 zero = 0;

		a->sin_family = m->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (!memcmp(addr, &zero, 4))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else
			memcpy(&a->sin_addr, addr, 4);
		m->sin_addr = a->sin_addr;
		sl = ml = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss, *m = (struct sockaddr_in6 *)&me;

		a->sin6_family = m->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (!memcmp(addr, &in6addr_any, 16))
			a->sin6_addr = in6addr_loopback;
		else
			memcpy(&a->sin6_addr, addr, 16);
		m->sin6_addr = a->sin6_addr;
		sl = ml = sizeof(*a);
	}
	fd = socket_in(family, pid);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* bind first: the port is known (and excluded) before the SYN goes out */
	if (bind(fd, (struct sockaddr *)&me, ml) || getsockname(fd, (struct sockaddr *)&me, &ml))
		goto fail;
	l->local_port = ntohs(((struct sockaddr_in *)&me)->sin_port);
	if (on_port)
		on_port(family, family == AF_INET ? (const void *)&((struct sockaddr_in *)&me)->sin_addr
						  : (const void *)&((struct sockaddr_in6 *)&me)->sin6_addr,
			l->local_port, ctx);
	if (connect(fd, (struct sockaddr *)&ss, sl))
		goto fail;
	l->connected = true;
	err = link_auth(l, fd, user);
	if (err)
		goto out;
	l->fd = fd;
	return 0;
fail:
	err = -errno;
out:
	close(fd);
	return err;
}

/* Send req over the link and read the reply into buf (cap bytes) until
 * done(buf, len) is >= 0, its answer. An error reply (NOAUTH, a renamed
 * command) is kept in l->err and the link stays usable; a broken link, or
 * a reply larger than buf (its rest would be read as the next answer), is
 * closed. 0 for all of those. */
static long link_ask(struct redis_link *l, const char *req, size_t reqlen, char *buf, size_t cap,
		     long (*done)(const char *buf, size_t len))
{
	size_t len = 0;
	long v;

	if (l->fd < 0)
		return 0;
	l->err[0] = '\0'; /* this query's error, not an earlier one's */
	l->hung_up = false;
	if (write(l->fd, req, reqlen) != (ssize_t)reqlen) {
		l->hung_up = !l->answered && (errno == EPIPE || errno == ECONNRESET);
		redis_link_close(l);
		return 0;
	}
	while (len < cap - 1) {
		ssize_t r = read(l->fd, buf + len, cap - 1 - len);

		if (r <= 0) {
			/* not a timeout (a busy server), nor a link that
			 * answered before (killed since): closed unanswered */
			l->hung_up = !l->answered && !len && (r == 0 || errno == ECONNRESET);
			redis_link_close(l);
			return 0;
		}
		len += r;
		l->answered = true;
		if (buf[0] == '-' && memchr(buf, '\n', len)) {
			link_err(l, buf, len);
			return 0;
		}
		if ((v = done(buf, len)) >= 0)
			return v;
	}
	redis_link_close(l);
	return 0;
}

/* CONFIG GET's reply: N once it is whole (0 is no answer: read on). */
static long config_done(const char *buf, size_t len)
{
	long v = redis_parse_config_reply(buf, len);

	return v > 0 ? v : -1;
}

long redis_link_maxclients(struct redis_link *l)
{
	static const char req[] = "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$10\r\nmaxclients\r\n";
	char buf[256];

	return link_ask(l, req, sizeof(req) - 1, buf, sizeof(buf), config_done);
}

long redis_link_info_maxclients(struct redis_link *l)
{
	static const char req[] = "*2\r\n$4\r\nINFO\r\n$7\r\nclients\r\n";
	char buf[4096];

	return link_ask(l, req, sizeof(req) - 1, buf, sizeof(buf), redis_parse_info_maxclients);
}

/* link_ask's 0 is no answer: a node with no bus links answers 1 here */
static long cluster_done(const char *buf, size_t len)
{
	long v = redis_parse_info_cluster_links(buf, len);

	return v < 0 ? -1 : v + 1;
}

long redis_link_info_cluster_links(struct redis_link *l)
{
	static const char req[] = "*2\r\n$4\r\nINFO\r\n$7\r\nclients\r\n";
	char buf[4096];

	return link_ask(l, req, sizeof(req) - 1, buf, sizeof(buf), cluster_done) - 1;
}

void redis_link_close(struct redis_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

bool redis_link_full(const struct redis_link *l)
{
	return strstr(l->err, "max number of clients reached") != NULL;
}

long redis_link_client_list(struct redis_link *l, struct redis_client **out)
{
	static const char req[] = "CLIENT LIST\r\n";
	size_t len = 0, cap = 65536;
	bool more = true, answered = false;
	char *buf;
	long n = -1;

	*out = NULL;
	if (l->fd < 0)
		return -1;
	l->err[0] = '\0';
	l->hung_up = false;
	if (write(l->fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
		l->hung_up = !l->answered && (errno == EPIPE || errno == ECONNRESET);
		goto fail;
	}
	buf = malloc(cap);
	if (!buf)
		goto fail;
	for (;;) {
		ssize_t r;

		if (len == cap) {
			char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		r = read(l->fd, buf + len, cap - len);
		if (r <= 0) {
			/* as link_ask: a link that never answered, closed */
			l->hung_up = !l->answered && !len && (r == 0 || errno == ECONNRESET);
			break;
		}
		len += r;
		l->answered = true;
		n = clientlist_parse_reply(buf, len, out, &more);
		if (n < 0 && buf[0] == '-' && memchr(buf, '\n', len)) {
			link_err(l, buf, len); /* an error reply: say which */
			/* the whole reply, and the server did not close: the
			 * link stays usable (CLIENT renamed away, not in the
			 * ACL user's commands) */
			answered = (char *)memchr(buf, '\n', len) + 1 == buf + len && !redis_link_full(l);
		}
		if (n < 0 || !more)
			break;
	}
	free(buf);
	if (n >= 0 && !more)
		return n;
	free(*out);
	*out = NULL;
	if (answered)
		return -1;
fail:
	redis_link_close(l);
	return -1;
}
