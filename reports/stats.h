/* SPDX-License-Identifier: MIT */
/**
 * \file stats.h
 * \brief Statistics for comparing trials: medians, robust spread, the
 *        two-sided Mann-Whitney U test and a bootstrap interval of the
 *        change of medians (method and defaults in docs/REPORT.md).
 *
 * Samples are small arrays of per-trial values (one number per trial),
 * never per-query latencies: trials are the independent replicates.
 * Functions never modify their inputs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"

/** Largest group size for which ds_stats_mwu() computes the exact distribution. */
#define DS_STATS_EXACT_MAX 20

/** Median of x[0..n); the mean of the middle two for even n. NAN for n = 0. */
double ds_stats_median(const double *x, size_t n);

/**
 * Robust coefficient of variation, 1.4826 * MAD / |median| (the MAD scaled
 * to a normal sigma). 0 for n < 2; NAN when the median is 0.
 */
double ds_stats_robust_cv(const double *x, size_t n);

/**
 * Modified z-score of every value, |x - median| / (1.4826 * MAD), into z
 * (n entries). A value is an outlier above 10 (hyperfine's rule). When the
 * MAD is 0, values equal to the median get 0 and the others INFINITY.
 */
void ds_stats_modz(const double *x, size_t n, double *z);

/** Result of a Mann-Whitney U test. */
typedef struct ds_stats_mwu {
	double u;   /**< U of b: pairs (a_i, b_j) with b_j > a_i, ties counting 1/2 */
	double p;   /**< two-sided p-value */
	bool exact; /**< p from the exact permutation distribution (else normal approximation) */
	bool ties;  /**< some values were tied (midranks used) */
} ds_stats_mwu_t;

/**
 * Two-sided Mann-Whitney U test of a (na values) against b (nb values).
 * When both groups have at most DS_STATS_EXACT_MAX values the p-value is
 * exact: p = min(1, 2 * min(P(S <= s), P(S >= s))) over the permutation
 * distribution of b's rank sum S, with midranks when there are ties.
 * Larger groups use the normal approximation with tie and continuity
 * correction. All values equal gives p = 1.
 * DS_EINVAL for an empty group or a NaN value, DS_ENOMEM.
 */
int ds_stats_mwu(const double *a, size_t na, const double *b, size_t nb, ds_stats_mwu_t *out);

/** Smallest two-sided p the exact test can give for group sizes na, nb: 2 / C(na+nb, na). */
double ds_stats_mwu_min_p(size_t na, size_t nb);

/** How a change is measured. */
typedef enum {
	DS_STATS_RATIO, /**< median(b) / median(a) - 1 (latency, throughput) */
	DS_STATS_ABS,   /**< median(b) - median(a) (rates near zero, in their own unit) */
} ds_stats_delta_t;

/** The change of medians from a to b; NAN for a zero baseline median with DS_STATS_RATIO. */
double ds_stats_delta(const double *a, size_t na, const double *b, size_t nb,
                      ds_stats_delta_t kind);

/**
 * Bootstrap percentile interval of ds_stats_delta() at confidence conf
 * (0.95): resamples each group with replacement, iters times, with the
 * PRNG seeded by seed, so the same inputs and seed always give the same
 * interval. *lo is the sorted resampled delta at index
 * floor(iters * (1 - conf) / 2), *hi the one at
 * ceil(iters * (1 + conf) / 2) - 1. Resamples with a zero baseline median
 * (ratio) are skipped; if all are, both bounds are NAN.
 * DS_EINVAL for empty groups, iters < 10 or conf outside (0, 1), DS_ENOMEM.
 */
int ds_stats_bootstrap(const double *a, size_t na, const double *b, size_t nb,
                       ds_stats_delta_t kind, unsigned iters, double conf, uint64_t seed,
                       double *lo, double *hi);

/** Geometric mean of positive values; NAN if any is not positive or n = 0. */
double ds_stats_geomean(const double *x, size_t n);
