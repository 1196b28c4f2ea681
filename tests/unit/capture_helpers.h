/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the capture unit tests (test_capture*.c), in capture_helpers.c.
 * They check with cmocka's assert_*: call them from a test only. Each test
 * binary runs its tests as one group with group_setup/group_teardown, which
 * make and remove the directory tpath() names files in.
 */
#ifndef RCLEAK_TEST_CAPTURE_HELPERS_H
#define RCLEAK_TEST_CAPTURE_HELPERS_H

#include <stddef.h>
#include <linux/types.h>

#include "capture.h"

/* ---- the run's directory --------------------------------------------------- */

extern char tdir[64];

/* tdir/name, in buf (PATH_MAX bytes); returns buf */
char *tpath(char *buf, const char *name);
int group_setup(void **state);
int group_teardown(void **state);

/* ---- a deterministic stream of records ------------------------------------ */

__u64 rnd(__u64 *s);
__u32 rec_make(__u64 seed, unsigned int i, __u32 maxlen, __u16 *type, __u64 *ts,
	       unsigned char *buf);
void fill_info(struct capture_info *in);

struct wopts {
	__u64 seed;
	unsigned int n;      /* records */
	__u32 maxlen;        /* largest payload */
	unsigned int every;  /* flush after this many records (0: never) */
	__u64 *ends;         /* capture_bytes() after each flush, if given */
	unsigned int nends;
};

void write_stream(const char *path, struct wopts *o);
unsigned int expect_stream(struct capture_reader *r, __u64 seed, __u32 maxlen,
			   unsigned int n, unsigned int skip_lo, unsigned int skip_hi);

/* ---- files read and written whole ------------------------------------------ */

/* the whole file, malloc'd (the caller frees it); its length in *len */
unsigned char *slurp(const char *path, size_t *len);
/* path made or emptied, then b written to it */
void spill(const char *path, const void *b, size_t len);

/* ---- a capture's parts ---------------------------------------------------- */

/* the length of the header at the start of capture b */
size_t header_len(const unsigned char *b);

/* A small capture: 3 chunks of 10 records each, records [0, 30) of stream
 * SMALL_SEED, payloads up to SMALL_MAX; ends[] says where each chunk ends. */
#define SMALL_SEED 7
#define SMALL_MAX 400
#define SMALL_PER 10
void small_capture(const char *path, __u64 ends[3]);

#endif
