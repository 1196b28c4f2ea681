// SPDX-License-Identifier: GPL-2.0
/*
 * capture_read_header.c - a capture's file header (capture_read_int.h):
 * magic, version, checksum, and its tagged fields (host, kernel, boot id,
 * ports, start times) into struct capture_info. Every byte is hostile.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture_read_int.h"

/* A string field into a NUL-terminated field of size dst: cut to fit, cut
 * at a NUL, anything but printable ASCII shown as '?' (these end up on
 * terminals). */
static void copy_str(char *dst, size_t size, const unsigned char *v, size_t n)
{
	size_t i;

	if (n > size - 1)
		n = size - 1;
	for (i = 0; i < n && v[i]; i++)
		dst[i] = v[i] >= 0x20 && v[i] < 0x7f ? (char)v[i] : '?';
	dst[i] = 0;
}

/* The header body's fields into info. 0, or -EINVAL if they do not fit
 * together. Unknown tags are skipped (a newer minor may add some). */
static int parse_fields(const unsigned char *p, size_t n, struct capture_info *info,
			char *err, size_t errlen)
{
	size_t pos = 0;

	while (pos < n) {
		const unsigned char *v = p + pos + 4;
		unsigned int tag, len;

		if (n - pos < 4)
			return cap_fail(err, errlen, -EINVAL, "header field at %zu is cut short", pos);
		tag = cap_get16(p + pos);
		len = cap_get16(p + pos + 2);
		if (len > n - pos - 4)
			return cap_fail(err, errlen, -EINVAL, "header field %u overruns the header", tag);
		switch (tag) {
		case CAP_F_VERSION:
			copy_str(info->version, sizeof(info->version), v, len);
			break;
		case CAP_F_HOST:
			copy_str(info->host, sizeof(info->host), v, len);
			break;
		case CAP_F_KERNEL:
			copy_str(info->kernel, sizeof(info->kernel), v, len);
			break;
		case CAP_F_BOOT_ID:
			copy_str(info->boot_id, sizeof(info->boot_id), v, len);
			break;
		case CAP_F_PORTS:
			if (len % 2)
				return cap_fail(err, errlen, -EINVAL, "header field %u has odd length %u", tag, len);
			info->nports = 0;
			for (unsigned int i = 0; i < len / 2 && i < CAPTURE_MAX_PORTS; i++)
				info->ports[info->nports++] = cap_get16(v + 2 * i);
			break;
		case CAP_F_WALL:
		case CAP_F_MONO:
			if (len != 8)
				return cap_fail(err, errlen, -EINVAL, "header field %u has length %u, not 8", tag, len);
			if (tag == CAP_F_MONO) {
				info->mono_start_ns = cap_get64(v);
			} else {
				__u64 bits = cap_get64(v);

				memcpy(&info->wall_start, &bits, sizeof(bits));
				if (!capture_wall_ok(info->wall_start))
					return cap_fail(err, errlen, -EINVAL, "start time %g is not a time",
							info->wall_start);
			}
			break;
		case CAP_F_EV_RES:
			if (len != 8)
				return cap_fail(err, errlen, -EINVAL, "header field %u has length %u, not 8", tag, len);
			/* a reader's tolerance, from a hostile file: a second at
			 * most (a kernel tick is 1-10 ms) */
			info->ev_res_ns = cap_get64(v) > CAP_EV_RES_MAX ? CAP_EV_RES_MAX : (__u32)cap_get64(v);
			break;
		case CAP_F_SEL_PID:
			/* a pid the kernel could give (pid_max is at most 2^22) */
			if (len != 4 || !cap_get32(v) || cap_get32(v) > (1u << 22))
				return cap_fail(err, errlen, -EINVAL, "header field %u is no pid", tag);
			info->sel_pid = (int)cap_get32(v);
			break;
		case CAP_F_SEL_COMM: {
			/* as given, not made printable: it is matched against
			 * names (shown_str() shows it) */
			size_t i;

			for (i = 0; i < len && i < sizeof(info->sel_comm) - 1 && v[i]; i++)
				info->sel_comm[i] = (char)v[i];
			info->sel_comm[i] = 0;
			break;
		}
		default:
			break;
		}
		pos += 4 + len;
	}
	return 0;
}

