// SPDX-License-Identifier: GPL-2.0
/*
 * tui.c - the interactive view (ncurses): terminal setup and teardown, the
 * event loop, keys. Layout and drawing live in tui_draw.c, tui_status.c and
 * tui_conn.c, row order and cell text in tui_rows.c.
 *
 * The loop waits for a key at most 200 ms at a time, so a signal (which sets
 * *stop), a resize and the next refresh are all noticed promptly. The
 * terminal is restored on every way out: return, exit() (atexit) and fatal
 * signals (the handler restores, then re-raises).
 */
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "portshint.h"
#include "tui.h"
#include "tui_int.h"
#include "view.h"

#define TICK_MS 200      /* longest wait for a key */
#define ESC_DELAY_MS 25  /* Esc alone vs an escape sequence */
#define KEY_ESC 27
#define KEY_CTRL(c) ((c) & 0x1f)

enum key_result { KEY_STAY, KEY_QUIT };

/* ==== terminal ownership ================================================ */

/* and Ctrl-\ (SIGQUIT): it dumps core as it should, but left the terminal
 * on the alternate screen, the cursor hidden and echo off */
static const int fatal_signals[] = { SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGQUIT };
#define NFATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))

static volatile sig_atomic_t term_active; /* curses owns the terminal */
static struct sigaction saved_fatal[NFATAL];
static int saved_stderr = -1;             /* real stderr while it is held */
static FILE *held_stderr;                 /* what was written meanwhile */

/* Crash path: give the terminal back, then die of the same signal
 * (SA_RESETHAND restored the default action). */
static void on_fatal(int sig)
{
	if (term_active) {
		term_active = 0;
		endwin();
	}
	raise(sig);
}

static void restore_at_exit(void)
{
	if (term_active) {
		term_active = 0;
		endwin();
	}
}

static void fatal_handlers(bool install)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NFATAL; i++) {
		if (install)
			sigaction(fatal_signals[i], &sa, &saved_fatal[i]);
		else
			sigaction(fatal_signals[i], &saved_fatal[i], NULL);
	}
}

/* While curses draws, diagnostics on a terminal stderr (libbpf, -v) would
 * scribble over the screen: keep them in a temporary file and print them
 * after the terminal is restored. */
static void stderr_hold(void)
{
	if (!isatty(STDERR_FILENO))
		return;
	held_stderr = tmpfile();
	if (!held_stderr)
		return;
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	if (saved_stderr < 0 || dup2(fileno(held_stderr), STDERR_FILENO) < 0) {
		if (saved_stderr >= 0)
			close(saved_stderr);
		saved_stderr = -1;
		fclose(held_stderr);
		held_stderr = NULL;
	}
}

