// SPDX-License-Identifier: GPL-2.0
/* Unit tests: event batches (REC_EVENTS) encode and decode back to the same
 * events, and the decoder survives damaged payloads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "evbatch.h"
#include "record.h"

static __u64 rnd(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static const char *const names[] = { "redis-benchmark", "python3", "node", "a",
				      "exactly15chars_", "sixteen_chars_xy", "" };

/* A kernel-like event: sockets from a pool of nsk (forcing slot reuse when
 * large), owners from a pool, times mostly rising with some steps back. */
static void make_event(struct rcl_event *e, __u64 *s, __u64 *ts, size_t nsk)
{
	__u64 r = rnd(s);

	memset(e, 0, sizeof(*e));
	*ts += rnd(s) % 20000;
	e->ts_ns = r % 10 ? *ts : *ts - rnd(s) % 5000;
	e->sk = 0xffff888100000000ull + (rnd(s) % nsk) * 2304;
	e->tgid = (__u32)(rnd(s) % 9);
	e->start_ns = e->tgid * 1000003ull + (rnd(s) % 3 == 0 ? 7 : 0);
	e->kind = (__u8)(rnd(s) % 7);
	e->oldstate = (__u8)(rnd(s) % 14);
	e->newstate = (__u8)(rnd(s) % 14);
	if (rnd(s) % 50 == 0) /* beyond a nibble: the escape */
		e->oldstate = (__u8)(15 + rnd(s) % 200);
	switch (rnd(s) % 3) {
	case 0:
		e->cur_tgid = 0;
		break;
	case 1:
		e->cur_tgid = e->tgid;
		break;
	default:
		e->cur_tgid = (__u32)(rnd(s) % 4000000);
	}
	{ /* the 16-byte name has no NUL: the encoder must not read past it */
		const char *nm = names[rnd(s) % (sizeof(names) / sizeof(names[0]))];

		memcpy(e->comm, nm, strnlen(nm, RCL_COMM_LEN));
	}
	switch (rnd(s) % 4) {
	case 0: /* no 4-tuple */
		break;
	case 3: /* the socket's own: repeated by its other events (bit 7) */
		e->family = 2;
		e->lport = (__u16)(e->sk >> 8);
		e->rport = 6379;
		e->laddr[0] = 127, e->laddr[3] = (__u8)(e->sk >> 16);
		e->raddr[0] = 127, e->raddr[3] = 1;
		break;
	case 1:
		e->family = 2;
		e->lport = (__u16)rnd(s);
		e->rport = 6379;
		e->laddr[0] = 127, e->laddr[3] = (__u8)(1 + rnd(s) % 4);
		e->raddr[0] = 127, e->raddr[3] = 1;
		break;
	default:
		e->family = 10;
		e->lport = (__u16)rnd(s);
		e->rport = (__u16)rnd(s);
		e->laddr[15] = 1;
		e->raddr[0] = 0xfe, e->raddr[1] = 0x80, e->raddr[15] = (__u8)(rnd(s) % 300);
	}
}

/* What the decoder must give back for e: the time cut to the microsecond,
 * names cut at 15 bytes (the kernel's never are longer), everything else
 * exact. */
static void expected(const struct rcl_event *e, struct rcl_event *x)
{
	*x = *e;
	x->ts_ns = e->ts_ns / 1000 * 1000;
	memset(x->comm, 0, sizeof(x->comm));
	memcpy(x->comm, e->comm, strnlen(e->comm, RCL_COMM_LEN - 1));
}

/* Encode n events in as many batches as it takes, decode each batch, and
 * compare; returns the number of batches. */
