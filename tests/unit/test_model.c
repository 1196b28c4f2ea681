// SPDX-License-Identifier: GPL-2.0
/* Unit tests: the model from synthetic fd records and counters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"
#include "model_helpers.h"

static void hold(struct model *m, struct rcl_fd_rec r)
{
	assert_int_equal(model_hold(m, &r), 0);
}

static struct proc *find(struct model *m, __u32 tgid)
{
	struct rcl_owner o = { .tgid = tgid, .start_ns = tgid * 1000ULL };

	return model_find(m, &o);
}

static void test_holders(void **state)
{
	struct model *m = model_new(60);
	struct proc *p;

	model_begin(m);
	/* server 1 listens on 6379 and holds two accepted sockets */
	hold(m, fd_rec(1, 0x100, 5, RCL_TCP_LISTEN, 6379, 0));
	hold(m, fd_rec(1, 0x201, 7, RCL_TCP_ESTABLISHED, 6379, 40001));
	hold(m, fd_rec(1, 0x202, 8, RCL_TCP_CLOSE_WAIT, 6379, 40002));
	/* client 2: one socket through two fds (dup), one in SYN_SENT */
	hold(m, fd_rec(2, 0x301, 3, RCL_TCP_ESTABLISHED, 40001, 6379));
	hold(m, fd_rec(2, 0x301, 9, RCL_TCP_ESTABLISHED, 40001, 6379));
	hold(m, fd_rec(2, 0x303, 4, RCL_TCP_SYN_SENT, 40003, 6379));
	/* client 3 shares 0x302 with client 4 (fork) */
	hold(m, fd_rec(3, 0x302, 3, RCL_TCP_CLOSE_WAIT, 40002, 6379));
	hold(m, fd_rec(4, 0x302, 3, RCL_TCP_CLOSE_WAIT, 40002, 6379));
	model_end(m, 1.0, 0);

	p = find(m, 1);
	assert_non_null(p);
	assert_int_equal(p->nlisten, 1);
	assert_int_equal(p->open, 2);
	assert_int_equal(p->clients, 2);
	assert_int_equal(p->established, 1);
	assert_int_equal(p->close_wait, 1);
	assert_int_equal(p->nofile_soft, 1024);

	p = find(m, 2);
	assert_int_equal(p->open, 2);
	assert_int_equal(p->syn_sent, 1);
	assert_int_equal(p->shared, 0);
	assert_int_equal(p->clients, 0);
	assert_int_equal(p->nlisten, 0);

	assert_int_equal(find(m, 3)->open, 1);
	assert_int_equal(find(m, 3)->shared, 1);
	assert_int_equal(find(m, 4)->shared, 1);

	{ /* the drill-down: by socket, dup'd fds together, holders counted */
		struct conn_view cv[4];

		assert_int_equal(model_conns(m, find(m, 2), cv, 4), 2);
		assert_int_equal(cv[0].sk, 0x301);
		assert_int_equal(cv[0].nfds, 2);
		assert_int_equal(cv[0].fds[0], 3);
		assert_int_equal(cv[0].fds[1], 9);
		assert_int_equal(cv[0].holders, 1);
		assert_int_equal(cv[1].sk, 0x303);
		assert_int_equal(cv[1].nfds, 1);
		assert_int_equal(model_conns(m, find(m, 4), cv, 4), 1);
		assert_int_equal(cv[0].sk, 0x302);
		assert_int_equal(cv[0].holders, 2);
		assert_int_equal(model_conns(m, find(m, 1), cv, 1), 2); /* counts beyond max */
		assert_int_equal(cv[0].sk, 0x201);
	}
	{ /* ages: opened before the walk's clock, during the walk, unknown */
		struct model *a = model_new(60);
		struct rcl_fd_rec r1 = fd_rec(5, 0x501, 3, RCL_TCP_ESTABLISHED, 40005, 6379);
		struct rcl_fd_rec r2 = fd_rec(5, 0x502, 4, RCL_TCP_ESTABLISHED, 40006, 6379);
		struct rcl_fd_rec r3 = fd_rec(5, 0x503, 5, RCL_TCP_ESTABLISHED, 40007, 6379);
		struct conn_view cv[3];

		r1.open_ns = 8000000000ULL;
		r2.open_ns = 10000000001ULL; /* after mono_ns: opened while walking */
		model_begin(a);
		hold(a, r1);
		hold(a, r2);
		hold(a, r3);
		model_end(a, 1.0, 0);
		a->mono_ns = 10000000000ULL;
		assert_int_equal(model_conns(a, find(a, 5), cv, 3), 3);
		for (int i = 0; i < 3; i++) {
			if (cv[i].sk == 0x501)
				assert_true(cv[i].age_s == 2.0);
			else if (cv[i].sk == 0x502)
				assert_true(cv[i].age_s == 0);
			else
				assert_true(cv[i].age_s == -1);
		}
		model_free(a);
	}
	/* sorted by open, descending */
	assert_true(m->procs[0]->open >= m->procs[m->nprocs - 1]->open);
	model_free(m);
}

