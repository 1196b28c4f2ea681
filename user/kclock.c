// SPDX-License-Identifier: GPL-2.0
/* kclock.c - see kclock.h. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kclock.h"

int kclock_parse_offsets(const char *text, __s64 *mono_ns, __s64 *boot_ns)
{
	const char *p = text;

	*mono_ns = *boot_ns = 0;
	while (*p) {
		char name[32];
		long long sec, nsec;
		int used;

		if (sscanf(p, " %31s %lld %lld%n", name, &sec, &nsec, &used) != 3)
			return *p == '\n' || !*p ? 0 : -1;
		if (nsec < 0 || nsec >= 1000000000LL)
			return -1;
		if (!strcmp(name, "monotonic") || !strcmp(name, "1"))
			*mono_ns = sec * 1000000000LL + nsec;
		else if (!strcmp(name, "boottime") || !strcmp(name, "7"))
			*boot_ns = sec * 1000000000LL + nsec;
		p += used;
		while (*p == ' ' || *p == '\n' || *p == '\t')
			p++;
	}
	return 0;
}

static __s64 offsets[2];
static int offsets_read;

static void read_offsets(void)
{
	char buf[256];
	size_t n;
	FILE *f;

	if (offsets_read)
		return;
	offsets_read = 1;
	f = fopen("/proc/self/timens_offsets", "re");
	if (!f)
		return; /* before 5.6, or no CONFIG_TIME_NS: no offsets */
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (kclock_parse_offsets(buf, &offsets[0], &offsets[1]))
		offsets[0] = offsets[1] = 0;
}

__s64 kclock_mono_offset_ns(void)
{
	read_offsets();
	return offsets[0];
}

__s64 kclock_boot_offset_ns(void)
{
	read_offsets();
	return offsets[1];
}

static double clock_s(clockid_t id, __s64 offset_ns)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec - (double)(offset_ns / 1000000000LL) +
	       (double)(ts.tv_nsec - offset_ns % 1000000000LL) / 1e9;
}

double kclock_mono_s(void)
{
	return clock_s(CLOCK_MONOTONIC, kclock_mono_offset_ns());
}

double kclock_boot_s(void)
{
	return clock_s(CLOCK_BOOTTIME, kclock_boot_offset_ns());
}
