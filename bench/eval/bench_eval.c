/*
 * bench_eval.c: how long one in-process evaluation takes.
 *
 * It prints nanoseconds per evaluation for flags with 0, 5 and 20 rules,
 * one `matches` rule, the common "50% rollout behind an ends_with rule",
 * a prerequisite chain of depth 3 (when the engine has prerequisites:
 * the file also builds against an engine without them, for before/after
 * figures), the cost of an EvaluateAll-style pass over 100 and over
 * 1,000 flags, and the cost of compiling the 20-rule flag, once with the
 * same `matches` pattern every time (warm: what recompiling a flag set
 * costs when its patterns did not change) and once with a new pattern
 * every time (cold).
 * The rule flags are worst cases. No rule matches the benchmark contexts,
 * so every condition of every rule is tested (the 20-rule flag includes a
 * regex), and then the environment rollout hashes the user. Users rotate
 * through 1,024 ids, so the hash input changes on every call. Each figure
 * is the median of several timed runs, each long enough (about 0.2 s) to
 * dwarf clock_gettime() itself. Where perf events allow, each figure also
 * gives the instructions retired per evaluation, which a loaded machine
 * does not skew. It prints figures only; there are no thresholds.
 *
 * With --iters N, each figure is a single run of N passes instead (no
 * calibration, no median), and --only NAME runs one figure (rules-0,
 * rules-5, rules-20, matches-no, matches-yes, common, chain, all-100,
 * all-1000, compile, compile-new). Together they count instructions under valgrind
 * where perf events are not available:
 *
 *   valgrind --tool=callgrind --toggle-collect='run*' \
 *       bench_eval --iters 10240 --only common
 *
 * The profile's "summary:" count over N is the instructions per
 * evaluation (per pass over the flags for all-*). run() may be cloned as
 * run.constprop.0, hence the pattern.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "eval/eval.h"

#define NUSERS 1024
#define RUNS 5
#define MIN_RUN_NS 200000000.0

#define VALS(...) ((const char *const[]){ __VA_ARGS__ })
#define NVALS(...) (sizeof(VALS(__VA_ARGS__)) / sizeof(const char *))
#define COND(a, o, ...)                                                    \
	{ .attribute = (a), .op = (o), .values = VALS(__VA_ARGS__),         \
	  .nvalues = NVALS(__VA_ARGS__) }

static const vx_eval_variant_src variants[2] = {
	{ "off", "false" },
	{ "on", "true" },
};

/* Twenty one-condition rules (plus one two-condition rule), none matching. */
static const vx_eval_condition_src conds[21] = {
	COND("email", VX_OP_ENDS_WITH, "@company.com"),
	COND("country", VX_OP_IN, "US", "CA", "MX"),
	COND("groups", VX_OP_CONTAINS, "beta"),
	COND("app_version", VX_OP_SEMVER_LT, "2.0.0"),
	COND("plan", VX_OP_EQUALS, "pro"),
	COND("age", VX_OP_GTE, "18"), /* with the one above: rule 5 */
	COND("email", VX_OP_MATCHES, "^(admin|root|ops)[0-9]*@"),
	COND("ip", VX_OP_CIDR, "10.0.0.0/8"),
	COND("age", VX_OP_LT, "18"),
	COND("signup", VX_OP_BEFORE, "2020-01-01T00:00:00Z"),
	COND("country", VX_OP_EQUALS, "fr"),
	COND("user_id", VX_OP_IN, "u1", "u2", "u3", "u4", "u5", "u6"),
	COND("email", VX_OP_STARTS_WITH, "test-"),
	COND("groups", VX_OP_IN, "qa", "internal"),
	COND("app_version", VX_OP_SEMVER_EQ, "3.0.0"),
	COND("plan", VX_OP_IN, "enterprise", "team"),
	COND("age", VX_OP_GT, "65"),
	COND("country", VX_OP_IN, "DE", "AT"), /* negated below */
	COND("email", VX_OP_CONTAINS, "+test"),
	COND("signup", VX_OP_AFTER, "2030-01-01T00:00:00+01:00"),
	COND("ip", VX_OP_CIDR, "2001:db8::/32"),
};

