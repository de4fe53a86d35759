/* SPDX-License-Identifier: MIT */
/**
 * \file server.h
 * \brief dnsurged internals: workers, configuration generations, blocks,
 *        listeners and the chain runner. Plugins use plugin.h instead.
 *
 * Threads: the main thread runs the control loop (signals, reload, health
 * checks and other timers of plugins); N worker threads each run an epoll
 * loop with their own SO_REUSEPORT UDP and TCP sockets for every listen
 * address, their own query pool and timers. A query never changes thread.
 *
 * Reload: the control thread builds a new generation (ds_gen_t) while the
 * old one serves, then hands it to every worker. A worker adopts it at the
 * top of its loop: it keeps its sockets for addresses that stay (so no
 * queued query is lost), opens new ones, closes dropped ones. Queries in
 * flight keep their generation; when a worker has none left in an old
 * generation it lets go of it, and the last worker to let go hands it back
 * to the control thread, which tears it down.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "lib/rand.h"
#include "server/src/metrics.h"
#include "server/src/plugin.h"

#define DS_UDP_BATCH 64
#define DS_RX_UDP 4096
#define DS_TX_MAX 65535
#define DS_MAX_GENS 8

/** A plugin compiled in: name and API, in plugin.list order. */
typedef struct ds_plugin_reg {
	const char *name;
	const ds_plugin_api_t *api; /**< NULL: known to CoreDNS but not built here */
} ds_plugin_reg_t;

extern const ds_plugin_reg_t ds_plugin_table[];
extern const size_t ds_plugin_table_len;

/** One address the server listens on (UDP + TCP), with the zones served there. */
typedef struct ds_listen {
	ds_sockaddr_t addr;
	char label[96];              /**< metrics' server label: "dns://:53" */
	struct ds_zone_ent {
		uint8_t zone[DS_NAME_MAX];
		ds_block_t *block;
		uint16_t zone_idx;   /**< index in the block's zones */
		struct ds_dnsm_zone *metrics; /**< coredns_dns_* series, if prometheus */
	} *zones;
	size_t nzones;
	ds_block_t *root_block;      /**< block for "." here, if any */
	uint16_t listener_idx;       /**< index in the generation */
	struct ds_dnsm_zone *dropped; /**< series for zone "dropped", if prometheus */
} ds_listen_t;

/** One server block instantiated in a generation. */
struct ds_block {
	ds_gen_t *gen;
	const ds_sblock_t *src;
	uint8_t (*zones)[DS_NAME_MAX];
	char **zone_strs;
	size_t nzones;
	ds_sockaddr_t *listen;       /**< addresses this block binds (bind plugin or any) */
	size_t nlisten;
	int *ports;                  /**< ports from the keys, one per zone */
	ds_plugin_t **chain;         /**< query-path plugins, chain order */
	size_t nchain;
	ds_plugin_t **all;           /**< every instance incl. setup-only ones */
	size_t nall;
	bool any_class;              /**< chaos/forward/proxy present: non-IN allowed */
	const char **server_labels;  /**< per generation listener index */
	void *metrics;               /**< core metric handles (prometheus plugin) */
};

/** A whole configuration: what one Corefile parse turned into. */
struct ds_gen {
	uint64_t id;
	char *corefile_path;
	ds_corefile_t *cf;
	char *canonical;             /**< parsed form, hashed for reload */
	char sha512[129];
	ds_block_t **blocks;
	size_t nblocks;
	ds_listen_t *listens;
	size_t nlistens;
	atomic_uint released;        /**< workers done with this generation */
	bool started;
};

/** Per-worker record of queries in flight for one generation. */
typedef struct ds_gen_ref {
	ds_gen_t *gen;
	uint64_t inflight;
} ds_gen_ref_t;

typedef struct ds_lsock ds_lsock_t;

struct ds_worker {
	unsigned id;
	bool is_control;
	pthread_t thread;
	int epfd;
	int wakefd;
	int64_t now;
	ds_rng_t rng;
	/* timers: binary min-heap of armed timers */
	ds_timer_t **heap;
	size_t nheap, capheap;
	/* fd handlers, indexed by fd */
	struct ds_fdh {
		ds_io_cb cb;
		void *arg;
		uint32_t events;
	} *fdh;
	size_t nfdh;
	/* query pool */
	ds_query_t *free_q;
	size_t nq_total;
	size_t nq_max;
	/* generations */
	ds_gen_t *gen;               /**< current */
	_Atomic(ds_gen_t *) next_gen; /**< handed over by the control thread */
	ds_gen_ref_t refs[DS_MAX_GENS];
	/* listener sockets of this worker */
	ds_lsock_t *lsocks;
	/* UDP responses completed asynchronously, sent in one batch per loop turn */
	ds_query_t *udp_out;
	atomic_bool stopping;        /**< stop reading new queries, drain, exit */
	bool stopped;
	size_t tcp_conns;
	uint64_t dropped;            /**< garbage datagrams dropped */
};

