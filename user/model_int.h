/* SPDX-License-Identifier: GPL-2.0 */
/*
 * model_int.h - internals shared by the model's files:
 *   model.c       the process table and one refresh (model.h)
 *   model_conn.c  per-connection facts: idle, CLOSE_WAIT, zombies, remotes
 */
#ifndef RCLEAK_MODEL_INT_H
#define RCLEAK_MODEL_INT_H

#include <stdbool.h>
#include <linux/types.h>
#include "model.h"

/* Does p listen on port (its listen list of this refresh)? */
bool model_listens_on(const struct proc *p, __u16 port);

/* Apply one distinct (socket, holder) pair, not a listening one. */
void model_apply(struct model *m, const struct rcl_fd_rec *r, struct proc *p, int holders,
		 double now);

/* qsort/bsearch order of struct cw_seen: by socket. */
int model_cmp_cw(const void *a, const void *b);

/* Top remote addresses of each server's clients (p->top_remotes). */
void model_top_remotes(struct model *m);

#endif
