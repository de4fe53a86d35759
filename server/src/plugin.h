/* SPDX-License-Identifier: MIT */
/**
 * \file plugin.h
 * \brief The dnsurged plugin interface: the only header a plugin includes.
 *
 * A server block's plugins form a chain in plugin.list order (CoreDNS's
 * plugin.cfg order, not Corefile order). A query walks the chain calling
 * each plugin's serve():
 *
 *  - return DS_NEXT: pass the query on. If the plugin has a done() hook it
 *    is called on the way back with the rcode the rest of the chain
 *    returned, so a plugin can act before and after "calling next" (cache
 *    stores, log logs, prometheus observes, loadbalance shuffles).
 *  - return an rcode: the chain stops here. As in CoreDNS, SERVFAIL,
 *    REFUSED, FORMERR and NOTIMP mean "nothing was written" and the server
 *    writes a bare reply with that rcode; any other rcode means the plugin
 *    wrote a reply (ds_query_reply*()).
 *  - return DS_ASYNC: the plugin keeps the query (waiting on an upstream,
 *    a timer, ...) and later calls ds_query_resume(q, rc) from the same
 *    worker thread, where rc is any of the above.
 *
 * done() returns the rcode to hand further up (usually rc unchanged), or
 * DS_ASYNC (then ds_query_resume() continues the unwinding).
 *
 * Threads: dnsurged runs N worker threads, each with its own event loop
 * and sockets; a query lives and dies on one worker. Per-worker plugin
 * state (upstream sockets, counters) comes from worker_init(). State shared
 * between workers needs its own synchronisation, sharded so no lock is
 * shared by all workers. The per-query path must not allocate.
 *
 * Lifetime: one set of plugin instances per configuration generation.
 * setup() at (re)load in the control thread, start() once all instances
 * of the generation exist, worker_init()/worker_fini() in each worker
 * thread, stop() when the generation is replaced or the process stops,
 * teardown() after every worker has let go of the generation.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"
#include "lib/corefile.h"
#include "lib/net.h"
#include "lib/wire.h"

#define DS_PLUGIN_ABI 1

/** serve()/done() results besides rcodes (which are >= 0). */
enum {
	DS_NEXT = -10000,  /**< continue with the next plugin */
	DS_ASYNC = -10001, /**< the plugin holds the query; ds_query_resume() follows */
};

/** Plugin flags. */
enum {
	DS_PLUGIN_ONCE = 1 << 0,   /**< "can only be used once per Server Block" */
	DS_PLUGIN_MULTI = 1 << 1,  /**< one instance per occurrence (forward) */
	DS_PLUGIN_GLOBAL = 1 << 2, /**< process-wide; setup-only, not in the query path */
};

/** Transport a query arrived on. */
enum ds_proto {
	DS_PROTO_UDP = 0,
	DS_PROTO_TCP = 1,
	DS_PROTO_INTERNAL = 2, /**< a sub-query made by a plugin (prefetch, CNAME chase) */
};

typedef struct ds_plugin ds_plugin_t;
typedef struct ds_query ds_query_t;
typedef struct ds_worker ds_worker_t;
typedef struct ds_block ds_block_t;
typedef struct ds_gen ds_gen_t;
typedef struct ds_timer ds_timer_t;

/** What a plugin provides. Only name and serve (or flag GLOBAL) are required. */
typedef struct ds_plugin_api {
	unsigned abi;
	const char *name;
	unsigned flags;
	/**
	 * Parse the plugin's directive(s): occ[0..n-1] are cursors over each
	 * occurrence in the block (n == 1 for ONCE and MULTI plugins). Set
	 * p->ctx. Errors: return ds_args_err(...) (DS_ECONFIG).
	 */
	int (*setup)(ds_plugin_t *p, ds_args_t *occ, size_t n);
	/** After every plugin of the generation is set up (open listeners ...). */
	int (*start)(ds_plugin_t *p, ds_err_t *err);
	/** Per worker thread, in that thread; *wctx becomes ds_plugin_wctx(). */
	int (*worker_init)(ds_plugin_t *p, ds_worker_t *w, void **wctx);
	void (*worker_fini)(ds_plugin_t *p, ds_worker_t *w, void *wctx);
	int (*serve)(ds_plugin_t *p, ds_query_t *q);
	int (*done)(ds_plugin_t *p, ds_query_t *q, int rc);
	/** Readiness for the ready plugin: true when ready. NULL = not tracked. */
	bool (*ready)(ds_plugin_t *p);
	/**
	 * The process is shutting down (SIGTERM/SIGINT): called in chain order
	 * before listeners close; may return a delay in ns the server must
	 * keep serving for (health's lameduck).
	 */
	int64_t (*shutdown)(ds_plugin_t *p);
	/** Generation replaced or process stopping (close listeners, threads). */
	void (*stop)(ds_plugin_t *p);
	void (*teardown)(ds_plugin_t *p);
} ds_plugin_api_t;

