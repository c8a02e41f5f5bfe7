/*
 * names.c: the names of operators and reasons.
 *
 * These are the spellings used on the wire and in the CLI. The converters
 * that build vx_eval_flag_src from protobuf or JSON map names to enum vx_op
 * through here, so that every dialect spells an operator the same way.
 */
#include <string.h>

#include "eval.h"

static const char *const op_names[VX_OP_COUNT_] = {
    [VX_OP_EQUALS] = "equals",
    [VX_OP_IN] = "in",
    [VX_OP_CONTAINS] = "contains",
    [VX_OP_STARTS_WITH] = "starts_with",
    [VX_OP_ENDS_WITH] = "ends_with",
    [VX_OP_MATCHES] = "matches",
    [VX_OP_LT] = "lt",
    [VX_OP_LTE] = "lte",
    [VX_OP_GT] = "gt",
    [VX_OP_GTE] = "gte",
    [VX_OP_SEMVER_EQ] = "semver_eq",
    [VX_OP_SEMVER_LT] = "semver_lt",
    [VX_OP_SEMVER_GT] = "semver_gt",
    [VX_OP_BEFORE] = "before",
    [VX_OP_AFTER] = "after",
    [VX_OP_CIDR] = "cidr",
    [VX_OP_NUM_EQ] = "num_eq",
};

static const char *const reason_names[] = {
    [VX_REASON_TARGETING_MATCH] = "TARGETING_MATCH",
    [VX_REASON_SPLIT] = "SPLIT",
    [VX_REASON_DISABLED] = "DISABLED",
    [VX_REASON_DEFAULT] = "DEFAULT",
    [VX_REASON_FLAG_NOT_FOUND] = "FLAG_NOT_FOUND",
    [VX_REASON_ERROR] = "ERROR",
    [VX_REASON_STATIC] = "STATIC",
    [VX_REASON_PREREQUISITE_FAILED] = "PREREQUISITE_FAILED",
};

const char *
vx_op_name(int op)
{
	if (op < 0 || op >= VX_OP_COUNT_)
		return NULL;
	return op_names[op];
}

int
vx_op_from_string(const char *name, int *op)
{
	if (name == NULL || op == NULL)
		return VX_EVAL_EINVAL;
	for (int i = 0; i < VX_OP_COUNT_; i++) {
		if (strcmp(op_names[i], name) == 0) {
			*op = i;
			return VX_EVAL_OK;
		}
	}
	return VX_EVAL_ENOTFOUND;
}

const char *
vx_eval_reason_name(int reason)
{
	if (reason < 0 ||
	    (size_t)reason >= sizeof(reason_names) / sizeof(reason_names[0]))
		return NULL;
	return reason_names[reason];
}
