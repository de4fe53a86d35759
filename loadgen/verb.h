/* SPDX-License-Identifier: MIT */
/**
 * \file verb.h
 * \brief Command-line plumbing that `dnsurge load` and `dnsurge replay`
 *        share: messages and option values, the measurement, output and
 *        recording options, the results-store run around the engine's
 *        run, SIGINT, and the end-of-run report with its exit status.
 *
 * A verb keeps one ds_verb_t; its engine's interval callback records
 * through it, and after the run ds_verb_finish() ends the stored run and
 * prints the report (summary.h). Exit statuses are the DS_VERB_EXIT_*.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/common.h"
#include "lib/net.h"
#include "lib/store.h"
#include "loadgen/load.h"
#include "loadgen/summary.h"

/** Exit statuses: 0 is a valid run. */
#define DS_VERB_EXIT_FAILED 1      /**< the run failed (e.g. the store could not be written) */
#define DS_VERB_EXIT_USAGE 2       /**< bad usage or configuration */
#define DS_VERB_EXIT_INVALID 3     /**< the run completed but is invalid */
#define DS_VERB_EXIT_INTERRUPTED 130 /**< stopped by SIGINT */

/** getopt_long values of the shared options (above the verbs' own). */
enum {
	DS_VERB_O_TIMEOUT = 1000,
	DS_VERB_O_NOTIH,
	DS_VERB_O_MAXLAG,
	DS_VERB_O_JSON,
	DS_VERB_O_DB,
	DS_VERB_O_NODB,
	DS_VERB_O_LABEL,
};

/** The shared options' getopt_long entries, for a verb's option table. */
#define DS_VERB_OPTIONS                                                      \
	{"timeout", required_argument, NULL, DS_VERB_O_TIMEOUT},             \
	{"no-timeout-in-hist", no_argument, NULL, DS_VERB_O_NOTIH},          \
	{"max-lag", required_argument, NULL, DS_VERB_O_MAXLAG},              \
	{"json", no_argument, NULL, DS_VERB_O_JSON},                         \
	{"db", required_argument, NULL, DS_VERB_O_DB},                       \
	{"no-db", no_argument, NULL, DS_VERB_O_NODB},                        \
	{"label", required_argument, NULL, DS_VERB_O_LABEL}

/** Help text of the measurement options. */
#define DS_VERB_HELP_MEASUREMENT                                                              \
	"Measurement:\n"                                                                      \
	"  --timeout D              per-query timeout (default 2s)\n"                           \
	"  --no-timeout-in-hist     do not record timeouts in the latency histograms\n"        \
	"  --max-lag D              schedule lag p99 above this makes the run invalid (1ms)\n"

/** Help text of the output and recording options, and -h. */
#define DS_VERB_HELP_OUTPUT                                                                   \
	"Output and recording:\n"                                                             \
	"  --json                   print one JSON object instead of the text report\n"        \
	"  --db FILE                results store (default dnsurge.db)\n"                       \
	"  --no-db                  do not record the run\n"                                    \
	"  --label NAME             what is under test (version, config)\n"                     \
	"  -h, --help               this text\n"

/** What a verb keeps besides its engine: options, recording, report inputs. */
typedef struct ds_verb {
	const char *name;        /**< "load", "replay": messages, the run's tool */
	/* the engine's configuration, set by the measurement options */
	int64_t *timeout_ns;
	bool *timeout_in_hist;
	int64_t *max_lag_ns;
	/* output and recording options */
	const char *db_path;     /**< --db, default "dnsurge.db" */
	const char *label;       /**< --label or NULL */
	bool json, no_db;
	/* what the report and the run row say */
	char target[DS_ADDRSTR_MAX + 8];
	char source[256];
	/* recording, while the run is stored */
	ds_store_t *db;
	ds_store_writer_t *wr;
	int64_t run_id;          /**< -1 until the run row exists */
	int store_err;           /**< first failed write; recording stops at it */
} ds_verb_t;

/**
 * Defaults for verb name (a static string); the measurement options will
 * write to the three fields of the engine's configuration given.
 */
void ds_verb_init(ds_verb_t *v, const char *name, int64_t *timeout_ns, bool *timeout_in_hist,
		  int64_t *max_lag_ns);

/** Print "dnsurge VERB: message" to stderr; returns DS_VERB_EXIT_USAGE. */
int ds_verb_bad(const char *verb, const char *fmt, ...) DS_PRINTF(2, 3);
/** --opt S as a whole number in min..max; 0, or the error printed and DS_VERB_EXIT_USAGE. */
int ds_verb_uint(const char *verb, const char *opt, const char *s, long long min, long long max,
		 long long *out);
/** --opt S as a duration >= 0; 0, or the error printed and DS_VERB_EXIT_USAGE. */
int ds_verb_duration(const char *verb, const char *opt, const char *s, int64_t *out);
/**
 * s, or for "localhost:PORT" "127.0.0.1:PORT" written into buf: names are
 * not resolved (no DNS lookups from a DNS test tool), except the one name
 * everybody types.
 */
const char *ds_verb_localhost(const char *s, char *buf, size_t size);

/**
 * Apply one shared option (DS_VERB_O_*): 1 applied, 0 not a shared
 * option, -1 bad value (printed).
 */
int ds_verb_opt(ds_verb_t *v, int o, const char *arg);

/** A run's parameters as a JSON object holding argv; the verb adds its own. NULL on ENOMEM. */
cJSON *ds_verb_params(int argc, char **argv);
/**
 * Unless --no-db: open the store, begin the run row (tool, label, target,
 * the command line "dnsurge ARGV...", params printed, seed, timeouts) and
 * start its writer. params is deleted. 0, or the error printed and
 * DS_VERB_EXIT_USAGE.
 */
int ds_verb_record_begin(ds_verb_t *v, cJSON *params, uint64_t seed, int argc, char **argv);
/** Record an interval snapshot (ds_summary_interval()) while recording; returns store_err. */
int ds_verb_interval(ds_verb_t *v, const ds_load_snap_t *s, double target_qps, bool lag, bool tcp);
/** Record a phase row while recording. */
void ds_verb_phase(ds_verb_t *v, const ds_store_phase_t *p);

/**
 * While stop_obj is set, SIGINT calls stop(stop_obj) (once: a second
 * SIGINT kills). stop must be async-signal-safe. NULL restores the
 * handler there was before.
 */
void ds_verb_sigint(void (*stop)(void *), void *stop_obj);

/**
 * The report's inputs the verb knows of a finished run r: tool, target,
 * source, label, db, run id, timeouts, one shard, and the status:
 * "failed" (start_failed, or a store write failed), "aborted" (SIGINT),
 * "ok" or "invalid". The verb adds its own fields.
 */
void ds_verb_summary_in(const ds_verb_t *v, const ds_load_result_t *r, bool start_failed,
			ds_summary_in_t *si);
/**
 * After the run: end the stored run (its status, the reason and js as
 * the summary), then print js (--json) or the text report of si to
 * stdout, and after the text report print_more(stdout, arg) if given (the
 * verb's own sections). A store failure here makes the status "failed" in
 * both. js (NULL on ENOMEM) is deleted. duration_ns: planned sending time,
 * said in an interrupted run's reason; 0 = not said. Returns the exit
 * status.
 */
int ds_verb_finish(ds_verb_t *v, ds_summary_in_t *si, cJSON *js, int64_t duration_ns,
		   void (*print_more)(FILE *f, void *arg), void *arg);
/** Stop the writer if it still runs and close the store. */
void ds_verb_close(ds_verb_t *v);
