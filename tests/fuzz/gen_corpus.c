// SPDX-License-Identifier: GPL-2.0
/*
 * gen_corpus.c - write the fuzzer's seed captures into DIR (made by the
 * build, not committed): what the writer makes, plus the damage the reader
 * must live with (a cut, a flipped byte, a newer minor version); with
 * EVDIR, the event-batch fuzzer's seeds too (payloads of REC_EVENTS).
 *
 *   gen_corpus DIR [EVDIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "capture.h"
#include "capture_fmt.h"
#include "evbatch.h"

static const char *dir;

__attribute__((noreturn)) static void die(const char *what, const char *why)
{
	fprintf(stderr, "gen_corpus: %s: %s\n", what, why);
	exit(1);
}

static struct capture_writer *start(const char *name)
{
	struct capture_info in = { .version = "seed", .host = "fuzz", .kernel = "6.1.0",
				   .boot_id = "00000000-0000-0000-0000-000000000000",
				   .ports = { 6379, 6380 }, .nports = 2,
				   .wall_start = 1700000000.5, .mono_start_ns = 42 };
	struct capture_writer *w;
	char path[4096], err[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (capture_writer_open(&w, path, &in, CAPTURE_FORCE, err, sizeof(err)))
		die(path, err);
	return w;
}

static void add(struct capture_writer *w, __u16 type, __u64 ts, const void *p, __u32 len)
{
	if (capture_append(w, type, ts, p, len))
		die("append", strerror(errno));
}

static void finish(struct capture_writer *w)
{
	if (capture_writer_close(w))
		die("close", "write failed");
}

static unsigned char *load(const char *name, size_t *len)
{
	char path[4096];
	struct stat st;
	unsigned char *b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) || !(b = malloc(st.st_size + 1)) ||
	    read(fd, b, st.st_size) != st.st_size)
		die(path, strerror(errno));
	close(fd);
	*len = st.st_size;
	return b;
}

static void save(const char *name, const unsigned char *b, size_t len)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, b, len) != (ssize_t)len || close(fd))
		die(path, strerror(errno));
}

/* Event batches: n kernel-like events over nsk sockets, IPv4 or IPv6. */
static void batch(const char *name, int n, int nsk, int family, size_t cut)
{
	static struct evb_enc b;
	static const char *const comms[] = { "redis-benchmark", "python3", "" };
	struct rcl_event e;

	evb_reset(&b);
	for (int i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		e.ts_ns = 5000000ull + (__u64)i * 7919 - (i % 5 == 4 ? 20000 : 0);
		e.sk = 0xffff888104000000ull + (__u64)(i * 7 % nsk) * 2304;
		e.tgid = 100 + (__u32)(i % 3);
		e.start_ns = 4242ull * e.tgid;
		e.kind = (__u8)(i % 7);
		e.oldstate = (__u8)(i % 13);
		e.newstate = (__u8)(i % 17 == 3 ? 20 : (i + 1) % 13);
		e.cur_tgid = i % 3 == 0 ? 0 : i % 3 == 1 ? e.tgid : 7;
		if (e.cur_tgid)
			memcpy(e.comm, comms[i % 3], strlen(comms[i % 3]));
		if (i % 2) {
			e.family = (__u8)family;
			/* a socket keeps its port in most events: repeated
			 * 4-tuples (head bit 7) are in the seeds too */
			e.lport = (__u16)(40000 + (i % 11 ? e.sk >> 8 & 0xfff : (__u64)i));
			e.rport = 6379;
			e.laddr[0] = 127, e.laddr[3] = 1, e.laddr[15] = family == 10;
			e.raddr[0] = 127, e.raddr[3] = (__u8)(1 + i % 2);
		}
		if (!evb_add(&b, &e))
			die(name, "batch full");
	}
	save(name, b.buf, cut && cut < b.len ? cut : b.len);
}

int main(int argc, char **argv)
{
	unsigned char buf[3000], *b;
	struct capture_writer *w;
	size_t len, hlen, c2;

	if (argc != 2 && argc != 3)
		die("usage", "gen_corpus DIR [EVDIR]");
	if (argc == 3) {
		dir = argv[2];
		batch("small.evb", 20, 6, 2, 0);
		batch("collide.evb", 700, 600, 2, 0);
		batch("v6.evb", 60, 20, 10, 0);
		batch("cut.evb", 20, 6, 2, 101);
	}
	dir = argv[1];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 ^ i >> 5);

	finish(start("empty.cap"));

	w = start("types.cap");
	add(w, 1, 100, "a", 1);
	add(w, 0xffff, 200, NULL, 0);
	add(w, 0x1234, 300, buf, 40);
	add(w, 2, 400, buf, 300);
	finish(w);

	/* three chunks */
	w = start("three.cap");
	for (int c = 0; c < 3; c++) {
		for (int i = 0; i < 6; i++)
			add(w, (__u16)(c + 1), c * 1000 + i, buf + i * 17, 20 + i * 31);
		capture_flush(w);
	}
	finish(w);

	/* a full 64 KiB chunk that compresses well, and a record after it */
	w = start("full.cap");
	memset(buf, 'z', sizeof(buf));
	for (int i = 0; i < 24; i++)
		add(w, 3, i, buf, sizeof(buf));
	finish(w);

	/* three.cap cut inside its last chunk; chunk 2 with a flipped byte;
	 * a newer minor with a header field nobody knows yet */
	b = load("three.cap", &len);
	hlen = CAP_HDR_FIXED + cap_get32(b + 12) + 4;
	save("cut.cap", b, len - 9);
	c2 = hlen + CAP_CHUNK_HDR + cap_get32(b + hlen + 12);
	b[c2 + CAP_CHUNK_HDR + 5] ^= 0x20;
	save("flipped.cap", b, len);
	b[c2 + CAP_CHUNK_HDR + 5] ^= 0x20;
	{
		unsigned char *n = malloc(len + 64);
		__u32 blen = cap_get32(b + 12);

		if (!n)
			die("malloc", strerror(ENOMEM));
		memcpy(n, b, CAP_HDR_FIXED + blen);
		cap_put16(n + 10, CAP_MINOR + 1);
		cap_put16(n + CAP_HDR_FIXED + blen, 300);    /* tag */
		cap_put16(n + CAP_HDR_FIXED + blen + 2, 4);  /* length */
		memcpy(n + CAP_HDR_FIXED + blen + 4, "new!", 4);
		cap_put32(n + 12, blen + 8);
		cap_put32(n + CAP_HDR_FIXED + blen + 8, (__u32)crc32(0, n, CAP_HDR_FIXED + blen + 8));
		memcpy(n + hlen + 8, b + hlen, len - hlen);
		save("newer-minor.cap", n, len + 8);

		/* a chunk with no records before the first one */
		uLongf zlen = 16;
		unsigned char *h = n + hlen;

		memcpy(n, b, hlen);
		memset(h, 0, CAP_CHUNK_HDR);
		memcpy(h, CAP_SYNC, CAP_SYNC_LEN);
		if (compress2(h + CAP_CHUNK_HDR, &zlen, (const Bytef *)"", 0, 9) != Z_OK || zlen > 16)
			die("compress2", "failed");
		cap_put32(h + 12, (__u32)zlen);
		cap_put32(h + 20, (__u32)crc32(0, h + CAP_CHUNK_HDR, zlen));
		cap_put32(h + 28, (__u32)crc32(0, h, 28));
		memcpy(h + CAP_CHUNK_HDR + zlen, b + hlen, len - hlen);
		save("empty-chunk.cap", n, len + CAP_CHUNK_HDR + zlen);
		free(n);
	}
	free(b);
	return 0;
}
