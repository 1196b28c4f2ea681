/* SPDX-License-Identifier: GPL-2.0 */
/*
 * capture_fmt.h - the capture file's byte layout, shared by capture_write.c
 * and the reader (capture_read*.c) only (callers use capture.h). docs/capture-format.md
 * describes the same layout for humans; keep the two in step.
 *
 * Everything is little-endian and encoded byte by byte: no struct is ever
 * written or read as a whole.
 */
#ifndef RCLEAK_CAPTURE_FMT_H
#define RCLEAK_CAPTURE_FMT_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

/* ---- file header ---------------------------------------------------------
 *   0  8  magic "RCLEAKCF"
 *   8  2  major version   (a reader refuses a major it does not know)
 *  10  2  minor version   (a reader accepts any minor of its major)
 *  12  4  body length B   (at most CAP_HDR_BODY_MAX)
 *  16  B  body: fields, each u16 tag, u16 length, length bytes of value
 * 16+B 4  CRC32 of bytes [0, 16+B)
 */
#define CAP_MAGIC        "RCLEAKCF"
#define CAP_MAGIC_LEN    8
#define CAP_MAJOR        1
/* minor 1: REC_FD payloads end with u8 flags (RCL_FD_*)
 * minor 2: REC_PROC payloads end with u64 unix_clients
 * minor 3: REC_EVENTS payloads in encoding version 2 (evbatch.h)
 * minor 4: ... in encoding version 3 (times in microseconds)
 * minor 5: REC_FD flags bit 7 (RCL_FD_WAITS, model.h)
 * minor 6: REC_END ends a file the recorder finished (record.h)
 * minor 7: header field CAP_F_EV_RES (events' times cached per CPU)
 * minor 8: REC_COUNTERS payloads end with the accepted part of the totals
 * minor 9: REC_PROC payloads end with u64 rcleak_links
 * minor 10: ... then u64 master_links, u64 cluster_links
 * minor 11: REC_END payloads end with u8 flags (REC_END_NO_FINAL)
 * minor 12: header fields CAP_F_SEL_PID, CAP_F_SEL_COMM (record's --pid, --comm) */
#define CAP_MINOR        12
#define CAP_HDR_FIXED    16
#define CAP_HDR_BODY_MAX (64u * 1024)
#define CAP_EV_RES_MAX   1000000000u /* CAP_F_EV_RES read as at most 1 s */

/* Header field tags. Strings are raw bytes without a NUL. A newer minor may
 * add tags; readers skip tags they do not know. */
enum {
	CAP_F_VERSION = 1,   /* string: rcleak version */
	CAP_F_HOST = 2,      /* string */
	CAP_F_KERNEL = 3,    /* string: uname -r */
	CAP_F_BOOT_ID = 4,   /* string */
	CAP_F_PORTS = 5,     /* n x u16 */
	CAP_F_WALL = 6,      /* u64: IEEE-754 binary64 bits of Unix seconds */
	CAP_F_MONO = 7,      /* u64: CLOCK_MONOTONIC ns */
	CAP_F_EV_RES = 8,    /* u64: ns an event's time may be before its real time */
	CAP_F_SEL_PID = 9,   /* u32: record's --pid (absent: none) */
	CAP_F_SEL_COMM = 10, /* string: record's --comm (absent: none) */
};

/* ---- chunk ---------------------------------------------------------------
 *   0  4  sync "RCHK"
 *   4  4  sequence number (0, 1, 2, ... in file order)
 *   8  4  number of records
 *  12  4  compressed length C
 *  16  4  uncompressed length U (at most CAP_CHUNK_ULEN_MAX)
 *  20  4  CRC32 of the C compressed bytes
 *  24  4  flags: 0 (zlib); a chunk with other flags is skipped as bad
 *  28  4  CRC32 of bytes [0, 28) of this header
 *  32  C  zlib stream (RFC 1950) of U bytes of records
 */
#define CAP_SYNC           "RCHK"
#define CAP_SYNC_LEN       4
#define CAP_CHUNK_HDR      32
#define CAP_CHUNK_TARGET   (64u * 1024)        /* writer: records per chunk, bytes */
#define CAP_CHUNK_ULEN_MAX (16u * 1024 * 1024) /* reader: larger is a lie */

/* ---- record (inside a chunk's uncompressed bytes) -------------------------
 *   0  2  type
 *   2  8  ts_ns (CLOCK_MONOTONIC)
 *  10  4  payload length L (at most CAPTURE_MAX_RECORD)
 *  14  L  payload
 */
#define CAP_REC_HDR 14

static inline void cap_put16(unsigned char *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void cap_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static inline void cap_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static inline uint16_t cap_get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t cap_get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t cap_get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Write a one-line reason into err (if any) and return rc. */
__attribute__((format(printf, 4, 5)))
static inline int cap_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

#endif
