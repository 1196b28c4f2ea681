// SPDX-License-Identifier: GPL-2.0
/* report_summary_json.c - the summary as one JSON object:
 * {"files": [...], "skipped": [...]}, per file its span, trigger, processes
 * and servers joined; per file that could not be read, why. */
#include <stdio.h>

#include "capfile.h"
#include "report_summary_int.h"
#include "view.h"

/* A wall time in JSON: Unix seconds, or null for none (0). */
static void json_time(double wall)
{
	if (wall > 0)
		printf("%.3f", wall);
	else
		printf("null");
}

/* A server's headroom: its lowest and when, when it was first full (no
 * slot left: the next client refused), in how many refreshes, and who
 * held its slots then; null for a server no refresh saw listen. */
static void room_json(const struct seen_proc *s)
{
	if (!s->have_room) {
		printf(",\"headroom_min\":null,\"headroom_min_at\":null,\"full_at\":null,"
		       "\"full_refreshes\":0,\"full_holders\":[]");
		return;
	}
	printf(",\"headroom_min\":%ld,\"headroom_min_at\":", s->room_min);
	json_time(s->room_min_at);
	printf(",\"full_at\":");
	json_time(s->full_at);
	printf(",\"full_refreshes\":%lu,\"full_holders\":[", s->full_ticks);
	for (int k = 0; k < s->nfull_by; k++) {
		printf("%s{\"pid\":%u,\"comm\":", k ? "," : "", s->full_by[k].pid);
		json_str(stdout, s->full_by[k].comm);
		printf(",\"count\":%ld}", s->full_by[k].count);
	}
	putchar(']');
	if (s->full_at)
		printf(",\"full_clients\":%ld,\"full_rcleak_links\":%ld,\"full_master_links\":%ld,"
		       "\"full_cluster_links\":%ld,\"full_holder_processes\":%ld", s->full_clients,
		       s->full_links, s->full_master, s->full_cluster, s->full_nholders);
}

/* A file skipped, as the summary's "skipped" list and --at's and
 * --replay's lines give it: {"path","reason","error"}. */
static void skip_entry(const struct summary_skip *s)
{
	printf("{\"path\":");
	json_str(stdout, s->path);
	printf(",\"reason\":\"%s\",\"error\":",
	       s->no_refresh ? "no-refresh" : s->damaged ? "damaged" : "unreadable");
	json_str(stdout, s->error);
	putchar('}');
}

