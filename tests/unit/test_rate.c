// SPDX-License-Identifier: GPL-2.0
/* Unit tests: growth slope over a sliding window, Redis limits and replies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"
#include "rate.h"
#include "redis.h"

static void test_slope_linear(void **state)
{
	struct series s = { 0 };

	/* +2 connections per second = 120 per minute */
	for (int i = 0; i < 30; i++)
		series_push(&s, i, 2.0 * i + 7, 60);
	assert_true(series_slope_per_min(&s) > 119.99 && series_slope_per_min(&s) < 120.01);
	series_free(&s);
}

static void test_slope_flat_and_short(void **state)
{
	struct series s = { 0 };

	assert_true(series_slope_per_min(&s) == 0);
	series_push(&s, 0, 5, 60);
	assert_true(series_slope_per_min(&s) == 0);
	/* one sample, a few samples' room: not SERIES_CAP's */
	assert_true(s.cap >= 1 && s.cap <= 4);
	for (int i = 1; i < 10; i++)
		series_push(&s, i, 5, 60);
	assert_true(series_slope_per_min(&s) == 0);
	series_free(&s);
	assert_true(!s.t && !s.len && !s.cap);
}

static void test_slope_window(void **state)
{
	struct series s = { 0 };

	/* grew for 100 s, then flat for 60 s: a 30 s window sees only flat */
	for (int i = 0; i < 100; i++)
		series_push(&s, i, i, 30);
	for (int i = 100; i < 160; i++)
		series_push(&s, i, 100, 30);
	assert_true(series_slope_per_min(&s) == 0);
	assert_true(s.len <= 31);
	/* and falling is negative */
	for (int i = 160; i < 200; i++)
		series_push(&s, i, 100 - (i - 160), 30);
	assert_true(series_slope_per_min(&s) < -59.9);
	series_free(&s);
}

static void test_slope_interval_over_window(void **state)
{
	struct series s = { 0 };

	/* samples 120 s apart into a 60 s window (rcleak -i 120): the slope
	 * spans the last interval instead of no sample pair at all */
	for (int i = 0; i < 5; i++)
		series_push(&s, i * 120.0, 4.0 * i, 60);
	assert_int_equal(s.len, 2);
	assert_true(series_slope_per_min(&s) > 1.99 && series_slope_per_min(&s) < 2.01);
	series_free(&s);
}

static void test_series_thinning(void **state)
{
	struct series s = { 0 };

	/* 10 samples/s for 100 s into a 100 s window: capped, slope intact */
	for (int i = 0; i < 1000; i++)
		series_push(&s, i / 10.0, i / 10.0, 100);
	assert_true(s.len <= SERIES_CAP);
	assert_true(series_slope_per_min(&s) > 59.9 && series_slope_per_min(&s) < 60.1);
	series_free(&s);
}

/* Room grows as samples come, the ring wrapped in between (a window that
 * drops the oldest while it grows): the samples stay in order, the newest
 * SERIES_CAP kept once it is full. */
static void test_series_grows_in_order(void **state)
{
	struct series s = { 0 };

	for (int i = 0; i < 1000; i++) {
		series_push(&s, i, 3.0 * i, i < 500 ? 6 : SERIES_CAP - 1);
		assert_true(s.len <= s.cap && s.cap <= SERIES_CAP);
		assert_true(series_span(&s) == (s.len < 2 ? 0 : s.len - 1));
	}
	assert_int_equal(s.len, SERIES_CAP);
	assert_int_equal(s.cap, SERIES_CAP);
	assert_true(series_slope_per_min(&s) > 179.99 && series_slope_per_min(&s) < 180.01);
	series_free(&s);
}

static void test_effective_limit(void **state)
{
	/* the ulimit -n 1024 trap: 1024 - 32 = 992 */
	assert_int_equal(model_effective_limit(10000, 1024), 992);
	assert_int_equal(model_effective_limit(0, 1024), 992);
	assert_int_equal(model_effective_limit(500, 1024), 500);
	assert_int_equal(model_effective_limit(0, 65536), 10000);
	assert_int_equal(model_effective_limit(0, -1), 10000);
	assert_int_equal(model_effective_limit(100, 10), 0);
}

static void test_config_reply(void **state)
{
	static const char ok[] = "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n";

	assert_int_equal(redis_parse_config_reply(ok, sizeof(ok) - 1), 10000);
	for (size_t i = 0; i < sizeof(ok) - 1; i++)
		assert_int_equal(redis_parse_config_reply(ok, i), 0);
	assert_int_equal(redis_parse_config_reply("-NOAUTH Authentication required.\r\n", 34), 0);
	assert_int_equal(redis_parse_config_reply("*0\r\n", 4), 0);
	assert_int_equal(redis_parse_config_reply("*2\r\n$10\r\nmaxclients\r\n$3\r\nabc\r\n", 30), 0);
	assert_int_equal(redis_parse_config_reply("*2\r\n$10\r\nmaxclients\r\n$999\r\n1\r\n", 31), 0);
}

