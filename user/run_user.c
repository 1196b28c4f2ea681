// SPDX-License-Identifier: GPL-2.0
/* run_user.c - whom `rcleak run` runs CMD as: --user, or SUDO_USER. */
#include <errno.h>
#include <grp.h>
#include <paths.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* SUDO_USER (var) names nobody here. sudo itself refuses a user with no
 * passwd entry ("you do not exist in the passwd database"), so the name
 * comes from another passwd (a chroot entered under sudo, a container that
 * was given the variable) or is stale. Refused, not run as SUDO_UID: which
 * user CMD runs as is not guessed from a second leftover variable by a
 * program running as root; the line gives the --user that would. So is a
 * DOAS_USER of nobody's (doas gives no uid). */
static void sudo_unknown(const char *var, const char *name)
{
	const char *sudo_uid = strcmp(var, "SUDO_USER") ? NULL : getenv("SUDO_UID");
	uid_t uid;

	if (sudo_uid && parse_uid(sudo_uid, &uid))
		elog("unknown user '%s' in SUDO_USER, whom CMD would run as: give --user USER "
		     "(--user %u for SUDO_UID's uid)", name, (unsigned)uid);
	else
		elog("unknown user '%s' in %s, whom CMD would run as: give --user USER", name, var);
}

/* The user sudo ran us for, when sudo set SUDO_UID (uid): the uid sudo
 * took from the kernel, whoever ran it. SUDO_USER (name) is only the name
 * sudo looked that uid up as, and looked up again here, a name two passwd
 * entries share (a user re-added with a new uid, an LDAP entry next to a
 * local one) gave the first entry's uid, another user's: CMD ran as him.
 * The name's entry when its uid is SUDO_UID (its groups are the name's),
 * else SUDO_UID's entry when it has that name. Two that do not agree (a
 * leftover variable, another passwd's) are refused, as an unknown
 * SUDO_USER is: whom CMD runs as is not guessed. NULL: refused (message
 * given). */
static struct passwd *sudo_entry(const char *name, uid_t uid)
{
	struct passwd *pw = getpwnam(name);
	bool known = pw != NULL;
	uid_t named = known ? pw->pw_uid : 0; /* getpwuid() reuses pw */
	char whose[96];

	if (known && named == uid)
		return pw;
	pw = getpwuid(uid);
	if (pw && !strcmp(pw->pw_name, name))
		return pw;
	if (!known && !pw) {
		sudo_unknown("SUDO_USER", name);
		return NULL;
	}
	if (pw)
		snprintf(whose, sizeof(whose), "user '%s'", pw->pw_name);
	else
		snprintf(whose, sizeof(whose), "no passwd entry");
	if (known)
		elog("SUDO_USER '%s' is uid %u here, but SUDO_UID, the uid that ran sudo, is %u (%s): "
		     "give --user USER (--user %u for SUDO_UID's)", name, (unsigned)named, (unsigned)uid, whose,
		     (unsigned)uid);
	else
		elog("unknown user '%s' in SUDO_USER, but SUDO_UID, the uid that ran sudo, is %u (%s): "
		     "give --user USER (--user %u for SUDO_UID's)", name, (unsigned)uid, whose, (unsigned)uid);
	return NULL;
}

/* No SUDO_USER: the user doas (DOAS_USER, a name: doas sets it to the
 * name of the user who ran it, and nothing else of that user's) or pkexec
 * (PKEXEC_UID, the uid of the process that ran it) ran rcleak for. CMD
 * ran as root under either, where under sudo it runs as the user: a test
 * suite's files left root's in the user's tree, the FILE written as root.
 * Returns 1 (*var: which, *name set for DOAS_USER, *uid for PKEXEC_UID),
 * 0 (neither, or root: CMD stays root) or -1 (refused, message given). */
static int other_invoker(const char **var, const char **name, uid_t *uid)
{
	const char *doas = getenv("DOAS_USER"), *pk = getenv("PKEXEC_UID");

	if (doas && *doas) {
		*var = "DOAS_USER";
		*name = doas;
		return strcmp(doas, "root") ? 1 : 0;
	}
	if (!pk || !*pk)
		return 0;
	*var = "PKEXEC_UID";
	if (!parse_uid(pk, uid)) {
		elog("PKEXEC_UID '%s' is no uid, whom CMD would run as: give --user USER", pk);
		return -1;
	}
	return *uid != 0;
}

