// SPDX-License-Identifier: GPL-2.0
/* report_summary_text.c - the summary as text: per file, its span and what
 * it lacks, the servers' limits, a row per process with its verdicts; then
 * the joins of several files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "redis.h"
#include "report_summary_int.h"
#include "view.h"

static int cmp_seen(const void *a, const void *b)
{
	const struct seen_proc *x = a, *y = b;

	if (x->server != y->server)
		return x->server ? -1 : 1;
	if (x->peak_open != y->peak_open)
		return x->peak_open > y->peak_open ? -1 : 1;
	return x->key.tgid < y->key.tgid ? -1 : 1;
}

static void print_joins_text(struct capfile *files, int nfiles)
{
	struct join_count jc[64];

	if (nfiles < 2)
		return;
	printf("\nServer connections joined to client processes in the other files (at the end):\n");
	for (int fi = 0; fi < nfiles; fi++) {
		const struct model *m = files[fi].model;

		for (size_t i = 0; i < m->nprocs; i++) {
			const struct proc *p = m->procs[i];
			char name[4 * RCL_COMM_LEN];
			size_t n;

			if (!p->nlisten || p->exited || !view_selected(&files[fi].opts, p))
				continue;
			n = join_server(files, nfiles, fi, p, jc, 64);
			/* which file: two captures of one host hold the same
			 * server, and its blocks read alike */
			shown_str(name, sizeof(name), p->comm);
			printf("  %s: %s pid %u (%s), %ld clients:\n", files[fi].path, files[fi].info.host,
			       p->key.tgid, name, p->clients);
			if (!n)
				printf("    none held by a process in the other files\n");
			for (size_t k = 0; k < n; k++) {
				shown_str(name, sizeof(name), jc[k].comm);
				printf("    %6ld from %s pid %u (%s)\n", jc[k].count, files[jc[k].file].info.host,
				       jc[k].pid, name);
			}
		}
	}
	drop_join_indexes(files, nfiles);
}

/* A server's lowest headroom; when it was full, since when, for how many
 * refreshes, and who held its slots then. "?": Redis's default maxclients
 * assumed, as the live view marks it. */
static void print_room(const struct capfile *f, const struct seen_proc *s)
{
	const char *mark = s->maxclients > 0 ? "" : "?";
	/* under the fd limit's cap, a limit that is an upper bound: at 0 the
	 * server was full whatever its maxclients */
	const char *full_mark = s->maxclients > 0 || s->full_limit < REDIS_DEFAULT_MAXCLIENTS ? "" : "?";
	char a[32], name[4 * RCL_COMM_LEN];

	if (!s->have_room)
		return;
	capfile_fmt_time_ms(s->room_min_at, a, sizeof(a));
	printf("    headroom lowest %ld%s at %s\n", s->room_min, mark, a);
	if (!s->full_at)
		return;
	capfile_fmt_time_ms(s->full_at, a, sizeof(a));
	printf("    FULL%s (no slot for a client: the next is refused) first at %s, %s%lu of %lu refreshes%s; "
	       "%ld clients", full_mark, a, s->full_between ? "between refreshes (in " : "in ", s->full_ticks,
	       f->ticks, s->full_between ? ")" : "", s->full_clients);
	if (s->full_links)
		printf(" + %ld rcleak --ask-redis link%s", s->full_links, s->full_links > 1 ? "s" : "");
	if (s->full_master)
		printf(" + its link to its master");
	if (s->full_cluster)
		printf(" + %ld cluster bus link%s", s->full_cluster, s->full_cluster > 1 ? "s" : "");
	if (s->full_between) {
		/* its holders: the refreshes' walks say who holds what */
		printf(" of %ld%s, gone by the next refresh: who held them is not known\n", s->full_limit,
		       full_mark);
		return;
	}
	printf(" of %ld%s, held then by:", s->full_limit, full_mark);
	for (int k = 0; k < s->nfull_by; k++) {
		shown_str(name, sizeof(name), s->full_by[k].comm);
		printf("%s %ld %s pid %u", k ? "," : "", s->full_by[k].count, name, s->full_by[k].pid);
	}
	if (s->full_nholders > s->nfull_by)
		printf(", and %ld more processes", s->full_nholders - s->nfull_by);
	if (!s->full_nholders)
		printf(" no process of this host (remote clients)");
	printf("\n");
}

