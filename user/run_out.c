// SPDX-License-Identifier: GPL-2.0
/*
 * run_out.c - where `rcleak run`'s summary goes: the --json and --junit
 * FILEs (checked before CMD runs, written into the file checked), and the
 * text on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "run_out.h"

/* The file of rcleak's stdout or stderr that st is (/dev/stdout, or FILE
 * named again in a redirection), of any type: a regular file, a pipe, a
 * socket, a terminal. Or -1. */
static int std_fd_of(const struct stat *st)
{
	for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++) {
		struct stat o;

		if (!fstat(fd, &o) && o.st_dev == st->st_dev && o.st_ino == st->st_ino)
			return fd;
	}
	return -1;
}

/* Does f->path still name the file f->fd is? */
static bool same_file(const struct out_file *f)
{
	struct stat a, b;

	return !stat(f->path, &a) && !fstat(f->fd, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* --json and --junit naming one regular file (under two names, say): the
 * JUnit XML was written over the JSON, and the run passed with no JSON for
 * the CI step that reads it. Both on rcleak's stdout, or on one FIFO, is
 * another matter: each is written after the other, as asked. */
bool run_out_same(const struct out_file *a, const struct out_file *b)
{
	struct stat x, y;

	return a->fd >= 0 && b->fd >= 0 && !a->std && !b->std && !fstat(a->fd, &x) && !fstat(b->fd, &y) &&
	       S_ISREG(x.st_mode) && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* path is a symlink of another user's, not root's, and rcleak, as root,
 * would write through it (*owner: its owner's uid). Root's own links
 * (/dev/stdout, /dev/fd/N) are not. */
static bool foreign_link(const char *path, uid_t *owner)
{
	struct stat l;

	if (geteuid() != 0 || lstat(path, &l) || !S_ISLNK(l.st_mode) || l.st_uid == 0)
		return false;
	*owner = l.st_uid;
	return true;
}

static void foreign_error(const char *path, uid_t owner, bool before_cmd)
{
	elog("cannot write %s: a symlink of uid %u's to what that user does not own; rcleak, as root, "
	     "writes through no such link: give the file itself%s", path, (unsigned)owner,
	     before_cmd ? "; the command was not run" : "");
}

/* "cannot write FILE: why" (e: an errno), "; the command was not run"
 * when before_cmd. A permission the kernel refused to CMD's user, as
 * whom FILE is opened (f->as), says so, and what to give: the path was
 * fine for root, and rcleak runs as root. */
static void cannot_write(const struct out_file *f, int e, bool before_cmd)
{
	const char *tail = before_cmd ? "; the command was not run" : "";
	struct stat st;

	/* FILE there already, another user's: most often a result.json an
	 * older rcleak made as root in the user's tree (it wrote FILE as
	 * root). "Permission denied for user 'ci'" left the user, who may
	 * write the folder, guessing why */
	if (f->as && (e == EACCES || e == EPERM) && !lstat(f->path, &st) && st.st_uid != f->as->uid) {
		struct passwd *pw = getpwuid(st.st_uid);
		char owner[80];

		if (pw)
			snprintf(owner, sizeof(owner), "%s's", pw->pw_name);
		else
			snprintf(owner, sizeof(owner), "uid %u's", (unsigned)st.st_uid);
		elog("cannot write %s: the file is %s, and rcleak writes FILE as user '%s', whom CMD runs "
		     "as: remove it, or give another path%s", f->path, owner, f->as->name, tail);
	} else if (f->as && (e == EACCES || e == EPERM))
		elog("cannot write %s: %s for user '%s', whom CMD runs as and as whom rcleak writes FILE: "
		     "give a path that user may write%s", f->path, strerror(e), f->as->name, tail);
	else
		elog("cannot write %s: %s%s", f->path, strerror(e), tail);
}

/* A foreign_link() leading to what its owner does not own (or nowhere):
 * CMD of an earlier run, as SUDO_USER, left `result.json -> /etc/shadow`
 * in its work tree, and rcleak, as root, emptied /etc/shadow at its check
 * and wrote the summary into it. A link to its owner's own file is
 * written through: that user could write the file anyway. Says so (the
 * command not run, when before_cmd) and returns true. */
static bool foreign_target(const char *path, bool before_cmd)
{
	struct stat t;
	uid_t owner;

	if (!foreign_link(path, &owner) || (!stat(path, &t) && t.st_uid == owner))
		return false;
	foreign_error(path, owner, before_cmd);
	return true;
}

/* The regular file path names, opened for writing (not emptied), as
 * foreign_target() allows, on the file opened: the name may lead
 * elsewhere by now than when it was looked at. A symlink at the open
 * (ELOOP without following) must still be one when looked at after, and
 * one of another user's must have led to a file of that user's. Returns
 * the fd, or -1 (message given). */
static int open_regular(const struct out_file *f)
{
	const char *path = f->path;
	struct stat l, t;
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd >= 0 || errno != ELOOP)
		goto out;
	if (lstat(path, &l) || !S_ISLNK(l.st_mode)) {
		elog("cannot write %s: it changed while rcleak looked at it; the command was not run", path);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0 && geteuid() == 0 && l.st_uid != 0 && (fstat(fd, &t) || t.st_uid != l.st_uid)) {
		close(fd);
		foreign_error(path, l.st_uid, true);
		return -1;
	}
out:
	if (fd < 0)
		cannot_write(f, errno, true);
	return fd;
}

/* The folder that would hold path, stat'ed into *dir, and path's last
 * name, *base. Returns false when the folder is not there. */
static bool folder_of(const char *path, struct stat *dir, const char **base)
{
	const char *slash = strrchr(path, '/');
	char d[PATH_MAX];

	if (!slash)
		snprintf(d, sizeof(d), ".");
	else if (slash == path)
		snprintf(d, sizeof(d), "/");
	else if ((size_t)(slash - path) < sizeof(d))
		snprintf(d, sizeof(d), "%.*s", (int)(slash - path), path);
	else
		return false;
	*base = slash ? slash + 1 : path;
	return !stat(d, dir);
}

/* run_out_same() asked of the names alone, before the privilege check,
 * with nothing opened or made: a usage error is said before "needs root".
 * Both there: one regular file, not rcleak's stdout or stderr (written
 * one after the other, as run_out_same() lets them). Neither there: one
 * name in one folder. What it cannot tell (a folder only root can search,
 * one made while it looked) run_out_same() tells after the check. */
bool run_out_same_name(const char *a, const char *b)
{
	const char *ba, *bb;
	struct stat x, y;
	int ea = stat(a, &x) ? errno : 0, eb = stat(b, &y) ? errno : 0;

	if (!ea && !eb)
		return S_ISREG(x.st_mode) && x.st_dev == y.st_dev && x.st_ino == y.st_ino && std_fd_of(&x) < 0;
	if (ea != ENOENT || eb != ENOENT)
		return false;
	return folder_of(a, &x, &ba) && folder_of(b, &y, &bb) && x.st_dev == y.st_dev &&
	       x.st_ino == y.st_ino && *ba && !strcmp(ba, bb);
}

/* A FIFO (mkfifo, or a pipe's /dev/fd/N: `--json >(jq .)`): opened now,
 * non-blocking, and held open to the end, where the summary goes into it.
 * Opened at the end, blocking, as it was, a FIFO nobody reads hung rcleak
 * there for ever, CMD done: a CI gate that never ends. A FIFO with no
 * reader is refused before CMD runs, after RUN_OUT_READER_WAIT_S for one
 * to come (`rcleak run --json f -- make & jq . <f` starts its reader just
 * after rcleak); held open, it does not end the reader's input (an open
 * and close now would). A signal ends the wait at once (the sleep returns
 * early, *stop is set): Ctrl-C was acted on only once the wait was over,
 * seconds later. Returns 0, -1 (message given) or RUN_OUT_STOPPED. */
static int open_fifo(struct out_file *f, const char *path, const volatile sig_atomic_t *stop)
{
	const struct timespec step = { 0, 50 * 1000 * 1000 };
	int tries = RUN_OUT_READER_WAIT_S * 20, fd;

	while ((fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0 && errno == ENXIO &&
	       tries-- > 0) {
		if (stop && *stop)
			return RUN_OUT_STOPPED;
		nanosleep(&step, NULL);
		if (stop && *stop)
			return RUN_OUT_STOPPED;
	}
	if (fd < 0 && errno == ENXIO) {
		elog("cannot write %s: a FIFO nobody reads (no reader came in %d s): start its reader "
		     "first; the command was not run", f->path, RUN_OUT_READER_WAIT_S);
		return -1;
	}
	if (fd < 0) {
		cannot_write(f, errno, true);
		return -1;
	}
	f->fd = fd;
	f->fifo = true;
	return 0;
}

/* --json and --junit FILE: can rcleak write it? Asked before CMD runs, not
 * after it: "cannot write" came once the whole test suite had run, whose
 * summary was then lost. A file it creates here it removes again when it
 * ends with no summary to write (CMD not run, a runtime error): no empty
 * file to be taken for a result. A regular file that is there already is
 * emptied now: an earlier run's summary outlived a run that wrote none
 * (CMD not found, rcleak killed), and a CI step read it as this run's.
 * The regular file stays open, and the summary goes into it, not into
 * whatever the name leads to at the end: CMD, run as SUDO_USER, could put
 * a symlink there in its own work tree (`ln -sf /etc/shadow rcleak.xml`),
 * and rcleak, as root, wrote through it. Returns 0, -1 (message given) or
 * RUN_OUT_STOPPED (open_fifo()). */
static int check_file(struct out_file *f, const volatile sig_atomic_t *stop)
{
	struct stat st;
	int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666), std;
	int e = fd < 0 ? errno : 0;

	f->created = fd >= 0;
	if (e == EEXIST && foreign_target(f->path, true))
		return -1;
	errno = e;
	if (fd < 0 && errno == EEXIST && !stat(f->path, &st)) {
		/* a directory passed this check, and CMD ran to its end
		 * before "cannot write ...: Is a directory" */
		if (S_ISDIR(st.st_mode)) {
			elog("cannot write %s: %s; the command was not run", f->path, strerror(EISDIR));
			return -1;
		}
		/* `--json /dev/stdout -- make >ci.log`: that file is CMD's
		 * output, emptied here and again at the end, and the JSON was
		 * all ci.log held. The summary goes after what CMD wrote
		 * there, as a shell's `>>` would put it. Written on rcleak's
		 * own fd, whatever it is: /dev/stdout of a socket (a systemd
		 * unit's, the journal) cannot be opened (ENXIO), and that was
		 * said at the end, CMD done. */
		if ((std = std_fd_of(&st)) >= 0) {
			f->fd = fcntl(std, F_DUPFD_CLOEXEC, 3);
			f->std = f->fd >= 0;
			if (f->fd >= 0)
				return 0;
		} else if (S_ISSOCK(st.st_mode)) {
			/* a socket's name cannot be opened: said now, not
			 * at the end */
			elog("cannot write %s: it is a socket; the command was not run", f->path);
			return -1;
		} else if (S_ISFIFO(st.st_mode)) {
			return open_fifo(f, f->path, stop);
		} else if (!S_ISREG(st.st_mode)) {
			/* a device is opened once, at the end */
			return 0;
		} else {
			/* emptied only once the file opened is known to be
			 * one it may write (the link may have changed) */
			if ((fd = open_regular(f)) < 0)
				return -1;
			if (ftruncate(fd, 0)) {
				cannot_write(f, errno, true);
				close(fd);
				return -1;
			}
		}
	}
	if (fd < 0) {
		cannot_write(f, errno, true);
		return -1;
	}
	f->fd = fd;
	return 0;
}

/* rcleak's own descriptor (3 and up: stdout and stderr are std_fd_of()'s)
 * of the file st is, or -1: a pipe given by its /dev/fd/N name
 * (`--json >(jq .)`), handed to rcleak open. */
static int held_fd_of(const struct stat *st)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int held = -1;

	if (!d)
		return -1;
	while (held < 0 && (e = readdir(d))) {
		int fd = atoi(e->d_name);
		struct stat o;

		if (fd > STDERR_FILENO && fd != dirfd(d) && !fstat(fd, &o) && o.st_dev == st->st_dev &&
		    o.st_ino == st->st_ino)
			held = fd;
	}
	closedir(d);
	return held;
}

/* check_file() as CMD's user, f->as: the kernel lets rcleak open or make
 * FILE only where that user may, through every folder and symlink on
 * the way. rcleak, as root, followed a folder symlink that the user (or
 * CMD of an earlier run) planted in the user's tree, `out -> /etc`:
 * `--json out/shadow` emptied /etc/shadow, `--json out/x` made a file in
 * /etc (foreign_target() looks at FILE's last name only); or a hard link
 * there to a file of root's. A FILE so made is the user's. A pipe of rcleak's own
 * (a /dev/fd/N given as FILE, root's under `--user`, mode 0600) is
 * opened through rcleak's descriptor, as root: it was handed to rcleak. */
int run_out_check(struct out_file *f, const volatile sig_atomic_t *stop)
{
	struct run_user_fs fs;
	struct stat st;
	int held, e;

	if (f->as && !stat(f->path, &st) && S_ISFIFO(st.st_mode) && (held = held_fd_of(&st)) >= 0) {
		char own[32];

		snprintf(own, sizeof(own), "/proc/self/fd/%d", held);
		return open_fifo(f, own, stop);
	}
	if ((e = run_user_fs_enter(f->as, &fs))) {
		elog("cannot write %s as user '%s': %s; the command was not run", f->path, f->as->name,
		     strerror(e));
		return -1;
	}
	e = check_file(f, stop);
	run_user_fs_leave(&fs);
	return e;
}

/* render's output of s in memory: *buf (malloc'd), *len bytes. Returns 0
 * or -1 (out of memory). */
static int render_mem(void (*render)(FILE *, const struct run_summary *), const struct run_summary *s,
		      char **buf, size_t *len)
{
	FILE *mem;

	*buf = NULL;
	*len = 0;
	mem = open_memstream(buf, len);
	if (!mem)
		return -1;
	render(mem, s);
	if (fclose(mem)) {
		free(*buf);
		*buf = NULL;
		return -1;
	}
	return 0;
}

/* All of buf onto fd. A short write goes on; so does one on a descriptor
 * left non-blocking whose pipe is full (O_NONBLOCK is the open file's: CMD
 * sets it on the stdio it shares with rcleak, as node does): it waits for
 * the reader (a CI log collector) rather than lose the rest to EAGAIN. A
 * signal (EINTR: one rcleak passes on, a stop) ends the wait: nobody reads.
 * stall_ms >= 0 bounds each wait: a reader that took nothing for that long
 * fails it with ETIMEDOUT (a FIFO's: rcleak's own fd, non-blocking). -1:
 * waited for as long as it takes (stdout, stderr: the CI's own pipes).
 * Returns 0 or the errno of the failure. */
static int write_all(int fd, const char *buf, size_t len, int stall_ms)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			int r = poll(&p, 1, stall_ms);

			if (r < 0)
				return errno;
			if (r == 0)
				return ETIMEDOUT;
			continue;
		}
		if (n <= 0)
			return n < 0 ? errno : EIO;
		off += (size_t)n;
	}
	return 0;
}

