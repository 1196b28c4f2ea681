// SPDX-License-Identifier: GPL-2.0
/* Unit tests: rcleak run's watch of its tree (procwatch.c), against real
 * processes (this one, and a child that exits): exits dated when they
 * happen (a zombie has exited), command lines, the most connects in any
 * one window. No root, no kernel side. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "procfs.h"
#include "procwatch.h"

static struct rcl_owner self(void)
{
	struct rcl_owner o = { .tgid = (__u32)getpid(), .start_ns = procfs_start_ns(getpid()) };

	assert_true(o.start_ns > 0);
	return o;
}

/* Rates over a 5 s window, one note every 20 ms (the run loop's pass). */
static double rate_of(__u64 (*opened_at)(double t), double until)
{
	struct procwatch w = { .window_s = 5 };
	struct rcl_owner o = self();
	double r;

	for (int i = 0; i * 0.02 <= until; i++)
		assert_int_equal(procwatch_note(&w, &o, opened_at(i * 0.02), i * 0.02), 0);
	assert_non_null(procwatch_find(&w, &o));
	r = procwatch_find(&w, &o)->max_rate;
	procwatch_free(&w);
	return r;
}

/* 100 connects between t = 2 and t = 3, nothing else: 100 in a window */
static __u64 burst(double t)
{
	return t < 2 ? 0 : t < 3 ? (__u64)((t - 2) * 100) : 100;
}

/* 10 connects a second from t = 0 */
static __u64 steady(double t)
{
	return (__u64)(t * 10);
}

/* 60 connects in the first second, then 10 a second */
static __u64 early(double t)
{
	return t < 1 ? (__u64)(t * 60) : 60 + (__u64)((t - 1) * 10);
}

static void test_window_rate(void **state)
{
	double r;

	(void)state;
	/* never more than the window holds: 100 / 5 s, whoever samples it */
	assert_true(rate_of(burst, 20) == 20.0);
	/* a window reaches at most a sample step (window/60) and a pass
	 * further back */
	r = rate_of(steady, 20);
	assert_true(r >= 10 && r <= 10 * (5 + 5.0 / 60 + 0.02) / 5 + 0.2);
	/* the first window counts from the start: 60 + 4 s * 10, over 5 s */
	r = rate_of(early, 20);
	assert_true(r >= 20 && r <= 20.2);
}

static void test_running(void **state)
{
	struct procwatch w = { .window_s = 5 };
	struct rcl_owner o = self();
	const struct procwatch_ent *e;
	char want[MODEL_CMDLINE];

	(void)state;
	assert_int_equal(procwatch_note(&w, &o, 1, 1.0), 0);
	procwatch_check(&w, 1.5);
	e = procwatch_find(&w, &o);
	assert_non_null(e);
	assert_true(e->exited_at < 0);
	assert_true(e->have_cmdline);
	assert_int_equal(procfs_cmdline(getpid(), want, sizeof(want)), 0);
	assert_string_equal(e->cmdline, want);
	procwatch_drop(&w, &o);
	assert_null(procwatch_find(&w, &o));
	procwatch_free(&w);
}

static char zstate(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	return p && p[1] ? p[2] : 0;
}

/* A child noted while it runs, then a zombie: exited at the check that
 * finds it so, its command line kept. One noted first as a zombie: exited
 * at once; its command line could not be read. */
static void test_zombie(void **state)
{
	struct procwatch w = { .window_s = 5 };
	struct timespec ms = { 0, 1000000 };
	const struct procwatch_ent *e;
	int go[2];
	pid_t kid, kid2;
	struct rcl_owner o, o2;
	char c = 0;

	(void)state;
	assert_int_equal(pipe(go), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		if (read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	o = (struct rcl_owner){ .tgid = (__u32)kid, .start_ns = procfs_start_ns(kid) };
	assert_int_equal(procwatch_note(&w, &o, 3, 2.0), 0);
	procwatch_check(&w, 2.02);
	e = procwatch_find(&w, &o);
	assert_true(e->exited_at < 0);
	assert_true(e->have_cmdline);
	assert_int_equal(write(go[1], &c, 1), 1);
	while (zstate(kid) != 'Z')
		nanosleep(&ms, NULL);
	procwatch_check(&w, 2.04);
	e = procwatch_find(&w, &o);
	assert_true(e->exited_at == 2.04);
	assert_true(e->have_cmdline);

	kid2 = fork();
	assert_true(kid2 >= 0);
	if (kid2 == 0)
		_exit(0);
	while (zstate(kid2) != 'Z')
		nanosleep(&ms, NULL);
	o2 = (struct rcl_owner){ .tgid = (__u32)kid2, .start_ns = procfs_start_ns(kid2) };
	assert_int_equal(procwatch_note(&w, &o2, 1, 3.0), 0);
	e = procwatch_find(&w, &o2);
	assert_true(e->exited_at == 3.0);
	assert_false(e->have_cmdline);
	assert_int_equal(procfs_cmdline(kid2, (char[16]){ 0 }, 16), -1);

	waitpid(kid, NULL, 0);
	waitpid(kid2, NULL, 0);
	close(go[0]);
	close(go[1]);
	procwatch_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_rate), cmocka_unit_test(test_running),
		cmocka_unit_test(test_zombie),
	};

	return cmocka_run_group_tests_name("procwatch", tests, NULL, NULL);
}
