/*
 * Vexil — project files in and out: Vexil's own JSON, Unleash's feature
 * export and flagd's flag definitions (docs/migrate.md).
 *
 * A reader turns a file into an ImportRequest for AdminService/Import; a
 * writer turns an ExportReply from AdminService/Export into a file. Neither
 * does I/O or talks to vexild, so vexilctl, the gateway and the tests share
 * them. What a reader cannot express in the model it does not approximate:
 * it adds a line to the report naming the flag and the construct, and the
 * caller refuses the import when the report has any.
 */
#ifndef VX_MIGRATE_H
#define VX_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/common.h"
#include "vexil/v1/migrate.pb-c.h"

/* What a conversion could not express: one line per flag and construct. */
typedef struct vx_mig_report vx_mig_report;
struct vx_mig_report {
	char **lines; /* malloc'd, each malloc'd */
	size_t n;
};

void vx_mig_report_fini(vx_mig_report *r);
/* Adds a line ("flag KEY: what"); returns VX_ENOMEM or 0. */
int vx_mig_report_add(vx_mig_report *r, const char *fmt, ...) VX_PRINTF(2, 3);

/*
 * For the readers: a JSON literal as a condition value (a string as it is,
 * true/false, a number as JavaScript prints it: 42, 1.5), or NULL for
 * anything else.
 */
cJSON *vx_mig_json_text(const cJSON *v);
/* The ImportRequest of a file in the vexil file's shape (vx_json_to_pb). */
int vx_mig_request(
    const cJSON *file, Vexil__V1__ImportRequest **out, char *err, size_t cap) VX_MUST_USE;
/* A condition in the vexil file's shape; takes values. */
cJSON *vx_mig_condition(
    const char *attr, const char *op, cJSON *values, bool negate, bool missing, bool ci);

/*
 * Vexil's format: the JSON of a project's environments, segments and flags
 * without what the server owns (ids, timestamps, actors), in the order
 * Export gives them, so export -> import -> export is byte for byte the
 * same file.
 * @param[out] out  freed with protobuf_c_message_free_unpacked(out, NULL).
 * @param err       why the file is not one, naming the field.
 * @return 0, VX_EINVAL (err set), VX_ENOMEM.
 */
int vx_mig_vexil_read(const char *text, size_t len, Vexil__V1__ImportRequest **out,
    char *err, size_t cap) VX_MUST_USE;
/* The file, malloc'd and NUL-terminated, ending in a newline; NULL when out
 * of memory. */
char *vx_mig_vexil_write(const Vexil__V1__ExportReply *in);

/*
 * Unleash's feature export (features, featureStrategies,
 * featureEnvironments, segments, dependencies, featureTags; one
 * environment's) into environment env of the project. Constructs Vexil
 * cannot express add lines to rep (the flag's other constructs are still
 * read): the caller refuses the import when rep->n > 0.
 * @return 0, VX_EINVAL when text is not such a file (err says why),
 *         VX_ENOMEM.
 */
int vx_mig_unleash_read(const char *text, size_t len, const char *env,
    Vexil__V1__ImportRequest **out, vx_mig_report *rep, char *err,
    size_t cap) VX_MUST_USE;
/*
 * A project's environment env as an Unleash feature export for project
 * `project`. What Unleash cannot express adds lines to rep; the file is
 * still written with the other flags (the caller decides).
 * @return the file (malloc'd), or NULL when out of memory.
 */
char *vx_mig_unleash_write(const Vexil__V1__ExportReply *in, const char *env,
    const char *project, vx_mig_report *rep);

/*
 * The same environment as Unleash's client API serves it to server-side
 * SDKs (GET /api/client/features, version 2: features with their
 * strategies, variants and dependencies, and segments), only the flags
 * whose key starts with name_prefix (NULL: all). Flags Unleash cannot
 * express are left out and added to rep. Returns the JSON (malloc'd) or
 * NULL when out of memory.
 */
char *vx_mig_unleash_client(const Vexil__V1__ExportReply *in, const char *env,
    const char *project, const char *name_prefix, uint64_t revision, vx_mig_report *rep);

/*
 * A variant's value (JSON text) as an Unleash variant payload: {"type":
 * "string", "value": the text} for a JSON string, else "number" or "json"
 * with the JSON text as value. The caller owns the object (NULL when out
 * of memory).
 */
cJSON *vx_mig_unleash_payload(const char *value);
/* f's variant with this key (borrowed from f), or NULL. */
const Vexil__V1__Variant *vx_mig_flag_variant(const Vexil__V1__Flag *f, const char *key);

/*
 * flagd's flag definitions (flags with state, variants, defaultVariant,
 * targeting in JSON Logic, metadata; $evaluators) into environment env.
 * Reporting as vx_mig_unleash_read().
 */
int vx_mig_flagd_read(const char *text, size_t len, const char *env,
    Vexil__V1__ImportRequest **out, vx_mig_report *rep, char *err,
    size_t cap) VX_MUST_USE;
/* Environment env as flagd's definitions (segments as $evaluators);
 * reporting as vx_mig_unleash_write(). */
char *vx_mig_flagd_write(
    const Vexil__V1__ExportReply *in, const char *env, vx_mig_report *rep);

#endif
