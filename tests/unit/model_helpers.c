// SPDX-License-Identifier: GPL-2.0
/* model_helpers.c - see model_helpers.h. */
#include <string.h>

#include "model_helpers.h"

struct rcl_fd_rec fd_rec(__u32 tgid, __u64 sk, __u32 fd, __u8 state, __u16 lport, __u16 rport)
{
	struct rcl_fd_rec r;

	memset(&r, 0, sizeof(r));
	r.tgid = tgid;
	r.start_ns = tgid * 1000ULL;
	r.sk = sk;
	r.fd = fd;
	r.state = state;
	r.lport = lport;
	r.rport = rport;
	r.family = 2;
	r.nofile_cur = 1024;
	r.nofile_max = 4096;
	strcpy(r.comm, tgid == 1 ? "redis-server" : "client");
	return r;
}
