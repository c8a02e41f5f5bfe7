/*
 * Vexil tests — an LD_PRELOAD shim that makes syncing fail on demand.
 *
 * Loaded into vexild by test_storage.c. While the file named by
 * $VX_FAULT_FILE exists, fsync, fdatasync and msync fail with EIO without
 * syncing, the way a disk that reports a write-back error makes them fail;
 * otherwise they call the real functions. LMDB syncs the data file with
 * fdatasync before it writes the meta page, so a commit whose sync fails
 * returns EIO and is never made durable.
 *
 * While the file named by $VX_NOSPACE_FILE exists, pwrite and writev to a
 * regular file fail with ENOSPC, as on a full device (LMDB writes its
 * pages with them), so a full disk can be tested without mount(2).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Declared here: the shim is built without the project's headers. */
int fsync(int fd);
int fdatasync(int fd);
int msync(void *addr, size_t len, int flags);
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t writev(int fd, const struct iovec *iov, int cnt);

/* True while the file named by the environment variable var exists. */
static int
armed(const char *var)
{
	const char *f = getenv(var);

	return f != NULL && *f != '\0' && access(f, F_OK) == 0;
}

static int
failing(void)
{
	return armed("VX_FAULT_FILE");
}

/* A write to a regular file while $VX_NOSPACE_FILE exists. */
static int
no_space(int fd)
{
	struct stat sb;

	return armed("VX_NOSPACE_FILE") && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t (*real)(int, const void *, size_t, off_t) =
	    (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");

	if (no_space(fd)) {
		errno = ENOSPC;
		return -1;
	}
	return real(fd, buf, n, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	ssize_t (*real)(int, const struct iovec *, int) =
	    (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");

	if (no_space(fd)) {
		errno = ENOSPC;
		return -1;
	}
	return real(fd, iov, cnt);
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
