/*
 * hiredis_app: a hiredis application for the rcleak `run` tests.
 *
 *   hiredis_app leak  PORT COUNT [RATE]   redisConnect() per request (PING), never
 *                                         redisFree(); exits with all of them open.
 *   hiredis_app free  PORT COUNT [RATE]   redisConnect() per request, PING, redisFree().
 *   hiredis_app reuse PORT COUNT [RATE]   one connection for every request, freed at the end.
 *   hiredis_app closewait PORT COUNT SECS COUNT connections, each sent QUIT (Redis closes
 *                                         its side, ours sits in CLOSE_WAIT), held SECS
 *                                         seconds, then redisFree()d.
 *
 * RATE: requests per second (0 = as fast as possible).  At the end one line on stdout:
 *   DONE lib=hiredis mode=M pid=P comm=C requests=R opened=N closed=M open=O elapsed=S
 * where S is the seconds from the start of main() to that line (CLOCK_MONOTONIC):
 * the process lived at least that long.
 * Exit status 0, 1 on a Redis error, 2 on bad usage.
 *
 * Build: cc -O2 -o hiredis_app hiredis_app.c -lhiredis   (Debian: libhiredis-dev)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long opened, closed, requests;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	if (s <= 0)
		return;
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void pace(double t0, double rate, long i)
{
	if (rate > 0)
		sleep_s(t0 + i / rate - now());
}

static redisContext *conn(int port)
{
	redisContext *c = redisConnect("127.0.0.1", port);
	if (c == NULL || c->err) {
		fprintf(stderr, "hiredis_app: connect: %s\n", c ? c->errstr : "out of memory");
		exit(1);
	}
	opened++;
	return c;
}

static void ping(redisContext *c)
{
	redisReply *r = redisCommand(c, "PING");
	if (r == NULL || r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0) {
		fprintf(stderr, "hiredis_app: PING: %s\n", r ? "unexpected reply" : c->errstr);
		exit(1);
	}
	freeReplyObject(r);
	requests++;
}

static void release(redisContext *c)
{
	redisFree(c);
	closed++;
}

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[1], "leak") && strcmp(argv[1], "free") && strcmp(argv[1], "reuse") &&
			 strcmp(argv[1], "closewait"))) {
		fprintf(stderr, "usage: hiredis_app leak|free|reuse PORT COUNT [RATE]\n"
				"       hiredis_app closewait PORT COUNT SECS\n");
		return 2;
	}
	const char *mode = argv[1];
	int port = atoi(argv[2]);
	long count = atol(argv[3]);
	double rate = argc > 4 ? atof(argv[4]) : 0;
	double t0 = now();

	if (!strcmp(mode, "closewait")) {
		redisContext **cs = calloc(count > 0 ? count : 1, sizeof(*cs));
		if (!cs)
			return 1;
		for (long i = 0; i < count; i++) {
			cs[i] = conn(port);
			ping(cs[i]);
			redisReply *r = redisCommand(cs[i], "QUIT");
			if (r == NULL || r->type != REDIS_REPLY_STATUS) {
				fprintf(stderr, "hiredis_app: QUIT: %s\n", r ? "unexpected reply" : cs[i]->errstr);
				return 1;
			}
			freeReplyObject(r);
		}
		sleep_s(rate);                  /* the 4th argument is SECS here */
		for (long i = 0; i < count; i++)
			release(cs[i]);
		free(cs);
	} else if (!strcmp(mode, "reuse")) {
		redisContext *c = conn(port);
		for (long i = 0; i < count; i++) {
			pace(t0, rate, i);
			ping(c);
		}
		release(c);
	} else {
		for (long i = 0; i < count; i++) {
			pace(t0, rate, i);
			redisContext *c = conn(port);
			ping(c);
			if (!strcmp(mode, "free"))
				release(c);
			/* leak: the context (and its socket) is simply forgotten */
		}
	}

	char comm[64] = "?";
	FILE *f = fopen("/proc/self/comm", "r");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
	}
	double elapsed = now() - t0;

	printf("DONE lib=hiredis mode=%s pid=%d comm=%s requests=%ld opened=%ld closed=%ld open=%ld"
	       " elapsed=%.6f\n", mode, (int)getpid(), comm, requests, opened, closed, opened - closed,
	       elapsed);
	fflush(stdout);
	return 0;
}