/* The summary into f: the file checked, which the name must still lead to
 * (one CMD replaced, by a symlink say, is not written), or made anew
 * (never through a symlink) when CMD removed it. Rendered in memory first,
 * written with write_all(). */
static int write_file(struct out_file *f, const struct run_summary *s,
		      void (*render)(FILE *, const struct run_summary *))
{
	bool same = f->fd >= 0 && (f->std || same_file(f));
	int fd = f->fd, e;
	size_t len;
	char *buf;

	f->fd = -1;
	if (fd >= 0 && !same) {
		struct stat st;

		close(fd);
		if (!lstat(f->path, &st) || errno != ENOENT) {
			elog("cannot write %s: the command replaced it while it ran (a symlink, another "
			     "file); rcleak writes only into the file it checked", f->path);
			return -1;
		}
		fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0666);
		if (fd < 0) {
			cannot_write(f, errno, false);
			return -1;
		}
	}
	if (fd >= 0 && !f->std && !f->fifo && ftruncate(fd, 0)) {
		cannot_write(f, errno, false);
		close(fd);
		return -1;
	}
	/* a device, opened now (as fopen's "w" opens); non-blocking, so that
	 * a FIFO put in its place cannot hang rcleak here either; never
	 * through another user's link put in its place */
	if (fd < 0 && foreign_target(f->path, false))
		return -1;
	if (fd < 0 && (fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
				 0666)) < 0) {
		cannot_write(f, errno, false);
		return -1;
	}
	if (render_mem(render, s, &buf, &len)) {
		elog("cannot write %s: out of memory", f->path);
		close(fd);
		return -1;
	}
	e = write_all(fd, buf, len, f->std ? -1 : RUN_OUT_STALL_S * 1000);
	free(buf);
	if (close(fd) && !e && errno != EINTR)
		e = errno;
	/* rcleak's stdout or stderr whose reader went away (`| head -c
	 * 100`): no error, as for the summary on stderr (run_out_stderr's
	 * caller) and for every view's stdout; it failed a passing run */
	if (e == EPIPE && f->std)
		e = 0;
	if (e == ETIMEDOUT) {
		elog("cannot write %s: its reader took nothing for %d s", f->path, RUN_OUT_STALL_S);
		return -1;
	}
	if (e) {
		cannot_write(f, e, false);
		return -1;
	}
	return 0;
}

