// SPDX-License-Identifier: GPL-2.0
/* Unit tests: every verdict rule on synthetic series, both sides of each
 * threshold. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"

#define PID 7

static struct rcl_fd_rec rec(__u64 sk, __u8 state, __u16 lport, __u16 rport)
{
	struct rcl_fd_rec r;

	memset(&r, 0, sizeof(r));
	r.tgid = PID;
	r.start_ns = 1;
	r.sk = sk;
	r.fd = (__u32)(sk & 0xffff);
	r.state = state;
	r.lport = lport;
	r.rport = rport;
	r.family = 2;
	r.nofile_cur = r.nofile_max = 100000;
	strcpy(r.comm, "app");
	return r;
}

static struct proc *me(struct model *m)
{
	struct rcl_owner o = { .tgid = PID, .start_ns = 1 };

	return model_find(m, &o);
}

/* One refresh at time t: `open` ESTABLISHED client sockets, counters c. */
static struct proc *step(struct model *m, double t, long open, const struct rcl_counters *c)
{
	struct rcl_owner o = { .tgid = PID, .start_ns = 1 };
	struct proc *p;

	model_begin(m);
	for (long k = 0; k < open; k++) {
		struct rcl_fd_rec r = rec(0x1000 + k, RCL_TCP_ESTABLISHED, 40000 + k, 6379);

		assert_int_equal(model_hold(m, &r), 0);
	}
	if (c)
		model_counters(m, &o, c);
	model_end(m, t, 1);
	p = me(m);
	if (p) {
		p->fds = open + 10;
		p->nofile_soft = p->nofile_hard = 100000;
	}
	model_judge(m);
	return me(m);
}

static enum verdict leak_at(double per_min, double close_frac)
{
	struct model *m = model_new(60);
	struct rcl_counters c = { 0 };
	enum verdict v = V_OK;

	for (int t = 0; t <= 60; t++) {
		long open = (long)(per_min * t / 60.0);

		c.opened = (__u64)(open / (1 - close_frac) + 0.5);
		c.closed = c.opened - (__u64)open;
		v = step(m, t, open, &c)->verdict;
	}
	model_free(m);
	return v;
}

static void test_leak(void **state)
{
	assert_int_equal(leak_at(6, 0), V_LEAK);     /* above 5/min */
	assert_int_equal(leak_at(4, 0), V_OK);       /* below */
	assert_int_equal(leak_at(30, 0.15), V_LEAK); /* few closes */
	assert_int_equal(leak_at(30, 0.30), V_OK);   /* closes keep up: a busy pool */
}

static void test_leak_needs_half_window(void **state)
{
	struct model *m = model_new(60);
	struct rcl_counters c = { 0 };
	struct proc *p = NULL;

	for (int t = 0; t <= 25; t++) { /* 25 s of a 60 s window */
		c.opened = t * 10;
		p = step(m, t, t * 10, &c);
	}
	assert_int_equal(p->verdict, V_OK);
	for (int t = 26; t <= 31; t++) {
		c.opened = t * 10;
		p = step(m, t, t * 10, &c);
	}
	assert_int_equal(p->verdict, V_LEAK);
	assert_non_null(strstr(p->rule, "/min"));
	model_free(m);
}

/* A one-time jump is not a leak: open 1, then `to` at once at `at` s, flat
 * after, under a window of `window` s, refreshes every second until `end`.
 * Returns how many refreshes said LEAK. */
static int leak_refreshes_after_jump(double window, long to, int at, int end)
{
	struct model *m = model_new(window);
	struct rcl_counters c = { 0 };
	int n = 0;

	for (int t = 0; t <= end; t++) {
		long open = t < at ? 1 : to;

		c.opened = (__u64)open;
		n += step(m, t, open, &c)->verdict == V_LEAK;
	}
	model_free(m);
	return n;
}