/** A plugin instance in a block's chain. */
struct ds_plugin {
	const ds_plugin_api_t *api;
	void *ctx;                /**< the plugin's own state, set in setup */
	ds_block_t *block;        /**< block it belongs to */
	ds_gen_t *gen;            /**< configuration generation */
	ds_plugin_t *next;        /**< next plugin in the chain, NULL at the end */
	unsigned index;           /**< position in the chain */
	void **wctx;              /**< per-worker state, indexed by worker id */
	unsigned nworkers;
};

/** Register a plugin (done by the generated table from plugins/plugin.list). */
#define DS_PLUGIN_DEFINE(sym) const ds_plugin_api_t ds_plugin_##sym

/* ---------------------------------------------------------------- query */

#define DS_CHAIN_MAX 48
#define DS_QUERY_ERR_MAX 256

/** One query travelling through a chain. Plugins read the request, write the response. */
struct ds_query {
	/* request */
	ds_msg_t req;             /**< parsed request; req.pkt is rx */
	uint8_t *rx;              /**< request bytes */
	uint32_t rx_cap;
	uint8_t proto;            /**< enum ds_proto */
	ds_sockaddr_t client;
	ds_sockaddr_t local;      /**< address the query arrived on */

	/* response */
	ds_wbuf_t resp;           /**< writer over tx; see ds_query_reply() */
	uint8_t *tx;
	uint32_t tx_cap;
	uint32_t resp_len;        /**< length once written */
	bool written;
	const char *writer;       /**< name of the plugin that wrote the reply */

	/* context */
	ds_worker_t *worker;
	ds_gen_t *gen;
	ds_block_t *block;
	const uint8_t *zone;      /**< the block zone that matched (flat) */
	uint16_t zone_idx;        /**< index of that zone in the block */
	uint16_t listener;        /**< index of the listener (metrics' server label) */
	const void *zmetrics;     /**< the zone's coredns_dns_* series (prometheus) */
	int64_t start_ns;         /**< monotonic, when the chain was entered */
	char err[DS_QUERY_ERR_MAX]; /**< error text for the errors plugin, "" if none */

	/* chain state, owned by the runner */
	uint8_t pos;              /**< index of the plugin being run */
	uint8_t depth;            /**< entries in stack */
	ds_plugin_t *stack[DS_CHAIN_MAX];
	uint64_t pscratch[DS_CHAIN_MAX][2]; /**< small per-plugin scratch in place */
	/**
	 * State of the plugin holding the query asynchronously (forward's
	 * upstream exchange, erratic's delay): valid from the serve() that
	 * returned DS_ASYNC until that plugin resumes the query.
	 */
	uint64_t pstate[32];

	/* completion (server internal) */
	void (*complete)(ds_query_t *q, int rc);
	void *complete_arg;
	ds_query_t *pool_next;
	void *conn;               /**< TCP connection, listener socket, ... */
	uint64_t udata;
};

/** Mark the response in q->resp as written by plugin p (ds_wb_finish included). */
int ds_query_reply(ds_query_t *q, ds_plugin_t *p);
/** Copy a complete wire response into q's tx and mark it written by p. */
int ds_query_reply_raw(ds_query_t *q, ds_plugin_t *p, const uint8_t *msg, size_t len);
/** Record an error for the errors plugin (printf-style). */
void ds_query_error(ds_query_t *q, const char *fmt, ...) DS_PRINTF(2, 3);
/** Continue a query a plugin returned DS_ASYNC for (same worker thread). */
void ds_query_resume(ds_query_t *q, int rc);
/** Per-query scratch of plugin p: two 64-bit words, zeroed when the query starts. */
static inline uint64_t *ds_query_scratch(ds_query_t *q, const ds_plugin_t *p)
{
	return q->pscratch[p->index];
}
/** Per-worker state of plugin p for the worker running q. */
void *ds_plugin_wctx(const ds_plugin_t *p, const ds_query_t *q);
/** Worker id of q. */
unsigned ds_query_worker_id(const ds_query_t *q);
/** The flat qname as the client sent it (case kept), into out. */
int ds_query_qname_orig(const ds_query_t *q, uint8_t *out);

