// SPDX-License-Identifier: GPL-2.0
/* tui_status.c - the status lines of the main screen, written left to right
 * with a pen: the header (host, kernel, hooks, rates), one line per Redis
 * server with its clients against their limit, and the footer (keys, the
 * filter prompt, sort and messages). The styles, the table and the help
 * screen are in tui_draw.c. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "tui_int.h"
#include "view.h"

/* A pen writes segments left to right on one line and stops at the edge. */
struct pen {
	const struct tui *t;
	int y, x, end;
};

static void pen(struct pen *p, enum tui_style s, const char *text)
{
	p->x += tui_put(p->t, p->y, p->x, p->end - p->x, s, text);
}

/* whole or not at all, before the pen's end (a badge may follow it) */
static void pen_kv(struct pen *p, const char *label, enum tui_style vs, const char *value)
{
	if (p->x + (int)strlen(label) + 1 + (int)strlen(value) > p->end) {
		p->x = p->end;
		return;
	}
	p->x = tui_kv(p->t, p->y, p->x, label, vs, value);
}

/* ASCII text whole, or nothing and the line is full: a number cut at the
 * edge reads as another number (port 46500 as ":46"). */
static void pen_whole(struct pen *p, enum tui_style s, const char *text)
{
	if (p->x + (int)strlen(text) > p->end) {
		p->x = p->end;
		return;
	}
	pen(p, s, text);
}

/* "—" (one column) where the locale can show it, "-" elsewhere. */
static void pen_dash(struct pen *p, enum tui_style s)
{
	if (!p->t->utf8) {
		pen(p, s, "-");
		return;
	}
	if (p->x < p->end) {
		attrset(tui_attr(p->t, s));
		mvaddstr(p->y, p->x, "\u2014");
		attrset(A_NORMAL);
		p->x++;
	}
}

/* ---- header ------------------------------------------------------------- */

static void header_line1(struct tui *t)
{
	const struct collector *c = t->c;
	/* PAUSED, or the end of a replay (which shows its last refresh
	 * until q: said, or a still screen passed for a calm incident), at
	 * the right; the pairs before it end short of it, none cut by it */
	const char *badge = t->paused ? " PAUSED " : c->replay_end ? " END OF REPLAY " : NULL;
	struct pen p = { t, 0, 0, COLS };
	struct utsname u;
	char buf[96];

	if (uname(&u)) {
		strcpy(u.nodename, "?");
		strcpy(u.release, "?");
	}
	if (badge && COLS > 2 * (int)strlen(badge)) {
		p.end = COLS - (int)strlen(badge) - 1;
		tui_put(t, 0, COLS - (int)strlen(badge), (int)strlen(badge), ST_PAUSED, badge);
	}
	pen(&p, ST_BOLD, "rcleak  ");
	/* a replay shows where the capture was made, not where it is read */
	pen_kv(&p, "host", ST_BOLD, c->host && c->host[0] ? c->host : u.nodename);
	pen_kv(&p, "kernel", ST_BOLD, c->kernel && c->kernel[0] ? c->kernel : u.release);
	snprintf(buf, sizeof(buf), "%s, walk %s", t->c->tier, t->c->walk);
	pen_kv(&p, "hooks", ST_BOLD, buf);
	tui_fmt_dur(t->c->model->now, buf, sizeof(buf)); /* as of the data shown */
	pen_kv(&p, "uptime", ST_BOLD, buf);
}

static void header_line2(struct tui *t)
{
	const struct collector *c = t->c;
	struct pen p = { t, 1, 0, COLS };
	char buf[96];

	snprintf(buf, sizeof(buf), "%.0f", c->events_per_s);
	pen_kv(&p, "events/s", ST_BOLD, buf);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)c->lost);
	pen_kv(&p, "lost", c->lost ? ST_RED : ST_BOLD, buf);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(c->repairs + c->repairs_added));
	pen_kv(&p, "repairs", ST_BOLD, buf);
	if (t->filter[0]) /* the filter hides the rest: say so */
		snprintf(buf, sizeof(buf), "%zu of %zu", t->nrows, t->nrows_unfiltered);
	else
		snprintf(buf, sizeof(buf), "%zu", t->nrows);
	pen_kv(&p, "processes", ST_BOLD, buf);
	opts_ports_str(c->opts->ports, c->opts->nports, buf, sizeof(buf));
	pen_kv(&p, "ports", ST_BOLD, buf);
	/* a replay paces the recorded interval by --speed: show the
	 * recording's (it showed 0.2s for -i 1 at --speed 5) and the speed */
	if (c->opts->replay && c->opts->speed != 1)
		snprintf(buf, sizeof(buf), "%gs, replay x%g", c->opts->interval_s * c->opts->speed,
			 c->opts->speed);
	else
		snprintf(buf, sizeof(buf), "%gs", c->opts->interval_s);
	pen_kv(&p, "interval", ST_BOLD, buf);
	snprintf(buf, sizeof(buf), "%gs", c->model->window_s);
	pen_kv(&p, "window", ST_BOLD, buf);
}

