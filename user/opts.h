/* SPDX-License-Identifier: GPL-2.0 */
/* opts.h - command line of rcleak: subcommands, options, validation.
 * Pure: no kernel, no I/O besides the error buffer; unit-tested. */
#ifndef RCLEAK_OPTS_H
#define RCLEAK_OPTS_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <linux/types.h>
#include "rcleak.h"

/* Documented exit codes (README, --help). */
enum {
	RCL_EXIT_OK = 0,
	RCL_EXIT_ERROR = 1,   /* runtime failure (load, attach, read) */
	RCL_EXIT_USAGE = 2,   /* bad command line */
	RCL_EXIT_PRIV = 3,    /* not root / missing CAP_BPF, CAP_PERFMON */
	RCL_EXIT_KERNEL = 4,  /* kernel lacks what rcleak needs (BTF, hooks) */
	RCL_EXIT_THRESHOLD = 5, /* rcleak run: a threshold was broken */
	RCL_EXIT_INCOMPLETE = 6, /* rcleak report: a file was cut short or damaged */
	RCL_EXIT_NOEXEC = 127,  /* rcleak run: CMD could not be executed */
};

#define RCL_MAX_FILES 16 /* captures one 'rcleak report' reads */

/* the verdict thresholds, one bit each (rcl_opts.thresholds_given) */
enum {
	RCL_TH_IDLE = 1, RCL_TH_LEAK = 2, RCL_TH_CHURN = 4, RCL_TH_LIFE = 8, RCL_TH_ZOMBIE = 16,
	RCL_TH_ZOMBIE_IDLE = 32, RCL_TH_FD_LIMIT = 64,
};

enum rcl_cmd { RCL_CMD_LIVE, RCL_CMD_DOCTOR, RCL_CMD_HELP, RCL_CMD_VERSION, RCL_CMD_RUN,
	       RCL_CMD_RECORD, RCL_CMD_REPORT };
enum rcl_view { RCL_VIEW_AUTO, RCL_VIEW_PLAIN, RCL_VIEW_JSON, RCL_VIEW_TUI };
enum rcl_hooks { RCL_HOOKS_AUTO, RCL_HOOKS_TP_BTF, RCL_HOOKS_RAW_TP, RCL_HOOKS_TRACEPOINT };
enum rcl_walk { RCL_WALK_AUTO, RCL_WALK_ITER, RCL_WALK_PROC };

struct rcl_opts {
	enum rcl_cmd cmd;
	enum rcl_view view;
	enum rcl_hooks hooks;
	enum rcl_walk walk;
	__u16 ports[RCL_MAX_PORTS];
	int nports;
	double interval_s;   /* > 0 */
	double duration_s;   /* 0: until signalled */
	long count;          /* 0: unlimited */
	double window_s;     /* growth window */
	double reconcile_s;  /* 0: never */
	int pid;             /* 0: all */
	char comm[16];       /* "": all */
	long maxclients;     /* 0: discover */
	bool ask_redis;
	const char *redis_user; /* --ask-redis's ACL user (AUTH user pw); NULL: default */
	int verbose;
	/* rcleak run */
	char **run_argv;     /* CMD and its arguments (points into argv) */
	const char *run_user;
	const char *json_path, *junit_path;
	long max_open, max_leaked, max_connects; /* -1: not set */
	double max_churn;    /* connects/s; < 0: not set */
	bool fail_on_close_wait;
	double wait_children_s; /* 0: do not wait for CMD's descendants */
	bool interval_set, window_set, reconcile_set;
	unsigned thresholds_given; /* RCL_TH_* given: a report keeps the others recorded */
	/* rcleak record */
	const char *write_path;
	bool force;
	double ring_s;          /* > 0: flight recorder keeping this many seconds */
	double trigger_headroom; /* < 0: off */
	const char *trigger_verdict;
	double after_s;
	bool after_set;         /* --after given: only with --ring */
	bool speed_set;         /* --speed given: only with report --replay */
	/* rcleak report */
	char **files;           /* capture files, NULL-terminated (file_list) */
	char *file_list[RCL_MAX_FILES + 1];
	const char *at;         /* --at TIME */
	bool csv, replay;
	bool all;               /* --all: not the --pid/--comm a capture was recorded with */
	double speed;
	/* verdict thresholds (see model_thresholds) */
	double idle_s, leak_per_min, churn_per_s, churn_life_ms, zombie_s, zombie_idle_s, fd_limit_pct;
};

/* Parse "6379,6380,7000-7005" into ports[] (sorted, deduplicated).
 * Returns the count, or -1 with a message in err. */
int opts_parse_ports(const char *s, __u16 *ports, int max, char *err, size_t errlen);

/* ports[n] (sorted) as "6379,7000-7005" in buf: runs of three or more as
 * ranges; those that do not fit are counted (" +12 more"). */
void opts_ports_str(const __u16 *ports, int n, char *buf, size_t len);

/* Parse argv into o (defaults first). Returns 0, or -1 with a one-line
 * message (without the "rcleak: " prefix) in err: a usage error. */
int opts_parse(struct rcl_opts *o, int argc, char **argv, char *err, size_t errlen);

const char *opts_hooks_name(enum rcl_hooks h);

/* Full --help text. */
void opts_usage(FILE *f);

#endif