int run_user_resolve(const struct rcl_opts *o, struct run_user *u)
{
	const char *name = o->run_user, *var = "SUDO_USER";
	struct passwd *pw;
	uid_t uid;
	int r;

	memset(u, 0, sizeof(*u));
	if (!name && geteuid() == 0) {
		const char *sudo = getenv("SUDO_USER"), *sudo_uid = getenv("SUDO_UID");

		if (!sudo || !*sudo) {
			if ((r = other_invoker(&var, &name, &uid)) <= 0)
				return r;
			if (name) /* DOAS_USER */
				goto named;
			/* PKEXEC_UID, a uid the kernel gave pkexec: taken as
			 * --user UID takes one */
			if ((pw = getpwuid(uid)))
				goto found;
			u->set = u->nopw = true;
			u->uid = uid;
			u->gid = RUN_NOPW_GID;
			snprintf(u->name, sizeof(u->name), "%u", (unsigned)uid);
			return 0;
		}
		if (sudo_uid && parse_uid(sudo_uid, &uid)) {
			/* sudo run by root: CMD stays root, as rcleak is */
			if (uid == 0 && !strcmp(sudo, "root"))
				return 0;
			if (!(pw = sudo_entry(sudo, uid)))
				return -1;
			goto found;
		}
		if (!strcmp(sudo, "root"))
			return 0;
		name = sudo;
	}
	if (!name)
		return 0;
named:
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
			sudo_unknown(var, name);
		return -1;
	}
found:
	u->set = true;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
	return 0;
}

/* Every variable whose name starts with prefix, removed. */
static void unset_prefixed(const char *prefix)
{
	size_t n = strlen(prefix);
	char name[256];

	/* from the start again after each one: unsetenv() moves the rest */
	for (char **e = environ; e && *e;) {
		const char *eq = strchr(*e, '=');
		size_t len = eq ? (size_t)(eq - *e) : 0;

		if (!eq || len >= sizeof(name) || strncmp(*e, prefix, n)) {
			e++;
			continue;
		}
		memcpy(name, *e, len);
		name[len] = '\0';
		if (unsetenv(name))
			e++;
		else
			e = environ;
	}
}

/* The variables that say whose session this is, made u's (pw: its passwd
 * entry, or NULL), as `runuser -u` and `sudo -u` give them: the rest of
 * the environment stays (CI's variables, PATH: CMD is the CI's test
 * suite). HOME, USER, LOGNAME and SHELL from the passwd entry (no entry:
 * its number, HOME / as Docker gives one, SHELL /bin/sh as login(1)
 * takes an empty one); MAIL, when set, u's spool (no entry: unset).
 * Root's leftovers that would send CMD to root's things go:
 * XDG_RUNTIME_DIR (/run/user/0,
 * which CMD cannot use: a "Permission denied" from podman, systemctl
 * --user, pipewire) becomes u's own when logind made it (/run/user/UID,
 * u's directory), else is unset, as is DBUS_SESSION_BUS_ADDRESS unless
 * that directory has the bus; XAUTHORITY (root's X cookie) is unset; and
 * SUDO_* (SUDO_USER, SUDO_UID, SUDO_COMMAND...), which say that this is
 * root under sudo: CMD is not root, and a tool that reads them (to hand
 * files back to SUDO_UID, to refuse to run under sudo) took it for so. */
