// SPDX-License-Identifier: GPL-2.0
/* procscan.c - see procscan.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"
#include "procscan.h"

#define AF_INET_ 2
#define AF_INET6_ 10

struct sockent {
	unsigned long inode;
	struct rcl_fd_rec rec; /* addresses, ports, state */
};

struct fdcount {
	__u32 pid;
	long nfds, nunix;
};

struct procscan {
	__u8 watched[65536 / 8];
	struct sockent *socks;
	size_t nsocks, cap;
	struct fdcount *counts;
	size_t ncounts, ccap;
	unsigned long *unix_ino; /* server ends of unix stream connections, sorted */
	size_t nunix, ucap;
	int tree_root; /* > 0: only its descendants */
};

struct procscan *procscan_new(const __u16 *ports, int nports, int tree_root)
{
	struct procscan *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return NULL;
	ps->tree_root = tree_root;
	for (int i = 0; i < nports; i++)
		ps->watched[ports[i] / 8] |= 1u << (ports[i] % 8);
	return ps;
}

void procscan_free(struct procscan *ps)
{
	if (!ps)
		return;
	free(ps->socks);
	free(ps->counts);
	free(ps->unix_ino);
	free(ps);
}

static bool watched(const struct procscan *ps, __u16 port)
{
	return port && (ps->watched[port / 8] & (1u << (port % 8)));
}

/* /proc/net/tcp prints each 32-bit word of an address as the host-order
 * integer: on little-endian the bytes come out reversed within each word. */
static int parse_addr(const char *s, int family, __u8 out[16], __u16 *port)
{
	int words = family == AF_INET_ ? 1 : 4;
	unsigned int p;

	memset(out, 0, 16);
	for (int w = 0; w < words; w++) {
		unsigned int v;
		char hex[9];

		memcpy(hex, s + w * 8, 8);
		hex[8] = '\0';
		for (int i = 0; i < 8; i++)
			if (!isxdigit((unsigned char)hex[i]))
				return -1;
		v = (unsigned int)strtoul(hex, NULL, 16);
		memcpy(out + w * 4, &v, 4); /* host order back to memory order */
	}
	s += words * 8;
	if (*s != ':' || sscanf(s + 1, "%x", &p) != 1 || p > 65535)
		return -1;
	*port = (__u16)p;
	return 0;
}

int procscan_parse_tcp_line(const char *line, int family, struct rcl_fd_rec *rec,
			    unsigned long *inode)
{
	char local[64], remote[64];
	unsigned int state;
	int n;

	/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
	n = sscanf(line, " %*d: %63s %63s %x %*s %*s %*s %*u %*u %lu", local, remote,
		   &state, inode);
	if (n != 4 || state > 255)
		return -1;
	memset(rec, 0, sizeof(*rec));
	rec->family = family;
	rec->state = (__u8)state;
	if (parse_addr(local, family, rec->laddr, &rec->lport) ||
	    parse_addr(remote, family, rec->raddr, &rec->rport))
		return -1;
	return 0;
}

/* Room for one more of n elements of size sz in *v (capacity *cap);
 * false when memory ran out. */
static bool grow(void *v, size_t n, size_t *cap, size_t sz)
{
	void **pv = v, *nv;
	size_t ncap;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 256;
	if (!(nv = realloc(*pv, ncap * sz)))
		return false;
	*pv = nv;
	*cap = ncap;
	return true;
}

/* Flags of a listening unix socket (__SO_ACCEPTCON) */
#define UNIX_ACCEPTCON 0x10000

int procscan_parse_unix_line(const char *line, unsigned long *inode)
{
	unsigned long flags, type, state;
	int path = 0;

	/* Num RefCount Protocol Flags Type St Inode [Path] */
	if (sscanf(line, "%*s %*x %*x %lx %lx %lx %lu %n", &flags, &type, &state, inode, &path) != 4)
		return -1;
	/* the server end: connected, not a listener, and bound to the
	 * listener's address (a client's end prints no path) */
	if (type != 1 || state != 3 || (flags & UNIX_ACCEPTCON) || !path || !line[path] ||
	    line[path] == '\n')
		return -1;
	return 0;
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* The server ends of unix stream connections in /proc/net/unix. */
static int load_unix(struct procscan *ps)
{
	char line[512];
	FILE *f = fopen("/proc/net/unix", "r");

	ps->nunix = 0;
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long ino;

		if (procscan_parse_unix_line(line, &ino))
			continue;
		if (!grow(&ps->unix_ino, ps->nunix, &ps->ucap, sizeof(*ps->unix_ino))) {
			fclose(f);
			return -ENOMEM;
		}
		ps->unix_ino[ps->nunix++] = ino;
	}
	fclose(f);
	if (ps->nunix > 1)
		qsort(ps->unix_ino, ps->nunix, sizeof(*ps->unix_ino), cmp_ulong);
	return 0;
}

static int cmp_inode(const void *a, const void *b)
{
	unsigned long x = ((const struct sockent *)a)->inode, y = ((const struct sockent *)b)->inode;

	return x < y ? -1 : x > y;
}

static int cmp_pid(const void *a, const void *b)
{
	__u32 x = ((const struct fdcount *)a)->pid, y = ((const struct fdcount *)b)->pid;

	return x < y ? -1 : x > y;
}

