// SPDX-License-Identifier: GPL-2.0
/* tui_rows.c - the rows of the interactive table: which processes are shown,
 * in which order, the text of each cell, and the selection that follows one
 * process across refreshes. Pure: reads the model, draws nothing. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui_int.h"
#include "view.h"

const struct tui_coldef tui_cols[COL__MAX] = {
	[COL_VERDICT]  = { "VERDICT",  8, true },
	[COL_PID]      = { "PID",      7, false },
	[COL_COMM]     = { "COMM",    15, true },
	[COL_ROLE]     = { "ROLE",     6, true },
	[COL_OPEN]     = { "OPEN",     6, false },
	[COL_ESTAB]    = { "ESTAB",    6, false },
	[COL_CLWAIT]   = { "CLWAIT",   6, false },
	[COL_SYNSNT]   = { "SYNSNT",   6, false },
	[COL_OPENED]   = { "OPENED",   7, false },
	[COL_CLOSED]   = { "CLOSED",   7, false },
	[COL_OPENRATE] = { "OPEN/s",   7, false },
	[COL_GROW]     = { "GROW/min", 8, false },
	[COL_MEDLIFE]  = { "MEDLIFE",  7, false },
	[COL_IDLE]     = { "IDLE",     5, false },
	[COL_FDS]      = { "FDS",      6, false },
	[COL_NOFILE]   = { "NOFILE",   7, false },
	[COL_FDROOM]   = { "FDROOM",   7, false },
	[COL_CMDLINE]  = { "CMDLINE", 10, true },
};

/* ---- formatting --------------------------------------------------------- */

/* Seconds as "42s", "3m07s", "5h02m", "2d03h"; "-" when negative (unknown). */
void tui_fmt_dur(double s, char *buf, size_t len)
{
	long v = (long)(s + 0.5);

	if (s < 0)
		snprintf(buf, len, "-");
	else if (v < 60)
		snprintf(buf, len, "%lds", v);
	else if (v < 3600)
		snprintf(buf, len, "%ldm%02lds", v / 60, v % 60);
	else if (v < 86400)
		snprintf(buf, len, "%ldh%02ldm", v / 3600, v % 3600 / 60);
	else
		snprintf(buf, len, "%ldd%02ldh", v / 86400, v % 86400 / 3600);
}

/* Milliseconds as "0.4ms", "12ms", "1.5s", "3m07s"; "-" when negative. */
void tui_fmt_ms(double ms, char *buf, size_t len)
{
	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms < 10)
		snprintf(buf, len, "%.1fms", ms);
	else if (ms < 1000)
		snprintf(buf, len, "%.0fms", ms);
	else if (ms < 10000)
		snprintf(buf, len, "%.1fs", ms / 1000);
	else
		tui_fmt_dur(ms / 1000, buf, len);
}

/* A count that fits width: 1234567 becomes "1234k" in a 6-wide column;
 * "-" when negative (unknown). */
/* The command line, or the name when it was never read: what the CMDLINE
 * column shows and sorts by. */
static const char *shown_cmdline(const struct proc *p)
{
	return p->have_cmdline && p->cmdline[0] ? p->cmdline : p->comm;
}

static void fmt_count(long long v, int width, char *buf, size_t len)
{
	char tmp[32];

	if (v < 0)
		snprintf(tmp, sizeof(tmp), "-");
	else if (snprintf(tmp, sizeof(tmp), "%lld", v) > width &&
		 snprintf(tmp, sizeof(tmp), "%lldk", v / 1000) > width)
		snprintf(tmp, sizeof(tmp), "%lldM", v / 1000000);
	snprintf(buf, len, "%s", tmp);
}

/* Fds left under the soft limit: negative when the process holds more than
 * a limit lowered since (prlimit), which it then cannot open any more of.
 * false when either is unknown. */
static bool fd_room(const struct proc *p, long long *room)
{
	if (p->fds < 0 || p->nofile_soft < 0)
		return false;
	*room = p->nofile_soft - p->fds;
	return true;
}

/* FDROOM: "-" when unknown; over the limit the count is negative ("-340"),
 * not "-", which read as unknown on the row that most needs it. */
static void fmt_room(const struct proc *p, int width, char *buf, size_t len)
{
	long long room;

	if (!fd_room(p, &room)) {
		snprintf(buf, len, "-");
	} else if (room >= 0) {
		fmt_count(room, width, buf, len);
	} else {
		char tmp[32];

		fmt_count(-room, width - 1, tmp, sizeof(tmp));
		snprintf(buf, len, "-%s", tmp);
	}
}

