/* SPDX-License-Identifier: MIT */
/**
 * \file grace.h
 * \brief Grace-period reclamation for tables that workers read while the
 *        control loop replaces them (the hosts and file plugins' reloads).
 *
 * The control loop swaps a table pointer and retires the old table; it is
 * freed once every worker that was reading when it was retired has left.
 * Each worker bumps its own counter on its own cache line when it enters
 * and leaves a read, odd while inside: two stores per query on a
 * worker-private line, where a shared reference count would bounce one
 * line between all workers. The control loop snapshots the counters at
 * retirement; a worker whose counter is odd and unchanged since is still
 * inside and may hold the old pointer.
 *
 * Workers call ds_grace_enter()/ds_grace_leave() around every read of the
 * pointer; the control loop alone calls the other functions.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"

/** Retired tables that may wait at once; beyond, one is leaked (logged). */
#define DS_GRACE_RETIRED_MAX 8

typedef struct ds_grace_slot {
	atomic_uint_fast64_t seq;
	char pad[64 - sizeof(atomic_uint_fast64_t)];
} ds_grace_slot_t;

typedef struct ds_grace {
	ds_grace_slot_t *slots; /* one per worker */
	unsigned nslots;
	const char *plugin; /* for the log line when a table must be leaked */
	struct ds_grace_retired {
		void *obj;
		void (*free_fn)(void *);
		uint64_t *snap;
	} retired[DS_GRACE_RETIRED_MAX];
	size_t nretired;
} ds_grace_t;

/** Counters for nworkers workers. DS_OK or DS_ENOMEM. */
int ds_grace_init(ds_grace_t *g, unsigned nworkers, const char *plugin);

/**
 * Worker wid starts reading (wid < g->nslots). Returns the value to give
 * ds_grace_leave(). The store is sequentially consistent so that it is
 * ordered before the caller's load of the table pointer.
 */
static inline uint64_t ds_grace_enter(ds_grace_t *g, unsigned wid)
{
	atomic_uint_fast64_t *seq = &g->slots[wid].seq;
	uint64_t v = atomic_load_explicit(seq, memory_order_relaxed);
	atomic_store(seq, v + 1);
	return v;
}

/** Worker wid is done with what it read. */
static inline void ds_grace_leave(ds_grace_t *g, unsigned wid, uint64_t v)
{
	atomic_store_explicit(&g->slots[wid].seq, v + 2, memory_order_release);
}

/**
 * Retire obj, which the caller has just unpublished (its atomic exchange
 * is sequentially consistent, like the snapshot taken here): free_fn(obj)
 * runs once no worker can still read it. NULL obj is ignored. When obj
 * cannot be tracked (no memory, too many waiting) it is leaked with a
 * warning: that beats freeing it under a reader. false then.
 */
bool ds_grace_retire(ds_grace_t *g, void *obj, void (*free_fn)(void *));

/** Free what no worker can read any more; all: everything (workers stopped). */
void ds_grace_reclaim(ds_grace_t *g, bool all);

/** Tables waiting for their grace period to end. */
static inline size_t ds_grace_pending(const ds_grace_t *g)
{
	return g->nretired;
}

/** Free every retired table and the counters (workers stopped). */
void ds_grace_fini(ds_grace_t *g);
