/* SPDX-License-Identifier: GPL-2.0 */
/* fakesock.h - what fakesock.bpf.c tells fakesock.c: where the running
 * kernel keeps each socket field rcleak reads, and the image's address. */
#ifndef FAKESOCK_H
#define FAKESOCK_H

#define FAKE_IMAGE_BYTES 8192

struct fake_image {
	unsigned char b[FAKE_IMAGE_BYTES];
};

struct fake_layout {
	__u64 addr;  /* the image's kernel address */
	__u64 net;   /* the current task's struct net */
	__u32 size;  /* sizeof(struct tcp_sock) here */
	__u32 family, num, dport, rcv_saddr, daddr, netp;
	__u32 protocol, protocol_size, type;
	__u32 shutdown, shutdown_size, shutdown_lshift, shutdown_rshift;
	__u32 sport; /* struct inet_sock's inet_sport */
};

#endif