static int roundtrip(size_t n, size_t nsk, __u64 seed)
{
	struct evb_enc *b = malloc(sizeof(*b));
	struct evb_dec *d = malloc(sizeof(*d));
	struct rcl_event *in = calloc(n, sizeof(*in));
	__u64 s = seed, ts = 1000000000ull;
	size_t first = 0, next = 0;
	int batches = 0;

	assert_non_null(b);
	assert_non_null(d);
	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		make_event(&in[i], &s, &ts, nsk);
	evb_reset(b);
	while (first < n) {
		struct rcl_event got, want;

		while (next < n && evb_add(b, &in[next]))
			next++;
		assert_true(b->n > 0);
		assert_int_equal(b->n, next - first);
		assert_true(b->n <= EVB_MAX_EVENTS && b->len <= EVB_BUF);
		assert_int_equal(b->ts0, in[first].ts_ns);
		assert_int_equal(evb_dec_init(d, b->buf, b->len, b->ts0), 0);
		assert_int_equal(d->n, b->n);
		for (size_t i = first; i < next; i++) {
			assert_int_equal(evb_dec_next(d, &got), 1);
			expected(&in[i], &want);
			assert_memory_equal(&got, &want, sizeof(got));
		}
		assert_int_equal(evb_dec_next(d, &got), 0);
		assert_int_equal(d->off, b->len); /* every byte accounted for */
		batches++;
		first = next;
		evb_reset(b);
	}
	free(in);
	free(d);
	free(b);
	return batches;
}

static void test_roundtrip_small_pool(void **state)
{
	(void)state;
	assert_int_equal(roundtrip(1, 10, 1), 1);
	assert_int_equal(roundtrip(300, 10, 2), 1);
}

/* Many more sockets than slots: values are evicted and sent again. */
static void test_roundtrip_collisions(void **state)
{
	(void)state;
	assert_true(roundtrip(5000, 4000, 3) >= 5);
	assert_true(roundtrip(3000, 100000, 4) >= 3);
}

/* A batch stops at EVB_MAX_EVENTS; after a reset it starts over. */
static void test_full(void **state)
{
	struct evb_enc *b = malloc(sizeof(*b));
	struct rcl_event e;
	__u64 s = 5, ts = 1;

	(void)state;
	assert_non_null(b);
	evb_reset(b);
	for (int i = 0; i < EVB_MAX_EVENTS; i++) {
		make_event(&e, &s, &ts, 50);
		assert_true(evb_add(b, &e));
	}
	assert_false(evb_add(b, &e));
	assert_int_equal(b->n, EVB_MAX_EVENTS);
	evb_reset(b);
	assert_int_equal(b->n, 0);
	assert_true(evb_add(b, &e));
	assert_int_equal(b->ts0, e.ts_ns);
	free(b);
}

static __u8 *one_batch(size_t n, __u64 seed, size_t *len, __u64 *ts0)
{
	struct evb_enc *b = malloc(sizeof(*b));
	struct rcl_event e;
	__u64 s = seed, ts = 77;
	__u8 *out;

	assert_non_null(b);
	evb_reset(b);
	for (size_t i = 0; i < n; i++) {
		make_event(&e, &s, &ts, 20);
		assert_true(evb_add(b, &e));
	}
	out = malloc(b->len);
	assert_non_null(out);
	memcpy(out, b->buf, b->len);
	*len = b->len;
	*ts0 = b->ts0;
	free(b);
	return out;
}

/* Decode p[0..len) to the end; the events read, or -1 - events on damage. */
static long decode_all(struct evb_dec *d, const __u8 *p, size_t len, __u64 ts0)
{
	struct rcl_event e;
	long n = 0;
	int rc;

	if (evb_dec_init(d, p, len, ts0))
		return -1;
	while ((rc = evb_dec_next(d, &e)) == 1) {
		n++;
		assert_true(e.kind <= RCL_EV_LISTEN);
		assert_non_null(memchr(e.comm, 0, sizeof(e.comm)));
	}
	assert_int_equal(evb_dec_next(d, &e), 0); /* stays finished */
	return rc < 0 ? -1 - n : n;
}

/* Cut at every byte: the events wholly before the cut decode, then damage
 * is reported (never more events, never a read past the end: ASan). */
static void test_truncated(void **state)
{
	struct evb_dec *d = malloc(sizeof(*d));
	size_t len;
	__u64 ts0;
	__u8 *p = one_batch(60, 11, &len, &ts0);

	(void)state;
	assert_non_null(d);
	assert_int_equal(decode_all(d, p, len, ts0), 60);
	for (size_t cut = 0; cut < len; cut++) {
		__u8 *q = malloc(cut ? cut : 1);
		long r;

		assert_non_null(q);
		memcpy(q, p, cut);
		r = decode_all(d, q, cut, ts0);
		assert_true(r < 0);
		assert_true(-1 - r < 60);
		free(q);
	}
	free(p);
	free(d);
}

