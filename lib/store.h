/* SPDX-License-Identifier: MIT */
/**
 * \file store.h
 * \brief Results store: the SQLite file every measuring tool writes and
 *        `dnsurge report` reads (schema and semantics in docs/STORE.md).
 *
 * One file holds any number of runs. A measuring tool opens the file,
 * inserts its run row (status 'running'), starts a writer thread that owns
 * the connection, hands it per-second interval rows, histograms, scraped
 * metrics, phases and assertion results, stops it, and ends the run:
 *
 *     ds_store_t *db = ds_store_open(path, 0, &err);
 *     ds_store_run_info_t ri = {.tool = "load", .label = "v1.3", ...};
 *     ds_store_run_begin(db, &ri, &run_id, &err);
 *     ds_store_writer_t *w = ds_store_writer_start(db, run_id, NULL, &err);
 *     ...  ds_store_writer_interval(w, &iv, hists, n);   (any thread)
 *     rc = ds_store_writer_stop(w, &err);
 *     ds_store_run_end(db, run_id, rc ? DS_STORE_FAILED : DS_STORE_OK,
 *                      rc ? err.msg : NULL, summary_json, &err);
 *     ds_store_close(db);
 *
 * While a writer runs, only the ds_store_writer_*() calls may be used (from
 * any thread); the ds_store_t belongs to the writer thread until
 * ds_store_writer_stop() returns. Otherwise a ds_store_t is used by one
 * thread at a time.
 *
 * Times are integer nanoseconds: wall-clock epoch ns for timestamps
 * (ds_wall_ns()), plain ns for durations and latencies.
 *
 * Errors: functions fill a ds_err_t naming the file and SQLite's message,
 * and return DS_EINVAL (not an SQLite database, not a dnsurge store, bad
 * argument), DS_EIO (corrupt file, I/O error), DS_ERANGE (schema newer
 * than this build, or older and opened read-only), -EROFS (read-only file
 * or directory), -EACCES/DS_ENOENT (cannot open), DS_ENOSPC (disk full),
 * DS_EAGAIN (locked by another writer), DS_ENOMEM.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/hist.h"

/** PRAGMA application_id of a dnsurge store: 'DNST'. */
#define DS_STORE_APP_ID 0x444E5354
/** PRAGMA user_version this build writes; older files are migrated at open. */
#define DS_STORE_SCHEMA_VERSION 2
/** Numeric RCODEs counted one by one (0..23, up to BADCOOKIE); others are "other". */
#define DS_STORE_NRCODE 24

/** ds_store_open() flags. */
enum {
	DS_STORE_RDONLY = 1u << 0, /**< read only: no migration, no stale-run sweep */
};

typedef struct ds_store ds_store_t;
typedef struct ds_store_writer ds_store_writer_t;
typedef struct ds_store_scrape ds_store_scrape_t;

typedef enum {
	DS_STORE_RUNNING,
	DS_STORE_OK,
	DS_STORE_INVALID, /**< completed, but the measurement cannot be trusted */
	DS_STORE_FAILED,
	DS_STORE_ABORTED, /**< the writer died without ending the run */
} ds_store_status_t;

/** "running", "ok", "invalid", "failed", "aborted". */
const char *ds_store_status_name(ds_store_status_t st);

/* ---------------------------------------------------------------- open */

/**
 * Open or create the store at path. Read-write opens create the file,
 * switch it to WAL, migrate an older schema to DS_STORE_SCHEMA_VERSION in
 * one transaction, and mark 'running' runs whose writer process is gone
 * (same host, and a dead pid or another boot) as 'aborted'.
 * Returns NULL and fills err on error (see the file comment for codes).
 */
