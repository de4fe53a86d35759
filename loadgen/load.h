/* SPDX-License-Identifier: MIT */
/**
 * \file load.h
 * \brief The load engine behind `dnsurge load`, usable in-process (the
 *        scenario runner drives it between events).
 *
 * An engine sends DNS queries to one target over UDP or TCP from several
 * threads, either open-loop on an absolute schedule (a rate profile,
 * profile.h) or closed-loop (a fixed number of queries outstanding, as
 * dnsperf -q does), and measures every answer (meter.h). Typical use:
 *
 *     ds_load_cfg_t cfg;
 *     ds_load_cfg_init(&cfg);
 *     cfg.target = addr; cfg.profile = prof; cfg.qsrc = src;
 *     cfg.duration_ns = 30 * DS_NS_PER_SEC; cfg.on_interval = cb;
 *     ds_load_t *l = ds_load_new(&cfg, &err);
 *     ds_load_start(l, &err);
 *     ...  ds_load_set_profile(l, surge, &err);   (any time, any thread)
 *     ds_load_wait(l);                            (or ds_load_stop(l) first)
 *     const ds_load_result_t *r = ds_load_result(l);
 *     ds_load_free(l);
 *
 * Every second (aligned to the start) the engine's ticker thread calls
 * on_interval with that second's counters and histograms; the last call
 * has final set and may be shorter. The callback must not block for long
 * (queue to a store writer, print a line); it runs on the ticker thread.
 *
 * Validity: a run is invalid when the generator, not the server, limited
 * what was measured: schedule lag p99 above max_lag_ns, answers dropped by
 * the generator's own sockets (receive buffer full), queries never sent
 * (fell behind, no free query ID) or sends failed in the generator.
 * Unanswered queries (server loss) never make a run invalid.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/net.h"
#include "loadgen/meter.h"
#include "loadgen/profile.h"
#include "loadgen/qsrc.h"

typedef struct ds_load ds_load_t;

/** One interval handed to on_interval (valid only during the call). */
typedef struct ds_load_snap {
	int64_t t_wall_ns;   /**< interval start, wall ns (ds_wall_ns() scale) */
	int64_t t_ns;        /**< interval start, ns since the run started */
	int64_t dur_ns;      /**< interval length (1 s but the last) */
	double target_qps;   /**< this process's scheduled rate over the interval (0 closed-loop) */
	uint64_t outstanding; /**< queries in flight at the end of the interval */
	uint64_t sock_drops; /**< datagrams the generator's sockets dropped in the interval */
	int64_t conn_active; /**< TCP: connections open at the end; -1 for UDP */
	const ds_meter_t *m; /**< the interval's counters and histograms */
	bool final;          /**< the last interval of the run */
} ds_load_snap_t;

typedef void (*ds_load_interval_fn)(const ds_load_snap_t *snap, void *user);

typedef struct ds_load_cfg {
	ds_sockaddr_t target;
	bool tcp;                  /**< TCP (persistent, pipelined) instead of UDP */
	uint32_t queries_per_conn; /**< TCP: reconnect after this many queries; 0 = never */
	const ds_profile_t *profile; /**< open-loop schedule (copied); NULL = closed-loop */
	bool poisson;              /**< Poisson instead of constant spacing */
	uint32_t max_outstanding;  /**< closed-loop: queries in flight (all threads) */
	const ds_qsrc_t *qsrc;     /**< borrowed: must outlive the engine */
	int64_t duration_ns;       /**< sending stops after this; 0 = at ds_load_stop() */
	int64_t timeout_ns;        /**< per query (default 2 s) */
	bool timeout_in_hist;      /**< record timeouts at timeout_ns in the histograms */
	int64_t max_lag_ns;        /**< validity: schedule lag p99 limit (default 1 ms) */
	int64_t coalesce_ns;       /**< queries due within this are sent in one batch (-1 = auto) */
	unsigned threads;          /**< sending threads (default 1) */
	unsigned sockets;          /**< UDP sockets / TCP connections per thread (default 1) */
	unsigned batch;            /**< sendmmsg/recvmmsg batch (default 64) */
	unsigned shard_index, shard_count; /**< this process is shard index of count (0 of 1) */
	uint64_t seed;             /**< Poisson gaps and query IDs (queries: the qsrc's seed) */
	bool rd;                   /**< set RD (default true) */
	int edns;                  /**< EDNS UDP size to advertise; 0 = no OPT record */
	bool dnssec_ok;            /**< set DO (implies EDNS) */
	int rcvbuf;                /**< socket buffer bytes (default 4 MiB) */
	bool no_gso;               /**< UDP: one datagram per message instead of UDP GSO batches */
	ds_load_interval_fn on_interval;
	void *user;
} ds_load_cfg_t;

