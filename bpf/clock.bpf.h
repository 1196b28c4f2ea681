// SPDX-License-Identifier: GPL-2.0
/*
 * clock.bpf.h - one run's state change (struct chg), and the clock reads
 * it takes: open times and event times, read as seldom as they can be.
 */
#ifndef RCLEAK_CLOCK_BPF_H
#define RCLEAK_CLOCK_BPF_H

#include "maps.bpf.h"

/* One run of the lifecycle program: the state change, and what the hook
 * read already, so that nothing is read twice. */
struct chg {
	const void *sk;
	struct rcl_cpu *pc;  /* this CPU's, looked up once a run */
	__u64 now;           /* bpf_ktime_get_ns(), read when first needed */
	int oldstate, newstate;
	__u16 lport, rport;  /* host order; lport is 0 on the way to CLOSE */
	__u16 family;
};

static __always_inline __u64 chg_now(struct chg *c)
{
	if (!c->now)
		c->now = bpf_ktime_get_ns();
	return c->now;
}

/* ------------------------------------------------------------------------
 * open times
 *
 * A clock read costs 50-75 ns on the VMs here, and a connection whose both
 * ends are watched needs four (open and close of each end) for its two
 * lifetimes: a quarter of live's BPF time under a connect storm. A socket's
 * open time itself need only be known to within a tick (the sweep, ages). So
 * per CPU, the first open of each tick reads the clock, and every open is
 * drawn for the lifetime sample with odds of RCL_LIFE_DRAWS in the number
 * of opens the CPU saw in the tick before: all of them while fewer open, a
 * random sample (not the first ones, which would favour whoever opens at
 * the start of a tick) when more do. A drawn socket reads the clock at its
 * open and close; the others take the tick's first clock read as a lower
 * bound, are marked UNTIMED, and their lifetimes are not counted. record
 * draws the same way (its events' times are read as seldom: "event times").
 */
static __always_inline void stamp_open(struct chg *c, struct rcl_sock *ns)
{
	struct rcl_open_clock *k = &c->pc->clk;
	__u64 j, r;

	j = bpf_jiffies64();
	if (k->tick != j) {
		/* the tick before decides this one's odds; an idle tick
		 * between them means few opens */
		__u32 before = k->tick + 1 == j ? k->opens : 0;

		k->odds = before <= RCL_LIFE_DRAWS ? 1ULL << 32
						   : ((__u64)RCL_LIFE_DRAWS << 32) / before;
		k->opens = 0;
		k->base_ns = chg_now(c);
		barrier(); /* a run nesting in between sees the base with its tick */
		k->tick = j;
		/* the helper once a tick; per open, a few ALU instructions
		 * (the helper call measured ~40 ns an open here) */
		if (!(k->odds >> 32))
			k->rng = (__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32() | 1;
	}
	k->opens++;
	if (k->odds >> 32)
		goto timed;
	r = k->rng;
	r ^= r << 13;
	r ^= r >> 7;
	r ^= r << 17;
	k->rng = r;
	if ((r >> 32) < k->odds)
		goto timed;
	ns->open_ns = k->base_ns;
	ns->flags |= RCL_SOCK_UNTIMED;
	return;
timed:
	ns->open_ns = chg_now(c);
}

/* ------------------------------------------------------------------------
 * event times
 *
 * rcleak record stamped every event with a clock read of its own: 6 to 10
 * reads a connection, a sixth of record's BPF time under a connect storm.
 * An event's time need only be close (the report shows ms, ticks are
 * seconds apart) and in order with the walks. So per CPU, an event takes the
 * CPU's last clock read for an event while that was in the same tick and
 * walk generation; else it reads the clock. A stamp is thus about one tick
 * at most before the event's real time (longer by as much as the kernel
 * runs a timer tick late: jiffies stand still meanwhile), never after it,
 * and never before an iterator walk the event came after: userspace bumps
 * walk_gen when such a walk starts, after it read the refresh's time, so
 * an event after that start reads the clock anew and is stamped after the
 * refresh's time (--walk proc bumps nothing: there a tick). An event while
 * the CPU is quiet (the first of its tick) is timed exactly. The capture
 * says the bound (its header's event time resolution). A run that nests in
 * another may mix the two runs' updates: a stamp then comes from either's
 * read, both in this tick. (Reading the clock again every 16
 * events as well, for stamps closer under a storm, cost back a third of
 * the gain and made the capture 20 % larger: the times' deltas compress
 * less; tools/bench/cost-ab.sh.)
 */

static __always_inline __u64 event_ts(struct chg *c)
{
	struct rcl_open_clock *k = &c->pc->clk;
	__u64 j, g;

	if (c->now) /* this run read the clock already */
		return c->now;
	j = bpf_jiffies64();
	g = walk_gen;
	if (k->ev_tick == j && k->ev_gen == g)
		return k->ev_ns;
	k->ev_ns = chg_now(c);
	k->ev_tick = j;
	k->ev_gen = g;
	return k->ev_ns;
}

#endif /* RCLEAK_CLOCK_BPF_H */
