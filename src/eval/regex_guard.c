/*
 * regex_guard.c: refusing `matches` patterns that would exhaust the server.
 *
 * Anyone allowed to write a rule chooses the pattern, and glibc's regcomp()
 * expands repetitions into copies of the repeated sub-expression. A short
 * pattern can therefore make it allocate without bound. "a++++++++" doubles
 * the tree once per '+', and "((a{99}){99}){99}" makes a million copies.
 * Back-references (\1) also make matching exponential; they are a glibc
 * extension to ERE anyway. So before regcomp() sees a pattern, this file
 * walks it once and estimates how many nodes the expansion makes. A
 * repetition multiplies the size of what it repeats: by 2 for *, + and ?
 * (glibc copies the operand for +), and by the upper bound (or lower bound
 * + 1 when open) for {n,m}. Alternatives add up. The estimate is
 * conservative and saturates, so it cannot overflow. Syntax errors are left
 * to regcomp(), which reports them better.
 */
#include <stdint.h>

#include "eval_int.h"

#define PATTERN_MAX_LEN 4096
#define NODES_MAX 10000u
#define DEPTH_MAX 32

struct rx {
	const char *p;
	int depth;
	const char *why;
};

static uint32_t
sat_add(uint32_t a, uint32_t b)
{
	return a + b > NODES_MAX ? NODES_MAX + 1 : a + b;
}

static uint32_t
sat_mul(uint32_t a, uint32_t b)
{
	if (a != 0 && b > (NODES_MAX + 1) / a)
		return NODES_MAX + 1;
	return a * b > NODES_MAX ? NODES_MAX + 1 : a * b;
}

/* Skip a bracket expression; p is just past the '['. */
static void
skip_bracket(struct rx *rx)
{
	const char *p = rx->p;

	if (*p == '^')
		p++;
	if (*p == ']') /* a leading ']' is a literal */
		p++;
	while (*p != '\0' && *p != ']') {
		if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			char kind = p[1];

			for (p += 2; *p != '\0'; p++) {
				if (p[0] == kind && p[1] == ']') {
					p += 2;
					break;
				}
			}
			continue;
		}
		p++;
	}
	if (*p == ']')
		p++;
	rx->p = p;
}

/* Parse "{n}", "{n,}" or "{n,m}" at rx->p; false if it is not a bound. */
static bool
parse_bound(struct rx *rx, uint32_t *mult)
{
	const char *p = rx->p + 1;
	uint32_t n = 0, m = 0;
	bool comma = false, have_m = false;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++)
		n = n > NODES_MAX ? n : n * 10 + (uint32_t)(*p - '0');
	if (*p == ',') {
		comma = true;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			have_m = true;
			m = m > NODES_MAX ? m : m * 10 + (uint32_t)(*p - '0');
		}
	}
	if (*p != '}')
		return false;
	rx->p = p + 1;
	*mult = have_m ? m : comma ? n + 1 : n;
	if (*mult == 0)
		*mult = 1;
	return true;
}

static uint32_t alternation(struct rx *rx);

static uint32_t
atom(struct rx *rx)
{
	uint32_t n;

	switch (*rx->p++) {
	case '(':
		if (++rx->depth > DEPTH_MAX) {
			rx->why = "nests groups too deeply";
			return NODES_MAX + 1;
		}
		n = alternation(rx);
		if (*rx->p == ')')
			rx->p++;
		rx->depth--;
		return n > 0 ? n : 1;
	case '\\':
		if (*rx->p >= '1' && *rx->p <= '9') {
			rx->why = "uses a back-reference";
			return NODES_MAX + 1;
		}
		if (*rx->p != '\0')
			rx->p++;
		return 1;
	case '[':
		skip_bracket(rx);
		return 1;
	default:
		return 1;
	}
}

static uint32_t
branch(struct rx *rx)
{
	uint32_t total = 0, last = 0, mult;

	while (total <= NODES_MAX && rx->why == NULL) {
		char c = *rx->p;

		if (c == '\0' || c == '|' || (c == ')' && rx->depth > 0))
			break;
		if (c == '*' || c == '+' || c == '?') {
			rx->p++;
			mult = 2;
		} else if (c != '{' || !parse_bound(rx, &mult)) {
			last = atom(rx);
			total = sat_add(total, last);
			continue;
		}
		/* Replace the repeated operand's size by its expansion. */
		total -= last;
		last = sat_mul(last, mult);
		total = sat_add(total, last);
	}
	return total;
}

static uint32_t
alternation(struct rx *rx)
{
	uint32_t total = branch(rx);

	while (*rx->p == '|' && total <= NODES_MAX && rx->why == NULL) {
		rx->p++;
		total = sat_add(total, branch(rx));
	}
	return total;
}

bool
vxe_regex_check(const char *pattern, const char **why)
{
	struct rx rx = { pattern, 0, NULL };
	size_t len = 0;

	while (pattern[len] != '\0' && len <= PATTERN_MAX_LEN)
		len++;
	if (len > PATTERN_MAX_LEN) {
		*why = "is longer than 4096 bytes";
		return false;
	}
	/* At depth 0 an unmatched ')' is a literal, so this reads it all. */
	if (alternation(&rx) > NODES_MAX && rx.why == NULL)
		rx.why = "is too complex (its repetitions expand to over "
			 "10000 nodes)";
	*why = rx.why;
	return rx.why == NULL;
}