ds_store_t *ds_store_open(const char *path, unsigned flags, ds_err_t *err);
/** As ds_store_open() but migrate no further than version (tests, tooling). */
ds_store_t *ds_store_open_version(const char *path, unsigned flags, int version, ds_err_t *err);
/** Close (checkpointing the WAL if this is the last connection). NULL is fine. */
void ds_store_close(ds_store_t *db);
/** Schema version of the open file (PRAGMA user_version). */
int ds_store_schema_version(ds_store_t *db);
/** The SQLite connection, for queries the helpers below do not cover. */
struct sqlite3 *ds_store_handle(ds_store_t *db);
/** Path the store was opened with. */
const char *ds_store_path(ds_store_t *db);
/** PRAGMA wal_checkpoint(TRUNCATE): fold the WAL into the file. */
int ds_store_checkpoint(ds_store_t *db, ds_err_t *err);

/* ---------------------------------------------------------------- runs */

/** What a tool says about its run; NULL strings are stored as '' or NULL. */
typedef struct ds_store_run_info {
	const char *tool;        /**< required: "load", "replay", "run" */
	const char *label;       /**< user's label, e.g. "v1.3.0" or "baseline" */
	const char *scenario;    /**< scenario name, "" for ad-hoc load */
	const char *target;      /**< server under test, e.g. "127.0.0.1:5300/udp" */
	const char *config_text; /**< exact config used; its SHA-256 is stored too */
	const char *params_json; /**< command-line parameters as a JSON object */
	uint64_t seed;           /**< PRNG seed (stored as its int64 bit pattern) */
	int64_t timeout_ns;      /**< query timeout, 0 = not applicable */
	bool timeout_in_hist;    /**< timeouts recorded in histograms at timeout_ns */
	int64_t started_ns;      /**< wall ns; 0 = now */
} ds_store_run_info_t;

/**
 * Insert a run with status 'running', this process's pid and the host
 * facts (hostname, kernel, CPU model, CPUs, memory). *run_id gets its id.
 */
int ds_store_run_begin(ds_store_t *db, const ds_store_run_info_t *ri, int64_t *run_id,
                       ds_err_t *err);
/**
 * Set the final status, reason (for invalid/failed; NULL otherwise),
 * summary JSON (NULL keeps what is there) and ended_ns = now.
 * DS_ENOENT if there is no such run.
 */
int ds_store_run_end(ds_store_t *db, int64_t run_id, ds_store_status_t status, const char *reason,
                     const char *summary_json, ds_err_t *err);

/** A run row as read back; every string is owned (free with ds_store_run_free()). */
typedef struct ds_store_run {
	int64_t run_id;
	char *tool, *tool_version, *label, *scenario, *target;
	char *config_text, *config_sha256, *params_json;
	char *hostname, *kernel, *cpu_model;
	int64_t ncpu, mem_bytes, pid;
	uint64_t seed;
	int64_t timeout_ns;
	bool timeout_in_hist;
	int64_t started_ns, ended_ns; /**< ended_ns 0 while running */
	ds_store_status_t status;
	char *invalid_reason, *summary_json; /**< NULL when not set */
	uint64_t dropped_samples;            /**< scrape samples the writer dropped */
	uint64_t coalesced_intervals;        /**< intervals merged into a neighbour */
} ds_store_run_t;

/** Read one run; DS_ENOENT if absent. Free with ds_store_run_free(). */
int ds_store_run_get(ds_store_t *db, int64_t run_id, ds_store_run_t *out, ds_err_t *err);
/**
 * Runs matching label, tool and scenario (NULL = any), oldest first.
 * *out is a malloc'd array of *n runs (NULL when none); free with ds_store_runs_free().
 */
int ds_store_runs_list(ds_store_t *db, const char *label, const char *tool, const char *scenario,
                       ds_store_run_t **out, size_t *n, ds_err_t *err);
/** Free the strings of one run read back (not r itself). */
void ds_store_run_free(ds_store_run_t *r);
/** Free an array from ds_store_runs_list(). */
void ds_store_runs_free(ds_store_run_t *runs, size_t n);

/* ------------------------------------------------------------ records */

