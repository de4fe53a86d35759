/* SPDX-License-Identifier: MIT */
/**
 * \file replay.h
 * \brief The replay engine behind `dnsurge replay`, usable in-process (the
 *        scenario runner drives it as a load).
 *
 * An engine streams the queries of pcap/pcapng captures (decode.h) to a
 * target, each captured client address from its own UDP socket (and its
 * own TCP connection for the queries it sent over TCP), at the captured
 * pace times a speed factor or as fast as possible, and measures every
 * answer with the load generator's meter (loadgen/meter.h). Typical use:
 *
 *     ds_replay_cfg_t cfg;
 *     ds_replay_cfg_init(&cfg);
 *     cfg.files = paths; cfg.nfiles = n; cfg.target = addr;
 *     cfg.speed = 2.0; cfg.on_interval = cb; cfg.user = me;
 *     ds_replay_t *r = ds_replay_new(&cfg, &err);   (opens the captures)
 *     ds_replay_start(r, &err);
 *     ...  ds_replay_set_speed(r, 5.0);             (any time, any thread)
 *     ds_replay_wait(r);                            (or ds_replay_stop(r) first)
 *     const ds_replay_result_t *res = ds_replay_result(r);
 *     ds_replay_free(r);
 *
 * Threads: one reader decodes the captures ahead of the schedule into a
 * bounded window per sending thread (cfg.window_bytes), so a capture of
 * any size streams in bounded memory; clients are sharded over the
 * sending threads by address; each sending thread runs an epoll loop over
 * its clients' sockets and a ticker thread cuts the run into one-second
 * intervals handed to on_interval (ds_load_snap_t, as the load engine
 * does; the last call has final set).
 *
 * Timing: the query captured at time t is due at start + (t - t0) / speed
 * (t0: the first query replayed), on an absolute schedule: a thread that
 * falls behind sends late and the lag is measured (sched_lag), never
 * carried over. With asap every query is due when it is read; no lag is
 * recorded and latency is counted from the actual send (closed-loop
 * style). Pass k of cfg.loops starts one capture length (plus one mean
 * query gap) after pass k - 1.
 *
 * Diffs (diff.h): with diff = DS_REPLAY_DIFF_CAPTURE each query carries
 * the capture's response to it (same client address and port, transport,
 * ID and question, within cfg.pair_window_ns of capture time); with
 * DS_REPLAY_DIFF_SERVER every query is also sent to cfg.diff_target and
 * its answer is the expected one.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/net.h"
#include "loadgen/load.h"
#include "loadgen/meter.h"
#include "replay/decode.h"
#include "replay/diff.h"
#include "replay/rewrite.h"

typedef struct ds_replay ds_replay_t;

/** What the answers are compared with. */
typedef enum ds_replay_diff {
	DS_REPLAY_DIFF_NONE = 0,
	DS_REPLAY_DIFF_CAPTURE, /**< the capture's own responses */
	DS_REPLAY_DIFF_SERVER,  /**< a second server's answers (cfg.diff_target) */
} ds_replay_diff_t;

typedef struct ds_replay_cfg {
	const char *const *files;   /**< capture files, read in order as one capture */
	size_t nfiles;
	ds_decode_opts_t decode;    /**< DNS ports and decoder bounds (decode.h) */
	ds_sockaddr_t target;
	double speed;               /**< 1 = as captured, 2 = twice as fast (default 1) */
	bool asap;                  /**< as fast as possible (speed ignored) */
	unsigned loops;             /**< passes over the capture (default 1) */
	int64_t duration_ns;        /**< stop sending after this; 0 = at the end of the capture */
	const ds_rewrite_t *rewrite; /**< filters and zone rewrites, borrowed; NULL = none */
	ds_replay_diff_t diff;
	ds_sockaddr_t diff_target;  /**< DS_REPLAY_DIFF_SERVER: the reference server */
	bool diff_ttl;              /**< compare TTLs too */
	unsigned diff_examples;     /**< examples kept per mismatch class (default 3) */
	int64_t pair_window_ns;     /**< capture time a query waits for its captured response
	                                 (default: timeout_ns) */
	unsigned threads;           /**< sending threads (default 1) */
	int64_t timeout_ns;         /**< per query (default 2 s) */
	bool timeout_in_hist;       /**< record timeouts at timeout_ns in the histograms (default) */
	int64_t max_lag_ns;         /**< validity: schedule lag p99 limit (default 1 ms) */
	size_t window_bytes;        /**< decoded queries held ahead, per thread (default 8 MiB) */
	unsigned max_outstanding;   /**< queries in flight per thread (default 65536) */
	unsigned max_clients;       /**< clients with open sockets per thread (default: from
	                                 RLIMIT_NOFILE); the least recently used idle one is
	                                 closed to make room */
	unsigned batch;             /**< queries taken per send round (0 = 256, asap 1024) */
	bool no_gso;                /**< one datagram per message instead of UDP GSO groups */
	bool realtime;              /**< timed replays: sending threads under SCHED_FIFO (needs
	                                 CAP_SYS_NICE; ignored with asap) */
	int64_t spin_ns;            /**< wake this long before a query is due and spin to the
	                                 due time (default 50 us; 0 = sleep to the due time) */
	ds_load_interval_fn on_interval;
	void *user;
} ds_replay_cfg_t;

