/* SPDX-License-Identifier: GPL-2.0 */
/*
 * evbatch.h - kernel events in batches: the compact payload of a REC_EVENTS
 * record (docs/capture-format.md, "Event batches").
 *
 * At the highest connect rate here the recorder writes ~170k events a
 * second, and what it spends goes to the traced workload (2 cores). One
 * record per event (REC_EVENT: a 14-byte record header and ~55 bytes of
 * fixed fields) made libdeflate compress ~65 bytes an event, two thirds of
 * the recorder's CPU. A batch holds up to EVB_MAX_EVENTS events; each
 * event is coded against the ones before it in the same batch (time
 * deltas, and small caches of socket addresses, owners, names and IP
 * addresses), so a typical event is 5-20 bytes before compression. A
 * batch depends on nothing outside itself: reading can start at any
 * record, as before.
 *
 * Neither side allocates. The decoder treats the payload as hostile.
 */
#ifndef RCLEAK_EVBATCH_H
#define RCLEAK_EVBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "rcleak.h"

#define EVB_VERSION    3     /* first byte of a payload, as written (1 and 2 are still read) */
#define EVB_MAX_EVENTS 1024  /* per batch, as written; a reader takes up to 65535 */
#define EVB_BUF        (64u * 1024)
#define EVB_SLOTS      255   /* per cache; code 255 means "the value follows" */

/* Values seen earlier in the batch, each in the slot its hash picks. */
struct evb_cache {
	__u64 sk[EVB_SLOTS];
	struct rcl_owner owner[EVB_SLOTS];
	__u64 comm[EVB_SLOTS][2];  /* zero-padded */
	__u64 addr[EVB_SLOTS][2];  /* zero-padded */
	__u8 addr_size[EVB_SLOTS]; /* 4 or 16 */
	/* per socket slot: the 4-tuple the slot's socket last had (version 2) */
	struct evb_tuple {
		__u16 lport, rport;
		__u8 family, pad[3];
		__u8 laddr[16], raddr[16]; /* zero-padded */
	} tuple[EVB_SLOTS];
	__u8 have_sk[EVB_SLOTS], have_owner[EVB_SLOTS], have_comm[EVB_SLOTS],
	     have_addr[EVB_SLOTS], have_tuple[EVB_SLOTS];
};

struct evb_enc {
	__u8 buf[EVB_BUF];
	size_t len;          /* payload bytes so far */
	__u32 n;             /* events so far */
	__u64 ts0;           /* the record's timestamp: the first event's */
	__u64 last_us;       /* the last event's time, in microseconds */
	struct evb_cache c;
};

/* Start an empty batch. */
void evb_reset(struct evb_enc *b);
/* Add one event; false when the batch is full (write it, reset, add again). */
bool evb_add(struct evb_enc *b, const struct rcl_event *e);

struct evb_dec {
	const __u8 *p;
	size_t len, off;
	__u32 n, i;          /* events declared, events read */
	__u8 version;
	__u64 ts;            /* the last event's: ns (versions 1, 2) or us (3) */
	struct evb_cache c;
};

/* Begin reading a payload whose record timestamp is ts0. 0, or -1 when the
 * payload is not a batch this version reads. */
int evb_dec_init(struct evb_dec *d, const void *p, size_t len, __u64 ts0);
/* The next event: 1 and *e filled, 0 after the last, -1 when the payload
 * is damaged (the events before it stand). */
int evb_dec_next(struct evb_dec *d, struct rcl_event *e);
/* How coarse the decoded times are, in ns: an event's ts_ns is the start of
 * a span this long that holds its real time (1000 in version 3, 1 before). */
static inline __u32 evb_dec_res_ns(const struct evb_dec *d)
{
	return d->version >= 3 ? 1000 : 1;
}

#endif
