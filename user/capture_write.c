// SPDX-License-Identifier: GPL-2.0
/*
 * capture_write.c - writing capture files (see capture.h; the layout is in
 * capture_fmt.h and docs/capture-format.md).
 *
 * Records collect in a memory buffer; at CAP_CHUNK_TARGET bytes (or on
 * capture_flush) the buffer is compressed and written as one chunk with one
 * pwrite loop at the end of the last whole chunk. If that fails part-way the
 * file is cut back to that end (or to the end of the last whole unit, see
 * capture_writer_units), so it always holds a header and whole chunks only;
 * the error sticks and later appends return it at once.
 *
 * Compression and CRCs come from libdeflate: its zlib streams are zlib's
 * format (the reader inflates them with zlib), made about twice as fast as
 * zlib's own level 1, which matters because a recorder competes for the
 * CPU with the workload it watches.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <libdeflate.h>

#include "capture.h"
#include "capture_fmt.h"

struct capture_writer {
	int fd;
	int err;               /* first write error (-errno), sticky; 0 if none */
	__u64 off;             /* end of the last whole chunk = bytes in the file */
	__u32 seq;             /* sequence number of the next chunk */
	unsigned char *buf;    /* records of the chunk being filled */
	size_t len, cap;
	__u32 nrec;
	unsigned char *out;    /* chunk header + compressed records */
	size_t out_cap;
	struct libdeflate_compressor *z;
	bool linked;           /* the file had a link count at open (see still_ours) */
	bool units;            /* capture_writer_units was called */
	__u16 unit_begin, unit_end;
	bool in_unit;          /* the last record appended is inside a unit */
	__u64 mark;            /* end of the last whole unit: a write error cuts back here */
	unsigned char hdr[512];/* the file header as written (see header_there) */
	size_t hdr_len;
};

/* ---- file ---------------------------------------------------------------- */

/* All n bytes at offset off, or -errno (-EIO if the kernel writes nothing). */
static int pwrite_all(int fd, const unsigned char *p, size_t n, __u64 off)
{
	while (n) {
		ssize_t k = pwrite(fd, p, n, (off_t)off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EIO;
		p += k;
		n -= k;
		off += k;
	}
	return 0;
}

/* A new file path that cannot be made (error e < 0): the error and what to
 * do, in err. It said "x.rcl: Read-only file system" and no more. */
static int cannot_make(const char *path, int e, char *err, size_t errlen)
{
	const char *todo = e == -ENOENT ? "its folder must exist: mkdir it, or give -w another path"
			   : e == -EROFS ? "give -w a path on a file system mounted read-write"
			   : e == -EACCES || e == -EPERM ? "give -w a path in a folder you may write"
			   : e == -ENOSPC || e == -EDQUOT ? "free some space, or give -w a path on another disk"
							  : "give -w another path";

	return cap_fail(err, errlen, e, "%s: %s: %s", path, strerror(-e), todo);
}

/* An existing path, to be replaced under CAPTURE_FORCE: only a regular file
 * of ours with no other hard link (its owner or another name could read
 * what we write), never through a symlink. Opened without O_CREAT
 * and with O_NONBLOCK so a FIFO swapped in after the lstat cannot hang us;
 * the fstat must then show the very inode the lstat saw. */
/* Would an existing path (lstat st) be replaced under CAPTURE_FORCE?
 * 0, or -errno with the reason in err. */
static int replaceable(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (S_ISLNK(st->st_mode))
		return cap_fail(err, errlen, -ELOOP, "%s is a symbolic link; not writing through it", path);
	if (!S_ISREG(st->st_mode))
		return cap_fail(err, errlen, -EINVAL, "%s exists and is not a regular file; not replacing it", path);
	if (st->st_nlink > 1)
		return cap_fail(err, errlen, -EMLINK, "%s has other hard links; not replacing it", path);
	if (st->st_uid != geteuid())
		return cap_fail(err, errlen, -EPERM, "%s belongs to another user; not replacing it", path);
	return 0;
}

/* Every writer holds an exclusive flock on its file until it closes it: a
 * second `record --force` onto a capture still being written truncated it
 * under the first recorder, which went on writing at its own offsets, and
 * both exited 0 over a file of both recordings' chunks and holes. 0, or
 * -EBUSY with the reason in err (fd is the caller's to close). */
static int lock_target(int fd, const char *path, char *err, size_t errlen)
{
	int rc;

	while ((rc = flock(fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
		;
	if (rc == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return cap_fail(err, errlen, -EBUSY, "%s is being written by another rcleak record; "
				"not replacing it", path);
	return 0; /* a file system without flock: nothing to hold */
}

static int open_existing(const char *path, char *err, size_t errlen)
{
	struct stat st, fst;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return cap_fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if ((rc = replaceable(path, &st, err, errlen)))
		return rc;
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ELOOP)
			return cap_fail(err, errlen, rc, "%s is a symbolic link; not writing through it", path);
		return cap_fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
	}
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_dev != st.st_dev ||
	    fst.st_ino != st.st_ino || fst.st_nlink > 1 || fst.st_uid != geteuid()) {
		close(fd);
		return cap_fail(err, errlen, -EAGAIN, "%s changed while being opened; not replacing it", path);
	}
	if ((rc = lock_target(fd, path, err, errlen))) {
		close(fd);
		return rc;
	}
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, 0) < 0 || fcntl(fd, F_SETFL, 0) < 0) {
		rc = -errno;
		close(fd);
		return cap_fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
	}
	return fd;
}

