// SPDX-License-Identifier: GPL-2.0
/*
 * report_joins.c - the summary of several files: each server's accepted
 * connections joined by their 4-tuple to the client-side holder found in
 * another file (join.h's index), and a warning for files that were never
 * recording at once.
 */
#include <string.h>

#include "capfile.h"
#include "join.h"
#include "log.h"
#include "report_summary_int.h"

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
size_t join_server(struct capfile *files, int nfiles, int fi, const struct proc *srv,
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
 * or first refresh to its last refresh or event. A first refresh more
 * than an interval after the start is a flight recorder's ring, which
 * dropped what came before: the file covers from there (from the start,
 * a capture that holds minutes after an hour-long wait overlapped every
 * file of that hour). False when a time is none a clock gives (a hostile
 * file's). */
static bool covers(const struct capfile *f, double *start, double *end)
{
	double iv = f->rp.meta.interval_s > 0 ? f->rp.meta.interval_s : 1;

	*start = f->info.wall_start;
	*end = f->info.wall_start;
	if (f->have_tick && (f->first_wall < *start || f->first_wall > *start + iv))
		*start = f->first_wall;
	if (f->have_tick && f->last_wall > *end)
		*end = f->last_wall;
	if (f->last_event > *end)
		*end = f->last_event;
	return capture_wall_ok(*start) && capture_wall_ok(*end);
}

/* Two files whose times do not overlap were never recording at once: the
 * joins read each file's end and paired a server's connection with a
 * holder of the same 4-tuple hours apart (the port reused by another
 * process) without a word. Files of two hosts too: a join compares what
 * the hosts held at the same time, and across hosts is the joins' usual
 * case (a server's host, its clients' hosts). One line on stderr for each
 * such pair; stdout (--json) is left alone. */
void warn_spans_apart(const struct capfile *files, int nfiles)
{
	for (int i = 0; i < nfiles; i++)
		for (int j = i + 1; j < nfiles; j++) {
			const struct capfile *a = &files[i], *b = &files[j];
			double as, ae, bs, be;
			char t1[32], t2[32];

			/* no host name (a hostile file's): no telling what it is */
			if (!a->info.host[0] || !b->info.host[0] || !covers(a, &as, &ae) ||
			    !covers(b, &bs, &be) || (as <= be && bs <= ae))
				continue;
			if (bs < as) { /* the earlier first */
				const struct capfile *t = a;
				double ts = as, te = ae;

				a = b, as = bs, ae = be;
				b = t, bs = ts, be = te;
			}
			capfile_fmt_time(ae, t1, sizeof(t1));
			capfile_fmt_time(bs, t2, sizeof(t2));
			if (strcmp(a->info.host, b->info.host))
				elog("%s (host %s) and %s (host %s) do not overlap in time (the first ends %s, the "
				     "second starts %s): their joins pair connections that were never open at once",
				     a->path, a->info.host, b->path, b->info.host, t1, t2);
			else
				elog("%s and %s (host %s%s) do not overlap in time (the first ends %s, the second "
				     "starts %s): their joins pair connections that were never open at once", a->path,
				     b->path, a->info.host,
				     a->info.boot_id[0] && b->info.boot_id[0] &&
						     strcmp(a->info.boot_id, b->info.boot_id)
					     ? ", rebooted between them" : "", t1, t2);
		}
}

/* The indexes follow the models: drop them once the joins are printed. */
void drop_join_indexes(struct capfile *files, int nfiles)
{
	for (int fi = 0; fi < nfiles; fi++) {
		join_index_free(files[fi].jix);
		files[fi].jix = NULL;
	}
}
