// SPDX-License-Identifier: GPL-2.0
/* view_text.c - plain aligned table per refresh (no terminal control). */
#include <string.h>
#include <time.h>

#include "log.h"
#include "model.h"
#include "view.h"

/* s left-aligned in width columns, as the TUI draws it: printable ASCII
 * and UTF-8 characters a terminal shows as they are ('café', '名前'), any
 * other byte as '?'. comm and cmdline are whatever a process set (prctl,
 * argv), and a newline, carriage return, escape sequence or bidi override
 * in them would forge, overwrite or reorder rows of the table. */
static void text(FILE *f, int width, const char *s)
{
	char buf[MODEL_CMDLINE]; /* comm or cmdline: shown_str needs no more */
	int n = shown_str(buf, sizeof(buf), s);

	fputs(buf, f);
	for (; n < width; n++)
		fputc(' ', f);
}

static void num(FILE *f, int width, long long v)
{
	if (v < 0)
		fprintf(f, " %*s", width, "-");
	else
		fprintf(f, " %*lld", width, v);
}

/* A server's time to its limit: "45s", "16m33s", "2h05m", "now" when
 * there, "-" when not growing; mark ("?") when the limit is a guess. */
static void eta_text(double eta_s, const char *mark, char *buf, size_t len)
{
	long s = (long)(eta_s + 0.5);

	if (eta_s < 0)
		snprintf(buf, len, "-");
	else if (s == 0)
		snprintf(buf, len, "now%s", mark);
	else if (s < 60)
		snprintf(buf, len, "%lds%s", s, mark);
	else if (s < 3600)
		snprintf(buf, len, "%ldm%02lds%s", s / 60, s % 60, mark);
	else if (s < 100L * 3600)
		snprintf(buf, len, "%ldh%02ldm%s", s / 3600, s / 60 % 60, mark);
	else
		snprintf(buf, len, ">99h%s", mark);
}

/* The process rows the table shows. */
static bool row_shown(const struct collector *c, const struct proc *p)
{
	return view_selected(c->opts, p) &&
	       (p->open || p->opened || p->closed || p->missed_closed || p->exit_closed || p->nlisten);
}

/* The live view's --comm NAME, at each refresh: an empty table said
 * nothing of whether the process filtered on had died (only the start
 * did, on stderr), or runs without a connection on the watched ports. */
static void comm_line(FILE *f, const struct collector *c)
{
	const struct model *m = c->model;
	int pid = c->opts->pid;

	if (c->comm_state == COMM_UNKNOWN)
		return;
	if (c->comm_state == COMM_RUNNING)
		for (size_t i = 0; i < m->nprocs; i++)
			if (row_shown(c, m->procs[i]))
				return;
	if (pid) /* both select: that pid, of that name */
		fprintf(f, "--pid %d ", pid);
	fputs("--comm ", f);
	text(f, 0, c->opts->comm);
	if (c->comm_state == COMM_RUNNING)
		fputs(": running, with no connection on the watched ports\n", f);
	else if (pid)
		fputs(": no such process is running\n", f);
	else
		fputs(": no process of that name is running\n", f);
}