/* Without --force: what --force would not replace either (a symlink, a
 * directory, a FIFO, a hard-linked or another user's file) is refused for
 * that reason, not with "give --force", which sent the user to a second
 * refusal. -EEXIST either way. */
static int exists(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (S_ISDIR(st->st_mode))
		return cap_fail(err, errlen, -EEXIST, "%s is a directory: give a file name", path);
	if (replaceable(path, st, err, errlen))
		return -EEXIST;
	return cap_fail(err, errlen, -EEXIST, "%s already exists: give --force to replace it", path);
}

int capture_writer_check(const char *path, int flags, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash;
	struct stat st;

	if (lstat(path, &st) == 0) {
		int rc, fd;

		if (!(flags & CAPTURE_FORCE))
			return exists(path, &st, err, errlen);
		if ((rc = replaceable(path, &st, err, errlen)))
			return rc;
		if (access(path, W_OK))
			return cap_fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
		/* another recorder still writing it: refused now, not after
		 * the BPF load (open_existing asks again, for real) */
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0) {
			rc = lock_target(fd, path, err, errlen);
			close(fd);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (errno != ENOENT)
		return cannot_make(path, -errno, err, errlen);
	/* a new file: its folder must exist and take it */
	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (access(dir, W_OK | X_OK))
		return cannot_make(path, -errno, err, errlen);
	return 0;
}

/* The descriptor to write to; *created says whether the file is new. */
static int open_target(const char *path, int flags, bool *created, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd >= 0) {
		*created = true;
		/* a new inode: nobody else can hold its lock yet */
		lock_target(fd, path, err, errlen);
		return fd;
	}
	rc = -errno;
	if (rc != -EEXIST)
		return cannot_make(path, rc, err, errlen);
	if (!(flags & CAPTURE_FORCE)) {
		if (lstat(path, &st) == 0)
			return exists(path, &st, err, errlen);
		return cap_fail(err, errlen, rc, "%s already exists: give --force to replace it", path);
	}
	*created = false;
	return open_existing(path, err, errlen);
}

/* ---- header --------------------------------------------------------------- */

static size_t put_field(unsigned char *p, __u16 tag, const void *v, size_t n)
{
	cap_put16(p, tag);
	cap_put16(p + 2, (__u16)n);
	memcpy(p + 4, v, n);
	return 4 + n;
}

static size_t put_str(unsigned char *p, __u16 tag, const char *s, size_t max)
{
	return put_field(p, tag, s, strnlen(s, max - 1));
}

static size_t put_u64(unsigned char *p, __u16 tag, __u64 v)
{
	unsigned char b[8];

	cap_put64(b, v);
	return put_field(p, tag, b, 8);
}

/* Encode the whole header into p (at least 512 bytes); returns its length. */
static size_t encode_header(unsigned char *p, const struct capture_info *in)
{
	unsigned char ports[2 * CAPTURE_MAX_PORTS];
	int nports = in->nports < 0 ? 0 : in->nports > CAPTURE_MAX_PORTS ? CAPTURE_MAX_PORTS : in->nports;
	__u64 wall;
	size_t n = CAP_HDR_FIXED;

	memcpy(p, CAP_MAGIC, CAP_MAGIC_LEN);
	cap_put16(p + 8, CAP_MAJOR);
	cap_put16(p + 10, CAP_MINOR);
	n += put_str(p + n, CAP_F_VERSION, in->version, sizeof(in->version));
	n += put_str(p + n, CAP_F_HOST, in->host, sizeof(in->host));
	n += put_str(p + n, CAP_F_KERNEL, in->kernel, sizeof(in->kernel));
	n += put_str(p + n, CAP_F_BOOT_ID, in->boot_id, sizeof(in->boot_id));
	for (int i = 0; i < nports; i++)
		cap_put16(ports + 2 * i, in->ports[i]);
	n += put_field(p + n, CAP_F_PORTS, ports, 2 * (size_t)nports);
	memcpy(&wall, &in->wall_start, sizeof(wall));
	n += put_u64(p + n, CAP_F_WALL, wall);
	n += put_u64(p + n, CAP_F_MONO, in->mono_start_ns);
	if (in->ev_res_ns)
		n += put_u64(p + n, CAP_F_EV_RES, in->ev_res_ns);
	if (in->sel_pid > 0) {
		unsigned char b[4];

		cap_put32(b, (__u32)in->sel_pid);
		n += put_field(p + n, CAP_F_SEL_PID, b, 4);
	}
	if (in->sel_comm[0])
		n += put_str(p + n, CAP_F_SEL_COMM, in->sel_comm, sizeof(in->sel_comm));
	cap_put32(p + 12, (__u32)(n - CAP_HDR_FIXED));
	cap_put32(p + n, libdeflate_crc32(0, p, n));
	return n + 4;
}

