/*
 * Vexil integration tests: AdminService/Import and Export, and the vexil
 * project file (src/migrate), over the wire.
 *
 * An import is all or nothing and one revision; a watcher that was behind
 * it gets a snapshot; a file exported, imported elsewhere and exported
 * again is the same file byte for byte; evaluation agrees before and after.
 * For Unleash, Unleash's own Node SDK (unleash-client, through
 * web/tests/unleash-oracle.mjs) is the oracle: on randomized contexts it
 * must answer what Vexil answers, for an Unleash file imported into Vexil
 * and for a Vexil project exported as an Unleash file.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "migrate/migrate.h"
#include "json/pbjson.h"

VX_SERVER_SUITE(migrate, 120);

/* Every construct of the model: a new environment, a segment, metadata,
 * tags, prerequisites, rules with conditions (negated, missing,
 * case-insensitive), segments, a rollout with stickiness and group, and a
 * split with its own stickiness. */
static const char fixture[] =
    "{\"vexil\": 1,"
    " \"environments\": [{\"key\": \"qa\", \"name\": \"QA\", \"description\": \"tests\"}],"
    " \"segments\": [{\"name\": \"corp\", \"description\": \"staff\", \"conditions\": ["
    "   {\"attribute\": \"email\", \"operator\": \"ends_with\", \"values\": [\"@corp.com\"],"
    "    \"case_insensitive\": true}]}],"
    " \"flags\": ["
    "  {\"key\": \"checkout\", \"name\": \"New checkout\", \"description\": \"v2\","
    "   \"tags\": [\"pay\", \"web\"], \"owner\": \"ana\", \"metadata\": {\"team\": \"pay\"},"
    "   \"type\": \"string\", \"variants\": [{\"key\": \"a\", \"value\": \"\\\"A\\\"\"},"
    "     {\"key\": \"b\", \"value\": \"\\\"B\\\"\"}, {\"key\": \"off\", \"value\": \"\\\"-\\\"\"}],"
    "   \"envs\": [{\"environment\": \"production\", \"enabled\": true,"
    "     \"default_variant\": \"a\", \"off_variant\": \"off\", \"rollout_percentage\": 40,"
    "     \"rollout\": {\"stickiness\": \"session_id\", \"group_id\": \"g1\"},"
    "     \"prerequisites\": [{\"flag_key\": \"base\", \"variants\": [\"on\"]}],"
    "     \"rules\": [{\"name\": \"staff\", \"priority\": 5, \"enabled\": true,"
    "       \"segments\": [\"corp\"], \"variant\": \"b\"},"
    "      {\"name\": \"eu\", \"enabled\": true, \"conditions\": ["
    "        {\"attribute\": \"country\", \"operator\": \"in\", \"values\": [\"DE\", \"FR\"]},"
    "        {\"attribute\": \"plan\", \"operator\": \"equals\", \"values\": [\"free\"],"
    "         \"negate\": true, \"missing\": true}],"
    "       \"rollout\": {\"percentage\": 50, \"stickiness\": \"user_id\"},"
    "       \"split\": [{\"variant\": \"a\", \"weight\": 30}, {\"variant\": \"b\", \"weight\": 70}],"
    "       \"split_stickiness\": \"org\", \"split_group_id\": \"s1\"}]},"
    "    {\"environment\": \"qa\", \"enabled\": true, \"default_variant\": \"b\","
    "     \"off_variant\": \"off\"}]},"
    "  {\"key\": \"base\", \"envs\": [{\"environment\": \"production\", \"enabled\": true}]}"
    " ]}";

