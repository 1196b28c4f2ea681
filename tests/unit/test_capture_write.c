// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: where the capture writer will not write (symlinks, existing
 * and non-regular files, another writer's file), its behaviour on a full
 * disk, and a file taken from under it. No root needed; the tmpfs ENOSPC
 * test skips itself where it cannot mount.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
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

#include "capture.h"
#include "capture_fmt.h"
#include "capture_helpers.h"

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
	int rc_open, rc_fail, rc_after, rc_flush, rc_close, rc_read, rc_tell, rc_rewind;
	unsigned int written; /* records in chunks written whole */
	unsigned int read;
	__u64 bytes, fsize;
	struct capture_damage d;
};

/* Read path back into o: how many records rec_make made, in order, and
 * its damage. */
static void read_back(const char *path, struct fill_result *o)
{
	static unsigned char buf[CAPTURE_MAX_RECORD];
	struct capture_reader *r;
	struct capture_record rec;
	char err[256];

	if ((o->rc_read = capture_reader_open(&r, path, NULL, err, sizeof(err))))
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

/* Write 5-record chunks to path until a write fails, then read back. */
static void fill(const char *path, struct fill_result *o)
{
	static unsigned char buf[CAPTURE_MAX_RECORD];
	struct capture_writer *w;
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
	read_back(path, o);
}

/* Run setup + fill in a child (a lowered file size limit, a private mount
 * namespace), report through a pipe. */
static void in_child(void (*setup)(const char *, struct fill_result *),
		     void (*work)(const char *, struct fill_result *), const char *path,
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
			work(path, &res);
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

	in_child(limit_fsize, fill, tpath(p, "fsize.cap"), &o);
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

	in_child(limit_header, fill, tpath(p, "hdr.cap"), &o);
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

/* work on the file x.cap of a small tmpfs mounted on the folder dir (of
 * the test's), in a child; skipped, saying why, where it cannot mount. p:
 * the caller's buffer. */
static void in_tmpfs(void (*work)(const char *, struct fill_result *), char *p, const char *dir,
		     struct fill_result *o)
{
	char file[64];

	assert_int_equal(mkdir(tpath(p, dir), 0700), 0);
	snprintf(file, sizeof(file), "%s/x.cap", dir);
	in_child(small_tmpfs, work, tpath(p, file), o);
	if (o->skip) {
		print_message("skipped: %s\n", o->why);
		skip();
	}
}

/* ENOSPC for real, from a small tmpfs */
static void test_enospc_tmpfs(void **state)
{
	struct fill_result o;
	char p[PATH_MAX];

	in_tmpfs(fill, p, "tmpfs", &o);
	check_fill(&o, -ENOSPC);
}

/* Appends record i (rec_make's) to w; its capture_append's result. */
static int put_rec(struct capture_writer *w, unsigned int i)
{
	static unsigned char buf[CAPTURE_MAX_RECORD];
	__u16 type;
	__u64 ts;
	__u32 len = rec_make(3, i, 3000, &type, &ts, buf);

	return capture_append(w, type, ts, buf, len);
}

/* Record 0, then the disk fills (a file beside it takes the rest) while
 * records 1... go in; capture_rewind back to after record 0; the file
 * beside it deleted, records 1-4 again: read back, records 0-4. */
static void fill_rewind(const char *path, struct fill_result *o)
{
	static const unsigned char zeros[4096];
	struct capture_writer *w;
	struct capture_pos pos;
	char err[256], filler[PATH_MAX];
	struct stat st;
	int fd;

	if ((o->rc_open = capture_writer_open(&w, path, NULL, 0, err, sizeof(err))))
		return;
	put_rec(w, 0);
	capture_flush(w);
	o->rc_tell = capture_tell(w, &pos);
	o->bytes = pos.off;
	snprintf(filler, sizeof(filler), "%s.filler", path);
	fd = open(filler, O_CREAT | O_WRONLY, 0600);
	while (fd >= 0 && write(fd, zeros, sizeof(zeros)) == sizeof(zeros))
		;
	if (fd >= 0)
		close(fd);
	for (unsigned int i = 1; i < 1000 && !o->rc_fail; i++)
		if (!(o->rc_fail = put_rec(w, i)) && i % 5 == 0)
			o->rc_fail = capture_flush(w);
	o->rc_rewind = capture_rewind(w, &pos);
	if (stat(path, &st) == 0)
		o->fsize = st.st_size;
	unlink(filler);
	for (unsigned int i = 1; i < 5; i++)
		o->rc_after |= put_rec(w, i);
	o->rc_flush = capture_flush(w);
	o->rc_close = capture_writer_close(w);
	read_back(path, o);
}

/* A full disk forgotten, once there is room again (a flight recorder's
 * trigger keeps its ring for that): the file is cut back to where
 * capture_tell was, and what follows is written on from there. */
static void test_rewind_full_disk(void **state)
{
	struct fill_result o;
	char p[PATH_MAX];

	in_tmpfs(fill_rewind, p, "tmpfs2", &o);
	assert_int_equal(o.rc_open, 0);
	assert_int_equal(o.rc_tell, 0);
	assert_int_equal(o.rc_fail, -ENOSPC);
	assert_int_equal(o.rc_rewind, 0);
	assert_true(o.fsize == o.bytes); /* cut back to after record 0 */
	assert_int_equal(o.rc_after, 0);
	assert_int_equal(o.rc_flush, 0);
	assert_int_equal(o.rc_close, 0);
	assert_int_equal(o.rc_read, 0);
	assert_int_equal(o.read, 5);     /* 0, then 1-4 written again */
	assert_int_equal(o.d.chunks_bad, 0);
	assert_false(o.d.truncated);
}

/* capture_tell wants nothing buffered; capture_rewind forgets a full disk
 * only: a file deleted under the writer is no longer its to write. */
static void test_rewind_refusals(void **state)
{
	struct capture_writer *w;
	struct capture_pos pos;
	char p[PATH_MAX], err[256];

	(void)state;
	unlink(tpath(p, "rewind.cap"));
	assert_int_equal(capture_writer_open(&w, p, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(put_rec(w, 0), 0);
	assert_int_equal(capture_tell(w, &pos), -EINVAL);
	assert_int_equal(capture_flush(w), 0);
	assert_int_equal(capture_tell(w, &pos), 0);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(put_rec(w, 1), 0);
	assert_int_equal(capture_flush(w), CAPTURE_EDELETED);
	assert_int_equal(capture_rewind(w, &pos), CAPTURE_EDELETED);
	assert_int_equal(capture_flush(w), CAPTURE_EDELETED);
	capture_writer_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_force_and_mode),
		cmocka_unit_test(test_write_error_fsize),
		cmocka_unit_test(test_header_write_error),
		cmocka_unit_test(test_enospc_tmpfs),
		cmocka_unit_test(test_rewind_full_disk),
		cmocka_unit_test(test_rewind_refusals),
		cmocka_unit_test(test_file_taken),
		cmocka_unit_test(test_file_check),
	};

	return cmocka_run_group_tests_name("capture_write", tests, group_setup, group_teardown);
}
