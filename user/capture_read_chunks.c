// SPDX-License-Identifier: GPL-2.0
/*
 * capture_read_chunks.c - walking a capture's chunks (capture_read_int.h).
 *
 * A chunk whose header or contents do not check out counts as bad, and
 * since its lengths cannot be trusted the reader scans forward byte by byte
 * for the next header that checks out (one damaged stretch, one bad chunk).
 * A good header whose chunk runs past the end of the file means the file
 * was cut short - unless a good header follows inside it, in which case its
 * length lied and it counts as bad. truncated_at is the end of the last good
 * chunk (or of the file header).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "capture_read_int.h"

struct chunk_hdr {
	__u32 seq, nrec, clen, ulen, dcrc, flags;
};

/* Work to spend on chunks that prove bad, at most (bytes CRC-checked plus
 * bytes inflated). Damage in a real file costs about its size at most: bad
 * chunks do not overlap unless a length lied. Only crafted chunks that
 * overlap, each claiming the rest of the file, cost more - quadratically. */
static __u64 waste_max(__u64 size)
{
	return 4 * size + 64ull * 1024 * 1024;
}

/* Decode a chunk header (CAP_CHUNK_HDR bytes at h); true if it is one:
 * sync word, header CRC, and lengths a writer could have produced. */
static bool chunk_hdr(const unsigned char *h, struct chunk_hdr *c)
{
	if (memcmp(h, CAP_SYNC, CAP_SYNC_LEN) || !capr_crc_ok(crc32_z(0, h, 28), cap_get32(h + 28)))
		return false;
	c->seq = cap_get32(h + 4);
	c->nrec = cap_get32(h + 8);
	c->clen = cap_get32(h + 12);
	c->ulen = cap_get32(h + 16);
	c->dcrc = cap_get32(h + 20);
	c->flags = cap_get32(h + 24);
	return c->ulen <= CAP_CHUNK_ULEN_MAX && c->clen > 0 &&
	       c->clen <= c->ulen + c->ulen / 8 + 64 && c->nrec <= c->ulen / CAP_REC_HDR;
}

/* The first good chunk header at or after from: 1 and *at, or 0 if there is
 * none (then *partial says whether a sync word starts in the last
 * CAP_CHUNK_HDR - 1 bytes: a header cut short), or -errno. */
static int resync(struct capture_reader *r, __u64 from, __u64 *at, bool *partial)
{
	struct chunk_hdr c;
	int rc;

	*partial = false;
	if (!r->mem && (rc = capr_reserve(&r->cbuf, &r->cbuf_cap, SCAN_BLOCK + CAP_CHUNK_HDR)))
		return rc;
	for (__u64 pos = from; pos < r->size; pos += SCAN_BLOCK) {
		const unsigned char *p, *q;
		size_t got, lim;

		rc = capr_view(r, pos, SCAN_BLOCK + CAP_CHUNK_HDR - 1, r->cbuf, &p, &got);
		if (rc)
			return rc;
		lim = got < SCAN_BLOCK ? got : SCAN_BLOCK;
		for (size_t i = 0; i < lim && (q = memchr(p + i, CAP_SYNC[0], lim - i)); i++) {
			i = q - p;
			if (got - i < CAP_CHUNK_HDR) {
				if (got - i >= CAP_SYNC_LEN && !memcmp(q, CAP_SYNC, CAP_SYNC_LEN))
					*partial = true;
			} else if (chunk_hdr(q, &c)) {
				*at = pos + i;
				return 1;
			}
		}
	}
	return 0;
}

/* Every record in p[0, ulen) framed right, nrec of them, nothing left over. */
static bool records_ok(const unsigned char *p, size_t ulen, __u32 nrec)
{
	size_t pos = 0;
	__u32 n = 0;

	while (pos < ulen) {
		__u32 len;

		if (ulen - pos < CAP_REC_HDR)
			return false;
		len = cap_get32(p + pos + 10);
		if (len > CAPTURE_MAX_RECORD || len > ulen - pos - CAP_REC_HDR)
			return false;
		pos += CAP_REC_HDR + (size_t)len;
		n++;
	}
	return n == nrec;
}

