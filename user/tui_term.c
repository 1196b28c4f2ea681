// SPDX-License-Identifier: GPL-2.0
/* tui_term.c - whether curses can drive the terminal on stdout. Apart from
 * the other tui files: <term.h> defines macros named like common words
 * (lines, columns, newline). */
#include <curses.h>
#include <term.h>
#include <unistd.h>

#include "tui.h"

bool tui_available(void)
{
	int err;

	/* with &err, a TERM it has no description of (or a generic or
	 * hardcopy one) is an answer, not a message and exit() */
	if (setupterm(NULL, STDOUT_FILENO, &err) != OK)
		return false;
	del_curterm(cur_term);
	return true;
}
