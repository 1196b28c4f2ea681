// SPDX-License-Identifier: GPL-2.0
/*
 * capture_read.c - reading capture files (see capture.h; the layout is in
 * capture_fmt.h and docs/capture-format.md).
 *
 * Every byte is hostile. Each length is checked against what is left before
 * it is used, allocations are bounded by CAP_CHUNK_ULEN_MAX, and a chunk is
 * checked whole (header CRC, data CRC, zlib stream, record framing) before
 * any of its records is handed out, so a chunk is either good or skipped.
 *
 * Walking the chunks: a chunk whose header or contents do not check out
 * counts as bad, and since its lengths cannot be trusted the reader scans
 * forward byte by byte for the next header that checks out (one damaged
 * stretch, one bad chunk). A good header whose chunk runs past the end of
 * the file means the file was cut short - unless a good header follows
 * inside it, in which case its length lied and it counts as bad.
 * truncated_at is the end of the last good chunk (or of the file header).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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

struct chunk_hdr {
	__u32 seq, nrec, clen, ulen, dcrc, flags;
};

/* A checksum over bytes matches the one the file holds. */
static bool crc_ok(uLong got, __u32 want)
{
	return (__u32)got == want;
}

/* Work to spend on chunks that prove bad, at most (bytes CRC-checked plus
 * bytes inflated). Damage in a real file costs about its size at most: bad
 * chunks do not overlap unless a length lied. Only crafted chunks that
 * overlap, each claiming the rest of the file, cost more - quadratically. */
static __u64 waste_max(__u64 size)
{
	return 4 * size + 64ull * 1024 * 1024;
}

/* ---- source -------------------------------------------------------------- */

/* Up to n bytes at off: *p points into the memory source, or into buf after
 * reading them from the file. *got is how many there are (fewer near the
 * end; a file that shrank since open just ends early). 0 or -errno. */
static int view(const struct capture_reader *r, __u64 off, size_t n, unsigned char *buf,
		const unsigned char **p, size_t *got)
{
	size_t done = 0;

	*got = 0;
	*p = buf;
	if (off >= r->size)
		return 0;
	if (n > r->size - off)
		n = r->size - off;
	if (r->mem) {
		*p = r->mem + off;
		*got = n;
		return 0;
	}
	while (done < n) {
		ssize_t k = pread(r->fd, buf + done, n - done, (off_t)(off + done));

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		done += k;
	}
	*got = done;
	return 0;
}

/* Make *buf hold at least n bytes (n is bounded by the callers). */
static int reserve(unsigned char **buf, size_t *cap, size_t n)
{
	unsigned char *b;

	if (n <= *cap)
		return 0;
	b = realloc(*buf, n);
	if (!b)
		return -ENOMEM;
	*buf = b;
	*cap = n;
	return 0;
}

