// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: capture files the reader gets damaged. Damaged chunks (bad
 * CRCs, lying lengths, garbage between chunks, random mutations, crafted
 * overlapping headers) and hostile headers (versions, fields that do not add
 * up). Nothing may crash, leak or overread (the tests run under ASan).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

#include "capture.h"
#include "capture_fmt.h"
#include "capture_helpers.h"

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
	/* the recorder's --pid: 4 bytes of a pid the kernel could give */
	static const unsigned char short_pid[] = { 9, 0, 2, 0, 1, 0 };
	static const unsigned char zero_pid[] = { 9, 0, 4, 0, 0, 0, 0, 0 };
	static const unsigned char huge_pid[] = { 9, 0, 4, 0, 1, 0, 0x40, 0 };
	/* its --comm: cut to 15 bytes, ended early by a NUL */
	static const unsigned char long_comm[] = { 10, 0, 20, 0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i',
						   'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't',
						   10, 0, 3, 0, 'x', 0, 'y' };
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
	n = craft(c, CAP_MAJOR, 12, short_pid, sizeof(short_pid), b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), -EBADMSG);
	n = craft(c, CAP_MAJOR, 12, zero_pid, sizeof(zero_pid), b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), -EBADMSG);
	n = craft(c, CAP_MAJOR, 12, huge_pid, sizeof(huge_pid), b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "no pid"));
	n = craft(c, CAP_MAJOR, 12, long_comm, 24, b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), 0);
	assert_string_equal(in.sel_comm, "abcdefghijklmno");
	capture_reader_close(r);
	n = craft(c, CAP_MAJOR, 12, long_comm, sizeof(long_comm), b + hlen, len - hlen);
	assert_int_equal(capture_reader_open_mem(&r, c, n, &in, err, sizeof(err)), 0);
	assert_string_equal(in.sel_comm, "x"); /* the last one wins */
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
	assert_int_equal(capture_reader_open(&r, tdir, &in, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(capture_reader_open(&r, tpath(p, "nonexistent"), &in, err, sizeof(err)), -ENOENT);
	free(c);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corrupt_chunks),
		cmocka_unit_test(test_empty_chunk),
		cmocka_unit_test(test_garbage_resync),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_overlap_bomb),
		cmocka_unit_test(test_versions),
	};

	return cmocka_run_group_tests_name("capture_damage", tests, group_setup, group_teardown);
}
