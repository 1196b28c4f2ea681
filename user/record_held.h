/* SPDX-License-Identifier: GPL-2.0 */
/*
 * record_held.h - a flight recorder's trigger whose write found the disk
 * full (record --ring): the ring, the trigger's record after its tick and
 * what follows stay in memory, untrimmed, and are written once there is
 * room. The ring was lost with exit 1, though a cleanup freed the disk a
 * minute later.
 */
#ifndef RCLEAK_RECORD_HELD_H
#define RCLEAK_RECORD_HELD_H

#include <stdbool.h>

#include "capture.h"
#include "record.h"
#include "record_ring.h"

struct trig_hold {
	bool held;              /* fired, not written yet */
	bool said;              /* the full disk was said (a retry, not the first try) */
	struct rec_trigger trig;
	double at;              /* model time it fired */
	double ring_s;          /* what the ring held then, in seconds */
};

/* The ring (the trigger's record in it) to w and on the disk, at model time
 * now: not at the next refresh (an interval later, up to a day with -i),
 * since the incident that fired may get the recorder killed next (the OOM
 * killer, a kill -9) or take the host down. --after counts from the
 * trigger: after_end is when it ends, and ending says that the recording
 * ends now (its --after was held in memory too). A retry is not made while
 * the file system has no room for the ring. Says what happened in one line.
 * Returns 1 (written: the caller records to the file), 0 (still held: a
 * full disk), or -errno (not written; nothing more is recorded). */
int held_write(struct trig_hold *h, struct mem_ring *ring, struct capture_writer *w, const char *path,
	       double now, double after_end, bool ending);

#endif
