/* SPDX-License-Identifier: GPL-2.0 */
/*
 * record_ring.h - the flight recorder's memory (record --ring): one block
 * per tick (its keyframe and the events up to the next keyframe), oldest
 * first. A block is kept deflate-compressed once the next keyframe begins:
 * a keyframe holds a record per connection, and kept one by one (a malloc
 * each) they took about 340 bytes a connection a tick, 1 GiB for a
 * 5-minute ring at 10k connections. Only the block being filled is plain,
 * and it is closed (as a continuation of its tick) when it reaches 1 MiB
 * (MEM_BLOCK_PLAIN): at a long interval a tick's events alone took ~16
 * bytes each kept plain, 36 MB for 20 s of a 19k connections/s storm at
 * -i 600.
 */
#ifndef RCLEAK_RECORD_RING_H
#define RCLEAK_RECORD_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "capture.h"

struct libdeflate_compressor;

struct mem_blk {
	double t;               /* model time of its tick */
	unsigned char *z;       /* compressed records */
	size_t zlen, ulen;
	bool cont;              /* continues the tick of the block before */
};

struct mem_ring {
	struct mem_blk *v;
	size_t head, len, cap;  /* closed blocks, circular */
	unsigned char *buf;     /* the open block: records back to back */
	size_t blen, bcap;
	bool buf_cont;          /* the open block continues a closed one's tick */
	double buf_t;
	double keep_s;
	double cur_t;
	struct libdeflate_compressor *zc;
	bool tick_open;         /* a keyframe went in, its REC_TICK_END not yet */
	size_t tick_blk;        /* closed blocks before the last keyframe's */
};

/* A struct rec_sink's append (ctx: the ring): one record into the open
 * block; a REC_TICK begins a block. Returns 0 or -errno (-ENOMEM). */
int mem_append(void *ctx, __u16 type, __u64 ts, const void *data, __u32 len);

/* Drop the last keyframe's tick, which failed part way (tick_open). */
void mem_drop_tick(struct mem_ring *r);

/* Drop whole ticks older than keep_s at model time now. */
void mem_trim(struct mem_ring *r, double now);

/* Everything held, oldest first, appended to w; the ring is empty after,
 * on error too. Returns 0 or -errno. */
int mem_flush_to(struct mem_ring *r, struct capture_writer *w);

/* The same, synced to the disk, for a trigger; the ring is empty after
 * success. When the disk is full (ENOSPC, EDQUOT), the file is cut back to
 * where it was and the ring keeps everything: MEM_HELD, for the caller to
 * try again once there is room. Other errors: -errno, the ring kept. The
 * writer holds no record not yet written (capture_tell). */
#define MEM_HELD 1
int mem_write_held(struct mem_ring *r, struct capture_writer *w);

/* What the ring holds, in bytes (compressed blocks and the open one). */
size_t mem_bytes(const struct mem_ring *r);

void mem_free(struct mem_ring *r);

#endif
