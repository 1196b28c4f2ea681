// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_events.c - libFuzzer target: any bytes as the payload of an event
 * batch (REC_EVENTS, user/evbatch.h). Decodes every event, then checks the
 * events it accepted against the encoder: encoding them again and decoding
 * that must give exactly the same events (the decoder never makes up a
 * value the format cannot hold), but for the nanoseconds of a version 1
 * or 2 batch, which the encoder (version 3) cuts to the microsecond. Seeds: gen_corpus DIR EVDIR. Build and
 * run: see `make fuzz`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evbatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct evb_dec dec, dec2;
static struct evb_enc enc;
static struct rcl_event ev[65536];

static void check(int ok)
{
	if (!ok)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;
	int rc;

	if (evb_dec_init(&dec, data, size, 1000))
		return 0;
	while ((rc = evb_dec_next(&dec, &ev[n])) == 1) {
		check(ev[n].kind <= RCL_EV_LISTEN);
		check(memchr(ev[n].comm, 0, sizeof(ev[n].comm)) != NULL);
		check(dec.off <= size);
		n++;
	}
	check(n <= dec.n);
	check(evb_dec_next(&dec, &ev[n]) == 0);

	/* every batch the encoder makes of them decodes to the same events */
	evb_reset(&enc);
	for (size_t i = 0, first = 0; i <= n; i++) {
		struct rcl_event e;

		if (i < n && evb_add(&enc, &ev[i]))
			continue;
		check(evb_dec_init(&dec2, enc.buf, enc.len, enc.ts0) == 0);
		for (size_t j = first; j < first + enc.n; j++) {
			struct rcl_event want = ev[j];

			/* the encoder writes microseconds (version 3): the
			 * nanoseconds of a version 1 or 2 batch are cut */
			if (dec.version < EVB_VERSION)
				want.ts_ns = want.ts_ns / 1000 * 1000;
			check(evb_dec_next(&dec2, &e) == 1);
			check(!memcmp(&e, &want, sizeof(e)));
		}
		check(evb_dec_next(&dec2, &e) == 0);
		first += enc.n;
		evb_reset(&enc);
		if (i < n) /* did not fit: it starts the next batch */
			check(evb_add(&enc, &ev[i]));
	}
	return 0;
}
