// SPDX-License-Identifier: GPL-2.0
/*
 * fakesock - hand rcleak's lifecycle program the state changes of one
 * socket that does not exist, one by one, and withhold the ones a test
 * names: what the kernel does when its hook delivers a change to no
 * program (a burst under a softirq storm, bench/NOTES.md) or skips only
 * rcleak's lifecycle program (a run nested in another on one CPU, which
 * `rcleak record`'s twin then does). Those paths cannot be reached on
 * purpose with a real socket: nothing withholds one delivery of the hook.
 *
 * rcleak must run with --hooks raw_tp: that flavour reads the socket with
 * probe reads, and BPF_PROG_TEST_RUN can run it with any arguments. The
 * socket is an image in kernel memory (fakesock.bpf.c) with an IPv4 TCP
 * socket's fields where this kernel has them: family, ports, addresses,
 * protocol, type, sk_shutdown, and the network namespace of this process.
 * The programs are those of the rcleak process PID (its parent by default,
 * as under `rcleak run -- fakesock ...`): rcl_state_raw, and rcl_twin_raw
 * when that process holds it (record), run after it as the kernel runs it.
 * A state change in process context (a connect, a close) is made by this
 * process; this process stays on CPU 0, where the lifecycle program's notes
 * for its twin are.
 *
 *   fakesock [--pid PID] LADDR:LPORT RADDR:RPORT STEP...
 *     OLD>NEW   the change reaches the lifecycle program (and its twin)
 *     !OLD>NEW  the change reaches no program
 *     ~OLD>NEW  the change reaches the twin only
 *     shut      from here on, sk_shutdown is SHUTDOWN_MASK (tcp_close ran)
 *     sleep:MS  wait MS milliseconds (at most 10000)
 *   States: ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 TIME_WAIT
 *   CLOSE CLOSE_WAIT LAST_ACK LISTEN CLOSING.
 *
 * Prints `sk 0xADDR` (the socket's number in rcleak's table) and, for each
 * change, `step STEP REALTIME_NS`. Exit 0; 1 when something fails (the
 * reason on stderr); 2 on a bad argument.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "fakesock.h"
#include "fakesock.skel.h"

#define SHUTDOWN_MASK 3

static const char *const state_names[] = {
	[1] = "ESTABLISHED", [2] = "SYN_SENT", [3] = "SYN_RECV", [4] = "FIN_WAIT1",
	[5] = "FIN_WAIT2", [6] = "TIME_WAIT", [7] = "CLOSE", [8] = "CLOSE_WAIT",
	[9] = "LAST_ACK", [10] = "LISTEN", [11] = "CLOSING",
};

static int state_of(const char *s, size_t n)
{
	for (int i = 1; i < (int)(sizeof(state_names) / sizeof(state_names[0])); i++)
		if (strlen(state_names[i]) == n && !strncmp(state_names[i], s, n))
			return i;
	return -1;
}

/* "OLD>NEW" -> 0 and the two states; -1 when it is not one */
static int parse_change(const char *s, int *old, int *new)
{
	const char *gt = strchr(s, '>');

	if (!gt)
		return -1;
	*old = state_of(s, (size_t)(gt - s));
	*new = state_of(gt + 1, strlen(gt + 1));
	return *old > 0 && *new > 0 ? 0 : -1;
}

static int parse_end(const char *s, struct in_addr *a, __u16 *port)
{
	char buf[64];
	char *colon, *end;
	unsigned long p;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	colon = strrchr(buf, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || !colon[1] || *end || p == 0 || p > 65535 || inet_pton(AF_INET, buf, a) != 1)
		return -1;
	*port = (__u16)p;
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: fakesock [--pid PID] LADDR:LPORT RADDR:RPORT STEP...\n"
			"  STEP: OLD>NEW, !OLD>NEW (to no program), ~OLD>NEW (to the twin only),\n"
			"        shut, sleep:MS\n");
	return 2;
}

/* The program named name among those the process pid holds: an fd, or -1. */
static int prog_of(int pid, const char *name)
{
	char path[64], line[256];
	struct dirent *d;
	DIR *dir;
	int found = -1;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while (found < 0 && (d = readdir(dir))) {
		char p[384];
		FILE *f;

		snprintf(p, sizeof(p), "%s/%s", path, d->d_name);
		f = fopen(p, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);
			unsigned int id;
			int fd;

			if (sscanf(line, "prog_id: %u", &id) != 1)
				continue;
			fd = bpf_prog_get_fd_by_id(id);
			if (fd < 0)
				break;
			if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strcmp(info.name, name)) {
				found = fd;
				break;
			}
			close(fd);
			break;
		}
		fclose(f);
	}
	closedir(dir);
	return found;
}

static int run_prog(int fd, __u64 sk, int old, int new)
{
	__u64 args[3] = { sk, (__u64)old, (__u64)new };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));

	return fd < 0 ? 0 : bpf_prog_test_run_opts(fd, &o);
}

