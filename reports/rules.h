/* SPDX-License-Identifier: MIT */
/**
 * \file rules.h
 * \brief Prometheus rule files (groups of alerting and recording rules)
 *        read with libyaml, keeping the line of every rule and expression
 *        so messages can point at them.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"

typedef struct ds_rule_kv {
	char *key, *value;
} ds_rule_kv_t;

typedef struct ds_rule {
	char *group;
	char *alert;  /**< alert name; NULL for a recording rule */
	char *record; /**< recorded series name; NULL for an alert */
	char *expr;
	int64_t for_ns; /**< `for:`; 0 when absent */
	int line;       /**< line of the rule (1-based) */
	int expr_line;  /**< line of its expr */
	ds_rule_kv_t *labels, *annotations;
	size_t nlabels, nannotations;
} ds_rule_t;

typedef struct ds_rules {
	char *path;
	ds_rule_t *r;
	size_t n;
} ds_rules_t;

/**
 * Read a rule file. DS_ENOENT/-errno if it cannot be opened, DS_EINVAL
 * with "FILE:LINE: ..." for YAML errors or a rule without expr or name.
 * Free with ds_rules_free() in every case.
 */
int ds_rules_load(const char *path, ds_rules_t *out, ds_err_t *err);
void ds_rules_free(ds_rules_t *rs);
/** Annotation or label value by key, NULL if absent. */
const char *ds_rule_annotation(const ds_rule_t *r, const char *key);
