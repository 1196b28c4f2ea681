/* SPDX-License-Identifier: GPL-2.0 */
/* log.h - messages on stderr. Errors are one line, prefixed "rcleak: ". */
#ifndef RCLEAK_LOG_H
#define RCLEAK_LOG_H

#include <stdio.h>

extern int rcl_verbose;

#define elog(fmt, ...) fprintf(stderr, "rcleak: " fmt "\n", ##__VA_ARGS__)
#define vlog(fmt, ...) do { if (rcl_verbose) fprintf(stderr, "rcleak: " fmt "\n", ##__VA_ARGS__); } while (0)

#endif
