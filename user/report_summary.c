// SPDX-License-Identifier: GPL-2.0
/*
 * report_summary.c - `rcleak report FILE...` without a mode: the summary.
 * It watches every recorded tick go by (summary_observe), then prints per
 * file the time span, the servers and their limits, per-process peaks,
 * when growth started, the verdicts seen and lost events; with several
 * files, each server's connections joined by their 4-tuple to the
 * client-side holder found in another file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "join.h"
#include "log.h"
#include "peaks.h"
#include "report_summary.h"
#include "view.h"

/* What the summary remembers of a process across the whole capture. */
struct seen_proc {
	struct rcl_owner key;
	char comm[RCL_COMM_LEN];
	char cmdline[MODEL_CMDLINE];
	bool server;
	long peak_open;          /* from peaks.c, before printing */
	double peak_at;          /* wall; 0: no peak */
	double growth_from;      /* wall: when the climb to its peak started */
	bool growth_before;      /* ... before the capture did (peaks.h) */
	double max_growth;
	__u64 opened, closed, leaked;
	unsigned verdicts;       /* bit per enum verdict seen */
	double first_verdict_at[V_FD_LIMIT + 1];
	char rule[V_FD_LIMIT + 1][112];
	long clients_max;        /* servers: from peaks.c, before printing */
	bool limits;             /* a refresh saw it listen: the limits below */
	long effective_limit;
	long maxclients;
	const char *maxclients_source;
	long long nofile;        /* the limit's: the lowest nofile_soft seen */
};

/* ------------------------------------------------------------------------
 * summary
 */

/* o's row, made when missing and make is set; NULL when missing or out of
 * memory. */
static struct seen_proc *seen_get(struct capfile *f, const struct rcl_owner *o, bool make)
{
	if (!f->seen.row_size)
		ownertab_init(&f->seen, sizeof(struct seen_proc));
	return make ? ownertab_get(&f->seen, o, NULL) : ownertab_find(&f->seen, o);
}

static struct seen_proc *seen_of(struct capfile *f, const struct proc *p)
{
	return seen_get(f, &p->key, true);
}

/* What the events after the last tick say of one process: the counters
 * of the last tick were read at its walk, and a recorder killed (SIGKILL,
 * the OOM killer) writes no refresh after it, though its file may hold a
 * whole interval of events more. Counted as the kernel side counts
 * (bpf/rcleak.bpf.c): opened at an accept or a client's SYN_SENT ->
 * ESTABLISHED, closed when the socket reaches CLOSE (not a connect that
 * failed), for the owner the event names; leaked at a close at exit. */
struct tail_proc {
	struct rcl_owner key;
	char comm[RCL_COMM_LEN];
	__u64 opened, closed, leaked;
};

/* o's tally, made when missing; NULL when out of memory. */
static struct tail_proc *tail_of(struct capfile *f, const struct rcl_owner *o)
{
	if (!f->tail.row_size)
		ownertab_init(&f->tail, sizeof(struct tail_proc));
	return ownertab_get(&f->tail, o, NULL);
}

static int tail_event(struct capfile *f, const struct rcl_event *e)
{
	struct rcl_owner o = { .tgid = e->tgid, .start_ns = e->start_ns };
	bool opened = e->kind == RCL_EV_ACCEPT ||
		      (e->kind == RCL_EV_STATE && e->oldstate == RCL_TCP_SYN_SENT &&
		       e->newstate == RCL_TCP_ESTABLISHED);
	bool closed = e->newstate == RCL_TCP_CLOSE && e->oldstate != RCL_TCP_SYN_SENT &&
		      e->oldstate != RCL_TCP_LISTEN && e->kind != RCL_EV_LISTEN;
	struct tail_proc *t;

	/* before the first tick (a flight recorder's ring), or in the
	 * last tick's walk already */
	if (!f->have_tick || !e->tgid || e->ts_ns < f->rp.tick.mono_ns)
		return 0;
	if (!opened && !closed && e->kind != RCL_EV_CONNECT && e->kind != RCL_EV_EXIT_CLOSE)
		return 0;
	if (!(t = tail_of(f, &o)))
		return -ENOMEM;
	if (e->comm[0] && e->cur_tgid == e->tgid)
		memcpy(t->comm, e->comm, sizeof(t->comm));
	t->opened += opened;
	t->closed += closed;
	/* a socket on a port listened on at the last tick is a server's
	 * accepted one: closed at its exit, its clients' (proc_leaked) */
	t->leaked += e->kind == RCL_EV_EXIT_CLOSE && !(e->lport && model_listened(f->model, e->lport));
	return 0;
}

