// SPDX-License-Identifier: GPL-2.0
/* tui_draw.c - the main screen of the interactive view: the styles and
 * drawing primitives, the process table, and the help screen; the header,
 * server lines and footer are in tui_status.c. Draws into stdscr only; the
 * caller erases before and pushes to the terminal after (no flicker). */
#include <stdio.h>
#include <string.h>

#include "tui_int.h"
#include "view.h"

/* ---- styles ------------------------------------------------------------- */

struct style_def {
	short fg, bg;   /* -1: the terminal's default */
	attr_t extra;   /* added to the colour pair */
	attr_t mono;    /* without colours (NO_COLOR, monochrome terminal) */
};

static const struct style_def styles[ST__MAX] = {
	[ST_NORMAL]   = { -1, -1, 0, 0 },
	[ST_BOLD]     = { -1, -1, A_BOLD, A_BOLD },
	[ST_RED]      = { COLOR_RED, -1, A_BOLD, A_BOLD },
	[ST_MAGENTA]  = { COLOR_MAGENTA, -1, A_BOLD, A_BOLD },
	[ST_YELLOW]   = { COLOR_YELLOW, -1, A_BOLD, A_BOLD },
	[ST_GREEN]    = { COLOR_GREEN, -1, 0, 0 },
	[ST_CYAN]     = { COLOR_CYAN, -1, 0, 0 },
	[ST_DIM]      = { -1, -1, A_DIM, A_DIM },
	[ST_TITLE]    = { COLOR_BLACK, COLOR_GREEN, 0, A_REVERSE },
	[ST_SORTCOL]  = { COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE | A_BOLD | A_UNDERLINE },
	[ST_SELECT]   = { COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE },
	[ST_KEY]      = { -1, -1, A_BOLD, A_BOLD },
	[ST_KEYLABEL] = { COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE },
	[ST_LABEL]    = { COLOR_CYAN, -1, 0, 0 },
	[ST_BAR_OK]   = { COLOR_GREEN, -1, A_BOLD, 0 },
	[ST_BAR_WARN] = { COLOR_YELLOW, -1, A_BOLD, A_BOLD },
	[ST_BAR_CRIT] = { COLOR_RED, -1, A_BOLD, A_BOLD },
	[ST_PAUSED]   = { COLOR_BLACK, COLOR_YELLOW, A_BOLD, A_REVERSE | A_BOLD },
};

/* One colour pair per style (pair number == style). Falls back to no
 * colours when the terminal has too few pairs. */
void tui_colors_init(struct tui *t)
{
	bool def;

	if (!t->color || !has_colors() || start_color() == ERR || COLOR_PAIRS <= ST__MAX) {
		t->color = false;
		return;
	}
	def = use_default_colors() == OK;
	for (int s = 1; s < ST__MAX; s++) {
		short fg = styles[s].fg, bg = styles[s].bg;

		if (!def) {
			fg = fg < 0 ? COLOR_WHITE : fg;
			bg = bg < 0 ? COLOR_BLACK : bg;
		}
		init_pair((short)s, fg, bg);
	}
}

attr_t tui_attr(const struct tui *t, enum tui_style s)
{
	if (!t->color)
		return styles[s].mono;
	return (s == ST_NORMAL ? 0 : COLOR_PAIR(s)) | styles[s].extra;
}

/* Print at most maxw columns of text at (y, x). Text is from /proc:
 * anything. Printable ASCII, and on a UTF-8 terminal the characters it
 * shows as they are (utf8_shown: 'café' was 'caf??'), go as they are; any
 * other byte is '?'. Returns the columns written. */
int tui_put(const struct tui *t, int y, int x, int maxw, enum tui_style s, const char *text)
{
	const unsigned char *c = (const unsigned char *)text;
	int n = 0, cols, len;

	if (maxw <= 0 || y < 0 || y >= LINES || x >= COLS)
		return 0;
	if (maxw > COLS - x)
		maxw = COLS - x;
	attrset(tui_attr(t, s));
	move(y, x);
	for (; *c && n < maxw; c++) {
		if (*c >= 0x80 && t->utf8 && (len = utf8_shown(c, &cols))) {
			if (n + cols > maxw)
				break;
			addnstr((const char *)c, len);
			c += len - 1;
			n += cols;
			continue;
		}
		addch(*c >= 0x20 && *c < 0x7f ? *c : '?');
		n++;
	}
	attrset(A_NORMAL);
	return n;
}

int tui_cols_of(const struct tui *t, const char *text)
{
	const unsigned char *c = (const unsigned char *)text;
	int n = 0, cols, len;

	for (; *c; c++, n++) /* as tui_put draws it */
		if (*c >= 0x80 && t->utf8 && (len = utf8_shown(c, &cols))) {
			c += len - 1;
			n += cols - 1;
		}
	return n;
}

/* tui_put, but text longer than maxw bytes is cut only at a space, so no
 * word, and no number, is cut short ("at 1168" read "at 11"). */
