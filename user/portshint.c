// SPDX-License-Identifier: GPL-2.0
/* portshint.c - see portshint.h. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "portshint.h"
#include "procfs.h"
#include "procscan.h"

#define MAX_INODES 4096 /* sockets of one redis-server looked at */

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

static void add_port(__u16 *ports, int *n, int max, __u16 port)
{
	for (int i = 0; i < *n; i++)
		if (ports[i] == port)
			return;
	if (*n < max)
		ports[(*n)++] = port;
}

/* The listening ports in /proc/PID/net/tcp{,6} (pid's network namespace)
 * of the sockets among inodes (sorted). */
static void listen_ports(int pid, const unsigned long *inodes, size_t ninodes, __u16 *ports,
			 int *n, int max)
{
	static const struct { const char *file; int family; } tabs[] = {
		{ "tcp", 2 }, { "tcp6", 10 },
	};

	for (size_t t = 0; t < sizeof(tabs) / sizeof(tabs[0]); t++) {
		char path[64], line[512];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, tabs[t].file);
		if (!(f = fopen(path, "re")))
			continue;
		while (fgets(line, sizeof(line), f)) {
			struct rcl_fd_rec rec;
			unsigned long ino;

			if (procscan_parse_tcp_line(line, tabs[t].family, &rec, &ino) ||
			    rec.state != RCL_TCP_LISTEN ||
			    !bsearch(&ino, inodes, ninodes, sizeof(*inodes), cmp_ulong))
				continue;
			add_port(ports, n, max, rec.lport);
		}
		fclose(f);
	}
}

int portshint_redis_ports(__u16 *ports, int max)
{
	unsigned long *inodes = malloc(MAX_INODES * sizeof(*inodes));
	struct dirent *de;
	int n = 0;
	DIR *d;

	if (!inodes || !(d = opendir("/proc"))) {
		free(inodes);
		return 0;
	}
	while ((de = readdir(d))) {
		char comm[32], path[300];
		size_t ninodes = 0;
		struct dirent *fe;
		DIR *fd;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (procfs_comm(atoi(de->d_name), comm, sizeof(comm)) || strcmp(comm, "redis-server"))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
		if (!(fd = opendir(path)))
			continue;
		while ((fe = readdir(fd)) && ninodes < MAX_INODES) {
			char link[64];
			ssize_t k = readlinkat(dirfd(fd), fe->d_name, link, sizeof(link) - 1);

			if (k <= 8)
				continue;
			link[k] = '\0';
			if (!strncmp(link, "socket:[", 8))
				inodes[ninodes++] = strtoul(link + 8, NULL, 10);
		}
		closedir(fd);
		qsort(inodes, ninodes, sizeof(*inodes), cmp_ulong);
		listen_ports(atoi(de->d_name), inodes, ninodes, ports, &n, max);
	}
	closedir(d);
	free(inodes);
	return n;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const __u16 *)a - (int)*(const __u16 *)b;
}

/* "6379,7000" into buf, at most max ports, then ",..." */
static void port_list(char *buf, size_t len, const __u16 *ports, int n, int max)
{
	size_t at = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && i < max && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%u", i ? "," : "", ports[i]);
	if (n > max && at < len)
		snprintf(buf + at, len - at, ",...");
}

int portshint_have(char *have, size_t len)
{
	__u16 found[64];
	int n = portshint_redis_ports(found, 64);

	qsort(found, (size_t)n, sizeof(*found), cmp_u16);
	port_list(have, len, found, n, 16);
	return n;
}

void portshint_say(const __u16 *watched, int nwatched)
{
	char want[96], have[160];
	int n = portshint_have(have, sizeof(have));
	const char *s = nwatched > 1 ? "s" : "";

	port_list(want, sizeof(want), watched, nwatched, 8);
	if (!n)
		elog("nothing listens on or connects to port%s %s now: if Redis is on another port, "
		     "give it with -p; rows show as connections come", s, want);
	else if (n <= 16)
		elog("nothing listens on or connects to port%s %s now; redis-server listens here on %s: "
		     "-p %s; rows show as connections come", s, want, have, have);
	else
		elog("nothing listens on or connects to port%s %s now; redis-server listens here on %s "
		     "(%d ports): give its ports with -p; rows show as connections come", s, want, have, n);
}
