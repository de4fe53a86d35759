/* SPDX-License-Identifier: MIT */
/**
 * \file synth.h
 * \brief Synthetic trials written through the store's writer API, for
 *        tests, for trying the report subcommands without a lab, and for
 *        the example images in docs/REPORT.md (`dnsurge report synth`).
 *
 * Each trial is a run (tool "synth") with a warm-up phase (rate ramp,
 * cold cache), a measured steady phase and optionally a surge phase at
 * twice the rate; per-second intervals with RCODE counts, schedule lag
 * and response/service time histograms; and scrapes of CoreDNS-named
 * metrics every scrape interval (requests, responses by rcode, request
 * duration buckets, cache hits by type and cache requests). Latencies are
 * drawn from a cache-hit/cache-miss lognormal mixture, multiplied by
 * `slowdown` and by a per-trial factor exp(noise * N(0,1)). Everything
 * follows from the seed: the same options write the same numbers.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/store.h"

typedef struct ds_synth_opts {
	const char *label;    /**< run label; NULL = "synthetic" */
	const char *scenario; /**< NULL = "synthetic" */
	unsigned trials;      /**< runs to write; 0 = 1 */
	double qps;           /**< steady rate; 0 = 2000 */
	double slowdown;      /**< latency multiplier; 0 = 1 (1.10 = 10 % slower) */
	double noise;         /**< per-trial lognormal sigma of latency; < 0 = 0.02 */
	double loss_pct;      /**< queries timing out, % */
	double servfail_pct;  /**< answers that are SERVFAIL, % */
	int64_t warmup_ns;    /**< 0 = 5 s; < 0 = none */
	int64_t steady_ns;    /**< 0 = 30 s */
	int64_t surge_ns;     /**< > 0 adds a surge phase at 2x the rate */
	int64_t scrape_ns;    /**< metrics scrape interval; 0 = 5 s; < 0 = no scrapes */
	bool counter_reset;   /**< a "restart" halfway, right after a scrape: counters restart */
	bool lag_spike;       /**< one steady second with 25 ms generator lag (an invalid trial) */
	int64_t start_ns;     /**< wall ns of the first run; 0 = so that the last ends now */
	uint64_t seed;
} ds_synth_opts_t;

/**
 * Write o->trials runs into db (opened read-write). run_ids, if not NULL,
 * gets their ids (room for o->trials). Returns DS_OK or the store's error.
 */
int ds_synth_write(ds_store_t *db, const ds_synth_opts_t *o, int64_t *run_ids, ds_err_t *err);
