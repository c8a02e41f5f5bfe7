/*
 * Vexil — what a flag write changed, in words, for the audit log.
 *
 * flag_write() takes a summary of the flag before its operation and after
 * it, and the audit entry of the write carries their difference
 * (AuditEntry.detail), so the log says "production.enabled: off → on", not
 * only "FlagService/SetFlagEnabled". The summary is one "field: value"
 * line per thing a person edits: name, description, tags, variants and,
 * per environment, its state, rollout, served variants, rules ("if email
 * ends_with @example.com then on (20%)", in order) and prerequisites.
 */
#ifndef VX_FLAGDIFF_H
#define VX_FLAGDIFF_H

#include "common/arena.h"
#include "vexil/v1/model.pb-c.h"

/* f's summary, in a. NULL only when a is out of memory. */
char *vx_flag_summary(vx_arena *a, const Vexil__V1__Flag *f);

/*
 * The lines of after whose value differs from before's line of the same
 * field, as "field: old → new" (a field only on one side shows "(none)" on
 * the other), in a; "" when nothing differs. At most 4 KiB: longer values
 * are cut with "…". NULL only when a is out of memory.
 */
char *vx_flag_diff(vx_arena *a, const char *before, const char *after);

#endif
