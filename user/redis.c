// SPDX-License-Identifier: GPL-2.0
/* redis.c - see redis.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "redis.h"

long redis_maxclients_from_config(const char *path)
{
	char line[512];
	long v = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char key[32];
		long n;

		if (sscanf(line, " %31s %ld", key, &n) == 2 && !strcasecmp(key, "maxclients") && n > 0)
			v = n;
	}
	fclose(f);
	return v;
}

long redis_maxclients_from_cmdline(const char *cmdline, int pid)
{
	char buf[1024], *tok, *save = NULL;
	long conf = 0;
	bool want = false;

	snprintf(buf, sizeof(buf), "%s", cmdline);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		size_t l = strlen(tok);

		if (want) {
			long n = atol(tok);

			if (n > 0)
				return n;
			want = false;
		}
		if (!strcmp(tok, "--maxclients")) {
			want = true;
		} else if (!conf && l > 5 && !strcmp(tok + l - 5, ".conf")) {
			char path[600];

			/* relative paths are relative to the server's cwd */
			if (tok[0] == '/')
				snprintf(path, sizeof(path), "%s", tok);
			else
				snprintf(path, sizeof(path), "/proc/%d/cwd/%s", pid, tok);
			conf = redis_maxclients_from_config(path);
		}
	}
	return conf;
}

/* One RESP bulk string at *p: "$N\r\n<N bytes>\r\n". */
static const char *bulk(const char *p, const char *end, const char **s, long *n)
{
	char *e;

	if (p >= end || *p != '$')
		return NULL;
	*n = strtol(p + 1, &e, 10);
	if (e + 2 > end || e[0] != '\r' || e[1] != '\n' || *n < 0 || *n > 64)
		return NULL;
	*s = e + 2;
	if (*s + *n + 2 > end)
		return NULL;
	return *s + *n + 2;
}

long redis_parse_config_reply(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *k, *v;
	char num[32];
	long kn, vn, n;
	char *e;

	if (len < 4 || memcmp(p, "*2\r\n", 4))
		return 0;
	p += 4;
	p = bulk(p, end, &k, &kn);
	if (!p || kn != 10 || strncasecmp(k, "maxclients", 10))
		return 0;
	if (!bulk(p, end, &v, &vn) || vn == 0 || vn >= (long)sizeof(num))
		return 0;
	memcpy(num, v, vn);
	num[vn] = '\0';
	n = strtol(num, &e, 10);
	return *e || n <= 0 ? 0 : n;
}

long redis_ask_maxclients(int family, const __u8 addr[16], __u16 port,
			  int timeout_ms, __u16 *local_port)
{
	static const char req[] = "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$10\r\nmaxclients\r\n";
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct sockaddr_storage ss = {};
	socklen_t sl;
	char buf[256];
	size_t len = 0;
	long ret = 0;
	int fd;

	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		__u32 zero = 0;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (!memcmp(addr, &zero, 4))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else
			memcpy(&a->sin_addr, addr, 4);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (!memcmp(addr, &in6addr_any, 16))
			a->sin6_addr = in6addr_loopback;
		else
			memcpy(&a->sin6_addr, addr, 16);
		sl = sizeof(*a);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, sl))
		goto cleanup;
	if (local_port) {
		struct sockaddr_storage me;
		socklen_t ml = sizeof(me);

		if (getsockname(fd, (struct sockaddr *)&me, &ml) == 0)
			*local_port = ntohs(((struct sockaddr_in *)&me)->sin_port);
	}
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		goto cleanup;
	while (len < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (r <= 0)
			break;
		len += r;
		if ((ret = redis_parse_config_reply(buf, len)) > 0)
			break;
		if (buf[0] == '-') /* error reply, e.g. NOAUTH */
			break;
	}
cleanup:
	close(fd);
	return ret;
}
