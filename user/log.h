/* SPDX-License-Identifier: GPL-2.0 */
/* log.h - messages on stderr. Errors are one line, prefixed "rcleak: ". */
#ifndef RCLEAK_LOG_H
#define RCLEAK_LOG_H

#include <stdio.h>

extern int rcl_verbose;

/* "rcleak: ", the message, a newline; control bytes of the message (a
 * newline or an escape in a value or a file name given) shown as '?', so
 * that it stays one line */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define elog(fmt, ...) log_line(fmt, ##__VA_ARGS__)
#define vlog(fmt, ...) do { if (rcl_verbose) log_line(fmt, ##__VA_ARGS__); } while (0)

/* fflush(f), right after writing to f; when f is stdout and a write to it
 * failed, keep the errno of the first failure for out_status(): glibc empties
 * the buffer of a failed write, so a later fflush succeeds and the reason is
 * gone. */
void out_flush(FILE *f);

/* At exit: rc, or RCL_EXIT_ERROR after one line on stderr when what was
 * written to stdout did not all reach it (a full disk, a closed stdout).
 * A reader that went away (EPIPE: `rcleak --json | head -1`) is no error. */
int out_status(int rc);

#endif
