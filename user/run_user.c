// SPDX-License-Identifier: GPL-2.0
/* run_user.c - whom `rcleak run` runs CMD as: --user, or SUDO_USER. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "run_user.h"

/* A uid with no passwd entry runs with this group, not root's 0 (Docker's
 * `--user 1234` gets gid 0): the unprivileged overflow gid, "nogroup". */
#define RUN_NOPW_GID 65534

/* "54321" as a uid: digits only, below (uid_t)-1 (which means "no uid" to
 * setuid's family). Returns false for anything else. */
static bool parse_uid(const char *s, uid_t *uid)
{
	unsigned long long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
		if (v >= (uid_t)-1)
			return false;
	}
	*uid = (uid_t)v;
	return true;
}

int run_user_resolve(const struct rcl_opts *o, struct run_user *u)
{
	const char *name = o->run_user;
	struct passwd *pw;
	uid_t uid;

	memset(u, 0, sizeof(*u));
	if (!name) {
		const char *sudo = getenv("SUDO_USER");

		if (!sudo || !*sudo || geteuid() != 0 || !strcmp(sudo, "root"))
			return 0;
		name = sudo;
	}
	pw = getpwnam(name);
	if (!pw && o->run_user && parse_uid(name, &uid)) {
		u->set = true;
		u->uid = uid;
		pw = getpwuid(uid);
		if (!pw) { /* a container's or a CI runner's uid */
			u->nopw = true;
			u->gid = RUN_NOPW_GID;
			snprintf(u->name, sizeof(u->name), "%s", name);
			return 0;
		}
	}
	if (!pw) {
		/* "for --user" sent someone who gave no --user looking for one */
		if (o->run_user)
			elog("unknown user '%s' for --user: give a user name, or a uid (digits, below %u)",
			     name, (unsigned)(uid_t)-1);
		else
			elog("unknown user '%s' in SUDO_USER, whom CMD would run as: give --user USER", name);
		return -1;
	}
	u->set = true;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
	return 0;
}

int run_user_become(const struct run_user *u)
{
	struct passwd *pw;

	if (!u->set)
		return 0;
	if ((u->nopw ? setgroups(0, NULL) : initgroups(u->name, u->gid)) || setgid(u->gid) ||
	    setuid(u->uid))
		return errno;
	/* a clean environment for the user, as sudo -u would */
	pw = u->nopw ? NULL : getpwuid(u->uid);
	/* no passwd entry: its number, and HOME / (as Docker gives one), not
	 * root's /root left over */
	setenv("HOME", pw ? pw->pw_dir : "/", 1);
	setenv("USER", pw ? pw->pw_name : u->name, 1);
	setenv("LOGNAME", pw ? pw->pw_name : u->name, 1);
	return 0;
}