static void test_leak_not_a_jump(void **state)
{
	/* 1 -> 6 at 35 s (the review's case: LEAK "+7.6/min" for 40 s) */
	assert_int_equal(leak_refreshes_after_jump(60, 6, 35, 100), 0);
	/* --window 20, 1 -> 31 */
	assert_int_equal(leak_refreshes_after_jump(20, 31, 15, 60), 0);
	/* a pool of 20 filled in the first 3 s rcleak saw, flat after */
	{
		struct model *m = model_new(60);
		struct rcl_counters c = { 0 };
		int n = 0;

		for (int t = 0; t <= 90; t++) {
			long open = t < 3 ? 7 * (t + 1) : 20;

			c.opened = (__u64)open;
			n += step(m, t, open, &c)->verdict == V_LEAK;
		}
		assert_int_equal(n, 0);
		model_free(m);
	}
	/* while steady growth of the same size is one, before and after */
	assert_int_equal(leak_at(6, 0), V_LEAK);
}

static enum verdict churn_at(double per_s, int life_bucket)
{
	struct model *m = model_new(60);
	struct rcl_counters c = { 0 };
	enum verdict v = V_OK;

	for (int t = 0; t <= 20; t++) {
		c.opened = c.closed = (__u64)(per_s * t);
		memset(c.life, 0, sizeof(c.life));
		c.life[life_bucket] = (__u32)c.closed;
		v = step(m, t, 0, &c)->verdict;
	}
	model_free(m);
	return v;
}

static void test_churn(void **state)
{
	assert_int_equal(churn_at(10, 1), V_CHURN); /* 10/s, ~1 ms */
	assert_int_equal(churn_at(4, 1), V_OK);     /* under 5/s */
	assert_int_equal(churn_at(10, 10), V_CHURN);/* bucket 10: ~724 ms < 1000 */
	assert_int_equal(churn_at(10, 11), V_OK);   /* bucket 11: ~1448 ms */
}

/* 12 connects in the first 1.2 s rcleak saw a process, then none: 0.2/s
 * over a 60 s window, not CHURN (it was "10.0 connects/s"). */
static void test_churn_not_a_burst(void **state)
{
	struct model *m = model_new(60);
	struct rcl_counters c = { 0 };
	int n = 0;

	for (int t = 0; t <= 30; t++) {
		c.opened = c.closed = t == 0 ? 2 : 12;
		memset(c.life, 0, sizeof(c.life));
		c.life[1] = (__u32)c.closed;
		n += step(m, t * 0.5, 0, &c)->verdict == V_CHURN;
	}
	assert_int_equal(n, 0);
	model_free(m);
}

/* Connect-per-request at 10/s that keeps 1 in 20: CHURN (closes are 95 %
 * of opens), and its rule says that open grows too. */
static void test_churn_with_leak(void **state)
{
	struct model *m = model_new(60);
	struct rcl_counters c = { 0 };
	struct proc *p = NULL;

	for (int t = 0; t <= 40; t++) {
		c.opened = (__u64)(10 * t);
		c.closed = c.opened - c.opened / 20;
		memset(c.life, 0, sizeof(c.life));
		c.life[1] = (__u32)c.closed;
		p = step(m, t, (long)(c.opened / 20), &c);
	}
	assert_int_equal(p->verdict, V_CHURN);
	assert_non_null(strstr(p->rule, "open also grows +30.0/min"));
	model_free(m);
}

/* An ioredis reconnect storm against a full server (5 clients, 100
 * connects/s, each refused at once): a refresh caught 4 of them in flight
 * right after one that caught none, and the CHURN rule said "open also
 * grows +240/min" from those two samples, a leak that was not there (ss:
 * at most 5 held, 0 most of the time). A pool filled at once (0 -> 4 held
 * for good) inside the churn is no growth either. The growth named must
 * last as LEAK's does: over half the window. */