int summary_observe(struct capfile *f)
{
	const struct model *m = f->model;
	double wall = f->rp.tick.wall;

	if (!f->peaks && !(f->peaks = peaks_new()))
		return -ENOMEM;
	ownertab_clear(&f->tail); /* its counters hold everything until its walk */
	if (peaks_tick(f->peaks, f->model, wall))
		return -ENOMEM;
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *p = m->procs[i];
		struct seen_proc *s;

		/* a fork's child that exited with its parent's connections
		 * opened and closed none itself: its leaks were in no row */
		if (!p->open && !p->opened && !p->closed && !p->missed_closed && !p->exit_closed &&
		    !p->nlisten && !p->listener)
			continue;
		/* --pid/--comm as the live view takes them: the name a process
		 * has at this tick (an exec into another program counts from it) */
		if (!view_selected(&f->opts, p))
			continue;
		s = seen_of(f, p);
		if (!s)
			return -ENOMEM;
		memcpy(s->comm, p->comm, sizeof(s->comm));
		if (p->cmdline[0])
			memcpy(s->cmdline, p->cmdline, sizeof(s->cmdline));
		s->server |= p->nlisten > 0 || p->listener;
		s->opened = p->opened;
		s->closed = p->closed + p->missed_closed;
		s->leaked = proc_leaked(p);
		if (p->exited)
			continue;
		if (p->growth_per_min > s->max_growth)
			s->max_growth = p->growth_per_min;
		if (p->verdict != V_OK && !(s->verdicts & (1u << p->verdict))) {
			s->verdicts |= 1u << p->verdict;
			s->first_verdict_at[p->verdict] = wall;
			snprintf(s->rule[p->verdict], sizeof(s->rule[0]), "%s", p->rule);
		}
		if (p->nlisten) {
			long eff = model_server_limit(p);

			s->limits = true;
			s->effective_limit = eff;
			s->maxclients = p->maxclients;
			s->maxclients_source = p->maxclients_source;
			s->nofile = p->nofile_sized;
		}
	}
	return 0;
}

void summary_event(struct capfile *f, const struct rcl_event *e, double wall, void *ctx)
{
	int *err = ctx;

	if (wall > f->last_event)
		f->last_event = wall;
	if (f->peaks && peaks_event(f->peaks, e, f->ev_res_ns, wall) && !*err)
		*err = -ENOMEM;
	if (tail_event(f, e) && !*err)
		*err = -ENOMEM;
}

/* Events this long after the last refresh: it was not the recording's
 * end (the recorder killed), and the summary says so. A quarter of the
 * interval, a second at most, as --at's lateness: the final refresh of a
 * recording that stops normally is taken after its last events, bar a
 * few that race it. */
static bool tail_long(const struct capfile *f)
{
	double iv = f->rp.meta.interval_s > 0 ? f->rp.meta.interval_s : 1;

	return f->have_tick && f->last_event > f->last_wall + (iv / 4 < 1 ? iv / 4 : 1);
}

/* The events after the last tick into the rows: counted into the rows of
 * processes the ticks saw, and rows for those only these events show (a
 * storm that began after the last refresh: it was in no row). Only when
 * the recording did not end with a refresh: the counters of a tick are
 * read after its walk, so the events of the walk's own span are in them
 * and would count twice (the few of a killed recorder's last walk do) in
 * every capture's final refresh. */
static int take_tail(struct capfile *f)
{
	if (!tail_long(f))
		return 0;
	for (size_t i = 0; i < f->tail.n; i++) {
		const struct tail_proc *t = ownertab_row(&f->tail, i);
		struct seen_proc *s = seen_get(f, &t->key, false);

		if (!s) {
			if ((f->opts.pid && (int)t->key.tgid != f->opts.pid) ||
			    (f->opts.comm[0] && strcmp(f->opts.comm, t->comm)))
				continue;
			if (!(s = seen_get(f, &t->key, true)))
				return -ENOMEM;
			memcpy(s->comm, t->comm, sizeof(s->comm));
		}
		s->opened += t->opened;
		s->closed += t->closed;
		s->leaked += t->leaked;
	}
	ownertab_clear(&f->tail); /* once */
	return 0;
}


/* Each process's peaks, counted between the ticks too (peaks.h). */
static void take_peaks(struct capfile *f)
{
	for (size_t i = 0; i < f->seen.n; i++) {
		struct seen_proc *s = ownertab_row(&f->seen, i);
		const struct peak *pk = f->peaks ? peaks_of(f->peaks, &s->key) : NULL;

		s->peak_open = pk ? pk->peak_open : 0;
		s->peak_at = pk ? pk->peak_open_at : 0;
		s->growth_from = pk ? pk->growth_from : 0;
		s->growth_before = pk && pk->growth_before_start;
		s->clients_max = pk ? pk->peak_clients : 0;
	}
}

