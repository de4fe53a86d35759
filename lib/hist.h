/* SPDX-License-Identifier: MIT */
/**
 * \file hist.h
 * \brief Log-linear latency histogram (HdrHistogram/hg64 family).
 *
 * Values are non-negative int64 (nanoseconds everywhere in dnsurge).
 * With S sub-bucket bits (DS_HIST_S = 7) every value is kept with a
 * relative error of at most 2^-S (0.78 %); values below 2^S are exact.
 *
 * Index of v: v < 2^S -> v; else e = floor(log2 v) - S, m = v >> e,
 * idx = (e << S) + m. Bucket idx covers [lo, hi] (ds_hist_bucket_bounds).
 * Counts live in lazily allocated octaves ("bins") of 2^S counters.
 *
 * A histogram is used by one thread at a time (no atomics). Merging adds
 * counts element-wise, so histograms from threads, intervals, runs and
 * machines merge exactly. Quantiles return the upper bound of the bucket
 * holding the rank ceil(q*N) (conservative, as HdrHistogram does), clamped
 * to the exact max; q = 0 returns the exact min.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"

#define DS_HIST_S 7
#define DS_HIST_SUB (1u << DS_HIST_S)
#define DS_HIST_BINS (64 - DS_HIST_S + 1)

typedef struct ds_hist {
	uint64_t *bins[DS_HIST_BINS];
	uint64_t count;
	int64_t min;     /**< exact; INT64_MAX when empty */
	int64_t max;     /**< exact; 0 when empty */
	double sum;      /**< for the mean */
} ds_hist_t;

/** Initialise an empty histogram (no allocation until the first record). */
void ds_hist_init(ds_hist_t *h);
/** Free the bins; the histogram is empty and reusable afterwards. */
void ds_hist_free(ds_hist_t *h);
/** Zero all counts but keep the allocated bins (cheap per-interval reset). */
void ds_hist_reset(ds_hist_t *h);
/** Record v (negative v is clamped to 0) n times. DS_ENOMEM if a bin cannot be allocated. */
int ds_hist_add(ds_hist_t *h, int64_t v, uint64_t n);
static inline int ds_hist_record(ds_hist_t *h, int64_t v)
{
	return ds_hist_add(h, v, 1);
}
/** dst += src. */
int ds_hist_merge(ds_hist_t *dst, const ds_hist_t *src);
/** Value at quantile q in [0, 1]; 0 for an empty histogram. */
int64_t ds_hist_quantile(const ds_hist_t *h, double q);
double ds_hist_mean(const ds_hist_t *h);

/** Index of a value. */
uint32_t ds_hist_index(int64_t v);
/** Smallest and largest value of bucket idx. */
void ds_hist_bucket_bounds(uint32_t idx, int64_t *lo, int64_t *hi);

/**
 * Iterate non-empty buckets: start with *idx = 0; returns false at the end.
 * On entry *idx is the first index to examine; on true it holds the index
 * of the non-empty bucket found and *count its count. Step past it for the
 * next call:
 *
 *     for (uint32_t i = 0; ds_hist_next(h, &i, &c); i++) ...
 */
bool ds_hist_next(const ds_hist_t *h, uint32_t *idx, uint64_t *count);

/**
 * Serialise ("DLH1" format, documented in docs/STORE.md): magic "DLH1",
 * u8 S, u8 unit (0 = ns), varint count, varint min, varint max, f64 sum,
 * then (varint idx_delta, varint count) pairs over non-empty buckets in
 * increasing idx, where idx_delta is from the previous non-empty idx + 1.
 * Returns a malloc'd buffer and its length in *len, or NULL.
 */
uint8_t *ds_hist_encode(const ds_hist_t *h, size_t *len);
/**
 * Decode into an initialised (empty or not: counts are added) histogram.
 * DS_EINVAL for a blob that is truncated, corrupt, inconsistent (bucket
 * counts not adding up to count, min/max outside the first/last bucket) or
 * of another S or unit; DS_ENOMEM. On error h is left unchanged.
 */
int ds_hist_decode(ds_hist_t *h, const uint8_t *buf, size_t len);