static void put(struct fake_image *img, __u32 off, const void *v, size_t n)
{
	if (off + n <= sizeof(img->b))
		memcpy(img->b + off, v, n);
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_test_run_opts, once);
	struct fakesock_bpf *skel = NULL;
	struct fake_image img = {};
	struct fake_layout *l;
	struct in_addr la, ra;
	__u16 lport, rport, v16;
	int pid = getppid(), first = 1, state_fd = -1, twin_fd = -1, rc = 1;
	__u32 zero = 0;
	cpu_set_t cpu;
	char *end;

	if (argc > 2 && !strcmp(argv[1], "--pid")) {
		errno = 0;
		pid = (int)strtol(argv[2], &end, 10);
		if (errno || !*argv[2] || *end || pid <= 0)
			return usage();
		first = 3;
	}
	if (argc - first < 3 || parse_end(argv[first], &la, &lport) ||
	    parse_end(argv[first + 1], &ra, &rport))
		return usage();
	for (int i = first + 2; i < argc; i++) {
		const char *s = argv[i];
		int o, n;

		if (!strncmp(s, "sleep:", 6)) {
			errno = 0;
			if (strtoul(s + 6, &end, 10) > 10000 || errno || !s[6] || *end || s[6] == '-') {
				fprintf(stderr, "fakesock: sleep:MS takes 0 to 10000 ms: %s\n", s);
				return 2;
			}
		} else if (strcmp(s, "shut") && parse_change(s + (s[0] == '!' || s[0] == '~'), &o, &n)) {
			fprintf(stderr, "fakesock: not a step: %s\n", s);
			return usage();
		}
	}
	CPU_ZERO(&cpu);
	CPU_SET(0, &cpu);
	if (sched_setaffinity(0, sizeof(cpu), &cpu)) {
		perror("fakesock: sched_setaffinity CPU 0");
		return 1;
	}
	libbpf_set_print(quiet);
	state_fd = prog_of(pid, "rcl_state_raw");
	if (state_fd < 0) {
		fprintf(stderr, "fakesock: process %d holds no rcl_state_raw program (rcleak --hooks raw_tp?)\n", pid);
		goto cleanup;
	}
	twin_fd = prog_of(pid, "rcl_twin_raw");
	for (int i = first + 2; twin_fd < 0 && i < argc; i++)
		if (argv[i][0] == '~') {
			fprintf(stderr, "fakesock: %s: process %d holds no twin (rcl_twin_raw: rcleak record)\n",
				argv[i], pid);
			goto cleanup;
		}
	skel = fakesock_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "fakesock: cannot load its BPF object: %s\n", strerror(errno));
		goto cleanup;
	}
	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.layout), &once) || once.retval) {
		fprintf(stderr, "fakesock: the layout program failed (errno %d, returned %u)\n", errno, once.retval);
		goto cleanup;
	}
	l = &skel->bss->layout_out;
	if (l->size > sizeof(img.b) || l->protocol_size != 2) {
		fprintf(stderr, "fakesock: this kernel's tcp_sock (%u bytes) or sk_protocol (%u) does not fit\n",
			l->size, l->protocol_size);
		goto cleanup;
	}
	v16 = AF_INET;
	put(&img, l->family, &v16, 2);
	put(&img, l->num, &lport, 2);
	v16 = htons(rport);
	put(&img, l->dport, &v16, 2);
	put(&img, l->rcv_saddr, &la.s_addr, 4);
	put(&img, l->daddr, &ra.s_addr, 4);
	put(&img, l->netp, &l->net, 8);
	v16 = IPPROTO_TCP;
	put(&img, l->protocol, &v16, 2);
	v16 = SOCK_STREAM;
	put(&img, l->type, &v16, 2);
	v16 = htons(lport);
	put(&img, l->sport, &v16, 2);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.image), &zero, &img, BPF_ANY)) {
		perror("fakesock: writing the socket image");
		goto cleanup;
	}
	printf("sk 0x%llx\n", (unsigned long long)l->addr);
	for (int i = first + 2; i < argc; i++) {
		const char *s = argv[i];
		struct timespec ts;
		int o, n;

		if (!strncmp(s, "sleep:", 6)) {
			unsigned long ms = strtoul(s + 6, NULL, 10);
			struct timespec d = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

			while (nanosleep(&d, &d) && errno == EINTR)
				;
			continue;
		}
		if (!strcmp(s, "shut")) {
			/* the bits of sk_shutdown as CO-RE reads a bitfield: the
			 * field's bytes into a u64, shifted left then right */
			__u32 width = 64 - l->shutdown_rshift, lo = l->shutdown_rshift - l->shutdown_lshift;
			__u64 word = 0;

			memcpy(&word, img.b + l->shutdown, l->shutdown_size);
			word |= (((1ULL << width) - 1) & SHUTDOWN_MASK) << lo;
			put(&img, l->shutdown, &word, l->shutdown_size);
			if (bpf_map_update_elem(bpf_map__fd(skel->maps.image), &zero, &img, BPF_ANY)) {
				perror("fakesock: writing the socket image");
				goto cleanup;
			}
			continue;
		}
		parse_change(s + (s[0] == '!' || s[0] == '~'), &o, &n);
		clock_gettime(CLOCK_REALTIME, &ts);
		if ((s[0] != '!' && s[0] != '~' && run_prog(state_fd, l->addr, o, n)) ||
		    (s[0] != '!' && run_prog(twin_fd, l->addr, o, n))) {
			fprintf(stderr, "fakesock: running rcleak's program for %s: %s\n", s, strerror(errno));
			goto cleanup;
		}
		printf("step %s %lld\n", s, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	}
	rc = 0;
cleanup:
	fflush(stdout);
	fakesock_bpf__destroy(skel);
	if (state_fd >= 0)
		close(state_fd);
	if (twin_fd >= 0)
		close(twin_fd);
	return rc;
}
