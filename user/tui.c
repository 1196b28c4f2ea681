// SPDX-License-Identifier: GPL-2.0
/* tui.c - placeholder until the ncurses view lands: the plain table on a
 * loop, so a terminal user still gets live output. */
#include <time.h>

#include "tui.h"
#include "view.h"

int tui_run(struct collector *c, volatile sig_atomic_t *stop, tui_refresh_fn refresh)
{
	long printed = 0;

	for (;;) {
		struct timespec ts = { (time_t)c->opts->interval_s,
				       (long)((c->opts->interval_s - (time_t)c->opts->interval_s) * 1e9) };
		int e;

		view_text(stdout, c, (double)time(NULL));
		printed++;
		if (c->opts->count && printed >= c->opts->count)
			return 0;
		while (!*stop && nanosleep(&ts, &ts))
			;
		if (*stop)
			return 0;
		e = refresh(c);
		if (e)
			return e;
	}
}
