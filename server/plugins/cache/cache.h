/* SPDX-License-Identifier: MIT */
/**
 * \file cache.h
 * \brief The cache plugin's store, exposed for unit tests.
 *
 * Two tables (success, denial), 256 shards each, shard capacity
 * max(CAPACITY/256, 4); a new key in a full shard evicts one random item
 * of that shard. Items hold the response as wire bytes (question kept,
 * OPT removed) plus the offsets of every TTL field, so a hit is one memcpy
 * and a few byte patches, under the shard's spinlock. The shards spread
 * workers over 512 locks: no lock is shared by all workers.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "server/src/plugin.h"

#define DS_CACHE_SHARDS 256

typedef struct ds_centry {
	uint64_t key;
	int64_t stored_ns;     /**< clock when stored: TTLs count down from here */
	uint32_t orig_ttl;     /**< stored duration in seconds */
	uint16_t qtype, qclass;
	uint16_t qname_wlen;   /**< length of the question name at offset 12 */
	uint16_t len;          /**< wire bytes */
	uint16_t nttl;         /**< TTL fields to patch */
	bool servfail;         /**< a cached SERVFAIL/NOTIMP (denial table) */
	bool refreshing;       /**< a prefetch / stale refresh is in flight */
	uint32_t hits;         /**< prefetch frequency: hits without a gap >= duration */
	int64_t last_hit_ns;
	int64_t recheck_ns;    /**< serve_stale: no refresh before this (failure_recheck) */
	uint16_t *ttl_offs;    /**< points into the same allocation */
	uint8_t wire[];
} ds_centry_t;

typedef struct ds_cshard {
	pthread_spinlock_t lock;
	ds_centry_t **slots;   /**< open addressing, linear probing */
	uint32_t mask;
	uint32_t count;
	uint32_t cap;
	uint64_t rng;
} ds_cshard_t;

typedef struct ds_ctable {
	ds_cshard_t shards[DS_CACHE_SHARDS];
	uint32_t shard_cap;
	atomic_long entries;
} ds_ctable_t;

/** Clock the cache uses (monotonic ns); tests replace it. */
extern int64_t (*ds_cache_clock)(void);

/** CoreDNS's key: FNV-1 64 over DO, CD, qtype, qclass, lower-case qname. */
uint64_t ds_cache_key(const uint8_t *qname, uint16_t qtype, uint16_t qclass, bool do_bit, bool cd);
/**
 * Minimum TTL of the response's records (OPT excluded), starting from
 * max; 5 s when the type is not NOERROR/NXDOMAIN/NODATA or there are no
 * records (CoreDNS's MinimalTTL).
 */
uint32_t ds_cache_msg_ttl(const uint8_t *pkt, size_t len, ds_resp_type_t t);
/** clamp(ttl, min, max) as computeTTL does (min first, then max). */
static inline uint32_t ds_cache_clamp(uint32_t ttl, uint32_t min, uint32_t max)
{
	if (ttl < min)
		ttl = min;
	if (ttl > max)
		ttl = max;
	return ttl;
}
/** Seconds of TTL left at now: orig - whole seconds elapsed (may be negative). */
static inline int64_t ds_centry_ttl(const ds_centry_t *e, int64_t now_ns)
{
	return (int64_t)e->orig_ttl - (now_ns - e->stored_ns) / 1000000000LL;
}

int ds_ctable_init(ds_ctable_t *t, uint32_t capacity);
void ds_ctable_free(ds_ctable_t *t);
/**
 * Build an entry from a response (OPT stripped; must be the last record)
 * with duration ttl. NULL if the response cannot be stored that way.
 */
ds_centry_t *ds_centry_new(const uint8_t *pkt, size_t len, uint64_t key, uint32_t ttl,
			   int64_t now_ns);
/**
 * Insert (replacing the same key). Returns true when another item was
 * evicted to make room. Takes ownership of e.
 */
bool ds_ctable_put(ds_ctable_t *t, ds_centry_t *e);
/** Remove key if present. */
void ds_ctable_del(ds_ctable_t *t, uint64_t key);
/** Shard of a key (lock it around ds_ctable_find). */
static inline ds_cshard_t *ds_ctable_shard(ds_ctable_t *t, uint64_t key)
{
	return &t->shards[key & (DS_CACHE_SHARDS - 1)];
}
/** Find key in its shard; the caller holds the shard lock. */
ds_centry_t *ds_cshard_find(ds_cshard_t *s, uint64_t key);
/** Items in the table (all shards). */
long ds_ctable_len(ds_ctable_t *t);