static void
make_project(const char *name)
{
	Vexil__V1__CreateProjectRequest in = VEXIL__V1__CREATE_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;

	in.name = (char *)name;
	cr_assert(vx_create_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	vx_free(p);
}

/* Imports text into project; returns the call's rc. */
static int
import_text(vx_client *c, const char *project, const char *text, bool dry,
    Vexil__V1__ImportReply **out, vx_status *st)
{
	Vexil__V1__ImportRequest *in;
	char err[256];
	int rc;

	cr_assert(vx_mig_vexil_read(text, strlen(text), &in, err, sizeof(err)) == 0,
	    "%s", err);
	in->project = (char *)project;
	in->dry_run = dry;
	rc = vx_import(c, in, out, st);
	in->project = NULL; /* not the message's own */
	protobuf_c_message_free_unpacked(&in->base, NULL);
	return rc;
}

/* The project's file; the caller frees it. */
static char *
export_text(const char *project)
{
	Vexil__V1__ExportRequest in = VEXIL__V1__EXPORT_REQUEST__INIT;
	Vexil__V1__ExportReply *out;
	vx_status st;
	char *text;

	in.project = (char *)project;
	cr_assert(vx_export(h.admin, &in, &out, &st) == 0, "%s", st.message);
	text = vx_mig_vexil_write(out);
	vx_free(out);
	cr_assert_not_null(text);
	return text;
}

static char *
evaluate(const char *project, const char *flag, const char *env, const char *user,
    const char *country, const char *email)
{
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvalContext__AttributesEntry e1 =
	    VEXIL__V1__EVAL_CONTEXT__ATTRIBUTES_ENTRY__INIT;
	Vexil__V1__EvalContext__AttributesEntry *ep[] = {&e1};
	Vexil__V1__AttrValue sess = VEXIL__V1__ATTR_VALUE__INIT;
	Vexil__V1__EvaluationResult *out;
	vx_status st;
	char *r = malloc(200);

	ctx.user_id = (char *)user;
	ctx.email = (char *)email;
	ctx.country = (char *)country;
	sess.kind_case = VEXIL__V1__ATTR_VALUE__KIND_STR;
	sess.str = (char *)user;
	e1.key = "session_id";
	e1.value = &sess;
	ctx.attributes = ep;
	ctx.n_attributes = 1;
	in.project = (char *)project;
	in.flag_key = (char *)flag;
	in.environment = (char *)env;
	in.context = &ctx;
	cr_assert(vx_evaluate(h.admin, &in, &out, &st) == 0, "%s", st.message);
	cr_assert_not_null(r);
	snprintf(r, 200, "%.80s/%.80s", out->variant, out->reason);
	vx_free(out);
	return r;
}

Test(migrate, export_import_export_gives_the_same_file_byte_for_byte)
{
	Vexil__V1__ImportReply *r;
	vx_status st;
	char *first, *second;

	make_project("src");
	make_project("dst");
	cr_assert(import_text(h.admin, "src", fixture, false, &r, &st) == 0, "%s",
	    st.message);
	cr_expect_eq(r->flags_created, 2);
	cr_expect_eq(r->segments_created, 1);
	cr_expect_eq(r->environments_created, 1);
	vx_free(r);
	first = export_text("src");
	cr_assert(import_text(h.admin, "dst", first, false, &r, &st) == 0, "%s",
	    st.message);
	vx_free(r);
	second = export_text("dst");
	cr_expect_str_eq(second, first);
	/* Every construct made it into the file. */
	for (const char *s = "\"split_stickiness\":\t\"org\"\0\"missing\":\ttrue\0"
	                     "\"case_insensitive\":\ttrue\0\"flag_key\":\t\"base\"\0"
	                     "\"group_id\":\t\"g1\"\0\"team\":\t\"pay\"\0\"key\":\t\"qa\"\0";
	     *s; s += strlen(s) + 1)
		cr_expect(strstr(first, s) != NULL, "%s missing from the export", s);
	free(first);
	free(second);
}

Test(migrate, imported_flags_evaluate_as_in_the_project_they_came_from)
{
	Vexil__V1__ImportReply *r;
	vx_status st;
	char *text, user[32];
	int differ = 0;

	make_project("src");
	make_project("dst");
	cr_assert(import_text(h.admin, "src", fixture, false, &r, &st) == 0, "%s",
	    st.message);
	vx_free(r);
	text = export_text("src");
	cr_assert(import_text(h.admin, "dst", text, false, &r, &st) == 0, "%s",
	    st.message);
	vx_free(r);
	free(text);
	for (int i = 0; i < 200; i++) {
		const char *country = i % 3 ? "DE" : "US";
		const char *email = i % 7 ? "x@example.com" : "x@CORP.com";
		snprintf(user, sizeof(user), "user-%d", i);
		char *a = evaluate("src", "checkout", "production", user, country, email);
		char *b = evaluate("dst", "checkout", "production", user, country, email);
		differ += strcmp(a, b) != 0;
		free(a);
		free(b);
	}
	cr_expect_eq(differ, 0, "%d of 200 contexts evaluate differently", differ);
}

Test(migrate, an_import_is_one_revision)
{
	Vexil__V1__ImportReply *r;
	vx_status st;
	uint64_t before;

	make_project("src");
	before = vx_project_revision(h.admin, "src");
	cr_assert(import_text(h.admin, "src", fixture, false, &r, &st) == 0, "%s",
	    st.message);
	cr_expect_eq(r->revision, before + 1);
	cr_expect_eq(vx_project_revision(h.admin, "src"), before + 1);
	vx_free(r);
}

Test(migrate, an_import_with_one_bad_flag_changes_nothing)
{
	/* The second flag serves a variant it does not have. */
	static const char bad[] =
	    "{\"vexil\": 1, \"segments\": [{\"name\": \"s\"}], \"flags\": ["
	    " {\"key\": \"good\"},"
	    " {\"key\": \"broken\", \"envs\": [{\"environment\": \"production\","
	    "   \"rules\": [{\"enabled\": true, \"variant\": \"nope\"}]}]}]}";
	Vexil__V1__ImportReply *r;
	Vexil__V1__ListFlagsRequest lin = VEXIL__V1__LIST_FLAGS_REQUEST__INIT;
	Vexil__V1__FlagList *flags;
	vx_status st;
	uint64_t before;

	make_project("src");
	before = vx_project_revision(h.admin, "src");
	cr_assert(import_text(h.admin, "src", bad, false, &r, &st) != 0);
	cr_expect_eq(st.code, VEXIL__V1__CODE__INVALID_ARGUMENT);
	cr_expect(strstr(st.message, "flag broken") != NULL, "%s", st.message);
	cr_expect(strncmp(st.field, "flags[1].", 9) == 0, "%s", st.field);
	cr_expect_eq(vx_project_revision(h.admin, "src"), before);
	lin.project = "src";
	cr_assert(vx_list_flags(h.admin, &lin, &flags, &st) == 0, "%s", st.message);
	cr_expect_eq(flags->total, 0, "the good flag was kept");
	vx_free(flags);
	/* Nor the segment. */
	Vexil__V1__ListSegmentsRequest sin = VEXIL__V1__LIST_SEGMENTS_REQUEST__INIT;
	Vexil__V1__SegmentList *segs;
	sin.project = "src";
	cr_assert(vx_list_segments(h.admin, &sin, &segs, &st) == 0, "%s", st.message);
	cr_expect_eq(segs->n_segments, 0);
	vx_free(segs);
}

Test(migrate, a_dry_run_checks_and_counts_but_changes_nothing)
{
	Vexil__V1__ImportReply *r;
	vx_status st;
	uint64_t before;
	char *text;

	make_project("src");
	before = vx_project_revision(h.admin, "src");
	cr_assert(import_text(h.admin, "src", fixture, true, &r, &st) == 0, "%s",
	    st.message);
	cr_expect(r->dry_run);
	cr_expect_eq(r->flags_created, 2);
	cr_expect_eq(r->revision, before);
	vx_free(r);
	cr_expect_eq(vx_project_revision(h.admin, "src"), before);
	text = export_text("src");
	cr_expect(strstr(text, "checkout") == NULL);
	free(text);
}

Test(migrate, importing_again_replaces_and_keeps_flags_it_does_not_name)
{
	static const char one[] = "{\"vexil\": 1, \"flags\": [{\"key\": \"checkout\","
	                          " \"description\": \"replaced\"}, {\"key\": \"extra\"}]}";
	Vexil__V1__ImportReply *r;
	vx_status st;
	char *text;

	make_project("src");
	cr_assert(import_text(h.admin, "src", fixture, false, &r, &st) == 0, "%s",
	    st.message);
	vx_free(r);
	cr_assert(import_text(h.admin, "src", one, false, &r, &st) == 0, "%s",
	    st.message);
	cr_expect_eq(r->flags_replaced, 1);
	cr_expect_eq(r->flags_created, 1);
	vx_free(r);
	text = export_text("src");
	cr_expect(strstr(text, "\"replaced\"") != NULL);
	cr_expect(strstr(text, "\"base\"") != NULL);
	free(text);
}

Test(migrate, a_watcher_behind_an_import_gets_a_snapshot)
{
	Vexil__V1__ChangesRequest in = VEXIL__V1__CHANGES_REQUEST__INIT;
	Vexil__V1__ChangesReply *out;
	Vexil__V1__ImportReply *r;
	vx_status st;
	uint64_t before;

	make_project("src");
	before = vx_project_revision(h.admin, "src");
	cr_assert(import_text(h.admin, "src", fixture, false, &r, &st) == 0, "%s",
	    st.message);
	vx_free(r);
	in.project = "src";
	in.since = before;
	cr_assert(vx_changes(h.admin, &in, &out, &st) == 0, "%s", st.message);
	cr_expect(out->snapshot);
	cr_expect_eq(out->revision, before + 1);
	cr_expect_eq(out->n_flags, 2);
	cr_expect_eq(out->n_segments, 1);
	vx_free(out);
}

Test(migrate, import_and_export_need_the_admin_role)
{
	char key[128];
	vx_client *c;
	Vexil__V1__ImportReply *r;
	Vexil__V1__ExportRequest ein = VEXIL__V1__EXPORT_REQUEST__INIT;
	Vexil__V1__ExportReply *eout;
	vx_status st;

	make_project("src");
	vx_harness_key(&h, "src", VEXIL__V1__ROLE__ROLE_WRITE, key, sizeof(key));
	c = vx_harness_client(&h, key);
	cr_expect(import_text(c, "src", fixture, false, &r, &st) != 0);
	cr_expect_eq(st.code, VEXIL__V1__CODE__PERMISSION_DENIED);
	ein.project = "src";
	cr_expect(vx_export(c, &ein, &eout, &st) != 0);
	cr_expect_eq(st.code, VEXIL__V1__CODE__PERMISSION_DENIED);
	vx_client_close(c);
	vx_harness_key(&h, "src", VEXIL__V1__ROLE__ROLE_ADMIN, key, sizeof(key));
	c = vx_harness_client(&h, key);
	cr_expect(import_text(c, "src", fixture, false, &r, &st) == 0, "%s", st.message);
	vx_free(r);
	vx_client_close(c);
}

Test(migrate, a_file_with_an_unknown_field_is_refused_naming_it)
{
	static const char typo[] =
	    "{\"vexil\": 1, \"flags\": [{\"key\": \"a\", \"variants\": [{\"kye\": \"x\"}]}]}";
	Vexil__V1__ImportRequest *in;
	char err[256];

	cr_assert_eq(vx_mig_vexil_read(typo, strlen(typo), &in, err, sizeof(err)), VX_EINVAL);
	cr_expect_str_eq(err, "flags[0].variants[0].kye: unknown field");
	cr_assert_eq(vx_mig_vexil_read("{\"flags\": []}", 13, &in, err, sizeof(err)),
	    VX_EINVAL);
	cr_expect(strstr(err, "vexil") != NULL, "%s", err);
}

/* ---- Unleash: the SDK as the oracle ---- */

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert_not_null(f, "cannot read %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

typedef int (*reader_fn)(const char *, size_t, const char *, Vexil__V1__ImportRequest **,
    vx_mig_report *, char *, size_t);

/* Imports a file (read by `read`) into env production of project; the
 * file must translate without a report. */
static void
import_file(reader_fn read, const char *project, const char *text)
{
	Vexil__V1__ImportRequest *in;
	Vexil__V1__ImportReply *out;
	vx_mig_report rep = {NULL, 0};
	vx_status st;
	char err[256];

	cr_assert(
	    read(text, strlen(text), "production", &in, &rep, err, sizeof(err)) == 0,
	    "%s", err);
	cr_assert_eq(rep.n, 0, "the file has what Vexil cannot express: %s",
	    rep.n ? rep.lines[0] : "");
	in->project = (char *)project;
	cr_assert(vx_import(h.admin, in, &out, &st) == 0, "%s", st.message);
	in->project = NULL;
	protobuf_c_message_free_unpacked(&in->base, NULL);
	vx_free(out);
}

static void
import_unleash(const char *project, const char *text)
{
	import_file(vx_mig_unleash_read, project, text);
}

/* Project's production environment as an Unleash file, with no report. */
static char *
export_unleash(const char *project)
{
	Vexil__V1__ExportRequest in = VEXIL__V1__EXPORT_REQUEST__INIT;
	Vexil__V1__ExportReply *out;
	vx_mig_report rep = {NULL, 0};
	vx_status st;
	char *text;

	in.project = (char *)project;
	cr_assert(vx_export(h.admin, &in, &out, &st) == 0, "%s", st.message);
	text = vx_mig_unleash_write(out, "production", project, &rep);
	vx_free(out);
	cr_assert_not_null(text);
	cr_assert_eq(rep.n, 0, "Unleash cannot express: %s", rep.n ? rep.lines[0] : "");
	return text;
}

/* The key the Unleash SDK sends when it fetches from the gateway. */
static char oracle_key[128];

/* The JSON that cmd (a node script) prints; fails the test when it fails. */
static cJSON *
node_json(const char *cmd)
{
	size_t cap = 1 << 20, n = 0, got;
	char *out = malloc(cap);
	FILE *p;
	cJSON *j;

	cr_assert_not_null(out);
	cr_assert_not_null(p = popen(cmd, "r"));
	while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
		n += got;
		if (n + 1 == cap)
			cr_assert_not_null(out = realloc(out, cap *= 2));
	}
	out[n] = '\0';
	cr_assert_eq(pclose(p), 0, "%s failed: %.500s", cmd, out);
	j = cJSON_Parse(out);
	cr_assert_not_null(j, "%s printed no JSON: %.500s", cmd, out);
	free(out);
	return j;
}

/* What an ecosystem evaluator run by web/tests/SCRIPT (which needs npm
 * package PACKAGE) answers on count randomized contexts for file. */
static cJSON *
oracle(
    const char *script, const char *package, const char *file, int count, unsigned seed)
{
	char cmd[1024];
	cJSON *j;

	vx_harness_need_node(VX_WEB_DIR, (const char *const[]){package}, 1);
	snprintf(cmd, sizeof(cmd), "UNLEASH_KEY='%s' node %s/tests/%s %s %d %u",
	    oracle_key, VX_WEB_DIR, script, file, count, seed);
	j = node_json(cmd);
	cr_assert(cJSON_IsArray(j), "%s printed no JSON array", script);
	return j;
}

/* unleash-client's answers on count randomized contexts (see
 * web/tests/unleash-oracle.mjs). */
static cJSON *
unleash_sdk(const char *file, int count, unsigned seed)
{
	return oracle("unleash-oracle.mjs", "unleash-client", file, count, seed);
}

/* Vexil's answer for flag in env production of project, for an Unleash
 * context: "variant reason type". */
static void
vexil_answer(const char *project, const char *flag, const cJSON *uctx, char *variant,
    char *reason, int *type)
{
	Vexil__V1__EvaluateRequest in = VEXIL__V1__EVALUATE_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvalContext__AttributesEntry ents[16], *ep[16];
	Vexil__V1__AttrValue vals[16];
	Vexil__V1__EvaluationResult *out;
	const cJSON *props = cJSON_GetObjectItem(uctx, "properties"), *it;
	const cJSON *sid = cJSON_GetObjectItem(uctx, "sessionId");
	const cJSON *ip = cJSON_GetObjectItem(uctx, "remoteAddress");
	size_t n = 0;
	vx_status st;

	ctx.user_id = cJSON_GetObjectItem(uctx, "userId")->valuestring;
	if (cJSON_IsString(ip))
		ctx.ip = ip->valuestring;
	for (it = sid; it != NULL; it = NULL) {
		vexil__v1__eval_context__attributes_entry__init(&ents[n]);
		vexil__v1__attr_value__init(&vals[n]);
		vals[n].kind_case = VEXIL__V1__ATTR_VALUE__KIND_STR;
		vals[n].str = it->valuestring;
		ents[n].key = "sessionId";
		ents[n].value = &vals[n];
		ep[n] = &ents[n];
		n++;
	}
	cJSON_ArrayForEach(it, props)
	{
		if (strcmp(it->string, "email") == 0) {
			ctx.email = it->valuestring;
			continue;
		}
		if (strcmp(it->string, "country") == 0) {
			ctx.country = it->valuestring;
			continue;
		}
		cr_assert(n < 16);
		vexil__v1__eval_context__attributes_entry__init(&ents[n]);
		vexil__v1__attr_value__init(&vals[n]);
		if (cJSON_IsNumber(it)) {
			vals[n].kind_case = VEXIL__V1__ATTR_VALUE__KIND_NUM;
			vals[n].num = it->valuedouble;
		} else {
			vals[n].kind_case = VEXIL__V1__ATTR_VALUE__KIND_STR;
			vals[n].str = it->valuestring;
		}
		ents[n].key = it->string;
		ents[n].value = &vals[n];
		ep[n] = &ents[n];
		n++;
	}
	ctx.attributes = ep;
	ctx.n_attributes = n;
	in.project = (char *)project;
	in.environment = "production";
	in.flag_key = (char *)flag;
	in.context = &ctx;
	cr_assert(vx_evaluate(h.admin, &in, &out, &st) == 0, "%s", st.message);
	snprintf(variant, 64, "%s", out->variant);
	snprintf(reason, 64, "%s", out->reason);
	*type = out->type;
	vx_free(out);
}

/*
 * Every answer of the SDK on file agrees with Vexil's for project: on
 * exactly when Vexil serves by a rule or rollout, and the same variant
 * (Unleash's "disabled" stands for Vexil's off variant, and for a flag on
 * without a variant). Returns how many (context, flag) pairs were checked.
 */
static int
sdk_agrees(const char *project, const char *file, unsigned seed)
{
	cJSON *res = unleash_sdk(file, 150, seed), *e, *r;
	char variant[64], reason[64];
	int type, checked = 0, on_count = 0;

	cJSON_ArrayForEach(e, res)
	{
		const cJSON *uctx = cJSON_GetObjectItem(e, "context");
		cJSON_ArrayForEach(r, cJSON_GetObjectItem(e, "results"))
		{
			bool enabled = cJSON_IsTrue(cJSON_GetObjectItem(r, "enabled")),
			     on;
			const char *uv = cJSON_GetObjectItem(r, "variant")->valuestring;
			char *c = cJSON_PrintUnformatted(uctx);

			vexil_answer(project, r->string, uctx, variant, reason, &type);
			on = strcmp(reason, "TARGETING_MATCH") == 0 ||
			     strcmp(reason, "SPLIT") == 0 ||
			     strcmp(reason, "STATIC") == 0;
			cr_expect_eq(enabled, on,
			    "seed %u, flag %s, context %s: Unleash says %s, Vexil %s "
			    "(%s)",
			    seed, r->string, c, enabled ? "on" : "off", variant, reason);
			if (strcmp(uv, "disabled") != 0)
				cr_expect_str_eq(variant, uv,
				    "seed %u, flag %s, context %s", seed, r->string, c);
			else if (on)
				cr_expect(
				    type == VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN ||
				        strcmp(variant, "enabled") == 0,
				    "seed %u, flag %s, context %s: Unleash serves no "
				    "variant, Vexil %s",
				    seed, r->string, c, variant);
			free(c);
			checked++;
			on_count += on;
		}
	}
	cJSON_Delete(res);
	/* Contexts that reach both answers, or the check proves little. */
	cr_expect(on_count > checked / 10 && on_count < checked - checked / 10,
	    "%d of %d answers on", on_count, checked);
	return checked;
}

/* Flags of Vexil's own that Unleash can express: rules with conditions,
 * segments, rollouts with stickiness and group, a split over 1000, an
 * address range, a prerequisite, and an environment rollout. */
static const char expressible[] =
    "{\"vexil\": 1,"
    " \"segments\": [{\"name\": \"staff\", \"conditions\": ["
    "   {\"attribute\": \"email\", \"operator\": \"ends_with\", \"values\": "
    "[\"@corp.com\"],"
    "    \"case_insensitive\": true}]}],"
    " \"flags\": ["
    "  {\"key\": \"dark\", \"envs\": [{\"environment\": \"production\", \"enabled\": "
    "true,"
    "    \"rollout_percentage\": 40, \"rollout\": {\"stickiness\": \"user_id\"},"
    "    \"rules\": ["
    "     {\"enabled\": true, \"segments\": [\"staff\"], \"variant\": \"on\"},"
    "     {\"enabled\": true, \"conditions\": [{\"attribute\": \"ip\", \"operator\": "
    "\"cidr\","
    "       \"values\": [\"10.0.0.0/8\"]}], \"variant\": \"on\"},"
    "     {\"enabled\": true, \"variant\": \"on\", \"conditions\": ["
    "       {\"attribute\": \"country\", \"operator\": \"in\", \"values\": [\"DE\", "
    "\"FR\"]},"
    "       {\"attribute\": \"plan\", \"operator\": \"in\", \"values\": [\"free\"],"
    "        \"negate\": true, \"missing\": true}],"
    "      \"rollout\": {\"percentage\": 60, \"group_id\": \"eu\"}}]}]},"
    "  {\"key\": \"theme\", \"type\": \"string\", \"variants\": ["
    "    {\"key\": \"a\", \"value\": \"\\\"A\\\"\"}, {\"key\": \"b\", \"value\": "
    "\"\\\"B\\\"\"},"
    "    {\"key\": \"c\", \"value\": \"\\\"C\\\"\"}, {\"key\": \"off\", \"value\": "
    "\"\\\"-\\\"\"}],"
    "   \"envs\": [{\"environment\": \"production\", \"enabled\": true,"
    "    \"default_variant\": \"a\", \"off_variant\": \"off\", \"rollout_percentage\": "
    "30,"
    "    \"prerequisites\": [{\"flag_key\": \"dark\"}],"
    "    \"rules\": ["
    "     {\"enabled\": true, \"conditions\": [{\"attribute\": \"appVersion\","
    "       \"operator\": \"semver_gt\", \"values\": [\"1.2.0\"]}], \"variant\": \"c\"},"
    "     {\"enabled\": true, \"conditions\": [{\"attribute\": \"age\", \"operator\": "
    "\"gte\","
    "       \"values\": [\"18\"]}], \"rollout\": {\"percentage\": 80, \"stickiness\": "
    "\"sessionId\","
    "       \"group_id\": \"adults\"},"
    "      \"split\": [{\"variant\": \"a\", \"weight\": 250}, {\"variant\": \"b\", "
    "\"weight\": 750}],"
    "      \"split_stickiness\": \"user_id\"}]}]}"
    " ]}";

Test(migrate, the_unleash_sdk_agrees_with_vexil_on_an_imported_unleash_file)
{
	char *text = slurp(VX_TESTS_DIR "/migrate/unleash-oracle.json");

	make_project("un");
	import_unleash("un", text);
	free(text);
	cr_expect_gt(sdk_agrees("un", VX_TESTS_DIR "/migrate/unleash-oracle.json", 7), 0);
}

Test(migrate, a_vexil_project_exported_for_unleash_makes_the_sdk_answer_as_vexil)
{
	Vexil__V1__ImportReply *r;
	vx_status st;
	char path[300], *text;
	FILE *f;

	make_project("src");
	cr_assert(import_text(h.admin, "src", expressible, false, &r, &st) == 0, "%s",
	    st.message);
	vx_free(r);
	text = export_unleash("src");
	snprintf(path, sizeof(path), "%s/unleash.json", h.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	free(text);
	cr_expect_gt(sdk_agrees("src", path, 11), 0);
}

Test(migrate, vexil_to_unleash_to_vexil_keeps_every_answer)
{
	Vexil__V1__ImportReply *r;
	vx_status st;
	char *text, path[300], va[64], ra[64], vb[64], rb[64];
	int ta, tb, differ = 0, n = 0;
	cJSON *res, *e, *x;
	FILE *f;

	make_project("src");
	make_project("back");
	cr_assert(import_text(h.admin, "src", expressible, false, &r, &st) == 0, "%s",
	    st.message);
	vx_free(r);
	text = export_unleash("src");
	import_unleash("back", text);
	snprintf(path, sizeof(path), "%s/unleash.json", h.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	free(text);
	/* The SDK's contexts, asked of both projects. */
	res = unleash_sdk(path, 150, 5);
	cJSON_ArrayForEach(e, res)
	{
		cJSON_ArrayForEach(x, cJSON_GetObjectItem(e, "results"))
		{
			const cJSON *uctx = cJSON_GetObjectItem(e, "context");
			vexil_answer("src", x->string, uctx, va, ra, &ta);
			vexil_answer("back", x->string, uctx, vb, rb, &tb);
			/* The off variant comes back as Unleash's "disabled". */
			bool off_a = strcmp(ra, "DISABLED") == 0 ||
			             strcmp(ra, "DEFAULT") == 0 ||
			             strcmp(ra, "PREREQUISITE_FAILED") == 0;
			bool off_b = strcmp(rb, "DISABLED") == 0 ||
			             strcmp(rb, "DEFAULT") == 0 ||
			             strcmp(rb, "PREREQUISITE_FAILED") == 0;
			if (off_a != off_b || (!off_a && strcmp(va, vb) != 0)) {
				differ++;
				cr_expect(false, "flag %s: %s %s before, %s %s after",
				    x->string, va, ra, vb, rb);
			}
			cr_expect_eq(ta, tb);
			n++;
		}
	}
	cJSON_Delete(res);
	cr_expect_eq(differ, 0, "%d of %d answers changed", differ, n);
}

Test(migrate, an_unleash_file_with_what_vexil_cannot_express_is_reported_by_flag)
{
	static const char file[] =
	    "{\"features\": [{\"name\": \"ok\"}, {\"name\": \"custom\"}, {\"name\": "
	    "\"timed\"}],"
	    " \"featureStrategies\": ["
	    "  {\"name\": \"default\", \"featureName\": \"ok\"},"
	    "  {\"name\": \"myStrategy\", \"featureName\": \"custom\", \"parameters\": "
	    "{}},"
	    "  {\"name\": \"default\", \"featureName\": \"timed\", \"constraints\": ["
	    "    {\"contextName\": \"currentTime\", \"operator\": \"DATE_AFTER\","
	    "     \"value\": \"2026-01-01T00:00:00Z\"}]}],"
	    " \"featureEnvironments\": []}";
	Vexil__V1__ImportRequest *in;
	vx_mig_report rep = {NULL, 0};
	char err[256];

	cr_assert(vx_mig_unleash_read(
	              file, strlen(file), "production", &in, &rep, err, sizeof(err)) == 0,
	    "%s", err);
	protobuf_c_message_free_unpacked(&in->base, NULL);
	cr_assert_eq(rep.n, 2);
	cr_expect(
	    strstr(rep.lines[0], "flag custom") && strstr(rep.lines[0], "myStrategy"),
	    "%s", rep.lines[0]);
	cr_expect(
	    strstr(rep.lines[1], "flag timed") && strstr(rep.lines[1], "currentTime"),
	    "%s", rep.lines[1]);
	vx_mig_report_fini(&rep);
}

Test(migrate, what_unleash_cannot_express_is_reported_by_flag_on_export)
{
	Vexil__V1__ImportReply *r;
	Vexil__V1__ExportRequest in = VEXIL__V1__EXPORT_REQUEST__INIT;
	Vexil__V1__ExportReply *out;
	vx_mig_report rep = {NULL, 0};
	vx_status st;
	char *text;

	make_project("src");
	cr_assert(
	    import_text(h.admin, "src", fixture, false, &r, &st) == 0, "%s", st.message);
	vx_free(r);
	in.project = "src";
	cr_assert(vx_export(h.admin, &in, &out, &st) == 0, "%s", st.message);
	text = vx_mig_unleash_write(out, "production", "src", &rep);
	vx_free(out);
	free(text);
	/* The fixture's split totals 100, and its "plan" condition holds on a
	 * missing attribute without being negated the way NOT_IN is. */
	cr_assert_geq(rep.n, 1);
	for (size_t i = 0; i < rep.n; i++)
		cr_expect(strncmp(rep.lines[i], "flag checkout: ", 15) == 0, "%s",
		    rep.lines[i]);
	vx_mig_report_fini(&rep);
}

/* ---- flagd: flagd's own evaluator as the oracle ---- */

static void
import_flagd(const char *project, const char *text)
{
	import_file(vx_mig_flagd_read, project, text);
}

/* Project's production environment as flagd definitions in the test's
 * data dir; returns the path. */
static const char *
export_flagd(const char *project)
{
	static char path[300];
	Vexil__V1__ExportRequest in = VEXIL__V1__EXPORT_REQUEST__INIT;
	Vexil__V1__ExportReply *out;
	vx_mig_report rep = {NULL, 0};
	vx_status st;
	char *text;
	FILE *f;

	in.project = (char *)project;
	cr_assert(vx_export(h.admin, &in, &out, &st) == 0, "%s", st.message);
	text = vx_mig_flagd_write(out, "production", &rep);
	vx_free(out);
	cr_assert_not_null(text);
	cr_assert_eq(rep.n, 0, "flagd cannot express: %s", rep.n ? rep.lines[0] : "");
	snprintf(path, sizeof(path), "%s/flagd-%s.json", h.dir, project);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	free(text);
	return path;
}

/* flagd-core's variant on file agrees with Vexil's for project on every
 * randomized context (every flag of the fixture is enabled). */
static void
flagd_agrees(const char *project, const char *file, unsigned seed)
{
	cJSON *res =
	    oracle("flagd-oracle.mjs", "@openfeature/flagd-core", file, 200, seed);
	cJSON *e, *r;
	char variant[64], reason[64];
	int type, checked = 0, matched = 0;

	cJSON_ArrayForEach(e, res)
	{
		const cJSON *ctx = cJSON_GetObjectItem(e, "context");
		cJSON_ArrayForEach(r, cJSON_GetObjectItem(e, "results"))
		{
			const cJSON *fv = cJSON_GetObjectItem(r, "variant");
			char *c = cJSON_PrintUnformatted(ctx);
			vexil_answer(project, r->string, ctx, variant, reason, &type);
			cr_expect(
			    cJSON_IsString(fv) && strcmp(fv->valuestring, variant) == 0,
			    "seed %u, flag %s, context %s: flagd serves %s, Vexil %s "
			    "(%s)",
			    seed, r->string, c,
			    cJSON_IsString(fv) ? fv->valuestring : "nothing", variant,
			    reason);
			matched += strcmp(reason, "TARGETING_MATCH") == 0;
			checked++;
			free(c);
		}
	}
	cJSON_Delete(res);
	cr_expect(matched > checked / 10, "only %d of %d answers came from targeting",
	    matched, checked);
}

Test(migrate, flagds_evaluator_agrees_with_vexil_on_an_imported_flagd_file)
{
	char *text = slurp(VX_TESTS_DIR "/migrate/flagd-flags.json");

	make_project("fd");
	import_flagd("fd", text);
	free(text);
	flagd_agrees("fd", VX_TESTS_DIR "/migrate/flagd-flags.json", 3);
}

Test(migrate, a_project_exported_for_flagd_makes_flagd_answer_as_vexil_and_comes_back)
{
	char *text = slurp(VX_TESTS_DIR "/migrate/flagd-flags.json"), *again;
	const char *path;

	make_project("fd");
	make_project("back");
	import_flagd("fd", text);
	free(text);
	path = export_flagd("fd");
	flagd_agrees("fd", path, 9);
	/* Vexil -> flagd -> Vexil: the same answers again. */
	again = slurp(path);
	import_flagd("back", again);
	free(again);
	flagd_agrees("back", path, 10);
}

Test(migrate, every_flag_of_flagds_testbed_imports)
{
	/* flagd-testbed is read in place from ../shared/conformance, which a
	 * checkout elsewhere may not have (cmake -DVX_CONFORMANCE_DIR=...). */
	if (access(VX_FLAGD_TESTKIT, R_OK) != 0)
		cr_skip_test("flagd-testbed not found at %s", VX_FLAGD_TESTKIT);
	char *text = slurp(VX_FLAGD_TESTKIT);
	Vexil__V1__ImportRequest *in;
	vx_mig_report rep = {NULL, 0};
	char err[256];
	bool ref = false, nodefault = false, var = false;

	cr_assert(vx_mig_flagd_read(
	              text, strlen(text), "production", &in, &rep, err, sizeof(err)) == 0,
	    "%s", err);
	free(text);
	cr_expect_eq(rep.n, 0, "%zu lines, first: %s", rep.n, rep.n ? rep.lines[0] : "");
	vx_mig_report_fini(&rep);
	/* A $ref to a missing evaluator keeps its flag, answering
	 * PARSE_ERROR; a flag without a defaultVariant answers the caller's
	 * default; a fractional whose variant name is {"var": "color"} is a
	 * split per variant behind color equals it, then one with the
	 * default variant where color names none. */
	cr_expect_eq(in->n_flags, 60);
	for (size_t i = 0; i < in->n_flags; i++) {
		const Vexil__V1__Flag *f = in->flags[i];
		if (strcmp(f->key, "ref-to-nonexistent-evaluator-flag") == 0)
			ref = strstr(f->parse_error, "nonexistent_evaluator") != NULL &&
			      f->envs[0]->n_rules == 0;
		if (strcmp(f->key, "undefined-default-flag") == 0)
			nodefault = f->no_default_variant;
		if (strcmp(f->key, "fractional-nested-var-flag") != 0)
			continue;
		const Vexil__V1__FlagEnvConfig *e = f->envs[0];
		cr_assert_eq(e->n_rules, f->n_variants + 1);
		var = true;
		for (size_t k = 0; k < e->n_rules; k++) {
			const Vexil__V1__Rule *ru = e->rules[k];
			const char *first =
			    k < f->n_variants ? f->variants[k]->key : "fallback";
			cr_expect_eq(ru->n_conditions, k < f->n_variants ? 1u : 0u);
			if (k < f->n_variants) {
				cr_expect_str_eq(ru->conditions[0]->attribute, "color");
				cr_expect_str_eq(ru->conditions[0]->values[0], first);
			}
			cr_assert_eq(ru->n_split, 2);
			cr_expect_str_eq(ru->split[0]->variant, first);
			cr_expect_str_eq(ru->split[1]->variant, "blue");
			cr_expect_str_eq(ru->split_bucketing, "flagd");
			cr_expect_str_eq(ru->split_stickiness, "user_id");
		}
	}
	cr_expect(ref, "the $ref flag is not kept with its parse error");
	cr_expect(nodefault, "undefined-default-flag has a default variant");
	cr_expect(var, "fractional-nested-var-flag is not imported");
	protobuf_c_message_free_unpacked(&in->base, NULL);
}

Test(migrate, a_flagd_sem_ver_does_not_export_to_unleash_which_reads_versions_strictly)
{
	static const char file[] =
	    "{\"flags\": {\"v\": {\"state\": \"ENABLED\", \"defaultVariant\": \"no\","
	    " \"variants\": {\"yes\": true, \"no\": false}, \"targeting\": {\"if\": ["
	    "  {\"sem_ver\": [{\"var\": \"version\"}, \">\", \"v1.2\"]}, \"yes\"]}}}}";
	Vexil__V1__ExportRequest in = VEXIL__V1__EXPORT_REQUEST__INIT;
	Vexil__V1__ExportReply *out;
	vx_mig_report rep = {NULL, 0};
	vx_status st;

	make_project("fd");
	import_flagd("fd", file);
	in.project = "fd";
	cr_assert(vx_export(h.admin, &in, &out, &st) == 0, "%s", st.message);
	/* The flag's version was read as flagd reads it. */
	for (size_t i = 0; i < out->flags[0]->n_envs; i++) {
		const Vexil__V1__FlagEnvConfig *e = out->flags[0]->envs[i];
		if (strcmp(e->environment, "production") == 0)
			cr_expect_str_eq(e->rules[0]->conditions[0]->values[0], "1.2.0");
	}
	free(vx_mig_unleash_write(out, "production", "fd", &rep));
	vx_free(out);
	cr_assert_eq(rep.n, 1);
	cr_expect(strstr(rep.lines[0], "flag v: ") && strstr(rep.lines[0], "flagd"), "%s",
	    rep.lines[0]);
	vx_mig_report_fini(&rep);
}

/*
 * flagd-testbed's evaluator suite (../shared/conformance, read in place):
 * testkit-flags.json imported with `vexilctl import --format flagd` into a
 * project, every scenario but @fractional-v1 run through OFREP on the
 * gateway, and through flagd-core as a cross-check, by
 * web/tests/flagd-testbed.mjs, which parses the feature files.
 */
Test(migrate, flagds_evaluator_suite_passes_through_a_flagd_import_and_ofrep)
{
	char dir[512], out[4096], cmd[2048];
	Vexil__V1__CreateSdkKeyRequest kin = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *key;
	int ofrep = 0, flagd = 0, total = 0;
	const cJSON *sc;
	vx_gateway g;
	vx_status st;
	cJSON *res;

	if (access(VX_FLAGD_TESTKIT, R_OK) != 0)
		cr_skip_test("flagd-testbed not found at %s", VX_FLAGD_TESTKIT);
	vx_harness_need_node(VX_WEB_DIR,
	    (const char *const[]){"@openfeature/flagd-core", "@openfeature/server-sdk",
	        "@openfeature/ofrep-provider"},
	    3);
	/* .../evaluator/flags/testkit-flags.json -> .../evaluator/gherkin */
	snprintf(dir, sizeof(dir), "%s", VX_FLAGD_TESTKIT);
	*strrchr(dir, '/') = '\0';
	*strrchr(dir, '/') = '\0';
	strcat(dir, "/gherkin");

	/* Every flag imports (the report of a refused one would fail the
	 * import). */
	make_project("tk");
	cr_assert_eq(vx_harness_ctl(&h, out, sizeof(out),
	                 "import --format flagd %s --project tk --env production",
	                 VX_FLAGD_TESTKIT),
	    0, "%s", out);
	kin.project = "tk";
	kin.environment = "production";
	cr_assert(vx_create_sdk_key(h.admin, &kin, &key, &st) == 0, "%s", st.message);
	vx_gateway_start(&g, &h, NULL, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "node %s/tests/flagd-testbed.mjs '%s' '%s' '%s' '%s'",
	    VX_WEB_DIR, dir, VX_FLAGD_TESTKIT, g.base, key->secret);
	vx_free(key);
	res = node_json(cmd);
	cJSON_ArrayForEach(sc, cJSON_GetObjectItem(res, "scenarios"))
	{
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(sc, "name"));
		const cJSON *o = cJSON_GetObjectItem(sc, "ofrep");
		const cJSON *fd = cJSON_GetObjectItem(sc, "flagd");

		total++;
		ofrep += cJSON_IsNull(o);
		flagd += cJSON_IsNull(fd);
		cr_expect(
		    cJSON_IsNull(o), "OFREP: %s: %s", name, cJSON_GetStringValue(o));
		cr_expect(cJSON_IsNull(fd), "flagd-core: %s: %s", name,
		    cJSON_GetStringValue(fd));
	}
	cJSON_Delete(res);
	fprintf(stderr,
	    "flagd-testbed: %d scenarios, %d pass through OFREP, %d through "
	    "flagd-core\n",
	    total, ofrep, flagd);
	/* 140 scenarios less the 15 @fractional-v1 ones. */
	cr_expect_eq(total, 125);
}

/*
 * The gateway as a flagd sync source: the file it serves is what flagd
 * evaluates as Vexil does, its ETag answers 304 until the project
 * changes, and a flag flagd cannot express is left out of it.
 */
Test(migrate, the_gateway_serves_a_flagd_sync_file_that_flagd_evaluates_as_vexil)
{
	Vexil__V1__CreateSdkKeyRequest kin = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *key;
	Vexil__V1__ImportReply *ir;
	vx_gateway g;
	vx_status st;
	char *text = slurp(VX_TESTS_DIR "/migrate/flagd-flags.json"), path[300],
	     auth[200];
	const char *hdr[3] = {auth, NULL, NULL};
	vx_http_res res, again;
	FILE *f;

	make_project("fd");
	import_flagd("fd", text);
	free(text);
	/* Unleash's hashing in a rollout: flagd cannot express it. */
	cr_assert(import_text(h.admin, "fd",
	              "{\"vexil\": 1, \"flags\": [{\"key\": \"unleashy\", \"envs\": [{"
	              "\"environment\": \"production\", \"enabled\": true,"
	              " \"rollout_percentage\": 30}]}]}",
	              false, &ir, &st) == 0,
	    "%s", st.message);
	vx_free(ir);
	kin.project = "fd";
	kin.environment = "production";
	cr_assert(vx_create_sdk_key(h.admin, &kin, &key, &st) == 0, "%s", st.message);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key->secret);
	vx_free(key);
	vx_gateway_start(&g, &h, NULL, NULL, NULL);

	res = vx_http(&(vx_http_req){.method = "GET",
	    .url = vx_fmt("%s/flagd/v1/fd/production.json", g.base),
	    .headers = hdr});
	cr_assert_eq(res.status, 200, "%s", res.body);
	cr_assert_not_null(res.json, "%s", res.body);
	cr_expect(cJSON_HasObjectItem(cJSON_GetObjectItem(res.json, "flags"), "color"));
	cr_expect(
	    !cJSON_HasObjectItem(cJSON_GetObjectItem(res.json, "flags"), "unleashy"),
	    "a flag flagd cannot express was served");
	cr_assert_neq(res.etag[0], '\0');
	snprintf(path, sizeof(path), "%s/synced.json", h.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(res.body, f);
	fclose(f);
	flagd_agrees("fd", path, 21);

	hdr[1] = vx_fmt("If-None-Match: %s", res.etag);
	again = vx_http(&(vx_http_req){.method = "GET",
	    .url = vx_fmt("%s/flagd/v1/fd/production.json", g.base),
	    .headers = hdr});
	cr_expect_eq(again.status, 304);
	vx_http_res_free(&again);
	/* Without a key: 401; a file that is not an environment's: 404. */
	again = vx_http(&(vx_http_req){
	    .method = "GET", .url = vx_fmt("%s/flagd/v1/fd/production.json", g.base)});
	cr_expect_eq(again.status, 401);
	vx_http_res_free(&again);
	hdr[1] = NULL;
	again = vx_http(&(vx_http_req){.method = "GET",
	    .url = vx_fmt("%s/flagd/v1/fd/production.yaml", g.base),
	    .headers = hdr});
	cr_expect_eq(again.status, 404);
	vx_http_res_free(&again);
	vx_http_res_free(&res);
	cr_expect_eq(vx_gateway_stop(&g), 0);
}

/* The flagd file imported into a new project's production environment
 * and a gateway started; auth is the environment's SDK key as a header. */
static void
flagd_behind_gateway(
    const char *project, const char *file, vx_gateway *g, char *auth, size_t cap)
{
	Vexil__V1__CreateSdkKeyRequest kin = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *key;
	vx_status st;

	make_project(project);
	import_flagd(project, file);
	kin.project = (char *)project;
	kin.environment = "production";
	cr_assert(vx_create_sdk_key(h.admin, &kin, &key, &st) == 0, "%s", st.message);
	snprintf(auth, cap, "Authorization: Bearer %s", key->secret);
	vx_free(key);
	vx_gateway_start(g, &h, NULL, NULL, NULL);
}

/* POST /ofrep/v1/evaluate/flags/{flag} with {"context": ctx}. */
static vx_http_res
ofrep_eval(const vx_gateway *g, const char *auth, const char *flag, const char *ctx)
{
	const char *hdr[3] = {auth, "Content-Type: application/json", NULL};

	return vx_http(&(vx_http_req){.method = "POST",
	    .url = vx_fmt("%s/ofrep/v1/evaluate/flags/%s", g->base, flag),
	    .headers = hdr,
	    .body = vx_fmt("{\"context\": %s}", ctx)});
}

/* The flagd file's one flag is refused, with one report line that begins
 * with `line`. */
static void
expect_flagd_refused(const char *file, const char *line)
{
	Vexil__V1__ImportRequest *in;
	vx_mig_report rep = {NULL, 0};
	char err[256];

	cr_assert(vx_mig_flagd_read(
	              file, strlen(file), "production", &in, &rep, err, sizeof(err)) == 0,
	    "%s", err);
	cr_expect_eq(in->n_flags, 0);
	protobuf_c_message_free_unpacked(&in->base, NULL);
	cr_assert_eq(rep.n, 1, "%zu lines", rep.n);
	cr_expect(strncmp(rep.lines[0], line, strlen(line)) == 0, "%s", rep.lines[0]);
	vx_mig_report_fini(&rep);
}

/*
 * A fractional entry whose variant name is {"var": "color"}: the user's
 * bucket is the same whatever color says; color names the variant there,
 * and where it names none (or is missing) the default variant stands in
 * (flagd: an error, or DEFAULT). Without a targeting key nothing buckets:
 * DEFAULT, as flagd answers. Too large an expansion, or no default
 * variant to stand in, is refused by name.
 */
Test(migrate, a_fractional_variant_name_read_from_the_context_serves_the_variant_it_names)
{
	static const char file[] =
	    "{\"flags\": {\"paint\": {\"state\": \"ENABLED\", \"defaultVariant\": "
	    "\"grey\", \"variants\": {\"red\": \"r\", \"green\": \"g\", \"grey\": "
	    "\"-\"}, \"targeting\": {\"fractional\": [[{\"var\": \"color\"}, 1], "
	    "[\"grey\", 0]]}}}}";
	static const char *const cases[][3] = {
	    {"{\"targetingKey\": \"u1\", \"color\": \"red\"}", "\"r\"",
	        "TARGETING_MATCH"},
	    {"{\"targetingKey\": \"u2\", \"color\": \"green\"}", "\"g\"",
	        "TARGETING_MATCH"},
	    {"{\"targetingKey\": \"u1\", \"color\": \"blue\"}", "\"-\"",
	        "TARGETING_MATCH"},
	    {"{\"targetingKey\": \"u1\"}", "\"-\"", "TARGETING_MATCH"},
	    {"{\"color\": \"red\"}", "\"-\"", "DEFAULT"},
	};
	char auth[200];
	vx_gateway g;

	flagd_behind_gateway("pa", file, &g, auth, sizeof(auth));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vx_http_res res = ofrep_eval(&g, auth, "paint", cases[i][0]);
		char *value = res.json ? cJSON_PrintUnformatted(
		                             cJSON_GetObjectItem(res.json, "value"))
		                       : NULL;
		cr_expect_eq(res.status, 200, "%s: %s", cases[i][0], res.body);
		cr_expect(value && strcmp(value, cases[i][1]) == 0, "%s: %s", cases[i][0],
		    res.body);
		cr_expect_str_eq(
		    cJSON_GetStringValue(cJSON_GetObjectItem(res.json, "reason")),
		    cases[i][2], "%s: %s", cases[i][0], res.body);
		free(value);
		vx_http_res_free(&res);
	}
	cr_expect_eq(vx_gateway_stop(&g), 0);

	/* 8 variants and two var-named entries: 81 splits. No defaultVariant:
	 * nothing to serve where the name is no variant. */
	static const char *const refused[][2] = {
	    {"{\"flags\": {\"big\": {\"state\": \"ENABLED\", \"defaultVariant\": "
	     "\"a\", \"variants\": {\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4, \"e\": "
	     "5, \"f\": 6, \"g\": 7, \"h\": 8}, \"targeting\": {\"fractional\": "
	     "[[{\"var\": \"x\"}, 1], [{\"var\": \"y\"}, 1]]}}}}",
	        "flag big: fractional variant names read from the context that "
	        "expand to over 64 splits"},
	    {"{\"flags\": {\"nodef\": {\"state\": \"ENABLED\", \"variants\": "
	     "{\"a\": 1, \"b\": 2}, \"targeting\": {\"fractional\": [[{\"var\": "
	     "\"x\"}, 1], [\"b\", 1]]}}}}",
	        "flag nodef: a fractional variant name read from the context (var x) "
	        "in a flag without defaultVariant"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		expect_flagd_refused(refused[i][0], refused[i][1]);
}

/* A flagd flag of n if-levels, each testing x against its level, with
 * "v<level>" on match and "none" at the bottom; or, with wide, one if
 * of n condition/variant pairs. */
static char *
if_chain(int n, bool wide)
{
	size_t cap = 200 + (size_t)n * 120, len;
	char *out = malloc(cap);
	int i;

	cr_assert_not_null(out);
	len = (size_t)snprintf(out, cap,
	    "{\"flags\": {\"deep\": {\"state\": \"ENABLED\", \"defaultVariant\": "
	    "\"none\", \"variants\": {\"none\": \"-\"");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, cap - len, ", \"v%d\": \"%d\"", i, i);
	len += (size_t)snprintf(
	    out + len, cap - len, "}, \"targeting\": %s", wide ? "{\"if\": [" : "");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, cap - len,
		    "%s{\"==\": [{\"var\": \"x\"}, %d]}, \"v%d\", ",
		    wide ? "" : "{\"if\": [", i, i);
	len += (size_t)snprintf(out + len, cap - len, "\"none\"");
	for (i = 0; i < (wide ? 1 : n); i++)
		len += (size_t)snprintf(out + len, cap - len, "]}");
	snprintf(out + len, cap - len, "}}}");
	return out;
}

/*
 * flagd targeting is bounded by its nesting, not by its breadth: an if
 * of 90 branches is imported whole and its last branch serves, while
 * ifs nested 65 deep, or a $ref chain of 17, are refused by name.
 */
Test(migrate, a_wide_flagd_if_is_imported_and_only_deep_nesting_is_refused)
{
	char auth[200], *file = if_chain(90, true);
	vx_gateway g;

	flagd_behind_gateway("wide", file, &g, auth, sizeof(auth));
	free(file);
	for (int x = 0; x <= 90; x += 30) {
		vx_http_res res = ofrep_eval(&g, auth, "deep", vx_fmt("{\"x\": %d}", x));
		const char *want =
		    x < 90 ? vx_fmt("\"value\":\"%d\"", x) : "\"value\":\"-\"";
		cr_expect_eq(res.status, 200, "x=%d: %s", x, res.body);
		cr_expect(strstr(res.body, want) != NULL, "x=%d: wanted %s in %s", x,
		    want, res.body);
		vx_http_res_free(&res);
	}
	cr_expect_eq(vx_gateway_stop(&g), 0);

	/* 63 nested ifs put the bottom variant 64 deep: the bound itself. */
	file = if_chain(63, false);
	make_project("deep");
	import_flagd("deep", file);
	free(file);

	char *refs = malloc(4096);
	size_t len = (size_t)snprintf(refs, 4096, "{\"$evaluators\": {");
	for (int i = 0; i < 17; i++)
		len += (size_t)snprintf(
		    refs + len, 4096 - len, "\"e%d\": {\"$ref\": \"e%d\"}, ", i, i + 1);
	snprintf(refs + len, 4096 - len,
	    "\"e17\": {\"==\": [{\"var\": \"x\"}, 1]}}, \"flags\": {\"deep\": "
	    "{\"state\": \"ENABLED\", \"defaultVariant\": \"a\", \"variants\": "
	    "{\"a\": 1, \"b\": 2}, \"targeting\": {\"if\": [{\"$ref\": \"e0\"}, "
	    "\"b\", \"a\"]}}}}");
	char *const refused[][2] = {
	    {if_chain(64, false), "flag deep: targeting nested over 64 deep"},
	    {refs, "flag deep: a $ref chain over 16 long"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		expect_flagd_refused(refused[i][0], refused[i][1]);
		free(refused[i][0]);
	}
}

/* A flagd float variant (1.0, 0.0) keeps its text through the import,
 * vexild, the gateway's OFREP answer and the export back to flagd, so a
 * typed SDK reads a float; an integer stays an integer. */
Test(migrate, a_flagd_float_variant_is_served_as_a_float_and_an_integer_as_an_integer)
{
	static const char file[] =
	    "{\"flags\": {"
	    " \"float-one\": {\"state\": \"ENABLED\", \"defaultVariant\": \"one\","
	    "  \"variants\": {\"one\": 1.0, \"int\": 1}},"
	    " \"int-one\": {\"state\": \"ENABLED\", \"defaultVariant\": \"int\","
	    "  \"variants\": {\"one\": 1.0, \"int\": 1}},"
	    " \"float-zero\": {\"state\": \"ENABLED\", \"defaultVariant\": \"zero\","
	    "  \"variants\": {\"zero\": 0.0, \"big\": -2.50e3},"
	    "  \"targeting\": {\"if\": [{\"==\": [{\"var\": \"size\"}, \"big\"]},"
	    "   \"big\", \"zero\"]}}}}";
	static const char *const cases[][3] = {
	    {"float-one", "{}", "1.0"},
	    {"int-one", "{}", "1"},
	    {"float-zero", "{}", "0.0"},
	    {"float-zero", "{\"size\": \"big\"}", "-2.50e3"},
	};
	char auth[200], want[64], *text;
	vx_gateway g;

	flagd_behind_gateway("fl", file, &g, auth, sizeof(auth));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vx_http_res res = ofrep_eval(&g, auth, cases[i][0], cases[i][1]);
		snprintf(want, sizeof(want), "\"value\":%s,", cases[i][2]);
		cr_expect_eq(res.status, 200, "%s: %s", cases[i][0], res.body);
		cr_expect(strstr(res.body, want) != NULL, "%s %s: wanted %s in %s",
		    cases[i][0], cases[i][1], want, res.body);
		vx_http_res_free(&res);
	}
	cr_expect_eq(vx_gateway_stop(&g), 0);

	/* Exported back to flagd, the variants are written as they came. */
	text = slurp(export_flagd("fl"));
	size_t n = 0;
	for (size_t k = 0; text[k]; k++)
		if (strchr(" \t\r\n", text[k]) == NULL)
			text[n++] = text[k];
	text[n] = '\0';
	cr_expect(
	    strstr(text, "\"variants\":{\"one\":1.0,\"int\":1}") != NULL, "%s", text);
	cr_expect(strstr(text, "\"variants\":{\"zero\":0.0,\"big\":-2.50e3}") != NULL,
	    "%s", text);
	free(text);
}

/*
 * Unleash's Node SDK, pointed at the gateway's /api/client/features with
 * an SDK key of the environment as Unleash SDKs send it, answers what
 * Vexil answers on every randomized context.
 */
Test(migrate, the_unleash_sdk_fetching_from_the_gateway_answers_as_vexil)
{
	Vexil__V1__CreateSdkKeyRequest kin = VEXIL__V1__CREATE_SDK_KEY_REQUEST__INIT;
	Vexil__V1__CreatedSdkKey *key;
	char *text = slurp(VX_TESTS_DIR "/migrate/unleash-oracle.json"), auth[200];
	const char *hdr[3] = {auth, NULL, NULL};
	vx_http_res res, again;
	vx_gateway g;
	vx_status st;

	make_project("un");
	import_unleash("un", text);
	free(text);
	kin.project = "un";
	kin.environment = "production";
	cr_assert(vx_create_sdk_key(h.admin, &kin, &key, &st) == 0, "%s", st.message);
	snprintf(oracle_key, sizeof(oracle_key), "%s", key->secret);
	snprintf(auth, sizeof(auth), "Authorization: %s", key->secret);
	vx_free(key);
	vx_gateway_start(&g, &h, NULL, NULL, NULL);

	res = vx_http(&(vx_http_req){.method = "GET",
	    .url = vx_fmt("%s/api/client/features?namePrefix=new-", g.base),
	    .headers = hdr});
	cr_assert_eq(res.status, 200, "%s", res.body);
	cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(res.json, "features")), 1,
	    "%s", res.body);
	hdr[1] = vx_fmt("If-None-Match: %s", res.etag);
	again = vx_http(&(vx_http_req){.method = "GET",
	    .url = vx_fmt("%s/api/client/features?namePrefix=new-", g.base),
	    .headers = hdr});
	cr_expect_eq(again.status, 304);
	vx_http_res_free(&again);
	vx_http_res_free(&res);

	cr_expect_gt(sdk_agrees("un", vx_fmt("%s/api/", g.base), 13), 0);
	cr_expect_eq(vx_gateway_stop(&g), 0);
}
