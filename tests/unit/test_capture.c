// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: capture files. Round trips, a cut at every byte offset,
 * damaged chunks, hostile headers, the writer's refusals (symlinks, existing
 * and non-regular files) and its behaviour on a full disk. No root needed;
 * the tmpfs ENOSPC test skips itself where it cannot mount.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "capture.h"
#include "capture_fmt.h"

static char dir[64]; /* a fresh directory for the whole run */

static char *tpath(char *buf, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
	return buf;
}

/* ---- a deterministic stream of records ------------------------------------ */

static __u64 rnd(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Record i of stream `seed`: type, time and bytes all follow from (seed, i).
 * Sizes run from 0 to maxlen, mostly small; half of each payload is
 * compressible, half is noise. Returns the length. */
static __u32 rec_make(__u64 seed, unsigned int i, __u32 maxlen, __u16 *type, __u64 *ts,
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

static void fill_info(struct capture_info *in)
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

struct wopts {
	__u64 seed;
	unsigned int n;      /* records */
	__u32 maxlen;        /* largest payload */
	unsigned int every;  /* flush after this many records (0: never) */
	__u64 *ends;         /* capture_bytes() after each flush, if given */
	unsigned int nends;
};

/* Write records [0, o->n) of the stream to path. */
static void write_stream(const char *path, struct wopts *o)
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
static unsigned int expect_stream(struct capture_reader *r, __u64 seed, __u32 maxlen,
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

static unsigned char *slurp(const char *path, size_t *len)
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

static void spill(const char *path, const void *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static size_t header_len(const unsigned char *b)
{
	return CAP_HDR_FIXED + cap_get32(b + 12) + 4;
}

/* A small capture: 3 chunks of 10 records each. */
#define SMALL_SEED 7
#define SMALL_MAX 400
#define SMALL_PER 10
static void small_capture(const char *path, __u64 ends[3])
{
	struct wopts o = { .seed = SMALL_SEED, .n = 3 * SMALL_PER, .maxlen = SMALL_MAX,
			   .every = SMALL_PER, .ends = ends };

	write_stream(path, &o);
	assert_int_equal(o.nends, 3);
}

/* ---- round trips ----------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	static unsigned char big[CAPTURE_MAX_RECORD + 1];
	struct wopts o = { .seed = 1, .n = 10000, .maxlen = 40000 };
	struct capture_writer *w;
	struct capture_reader *r;
	struct capture_record rec;
	struct capture_damage d;
	struct capture_info in;
	char p[PATH_MAX], err[256];
	struct stat st;

	write_stream(tpath(p, "rt.cap"), &o);
	assert_int_equal(capture_reader_open(&r, p, &in, err, sizeof(err)), 0);
	assert_int_equal(expect_stream(r, 1, 40000, o.n, 0, 0), o.n);
	capture_damage(r, &d);
	assert_true(d.chunks_ok > 10);
	assert_int_equal(d.chunks_bad, 0);
	assert_false(d.truncated);
	assert_int_equal(stat(p, &st), 0);
	assert_true(d.truncated_at == (__u64)st.st_size);
	capture_reader_close(r);

	/* the largest record there may be, around others; one too large is
	 * refused and harms nothing */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 31 + i / 977);
	fill_info(&in);
	assert_int_equal(capture_writer_open(&w, tpath(p, "big.cap"), &in, 0, err, sizeof(err)), 0);
	assert_int_equal(capture_append(w, 9, 1, "a", 1), 0);
	assert_int_equal(capture_append(w, 9, 2, big, CAPTURE_MAX_RECORD), 0);
	assert_int_equal(capture_append(w, 9, 3, big, CAPTURE_MAX_RECORD + 1), -EINVAL);
	assert_int_equal(capture_append(w, 9, 3, NULL, 5), -EINVAL);
	assert_int_equal(capture_append(w, 9, 4, NULL, 0), 0);
	assert_int_equal(capture_writer_close(w), 0);
	assert_int_equal(capture_reader_open(&r, p, NULL, err, sizeof(err)), 0);
	assert_int_equal(capture_next(r, &rec), 1);
	assert_int_equal(rec.len, 1);
	assert_int_equal(capture_next(r, &rec), 1);
	assert_int_equal(rec.len, CAPTURE_MAX_RECORD);
	assert_memory_equal(rec.data, big, CAPTURE_MAX_RECORD);
	assert_int_equal(capture_next(r, &rec), 1);
	assert_true(rec.ts_ns == 4 && rec.len == 0);
	assert_int_equal(capture_next(r, &rec), 0);
	capture_reader_close(r);
}

static void test_empty(void **state)
{
	struct capture_writer *w;
	struct capture_reader *r;
	struct capture_record rec;
	struct capture_damage d;
	char p[PATH_MAX], err[256];
	struct stat st;
	__u64 n;

	assert_int_equal(capture_writer_open(&w, tpath(p, "empty.cap"), NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(capture_flush(w), 0);
	n = capture_bytes(w);
	assert_int_equal(capture_writer_close(w), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_true(n == (__u64)st.st_size);
	assert_int_equal(capture_reader_open(&r, p, NULL, err, sizeof(err)), 0);
	assert_int_equal(capture_next(r, &rec), 0);
	capture_damage(r, &d);
	assert_true(d.chunks_ok == 0 && d.chunks_bad == 0 && !d.truncated && d.truncated_at == n);
	capture_reader_close(r);
}

static void test_info(void **state)
{
	struct capture_writer *w;
	struct capture_reader *r;
	struct capture_info in, out;
	char p[PATH_MAX], err[256];

	fill_info(&in);
	/* fields filled to the brim (no NUL) are cut to fit, not overrun */
	memset(in.host, 'h', sizeof(in.host));
	memset(in.boot_id, 'b', sizeof(in.boot_id));
	in.nports = CAPTURE_MAX_PORTS;
	for (int i = 0; i < CAPTURE_MAX_PORTS; i++)
		in.ports[i] = (__u16)(65535 - i * 1000);
	assert_int_equal(capture_writer_open(&w, tpath(p, "info.cap"), &in, 0, err, sizeof(err)), 0);
	assert_int_equal(capture_writer_close(w), 0);
	assert_int_equal(capture_reader_open(&r, p, &out, err, sizeof(err)), 0);
	capture_reader_close(r);
	assert_string_equal(out.version, in.version);
	assert_string_equal(out.kernel, in.kernel);
	assert_int_equal(strlen(out.host), sizeof(out.host) - 1);
	assert_int_equal(strspn(out.host, "h"), sizeof(out.host) - 1);
	assert_int_equal(strlen(out.boot_id), sizeof(out.boot_id) - 1);
	assert_int_equal(out.nports, CAPTURE_MAX_PORTS);
	assert_memory_equal(out.ports, in.ports, sizeof(in.ports));
	assert_true(out.wall_start == in.wall_start);
	assert_true(out.mono_start_ns == in.mono_start_ns);
	assert_int_equal(out.ev_res_ns, 0); /* not written: times exact */
	in.ev_res_ns = 4000000;
	assert_int_equal(capture_writer_open(&w, tpath(p, "info3.cap"), &in, 0, err, sizeof(err)), 0);
	assert_int_equal(capture_writer_close(w), 0);
	assert_int_equal(capture_reader_open(&r, p, &out, err, sizeof(err)), 0);
	capture_reader_close(r);
	assert_int_equal(out.ev_res_ns, 4000000);

	/* too many ports are cut to the maximum; control characters that
	 * could drive a terminal come back as '?' */
	fill_info(&in);
	in.nports = 1000;
	snprintf(in.host, sizeof(in.host), "a\033]0;pwn\007b");
	assert_int_equal(capture_writer_open(&w, tpath(p, "info2.cap"), &in, 0, err, sizeof(err)), 0);
	assert_int_equal(capture_writer_close(w), 0);
	assert_int_equal(capture_reader_open(&r, p, &out, err, sizeof(err)), 0);
	capture_reader_close(r);
	assert_int_equal(out.nports, CAPTURE_MAX_PORTS);
	assert_string_equal(out.host, "a?]0;pwn?b");
	assert_string_equal(out.boot_id, in.boot_id);
}

static void test_unknown_types(void **state)
{
	static const __u16 types[] = { 0, 1, 0x1234, 0x7fff, 0x8000, 0xfffe, 0xffff };
	struct capture_writer *w;
	struct capture_reader *r;
	struct capture_record rec;
	char p[PATH_MAX], err[256];
	unsigned int i;

	assert_int_equal(capture_writer_open(&w, tpath(p, "types.cap"), NULL, 0, err, sizeof(err)), 0);
	for (i = 0; i < 7; i++)
		assert_int_equal(capture_append(w, types[i], i, &types[i], sizeof(types[i])), 0);
	assert_int_equal(capture_writer_close(w), 0);
	assert_int_equal(capture_reader_open(&r, p, NULL, err, sizeof(err)), 0);
	for (i = 0; capture_next(r, &rec) == 1; i++) {
		assert_int_equal(rec.type, types[i]);
		assert_true(rec.ts_ns == i);
		assert_int_equal(rec.len, 2);
		assert_memory_equal(rec.data, &types[i], 2);
	}
	assert_int_equal(i, 7);
	capture_reader_close(r);
}

/* ---- cut short ------------------------------------------------------------- */

/* A capture cut at `cut` bytes, read from memory and from a file. */
static void check_cut(const unsigned char *b, size_t cut, size_t hlen, const __u64 ends[3])
{
	char p[PATH_MAX], err[256];

	for (int mode = 0; mode < 2; mode++) {
		struct capture_reader *r;
		struct capture_damage d = { 0 };
		unsigned int whole = 0;
		__u64 end = hlen;
		int rc;

		if (mode == 0) {
			/* a copy of exactly cut bytes, so ASan sees any overread */
			unsigned char *c = malloc(cut ? cut : 1);

			assert_non_null(c);
			memcpy(c, b, cut);
			rc = capture_reader_open_mem(&r, c, cut, NULL, err, sizeof(err));
			if (rc == 0) {
				while (whole < 3 && ends[whole] <= cut)
					end = ends[whole++];
				assert_int_equal(expect_stream(r, SMALL_SEED, SMALL_MAX, whole * SMALL_PER,
							       0, 0), whole * SMALL_PER);
				capture_damage(r, &d);
				capture_reader_close(r);
			}
			free(c);
		} else {
			spill(tpath(p, "cut.cap"), b, cut);
			rc = capture_reader_open(&r, p, NULL, err, sizeof(err));
			if (rc == 0) {
				while (whole < 3 && ends[whole] <= cut)
					end = ends[whole++];
				assert_int_equal(expect_stream(r, SMALL_SEED, SMALL_MAX, whole * SMALL_PER,
							       0, 0), whole * SMALL_PER);
				capture_damage(r, &d);
				capture_reader_close(r);
			}
		}
		if (cut == 0) {
			/* nothing says it is a capture */
			assert_int_equal(rc, -EINVAL);
			assert_non_null(strstr(err, "not an rcleak capture"));
			continue;
		}
		if (cut < hlen) {
			/* a capture without its whole header: refused as damaged */
			assert_int_equal(rc, -EBADMSG);
			assert_non_null(strstr(err, "cut short"));
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(d.chunks_ok, whole);
		assert_int_equal(d.chunks_bad, 0);
		assert_int_equal(d.truncated, cut != end);
		assert_true(d.truncated_at == end);
	}
}

static void test_truncate_everywhere(void **state)
{
	char p[PATH_MAX];
	unsigned char *b;
	__u64 ends[3];
	size_t len, hlen;

	small_capture(tpath(p, "small.cap"), ends);
	b = slurp(p, &len);
	assert_true(len == ends[2]);
	assert_true(len > 1000 && len < 20000);
	hlen = header_len(b);
	for (size_t cut = 0; cut <= len; cut++)
		check_cut(b, cut, hlen, ends);
	free(b);
}

/* ---- damage ---------------------------------------------------------------- */

/* Read a damaged copy of the small capture from memory; chunks 1 and 3
 * must come through whole and chunk 2 must be counted bad. */
static void expect_middle_lost(const unsigned char *b, size_t len, unsigned long bad)
{
	struct capture_reader *r;
	struct capture_damage d;
	char err[256];

	assert_int_equal(capture_reader_open_mem(&r, b, len, NULL, err, sizeof(err)), 0);
	assert_int_equal(expect_stream(r, SMALL_SEED, SMALL_MAX, 3 * SMALL_PER, SMALL_PER, 2 * SMALL_PER),
			 2 * SMALL_PER);
	capture_damage(r, &d);
	capture_reader_close(r);
	assert_int_equal(d.chunks_ok, 2);
	assert_int_equal(d.chunks_bad, bad);
	assert_false(d.truncated);
	assert_true(d.truncated_at == len);
}

static void rehash_chunk_hdr(unsigned char *h)
{
	cap_put32(h + 28, (__u32)crc32(0, h, 28));
}

static void test_corrupt_chunks(void **state)
{
	char p[PATH_MAX];
	unsigned char *b, *c;
	__u64 ends[3];
	size_t len;

	small_capture(tpath(p, "dmg.cap"), ends);
	b = slurp(p, &len);
	c = malloc(len);
	assert_non_null(c);

	/* each case starts again from the good bytes */
#define FRESH() memcpy(c, b, len)
	unsigned char *h2 = c + ends[0];         /* chunk 2's header */
	size_t mid = ends[0] + (ends[1] - ends[0]) / 2;

	/* a byte in the middle of chunk 2's compressed data: bad CRC */
	FRESH();
	c[mid] ^= 0x40;
	expect_middle_lost(c, len, 1);

	/* the same with a matching CRC: a bad zlib stream (or records) */
	FRESH();
	c[mid] ^= 0x40;
	cap_put32(h2 + 20, (__u32)crc32(0, h2 + CAP_CHUNK_HDR, cap_get32(h2 + 12)));
	rehash_chunk_hdr(h2);
	expect_middle_lost(c, len, 1);

	/* chunk 2's compressed length damaged: its header fails, resync */
	for (int k = 0; k < 4; k++) {
		FRESH();
		h2[12 + k] ^= 0x11;
		expect_middle_lost(c, len, 1);
	}
	/* its sync word */
	FRESH();
	h2[1] = 'X';
	expect_middle_lost(c, len, 1);

	/* lengths that lie under a valid header CRC: compressed length one
	 * too short, one too long (it then covers chunk 3's sync word),
	 * uncompressed length, record count, unknown flags */
	static const struct { int field; int delta; } lies[] = {
		{ 12, -1 }, { 12, +1 }, { 12, +40 }, { 16, -1 }, { 16, +1 }, { 8, -1 }, { 8, +1 }, { 24, +1 },
	};
	for (size_t k = 0; k < sizeof(lies) / sizeof(lies[0]); k++) {
		FRESH();
		cap_put32(h2 + lies[k].field, cap_get32(h2 + lies[k].field) + lies[k].delta);
		rehash_chunk_hdr(h2);
		expect_middle_lost(c, len, 1);
	}

	/* chunk 2 overwritten with zeros */
	FRESH();
	memset(h2, 0, ends[1] - ends[0]);
	expect_middle_lost(c, len, 1);
#undef FRESH
	free(c);
	free(b);
}

/* A chunk with no records (the writer makes none, a reader takes it). */
static void test_empty_chunk(void **state)
{
	struct capture_reader *r;
	struct capture_damage d;
	char p[PATH_MAX], err[256];
	unsigned char *b, *c, h[CAP_CHUNK_HDR + 64];
	uLongf zlen = 64;
	__u64 ends[3];
	size_t len;

	small_capture(tpath(p, "e.cap"), ends);
	b = slurp(p, &len);
	assert_int_equal(compress2(h + CAP_CHUNK_HDR, &zlen, (const Bytef *)"", 0, 6), Z_OK);
	memset(h, 0, CAP_CHUNK_HDR);
	memcpy(h, CAP_SYNC, CAP_SYNC_LEN);
	cap_put32(h + 12, zlen);
	cap_put32(h + 20, (__u32)crc32(0, h + CAP_CHUNK_HDR, zlen));
	rehash_chunk_hdr(h);
	c = malloc(len + sizeof(h));
	assert_non_null(c);
	memcpy(c, b, ends[0]);
	memcpy(c + ends[0], h, CAP_CHUNK_HDR + zlen);
	memcpy(c + ends[0] + CAP_CHUNK_HDR + zlen, b + ends[0], len - ends[0]);
	assert_int_equal(capture_reader_open_mem(&r, c, len + CAP_CHUNK_HDR + zlen, NULL, err, sizeof(err)), 0);
	assert_int_equal(expect_stream(r, SMALL_SEED, SMALL_MAX, 3 * SMALL_PER, 0, 0), 3 * SMALL_PER);
	capture_damage(r, &d);
	capture_reader_close(r);
	assert_true(d.chunks_ok == 4 && d.chunks_bad == 0 && !d.truncated);
	free(c);
	free(b);
}

/* Garbage between chunks 1 and 2, in a file: the resync scan reads in
 * blocks, so walk chunk 2's header across a block boundary. */
static void test_garbage_resync(void **state)
{
	char p[PATH_MAX], err[256];
	unsigned char *b, *c;
	__u64 ends[3];
	size_t len;

	small_capture(tpath(p, "g.cap"), ends);
	b = slurp(p, &len);
	c = malloc(len + 70000);
	assert_non_null(c);
	for (size_t g = 1; g < 70000; g = g < 40 ? g + 1 : g < 65400 ? g + 6521 : g + 7) {
		struct capture_reader *r;
		struct capture_damage d;
		__u64 s = g;

		memcpy(c, b, ends[0]);
		for (size_t i = 0; i < g; i++)
			c[ends[0] + i] = i % 3 ? (unsigned char)rnd(&s) : 'R';
		memcpy(c + ends[0] + g, b + ends[0], len - ends[0]);
		spill(tpath(p, "g2.cap"), c, len + g);
		assert_int_equal(capture_reader_open(&r, p, NULL, err, sizeof(err)), 0);
		assert_int_equal(expect_stream(r, SMALL_SEED, SMALL_MAX, 3 * SMALL_PER, 0, 0), 3 * SMALL_PER);
		capture_damage(r, &d);
		capture_reader_close(r);
		assert_int_equal(d.chunks_ok, 3);
		assert_int_equal(d.chunks_bad, 1);
		assert_false(d.truncated);
		assert_true(d.truncated_at == len + g);
	}
	/* garbage at the end: counted, not called a cut */
	memcpy(c, b, len);
	memset(c + len, 'R', 100);
	{
		struct capture_reader *r;
		struct capture_damage d;

		assert_int_equal(capture_reader_open_mem(&r, c, len + 100, NULL, err, sizeof(err)), 0);
		assert_int_equal(expect_stream(r, SMALL_SEED, SMALL_MAX, 3 * SMALL_PER, 0, 0), 3 * SMALL_PER);
		capture_damage(r, &d);
		capture_reader_close(r);
		assert_true(d.chunks_ok == 3 && d.chunks_bad == 1 && !d.truncated && d.truncated_at == len);
	}
	free(c);
	free(b);
}

/* Random damage of every kind: nothing may crash, leak or overread. */
static void test_mutations(void **state)
{
	char p[PATH_MAX], err[256];
	unsigned char *b, *c;
	__u64 ends[3], s = 42;
	size_t len;

	small_capture(tpath(p, "m.cap"), ends);
	b = slurp(p, &len);
	for (int it = 0; it < 3000; it++) {
		struct capture_reader *r;
		struct capture_record rec;
		struct capture_damage d;
		size_t n = len;
		int k = 1 + rnd(&s) % 8, rc;

		c = malloc(len);
		assert_non_null(c);
		memcpy(c, b, len);
		while (k--) {
			size_t at = rnd(&s) % n;

			switch (rnd(&s) % 4) {
			case 0: c[at] ^= 1u << (rnd(&s) % 8); break;
			case 1: c[at] = (unsigned char)rnd(&s); break;
			case 2: n = at; break;                                      /* cut */
			default: memmove(c + at, c + at + 1, n - at - 1); n--; break; /* drop a byte */
			}
			if (!n)
				break;
		}
		rc = capture_reader_open_mem(&r, c, n, NULL, err, sizeof(err));
		if (rc == 0) {
			while ((rc = capture_next(r, &rec)) == 1)
				assert_true(rec.len <= CAPTURE_MAX_RECORD);
			assert_int_equal(rc, 0);
			capture_damage(r, &d);
			assert_true(d.truncated_at <= n);
			capture_reader_close(r);
		} else {
			assert_true(rc == -EINVAL || rc == -EBADMSG);
		}
		free(c);
	}
	free(b);
}

/* Crafted chunk headers every 64 bytes, each claiming the rest of the file:
 * checking each one in full would cost the square of the file size. The
 * reader gives up after a budget instead (a deterministic sign: few chunks
 * counted bad, not thousands). */
static void test_overlap_bomb(void **state)
{
	const size_t size = 2u << 20;
	struct capture_reader *r;
	struct capture_record rec;
	struct capture_damage d;
	char p[PATH_MAX], err[256];
	unsigned char *b, *c;
	__u64 ends[3];
	size_t len, hlen, pos;

	small_capture(tpath(p, "bomb.cap"), ends);
	b = slurp(p, &len);
	hlen = header_len(b);
	c = calloc(1, size);
	assert_non_null(c);
	memcpy(c, b, hlen);
	for (pos = hlen; pos + CAP_CHUNK_HDR < size; pos += 64) {
		unsigned char *h = c + pos;

		memcpy(h, CAP_SYNC, CAP_SYNC_LEN);
		cap_put32(h + 12, size - pos - CAP_CHUNK_HDR);
		cap_put32(h + 16, CAP_CHUNK_ULEN_MAX);
		rehash_chunk_hdr(h);
	}
	assert_int_equal(capture_reader_open_mem(&r, c, size, NULL, err, sizeof(err)), 0);
	assert_int_equal(capture_next(r, &rec), 0);
	capture_damage(r, &d);
	capture_reader_close(r);
	assert_int_equal(d.chunks_ok, 0);
	assert_true(d.chunks_bad >= 1 && d.chunks_bad < 100);
	free(c);
	free(b);
}

/* ---- hostile headers ------------------------------------------------------- */

/* A header from raw fields, then the chunks of a real capture. */
static size_t craft(unsigned char *out, unsigned int major, unsigned int minor, const unsigned char *body,
		    size_t blen, const unsigned char *chunks, size_t clen)
{
	memcpy(out, CAP_MAGIC, CAP_MAGIC_LEN);
	cap_put16(out + 8, major);
	cap_put16(out + 10, minor);
	cap_put32(out + 12, blen);
	memcpy(out + CAP_HDR_FIXED, body, blen);
	cap_put32(out + CAP_HDR_FIXED + blen, (__u32)crc32(0, out, CAP_HDR_FIXED + blen));
	memcpy(out + CAP_HDR_FIXED + blen + 4, chunks, clen);
	return CAP_HDR_FIXED + blen + 4 + clen;
}

static void test_versions(void **state)
{
	/* host "newer", an unknown tag 200, ports 80 and 443 */
	static const unsigned char body[] = {
		2, 0, 5, 0, 'n', 'e', 'w', 'e', 'r',
		200, 0, 3, 0, 1, 2, 3,
		5, 0, 4, 0, 80, 0, 0xbb, 0x01,
	};
	static const unsigned char bad_mono[] = { 7, 0, 4, 0, 1, 2, 3, 4 };
	static const unsigned char bad_res[] = { 8, 0, 4, 0, 1, 2, 3, 4 };
	/* an event time resolution of ~584 years: read as 1 s */
	static const unsigned char huge_res[] = { 8, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff };
	static const unsigned char overrun[] = { 2, 0, 9, 0, 'x' };
	struct capture_reader *r;
	struct capture_info in;
	char p[PATH_MAX], err[256];
	unsigned char *b, *c;
	__u64 ends[3];
	size_t len, hlen, n;

	small_capture(tpath(p, "v.cap"), ends);
	b = slurp(p, &len);
	hlen = header_len(b);
	c = malloc(len + 256);
	assert_non_null(c);

	/* a newer minor with a field we do not know: read */
	n = craft(c, CAP_MAJOR, CAP_MINOR + 7, body, sizeof(body), b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), 0);
	assert_string_equal(in.host, "newer");
	assert_int_equal(in.nports, 2);
	assert_int_equal(in.ports[1], 443);
	assert_int_equal(expect_stream(r, SMALL_SEED, SMALL_MAX, 3 * SMALL_PER, 0, 0), 3 * SMALL_PER);
	capture_reader_close(r);

	/* another major: refused, saying so */
	n = craft(c, CAP_MAJOR + 1, 0, body, sizeof(body), b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), -EINVAL);
	assert_null(r);
	assert_non_null(strstr(err, "newer"));
	n = craft(c, 0, 3, body, sizeof(body), b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "format 0.3"));

	/* fields that do not add up: damaged */
	n = craft(c, CAP_MAJOR, 0, bad_mono, sizeof(bad_mono), b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "damaged"));
	n = craft(c, CAP_MAJOR, 0, overrun, sizeof(overrun), b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), -EBADMSG);
	n = craft(c, CAP_MAJOR, 7, bad_res, sizeof(bad_res), b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), -EBADMSG);
	n = craft(c, CAP_MAJOR, 7, huge_res, sizeof(huge_res), b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), 0);
	assert_int_equal(in.ev_res_ns, CAP_EV_RES_MAX);
	capture_reader_close(r);

	/* a damaged header (the version's bytes too); a header length beyond
	 * reason: damaged. Not a capture: refused as such */
	memcpy(c, b, len);
	c[20] ^= 1;
	assert_int_equal(capture_reader_open_mem(&r, c, len, &in, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "checksum"));
	for (int i = 8; i < 12; i++) {
		memcpy(c, b, len);
		c[i] ^= 0xff;
		assert_int_equal(capture_reader_open_mem(&r, c, len, &in, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "damaged"));
	}
	memcpy(c, b, len);
	cap_put32(c + 12, 0xfffffff0u);
	assert_int_equal(capture_reader_open_mem(&r, c, len, &in, err, sizeof(err)), -EBADMSG);
	assert_int_equal(capture_reader_open_mem(&r, "hello, world\n", 13, &in, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an rcleak capture"));
	assert_int_equal(capture_reader_open_mem(&r, "RCLEAKC", 7, &in, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "cut short"));
	assert_int_equal(capture_reader_open_mem(&r, NULL, 0, &in, err, sizeof(err)), -EINVAL);
	assert_int_equal(capture_reader_open(&r, dir, &in, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(capture_reader_open(&r, tpath(p, "nonexistent"), &in, err, sizeof(err)), -ENOENT);
	free(c);
	free(b);
}

/* ---- where the writer will not write --------------------------------------- */

static void put_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void assert_file(const char *path, const char *text)
{
	unsigned char *b;
	size_t len;

	b = slurp(path, &len);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(b, text, len);
	free(b);
}

static int wopen(const char *path, int flags, char *err)
{
	struct capture_writer *w = (struct capture_writer *)1;
	int rc = capture_writer_open(&w, path, NULL, flags, err, 256);

	if (rc == 0)
		assert_int_equal(capture_writer_close(w), 0);
	else
		assert_null(w);
	return rc;
}

static void test_refusals(void **state)
{
	char p[PATH_MAX], q[PATH_MAX], err[256];
	struct stat st;

	/* an existing file, without force: untouched */
	put_file(tpath(p, "exists"), "keep", 0644);
	assert_int_equal(wopen(p, 0, err), -EEXIST);
	assert_non_null(strstr(err, "exists"));
	assert_file(p, "keep");

	/* a symlink to a file, with or without force: untouched */
	assert_int_equal(symlink(p, tpath(q, "link")), 0);
	assert_int_equal(wopen(q, 0, err), -EEXIST);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(wopen(q, CAPTURE_FORCE, err), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_file(p, "keep");

	/* a dangling symlink: its target is not created */
	assert_int_equal(symlink(tpath(p, "made-through-link"), tpath(q, "dangling")), 0);
	assert_int_equal(wopen(q, 0, err), -EEXIST);
	assert_int_equal(wopen(q, CAPTURE_FORCE, err), -ELOOP);
	assert_int_equal(lstat(p, &st), -1);

	/* a directory and a FIFO, even with force (and no hang on the FIFO) */
	assert_int_equal(mkdir(tpath(p, "adir"), 0700), 0);
	/* without force: not "give --force", which refuses it too */
	assert_int_equal(wopen(p, 0, err), -EEXIST);
	assert_non_null(strstr(err, "is a directory"));
	assert_int_equal(capture_writer_check(p, 0, err, sizeof(err)), -EEXIST);
	assert_null(strstr(err, "--force"));
	assert_int_equal(wopen(p, CAPTURE_FORCE, err), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(mkfifo(tpath(p, "fifo"), 0600), 0);
	assert_int_equal(capture_writer_check(p, 0, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(wopen(p, CAPTURE_FORCE, err), -EINVAL);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));

	/* a file with a second hard link, even with force */
	put_file(tpath(p, "linked"), "keep", 0600);
	assert_int_equal(link(p, tpath(q, "linked2")), 0);
	assert_int_equal(wopen(p, CAPTURE_FORCE, err), -EMLINK);
	assert_file(p, "keep");

	/* a file of another user's, even with force (root can make one) */
	put_file(tpath(p, "theirs"), "keep", 0600);
	if (geteuid() == 0 && chown(p, 65534, 65534) == 0) {
		assert_int_equal(wopen(p, CAPTURE_FORCE, err), -EPERM);
		assert_non_null(strstr(err, "another user"));
		assert_file(p, "keep");
	}

	/* a directory that is not there */
	assert_int_equal(wopen(tpath(p, "no/such/dir.cap"), 0, err), -ENOENT);

	/* a capture another writer still has open, even with force: its
	 * writer's chunks stay whole; once it is closed, force replaces it */
	{
		struct capture_writer *w;
		__u64 n;

		assert_int_equal(capture_writer_open(&w, tpath(p, "busy.cap"), NULL, 0, err, sizeof(err)), 0);
		assert_int_equal(capture_append(w, 5, 55, "first", 5), 0);
		assert_int_equal(capture_flush(w), 0);
		n = capture_bytes(w);
		assert_int_equal(capture_writer_check(p, CAPTURE_FORCE, err, sizeof(err)), -EBUSY);
		assert_int_equal(wopen(p, CAPTURE_FORCE, err), -EBUSY);
		assert_non_null(strstr(err, "being written"));
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal((__u64)st.st_size, n);
		assert_int_equal(capture_writer_close(w), 0);
		assert_int_equal(capture_writer_check(p, CAPTURE_FORCE, err, sizeof(err)), 0);
		assert_int_equal(wopen(p, CAPTURE_FORCE, err), 0);
	}
}

static void test_force_and_mode(void **state)
{
	struct capture_writer *w;
	struct capture_reader *r;
	struct capture_record rec;
	char p[PATH_MAX], err[256];
	struct stat st;
	mode_t old = umask(0);
	char old_text[2000];
	__u64 n;

	/* a new file is 0600 whatever the umask */
	assert_int_equal(wopen(tpath(p, "mode.cap"), 0, err), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	umask(old);

	/* force replaces a regular file: shorter content, mode 0600 */
	memset(old_text, '.', sizeof(old_text) - 1);
	old_text[sizeof(old_text) - 1] = 0;
	put_file(tpath(p, "old.cap"), old_text, 0644);
	assert_int_equal(capture_writer_open(&w, p, NULL, CAPTURE_FORCE, err, sizeof(err)), 0);
	assert_int_equal(capture_append(w, 5, 55, "new", 3), 0);
	assert_int_equal(capture_flush(w), 0);
	n = capture_bytes(w);
	assert_int_equal(capture_writer_close(w), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(n == (__u64)st.st_size && n < sizeof(old_text) - 1);
	assert_true(capture_bytes(NULL) == 0);
	assert_int_equal(capture_reader_open(&r, p, NULL, err, sizeof(err)), 0);
	assert_int_equal(capture_next(r, &rec), 1);
	assert_true(rec.type == 5 && rec.ts_ns == 55 && rec.len == 3 && !memcmp(rec.data, "new", 3));
	assert_int_equal(capture_next(r, &rec), 0);
	capture_reader_close(r);
}

/* ---- a full disk ------------------------------------------------------------ */

struct fill_result {
	int skip;             /* 1: could not set up; why says why */
	char why[160];
	int rc_open, rc_fail, rc_after, rc_flush, rc_close, rc_read;
	unsigned int written; /* records in chunks written whole */
	unsigned int read;
	__u64 bytes, fsize;
	struct capture_damage d;
};

/* Write 5-record chunks to path until a write fails, then read back. */
static void fill(const char *path, struct fill_result *o)
{
	static unsigned char buf[CAPTURE_MAX_RECORD];
	struct capture_writer *w;
	struct capture_reader *r;
	struct capture_record rec;
	char err[256];
	struct stat st;
	unsigned int i;

	o->rc_open = capture_writer_open(&w, path, NULL, 0, err, sizeof(err));
	if (o->rc_open)
		return;
	for (i = 0; i < 100000 && !o->rc_fail; i++) {
		__u16 type;
		__u64 ts;
		__u32 len = rec_make(3, i, 3000, &type, &ts, buf);

		o->rc_fail = capture_append(w, type, ts, buf, len);
		if (!o->rc_fail && (i + 1) % 5 == 0 && !(o->rc_fail = capture_flush(w)))
			o->written = i + 1;
	}
	o->bytes = capture_bytes(w);
	o->rc_after = capture_append(w, 1, 1, "x", 1);
	o->rc_flush = capture_flush(w);
	o->rc_close = capture_writer_close(w);
	if (stat(path, &st) == 0)
		o->fsize = st.st_size;
	o->rc_read = capture_reader_open(&r, path, NULL, err, sizeof(err));
	if (o->rc_read)
		return;
	while (capture_next(r, &rec) == 1) {
		__u16 type;
		__u64 ts;
		__u32 len = rec_make(3, o->read, 3000, &type, &ts, buf);

		if (rec.type != type || rec.ts_ns != ts || rec.len != len || memcmp(rec.data, buf, len))
			break;
		o->read++;
	}
	capture_damage(r, &o->d);
	capture_reader_close(r);
}

/* Run setup + fill in a child (a lowered file size limit, a private mount
 * namespace), report through a pipe. */
static void in_child(void (*setup)(const char *, struct fill_result *), const char *path,
		     struct fill_result *o)
{
	int fds[2], status;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct fill_result res;

		memset(&res, 0, sizeof(res));
		close(fds[0]);
		setup(path, &res);
		if (!res.skip)
			fill(path, &res);
		if (write(fds[1], &res, sizeof(res)) != sizeof(res))
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], o, sizeof(*o)), sizeof(*o));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void check_fill(const struct fill_result *o, int want)
{
	assert_int_equal(o->rc_open, 0);
	assert_int_equal(o->rc_fail, want);
	assert_int_equal(o->rc_after, want);  /* later appends fail fast */
	assert_int_equal(o->rc_flush, want);
	assert_int_equal(o->rc_close, want);
	assert_true(o->written >= 5);         /* some chunks made it */
	assert_true(o->fsize == o->bytes);    /* cut back to the last whole chunk */
	assert_int_equal(o->rc_read, 0);
	assert_int_equal(o->read, o->written);
	assert_int_equal(o->d.chunks_bad, 0);
	assert_false(o->d.truncated);
	assert_true(o->d.truncated_at == o->bytes);
}

static void limit_fsize(const char *path, struct fill_result *o)
{
	struct rlimit rl = { 40000, 40000 };

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl)) {
		o->skip = 1;
		snprintf(o->why, sizeof(o->why), "setrlimit: %s", strerror(errno));
	}
}

/* EFBIG from RLIMIT_FSIZE: a write that fails part-way, no privilege needed */
static void test_write_error_fsize(void **state)
{
	struct fill_result o;
	char p[PATH_MAX];

	in_child(limit_fsize, tpath(p, "fsize.cap"), &o);
	assert_false(o.skip);
	check_fill(&o, -EFBIG);
}

static void limit_header(const char *path, struct fill_result *o)
{
	struct rlimit rl = { 10, 10 };
	struct capture_writer *w;
	char err[256];
	struct stat st;

	signal(SIGXFSZ, SIG_IGN);
	o->skip = 1;
	if (setrlimit(RLIMIT_FSIZE, &rl))
		return;
	o->rc_open = capture_writer_open(&w, path, NULL, 0, err, sizeof(err));
	o->rc_read = stat(path, &st) ? -errno : 0;
}

/* The file under a writer, changed by another program between chunks:
 * what the next flush says. cut: the size it is cut to, -1 deleted, -2
 * renamed, -3 hard-linked and the first name deleted. */
static int taken(const char *name, long cut)
{
	static const struct capture_info info = { .host = "h", .nports = 1, .ports = { 6379 } };
	struct capture_writer *w;
	char p[PATH_MAX], q[PATH_MAX], err[256];
	unsigned char rec[64] = { 1 };
	int rc;

	tpath(p, name);
	tpath(q, "moved.cap");
	unlink(p);
	unlink(q);
	assert_int_equal(capture_writer_open(&w, p, &info, 0, err, sizeof(err)), 0);
	assert_int_equal(capture_append(w, 2, 1, rec, sizeof(rec)), 0);
	assert_int_equal(capture_flush(w), 0);
	assert_int_equal(capture_append(w, 2, 2, rec, sizeof(rec)), 0);
	assert_int_equal(capture_flush(w), 0);
	if (cut >= 0)
		assert_int_equal(truncate(p, cut), 0);
	else if (cut == -1)
		assert_int_equal(unlink(p), 0);
	else if (cut == -2)
		assert_int_equal(rename(p, q), 0);
	else if (cut == -3) {
		assert_int_equal(link(p, q), 0);
		assert_int_equal(unlink(p), 0);
	}
	assert_int_equal(capture_append(w, 2, 3, rec, sizeof(rec)), 0);
	rc = capture_flush(w);
	capture_writer_close(w);
	unlink(p);
	unlink(q);
	return rc;
}

/* Deleted, or cut short where the header was (copytruncate's 0, or a
 * `truncate -s 100` that keeps the magic and cuts the header in two):
 * the next chunk is refused. Renamed, moved, hard-linked: no error. */
static void test_file_taken(void **state)
{
	assert_int_equal(taken("taken.cap", -2), 0);
	assert_int_equal(taken("taken.cap", -3), 0);
	assert_int_equal(taken("taken.cap", -1), CAPTURE_EDELETED);
	assert_int_equal(taken("taken.cap", 0), CAPTURE_ETRUNCATED);
	assert_int_equal(taken("taken.cap", 4), CAPTURE_ETRUNCATED);
	assert_int_equal(taken("taken.cap", CAP_MAGIC_LEN), CAPTURE_ETRUNCATED);
	assert_int_equal(taken("taken.cap", 40), CAPTURE_ETRUNCATED);
}

/* capture_check: the same, with nothing to write (a flight recorder). */
static void test_file_check(void **state)
{
	struct capture_writer *w;
	char p[PATH_MAX], err[256];

	tpath(p, "check.cap");
	unlink(p);
	assert_int_equal(capture_writer_open(&w, p, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(capture_check(w), 0);
	assert_int_equal(truncate(p, 0), 0);
	assert_int_equal(capture_check(w), CAPTURE_ETRUNCATED);
	assert_int_equal(capture_flush(w), CAPTURE_ETRUNCATED); /* sticky */
	capture_writer_close(w);
	unlink(p);
	assert_int_equal(capture_writer_open(&w, p, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(capture_check(w), CAPTURE_EDELETED);
	capture_writer_close(w);
}

/* A header that cannot be written whole leaves no file behind. */
static void test_header_write_error(void **state)
{
	struct fill_result o;
	char p[PATH_MAX];

	in_child(limit_header, tpath(p, "hdr.cap"), &o);
	assert_int_equal(o.rc_open, -EFBIG);
	assert_int_equal(o.rc_read, -ENOENT);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

/* A 64 KiB tmpfs of our own in a private mount namespace (a user
 * namespace too when not root). */
static void small_tmpfs(const char *path, struct fill_result *o)
{
	char mnt[PATH_MAX], map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();

	snprintf(mnt, sizeof(mnt), "%s", path);
	*strrchr(mnt, '/') = 0;
	o->skip = 1;
	if (unshare(CLONE_NEWNS)) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS)) {
			snprintf(o->why, sizeof(o->why), "unshare: %s", strerror(errno));
			return;
		}
		snprintf(map, sizeof(map), "0 %u 1", (unsigned int)uid);
		write_str("/proc/self/uid_map", map);
		write_str("/proc/self/setgroups", "deny");
		snprintf(map, sizeof(map), "0 %u 1", (unsigned int)gid);
		write_str("/proc/self/gid_map", map);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("rcleak-test", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700")) {
		snprintf(o->why, sizeof(o->why), "mount tmpfs: %s", strerror(errno));
		return;
	}
	o->skip = 0;
}

/* ENOSPC for real, from a small tmpfs */
static void test_enospc_tmpfs(void **state)
{
	struct fill_result o;
	char p[PATH_MAX];

	assert_int_equal(mkdir(tpath(p, "tmpfs"), 0700), 0);
	in_child(small_tmpfs, tpath(p, "tmpfs/full.cap"), &o);
	if (o.skip) {
		print_message("skipped: %s\n", o.why);
		skip();
	}
	check_fill(&o, -ENOSPC);
}

/* ---- setup ---------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int group_setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/rcleak-test-capture.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_unknown_types),
		cmocka_unit_test(test_truncate_everywhere),
		cmocka_unit_test(test_corrupt_chunks),
		cmocka_unit_test(test_empty_chunk),
		cmocka_unit_test(test_garbage_resync),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_overlap_bomb),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_force_and_mode),
		cmocka_unit_test(test_write_error_fsize),
		cmocka_unit_test(test_header_write_error),
		cmocka_unit_test(test_enospc_tmpfs),
		cmocka_unit_test(test_file_taken),
		cmocka_unit_test(test_file_check),
	};

	return cmocka_run_group_tests_name("capture", tests, group_setup, group_teardown);
}