static void user_env(const struct run_user *u, const struct passwd *pw)
{
	char dir[64], bus[96];
	struct stat st;

	setenv("HOME", pw ? pw->pw_dir : "/", 1);
	setenv("USER", pw ? pw->pw_name : u->name, 1);
	setenv("LOGNAME", pw ? pw->pw_name : u->name, 1);
	setenv("SHELL", pw && pw->pw_shell && *pw->pw_shell ? pw->pw_shell : _PATH_BSHELL, 1);
	if (getenv("MAIL") && pw) {
		char mail[128];

		snprintf(mail, sizeof(mail), "%s/%s", _PATH_MAILDIR, pw->pw_name);
		setenv("MAIL", mail, 1);
	} else {
		unsetenv("MAIL");
	}
	unset_prefixed("SUDO_");
	unsetenv("DOAS_USER");
	unsetenv("PKEXEC_UID");
	unsetenv("XAUTHORITY");
	snprintf(dir, sizeof(dir), "/run/user/%u", (unsigned)u->uid);
	if (!stat(dir, &st) && S_ISDIR(st.st_mode) && st.st_uid == u->uid)
		setenv("XDG_RUNTIME_DIR", dir, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	snprintf(bus, sizeof(bus), "%s/bus", dir);
	if (getenv("XDG_RUNTIME_DIR") && !stat(bus, &st) && S_ISSOCK(st.st_mode) && st.st_uid == u->uid) {
		snprintf(bus, sizeof(bus), "unix:path=%s/bus", dir);
		setenv("DBUS_SESSION_BUS_ADDRESS", bus, 1);
	} else {
		unsetenv("DBUS_SESSION_BUS_ADDRESS");
	}
}

int run_user_become(const struct run_user *u)
{
	struct passwd *pw;

	if (!u->set)
		return 0;
	if ((u->nopw ? setgroups(0, NULL) : initgroups(u->name, u->gid)) || setgid(u->gid) ||
	    setuid(u->uid))
		return errno;
	pw = u->nopw ? NULL : getpwuid(u->uid);
	user_env(u, pw);
	return 0;
}

/* ---- the FILE's identity: rcleak's file-system ids made u's ---- */

/* setgroups() of the calling thread only: glibc's changes every thread's,
 * as POSIX wants of a process; setfsuid() and setfsgid() are a thread's
 * own, and these go with them. */
static int thread_setgroups(int n, const gid_t *list)
{
	return syscall(SYS_setgroups, (size_t)n, list) ? errno : 0;
}

/* setfsuid() and setfsgid() say nothing of a failure: each returns the
 * id before; asked again, the id now. */
static int set_fs_ids(uid_t uid, gid_t gid)
{
	setfsgid(gid);
	if ((gid_t)setfsgid(gid) != gid)
		return EPERM;
	setfsuid(uid);
	if ((uid_t)setfsuid(uid) != uid)
		return EPERM;
	return 0;
}

int run_user_fs_enter(const struct run_user *u, struct run_user_fs *fs)
{
	gid_t *list = NULL;
	int n = 0, e;

	memset(fs, 0, sizeof(*fs));
	if (!u || !u->set || u->uid == 0)
		return 0;
	/* u's groups, as initgroups() gives them to CMD (none without a
	 * passwd entry) */
	if (!u->nopw) {
		int want = 32;

		for (;;) {
			gid_t *l = realloc(list, (size_t)want * sizeof(*l));

			if (!l) {
				free(list);
				return ENOMEM;
			}
			list = l;
			n = want;
			if (getgrouplist(u->name, u->gid, list, &n) >= 0)
				break;
			if (n <= want)
				want *= 2;
			else
				want = n;
		}
	}
	/* rcleak's own, to put back */
	if ((fs->ngroups = getgroups(0, NULL)) < 0) {
		e = errno;
		free(list);
		return e;
	}
	fs->groups = malloc((size_t)(fs->ngroups + 1) * sizeof(gid_t));
	if (!fs->groups || getgroups(fs->ngroups, fs->groups) != fs->ngroups) {
		e = fs->groups ? errno : ENOMEM;
		free(fs->groups);
		free(list);
		fs->groups = NULL;
		return e ? e : EIO;
	}
	fs->fsuid = (uid_t)setfsuid((uid_t)-1);
	fs->fsgid = (gid_t)setfsgid((gid_t)-1);
	fs->on = true;
	/* groups, gid, then uid; run_user_fs_leave() undoes them in the
	 * reverse order */
	if ((e = thread_setgroups(n, list)) || (e = set_fs_ids(u->uid, u->gid))) {
		free(list);
		run_user_fs_leave(fs);
		return e;
	}
	free(list);
	return 0;
}

void run_user_fs_leave(struct run_user_fs *fs)
{
	if (!fs->on)
		return;
	/* back to root's fsuid first: it brings back the file capabilities
	 * the other fsuid dropped */
	setfsuid(fs->fsuid);
	setfsgid(fs->fsgid);
	thread_setgroups(fs->ngroups, fs->groups);
	free(fs->groups);
	fs->groups = NULL;
	fs->on = false;
}