/* ---- header --------------------------------------------------------------- */

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
static int read_header(struct capture_reader *r, const char *name, struct capture_info *info,
		       char *err, size_t errlen)
{
	unsigned char fixed[CAP_HDR_FIXED], *buf = NULL;
	const unsigned char *p;
	unsigned int major, minor;
	size_t got, total = 0;
	bool whole = false, sum_ok = false;
	__u32 blen;
	int rc;

	rc = view(r, 0, CAP_HDR_FIXED, fixed, &p, &got);
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
		rc = view(r, 0, total, buf, &p, &got);
		if (rc) {
			cap_fail(err, errlen, rc, "%s: %s", name, strerror(-rc));
			goto cleanup;
		}
		whole = got == total;
		sum_ok = whole && crc_ok(crc32_z(0, p, total - 4), cap_get32(p + total - 4));
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

/* ---- chunks --------------------------------------------------------------- */

/* Decode a chunk header (CAP_CHUNK_HDR bytes at h); true if it is one:
 * sync word, header CRC, and lengths a writer could have produced. */
static bool chunk_hdr(const unsigned char *h, struct chunk_hdr *c)
{
	if (memcmp(h, CAP_SYNC, CAP_SYNC_LEN) || !crc_ok(crc32_z(0, h, 28), cap_get32(h + 28)))
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
	if (!r->mem && (rc = reserve(&r->cbuf, &r->cbuf_cap, SCAN_BLOCK + CAP_CHUNK_HDR)))
		return rc;
	for (__u64 pos = from; pos < r->size; pos += SCAN_BLOCK) {
		const unsigned char *p, *q;
		size_t got, lim;

		rc = view(r, pos, SCAN_BLOCK + CAP_CHUNK_HDR - 1, r->cbuf, &p, &got);
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
	if (!r->mem && (rc = reserve(&r->cbuf, &r->cbuf_cap, c->clen)))
		return rc;
	rc = view(r, r->off + CAP_CHUNK_HDR, c->clen, r->cbuf, &z, &got);
	if (rc)
		return rc;
	r->wasted += c->clen; /* taken back below if the chunk is good */
	if (got < c->clen || !crc_ok(crc32_z(0, z, c->clen), c->dcrc))
		return 0;
	rc = reserve(&r->ubuf, &r->ubuf_cap, c->ulen ? c->ulen : 1);
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
static int next_chunk(struct capture_reader *r)
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
		rc = view(r, r->off, CAP_CHUNK_HDR, r->hdr, &h, &got);
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

/* ---- API ------------------------------------------------------------------ */

static struct capture_reader *reader_new(void)
{
	struct capture_reader *r = calloc(1, sizeof(*r));

	if (r)
		r->fd = -1;
	return r;
}

/* Read the header of a reader whose source is set; frees r on failure. */
static int reader_start(struct capture_reader **rp, struct capture_reader *r, const char *name,
			struct capture_info *info, char *err, size_t errlen)
{
	struct capture_info scratch;
	int rc;

	if (!info)
		info = &scratch;
	memset(info, 0, sizeof(*info));
	rc = read_header(r, name, info, err, errlen);
	if (rc) {
		capture_reader_close(r);
		return rc;
	}
	*rp = r;
	return 0;
}

/* Read the capture on fd (ours now: closed on failure), named path in
 * messages. */
static int open_fd(struct capture_reader **rp, int fd, const char *path,
		   struct capture_info *info, char *err, size_t errlen)
{
	struct capture_reader *r;
	struct stat st;
	int rc;

	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return cap_fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cap_fail(err, errlen, -EINVAL,
				"%s: not a regular file (give a capture file: rcleak record -w writes them)",
				path);
	}
	r = reader_new();
	if (!r) {
		close(fd);
		return cap_fail(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	r->fd = fd;
	r->size = (__u64)st.st_size;
	return reader_start(rp, r, path, info, err, errlen);
}

/* s as one word for a POSIX shell, into buf: as it is when every byte is
 * one no shell treats specially, else in single quotes (a quote inside as
 * '\''); one that starts with '-' after "./" (no option to chown). False
 * when it does not fit. */
static bool sh_quote(char *buf, size_t len, const char *s)
{
	static const char plain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				    "0123456789_@%+=:,./-";
	size_t n = 0;
	bool bare = *s && strspn(s, plain) == strlen(s);

#define PUT(c) do { if (n + 1 >= len) return false; buf[n++] = (c); } while (0)
	if (s[0] == '-') {
		PUT('.');
		PUT('/');
	}
	if (!bare)
		PUT('\'');
	for (; *s; s++) {
		if (*s == '\'' && !bare) {
			PUT('\'');
			PUT('\\');
			PUT('\'');
		}
		PUT(*s);
	}
	if (!bare)
		PUT('\'');
#undef PUT
	buf[n] = 0;
	return true;
}

int capture_reader_open(struct capture_reader **rp, const char *path,
			struct capture_info *info, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	*rp = NULL;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	/* 'sudo rcleak record' makes it 0600, root's: "Permission denied"
	 * alone read as if report needed root (not when it is a directory
	 * on the way that cannot be searched: stat fails too) */
	if (fd < 0 && errno == EACCES && !stat(path, &st)) {
		/* a command to paste: the path quoted, or none when it is too
		 * long to say whole */
		char q[2 * PATH_MAX];
		size_t room = errlen > strlen(path) + 128 ? errlen - strlen(path) - 128 : 0;

		if (!sh_quote(q, room < sizeof(q) ? room : sizeof(q), path))
			return cap_fail(err, errlen, -EACCES, "%s: %s (record makes captures 0600: chown it "
					"to yourself with sudo)", path, strerror(EACCES));
		return cap_fail(err, errlen, -EACCES, "%s: %s (record makes captures 0600: sudo chown "
				"\"$USER\" %s)", path, strerror(EACCES), q);
	}
	if (fd < 0)
		return cap_fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
	return open_fd(rp, fd, path, info, err, errlen);
}

int capture_reader_open_fd(struct capture_reader **rp, int fd, const char *name,
			   struct capture_info *info, char *err, size_t errlen)
{
	*rp = NULL;
	fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return cap_fail(err, errlen, -errno, "%s: %s", name, strerror(errno));
	return open_fd(rp, fd, name, info, err, errlen);
}

int capture_reader_open_mem(struct capture_reader **rp, const void *buf, size_t len,
			    struct capture_info *info, char *err, size_t errlen)
{
	static const unsigned char empty[1];
	struct capture_reader *r;

	*rp = NULL;
	r = reader_new();
	if (!r)
		return cap_fail(err, errlen, -ENOMEM, "out of memory");
	r->mem = buf && len ? buf : empty;
	r->size = buf ? len : 0;
	return reader_start(rp, r, "capture", info, err, errlen);
}

int capture_next(struct capture_reader *r, struct capture_record *rec)
{
	const unsigned char *p;
	int rc;

	while (!r->left) {
		if (r->done)
			return 0;
		rc = next_chunk(r);
		if (rc < 0)
			return rc;
		if (rc == 0)
			r->done = true;
	}
	p = r->ubuf + r->upos;
	rec->type = cap_get16(p);
	rec->ts_ns = cap_get64(p + 2);
	rec->len = cap_get32(p + 10);
	rec->data = p + CAP_REC_HDR;
	r->upos += CAP_REC_HDR + (size_t)rec->len;
	r->left--;
	return 1;
}

void capture_damage(const struct capture_reader *r, struct capture_damage *d)
{
	*d = r->dmg;
	d->truncated_at = r->last_end;
}

void capture_reader_close(struct capture_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->cbuf);
	free(r->ubuf);
	free(r);
}
