// SPDX-License-Identifier: GPL-2.0
/* Unit tests: rows keyed by process (ownertab.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ownertab.h"

struct row {
	struct rcl_owner key;
	long v;
};

static struct rcl_owner owner(__u32 tgid, __u64 start_ns)
{
	struct rcl_owner o = { .tgid = tgid, .start_ns = start_ns };

	return o;
}

/* Many processes, some of them one pid reused (another start time): each
 * finds its own row, made once, zeroed, through every growth of the
 * index and the rows. */
static void test_get_find(void **state)
{
	struct ownertab t;
	const size_t n = 5000;

	(void)state;
	ownertab_init(&t, sizeof(struct row));
	assert_null(ownertab_find(&t, &(struct rcl_owner){ .tgid = 1 }));
	for (size_t i = 0; i < n; i++) {
		struct rcl_owner o = owner((__u32)(i % 2500) + 1, i < 2500 ? 100 : 200);
		bool made = false;
		struct row *r = ownertab_get(&t, &o, &made);

		assert_non_null(r);
		assert_true(made);
		assert_int_equal(r->v, 0);
		assert_int_equal(r->key.tgid, o.tgid);
		r->v = (long)i;
	}
	assert_int_equal(t.n, n);
	for (size_t i = 0; i < n; i++) {
		struct rcl_owner o = owner((__u32)(i % 2500) + 1, i < 2500 ? 100 : 200);
		bool made = true;
		struct row *r = ownertab_get(&t, &o, &made);

		assert_false(made);
		assert_ptr_equal(r, ownertab_find(&t, &o));
		assert_int_equal(r->v, (long)i);
	}
	assert_null(ownertab_find(&t, &(struct rcl_owner){ .tgid = 1, .start_ns = 300 }));
	ownertab_free(&t);
	assert_int_equal(t.n, 0);
}

static int cmp_v_desc(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return (x->v < y->v) - (x->v > y->v);
}

/* Rows reordered in place and indexed again: lookups follow the rows. A
 * cleared table finds nothing and makes rows afresh. */
static void test_reindex_clear(void **state)
{
	struct ownertab t;

	(void)state;
	ownertab_init(&t, sizeof(struct row));
	for (__u32 i = 1; i <= 100; i++) {
		struct rcl_owner o = owner(i, 7);

		((struct row *)ownertab_get(&t, &o, NULL))->v = i;
	}
	qsort(t.rows, t.n, t.row_size, cmp_v_desc);
	assert_int_equal(ownertab_reindex(&t), 0);
	assert_int_equal(((struct row *)ownertab_row(&t, 0))->v, 100);
	for (__u32 i = 1; i <= 100; i++) {
		struct rcl_owner o = owner(i, 7);
		struct row *r = ownertab_find(&t, &o);

		assert_non_null(r);
		assert_int_equal(r->v, i);
	}
	ownertab_clear(&t);
	assert_int_equal(t.n, 0);
	assert_null(ownertab_find(&t, &(struct rcl_owner){ .tgid = 5, .start_ns = 7 }));
	assert_int_equal(((struct row *)ownertab_get(&t, &(struct rcl_owner){ .tgid = 5, .start_ns = 7 }, NULL))->v, 0);
	assert_int_equal(t.n, 1);
	ownertab_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_find),
		cmocka_unit_test(test_reindex_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
