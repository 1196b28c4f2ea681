// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers of the capture unit tests (test_capture*.c): a temporary
 * directory for each run, a deterministic stream of records written and
 * checked, files read and written whole. Declared in capture_helpers.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "capture_fmt.h"
#include "capture_helpers.h"

char tdir[64]; /* a fresh directory for the whole run */

char *tpath(char *buf, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", tdir, name);
	return buf;
}

/* ---- a deterministic stream of records ------------------------------------ */

__u64 rnd(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Record i of stream `seed`: type, time and bytes all follow from (seed, i).
 * Sizes run from 0 to maxlen, mostly small; half of each payload is
 * compressible, half is noise. Returns the length. */
__u32 rec_make(__u64 seed, unsigned int i, __u32 maxlen, __u16 *type, __u64 *ts,
	       unsigned char *buf)
{
	static const __u16 types[] = { 1, 2, 3, 0x7fff, 0xffff, 0 };
	__u64 s = (seed + 1) * 0x9E3779B97F4A7C15ull + i * 0xD1B54A32D192ED03ull + 1;
	__u32 len, cls;

	rnd(&s);
	*type = types[rnd(&s) % 6];
	*ts = 1000000000ull + i * 1000ull + rnd(&s) % 1000;
	cls = rnd(&s) % 100;
	if (cls < 20)
		len = rnd(&s) % 17;
	else if (cls < 80)
		len = 16 + rnd(&s) % 300;
	else if (cls < 98)
		len = 300 + rnd(&s) % 4000;
	else
		len = 4000 + rnd(&s) % 40000;
	if (len > maxlen)
		len = maxlen;
	for (__u32 j = 0; j < len; j++)
		buf[j] = (j & 63) < 32 ? (unsigned char)(j / 64 + i) : (unsigned char)rnd(&s);
	return len;
}

void fill_info(struct capture_info *in)
{
	memset(in, 0, sizeof(*in));
	snprintf(in->version, sizeof(in->version), "0.9.1-test");
	snprintf(in->host, sizeof(in->host), "db-7.example.org");
	snprintf(in->kernel, sizeof(in->kernel), "6.1.0-18-amd64");
	snprintf(in->boot_id, sizeof(in->boot_id), "0b1e0cbe-6a5f-4e2e-9f0e-2f1b6c5b1a70");
	in->ports[0] = 6379;
	in->ports[1] = 26379;
	in->nports = 2;
	in->wall_start = 1712345678.25;
	in->mono_start_ns = 123456789012345ull;
}

/* Write records [0, o->n) of the stream to path. */
void write_stream(const char *path, struct wopts *o)
{
	static unsigned char buf[CAPTURE_MAX_RECORD];
	struct capture_writer *w;
	struct capture_info in;
	char err[256];

	fill_info(&in);
	assert_int_equal(capture_writer_open(&w, path, &in, 0, err, sizeof(err)), 0);
	o->nends = 0;
	for (unsigned int i = 0; i < o->n; i++) {
		__u16 type;
		__u64 ts;
		__u32 len = rec_make(o->seed, i, o->maxlen, &type, &ts, buf);

		assert_int_equal(capture_append(w, type, ts, buf, len), 0);
		if (o->every && (i + 1) % o->every == 0) {
			assert_int_equal(capture_flush(w), 0);
			if (o->ends)
				o->ends[o->nends++] = capture_bytes(w);
		}
	}
	assert_int_equal(capture_writer_close(w), 0);
}

/* Read every record left in r; they must be records [0, n) of the stream
 * except [skip_lo, skip_hi), in order. Returns how many were read. */
unsigned int expect_stream(struct capture_reader *r, __u64 seed, __u32 maxlen,
			   unsigned int n, unsigned int skip_lo, unsigned int skip_hi)
{
	static unsigned char buf[CAPTURE_MAX_RECORD];
	struct capture_record rec;
	unsigned int i = 0, got = 0;
	int rc;

	while ((rc = capture_next(r, &rec)) == 1) {
		__u16 type;
		__u64 ts;
		__u32 len;

		if (i == skip_lo)
			i = skip_hi;
		assert_true(i < n);
		len = rec_make(seed, i, maxlen, &type, &ts, buf);
		assert_int_equal(rec.type, type);
		assert_true(rec.ts_ns == ts);
		assert_int_equal(rec.len, len);
		assert_memory_equal(rec.data, buf, len);
		i++;
		got++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(capture_next(r, &rec), 0); /* and stays at the end */
	return got;
}

/* ---- files read and written whole ------------------------------------------ */

unsigned char *slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *b;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc(st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, st.st_size), st.st_size);
	close(fd);
	*len = st.st_size;
	return b;
}

void spill(const char *path, const void *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

/* ---- a capture's parts ---------------------------------------------------- */

size_t header_len(const unsigned char *b)
{
	return CAP_HDR_FIXED + cap_get32(b + 12) + 4;
}

/* A small capture: 3 chunks of 10 records each. */
void small_capture(const char *path, __u64 ends[3])
{
	struct wopts o = { .seed = SMALL_SEED, .n = 3 * SMALL_PER, .maxlen = SMALL_MAX,
			   .every = SMALL_PER, .ends = ends };

	write_stream(path, &o);
	assert_int_equal(o.nends, 3);
}

/* ---- setup ---------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int group_setup(void **state)
{
	snprintf(tdir, sizeof(tdir), "/tmp/rcleak-test-capture.XXXXXX");
	return mkdtemp(tdir) ? 0 : -1;
}

int group_teardown(void **state)
{
	return nftw(tdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
