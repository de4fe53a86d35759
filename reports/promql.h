/* SPDX-License-Identifier: MIT */
/**
 * \file promql.h
 * \brief A small PromQL: parse alert-style expressions and evaluate them,
 *        with Prometheus' own rules, over the metrics a run scraped.
 *
 * The scenario runner judges thresholds with it, `dnsurge report promql`
 * and `alerts` evaluate expressions and rule files offline, and the
 * lint checks rules statically on the parsed tree. The supported subset
 * is listed in docs/REPORT.md; in short: selectors with = != =~ !~
 * matchers, ranges and offset; numbers, strings; + - * / % ^, comparisons
 * (with bool), and/or/unless, on()/ignoring() one-to-one matching; sum,
 * avg, min, max, count, group with by/without; rate, increase, delta,
 * irate, {avg,min,max,sum,count}_over_time, histogram_quantile, abs,
 * ceil, floor, sqrt, exp, ln, log2, log10, clamp_min, clamp_max, clamp,
 * scalar, vector, time, absent. Regular expressions are POSIX extended,
 * anchored at both ends as in Prometheus.
 *
 * Semantics follow Prometheus 2.42 (what Debian's promtool runs):
 * instant selectors take the newest sample in [t - 5m, t]; range
 * selectors take the samples in [t - range, t]; rate()/increase() add
 * counter resets back and extrapolate to the window edges exactly as
 * Prometheus does; histogram_quantile() sorts buckets, needs +Inf,
 * forces monotonic counts and interpolates linearly inside the bucket.
 *
 * Time windows: Prometheus evaluates at one instant; offline we usually
 * want "over the steady phase". Window mode (ds_promql_opts_t.window_ns,
 * or ds_promql_check()) evaluates at the window's end with every range
 * selector's range replaced by the window, so rate(x[5m]) over a 60 s
 * phase is the phase's rate, as Prometheus would compute rate(x[60s]) at
 * the phase's end.
 *
 * Series from the store get an `instance` label from their scrape source
 * ("prom:127.0.0.1:9153" gives instance="127.0.0.1:9153") unless they
 * have one, as Prometheus' scrape would add.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/store.h"

typedef struct ds_promql ds_promql_t;
typedef struct ds_promql_data ds_promql_data_t;

/* ------------------------------------------------------------ parsing */

/**
 * Parse expression text. Returns NULL and fills err ("1:17: expected ')'
 * ...", column numbers from 1) on a syntax error or an unsupported
 * feature (subqueries, group_left/group_right, topk ...).
 */
ds_promql_t *ds_promql_parse(const char *text, ds_err_t *err);
/** Free a parsed expression. NULL is fine. */
void ds_promql_free(ds_promql_t *e);
/** The expression printed back in canonical form (malloc'd; NULL on ENOMEM). */
char *ds_promql_format(const ds_promql_t *e);

/* --------------------------------------------------------------- data */

/** An empty set of series. NULL on ENOMEM. */
ds_promql_data_t *ds_promql_data_new(void);
/** Free a set. NULL is fine. */
void ds_promql_data_free(ds_promql_data_t *d);
/**
 * Add one sample of series name{labels} (labels 'k="v",...' with or
 * without braces, any order; NaN values are kept as Prometheus keeps
 * them). Samples may come in any order. DS_EINVAL for malformed labels.
 */
int ds_promql_data_add(ds_promql_data_t *d, const char *name, const char *labels, int64_t t_ns,
                       double value);
/**
 * Add every series run_id scraped with samples in [t0, t1] (INT64_MIN,
 * INT64_MAX for all). Returns DS_OK or the store's error.
 */
int ds_promql_data_load(ds_promql_data_t *d, ds_store_t *db, int64_t run_id, int64_t t0, int64_t t1,
                        ds_err_t *err);
/** Number of series in the set. */
size_t ds_promql_data_count(const ds_promql_data_t *d);
/**
 * Series i: its text in Prometheus notation (name{k="v",...}, labels
 * sorted) and its samples by time. Pointers stay valid until the set
 * changes.
 */
void ds_promql_data_series(const ds_promql_data_t *d, size_t i, const char **text, size_t *n,
                           const int64_t **t_ns, const double **value);

/* --------------------------------------------------------- evaluation */

typedef struct ds_promql_opts {
	int64_t t_ns; /**< evaluation time (wall ns) */
	int64_t
	    window_ns; /**< > 0: window mode, every range selector spans [t_ns - window_ns, t_ns] */
	int64_t lookback_ns; /**< instant selectors look back this far; 0 = 5 min */
} ds_promql_opts_t;

/** One element of a result. */
typedef struct ds_promql_elem {
	char *series;     /**< Prometheus notation of its labels: name{k="v"} or {k="v"} or {} */
	double value;     /**< the value (for a top-level comparison: its left side) */
	double threshold; /**< for a top-level comparison: the right side; NAN otherwise */
	int held;         /**< top-level comparison: 1 held, 0 not; -1 when there is none */
} ds_promql_elem_t;

typedef struct ds_promql_result {
	bool scalar;     /**< the expression is a scalar (one element, series "") */
	bool comparison; /**< the top level is a filtering comparison (a > 0.005) */
	char op[4];      /**< its operator */
	size_t n;        /**< elements (for a comparison: every left-side element with a partner) */
	ds_promql_elem_t *e;
	size_t n_held;  /**< elements for which the comparison held */
	bool firing;    /**< what an alert would do: the Prometheus result is not empty */
	char note[256]; /**< e.g. "[5m] evaluated over the 60s window"; "" if none */
} ds_promql_result_t;

