/*
 * libvexil — error codes (public, installed as <vexil/errors.h>).
 *
 * Every function of libvexil, and every component of Vexil, returns 0 or
 * one of these negative codes and hands results back through
 * out-parameters. This header needs nothing but the C library: vexild's
 * own code (common/common.h) includes it, so the codes a program linking
 * libvexil sees are the ones Vexil uses inside.
 */
#ifndef VEXIL_ERRORS_H
#define VEXIL_ERRORS_H

#pragma GCC visibility push(default)

/* A result that must be checked (gcc and clang warn when it is not). */
#define VX_MUST_USE __attribute__((warn_unused_result))

enum {
	VX_OK = 0,
	VX_EINVAL = -1, /* bad argument or malformed input */
	VX_ENOTFOUND = -2,
	VX_EEXIST = -3,
	VX_ENOMEM = -4,
	VX_EFULL = -5, /* storage at its configured cap */
	VX_EIO = -6,   /* storage or system error */
	VX_EAUTH = -7, /* no or bad credential */
	VX_EPERM = -8, /* authenticated, not allowed */
	VX_ETIMEDOUT = -9,
	VX_ECLOSED = -10,
	VX_EPROTO = -11, /* malformed wire message */
	VX_ESTATE = -12, /* failed precondition */
	VX_EINTERNAL = -13,
	VX_ESTALE = -14,   /* a write's if_revision precondition failed */
	VX_ENOSPC = -15,   /* no space left on the device holding the data dir */
	VX_EUNAVAIL = -16, /* storage refuses writes: read-only, removed or failed */
};

/* A short, static description of a VX_E* code ("not found", ...). */
const char *vx_strerror(int err);

#pragma GCC visibility pop

#endif