/* [|||||||      37/992] filled in proportion, coloured by how full; mark
 * follows the limit ("?": a guess). */
/* used slots of limit, filled, with text (what they are) at its right */
static void draw_bar(const struct tui *t, int y, int x, int w, long used, long limit,
		     const char *text)
{
	double r = limit > 0 ? (double)used / (double)limit : 0;
	enum tui_style fs = r < 0.6 ? ST_BAR_OK : r < 0.85 ? ST_BAR_WARN : ST_BAR_CRIT;
	int inner = w - 2, fill, tx;

	if (inner < 1)
		return;
	fill = (int)(r * inner + 0.5);
	fill = fill > inner ? inner : fill;
	if (used > 0 && fill == 0)
		fill = 1;
	tx = inner - (int)strlen(text);
	tui_put(t, y, x, 1, ST_BOLD, "[");
	for (int i = 0; i < inner; i++) {
		char ch[2] = { i < fill ? '|' : ' ', 0 };

		if (i >= tx && tx >= 0)
			tui_put(t, y, x + 1 + i, 1, ST_DIM, (char[2]){ text[i - tx], 0 });
		else
			tui_put(t, y, x + 1 + i, 1, fs, ch);
	}
	tui_put(t, y, x + 1 + inner, 1, ST_BOLD, "]");
}

static void listen_ports(const struct proc *s, char *buf, size_t len)
{
	__u16 ports[MODEL_MAX_LISTEN];
	int n = 0;

	for (int k = 0; k < s->nlisten; k++) {
		int dup = 0;

		for (int j = 0; j < n; j++)
			dup |= ports[j] == s->listen[k].port;
		if (!dup)
			ports[n++] = s->listen[k].port;
	}
	for (int i = 1; i < n; i++) /* insertion sort: a handful */
		for (int j = i; j > 0 && ports[j] < ports[j - 1]; j--) {
			__u16 x = ports[j];

			ports[j] = ports[j - 1], ports[j - 1] = x;
		}
	buf[0] = ':';
	opts_ports_str(ports, n, buf + 1, len - 1);
}

void tui_fmt_eta(const struct proc *s, char *buf, size_t len)
{
	size_t l;

	if (s->eta_s < 0)
		buf[0] = '\0';
	else if (s->eta_s == 0)
		snprintf(buf, len, "now");
	else
		tui_fmt_dur(s->eta_s, buf, len);
	/* reckoned against a limit that assumes the default maxclients: a
	 * guess, marked as the limit is ("50m25s" where Redis, started with
	 * --maxclients 10, was minutes from full) */
	l = strlen(buf);
	if (l && s->maxclients <= 0 && l + 1 < len)
		snprintf(buf + l, len - l, "?");
}

/* "ETA 16m33s", or "ETA —" when not growing; whole or not at all. */
static void pen_eta(struct pen *p, const struct proc *s)
{
	char eta[32];

	tui_fmt_eta(s, eta, sizeof(eta));
	if (p->x + 4 + (eta[0] ? (int)strlen(eta) : 1) > p->end)
		return;
	pen(p, ST_LABEL, "ETA ");
	if (!eta[0])
		pen_dash(p, ST_BOLD);
	else
		pen(p, s->eta_s < 600 ? ST_RED : ST_YELLOW, eta);
}

/* One Redis server: clients against its effective limit (a bar when there
 * is room), growth, time to the limit, and the fd-limit warning (on its own
 * line when it does not fit and room allows). Returns the lines used. */
