// SPDX-License-Identifier: GPL-2.0
/*
 * rcleak.bpf.c - kernel side of rcleak.
 *
 * Three kinds of programs:
 *  - lifecycle: sock:inet_sock_set_state in three flavours (tp_btf, raw_tp,
 *    classic tracepoint) around one body; userspace keeps exactly one.
 *    Maintains the socket table (who opened which socket) and per-process
 *    opened/closed counters. Nothing goes to userspace per event, except
 *    for `rcleak record` (emit_events: the events ring buffer).
 *  - walks (BPF iterators), run by userspace once per refresh or per
 *    reconciliation: task_file (which process holds which watched socket, and
 *    how many fds each process has), tcp (every watched socket that exists:
 *    the snapshot at start and the repair of missed opens; userspace then
 *    sweeps the socket table for entries the walk did not see: missed closes).
 *  - nothing else: fd ownership is read from the kernel's fd tables by the
 *    walk, never reconstructed from events, so fork, dup, SCM_RIGHTS, threads
 *    and exit are exact by construction.
 *
 * The programs are here; what they do is in the BPF-only headers beside
 * this file, one part each, included in dependency order: maps.bpf.h
 * (settings, maps, per-CPU state), task.bpf.h (processes), listen.bpf.h
 * (listeners), socktab.bpf.h (the socket table), clock.bpf.h (a run's
 * state change and its clock reads), emit.bpf.h (record's events),
 * count.bpf.h (per-process counters), lifecycle.bpf.h (what each state
 * change does). rcleak.h is the one header shared with userspace. One
 * translation unit: everything on the hot path is inlined into the
 * programs.
 *
 * Every hot-path function takes `btf`, a compile-time constant: true in the
 * tp_btf flavour, whose pointers are trusted BTF pointers that can be read
 * with plain (fault-checked) loads; false in raw_tp and the classic
 * tracepoint, which need bpf_probe_read_kernel (CO-RE reads). Inlining
 * drops the branch not taken, so each flavour verifies only its own.
 */
#include "maps.bpf.h"
#include <bpf/bpf_tracing.h>
#include "lifecycle.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* ------------------------------------------------------------------------
 * runs the kernel skipped
 *
 * Kernels that guard __bpf_trace_run with prog->active (6.18 here) run a
 * tp_btf or raw_tp program at most once per CPU at a time: a state change
 * in a softirq that interrupts the lifecycle program on the same CPU skips
 * it, and only bpf_prog_info.recursion_misses tells. `rcleak record`
 * therefore attaches a twin after it on the same hook. The kernel runs the
 * programs of a hook one after the other, so for every state change the
 * twin runs right after the lifecycle program ran, or was skipped. The
 * lifecycle program pushes a note (socket, transition) at the end of each
 * run onto a per-CPU stack; the twin pops it, or, when it is not there,
 * does the work itself.
 *
 * Hook hits on a CPU nest like calls. A hit nested between a run and its
 * twin pushes and pops its own note, so the stack holds exactly the notes
 * of the hits in between their lifecycle run and their twin. The only notes
 * left over are those of hits nested in a twin (the kernel skips the inner
 * twin): the outer twin drops everything pushed above its own note, and
 * puts the top back where it found it when it ends. The push moves the top
 * before it writes, and a pop clears the socket, so a half-written or
 * popped note never matches.
 *
 * Measured on 6.18 under a connect storm with RPS on loopback
 * (tools/bench/skips.sh): without the twin 58-64 % of the skipped runs
 * were accepts and handshakes missing from the capture, 2.1-2.6 % of the
 * connections; with it 0.4-14 % of the skipped runs, 0.02-0.52 %. The
 * residue comes in bursts of 1-3 ms in which hits reached neither program
 * (nor an observer on the classic tracepoint, nor a lone counter on this
 * hook with rcleak not running: tools/bench/hookloss.sh), and that kernel
 * (6.18-fc) counted no skip for them. So `lost` is the kernel's count of
 * skipped runs, not a bound, and reconciliation repairs the counts.
 */