int tui_put_words(const struct tui *t, int y, int x, int maxw, enum tui_style s, const char *text)
{
	int len = (int)strlen(text);
	char buf[256];

	if (maxw <= 0)
		return 0;
	if (len > maxw) {
		len = maxw;
		while (len > 0 && text[len] != ' ')
			len--;
	}
	snprintf(buf, sizeof(buf), "%.*s", len, text);
	return tui_put(t, y, x, maxw, s, buf);
}

/* Paint line y in style s (a bar: table header, selection). */
void tui_fill(const struct tui *t, int y, enum tui_style s)
{
	attrset(tui_attr(t, s));
	mvhline(y, 0, ' ', COLS);
	attrset(A_NORMAL);
}

/* "label value  " at (y, x), whole or not at all: when it does not fit
 * before the right edge, nothing is written and COLS is returned, so the
 * pairs after it are dropped too. Returns the next x. */
int tui_kv(const struct tui *t, int y, int x, const char *label, enum tui_style vs,
	   const char *value)
{
	if (x + (int)strlen(label) + 1 + (int)strlen(value) > COLS)
		return COLS;
	x += tui_put(t, y, x, COLS - x, ST_LABEL, label);
	x += tui_put(t, y, x, COLS - x, ST_NORMAL, " ");
	x += tui_put(t, y, x, COLS - x, vs, value);
	return x + 2;
}

/* ---- table -------------------------------------------------------------- */

/* Columns that fit in cols, left to right; CMDLINE takes what is left.
 * Returns how many are shown. */
static int layout(int cols, int xs[COL__MAX], int ws[COL__MAX])
{
	int x = 0, n = 0;

	for (int col = 0; col < COL__MAX; col++) {
		int w = tui_cols[col].width;

		if (col == COL_CMDLINE)
			w = cols - x > w ? cols - x : w;
		if (x + w > cols)
			break;
		xs[col] = x;
		ws[col] = w;
		x += w + 1;
		n++;
	}
	return n;
}

static void put_cell(const struct tui *t, int y, int x, int w, bool left,
		     enum tui_style s, const char *text)
{
	int len = (int)strlen(text);

	if (left || len >= w)
		tui_put(t, y, x, w, s, text);
	else
		tui_put(t, y, x + w - len, len, s, text);
}

static void draw_titles(struct tui *t, int y, int n, const int *xs, const int *ws)
{
	tui_fill(t, y, ST_TITLE);
	for (int col = 0; col < n; col++) {
		enum tui_style s = col == (int)t->sort ? ST_SORTCOL : ST_TITLE;

		if (s == ST_SORTCOL) { /* the whole column width, like htop */
			attrset(tui_attr(t, s));
			mvhline(y, xs[col], ' ', ws[col]);
		}
		put_cell(t, y, xs[col], ws[col], tui_cols[col].left, s, tui_cols[col].title);
	}
}

static void draw_row(struct tui *t, int y, const struct proc *p, bool selected,
		     int n, const int *xs, const int *ws)
{
	enum tui_style base = p->exited ? ST_DIM : ST_NORMAL;
	char buf[MODEL_CMDLINE + 48];

	if (selected)
		tui_fill(t, y, ST_SELECT);
	for (int col = 0; col < n; col++) {
		enum tui_style s = base;

		if (selected)
			s = ST_SELECT;
		else if (col == COL_VERDICT)
			s = tui_verdict_style(p);
		tui_cell(p, col, buf, sizeof(buf));
		put_cell(t, y, xs[col], ws[col], tui_cols[col].left, s, buf);
	}
}

/* Keep the selection inside the h visible rows. */
static void scroll_to_sel(struct tui *t, int h)
{
	if (h <= 0)
		return;
	if (t->sel < t->top)
		t->top = t->sel;
	if (t->sel >= t->top + (size_t)h)
		t->top = t->sel - (size_t)h + 1;
	if (t->top + (size_t)h > t->nrows)
		t->top = t->nrows > (size_t)h ? t->nrows - (size_t)h : 0;
}

