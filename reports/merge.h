/* SPDX-License-Identifier: MIT */
/**
 * \file merge.h
 * \brief `dnsurge report merge`: the runs of the shards of one load (N
 *        `dnsurge load --shard I/N` processes, on one machine or in N
 *        pods) made into one run of the whole load, exactly.
 *
 * Every shard records its own run in its own store. The merged run is a
 * `load` run like any other (report show, compare, plot read it) with:
 *
 * - intervals aligned by wall-clock second: every input interval goes to
 *   the merged second nearest its start, counted from the earliest input
 *   interval; counters and RCODE counts add, rates add, the schedule-lag
 *   p99 is the merged sched_lag histogram's, the lag max the worst;
 * - histograms merged bucket by bucket (lib/hist.h), per second, metric
 *   and label set, so every percentile of the merged run is the one of
 *   the union of the shards' raw histograms;
 * - phases merged by seq: from the earliest start to the latest end (cut
 *   at the next phase's start, so phases stay disjoint), target rates
 *   added;
 * - status the worst of the inputs' (ok < invalid < aborted < failed), the
 *   reason naming each shard that was not ok: one lagging shard makes the
 *   whole load invalid;
 * - provenance (files, run ids, shards, hosts, statuses) in params_json
 *   and summary_json under "merged_from".
 *
 * Inputs must belong together: `load` runs, ended, of one label, scenario,
 * profile, query source, seed, target and timeout policy, shards 1..N of
 * the same N each exactly once, overlapping in time. Anything else is
 * refused (DS_EINVAL, the reasons in ds_merge_result_t.problems) unless
 * forced, when the reasons are recorded with the run instead. Scraped
 * metrics and assertions are not merged (load runs have none).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/store.h"

/** One input: a results store and the run in it. */
typedef struct ds_merge_input {
	const char *path;
	int64_t run_id; /**< 0 = the only `load` run in the file */
} ds_merge_input_t;

typedef struct ds_merge_opts {
	const char *label; /**< label of the merged run; NULL = the inputs' */
	bool force;        /**< merge inputs that do not belong together, recording why */
} ds_merge_opts_t;

typedef struct ds_merge_result {
	int64_t run_id;           /**< the merged run in the output store; 0 if none */
	ds_store_status_t status; /**< its status: the worst of the inputs' */
	size_t nintervals, nphases;
	char *summary_json; /**< the merged run's summary, as stored (NULL if none) */
	char **problems;    /**< why the inputs do not belong together (refused or forced) */
	size_t nproblems;
} ds_merge_result_t;

/**
 * Merge the n runs of in into one new run of the store at out_path
 * (created if missing; it may also be one of the inputs). res must be
 * zeroed by the caller and freed with ds_merge_result_free(), also after
 * an error. Returns DS_OK; DS_EINVAL when the inputs do not belong
 * together and o->force is not set (res->problems says why; nothing is
 * written), or for a file without exactly one load run; DS_ENOENT for a
 * missing file or run; the store's errors otherwise. err names the file.
 */
int ds_merge(const char *out_path, const ds_merge_input_t *in, size_t n, const ds_merge_opts_t *o,
             ds_merge_result_t *res, ds_err_t *err);
/** Free what ds_merge() put in r (not r itself). */
void ds_merge_result_free(ds_merge_result_t *r);
