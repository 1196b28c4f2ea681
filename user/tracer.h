/* SPDX-License-Identifier: GPL-2.0 */
/* tracer.h - BPF lifecycle: choose the hook tier, load, attach, run the
 * walks (iterators) and read the maps. The only module that talks to BPF. */
#ifndef RCLEAK_TRACER_H
#define RCLEAK_TRACER_H

#include <stddef.h>
#include <linux/types.h>
#include "rcleak.h"
#include "opts.h"

struct tracer;

struct tracer_opts {
	const __u16 *ports;
	int nports;
	enum rcl_hooks hooks; /* AUTO: first of tp_btf, raw_tp, tracepoint that works */
	enum rcl_walk walk;   /* AUTO: iterators, else /proc */
	bool tree;            /* trace only rcleak's descendants (rcleak run) */
	__u32 ringbuf_bytes;  /* > 0: send every event through a ring buffer this big */
	int verbose;
};

/* Per-tier outcome, for `rcleak doctor` and -v. */
struct tracer_tier_note {
	const char *tier;
	char why[160]; /* "" when it was chosen */
};

/* Open, load and attach. Returns 0, or an RCL_EXIT_* code with a one-line
 * reason in err. notes (may be NULL) receives one entry per tier tried. */
int tracer__open(struct tracer **out, const struct tracer_opts *o,
		 struct tracer_tier_note notes[3], int *nnotes,
		 char *err, size_t errlen);
void tracer__free(struct tracer *t);

const char *tracer__tier(const struct tracer *t);
/* "iter" or "proc": how holders and the snapshot are found. */
const char *tracer__walk(const struct tracer *t);

/* The snapshot at start: record every watched socket that already exists. */
int tracer__snapshot(struct tracer *t);

/* Walk all fd tables. Calls cb for each fd that holds a watched socket.
 * Afterwards tracer__nfds() answers for the processes walked. */
typedef void (*tracer_fd_cb)(const struct rcl_fd_rec *rec, void *ctx);
int tracer__walk_files(struct tracer *t, tracer_fd_cb cb, void *ctx);
/* Open fds of tgid as of the last walk; -1 if the walk did not see it.
 * nunix (may be NULL): how many of them are the server end of a unix
 * stream connection (0 when unseen). */
long tracer__nfds(struct tracer *t, __u32 tgid, long *nunix);

/* A socket-map entry the reconciliation removed: its socket was not found
 * by the tcp walk, so its close was missed. */
struct rcl_stale_rec {
	__u64 sk;
	struct rcl_owner owner;
	__u32 flags;
};

/* Reconciliation: add sockets the map lacks (counted by BPF), remove entries
 * whose socket is gone (their close was missed): cb for each removed one. */
typedef void (*tracer_stale_cb)(const struct rcl_stale_rec *rec, void *ctx);
int tracer__reconcile(struct tracer *t, tracer_stale_cb cb, void *ctx);
/* The socket table's entries that the last tracer__reconcile()'s tcp walk
 * saw (sockets that existed then): cb for each, as it is now. Returns 0,
 * or -errno (nothing to tell with --walk proc, which has no tcp walk). */
typedef void (*tracer_sock_cb)(__u64 sk, const struct rcl_sock *v, void *ctx);
int tracer__each_seen_sock(struct tracer *t, tracer_sock_cb cb, void *ctx);

/* Tell the kernel side who owns the listener on port (found by a walk), so
 * passive opens on it are attributed even when listen() predates rcleak. */
void tracer__note_listener(struct tracer *t, __u16 port, const struct rcl_owner *o);

/* rcleak's own connection from local port: never counted (both ends). */
void tracer__self_port(struct tracer *t, __u16 port, bool add);
/* Slot (< RCL_SELF_EPS) of the kernel's own-link ends is now addr (IPv6,
 * IPv4 v4-mapped) and port, connected to srv_port in network namespace
 * netns (inode; 0: any); port 0 empties it. Set the port's bit after. */
void tracer__self_ep(struct tracer *t, int slot, const __u8 addr[16], __u16 port, __u16 srv_port,
		     __u32 netns);

/* Per-process counters. */
typedef void (*tracer_proc_cb)(const struct rcl_owner *o, const struct rcl_counters *c, void *ctx);
int tracer__for_each_proc(struct tracer *t, tracer_proc_cb cb, void *ctx);
void tracer__forget_proc(struct tracer *t, const struct rcl_owner *o);

/* Events (when opened with ringbuf_bytes): cb for each, for at most
 * timeout_ms. Returns the number handled or -errno. */
typedef int (*tracer_event_cb)(const struct rcl_event *e, void *ctx);
int tracer__poll_events(struct tracer *t, int timeout_ms, tracer_event_cb cb, void *ctx);

/* Sum of the per-CPU statistics. */
void tracer__stats(struct tracer *t, __u64 out[RCL_STAT__MAX]);
/* Runs of the lifecycle program the kernel skipped: a tracepoint hit nested
 * in another (say from an interrupt) while the program was already running
 * on that CPU (recursion_misses). In record mode on tp_btf and raw_tp the
 * twin does most of them again (tracer__recovered_runs). It is what the
 * kernel reports, not a bound: under softirq storms some kernels (6.18-fc
 * here, not Debian's 6.1 or 6.12) deliver state changes to no program on
 * the hook and count no skip (tools/bench/hookloss.sh). */
__u64 tracer__missed_runs(struct tracer *t);
/* Skipped runs that record's twin did instead. */
__u64 tracer__recovered_runs(struct tracer *t);

#endif
