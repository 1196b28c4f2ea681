/* SPDX-License-Identifier: GPL-2.0 */
/* summary.h - the end-of-run report of `rcleak run`: per-process figures,
 * the threshold rules, and their text, JSON and JUnit renderings. Pure: it
 * reads the model and the options, never the kernel. */
#ifndef RCLEAK_SUMMARY_H
#define RCLEAK_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>
#include "model.h"
#include "opts.h"

/* A process's life, from its start (the kernel's start time) to its exit
 * (dated by the run loop's watch, at most one ~20 ms pass late) or the end
 * of the run, is taken to be at least this long for its connects/s: a
 * shorter one is within the timing error of its exit. Independent of -i. */
#define RUN_MIN_LIFE_S 0.1

struct run_row {
	const struct proc *p;
	bool server;
	long peak_open;
	long leaked;           /* closed by the kernel at its exit */
	long open_at_end;      /* still held when the report was made */
	long opened, closed;   /* its own: what it accepted is not in them */
	long accepted;         /* connections accepted on its listen ports */
	double median_lifetime_ms; /* -1: none */
	double connects_per_s; /* over its lifetime (at least RUN_MIN_LIFE_S) */
	double max_churn;      /* connects/s over 5 s, or its life if shorter */
	long close_wait_max;
	const char *verdict;
};

enum { RULE_MAX_OPEN, RULE_MAX_LEAKED, RULE_MAX_CONNECTS, RULE_MAX_CHURN, RULE_CLOSE_WAIT, RULE__N };

struct run_rule {
	const char *name;
	bool set;
	double threshold;
	double value;
	bool passed;
	char detail[256];
};

struct run_summary {
	char *const *argv;
	double duration_s;
	int cmd_exit;          /* -1: killed by a signal */
	int cmd_signal;        /* 0: exited */
	int exit_code;         /* what rcleak returns */
	int wait_signal;       /* N: signal N cut --wait-children's wait (exit 128+N) */
	const char *unwritten; /* a --json/--junit FILE that could not be written */
	struct run_row *rows;
	size_t nrows;
	const __u16 *ports;    /* the watched ports (the options'), nports of them */
	int nports;
	double close_wait_s;   /* a CLOSE_WAIT counts once held this long (--zombie) */
	long opened, closed, leaked, open_at_end;
	/* events rcleak could not count (collector's lost: a BPF map full,
	 * the hook skipped): the figures may be short by them */
	unsigned long long lost_events;
	struct run_rule rules[RULE__N];
	bool failed;           /* a rule was broken */
};

/* Build the summary from the model at the end of a run. now is model time;
 * start_boot_s, the kernel's boot-time clock when model time was 0 (struct
 * collector's start_boot), converts process start times to model time.
 * Returns 0 or -ENOMEM. */
int summary_build(struct run_summary *s, const struct model *m, const struct rcl_opts *o,
		  double now, double start_boot_s);
void summary_free(struct run_summary *s);

/* Exit code: CMD's failure wins, then a broken threshold, else 0. */
int summary_exit_code(const struct run_summary *s);

void summary_text(FILE *f, const struct run_summary *s);
void summary_json(FILE *f, const struct run_summary *s);
void summary_junit(FILE *f, const struct run_summary *s);

#endif
