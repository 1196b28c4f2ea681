/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tui_int.h - internals shared by the interactive view's files:
 *   tui.c         terminal setup and teardown, the event loop, keys
 *   tui_rows.c    which processes are rows, their order, cell text
 *   tui_draw.c    the main screen: styles, primitives, the table; help
 *   tui_status.c  the main screen's header, server lines and footer
 *   tui_conn.c    the drill-down screen of one process
 * Nothing here touches the kernel; everything reads the collector's model.
 */
#ifndef RCLEAK_TUI_INT_H
#define RCLEAK_TUI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <curses.h>

#include "collect.h"
#include "model.h"

/* Table columns, left to right; the narrowest screens drop the rightmost. */
enum tui_col {
	COL_VERDICT, COL_PID, COL_COMM, COL_ROLE, COL_OPEN, COL_ESTAB, COL_CLWAIT,
	COL_SYNSNT, COL_OPENED, COL_CLOSED, COL_OPENRATE, COL_GROW, COL_MEDLIFE,
	COL_IDLE, COL_FDS, COL_NOFILE, COL_FDROOM, COL_CMDLINE, COL__MAX
};

struct tui_coldef {
	const char *title;
	int width;        /* minimum for COL_CMDLINE, which takes the rest */
	bool left;        /* left-aligned (text) rather than right (numbers) */
};

extern const struct tui_coldef tui_cols[COL__MAX];

/* Visual roles; tui_attr() maps them to colours or, with NO_COLOR or a
 * monochrome terminal, to plain attributes. */
enum tui_style {
	ST_NORMAL, ST_BOLD, ST_RED, ST_MAGENTA, ST_YELLOW, ST_GREEN, ST_CYAN, ST_DIM,
	ST_TITLE,     /* table header line */
	ST_SORTCOL,   /* the sort column's title */
	ST_SELECT,    /* the selected row */
	ST_KEY,       /* a key in the footer */
	ST_KEYLABEL,  /* what that key does */
	ST_LABEL,     /* a label in the header ("events/s") */
	ST_BAR_OK, ST_BAR_WARN, ST_BAR_CRIT,
	ST_PAUSED,    /* the PAUSED badge */
	ST__MAX
};

enum tui_screen { SCR_MAIN, SCR_CONNS, SCR_HELP };

/* Footer while the '/' filter is typed; the text follows after one space.
 * Where that does not leave room for the text, the short one. */
#define TUI_FILTER_PROMPT "Filter (pid or command; Enter applies, Esc cancels):"
#define TUI_FILTER_SHORT "Filter:"

/* Whole state of one tui_run(). Rows point into the model and are rebuilt
 * after every refresh (model_gc may free processes): only the selection's
 * key survives across refreshes. */
struct tui {
	struct collector *c;
	bool color;
	bool utf8;
	bool paused;
	enum tui_screen screen, back;   /* back: where SCR_HELP returns to */

	/* rows of the main table, in display order */
	struct proc **rows;
	size_t nrows, rowcap;
	size_t nrows_unfiltered;        /* rows there would be without the '/' filter */
	size_t sel, top;                /* selected row; first row shown */
	int table_h;                    /* table rows that fit (last draw) */
	struct rcl_owner sel_key;       /* follows the process across refreshes */
	bool have_sel;
	bool moved;                     /* the user moved it: stop following row 0 */

	/* order: the column, and reversed from its natural direction */
	enum tui_col sort;
	bool reverse;

	/* filter: applied text, and the line being edited after '/' */
	char filter[64];
	bool editing;
	char edit[64];
	int edit_x;                     /* the cursor's column (last draw) */

	/* drill-down */
	struct rcl_owner detail_key;
	struct conn_view *conns;
	size_t nconns, conncap;
	size_t ctop;                    /* first connection line shown */
	int conn_h;                     /* connection lines that fit (last draw) */
	int addr_w[2];                  /* widest local, remote endpoint text */

	double next_tick;               /* collect_now() of the next refresh */
	/* while the watched ports hold nothing: redis-server's ports here
	 * (portshint_have), how many (-1: not read), read when */
	char hint[160];
	int hint_n;
	double hint_at;
	char msg[96];                   /* one-shot message in the footer */
};

/* tui_rows.c */
void tui_rows_build(struct tui *t);
void tui_select_key(struct tui *t);
void tui_move(struct tui *t, long delta);
bool tui_row_shown(const struct proc *p);
void tui_cell(const struct proc *p, enum tui_col col, char *buf, size_t len);
enum tui_style tui_verdict_style(const struct proc *p);
const char *tui_sort_name(const struct tui *t);
void tui_fmt_dur(double s, char *buf, size_t len);
void tui_fmt_ms(double ms, char *buf, size_t len);

/* tui_draw.c */
void tui_colors_init(struct tui *t);
attr_t tui_attr(const struct tui *t, enum tui_style s);
int tui_put(const struct tui *t, int y, int x, int maxw, enum tui_style s, const char *text);
/* The columns tui_put takes for text, given room. */
int tui_cols_of(const struct tui *t, const char *text);
int tui_put_words(const struct tui *t, int y, int x, int maxw, enum tui_style s, const char *text);
void tui_fill(const struct tui *t, int y, enum tui_style s);
int tui_kv(const struct tui *t, int y, int x, const char *label, enum tui_style vs,
	   const char *value);
void tui_draw_main(struct tui *t);
void tui_draw_help(struct tui *t);

/* tui_status.c */
int tui_draw_header(struct tui *t, bool servers);
void tui_draw_footer(struct tui *t, const char *const *keys, bool status);
/* ETA of a server: "16m33s", "now", or "" when it is not growing; marked
 * "?" when its limit assumes the default maxclients. */
void tui_fmt_eta(const struct proc *s, char *buf, size_t len);

/* tui_conn.c */
int tui_conns_load(struct tui *t);
void tui_draw_conns(struct tui *t);
void tui_conns_scroll(struct tui *t, long delta);

#endif
