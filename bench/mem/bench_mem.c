/*
 * bench_mem — how much memory vexild keeps with many flags in one project
 * (issue 17, item 4: at most 20 MiB resident with 10,000 flags served).
 *
 * It starts the vexild of this build on a temp dir, creates N flags
 * (default 10000) with CreateFlag through one libvexil client, one call
 * each, then serves EvaluateAll for the production environment (which
 * compiles the project's flag set and answers for every flag), 20 times
 * (--evals) since each of vexild's worker threads that serves one may
 * keep memory of its own, then --changes times (5) creates one more flag and serves
 * EvaluateAll again (each change makes vexild build the set anew, on whichever thread
 * serves it, and free the old one), and prints vexild's memory after each step: VmRSS,
 * RssAnon and RssFile from /proc/PID/status (RssFile is mostly LMDB's map, file pages the
 * kernel may drop), Anonymous and Private_Dirty from /proc/PID/smaps_rollup, and its
 * thread count. Each flag is a boolean flag enabled in production with one rule (country
 * in DE, FR) and a 50% rollout, as a flag in use looks. At the end it says where the
 * resident memory is, by kind of mapping (print_breakdown()). With --maps TOP it also
 * lists the TOP mappings holding the most anonymous memory. vexild runs with --no-sync:
 * durability does not change what it keeps in memory, and 10,000 fsyncs would make the
 * run long.
 *
 * It prints figures only; the target is checked by reading them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define MAX_FLAGS 100000

/* A field ("VmRSS") of /proc/pid/<file>, in kB; -1 if absent. */
static long
proc_kb(pid_t pid, const char *file, const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			kb = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

static void
print_mem(pid_t pid, const char *when)
{
	printf("  %-28s VmRSS %6.1f MiB  RssAnon %6.1f  RssFile %6.1f  "
	       "Anonymous %6.1f  Private_Dirty %6.1f  threads %ld\n",
	    when, proc_kb(pid, "status", "VmRSS") / 1024.0,
	    proc_kb(pid, "status", "RssAnon") / 1024.0,
	    proc_kb(pid, "status", "RssFile") / 1024.0,
	    proc_kb(pid, "smaps_rollup", "Anonymous") / 1024.0,
	    proc_kb(pid, "smaps_rollup", "Private_Dirty") / 1024.0,
	    proc_kb(pid, "status", "Threads"));
}

/*
 * --maps: the mappings of vexild holding the most anonymous memory, with
 * their Rss, to see where it goes: [heap] is the main malloc arena, an
 * unnamed mapping of up to 64 MiB a thread's malloc arena or a stack.
 */
struct map {
	char name[160]; /* a path of up to 127 bytes and its size */
	long anon;
	long rss;
};

static int
map_cmp(const void *a, const void *b)
{
	const struct map *x = a, *y = b;

	return (y->anon > x->anon) - (y->anon < x->anon);
}

static void
print_maps(pid_t pid, int top)
{
	char path[64], line[512];
	struct map *m = NULL, *grown;
	size_t n = 0, cap = 0;
	unsigned long lo, hi;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char name[128] = "";

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %127s", &lo, &hi, name) >= 2 &&
		    strchr(line, ':') - line > 8) {
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				if ((grown = realloc(m, cap * sizeof(*m))) == NULL)
					break;
				m = grown;
			}
			snprintf(m[n].name, sizeof(m[n].name), "%s (%lu KiB mapped)",
			    name[0] ? name : "anon", (hi - lo) / 1024);
			m[n].anon = m[n].rss = 0;
			n++;
		} else if (n > 0 && strncmp(line, "Anonymous:", 10) == 0) {
			m[n - 1].anon = strtol(line + 10, NULL, 10);
		} else if (n > 0 && strncmp(line, "Rss:", 4) == 0) {
			m[n - 1].rss = strtol(line + 4, NULL, 10);
		}
	}
	fclose(f);
	qsort(m, n, sizeof(*m), map_cmp);
	for (size_t i = 0; i < n && i < (size_t)top && m[i].anon > 0; i++)
		printf("    anonymous %7ld KiB, rss %7ld KiB: %s\n", m[i].anon, m[i].rss,
		    m[i].name);
	free(m);
}

