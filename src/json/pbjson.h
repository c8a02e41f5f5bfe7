/*
 * Vexil — protobuf messages as JSON and back, driven by their descriptors.
 *
 * vexilctl's --json output (and `watch`) print any model message without a
 * hand-written mapper: field names are the proto names, enums print as
 * their names without the type's prefix (FLAG_TYPE_BOOLEAN reads "boolean"),
 * timestamps (int64 milliseconds named at, time or *_at) as RFC 3339 UTC
 * strings or null when unset, maps as objects, other 64-bit integers as
 * numbers, bytes as hex.
 * Fields with no value set are printed too, so the shape is stable.
 */
#ifndef VX_PBJSON_H
#define VX_PBJSON_H

#include <cjson/cJSON.h>
#include <protobuf-c/protobuf-c.h>

/* Builds the JSON form of m; the caller frees it with cJSON_Delete().
 * Returns NULL when out of memory. */
cJSON *vx_pb_to_json(const ProtobufCMessage *m);

/*
 * The reverse, for files people write (vexilctl import): fills a new
 * message of type d from obj, which must be a JSON object. Field names are
 * the proto names; enums by their short lower-case name ("boolean") or
 * their full name; integers must be integral and in range; maps are
 * objects of strings; null leaves a field unset. Timestamps (a number of
 * milliseconds, or any string, which is ignored) are accepted because
 * the server owns them. Bytes fields are refused.
 * @param[out] out  the message, freed with protobuf_c_message_free_unpacked
 *                  (out, NULL).
 * @param err       on failure, says which field (its path, as
 *                  "flags[2].variants[0].key") and why.
 * @return 0, VX_EINVAL (err set) or VX_ENOMEM.
 */
int vx_json_to_pb(const ProtobufCMessageDescriptor *d, const cJSON *obj,
    ProtobufCMessage **out, char *err, size_t cap);

#endif
