/*
 * The probe flag and waiting for subscribers: see probe.h.
 */
#include "probe.h"

#include <stdio.h>

#include "bench_common.h"

int
bench_probe_sdk_key(vx_client *c, char *secret, size_t cap, uint64_t *id)
{
	Vexil__V1__CreateSdkKeyRequest in = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *k;
	vx_status st;

	in.project = "default";
	in.environment = "production";
	if (vx_create_sdk_key(c, &in, &k, &st) != 0) {
		fprintf(stderr, "%s: CreateSdkKey failed: %s: %s\n", bench_prog,
		    vx_code_name(st.code), st.message);
		return -1;
	}
	snprintf(secret, cap, "%s", k->secret);
	if (id != NULL)
		*id = k->key->id;
	vx_free(k);
	return 0;
}

int
bench_probe_revision(vx_client *c, uint64_t *rev)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	in.project = "default";
	if (vx_get_project(c, &in, &p, &st) != 0) {
		fprintf(stderr, "%s: GetProject failed: %s: %s\n", bench_prog,
		    vx_code_name(st.code), st.message);
		return -1;
	}
	*rev = p->revision;
	vx_free(p);
	return 0;
}

int
bench_probe_create(vx_client *c, const char *key, const char *name)
{
	Vexil__V1__Flag flag = VEXIL__V1__FLAG__INIT;
	char description[64];

	snprintf(description, sizeof(description), "Toggled by %s.", bench_prog);
	flag.key = (char *)key;
	flag.name = (char *)name;
	flag.description = description;
	flag.type = VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN;
	if (bench_create_flag(c, &flag) != 0)
		return -1;
	return 0;
}

int
bench_probe_toggle(vx_client *c, const char *key, bool *enabled)
{
	Vexil__V1__SetFlagEnabledRequest in = VEXIL__V1__SET_FLAG_ENABLED_REQUEST__INIT;
	Vexil__V1__Flag *out;
	vx_status st;

	in.project = "default";
	in.key = (char *)key;
	in.environment = "production";
	in.enabled = !*enabled;
	if (vx_set_flag_enabled(c, &in, &out, &st) != 0) {
		fprintf(stderr, "%s: SetFlagEnabled failed: %s: %s\n", bench_prog,
		    vx_code_name(st.code), st.message);
		return -1;
	}
	vx_free(out);
	*enabled = !*enabled;
	return 0;
}

bool
bench_wait_all(bool (*done)(void *arg, int i), void *arg, int n, int timeout_ms)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		int i = 0;
		while (i < n && done(arg, i))
			i++;
		if (i == n)
			return true;
		if (bench_interrupted || bench_now_ns() > deadline)
			return false;
		bench_sleep_ms(1);
	}
}
