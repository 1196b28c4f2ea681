/* SPDX-License-Identifier: GPL-2.0 */
/* opts_int.h - between opts.c (the parser), opts_values.c (the values) and
 * opts_check.c (which options go with which command). */
#ifndef RCLEAK_OPTS_INT_H
#define RCLEAK_OPTS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "opts.h"

/* Write a message to err; returns -1 (a usage error). */
int opts_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A decimal integer from lo to hi, nothing after it: 0, or -1. */
int opts_parse_long(const char *s, long lo, long hi, long *out);
/* Seconds: a finite decimal number, nothing after it: 0, or -1. */
int opts_parse_secs(const char *s, double *out);
/* Add n sorted ports to o's sorted list, once each. */
int opts_add_ports(struct rcl_opts *o, const __u16 *more, int n, char *err, size_t errlen);
/* A threshold from lo to hi; what names it in the message. */
int opts_threshold(const char *arg, double lo, double hi, double *out, const char *what,
		   char *err, size_t errlen);
/* Digits with at most one '.'. */
bool opts_is_number(const char *s);
struct option;
/* getopt's ':' or '?' for the word arg, named as given (see opts_values.c). */
int opts_bad_option(const struct option *long_opts, int c, const char *arg, char *err, size_t errlen);
/* A FILE option's value: never empty, never a word that starts with '-' or '='. */
int opts_need_file(const char *opt, const char *arg, char *err, size_t errlen);

/* What the parser saw, for the checks of the whole command line. */
struct opts_seen {
	int first;               /* argv index of the first option: 1, or 2 after a command */
	int rest;                /* argv index of the first word getopt did not take */
	int nfiles;              /* report's FILEs among the options (in o->file_list) */
	const char *tracing_opt; /* the first option given that only tracing uses, or NULL */
	const char *not_doctor;  /* the first option given that doctor has no use for, or "" */
};
/* Once getopt is done: the options that do not go with o->cmd, run's CMD,
 * report's FILEs after the options. 0, or -1 (a usage error in err). */
int opts_check(struct rcl_opts *o, int argc, char **argv, const struct opts_seen *seen,
	       char *err, size_t errlen);

#endif
