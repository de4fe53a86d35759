/* SPDX-License-Identifier: MIT */
/**
 * \file k8s_store.h
 * \brief The simulator's object store: Services, EndpointSlices, Namespaces
 *        and Pods with one global resourceVersion counter, a bounded event
 *        history per resource, consistent LIST paging and watch cursors;
 *        optionally the "generic" kinds deployment manifests use, stored
 *        as posted.
 *
 * Design, for thousands of changes per second and many watchers:
 * - Every object version is an immutable, reference-counted ds_k8s_obj_t
 *   holding its JSON already serialised, so a LIST or a watch event is a
 *   memcpy and never a JSON encode, and a reader can keep a version alive
 *   after dropping the store lock.
 * - Each resource keeps its objects in one array sorted by
 *   "namespace/name" (binary search for lookups, contiguous ranges for
 *   namespaced LISTs) and a ring of its last `history` events. A watcher
 *   is only a cursor into the ring: a change costs the writer O(1) no
 *   matter how many watchers there are, and each watcher filters on its
 *   own thread. A cursor the ring has overtaken, or a resourceVersion
 *   older than the ring, is "expired" (410) as on a real server.
 * - One writer-preferring rwlock guards everything; JSON is built outside
 *   it and the resourceVersion is stamped in under it.
 * - Paged LISTs snapshot the matching versions at the first page, so later
 *   pages are consistent with it; a continue token names the snapshot and
 *   expires (410) after continue_ttl or a compaction.
 *
 * Errors from the API functions come back as a negative DS_E* code and a
 * filled ds_k8s_status_t shaped like the API server's Status object.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lib/common.h"
#include "lib/rand.h"
#include "scenarios/k8s/k8s_select.h"

/**
 * The resources the simulator serves. The first four are the ones DNS
 * servers watch and are always served. The generic ones are only served
 * by a store made with ds_k8s_store_opts_t.generic_kinds, so that a
 * deployment's manifests (docs/deploy/) can be applied with kubectl: they
 * are kept as posted, with metadata filled in, and nothing acts on them
 * (no controllers: a Deployment starts no pod, a Job runs nothing).
 */
typedef enum ds_k8s_res {
	DS_K8S_SERVICES,
	DS_K8S_ENDPOINTSLICES,
	DS_K8S_NAMESPACES,
	DS_K8S_PODS,
	DS_K8S_SERVICEACCOUNTS, /**< first generic kind */
	DS_K8S_CONFIGMAPS,
	DS_K8S_DEPLOYMENTS,
	DS_K8S_JOBS,
	DS_K8S_CLUSTERROLES,
	DS_K8S_CLUSTERROLEBINDINGS,
	DS_K8S_SERVICEMONITORS,
	DS_K8S_NRES,
} ds_k8s_res_t;

/** Static facts about a resource, as discovery documents them. */
typedef struct ds_k8s_resinfo {
	const char *name;        /**< plural: "services" */
	const char *singular;    /**< "service" */
	const char *kind;        /**< "Service" */
	const char *list_kind;   /**< "ServiceList" */
	const char *group;       /**< "" for the core group, "discovery.k8s.io" */
	const char *api_version; /**< "v1", "discovery.k8s.io/v1" */
	const char *short_name;  /**< "svc", or NULL */
	bool namespaced;
	/** Field selector keys besides metadata.name/metadata.namespace. */
	const char *const *fields;
	/** A generic kind: served only with ds_k8s_store_opts_t.generic_kinds. */
	bool generic;
} ds_k8s_resinfo_t;

const ds_k8s_resinfo_t *ds_k8s_res_info(ds_k8s_res_t res);
/** Resource by group ("" = core) and plural name; -1 if not served. */
int ds_k8s_res_by_name(const char *group, const char *name);
/** Resource by apiVersion and kind of an object; -1 if not served. */
int ds_k8s_res_by_kind(const char *api_version, const char *kind);

/** An error as the API server reports it (a v1 Status). */
typedef struct ds_k8s_status {
	int code;           /**< HTTP status */
	const char *reason; /**< "NotFound", "AlreadyExists", "Conflict", "Expired", ... */
	char message[512];
	char name[256];    /**< details.name, may be empty */
	const char *kind;  /**< details.kind (resource plural), may be NULL */
	const char *group; /**< details.group, may be NULL */
	int retry_after;   /**< seconds, 0 for none (429) */
} ds_k8s_status_t;

/**
 * Fill st (which may be NULL) and return the DS_E* code matching the HTTP
 * code: 404 ENOENT, 409 EEXIST (AlreadyExists) or EAGAIN (Conflict), 410
 * ERANGE, 504 ETIMEDOUT, 5xx EIO, other 4xx EINVAL.
 */
