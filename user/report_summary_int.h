/* SPDX-License-Identifier: GPL-2.0 */
/*
 * report_summary_int.h - what the parts of the summary share:
 * report_summary.c watches the ticks go by and settles the rows,
 * report_joins.c joins server connections across the files, and
 * report_summary_text.c and report_summary_json.c print.
 */
#ifndef RCLEAK_REPORT_SUMMARY_INT_H
#define RCLEAK_REPORT_SUMMARY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include "capfile.h"
#include "model.h"
#include "report_summary.h"

/* The holders of a full server's slots the summary names, most first. */
#define SUMMARY_FULL_BY 5

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
	double max_growth;       /* over half the window at least (growth_held), */
	bool growth_held;        /* ... or, till one spans that, over less */
	__u64 opened, closed, leaked;
	unsigned verdicts;       /* bit per enum verdict seen */
	double first_verdict_at[V_FD_LIMIT + 1];
	char rule[V_FD_LIMIT + 1][112];
	/* each verdict at its worst (the most connects/s of a CHURN, the
	 * fastest growth of a LEAK, ...): its first rule is of the moment it
	 * crossed the threshold, a storm's 10 connects/s at 96 */
	double worst_at[V_FD_LIMIT + 1]; /* 0: none but the first */
	double worst_val[V_FD_LIMIT + 1];
	double first_val[V_FD_LIMIT + 1];
	char worst_rule[V_FD_LIMIT + 1][112];
	long clients_max;        /* servers: from peaks.c, before printing */
	bool limits;             /* a refresh saw it listen: the limits below */
	long effective_limit;
	long maxclients;
	const char *maxclients_source;
	long long nofile;        /* the limit's: the lowest nofile_soft seen */
	/* servers: the headroom of each refresh that saw it listen (clients
	 * and rcleak's links, and a replica's link to its master, against
	 * the effective limit) */
	bool have_room;
	long room_min;           /* the lowest, first reached at room_min_at */
	double room_min_at;
	unsigned long full_ticks; /* refreshes at headroom 0 (or under) */
	double full_at;          /* wall: the first of them; 0: never full */
	bool full_between;       /* full_at is between refreshes (peaks.c's),
				  * none of which saw it full: no holders */
	long full_clients, full_links, full_master, full_cluster, full_limit; /* at full_at */
	long full_nholders;      /* local processes holding its clients then */
	struct {
		__u32 pid;
		char comm[RCL_COMM_LEN];
		long count;
	} full_by[SUMMARY_FULL_BY];
	int nfull_by;
};

/* One client process in another file holding count of a server's
 * connections (join_server). */
struct join_count {
	int file;
	__u32 pid;
	char comm[RCL_COMM_LEN];
	long count;
};

/* ---- report_summary.c ---- */

/* Events this long after the last refresh: it was not the recording's
 * end (the recorder killed), and the summary says so. */
bool tail_long(const struct capfile *f);
/* The wall times a file's refreshes span; with none complete, the header's
 * start for both. */
void span_of(const struct capfile *f, double *start, double *end);

/* Was verdict k of s at its worst enough worse than when it first fired
 * to be said apart? */
bool summary_worse(const struct seen_proc *s, int k);

/* ---- report_joins.c ---- */

/* For server proc srv of file fi: count its accepted connections whose
 * other end a process in another file holds, into out (at most max); how
 * many entries. Builds the files' join indexes on the way. */
size_t join_server(struct capfile *files, int nfiles, int fi, const struct proc *srv,
		   struct join_count *out, size_t max);
/* The indexes follow the models: drop them once the joins are printed. */
void drop_join_indexes(struct capfile *files, int nfiles);
/* One line on stderr for each pair of files of one host whose times do
 * not overlap. */
void warn_spans_apart(const struct capfile *files, int nfiles);

/* ---- the printers ---- */

void summary_text_out(struct capfile *files, int nfiles);
void summary_json_out(struct capfile *files, int nfiles, const struct summary_skip *skips, int nskips);

#endif
