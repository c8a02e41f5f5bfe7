/*
 * Vexil fuzz target — vexild's request decode path.
 *
 * The input is one REQ message body as vexild receives it. It goes
 * through what server.c's serve() does before a handler runs: unpack the
 * Request envelope into a budgeted arena (the same budget a worker has),
 * find the method in a registry built from the generated service
 * descriptors, and unpack the payload with the method's input descriptor.
 * Then the decoded input must re-encode to a message that decodes again
 * to the same bytes, print as JSON (src/json, as vexilctl --json does),
 * and the reply envelope must build (vx_wire_reply). The text check
 * (wire/text.h) must be able to walk every payload that decodes.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "fuzz.h"
#include "vexil/v1/service.pb-c.h"
#include "wire/text.h"
#include "wire/wire.h"
#include "json/pbjson.h"

static const ProtobufCServiceDescriptor *const services[] = {
    &vexil__v1__project_service__descriptor,
    &vexil__v1__user_service__descriptor,
    &vexil__v1__environment_service__descriptor,
    &vexil__v1__flag_service__descriptor,
    &vexil__v1__rule_service__descriptor,
    &vexil__v1__key_service__descriptor,
    &vexil__v1__audit_service__descriptor,
    &vexil__v1__evaluation_service__descriptor,
    &vexil__v1__watch_service__descriptor,
    &vexil__v1__admin_service__descriptor,
    &vexil__v1__auth_service__descriptor,
};
#define N_SERVICES (sizeof(services) / sizeof(services[0]))

static ProtobufCService svc[N_SERVICES];
static vx_wire_registry *registry;
static vx_arena arena;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vx_log_set_level(VX_LOG_ERROR);
	if (vx_wire_registry_alloc(&registry) != 0)
		abort();
	for (size_t i = 0; i < N_SERVICES; i++) {
		/* Only the descriptor is used: nothing is invoked. */
		svc[i].descriptor = services[i];
		if (vx_wire_registry_add(registry, &svc[i]) != 0)
			abort();
	}
	/* A worker's arena with vexild's default --max-msg. */
	vx_arena_init(&arena, 4 * VX_WIRE_MAX_MSG + (1 << 20));
	return 0;
}

/* Whether m or a message inside it kept fields it does not know. */
static bool
has_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (m->n_unknown_fields > 0)
		return true;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *member = (const char *)m + f->offset;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n =
			    *(const size_t *)((const char *)m + f->quantifier_offset);
			ProtobufCMessage *const *arr =
			    *(ProtobufCMessage *const *const *)member;
			for (size_t j = 0; j < n; j++)
				if (has_unknown(arr[j]))
					return true;
		} else if (*(ProtobufCMessage *const *)member != NULL &&
		           has_unknown(*(ProtobufCMessage *const *)member)) {
			return true;
		}
	}
	return false;
}

/*
 * Packs m, unpacks the bytes and packs again: both encodings must agree.
 * Unknown fields are kept as raw bytes by protobuf-c and re-emitted as
 * they came, which need not decode again (an over-long varint, say); we
 * never re-encode what we did not understand, so such messages are left
 * out.
 */
static void
round_trip(const ProtobufCMessage *m)
{
	if (has_unknown(m))
		return;
	size_t n = protobuf_c_message_get_packed_size(m), n2;
	uint8_t *a = malloc(n + 1), *b;
	ProtobufCMessage *again;

	VX_FUZZ_ASSERT(a != NULL, "out of memory");
	VX_FUZZ_ASSERT(protobuf_c_message_pack(m, a) == n,
	    "%s packs to a size it did not say", m->descriptor->name);
	again = protobuf_c_message_unpack(m->descriptor, NULL, n, a);
	VX_FUZZ_ASSERT(
	    again != NULL, "%s does not decode its own encoding", m->descriptor->name);
	n2 = protobuf_c_message_get_packed_size(again);
	VX_FUZZ_ASSERT(
	    n2 == n, "%s re-encodes to %zu bytes, not %zu", m->descriptor->name, n2, n);
	b = malloc(n2 + 1);
	VX_FUZZ_ASSERT(b != NULL, "out of memory");
	protobuf_c_message_pack(again, b);
	VX_FUZZ_ASSERT(
	    memcmp(a, b, n) == 0, "%s re-encodes differently", m->descriptor->name);
	protobuf_c_message_free_unpacked(again, NULL);
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Vexil__V1__Request *req;
	const vx_wire_method *m;
	ProtobufCMessage *in;
	vx_status st;
	nng_msg *msg;
	cJSON *j;

	if (size > VX_WIRE_MAX_MSG)
		return 0; /* vexild's socket refuses it before any decoding */
	vx_arena_reset(&arena);
	req = vexil__v1__request__unpack(&arena.pb, size, data);
	memset(&st, 0, sizeof(st));
	if (req == NULL) {
		vx_status_set(&st, VEXIL__V1__CODE__INVALID_ARGUMENT, NULL, NULL,
		    "malformed request envelope");
	} else if ((m = vx_wire_registry_find(registry, req->method)) == NULL) {
		vx_status_set(&st, VEXIL__V1__CODE__UNIMPLEMENTED, "method", NULL,
		    "unknown method");
		round_trip(&req->base);
	} else {
		VX_FUZZ_ASSERT(strcmp(m->name, req->method) == 0, "found %s for %s",
		    m->name, req->method);
		round_trip(&req->base);
		in = protobuf_c_message_unpack(
		    m->desc->input, &arena.pb, req->payload.len, req->payload.data);
		if (in != NULL) {
			char path[64];
			VX_FUZZ_ASSERT(
			    in->descriptor == m->desc->input, "wrong descriptor");
			/* What protobuf-c decodes, the text check walks. */
			VX_FUZZ_ASSERT(
			    vx_text_check(m->desc->input, req->payload.data,
			        req->payload.len, path, sizeof(path)) != VX_TEXT_WIRE,
			    "%s decodes but the text check cannot walk it",
			    m->desc->input->name);
			round_trip(in);
			if ((j = vx_pb_to_json(in)) != NULL) {
				char *text = cJSON_PrintUnformatted(j);
				VX_FUZZ_ASSERT(text != NULL, "JSON of %s does not print",
				    in->descriptor->name);
				cJSON_free(text);
				cJSON_Delete(j);
			}
		}
		vx_status_set(&st,
		    in ? VEXIL__V1__CODE__NOT_FOUND : VEXIL__V1__CODE__INVALID_ARGUMENT,
		    "payload", NULL, "%s", in ? "not served here" : "malformed payload");
	}
	/* The error reply is built from the same untrusted names. */
	if (nng_msg_alloc(&msg, 0) == 0) {
		VX_FUZZ_ASSERT(vx_wire_reply(msg, &st, NULL) == 0, "no reply envelope");
		nng_msg_free(msg);
	}
	return 0;
}