int ds_k8s_status_set(ds_k8s_status_t *st, int code, const char *reason, const char *fmt, ...)
    DS_PRINTF(4, 5);
/** The Status object as compact JSON (malloc'd; NULL on ENOMEM). */
char *ds_k8s_status_json(const ds_k8s_status_t *st);

/** Immutable facts of an object shared by its versions' events. */
typedef struct ds_k8s_meta {
	atomic_int ref;
	const char *key; /**< "namespace/name", or "name" when cluster-scoped */
	const char *ns;  /**< "" when cluster-scoped */
	const char *name;
	const ds_k8s_kv_t *labels;
	size_t nlabels;
	/** Selectable fields, metadata.name and metadata.namespace first. */
	const ds_k8s_kv_t *fields;
	size_t nfields;
} ds_k8s_meta_t;

/** One version of one object. Immutable once stored; share with _ref(). */
typedef struct ds_k8s_obj {
	atomic_int ref;
	ds_k8s_res_t res;
	uint64_t rv;
	ds_k8s_meta_t *meta;
	char *json; /**< the whole object with apiVersion and kind, no newline */
	size_t len;
	size_t rv_off; /**< where the resourceVersion digits start in json */
	size_t rv_len;
} ds_k8s_obj_t;

/** Take another reference. */
ds_k8s_obj_t *ds_k8s_obj_ref(ds_k8s_obj_t *o);
/** Drop a reference (NULL is fine); the last one frees the version. */
void ds_k8s_obj_unref(ds_k8s_obj_t *o);
/** A fresh cJSON tree of the object (caller deletes); NULL on ENOMEM. */
cJSON *ds_k8s_obj_parse(const ds_k8s_obj_t *o);
/** Value of a label, or NULL. */
const char *ds_k8s_obj_label(const ds_k8s_obj_t *o, const char *key);

/** Store tuning. Zero fields take the defaults noted. */
typedef struct ds_k8s_store_opts {
	size_t history;          /**< events kept per resource (10000) */
	unsigned continue_ttl_s; /**< continue token lifetime (300) */
	size_t max_snapshots;    /**< paged LISTs in flight (256) */
	uint64_t seed;           /**< UIDs and cluster IP choice (1) */
	bool generic_kinds;      /**< also serve the generic kinds (see ds_k8s_res_t) */
} ds_k8s_store_opts_t;

typedef struct ds_k8s_store ds_k8s_store_t;

/** Called after every committed change, outside the lock, to wake watchers. */
typedef void (*ds_k8s_notify_fn)(void *ctx, ds_k8s_res_t res);

/** A new, empty store; NULL on ENOMEM. */
ds_k8s_store_t *ds_k8s_store_new(const ds_k8s_store_opts_t *opts);
/** Free the store and every object; no watch or list may be open. */
void ds_k8s_store_free(ds_k8s_store_t *st);
/** True when the store serves res (always for the first four, see ds_k8s_res_t). */
bool ds_k8s_store_serves(const ds_k8s_store_t *st, ds_k8s_res_t res);
/** Set the change callback (before any thread uses the store). */
void ds_k8s_store_set_notify(ds_k8s_store_t *st, ds_k8s_notify_fn fn, void *ctx);

/**
 * Startup loading (single-threaded, before ds_k8s_store_seal()): add one
 * object. Its kind picks the resource; unknown kinds, and generic kinds
 * the store does not serve, return DS_ENOENT so the caller can count
 * them. Missing metadata (uid, creationTimestamp, namespace "default") is
 * filled in and Services get cluster IPs. The
 * object's resourceVersion is replaced. obj is borrowed and may be
 * modified. Returns DS_OK, DS_ENOENT, DS_EINVAL (message in err) or
 * DS_ENOMEM.
 */
int ds_k8s_store_load(ds_k8s_store_t *st, cJSON *obj, ds_err_t *err);
/**
 * Finish loading: sort, keep the last of duplicate objects (counted in
 * *dups if not NULL), create the system namespaces and any namespace a
 * loaded object lives in, and start the event history. Must be called
 * once before the store is used by other threads.
 */
int ds_k8s_store_seal(ds_k8s_store_t *st, size_t *dups, ds_err_t *err);

/** Current (global) resourceVersion. */
uint64_t ds_k8s_store_rv(ds_k8s_store_t *st);
/** Number of objects of a resource. */
size_t ds_k8s_store_count(ds_k8s_store_t *st, ds_k8s_res_t res);

