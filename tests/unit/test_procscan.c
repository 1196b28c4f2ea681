// SPDX-License-Identifier: GPL-2.0
/* Unit tests: /proc/net/tcp{,6} line parsing for the /proc walk. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "procscan.h"

static void test_v4(void **state)
{
	static const char line[] =
		"   3: 0100007F:3FEB 0100007F:D8A2 01 00000000:00000000 00:00000000 00000000"
		"     0        0 12345 1 0000000000000000 20 4 30 10 -1\n";
	static const unsigned char lo[4] = { 127, 0, 0, 1 };
	struct rcl_fd_rec r;
	unsigned long inode = 0;

	assert_int_equal(procscan_parse_tcp_line(line, 2, &r, &inode), 0);
	assert_int_equal(inode, 12345);
	assert_int_equal(r.lport, 0x3FEB);
	assert_int_equal(r.rport, 0xD8A2);
	assert_int_equal(r.state, 1);
	assert_int_equal(r.family, 2);
	assert_memory_equal(r.laddr, lo, 4);
	assert_memory_equal(r.raddr, lo, 4);
}

static void test_v6(void **state)
{
	static const char line[] =
		"   0: 00000000000000000000000001000000:3FEB 00000000000000000000000001000000:9C40 08 "
		"00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 20 4 30 10 -1\n";
	unsigned char lo6[16] = { 0 };
	struct rcl_fd_rec r;
	unsigned long inode = 0;

	lo6[15] = 1;
	assert_int_equal(procscan_parse_tcp_line(line, 10, &r, &inode), 0);
	assert_int_equal(inode, 777);
	assert_int_equal(r.state, 8);
	assert_int_equal(r.rport, 0x9C40);
	assert_memory_equal(r.laddr, lo6, 16);
}

static void test_bad(void **state)
{
	struct rcl_fd_rec r;
	unsigned long inode;

	assert_int_equal(procscan_parse_tcp_line("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n", 2, &r, &inode), -1);
	assert_int_equal(procscan_parse_tcp_line("", 2, &r, &inode), -1);
	assert_int_equal(procscan_parse_tcp_line("   0: 0100007G:3FEB 0100007F:D8A2 01 0:0 0:0 0 0 0 1\n", 2, &r, &inode), -1);
	assert_int_equal(procscan_parse_tcp_line("   0: 0100007F:FFFFF 0100007F:D8A2 01 0:0 0:0 0 0 0 1\n", 2, &r, &inode), -1);
	assert_int_equal(procscan_parse_tcp_line("   0: 0100007F 0100007F:D8A2 01 0:0 0:0 0 0 0 1\n", 2, &r, &inode), -1);
}

/* /proc/net/unix: only the server end of a stream connection counts */
static void test_unix(void **state)
{
	unsigned long inode = 0;

	(void)state;
	/* accepted by a listener bound to a path: connected, with the path */
	assert_int_equal(procscan_parse_unix_line("0000000088a1c2d3: 00000002 00000000 00000000 0001 03 41377 /tmp/redis.sock\n", &inode), 0);
	assert_int_equal(inode, 41377);
	/* abstract addresses print with @ */
	assert_int_equal(procscan_parse_unix_line("0000000088a1c2d3: 00000002 00000000 00000000 0001 03 7 @redis\n", &inode), 0);
	assert_int_equal(inode, 7);
	/* the listener itself (__SO_ACCEPTCON, unconnected) */
	assert_int_equal(procscan_parse_unix_line("0000000088a1c2d3: 00000002 00000000 00010000 0001 01 41370 /tmp/redis.sock\n", &inode), -1);
	/* a client's end: connected, no address */
	assert_int_equal(procscan_parse_unix_line("00000000753eee4a: 00000003 00000000 00000000 0001 03 342\n", &inode), -1);
	assert_int_equal(procscan_parse_unix_line("00000000753eee4a: 00000003 00000000 00000000 0001 03 342", &inode), -1);
	/* datagram, seqpacket, and a connection being set up */
	assert_int_equal(procscan_parse_unix_line("0000000088a1c2d3: 00000002 00000000 00000000 0002 03 9 /run/systemd/notify\n", &inode), -1);
	assert_int_equal(procscan_parse_unix_line("0000000088a1c2d3: 00000002 00000000 00000000 0005 03 9 /run/x\n", &inode), -1);
	assert_int_equal(procscan_parse_unix_line("0000000088a1c2d3: 00000002 00000000 00000000 0001 02 9 /run/x\n", &inode), -1);
	/* the header and junk */
	assert_int_equal(procscan_parse_unix_line("Num       RefCount Protocol Flags    Type St Inode Path\n", &inode), -1);
	assert_int_equal(procscan_parse_unix_line("", &inode), -1);
	assert_int_equal(procscan_parse_unix_line("0000: zz\n", &inode), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4), cmocka_unit_test(test_v6), cmocka_unit_test(test_bad),
		cmocka_unit_test(test_unix),
	};

	return cmocka_run_group_tests_name("procscan", tests, NULL, NULL);
}