void tui_cell(const struct proc *p, enum tui_col col, char *buf, size_t len)
{
	int w = tui_cols[col].width;

	switch (col) {
	case COL_VERDICT: /* an exited process keeps the verdict it left with */
		snprintf(buf, len, "%s", !p->exited ? verdict_name(p->verdict)
				       : p->last_verdict != V_OK ? verdict_name(p->last_verdict) : "exited");
		break;
	case COL_PID:     snprintf(buf, len, "%u", p->key.tgid); break;
	case COL_COMM:    snprintf(buf, len, "%s", p->comm); break;
	case COL_ROLE:    snprintf(buf, len, "%s", p->nlisten ? "server" : "client"); break;
	case COL_OPEN:    fmt_count(p->open, w, buf, len); break;
	case COL_ESTAB:   fmt_count(p->established, w, buf, len); break;
	case COL_CLWAIT:  fmt_count(p->close_wait, w, buf, len); break;
	case COL_SYNSNT:  fmt_count(p->syn_sent, w, buf, len); break;
	case COL_OPENED:  fmt_count((long long)p->opened, w, buf, len); break;
	case COL_CLOSED:  fmt_count((long long)(p->closed + p->missed_closed), w, buf, len); break;
	case COL_OPENRATE: snprintf(buf, len, "%.1f", p->open_rate); break;
	case COL_GROW:
		snprintf(buf, len, p->growth_per_min >= 0.05 ? "+%.1f" : "%.1f",
			 p->growth_per_min > -0.05 && p->growth_per_min < 0.05 ? 0.0 : p->growth_per_min);
		break;
	case COL_MEDLIFE: tui_fmt_ms(p->median_lifetime_ms, buf, len); break;
	case COL_IDLE:    fmt_count(p->idle, w, buf, len); break;
	case COL_FDS:     fmt_count(p->fds, w, buf, len); break;
	case COL_NOFILE:  fmt_count(p->nofile_soft, w, buf, len); break;
	case COL_FDROOM:  fmt_room(p, w, buf, len); break;
	case COL_CMDLINE: /* what an exited process left open: CLOSED counts those too */
		if (p->exited && proc_leaked(p))
			snprintf(buf, len, "(exited, %llu leaked) %s", (unsigned long long)proc_leaked(p),
				 shown_cmdline(p));
		else
			snprintf(buf, len, "%s%s", p->exited ? "(exited) " : "", shown_cmdline(p));
		break;
	default:          snprintf(buf, len, "?"); break;
	}
}

enum tui_style tui_verdict_style(const struct proc *p)
{
	if (p->exited && p->last_verdict == V_OK)
		return ST_DIM;
	switch (p->exited ? p->last_verdict : p->verdict) {
	case V_LEAK:
	case V_FD_LIMIT: return ST_RED;
	case V_ZOMBIE:   return ST_MAGENTA;
	case V_CHURN:    return ST_YELLOW;
	default:         return ST_NORMAL;
	}
}

/* ---- which rows --------------------------------------------------------- */

/* The JSON lists the process: it holds, opened or closed something, leaked
 * some (a fork's child exits with its parent's), or listens. */
