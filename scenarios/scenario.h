/* SPDX-License-Identifier: MIT */
/**
 * \file scenario.h
 * \brief Scenario files: a surge story in Corefile syntax (docs/SCENARIOS.md).
 *
 * A scenario is a list of sections written like Corefile server blocks:
 *
 *     scenario NAME { description, time_scale, rate_scale, seed }
 *     server { corefile PATH | <directives>; workers N; env K V }
 *     upstream [NAME] { count N; workers N; <directives> }
 *     k8s { synth ...; load FILE; args ... }
 *     load { queries ...; protocol; timeout; threads; phase NAME DUR RATE[~RATE] [warmup] }
 *     events { at TIME ACTION...; every IVAL from T1 to T2 ACTION... }
 *     thresholds { METRIC... OP VALUE [phase NAME...|window T1 T2] }
 *
 * The Corefile lexer is reused, so comments, quotes and {$VAR} work the
 * same. Times are story time: the runner divides them by the time scale;
 * rates are multiplied by the rate scale. Errors name file:line.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/corefile.h"

#define DS_SCN_MAX_UPSTREAMS 16

/** A Corefile fragment: either a path or directive text to wrap in a block. */
typedef struct ds_scn_corefile {
	char *path;       /**< absolute path, or NULL */
	char *inline_text; /**< directives (one block's body), or NULL */
} ds_scn_corefile_t;

typedef struct ds_scn_env {
	char *name, *value;
} ds_scn_env_t;

typedef struct ds_scn_server {
	ds_scn_corefile_t cf;
	unsigned workers;          /**< 0 = dnsurged's default */
	ds_scn_env_t *env;
	size_t nenv;
} ds_scn_server_t;

typedef struct ds_scn_upstream {
	char *name;                /**< "" = numbered only */
	unsigned count;            /**< replicas (each its own port and UPSTREAM_n) */
	unsigned workers;
	char *directives;          /**< Corefile block body */
	int file_line;
} ds_scn_upstream_t;

typedef struct ds_scn_k8s {
	bool enabled;
	char **args;               /**< extra arguments for `dnsurge k8s-sim` */
	size_t nargs;
} ds_scn_k8s_t;

/** Query mix, as `dnsurge load` takes it. */
typedef struct ds_scn_queries {
	char *kind;                /**< names | random | file | k8s */
	char *zone, *file, *qtypes, *domain;
	uint64_t names;
	double zipf;
	double nxdomain;           /**< 0..1 */
	unsigned namespaces;
} ds_scn_queries_t;

typedef struct ds_scn_phase {
	char *name;
	int64_t dur_ns;            /**< story time */
	double r0, r1;             /**< story qps; r0 == r1 unless a ramp */
	bool speed;                /**< written xN: r0, r1 are replay speeds, not qps */
	bool measured;
	int line;
} ds_scn_phase_t;

typedef struct ds_scn_load {
	ds_scn_queries_t queries;
	bool tcp;
	int64_t timeout_ns;
	int64_t max_lag_ns;        /**< validity limit of the generator's schedule lag */
	unsigned threads;
	ds_scn_phase_t *phases;
	size_t nphases;
	/* A replay load: the captures' queries at the phases' speeds (xN) instead of a query mix. */
	char **replay;             /**< capture files, in order, as one capture */
	size_t nreplay;
	int replay_line;
	char **filters;            /**< `filter qtype=A,AAAA` / `zone=Z` (replay/rewrite.h) */
	size_t nfilters;
	char **rewrites;           /**< `rewrite_zone FROM=TO` */
	size_t nrewrites;
	int filter_line, tcp_line; /**< where the first filter/rewrite and `protocol` were */
} ds_scn_load_t;

typedef enum {
	DS_EV_UP_STOP, DS_EV_UP_START, DS_EV_UP_BLACKHOLE, DS_EV_UP_RESUME, DS_EV_UP_SLOW,
	DS_EV_UP_FAST, DS_EV_UP_SERVFAIL,
	DS_EV_SRV_RELOAD, DS_EV_SRV_EDIT, DS_EV_SRV_STOP, DS_EV_SRV_ROLLOUT,
	DS_EV_K8S_CHURN, DS_EV_K8S_DOWN, DS_EV_K8S_UP, DS_EV_K8S_SLOW, DS_EV_K8S_EXPIRE,
	DS_EV_K8S_DROP, DS_EV_K8S_ERRORS,
	DS_EV_LOAD_QUERIES,
	DS_EV_LOAD_SPEED,          /**< made by the runner from a replay's phases; not in files */
} ds_ev_kind_t;

typedef struct ds_scn_event {
	int64_t at_ns;             /**< story time of the first firing */
	int64_t every_ns;          /**< 0 = once */
	int64_t until_ns;          /**< repeats while at < until */
	ds_ev_kind_t kind;
	int upstream;              /**< index, -1 = all */
	int64_t dur_ns;            /**< slow: delay */
	double value;              /**< churn rate, error ratio */
	int status;                /**< k8s errors: HTTP status */
	char *s1, *s2;             /**< edit: old, new; churn kind */
	ds_scn_queries_t queries;  /**< load queries */
	char text[160];            /**< as written, for logs */
	int line;
} ds_scn_event_t;

typedef enum {
	DS_TH_LATENCY, DS_TH_LOSS, DS_TH_LOST, DS_TH_SERVFAIL, DS_TH_ERRORS, DS_TH_ANSWERED,
	DS_TH_QPS, DS_TH_THROUGHPUT, DS_TH_RCODE, DS_TH_CACHE_HIT, DS_TH_PROMQL,
	DS_TH_SERVER_UP,           /**< added by the runner when the server died; not in files */
} ds_th_kind_t;

typedef struct ds_scn_threshold {
	ds_th_kind_t kind;
	double quantile;           /**< latency */
	int rcode;                 /**< rcode share */
	char *promql;
	char op[3];
	double value;              /**< in base units: seconds for latency, 0..1 for shares */
	char **phases;             /**< scope: these phases; none = every measured phase */
	size_t nphases;
	int64_t win0_ns, win1_ns;  /**< scope: story-time window (win1 > 0) */
	char text[256];            /**< as written */
	int line;
	bool warn;                 /**< report only, do not fail */
} ds_scn_threshold_t;

typedef struct ds_scn {
	char *path;
	char *dir;
	char *name;
	char *description;
	double time_scale;         /**< story seconds per real second (>= 1) */
	double rate_scale;
	uint64_t seed;
	ds_scn_server_t server;
	ds_scn_upstream_t ups[DS_SCN_MAX_UPSTREAMS];
	size_t nups;
	ds_scn_k8s_t k8s;
	ds_scn_load_t load;
	ds_scn_event_t *events;
	size_t nevents;
	ds_scn_threshold_t *th;
	size_t nth;
	char *text;                /**< the file as read (stored with the run) */
} ds_scn_t;

/**
 * Parse a scenario file. Environment variables the file refers to
 * ({$DNS_PORT} ...) must be set before the call. On error returns NULL
 * with err->msg "<file>:<line> - <cause>".
 */
ds_scn_t *ds_scn_parse(const char *path, ds_err_t *err);
void ds_scn_free(ds_scn_t *s);
/** Total story duration of the load phases. */
int64_t ds_scn_duration(const ds_scn_t *s);
/** Upstream replicas in all upstream sections. */
unsigned ds_scn_upstream_count(const ds_scn_t *s);
