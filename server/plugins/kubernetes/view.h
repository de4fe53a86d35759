/* SPDX-License-Identifier: MIT */
/**
 * \file view.h
 * \brief The kubernetes plugin's in-memory view of the cluster: compact,
 *        immutable records that DNS workers read without locks, and the
 *        single writer (the API watcher) that builds and publishes them.
 *
 * What a worker reads is a *view*: four hash multimaps (services by
 * namespace/name, namespaces, reverse IP index, pod IPs), each split in
 * DS_K8S_SHARDS immutable shards of 16-byte entries. A service entry holds
 * its own copy of the Service (cluster IPs, ports, ExternalName: a query
 * touches one record) and points at immutable EndpointSlice blobs (ready
 * addresses, ports, endpoint names). A change copies only what it touches
 * (copy-on-write per shard and per service): one EndpointSlice update
 * makes one new slice blob, one new service entry and private copies of
 * the two or three shards whose entries changed. Changes are batched and
 * published with one atomic pointer store.
 *
 * Reclamation: each reader announces the global epoch in its own slot
 * (one cache line per worker) before loading the view pointer and clears
 * it when done; the writer bumps the epoch after each publish and frees
 * what the publish replaced once no slot shows an older epoch. Readers
 * never wait and never write shared memory other than their own slot.
 *
 * Threads: ds_k8s_view_enter/exit and the lookups run in any worker; every
 * ds_k8s_store_* mutator runs in one thread at a time (the watcher, or a
 * unit test before queries run).
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common.h"

#define DS_K8S_SHARD_BITS 9
#define DS_K8S_SHARDS (1u << DS_K8S_SHARD_BITS)

/** The tables of a view. */
enum {
	DS_K8S_T_SVC = 0, /**< svckey -> ds_k8s_svcent_t * */
	DS_K8S_T_NS,      /**< nskey -> ds_k8s_nsent_t * */
	DS_K8S_T_REV,     /**< ipkey -> svckey | DS_K8S_REV_CLUSTER (multimap) */
	DS_K8S_T_POD,     /**< ipkey -> (nskey & DS_K8S_POD_NSMASK) | pod count (multimap) */
	DS_K8S_NTABLES,
};

/** Low bit of a reverse-index value: the IP is a cluster IP (not an endpoint). */
#define DS_K8S_REV_CLUSTER 1u
/** Pod-table values: namespace hash in the high 48 bits, pod count below. */
#define DS_K8S_POD_NSMASK (~(uint64_t)0xffff)

/** Service types as the DNS sees them. */
enum { DS_K8S_CLUSTERIP = 0, DS_K8S_HEADLESS = 1, DS_K8S_EXTERNAL = 2 };

/** API object kinds the watcher follows. */
enum { DS_K8S_K_SVC = 0, DS_K8S_K_SLICE, DS_K8S_K_NS, DS_K8S_K_POD, DS_K8S_NKINDS };

/** One table entry. key 0 marks an empty slot. */
typedef struct ds_k8s_ent {
	uint64_t key;
	uint64_t val;
} ds_k8s_ent_t;

/** One immutable shard: open addressing, linear probing, capacity mask + 1. */
typedef struct ds_k8s_shard {
	uint32_t mask;
	uint32_t count;
	ds_k8s_ent_t e[];
} ds_k8s_shard_t;

/**
 * A port as stored in service and slice blobs (packed, unaligned):
 * int32 port, u8 protocol length, u8 name length, protocol, name.
 * Protocols and names are compared case-insensitively, as CoreDNS does.
 */
typedef struct ds_k8s_port {
	int32_t port; /**< -1: the "no ports" sentinel */
	uint8_t plen, nlen;
	const char *proto;
	const char *name;
} ds_k8s_port_t;

/** A Service, immutable once published. */
typedef struct ds_k8s_svc {
	uint8_t type;   /**< DS_K8S_CLUSTERIP / HEADLESS / EXTERNAL */
	uint8_t nips;   /**< usable cluster IPs (dual-stack: 2) */
	uint8_t fam[2]; /**< 4 or 6 */
	uint8_t ip[2][16];
	bool ext_is_ip;     /**< ExternalName that is an IP: never answered */
	uint8_t ext_len;    /**< flat externalName length, 0 = none */
	uint16_t nports;    /**< ports (the -1 sentinel included) */
	uint16_t ports_len; /**< bytes of the packed ports */
	uint8_t data[];     /**< packed ports, then the flat externalName */
} ds_k8s_svc_t;