void summary_text_out(struct capfile *files, int nfiles)
{
	for (int fi = 0; fi < nfiles; fi++) {
		struct capfile *f = &files[fi];
		char a[32], b[32], name[4 * RCL_COMM_LEN];
		double start, end;

		if (f->seen.n) {
			qsort(f->seen.rows, f->seen.n, f->seen.row_size, cmp_seen);
			/* a lookup after it finds the right row, or none (ENOMEM) */
			(void)ownertab_reindex(&f->seen);
		}
		span_of(f, &start, &end);
		capfile_fmt_time(start, a, sizeof(a));
		capfile_fmt_time(end, b, sizeof(b));
		printf("%s: host %s, kernel %s, rcleak %s, tier %s\n", f->path, f->info.host,
		       f->info.kernel, f->info.version, f->rp.meta.tier);
		printf("  span %s .. %s (%.0fs, %lu ticks, %lu events, %llu lost)\n", a, b,
		       f->last_wall - f->first_wall, f->ticks, f->events, (unsigned long long)f->lost);
		/* a recorder at work (its flock held) is no recorder killed:
		 * what it has written so far ends where it is writing */
		if (f->recording && !f->ticks) {
			/* no refresh: last_wall is none (1970) */
			printf("  still being recorded (a recorder holds the file), and no refresh is in it yet: a "
			       "flight recorder (record --ring) keeps its ring in memory until a trigger fires, "
			       "SIGUSR1 (kill -USR1 its pid) or it stops\n");
		} else if (f->recording) {
			capfile_fmt_time(f->last_wall, a, sizeof(a));
			printf("  still being recorded (a recorder holds the file): this summary ends at its "
			       "last whole refresh so far, at %s\n", a);
		}
		if (f->ends_in_tick && !f->recording && !f->ticks) {
			/* no refresh before: last_wall is none (1970) */
			printf("  the file ends inside its first refresh (the recorder was killed while "
			       "writing it): it holds no whole refresh\n");
		} else if (f->ends_in_tick && !f->recording) {
			capfile_fmt_time(f->last_wall, a, sizeof(a));
			printf("  the file ends inside a refresh (the recorder was killed while writing it): the "
			       "summary and the joins end at the one before, at %s\n", a);
		}
		if (tail_long(f) && !f->recording) {
			capfile_fmt_time(f->last_event, a, sizeof(a));
			/* why there was no last refresh: the end record says
			 * when it failed; without one, the next line says what
			 * may have stopped the recorder (it guessed "killed?",
			 * of a file whose last refresh failed too) */
			printf("  events go on %.1fs after the last refresh, until %s (%s): OPENED, CLOSED, "
			       "LEAKED and PEAK count them, GROW/min and verdicts end at the last refresh\n",
			       f->last_event - f->last_wall, a,
			       f->rp.finished ? "the recorder's last refresh failed"
					      : "the recorder stopped before its last refresh");
		}
		/* a file of format 1.6 on ends with an end record: without
		 * one, the recorder was stopped before it finished the file,
		 * even where it ended between two chunks and reads as whole */
		if (f->info.minor >= 6 && !f->rp.finished && !f->ends_in_tick && !f->recording)
			printf("  the recorder did not finish this file (killed, a write error, or the host "
			       "stopped): it may end before the recording did\n");
		if (f->rp.have_trigger) {
			capfile_fmt_time_ms(f->rp.trigger.wall, a, sizeof(a));
			printf("  flight recorder trigger at %s: %s\n", a, f->rp.trigger.why);
		}
		for (size_t i = 0; i < f->seen.n; i++) {
			const struct seen_proc *s = ownertab_row(&f->seen, i);
			char nofile[24] = "unlimited"; /* a capture's -1: RCL_NOFILE_INF */

			if (!s->server)
				continue;
			if (s->nofile >= 0)
				snprintf(nofile, sizeof(nofile), "%lld", s->nofile);
			shown_str(name, sizeof(name), s->comm);
			/* one that lived between two refreshes (a crash loop):
			 * its limits read "of 0 (..., nofile 0)", a full server */
			if (!s->limits) {
				printf("  server pid %u (%s): peak %ld clients (limits unknown: no refresh saw it "
				       "listen)\n", s->key.tgid, name, s->clients_max);
				continue;
			}
			/* Redis's default assumed is no fact: the live view marks
			 * it "10000?"; under the fd limit's cap (the 992 trap)
			 * Redis lowered its own maxclients to that */
			if (s->maxclients > 0)
				printf("  server pid %u (%s): peak %ld clients of %ld (maxclients %ld from %s, "
				       "nofile %s)\n", s->key.tgid, name, s->clients_max, s->effective_limit,
				       s->maxclients, s->maxclients_source ? s->maxclients_source : "default",
				       nofile);
			else if (s->effective_limit < REDIS_DEFAULT_MAXCLIENTS)
				printf("  server pid %u (%s): peak %ld clients of %ld (maxclients %d? not known, "
				       "Redis's default assumed; nofile %s caps it at %ld)\n", s->key.tgid, name,
				       s->clients_max, s->effective_limit, REDIS_DEFAULT_MAXCLIENTS, nofile,
				       s->effective_limit);
			else
				printf("  server pid %u (%s): peak %ld clients of %ld? (maxclients %d? not known, "
				       "Redis's default assumed; nofile %s)\n", s->key.tgid, name, s->clients_max,
				       s->effective_limit, REDIS_DEFAULT_MAXCLIENTS, nofile);
			print_room(f, s);
		}
		printf("  %-7s %-15s %6s %-19s %-19s %8s %8s %8s %7s  %s\n", "PID", "COMM", "PEAK",
		       "PEAK AT", "GROWTH FROM", "GROW/min", "OPENED", "CLOSED", "LEAKED", "VERDICTS");
		for (size_t i = 0; i < f->seen.n; i++) {
			const struct seen_proc *s = ownertab_row(&f->seen, i);
			char pk[32] = "-", gf[32] = "-", v[64] = "";

			/* servers too (first, by cmp_seen): the line above gives
			 * their limits, this row their verdicts (FD-LIMIT, ZOMBIE) */
			if (s->peak_open)
				capfile_fmt_time(s->peak_at, pk, sizeof(pk));
			/* climbing when the capture began: its first refresh's
			 * time is no start of the growth (a flight recorder's
			 * ring, a process leaking for hours) */
			if (s->peak_open && s->growth_before)
				snprintf(gf, sizeof(gf), "%s", "before start");
			else if (s->peak_open && s->growth_from)
				capfile_fmt_time(s->growth_from, gf, sizeof(gf));
			for (int k = V_FD_LIMIT; k > V_OK; k--)
				if (s->verdicts & (1u << k))
					snprintf(v + strlen(v), sizeof(v) - strlen(v), "%s%s", v[0] ? "," : "",
						 verdict_name(k));
			shown_str(name, sizeof(name), s->comm);
			printf("  %-7u %-15s %6ld %-19s %-19s %8.1f %8llu %8llu %7llu  %s\n", s->key.tgid,
			       name, s->peak_open, pk, gf, s->max_growth, (unsigned long long)s->opened,
			       (unsigned long long)s->closed, (unsigned long long)s->leaked,
			       v[0] ? v : "ok");
			for (int k = V_FD_LIMIT; k > V_OK; k--)
				if (s->verdicts & (1u << k)) {
					capfile_fmt_time_ms(s->first_verdict_at[k], pk, sizeof(pk));
					printf("          %s first at %s: %s\n", verdict_name(k), pk, s->rule[k]);
					if (!summary_worse(s, k))
						continue;
					capfile_fmt_time_ms(s->worst_at[k], pk, sizeof(pk));
					printf("          %s worst at %s: %s\n", verdict_name(k), pk, s->worst_rule[k]);
				}
		}
	}
	print_joins_text(files, nfiles);
}
