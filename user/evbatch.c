// SPDX-License-Identifier: GPL-2.0
/*
 * evbatch.c - see evbatch.h. The layout, for both sides (little-endian;
 * "varint" is unsigned LEB128, at most 10 bytes):
 *
 *   u8  EVB_VERSION
 *   u16 number of events
 *   then each event:
 *   u8  head: bits 0-2 kind (RCL_EV_*), bit 3 a 4-tuple follows,
 *       bits 4-5 acting process (0: none, 1: the owner, 2: varint tgid
 *       follows), bit 6 a name follows, bit 7 (version 2; zero in 1) the
 *       4-tuple is the socket's last one in the batch (below)
 *   u8  old state << 4 | new state; old = 15: u8 old, u8 new follow
 *   varint  zigzag(ts - previous ts), in microseconds (version 3; ns in 1
 *           and 2); the first is against the record's ts
 *   code    socket address: u64
 *   code    owner: varint tgid, u64 start_ns
 *   [varint acting tgid]
 *   [code   name: u8 n (1..15), n bytes, none of them NUL]
 *   [u8 family (2 or 10), u16 local port, u16 remote port,
 *    code local address, code remote address: 4 bytes (AF_INET) or 16]
 *
 * A code is one byte: a slot number below 255 names the value last stored
 * in that slot of its cache; 255 says the value follows (in the form given),
 * and the value is then stored in the slot its hash picks. Both sides hash
 * the same way, so the caches stay equal; a slot read before it was
 * filled is damage.
 *
 * Version 2 adds bit 7: most events of a connection carry the same 4-tuple
 * (a client's from its ESTABLISHED on, a server's from its accept), and
 * the 7 bytes of a repeated one were a fifth of a connect storm's batch
 * bytes before compression. The socket's slot keeps the last 4-tuple an
 * event of that socket carried (a socket stored in the slot starts it
 * empty); bit 7 says "that one", and with bit 3 set, or an empty one, it
 * is damage.
 *
 * Version 3 counts the time deltas in microseconds, between the times cut
 * to the microsecond (an event decodes at its microsecond's start). The
 * nanoseconds were noise to the report (it shows lifetimes and ages in ms)
 * and the costliest bytes of a batch: under a connect storm ~2 bytes an
 * event that hardly compress, 36 % of the file and ~20 % of the recorder's
 * CPU (tools/bench/cost-ab.sh).
 */
#include <stdint.h>
#include <string.h>

#include "evbatch.h"

#define AF_INET_ 2
#define AF_INET6_ 10
#define CODE_RAW 255

enum {
	H_KIND = 0x07,
	H_TUPLE = 0x08,
	H_CUR_SHIFT = 4,
	H_CUR_MASK = 0x30,
	H_COMM = 0x40,
	H_SAME_TUPLE = 0x80, /* version 2 */
};
enum { CUR_NONE = 0, CUR_OWNER = 1, CUR_TGID = 2 };

static unsigned slot_of(__u64 h)
{
	return (unsigned)((h * 0x9E3779B97F4A7C15ull) >> 32) % EVB_SLOTS;
}

/* n <= 16 bytes, zero-padded, as two words (in memory order) */
static void words(const void *p, size_t n, __u64 w[2])
{
	w[0] = w[1] = 0;
	memcpy(w, p, n);
}

/* The format hashes the words as little-endian numbers. */
static unsigned words_slot(const __u64 w[2], __u64 salt)
{
	__u64 a = w[0], b = w[1];

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	a = __builtin_bswap64(a);
	b = __builtin_bswap64(b);
#endif
	return slot_of((a ^ salt) * 0xff51afd7ed558ccdull ^ b);
}

static unsigned owner_slot(__u32 tgid, __u64 start_ns)
{
	return slot_of(start_ns * 31 + tgid);
}

static void cache_clear(struct evb_cache *c)
{
	memset(c->have_sk, 0, sizeof(c->have_sk));
	memset(c->have_owner, 0, sizeof(c->have_owner));
	memset(c->have_comm, 0, sizeof(c->have_comm));
	memset(c->have_addr, 0, sizeof(c->have_addr));
	memset(c->have_tuple, 0, sizeof(c->have_tuple));
}

/* Does slot s hold event e's socket, with e's 4-tuple as its last? */
static bool same_tuple(const struct evb_cache *c, unsigned s, const struct rcl_event *e)
{
	const struct evb_tuple *t = &c->tuple[s];

	return c->have_sk[s] && c->sk[s] == e->sk && c->have_tuple[s] && t->family == e->family &&
	       t->lport == e->lport && t->rport == e->rport &&
	       !memcmp(t->laddr, e->laddr, sizeof(t->laddr)) &&
	       !memcmp(t->raddr, e->raddr, sizeof(t->raddr));
}

