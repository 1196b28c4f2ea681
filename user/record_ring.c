// SPDX-License-Identifier: GPL-2.0
/* record_ring.c - the flight recorder's memory (record --ring): see
 * record_ring.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libdeflate.h>

#include "record.h"
#include "record_ring.h"

#define MEM_BLOCK_PLAIN (1u << 20)

/* in the open block: u16 type, u64 ts, u32 len, then the bytes (memory
 * only, native order) */
#define MEM_REC_HDR (2 + 8 + 4)

/* Compress the open block into a closed one. */
static int mem_close_block(struct mem_ring *r)
{
	struct mem_blk *b;
	size_t bound;

	if (!r->blen)
		return 0;
	if (!r->zc && !(r->zc = libdeflate_alloc_compressor(1)))
		return -ENOMEM;
	if (r->len == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 64;
		struct mem_blk *nv = malloc(ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		for (size_t i = 0; i < r->len; i++)
			nv[i] = r->v[(r->head + i) % r->cap];
		free(r->v);
		r->v = nv;
		r->head = 0;
		r->cap = ncap;
	}
	b = &r->v[(r->head + r->len) % r->cap];
	bound = libdeflate_deflate_compress_bound(r->zc, r->blen);
	b->z = malloc(bound);
	if (!b->z)
		return -ENOMEM;
	b->zlen = libdeflate_deflate_compress(r->zc, r->buf, r->blen, b->z, bound);
	if (!b->zlen) { /* cannot happen with the bound's room */
		free(b->z);
		return -ENOBUFS;
	}
	/* keep only what the compressed bytes need */
	{
		unsigned char *z = realloc(b->z, b->zlen);

		if (z)
			b->z = z;
	}
	b->ulen = r->blen;
	b->t = r->buf_t;
	b->cont = r->buf_cont;
	r->len++;
	r->blen = 0;
	return 0;
}

int mem_append(void *ctx, __u16 type, __u64 ts, const void *data, __u32 len)
{
	struct mem_ring *r = ctx;
	size_t need = MEM_REC_HDR + (size_t)len;
	unsigned char *p;
	int err;

	/* a keyframe begins the next block; a full one goes on in the next */
	if (type == REC_TICK) {
		if ((err = mem_close_block(r)))
			return err;
		r->buf_cont = false;
		r->tick_open = true;
		r->tick_blk = r->len;
	} else if (r->blen && r->blen + need > MEM_BLOCK_PLAIN) {
		if ((err = mem_close_block(r)))
			return err;
		r->buf_cont = true; /* its tick and time go on */
		return mem_append(ctx, type, ts, data, len);
	}
	if (!r->blen && !r->buf_cont)
		r->buf_t = r->cur_t;
	if (r->blen + need > r->bcap) {
		size_t ncap = r->bcap ? r->bcap : 65536;

		while (ncap < r->blen + need)
			ncap *= 2;
		p = realloc(r->buf, ncap);
		if (!p)
			return -ENOMEM;
		r->buf = p;
		r->bcap = ncap;
	}
	p = r->buf + r->blen;
	memcpy(p, &type, 2);
	memcpy(p + 2, &ts, 8);
	memcpy(p + 10, &len, 4);
	if (len)
		memcpy(p + MEM_REC_HDR, data, len);
	r->blen += need;
	if (type == REC_TICK_END)
		r->tick_open = false;
	return 0;
}

static void mem_drop_head(struct mem_ring *r)
{
	free(r->v[r->head].z);
	r->head = (r->head + 1) % r->cap;
	r->len--;
}

/* Drop the last keyframe's tick, which failed part way (tick_open): its
 * closed blocks and the open block (nothing else was appended since). */
void mem_drop_tick(struct mem_ring *r)
{
	while (r->len > r->tick_blk) {
		r->len--;
		free(r->v[(r->head + r->len) % r->cap].z);
	}
	r->blen = 0;
	r->buf_cont = false;
	r->tick_open = false;
}

/* Drop whole ticks older than keep_s (the buffer always starts at a tick).
 * A tick is its keyframe and the events up to the next keyframe, so it is
 * older than keep_s only when the next keyframe is: dropping a tick as soon
 * as its own keyframe was older lost the events of up to one interval
 * inside the last keep_s (all of them when the interval exceeds keep_s).
 * A tick's blocks go together: its first and its continuations. */
void mem_trim(struct mem_ring *r, double now)
{
	while (r->len) {
		size_t k = 1;
		double next_t;

		/* the next tick: the next closed block that begins one, else
		 * the open block when it does */
		while (k < r->len && r->v[(r->head + k) % r->cap].cont)
			k++;
		if (k < r->len)
			next_t = r->v[(r->head + k) % r->cap].t;
		else if (r->blen && !r->buf_cont)
			next_t = r->buf_t;
		else
			return;
		if (now - next_t < r->keep_s)
			return;
		while (k--)
			mem_drop_head(r);
	}
}

/* Append the records of n bytes at p (as mem_append laid them) to w. */
static int mem_write_recs(struct capture_writer *w, const unsigned char *p, size_t n)
{
	while (n >= MEM_REC_HDR) {
		__u16 type;
		__u64 ts;
		__u32 len;
		int err;

		memcpy(&type, p, 2);
		memcpy(&ts, p + 2, 8);
		memcpy(&len, p + 10, 4);
		if (len > n - MEM_REC_HDR)
			return -EIO; /* our own bytes: cannot happen */
		if ((err = capture_append(w, type, ts, p + MEM_REC_HDR, len)))
			return err;
		p += MEM_REC_HDR + len;
		n -= MEM_REC_HDR + len;
	}
	return 0;
}

/* Everything held, oldest first, appended to w; the ring unchanged. */
static int mem_write_all(const struct mem_ring *r, struct capture_writer *w)
{
	struct libdeflate_decompressor *zd = libdeflate_alloc_decompressor();
	int err = zd ? 0 : -ENOMEM;

	for (size_t i = 0; i < r->len && !err; i++) {
		const struct mem_blk *b = &r->v[(r->head + i) % r->cap];
		unsigned char *u = malloc(b->ulen ? b->ulen : 1);
		size_t got = 0;

		if (!u)
			err = -ENOMEM;
		else if (libdeflate_deflate_decompress(zd, b->z, b->zlen, u, b->ulen, &got) !=
			 LIBDEFLATE_SUCCESS || got != b->ulen)
			err = -EIO;
		else
			err = mem_write_recs(w, u, b->ulen);
		free(u);
	}
	if (!err)
		err = mem_write_recs(w, r->buf, r->blen);
	if (zd)
		libdeflate_free_decompressor(zd);
	return err;
}

static void mem_clear(struct mem_ring *r)
{
	while (r->len)
		mem_drop_head(r);
	r->blen = 0;
	r->buf_cont = false;
}

int mem_flush_to(struct mem_ring *r, struct capture_writer *w)
{
	int err = mem_write_all(r, w);

	mem_clear(r);
	return err;
}

int mem_write_held(struct mem_ring *r, struct capture_writer *w)
{
	struct capture_pos pos;
	int err;

	if ((err = capture_tell(w, &pos)))
		return err;
	err = mem_write_all(r, w);
	if (!err)
		err = capture_sync(w);
	if (!err) {
		mem_clear(r);
		return 0;
	}
	/* a full disk: the file as it was, the records still held */
	if ((err == -ENOSPC || err == -EDQUOT) && !capture_rewind(w, &pos))
		return MEM_HELD;
	return err;
}

size_t mem_bytes(const struct mem_ring *r)
{
	size_t n = r->blen;

	for (size_t i = 0; i < r->len; i++)
		n += r->v[(r->head + i) % r->cap].zlen;
	return n;
}

void mem_free(struct mem_ring *r)
{
	while (r->len)
		mem_drop_head(r);
	free(r->v);
	free(r->buf);
	if (r->zc)
		libdeflate_free_compressor(r->zc);
}