struct users {
	char id[NUSERS][16];
	char email[NUSERS][40];
	vx_eval_ctx ctx[NUSERS];
};

static const char *const groups[] = { "staff", "eu" };
static const vx_eval_attr attrs[] = {
	{ .name = "plan", .kind = VX_ATTR_STRING, .u.s = "free" },
	{ .name = "age", .kind = VX_ATTR_NUMBER, .u.num = 30 },
	{ .name = "app_version", .kind = VX_ATTR_STRING, .u.s = "2.3.1" },
	{ .name = "signup", .kind = VX_ATTR_STRING,
	    .u.s = "2023-05-01T10:00:00+02:00" },
};

static void
users_init(struct users *u)
{
	for (int i = 0; i < NUSERS; i++) {
		snprintf(u->id[i], sizeof(u->id[i]), "user-%d", i);
		snprintf(u->email[i], sizeof(u->email[i]),
		    "someone%d@example.org", i);
		u->ctx[i] = (vx_eval_ctx){
			.user_id = u->id[i],
			.email = u->email[i],
			.country = "DE",
			.ip = "192.0.2.1",
			.groups = groups,
			.ngroups = 2,
			.attrs = attrs,
			.nattrs = sizeof(attrs) / sizeof(attrs[0]),
		};
	}
}

/*
 * A flag with nrules of the rules above. Rule 4 has two conditions
 * (plan and age), and the negated country rule holds for nobody in DE.
 */
static vx_eval_flag *
make_flag_rx(const char *key, size_t nrules, const char *pattern)
{
	vx_eval_condition_src c[21];
	vx_eval_rule_src r[20];
	size_t ci = 0;
	char err[256];
	vx_eval_flag *f;

	memcpy(c, conds, sizeof(c));
	if (pattern != NULL)
		c[6].values = &pattern; /* rule 5's `matches` */
	c[17].negate = true;
	c[10].case_insensitive = true;
	for (size_t i = 0; i < nrules; i++) {
		size_t n = i == 4 ? 2 : 1;

		r[i] = (vx_eval_rule_src){
			.enabled = true,
			.priority = (int32_t)(100 - i),
			.order = (uint32_t)i,
			.conditions = &c[ci],
			.nconditions = n,
			.variant = 1,
		};
		ci += n;
	}
	vx_eval_flag_src src = {
		.key = key,
		.type = VX_FLAG_BOOL,
		.variants = variants,
		.nvariants = 2,
		.enabled = true,
		.default_variant = 1,
		.off_variant = 0,
		.rollout_percentage = 50,
		.rules = r,
		.nrules = nrules,
	};
	if (vx_eval_compile(&src, &f, err, sizeof(err)) != VX_EVAL_OK) {
		fprintf(stderr, "bench_eval: compile: %s\n", err);
		exit(1);
	}
	return f;
}

