/* SPDX-License-Identifier: GPL-2.0 */
/* report_csv.h - `rcleak report --csv`. */
#ifndef RCLEAK_REPORT_CSV_H
#define RCLEAK_REPORT_CSV_H

#include <stdbool.h>
#include "capfile.h"

/* Print the header and every event of every file (from its start: each
 * file is read twice); true when a file was damaged or incomplete. */
bool report_csv(struct capfile *files, int nfiles, const struct rcl_opts *o);

#endif
