// SPDX-License-Identifier: GPL-2.0
/* Unit tests: time namespace offsets, as /proc/self/timens_offsets prints them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "kclock.h"

static void test_offsets_as_printed(void **state)
{
	__s64 mono, boot;

	(void)state;
	assert_int_equal(kclock_parse_offsets("monotonic           0         0\n"
					      "boottime       100000         0\n", &mono, &boot), 0);
	assert_true(mono == 0);
	assert_true(boot == 100000LL * 1000000000LL);
	assert_int_equal(kclock_parse_offsets("monotonic       -50  250000000\n"
					      "boottime           7         5\n", &mono, &boot), 0);
	assert_true(mono == -50LL * 1000000000LL + 250000000LL);
	assert_true(boot == 7LL * 1000000000LL + 5);
}

static void test_offsets_empty_and_bad(void **state)
{
	__s64 mono = 1, boot = 1;

	(void)state;
	assert_int_equal(kclock_parse_offsets("", &mono, &boot), 0);
	assert_true(mono == 0 && boot == 0);
	assert_int_equal(kclock_parse_offsets("boottime 1\n", &mono, &boot), -1);
	assert_int_equal(kclock_parse_offsets("boottime 1 2000000000\n", &mono, &boot), -1);
	assert_int_equal(kclock_parse_offsets("garbage\n", &mono, &boot), -1);
}

static void test_boot_never_behind_mono(void **state)
{
	double mono, boot;

	(void)state;
	/* the kernel's boot time is monotonic time plus time suspended: never
	 * less, whatever offsets the namespace this runs in has */
	mono = kclock_mono_s();
	boot = kclock_boot_s();
	assert_true(mono > 0);
	assert_true(boot >= mono - 1e-6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offsets_as_printed),
		cmocka_unit_test(test_offsets_empty_and_bad),
		cmocka_unit_test(test_boot_never_behind_mono),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
