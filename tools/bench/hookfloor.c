// SPDX-License-Identifier: GPL-2.0
/*
 * hookfloor - attach an empty tp_btf program to sock:inet_sock_set_state
 * (the hook rcleak's lifecycle program uses) and hold it until SIGINT or
 * SIGTERM. The benchmarks run it as a tracer: its overhead is the floor any
 * program on this hook pays (the kernel's call into BPF), so rcleak's cost
 * above it is rcleak's own. With --clock, the program reads the clock
 * (bpf_ktime_get_ns) once a run, and nothing else. With --count, it counts
 * the handshakes (SYN_SENT -> ESTABLISHED) and accepts (LISTEN -> SYN_RECV)
 * the hook delivered, and prints them with the runs the kernel skipped
 * (recursion_misses) when it stops:
 *   handshakes N accepts N skipped N
 * With --stall PORT MS, every connect() to PORT spends MS milliseconds in
 * the hook, in SYN_SENT before its socket is hashed (a test's tool: started
 * after rcleak, it runs after rcleak's program on the hook).
 *
 *   hookfloor [--clock | --count | --stall PORT MS]
 *       (root; exit 0 after a signal, 1 when it cannot attach, 2 on a bad
 *        argument)
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
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
	unsigned long port = 0, ms = 0;
	bool clock, count, stall;
	char *end;
	int err;

	clock = argc == 2 && !strcmp(argv[1], "--clock");
	count = argc == 2 && !strcmp(argv[1], "--count");
	stall = argc == 4 && !strcmp(argv[1], "--stall");
	if (stall) {
		errno = 0;
		port = strtoul(argv[2], &end, 10);
		stall = !errno && *argv[2] && !*end && port > 0 && port < 65536;
		ms = stall ? strtoul(argv[3], &end, 10) : 0;
		stall = stall && !errno && *argv[3] && !*end && ms > 0 && ms <= 100;
		if (!stall) {
			fprintf(stderr, "hookfloor: --stall needs a port (1-65535) and milliseconds (1-100)\n");
			return 2;
		}
	}
	if (!(argc == 1 || clock || count || stall)) {
		fprintf(stderr, "usage: hookfloor [--clock | --count | --stall PORT MS] "
			"(stop it with SIGINT or SIGTERM)\n");
		return 2;
	}
	libbpf_set_print(quiet);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	skel = hookfloor_bpf__open();
	if (skel) {
		bpf_program__set_autoload(skel->progs.floor_state, argc == 1);
		bpf_program__set_autoload(skel->progs.floor_clock, clock);
		bpf_program__set_autoload(skel->progs.floor_count, count);
		bpf_program__set_autoload(skel->progs.floor_stall, stall);
		skel->rodata->stall_port = (__u16)port;
		skel->rodata->stall_ns = ms * 1000000ull;
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
	if (count) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		unsigned long long hs = 0, acc = 0;

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.floor_count), &info, &len))
			info.recursion_misses = 0;
		for (size_t i = 0; i < sizeof(skel->bss->handshakes) / sizeof(skel->bss->handshakes[0]); i++) {
			hs += skel->bss->handshakes[i];
			acc += skel->bss->accepts[i];
		}
		printf("handshakes %llu accepts %llu skipped %llu\n", hs, acc,
		       (unsigned long long)info.recursion_misses);
	}
	hookfloor_bpf__destroy(skel);
	return 0;
}
