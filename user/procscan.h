/* SPDX-License-Identifier: GPL-2.0 */
/* procscan.h - the fd walk without BPF iterators, for kernels that lack
 * iter/task_file or bpf_sock_from_file (before 5.11), or on request
 * (--walk proc). Reads /proc/net/tcp{,6} and every /proc/PID/fd.
 * Limits: sees rcleak's own network namespace only; slower than the
 * iterator (a readlink per fd). Records carry the socket inode in .sk. */
#ifndef RCLEAK_PROCSCAN_H
#define RCLEAK_PROCSCAN_H

#include <linux/types.h>
#include "rcleak.h"

struct procscan;

/* tree_root > 0: walk only that process's descendants (rcleak run's tree,
 * as the BPF walk's traced() takes it: up to PROCSCAN_TREE_DEPTH parents
 * up); 0: every process. */
#define PROCSCAN_TREE_DEPTH 48
struct procscan *procscan_new(const __u16 *ports, int nports, int tree_root);
void procscan_free(struct procscan *ps);

/* One walk: cb for every fd holding a watched TCP socket. */
int procscan_walk(struct procscan *ps, void (*cb)(const struct rcl_fd_rec *rec, void *ctx),
		  void *ctx);

/* Open fds of pid as of the last walk (only for pids that hold a watched
 * socket), or -1; nunix (may be NULL): how many are the server end of a
 * unix stream connection. */
long procscan_nfds(struct procscan *ps, __u32 pid, long *nunix);

/* Parse one line of /proc/net/unix: 0 with its inode when it is the server
 * end of a stream connection (connected, bound, not listening). */
int procscan_parse_unix_line(const char *line, unsigned long *inode);

/* Parse one line of /proc/net/tcp or tcp6 into rec (addresses, ports,
 * state) and *inode. Returns 0, or -1 for a header or malformed line. */
int procscan_parse_tcp_line(const char *line, int family, struct rcl_fd_rec *rec,
			    unsigned long *inode);

#endif
