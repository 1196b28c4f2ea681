// SPDX-License-Identifier: GPL-2.0
/* Helpers of the option unit tests (see opts_helpers.h). */
#include <stdarg.h>
#include <stddef.h>

#include "opts_helpers.h"

const char *const RUN[] = { "run", NULL };
const char *const RUN_TRUE[] = { "--", "true", NULL };

/* opts_parse() keeps pointers into argv (o->run_argv): it outlives the
 * call, until the next one (a local array was read after its return) */
static char *argv[32];

int parse_args(struct rcl_opts *o, char *err, ...)
{
	int argc = 1;
	va_list ap;
	char *a;

	argv[0] = "rcleak";
	va_start(ap, err);
	while ((a = va_arg(ap, char *)) && argc < 31)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return opts_parse(o, argc, argv, err, 256);
}

int parse_row(struct rcl_opts *o, char *err, const char *const *pre, const char *const *mid, int n,
	      const char *const *post)
{
	int argc = 1;

	argv[0] = "rcleak";
	for (; pre && *pre && argc < 31; pre++)
		argv[argc++] = (char *)*pre;
	for (int j = 0; j < n && mid[j] && argc < 31; j++)
		argv[argc++] = (char *)mid[j];
	for (; post && *post && argc < 31; post++)
		argv[argc++] = (char *)*post;
	argv[argc] = NULL;
	err[0] = '\0';
	return opts_parse(o, argc, argv, err, 256);
}
