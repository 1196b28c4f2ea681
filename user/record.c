// SPDX-License-Identifier: GPL-2.0
/* record.c - see record.h: each record type's encoding, both ways. */
#include <errno.h>
#include <string.h>

#include "model.h"
#include "record.h"

/* ------------------------------------------------------------------------
 * little-endian encoding, bounds-checked both ways
 */

struct enc {
	__u8 buf[512];
	size_t len;
};

static void put(struct enc *e, const void *p, size_t n)
{
	if (e->len + n <= sizeof(e->buf))
		memcpy(e->buf + e->len, p, n);
	e->len += n; /* an overflow is caught by the caller's length check */
}

static void put_u8(struct enc *e, __u8 v) { put(e, &v, 1); }

static void put_uint(struct enc *e, __u64 v, int bytes)
{
	__u8 b[8];

	for (int i = 0; i < bytes; i++)
		b[i] = (__u8)(v >> (8 * i));
	put(e, b, bytes);
}

static void put_u16(struct enc *e, __u16 v) { put_uint(e, v, 2); }
static void put_u32(struct enc *e, __u32 v) { put_uint(e, v, 4); }
static void put_u64(struct enc *e, __u64 v) { put_uint(e, v, 8); }

static void put_f64(struct enc *e, double d)
{
	__u64 v;

	memcpy(&v, &d, sizeof(v));
	put_u64(e, v);
}

/* A fixed-size string field: the string, zero-padded (as strncpy). */
static void put_str(struct enc *e, const char *s, size_t field)
{
	size_t n = s ? strnlen(s, field) : 0;

	if (e->len + field <= sizeof(e->buf)) {
		if (n)
			memcpy(e->buf + e->len, s, n);
		memset(e->buf + e->len + n, 0, field - n);
	}
	e->len += field; /* an overflow is caught by the caller's length check */
}

struct dec {
	const __u8 *p;
	size_t len, off;
	bool short_;
};

static void get(struct dec *d, void *out, size_t n)
{
	if (d->off + n > d->len) {
		memset(out, 0, n);
		d->short_ = true;
		d->off = d->len;
		return;
	}
	memcpy(out, d->p + d->off, n);
	d->off += n;
}

static __u64 get_uint(struct dec *d, int bytes)
{
	__u8 b[8];
	__u64 v = 0;

	get(d, b, bytes);
	for (int i = 0; i < bytes; i++)
		v |= (__u64)b[i] << (8 * i);
	return v;
}

static __u8 get_u8(struct dec *d) { return (__u8)get_uint(d, 1); }
static __u16 get_u16(struct dec *d) { return (__u16)get_uint(d, 2); }
static __u32 get_u32(struct dec *d) { return (__u32)get_uint(d, 4); }
static __u64 get_u64(struct dec *d) { return get_uint(d, 8); }

static double get_f64(struct dec *d)
{
	__u64 v = get_u64(d);
	double x;

	memcpy(&x, &v, sizeof(x));
	return x;
}

/* A fixed-size string field, always NUL-terminated in out. */
static void get_str(struct dec *d, char *out, size_t field, size_t outlen)
{
	char tmp[256];

	if (field > sizeof(tmp))
		field = sizeof(tmp);
	get(d, tmp, field);
	if (outlen) {
		size_t n = field < outlen - 1 ? field : outlen - 1;

		memcpy(out, tmp, n);
		out[n] = '\0';
		out[strnlen(out, n)] = '\0';
	}
}

static int finish(const struct dec *d)
{
	return d->short_ ? -1 : 0;
}

static int append(struct rec_sink *s, __u16 type, __u64 ts, const struct enc *e)
{
	if (e->len > sizeof(e->buf))
		return -EOVERFLOW;
	return s->append(s->ctx, type, ts, e->buf, (__u32)e->len);
}

static int file_append(void *ctx, __u16 type, __u64 ts, const void *data, __u32 len)
{
	return capture_append(ctx, type, ts, data, len);
}

void rec_sink_file(struct rec_sink *s, struct capture_writer *w)
{
	s->append = file_append;
	s->ctx = w;
}

/* ------------------------------------------------------------------------
 * per-type encoders and decoders
 */

