/*
 * Vexil gateway — how the core's ids and times look in JSON.
 *
 * The core numbers entities with uint64 ids and keeps times as unix
 * milliseconds. REST documents show UUIDs and RFC 3339 times, so the
 * gateway renders ids as UUID-shaped strings that carry the id itself,
 * reversibly and without any table:
 *
 *     KKKKKKKK-HHHH-4000-8000-LLLLLLLLLLLL
 *
 * K is the kind of entity (so a project id pasted where a flag id belongs
 * is simply not found), H the id's top 16 bits and L its low 48 bits. The
 * fixed "4000-8000" groups make the string a syntactically valid RFC 4122
 * version-4 UUID, which is what clients that validate UUIDs check.
 */
#ifndef VX_GW_FORMAT_H
#define VX_GW_FORMAT_H

#include <stdint.h>

#include "common/common.h"

enum vx_gw_kind {
	VX_GW_KIND_USER = 1,
	VX_GW_KIND_PROJECT = 2,
	VX_GW_KIND_FLAG = 3,
	VX_GW_KIND_RULE = 4,
};

#define VX_GW_UUID_LEN 36

/* Writes the UUID form of (kind, id) into out (37 bytes, NUL-terminated). */
void vx_gw_uuid_format(char out[VX_GW_UUID_LEN + 1], enum vx_gw_kind kind, uint64_t id);

/*
 * Parses a UUID made by vx_gw_uuid_format() for this kind. Hex digits may
 * be in either case.
 * @return 0 with *id set (never 0); VX_EINVAL when s is not such a UUID,
 *         is one of another kind, or names id 0.
 */
int vx_gw_uuid_parse(const char *s, enum vx_gw_kind kind, uint64_t *id) VX_MUST_USE;

/*
 * An id in any form a dialect prints for an entity of this kind: the UUID
 * form above (the flag-service API), "<prefix>-<id>" with prefix "proj",
 * "flag" or "rule" (the platform API; users have none), or the bare
 * decimal id (the table API's ids, the core's own). Digits have no sign
 * and no leading zero.
 * @return 0 with *id set (never 0); VX_EINVAL for anything else.
 */
int vx_gw_id_parse(const char *s, enum vx_gw_kind kind, uint64_t *id) VX_MUST_USE;

/* Writes unix_ms as RFC 3339 UTC with whole seconds, 2024-12-14T10:00:00Z
 * (21 bytes with the NUL; out has room for 32). */
void vx_gw_time_format(char out[32], int64_t unix_ms);

#endif
