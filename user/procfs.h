/* SPDX-License-Identifier: GPL-2.0 */
/* procfs.h - per-process facts read from /proc: fd count, RLIMIT_NOFILE,
 * command line, start time. Every function tolerates a vanished process. */
#ifndef RCLEAK_PROCFS_H
#define RCLEAK_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* Number of open fds of pid, or -1. */
long procfs_fd_count(int pid);

/* RLIMIT_NOFILE of pid from /proc/PID/limits; -1 for "unlimited".
 * Returns 0, or -1 if unreadable. */
int procfs_nofile(int pid, long long *soft, long long *hard);

/* Command line with NULs turned to spaces, truncated to len-1 bytes
 * (a truncated one ends in "...", never inside a UTF-8 character, and only
 * when more followed). Returns 0, or -1 when it cannot be
 * known: pid is gone, or has exited (a zombie's is empty). */
int procfs_cmdline(int pid, char *buf, size_t len);

/* The process (thread group) that thread id pid belongs to: pid itself
 * for a process, or -1 when there is no such thread. */
int procfs_tgid(int pid);

/* Whether a process now has the name comm (/proc/PID/comm, as ps -o comm=
 * shows it). If not, *like gets the first name that begins with comm or
 * that comm begins with ("python" and "python3"), or "" when none. */
bool procfs_comm_exists(const char *comm, char *like, size_t len);

/* The name of process pid (/proc/PID/comm) into buf. Returns 0, or -1
 * when it is gone. */
int procfs_comm(int pid, char *buf, size_t len);

/* Process start time (group leader) in ns since boot, at clock-tick
 * resolution, in the kernel's boot-time clock (a time namespace's offset
 * taken off), or 0 when pid does not exist. */
__u64 procfs_start_ns(int pid);

/* The parent process of pid (its real parent's tgid, field 4 of
 * /proc/PID/stat: 0 for init), or -1 when pid is gone. */
int procfs_ppid(int pid);

/* True when pid exists and is the process that started at start_ns
 * (as recorded by BPF, in ns; compared at clock-tick resolution). */
bool procfs_alive(int pid, __u64 start_ns);

/* As procfs_alive, but false also once it exited and is only a zombie
 * waiting for its parent's wait() (a main thread that exited while other
 * threads run is a zombie too: that process still runs). */
bool procfs_running(int pid, __u64 start_ns);


/* Kernel HZ (jiffies per second): CONFIG_HZ from /boot/config-RELEASE or
 * /proc/config.gz; 0 when neither says. */
long procfs_kernel_hz(void);

/* HZ from one jiffies64 reading and the uptime at that moment, using
 * jiffies64 = INITIAL_JIFFIES + uptime * HZ with INITIAL_JIFFIES =
 * 2^32 - 300 * HZ. Snapped to 100, 250, 300 or 1000; 0 if none fits (or
 * the uptime is within 100 s of 300 s, where this cannot tell). */
long procfs_hz_from_jiffies(__u64 jiffies64, double uptime_s);

/* HZ from two jiffies64 readings t1 - t0 >= 1 s apart (seconds, any one
 * clock), snapped as above; 0 if none fits or they are too close. */
long procfs_hz_from_ticks(__u64 j0, double t0, __u64 j1, double t1);
#endif
