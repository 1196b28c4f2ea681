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
#include "model_helpers.h"
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

/* A live model whose refreshes are recorded straight into a replay of
 * its own model. */
struct pair {
	struct model *live, *rep;
	struct collector c;
	struct feed f;
	struct rec_sink s;
};

static int pair_setup(void **state)
{
	struct pair *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	t->live = model_new(4);
	t->rep = model_new(4);
	if (!t->live || !t->rep) {
		model_free(t->live);
		model_free(t->rep);
		free(t);
		return -1;
	}
	t->c.model = t->live;
	replay_init(&t->f.r, t->rep);
	t->s.append = feed_append;
	t->s.ctx = &t->f;
	*state = t;
	return 0;
}

static int pair_teardown(void **state)
{
	struct pair *t = *state;

	replay_free(&t->f.r);
	model_free(t->live);
	model_free(t->rep);
	free(t);
	return 0;
}

/* One live refresh at time now: the leaker holds n connections, and its
 * counters say it opened `opened` (the kernel made them at its first
 * connect, zero until that connection is established). */
static void live_refresh(struct pair *t, double now, int n, __u64 opened)
{
	struct rcl_owner o = { .tgid = 7, .start_ns = 7000 };
	struct rcl_counters cn;
	struct collector *c = &t->c;

	memset(&cn, 0, sizeof(cn));
	cn.opened = opened;
	cn.cur = (__s64)opened;
	cn.peak = opened;
	strcpy(cn.comm, "client");
	model_begin(c->model);
	for (int k = 0; k < n; k++) {
		struct rcl_fd_rec r = fd_rec(7, 0x100 + k, 3 + k, RCL_TCP_ESTABLISHED, 40003 + k, 6379);

		assert_int_equal(model_hold(c->model, &r), 0);
	}
	model_counters(c->model, &o, &cn);
	model_end(c->model, now, c->last > 0 ? now - c->last : 0);
	c->last_dt = c->last > 0 ? now - c->last : 0;
	c->last = now;
	assert_int_equal(record_tick(&t->s, c, 1.8e9 + now), 0);
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
	struct pair *t = *state;
	const struct proc *lp, *rp;

	live_refresh(t, 2.5, 0, 0);
	assert_int_equal(t->f.ticks, 1);
	assert_non_null(leaker(t->live));
	assert_non_null(leaker(t->rep));
	live_refresh(t, 3.0, 3, 3);
	assert_int_equal(t->f.ticks, 2);

	lp = leaker(t->live);
	rp = leaker(t->rep);
	assert_non_null(lp);
	assert_non_null(rp);
	assert_int_equal(lp->open, 3);
	assert_true(lp->growth_per_min > 359.9 && lp->growth_per_min < 360.1);
	assert_int_equal(rp->open, lp->open);
	assert_true(rp->growth_per_min == lp->growth_per_min);
	assert_true(rp->win_open_rate == lp->win_open_rate);
	assert_int_equal(t->rep->nprocs, t->live->nprocs);
}

/* A close the kernel's events missed, found by reconciliation before the
 * refresh: live counted it in that refresh's close rate; the replay set it
 * from the facts after model_end, so its close rate had it a refresh late. */
static void test_missed_close_in_its_refresh(void **state)
{
	struct pair *t = *state;
	struct rcl_owner o = { .tgid = 7, .start_ns = 7000 };
	const struct proc *lp, *rp;

	live_refresh(t, 1.0, 2, 2);
	model_missed_close(t->live, &o);
	live_refresh(t, 1.5, 1, 2);
	assert_int_equal(t->f.ticks, 2);
	lp = leaker(t->live);
	rp = leaker(t->rep);
	assert_non_null(lp);
	assert_non_null(rp);
	assert_true(lp->close_rate > 1.99 && lp->close_rate < 2.01);
	assert_true(rp->close_rate == lp->close_rate);
	assert_int_equal(rp->missed_closed, lp->missed_closed);
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
		cmocka_unit_test_setup_teardown(test_zero_counters_first, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_missed_close_in_its_refresh, pair_setup, pair_teardown),
		cmocka_unit_test(test_end_final),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