static void enc_owner(struct enc *e, const struct rcl_owner *o)
{
	put_u32(e, o->tgid);
	put_u64(e, o->start_ns);
}

static void dec_owner(struct dec *d, struct rcl_owner *o)
{
	o->tgid = get_u32(d);
	o->pad = 0;
	o->start_ns = get_u64(d);
}

int record_event(struct rec_sink *w, const struct rcl_event *ev)
{
	struct enc e; /* not zeroed: 160k events/s; put*() write every byte used */

	e.len = 0;
	put_u64(&e, ev->sk);
	put_u32(&e, ev->tgid);
	put_u32(&e, ev->cur_tgid);
	put_u64(&e, ev->start_ns);
	put_u16(&e, ev->lport);
	put_u16(&e, ev->rport);
	put_u8(&e, ev->oldstate);
	put_u8(&e, ev->newstate);
	put_u8(&e, ev->family);
	put_u8(&e, ev->kind);
	/* family 0: the kernel sent no 4-tuple (see emit()) */
	put(&e, ev->laddr, ev->family == 2 ? 4 : ev->family ? 16 : 0);
	put(&e, ev->raddr, ev->family == 2 ? 4 : ev->family ? 16 : 0);
	put_str(&e, ev->comm, RCL_COMM_LEN);
	return append(w, REC_EVENT, ev->ts_ns, &e);
}

int record_events(struct rec_sink *w, const struct evb_enc *b)
{
	if (!b->n)
		return 0;
	return w->append(w->ctx, REC_EVENTS, b->ts0, b->buf, (__u32)b->len);
}

int record_decode_event(const void *p, size_t len, struct rcl_event *ev)
{
	struct dec d = { .p = p, .len = len };

	memset(ev, 0, sizeof(*ev));
	ev->sk = get_u64(&d);
	ev->tgid = get_u32(&d);
	ev->cur_tgid = get_u32(&d);
	ev->start_ns = get_u64(&d);
	ev->lport = get_u16(&d);
	ev->rport = get_u16(&d);
	ev->oldstate = get_u8(&d);
	ev->newstate = get_u8(&d);
	ev->family = get_u8(&d);
	ev->kind = get_u8(&d);
	get(&d, ev->laddr, ev->family == 2 ? 4 : ev->family ? 16 : 0);
	get(&d, ev->raddr, ev->family == 2 ? 4 : ev->family ? 16 : 0);
	get_str(&d, ev->comm, RCL_COMM_LEN, sizeof(ev->comm));
	return finish(&d);
}

static void enc_fd(struct enc *e, const struct rcl_fd_rec *r)
{
	put_u32(e, r->tgid);
	put_u32(e, r->fd);
	put_u64(e, r->start_ns);
	put_u64(e, r->sk);
	/* u64 on disk, RLIM_INFINITY as all ones, as the kernel has it */
	put_u64(e, r->nofile_cur == RCL_NOFILE_INF ? ~0ULL : r->nofile_cur);
	put_u64(e, r->nofile_max == RCL_NOFILE_INF ? ~0ULL : r->nofile_max);
	put_u64(e, r->open_ns);
	put_u64(e, r->jiffies);
	put_u32(e, r->last_rcv);
	put_u32(e, r->last_snd);
	put_u16(e, r->lport);
	put_u16(e, r->rport);
	put_u8(e, r->state);
	put_u8(e, r->family);
	put(e, r->laddr, 16);
	put(e, r->raddr, 16);
	put_str(e, r->comm, RCL_COMM_LEN);
	/* since minor 1, at the end: a reader of minor 0 stops before it */
	put_u8(e, r->flags);
}

