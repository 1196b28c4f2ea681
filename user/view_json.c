// SPDX-License-Identifier: GPL-2.0
/* view_json.c - one JSON object per refresh per line (schema: README). */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "model.h"
#include "redis.h"
#include "view.h"

bool view_selected(const struct rcl_opts *o, const struct proc *p)
{
	if (o->pid && (int)p->key.tgid != o->pid)
		return false;
	if (o->comm[0] && strcmp(o->comm, p->comm))
		return false;
	return true;
}

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		int n;

		/* comm and cmdline are bytes, not necessarily UTF-8: valid
		 * UTF-8 is written as it is; any other byte >= 0x80 as \u00XX,
		 * which no valid character is written as, so the bytes can be
		 * told back */
		if (*c >= 0x80 && (n = utf8_len(c))) {
			fwrite(c, 1, (size_t)n, f);
			c += n - 1;
			continue;
		}
		switch (*c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*c < 0x20 || *c >= 0x7f)
				fprintf(f, "\\u%04x", *c);
			else
				fputc(*c, f);
		}
	}
	fputc('"', f);
}

/* A CSV field, its bytes as shown_str() leaves them: `report --csv` is read
 * on terminals too, and a process's name could carry escape sequences. */
void csv_field(FILE *f, const char *s)
{
	char buf[256];
	bool quote;

	shown_str(buf, sizeof(buf), s);
	quote = strpbrk(buf, ",\"") != NULL;
	if (quote)
		fputc('"', f);
	for (const char *c = buf; *c; c++) {
		if (*c == '"')
			fputc('"', f);
		fputc(*c, f);
	}
	if (quote)
		fputc('"', f);
}

static void num_or_null(FILE *f, long long v)
{
	if (v < 0)
		fputs("null", f);
	else
		fprintf(f, "%lld", v);
}

static void dbl_or_null(FILE *f, double v)
{
	if (v < 0)
		fputs("null", f);
	else
		fprintf(f, "%.1f", v);
}