/* ----------------------------------------------------------- worker.c */

int ds_worker_setup(ds_worker_t *w, unsigned id, bool control);
void ds_worker_cleanup(ds_worker_t *w);
/** Run the loop until stopped (the thread body for workers). */
void ds_worker_loop(ds_worker_t *w);
/** Run one turn of the loop (control thread) waiting at most max_wait_ms. */
void ds_worker_turn(ds_worker_t *w, int max_wait_ms);
/** Let go of every generation w holds (worker_fini of their plugins). */
void ds_worker_release_all(ds_worker_t *w);
/** Wake a worker's loop from another thread. */
void ds_worker_wake(ds_worker_t *w);
ds_query_t *ds_query_get(ds_worker_t *w);
void ds_query_put(ds_worker_t *w, ds_query_t *q);
/** Count a query in/out of its generation (drives generation release). */
void ds_worker_gen_hold(ds_worker_t *w, ds_gen_t *g);
void ds_worker_gen_drop(ds_worker_t *w, ds_gen_t *g);

/** Process-wide worker array (and the control loop at index nworkers). */
extern ds_worker_t *ds_workers;
extern unsigned ds_nworkers;

/* --------------------------------------------------------- listener.c */

/** Reconcile w's sockets with generation g (in the worker thread). */
int ds_listen_adopt(ds_worker_t *w, ds_gen_t *g);
/** Close w's listening sockets (shutdown: stop taking new queries). */
void ds_listen_close_all(ds_worker_t *w);
/** Send the UDP responses queued on w (end of a loop turn). */
void ds_listen_flush(ds_worker_t *w);
/** Unit tests: workers adopt generations without opening sockets. */
extern bool ds_listen_disabled;
/** Listen socket options: TCP timeouts in ns and connection limit. */
extern int64_t ds_tcp_idle_ns, ds_tcp_read_ns;
extern size_t ds_tcp_max_conns;

/* ------------------------------------------------------------ chain.c */

/**
 * Handle a received request in q (rx filled, proto/client/local set) on
 * listener l. Returns true if it completed synchronously (q->tx holds the
 * reply of q->resp_len bytes, or resp_len == 0: drop), false if a plugin
 * took it (q->complete is called later).
 */
bool ds_chain_handle(ds_worker_t *w, const ds_listen_t *l, ds_query_t *q, size_t len);
/** Finish a query: bare reply if needed, EDNS mirroring, truncation. */
void ds_chain_finalize(ds_query_t *q, int rc);

/* ------------------------------------------------------------ config.c */

/**
 * Build a generation from a Corefile path (or the built-in default when
 * path is NULL). Plugins' setup() runs here; start() does not.
 */
int ds_gen_build(const char *path, int dns_port, ds_gen_t **out, ds_err_t *err);
/** Run start() of every plugin (control thread). */
int ds_gen_start(ds_gen_t *g, ds_err_t *err);
/** Call stop() of every plugin. */
void ds_gen_stop(ds_gen_t *g);
/** Teardown and free (after all workers released it). */
void ds_gen_free(ds_gen_t *g);
/** Add a listen address to block b (the bind plugin). */
int ds_block_bind(ds_block_t *b, const ds_sockaddr_t *addr);
/** Find a compiled-in plugin by name. */
const ds_plugin_reg_t *ds_plugin_lookup(const char *name);
/** Shutdown hooks in chain order; returns the longest delay asked for. */
int64_t ds_gen_shutdown(ds_gen_t *g);
/** True when every plugin that tracks readiness is ready; names of the others into buf. */
bool ds_gen_ready(ds_gen_t *g, char *buf, size_t len);

/* -------------------------------------------------------------- main.c */

/** Process-wide settings from the command line. */
typedef struct ds_opts {
	const char *conf;
	int dns_port;
	unsigned workers;
	bool quiet;
	const char *pidfile;
	const char *user;            /**< drop privileges to this user after binding */
} ds_opts_t;

extern ds_opts_t ds_opts;
/** Ask the control thread to reload (reload plugin, SIGUSR1); any thread. */
void ds_server_request_reload(void);
/** Whether a reload was asked for since the last call (control thread). */
bool ds_server_take_reload(void);
