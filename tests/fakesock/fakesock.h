/* SPDX-License-Identifier: GPL-2.0 */
/* fakesock.h - what fakesock.bpf.c tells fakesock.c: where the running
 * kernel keeps each socket field rcleak reads, and the image's address. */
#ifndef FAKESOCK_H
#define FAKESOCK_H

#define FAKE_IMAGE_BYTES 8192

struct fake_image {
	unsigned char b[FAKE_IMAGE_BYTES];
};

/* A field of the image: where this kernel has it, and how wide it is. */
struct fake_field {
	__u32 off, size;
};

struct fake_layout {
	__u64 addr;  /* the image's kernel address */
	__u64 net;   /* the current task's struct net */
	__u32 size;  /* sizeof(struct tcp_sock) here */
	struct fake_field family, num, dport, rcv_saddr, daddr, netp, protocol, type;
	struct fake_field sport; /* struct inet_sock's inet_sport */
	struct fake_field shutdown; /* a bitfield on some kernels: the bytes that hold it */
	__u32 shutdown_lshift, shutdown_rshift;
};

#endif
