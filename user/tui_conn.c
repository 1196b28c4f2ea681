// SPDX-License-Identifier: GPL-2.0
/* tui_conn.c - the drill-down screen: one process's facts (verdict and the
 * rule that fired, counts, lifetimes, fd headroom, server limits) and its
 * connections as of the last refresh (model_conns), one per line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tui_int.h"
#include "view.h"

/* ss(8) spelling of the kernel's TCP states. */
static const char *state_name(int s)
{
	static const char *const names[] = {
		[RCL_TCP_ESTABLISHED] = "ESTAB",      [RCL_TCP_SYN_SENT] = "SYN-SENT",
		[RCL_TCP_SYN_RECV] = "SYN-RECV",      [RCL_TCP_FIN_WAIT1] = "FIN-WAIT-1",
		[RCL_TCP_FIN_WAIT2] = "FIN-WAIT-2",   [RCL_TCP_TIME_WAIT] = "TIME-WAIT",
		[RCL_TCP_CLOSE] = "CLOSE",            [RCL_TCP_CLOSE_WAIT] = "CLOSE-WAIT",
		[RCL_TCP_LAST_ACK] = "LAST-ACK",      [RCL_TCP_LISTEN] = "LISTEN",
		[RCL_TCP_CLOSING] = "CLOSING",        [RCL_TCP_NEW_SYN_RECV] = "NEW-SYN-RECV",
	};

	if (s > 0 && s < (int)(sizeof(names) / sizeof(names[0])) && names[s])
		return names[s];
	return "?";
}

/* Display order: by state (ESTAB first, CLOSE-WAIT together), oldest
 * first, then by local port: stable across refreshes. */
static int cmp_conn(const void *x, const void *y)
{
	const struct conn_view *a = x, *b = y;

	if (a->state != b->state)
		return a->state < b->state ? -1 : 1;
	if (a->age_s != b->age_s) /* -1: open before rcleak started, the oldest */
		return a->age_s < 0 ? -1 : b->age_s < 0 ? 1 : a->age_s > b->age_s ? -1 : 1;
	if (a->lport != b->lport)
		return a->lport < b->lport ? -1 : 1;
	return a->sk < b->sk ? -1 : a->sk > b->sk;
}

static struct proc *detail_proc(struct tui *t)
{
	return model_find(t->c->model, &t->detail_key);
}

/* "127.0.0.1:6379", "[::1]:6379" */
static void endpoint(int family, const __u8 *addr, __u16 port, char *buf, size_t len)
{
	char a[64];

	addr_str(family, addr, a, sizeof(a));
	snprintf(buf, len, family == AF_INET ? "%s:%u" : "[%s]:%u", a, port);
}

/* Widths of the address columns: the widest endpoint, 21 to 47 columns. */
static void addr_widths(struct tui *t)
{
	t->addr_w[0] = t->addr_w[1] = 21;
	for (size_t i = 0; i < t->nconns; i++) {
		const struct conn_view *v = &t->conns[i];
		char a[64];
		int l;

		endpoint(v->family, v->laddr, v->lport, a, sizeof(a));
		l = (int)strlen(a);
		t->addr_w[0] = l > t->addr_w[0] ? (l > 47 ? 47 : l) : t->addr_w[0];
		endpoint(v->family, v->raddr, v->rport, a, sizeof(a));
		l = (int)strlen(a);
		t->addr_w[1] = l > t->addr_w[1] ? (l > 47 ? 47 : l) : t->addr_w[1];
	}
}

/* Reload the connections of the drill-down process from the model (after
 * entering the screen and after every refresh). Returns 0 or -ENOMEM. */
