// SPDX-License-Identifier: GPL-2.0
/* procfs.c - see procfs.h. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "kclock.h"
#include "procfs.h"

bool procfs_comm_exists(const char *comm, char *like, size_t len)
{
	size_t n = strlen(comm);
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (len)
		like[0] = '\0';
	if (!d)
		return true; /* cannot tell: say nothing */
	while ((de = readdir(d))) {
		char path[64], name[32];
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || strlen(de->d_name) > 10)
			continue;
		snprintf(path, sizeof(path), "/proc/%.10s/comm", de->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(name, sizeof(name), f))
			name[0] = '\0';
		fclose(f);
		name[strcspn(name, "\n")] = '\0';
		if (!strcmp(name, comm)) {
			closedir(d);
			return true;
		}
		if (len && !like[0] && name[0] &&
		    (!strncmp(name, comm, n) || !strncmp(comm, name, strlen(name))))
			snprintf(like, len, "%s", name);
	}
	closedir(d);
	return false;
}

int procfs_comm(int pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;
	int err = -1;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (!len || !(f = fopen(path, "r")))
		return -1;
	if (fgets(buf, (int)len, f)) {
		buf[strcspn(buf, "\n")] = '\0';
		err = 0;
	}
	fclose(f);
	return err;
}

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
	bool cut = false;
	ssize_t n;
	int fd;

	if (len < 4)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	/* cut only when more follows than the terminating NUL: one of
	 * exactly len - 1 bytes was whole, yet marked cut */
	if (n == (ssize_t)len - 1) {
		char more[2];
		ssize_t m = read(fd, more, sizeof(more));

		cut = m > 1 || (m == 1 && more[0] != '\0');
	}
	close(fd);
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	if (n <= 0) /* a zombie's (or a kernel thread's) is empty: unknown */
		return -1;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0' || buf[i] == '\n' || buf[i] == '\t')
			buf[i] = ' ';
	buf[n] = '\0';
	if (cut) {
		/* never inside a UTF-8 character: its first bytes alone
		 * showed as '?' and \u00XX, bytes the process never had */
		size_t at = len - 4;

		for (int i = 0; i < 3 && at > 0 && ((unsigned char)buf[at] & 0xc0) == 0x80; i++)
			at--;
		memcpy(buf + at, "...", 4);
	}
	return 0;
}

/* The state (field 3) and start time (field 22, in ns as procfs_start_ns
 * gives it) of pid from /proc/PID/stat. Returns 0, or -1 when pid does not
 * exist. */
/* /proc/PID/stat read into buf (len bytes), and where its fields resume
 * after comm, which may hold spaces and parentheses: the last ')'. NULL when
 * pid does not exist or the line is cut. */
static char *stat_after_comm(int pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return strrchr(buf, ')');
}

static int read_stat(int pid, char *state, __u64 *start_ns)
{
	char buf[1024], *p;
	long long tick, ticks_off;
	unsigned long long ticks;

	p = stat_after_comm(pid, buf, sizeof(buf));
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	*state = p[2];
	/* after ") ": field 3 (state) ... field 22 (starttime) = 19 fields on */
	p++;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p + 1, ' ');
	}
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return -1;
	tick = 1000000000LL / sysconf(_SC_CLK_TCK);
	/* in a time namespace, starttime carries its boot-time offset; taken
	 * off in whole ticks, so that a whole-second offset leaves the
	 * kernel's own tick exactly */
	ticks_off = kclock_boot_offset_ns() / tick;
	if ((long long)ticks <= ticks_off)
		return -1;
	*start_ns = ((__u64)ticks - (__u64)ticks_off) * (__u64)tick;
	return 0;
}

__u64 procfs_start_ns(int pid)
{
	__u64 start;
	char state;

	return read_stat(pid, &state, &start) ? 0 : start;
}

int procfs_ppid(int pid)
{
	char buf[1024], *p;
	int ppid;

	/* after comm: " S PPID ..." (fields 3 and 4) */
	p = stat_after_comm(pid, buf, sizeof(buf));
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

/* Same process: start times agree at clock-tick resolution. */
static bool same_start(__u64 a, __u64 b)
{
	__u64 tick = 1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK);

	return a / tick == b / tick;
}

bool procfs_alive(int pid, __u64 start_ns)
{
	__u64 s = procfs_start_ns(pid);

	return s && same_start(s, start_ns);
}

/* The Threads: line of /proc/PID/status (a zombie's own thread counts
 * until it is reaped); 0 when unknown. */
static long procfs_threads(int pid)
{
	char path[64], line[128];
	long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

bool procfs_running(int pid, __u64 start_ns)
{
	__u64 s;
	char state;

	if (read_stat(pid, &state, &s) || !same_start(s, start_ns))
		return false;
	if (state != 'Z' && state != 'X')
		return true;
	/* a zombie: exited, not reaped yet; or only its main thread exited
	 * (pthread_exit()), which the other threads' count tells */
	return procfs_threads(pid) > 1;
}

static long hz_from_config_line(const char *line)
{
	long hz;

	if (sscanf(line, "CONFIG_HZ=%ld", &hz) == 1 && hz > 0 && hz <= 10000)
		return hz;
	return 0;
}

long procfs_kernel_hz(void)
{
	char path[256], line[256];
	struct utsname u;
	long hz = 0;
	gzFile gz;
	FILE *f;

	if (uname(&u) == 0) {
		snprintf(path, sizeof(path), "/boot/config-%s", u.release);
		if ((f = fopen(path, "r"))) {
			while (!hz && fgets(line, sizeof(line), f))
				hz = hz_from_config_line(line);
			fclose(f);
			if (hz)
				return hz;
		}
	}
	gz = gzopen("/proc/config.gz", "rb");
	if (!gz)
		return 0;
	while (!hz && gzgets(gz, line, sizeof(line)))
		hz = hz_from_config_line(line);
	gzclose(gz);
	return hz;
}

/* est snapped to a HZ the kernel can be built with (within 3 %), or 0. */
static long snap_hz(double est)
{
	static const long known[] = { 100, 250, 300, 1000 };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (est > known[i] * 0.97 && est < known[i] * 1.03)
			return known[i];
	return 0;
}

long procfs_hz_from_jiffies(__u64 jiffies64, double uptime_s)
{
	/* within 100 s of the 300 s offset, the uptime's error weighs too much
	 * (before it, jiffies64 - 2^32 is negative: as good) */
	if (fabs(uptime_s - 300.0) < 100.0)
		return 0;
	return snap_hz(((double)jiffies64 - 4294967296.0) / (uptime_s - 300.0));
}

long procfs_hz_from_ticks(__u64 j0, double t0, __u64 j1, double t1)
{
	if (t1 - t0 < 1.0 || j1 < j0) /* a jiffy off in 1 s is < 1 % at HZ 100 */
		return 0;
	return snap_hz((double)(j1 - j0) / (t1 - t0));
}


int procfs_tgid(int pid)
{
	char path[64], line[128];
	int tgid = -1;
	FILE *f;

	/* /proc/TID/status exists for threads too, though /proc lists only
	 * processes */
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}