/** Totals of a finished replay (ds_replay_result()). */
typedef struct ds_replay_result {
	/** Meter totals, times, lag and the verdict, as the load engine
	 * reports them (scheduled = queries taken from the capture). */
	ds_load_result_t load;
	ds_decode_stats_t capture;  /**< decoder counters, summed over passes */
	unsigned passes;            /**< passes begun */
	uint64_t queries;           /**< queries read from the capture (all passes) */
	uint64_t filtered;          /**< left out by the filters */
	uint64_t rewritten;         /**< queries whose name was rewritten */
	uint64_t unrewritable;      /**< queries a rewrite could not apply to (sent unchanged) */
	uint64_t udp_queries, tcp_queries; /**< sent, by the transport the client used */
	uint64_t ids_changed;       /**< IDs changed because the same client had that ID in flight */
	uint64_t reordered;         /**< queries captured earlier than the one before (sent in order) */
	uint64_t unsent;            /**< read but not sent: the run was stopped */
	uint64_t clients;           /**< client sockets opened (a client closed for room and
	                                 seen again counts again) */
	uint64_t clients_evicted;   /**< idle clients closed to make room */
	unsigned clients_max;       /**< most clients open at once */
	bool realtime;              /**< the sending threads ran under SCHED_FIFO */
	uint64_t paired;            /**< DIFF_CAPTURE: queries with their captured response */
	uint64_t unpaired_responses; /**< DIFF_CAPTURE: captured responses matching no query */
	ds_diff_sum_t diff;         /**< diff counts and examples (diff != NONE) */
	char capture_error[DS_ERRMSG_MAX]; /**< first capture read error, "" if none */
	unsigned capture_errors;
} ds_replay_result_t;

/** Defaults: speed 1, one pass, one thread, timeout 2 s in histograms, max lag 1 ms. */
void ds_replay_cfg_init(ds_replay_cfg_t *cfg);

/**
 * Check cfg and open the captures (a missing or non-capture file fails
 * here, before anything is sent). The strings, the ports and the
 * configuration are copied; rewrite is borrowed. Raises the process's soft
 * RLIMIT_NOFILE to its hard limit (client sockets). NULL with a message in
 * err.
 */
ds_replay_t *ds_replay_new(const ds_replay_cfg_t *cfg, ds_err_t *err);
/**
 * Start the threads. Returns once the reader has filled the window (or
 * read the whole capture), typically tens of milliseconds; time 0 of the
 * capture is then 2 ms ahead, when the sending threads are up.
 */
int ds_replay_start(ds_replay_t *r, ds_err_t *err);
/**
 * Change the speed from now on (not with asap): queries not yet due keep
 * their capture spacing divided by the new speed, counted from the point
 * of the capture reached now. DS_EINVAL for speed <= 0 or an asap run.
 */
int ds_replay_set_speed(ds_replay_t *r, double speed, ds_err_t *err);
/**
 * Stop sending now; answers in flight are awaited up to the timeout.
 * Async-signal-safe (sets a flag).
 */
void ds_replay_stop(ds_replay_t *r);
/** Wait until the capture is replayed (or stopped) and every query settled. */
int ds_replay_wait(ds_replay_t *r);
/** Nanoseconds since start (0 before). */
int64_t ds_replay_elapsed(const ds_replay_t *r);
/** Wall-clock start (ns), 0 before ds_replay_start(). */
int64_t ds_replay_start_wall(const ds_replay_t *r);
/** Totals, diff and verdict; valid after ds_replay_wait() returned. */
const ds_replay_result_t *ds_replay_result(const ds_replay_t *r);
/** Stop (if running), wait, close and free. NULL is fine. */
void ds_replay_free(ds_replay_t *r);

/**
 * The "replay" part of the JSON summary (docs/REPLAY.md): capture and
 * replay counters. NULL on ENOMEM.
 */
cJSON *ds_replay_result_json(const ds_replay_result_t *res);

/** The `dnsurge replay` verb (replay_main.c); argv[0] is "replay". Exit status. */
int ds_replay_main(int argc, char **argv);