static vx_eval_flag *
make_flag(const char *key, size_t nrules)
{
	return make_flag_rx(key, nrules, NULL);
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Keeps results alive so the compiler cannot drop the evaluations. */
static volatile uint32_t sink;

/*
 * Instructions retired in user space, per pass, from the last timed run:
 * on a shared machine times swing with the load, this count does not, so
 * before/after comparisons use it too. -1 when perf events are not
 * available (perf_event_paranoid above 2, or not Linux).
 */
static int perf_fd = -1;
static double last_instr = -1;

static void
perf_open(void)
{
#ifdef __linux__
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_HARDWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_HW_INSTRUCTIONS;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	perf_fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
#endif
}

static void
perf_start(void)
{
#ifdef __linux__
	if (perf_fd >= 0) {
		ioctl(perf_fd, PERF_EVENT_IOC_RESET, 0);
		ioctl(perf_fd, PERF_EVENT_IOC_ENABLE, 0);
	}
#endif
}

static double
perf_stop(void)
{
#ifdef __linux__
	long long n;

	if (perf_fd >= 0) {
		ioctl(perf_fd, PERF_EVENT_IOC_DISABLE, 0);
		if (read(perf_fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
			return (double)n;
	}
#endif
	return -1;
}

/* --iters: passes per figure, in one run; 0 to calibrate and take medians. */
static size_t fixed_iters;

/* --only: the one figure to run, or NULL for all of them. */
static const char *only;
static const char *const figures[] = {"rules-0", "rules-5", "rules-20", "matches-no",
    "matches-yes", "common", "chain", "all-100", "all-1000", "compile", "compile-new"};

static bool
known_figure(const char *name)
{
	for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++)
		if (strcmp(name, figures[i]) == 0)
			return true;
	return false;
}

static bool
wanted(const char *name)
{
	return only == NULL || strcmp(only, name) == 0;
}

/*
 * One timed run: iters passes over the flags; returns ns per pass. Never
 * inlined: --iters counts instructions by this function's name.
 */
static __attribute__((noinline)) double
run(vx_eval_flag *const *flags, size_t nflags, const struct users *u, size_t iters)
{
	uint32_t acc = 0;
	double t0, instr;

	perf_start();
	t0 = now_ns();
	for (size_t i = 0; i < iters; i++) {
		const vx_eval_ctx *ctx = &u->ctx[i % NUSERS];

		for (size_t j = 0; j < nflags; j++) {
			vx_eval_result res;

			if (vx_eval_flag_evaluate(flags[j], ctx, &res) != 0)
				abort();
			acc += (uint32_t)res.variant + res.bucket;
		}
	}
	sink = acc;
	t0 = now_ns() - t0;
	instr = perf_stop();
	last_instr = instr < 0 ? -1 : instr / (double)iters;
	return t0 / (double)iters;
}

/* Ends a figure's line with the last run's instructions per pass. */
static void
instr_line(void)
{
	if (last_instr >= 0)
		printf("  %8.0f instr\n", last_instr);
	else
		printf("\n");
}

/* Median ns per pass, with the iteration count grown to fill a run. */
static double
measure(vx_eval_flag *const *flags, size_t nflags, const struct users *u)
{
	double t[RUNS];
	size_t iters = 64;

	if (fixed_iters != 0)
		return run(flags, nflags, u, fixed_iters);
	while (run(flags, nflags, u, iters) * (double)iters < MIN_RUN_NS)
		iters *= 2;
	for (int i = 0; i < RUNS; i++)
		t[i] = run(flags, nflags, u, iters);
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	return t[RUNS / 2];
}

static void
bench_rules(const struct users *u)
{
	static const size_t counts[] = { 0, 5, 20 };
	static const char *const names[] = {"rules-0", "rules-5", "rules-20"};

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		vx_eval_flag *f;

		if (!wanted(names[i]))
			continue;
		f = make_flag("bench_flag", counts[i]);

		printf("evaluate, %2zu rules%-15s %8.1f ns/eval", counts[i],
		    counts[i] == 20 ? " (1 regex)" : "", measure(&f, 1, u));
		instr_line();
		vx_eval_flag_free(f);
	}
}

/*
 * `matches` alone: one rule with one email pattern, which every user's
 * email fails (so the rollout hashes the user after it) or matches. Both
 * patterns read the same as POSIX ERE and as PCRE2, so the figures compare
 * the two engines.
 */
static void
bench_matches(const struct users *u)
{
	static const char *const pats[][2] = {
	    {"^(admin|root|ops)[0-9]*@", "no match"},
	    {"^someone[0-9]+@example\\.org$", "matching"},
	};

	static const char *const names[] = {"matches-no", "matches-yes"};

	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		if (!wanted(names[i]))
			continue;
		const char *vals[] = {pats[i][0]};
		vx_eval_condition_src c = {.attribute = "email",
		    .op = VX_OP_MATCHES,
		    .values = vals,
		    .nvalues = 1};
		vx_eval_rule_src r = {
		    .enabled = true, .conditions = &c, .nconditions = 1, .variant = 1};
		vx_eval_flag_src src = {.key = "bench_matches",
		    .type = VX_FLAG_BOOL,
		    .variants = variants,
		    .nvariants = 2,
		    .enabled = true,
		    .default_variant = 1,
		    .rollout_percentage = 50,
		    .rules = &r,
		    .nrules = 1};
		vx_eval_flag *f;
		char err[256];

		if (vx_eval_compile(&src, &f, err, sizeof(err)) != VX_EVAL_OK) {
			fprintf(stderr, "bench_eval: compile: %s\n", err);
			exit(1);
		}
		printf("evaluate, 1 rule: matches, %-8s %8.1f ns/eval", pats[i][1],
		    measure(&f, 1, u));
		instr_line();
		vx_eval_flag_free(f);
	}
}

