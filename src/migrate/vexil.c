/*
 * Vexil — Vexil's own project file: the model's JSON (json/pbjson.h)
 * without the fields the server owns.
 */
#include "migrate/migrate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/pbjson.h"

/* The version of the file's shape; a reader refuses any other. */
#define VEXIL_FORMAT 1

void
vx_mig_report_fini(vx_mig_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->lines[i]);
	free(r->lines);
	r->lines = NULL;
	r->n = 0;
}

int
vx_mig_report_add(vx_mig_report *r, const char *fmt, ...)
{
	char **bigger, line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if ((bigger = realloc(r->lines, (r->n + 1) * sizeof(*bigger))) == NULL)
		return VX_ENOMEM;
	r->lines = bigger;
	if ((r->lines[r->n] = strdup(line)) == NULL)
		return VX_ENOMEM;
	r->n++;
	return 0;
}

cJSON *
vx_mig_json_text(const cJSON *v)
{
	char buf[64];

	if (cJSON_IsString(v))
		return cJSON_CreateString(v->valuestring);
	if (cJSON_IsBool(v))
		return cJSON_CreateString(cJSON_IsTrue(v) ? "true" : "false");
	if (cJSON_IsNumber(v)) {
		if (v->valuedouble == (double)(long long)v->valuedouble)
			snprintf(buf, sizeof(buf), "%lld", (long long)v->valuedouble);
		else
			snprintf(buf, sizeof(buf), "%.17g", v->valuedouble);
		return cJSON_CreateString(buf);
	}
	return NULL;
}

cJSON *
vx_mig_condition(
    const char *attr, const char *op, cJSON *values, bool negate, bool missing, bool ci)
{
	cJSON *c = cJSON_CreateObject();

	cJSON_AddStringToObject(c, "attribute", attr);
	cJSON_AddStringToObject(c, "operator", op);
	cJSON_AddItemToObject(c, "values", values);
	cJSON_AddBoolToObject(c, "negate", negate);
	cJSON_AddBoolToObject(c, "case_insensitive", ci);
	cJSON_AddBoolToObject(c, "missing", missing);
	return c;
}

int
vx_mig_request(const cJSON *file, Vexil__V1__ImportRequest **out, char *err, size_t cap)
{
	ProtobufCMessage *m;
	int rc =
	    vx_json_to_pb(&vexil__v1__import_request__descriptor, file, &m, err, cap);

	if (rc == 0)
		*out = (Vexil__V1__ImportRequest *)m;
	return rc;
}

/* Fields the server sets, at any depth; an import ignores them anyway. */
static const char *const server_owned[] = {"id", "project_id", "seq", "created_at",
    "updated_at", "created_by", "updated_by", NULL};

static void
strip(cJSON *j)
{
	cJSON *it;

	if (cJSON_IsArray(j)) {
		cJSON_ArrayForEach(it, j) strip(it);
		return;
	}
	if (!cJSON_IsObject(j))
		return;
	for (const char *const *k = server_owned; *k; k++)
		cJSON_DeleteItemFromObjectCaseSensitive(j, *k);
	cJSON_ArrayForEach(it, j) strip(it);
}

char *
vx_mig_vexil_write(const Vexil__V1__ExportReply *in)
{
	cJSON *j = vx_pb_to_json(&in->base), *file = cJSON_CreateObject();
	char *text = NULL, *nl;
	size_t n;

	if (j == NULL || file == NULL)
		goto out;
	strip(j);
	if (cJSON_AddNumberToObject(file, "vexil", VEXIL_FORMAT) == NULL)
		goto out;
	for (const char *const *k =
	         (const char *const[]){"environments", "segments", "flags", NULL};
	     *k; k++)
		cJSON_AddItemToObject(file, *k, cJSON_DetachItemFromObject(j, *k));
	if ((text = cJSON_Print(file)) == NULL)
		goto out;
	n = strlen(text);
	if ((nl = realloc(text, n + 2)) == NULL) {
		free(text);
		text = NULL;
		goto out;
	}
	text = nl;
	memcpy(text + n, "\n", 2);
out:
	cJSON_Delete(j);
	cJSON_Delete(file);
	return text;
}

int
vx_mig_vexil_read(
    const char *text, size_t len, Vexil__V1__ImportRequest **out, char *err, size_t cap)
{
	const char *end = NULL;
	cJSON *file = cJSON_ParseWithLengthOpts(text, len, &end, false), *v;
	int rc = VX_EINVAL;

	*out = NULL;
	if (file == NULL || !cJSON_IsObject(file)) {
		snprintf(err, cap, "not a JSON object (at byte %zu)",
		    end ? (size_t)(end - text) : (size_t)0);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(file, "vexil");
	if (!cJSON_IsNumber(v) || v->valuedouble != VEXIL_FORMAT) {
		snprintf(err, cap, "vexil: must be %d (the version of the file's shape)",
		    VEXIL_FORMAT);
		goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(file, "vexil");
	/* Only the three lists: the rest of ImportRequest is the caller's. */
	cJSON_ArrayForEach(v, file)
	{
		if (strcmp(v->string, "environments") != 0 &&
		    strcmp(v->string, "segments") != 0 &&
		    strcmp(v->string, "flags") != 0) {
			snprintf(err, cap, "%.100s: unknown field", v->string);
			goto out;
		}
	}
	rc = vx_mig_request(file, out, err, cap);
out:
	cJSON_Delete(file);
	return rc;
}
