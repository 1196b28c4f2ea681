// SPDX-License-Identifier: GPL-2.0
/*
 * connstorm - load generator: NPROC processes, each opening a TCP connection
 * to HOST:PORT (ports round-robin), sending PINGS inline Redis PINGs and
 * reading each +PONG, then closing, in a tight loop, until SECS have passed
 * or MAXCONN connections were made in all. A connect/PING/close storm that
 * goes beyond `redis-benchmark -k 0` (one event loop process, TIME_WAIT on
 * every close).
 *
 *   connstorm [-d SECS] [-n MAXCONN] [-P PINGS] [-T] [-s NSRC] HOST PORT[,PORT...] NPROC
 *
 *   -d SECS     stop after SECS seconds (default 5, at most 600)
 *   -n MAXCONN  stop after MAXCONN connections in all (default 50,000,000)
 *   -P PINGS    PINGs per connection (default 1; 0 = connect and close)
 *   -T          close normally (the client side goes to TIME_WAIT; relies on
 *               net.ipv4.tcp_tw_reuse). Default: SO_LINGER 0, the close
 *               sends a RST and leaves no TIME_WAIT, so ports never run out.
 *   -s NSRC     spread source addresses over 127.0.0.1 .. 127.0.0.NSRC
 *
 * Prints, once all processes are done:
 *   CHILD <pid> <connections> <errors>        one line per process
 *   TOTAL <connections> <seconds> <conn/s> <errors>
 * Exit 0 if at least one connection was made.
 *
 * For benchmarks only: HOST must be a loopback address (127.0.0.0/8).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_PORTS 64
#define MAX_PROCS 512
#define MAX_ERRORS 100000 /* per process: give up, something is wrong */

struct result {
	int pid;
	long long conns;
	long long errors;
};

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One connection: connect, PINGs, close. 0 on success. */
static int one(const struct sockaddr_in *dst, const struct sockaddr_in *src, int pings, int linger0)
{
	static const char ping[] = "PING\r\n";
	static const struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char buf[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, rc = -1, e;

	if (fd < 0)
		return -1;
	if (src) {
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)src, sizeof(*src)))
			goto out;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)))
		goto out;
	for (int i = 0; i < pings; i++) {
		size_t got = 0;

		if (write(fd, ping, sizeof(ping) - 1) != (ssize_t)(sizeof(ping) - 1))
			goto out;
		while (got < 7) { /* "+PONG\r\n" */
			ssize_t n = read(fd, buf, sizeof(buf));

			if (n <= 0)
				goto out;
			got += n;
		}
	}
	rc = 0;
out:
	e = errno;
	if (linger0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	errno = e;
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: connstorm [-d SECS] [-n MAXCONN] [-P PINGS] [-T] [-s NSRC] HOST PORT[,PORT...] NPROC\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double secs = 5, t0, t1;
	long long maxconn = 50000000, total = 0, errors = 0;
	int pings = 1, linger0 = 1, nsrc = 0, nports = 0, nproc, opt;
	int ports[MAX_PORTS], go[2], res[2];
	struct in_addr host;
	char *save, *tok;
	pid_t *kids;

	while ((opt = getopt(argc, argv, "d:n:P:Ts:")) != -1) {
		switch (opt) {
		case 'd': secs = atof(optarg); break;
		case 'n': maxconn = atoll(optarg); break;
		case 'P': pings = atoi(optarg); break;
		case 'T': linger0 = 0; break;
		case 's': nsrc = atoi(optarg); break;
		default: usage();
		}
	}
	if (argc - optind != 3)
		usage();
	if (inet_pton(AF_INET, argv[optind], &host) != 1 || (ntohl(host.s_addr) >> 24) != 127) {
		fprintf(stderr, "connstorm: HOST must be an IPv4 loopback address (127.x.y.z)\n");
		return 2;
	}
	for (tok = strtok_r(argv[optind + 1], ",", &save); tok && nports < MAX_PORTS;
	     tok = strtok_r(NULL, ",", &save))
		ports[nports++] = atoi(tok);
	nproc = atoi(argv[optind + 2]);
	if (!nports || nproc <= 0 || nproc > MAX_PROCS || secs <= 0 || secs > 600 || maxconn <= 0 ||
	    pings < 0 || pings > 1000 || nsrc < 0 || nsrc > 254)
		usage();
	if (pipe(go) || pipe(res))
		return 1;
	kids = calloc(nproc, sizeof(*kids));
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	signal(SIGPIPE, SIG_IGN);

	for (int i = 0; i < nproc; i++) {
		kids[i] = fork();
		if (kids[i] < 0) {
			perror("connstorm: fork");
			nproc = i;
			break;
		}
		if (kids[i] == 0) {
			long long quota = maxconn / nproc + (i < maxconn % nproc);
			struct result r = { .pid = getpid() };
			struct sockaddr_in dst = { .sin_family = AF_INET, .sin_addr = host };
			struct sockaddr_in src = { .sin_family = AF_INET };
			double end;
			char c;

			close(go[1]);
			if (read(go[0], &c, 1) < 0) /* released when the parent closes go[1] */
				_exit(1);
			end = now() + secs;
			for (long long k = 0; r.conns < quota && !stop; k++) {
				dst.sin_port = htons(ports[(i + k) % nports]);
				if (nsrc)
					src.sin_addr.s_addr = htonl(0x7f000001 + (unsigned)((i + k) % nsrc));
				if (one(&dst, nsrc ? &src : NULL, pings, linger0) == 0) {
					r.conns++;
				} else if (++r.errors >= MAX_ERRORS) {
					break;
				} else if (errno == EADDRNOTAVAIL || errno == ECONNREFUSED || errno == EAGAIN) {
					usleep(1000);
				}
				if ((k & 63) == 0 && now() >= end)
					break;
			}
			if (write(res[1], &r, sizeof(r)) != sizeof(r))
				_exit(1);
			_exit(0);
		}
	}
	close(go[0]);
	close(res[1]);
	t0 = now();
	close(go[1]);
	for (int i = 0; i < nproc; i++) {
		struct result r;

		if (read(res[0], &r, sizeof(r)) != sizeof(r))
			break;
		printf("CHILD %d %lld %lld\n", r.pid, r.conns, r.errors);
		total += r.conns;
		errors += r.errors;
	}
	t1 = now();
	while (wait(NULL) > 0)
		;
	printf("TOTAL %lld %.3f %.1f %lld\n", total, t1 - t0, total / (t1 - t0), errors);
	free(kids);
	return total > 0 ? 0 : 1;
}
