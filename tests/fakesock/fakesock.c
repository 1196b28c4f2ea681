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
 * process, which stays on the CPU it started on: the lifecycle program
 * leaves its notes for the twin on the CPU it runs on.
 *
 *   fakesock [--pid PID] LADDR:LPORT RADDR:RPORT STEP...
 *     OLD>NEW   the change reaches the lifecycle program (and its twin)
 *     !OLD>NEW  the change reaches no program
 *     ~OLD>NEW  the change reaches the twin only
 *     shut      from here on, sk_shutdown is SHUTDOWN_MASK (tcp_close ran)
 *     shut:rcv  from here on, sk_shutdown has RCV_SHUTDOWN (the peer's FIN)
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
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
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

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the image's sk_shutdown bits are placed as CO-RE reads them on little-endian only"
#endif

#define RCV_SHUTDOWN 1
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

/* "OLD>NEW", after an optional ! or ~ -> 0 and the two states; else -1 */
static int parse_change(const char *s, int *old, int *new)
{
	const char *gt;

	s += s[0] == '!' || s[0] == '~';
	gt = strchr(s, '>');
	if (!gt)
		return -1;
	*old = state_of(s, (size_t)(gt - s));
	*new = state_of(gt + 1, strlen(gt + 1));
	return *old > 0 && *new > 0 ? 0 : -1;
}

/* a decimal number in [lo, hi], digits only; -1 when it is not one */
static long number(const char *s, long lo, long hi)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno || *end || v < lo || v > hi ? -1 : v;
}

static int parse_end(const char *s, struct in_addr *a, __u16 *port)
{
	char buf[64];
	char *colon;
	long p;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	colon = strrchr(buf, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	p = number(colon + 1, 1, 65535);
	if (p < 0 || inet_pton(AF_INET, buf, a) != 1)
		return -1;
	*port = (__u16)p;
	return 0;
}

/* a step's shutdown bits (shut, shut:rcv), or 0 when it is not one */
static unsigned int shut_bits(const char *s)
{
	return !strcmp(s, "shut") ? SHUTDOWN_MASK : !strcmp(s, "shut:rcv") ? RCV_SHUTDOWN : 0;
}

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "fakesock: %s: %s (fakesock [--pid PID] LADDR:LPORT RADDR:RPORT STEP...)\n",
		what, arg);
	return 2;
}

/* The program named name among those the process pid holds: an fd, or -1
 * with errno (ENOENT: it holds none). */
static int prog_of(int pid, const char *name)
{
	char path[64], line[256];
	struct dirent *d;
	int found = -1, why = ENOENT;
	DIR *dir;

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
			if (fd < 0) {
				why = errno;
				break;
			}
			if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strcmp(info.name, name))
				found = fd;
			else
				close(fd);
			break;
		}
		fclose(f);
	}
	closedir(dir);
	errno = why;
	return found;
}

static int run_prog(int fd, __u64 sk, int old, int new)
{
	__u64 args[3] = { sk, (__u64)old, (__u64)new };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));

	return fd < 0 ? 0 : bpf_prog_test_run_opts(fd, &o);
}

/* v (n bytes) into field f of the image; -1 when f is not n bytes wide or
 * lies outside this kernel's socket */
static int put(struct fake_image *img, const struct fake_layout *l, struct fake_field f,
	       const void *v, size_t n)
{
	if (f.size != n || f.off + n > l->size)
		return -1;
	memcpy(img->b + f.off, v, n);
	return 0;
}

/* Set bits of sk_shutdown as CO-RE reads a bitfield: the field's bytes
 * into a u64, shifted left by lshift, then right by rshift. */