/**
 * Evaluate e over d at o->t_ns. The Prometheus result of the expression is
 * the elements with held != 0. Errors (DS_EINVAL with err: type errors,
 * many-to-many matching ...) are what Prometheus would reject too.
 * Free r with ds_promql_result_free() in every case.
 */
int ds_promql_eval(const ds_promql_t *e, const ds_promql_data_t *d, const ds_promql_opts_t *o,
                   ds_promql_result_t *r, ds_err_t *err);
void ds_promql_result_free(ds_promql_result_t *r);

/**
 * What the scenario runner calls: parse expr and evaluate it in window
 * mode over run_id's scraped series in [t0_ns, t1_ns] (e.g. a phase).
 * A threshold expression passes when r->comparison && r->n > 0 &&
 * r->n_held == r->n; r->n == 0 means "not evaluable" (no data, no
 * traffic: a division by zero gives NaN, which compares false).
 */
int ds_promql_check(ds_store_t *db, int64_t run_id, const char *expr, int64_t t0_ns, int64_t t1_ns,
                    ds_promql_result_t *r, ds_err_t *err);

/** Outcome of evaluating an alert rule at every step of a window. */
typedef struct ds_promql_for {
	size_t steps;        /**< evaluations */
	size_t active_steps; /**< evaluations whose result was not empty */
	int64_t longest_ns;  /**< longest time the result stayed non-empty */
	bool fired;          /**< it stayed non-empty for at least for_ns */
	int64_t fired_at_ns; /**< when it first fired; 0 if never */
	double worst;        /**< largest left-side value seen (NAN if none) */
} ds_promql_for_t;

/**
 * Evaluate e as Prometheus' rule manager would, at t0 + step, t0 + 2 step,
 * ... <= t1 (instant semantics, the ranges as written), and say whether
 * it would have fired with `for: for_ns`: active at consecutive steps
 * spanning at least for_ns (0 = at the first active step).
 */
int ds_promql_eval_for(const ds_promql_t *e, const ds_promql_data_t *d, int64_t t0, int64_t t1,
                       int64_t step, int64_t for_ns, ds_promql_for_t *out, ds_err_t *err);

/* ------------------------------------------------ tree (for the lint) */

typedef enum {
	DS_PQ_NUM,
	DS_PQ_STR,
	DS_PQ_SEL, /**< vector selector, with a range when it is a range selector */
	DS_PQ_CALL,
	DS_PQ_AGG,
	DS_PQ_BIN,
	DS_PQ_NEG,
	DS_PQ_PAREN,
} ds_pq_kind_t;

typedef enum { DS_PQ_EQ, DS_PQ_NE, DS_PQ_RE, DS_PQ_NRE } ds_pq_mop_t;

typedef struct ds_pq_matcher {
	char *name, *value;
	ds_pq_mop_t op;
	void *re; /**< compiled regex_t for =~ and !~ */
} ds_pq_matcher_t;

/** A parsed node. The lint walks and rewrites these; the fields are public for that. */
typedef struct ds_pq_node {
	ds_pq_kind_t kind;
	int pos;            /**< byte offset in the text */
	double num;         /**< NUM */
	char *str;          /**< STR; SEL metric name (NULL if none); CALL/AGG name; BIN operator */
	ds_pq_matcher_t *m; /**< SEL matchers */
	size_t nm;
	int64_t range_ns;  /**< SEL: > 0 for a range selector */
	int64_t offset_ns; /**< SEL offset */
	struct ds_pq_node *
	    *arg; /**< CALL arguments; AGG: arg[0]; BIN: lhs, rhs; NEG/PAREN: arg[0] */
	size_t narg;
	char **labels; /**< AGG by/without labels; BIN on/ignoring labels */
	size_t nlabels;
	bool without;  /**< AGG: without (else by, when nlabels or grouped) */
	bool grouped;  /**< AGG: by/without present; BIN: on/ignoring present */
	bool on;       /**< BIN: on (else ignoring) */
	bool bool_mod; /**< BIN: comparison with bool */
} ds_pq_node_t;

/** Root of a parsed expression. */
ds_pq_node_t *ds_promql_root(ds_promql_t *e);
/** A copy of a subtree (for rewriting); NULL on ENOMEM. */
ds_pq_node_t *ds_pq_node_dup(const ds_pq_node_t *n);
/** Free a subtree made by ds_pq_node_dup() or ds_pq_node_new(). */
void ds_pq_node_free(ds_pq_node_t *n);
/** A zeroed node of kind k (str duplicated if not NULL); NULL on ENOMEM. */
ds_pq_node_t *ds_pq_node_new(ds_pq_kind_t k, const char *str);
/** Append a child to n->arg; DS_ENOMEM. */
int ds_pq_node_add(ds_pq_node_t *n, ds_pq_node_t *child);
/** Print a subtree in canonical form (malloc'd). */
char *ds_pq_node_format(const ds_pq_node_t *n);
/** Wrap a subtree back into an expression that owns it. */
ds_promql_t *ds_promql_from_node(ds_pq_node_t *n);
/** Prometheus duration text of ns ("5m", "1h30m", "250ms") into buf. */
const char *ds_promql_fmt_duration(int64_t ns, char *buf, size_t len);
