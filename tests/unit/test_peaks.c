// SPDX-License-Identifier: GPL-2.0
/* Unit tests: peaks between ticks, from a synthetic model and events. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "evbatch.h"
#include "peaks.h"

#define SRV 1     /* a server listening on 6379 */
#define CLI 2     /* a client */
#define MONO0 1000000000ULL /* the first walk, ns */

static struct rcl_owner own(__u32 tgid)
{
	struct rcl_owner o = { .tgid = tgid, .start_ns = tgid * 1000ULL };

	return o;
}

static void hold(struct model *m, __u32 tgid, __u64 sk, __u8 state, __u16 lport, __u16 rport)
{
	struct rcl_fd_rec r;

	memset(&r, 0, sizeof(r));
	r.tgid = tgid;
	r.start_ns = tgid * 1000ULL;
	r.sk = sk;
	r.fd = (__u32)(sk & 0xffff);
	r.state = state;
	r.lport = lport;
	r.rport = rport;
	r.family = 2;
	assert_int_equal(model_hold(m, &r), 0);
}

/* A tick: the model as walked at mono_ns (the holds since model_begin). */
static void tick(struct peaks *pk, struct model *m, __u64 mono_ns, double wall)
{
	m->mono_ns = mono_ns;
	model_end(m, wall, 1);
	assert_int_equal(peaks_tick(pk, m, wall), 0);
}

static void ev(struct peaks *pk, __u8 kind, __u32 tgid, __u64 sk, __u64 ts, __u8 newstate)
{
	struct rcl_event e;

	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.tgid = tgid;
	e.start_ns = tgid * 1000ULL;
	e.sk = sk;
	e.ts_ns = ts;
	e.newstate = newstate;
	assert_int_equal(peaks_event(pk, &e, 1, (double)ts / 1e9), 0);
}

static const struct peak *of(const struct peaks *pk, __u32 tgid)
{
	struct rcl_owner o = own(tgid);

	return peaks_of(pk, &o);
}

/* 20 connections opened and all closed between two ticks that each see
 * none: the peak is 20 on both ends, when the 20th opened. */
static void test_burst_between_ticks(void **state)
{
	struct model *m = model_new(60);
	struct peaks *pk = peaks_new();
	__u64 t = MONO0 + 1000;

	(void)state;
	model_begin(m);
	hold(m, SRV, 0x10, RCL_TCP_LISTEN, 6379, 0);
	tick(pk, m, MONO0, 1.0);
	assert_null(of(pk, CLI));
	for (int i = 0; i < 20; i++) {
		ev(pk, RCL_EV_CONNECT, CLI, 0x1000 + i, t += 10, RCL_TCP_SYN_SENT);
		ev(pk, RCL_EV_ACCEPT, SRV, 0x2000 + i, t += 10, RCL_TCP_SYN_RECV);
	}
	for (int i = 0; i < 20; i++) {
		ev(pk, RCL_EV_APP_CLOSE, CLI, 0x1000 + i, t += 10, RCL_TCP_FIN_WAIT1);
		ev(pk, RCL_EV_APP_CLOSE, SRV, 0x2000 + i, t += 10, RCL_TCP_LAST_ACK);
	}
	for (int i = 0; i < 20; i++) { /* the handshakes end: nothing left to count */
		ev(pk, RCL_EV_CLOSE, CLI, 0x1000 + i, t += 10, RCL_TCP_CLOSE);
		ev(pk, RCL_EV_CLOSE, SRV, 0x2000 + i, t += 10, RCL_TCP_CLOSE);
	}
	assert_int_equal(of(pk, CLI)->open, 0);
	assert_int_equal(of(pk, SRV)->open, 0);
	model_begin(m);
	hold(m, SRV, 0x10, RCL_TCP_LISTEN, 6379, 0);
	tick(pk, m, t + 10, 2.0);

	assert_int_equal(of(pk, CLI)->peak_open, 20);
	assert_int_equal(of(pk, CLI)->peak_clients, 0);
	assert_int_equal(of(pk, SRV)->peak_open, 20);
	assert_int_equal(of(pk, SRV)->peak_clients, 20);
	/* the 20th connect was the 39th event, the 20th accept the 40th */
	assert_true(of(pk, CLI)->peak_open_at == (double)(MONO0 + 1000 + 390) / 1e9);
	assert_true(of(pk, SRV)->peak_clients_at == (double)(MONO0 + 1000 + 400) / 1e9);
	/* it held none just before its first connect */
	assert_true(of(pk, CLI)->growth_from == (double)(MONO0 + 1010) / 1e9);
	peaks_free(pk);
	model_free(m);
}