static void test_rates_and_gc(void **state)
{
	struct model *m = model_new(10);
	struct rcl_owner o = { .tgid = 9, .start_ns = 9000 };
	struct rcl_counters c = { .opened = 10, .closed = 4 };
	struct proc *p;

	model_begin(m);
	model_counters(m, &o, &c);
	model_end(m, 0, 0);
	p = model_find(m, &o);
	assert_non_null(p);
	assert_true(p->open_rate == 0);

	c.opened = 30;
	c.closed = 14;
	model_begin(m);
	model_counters(m, &o, &c);
	model_missed_close(m, &o);
	model_end(m, 2, 2);
	p = model_find(m, &o);
	assert_true(p->open_rate == 10.0);
	assert_true(p->close_rate == 5.5);
	assert_int_equal(p->missed_closed, 1);
	assert_int_equal(m->missed_closes, 1);

	/* exited at t=2: kept for the window (10 s), then dropped */
	p->exited = true;
	p->exited_at = 2;
	model_begin(m);
	model_end(m, 5, 3);
	model_gc(m, NULL, NULL);
	assert_non_null(model_find(m, &o));
	model_begin(m);
	model_end(m, 12, 7);
	model_gc(m, NULL, NULL);
	assert_null(model_find(m, &o));
	assert_int_equal(m->nprocs, 0);
	model_free(m);
}

/* A refresh given up halfway takes the processes it made with it, and
 * keeps those the model held before it; the model then refills as usual. */
static void test_drop_since(void **state)
{
	struct model *m = model_new(60);
	size_t before;

	model_begin(m);
	hold(m, fd_rec(5, 0x50, 3, 1, 40000, 6379));
	model_end(m, 0, 0);
	model_begin(m);
	before = m->nprocs;
	hold(m, fd_rec(5, 0x50, 3, 1, 40000, 6379));
	hold(m, fd_rec(6, 0x60, 3, 1, 40001, 6379));
	hold(m, fd_rec(7, 0x70, 3, 1, 40002, 6379));
	assert_int_equal(m->nprocs, 3);
	model_drop_since(m, before);
	assert_int_equal(m->nprocs, 1);
	assert_int_equal(m->nrecs, 0);
	assert_non_null(find(m, 5));
	assert_null(find(m, 6));
	assert_null(find(m, 7));
	model_begin(m);
	hold(m, fd_rec(7, 0x70, 3, 1, 40002, 6379));
	model_end(m, 1, 1);
	assert_int_equal(m->nprocs, 2);
	assert_int_equal(find(m, 7)->open, 1);
	model_free(m);
}

static void test_growth(void **state)
{
	struct model *m = model_new(60);
	struct proc *p;

	/* a client that gains one connection per second: 60/min */
	for (int t = 0; t < 20; t++) {
		model_begin(m);
		for (int k = 0; k <= t; k++)
			hold(m, fd_rec(5, 0x1000 + k, 3 + k, RCL_TCP_ESTABLISHED, 50000 + k, 6379));
		model_end(m, t, t ? 1 : 0);
	}
	p = find(m, 5);
	assert_int_equal(p->open, 20);
	assert_true(p->growth_per_min > 59.9 && p->growth_per_min < 60.1);
	model_free(m);
}

/* A server's top remote addresses: distinct sockets per address, the
 * busiest first, dup'd fds and its own outgoing connections not counted;
 * the listener may come after its clients in the walk. */
static void test_top_remotes(void **state)
{
	static const int per_addr[8] = { 1, 3, 1, 2, 1, 4, 1, 1 }; /* 10.0.0.1 .. 10.0.0.8 */
	struct model *m = model_new(60);
	__u64 sk = 0x1000;
	struct proc *p;

	(void)state;
	model_begin(m);
	for (int a = 0; a < 8; a++) {
		for (int k = 0; k < per_addr[a]; k++) {
			struct rcl_fd_rec r = fd_rec(1, sk, 10 + (__u32)sk, RCL_TCP_ESTABLISHED, 6379,
						  (__u16)(30000 + sk));

			sk++;
			r.raddr[0] = 10;
			r.raddr[3] = (__u8)(a + 1);
			hold(m, r);
			if (a == 5 && k == 0) { /* the same socket on a second fd */
				r.fd += 1000;
				hold(m, r);
			}
		}
	}
	{ /* the server's own connection to another server: not a client */
		struct rcl_fd_rec r = fd_rec(1, sk, 99, RCL_TCP_ESTABLISHED, 41000, 6380);

		r.raddr[0] = 10;
		r.raddr[3] = 1;
		hold(m, r);
	}
	hold(m, fd_rec(1, 0x10, 5, RCL_TCP_LISTEN, 6379, 0));
	model_end(m, 1.0, 0);

	p = find(m, 1);
	assert_non_null(p);
	assert_int_equal(p->clients, 14);
	assert_int_equal(p->ntop_remotes, 5);
	/* 10.0.0.6 (4), 10.0.0.2 (3), 10.0.0.4 (2), then the ones by address */
	assert_int_equal(p->top_remotes[0].addr[3], 6);
	assert_int_equal(p->top_remotes[0].count, 4);
	assert_int_equal(p->top_remotes[1].addr[3], 2);
	assert_int_equal(p->top_remotes[1].count, 3);
	assert_int_equal(p->top_remotes[2].addr[3], 4);
	assert_int_equal(p->top_remotes[2].count, 2);
	assert_int_equal(p->top_remotes[3].addr[3], 1);
	assert_int_equal(p->top_remotes[3].count, 1);
	assert_int_equal(p->top_remotes[4].addr[3], 3);
	assert_int_equal(p->top_remotes[4].count, 1);
	model_free(m);
}

