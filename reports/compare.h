/* SPDX-License-Identifier: MIT */
/**
 * \file compare.h
 * \brief Baseline-versus-candidate comparison of trials (`dnsurge report
 *        compare`): per-metric Mann-Whitney U test, bootstrap interval of
 *        the change of medians, verdicts, exit code, and the text, JSON and
 *        JUnit renderings. The method is described in docs/REPORT.md.
 *
 * A change is a regression only when it is significant (p < alpha) and
 * larger than the metric's minimum effect in the bad direction. Trials
 * are grouped by scenario; each scenario is compared on its own.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "lib/store.h"
#include "reports/stats.h"
#include "reports/trial.h"

/** Exit codes of `dnsurge report compare` (and abba). */
enum {
	DS_CMP_PASS = 0,
	DS_CMP_REGRESSION = 1,
	DS_CMP_ERROR = 2,
	DS_CMP_INCONCLUSIVE = 3,
};

typedef struct ds_cmp_opts {
	const char *base_label, *cand_label;
	const char *scenario;   /**< NULL = every scenario both sides ran */
	int64_t since_run;      /**< only runs with a larger id (abba); 0 = all */
	double alpha;           /**< significance level; 0.01 */
	double conf;            /**< bootstrap interval confidence; 0.95 */
	unsigned iters;         /**< bootstrap resamples; 10000 */
	uint64_t seed;          /**< bootstrap PRNG seed; 1 */
	unsigned min_trials;    /**< valid trials needed per side; 5 */
	double max_invalid_pct; /**< more invalid trials than this is inconclusive; 20 */
	bool strict_noise;      /**< baseline noise above a gated min effect is inconclusive */
	double min_effect[DS_TM_COUNT]; /**< ratio metrics: fraction (0.05); rates: percentage
	                                   points */
	bool gated[DS_TM_COUNT];        /**< metrics that decide the exit code */
	ds_trial_opts_t trial;
	ds_store_t *save_db; /**< write comparison/trial_summary rows here; NULL = don't */
} ds_cmp_opts_t;

/** Defaults of docs/REPORT.md (and of REPORTS.md §3.2). */
void ds_cmp_opts_default(ds_cmp_opts_t *o);
/**
 * Parse "p99=5%,qps=3%,loss=0.1" into o->min_effect: ratio metrics take a
 * percentage ("5%" or "5"), rate metrics percentage points. DS_EINVAL
 * naming the bad item.
 */
int ds_cmp_parse_min_effect(ds_cmp_opts_t *o, const char *spec, ds_err_t *err);
/** Parse "p50,p99,qps,loss,errors" into o->gated (only these gate). DS_EINVAL. */
int ds_cmp_parse_gate(ds_cmp_opts_t *o, const char *spec, ds_err_t *err);

typedef enum {
	DS_CMP_NO_CHANGE,    /**< "~": not significant */
	DS_CMP_WITHIN_NOISE, /**< significant but smaller than the minimum effect */
	DS_CMP_IMPROVED,
	DS_CMP_REGRESSED,
	DS_CMP_INSUFFICIENT, /**< too few valid trials with this metric */
	DS_CMP_NA,           /**< not available (no histograms, too few answers for the quantile) */
} ds_cmp_verdict_t;

/** "no_change", "within_noise", "improved", "regressed", "insufficient", "n/a". */
const char *ds_cmp_verdict_name(ds_cmp_verdict_t v);

typedef struct ds_cmp_row {
	ds_trial_metric_t metric;
	bool gated;
	size_t nb, nc;
	double base_med, cand_med;
	double base_spread, cand_spread; /**< robust CV (ratio kind) or 1.4826*MAD (abs kind) */
	ds_stats_delta_t kind;
	double delta, ci_lo, ci_hi; /**< fraction for ratios, percentage points for rates */
	double p, u;
	bool exact;
	double min_effect;
	ds_cmp_verdict_t verdict;
	bool high_confidence; /**< the whole interval lies beyond the minimum effect */
	char note[128];
} ds_cmp_row_t;

typedef struct ds_cmp_scen {
	char *scenario;
	size_t nb_total, nb_valid, nc_total, nc_valid;
	int64_t *base_ids, *cand_ids; /**< the valid trials compared */
	ds_cmp_row_t rows[DS_TM_COUNT];
} ds_cmp_scen_t;

typedef struct ds_cmp_result {
	ds_cmp_scen_t *sc;
	size_t nsc;
	char **warnings;
	size_t nwarn;
	int exit_code;     /**< DS_CMP_PASS, _REGRESSION or _INCONCLUSIVE */
	char verdict[256]; /**< one line: "REGRESSED: synthetic/p99", "no regression", ... */
} ds_cmp_result_t;

/**
 * Compare the trials of one scenario (pure: no store access). b and c are
 * all trials of each side, valid or not; warnings are appended to r.
 * Returns DS_OK or DS_ENOMEM.
 */
int ds_cmp_scenario(const char *scenario, const ds_trial_t *b, size_t nb, const ds_trial_t *c,
                    size_t nc, const ds_cmp_opts_t *o, ds_cmp_scen_t *out, ds_cmp_result_t *r);

/**
 * Load both labels' trials (the candidate's from cand_db, which may be
 * base_db), compare every scenario both ran, decide the exit code, and
 * save the rows if o->save_db is set. Returns DS_OK with the outcome in r
 * (free with ds_cmp_result_free(), also after an error), or a negative
 * code with err filled (no such label, store errors): exit code 2.
 */
int ds_cmp_run(ds_store_t *base_db, ds_store_t *cand_db, const ds_cmp_opts_t *o, ds_cmp_result_t *r,
               ds_err_t *err);
void ds_cmp_result_free(ds_cmp_result_t *r);

/** The benchstat-style table, warnings and verdict line. */
void ds_cmp_print(FILE *f, const ds_cmp_result_t *r, const ds_cmp_opts_t *o);
/** The result as a JSON document (malloc'd string; NULL on ENOMEM). */
char *ds_cmp_json(const ds_cmp_result_t *r, const ds_cmp_opts_t *o);
/** Write a JUnit XML file: one test case per scenario and gated metric. */
int ds_cmp_junit(const char *path, const ds_cmp_result_t *r, const ds_cmp_opts_t *o, ds_err_t *err);
