/*
 * Vexil — vexilctl import and export: project files through
 * AdminService/Import and Export (docs/migrate.md).
 *
 * The file is translated here (src/migrate), so vexild sees only the
 * model. A file the translation cannot express in full is refused before
 * anything is sent, with one line per flag and construct on stderr; a file
 * that translates is sent as one Import call, which vexild checks and
 * writes in one transaction (or, with --dry-run, checks and aborts).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "migrate/migrate.h"

/* A file is read whole; larger ones do not fit an Import call anyway. */
#define FILE_MAX (256u << 20)

enum format { FMT_VEXIL, FMT_UNLEASH, FMT_FLAGD };

static int
parse_format(const struct args *a, enum format *out)
{
	const char *f = opt(a, "format");

	if (f == NULL) {
		fprintf(
		    stderr, "vexilctl: --format is required (vexil, unleash, flagd)\n");
		return -1;
	}
	if (strcmp(f, "vexil") == 0) {
		*out = FMT_VEXIL;
		if (opt(a, "env") != NULL) {
			fprintf(stderr,
			    "vexilctl: --env does not apply to --format vexil, "
			    "whose file holds every environment\n");
			return -1;
		}
		return 0;
	}
	if (strcmp(f, "unleash") == 0 || strcmp(f, "flagd") == 0) {
		*out = f[0] == 'u' ? FMT_UNLEASH : FMT_FLAGD;
		if (opt(a, "env") == NULL) {
			fprintf(stderr,
			    "vexilctl: --format %s needs --env E: its file holds one "
			    "environment\n",
			    f);
			return -1;
		}
		return 0;
	}
	fprintf(
	    stderr, "vexilctl: --format %s is not a format (vexil, unleash, flagd)\n", f);
	return -1;
}

/* The whole of path ("-": stdin), NUL-terminated; NULL after a message. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL, *bigger;
	size_t n = 0, cap = 0, got;

	if (f == NULL) {
		fprintf(stderr, "vexilctl: cannot read %s: %s\n", path, strerror(errno));
		return NULL;
	}
	do {
		if (n + 1 >= cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > FILE_MAX + 1 || (bigger = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "vexilctl: %s is too large\n", path);
				goto fail;
			}
			buf = bigger;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		fprintf(stderr, "vexilctl: cannot read %s: %s\n", path, strerror(errno));
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	if (f != stdin)
		fclose(f);
	free(buf);
	return NULL;
}

static void
print_plan(const Vexil__V1__ImportReply *r, size_t nflags)
{
	printf("%s %zu flags: %u new, %u replaced; segments: %u new, %u replaced; "
	       "environments: %u new; %s revision %llu\n",
	    r->dry_run ? "would import" : "imported", nflags, r->flags_created,
	    r->flags_replaced, r->segments_created, r->segments_replaced,
	    r->environments_created, r->dry_run ? "project stays at" : "project now at",
	    (unsigned long long)r->revision);
}

int
cmd_import(struct cli *s, struct args *a)
{
	Vexil__V1__ImportRequest *in = NULL;
	Vexil__V1__ImportReply *out;
	vx_mig_report report = {NULL, 0};
	enum format fmt;
	vx_status st;
	char *text, err[512];
	size_t len;
	int rc = 2;

	if (parse_format(a, &fmt) != 0 || need_pos(a, 1, "FILE") != 0)
		return 2;
	if ((text = slurp(a->pos[0], &len)) == NULL)
		return 1;
	switch (fmt) {
	case FMT_VEXIL: rc = vx_mig_vexil_read(text, len, &in, err, sizeof(err)); break;
	case FMT_UNLEASH:
		rc = vx_mig_unleash_read(
		    text, len, opt(a, "env"), &in, &report, err, sizeof(err));
		break;
	case FMT_FLAGD:
		rc = vx_mig_flagd_read(
		    text, len, opt(a, "env"), &in, &report, err, sizeof(err));
		break;
	}
	free(text);
	if (rc != 0) {
		fprintf(stderr, "vexilctl: %s is not a %s file: %s\n", a->pos[0],
		    opt(a, "format"), rc == VX_ENOMEM ? "out of memory" : err);
		rc = 1;
		goto out;
	}
	if (report.n > 0) {
		for (size_t i = 0; i < report.n; i++)
			fprintf(stderr, "%s\n", report.lines[i]);
		fprintf(stderr,
		    "vexilctl: refused: %zu construct%s of %s cannot be expressed "
		    "in Vexil; nothing was imported\n",
		    report.n, report.n == 1 ? "" : "s", a->pos[0]);
		rc = 1;
		goto out;
	}
	in->project = (char *)(opt(a, "project") ? opt(a, "project") : "");
	in->dry_run = opt(a, "dry-run") != NULL;
	if (vx_import(s->c, in, &out, &st) != 0) {
		rc = fail(&st);
		goto out;
	}
	if (!a->json)
		print_plan(out, in->n_flags);
	rc = done(a, out, NULL);
out:
	/* project points at argv, not at the message's own memory. */
	if (in != NULL)
		in->project = NULL;
	if (in != NULL)
		protobuf_c_message_free_unpacked(&in->base, NULL);
	vx_mig_report_fini(&report);
	return rc;
}

int
cmd_export(struct cli *s, struct args *a)
{
	Vexil__V1__ExportRequest in = VEXIL__V1__EXPORT_REQUEST__INIT;
	Vexil__V1__ExportReply *out;
	vx_mig_report report = {NULL, 0};
	enum format fmt;
	vx_status st;
	char *text = NULL;
	FILE *f;
	int rc = 1;

	if (parse_format(a, &fmt) != 0 || need_pos(a, 1, "FILE") != 0)
		return 2;
	in.project = (char *)(opt(a, "project") ? opt(a, "project") : "");
	if (vx_export(s->c, &in, &out, &st) != 0)
		return fail(&st);
	switch (fmt) {
	case FMT_VEXIL: text = vx_mig_vexil_write(out); break;
	case FMT_UNLEASH:
		text = vx_mig_unleash_write(
		    out, opt(a, "env"), out->project->name, &report);
		break;
	case FMT_FLAGD:
		text = vx_mig_flagd_write(out, opt(a, "env"), &report);
		break;
	}
	vx_free(out);
	if (text == NULL) {
		fprintf(stderr, "vexilctl: out of memory\n");
		vx_mig_report_fini(&report);
		return 1;
	}
	if (report.n > 0) {
		for (size_t i = 0; i < report.n; i++)
			fprintf(stderr, "%s\n", report.lines[i]);
		fprintf(stderr,
		    "vexilctl: refused: %zu construct%s cannot be expressed in "
		    "%s; nothing was written\n",
		    report.n, report.n == 1 ? "" : "s", opt(a, "format"));
		vx_mig_report_fini(&report);
		free(text);
		return 1;
	}
	f = strcmp(a->pos[0], "-") == 0 ? stdout : fopen(a->pos[0], "wb");
	if (f == NULL) {
		fprintf(stderr, "vexilctl: cannot write %s: %s\n", a->pos[0],
		    strerror(errno));
	} else if (fputs(text, f) == EOF || (f != stdout && fclose(f) != 0) ||
	           (f == stdout && fflush(f) != 0)) {
		fprintf(stderr, "vexilctl: cannot write %s: %s\n", a->pos[0],
		    strerror(errno));
	} else {
		rc = 0;
	}
	free(text);
	return rc;
}
