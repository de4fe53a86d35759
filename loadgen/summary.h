/* SPDX-License-Identifier: MIT */
/**
 * \file summary.h
 * \brief End-of-run report of `dnsurge load`: dnsperf-like text, or one
 *        JSON object (field list in docs/LOAD.md).
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/store.h"
#include "loadgen/load.h"

/** What the report says besides the engine's result. Strings may be NULL. */
typedef struct ds_summary_in {
	const ds_load_result_t *r;
	const char *target;     /**< "127.0.0.1:5300/udp" */
	const char *spacing;    /**< "constant", "poisson"; NULL for closed loop */
	const char *source;     /**< query source description */
	const char *profile;    /**< profile text; NULL for closed loop */
	const char *label;
	const char *status;     /**< "ok", "invalid", "aborted", "failed" */
	const char *db;         /**< results file, NULL with --no-db */
	int64_t run_id;         /**< run row, -1 without a store */
	int64_t timeout_ns;
	bool timeout_in_hist;
	uint32_t max_outstanding; /**< closed loop */
	unsigned shard_index, shard_count;
	uint64_t seed;
	const char *tool;       /**< the JSON's "tool": NULL = "load" ("replay" shares this report) */
	const char *model;      /**< the text report's load model line; NULL = from the result */
} ds_summary_in_t;

/**
 * The JSON object (caller frees with cJSON_Delete()); NULL on ENOMEM.
 * Latencies in milliseconds, rates in queries per second.
 */
cJSON *ds_summary_json(const ds_summary_in_t *in);
/** Print the text report to f. */
void ds_summary_print(FILE *f, const ds_summary_in_t *in);
/**
 * The progress line of one interval on f (a terminal: the line is
 * rewritten in place; a newline after the final interval). target is the
 * schedule's part, e.g. "target 5000 qps" or "replay 2x".
 */
void ds_summary_progress(FILE *f, const ds_load_snap_t *s, const char *target);
/**
 * The results store's interval row and histograms (response_time,
 * service_time, sched_lag) of an interval snapshot. target_qps NAN = no
 * schedule; lag: the schedule lag was measured; tcp: connection columns.
 * h points into s's meter: use it before the snapshot call returns.
 */
void ds_summary_interval(const ds_load_snap_t *s, double target_qps, bool lag, bool tcp,
			 ds_store_interval_t *iv, ds_store_hist_ref_t h[3]);
/** Name of a header RCODE as the report shows it ("NOERROR", "RCODE12"). */
const char *ds_summary_rcode_name(unsigned rc, char *buf);