/* INFO clients (Redis 7): maxclients at the start of a line of the bulk;
 * -1 until the bulk is whole, 0 when no line says it. */
static void test_info_maxclients(void **state)
{
	static const char body[] = "# Clients\r\nconnected_clients:1\r\ncluster_connections:0\r\n"
				   "maxclients:25\r\nclient_recent_max_input_buffer:20480\r\n";
	static const char old[] = "# Clients\r\nconnected_clients:1\r\nblocked_clients:0\r\n";
	static const char fake[] = "# Clients\r\nx_maxclients:9\r\nmaxclients:abc\r\n";
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "$%zu\r\n%s\r\n", sizeof(body) - 1, body);

	assert_int_equal(redis_parse_info_maxclients(buf, (size_t)n), 25);
	for (int i = 1; i < n - 2; i++) /* cut anywhere before the bulk's end */
		assert_true(redis_parse_info_maxclients(buf, (size_t)i) <= 0);
	n = snprintf(buf, sizeof(buf), "$%zu\r\n%s\r\n", sizeof(old) - 1, old);
	assert_int_equal(redis_parse_info_maxclients(buf, (size_t)n), 0);
	n = snprintf(buf, sizeof(buf), "$%zu\r\n%s\r\n", sizeof(fake) - 1, fake);
	assert_int_equal(redis_parse_info_maxclients(buf, (size_t)n), 0);
	assert_int_equal(redis_parse_info_maxclients("-ERR unknown command\r\n", 22), 0);
	assert_int_equal(redis_parse_info_maxclients("$", 1), 0);
	assert_int_equal(redis_parse_info_maxclients("$99999999\r\n", 12), 0);
}

/* INFO clients' cluster_connections: 0 is an answer (no bus links), a
 * bigger one a node's bus links; absent (before Redis 7) is 0 too. */
static void test_info_cluster_links(void **state)
{
	static const char node[] = "# Clients\r\nconnected_clients:1\r\ncluster_connections:4\r\nmaxclients:10\r\n";
	static const char none[] = "# Clients\r\nconnected_clients:1\r\ncluster_connections:0\r\n";
	static const char old[] = "# Clients\r\nconnected_clients:1\r\nblocked_clients:0\r\n";
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "$%zu\r\n%s\r\n", sizeof(node) - 1, node);

	(void)state;
	assert_int_equal(redis_parse_info_cluster_links(buf, (size_t)n), 4);
	assert_int_equal(redis_parse_info_cluster_links(buf, 5), -1);
	n = snprintf(buf, sizeof(buf), "$%zu\r\n%s\r\n", sizeof(none) - 1, none);
	assert_int_equal(redis_parse_info_cluster_links(buf, (size_t)n), 0);
	n = snprintf(buf, sizeof(buf), "$%zu\r\n%s\r\n", sizeof(old) - 1, old);
	assert_int_equal(redis_parse_info_cluster_links(buf, (size_t)n), 0);
	assert_int_equal(redis_parse_info_cluster_links("-NOPERM no\r\n", 12), 0);
}

static void test_cmdline(void **state)
{
	assert_int_equal(redis_maxclients_from_cmdline("redis-server --port 1 --maxclients 77", 1), 77);
	assert_int_equal(redis_maxclients_from_cmdline("redis-server 127.0.0.1:6379", 1), 0);
	assert_int_equal(redis_maxclients_from_cmdline("redis-server --maxclients", 1), 0);
	assert_int_equal(redis_maxclients_from_cmdline("", 1), 0);
	/* Redis applies options in order, names case-insensitive */
	assert_int_equal(redis_maxclients_from_cmdline("redis-server --maxclients 50 --MaxClients 20", 1), 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slope_linear), cmocka_unit_test(test_slope_flat_and_short),
		cmocka_unit_test(test_slope_window), cmocka_unit_test(test_series_thinning),
		cmocka_unit_test(test_series_grows_in_order),
		cmocka_unit_test(test_slope_interval_over_window),
		cmocka_unit_test(test_effective_limit), cmocka_unit_test(test_config_reply), cmocka_unit_test(test_info_maxclients),
		cmocka_unit_test(test_info_cluster_links),
		cmocka_unit_test(test_cmdline),
	};

	return cmocka_run_group_tests_name("rate", tests, NULL, NULL);
}
