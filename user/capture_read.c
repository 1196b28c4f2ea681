// SPDX-License-Identifier: GPL-2.0
/*
 * capture_read.c - reading capture files (see capture.h; the layout is in
 * capture_fmt.h and docs/capture-format.md): opening one (a file, an fd,
 * memory), the bytes of its source, and the records handed out. The header
 * is capture_read_header.c's, the chunks capture_read_chunks.c's.
 *
 * Every byte is hostile. Each length is checked against what is left before
 * it is used, allocations are bounded by CAP_CHUNK_ULEN_MAX, and a chunk is
 * checked whole (header CRC, data CRC, zlib stream, record framing) before
 * any of its records is handed out, so a chunk is either good or skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture_read_int.h"

/* ---- source -------------------------------------------------------------- */

/* Up to n bytes at off: *p points into the memory source, or into buf after
 * reading them from the file. *got is how many there are (fewer near the
 * end; a file that shrank since open just ends early). 0 or -errno. */
int capr_view(const struct capture_reader *r, __u64 off, size_t n, unsigned char *buf,
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
int capr_reserve(unsigned char **buf, size_t *cap, size_t n)
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
	rc = capr_read_header(r, name, info, err, errlen);
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
		rc = capr_next_chunk(r);
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
