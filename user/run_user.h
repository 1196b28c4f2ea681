/* SPDX-License-Identifier: GPL-2.0 */
/* run_user.h - whom `rcleak run` runs CMD as: --user USER (a name, or a
 * uid), or under sudo SUDO_USER (doas: DOAS_USER, pkexec: PKEXEC_UID). */
#ifndef RCLEAK_RUN_USER_H
#define RCLEAK_RUN_USER_H

#include <stdbool.h>
#include <sys/types.h>
#include "opts.h"

struct run_user {
	bool set;
	bool nopw;      /* a uid with no passwd entry: no groups, HOME=/ */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* --user USER, or the user sudo ran us for (SUDO_UID/SUDO_USER), else
 * doas (DOAS_USER) or pkexec (PKEXEC_UID) (set false: none, CMD runs as
 * rcleak). USER is a name first, else a uid when all digits, as
 * `pgrep -u` and `ps -u` take it: a name that is all digits and exists is
 * that user. Returns 0 or -1 (message given). */
int run_user_resolve(const struct rcl_opts *o, struct run_user *u);

/* In CMD's child, before exec: take u's groups, gid and uid, and its
 * environment (HOME, USER, LOGNAME, SHELL, XDG_RUNTIME_DIR; root's SUDO_*
 * and XAUTHORITY dropped: run_user.c). Nothing when !u->set. Returns 0 or
 * the errno of the call that failed. */
int run_user_become(const struct run_user *u);

/* rcleak's file-system identity (fsuid, fsgid, supplementary groups) made
 * u's for a while, in the calling thread only, its other ids (root's)
 * kept: what it opens, makes or removes then, the kernel checks as for u
 * (every folder searched, every symlink followed, the file's mode), and a
 * file it makes is u's. rcleak's --json/--junit FILE under --user or
 * sudo (run_out.c). */
struct run_user_fs {
	bool on;
	uid_t fsuid;
	gid_t fsgid;
	int ngroups;
	gid_t *groups; /* rcleak's own, put back by run_user_fs_leave() */
};

/* Take u's file-system identity (nothing when !u, or u is root): 0, or
 * the errno of the call that failed (rcleak's own identity kept). */
int run_user_fs_enter(const struct run_user *u, struct run_user_fs *fs);

/* rcleak's own file-system identity back (nothing when not entered). */
void run_user_fs_leave(struct run_user_fs *fs);

#endif
