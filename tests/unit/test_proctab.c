// SPDX-License-Identifier: GPL-2.0
/* Unit tests: the process table's two halves read as one (proctab.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proctab.h"

#define MAXSEEN 16

struct seen {
	int n;
	struct proctab_ent e[MAXSEEN];
};

static void collect(const struct rcl_owner *o, const struct rcl_counters *c, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->n < MAXSEEN);
	s->e[s->n].o = *o;
	s->e[s->n].c = *c;
	s->n++;
}

static const struct proctab_ent *find(const struct seen *s, __u32 tgid, __u64 start_ns)
{
	const struct proctab_ent *hit = NULL;

	for (int i = 0; i < s->n; i++) {
		if (s->e[i].o.tgid == tgid && s->e[i].o.start_ns == start_ns) {
			assert_null(hit); /* once per process */
			hit = &s->e[i];
		}
	}
	return hit;
}

/* a slot as BPF publishes it, at the index BPF would use */
static struct rcl_proc_slot *put(struct rcl_proc_slot *slots, __u32 tgid, __u64 start_ns,
				 __u64 opened, const char *comm)
{
	struct rcl_proc_slot *e = &slots[rcl_proc_slot_idx(tgid, start_ns)];

	assert_int_equal(e->tag, 0);
	e->tag = (__u64)tgid << 1;
	e->start_ns = start_ns;
	e->c.opened = opened;
	e->c.closed = opened / 2;
	e->c.cur = (__s64)(opened - opened / 2);
	e->c.peak = opened;
	e->c.life[3] = 1;
	strncpy(e->c.comm, comm, sizeof(e->c.comm) - 1);
	return e;
}

static struct proctab_ent hent(__u32 tgid, __u64 start_ns, __u64 opened, __u32 flags)
{
	struct proctab_ent h = { .o = { .tgid = tgid, .start_ns = start_ns } };

	h.c.opened = opened;
	h.c.cur = (__s64)opened;
	h.c.peak = opened;
	h.c.flags = flags;
	h.c.life[3] = 2;
	strcpy(h.c.comm, "fromhash");
	return h;
}

/* a process in a slot and in the hash is reported once, counts added;
 * a process in the hash only is reported as it is; a slot being written,
 * or free, is not reported */
static void test_merge(void **state)
{
	struct rcl_proc_slot *slots = calloc(RCL_PROC_SLOTS, sizeof(*slots));
	struct proctab_ent hash[3];
	struct seen s = { 0 };
	const struct proctab_ent *p;

	(void)state;
	assert_non_null(slots);
	put(slots, 100, 5000, 10, "slotted");
	put(slots, 200, 7000, 4, "alone");
	slots[rcl_proc_slot_idx(300, 9000)].tag = (300ull << 1) | 1; /* being written */
	hash[0] = hent(400, 1, 3, 0);
	hash[1] = hent(100, 5000, 2, RCL_PROC_LISTENER);
	hash[2] = hent(100, 5001, 1, 0); /* same pid, other process */
	assert_int_equal(proctab_each(slots, RCL_PROC_SLOTS, hash, 3, collect, &s), 0);
	assert_int_equal(s.n, 4);

	p = find(&s, 100, 5000);
	assert_non_null(p);
	assert_int_equal(p->c.opened, 12);
	assert_int_equal(p->c.closed, 5);
	assert_int_equal(p->c.cur, 7);
	assert_int_equal(p->c.peak, 10);
	assert_int_equal(p->c.flags, RCL_PROC_LISTENER);
	assert_int_equal(p->c.life[3], 3);
	assert_string_equal(p->c.comm, "slotted");

	p = find(&s, 200, 7000);
	assert_non_null(p);
	assert_int_equal(p->c.opened, 4);
	p = find(&s, 400, 1);
	assert_non_null(p);
	assert_int_equal(p->c.opened, 3);
	assert_string_equal(p->c.comm, "fromhash");
	p = find(&s, 100, 5001);
	assert_non_null(p);
	assert_int_equal(p->c.opened, 1);
	assert_null(find(&s, 300, 9000));
	free(slots);
}

/* no slots mapped (or none in use), no hash entries: nothing, no error */
static void test_empty(void **state)
{
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(proctab_each(NULL, 0, NULL, 0, collect, &s), 0);
	assert_int_equal(s.n, 0);
}

/* forget frees the process's own slot only: not one whose pid matches but
 * whose start time does not, nor one being written */
static void test_forget(void **state)
{
	struct rcl_proc_slot *slots = calloc(RCL_PROC_SLOTS, sizeof(*slots));
	struct rcl_owner gone = { .tgid = 100, .start_ns = 5000 };
	struct rcl_owner other = { .tgid = 200, .start_ns = 7001 };
	struct rcl_proc_slot *a, *b;

	(void)state;
	assert_non_null(slots);
	a = put(slots, 100, 5000, 1, "a");
	b = put(slots, 200, 7000, 1, "b");
	proctab_forget(slots, RCL_PROC_SLOTS, &other);
	assert_int_not_equal(b->tag, 0);
	proctab_forget(slots, RCL_PROC_SLOTS, &gone);
	assert_int_equal(a->tag, 0);
	assert_int_not_equal(b->tag, 0);
	b->tag |= 1;
	other.start_ns = 7000;
	proctab_forget(slots, RCL_PROC_SLOTS, &other);
	assert_int_not_equal(b->tag, 0);
	proctab_forget(NULL, 0, &gone); /* not mapped: nothing to do */
	free(slots);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_forget),
	};

	return cmocka_run_group_tests_name("proctab", tests, NULL, NULL);
}
