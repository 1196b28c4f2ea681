/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kclock.h - the kernel's own clocks, as BPF programs and task start times
 * use them, read from a process that may live in a time namespace.
 *
 * In a time namespace (unshare --time, CRIU restores, some container
 * runtimes) CLOCK_MONOTONIC and CLOCK_BOOTTIME, /proc/uptime and the
 * starttime in /proc/PID/stat are all shifted by the namespace's offsets,
 * while bpf_ktime_get_ns() and task->start_boottime are not. Every
 * comparison between a time rcleak reads in userspace and one its BPF
 * programs recorded goes through here.
 */
#ifndef RCLEAK_KCLOCK_H
#define RCLEAK_KCLOCK_H

#include <linux/types.h>

/* This process's time namespace offsets in ns (0 outside one, or when
 * /proc/self/timens_offsets cannot be read: kernels before 5.6). Read once. */
__s64 kclock_mono_offset_ns(void);
__s64 kclock_boot_offset_ns(void);

/* Parse the text of /proc/self/timens_offsets; 0, or -1 when malformed. */
int kclock_parse_offsets(const char *text, __s64 *mono_ns, __s64 *boot_ns);

/* CLOCK_MONOTONIC in the kernel's terms: bpf_ktime_get_ns()'s clock, in s. */
double kclock_mono_s(void);

/* CLOCK_BOOTTIME in the kernel's terms: task start times' clock, in s. */
double kclock_boot_s(void);

#endif