/** Counters for the stats endpoint. */
typedef struct ds_k8s_store_stats {
	uint64_t rv;
	size_t objects[DS_K8S_NRES];
	uint64_t events[DS_K8S_NRES]; /**< ADDED+MODIFIED+DELETED since start */
	uint64_t added, modified, deleted;
	uint64_t history_floor[DS_K8S_NRES]; /**< oldest RV a watch may resume from */
	size_t snapshots;
	uint64_t compactions;
} ds_k8s_store_stats_t;
void ds_k8s_store_stats(ds_k8s_store_t *st, ds_k8s_store_stats_t *out);

/** GET one object; *out gets a reference. ns is NULL for cluster-scoped. */
int ds_k8s_store_get(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, const char *name,
		     ds_k8s_obj_t **out, ds_k8s_status_t *status);
/**
 * Create (POST). ns is the namespace from the URL (NULL for cluster-scoped
 * resources); obj is borrowed. generateName is honoured. 409 AlreadyExists,
 * 404 when the namespace does not exist or the store does not serve res,
 * 400/422 for invalid objects.
 * *out (if not NULL) gets a reference to the stored version.
 */
int ds_k8s_store_create(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, cJSON *obj,
			ds_k8s_obj_t **out, ds_k8s_status_t *status);
/**
 * Replace (PUT). A non-empty metadata.resourceVersion in obj must equal the
 * stored one (else 409 Conflict); uid and creationTimestamp are kept.
 */
int ds_k8s_store_update(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, const char *name,
			cJSON *obj, ds_k8s_obj_t **out, ds_k8s_status_t *status);

typedef enum ds_k8s_patch_type {
	DS_K8S_PATCH_MERGE,
	DS_K8S_PATCH_STRATEGIC,
	DS_K8S_PATCH_JSON,
} ds_k8s_patch_type_t;

/** PATCH with a body of the given type (borrowed). */
int ds_k8s_store_patch(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, const char *name,
		       ds_k8s_patch_type_t type, const cJSON *patch, ds_k8s_obj_t **out,
		       ds_k8s_status_t *status);
/**
 * DELETE, effective at once (no grace period, no finalizers). Deleting a
 * namespace deletes everything in it. *out gets the deleted object with
 * the deletion's resourceVersion.
 */
int ds_k8s_store_delete(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, const char *name,
			ds_k8s_obj_t **out, ds_k8s_status_t *status);

/**
 * Change an object with fn, retrying when another writer got there first.
 * fn gets a private tree of the current version and returns DS_OK to
 * commit, DS_EAGAIN to skip quietly, or another code (with status filled)
 * to fail. Name and namespace must not change.
 */
typedef int (*ds_k8s_mutate_fn)(void *arg, cJSON *obj, ds_k8s_status_t *status);
int ds_k8s_store_mutate(ds_k8s_store_t *st, ds_k8s_res_t res, const char *ns, const char *name,
			ds_k8s_mutate_fn fn, void *arg, ds_k8s_obj_t **out,
			ds_k8s_status_t *status);

/** A splice of a version's JSON: len bytes at off become text[0..tlen). */
typedef struct ds_k8s_edit {
	size_t off, len;
	const char *text;
	size_t tlen;
} ds_k8s_edit_t;

/**
 * Commit a new version of cur made by splicing its JSON text, without a
 * parse/print round trip (the fast path for churn). The edits must be
 * sorted by offset, must not overlap each other or the resourceVersion,
 * and must not change the name, namespace, labels or selectable fields:
 * the new version shares cur's index entry. Returns DS_OK, DS_EAGAIN
 * when cur is no longer the current version, or DS_ENOMEM.
 */
int ds_k8s_store_splice(ds_k8s_store_t *st, ds_k8s_obj_t *cur, const ds_k8s_edit_t *ed, size_t n,
			ds_k8s_obj_t **out);

/** A random object of res (a reference), or NULL when there is none. */
ds_k8s_obj_t *ds_k8s_store_pick(ds_k8s_store_t *st, ds_k8s_res_t res, ds_rng_t *rng);

/**
 * Forget every event and continue snapshot, as an etcd compaction does:
 * watches resuming from an older resourceVersion and pending continue
 * tokens get 410 Expired afterwards.
 */
void ds_k8s_store_compact(ds_k8s_store_t *st);

/**
 * Check a field selector against the fields res supports; DS_EINVAL with
 * the server's "field label not supported" message otherwise.
 */
int ds_k8s_store_check_fields(ds_k8s_res_t res, const ds_k8s_sel_t *fsel, ds_k8s_status_t *st);

