/* SPDX-License-Identifier: GPL-2.0 */
/*
 * model.h - per-process state: what each process holds now, what it opened
 * and closed, how fast, and the redis-server limits. Pure: it is fed facts
 * (fd records, counters, /proc facts) and never reads the kernel or prints.
 *
 * One refresh:
 *   model_begin(m)
 *   model_hold(m, rec)            for each fd holding a watched socket
 *   model_counters(m, owner, c)   for each per-process counter entry
 *   model_missed_close(m, owner)  for each close found by reconciliation
 *   model_end(m, now, dt)         derive open/by-state/shared/rates/growth
 *   ... caller fills fds/nofile/cmdline/liveness of each proc ...
 *   views read m->procs[0..n)
 */
#ifndef RCLEAK_MODEL_H
#define RCLEAK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <linux/types.h>
#include "rcleak.h"
#include "rate.h"
#include "recsort.h"

#define MODEL_MAX_LISTEN 16
/* rcl_fd_rec.flags bit set by userspace, beside the kernel's RCL_FD_*: a
 * server's accepted connection whose client CLIENT LIST showed waiting by
 * design (--ask-redis): never a silent-peer zombie. Captures keep it
 * (minor 5), so a replay judges as the recording did. */
#define RCL_FD_WAITS (1u << 7)
#define MODEL_CMDLINE 128
#define MODEL_TOP_REMOTES 5

/* Verdict rules and their thresholds (flags in opts.c; defaults in
 * model_thresholds_default()). */
struct model_thresholds {
	double leak_per_min;    /* LEAK: growth_per_min at least this ... */
	double leak_close_frac; /* ... and closes in the window at most this fraction of opens */
	double churn_per_s;     /* CHURN: connects/s over the window at least this ... */
	double churn_life_ms;   /* ... and median lifetime under this */
	double zombie_s;        /* ZOMBIE: CLOSE_WAIT held, or (servers) peer silent, this long */
	double zombie_idle_s;   /* ZOMBIE (servers): nothing received for this long */
	double fd_limit_pct;    /* FD-LIMIT: fd headroom under this % of nofile_soft */
	double idle_s;          /* a connection counts as idle after this long */
};

void model_thresholds_default(struct model_thresholds *t);
/* rec (a capture's) into *th, but for the RCL_TH_* bits given: *th's. */
void model_thresholds_keep(struct model_thresholds *th, struct model_thresholds rec, unsigned given);

enum verdict { V_OK = 0, V_CHURN, V_ZOMBIE, V_LEAK, V_FD_LIMIT };
const char *verdict_name(enum verdict v);

struct remote_count {
	__u8 family;
	__u8 addr[16];
	long count;
};

/* One connection of a process, for drill-down and joins. */
struct conn_view {
	__u64 sk;
	__u8 state, family;
	__u16 lport, rport;
	__u8 laddr[16], raddr[16];
	int fds[4];      /* the first fd numbers that hold it in this process */
	int nfds;        /* how many fds of this process hold it */
	int holders;     /* how many processes hold it */
	double age_s;    /* since rcleak saw it open; -1 unknown (pre-existing) */
	double idle_s;   /* since the last byte sent or received; -1 unknown */
	double rcv_idle_s; /* since the last byte received; -1 unknown */
	double close_wait_s; /* time seen in CLOSE_WAIT; 0 if not */
};

struct listen_addr {
	__u16 port;
	__u8 family;
	__u8 addr[16];
};

struct proc {
	struct rcl_owner key;
	char comm[RCL_COMM_LEN];
	char cmdline[MODEL_CMDLINE];
	bool have_cmdline;
	bool cmdline_stale;      /* its comm or exec_id changed (an exec): read it again */
	bool exec_known;         /* exec_id is the walk's */
	__u8 exec_id;            /* rcl_fd_rec.exec_id at the last walk */

