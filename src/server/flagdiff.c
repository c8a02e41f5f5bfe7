/*
 * Vexil — what a flag write changed, in words (flagdiff.h).
 *
 * Both functions write into a fixed buffer with a cap, as curl's dynbuf
 * does, then copy the result into the call's arena: a summary past its cap
 * is cut, never grown without end. Values are one line each: control
 * characters in names and descriptions print as spaces.
 */
#include "server/flagdiff.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SUMMARY_MAX 16384
#define DIFF_MAX 4096
#define VALUE_MAX 300

struct buf {
	char *p;
	size_t n, cap;
};

static void
put(struct buf *b, const char *fmt, ...) VX_PRINTF(2, 3);

static void
put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (b->n + 1 >= b->cap)
		return;
	va_start(ap, fmt);
	k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	b->n += (size_t)k < b->cap - b->n ? (size_t)k : b->cap - b->n - 1;
}

/* Text as one line: control characters become spaces. */
static void
put_text(struct buf *b, const char *s)
{
	for (; *s && b->n + 1 < b->cap; s++)
		b->p[b->n++] = (unsigned char)*s < 0x20 ? ' ' : *s;
	b->p[b->n] = '\0';
}

static void
put_list(struct buf *b, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			put(b, ", ");
		put_text(b, v[i]);
	}
	if (n == 0)
		put(b, "(none)");
}

static void
put_rule(struct buf *b, const Vexil__V1__Rule *r)
{
	put(b, "if ");
	for (size_t i = 0; i < r->n_conditions; i++) {
		const Vexil__V1__Condition *c = r->conditions[i];
		put(b, "%s%s%s", i ? " and " : "", c->missing ? "?" : "", c->negate ? "!" : "");
		put_text(b, c->attribute);
		put(b, " %s ", c->operator_);
		put_list(b, c->values, c->n_values);
	}
	for (size_t i = 0; i < r->n_segments; i++) {
		put(b, "%ssegment ", i || r->n_conditions ? " and " : "");
		put_text(b, r->segments[i]);
	}
	put(b, " then ");
	if (r->n_split > 0) {
		for (size_t i = 0; i < r->n_split; i++)
			put(b, "%s%s=%u", i ? "," : "", r->split[i]->variant, r->split[i]->weight);
		if (*r->split_stickiness) {
			put(b, " by ");
			put_text(b, r->split_stickiness);
		}
	} else
		put_text(b, r->variant);
	if (r->rollout)
		put(b, " (%u%%)", r->rollout->percentage);
	if (!r->enabled)
		put(b, " (disabled)");
}

char *
vx_flag_summary(vx_arena *a, const Vexil__V1__Flag *f)
{
	char text[SUMMARY_MAX];
	struct buf b = {text, 0, sizeof(text)};

	text[0] = '\0';
	put(&b, "name: ");
	put_text(&b, f->name);
	put(&b, "\ndescription: ");
	put_text(&b, f->description);
	put(&b, "\ntags: ");
	put_list(&b, f->tags, f->n_tags);
	put(&b, "\nvariants: ");
	for (size_t i = 0; i < f->n_variants; i++) {
		put(&b, "%s", i ? ", " : "");
		put_text(&b, f->variants[i]->key);
	}
	put(&b, "\n");
	for (size_t i = 0; i < f->n_envs; i++) {
		const Vexil__V1__FlagEnvConfig *e = f->envs[i];
		const char *k = e->environment;

		put(&b, "%s.enabled: %s\n", k, e->enabled ? "on" : "off");
		put(&b, "%s.rollout: %u%%\n", k, e->rollout_percentage);
		put(&b, "%s.serves: %s, else %s\n", k, *e->default_variant ? e->default_variant : "-",
		    *e->off_variant ? e->off_variant : "-");
		put(&b, "%s.rules: ", k);
		for (size_t r = 0; r < e->n_rules; r++) {
			put(&b, "%s", r ? "; " : "");
			put_rule(&b, e->rules[r]);
		}
		put(&b, "%s\n%s.prerequisites: ", e->n_rules ? "" : "(none)", k);
		for (size_t p = 0; p < e->n_prerequisites; p++) {
			put(&b, "%s", p ? ", " : "");
			put_text(&b, e->prerequisites[p]->flag_key);
			put(&b, " %s", e->prerequisites[p]->when_off ? "off" : "on");
		}
		put(&b, "%s\n", e->n_prerequisites ? "" : "(none)");
	}
	return vx_arena_strdup(a, text);
}

/* The line of text whose field (up to ": ") is the n bytes at field, its
 * value in *value and *len; false when there is none. */
static bool
find_field(const char *text, const char *field, size_t n, const char **value, size_t *len)
{
	for (const char *l = text; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t ll = end ? (size_t)(end - l) : strlen(l);

		if (ll >= n + 2 && memcmp(l, field, n) == 0 && l[n] == ':' && l[n + 1] == ' ') {
			*value = l + n + 2;
			*len = ll - n - 2;
			return true;
		}
		l = end ? end + 1 : NULL;
	}
	return false;
}

static void
put_value(struct buf *b, const char *v, size_t len)
{
	if (len > VALUE_MAX)
		put(b, "%.*s…", VALUE_MAX, v);
	else
		put(b, "%.*s", (int)len, v);
}

/* Lines of one side whose field the other lacks or (with both) differs. */
static void
diff_side(struct buf *b, const char *from, const char *to, bool removed)
{
	for (const char *l = from; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t ll = end ? (size_t)(end - l) : strlen(l);
		const char *colon = memchr(l, ':', ll), *ov = NULL;
		size_t n = colon ? (size_t)(colon - l) : 0, olen = 0;
		bool there = colon && find_field(to, l, n, &ov, &olen);

		if (colon && colon + 2 <= l + ll) {
			const char *v = colon + 2;
			size_t vlen = ll - n - 2;
			if (removed && !there) {
				put(b, "%.*s: ", (int)n, l);
				put_value(b, v, vlen);
				put(b, " → (none)\n");
			} else if (!removed && !there) {
				put(b, "%.*s: (none) → ", (int)n, l);
				put_value(b, v, vlen);
				put(b, "\n");
			} else if (!removed && (olen != vlen || memcmp(ov, v, vlen) != 0)) {
				put(b, "%.*s: ", (int)n, l);
				put_value(b, ov, olen);
				put(b, " → ");
				put_value(b, v, vlen);
				put(b, "\n");
			}
		}
		l = end ? end + 1 : NULL;
	}
}

char *
vx_flag_diff(vx_arena *a, const char *before, const char *after)
{
	char text[DIFF_MAX];
	struct buf b = {text, 0, sizeof(text)};

	text[0] = '\0';
	diff_side(&b, after, before, false);
	diff_side(&b, before, after, true);
	if (b.n > 0 && text[b.n - 1] == '\n')
		text[--b.n] = '\0';
	return vx_arena_strdup(a, text);
}
