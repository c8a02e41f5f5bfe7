/*
 * Vexil — AdminService: operations on the whole data dir.
 */
#include "server/server.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/*
 * The directory a backup goes into must exist (a directory backup creates
 * only its last component): say which one is missing rather than let the
 * copy fail with an I/O error. Returns 0, or errno with dir set.
 */
static int
parent_missing(const char *path, char *dir, size_t cap)
{
	struct stat sb;
	char *slash;

	snprintf(dir, cap, "%s", path);
	while ((slash = strrchr(dir, '/')) != NULL && slash[1] == '\0' && slash != dir)
		*slash = '\0'; /* "/a/b/" names b */
	if ((slash = strrchr(dir, '/')) == NULL)
		return 0;
	slash[slash == dir ? 1 : 0] = '\0';
	if (stat(dir, &sb) != 0)
		return errno;
	return S_ISDIR(sb.st_mode) ? 0 : ENOTDIR;
}

static void
backup(Vexil__V1__AdminService_Service *svc, const Vexil__V1__BackupRequest *in,
    Vexil__V1__BackupReply_Closure closure, void *closure_data)
{
	vx_call *c = closure_data;
	Vexil__V1__BackupReply *out = NULL;
	uint64_t bytes = 0;
	char dir[4096];
	int rc, err;

	(void)svc;
	if ((rc = vx_auth_check(&c->who, 0, 0, VEXIL__V1__ROLE__ROLE_ADMIN)) != 0 ||
	    c->who.kind != VX_PRINCIPAL_APIKEY) {
		rc = vx_fail(c, VX_EPERM, NULL, NULL, "backups need a global admin key");
		goto out;
	}
	if (in->path[0] != '/' || (rc = vx_check_text(c, "path", in->path, 2, 4000)) != 0) {
		if (rc == 0)
			rc = vx_fail(c, VX_EINVAL, "path", "absolute", "path must be absolute");
		goto out;
	}
	if ((err = parent_missing(in->path, dir, sizeof(dir))) != 0) {
		rc = vx_fail(c, VX_EINVAL, "path", "parent",
		    "cannot write a backup to %s: %s %s", in->path, dir,
		    err == ENOENT    ? "does not exist on vexild's host"
		    : err == ENOTDIR ? "is not a directory"
		                     : strerror(err));
		goto out;
	}
	if (!vx_store_backup_is_file(in->path) && mkdir(in->path, 0700) != 0 &&
	    errno != EEXIST) {
		rc = vx_fail(c, VX_EINVAL, "path", NULL, "cannot create %s: %s", in->path,
		    strerror(errno));
		goto out;
	}
	/* The copy reads through its own transaction; ours is not needed. */
	vx_store_reader_release(c->reader);
	rc = vx_store_backup(c->store, in->path, &bytes);
	if (rc == VX_EEXIST) {
		rc = vx_fail(c, rc, "path", "empty", "%s %s", in->path,
		    vx_store_backup_is_file(in->path) ? "already exists"
						      : "already holds a data.mdb");
		goto out;
	}
	if (rc == VX_EIO) {
		rc = vx_fail(c, rc, "path", NULL, "cannot write a backup to %s (vexild's log "
		    "says why)", in->path);
		goto out;
	}
	if (rc != 0 || (out = vx_arena_alloc(c->arena, sizeof(*out))) == NULL) {
		rc = rc ? rc : VX_ENOMEM;
		goto out;
	}
	vexil__v1__backup_reply__init(out);
	out->path = in->path;
	out->bytes = bytes;
	vx_log(VX_LOG_INFO, "backup written to %s (%llu bytes)", in->path,
	    (unsigned long long)bytes);
out:
	VX_REPLY(c, rc, out);
}

Vexil__V1__AdminService_Service vx_admin_service = {
    VEXIL__V1__ADMIN_SERVICE__BASE_INIT, backup, vx_admin_import, vx_admin_export};
