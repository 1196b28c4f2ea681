// SPDX-License-Identifier: GPL-2.0
/* procwatch.c - see procwatch.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "procfs.h"
#include "procwatch.h"

static int cmp_key(const struct rcl_owner *x, const struct rcl_owner *y)
{
	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
}

/* Index of o, or where it would go (*found false). */
static size_t locate(const struct procwatch *w, const struct rcl_owner *o, bool *found)
{
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_key(&w->ents[mid].key, o);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

/* Connects so far (opened, at now) toward e's highest rate over a window:
 * those since the newest sample at or before now - window, or all of them
 * when there is none (every one came after its first connect, which the
 * watch noted within a pass of it). Samples are at least window/60 apart,
 * so a window and the sample before it fit in 62 of them; the window a
 * rate is taken over is longer than window_s by at most a sample's step
 * and a pass. */
static void count(struct procwatch_ent *e, __u64 opened, double now, double window)
{
	double step = window / (PROCWATCH_SAMPLES - 4), rate;
	__u64 base = 0;
	int last;

	/* keep one sample at or before now - window, the newest such */
	while (e->len >= 2 && e->t[(e->head + 1) % PROCWATCH_SAMPLES] <= now - window) {
		e->head = (e->head + 1) % PROCWATCH_SAMPLES;
		e->len--;
	}
	if (e->len && e->t[e->head] <= now - window)
		base = e->opened[e->head];
	rate = (double)(opened - base) / window;
	if (rate > e->max_rate)
		e->max_rate = rate;

	if (e->len && now - e->t[(e->head + e->len - 1) % PROCWATCH_SAMPLES] < step)
		return;
	if (e->len == PROCWATCH_SAMPLES) { /* cannot happen (see above) */
		e->head = (e->head + 1) % PROCWATCH_SAMPLES;
		e->len--;
	}
	last = (e->head + e->len++) % PROCWATCH_SAMPLES;
	e->t[last] = now;
	e->opened[last] = opened;
}

int procwatch_note(struct procwatch *w, const struct rcl_owner *o, __u64 opened, double now)
{
	struct procwatch_ent *e;
	bool found;
	size_t i = locate(w, o, &found);

	if (found) {
		e = &w->ents[i];
		if (!e->final) /* once more after its exit: its last connects */
			count(e, opened, now, w->window_s);
		e->final = e->exited_at >= 0;
		return 0;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 32;
		struct procwatch_ent *grown = realloc(w->ents, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		w->ents = grown;
		w->cap = cap;
	}
	memmove(&w->ents[i + 1], &w->ents[i], (w->n - i) * sizeof(*e));
	w->n++;
	e = &w->ents[i];
	memset(e, 0, sizeof(*e));
	e->key = *o;
	e->exited_at = -1;
	/* read first, then check: a command line read from the pid is o's
	 * when o still holds the pid afterwards, running or as a zombie (whose
	 * command line reads empty: it was read before the exit) */
	e->have_cmdline = procfs_cmdline((int)o->tgid, e->cmdline, sizeof(e->cmdline)) == 0;
	if (!procfs_running((int)o->tgid, o->start_ns)) {
		e->exited_at = now;
		e->final = true; /* gone already: these are all its connects */
		if (!procfs_alive((int)o->tgid, o->start_ns)) {
			e->have_cmdline = false;
			e->cmdline[0] = '\0';
		}
	}
	count(e, opened, now, w->window_s);
	return 0;
}

void procwatch_check(struct procwatch *w, double now)
{
	for (size_t i = 0; i < w->n; i++) {
		struct procwatch_ent *e = &w->ents[i];

		if (e->exited_at < 0 && !procfs_running((int)e->key.tgid, e->key.start_ns))
			e->exited_at = now;
	}
}

const struct procwatch_ent *procwatch_find(const struct procwatch *w, const struct rcl_owner *o)
{
	bool found;
	size_t i = locate(w, o, &found);

	return found ? &w->ents[i] : NULL;
}

void procwatch_drop(struct procwatch *w, const struct rcl_owner *o)
{
	bool found;
	size_t i = locate(w, o, &found);

	if (!found)
		return;
	memmove(&w->ents[i], &w->ents[i + 1], (w->n - i - 1) * sizeof(w->ents[0]));
	w->n--;
}

void procwatch_free(struct procwatch *w)
{
	free(w->ents);
	memset(w, 0, sizeof(*w));
}
