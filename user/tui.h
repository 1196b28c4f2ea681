/* SPDX-License-Identifier: GPL-2.0 */
/* tui.h - the interactive view (ncurses). Reads the model; never the kernel. */
#ifndef RCLEAK_TUI_H
#define RCLEAK_TUI_H

#include <signal.h>
#include <stdbool.h>
#include "collect.h"

/* Refresh callback: one collect_refresh() at the current time; 0 or -errno. */
typedef int (*tui_refresh_fn)(struct collector *c);

/* Run the interactive view until 'q', *stop becomes non-zero (SIGINT,
 * SIGTERM, SIGHUP), -d/-n are reached, or refresh fails. Calls refresh every
 * c->opts->interval_s seconds (not while paused). Restores the terminal on
 * every exit path. Returns 0, or the -errno of a failed refresh. */
int tui_run(struct collector *c, volatile sig_atomic_t *stop, tui_refresh_fn refresh);

/* Can curses drive the terminal on stdout (its TERM described, not generic
 * nor hardcopy)? Where it cannot (TERM=xterm-kitty on a host without that
 * terminfo), the views are the plain ones, as --plain prints them: its -d
 * ends on time, and a replay ends with the capture. */
bool tui_available(void);

#endif
