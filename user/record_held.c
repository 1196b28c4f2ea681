// SPDX-License-Identifier: GPL-2.0
/* record_held.c - see record_held.h. */
#include <errno.h>

#include "log.h"
#include "record_held.h"

int held_write(struct trig_hold *h, struct mem_ring *ring, struct capture_writer *w, const char *path,
	       double now, double after_end, bool ending)
{
	double since = now - h->at;
	__u64 room;
	int e;

	/* each try writes until the disk is full again, then cuts the file
	 * back: the services on that file system (Redis's AOF, logs) met
	 * ENOSPC again at every refresh of a disk freed too little */
	if (h->said && !capture_room(w, &room) && room < mem_bytes(ring) / 4 * 5 + (64u << 10))
		return 0;
	e = mem_write_held(ring, w);
	if (e == MEM_HELD) {
		if (!h->said)
			elog("trigger: %s: the disk holding %s is full (or over quota): keeping the last %gs "
			     "and what follows in memory, trying again at every refresh (or SIGUSR1): free "
			     "some space there", h->trig.why, path, h->ring_s);
		h->said = true;
		return 0;
	}
	h->held = false;
	ending = ending || after_end <= now;
	if (e) {
		elog("trigger: %s: failed writing the last %gs to %s", h->trig.why, h->ring_s + since, path);
		return e;
	}
	if (!h->said) /* at once: the line it always said */
		elog("trigger: %s: wrote the last %gs to %s, recording %gs more", h->trig.why, h->ring_s,
		     path, after_end - now);
	else if (ending)
		elog("trigger: %s: wrote the last %gs before it and the %.1fs of --after to %s; the "
		     "recording ends", h->trig.why, h->ring_s, since, path);
	else
		elog("trigger: %s: wrote the last %gs before it and %.1fs since to %s, recording %.1fs "
		     "more", h->trig.why, h->ring_s, since, path, after_end - now);
	return 1;
}
