/*
 * Vexil — protobuf messages as JSON, driven by their descriptors.
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

#endif
