// SPDX-License-Identifier: GPL-2.0
/* tracer.c - BPF lifecycle (see tracer.h). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kclock.h"
#include "log.h"
#include "procscan.h"
#include "proctab.h"
#include "slots.h"
#include "rcleak.skel.h"
#include "tracer.h"

struct tracer {
	struct rcleak_bpf *skel;
	struct bpf_link *lifecycle;
	struct bpf_link *twin; /* record: runs the kernel skipped (rcleak.bpf.c) */
	struct bpf_link *walk_files, *walk_tcp;
	struct ring_buffer *rb;
	struct rcl_sock_slot *slots; /* sock_slots, mapped (iters: the sweep reads it) */
	struct rcl_proc_slot *proc_slots; /* proc_slots, mapped */
	tracer_event_cb event_cb;
	void *event_ctx;
	int tier;           /* attached lifecycle flavour (tier_names), -1: none yet */
	struct procscan *procscan; /* set: holders come from /proc, not iterators */
	bool mounted_tracefs;
	__u64 gen;
	char *buf;          /* one read() of an iterator: records stream through */
	struct tracer_nfds { __u32 tgid; long nfds; } *nfds; /* last walk, by tgid */
	size_t nnfds, nfdscap;
	int ncpus;
};

#define ITER_BUF (256 * 1024)
#define SLOTS_BYTES ((size_t)RCL_SOCK_SLOTS * sizeof(struct rcl_sock_slot))
#define PROC_SLOTS_BYTES ((size_t)RCL_PROC_SLOTS * sizeof(struct rcl_proc_slot))

/* ------------------------------------------------------------------------
 * libbpf messages: everything with -v; otherwise keep the last warning so
 * a failure can say why in one line.
 */

static char last_libbpf_msg[256];

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list aq;

	va_copy(aq, ap);
	if (level != LIBBPF_DEBUG) {
		vsnprintf(last_libbpf_msg, sizeof(last_libbpf_msg), fmt, aq);
		last_libbpf_msg[strcspn(last_libbpf_msg, "\n")] = '\0';
	}
	va_end(aq);
	if (!rcl_verbose || (level == LIBBPF_DEBUG && rcl_verbose < 2))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static const char *const tier_names[] = { "tp_btf", "raw_tp", "tracepoint" };

static struct bpf_program *tier_prog(struct rcleak_bpf *skel, int tier)
{
	switch (tier) {
	case 0: return skel->progs.rcl_state_btf;
	case 1: return skel->progs.rcl_state_raw;
	default: return skel->progs.rcl_state_tp;
	}
}

/* The lifecycle program's twin (tp_btf, raw_tp), or NULL: on the classic
 * tracepoint the kernel skips every program of a nested hit alike. */
static struct bpf_program *tier_twin(struct rcleak_bpf *skel, int tier)
{
	switch (tier) {
	case 0: return skel->progs.rcl_twin_btf;
	case 1: return skel->progs.rcl_twin_raw;
	default: return NULL;
	}
}

/* Classic tracepoints need tracefs; mount it when nothing provides it. */
static int ensure_tracefs(struct tracer *t)
{
	if (access("/sys/kernel/tracing/events", F_OK) == 0 ||
	    access("/sys/kernel/debug/tracing/events", F_OK) == 0)
		return 0;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
		return -errno;
	t->mounted_tracefs = true;
	/* left mounted, as boot scripts would: unmounting tracefs crashes some
	 * kernels (Debian 6.12 under lockdown=confidentiality: list corruption
	 * in tracefs_destroy_inode) */
	vlog("mounted tracefs on /sys/kernel/tracing (left mounted)");
	return 0;
}

