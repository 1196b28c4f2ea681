// SPDX-License-Identifier: GPL-2.0
/*
 * hookfloor - attach an empty tp_btf program to sock:inet_sock_set_state
 * (the hook rcleak's lifecycle program uses) and hold it until SIGINT or
 * SIGTERM. The benchmarks run it as a tracer: its overhead is the floor any
 * program on this hook pays (the kernel's call into BPF), so rcleak's cost
 * above it is rcleak's own. With --clock, the program reads the clock
 * (bpf_ktime_get_ns) once a run, and nothing else.
 *
 *   hookfloor [--clock]  (root; exit 0 after a signal, 1 when it cannot
 *                         attach, 2 on a bad argument)
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "hookfloor.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct hookfloor_bpf *skel;
	bool clock;
	int err;

	clock = argc == 2 && !strcmp(argv[1], "--clock");
	if (argc > 2 || (argc == 2 && !clock)) {
		fprintf(stderr, "usage: hookfloor [--clock] (stop it with SIGINT or SIGTERM)\n");
		return 2;
	}
	libbpf_set_print(quiet);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	skel = hookfloor_bpf__open();
	if (skel) {
		bpf_program__set_autoload(skel->progs.floor_state, !clock);
		bpf_program__set_autoload(skel->progs.floor_clock, clock);
		if (hookfloor_bpf__load(skel)) {
			err = errno;
			hookfloor_bpf__destroy(skel);
			skel = NULL;
			errno = err;
		}
	}
	if (!skel) {
		err = errno;
		fprintf(stderr, "hookfloor: cannot load the program: %s (needs root and kernel BTF)\n",
			strerror(err));
		return 1;
	}
	err = hookfloor_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "hookfloor: cannot attach to tp_btf/inet_sock_set_state: %s\n",
			strerror(-err));
		hookfloor_bpf__destroy(skel);
		return 1;
	}
	while (!stop)
		pause();
	hookfloor_bpf__destroy(skel);
	return 0;
}