static int draw_server(struct tui *t, int y, int maxy, const struct proc *s)
{
	long eff = model_server_limit(s);
	/* maxclients not discovered (redis-server rewrites its command line;
	 * no --ask-redis or --maxclients): the limit assumes Redis's default,
	 * so it is marked as the plain view marks it */
	const char *mark = s->maxclients > 0 ? "" : "?";
	char ports[40], buf[160], shrt[96], growth[32], eta[32];
	struct pen p = { t, y, 1, COLS };
	int barw;

	listen_ports(s, ports, sizeof(ports));
	if (COLS >= 100) { /* aligned in columns: 15 of them, not bytes ("café-名前") */
		int x0 = p.x;

		pen(&p, ST_BOLD, s->comm);
		p.x = p.x < x0 + 15 ? x0 + 15 : p.x;
		snprintf(buf, sizeof(buf), " %7u %-12s ", s->key.tgid, ports);
		pen(&p, ST_NORMAL, buf);
	} else {           /* compact: keep room for growth and ETA */
		pen(&p, ST_BOLD, s->comm);
		snprintf(buf, sizeof(buf), " %u", s->key.tgid);
		pen_whole(&p, ST_NORMAL, buf);
		snprintf(buf, sizeof(buf), " %s", ports);
		pen_whole(&p, ST_NORMAL, buf);
		p.x += 2;
	}
	snprintf(growth, sizeof(growth), "%+.1f/min", s->clients_growth_per_min);
	tui_fmt_eta(s, eta, sizeof(eta));
	/* the bar gets what "clients ", growth and ETA leave, up to 42 columns */
	barw = COLS - p.x - 8 - (2 + 7 + (int)strlen(growth)) - (2 + 4 + (int)strlen(eta) + 1);
	barw = barw > 42 ? 42 : barw;
	/* rcleak's own --ask-redis link takes a slot too, and so do a
	 * replica's link to its master and a cluster node's bus links:
	 * "49+1/50" is full */
	if (s->rcleak_links + s->master_links + s->cluster_links)
		snprintf(buf, sizeof(buf), "%ld+%ld/%ld%s", s->clients,
			 s->rcleak_links + s->master_links + s->cluster_links, eff, mark);
	else
		snprintf(buf, sizeof(buf), "%ld/%ld%s", s->clients, eff, mark);
	if (barw >= (int)strlen(buf) + 8) {
		pen(&p, ST_LABEL, "clients ");
		draw_bar(t, y, p.x, barw, s->clients + s->rcleak_links + s->master_links + s->cluster_links, eff,
			 buf);
		p.x += barw;
	} else if (p.x + 8 + (int)strlen(buf) <= COLS) {
		pen(&p, ST_LABEL, "clients ");
		pen(&p, ST_BOLD, buf);
	} else {
		/* whole or not at all, as growth and ETA: cut at the edge,
		 * 68/6000 read "68/6", a full server */
		p.x = COLS;
	}
	p.x += 2;
	pen_kv(&p, "growth", s->clients_growth_per_min > 0 ? ST_YELLOW : ST_BOLD, growth);
	pen_eta(&p, s);
	if (!s->capped_by_nofile)
		return 1;
	/* the nofile that capped it, the lowest seen (model_judge): a raise
	 * since changes nothing until CONFIG SET maxclients, and "at 992
	 * clients (nofile 4096)" named numbers that do not go together */
	if (s->nofile_sized != s->nofile_soft) {
		char now[24];

		if (s->nofile_soft < 0)
			snprintf(now, sizeof(now), "unlimited");
		else
			snprintf(now, sizeof(now), "%lld", s->nofile_soft);
		snprintf(buf, sizeof(buf), "! the fd limit caps this server at %ld clients (nofile %lld "
			 "before a raise to %s)", eff, s->nofile_sized, now);
		snprintf(shrt, sizeof(shrt), "! fd limit caps at %ld (nofile %lld, now %s)", eff,
			 s->nofile_sized, now);
	} else {
		snprintf(buf, sizeof(buf), "! the fd limit caps this server at %ld clients (nofile %lld)",
			 eff, s->nofile_soft);
		snprintf(shrt, sizeof(shrt), "! fd limit caps at %ld (nofile %lld)", eff, s->nofile_soft);
	}
	if (p.x + 2 + (int)strlen(buf) <= COLS) {
		p.x += 2;
		pen(&p, ST_YELLOW, buf);
		return 1;
	}
	if (y + 1 >= maxy)
		return 1;
	/* its own line: the long form, else the short one, else that cut
	 * between words (cut at the edge, "at 1168" read "at 11") */
	tui_put_words(t, y + 1, 3, COLS - 3, ST_YELLOW, 3 + (int)strlen(buf) <= COLS ? buf : shrt);
	return 2;
}

