/* SPDX-License-Identifier: MIT */
/**
 * \file plot.h
 * \brief `dnsurge report plot`: charts drawn by gnuplot (run as a
 *        program, fed a generated script with the data inline).
 *
 * Charts (docs/REPORT.md shows examples):
 * - lph: logarithmic percentile histogram of the measured phases, one
 *   line per group (baseline, candidate, or each label/run) at the
 *   median over its trials, with the min-max band across trials;
 * - rate: response rate and RCODE shares (% of queries sent) over time;
 * - qps: target, sent, answered and failed queries per second over time,
 *   and per-second p50/p99, with the phases marked;
 * - cache: cache hit ratio over time from the scraped
 *   coredns_cache_hits_total / coredns_cache_requests_total counters.
 * Time charts show one run per group: the trial with the median p99.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/common.h"
#include "reports/trial.h"

/** Chart kinds, as a bit set. */
enum {
	DS_PLOT_LPH = 1u << 0,
	DS_PLOT_RATE = 1u << 1,
	DS_PLOT_QPS = 1u << 2,
	DS_PLOT_CACHE = 1u << 3,
	DS_PLOT_ALL = 0xf,
};

/** A set of trials drawn as one line (a label, a side of a comparison, a run). */
typedef struct ds_plot_group {
	const char *name; /**< legend text, e.g. "v1.3 (candidate)" */
	const char *tag;  /**< file-name part, e.g. "v1.3" or "run12" */
	ds_trial_t *t;
	size_t n;
} ds_plot_group_t;

typedef struct ds_plot_opts {
	unsigned kinds;      /**< DS_PLOT_* bits */
	bool png, svg;       /**< formats to write (at least one) */
	const char *out_dir; /**< "." when NULL */
	const char *prefix;  /**< file name prefix; "dnsurge" when NULL */
	const char *title;   /**< prefix of every title (e.g. a scenario); NULL = none */
	int width, height;   /**< pixels; 0 = 1000 x 600 (time charts with two panels: x 1.4) */
	const char *script;  /**< also save the gnuplot script here; NULL = don't */
} ds_plot_opts_t;

/**
 * The gnuplot executable: $DNSURGE_GNUPLOT, else "gnuplot" found in PATH.
 * Returns a malloc'd path, or NULL with err explaining how to install it.
 */
char *ds_plot_find_gnuplot(ds_err_t *err);

/**
 * Draw the charts o->kinds for the groups. db gives per-interval
 * histograms and scraped metrics. Prints each file written to stdout.
 * Returns DS_OK, DS_ENOENT (no gnuplot), DS_EIO (gnuplot failed or wrote
 * nothing) or the store's error.
 */
int ds_plot(ds_store_t *db, const ds_plot_group_t *g, size_t ng, const ds_plot_opts_t *o,
            ds_err_t *err);