/** An EndpointSlice reduced to its ready addresses; immutable once published. */
typedef struct ds_k8s_slice {
	uint64_t key;    /**< hash of namespace/name (the watcher's handle) */
	uint64_t svckey; /**< service it belongs to (kubernetes.io/service-name) */
	uint32_t gen;    /**< watcher only: list generation it was last seen in */
	uint32_t naddr;  /**< ready addresses */
	uint16_t nports; /**< ports (the -1 sentinel included) */
	uint16_t ports_len;
	uint8_t alen; /**< 4 or 16: one family per slice (addressType) */
	uint8_t pad[3];
	uint32_t names_len;
	/**
	 * Packed ports, then naddr addresses of alen bytes, then per address
	 * one length byte and the endpoint name (hostname, or pod name with
	 * endpoint_pod_names); length 0 = the name is derived from the IP.
	 */
	uint8_t data[];
} ds_k8s_slice_t;

/** What a service name resolves to: the Service (if any) and its slices. */
typedef struct ds_k8s_svcent {
	uint64_t key; /**< svckey */
	/** The entry's own copy of the Service (after the names), or NULL:
	 * only EndpointSlices exist (PTR still works). */
	const ds_k8s_svc_t *svc;
	uint32_t gen;   /**< watcher only: list generation of the Service */
	uint32_t naddr; /**< ready addresses over all slices */
	uint16_t nslices;
	uint8_t ns_len, name_len;
	const ds_k8s_slice_t *slices[]; /**< then the namespace, then the name */
} ds_k8s_svcent_t;

/** A Namespace that exists (and matches namespace_labels). */
typedef struct ds_k8s_nsent {
	uint64_t key;
	uint32_t gen; /**< watcher only */
	uint8_t len;
	char name[];
} ds_k8s_nsent_t;

/** A published view. Never changes once readers can see it. */
typedef struct ds_k8s_view {
	ds_k8s_shard_t *t[DS_K8S_NTABLES][DS_K8S_SHARDS];
	uint64_t seq;    /**< publish number */
	uint32_t serial; /**< SOA serial: Unix time of the last relevant change */
	/* sizes, for tests and the memory report */
	uint64_t nsvc, nslice, naddr, npod, nns;
	uint64_t bytes; /**< bytes of blobs and shards this view references */
} ds_k8s_view_t;

typedef struct ds_k8s_store ds_k8s_store_t;

/* ----------------------------------------------------------------- keys */

/** Keys are seeded 64-bit hashes, never 0; svckeys have the low bit clear. */
uint64_t ds_k8s_svckey(const ds_k8s_store_t *s, const char *ns, size_t nslen, const char *name,
                       size_t namelen);
uint64_t ds_k8s_nskey(const ds_k8s_store_t *s, const char *ns, size_t nslen);
uint64_t ds_k8s_ipkey(const ds_k8s_store_t *s, int fam, const uint8_t *ip);
/** Handle of a namespaced object of one kind (slices, pods). */
uint64_t ds_k8s_objkey(const ds_k8s_store_t *s, int kind, const char *ns, size_t nslen,
                       const char *name, size_t namelen);

/* ------------------------------------------------------------- readers */

struct ds_k8s_rslot {
	_Atomic uint64_t epoch; /**< 0: not reading */
	char pad[64 - sizeof(uint64_t)];
};

/** What readers need of the store; the rest is private to view.c. */
struct ds_k8s_store_pub {
	_Atomic(ds_k8s_view_t *) cur;
	_Atomic uint64_t epoch;
	struct ds_k8s_rslot *slots;
	unsigned nslots;
};

/** The reader part of a store (first member of the store). */
static inline struct ds_k8s_store_pub *ds_k8s_store_pub(ds_k8s_store_t *s)
{
	return (struct ds_k8s_store_pub *)(void *)s;
}

/**
 * Start reading: announce the epoch in reader slot rid, then load the view.
 * The view and everything it points to stay valid until
 * ds_k8s_view_exit(). Nesting in one thread is allowed (the outer
 * announcement protects both). rid < the nreaders given to the store.
 */