static __always_inline void note_run(struct rcl_runs *r, const void *sk, int oldstate,
				    int newstate)
{
	__u32 t = r->top;

	r->top = t + 1;
	barrier();
	r->change[t & (RCL_RUN_SLOTS - 1)] = (__u16)(oldstate << 8 | newstate);
	barrier();
	r->sk[t & (RCL_RUN_SLOTS - 1)] = (__u64)sk;
}

static __always_inline int lifecycle(const struct sock *sk, int oldstate, int newstate, bool btf)
{
	struct rcl_cpu *pc;

	if (!note_runs)
		return on_sock(NULL, sk, oldstate, newstate, btf);
	pc = this_cpu();
	on_sock(pc, sk, oldstate, newstate, btf);
	if (pc)
		note_run(&pc->runs, sk, oldstate, newstate);
	return 0;
}

static __always_inline int twin(const struct sock *sk, int oldstate, int newstate, bool btf)
{
	__u16 change = (__u16)(oldstate << 8 | newstate);
	struct rcl_cpu *pc = this_cpu();
	struct rcl_runs *r;
	__u32 top, base;
	bool ran = false;

	if (!pc)
		return 0; /* cannot tell: never count twice */
	r = &pc->runs;
	base = top = r->top;
	for (__u32 i = 0; i < RCL_RUN_SLOTS && i < top; i++) {
		__u32 j = (top - 1 - i) & (RCL_RUN_SLOTS - 1);

		if (r->sk[j] == (__u64)sk && r->change[j] == change) {
			r->sk[j] = 0;
			base = top - 1 - i;
			ran = true;
			break;
		}
	}
	r->top = base;
	if (!ran) {
		stat_add(pc, RCL_STAT_RECOVERED);
		on_sock(pc, sk, oldstate, newstate, btf);
	}
	r->top = base; /* drop notes of hits nested in this twin */
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(rcl_state_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	return lifecycle(sk, oldstate, newstate, true);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(rcl_state_raw, const struct sock *sk, const int oldstate, const int newstate)
{
	return lifecycle(sk, oldstate, newstate, false);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(rcl_twin_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	return twin(sk, oldstate, newstate, true);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(rcl_twin_raw, const struct sock *sk, const int oldstate, const int newstate)
{
	return twin(sk, oldstate, newstate, false);
}

SEC("tracepoint/sock/inet_sock_set_state")
int rcl_state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	return on_state(NULL, ctx->skaddr, ctx->oldstate, ctx->newstate, ctx->sport,
			ctx->dport, ctx->family, ctx->protocol, false);
}

/* ------------------------------------------------------------------------
 * walks
 */

/* The fd table the task_file walk is in, counted as it goes. It lives in
 * .bss and is committed only when everything the program wrote for an
 * object reached the seq_file: when the buffer fills, seq_file throws that
 * object's output away and shows the object again on the next read(), and
 * a half-committed count would then be counted twice. */
struct rcl_walk_table walk_cur = {};

/* See struct rcl_walk_task. */
struct rcl_walk_task walk_task = {};
volatile __u64 walk_sk_word;

/* Write the summary of table t; 0 on success (or nothing to write). */
static __always_inline int flush_table(struct seq_file *seq, const struct rcl_walk_table *t)
{
	struct rcl_task_rec tr = {};

	if (t->gen != walk_gen || !t->watched)
		return 0;
	tr.tgid = t->tgid;
	tr.mark = RCL_WALK_TASK_MARK;
	tr.nfds = t->nfds;
	tr.nunix = t->nunix;
	return bpf_seq_write(seq, &tr, sizeof(tr));
}

SEC("iter/task_file")
int rcl_walk_files(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct rcl_fd_rec rec = {};
	struct rcl_walk_table next;
	struct rcl_sock *s;
	struct socket *sock;
	struct sock *sk;
	__u64 files;

	if (!task || !file) { /* the end of the walk: the last table */
		if (flush_table(seq, &walk_cur) == 0)
			walk_cur.watched = 0;
		return 0;
	}
	rec.tgid = task->tgid;
	if (rec.tgid == self_tgid || !traced(task, true))
		return 0;
	files = (__u64)BPF_CORE_READ(task, files);
	next = walk_cur;
	if (next.gen != walk_gen || next.files != files) { /* a new fd table */
		if (flush_table(seq, &next))
			return 0; /* buffer full: this object comes again */
		next.gen = walk_gen;
		next.files = files;
		next.tgid = rec.tgid;
		next.nfds = 0;
		next.nunix = 0;
		next.watched = 0;
	}
	next.nfds++;

	/* sock and sk are BTF pointers: plain (fault-checked) loads, where a
	 * probe read is a helper call each, ten of them per socket */
	sock = bpf_sock_from_file(file);
	if (!sock)
		goto commit;
	sk = sock->sk;
	if (!sk)
		goto commit;
	if (sk->sk_protocol != IPPROTO_TCP) {
		/* The server end of a unix stream connection: connected, and
		 * bound to the address of the listener that accepted it (a
		 * client's end has none). Redis counts such clients in
		 * maxclients. */
		if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_UNIX &&
		    BPF_CORE_READ(sk, sk_type) == SOCK_STREAM &&
		    BPF_CORE_READ(sock, state) == SS_CONNECTED &&
		    BPF_CORE_READ((struct unix_sock *)sk, addr))
			next.nunix++;
		goto commit;
	}
	if (sk->sk_type != SOCK_STREAM)
		goto commit;
	rec.family = sk->__sk_common.skc_family;
	if (rec.family != AF_INET && rec.family != AF_INET6)
		goto commit;
	rec.lport = sk->__sk_common.skc_num;
	rec.rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (!port_watched(rec.lport) && !port_watched(rec.rport))
		goto commit;

	rec.fd = ctx->fd;
	/* the socket's address as a number (the key of the socket table):
	 * the verifier refuses arithmetic on the BTF pointer, and a value
	 * read back from a map is a number (a probe read was a helper call).
	 * One walk runs at a time. */
	walk_sk_word = (__u64)sk;
	rec.sk = walk_sk_word;
	rec.state = sk->__sk_common.skc_state;
	rec.jiffies = bpf_jiffies64();
	{
		/* probe reads: the verifier bounds sk's plain loads to struct
		 * sock, and bpf_skc_to_tcp_sock() takes no pointer walked to
		 * from the file (untrusted) */
		struct tcp_sock *tp = (struct tcp_sock *)sk;

		rec.last_rcv = BPF_CORE_READ(tp, inet_conn.icsk_ack.lrcvtime);
		rec.last_snd = BPF_CORE_READ(tp, lsndtime);
		/* the FIN carried an ACK, which stamped rcv_tstamp; a pure FIN
		 * leaves lrcvtime at the last data. In the record's own bytes:
		 * 8 more per socket cost 50 ms and 1.7 MiB at 100k connections */
		if (rec.state == RCL_TCP_CLOSE_WAIT) {
			__u32 ack = BPF_CORE_READ(tp, rcv_tstamp);

			if ((__s32)(ack - rec.last_rcv) > 0)
				rec.last_rcv = ack;
			rec.flags |= RCL_FD_FIN;
		}
	}
	if (walk_task.gen != walk_gen || walk_task.files != files || walk_task.tgid != rec.tgid) {
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);

		walk_task.start_ns = proc_start_ns(leader, false);
		walk_task.nofile_cur = rcl_nofile32(BPF_CORE_READ(task, signal, rlim[RLIMIT_NOFILE].rlim_cur));
		walk_task.nofile_max = rcl_nofile32(BPF_CORE_READ(task, signal, rlim[RLIMIT_NOFILE].rlim_max));
		bpf_probe_read_kernel_str(walk_task.comm, sizeof(walk_task.comm), &leader->comm);
		walk_task.exec_id = (__u8)BPF_CORE_READ(leader, self_exec_id);
		walk_task.gen = walk_gen;
		walk_task.files = files;
		walk_task.tgid = rec.tgid;
	}
	rec.start_ns = walk_task.start_ns;
	rec.nofile_cur = walk_task.nofile_cur;
	rec.nofile_max = walk_task.nofile_max;
	__builtin_memcpy(rec.comm, walk_task.comm, sizeof(rec.comm));
	rec.exec_id = walk_task.exec_id;
	/* word by word: plain loads, of the alignment the fields have */
	if (rec.family == AF_INET) {
		*(__u32 *)rec.laddr = sk->__sk_common.skc_rcv_saddr;
		*(__u32 *)rec.raddr = sk->__sk_common.skc_daddr;
	} else {
		for (int i = 0; i < 4; i++) {
			((__u32 *)rec.laddr)[i] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			((__u32 *)rec.raddr)[i] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];
		}
	}

	/* A socket that was open before we started (or whose open event was
	 * lost) has no owner yet: the first holder becomes its owner, so its
	 * close is attributed. */
	s = sock_get(rec.sk);
	if (s) {
		if (!s->tgid) {
			s->start_ns = rec.start_ns;
			s->tgid = rec.tgid;
		}
		if (!(s->flags & RCL_SOCK_SNAPSHOT))
			rec.open_ns = s->open_ns;
	}

	if (bpf_seq_write(seq, &rec, sizeof(rec)))
		return 0; /* buffer full: this object comes again */
	if (rec.state == RCL_TCP_LISTEN && port_watched(rec.lport)) {
		/* a listener from before rcleak started, or whose listen()
		 * event the last walk's notes overwrote: with its namespace,
		 * which userspace cannot tell from the record */
		struct rcl_owner lo = { .tgid = rec.tgid, .start_ns = rec.start_ns };

		listener_set(rec.lport, sock_net(sk, false), rec.family, (const __u32 *)rec.laddr, &lo);
	}
	next.watched = 1;
commit:
	walk_cur = next;
	return 0;
}

