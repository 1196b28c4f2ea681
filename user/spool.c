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

int spool_stdin(int *fd)
{
	const char *where;
	struct stat st;
	char *buf;
	int out;

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
	out = spool_file(&where);
	if (out < 0) {
		elog("-: cannot make a temporary file in %s to hold standard input: %s (set TMPDIR to a "
		     "writable directory)", where, strerror(errno));
		return RCL_EXIT_ERROR;
	}
	if (!(buf = malloc(SPOOL_BUF))) {
		close(out);
		elog("-: out of memory");
		return RCL_EXIT_ERROR;
	}
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, SPOOL_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			elog("-: read error on standard input: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			free(buf);
			*fd = out;
			return 0;
		}
		if (write_all(out, buf, (size_t)n)) {
			elog("-: cannot copy standard input to a temporary file in %s: %s (set TMPDIR to a "
			     "directory with room)", where, strerror(errno));
			break;
		}
	}
	free(buf);
	close(out);
	return RCL_EXIT_ERROR;
}
