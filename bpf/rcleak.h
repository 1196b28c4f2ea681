/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rcleak.h - the one header shared by the kernel side (bpf/rcleak.bpf.c and
 * its *.bpf.h) and userspace (user/). Neutral C: fixed-width types only, no
 * vmlinux.h, no libc.
 * Both sides must include <linux/types.h> (user) or vmlinux.h (bpf) first.
 */
#ifndef RCLEAK_H
#define RCLEAK_H

#define RCL_MAX_PORTS 64     /* watched ports accepted on the command line */
#define RCL_COMM_LEN 16      /* TASK_COMM_LEN */
#define RCL_MAX_SOCKS 262144 /* default capacity of the socket map */
#define RCL_MAX_PROCS 32768  /* per-process counter entries */

/* Process identity that survives pid reuse: tgid + the group leader's start
 * time in the kernel's boot-time clock (task->start_boottime, ns: what
 * /proc/PID/stat field 22 reports in clock ticks, less the reader's time
 * namespace offset), whole ticks under --walk proc. */
struct rcl_owner {
	__u32 tgid;
	__u32 pad;
	__u64 start_ns;
};

/* A listener of a watched port (BPF map listeners): its owner, its
 * network namespace (the struct net's address) and the address it is bound
 * to, so that two servers on one port number each get their own accepts:
 * in two namespaces (a container and the host), or on two addresses
 * (127.0.0.1 and ::1). net 0: any namespace (--walk proc cannot tell). */
#define RCL_LISTEN_WAYS 8 /* listeners per port told apart */
struct rcl_listener {
	struct rcl_owner owner;
	__u64 net;
	__u32 addr[4]; /* IPv4: addr[0]; all 0: the wildcard */
	__u16 family;
	__u16 pad[3];
};

/* The local end of one of rcleak's own --ask-redis links (BPF .bss
 * self_eps): the server end whose peer is this address and port, on
 * srv_port in network namespace netns, is not a client. The address as
 * IPv6, an IPv4 one v4-mapped. The whole connection, not the address and
 * port alone: once the link is gone they are free, and a client bound to
 * them (to this server, or to another one) is a client. Twice the links
 * rcleak keeps (COLLECT_MAX_LINKS), so that every link's end is in while
 * ends of links given up on wait for their server to drop them. */
#define RCL_SELF_EPS 128
struct rcl_self_ep {
	__u8 addr[16];
	__u16 port;     /* 0: unused */
	__u16 srv_port; /* the server's port it is connected to */
	__u32 netns;    /* the namespace it is made in (inode); 0: unknown */
};

/* Value of the socket map, keyed by the kernel's struct sock address.
 * 24 bytes: at 100k connections the map holds 200k of them. The owner is
 * tgid + start_ns as in struct rcl_owner, without its padding. */
struct rcl_sock {
	__u32 tgid;             /* owner; 0: not known yet (backfilled by the fd walk) */
	__u16 flags;            /* RCL_SOCK_* */
	__u16 seen_gen;         /* low 16 bits of the last reconciliation walk that saw it */
	__u64 start_ns;         /* owner's start time */
	__u64 open_ns;          /* bpf_ktime_get_ns() at insert */
};

/* The socket table's fast half (sock_slots): a direct-mapped array the
 * lifecycle program tries first, indexed by a hash of the socket's address;
 * the socket map holds what collides there and the walks' snapshots. A slot
 * is free when sk is 0, being written when sk has its low bit set (a struct
 * sock address is 8-aligned), and holds socket sk otherwise. Userspace maps
 * it to sweep it. */
#define RCL_SOCK_SLOT_BITS 14
#define RCL_SOCK_SLOTS (1u << RCL_SOCK_SLOT_BITS)
struct rcl_sock_slot {
	__u64 sk;
	struct rcl_sock v;
};

#define RCL_SOCK_CLIENT   (1u << 0) /* we saw connect() (SYN_SENT) */
#define RCL_SOCK_SERVER   (1u << 1) /* we saw the passive open (SYN_RECV) */
#define RCL_SOCK_SNAPSHOT (1u << 2) /* found by a walk, not by an event */
#define RCL_SOCK_EXITED   (1u << 3) /* its holder exited with it open */
#define RCL_SOCK_RELEASED (1u << 4) /* the application closed it */
/* open_ns is the first open's of its tick on that CPU, a lower bound within
 * one tick (1/HZ), and its lifetime goes uncounted: not drawn for the
 * lifetime sample (clock.bpf.h, "open times"). Live mode only. */
#define RCL_SOCK_UNTIMED  (1u << 5)
/* A client's connect() not established yet: counted nowhere until it is,
 * and never if it fails (refused, timed out, aborted), so that a client
 * retrying against a stopped Redis does not read as connect-per-request. */
#define RCL_SOCK_PENDING  (1u << 6)
/* In another network namespace than rcleak's (a container's): the tcp
 * walk, which sees rcleak's namespace only, never sees it, so the sweep
 * leaves it alone (its close event is the only way out). */