int record_decode_fd(const void *p, size_t len, struct rcl_fd_rec *r)
{
	struct dec d = { .p = p, .len = len };

	memset(r, 0, sizeof(*r));
	r->tgid = get_u32(&d);
	r->fd = get_u32(&d);
	r->start_ns = get_u64(&d);
	r->sk = get_u64(&d);
	r->nofile_cur = rcl_nofile32(get_u64(&d));
	r->nofile_max = rcl_nofile32(get_u64(&d));
	r->open_ns = get_u64(&d);
	r->jiffies = get_u64(&d);
	r->last_rcv = get_u32(&d);
	r->last_snd = get_u32(&d);
	r->lport = get_u16(&d);
	r->rport = get_u16(&d);
	r->state = get_u8(&d);
	r->family = get_u8(&d);
	get(&d, r->laddr, 16);
	get(&d, r->raddr, 16);
	get_str(&d, r->comm, RCL_COMM_LEN, sizeof(r->comm));
	if (d.len - d.off >= 1) /* minor 0 files end here */
		r->flags = get_u8(&d) & (RCL_FD_FIN | RCL_FD_WAITS);
	return finish(&d);
}

int record_decode_counters(const void *p, size_t len, struct rec_counters *rc)
{
	struct dec d = { .p = p, .len = len };
	struct rcl_counters *c = &rc->c;

	memset(rc, 0, sizeof(*rc));
	dec_owner(&d, &rc->owner);
	c->opened = get_u64(&d);
	c->closed = get_u64(&d);
	c->exit_closed = get_u64(&d);
	c->released = get_u64(&d);
	c->cur = (__s64)get_u64(&d);
	c->peak = get_u64(&d);
	c->flags = get_u32(&d);
	get_str(&d, c->comm, RCL_COMM_LEN, sizeof(c->comm));
	for (int i = 0; i < RCL_LIFE_BUCKETS; i++)
		c->life[i] = get_u32(&d);
	/* minor 8 on: how many of the four totals above were accepted
	 * connections; before, none told apart (they stay the totals) */
	if (d.len - d.off >= 4 * 8) {
		__u64 *tot[4] = { &c->opened, &c->closed, &c->exit_closed, &c->released };
		__u64 *acc[4] = { &c->accepted, &c->acc_closed, &c->acc_exit_closed, &c->acc_released };

		for (int i = 0; i < 4; i++) {
			*acc[i] = get_u64(&d);
			if (*acc[i] > *tot[i]) /* not what a writer wrote */
				*acc[i] = *tot[i];
			*tot[i] -= *acc[i];
		}
	}
	return finish(&d);
}

static void enc_counters(struct enc *e, const struct rcl_owner *o, const struct proc *p)
{
	enc_owner(e, o);
	put_u64(e, p->opened);
	put_u64(e, p->closed);
	put_u64(e, p->exit_closed);
	put_u64(e, p->released);
	put_u64(e, 0); /* cur: not kept by the model */
	put_u64(e, p->peak);
	put_u32(e, p->listener ? RCL_PROC_LISTENER : 0);
	put_str(e, p->comm, RCL_COMM_LEN);
	for (int i = 0; i < RCL_LIFE_BUCKETS; i++)
		put_u32(e, p->life[i]);
	/* since minor 8, at the end: of the totals above, the accepted ones
	 * (a reader of minor 7 stops before them and takes the totals) */
	put_u64(e, p->accepted);
	put_u64(e, p->acc_closed);
	put_u64(e, p->acc_exit_closed);
	put_u64(e, p->acc_released);
}

int record_decode_proc(const void *p, size_t len, struct rec_proc *pr)
{
	struct dec d = { .p = p, .len = len };

	memset(pr, 0, sizeof(*pr));
	dec_owner(&d, &pr->owner);
	pr->fds = (__s64)get_u64(&d);
	pr->nofile_soft = (__s64)get_u64(&d);
	pr->nofile_hard = (__s64)get_u64(&d);
	pr->maxclients = (__s64)get_u64(&d);
	pr->exited = get_u8(&d);
	pr->exited_at = get_f64(&d);
	pr->missed_closed = get_u64(&d);
	get_str(&d, pr->maxclients_source, sizeof(pr->maxclients_source), sizeof(pr->maxclients_source));
	get_str(&d, pr->comm, RCL_COMM_LEN, sizeof(pr->comm));
	get_str(&d, pr->cmdline, sizeof(pr->cmdline), sizeof(pr->cmdline));
	if (d.len - d.off >= 8) /* files before minor 2 end here */
		pr->unix_clients = (__s64)get_u64(&d);
	if (d.len - d.off >= 8) /* files before minor 9 end here */
		pr->rcleak_links = (__s64)get_u64(&d);
	if (d.len - d.off >= 8) /* files before minor 10 end here */
		pr->master_links = (__s64)get_u64(&d);
	if (d.len - d.off >= 8)
		pr->cluster_links = (__s64)get_u64(&d);
	/* a recorder holds one link a server (a few while one stalls), a
	 * replica one link to its master: hostile bytes must not overflow
	 * the headroom */
	if (pr->rcleak_links < 0 || pr->rcleak_links > 1024)
		pr->rcleak_links = 0;
	if (pr->master_links < 0 || pr->master_links > 1024)
		pr->master_links = 0;
	if (pr->cluster_links < 0 || pr->cluster_links > 1 << 20)
		pr->cluster_links = 0;
	return finish(&d);
}