/* Check and inflate the chunk whose header c is at r->off (and whose bytes
 * are all in the source). 1: its records are ready, 0: it is bad, -errno. */
static int load_chunk(struct capture_reader *r, const struct chunk_hdr *c)
{
	const unsigned char *z;
	uLongf dlen = c->ulen;
	uLong slen = c->clen;
	size_t got;
	int rc;

	if (c->flags)
		return 0; /* a codec this reader does not know */
	if (!r->mem && (rc = capr_reserve(&r->cbuf, &r->cbuf_cap, c->clen)))
		return rc;
	rc = capr_view(r, r->off + CAP_CHUNK_HDR, c->clen, r->cbuf, &z, &got);
	if (rc)
		return rc;
	r->wasted += c->clen; /* taken back below if the chunk is good */
	if (got < c->clen || !capr_crc_ok(crc32_z(0, z, c->clen), c->dcrc))
		return 0;
	rc = capr_reserve(&r->ubuf, &r->ubuf_cap, c->ulen ? c->ulen : 1);
	if (rc)
		return rc;
	r->wasted += c->ulen;
	if (uncompress2(r->ubuf, &dlen, z, &slen) != Z_OK || dlen != c->ulen || slen != c->clen)
		return 0;
	if (!records_ok(r->ubuf, c->ulen, c->nrec))
		return 0;
	r->wasted -= (__u64)c->clen + c->ulen;
	r->upos = 0;
	r->left = c->nrec;
	return 1;
}

/* Move to the next good chunk with records. 1: r->left > 0, 0: no more,
 * -errno on an I/O error or out of memory. */
int capr_next_chunk(struct capture_reader *r)
{
	for (;;) {
		__u64 avail = r->size - r->off, at = 0;
		const unsigned char *h;
		struct chunk_hdr c;
		bool ok, partial = false;
		size_t got;
		int rc;

		if (avail == 0)
			return 0;
		rc = capr_view(r, r->off, CAP_CHUNK_HDR, r->hdr, &h, &got);
		if (rc)
			return rc;
		if (got < CAP_CHUNK_HDR) {
			r->dmg.truncated = true;
			r->off = r->size;
			return 0;
		}
		ok = chunk_hdr(h, &c);
		if (ok && c.clen > avail - CAP_CHUNK_HDR) {
			/* runs past the end: cut short, unless a good header
			 * follows inside it (then its length lied) */
			rc = resync(r, r->off + 1, &at, &partial);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				r->dmg.truncated = true;
				r->off = r->size;
				return 0;
			}
			r->dmg.chunks_bad++;
			r->off = at;
			continue;
		}
		if (ok) {
			rc = load_chunk(r, &c);
			if (rc < 0)
				return rc;
			if (rc > 0) {
				r->off += CAP_CHUNK_HDR + (__u64)c.clen;
				r->last_end = r->off;
				r->dmg.chunks_ok++;
				if (r->left)
					return 1;
				continue;
			}
		}
		/* damage: a header that does not check out, or a chunk that
		 * does not behind one that does. Its lengths cannot be
		 * trusted, so look for the next good header byte by byte. */
		if (r->wasted > waste_max(r->size)) {
			/* crafted overlapping chunks, each to be checked in
			 * full: stop before that gets quadratic */
			r->dmg.chunks_bad++;
			r->off = r->size;
			return 0;
		}
		rc = resync(r, r->off + 1, &at, &partial);
		if (rc < 0)
			return rc;
		r->dmg.chunks_bad++;
		if (rc == 0) {
			r->dmg.truncated = partial;
			r->off = r->size;
			return 0;
		}
		r->off = at;
	}
}
