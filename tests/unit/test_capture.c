// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: capture files. Round trips, and a cut at every byte offset.
 * Damaged chunks and hostile headers: test_capture_damage.c; the writer's
 * refusals and full disks: test_capture_write.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "capture.h"
#include "capture_helpers.h"

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
	/* what the recorder's lines showed (--pid, --comm): none when not
	 * written; a name as given, bytes a terminal would not show kept
	 * (it is matched against process names) */
	assert_int_equal(out.sel_pid, 0);
	assert_string_equal(out.sel_comm, "");
	in.sel_pid = 4194304;
	snprintf(in.sel_comm, sizeof(in.sel_comm), "caf\xc3\xa9-w\033rk\x7f");
	assert_int_equal(capture_writer_open(&w, tpath(p, "info4.cap"), &in, 0, err, sizeof(err)), 0);
	assert_int_equal(capture_writer_close(w), 0);
	assert_int_equal(capture_reader_open(&r, p, &out, err, sizeof(err)), 0);
	capture_reader_close(r);
	assert_int_equal(out.sel_pid, 4194304);
	assert_string_equal(out.sel_comm, in.sel_comm);
	assert_int_equal(out.minor, 12);

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_unknown_types),
		cmocka_unit_test(test_truncate_everywhere),
	};

	return cmocka_run_group_tests_name("capture", tests, group_setup, group_teardown);
}
