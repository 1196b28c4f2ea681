/* SPDX-License-Identifier: GPL-2.0 */
/* run.h - `rcleak run -- CMD`: run CMD, trace its process tree, report. */
#ifndef RCLEAK_RUN_H
#define RCLEAK_RUN_H

#include "opts.h"

/* Returns the process exit code (see summary_exit_code and opts.h). */
int cmd_run(const struct rcl_opts *o);

#endif
