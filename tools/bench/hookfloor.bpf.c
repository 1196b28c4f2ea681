// SPDX-License-Identifier: GPL-2.0
/*
 * hookfloor.bpf.c - the cost of being attached to sock:inet_sock_set_state
 * at all: a tp_btf program on rcleak's hook that does nothing. For the
 * benchmarks only (tools/bench/hookfloor.c loads it); whatever rcleak's
 * lifecycle program costs above this is rcleak's own work. floor_clock
 * (hookfloor --clock) adds one bpf_ktime_get_ns() a run: what a clock read
 * costs on this machine, which rcleak pays once per open and once per close.
 * floor_count (hookfloor --count) counts the handshakes and accepts the hook
 * delivers, for tools/bench/hookloss.sh to hold against the kernel's own
 * counters: what reaches a program on this hook at all. floor_stall
 * (hookfloor --stall PORT MS) holds every connect() to PORT for MS inside
 * the hook, after rcleak's program saw SYN_SENT and before the kernel hashes
 * the socket: the window in which a socket walk cannot find a connect that
 * rcleak has seen (tests/integration/test_counts.py). At most 100 ms: the
 * loop's 2^23 turns, each a clock read, may end a few hundred ms in.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_clock, const struct sock *sk, const int oldstate, const int newstate)
{
	bpf_ktime_get_ns(); /* a helper call: the compiler keeps it */
	return 0;
}

/* by CPU, so that the two CPUs do not share a line: summed at exit */
#define NSLOT 64
__u64 handshakes[NSLOT * 8], accepts[NSLOT * 8];

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_count, const struct sock *sk, const int oldstate, const int newstate)
{
	__u32 i = (bpf_get_smp_processor_id() % NSLOT) * 8;

	if (oldstate == BPF_TCP_SYN_SENT && newstate == BPF_TCP_ESTABLISHED)
		__sync_fetch_and_add(&handshakes[i], 1);
	else if (oldstate == BPF_TCP_LISTEN && newstate == BPF_TCP_SYN_RECV)
		__sync_fetch_and_add(&accepts[i], 1);
	return 0;
}

const volatile __u16 stall_port;
const volatile __u64 stall_ns;

static long stall_until(__u64 i, void *ctx)
{
	return bpf_ktime_get_ns() >= *(__u64 *)ctx;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_stall, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 until;

	if (newstate != BPF_TCP_SYN_SENT || bpf_ntohs(sk->__sk_common.skc_dport) != stall_port)
		return 0;
	until = bpf_ktime_get_ns() + stall_ns;
	bpf_loop(1 << 23, stall_until, &until, 0);
	return 0;
}