/*
 * Where vexild's resident memory is, from /proc/PID/smaps, by kind of
 * mapping: LMDB's map of data.mdb; the binary and its libraries; malloc's
 * main heap ([heap]); thread stacks (a read-write mapping right above a
 * 4 KiB guard page; only their touched pages count); malloc's per-thread
 * arenas (mappings at a 64 MiB boundary: glibc's heaps); and any other
 * anonymous mapping (blocks of 128 KiB or more that malloc maps apart,
 * such as a flag set's array, the evaluation-record queue, LMDB's buffers).
 */
enum kind { K_MDB, K_FILES, K_HEAP, K_STACK, K_ARENA, K_OTHER, KINDS };

static void
print_breakdown(pid_t pid)
{
	static const char *const names[KINDS] = {"data.mdb map", "binary+libs", "[heap]",
	    "thread stacks", "malloc arenas", "other anon"};
	char path[64], line[512];
	long rss[KINDS] = {0}, count[KINDS] = {0}, big[3] = {0};
	unsigned long lo, hi, guard_hi = 0;
	int kind = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char perm[8] = "", name[128] = "";
		long kb;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %127s", &lo, &hi, perm, name) >=
		        3 &&
		    strchr(line, ':') - line > 8) {
			if (strstr(name, "data.mdb") != NULL)
				kind = K_MDB;
			else if (name[0] == '/')
				kind = K_FILES;
			else if (strcmp(name, "[heap]") == 0)
				kind = K_HEAP;
			else if (name[0] != '\0' || strcmp(perm, "rw-p") != 0)
				kind = -1; /* [stack], [vdso], guards: counted elsewhere
				              or nil */
			else if (lo == guard_hi)
				kind = K_STACK;
			else if ((lo & ((64UL << 20) - 1)) == 0)
				kind = K_ARENA;
			else
				kind = K_OTHER;
			guard_hi = strcmp(perm, "---p") == 0 && hi - lo == 4096 ? hi : 0;
			if (kind >= 0)
				count[kind]++;
		} else if (kind >= 0 && strncmp(line, "Rss:", 4) == 0) {
			kb = strtol(line + 4, NULL, 10);
			rss[kind] += kb;
			if (kind == K_OTHER)
				for (int i = 0; i < 3; i++)
					if (kb > big[i]) {
						long t = big[i];
						big[i] = kb;
						kb = t;
					}
		}
	}
	fclose(f);
	printf("  where it is (resident KiB):");
	for (int k = 0; k < KINDS; k++)
		printf("%s %s %ld (%ld)", k ? "," : "", names[k], rss[k], count[k]);
	printf(
	    "\n  (count of mappings in brackets; the largest other anon: %ld, %ld, %ld "
	    "KiB)\n",
	    big[0], big[1], big[2]);
}

static int
create_flag(vx_client *c, int i)
{
	Vexil__V1__FlagEnvConfig prod = VEXIL__V1__FLAG_ENV_CONFIG__INIT;
	Vexil__V1__FlagEnvConfig *envs[] = {&prod};
	Vexil__V1__Condition cond = VEXIL__V1__CONDITION__INIT;
	Vexil__V1__Condition *conds[] = {&cond};
	Vexil__V1__Rule rule = VEXIL__V1__RULE__INIT;
	Vexil__V1__Rule *rules[] = {&rule};
	Vexil__V1__Flag flag = VEXIL__V1__FLAG__INIT;
	char *countries[] = {"DE", "FR"};
	char key[32];

	snprintf(key, sizeof(key), "mem-flag-%05d", i);
	cond.attribute = "country";
	cond.operator_ = "in";
	cond.values = countries;
	cond.n_values = 2;
	rule.enabled = true;
	rule.conditions = conds;
	rule.n_conditions = 1;
	rule.variant = "on";
	prod.environment = "production";
	prod.enabled = true;
	prod.rollout_percentage = 50;
	prod.rules = rules;
	prod.n_rules = 1;
	flag.key = key;
	flag.name = key;
	flag.type = VEXIL__V1__FLAG_TYPE__FLAG_TYPE_BOOLEAN;
	flag.envs = envs;
	flag.n_envs = 1;
	if (bench_create_flag(c, &flag) != 0)
		return -1;
	return 0;
}