/* Held at the start (no events for them), some closed, more opened: the
 * seed counts them; events from before the walk, and opens of sockets the
 * walk saw, are not counted twice. */
static void test_seeded(void **state)
{
	struct model *m = model_new(60);
	struct peaks *pk = peaks_new();
	__u64 t = MONO0;

	(void)state;
	ev(pk, RCL_EV_CONNECT, CLI, 0x999, 5, RCL_TCP_SYN_SENT); /* before any tick: skipped */
	model_begin(m);
	for (int i = 0; i < 5; i++)
		hold(m, CLI, 0x100 + i, RCL_TCP_ESTABLISHED, 40000 + i, 6379);
	hold(m, CLI, 0x100, RCL_TCP_ESTABLISHED, 40000, 6379); /* a dup: one socket */
	tick(pk, m, MONO0, 1.0);
	assert_int_equal(of(pk, CLI)->open, 5);
	assert_int_equal(of(pk, CLI)->peak_open, 5);
	assert_true(of(pk, CLI)->peak_open_at == 1.0);

	/* drained after the tick, but from before the walk: in the seed */
	ev(pk, RCL_EV_CONNECT, CLI, 0x104, MONO0 - 50, RCL_TCP_SYN_SENT);
	ev(pk, RCL_EV_APP_CLOSE, CLI, 0x150, MONO0 - 40, RCL_TCP_FIN_WAIT1);
	/* after the walk began, for a socket the walk found anyway */
	ev(pk, RCL_EV_CONNECT, CLI, 0x103, t += 10, RCL_TCP_SYN_SENT);
	assert_int_equal(of(pk, CLI)->open, 5);
	/* two of the seeded close, three open, one of those closes twice over */
	ev(pk, RCL_EV_APP_CLOSE, CLI, 0x100, t += 10, RCL_TCP_FIN_WAIT1);
	ev(pk, RCL_EV_CLOSE, CLI, 0x101, t += 10, RCL_TCP_CLOSE); /* a reset */
	ev(pk, RCL_EV_CLOSE, CLI, 0x100, t += 10, RCL_TCP_CLOSE); /* after its app close */
	assert_int_equal(of(pk, CLI)->open, 3);
	assert_int_equal(of(pk, CLI)->min_open, 3);
	for (int i = 0; i < 3; i++)
		ev(pk, RCL_EV_CONNECT, CLI, 0x200 + i, t += 10, RCL_TCP_SYN_SENT);
	assert_int_equal(of(pk, CLI)->open, 6);
	assert_int_equal(of(pk, CLI)->peak_open, 6);
	assert_true(of(pk, CLI)->peak_open_at == (double)t / 1e9);
	/* the climb started when it was last at 3 */
	assert_true(of(pk, CLI)->growth_from == (double)(MONO0 + 30) / 1e9);
	ev(pk, RCL_EV_APP_CLOSE, CLI, 0x200, t += 10, RCL_TCP_FIN_WAIT1);
	assert_int_equal(of(pk, CLI)->open, 5);
	assert_int_equal(of(pk, CLI)->peak_open, 6);
	peaks_free(pk);
	model_free(m);
}

/* A process that held connections at the capture's first tick and climbed
 * from there: its climb began before the capture, which cannot say when
 * (growth_before_start), not at its first tick. One that held some at the
 * start, stayed level, then climbed began then; one born later, at its
 * first connect. */