#define RCL_SOCK_OTHER_NET (1u << 7)
/* record: its accept is written (emit_accept, lifecycle.bpf.h) */
#define RCL_SOCK_ACC_OUT  (1u << 8)
/* The longest tick (1/HZ) an UNTIMED open_ns may lie before the open: the
 * sweep waits that much longer for such a socket. Linux's HZ is 100 or more. */
#define RCL_TICK_MAX_NS 10000000ULL
/* Lifetimes drawn per CPU and tick when more sockets open than that: about
 * 500 a second per CPU at HZ=250. Each drawn socket costs two clock reads;
 * 2 instead of 8 took 28-38 ns off live's BPF time per connection under a
 * connect storm (tools/bench/cost-ab.sh, bench/NOTES.md). */
#define RCL_LIFE_DRAWS 2

/* Lifetimes of closed connections: bucket 0 holds < 1 ms, bucket k
 * (k >= 1) holds [2^(k-1), 2^k) ms; the last bucket everything longer. */
#define RCL_LIFE_BUCKETS 32

/* Per-process event counters (procs map). Updated atomically by BPF only.
 * The connections a process opened (RCL_SOCK_CLIENT, and sockets found by a
 * walk) and those accepted on its listen ports (RCL_SOCK_SERVER) count in
 * fields of their own, so that a process that listens and connects (a
 * proxy, a Sentinel) is judged by what it opened. The socket's flags choose
 * the field: no more atomics a connection. A process's totals are the sums. */
struct rcl_counters {
	__u64 opened;        /* connections it opened (counted once established) */
	__u64 closed;        /* ... that closed: of those it owns (the opener) */
	__u64 exit_closed;   /* closed by the kernel because the holder exited */
	__u64 released;      /* closed by the application (close(2) while running) */
	__s64 cur;           /* opened - closed (owner's view: follows no fork) */
	__u64 peak;          /* highest cur seen */
	/* the same for accepted connections (no cur, no peak) */
	__u64 accepted;      /* passive opens, for the listener's owner */
	__u64 acc_closed;
	__u64 acc_exit_closed;
	__u64 acc_released;
	__u32 flags;         /* RCL_PROC_* */
	char comm[RCL_COMM_LEN]; /* at its last connect or listen (process context) */
	__u32 life[RCL_LIFE_BUCKETS]; /* lifetimes of closes whose open we saw */
};

#define RCL_PROC_LISTENER (1u << 0) /* listened on a watched port */

/* The process table's fast half (proc_slots): a direct-mapped array of
 * counters the lifecycle program tries first, indexed by a hash of the
 * owner; the procs map holds what collides there. tag is 0 when the slot is
 * free, tgid << 1 | 1 while BPF writes it, tgid << 1 when it holds the
 * counters of process (tgid, start_ns). Two first opens of one process on
 * two CPUs may put its counters in both halves: readers add them up
 * (tracer__for_each_proc). Userspace maps it to read and free slots. */
#define RCL_PROC_SLOT_BITS 11
#define RCL_PROC_SLOTS (1u << RCL_PROC_SLOT_BITS)
struct rcl_proc_slot {
	__u64 tag;
	__u64 start_ns;
	struct rcl_counters c;
};

/* The slot of process (tgid, start_ns); the same in BPF and userspace. */
static inline __u32 rcl_proc_slot_idx(__u32 tgid, __u64 start_ns)
{
	return (__u32)((((__u64)tgid << 32) ^ start_ns) * 0x9E3779B97F4A7C15ull >>
		       (64 - RCL_PROC_SLOT_BITS));
}

/* Record written by the task_file walk after the last fd of a process
 * (fd table) that holds a watched socket: how many fds that table has, and
 * how many of them are the server end of a unix stream connection (a
 * redis-server's unix-socket clients, which take slots of its maxclients).
 * It shares the walk's stream with struct rcl_fd_rec; the two are told
 * apart by the second word, which is an fd number (< 2^31) in an fd record
 * and RCL_WALK_TASK_MARK here. */
#define RCL_WALK_TASK_MARK 0xffffffffu
struct rcl_task_rec {
	__u32 tgid;
	__u32 mark;   /* RCL_WALK_TASK_MARK */
	__u64 nfds;   /* open fds in that fd table */
	__u64 nunix;  /* ... accepted unix stream connections */
};

/* The fd table the task_file walk is in (BPF .bss, walk_cur). */
struct rcl_walk_table {
	__u64 gen;     /* walk_gen it belongs to */
	__u64 files;   /* struct files_struct * */
	__u32 tgid;
	__u32 nfds;
	__u32 watched; /* holds a watched socket: write its rcl_task_rec */
	__u32 nunix;
};

/* What the fd records of one task's table share, read at its first watched
 * socket (BPF .bss, walk_task): its process's start, limits, name and exec
 * count, eight probe reads that were done again for each of a pool's
 * thousand connections. Keyed by the walk, the table and the process (two
 * processes can share a table: CLONE_FILES); a socket shown again (buffer
 * full) finds it. */
struct rcl_walk_task {
	__u64 gen, files;
	__u64 start_ns;
	__u32 tgid;
	__u32 nofile_cur, nofile_max;
	char comm[RCL_COMM_LEN];
	__u8 exec_id;
};