static int load_table(struct procscan *ps, const char *path, int family)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return errno == ENOENT ? 0 : -errno; /* no IPv6: fine */
	while (fgets(line, sizeof(line), f)) {
		struct sockent e;

		if (procscan_parse_tcp_line(line, family, &e.rec, &e.inode) || !e.inode)
			continue;
		if (!watched(ps, e.rec.lport) && !watched(ps, e.rec.rport))
			continue;
		if (e.rec.state == RCL_TCP_TIME_WAIT || e.rec.state == RCL_TCP_NEW_SYN_RECV)
			continue;
		if (!grow(&ps->socks, ps->nsocks, &ps->cap, sizeof(*ps->socks))) {
			fclose(f);
			return -ENOMEM;
		}
		ps->socks[ps->nsocks++] = e;
	}
	fclose(f);
	return 0;
}

static void add_count(struct procscan *ps, __u32 pid, long nfds, long nunix)
{
	if (!grow(&ps->counts, ps->ncounts, &ps->ccap, sizeof(*ps->counts)))
		return;
	ps->counts[ps->ncounts].pid = pid;
	ps->counts[ps->ncounts].nunix = nunix;
	ps->counts[ps->ncounts++].nfds = nfds;
}

/* Whether pid descends from root (a parent of a parent ..., at most
 * PROCSCAN_TREE_DEPTH up, as the BPF walk's traced() looks). */
static bool descends(int pid, int root)
{
	for (int i = 0; i < PROCSCAN_TREE_DEPTH; i++) {
		pid = procfs_ppid(pid);
		if (pid == root)
			return true;
		if (pid <= 1)
			return false;
	}
	return false;
}

/* Walk one process's fds; cb for the watched sockets. */
static void walk_pid(struct procscan *ps, int pid, void (*cb)(const struct rcl_fd_rec *, void *),
		     void *ctx)
{
	char path[64], link[64];
	struct rcl_fd_rec base;
	bool have_base = false;
	struct dirent *de;
	long nfds = 0, held = 0, nunix = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct sockent key, *e;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		nfds++;
		n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (n <= 8)
			continue;
		link[n] = '\0';
		if (strncmp(link, "socket:[", 8))
			continue;
		key.inode = strtoul(link + 8, NULL, 10);
		e = bsearch(&key, ps->socks, ps->nsocks, sizeof(*ps->socks), cmp_inode);
		if (!e) {
			nunix += ps->nunix && bsearch(&key.inode, ps->unix_ino, ps->nunix,
						      sizeof(*ps->unix_ino), cmp_ulong);
			continue;
		}
		if (!have_base) {
			long long soft = -1, hard = -1;
			FILE *f;

			/* rcleak run: a process outside CMD's tree is none of
			 * its business (its connections were CMD's leaks) */
			if (ps->tree_root > 0 && !descends(pid, ps->tree_root))
				break;

			memset(&base, 0, sizeof(base));
			base.tgid = pid;
			base.start_ns = procfs_start_ns(pid);
			procfs_nofile(pid, &soft, &hard);
			/* -1 (unlimited) is RLIM_INFINITY's all ones */
			base.nofile_cur = rcl_nofile32((__u64)soft);
			base.nofile_max = rcl_nofile32((__u64)hard);
			snprintf(path, sizeof(path), "/proc/%d/comm", pid);
			if ((f = fopen(path, "r"))) {
				if (fgets(base.comm, sizeof(base.comm), f))
					base.comm[strcspn(base.comm, "\n")] = '\0';
				fclose(f);
			}
			have_base = true;
		}
		{
			struct rcl_fd_rec r = e->rec;

			r.tgid = base.tgid;
			r.start_ns = base.start_ns;
			r.nofile_cur = base.nofile_cur;
			r.nofile_max = base.nofile_max;
			memcpy(r.comm, base.comm, sizeof(r.comm));
			r.fd = (__u32)atoi(de->d_name);
			r.sk = e->inode;
			cb(&r, ctx);
			held++;
		}
	}
	closedir(d);
	if (held)
		add_count(ps, (__u32)pid, nfds, nunix);
}

int procscan_walk(struct procscan *ps, void (*cb)(const struct rcl_fd_rec *rec, void *ctx),
		  void *ctx)
{
	struct dirent *de;
	int self = getpid(), err;
	DIR *d;

	ps->nsocks = 0;
	ps->ncounts = 0;
	if ((err = load_table(ps, "/proc/net/tcp", AF_INET_)) ||
	    (err = load_table(ps, "/proc/net/tcp6", AF_INET6_)))
		return err;
	if (!ps->nsocks)
		return 0;
	if ((err = load_unix(ps)))
		return err;
	qsort(ps->socks, ps->nsocks, sizeof(*ps->socks), cmp_inode);
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = atoi(de->d_name);
		if (pid != self)
			walk_pid(ps, pid, cb, ctx);
	}
	closedir(d);
	if (ps->ncounts)
		qsort(ps->counts, ps->ncounts, sizeof(*ps->counts), cmp_pid);
	return 0;
}

long procscan_nfds(struct procscan *ps, __u32 pid, long *nunix)
{
	struct fdcount key = { .pid = pid }, *c;

	c = !ps->ncounts ? NULL : bsearch(&key, ps->counts, ps->ncounts, sizeof(*ps->counts), cmp_pid);
	if (nunix)
		*nunix = c ? c->nunix : 0;
	return c ? c->nfds : -1;
}