static int put_shutdown(struct fake_image *img, const struct fake_layout *l, unsigned int bits)
{
	__u32 width = 64 - l->shutdown_rshift, lo = l->shutdown_rshift - l->shutdown_lshift;
	__u64 word = 0;

	if (l->shutdown.size > 8 || l->shutdown.off + l->shutdown.size > l->size || width < 2)
		return -1;
	memcpy(&word, img->b + l->shutdown.off, l->shutdown.size);
	word |= (__u64)bits << lo;
	memcpy(img->b + l->shutdown.off, &word, l->shutdown.size);
	return 0;
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
	__u16 lport, rport, v16, vs[4];
	int pid = getppid(), first = 1, state_fd = -1, twin_fd = -1, rc = 1, cpu, img_fd;
	__u32 zero = 0;
	cpu_set_t set;

	if (argc > 1 && !strcmp(argv[1], "--pid")) {
		long v = argc > 2 ? number(argv[2], 1, INT_MAX) : -1;

		if (v < 0)
			return bad("--pid takes a process id", argc > 2 ? argv[2] : "(none)");
		pid = (int)v;
		first = 3;
	}
	if (argc - first < 3)
		return bad("needs the two ends and at least one step", argc > first ? argv[first] : "(none)");
	if (parse_end(argv[first], &la, &lport))
		return bad("not IPV4ADDR:PORT", argv[first]);
	if (parse_end(argv[first + 1], &ra, &rport))
		return bad("not IPV4ADDR:PORT", argv[first + 1]);
	for (int i = first + 2; i < argc; i++) {
		int o, n;

		if (!strncmp(argv[i], "sleep:", 6)) {
			if (number(argv[i] + 6, 0, 10000) < 0)
				return bad("sleep:MS takes 0 to 10000 ms", argv[i]);
		} else if (!shut_bits(argv[i]) && parse_change(argv[i], &o, &n)) {
			return bad("not a step (OLD>NEW, !OLD>NEW, ~OLD>NEW, shut, shut:rcv, sleep:MS)", argv[i]);
		}
	}
	/* the lifecycle program's notes for its twin are per CPU */
	cpu = sched_getcpu();
	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	if (cpu < 0 || sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "fakesock: cannot stay on CPU %d: %s\n", cpu, strerror(errno));
		return 1;
	}
	libbpf_set_print(quiet);
	state_fd = prog_of(pid, "rcl_state_raw");
	if (state_fd < 0) {
		if (errno == ENOENT)
			fprintf(stderr, "fakesock: process %d holds no rcl_state_raw program "
				"(is it rcleak --hooks raw_tp?)\n", pid);
		else
			fprintf(stderr, "fakesock: cannot read the programs of process %d: %s (root?)\n",
				pid, strerror(errno));
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
	if (l->size > sizeof(img.b)) {
		fprintf(stderr, "fakesock: this kernel's tcp_sock (%u bytes) exceeds the image\n", l->size);
		goto cleanup;
	}
	vs[0] = AF_INET;
	vs[1] = htons(rport);
	vs[2] = IPPROTO_TCP;
	vs[3] = SOCK_STREAM;
	v16 = htons(lport);
	if (put(&img, l, l->family, &vs[0], 2) || put(&img, l, l->num, &lport, 2) ||
	    put(&img, l, l->dport, &vs[1], 2) || put(&img, l, l->rcv_saddr, &la.s_addr, 4) ||
	    put(&img, l, l->daddr, &ra.s_addr, 4) || put(&img, l, l->netp, &l->net, 8) ||
	    put(&img, l, l->protocol, &vs[2], 2) || put(&img, l, l->type, &vs[3], 2) ||
	    put(&img, l, l->sport, &v16, 2) || put_shutdown(&img, l, 0)) {
		fprintf(stderr, "fakesock: this kernel's struct sock is not laid out as expected "
			"(a field of another width, or outside its %u bytes)\n", l->size);
		goto cleanup;
	}
	img_fd = bpf_map__fd(skel->maps.image);
	if (bpf_map_update_elem(img_fd, &zero, &img, BPF_ANY)) {
		perror("fakesock: writing the socket image");
		goto cleanup;
	}
	printf("sk 0x%llx\n", (unsigned long long)l->addr);
	for (int i = first + 2; i < argc; i++) {
		const char *s = argv[i];
		struct timespec ts;
		int o, n;

		if (!strncmp(s, "sleep:", 6)) {
			long ms = number(s + 6, 0, 10000);
			struct timespec d = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

			while (nanosleep(&d, &d) && errno == EINTR)
				;
			continue;
		}
		if (shut_bits(s)) {
			if (put_shutdown(&img, l, shut_bits(s)) || bpf_map_update_elem(img_fd, &zero, &img, BPF_ANY)) {
				perror("fakesock: writing the socket image");
				goto cleanup;
			}
			continue;
		}
		parse_change(s, &o, &n);
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