/*
 * The common case: one rule, "email ends_with @example.org, 50% of them",
 * which every user's email matches, so each evaluation tests the suffix
 * and hashes the user; the half left out get the off variant (no
 * environment rollout).
 */
static void
bench_common(const struct users *u)
{
	const char *vals[] = {"@example.org"};
	vx_eval_condition_src c = {
	    .attribute = "email", .op = VX_OP_ENDS_WITH, .values = vals, .nvalues = 1};
	vx_eval_rule_src r = {.enabled = true,
	    .conditions = &c,
	    .nconditions = 1,
	    .rollout = {.enabled = true, .percentage = 50},
	    .variant = 1};
	vx_eval_flag_src src = {.key = "bench_common",
	    .type = VX_FLAG_BOOL,
	    .variants = variants,
	    .nvariants = 2,
	    .enabled = true,
	    .default_variant = 1,
	    .rollout_percentage = 0,
	    .rules = &r,
	    .nrules = 1};
	vx_eval_flag *f;
	char err[256];

	if (!wanted("common"))
		return;
	if (vx_eval_compile(&src, &f, err, sizeof(err)) != VX_EVAL_OK) {
		fprintf(stderr, "bench_eval: compile: %s\n", err);
		exit(1);
	}
	printf(
	    "evaluate, 50%% rollout behind ends_with %6.1f ns/eval", measure(&f, 1, u));
	instr_line();
	vx_eval_flag_free(f);
}

#ifdef VX_EVAL_PREREQ_MAX /* an engine with prerequisites */
/*
 * A prerequisite chain of depth 3: d requires c requires b requires a,
 * where a is a 50% rollout and b, c and d are on for everyone. Evaluating
 * d evaluates all four with the same context.
 */
static void
bench_prereq_chain(const struct users *u)
{
	static const char *const keys[4] = {"a", "b", "c", "d"};
	vx_eval_prereq_src p[4];
	vx_eval_flag *f[4];
	char err[256];

	if (!wanted("chain"))
		return;
	for (size_t i = 0; i < 4; i++) {
		vx_eval_flag_src src = {.key = keys[i],
		    .type = VX_FLAG_BOOL,
		    .variants = variants,
		    .nvariants = 2,
		    .enabled = true,
		    .default_variant = 1,
		    .rollout_percentage = i == 0 ? 50 : 100,
		    .prereqs = i ? &p[i] : NULL,
		    .nprereqs = i ? 1 : 0};
		p[i] = (vx_eval_prereq_src){.flag = i ? keys[i - 1] : NULL};
		if (vx_eval_compile(&src, &f[i], err, sizeof(err)) != VX_EVAL_OK ||
		    (i && vx_eval_flag_link(f[i], (const vx_eval_flag *const *)&f[i - 1],
		              err, sizeof(err)) != VX_EVAL_OK)) {
			fprintf(stderr, "bench_eval: compile: %s\n", err);
			exit(1);
		}
	}
	printf(
	    "evaluate, prerequisite chain depth 3 %7.1f ns/eval", measure(&f[3], 1, u));
	instr_line();
	for (size_t i = 0; i < 4; i++)
		vx_eval_flag_free(f[i]);
}
#endif