/**
 * One interval (normally one second) of generator counters. Counters are
 * for the interval, not cumulative. ds_store_interval_init() zeroes it and
 * sets the "not applicable" markers (NAN, -1), which are stored as NULL.
 */
typedef struct ds_store_interval {
	int64_t t_ns;         /**< interval start, wall ns */
	int64_t dur_ns;       /**< interval length */
	double target_qps;    /**< scheduled rate; NAN = none (replay) */
	uint64_t sent;        /**< queries sent */
	uint64_t answered;    /**< answers matched to a query in time */
	uint64_t timeouts;    /**< queries that got no answer in time */
	uint64_t late;        /**< answers arriving after their query timed out */
	uint64_t mismatched;  /**< answers matching no outstanding query (id/question) */
	uint64_t malformed;   /**< unparseable answers */
	uint64_t truncated;   /**< answers with TC=1 */
	uint64_t send_errors; /**< failed sends (sendmsg/connect errors) */
	uint64_t drops;       /**< queries scheduled but never sent (generator fell behind) */
	uint64_t outstanding; /**< in flight at the end of the interval */
	uint64_t bytes_sent, bytes_recv;
	int64_t lag_p99_ns;  /**< schedule lag (actual - intended send) p99; -1 = not measured */
	int64_t lag_max_ns;  /**< schedule lag max; -1 = not measured */
	uint64_t late_sends; /**< sends later than the generator's lateness limit */
	int64_t conn_active; /**< stream transports: open connections at the end; -1 = n/a */
	int64_t conn_opened; /**< connections established; -1 = n/a */
	int64_t conn_failed; /**< connection attempts failed; -1 = n/a */
	uint64_t rcode[DS_STORE_NRCODE]; /**< answers per RCODE */
	uint64_t rcode_other; /**< answers with RCODE >= DS_STORE_NRCODE (stored as -1) */
} ds_store_interval_t;

/** Zero iv, set its start and length, and mark the optional fields not applicable. */
void ds_store_interval_init(ds_store_interval_t *iv, int64_t t_ns, int64_t dur_ns);

/** A histogram handed over with an interval; it is copied, the caller keeps it. */
typedef struct ds_store_hist_ref {
	const char *metric;    /**< "response_time", "service_time", "sched_lag", ... */
	const char *labels;    /**< canonical "proto=udp,qtype=A" or NULL/"" */
	const ds_hist_t *hist; /**< NULL = nothing recorded */
} ds_store_hist_ref_t;

/**
 * A phase of a run. Writers submit it at its start (end_ns 0) and again at
 * its end: rows are keyed by (run, seq). Intervals belong to the phase
 * with start_ns <= t_ns < end_ns.
 */
typedef struct ds_store_phase {
	int64_t phase_id;      /**< filled by readers; ignored when writing */
	int seq;               /**< 0, 1, 2 ... within the run */
	const char *name;      /**< "warmup", "steady", "surge" ... */
	int64_t start_ns;      /**< wall ns */
	int64_t end_ns;        /**< wall ns; 0 = not ended */
	const char *target;    /**< what the phase drives, e.g. "ramp 1000->20000 qps"; NULL =
	                            none, or on an update the one given before */
	double target_qps;     /**< NAN = none */
	double target_qps_end; /**< for ramps; NAN = none */
	bool measured;         /**< used for summaries and comparisons */
} ds_store_phase_t;

/** An evaluated threshold. */
typedef struct ds_store_assertion {
	int phase_seq; /**< phase it was evaluated over; -1 = the whole run */
	const char *name;
	const char *expr;     /**< as written, e.g. "latency p(99) < 5ms" */
	double observed;      /**< NAN = none */
	double threshold;     /**< NAN = none */
	const char *op;       /**< "<", "<=", ">", ">=", "==" or NULL */
	int passed;           /**< 1, 0, or -1 = could not be evaluated */
	const char *severity; /**< "fail" (NULL) or "warn" */
	const char *detail;   /**< window, series used, why not evaluable; NULL */
} ds_store_assertion_t;

