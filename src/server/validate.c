/*
 * Vexil — input validation shared by every handler.
 *
 * Each check names the field and the rule it broke, so that every API
 * dialect can show a message that says what to fix.
 */
#include "server/server.h"

#include <string.h>

int
vx_check_key(vx_call *c, const char *field, const char *v, size_t max)
{
	size_t n = v ? strlen(v) : 0;

	if (n == 0)
		return vx_fail(c, VX_EINVAL, field, "required", "%s is required", field);
	if (n > max)
		return vx_fail(c, VX_EINVAL, field, "max_length",
		    "%s must be at most %zu characters", field, max);
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || (ch != '_' && ch != '-' && ch != '.')))
			return vx_fail(c, VX_EINVAL, field, "pattern",
			    "%s must start with a letter or digit and contain only "
			    "letters, digits, '_', '-' and '.'",
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
