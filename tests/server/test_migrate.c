/*
 * Vexil integration tests: AdminService/Import and Export, and the vexil
 * project file (src/migrate), over the wire.
 *
 * An import is all or nothing and one revision; a watcher that was behind
 * it gets a snapshot; a file exported, imported elsewhere and exported
 * again is the same file byte for byte; evaluation agrees before and after.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "migrate/migrate.h"

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

static uint64_t
revision(const char *project)
{
	Vexil__V1__GetProjectRequest in = VEXIL__V1__GET_PROJECT_REQUEST__INIT;
	Vexil__V1__Project *p;
	vx_status st;
	uint64_t rev;

	in.project = (char *)project;
	cr_assert(vx_get_project(h.admin, &in, &p, &st) == 0, "%s", st.message);
	rev = p->revision;
	vx_free(p);
	return rev;
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
	before = revision("src");
	cr_assert(import_text(h.admin, "src", fixture, false, &r, &st) == 0, "%s",
	    st.message);
	cr_expect_eq(r->revision, before + 1);
	cr_expect_eq(revision("src"), before + 1);
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
	before = revision("src");
	cr_assert(import_text(h.admin, "src", bad, false, &r, &st) != 0);
	cr_expect_eq(st.code, VEXIL__V1__CODE__INVALID_ARGUMENT);
	cr_expect(strstr(st.message, "flag broken") != NULL, "%s", st.message);
	cr_expect(strncmp(st.field, "flags[1].", 9) == 0, "%s", st.field);
	cr_expect_eq(revision("src"), before);
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
	before = revision("src");
	cr_assert(import_text(h.admin, "src", fixture, true, &r, &st) == 0, "%s",
	    st.message);
	cr_expect(r->dry_run);
	cr_expect_eq(r->flags_created, 2);
	cr_expect_eq(r->revision, before);
	vx_free(r);
	cr_expect_eq(revision("src"), before);
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
	before = revision("src");
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