/** Insert or update a phase directly (no writer running); rebuilds its hist_bucket rows. */
int ds_store_phase_put(ds_store_t *db, int64_t run_id, const ds_store_phase_t *p, ds_err_t *err);
/** Insert an assertion result directly (no writer running), e.g. from the report tool. */
int ds_store_assertion_put(ds_store_t *db, int64_t run_id, const ds_store_assertion_t *a,
                           ds_err_t *err);
/**
 * Recompute the phase's hist_bucket rows from its interval histograms
 * (done automatically when a phase ends and when a writer stops).
 */
int ds_store_phase_buckets_rebuild(ds_store_t *db, int64_t phase_id, ds_err_t *err);

/* ------------------------------------------------------ scraped metrics */

/**
 * A batch of samples from one scrape of one source at one time. Build it,
 * then give it to ds_store_writer_scrape(), which always takes ownership.
 */
ds_store_scrape_t *ds_store_scrape_new(const char *source, int64_t t_ns);
/**
 * Add a sample. labels are Prometheus pairs 'k="v",...' in any order, with
 * or without braces ("" for none); the writer stores them sorted
 * (ds_store_labels_canon()). mtype: "counter", "gauge", "histogram",
 * "summary", "untyped" or NULL. DS_ENOMEM.
 */
int ds_store_scrape_add(ds_store_scrape_t *sc, const char *name, const char *labels,
                        const char *mtype, double value);
/** Number of samples added so far. */
size_t ds_store_scrape_count(const ds_store_scrape_t *sc);
/** Free a batch that was not handed to a writer. NULL is fine. */
void ds_store_scrape_free(ds_store_scrape_t *sc);

/**
 * Canonical form of a Prometheus label set: pairs sorted by name, joined
 * by ',' without spaces or braces, values kept as escaped in the input.
 * *le (if not NULL) gets the parsed "le" label (INFINITY for +Inf), NAN
 * when there is none. DS_EINVAL for a malformed set or a duplicate name,
 * DS_ESPACE if out is too small (strlen(in) + 1 always suffices).
 */
int ds_store_labels_canon(const char *in, char *out, size_t outsz, double *le);

/* -------------------------------------------------------------- writer */

typedef struct ds_store_writer_opts {
	int64_t flush_interval_ns;   /**< one transaction per this; 0 = 1 s */
	size_t max_queued_samples;   /**< scrape samples waiting before new scrapes are dropped; 0 =
	                                200000 */
	size_t max_queued_intervals; /**< intervals waiting before new ones merge into the last; 0 =
	                                600 */
} ds_store_writer_opts_t;

typedef struct ds_store_writer_stats {
	uint64_t commits;             /**< transactions committed */
	uint64_t intervals;           /**< interval rows written */
	uint64_t hists;               /**< histogram rows written */
	uint64_t samples;             /**< scrape samples written */
	uint64_t dropped_samples;     /**< scrape samples dropped because the queue was full */
	uint64_t bad_samples;         /**< scrape samples with malformed labels, skipped */
	uint64_t coalesced_intervals; /**< intervals merged into the previous one (queue full) */
	uint64_t lost_items;          /**< items discarded after a fatal store error */
	int64_t max_flush_ns;         /**< longest transaction */
	size_t queued;                /**< items waiting now */
} ds_store_writer_stats_t;

/**
 * Start the writer thread for run_id (opts NULL = defaults). From now on
 * db belongs to the writer until ds_store_writer_stop(). NULL on error.
 */
ds_store_writer_t *ds_store_writer_start(ds_store_t *db, int64_t run_id,
                                         const ds_store_writer_opts_t *opts, ds_err_t *err);
/**
 * Queue an interval row with its histograms (copied: the caller keeps iv
 * and the histograms). Never waits for the disk: when too many intervals
 * are waiting, this one is merged into the last one queued. Returns DS_OK,
 * DS_ENOMEM, or the writer's error once it has failed (nothing is queued).
 */