/* Any byte changed to any value: no crash, and at most the declared count. */
static void test_mutated(void **state)
{
	struct evb_dec *d = malloc(sizeof(*d));
	size_t len;
	__u64 ts0;
	__u8 *p = one_batch(25, 12, &len, &ts0);

	(void)state;
	assert_non_null(d);
	for (size_t i = 0; i < len; i++) {
		for (int v = 0; v < 256; v++) {
			__u8 *q = malloc(len);
			long r;

			assert_non_null(q);
			memcpy(q, p, len);
			q[i] = (__u8)v;
			r = decode_all(d, q, len, ts0);
			assert_true((r >= 0 ? r : -1 - r) <= 65535);
			if (i >= 3)
				assert_true((r >= 0 ? r : -1 - r) <= 25);
			free(q);
		}
	}
	free(p);
	free(d);
}

/* Hand-made damage: wrong version, a slot never filled, reserved bits,
 * an over-long varint, a name of 0 or 16 bytes, fewer events than said. */
static void test_bad_payloads(void **state)
{
	struct evb_dec *d = malloc(sizeof(*d));
	static const __u8 wrong_version[] = { 4, 0, 0 };
	static const __u8 version0[] = { 0, 0, 0 };
	static const __u8 empty_slot[] = { 1, 1, 0, 0x00, 0x12, 0, 5 /* sk slot 5 */, 0 };
	static const __u8 reserved[] = { 1, 1, 0, 0x80, 0x12, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8,
					 255, 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const __u8 kind7[] = { 1, 1, 0, 0x07, 0x12, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8,
				      255, 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const __u8 long_varint[] = { 1, 1, 0, 0x00, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff,
					    0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const __u8 comm0[] = { 1, 1, 0, 0x40, 0x12, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8,
				      255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 255, 0 };
	static const __u8 comm16[] = { 1, 1, 0, 0x40, 0x12, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8,
				       255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 255, 16,
				       'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
				       'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a' };
	static const __u8 good_one[] = { 1, 1, 0, 0x00, 0x12, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8,
					 255, 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const __u8 says_two[] = { 1, 2, 0, 0x00, 0x12, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8,
					 255, 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	/* version 3, a time delta of -2 us: from ts0 1 us, below 0 (wrapped
	 * to a microsecond whose ns no u64 holds); from 3 us, 1 us */
	static const __u8 us_below0[] = { 3, 1, 0, 0x00, 0x12, 3, 255, 1, 2, 3, 4, 5, 6, 7, 8,
					  255, 1, 0, 0, 0, 0, 0, 0, 0, 0 };

	(void)state;
	assert_non_null(d);
	assert_int_equal(decode_all(d, wrong_version, sizeof(wrong_version), 0), -1);
	assert_int_equal(decode_all(d, version0, sizeof(version0), 0), -1);
	assert_int_equal(decode_all(d, empty_slot, sizeof(empty_slot), 0), -1);
	assert_int_equal(decode_all(d, reserved, sizeof(reserved), 0), -1);
	assert_int_equal(decode_all(d, kind7, sizeof(kind7), 0), -1);
	assert_int_equal(decode_all(d, long_varint, sizeof(long_varint), 0), -1);
	assert_int_equal(decode_all(d, comm0, sizeof(comm0), 0), -1);
	assert_int_equal(decode_all(d, comm16, sizeof(comm16), 0), -1);
	assert_int_equal(decode_all(d, good_one, sizeof(good_one), 0), 1);
	assert_int_equal(decode_all(d, says_two, sizeof(says_two), 0), -2);
	assert_int_equal(decode_all(d, us_below0, sizeof(us_below0), 1000), -1);
	assert_int_equal(decode_all(d, us_below0, sizeof(us_below0), 3999), 1);
	assert_int_equal(d->ts, 1);
	free(d);
}

/* Version 2's bit 7, "the socket's last 4-tuple": written for a repeat,
 * 7 bytes shorter; damage in a version 1 payload, next to bit 3, or when
 * the socket's slot has no 4-tuple (none yet, or another socket since). */
static void test_same_tuple(void **state)
{
	struct evb_enc *b = malloc(sizeof(*b));
	struct evb_dec *d = malloc(sizeof(*d));
	struct rcl_event e, got;
	size_t len1, len2;
	/* event 1: socket 0x0102030405060708 raw, owner raw, IPv4 tuple raw;
	 * event 2: bit 7, the socket's slot and the owner's (their hashes) */
	static const __u8 ok[] = { 2, 2, 0,
		0x08, 0x12, 0, 255, 8, 7, 6, 5, 4, 3, 2, 1, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0,
		2, 0x39, 0x30, 0xeb, 0x18, 255, 127, 0, 0, 1, 255, 127, 0, 0, 2,
		0x80, 0x17, 0, 0xcd, 0x09 };
	__u8 v1[sizeof(ok)], both[sizeof(ok)], empty[] = { 2, 1, 0,
		0x80, 0x12, 0, 255, 8, 7, 6, 5, 4, 3, 2, 1, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0 };

	(void)state;
	assert_non_null(b);
	assert_non_null(d);
	memset(&e, 0, sizeof(e));
	e.sk = 0x0102030405060708ull;
	e.ts_ns = 5000;
	e.tgid = 1;
	e.kind = RCL_EV_ACCEPT;
	e.oldstate = 10, e.newstate = 3;
	e.family = 2, e.lport = 12345, e.rport = 6379;
	e.laddr[0] = 127, e.laddr[3] = 1;
	e.raddr[0] = 127, e.raddr[3] = 2;
	evb_reset(b);
	assert_true(evb_add(b, &e));
	len1 = b->len;
	e.kind = RCL_EV_STATE, e.oldstate = 3, e.newstate = 1;
	assert_true(evb_add(b, &e));
	len2 = b->len - len1;
	assert_int_equal(b->buf[len1], 0x80); /* kind 0, bit 7, nothing else */
	/* head, states, time, socket, owner: the 7 bytes of the tuple saved */
	assert_int_equal(len2, 5);
	assert_int_equal(evb_dec_init(d, b->buf, b->len, b->ts0), 0);
	assert_int_equal(evb_dec_next(d, &got), 1);
	assert_int_equal(evb_dec_next(d, &got), 1);
	assert_memory_equal(&got, &e, sizeof(e));
	assert_int_equal(evb_dec_next(d, &got), 0);

	assert_int_equal(decode_all(d, ok, sizeof(ok), 0), 2);
	memcpy(v1, ok, sizeof(ok));
	v1[0] = 1;
	assert_int_equal(decode_all(d, v1, sizeof(v1), 0), -2);
	memcpy(both, ok, sizeof(ok));
	both[sizeof(ok) - 5] |= 0x08;
	assert_int_equal(decode_all(d, both, sizeof(both), 0), -2);
	assert_int_equal(decode_all(d, empty, sizeof(empty), 0), -1);
	free(d);
	free(b);
}

/* Version 3 counts time in microseconds from the record's time cut to the
 * microsecond; versions 1 and 2 (files of earlier builds) in nanoseconds. */
static void test_time_units(void **state)
{
	struct evb_enc *b = malloc(sizeof(*b));
	struct evb_dec *d = malloc(sizeof(*d));
	struct rcl_event x, e;
	const __u64 ts0 = 7000999;

	(void)state;
	assert_non_null(b);
	assert_non_null(d);
	memset(&x, 0, sizeof(x));
	x.sk = 1, x.tgid = 1, x.oldstate = 1, x.newstate = 2;
	evb_reset(b);
	x.ts_ns = ts0;
	assert_true(evb_add(b, &x));
	x.ts_ns = ts0 + 3000; /* 7003999: 3 us after 7000 */
	assert_true(evb_add(b, &x));
	x.ts_ns = ts0 + 1002; /* 7002001: 1 us back */
	assert_true(evb_add(b, &x));
	assert_int_equal(b->buf[0], 3);
	/* per event: head, states, time; the first names socket and owner
	 * raw (9 + 10 bytes), the others by slot (1 + 1) */
	assert_int_equal(b->len, 3 + 22 + 5 + 5);
	assert_int_equal(b->buf[5], 0);  /* 7000 - 7000 */
	assert_int_equal(b->buf[27], 6); /* zigzag(+3) */
	assert_int_equal(b->buf[32], 1); /* zigzag(-1) */
	assert_int_equal(evb_dec_init(d, b->buf, b->len, b->ts0), 0);
	assert_int_equal(evb_dec_next(d, &e), 1);
	assert_int_equal(e.ts_ns, 7000000);
	assert_int_equal(evb_dec_next(d, &e), 1);
	assert_int_equal(e.ts_ns, 7003000);
	assert_int_equal(evb_dec_next(d, &e), 1);
	assert_int_equal(e.ts_ns, 7002000);
	b->buf[0] = 2; /* the same bytes as version 2: nanoseconds */
	assert_int_equal(evb_dec_init(d, b->buf, b->len, b->ts0), 0);
	assert_int_equal(evb_dec_next(d, &e), 1);
	assert_int_equal(e.ts_ns, ts0);
	assert_int_equal(evb_dec_next(d, &e), 1);
	assert_int_equal(e.ts_ns, ts0 + 3);
	assert_int_equal(evb_dec_next(d, &e), 1);
	assert_int_equal(e.ts_ns, ts0 + 2);
	free(d);
	free(b);
}

static int appends;
static int count_append(void *ctx, __u16 type, __u64 ts, const void *data, __u32 len)
{
	(void)ctx, (void)ts, (void)data, (void)len;
	assert_int_equal(type, REC_EVENTS);
	appends++;
	return 0;
}

/* An empty batch writes no record. */
static void test_record_events(void **state)
{
	struct evb_enc *b = malloc(sizeof(*b));
	struct rec_sink sink = { .append = count_append };
	struct rcl_event e;
	__u64 s = 9, ts = 1;

	(void)state;
	assert_non_null(b);
	evb_reset(b);
	assert_int_equal(record_events(&sink, b), 0);
	assert_int_equal(appends, 0);
	make_event(&e, &s, &ts, 5);
	evb_add(b, &e);
	assert_int_equal(record_events(&sink, b), 0);
	assert_int_equal(appends, 1);
	free(b);
}

static __u8 one_payload[512];
static __u32 one_len;
static int keep_append(void *ctx, __u16 type, __u64 ts, const void *data, __u32 len)
{
	(void)ctx, (void)ts;
	assert_int_equal(type, REC_EVENT);
	assert_true(len <= sizeof(one_payload));
	memcpy(one_payload, data, len);
	one_len = len;
	return 0;
}

/* Files of earlier builds hold one event per record (REC_EVENT): the
 * reader still takes them. */
static void test_one_event_records(void **state)
{
	struct rec_sink sink = { .append = keep_append };
	struct rcl_event e, got, want;
	__u64 s = 21, ts = 1;

	(void)state;
	for (int i = 0; i < 200; i++) {
		make_event(&e, &s, &ts, 50);
		assert_int_equal(record_event(&sink, &e), 0);
		assert_int_equal(record_decode_event(one_payload, one_len, &got), 0);
		expected(&e, &want);
		want.ts_ns = 0; /* the record header holds the time */
		assert_memory_equal(&got, &want, sizeof(got));
		assert_int_equal(record_decode_event(one_payload, one_len - 1, &got), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_small_pool),
		cmocka_unit_test(test_roundtrip_collisions),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_mutated),
		cmocka_unit_test(test_bad_payloads),
		cmocka_unit_test(test_same_tuple),
		cmocka_unit_test(test_time_units),
		cmocka_unit_test(test_record_events),
		cmocka_unit_test(test_one_event_records),
	};

	return cmocka_run_group_tests_name("evbatch", tests, NULL, NULL);
}