/* A wall time in JSON: Unix seconds, or null for none (0). */
static void json_time(double wall)
{
	if (wall > 0)
		printf("%.3f", wall);
	else
		printf("null");
}

static int cmp_seen(const void *a, const void *b)
{
	const struct seen_proc *x = a, *y = b;

	if (x->server != y->server)
		return x->server ? -1 : 1;
	if (x->peak_open != y->peak_open)
		return x->peak_open > y->peak_open ? -1 : 1;
	return x->key.tgid < y->key.tgid ? -1 : 1;
}

/* ------------------------------------------------------------------------
 * joining server-side connections to client holders in other files
 */

struct join_count {
	int file;
	__u32 pid;
	char comm[RCL_COMM_LEN];
	long count;
};

/* Whether files a and b were recorded on one host in one boot (the same
 * boot_id; the same host name for a file without one): only then can a
 * loopback connection have an end in each. Across hosts a client's
 * connection to its own local Redis joined the other host's server's
 * loopback client of the same ports. */
static bool same_boot(const struct capfile *a, const struct capfile *b)
{
	if (a->info.boot_id[0] && b->info.boot_id[0])
		return !strcmp(a->info.boot_id, b->info.boot_id);
	return a->info.host[0] && !strcmp(a->info.host, b->info.host);
}

/* For server proc srv of file fi: count its accepted connections whose
 * other end a process in another file holds. */
static size_t join_server(struct capfile *files, int nfiles, int fi, const struct proc *srv,
			  struct join_count *out, size_t max)
{
	const struct model *m = files[fi].model;
	size_t n = 0;

	for (int fj = 0; fj < nfiles; fj++)
		if (fj != fi && !files[fj].jix)
			files[fj].jix = join_index_build(files[fj].model);
	for (size_t i = 0; i < m->nrecs; i++) {
		const struct rcl_fd_rec *r = &m->recs[i];
		bool mine = r->tgid == srv->key.tgid && r->start_ns == srv->key.start_ns;
		bool lo;

		if (!mine || r->state == RCL_TCP_LISTEN)
			continue;
		lo = join_loopback(r);
		for (int fj = 0; fj < nfiles; fj++) {
			const struct rcl_fd_rec *q;
			size_t j;

			if (fj == fi || (lo && !same_boot(&files[fi], &files[fj])) ||
			    !(q = join_index_peer(files[fj].jix, r)))
				continue;
			for (j = 0; j < n; j++)
				if (out[j].file == fj && out[j].pid == q->tgid)
					break;
			if (j == n && n < max) {
				out[n].file = fj;
				out[n].pid = q->tgid;
				memcpy(out[n].comm, q->comm, sizeof(out[n].comm));
				out[n].count = 0;
				n++;
			}
			if (j < max)
				out[j].count++;
		}
	}
	return n;
}

/* The wall times a file covers: from the recording's start (its header)
 * or first refresh to its last refresh or event. False when a time is
 * none a clock gives (a hostile file's). */
static bool covers(const struct capfile *f, double *start, double *end)
{
	*start = f->info.wall_start;
	*end = f->info.wall_start;
	if (f->have_tick && f->first_wall < *start)
		*start = f->first_wall;
	if (f->have_tick && f->last_wall > *end)
		*end = f->last_wall;
	if (f->last_event > *end)
		*end = f->last_event;
	return capture_wall_ok(*start) && capture_wall_ok(*end);
}

/* Two files of one host whose times do not overlap were never recording
 * at once: the joins read each file's end and paired a server's
 * connection with a holder of the same 4-tuple hours apart (the port
 * reused by another process) without a word. One line on stderr for
 * each such pair; stdout (--json) is left alone. */
static void warn_spans_apart(const struct capfile *files, int nfiles)
{
	for (int i = 0; i < nfiles; i++)
		for (int j = i + 1; j < nfiles; j++) {
			const struct capfile *a = &files[i], *b = &files[j];
			double as, ae, bs, be;
			char t1[32], t2[32];

			if (strcmp(a->info.host, b->info.host) || !covers(a, &as, &ae) || !covers(b, &bs, &be) ||
			    (as <= be && bs <= ae))
				continue;
			if (bs < as) { /* the earlier first */
				const struct capfile *t = a;
				double ts = as, te = ae;

				a = b, as = bs, ae = be;
				b = t, bs = ts, be = te;
			}
			capfile_fmt_time(ae, t1, sizeof(t1));
			capfile_fmt_time(bs, t2, sizeof(t2));
			elog("%s and %s (host %s%s) do not overlap in time (the first ends %s, the second starts "
			     "%s): their joins pair connections that were never open at once", a->path, b->path,
			     a->info.host,
			     a->info.boot_id[0] && b->info.boot_id[0] && strcmp(a->info.boot_id, b->info.boot_id)
				     ? ", rebooted between them" : "", t1, t2);
		}
}

