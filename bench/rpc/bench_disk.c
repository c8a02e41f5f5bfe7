/*
 * bench_disk — the floor under durable writes: how many flushes per second
 * the device holding vexild's data dir takes (issue 17).
 *
 * In a file of its own under --dir (default: a temp dir under /tmp, where
 * bench_writes puts vexild's data dir), for --seconds each, it times three
 * loops of what an LMDB commit does to the disk, one page a write:
 *
 *  - flush: pwrite one page, fdatasync (one flush of the device);
 *  - lmdb: pwrite a data page, fdatasync, then pwrite a meta page through
 *    an O_DSYNC descriptor: LMDB's default commit, two flushes;
 *  - one-flush: pwrite a data page and the meta page left by the previous
 *    round, fdatasync: a commit with MDB_NOMETASYNC, whose flush
 *    also makes the previous commit's meta page durable.
 *
 * Commits per second here bound vexild's commits per second, and writes
 * per second are at most that times the writes per commit (bench_writes
 * prints both). It writes over pages it allocated first, as LMDB reuses
 * its free pages, and removes its file. No thresholds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

#define PAGE 4096
#define PAGES 64

enum loop { FLUSH, LMDB, ONE_FLUSH, LOOPS };
static const char *const loop_names[LOOPS] = {"flush", "lmdb", "one-flush"};

/* Runs one loop for secs; returns its rounds per second, or -1. */
static double
run_loop(enum loop l, int fd, int dsync_fd, double secs)
{
	static char page[PAGE];
	uint64_t t0 = bench_now_ns(), t1 = t0, n = 0;
	off_t data;

	memset(page, 0xa5, sizeof(page));
	while (!bench_interrupted && (double)(t1 - t0) < secs * 1e9) {
		/* Pages 2.. are data, 0 and 1 the meta pages, as in LMDB. */
		data = (off_t)(2 + n % (PAGES - 2)) * PAGE;
		if (pwrite(fd, page, PAGE, data) != PAGE)
			return -1;
		if (l == ONE_FLUSH &&
		    pwrite(fd, page, PAGE, (off_t)(n & 1) * PAGE) != PAGE)
			return -1;
		if (fdatasync(fd) != 0)
			return -1;
		if (l == LMDB &&
		    pwrite(dsync_fd, page, PAGE, (off_t)(n & 1) * PAGE) != PAGE)
			return -1;
		n++;
		t1 = bench_now_ns();
	}
	return (double)n / ((double)(t1 - t0) / 1e9);
}

int
main(int argc, char **argv)
{
	char root[32] = "", path[4200], page[PAGE];
	const char *dir = NULL;
	double secs = 2, rate[LOOPS];
	int fd = -1, dsync_fd = -1, rc = 1;

	bench_init("bench_disk");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			if (bench_parse_seconds(argv[i], argv[i + 1], 0.1, &secs) != 0)
				return 2;
			i++;
		} else {
			fprintf(strcmp(argv[i], "--help") == 0 ? stdout : stderr,
			    "usage: bench_disk [--dir DIR] [--seconds S]\n"
			    "  --dir DIR      where to write (default: a temp dir under "
			    "/tmp)\n"
			    "  --seconds S    time per loop (default 2)\n");
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	if (dir == NULL) {
		if (bench_make_root(root, sizeof(root)) != 0)
			return 1;
		dir = root;
	}
	snprintf(path, sizeof(path), "%s/bench-disk.%d", dir, (int)getpid());
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    (dsync_fd = open(path, O_WRONLY | O_DSYNC | O_CLOEXEC)) < 0) {
		fprintf(stderr, "%s: %s: %s\n", bench_prog, path, strerror(errno));
		goto out;
	}
	memset(page, 0, sizeof(page));
	for (int i = 0; i < PAGES; i++)
		if (pwrite(fd, page, PAGE, (off_t)i * PAGE) != PAGE)
			goto io;
	if (fsync(fd) != 0)
		goto io;
	for (int l = 0; l < LOOPS; l++)
		if ((rate[l] = run_loop((enum loop)l, fd, dsync_fd, secs)) < 0)
			goto io;
	if (bench_interrupted)
		goto out;
	printf("bench_disk: %s, %g s per loop\n", dir, secs);
	printf("%-10s %12s %10s\n", "loop", "commits/s", "us/commit");
	for (int l = 0; l < LOOPS; l++)
		printf("%-10s %12.0f %10.0f\n", loop_names[l], rate[l],
		    rate[l] > 0 ? 1e6 / rate[l] : 0);
	rc = 0;
	goto out;
io:
	fprintf(stderr, "%s: %s: %s\n", bench_prog, path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (dsync_fd >= 0)
		close(dsync_fd);
	unlink(path);
	if (root[0])
		bench_remove_tree(root);
	return rc;
}