static void drop(struct tracer *t)
{
	ring_buffer__free(t->rb);
	t->rb = NULL;
	if (t->slots)
		munmap(t->slots, SLOTS_BYTES);
	t->slots = NULL;
	if (t->proc_slots)
		munmap(t->proc_slots, PROC_SLOTS_BYTES);
	t->proc_slots = NULL;
	bpf_link__destroy(t->twin);
	bpf_link__destroy(t->lifecycle);
	bpf_link__destroy(t->walk_files);
	bpf_link__destroy(t->walk_tcp);
	rcleak_bpf__destroy(t->skel);
	procscan_free(t->procscan);
	t->lifecycle = t->twin = t->walk_files = t->walk_tcp = NULL;
	t->skel = NULL;
	t->procscan = NULL;
}

static int fail_why(char *why, size_t len, const char *what, int err)
{
	snprintf(why, len, "%s: %s%s%s", what, strerror(err < 0 ? -err : err),
		 last_libbpf_msg[0] ? " -- " : "", last_libbpf_msg);
	return -1;
}

static int on_ringbuf(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;

	if (size < sizeof(struct rcl_event) || !t->event_cb)
		return 0;
	return t->event_cb(data, t->event_ctx);
}

/* Load everything with lifecycle flavour `tier` and attach it; with iters
 * false, leave the iterators out (holders then come from /proc). */
/* A BPF_F_MMAPABLE array mapped read-write, or NULL (errno set). */
static void *map_slots(const struct bpf_map *m, size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);

	return p == MAP_FAILED ? NULL : p;
}

static int try_tier(struct tracer *t, const struct tracer_opts *o, int tier,
		    bool iters, char *why, size_t len)
{
	bool twin;
	int err;

	last_libbpf_msg[0] = '\0';
	t->skel = rcleak_bpf__open();
	if (!t->skel)
		return fail_why(why, len, "open", errno);
	/* what is recorded cannot be repaired later: recover skipped runs */
	twin = o->ringbuf_bytes > 0 && tier_twin(t->skel, tier);
	t->skel->rodata->self_tgid = getpid();
	t->skel->rodata->tree_mode = o->tree;
	t->skel->rodata->emit_events = o->ringbuf_bytes > 0;
	t->skel->rodata->note_runs = twin;
	if (!iters) { /* process keys as the /proc walk reads them */
		long hz = sysconf(_SC_CLK_TCK);

		t->skel->rodata->start_tick_ns = 1000000000ULL / (__u64)(hz > 0 ? hz : 100);
	}
	for (int i = 0; i < o->nports; i++) {
		t->skel->rodata->watched_bits[o->ports[i] >> 6] |= 1ULL << (o->ports[i] & 63);
		t->skel->rodata->port_idx[o->ports[i]] = (__u8)(i + 1);
	}
	if (o->ringbuf_bytes && bpf_map__set_max_entries(t->skel->maps.events, o->ringbuf_bytes))
		return fail_why(why, len, "ring buffer size", errno);
	for (int i = 0; i < 3; i++) {
		bpf_program__set_autoload(tier_prog(t->skel, i), i == tier);
		if (tier_twin(t->skel, i))
			bpf_program__set_autoload(tier_twin(t->skel, i), twin && i == tier);
	}
	bpf_program__set_autoload(t->skel->progs.rcl_walk_files, iters);
	bpf_program__set_autoload(t->skel->progs.rcl_walk_tcp, iters);
	if (tier == 2 && (err = ensure_tracefs(t)))
		return fail_why(why, len, "mount tracefs", err);

	err = rcleak_bpf__load(t->skel);
	if (err)
		return fail_why(why, len, "load", err);
	if (o->ringbuf_bytes) {
		t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_ringbuf, t, NULL);
		if (!t->rb)
			return fail_why(why, len, "ring buffer", errno);
	}
	t->lifecycle = bpf_program__attach(tier_prog(t->skel, tier));
	if (!t->lifecycle)
		return fail_why(why, len, "attach", errno);
	/* after the lifecycle program: a hook runs its programs in the order
	 * they were attached */
	if (twin) {
		t->twin = bpf_program__attach(tier_twin(t->skel, tier));
		if (!t->twin)
			return fail_why(why, len, "attach (twin)", errno);
	}
	t->proc_slots = map_slots(t->skel->maps.proc_slots, PROC_SLOTS_BYTES);
	if (!t->proc_slots)
		return fail_why(why, len, "map proc_slots", errno);
	if (!iters) {
		t->procscan = procscan_new(o->ports, o->nports);
		return t->procscan ? 0 : fail_why(why, len, "procscan", ENOMEM);
	}

	t->slots = map_slots(t->skel->maps.sock_slots, SLOTS_BYTES);
	if (!t->slots)
		return fail_why(why, len, "map sock_slots", errno);
	t->walk_files = bpf_program__attach_iter(t->skel->progs.rcl_walk_files, NULL);
	if (!t->walk_files)
		return fail_why(why, len, "iter/task_file", errno);
	t->walk_tcp = bpf_program__attach_iter(t->skel->progs.rcl_walk_tcp, NULL);
	if (!t->walk_tcp)
		return fail_why(why, len, "iter/tcp", errno);
	return 0;
}