/* A server's effective limit takes the lowest nofile seen: Redis sized its
 * maxclients by its nofile at start, so a raise later gains nothing (until
 * CONFIG SET maxclients), a lowering binds at once. */
static void tick_nofile(struct model *m, double t, __u64 nofile)
{
	struct rcl_fd_rec r = fd_rec(1, 0x10, 5, RCL_TCP_LISTEN, 6379, 0);

	r.nofile_cur = r.nofile_max = nofile;
	model_begin(m);
	hold(m, r);
	model_end(m, t, 1.0);
	model_judge(m);
}

static void test_nofile_sized(void **state)
{
	struct model *m = model_new(60);
	struct proc *p;

	(void)state;
	tick_nofile(m, 1.0, 1024);
	p = find(m, 1);
	assert_non_null(p);
	assert_int_equal(model_server_limit(p), 992);
	assert_true(p->capped_by_nofile);
	tick_nofile(m, 2.0, 4096);   /* prlimit --pid raised it */
	assert_int_equal(p->nofile_soft, 4096);
	assert_int_equal(p->nofile_sized, 1024);
	assert_int_equal(model_server_limit(p), 992);
	assert_true(p->capped_by_nofile);
	tick_nofile(m, 3.0, 512);    /* and lowered it: binds while it lasts */
	assert_int_equal(model_server_limit(p), 480);
	tick_nofile(m, 4.0, RCL_NOFILE_INF);
	assert_int_equal(p->nofile_soft, -1);
	/* given back: what Redis sized by at start binds again */
	assert_int_equal(p->nofile_sized, 1024);
	assert_int_equal(model_server_limit(p), 992);
	model_free(m);
}

/* A dual-stack listener's IPv4 clients come as ::ffff:a.b.c.d: one host
 * with the clients of an IPv4 listener from a.b.c.d. */
static void test_top_remotes_v4_mapped(void **state)
{
	struct model *m = model_new(60);
	struct proc *p;

	(void)state;
	model_begin(m);
	hold(m, fd_rec(1, 0x10, 5, RCL_TCP_LISTEN, 6379, 0));
	for (__u64 sk = 0x100; sk < 0x103; sk++) { /* 3 over IPv4 */
		struct rcl_fd_rec r = fd_rec(1, sk, (__u32)sk, RCL_TCP_ESTABLISHED, 6379, (__u16)sk);

		r.raddr[0] = 10;
		r.raddr[3] = 7;
		hold(m, r);
	}
	for (__u64 sk = 0x200; sk < 0x202; sk++) { /* 2 mapped */
		struct rcl_fd_rec r = fd_rec(1, sk, (__u32)sk, RCL_TCP_ESTABLISHED, 6379, (__u16)sk);

		r.family = 10;
		r.raddr[10] = r.raddr[11] = 0xff;
		r.raddr[12] = 10;
		r.raddr[15] = 7;
		hold(m, r);
	}
	model_end(m, 1.0, 0);
	p = find(m, 1);
	assert_non_null(p);
	assert_int_equal(p->ntop_remotes, 1);
	assert_int_equal(p->top_remotes[0].family, 2);
	assert_int_equal(p->top_remotes[0].addr[0], 10);
	assert_int_equal(p->top_remotes[0].addr[3], 7);
	assert_int_equal(p->top_remotes[0].addr[15], 0);
	assert_int_equal(p->top_remotes[0].count, 5);
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holders), cmocka_unit_test(test_rates_and_gc),
		cmocka_unit_test(test_growth), cmocka_unit_test(test_top_remotes),
		cmocka_unit_test(test_drop_since),
		cmocka_unit_test(test_top_remotes_v4_mapped), cmocka_unit_test(test_nofile_sized),
	};

	return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
