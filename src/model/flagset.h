/*
 * Vexil — the compiled flags of one project environment.
 *
 * A flag set is what evaluation runs against: every flag of a project,
 * compiled for one environment, sorted by key, at one project revision.
 * vexild builds one per (project, environment, revision) and caches it;
 * libvexil builds one from a snapshot fetched in a single RPC. Both go
 * through vx_flagset_build(), so local and server evaluation cannot drift.
 * A flag set is immutable once built; any number of threads may read it.
 */
#ifndef VX_MODEL_FLAGSET_H
#define VX_MODEL_FLAGSET_H

#include "model/compile.h"

typedef struct vx_compiled {
	char *key; /* flag key: the compiled flag's (vx_eval_flag_key()) */
	vx_eval_flag *flag;
	Vexil__V1__FlagType type;
	uint64_t *rule_ids;    /* by rule index, in evaluation order */
	/* Flag.disabled_serves_default: disabled answers carry no value. */
	bool disabled_default;
	/* Flag.targeted_default, no_default_variant, parse_error (not empty):
	 * flagd's answers when no rule serves (vx_compiled_settle()). */
	bool targeted_default, no_default, parse_error;
	/* Flag.metadata, for results: one allocation (entries, then text). */
	size_t n_metadata;
	Vexil__V1__EvaluationResult__MetadataEntry **metadata;
} vx_compiled;

typedef struct vx_flagset {
	uint64_t project_id;
	uint64_t revision;
	char *env;
	size_t n;
	vx_compiled *flags;    /* sorted by key */
	size_t nbroken;        /* flags that did not compile (see below) */
} vx_flagset;

/*
 * Compiles env's config of each flag (flags need not be sorted) with the
 * project's segments (vx_flag_compile_in()), then links
 * each flag's prerequisites to the set's flags (vx_eval_flag_link()), so
 * evaluating a child evaluates its parents in the same set. A prerequisite
 * on a key the set lacks always fails; a flag on a cycle or over the
 * engine's depth bounds serves its off variant with reason ERROR and
 * counts in nbroken. A flag
 * whose stored config does not compile does not fail the set: it serves
 * its off variant with reason ERROR (vx_flag_compile_broken()), or is left
 * out when even its variants do not compile; nbroken counts them, and err
 * (when not NULL) says which was first and why.
 * @param[out] out  the set; free with vx_flagset_free().
 * @return 0 or VX_ENOMEM.
 */
int vx_flagset_build(Vexil__V1__Flag *const *flags, size_t n,
    Vexil__V1__Segment *const *segs, size_t nsegs, uint64_t project_id, uint64_t revision,
    const char *env, vx_flagset **out, char *err, size_t errlen) VX_MUST_USE;
void vx_flagset_free(vx_flagset *fs);
/* The compiled flag with this key, or NULL. */
const vx_compiled *vx_flagset_find(const vx_flagset *fs, const char *key);

/*
 * Settles res, an answer of cf's engine, by the flag's own settings, where
 * the answer is chosen (the engine's rule loop knows none of them):
 *  - disabled_default and reason DISABLED: no variant, no value;
 *  - parse_error (the engine answers ERROR for such a flag): no variant,
 *    no value;
 *  - no rule served (res->rule < 0) with reason STATIC or SPLIT:
 *    no_default gives reason DEFAULT with no variant and no value,
 *    targeted_default gives reason DEFAULT with the default variant.
 * "No variant" is variant -1, variant_key and value NULL.
 */
void vx_compiled_settle(const vx_compiled *cf, vx_eval_result *res);

/*
 * Evaluates cf, a flag of fs, for ctx and fills out as EvaluationService
 * answers: vexild's handlers and libvexil's vx_eval_local_result() (which
 * gateways answer from) both go through here, so their answers cannot
 * drift. out's strings and metadata point into fs. No allocation. A
 * disabled flag that serves the caller's default has an empty variant
 * and value.
 * @return 0 (also when regexec() failed: the engine then answers as
 *         documented); VX_EINTERNAL when the engine fails.
 */
int vx_flagset_result(const vx_flagset *fs, const vx_compiled *cf, const vx_eval_ctx *ctx,
    Vexil__V1__EvaluationResult *out) VX_MUST_USE;

#endif