int tracer__open(struct tracer **out, const struct tracer_opts *o,
		 struct tracer_tier_note notes[3], int *nnotes,
		 char *err, size_t errlen)
{
	struct tracer *t;
	int first = 0, last = 2, n = 0;
	char why[160] = "";

	*out = NULL;
	if (nnotes)
		*nnotes = 0;
	libbpf_set_print(libbpf_print);
	if (o->hooks != RCL_HOOKS_AUTO)
		first = last = o->hooks - RCL_HOOKS_TP_BTF;

	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return RCL_EXIT_ERROR;
	}
	t->ncpus = libbpf_num_possible_cpus();
	t->tier = -1;
	for (int tier = first; tier <= last; tier++) {
		bool ok;

		why[0] = '\0';
		ok = try_tier(t, o, tier, o->walk != RCL_WALK_PROC, why, sizeof(why)) == 0;
		if (!ok && o->walk == RCL_WALK_AUTO) {
			/* maybe just the iterators are missing (kernel < 5.11) */
			char why2[160];

			vlog("hook tier %s with iterators failed: %s; trying /proc walks", tier_names[tier], why);
			drop(t);
			ok = try_tier(t, o, tier, false, why2, sizeof(why2)) == 0;
			if (!ok)
				snprintf(why, sizeof(why), "%s", why2);
		}
		if (ok) {
			t->tier = tier;
			if (notes) {
				notes[n].tier = tier_names[tier];
				notes[n].why[0] = '\0';
				n++;
			}
			break;
		}
		vlog("hook tier %s unavailable: %s", tier_names[tier], why);
		if (notes) {
			notes[n].tier = tier_names[tier];
			snprintf(notes[n].why, sizeof(notes[n].why), "%s", why);
			n++;
		}
		drop(t);
	}
	if (nnotes)
		*nnotes = n;
	if (t->tier < 0) {
		if (o->hooks != RCL_HOOKS_AUTO)
			snprintf(err, errlen, "hook tier %s unavailable on this kernel (%s): try --hooks auto, see 'rcleak doctor'",
				 tier_names[first], why);
		else
			snprintf(err, errlen, "no usable hook on this kernel (last: %s): see 'rcleak doctor'", why);
		free(t);
		return RCL_EXIT_KERNEL;
	}
	*out = t;
	return 0;
}

void tracer__free(struct tracer *t)
{
	if (!t)
		return;
	drop(t);
	free(t->buf);
	free(t->nfds);
	free(t);
}

const char *tracer__tier(const struct tracer *t)
{
	return tier_names[t->tier];
}

const char *tracer__walk(const struct tracer *t)
{
	return t->procscan ? "proc" : "iter";
}

/* ------------------------------------------------------------------------
 * walks
 */

