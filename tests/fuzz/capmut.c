// SPDX-License-Identifier: GPL-2.0
/*
 * capmut.c - libFuzzer custom mutator for capture files, shared by the
 * targets that take a whole capture (fuzz_capture, fuzz_report). To get past
 * the CRCs and the zlib streams (whose Adler-32 a byte flip breaks) it knows
 * the layout: besides plain byte mutations it mutates the header's fields, a
 * chunk header's fields, or a chunk's inflated records, and then fixes up
 * the lengths, recompresses and recomputes the CRCs - the way a hostile file
 * would be made.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "capture.h"
#include "capture_fmt.h"

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max);

/* ---- structure-aware mutations ----------------------------------------------- */

static unsigned int rnd(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* End of the file header, or 0 if there is no plausible one. */
static size_t header_end(const uint8_t *d, size_t size)
{
	size_t blen;

	if (size < CAP_HDR_FIXED || memcmp(d, CAP_MAGIC, CAP_MAGIC_LEN))
		return 0;
	blen = cap_get32(d + 12);
	if (blen > CAP_HDR_BODY_MAX || blen + CAP_HDR_FIXED + 4 > size)
		return 0;
	return CAP_HDR_FIXED + blen + 4;
}

/* Offset of a chunk picked at random among those laid end to end after the
 * header (checksums not checked), or 0 if there is none. */
static size_t pick_chunk(const uint8_t *d, size_t size, unsigned int *s)
{
	size_t offs[64], n = 0, off = header_end(d, size);

	while (off && n < 64 && size - off >= CAP_CHUNK_HDR && !memcmp(d + off, CAP_SYNC, CAP_SYNC_LEN) &&
	       cap_get32(d + off + 12) <= size - off - CAP_CHUNK_HDR) {
		offs[n++] = off;
		off += CAP_CHUNK_HDR + cap_get32(d + off + 12);
	}
	return n ? offs[rnd(s) % n] : 0;
}

/* Replace old bytes at off with n new ones; 0 if that would not fit. */
static size_t splice(uint8_t *d, size_t size, size_t max, size_t off, size_t old, const uint8_t *nw,
		     size_t n)
{
	if (size - old + n > max)
		return 0;
	memmove(d + off + n, d + off + old, size - off - old);
	memcpy(d + off, nw, n);
	return size - old + n;
}

static void rehash_header(uint8_t *d, size_t end)
{
	cap_put32(d + end - 4, (__u32)crc32(0, d, end - 4));
}

static void rehash_chunk(uint8_t *h, size_t size_after_h, int data_too)
{
	__u32 clen = cap_get32(h + 12);

	if (data_too && clen <= size_after_h - CAP_CHUNK_HDR)
		cap_put32(h + 20, (__u32)crc32(0, h + CAP_CHUNK_HDR, clen));
	cap_put32(h + 28, (__u32)crc32(0, h, 28));
}

/* The header's fields (or its version), then its CRC made right again. */
static size_t mutate_header(uint8_t *d, size_t size, size_t max, unsigned int *s)
{
	size_t end = header_end(d, size), blen, n;
	uint8_t body[1024];

	if (!end)
		return 0;
	if (rnd(s) % 8 == 0) {
		cap_put16(d + 8 + 2 * (rnd(s) % 2), rnd(s) % 4 ? rnd(s) % 3 : rnd(s));
		rehash_header(d, end);
		return size;
	}
	blen = end - CAP_HDR_FIXED - 4;
	if (blen > sizeof(body) / 2)
		return 0;
	memcpy(body, d + CAP_HDR_FIXED, blen);
	n = LLVMFuzzerMutate(body, blen, sizeof(body));
	size = splice(d, size, max, CAP_HDR_FIXED, blen, body, n);
	if (!size)
		return 0;
	cap_put32(d + 12, (__u32)n);
	rehash_header(d, CAP_HDR_FIXED + n + 4);
	return size;
}

/* One field of a chunk header, which then checks out again: lengths that
 * lie under a good CRC. */
static size_t mutate_chunk_hdr(uint8_t *d, size_t size, unsigned int *s)
{
	size_t off = pick_chunk(d, size, s);
	uint8_t *h = d + off;
	__u32 v, field;

	if (!off)
		return 0;
	field = 4 + 4 * (rnd(s) % 6);
	v = cap_get32(h + field);
	switch (rnd(s) % 4) {
	case 0: v += rnd(s) % 9 - 4; break;
	case 1: v = rnd(s) % 2 ? 0 : 0xffffffffu; break;
	case 2: v = rnd(s) % 65536; break;
	default: v ^= 1u << (rnd(s) % 32); break;
	}
	cap_put32(h + field, v);
	rehash_chunk(h, size - off, rnd(s) % 2);
	return size;
}

/* How many records p[0, n) frames, or -1 if it does not frame them. */
static long count_records(const uint8_t *p, size_t n)
{
	size_t pos = 0;
	long k = 0;

	while (pos < n) {
		__u32 len;

		if (n - pos < CAP_REC_HDR)
			return -1;
		len = cap_get32(p + pos + 10);
		if (len > n - pos - CAP_REC_HDR)
			return -1;
		pos += CAP_REC_HDR + (size_t)len;
		k++;
	}
	return k;
}

/* A chunk's records: inflate, mutate, deflate, fix the header. */
static size_t mutate_records(uint8_t *d, size_t size, size_t max, unsigned int *s)
{
	size_t off = pick_chunk(d, size, s), n, ucap;
	uLongf ulen, clen;
	uint8_t *u, *c;
	long k;

	if (!off)
		return 0;
	ulen = cap_get32(d + off + 16);
	if (ulen > (1u << 20))
		return 0;
	ucap = ulen + 4096;
	u = malloc(ucap);
	c = malloc(CAP_CHUNK_HDR + compressBound(ucap));
	if (!u || !c || uncompress(u, &ulen, d + off + CAP_CHUNK_HDR, cap_get32(d + off + 12)) != Z_OK) {
		free(u);
		free(c);
		return 0;
	}
	n = LLVMFuzzerMutate(u, ulen, ucap);
	clen = compressBound(n);
	if (compress2(c + CAP_CHUNK_HDR, &clen, u, n, (int)(rnd(s) % 10)) != Z_OK) {
		free(u);
		free(c);
		return 0;
	}
	memcpy(c, d + off, CAP_CHUNK_HDR);
	k = count_records(u, n);
	if (k >= 0 && rnd(s) % 8)
		cap_put32(c + 8, (__u32)k);
	cap_put32(c + 12, (__u32)clen);
	cap_put32(c + 16, (__u32)n);
	rehash_chunk(c, CAP_CHUNK_HDR + clen, 1);
	size = splice(d, size, max, off, CAP_CHUNK_HDR + cap_get32(d + off + 12), c, CAP_CHUNK_HDR + clen);
	free(u);
	free(c);
	return size;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed)
{
	unsigned int s = seed;
	size_t n = 0;

	switch (rnd(&s) % 8) {
	case 0:
		n = mutate_header(data, size, max, &s);
		break;
	case 1:
	case 2:
		n = mutate_chunk_hdr(data, size, &s);
		break;
	case 3:
	case 4:
	case 5:
		n = mutate_records(data, size, max, &s);
		break;
	default:
		break;
	}
	return n ? n : LLVMFuzzerMutate(data, size, max);
}
