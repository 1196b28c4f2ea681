// SPDX-License-Identifier: GPL-2.0
/* probe.c - kernel facts: release, BTF, lockdown, capabilities, tracefs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "log.h"
#include "opts.h"
#include "probe.h"

#define CAP_NET_ADMIN 12
#define CAP_SYS_ADMIN 21
#define CAP_PERFMON 38
#define CAP_BPF 39

/* The active lockdown mode is the one in [brackets]. */
static void read_lockdown(char *out, size_t len)
{
	char buf[128], *l, *r;
	FILE *f = fopen("/sys/kernel/security/lockdown", "r");

	snprintf(out, len, "unknown (securityfs not mounted)");
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f) && (l = strchr(buf, '[')) && (r = strchr(l, ']'))) {
		*r = '\0';
		snprintf(out, len, "%s", l + 1);
	}
	fclose(f);
}

static unsigned long long read_cap_eff(void)
{
	char line[256];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &v) == 1)
			break;
	fclose(f);
	return v;
}

void probe_run(struct rcl_probe *p)
{
	static const char *const tracefs[] = {
		"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events",
	};
	unsigned long long caps = read_cap_eff();
	struct utsname u;

	memset(p, 0, sizeof(*p));
	if (uname(&u) == 0)
		snprintf(p->release, sizeof(p->release), "%s", u.release);
	p->btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	read_lockdown(p->lockdown, sizeof(p->lockdown));
	p->cap_bpf = caps & (1ULL << CAP_BPF);
	p->cap_perfmon = caps & (1ULL << CAP_PERFMON);
	p->cap_sys_admin = caps & (1ULL << CAP_SYS_ADMIN);
	p->cap_net_admin = caps & (1ULL << CAP_NET_ADMIN);
	p->root = geteuid() == 0;
	for (size_t i = 0; i < sizeof(tracefs) / sizeof(tracefs[0]); i++) {
		if (access(tracefs[i], F_OK) == 0) {
			snprintf(p->tracefs, sizeof(p->tracefs), "%s", tracefs[i]);
			break;
		}
		if (errno == EACCES)
			p->tracefs_denied = true;
	}
}

bool probe_privileged(const struct rcl_probe *p)
{
	/* Tracing programs and iterators need CAP_BPF + CAP_PERFMON (or
	 * CAP_SYS_ADMIN on kernels before 5.8, which has both meanings);
	 * reading other processes' /proc entries needs root in practice. */
	return (p->cap_bpf && p->cap_perfmon) || p->cap_sys_admin;
}

/* The kernel's initial PID namespace has this inode number (the kernel's
 * PROC_PID_INIT_INO), on every kernel since 3.8. */
#define INIT_PID_NS_INO 0xeffffffcUL

/* Is rcleak in a PID namespace other than the host's? The BPF side names
 * processes by the kernel's (the host's) pids, and rcleak knows itself,
 * and `run` CMD's tree, by getpid(): in a container without --pid=host the
 * live view and record showed no process at all (the holders' pids are
 * not the container's /proc's), and run saw none of CMD's connections or,
 * as the container's pid 1, every process of the host as CMD's tree. A
 * /proc that does not show rcleak tells nothing: not refused. */
static bool own_pid_ns(void)
{
	struct stat st;

	return !stat("/proc/self/ns/pid", &st) && st.st_ino != INIT_PID_NS_INO;
}

int probe_preflight(void)
{
	struct rcl_probe p;

	probe_run(&p);
	if (!probe_privileged(&p)) {
		elog("needs root (CAP_BPF, CAP_PERFMON): run with sudo");
		return RCL_EXIT_PRIV;
	}
	if (!p.btf) {
		elog("kernel has no BTF (/sys/kernel/btf/vmlinux): needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
		return RCL_EXIT_KERNEL;
	}
	if (own_pid_ns()) {
		elog("in a PID namespace of its own (a container), the kernel's pids name no process "
		     "rcleak can see: run it in the host's (docker run --pid=host)");
		return RCL_EXIT_ERROR;
	}
	return 0;
}
