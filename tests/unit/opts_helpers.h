/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the option unit tests (test_opts*.c), in opts_helpers.c: a
 * command line from words, parsed by opts_parse() with a 256-byte err.
 */
#ifndef RCLEAK_TEST_OPTS_HELPERS_H
#define RCLEAK_TEST_OPTS_HELPERS_H

#include "opts.h"

/* rcleak, then the words up to a NULL. */
int parse_args(struct rcl_opts *o, char *err, ...);
/* rcleak, then pre (a command and its words, NULL-terminated), the first
 * n words of mid that are not NULL, then post (NULL-terminated): a usage
 * error's table row between what the command line needs around it. */
int parse_row(struct rcl_opts *o, char *err, const char *const *pre, const char *const *mid, int n,
	      const char *const *post);

/* pre and post of run's rows: "run" ... "--" "true" */
extern const char *const RUN[];
extern const char *const RUN_TRUE[];

#endif