/**
 * Sub-queries: a plugin asks the chain something on its own behalf
 * (prefetch, serve_stale refresh, resolving an ExternalName target).
 * The query starts at plugin `from` (NULL = the block's first plugin)
 * and cb is called with the result in sub->tx/sub->resp_len (or a bare
 * rcode if nothing was written); the sub-query is recycled after cb.
 * Returns NULL when the worker's query pool is exhausted (then skip it).
 * The request is built from qname/qtype/flags; do_bit adds an OPT.
 */
ds_query_t *ds_subquery_new(ds_worker_t *w, ds_block_t *b, ds_plugin_t *from,
			    const uint8_t *qname, uint16_t qtype, uint16_t flags, bool do_bit,
			    void (*cb)(ds_query_t *sub, int rc, void *arg), void *arg);
/** Start a sub-query made by ds_subquery_new() (runs until done or async). */
void ds_subquery_run(ds_query_t *sub);
/** Two words the creator of a sub-query may use (e.g. the cache key it refreshes). */
static inline uint64_t *ds_subquery_data(ds_query_t *sub)
{
	return sub->pscratch[DS_CHAIN_MAX - 2];
}

/* --------------------------------------------------------------- worker */

/** Called when a registered fd is ready (events: EPOLLIN/EPOLLOUT bits). */
typedef void (*ds_io_cb)(ds_worker_t *w, int fd, uint32_t events, void *arg);
/** Called when a timer fires. */
typedef void (*ds_timer_cb)(ds_worker_t *w, ds_timer_t *t, void *arg);

/** Intrusive timer; embed it, init once, start/stop any number of times. */
struct ds_timer {
	int64_t when;      /**< monotonic ns */
	ds_timer_cb cb;
	void *arg;
	int32_t heap_idx;  /**< -1 when not armed */
};

unsigned ds_worker_id(const ds_worker_t *w);
/** Number of DNS worker threads. */
unsigned ds_worker_count(void);
/** Monotonic time cached at the start of the worker's loop iteration. */
int64_t ds_worker_now(const ds_worker_t *w);
/** Watch fd for events (EPOLLIN, EPOLLOUT) in w's loop. */
int ds_worker_add_fd(ds_worker_t *w, int fd, uint32_t events, ds_io_cb cb, void *arg);
int ds_worker_mod_fd(ds_worker_t *w, int fd, uint32_t events, ds_io_cb cb, void *arg);
void ds_worker_del_fd(ds_worker_t *w, int fd);
void ds_timer_init(ds_timer_t *t, ds_timer_cb cb, void *arg);
/** (Re)arm t to fire after delay_ns on w. */
void ds_timer_start(ds_worker_t *w, ds_timer_t *t, int64_t delay_ns);
void ds_timer_stop(ds_worker_t *w, ds_timer_t *t);
static inline bool ds_timer_armed(const ds_timer_t *t)
{
	return t->heap_idx >= 0;
}
/** The control thread's loop (health checks, reload polling, ...). */
ds_worker_t *ds_control_worker(void);

/* ---------------------------------------------------------------- block */

/** Flat zones of the block (lower-case), as parsed from its keys. */
size_t ds_block_zones(const ds_block_t *b, const uint8_t *const **zones);
/** Presentation form of zone i ("example.org."). */
const char *ds_block_zone_str(const ds_block_t *b, size_t i);
/** Listen addresses of the block (after bind), for loop detection etc. */
size_t ds_block_listen(const ds_block_t *b, const ds_sockaddr_t **addrs);
/** Is a plugin named `name` in this block's chain? */
ds_plugin_t *ds_block_find(const ds_block_t *b, const char *name);
/** The block's "server" label for metrics of listener i ("dns://:53"). */
const char *ds_block_server_label(const ds_block_t *b, size_t listener);

/** Path of the Corefile the generation was loaded from. */
const char *ds_gen_corefile_path(const ds_gen_t *g);
/** All blocks of the generation. */
size_t ds_gen_blocks(const ds_gen_t *g, ds_block_t *const **blocks);

/* ------------------------------------------------------------- helpers */

/** Parse a Go duration argument at the cursor; config error on failure. */
int ds_args_duration(ds_args_t *a, int64_t *ns);
/** Parse an integer argument in [min, max] at the cursor. */
int ds_args_int(ds_args_t *a, long long min, long long max, long long *out);
/**
 * Zones as a plugin's arguments ("cache 30 example.org"): normalise the
 * remaining arguments on the line into flat names; none given = the
 * block's zones. *out is malloc'd (free with free()).
 */
int ds_args_zones(ds_args_t *a, ds_block_t *b, uint8_t (**out)[DS_NAME_MAX], size_t *n);
/** Longest zone in zones[] that qname is in, or -1. */
int ds_zone_match(const uint8_t (*zones)[DS_NAME_MAX], size_t n, const uint8_t *qname);
