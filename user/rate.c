// SPDX-License-Identifier: GPL-2.0
/* rate.c - see rate.h. */
#include <stdbool.h>
#include <stdlib.h>

#include "rate.h"

#define IDX(s, i) (((s)->head + (i)) % (s)->cap)

void series_free(struct series *s)
{
	free(s->t);
	s->t = s->y = NULL;
	s->head = s->len = s->cap = 0;
}

/* Twice the room, the samples in order from index 0; false when memory
 * ran out (the series keeps what it had). */
static bool grow(struct series *s)
{
	int ncap = s->cap ? 2 * s->cap : 4;
	double *b;

	if (ncap > SERIES_CAP)
		ncap = SERIES_CAP;
	b = malloc(2 * (size_t)ncap * sizeof(*b));
	if (!b)
		return false;
	for (int i = 0; i < s->len; i++) {
		b[i] = s->t[IDX(s, i)];
		b[ncap + i] = s->y[IDX(s, i)];
	}
	free(s->t);
	s->t = b;
	s->y = b + ncap;
	s->head = 0;
	s->cap = ncap;
	return true;
}

double series_span(const struct series *s)
{
	if (s->len < 2)
		return 0;
	return s->t[IDX(s, s->len - 1)] - s->t[s->head];
}

void series_push(struct series *s, double t, double y, double window)
{
	/* drop what fell out of the window, but keep the newest, whatever its
	 * age: with a refresh interval longer than the window (-i 120, the
	 * default --window 60) every sample fell out before the next came,
	 * the series never held two, and growth_per_min stayed 0 (so LEAK
	 * and CHURN could never fire). Now the slope spans one interval. */
	while (s->len > 1 && t - s->t[s->head] > window) {
		s->head = (s->head + 1) % s->cap;
		s->len--;
	}
	if (s->len >= 2) {
		int last = IDX(s, s->len - 1), prev = IDX(s, s->len - 2);

		/* thin out: samples closer than window/CAP overwrite the last */
		if (t - s->t[prev] < window / SERIES_CAP) {
			s->t[last] = t;
			s->y[last] = y;
			return;
		}
	}
	if (s->len == s->cap && (s->cap == SERIES_CAP || !grow(s))) {
		if (!s->cap)
			return; /* no memory for even one sample */
		s->head = (s->head + 1) % s->cap;
		s->len--;
	}
	s->t[IDX(s, s->len)] = t;
	s->y[IDX(s, s->len)] = y;
	s->len++;
}

double series_slope_range_per_min(const struct series *s, double from, double to, int *n)
{
	double mt = 0, my = 0, sxx = 0, sxy = 0;

	*n = 0;
	for (int i = 0; i < s->len; i++) {
		double t = s->t[IDX(s, i)];

		if (t >= from && t <= to) {
			mt += t;
			my += s->y[IDX(s, i)];
			(*n)++;
		}
	}
	if (*n < 2)
		return 0;
	mt /= *n;
	my /= *n;
	for (int i = 0; i < s->len; i++) {
		double t = s->t[IDX(s, i)], dt = t - mt;

		if (t < from || t > to)
			continue;
		sxx += dt * dt;
		sxy += dt * (s->y[IDX(s, i)] - my);
	}
	if (sxx < 1e-12)
		return 0;
	return sxy / sxx * 60.0;
}

double series_slope_per_min(const struct series *s)
{
	int n;

	if (s->len < 2)
		return 0;
	return series_slope_range_per_min(s, s->t[s->head], s->t[IDX(s, s->len - 1)], &n);
}
