/* SPDX-License-Identifier: GPL-2.0 */
/*
 * capture.h - rcleak capture files: the container. Typed, length-prefixed
 * records in independent zlib-compressed, CRC32-checked chunks after a
 * versioned header. A file cut short (crash, full disk) reads up to its last
 * whole chunk; a damaged chunk is skipped and reading resumes at the next
 * one. The reader treats every byte as hostile. What the records mean is
 * not this module's business (see record.h).
 */
#ifndef RCLEAK_CAPTURE_H
#define RCLEAK_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define CAPTURE_MAX_PORTS 64
#define CAPTURE_MAX_RECORD (1u << 20) /* a record's payload, at most */

/* What the header says about where and when the capture was made. */
struct capture_info {
	char version[32];      /* rcleak version that wrote it */
	char host[64];
	char kernel[64];       /* uname -r */
	char boot_id[40];      /* /proc/sys/kernel/random/boot_id */
	__u16 ports[CAPTURE_MAX_PORTS];
	int nports;
	double wall_start;     /* Unix seconds at start */
	__u64 mono_start_ns;   /* CLOCK_MONOTONIC at start, as BPF reads it (kclock.h) */
	/* an event's time is at most this much before its real time, never
	 * after (one kernel tick: clock.bpf.h, "event times"); 0 for files
	 * before minor 7, whose events read the clock each */
	__u32 ev_res_ns;
	/* what the recorder's live lines showed (--pid, --comm; minor 12):
	 * the file holds every process, and a report shows these unless
	 * told otherwise. 0 and "": none */
	int sel_pid;
	char sel_comm[16];
	unsigned int minor;    /* the file's format minor version (read; never written) */
};

/* ---- writing ------------------------------------------------------------ */

struct capture_writer;

#define CAPTURE_FORCE 1 /* replace an existing regular file (never a symlink) */

/* Would capture_writer_open(path, flags) refuse path as it stands now? The
 * same checks and messages, without creating anything: for a recorder to
 * fail before it loads its BPF programs and walks the host. 0 or -errno,
 * with a one-line reason in err. */
int capture_writer_check(const char *path, int flags, char *err, size_t errlen);

/* Create path (0600, O_EXCL|O_NOFOLLOW unless CAPTURE_FORCE, which still
 * refuses symlinks and non-regular files) and write the header. The writer
 * holds an exclusive flock on the file until capture_writer_close: under
 * CAPTURE_FORCE a file another writer holds is refused (-EBUSY). Returns 0
 * or -errno with a one-line reason in err. */
int capture_writer_open(struct capture_writer **w, const char *path,
			const struct capture_info *info, int flags, char *err, size_t errlen);

/* Records of type begin open a unit that a record of type end closes (a
 * refresh: REC_TICK .. REC_TICK_END, which at 8,000 fds spans chunks). A
 * unit starts a chunk, and a write error cuts the file back to the end of
 * the last whole unit: without units, to the last whole chunk, which may
 * end inside one. */
void capture_writer_units(struct capture_writer *w, __u16 begin, __u16 end);

/* Append one record to the current chunk; the chunk is written when it
 * reaches its size limit. ts_ns is CLOCK_MONOTONIC. Returns 0 or -errno (the
 * file stays valid up to the last chunk written, or unit with
 * capture_writer_units; further appends fail). */
int capture_append(struct capture_writer *w, __u16 type, __u64 ts_ns,
		   const void *data, __u32 len);

/* Write the current chunk now (e.g. once per second, and before exit). */
int capture_flush(struct capture_writer *w);
/* capture_flush, then fdatasync: on the disk, for evidence that must outlive
 * the host (a flight recorder's trigger). */
int capture_sync(struct capture_writer *w);

/* Where the file ends, for capture_rewind. The writer holds no record not
 * yet written (after capture_flush), else -EINVAL. */
struct capture_pos {
	__u64 off;
	__u32 seq;
};
int capture_tell(const struct capture_writer *w, struct capture_pos *p);
/* Back to p, as if nothing had been appended since: the file is cut there
 * and a full disk's error (ENOSPC, EDQUOT) forgotten, so that the writer
 * can try again once there is room. Any other error stays (the file is no
 * longer ours, a file size limit): returned. 0 or -errno. */
int capture_rewind(struct capture_writer *w, const struct capture_pos *p);
/* Bytes free to an unprivileged writer on the file's file system: 0 or
 * -errno. */
int capture_room(const struct capture_writer *w, __u64 *bytes);

/* Flush and close. Returns 0 or the first error seen (-errno). Frees w. */
int capture_writer_close(struct capture_writer *w);

/* A writer's errors beyond errno's, found before each chunk is written:
 * the file was deleted (no name left: nothing written could reach anyone),
 * or cut short by another program (logrotate's copytruncate; writing on at
 * the old end would leave the file a hole where its header was). */
#define CAPTURE_EDELETED   (-10001)
#define CAPTURE_ETRUNCATED (-10002)

/* The same check without a chunk to write: 0, or CAPTURE_E* or -errno
 * (sticky, as a write error). For a writer that writes nothing for long (a flight
 * recorder waiting for its trigger), which learnt it only when the ring,
 * all the evidence, had nowhere to go. */
int capture_check(struct capture_writer *w);

/* Bytes written to the file so far. */
__u64 capture_bytes(const struct capture_writer *w);

/* ---- reading ------------------------------------------------------------ */

/* A Unix time a capture may hold (its start, a tick's wall clock): finite,
 * from 1970 to the year 5138. Every byte of a file is hostile, and beyond
 * that localtime() fails. */
static inline bool capture_wall_ok(double t)
{
	return t >= 0 && t < 1e11; /* false for NaN too */
}

struct capture_reader;

struct capture_record {
	__u16 type;
	__u64 ts_ns;
	const void *data;   /* valid until the next capture_next() */
	__u32 len;
};

/* Open a file, or a memory buffer (for the fuzzer and tests). Returns 0, or
 * with a reason in err that starts with the file's name ("capture" for a
 * buffer; print it as it is):
 *   -EBADMSG  a capture (its magic) whose header is cut short or damaged:
 *             nothing in it can be read
 *   -EINVAL   not a capture: empty, no magic, not a regular file, or a
 *             major version this reader does not know
 *   -errno    it could not be opened or read */
int capture_reader_open(struct capture_reader **r, const char *path,
			struct capture_info *info, char *err, size_t errlen);
/* The capture on an open regular file fd (report's standard input,
 * spooled), read through a duplicate of it: the caller keeps fd. name
 * stands for the path in messages. */
int capture_reader_open_fd(struct capture_reader **r, int fd, const char *name,
			   struct capture_info *info, char *err, size_t errlen);
int capture_reader_open_mem(struct capture_reader **r, const void *buf, size_t len,
			    struct capture_info *info, char *err, size_t errlen);

/* Next record: 1 and *rec filled, 0 at the end, -errno on an I/O error.
 * Damage is not an error: bad chunks are skipped and reported through
 * capture_warnings(). */
int capture_next(struct capture_reader *r, struct capture_record *rec);

/* After reading: how many chunks were skipped as damaged, whether the file
 * ended inside a chunk (truncated), and at which byte offset. */
struct capture_damage {
	unsigned long chunks_ok;
	unsigned long chunks_bad;   /* bad CRC, bad zlib stream, lying lengths */
	bool truncated;             /* ended inside a chunk or header */
	__u64 truncated_at;         /* byte offset where the last whole chunk ended */
};
void capture_damage(const struct capture_reader *r, struct capture_damage *d);

void capture_reader_close(struct capture_reader *r);

#endif