static inline const ds_k8s_view_t *ds_k8s_view_enter(ds_k8s_store_t *s, unsigned rid,
                                                     uint64_t *saved)
{
	struct ds_k8s_store_pub *p = ds_k8s_store_pub(s);
	_Atomic uint64_t *slot = &p->slots[rid].epoch;
	*saved = atomic_load_explicit(slot, memory_order_relaxed);
	if (*saved == 0)
		atomic_store_explicit(slot, atomic_load_explicit(&p->epoch, memory_order_seq_cst),
		                      memory_order_seq_cst);
	return atomic_load_explicit(&p->cur, memory_order_seq_cst);
}

/** Stop reading (pass the value ds_k8s_view_enter() saved). */
static inline void ds_k8s_view_exit(ds_k8s_store_t *s, unsigned rid, uint64_t saved)
{
	atomic_store_explicit(&ds_k8s_store_pub(s)->slots[rid].epoch, saved, memory_order_release);
}

/** Iterate the values stored under key in table t of v. */
typedef struct ds_k8s_iter {
	const ds_k8s_shard_t *sh;
	uint64_t key;
	uint32_t i;
} ds_k8s_iter_t;

static inline void ds_k8s_find(const ds_k8s_view_t *v, int t, uint64_t key, ds_k8s_iter_t *it)
{
	it->sh = v->t[t][key >> (64 - DS_K8S_SHARD_BITS)];
	it->key = key;
	it->i = it->sh ? (uint32_t)key & it->sh->mask : 0;
}

/** Next value under the key: true and *val set, or false at the end. */
static inline bool ds_k8s_next(ds_k8s_iter_t *it, uint64_t *val)
{
	const ds_k8s_shard_t *sh = it->sh;
	if (!sh)
		return false;
	for (;;) {
		const ds_k8s_ent_t *e = &sh->e[it->i];
		if (e->key == 0)
			return false;
		it->i = (it->i + 1) & sh->mask;
		if (e->key == it->key) {
			*val = e->val;
			return true;
		}
	}
}

/** The service entry of namespace/name, or NULL. */
const ds_k8s_svcent_t *ds_k8s_view_svc(const ds_k8s_view_t *v, uint64_t svckey, const char *ns,
                                       size_t nslen, const char *name, size_t namelen);
/** The service entry with this key (reverse lookups; no name check), or NULL. */
const ds_k8s_svcent_t *ds_k8s_view_svc_bykey(const ds_k8s_view_t *v, uint64_t svckey);
/** Does the Namespace exist in the view? (decided by the seeded 64-bit key) */
bool ds_k8s_view_ns(const ds_k8s_view_t *v, uint64_t nskey, const char *ns, size_t nslen);

static inline const char *ds_k8s_svcent_ns(const ds_k8s_svcent_t *e)
{
	return (const char *)&e->slices[e->nslices];
}
static inline const char *ds_k8s_svcent_name(const ds_k8s_svcent_t *e)
{
	return ds_k8s_svcent_ns(e) + e->ns_len;
}
static inline const uint8_t *ds_k8s_svc_ext(const ds_k8s_svc_t *s)
{
	return s->ext_len ? s->data + s->ports_len : NULL;
}
static inline const uint8_t *ds_k8s_slice_addr(const ds_k8s_slice_t *sl, uint32_t i)
{
	return sl->data + sl->ports_len + (size_t)i * sl->alen;
}
static inline const uint8_t *ds_k8s_slice_names(const ds_k8s_slice_t *sl)
{
	return sl->data + sl->ports_len + (size_t)sl->naddr * sl->alen;
}

/**
 * Decode the port at *off of a packed port list (advancing *off). The
 * strings point into the blob (not NUL-terminated).
 */
void ds_k8s_port_at(const uint8_t *ports, size_t *off, ds_k8s_port_t *out);

/* -------------------------------------------------------------- writer */

/**
 * A store for nreaders reader slots (workers + control loop). The first
 * view is empty. Returns NULL on allocation failure.
 */
ds_k8s_store_t *ds_k8s_store_new(unsigned nreaders);
/** Free the store, every view and every record (no reader may be left). */
void ds_k8s_store_free(ds_k8s_store_t *s);

/**
 * Build a Service blob. ports: packed with ds_k8s_port_pack(); ext: flat
 * externalName or NULL. Returns a malloc'd blob or NULL.
 */