/* write_file() as CMD's user, as run_out_check() checked FILE: a FILE
 * that CMD removed is made again where that user may make it, not where
 * a symlink CMD put in place of a folder leads (root's /etc). */
int run_out_write(struct out_file *f, const struct run_summary *s,
		  void (*render)(FILE *, const struct run_summary *))
{
	struct run_user_fs fs;
	int e;

	if ((e = run_user_fs_enter(f->as, &fs))) {
		elog("cannot write %s as user '%s': %s", f->path, f->as->name, strerror(e));
		if (f->fd >= 0)
			close(f->fd);
		f->fd = -1;
		return -1;
	}
	e = write_file(f, s, render);
	run_user_fs_leave(&fs);
	return e;
}

/* The text summary onto stderr, in one piece: rendered in memory first,
 * so that a failed write is known, with its errno (stderr is unbuffered:
 * each of its fprintf()s failed on its own, and nothing told). Returns 0,
 * or the errno of the write that failed. */
int run_out_stderr(const struct run_summary *s)
{
	size_t len;
	char *buf;
	int e;

	if (render_mem(summary_text, s, &buf, &len)) {
		/* out of memory: straight onto stderr, unchecked */
		clearerr(stderr);
		summary_text(stderr, s);
		return ferror(stderr) ? EIO : 0;
	}
	e = write_all(STDERR_FILENO, buf, len, -1);
	free(buf);
	return e;
}

/* No summary for f: close it, and remove a file the check made (as long
 * as the name still leads to it). */
void run_out_drop(struct out_file *f)
{
	struct run_user_fs fs;

	if (f->fd < 0)
		return;
	/* removed as it was made: as CMD's user, where that user may */
	if (f->created && !f->std && !run_user_fs_enter(f->as, &fs)) {
		if (same_file(f))
			unlink(f->path);
		run_user_fs_leave(&fs);
	}
	close(f->fd);
	f->fd = -1;
}