/* The indexes follow the models: drop them once the joins are printed. */
static void drop_join_indexes(struct capfile *files, int nfiles)
{
	for (int fi = 0; fi < nfiles; fi++) {
		join_index_free(files[fi].jix);
		files[fi].jix = NULL;
	}
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

/* The wall times a file's refreshes span; with none complete, the header's
 * start for both (JSON said 0, 1970, where the text said the header's). */
static void span_of(const struct capfile *f, double *start, double *end)
{
	*start = f->first_wall ? f->first_wall : f->info.wall_start;
	*end = f->last_wall ? f->last_wall : f->info.wall_start;
}

static void summary_text_out(struct capfile *files, int nfiles)
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
		if (f->ends_in_tick) {
			capfile_fmt_time(f->last_wall, a, sizeof(a));
			printf("  the file ends inside a refresh (the recorder was killed while writing it): the "
			       "summary and the joins end at the one before, at %s\n", a);
		}
		if (tail_long(f)) {
			capfile_fmt_time(f->last_event, a, sizeof(a));
			printf("  events go on %.1fs after the last refresh, until %s (the recorder was killed?):"
			       " OPENED, CLOSED, LEAKED and PEAK count them, GROW/min and verdicts end at the "
			       "last refresh\n", f->last_event - f->last_wall, a);
		}
		/* a file of format 1.6 on ends with an end record: without
		 * one, the recorder was stopped before it finished the file,
		 * even where it ended between two chunks and reads as whole */
		if (f->info.minor >= 6 && !f->rp.finished && !f->ends_in_tick)
			printf("  the recorder did not finish this file (killed, a write error, or the host "
			       "stopped): it may end before the recording did\n");
		if (f->rp.have_trigger) {
			capfile_fmt_time(f->rp.trigger.wall, a, sizeof(a));
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
			printf("  server pid %u (%s): peak %ld clients of %ld (maxclients %ld from %s, nofile %s)\n",
			       s->key.tgid, name, s->clients_max, s->effective_limit,
			       s->maxclients > 0 ? s->maxclients : 10000,
			       s->maxclients_source ? s->maxclients_source : "default", nofile);
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
					capfile_fmt_time(s->first_verdict_at[k], pk, sizeof(pk));
					printf("          %s first at %s: %s\n", verdict_name(k), pk, s->rule[k]);
				}
		}
	}
	print_joins_text(files, nfiles);
}

static void summary_json_out(struct capfile *files, int nfiles)
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
					putchar('}');
				}
			printf("]");
			if (s->server && s->limits)
				printf(",\"clients_max\":%ld,\"effective_limit\":%ld", s->clients_max,
				       s->effective_limit);
			else if (s->server) /* no refresh saw it listen */
				printf(",\"clients_max\":%ld,\"effective_limit\":null", s->clients_max);
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
	printf("]}\n");
}

/* A flight capture's trigger: the verdict that fired counts as seen at its
 * tick even when the ring kept too little history to judge it again (a
 * LEAK's growth over half the window). */
static void take_trigger(struct capfile *f)
{
	const struct rec_trigger *t = &f->rp.trigger;

	if (!f->rp.have_trigger || !t->verdict[0])
		return;
	for (size_t i = 0; i < f->seen.n; i++) {
		struct seen_proc *s = ownertab_row(&f->seen, i);

		if (s->key.tgid != t->owner.tgid || s->key.start_ns != t->owner.start_ns)
			continue;
		/* the replay may judge it too, but only later (during --after,
		 * once the ring holds enough history): the recorder saw it first */
		for (int k = V_OK + 1; k <= V_FD_LIMIT; k++)
			if (!strcmp(verdict_name(k), t->verdict) &&
			    (!(s->verdicts & (1u << k)) || s->first_verdict_at[k] > t->wall)) {
				s->verdicts |= 1u << k;
				s->first_verdict_at[k] = t->wall;
				snprintf(s->rule[k], sizeof(s->rule[0]), "%s", t->rule);
			}
		return;
	}
}

int summary_print(struct capfile *files, int nfiles, bool json)
{
	for (int fi = 0; fi < nfiles; fi++)
		if (take_tail(&files[fi]))
			return -ENOMEM;
	for (int fi = 0; fi < nfiles; fi++) {
		take_peaks(&files[fi]);
		take_trigger(&files[fi]);
	}
	warn_spans_apart(files, nfiles);
	if (json)
		summary_json_out(files, nfiles);
	else
		summary_text_out(files, nfiles);
	return 0;
}