/* Consumes whole records at the start of data; returns the bytes used
 * (0: a record is incomplete, read more). */
typedef size_t (*iter_parse_fn)(struct tracer *t, const char *data, size_t len, void *ctx);

/* Run an iterator to its end, streaming its output through parse in
 * read()-sized pieces: at 100k connections the walk writes ~25 MiB, which
 * is never held whole. Returns 0 or -errno. */
static int run_iter(struct tracer *t, struct bpf_link *link, iter_parse_fn parse, void *ctx)
{
	size_t have = 0;
	int fd, err = 0;

	if (!t->buf && !(t->buf = malloc(ITER_BUF)))
		return -ENOMEM;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, t->buf + have, ITER_BUF - have);
		size_t used;

		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		have += (size_t)r;
		used = parse ? parse(t, t->buf, have, ctx) : have;
		memmove(t->buf, t->buf + used, have - used);
		have -= used;
	}
	close(fd);
	if (!err && have)
		vlog("walk: %zu trailing bytes ignored", have);
	return err;
}

static void next_gen(struct tracer *t)
{
	t->skel->bss->walk_gen = ++t->gen;
}

int tracer__snapshot(struct tracer *t)
{
	if (t->procscan) /* no socket map snapshot without iter/tcp */
		return 0;
	next_gen(t);
	t->skel->bss->reconciling = 0;
	return run_iter(t, t->walk_tcp, NULL, NULL);
}

struct walk_ctx {
	tracer_fd_cb cb;
	void *ctx;
};

static void add_nfds(struct tracer *t, __u32 tgid, long nfds)
{
	if (t->nnfds == t->nfdscap) {
		size_t ncap = t->nfdscap ? t->nfdscap * 2 : 256;
		struct tracer_nfds *n = realloc(t->nfds, ncap * sizeof(*n));

		if (!n)
			return; /* that process's fds read as unknown */
		t->nfds = n;
		t->nfdscap = ncap;
	}
	t->nfds[t->nnfds].tgid = tgid;
	t->nfds[t->nnfds++].nfds = nfds;
}

static size_t parse_files(struct tracer *t, const char *data, size_t len, void *ctx)
{
	const struct walk_ctx *w = ctx;
	size_t off = 0;

	while (len - off >= sizeof(struct rcl_task_rec)) {
		__u32 mark;

		memcpy(&mark, data + off + offsetof(struct rcl_task_rec, mark), sizeof(mark));
		if (mark == RCL_WALK_TASK_MARK) {
			struct rcl_task_rec tr;

			memcpy(&tr, data + off, sizeof(tr));
			add_nfds(t, tr.tgid, (long)tr.nfds);
			off += sizeof(tr);
		} else {
			struct rcl_fd_rec rec;

			if (len - off < sizeof(rec))
				break;
			memcpy(&rec, data + off, sizeof(rec));
			w->cb(&rec, w->ctx);
			off += sizeof(rec);
		}
	}
	return off;
}