static int
evaluate_all(vx_client *c, size_t *n)
{
	Vexil__V1__EvaluateAllRequest in = VEXIL__V1__EVALUATE_ALL_REQUEST__INIT;
	Vexil__V1__EvalContext ctx = VEXIL__V1__EVAL_CONTEXT__INIT;
	Vexil__V1__EvaluationList *out;
	vx_status st;

	ctx.user_id = "user-42";
	ctx.country = "DE";
	in.project = "default";
	in.environment = "production";
	in.context = &ctx;
	if (vx_evaluate_all(c, &in, &out, &st) != 0) {
		fprintf(stderr, "bench_mem: EvaluateAll: %s: %s\n", vx_code_name(st.code),
		    st.message);
		return -1;
	}
	*n = out->n_results;
	vx_free(out);
	return 0;
}

int
main(int argc, char **argv)
{
	static const char *const args[] = {"--no-sync", "--max-msg", "67108864", NULL};
	const char *vexild = VX_VEXILD_PATH;
	struct bench_vexild v;
	vx_client *c = NULL;
	char root[64];
	int n = 10000, rc = 1, maps = 0, evals = 20, changes = 5;
	size_t answered = 0;
	uint64_t t0;

	bench_init("bench_mem");
	memset(&v, 0, sizeof(v));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--flags") == 0 && i + 1 < argc) {
			if (bench_parse_int("--flags", argv[++i], 1, MAX_FLAGS, &n) != 0)
				return 2;
		} else if (strcmp(argv[i], "--evals") == 0 && i + 1 < argc) {
			if (bench_parse_int("--evals", argv[++i], 1, 100000, &evals) != 0)
				return 2;
		} else if (strcmp(argv[i], "--changes") == 0 && i + 1 < argc) {
			if (bench_parse_int(
			        "--changes", argv[++i], 0, 100000, &changes) != 0)
				return 2;
		} else if (strcmp(argv[i], "--maps") == 0 && i + 1 < argc) {
			if (bench_parse_int("--maps", argv[++i], 1, 1000, &maps) != 0)
				return 2;
		} else if (strcmp(argv[i], "--vexild") == 0 && i + 1 < argc) {
			vexild = argv[++i];
		} else {
			fprintf(stderr,
			    "usage: bench_mem [--flags N (10000)] [--evals N (20)] "
			    "[--changes N (5)] [--maps TOP] [--vexild PATH]\n");
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	if (bench_make_root(root, sizeof(root)) != 0)
		return 1;
	if (bench_vexild_start(&v, vexild, root, "mem", BENCH_IPC, args) != 0)
		goto stop;
	if (bench_vexild_bulk_client(&v, &c) != 0)
		goto stop;
	printf("vexild memory with %d flags in one project (pid %d):\n", n, (int)v.pid);
	print_mem(v.pid, "started");
	t0 = bench_now_ns();
	for (int i = 0; i < n && !bench_interrupted; i++)
		if (create_flag(c, i) != 0 || bench_vexild_check(&v, "CreateFlag") != 0)
			goto stop;
	printf("  (%d CreateFlag calls in %.2f s)\n", n,
	    (double)(bench_now_ns() - t0) / 1e9);
	print_mem(v.pid, "flags created");
	for (int i = 0; i < evals; i++) {
		if (evaluate_all(c, &answered) != 0)
			goto stop;
		if (i == 0 || i == evals - 1) {
			char when[64];

			snprintf(when, sizeof(when), "EvaluateAll served %dx", i + 1);
			print_mem(v.pid, when);
		}
	}
	/* A change makes the next EvaluateAll build the set again, on
	 * whichever worker thread serves it, and frees the old one. */
	for (int i = 0; i < changes; i++) {
		if (create_flag(c, n + i) != 0 ||
		    bench_vexild_check(&v, "CreateFlag") != 0 ||
		    evaluate_all(c, &answered) != 0)
			goto stop;
		if (i == 0 || i == changes - 1) {
			char when[64];

			snprintf(when, sizeof(when), "%d change(s) + EvaluateAll", i + 1);
			print_mem(v.pid, when);
		}
	}
	printf("  (EvaluateAll answered %zu flags)\n", answered);
	print_breakdown(v.pid);
	if (maps > 0)
		print_maps(v.pid, maps);
	printf("target: VmRSS at most 20 MiB with 10000 flags served: %s\n",
	    n != 10000                                       ? "n/a (not 10000 flags)"
	    : proc_kb(v.pid, "status", "VmRSS") <= 20 * 1024 ? "met"
	                                                     : "NOT met");
	rc = 0;
stop:
	vx_client_close(c);
	if (bench_vexild_stop(&v) != 0)
		rc = 1;
	bench_remove_tree(root);
	return rc;
}
