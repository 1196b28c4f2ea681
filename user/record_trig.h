/* SPDX-License-Identifier: GPL-2.0 */
/*
 * record_trig.h - the flight recorder's triggers (record --ring): whether
 * one fired at a refresh, and what record says of a --trigger-headroom
 * that watches a limit it guessed.
 */
#ifndef RCLEAK_RECORD_TRIG_H
#define RCLEAK_RECORD_TRIG_H

#include <stdbool.h>
#include <linux/types.h>

#include "model.h"
#include "opts.h"
#include "record.h"

/* The servers said to have a guessed limit: once a server, 16 at most. */
struct trig_said {
	__u32 pid[16];
	int n;
};

/* Did a trigger fire at this refresh of m (usr1: SIGUSR1 came)? Says
 * which in t (its wall is the caller's). */
bool record_triggered(const struct rcl_opts *o, const struct model *m, bool usr1, struct rec_trigger *t);

/* One line on stderr for each server of m whose limit --trigger-headroom
 * takes from Redis's default maxclients (no --ask-redis, no --maxclients),
 * at the first refresh that sees it listen. */
void record_trigger_limits(const struct rcl_opts *o, const struct model *m, struct trig_said *said);

#endif