int tui_conns_load(struct tui *t)
{
	struct proc *p = detail_proc(t);
	size_t n;

	t->nconns = 0;
	if (!p)
		return 0;
	n = model_conns(t->c->model, p, NULL, 0);
	if (n > t->conncap) {
		struct conn_view *v = realloc(t->conns, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->conns = v;
		t->conncap = n;
	}
	t->nconns = model_conns(t->c->model, p, t->conns, t->conncap);
	if (t->nconns > t->conncap)
		t->nconns = t->conncap;
	if (t->nconns)
		qsort(t->conns, t->nconns, sizeof(*t->conns), cmp_conn);
	addr_widths(t);
	return 0;
}

/* Scroll the connection list by delta lines, clamped to what is left. */
void tui_conns_scroll(struct tui *t, long delta)
{
	long top = (long)t->ctop + delta;
	long max = (long)t->nconns - (t->conn_h > 0 ? t->conn_h : 1);

	if (top > max)
		top = max;
	if (top < 0)
		top = 0;
	t->ctop = (size_t)top;
}

/* ---- facts of the process ---------------------------------------------- */

/* "label value" that is cut at the right edge rather than dropped: a
 * command line anywhere, figures (words) only between words, so that no
 * number reads short ("127.0.0.1 x5232" read "127.0.0.1 x52"). */
static void kv_long(const struct tui *t, int y, const char *label, const char *value, bool words)
{
	int x = 1 + tui_put(t, y, 1, COLS - 1, ST_LABEL, label);

	if (words)
		tui_put_words(t, y, x + 1, COLS - x - 1, ST_NORMAL, value);
	else
		tui_put(t, y, x + 1, COLS - x - 1, ST_NORMAL, value);
}

static int facts_identity(struct tui *t, int y, const struct proc *p)
{
	char buf[MODEL_CMDLINE + 48];
	const char *rule;
	int x = 1;

	snprintf(buf, sizeof(buf), "%u", p->key.tgid);
	x = tui_kv(t, y, x, "PID", ST_BOLD, buf);
	x = tui_kv(t, y, x, "COMM", ST_BOLD, p->comm);
	x = tui_kv(t, y, x, "ROLE", ST_BOLD, p->nlisten ? "server" : "client");
	tui_cell(p, COL_VERDICT, buf, sizeof(buf));
	if (p->exited && p->last_verdict != V_OK) /* the one it left with */
		snprintf(buf, sizeof(buf), "%s (exited)", verdict_name(p->last_verdict));
	tui_kv(t, y, x, "VERDICT", tui_verdict_style(p), buf);
	rule = p->exited ? p->last_rule : p->rule;
	kv_long(t, y + 1, "RULE", rule[0] ? rule : "none fired", true);
	tui_cell(p, COL_CMDLINE, buf, sizeof(buf));
	kv_long(t, y + 2, "CMDLINE", buf, false);
	return y + 3;
}

static int facts_counts(struct tui *t, int y, const struct proc *p)
{
	char buf[64];
	int x = 1;

	snprintf(buf, sizeof(buf), "%ld (shared %ld)", p->open, p->shared);
	x = tui_kv(t, y, x, "open", ST_BOLD, buf);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)p->opened);
	x = tui_kv(t, y, x, "opened", ST_BOLD, buf);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(p->closed + p->missed_closed));
	x = tui_kv(t, y, x, "closed", ST_BOLD, buf);
	/* of those, left open when it (or a fork sharing them) exited: a
	 * process killed with 7 connections read "closed 7", as if it had
	 * closed them */
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)proc_leaked(p));
	x = tui_kv(t, y, x, "leaked", proc_leaked(p) ? ST_RED : ST_BOLD, buf);
	snprintf(buf, sizeof(buf), "%.1f/%.1f", p->open_rate, p->close_rate);
	x = tui_kv(t, y, x, "open/close per s", ST_BOLD, buf);
	snprintf(buf, sizeof(buf), "%+.1f/min", p->growth_per_min);
	tui_kv(t, y, x, "growth", p->growth_per_min > 0 ? ST_YELLOW : ST_BOLD, buf);

	x = 1;
	tui_fmt_ms(p->median_lifetime_ms, buf, sizeof(buf));
	x = tui_kv(t, y + 1, x, "lifetime median", ST_BOLD, buf);
	tui_fmt_ms(p->p99_lifetime_ms, buf, sizeof(buf));
	x = tui_kv(t, y + 1, x, "p99", ST_BOLD, buf);
	tui_fmt_dur(p->max_idle_s, buf, sizeof(buf));
	x = tui_kv(t, y + 1, x, "max idle", ST_BOLD, buf);
	snprintf(buf, sizeof(buf), "%ld", p->idle);
	x = tui_kv(t, y + 1, x, "idle", ST_BOLD, buf);
	snprintf(buf, sizeof(buf), "%ld", p->zombies);
	x = tui_kv(t, y + 1, x, "zombies", p->zombies ? ST_MAGENTA : ST_BOLD, buf);
	tui_cell(p, COL_FDS, buf, sizeof(buf));
	x = tui_kv(t, y + 1, x, "fds", ST_BOLD, buf);
	tui_cell(p, COL_NOFILE, buf, sizeof(buf));
	x = tui_kv(t, y + 1, x, "nofile", ST_BOLD, buf);
	tui_cell(p, COL_FDROOM, buf, sizeof(buf));
	tui_kv(t, y + 1, x, "fd room", p->verdict == V_FD_LIMIT ? ST_RED : ST_BOLD, buf);
	return y + 2;
}

