/* SPDX-License-Identifier: MIT */
/**
 * \file dnsperf.h
 * \brief Reading dnsperf's text output (`dnsurge report import`) so old
 *        measurements can sit next to new ones in a store.
 *
 * dnsperf prints only summary statistics: counts, RCODEs, qps, mean, min
 * and max latency and their standard deviation, plus answers per second
 * every -S seconds. An imported run therefore has tool "dnsperf", one
 * measured phase and one interval spanning the run, the summary in
 * summary_json ("summary_only": true) and no latency histograms: reports
 * show no percentiles for it and say why. dnsperf is closed-loop (its
 * latencies suffer from coordinated omission); params_json says so.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/store.h"

/** One dnsperf run as parsed. */
typedef struct ds_dnsperf {
	char *command;      /**< "[Status] Command line:" or NULL */
	char *target;       /**< "addr:port/proto" from "Sending queries (to ...)", or NULL */
	int64_t started_ns; /**< from the -S lines if any, else "Started at" (local time); 0 =
	                       unknown */
	uint64_t sent, completed, lost, interrupted;
	uint64_t rcode[DS_STORE_NRCODE + 1]; /**< last = other */
	double req_size, resp_size;
	double run_time_s, qps;
	double lat_avg_s, lat_min_s, lat_max_s, lat_stddev_s; /**< NAN when absent */
	int64_t timeout_ns;      /**< -t from the command line, else dnsperf's 5 s */
	double stats_interval_s; /**< -S from the command line, 0 if none */
	size_t nint;             /**< -S lines */
	int64_t *int_t_ns;       /**< their timestamps */
	double *int_qps;         /**< their answers per second */
} ds_dnsperf_t;

/**
 * Parse every dnsperf output in text (outputs can be concatenated: each
 * "Statistics:" block is one run). *out gets a malloc'd array of *n
 * runs; free with ds_dnsperf_free(). DS_EINVAL (err names the line) if
 * no statistics block is found or one is malformed.
 */
int ds_dnsperf_parse(const char *text, ds_dnsperf_t **out, size_t *n, ds_err_t *err);
void ds_dnsperf_free(ds_dnsperf_t *r, size_t n);

/**
 * Store one parsed run in db (opened read-write) as tool "dnsperf" with
 * label and scenario (NULL = ""), source naming the file it came from.
 * *run_id gets its id.
 */
int ds_dnsperf_store(ds_store_t *db, const ds_dnsperf_t *r, const char *label, const char *scenario,
                     const char *source, int64_t *run_id, ds_err_t *err);
