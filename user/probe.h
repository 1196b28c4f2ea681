/* SPDX-License-Identifier: GPL-2.0 */
/* probe.h - what the running kernel and this process allow. Read-only:
 * nothing is loaded or mounted here (hook tiers are tried by tracer.c). */
#ifndef RCLEAK_PROBE_H
#define RCLEAK_PROBE_H

#include <stdbool.h>
#include <stddef.h>

struct rcl_probe {
	char release[128];     /* uname -r */
	bool btf;              /* /sys/kernel/btf/vmlinux readable */
	char lockdown[64];     /* none / integrity / confidentiality / unknown */
	bool cap_bpf, cap_perfmon, cap_sys_admin, cap_net_admin;
	bool root;
	char tracefs[64];      /* mounted tracefs events dir, "" if none */
	bool tracefs_denied;   /* none this user may see (tracefs is root's) */
};

void probe_run(struct rcl_probe *p);

/* True when the capabilities suffice to load and attach our programs. */
bool probe_privileged(const struct rcl_probe *p);

/* The checks every command that loads BPF makes first: privileges, BTF,
 * then the host's PID namespace. Returns 0, or the exit code
 * (RCL_EXIT_PRIV, RCL_EXIT_KERNEL, RCL_EXIT_ERROR) after a one-line
 * message on stderr saying what to do. */
int probe_preflight(void);

#endif
