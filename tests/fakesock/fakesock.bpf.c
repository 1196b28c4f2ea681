// SPDX-License-Identifier: GPL-2.0
/*
 * fakesock.bpf.c - the kernel half of tests/fakesock/fakesock.c: a socket
 * image in kernel memory (an array map's value) for rcleak's raw_tp
 * lifecycle program to read, and where the running kernel puts each field
 * of it.
 *
 * rcleak's raw_tp flavour reads a socket only with probe reads (CO-RE), so
 * it reads this image as it reads a struct sock. `layout` is run once, with
 * BPF_PROG_TEST_RUN, never attached: it writes, for userspace, the image's
 * kernel address, the offsets (CO-RE, this kernel's) of every field rcleak's
 * programs read from a socket, and the current task's network namespace,
 * which the image then names (rcleak tells a container's sockets apart by
 * it). Storing kernel addresses where userspace reads them needs
 * CAP_PERFMON, as rcleak does.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "fakesock.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fake_image);
} image SEC(".maps");

struct fake_layout layout_out = {};

SEC("raw_tp")
int layout(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fake_layout *l = &layout_out;
	struct inet_sock *inet = NULL; /* for the offsets only: never read */
	struct sock *sk = NULL;
	__u32 zero = 0;
	void *img;

	img = bpf_map_lookup_elem(&image, &zero);
	if (!img)
		return 1;
	l->addr = (__u64)img;
	l->net = (__u64)BPF_CORE_READ(task, nsproxy, net_ns);
#define FIELD(dst, f) do { dst.off = bpf_core_field_offset(f); dst.size = bpf_core_field_size(f); } while (0)
	FIELD(l->family, sk->__sk_common.skc_family);
	FIELD(l->num, sk->__sk_common.skc_num);
	FIELD(l->dport, sk->__sk_common.skc_dport);
	FIELD(l->rcv_saddr, sk->__sk_common.skc_rcv_saddr);
	FIELD(l->daddr, sk->__sk_common.skc_daddr);
	FIELD(l->netp, sk->__sk_common.skc_net.net);
	FIELD(l->protocol, sk->sk_protocol);
	FIELD(l->type, sk->sk_type);
	FIELD(l->sport, inet->inet_sport);
	l->shutdown.off = __builtin_preserve_field_info(sk->sk_shutdown, BPF_FIELD_BYTE_OFFSET);
	l->shutdown.size = __builtin_preserve_field_info(sk->sk_shutdown, BPF_FIELD_BYTE_SIZE);
	l->shutdown_lshift = __builtin_preserve_field_info(sk->sk_shutdown, BPF_FIELD_LSHIFT_U64);
	l->shutdown_rshift = __builtin_preserve_field_info(sk->sk_shutdown, BPF_FIELD_RSHIFT_U64);
	l->size = bpf_core_type_size(struct tcp_sock);
	return 0;
}
