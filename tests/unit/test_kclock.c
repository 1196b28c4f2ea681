// SPDX-License-Identifier: GPL-2.0
/* Unit tests: time namespace offsets, as /proc/self/timens_offsets prints
 * them; the kernel's HZ from jiffies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "kclock.h"
#include "procfs.h"

/* jiffies64 at uptime s on a kernel built with hz (INITIAL_JIFFIES is
 * 2^32 - 300 s of jiffies) */
static __u64 jiffies_at(long hz, double s)
{
	return (__u64)((double)(1ULL << 32) + (s - 300.0) * (double)hz);
}

static void test_hz_from_jiffies(void **state)
{
	(void)state;
	/* early (a fresh VM's 20 s): jiffies still below 2^32 */
	assert_int_equal(procfs_hz_from_jiffies(jiffies_at(250, 20.0), 20.0), 250);
	assert_int_equal(procfs_hz_from_jiffies(jiffies_at(1000, 150.0) + 5, 150.0), 1000);
	assert_int_equal(procfs_hz_from_jiffies(jiffies_at(100, 86400.0), 86400.0), 100);
	/* near the 300 s offset a small error in the uptime decides: none */
	assert_int_equal(procfs_hz_from_jiffies(jiffies_at(250, 350.0), 350.0), 0);
	assert_int_equal(procfs_hz_from_jiffies(jiffies_at(250, 250.0), 250.0), 0);
	/* not a HZ a kernel has */
	assert_int_equal(procfs_hz_from_jiffies(jiffies_at(500, 1000.0), 1000.0), 0);
}

static void test_hz_from_ticks(void **state)
{
	(void)state;
	assert_int_equal(procfs_hz_from_ticks(5000, 10.0, 5250, 11.0), 250);
	assert_int_equal(procfs_hz_from_ticks(5000, 10.0, 5000 + 3 * 300 + 4, 13.0), 300);
	assert_int_equal(procfs_hz_from_ticks(5000, 10.0, 5500, 11.0), 0);   /* 500 */
	assert_int_equal(procfs_hz_from_ticks(5000, 10.0, 5125, 10.5), 0);   /* < 1 s apart */
	assert_int_equal(procfs_hz_from_ticks(5000, 10.0, 4000, 12.0), 0);   /* backwards */
}

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
		cmocka_unit_test(test_hz_from_jiffies),
		cmocka_unit_test(test_hz_from_ticks),
		cmocka_unit_test(test_offsets_empty_and_bad),
		cmocka_unit_test(test_boot_never_behind_mono),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
