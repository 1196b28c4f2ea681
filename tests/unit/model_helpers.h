/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the model unit tests (test_model.c, test_replay.c), in
 * model_helpers.c.
 */
#ifndef RCLEAK_TEST_MODEL_HELPERS_H
#define RCLEAK_TEST_MODEL_HELPERS_H

#include <linux/types.h>

#include "rcleak.h"

/* An fd walk's record: process tgid (started at tgid * 1000 ns, named
 * "redis-server" when tgid is 1, else "client") holds socket sk as fd, in
 * state, between lport and rport, IPv4, with nofile 1024/4096. */
struct rcl_fd_rec fd_rec(__u32 tgid, __u64 sk, __u32 fd, __u8 state, __u16 lport, __u16 rport);

#endif
