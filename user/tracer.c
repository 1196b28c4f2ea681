// SPDX-License-Identifier: GPL-2.0
/* tracer.c - BPF lifecycle: load, attach, events, stats (see tracer.h);
 * the walks are in tracer_walk.c. */
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

#include "log.h"
#include "procscan.h"
#include "proctab.h"
#include "rcleak.skel.h"
#include "tracer.h"
#include "tracer_int.h"

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
	struct stat st;
	bool twin;
	int err;

	last_libbpf_msg[0] = '\0';
	t->skel = rcleak_bpf__open();
	if (!t->skel)
		return fail_why(why, len, "open", errno);
	/* what is recorded cannot be repaired later: recover skipped runs */
	twin = o->ringbuf_bytes > 0 && tier_twin(t->skel, tier);
	t->skel->rodata->self_tgid = getpid();
	/* the tcp walk sees this network namespace only (0: cannot tell) */
	if (stat("/proc/self/ns/net", &st) == 0)
		t->skel->rodata->self_netns = (__u32)st.st_ino;
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
		t->procscan = procscan_new(o->ports, o->nports, o->tree ? getpid() : 0);
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

void tracer__note_listener(struct tracer *t, __u16 port, const struct rcl_owner *o)
{
	__u32 k = t->skel->rodata->port_idx[port]; /* rodata stays readable */
	struct rcl_listener l = { .owner = *o }; /* net 0, wildcard: any */

	/* The BPF walk notes listeners itself, with their network namespace;
	 * /proc's walk (its own namespace only) tells none */
	if (k && t->procscan) /* a watched port */
		bpf_map_update_elem(bpf_map__fd(t->skel->maps.listeners),
				    &(__u32){ (k - 1) * RCL_LISTEN_WAYS }, &l, BPF_ANY);
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

void tracer__self_ep(struct tracer *t, int slot, const __u8 addr[16], __u16 port, __u16 srv_port,
		     __u32 netns)
{
	struct rcl_self_ep *e = &t->skel->bss->self_eps[slot];

	/* the kernel side may read it meanwhile: no port while addr changes */
	__atomic_store_n(&e->port, 0, __ATOMIC_RELEASE);
	if (!port)
		return;
	memcpy(e->addr, addr, sizeof(e->addr));
	e->srv_port = srv_port;
	e->netns = netns;
	__atomic_store_n(&e->port, port, __ATOMIC_RELEASE);
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
	 * 100 ms, then drain whatever is there. Every 50 ms cost the recorder
	 * 11 % more CPU under a connect storm (tools/bench/cost-ab.sh: 563 ->
	 * 502 ns a connection, 8 of 8 pairs), every 10 ms a third more; 100 ms
	 * of events at the highest rate here are ~1.1 MiB of the 16 MiB ring. */
	if (timeout_ms > 100)
		timeout_ms = 100;
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

/* The BPF side's per-CPU counters: the first RCL_STAT__MAX words of each
 * CPU's struct rcl_cpu (the rest is its private state). */
void tracer__stats(struct tracer *t, __u64 out[RCL_STAT__MAX])
{
	const struct bpf_map *m = t->skel->maps.cpu_state;
	size_t vsz = (bpf_map__value_size(m) + 7) & ~(size_t)7;
	int ncpus = t->ncpus > 0 ? t->ncpus : 1;
	__u32 zero = 0;
	char *vals;

	memset(out, 0, sizeof(out[0]) * RCL_STAT__MAX);
	if (vsz < sizeof(out[0]) * RCL_STAT__MAX)
		return;
	vals = calloc((size_t)ncpus, vsz);
	if (!vals)
		return;
	if (bpf_map_lookup_elem(bpf_map__fd(m), &zero, vals) == 0) {
		for (int c = 0; c < ncpus; c++) {
			const __u64 *v = (const __u64 *)(vals + (size_t)c * vsz);

			for (int i = 0; i < RCL_STAT__MAX; i++)
				out[i] += v[i];
		}
	}
	free(vals);
}