/** What a LIST or WATCH selects. All members may be NULL/0. */
typedef struct ds_k8s_filter {
	const char *ns;   /**< namespace from the URL */
	const char *name; /**< one object (watch on an object URL) */
	const ds_k8s_sel_t *labels;
	const ds_k8s_sel_t *fields;
} ds_k8s_filter_t;

/** True when o passes the filter. */
bool ds_k8s_filter_match(const ds_k8s_filter_t *f, const ds_k8s_obj_t *o);

typedef struct ds_k8s_listopts {
	ds_k8s_filter_t filter;
	long limit;           /**< 0 = no limit */
	const char *cont;     /**< continue token */
	const char *rv;       /**< resourceVersion parameter, NULL if unset */
	const char *rv_match; /**< resourceVersionMatch, NULL if unset */
} ds_k8s_listopts_t;

/** A LIST result; release with ds_k8s_list_release(). */
typedef struct ds_k8s_list {
	ds_k8s_obj_t **items; /**< references, in key order */
	size_t n;
	uint64_t rv;    /**< the list's resourceVersion */
	char *cont;     /**< continue token or NULL */
	long remaining; /**< remainingItemCount, -1 when not known */
} ds_k8s_list_t;

/**
 * LIST. resourceVersion semantics as on a real server: unset = most
 * recent; "0" = any (served whole, limit ignored, as the watch cache
 * does); N with resourceVersionMatch=NotOlderThan (or no match) = 504 if N
 * is in the future, else most recent; N with Exact = the state at N,
 * rebuilt from the history, 410 if N is older than the history. An
 * unknown or expired continue token gives 400 or 410.
 */
int ds_k8s_store_list(ds_k8s_store_t *st, ds_k8s_res_t res, const ds_k8s_listopts_t *opts,
		      ds_k8s_list_t *out, ds_k8s_status_t *status);
void ds_k8s_list_release(ds_k8s_list_t *l);

typedef enum ds_k8s_evtype {
	DS_K8S_EV_ADDED,
	DS_K8S_EV_MODIFIED,
	DS_K8S_EV_DELETED,
	DS_K8S_EV_BOOKMARK,
	DS_K8S_EV_ERROR,
} ds_k8s_evtype_t;

/** "ADDED", "MODIFIED", ... */
const char *ds_k8s_evtype_name(ds_k8s_evtype_t t);

/** One event as a watcher sees it. */
typedef struct ds_k8s_wev {
	ds_k8s_evtype_t type;
	ds_k8s_obj_t *obj;     /**< reference for ADDED/MODIFIED/DELETED (caller drops) */
	uint64_t rv;           /**< BOOKMARK: resourceVersion */
	bool initial_end;      /**< BOOKMARK ending the initial events of a watch-list */
	ds_k8s_status_t error; /**< ERROR: the Status (410 Expired, 504 ...) */
} ds_k8s_wev_t;

typedef struct ds_k8s_watchopts {
	ds_k8s_filter_t filter;
	const char *rv;    /**< resourceVersion parameter, NULL if unset */
	bool send_initial; /**< sendInitialEvents=true (watch-list) */
} ds_k8s_watchopts_t;

typedef struct ds_k8s_watch ds_k8s_watch_t;

/**
 * Start a watch. rv unset or "0": synthetic ADDED for every matching
 * object, then changes. rv N: changes after N (an ERROR 410 first if N is
 * older than the history, 504 if in the future). send_initial: ADDED for
 * every object, a BOOKMARK with initial_end, then changes. The selectors
 * in opts must outlive the watch. NULL on ENOMEM only: expiry is reported
 * as an ERROR event by ds_k8s_watch_next().
 */
ds_k8s_watch_t *ds_k8s_watch_open(ds_k8s_store_t *st, ds_k8s_res_t res,
				  const ds_k8s_watchopts_t *opts);
/**
 * Up to max events for this watcher (filtered; a MODIFIED that moves an
 * object into or out of the selection becomes ADDED or DELETED, as on a
 * real server). Returns the count, 0 when there is nothing new. After an
 * ERROR event the watch is finished and returns 0 forever.
 */
size_t ds_k8s_watch_next(ds_k8s_watch_t *w, ds_k8s_wev_t *ev, size_t max);
/** True when ds_k8s_watch_next() would return something now (no lock). */
bool ds_k8s_watch_pending(ds_k8s_watch_t *w);
/** The resourceVersion a bookmark may carry now: everything up to it was delivered. */
uint64_t ds_k8s_watch_rv(ds_k8s_watch_t *w);
/** Make the next ds_k8s_watch_next() report 410 Expired and finish. */
void ds_k8s_watch_expire(ds_k8s_watch_t *w);
void ds_k8s_watch_close(ds_k8s_watch_t *w);