void summary_json_out(struct capfile *files, int nfiles, const struct summary_skip *skips, int nskips)
{
	struct join_count jc[64];

	printf("{\"files\":[");
	for (int fi = 0; fi < nfiles; fi++) {
		struct capfile *f = &files[fi];
		const struct model *m = f->model;
		double start, end;
		bool first = true;

		printf("%s{\"path\":", fi ? "," : "");
		json_str(stdout, f->path);
		printf(",\"host\":");
		json_str(stdout, f->info.host);
		printf(",\"kernel\":");
		json_str(stdout, f->info.kernel);
		span_of(f, &start, &end);
		printf(",\"start\":%.3f,\"end\":%.3f,\"last_event\":", start, end);
		json_time(f->last_event);
		printf(",\"ends_inside_refresh\":%s", f->ends_in_tick ? "true" : "false");
		/* null: a file of a format before 1.6, which cannot say */
		if (f->info.minor < 6)
			printf(",\"finished\":null,\"stop_signal\":null");
		else if (!f->rp.finished)
			printf(",\"finished\":false,\"stop_signal\":null");
		else
			printf(",\"finished\":true,\"stop_signal\":%u", f->rp.end_signal);
		printf(",\"recording\":%s", f->recording ? "true" : "false");
		printf(",\"ticks\":%lu,\"events\":%lu,\"lost_events\":%llu,", f->ticks, f->events,
		       (unsigned long long)f->lost);
		printf("\"trigger\":");
		if (!f->rp.have_trigger) {
			printf("null,");
		} else {
			printf("{\"at\":%.3f,\"pid\":", f->rp.trigger.wall);
			if (f->rp.trigger.owner.tgid)
				printf("%u", f->rp.trigger.owner.tgid);
			else
				printf("null");
			printf(",\"verdict\":");
			if (f->rp.trigger.verdict[0])
				json_str(stdout, f->rp.trigger.verdict);
			else
				printf("null");
			printf(",\"why\":");
			json_str(stdout, f->rp.trigger.why);
			printf("},");
		}
		printf("\"processes\":[");
		for (size_t i = 0; i < f->seen.n; i++) {
			const struct seen_proc *s = ownertab_row(&f->seen, i);

			printf("%s{\"pid\":%u,\"comm\":", i ? "," : "", s->key.tgid);
			json_str(stdout, s->comm);
			printf(",\"role\":\"%s\",\"peak_open\":%ld,\"peak_at\":", s->server ? "server" : "client",
			       s->peak_open);
			json_time(s->peak_open ? s->peak_at : 0);
			printf(",\"growth_from\":");
			json_time(s->peak_open ? s->growth_from : 0);
			printf(",\"growth_before_start\":%s", s->peak_open && s->growth_before ? "true" : "false");
			printf(",\"max_growth_per_min\":%.2f,\"opened\":%llu,\"closed\":%llu,\"leaked\":%llu,"
			       "\"verdicts\":[", s->max_growth, (unsigned long long)s->opened,
			       (unsigned long long)s->closed, (unsigned long long)s->leaked);
			for (int k = V_FD_LIMIT, c = 0; k > V_OK; k--)
				if (s->verdicts & (1u << k)) {
					printf("%s{\"verdict\":\"%s\",\"first_at\":%.3f,\"rule\":", c++ ? "," : "",
					       verdict_name(k), s->first_verdict_at[k]);
					json_str(stdout, s->rule[k]);
					/* none: fired only as a flight recorder's trigger */
					printf(",\"worst_at\":%.3f,\"worst_rule\":",
					       s->worst_at[k] ? s->worst_at[k] : s->first_verdict_at[k]);
					json_str(stdout, s->worst_at[k] ? s->worst_rule[k] : s->rule[k]);
					putchar('}');
				}
			printf("]");
			if (s->server && s->limits) {
				printf(",\"clients_max\":%ld,\"effective_limit\":%ld", s->clients_max,
				       s->effective_limit);
				/* null: not known, Redis's default 10000 assumed
				 * (the text's "10000?") */
				if (s->maxclients > 0)
					printf(",\"maxclients\":%ld", s->maxclients);
				else
					printf(",\"maxclients\":null");
				printf(",\"maxclients_source\":\"%s\"",
				       s->maxclients_source ? s->maxclients_source : "default");
			} else if (s->server) { /* no refresh saw it listen */
				printf(",\"clients_max\":%ld,\"effective_limit\":null,\"maxclients\":null,"
				       "\"maxclients_source\":null", s->clients_max);
			}
			if (s->server)
				room_json(s);
			putchar('}');
		}
		printf("],\"servers_joined\":[");
		for (size_t i = 0; i < m->nprocs && nfiles > 1; i++) {
			const struct proc *p = m->procs[i];
			size_t n;

			if (!p->nlisten || p->exited || !view_selected(&f->opts, p))
				continue;
			n = join_server(files, nfiles, fi, p, jc, 64);
			printf("%s{\"pid\":%u,\"clients\":%ld,\"client_processes\":[", first ? "" : ",",
			       p->key.tgid, p->clients);
			first = false;
			for (size_t k = 0; k < n; k++) {
				printf("%s{\"host\":", k ? "," : "");
				json_str(stdout, files[jc[k].file].info.host);
				printf(",\"pid\":%u,\"comm\":", jc[k].pid);
				json_str(stdout, jc[k].comm);
				printf(",\"count\":%ld}", jc[k].count);
			}
			printf("]}");
		}
		printf("]}");
	}
	drop_join_indexes(files, nfiles);
	/* a script reading the JSON could not tell a file skipped from one
	 * never given: stderr alone named it */
	printf("],\"skipped\":[");
	for (int i = 0; i < nskips; i++) {
		if (i)
			putchar(',');
		skip_entry(&skips[i]);
	}
	printf("]}\n");
}

void summary_json_skip_line(const struct summary_skip *s)
{
	printf("{\"file\":");
	json_str(stdout, s->path);
	if (s->host) { /* read, with nothing to show: its host is known */
		printf(",\"host\":");
		json_str(stdout, s->host);
	}
	printf(",\"skipped\":");
	skip_entry(s);
	printf("}\n");
}