	/* this refresh, from the fd walk */
	bool held;               /* seen by the walk (alive, holds something) */
	long open;               /* distinct non-listening watched sockets held */
	long established, close_wait, syn_sent, other;
	long shared;             /* ... of which another process holds too */
	long clients;            /* ... accepted on one of its listen ports,
				  * plus unix_clients after model_end */
	long unix_clients;       /* servers: unix-socket clients (the server
				  * ends of unix stream connections it holds),
				  * set by the caller before model_end */
	long rcleak_links;       /* servers: rcleak's own --ask-redis links it
				  * holds: no clients, but Redis counts them
				  * against maxclients (set by the caller) */
	long cluster_links;      /* servers: a cluster node's bus links (INFO
				  * clients' cluster_connections, --ask-redis,
				  * read with maxclients): Redis counts them
				  * against maxclients too; kept between reads */
	long master_links;       /* servers: a replica's link to its master
				  * (CLIENT LIST flags=M, --ask-redis): Redis
				  * counts it against maxclients, and no
				  * accept made it (set by the caller) */
	long own_over;           /* of open: its own (not accepted) that are no
				  * connection any more (model_conn_over) */
	long cw_held;            /* of open: in CLOSE_WAIT for --zombie at least */
	long unheld;             /* rcleak run, at its end: connections it
				  * opened that exist in no fd table
				  * (collect_final) */
	struct listen_addr listen[MODEL_MAX_LISTEN];
	int nlisten;             /* > 0: a server */
	int alive_nlisten;       /* nlisten when it last ran: an exited server keeps it */

	/* counters since start (BPF) plus closes found by reconciliation */
	__u64 opened, closed, missed_closed;
	__u64 prev_opened, prev_closed;
	bool have_prev;
	double open_rate, close_rate; /* per second, last interval */
	double growth_per_min;
	struct series series;
	struct series opened_series, closed_series; /* for windowed rates */
	double win_open_rate;    /* opens/s over the window */
	double win_close_frac;   /* closes / opens over the window; -1 no opens */

	/* lifetimes of closed connections (BPF histogram), idle, zombies */
	__u64 exit_closed;       /* left open when the process exited (leaked) */
	__u64 released;          /* closed by the application itself */
	/* of opened, closed, exit_closed and released (which count both): the
	 * connections accepted on its listen ports (struct rcl_counters) */
	__u64 accepted, acc_closed, acc_exit_closed, acc_released;
	__u64 peak;              /* most connections it had opened and not closed
				  * (its own: accepted ones not counted) */
	bool listener;           /* listened on a watched port (BPF saw it) */
	long close_wait_max;     /* highest cw_held seen (rcleak run's CLOSE_WAIT:
				  * one ioredis's quit() leaves for a moment,
				  * Redis closing first, is none) */
	long own_open_max;       /* most of its own (open, less what it
				  * accepted) held at one refresh: sockets it
				  * got from a parent (fork) or SCM_RIGHTS too,
				  * which peak does not count */
	double max_churn;        /* rcleak run: the most connects/s over any
				  * window (procwatch.h); 0 otherwise */
	double first_seen, last_seen; /* model time */
	__u32 life[RCL_LIFE_BUCKETS];
	double median_lifetime_ms, p99_lifetime_ms; /* -1: no closes seen */
	double max_idle_s;       /* -1: unknown */
	long idle;               /* connections idle longer than thresholds.idle_s */
	long zombies;            /* CLOSE_WAIT held / peer silent beyond threshold */
	enum verdict verdict;    /* V_OK once it exited (nothing to judge) */
	char rule[112];          /* the rule that fired, in words */
	/* the verdict and rule of its last refresh alive: what an exited
	 * process's row still says (the TUI) */
	enum verdict last_verdict;
	char last_rule[112];

	/* servers */
	struct series out_series; /* open minus the accepted: what it opened */
	double out_growth_per_min;
	struct series clients_series;
	double clients_growth_per_min;
	double eta_s;            /* time to effective_limit at current growth; -1 none */
	bool capped_by_nofile;   /* nofile_soft - 32 <= maxclients */
	struct remote_count top_remotes[MODEL_TOP_REMOTES];
	int ntop_remotes;

