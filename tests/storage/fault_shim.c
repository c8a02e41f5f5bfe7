/*
 * Vexil tests — an LD_PRELOAD shim that makes syncing fail on demand.
 *
 * Loaded into vexild by test_storage.c. While the file named by
 * $VX_FAULT_FILE exists, fsync, fdatasync and msync fail with EIO without
 * syncing, the way a disk that reports a write-back error makes them fail;
 * otherwise they call the real functions. LMDB syncs the data file with
 * fdatasync before it writes the meta page, so a commit whose sync fails
 * returns EIO and is never made durable.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Declared here: the shim is built without the project's headers. */
int fsync(int fd);
int fdatasync(int fd);
int msync(void *addr, size_t len, int flags);

static int
failing(void)
{
	const char *f = getenv("VX_FAULT_FILE");

	return f != NULL && *f != '\0' && access(f, F_OK) == 0;
}

int
fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	if (failing()) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int
fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	if (failing()) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int
msync(void *addr, size_t len, int flags)
{
	int (*real)(void *, size_t, int) =
	    (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");

	if (failing()) {
		errno = EIO;
		return -1;
	}
	return real(addr, len, flags);
}
