/* SPDX-License-Identifier: GPL-2.0 */
/* run_out.h - where `rcleak run`'s summary goes: --json/--junit FILE, stderr. */
#ifndef RCLEAK_RUN_OUT_H
#define RCLEAK_RUN_OUT_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include "run_user.h"
#include "summary.h"

/* A --json or --junit FILE: its name, and the file rcleak checked it as. */
struct out_file {
	const char *path;
	int fd;       /* the file checked, kept open; -1: a device, opened at the end */
	bool created; /* made by the check: removed when no summary is written */
	bool std;     /* fd: rcleak's (and CMD's) stdout or stderr, written on */
	bool fifo;    /* fd: a FIFO (or a pipe's name), held open from the check */
	/* CMD's user (--user, SUDO_USER), as whom FILE is opened, made and
	 * removed: the kernel lets rcleak write only where that user may
	 * (run_user_fs_enter()). NULL: as rcleak (root). */
	const struct run_user *as;
};

/* A FIFO's reader: how long the check waits for one to open it, and how
 * long the summary waits for one that takes nothing (run_out.c). */
#define RUN_OUT_READER_WAIT_S 5
#define RUN_OUT_STALL_S 10

/* run_out_check(): a signal came while it waited for a FIFO's reader */
#define RUN_OUT_STOPPED (-2)

/* Before CMD runs: can rcleak write f->path? Keeps the regular file open
 * in f. stop: set by a signal handler; once it is non-zero, the wait for
 * a FIFO's reader ends at once. Returns 0, -1 (message given) or
 * RUN_OUT_STOPPED (nothing said: the caller says why it stops). */
int run_out_check(struct out_file *f, const volatile sig_atomic_t *stop);

/* --json and --junit, both checked, are one regular file. */
bool run_out_same(const struct out_file *a, const struct out_file *b);

/* Before anything is opened (and before the privilege check): do names a
 * and b lead to one regular file, there now, or both new in one folder? */
bool run_out_same_name(const char *a, const char *b);

/* The summary, rendered by render, into the file f checked. Returns 0 or
 * -1 (message given). */
int run_out_write(struct out_file *f, const struct run_summary *s,
		  void (*render)(FILE *, const struct run_summary *));

/* No summary for f: close it, remove a file the check made. */
void run_out_drop(struct out_file *f);

/* The text summary onto stderr. Returns 0 or the errno of the failed write. */
int run_out_stderr(const struct run_summary *s);

#endif
