/* SPDX-License-Identifier: GPL-2.0 */
/* collect.h - one refresh: run the walks, read the counters, feed the model,
 * then complete each process with /proc facts and Redis limits. */
#ifndef RCLEAK_COLLECT_H
#define RCLEAK_COLLECT_H

#include "clientlist.h"
#include "model.h"
#include "opts.h"
#include "procwatch.h"
#include "tracer.h"

/* One per server, and at most 64 ports are watched; RCL_SELF_EPS is twice */
#define COLLECT_MAX_LINKS 64

/* --ask-redis: one connection per local redis-server, and what it said. */
struct server_link {
	struct rcl_owner key;      /* the server process */
	struct redis_link link;
	struct redis_client *clients; /* last CLIENT LIST, joined; NULL if none */
	long nclients;
	double retry_at;           /* after a failure, not before this (model time) */
	bool seen;                 /* the server still exists */
	bool warned;               /* said once why it does not answer */
	bool full;                 /* it last refused rcleak as over its maxclients */
	bool fresh;                /* opened after this refresh's walk */
	int own;                   /* the link's slot of the collector's own[]
				    * while it is open; -1: none */
	double list_at;            /* CLIENT LIST not again before this: it refused, or the last
				    * took long (LIST_DUTY) */
};

struct collector {
	struct tracer *tracer;     /* NULL when replaying a capture */
	const char *tier;          /* lifecycle hook tier, for the views */
	const char *walk;          /* "iter" or "proc" */
	const char *host;          /* replay: the capture's host and kernel, */
	const char *kernel;        /* for the views; NULL: this machine's */
	const char *file;          /* report of several files: this one's path, which
				    * --json names with its host in each line; NULL */
	bool replay_end;           /* replay: the capture's last refresh is
				    * shown, nothing more will come */
	struct model *model;
	const struct rcl_opts *opts;
	struct procwatch *watch;   /* rcleak run: exits, rates, command lines seen
				    * between refreshes (collect_watch); NULL
				    * otherwise */
	/* the live view's --comm NAME: whether a process of that name runs
	 * at this refresh (collect_comm_check), connected or not, which the
	 * table of processes on the watched ports cannot tell */
	enum { COMM_UNKNOWN, COMM_RUNNING, COMM_NONE } comm_state;
	bool keep_exited;          /* rcleak run: exited processes stay for the
				    * summary (the live view forgets them a
				    * window after they exit) */
	double start;           /* monotonic seconds at start (collect_now) */
	double start_boot;      /* the kernel's boot-time clock then, s */
	double last;            /* time of the previous refresh */
	double last_dt;         /* length of the last interval */
	double wall;            /* the wall clock (Unix s) read together with
				 * the time of the last collect_start or
				 * collect_refresh_now, before its walk */
	double last_reconcile;
	__u64 hz_j0;            /* jiffies64 at a first walk, to measure HZ ... */
	double hz_t0;           /* ... against the monotonic clock (0: none yet) */
	__u64 repairs;          /* stale socket entries removed by reconciliation */
	__u64 repairs_added;    /* sockets reconciliation found missing */
	__u64 lost;             /* events not counted or recorded (README: lost_events) */
	__u64 events;
	__u64 prev_events;
	double events_per_s;
	/* local ends of rcleak's recent Redis links (a ring; the kernel's
	 * self_eps holds the same in the same slots) */
	struct own_end {
		__u8 addr[16];  /* IPv6; IPv4 v4-mapped */
		__u16 port;     /* 0: unused */
		__u16 srv_port; /* the server's port the link is to */
		struct rcl_owner srv; /* the server the link is to */
		unsigned long net; /* its network namespace (inode); 0: unknown */
		bool live;      /* rcleak's end is open (a server_link's own) */
		bool seen;      /* the server accepted it: it (or a later link
				 * to it) answered, or a walk saw its end while
				 * rcleak's was open */
		__u64 sk;       /* the server end's socket, seen so (0: not) */
		bool held;      /* a process held it at the last walk (or it is
				 * newer): a stalled server still holds the end
				 * of a link rcleak gave up on */
		struct rcl_owner holder; /* the server holding its other end
					  * at the last walk (tgid 0: none) */
	} own[RCL_SELF_EPS];
	int own_next;
	/* the ports of own[], one bit each: every fd record of a walk asks
	 * whether it is an own end, and almost none is (128 slots to compare
	 * per record: 12.8 million compares a refresh at 100k connections) */
	__u64 own_port_bits[65536 / 64];
	/* the link being opened: its namespace, server and port; then its slot */
	unsigned long own_net_next;
	struct rcl_owner own_srv_next;
	__u16 own_srv_port_next;
	int own_last;
	struct server_link links[COLLECT_MAX_LINKS];
	int nlinks;
};

/* The joined CLIENT LIST of server p, or NULL (no --ask-redis, no answer). */
const struct server_link *collect_link_of(const struct collector *c, const struct proc *p);

/* Redis's CLIENT LIST entry for one connection of process p: of p's own
 * CLIENT LIST when p is the server (its remote address is the entry's
 * addr), else the entry the join gave the client end, socket sk (an
 * address alone was another server's client in another network namespace:
 * pods that each run a Redis on localhost). NULL without --ask-redis or
 * when no entry matches. */
const struct redis_client *collect_redis_peer(const struct collector *c, const struct proc *p,
					      __u64 sk, int family, const __u8 raddr[16], __u16 rport);

/* Close links and free what they hold. */
void collect_free(struct collector *c);

double collect_now(void);

/* The verdict thresholds given on the command line, into the model's. */
void collect_thresholds(const struct rcl_opts *o, struct model_thresholds *th);

/* Snapshot + first refresh. */
int collect_start(struct collector *c);
/* One refresh at time now (collect_now()). Returns 0 or -errno. */
int collect_refresh(struct collector *c, double now);
/* One refresh now: the wall clock (c->wall) and the monotonic time read
 * together, before the walk, so that a tick's two times are one moment (a
 * wall clock read after the walk was its duration late: up to a second at
 * 100k connections). Returns 0 or -errno. */
int collect_refresh_now(struct collector *c);

/* rcleak run's last picture, at time now: a reconciliation first (its tcp
 * walk sees the sockets that exist), then the refresh (its fd walk sees
 * those held), then each connection a process of the tree opened that
 * exists and that no fd table holds counts in its opener's unheld (struct
 * proc), while it runs. Such a socket lives on in a call of another thread
 * blocked on it (recv()), whose fd was closed: close() does not end that
 * call. With --walk proc or --reconcile 0, only the refresh. Returns 0 or
 * -errno. */
int collect_final(struct collector *c, double now);

/* Nothing to show and nothing that narrows it: the model has no process,
 * and neither --pid nor --comm is given (those say so in lines of their
 * own). Where portshint's line about redis-server's ports belongs. */
bool collect_sees_nothing(const struct collector *c);

/* The live view's --comm NAME: sets c->comm_state from the model (a live
 * row of that name), else from /proc. Nothing without --comm. */
void collect_comm_check(struct collector *c);

/* With c->watch: note every process the counters know and date the exits
 * since the last call (procwatch.h), at time now (collect_now()); the next
 * refresh takes exit times and command lines from there. Cheap enough for
 * every pass of a 20 ms loop. Returns 0 or -errno. */
int collect_watch(struct collector *c, double now);

#endif