	/* facts the caller fills after model_end (-1 = unknown) */
	long fds;
	long long nofile_soft, nofile_hard;
	/* the nofile that binds a redis-server's clients (-1: unlimited or
	 * never a finite one). Redis fixes min(maxclients, nofile - 32) at
	 * start; a later raise of its nofile (prlimit) changes nothing until
	 * CONFIG SET maxclients, a lowering binds while it lasts. So: the
	 * lower of nofile_start and nofile_soft; with a maxclients the server
	 * told (which holds its sizing), nofile_soft. model_judge keeps it. */
	long long nofile_sized;
	long long nofile_start;  /* the first finite nofile_soft seen: what
				  * Redis sized by, as far as rcleak knows */
	bool exited;
	double exited_at;        /* model time of the first refresh that found it
				  * gone; in rcleak run, when its watch did */
	long maxclients;         /* servers: 0 unknown */
	const char *maxclients_source;
	double maxclients_at;    /* when last discovered */

	bool touched;            /* internal: seen in this refresh */
};

/* A redis-server: its own connections are Redis's (a replica's link to its
 * master, MIGRATE's cached ones), which Redis makes and drops itself; at
 * its exit the kernel closes them, and that is no application's leak. */
static inline bool proc_is_redis(const char *comm, bool server)
{
	return server && !strcmp(comm, "redis-server");
}

/* What p leaked: the connections it opened that were still open when it
 * (or a fork holding them) exited. Those it accepted and held when it
 * exited are its clients' connections: a redis-server killed with 20
 * clients leaked none (as `rcleak run` judges it, summary.c), nor did a
 * replica killed with its link to its master (proc_is_redis). Captures
 * before format minor 8 carry no split: all of them count there. */
static inline __u64 proc_leaked(const struct proc *p)
{
	if (proc_is_redis(p->comm, p->listener || p->nlisten > 0 || p->alive_nlisten > 0))
		return 0;
	return p->exit_closed >= p->acc_exit_closed ? p->exit_closed - p->acc_exit_closed : 0;
}

struct cw_seen {                 /* first time a socket was seen in CLOSE_WAIT */
	__u64 sk;
	double since;
};

struct model {
	double window_s;
	struct model_thresholds th;
	long hz;                 /* kernel HZ for idle times; 0 unknown */
	__u64 mono_ns;           /* CLOCK_MONOTONIC ns at the walk (ages) */
	double now;              /* seconds, monotonic, of the last model_end */
	struct proc **procs;     /* sorted: open desc, then pid */
	size_t nprocs, cap;
	void *index;             /* tsearch tree of procs by key */
	struct rcl_fd_rec *recs; /* this refresh's fd records, in walk order */
	struct proc **recproc;   /* internal: the holder of each record */
	__u16 *recholders;       /* internal: holders of its socket; 0: the same
				  * (socket, holder) as an earlier record (dup) */
	size_t nrecs, reccap;
	const struct recsort_key *order; /* internal: recs by (socket, holder), or NULL */
	struct proc *last_held;  /* internal: holder of the previous record */
	struct recsort sort;     /* internal: scratch of the record sort */
	__u64 missed_closes;     /* total found by reconciliation */
	struct cw_seen *cw, *cw_next;
	size_t ncw, cwcap, ncw_next, cwcap_next;
	__u64 listen_bits[1024]; /* internal: ports listened on at this walk */
};

struct model *model_new(double window_s);
void model_free(struct model *m);

void model_begin(struct model *m);
int model_hold(struct model *m, const struct rcl_fd_rec *rec);
void model_counters(struct model *m, const struct rcl_owner *o, const struct rcl_counters *c);
void model_missed_close(struct model *m, const struct rcl_owner *o);
void model_end(struct model *m, double now, double dt);

/* After the caller filled fds/nofile/maxclients: verdicts and server ETA. */
void model_judge(struct model *m);

