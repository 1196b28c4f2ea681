// SPDX-License-Identifier: GPL-2.0
/*
 * holdconns - load generator: NPROC processes, each holding NCONN TCP
 * connections to HOST:PORT[,PORT...] (spread round-robin), until SIGTERM or
 * SIGINT. Prints "READY <total>" on stdout once every connection is up.
 *
 *   holdconns HOST PORTS NPROC NCONN
 *
 * For benchmarks only: traffic stays on the address given (use loopback).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static int hold(const char *host, const int *ports, int nports, int nconn, int idx)
{
	for (int i = 0; i < nconn; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		a.sin_port = htons(ports[(idx * nconn + i) % nports]);
		if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
		    connect(fd, (struct sockaddr *)&a, sizeof(a))) {
			fprintf(stderr, "holdconns: connect: %s\n", strerror(errno));
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int ports[16], nports = 0, nproc, nconn, ok = 0;
	int pipefd[2];
	pid_t *kids;
	char *save, *tok;

	if (argc != 5) {
		fprintf(stderr, "usage: holdconns HOST PORT[,PORT...] NPROC NCONN\n");
		return 2;
	}
	for (tok = strtok_r(argv[2], ",", &save); tok && nports < 16; tok = strtok_r(NULL, ",", &save))
		ports[nports++] = atoi(tok);
	nproc = atoi(argv[3]);
	nconn = atoi(argv[4]);
	if (!nports || nproc <= 0 || nconn <= 0 || pipe(pipefd))
		return 2;
	kids = calloc(nproc, sizeof(*kids));
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	for (int i = 0; i < nproc; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			char c = hold(argv[1], ports, nports, nconn, i) ? 'E' : 'K';

			if (write(pipefd[1], &c, 1) != 1)
				_exit(1);
			while (!stop)
				pause();
			_exit(0);
		}
	}
	for (int i = 0; i < nproc; i++) {
		char c;

		if (read(pipefd[0], &c, 1) == 1 && c == 'K')
			ok++;
	}
	printf("READY %d\n", ok * nconn);
	fflush(stdout);
	while (!stop)
		pause();
	for (int i = 0; i < nproc; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	while (wait(NULL) > 0)
		;
	free(kids);
	return ok == nproc ? 0 : 1;
}