/* RLIMIT_NOFILE in an fd record: RLIM_INFINITY, or anything that does not
 * fit 32 bits (the kernel caps nofile at fs.nr_open, at most INT_MAX). */
#define RCL_NOFILE_INF 0xffffffffu

/* An rlimit value (RLIM_INFINITY is all ones) as an fd record holds it. */
static inline __u32 rcl_nofile32(__u64 v)
{
	return v >= RCL_NOFILE_INF ? RCL_NOFILE_INF : (__u32)v;
}

/* Record written by the task_file walk for every fd that refers to a TCP
 * socket on a watched port (either side). Ports in host byte order;
 * addresses as in the kernel (IPv4 in the first 4 bytes). */
struct rcl_fd_rec {
	__u32 tgid;
	__u32 fd;
	__u64 start_ns;
	__u64 sk;
	__u64 open_ns;    /* when we saw it open (bpf_ktime_get_ns), 0 if unknown */
	__u64 jiffies;    /* bpf_jiffies64() at the walk */
	__u32 nofile_cur; /* RLIMIT_NOFILE; RCL_NOFILE_INF: unlimited */
	__u32 nofile_max;
	/* jiffies (low 32 bits) of the last data received; with RCL_FD_FIN
	 * (CLOSE_WAIT), of the last segment (the later of that and the last
	 * ACK received, tcp_sock.rcv_tstamp): no earlier than the peer's FIN */
	__u32 last_rcv;
	__u32 last_snd;   /* jiffies (low 32 bits) of the last data sent */
	__u16 lport;
	__u16 rport;
	__u8 state;  /* TCP_* as in include/net/tcp_states.h */
	__u8 family; /* AF_INET / AF_INET6 */
	__u8 flags;  /* RCL_FD_* */
	/* the process's exec count (task self_exec_id), low 8 bits: an exec
	 * that keeps the name (python3 into python3) still changes it. 0 in
	 * a capture and in the /proc walk */
	__u8 exec_id;
	__u8 laddr[16];
	__u8 raddr[16];
	char comm[RCL_COMM_LEN];
};

#define RCL_FD_FIN (1u << 0) /* last_rcv counts the peer's FIN (see last_rcv) */

/* One TCP state change on a watched port, sent through the ring buffer
 * only when something records (rcleak record). Attribution is the socket's
 * owner (who connected, or the listener's owner), looked up by socket. */
struct rcl_event {
	__u64 ts_ns;         /* bpf_ktime_get_ns() */
	__u64 sk;
	__u32 tgid;          /* owner; 0 unknown */
	__u32 cur_tgid;      /* the process that acted (connect, listen, close); 0 in softirq */
	__u64 start_ns;      /* owner's start time */
	__u16 lport, rport;
	__u8 oldstate, newstate;
	__u8 family;
	__u8 kind;           /* RCL_EV_* */
	__u8 laddr[16];
	__u8 raddr[16];
	char comm[RCL_COMM_LEN]; /* the acting process's comm; "" in softirq */
};

enum {
	RCL_EV_STATE = 0,     /* any other transition */
	RCL_EV_CONNECT = 1,   /* -> SYN_SENT (connect) */
	RCL_EV_ACCEPT = 2,    /* LISTEN -> SYN_RECV (passive open) */
	RCL_EV_CLOSE = 3,     /* -> CLOSE of a tracked socket (not by its holder) */
	/* The holder's close(2), and the kernel's close at exit: the state
	 * change that close made (to FIN_WAIT1, LAST_ACK or CLOSE), recorded
	 * once under this kind, owned by the closing process. */
	RCL_EV_APP_CLOSE = 4,
	RCL_EV_EXIT_CLOSE = 5,
	RCL_EV_LISTEN = 6,
};

/* Per-CPU statistics (stats map index). */
enum rcl_stat {
	RCL_STAT_EVENTS = 0,    /* state changes on watched ports */
	RCL_STAT_LOST_SOCK,     /* socket map full: insert failed */
	RCL_STAT_LOST_PROC,     /* procs map full: counter lost */
	RCL_STAT_REPAIR_ADD,    /* reconcile found a socket the map lacked */
	RCL_STAT_LOST_RINGBUF,  /* ring buffer full: event not recorded */
	RCL_STAT_RECOVERED,     /* lifecycle runs the kernel skipped, done by the twin */
	RCL_STAT__MAX,
};

/* TCP states we name (include/net/tcp_states.h). */
enum {
	RCL_TCP_ESTABLISHED = 1,
	RCL_TCP_SYN_SENT = 2,
	RCL_TCP_SYN_RECV = 3,
	RCL_TCP_FIN_WAIT1 = 4,
	RCL_TCP_FIN_WAIT2 = 5,
	RCL_TCP_TIME_WAIT = 6,
	RCL_TCP_CLOSE = 7,
	RCL_TCP_CLOSE_WAIT = 8,
	RCL_TCP_LAST_ACK = 9,
	RCL_TCP_LISTEN = 10,
	RCL_TCP_CLOSING = 11,
	RCL_TCP_NEW_SYN_RECV = 12,
};

#endif /* RCLEAK_H */
