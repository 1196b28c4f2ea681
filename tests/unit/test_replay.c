// SPDX-License-Identifier: GPL-2.0
/* Unit tests: refreshes of a live model, recorded (record_tick) and fed back
 * (replay_record), give the model the live one was, field for field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "collect.h"
#include "model.h"
#include "record.h"
#include "replay.h"

/* A sink that feeds each record straight to a replay, and counts the
 * refreshes the replay completed. */
struct feed {
	struct replay r;
	int ticks;
};

static int feed_append(void *ctx, __u16 type, __u64 ts_ns, const void *data, __u32 len)
{
	struct feed *f = ctx;
	struct capture_record rec = { .type = type, .ts_ns = ts_ns, .len = len, .data = data };

	f->ticks += replay_record(&f->r, &rec);
	return 0;
}

static struct rcl_fd_rec client_rec(__u32 tgid, __u64 sk, __u32 fd)
{
	struct rcl_fd_rec r;

	memset(&r, 0, sizeof(r));
	r.tgid = tgid;
	r.start_ns = tgid * 1000ULL;
	r.sk = sk;
	r.fd = fd;
	r.state = RCL_TCP_ESTABLISHED;
	r.lport = (__u16)(40000 + fd);
	r.rport = 6379;
	r.family = 2;
	r.nofile_cur = 1024;
	r.nofile_max = 4096;
	strcpy(r.comm, "leaker");
	return r;
}

/* One live refresh at time now: the leaker holds n connections, and its
 * counters say it opened `opened` (the kernel made them at its first
 * connect, zero until that connection is established). */
static void live_refresh(struct collector *c, struct rec_sink *s, double now, int n, __u64 opened)
{
	struct rcl_owner o = { .tgid = 7, .start_ns = 7000 };
	struct rcl_counters cn;

	memset(&cn, 0, sizeof(cn));
	cn.opened = opened;
	cn.cur = (__s64)opened;
	cn.peak = opened;
	strcpy(cn.comm, "leaker");
	model_begin(c->model);
	for (int k = 0; k < n; k++) {
		struct rcl_fd_rec r = client_rec(7, 0x100 + k, 3 + k);

		assert_int_equal(model_hold(c->model, &r), 0);
	}
	model_counters(c->model, &o, &cn);
	model_end(c->model, now, c->last > 0 ? now - c->last : 0);
	c->last_dt = c->last > 0 ? now - c->last : 0;
	c->last = now;
	assert_int_equal(record_tick(s, c, 1.8e9 + now), 0);
}

static const struct proc *leaker(struct model *m)
{
	struct rcl_owner o = { .tgid = 7, .start_ns = 7000 };

	return model_find(m, &o);
}

/* The leaker's first connect fell between the walk and the counters' read:
 * at that refresh it held no socket and had nothing counted, yet the live
 * model held it and took a sample of it (0 open). The replay took none: its
 * growth, from one sample, read 0 where the live view said 360/min (a TCG
 * guest's record_replay_summary, one run in several). */
static void test_zero_counters_first(void **state)
{
	struct model *live = model_new(4), *rep = model_new(4);
	struct collector c;
	struct feed f;
	struct rec_sink s = { .append = feed_append, .ctx = &f };
	const struct proc *lp, *rp;
	(void)state;

	assert_non_null(live);
	assert_non_null(rep);
	memset(&c, 0, sizeof(c));
	c.model = live;
	memset(&f, 0, sizeof(f));
	replay_init(&f.r, rep);

	live_refresh(&c, &s, 2.5, 0, 0);
	assert_int_equal(f.ticks, 1);
	assert_non_null(leaker(live));
	assert_non_null(leaker(rep));
	live_refresh(&c, &s, 3.0, 3, 3);
	assert_int_equal(f.ticks, 2);

	lp = leaker(live);
	rp = leaker(rep);
	assert_non_null(lp);
	assert_non_null(rp);
	assert_int_equal(lp->open, 3);
	assert_true(lp->growth_per_min > 359.9 && lp->growth_per_min < 360.1);
	assert_int_equal(rp->open, lp->open);
	assert_true(rp->growth_per_min == lp->growth_per_min);
	assert_true(rp->win_open_rate == lp->win_open_rate);
	assert_int_equal(rep->nprocs, live->nprocs);

	replay_free(&f.r);
	model_free(live);
	model_free(rep);
}

/* A close the kernel's events missed, found by reconciliation before the
 * refresh: live counted it in that refresh's close rate; the replay set it
 * from the facts after model_end, so its close rate had it a refresh late. */
static void test_missed_close_in_its_refresh(void **state)
{
	struct model *live = model_new(4), *rep = model_new(4);
	struct rcl_owner o = { .tgid = 7, .start_ns = 7000 };
	struct collector c;
	struct feed f;
	struct rec_sink s = { .append = feed_append, .ctx = &f };
	const struct proc *lp, *rp;
	(void)state;

	assert_non_null(live);
	assert_non_null(rep);
	memset(&c, 0, sizeof(c));
	c.model = live;
	memset(&f, 0, sizeof(f));
	replay_init(&f.r, rep);

	live_refresh(&c, &s, 1.0, 2, 2);
	model_missed_close(live, &o);
	live_refresh(&c, &s, 1.5, 1, 2);
	assert_int_equal(f.ticks, 2);
	lp = leaker(live);
	rp = leaker(rep);
	assert_non_null(lp);
	assert_non_null(rp);
	assert_true(lp->close_rate > 1.99 && lp->close_rate < 2.01);
	assert_true(rp->close_rate == lp->close_rate);
	assert_int_equal(rp->missed_closed, lp->missed_closed);

	replay_free(&f.r);
	model_free(live);
	model_free(rep);
}

/* The end record says whether the file's last tick is the recording's
 * final refresh: a recorder whose last refresh failed says it is not (its
 * events after the last tick are the recording's last); one of minor 10
 * and before (4 bytes, the signal alone) says nothing, which is "final". */
static void test_end_final(void **state)
{
	static const __u8 minor10[4] = { 2, 0, 0, 0 };
	struct capture_record rec = { .type = REC_END, .data = minor10, .len = sizeof(minor10) };
	struct feed f;
	struct rec_sink s = { .append = feed_append, .ctx = &f };
	struct model *m = model_new(60);

	(void)state;
	assert_non_null(m);
	for (int failed = 0; failed < 2; failed++) {
		replay_init(&f.r, m);
		assert_int_equal(record_end(&s, 0, 15, failed ? REC_END_NO_FINAL : 0), 0);
		assert_true(f.r.finished);
		assert_int_equal(f.r.end_signal, 15);
		assert_int_equal(f.r.end_no_final, failed);
		replay_free(&f.r);
	}
	replay_init(&f.r, m);
	replay_record(&f.r, &rec);
	assert_true(f.r.finished);
	assert_int_equal(f.r.end_signal, 2);
	assert_false(f.r.end_no_final);
	replay_free(&f.r);
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_counters_first),
		cmocka_unit_test(test_missed_close_in_its_refresh),
		cmocka_unit_test(test_end_final),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