/* Servers: the limit that binds, and who holds the slots. */
static int facts_server(struct tui *t, int y, const struct proc *p)
{
	long eff = model_server_limit(p);
	char buf[160];
	size_t l = 0;
	int x = 1;

	/* Redis counts rcleak's own link, a replica's link to its master and
	 * a cluster node's bus links against maxclients too */
	l = (size_t)snprintf(buf, sizeof(buf), "%ld of %ld%s", p->clients, eff, p->maxclients > 0 ? "" : "?");
	if (p->rcleak_links)
		l += (size_t)snprintf(buf + l, sizeof(buf) - l, " (+%ld rcleak's link)", p->rcleak_links);
	if (p->master_links && l < sizeof(buf))
		l += (size_t)snprintf(buf + l, sizeof(buf) - l, " (+%ld master link)", p->master_links);
	if (p->cluster_links && l < sizeof(buf))
		l += (size_t)snprintf(buf + l, sizeof(buf) - l, " (+%ld cluster bus)", p->cluster_links);
	l = 0;
	x = tui_kv(t, y, x, "clients", ST_BOLD, buf);
	snprintf(buf, sizeof(buf), "%ld (%s)", p->maxclients > 0 ? p->maxclients : 10000,
		 p->maxclients_source ? p->maxclients_source : "default");
	x = tui_kv(t, y, x, "maxclients", ST_BOLD, buf);
	snprintf(buf, sizeof(buf), "%+.1f/min", p->clients_growth_per_min);
	x = tui_kv(t, y, x, "growth", ST_BOLD, buf);
	tui_fmt_eta(p, buf, sizeof(buf)); /* as the server line says it */
	if (!buf[0])
		snprintf(buf, sizeof(buf), "-"); /* tui_put draws ASCII only */
	x = tui_kv(t, y, x, "ETA", p->eta_s >= 0 ? ST_YELLOW : ST_BOLD, buf);
	if (p->capped_by_nofile)
		tui_put(t, y, x, COLS - x, ST_YELLOW, "(capped by the fd limit)");
	buf[0] = '\0';
	for (int i = 0; i < p->ntop_remotes && l + 56 < sizeof(buf); i++) {
		char a[64];

		addr_str(p->top_remotes[i].family, p->top_remotes[i].addr, a, sizeof(a));
		l += snprintf(buf + l, sizeof(buf) - l, "%s%s x%ld", i ? ", " : "", a,
			      p->top_remotes[i].count);
	}
	kv_long(t, y + 1, "top remotes", l ? buf : "-", true);
	return y + 2;
}

/* ---- the connection list ------------------------------------------------ */

/* "3,1500+4": the fd numbers that fit in width columns, then how many
 * more. Cut at the column's edge, 3 of 6 fds read "3,1500,1501,15". */
static void fd_list(const struct conn_view *v, int width, char *buf, size_t len)
{
	int l = 0, shown = v->nfds < 4 ? v->nfds : 4;

	buf[0] = '\0';
	for (int i = 0; i < shown; i++) {
		char fd[16], more[16];
		int rest = v->nfds - i - 1;

		snprintf(fd, sizeof(fd), "%s%d", i ? "," : "", v->fds[i]);
		snprintf(more, sizeof(more), "+%d", rest);
		if (l + (int)strlen(fd) + (rest ? (int)strlen(more) : 0) > width) {
			snprintf(buf + l, len - (size_t)l, "+%d", v->nfds - i);
			return;
		}
		l += snprintf(buf + l, len - (size_t)l, "%s", fd);
	}
	if (v->nfds > shown)
		snprintf(buf + l, len - (size_t)l, "+%d", v->nfds - shown);
}