static void test_churn_step_not_growth(void **state)
{
	for (int hold = 0; hold <= 1; hold++) {
		struct model *m = model_new(20);
		struct rcl_counters c = { 0 };
		int said = 0, churn = 0;

		for (int t = 0; t <= 30; t++) {
			long open = t == 0 ? 0 : (hold || t == 1) ? 4 : 0;
			struct proc *p;

			c.opened = (__u64)(25 + 100 * t);
			c.closed = c.opened - (__u64)open;
			memset(c.life, 0, sizeof(c.life));
			c.life[1] = (__u32)c.closed;
			p = step(m, t, open, &c);
			churn += p->verdict == V_CHURN;
			said += strstr(p->rule, "also grows") != NULL;
		}
		assert_true(churn > 20);
		assert_int_equal(said, 0);
		model_free(m);
	}
}

static enum verdict fd_at(long fds, long nofile)
{
	struct model *m = model_new(60);
	struct proc *p = step(m, 0, 1, NULL);
	enum verdict v;

	p->fds = fds;
	p->nofile_soft = nofile;
	model_judge(m);
	v = p->verdict;
	model_free(m);
	return v;
}

static void test_fd_limit(void **state)
{
	assert_int_equal(fd_at(91, 100), V_FD_LIMIT); /* headroom 9 < 10 */
	assert_int_equal(fd_at(90, 100), V_OK);       /* headroom 10 */
	assert_int_equal(fd_at(50, 64), V_OK);
	assert_int_equal(fd_at(60, 64), V_FD_LIMIT);
}

static enum verdict close_wait_for(double secs)
{
	struct model *m = model_new(60);
	enum verdict v = V_OK;

	m->th.zombie_s = 60;
	for (double t = 0; t <= secs; t += 1) {
		struct rcl_fd_rec r = rec(0x42, RCL_TCP_CLOSE_WAIT, 40000, 6379);
		struct proc *p;

		model_begin(m);
		model_hold(m, &r);
		model_end(m, t, 1);
		p = me(m);
		p->fds = 20;
		p->nofile_soft = 1000;
		model_judge(m);
		v = p->verdict;
	}
	model_free(m);
	return v;
}

static void test_zombie_close_wait(void **state)
{
	assert_int_equal(close_wait_for(59), V_OK);
	assert_int_equal(close_wait_for(60), V_ZOMBIE);
}

static enum verdict server_silent_for(double secs)
{
	struct model *m = model_new(60);
	struct rcl_fd_rec l = rec(0x1, RCL_TCP_LISTEN, 6379, 0);
	struct rcl_fd_rec r = rec(0x2, RCL_TCP_ESTABLISHED, 6379, 50000);
	struct proc *p;
	enum verdict v;

	m->hz = 100;
	m->th.zombie_idle_s = 3600;
	r.jiffies = 10000000;
	r.last_rcv = (__u32)(r.jiffies - (__u64)(secs * 100));
	r.last_snd = (__u32)r.jiffies; /* the server keeps writing: still silent */
	model_begin(m);
	model_hold(m, &l);
	model_hold(m, &r);
	model_end(m, 0, 0);
	p = me(m);
	p->fds = 20;
	p->nofile_soft = 1000;
	model_judge(m);
	v = p->verdict;
	assert_int_equal(p->clients, 1);
	assert_true(p->max_idle_s == 0);
	model_free(m);
	return v;
}

static void test_zombie_server(void **state)
{
	assert_int_equal(server_silent_for(3599), V_OK);
	assert_int_equal(server_silent_for(3601), V_ZOMBIE);
}

static void test_idle_and_percentiles(void **state)
{
	struct model *m = model_new(60);
	struct rcl_fd_rec a = rec(0x10, RCL_TCP_ESTABLISHED, 40000, 6379);
	struct rcl_fd_rec b = rec(0x11, RCL_TCP_ESTABLISHED, 40001, 6379);
	__u32 life[RCL_LIFE_BUCKETS] = { 0 };
	struct proc *p;

	m->hz = 250;
	a.jiffies = b.jiffies = 1000000;
	a.last_rcv = a.last_snd = 1000000 - 250 * 400; /* idle 400 s */
	b.last_rcv = 1000000 - 250 * 5;                /* idle 5 s (received) */
	b.last_snd = 1000000 - 250 * 900;
	model_begin(m);
	model_hold(m, &a);
	model_hold(m, &b);
	model_end(m, 0, 0);
	p = me(m);
	assert_int_equal(p->idle, 1); /* over the default 300 s */
	assert_true(p->max_idle_s == 400);

	assert_true(model_life_percentile(life, 0.5) < 0);
	life[0] = 98;  /* < 1 ms */
	life[10] = 2;  /* [512, 1024) ms */
	assert_true(model_life_percentile(life, 0.5) == 0.5);
	assert_true(model_life_percentile(life, 0.99) > 512 && model_life_percentile(life, 0.99) < 1024);
	model_free(m);
}

