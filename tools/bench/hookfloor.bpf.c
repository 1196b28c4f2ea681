// SPDX-License-Identifier: GPL-2.0
/*
 * hookfloor.bpf.c - the cost of being attached to sock:inet_sock_set_state
 * at all: a tp_btf program on rcleak's hook that does nothing. For the
 * benchmarks only (tools/bench/hookfloor.c loads it); whatever rcleak's
 * lifecycle program costs above this is rcleak's own work. floor_clock
 * (hookfloor --clock) adds one bpf_ktime_get_ns() a run: what a clock read
 * costs on this machine, which rcleak pays once per open and once per close.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

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
