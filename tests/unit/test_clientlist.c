// SPDX-License-Identifier: GPL-2.0
/* Unit tests: parsing CLIENT LIST lines (user/clientlist.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "clientlist.h"

/* Lines as Redis 7.0 prints them (trimmed of fields rcleak does not read). */
#define IDLE_CLIENT "id=7 addr=127.0.0.1:50412 laddr=127.0.0.1:6379 fd=9 name= age=12 idle=11 " \
	"flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 cmd=ping"

static void test_plain_client(void **state)
{
	struct redis_client c;

	(void)state;
	assert_int_equal(clientlist_parse_line(IDLE_CLIENT, &c), 0);
	assert_int_equal(c.id, 7);
	assert_int_equal(c.port, 50412);
	assert_int_equal(c.age, 12);
	assert_int_equal(c.idle, 11);
	assert_string_equal(c.cmd, "ping");
	assert_false(c.waits);
}

static void test_waiting_clients(void **state)
{
	static const char *const waits[] = {
		/* RESP2 subscriber */
		"id=8 addr=127.0.0.1:50414 fd=10 age=5 idle=5 flags=P db=0 sub=1 psub=0 ssub=0 cmd=subscribe",
		/* pattern only, and a RESP3 client (no P flag) */
		"id=9 addr=[::1]:50416 fd=11 age=5 idle=5 flags=N db=0 sub=0 psub=2 cmd=psubscribe",
		/* shard channels (Redis 7) */
		"id=10 addr=127.0.0.1:50418 fd=12 age=5 idle=5 flags=N db=0 sub=0 psub=0 ssub=1 cmd=ssubscribe",
		/* blocked in BLPOP */
		"id=11 addr=127.0.0.1:50420 fd=13 age=5 idle=5 flags=b db=0 sub=0 psub=0 cmd=blpop",
	};
	struct redis_client c;

	(void)state;
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		assert_int_equal(clientlist_parse_line(waits[i], &c), 0);
		assert_true(c.waits);
	}
	/* a name or command that merely contains the letters does not count */
	assert_int_equal(clientlist_parse_line("id=12 addr=127.0.0.1:50422 name=Pb flags=N sub=0 "
					       "cmd=unsubscribe", &c), 0);
	assert_false(c.waits);
	assert_string_equal(c.name, "Pb");
}

static void test_no_addr(void **state)
{
	struct redis_client c;

	(void)state;
	assert_int_equal(clientlist_parse_line("id=1 fd=3 flags=P sub=1", &c), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_client),
		cmocka_unit_test(test_waiting_clients),
		cmocka_unit_test(test_no_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