static void enc_proc(struct enc *e, const struct proc *p)
{
	enc_owner(e, &p->key);
	put_u64(e, (__u64)(__s64)p->fds);
	put_u64(e, (__u64)(__s64)p->nofile_soft);
	put_u64(e, (__u64)(__s64)p->nofile_hard);
	put_u64(e, (__u64)(__s64)p->maxclients);
	put_u8(e, p->exited);
	put_f64(e, p->exited_at);
	put_u64(e, p->missed_closed);
	put_str(e, p->maxclients_source, 16);
	put_str(e, p->comm, RCL_COMM_LEN);
	put_str(e, p->cmdline, 128);
	put_u64(e, (__u64)(__s64)p->unix_clients);
	put_u64(e, (__u64)(__s64)p->rcleak_links);
	put_u64(e, (__u64)(__s64)p->master_links);
	put_u64(e, (__u64)(__s64)p->cluster_links);
}

int record_decode_tick(const void *p, size_t len, struct rec_tick *t)
{
	struct dec d = { .p = p, .len = len };

	memset(t, 0, sizeof(*t));
	t->now = get_f64(&d);
	t->dt = get_f64(&d);
	t->wall = get_f64(&d);
	t->mono_ns = get_u64(&d);
	t->events = get_u64(&d);
	t->lost = get_u64(&d);
	t->repairs = get_u64(&d);
	t->missed_closes = get_u64(&d);
	t->events_per_s = get_f64(&d);
	t->hz = (__s64)get_u64(&d);
	/* hostile bytes: NaN or a wall clock localtime() cannot take would
	 * reach the views (a crash once, in strftime) */
	if (!(t->now >= 0 && t->now < 1e11) || !(t->dt >= 0 && t->dt < 1e11) || !capture_wall_ok(t->wall) ||
	    !(t->events_per_s >= 0 && t->events_per_s < 1e18))
		return -EINVAL;
	return finish(&d);
}

/* s with any byte but ASCII letters, digits and "_-./" as '?'. */
static void word_only(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("_-./", *s)))
			*s = '?';
}

int record_decode_meta(const void *p, size_t len, struct rec_meta *m)
{
	struct dec d = { .p = p, .len = len };

	memset(m, 0, sizeof(*m));
	get_str(&d, m->tier, sizeof(m->tier), sizeof(m->tier));
	get_str(&d, m->walk, sizeof(m->walk), sizeof(m->walk));
	/* names the views print as they are (the header, --json's hooks):
	 * from a hostile file an escape sequence reached the terminal, and a
	 * quote or a control byte broke --json */
	word_only(m->tier);
	word_only(m->walk);
	m->interval_s = get_f64(&d);
	if (d.off < d.len)
		m->window_s = get_f64(&d);
	if (d.off + 8 * 8 <= d.len) {
		m->th.leak_per_min = get_f64(&d);
		m->th.leak_close_frac = get_f64(&d);
		m->th.churn_per_s = get_f64(&d);
		m->th.churn_life_ms = get_f64(&d);
		m->th.zombie_s = get_f64(&d);
		m->th.zombie_idle_s = get_f64(&d);
		m->th.fd_limit_pct = get_f64(&d);
		m->th.idle_s = get_f64(&d);
		m->have_thresholds = true;
	}
	return finish(&d);
}