/* Check and decode the file header; on success the chunks start at r->off.
 * -EINVAL: not a capture (empty, or no magic), or a whole header of a major
 * this reader does not know. -EBADMSG: a capture (the magic, as far as the
 * file goes) whose header is cut short or damaged, so that none of it can
 * be read. An unknown major whose header fails the checksum is taken for
 * damage: the byte that says the version may be the damaged one. */
int capr_read_header(struct capture_reader *r, const char *name, struct capture_info *info, char *err,
		     size_t errlen)
{
	unsigned char fixed[CAP_HDR_FIXED], *buf = NULL;
	const unsigned char *p;
	unsigned int major, minor;
	size_t got, total = 0;
	bool whole = false, sum_ok = false;
	__u32 blen;
	int rc;

	rc = capr_view(r, 0, CAP_HDR_FIXED, fixed, &p, &got);
	if (rc)
		return cap_fail(err, errlen, rc, "%s: %s", name, strerror(-rc));
	if (!got)
		return cap_fail(err, errlen, -EINVAL,
				"%s: empty file, not an rcleak capture (rcleak record -w writes them)", name);
	if (memcmp(p, CAP_MAGIC, got < CAP_MAGIC_LEN ? got : CAP_MAGIC_LEN))
		return cap_fail(err, errlen, -EINVAL,
				"%s: not an rcleak capture file (rcleak record -w writes them)", name);
	if (got < CAP_HDR_FIXED)
		return cap_fail(err, errlen, -EBADMSG,
				"%s: capture header cut short (%zu of at least %u bytes): nothing in the "
				"file can be read", name, got, CAP_HDR_FIXED + 4);
	major = cap_get16(p + 8);
	minor = cap_get16(p + 10);
	info->minor = minor;
	blen = cap_get32(p + 12);
	if (blen <= CAP_HDR_BODY_MAX) {
		total = CAP_HDR_FIXED + (size_t)blen + 4;
		if (!r->mem && !(buf = malloc(total)))
			return cap_fail(err, errlen, -ENOMEM, "%s: out of memory", name);
		rc = capr_view(r, 0, total, buf, &p, &got);
		if (rc) {
			cap_fail(err, errlen, rc, "%s: %s", name, strerror(-rc));
			goto cleanup;
		}
		whole = got == total;
		sum_ok = whole && capr_crc_ok(crc32_z(0, p, total - 4), cap_get32(p + total - 4));
	}
	if (major != CAP_MAJOR && sum_ok) {
		rc = cap_fail(err, errlen, -EINVAL,
			      "%s: capture format %u.%u is %s; this rcleak reads format %u.x only",
			      name, major, minor, major > CAP_MAJOR ? "newer (upgrade rcleak)" : "unknown",
			      CAP_MAJOR);
	} else if (major != CAP_MAJOR) {
		rc = cap_fail(err, errlen, -EBADMSG,
			      "%s: capture header is damaged (or of format %u.%u, which this rcleak "
			      "cannot read): nothing in the file can be read", name, major, minor);
	} else if (!total) {
		rc = cap_fail(err, errlen, -EBADMSG,
			      "%s: capture header is damaged (length %u): nothing in the file can be read",
			      name, blen);
	} else if (!whole) {
		rc = cap_fail(err, errlen, -EBADMSG,
			      "%s: capture header cut short (%zu of %zu bytes): nothing in the file can be read",
			      name, got, total);
	} else if (!sum_ok) {
		rc = cap_fail(err, errlen, -EBADMSG,
			      "%s: capture header is damaged (checksum mismatch): nothing in the file can be read",
			      name);
	} else if (parse_fields(p + CAP_HDR_FIXED, blen, info, err, errlen)) {
		char why[128];

		snprintf(why, sizeof(why), "%s", err ? err : "");
		rc = cap_fail(err, errlen, -EBADMSG, "%s: capture header is damaged: %s", name, why);
	}
cleanup:
	free(buf);
	r->off = r->last_end = total;
	return rc;
}
