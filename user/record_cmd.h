/* SPDX-License-Identifier: GPL-2.0 */
/* record_cmd.h - `rcleak record` and `rcleak report`. */
#ifndef RCLEAK_RECORD_CMD_H
#define RCLEAK_RECORD_CMD_H

#include "opts.h"

int cmd_record(const struct rcl_opts *o);
int cmd_report(const struct rcl_opts *o);

#endif