static void test_growth_before_start(void **state)
{
	struct model *m = model_new(60);
	struct peaks *pk = peaks_new();
	__u64 t = MONO0;

	(void)state;
	model_begin(m);
	for (int i = 0; i < 5; i++)
		hold(m, CLI, 0x100 + i, RCL_TCP_ESTABLISHED, 40000 + i, 6379);
	for (int i = 0; i < 2; i++)
		hold(m, 3, 0x300 + i, RCL_TCP_ESTABLISHED, 41000 + i, 6379);
	tick(pk, m, MONO0, 1.0);
	assert_true(of(pk, CLI)->growth_before_start);
	for (int i = 0; i < 3; i++)
		ev(pk, RCL_EV_CONNECT, CLI, 0x200 + i, t += 10, RCL_TCP_SYN_SENT);
	assert_int_equal(of(pk, CLI)->peak_open, 8);
	assert_true(of(pk, CLI)->growth_from == 1.0);
	assert_true(of(pk, CLI)->growth_before_start);
	/* level at 2 through the second tick, then up by one */
	model_begin(m);
	for (int i = 0; i < 5; i++)
		hold(m, CLI, 0x100 + i, RCL_TCP_ESTABLISHED, 40000 + i, 6379);
	for (int i = 0; i < 3; i++)
		hold(m, CLI, 0x200 + i, RCL_TCP_ESTABLISHED, 40100 + i, 6379);
	for (int i = 0; i < 2; i++)
		hold(m, 3, 0x300 + i, RCL_TCP_ESTABLISHED, 41000 + i, 6379);
	tick(pk, m, t += 1000, 2.0);
	ev(pk, RCL_EV_CONNECT, 3, 0x302, t += 10, RCL_TCP_SYN_SENT);
	assert_int_equal(of(pk, 3)->peak_open, 3);
	assert_true(of(pk, 3)->growth_from == 2.0);
	assert_false(of(pk, 3)->growth_before_start);
	/* born after the start */
	ev(pk, RCL_EV_CONNECT, 4, 0x400, t += 10, RCL_TCP_SYN_SENT);
	assert_false(of(pk, 4)->growth_before_start);
	/* still true for the first: nothing it did since moved its climb */
	assert_true(of(pk, CLI)->growth_before_start);
	peaks_free(pk);
	model_free(m);
}

/* A socket two processes hold (fork) leaves both when it closes; a socket
 * whose close was lost leaves its holder when its address comes back. The
 * next tick puts the counts right whatever the events said. */
static void test_holders_and_reseed(void **state)
{
	struct model *m = model_new(60);
	struct peaks *pk = peaks_new();
	__u64 t = MONO0;

	(void)state;
	model_begin(m);
	hold(m, CLI, 0x100, RCL_TCP_ESTABLISHED, 40000, 6379);
	hold(m, 3, 0x100, RCL_TCP_ESTABLISHED, 40000, 6379);
	hold(m, 3, 0x101, RCL_TCP_ESTABLISHED, 40001, 6379);
	tick(pk, m, MONO0, 1.0);
	assert_int_equal(of(pk, 3)->open, 2);
	ev(pk, RCL_EV_APP_CLOSE, 3, 0x100, t += 10, RCL_TCP_FIN_WAIT1);
	assert_int_equal(of(pk, CLI)->open, 0);
	assert_int_equal(of(pk, 3)->open, 1);
	/* 0x101's close was lost; the kernel gave its memory to CLI's new one */
	ev(pk, RCL_EV_CONNECT, CLI, 0x101, t += 10, RCL_TCP_SYN_SENT);
	assert_int_equal(of(pk, 3)->open, 0);
	assert_int_equal(of(pk, CLI)->open, 1);
	/* the next walk finds what it finds */
	model_begin(m);
	hold(m, 3, 0x300, RCL_TCP_ESTABLISHED, 40002, 6379);
	hold(m, 3, 0x301, RCL_TCP_ESTABLISHED, 40003, 6379);
	hold(m, 3, 0x302, RCL_TCP_ESTABLISHED, 40004, 6379);
	tick(pk, m, t + 10, 2.0);
	assert_int_equal(of(pk, CLI)->open, 0);
	assert_int_equal(of(pk, 3)->open, 3);
	assert_int_equal(of(pk, 3)->peak_open, 3);
	assert_true(of(pk, 3)->peak_open_at == 2.0);
	/* and the walk's sockets close like any other */
	ev(pk, RCL_EV_EXIT_CLOSE, 3, 0x301, t += 20, RCL_TCP_FIN_WAIT1);
	assert_int_equal(of(pk, 3)->open, 2);
	peaks_free(pk);
	model_free(m);
}