/*
 * EvaluateAll: a project's flags against one context. The flags cycle
 * through 0, 1, 5 and 20 rules, so about a quarter carry the regex.
 */
static void
bench_all(const struct users *u, size_t nflags)
{
	static const size_t mix[] = { 0, 1, 5, 20 };
	vx_eval_flag **flags;
	double ns;

	if (!wanted(nflags == 100 ? "all-100" : "all-1000"))
		return;
	if ((flags = calloc(nflags, sizeof(*flags))) == NULL)
		abort();
	for (size_t i = 0; i < nflags; i++) {
		char key[32];

		snprintf(key, sizeof(key), "flag_%zu", i);
		flags[i] = make_flag(key, mix[i % 4]);
	}
	ns = measure(flags, nflags, u);
	printf("evaluate_all, %4zu flags          %8.1f us/call  "
	       "(%.1f ns/flag)",
	    nflags, ns / 1e3, ns / (double)nflags);
	instr_line();
	for (size_t i = 0; i < nflags; i++)
		vx_eval_flag_free(flags[i]);
	free(flags);
}

/*
 * Median us per compile of the 20-rule flag, over RUNS runs of n compiles.
 * With fresh, each compile's `matches` pattern is one no compile saw before
 * (the same length and shape: "^(admin|root|o12345)[0-9]*@"), which is the
 * cold cost. Without, it is the same pattern every time, as when a flag set
 * is recompiled after a change that left most patterns as they were; an
 * engine that keeps compiled patterns (regex.c's cache) reuses it.
 */
static double
time_compile(size_t n, bool fresh, size_t *serial)
{
	double t[RUNS], t0;
	char pat[48];

	for (int r = 0; r < RUNS; r++) {
		t0 = now_ns();
		for (size_t i = 0; i < n; i++) {
			if (fresh)
				snprintf(pat, sizeof(pat), "^(admin|root|o%zu)[0-9]*@",
				    (*serial)++);
			vx_eval_flag_free(
			    make_flag_rx("bench_flag", 20, fresh ? pat : NULL));
		}
		t[r] = (now_ns() - t0) / (double)n / 1e3;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	return t[RUNS / 2];
}

static void
bench_compile(void)
{
	size_t n = fixed_iters != 0 ? fixed_iters : 4000, serial = 10000;

	if (wanted("compile"))
		printf("compile, 20 rules (1 regex)       %8.1f us/flag  "
		       "(same pattern each time)\n",
		    time_compile(n, false, &serial));
	if (wanted("compile-new"))
		printf("compile, new pattern each time    %8.1f us/flag  "
		       "(cold: a pattern never compiled before)\n",
		    time_compile(n, true, &serial));
}

int
main(int argc, char **argv)
{
	struct users *u;
	char *end;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
			fixed_iters = strtoul(argv[++i], &end, 10);
			if (*end != '\0' || fixed_iters == 0) {
				fprintf(stderr,
				    "bench_eval: --iters wants a positive count\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
			if (!known_figure(only)) {
				fprintf(stderr,
				    "bench_eval: no figure \"%s\" (see bench_eval.c)\n",
				    only);
				return 2;
			}
		} else {
			fprintf(stderr, "usage: bench_eval [--iters N] [--only NAME]\n");
			return 2;
		}
	}
	if ((u = malloc(sizeof(*u))) == NULL)
		return 1;
	users_init(u);
	perf_open();
	if (fixed_iters != 0)
		printf("vx_eval bench: one run of %zu passes, %d rotating users, "
		       "no rule matches\n",
		    fixed_iters, NUSERS);
	else
		printf("vx_eval bench: median of %d runs, %d rotating users, "
		       "no rule matches\n",
		    RUNS, NUSERS);
	bench_rules(u);
	bench_matches(u);
	bench_common(u);
#ifdef VX_EVAL_PREREQ_MAX
	bench_prereq_chain(u);
#endif
	bench_all(u, 100);
	bench_all(u, 1000);
	bench_compile();
	free(u);
	return 0;
}