/* Every watched full socket that exists: insert the missing ones. */
SEC("iter/tcp")
int rcl_walk_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct rcl_sock *s, ns = {};
	__u16 family, lport, rport;
	__u64 key;
	__u8 state;

	if (!skc)
		return 0;
	family = BPF_CORE_READ(skc, skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	state = BPF_CORE_READ(skc, skc_state);
	if (state == RCL_TCP_TIME_WAIT || state == RCL_TCP_NEW_SYN_RECV ||
	    state == RCL_TCP_LISTEN || state == RCL_TCP_CLOSE)
		return 0;
	lport = BPF_CORE_READ(skc, skc_num);
	rport = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));
	if (!port_watched(lport) && !port_watched(rport))
		return 0;

	key = sock_id(this_cpu(), skc, true);
	s = sock_get(key);
	if (s) {
		s->seen_gen = (__u16)walk_gen;
		return 0;
	}
	/* an end of rcleak's own --ask-redis link, which the lifecycle
	 * leaves out on purpose (self_tgid, drop_own): no event was lost */
	if (self_addr(skc, rport, lport, family, false) || self_addr(skc, lport, rport, family, true))
		return 0;
	ns.open_ns = bpf_ktime_get_ns();
	ns.flags = RCL_SOCK_SNAPSHOT;
	ns.seen_gen = (__u16)walk_gen;
	if (bpf_map_update_elem(&socks, &key, &ns, BPF_NOEXIST) == 0) {
		if (reconciling)
			stat_inc(RCL_STAT_REPAIR_ADD);
	}
	return 0;
}
