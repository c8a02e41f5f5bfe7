/*
 * Vexil — a service's options from its environment: see envopts.h.
 */
#include "common/envopts.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
vx_envopts_name(char *out, size_t cap, const char *option)
{
	size_t n = 0;

	if (cap == 0)
		return;
	for (const char *p = "VEXIL_"; *p && n + 1 < cap; p++)
		out[n++] = *p;
	for (const char *p = option; *p && *p != '=' && n + 1 < cap; p++)
		out[n++] = *p == '-'                  ? '_'
		           : (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A')
		                                      : *p;
	out[n] = '\0';
}

/* The last line built, freed at exit: a binary parses it once, and its
 * options may point into it for as long as the process runs. */
static char **built;

static void
free_built(void)
{
	free(built);
	built = NULL;
}

static bool
truthy(const char *v)
{
	return strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0 &&
	       strcasecmp(v, "no") != 0 && strcasecmp(v, "off") != 0;
}

int
vx_envopts_argv(const char *spec, int argc, char **argv, int *out_argc, char ***out_argv)
{
	size_t nopts = 0, names = 0;
	char **av, *text;
	int n = 0;

	/* One block: the pointers, then the "--NAME" strings. */
	for (const char *p = spec; *p; p++)
		if (*p != ' ' && (p == spec || p[-1] == ' '))
			nopts++;
	names = strlen(spec) + 3 * nopts + 1;
	av = malloc((size_t)(argc + 1) * sizeof(*av) + 2 * nopts * sizeof(*av) + names);
	if (av == NULL)
		return VX_ENOMEM;
	text = (char *)(av + argc + 1 + 2 * nopts);
	av[n++] = argc > 0 ? argv[0] : "";
	for (const char *p = spec; *p;) {
		size_t len = strcspn(p, " ");
		bool value = len > 0 && p[len - 1] == '=';
		char var[128], *name = text;
		const char *v;

		if (len == 0) {
			p++;
			continue;
		}
		text += 2 + (value ? len - 1 : len) + 1;
		memcpy(name, "--", 2);
		memcpy(name + 2, p, value ? len - 1 : len);
		name[2 + (value ? len - 1 : len)] = '\0';
		vx_envopts_name(var, sizeof(var), name + 2);
		v = getenv(var);
		if (v != NULL && *v != '\0') {
			if (value) {
				av[n++] = name;
				av[n++] = (char *)v;
			} else if (truthy(v)) {
				av[n++] = name;
			}
		}
		p += len;
	}
	for (int i = 1; i < argc; i++)
		av[n++] = argv[i];
	av[n] = NULL;
	if (built == NULL)
		atexit(free_built);
	free(built);
	built = av;
	*out_argc = n;
	*out_argv = av;
	return 0;
}
