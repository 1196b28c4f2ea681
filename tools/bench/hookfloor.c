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
 *
 *   hookfloor [--clock | --count]  (root; exit 0 after a signal, 1 when it
 *                                   cannot attach, 2 on a bad argument)
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
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
	bool clock, count;
	int err;

	clock = argc == 2 && !strcmp(argv[1], "--clock");
	count = argc == 2 && !strcmp(argv[1], "--count");
	if (argc > 2 || (argc == 2 && !clock && !count)) {
		fprintf(stderr, "usage: hookfloor [--clock | --count] (stop it with SIGINT or SIGTERM)\n");
		return 2;
	}
	libbpf_set_print(quiet);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	skel = hookfloor_bpf__open();
	if (skel) {
		bpf_program__set_autoload(skel->progs.floor_state, !clock && !count);
		bpf_program__set_autoload(skel->progs.floor_clock, clock);
		bpf_program__set_autoload(skel->progs.floor_count, count);
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
