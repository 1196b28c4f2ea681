// SPDX-License-Identifier: GPL-2.0
/* Unit tests: the fd record sort against qsort on the same records. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "recsort.h"

/* The reference order: recsort_cmp, then input position (stability);
 * the position is kept in fd. */
static int cmp_ref(const void *a, const void *b)
{
	const struct rcl_fd_rec *x = a, *y = b;
	int c = recsort_cmp(a, b);

	return c ? c : (x->fd > y->fd) - (x->fd < y->fd);
}

static __u64 rnd(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* recsort()'s order applied to a copy of recs must equal qsort's. */
static void expect_sorted(struct recsort *rs, const struct rcl_fd_rec *a, size_t n)
{
	struct rcl_fd_rec *got = calloc(n ? n : 1, sizeof(*got)), *want = calloc(n ? n : 1, sizeof(*want));
	const struct recsort_key *k = recsort(rs, a, n);

	assert_non_null(got);
	assert_non_null(want);
	assert_non_null(k);
	for (size_t i = 0; i < n; i++) {
		assert_true(k[i].idx < n);
		assert_int_equal(k[i].sk, a[k[i].idx].sk);
		got[i] = a[k[i].idx];
	}
	memcpy(want, a, n * sizeof(*a));
	qsort(want, n, sizeof(*want), cmp_ref);
	assert_memory_equal(got, want, n * sizeof(*a));
	free(got);
	free(want);
}

/* n records whose sockets come from a pool of nsk (so runs of one socket
 * form), with the given bits of sk varying, holders from a pool of 7. */
static void check(size_t n, size_t nsk, __u64 sk_mask, __u64 seed)
{
	struct rcl_fd_rec *a = calloc(n, sizeof(*a));
	struct recsort rs = { 0 };
	__u64 s = seed;

	assert_non_null(a);
	for (size_t i = 0; i < n; i++) {
		a[i].sk = 0xffff888000000000ULL | ((rnd(&s) % nsk) * 0x9e3779b97f4a7c15ULL & sk_mask);
		a[i].tgid = (__u32)(rnd(&s) % 7) + 100;
		a[i].start_ns = a[i].tgid * 3ULL + (rnd(&s) % 2);
		a[i].fd = (__u32)i;
	}
	expect_sorted(&rs, a, n);
	/* again with the scratch reused, on the reversed input */
	for (size_t i = 0; i < n / 2; i++) {
		struct rcl_fd_rec t = a[i];

		a[i] = a[n - 1 - i];
		a[n - 1 - i] = t;
	}
	for (size_t i = 0; i < n; i++)
		a[i].fd = (__u32)i;
	expect_sorted(&rs, a, n);
	recsort_free(&rs);
	free(a);
}

static void test_kernel_like(void **state)
{
	(void)state;
	check(20000, 12000, 0x0000000fffffffc0ULL, 1); /* slab addresses */
}

static void test_all_bytes(void **state)
{
	(void)state;
	check(5000, 4000, ~0ULL, 2);
}

static void test_one_socket(void **state)
{
	(void)state;
	check(300, 1, ~0ULL, 3); /* every pass skipped; one long run */
}

static void test_small(void **state)
{
	struct recsort rs = { 0 };
	struct rcl_fd_rec r[1] = { { .sk = 5 } };

	(void)state;
	assert_non_null(recsort(&rs, r, 0));
	assert_int_equal(recsort(&rs, r, 1)[0].idx, 0);
	recsort_free(&rs);
	check(2, 2, ~0ULL, 4);
	check(3, 3, 0xff00, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_like),
		cmocka_unit_test(test_all_bytes),
		cmocka_unit_test(test_one_socket),
		cmocka_unit_test(test_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