int record_meta(struct rec_sink *w, const struct collector *c)
{
	struct enc e = { .len = 0 };

	put_str(&e, c->tier, 16);
	put_str(&e, c->walk, 8);
	put_f64(&e, c->opts->interval_s);
	put_f64(&e, c->opts->window_s);
	put_f64(&e, c->model->th.leak_per_min);
	put_f64(&e, c->model->th.leak_close_frac);
	put_f64(&e, c->model->th.churn_per_s);
	put_f64(&e, c->model->th.churn_life_ms);
	put_f64(&e, c->model->th.zombie_s);
	put_f64(&e, c->model->th.zombie_idle_s);
	put_f64(&e, c->model->th.fd_limit_pct);
	put_f64(&e, c->model->th.idle_s);
	return append(w, REC_META, 0, &e);
}

int record_tick(struct rec_sink *w, const struct collector *c, double wall)
{
	const struct model *m = c->model;
	struct enc e = { .len = 0 };
	__u64 ts = m->mono_ns;
	int err;

	put_f64(&e, m->now);
	put_f64(&e, c->last_dt);
	put_f64(&e, wall);
	put_u64(&e, m->mono_ns);
	put_u64(&e, c->events);
	put_u64(&e, c->lost);
	put_u64(&e, c->repairs + c->repairs_added);
	put_u64(&e, m->missed_closes);
	put_f64(&e, c->events_per_s);
	put_u64(&e, (__u64)m->hz);
	if ((err = append(w, REC_TICK, ts, &e)))
		return err;
	for (size_t i = 0; i < m->nrecs; i++) {
		e.len = 0;
		enc_fd(&e, &m->recs[i]);
		if ((err = append(w, REC_FD, ts, &e)))
			return err;
	}
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *p = m->procs[i];

		if (!p->opened && !p->closed && !p->exit_closed && !p->released && !p->peak &&
		    !p->listener)
			continue;
		e.len = 0;
		enc_counters(&e, &p->key, p);
		if ((err = append(w, REC_COUNTERS, ts, &e)))
			return err;
	}
	for (size_t i = 0; i < m->nprocs; i++) {
		e.len = 0;
		enc_proc(&e, m->procs[i]);
		if ((err = append(w, REC_PROC, ts, &e)))
			return err;
	}
	e.len = 0;
	return append(w, REC_TICK_END, ts, &e);
}

int record_trigger(struct rec_sink *w, __u64 ts_ns, const struct rec_trigger *t)
{
	struct enc e = { .len = 0 };

	put_f64(&e, t->wall);
	enc_owner(&e, &t->owner);
	put_str(&e, t->verdict, sizeof(t->verdict));
	put_str(&e, t->rule, sizeof(t->rule));
	put_str(&e, t->why, sizeof(t->why));
	return append(w, REC_TRIGGER, ts_ns, &e);
}

int record_end(struct rec_sink *w, __u64 ts_ns, int sig, __u8 flags)
{
	struct enc e = { .len = 0 };

	put_u32(&e, (__u32)sig);
	/* since minor 11, at the end: a reader of minor 10 stops before it */
	put_u8(&e, flags);
	return append(w, REC_END, ts_ns, &e);
}

int record_decode_trigger(const void *p, size_t len, struct rec_trigger *t)
{
	struct dec d = { .p = p, .len = len };

	memset(t, 0, sizeof(*t));
	t->wall = get_f64(&d);
	dec_owner(&d, &t->owner);
	get_str(&d, t->verdict, sizeof(t->verdict), sizeof(t->verdict));
	get_str(&d, t->rule, sizeof(t->rule), sizeof(t->rule));
	get_str(&d, t->why, sizeof(t->why), sizeof(t->why));
	/* these end up on terminals: printable ASCII only */
	for (char *c = t->why; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	for (char *c = t->rule; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	return finish(&d);
}

int record_decode_end(const void *p, size_t len, __u32 *sig, __u8 *flags)
{
	struct dec d = { .p = p, .len = len };

	*sig = get_u32(&d);
	*flags = 0;
	if (d.len - d.off >= 1) /* files before minor 11 end here */
		*flags = get_u8(&d) & REC_END_NO_FINAL;
	return finish(&d);
}