#define CELL 128 /* a cell's text: the REDIS one is about 60 columns */

enum { CW_LOCAL, CW_REMOTE, CW_STATE, CW_AGE, CW_IDLE, CW_RXIDLE, CW_INCW, CW_FDS, CW_HOLDERS,
       CW_REDIS, CW__MAX };

static const struct tui_coldef conn_cols[CW__MAX] = {
	[CW_LOCAL] = { "LOCAL", 21, true },     [CW_REMOTE] = { "REMOTE", 21, true },
	[CW_STATE] = { "STATE", 10, true },     [CW_AGE] = { "AGE", 7, false },
	[CW_IDLE] = { "IDLE", 7, false },       [CW_RXIDLE] = { "RX-IDLE", 7, false },
	[CW_INCW] = { "IN-CW", 6, false },      [CW_FDS] = { "FDS", 14, true },
	[CW_HOLDERS] = { "HOLDERS", 7, false },
	[CW_REDIS] = { "REDIS (--ask-redis: name lib cmd age idle)", 46, true },
};

/* A connection open before rcleak started is older than rcleak: ">UPTIME";
 * with the /proc walk, which knows no open times, any age is "-". */
static void conn_cells(const struct tui *t, const struct proc *p, const struct conn_view *v,
		       char cells[CW__MAX][CELL])
{
	endpoint(v->family, v->laddr, v->lport, cells[CW_LOCAL], CELL);
	endpoint(v->family, v->raddr, v->rport, cells[CW_REMOTE], CELL);
	snprintf(cells[CW_STATE], CELL, "%s", state_name(v->state));
	if (v->age_s < 0 && t->c->walk && !strcmp(t->c->walk, "proc")) {
		/* /proc has no open time: unknown, not older than rcleak (a
		 * connection made after it started read ">5s") */
		snprintf(cells[CW_AGE], CELL, "-");
	} else if (v->age_s < 0) {
		char up[32];

		tui_fmt_dur(t->c->model->now, up, sizeof(up));
		snprintf(cells[CW_AGE], CELL, ">%s", up);
	} else {
		tui_fmt_dur(v->age_s, cells[CW_AGE], CELL);
	}
	tui_fmt_dur(v->idle_s, cells[CW_IDLE], CELL);
	tui_fmt_dur(v->rcv_idle_s, cells[CW_RXIDLE], CELL);
	if (v->state == RCL_TCP_CLOSE_WAIT)
		tui_fmt_dur(v->close_wait_s, cells[CW_INCW], CELL);
	else
		snprintf(cells[CW_INCW], CELL, "-");
	fd_list(v, conn_cols[CW_FDS].width, cells[CW_FDS], CELL);
	snprintf(cells[CW_HOLDERS], CELL, "%d", v->holders);
	{
		const struct redis_client *rc = collect_redis_peer(t->c, p, v->sk, v->family,
								   v->raddr, v->rport);

		if (rc)
			snprintf(cells[CW_REDIS], CELL, "%.20s %.12s %.12s age=%lds idle=%lds",
				 rc->name[0] ? rc->name : "-", rc->lib_name[0] ? rc->lib_name : "-",
				 rc->cmd, rc->age, rc->idle);
		else
			snprintf(cells[CW_REDIS], CELL, "%s", t->c->opts->ask_redis ? "-" : "");
	}
}

static enum tui_style conn_style(const struct tui *t, const struct conn_view *v)
{
	if (v->state == RCL_TCP_CLOSE_WAIT)
		return ST_MAGENTA;
	if (v->state == RCL_TCP_SYN_SENT)
		return ST_YELLOW;
	if (v->idle_s >= t->c->model->th.idle_s)
		return ST_DIM;
	return ST_NORMAL;
}

