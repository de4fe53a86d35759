/* SPDX-License-Identifier: MIT */
/**
 * \file lint.h
 * \brief `dnsurge report lint-alerts`: check Prometheus alert and
 *        recording rules against the metrics dnsurged (and CoreDNS)
 *        export, say what a rule really computes, and propose a fix.
 *
 * The catalog of metric names, types and labels is built in (CoreDNS
 * 1.14's, which dnsurged follows; docs/REPORT.md lists it) or read from
 * a live `/metrics` text. Checks (each finding has a stable code):
 *
 * | code | severity | what |
 * |---|---|---|
 * | renamed-metric | error | a name CoreDNS renamed or removed (1.7.0, 1.11.0) |
 * | unknown-metric | error | a name the server does not export |
 * | missing-label | error | a matcher on a label the metric does not have |
 * | no-op-filter | warning | a != or !~ matcher on a label that is never there |
 * | raw-buckets | error | histogram_quantile() of cumulative buckets without rate() |
 * | not-buckets | error | histogram_quantile() of something without an le label |
 * | no-match | error | both sides of a binary operator never share a label set |
 * | rate-not-ratio | warning | a per-second rate compared with a fraction the text calls a
 * percentage | | nxdomain-error | warning | rcode != "NOERROR" counts NXDOMAIN answers as errors |
 * | rate-of-gauge | warning | rate()/increase() over a gauge |
 * | deprecated-metric | warning | a metric marked deprecated |
 * | parse-error | error | the expression is not in the supported PromQL subset |
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/common.h"
#include "reports/rules.h"

typedef struct ds_lint_catalog ds_lint_catalog_t;

/** The built-in catalog (CoreDNS metric names, types, labels). NULL on ENOMEM. */
ds_lint_catalog_t *ds_lint_catalog_builtin(void);
/**
 * A catalog from Prometheus text exposition (a server's /metrics):
 * `# TYPE` lines give types, samples give the label names. DS_EINVAL when
 * the text has no sample at all.
 */
ds_lint_catalog_t *ds_lint_catalog_parse(const char *text, ds_err_t *err);
/** Read a catalog from a file or an http(s):// URL (fetched with libcurl). */
ds_lint_catalog_t *ds_lint_catalog_load(const char *file_or_url, ds_err_t *err);
void ds_lint_catalog_free(ds_lint_catalog_t *c);
/** Number of metric names (sample names) in the catalog. */
size_t ds_lint_catalog_size(const ds_lint_catalog_t *c);

typedef enum { DS_LINT_WARNING, DS_LINT_ERROR } ds_lint_severity_t;

typedef struct ds_lint_finding {
	const char *code; /**< "raw-buckets", ... (static) */
	ds_lint_severity_t severity;
	int line;   /**< line of the rule's expr (0 for an expression alone) */
	char *rule; /**< alert or record name ("" for an expression alone) */
	char *message;
} ds_lint_finding_t;

/** Everything found in one rule, and the fixed expression. */
typedef struct ds_lint_rule {
	char *rule;
	int line;
	char *expr;
	char *fix;      /**< the rewritten expression; NULL if there is nothing to fix */
	bool fix_clean; /**< the fix itself lints clean */
	ds_lint_finding_t *f;
	size_t n;
} ds_lint_rule_t;

/**
 * Lint one expression (r may be NULL: no annotations to look at). out is
 * filled even on a parse error (one parse-error finding). DS_ENOMEM.
 */
int ds_lint_expr(const ds_lint_catalog_t *c, const char *expr, const ds_rule_t *r,
                 ds_lint_rule_t *out);
void ds_lint_rule_free(ds_lint_rule_t *lr);