bool tui_row_shown(const struct proc *p)
{
	return p->open || p->opened || p->closed || p->missed_closed || p->exit_closed || p->nlisten;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* '/' filter: digits match the pid exactly, anything else a substring of
 * the command name (case-insensitive, UTF-8 too). */
static bool filter_match(const char *f, const struct proc *p)
{
	if (!f[0])
		return true;
	if (all_digits(f))
		return strtoul(f, NULL, 10) == p->key.tgid;
	return utf8_casestr(p->comm, f);
}

/* ---- order -------------------------------------------------------------- */

/* LEAK, ZOMBIE and FD-LIMIT rows lead the default order. */
static int severe(const struct proc *p)
{
	return !p->exited && (p->verdict == V_LEAK || p->verdict == V_ZOMBIE ||
			      p->verdict == V_FD_LIMIT);
}

static double col_value(const struct proc *p, enum tui_col col)
{
	switch (col) {
	case COL_OPEN:     return (double)p->open;
	case COL_ESTAB:    return (double)p->established;
	case COL_CLWAIT:   return (double)p->close_wait;
	case COL_SYNSNT:   return (double)p->syn_sent;
	case COL_OPENED:   return (double)p->opened;
	case COL_CLOSED:   return (double)(p->closed + p->missed_closed);
	case COL_OPENRATE: return p->open_rate;
	case COL_GROW:     return p->growth_per_min;
	case COL_MEDLIFE:  return p->median_lifetime_ms;
	case COL_IDLE:     return (double)p->idle;
	case COL_FDS:      return (double)p->fds;
	case COL_NOFILE:   return (double)p->nofile_soft;
	case COL_FDROOM: { /* unknown after any count, as -1 is elsewhere */
		long long room;

		return fd_room(p, &room) ? (double)room : -1e18;
	}
	default:           return 0;
	}
}

static int cmp_num(double a, double b)
{
	return a < b ? -1 : a > b;
}

/* Natural order of a column: counts and rates descending (unknown, -1,
 * last), names ascending, pid ascending, servers before clients. */
static int cmp_col(const struct proc *a, const struct proc *b, enum tui_col col)
{
	switch (col) {
	case COL_VERDICT:
		if (severe(a) != severe(b))
			return severe(b) - severe(a);
		if (a->exited != b->exited)
			return a->exited - b->exited;
		return cmp_num(b->growth_per_min, a->growth_per_min);
	case COL_PID:     return cmp_num(a->key.tgid, b->key.tgid);
	case COL_COMM:    return strcmp(a->comm, b->comm);
	case COL_CMDLINE: return strcmp(shown_cmdline(a), shown_cmdline(b));
	case COL_ROLE:    return (b->nlisten > 0) - (a->nlisten > 0);
	default:          return cmp_num(col_value(b, col), col_value(a, col));
	}
}

static int cmp_rows(const void *x, const void *y, void *ctx)
{
	const struct proc *a = *(struct proc *const *)x, *b = *(struct proc *const *)y;
	const struct tui *t = ctx;
	int r = cmp_col(a, b, t->sort);

	if (r)
		return t->reverse ? -r : r;
	if (t->sort == COL_VERDICT && a->open != b->open)
		return a->open > b->open ? -1 : 1;
	return cmp_num(a->key.tgid, b->key.tgid);
}

const char *tui_sort_name(const struct tui *t)
{
	return tui_cols[t->sort].title;
}

/* ---- build and select --------------------------------------------------- */

static bool same_key(const struct rcl_owner *a, const struct rcl_owner *b)
{
	return a->tgid == b->tgid && a->start_ns == b->start_ns;
}

/* Rebuild t->rows from the model (after a refresh, a filter or a sort
 * change) and keep the selection on the same process when it is still
 * shown. */
void tui_rows_build(struct tui *t)
{
	const struct model *m = t->c->model;

	if (t->rowcap < m->nprocs) {
		struct proc **r = realloc(t->rows, m->nprocs * sizeof(*r));

		if (!r) { /* keep the old, smaller table: show what fits */
			t->nrows = 0;
			return;
		}
		t->rows = r;
		t->rowcap = m->nprocs;
	}
	t->nrows = t->nrows_unfiltered = 0;
	for (size_t i = 0; i < m->nprocs; i++) {
		struct proc *p = m->procs[i];

		if (!tui_row_shown(p) || !view_selected(t->c->opts, p))
			continue;
		t->nrows_unfiltered++;
		if (filter_match(t->filter, p))
			t->rows[t->nrows++] = p;
	}
	if (t->nrows > 1)
		qsort_r(t->rows, t->nrows, sizeof(*t->rows), cmp_rows, t);
	tui_select_key(t);
}

/* Point sel at sel_key's row; if that process is no longer shown, keep the
 * same screen position and adopt whatever row is there now. Before the user
 * moves the selection it stays on the first row. */
void tui_select_key(struct tui *t)
{
	if (!t->moved) { /* until the user moves, the selection is the top row */
		t->sel = 0;
		t->have_sel = false;
	}
	if (t->have_sel) {
		for (size_t i = 0; i < t->nrows; i++) {
			if (same_key(&t->rows[i]->key, &t->sel_key)) {
				t->sel = i;
				return;
			}
		}
	}
	if (t->sel >= t->nrows)
		t->sel = t->nrows ? t->nrows - 1 : 0;
	t->have_sel = t->nrows > 0;
	if (t->have_sel)
		t->sel_key = t->rows[t->sel]->key;
}

/* Move the selection by delta rows, clamped to the table. */
void tui_move(struct tui *t, long delta)
{
	long s = (long)t->sel + delta;

	if (!t->nrows)
		return;
	if (s < 0)
		s = 0;
	if (s >= (long)t->nrows)
		s = (long)t->nrows - 1;
	t->sel = (size_t)s;
	t->sel_key = t->rows[t->sel]->key;
	t->have_sel = true;
	t->moved = true;
}