/* Events as a capture gives them back: through an event batch, whose
 * version 3 cuts times to the microsecond (an event decodes up to 999 ns
 * before it came). A close within the walk's first microsecond decoded
 * before the walk and was skipped: the socket stayed counted, and the
 * next connect made a peak of 2 the process never held. */
static void test_microsecond_times(void **state)
{
	static struct evb_enc b;
	static struct evb_dec d;
	struct model *m = model_new(60);
	struct peaks *pk = peaks_new();
	const __u64 walk = MONO0 + 1234; /* not on a microsecond */
	struct rcl_event in[3], out;
	int n = 0;

	(void)state;
	memset(in, 0, sizeof(in));
	in[0].kind = RCL_EV_APP_CLOSE; /* 300 ns into the walk */
	in[0].sk = 0x100;
	in[0].ts_ns = walk + 300;
	in[0].newstate = RCL_TCP_FIN_WAIT1;
	in[1].kind = RCL_EV_CONNECT;
	in[1].sk = 0x200;
	in[1].ts_ns = walk + 10000;
	in[1].newstate = RCL_TCP_SYN_SENT;
	in[2].kind = RCL_EV_CONNECT; /* 700 ns before the walk: in it (0x101) */
	in[2].sk = 0x101;
	in[2].ts_ns = walk - 700;
	in[2].newstate = RCL_TCP_SYN_SENT;
	evb_reset(&b);
	for (int i = 0; i < 3; i++) {
		in[i].tgid = CLI;
		in[i].start_ns = CLI * 1000ULL;
		assert_true(evb_add(&b, &in[i]));
	}

	model_begin(m);
	hold(m, CLI, 0x100, RCL_TCP_ESTABLISHED, 40000, 6379);
	hold(m, CLI, 0x101, RCL_TCP_ESTABLISHED, 40001, 6379);
	tick(pk, m, walk, 1.0);
	assert_int_equal(of(pk, CLI)->peak_open, 2);
	assert_int_equal(evb_dec_init(&d, b.buf, b.len, b.ts0), 0);
	assert_int_equal(evb_dec_res_ns(&d), 1000);
	while (evb_dec_next(&d, &out) == 1) {
		assert_true(out.ts_ns <= in[n].ts_ns && in[n].ts_ns - out.ts_ns < 1000);
		assert_int_equal(peaks_event(pk, &out, evb_dec_res_ns(&d), (double)out.ts_ns / 1e9), 0);
		n++;
	}
	assert_int_equal(n, 3);
	/* 0x100 closed, 0x200 opened, 0x101 (in the walk) not counted twice */
	assert_int_equal(of(pk, CLI)->open, 2);
	assert_int_equal(of(pk, CLI)->peak_open, 2);
	assert_int_equal(of(pk, CLI)->min_open, 1);
	peaks_free(pk);
	model_free(m);
}

/* Many sockets through one table: growth and tombstones keep every pair. */
static void test_many(void **state)
{
	struct model *m = model_new(60);
	struct peaks *pk = peaks_new();
	__u64 t = MONO0;

	(void)state;
	model_begin(m);
	tick(pk, m, MONO0, 1.0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 5000; i++)
			ev(pk, RCL_EV_CONNECT, 100 + i % 7, 0x10000 + 8 * i, t += 1, RCL_TCP_SYN_SENT);
		for (int i = 0; i < 5000; i++)
			ev(pk, RCL_EV_APP_CLOSE, 100 + i % 7, 0x10000 + 8 * i, t += 1, RCL_TCP_FIN_WAIT1);
	}
	for (int k = 0; k < 7; k++) {
		assert_int_equal(of(pk, 100 + k)->open, 0);
		assert_int_equal(of(pk, 100 + k)->peak_open, 5000 / 7 + (k < 5000 % 7));
	}
	peaks_free(pk);
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_between_ticks),
		cmocka_unit_test(test_seeded),
		cmocka_unit_test(test_growth_before_start),
		cmocka_unit_test(test_holders_and_reseed),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_microsecond_times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