int ds_store_writer_interval(ds_store_writer_t *w, const ds_store_interval_t *iv,
                             const ds_store_hist_ref_t *hists, size_t nhists);
/**
 * Queue a scrape batch; the writer owns sc from now on, even on error.
 * Dropped (and counted) when the queue already holds max_queued_samples.
 */
int ds_store_writer_scrape(ds_store_writer_t *w, ds_store_scrape_t *sc);
/** Queue a phase start or end (copied). */
int ds_store_writer_phase(ds_store_writer_t *w, const ds_store_phase_t *p);
/** Queue an assertion result (copied). */
int ds_store_writer_assertion(ds_store_writer_t *w, const ds_store_assertion_t *a);
/**
 * Commit everything queued so far now and wait for it (not for load
 * threads: this waits on the disk). Returns the writer's error if any.
 */
int ds_store_writer_flush(ds_store_writer_t *w);
/** DS_OK, or the error that stopped the writer (message in err if not NULL). */
int ds_store_writer_error(ds_store_writer_t *w, ds_err_t *err);
/** Counters of the writer so far (any thread). */
void ds_store_writer_stats(ds_store_writer_t *w, ds_store_writer_stats_t *st);
/**
 * Commit what is queued, rebuild the run's hist_bucket rows, record the
 * drop counters in the run row, checkpoint the WAL (TRUNCATE), join the
 * thread and free w. Returns DS_OK or the writer's first error, whose
 * message (with the file path) is copied to err. The run stays 'running':
 * end it with ds_store_run_end().
 */
int ds_store_writer_stop(ds_store_writer_t *w, ds_err_t *err);

/* ------------------------------------------------------------- readers */

/** Interval rows of a run by time, rcodes filled in. *out is malloc'd (free()). */
int ds_store_intervals_load(ds_store_t *db, int64_t run_id, ds_store_interval_t **out, size_t *n,
                            ds_err_t *err);
/** Phases of a run by seq; free with ds_store_phases_free(). */
int ds_store_phases_load(ds_store_t *db, int64_t run_id, ds_store_phase_t **out, size_t *n,
                         ds_err_t *err);
/** Free an array from ds_store_phases_load(). */
void ds_store_phases_free(ds_store_phase_t *p, size_t n);
/**
 * Merge into out (initialised by the caller) the run's interval histograms
 * of metric with t0 <= t_ns < t1 (INT64_MIN, INT64_MAX for all). labels
 * NULL merges every label set; "" selects the unlabelled one.
 */
int ds_store_hist_load(ds_store_t *db, int64_t run_id, const char *metric, const char *labels,
                       int64_t t0, int64_t t1, ds_hist_t *out, ds_err_t *err);
/** ds_store_hist_load() over a phase's window (to the end of the run if not ended). */
int ds_store_phase_hist_load(ds_store_t *db, int64_t phase_id, const char *metric,
                             const char *labels, ds_hist_t *out, ds_err_t *err);

/** A scraped series with its samples in [t0, t1), by time. */
typedef struct ds_store_series {
	int64_t series_id;
	char *source, *name, *labels, *mtype; /**< mtype NULL if unknown */
	double le;                            /**< NAN without an le label; INFINITY for +Inf */
	size_t n;
	int64_t *t_ns;
	double *value;
} ds_store_series_t;

/**
 * Series of a run named name (NULL = all), ordered by name and labels,
 * each with its samples t0 <= t_ns < t1. Free with ds_store_series_free().
 */
int ds_store_series_load(ds_store_t *db, int64_t run_id, const char *name, int64_t t0, int64_t t1,
                         ds_store_series_t **out, size_t *n, ds_err_t *err);
/** Free an array from ds_store_series_load(). */
void ds_store_series_free(ds_store_series_t *s, size_t n);