/** Why a run was ended. */
typedef enum {
	DS_LOAD_END_DURATION, /**< the configured duration elapsed */
	DS_LOAD_END_STOPPED,  /**< ds_load_stop() */
} ds_load_end_t;

/** Totals of a finished run (ds_load_result()). */
typedef struct ds_load_result {
	ds_meter_t total;     /**< every interval merged */
	int64_t elapsed_ns;   /**< from start to the end of sending */
	int64_t run_ns;       /**< from start until every answer came or timed out */
	double scheduled;     /**< queries the schedule asked for (open-loop) */
	bool closed_loop;
	uint64_t sock_drops;  /**< datagrams dropped by the generator's own sockets */
	uint64_t host_rcvbuf_errors; /**< /proc/net/snmp Udp RcvbufErrors delta, whole host */
	int64_t lag_p99_max_ns; /**< worst per-second lag p99 (-1 if none) */
	unsigned intervals;
	ds_load_end_t end;
	bool valid;
	char invalid_reason[256]; /**< "" when valid */
} ds_load_result_t;

/** Defaults: 1 thread, 1 socket, batch 64, timeout 2 s in histograms, max lag 1 ms, RD. */
void ds_load_cfg_init(ds_load_cfg_t *cfg);

/**
 * Check cfg, open the sockets (UDP) and allocate everything; nothing is
 * sent yet. NULL with a message in err: bad configuration, socket errors
 * (e.g. "connect 192.0.2.1:53: Network is unreachable").
 */
ds_load_t *ds_load_new(const ds_load_cfg_t *cfg, ds_err_t *err);
/** Start the threads; time 0 of the profile is now. */
int ds_load_start(ds_load_t *l, ds_err_t *err);
/**
 * Replace the rate profile from now on: its time 0 is now (the run's
 * duration is unchanged). The profile is copied. Switching to or from
 * closed-loop is not possible. DS_EINVAL for a closed-loop engine.
 */
int ds_load_set_profile(ds_load_t *l, const ds_profile_t *p, ds_err_t *err);
/**
 * Take queries from src from now on (borrowed: it must outlive the
 * engine, as the first one).
 */
int ds_load_set_qsrc(ds_load_t *l, const ds_qsrc_t *src, ds_err_t *err);
/**
 * Stop sending now; answers still in flight are awaited up to the
 * timeout. Async-signal-safe (sets a flag), so a SIGINT handler may call it.
 */
void ds_load_stop(ds_load_t *l);
/** Wait until the run has ended (duration or stop) and every query is settled. */
int ds_load_wait(ds_load_t *l);
/** Nanoseconds since start (0 before). */
int64_t ds_load_elapsed(const ds_load_t *l);
/** Totals and validity; valid after ds_load_wait() returned. */
const ds_load_result_t *ds_load_result(const ds_load_t *l);
/** Wall-clock start of the run (ns), 0 before ds_load_start(). */
int64_t ds_load_start_wall(const ds_load_t *l);
/** Stop (if running), wait, close and free. NULL is fine. */
void ds_load_free(ds_load_t *l);

/** The `dnsurge load` verb (load_main.c); argv[0] is "load". Exit status. */
int ds_load_main(int argc, char **argv);