void view_text(FILE *f, const struct collector *c, double wall_ts)
{
	const struct model *m = c->model;
	time_t t = (time_t)wall_ts;
	char when[32] = "?";
	struct tm tm;
	bool any = false, guessed = false;

	if (localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(f, "%s  hook=%s  walk=%s  uptime=%.0fs  events/s=%.0f  lost=%llu  repairs=%llu\n",
		when, c->tier, c->walk, m->now, c->events_per_s,
		(unsigned long long)c->lost,
		(unsigned long long)(c->repairs + c->repairs_added));
	comm_line(f, c);

	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *p = m->procs[i];
		long eff;

		if (!p->nlisten || p->exited || !view_selected(c->opts, p))
			continue;
		guessed |= p->maxclients <= 0;
		if (!any)
			fprintf(f, "%-7s %-15s %-12s %7s %10s %7s %7s %8s %8s %7s\n", "SERVER", "COMM",
				"PORTS", "CLIENTS", "MAXCLIENTS", "NOFILE", "LIMIT", "HEADROOM", "GROW/min",
				"ETA");
		any = true;
		eff = model_server_limit(p);
		{
			char ports[64] = "";
			size_t l = 0;

			for (int k = 0; k < p->nlisten && l < sizeof(ports) - 8; k++) {
				int dup = 0;

				for (int j = 0; j < k; j++)
					dup |= p->listen[j].port == p->listen[k].port;
				if (!dup)
					l += snprintf(ports + l, sizeof(ports) - l, "%s%u", l ? "," : "", p->listen[k].port);
			}
			fprintf(f, "%-7u ", p->key.tgid);
			text(f, 15, p->comm);
			fprintf(f, " %-12s %7ld", ports, p->clients);
		}
		if (p->maxclients > 0)
			fprintf(f, " %10ld", p->maxclients);
		else
			fprintf(f, " %10s", "10000?");
		num(f, 7, p->nofile_soft);
		{
			/* reckoned from the assumed maxclients: marked as it is */
			const char *mark = p->maxclients > 0 ? "" : "?";
			char lim[32], room[32];

			snprintf(lim, sizeof(lim), "%ld%s", eff, mark);
			snprintf(room, sizeof(room), "%ld%s", model_server_headroom(p), mark);
			fprintf(f, " %7s %8s %8.1f", lim, room, p->clients_growth_per_min);
			eta_text(p->eta_s, mark, lim, sizeof(lim));
			fprintf(f, " %7s", lim);
		}
		if (p->capped_by_nofile && p->nofile_sized != p->nofile_soft)
			/* raised since Redis sized maxclients by it */
			fprintf(f, "  (capped by nofile %lld, before a raise)", p->nofile_sized);
		else if (p->capped_by_nofile)
			fputs("  (capped by nofile)", f);
		/* Redis counts them against maxclients: HEADROOM is less them */
		if (p->rcleak_links)
			fprintf(f, "  (%ld slot%s rcleak's --ask-redis link)", p->rcleak_links,
				p->rcleak_links > 1 ? "s:" : ":");
		if (p->master_links)
			fprintf(f, "  (%ld slot%s its replication link to its master)", p->master_links,
				p->master_links > 1 ? "s:" : ":");
		if (p->cluster_links)
			fprintf(f, "  (%ld slot%s cluster bus link%s)", p->cluster_links,
				p->cluster_links > 1 ? "s:" : ":", p->cluster_links > 1 ? "s" : "");
		fputc('\n', f);
	}
	/* "10000?" alone read as a limit known: a server of maxclients 50,
	 * full, had HEADROOM 9951? */
	if (guessed && c->opts->ask_redis) /* given, and it got none */
		fputs("  ?: maxclients not known (--ask-redis got none from it: stderr says why): Redis's "
		      "default 10000 assumed; --maxclients N tells the real one\n", f);
	else if (guessed)
		fputs("  ?: maxclients not known (redis-server hides it): Redis's default 10000 assumed; "
		      "--ask-redis or --maxclients N tell the real one\n", f);
	if (any)
		fputc('\n', f);

	fprintf(f, "%-7s %-15s %-6s %-8s %6s %6s %6s %6s %8s %8s %7s %7s %8s %6s %7s %8s %6s %8s  %s\n",
		"PID", "COMM", "ROLE", "VERDICT", "OPEN", "ESTAB", "CLWAIT", "SYNSNT", "OPENED",
		"CLOSED", "OPEN/s", "CLOSE/s", "GROW/min", "FDS", "NOFILE", "FDROOM", "IDLE", "MEDLIFE",
		"CMDLINE");
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *p = m->procs[i];
		/* an exited process keeps the verdict of its last refresh alive */
		enum verdict v = p->exited ? p->last_verdict : p->verdict;
		const char *rule = p->exited ? p->last_rule : p->rule;

		if (!row_shown(c, p))
			continue;
		fprintf(f, "%-7u ", p->key.tgid);
		text(f, 15, p->comm);
		fprintf(f, " %-6s %-8s %6ld %6ld %6ld %6ld %8llu %8llu %7.1f %7.1f %8.1f",
			p->nlisten ? "server" : "client",
			verdict_name(v), p->open,
			p->established, p->close_wait, p->syn_sent,
			(unsigned long long)p->opened,
			(unsigned long long)(p->closed + p->missed_closed),
			p->open_rate, p->close_rate, p->growth_per_min);
		num(f, 6, p->fds);
		num(f, 7, p->nofile_soft);
		/* over its limit (prlimit lowered it) the room is negative, not
		 * "-", which reads as unknown on the row that most needs it */
		if (p->fds >= 0 && p->nofile_soft >= 0)
			fprintf(f, " %8lld", p->nofile_soft - p->fds);
		else
			num(f, 8, -1);
		/* as the TUI has them: idle pools and short lives show here too */
		num(f, 6, p->idle);
		if (p->median_lifetime_ms < 0)
			fprintf(f, " %8s", "-");
		else
			fprintf(f, " %6.1fms", p->median_lifetime_ms);
		fprintf(f, "  %s", p->exited ? "(exited) " : "");
		text(f, 0, p->cmdline);
		fputc('\n', f);
		/* why, under the row: the numbers of the rule that fired */
		if (v != V_OK && rule[0])
			fprintf(f, "%-7s %s: %s\n", "", verdict_name(v), rule);
	}
	fputc('\n', f);
	out_flush(f);
}
