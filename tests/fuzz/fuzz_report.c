// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_report.c - libFuzzer target: any bytes as a capture given to
 * `rcleak report`, in each of its modes (summary, --json, --csv, --at, the
 * replay's --json and --plain): the reader, the replay through the model,
 * the peaks, the joins and the views, as the command runs them. fuzz_capture
 * stops at the records; a wall clock of 1e17 s in a tick crashed the views
 * here once. capmut.c's mutator makes files whose checksums hold.
 *
 * The input goes to a file (report opens paths); output to /dev/null.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opts.h"
#include "record_cmd.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int fd = -1;

static void check(int ok)
{
	if (!ok)
		__builtin_trap();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/tmp/rcleak-fuzz-report-%d.rcl", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	check(fd >= 0);
	/* the views print a lot; libFuzzer's own lines go to stderr */
	check(freopen("/dev/null", "w", stdout) != NULL);
	return 0;
}

static void report(const char *a, const char *b, const char *c)
{
	char *argv[] = { "rcleak", "report", path, (char *)a, (char *)b, (char *)c, NULL };
	int argc = 3 + !!a + !!b + !!c;
	struct rcl_opts o;
	char err[256];
	int rc;

	check(opts_parse(&o, argc, argv, err, sizeof(err)) == 0);
	if (o.replay)
		o.speed = 1e12; /* no pauses between ticks */
	rc = cmd_report(&o);
	/* 0, or what the README's table says report exits with */
	check(rc == 0 || rc == 1 || rc == 6);
	fflush(stdout);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(ftruncate(fd, 0) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size);
	report(NULL, NULL, NULL);
	report("--json", NULL, NULL);
	report("--csv", NULL, NULL);
	report("--at", "+2s", NULL);
	report("--replay", "--json", NULL);
	report("--replay", "--plain", NULL);
	return 0;
}