/* ---- chunks --------------------------------------------------------------- */

/* Does the file still begin with the header this writer wrote? Read
 * through a second descriptor: the writer's is write-only. The whole
 * header, not its magic only: `truncate -s 100` kept the magic and cut the
 * header in two, and record went on at its old end, exit 0, into a file
 * none of which could be read. Unsure (cannot reopen): yes. */
static bool header_there(const struct capture_writer *w)
{
	unsigned char got[sizeof(w->hdr)];
	char proc[64];
	ssize_t n;
	int rfd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
	rfd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (rfd < 0)
		return true;
	n = pread(rfd, got, w->hdr_len, 0);
	close(rfd);
	return n == (ssize_t)w->hdr_len && !memcmp(got, w->hdr, w->hdr_len);
}

/* Is the file still there, as this writer left it? 0, or CAPTURE_E*. A
 * file system that counts no links (some FUSE ones) never reads as
 * deleted, and one whose size lags its writes (a network one's cached
 * attributes) never as cut short: its header must be other than written
 * too. */
static int still_ours(const struct capture_writer *w)
{
	struct stat st;

	if (fstat(w->fd, &st))
		return -errno;
	if (!st.st_nlink && w->linked)
		return CAPTURE_EDELETED;
	if ((__u64)st.st_size < w->off && !header_there(w))
		return CAPTURE_ETRUNCATED;
	return 0;
}

/* Compress and write the records buffered so far as one chunk. Allocation
 * failure keeps the records for a later try; a write failure cuts the file
 * back to the end of the last whole unit (the last whole chunk without
 * units) and sticks. */
static int write_chunk(struct capture_writer *w)
{
	unsigned char *h;
	size_t clen, need;
	int rc;

	if (!w->nrec)
		return w->err;
	/* sticky, and not cut back below: the file is no longer ours */
	if ((rc = capture_check(w)))
		return rc;
	need = CAP_CHUNK_HDR + libdeflate_zlib_compress_bound(w->z, w->len);
	if (need > w->out_cap) {
		unsigned char *o = realloc(w->out, need);

		if (!o)
			return -ENOMEM;
		w->out = o;
		w->out_cap = need;
	}
	clen = libdeflate_zlib_compress(w->z, w->buf, w->len, w->out + CAP_CHUNK_HDR,
					need - CAP_CHUNK_HDR);
	if (!clen) /* cannot happen with the bound's room */
		return -ENOBUFS;
	h = w->out;
	memcpy(h, CAP_SYNC, CAP_SYNC_LEN);
	cap_put32(h + 4, w->seq);
	cap_put32(h + 8, w->nrec);
	cap_put32(h + 12, (__u32)clen);
	cap_put32(h + 16, (__u32)w->len);
	cap_put32(h + 20, libdeflate_crc32(0, h + CAP_CHUNK_HDR, clen));
	cap_put32(h + 24, 0);
	cap_put32(h + 28, libdeflate_crc32(0, h, 28));
	rc = pwrite_all(w->fd, w->out, CAP_CHUNK_HDR + clen, w->off);
	if (rc) {
		/* best effort: if even this fails the reader stops at the
		 * partial chunk and calls it truncated */
		if (ftruncate(w->fd, (off_t)w->mark) < 0) {
			/* nothing more to do */
		}
		w->off = w->mark;
		w->err = rc;
		return rc;
	}
	w->off += CAP_CHUNK_HDR + clen;
	if (!w->in_unit)
		w->mark = w->off;
	w->seq++;
	w->len = 0;
	w->nrec = 0;
	return 0;
}

/* ---- API ------------------------------------------------------------------ */

