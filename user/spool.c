// SPDX-License-Identifier: GPL-2.0
/* spool.c - see spool.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "opts.h"
#include "spool.h"

#define SPOOL_BUF (128u * 1024)

/* An unlinked file to copy into, or -1 (errno set). */
static int spool_file(const char **where)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	*where = dir;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	/* a filesystem without O_TMPFILE (EOPNOTSUPP, EISDIR on old kernels):
	 * memory then; a missing or full $TMPDIR is said as it is */
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		*where = "memory";
		fd = memfd_create("rcleak-stdin", MFD_CLOEXEC);
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Everything read from in (named name, "standard input" in the words of
 * what) into an unlinked file: 0 and *fd, or after one line an exit code. */
static int spool_from(int in, const char *name, const char *what, int *fd)
{
	const char *where;
	char *buf;
	int out;

	*fd = -1;
	out = spool_file(&where);
	if (out < 0) {
		elog("%s: cannot make a temporary file in %s to hold %s: %s (set TMPDIR to a "
		     "writable directory)", name, where, what, strerror(errno));
		return RCL_EXIT_ERROR;
	}
	if (!(buf = malloc(SPOOL_BUF))) {
		close(out);
		elog("%s: out of memory", name);
		return RCL_EXIT_ERROR;
	}
	for (;;) {
		ssize_t n = read(in, buf, SPOOL_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			elog("%s: read error on %s: %s", name, what, strerror(errno));
			break;
		}
		if (n == 0) {
			free(buf);
			*fd = out;
			return 0;
		}
		if (write_all(out, buf, (size_t)n)) {
			elog("%s: cannot copy %s to a temporary file in %s: %s (set TMPDIR to a "
			     "directory with room)", name, what, where, strerror(errno));
			break;
		}
	}
	free(buf);
	close(out);
	return RCL_EXIT_ERROR;
}

int spool_stdin(int *fd)
{
	struct stat st;

	*fd = -1;
	if (isatty(STDIN_FILENO)) {
		elog("-: standard input is a terminal: pipe a capture into it (ssh HOST cat FILE.rcl | "
		     "rcleak report -)");
		return RCL_EXIT_USAGE;
	}
	if (fstat(STDIN_FILENO, &st)) {
		elog("-: standard input: %s", strerror(errno));
		return RCL_EXIT_ERROR;
	}
	/* `rcleak report - < x.rcl`: nothing to copy */
	if (S_ISREG(st.st_mode) && lseek(STDIN_FILENO, 0, SEEK_CUR) == 0) {
		*fd = STDIN_FILENO;
		return 0;
	}
	return spool_from(STDIN_FILENO, "-", "standard input", fd);
}

int spool_pipe(const char *path, int *fd)
{
	struct stat st;
	int in, rc;

	*fd = -1;
	if (stat(path, &st) || !S_ISFIFO(st.st_mode))
		return 0; /* not a pipe: the reader says what it is */
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		elog("%s: %s", path, strerror(errno));
		return RCL_EXIT_ERROR;
	}
	rc = spool_from(in, path, "the pipe", fd);
	close(in);
	return rc;
}
