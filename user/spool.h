/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spool.h - `rcleak report -`: the capture on standard input as a file
 * (and one given as a pipe, `rcleak report <(ssh host cat x.rcl)`).
 * The capture reader reads by offset and a report reads a file more than
 * once (--at's two passes, capfile_settle), so a pipe (`ssh host cat x.rcl
 * | rcleak report -`) is first copied whole into an unlinked file:
 * O_TMPFILE in $TMPDIR (else /tmp), or a memfd where that has no O_TMPFILE.
 * A stream cut short is a file cut short: the reader says so (exit 6).
 */
#ifndef RCLEAK_SPOOL_H
#define RCLEAK_SPOOL_H

#include <stddef.h>

/* Standard input as a readable regular file: 0 and *fd (the caller's to
 * close), or after one line on stderr an exit code (RCL_EXIT_USAGE for a
 * terminal: a capture is not typed; RCL_EXIT_ERROR when it cannot be read
 * or copied). A regular file read from its start is used in place. */
int spool_stdin(int *fd);

/* path, when it is a pipe (a FIFO, or a shell's <(ssh host cat x.rcl),
 * /dev/fd/N), as a readable regular file, read whole now: 0 and *fd (the
 * caller's to close), 0 and *fd -1 for anything else (read as it is), or
 * after one line on stderr RCL_EXIT_ERROR. */
int spool_pipe(const char *path, int *fd);

#endif