/* Connections of p as of the last refresh (listening sockets excluded),
 * sorted by socket; fills at most max, returns how many p holds. */
size_t model_conns(const struct model *m, const struct proc *p, struct conn_view *out, size_t max);

/* A process of this host holding client connections of a server. */
struct holder_count {
	const struct proc *p;
	long count;
};

/* The processes of the last refresh that hold the client end of srv's
 * connections (a socket whose remote port srv listens on, held by a
 * process that does not listen on its local port, and not in CLOSE_WAIT
 * or CLOSE: the server closed its end), most first (then by
 * pid), at most max into out; how many such processes there are. A
 * socket several processes hold (a fork's) counts for each. NULL out
 * with max 0 only counts; -1 when out of memory. */
long model_server_holders(const struct model *m, const struct proc *srv, struct holder_count *out,
			  size_t max);

/* Percentile (0..1) of a log2 lifetime histogram, in ms (bucket midpoint
 * on a log scale); -1 when empty. */
double model_life_percentile(const __u32 life[RCL_LIFE_BUCKETS], double q);
/* p exited: its listening sockets went with it, and the walk that found
 * it gone left its listen list empty; it is still a server (role, and no
 * client verdict for the accepts it made). The list model_begin kept is
 * put back. For the live view and the replay alike. */
static inline void model_keep_listen(struct proc *p)
{
	if (p->exited && !p->nlisten)
		p->nlisten = p->alive_nlisten;
}

/* Did a process listen on port at the last refresh's walk? */
bool model_listened(const struct model *m, __u16 port);
/* A held socket in state (TCP_*) that is no connection any more: its own
 * end shut down (FIN_WAIT1 on, LAST_ACK: the application's close or
 * shutdown(), counted as its close) or over (CLOSE: both ends closed, or a
 * reset), while a process still holds its fd. It takes no Redis client
 * slot. */
static inline bool model_conn_over(__u8 state)
{
	return state != RCL_TCP_ESTABLISHED && state != RCL_TCP_CLOSE_WAIT && state != RCL_TCP_SYN_SENT &&
	       state != RCL_TCP_SYN_RECV && state != RCL_TCP_LISTEN;
}
/* Has the peer of r, a server's accepted socket, sent no data for the
 * ZOMBIE threshold (--zombie-idle)? */
bool model_silent_peer(const struct model *m, const struct rcl_fd_rec *r);
/* An address as one host: ::ffff:a.b.c.d (an IPv4 peer of a dual-stack
 * socket) becomes AF_INET a.b.c.d; an AF_INET address's unused bytes are
 * zeroed. */
void model_addr_unmap(__u8 *family, __u8 addr[16]);
/* How many lifetimes a histogram holds. */
__u64 model_life_count(const __u32 life[RCL_LIFE_BUCKETS]);

/* Between model_begin and model_end: forget the processes made since the
 * model held n of them, and the records held (a refresh given up halfway,
 * whose records are not to be trusted). The model stays half refilled
 * until the next model_begin. */
void model_drop_since(struct model *m, size_t n);
/* Drop processes that exited more than window_s ago; cb (may be NULL) sees
 * each before it is freed. */
void model_gc(struct model *m, void (*cb)(const struct proc *p, void *ctx), void *ctx);

struct proc *model_find(struct model *m, const struct rcl_owner *o);
/* Find, or make with nothing counted (as a live refresh makes a process
 * whose counters are still zero); NULL when out of memory. */
struct proc *model_get(struct model *m, const struct rcl_owner *o);

/* Redis effective limit: min(maxclients, nofile_soft - 32); maxclients 0
 * means Redis's default. -1 if nothing is known. */
long model_effective_limit(long maxclients, long long nofile_soft);
/* A server's: by its maxclients and nofile_sized. */
long model_server_limit(const struct proc *p);
/* Client slots left for the apps: the limit, less the clients and
 * rcleak's own links (what Redis counts against maxclients). */
long model_server_headroom(const struct proc *p);

#endif
