/* SPDX-License-Identifier: MIT */
/**
 * \file upstream.h
 * \brief A plugin asks the server itself about a name and adds the answers
 *        to its own reply, as CoreDNS's plugin/pkg/upstream does.
 *
 * file (a CNAME target outside its zone) and template (the CNAME target of
 * an A/AAAA answer) both do this, and both need the same care, so it lives
 * here once:
 *  - the lookup is a sub-query in the block that would serve the name
 *    (ds_upstream_block()); it may finish inside ds_upstream_ask() or later
 *    (a forward upstream), and then the plugin holds its query (DS_ASYNC)
 *    without blocking the worker until a callback continues it;
 *  - a lookup may come back to the same plugin, which may look up again:
 *    each plugin keeps its lookups in a per-worker pool so that
 *    ds_upstream_depth() can tell how deep a sub-query is, and the plugin
 *    stops at DS_UPSTREAM_DEPTH_MAX, which ends loops;
 *  - the answers are copied with their names expanded (server/src/rrcopy.h).
 *
 * Lookups come from the pool's free list, grown in chunks, so the query
 * path does not allocate once the pool is warm. Everything happens on the
 * worker thread that owns the pool.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/src/plugin.h"

/** How many lookups may nest (a lookup's lookup ...) before a plugin stops asking. */
#define DS_UPSTREAM_DEPTH_MAX 8

typedef struct ds_upstream ds_upstream_t;

/**
 * Called on the worker when the answers of a lookup for which
 * ds_upstream_ask() returned DS_ASYNC are in u->q's reply. The plugin
 * finishes (or goes on with) its reply and resumes u->q.
 */
typedef void (*ds_upstream_cb)(ds_upstream_t *u);

/** Options of ds_upstream_ask(). */
enum {
	DS_UPSTREAM_TC = 1 << 0, /**< the reply takes the lookup's TC bit (CoreDNS's template does) */
};

/** Per-worker lookups of one plugin instance. Embed it; the fields are upstream.c's. */
typedef struct ds_upstream_pool {
	size_t stride;
	ds_upstream_t *free, *active;
	struct ds_upstream_chunk *chunks;
} ds_upstream_pool_t;

/** One lookup: a query waiting for the server's answers about a name. */
struct ds_upstream {
	ds_query_t *q; /**< the query whose reply gets the answers */
	int depth;     /**< lookups above q: 0 for a client's query */
	/* upstream.c's own */
	ds_query_t *sub; /* in flight, so that its own lookups know their depth */
	ds_upstream_pool_t *pool;
	ds_upstream_t *next_free, *prev_act, *next_act;
	ds_upstream_cb cb;
	unsigned opts;
	bool in_launch, done_sync;
	/** The plugin's state: `size` bytes (see ds_upstream_pool_init()), zeroed once. */
	_Alignas(max_align_t) unsigned char data[];
};

/** Prepare an empty pool whose lookups carry `size` bytes of plugin state. Allocates nothing. */
void ds_upstream_pool_init(ds_upstream_pool_t *pool, size_t size);
/** Free the pool's memory (worker_fini; lookups still held are dropped with it). */
void ds_upstream_pool_fini(ds_upstream_pool_t *pool);

/**
 * A lookup for q, at depth, from pool (which may be NULL: no worker
 * state). NULL when there is none or no memory for more.
 */
ds_upstream_t *ds_upstream_get(ds_upstream_pool_t *pool, ds_query_t *q, int depth);
/** Give u back to its pool (not while its sub-query is in flight). */
void ds_upstream_put(ds_upstream_t *u);
/** The plugin's state in u. */
static inline void *ds_upstream_data(ds_upstream_t *u)
{
	return u->data;
}

/**
 * How many lookups deep q is: 0 for a client's query, else one more than
 * the lookup of pool (may be NULL) that q is the sub-query of. Lookups of
 * other plugins are not counted.
 */
int ds_upstream_depth(const ds_upstream_pool_t *pool, const ds_query_t *q);

/** The block of q's generation the server would route name to (longest zone), or NULL. */
ds_block_t *ds_upstream_block(const ds_query_t *q, const uint8_t *name);

/**
 * Ask block b about name with q's qtype (RD set) and append the answer
 * section of its reply to u->q's reply, in the section being written.
 * Returns:
 *  - DS_OK: the answers are in already;
 *  - DS_ASYNC: they come later, then cb(u) is called (u stays taken);
 *  - DS_EAGAIN: nothing was asked (the worker has no query to spare).
 * u may be asked again once its lookup is over.
 */
int ds_upstream_ask(ds_upstream_t *u, ds_block_t *b, const uint8_t *name, unsigned opts,
		    ds_upstream_cb cb);