static int cmp_nfds(const void *a, const void *b)
{
	const struct tracer_nfds *x = a, *y = b;

	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

int tracer__walk_files(struct tracer *t, tracer_fd_cb cb, void *ctx)
{
	struct walk_ctx w = { .cb = cb, .ctx = ctx };
	size_t out = 0;
	int err;

	if (t->procscan)
		return procscan_walk(t->procscan, cb, ctx);
	next_gen(t);
	t->nnfds = 0;
	err = run_iter(t, t->walk_files, parse_files, &w);
	if (err)
		return err;
	/* a process whose threads have fd tables of their own has one summary
	 * per table that holds a watched socket: add them up */
	qsort(t->nfds, t->nnfds, sizeof(*t->nfds), cmp_nfds);
	for (size_t i = 0; i < t->nnfds; i++) {
		if (out && t->nfds[out - 1].tgid == t->nfds[i].tgid)
			t->nfds[out - 1].nfds += t->nfds[i].nfds;
		else
			t->nfds[out++] = t->nfds[i];
	}
	t->nnfds = out;
	return 0;
}

long tracer__nfds(struct tracer *t, __u32 tgid)
{
	struct tracer_nfds key = { .tgid = tgid }, *e;

	if (t->procscan)
		return procscan_nfds(t->procscan, tgid);
	e = t->nnfds ? bsearch(&key, t->nfds, t->nnfds, sizeof(*t->nfds), cmp_nfds) : NULL;
	return e ? e->nfds : -1;
}

/* Socket-map entries read per batch by the sweep. */
#define SWEEP_BATCH 4096

/* Entries of the socket map the last tcp walk (generation gen) did not see
 * and that are older than the walk (before_ns): their close event was
 * missed. Each is deleted, and reported only if the delete found it still
 * there: a close event that raced with the walk accounted for it already.
 * A batch lookup, not an iter/bpf_map_elem program: some kernels refuse
 * that iterator (EPERM) while they allow task_file and tcp, and every
 * kernel with iter/tcp (5.9) has hash-map batch ops (5.6). */
static int sweep_socks(int fd, __u16 gen, __u64 before_ns, tracer_stale_cb cb, void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bopts);
	__u32 cap = SWEEP_BATCH, in = 0, out = 0, n;
	struct rcl_sock *vals = NULL;
	__u64 *keys = NULL;
	bool first = true;
	int err = 0;

	for (;;) {
		if (!keys) {
			keys = calloc(cap, sizeof(*keys));
			vals = calloc(cap, sizeof(*vals));
			if (!keys || !vals) {
				err = -ENOMEM;
				goto cleanup;
			}
		}
		n = cap;
		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &n, &bopts);
		if (err == -ENOSPC && n == 0) { /* one bucket holds more than cap */
			free(keys);
			free(vals);
			keys = NULL;
			vals = NULL;
			cap *= 2;
			continue;
		}
		if (err && err != -ENOENT)
			goto cleanup;
		for (__u32 i = 0; i < n; i++) {
			struct rcl_stale_rec rec = {
				.sk = keys[i],
				.owner = { .tgid = vals[i].tgid, .start_ns = vals[i].start_ns },
				.flags = vals[i].flags,
			};

			/* 16 bits of generation: an entry last seen 65536 walks
			 * ago passes for seen once, and goes at the next one */
			if (vals[i].seen_gen == gen || vals[i].open_ns >= before_ns)
				continue;
			if (bpf_map_delete_elem(fd, &keys[i]) == 0)
				cb(&rec, ctx);
		}
		if (err == -ENOENT) { /* that was the last batch */
			err = 0;
			break;
		}
		in = out;
		first = false;
	}
cleanup:
	free(keys);
	free(vals);
	return err;
}

/* The same for the socket table's slots (rcleak.bpf.c, "the socket
 * table"), which BPF frees with a store: a slot goes with a compare-and-swap
 * of its socket, so that a slot freed, or taken by another socket, in the
 * meantime stays as BPF left it. */
static void sweep_slots(struct rcl_sock_slot *slots, __u16 gen, __u64 before_ns,
			tracer_stale_cb cb, void *ctx)
{
	for (__u32 i = 0; i < RCL_SOCK_SLOTS; i++) {
		struct rcl_sock_slot e;
		__u64 sk = slot_read(&slots[i], sizeof(e), &e);
		struct rcl_stale_rec rec;

		if (!sk || e.v.seen_gen == gen || e.v.open_ns >= before_ns)
			continue;
		if (!slot_free(&slots[i], sk))
			continue;
		rec = (struct rcl_stale_rec){
			.sk = sk,
			.owner = { .tgid = e.v.tgid, .start_ns = e.v.start_ns },
			.flags = e.v.flags,
		};
		cb(&rec, ctx);
	}
}