static void draw_table(struct tui *t, int y)
{
	int xs[COL__MAX], ws[COL__MAX], n = layout(COLS, xs, ws);
	int h = LINES - 1 - (y + 1);

	t->table_h = h;
	if (y >= LINES - 1)
		return;
	draw_titles(t, y, n, xs, ws);
	scroll_to_sel(t, h);
	for (int i = 0; i < h && t->top + (size_t)i < t->nrows; i++) {
		size_t r = t->top + (size_t)i;

		draw_row(t, y + 1 + i, t->rows[r], r == t->sel, n, xs, ws);
	}
	if (!t->nrows && h > 0) {
		const struct rcl_opts *o = t->c->opts;
		char buf[400];

		/* with --pid or --comm, others' connections may well be there:
		 * say whose are missing, not that there are none */
		if (t->filter[0])
			snprintf(buf, sizeof(buf), "  no process matches the filter \"%s\" (/ then Enter clears it)",
				 t->filter);
		else if (o->pid && o->comm[0] && t->c->comm_state == COMM_NONE)
			snprintf(buf, sizeof(buf), "  no process %d named \"%s\" is running (--pid, --comm)", o->pid,
				 o->comm);
		else if (o->pid && o->comm[0])
			snprintf(buf, sizeof(buf), "  no connections of pid %d with command \"%s\" (--pid, --comm) on the watched ports yet",
				 o->pid, o->comm);
		else if (o->pid)
			snprintf(buf, sizeof(buf), "  no connections of pid %d (--pid) on the watched ports yet", o->pid);
		else if (o->comm[0] && t->c->comm_state == COMM_NONE)
			/* "no connections ... yet" read as if it ran and had
			 * not connected: it died, or never started */
			snprintf(buf, sizeof(buf), "  no process named \"%s\" is running (--comm)", o->comm);
		else if (o->comm[0])
			snprintf(buf, sizeof(buf), "  no connections of command \"%s\" (--comm) on the watched ports yet",
				 o->comm);
		else
			snprintf(buf, sizeof(buf), "  no connections on the watched ports yet");
		y = y + 2 < LINES - 1 ? y + 2 : y + 1;
		tui_put(t, y, 0, COLS, ST_DIM, buf);
		if (t->hint_n < 0 || t->filter[0] || y + 1 >= LINES - 1)
			return;
		if (!t->hint_n)
			snprintf(buf, sizeof(buf), "  no redis-server listens here; another port? quit, then rcleak -p PORT");
		else if (t->hint_n <= 16)
			snprintf(buf, sizeof(buf), "  redis-server listens here on %s: quit, then rcleak -p %s", t->hint,
				 t->hint);
		else
			snprintf(buf, sizeof(buf), "  redis-server listens here on %d ports (%s): quit, then give them with -p",
				 t->hint_n, t->hint);
		tui_put(t, y + 1, 0, COLS, ST_NORMAL, buf);
	}
}

void tui_draw_main(struct tui *t)
{
	static const char *const keys[] = {
		"q", "Quit", "j/k", "Move", "Enter", "Conns", "/", "Filter",
		"s", "Sort", "<>", "Col", "r", "Rev", "p", "Pause", "h", "Help", NULL,
	};
	int y = tui_draw_header(t, true);

	draw_table(t, y < LINES - 1 ? y : LINES - 1);
	tui_draw_footer(t, keys, true);
}

/* ---- help --------------------------------------------------------------- */

void tui_draw_help(struct tui *t)
{
	const struct model_thresholds *th = &t->c->model->th;
	char l[6][128];
	/* At most 78 columns and 22 lines, so that all of it shows on an 80x24
	 * terminal: the help does not scroll. */
	const char *text[] = {
		"Keys",
		"  q              quit (the terminal is restored)",
		"  Up/Down, j/k   move the selection; PgUp/PgDn or Space, Home/End or g/G",
		"  Enter          connections of the selected process (Esc returns)",
		"  /              filter by pid or command name; Enter applies, Esc cancels,",
		"                 an empty filter, or Esc in the table, shows everything again",
		"  s  < >  r      next sort column, move the sort column left/right, reverse",
		"  p              pause/resume refreshing",
		"  h, ?, F1       this help; Ctrl-L redraws the screen",
		"",
		"Verdicts (the rule that fired is in the connections view)",
		l[0], l[1], l[2], l[3],
		"  ok        nothing fired",
		"",
		"Columns",
		"  OPEN = connections held now (ESTAB + CLWAIT + SYNSNT + others)",
		"  OPENED/CLOSED since start, OPEN/s last interval, GROW/min window slope",
		l[4],
		"  FDS/NOFILE/FDROOM open fds, soft RLIMIT_NOFILE, and the fds left",
	};

	snprintf(l[0], sizeof(l[0]), "  LEAK      open grows >= %g/min over the window, closes <= %.0f%% of opens",
		 th->leak_per_min, th->leak_close_frac * 100);
	snprintf(l[1], sizeof(l[1]), "  ZOMBIE    CLOSE_WAIT held > %gs; servers: client silent > %gs",
		 th->zombie_s, th->zombie_idle_s);
	snprintf(l[2], sizeof(l[2]), "  FD-LIMIT  fd headroom under %g%% of the soft nofile limit", th->fd_limit_pct);
	snprintf(l[3], sizeof(l[3]), "  CHURN     >= %g connects/s with median lifetime < %gms",
		 th->churn_per_s, th->churn_life_ms);
	snprintf(l[4], sizeof(l[4]), "  MEDLIFE median lifetime of closed connections, IDLE idle >= %gs",
		 th->idle_s);
	tui_fill(t, 0, ST_TITLE);
	tui_put(t, 0, 1, COLS - 1, ST_TITLE, "rcleak help -- Press any key to return.");
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]) && (int)i + 2 < LINES; i++)
		tui_put(t, (int)i + 2, 1, COLS - 1,
			text[i][0] && text[i][0] != ' ' ? ST_BOLD : ST_NORMAL, text[i]);
}