static void stderr_release(void)
{
	char buf[4096];
	size_t n;

	if (saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	rewind(held_stderr);
	while ((n = fread(buf, 1, sizeof(buf), held_stderr)) > 0)
		if (write(STDERR_FILENO, buf, n) < 0)
			break;
	fclose(held_stderr);
	held_stderr = NULL;
}

/* Take the terminal. Returns the screen, or NULL when curses cannot drive
 * it (unknown TERM): the caller then falls back to the plain table. */
static SCREEN *term_open(struct tui *t)
{
	static bool atexit_done;
	const char *nc = getenv("NO_COLOR");
	SCREEN *scr;

	setlocale(LC_CTYPE, "");
	t->utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	scr = newterm(NULL, stdout, stdin);
	if (!scr)
		return NULL;
	set_term(scr);
	if (!atexit_done)
		atexit_done = !atexit(restore_at_exit);
	term_active = 1;
	fatal_handlers(true);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(ESC_DELAY_MS);
	t->color = !(nc && nc[0]);
	tui_colors_init(t);
	stderr_hold();
	return scr;
}

static void term_close(SCREEN *scr)
{
	if (term_active) {
		term_active = 0;
		endwin();
	}
	fatal_handlers(false);
	delscreen(scr);
	fflush(stdout);
	stderr_release();
}

/* ==== drawing ============================================================ */

static void draw(struct tui *t)
{
	erase();
	switch (t->screen) {
	case SCR_HELP:  tui_draw_help(t); break;
	case SCR_CONNS: tui_draw_conns(t); break;
	default:        tui_draw_main(t); break;
	}
	if (t->editing && LINES >= 2) { /* the cursor sits after the filter text */
		curs_set(1);
		move(LINES - 1, t->edit_x);
	} else {
		curs_set(0);
	}
	wnoutrefresh(stdscr);
	doupdate();
}

/* ==== keys =============================================================== */

static bool is_enter(int ch)
{
	return ch == '\n' || ch == '\r' || ch == KEY_ENTER;
}

static bool is_backspace(int ch)
{
	return ch == KEY_BACKSPACE || ch == 127 || ch == KEY_CTRL('h');
}

/* Typing after '/': Enter applies (empty clears), Esc cancels. wide: a
 * character past ASCII (ch is 0 then), kept as UTF-8, as names are. */
static void key_filter(struct tui *t, int ch, wint_t wide)
{
	size_t l = strlen(t->edit);
	char u[4];
	int n, cols;

	if (is_enter(ch)) {
		snprintf(t->filter, sizeof(t->filter), "%s", t->edit);
		t->editing = false;
		t->sel = 0;
		t->top = 0;
		t->have_sel = false;
		t->moved = false;
		tui_rows_build(t);
	} else if (ch == KEY_ESC) {
		t->editing = false;
	} else if (is_backspace(ch)) {
		/* the last character, all its bytes */
		while (l && ((unsigned char)t->edit[l - 1] & 0xc0) == 0x80)
			l--;
		if (l)
			t->edit[l - 1] = '\0';
	} else if (ch == KEY_CTRL('u')) {
		t->edit[0] = '\0';
	} else if (wide) {
		/* one a terminal shows as it is (no control, no override) */
		n = utf8_encode((unsigned int)wide, u);
		if (n && l + (size_t)n < sizeof(t->edit) && utf8_shown((const unsigned char *)u, &cols) == n) {
			memcpy(t->edit + l, u, (size_t)n);
			t->edit[l + (size_t)n] = '\0';
		}
	} else if (ch >= 0x20 && ch < 0x7f && l + 1 < sizeof(t->edit)) {
		t->edit[l] = (char)ch;
		t->edit[l + 1] = '\0';
	}
}

static void sort_by(struct tui *t, int col)
{
	t->sort = (enum tui_col)((col + COL__MAX) % COL__MAX);
	t->reverse = false;
	tui_rows_build(t);
}

/* A page: the lines that were visible, less one kept for context. */
static int page(int visible)
{
	return visible > 2 ? visible - 1 : 1;
}

static void enter_conns(struct tui *t)
{
	if (!t->nrows)
		return;
	t->detail_key = t->rows[t->sel]->key;
	t->ctop = 0;
	t->screen = SCR_CONNS;
	if (tui_conns_load(t))
		snprintf(t->msg, sizeof(t->msg), "out of memory for the connection list");
}

/* Keys common to both screens; returns true when ch was one of them. */
static bool key_common(struct tui *t, int ch)
{
	switch (ch) {
	case 'p':
	case 'P':
		t->paused = !t->paused;
		return true;
	case 'h':
	case 'H':
	case '?':
	case KEY_F(1):
		t->back = t->screen;
		t->screen = SCR_HELP;
		return true;
	case KEY_CTRL('l'):
		clearok(curscr, TRUE);
		return true;
	default:
		return false;
	}
}

static void key_main(struct tui *t, int ch)
{
	switch (ch) {
	case KEY_UP: case 'k':     tui_move(t, -1); break;
	case KEY_DOWN: case 'j':   tui_move(t, 1); break;
	case KEY_PPAGE:            tui_move(t, -page(t->table_h)); break;
	case KEY_NPAGE: case ' ':  tui_move(t, page(t->table_h)); break;
	case KEY_HOME: case 'g':   tui_move(t, -(long)t->nrows); break;
	case KEY_END: case 'G':    tui_move(t, (long)t->nrows); break;
	case 's': case 'S': case '>': case '.': sort_by(t, (int)t->sort + 1); break;
	case '<': case ',':        sort_by(t, (int)t->sort - 1); break;
	case 'r': case 'R':
		t->reverse = !t->reverse;
		tui_rows_build(t);
		break;
	case '/':
		t->editing = true; /* a fresh filter; Enter on nothing clears */
		t->edit[0] = '\0';
		break;
	case KEY_ESC: /* Esc in the table clears an applied filter */
		if (t->filter[0]) {
			t->filter[0] = '\0';
			tui_rows_build(t);
		}
		break;
	default:
		if (is_enter(ch) || ch == KEY_RIGHT)
			enter_conns(t);
		break;
	}
}

static void key_conns(struct tui *t, int ch)
{
	switch (ch) {
	case KEY_ESC: case KEY_LEFT: case KEY_BACKSPACE: case 127:
		t->screen = SCR_MAIN;
		tui_rows_build(t);
		break;
	case KEY_UP: case 'k':    tui_conns_scroll(t, -1); break;
	case KEY_DOWN: case 'j':  tui_conns_scroll(t, 1); break;
	case KEY_PPAGE:           tui_conns_scroll(t, -page(t->conn_h)); break;
	case KEY_NPAGE: case ' ': tui_conns_scroll(t, page(t->conn_h)); break;
	case KEY_HOME: case 'g':  tui_conns_scroll(t, -(long)t->nconns); break;
	case KEY_END: case 'G':   tui_conns_scroll(t, (long)t->nconns); break;
	default: break;
	}
}

/* ch: a key (curses' KEY_* or a byte of ASCII); wide: a character past
 * ASCII, ch 0 (only the filter takes those). */
static enum key_result key(struct tui *t, int ch, wint_t wide)
{
	t->msg[0] = '\0';
	if (ch == KEY_RESIZE)
		return KEY_STAY; /* curses already knows the new size: redraw */
	if (t->editing) {
		key_filter(t, ch, wide);
		return KEY_STAY;
	}
	if (t->screen == SCR_HELP) { /* any key closes it */
		t->screen = t->back;
		return KEY_STAY;
	}
	if (ch == 'q' || ch == 'Q')
		return KEY_QUIT;
	if (key_common(t, ch))
		return KEY_STAY;
	if (t->screen == SCR_CONNS)
		key_conns(t, ch);
	else
		key_main(t, ch);
	return KEY_STAY;
}

/* ==== the loop =========================================================== */

/* While the watched ports hold nothing at all, the ports redis-server
 * listens on here: the line main() printed about them on stderr at the
 * start is under the screen, and an empty table of the wrong port said
 * nothing. /proc is read again every HINT_S, not at every refresh. Not in
 * a replay (no tracer): this host's ports say nothing of the recording's. */
#define HINT_S 5.0
static void update_hint(struct tui *t)
{
	double now = collect_now();

	if (!t->c->tracer || !collect_sees_nothing(t->c)) {
		t->hint_n = -1;
		return;
	}
	if (t->hint_n >= 0 && now - t->hint_at < HINT_S)
		return;
	t->hint_n = portshint_have(t->hint, sizeof(t->hint));
	t->hint_at = now;
}

/* One refresh of the model and everything derived from it. */
static int tick(struct tui *t, tui_refresh_fn refresh_fn)
{
	int e = refresh_fn(t->c);

	if (e)
		return e;
	update_hint(t);
	tui_rows_build(t);
	/* back stays as it was after help closes: only help over the
	 * drill-down needs the list */
	if (t->screen == SCR_CONNS || (t->screen == SCR_HELP && t->back == SCR_CONNS))
		if (tui_conns_load(t))
			snprintf(t->msg, sizeof(t->msg), "out of memory for the connection list");
	return 0;
}

/* Milliseconds to wait for a key: until the next refresh, at most TICK_MS. */
static int wait_ms(const struct tui *t, double now)
{
	double ms = (t->next_tick - now) * 1000;

	if (t->paused || ms > TICK_MS)
		return TICK_MS;
	return ms < 0 ? 0 : (int)ceil(ms);
}

static bool duration_over(const struct collector *c)
{
	return c->opts->duration_s > 0 && collect_now() - c->start >= c->opts->duration_s - 1e-3;
}

static int loop(struct tui *t, volatile sig_atomic_t *stop, tui_refresh_fn refresh_fn)
{
	const struct rcl_opts *o = t->c->opts;
	long shown = 1; /* the first refresh (collect_start) is on screen */

	t->next_tick = collect_now() + o->interval_s;
	for (;;) {
		double now;
		wint_t wc;
		int ch, e, r;

		draw(t);
		if (*stop || duration_over(t->c))
			return 0;
		timeout(wait_ms(t, collect_now()));
		/* whole characters, not bytes: a UTF-8 name typed after '/'
		 * came as bytes getch() gave one by one, and none was kept */
		r = get_wch(&wc);
		if (*stop)
			return 0;
		ch = r == KEY_CODE_YES || (r == OK && wc < 0x80) ? (int)wc : 0;
		if (r != ERR && key(t, ch, r == OK && wc >= 0x80 ? wc : 0) == KEY_QUIT)
			return 0;
		now = collect_now();
		if (t->paused || now < t->next_tick)
			continue;
		/* -n N: N refreshes were each on screen for an interval */
		if (o->count && shown >= o->count)
			return 0;
		e = tick(t, refresh_fn);
		if (e)
			return e;
		shown++;
		t->next_tick += o->interval_s;
		if (t->next_tick <= collect_now()) /* slow refresh: no burst to catch up */
			t->next_tick = collect_now() + o->interval_s;
	}
}

/* No usable terminal description: the plain table, once per interval. */
static int plain_loop(struct collector *c, volatile sig_atomic_t *stop, tui_refresh_fn refresh_fn)
{
	long printed = 0;

	for (;;) {
		struct timespec ts = { (time_t)c->opts->interval_s,
				       (long)((c->opts->interval_s - (time_t)c->opts->interval_s) * 1e9) };
		int e;

		view_text(stdout, c, (double)time(NULL));
		printed++;
		if ((c->opts->count && printed >= c->opts->count) || duration_over(c))
			return 0;
		while (!*stop && nanosleep(&ts, &ts))
			;
		if (*stop)
			return 0;
		e = refresh_fn(c);
		if (e)
			return e;
	}
}

int tui_run(struct collector *c, volatile sig_atomic_t *stop, tui_refresh_fn refresh_fn)
{
	struct tui t = { .c = c, .sort = COL_VERDICT, .screen = SCR_MAIN, .back = SCR_MAIN,
			 .hint_n = -1 };
	SCREEN *scr = term_open(&t);
	int rc;

	if (!scr)
		return plain_loop(c, stop, refresh_fn);
	update_hint(&t);
	tui_rows_build(&t);
	rc = loop(&t, stop, refresh_fn);
	term_close(scr);
	free(t.rows);
	free(t.conns);
	return rc;
}
