// SPDX-License-Identifier: GPL-2.0
/* procfs.c - see procfs.h. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"

long procfs_fd_count(int pid)
{
	char path[64];
	struct dirent *de;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static long long parse_limit(const char *s)
{
	return strncmp(s, "unlimited", 9) == 0 ? -1 : atoll(s);
}

int procfs_nofile(int pid, long long *soft, long long *hard)
{
	char path[64], line[256];
	int ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char s[32], h[32];

		/* "Max open files            1024                 524288               files" */
		if (strncmp(line, "Max open files", 14))
			continue;
		if (sscanf(line + 14, "%31s %31s", s, h) == 2) {
			*soft = parse_limit(s);
			*hard = parse_limit(h);
			ret = 0;
		}
		break;
	}
	fclose(f);
	return ret;
}

int procfs_cmdline(int pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	if (len < 4)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0' || buf[i] == '\n' || buf[i] == '\t')
			buf[i] = ' ';
	buf[n] = '\0';
	if ((size_t)n == len - 1)
		memcpy(buf + len - 4, "...", 4);
	return 0;
}

__u64 procfs_start_ns(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ticks;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields resume after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* after ") ": field 3 (state) ... field 22 (starttime) = 19 fields on */
	p++;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p + 1, ' ');
	}
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return 0;
	return (__u64)ticks * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
}

bool procfs_alive(int pid, __u64 start_ns)
{
	__u64 tick = 1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK);
	__u64 s = procfs_start_ns(pid);

	return s && s / tick == start_ns / tick;
}
