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
	char buf[REDIS_CMDLINE_MAX], *tok, *save = NULL;
	long conf = 0, opt = 0;
	bool want = false;

	snprintf(buf, sizeof(buf), "%s", cmdline);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		size_t l = strlen(tok);

		if (want) {
			long n = atol(tok);

			/* Redis applies its options in order: the last one wins */
			if (n > 0)
				opt = n;
			want = false;
			continue;
		}
		/* option names are case-insensitive, as in the config file */
		if (!strcasecmp(tok, "--maxclients")) {
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
	return opt ? opt : conf;
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

/* N of a "key:N" line of an INFO bulk reply, 0 when it has none (or N is
 * below min), -1 while the reply is not whole yet. */
static long info_field(const char *buf, size_t len, const char *key, long min)
{
	const char *body, *end = buf + len, *k;
	size_t kl = strlen(key);
	long n, v;
	char *e;

	if (len < 1 || buf[0] != '$')
		return 0;
	n = strtol(buf + 1, &e, 10);
	if (e == buf + 1 || n < 0 || n > 1 << 20)
		return 0;
	if (e + 2 > end)
		return -1;
	if (e[0] != '\r' || e[1] != '\n')
		return 0;
	body = e + 2;
	if (body + n > end)
		return -1;
	/* "key:N\r\n" at the start of a line of the bulk */
	for (k = body; k && k < body + n; k = memchr(k, '\n', (size_t)(body + n - k)), k = k ? k + 1 : k) {
		if ((size_t)(body + n - k) > kl && !memcmp(k, key, kl)) {
			v = strtol(k + kl, &e, 10);
			return e > k + kl && e < body + n && (*e == '\r' || *e == '\n') && v >= min ? v : 0;
		}
	}
	return 0;
}

long redis_parse_info_maxclients(const char *buf, size_t len)
{
	return info_field(buf, len, "maxclients:", 1);
}

long redis_parse_info_cluster_links(const char *buf, size_t len)
{
	/* a node caps it (2 a node): hostile bytes must not sink the headroom */
	long v = info_field(buf, len, "cluster_connections:", 0);

	return v > 1 << 20 ? 0 : v;
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
