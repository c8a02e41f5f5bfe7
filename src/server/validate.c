/*
 * Vexil — input validation shared by every handler.
 *
 * Each check names the field and the rule it broke, so that every API
 * dialect can show a message that says what to fix.
 */
#include "server/server.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/*
 * A key character: a letter or digit in any script (Unicode categories L*
 * and Nd), or after the first, a combining mark or '_', '-', '.'. No
 * spaces, slashes, punctuation or controls, so a key is one URL path
 * segment once percent-encoded and never needs quoting.
 */
static bool
key_char(utf8proc_int32_t cp, bool first)
{
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_ND: return true;
	case UTF8PROC_CATEGORY_MN:
	case UTF8PROC_CATEGORY_MC: return !first;
	default: return !first && (cp == '_' || cp == '-' || cp == '.');
	}
}

int
vx_check_key(vx_call *c, const char *field, const char *v, size_t max)
{
	size_t n = v ? strlen(v) : 0;
	bool ascii = true;

	if (n == 0)
		return vx_fail(c, VX_EINVAL, field, "required", "%s is required", field);
	if (n > max)
		return vx_fail(c, VX_EINVAL, field, "max_length",
		    "%s must be at most %zu characters", field, max);
	for (size_t i = 0; i < n;) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t len = utf8proc_iterate(
		    (const utf8proc_uint8_t *)v + i, (utf8proc_ssize_t)(n - i), &cp);

		if (len <= 0 || !key_char(cp, i == 0))
			return vx_fail(c, VX_EINVAL, field, "pattern",
			    "%s must start with a letter or digit and contain only "
			    "letters, digits, '_', '-' and '.'",
			    field);
		ascii = ascii && cp < 0x80;
		i += (size_t)len;
	}
	if (!ascii) {
		utf8proc_uint8_t *nfc = utf8proc_NFC((const utf8proc_uint8_t *)v);
		bool same = nfc != NULL && strcmp((const char *)nfc, v) == 0;

		free(nfc);
		if (!same)
			return vx_fail(c, VX_EINVAL, field, "nfc",
			    "%s must be in Unicode normalization form C (NFC), as keys "
			    "are "
			    "stored and compared",
			    field);
	}
	return 0;
}

int
vx_check_text(vx_call *c, const char *field, const char *v, size_t min, size_t max)
{
	size_t n = v ? strlen(v) : 0;

	if (n < min)
		return vx_fail(c, VX_EINVAL, field, "required", "%s is required", field);
	if (n > max)
		return vx_fail(c, VX_EINVAL, field, "max_length",
		    "%s must be at most %zu bytes", field, max);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch < 0x20 && ch != '\t' && ch != '\n')
			return vx_fail(c, VX_EINVAL, field, "printable",
			    "%s contains a control character", field);
	}
	return 0;
}

bool
vx_mask_has(char **mask, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(mask[i], name) == 0)
			return true;
	return false;
}

int
vx_check_mask(vx_call *c, char **mask, size_t n, const char *const *allowed)
{
	if (n == 0)
		return vx_fail(c, VX_EINVAL, "update_mask", "required",
		    "update_mask names no field to change");
	for (size_t i = 0; i < n; i++) {
		const char *const *a = allowed;
		while (*a && strcmp(*a, mask[i]) != 0)
			a++;
		if (*a == NULL)
			return vx_fail(c, VX_EINVAL, "update_mask", "enum",
			    "update_mask: %.64s is not a field that can be updated", mask[i]);
	}
	return 0;
}