ds_k8s_svc_t *ds_k8s_svc_new(uint8_t type, const uint8_t *fams, const uint8_t (*ips)[16],
                             unsigned nips, const uint8_t *ports, size_t ports_len, unsigned nports,
                             const uint8_t *ext, bool ext_is_ip);
/**
 * Build a slice blob (see ds_k8s_slice_t): ports packed, addrs naddr x
 * alen bytes, names one length byte + bytes per address. NULL on failure.
 */
ds_k8s_slice_t *ds_k8s_slice_new(uint64_t key, uint64_t svckey, uint8_t alen, const uint8_t *ports,
                                 size_t ports_len, unsigned nports, const uint8_t *addrs,
                                 uint32_t naddr, const uint8_t *names, size_t names_len);
/** Append one port to a packed list (buf must have 6 + plen + nlen bytes). Returns bytes. */
size_t ds_k8s_port_pack(uint8_t *buf, int32_t port, const char *proto, size_t plen,
                        const char *name, size_t nlen);

/**
 * Replace or add the Service ns/name (takes ownership of svc, which is
 * copied into the service entry and freed; equal content to what is
 * there already makes no change).
 */
int ds_k8s_store_put_svc(ds_k8s_store_t *s, const char *ns, size_t nslen, const char *name,
                         size_t namelen, ds_k8s_svc_t *svc);
int ds_k8s_store_del_svc(ds_k8s_store_t *s, const char *ns, size_t nslen, const char *name,
                         size_t namelen);
/**
 * Replace or add an EndpointSlice (takes ownership; sl->key and
 * sl->svckey set by the caller; the service names are needed when the
 * slice is the first thing known of its service).
 * *changed tells whether the view content changed.
 */
int ds_k8s_store_put_slice(ds_k8s_store_t *s, const char *ns, size_t nslen, const char *svc,
                           size_t svclen, ds_k8s_slice_t *sl, bool *changed);
int ds_k8s_store_del_slice(ds_k8s_store_t *s, uint64_t slicekey, bool *changed);
int ds_k8s_store_put_ns(ds_k8s_store_t *s, const char *ns, size_t nslen);
int ds_k8s_store_del_ns(ds_k8s_store_t *s, const char *ns, size_t nslen);
/** A Pod with an IP (fam 0: no IP yet, which removes it from the table). */
int ds_k8s_store_put_pod(ds_k8s_store_t *s, uint64_t podkey, int fam, const uint8_t *ip,
                         const char *ns, size_t nslen);
int ds_k8s_store_del_pod(ds_k8s_store_t *s, uint64_t podkey);

/** The service entry a Service or slice of this key belongs to, in the batch being built. */
const ds_k8s_svcent_t *ds_k8s_store_svcent(ds_k8s_store_t *s, uint64_t svckey);

/**
 * Relists: begin_list starts a new generation for a kind (objects upserted
 * from now on carry it); sweep deletes every object of that kind that was
 * not upserted since (what a relist did not return).
 */
void ds_k8s_store_begin_list(ds_k8s_store_t *s, int kind);
int ds_k8s_store_sweep(ds_k8s_store_t *s, int kind);

/** True when changes wait to be published. */
bool ds_k8s_store_pending(const ds_k8s_store_t *s);
/** Changes that wait are relevant for the SOA serial (not only namespaces). */
void ds_k8s_store_touch_serial(ds_k8s_store_t *s);
/**
 * Publish the batch: one atomic store makes it visible to readers; then
 * free what earlier publishes replaced and no reader can still see.
 * Returns DS_OK (also when nothing was pending).
 */
int ds_k8s_store_publish(ds_k8s_store_t *s);
/** Time spent copying shards for the batch being built (what batching saves). */
int64_t ds_k8s_store_batch_ns(const ds_k8s_store_t *s);
/** Try to free retired records again (a reader was still busy). */
void ds_k8s_store_reclaim(ds_k8s_store_t *s);
/** Batches retired but not freed yet (tests). */
size_t ds_k8s_store_retired(const ds_k8s_store_t *s);
/** The current view (writer thread only, no reader protection needed). */
const ds_k8s_view_t *ds_k8s_store_view(const ds_k8s_store_t *s);
/** Bytes held by the watcher's own indexes (slices and pods by name), for the memory report. */
size_t ds_k8s_store_index_bytes(const ds_k8s_store_t *s);