/* The header: two status lines and, if servers, one line per live Redis
 * server (at most a quarter of the screen). The servers give way to the
 * table's titles and first row, which hold what rcleak is for: on a tiny
 * screen (20x5) they are dropped rather than the table (each redis-server
 * is a row of the table too). Returns the next free line. */
int tui_draw_header(struct tui *t, bool servers)
{
	const struct model *m = t->c->model;
	int y = 2, maxy = LINES / 4 + 2, hidden = 0;

	if (maxy > LINES - 3) /* titles, one row, footer */
		maxy = LINES - 3;

	header_line1(t);
	if (LINES > 1)
		header_line2(t);
	if (!servers)
		return y;
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *s = m->procs[i];

		if (!s->nlisten || s->exited || !view_selected(t->c->opts, s))
			continue;
		if (y >= maxy) {
			hidden++;
			continue;
		}
		y += draw_server(t, y, maxy, s);
	}
	if (hidden && y < LINES - 3) { /* not in the place of the titles or row */
		char buf[48];

		snprintf(buf, sizeof(buf), " ... %d more server%s", hidden, hidden > 1 ? "s" : "");
		tui_put(t, y++, 0, COLS, ST_DIM, buf);
	}
	return y;
}

/* ---- footer ------------------------------------------------------------- */

/* keys: pairs of key and label, NULL-terminated. The right side shows any
 * one-shot message and, with status, the filter and the sort; the keys get
 * what is left. */
void tui_draw_footer(struct tui *t, const char *const *keys, bool status)
{
	struct pen p = { t, LINES - 1, 0, COLS };
	char right[256];
	int rl;

	if (LINES < 2)
		return;
	/* the line is the footer's: a screen too short for what is above it
	 * (the drill-down's facts at 8 lines) drew there, and its tail showed
	 * among the keys (" idle 19s") */
	move(LINES - 1, 0);
	clrtoeol();
	if (t->editing) {
		/* the text typed must show: at 40 columns the long prompt
		 * filled the line and hid it. The short prompt, and the
		 * text's tail when even that does not fit. */
		const char *prompt = TUI_FILTER_PROMPT, *text = t->edit;
		int room, cols = tui_cols_of(t, text);

		if ((int)strlen(prompt) + 1 + cols >= COLS)
			prompt = TUI_FILTER_SHORT;
		room = COLS - (int)strlen(prompt) - 2;
		/* the tail that fits, whole characters (by columns: a UTF-8
		 * name's bytes are more) */
		while (room > 0 && cols > room && *text) {
			const char *next = text + 1;

			while (((unsigned char)*next & 0xc0) == 0x80)
				next++;
			text = next;
			cols = tui_cols_of(t, text);
		}
		pen(&p, ST_KEYLABEL, prompt);
		pen(&p, ST_NORMAL, " ");
		pen(&p, ST_BOLD, text);
		t->edit_x = p.x < COLS ? p.x : COLS - 1;
		return;
	}
	if (!status)
		snprintf(right, sizeof(right), "%s ", t->msg);
	else
		snprintf(right, sizeof(right), "%s%s%s%s%sSort: %s%s ", t->msg, t->msg[0] ? "  " : "",
		 t->filter[0] ? "Filter: " : "", t->filter[0] ? t->filter : "",
		 t->filter[0] ? "  " : "", tui_sort_name(t), t->reverse ? " (reversed)" : "");
	rl = tui_cols_of(t, right); /* columns: a UTF-8 filter's bytes are more */
	if (rl < COLS)
		p.end = COLS - rl - 1;
	for (int i = 0; keys[i] && keys[i + 1]; i += 2) {
		char label[32];

		snprintf(label, sizeof(label), " %s", keys[i + 1]);
		if (p.x + (int)strlen(keys[i]) + (int)strlen(label) + 2 > p.end)
			break;
		pen(&p, ST_KEY, keys[i]);
		pen(&p, ST_KEYLABEL, label);
		pen(&p, ST_NORMAL, "  ");
	}
	tui_put(t, LINES - 1, rl < COLS ? COLS - rl : 0, COLS, ST_BOLD, right);
}