/* "6 connections: ESTAB 3, CLOSE-WAIT 3" counted over the list itself. */
static void conn_summary(struct tui *t, int y)
{
	long by[RCL_TCP_NEW_SYN_RECV + 1] = { 0 };
	char buf[256];
	size_t l;

	for (size_t i = 0; i < t->nconns; i++)
		if (t->conns[i].state <= RCL_TCP_NEW_SYN_RECV)
			by[t->conns[i].state]++;
	l = (size_t)snprintf(buf, sizeof(buf), "%zu connection%s", t->nconns, t->nconns == 1 ? "" : "s");
	for (int s = 1, first = 1; s <= RCL_TCP_NEW_SYN_RECV && l < sizeof(buf) - 32; s++) {
		if (!by[s])
			continue;
		l += (size_t)snprintf(buf + l, sizeof(buf) - l, "%s%s %ld", first ? ": " : ", ",
				      state_name(s), by[s]);
		first = 0;
	}
	if (t->conn_h > 0 && t->nconns > (size_t)t->conn_h)
		snprintf(buf + l, sizeof(buf) - l, "  (lines %zu-%zu, j/k PgUp/PgDn scroll)", t->ctop + 1,
			 t->ctop + (size_t)t->conn_h < t->nconns ? t->ctop + (size_t)t->conn_h : t->nconns);
	tui_put_words(t, y, 1, COLS - 1, ST_BOLD, buf); /* "ESTAB 12" read "ESTAB 1" */
}

static void draw_conn_list(struct tui *t, const struct proc *p, int y)
{
	/* the REDIS column is CLIENT LIST's: without --ask-redis, no column */
	int w[CW__MAX], x = 0, ncol = 0, maxcol = t->c->opts->ask_redis ? CW__MAX : CW_REDIS;

	for (int i = 0; i < CW__MAX; i++)
		w[i] = conn_cols[i].width;
	w[CW_LOCAL] = t->addr_w[0];
	w[CW_REMOTE] = t->addr_w[1];
	tui_fill(t, y, ST_TITLE);
	for (; ncol < maxcol && x + w[ncol] <= COLS; x += w[ncol] + 1, ncol++) {
		int tl = (int)strlen(conn_cols[ncol].title);

		tui_put(t, y, conn_cols[ncol].left ? x : x + w[ncol] - tl, w[ncol], ST_TITLE,
			conn_cols[ncol].title);
		/* the last column, REDIS, takes the rest of the line: at 46
		 * columns a named client's "idle=86400s" read "idle=8" */
		if (ncol == CW_REDIS && COLS - x > w[ncol])
			w[ncol] = COLS - x;
	}
	for (int r = 0; r < t->conn_h && t->ctop + (size_t)r < t->nconns; r++) {
		const struct conn_view *v = &t->conns[t->ctop + (size_t)r];
		char cells[CW__MAX][CELL];

		conn_cells(t, p, v, cells);
		x = 0;
		for (int k = 0; k < ncol; x += w[k] + 1, k++) {
			int l = (int)strlen(cells[k]);
			enum tui_style s = k == CW_STATE ? conn_style(t, v) : ST_NORMAL;

			if (k == CW_REDIS) /* cut between words, never in a number */
				tui_put_words(t, y + 1 + r, x, w[k], s, cells[k]);
			else
				tui_put(t, y + 1 + r, conn_cols[k].left || l >= w[k] ? x : x + w[k] - l, w[k],
					s, cells[k]);
		}
	}
}

void tui_draw_conns(struct tui *t)
{
	static const char *const keys[] = {
		"Esc", "Back", "q", "Quit", "j/k", "Scroll", "p", "Pause", "h", "Help", NULL,
	};
	struct proc *p = detail_proc(t);
	int y = tui_draw_header(t, false);

	if (!p) {
		char buf[96];

		snprintf(buf, sizeof(buf), " process %u is gone (exited more than a window ago)",
			 t->detail_key.tgid);
		tui_put(t, y + 1, 0, COLS, ST_DIM, buf);
	} else {
		y = facts_identity(t, y + 1, p);
		y = facts_counts(t, y, p);
		if (p->nlisten)
			y = facts_server(t, y, p);
		t->conn_h = LINES - 1 - (y + 3); /* summary, titles, then the list */
		tui_conns_scroll(t, 0);
		if (y + 2 < LINES - 1) {
			conn_summary(t, y + 1);
			draw_conn_list(t, p, y + 2);
		}
	}
	tui_draw_footer(t, keys, false);
}