int tracer__reconcile(struct tracer *t, tracer_stale_cb cb, void *ctx)
{
	__u64 before_ns;
	int err;

	if (t->procscan) /* the sweep needs the tcp walk */
		return 0;
	before_ns = (__u64)(kclock_mono_s() * 1e9); /* bpf_ktime_get_ns() clock */
	next_gen(t);
	t->skel->bss->reconciling = 1;
	err = run_iter(t, t->walk_tcp, NULL, NULL);
	t->skel->bss->reconciling = 0;
	if (err)
		return err;
	sweep_slots(t->slots, (__u16)t->gen, before_ns, cb, ctx);
	return sweep_socks(bpf_map__fd(t->skel->maps.socks), (__u16)t->gen, before_ns, cb, ctx);
}

/* Per process, its counters: the slots, and the procs map's entries (the
 * processes whose slot another held, or that raced for it), added up per
 * process by proctab_each. */
int tracer__for_each_proc(struct tracer *t, tracer_proc_cb cb, void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.procs);
	struct proctab_ent *ents = NULL, *grown;
	size_t n = 0, cap = 0;
	struct rcl_owner key, next;
	void *prev = NULL;
	int err;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(ents, cap * sizeof(*ents));
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			ents = grown;
		}
		if (bpf_map_lookup_elem(fd, &next, &ents[n].c) == 0)
			ents[n++].o = next;
		key = next;
		prev = &key;
	}
	err = proctab_each(t->proc_slots, t->proc_slots ? RCL_PROC_SLOTS : 0, ents, n, cb, ctx);
cleanup:
	free(ents);
	return err;
}

void tracer__note_listener(struct tracer *t, __u16 port, const struct rcl_owner *o)
{
	__u32 k = t->skel->rodata->port_idx[port]; /* rodata stays readable */

	if (k) /* a watched port */
		bpf_map_update_elem(bpf_map__fd(t->skel->maps.listeners), &(__u32){ k - 1 }, o, BPF_ANY);
}

void tracer__self_port(struct tracer *t, __u16 port, bool add)
{
	__u64 *w = &t->skel->bss->self_bits[port >> 6], bit = 1ull << (port & 63);

	/* the kernel side reads the word while it changes: whole-word atomics */
	if (add)
		__atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(w, ~bit, __ATOMIC_RELAXED);
}

void tracer__forget_proc(struct tracer *t, const struct rcl_owner *o)
{
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.procs), o);
	proctab_forget(t->proc_slots, t->proc_slots ? RCL_PROC_SLOTS : 0, o);
}

int tracer__poll_events(struct tracer *t, int timeout_ms, tracer_event_cb cb, void *ctx)
{
	int n;

	if (!t->rb)
		return -EINVAL;
	t->event_cb = cb;
	t->event_ctx = ctx;
	/* the kernel side never wakes us (BPF_RB_NO_WAKEUP): wait at most
	 * 50 ms, then drain whatever is there */
	if (timeout_ms > 50)
		timeout_ms = 50;
	n = ring_buffer__poll(t->rb, timeout_ms);
	if (n < 0 && n != -EINTR)
		return n;
	n = ring_buffer__consume(t->rb);
	return n < 0 ? n : 0;
}

__u64 tracer__missed_runs(struct tracer *t)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(tier_prog(t->skel, t->tier)), &info, &len))
		return 0;
	return info.recursion_misses;
}

__u64 tracer__recovered_runs(struct tracer *t)
{
	__u64 stats[RCL_STAT__MAX];

	tracer__stats(t, stats);
	return stats[RCL_STAT_RECOVERED];
}

void tracer__stats(struct tracer *t, __u64 out[RCL_STAT__MAX])
{
	int fd = bpf_map__fd(t->skel->maps.stats);
	__u64 vals[t->ncpus > 0 ? t->ncpus : 1];

	for (__u32 i = 0; i < RCL_STAT__MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (int c = 0; c < t->ncpus; c++)
			out[i] += vals[c];
	}
}