static void keep_tuple(struct evb_cache *c, unsigned s, const struct rcl_event *e)
{
	struct evb_tuple *t = &c->tuple[s];

	t->family = e->family;
	t->lport = e->lport;
	t->rport = e->rport;
	memcpy(t->laddr, e->laddr, sizeof(t->laddr));
	memcpy(t->raddr, e->raddr, sizeof(t->raddr));
	c->have_tuple[s] = 1;
}

/* ------------------------------------------------------------------------
 * encoding
 */

static void put8(struct evb_enc *b, __u8 v)
{
	b->buf[b->len++] = v;
}

static void put_le(struct evb_enc *b, __u64 v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		b->buf[b->len++] = (__u8)(v >> (8 * i));
}

static void put_varint(struct evb_enc *b, __u64 v)
{
	while (v >= 0x80) {
		b->buf[b->len++] = (__u8)(v | 0x80);
		v >>= 7;
	}
	b->buf[b->len++] = (__u8)v;
}

static void put_bytes(struct evb_enc *b, const void *p, size_t n)
{
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

void evb_reset(struct evb_enc *b)
{
	b->buf[0] = EVB_VERSION;
	b->buf[1] = b->buf[2] = 0;
	b->len = 3;
	b->n = 0;
	b->ts0 = b->last_us = 0;
	cache_clear(&b->c);
}

/* The most one event can take. */
#define EVB_EVENT_MAX (2 + 2 + 10 + 9 + 19 + 5 + 17 + 5 + 2 * 17)

/* the socket sk, whose slot (slot_of(sk)) the caller has */
static void enc_sk(struct evb_enc *b, __u64 sk, unsigned s)
{
	if (b->c.have_sk[s] && b->c.sk[s] == sk) {
		put8(b, (__u8)s);
		return;
	}
	put8(b, CODE_RAW);
	put_le(b, sk, 8);
	b->c.sk[s] = sk;
	b->c.have_sk[s] = 1;
	b->c.have_tuple[s] = 0;
}

static void enc_owner(struct evb_enc *b, __u32 tgid, __u64 start_ns)
{
	unsigned s = owner_slot(tgid, start_ns);
	struct rcl_owner *o = &b->c.owner[s];

	if (b->c.have_owner[s] && o->tgid == tgid && o->start_ns == start_ns) {
		put8(b, (__u8)s);
		return;
	}
	put8(b, CODE_RAW);
	put_varint(b, tgid);
	put_le(b, start_ns, 8);
	o->tgid = tgid;
	o->pad = 0;
	o->start_ns = start_ns;
	b->c.have_owner[s] = 1;
}

/* a name of n bytes (1..15), zero-padded in w */
static void enc_comm(struct evb_enc *b, const __u64 w[2], size_t n)
{
	unsigned s = words_slot(w, 0);

	if (b->c.have_comm[s] && b->c.comm[s][0] == w[0] && b->c.comm[s][1] == w[1]) {
		put8(b, (__u8)s);
		return;
	}
	put8(b, CODE_RAW);
	put8(b, (__u8)n);
	put_bytes(b, w, n);
	b->c.comm[s][0] = w[0];
	b->c.comm[s][1] = w[1];
	b->c.have_comm[s] = 1;
}

static void enc_addr(struct evb_enc *b, const __u8 *addr, __u8 size)
{
	__u64 w[2];
	unsigned s;

	words(addr, size, w);
	s = words_slot(w, size);
	if (b->c.have_addr[s] && b->c.addr_size[s] == size && b->c.addr[s][0] == w[0] &&
	    b->c.addr[s][1] == w[1]) {
		put8(b, (__u8)s);
		return;
	}
	put8(b, CODE_RAW);
	put_bytes(b, addr, size);
	b->c.addr[s][0] = w[0];
	b->c.addr[s][1] = w[1];
	b->c.addr_size[s] = size;
	b->c.have_addr[s] = 1;
}

bool evb_add(struct evb_enc *b, const struct rcl_event *e)
{
	size_t ncomm = e->comm[0] ? strnlen(e->comm, RCL_COMM_LEN - 1) : 0;
	int cur = !e->cur_tgid ? CUR_NONE : e->cur_tgid == e->tgid ? CUR_OWNER : CUR_TGID;
	unsigned sks = slot_of(e->sk);
	__u64 us = e->ts_ns / 1000;
	bool same = e->family && same_tuple(&b->c, sks, e);
	__u8 head;
	__s64 dt;

	if (b->n >= EVB_MAX_EVENTS || b->len + EVB_EVENT_MAX > sizeof(b->buf))
		return false;
	if (!b->n) {
		b->ts0 = e->ts_ns;
		b->last_us = us;
	}
	head = (e->kind & H_KIND) | (e->family && !same ? H_TUPLE : 0) | (same ? H_SAME_TUPLE : 0) |
	       (__u8)(cur << H_CUR_SHIFT) | (ncomm ? H_COMM : 0);
	put8(b, head);
	if (e->oldstate < 15 && e->newstate < 16) {
		put8(b, (__u8)(e->oldstate << 4 | e->newstate));
	} else {
		put8(b, 0xf0);
		put8(b, e->oldstate);
		put8(b, e->newstate);
	}
	/* events of two CPUs can reach the ring out of time order: signed */
	dt = (__s64)(us - b->last_us);
	put_varint(b, ((__u64)dt << 1) ^ (__u64)(dt >> 63));
	b->last_us = us;
	enc_sk(b, e->sk, sks);
	enc_owner(b, e->tgid, e->start_ns);
	if (cur == CUR_TGID)
		put_varint(b, e->cur_tgid);
	if (ncomm) {
		__u64 w[2];

		words(e->comm, ncomm, w);
		enc_comm(b, w, ncomm);
	}
	if (e->family && !same) {
		__u8 size = e->family == AF_INET_ ? 4 : 16;

		put8(b, e->family);
		put_le(b, e->lport, 2);
		put_le(b, e->rport, 2);
		enc_addr(b, e->laddr, size);
		enc_addr(b, e->raddr, size);
		keep_tuple(&b->c, sks, e); /* enc_sk left e's socket in its slot */
	}
	b->n++;
	b->buf[1] = (__u8)b->n;
	b->buf[2] = (__u8)(b->n >> 8);
	return true;
}

/* ------------------------------------------------------------------------
 * decoding
 */

struct rd {
	struct evb_dec *d;
	bool bad;
};

static const __u8 *take(struct rd *r, size_t n)
{
	const __u8 *p;

	if (r->bad || r->d->len - r->d->off < n) {
		r->bad = true;
		return NULL;
	}
	p = r->d->p + r->d->off;
	r->d->off += n;
	return p;
}

static __u8 get8(struct rd *r)
{
	const __u8 *p = take(r, 1);

	return p ? *p : 0;
}

static __u64 get_le(struct rd *r, int bytes)
{
	const __u8 *p = take(r, (size_t)bytes);
	__u64 v = 0;

	for (int i = 0; p && i < bytes; i++)
		v |= (__u64)p[i] << (8 * i);
	return v;
}

static __u64 get_varint(struct rd *r)
{
	__u64 v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		__u8 c = get8(r);

		if (r->bad)
			return 0;
		if (shift == 63 && c > 1) /* more than 64 bits */
			break;
		v |= (__u64)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

int evb_dec_init(struct evb_dec *d, const void *p, size_t len, __u64 ts0)
{
	const __u8 *b = p;

	memset(d, 0, offsetof(struct evb_dec, c));
	cache_clear(&d->c);
	if (len < 3 || b[0] < 1 || b[0] > EVB_VERSION)
		return -1;
	d->version = b[0];
	d->p = b;
	d->len = len;
	d->off = 3;
	d->n = (__u32)b[1] | (__u32)b[2] << 8;
	d->ts = d->version >= 3 ? ts0 / 1000 : ts0;
	return 0;
}

/* The socket; returns its slot. */
static unsigned dec_sk(struct rd *r, __u64 *sk)
{
	struct evb_cache *c = &r->d->c;
	__u8 code = get8(r);
	unsigned s;

	if (code != CODE_RAW) {
		if (!c->have_sk[code])
			r->bad = true;
		*sk = c->sk[code];
		return code;
	}
	*sk = get_le(r, 8);
	s = slot_of(*sk);
	c->sk[s] = *sk;
	c->have_sk[s] = 1;
	c->have_tuple[s] = 0;
	return s;
}

static void dec_owner(struct rd *r, __u32 *tgid, __u64 *start_ns)
{
	struct evb_cache *c = &r->d->c;
	__u8 code = get8(r);
	__u64 t;
	unsigned s;

	if (code != CODE_RAW) {
		if (!c->have_owner[code])
			r->bad = true;
		*tgid = c->owner[code].tgid;
		*start_ns = c->owner[code].start_ns;
		return;
	}
	t = get_varint(r);
	if (t > 0xffffffffull)
		r->bad = true;
	*tgid = (__u32)t;
	*start_ns = get_le(r, 8);
	s = owner_slot(*tgid, *start_ns);
	c->owner[s].tgid = *tgid;
	c->owner[s].pad = 0;
	c->owner[s].start_ns = *start_ns;
	c->have_owner[s] = 1;
}

static void dec_comm(struct rd *r, char out[RCL_COMM_LEN])
{
	struct evb_cache *c = &r->d->c;
	__u8 code = get8(r), n;
	const __u8 *p;
	__u64 w[2];
	unsigned s;

	memset(out, 0, RCL_COMM_LEN);
	if (code != CODE_RAW) {
		if (!c->have_comm[code])
			r->bad = true;
		memcpy(out, c->comm[code], RCL_COMM_LEN);
		return;
	}
	n = get8(r);
	if (!n || n >= RCL_COMM_LEN) {
		r->bad = true;
		return;
	}
	if (!(p = take(r, n)))
		return;
	if (memchr(p, 0, n)) { /* the writer cuts names at the first NUL */
		r->bad = true;
		return;
	}
	words(p, n, w);
	memcpy(out, w, RCL_COMM_LEN);
	s = words_slot(w, 0);
	memcpy(c->comm[s], w, sizeof(w));
	c->have_comm[s] = 1;
}

static void dec_addr(struct rd *r, __u8 out[16], __u8 size)
{
	struct evb_cache *c = &r->d->c;
	__u8 code = get8(r);
	const __u8 *p;
	__u64 w[2];
	unsigned s;

	memset(out, 0, 16);
	if (code != CODE_RAW) {
		/* a slot holding an address of the other size is damage too */
		if (!c->have_addr[code] || c->addr_size[code] != size)
			r->bad = true;
		else
			memcpy(out, c->addr[code], 16);
		return;
	}
	if (!(p = take(r, size)))
		return;
	words(p, size, w);
	memcpy(out, w, 16);
	s = words_slot(w, size);
	memcpy(c->addr[s], w, sizeof(w));
	c->addr_size[s] = size;
	c->have_addr[s] = 1;
}

int evb_dec_next(struct evb_dec *d, struct rcl_event *e)
{
	struct rd r = { .d = d };
	__u8 head, st;
	unsigned sks;
	__u64 z;
	int cur;

	if (d->i >= d->n)
		return 0;
	memset(e, 0, sizeof(*e));
	head = get8(&r);
	cur = (head & H_CUR_MASK) >> H_CUR_SHIFT;
	if (cur > CUR_TGID || (head & H_KIND) > RCL_EV_LISTEN)
		r.bad = true;
	if ((head & H_SAME_TUPLE) && (d->version < 2 || (head & H_TUPLE)))
		r.bad = true;
	e->kind = head & H_KIND;
	st = get8(&r);
	if ((st >> 4) == 15) {
		e->oldstate = get8(&r);
		e->newstate = get8(&r);
	} else {
		e->oldstate = st >> 4;
		e->newstate = st & 15;
	}
	z = get_varint(&r);
	d->ts += (__u64)((__s64)(z >> 1) ^ -(__s64)(z & 1));
	/* a microsecond past what a u64 of ns holds (deltas that run below
	 * 0 and wrap) is no time any writer could cut: d->ts * 1000 wrapped
	 * to a ts_ns that was no whole microsecond, and that no batch
	 * encodes back (the fuzzer's round trip) */
	if (d->version >= 3 && d->ts > UINT64_MAX / 1000)
		r.bad = true;
	e->ts_ns = d->version >= 3 ? d->ts * 1000 : d->ts;
	sks = dec_sk(&r, &e->sk);
	dec_owner(&r, &e->tgid, &e->start_ns);
	if (cur == CUR_OWNER) {
		e->cur_tgid = e->tgid;
	} else if (cur == CUR_TGID) {
		z = get_varint(&r);
		if (z > 0xffffffffull)
			r.bad = true;
		e->cur_tgid = (__u32)z;
	}
	if (head & H_COMM)
		dec_comm(&r, e->comm);
	if (head & H_TUPLE) {
		__u8 size;

		e->family = get8(&r);
		if (e->family != AF_INET_ && e->family != AF_INET6_)
			r.bad = true;
		size = e->family == AF_INET_ ? 4 : 16;
		e->lport = (__u16)get_le(&r, 2);
		e->rport = (__u16)get_le(&r, 2);
		dec_addr(&r, e->laddr, size);
		dec_addr(&r, e->raddr, size);
		if (!r.bad)
			keep_tuple(&d->c, sks, e);
	} else if (head & H_SAME_TUPLE) {
		const struct evb_tuple *t = &d->c.tuple[sks];

		if (r.bad || !d->c.have_tuple[sks]) {
			r.bad = true;
		} else {
			e->family = t->family;
			e->lport = t->lport;
			e->rport = t->rport;
			memcpy(e->laddr, t->laddr, sizeof(e->laddr));
			memcpy(e->raddr, t->raddr, sizeof(e->raddr));
		}
	}
	if (r.bad) {
		d->i = d->n; /* nothing after damage can be trusted */
		return -1;
	}
	d->i++;
	return 1;
}