/* One refresh at time t of a server on 6379 under nofile 1024 with n
 * clients, judged. */
static struct proc *server_refresh(struct model *m, int t, int n)
{
	struct rcl_fd_rec l = rec(0x1, RCL_TCP_LISTEN, 6379, 0);
	struct proc *p;

	model_begin(m);
	model_hold(m, &l);
	for (int k = 0; k < n; k++) {
		struct rcl_fd_rec r = rec(0x100 + k, RCL_TCP_ESTABLISHED, 6379, 50000 + k);

		model_hold(m, &r);
	}
	model_end(m, t, 1);
	p = me(m);
	p->fds = n + 10;
	p->nofile_soft = 1024;
	model_judge(m);
	return p;
}

static void test_server_eta(void **state)
{
	struct model *m = model_new(60);
	struct proc *p = NULL;

	/* server with 1024 nofile (effective limit 992) gaining 60 clients/min */
	for (int t = 0; t <= 30; t++)
		p = server_refresh(m, t, t);
	assert_int_equal(p->clients, 30);
	assert_true(p->capped_by_nofile);
	/* (992 - 30) clients at 1/s */
	assert_true(p->eta_s > 961 && p->eta_s < 963);
	assert_int_equal(p->verdict, V_OK); /* growth on a server is a symptom, not a leak */
	/* Redis short of fds lowers maxclients to nofile - 32 itself, and
	 * CONFIG GET says 992: still capped by nofile; 991 is maxclients' own */
	p->maxclients = 992;
	model_judge(m);
	assert_true(p->capped_by_nofile);
	p->maxclients = 991;
	model_judge(m);
	assert_false(p->capped_by_nofile);
	model_free(m);
}

/* A server step: 2 clients, then 8 at once (a pool filled), then flat. Its
 * slope over the window stays above 0 for a window, and an ETA to the
 * limit with it ("10m58s?"); while the clients grow there is one, once the
 * later half of the window is flat there is none. */
static double server_eta_after_step(int end)
{
	struct model *m = model_new(60);
	struct proc *p = NULL;
	double eta;

	for (int t = 0; t <= end; t++)
		p = server_refresh(m, t, t < 3 ? 2 : 8);
	assert_true(p->clients_growth_per_min > 0); /* the window's slope */
	eta = p->eta_s;
	model_free(m);
	return eta;
}

static void test_server_eta_not_after_step(void **state)
{
	(void)state;
	assert_true(server_eta_after_step(4) > 0); /* the step in the later half */
	assert_true(server_eta_after_step(10) < 0);
	assert_true(server_eta_after_step(40) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leak), cmocka_unit_test(test_leak_needs_half_window),
		cmocka_unit_test(test_leak_not_a_jump), cmocka_unit_test(test_churn_not_a_burst),
		cmocka_unit_test(test_churn_with_leak), cmocka_unit_test(test_churn_step_not_growth),
		cmocka_unit_test(test_churn), cmocka_unit_test(test_fd_limit),
		cmocka_unit_test(test_zombie_close_wait), cmocka_unit_test(test_zombie_server),
		cmocka_unit_test(test_idle_and_percentiles), cmocka_unit_test(test_server_eta),
		cmocka_unit_test(test_server_eta_not_after_step),
	};

	return cmocka_run_group_tests_name("verdict", tests, NULL, NULL);
}
