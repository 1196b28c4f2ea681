/* SPDX-License-Identifier: GPL-2.0 */
/*
 * capture_read_int.h - internals shared by the capture reader's files:
 *   capture_read.c         opening a capture (file, fd, memory), its source
 *                          and the API of capture.h
 *   capture_read_header.c  the file header
 *   capture_read_chunks.c  walking the chunks, skipping damage
 *
 * Every byte is hostile. Each length is checked against what is left before
 * it is used, allocations are bounded by CAP_CHUNK_ULEN_MAX, and a chunk is
 * checked whole (header CRC, data CRC, zlib stream, record framing) before
 * any of its records is handed out, so a chunk is either good or skipped.
 */
#ifndef RCLEAK_CAPTURE_READ_INT_H
#define RCLEAK_CAPTURE_READ_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <zlib.h>

#include "capture.h"
#include "capture_fmt.h"

#define SCAN_BLOCK (64u * 1024) /* file reader: bytes per resync read */

struct capture_reader {
	const unsigned char *mem;  /* memory source, or NULL */
	int fd;                    /* file source, or -1 */
	__u64 size;                /* bytes in the source (a file: at open) */
	__u64 off;                 /* where the next chunk header should start */
	__u64 last_end;            /* end of the last whole chunk (or the header) */
	bool done;
	struct capture_damage dmg;
	unsigned char hdr[CAP_CHUNK_HDR];  /* file: one chunk header */
	unsigned char *cbuf;       /* file: compressed bytes, resync window */
	size_t cbuf_cap;
	unsigned char *ubuf;       /* records of the current chunk */
	size_t ubuf_cap;
	__u64 wasted;              /* bytes checked in chunks that proved bad */
	size_t upos;               /* next record in ubuf */
	__u32 left;                /* records of the current chunk not yet returned */
};

/* A checksum over bytes matches the one the file holds. */
static inline bool capr_crc_ok(uLong got, __u32 want)
{
	return (__u32)got == want;
}

/* Up to n bytes at off: *p points into the memory source, or into buf after
 * reading them from the file. *got is how many there are (fewer near the
 * end; a file that shrank since open just ends early). 0 or -errno. */
int capr_view(const struct capture_reader *r, __u64 off, size_t n, unsigned char *buf,
	      const unsigned char **p, size_t *got);
/* Make *buf hold at least n bytes (n is bounded by the callers). */
int capr_reserve(unsigned char **buf, size_t *cap, size_t n);

/* Check and decode the file header; on success the chunks start at r->off.
 * -EINVAL: not a capture (empty, or no magic), or a whole header of a major
 * this reader does not know. -EBADMSG: a capture (the magic, as far as the
 * file goes) whose header is cut short or damaged, so that none of it can
 * be read; err says which, naming the file as name. */
int capr_read_header(struct capture_reader *r, const char *name, struct capture_info *info, char *err,
		     size_t errlen);

/* Move to the next good chunk with records. 1: r->left > 0, 0: no more,
 * -errno on an I/O error or out of memory. Damage is counted in r->dmg. */
int capr_next_chunk(struct capture_reader *r);

#endif
