/*
 * Vexil — verifying a data dir (`vexild --check`).
 *
 * Opens the LMDB environment read-only (no bootstrap, no sockets; a
 * running vexild may keep serving) and checks, in one read transaction,
 * every invariant the store keeps (docs/storage.md): each record decodes
 * and agrees with its key, each secondary index (project names, flag ids,
 * API and SDK key hashes, user emails) and its primary records point at
 * each other both ways, sequences are ahead of every id they handed out,
 * each project's change log runs without a gap and ends at the project's
 * revision, flags only refer to their project's environments and their
 * own variants, and each environment's prerequisites name flags of the
 * same project (and variants those have) with no cycle and within the
 * engine's bounds (model/prereq.h), and rules name segments of their
 * flag's project.
 */
#ifndef VX_STORE_CHECK_H
#define VX_STORE_CHECK_H

#include <stdio.h>

#include "common/common.h"

/*
 * Checks the data dir `dir`, printing one line per check made and one
 * "problem: ..." line per problem found to out.
 * @param[out] problems  how many problems were found.
 * @return 0 when the check ran (problems may be > 0), VX_EIO when the
 *         environment cannot be opened or read (the reason is printed).
 */
int vx_store_check(const char *dir, FILE *out, unsigned long *problems) VX_MUST_USE;

#endif
