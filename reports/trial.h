/* SPDX-License-Identifier: MIT */
/**
 * \file trial.h
 * \brief One stored run seen as a trial: its phases with counters,
 *        latency histogram and per-trial metrics, and whether the
 *        measurement can be trusted.
 *
 * A trial's headline numbers come from its measured phases taken
 * together ("total"); a run without phases, or with none marked
 * measured, is measured as a whole. Latencies come from the
 * `response_time` histograms (time from the intended send to the answer),
 * unlabelled ones if any, else every label set merged.
 *
 * Validity (docs/REPORT.md): a trial is invalid when its run did not end
 * 'ok', it got no answer, the generator's schedule lag went above
 * max_lag, or more than max_late_pct % of its queries were sent late or
 * dropped by the generator. Invalid trials are shown but not compared.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/hist.h"
#include "lib/store.h"

/** Per-trial metrics, in the order tables print them. */
typedef enum {
	DS_TM_P50,
	DS_TM_P90,
	DS_TM_P99,
	DS_TM_P999,
	DS_TM_MAX,
	DS_TM_MEAN,
	DS_TM_QPS,          /**< answers per second */
	DS_TM_ANSWERED_PCT, /**< answered / sent */
	DS_TM_LOSS_PCT,     /**< timeouts / sent */
	DS_TM_ERROR_PCT,    /**< answers other than NOERROR/NXDOMAIN / answered */
	DS_TM_SERVFAIL_PCT, /**< SERVFAIL / answered */
	DS_TM_COUNT
} ds_trial_metric_t;

typedef enum {
	DS_TU_NS,  /**< latency, ns */
	DS_TU_QPS, /**< per second */
	DS_TU_PCT, /**< percent */
} ds_trial_unit_t;

typedef struct ds_trial_metric_info {
	const char *name; /**< "p99", "qps", "loss" ... as used on the command line */
	const char *key;  /**< trial_summary / export key: "response_time.p99", "qps", "loss_pct" */
	ds_trial_unit_t unit;
	double q; /**< quantile for percentiles, else NAN */
	bool higher_worse;
} ds_trial_metric_info_t;

/** Names, units and direction of every metric, indexed by ds_trial_metric_t. */
extern const ds_trial_metric_info_t ds_trial_metrics[DS_TM_COUNT];
/** Metric by name ("p99", "qps", "loss", "errors", ...) or key; -1 if unknown. */
int ds_trial_metric_by_name(const char *name);

/** Counters and latency of one phase, or of the measured phases together. */
typedef struct ds_trial_window {
	char name[48];
	int seq;          /**< phase seq; -1 for the total */
	int64_t phase_id; /**< 0 for the total or a run without phases */
	int64_t t0, t1;   /**< wall ns, [t0, t1); t1 INT64_MAX when open */
	bool measured;
	double target_qps, target_qps_end; /**< NAN when none */
	size_t nintervals;
	int64_t dur_ns; /**< sum of the intervals' lengths */
	uint64_t sent, answered, timeouts, late, drops, late_sends, send_errors;
	uint64_t malformed, mismatched, truncated;
	uint64_t rcode[DS_STORE_NRCODE], rcode_other;
	int64_t lag_max_ns;    /**< worst schedule lag; -1 when not measured */
	ds_hist_t rt;          /**< response_time histogram of the window */
	double m[DS_TM_COUNT]; /**< NAN where not available */
} ds_trial_window_t;

typedef struct ds_trial_opts {
	int64_t max_lag_ns;  /**< re-judge: lag max limit; 0 = trust the run's own status */
	double max_late_pct; /**< re-judge: late/dropped sends limit in %; 0 = trust the run's own status */
} ds_trial_opts_t;

typedef struct ds_trial {
	ds_store_run_t run;
	ds_trial_window_t *phases; /**< by seq */
	size_t nphases;
	ds_trial_window_t total; /**< the measured phases together (or the whole run) */
	ds_store_interval_t *iv; /**< the run's intervals by time */
	size_t niv;
	bool summary_only; /**< no latency histograms (e.g. imported from dnsperf) */
	bool valid;
	char why[192]; /**< why invalid; "" when valid */
	char lag[96];  /**< schedule-lag verdict: "ok (max 0.42ms)", "INVALID ...", "n/a ..." */
} ds_trial_t;

/**
 * Load run run_id as a trial (o NULL = defaults). The caller frees t with
 * ds_trial_free(), also after an error. DS_ENOENT when there is no such run.
 */
int ds_trial_load(ds_store_t *db, int64_t run_id, const ds_trial_opts_t *o, ds_trial_t *t,
                  ds_err_t *err);
/** Free what ds_trial_load() allocated (not t itself). */
void ds_trial_free(ds_trial_t *t);

/**
 * Load the runs of label (NULL = any) and scenario (NULL = any) with
 * run_id > since_run, oldest first, as trials. *out is a malloc'd array
 * of *n trials (NULL when none); free it with ds_trials_free().
 */
int ds_trial_load_label(ds_store_t *db, const char *label, const char *scenario, int64_t since_run,
                        const ds_trial_opts_t *o, ds_trial_t **out, size_t *n, ds_err_t *err);
/** Free an array of trials. */
void ds_trials_free(ds_trial_t *t, size_t n);

/**
 * Value of metric m from a histogram and counters (what windows hold),
 * for callers that build windows themselves: NAN when not available.
 */
double ds_trial_window_metric(const ds_trial_window_t *w, ds_trial_metric_t m);
