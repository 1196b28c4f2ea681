// SPDX-License-Identifier: GPL-2.0
/* Unit tests: finding the other end of a connection by 4-tuple. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "join.h"

static struct rcl_fd_rec end(__u32 tgid, __u8 family, __u16 lport, __u16 rport, __u8 lhost, __u8 rhost)
{
	struct rcl_fd_rec r;

	memset(&r, 0, sizeof(r));
	r.tgid = tgid;
	r.family = family;
	r.state = RCL_TCP_ESTABLISHED;
	r.lport = lport;
	r.rport = rport;
	if (family == 2) {
		r.laddr[0] = r.raddr[0] = 10;
		r.laddr[3] = lhost;
		r.raddr[3] = rhost;
	} else {
		r.laddr[15] = lhost;
		r.raddr[15] = rhost;
	}
	return r;
}

static void test_peer(void **state)
{
	struct model *clients = model_new(60);
	struct rcl_fd_rec srv;
	struct join_index *ix;

	(void)state;
	model_begin(clients);
	for (__u16 p = 40000; p < 40500; p++) { /* client host 10.0.0.2 */
		struct rcl_fd_rec r = end(100 + p % 7, 2, p, 6379, 2, 1);

		model_hold(clients, &r);
	}
	{
		struct rcl_fd_rec r = end(900, 10, 41000, 6379, 2, 1); /* IPv6 */

		model_hold(clients, &r);
		r = end(901, 2, 40007, 6379, 2, 1); /* the same tuple, later: a fork */
		model_hold(clients, &r);
		r = end(902, 2, 6379, 0, 2, 0);
		r.raddr[0] = 0; /* 10.0.0.2:6379, listening */
		r.state = RCL_TCP_LISTEN;
		model_hold(clients, &r);
	}
	model_end(clients, 1, 0);
	ix = join_index_build(clients);
	assert_non_null(ix);

	srv = end(1, 2, 6379, 40007, 1, 2);
	assert_non_null(join_index_peer(ix, &srv));
	assert_int_equal(join_index_peer(ix, &srv)->tgid, 100 + 40007 % 7); /* the first holder */
	srv = end(1, 10, 6379, 41000, 1, 2);
	assert_int_equal(join_index_peer(ix, &srv)->tgid, 900);
	srv = end(1, 2, 6379, 41000, 1, 2); /* that port over IPv4: nobody */
	assert_null(join_index_peer(ix, &srv));
	srv = end(1, 2, 6379, 40007, 1, 3); /* another client host */
	assert_null(join_index_peer(ix, &srv));
	srv = end(1, 2, 6380, 40007, 1, 2); /* another server port */
	assert_null(join_index_peer(ix, &srv));
	srv = end(1, 2, 0, 6379, 0, 2); /* never a listener */
	srv.laddr[0] = 0;
	assert_null(join_index_peer(ix, &srv));
	assert_null(join_index_peer(NULL, &srv));
	join_index_free(ix);
	model_free(clients);
}

/* r's addresses as IPv4-mapped IPv6 ones (::ffff:a.b.c.d). */
static void map_v6(struct rcl_fd_rec *r)
{
	__u8 *a[2] = { r->laddr, r->raddr };

	r->family = 10;
	for (int i = 0; i < 2; i++) {
		memmove(a[i] + 12, a[i], 4);
		memset(a[i], 0, 10);
		a[i][10] = a[i][11] = 0xff;
	}
}

/* A dual-stack listener's accepted IPv4 clients are IPv6 sockets with
 * IPv4-mapped addresses; their clients' ends are IPv4 ones (and the other
 * way round, a client's IPv6 socket connected to an IPv4 address). The
 * key compared family and bytes: such connections joined nobody. */
static void test_peer_mapped(void **state)
{
	struct model *clients = model_new(60);
	struct rcl_fd_rec srv, r;
	struct join_index *ix;

	(void)state;
	model_begin(clients);
	r = end(300, 2, 40000, 6379, 2, 1); /* 10.0.0.2:40000 -> 10.0.0.1:6379 */
	model_hold(clients, &r);
	r = end(301, 2, 40001, 6379, 2, 1);
	map_v6(&r); /* [::ffff:10.0.0.2]:40001 -> [::ffff:10.0.0.1]:6379 */
	model_hold(clients, &r);
	model_end(clients, 1, 0);
	ix = join_index_build(clients);
	assert_non_null(ix);
	srv = end(1, 2, 6379, 40000, 1, 2);
	map_v6(&srv);
	assert_non_null(join_index_peer(ix, &srv));
	assert_int_equal(join_index_peer(ix, &srv)->tgid, 300);
	srv = end(1, 2, 6379, 40001, 1, 2);
	assert_non_null(join_index_peer(ix, &srv));
	assert_int_equal(join_index_peer(ix, &srv)->tgid, 301);
	srv = end(1, 2, 6379, 40000, 1, 3); /* another client host */
	map_v6(&srv);
	assert_null(join_index_peer(ix, &srv));
	join_index_free(ix);
	model_free(clients);
}

/* Loopback on either end, in each form: only then are both ends on one host. */
static void test_loopback(void **state)
{
	struct rcl_fd_rec r = end(1, 2, 6379, 40000, 1, 2); /* 10.0.0.1 <- 10.0.0.2 */

	(void)state;
	assert_false(join_loopback(&r));
	r.raddr[0] = 127; /* 127.0.0.2 */
	assert_true(join_loopback(&r));
	r = end(1, 2, 6379, 40000, 1, 2);
	r.laddr[0] = 127;
	assert_true(join_loopback(&r));
	r.laddr[0] = 128;
	assert_false(join_loopback(&r));
	r = end(1, 10, 6379, 40000, 1, 2); /* ::1 <- ::2 */
	assert_true(join_loopback(&r));
	r = end(1, 10, 6379, 40000, 3, 2); /* ::3 <- ::2 */
	assert_false(join_loopback(&r));
	memset(r.raddr, 0, 16); /* ::ffff:127.0.0.1 */
	r.raddr[10] = r.raddr[11] = 0xff;
	r.raddr[12] = 127;
	r.raddr[15] = 1;
	assert_true(join_loopback(&r));
	r.raddr[12] = 10; /* ::ffff:10.0.0.1 */
	assert_false(join_loopback(&r));
	r = end(1, 2, 6379, 40000, 1, 2); /* 127 in an IPv6 address's first byte is not loopback */
	r.family = 10;
	r.laddr[0] = 127;
	assert_false(join_loopback(&r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_peer_mapped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
