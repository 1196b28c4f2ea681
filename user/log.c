// SPDX-License-Identifier: GPL-2.0
/* log.c - verbosity shared by every module (-v), and stdout's fate. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "opts.h"

int rcl_verbose;

void log_line(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
	fprintf(stderr, "rcleak: %s\n", buf);
}

static int out_errno; /* errno of stdout's first failed write; 0: none seen */

void out_flush(FILE *f)
{
	/* a write that failed with nothing left buffered after it (a large
	 * one goes past the buffer) leaves fflush() nothing to fail on: its
	 * errno is still the one of that write, which came just before */
	if ((fflush(f) || ferror(f)) && f == stdout && !out_errno)
		out_errno = errno;
}

int out_status(int rc)
{
	struct stat st;
	int e = out_errno;

	if (fflush(stdout) && !e)
		e = errno;
	if (!ferror(stdout))
		return rc;
	/* the reason is unknown only when the failed write's errno was lost
	 * (written without out_flush): on a pipe or a socket, that is its
	 * reader going away */
	if (e == EPIPE || (!e && !fstat(STDOUT_FILENO, &st) && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))))
		return rc;
	if (e)
		elog("write error on standard output: %s", strerror(e));
	else
		elog("write error on standard output: some output was lost");
	return rc == RCL_EXIT_OK ? RCL_EXIT_ERROR : rc;
}
