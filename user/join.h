/* SPDX-License-Identifier: GPL-2.0 */
/*
 * join.h - find the other end of a connection among another host's fd
 * records, by 4-tuple (rcleak report with several capture files).
 * One index per file, built in O(n log n); each lookup is a binary search,
 * so joining n server connections against m client records is
 * O((n + m) log m) instead of O(n * m).
 */
#ifndef RCLEAK_JOIN_H
#define RCLEAK_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include "model.h"

struct join_index;

/* Index of m's records (not listening ones); NULL when out of memory. */
struct join_index *join_index_build(const struct model *m);
void join_index_free(struct join_index *ix);

/* The first record (in m's order) whose 4-tuple is r's seen from the
 * other end, or NULL. */
const struct rcl_fd_rec *join_index_peer(const struct join_index *ix, const struct rcl_fd_rec *r);

/* Whether r's connection runs over loopback (127.0.0.0/8, ::1, or
 * ::ffff:127.0.0.0/104 on either end): then both of its ends are on one host,
 * and a record of the same 4-tuple in another host's file is another
 * connection. */
bool join_loopback(const struct rcl_fd_rec *r);

#endif
