// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_capture.c - libFuzzer target: any bytes as a capture file. Opens them
 * with capture_reader_open_mem, reads every record (touching every payload
 * byte, so ASan checks the bounds), then asks for the damage report.
 *
 * The reader is fuzzed exactly as built for production: no checksum is
 * switched off; capmut.c's mutator gets past them. Build and run: see
 * `make fuzz`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "capture.h"
#include "capture_fmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned char sink; /* payload bytes are read into this */

static void check(int ok)
{
	if (!ok)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct capture_reader *r;
	struct capture_record rec;
	struct capture_damage d;
	struct capture_info info;
	unsigned long n = 0;
	char err[256];
	int rc;

	if (capture_reader_open_mem(&r, data, size, &info, err, sizeof(err))) {
		check(memchr(err, 0, sizeof(err)) != NULL);
		return 0;
	}
	/* every string terminated inside its field */
	check(memchr(info.version, 0, sizeof(info.version)) && memchr(info.host, 0, sizeof(info.host)) &&
	      memchr(info.kernel, 0, sizeof(info.kernel)) && memchr(info.boot_id, 0, sizeof(info.boot_id)));
	check(info.nports >= 0 && info.nports <= CAPTURE_MAX_PORTS);
	while ((rc = capture_next(r, &rec)) == 1) {
		const unsigned char *p = rec.data;

		check(rec.len <= CAPTURE_MAX_RECORD);
		for (__u32 i = 0; i < rec.len; i++)
			sink ^= p[i];
		n++;
	}
	check(rc == 0); /* from memory the only error would be -ENOMEM */
	check(capture_next(r, &rec) == 0);
	capture_damage(r, &d);
	check(d.truncated_at <= size);
	check(n == 0 || d.chunks_ok > 0);
	capture_reader_close(r);
	return 0;
}