int capture_writer_open(struct capture_writer **wp, const char *path,
			const struct capture_info *info, int flags, char *err, size_t errlen)
{
	static const struct capture_info none;
	unsigned char hdr[512]; /* encode_header needs < 440 */
	struct capture_writer *w;
	bool created = false;
	size_t n;
	int fd, rc;

	*wp = NULL;
	fd = open_target(path, flags, &created, err, errlen);
	if (fd < 0)
		return fd;
	n = encode_header(hdr, info ? info : &none);
	w = calloc(1, sizeof(*w));
	if (w && !(w->z = libdeflate_alloc_compressor(1))) { /* level 1: fastest */
		free(w);
		w = NULL;
	}
	rc = w ? pwrite_all(fd, hdr, n, 0) : -ENOMEM;
	if (rc) {
		/* leave no half header: a file we made goes, one we replaced
		 * is left empty (the reader calls it not a capture) */
		struct stat a, b;

		if (created && fstat(fd, &a) == 0 && lstat(path, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			unlink(path);
		else if (ftruncate(fd, 0) < 0) {
			/* nothing more to do */
		}
		close(fd);
		if (w)
			libdeflate_free_compressor(w->z);
		free(w);
		return cap_fail(err, errlen, rc, "%s: writing the header: %s", path, strerror(-rc));
	}
	w->fd = fd;
	w->off = w->mark = n;
	memcpy(w->hdr, hdr, n);
	w->hdr_len = n;
	{
		struct stat st;

		w->linked = !fstat(fd, &st) && st.st_nlink > 0;
	}
	*wp = w;
	return 0;
}

int capture_append(struct capture_writer *w, __u16 type, __u64 ts_ns,
		   const void *data, __u32 len)
{
	size_t need = CAP_REC_HDR + (size_t)len;
	unsigned char *p;
	int rc;

	if (!w || len > CAPTURE_MAX_RECORD || (len && !data))
		return -EINVAL;
	if (w->err)
		return w->err;
	/* a unit starts a chunk: the chunk before it ends outside any */
	if (w->len && (w->len + need > CAP_CHUNK_TARGET ||
		       (w->units && type == w->unit_begin && !w->in_unit))) {
		rc = write_chunk(w);
		if (rc)
			return rc;
	}
	if (w->len + need > w->cap) {
		size_t cap = w->cap ? w->cap : CAP_CHUNK_TARGET;

		while (cap < w->len + need)
			cap *= 2;
		p = realloc(w->buf, cap);
		if (!p)
			return -ENOMEM;
		w->buf = p;
		w->cap = cap;
	}
	p = w->buf + w->len;
	cap_put16(p, type);
	cap_put64(p + 2, ts_ns);
	cap_put32(p + 10, len);
	if (len)
		memcpy(p + CAP_REC_HDR, data, len);
	w->len += need;
	w->nrec++;
	if (w->units && type == w->unit_begin)
		w->in_unit = true;
	else if (w->units && type == w->unit_end)
		w->in_unit = false;
	if (w->len >= CAP_CHUNK_TARGET)
		return write_chunk(w);
	return 0;
}

void capture_writer_units(struct capture_writer *w, __u16 begin, __u16 end)
{
	w->units = true;
	w->unit_begin = begin;
	w->unit_end = end;
}

int capture_flush(struct capture_writer *w)
{
	return w ? write_chunk(w) : -EINVAL;
}

int capture_check(struct capture_writer *w)
{
	if (!w->err)
		w->err = still_ours(w);
	return w->err;
}

int capture_sync(struct capture_writer *w)
{
	int err = capture_flush(w);

	if (!err && fdatasync(w->fd) < 0)
		err = -errno;
	return err;
}

int capture_tell(const struct capture_writer *w, struct capture_pos *p)
{
	if (!w || w->len || w->in_unit)
		return -EINVAL;
	p->off = w->off;
	p->seq = w->seq;
	return 0;
}

int capture_rewind(struct capture_writer *w, const struct capture_pos *p)
{
	if (w->err && w->err != -ENOSPC && w->err != -EDQUOT)
		return w->err;
	if (p->off > w->off)
		return -EINVAL;
	if (ftruncate(w->fd, (off_t)p->off) < 0)
		return w->err ? w->err : -errno;
	w->off = w->mark = p->off;
	w->seq = p->seq;
	w->len = 0;
	w->nrec = 0;
	w->in_unit = false;
	w->err = 0;
	return 0;
}

int capture_room(const struct capture_writer *w, __u64 *bytes)
{
	struct statvfs st;

	if (fstatvfs(w->fd, &st) < 0)
		return -errno;
	*bytes = (__u64)st.f_bavail * st.f_frsize;
	return 0;
}

int capture_writer_close(struct capture_writer *w)
{
	int rc;

	if (!w)
		return 0;
	rc = write_chunk(w);
	/* the evidence is worth one sync; its error is the caller's too */
	if (!w->err && fdatasync(w->fd) < 0 && !rc && errno != EINVAL)
		rc = -errno;
	if (close(w->fd) < 0 && !rc && errno != EINTR)
		rc = -errno;
	free(w->buf);
	free(w->out);
	libdeflate_free_compressor(w->z);
	free(w);
	return rc;
}

__u64 capture_bytes(const struct capture_writer *w)
{
	return w ? w->off : 0;
}