void addr_str(int family, const __u8 addr[16], char *buf, size_t len)
{
	if (!inet_ntop(family == 2 ? AF_INET : AF_INET6, addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

static void redis_clients_json(FILE *f, const struct server_link *l)
{
	fputs(",\"redis_clients\":[", f);
	for (long i = 0; i < l->nclients; i++) {
		const struct redis_client *rc = &l->clients[i];

		fprintf(f, "%s{\"id\":%llu,\"addr\":", i ? "," : "", (unsigned long long)rc->id);
		json_str(f, rc->addr_text);
		fputs(",\"name\":", f);
		json_str(f, rc->name);
		fputs(",\"lib_name\":", f);
		json_str(f, rc->lib_name);
		fprintf(f, ",\"age\":%ld,\"idle\":%ld,\"cmd\":", rc->age, rc->idle);
		json_str(f, rc->cmd);
		if (rc->pid) {
			fprintf(f, ",\"pid\":%u,\"comm\":", rc->pid);
			json_str(f, rc->comm);
		} else {
			fputs(",\"pid\":null,\"comm\":null", f);
		}
		fprintf(f, ",\"remote\":%s", rc->remote ? "true" : "false");
		if (rc->master) /* the replica's own link to its master */
			fputs(",\"master\":true", f);
		fputc('}', f);
	}
	fputc(']', f);
}

static void server_json(FILE *f, const struct collector *c, const struct proc *p)
{
	const struct server_link *l = collect_link_of(c, p);

	long eff = model_server_limit(p);

	fprintf(f, "{\"pid\":%u,\"comm\":", p->key.tgid);
	json_str(f, p->comm);
	fputs(",\"ports\":[", f);
	for (int i = 0; i < p->nlisten; i++) {
		int dup = 0;

		for (int j = 0; j < i; j++)
			dup |= p->listen[j].port == p->listen[i].port;
		if (!dup)
			fprintf(f, "%s%u", i ? "," : "", p->listen[i].port);
	}
	fprintf(f, "],\"clients\":%ld,\"unix_clients\":%ld,\"rcleak_links\":%ld,\"master_links\":%ld,"
		"\"cluster_links\":%ld,\"nofile_soft\":", p->clients, p->unix_clients, p->rcleak_links,
		p->master_links, p->cluster_links);
	num_or_null(f, p->nofile_soft);
	/* unknown: Redis's compiled-in default, said so by maxclients_source */
	fprintf(f, ",\"maxclients\":%ld", p->maxclients > 0 ? p->maxclients : (long)REDIS_DEFAULT_MAXCLIENTS);
	fputs(",\"maxclients_source\":", f);
	json_str(f, p->maxclients_source ? p->maxclients_source : "default");
	fprintf(f, ",\"effective_limit\":%ld,\"headroom\":%ld,\"growth_per_min\":%.2f,\"eta_s\":",
		eff, model_server_headroom(p), p->clients_growth_per_min);
	if (p->eta_s >= 0)
		fprintf(f, "%.0f", p->eta_s);
	else
		fputs("null", f);
	fprintf(f, ",\"capped_by_nofile\":%s,\"limit_nofile\":", p->capped_by_nofile ? "true" : "false");
	num_or_null(f, p->nofile_sized);
	fputs(",\"top_remotes\":[", f);
	for (int i = 0; i < p->ntop_remotes; i++) {
		char a[64];

		addr_str(p->top_remotes[i].family, p->top_remotes[i].addr, a, sizeof(a));
		fprintf(f, "%s{\"addr\":\"%s\",\"count\":%ld}", i ? "," : "", a, p->top_remotes[i].count);
	}
	fputc(']', f);
	if (l)
		redis_clients_json(f, l);
	fputc('}', f);
}

static void proc_json(FILE *f, const struct proc *p)
{
	fprintf(f, "{\"pid\":%u,\"comm\":", p->key.tgid);
	json_str(f, p->comm);
	fputs(",\"cmdline\":", f);
	/* null: gone before rcleak could read it, or read empty (a zombie's):
	 * as run's --json, and a replay (which keeps no empty one) */
	if (p->have_cmdline && p->cmdline[0])
		json_str(f, p->cmdline);
	else
		fputs("null", f);
	fprintf(f, ",\"role\":\"%s\",\"open\":%ld,\"established\":%ld,\"close_wait\":%ld,"
		"\"syn_sent\":%ld,\"shared\":%ld,\"opened\":%llu,\"closed\":%llu,"
		"\"open_rate\":%.2f,\"close_rate\":%.2f,\"growth_per_min\":%.2f,\"fds\":",
		p->nlisten ? "server" : "client", p->open, p->established, p->close_wait,
		p->syn_sent, p->shared, (unsigned long long)p->opened,
		(unsigned long long)(p->closed + p->missed_closed),
		p->open_rate, p->close_rate, p->growth_per_min);
	num_or_null(f, p->fds);
	fputs(",\"nofile_soft\":", f);
	num_or_null(f, p->nofile_soft);
	fputs(",\"nofile_hard\":", f);
	num_or_null(f, p->nofile_hard);
	fputs(",\"fd_headroom\":", f);
	if (p->fds >= 0 && p->nofile_soft >= 0)
		fprintf(f, "%lld", p->nofile_soft - p->fds);
	else
		fputs("null", f);
	/* an exited process keeps the verdict of its last refresh alive: a
	 * leaker killed at its fd limit is still the one that leaked */
	fprintf(f, ",\"exited\":%s,\"leaked\":%llu,\"verdict\":\"%s\",\"rule\":",
		p->exited ? "true" : "false", (unsigned long long)proc_leaked(p),
		verdict_name(p->exited ? p->last_verdict : p->verdict));
	json_str(f, p->exited ? p->last_rule : p->rule);
	fputs(",\"median_lifetime_ms\":", f);
	dbl_or_null(f, p->median_lifetime_ms);
	fputs(",\"p99_lifetime_ms\":", f);
	dbl_or_null(f, p->p99_lifetime_ms);
	fprintf(f, ",\"lifetimes\":%llu", (unsigned long long)model_life_count(p->life));
	fputs(",\"max_idle_s\":", f);
	dbl_or_null(f, p->max_idle_s);
	fprintf(f, ",\"idle\":%ld,\"zombies\":%ld}", p->idle, p->zombies);
}

void view_json(FILE *f, const struct collector *c, double wall_ts)
{
	const struct model *m = c->model;
	bool first = true;

	bool proc = !strcmp(c->walk, "proc");

	fputc('{', f);
	if (c->file) { /* a report of several files: which one, from which host */
		fputs("\"file\":", f);
		json_str(f, c->file);
		fputs(",\"host\":", f);
		json_str(f, c->host ? c->host : "");
		fputc(',', f);
	}
	fprintf(f, "\"ts\":%.3f,\"interval_s\":%g,\"hooks\":{\"lifecycle\":\"%s\",\"holders\":\"%s\",\"snapshot\":\"%s\"},"
		"\"uptime_s\":%.1f,\"events\":%llu,\"events_per_s\":%.1f,\"lost_events\":%llu,\"repairs\":%llu",
		wall_ts, c->opts->interval_s, c->tier,
		proc ? "/proc" : "iter/task_file", proc ? "/proc" : "iter/tcp", m->now,
		(unsigned long long)c->events, c->events_per_s,
		(unsigned long long)c->lost,
		(unsigned long long)(c->repairs + c->repairs_added));
	/* the live view's --comm: an empty list said nothing of whether the
	 * process filtered on had died */
	if (c->comm_state != COMM_UNKNOWN)
		fprintf(f, ",\"comm_running\":%s", c->comm_state == COMM_RUNNING ? "true" : "false");
	fputs(",\"servers\":[", f);
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *p = m->procs[i];

		if (!p->nlisten || p->exited || !view_selected(c->opts, p))
			continue;
		if (!first)
			fputc(',', f);
		first = false;
		server_json(f, c, p);
	}
	fputs("],\"processes\":[", f);
	first = true;
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *p = m->procs[i];

		if (!view_selected(c->opts, p))
			continue;
		if (!p->open && !p->opened && !p->closed && !p->missed_closed && !p->exit_closed &&
		    !p->nlisten)
			continue;
		if (!first)
			fputc(',', f);
		first = false;
		proc_json(f, p);
	}
	fputs("]}\n", f);
	out_flush(f);
}
